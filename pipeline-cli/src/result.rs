//! What a run did, for machines: the JSON result (`--result-format json`, and the dictionary
//! the Python package returns) and the same figures in Prometheus' text format
//! (`--metrics-file`). A failed run has a result too: `success` false and the error.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use serde::Serialize;

use crate::config::{Job, RunConfig};
use crate::pipeline::RunReport;

/// One run's result. Field names are the JSON keys (stable: callers parse them).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunResult {
    /// Whether the run completed and its rows were written.
    pub success: bool,
    /// `ocpagg`'s version.
    pub version: &'static str,
    /// Why the run failed (absent on success).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
    /// The settings the run used (flags, environment, config file, Clowder merged), with any
    /// password masked. Absent when they could not be read.
    pub settings: serde_json::Value,
    /// The source UUID.
    pub source: Option<String>,
    /// The org (tenant schema).
    pub org: Option<String>,
    /// First and last day of the run, inclusive.
    pub start_date: Option<NaiveDate>,
    /// See `start_date`.
    pub end_date: Option<NaiveDate>,
    /// Days in the run.
    pub days: u32,
    /// koku's report period of the rows (from the settings or the database).
    pub report_period_id: Option<i32>,
    /// The cluster of the rows.
    pub cluster_id: Option<String>,
    /// The cluster's alias.
    pub cluster_alias: Option<String>,
    /// Where the rows went (a path, or server and table; never a password).
    pub output: Option<String>,
    /// Parquet files read.
    pub files_read: u64,
    /// Line items read per table (`pod_usage`, `pod_usage (daily)`, ...).
    pub rows_read: BTreeMap<String, u64>,
    /// Whether Pod sums came from koku's daily roll-up.
    pub pods_from_daily: bool,
    /// Whether Storage sums came from koku's daily roll-up.
    pub storage_from_daily: bool,
    /// Rows written per `data_source` (`Pod`, `Storage`).
    pub rows_written: BTreeMap<String, u64>,
    /// Rows inserted (all data sources).
    pub rows_inserted: u64,
    /// Old rows the run deleted (database output).
    pub rows_deleted: u64,
    /// PostgreSQL partitions the run created (`schema.table_YYYY_MM`).
    pub partitions_created: Vec<String>,
    /// Rows an incremental run to a file carried over from the previous output (untouched
    /// days), not in `rows_inserted`.
    pub rows_carried: u64,
    /// Of those, Parquet row groups copied without decoding.
    pub row_groups_copied: u64,
    /// Seconds per stage: `read` (summed over reader threads), `labels`, `aggregate`,
    /// `convert`, `write`.
    pub stage_seconds: BTreeMap<&'static str, f64>,
    /// Wall time of the run, seconds.
    pub wall_seconds: f64,
    /// Peak resident memory of the process, bytes (Linux; absent elsewhere).
    pub peak_rss_bytes: Option<u64>,
    /// S3 requests and bytes, when the warehouse is in S3.
    pub s3: Option<S3Figures>,
    /// koku's Hive copy, with `--hive-output`.
    pub hive: Option<HiveFigures>,
    /// Full, incremental or unchanged, why, the files new, changed and gone since the state,
    /// and the days recomputed (issue #20).
    pub incremental: Option<crate::incremental::ModeReport>,
}

/// What a run wrote into koku's Hive table (`--hive-output`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HiveFigures {
    /// The table's location.
    pub location: String,
    /// The run's id, in every file name.
    pub run_id: String,
    /// The partitions replaced (`source=…/year=…/month=…/day=…`), in day order.
    pub partitions_written: Vec<String>,
    /// Rows written.
    pub rows: u64,
    /// Old objects removed from those partitions.
    pub objects_removed: u64,
    /// The Trino call that makes new partitions visible.
    pub sync_partition_metadata: Option<String>,
}

/// A failed run's error.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RunError {
    /// Who must act: `config`, `input`, `database`, `storage`, `interrupted` or `other`
    /// (the Python package's exception classes).
    pub kind: crate::error::ErrorKind,
    /// The message, as the CLI prints it after `error: `.
    pub message: String,
    /// The CLI's exit code for it (1 data or database, 2 settings, 130/143 signals).
    pub exit_code: u8,
}

/// S3 traffic of a run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct S3Figures {
    /// Requests sent, retries included.
    pub requests: u64,
    /// Of which retries.
    pub retries: u64,
    /// Body bytes received.
    pub bytes_received: u64,
    /// Total size of the files read.
    pub file_bytes: u64,
}

