//! Storage rows (SPEC.md "Storage rows"): storage_usage line items summed per claim and day,
//! then placed on the nodes their pod ran on that day.
//!
//! Like pods, storage batches go through [`PreparedStorage::new`] (intern dictionary values,
//! sequential) → [`StoragePartial::of`] (fold, pure, any thread) → [`StoragePartial::absorb`].
//! Groups are keyed by dense ids: (day, namespace, pod, claim, volume, storage class, CSI
//! handle, filtered PV labels, filtered PVC labels). Only when a day is finished
//! ([`StoragePartial::take_rows`]) are its claims joined with the pods' placements, which by
//! then are complete whatever order the tables were read in:
//!
//! 1. each claim group looks up the (node, resource_id) pairs of its (day, namespace, pod);
//! 2. node_count(day, pv) is the number of distinct non-null nodes over all pairs of the
//!    volume's claims that day (`''` counts);
//! 3. a claim yields one row per pair (or one with null node and resource_id if its pod is
//!    not found), with volume labels = node ⊕ namespace ⊕ PV ⊕ PVC labels; request and usage
//!    are divided by node_count (by 1 when the volume was seen on no node).

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int32Type;
use hashbrown::{HashMap, HashSet};
use ocpagg_labels::{LabelSetId, MergedSets};

use crate::config::SideInputs;
use crate::error::Result;
use crate::exact::{ByteSecondsSum, Max};
use crate::input::{column, day_of, f64s, opt, times};
use crate::interner::{Interner, Rekeyed, Source};
use crate::labels::LabelTables;
use crate::output::{DataSource, StorageMeasures, SummaryRow};
use crate::pods::Placement;
use crate::strings::{row_ids, StringId};
use crate::units::GIB;

/// The text columns of a claim, in key order.
const TEXT_COLUMNS: [&str; 6] = [
    "namespace",
    "pod",
    "persistentvolumeclaim",
    "persistentvolume",
    "storageclass",
    "csi_volume_handle",
];
const NAMESPACE: usize = 0;
const POD: usize = 1;
const PVC: usize = 2;
const PV: usize = 3;
const STORAGECLASS: usize = 4;
const CSI: usize = 5;

/// A storage_usage batch whose dictionary values have been interned; ready for
/// [`crate::Aggregator::partial_storage`].
#[derive(Debug)]
pub struct PreparedStorage {
    batch: RecordBatch,
    /// Id per dictionary key, for each of [`TEXT_COLUMNS`].
    text: [Vec<StringId>; 6],
    pv_labels: Vec<LabelSetId>,
    pvc_labels: Vec<LabelSetId>,
}

/// A claim on a day, before placement on nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ClaimKey {
    day: i32,
    text: [StringId; 6],
    pv_labels: LabelSetId,
    pvc_labels: LabelSetId,
}

/// A Storage row's grouping key: (day, namespace, node, resource_id, pvc, pv, storage class,
/// CSI handle, volume labels).
type RowKey = (i32, [StringId; 7], LabelSetId);

#[derive(Debug, Clone, Copy, Default)]
struct ClaimAcc {
    capacity_bytes: Max,
    capacity: ByteSecondsSum,
    request: ByteSecondsSum,
    usage: ByteSecondsSum,
}

impl ClaimAcc {
    fn merge(&mut self, other: &ClaimAcc) {
        self.capacity_bytes.merge(&other.capacity_bytes);
        self.capacity.merge(&other.capacity);
        self.request.merge(&other.request);
        self.usage.merge(&other.usage);
    }
}

/// The partial aggregate of some storage_usage batches.
#[derive(Debug, Default)]
pub struct StoragePartial {
    groups: HashMap<ClaimKey, ClaimAcc>,
    pub(crate) items: u64,
}

