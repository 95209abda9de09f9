//! PostgreSQL output against a real server (scripts/pg-server.sh starts one and exports
//! `OCPAGG_TEST_DATABASE_URL`). Every test works in a schema of its own.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use ocpagg_aggregate::schema::SUMMARY_COLUMNS;
use ocpagg_cli::config::RunConfig;
use ocpagg_fixtures::{hours, Dataset, Layout, PodItem, WriteOptions};
use ocpagg_writer::PgTarget;
use postgres::Client;
use serde_json::{json, Value};

use crate::common::*;
use crate::pg::*;

const SOURCE_B: &str = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";

/// A new, empty schema with koku's tables and report periods, named after the test.
pub(crate) fn fresh_schema(name: &str) -> (Client, String) {
    let schema = format!("t_{name}");
    let mut c = client();
    koku_schema(&mut c, &schema, &[SOURCE, SOURCE_B]);
    (c, schema)
}

pub(crate) fn pg_config(lake: &Lake, schema: &str) -> RunConfig {
    let mut config = lake.config();
    config.output = Some(db_url());
    config.schema = Some(schema.into());
    config
}

fn run_db(config: &RunConfig) -> ocpagg_cli::RunReport {
    let job = config.resolve().expect("valid config");
    ocpagg_cli::run(&job).expect("run succeeds")
}

fn run_db_err(config: &RunConfig) -> String {
    let job = config.resolve().expect("valid config");
    format!("{:#}", ocpagg_cli::run(&job).expect_err("run fails"))
}

/// The table's rows of one source (all sources if `None`), as the file outputs' [`Row`]s.
pub(crate) fn table_rows(c: &mut Client, schema: &str, source: Option<&str>) -> Vec<Row> {
    let select: Vec<String> = SUMMARY_COLUMNS
        .iter()
        .map(|col| match col.pg_type {
            "integer" => col.name.to_string(),
            p if p.starts_with("numeric") => format!("{}::float8", col.name),
            _ => format!("{}::text", col.name),
        })
        .collect();
    let filter = source.map_or(String::new(), |s| format!("WHERE source_uuid = '{s}'"));
    let sql = format!(
        "SELECT {} FROM {schema}.reporting_ocpusagelineitem_daily_summary {filter}",
        select.join(", ")
    );
    c.query(&sql, &[])
        .unwrap()
        .iter()
        .map(|r| {
            let mut m = BTreeMap::new();
            for (i, col) in SUMMARY_COLUMNS.iter().enumerate() {
                let v = match col.pg_type {
                    "integer" => r.get::<_, Option<i32>>(i).map_or(Value::Null, Value::from),
                    p if p.starts_with("numeric") => {
                        r.get::<_, Option<f64>>(i).map_or(Value::Null, Value::from)
                    }
                    _ => r
                        .get::<_, Option<String>>(i)
                        .map_or(Value::Null, Value::from),
                };
                m.insert(col.name.to_string(), v);
            }
            Row(m)
        })
        .collect()
}

