//! The `run` job: reader threads → bounded channel → aggregate (rayon pool) → bounded channel →
//! writer thread.
//!
//! Only this module creates threads and channels; the stages are plain libraries. The first
//! error wins: it is reported, every channel is dropped so all threads drain and stop, and the
//! sink is dropped unfinished, so nothing is written.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use chrono::NaiveDate;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use ocpagg_aggregate::schema::{summary_schema, summary_schema_with_csi, with_dictionary_texts};
use ocpagg_aggregate::{
    to_record_batch_as, AggregateError, AggregateStats, Aggregator, FinishedDays, SummaryRow, Table,
};
use ocpagg_aggregate::{CostCategory, LikePattern, RunInfo, SideInputs};
use ocpagg_labels::EnabledKeys;
use ocpagg_reader::{
    DataFile, DateRange, FileFooter, IoStats, PlannedFile, Projection, ReportType, ScanPlan,
    Warehouse,
};
use ocpagg_writer::pg::{self, read_side_inputs, Slice, SummaryTable};
use ocpagg_writer::PgTarget;
use ocpagg_writer::{HiveSink, HiveTee, PostgresSink, SummarySink, WriteReport};
use rayon::prelude::*;

use crate::carry_over::{CarryOver, DayFilter, LayoutSink};
use crate::config::{Job, Output};
use crate::incremental::{
    day_date, day_number, day_plan, record, resolve_roles, role_change_days, same_version,
    settings_fingerprint, Diff, IngestedFile, ModeReport, Observed, Selection, State, Widen,
    FOOTER_KEY,
};
use crate::interrupt::{stop_requested, CancelToken};
use crate::progress::{Counters, Progress};

/// Rows per output batch handed to the writer. Summary rows are wide (two label JSON texts
/// and a uuid: about 700 bytes in Arrow), so a full batch is about 3 MB; the batches in flight
/// are the conversion window (one per worker), two in the channel and the writer's. A day of
/// a small cluster fills less than one batch, a day of a large one many, so this size is what
/// the output's share of memory grows to. Measured 2026-12-02 against 8,192: peak RSS at 20M
/// rows 226 -> 211 MiB, wall and CPU time equal within noise (medians of 5 and 9 runs).
const OUTPUT_BATCH_ROWS: usize = 4096;

/// What a run did, for the end-of-run summary.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Line items read, per table (`pod_usage`, `pod_usage (daily)`, ...), after date filtering.
    pub rows_read: BTreeMap<String, u64>,
    /// Files read.
    pub files_read: u64,
    /// Whether Pod sums came from koku's daily roll-up.
    pub pods_from_daily: bool,
    /// Whether Storage sums came from koku's daily roll-up (false also when there is no
    /// storage data).
    pub storage_from_daily: bool,
    /// The aggregate's counters.
    pub aggregate: AggregateStats,
    /// What the sink wrote.
    pub write: WriteReport,
    /// Whether the output is a database table (rows were replaced, not a file written).
    pub to_database: bool,
    /// Wall time of the whole run.
    pub wall: Duration,
    /// Time reader threads spent opening and decoding (summed over threads).
    pub read_time: Duration,
    /// Time spent interning labels and strings (sequential part of the aggregate).
    pub labels_time: Duration,
    /// Time spent folding and merging batches, and building rows.
    pub aggregate_time: Duration,
    /// Time the conversion thread spent sorting rows and building record batches.
    pub convert_time: Duration,
    /// Time the writer spent encoding and writing.
    pub write_time: Duration,
    /// Requests and bytes, when the warehouse is in S3.
    pub io: Option<IoStats>,
    /// With a Hive copy (`write.hive`): the Trino call that makes its partitions visible.
    pub hive_sync_call: Option<String>,
    /// The run's identity as written into the rows (the database may have supplied the
    /// report period and the cluster).
    pub run: Option<RunInfo>,
    /// Full, incremental or unchanged, and why (issue #20).
    pub mode: Option<ModeReport>,
}

