//! `--hive-output`: koku's Trino/Hive copy of the summary (issue #17), read back and compared
//! with the PostgreSQL rows and the file output of the same run, on local disk and on the
//! local S3 server.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use ocpagg_writer::hive::HIVE_COLUMNS;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::common::*;
use crate::database::{fresh_schema, pg_config, table_rows};
use crate::pg::client;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Every object of a Hive location: path → bytes.
fn objects(store: &dyn ObjectStore) -> BTreeMap<String, Bytes> {
    let rt = runtime();
    rt.block_on(async {
        use futures::TryStreamExt;
        let metas: Vec<_> = store.list(None).try_collect().await.unwrap();
        let mut out = BTreeMap::new();
        for m in metas {
            let bytes = store.get(&m.location).await.unwrap().bytes().await.unwrap();
            out.insert(m.location.to_string(), bytes);
        }
        out
    })
}

/// The Hive copy's rows keyed by uuid, checking on the way that every file sits in the
/// partition of its rows' day (unpadded values), has exactly koku's Hive columns and types,
/// and holds label JSON as Trino prints it.
fn hive_rows(objects: &BTreeMap<String, Bytes>) -> BTreeMap<String, Row> {
    let mut out = BTreeMap::new();
    for (path, bytes) in objects {
        let parts: Vec<&str> = path.split('/').collect();
        assert_eq!(parts.len(), 5, "{path}");
        assert_eq!(parts[0], format!("source={SOURCE}"), "{path}");
        assert!(
            parts[4].starts_with("ocpagg-") && parts[4].ends_with(".parquet"),
            "{path}"
        );
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).unwrap();
        let names: Vec<String> = reader
            .schema()
            .fields()
            .iter()
            .map(|f| format!("{}:{}", f.name(), f.data_type()))
            .collect();
        let expected: Vec<String> = ocpagg_writer::hive::hive_schema()
            .fields()
            .iter()
            .map(|f| format!("{}:{}", f.name(), f.data_type()))
            .collect();
        assert_eq!(names, expected, "{path}");
        assert_eq!(names.len(), HIVE_COLUMNS.len());
        let batches: Vec<_> = reader.build().unwrap().collect::<Result<_, _>>().unwrap();
        for row in batches_to_rows(&batches) {
            let d = chrono::NaiveDate::parse_from_str(row.s("usage_start").unwrap(), "%Y-%m-%d")
                .unwrap();
            use chrono::Datelike;
            assert_eq!(
                &parts[1..4],
                &[
                    format!("year={}", d.year()).as_str(),
                    format!("month={}", d.month()).as_str(),
                    format!("day={}", d.day()).as_str()
                ],
                "{path}"
            );
            for col in ["pod_labels", "volume_labels"] {
                if let Some(text) = row.s(col) {
                    assert!(
                        !text.contains(": ") && !text.contains(", "),
                        "{col}: {text}"
                    );
                }
            }
            let uuid = row.s("uuid").unwrap().to_string();
            assert!(out.insert(uuid, row).is_none(), "a uuid twice");
        }
    }
    out
}

/// The Hive rows equal `expected` (PostgreSQL's or the file output's rows) column by column,
/// matched by uuid; csi_volume_handle is set exactly on Storage rows.
#[track_caller]
fn assert_same(hive: &BTreeMap<String, Row>, expected: &[Row]) {
    let expected: BTreeMap<String, &Row> = expected
        .iter()
        .map(|r| (r.s("uuid").unwrap().to_string(), r))
        .collect();
    assert_eq!(
        hive.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same uuids"
    );
    let mut storage = 0;
    for (uuid, h) in hive {
        let e = expected[uuid];
        for col in HIVE_COLUMNS {
            let a = h.get(col);
            if *col == "csi_volume_handle" {
                let is_storage = e.s("data_source") == Some("Storage");
                assert_eq!(a.is_string(), is_storage, "{uuid} {col}: {a}");
                storage += usize::from(is_storage);
                continue;
            }
            let b = e.get(col);
            match (a, b) {
                (Value::Number(x), Value::Number(y)) => {
                    let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                    // PostgreSQL holds numeric(33,15), the Hive copy the f64.
                    assert!(
                        (x - y).abs() <= 1e-9 * x.abs().max(y.abs()) + 1e-14,
                        "{uuid} {col}: hive {x} expected {y}"
                    );
                }
                _ if ["pod_labels", "volume_labels", "infrastructure_usage_cost"].contains(col) => {
                    assert_eq!(h.json(col), e.json(col), "{uuid} {col}");
                }
                _ => assert_eq!(a, b, "{uuid} {col}"),
            }
        }
    }
    assert!(storage > 0, "Storage rows with a CSI handle were compared");
}

fn day_files(objects: &BTreeMap<String, Bytes>, day: u32) -> Vec<(&String, &Bytes)> {
    objects
        .iter()
        .filter(|(p, _)| p.contains(&format!("/month=10/day={day}/")))
        .collect()
}

