//! Incremental runs (issue #20): re-summarise only the days whose files changed, with the
//! rows a full run of the month would write.
//!
//! The **state** of a source and month is what its output was computed from: every listed
//! file (size, ETag, last modification, and the days its rows held, learnt from the rows),
//! the settings that shape every day ([`settings_fingerprint`]), koku's daily/hourly choice
//! ([`Selection`]), and per (day, node) the facts node roles are derived from ([`DayFacts`]).
//! It lives with the output and changes with it: in PostgreSQL two tables written in the
//! transaction of the rows (`ocpagg_pg::state`), in a Parquet output its footer.
//!
//! An incremental run lists the month and compares it with the state. The **affected days**
//! are the days held by files that are gone or changed (from the state) and the days new or
//! changed files may hold (their footers' bounds). It reads only the files that hold an
//! affected day, keeps only the affected days' rows and replaces only those days. Node roles
//! are a fact of the whole range: the run folds the state's facts of the other days with the
//! facts of the affected days it read; a node whose unallocated namespace changes makes every
//! day it had rows affected, and the run starts again with those days ([`Widen`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Array, AsArray, DictionaryArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Int32Type, TimestampSecondType};
use chrono::NaiveDate;
use ocpagg_aggregate::{
    day_of, PodPass, SideInputs, Table, APISERVER_NAMESPACE, INFRA_LABEL_TEXT,
    PLATFORM_UNALLOCATED, WORKER_UNALLOCATED,
};
use ocpagg_reader::{DataFile, Listing, ScanPlan};
pub use ocpagg_writer::pg::state::IngestedFile;
use serde::{Deserialize, Serialize};

/// Version of the state layout and of what the program writes: a state of another version
/// means a full run.
pub const STATE_VERSION: u32 = 1;
/// The Parquet footer key holding the state.
pub const FOOTER_KEY: &str = "ocpagg:incremental_state";

/// A listed file whose rows the run read: the state's record of it.
pub(crate) fn record(file: &DataFile, days: Vec<i32>) -> IngestedFile {
    IngestedFile {
        table: file.report_type.to_string(),
        daily: file.daily,
        path: file.location.to_string(),
        size: file.size,
        e_tag: file.e_tag.clone(),
        last_modified_ms: file.last_modified_ms,
        days,
    }
}

/// Whether `file`, as listed, is the version `record` was made of (size, ETag, last
/// modification).
pub(crate) fn same_version(record: &IngestedFile, file: &DataFile) -> bool {
    record.size == file.size
        && record.e_tag == file.e_tag
        && record.last_modified_ms == file.last_modified_ms
}

/// What node roles are derived from, for one node on one day (SPEC.md "Side inputs").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFacts {
    /// Greatest non-null `node_role` of the node's pod line items.
    pub data_role: Option<Arc<str>>,
    /// `Some` when the node had node_labels rows; `Some(true)` when one of their raw strings
    /// names it infra.
    pub labels: Option<bool>,
    /// Per resource id the node's pods ran under: whether one ran in
    /// `openshift-kube-apiserver`.
    pub pairs: Pairs,
}

/// Per resource id (null included), whether a pod ran in `openshift-kube-apiserver`, sorted
/// by resource id. A node has one or a few, so they are a sorted `Vec`: a map allocated a
/// whole tree node per (day, node): 5.5 MB of the heap peak of a 20M-row month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pairs(Vec<(Option<Arc<str>>, bool)>);

impl Pairs {
    /// Notes a pod that ran under `resource`, in the apiserver namespace if `master` (the
    /// resource id is copied only when new).
    pub fn mark(&mut self, resource: Option<&str>, master: bool) {
        self.mark_with(resource, master, |r| Arc::from(r));
    }

    /// [`Pairs::mark`], with a resource id new to the node given by `share` (a text
    /// shared by every day, [`Names`]).
    fn mark_with(
        &mut self,
        resource: Option<&str>,
        master: bool,
        share: impl FnOnce(&str) -> Arc<str>,
    ) {
        match self
            .0
            .binary_search_by(|(r, _)| r.as_deref().cmp(&resource))
        {
            Ok(i) => self.0[i].1 |= master,
            Err(i) => {
                // Exactly as many as held: most nodes run under one resource id, and a `Vec`
                // grown by `insert` starts at four (96 bytes per node and day, for a month).
                self.0.reserve_exact(1);
                self.0.insert(i, (resource.map(share), master));
            }
        }
    }

    /// The pairs, by resource id.
    pub fn iter(&self) -> impl Iterator<Item = (Option<&str>, bool)> {
        self.0.iter().map(|(r, m)| (r.as_deref(), *m))
    }

