//! Shared helpers: write a dataset to a temporary warehouse, run the pipeline, read rows back.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int32Type};
use chrono::NaiveDate;
use ocpagg_cli::config::RunConfig;
use ocpagg_cli::RunReport;
use ocpagg_fixtures::{Dataset, Layout, WriteOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

pub const ORG: &str = "org1234567";
pub const SOURCE: &str = "6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01";
pub const CLUSTER: &str = "test-cluster";

pub fn layout() -> Layout {
    Layout::new(ORG, SOURCE, CLUSTER)
}

pub fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 10, d).unwrap()
}

/// A warehouse in a temporary directory.
pub struct Lake {
    pub dir: tempfile::TempDir,
}

impl Lake {
    pub fn write(data: &Dataset, opts: &WriteOptions) -> Lake {
        let dir = tempfile::tempdir().unwrap();
        data.write(dir.path(), &layout(), opts).unwrap();
        Lake { dir }
    }

    pub fn new(data: &Dataset) -> Lake {
        Self::write(data, &WriteOptions::default())
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A run of October 2025 over this lake, output to `out.parquet` in the lake.
    pub fn config(&self) -> RunConfig {
        config(
            &self.path().display().to_string(),
            &self.path().join("out.parquet"),
        )
    }
}

pub fn config(warehouse: &str, output: &Path) -> RunConfig {
    RunConfig {
        warehouse: Some(warehouse.to_string()),
        org: Some(ORG.into()),
        source: Some(SOURCE.into()),
        year: Some(2025),
        month: Some(10),
        cluster_id: Some(CLUSTER.into()),
        enabled_keys: Some(vec!["*".into()]),
        output: Some(output.display().to_string()),
        quiet: true,
        ..Default::default()
    }
}

/// Runs and returns the report and the output rows.
pub fn run(config: &RunConfig) -> (RunReport, Vec<Row>) {
    let job = config.resolve().expect("valid config");
    let report = ocpagg_cli::run(&job).expect("run succeeds");
    let rows = read_output(Path::new(config.output.as_deref().unwrap()));
    (report, rows)
}

pub fn run_rows(config: &RunConfig) -> Vec<Row> {
    run(config).1
}

/// One output row, every column as JSON (dates as "YYYY-MM-DD" strings).
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub BTreeMap<String, Value>);

impl Row {
    pub fn get(&self, col: &str) -> &Value {
        self.0.get(col).unwrap_or_else(|| panic!("no column {col}"))
    }

    /// A numeric column that must not be null.
    pub fn f(&self, col: &str) -> f64 {
        self.get(col)
            .as_f64()
            .unwrap_or_else(|| panic!("{col} is {:?}, expected a number", self.get(col)))
    }

    pub fn s(&self, col: &str) -> Option<&str> {
        self.get(col).as_str()
    }

    /// A JSON column, parsed.
    pub fn json(&self, col: &str) -> Value {
        match self.get(col) {
            Value::Null => Value::Null,
            Value::String(s) => {
                serde_json::from_str(s).unwrap_or_else(|e| panic!("{col}: {e}: {s}"))
            }
            other => panic!("{col} is {other:?}"),
        }
    }

    /// The row without its random uuid, for comparing runs.
    pub fn without_uuid(&self) -> BTreeMap<String, Value> {
        let mut m = self.0.clone();
        m.remove("uuid");
        m
    }
}

pub fn batches_to_rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut rows = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        for i in 0..batch.num_rows() {
            let mut m = BTreeMap::new();
            for (f, col) in schema.fields().iter().zip(batch.columns()) {
                let v = if col.is_null(i) {
                    Value::Null
                } else {
                    match col.data_type() {
                        DataType::Float64 => {
                            serde_json::Number::from_f64(col.as_primitive::<Float64Type>().value(i))
                                .map(Value::Number)
                                .unwrap()
                        }
                        DataType::Int32 => Value::from(col.as_primitive::<Int32Type>().value(i)),
                        DataType::Utf8 => Value::from(col.as_string::<i32>().value(i)),
                        DataType::Date32 => {
                            let d = col.as_primitive::<arrow::datatypes::Date32Type>().value(i);
                            let date = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
                                + chrono::Duration::days(i64::from(d));
                            Value::from(date.to_string())
                        }
                        other => panic!("unexpected output type {other}"),
                    }
                };
                m.insert(f.name().clone(), v);
            }
            rows.push(Row(m));
        }
    }
    rows
}

