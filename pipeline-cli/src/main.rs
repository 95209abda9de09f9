//! `ocpagg`: OpenShift usage Parquet (koku layout) in, Cost Management's daily summary out.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use clap::{Args, Parser, Subcommand};
use ocpagg_cli::config::{Output, RunConfig, UsageError};
use ocpagg_cli::interrupt::Interrupted;
use ocpagg_fixtures::{Layout, ScaleSpec, Scenario, WriteOptions};

#[derive(Parser)]
#[command(
    name = "ocpagg",
    version,
    about = "Turns koku-layout OpenShift usage Parquet into Cost Management's daily summary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Aggregate one source and month into the daily summary.
    Run(RunArgs),
    /// Write deterministic koku-layout test data (at a scale, or from a nise scenario YAML).
    Generate(GenerateArgs),
    /// Generate a small month in a temporary directory, run it, and print a short table.
    Demo(DemoArgs),
    /// Create koku's tables in a PostgreSQL schema (if missing; running it twice is harmless).
    InitDb(InitDbArgs),
    /// Compare a run's output with the summary a nise scenario predicts (exit 1 on any FAIL).
    Validate(ocpagg_cli::validate::ValidateArgs),
    /// With the settings of `run`, show which files are new, changed or gone since the state
    /// kept with the output and which days `run --incremental` would recompute (listings
    /// only; nothing is read or written).
    Status(StatusArgs),
    /// Check, with the settings of `run`, that a run can start: warehouse, files' schemas,
    /// database, disk space. Exits 0 only when no check fails.
    Preflight(PreflightArgs),
}

#[derive(Args)]
struct PreflightArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Report format: text (one line per check) or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

#[derive(Args)]
struct StatusArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Report format: text or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

#[derive(Args)]
struct InitDbArgs {
    /// PostgreSQL connection string (URL or libpq key=value; PG* variables fill the gaps).
    #[arg(long, env = "OCPAGG_DATABASE_URL")]
    database_url: String,
    /// Schema to create the tables in (koku's tenant schema, e.g. org1234567).
    #[arg(long)]
    schema: String,
}

#[derive(Args)]
struct RunArgs {
    /// TOML file with the same keys as the flags (flags win; env OCPAGG_* in between).
    #[arg(long, env = "OCPAGG_CONFIG")]
    config: Option<PathBuf>,
    /// Every setting: one definition for flags, `OCPAGG_*` variables and TOML keys.
    #[command(flatten)]
    settings: RunConfig,
}

#[derive(Args)]
struct GenerateArgs {
    /// Directory to write the warehouse into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Org (tenant schema).
    #[arg(long, default_value = "org1234567")]
    org: String,
    /// Source UUID.
    #[arg(long, default_value = "6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01")]
    source: String,
    /// Cluster id used in file names.
    #[arg(long, default_value = "my-cluster")]
    cluster_id: String,
    /// Year (scale mode).
    #[arg(long, required_unless_present = "scenario")]
    year: Option<i32>,
    /// Month (scale mode).
    #[arg(long, required_unless_present = "scenario")]
    month: Option<u32>,
    /// Approximate hourly pod_usage rows for the month (scale mode).
    #[arg(long, default_value_t = 100_000)]
    pod_rows: u64,
    /// Random seed (scale mode).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Generate from a nise static OCP scenario YAML instead of at scale.
    #[arg(long, conflicts_with_all = ["year", "month"])]
    scenario: Option<PathBuf>,
    /// Do not write koku's daily/ roll-up (hourly files only).
    #[arg(long)]
    no_daily: bool,
}

#[derive(Args)]
struct DemoArgs {
    /// Hourly pod rows to generate.
    #[arg(long, default_value_t = 50_000)]
    pod_rows: u64,
    /// Worker threads.
    #[arg(long)]
    threads: Option<usize>,
    /// Print the table only.
    #[arg(long, short)]
    quiet: bool,
}

