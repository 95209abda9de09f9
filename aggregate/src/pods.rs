//! The Pod work: pod line items and node capacity in, Pod groups out.
//!
//! [`PreparedBatch::new`] (sequential, cheap) interns the distinct values of a batch's
//! dictionary columns (namespaces, nodes, label strings) into dense ids; only dictionary
//! values are touched, never rows. [`PodPartial::fold`] (pure, any thread) folds rows of a
//! prepared batch into a [`PodPartial`] keyed by `(day, namespace id, node id, label-set
//! id)`; [`PodPartial::absorb`] adds one partial into another, the running state included.
//! All sums are exact ([`crate::exact`]), so the result is identical for any split and
//! order. As days finish, [`PodPartial::take_capacity`], [`PodPartial::take_groups`] and
//! [`PodPartial::take_placements`] take them out. The calling sequence around these is in
//! [`crate::aggregator`] (`Aggregator::prepare`, `partial`, `merge`).

use std::ops::Range;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int32Type;
use hashbrown::{HashMap, HashSet};
use ocpagg_labels::{LabelSetId, MergedSets};

use crate::error::Result;
use crate::exact::{ByteSecondsSum, Max, SecondsSum};
use crate::groups::{rekey, DenseGroups};
use crate::input::{column, day_of, f64s, opt, times, Ids, PodPass};
use crate::interner::{FoldView, Interner, Rekeyed, Source};
use crate::labels::LabelTables;
use crate::roles::fold_data_roles;
use crate::strings::{StringId, Texts};

pub(crate) type GroupKey = (i32, StringId, StringId, LabelSetId);

/// Where a pod ran on a day: (day, namespace, pod, node, resource_id). Every pod_usage line
/// item of the usage pass contributes one, node `''` and null included; storage claims find
/// their node through it, and node roles are derived from it.
pub(crate) type Placement = (i32, StringId, StringId, StringId, StringId);

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PodAcc {
    pub(crate) usage_cpu: SecondsSum,
    pub(crate) request_cpu: SecondsSum,
    pub(crate) effective_cpu: SecondsSum,
    pub(crate) limit_cpu: SecondsSum,
    pub(crate) usage_mem: ByteSecondsSum,
    pub(crate) request_mem: ByteSecondsSum,
    pub(crate) effective_mem: ByteSecondsSum,
    pub(crate) limit_mem: ByteSecondsSum,
    pub(crate) cpu_cores: Max,
    pub(crate) memory_bytes: Max,
    pub(crate) resource: Option<StringId>,
}

#[derive(Debug, Clone, Copy, Default)]
struct CapacityAcc {
    cpu_core_seconds: Max,
    memory_byte_seconds: Max,
}

impl CapacityAcc {
    fn merge(&mut self, other: &CapacityAcc) {
        self.cpu_core_seconds.merge(&other.cpu_core_seconds);
        self.memory_byte_seconds.merge(&other.memory_byte_seconds);
    }
}

/// A batch whose dictionary values have been interned; ready for [`crate::Aggregator::partial`].
#[derive(Debug)]
pub struct PreparedBatch {
    pass: PodPass,
    batch: RecordBatch,
    namespace: Vec<StringId>,
    node: Vec<StringId>,
    pod: Vec<StringId>,
    resource: Vec<StringId>,
    role: Vec<StringId>,
    labels: Vec<LabelSetId>,
}

impl PreparedBatch {
    /// Interns a pod_usage batch's dictionary values (sequential, cheap).
    pub(crate) fn new(batch: RecordBatch, pass: PodPass, interner: &mut Interner) -> Result<Self> {
        let mut rekeyed = Rekeyed::new(Source::Pods, &batch);
        let node = rekeyed.text("node", interner)?;
        let role = rekeyed.text("node_role", interner)?;
        let (namespace, pod, resource, labels) = if pass.usage() {
            (
                rekeyed.text("namespace", interner)?,
                rekeyed.text("pod", interner)?,
                rekeyed.text("resource_id", interner)?,
                rekeyed.labels("pod_labels", interner)?,
            )
        } else {
            Default::default()
        };
        let batch = rekeyed.finish()?;
        Ok(Self {
            pass,
            batch,
            namespace,
            node,
            pod,
            resource,
            role,
            labels,
        })
    }