impl RunReport {
    /// Input line items per second of wall time.
    pub fn rows_per_second(&self) -> f64 {
        self.rows_read.values().sum::<u64>() as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// One file to read (in the plan's order), and which pass of the run reads it.
struct ReadJob {
    file: DataFile,
    table: Table,
    /// Position in read order.
    index: usize,
    footer: FileFooter,
    projection: Projection,
}

impl ReadJob {
    fn new(index: usize, planned: PlannedFile) -> Self {
        ReadJob {
            file: planned.file,
            table: planned.pass.into(),
            index,
            footer: planned.footer,
            projection: planned.projection,
        }
    }
}

/// The error text of a month without hourly pod_usage files: it names the prefix looked at.
pub(crate) fn no_pod_files(warehouse: &Warehouse, job: &Job) -> String {
    let prefix = Warehouse::table_prefix(&job.request, ReportType::PodUsage, false);
    ocpagg_reader::ReadError::NoPodFiles {
        org: job.request.org.clone(),
        source_uuid: job.request.source.clone(),
        year: job.request.year,
        month: job.request.month,
        location: warehouse.describe(&prefix),
    }
    .to_string()
}

enum Msg {
    Batch {
        table: Table,
        file: Arc<str>,
        batch: RecordBatch,
    },
    /// Every batch of the job with this index has been sent.
    FileDone(usize),
    Failed(anyhow::Error),
}

/// Finished rows, from the aggregate to the conversion thread.
enum Rows {
    /// Finished days, compact and unsorted (the conversion thread sorts and builds them).
    Days(Box<FinishedDays>),
    /// Rows in output order.
    Sorted(Vec<SummaryRow>),
    Done,
}

/// Record batches, from the conversion thread to the writer.
enum Out {
    Batch(RecordBatch),
    /// Building the batches failed: the writer aborts with this error.
    Failed(anyhow::Error),
    Done,
}

/// Runs one job to its output. Returns an error (and writes nothing) on any failure. A signal
/// stops it when the process installed the handlers ([`crate::interrupt::install`]).
pub fn run(job: &Job) -> Result<RunReport> {
    run_with(job, &CancelToken::new())
}

/// [`run`], which `cancel` also stops: the run then fails with
/// [`Cancelled`](crate::interrupt::Cancelled) (or the error of a database statement the
/// cancellation interrupted) and writes nothing, as after a signal.
pub fn run_with(job: &Job, cancel: &CancelToken) -> Result<RunReport> {
    let started = Instant::now();
    // An incremental run that finds node roles changed starts again with the days whose
    // unallocated rows they change (rare: a node's first API-server pod, a role's first
    // appearance); the days only grow, so this ends.
    let mut extra = BTreeSet::new();
    loop {
        match run_once(job, cancel, &extra, started) {
            Err(e) => match e.downcast::<Widen>() {
                Ok(Widen(days)) if !days.is_subset(&extra) => {
                    tracing::info!(
                        days = days.len(),
                        "Node roles changed; recomputing the days of their unallocated rows too."
                    );
                    extra.extend(days);
                }
                Ok(widen) => return Err(anyhow!("internal error: {widen}")),
                Err(e) => return Err(e),
            },
            Ok(mut report) => {
                if let Some(m) = report.mode.as_mut().filter(|_| !extra.is_empty()) {
                    m.reason = format!(
                        "{}; node roles changed, which affects {} more day(s)",
                        m.reason,
                        extra.len()
                    );
                }
                return Ok(report);
            }
        }
    }
}

/// What a run reads and replaces, decided before any data is read (issue #20).
struct Decision {
    /// The affected days of an incremental run; `None`: every day of the range.
    days: Option<BTreeSet<i32>>,
    /// The files to read; `None`: every file of the plan.
    read: Option<HashSet<String>>,
    report: ModeReport,
    /// The state read, when there was one of the same settings.
    prior: Option<State>,
    /// Its generation (PostgreSQL).
    generation: Option<i64>,
}

/// The state, the listing and what the run decided, shared with the aggregate (which
/// completes the new state) and the sink (which stores it).
struct StateContext {
    decision: Decision,
    fingerprint: String,
    selection: Selection,
    listing: Vec<ocpagg_reader::DataFile>,
    /// Whether the output keeps a state at all.
    keeps_state: bool,
    observed: Mutex<Observed>,
    /// The new state, set by the aggregate before it hands over the last rows.
    slot: Arc<Mutex<Option<State>>>,
}

/// What `run` and `status` both start from: the output prepared, the job as the database
/// completed it (report period, cluster), and the month's listing compared with the state.
struct Compared {
    prepared: Prepared,
    job: Job,
    warehouse: Warehouse,
    fingerprint: String,
    listing: ocpagg_reader::Listing,
    decision: Decision,
}

/// [`prepare_output`] (`create_tables`, `lock` as there), then the listing and [`decide`].
fn compare_with_state(
    job: &Job,
    create_tables: bool,
    lock: Option<&CancelToken>,
) -> Result<Compared> {
    let prepared = prepare_output(job, create_tables, lock)?;
    let job = Job {
        run: prepared.run.clone(),
        ..job.clone()
    };
    let warehouse = Warehouse::open_with(&job.warehouse, &job.store)?;
    let fingerprint = settings_fingerprint(&job.run, &prepared.side);
    let listing = warehouse.list(&job.request)?;
    let decision = decide(&job, &prepared, &fingerprint, &listing);
    Ok(Compared {
        prepared,
        job,
        warehouse,
        fingerprint,
        listing,
        decision,
    })
}

fn run_once(
    job: &Job,
    cancel: &CancelToken,
    extra: &BTreeSet<i32>,
    started: Instant,
) -> Result<RunReport> {
    // Open the sink first: an unwritable output should fail before minutes of reading, and
    // a database also supplies side inputs.
    // Set once the writer starts finishing (Hive publication, then commit): a signal no
    // longer cancels the database session then, so the two end up both replaced.
    let finishing = Arc::new(AtomicBool::new(false));
    let Compared {
        prepared,
        job,
        warehouse,
        fingerprint,
        listing,
        mut decision,
    } = compare_with_state(job, job.incremental, Some(cancel))?;
    let job = &job;
    let range = (day_number(job.run.start), day_number(job.run.end));
    let diff = decision.report.files.clone();
    if decision.prior.is_some() && diff.is_empty() && extra.is_empty() {
        tracing::info!("No file changed since the last run; nothing to do.");
        return Ok(RunReport {
            run: Some(job.run.clone()),
            to_database: matches!(job.output, Output::Postgres { .. }),
            mode: Some(ModeReport {
                mode: "unchanged",
                reason: "no file is new, changed or gone since the state".into(),
                files: diff,
                affected_days: Vec::new(),
            }),
            wall: started.elapsed(),
            io: warehouse.is_remote().then(|| warehouse.io_stats()),
            ..Default::default()
        });
    }
    // The files, their columns and their order; every footer is read once, here, and the
    // read reuses them.
    let plan = ScanPlan::build(&warehouse, &job.request, &Aggregator::needs())?;
    let selection = Selection::of(&plan);
    if let Some(prior) = &decision.prior {
        if prior.selection != selection {
            decision.days = None;
            decision.read = None;
            decision.prior = None;
            decision.report.mode = "full";
            decision.report.reason =
                "koku's choice between hourly and daily files changed since the state".into();
        } else {
            let planned = day_plan(&prior.files, &diff, &plan, range, extra);
            decision.days = Some(planned.days);
            decision.read = Some(planned.read);
        }
    }
    decision.report.affected_days = match &decision.days {
        Some(days) => days.iter().map(|d| day_date(*d)).collect(),
        None => job
            .run
            .start
            .iter_days()
            .take_while(|d| *d <= job.run.end)
            .collect(),
    };
    tracing::info!(
        mode = decision.report.mode,
        reason = %decision.report.reason,
        new = diff.new.len(),
        changed = diff.changed.len(),
        gone = diff.gone.len(),
        days = decision.report.affected_days.len(),
        "Run planned."
    );
    let slot: Arc<Mutex<Option<State>>> = Arc::default();
    let keeps_state = prepared.keeps_state;
    let side = prepared.side.clone();
    let sink = open_sink(job, prepared, &decision, &slot, &finishing, cancel)?;
    let sink = match &job.hive_output {
        Some(url) => open_hive(job, url, sink, decision.days.as_ref())?,
        None => sink,
    };
    // Files read for an affected day may hold other days: only the affected days' rows go
    // to the outputs.
    let sink: Box<dyn SummarySink> = match &decision.days {
        Some(days) => Box::new(DayFilter::new(sink, days.clone())),
        None => sink,
    };
    let schema = output_schema(job, sink.as_ref());
    let context = StateContext {
        decision,
        fingerprint,
        selection,
        listing: listing.files,
        keeps_state,
        observed: Mutex::default(),
        slot,
    };
    let ScanPlan {
        files,
        pods_from_daily,
        storage_from_daily,
    } = plan;
    let files: Vec<PlannedFile> = match &context.decision.read {
        Some(read) => files
            .into_iter()
            .filter(|f| read.contains(f.file.location.as_ref()))
            .collect(),
        None => files,
    };
    let plan = ScanPlan {
        files,
        pods_from_daily,
        storage_from_daily,
    };
    let counters = Arc::new(Counters::default());
    counters
        .files_total
        .store(plan.files.len() as u64, Ordering::Relaxed);
    let progress = Progress::start(Arc::clone(&counters), job.quiet, Duration::from_secs(5));

    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(job.threads)
            .thread_name(|i| format!("ocpagg-agg-{i}"))
            .build()
            .context("cannot start the aggregation thread pool")?,
    );
    let readers = (job.threads / 2).max(1);
    let range = DateRange {
        start: job.run.start,
        end: job.run.end,
    };
    let rows_read: Mutex<BTreeMap<String, u64>> = Mutex::default();
    let read_time: Mutex<Duration> = Mutex::default();
    let cancelled = AtomicBool::new(false);
    let first_days: Vec<i32> = plan.files.iter().map(|f| f.first_day).collect();
    // Fetches (S3 only) in read order, ahead of the readers; stops when dropped.
    let read_ahead = warehouse.read_ahead(&plan.read_specs(Some(range)))?;
    let ScanPlan {
        files,
        pods_from_daily,
        storage_from_daily,
        ..
    } = plan;
    let (job_tx, job_rx) = unbounded::<ReadJob>();
    for (i, planned) in files.into_iter().enumerate() {
        job_tx
            .send(ReadJob::new(i, planned))
            .expect("receiver alive");
    }
    drop(job_tx);
    let (batch_tx, batch_rx) = bounded::<Msg>(2 * job.threads.max(2));
    // A rendezvous: a finished day is handed over only when the converter is free, so at
    // most two days of rows exist at once (one converting, one being built). A slot of one
    // held a third at 20M rows (about 20 MB more peak heap) and gained no time.
    let (rows_tx, rows_rx) = bounded::<Rows>(0);
    let (out_tx, out_rx) = bounded::<Out>(2);

    let mut report = RunReport {
        run: Some(job.run.clone()),
        pods_from_daily,
        storage_from_daily,
        to_database: matches!(job.output, Output::Postgres { .. }),
        mode: Some(context.decision.report.clone()),
        ..Default::default()
    };
    let context = &context;
    let outcome = std::thread::scope(|s| -> Result<()> {
        for i in 0..readers {
            let (job_rx, batch_tx) = (job_rx.clone(), batch_tx.clone());
            let (warehouse, counters, rows_read, read_time, cancelled) =
                (&warehouse, &counters, &rows_read, &read_time, &cancelled);
            let observed = &context.observed;
            std::thread::Builder::new()
                .name(format!("ocpagg-read-{i}"))
                .spawn_scoped(s, move || {
                    read_files(
                        warehouse, job, range, &job_rx, &batch_tx, counters, rows_read, read_time,
                        cancelled, cancel, observed,
                    )
                })
                .context("cannot start a reader thread")?;
        }
        drop(batch_tx);
        let writer = std::thread::Builder::new()
            .name("ocpagg-write".into())
            .spawn_scoped(s, move || write_all(sink, out_rx, &finishing, cancel))
            .context("cannot start the writer thread")?;
        let pool = &pool;
        let converter = std::thread::Builder::new()
            .name("ocpagg-convert".into())
            .spawn_scoped(s, move || convert_rows(job, &schema, pool, rows_rx, out_tx))
            .context("cannot start the conversion thread")?;
        let aggregated = aggregate(
            job,
            side,
            pool,
            &first_days,
            &batch_rx,
            &rows_tx,
            &mut report,
            context,
        );
        if aggregated.is_err() {
            cancelled.store(true, Ordering::Relaxed);
        }
        drop(batch_rx); // readers blocked on send see a closed channel and stop
        drop(rows_tx); // the writer sees no Done and aborts unless we sent it
        let written = writer
            .join()
            .map_err(|_| anyhow!("the writer thread panicked"))?;
        report.convert_time = converter
            .join()
            .map_err(|_| anyhow!("the conversion thread panicked"))?;
        aggregated?;
        let (write, write_time) = written?;
        report.write = write;
        report.write_time = write_time;
        Ok(())
    });
    drop(progress);
    drop(read_ahead);
    outcome?;
    if let Some(hive) = &report.write.hive {
        report.hive_sync_call = Some(hive_sync_call(job));
        tracing::info!(
            location = %hive.location,
            partitions = %hive.describe_partitions(),
            rows = hive.rows,
            "Hive partitions replaced; make them visible with {}.",
            hive_sync_call(job)
        );
    }
    report.io = warehouse.is_remote().then(|| warehouse.io_stats());
    report.rows_read = rows_read.into_inner().expect("no poisoned lock");
    report.read_time = read_time.into_inner().expect("no poisoned lock");
    report.files_read = counters.files_done.load(Ordering::Relaxed);
    report.wall = started.elapsed();
    Ok(report)
}

/// The output before any row is written: a database checked, with the side inputs it
/// supplies and the report period (with the cluster) when not given, and the state recorded
/// with the output.
struct Prepared {
    side: SideInputs,
    run: RunInfo,
    /// The state and its generation (PostgreSQL), if there is one.
    state: Option<(State, Option<i64>)>,
    /// Whether the output keeps a state (PostgreSQL with the state tables, Parquet).
    keeps_state: bool,
    /// Why not, when it does not.
    no_state: Option<&'static str>,
    db: Option<PreparedDb>,
}

struct PreparedDb {
    client: postgres::Client,
    table: SummaryTable,
}

fn state_key(job: &Job) -> Result<pg::state::StateKey> {
    Ok(pg::state::StateKey {
        source_uuid: source_uuid(job)?,
        year: job.request.year,
        month: job.request.month,
    })
}

/// Reads the state kept in a Parquet output's footer; `None` when the file is missing or
/// holds none.
pub(crate) fn file_state(path: &std::path::Path) -> Option<State> {
    let file = std::fs::File::open(path).ok()?;
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(file).ok()?;
    use parquet::file::reader::FileReader as _;
    let text = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == FOOTER_KEY)?
        .value
        .clone()?;
    State::from_json(&text)
}

