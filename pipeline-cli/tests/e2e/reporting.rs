//! What a run tells machines: the JSON result on stdout (`--result-format json`), JSON log
//! lines with koku's tracing id (`--log-format json`), and the Prometheus metrics file
//! (`--metrics-file`, parsed by the `prometheus-client` package's own parser). Each figure is
//! checked against the rows actually written, counted independently.

use std::collections::BTreeMap;
use std::path::Path;

use ocpagg_fixtures::{Dataset, ScaleSpec};
use serde_json::Value;

use crate::common::*;
use crate::pg::*;

/// The first five days of a generated month.
fn month(pod_rows: u64) -> Lake {
    let mut data = Dataset::default();
    for d in ScaleSpec::new(2025, 10, pod_rows).days().take(5) {
        data.append(d);
    }
    Lake::new(&data)
}

fn argv(lake: &Lake, output: &str, extra: &[&str]) -> Vec<String> {
    let mut argv: Vec<String> = run_argv(lake.path(), output)
        .into_iter()
        .filter(|a| a != "--quiet")
        .collect();
    argv.extend(extra.iter().map(|s| s.to_string()));
    argv
}

/// Rows per data_source of a file output, counted from the file.
fn rows_by_source(rows: &[Row]) -> BTreeMap<String, u64> {
    let mut by = BTreeMap::new();
    for r in rows {
        *by.entry(r.s("data_source").unwrap().to_string())
            .or_default() += 1;
    }
    by
}

/// The samples of a Prometheus text file as `name{labels}` → value, parsed by
/// `prometheus_client.parser` (the test tools' venv, made by scripts/s3-server.sh).
fn prometheus_samples(path: &Path) -> BTreeMap<String, f64> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k not in ("org", "source"))
        out[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(out))
