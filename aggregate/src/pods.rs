//! The aggregator's state, and the Pod work: label tables, pod line items and node capacity
//! in, Pod groups out.
//!
//! [`Aggregator::prepare`] (sequential, cheap) interns the distinct values of a batch's
//! dictionary columns (namespaces, nodes, label strings) into dense ids; only dictionary
//! values are touched, never rows. [`Aggregator::partial`] (`&self`, pure, any thread) folds
//! one prepared batch into a [`PodPartial`] keyed by `(day, namespace id, node id, label-set
//! id)`; [`Aggregator::merge`] adds it into the running state. All sums are exact
//! ([`crate::exact`]), so the result is identical for any split and order. The calling
//! sequence around these is in [`crate::aggregator`].

use std::cmp::Ordering;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, TimestampSecondArray};
use arrow::datatypes::{Float64Type, Int32Type, TimestampSecondType};
use hashbrown::{HashMap, HashSet};
use ocpagg_labels::{LabelSetId, LabelSets, MergedSets};

use crate::config::{RunInfo, SideInputs};
use crate::error::{AggregateError, Result};
use crate::exact::{ByteSecondsSum, Max, SecondsSum};
use crate::finished::FinishedDays;
use crate::groups::{rekey, DenseGroups};
use crate::output::{DataSource, SummaryRow};
use crate::storage::StoragePartial;
use crate::strings::{row_ids, text_dictionary, DictionaryCache, StringId, Strings};

const SECONDS_PER_HOUR: f64 = 3600.0;
/// The text koku looks for in a node's raw label string to call it an infra node.
const INFRA_LABEL_TEXT: &str = r#""node_role_kubernetes_io": "infra""#;
/// Merged label maps kept from one day to the next (the same pods carry the same labels every
/// day); beyond this many, the cache is cleared after a day's rows are built.
const MERGED_LABELS_KEPT: usize = 1 << 15;
/// Raw label strings cached from one day to the next (each is parsed once while cached);
/// beyond this many, the cache is cleared after a day's rows are built, so a month of
/// distinct label strings (pods that come and go) is not held to the month's end.
const RAW_LABELS_KEPT: usize = 1 << 16;
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
/// 2^-30: bytes to gigabytes (GiB), as koku's `power(2, -30)`.
pub(crate) const GIB: f64 = 1.0 / (1u64 << 30) as f64;

/// Columns of `pod_usage` the usage pass reads.
pub const POD_USAGE_COLUMNS: &[&str] = &[
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// storage_usage line items aggregated into Storage rows.
    pub storage_items: u64,
    /// Distinct label strings parsed.
    pub label_strings_parsed: u64,
}

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

/// A batch whose dictionary values have been interned; ready for [`Aggregator::partial`].
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
    pod_items: u64,
    without_node: u64,
    capacity_items: u64,
}

impl PodPartial {
    /// Adds `other` into this partial (the larger of the two is kept and the smaller moved
    /// in). `strings` orders resource ids and roles ("greatest wins").
    pub(crate) fn absorb(&mut self, mut other: PodPartial, strings: &Strings) {
        if self.groups.len() < other.groups.len() {
            std::mem::swap(self, &mut other);
        }
        self.groups
            .absorb(other.groups, |into, from| merge_acc(into, from, strings));
        for (key, acc) in other.capacity {
            self.capacity.entry(key).or_default().merge(&acc);
        }
        for (node, role) in other.roles {
            let slot = self.roles.entry(node).or_insert(role);
            if strings.greater(role, *slot) {
                *slot = role;
            }
        }
        self.placements.extend(other.placements);
        self.pod_items += other.pod_items;
        self.without_node += other.without_node;
        self.capacity_items += other.capacity_items;
    }
}

