//! Summary rows and their conversion to Arrow record batches in the summary schema.

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, Date32Builder, DictionaryArray, Float64Builder, Int32Array,
    Int32Builder, RecordBatch, StringArray, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Int32Type, SchemaRef};
use arrow::error::ArrowError;
use hashbrown::HashMap;

use crate::config::RunInfo;
use crate::error::{AggregateError, Result};
use crate::schema::{summary_schema, summary_schema_with_csi, CSI_VOLUME_HANDLE};

/// `infrastructure_usage_cost` of Pod and Storage rows, as koku's jsonb prints it.
pub const ZERO_INFRASTRUCTURE_COST: &str = r#"{"cpu": 0, "memory": 0, "storage": 0}"#;

/// koku's `data_source` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataSource {
    /// Pod rows and unallocated-capacity rows.
    Pod,
    /// Persistent volume claim rows.
    Storage,
}

impl DataSource {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            DataSource::Pod => "Pod",
            DataSource::Storage => "Storage",
        }
    }
}

/// The pod measures of a row, in output column order.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PodMeasures {
    /// `pod_usage_cpu_core_hours`
    pub usage_cpu_core_hours: Option<f64>,
    /// `pod_request_cpu_core_hours`
    pub request_cpu_core_hours: Option<f64>,
    /// `pod_effective_usage_cpu_core_hours`
    pub effective_usage_cpu_core_hours: Option<f64>,
    /// `pod_limit_cpu_core_hours`
    pub limit_cpu_core_hours: Option<f64>,
    /// `pod_usage_memory_gigabyte_hours`
    pub usage_memory_gigabyte_hours: Option<f64>,
    /// `pod_request_memory_gigabyte_hours`
    pub request_memory_gigabyte_hours: Option<f64>,
    /// `pod_effective_usage_memory_gigabyte_hours`
    pub effective_usage_memory_gigabyte_hours: Option<f64>,
    /// `pod_limit_memory_gigabyte_hours`
    pub limit_memory_gigabyte_hours: Option<f64>,
}

/// Node and cluster capacity columns of a row.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Capacity {
    /// `node_capacity_cpu_cores`
    pub node_cpu_cores: Option<f64>,
    /// `node_capacity_cpu_core_hours`
    pub node_cpu_core_hours: Option<f64>,
    /// `node_capacity_memory_gigabytes`
    pub node_memory_gigabytes: Option<f64>,
    /// `node_capacity_memory_gigabyte_hours`
    pub node_memory_gigabyte_hours: Option<f64>,
    /// `cluster_capacity_cpu_core_hours`
    pub cluster_cpu_core_hours: Option<f64>,
    /// `cluster_capacity_memory_gigabyte_hours`
    pub cluster_memory_gigabyte_hours: Option<f64>,
}

/// The storage columns of a row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StorageMeasures {
    /// `persistentvolumeclaim`
    pub persistentvolumeclaim: Option<Arc<str>>,
    /// `persistentvolume`
    pub persistentvolume: Option<Arc<str>>,
    /// `storageclass`
    pub storageclass: Option<Arc<str>>,
    /// `csi_volume_handle`: a grouping key of Storage rows, not an output column (koku's
    /// table has none); kept so rows that differ only by it sort deterministically.
    pub csi_volume_handle: Option<Arc<str>>,
    /// `persistentvolumeclaim_capacity_gigabyte`
    pub capacity_gigabyte: Option<f64>,
    /// `persistentvolumeclaim_capacity_gigabyte_months`
    pub capacity_gigabyte_months: Option<f64>,
    /// `volume_request_storage_gigabyte_months`
    pub request_gigabyte_months: Option<f64>,
    /// `persistentvolumeclaim_usage_gigabyte_months`
    pub usage_gigabyte_months: Option<f64>,
}

