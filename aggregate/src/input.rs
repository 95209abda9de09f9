//! Input column access: the columns each table is read with, and typed access to them.

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, TimestampSecondArray};
use arrow::datatypes::{DataType, Float64Type, Int32Type, TimeUnit, TimestampSecondType};

use crate::error::{AggregateError, Result};
use crate::strings::StringId;

/// Text columns whose values matter only within a day (pods join claims to placements; a
/// claim's names are copied into its row), and which a month holds many of: they are interned
/// apart from the long-lived names (namespaces, nodes, storage classes) and forgotten as days
/// finish.
pub(crate) const SHORT_LIVED_COLUMNS: [&str; 4] = [
    "pod",
    "persistentvolumeclaim",
    "persistentvolume",
    "csi_volume_handle",
];
/// Columns of `pod_usage` the usage pass reads.
pub(crate) const POD_USAGE_COLUMNS: &[&str] = &[
    "interval_start",
    "namespace",
    "node",
    "pod",
    "resource_id",
    "pod_labels",
    "pod_usage_cpu_core_seconds",
    "pod_request_cpu_core_seconds",
    "pod_limit_cpu_core_seconds",
    "pod_effective_usage_cpu_core_seconds",
    "pod_usage_memory_byte_seconds",
    "pod_request_memory_byte_seconds",
    "pod_limit_memory_byte_seconds",
    "pod_effective_usage_memory_byte_seconds",
    "node_capacity_cpu_cores",
    "node_capacity_memory_bytes",
    "node_capacity_cpu_core_seconds",
    "node_capacity_memory_byte_seconds",
    "node_role",
];

/// Columns of hourly `pod_usage` the capacity pass reads (when usage comes from daily files).
pub(crate) const POD_CAPACITY_COLUMNS: &[&str] = &[
    "interval_start",
    "node",
    "node_capacity_cpu_core_seconds",
    "node_capacity_memory_byte_seconds",
    "node_role",
];

/// Columns of `node_labels` read.
pub(crate) const NODE_LABEL_COLUMNS: &[&str] = &["interval_start", "node", "node_labels"];
/// Columns of `namespace_labels` read.
pub(crate) const NAMESPACE_LABEL_COLUMNS: &[&str] =
    &["interval_start", "namespace", "namespace_labels"];

/// What a pod_usage batch contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodPass {
    /// Usage, request, limit and effective sums per group (from hourly or daily line items).
    Usage,
    /// Hourly node capacity only (hourly line items, any projection with the capacity columns).
    Capacity,
    /// Both, from hourly line items with the columns of `Table::Pods(PodPass::Both)`.
    Both,
}

impl PodPass {
    pub(crate) fn usage(self) -> bool {
        matches!(self, PodPass::Usage | PodPass::Both)
    }
    pub(crate) fn capacity(self) -> bool {
        matches!(self, PodPass::Capacity | PodPass::Both)
    }
}

/// Columns of `storage_usage` read (hourly or daily files).
pub(crate) const STORAGE_USAGE_COLUMNS: &[&str] = &[
    "interval_start",
    "namespace",
    "pod",
    "persistentvolumeclaim",
    "persistentvolume",
    "storageclass",
    "csi_volume_handle",
    "persistentvolumeclaim_capacity_bytes",
    "persistentvolumeclaim_capacity_byte_seconds",
    "volume_request_storage_byte_seconds",
    "persistentvolumeclaim_usage_byte_seconds",
    "persistentvolume_labels",
    "persistentvolumeclaim_labels",
];

/// An input table of the aggregate, and for `pod_usage`, what its batches contribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// `node_labels`.
    NodeLabels,
    /// `namespace_labels`.
    NamespaceLabels,
    /// `pod_usage`, for usage, capacity or both.
    Pods(PodPass),
    /// `storage_usage`.
    Storage,
}

impl Table {
    /// The columns the aggregate reads from this table.
    pub const fn columns(self) -> &'static [&'static str] {
        match self {
            Table::NodeLabels => NODE_LABEL_COLUMNS,
            Table::NamespaceLabels => NAMESPACE_LABEL_COLUMNS,
            Table::Pods(PodPass::Capacity) => POD_CAPACITY_COLUMNS,
            Table::Pods(_) => POD_USAGE_COLUMNS,
            Table::Storage => STORAGE_USAGE_COLUMNS,
        }
    }
}

