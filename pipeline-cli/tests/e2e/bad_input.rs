//! Bad input through the real binary: a clear message naming the cause, exit code 1 (2 for
//! usage errors), and nothing half-written: an existing output file is left untouched and no
//! temporary file remains.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use ocpagg_fixtures::{Dataset, PodItem};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::common::*;

fn small_lake() -> Lake {
    Lake::new(&one_pod(1..=2, 24))
}

fn pod_dir(lake: &Lake) -> PathBuf {
    lake.path().join(format!(
        "data/parquet/{ORG}/OCP/pod_usage/source={SOURCE}/year=2025/month=10"
    ))
}

/// Runs against the lake with an existing output file, checks the failure, and checks the
/// output file was left as it was with no temporary file beside it.
fn run_fails(lake: &Lake, warehouse: &str, month: &str, expect: &[&str]) -> String {
    let out_dir = tempfile::tempdir().unwrap();
    let output = out_dir.path().join("summary.parquet");
    std::fs::write(&output, b"previous contents").unwrap();
    let _ = lake;
    let o = Cli::command("run", warehouse, month, output.to_str().unwrap())
        .arg("--quiet")
        .output();
    assert_eq!(o.code, 1, "exit code; stderr: {}", o.stderr);
    for e in expect {
        assert!(o.stderr.contains(e), "stderr lacks {e:?}: {}", o.stderr);
    }
    assert_eq!(std::fs::read(&output).unwrap(), b"previous contents");
    let leftovers: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "temporary files left behind: {leftovers:?}"
    );
    o.stderr
}

#[test]
fn corrupt_parquet_file_is_named() {
    let lake = small_lake();
    // Sorted after the valid files: discovered after rows were already aggregated.
    let bad = pod_dir(&lake).join("zzz_corrupt.parquet");
    std::fs::write(&bad, b"PAR1 this is not really parquet PAR1").unwrap();
    let stderr = run_fails(
        &lake,
        lake.path().to_str().unwrap(),
        "10",
        &["zzz_corrupt.parquet", "not a readable Parquet file"],
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn empty_month_is_an_error() {
    let lake = small_lake();
    run_fails(
        &lake,
        lake.path().to_str().unwrap(),
        "11",
        &["no pod_usage files", "month=11"],
    );
    // A month whose files hold no line items in the range.
    let empty = tempfile::tempdir().unwrap();
    Dataset::default()
        .write(empty.path(), &layout(), &Default::default())
        .unwrap();
    let o = ocpagg(&run_argv(
        empty.path(),
        empty.path().join("o.parquet").to_str().unwrap(),
    ));
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(!empty.path().join("o.parquet").exists());
}

#[test]
fn missing_warehouse_and_bucket() {
    let lake = small_lake();
    run_fails(
        &lake,
        "/nonexistent/lake",
        "10",
        &["/nonexistent/lake", "cannot open directory"],
    );
    if std::env::var("OCPAGG_TEST_S3_BUCKET").is_err() {
        panic!("OCPAGG_TEST_S3_BUCKET is not set: run the tests with scripts/test.sh");
    }
    run_fails(
        &lake,
        "s3://ocpagg-no-such-bucket/lake",
        "10",
        &["ocpagg-no-such-bucket", "cannot list"],
    );
}

#[test]
fn usage_errors_exit_2() {
    let without_org: Vec<String> = settings("/tmp", "10", "/tmp/x.parquet")
        .into_iter()
        .filter(|a| a != "--org" && a != ORG)
        .collect();
    let o = Cli::new(&["run"]).args(&without_org).output();
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("missing setting `org`"), "{}", o.stderr);
    let o = ocpagg(&["run", "--bogus"]);
    assert_eq!(o.code, 2);
    let o = Cli::command("run", "/tmp", "10", "/tmp/x.parquet")
        .args(&["--start-date", "2025-11-01"])
        .output();
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("start_date"), "{}", o.stderr);
    let o = Cli::command("run", "/tmp", "10", "/tmp/x.txt").output();
    // An output that is neither a file type we write nor a database is a usage error.
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("setting `output`"), "{}", o.stderr);
    assert!(o.stderr.contains("/tmp/x.txt"), "{}", o.stderr);
}

