//! The run protocol: what a caller does with an [`Aggregator`], in order.
//!
//! The shape is DataFusion's grouped aggregation (intern → update → emit):
//!
//! 1. [`Aggregator::input_schema`] says which columns of each [`Table`] to read.
//! 2. [`Aggregator::push`] takes a batch of a table: label tables are folded at once, usage
//!    batches are interned (sequential, cheap) and folded a window at a time, in parallel
//!    on the pool given with [`Aggregator::with_pool`] (sequentially without one). A pod
//!    window folds on the pool while the caller pushes the next, which is interned
//!    meanwhile. Every batch is checked against the table's input schema; a mismatch is an
//!    error, never a panic.
//! 3. The aggregator is told when days are complete: either the first day of every file it
//!    will be given ([`Aggregator::expect_files`]) and then each file's end
//!    ([`Aggregator::file_done`]), or directly ([`Aggregator::close_days_before`]).
//!    [`Aggregator::emit_ready`] then hands out the complete days not yet handed out, as
//!    compact [`FinishedDays`], and frees their state: a run holds only the days being read.
//!    A batch holding rows of a day already handed out is refused (the caller's word on the
//!    files was wrong; folding it would count those rows twice).
//! 4. [`Aggregator::finish`] returns the rows of the days not yet emitted and every
//!    unallocated row (node roles depend on the whole range), or an error when the run saw
//!    no pod_usage line item at all.
//!
//! Callers that run their own threads use the trio behind `push` instead:
//! [`Aggregator::prepare`] → [`Aggregator::partial`] (pure, any thread) →
//! [`Aggregator::merge`], and the same for storage ([`Aggregator::prepare_storage`],
//! [`Aggregator::partial_storage`], [`Aggregator::merge_storage`]); steps 3 and 4 are the same.

use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use hashbrown::HashMap;
use ocpagg_labels::{LabelSetId, MergedSets};
use rayon::prelude::*;

use crate::config::{RunInfo, SideInputs};
use crate::error::{AggregateError, Result};
use crate::finished::FinishedDays;
use crate::input::{check_schema, first_day};
pub use crate::input::{PodPass, Table};
use crate::interner::{FoldView, Interner};
use crate::labels::LabelTables;
use crate::order::sort_rows;
use crate::output::SummaryRow;
use crate::pods::{DayCapacity, GroupKey, PodAcc, PodPartial, PreparedBatch};
use crate::roles::NodeRoles;
use crate::storage::{PreparedStorage, StoragePartial};
use crate::strings::StringId;
use crate::unallocated::Unallocated;

/// Rows per parallel fold task: a window of few large batches still keeps every worker busy.
const FOLD_ROWS: usize = 16_384;
/// Row label maps kept from one day to the next (the same pods carry the same labels every
/// day); beyond this many, a cache is cleared after a day's rows are built.
const MERGED_LABELS_KEPT: usize = 1 << 15;

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

/// The rows of a finished aggregate.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Rows in output order.
    pub rows: Vec<SummaryRow>,
    /// Counters.
    pub stats: AggregateStats,
    /// Where the aggregate spent its time.
    pub timings: Timings,
}

/// The aggregate stage of one run. See the module docs for the calling sequence.
#[derive(Debug)]
pub struct Aggregator {
    run: RunInfo,
    side: SideInputs,
    /// The texts and label sets every concern shares.
    pub(crate) interner: Interner,
    /// Node and namespace labels of the days being read.
    tables: LabelTables,
    /// Label maps of Pod rows (node ⊕ namespace ⊕ pod labels), in their own id space.
    pod_row_labels: MergedSets,
    /// Label maps of Storage rows (node ⊕ namespace ⊕ volume ⊕ claim labels), apart from
    /// the Pod rows' so that both kinds of rows of a day can be built at once.
    storage_row_labels: MergedSets,
    /// Pod groups, capacity and placements of the days being read.
    pods: PodPartial,
    /// Claims of the days being read.
    storage: StoragePartial,
    /// What the unallocated rows need of the days already finished.
    unallocated: Unallocated,
    /// What derived node roles need.
    node_roles: NodeRoles,
    /// The run protocol's state ([`crate::aggregator`]).
    protocol: Protocol,
}

impl Aggregator {
    /// A new, empty aggregate for one run.
    pub fn new(run: RunInfo, side: SideInputs) -> Self {
        let interner = Interner::new(side.enabled_keys.clone());
        Self {
            run,
            side,
            interner,
            tables: LabelTables::default(),
            pod_row_labels: MergedSets::new(),
            storage_row_labels: MergedSets::new(),
            pods: PodPartial::default(),
            storage: StoragePartial::default(),
            unallocated: Unallocated::default(),
            node_roles: NodeRoles::default(),
            protocol: Protocol::default(),
        }
    }