fn init_logging(quiet: bool) {
    ocpagg_cli::logging::init(ocpagg_cli::logging::LogFormat::Text, quiet, None);
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Run(args) => cmd_run(&args),
        Command::Generate(args) => cmd_generate(&args),
        Command::Demo(args) => cmd_demo(&args),
        Command::InitDb(args) => cmd_init_db(&args),
        Command::Validate(args) => ocpagg_cli::validate::run(&args),
        Command::Preflight(args) => cmd_preflight(&args),
        Command::Status(args) => cmd_status(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ocpagg_cli::logging::print_error(&e);
            ExitCode::from(exit_code(&e))
        }
    }
}

/// The exit code of an error: 130/143 after a signal, 2 for a setting, 1 otherwise.
fn exit_code(e: &anyhow::Error) -> u8 {
    if let Some(signal) = e.downcast_ref::<Interrupted>() {
        signal.exit_code()
    } else if e.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    }
}

/// Large buffers (a day's rows and group tables at scale) come and go with every day. glibc
/// raises its mmap threshold each time one is freed, after which such buffers are carved from
/// the heap and their pages stay resident. A fixed 4 MiB mmap threshold returns them to the
/// system after use; a 64 MiB trim threshold keeps the heap from shrinking and regrowing all
/// the time (a lower one costs about a fifth more CPU at 2M rows, measured). At 20M rows this
/// takes peak RSS from about 310 to 240 MB; at 2M nothing is that large and nothing changes.
///
/// glibc also gives each thread that allocates an arena of its own (up to eight per core), and
/// each arena keeps its freed memory. A run has six such threads (reader, two workers,
/// converter, writer, main), of which only the workers run all the time. `arenas` caps the
/// arenas, the main one included; as many as workers took peak RSS from 226 to 198 MiB at 20M
/// rows and from 66 to 57 MiB at 2M with two workers, at equal speed (medians of 5 and 9
/// runs, 2026-12-02).
#[allow(unsafe_code)] // the one FFI call of the binary
fn limit_retained_memory(arenas: usize) {
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = arenas;
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before the run starts threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        libc::mallopt(
            libc::M_ARENA_MAX,
            libc::c_int::try_from(arenas.max(1)).unwrap_or(libc::c_int::MAX),
        );
    }
}

fn cmd_run(args: &RunArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let flags = args.settings.clone();
    let config = RunConfig::load(args.config.as_deref(), &flags);
    // How to report is read first, so that even a bad setting is reported as asked.
    let reporting = config.as_ref().unwrap_or(&flags).reporting()?;
    let quiet = config.as_ref().unwrap_or(&flags).quiet;
    ocpagg_cli::logging::init(reporting.log_format, quiet, reporting.tracing_id.as_deref());
    let job = config
        .as_ref()
        .map_err(|e| UsageError(e.0.clone()))
        .and_then(RunConfig::resolve);
    let outcome = match &job {
        Ok(job) => run_job(job),
        Err(e) => Err(UsageError(e.0.clone()).into()),
    };
    let result = ocpagg_cli::RunResult::new(
        config.as_ref().ok(),
        job.as_ref().ok(),
        outcome.as_ref().map_err(|e| (e, exit_code(e))),
        started.elapsed(),
    );
    if let Some(path) = &reporting.metrics_file {
        if let Err(e) = result.write_metrics(path) {
            tracing::warn!("{e:#}");
        }
    }
    if reporting.json_result {
        println!("{}", result.to_json());
    }
    let report = outcome?;
    if !quiet {
        match reporting.log_format {
            ocpagg_cli::logging::LogFormat::Text => {
                eprint!("{}", ocpagg_cli::summary::render(&report))
            }
            ocpagg_cli::logging::LogFormat::Json => tracing::info!(
                files_read = result.files_read,
                rows_read = result.rows_read.values().sum::<u64>(),
                rows_inserted = result.rows_inserted,
                rows_deleted = result.rows_deleted,
                wall_seconds = result.wall_seconds,
                output = result.output.as_deref().unwrap_or(""),
                "Run finished."
            ),
        }
    }
    Ok(())
}

