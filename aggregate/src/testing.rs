//! Test helpers: batches in the reader's canonical schema, and an aggregator for a run.

use std::sync::Arc;

use arrow::array::{ArrayRef, DictionaryArray, Float64Array, RecordBatch, TimestampSecondArray};
use arrow::datatypes::Int32Type;
use chrono::NaiveDate;

use crate::aggregator::Aggregator;
use crate::config::{RunInfo, SideInputs};

/// A batch in the reader's canonical schema with `names`' columns: those in `set` as
/// given, other text columns null and numbers 0.
pub(crate) fn canonical(names: &[&str], rows: usize, set: &[(&str, ArrayRef)]) -> RecordBatch {
    let columns: Vec<(String, ArrayRef)> = names
        .iter()
        .map(|&name| {
            let given = set
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, c)| Arc::clone(c));
            let column = given.unwrap_or_else(|| {
                if name.ends_with("_seconds")
                    || name.ends_with("_bytes")
                    || name.ends_with("_cores")
                {
                    Arc::new(Float64Array::from(vec![0.0; rows])) as ArrayRef
                } else {
                    text(&vec![None; rows])
                }
            });
            (name.to_string(), column)
        })
        .collect();
    RecordBatch::try_from_iter(columns).unwrap()
}

pub(crate) fn text(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(
        values
            .iter()
            .copied()
            .collect::<DictionaryArray<Int32Type>>(),
    )
}

pub(crate) fn nums(values: &[f64]) -> ArrayRef {
    Arc::new(Float64Array::from(values.to_vec()))
}

pub(crate) fn times(values: &[i64]) -> ArrayRef {
    Arc::new(TimestampSecondArray::from(values.to_vec()).with_timezone("UTC"))
}

pub(crate) fn aggregator() -> Aggregator {
    let day = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    Aggregator::new(RunInfo::new("s", "c", day, day), SideInputs::default())
}