    /// The run this aggregate is for.
    pub fn run(&self) -> &RunInfo {
        &self.run
    }

    /// The side inputs, to change before [`Aggregator::finish`] what only the unallocated
    /// rows use ([`SideInputs::resolved_node_roles`], known to an incremental run once every
    /// file is read).
    pub fn side_mut(&mut self) -> &mut SideInputs {
        &mut self.side
    }

    /// Counters so far.
    pub fn stats(&self) -> AggregateStats {
        AggregateStats {
            pod_items: self.pods.pod_items,
            pod_items_without_node: self.pods.without_node,
            capacity_items: self.pods.capacity_items,
            node_label_items: self.tables.node_items,
            namespace_label_items: self.tables.namespace_items,
            storage_items: self.storage.items,
            label_strings_parsed: self.interner.labels.strings_parsed(),
        }
    }

    /// Interns a pod_usage batch's dictionary values (sequential, cheap): the first step of
    /// the trio for callers with threads of their own (`push` does all three).
    ///
    /// # Errors
    ///
    /// A column of the pass is missing or not text, or a label text is not a JSON object.
    pub fn prepare(&mut self, batch: RecordBatch, pass: PodPass) -> Result<PreparedBatch> {
        PreparedBatch::new(batch, pass, &mut self.interner)
    }

    /// Folds one prepared batch into a partial aggregate. Pure: safe to run for many batches
    /// at once on a thread pool.
    ///
    /// # Errors
    ///
    /// A column the fold reads is missing or of another type.
    pub fn partial(&self, prepared: &PreparedBatch) -> Result<PodPartial> {
        let mut out = PodPartial::default();
        out.fold(prepared, 0..prepared.num_rows(), &self.interner.fold_view())?;
        Ok(out)
    }

    /// Adds a partial aggregate into the running state.
    pub fn merge(&mut self, partial: PodPartial) {
        self.pods.absorb(partial, self.interner.strings.texts());
    }

    /// Interns a storage_usage batch's dictionary values and label strings (sequential,
    /// cheap), as [`Aggregator::prepare`] does for pods.
    ///
    /// # Errors
    ///
    /// As [`Aggregator::prepare`].
    pub fn prepare_storage(&mut self, batch: RecordBatch) -> Result<PreparedStorage> {
        PreparedStorage::new(batch, &mut self.interner)
    }

    /// Folds one prepared storage batch into a partial aggregate. Pure: safe to run for many
    /// batches at once on a thread pool.
    ///
    /// # Errors
    ///
    /// A column the fold reads is missing or of another type.
    pub fn partial_storage(&self, prepared: &PreparedStorage) -> Result<StoragePartial> {
        StoragePartial::of(prepared)
    }

    /// Adds a partial storage aggregate into the running state.
    pub fn merge_storage(&mut self, partial: StoragePartial) {
        self.storage.absorb(partial);
    }

    /// Builds the Pod and Storage rows of every day up to `last_day` (days since 1970-01-01)
    /// and frees those days' state, the rows left compact and unsorted ([`FinishedDays`]).
    ///
    /// Called once every line item of those days has been merged: a run then holds only the
    /// days still being read, whatever the length of the month. Unallocated rows need node
    /// roles, which depend on the whole range, so they come last; what they need of a
    /// finished day is kept (a few numbers per node and day). With a pool, the Pod rows and
    /// the Storage rows are built at once (the pool is otherwise idle here: nothing is
    /// folding while a day is taken out).
    ///
    /// Every prepared batch must be folded first: the names that only matter within a day
    /// (pods, claims) are forgotten here, and a [`PreparedBatch`] or [`PreparedStorage`] kept
    /// across this call may refer to ids given to other names.
    pub(crate) fn take_days(&mut self, last_day: i32) -> FinishedDays {
        let placements = self.pods.take_placements(last_day);
        // The Pod rows and the Storage rows of the days share nothing they change (each has
        // its own row label maps).
        let mut pods = || {
            let days = PodDays::take(
                &mut self.pods,
                last_day,
                &self.tables,
                &self.interner,
                &mut self.pod_row_labels,
                &self.side,
            );
            let strings = &self.interner.strings;
            self.unallocated.note(&days.groups, &days.capacity, strings);
            self.node_roles
                .note_placements(placements.iter().map(|p| (p.1, p.3, p.4)), strings);
            days
        };
        let mut storage = || {
            self.storage.take_rows(
                last_day,
                &placements,
                &self.tables,
                &self.interner,
                &mut self.storage_row_labels,
                &self.side,
            )
        };
        let (pods, storage) = match &self.protocol.pool {
            Some(pool) => pool.install(|| rayon::join(pods, storage)),
            None => (pods(), storage()),
        };
        self.tables.end_days(last_day);
        self.interner.end_days(
            self.pods
                .short_lived_ids()
                .chain(self.storage.short_lived_ids()),
        );
        // The finished days keep their JSON; their row label ids are not used past here.
        self.pod_row_labels.clear_if_over(MERGED_LABELS_KEPT);
        self.storage_row_labels.clear_if_over(MERGED_LABELS_KEPT);
        let PodDays {
            groups,
            capacity,
            texts,
            labels,
            categories,
        } = pods;
        FinishedDays::new(groups, storage, texts, labels, categories, capacity)
    }

