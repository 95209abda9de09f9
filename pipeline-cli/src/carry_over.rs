//! The sinks of an incremental run: [`DayFilter`] keeps only the affected days' rows (files
//! read for an affected day may hold other days too), and [`CarryOver`] adds a file output's
//! untouched days from the previous output, in the output's order.
//!
//! A file output holds the Pod and Storage rows day by day, then every unallocated row
//! sorted by day first (README "Row order"). Both the new rows and the previous output's are
//! in (section, day) order, section 0 for Pod and Storage rows and 1 for unallocated rows
//! (data source `Pod` with null `pod_labels`), and their days do not meet, so the carried
//! rows are merged in by that key.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{Date32Type, SchemaRef};
use ocpagg_writer::{SummarySink, WriteError, WriteReport};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

type Result<T> = std::result::Result<T, WriteError>;

fn arrow_error(what: &str, e: impl std::fmt::Display) -> WriteError {
    WriteError::Aborted {
        reason: format!("{what}: {e}"),
    }
}

/// Keeps the rows whose `usage_start` is one of `days`.
pub struct DayFilter {
    inner: Box<dyn SummarySink>,
    days: BTreeSet<i32>,
}

impl DayFilter {
    /// Filters the batches written to `inner`.
    pub fn new(inner: Box<dyn SummarySink>, days: BTreeSet<i32>) -> Self {
        DayFilter { inner, days }
    }
}

fn days_of(batch: &RecordBatch) -> Result<&arrow::array::Date32Array> {
    batch
        .column_by_name("usage_start")
        .and_then(|c| c.as_primitive_opt::<Date32Type>())
        .ok_or_else(|| WriteError::Aborted {
            reason: "a summary batch without a usage_start date column".into(),
        })
}

impl SummarySink for DayFilter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let days = days_of(batch)?;
        let keep: BooleanArray = days
            .iter()
            .map(|d| Some(d.is_some_and(|d| self.days.contains(&d))))
            .collect();
        if keep.true_count() == batch.num_rows() {
            return self.inner.write(batch);
        }
        if keep.true_count() == 0 {
            return Ok(());
        }
        let kept = arrow::compute::filter_record_batch(batch, &keep)
            .map_err(|e| arrow_error("filtering the affected days", e))?;
        self.inner.write(&kept)
    }

    fn finish(self: Box<Self>) -> Result<WriteReport> {
        self.inner.finish()
    }
}

/// (section, day) of each row: section 1 for unallocated rows.
fn keys(batch: &RecordBatch) -> Result<Vec<Key>> {
    let days = days_of(batch)?;
    let source = batch
        .column_by_name("data_source")
        .map(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8))
        .transpose()
        .map_err(|e| arrow_error("reading data_source", e))?;
    let labels = batch.column_by_name("pod_labels");
    Ok((0..batch.num_rows())
        .map(|i| {
            let pod = source
                .as_ref()
                .is_some_and(|s| s.is_valid(i) && s.as_string::<i32>().value(i) == "Pod");
            let unallocated = pod && labels.is_some_and(|l| l.is_null(i));
            (u8::from(unallocated), days.value(i))
        })
        .collect())
}

/// (section, day): the order of a file output's rows, see the module doc.
type Key = (u8, i32);

/// An old batch being carried: its rows, their keys, the next row.
type Pending = (RecordBatch, Vec<Key>, usize);

/// Writes the previous output's rows of the untouched days around the new rows.
pub struct CarryOver {
    inner: Box<dyn SummarySink>,
    schema: SchemaRef,
    affected: BTreeSet<i32>,
    old: Option<ParquetRecordBatchReader>,
    /// The current old batch (affected days removed), its keys and the next row.
    pending: Option<Pending>,
    carried: u64,
}

impl CarryOver {
    /// Carries the rows of days not in `affected` over from the Parquet file `previous`.
    pub fn open(
        inner: Box<dyn SummarySink>,
        schema: SchemaRef,
        previous: &Path,
        affected: BTreeSet<i32>,
    ) -> Result<Self> {
        let shown = previous.display().to_string();
        let io = |e: std::io::Error| WriteError::Io {
            path: shown.clone(),
            source: Box::new(e),
        };
        let file = File::open(previous).map_err(io)?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(8192).build())
            .map_err(|e| WriteError::Io {
                path: shown.clone(),
                source: Box::new(e),
            })?;
        Ok(CarryOver {
            inner,
            schema,
            affected,
            old: Some(reader),
            pending: None,
            carried: 0,
        })
    }

    /// The next old batch with rows left, affected days removed.
    fn fill(&mut self) -> Result<bool> {
        loop {
            if let Some((batch, _, at)) = &self.pending {
                if *at < batch.num_rows() {
                    return Ok(true);
                }
                self.pending = None;
            }
            let Some(reader) = self.old.as_mut() else {
                return Ok(false);
            };
            let Some(batch) = reader.next() else {
                self.old = None;
                return Ok(false);
            };
            let batch = batch.map_err(|e| arrow_error("reading the previous output", e))?;
            // The previous output was written with the same schema; its fields' metadata
            // may read back differently, so the columns are put under ours.
            let batch = RecordBatch::try_new(self.schema.clone(), batch.columns().to_vec())
                .map_err(|e| arrow_error("the previous output's columns", e))?;
            let days = days_of(&batch)?;
            let keep: BooleanArray = days
                .iter()
                .map(|d| Some(d.is_some_and(|d| !self.affected.contains(&d))))
                .collect();
            let batch = arrow::compute::filter_record_batch(&batch, &keep)
                .map_err(|e| arrow_error("filtering the previous output", e))?;
            let keys = keys(&batch)?;
            self.pending = Some((batch, keys, 0));
        }
    }

    /// Writes the old rows whose key is below `key` (all of them for `None`).
    fn flush_below(&mut self, key: Option<Key>) -> Result<()> {
        while self.fill()? {
            let (batch, keys, at) = self.pending.as_mut().expect("filled");
            let end = keys[*at..]
                .iter()
                .position(|k| key.is_some_and(|key| *k >= key))
                .map_or(keys.len(), |n| *at + n);
            if end == *at {
                return Ok(());
            }
            let part = batch.slice(*at, end - *at);
            *at = end;
            self.carried += part.num_rows() as u64;
            self.inner.write(&part)?;
        }
        Ok(())
    }
}

impl SummarySink for CarryOver {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let keys = keys(batch)?;
        let mut start = 0;
        while start < keys.len() {
            let key = keys[start];
            let end = keys[start..]
                .iter()
                .position(|k| *k != key)
                .map_or(keys.len(), |n| start + n);
            self.flush_below(Some(key))?;
            self.inner.write(&batch.slice(start, end - start))?;
            start = end;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<WriteReport> {
        self.flush_below(None)?;
        tracing::debug!(
            rows = self.carried,
            "Carried the untouched days' rows over."
        );
        self.inner.finish()
    }
}
