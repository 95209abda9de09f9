//! One summary row, as far as the checks need it (expected and actual alike).

use chrono::NaiveDate;
use serde_json::Value;

/// The numeric columns the checks read, in this order (index into [`SummaryRow::numbers`]).
pub const NUMBER_COLUMNS: [&str; 18] = [
    "pod_usage_cpu_core_hours",
    "pod_request_cpu_core_hours",
    "pod_effective_usage_cpu_core_hours",
    "pod_limit_cpu_core_hours",
    "pod_usage_memory_gigabyte_hours",
    "pod_request_memory_gigabyte_hours",
    "pod_effective_usage_memory_gigabyte_hours",
    "pod_limit_memory_gigabyte_hours",
    "node_capacity_cpu_cores",
    "node_capacity_cpu_core_hours",
    "node_capacity_memory_gigabytes",
    "node_capacity_memory_gigabyte_hours",
    "cluster_capacity_cpu_core_hours",
    "cluster_capacity_memory_gigabyte_hours",
    "persistentvolumeclaim_capacity_gigabyte",
    "persistentvolumeclaim_capacity_gigabyte_months",
    "volume_request_storage_gigabyte_months",
    "persistentvolumeclaim_usage_gigabyte_months",
];

/// Index of a column in [`NUMBER_COLUMNS`].
pub(crate) fn col(name: &str) -> usize {
    NUMBER_COLUMNS
        .iter()
        .position(|c| *c == name)
        .unwrap_or_else(|| panic!("{name} is not a number column"))
}

/// The three kinds of rows in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RowKind {
    /// `data_source = 'Pod'` with pod labels: usage of a (namespace, node, label set).
    Pod,
    /// `data_source = 'Storage'`.
    Storage,
    /// `data_source = 'Pod'` without pod labels: a node's capacity that no pod used.
    Unallocated,
}

impl RowKind {
    /// The kind of a row, from its data_source and whether pod_labels is null (SPEC.md:
    /// pod_labels is null exactly on Storage and unallocated rows).
    pub fn of(data_source: &str, has_pod_labels: bool) -> Option<Self> {
        match (data_source, has_pod_labels) {
            ("Pod", true) => Some(RowKind::Pod),
            ("Pod", false) => Some(RowKind::Unallocated),
            ("Storage", _) => Some(RowKind::Storage),
            _ => None,
        }
    }

    /// The `data_source` value of this kind.
    pub fn data_source(self) -> &'static str {
        match self {
            RowKind::Pod | RowKind::Unallocated => "Pod",
            RowKind::Storage => "Storage",
        }
    }
}

/// The columns of a summary row that the checks compare.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// Pod, Storage or unallocated.
    pub kind: RowKind,
    /// usage_start.
    pub day: NaiveDate,
    /// namespace.
    pub namespace: Option<String>,
    /// node.
    pub node: Option<String>,
    /// resource_id.
    pub resource_id: Option<String>,
    /// persistentvolumeclaim.
    pub persistentvolumeclaim: Option<String>,
    /// persistentvolume.
    pub persistentvolume: Option<String>,
    /// storageclass.
    pub storageclass: Option<String>,
    /// pod_labels, parsed.
    pub pod_labels: Option<Value>,
    /// volume_labels, parsed.
    pub volume_labels: Option<Value>,
    /// all_labels, parsed.
    pub all_labels: Option<Value>,
    /// cost_category_id.
    pub cost_category_id: Option<i64>,
    /// The [`NUMBER_COLUMNS`], null as `None`.
    pub numbers: [Option<f64>; NUMBER_COLUMNS.len()],
}

impl SummaryRow {
    /// An empty row of a kind and day (every other column null).
    pub fn new(kind: RowKind, day: NaiveDate) -> Self {
        Self {
            kind,
            day,
            namespace: None,
            node: None,
            resource_id: None,
            persistentvolumeclaim: None,
            persistentvolume: None,
            storageclass: None,
            pod_labels: None,
            volume_labels: None,
            all_labels: None,
            cost_category_id: None,
            numbers: [None; NUMBER_COLUMNS.len()],
        }
    }

    /// A number column by name.
    pub fn number(&self, name: &str) -> Option<f64> {
        self.numbers[col(name)]
    }

    /// Sets a number column by name.
    pub fn set(&mut self, name: &str, value: f64) {
        self.numbers[col(name)] = Some(value);
    }
}
