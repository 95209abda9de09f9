//! The aggregator: label tables, pod line items and node capacity in, summary rows out.
//!
//! Work is split the way a parallel hash aggregate needs it:
//! 1. [`Aggregator::prepare`] (sequential, cheap): interns the distinct values of a batch's
//!    dictionary columns (namespaces, nodes, label strings) into dense ids. Only dictionary
//!    values are touched, never rows.
//! 2. [`Aggregator::partial`] (`&self`, pure, run on many threads): folds one prepared batch
//!    into a [`PodPartial`] keyed by `(day, namespace id, node id, label-set id)`.
//! 3. [`Aggregator::merge`] (sequential): adds a partial into the running state. All sums
//!    are exact ([`crate::exact`]), so the result is identical for any split and order.
//! 4. [`Aggregator::finish`]: merges node ⊕ namespace ⊕ pod labels, attaches node and cluster
//!    capacity and cost categories, and returns the sorted rows.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, TimestampSecondArray};
use arrow::datatypes::{Float64Type, Int32Type, TimestampSecondType};
use hashbrown::HashMap;
use ocpagg_labels::{LabelSetId, LabelSets};
use rayon::prelude::*;

use crate::config::{RunInfo, SideInputs};
use crate::error::{AggregateError, Result};
use crate::exact::{ByteSecondsSum, Max, SecondsSum};
use crate::output::{Capacity, DataSource, PodMeasures, StorageMeasures, SummaryRow};
use crate::strings::{row_ids, StringId, Strings};

const SECONDS_PER_HOUR: f64 = 3600.0;
/// 2^-30: bytes to gigabytes (GiB), as koku's `power(2, -30)`.
pub const GIB: f64 = 1.0 / (1u64 << 30) as f64;

/// Columns of `pod_usage` the usage pass reads.
pub const POD_USAGE_COLUMNS: &[&str] = &[
    "interval_start",
    "namespace",
    "node",
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
pub const POD_CAPACITY_COLUMNS: &[&str] = &[
    "interval_start",
    "node",
    "node_capacity_cpu_core_seconds",
    "node_capacity_memory_byte_seconds",
    "node_role",
];

/// Columns of `node_labels` read.
pub const NODE_LABEL_COLUMNS: &[&str] = &["interval_start", "node", "node_labels"];
/// Columns of `namespace_labels` read.
pub const NAMESPACE_LABEL_COLUMNS: &[&str] = &["interval_start", "namespace", "namespace_labels"];

/// What a pod_usage batch contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodPass {
    /// Usage, request, limit and effective sums per group (from hourly or daily line items).
    Usage,
    /// Hourly node capacity only (hourly line items, any projection with the capacity columns).
    Capacity,
    /// Both, from hourly line items with [`POD_USAGE_COLUMNS`].
    Both,
}

impl PodPass {
    fn usage(self) -> bool {
        matches!(self, PodPass::Usage | PodPass::Both)
    }
    fn capacity(self) -> bool {
        matches!(self, PodPass::Capacity | PodPass::Both)
    }
}

/// Counters of one run, in = out + dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AggregateStats {
    /// pod_usage line items aggregated into Pod groups.
    pub pod_items: u64,
    /// pod_usage line items dropped from Pod rows because their node is empty or null (their
    /// capacity still counts towards the cluster).
    pub pod_items_without_node: u64,
    /// pod_usage line items read for capacity.
    pub capacity_items: u64,
    /// node_labels line items.
    pub node_label_items: u64,
    /// namespace_labels line items.
    pub namespace_label_items: u64,
    /// Distinct label strings parsed.
    pub label_strings_parsed: u64,
}

type GroupKey = (i32, StringId, StringId, LabelSetId);

#[derive(Debug, Clone, Copy, Default)]
struct PodAcc {
    usage_cpu: SecondsSum,
    request_cpu: SecondsSum,
    effective_cpu: SecondsSum,
    limit_cpu: SecondsSum,
    usage_mem: ByteSecondsSum,
    request_mem: ByteSecondsSum,
    effective_mem: ByteSecondsSum,
    limit_mem: ByteSecondsSum,
    cpu_cores: Max,
    memory_bytes: Max,
    resource: Option<StringId>,
}

