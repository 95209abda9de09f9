//! `ocpagg validate` over the scenario suite (`validator/scenarios/`), through the real binary:
//! generate → run (Parquet, CSV, PostgreSQL) → validate, for every scenario; and proof that
//! validate fails (exit 1) when the rows are wrong.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch};
use arrow::datatypes::Float64Type;
use chrono::{Datelike, NaiveDate};
use ocpagg_fixtures::Scenario;
use ocpagg_validator::{expected_rows, DateRange, EnabledKeys, Settings};

use crate::common::{ocpagg, rewrite, settings_in, Outcome, CLUSTER, ORG, SOURCE};
use crate::pg::db_url;

#[track_caller]
fn ok<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Outcome {
    let o = ocpagg(args);
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    assert_eq!(o.code, 0, "ocpagg {shown:?}\n{}\n{}", o.stdout, o.stderr);
    o
}

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../validator/scenarios")
}

fn scenarios() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

/// The months the scenario has data in, as (first day, last day) of each month's data.
fn months(path: &Path) -> Vec<(NaiveDate, NaiveDate)> {
    let scenario = Scenario::from_path(path).unwrap();
    let rows = expected_rows(&scenario, &Settings::default(), &DateRange::default()).unwrap();
    let mut out: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some((first, last))
                if first.month() == r.day.month() && first.year() == r.day.year() =>
            {
                *first = (*first).min(r.day);
                *last = (*last).max(r.day);
            }
            _ => out.push((r.day, r.day)),
        }
    }
    out
}

/// `ocpagg run` flags for the scenario's settings block.
fn setting_flags(settings: &Settings) -> Vec<String> {
    let mut flags = Vec::new();
    match &settings.enabled_keys {
        EnabledKeys::All => flags.extend(["--enabled-keys".into(), "*".into()]),
        EnabledKeys::Keys(keys) if !keys.is_empty() => {
            flags.extend(["--enabled-keys".into(), keys.join(",")]);
        }
        EnabledKeys::Keys(_) => {}
    }
    for c in settings.cost_category_flags() {
        flags.extend(["--cost-category".into(), c]);
    }
    for (node, role) in &settings.node_roles {
        flags.extend(["--node-role".into(), format!("{node}={role}")]);
    }
    flags
}

fn generate(scenario: &Path, lake: &Path) {
    ok(&[
        "generate".to_string(),
        "--scenario".into(),
        scenario.display().to_string(),
        "--out".into(),
        lake.display().to_string(),
        "--org".into(),
        ORG.into(),
        "--source".into(),
        SOURCE.into(),
        "--cluster-id".into(),
        CLUSTER.into(),
    ]);
}

fn run_args(lake: &Path, month: NaiveDate, output: &str, extra: &[String]) -> Vec<String> {
    let mut args = vec!["run".to_string(), "--quiet".to_string()];
    args.extend(settings_in(
        &lake.display().to_string(),
        &month.year().to_string(),
        &month.month().to_string(),
        output,
    ));
    args.extend_from_slice(extra);
    args
}

/// Validates and returns a failure description (with the table) if it did not pass.
fn validate(scenario: &Path, against: &str, extra: &[String]) -> Option<String> {
    let mut args: Vec<String> = vec![
        "validate".into(),
        "--scenario".into(),
        scenario.display().to_string(),
        "--against".into(),
        against.to_string(),
        "--source".into(),
        SOURCE.into(),
    ];
    args.extend_from_slice(extra);
    let o = ocpagg(&args);
    let last = o.stdout.lines().last().unwrap_or_default().to_string();
    let passed = o.code == 0 && last.ends_with(" passed, 0 failed");
    (!passed).then(|| {
        format!(
            "{} against {against} {extra:?}: exit {}\n{}\n{}",
            stem(scenario),
            o.code,
            o.stdout,
            o.stderr
        )
    })
}

#[test]
fn suite_has_at_least_20_documented_scenarios() {
    let files = scenarios();
    assert!(files.len() >= 20, "{} scenarios", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.starts_with("# Proves: "),
            "{} must open with a `# Proves:` comment",
            f.display()
        );
    }
}