/// One row of the daily summary, without the run-level columns (uuid, report period, cluster,
/// source), which [`to_record_batch`] adds.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// `data_source`.
    pub data_source: DataSource,
    /// `usage_start` = `usage_end`, days since 1970-01-01.
    pub day: i32,
    /// `namespace`.
    pub namespace: Option<Arc<str>>,
    /// `node`.
    pub node: Option<Arc<str>>,
    /// `resource_id`.
    pub resource_id: Option<Arc<str>>,
    /// `pod_labels` (JSON).
    pub pod_labels: Option<Arc<str>>,
    /// `volume_labels` (JSON).
    pub volume_labels: Option<Arc<str>>,
    /// `all_labels` (JSON).
    pub all_labels: Option<Arc<str>>,
    /// Pod usage, request, effective usage and limit.
    pub pod: PodMeasures,
    /// Node and cluster capacity.
    pub capacity: Capacity,
    /// Storage columns.
    pub storage: StorageMeasures,
    /// `cost_category_id`.
    pub cost_category_id: Option<i32>,
    /// Whether `infrastructure_usage_cost` is the zero JSON (Pod and Storage rows) or null
    /// (unallocated rows).
    pub infrastructure_cost: bool,
}

/// How a column's values come from a row (or from the run).
#[derive(Clone, Copy)]
enum Accessor {
    /// A fresh v4 uuid per row.
    Uuid,
    /// The run's report period, on every row.
    ReportPeriod,
    /// A text of the run, on every row.
    Run(fn(&RunInfo) -> &str),
    /// The row's day.
    Day,
    /// A text of the row.
    Text(fn(&SummaryRow) -> Option<&str>),
    /// A number of the row.
    Number(fn(&SummaryRow) -> Option<f64>),
    /// An integer of the row.
    Integer(fn(&SummaryRow) -> Option<i32>),
}

/// Every column a batch can hold, by name, with where its values come from. Batches are built
/// in the order of their schema's fields ([`crate::schema::SUMMARY_COLUMNS`]), looked up here by name, so
/// the order of this table does not matter and cannot drift from the schema.
const ACCESSORS: &[(&str, Accessor)] = &[
    ("uuid", Accessor::Uuid),
    ("report_period_id", Accessor::ReportPeriod),
    ("cluster_id", Accessor::Run(|run| &run.cluster_id)),
    ("cluster_alias", Accessor::Run(|run| &run.cluster_alias)),
    (
        "data_source",
        Accessor::Text(|r| Some(r.data_source.as_str())),
    ),
    ("usage_start", Accessor::Day),
    ("usage_end", Accessor::Day),
    ("namespace", Accessor::Text(|r| r.namespace.as_deref())),
    ("node", Accessor::Text(|r| r.node.as_deref())),
    ("resource_id", Accessor::Text(|r| r.resource_id.as_deref())),
    ("pod_labels", Accessor::Text(|r| r.pod_labels.as_deref())),
    (
        "pod_usage_cpu_core_hours",
        Accessor::Number(|r| r.pod.usage_cpu_core_hours),
    ),
    (
        "pod_request_cpu_core_hours",
        Accessor::Number(|r| r.pod.request_cpu_core_hours),
    ),
    (
        "pod_effective_usage_cpu_core_hours",
        Accessor::Number(|r| r.pod.effective_usage_cpu_core_hours),
    ),
    (
        "pod_limit_cpu_core_hours",
        Accessor::Number(|r| r.pod.limit_cpu_core_hours),
    ),
    (
        "pod_usage_memory_gigabyte_hours",
        Accessor::Number(|r| r.pod.usage_memory_gigabyte_hours),
    ),
    (
        "pod_request_memory_gigabyte_hours",
        Accessor::Number(|r| r.pod.request_memory_gigabyte_hours),
    ),
    (
        "pod_effective_usage_memory_gigabyte_hours",
        Accessor::Number(|r| r.pod.effective_usage_memory_gigabyte_hours),
    ),
    (
        "pod_limit_memory_gigabyte_hours",
        Accessor::Number(|r| r.pod.limit_memory_gigabyte_hours),
    ),
    (
        "node_capacity_cpu_cores",
        Accessor::Number(|r| r.capacity.node_cpu_cores),
    ),
    (
        "node_capacity_cpu_core_hours",
        Accessor::Number(|r| r.capacity.node_cpu_core_hours),
    ),
    (
        "node_capacity_memory_gigabytes",
        Accessor::Number(|r| r.capacity.node_memory_gigabytes),
    ),
    (
        "node_capacity_memory_gigabyte_hours",
        Accessor::Number(|r| r.capacity.node_memory_gigabyte_hours),
    ),
    (
        "cluster_capacity_cpu_core_hours",
        Accessor::Number(|r| r.capacity.cluster_cpu_core_hours),
    ),
    (
        "cluster_capacity_memory_gigabyte_hours",
        Accessor::Number(|r| r.capacity.cluster_memory_gigabyte_hours),
    ),
    (
        "persistentvolumeclaim",
        Accessor::Text(|r| r.storage.persistentvolumeclaim.as_deref()),
    ),
    (
        "persistentvolume",
        Accessor::Text(|r| r.storage.persistentvolume.as_deref()),
    ),
    (
        "storageclass",
        Accessor::Text(|r| r.storage.storageclass.as_deref()),
    ),
    (
        "volume_labels",
        Accessor::Text(|r| r.volume_labels.as_deref()),
    ),
    ("all_labels", Accessor::Text(|r| r.all_labels.as_deref())),
    (
        "persistentvolumeclaim_capacity_gigabyte",
        Accessor::Number(|r| r.storage.capacity_gigabyte),
    ),
    (
        "persistentvolumeclaim_capacity_gigabyte_months",
        Accessor::Number(|r| r.storage.capacity_gigabyte_months),
    ),
    (
        "volume_request_storage_gigabyte_months",
        Accessor::Number(|r| r.storage.request_gigabyte_months),
    ),
    (
        "persistentvolumeclaim_usage_gigabyte_months",
        Accessor::Number(|r| r.storage.usage_gigabyte_months),
    ),
    ("source_uuid", Accessor::Run(|run| &run.source_uuid)),
    (
        "infrastructure_usage_cost",
        Accessor::Text(|r| r.infrastructure_cost.then_some(ZERO_INFRASTRUCTURE_COST)),
    ),
    (
        "cost_category_id",
        Accessor::Integer(|r| r.cost_category_id),
    ),
    (
        CSI_VOLUME_HANDLE,
        Accessor::Text(|r| r.storage.csi_volume_handle.as_deref()),
    ),
];