    /// Rows in the batch.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }
}

/// The partial aggregate of some pod_usage batches.
#[derive(Debug, Default)]
pub struct PodPartial {
    groups: DenseGroups<GroupKey, PodAcc>,
    capacity: HashMap<(i64, StringId), CapacityAcc>,
    pub(crate) roles: HashMap<StringId, StringId>,
    pub(crate) placements: HashSet<Placement>,
    pub(crate) pod_items: u64,
    pub(crate) without_node: u64,
    pub(crate) capacity_items: u64,
    /// Each pod's last line item in this partial's folds (see [`PodMemo`]).
    memo: PodMemo,
}

/// What a line item says of its pod's placement and group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PodLine {
    day: i32,
    namespace: StringId,
    node: StringId,
    resource: StringId,
    labels: LabelSetId,
}

/// The group of a line item without one (no node).
const NO_GROUP: u32 = u32::MAX - 1;
/// A pod not seen yet.
const UNSEEN: u32 = u32::MAX;

/// The last line item of each pod (by its dense id) folded into a partial, with its group's
/// index: an hourly month repeats both for every hour a pod runs, so a fold looks up a
/// placement and a group only when they change. The indices are those of the partial's
/// groups, so the memo is dropped whenever the groups move (absorbed or taken).
#[derive(Debug, Default)]
struct PodMemo(Vec<(PodLine, u32)>);

impl PodMemo {
    /// The group of `pod`'s line item if its last one said the same.
    #[inline]
    fn recall(&self, pod: StringId, line: &PodLine) -> Option<u32> {
        // Null (`u32::MAX`) is past every memo.
        let (last, group) = self.0.get(pod.0 as usize)?;
        (*group != UNSEEN && last == line).then_some(*group)
    }

    #[inline]
    fn remember(&mut self, pod: StringId, line: PodLine, group: u32) {
        if pod.is_null() {
            return;
        }
        let i = pod.0 as usize;
        if i >= self.0.len() {
            self.0.resize(i + 1, (line, UNSEEN));
        }
        self.0[i] = (line, group);
    }
}

impl PodPartial {
    /// Adds `other` into this partial (the larger of the two is kept and the smaller moved
    /// in). `texts` orders resource ids and roles ("greatest wins").
    pub(crate) fn absorb(&mut self, mut other: PodPartial, texts: &Texts) {
        if self.groups.len() < other.groups.len() {
            std::mem::swap(self, &mut other);
        }
        self.memo = PodMemo::default();
        self.groups
            .absorb(other.groups, |into, from| merge_acc(into, from, texts));
        for (key, acc) in other.capacity {
            self.capacity.entry(key).or_default().merge(&acc);
        }
        for (node, role) in other.roles {
            let slot = self.roles.entry(node).or_insert(role);
            if role != *slot && texts.greater(role, *slot) {
                *slot = role;
            }
        }
        self.placements.extend(other.placements);
        self.pod_items += other.pod_items;
        self.without_node += other.without_node;
        self.capacity_items += other.capacity_items;
    }