pub(crate) fn column<'a>(batch: &'a RecordBatch, name: &'static str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or(AggregateError::MissingColumn { column: name })
}

pub(crate) fn f64s<'a>(batch: &'a RecordBatch, name: &'static str) -> Result<&'a Float64Array> {
    column(batch, name)?
        .as_primitive_opt::<Float64Type>()
        .ok_or(AggregateError::MissingColumn { column: name })
}

pub(crate) fn times(batch: &RecordBatch) -> Result<&TimestampSecondArray> {
    column(batch, "interval_start")?
        .as_primitive_opt::<TimestampSecondType>()
        .ok_or(AggregateError::MissingColumn {
            column: "interval_start",
        })
}

#[inline]
pub(crate) fn opt(a: &Float64Array, i: usize) -> Option<f64> {
    // `values()[i]`, not `value(i)`: the latter was left out of line in the fold loops (its
    // panic message makes it large), a call per value.
    a.is_valid(i).then(|| a.values()[i])
}

/// Row → interned id of a dictionary column, through the remap of its dictionary keys.
pub(crate) struct Ids<'a> {
    keys: &'a arrow::array::PrimitiveArray<Int32Type>,
    remap: &'a [StringId],
}

impl<'a> Ids<'a> {
    pub(crate) fn new(column: &'a ArrayRef, remap: &'a [StringId]) -> Self {
        Self {
            keys: column.as_dictionary::<Int32Type>().keys(),
            remap,
        }
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> StringId {
        if self.keys.is_valid(i) {
            self.remap[self.keys.values()[i] as usize]
        } else {
            StringId::NULL
        }
    }
}

/// The day of a timestamp in seconds: days since 1970-01-01 (UTC), the day its row is summed
/// into. A timestamp beyond the days an `i32` counts gives the first or last of them, never a
/// day wrapped back into a month.
#[inline]
pub fn day_of(ts: i64) -> i32 {
    let day = ts.div_euclid(86_400);
    i32::try_from(day).unwrap_or(if day < 0 { i32::MIN } else { i32::MAX })
}

/// Checks that `batch` holds every column `table` needs, time and numbers with the reader's
/// canonical types (text columns are checked where they are interned).
pub(crate) fn check_schema(table: Table, batch: &RecordBatch) -> Result<()> {
    let schema = batch.schema();
    for &name in table.columns() {
        let field = schema
            .field_with_name(name)
            .map_err(|_| AggregateError::MissingColumn { column: name })?;
        let expected = match name {
            "interval_start" => Some(DataType::Timestamp(TimeUnit::Second, None)),
            "namespace" | "node" | "pod" | "resource_id" | "node_role" => None,
            _ if name.ends_with("_labels") => None,
            "persistentvolumeclaim"
            | "persistentvolume"
            | "storageclass"
            | "csi_volume_handle"
            | "csi_driver" => None,
            _ => Some(DataType::Float64),
        };
        if let Some(expected) = expected {
            let actual = field.data_type();
            let matches = match (actual, &expected) {
                // The zone does not change a second count.
                (DataType::Timestamp(TimeUnit::Second, _), DataType::Timestamp(..)) => true,
                (a, e) => a == e,
            };
            if !matches {
                return Err(AggregateError::ColumnType {
                    column: name,
                    expected,
                    actual: actual.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The first day of a batch's `interval_start` (days since 1970-01-01).
pub(crate) fn first_day(batch: &RecordBatch) -> Result<Option<i32>> {
    Ok(arrow::compute::min(times(batch)?).map(day_of))
}

#[cfg(test)]
mod tests {
    use super::day_of;

    #[test]
    fn days_count_from_the_epoch_and_saturate_rather_than_wrap() {
        const DAY: i64 = 86_400;
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY - 1), 0);
        assert_eq!(day_of(DAY), 1);
        assert_eq!(
            day_of(-1),
            -1,
            "the second before the epoch is the day before"
        );
        // 2025-10-31 12:00 UTC
        assert_eq!(day_of(1_761_912_000), 20_392);
        // 2^32 days past day 5 would wrap to day 5 in 32 bits.
        assert_eq!(day_of(((1_i64 << 32) + 5) * DAY), i32::MAX);
        assert_eq!(day_of(i64::MAX), i32::MAX);
        assert_eq!(day_of(i64::MIN), i32::MIN);
    }
}
