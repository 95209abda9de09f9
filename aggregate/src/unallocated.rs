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
use crate::exact::ExactSum;
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

/// The measures of one unallocated row, which do not depend on the node's role: worked out
/// when its day finishes, so that a finished day keeps 12 numbers per node (112 bytes with
/// the keys) rather than the exact sums they come from (224). Indexed by [`Measure`];
/// `nulls` has bit `i` set when measure `i` is null (a value may be NaN: an overflowed sum).
#[derive(Debug, Clone, Copy)]
struct NodeDay {
    node: StringId,
    resource: Option<StringId>,
    values: [f64; MEASURES],
    nulls: u16,
}

/// The measures of an unallocated row, as [`NodeDay::values`] holds them.
#[derive(Debug, Clone, Copy)]
enum Measure {
    UsageCpu,
    RequestCpu,
    EffectiveCpu,
    UsageMem,
    RequestMem,
    EffectiveMem,
    NodeCpuCores,
    NodeCpuHours,
    NodeMemGib,
    NodeMemGibHours,
    ClusterCpuHours,
    ClusterMemGibHours,
}

const MEASURES: usize = Measure::ClusterMemGibHours as usize + 1;

impl NodeDay {
    /// Every measure null.
    fn new(node: StringId, resource: Option<StringId>) -> Self {
        Self {
            node,
            resource,
            values: [0.0; MEASURES],
            nulls: (1 << MEASURES) - 1,
        }
    }

    fn set(&mut self, m: Measure, value: Option<f64>) {
        let i = m as usize;
        match value {
            Some(v) => {
                self.values[i] = v;
                self.nulls &= !(1 << i);
            }
            None => self.nulls |= 1 << i,
        }
    }

    fn get(&self, m: Measure) -> Option<f64> {
        let i = m as usize;
        (self.nulls & (1 << i) == 0).then_some(self.values[i])
    }
}

/// What the unallocated rows need of the days already finished, a day at a time.
#[derive(Debug, Default)]
pub(crate) struct Unallocated {
    days: BTreeMap<i32, Vec<NodeDay>>,
}