/// The column of `field` that depends on the run only (the row id, run constants), for `n`
/// rows; `None` for the other columns (and unknown names).
pub(crate) fn run_column(field: &Field, run: &RunInfo, n: usize) -> Option<Result<ArrayRef>> {
    let (_, accessor) = ACCESSORS
        .iter()
        .find(|(column, _)| column == field.name())?;
    match accessor {
        Accessor::Uuid | Accessor::ReportPeriod | Accessor::Run(_) => {
            Some(build_column(*accessor, field.data_type(), run, &[], n))
        }
        _ => None,
    }
}

/// `n` rows of one text, as a `Utf8` column or (`as_dictionary`) a dictionary of one value.
pub(crate) fn constant_text(text: &str, n: usize, as_dictionary: bool) -> Result<ArrayRef> {
    if !as_dictionary {
        return Ok(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(text, n),
        )));
    }
    let keys = Int32Array::from_iter_values(std::iter::repeat_n(0, n));
    dictionary(keys, Arc::new(StringArray::from(vec![text])))
}

/// A dictionary column of [`crate::schema::dictionary_text_type`].
pub(crate) fn dictionary(keys: Int32Array, values: ArrayRef) -> Result<ArrayRef> {
    DictionaryArray::<Int32Type>::try_new(keys, values)
        .map(|d| Arc::new(d) as ArrayRef)
        .map_err(|source| AggregateError::Arrow {
            what: "building a text dictionary",
            source,
        })
}

/// Dictionary key `i`, or an error past `i32::MAX` values.
pub(crate) fn dictionary_key(i: usize) -> Result<i32> {
    i32::try_from(i).map_err(|_| AggregateError::Arrow {
        what: "building a text dictionary",
        source: ArrowError::DictionaryKeyOverflowError,
    })
}