#[test]
fn every_scenario_validates_from_parquet_and_csv() {
    let mut failures = Vec::new();
    for scenario in scenarios() {
        let settings = Settings::from_scenario_file(&scenario).unwrap();
        let lake = tempfile::tempdir().unwrap();
        generate(&scenario, lake.path());
        for (first, last) in months(&scenario) {
            for ext in ["parquet", "csv"] {
                let out = lake.path().join(format!("summary-{first}.{ext}"));
                let out = out.display().to_string();
                ok(&run_args(
                    lake.path(),
                    first,
                    &out,
                    &setting_flags(&settings),
                ));
                let days = [
                    "--start-date".to_string(),
                    first.to_string(),
                    "--end-date".to_string(),
                    last.to_string(),
                ];
                failures.extend(validate(&scenario, &out, &days));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A fresh schema with koku's tables and the scenario's settings stored where koku keeps
/// them (enabled keys, cost categories, node roles), so the run reads them from the
/// database. Returns the run flags still needed (`*` cannot be stored as a key).
fn database_schema(c: &mut postgres::Client, schema: &str, settings: &Settings) -> Vec<String> {
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
    ok(&["init-db", "--database-url", &db_url(), "--schema", schema]);
    crate::pg::add_report_periods(c, schema, SOURCE);
    let mut flags = Vec::new();
    match &settings.enabled_keys {
        EnabledKeys::All => flags.extend(["--enabled-keys".into(), "*".into()]),
        EnabledKeys::Keys(keys) => {
            for k in keys {
                c.execute(
                    &format!(
                        "INSERT INTO {schema}.reporting_enabledtagkeys (key, enabled, provider_type) \
                         VALUES ($1, true, 'OCP')"
                    ),
                    &[k],
                )
                .unwrap();
            }
        }
    }
    for (pattern, id) in &settings.cost_categories {
        let id = i32::try_from(*id).unwrap();
        c.execute(
            &format!(
                "INSERT INTO {schema}.reporting_ocp_cost_category (id, name) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING"
            ),
            &[&id, &format!("category {id}")],
        )
        .unwrap();
        c.execute(
            &format!(
                "INSERT INTO {schema}.reporting_ocp_cost_category_namespace (namespace, cost_category_id) \
                 VALUES ($1, $2)"
            ),
            &[pattern, &id],
        )
        .unwrap();
    }
    for (node, role) in &settings.node_roles {
        c.execute(
            &format!("INSERT INTO {schema}.reporting_ocp_nodes (node, node_role) VALUES ($1, $2)"),
            &[node, role],
        )
        .unwrap();
    }
    flags
}

#[test]
fn every_scenario_validates_from_postgres() {
    let url = db_url();
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut failures = Vec::new();
    for scenario in scenarios() {
        let settings = Settings::from_scenario_file(&scenario).unwrap();
        let schema = format!("t_validate_{}", stem(&scenario));
        let flags = database_schema(&mut c, &schema, &settings);
        let lake = tempfile::tempdir().unwrap();
        generate(&scenario, lake.path());
        // Every month of the scenario into the same table, then one validation of all.
        let mut extra = flags.clone();
        extra.extend(["--schema".into(), schema.clone()]);
        for (first, _) in months(&scenario) {
            ok(&run_args(lake.path(), first, &url, &extra));
        }
        failures.extend(validate(
            &scenario,
            &url,
            &["--schema".to_string(), schema.clone()],
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Runs the basic scenario to Parquet and returns (lake, output path).
fn basic_output() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let scenario = scenario_dir().join("01_basic_pod.yml");
    let lake = tempfile::tempdir().unwrap();
    generate(&scenario, lake.path());
    let out = lake.path().join("summary.parquet");
    let month = NaiveDate::from_ymd_opt(2025, 10, 1).unwrap();
    ok(&run_args(
        lake.path(),
        month,
        &out.display().to_string(),
        &[],
    ));
    (lake, scenario, out)
}

/// Multiplies pod_usage_cpu_core_hours of the Pod rows (those with pod labels) by `factor`.
fn tamper(path: &Path, factor: f64) {
    rewrite(path, |b| {
        let schema = b.schema();
        let i = schema.index_of("pod_usage_cpu_core_hours").unwrap();
        let has_labels = b.column(schema.index_of("pod_labels").unwrap());
        let old = b.column(i).as_primitive::<Float64Type>();
        let new: Float64Array = (0..b.num_rows())
            .map(|r| {
                old.is_valid(r).then(|| {
                    if has_labels.is_valid(r) {
                        old.value(r) * factor
                    } else {
                        old.value(r)
                    }
                })
            })
            .collect();
        let mut cols: Vec<ArrayRef> = b.columns().to_vec();
        cols[i] = Arc::new(new);
        RecordBatch::try_new(schema, cols).unwrap()
    });
}

#[test]
fn validate_fails_on_a_tampered_file() {
    let (_lake, scenario, out) = basic_output();
    let args = |format: &str| -> Vec<String> {
        vec![
            "validate".into(),
            "--scenario".into(),
            scenario.display().to_string(),
            "--against".into(),
            out.display().to_string(),
            "--format".into(),
            format.into(),
        ]
    };
    let good = ok(&args("table"));
    assert!(
        good.stdout.trim_end().ends_with(" passed, 0 failed"),
        "{}",
        good.stdout
    );

    // 1 % more CPU usage on the Pod row: exactly that check fails (the unallocated row was
    // computed before the tampering, so it still matches the scenario).
    tamper(&out, 1.01);
    let bad = ocpagg(&args("table"));
    assert_eq!(bad.code, 1, "{}\n{}", bad.stdout, bad.stderr);
    let failed: Vec<&str> = bad.stdout.lines().filter(|l| l.contains("FAIL")).collect();
    assert_eq!(failed.len(), 1, "{}", bad.stdout);
    assert!(
        failed[0].contains("Pod 2025-10-01 web/worker-1 {} pod_usage_cpu_core_hours"),
        "{}",
        failed[0]
    );
    // Expected 12 core-hours (0.5 × 24), actual 12.12, difference +1 %.
    assert!(
        failed[0].contains("| 12 ") && failed[0].contains("12.12"),
        "{}",
        failed[0]
    );
    assert!(
        bad.stdout.trim_end().ends_with(" passed, 1 failed"),
        "{}",
        bad.stdout
    );
    assert!(bad.stderr.contains("1 of"), "{}", bad.stderr);

    let json = ocpagg(&args("json"));
    assert_eq!(json.code, 1);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["failed"], 1);
    let check = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["pass"] == false)
        .unwrap();
    assert_eq!(check["expected"], 12.0);
    let pct = check["difference_pct"].as_f64().unwrap();
    assert!((pct - 1.0).abs() < 1e-9, "{pct}");

    // A looser tolerance lets it pass.
    let mut loose = args("table");
    loose.extend(["--tolerance".into(), "0.02".into()]);
    ok(&loose);
}

#[test]
fn validate_fails_against_another_scenarios_output() {
    let (_lake, _basic, out) = basic_output();
    let other = scenario_dir().join("02_multiple_namespaces.yml");
    let o = ocpagg(&[
        "validate".to_string(),
        "--scenario".into(),
        other.display().to_string(),
        "--against".into(),
        out.display().to_string(),
    ]);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    // The basic output has a row the other scenario does not predict, and lacks its rows.
    assert!(
        o.stdout
            .lines()
            .any(|l| l.contains("Pod 2025-10-01 web/worker-1 {} rows") && l.contains("FAIL")),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .lines()
            .any(|l| l.contains("Pod 2025-10-01 frontend/worker-1 {} rows") && l.contains("FAIL")),
        "{}",
        o.stdout
    );
}

#[test]
fn validate_usage_errors_exit_2() {
    let scenario = scenario_dir().join("01_basic_pod.yml");
    let s = scenario.display().to_string();
    for (args, expect) in [
        (
            vec![
                "--against",
                "postgresql://127.0.0.1:1/x",
                "--source",
                SOURCE,
            ],
            "--schema is required",
        ),
        (
            vec!["--against", "postgresql://127.0.0.1:1/x", "--schema", "s"],
            "--source is required",
        ),
        (
            vec!["--against", "x.parquet", "--format", "xml"],
            "--format",
        ),
        (
            vec!["--against", "x.parquet", "--cost-category", "nope"],
            "PATTERN=ID",
        ),
    ] {
        let mut all = vec!["validate", "--scenario", &s];
        all.extend(args);
        let o = ocpagg(&all);
        assert_eq!(o.code, 2, "{all:?}: {}", o.stderr);
        assert!(o.stderr.contains(expect), "{all:?}: {}", o.stderr);
    }
    // A missing file is an error (exit 1) that names it.
    let o = ocpagg(&[
        "validate",
        "--scenario",
        &s,
        "--against",
        "/nonexistent/x.parquet",
    ]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("/nonexistent/x.parquet"), "{}", o.stderr);
}
