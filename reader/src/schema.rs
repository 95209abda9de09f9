//! The four koku report tables, the columns this program reads from each, and the canonical
//! Arrow types the reader guarantees to emit whatever the physical type in the file.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// One of koku's four OpenShift report tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportType {
    /// `pod_usage`: one line item per pod and interval.
    PodUsage,
    /// `storage_usage`: one line item per persistent volume claim and interval.
    StorageUsage,
    /// `node_labels`: the labels of each node per interval.
    NodeLabels,
    /// `namespace_labels`: the labels of each namespace per interval.
    NamespaceLabels,
}

impl ReportType {
    /// All report types, in a fixed order.
    pub const ALL: [ReportType; 4] = [
        ReportType::PodUsage,
        ReportType::StorageUsage,
        ReportType::NodeLabels,
        ReportType::NamespaceLabels,
    ];

    /// The directory name koku uses for this report type.
    pub fn dir_name(self) -> &'static str {
        match self {
            ReportType::PodUsage => "pod_usage",
            ReportType::StorageUsage => "storage_usage",
            ReportType::NodeLabels => "node_labels",
            ReportType::NamespaceLabels => "namespace_labels",
        }
    }

    /// Every column this program can read from the table, with its kind and whether it is required.
    pub fn columns(self) -> &'static [ColumnSpec] {
        match self {
            ReportType::PodUsage => POD_USAGE,
            ReportType::StorageUsage => STORAGE_USAGE,
            ReportType::NodeLabels => NODE_LABELS,
            ReportType::NamespaceLabels => NAMESPACE_LABELS,
        }
    }

    /// Looks up a column of this table by name.
    pub fn column(self, name: &str) -> Option<&'static ColumnSpec> {
        self.columns().iter().find(|c| c.name == name)
    }
}

impl fmt::Display for ReportType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dir_name())
    }
}

/// What a column holds, which decides its canonical Arrow type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// A point in time, emitted as `Timestamp(Second, "UTC")`. Accepted input: any timestamp
    /// unit with or without zone, `Date32`/`Date64`, or strings such as
    /// `2025-11-01 00:00:00 +0000 UTC`.
    Timestamp,
    /// Text, emitted as `Dictionary(Int32, Utf8)`. Accepted input: `Utf8`, `LargeUtf8`,
    /// `Utf8View` or a dictionary of those.
    Text,
    /// A quantity, emitted as `Float64`. Accepted input: any integer or floating-point type,
    /// or a decimal.
    Number,
}

impl ColumnKind {
    /// The canonical Arrow type of this kind.
    pub fn data_type(self) -> DataType {
        match self {
            ColumnKind::Timestamp => DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
            ColumnKind::Text => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
            ColumnKind::Number => DataType::Float64,
        }
    }

    /// A short human description of the accepted input types, for error messages.
    pub fn expected(self) -> &'static str {
        match self {
            ColumnKind::Timestamp => "a timestamp, date or timestamp string",
            ColumnKind::Text => "a string",
            ColumnKind::Number => "a number (integer, float or decimal)",
        }
    }
}

/// A column the program reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnSpec {
    /// Column name in koku's files.
    pub name: &'static str,
    /// What it holds.
    pub kind: ColumnKind,
    /// A missing required column is an error; a missing optional column reads as nulls.
    pub required: bool,
}

const fn req(name: &'static str, kind: ColumnKind) -> ColumnSpec {
    ColumnSpec {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: ColumnKind) -> ColumnSpec {
    ColumnSpec {
        name,
        kind,
        required: false,
    }
}

use ColumnKind::{Number, Text, Timestamp};

/// `interval_start`, present in every table.
pub const INTERVAL_START: &str = "interval_start";

const POD_USAGE: &[ColumnSpec] = &[
    req(INTERVAL_START, Timestamp),
    req("namespace", Text),
    req("node", Text),
    req("pod", Text),
    req("resource_id", Text),
    req("pod_labels", Text),
    req("pod_usage_cpu_core_seconds", Number),
    req("pod_request_cpu_core_seconds", Number),
    req("pod_limit_cpu_core_seconds", Number),
    opt("pod_effective_usage_cpu_core_seconds", Number),
    req("pod_usage_memory_byte_seconds", Number),
    req("pod_request_memory_byte_seconds", Number),
    req("pod_limit_memory_byte_seconds", Number),
    opt("pod_effective_usage_memory_byte_seconds", Number),
    req("node_capacity_cpu_cores", Number),
    req("node_capacity_cpu_core_seconds", Number),
    req("node_capacity_memory_bytes", Number),
    req("node_capacity_memory_byte_seconds", Number),
    opt("node_role", Text),
];

const STORAGE_USAGE: &[ColumnSpec] = &[
    req(INTERVAL_START, Timestamp),
    req("namespace", Text),
    req("pod", Text),
    req("persistentvolumeclaim", Text),
    req("persistentvolume", Text),
    req("storageclass", Text),
    opt("csi_volume_handle", Text),
    req("persistentvolumeclaim_capacity_bytes", Number),
    req("persistentvolumeclaim_capacity_byte_seconds", Number),
    req("volume_request_storage_byte_seconds", Number),
    req("persistentvolumeclaim_usage_byte_seconds", Number),
    req("persistentvolume_labels", Text),
    req("persistentvolumeclaim_labels", Text),
];

const NODE_LABELS: &[ColumnSpec] = &[
    req(INTERVAL_START, Timestamp),
    req("node", Text),
    req("node_labels", Text),
];

const NAMESPACE_LABELS: &[ColumnSpec] = &[
    req(INTERVAL_START, Timestamp),
    req("namespace", Text),
    req("namespace_labels", Text),
];

/// The canonical schema of a projection: the named columns, in the given order, with their
/// canonical types, all nullable.
pub fn canonical_schema(columns: &[&'static ColumnSpec]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c.name, c.kind.data_type(), true))
            .collect::<Vec<_>>(),
    ))
}