    /// Whether the node ran no pod.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> FromIterator<(Option<&'a str>, bool)> for Pairs {
    fn from_iter<I: IntoIterator<Item = (Option<&'a str>, bool)>>(iter: I) -> Self {
        let mut pairs = Pairs::default();
        for (resource, master) in iter {
            pairs.mark(resource, master);
        }
        pairs
    }
}

impl DayFacts {
    fn absorb(&mut self, other: DayFacts) {
        if other.data_role > self.data_role {
            self.data_role = other.data_role;
        }
        self.labels = match (self.labels, other.labels) {
            (None, x) | (x, None) => x,
            (Some(a), Some(b)) => Some(a || b),
        };
        for (resource, master) in other.pairs.0 {
            // The other's text is shared, not copied.
            let shared = resource.clone();
            self.pairs.mark_with(resource.as_deref(), master, move |t| {
                shared.unwrap_or_else(|| Arc::from(t))
            });
        }
    }
}

/// [`DayFacts`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FactRow {
    day: i32,
    node: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    labels: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pairs: Vec<(Option<String>, bool)>,
}

/// Facts per (day, node).
pub type Facts = BTreeMap<(i32, Arc<str>), DayFacts>;

/// The texts of the facts (node names, roles, resource ids), each held once however many
/// days name them, rather than copied for every (day, node): the facts are kept for the
/// whole run, so what each day adds to them is what the heap grows by with the days.
#[derive(Debug, Default)]
struct Names(hashbrown::HashSet<Arc<str>>);

impl Names {
    /// The shared copy of `text`.
    fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(name) = self.0.get(text) {
            return Arc::clone(name);
        }
        let name: Arc<str> = text.into();
        self.0.insert(Arc::clone(&name));
        name
    }
}

/// koku's choice between hourly files and the daily roll-up, per table: when it changes,
/// every day changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Pod sums from the daily roll-up.
    pub pods_from_daily: bool,
    /// Storage sums from the daily roll-up.
    pub storage_from_daily: bool,
    /// Node labels from the daily roll-up.
    pub node_labels_daily: bool,
    /// Namespace labels from the daily roll-up.
    pub namespace_labels_daily: bool,
}

impl Selection {
    /// The selection of a plan.
    pub fn of(plan: &ScanPlan) -> Self {
        let daily = |t: ocpagg_reader::ReportType| {
            plan.files
                .iter()
                .any(|f| f.file.report_type == t && f.file.daily)
        };
        Selection {
            pods_from_daily: plan.pods_from_daily,
            storage_from_daily: plan.storage_from_daily,
            node_labels_daily: daily(ocpagg_reader::ReportType::NodeLabels),
            namespace_labels_daily: daily(ocpagg_reader::ReportType::NamespaceLabels),
        }
    }
}

/// The state of a source and month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// [`settings_fingerprint`] of the run that wrote it.
    pub settings: String,
    /// koku's daily/hourly choice.
    pub selection: Selection,
    /// Every listed file (kept in their own table in PostgreSQL, so empty in the document).
    #[serde(default)]
    pub files: Vec<IngestedFile>,
    #[serde(default)]
    facts: Vec<FactRow>,
    /// Each node's role as the unallocated rows used it.
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    /// A Parquet output's rows in file order, as runs of one (section, day): each run is one
    /// or more whole row groups, so an incremental run can copy those of untouched days
    /// without decoding them. Empty for other outputs.
    #[serde(default)]
    pub layout: Vec<RowRun>,
}

/// A run of a Parquet output's rows of one day and section ([`crate::carry_over`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowRun {
    /// Unallocated rows (1) or Pod and Storage rows (0).
    pub section: u8,
    /// Days since 1970-01-01.
    pub day: i32,
    /// Rows in the run.
    pub rows: u64,
}

impl State {
    /// The facts, by (day, node).
    pub fn facts(&self) -> Facts {
        self.facts
            .iter()
            .map(|r| {
                (
                    (r.day, Arc::from(r.node.as_str())),
                    DayFacts {
                        data_role: r.role.as_deref().map(Arc::from),
                        labels: r.labels,
                        pairs: r.pairs.iter().map(|(r, m)| (r.as_deref(), *m)).collect(),
                    },
                )
            })
            .collect()
    }

    /// A state from its parts.
    pub fn new(
        settings: String,
        selection: Selection,
        files: Vec<IngestedFile>,
        facts: &Facts,
        roles: BTreeMap<String, String>,
    ) -> Self {
        State {
            version: STATE_VERSION,
            settings,
            selection,
            files,
            facts: facts
                .iter()
                .map(|((day, node), f)| FactRow {
                    day: *day,
                    node: node.to_string(),
                    role: f.data_role.as_deref().map(String::from),
                    labels: f.labels,
                    pairs: f
                        .pairs
                        .iter()
                        .map(|(r, m)| (r.map(String::from), m))
                        .collect(),
                })
                .collect(),
            roles,
            layout: Vec::new(),
        }
    }