    /// Folds rows `rows` of one prepared batch into this partial (so that one large batch
    /// can be folded by several workers). Pure: many partials can be folded at once, on a
    /// thread pool, with a view of the interner taken after the batches were prepared.
    pub(crate) fn fold(
        &mut self,
        p: &PreparedBatch,
        rows: Range<usize>,
        view: &FoldView,
    ) -> Result<()> {
        let (out, texts) = (self, &view.texts);
        let b = &p.batch;
        let ts = times(b)?;
        let nodes = Ids::new(column(b, "node")?, &p.node);
        let roles = column(b, "node_role")?;
        if roles.null_count() < roles.len() {
            let roles = Ids::new(roles, &p.role);
            fold_data_roles(&mut out.roles, &nodes, &roles, rows.clone(), texts);
        }
        if p.pass.capacity() {
            let cpu = f64s(b, "node_capacity_cpu_core_seconds")?;
            let mem = f64s(b, "node_capacity_memory_byte_seconds")?;
            // Line items come in runs of one interval and node: fold a run locally and touch
            // the map once per run.
            let mut run: Option<((i64, StringId), CapacityAcc)> = None;
            for i in rows.clone() {
                if ts.is_null(i) {
                    continue;
                }
                let key = (ts.values()[i], nodes.get(i));
                if let Some((k, acc)) = run.take_if(|(k, _)| *k != key) {
                    out.capacity.entry(k).or_default().merge(&acc);
                }
                let (_, acc) = run.get_or_insert_with(|| (key, CapacityAcc::default()));
                acc.cpu_core_seconds.add(opt(cpu, i));
                acc.memory_byte_seconds.add(opt(mem, i));
                out.capacity_items += 1;
            }
            if let Some((k, acc)) = run {
                out.capacity.entry(k).or_default().merge(&acc);
            }
        }
        if !p.pass.usage() {
            return Ok(());
        }
        let namespaces = Ids::new(column(b, "namespace")?, &p.namespace);
        let pods = Ids::new(column(b, "pod")?, &p.pod);
        let resources = Ids::new(column(b, "resource_id")?, &p.resource);
        let label_keys = column(b, "pod_labels")?.as_dictionary::<Int32Type>().keys();
        let usage_cpu = f64s(b, "pod_usage_cpu_core_seconds")?;
        let request_cpu = f64s(b, "pod_request_cpu_core_seconds")?;
        let limit_cpu = f64s(b, "pod_limit_cpu_core_seconds")?;
        let effective_cpu = f64s(b, "pod_effective_usage_cpu_core_seconds")?;
        let usage_mem = f64s(b, "pod_usage_memory_byte_seconds")?;
        let request_mem = f64s(b, "pod_request_memory_byte_seconds")?;
        let limit_mem = f64s(b, "pod_limit_memory_byte_seconds")?;
        let effective_mem = f64s(b, "pod_effective_usage_memory_byte_seconds")?;
        let cores = f64s(b, "node_capacity_cpu_cores")?;
        let bytes = f64s(b, "node_capacity_memory_bytes")?;
        // koku: coalesce(effective, greatest(usage, request)); greatest is null if either is.
        let effective =
            |e: Option<f64>, u: Option<f64>, r: Option<f64>| e.or_else(|| Some(u?.max(r?)));
        // Hourly line items repeat a pod's placement and group hour after hour, so only a
        // change is looked up (`PodMemo`). koku's daily roll-up (every line item at midnight)
        // names a pod once a day: there is nothing to recall.
        let hourly = rows
            .clone()
            .any(|i| ts.is_valid(i) && ts.values()[i].rem_euclid(86_400) != 0);
        for i in rows {
            if ts.is_null(i) {
                continue;
            }
            let pod = pods.get(i);
            let line = PodLine {
                day: day_of(ts.values()[i]),
                namespace: namespaces.get(i),
                node: nodes.get(i),
                resource: resources.get(i),
                labels: if label_keys.is_valid(i) {
                    p.labels[label_keys.values()[i] as usize]
                } else {
                    LabelSetId::EMPTY
                },
            };
            let recalled = hourly.then(|| out.memo.recall(pod, &line)).flatten();
            let group = match recalled {
                Some(group) => group,
                None => {
                    out.placements.insert((
                        line.day,
                        line.namespace,
                        pod,
                        line.node,
                        line.resource,
                    ));
                    let group = if line.node.is_null() || line.node == view.empty {
                        NO_GROUP
                    } else {
                        out.groups
                            .index((line.day, line.namespace, line.node, line.labels))
                    };
                    if hourly {
                        out.memo.remember(pod, line, group);
                    }
                    group
                }
            };
            if group == NO_GROUP {
                out.without_node += 1;
                continue;
            }
            let resource = line.resource;
            let acc = out.groups.at(group);
            let (u, r) = (opt(usage_cpu, i), opt(request_cpu, i));
            acc.usage_cpu.add(u);
            acc.request_cpu.add(r);
            acc.effective_cpu
                .add(effective(opt(effective_cpu, i), u, r));
            acc.limit_cpu.add(opt(limit_cpu, i));
            let (u, r) = (opt(usage_mem, i), opt(request_mem, i));
            acc.usage_mem.add(u);
            acc.request_mem.add(r);
            acc.effective_mem
                .add(effective(opt(effective_mem, i), u, r));
            acc.limit_mem.add(opt(limit_mem, i));
            acc.cpu_cores.add(opt(cores, i));
            acc.memory_bytes.add(opt(bytes, i));
            if !resource.is_null() {
                match acc.resource {
                    Some(current) if current == resource || !texts.greater(resource, current) => {}
                    _ => acc.resource = Some(resource),
                }
            }
            out.pod_items += 1;
        }
        Ok(())
    }