/// Checks the output and reads what it supplies (see [`Prepared`]); nothing is written.
/// `lock`: a run (not `status`) first takes its source's lock for the session, so that it
/// reads the state only after the runs of the same source before it ended; the token stops
/// the wait.
fn prepare_output(job: &Job, create_tables: bool, lock: Option<&CancelToken>) -> Result<Prepared> {
    let (target, schema) = match &job.output {
        Output::File(path) => {
            let parquet = ocpagg_writer::FileFormat::from_path(path.as_ref())
                == Some(ocpagg_writer::FileFormat::Parquet);
            return Ok(Prepared {
                side: job.side.clone(),
                run: job.run.clone(),
                state: if parquet {
                    file_state(path.as_ref()).map(|s| (s, None))
                } else {
                    None
                },
                keeps_state: parquet,
                no_state: (!parquet).then_some("a CSV output keeps no state"),
                db: None,
            });
        }
        Output::Postgres { target, schema, .. } => (target, schema),
    };
    let mut client = target.connect()?;
    let table = SummaryTable::check(&mut client, target, schema, &summary_schema())?;
    if let Some(cancel) = lock {
        lock_source(&mut client, target, &table, source_uuid(job)?, cancel)?;
    }
    let run = database_run(&mut client, target, schema, &table, job)?;
    let db = read_side_inputs(&mut client, target, schema)?;
    let mut side = job.side.clone();
    if !job.explicit.enabled_keys {
        side.enabled_keys = EnabledKeys::only(db.enabled_keys);
    }
    if !job.explicit.cost_categories {
        side.cost_categories = db
            .cost_categories
            .into_iter()
            .map(|(pattern, id)| CostCategory {
                pattern: LikePattern::new(&pattern),
                id,
            })
            .collect();
    }
    side.database_node_roles = db.node_roles;
    // The state tables come with init-db; an incremental run creates them if missing, a
    // full run only writes them where they exist.
    if create_tables && !pg::state::state_tables_exist(&mut client, target, schema)? {
        pg::state::ensure_state_tables(&mut client, target, schema)?;
    }
    let keeps_state = pg::state::state_tables_exist(&mut client, target, schema)?;
    let state = if keeps_state {
        pg::state::load_state(&mut client, target, schema, state_key(job)?)?.and_then(|stored| {
            let mut state = State::from_json(&stored.document)?;
            state.files = stored.files;
            Some((state, Some(stored.generation)))
        })
    } else {
        None
    };
    Ok(Prepared {
        side,
        run,
        state,
        keeps_state,
        no_state: (!keeps_state).then_some("the database has no ocpagg_ingested_files table"),
        db: Some(PreparedDb { client, table }),
    })
}