    /// JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("the state serialises")
    }

    /// From JSON text; `None` if it is not a state of this version.
    pub fn from_json(text: &str) -> Option<Self> {
        serde_json::from_str::<State>(text)
            .ok()
            .filter(|s| s.version == STATE_VERSION)
    }
}

/// Everything outside the Parquet files that shapes every day's rows: a state recorded under
/// other settings means a full run.
pub fn settings_fingerprint(run: &ocpagg_aggregate::RunInfo, side: &SideInputs) -> String {
    let categories: Vec<(&str, i32)> = side
        .cost_categories
        .iter()
        .map(|c| (c.pattern.as_str(), c.id))
        .collect();
    serde_json::json!({
        "format": STATE_VERSION,
        "version": env!("CARGO_PKG_VERSION"),
        "cluster_id": run.cluster_id,
        "cluster_alias": run.cluster_alias,
        "report_period_id": run.report_period_id,
        "start": run.start.to_string(),
        "end": run.end.to_string(),
        "enabled_keys": format!("{:?}", side.enabled_keys),
        "cost_categories": categories,
        "node_roles": side.node_roles,
        "database_node_roles": side.database_node_roles,
    })
    .to_string()
}

/// How files differ from the state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Files listed that the state does not know.
    pub new: Vec<String>,
    /// Files whose size, ETag or last modification differ.
    pub changed: Vec<String>,
    /// Files of the state no longer listed.
    pub gone: Vec<String>,
}

impl Diff {
    /// Compares a listing with the state's files.
    pub fn of(state: &[IngestedFile], listing: &Listing) -> Self {
        let known: HashMap<&str, &IngestedFile> =
            state.iter().map(|f| (f.path.as_str(), f)).collect();
        let mut diff = Diff::default();
        for file in &listing.files {
            match known.get(file.location.as_ref()) {
                None => diff.new.push(file.location.to_string()),
                Some(f) if !same_version(f, file) => diff.changed.push(file.location.to_string()),
                Some(_) => {}
            }
        }
        let listed: std::collections::HashSet<&str> =
            listing.files.iter().map(|f| f.location.as_ref()).collect();
        diff.gone = state
            .iter()
            .filter(|f| !listed.contains(f.path.as_str()))
            .map(|f| f.path.clone())
            .collect();
        diff
    }

    /// Nothing differs.
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.changed.is_empty() && self.gone.is_empty()
    }

    /// The days the state says changed and gone files held.
    pub fn known_days(&self, state: &[IngestedFile]) -> BTreeSet<i32> {
        let touched: std::collections::HashSet<&str> = self
            .changed
            .iter()
            .chain(&self.gone)
            .map(String::as_str)
            .collect();
        state
            .iter()
            .filter(|f| touched.contains(f.path.as_str()))
            .flat_map(|f| f.days.iter().copied())
            .collect()
    }
}

/// Days since 1970-01-01 of a date.
pub fn day_number(d: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
    i32::try_from((d - epoch).num_days()).unwrap_or(i32::MAX)
}

/// The date of a day number.
pub fn day_date(day: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date") + chrono::Days::new(day as u64)
}

/// The run's incremental plan: which days to recompute and which files to read.
#[derive(Debug, Clone)]
pub struct DayPlan {
    /// The affected days.
    pub days: BTreeSet<i32>,
    /// Locations of the files to read.
    pub read: std::collections::HashSet<String>,
}

/// The affected days and the files to read, for a plan whose selection matches the state's.
/// `extra` are days added by a change of node roles. The days new and changed files may hold
/// come from their footers (a bound of their rows); a file whose footer gives no range may
/// hold any day.
pub fn day_plan(
    state: &[IngestedFile],
    diff: &Diff,
    plan: &ScanPlan,
    range: (i32, i32),
    extra: &BTreeSet<i32>,
) -> DayPlan {
    let mut days = diff.known_days(state);
    days.extend(extra.iter().copied());
    let fresh: std::collections::HashSet<&str> = diff
        .new
        .iter()
        .chain(&diff.changed)
        .map(String::as_str)
        .collect();
    for f in &plan.files {
        if !fresh.contains(f.file.location.as_ref()) {
            continue;
        }
        let (first, last) = match f.footer.interval_start {
            Some((min, max)) => (
                i32::try_from(min.div_euclid(86_400)).unwrap_or(range.0),
                i32::try_from(max.div_euclid(86_400)).unwrap_or(range.1),
            ),
            None => range,
        };
        days.extend(first.max(range.0)..=last.min(range.1));
    }
    days.retain(|d| (range.0..=range.1).contains(d));
    let held: HashMap<&str, &IngestedFile> = state.iter().map(|f| (f.path.as_str(), f)).collect();
    let read = plan
        .files
        .iter()
        .filter(|f| {
            let path = f.file.location.as_ref();
            fresh.contains(path)
                || held
                    .get(path)
                    .is_some_and(|r| r.days.iter().any(|d| days.contains(d)))
        })
        .map(|f| f.file.location.to_string())
        .collect();
    DayPlan { days, read }
}