    /// Hands the remaining rows to `each` in parts of whole days, days ascending, each part
    /// in output order. The Pod and Storage rows of the days not taken yet are built at once
    /// (they are held anyway): one part holds them with the unallocated rows up to their
    /// last day. The unallocated rows of the other days, already handed out, come a day at a
    /// time. Stops at the first error of `each`.
    pub(crate) fn finish_days<E>(
        &mut self,
        mut each: impl FnMut(Vec<SummaryRow>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut rows = self.take_days(i32::MAX).into_rows();
        let mut unallocated = std::mem::take(&mut self.unallocated);
        let derived = self.node_roles.derived();
        let (from_data, strings, side) = (&self.pods.roles, &self.interner.strings, &self.side);
        if let Some(last) = rows.iter().map(|r| r.day).max() {
            unallocated
                .take_through(last)
                .rows(from_data, &derived, strings, side, &mut rows);
            sort_rows(&mut rows);
            each(rows)?;
        }
        while let Some(day) = unallocated.take_first_day() {
            let mut rows = Vec::new();
            day.rows(from_data, &derived, strings, side, &mut rows);
            sort_rows(&mut rows);
            each(rows)?;
        }
        Ok(())
    }
}

/// Where an aggregate spent its time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Interning labels and strings, and folding label tables (the sequential part).
    pub intern: Duration,
    /// Folding and merging usage batches, and taking finished days out: the calling
    /// thread's time (with a pool, a pod window's fold counts only while the caller waits
    /// for it).
    pub fold: Duration,
}

/// What the protocol keeps between calls: the pool, the windows not yet folded, and what the
/// aggregator was told about the files.
#[derive(Debug)]
pub(crate) struct Protocol {
    pool: Option<Arc<rayon::ThreadPool>>,
    /// Prepared pod batches per pass (usage, capacity, both), folded when `window` are held.
    pods: [Vec<PreparedBatch>; 3],
    /// The pod window folding on the pool, if any.
    folding: Option<Folding>,
    storage: Vec<PreparedStorage>,
    /// The first day of each expected file, in the caller's order, and whether it is done.
    first_days: Vec<i32>,
    done: Vec<bool>,
    /// The first expected file not done.
    first_open: usize,
    /// Days up to this one are complete ([`Aggregator::close_days_before`]).
    closed_through: i32,
    /// Days up to this one have been handed out.
    finished_through: i32,
    timings: Timings,
}

impl Default for Protocol {
    fn default() -> Self {
        Self {
            pool: None,
            pods: Default::default(),
            folding: None,
            storage: Vec::new(),
            first_days: Vec::new(),
            done: Vec::new(),
            first_open: 0,
            closed_through: i32::MIN,
            finished_through: i32::MIN,
            timings: Timings::default(),
        }
    }
}

impl Protocol {
    /// Batches held per table before they are folded: twice the workers, so every worker has
    /// work while memory stays bounded (batches × batch size).
    fn window(&self) -> usize {
        2 * self.pool.as_ref().map_or(1, |p| p.current_num_threads())
    }

    /// The last complete day, from the files and from explicit closing.
    fn ready_through(&self) -> i32 {
        let from_files = if self.first_days.is_empty() {
            i32::MIN
        } else {
            // Days before the first day an unfinished file may hold are complete.
            self.first_days
                .get(self.first_open)
                .map_or(i32::MAX, |&first| first.saturating_sub(1))
        };
        from_files.max(self.closed_through)
    }
}

fn pass_slot(pass: PodPass) -> usize {
    match pass {
        PodPass::Usage => 0,
        PodPass::Capacity => 1,
        PodPass::Both => 2,
    }
}