impl Unallocated {
    /// Keeps, per (day, node) with Pod rows in `groups`, the measures of its unallocated
    /// row: the node's capacity minus what its Pod rows used, requested and effectively used
    /// (exact differences, converted once), and the node's and cluster's capacity.
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
        let mut noted: BTreeMap<i32, Vec<NodeDay>> = BTreeMap::new();
        for ((day, node), used) in nodes {
            let (node_cpu, node_mem) = capacity.node(day, node);
            let (cluster_cpu, cluster_mem) = capacity.cluster(day);
            let cpu = |used| remaining(node_cpu, used).and_then(hours);
            let mem = |used| remaining(node_mem, used).and_then(gib_hours);
            let mut row = NodeDay::new(node, used.resource);
            for (m, value) in [
                (Measure::UsageCpu, cpu(used.usage_cpu)),
                (Measure::RequestCpu, cpu(used.request_cpu)),
                (Measure::EffectiveCpu, cpu(used.effective_cpu)),
                (Measure::UsageMem, mem(used.usage_mem)),
                (Measure::RequestMem, mem(used.request_mem)),
                (Measure::EffectiveMem, mem(used.effective_mem)),
                (Measure::NodeCpuCores, used.cpu_cores.value()),
                (Measure::NodeCpuHours, hours(node_cpu)),
                (
                    Measure::NodeMemGib,
                    used.memory_bytes.value().map(|b| b * GIB),
                ),
                (Measure::NodeMemGibHours, gib_hours(node_mem)),
                (Measure::ClusterCpuHours, hours(cluster_cpu)),
                (Measure::ClusterMemGibHours, gib_hours(cluster_mem)),
            ] {
                row.set(m, value);
            }
            noted.entry(day).or_default().push(row);
        }
        for (day, mut rows) in noted {
            // A day is kept until the end of the run: without the slack of a growing `Vec`.
            rows.shrink_to_fit();
            self.days.entry(day).or_default().append(&mut rows);
        }
    }

    /// The (day, node) pairs noted: the rows [`Unallocated::rows`] appends.
    pub(crate) fn len(&self) -> usize {
        self.days.values().map(Vec::len).sum()
    }

    /// Takes out the days up to `last_day`.
    pub(crate) fn take_through(&mut self, last_day: i32) -> Unallocated {
        let later = match last_day.checked_add(1) {
            Some(next) => self.days.split_off(&next),
            None => BTreeMap::new(),
        };
        let days = std::mem::replace(&mut self.days, later);
        Unallocated { days }
    }

    /// Takes out the first day noted.
    pub(crate) fn take_first_day(&mut self) -> Option<Unallocated> {
        let first = self.days.pop_first()?;
        let days = BTreeMap::from([first]);
        Some(Unallocated { days })
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
        if self.days.is_empty() {
            return;
        }
        let platform: Arc<str> = PLATFORM_UNALLOCATED.into();
        let worker: Arc<str> = WORKER_UNALLOCATED.into();
        let categories = [
            side.cost_category(Some(PLATFORM_UNALLOCATED)),
            side.cost_category(Some(WORKER_UNALLOCATED)),
        ];
        let empty_labels: Arc<str> = "{}".into();
        rows.reserve(self.len());
        for (day, nodes) in self.days {
            for p in nodes {
                let (namespace, cost_category_id) =
                    match node_role(p.node, from_data, strings, side, derived) {
                        Some("master" | "infra") => (Some(Arc::clone(&platform)), categories[0]),
                        Some("worker") => (Some(Arc::clone(&worker)), categories[1]),
                        _ => (None, None),
                    };
                rows.push(SummaryRow {
                    data_source: DataSource::Pod,
                    day,
                    namespace,
                    node: strings.get(p.node).cloned(),
                    resource_id: p.resource.and_then(|r| strings.get(r).cloned()),
                    pod_labels: None,
                    volume_labels: None,
                    all_labels: Some(Arc::clone(&empty_labels)),
                    pod: PodMeasures {
                        usage_cpu_core_hours: p.get(Measure::UsageCpu),
                        request_cpu_core_hours: p.get(Measure::RequestCpu),
                        effective_usage_cpu_core_hours: p.get(Measure::EffectiveCpu),
                        limit_cpu_core_hours: None,
                        usage_memory_gigabyte_hours: p.get(Measure::UsageMem),
                        request_memory_gigabyte_hours: p.get(Measure::RequestMem),
                        effective_usage_memory_gigabyte_hours: p.get(Measure::EffectiveMem),
                        limit_memory_gigabyte_hours: None,
                    },
                    capacity: Capacity {
                        node_cpu_cores: p.get(Measure::NodeCpuCores),
                        node_cpu_core_hours: p.get(Measure::NodeCpuHours),
                        node_memory_gigabytes: p.get(Measure::NodeMemGib),
                        node_memory_gigabyte_hours: p.get(Measure::NodeMemGibHours),
                        cluster_cpu_core_hours: p.get(Measure::ClusterCpuHours),
                        cluster_memory_gigabyte_hours: p.get(Measure::ClusterMemGibHours),
                    },
                    storage: StorageMeasures::default(),
                    cost_category_id,
                    infrastructure_cost: false,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::SecondsSum;

    #[test]
    fn a_node_day_keeps_values_nulls_and_nan_apart() {
        let mut day = NodeDay::new(StringId(7), None);
        day.set(Measure::UsageCpu, Some(-2.5));
        day.set(Measure::NodeMemGib, Some(f64::NAN));
        day.set(Measure::ClusterMemGibHours, Some(1.0));
        day.set(Measure::ClusterMemGibHours, Some(0.0));
        day.set(Measure::RequestCpu, Some(3.0));
        day.set(Measure::RequestCpu, None);
        assert_eq!(day.get(Measure::UsageCpu), Some(-2.5));
        assert!(day.get(Measure::NodeMemGib).is_some_and(f64::is_nan));
        assert_eq!(day.get(Measure::ClusterMemGibHours), Some(0.0));
        for m in [
            Measure::RequestCpu,
            Measure::EffectiveMem,
            Measure::NodeCpuCores,
        ] {
            assert_eq!(
                day.get(m),
                None,
                "{m:?} was never given, or given null last"
            );
        }
    }

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