    /// Node capacity per (day, node) of the days up to `last_day` (the hourly maxima summed
    /// over the day's intervals), and cluster capacity per day: the sum over all nodes, ''
    /// and null included. Those days' hourly entries are removed.
    pub(crate) fn take_capacity(&mut self, last_day: i32) -> DayCapacity {
        let mut out = DayCapacity::default();
        for ((ts, node), acc) in self
            .capacity
            .extract_if(|&(ts, _), _| day_of(ts) <= last_day)
        {
            let day = day_of(ts);
            for slot in [
                out.nodes.entry((day, node)).or_default(),
                out.cluster.entry(day).or_default(),
            ] {
                slot.0.add(acc.cpu_core_seconds.value());
                slot.1.add(acc.memory_byte_seconds.value());
            }
        }
        out
    }

    /// The Pod groups of the days up to `last_day`, with pod labels merged with the node's
    /// and namespace's labels of the day (`tables`) into row label maps (`merged`, ids of
    /// its own). Different pod label sets can merge into the same map, so groups are re-keyed.
    pub(crate) fn take_groups(
        &mut self,
        last_day: i32,
        tables: &LabelTables,
        interner: &Interner,
        merged: &mut MergedSets,
    ) -> Vec<(GroupKey, PodAcc)> {
        self.memo = PodMemo::default();
        let mut groups = self.groups.take_where(|key| key.0 <= last_day);
        let (labels, strings) = (&interner.labels, &interner.strings);
        rekey(
            &mut groups,
            |(day, namespace, node, pod_labels)| {
                let sets = [
                    tables.node(day, node),
                    tables.namespace(day, namespace),
                    pod_labels,
                ];
                (day, namespace, node, merged.merge(labels, &sets))
            },
            |into, from| merge_acc(into, from, strings.texts()),
        );
        groups
    }

    /// The placements of the days up to `last_day`.
    pub(crate) fn take_placements(&mut self, last_day: i32) -> HashSet<Placement> {
        self.placements.extract_if(|p| p.0 <= last_day).collect()
    }

    /// The short-lived ids (pods) the placements of unfinished days refer to.
    pub(crate) fn short_lived_ids(&self) -> impl Iterator<Item = StringId> + '_ {
        self.placements.iter().map(|p| p.2)
    }
}

/// Node and cluster capacity of each day, exact sums of seconds and byte-seconds.
#[derive(Debug, Default)]
pub(crate) struct DayCapacity {
    nodes: HashMap<(i32, StringId), (SecondsSum, ByteSecondsSum)>,
    cluster: HashMap<i32, (SecondsSum, ByteSecondsSum)>,
}