impl Aggregator {
    /// The columns to read from `table` (a projection for the reader). Batches given to
    /// [`Aggregator::push`] must hold them, with the reader's canonical types.
    pub fn input_schema(table: Table) -> &'static [&'static str] {
        table.columns()
    }

    /// Folds usage batches on `pool` (data-parallel work on batches already held; the
    /// aggregator never blocks on anything else). Without a pool they are folded on the
    /// calling thread. The rows are the same either way.
    #[must_use]
    pub fn with_pool(mut self, pool: Arc<rayon::ThreadPool>) -> Self {
        self.protocol.pool = Some(pool);
        self
    }

    /// Adds a batch of `table`. Label tables are folded at once; usage batches are interned
    /// and folded with the others of their window.
    ///
    /// # Errors
    ///
    /// A batch that lacks a column of [`Aggregator::input_schema`] or holds it with another
    /// type, a label text that is not a JSON object, or a batch with rows of a day already
    /// handed out by [`Aggregator::emit_ready`].
    pub fn push(&mut self, table: Table, batch: RecordBatch) -> Result<()> {
        check_schema(table, &batch)?;
        let finished = self.protocol.finished_through;
        if finished != i32::MIN {
            if let Some(day) = first_day(&batch)?.filter(|&d| d <= finished) {
                return Err(AggregateError::DayFinished { day: day_text(day) });
            }
        }
        let t = Instant::now();
        match table {
            Table::NodeLabels => {
                self.tables
                    .add_node_labels(&batch, &mut self.interner, &mut self.node_roles)?
            }
            Table::NamespaceLabels => self
                .tables
                .add_namespace_labels(&batch, &mut self.interner)?,
            Table::Pods(pass) => {
                let prepared = self.prepare(batch, pass)?;
                self.protocol.timings.intern += t.elapsed();
                let slot = pass_slot(pass);
                self.protocol.pods[slot].push(prepared);
                if self.protocol.pods[slot].len() >= self.protocol.window() {
                    let window = std::mem::take(&mut self.protocol.pods[slot]);
                    self.fold_pods(window)?;
                }
                return Ok(());
            }
            Table::Storage => {
                let prepared = self.prepare_storage(batch)?;
                self.protocol.timings.intern += t.elapsed();
                self.protocol.storage.push(prepared);
                if self.protocol.storage.len() >= self.protocol.window() {
                    let window = std::mem::take(&mut self.protocol.storage);
                    self.fold_storage(&window)?;
                }
                return Ok(());
            }
        }
        self.protocol.timings.intern += t.elapsed();
        Ok(())
    }

    /// Tells the aggregator the files it will be given, by the first day each may hold (days
    /// since 1970-01-01; `i32::MIN` when unknown), in the order the caller numbers them for
    /// [`Aggregator::file_done`]. A day is complete once every file whose first day is not
    /// after it is done. Read the files in this order (by first day) so that days complete
    /// one after the other.
    pub fn expect_files(&mut self, first_days: impl IntoIterator<Item = i32>) {
        self.protocol.first_days.extend(first_days);
        self.protocol
            .done
            .resize(self.protocol.first_days.len(), false);
    }

    /// Every batch of file `index` (in [`Aggregator::expect_files`] order) has been pushed.
    /// An unknown index is ignored.
    pub fn file_done(&mut self, index: usize) {
        let p = &mut self.protocol;
        if let Some(done) = p.done.get_mut(index) {
            *done = true;
        }
        while p.first_open < p.done.len() && p.done[p.first_open] {
            p.first_open += 1;
        }
    }

    /// Every line item of the days before `day` (days since 1970-01-01) has been pushed.
    pub fn close_days_before(&mut self, day: i32) {
        let p = &mut self.protocol;
        p.closed_through = p.closed_through.max(day.saturating_sub(1));
    }

    /// The complete days not yet handed out, with their Pod and Storage rows (compact: see
    /// [`FinishedDays`]), or `None` when no new day with rows is complete. Their state is freed; the
    /// unallocated rows of those days come from [`Aggregator::finish`].
    ///
    /// # Errors
    ///
    /// Folding the batches still held failed (see [`Aggregator::push`]).
    pub fn emit_ready(&mut self) -> Result<Option<FinishedDays>> {
        let last_day = self.protocol.ready_through();
        if last_day <= self.protocol.finished_through {
            return Ok(None);
        }
        self.flush()?;
        let t = Instant::now();
        let days = self.take_days(last_day);
        self.protocol.finished_through = last_day;
        self.protocol.timings.fold += t.elapsed();
        Ok((!days.is_empty()).then_some(days))
    }

    /// Time spent so far.
    pub fn timings(&self) -> Timings {
        self.protocol.timings
    }

    /// The remaining rows: Pod and Storage rows of the days not handed out by
    /// [`Aggregator::emit_ready`], and every unallocated row, sorted in output order.
    ///
    /// # Errors
    ///
    /// The run saw no pod_usage line item ([`AggregateError::NoLineItems`]), or folding the
    /// batches still held failed.
    pub fn finish(self) -> Result<Summary> {
        let mut rows = Vec::new();
        let (stats, timings) = self.finish_each_day(|part| {
            if rows.is_empty() {
                rows = part; // the usual first part: all days not handed out, not copied
            } else {
                rows.extend(part);
            }
            Ok::<_, AggregateError>(())
        })?;
        Ok(Summary {
            rows,
            stats,
            timings,
        })
    }

    /// [`Aggregator::finish`], the rows handed to `each` in parts of whole days (ascending,
    /// each part in output order) instead of collected. The days not handed out by
    /// [`Aggregator::emit_ready`] come in one part; the unallocated rows of the days handed
    /// out come a day at a time, so a caller that writes each part as it comes holds one
    /// day of them rather than the month's. Returns the counters and where the time went
    /// (`each` excluded).
    ///
    /// # Errors
    ///
    /// As [`Aggregator::finish`], and the first error of `each`, which stops the rows.
    pub fn finish_each_day<E: From<AggregateError>>(
        mut self,
        mut each: impl FnMut(Vec<SummaryRow>) -> Result<(), E>,
    ) -> Result<(AggregateStats, Timings), E> {
        self.flush()?;
        let t = Instant::now();
        let stats = self.stats();
        if stats.pod_items + stats.pod_items_without_node == 0 && stats.capacity_items == 0 {
            return Err(AggregateError::NoLineItems {
                start: self.run.start,
                end: self.run.end,
                source_uuid: self.run.source_uuid.clone(),
            }
            .into());
        }
        let mut handed = Duration::ZERO;
        self.finish_days(|rows| {
            let t = Instant::now();
            let done = each(rows);
            handed += t.elapsed();
            done
        })?;
        self.protocol.timings.fold += t.elapsed().saturating_sub(handed);
        Ok((stats, self.protocol.timings))
    }

    /// Folds every window still held, and merges every fold in flight.
    pub(crate) fn flush(&mut self) -> Result<()> {
        for slot in 0..3 {
            let window = std::mem::take(&mut self.protocol.pods[slot]);
            if !window.is_empty() {
                self.fold_pods(window)?;
            }
        }
        self.merge_folded()?;
        let window = std::mem::take(&mut self.protocol.storage);
        if !window.is_empty() {
            self.fold_storage(&window)?;
        }
        Ok(())
    }

    /// Folds a window of prepared pod batches and merges the result. Batches are folded
    /// independently and sums are exact, so any window and thread count gives the same
    /// result.
    ///
    /// With a pool, the window folds there while the caller goes on: the next window is
    /// interned on the calling thread as this one folds (the fold reads a snapshot of the
    /// texts, [`Interner::fold_view`]). The previous window's partial is merged first, so
    /// one window folds at a time (two at once held 20 MiB more at 20M hourly rows, and were
    /// slower). Without a pool, the window folds on the calling thread.
    fn fold_pods(&mut self, window: Vec<PreparedBatch>) -> Result<()> {
        self.merge_folded()?;
        let t = Instant::now();
        let view = self.interner.fold_view();
        match &self.protocol.pool {
            Some(pool) => {
                let (done, folded) = std::sync::mpsc::sync_channel(1);
                pool.spawn(move || {
                    // A panic is carried to the caller, as `ThreadPool::install` would.
                    let partial =
                        panic::catch_unwind(AssertUnwindSafe(|| fold_window(&window, &view)));
                    // The batches are freed before the caller hears of it; the aggregator may
                    // be gone (dropped after an error), with nobody left to tell.
                    drop(window);
                    let _ = done.send(partial);
                });
                self.protocol.folding = Some(folded);
            }
            None => {
                let mut acc = PodPartial::default();
                for p in &window {
                    acc.fold(p, 0..p.num_rows(), &view)?;
                }
                self.merge(acc);
            }
        }
        self.protocol.timings.fold += t.elapsed();
        Ok(())
    }

    /// Waits for the window folding on the pool, if any, and merges its partial.
    fn merge_folded(&mut self) -> Result<()> {
        let Some(folded) = self.protocol.folding.take() else {
            return Ok(());
        };
        let t = Instant::now();
        let partial = match folded.recv() {
            Ok(Ok(partial)) => partial,
            Ok(Err(panicked)) => panic::resume_unwind(panicked),
            // The pool dropped the task unrun: only when the pool itself is torn down.
            Err(_) => Err(AggregateError::FoldLost),
        };
        let merged = partial.map(|partial| self.merge(partial));
        self.protocol.timings.fold += t.elapsed();
        merged
    }

    /// Folds prepared storage batches (on the pool, if any) and merges the result.
    fn fold_storage(&mut self, prepared: &[PreparedStorage]) -> Result<()> {
        let t = Instant::now();
        let partial = match &self.protocol.pool {
            Some(pool) => pool.install(|| {
                prepared.par_iter().map(StoragePartial::of).try_reduce(
                    StoragePartial::default,
                    |mut a, b| {
                        a.absorb(b);
                        Ok(a)
                    },
                )
            })?,
            None => {
                let mut acc = StoragePartial::default();
                for p in prepared {
                    acc.absorb(StoragePartial::of(p)?);
                }
                acc
            }
        };
        self.merge_storage(partial);
        self.protocol.timings.fold += t.elapsed();
        Ok(())
    }
}