/// What reading observed: per file the days its rows held, per (day, node) the role facts.
#[derive(Debug, Default)]
pub struct Observed {
    /// Days per file location.
    pub file_days: HashMap<String, BTreeSet<i32>>,
    /// Role facts.
    pub facts: Facts,
    /// The texts of `facts`.
    names: Names,
}

impl Observed {
    /// The facts of `node` on `day`, created empty on first sight, and the texts to store in
    /// them.
    fn day_facts(&mut self, day: i32, node: &str) -> (&mut DayFacts, &mut Names) {
        let key = (day, self.names.get(node));
        (self.facts.entry(key).or_default(), &mut self.names)
    }

    /// Adds another thread's observations.
    pub fn absorb(&mut self, other: Observed) {
        for (file, days) in other.file_days {
            self.file_days.entry(file).or_default().extend(days);
        }
        for (key, facts) in other.facts {
            self.facts.entry(key).or_default().absorb(facts);
        }
    }

    /// Notes a batch of `table` read from `file` (the reader's canonical schema).
    pub fn note(&mut self, file: &str, table: Table, batch: &RecordBatch) {
        let Some(ts) = batch
            .column_by_name("interval_start")
            .and_then(|c| c.as_primitive_opt::<TimestampSecondType>())
        else {
            return;
        };
        if !self.file_days.contains_key(file) {
            self.file_days.insert(file.to_string(), BTreeSet::new());
        }
        let Some(days) = self.file_days.get_mut(file) else {
            return;
        };
        let (first, last_day) = (
            arrow::compute::min(ts).map(day_of),
            arrow::compute::max(ts).map(day_of),
        );
        if first.is_some() && first == last_day {
            // One day (the common case: a batch of an hour or a day): no pass over the rows.
            days.extend(first);
        } else {
            note_days(days, ts);
        }
        match table {
            Table::Pods(pass) => self.note_pods(pass, batch, ts, first.zip(last_day)),
            Table::NodeLabels => self.note_node_labels(batch, ts),
            _ => {}
        }
    }

    fn note_pods(
        &mut self,
        pass: PodPass,
        batch: &RecordBatch,
        ts: &arrow::array::TimestampSecondArray,
        day_range: Option<(i32, i32)>,
    ) {
        let Some(nodes) = text(batch, "node") else {
            return;
        };
        let roles = text(batch, "node_role");
        let with_pairs = !matches!(pass, PodPass::Capacity);
        if !with_pairs {
            if let Some(keys) = capacity_keys(ts, day_range, &nodes, roles.as_ref()) {
                for (day, node, role) in keys {
                    let Some(node) = nodes.1.value_opt(node) else {
                        continue;
                    };
                    let role = role.and_then(|k| roles.as_ref()?.1.value_opt(k));
                    let (facts, names) = self.day_facts(day, node);
                    if role > facts.data_role.as_deref() {
                        facts.data_role = role.map(|r| names.get(r));
                    }
                }
                return;
            }
        }
        let namespaces = if with_pairs {
            text(batch, "namespace")
        } else {
            None
        };
        let resources = if with_pairs {
            text(batch, "resource_id")
        } else {
            None
        };
        // Keys of distinct (day, node, role, resource, apiserver) tuples, resolved to text
        // once per batch.
        type Key = (i32, Option<i32>, Option<i32>, Option<i32>, bool);
        // A fast hasher: this runs once per row on the reading thread (SipHash made it a
        // sixth of that thread's time).
        let mut seen: hashbrown::HashSet<Key> = hashbrown::HashSet::new();
        let apiserver: Vec<bool> = namespaces.as_ref().map_or_else(Vec::new, |n| {
            n.1.iter().map(|v| v == Some(APISERVER_NAMESPACE)).collect()
        });
        let mut last: Option<Key> = None;
        for i in 0..batch.num_rows() {
            if !ts.is_valid(i) {
                continue;
            }
            let Some(node) = key(&nodes, i) else {
                continue;
            };
            let day = day_of(ts.value(i));
            let role = roles.as_ref().and_then(|r| key(r, i));
            let (resource, master) = match (&namespaces, &resources) {
                (Some(n), Some(r)) => (key(r, i), key(n, i).is_some_and(|k| apiserver[k as usize])),
                _ => (None, false),
            };
            let k = (day, Some(node), role, resource, master);
            if last == Some(k) {
                continue;
            }
            last = Some(k);
            seen.insert(k);
        }
        for (day, node, role, resource, master) in seen {
            let Some(node) = node.and_then(|k| nodes.1.value_opt(k)) else {
                continue;
            };
            let role = role.and_then(|k| roles.as_ref()?.1.value_opt(k));
            let (facts, names) = self.day_facts(day, node);
            if role > facts.data_role.as_deref() {
                facts.data_role = role.map(|r| names.get(r));
            }
            if with_pairs {
                let resource = resource.and_then(|k| resources.as_ref()?.1.value_opt(k));
                facts.pairs.mark_with(resource, master, |r| names.get(r));
            }
        }
    }