impl DayCapacity {
    /// Capacity core-seconds and byte-seconds of a node on a day (null sums if unseen).
    pub(crate) fn node(&self, day: i32, node: StringId) -> (SecondsSum, ByteSecondsSum) {
        self.nodes.get(&(day, node)).copied().unwrap_or_default()
    }

    /// Capacity core-seconds and byte-seconds of the cluster on a day.
    pub(crate) fn cluster(&self, day: i32) -> (SecondsSum, ByteSecondsSum) {
        self.cluster.get(&day).copied().unwrap_or_default()
    }
}

pub(crate) fn merge_acc(into: &mut PodAcc, from: &PodAcc, texts: &Texts) {
    into.usage_cpu.merge(&from.usage_cpu);
    into.request_cpu.merge(&from.request_cpu);
    into.effective_cpu.merge(&from.effective_cpu);
    into.limit_cpu.merge(&from.limit_cpu);
    into.usage_mem.merge(&from.usage_mem);
    into.request_mem.merge(&from.request_mem);
    into.effective_mem.merge(&from.effective_mem);
    into.limit_mem.merge(&from.limit_mem);
    into.cpu_cores.merge(&from.cpu_cores);
    into.memory_bytes.merge(&from.memory_bytes);
    into.resource = match (into.resource, from.resource) {
        // Equal ids first: the same resource on both sides is the common case, and comparing
        // its text with itself is a full-length memcmp.
        (Some(a), Some(b)) if a != b && texts.greater(b, a) => Some(b),
        (None, b) => b,
        (a, _) => a,
    };
}

#[cfg(test)]
mod tests {
    use crate::input::{PodPass, Table, POD_USAGE_COLUMNS};
    use crate::output::{DataSource, SummaryRow};
    use crate::testing::{aggregator, canonical, nums, text, times};

    const HOUR: i64 = 3600;

    fn nulls(n: usize) -> arrow::array::ArrayRef {
        std::sync::Arc::new(arrow::array::Float64Array::from(vec![None; n]))
    }
    const GIB: f64 = (1u64 << 30) as f64;