/// The Pod groups and capacity of finished days, with the texts and label JSON the groups
/// name and each namespace's cost category.
struct PodDays {
    groups: Vec<(GroupKey, PodAcc)>,
    capacity: DayCapacity,
    texts: HashMap<StringId, Arc<str>>,
    labels: HashMap<LabelSetId, Arc<str>>,
    categories: HashMap<StringId, Option<i32>>,
}

impl PodDays {
    /// Takes the days up to `last_day` out of `pods`. Texts, label JSON and categories are
    /// looked up once per distinct id (ids are dense: a bitmap says which were seen).
    fn take(
        pods: &mut PodPartial,
        last_day: i32,
        tables: &LabelTables,
        interner: &Interner,
        row_labels: &mut MergedSets,
        side: &SideInputs,
    ) -> Self {
        let capacity = pods.take_capacity(last_day);
        let groups = pods.take_groups(last_day, tables, interner, row_labels);
        let strings = &interner.strings;
        let mut texts: HashMap<StringId, Arc<str>> = HashMap::new();
        let mut labels: HashMap<LabelSetId, Arc<str>> = HashMap::new();
        let mut categories: HashMap<StringId, Option<i32>> = HashMap::new();
        let mut seen = vec![false; strings.id_bound()];
        for ((_, namespace, node, label_set), acc) in &groups {
            side.cost_category_of(&mut categories, strings, *namespace);
            for id in [*namespace, *node, acc.resource.unwrap_or(StringId::NULL)] {
                if id.is_null() || std::mem::replace(&mut seen[id.0 as usize], true) {
                    continue;
                }
                if let Some(text) = strings.get(id) {
                    texts.insert(id, Arc::clone(text));
                }
            }
            labels
                .entry(*label_set)
                .or_insert_with(|| Arc::clone(row_labels.json(*label_set)));
        }
        Self {
            groups,
            capacity,
            texts,
            labels,
            categories,
        }
    }
}

