//! `ocpagg preflight`: one line per check, exit 0 only when ready. Local warehouses, a real
//! PostgreSQL server and a real S3 server (started by scripts/test.sh).

use std::path::{Path, PathBuf};

use ocpagg_cli::config::RunConfig;
use ocpagg_cli::preflight::{Report, Status};
use ocpagg_fixtures::{Dataset, WriteOptions};
use postgres::Client;

use crate::common::*;
use crate::pg::*;

impl Outcome {
    /// The check lines (everything but the verdict).
    fn check_lines(&self) -> Vec<&str> {
        let lines: Vec<&str> = self.stdout.lines().collect();
        lines[..lines.len() - 1]
            .iter()
            .copied()
            .filter(|l| !l.trim_start().starts_with("remedy:"))
            .collect()
    }

    fn verdict(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }

    /// The line of the check `name` with this status.
    fn line(&self, status: &str, name: &str) -> &str {
        self.check_lines()
            .into_iter()
            .find(|l| {
                l.starts_with(status)
                    && l[4..].trim_start().starts_with(name)
                    && l[4..].trim_start()[name.len()..].starts_with("  ")
            })
            .unwrap_or_else(|| panic!("no {status} {name} line in:\n{}", self.stdout))
    }
}

/// `ocpagg <command>` with the settings of a run over `warehouse`, October 2025.
fn command(command: &str, warehouse: &str, month: &str, output: &str, extra: &[&str]) -> Outcome {
    Cli::command(command, warehouse, month, output)
        .args(extra)
        .output()
}

fn preflight_lake(lake: &Lake, month: &str, output: &Path) -> Outcome {
    command(
        "preflight",
        lake.path().to_str().unwrap(),
        month,
        output.to_str().unwrap(),
        &[],
    )
}

fn preflight_lib(config: &RunConfig) -> Report {
    ocpagg_cli::preflight::preflight(&config.resolve().expect("valid config"))
}