/// Runs a resolved job with the process's signal handling. After a signal, whatever error
/// the run stopped with (the readers' `Interrupted`, or a database statement the signal
/// cancelled) is reported as the interruption, in one line: what happened and what was left
/// untouched.
fn run_job(job: &ocpagg_cli::Job) -> Result<ocpagg_cli::RunReport> {
    limit_retained_memory(job.threads);
    ocpagg_cli::interrupt::install().context("cannot install the SIGINT/SIGTERM handlers")?;
    ocpagg_cli::run(job).map_err(|e| {
        let signal = e
            .downcast_ref::<Interrupted>()
            .copied()
            .or_else(ocpagg_cli::interrupt::requested);
        match signal {
            Some(signal) => anyhow::Error::new(signal).context(match &job.output {
                Output::File(path) => format!(
                    "stopped; {path} was not written (a file there keeps its previous contents)"
                ),
                Output::Postgres { schema, .. } => format!(
                    "stopped; the transaction was rolled back and {schema}.reporting_ocpusagelineitem_daily_summary keeps its previous rows"
                ),
            }),
            None => e,
        }
    })
}

fn cmd_preflight(args: &PreflightArgs) -> Result<()> {
    init_logging(true);
    let job = RunConfig::load(args.run.config.as_deref(), &args.run.settings.clone())
        .and_then(|config| config.resolve());
    let (report, usage) = match &job {
        Ok(job) => (ocpagg_cli::preflight::preflight(job), None),
        Err(e) => (ocpagg_cli::preflight::settings_failed(e), Some(e)),
    };
    if args.format == "json" {
        println!("{}", report.render_json());
    } else {
        print!("{}", report.render_text());
    }
    match usage {
        Some(e) => Err(UsageError(e.0.clone()).into()),
        None if report.ready() => Ok(()),
        None => Err(anyhow::anyhow!("{}", report.verdict())),
    }
}