/// A window's fold on the pool: its partial, its error, or its panic.
type Folding = Receiver<std::thread::Result<Result<PodPartial>>>;

/// Folds a window on the current rayon pool into one partial.
fn fold_window(window: &[PreparedBatch], view: &FoldView) -> Result<PodPartial> {
    // The rows in parts of at most `FOLD_ROWS`, batch by batch.
    let items: Vec<(&PreparedBatch, Range<usize>)> = window
        .iter()
        .flat_map(|p| {
            (0..p.num_rows())
                .step_by(FOLD_ROWS)
                .map(move |start| (p, start..(start + FOLD_ROWS).min(p.num_rows())))
        })
        .collect();
    // One run of consecutive items per worker, each folded into one partial: a partial holds
    // about all the groups of the day (a window is hours of line items), so merging costs as
    // much per partial as the groups of a day. Left to split adaptively, rayon made several
    // partials per worker and window, and merging them was 13% of the CPU time of a 20M-row
    // hourly month.
    let per_worker = items.len().div_ceil(rayon::current_num_threads()).max(1);
    items
        .par_chunks(per_worker)
        .map(|chunk| {
            let mut acc = PodPartial::default();
            for (p, rows) in chunk {
                acc.fold(p, rows.clone(), view)?;
            }
            Ok(acc)
        })
        .try_reduce(PodPartial::default, |mut a, b| {
            a.absorb(b, &view.texts);
            Ok(a)
        })
}

/// `2025-10-03` for a day number.
fn day_text(day: i32) -> String {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(i64::from(day))))
        .map_or_else(|| format!("day {day}"), |d| d.to_string())
}

#[cfg(test)]
mod tests {
    use arrow::array::RecordBatch;

    use std::sync::Arc;