#[derive(Debug, Clone, Copy, Default)]
struct CapacityAcc {
    cpu_core_seconds: Max,
    memory_byte_seconds: Max,
}

/// A batch whose dictionary values have been interned; ready for [`Aggregator::partial`].
#[derive(Debug)]
pub struct PreparedBatch {
    pass: PodPass,
    batch: RecordBatch,
    namespace: Vec<StringId>,
    node: Vec<StringId>,
    resource: Vec<StringId>,
    role: Vec<StringId>,
    labels: Vec<LabelSetId>,
}

impl PreparedBatch {
    /// Rows in the batch.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }
}

/// The partial aggregate of some pod_usage batches.
#[derive(Debug, Default)]
pub struct PodPartial {
    groups: HashMap<GroupKey, PodAcc>,
    capacity: HashMap<(i64, StringId), CapacityAcc>,
    roles: HashMap<StringId, StringId>,
    pod_items: u64,
    without_node: u64,
    capacity_items: u64,
}

/// The aggregate stage of one run. See the module docs for the calling sequence.
#[derive(Debug)]
pub struct Aggregator {
    run: RunInfo,
    side: SideInputs,
    strings: Strings,
    labels: LabelSets,
    empty: StringId,
    node_labels: HashMap<(i32, StringId), LabelSetId>,
    namespace_labels: HashMap<(i32, StringId), LabelSetId>,
    state: PodPartial,
    stats: AggregateStats,
}

fn column<'a>(batch: &'a RecordBatch, name: &'static str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or(AggregateError::MissingColumn { column: name })
}

fn f64s<'a>(batch: &'a RecordBatch, name: &'static str) -> Result<&'a Float64Array> {
    column(batch, name)?
        .as_primitive_opt::<Float64Type>()
        .ok_or(AggregateError::MissingColumn { column: name })
}

fn times(batch: &RecordBatch) -> Result<&TimestampSecondArray> {
    column(batch, "interval_start")?
        .as_primitive_opt::<TimestampSecondType>()
        .ok_or(AggregateError::MissingColumn {
            column: "interval_start",
        })
}

#[inline]
fn opt(a: &Float64Array, i: usize) -> Option<f64> {
    a.is_valid(i).then(|| a.value(i))
}

#[inline]
fn day_of(ts: i64) -> i32 {
    ts.div_euclid(86_400) as i32
}

impl Aggregator {
    /// A new, empty aggregate for one run.
    pub fn new(run: RunInfo, side: SideInputs) -> Self {
        let mut strings = Strings::default();
        let empty = strings.intern("");
        let labels = LabelSets::new(side.enabled_keys.clone());
        Self {
            run,
            side,
            strings,
            labels,
            empty,
            node_labels: HashMap::new(),
            namespace_labels: HashMap::new(),
            state: PodPartial::default(),
            stats: AggregateStats::default(),
        }
    }

    /// The run this aggregate is for.
    pub fn run(&self) -> &RunInfo {
        &self.run
    }

    /// Adds a batch of `node_labels` ([`NODE_LABEL_COLUMNS`]). Several label sets of one node
    /// and day are united (on a conflicting key the greatest value wins).
    pub fn add_node_labels(&mut self, batch: &RecordBatch) -> Result<()> {
        self.stats.node_label_items += batch.num_rows() as u64;
        let map = std::mem::take(&mut self.node_labels);
        self.node_labels = self.add_label_table(batch, "node", "node_labels", map)?;
        Ok(())
    }

    /// Adds a batch of `namespace_labels` ([`NAMESPACE_LABEL_COLUMNS`]).
    pub fn add_namespace_labels(&mut self, batch: &RecordBatch) -> Result<()> {
        self.stats.namespace_label_items += batch.num_rows() as u64;
        let map = std::mem::take(&mut self.namespace_labels);
        self.namespace_labels =
            self.add_label_table(batch, "namespace", "namespace_labels", map)?;
        Ok(())
    }

