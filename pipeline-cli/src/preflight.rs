//! `ocpagg preflight`: checks, before a real run and with the run's own settings, that the run
//! would start and find what it needs. It reads only listings, Parquet footers and the
//! database's catalog, and changes nothing (the file-output check creates and removes a
//! temporary file, as a run does first).
//!
//! Each check gives one [`Check`]: [`Status::Pass`], [`Status::Warn`] (the run works, but
//! something is worth knowing, such as a missing optional report type) or [`Status::Fail`]
//! (the run would fail), with a remedy on failure. All checks run; a failure does not hide the
//! later ones unless they depend on it (no file checks without a listing, no table checks
//! without a connection).
//!
//! Where a run makes a decision, the preflight calls the same code: the file selection
//! ([`ocpagg_reader::Selection::of`], which [`ocpagg_reader::ScanPlan::build`] uses), the
//! footer schema check ([`ocpagg_reader::Projection::check_schema`], the function a read
//! decides with), the summary table check ([`SummaryTable::check`]), the side-input read, and
//! the file sink's creation.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ocpagg_aggregate::Aggregator;
use ocpagg_reader::{
    daily_pods_complete, DataFile, FileFooter, Listing, ReportType, Selection, Warehouse,
};
use ocpagg_writer::pg::{read_side_inputs, PartitionStatus, SummaryTable, SUMMARY_TABLE};
use ocpagg_writer::PgTarget;
use serde::Serialize;

use crate::config::{Job, Output};
use crate::pipeline::no_pod_files;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Ready.
    Pass,
    /// The run works, but read the detail.
    Warn,
    /// The run would fail.
    Fail,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        })
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Outcome.
    pub status: Status,
    /// What was checked (`warehouse`, `pod_usage`, `schema`, `database`, ...).
    pub name: String,
    /// What was found.
    pub detail: String,
    /// What to do about a failure (or a warning).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

/// Every check, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// Ready: no check failed.
    pub fn ready(&self) -> bool {
        self.failures() == 0
    }

    /// How many checks failed.
    pub fn failures(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count()
    }

    /// The checks with this name.
    pub fn named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Check> + 'a {
        let name = name.to_owned();
        self.checks.iter().filter(move |c| c.name == name)
    }

    fn push(&mut self, status: Status, name: &str, detail: impl Into<String>) {
        self.checks.push(Check {
            status,
            name: name.to_string(),
            detail: detail.into(),
            remedy: None,
        });
    }

    fn pass(&mut self, name: &str, detail: impl Into<String>) {
        self.push(Status::Pass, name, detail);
    }

    fn warn(&mut self, name: &str, detail: impl Into<String>, remedy: impl Into<String>) {
        self.push(Status::Warn, name, detail);
        self.checks.last_mut().expect("just pushed").remedy = Some(remedy.into());
    }

    fn fail(&mut self, name: &str, detail: impl Into<String>, remedy: impl Into<String>) {
        self.push(Status::Fail, name, detail);
        self.checks.last_mut().expect("just pushed").remedy = Some(remedy.into());
    }

    /// The verdict line.
    pub fn verdict(&self) -> String {
        match self.failures() {
            0 => "ready: a run with these settings can start".to_string(),
            n => format!(
                "NOT READY: {n} check{} failed",
                if n == 1 { "" } else { "s" }
            ),
        }
    }

    /// One line per check (`STATUS name  detail`, the remedy indented below it), then the
    /// verdict.
    pub fn render_text(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for c in &self.checks {
            let _ = writeln!(out, "{}  {:width$}  {}", c.status, c.name, c.detail);
            if let Some(remedy) = &c.remedy {
                let _ = writeln!(out, "      {:width$}  remedy: {remedy}", "");
            }
        }
        let _ = writeln!(out, "{}", self.verdict());
        out
    }

    /// `{"ready": bool, "checks": [{"status", "name", "detail", "remedy"?}, ...]}`.
    pub fn render_json(&self) -> String {
        serde_json::json!({ "ready": self.ready(), "checks": self.checks }).to_string()
    }
}

/// The report of settings that do not resolve: one failed `settings` check.
pub fn settings_failed(error: &dyn std::fmt::Display) -> Report {
    let mut report = Report::default();
    report.fail(
        "settings",
        error.to_string(),
        "fix the setting (the same flags, OCPAGG_* variables and config file as `ocpagg run`)",
    );
    report
}

/// Free space below this is too little for anything: a fixed floor under every estimate.
pub const MIN_FREE_BYTES: u64 = 64 << 20;