    use super::Aggregator;
    use crate::error::AggregateError;
    use crate::input::{PodPass, Table, POD_USAGE_COLUMNS};
    use crate::output::SummaryRow;
    use crate::testing::{aggregator, canonical, nums, text, times};

    /// One pod line item at `ts`.
    fn item(ts: i64) -> RecordBatch {
        canonical(
            POD_USAGE_COLUMNS,
            1,
            &[
                ("interval_start", times(&[ts])),
                ("namespace", text(&[Some("ns")])),
                ("node", text(&[Some("n1")])),
                ("pod_usage_cpu_core_seconds", nums(&[3600.0])),
            ],
        )
    }

    #[test]
    fn a_batch_without_a_column_or_with_another_type_is_refused() {
        let mut agg = aggregator();
        let batch = item(0);
        let without = batch.project(&[0, 1]).unwrap();
        let e = agg.push(Table::Pods(PodPass::Both), without).unwrap_err();
        assert!(
            matches!(e, AggregateError::MissingColumn { column: "node" }),
            "{e}"
        );
        let i = batch
            .schema()
            .index_of("pod_usage_cpu_core_seconds")
            .unwrap();
        let mut columns = batch.columns().to_vec();
        columns[i] = text(&[Some("1")]);
        let mut fields: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields[i] = fields[i]
            .clone()
            .with_data_type(columns[i].data_type().clone());
        let wrong =
            RecordBatch::try_new(arrow::datatypes::Schema::new(fields).into(), columns).unwrap();
        let e = agg.push(Table::Pods(PodPass::Both), wrong).unwrap_err();
        assert!(
            matches!(
                e,
                AggregateError::ColumnType {
                    column: "pod_usage_cpu_core_seconds",
                    ..
                }
            ),
            "{e}"
        );
    }

    /// Days are handed out once every file that may hold them is done, each once; a batch of
    /// a day already handed out is refused.
    #[test]
    fn days_complete_as_files_finish() {
        let mut agg = aggregator();
        agg.expect_files([0, 1]);
        agg.push(Table::Pods(PodPass::Both), item(0)).unwrap();
        assert!(agg.emit_ready().unwrap().is_none(), "file 0 is open");
        agg.push(Table::Pods(PodPass::Both), item(86_400)).unwrap();
        agg.file_done(1);
        assert!(agg.emit_ready().unwrap().is_none(), "file 0 is still open");
        agg.file_done(0);
        let days = agg.emit_ready().unwrap().unwrap();
        let rows = days.into_rows();
        assert_eq!(rows.iter().map(|r| r.day).collect::<Vec<_>>(), [0, 1]);
        assert!(agg.emit_ready().unwrap().is_none(), "each day once");
        let e = agg
            .push(Table::Pods(PodPass::Both), item(3600))
            .unwrap_err();
        assert!(e.to_string().contains("1970-01-01"), "{e}");
        // Unallocated rows (one per node and day) come at the end.
        let rest = agg.finish().unwrap().rows;
        assert_eq!(rest.len(), 2);
        assert!(rest.iter().all(|r| r.pod_labels.is_none()));
    }

    /// Batch `b` of twelve (hours 0–5 of days 0 and 1): one line item per node `n0..=nb`.
    /// Node `nk` first comes in batch `k`, with resource `rk`; from batch `k + 2` on it also
    /// names the greater `zk`, which wins. So new names keep arriving while earlier windows
    /// fold, and "greatest wins" compares names interned after a fold started.
    fn hour(b: usize) -> RecordBatch {
        let ts = (b / 6) as i64 * 86_400 + (b % 6) as i64 * 3600;
        let nodes: Vec<String> = (0..=b).map(|k| format!("n{k}")).collect();
        let resources: Vec<String> = (0..=b)
            .map(|k| format!("{}{k}", if b >= k + 2 { "z" } else { "r" }))
            .collect();
        let namespaces: Vec<String> = (0..=b).map(|k| format!("ns{}", k % 3)).collect();
        let usage: Vec<f64> = (0..=b).map(|k| (b * 13 + k) as f64 * 0.5).collect();
        canonical(
            POD_USAGE_COLUMNS,
            b + 1,
            &[
                ("interval_start", times(&vec![ts; b + 1])),
                ("namespace", text(&some(&namespaces))),
                ("node", text(&some(&nodes))),
                ("pod", text(&some(&nodes))),
                ("resource_id", text(&some(&resources))),
                ("pod_usage_cpu_core_seconds", nums(&usage)),
            ],
        )
    }

    fn some(values: &[String]) -> Vec<Option<&str>> {
        values.iter().map(|s| Some(s.as_str())).collect()
    }