    fn note_node_labels(&mut self, batch: &RecordBatch, ts: &arrow::array::TimestampSecondArray) {
        let (Some(nodes), Some(labels)) = (text(batch, "node"), text(batch, "node_labels")) else {
            return;
        };
        let infra: Vec<bool> = labels
            .1
            .iter()
            .map(|v| v.is_some_and(|t| t.contains(INFRA_LABEL_TEXT)))
            .collect();
        let mut seen: hashbrown::HashSet<(i32, i32, bool)> = hashbrown::HashSet::new();
        for i in 0..batch.num_rows() {
            if !ts.is_valid(i) {
                continue;
            }
            let Some(node) = key(&nodes, i) else { continue };
            let day = day_of(ts.value(i));
            let is_infra = key(&labels, i).is_some_and(|k| infra[k as usize]);
            seen.insert((day, node, is_infra));
        }
        for (day, node, is_infra) in seen {
            let Some(node) = nodes.1.value_opt(node) else {
                continue;
            };
            let (facts, _) = self.day_facts(day, node);
            facts.labels = Some(facts.labels.unwrap_or(false) || is_infra);
        }
    }
}

/// Adds the days of the valid timestamps of `ts` to `days`.
fn note_days(days: &mut BTreeSet<i32>, ts: &arrow::array::TimestampSecondArray) {
    let mut last = None;
    for i in 0..ts.len() {
        if ts.is_valid(i) {
            let d = day_of(ts.value(i));
            if last != Some(d) {
                days.insert(d);
                last = Some(d);
            }
        }
    }
}

/// The largest (day, node, role) key space deduplicated on a table of flags (1 MiB).
const CAPACITY_KEYS: usize = 1 << 20;

/// The distinct (day, node key, role key) of a capacity batch, found on a table of flags
/// indexed by the keys, in one pass over the raw key slices: the common case of the hourly
/// line items (a batch of one or two days, tens of nodes, a few roles). `None` when a
/// timestamp, node or role is null or the key space is large (the caller takes the general
/// path).
fn capacity_keys(
    ts: &arrow::array::TimestampSecondArray,
    day_range: Option<(i32, i32)>,
    nodes: &Text,
    roles: Option<&Text>,
) -> Option<Vec<(i32, i32, Option<i32>)>> {
    let (first, last) = day_range?;
    let no_nulls = |t: &Text| t.0.null_count() == 0 && t.1.null_count() == 0;
    // A role column of nulls only (the reader's null column where the files have none) is
    // no role.
    let roles = roles.filter(|r| r.0.null_count() < r.0.len());
    if ts.null_count() != 0 || !no_nulls(nodes) || !roles.is_none_or(no_nulls) {
        return None;
    }
    let days = usize::try_from(i64::from(last) - i64::from(first) + 1).ok()?;
    let node_count = nodes.1.len();
    let role_count = roles.map_or(1, |r| r.1.len());
    let space = days.checked_mul(node_count)?.checked_mul(role_count)?;
    if space > CAPACITY_KEYS {
        return None;
    }
    let mut seen = vec![false; space];
    let mut keys = Vec::new();
    let node_keys = nodes.0.values();
    let role_keys = roles.map(|r| r.0.values());
    for (i, &t) in ts.values().iter().enumerate() {
        // Valid keys (no nulls, so every key indexes its values) and days in range.
        let day_number = day_of(t);
        let day = usize::try_from(i64::from(day_number) - i64::from(first)).ok()?;
        let node = usize::try_from(node_keys[i]).ok()?;
        let role = role_keys.map_or(Ok(0), |r| usize::try_from(r[i])).ok()?;
        let index = (day * node_count + node) * role_count + role;
        if !std::mem::replace(seen.get_mut(index)?, true) {
            keys.push((day_number, node_keys[i], role_keys.map(|r| r[i])));
        }
    }
    Some(keys)
}