/// Runs every check for `job`.
pub fn preflight(job: &Job) -> Report {
    let mut report = Report::default();
    report.pass(
        "settings",
        format!(
            "org {} source {} {}-{:02} days {}..{} → {}",
            job.request.org,
            job.request.source,
            job.request.year,
            job.request.month,
            job.run.start,
            job.run.end,
            job.output
        ),
    );
    let input_bytes = check_warehouse(job, &mut report);
    match &job.output {
        Output::File(path) => check_file_output(Path::new(path), input_bytes, &mut report),
        Output::Postgres { target, schema, .. } => {
            check_database(job, target, schema, &mut report);
        }
    }
    if let Some(url) = &job.hive_output {
        check_hive_output(job, url, &mut report);
    }
    let temp = std::env::temp_dir();
    match free_bytes(&temp) {
        Ok(free) if free >= MIN_FREE_BYTES => report.pass(
            "disk (temp)",
            format!("{}: {} free", temp.display(), size(free)),
        ),
        Ok(free) => report.warn(
            "disk (temp)",
            format!(
                "{}: only {} free (less than {})",
                temp.display(),
                size(free),
                size(MIN_FREE_BYTES)
            ),
            "the run writes no temporary files here, but TMPDIR is nearly full; free space or point TMPDIR elsewhere",
        ),
        Err(e) => report.warn(
            "disk (temp)",
            format!("{}: cannot measure free space: {e}", temp.display()),
            "check that TMPDIR exists",
        ),
    }
    report
}

fn warehouse_remedy(url: &str) -> String {
    if url.starts_with("s3://") || url.starts_with("s3a://") {
        "check the bucket and prefix in --warehouse and the AWS_* settings: AWS_ENDPOINT_URL \
         (and AWS_ALLOW_HTTP=true for an http:// endpoint), AWS_REGION, AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY"
            .into()
    } else {
        "check --warehouse: an existing directory (or file:// URL) holding koku's data/parquet/ tree"
            .into()
    }
}

/// Lists the month, checks the report types and every footer the run reads. Returns the
/// bytes of the files the run reads (0 when the listing failed).
fn check_warehouse(job: &Job, report: &mut Report) -> u64 {
    let warehouse = match Warehouse::open_with(&job.warehouse, &job.store) {
        Ok(w) => w,
        Err(e) => {
            report.fail("warehouse", e.to_string(), warehouse_remedy(&job.warehouse));
            return 0;
        }
    };
    let plan = match warehouse.list(&job.request) {
        Ok(p) => p,
        Err(e) => {
            report.fail("warehouse", e.to_string(), warehouse_remedy(&job.warehouse));
            return 0;
        }
    };
    report.pass(
        "warehouse",
        format!(
            "{}: reachable, {} files ({}) for this source and month",
            warehouse.url(),
            plan.files.len(),
            size(plan.files.iter().map(|f| f.size).sum())
        ),
    );
    check_report_types(job, &warehouse, &plan, report);
    if !plan.has(ReportType::PodUsage, false) {
        return 0;
    }

    // Footers, read once each, all at once (from S3, one at a time would cost a round trip
    // per file); then the file selection asks for the daily pod files' as a run does, and the
    // checks below for those of every file the run reads.
    let mut footers: BTreeMap<String, Result<FileFooter, String>> = plan
        .files
        .iter()
        .zip(warehouse.footers(&plan.files))
        .map(|(file, footer)| (file.location.to_string(), footer.map_err(|e| e.to_string())))
        .collect();
    let Ok(selection) = Selection::of(&plan, |file| {
        Ok::<_, std::convert::Infallible>(
            footer(&mut footers, &warehouse, file).is_ok_and(|f| daily_pods_complete(&f)),
        )
    });
    // A daily pod file whose footer cannot be read fails a run even where the selection then
    // leaves the daily files out: report it too.
    for file in plan.files(ReportType::PodUsage, true) {
        let left_out = !selection.files.iter().any(|(f, _)| f == file);
        if let (true, Some(Err(e))) = (left_out, footers.get(file.location.as_ref())) {
            report.fail("file", e.clone(), FILE_REMEDY);
        }
    }

    let (mut files_ok, mut pod_rows, mut pod_problems, mut bytes) = (0usize, 0u64, false, 0u64);
    for (file, pass) in &selection.files {
        bytes += file.size;
        let is_hourly_pod = file.report_type == ReportType::PodUsage && !file.daily;
        let footer = match footer(&mut footers, &warehouse, file) {
            Ok(f) => f,
            Err(e) => {
                report.fail("file", e, FILE_REMEDY);
                pod_problems |= is_hourly_pod;
                continue;
            }
        };
        let described = warehouse.describe(&file.location);
        if let Err(e) = footer.check(file, &described) {
            report.fail("file", e.to_string(), FILE_REMEDY);
            pod_problems |= is_hourly_pod;
            continue;
        }
        let problems = Aggregator::needs()
            .projection(file, *pass)
            .check_schema(&footer.schema, &described);
        if problems.is_empty() {
            files_ok += 1;
            if is_hourly_pod {
                pod_rows += footer.rows;
            }
        } else {
            pod_problems |= is_hourly_pod;
        }
        for problem in problems {
            report.fail(
                "schema",
                problem.to_string(),
                "re-export the file with koku's columns (SPEC.md \"Input\"), or remove it from the month",
            );
        }
    }
    // The same upload under two names, as a run refuses it (equal footers compared byte for
    // byte, so a month without duplicates reads no data here).
    let footed: Vec<(&DataFile, &FileFooter)> = selection
        .files
        .iter()
        .filter_map(|(file, _)| match footers.get(file.location.as_ref()) {
            Some(Ok(f)) => Some((file, f)),
            _ => None,
        })
        .collect();
    if let Err(e) = warehouse.check_duplicates(&footed) {
        report.fail("file", e.to_string(), FILE_REMEDY);
        files_ok = 0;
    }
    if files_ok == selection.files.len() {
        let unread = plan.files.len() - selection.files.len();
        report.pass(
            "schemas",
            format!(
                "{files_ok} files the run reads ({}): footers have every required column with a readable type{}",
                size(bytes),
                if unread > 0 {
                    format!("; {unread} files the run does not read were not checked")
                } else {
                    String::new()
                }
            ),
        );
    }
    if !pod_problems && pod_rows == 0 {
        report.fail(
            "pod_usage rows",
            "the hourly pod_usage files hold no rows",
            "the month's upload is empty: wait for koku to process the cluster's reports, or check --source",
        );
    }
    let daily_any = ReportType::ALL.iter().any(|&t| plan.has(t, true));
    let detail = if !daily_any {
        "absent: every sum comes from the hourly line items (valid; same results, more to read)"
            .to_string()
    } else {
        format!(
            "pod sums from {}, storage sums from {}",
            if selection.pods_from_daily {
                "the daily roll-up"
            } else if plan.has(ReportType::PodUsage, true) {
                "hourly line items (a daily pod file lacks complete effective usage)"
            } else {
                "hourly line items"
            },
            if selection.storage_from_daily {
                "the daily roll-up"
            } else {
                "hourly line items"
            }
        )
    };
    report.pass("daily roll-up", detail);
    bytes
}