fn count(c: &mut Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

/// Rows keyed by their identifying columns (everything but uuid and the numbers), JSON
/// parsed, so file and table rows can be matched one to one.
fn keyed(rows: &[Row]) -> BTreeMap<String, Row> {
    let mut out = BTreeMap::new();
    for r in rows {
        let key: Vec<String> = SUMMARY_COLUMNS
            .iter()
            .filter(|c| !c.pg_type.starts_with("numeric") && c.name != "uuid")
            .map(|c| {
                if c.json {
                    r.json(c.name).to_string()
                } else {
                    r.get(c.name).to_string()
                }
            })
            .collect();
        assert!(
            out.insert(key.join("|"), r.clone()).is_none(),
            "duplicate row {key:?}"
        );
    }
    out
}

#[track_caller]
fn assert_same_rows(file: &[Row], table: &[Row]) {
    let (file, table) = (keyed(file), keyed(table));
    assert_eq!(
        file.keys().collect::<Vec<_>>(),
        table.keys().collect::<Vec<_>>()
    );
    for (key, f) in &file {
        let t = &table[key];
        for col in SUMMARY_COLUMNS {
            let (a, b) = (f.get(col.name), t.get(col.name));
            if col.pg_type.starts_with("numeric") {
                match (a.as_f64(), b.as_f64()) {
                    (Some(x), Some(y)) => assert!(
                        (x - y).abs() <= 1e-9 * x.abs().max(y.abs()) + 1e-15,
                        "{key} {}: file {x} table {y}",
                        col.name
                    ),
                    _ => assert_eq!(a, b, "{key} {}", col.name),
                }
            } else if col.json {
                assert_eq!(f.json(col.name), t.json(col.name), "{key} {}", col.name);
                // Our canonical JSON text is byte for byte what jsonb prints.
                assert_eq!(a, b, "{key} {} as text", col.name);
            } else if col.name != "uuid" {
                assert_eq!(a, b, "{key} {}", col.name);
            }
        }
    }
}

fn lake_for(data: &Dataset, source: &str) -> Lake {
    let dir = tempfile::tempdir().unwrap();
    data.write(
        dir.path(),
        &Layout::new(ORG, source, CLUSTER),
        &WriteOptions::default(),
    )
    .unwrap();
    Lake { dir }
}

fn uuids(rows: &[Row]) -> BTreeMap<String, String> {
    rows.iter()
        .map(|r| {
            (
                r.s("uuid").unwrap().to_string(),
                r.s("usage_start").unwrap().to_string(),
            )
        })
        .collect()
}

/// generate → run → the table equals the file output of the same run, for both COPY formats.
#[test]
fn round_trip_equals_file_output() {
    let (mut c, schema) = fresh_schema("round_trip");
    let lake = Lake::new(&generated_month(6_000));
    // The file run is told the report period the database run finds by itself.
    let mut file_config = lake.config();
    file_config.report_period_id = Some(october_period(&mut c, &schema, SOURCE));
    let file_rows = run_rows(&file_config);
    assert!(file_rows.len() > 50, "{} rows", file_rows.len());
    for format in ["binary", "text"] {
        let mut config = pg_config(&lake, &schema);
        config.copy_format = Some(format.into());
        let report = run_db(&config);
        assert_eq!(report.write.rows as usize, file_rows.len());
        let table = table_rows(&mut c, &schema, Some(SOURCE));
        assert_same_rows(&file_rows, &table);
    }
    // Rows sit in the month's partition, none in the default one.
    assert_eq!(
        count(
            &mut c,
            &format!(
                "SELECT count(*) FROM {schema}.reporting_ocpusagelineitem_daily_summary_default"
            )
        ),
        0
    );
    assert_eq!(
        count(
            &mut c,
            &format!(
                "SELECT count(*) FROM {schema}.reporting_ocpusagelineitem_daily_summary_2025_10"
            )
        ) as usize,
        file_rows.len()
    );
    // koku's way: the partition is registered in partitioned_tables.
    assert_eq!(
        count(
            &mut c,
            &format!("SELECT count(*) FROM {schema}.partitioned_tables WHERE table_name = 'reporting_ocpusagelineitem_daily_summary_2025_10'")
        ),
        1
    );
}

/// Same run twice → same rows; other sources and months untouched; a narrower range
/// replaces only its days.
#[test]
fn idempotent_and_isolated() {
    let (mut c, schema) = fresh_schema("idempotent");
    let data = generated_month(3_000);
    let lake_a = Lake::new(&data);
    let lake_b = lake_for(&data, SOURCE_B);
    let mut config_b = pg_config(&lake_b, &schema);
    config_b.source = Some(SOURCE_B.into());
    run_db(&config_b);
    // A row of source A in another month (as an earlier run would have left it).
    c.batch_execute(&format!(
        "INSERT INTO {schema}.reporting_ocpusagelineitem_daily_summary
            (uuid, usage_start, usage_end, source_uuid, data_source, namespace)
         VALUES (gen_random_uuid(), '2025-11-05', '2025-11-05', '{SOURCE}', 'Pod', 'november')"
    ))
    .unwrap();
    let config_a = pg_config(&lake_a, &schema);
    let first = run_db(&config_a);
    assert_eq!(first.write.rows_deleted, 0);
    let a1 = table_rows(&mut c, &schema, Some(SOURCE));
    let b1 = table_rows(&mut c, &schema, Some(SOURCE_B));
    let second = run_db(&config_a);
    assert_eq!(second.write.rows_deleted, first.write.rows);
    let a2 = table_rows(&mut c, &schema, Some(SOURCE));
    assert_eq!(a1.len(), a2.len());
    assert_same_rows(
        &a1.iter()
            .filter(|r| r.s("namespace") != Some("november"))
            .cloned()
            .collect::<Vec<_>>(),
        &a2.iter()
            .filter(|r| r.s("namespace") != Some("november"))
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        uuids(&table_rows(&mut c, &schema, Some(SOURCE_B))),
        uuids(&b1),
        "source B untouched"
    );
    assert!(
        a2.iter().any(|r| r.s("namespace") == Some("november")),
        "another month's row untouched"
    );
    // Only 2025-10-02 is replaced.
    let mut narrow = config_a.clone();
    narrow.start_date = Some(day(2));
    narrow.end_date = Some(day(2));
    let report = run_db(&narrow);
    let day2 = a2
        .iter()
        .filter(|r| r.s("usage_start") == Some("2025-10-02"))
        .count();
    assert!(day2 > 0);
    assert_eq!(report.write.rows_deleted as usize, day2);
    assert_eq!(report.write.rows as usize, day2);
    let a3 = table_rows(&mut c, &schema, Some(SOURCE));
    assert_eq!(a3.len(), a2.len());
    let (before, after) = (uuids(&a2), uuids(&a3));
    for (uuid, d) in &before {
        assert_eq!(
            after.contains_key(uuid),
            d != "2025-10-02",
            "row {uuid} of {d}"
        );
    }
}

fn good_then_failing(name: &str, break_it: impl FnOnce(&Lake, &mut Client, &str)) -> String {
    let (mut c, schema) = fresh_schema(name);
    let lake = Lake::new(&generated_month(2_000));
    let config = pg_config(&lake, &schema);
    run_db(&config);
    let before = uuids(&table_rows(&mut c, &schema, None));
    assert!(!before.is_empty());
    break_it(&lake, &mut c, &schema);
    let error = run_db_err(&config);
    let mut c = client(); // the old connection may have been the one killed
    assert_eq!(
        uuids(&table_rows(&mut c, &schema, None)),
        before,
        "previous rows intact after: {error}"
    );
    error
}

/// A corrupt file found after the old rows were deleted (inside the transaction) → rollback.
#[test]
fn corrupt_file_leaves_previous_rows() {
    let error = good_then_failing("atomic_corrupt", |lake, _, _| {
        let dir = Layout::new(ORG, SOURCE, CLUSTER).month_dir(
            lake.path(),
            ocpagg_fixtures::ReportType::PodUsage,
            false,
            2025,
            10,
        );
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        std::fs::write(files.last().unwrap(), b"not parquet at all").unwrap();
    });
    assert!(error.contains(".parquet"), "{error}");
}

/// A row the table rejects (namespace longer than koku's varchar(253)) in the middle of the
/// Rewrites the lake as the usual generated month plus one small pod in `namespace` for the
/// first `hours_long` hours of October's `d`.
fn rewrite_with_pod(lake: &Lake, namespace: &str, pod: &str, d: u32, hours_long: u32) {
    let mut data = generated_month(2_000);
    for ts in hours(day(d), 0, hours_long) {
        data.pods.push(
            PodItem::new(ts, namespace, "worker-1", pod)
                .cpu(0.1, 0.1, 0.1)
                .memory_gib(0.1, 0.1, 0.1)
                .node_capacity(4.0, 16.0),
        );
    }
    std::fs::remove_dir_all(lake.path().join("data")).unwrap();
    data.write(lake.path(), &layout(), &WriteOptions::default())
        .unwrap();
}

/// COPY → rollback.
#[test]
fn constraint_violation_mid_copy_leaves_previous_rows() {
    let error = good_then_failing("atomic_constraint", |lake, _, _| {
        rewrite_with_pod(lake, &"n".repeat(300), "long-1", 20, 3);
    });
    // Named by ocpagg with the column and the day, not by the server's COPY error.
    assert!(error.contains("column namespace"), "{error}");
    assert!(error.contains("2025-10-20"), "{error}");
    assert!(error.contains("varchar(253)"), "{error}");
}

/// A value `numeric(33,15)` cannot hold (|x| >= 1e18) → an error naming the column and the
/// day, nothing committed, no panic (values >= 1e48 used to panic in the encoder). A measure
/// no sum could hold (1e40 GiB-hours) is refused by the reader, naming the file and the
/// column (issue #18).
#[test]
fn value_too_large_for_numeric_leaves_previous_rows() {
    for (name, gib, expect) in [
        (
            "atomic_numeric",
            1e18,
            [
                "column pod_usage_memory_gigabyte_hours",
                "2025-10-21",
                "numeric(33,15)",
            ],
        ),
        (
            "atomic_numeric_huge",
            1e40,
            [
                "pod_usage_memory_byte_seconds",
                "20251021",
                "what its sum can hold",
            ],
        ),
    ] {
        let error = good_then_failing(name, |lake, _, _| {
            let mut data = generated_month(2_000);
            for ts in hours(day(21), 0, 3) {
                data.pods.push(
                    PodItem::new(ts, "huge", "worker-1", "huge-1")
                        .cpu(0.1, 0.1, 0.1)
                        .memory_gib(gib, 0.1, 0.1)
                        .node_capacity(4.0, 16.0),
                );
            }
            std::fs::remove_dir_all(lake.path().join("data")).unwrap();
            data.write(lake.path(), &layout(), &WriteOptions::default())
                .unwrap();
        });
        for e in expect {
            assert!(error.contains(e), "{e}: {error}");
        }
    }
}

/// koku's delete: the run replaces its source's rows of its days, except those with an
/// infrastructure raw cost (koku's OCP-on-cloud step wrote them and may not run again);
/// cost-model rows go (koku re-applies cost models after the summary), and so do rows of
/// the source's report period.
#[test]
fn delete_keeps_ocp_on_cloud_rows() {
    let (mut c, schema) = fresh_schema("delete_scope");
    let period = october_period(&mut c, &schema, SOURCE);
    let period_b = october_period(&mut c, &schema, SOURCE_B);
    let lake = Lake::new(&generated_month(1_500));
    // A first run creates the month's partition (rows inserted before it would sit in the
    // default partition and block its creation).
    let first = run_db(&pg_config(&lake, &schema));
    let insert = |c: &mut Client,
                  what: &str,
                  source: &str,
                  period: i32,
                  extra: &str,
                  values: &str| {
        c.batch_execute(&format!(
            "INSERT INTO {schema}.reporting_ocpusagelineitem_daily_summary
                (uuid, usage_start, usage_end, source_uuid, report_period_id, data_source, namespace{extra})
             VALUES (gen_random_uuid(), '2025-10-03', '2025-10-03', {source}, {period}, 'Pod', '{what}'{values})"
        ))
        .unwrap();
    };
    let src = |s: &str| format!("'{s}'");
    insert(
        &mut c,
        "ocp-on-cloud",
        &src(SOURCE),
        period,
        ", infrastructure_raw_cost",
        ", 12.5",
    );
    insert(
        &mut c,
        "cost-model",
        &src(SOURCE),
        period,
        ", infrastructure_raw_cost, cost_model_rate_type",
        ", NULL, 'Infrastructure'",
    );
    insert(
        &mut c,
        "zero-raw-cost",
        &src(SOURCE),
        period,
        ", infrastructure_raw_cost",
        ", 0",
    );
    insert(&mut c, "period-only", "NULL", period, "", "");
    insert(
        &mut c,
        "other-source",
        &src(SOURCE_B),
        period_b,
        ", infrastructure_raw_cost",
        ", NULL",
    );
    let snapshot = |c: &mut Client| -> BTreeMap<String, String> {
        c.query(
            &format!(
                "SELECT namespace::text, row_to_json(s)::text
                   FROM {schema}.reporting_ocpusagelineitem_daily_summary s
                  WHERE namespace IN ('ocp-on-cloud', 'cost-model', 'zero-raw-cost', 'period-only', 'other-source')"
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    };
    let before = snapshot(&mut c);
    assert_eq!(before.len(), 5);
    let report = run_db(&pg_config(&lake, &schema));
    assert_eq!(
        report.write.rows_deleted,
        first.write.rows + 3,
        "its own rows, cost-model, zero-raw-cost, period-only"
    );
    let after = snapshot(&mut c);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        ["ocp-on-cloud", "other-source"],
        "kept"
    );
    for kept in ["ocp-on-cloud", "other-source"] {
        assert_eq!(after[kept], before[kept], "{kept} unchanged");
    }
    // A second run keeps them again, and replaces only its own rows.
    let again = run_db(&pg_config(&lake, &schema));
    assert_eq!(again.write.rows_deleted, report.write.rows);
    assert_eq!(snapshot(&mut c), after);
}

/// The report period comes from koku's table (with the cluster), is checked when given, and
/// every problem is found before any data is read: the warehouse here is empty, so an error
/// about the database proves it came first.
#[test]
fn report_period_and_references_from_koku() {
    let (mut c, schema) = fresh_schema("report_period");
    let lake = Lake::new(&generated_month(800));
    let period = october_period(&mut c, &schema, SOURCE);
    let mut config = pg_config(&lake, &schema);
    config.cluster_id = None;
    config.cluster_alias = None;
    run_db(&config);
    let rows = table_rows(&mut c, &schema, Some(SOURCE));
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r.get("report_period_id"), &json!(period));
        assert_eq!(r.s("cluster_id"), Some("test-cluster"));
        assert_eq!(r.s("cluster_alias"), Some("Test cluster"));
    }

    let empty = tempfile::tempdir().unwrap();
    let mut bad = config.clone();
    bad.warehouse = Some(empty.path().display().to_string());
    c.batch_execute(&format!(
        "DELETE FROM {schema}.reporting_ocpusagereportperiod WHERE provider_id = '{SOURCE_B}'"
    ))
    .unwrap();
    bad.source = Some(SOURCE_B.into());
    let e = run_db_err(&bad);
    assert!(e.contains("reporting_ocpusagereportperiod"), "{e}");
    assert!(e.contains(SOURCE_B) && e.contains("2025-10"), "{e}");
    assert!(e.contains("--report-period-id"), "{e}");

    bad.source = Some(SOURCE.into());
    let november: i32 = c
        .query_one(
            &format!(
                "SELECT id FROM {schema}.reporting_ocpusagereportperiod
                  WHERE provider_id = '{SOURCE}' AND report_period_start = '2025-11-01 00:00+00'"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    bad.report_period_id = Some(november);
    let e = run_db_err(&bad);
    assert!(e.contains("is the month of 2025-11, not 2025-10"), "{e}");
    bad.report_period_id = Some(987_654);
    let e = run_db_err(&bad);
    assert!(e.contains("report period id 987654"), "{e}");
    assert!(e.contains("reporting_ocpusagereportperiod"), "{e}");

    bad.report_period_id = None;
    bad.cost_category = Some(vec!["openshift-%=4242".into()]);
    let e = run_db_err(&bad);
    assert!(e.contains("4242"), "{e}");
    assert!(e.contains("reporting_ocp_cost_category"), "{e}");

    bad.cost_category = None;
    bad.cluster_id = Some("c".repeat(60));
    let e = run_db_err(&bad);
    assert!(e.contains("cluster_id") && e.contains("varchar(50)"), "{e}");
}

/// Passwords never reach the output, whatever shape the setting has.
#[test]
fn passwords_never_printed() {
    let lake = Lake::new(&generated_month(200));
    for output in [
        "postgresql+psycopg://koku:s3cret@db/koku",
        "postgresql://koku:s3cret@db/koku?sslmode=bogus",
        "host=db password=s3cret x=1",
        "host=db password=s3 cret=1",
        "host=db password='s3 cret' sslmode=verify-full sslrootcert=/nonexistent/ca.pem",
        "postgres://koku:s3cret@db:99999/koku",
    ] {
        for command in ["run", "preflight"] {
            let mut args = run_args(lake.path(), output, "s");
            args[0] = command.into();
            if command == "preflight" {
                args.extend(["--format".into(), "json".into()]);
            }
            let out = ocpagg(&args);
            let text = format!("{}{}", out.stdout, out.stderr);
            assert_ne!(out.code, 0, "{command} {output}: {text}");
            assert!(!text.contains("s3"), "{command} {output}: {text}");
            assert!(!text.contains("cret"), "{command} {output}: {text}");
        }
        let out = Cli::new(&["validate", "--against", output, "--scenario"])
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../validator/scenarios/01_basic_pod.yml"),
            )
            .args(&["--schema", "s", "--source", SOURCE])
            .output();
        let text = out.stderr;
        assert!(
            !text.contains("s3") && !text.contains("cret"),
            "validate {output}: {text}"
        );
    }
}

/// The connection dies during the COPY (the server terminates the backend) → rollback.
#[test]
fn connection_killed_during_copy_leaves_previous_rows() {
    let error = good_then_failing("atomic_killed", |lake, c, schema| {
        rewrite_with_pod(lake, "kill-me", "k-1", 25, 2);
        c.batch_execute(&format!(
            "CREATE FUNCTION {schema}.kill_me() RETURNS trigger AS $$
             BEGIN
                 IF NEW.namespace = 'kill-me' THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
                 RETURN NEW;
             END $$ LANGUAGE plpgsql;
             CREATE TRIGGER kill_me BEFORE INSERT ON {schema}.reporting_ocpusagelineitem_daily_summary
                 FOR EACH ROW EXECUTE FUNCTION {schema}.kill_me();"
        ))
        .unwrap();
    });
    assert!(
        error.contains("COPY into") || error.contains("commit"),
        "{error}"
    );
}

/// Side inputs come from the database unless the configuration sets them.
#[test]
fn side_inputs_from_the_database() {
    let (mut c, schema) = fresh_schema("side_inputs");
    let mut data = Dataset::default();
    for ts in hours(day(1), 0, 24) {
        data.pods.push(
            PodItem::new(ts, "web-shop", "worker-1", "web-1")
                .cpu(0.3, 0.5, 1.0)
                .memory_gib(1.0, 2.0, 4.0)
                .node_capacity(4.0, 16.0)
                .labels(r#"{"app": "shop", "tier": "front"}"#),
        );
    }
    let lake = Lake::new(&data);
    let mut config = pg_config(&lake, &schema);
    config.enabled_keys = None;
    run_db(&config);
    let pods = |c: &mut Client| -> Vec<Row> {
        table_rows(c, &schema, Some(SOURCE))
            .into_iter()
            .filter(|r| r.s("namespace") == Some("web-shop"))
            .collect()
    };
    let rows = pods(&mut c);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].json("pod_labels"), json!({}));
    assert!(rows[0].get("cost_category_id").is_null());

    c.batch_execute(&format!(
        "INSERT INTO {schema}.reporting_enabledtagkeys (key, enabled, provider_type) VALUES
            ('app', true, 'OCP'), ('tier', false, 'OCP'), ('tier', true, 'AWS');
         INSERT INTO {schema}.reporting_ocp_cost_category (id, name) VALUES (7, 'Shops'), (3, 'Web');
         INSERT INTO {schema}.reporting_ocp_cost_category_namespace (namespace, cost_category_id) VALUES
            ('web-%', 3), ('%shop', 7), ('db%', 3);"
    ))
    .unwrap();
    run_db(&config);
    let rows = pods(&mut c);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].json("pod_labels"), json!({"app": "shop"}));
    // Both patterns match: the greatest id, one row.
    assert_eq!(rows[0].get("cost_category_id"), &json!(7));

    // Flags win over the database.
    config.enabled_keys = Some(vec!["tier".into()]);
    config.cost_category = Some(vec!["web%=3".into()]);
    run_db(&config);
    let rows = pods(&mut c);
    assert_eq!(rows[0].json("pod_labels"), json!({"tier": "front"}));
    assert_eq!(rows[0].get("cost_category_id"), &json!(3));
}