/// Two days of one pod: pod_usage only.
fn pods_only() -> Dataset {
    one_pod(1..=2, 24)
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(parquet_files(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out
}

fn pod_dir(lake: &Lake) -> PathBuf {
    lake.path().join(format!(
        "data/parquet/{ORG}/OCP/pod_usage/source={SOURCE}/year=2025/month=10"
    ))
}

fn first_pod_file(lake: &Lake) -> PathBuf {
    let mut files = parquet_files(&pod_dir(lake));
    files.sort();
    files.remove(0)
}

/// Rewrites a Parquet file without one column.
fn drop_column(path: &Path, column: &str) {
    rewrite(path, |mut b| {
        b.remove_column(b.schema().index_of(column).unwrap());
        b
    });
}

#[test]
fn ready_local_warehouse_and_file_output_pass() {
    let lake = Lake::new(&with_effective_usage(generated_month(3_000)));
    let out_dir = tempfile::tempdir().unwrap();
    let output = out_dir.path().join("summary.csv");
    let o = preflight_lake(&lake, "10", &output);
    assert_eq!(o.code, 0, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    for line in o.check_lines() {
        assert!(line.starts_with("PASS"), "not PASS: {line}\n{}", o.stdout);
    }
    assert!(o.verdict().starts_with("ready"), "{}", o.stdout);
    // Counted here from the directory tree: every file, and those a run reads (with complete
    // effective usage: every daily file, plus the hourly pod files for node capacity).
    let all = parquet_files(lake.path());
    let daily = all
        .iter()
        .filter(|p| p.to_str().unwrap().contains("/data/parquet/daily/"))
        .count();
    let hourly_pods = parquet_files(&pod_dir(&lake)).len();
    assert!(daily > 0 && hourly_pods > 0);
    assert!(
        o.line("PASS", "warehouse")
            .contains(&format!("{} files", all.len())),
        "{}",
        o.stdout
    );
    assert!(
        o.line("PASS", "schemas")
            .contains(&format!("{} files the run reads", daily + hourly_pods)),
        "{}",
        o.stdout
    );
    assert!(o
        .line("PASS", "daily roll-up")
        .contains("pod sums from the daily roll-up"));
    for name in [
        "settings",
        "pod_usage",
        "storage_usage",
        "node_labels",
        "namespace_labels",
        "output",
        "disk (output)",
        "disk (temp)",
    ] {
        o.line("PASS", name);
    }
    // Nothing left behind by the writability check, and no output written.
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 0);

    // The same as JSON.
    let o = command(
        "preflight",
        lake.path().to_str().unwrap(),
        "10",
        output.to_str().unwrap(),
        &["--format", "json"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["ready"], true);
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.len() >= 10, "{checks:?}");
    assert!(checks.iter().all(|c| c["status"] == "PASS"), "{checks:?}");
}

#[test]
fn month_without_files_fails_naming_the_prefix() {
    let lake = Lake::new(&pods_only());
    let out = tempfile::tempdir().unwrap();
    let o = preflight_lake(&lake, "11", &out.path().join("s.parquet"));
    assert_eq!(o.code, 1, "{}", o.stdout);
    let line = o.line("FAIL", "pod_usage");
    let prefix = format!("data/parquet/{ORG}/OCP/pod_usage/source={SOURCE}/year=2025/month=11");
    assert!(line.contains(&prefix), "{line}");
    assert!(
        o.stdout.contains("remedy: check --org, --source"),
        "{}",
        o.stdout
    );
    assert!(o.verdict().starts_with("NOT READY"), "{}", o.stdout);
    assert!(o.stderr.contains("NOT READY"), "{}", o.stderr);
}

#[test]
fn missing_required_column_fails_naming_file_and_column() {
    let lake = Lake::new(&pods_only());
    let file = first_pod_file(&lake);
    drop_column(&file, "pod_request_cpu_core_seconds");
    let out = tempfile::tempdir().unwrap();
    let output = out.path().join("s.parquet");
    let o = preflight_lake(&lake, "10", &output);
    assert_eq!(o.code, 1, "{}", o.stdout);
    let name = file.file_name().unwrap().to_str().unwrap();
    let line = o.line("FAIL", "schema");
    assert!(line.contains(name), "{line}");
    assert!(line.contains("pod_request_cpu_core_seconds"), "{line}");
    assert!(line.contains("missing"), "{line}");
    // The other pod file is fine: exactly one schema failure, and no summary PASS line.
    assert_eq!(o.stdout.matches("FAIL  schema").count(), 1, "{}", o.stdout);
    assert!(!o.stdout.contains("PASS  schemas"), "{}", o.stdout);
    // A run with the same settings fails on the same file and column.
    let run = command(
        "run",
        lake.path().to_str().unwrap(),
        "10",
        output.to_str().unwrap(),
        &["--quiet"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(name) && run.stderr.contains("pod_request_cpu_core_seconds"));
}

#[test]
fn non_parquet_file_fails_naming_it() {
    let lake = Lake::new(&pods_only());
    let bad = pod_dir(&lake).join("zzz_not_parquet.parquet");
    std::fs::write(&bad, b"PAR1 this is not really parquet PAR1").unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = preflight_lake(&lake, "10", &out.path().join("s.parquet"));
    assert_eq!(o.code, 1, "{}", o.stdout);
    let line = o.line("FAIL", "file");
    assert!(line.contains("zzz_not_parquet.parquet"), "{line}");
    assert!(line.contains("not a readable Parquet file"), "{line}");
}

#[test]
fn hourly_only_passes_with_daily_absent_and_optional_tables_warned() {
    let lake = Lake::write(&pods_only(), &WriteOptions::hourly_only());
    let out = tempfile::tempdir().unwrap();
    let o = preflight_lake(&lake, "10", &out.path().join("s.parquet"));
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(o.line("PASS", "daily roll-up").contains("absent"));
    assert!(o
        .line("PASS", "pod_usage")
        .contains("2 hourly files, 0 daily"));
    assert!(o.line("WARN", "storage_usage").contains("no Storage rows"));
    o.line("WARN", "node_labels");
    o.line("WARN", "namespace_labels");
    assert!(o.verdict().starts_with("ready"), "{}", o.stdout);
    assert!(!o.stdout.contains("FAIL"), "{}", o.stdout);
}

#[test]
fn unwritable_output_and_bad_settings_fail() {
    let lake = Lake::new(&pods_only());
    let o = preflight_lake(&lake, "10", Path::new("/nonexistent-dir/s.parquet"));
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.line("FAIL", "output").contains("/nonexistent-dir"));
    // A setting that does not resolve: a usage error, reported as a check.
    let o = preflight_lake(&lake, "13", Path::new("s.parquet"));
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(
        o.line("FAIL", "settings").contains("setting `month`: 13"),
        "{}",
        o.stdout
    );
}

// ---- PostgreSQL ----

fn exists(c: &mut Client, qualified: &str) -> bool {
    c.query_one("SELECT to_regclass($1) IS NOT NULL", &[&qualified])
        .unwrap()
        .get(0)
}

fn drop_schema(c: &mut Client, schema: &str) {
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
}

fn pg_config(lake: &Lake, schema: &str) -> RunConfig {
    let mut config = lake.config();
    config.output = Some(db_url());
    config.schema = Some(schema.into());
    config
}

fn check<'a>(report: &'a Report, name: &str) -> &'a ocpagg_cli::preflight::Check {
    report
        .named(name)
        .next()
        .unwrap_or_else(|| panic!("no {name} check in:\n{}", report.render_text()))
}