/// Settings that name paths or dates are checked for every command: never a panic, never a
/// write outside `--out` (issue #18).
#[test]
fn org_source_and_year_are_checked() {
    let base = |org: &str, source: &str, year: &str, month: &str| {
        ocpagg(&[
            "run",
            "--warehouse",
            "/tmp",
            "--org",
            org,
            "--source",
            source,
            "--year",
            year,
            "--month",
            month,
            "--cluster-id",
            "c",
            "--output",
            "/tmp/x.parquet",
        ])
    };
    for (org, source, year, month, setting) in [
        ("../../../x", SOURCE, "2025", "10", "org"),
        ("org1/x", SOURCE, "2025", "10", "org"),
        (ORG, "../x", "2025", "10", "source"),
        (ORG, "a/b", "2025", "10", "source"),
        (ORG, SOURCE, "262142", "12", "year"),
        (ORG, SOURCE, "1969", "1", "year"),
        (ORG, SOURCE, "2025", "13", "month"),
    ] {
        let o = base(org, source, year, month);
        assert_eq!(o.code, 2, "{org} {source} {year}-{month}: {}", o.stderr);
        assert!(
            o.stderr.contains(&format!("setting `{setting}`")),
            "{}",
            o.stderr
        );
    }
    let out = tempfile::tempdir().unwrap();
    let lake = out.path().join("lake");
    for (org, source) in [("../../../x", SOURCE), (ORG, "../../y")] {
        let o = ocpagg(&[
            "generate",
            "--out",
            &lake.display().to_string(),
            "--org",
            org,
            "--source",
            source,
            "--year",
            "2025",
            "--month",
            "10",
            "--pod-rows",
            "100",
        ]);
        assert_eq!(o.code, 2, "{}", o.stderr);
    }
    let o = ocpagg(&[
        "generate",
        "--out",
        &lake.display().to_string(),
        "--year",
        "262142",
        "--month",
        "12",
        "--pod-rows",
        "100",
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(!lake.exists(), "nothing written");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn config_file_and_environment() {
    let lake = small_lake();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("from-config.parquet");
    let toml = format!(
        "warehouse = {:?}\norg = {ORG:?}\nsource = {SOURCE:?}\nyear = 2025\nmonth = 10\ncluster_id = \"from-file\"\noutput = {:?}\nquiet = true\n",
        lake.path().display().to_string(),
        output.display().to_string()
    );
    let cfg = dir.path().join("ocpagg.toml");
    std::fs::write(&cfg, toml).unwrap();
    // The flag wins over the environment, which wins over the file.
    let out = Cli::new(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--cluster-alias",
        "from-flag",
    ])
    .env("OCPAGG_CLUSTER_ID", "from-env")
    .env("OCPAGG_CLUSTER_ALIAS", "alias-from-env")
    .output();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows = read_output(&output);
    assert_eq!(rows[0].s("cluster_id"), Some("from-env"));
    assert_eq!(rows[0].s("cluster_alias"), Some("from-flag"));
    // A misspelt key is an error naming it.
    std::fs::write(&cfg, "warehous = \"x\"\n").unwrap();
    let o = ocpagg(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("warehous"), "{}", o.stderr);
}

/// SIGINT and SIGTERM during a run: it stops reading, removes its temporary file, leaves the
/// existing output untouched, says so in one line and exits 128 + the signal.
#[test]
fn signals_stop_the_run_and_leave_the_output_untouched() {
    let spec = ocpagg_fixtures::ScaleSpec::new(2025, 10, 400_000);
    let mut data = Dataset::default();
    for d in spec.days() {
        data.append(d);
    }
    let lake = Lake::new(&data);
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("summary.parquet");
    std::fs::write(&out, b"the previous output").unwrap();
    for (signal, code, name) in [("-INT", 130, "SIGINT"), ("-TERM", 143, "SIGTERM")] {
        let child = Cli::run(lake.path(), &out.display().to_string())
            .args(&["--threads", "1"])
            .spawn();
        // The temporary file appears when the sink opens, before the first batch is read.
        let temp_exists = || {
            std::fs::read_dir(out_dir.path())
                .unwrap()
                .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp"))
        };
        let started = std::time::Instant::now();
        while !temp_exists() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "no temporary file"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let kill = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let output = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{err}");
        assert!(err.contains(&format!("interrupted by {name}")), "{err}");
        assert!(err.contains("was not written"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert_eq!(std::fs::read(&out).unwrap(), b"the previous output");
        assert!(!temp_exists(), "the temporary file was removed");
    }
}

/// Rewrites `path`'s footer so that its `interval_start` statistics claim `shift_days` later
/// than the rows it holds (the data pages are untouched): a file that lies about its days.
pub(crate) fn shift_footer_statistics(path: &Path, shift_days: i64) {
    use parquet::file::metadata::{
        ParquetMetaDataBuilder, ParquetMetaDataReader, ParquetMetaDataWriter,
    };
    use parquet::file::statistics::Statistics;
    let bytes = bytes::Bytes::from(std::fs::read(path).unwrap());
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&bytes)
        .unwrap();
    let footer_len =
        u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap());
    let data_end = bytes.len() - 8 - footer_len as usize;
    let column = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == "interval_start")
        .expect("an interval_start column");
    let row_groups = meta
        .row_groups()
        .iter()
        .map(|rg| {
            let mut columns = rg.columns().to_vec();
            let chunk = columns[column].clone();
            let Some(Statistics::Int64(s)) = chunk.statistics() else {
                panic!(
                    "interval_start has int64 statistics: {:?}",
                    chunk.statistics()
                )
            };
            let (min, max, nulls) = (
                *s.min_opt().unwrap(),
                *s.max_opt().unwrap(),
                s.null_count_opt(),
            );
            // Seconds, milliseconds, microseconds or nanoseconds, by magnitude.
            let per_second = [1_i64, 1_000, 1_000_000, 1_000_000_000]
                .into_iter()
                .find(|unit| min / unit < 10_000_000_000)
                .unwrap();
            let shift = shift_days * 86_400 * per_second;
            columns[column] = chunk
                .into_builder()
                .set_statistics(Statistics::int64(
                    Some(min + shift),
                    Some(max + shift),
                    None,
                    nulls,
                    false,
                ))
                .build()
                .unwrap();
            rg.clone()
                .into_builder()
                .set_column_metadata(columns)
                .build()
                .unwrap()
        })
        .collect();
    let meta = ParquetMetaDataBuilder::new_from_metadata(meta)
        .set_row_groups(row_groups)
        .build();
    let mut out = bytes[..data_end].to_vec();
    ParquetMetaDataWriter::new(&mut out, &meta)
        .finish()
        .unwrap();
    std::fs::write(path, out).unwrap();
}

/// Footer statistics order the files and decide when a day is finished; a file whose
/// statistics claim later days than it holds must not add a second set of rows to a day
/// already finished (issue #18): the run stops, naming the file.
#[test]
fn wrong_footer_statistics_are_caught() {
    let data = one_pod(3..=12, 4);
    let lake = Lake::write(&data, &ocpagg_fixtures::WriteOptions::hourly_only());
    let day3 = std::fs::read_dir(pod_dir(&lake))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let file = std::fs::File::open(p).unwrap();
            let batches = ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap();
            batches
                .map(|b| b.unwrap())
                .any(|b| format!("{:?}", b.column_by_name("interval_start")).contains("2025-10-03"))
        })
        .expect("the file of 2025-10-03");
    shift_footer_statistics(&day3, 9);
    let out = lake.path().join("out.parquet");
    let mut args = run_argv(lake.path(), &out.display().to_string());
    args.extend(["--threads".into(), "1".into()]);
    let o = ocpagg(&args);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr
            .contains(&day3.file_name().unwrap().to_string_lossy().to_string()),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("2025-10-03"), "{}", o.stderr);
    assert!(o.stderr.contains("statistics"), "{}", o.stderr);
    assert!(!out.exists());
}