/// Racing processes: init-db from several threads at once, then two sources written into a
/// month whose partition does not exist yet.
#[test]
fn concurrent_init_and_runs() {
    let schema = "t_concurrent";
    client()
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let target = PgTarget::parse(&db_url()).unwrap();
                let mut c = target.connect().unwrap();
                ocpagg_writer::pg::init_db(&mut c, &target, schema).unwrap();
            });
        }
    });
    for source in [SOURCE, SOURCE_B] {
        add_report_periods(&mut client(), schema, source);
    }
    let data = generated_month(1_500);
    let (lake_a, lake_b) = (Lake::new(&data), lake_for(&data, SOURCE_B));
    let config_a = pg_config(&lake_a, schema);
    let mut config_b = pg_config(&lake_b, schema);
    config_b.source = Some(SOURCE_B.into());
    let reports: Vec<_> = std::thread::scope(|s| {
        let a = s.spawn(|| run_db(&config_a));
        let b = s.spawn(|| run_db(&config_b));
        let a2 = s.spawn(|| run_db(&config_a));
        vec![a.join().unwrap(), b.join().unwrap(), a2.join().unwrap()]
    });
    let mut c = client();
    let a = table_rows(&mut c, schema, Some(SOURCE)).len();
    let b = table_rows(&mut c, schema, Some(SOURCE_B)).len();
    assert_eq!(
        a as u64, reports[0].write.rows,
        "two runs of A leave one copy"
    );
    assert_eq!(b as u64, reports[1].write.rows);
}