fn cmd_status(args: &StatusArgs) -> Result<()> {
    init_logging(true);
    let job = RunConfig::load(args.run.config.as_deref(), &args.run.settings.clone())
        .and_then(|config| config.resolve())?;
    let report = ocpagg_cli::pipeline::status(&job)?;
    if args.format == "json" {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!("{}: {}", report.mode, report.reason);
    for (what, files) in [
        ("new", &report.files.new),
        ("changed", &report.files.changed),
        ("gone", &report.files.gone),
    ] {
        for file in files {
            println!("  {what:8}{file}");
        }
    }
    let days: Vec<String> = report
        .affected_days
        .iter()
        .map(ToString::to_string)
        .collect();
    if !days.is_empty() {
        println!("days to recompute: {}", days.join(", "));
    }
    if report.plus_days_of_new_files {
        println!("plus the days the new and changed files hold (from their footers, at run time)");
    }
    Ok(())
}

fn cmd_init_db(args: &InitDbArgs) -> Result<()> {
    init_logging(false);
    let target = ocpagg_writer::PgTarget::parse(&args.database_url)
        .map_err(|e| UsageError(format!("setting `database_url`: {e}")))?;
    let mut client = target.connect()?;
    ocpagg_writer::pg::init_db(&mut client, &target, &args.schema)?;
    eprintln!("schema {} is ready on {target}", args.schema);
    Ok(())
}

fn cmd_generate(args: &GenerateArgs) -> Result<()> {
    init_logging(false);
    ocpagg_cli::config::check_org(&args.org)?;
    ocpagg_cli::config::check_source(&args.source)?;
    let layout = Layout::new(&args.org, &args.source, &args.cluster_id);
    let opts = WriteOptions {
        daily: !args.no_daily,
        ..WriteOptions::default()
    };
    let started = std::time::Instant::now();
    let written = match &args.scenario {
        Some(path) => {
            let scenario = Scenario::from_path(path)?;
            scenario.dataset().write(&args.out, &layout, &opts)?
        }
        None => {
            let (year, month) = (
                args.year.expect("clap requires it"),
                args.month.expect("clap requires it"),
            );
            ocpagg_cli::config::check_month(year, month)?;
            let mut spec = ScaleSpec::new(year, month, args.pod_rows);
            spec.seed = args.seed;
            spec.write(&args.out, &layout, &opts)?
        }
    };
    eprintln!(
        "wrote {} files under {} in {:.2} s",
        written.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn cmd_demo(args: &DemoArgs) -> Result<()> {
    init_logging(args.quiet);
    let (report, batch) = ocpagg_cli::demo::demo(args.pod_rows, args.threads, args.quiet)?;
    if !args.quiet {
        eprint!("{}", ocpagg_cli::summary::render(&report));
    }
    println!("{}", demo_table(&batch).context("cannot render the table")?);
    Ok(())
}

/// Per-day totals of the demo's output: rows, namespaces, CPU and memory.
fn demo_table(batch: &RecordBatch) -> Result<String> {
    use std::collections::BTreeMap;
    let days = arrow::compute::cast(
        batch.column_by_name("usage_start").context("usage_start")?,
        &arrow::datatypes::DataType::Utf8,
    )?;
    let days = days.as_string::<i32>();
    let col = |n: &str| -> Result<_> {
        Ok(batch
            .column_by_name(n)
            .with_context(|| n.to_string())?
            .as_primitive::<Float64Type>()
            .clone())
    };
    let (usage, request, mem, cap, pvc) = (
        col("pod_usage_cpu_core_hours")?,
        col("pod_request_cpu_core_hours")?,
        col("pod_usage_memory_gigabyte_hours")?,
        col("cluster_capacity_cpu_core_hours")?,
        col("persistentvolumeclaim_usage_gigabyte_months")?,
    );
    // Pod rows proper carry pod labels; unallocated rows (data_source Pod too) do not.
    let pod_labels = batch.column_by_name("pod_labels").context("pod_labels")?;
    let sources = batch.column_by_name("data_source").context("data_source")?;
    let sources = sources.as_string::<i32>();
    let v = |a: &arrow::array::Float64Array, i: usize| if a.is_valid(i) { a.value(i) } else { 0.0 };
    #[derive(Default)]
    struct Day {
        rows: usize,
        usage: f64,
        request: f64,
        memory: f64,
        unallocated: f64,
        pvc: f64,
        cluster: f64,
    }
    let mut per_day: BTreeMap<String, Day> = BTreeMap::new();
    for i in 0..batch.num_rows() {
        let e = per_day.entry(days.value(i).to_string()).or_default();
        e.rows += 1;
        match (sources.value(i), pod_labels.is_valid(i)) {
            ("Pod", true) => {
                e.usage += v(&usage, i);
                e.request += v(&request, i);
                e.memory += v(&mem, i);
            }
            ("Pod", false) => e.unallocated += v(&usage, i),
            _ => e.pvc += v(&pvc, i),
        }
        e.cluster = e.cluster.max(v(&cap, i));
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header([
        "day",
        "rows",
        "pod cpu usage core-h",
        "pod cpu request core-h",
        "pod memory usage GiB-h",
        "unallocated cpu core-h",
        "cluster cpu core-h",
        "pvc usage GiB-months",
    ]);
    for (day, d) in per_day.iter().take(7) {
        table.add_row([
            day.clone(),
            d.rows.to_string(),
            format!("{:.3}", d.usage),
            format!("{:.3}", d.request),
            format!("{:.3}", d.memory),
            format!("{:.3}", d.unallocated),
            format!("{:.3}", d.cluster),
            format!("{:.4}", d.pvc),
        ]);
    }
    if per_day.len() > 7 {
        let mut more = vec!["…".to_string(), format!("{} more days", per_day.len() - 7)];
        more.resize(8, String::new());
        table.add_row(more);
    }
    Ok(table.to_string())
}
