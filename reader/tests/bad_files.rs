//! The reader alone on damaged files: each refusal names the file and, where one is at fault,
//! the column, and never panics. (The binary's handling of the same files, output left
//! untouched, is in the e2e suite's `bad_input` and `corpus`.)

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use ocpagg_fixtures::{hours, Dataset, Layout, PodItem, WriteOptions};
use ocpagg_reader::{Projection, ReportType, Warehouse};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

mod common;

use common::{request, ORG, SOURCE};

/// Two days of one pod, hourly pod files only.
fn lake() -> tempfile::TempDir {
    let mut data = Dataset::default();
    for d in 1..=2 {
        let day = chrono::NaiveDate::from_ymd_opt(2025, 10, d).unwrap();
        for ts in hours(day, 0, 24) {
            data.pods.push(
                PodItem::new(ts, "ns", "worker-1", "p")
                    .cpu(1.0, 1.0, 1.0)
                    .node_capacity(4.0, 16.0),
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = WriteOptions::hourly_only();
    data.write(dir.path(), &Layout::new(ORG, SOURCE, "c"), &opts)
        .unwrap();
    dir
}

/// The first hourly pod file of the lake.
fn first_pod_file(root: &Path) -> PathBuf {
    let dir = root.join(format!(
        "data/parquet/{ORG}/OCP/pod_usage/source={SOURCE}/year=2025/month=10"
    ));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.remove(0)
}

/// Rewrites a Parquet file, each batch through `f`.
fn rewrite(path: &Path, f: impl Fn(RecordBatch) -> RecordBatch) {
    let batches: Vec<RecordBatch> =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(|b| f(b.unwrap()))
            .collect();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batches[0].schema(), None).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

/// Reads every hourly pod file of the lake with every column; the first error, as text.
fn read_error(root: &Path) -> String {
    let warehouse = Warehouse::open(&root.display().to_string()).unwrap();
    let listing = warehouse.list(&request()).unwrap();
    let projection = Projection::all(ReportType::PodUsage);
    for file in listing.files(ReportType::PodUsage, false) {
        let batches = match warehouse.read(file, &projection, None, 4096) {
            Ok(batches) => batches,
            Err(e) => return e.to_string(),
        };
        for batch in batches {
            if let Err(e) = batch {
                return e.to_string();
            }
        }
    }
    panic!("every file read");
}

#[test]
fn a_corrupt_file_is_named() {
    let dir = lake();
    let bad = first_pod_file(dir.path()).with_file_name("c_pod_usage_20251001.9_0.parquet");
    std::fs::write(&bad, b"PAR1 this is not really parquet PAR1").unwrap();
    let e = read_error(dir.path());
    assert!(e.contains("c_pod_usage_20251001.9_0.parquet"), "{e}");
    assert!(e.contains("not a readable Parquet file"), "{e}");
}

#[test]
fn a_missing_column_is_named_with_its_file() {
    let dir = lake();
    let file = first_pod_file(dir.path());
    rewrite(&file, |mut b| {
        b.remove_column(b.schema().index_of("pod_request_cpu_core_seconds").unwrap());
        b
    });
    let e = read_error(dir.path());
    let name = file.file_name().unwrap().to_str().unwrap();
    for part in [name, "pod_request_cpu_core_seconds", "missing"] {
        assert!(e.contains(part), "{part:?} not in {e}");
    }
}

#[test]
fn a_column_of_the_wrong_type_is_named_with_its_type() {
    let dir = lake();
    let file = first_pod_file(dir.path());
    rewrite(&file, |b| {
        let i = b.schema().index_of("pod_usage_cpu_core_seconds").unwrap();
        let mut fields: Vec<Field> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields[i] = Field::new("pod_usage_cpu_core_seconds", DataType::Boolean, true);
        let mut cols: Vec<ArrayRef> = b.columns().to_vec();
        cols[i] = Arc::new(BooleanArray::from(vec![true; b.num_rows()]));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
    });
    let e = read_error(dir.path());
    let name = file.file_name().unwrap().to_str().unwrap();
    for part in [
        name,
        "pod_usage_cpu_core_seconds",
        "Boolean",
        "expected a number",
    ] {
        assert!(e.contains(part), "{part:?} not in {e}");
    }
}
