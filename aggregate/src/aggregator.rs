//! The run protocol: what a caller does with an [`Aggregator`], in order.
//!
//! The shape is DataFusion's grouped aggregation (intern → update → emit):
//!
//! 1. [`Aggregator::input_schema`] says which columns of each [`Table`] to read.
//! 2. [`Aggregator::push`] takes a batch of a table: label tables are folded at once, usage
//!    batches are interned (sequential, cheap) and folded a window at a time, in parallel
//!    on the pool given with [`Aggregator::with_pool`] (sequentially without one). Every batch
//!    is checked against the table's input schema; a mismatch is an error, never a panic.
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
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, TimeUnit};
use rayon::prelude::*;

use crate::error::{AggregateError, Result};
use crate::finished::FinishedDays;
use crate::pods::{
    day_of, times, Aggregator, PodPartial, PodPass, PreparedBatch, Summary,
    NAMESPACE_LABEL_COLUMNS, NODE_LABEL_COLUMNS, POD_CAPACITY_COLUMNS, POD_USAGE_COLUMNS,
};
use crate::storage::{PreparedStorage, StoragePartial, STORAGE_USAGE_COLUMNS};

/// Rows per parallel fold task: a window of few large batches still keeps every worker busy.
const FOLD_ROWS: usize = 16_384;

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
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Table::NodeLabels => NODE_LABEL_COLUMNS,
            Table::NamespaceLabels => NAMESPACE_LABEL_COLUMNS,
            Table::Pods(PodPass::Capacity) => POD_CAPACITY_COLUMNS,
            Table::Pods(_) => POD_USAGE_COLUMNS,
            Table::Storage => STORAGE_USAGE_COLUMNS,
        }
    }
}

/// Where an aggregate spent its time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Interning labels and strings, and folding label tables (the sequential part).
    pub intern: Duration,
    /// Folding and merging usage batches, and taking finished days out.
    pub fold: Duration,
}

/// What the protocol keeps between calls: the pool, the windows not yet folded, and what the
/// aggregator was told about the files.
#[derive(Debug)]
pub(crate) struct Protocol {
    pool: Option<Arc<rayon::ThreadPool>>,
    /// Prepared pod batches per pass (usage, capacity, both), folded when `window` are held.
    pods: [Vec<PreparedBatch>; 3],
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
            Table::NodeLabels => self.add_node_labels(&batch)?,
            Table::NamespaceLabels => self.add_namespace_labels(&batch)?,
            Table::Pods(pass) => {
                let prepared = self.prepare(batch, pass)?;
                self.protocol.timings.intern += t.elapsed();
                let slot = pass_slot(pass);
                self.protocol.pods[slot].push(prepared);
                if self.protocol.pods[slot].len() >= self.protocol.window() {
                    let window = std::mem::take(&mut self.protocol.pods[slot]);
                    self.fold_pods(&window)?;
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
    /// [`FinishedDays`]), or `None` when no new day is complete. Their state is freed; the
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
        Ok(Some(days))
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
    pub fn finish(mut self) -> Result<Summary> {
        self.flush()?;
        let t = Instant::now();
        let stats = self.stats();
        if stats.pod_items + stats.pod_items_without_node == 0 && stats.capacity_items == 0 {
            return Err(AggregateError::NoLineItems {
                start: self.run.start,
                end: self.run.end,
                source_uuid: self.run.source_uuid.clone(),
            });
        }
        let mut summary = self.finish_rows();
        self.protocol.timings.fold += t.elapsed();
        summary.timings = self.protocol.timings;
        Ok(summary)
    }

    /// Folds every window still held.
    pub(crate) fn flush(&mut self) -> Result<()> {
        for slot in 0..3 {
            let window = std::mem::take(&mut self.protocol.pods[slot]);
            if !window.is_empty() {
                self.fold_pods(&window)?;
            }
        }
        let window = std::mem::take(&mut self.protocol.storage);
        if !window.is_empty() {
            self.fold_storage(&window)?;
        }
        Ok(())
    }

    /// Folds prepared pod batches (on the pool, if any) and merges the result. Batches are
    /// folded independently and sums are exact, so any window and thread count gives the
    /// same result.
    fn fold_pods(&mut self, prepared: &[PreparedBatch]) -> Result<()> {
        let t = Instant::now();
        let this = &*self;
        let items: Vec<(&PreparedBatch, Range<usize>)> = prepared
            .iter()
            .flat_map(|p| {
                (0..p.num_rows())
                    .step_by(FOLD_ROWS)
                    .map(move |start| (p, start..(start + FOLD_ROWS).min(p.num_rows())))
            })
            .collect();
        let partial = match &self.protocol.pool {
            Some(pool) => pool.install(|| {
                // Each worker folds its items straight into one partial; partials are merged
                // only where rayon split the work.
                items
                    .into_par_iter()
                    .try_fold(PodPartial::default, |mut acc, (p, rows)| {
                        this.fold(p, rows, &mut acc).map(|()| acc)
                    })
                    .try_reduce(PodPartial::default, |mut a, b| {
                        a.absorb(b, &this.strings);
                        Ok(a)
                    })
            })?,
            None => {
                let mut acc = PodPartial::default();
                for (p, rows) in items {
                    this.fold(p, rows, &mut acc)?;
                }
                acc
            }
        };
        self.merge(partial);
        self.protocol.timings.fold += t.elapsed();
        Ok(())
    }

    /// Folds prepared storage batches (on the pool, if any) and merges the result.
    fn fold_storage(&mut self, prepared: &[PreparedStorage]) -> Result<()> {
        let t = Instant::now();
        let this = &*self;
        let partial = match &self.protocol.pool {
            Some(pool) => pool.install(|| {
                prepared
                    .par_iter()
                    .map(|p| this.partial_storage(p))
                    .try_reduce(StoragePartial::default, |mut a, b| {
                        a.absorb(b);
                        Ok(a)
                    })
            })?,
            None => {
                let mut acc = StoragePartial::default();
                for p in prepared {
                    acc.absorb(this.partial_storage(p)?);
                }
                acc
            }
        };
        self.merge_storage(partial);
        self.protocol.timings.fold += t.elapsed();
        Ok(())
    }
}

/// Checks that `batch` holds every column `table` needs, time and numbers with the reader's
/// canonical types (text columns are checked where they are interned).
fn check_schema(table: Table, batch: &RecordBatch) -> Result<()> {
    let schema = batch.schema();
    for &name in table.columns() {
        let field = schema
            .field_with_name(name)
            .map_err(|_| AggregateError::MissingColumn { column: name })?;
        let expected = match name {
            "interval_start" => Some(DataType::Timestamp(TimeUnit::Second, None)),
            "namespace" | "node" | "pod" | "resource_id" | "node_role" => None,
            _ if name.ends_with("_labels") => None,
            "persistentvolumeclaim" | "persistentvolume" | "storageclass"
            | "csi_volume_handle" | "csi_driver" => None,
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
fn first_day(batch: &RecordBatch) -> Result<Option<i32>> {
    Ok(arrow::compute::min(times(batch)?).map(day_of))
}

/// `2025-10-03` for a day number.
fn day_text(day: i32) -> String {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(i64::from(day))))
        .map_or_else(|| format!("day {day}"), |d| d.to_string())
}