/// Waits for the source's lock ([`pg::lock_source`]); a signal or `cancel` stops the wait.
fn lock_source(
    client: &mut postgres::Client,
    target: &PgTarget,
    table: &SummaryTable,
    source: uuid::Uuid,
    cancel: &CancelToken,
) -> Result<()> {
    // Only while waiting: the same session later runs the sink's COMMIT, which no signal
    // may cancel once the run is finishing.
    let waiting = Arc::new(AtomicBool::new(true));
    let handle = pg::CancelHandle::new(client, target);
    let stop = move |waiting: &AtomicBool| {
        if waiting.load(Ordering::SeqCst) {
            handle.cancel();
        }
    };
    let (w, on_stop) = (Arc::clone(&waiting), stop.clone());
    crate::interrupt::on_signal(move || on_stop(&w));
    let w = Arc::clone(&waiting);
    cancel.on_cancel(move || stop(&w));
    let locked = pg::lock_source(client, target, &table.schema, &source);
    waiting.store(false, Ordering::SeqCst);
    match locked {
        Ok(()) => Ok(()),
        Err(e) => Err(stop_requested(cancel).unwrap_or_else(|| e.into())),
    }
}

/// Full or incremental, and why; an incremental run's days are completed once the plan is
/// built ([`day_plan`]).
fn decide(
    job: &Job,
    prepared: &Prepared,
    fingerprint: &str,
    listing: &ocpagg_reader::Listing,
) -> Decision {
    let full = |reason: String, files: Diff| Decision {
        days: None,
        read: None,
        report: ModeReport {
            mode: "full",
            reason,
            files,
            affected_days: Vec::new(),
        },
        prior: None,
        generation: prepared.state.as_ref().and_then(|(_, g)| *g),
    };
    let diff = |state: Option<&State>| Diff::of(state.map_or(&[][..], |s| &s.files), listing);
    let state = prepared.state.as_ref().map(|(s, _)| s);
    if !job.incremental {
        return full("a full run (no --incremental)".into(), diff(state));
    }
    if let Some(why) = prepared.no_state {
        return full(format!("{why}: every run is a full run"), diff(None));
    }
    let Some((state, generation)) = &prepared.state else {
        return full(
            "no state is recorded with the output yet".into(),
            diff(None),
        );
    };
    if state.settings != fingerprint {
        tracing::debug!(state = %state.settings, now = %fingerprint, "Settings differ from the state's.");
        return full(
            "the settings (cluster, report period, range, enabled keys, cost categories, node roles or the program's version) differ from the state's".into(),
            diff(Some(state)),
        );
    }
    Decision {
        days: Some(BTreeSet::new()),
        read: Some(HashSet::new()),
        report: ModeReport {
            mode: "incremental",
            reason: "files changed since the state".into(),
            files: diff(Some(state)),
            affected_days: Vec::new(),
        },
        prior: Some(state.clone()),
        generation: *generation,
    }
}

