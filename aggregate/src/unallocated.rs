//! Unallocated rows (SPEC.md "Unallocated rows"); the node's role ([`crate::roles`]) names
//! their namespace.
//!
//! Per (day, node) with Pod rows: the node's capacity hours minus what its Pod rows used,
//! requested and effectively used. Differences are taken on the exact fixed-point sums of
//! seconds and byte-seconds ([`crate::exact`]) and converted once, so they are bit-identical
//! for any thread count and never suffer cancellation from rounded per-row hours.

use std::collections::BTreeMap;
use std::sync::Arc;

use hashbrown::HashMap;

use crate::config::SideInputs;
use crate::exact::{ByteSecondsSum, ExactSum, SecondsSum};
use crate::output::{Capacity, DataSource, PodMeasures, StorageMeasures, SummaryRow};
use crate::pods::{merge_acc, DayCapacity, GroupKey, PodAcc};
use crate::roles::node_role;
use crate::strings::{StringId, Strings};
use crate::units::{gib_hours, hours, GIB};

/// Namespace of the unallocated row of a `master` or `infra` node.
pub const PLATFORM_UNALLOCATED: &str = "Platform unallocated";
/// Namespace of the unallocated row of a `worker` node.
pub const WORKER_UNALLOCATED: &str = "Worker unallocated";
/// Namespaces whose Pod rows are left out of the unallocated computation, as koku's `WHERE`
/// does (a real namespace could bear one of these names).
const NOT_ALLOCATED: [&str; 4] = [
    PLATFORM_UNALLOCATED,
    WORKER_UNALLOCATED,
    "Network unattributed",
    "Storage unattributed",
];

/// `capacity − used`, or null when either is null (SQL: `max(...) - sum(...)`).
fn remaining<const F: i32>(capacity: ExactSum<F>, used: ExactSum<F>) -> Option<ExactSum<F>> {
    (capacity.value().is_some() && used.value().is_some()).then(|| capacity.minus(&used))
}

/// What an unallocated row needs of a finished day: the node's use by its Pod rows and the
/// node's and the cluster's capacity that day.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeDay {
    day: i32,
    node: StringId,
    used: PodAcc,
    node_cpu: SecondsSum,
    node_mem: ByteSecondsSum,
    cluster_cpu: SecondsSum,
    cluster_mem: ByteSecondsSum,
}

/// What the unallocated rows need of the days already finished.
#[derive(Debug, Default)]
pub(crate) struct Unallocated {
    pending: Vec<NodeDay>,
}

impl Unallocated {
    /// Keeps, per (day, node) with Pod rows in `groups`, what its unallocated row needs.
    pub(crate) fn note(
        &mut self,
        groups: &[(GroupKey, PodAcc)],
        capacity: &DayCapacity,
        strings: &Strings,
    ) {
        let excluded: Vec<StringId> = NOT_ALLOCATED
            .iter()
            .filter_map(|n| strings.lookup(n))
            .collect();
        let mut nodes: HashMap<(i32, StringId), PodAcc> = HashMap::new();
        for &((day, namespace, node, _), ref acc) in groups {
            if !excluded.contains(&namespace) {
                merge_acc(nodes.entry((day, node)).or_default(), acc, strings.texts());
            }
        }
        self.pending.reserve(nodes.len());
        for ((day, node), used) in nodes {
            let (node_cpu, node_mem) = capacity.node(day, node);
            let (cluster_cpu, cluster_mem) = capacity.cluster(day);
            self.pending.push(NodeDay {
                day,
                node,
                used,
                node_cpu,
                node_mem,
                cluster_cpu,
                cluster_mem,
            });
        }
    }

    /// The (day, node) pairs noted: the rows [`Unallocated::rows`] appends.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// The noted days, each on its own, ascending.
    pub(crate) fn into_days(self) -> BTreeMap<i32, Unallocated> {
        let mut days: BTreeMap<i32, Unallocated> = BTreeMap::new();
        for node_day in self.pending {
            days.entry(node_day.day).or_default().pending.push(node_day);
        }
        days
    }