/// A text column as dictionary keys and string values (cast if it is not one already).
type Text = (arrow::array::Int32Array, StringArray);

fn text(batch: &RecordBatch, name: &str) -> Option<Text> {
    let column = batch.column_by_name(name)?;
    let target = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let column = if column.data_type() == &target {
        Arc::clone(column)
    } else {
        arrow::compute::cast(column, &target).ok()?
    };
    let dict: &DictionaryArray<Int32Type> = column.as_dictionary();
    let values = dict.values().as_string::<i32>().clone();
    Some((dict.keys().clone(), values))
}

fn key(t: &Text, i: usize) -> Option<i32> {
    let k = t.0.is_valid(i).then(|| t.0.value(i))?;
    t.1.is_valid(k as usize).then_some(k)
}

trait ValueOpt {
    fn value_opt(&self, k: i32) -> Option<&str>;
}

impl ValueOpt for StringArray {
    fn value_opt(&self, k: i32) -> Option<&str> {
        let k = usize::try_from(k).ok()?;
        (k < self.len() && self.is_valid(k)).then(|| self.value(k))
    }
}

/// Node roles over a whole range from its facts, as the aggregate decides them (SPEC.md
/// "Side inputs"): the data's `node_role` (greatest), else configuration, else the database,
/// else derived: per (node, resource_id) `master` if it ran a pod in
/// `openshift-kube-apiserver`, else `infra` if a label string names the node infra, else
/// `worker`, the greatest of these; no derived role without node_labels rows.
pub fn resolve_roles(facts: &Facts, side: &SideInputs) -> BTreeMap<String, String> {
    #[derive(Default)]
    struct Node<'a> {
        data_role: Option<&'a str>,
        labels: Option<bool>,
        pairs: BTreeMap<Option<&'a str>, bool>,
    }
    let mut nodes: BTreeMap<&str, Node<'_>> = BTreeMap::new();
    for ((_, node), f) in facts {
        let n = nodes.entry(node).or_default();
        if f.data_role.as_deref() > n.data_role {
            n.data_role = f.data_role.as_deref();
        }
        n.labels = match (n.labels, f.labels) {
            (None, x) | (x, None) => x,
            (Some(a), Some(b)) => Some(a || b),
        };
        for (resource, master) in f.pairs.iter() {
            *n.pairs.entry(resource).or_default() |= master;
        }
    }
    let mut roles = BTreeMap::new();
    for (name, n) in nodes {
        let derived = n.labels.and_then(|infra| {
            n.pairs
                .values()
                .map(|&master| match (master, infra) {
                    (true, _) => "master",
                    (false, true) => "infra",
                    (false, false) => "worker",
                })
                .max()
        });
        let role = n
            .data_role
            .map(String::from)
            .or_else(|| side.node_roles.get(name).cloned())
            .or_else(|| side.database_node_roles.get(name).cloned())
            .or_else(|| derived.map(String::from));
        if let Some(role) = role {
            roles.insert(name.to_string(), role);
        }
    }
    roles
}

/// The unallocated namespace a role gives.
fn unallocated_namespace(role: Option<&String>) -> Option<&'static str> {
    match role.map(String::as_str) {
        Some("master" | "infra") => Some(PLATFORM_UNALLOCATED),
        Some("worker") => Some(WORKER_UNALLOCATED),
        _ => None,
    }
}

/// The days outside `days` whose unallocated rows change with the new roles: every day a
/// node whose unallocated namespace changed had pod rows.
pub fn role_change_days(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
    facts: &Facts,
    days: &BTreeSet<i32>,
) -> BTreeSet<i32> {
    let changed: BTreeSet<&str> = old
        .keys()
        .chain(new.keys())
        .filter(|n| unallocated_namespace(old.get(*n)) != unallocated_namespace(new.get(*n)))
        .map(String::as_str)
        .collect();
    facts
        .iter()
        .filter(|((day, node), f)| {
            !days.contains(day) && !f.pairs.is_empty() && changed.contains(&**node)
        })
        .map(|((day, _), _)| *day)
        .collect()
}

/// The run must start again with more affected days: node roles changed.
#[derive(Debug, thiserror::Error)]
#[error("node roles changed; {} more day(s) are affected", .0.len())]
pub struct Widen(pub BTreeSet<i32>);