/// Opens the sink: for an incremental run it replaces only the affected days (and a file
/// output carries the other days over), and every output that keeps a state stores the new
/// one (set in `slot` before the last rows) with the rows.
fn open_sink(
    job: &Job,
    prepared: Prepared,
    decision: &Decision,
    slot: &Arc<Mutex<Option<State>>>,
    finishing: &Arc<AtomicBool>,
    cancel: &CancelToken,
) -> Result<Box<dyn SummarySink>> {
    let days = decision.days.clone();
    let (target, schema, copy_format) = match &job.output {
        Output::File(path) => {
            let path: &std::path::Path = path.as_ref();
            let mut sink = ocpagg_writer::FileSink::create(path, summary_schema())?;
            if !prepared.keeps_state {
                return Ok(Box::new(sink));
            }
            // The state goes into the footer with the layout the rows were written in.
            let layout = Arc::new(Mutex::new(Vec::new()));
            let slot = Arc::clone(slot);
            let written = Arc::clone(&layout);
            sink = sink.with_footer_metadata(
                FOOTER_KEY,
                Box::new(move || {
                    let mut state = slot.lock().expect("no poisoned lock").take()?;
                    state.layout = std::mem::take(&mut *written.lock().expect("no poisoned lock"));
                    Some(state.to_json())
                }),
            );
            let sink = LayoutSink::new(sink, layout);
            return Ok(match days {
                Some(days) => {
                    let layout = decision.prior.as_ref().map_or(&[][..], |p| &p.layout);
                    let carried =
                        CarryOver::open(sink, summary_schema(), path, days.clone(), layout)?;
                    Box::new(DayFilter::new(Box::new(carried), days))
                }
                None => Box::new(sink),
            });
        }
        Output::Postgres {
            target,
            schema,
            copy_format,
        } => (target, schema, *copy_format),
    };
    let PreparedDb { client, table } = prepared.db.expect("a database output");
    let run = &prepared.run;
    let slice = Slice {
        source_uuid: source_uuid(job)?,
        report_period_id: run.report_period_id,
        start: run.start,
        end: run.end,
        days: days
            .as_ref()
            .map(|d| d.iter().map(|d| day_date(*d)).collect()),
    };
    let before_commit: Option<pg::BeforeCommit> = if prepared.keeps_state {
        let slot = Arc::clone(slot);
        let key = state_key(job)?;
        let schema = schema.clone();
        let generation = decision.generation;
        Some(Box::new(move |tx, target| {
            let Some(mut state) = slot.lock().expect("no poisoned lock").take() else {
                return Err(ocpagg_writer::WriteError::Aborted {
                    reason: "the run's state was not ready at commit".into(),
                });
            };
            let files = std::mem::take(&mut state.files);
            pg::state::store_state(
                tx,
                target,
                &schema,
                key,
                generation,
                &state.to_json(),
                &files,
            )
            .map(|_| ())
        }))
    } else {
        None
    };
    let sink = PostgresSink::open_with(client, target, table, slice, copy_format, before_commit)?;
    // A signal cancels what the session waits for (another run's lock), so that the run
    // stops at once rather than when the other run ends.
    // Not once the run is finishing: with a Hive copy, that is after the Hive publication
    // began, and a rollback then would leave the two apart. The same for the caller's token.
    let handle = sink.cancel_handle();
    let done = Arc::clone(finishing);
    crate::interrupt::on_signal(move || {
        if !done.load(Ordering::SeqCst) {
            handle.cancel();
        }
    });
    let handle = sink.cancel_handle();
    let done = Arc::clone(finishing);
    cancel.on_cancel(move || {
        if !done.load(Ordering::SeqCst) {
            handle.cancel();
        }
    });
    Ok(Box::new(sink))
}

/// What `ocpagg status` reports: what an incremental run with these settings would do.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusReport {
    /// Whether the output holds a state of these settings.
    pub has_state: bool,
    /// `unchanged`, `incremental` or `full`.
    pub mode: &'static str,
    /// Why.
    pub reason: String,
    /// Files new, changed and gone since the state.
    pub files: Diff,
    /// The days an incremental run would recompute, as far as the listing tells: those of
    /// changed and gone files (all of the range for a full run).
    pub affected_days: Vec<NaiveDate>,
    /// New or changed files add the days they hold, which their footers tell (read by the
    /// run, not by `status`).
    pub plus_days_of_new_files: bool,
}