/// `interval_start` in milliseconds, microseconds or nanoseconds (with or without a zone),
/// and a label column dictionary-encoded with narrow keys: the same rows as the canonical
/// file, never an internal error or a panic (issue #18).
#[test]
fn timestamp_units_and_dictionary_keys_are_tolerated() {
    use arrow::datatypes::{TimeUnit, UInt16Type};
    let expected = {
        let lake = small_lake();
        comparable(&run_rows(&lake.config()))
    };
    let units = [
        (TimeUnit::Millisecond, None),
        (TimeUnit::Microsecond, Some("+00:00")),
        (TimeUnit::Nanosecond, Some("+00:00")),
    ];
    for (unit, zone) in units {
        let lake = small_lake();
        let mut files = Vec::new();
        let mut dirs = vec![lake.path().to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "parquet") {
                    files.push(path);
                }
            }
        }
        assert!(files.len() > 2, "hourly and daily files");
        for file in files {
            rewrite(&file, |b| {
                let mut fields: Vec<Field> = b
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect();
                let mut cols: Vec<ArrayRef> = b.columns().to_vec();
                let i = b.schema().index_of("interval_start").unwrap();
                let ty = DataType::Timestamp(unit, zone.map(Into::into));
                cols[i] = arrow::compute::cast(&cols[i], &ty).unwrap();
                fields[i] = Field::new("interval_start", ty, true);
                if let Ok(j) = b.schema().index_of("pod_labels") {
                    let ty =
                        DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8));
                    cols[j] = arrow::compute::cast(&cols[j], &ty).unwrap();
                    assert!(cols[j]
                        .as_any()
                        .is::<arrow::array::DictionaryArray<UInt16Type>>());
                    fields[j] = Field::new("pod_labels", ty, true);
                }
                RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
            });
        }
        let got = comparable(&run_rows(&lake.config()));
        assert_eq!(got, expected, "{unit:?} {zone:?}");
    }
}