    fn add_label_table(
        &mut self,
        batch: &RecordBatch,
        key: &'static str,
        labels: &'static str,
        mut map: HashMap<(i32, StringId), LabelSetId>,
    ) -> Result<HashMap<(i32, StringId), LabelSetId>> {
        let ts = times(batch)?;
        let (keys, key_remap) = self.strings.intern_dictionary(column(batch, key)?);
        let (label_col, label_remap) = self.intern_labels(column(batch, labels)?, labels)?;
        let label_keys = label_col.as_dictionary::<Int32Type>().keys();
        for (i, node) in row_ids(&keys, &key_remap).enumerate() {
            let Some(t) = ts.is_valid(i).then(|| ts.value(i)) else {
                continue;
            };
            let id = if label_keys.is_valid(i) {
                label_remap[label_keys.value(i) as usize]
            } else {
                LabelSetId::EMPTY
            };
            let slot = map.entry((day_of(t), node)).or_insert(id);
            if *slot != id {
                *slot = self.labels.unite(*slot, id);
            }
        }
        Ok(map)
    }

    /// Label-set id per dictionary key of a label column.
    fn intern_labels(
        &mut self,
        column: &ArrayRef,
        name: &'static str,
    ) -> Result<(ArrayRef, Vec<LabelSetId>)> {
        let (dict, _) = Strings::default().intern_dictionary(column); // re-key only; cheap
        let values = dict.as_dictionary::<Int32Type>().values();
        let values = arrow::compute::cast(values, &arrow::datatypes::DataType::Utf8)
            .expect("text dictionary values");
        let mut remap = Vec::with_capacity(values.len());
        for v in values.as_string::<i32>().iter() {
            remap.push(
                self.labels
                    .intern_str(v)
                    .map_err(|source| AggregateError::Labels {
                        column: name,
                        source,
                    })?,
            );
        }
        Ok((dict, remap))
    }