/// What an incremental run would do, from the listing and the state alone: no object is
/// read and nothing is written (also no state table is created).
pub fn status(job: &Job) -> Result<StatusReport> {
    let job = &Job {
        incremental: true,
        ..job.clone()
    };
    let Compared { job, decision, .. } = compare_with_state(job, false, None)?;
    let job = &job;
    let files = decision.report.files.clone();
    let all_days = || {
        job.run
            .start
            .iter_days()
            .take_while(|d| *d <= job.run.end)
            .collect()
    };
    let (mode, affected_days) = match &decision.prior {
        Some(prior) if files.is_empty() => ("unchanged", Vec::new()),
        Some(prior) => (
            "incremental",
            files
                .known_days(&prior.files)
                .into_iter()
                .map(day_date)
                .collect(),
        ),
        None => ("full", all_days()),
    };
    let reason = if mode == "unchanged" {
        "no file is new, changed or gone since the state".into()
    } else {
        decision.report.reason
    };
    Ok(StatusReport {
        has_state: decision.prior.is_some(),
        mode,
        reason,
        plus_days_of_new_files: mode == "incremental"
            && (!files.new.is_empty() || !files.changed.is_empty()),
        files,
        affected_days,
    })
}

/// Tees `sink` with koku's Hive copy at `url` (issue #17): same batches, Hive published
/// first, then `sink` finished.
/// With `days` (an incremental run), only those days' partitions are replaced.
fn open_hive(
    job: &Job,
    url: &str,
    sink: Box<dyn SummarySink>,
    days: Option<&BTreeSet<i32>>,
) -> Result<Box<dyn SummarySink>> {
    let location = ocpagg_reader::open_writable_store(url, &job.store)
        .with_context(|| format!("setting `hive_output`: cannot open {url}"))?;
    let hive = HiveSink::open(
        location.store,
        &location.display,
        &job.request.source,
        job.run.start,
        job.run.end,
        job.store.concurrency.min(16),
    )
    .context("cannot open the Hive output")?;
    let hive = match days {
        Some(days) => hive.only_days(&days.iter().map(|d| day_date(*d)).collect::<Vec<_>>()),
        None => hive,
    };
    Ok(Box::new(HiveTee::new(hive, sink)?))
}

/// The Trino call that makes new Hive partitions visible, for the run's schema (the
/// database schema, else the org).
pub fn hive_sync_call(job: &Job) -> String {
    let schema = match &job.output {
        Output::Postgres { schema, .. } => schema.as_str(),
        Output::File(_) => job.request.org.as_str(),
    };
    format!(
        "CALL system.sync_partition_metadata('{schema}', '{}', 'FULL')",
        ocpagg_writer::hive::HIVE_TABLE
    )
}

fn source_uuid(job: &Job) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(&job.run.source_uuid)
        .with_context(|| format!("source {:?} is not a UUID", job.run.source_uuid))
}

/// The run's identity completed from koku's tables (SPEC.md "Writing"): the report period
/// given (which must exist and be the source's) or the one koku created for the source's
/// month, the cluster id and alias from it unless set; then checks what the rows will
/// reference or hold (cost-category ids, the cluster's length).
pub(crate) fn database_run(
    client: &mut postgres::Client,
    target: &PgTarget,
    schema: &str,
    table: &SummaryTable,
    job: &Job,
) -> Result<RunInfo> {
    let source = source_uuid(job)?;
    let month = NaiveDate::from_ymd_opt(job.request.year, job.request.month, 1)
        .context("the run's month")?;
    let given_cluster = job
        .explicit
        .cluster_id
        .then_some(job.run.cluster_id.as_str());
    let period = match job.run.report_period_id {
        Some(id) => pg::get_report_period(client, target, schema, id, source, month)?,
        None => pg::find_report_period(client, target, schema, source, month, given_cluster)?,
    };
    let mut run = job.run.clone();
    run.report_period_id = Some(period.id);
    if !job.explicit.cluster_id {
        run.cluster_id = period.cluster_id.clone();
    }
    if !job.explicit.cluster_alias && !job.explicit.cluster_id {
        run.cluster_alias = period
            .cluster_alias
            .clone()
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| run.cluster_id.clone());
    }
    if job.explicit.cost_categories {
        let ids: Vec<i32> = job.side.cost_categories.iter().map(|c| c.id).collect();
        let missing = pg::missing_cost_categories(client, target, schema, &ids)?;
        if !missing.is_empty() {
            return Err(pg::missing_cost_categories_error(target, schema, &missing).into());
        }
    }
    table.check_length(target, "cluster_id", &run.cluster_id)?;
    table.check_length(target, "cluster_alias", &run.cluster_alias)?;
    Ok(run)
}