impl RunResult {
    /// The result of a run that ended: `outcome` is its report, or its error with the exit
    /// code the CLI gives it. `config` and `job` are whatever was resolved before the end.
    pub fn new(
        config: Option<&RunConfig>,
        job: Option<&Job>,
        outcome: Result<&RunReport, (&anyhow::Error, u8)>,
        wall: Duration,
    ) -> Self {
        let mut result = RunResult {
            success: outcome.is_ok(),
            version: env!("CARGO_PKG_VERSION"),
            error: None,
            settings: config.map_or(serde_json::Value::Null, settings),
            source: config.and_then(|c| c.source.clone()),
            org: config.and_then(|c| c.org.clone()),
            start_date: None,
            end_date: None,
            days: 0,
            report_period_id: config.and_then(|c| c.report_period_id),
            cluster_id: config.and_then(|c| c.cluster_id.clone()),
            cluster_alias: config.and_then(|c| c.cluster_alias.clone()),
            output: None,
            files_read: 0,
            rows_read: BTreeMap::new(),
            pods_from_daily: false,
            storage_from_daily: false,
            rows_written: BTreeMap::new(),
            rows_inserted: 0,
            rows_deleted: 0,
            partitions_created: Vec::new(),
            rows_carried: 0,
            row_groups_copied: 0,
            hive: None,
            stage_seconds: BTreeMap::new(),
            wall_seconds: wall.as_secs_f64(),
            peak_rss_bytes: peak_rss_bytes(),
            s3: None,
            incremental: None,
        };
        if let Some(job) = job {
            result.output = Some(job.output.to_string());
            result.set_run(&job.run);
        }
        match outcome {
            Ok(report) => result.add_report(report),
            Err((error, exit_code)) => {
                result.error = Some(RunError {
                    kind: crate::error::classify(error),
                    message: format!("{error:#}"),
                    exit_code,
                })
            }
        }
        result
    }

    fn set_run(&mut self, run: &ocpagg_aggregate::RunInfo) {
        self.start_date = Some(run.start);
        self.end_date = Some(run.end);
        self.days = u32::try_from((run.end - run.start).num_days() + 1).unwrap_or(0);
        self.report_period_id = run.report_period_id;
        self.cluster_id = Some(run.cluster_id.clone()).filter(|c| !c.is_empty());
        self.cluster_alias = Some(run.cluster_alias.clone()).filter(|c| !c.is_empty());
    }

    fn add_report(&mut self, report: &RunReport) {
        if let Some(run) = &report.run {
            self.set_run(run);
        }
        self.output = Some(report.write.target.clone());
        self.files_read = report.files_read;
        self.rows_read = report.rows_read.clone();
        self.pods_from_daily = report.pods_from_daily;
        self.storage_from_daily = report.storage_from_daily;
        self.rows_written = report.write.rows_by_data_source.clone();
        self.rows_inserted = report.write.rows;
        self.rows_deleted = report.write.rows_deleted;
        self.partitions_created = report.write.partitions_created.clone();
        self.rows_carried = report.write.rows_carried;
        self.row_groups_copied = report.write.row_groups_copied;
        self.hive = report.write.hive.as_ref().map(|h| HiveFigures {
            location: h.location.clone(),
            run_id: h.run_id.clone(),
            partitions_written: h.partitions.iter().map(|p| p.path.clone()).collect(),
            rows: h.rows,
            objects_removed: h.partitions.iter().map(|p| p.objects_removed).sum(),
            sync_partition_metadata: report.hive_sync_call.clone(),
        });
        self.stage_seconds = [
            ("read", report.read_time),
            ("labels", report.labels_time),
            ("aggregate", report.aggregate_time),
            ("convert", report.convert_time),
            ("write", report.write_time),
        ]
        .into_iter()
        .map(|(stage, d)| (stage, d.as_secs_f64()))
        .collect();
        self.wall_seconds = report.wall.as_secs_f64();
        self.incremental.clone_from(&report.mode);
        self.s3 = report.io.map(|io| S3Figures {
            requests: io.requests,
            retries: io.retries,
            bytes_received: io.bytes,
            file_bytes: io.file_bytes,
        });
    }

