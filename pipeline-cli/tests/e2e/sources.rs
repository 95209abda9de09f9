//! The same data read different ways gives the same rows: hourly only vs with koku's daily
//! roll-up, every physical type variant, local disk vs a real S3-compatible server.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use ocpagg_fixtures::{TypeVariant, WriteOptions};

use crate::common::*;

#[test]
fn daily_tables_and_hourly_only_give_identical_rows() {
    let data = with_effective_usage(generated_month(20_000));
    let with_daily = Lake::write(&data, &WriteOptions::default());
    let hourly_only = Lake::write(&data, &WriteOptions::hourly_only());
    let (daily_report, daily_rows) = run(&with_daily.config());
    let (hourly_report, hourly_rows) = run(&hourly_only.config());
    assert!(daily_report.pods_from_daily, "the daily roll-up was used");
    assert!(!hourly_report.pods_from_daily);
    assert!(daily_report.rows_read.contains_key("pod_usage (daily)"));
    assert!(!daily_rows.is_empty());
    assert_eq!(comparable(&daily_rows), comparable(&hourly_rows));
}

#[test]
fn every_type_variant_reads_the_same() {
    let data = with_effective_usage(generated_month(5_000));
    let base = comparable(&run_rows(
        &Lake::write(&data, &WriteOptions::hourly_only()).config(),
    ));
    for variant in TypeVariant::ALL {
        let lake = Lake::write(
            &data,
            &WriteOptions {
                daily: false,
                variant,
                ..WriteOptions::default()
            },
        );
        let rows = comparable(&run_rows(&lake.config()));
        assert_eq!(rows, base, "variant {variant:?}");
    }
}

/// The S3 server is started by scripts/test.sh (moto, on loopback), which exports the standard
/// AWS_* variables and the bucket name.
pub(crate) fn s3_bucket() -> String {
    std::env::var("OCPAGG_TEST_S3_BUCKET").expect(
        "OCPAGG_TEST_S3_BUCKET is not set: run the tests with scripts/test.sh, which starts a local S3 server",
    )
}

pub(crate) fn upload(dir: &std::path::Path, bucket: &str, prefix: &str) {
    let store: Arc<dyn ObjectStore> = Arc::new(
        AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .expect("S3 settings from AWS_* env"),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for entry in walk(dir) {
        let rel = entry.strip_prefix(dir).unwrap().display().to_string();
        let bytes = std::fs::read(&entry).unwrap();
        let path = ObjectPath::from(format!("{prefix}/{rel}"));
        rt.block_on(store.put(&path, bytes::Bytes::from(bytes).into()))
            .unwrap();
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out
}

#[test]
fn local_and_s3_give_identical_rows() {
    let bucket = s3_bucket();
    let data = with_effective_usage(generated_month(10_000));
    let lake = Lake::new(&data);
    let local = comparable(&run_rows(&lake.config()));
    let prefix = format!("lake-{}", std::process::id());
    upload(lake.path(), &bucket, &prefix);
    let out = tempfile::tempdir().unwrap();
    let config = config(
        &format!("s3://{bucket}/{prefix}"),
        &out.path().join("s3.parquet"),
    );
    let (report, rows) = run(&config);
    assert!(report.files_read > 0);
    assert_eq!(comparable(&rows), local);
}