#[allow(clippy::too_many_arguments)]
fn read_files(
    warehouse: &Warehouse,
    job: &Job,
    range: DateRange,
    jobs: &Receiver<ReadJob>,
    out: &Sender<Msg>,
    counters: &Counters,
    rows_read: &Mutex<BTreeMap<String, u64>>,
    read_time: &Mutex<Duration>,
    cancelled: &AtomicBool,
    cancel: &CancelToken,
    observed: &Mutex<Observed>,
) {
    let mut busy = Duration::ZERO;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    // What the state needs (issue #20): the days each file held and the node-role facts.
    let mut seen = Observed::default();
    'files: for read_job in jobs.iter() {
        if cancelled.load(Ordering::Relaxed) {
            break;
        }
        if let Some(stop) = stop_requested(cancel) {
            let _ = out.send(Msg::Failed(stop));
            break;
        }
        let ReadJob {
            file,
            table,
            index,
            footer,
            projection,
        } = read_job;
        let name: Arc<str> = warehouse.describe(&file.location).into();
        let counted_as = if file.daily {
            format!("{} (daily)", file.report_type)
        } else {
            file.report_type.to_string()
        };
        let t = Instant::now();
        let batches =
            warehouse.read_with_footer(&file, &footer, &projection, Some(range), job.batch_size);
        busy += t.elapsed();
        let mut batches = match batches {
            Ok(b) => b,
            Err(e) => {
                let _ = out.send(Msg::Failed(e.into()));
                break;
            }
        };
        loop {
            let t = Instant::now();
            let next = batches.next();
            busy += t.elapsed();
            match next {
                None => break,
                Some(Err(e)) => {
                    let _ = out.send(Msg::Failed(e.into()));
                    break 'files;
                }
                Some(Ok(batch)) => {
                    if let Some(stop) = stop_requested(cancel) {
                        let _ = out.send(Msg::Failed(stop));
                        break 'files;
                    }
                    let n = batch.num_rows() as u64;
                    seen.note(file.location.as_ref(), table, &batch);
                    *counts.entry(counted_as.clone()).or_default() += n;
                    counters.rows_read.fetch_add(n, Ordering::Relaxed);
                    let msg = Msg::Batch {
                        table,
                        file: Arc::clone(&name),
                        batch,
                    };
                    if out.send(msg).is_err() {
                        break 'files; // the aggregate stage stopped
                    }
                }
            }
        }
        counters.files_done.fetch_add(1, Ordering::Relaxed);
        if out.send(Msg::FileDone(index)).is_err() {
            break;
        }
    }
    *read_time.lock().expect("no poisoned lock") += busy;
    observed.lock().expect("no poisoned lock").absorb(seen);
    let mut all = rows_read.lock().expect("no poisoned lock");
    for (k, v) in counts {
        *all.entry(k).or_default() += v;
    }
}

/// Receives batches and pushes them into the aggregate, which folds them a window at a time
/// on the pool. Whenever a file is done, the days the aggregate calls complete are sent on,
/// so only the days being read are held in memory. Unallocated rows come last.
#[allow(clippy::too_many_arguments)]
fn aggregate(
    job: &Job,
    side: SideInputs,
    pool: &Arc<rayon::ThreadPool>,
    first_days: &[i32],
    batches: &Receiver<Msg>,
    out: &Sender<Rows>,
    report: &mut RunReport,
    context: &StateContext,
) -> Result<()> {
    let mut agg = Aggregator::new(job.run.clone(), side).with_pool(Arc::clone(pool));
    agg.expect_files(first_days.iter().copied());
    for msg in batches.iter() {
        match msg {
            Msg::Failed(e) => return Err(e),
            Msg::FileDone(index) => {
                agg.file_done(index);
                if let Some(days) = agg.emit_ready()? {
                    if out.send(Rows::Days(Box::new(days))).is_err() {
                        return Ok(()); // the writer stopped; the caller reports its error
                    }
                }
            }
            Msg::Batch { table, file, batch } => agg
                .push(table, batch)
                .with_context(|| format!("while aggregating {file}"))?,
        }
    }
    // The days still open go out like the others; `finish` then adds only the unallocated
    // rows, which need every day's node roles.
    agg.close_days_before(i32::MAX);
    if let Some(days) = agg.emit_ready()? {
        if out.send(Rows::Days(Box::new(days))).is_err() {
            return Ok(()); // the writer stopped; the caller reports its error
        }
    }
    // Every reader has stopped (the channel is closed): the observations are complete.
    let state = next_state(agg.side_mut(), context)?;
    let incremental = context.decision.days.is_some();
    // The unallocated rows go a day at a time, as the days did.
    let finished = agg.finish_each_day(|rows| {
        out.send(Rows::Sorted(rows))
            .map_err(|_| Finishing::WriterStopped)
    });
    match finished {
        Ok((stats, timings)) => {
            report.aggregate = stats;
            report.labels_time = timings.intern;
            report.aggregate_time = timings.fold;
        }
        // The affected days may have lost their last line item (a deleted file).
        Err(Finishing::Failed(AggregateError::NoLineItems { .. })) if incremental => {}
        Err(Finishing::Failed(e)) => return Err(e.into()),
        Err(Finishing::WriterStopped) => return Ok(()), // the caller reports its error
    }
    if context.keeps_state {
        *context.slot.lock().expect("no poisoned lock") = Some(state);
    }
    let _ = out.send(Rows::Done);
    Ok(())
}

/// Why the last rows of a run stopped: the aggregate failed, or the writer stopped (and
/// reports its own error).
enum Finishing {
    Failed(AggregateError),
    WriterStopped,
}

impl From<AggregateError> for Finishing {
    fn from(e: AggregateError) -> Self {
        Finishing::Failed(e)
    }
}