/// The aggregate stage of one run. See the module docs for the calling sequence.
#[derive(Debug)]
pub struct Aggregator {
    pub(crate) run: RunInfo,
    pub(crate) side: SideInputs,
    pub(crate) strings: Strings,
    /// Names that matter only within a day ([`SHORT_LIVED_COLUMNS`]: pods, claims, volumes,
    /// CSI handles), of which a month holds many; see [`Aggregator::forget_short_lived`].
    pub(crate) short_lived: Strings,
    pub(crate) labels: LabelSets,
    /// Row label maps (node ⊕ namespace ⊕ pod or volume labels), in their own id space.
    pub(crate) merged: MergedSets,
    pub(crate) empty: StringId,
    pub(crate) node_labels: HashMap<(i32, StringId), LabelSetId>,
    pub(crate) namespace_labels: HashMap<(i32, StringId), LabelSetId>,
    /// Per node seen in node_labels: whether one of its raw label strings names it infra.
    pub(crate) node_label_flags: HashMap<StringId, bool>,
    pub(crate) state: PodPartial,
    pub(crate) storage: StoragePartial,
    pub(crate) stats: AggregateStats,
    /// What the unallocated rows need of the days already finished.
    pub(crate) unallocated: Vec<crate::unallocated::NodeDay>,
    /// Per (node, resource_id) of the finished days: whether it ran a pod in
    /// `openshift-kube-apiserver` (for derived node roles).
    pub(crate) role_pairs: HashMap<(StringId, StringId), bool>,
    string_remaps: DictionaryCache<StringId>,
    label_remaps: DictionaryCache<LabelSetId>,
    /// [`RAW_LABELS_KEPT`] (lower in tests, to exercise the forgetting).
    pub(crate) raw_labels_kept: usize,
    /// The run protocol's state ([`crate::aggregator`]).
    pub(crate) protocol: crate::aggregator::Protocol,
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
    a.is_valid(i).then(|| a.value(i))
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
            self.remap[self.keys.value(i) as usize]
        } else {
            StringId::NULL
        }
    }
}