/// Rewrites a Parquet file in place, each record batch through `f`.
pub fn rewrite(path: &Path, f: impl Fn(RecordBatch) -> RecordBatch) {
    let file = std::fs::File::open(path).unwrap();
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let batches: Vec<RecordBatch> = batches.into_iter().map(f).collect();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batches[0].schema(),
        None,
    )
    .unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

pub fn read_output(path: &Path) -> Vec<Row> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    batches_to_rows(&batches)
}

pub fn comparable(rows: &[Row]) -> Vec<BTreeMap<String, Value>> {
    // In a canonical order: a run writes each day's rows as soon as the day is complete, so
    // the file order depends on how the input is split into files.
    let mut rows: Vec<BTreeMap<String, Value>> = rows.iter().map(Row::without_uuid).collect();
    rows.sort_by_cached_key(|r| serde_json::to_string(r).expect("rows serialise"));
    rows
}

/// `a` and `b` agree to a relative 1e-12 (sums of exactly representable inputs are exact; this
/// only absorbs the last-bit rounding of a hand-written decimal like 7.2).
#[track_caller]
pub fn close(actual: f64, expected: f64) {
    let tol = 1e-12 * expected.abs().max(1e-300);
    assert!(
        (actual - expected).abs() <= tol,
        "actual {actual} != expected {expected}"
    );
}

pub fn the_row<'a>(rows: &'a [Row], namespace: &str, node: &str) -> &'a Row {
    let found: Vec<&Row> = rows
        .iter()
        .filter(|r| r.s("namespace") == Some(namespace) && r.s("node") == Some(node))
        .collect();
    assert_eq!(found.len(), 1, "rows for {namespace}/{node}: {found:#?}");
    found[0]
}

/// Whether a row is an unallocated-capacity row: data source Pod without pod labels.
pub fn is_unallocated(r: &Row) -> bool {
    r.s("data_source") == Some("Pod") && r.get("pod_labels").is_null()
}

/// The Pod rows proper (no unallocated rows, no Storage rows).
pub fn pod_rows(rows: &[Row]) -> Vec<Row> {
    rows.iter()
        .filter(|r| r.s("data_source") == Some("Pod") && !is_unallocated(r))
        .cloned()
        .collect()
}

/// The unallocated rows.
pub fn unallocated_rows(rows: &[Row]) -> Vec<Row> {
    rows.iter().filter(|r| is_unallocated(r)).cloned().collect()
}

/// The Storage rows.
pub fn storage_rows(rows: &[Row]) -> Vec<Row> {
    rows.iter()
        .filter(|r| r.s("data_source") == Some("Storage"))
        .cloned()
        .collect()
}

/// Runs and returns only the Pod rows proper.
pub fn run_pod_rows(config: &RunConfig) -> Vec<Row> {
    pod_rows(&run_rows(config))
}