"#;
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/s3-server.sh start)", python.display()));
    assert!(
        out.status.success(),
        "the Prometheus parser refused the file: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(path).unwrap()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn json_result_and_metrics_match_the_rows_written() {
    let lake = month(3000);
    let out = lake.path().join("out.parquet");
    let metrics = lake.path().join("ocpagg.prom");
    let run = ocpagg(&argv(
        &lake,
        &out.display().to_string(),
        &[
            "--result-format",
            "json",
            "--metrics-file",
            &metrics.display().to_string(),
        ],
    ));
    assert_eq!(run.code, 0, "{}", run.stderr);
    // stdout is exactly one JSON object; the human summary went to stderr.
    let result: Value = serde_json::from_str(run.stdout.trim()).expect("one JSON object");
    assert!(run.stderr.contains("wrote "), "{}", run.stderr);
    let rows = read_output(&out);
    let by_source = rows_by_source(&rows);
    assert_eq!(result["success"], true);
    assert_eq!(result["rows_inserted"], rows.len() as u64);
    for (source, n) in &by_source {
        assert_eq!(result["rows_written"][source], *n, "{source}");
    }
    assert_eq!(result["days"], 31);
    assert_eq!(result["start_date"], "2025-10-01");
    assert_eq!(result["cluster_id"], CLUSTER);
    assert_eq!(result["settings"]["org"], ORG);
    assert!(result["wall_seconds"].as_f64().unwrap() > 0.0);
    assert!(result["peak_rss_bytes"].as_u64().unwrap() > 1 << 20);
    let read: u64 = result["rows_read"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(read > 0, "{result}");
    for stage in ["read", "labels", "aggregate", "convert", "write"] {
        assert!(result["stage_seconds"][stage].is_number(), "{stage}");
    }

    let samples = prometheus_samples(&metrics);
    assert_eq!(samples["ocpagg_run_success{}"], 1.0);
    for (source, n) in &by_source {
        assert_eq!(
            samples[&format!("ocpagg_output_rows_total{{data_source={source}}}")],
            *n as f64
        );
    }
    for (table, n) in result["rows_read"].as_object().unwrap() {
        assert_eq!(
            samples[&format!("ocpagg_input_rows_total{{table={table}}}")],
            n.as_f64().unwrap()
        );
    }
    assert_eq!(
        samples["ocpagg_run_duration_seconds{stage=total}"],
        result["wall_seconds"].as_f64().unwrap()
    );
    assert!(samples["ocpagg_peak_rss_bytes{}"] > 0.0);
    // Written through a temporary file: nothing else left in the directory.
    let leftovers: Vec<_> = std::fs::read_dir(lake.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_failed_run_reports_failure_in_json_and_metrics() {
    let lake = month(500);
    let empty = tempfile::tempdir().unwrap();
    let out = lake.path().join("out.parquet");
    let metrics = lake.path().join("ocpagg.prom");
    let mut args = run_argv(empty.path(), &out.display().to_string());
    args.extend(
        [
            "--result-format",
            "json",
            "--metrics-file",
            &metrics.display().to_string(),
        ]
        .map(String::from),
    );
    let run = ocpagg(&args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let result: Value = serde_json::from_str(run.stdout.trim()).expect("one JSON object");
    assert_eq!(result["success"], false);
    assert_eq!(result["error"]["exit_code"], 1);
    assert_eq!(result["error"]["kind"], "input");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(
        run.stderr.contains(message),
        "the JSON error is the CLI's message: {message} / {}",
        run.stderr
    );
    assert_eq!(result["rows_inserted"], 0);
    assert!(!out.exists());
    let samples = prometheus_samples(&metrics);
    assert_eq!(samples["ocpagg_run_success{}"], 0.0);

    // A bad setting: exit 2, and still a JSON result saying which.
    let mut args = run_argv(lake.path(), &out.display().to_string());
    args.extend(["--result-format", "json", "--threads", "0"].map(String::from));
    let run = ocpagg(&args);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let result: Value = serde_json::from_str(run.stdout.trim()).expect("one JSON object");
    assert_eq!(result["error"]["exit_code"], 2);
    assert_eq!(result["error"]["kind"], "config");
    assert!(result["error"]["message"]
        .as_str()
        .unwrap()
        .contains("threads"));
}

#[test]
fn json_logs_carry_the_tracing_id_on_every_line() {
    let lake = month(500);
    let out = lake.path().join("out.parquet");
    let run = ocpagg(&argv(
        &lake,
        &out.display().to_string(),
        &["--log-format", "json", "--tracing-id", "koku-7f3a"],
    ));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert_eq!(line["tracing_id"], "koku-7f3a", "{line}");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
        assert!(
            line["level"].is_string() && line["message"].is_string(),
            "{line}"
        );
    }
    let last = lines.last().unwrap();
    assert_eq!(last["message"], "Run finished.");
    assert_eq!(last["rows_inserted"], read_output(&out).len() as u64);

    // The environment gives the id too, and an error is a JSON line as well.
    let empty = tempfile::tempdir().unwrap();
    let mut args = run_argv(empty.path(), &out.display().to_string());
    args.extend(["--log-format", "json"].map(String::from));
    let failed = Cli::new(&args)
        .env("OCPAGG_TRACING_ID", "from-env")
        .output();
    assert_eq!(failed.code, 1);
    let last: Value = serde_json::from_str(failed.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "ERROR");
    assert_eq!(last["tracing_id"], "from-env");
    assert!(
        last["message"].as_str().unwrap().contains("pod_usage"),
        "{last}"
    );
}

/// Into PostgreSQL: the partition the run created, the rows it replaced, and no password in
/// anything printed.
#[test]
fn database_result_counts_replaced_rows_and_hides_the_password() {
    let schema = "t_reporting_result";
    let mut c = client();
    koku_schema(&mut c, schema, &[SOURCE]);
    let lake = month(2000);
    // The test server trusts loopback, so the password is never checked; it must not show.
    let url = format!("{}?password=hunter2-secret", db_url());
    let args = argv(
        &lake,
        &url,
        &["--schema", schema, "--result-format", "json"],
    );
    let first = ocpagg(&args);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let second = ocpagg(&args);
    assert_eq!(second.code, 0, "{}", second.stderr);
    for run in [&first, &second] {
        assert!(!run.stdout.contains("hunter2"), "{}", run.stdout);
        assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
    }
    let first: Value = serde_json::from_str(first.stdout.trim()).unwrap();
    let second: Value = serde_json::from_str(second.stdout.trim()).unwrap();
    let in_table: i64 = c
        .query_one(
            &format!("SELECT count(*) FROM {schema}.reporting_ocpusagelineitem_daily_summary"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(first["rows_inserted"], in_table);
    assert_eq!(second["rows_inserted"], in_table);
    assert_eq!(first["rows_deleted"], 0);
    assert_eq!(second["rows_deleted"], in_table);
    assert_eq!(
        first["partitions_created"],
        serde_json::json!([format!(
            "{schema}.reporting_ocpusagelineitem_daily_summary_2025_10"
        )])
    );
    assert_eq!(second["partitions_created"], serde_json::json!([]));
    assert_eq!(
        first["report_period_id"],
        october_period(&mut c, schema, SOURCE)
    );
}