/// The state after this run: the listed files with the days they held, the role facts of
/// the affected days (read now) and of the others (from the previous state), and the roles
/// they give. An incremental run's unallocated rows take those roles (`side`); if a node's
/// unallocated namespace changes, the days it had rows outside the affected ones are
/// affected too, and the run fails with [`Widen`] to start again with them.
fn next_state(side: &mut SideInputs, context: &StateContext) -> Result<State> {
    let observed = std::mem::take(&mut *context.observed.lock().expect("no poisoned lock"));
    let decision = &context.decision;
    let (facts, roles) = match (&decision.days, &decision.prior) {
        (Some(days), Some(prior)) => {
            let mut facts: crate::incremental::Facts = prior
                .facts()
                .into_iter()
                .filter(|((day, _), _)| !days.contains(day))
                .collect();
            facts.extend(
                observed
                    .facts
                    .into_iter()
                    .filter(|((day, _), _)| days.contains(day)),
            );
            let roles = resolve_roles(&facts, side);
            let more = role_change_days(&prior.roles, &roles, &facts, days);
            if !more.is_empty() {
                return Err(Widen(more).into());
            }
            side.resolved_node_roles = Some(roles.clone());
            (facts, roles)
        }
        _ => {
            let roles = resolve_roles(&observed.facts, side);
            (observed.facts, roles)
        }
    };
    let read = decision.read.as_ref();
    let prior: BTreeMap<&str, &IngestedFile> = decision
        .prior
        .iter()
        .flat_map(|p| p.files.iter().map(|f| (f.path.as_str(), f)))
        .collect();
    let files = context
        .listing
        .iter()
        .map(|file| {
            let path = file.location.as_ref();
            let was_read = read.is_none_or(|r| r.contains(path));
            let days = match (was_read, prior.get(path)) {
                (true, _) => observed
                    .file_days
                    .get(path)
                    .map(|d| d.iter().copied().collect())
                    .unwrap_or_default(),
                (false, Some(p)) if same_version(p, file) => p.days.clone(),
                (false, _) => Vec::new(),
            };
            record(file, days)
        })
        .collect();
    Ok(State::new(
        context.fingerprint.clone(),
        context.selection,
        files,
        &facts,
        roles,
    ))
}

/// The schema of the batches `sink` is given: the summary schema, with `csi_volume_handle`
/// for koku's Hive copy, with dictionary texts if the sink takes them.
fn output_schema(job: &Job, sink: &dyn SummarySink) -> SchemaRef {
    let schema = if job.hive_output.is_some() {
        summary_schema_with_csi()
    } else {
        summary_schema()
    };
    if sink.takes_dictionary_texts() {
        with_dictionary_texts(&schema)
    } else {
        schema
    }
}

/// Rows ready to convert: finished days (built a window at a time) or rows already built.
enum Ready {
    Days(Box<FinishedDays>),
    Built(Vec<SummaryRow>),
}

impl Ready {
    fn len(&self) -> usize {
        match self {
            Ready::Days(days) => days.len(),
            Ready::Built(rows) => rows.len(),
        }
    }

    /// The rows at `range` as record batches of `schema` (Pod rows of finished days straight
    /// from their groups).
    fn record_batches(
        &self,
        range: Range<usize>,
        run: &RunInfo,
        schema: &SchemaRef,
    ) -> Result<Vec<RecordBatch>, ocpagg_aggregate::AggregateError> {
        match self {
            Ready::Days(days) => days.record_batches(range, run, schema),
            Ready::Built(rows) => Ok(vec![to_record_batch_as(
                Arc::clone(schema),
                run,
                &rows[range],
            )?]),
        }
    }
}

/// Sorts finished days and converts them to record batches, a window at a time with one batch
/// per worker (rows are built from the compact days only for the window), and sends them to
/// the writer, while the aggregate goes on folding. `Done` is passed on only if it arrives; a
/// closed channel without it makes the writer abort. Returns the time spent sorting and
/// converting (waits on either channel excluded).
fn convert_rows(
    job: &Job,
    schema: &SchemaRef,
    pool: &rayon::ThreadPool,
    input: Receiver<Rows>,
    out: Sender<Out>,
) -> Duration {
    let mut busy = Duration::ZERO;
    let window = OUTPUT_BATCH_ROWS * job.threads.max(1);
    for msg in input.iter() {
        let t = Instant::now();
        let ready = match msg {
            Rows::Days(mut days) => {
                days.sort();
                Ready::Days(days)
            }
            Rows::Sorted(rows) => Ready::Built(rows),
            Rows::Done => {
                let _ = out.send(Out::Done);
                return busy;
            }
        };
        busy += t.elapsed();
        let len = ready.len();
        for start in (0..len).step_by(window) {
            let t = Instant::now();
            let end = (start + window).min(len);
            let batches: Result<Vec<Vec<RecordBatch>>, _> = pool.install(|| {
                (start..end)
                    .into_par_iter()
                    .step_by(OUTPUT_BATCH_ROWS)
                    .map(|from| {
                        let to = (from + OUTPUT_BATCH_ROWS).min(end);
                        ready.record_batches(from..to, &job.run, schema)
                    })
                    .collect()
            });
            busy += t.elapsed();
            let batches = match batches {
                Ok(batches) => batches,
                Err(e) => {
                    let _ = out.send(Out::Failed(e.into()));
                    return busy;
                }
            };
            for batch in batches.into_iter().flatten() {
                if out.send(Out::Batch(batch)).is_err() {
                    return busy; // the writer stopped; its error is reported
                }
            }
        }
    }
    busy
}

/// Writes batches until `Done`; a closed channel without `Done` aborts (drops the sink).
fn write_all(
    mut sink: Box<dyn SummarySink>,
    input: Receiver<Out>,
    finishing: &AtomicBool,
    cancel: &CancelToken,
) -> Result<(WriteReport, Duration)> {
    let mut busy = Duration::ZERO;
    for msg in input.iter() {
        match msg {
            Out::Batch(batch) => {
                // The caller's token stops the writing too (the unallocated rows come after
                // the last read); a signal is looked at before `finish`, as before.
                if cancel.is_cancelled() {
                    return Err(crate::interrupt::Cancelled.into());
                }
                let t = Instant::now();
                sink.write(&batch)?;
                busy += t.elapsed();
            }
            Out::Failed(e) => return Err(e),
            Out::Done => {
                // The last chance to stop: after `finish`, the rows are in place.
                finishing.store(true, Ordering::SeqCst);
                if let Some(stop) = stop_requested(cancel) {
                    return Err(stop);
                }
                let t = Instant::now();
                let report = sink.finish()?;
                return Ok((report, busy + t.elapsed()));
            }
        }
    }
    bail!("run aborted; nothing written")
}