/// What a run of the `ocpagg` binary printed and returned.
pub struct Outcome {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// The settings naming the test slice: the test source's `month` of 2025 (`"10"` for October).
pub fn slice(month: &str) -> Vec<String> {
    slice_in("2025", month)
}

/// The settings naming the test source's `month` of `year`.
pub fn slice_in(year: &str, month: &str) -> Vec<String> {
    [
        "--org", ORG, "--source", SOURCE, "--year", year, "--month", month,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The settings of a job over `warehouse`: the test [`slice`] of `month`, its cluster, written
/// to `output`. Every binary test starts from these.
pub fn settings(warehouse: &str, month: &str, output: &str) -> Vec<String> {
    settings_in(warehouse, "2025", month, output)
}

/// [`settings`] for `month` of `year`.
pub fn settings_in(warehouse: &str, year: &str, month: &str, output: &str) -> Vec<String> {
    let mut argv = vec!["--warehouse".to_string(), warehouse.to_string()];
    argv.extend(slice_in(year, month));
    argv.extend(["--cluster-id", CLUSTER, "--output", output].map(String::from));
    argv
}

/// `ocpagg run --quiet` of the test source's October 2025 from `warehouse` into `output`
/// (add flags with `extend`).
pub fn run_argv(warehouse: &Path, output: &str) -> Vec<String> {
    let mut argv = vec!["run".to_string(), "--quiet".to_string()];
    argv.extend(settings(&warehouse.display().to_string(), "10", output));
    argv
}

/// One pod (`ns`/`p` on `worker-1`, 1 CPU core used, requested and limited, on a node of 4
/// cores and 16 GiB) for `hours_per_day` hours from midnight of each of October's `days`.
pub fn one_pod(days: std::ops::RangeInclusive<u32>, hours_per_day: u32) -> Dataset {
    let mut data = Dataset::default();
    for d in days {
        for ts in ocpagg_fixtures::hours(day(d), 0, hours_per_day) {
            data.pods.push(
                ocpagg_fixtures::PodItem::new(ts, "ns", "worker-1", "p")
                    .cpu(1.0, 1.0, 1.0)
                    .node_capacity(4.0, 16.0),
            );
        }
    }
    data
}

/// A generated month of about `pod_rows` pod line items in all four tables (`ScaleSpec`).
pub fn generated_month(pod_rows: u64) -> Dataset {
    let mut all = Dataset::default();
    for d in ocpagg_fixtures::ScaleSpec::new(2025, 10, pod_rows).days() {
        all.append(d);
    }
    all
}

/// `data` with whole effective-usage columns, so the daily roll-up carries them and a run
/// reads it.
pub fn with_effective_usage(mut data: Dataset) -> Dataset {
    for p in &mut data.pods {
        p.effective_cpu_core_seconds =
            Some(p.usage_cpu_core_seconds.max(p.request_cpu_core_seconds));
        p.effective_memory_byte_seconds = Some(
            p.usage_memory_byte_seconds
                .max(p.request_memory_byte_seconds),
        );
    }
    data
}

/// One invocation of the `ocpagg` binary: the only place the tests start it. `Cli::run`
/// starts from [`run_argv`], `Cli::new` from any arguments; `arg`, `args` and `env` add to
/// them; `output` runs it to the end, `spawn` starts it (for signal tests).
pub struct Cli(std::process::Command);

impl Cli {
    pub fn new<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Self {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ocpagg"));
        cmd.args(args);
        Cli(cmd)
    }

    /// `ocpagg run --quiet` of the test source's October 2025 (see [`run_argv`]).
    pub fn run(warehouse: &Path, output: &str) -> Self {
        Self::new(&run_argv(warehouse, output))
    }

    /// `ocpagg <command>` with the [`settings`] of a job over `warehouse`, `month` of 2025.
    pub fn command(command: &str, warehouse: &str, month: &str, output: &str) -> Self {
        Self::new(&[command]).args(&settings(warehouse, month, output))
    }

    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.0.arg(arg);
        self
    }

    pub fn args<S: AsRef<std::ffi::OsStr>>(mut self, args: &[S]) -> Self {
        self.0.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.0.env(key, value);
        self
    }

    /// Starts from an empty environment (PATH kept).
    pub fn env_clear(mut self) -> Self {
        self.0
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        self
    }

    pub fn output(mut self) -> Outcome {
        let out = self.0.output().unwrap();
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts it with stdout and stderr piped.
    pub fn spawn(mut self) -> std::process::Child {
        self.0
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// Runs the `ocpagg` binary with `args`.
pub fn ocpagg<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Outcome {
    Cli::new(args).output()
}