    /// Three hourly line items of pod `p` on node `n1` and one without a node, on
    /// 1970-01-01; the numbers below are computed by hand from them.
    fn items() -> arrow::array::RecordBatch {
        canonical(
            POD_USAGE_COLUMNS,
            4,
            &[
                ("interval_start", times(&[0, HOUR, 2 * HOUR, 0])),
                ("namespace", text(&[Some("ns"); 4])),
                (
                    "node",
                    text(&[Some("n1"), Some("n1"), Some("n1"), Some("")]),
                ),
                ("pod", text(&[Some("p"); 4])),
                ("resource_id", text(&[Some("r1"); 4])),
                ("pod_labels", text(&[Some(r#"{"app": "x"}"#); 4])),
                (
                    "pod_usage_cpu_core_seconds",
                    nums(&[1800.0, 3600.0, 900.0, 7.0]),
                ),
                (
                    "pod_request_cpu_core_seconds",
                    nums(&[3600.0, 1800.0, 3600.0, 7.0]),
                ),
                (
                    "pod_usage_memory_byte_seconds",
                    nums(&[2.0 * GIB * 3600.0; 4]),
                ),
                (
                    "pod_request_memory_byte_seconds",
                    nums(&[GIB * 3600.0, 3.0 * GIB * 3600.0, GIB * 3600.0, 0.0]),
                ),
                ("pod_effective_usage_cpu_core_seconds", nulls(4)),
                ("pod_effective_usage_memory_byte_seconds", nulls(4)),
                ("pod_limit_cpu_core_seconds", nulls(4)),
                ("node_capacity_cpu_cores", nums(&[4.0; 4])),
                ("node_capacity_memory_bytes", nums(&[16.0 * GIB; 4])),
                ("node_capacity_cpu_core_seconds", nums(&[4.0 * 3600.0; 4])),
                (
                    "node_capacity_memory_byte_seconds",
                    nums(&[16.0 * GIB * 3600.0; 4]),
                ),
            ],
        )
    }

    fn pod_rows(rows: &[SummaryRow]) -> Vec<&SummaryRow> {
        rows.iter()
            .filter(|r| r.data_source == DataSource::Pod && r.pod_labels.is_some())
            .collect()
    }

    #[test]
    fn a_pod_row_sums_its_line_items_in_hours() {
        let mut agg = aggregator();
        agg.push(Table::Pods(PodPass::Both), items()).unwrap();
        let summary = agg.finish().unwrap();
        let rows = pod_rows(&summary.rows);
        assert_eq!(rows.len(), 1, "{rows:#?}");
        let r = rows[0];
        assert_eq!(r.namespace.as_deref(), Some("ns"));
        assert_eq!(r.node.as_deref(), Some("n1"));
        assert_eq!(r.resource_id.as_deref(), Some("r1"));
        // No key is enabled by default, so `app` is filtered out.
        assert_eq!(r.pod_labels.as_deref(), Some("{}"));
        // (1800 + 3600 + 900) s / 3600.
        assert_eq!(r.pod.usage_cpu_core_hours, Some(1.75));
        // (3600 + 1800 + 3600) s / 3600.
        assert_eq!(r.pod.request_cpu_core_hours, Some(2.5));
        // No effective usage: greatest(usage, request) per item, 3600 + 3600 + 3600.
        assert_eq!(r.pod.effective_usage_cpu_core_hours, Some(3.0));
        // 2 GiB for each of three hours.
        assert_eq!(r.pod.usage_memory_gigabyte_hours, Some(6.0));
        // 1 + 3 + 1 GiB for an hour each.
        assert_eq!(r.pod.request_memory_gigabyte_hours, Some(5.0));
        // greatest(usage, request) per item: 2 + 3 + 2.
        assert_eq!(r.pod.effective_usage_memory_gigabyte_hours, Some(7.0));
        // Null on every item: a null sum, not 0.
        assert_eq!(r.pod.limit_cpu_core_hours, None);
        assert_eq!(r.capacity.node_cpu_cores, Some(4.0));
        assert_eq!(r.capacity.node_memory_gigabytes, Some(16.0));
        // Three hours of 4 cores on n1.
        assert_eq!(r.capacity.node_cpu_core_hours, Some(12.0));
        assert_eq!(r.capacity.node_memory_gigabyte_hours, Some(48.0));
        // The cluster: n1's three hours and the node-less item's hour ('' is a node too).
        assert_eq!(r.capacity.cluster_cpu_core_hours, Some(16.0));
        assert_eq!(summary.stats.pod_items, 3);
        assert_eq!(summary.stats.pod_items_without_node, 1);
        assert_eq!(summary.stats.capacity_items, 4);
    }

    /// prepare → partial → merge on each half gives what one push of the whole batch gives.
    #[test]
    fn partials_of_halves_merge_to_the_whole() {
        let mut whole = aggregator();
        whole.push(Table::Pods(PodPass::Both), items()).unwrap();
        let whole = whole.finish().unwrap();
        let mut split = aggregator();
        let batch = items();
        for half in [batch.slice(0, 2), batch.slice(2, 2)] {
            let prepared = split.prepare(half, PodPass::Both).unwrap();
            let partial = split.partial(&prepared).unwrap();
            split.merge(partial);
        }
        let split = split.finish().unwrap();
        assert_eq!(split.rows, whole.rows);
        assert_eq!(split.stats, whole.stats);
    }

    /// A usage pass and a capacity pass over the same items give the rows of one pass that
    /// does both.
    #[test]
    fn usage_and_capacity_passes_give_what_both_gives() {
        let mut both = aggregator();
        both.push(Table::Pods(PodPass::Both), items()).unwrap();
        let both = both.finish().unwrap();
        let mut passes = aggregator();
        passes.push(Table::Pods(PodPass::Usage), items()).unwrap();
        passes
            .push(Table::Pods(PodPass::Capacity), items())
            .unwrap();
        let passes = passes.finish().unwrap();
        assert_eq!(passes.rows, both.rows);
    }

    /// A pod's line items that change node, labels and resource from hour to hour, come
    /// back to an earlier group, and share it with a line item of no pod: one fold (which
    /// looks up a placement and group only when they change) gives the rows and counts of
    /// folding every item alone, and the sums computed by hand.
    #[test]
    fn a_pod_that_moves_between_hours_is_summed_into_each_of_its_groups() {
        use crate::config::SideInputs;
        use chrono::NaiveDate;
        use ocpagg_labels::EnabledKeys;

        let labelled = || {
            let day = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
            let side = SideInputs {
                enabled_keys: EnabledKeys::only(["app"]),
                ..SideInputs::default()
            };
            crate::Aggregator::new(crate::RunInfo::new("s", "c", day, day), side)
        };
        let (a, b) = (Some(r#"{"app": "a"}"#), Some(r#"{"app": "b"}"#));
        let batch = canonical(
            POD_USAGE_COLUMNS,
            7,
            &[
                (
                    "interval_start",
                    times(&[0, 1, 2, 3, 4, 5, 6].map(|h| h * HOUR)),
                ),
                ("namespace", text(&[Some("ns"); 7])),
                (
                    "node",
                    text(&["n1", "n1", "n2", "n1", "n1", "n1", ""].map(Some)),
                ),
                (
                    "pod",
                    text(&[
                        Some("p"),
                        Some("p"),
                        Some("p"),
                        Some("p"),
                        Some("p"),
                        None,
                        Some("p"),
                    ]),
                ),
                (
                    "resource_id",
                    text(&["r1", "r1", "r2", "r1", "r3", "r1", "r1"].map(Some)),
                ),
                ("pod_labels", text(&[a, a, a, b, a, a, a])),
                (
                    "pod_usage_cpu_core_seconds",
                    nums(&[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0].map(|h| h * 3600.0)),
                ),
            ],
        );
        let mut once = labelled();
        once.push(Table::Pods(PodPass::Both), batch.clone())
            .unwrap();
        let once = once.finish().unwrap();
        let mut alone = labelled();
        for i in 0..batch.num_rows() {
            let prepared = alone.prepare(batch.slice(i, 1), PodPass::Both).unwrap();
            let partial = alone.partial(&prepared).unwrap();
            alone.merge(partial);
        }
        let alone = alone.finish().unwrap();
        assert_eq!(once.rows, alone.rows);
        assert_eq!(once.stats, alone.stats);
        let hours = |node: &str, app: &str| -> Vec<(Option<f64>, Option<String>)> {
            pod_rows(&once.rows)
                .into_iter()
                .filter(|r| {
                    r.node.as_deref() == Some(node)
                        && r.pod_labels.as_deref() == Some(&*format!(r#"{{"app": "{app}"}}"#))
                })
                .map(|r| {
                    (
                        r.pod.usage_cpu_core_hours,
                        r.resource_id.as_deref().map(str::to_owned),
                    )
                })
                .collect()
        };
        // Hours 0, 1, 4 of `p` and hour 5 of no pod; the greatest resource id wins.
        assert_eq!(hours("n1", "a"), vec![(Some(51.0), Some("r3".to_owned()))]);
        assert_eq!(hours("n2", "a"), vec![(Some(4.0), Some("r2".to_owned()))]);
        assert_eq!(hours("n1", "b"), vec![(Some(8.0), Some("r1".to_owned()))]);
        assert_eq!(pod_rows(&once.rows).len(), 3, "{:#?}", once.rows);
        assert_eq!(once.stats.pod_items, 6);
        assert_eq!(once.stats.pod_items_without_node, 1);
    }
}