const FILE_REMEDY: &str =
    "replace the file with koku's Parquet, or remove it from the month's directory";

/// A file's footer, read at most once.
fn footer(
    cache: &mut BTreeMap<String, Result<FileFooter, String>>,
    warehouse: &Warehouse,
    file: &DataFile,
) -> Result<FileFooter, String> {
    cache
        .entry(file.location.to_string())
        .or_insert_with(|| warehouse.footer(file).map_err(|e| e.to_string()))
        .clone()
}

/// One line per report type: present (hourly, daily) or absent, and what absence means.
fn check_report_types(job: &Job, warehouse: &Warehouse, plan: &Listing, report: &mut Report) {
    for table in ReportType::ALL {
        let hourly = plan.files(table, false).count();
        let daily = plan.files(table, true).count();
        let name = table.dir_name();
        if table == ReportType::PodUsage && hourly == 0 {
            report.fail(
                name,
                no_pod_files(warehouse, job),
                "check --org, --source, --year and --month (and --warehouse); koku writes the hourly \
                 files under data/parquet/{org}/OCP/pod_usage/source={uuid}/year=YYYY/month=MM",
            );
            continue;
        }
        if hourly + daily == 0 {
            let meaning = match table {
                ReportType::StorageUsage => {
                    "absent: no Storage rows will be written (the cluster reported no persistent volume claims)"
                }
                ReportType::NodeLabels => {
                    "absent: no node labels in the rows' labels, and no role is derived for any node \
                     (unallocated rows get a null namespace unless --node-role or the database gives a role)"
                }
                ReportType::NamespaceLabels => {
                    "absent: no namespace labels in the rows' labels"
                }
                ReportType::PodUsage => unreachable!("handled above"),
            };
            let prefix = Warehouse::table_prefix(&job.request, table, false);
            report.warn(
                name,
                meaning,
                format!(
                    "nothing to do if the cluster has none; koku writes them under {}",
                    warehouse.describe(&prefix)
                ),
            );
            continue;
        }
        report.pass(
            name,
            format!("{hourly} hourly files, {daily} daily (roll-up) files"),
        );
    }
}