    /// Appends one unallocated row per (day, node) that had Pod rows, once every day is
    /// finished (roles depend on the whole range): the node's role comes from the data's
    /// `node_role` column (`from_data`, greatest per node), `side`, or is derived from the
    /// node's labels and placements (`derived`, [`crate::roles::NodeRoles::derived`]).
    pub(crate) fn rows(
        self,
        from_data: &HashMap<StringId, StringId>,
        derived: &HashMap<StringId, &'static str>,
        strings: &Strings,
        side: &SideInputs,
        rows: &mut Vec<SummaryRow>,
    ) {
        let pending = self.pending;
        if pending.is_empty() {
            return;
        }
        let platform: Arc<str> = PLATFORM_UNALLOCATED.into();
        let worker: Arc<str> = WORKER_UNALLOCATED.into();
        let categories = [
            side.cost_category(Some(PLATFORM_UNALLOCATED)),
            side.cost_category(Some(WORKER_UNALLOCATED)),
        ];
        let empty_labels: Arc<str> = "{}".into();
        rows.reserve(pending.len());
        for p in pending {
            let (namespace, cost_category_id) =
                match node_role(p.node, from_data, strings, side, derived) {
                    Some("master" | "infra") => (Some(Arc::clone(&platform)), categories[0]),
                    Some("worker") => (Some(Arc::clone(&worker)), categories[1]),
                    _ => (None, None),
                };
            let used = p.used;
            let cpu = |used| remaining(p.node_cpu, used).and_then(hours);
            let mem = |used| remaining(p.node_mem, used).and_then(gib_hours);
            rows.push(SummaryRow {
                data_source: DataSource::Pod,
                day: p.day,
                namespace,
                node: strings.get(p.node).cloned(),
                resource_id: used.resource.and_then(|r| strings.get(r).cloned()),
                pod_labels: None,
                volume_labels: None,
                all_labels: Some(Arc::clone(&empty_labels)),
                pod: PodMeasures {
                    usage_cpu_core_hours: cpu(used.usage_cpu),
                    request_cpu_core_hours: cpu(used.request_cpu),
                    effective_usage_cpu_core_hours: cpu(used.effective_cpu),
                    limit_cpu_core_hours: None,
                    usage_memory_gigabyte_hours: mem(used.usage_mem),
                    request_memory_gigabyte_hours: mem(used.request_mem),
                    effective_usage_memory_gigabyte_hours: mem(used.effective_mem),
                    limit_memory_gigabyte_hours: None,
                },
                capacity: Capacity {
                    node_cpu_cores: used.cpu_cores.value(),
                    node_cpu_core_hours: hours(p.node_cpu),
                    node_memory_gigabytes: used.memory_bytes.value().map(|b| b * GIB),
                    node_memory_gigabyte_hours: gib_hours(p.node_mem),
                    cluster_cpu_core_hours: hours(p.cluster_cpu),
                    cluster_memory_gigabyte_hours: gib_hours(p.cluster_mem),
                },
                storage: StorageMeasures::default(),
                cost_category_id,
                infrastructure_cost: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::SecondsSum;

    #[test]
    fn remaining_is_exact_and_null_when_either_side_is() {
        let sum = |values: &[f64]| {
            let mut s = SecondsSum::default();
            values.iter().for_each(|v| s.add(Some(*v)));
            s
        };
        // 0.1 + 0.2 used of 0.3: at most the 2^-56 rounding of the three inputs (2.8e-17),
        // not the 5.6e-17 that `0.3 - (0.1 + 0.2)` leaves in f64.
        let left = remaining(sum(&[0.3]), sum(&[0.1, 0.2]))
            .unwrap()
            .value()
            .unwrap();
        assert!(left.abs() <= 2.0 * 2f64.powi(-56), "{left}");
        assert!((0.3_f64 - (0.1 + 0.2)).abs() > 5e-17);
        assert_eq!(
            remaining(sum(&[10.0]), sum(&[12.5])).unwrap().value(),
            Some(-2.5),
            "negatives are kept"
        );
        assert_eq!(remaining(SecondsSum::default(), sum(&[1.0])), None);
        assert_eq!(remaining(sum(&[1.0]), SecondsSum::default()), None);
    }
}
