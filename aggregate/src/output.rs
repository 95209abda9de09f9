//! Summary rows and their conversion to Arrow record batches in the summary schema.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Builder, Float64Builder, Int32Builder, RecordBatch, StringBuilder,
};

use crate::config::RunInfo;
use crate::error::{AggregateError, Result};
use crate::schema::{summary_schema, summary_schema_with_csi, SUMMARY_COLUMNS};

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

/// Builds one record batch in [`summary_schema`] from rows, with a fresh v4 uuid per row.
pub fn to_record_batch(run: &RunInfo, rows: &[SummaryRow]) -> Result<RecordBatch> {
    let n = rows.len();
    let texts = |f: &dyn Fn(&SummaryRow) -> Option<&str>| -> ArrayRef {
        // Sized exactly: label texts are long, and doubling would leave up to half unused.
        let bytes = rows.iter().map(|r| f(r).map_or(0, str::len)).sum();
        let mut b = StringBuilder::with_capacity(n, bytes);
        rows.iter().for_each(|r| b.append_option(f(r)));
        Arc::new(b.finish())
    };
    let nums = |f: &dyn Fn(&SummaryRow) -> Option<f64>| -> ArrayRef {
        let mut b = Float64Builder::with_capacity(n);
        rows.iter().for_each(|r| b.append_option(f(r)));
        Arc::new(b.finish())
    };
    let constant = |v: &str| -> ArrayRef {
        let mut b = StringBuilder::with_capacity(n, n * v.len());
        rows.iter().for_each(|_| b.append_value(v));
        Arc::new(b.finish())
    };
    let days = || -> ArrayRef {
        let mut b = Date32Builder::with_capacity(n);
        rows.iter().for_each(|r| b.append_value(r.day));
        Arc::new(b.finish())
    };
    let mut uuids = StringBuilder::with_capacity(n, n * 36);
    let mut buf = uuid::Uuid::encode_buffer();
    for _ in rows {
        uuids.append_value(uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf));
    }
    let mut periods = Int32Builder::with_capacity(n);
    let mut categories = Int32Builder::with_capacity(n);
    for r in rows {
        periods.append_option(run.report_period_id);
        categories.append_option(r.cost_category_id);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(uuids.finish()),
        Arc::new(periods.finish()),
        constant(&run.cluster_id),
        constant(&run.cluster_alias),
        texts(&|r| Some(r.data_source.as_str())),
        days(),
        days(),
        texts(&|r| r.namespace.as_deref()),
        texts(&|r| r.node.as_deref()),
        texts(&|r| r.resource_id.as_deref()),
        texts(&|r| r.pod_labels.as_deref()),
        nums(&|r| r.pod.usage_cpu_core_hours),
        nums(&|r| r.pod.request_cpu_core_hours),
        nums(&|r| r.pod.effective_usage_cpu_core_hours),
        nums(&|r| r.pod.limit_cpu_core_hours),
        nums(&|r| r.pod.usage_memory_gigabyte_hours),
        nums(&|r| r.pod.request_memory_gigabyte_hours),
        nums(&|r| r.pod.effective_usage_memory_gigabyte_hours),
        nums(&|r| r.pod.limit_memory_gigabyte_hours),
        nums(&|r| r.capacity.node_cpu_cores),
        nums(&|r| r.capacity.node_cpu_core_hours),
        nums(&|r| r.capacity.node_memory_gigabytes),
        nums(&|r| r.capacity.node_memory_gigabyte_hours),
        nums(&|r| r.capacity.cluster_cpu_core_hours),
        nums(&|r| r.capacity.cluster_memory_gigabyte_hours),
        texts(&|r| r.storage.persistentvolumeclaim.as_deref()),
        texts(&|r| r.storage.persistentvolume.as_deref()),
        texts(&|r| r.storage.storageclass.as_deref()),
        texts(&|r| r.volume_labels.as_deref()),
        texts(&|r| r.all_labels.as_deref()),
        nums(&|r| r.storage.capacity_gigabyte),
        nums(&|r| r.storage.capacity_gigabyte_months),
        nums(&|r| r.storage.request_gigabyte_months),
        nums(&|r| r.storage.usage_gigabyte_months),
        constant(&run.source_uuid),
        texts(&|r| r.infrastructure_cost.then_some(ZERO_INFRASTRUCTURE_COST)),
        Arc::new(categories.finish()),
    ];
    debug_assert_eq!(columns.len(), SUMMARY_COLUMNS.len());
    RecordBatch::try_new(summary_schema(), columns).map_err(|source| AggregateError::Arrow {
        what: "building summary rows",
        source,
    })
}

/// [`to_record_batch`] plus a trailing `csi_volume_handle` column
/// ([`summary_schema_with_csi`]): the claim's CSI handle on Storage rows, null elsewhere.
/// `RecordBatch::project(0..SUMMARY_COLUMNS.len())` gives back the summary batch.
pub fn to_record_batch_with_csi(run: &RunInfo, rows: &[SummaryRow]) -> Result<RecordBatch> {
    let batch = to_record_batch(run, rows)?;
    let bytes = rows
        .iter()
        .map(|r| r.storage.csi_volume_handle.as_deref().map_or(0, str::len))
        .sum();
    let mut csi = StringBuilder::with_capacity(rows.len(), bytes);
    rows.iter()
        .for_each(|r| csi.append_option(r.storage.csi_volume_handle.as_deref()));
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(csi.finish()));
    RecordBatch::try_new(summary_schema_with_csi(), columns).map_err(|source| {
        AggregateError::Arrow {
            what: "building summary rows with csi_volume_handle",
            source,
        }
    })
}
