//! The `run` job: reader threads → bounded channel → aggregate (rayon pool) → bounded channel →
//! writer thread.
//!
//! Only this module creates threads and channels; the stages are plain libraries. The first
//! error wins: it is reported, every channel is dropped so all threads drain and stop, and the
//! sink is dropped unfinished, so nothing is written.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use arrow::array::RecordBatch;
use chrono::NaiveDate;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use ocpagg_aggregate::schema::summary_schema;
use ocpagg_aggregate::{
    to_record_batch, to_record_batch_with_csi, AggregateStats, Aggregator, FinishedDays,
    SummaryRow, Table,
};
use ocpagg_aggregate::{CostCategory, LikePattern, RunInfo, SideInputs};
use ocpagg_labels::EnabledKeys;
use ocpagg_reader::{
    DataFile, DateRange, FileFooter, IoStats, PlannedFile, Projection, ReportType, ScanPlan,
    Warehouse,
};
use ocpagg_writer::pg::{self, read_side_inputs, Slice, SummaryTable};
use ocpagg_writer::PgTarget;
use ocpagg_writer::{open_file_sink, HiveSink, HiveTee, PostgresSink, SummarySink, WriteReport};
use rayon::prelude::*;

use crate::config::{Job, Output};
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
    // Open the sink first: an unwritable output should fail before minutes of reading, and
    // a database also supplies side inputs.
    // Set once the writer starts finishing (Hive publication, then commit): a signal no
    // longer cancels the database session then, so the two end up both replaced.
    let finishing = Arc::new(AtomicBool::new(false));
    let (sink, side, run) = open_output(job, &finishing, cancel)?;
    // The database may have filled in the report period and the cluster.
    let job = &Job { run, ..job.clone() };
    let sink = match &job.hive_output {
        Some(url) => open_hive(job, url, sink)?,
        None => sink,
    };
    let warehouse = Warehouse::open_with(&job.warehouse, &job.store)?;
    // The files, their columns and their order; every footer is read once, here, and the
    // read reuses them.
    let plan = ScanPlan::build(&warehouse, &job.request, &Aggregator::needs())?;
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
        ..Default::default()
    };
    let outcome = std::thread::scope(|s| -> Result<()> {
        for i in 0..readers {
            let (job_rx, batch_tx) = (job_rx.clone(), batch_tx.clone());
            let (warehouse, counters, rows_read, read_time, cancelled) =
                (&warehouse, &counters, &rows_read, &read_time, &cancelled);
            std::thread::Builder::new()
                .name(format!("ocpagg-read-{i}"))
                .spawn_scoped(s, move || {
                    read_files(
                        warehouse, job, range, &job_rx, &batch_tx, counters, rows_read, read_time,
                        cancelled, cancel,
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
            .spawn_scoped(s, move || convert_rows(job, pool, rows_rx, out_tx))
            .context("cannot start the conversion thread")?;
        let aggregated = aggregate(
            job,
            side,
            pool,
            &first_days,
            &batch_rx,
            &rows_tx,
            &mut report,
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

/// Opens the output. A database is checked (schema, table, columns), supplies the side
/// inputs the configuration does not set and the report period (with the cluster) when not
/// given, and starts its transaction; all before any data is read.
fn open_output(
    job: &Job,
    finishing: &Arc<AtomicBool>,
    cancel: &CancelToken,
) -> Result<(Box<dyn SummarySink>, SideInputs, RunInfo)> {
    let (target, schema, copy_format) = match &job.output {
        Output::File(path) => {
            return Ok((
                open_file_sink(path.as_ref(), summary_schema())?,
                job.side.clone(),
                job.run.clone(),
            ))
        }
        Output::Postgres {
            target,
            schema,
            copy_format,
        } => (target, schema, *copy_format),
    };
    let mut client = target.connect()?;
    let table = SummaryTable::check(&mut client, target, schema, &summary_schema())?;
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
    let slice = Slice {
        source_uuid: source_uuid(job)?,
        report_period_id: run.report_period_id,
        start: run.start,
        end: run.end,
    };
    let sink = PostgresSink::open(client, target, table, slice, copy_format)?;
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
    Ok((Box::new(sink), side, run))
}

/// Tees `sink` with koku's Hive copy at `url` (issue #17): same batches, Hive published
/// first, then `sink` finished.
fn open_hive(job: &Job, url: &str, sink: Box<dyn SummarySink>) -> Result<Box<dyn SummarySink>> {
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
) {
    let mut busy = Duration::ZERO;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
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
    let mut all = rows_read.lock().expect("no poisoned lock");
    for (k, v) in counts {
        *all.entry(k).or_default() += v;
    }
}

/// Receives batches and pushes them into the aggregate, which folds them a window at a time
/// on the pool. Whenever a file is done, the days the aggregate calls complete are sent on,
/// so only the days being read are held in memory. Unallocated rows come last.
fn aggregate(
    job: &Job,
    side: SideInputs,
    pool: &Arc<rayon::ThreadPool>,
    first_days: &[i32],
    batches: &Receiver<Msg>,
    out: &Sender<Rows>,
    report: &mut RunReport,
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
    let summary = agg.finish()?;
    report.aggregate = summary.stats;
    report.labels_time = summary.timings.intern;
    report.aggregate_time = summary.timings.fold;
    if out.send(Rows::Sorted(summary.rows)).is_ok() {
        let _ = out.send(Rows::Done);
    }
    Ok(())
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

    fn rows(&self, range: Range<usize>) -> Cow<'_, [SummaryRow]> {
        match self {
            Ready::Days(days) => Cow::Owned(days.rows(range)),
            Ready::Built(rows) => Cow::Borrowed(&rows[range]),
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
            let batches: Result<Vec<RecordBatch>, _> = pool.install(|| {
                (start..end)
                    .into_par_iter()
                    .step_by(OUTPUT_BATCH_ROWS)
                    .map(|from| {
                        let to = (from + OUTPUT_BATCH_ROWS).min(end);
                        if job.hive_output.is_some() {
                            to_record_batch_with_csi(&job.run, &ready.rows(from..to))
                        } else {
                            to_record_batch(&job.run, &ready.rows(from..to))
                        }
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
            for batch in batches {
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