#[inline]
pub(crate) fn day_of(ts: i64) -> i32 {
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
            short_lived: Strings::default(),
            labels,
            merged: MergedSets::new(),
            empty,
            node_labels: HashMap::new(),
            namespace_labels: HashMap::new(),
            node_label_flags: HashMap::new(),
            state: PodPartial::default(),
            storage: StoragePartial::default(),
            stats: AggregateStats::default(),
            unallocated: Vec::new(),
            role_pairs: HashMap::new(),
            string_remaps: DictionaryCache::default(),
            label_remaps: DictionaryCache::default(),
            raw_labels_kept: RAW_LABELS_KEPT,
            protocol: crate::aggregator::Protocol::default(),
        }
    }

    /// The run this aggregate is for.
    pub fn run(&self) -> &RunInfo {
        &self.run
    }

    /// Adds a batch of `node_labels` ([`NODE_LABEL_COLUMNS`]). Several label sets of one node
    /// and day are united (on a conflicting key the greatest value wins).
    ///
    /// Also notes, per node, that it has label rows in the run's range and whether one of its
    /// raw label strings contains `"node_role_kubernetes_io": "infra"` (koku's text match,
    /// done on the unparsed dictionary values), for derived node roles.
    pub fn add_node_labels(&mut self, batch: &RecordBatch) -> Result<()> {
        self.stats.node_label_items += batch.num_rows() as u64;
        let map = std::mem::take(&mut self.node_labels);
        self.node_labels = self.add_label_table(batch, "node", "node_labels", map)?;
        let ts = times(batch)?;
        let (nodes, node_remap) = self.strings.intern_dictionary(column(batch, "node")?)?;
        let labels = text_dictionary(column(batch, "node_labels")?)?;
        let labels = labels.as_dictionary::<Int32Type>();
        let values = arrow::compute::cast(labels.values(), &arrow::datatypes::DataType::Utf8)
            .map_err(|source| AggregateError::Arrow {
                what: "reading node label text",
                source,
            })?;
        let infra: Vec<bool> = values
            .as_string::<i32>()
            .iter()
            .map(|v| v.is_some_and(|text| text.contains(INFRA_LABEL_TEXT)))
            .collect();
        let keys = labels.keys();
        for (i, node) in row_ids(&nodes, &node_remap).enumerate() {
            if ts.is_null(i) || node.is_null() {
                continue;
            }
            let is_infra = keys.is_valid(i) && infra[keys.value(i) as usize];
            *self.node_label_flags.entry(node).or_default() |= is_infra;
        }
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
        let (keys, key_remap) = self.strings.intern_dictionary(column(batch, key)?)?;
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
    pub(crate) fn intern_labels(
        &mut self,
        column: &ArrayRef,
        name: &'static str,
    ) -> Result<(ArrayRef, Vec<LabelSetId>)> {
        let dict = text_dictionary(column)?;
        let labels = &mut self.labels;
        let remap = self.label_remaps.get_or(
            (0, name),
            dict.as_dictionary::<Int32Type>().values(),
            |values| {
                let values = arrow::compute::cast(values, &arrow::datatypes::DataType::Utf8)
                    .map_err(|source| AggregateError::Arrow {
                        what: "reading label text",
                        source,
                    })?;
                values
                    .as_string::<i32>()
                    .iter()
                    .map(|v| {
                        labels
                            .intern_str(v)
                            .map_err(|source| AggregateError::Labels {
                                column: name,
                                source,
                            })
                    })
                    .collect()
            },
        )?;
        Ok((dict, remap))
    }

    /// Interns the dictionary values of a text column of `table` (0: pod_usage, 1:
    /// storage_usage), reusing the ids of the previous batch when it shares the dictionary.
    pub(crate) fn intern_column(
        &mut self,
        table: u8,
        name: &'static str,
        column: &ArrayRef,
    ) -> Result<(ArrayRef, Vec<StringId>)> {
        let dict = text_dictionary(column)?;
        let strings = if SHORT_LIVED_COLUMNS.contains(&name) {
            &mut self.short_lived
        } else {
            &mut self.strings
        };
        let remap = self.string_remaps.get_or(
            (table, name),
            dict.as_dictionary::<Int32Type>().values(),
            |values| strings.intern_values(values),
        )?;
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
            let (col, remap) = this.intern_column(0, name, &columns[i])?;
            columns[i] = col;
            Ok(remap)
        };
        let node = remap("node", self)?;
        let role = remap("node_role", self)?;
        let (namespace, pod, resource, labels) = if pass.usage() {
            let namespace = remap("namespace", self)?;
            let pod = remap("pod", self)?;
            let resource = remap("resource_id", self)?;
            let i = schema
                .index_of("pod_labels")
                .map_err(|_| AggregateError::MissingColumn {
                    column: "pod_labels",
                })?;
            let (col, labels) = self.intern_labels(&columns[i], "pod_labels")?;
            columns[i] = col;
            (namespace, pod, resource, labels)
        } else {
            Default::default()
        };
        let batch =
            RecordBatch::try_new(schema, columns).map_err(|source| AggregateError::Arrow {
                what: "re-keying a pod batch",
                source,
            })?;
        Ok(PreparedBatch {
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

    /// Folds one prepared batch into a partial aggregate. Pure: safe to run for many batches
    /// at once on a thread pool.
    pub fn partial(&self, prepared: &PreparedBatch) -> Result<PodPartial> {
        let mut out = PodPartial::default();
        self.fold(prepared, 0..prepared.num_rows(), &mut out)?;
        Ok(out)
    }

    /// Folds rows `rows` of one prepared batch into `out` (so that one large batch can be
    /// folded by several workers).
    pub(crate) fn fold(&self, p: &PreparedBatch, rows: Range<usize>, out: &mut PodPartial) -> Result<()> {
        let b = &p.batch;
        let ts = times(b)?;
        let nodes = Ids::new(column(b, "node")?, &p.node);
        let roles = column(b, "node_role")?;
        if roles.null_count() < roles.len() {
            let roles = Ids::new(roles, &p.role);
            for i in rows.clone() {
                let role = roles.get(i);
                if role.is_null() {
                    continue;
                }
                let slot = out.roles.entry(nodes.get(i)).or_insert(role);
                if self.strings.greater(role, *slot) {
                    *slot = role;
                }
            }
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
                let key = (ts.value(i), nodes.get(i));
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
        for i in rows {
            if ts.is_null(i) {
                continue;
            }
            let day = day_of(ts.value(i));
            let (namespace, node, resource) = (namespaces.get(i), nodes.get(i), resources.get(i));
            out.placements
                .insert((day, namespace, pods.get(i), node, resource));
            if node.is_null() || node == self.empty {
                out.without_node += 1;
                continue;
            }
            let labels = if label_keys.is_valid(i) {
                p.labels[label_keys.value(i) as usize]
            } else {
                LabelSetId::EMPTY
            };
            let key = (day, namespace, node, labels);
            let acc = out.groups.slot(key);
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
                    Some(current)
                        if current == resource || !self.strings.greater(resource, current) => {}
                    _ => acc.resource = Some(resource),
                }
            }
            out.pod_items += 1;
        }
        Ok(())
    }

    /// Adds a partial aggregate into the running state.
    pub fn merge(&mut self, partial: PodPartial) {
        self.state.absorb(partial, &self.strings);
    }

    /// Counters so far.
    pub fn stats(&self) -> AggregateStats {
        AggregateStats {
            pod_items: self.state.pod_items,
            pod_items_without_node: self.state.without_node,
            capacity_items: self.state.capacity_items,
            storage_items: self.storage.items,
            label_strings_parsed: self.labels.strings_parsed(),
            ..self.stats
        }
    }

    /// Builds the Pod and Storage rows of every day up to `last_day` (days since 1970-01-01)
    /// and frees those days' state, the rows left compact and unsorted ([`FinishedDays`]).
    ///
    /// Called once every line item of those days has been merged: a run then holds only the
    /// days still being read, whatever the length of the month. Unallocated rows need node
    /// roles, which depend on the whole range, so they come last; what they need of a
    /// finished day is kept (a few numbers per node and day).
    ///
    /// Every prepared batch must be folded first: the names that only matter within a day
    /// (pods, claims) are forgotten here, and a [`PreparedBatch`] or
    /// [`crate::PreparedStorage`] kept across this call may refer to ids given to other names.
    pub(crate) fn take_days(&mut self, last_day: i32) -> FinishedDays {
        let capacity = self.take_capacity(last_day);
        let groups = self.take_pod_groups(last_day);
        let placements: HashSet<Placement> = self
            .state
            .placements
            .extract_if(|p| p.0 <= last_day)
            .collect();
        // The texts and label JSON the groups name, and each namespace's cost category,
        // looked up once per distinct id (ids are dense: a bitmap says which were seen).
        let mut texts: HashMap<StringId, Arc<str>> = HashMap::new();
        let mut labels: HashMap<LabelSetId, Arc<str>> = HashMap::new();
        let mut categories: HashMap<StringId, Option<i32>> = HashMap::new();
        let mut seen = vec![false; self.strings.id_bound()];
        for ((_, namespace, node, label_set), acc) in &groups {
            self.cost_category_of(&mut categories, *namespace);
            for id in [*namespace, *node, acc.resource.unwrap_or(StringId::NULL)] {
                if id.is_null() || std::mem::replace(&mut seen[id.0 as usize], true) {
                    continue;
                }
                if let Some(text) = self.strings.get(id) {
                    texts.insert(id, Arc::clone(text));
                }
            }
            labels
                .entry(*label_set)
                .or_insert_with(|| Arc::clone(self.merged.json(*label_set)));
        }
        self.note_unallocated(&groups, &capacity);
        self.note_role_pairs(&placements);
        let mut storage = Vec::new();
        self.storage_rows(last_day, &placements, &mut storage);
        self.node_labels.retain(|&(day, _), _| day > last_day);
        self.namespace_labels.retain(|&(day, _), _| day > last_day);
        // The days keep their JSON; the merged ids are not used past this point.
        self.merged.clear_if_over(MERGED_LABELS_KEPT);
        self.labels.forget_raw_if_over(self.raw_labels_kept);
        self.forget_short_lived();
        FinishedDays::new(groups, storage, texts, labels, categories, capacity)
    }

    /// Builds the remaining rows: Pod and Storage rows of the days not yet taken, and every
    /// unallocated row, sorted by [`row_order`].
    pub(crate) fn finish_rows(&mut self) -> Summary {
        let stats = self.stats();
        let mut rows = self.take_days(i32::MAX).into_rows();
        self.unallocated_rows(&mut rows);
        sort_rows(&mut rows);
        Summary {
            rows,
            stats,
            timings: crate::aggregator::Timings::default(),
        }
    }

    /// The cost category of `namespace`, matched once per namespace and kept in `cache`.
    pub(crate) fn cost_category_of(
        &self,
        cache: &mut HashMap<StringId, Option<i32>>,
        namespace: StringId,
    ) -> Option<i32> {
        *cache.entry(namespace).or_insert_with(|| {
            self.side
                .cost_category(self.strings.get(namespace).map(|s| s.as_ref()))
        })
    }

    /// Forgets the short-lived names no unfinished day refers to (placements, open claims,
    /// and the dictionaries the next batches may share), so that interner holds the names of
    /// the days being read rather than every pod and claim of the month.
    fn forget_short_lived(&mut self) {
        let mut live: HashSet<StringId> = self.state.placements.iter().map(|p| p.2).collect();
        live.extend(self.storage.short_lived_ids());
        for table in [0, 1] {
            for column in SHORT_LIVED_COLUMNS {
                live.extend(self.string_remaps.cached((table, column)).iter().copied());
            }
        }
        self.short_lived.retain(|id| live.contains(&id));
    }

    /// Node capacity per (day, node) of the days up to `last_day` (the hourly maxima summed
    /// over the day's intervals), and cluster capacity per day: the sum over all nodes, ''
    /// and null included. Those days' hourly entries are removed.
    fn take_capacity(&mut self, last_day: i32) -> DayCapacity {
        let mut out = DayCapacity::default();
        for ((ts, node), acc) in self
            .state
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
    /// and namespace's labels of the day. Different pod label sets can merge into the same
    /// map, so groups are re-keyed.
    fn take_pod_groups(&mut self, last_day: i32) -> Vec<(GroupKey, PodAcc)> {
        let mut groups = self.state.groups.take_where(|key| key.0 <= last_day);
        let (node_labels, namespace_labels) = (&self.node_labels, &self.namespace_labels);
        let (labels, merged, strings) = (&self.labels, &mut self.merged, &self.strings);
        rekey(
            &mut groups,
            |(day, namespace, node, pod_labels)| {
                let of = |map: &HashMap<(i32, StringId), LabelSetId>, id| {
                    map.get(&(day, id)).copied().unwrap_or_default()
                };
                let sets = [
                    of(node_labels, node),
                    of(namespace_labels, namespace),
                    pod_labels,
                ];
                (day, namespace, node, merged.merge(labels, &sets))
            },
            |into, from| merge_acc(into, from, strings),
        );
        groups
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

/// Core-seconds to core-hours, rounded once.
pub(crate) fn hours(s: SecondsSum) -> Option<f64> {
    s.value().map(|v| v / SECONDS_PER_HOUR)
}

/// Byte-seconds to gigabyte-hours (GiB), rounded once per operation.
pub(crate) fn gib_hours(s: ByteSecondsSum) -> Option<f64> {
    s.value().map(|v| v / SECONDS_PER_HOUR * GIB)
}

pub(crate) fn merge_acc(into: &mut PodAcc, from: &PodAcc, strings: &Strings) {
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
        (Some(a), Some(b)) if strings.greater(b, a) => Some(b),
        (None, b) => b,
        (a, _) => a,
    };
}

/// Output order: day, data source (Pod before Storage), namespace (null first), node,
/// resource_id, pod labels (null first, so a node's unallocated row precedes a Pod row of the
/// same namespace), volume labels, then the claim: persistent volume claim, volume, storage
/// class and CSI volume handle.
///
/// This is a total order on what tells rows apart: Pod rows are unique per (day, namespace,
/// node, labels), unallocated rows per (day, node) and Storage rows per their full grouping
/// key, so the output is the same on every run.
pub(crate) fn row_order(a: &SummaryRow, b: &SummaryRow) -> Ordering {
    type Text<'a> = &'a Option<Arc<str>>;
    fn key(r: &SummaryRow) -> (i32, DataSource, Text<'_>, Text<'_>, Text<'_>) {
        (r.day, r.data_source, &r.namespace, &r.node, &r.resource_id)
    }
    fn claim(r: &SummaryRow) -> [Text<'_>; 4] {
        let s = &r.storage;
        [
            &s.persistentvolumeclaim,
            &s.persistentvolume,
            &s.storageclass,
            &s.csi_volume_handle,
        ]
    }
    key(a)
        .cmp(&key(b))
        .then_with(|| a.pod_labels.cmp(&b.pod_labels))
        .then_with(|| a.volume_labels.cmp(&b.volume_labels))
        .then_with(|| claim(a).cmp(&claim(b)))
}

/// Sorts rows by [`row_order`] without comparing text in the sort itself.
///
/// Rows are wide (about 500 bytes) and their keys are text, so a plain `sort_by` spends most of
/// its time moving rows and comparing strings. Instead, each distinct string (told apart by
/// its allocation: rows share the aggregate's interned `Arc<str>`s) is ranked once by content,
/// each row gets a fixed-size integer key, and only `u32` indices are sorted.
pub(crate) fn sort_rows(rows: &mut [SummaryRow]) {
    const FIELDS: usize = 9;
    fn texts(r: &SummaryRow) -> [&Option<Arc<str>>; FIELDS] {
        let s = &r.storage;
        [
            &r.namespace,
            &r.node,
            &r.resource_id,
            &r.pod_labels,
            &r.volume_labels,
            &s.persistentvolumeclaim,
            &s.persistentvolume,
            &s.storageclass,
            &s.csi_volume_handle,
        ]
    }
    let order: Vec<u32> = {
        // Provisional id per distinct allocation, then a rank per distinct content.
        let mut ids: HashMap<(usize, usize), u32> = HashMap::new();
        let mut distinct: Vec<&str> = Vec::new();
        let mut keys: Vec<(i32, DataSource, [u32; FIELDS])> = Vec::with_capacity(rows.len());
        for r in rows.iter() {
            let mut key = [0u32; FIELDS];
            for (slot, text) in key.iter_mut().zip(texts(r)) {
                if let Some(t) = text {
                    let id = *ids
                        .entry((t.as_ptr() as usize, t.len()))
                        .or_insert_with(|| {
                            distinct.push(t);
                            (distinct.len() - 1) as u32
                        });
                    *slot = id;
                } else {
                    *slot = u32::MAX;
                }
            }
            keys.push((r.day, r.data_source, key));
        }
        let mut by_text: Vec<u32> = (0..distinct.len() as u32).collect();
        by_text.sort_unstable_by_key(|&i| distinct[i as usize]);
        // Null sorts first (rank 0); equal texts in different allocations share a rank.
        let mut rank = vec![0u32; distinct.len()];
        let mut next = 0u32;
        for (n, &i) in by_text.iter().enumerate() {
            if n == 0 || distinct[by_text[n - 1] as usize] != distinct[i as usize] {
                next += 1;
            }
            rank[i as usize] = next;
        }
        for (_, _, key) in &mut keys {
            for slot in key.iter_mut() {
                *slot = if *slot == u32::MAX {
                    0
                } else {
                    rank[*slot as usize]
                };
            }
        }
        let mut order: Vec<u32> = (0..rows.len() as u32).collect();
        order.sort_unstable_by_key(|&i| keys[i as usize]);
        order
    };
    // Apply the permutation in place, cycle by cycle: no second copy of the rows.
    let mut order = order;
    for start in 0..order.len() {
        let mut at = start;
        loop {
            let from = order[at] as usize;
            order[at] = at as u32; // placed
            if from == start || from == at {
                break;
            }
            rows.swap(at, from);
            at = from;
        }
    }
    debug_assert!(rows.windows(2).all(|w| row_order(&w[0], &w[1]).is_le()));
}

/// The rows of a finished aggregate.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Rows in output order.
    pub rows: Vec<SummaryRow>,
    /// Counters.
    pub stats: AggregateStats,
    /// Where the aggregate spent its time.
    pub timings: crate::aggregator::Timings,
}