    /// Interns a pod_usage batch's dictionary values (sequential, cheap).
    pub fn prepare(&mut self, batch: RecordBatch, pass: PodPass) -> Result<PreparedBatch> {
        let mut columns = batch.columns().to_vec();
        let schema = batch.schema();
        let mut remap = |name: &'static str, this: &mut Self| -> Result<Vec<StringId>> {
            let i = schema
                .index_of(name)
                .map_err(|_| AggregateError::MissingColumn { column: name })?;
            let (col, remap) = this.strings.intern_dictionary(&columns[i]);
            columns[i] = col;
            Ok(remap)
        };
        let node = remap("node", self)?;
        let role = remap("node_role", self)?;
        let (namespace, resource, labels) = if pass.usage() {
            let namespace = remap("namespace", self)?;
            let resource = remap("resource_id", self)?;
            let i = schema
                .index_of("pod_labels")
                .map_err(|_| AggregateError::MissingColumn {
                    column: "pod_labels",
                })?;
            let (col, labels) = self.intern_labels(&columns[i], "pod_labels")?;
            columns[i] = col;
            (namespace, resource, labels)
        } else {
            Default::default()
        };
        let batch = RecordBatch::try_new(schema, columns).expect("same schema, re-keyed columns");
        Ok(PreparedBatch {
            pass,
            batch,
            namespace,
            node,
            resource,
            role,
            labels,
        })
    }

    fn greater(&self, a: StringId, b: StringId) -> bool {
        self.strings.get(a).map(|s| s.as_ref()) > self.strings.get(b).map(|s| s.as_ref())
    }

    /// Folds one prepared batch into a partial aggregate. Pure: safe to run for many batches
    /// at once on a thread pool.
    pub fn partial(&self, prepared: &PreparedBatch) -> Result<PodPartial> {
        let mut out = PodPartial::default();
        self.fold(prepared, &mut out)?;
        Ok(out)
    }

    fn fold(&self, p: &PreparedBatch, out: &mut PodPartial) -> Result<()> {
        let b = &p.batch;
        let ts = times(b)?;
        let nodes: Vec<StringId> = row_ids(column(b, "node")?, &p.node).collect();
        let roles = column(b, "node_role")?;
        if roles.null_count() < roles.len() {
            for (i, role) in row_ids(roles, &p.role).enumerate() {
                if role.is_null() {
                    continue;
                }
                let slot = out.roles.entry(nodes[i]).or_insert(role);
                if self.greater(role, *slot) {
                    *slot = role;
                }
            }
        }
        if p.pass.capacity() {
            let cpu = f64s(b, "node_capacity_cpu_core_seconds")?;
            let mem = f64s(b, "node_capacity_memory_byte_seconds")?;
            for (i, &node) in nodes.iter().enumerate() {
                if ts.is_null(i) {
                    continue;
                }
                let acc = out.capacity.entry((ts.value(i), node)).or_default();
                acc.cpu_core_seconds.add(opt(cpu, i));
                acc.memory_byte_seconds.add(opt(mem, i));
                out.capacity_items += 1;
            }
        }
        if !p.pass.usage() {
            return Ok(());
        }
        let namespaces: Vec<StringId> = row_ids(column(b, "namespace")?, &p.namespace).collect();
        let resources: Vec<StringId> = row_ids(column(b, "resource_id")?, &p.resource).collect();
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
        for (i, &node) in nodes.iter().enumerate() {
            if ts.is_null(i) {
                continue;
            }
            if node.is_null() || node == self.empty {
                out.without_node += 1;
                continue;
            }
            let labels = if label_keys.is_valid(i) {
                p.labels[label_keys.value(i) as usize]
            } else {
                LabelSetId::EMPTY
            };
            let key = (day_of(ts.value(i)), namespaces[i], node, labels);
            let acc = out.groups.entry(key).or_default();
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
            let resource = resources[i];
            if !resource.is_null() {
                match acc.resource {
                    Some(current) if current == resource || !self.greater(resource, current) => {}
                    _ => acc.resource = Some(resource),
                }
            }
            out.pod_items += 1;
        }
        Ok(())
    }

    /// Adds a partial aggregate into the running state.
    pub fn merge(&mut self, partial: PodPartial) {
        let strings = &self.strings;
        let greater = |a: StringId, b: StringId| {
            strings.get(a).map(|s| s.as_ref()) > strings.get(b).map(|s| s.as_ref())
        };
        let state = &mut self.state;
        for (key, acc) in partial.groups {
            match state.groups.entry(key) {
                hashbrown::hash_map::Entry::Vacant(v) => {
                    v.insert(acc);
                }
                hashbrown::hash_map::Entry::Occupied(mut o) => {
                    merge_acc(o.get_mut(), &acc, &greater);
                }
            }
        }
        for (key, acc) in partial.capacity {
            let slot = state.capacity.entry(key).or_default();
            slot.cpu_core_seconds.merge(&acc.cpu_core_seconds);
            slot.memory_byte_seconds.merge(&acc.memory_byte_seconds);
        }
        for (node, role) in partial.roles {
            let slot = state.roles.entry(node).or_insert(role);
            if greater(role, *slot) {
                *slot = role;
            }
        }
        state.pod_items += partial.pod_items;
        state.without_node += partial.without_node;
        state.capacity_items += partial.capacity_items;
    }

    /// Prepares, folds in parallel on `pool`, and merges a window of batches. Batches are
    /// folded independently, so any window size and thread count gives the same result.
    pub fn add_batches(
        &mut self,
        pool: &rayon::ThreadPool,
        batches: Vec<RecordBatch>,
        pass: PodPass,
    ) -> Result<()> {
        let prepared = batches
            .into_iter()
            .map(|b| self.prepare(b, pass))
            .collect::<Result<Vec<_>>>()?;
        self.add_prepared(pool, &prepared)
    }

    /// Folds already prepared batches in parallel on `pool` and merges the result.
    pub fn add_prepared(
        &mut self,
        pool: &rayon::ThreadPool,
        prepared: &[PreparedBatch],
    ) -> Result<()> {
        let this = &*self;
        let partial = pool.install(|| {
            prepared.par_iter().map(|p| this.partial(p)).try_reduce(
                PodPartial::default,
                |mut a, b| {
                    this.merge_into(&mut a, b);
                    Ok(a)
                },
            )
        })?;
        self.merge(partial);
        Ok(())
    }

    fn merge_into(&self, into: &mut PodPartial, from: PodPartial) {
        let greater = |a: StringId, b: StringId| self.greater(a, b);
        if into.groups.len() < from.groups.len() {
            // Merge the smaller map into the larger one.
            let mut from = from;
            std::mem::swap(into, &mut from);
            return self.merge_into(into, from);
        }
        for (key, acc) in from.groups {
            match into.groups.entry(key) {
                hashbrown::hash_map::Entry::Vacant(v) => {
                    v.insert(acc);
                }
                hashbrown::hash_map::Entry::Occupied(mut o) => {
                    merge_acc(o.get_mut(), &acc, &greater)
                }
            }
        }
        for (key, acc) in from.capacity {
            let slot = into.capacity.entry(key).or_default();
            slot.cpu_core_seconds.merge(&acc.cpu_core_seconds);
            slot.memory_byte_seconds.merge(&acc.memory_byte_seconds);
        }
        for (node, role) in from.roles {
            let slot = into.roles.entry(node).or_insert(role);
            if greater(role, *slot) {
                *slot = role;
            }
        }
        into.pod_items += from.pod_items;
        into.without_node += from.without_node;
        into.capacity_items += from.capacity_items;
    }

    /// Counters so far.
    pub fn stats(&self) -> AggregateStats {
        AggregateStats {
            pod_items: self.state.pod_items,
            pod_items_without_node: self.state.without_node,
            capacity_items: self.state.capacity_items,
            label_strings_parsed: self.labels.strings_parsed(),
            ..self.stats
        }
    }

    /// Node roles seen in the `node_role` column (greatest per node).
    pub fn node_roles_from_data(&self) -> Vec<(Arc<str>, Arc<str>)> {
        let mut roles: Vec<_> = self
            .state
            .roles
            .iter()
            .filter_map(|(n, r)| {
                Some((
                    Arc::clone(self.strings.get(*n)?),
                    Arc::clone(self.strings.get(*r)?),
                ))
            })
            .collect();
        roles.sort();
        roles
    }

    /// Builds the summary rows, sorted by day, data source, namespace, node and labels.
    pub fn finish(mut self) -> Summary {
        let stats = self.stats();
        // Node capacity per (day, node): the hourly maxima summed over the day's intervals;
        // cluster capacity per day: the sum over all nodes, '' and null included.
        let mut node_capacity: HashMap<(i32, StringId), (SecondsSum, ByteSecondsSum)> =
            HashMap::new();
        let mut cluster_capacity: HashMap<i32, (SecondsSum, ByteSecondsSum)> = HashMap::new();
        for (&(ts, node), acc) in &self.state.capacity {
            let day = day_of(ts);
            for slot in [
                node_capacity.entry((day, node)).or_default(),
                cluster_capacity.entry(day).or_default(),
            ] {
                slot.0.add(acc.cpu_core_seconds.value());
                slot.1.add(acc.memory_byte_seconds.value());
            }
        }
        // Final groups: pod labels merged with the node's and namespace's labels of the day.
        // Different pod label sets can merge into the same map, so groups are re-keyed.
        let mut groups: HashMap<GroupKey, PodAcc> = HashMap::with_capacity(self.state.groups.len());
        let pod_groups = std::mem::take(&mut self.state.groups);
        for ((day, namespace, node, pod_labels), acc) in pod_groups {
            let node_labels = self
                .node_labels
                .get(&(day, node))
                .copied()
                .unwrap_or_default();
            let ns_labels = self
                .namespace_labels
                .get(&(day, namespace))
                .copied()
                .unwrap_or_default();
            let merged = self.labels.merge(&[node_labels, ns_labels, pod_labels]);
            let strings = &self.strings;
            let greater = |a: StringId, b: StringId| {
                strings.get(a).map(|s| s.as_ref()) > strings.get(b).map(|s| s.as_ref())
            };
            match groups.entry((day, namespace, node, merged)) {
                hashbrown::hash_map::Entry::Vacant(v) => {
                    v.insert(acc);
                }
                hashbrown::hash_map::Entry::Occupied(mut o) => {
                    merge_acc(o.get_mut(), &acc, &greater)
                }
            }
        }
        let mut categories: HashMap<StringId, Option<i32>> = HashMap::new();
        let hours = |s: SecondsSum| s.value().map(|v| v / SECONDS_PER_HOUR);
        let gib_hours = |s: ByteSecondsSum| s.value().map(|v| v / SECONDS_PER_HOUR * GIB);
        let mut rows: Vec<SummaryRow> = Vec::with_capacity(groups.len());
        for ((day, namespace, node, labels), acc) in groups {
            let (node_cpu, node_mem) = node_capacity.get(&(day, node)).copied().unwrap_or_default();
            let (cluster_cpu, cluster_mem) =
                cluster_capacity.get(&day).copied().unwrap_or_default();
            let namespace_text = self.strings.get(namespace).cloned();
            let cost_category_id = *categories
                .entry(namespace)
                .or_insert_with(|| self.side.cost_category(namespace_text.as_deref()));
            let labels = Arc::clone(self.labels.json(labels));
            rows.push(SummaryRow {
                data_source: DataSource::Pod,
                day,
                namespace: namespace_text,
                node: self.strings.get(node).cloned(),
                resource_id: acc.resource.and_then(|r| self.strings.get(r).cloned()),
                pod_labels: Some(Arc::clone(&labels)),
                volume_labels: None,
                all_labels: Some(labels),
                pod: PodMeasures {
                    usage_cpu_core_hours: hours(acc.usage_cpu),
                    request_cpu_core_hours: hours(acc.request_cpu),
                    effective_usage_cpu_core_hours: hours(acc.effective_cpu),
                    limit_cpu_core_hours: hours(acc.limit_cpu),
                    usage_memory_gigabyte_hours: gib_hours(acc.usage_mem),
                    request_memory_gigabyte_hours: gib_hours(acc.request_mem),
                    effective_usage_memory_gigabyte_hours: gib_hours(acc.effective_mem),
                    limit_memory_gigabyte_hours: gib_hours(acc.limit_mem),
                },
                capacity: Capacity {
                    node_cpu_cores: acc.cpu_cores.value(),
                    node_cpu_core_hours: hours(node_cpu),
                    node_memory_gigabytes: acc.memory_bytes.value().map(|b| b * GIB),
                    node_memory_gigabyte_hours: gib_hours(node_mem),
                    cluster_cpu_core_hours: hours(cluster_cpu),
                    cluster_memory_gigabyte_hours: gib_hours(cluster_mem),
                },
                storage: StorageMeasures::default(),
                cost_category_id,
                infrastructure_cost: true,
            });
        }
        rows.sort_by(row_order);
        Summary { rows, stats }
    }
}

fn merge_acc(into: &mut PodAcc, from: &PodAcc, greater: &dyn Fn(StringId, StringId) -> bool) {
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
        (Some(a), Some(b)) if greater(b, a) => Some(b),
        (None, b) => b,
        (a, _) => a,
    };
}

/// Output order: day, data source, namespace, node, pod labels, volume labels, claim.
pub fn row_order(a: &SummaryRow, b: &SummaryRow) -> Ordering {
    (
        a.day,
        a.data_source,
        &a.namespace,
        &a.node,
        &a.pod_labels,
        &a.volume_labels,
    )
        .cmp(&(
            b.day,
            b.data_source,
            &b.namespace,
            &b.node,
            &b.pod_labels,
            &b.volume_labels,
        ))
        .then_with(|| {
            a.storage
                .persistentvolumeclaim
                .cmp(&b.storage.persistentvolumeclaim)
        })
        .then_with(|| a.storage.persistentvolume.cmp(&b.storage.persistentvolume))
}

/// The rows of a finished aggregate.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Rows in output order.
    pub rows: Vec<SummaryRow>,
    /// Counters.
    pub stats: AggregateStats,
}