#[test]
fn database_ready_schema_passes_and_partition_is_not_created() {
    let schema = "t_preflight_ready";
    let mut c = client();
    drop_schema(&mut c, schema);
    koku_schema(&mut c, schema, &[SOURCE]);
    let lake = Lake::new(&pods_only());
    let partition = format!("{schema}.reporting_ocpusagelineitem_daily_summary_2025_10");
    assert!(!exists(&mut c, &partition));

    let report = preflight_lib(&pg_config(&lake, schema));
    assert!(report.ready(), "{}", report.render_text());
    for name in [
        "database",
        "summary table",
        "side inputs",
        "report period",
        "privileges",
        "partition",
    ] {
        assert_eq!(
            check(&report, name).status,
            Status::Pass,
            "{}",
            report.render_text()
        );
    }
    let p = &check(&report, "partition").detail;
    assert!(p.contains("will be created"), "{p}");
    assert!(
        p.contains("reporting_ocpusagelineitem_daily_summary_2025_10"),
        "{p}"
    );
    assert!(
        !exists(&mut c, &partition),
        "preflight must not create the partition"
    );

    let period = october_period(&mut c, schema, SOURCE);
    let r = &check(&report, "report period").detail;
    assert!(r.contains(&format!("id {period}")), "{r}");

    // What the run would refuse, preflight fails with a remedy: a report period that does
    // not exist, a cost category that does not.
    let mut bad = pg_config(&lake, schema);
    bad.report_period_id = Some(424_242);
    bad.cost_category = Some(vec!["x%=77".into()]);
    let report = preflight_lib(&bad);
    assert!(!report.ready());
    let r = check(&report, "report period");
    assert_eq!(r.status, Status::Fail, "{}", report.render_text());
    assert!(r.detail.contains("424242"), "{}", r.detail);
    let remedy = r.remedy.as_deref().unwrap_or_default();
    assert!(remedy.contains("--report-period-id"), "{remedy}");
    bad.report_period_id = None;
    let report = preflight_lib(&bad);
    let r = check(&report, "report period");
    assert_eq!(r.status, Status::Fail, "{}", report.render_text());
    assert!(
        r.detail.contains("77") && r.detail.contains("reporting_ocp_cost_category"),
        "{}",
        r.detail
    );

    // After a real run the partition exists, and preflight says so.
    let job = pg_config(&lake, schema).resolve().unwrap();
    ocpagg_cli::run(&job).expect("run succeeds");
    assert!(exists(&mut c, &partition));
    let report = preflight_lib(&pg_config(&lake, schema));
    assert!(report.ready(), "{}", report.render_text());
    assert!(check(&report, "partition").detail.contains("exists"));
}

#[test]
fn database_missing_schema_or_table_fails_with_init_db_remedy() {
    let lake = Lake::new(&pods_only());
    let mut c = client();
    for (schema, create) in [
        ("t_preflight_noschema", false),
        ("t_preflight_notable", true),
    ] {
        drop_schema(&mut c, schema);
        if create {
            c.batch_execute(&format!("CREATE SCHEMA {schema}")).unwrap();
        }
        let report = preflight_lib(&pg_config(&lake, schema));
        assert!(!report.ready());
        assert_eq!(check(&report, "database").status, Status::Pass);
        let t = check(&report, "summary table");
        assert_eq!(t.status, Status::Fail, "{}", report.render_text());
        assert!(
            t.detail.contains(schema),
            "{schema}: {}",
            report.render_text()
        );
        if create {
            assert!(t.detail.contains("does not exist"), "{}", t.detail);
            assert!(t
                .detail
                .contains("reporting_ocpusagelineitem_daily_summary"));
        }
        let remedy = t.remedy.as_deref().unwrap();
        assert!(remedy.contains("ocpagg init-db --database-url"), "{remedy}");
        assert!(remedy.contains(&format!("--schema {schema}")), "{remedy}");
        assert_eq!(check(&report, "side inputs").status, Status::Fail);
        // Table-level checks depend on the table: not run.
        assert!(report.named("partition").next().is_none());
    }
}