/// Into PostgreSQL with a local Hive location: the copy equals the table (same uuids); a
/// run that fails leaves it untouched; a 3-day rerun replaces exactly those 3 partitions
/// (a stray file included) and the copy equals the table again; a failed COMMIT after the
/// Hive copy was replaced is reported as such, and the next run repairs both.
#[test]
fn hive_copy_equals_the_database_and_reruns_replace_their_days() {
    let (mut c, schema) = fresh_schema("hive_local");
    let lake = Lake::new(&generated_month(3_000));
    let hive_dir = tempfile::tempdir().unwrap();
    let store = LocalFileSystem::new_with_prefix(hive_dir.path()).unwrap();
    let mut config = pg_config(&lake, &schema);
    config.hive_output = Some(hive_dir.path().display().to_string());
    let report = ocpagg_cli::run(&config.resolve().unwrap()).unwrap();

    let hive = report.write.hive.as_ref().expect("a Hive report");
    assert_eq!(hive.partitions.len(), 31);
    assert_eq!(hive.rows, report.write.rows);
    assert_eq!(
        report.hive_sync_call.as_deref(),
        Some(format!("CALL system.sync_partition_metadata('{schema}', 'reporting_ocpusagelineitem_daily_summary', 'FULL')").as_str())
    );
    let first = objects(&store);
    assert_eq!(first.len(), 31, "one file per day");
    assert_same(&hive_rows(&first), &table_rows(&mut c, &schema, None));

    // A run that fails (a corrupt input file) changes nothing in the Hive copy.
    let broken = lake.path().join(format!(
        "data/parquet/{ORG}/OCP/pod_usage/source={SOURCE}/year=2025/month=10/zz-broken.parquet"
    ));
    std::fs::write(&broken, b"not parquet").unwrap();
    let err = ocpagg_cli::run(&config.resolve().unwrap()).unwrap_err();
    assert!(format!("{err:#}").contains("zz-broken.parquet"), "{err:#}");
    assert_eq!(objects(&store), first, "the Hive copy is untouched");
    std::fs::remove_file(&broken).unwrap();

    // A stray file in day 6 (a previous writer's) and one in day 8.
    for d in [6, 8] {
        std::fs::write(
            hive_dir.path().join(format!(
                "source={SOURCE}/year=2025/month=10/day={d}/20251006_trino_0001"
            )),
            b"old",
        )
        .unwrap();
    }
    let before = objects(&store);
    config.start_date = Some(day(5));
    config.end_date = Some(day(7));
    let report = ocpagg_cli::run(&config.resolve().unwrap()).unwrap();
    let hive = report.write.hive.as_ref().unwrap();
    assert_eq!(
        hive.describe_partitions(),
        format!("source={SOURCE}/year=2025/month=10/day=5..7")
    );
    assert_eq!(
        hive.partitions
            .iter()
            .map(|p| p.objects_removed)
            .collect::<Vec<_>>(),
        [1, 2, 1]
    );
    let after = objects(&store);
    for d in 1..=31 {
        let (old, new) = (day_files(&before, d), day_files(&after, d));
        if (5..=7).contains(&d) {
            assert_eq!(new.len(), 1, "day {d}: only the new file");
            assert!(
                !old.iter().any(|(p, _)| *p == new[0].0),
                "day {d}: a new file"
            );
        } else {
            assert_eq!(old, new, "day {d} untouched");
        }
    }
    let stray = format!("source={SOURCE}/year=2025/month=10/day=8/20251006_trino_0001");
    assert!(after.contains_key(&stray), "day 8's other file stays");
    std::fs::remove_file(hive_dir.path().join(&stray)).unwrap();
    let after = objects(&store);
    assert_same(&hive_rows(&after), &table_rows(&mut c, &schema, None));

    // The COMMIT fails after the Hive copy was replaced: the error says so, the table keeps
    // its rows; the next run brings both in line.
    let table_before = table_rows(&mut c, &schema, None);
    c.batch_execute(&format!(
        "CREATE FUNCTION {schema}.fail() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
         CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT
           ON {schema}.reporting_ocpusagelineitem_daily_summary_2025_10
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {schema}.fail();"
    ))
    .unwrap();
    let err = format!(
        "{:#}",
        ocpagg_cli::run(&config.resolve().unwrap()).unwrap_err()
    );
    assert!(err.contains("refused at commit"), "{err}");
    assert!(err.contains("Hive copy"), "{err}");
    assert!(err.contains("run again"), "{err}");
    let mut c = client();
    let table_now = table_rows(&mut c, &schema, None);
    assert_eq!(table_now, table_before, "the table keeps its rows");
    assert_ne!(objects(&store), after, "the Hive copy was replaced");
    c.batch_execute(&format!(
        "DROP TRIGGER fail_at_commit ON {schema}.reporting_ocpusagelineitem_daily_summary_2025_10"
    ))
    .unwrap();
    ocpagg_cli::run(&config.resolve().unwrap()).unwrap();
    assert_same(
        &hive_rows(&objects(&store)),
        &table_rows(&mut c, &schema, None),
    );
}