/// Texts as a dictionary column. Rows that share a text allocation (an `Arc<str>` behind many
/// rows: label JSON, names) share a value, found by its address, so no text is hashed and
/// each is copied once; equal texts in different allocations are separate values, which
/// Arrow allows and which a Parquet writer merges.
fn text_dictionary<'a>(texts: impl Iterator<Item = Option<&'a str>>, n: usize) -> Result<ArrayRef> {
    let mut index: HashMap<(usize, usize), i32> = HashMap::new();
    let mut values = StringBuilder::new();
    let mut keys = Int32Builder::with_capacity(n);
    for text in texts {
        let Some(text) = text else {
            keys.append_null();
            continue;
        };
        let next = dictionary_key(values.len())?;
        let key = *index
            .entry((text.as_ptr() as usize, text.len()))
            .or_insert_with(|| {
                values.append_value(text);
                next
            });
        keys.append_value(key);
    }
    dictionary(keys.finish(), Arc::new(values.finish()))
}

/// Builds one column of `rows` (`n` rows: `rows.len()`, or any for the run's columns) as
/// `data_type`: a text column as `Utf8` or as a dictionary
/// ([`crate::schema::dictionary_text_type`]).
fn build_column(
    accessor: Accessor,
    data_type: &DataType,
    run: &RunInfo,
    rows: &[SummaryRow],
    n: usize,
) -> Result<ArrayRef> {
    let as_dictionary = matches!(data_type, DataType::Dictionary(..));
    Ok(match accessor {
        Accessor::Uuid => {
            let mut b = StringBuilder::with_capacity(n, n * 36);
            let mut buf = uuid::Uuid::encode_buffer();
            for _ in 0..n {
                b.append_value(uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf));
            }
            Arc::new(b.finish())
        }
        Accessor::ReportPeriod => {
            let mut b = Int32Builder::with_capacity(n);
            (0..n).for_each(|_| b.append_option(run.report_period_id));
            Arc::new(b.finish())
        }
        Accessor::Run(f) => constant_text(f(run), n, as_dictionary)?,
        Accessor::Day => {
            let mut b = Date32Builder::with_capacity(n);
            rows.iter().for_each(|r| b.append_value(r.day));
            Arc::new(b.finish())
        }
        Accessor::Text(f) if as_dictionary => text_dictionary(rows.iter().map(f), n)?,
        Accessor::Text(f) => {
            // Sized exactly: label texts are long, and doubling would leave up to half unused.
            let bytes = rows.iter().map(|r| f(r).map_or(0, str::len)).sum();
            let mut b = StringBuilder::with_capacity(n, bytes);
            rows.iter().for_each(|r| b.append_option(f(r)));
            Arc::new(b.finish())
        }
        Accessor::Number(f) => {
            let mut b = Float64Builder::with_capacity(n);
            rows.iter().for_each(|r| b.append_option(f(r)));
            Arc::new(b.finish())
        }
        Accessor::Integer(f) => {
            let mut b = Int32Builder::with_capacity(n);
            rows.iter().for_each(|r| b.append_option(f(r)));
            Arc::new(b.finish())
        }
    })
}

/// Builds a batch of `schema`: the summary schema, with or without `csi_volume_handle`, with
/// or without dictionary texts ([`crate::schema::with_dictionary_texts`]). One column per
/// field, in the schema's order, each from its accessor.
pub(crate) fn build(schema: SchemaRef, run: &RunInfo, rows: &[SummaryRow]) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let (column, accessor) = ACCESSORS
                .iter()
                .find(|(name, _)| name == field.name())
                .ok_or(AggregateError::MissingColumn {
                    column: "an output column without an accessor",
                })?;
            debug_assert_eq!(column, field.name());
            build_column(*accessor, field.data_type(), run, rows, rows.len())
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    RecordBatch::try_new(schema, columns).map_err(|source| AggregateError::Arrow {
        what: "building summary rows",
        source,
    })
}