/// Days in the month of a day (days since 1970-01-01), for every `i32` (the civil calendar
/// computed directly, H. Hinnant's `civil_from_days`, so no date can be out of range).
fn days_in_month(day: i32) -> u32 {
    let z = i64::from(day) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl PreparedStorage {
    /// Interns a storage_usage batch's ([`crate::input::STORAGE_USAGE_COLUMNS`]) dictionary values and
    /// label strings (sequential, cheap: dictionary values only).
    pub(crate) fn new(batch: RecordBatch, interner: &mut Interner) -> Result<Self> {
        let mut rekeyed = Rekeyed::new(Source::Storage, &batch);
        let mut text: [Vec<StringId>; 6] = Default::default();
        for (slot, name) in text.iter_mut().zip(TEXT_COLUMNS) {
            *slot = rekeyed.text(name, interner)?;
        }
        let pv_labels = rekeyed.labels("persistentvolume_labels", interner)?;
        let pvc_labels = rekeyed.labels("persistentvolumeclaim_labels", interner)?;
        let batch = rekeyed.finish()?;
        Ok(Self {
            batch,
            text,
            pv_labels,
            pvc_labels,
        })
    }

    /// Rows in the batch.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }
}

impl StoragePartial {
    /// The short-lived ids (pod, claim, volume, CSI handle) the open claims refer to.
    pub(crate) fn short_lived_ids(&self) -> impl Iterator<Item = StringId> + '_ {
        self.groups
            .keys()
            .flat_map(|k| [POD, PVC, PV, CSI].map(|i| k.text[i]))
    }

    pub(crate) fn absorb(&mut self, mut other: StoragePartial) {
        if self.groups.len() < other.groups.len() {
            std::mem::swap(self, &mut other);
        }
        for (key, acc) in other.groups {
            self.groups.entry(key).or_default().merge(&acc);
        }
        self.items += other.items;
    }

    /// The partial aggregate of one prepared storage batch. Pure: safe to run for many
    /// batches at once on a thread pool.
    pub(crate) fn of(p: &PreparedStorage) -> Result<Self> {
        let b = &p.batch;
        let ts = times(b)?;
        let mut text: [Vec<StringId>; 6] = Default::default();
        for ((ids, name), remap) in text.iter_mut().zip(TEXT_COLUMNS).zip(&p.text) {
            *ids = row_ids(column(b, name)?, remap).collect();
        }
        let label_ids = |name: &'static str, remap: &[LabelSetId]| -> Result<Vec<LabelSetId>> {
            let keys = column(b, name)?.as_dictionary::<Int32Type>().keys();
            Ok(keys
                .iter()
                .map(|k| k.map_or(LabelSetId::EMPTY, |k| remap[k as usize]))
                .collect())
        };
        let pv_labels = label_ids("persistentvolume_labels", &p.pv_labels)?;
        let pvc_labels = label_ids("persistentvolumeclaim_labels", &p.pvc_labels)?;
        let capacity_bytes = f64s(b, "persistentvolumeclaim_capacity_bytes")?;
        let capacity = f64s(b, "persistentvolumeclaim_capacity_byte_seconds")?;
        let request = f64s(b, "volume_request_storage_byte_seconds")?;
        let usage = f64s(b, "persistentvolumeclaim_usage_byte_seconds")?;
        let mut out = StoragePartial::default();
        for i in 0..b.num_rows() {
            if ts.is_null(i) {
                continue;
            }
            let key = ClaimKey {
                day: day_of(ts.values()[i]),
                text: std::array::from_fn(|c| text[c][i]),
                pv_labels: pv_labels[i],
                pvc_labels: pvc_labels[i],
            };
            let acc = out.groups.entry(key).or_default();
            acc.capacity_bytes.add(opt(capacity_bytes, i));
            acc.capacity.add(opt(capacity, i));
            acc.request.add(opt(request, i));
            acc.usage.add(opt(usage, i));
            out.items += 1;
        }
        Ok(out)
    }

    /// Places the claims of the days up to `last_day` on their pods' nodes
    /// (`placements_of_days`: those days' pod placements) and returns their Storage rows,
    /// with the days' node and namespace labels (`tables`) merged into their volume labels
    /// (row label maps in `merged`, ids of its own).
    pub(crate) fn take_rows(
        &mut self,
        last_day: i32,
        placements_of_days: &HashSet<Placement>,
        tables: &LabelTables,
        interner: &Interner,
        merged: &mut MergedSets,
        side: &SideInputs,
    ) -> Vec<SummaryRow> {
        let claims: HashMap<ClaimKey, ClaimAcc> = self
            .groups
            .extract_if(|key, _| key.day <= last_day)
            .collect();
        // The (node, resource_id) pairs of every (day, namespace, pod) a claim names.
        let mut placements: HashMap<(i32, StringId, StringId), Vec<(StringId, StringId)>> =
            HashMap::new();
        for key in claims.keys() {
            let (namespace, pod) = (key.text[NAMESPACE], key.text[POD]);
            if !namespace.is_null() && !pod.is_null() {
                placements.entry((key.day, namespace, pod)).or_default();
            }
        }
        for &(day, namespace, pod, node, resource) in placements_of_days {
            if let Some(pairs) = placements.get_mut(&(day, namespace, pod)) {
                pairs.push((node, resource));
            }
        }
        // node_count(day, pv): distinct non-null nodes over the placements of its claims.
        let mut volume_nodes: HashSet<(i32, StringId, StringId)> = HashSet::new();
        for key in claims.keys() {
            let pv = key.text[PV];
            if pv.is_null() {
                continue;
            }
            let Some(pairs) = placements.get(&(key.day, key.text[NAMESPACE], key.text[POD])) else {
                continue;
            };
            for &(node, _) in pairs {
                if !node.is_null() {
                    volume_nodes.insert((key.day, pv, node));
                }
            }
        }
        let mut node_count: HashMap<(i32, StringId), u32> = HashMap::new();
        for &(day, pv, _) in &volume_nodes {
            *node_count.entry((day, pv)).or_default() += 1;
        }
        // Storage rows: one per claim and pair (or per claim, unplaced), re-keyed by node
        // and volume labels.
        const UNPLACED: &[(StringId, StringId)] = &[(StringId::NULL, StringId::NULL)];
        let mut groups: HashMap<RowKey, ClaimAcc> = HashMap::with_capacity(claims.len());
        for (key, acc) in &claims {
            let t = key.text;
            let pairs = placements
                .get(&(key.day, t[NAMESPACE], t[POD]))
                .filter(|p| !p.is_empty())
                .map_or(UNPLACED, Vec::as_slice);
            let ns_labels = tables.namespace(key.day, t[NAMESPACE]);
            for &(node, resource) in pairs {
                let labels = merged.merge(
                    &interner.labels,
                    &[
                        tables.node(key.day, node),
                        ns_labels,
                        key.pv_labels,
                        key.pvc_labels,
                    ],
                );
                let row_key = (
                    key.day,
                    [
                        t[NAMESPACE],
                        node,
                        resource,
                        t[PVC],
                        t[PV],
                        t[STORAGECLASS],
                        t[CSI],
                    ],
                    labels,
                );
                groups.entry(row_key).or_default().merge(acc);
            }
        }
        let mut categories: HashMap<StringId, Option<i32>> = HashMap::new();
        let mut rows = Vec::with_capacity(groups.len());
        for ((day, ids, labels), acc) in groups {
            let [namespace, node, resource, pvc, pv, storageclass, csi] = ids;
            let text = |id: StringId| interner.strings.get(id).cloned();
            let short_lived = |id: StringId| interner.short_lived.get(id).cloned();
            let cost_category_id =
                side.cost_category_of(&mut categories, &interner.strings, namespace);
            let divisor = f64::from(node_count.get(&(day, pv)).copied().unwrap_or(1));
            let month_seconds = 86_400.0 * f64::from(days_in_month(day));
            let months = |s: ByteSecondsSum, divisor: f64| {
                s.value().map(|v| v / divisor / month_seconds * GIB)
            };
            let labels = Arc::clone(merged.json(labels));
            rows.push(SummaryRow {
                data_source: DataSource::Storage,
                day,
                namespace: text(namespace),
                node: text(node),
                resource_id: text(resource),
                pod_labels: None,
                volume_labels: Some(Arc::clone(&labels)),
                all_labels: Some(labels),
                pod: Default::default(),
                capacity: Default::default(),
                storage: StorageMeasures {
                    persistentvolumeclaim: short_lived(pvc),
                    persistentvolume: short_lived(pv),
                    storageclass: text(storageclass),
                    csi_volume_handle: short_lived(csi),
                    capacity_gigabyte: acc.capacity_bytes.value().map(|b| b * GIB),
                    capacity_gigabyte_months: months(acc.capacity, 1.0),
                    request_gigabyte_months: months(acc.request, divisor),
                    usage_gigabyte_months: months(acc.usage, divisor),
                },
                cost_category_id,
                infrastructure_cost: true,
            });
        }
        rows
    }
}
#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{Datelike, NaiveDate};

    use super::*;
    use crate::aggregator::Aggregator;
    use crate::input::{PodPass, Table, POD_USAGE_COLUMNS, STORAGE_USAGE_COLUMNS};
    use crate::testing::{aggregator, canonical, nums, text, times};

    /// Pods `a` on n1 and `b` on n2, one hour each on 1970-01-01.
    fn pods() -> RecordBatch {
        canonical(
            POD_USAGE_COLUMNS,
            2,
            &[
                ("interval_start", times(&[0, 0])),
                ("namespace", text(&[Some("app"), Some("app")])),
                ("node", text(&[Some("n1"), Some("n2")])),
                ("pod", text(&[Some("a"), Some("b")])),
                ("resource_id", text(&[Some("r1"), Some("r2")])),
            ],
        )
    }

    /// One claim `c` on volume `v`, mounted by `a`, `b` and the missing pod `gone`; each
    /// item 10 GiB capacity and request for an hour, 1 GiB used.
    fn claims(pods: &[&str]) -> RecordBatch {
        claims_named(pods, "c", "v")
    }

    /// Claims of `pods`, all named `claim`, on volume `volume`.
    fn claims_named(pods: &[&str], claim: &str, volume: &str) -> RecordBatch {
        let n = pods.len();
        let gib = f64::from(1u32 << 30);
        canonical(
            STORAGE_USAGE_COLUMNS,
            n,
            &[
                ("interval_start", times(&vec![3600; n])),
                ("namespace", text(&vec![Some("app"); n])),
                (
                    "pod",
                    text(&pods.iter().map(|p| Some(*p)).collect::<Vec<_>>()),
                ),
                ("persistentvolumeclaim", text(&vec![Some(claim); n])),
                ("persistentvolume", text(&vec![Some(volume); n])),
                (
                    "persistentvolumeclaim_capacity_bytes",
                    nums(&vec![10.0 * gib; n]),
                ),
                (
                    "persistentvolumeclaim_capacity_byte_seconds",
                    nums(&vec![36_000.0 * gib; n]),
                ),
                (
                    "volume_request_storage_byte_seconds",
                    nums(&vec![36_000.0 * gib; n]),
                ),
                (
                    "persistentvolumeclaim_usage_byte_seconds",
                    nums(&vec![3_600.0 * gib; n]),
                ),
            ],
        )
    }

    /// An aggregator folding on a pool of two threads.
    fn pooled() -> Aggregator {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        aggregator().with_pool(Arc::new(pool))
    }

    /// The rows of the days up to `last_day`, sorted, through the protocol.
    fn finish_days(agg: &mut Aggregator, last_day: i32) -> Vec<SummaryRow> {
        agg.close_days_before(last_day + 1);
        let mut days = agg.emit_ready().unwrap().unwrap();
        days.sort();
        days.into_rows()
    }

    fn run(storage_first: bool, storage: Vec<RecordBatch>) -> Vec<SummaryRow> {
        let mut agg = pooled();
        let add_storage = |agg: &mut Aggregator| {
            for b in &storage {
                agg.push(Table::Storage, b.clone()).unwrap();
            }
        };
        if storage_first {
            add_storage(&mut agg);
        }
        agg.push(Table::Pods(PodPass::Both), pods()).unwrap();
        if !storage_first {
            add_storage(&mut agg);
        }
        agg.finish()
            .unwrap()
            .rows
            .into_iter()
            .filter(|r| r.data_source == DataSource::Storage)
            .collect()
    }

    #[test]
    fn claims_are_placed_and_divided_by_the_volume_node_count() {
        let rows = run(false, vec![claims(&["a", "b", "gone"])]);
        let nodes: Vec<Option<&str>> = rows.iter().map(|r| r.node.as_deref()).collect();
        assert_eq!(nodes, [None, Some("n1"), Some("n2")]);
        let month = 86_400.0 * 31.0;
        for r in &rows {
            assert_eq!(r.storage.capacity_gigabyte, Some(10.0));
            assert_eq!(r.storage.capacity_gigabyte_months, Some(36_000.0 / month));
            // v is on two nodes: the claim of `gone`, unplaced, is divided by 2 as well.
            assert_eq!(
                r.storage.request_gigabyte_months,
                Some(36_000.0 / 2.0 / month)
            );
            assert_eq!(r.storage.usage_gigabyte_months, Some(3_600.0 / 2.0 / month));
            assert_eq!(r.resource_id.is_none(), r.node.is_none());
            assert_eq!(r.volume_labels.as_deref(), Some("{}"));
        }
    }

    #[test]
    fn table_order_and_batch_split_do_not_matter() {
        let whole = run(false, vec![claims(&["a", "b", "gone"])]);
        let split = run(true, vec![claims(&["gone"]), claims(&["b", "a"])]);
        assert_eq!(whole, split);
    }

    /// A batch with every column of `batch` but `interval_start` moved by `seconds`.
    fn shifted(batch: &RecordBatch, seconds: i64) -> RecordBatch {
        let ts = batch
            .column_by_name("interval_start")
            .unwrap()
            .as_primitive::<arrow::datatypes::TimestampSecondType>();
        let moved: Vec<i64> = ts.values().iter().map(|t| t + seconds).collect();
        let i = batch.schema().index_of("interval_start").unwrap();
        let mut columns = batch.columns().to_vec();
        columns[i] = times(&moved);
        RecordBatch::try_new(batch.schema(), columns).unwrap()
    }

    /// Finishing the first day early and the rest at the end gives the rows that one
    /// `finish` gives: every Pod, Storage and unallocated row, the same numbers.
    #[test]
    fn forgetting_raw_label_strings_between_days_gives_the_same_rows() {
        let (a, b) = (Some(r#"{"app": "a"}"#), Some(r#"{"app": "b", "x": "1"}"#));
        let labelled = |batch: RecordBatch, labels: &[Option<&str>]| {
            let i = batch.schema().index_of("pod_labels").unwrap();
            let mut columns = batch.columns().to_vec();
            columns[i] = text(labels);
            RecordBatch::try_new(batch.schema(), columns).unwrap()
        };
        let day0 = labelled(pods(), &[a, b]);
        // The same strings in another order: another dictionary, which the column cache
        // does not hold (an equal one it would, and nothing would be parsed again).
        let day1 = shifted(&labelled(pods(), &[b, a]), 86_400);
        let mut whole = pooled();
        whole
            .push(Table::Pods(PodPass::Both), day0.clone())
            .unwrap();
        whole
            .push(Table::Pods(PodPass::Both), day1.clone())
            .unwrap();
        whole.flush().unwrap();
        let parsed_once = whole.interner.labels.strings_parsed();
        let mut whole = whole.finish().unwrap().rows;

        let mut split = pooled();
        split.interner.raw_labels_kept = 0;
        split.push(Table::Pods(PodPass::Both), day0).unwrap();
        let mut rows = finish_days(&mut split, 0);
        assert_eq!(
            split.interner.labels.raw_cached(),
            0,
            "forgotten after day 0"
        );
        split.push(Table::Pods(PodPass::Both), day1).unwrap();
        split.flush().unwrap();
        assert_eq!(
            split.interner.labels.strings_parsed(),
            2 * parsed_once,
            "parsed again"
        );
        rows.extend(split.finish().unwrap().rows);
        crate::order::sort_rows(&mut whole);
        crate::order::sort_rows(&mut rows);
        assert_eq!(rows, whole);
    }

    #[test]
    fn finishing_day_by_day_gives_the_same_rows() {
        let feed = |agg: &mut Aggregator| {
            for b in [pods(), shifted(&pods(), 86_400)] {
                agg.push(Table::Pods(PodPass::Both), b).unwrap();
            }
            for b in [claims(&["a", "gone"]), shifted(&claims(&["b"]), 86_400)] {
                agg.push(Table::Storage, b).unwrap();
            }
        };
        let mut whole = pooled();
        feed(&mut whole);
        let mut whole = whole.finish().unwrap().rows;

        let mut split = pooled();
        feed(&mut split);
        let first = finish_days(&mut split, 0);
        assert!(first.iter().all(|r| r.day == 0), "only day 0: {first:#?}");
        assert!(first.iter().any(|r| r.data_source == DataSource::Storage));
        // Unallocated rows (Pod rows without pod labels) wait for the end.
        assert!(first
            .iter()
            .all(|r| r.pod_labels.is_some() || r.data_source == DataSource::Storage));
        let mut rows = first;
        rows.extend(split.finish().unwrap().rows);
        crate::order::sort_rows(&mut whole);
        crate::order::sort_rows(&mut rows);
        assert_eq!(rows, whole);
        assert_eq!(
            whole
                .iter()
                .filter(|r| r.pod_labels.is_none() && r.data_source == DataSource::Pod)
                .count(),
            4
        );
        // On the calling thread, without a pool (Pod and Storage rows built in turn).
        let mut alone = aggregator();
        feed(&mut alone);
        let mut rows = finish_days(&mut alone, 0);
        rows.extend(alone.finish().unwrap().rows);
        crate::order::sort_rows(&mut rows);
        assert_eq!(rows, whole);
    }

    /// Claim and volume names are forgotten once their day is finished and neither an open
    /// claim nor the dictionary the next batch may share names them; rows keep their texts.
    #[test]
    fn finished_days_forget_their_claim_names() {
        let mut agg = pooled();
        for b in [pods(), shifted(&pods(), 86_400)] {
            agg.push(Table::Pods(PodPass::Both), b).unwrap();
        }
        for b in [
            claims_named(&["a"], "c0", "v0"),
            shifted(&claims_named(&["b"], "c1", "v1"), 86_400),
        ] {
            agg.push(Table::Storage, b).unwrap();
        }
        let day0 = finish_days(&mut agg, 0);
        let names = |rows: &[SummaryRow]| -> Vec<(Option<String>, Option<String>)> {
            rows.iter()
                .filter(|r| r.data_source == DataSource::Storage)
                .map(|r| {
                    let s = &r.storage;
                    let text = |t: &Option<Arc<str>>| t.as_deref().map(str::to_owned);
                    (text(&s.persistentvolumeclaim), text(&s.persistentvolume))
                })
                .collect()
        };
        let named = |c: &str, v: &str| (Some(c.to_owned()), Some(v.to_owned()));
        assert_eq!(names(&day0), [named("c0", "v0")]);
        for gone in ["c0", "v0"] {
            assert_eq!(
                agg.interner.short_lived.lookup(gone),
                None,
                "{gone} is forgotten"
            );
        }
        for kept in ["c1", "v1", "b"] {
            assert!(
                agg.interner.short_lived.lookup(kept).is_some(),
                "{kept} is kept"
            );
        }
        let rest = agg.finish().unwrap().rows;
        assert_eq!(names(&rest), [named("c1", "v1")]);
    }

    #[test]
    fn month_lengths() {
        let day = |y, m, d| {
            (NaiveDate::from_ymd_opt(y, m, d).unwrap()
                - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
            .num_days() as i32
        };
        assert_eq!(days_in_month(day(2025, 10, 31)), 31);
        assert_eq!(days_in_month(day(2025, 2, 1)), 28);
        assert_eq!(days_in_month(day(2024, 2, 29)), 29);
        assert_eq!(days_in_month(day(2025, 12, 15)), 31);
        assert_eq!(days_in_month(day(1969, 12, 31)), 31);
        // The same as chrono's calendar over centuries (leap years of 1900, 2000, 2100), and
        // total over every i32.
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for d in (-30_000..60_000).step_by(7) {
            let date = epoch + chrono::Duration::days(i64::from(d));
            let first = date.with_day(1).unwrap();
            let next = first.checked_add_months(chrono::Months::new(1)).unwrap();
            let expected = (next - first).num_days() as u32;
            assert_eq!(days_in_month(d), expected, "{date}");
        }
        for d in [i32::MIN, i32::MIN + 1, -1, 0, i32::MAX - 1, i32::MAX] {
            assert!((28..=31).contains(&days_in_month(d)));
        }
    }
}