/// File output with the Hive copy on the local S3 server: the copy equals the file (same
/// uuids), and a 3-day rerun replaces exactly those partitions.
#[test]
fn hive_copy_on_s3() {
    let bucket = crate::sources::s3_bucket();
    let prefix = format!("hive-{}", std::process::id());
    let lake = Lake::new(&generated_month(3_000));
    let mut config = lake.config();
    config.hive_output = Some(format!("s3://{bucket}/{prefix}/"));
    let report = ocpagg_cli::run(&config.resolve().unwrap()).unwrap();
    assert_eq!(report.write.hive.as_ref().unwrap().partitions.len(), 31);
    assert_eq!(
        report.hive_sync_call.as_deref(),
        Some("CALL system.sync_partition_metadata('org1234567', 'reporting_ocpusagelineitem_daily_summary', 'FULL')")
    );
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::prefix::PrefixStore::new(
        object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&bucket)
            .build()
            .unwrap(),
        prefix.as_str(),
    ));
    let first = objects(store.as_ref());
    assert_eq!(first.len(), 31);
    let file_rows = read_output(&lake.path().join("out.parquet"));
    assert_same(&hive_rows(&first), &file_rows);

    config.start_date = Some(day(10));
    config.end_date = Some(day(12));
    let report = ocpagg_cli::run(&config.resolve().unwrap()).unwrap();
    assert_eq!(report.write.hive.as_ref().unwrap().partitions.len(), 3);
    let after = objects(store.as_ref());
    assert_eq!(after.len(), 31);
    for d in 1..=31 {
        let (old, new) = (day_files(&first, d), day_files(&after, d));
        if (10..=12).contains(&d) {
            assert_eq!(new.len(), 1);
            assert_ne!(old[0].0, new[0].0, "day {d} replaced");
        } else {
            assert_eq!(old, new, "day {d} untouched");
        }
    }
    // The rerun's file output holds days 10-12 only; the Hive copy of those days equals it.
    let rerun_rows = read_output(&lake.path().join("out.parquet"));
    let rerun_hive: BTreeMap<String, Row> = hive_rows(&after)
        .into_iter()
        .filter(|(_, r)| {
            ["2025-10-10", "2025-10-11", "2025-10-12"].contains(&r.s("usage_start").unwrap())
        })
        .collect();
    assert_same(&rerun_hive, &rerun_rows);
    let rt = runtime();
    for path in after.keys() {
        rt.block_on(store.delete(&ObjectPath::from(path.as_str())))
            .unwrap();
    }
}

/// `preflight` checks `--hive-output`: an S3 location that lists passes, a missing bucket
/// fails, a local directory to be created passes and is not created.
#[test]
fn preflight_checks_the_hive_location() {
    use ocpagg_cli::preflight::{preflight, Status};
    let lake = Lake::new(&generated_month(500));
    let status = |hive: String| {
        let mut config = lake.config();
        config.hive_output = Some(hive);
        let report = preflight(&config.resolve().unwrap());
        let check = report.named("hive output").next().unwrap().clone();
        (check.status, check.detail)
    };
    let bucket = crate::sources::s3_bucket();
    let (s, detail) = status(format!("s3://{bucket}/hive-preflight"));
    assert_eq!(s, Status::Pass, "{detail}");
    let (s, detail) = status("s3://no-such-bucket-ocpagg/hive".into());
    assert_eq!(s, Status::Fail, "{detail}");
    let missing = lake.path().join("hive/new");
    let (s, detail) = status(missing.display().to_string());
    assert_eq!(s, Status::Pass, "{detail}");
    assert!(!missing.exists(), "preflight creates nothing");
}

/// `--result-format json` reports the Hive partitions written and the Trino call.
#[test]
fn json_result_names_the_hive_partitions() {
    let lake = Lake::new(&generated_month(500));
    let hive = lake.path().join("hive");
    let out = lake.path().join("out.parquet");
    let mut args = run_argv(lake.path(), out.to_str().unwrap());
    args.extend(
        [
            "--hive-output",
            hive.to_str().unwrap(),
            "--result-format",
            "json",
            "--start-date",
            "2025-10-30",
        ]
        .map(String::from),
    );
    let outcome = ocpagg(&args);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let result: Value = serde_json::from_str(&outcome.stdout).unwrap();
    let h = &result["hive"];
    assert_eq!(
        h["partitions_written"],
        serde_json::json!([
            format!("source={SOURCE}/year=2025/month=10/day=30"),
            format!("source={SOURCE}/year=2025/month=10/day=31")
        ])
    );
    assert_eq!(h["rows"], result["rows_inserted"]);
    assert_eq!(
        h["sync_partition_metadata"],
        "CALL system.sync_partition_metadata('org1234567', 'reporting_ocpusagelineitem_daily_summary', 'FULL')"
    );
}