/// What an incremental (or full) run decided, for its result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ModeReport {
    /// `full`, `incremental` or `unchanged`.
    pub mode: &'static str,
    /// Why.
    pub reason: String,
    /// Files new, changed and gone since the state.
    pub files: Diff,
    /// The days recomputed (all of the range for a full run).
    pub affected_days: Vec<NaiveDate>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flag table finds each distinct (day, node, role) once; a null sends the caller to
    /// the general path.
    #[test]
    fn capacity_keys_are_the_distinct_day_node_role_keys() {
        use arrow::array::TimestampSecondArray;
        let day = 86_400;
        let ts = TimestampSecondArray::from(vec![0, 3600, day, day + 3600, 7200, day]);
        let text_of = |keys: Vec<i32>, values: Vec<Option<&str>>| -> Text {
            (
                arrow::array::Int32Array::from(keys),
                StringArray::from(values),
            )
        };
        let nodes = text_of(vec![0, 1, 0, 0, 0, 1], vec![Some("n0"), Some("n1")]);
        let roles = text_of(vec![0, 0, 1, 1, 0, 0], vec![Some("worker"), Some("infra")]);
        let mut keys = capacity_keys(&ts, Some((0, 1)), &nodes, Some(&roles)).unwrap();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                (0, 0, Some(0)),
                (0, 1, Some(0)),
                (1, 0, Some(1)),
                (1, 1, Some(0))
            ]
        );
        let mut keys = capacity_keys(&ts, Some((0, 1)), &nodes, None).unwrap();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [(0, 0, None), (0, 1, None), (1, 0, None), (1, 1, None)]
        );
        let no_roles = (
            arrow::array::Int32Array::from(vec![None; 6]),
            StringArray::from(Vec::<Option<&str>>::new()),
        );
        let mut keys = capacity_keys(&ts, Some((0, 1)), &nodes, Some(&no_roles)).unwrap();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [(0, 0, None), (0, 1, None), (1, 0, None), (1, 1, None)]
        );
        let null_role = text_of(vec![0, 0, 1, 1, 0, 0], vec![Some("worker"), None]);
        assert_eq!(
            capacity_keys(&ts, Some((0, 1)), &nodes, Some(&null_role)),
            None
        );
    }

    /// The facts of pod rows are those of every row taken alone, whatever the order of the
    /// rows: interleaved nodes, a node whose key changes and changes back.
    #[test]
    fn pod_facts_are_those_of_every_row_in_any_order() {
        use arrow::array::{ArrayRef, DictionaryArray, TimestampSecondArray};
        use arrow::datatypes::{Field, Schema, TimeUnit};
        const API: &str = APISERVER_NAMESPACE;
        let day = 86_400;
        /// (seconds, node, role, namespace, resource)
        type Row<'a> = (
            i64,
            Option<&'a str>,
            Option<&'a str>,
            &'a str,
            Option<&'a str>,
        );
        let rows: &[Row<'_>] = &[
            (0, Some("a"), None, "x", Some("r1")),
            (0, Some("b"), Some("worker"), "x", Some("rb")),
            (0, Some("a"), None, "x", Some("r1")),
            (0, Some("a"), None, API, Some("r2")),
            (0, Some("b"), Some("worker"), "x", Some("rb")),
            (0, Some("a"), None, "x", Some("r1")),
            (3600, Some("a"), Some("infra"), API, Some("r1")),
            (0, None, None, API, Some("r9")),
            (day, Some("a"), None, "x", None),
            (0, Some("b"), Some("infra"), "x", Some("rb")),
            (day, Some("a"), None, API, None),
        ];
        let dictionary = |values: Vec<Option<&str>>| -> ArrayRef {
            Arc::new(values.into_iter().collect::<DictionaryArray<Int32Type>>())
        };
        let text = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "interval_start",
                DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
                true,
            ),
            Field::new("node", text.clone(), true),
            Field::new("node_role", text.clone(), true),
            Field::new("namespace", text.clone(), true),
            Field::new("resource_id", text, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(
                    TimestampSecondArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())
                        .with_timezone("UTC"),
                ),
                dictionary(rows.iter().map(|r| r.1).collect()),
                dictionary(rows.iter().map(|r| r.2).collect()),
                dictionary(rows.iter().map(|r| Some(r.3)).collect()),
                dictionary(rows.iter().map(|r| r.4).collect()),
            ],
        )
        .unwrap();
        let mut observed = Observed::default();
        observed.note("f", Table::Pods(PodPass::Usage), &batch);

        let mut expected = Facts::new();
        for &(seconds, node, role, namespace, resource) in rows {
            let Some(node) = node else { continue };
            let facts = expected
                .entry(((seconds / day) as i32, Arc::from(node)))
                .or_default();
            if role > facts.data_role.as_deref() {
                facts.data_role = role.map(Arc::from);
            }
            facts.pairs.mark(resource, namespace == API);
        }
        assert_eq!(observed.facts, expected);
        assert_eq!(
            expected[&(0, Arc::from("a"))]
                .pairs
                .iter()
                .collect::<Vec<_>>(),
            [(Some("r1"), true), (Some("r2"), true)],
            "the oracle itself sees the change back"
        );
        assert_eq!(observed.file_days["f"], BTreeSet::from([0, 1]));
    }

    /// (day, node, data role, labels, pairs).
    type FactItem<'a> = (
        i32,
        &'a str,
        Option<&'a str>,
        Option<bool>,
        &'a [(&'a str, bool)],
    );

    fn facts(rows: &[FactItem<'_>]) -> Facts {
        rows.iter()
            .map(|(day, node, role, labels, pairs)| {
                (
                    (*day, Arc::from(*node)),
                    DayFacts {
                        data_role: role.map(Arc::from),
                        labels: *labels,
                        pairs: pairs.iter().map(|(r, m)| (Some(*r), *m)).collect(),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn pairs_stay_sorted_and_unite_the_apiserver_flag_per_resource() {
        let mut p: Pairs = [(Some("r2"), false), (None, false), (Some("r1"), false)]
            .into_iter()
            .collect();
        p.mark(Some("r2"), true);
        p.mark(Some("r2"), false);
        p.mark(None, false);
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            [(None, false), (Some("r1"), false), (Some("r2"), true)]
        );
        assert!(!p.is_empty() && Pairs::default().is_empty());
    }

    #[test]
    fn observations_of_two_readers_unite_and_share_their_texts() {
        let mut a = Observed {
            facts: facts(&[
                (1, "n", None, Some(false), &[("r1", false), ("r3", false)]),
                (2, "n", Some("infra"), None, &[]),
            ]),
            ..Observed::default()
        };
        let b_facts = facts(&[
            (
                1,
                "n",
                Some("worker"),
                Some(true),
                &[("r2", true), ("r3", true)],
            ),
            (3, "m", None, None, &[("r1", false)]),
        ]);
        let r2 = Arc::clone(
            b_facts[&(1, Arc::from("n"))].pairs.0[0]
                .0
                .as_ref()
                .expect("r2"),
        );
        a.absorb(Observed {
            facts: b_facts,
            ..Observed::default()
        });
        let expected = facts(&[
            (
                1,
                "n",
                Some("worker"),
                Some(true),
                &[("r1", false), ("r2", true), ("r3", true)],
            ),
            (2, "n", Some("infra"), None, &[]),
            (3, "m", None, None, &[("r1", false)]),
        ]);
        assert_eq!(a.facts, expected);
        let united = &a.facts[&(1, Arc::from("n"))].pairs.0[1].0;
        assert!(
            united.as_ref().is_some_and(|t| Arc::ptr_eq(t, &r2)),
            "a resource id new to the node is the other's text, not a copy"
        );
    }

    #[test]
    fn roles_fold_over_days_as_koku_derives_them() {
        let side = SideInputs::default();
        let f = facts(&[
            (1, "a", None, Some(false), &[("r", false)]),
            (2, "a", None, None, &[("r", true)]),
            (1, "b", None, Some(true), &[("r", false)]),
            (1, "c", None, None, &[("r", false)]),
            (3, "d", Some("infra"), None, &[]),
            (1, "e", None, Some(false), &[("r1", true), ("r2", false)]),
        ]);
        let roles = resolve_roles(&f, &side);
        assert_eq!(roles.get("a").map(String::as_str), Some("master"));
        assert_eq!(roles.get("b").map(String::as_str), Some("infra"));
        assert_eq!(roles.get("c"), None, "no node_labels rows: no derived role");
        assert_eq!(roles.get("d").map(String::as_str), Some("infra"));
        assert_eq!(roles.get("e").map(String::as_str), Some("worker"));
    }

    #[test]
    fn a_role_change_affects_the_days_the_node_had_rows() {
        let f = facts(&[
            (1, "a", None, Some(false), &[("r", false)]),
            (2, "a", None, Some(false), &[]),
            (3, "a", None, None, &[("r", true)]),
        ]);
        let old = BTreeMap::from([("a".to_string(), "worker".to_string())]);
        let new = BTreeMap::from([("a".to_string(), "master".to_string())]);
        let days = BTreeSet::from([3]);
        assert_eq!(role_change_days(&old, &new, &f, &days), BTreeSet::from([1]));
        let infra = BTreeMap::from([("a".to_string(), "infra".to_string())]);
        assert!(role_change_days(&infra, &new, &f, &days).is_empty());
    }

    #[test]
    fn state_round_trips_through_json() {
        let f = facts(&[(1, "a", Some("worker"), Some(true), &[("r", true)])]);
        let s = State::new(
            "s".into(),
            Selection::default(),
            vec![],
            &f,
            BTreeMap::new(),
        );
        let back = State::from_json(&s.to_json()).unwrap();
        assert_eq!(back.facts(), f);
    }
}