/// Builds one record batch in [`summary_schema`] from rows, with a fresh v4 uuid per row.
pub fn to_record_batch(run: &RunInfo, rows: &[SummaryRow]) -> Result<RecordBatch> {
    build(summary_schema(), run, rows)
}

/// [`to_record_batch`] in `schema`: [`summary_schema`] or [`summary_schema_with_csi`], or
/// either in the form of [`crate::schema::with_dictionary_texts`]. A field no summary column
/// has is [`AggregateError::MissingColumn`].
pub fn to_record_batch_as(
    schema: SchemaRef,
    run: &RunInfo,
    rows: &[SummaryRow],
) -> Result<RecordBatch> {
    build(schema, run, rows)
}

/// [`to_record_batch`] plus a trailing `csi_volume_handle` column
/// ([`summary_schema_with_csi`]): the claim's CSI handle on Storage rows, null elsewhere.
/// `RecordBatch::project(0..SUMMARY_COLUMNS.len())` gives back the summary batch.
pub fn to_record_batch_with_csi(run: &RunInfo, rows: &[SummaryRow]) -> Result<RecordBatch> {
    build(summary_schema_with_csi(), run, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SUMMARY_COLUMNS;

    /// Every column of the schema with `csi_volume_handle` has exactly one accessor, and
    /// every accessor a column.
    #[test]
    fn every_column_has_one_accessor() {
        let schema = summary_schema_with_csi();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        for name in &names {
            let n = ACCESSORS.iter().filter(|(a, _)| a == name).count();
            assert_eq!(n, 1, "{name}");
        }
        assert_eq!(ACCESSORS.len(), names.len());
        assert_eq!(names.len(), SUMMARY_COLUMNS.len() + 1);
    }

    /// Rows sharing a text allocation share a dictionary value; equal texts elsewhere and
    /// nulls keep their values: cast back, every column equals the `Utf8` batch's.
    #[test]
    fn dictionary_texts_hold_the_rows_texts() {
        use arrow::array::{Array, AsArray};

        let run = crate::testing::aggregator().run().clone();
        let shared: Arc<str> = r#"{"app": "a"}"#.into();
        let row = |labels: Option<Arc<str>>, namespace: Option<&str>| SummaryRow {
            data_source: DataSource::Storage,
            day: 3,
            namespace: namespace.map(Into::into),
            node: None,
            resource_id: None,
            pod_labels: None,
            volume_labels: labels.clone(),
            all_labels: labels,
            pod: PodMeasures::default(),
            capacity: Capacity::default(),
            storage: StorageMeasures::default(),
            cost_category_id: Some(2),
            infrastructure_cost: true,
        };
        let rows = [
            row(Some(Arc::clone(&shared)), Some("ns")),
            row(None, None),
            row(Some(Arc::clone(&shared)), Some("ns")),
            row(Some(r#"{"app": "a"}"#.into()), Some("other")),
        ];
        let plain = summary_schema_with_csi();
        let schema = crate::schema::with_dictionary_texts(&plain);
        let batch = to_record_batch_as(Arc::clone(&schema), &run, &rows).unwrap();
        let expected = to_record_batch_with_csi(&run, &rows).unwrap();
        for (i, field) in schema.fields().iter().enumerate() {
            if field.name() == "uuid" {
                continue;
            }
            let expected_type = expected.column(i).data_type();
            let values = arrow::compute::cast(batch.column(i), expected_type).unwrap();
            assert_eq!(
                values.to_data(),
                expected.column(i).to_data(),
                "{}",
                field.name()
            );
        }
        let labels = batch.column_by_name("all_labels").unwrap();
        let labels = labels.as_dictionary::<Int32Type>();
        assert_eq!(
            labels.values().len(),
            2,
            "the shared text once, the copy once"
        );
        assert_eq!(labels.keys().value(0), labels.keys().value(2));
        assert!(labels.is_null(1));
        let source = batch.column_by_name("cluster_id").unwrap();
        assert_eq!(source.as_dictionary::<Int32Type>().values().len(), 1);
    }
}