/// An infinite, NaN or negative measure stops the run naming the file, the column and the row
/// group, and so does one above 2^70, which no sum could hold; values each in range whose sum
/// is too large to hold stop the run naming the output column and the day (issue #18: `inf`
/// used to come out as 655884233731895200, NaN as null).
#[test]
fn non_finite_negative_and_overflowing_measures_are_refused() {
    type Set = fn(&mut [PodItem]);
    let cases: [(Set, &[&str]); 7] = [
        (
            |p| p[4].usage_cpu_core_seconds = f64::INFINITY,
            &["pod_usage_cpu_core_seconds", "row group 0", ".parquet"],
        ),
        (
            |p| p[4].usage_cpu_core_seconds = f64::NEG_INFINITY,
            &["pod_usage_cpu_core_seconds", "row group 0"],
        ),
        (
            |p| p[4].usage_cpu_core_seconds = f64::NAN,
            &["pod_usage_cpu_core_seconds", "row group 0"],
        ),
        (
            |p| p[4].usage_cpu_core_seconds = -1.0,
            &["pod_usage_cpu_core_seconds", "not negative"],
        ),
        (
            |p| p[4].node_capacity_cpu_cores = f64::NAN,
            &["node_capacity_cpu_cores", "row group 0"],
        ),
        (
            |p| p[4].usage_cpu_core_seconds = 1e300,
            &[
                "pod_usage_cpu_core_seconds",
                "row group 0",
                "at most 1.2e21",
            ],
        ),
        (
            |p| {
                p[4].usage_cpu_core_seconds = 1e21;
                p[5].usage_cpu_core_seconds = 1e21;
            },
            &["pod_usage_cpu_core_hours", "2025-10-02"],
        ),
    ];
    for (set, expect) in cases {
        let mut data = one_pod(1..=2, 3);
        set(&mut data.pods);
        let lake = Lake::write(&data, &ocpagg_fixtures::WriteOptions::hourly_only());
        let out = lake.path().join("out.parquet");
        std::fs::write(&out, b"previous").unwrap();
        let o = ocpagg(&run_argv(lake.path(), &out.display().to_string()));
        assert_eq!(o.code, 1, "{expect:?}: {}", o.stderr);
        for e in expect {
            assert!(o.stderr.contains(e), "{e}: {}", o.stderr);
        }
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
        assert_eq!(std::fs::read(&out).unwrap(), b"previous");
    }
}