/// The file sink's own creation (a temporary file beside the target, removed again), and the
/// free space of that directory.
///
/// Threshold: the larger of [`MIN_FREE_BYTES`] and twice the bytes of the input files the run
/// reads. The summary has one row per day and group where the input has one per hour and pod,
/// so its file is not larger than the input's Parquet in practice; the factor 2 leaves room
/// for CSV, which is not compressed.
fn check_file_output(path: &Path, input_bytes: u64, report: &mut Report) {
    match ocpagg_writer::open_file_sink(path, ocpagg_aggregate::schema::summary_schema()) {
        Ok(sink) => {
            drop(sink); // unfinished: removes its temporary file
            report.pass(
                "output",
                format!(
                    "{}: directory writable{}",
                    path.display(),
                    if path.exists() {
                        " (the file exists; a run replaces it)"
                    } else {
                        ""
                    }
                ),
            );
        }
        Err(e) => report.fail(
            "output",
            e.to_string(),
            "create the directory, or choose a writable --output (*.parquet, *.csv or a postgresql:// URL)",
        ),
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let needed = MIN_FREE_BYTES.max(input_bytes.saturating_mul(2));
    match free_bytes(&dir) {
        Ok(free) if free >= needed => report.pass(
            "disk (output)",
            format!(
                "{}: {} free, {} wanted (twice the input, at least {})",
                dir.display(),
                size(free),
                size(needed),
                size(MIN_FREE_BYTES)
            ),
        ),
        Ok(free) => report.fail(
            "disk (output)",
            format!(
                "{}: {} free, {} wanted (twice the input, at least {})",
                dir.display(),
                size(free),
                size(needed),
                size(MIN_FREE_BYTES)
            ),
            "free space there, or write the output elsewhere",
        ),
        Err(e) => report.fail(
            "disk (output)",
            format!("{}: cannot measure free space: {e}", dir.display()),
            "create the output directory",
        ),
    }
}

fn init_db_remedy(target: &PgTarget, schema: &str) -> String {
    format!(
        "run `ocpagg init-db --database-url {target} --schema {schema}` (password from PGPASSWORD), \
         or point --schema at a koku tenant schema"
    )
}

/// Connection, tables and columns, side inputs, privileges, and the month's partition.
fn check_database(job: &Job, target: &PgTarget, schema: &str, report: &mut Report) {
    let mut client = match target.connect() {
        Ok(c) => c,
        Err(e) => {
            report.fail(
                "database",
                e.to_string(),
                "check host, port, user and database in --output (and PGPASSWORD / PG* variables); \
                 is the server running and reachable from here?",
            );
            return;
        }
    };
    let version = client
        .query_one("SHOW server_version", &[])
        .map(|r| r.get::<_, String>(0))
        .unwrap_or_else(|_| "?".into());
    // What the server saw, not what was asked: prefer and allow may end up in clear text.
    let tls = client
        .query_opt(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .ok()
        .flatten()
        .map(|r| (r.get::<_, bool>(0), r.get::<_, Option<String>>(1)));
    let mode = target.tls().effective_mode();
    let tls = match tls {
        Some((true, version)) => format!(
            "TLS {} (sslmode={mode})",
            version.unwrap_or_else(|| "?".into())
        ),
        Some((false, _)) => format!("without TLS (sslmode={mode})"),
        None => format!("sslmode={mode}"),
    };
    report.pass(
        "database",
        format!("{target}: connected (PostgreSQL {version}), {tls}"),
    );
    let table = match SummaryTable::check(
        &mut client,
        target,
        schema,
        &ocpagg_aggregate::schema::summary_schema(),
    ) {
        Ok(t) => {
            report.pass(
                "summary table",
                format!(
                    "{schema}.{SUMMARY_TABLE}: koku's columns{}",
                    match (t.partitioned, t.partition_registry) {
                        (false, _) => ", not partitioned",
                        (true, true) => ", partitioned (partitions through partitioned_tables)",
                        (true, false) => ", partitioned",
                    }
                ),
            );
            Some(t)
        }
        Err(e) => {
            report.fail(
                "summary table",
                e.to_string(),
                init_db_remedy(target, schema),
            );
            None
        }
    };
    match read_side_inputs(&mut client, target, schema) {
        Ok(db) => {
            let overridden = |set: bool| {
                if set {
                    " (overridden by the settings)"
                } else {
                    ""
                }
            };
            report.pass(
                "side inputs",
                format!(
                    "{} enabled tag keys{}, {} cost-category patterns{}, {} node roles",
                    db.enabled_keys.len(),
                    overridden(job.explicit.enabled_keys),
                    db.cost_categories.len(),
                    overridden(job.explicit.cost_categories),
                    db.node_roles.len()
                ),
            );
        }
        Err(e) => report.fail("side inputs", e.to_string(), init_db_remedy(target, schema)),
    }
    let Some(table) = table else { return };
    match crate::pipeline::database_run(&mut client, target, schema, &table, job) {
        Ok(run) => report.pass(
            "report period",
            format!(
                "id {} (cluster {}, alias {}){}",
                run.report_period_id.unwrap_or_default(),
                run.cluster_id,
                run.cluster_alias,
                if job.run.report_period_id.is_some() {
                    ", as given"
                } else {
                    ", koku's row for the source and month"
                }
            ),
        ),
        Err(e) => report.fail(
            "report period",
            format!("{e:#}"),
            "koku creates the report period when it processes the month's first report;              give --report-period-id, and check --cost-category ids and --cluster-id against koku's tables",
        ),
    }
    let user = client
        .query_one("SELECT current_user::text", &[])
        .map(|r| r.get::<_, String>(0))
        .unwrap_or_else(|_| "the role".into());
    match table.missing_privileges(&mut client, target) {
        Ok(missing) if missing.is_empty() => report.pass(
            "privileges",
            format!("{user} may read the side inputs and delete and insert summary rows"),
        ),
        Ok(missing) => report.fail(
            "privileges",
            format!("{user} lacks {}", missing.join(", ")),
            format!("GRANT them to {user}, or run as the role that owns schema {schema}"),
        ),
        Err(e) => report.fail("privileges", e.to_string(), "check the role's access"),
    }
    match table.partition_status(&mut client, target, job.run.start) {
        Ok(PartitionStatus::NotPartitioned) => {
            report.pass("partition", "the table is not partitioned: none needed");
        }
        Ok(PartitionStatus::Exists { name }) => {
            report.pass("partition", format!("{schema}.{name} exists"));
        }
        Ok(PartitionStatus::WillBeCreated { name, via_registry }) => report.pass(
            "partition",
            format!(
                "{schema}.{name} is absent and will be created by the run{}",
                if via_registry {
                    " (through partitioned_tables)"
                } else {
                    ""
                }
            ),
        ),
        Ok(PartitionStatus::CannotCreate { name, missing }) => report.fail(
            "partition",
            format!(
                "{schema}.{name} is absent and {user} cannot create it: lacks {}",
                missing.join(", ")
            ),
            format!("create the partition as the table's owner, or GRANT the privileges to {user}"),
        ),
        Err(e) => report.fail("partition", e.to_string(), "check the role's access"),
    }
}

/// `--hive-output`: the location can be listed (S3), or is (or can become) a directory.
/// Changes nothing: a missing local directory is only reported (the run creates it).
fn check_hive_output(job: &Job, url: &str, report: &mut Report) {
    let remote = url.starts_with("s3://") || url.starts_with("s3a://");
    if !remote {
        let path = Path::new(url.strip_prefix("file://").unwrap_or(url));
        let existing = path.ancestors().find(|p| p.exists());
        match existing {
            Some(p) if p == path && p.is_dir() => {
                report.pass("hive output", format!("{} is a directory", path.display()))
            }
            Some(p) if p.is_dir() => report.pass(
                "hive output",
                format!(
                    "{} will be created by the run (in {})",
                    path.display(),
                    p.display()
                ),
            ),
            _ => report.fail(
                "hive output",
                format!(
                    "{} is not a directory and cannot be created",
                    path.display()
                ),
                "give the Hive table's location: a directory, or s3://bucket/prefix",
            ),
        }
        return;
    }
    let checked = ocpagg_reader::open_writable_store(url, &job.store)
        .map_err(|e| e.to_string())
        .and_then(|location| {
            ocpagg_writer::hive::check_location(
                location.store.as_ref(),
                &job.request.source,
                job.run.start,
            )
            .map(|n| (location.display, n))
            .map_err(|e| e.to_string())
        });
    match checked {
        Ok((display, n)) => report.pass(
            "hive output",
            format!(
                "{display} lists ({n} objects in the first day's partition; write access is not tested)"
            ),
        ),
        Err(e) => report.fail(
            "hive output",
            e,
            "check the bucket and prefix in --hive-output and the AWS_* settings (the same as the warehouse's)",
        ),
    }
}

/// Bytes available to an unprivileged user on the file system holding `path`.
#[cfg(unix)]
fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(path)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

#[cfg(not(unix))]
fn free_bytes(_path: &Path) -> std::io::Result<u64> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "free space is measured on Unix only",
    ))
}

/// `12.3 MiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