#[test]
fn database_role_that_cannot_create_the_partition_fails() {
    let schema = "t_preflight_role";
    let role = "ocpagg_preflight_writer";
    let mut c = client();
    drop_schema(&mut c, schema);
    c.batch_execute(&format!(
        "DO $$ BEGIN
           IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
             EXECUTE 'DROP OWNED BY {role}';
           ELSE
             CREATE ROLE {role} LOGIN;
           END IF;
         END $$"
    ))
    .unwrap();
    koku_schema(&mut c, schema, &[SOURCE]);
    // May read and write rows, but neither create tables in the schema nor owns the table.
    c.batch_execute(&format!(
        "GRANT USAGE ON SCHEMA {schema} TO {role};
         GRANT SELECT, INSERT, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role};"
    ))
    .unwrap();
    let lake = Lake::new(&pods_only());
    let mut config = pg_config(&lake, schema);
    // The test server trusts loopback connections: the same URL as another user.
    let url = db_url();
    let (_, host) = url.split_once('@').expect("user@host in the test URL");
    config.output = Some(format!("postgresql://{role}@{host}"));
    let report = preflight_lib(&config);
    assert_eq!(
        check(&report, "privileges").status,
        Status::Pass,
        "{}",
        report.render_text()
    );
    let p = check(&report, "partition");
    assert_eq!(p.status, Status::Fail, "{}", report.render_text());
    assert!(
        p.detail.contains(&format!("CREATE on schema {schema}")),
        "{}",
        p.detail
    );
    assert!(p.detail.contains(role), "{}", p.detail);

    // Without DELETE, the privileges check fails and names it.
    c.batch_execute(&format!(
        "REVOKE DELETE ON {schema}.reporting_ocpusagelineitem_daily_summary FROM {role}"
    ))
    .unwrap();
    let report = preflight_lib(&config);
    let p = check(&report, "privileges");
    assert_eq!(p.status, Status::Fail, "{}", report.render_text());
    assert!(
        p.detail.contains(&format!(
            "DELETE on {schema}.reporting_ocpusagelineitem_daily_summary"
        )),
        "{}",
        p.detail
    );
    drop_schema(&mut c, schema);
    c.batch_execute(&format!("DROP OWNED BY {role}")).unwrap();
}

#[test]
fn unreachable_database_fails_without_showing_the_password() {
    let lake = Lake::new(&pods_only());
    let out = command(
        "preflight",
        lake.path().to_str().unwrap(),
        "10",
        "postgresql://koku:hunter2secret@127.0.0.1:1/koku?connect_timeout=2",
        &["--schema", "org1"],
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    let line = out.line("FAIL", "database");
    assert!(line.contains("cannot connect"), "{line}");
    assert!(line.contains("127.0.0.1:1"), "{line}");
    assert!(!out.stdout.contains("hunter2secret"), "{}", out.stdout);
    assert!(!out.stderr.contains("hunter2secret"), "{}", out.stderr);
    // The warehouse checks still ran.
    out.line("PASS", "warehouse");
    out.line("PASS", "schemas");
}

// ---- S3 ----

#[test]
fn s3_warehouse_passes_and_a_missing_bucket_fails() {
    let bucket = crate::sources::s3_bucket();
    let lake = Lake::new(&pods_only());
    let prefix = format!("preflight-{}", std::process::id());
    crate::sources::upload(lake.path(), &bucket, &prefix);
    let out = tempfile::tempdir().unwrap();
    let output = out.path().join("s.parquet");
    let local = preflight_lib(&lake.config());
    let mut config = config(&format!("s3://{bucket}/{prefix}"), &output);
    let report = preflight_lib(&config);
    assert!(report.ready(), "{}", report.render_text());
    let w = &check(&report, "warehouse").detail;
    assert!(w.starts_with(&format!("s3://{bucket}/{prefix}")), "{w}");
    // Same files found as on local disk.
    assert_eq!(
        check(&report, "schemas").detail,
        check(&local, "schemas").detail
    );

    config.warehouse = Some(format!("s3://no-such-bucket-{}/x", std::process::id()));
    let report = preflight_lib(&config);
    let w = check(&report, "warehouse");
    assert_eq!(w.status, Status::Fail, "{}", report.render_text());
    assert!(w.detail.contains("no-such-bucket"), "{}", w.detail);
    assert!(w.remedy.as_deref().unwrap().contains("AWS_ENDPOINT_URL"));
}