    /// The result as one line of JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain data (strings, numbers, maps with string keys) cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"success":false,"error":{{"message":"cannot encode the result: {e}"}}}}"#)
        })
    }

    /// The run's figures in Prometheus' text exposition format (node_exporter's textfile
    /// collector reads it): `ocpagg_run_success`, `ocpagg_run_duration_seconds{stage}`,
    /// `ocpagg_input_rows_total{table}`, `ocpagg_output_rows_total{data_source}`,
    /// `ocpagg_rows_deleted_total`, `ocpagg_peak_rss_bytes` and
    /// `ocpagg_run_end_timestamp_seconds`, each labelled with the org and source.
    pub fn to_prometheus(&self, end: std::time::SystemTime) -> String {
        let mut base = Vec::new();
        if let Some(org) = &self.org {
            base.push(("org", org.as_str()));
        }
        if let Some(source) = &self.source {
            base.push(("source", source.as_str()));
        }
        let mut out = String::new();
        let mut family =
            |name: &str, kind: &str, help: &str, samples: &[(Vec<(&str, &str)>, f64)]| {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} {kind}");
                for (labels, value) in samples {
                    let labels: Vec<String> = base
                        .iter()
                        .chain(labels)
                        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                        .collect();
                    let _ = writeln!(out, "{name}{{{}}} {}", labels.join(","), number(*value));
                }
            };
        family(
            "ocpagg_run_success",
            "gauge",
            "Whether the run completed and wrote its rows (1) or failed (0).",
            &[(vec![], if self.success { 1.0 } else { 0.0 })],
        );
        let mut durations = vec![(vec![("stage", "total")], self.wall_seconds)];
        for (stage, secs) in &self.stage_seconds {
            durations.push((vec![("stage", *stage)], *secs));
        }
        family(
            "ocpagg_run_duration_seconds",
            "gauge",
            "Wall time of the run (stage=\"total\") and time per stage (read is summed over reader threads).",
            &durations,
        );
        let inputs: Vec<_> = self
            .rows_read
            .iter()
            .map(|(table, n)| (vec![("table", table.as_str())], *n as f64))
            .collect();
        family(
            "ocpagg_input_rows_total",
            "counter",
            "Line items read, per table.",
            &inputs,
        );
        let outputs: Vec<_> = self
            .rows_written
            .iter()
            .map(|(source, n)| (vec![("data_source", source.as_str())], *n as f64))
            .collect();
        family(
            "ocpagg_output_rows_total",
            "counter",
            "Summary rows written, per data_source.",
            &outputs,
        );
        family(
            "ocpagg_rows_deleted_total",
            "counter",
            "Old summary rows the run replaced.",
            &[(vec![], self.rows_deleted as f64)],
        );
        if let Some(rss) = self.peak_rss_bytes {
            family(
                "ocpagg_peak_rss_bytes",
                "gauge",
                "Peak resident memory of the process.",
                &[(vec![], rss as f64)],
            );
        }
        let end = end
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        family(
            "ocpagg_run_end_timestamp_seconds",
            "gauge",
            "When the run ended, seconds since the Unix epoch.",
            &[(vec![], end)],
        );
        out
    }

    /// Writes [`RunResult::to_prometheus`] to `path` atomically: a temporary file in the
    /// same directory, readable by all (a metrics collector runs as another user), renamed
    /// over `path`.
    pub fn write_metrics(&self, path: &Path) -> anyhow::Result<()> {
        let text = self.to_prometheus(std::time::SystemTime::now());
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let shown = path.display();
        let mut temp = tempfile::Builder::new()
            .prefix(".ocpagg-metrics.")
            .suffix(".tmp")
            .tempfile_in(dir)
            .with_context(|| {
                format!(
                    "setting `metrics_file`: cannot create a file in {}",
                    dir.display()
                )
            })?;
        temp.write_all(text.as_bytes())
            .and_then(|()| temp.as_file().sync_all())
            .with_context(|| format!("cannot write the metrics file {shown}"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            temp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .with_context(|| format!("cannot write the metrics file {shown}"))?;
        }
        temp.persist(path)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot write the metrics file {shown}"))?;
        Ok(())
    }
}

/// The settings as JSON, passwords masked: `null` keys dropped.
fn settings(config: &RunConfig) -> serde_json::Value {
    let mut value = serde_json::to_value(config).unwrap_or(serde_json::Value::Null);
    if let Some(map) = value.as_object_mut() {
        for (_, v) in map.iter_mut() {
            if let Some(text) = v.as_str() {
                *v = serde_json::Value::String(ocpagg_writer::pg::redact(text));
            }
        }
    }
    value
}

/// Escapes a label value: backslash, double quote and line feed (Prometheus' text format).
fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// A sample value: integers without a fraction, others as Rust prints them (shortest
/// round-trip), non-finite as Prometheus spells them.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// The process's peak resident set size (`VmHWM` of /proc/self/status), Linux only.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RunResult {
        let config = RunConfig {
            org: Some("org1234567".into()),
            source: Some("6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01".into()),
            output: Some("postgresql://koku:s3cret@db:5432/koku".into()),
            ..RunConfig::default()
        };
        let mut report = RunReport::default();
        report.rows_read.insert("pod_usage".into(), 1200);
        report.write.rows = 30;
        report.write.rows_by_data_source.insert("Pod".into(), 25);
        report.write.rows_by_data_source.insert("Storage".into(), 5);
        report.wall = Duration::from_millis(1500);
        RunResult::new(Some(&config), None, Ok(&report), Duration::ZERO)
    }

    #[test]
    fn settings_never_show_a_password() {
        let json = sample().to_json();
        assert!(!json.contains("s3cret"), "{json}");
        assert!(json.contains("koku:***@db"), "{json}");
    }

    #[test]
    fn prometheus_text_has_one_sample_per_figure() {
        let text = sample().to_prometheus(std::time::UNIX_EPOCH + Duration::from_secs(10));
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let base = r#"org="org1234567",source="6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01""#;
        assert!(samples.contains(&format!("ocpagg_run_success{{{base}}} 1").as_str()));
        assert!(samples.contains(
            &format!(r#"ocpagg_input_rows_total{{{base},table="pod_usage"}} 1200"#).as_str()
        ));
        assert!(samples.contains(
            &format!(r#"ocpagg_output_rows_total{{{base},data_source="Storage"}} 5"#).as_str()
        ));
        assert!(samples.contains(
            &format!(r#"ocpagg_run_duration_seconds{{{base},stage="total"}} 1.5"#).as_str()
        ));
        assert!(
            samples.contains(&format!("ocpagg_run_end_timestamp_seconds{{{base}}} 10").as_str())
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(f64::NAN), "NaN");
    }
}