fn run_args(lake: &Path, output: &str, schema: &str) -> Vec<String> {
    let mut args = run_argv(lake, output);
    args.extend(["--schema".into(), schema.into()]);
    args
}

/// Bad connection strings, unreachable servers, missing schemas and foreign tables.
#[test]
fn database_errors_are_clear() {
    let lake = Lake::new(&generated_month(500));
    let call = |output: &str, schema: &str| {
        let args = run_args(lake.path(), output, schema);
        ocpagg(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let Outcome {
        code, stderr: err, ..
    } = call("postgresql://koku:s3cret@127.0.0.1:notaport/koku", "s");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("connection string"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");

    let Outcome {
        code, stderr: err, ..
    } = call("postgresql://koku:s3cret@127.0.0.1:1/koku", "s");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot connect"), "{err}");
    assert!(err.contains("postgresql://koku@127.0.0.1:1/koku"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");

    let mut c = client();
    c.batch_execute("DROP SCHEMA IF EXISTS t_missing CASCADE")
        .unwrap();
    let Outcome {
        code, stderr: err, ..
    } = call(&db_url(), "t_missing");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("schema t_missing does not exist"), "{err}");
    assert!(err.contains("init-db"), "{err}");

    c.batch_execute(
        "DROP SCHEMA IF EXISTS t_foreign CASCADE;
         CREATE SCHEMA t_foreign;
         CREATE TABLE t_foreign.reporting_ocpusagelineitem_daily_summary
             (uuid uuid, usage_start date, usage_end date, namespace int);",
    )
    .unwrap();
    let Outcome {
        code, stderr: err, ..
    } = call(&db_url(), "t_foreign");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("column namespace has type int4, expected text"),
        "{err}"
    );
    assert!(err.contains("column pod_labels is missing"), "{err}");

    // init-db through the binary, twice: the tables, but no report period (koku makes
    // those); with one, the run works.
    c.batch_execute("DROP SCHEMA IF EXISTS t_foreign2 CASCADE")
        .unwrap();
    for _ in 0..2 {
        let Outcome {
            code, stderr: err, ..
        } = ocpagg(&[
            "init-db",
            "--database-url",
            &db_url(),
            "--schema",
            "t_foreign2",
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let Outcome {
        code, stderr: err, ..
    } = call(&db_url(), "t_foreign2");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no report period"), "{err}");
    add_report_periods(&mut c, "t_foreign2", SOURCE);
    let Outcome {
        code, stderr: err, ..
    } = call(&db_url(), "t_foreign2");
    assert_eq!(code, 0, "{err}");
    assert!(
        count(
            &mut c,
            "SELECT count(*) FROM t_foreign2.reporting_ocpusagelineitem_daily_summary"
        ) > 0
    );
}

/// Without koku's `partitioned_tables`, the partition is created directly.
#[test]
fn partition_created_directly_without_registry() {
    let (mut c, schema) = fresh_schema("direct_partition");
    c.batch_execute(&format!("DROP TABLE {schema}.partitioned_tables"))
        .unwrap();
    let lake = Lake::new(&generated_month(500));
    let report = run_db(&pg_config(&lake, &schema));
    assert_eq!(
        count(
            &mut c,
            &format!(
                "SELECT count(*) FROM {schema}.reporting_ocpusagelineitem_daily_summary_2025_10"
            )
        ) as u64,
        report.write.rows
    );
}

/// Creating the month's partition needs the summary table's ACCESS EXCLUSIVE lock. Behind a
/// session that holds the table, the run waits a bounded time per attempt (and says so),
/// succeeds once the holder is gone, and fails with a clear error if it never goes.
#[test]
fn partition_creation_waits_a_bounded_time_for_the_lock() {
    let (_c, schema) = fresh_schema("partition_lock");
    let lake = Lake::new(&generated_month(300));
    let hold = |seconds: u64| {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let table = format!("{schema}.reporting_ocpusagelineitem_daily_summary");
        let holder = std::thread::spawn(move || {
            let mut c = client();
            let mut tx = c.transaction().unwrap();
            tx.query(&format!("SELECT count(*) FROM {table}"), &[])
                .unwrap();
            ready_tx.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_secs(seconds));
            tx.commit().unwrap();
        });
        ready_rx.recv().unwrap();
        holder
    };
    let args = run_args(lake.path(), &db_url(), &schema);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.retain(|a| *a != "--quiet");

    // Released after the first attempt's timeout: the second attempt creates it.
    let holder = hold(4);
    let Outcome {
        code, stderr: err, ..
    } = ocpagg(&args);
    holder.join().unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("retrying the partition's creation"), "{err}");

    // Held through every attempt: a clear error, nothing written.
    let mut c = client();
    c.batch_execute(&format!(
        "DROP TABLE {schema}.reporting_ocpusagelineitem_daily_summary_2025_10;
         DELETE FROM {schema}.partitioned_tables"
    ))
    .unwrap();
    let holder = hold(18);
    let Outcome {
        code, stderr: err, ..
    } = ocpagg(&args);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("stayed locked by another session"), "{err}");
    assert!(
        err.contains("reporting_ocpusagelineitem_daily_summary_2025_10"),
        "{err}"
    );
    holder.join().unwrap();
    assert_eq!(
        count(
            &mut c,
            &format!("SELECT count(*) FROM {schema}.reporting_ocpusagelineitem_daily_summary")
        ),
        0
    );
}

/// A signal while the run waits for another run of the same source (its lock): the wait is
/// cancelled at once, the run exits 130 and the table keeps its rows.
#[test]
fn signal_cancels_a_wait_for_another_runs_lock() {
    let (mut c, schema) = fresh_schema("signal_lock");
    let lake = Lake::new(&generated_month(400));
    run_db(&pg_config(&lake, &schema));
    let before = uuids(&table_rows(&mut c, &schema, None));
    // Another run of the source holds the slice lock.
    let key = format!("ocpagg:slice:{schema}:{SOURCE}");
    c.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", &[&key])
        .unwrap();
    let args = run_args(lake.path(), &db_url(), &schema);
    let child = Cli::new(&args).spawn();
    // Wait until the run waits for the lock.
    let mut watcher = client();
    let started = std::time::Instant::now();
    while count(
        &mut watcher,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
    ) == 0
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "never waited"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    c.execute(
        "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
        &[&key],
    )
    .unwrap();
    assert_eq!(uuids(&table_rows(&mut c, &schema, None)), before);
}