    /// Every row of the twelve batches, day 0 handed out between them.
    fn rows_of_hours(mut agg: Aggregator) -> Vec<SummaryRow> {
        let mut rows = Vec::new();
        for b in 0..12 {
            agg.push(Table::Pods(PodPass::Both), hour(b)).unwrap();
            if b == 5 {
                agg.close_days_before(1);
                let mut day = agg.emit_ready().unwrap().unwrap();
                day.sort();
                rows.extend(day.into_rows());
            }
        }
        rows.extend(agg.finish().unwrap().rows);
        rows
    }

    /// Windows folded in parallel on a pool give the rows of folding each batch in turn on
    /// the calling thread, with names first seen in later windows.
    #[test]
    fn folding_on_a_pool_gives_the_rows_of_folding_in_turn() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let pooled = rows_of_hours(aggregator().with_pool(Arc::new(pool)));
        let sequential = rows_of_hours(aggregator());
        assert_eq!(pooled, sequential);
        let resource = |day: i32, node: &str| {
            pooled
                .iter()
                .find(|r| r.day == day && r.node.as_deref() == Some(node) && r.pod_labels.is_some())
                .and_then(|r| r.resource_id.as_deref().map(str::to_string))
        };
        assert_eq!(resource(0, "n0").as_deref(), Some("z0"));
        assert_eq!(
            resource(0, "n5").as_deref(),
            Some("r5"),
            "first seen in the last hour"
        );
        assert_eq!(resource(1, "n9").as_deref(), Some("z9"));
        assert_eq!(resource(1, "n11").as_deref(), Some("r11"));
    }

    /// `finish_each_day` hands out what `finish` returns, in order: the days not handed out
    /// yet in one part (with the unallocated rows up to their last day), then the
    /// unallocated rows of the days handed out, a day at a time. An error of the caller
    /// stops it.
    #[test]
    fn finish_each_day_hands_out_the_rows_of_finish_in_parts_of_days() {
        // The twelve batches, the days before `emitted` handed out.
        let fed = |emitted: i32| {
            let mut agg = aggregator();
            for b in 0..12 {
                agg.push(Table::Pods(PodPass::Both), hour(b)).unwrap();
            }
            agg.close_days_before(emitted);
            agg.emit_ready().unwrap();
            agg
        };
        for (emitted, expected) in [
            (0, vec![vec![0, 1]]),
            (1, vec![vec![0, 1]]),
            (2, vec![vec![0], vec![1]]),
        ] {
            let whole = fed(emitted).finish().unwrap();
            let mut parts: Vec<Vec<SummaryRow>> = Vec::new();
            let (stats, _) = fed(emitted)
                .finish_each_day(|rows| {
                    parts.push(rows);
                    Ok::<_, AggregateError>(())
                })
                .unwrap();
            assert_eq!(stats, whole.stats);
            let days: Vec<Vec<i32>> = parts
                .iter()
                .map(|part| {
                    let mut days: Vec<i32> = part.iter().map(|r| r.day).collect();
                    days.dedup();
                    days
                })
                .collect();
            assert_eq!(days, expected, "days before {emitted} handed out");
            assert_eq!(
                parts.concat(),
                whole.rows,
                "days before {emitted} handed out"
            );
        }
        // Every day handed out: the parts are the days' unallocated rows.
        let mut parts = Vec::new();
        fed(2)
            .finish_each_day(|rows| {
                parts.push(rows);
                Ok::<_, AggregateError>(())
            })
            .unwrap();
        assert!(parts.iter().flatten().all(|r| r.pod_labels.is_none()));

        let mut calls = 0;
        let e = fed(2)
            .finish_each_day(|_| {
                calls += 1;
                Err(AggregateError::MissingColumn { column: "stop" })
            })
            .unwrap_err();
        assert!(matches!(
            e,
            AggregateError::MissingColumn { column: "stop" }
        ));
        assert_eq!(calls, 1);
    }

    #[test]
    fn close_days_before_hands_out_the_days_before() {
        let mut agg = aggregator();
        agg.push(Table::Pods(PodPass::Both), item(0)).unwrap();
        agg.push(Table::Pods(PodPass::Both), item(86_400)).unwrap();
        agg.close_days_before(1);
        let rows = agg.emit_ready().unwrap().unwrap().into_rows();
        assert_eq!(rows.iter().map(|r| r.day).collect::<Vec<_>>(), [0]);
        let e = agg.push(Table::Pods(PodPass::Both), item(0)).unwrap_err();
        assert!(matches!(e, AggregateError::DayFinished { .. }), "{e}");
    }
}
