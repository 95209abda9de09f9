//! `run --incremental` (issue #20): after any sequence of uploads, an incremental run leaves
//! the rows a fresh full run of the month writes (all columns but uuid), into PostgreSQL and
//! into Parquet; `status` and a failed run leave everything as it was.
//!
//! The property test builds months upload by upload from a seeded generator: a new day's
//! files, a file replaced by a regenerated one, a late file for an old day, an upload
//! deleted, an upload that makes a node `master` (a pod in `openshift-kube-apiserver`).
//! `OCPAGG_INCREMENTAL_STEPS` sets the steps per seed (default 8; seeds 1 to 3).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use ocpagg_cli::config::RunConfig;
use ocpagg_cli::RunReport;
use ocpagg_fixtures::{
    Dataset, NamespaceLabelItem, NodeLabelItem, PodItem, StorageItem, WriteOptions,
};
use serde_json::Value;

use crate::common::*;
use crate::database::{fresh_schema, table_rows};
use crate::pg::db_url;

/// A small deterministic generator (xorshift64*), so the test needs no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const NODES: [&str; 3] = ["node-a", "node-b", "node-c"];
const NAMESPACES: [&str; 2] = ["web", "db"];

/// One operator upload: the files of one day's data, named after the upload.
struct Upload {
    id: usize,
    day: u32,
    master: Option<&'static str>,
    files: Vec<PathBuf>,
}

struct Month {
    lake: tempfile::TempDir,
    rng: Rng,
    uploads: Vec<Upload>,
    next_id: usize,
    last_day: u32,
}

fn at(day: u32, hour: u32) -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 10, day)
        .unwrap()
        .and_hms_opt(hour, 0, 0)
        .unwrap()
}

impl Month {
    fn new(seed: u64) -> Self {
        Month {
            lake: tempfile::tempdir().unwrap(),
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            uploads: Vec::new(),
            next_id: 0,
            last_day: 0,
        }
    }

    /// A day's worth of an upload: a few hours of pods on two or three nodes, their node and
    /// namespace labels, and a claim.
    fn data(&mut self, id: usize, day: u32, master: Option<&str>) -> Dataset {
        // Every upload's files differ from every other's (two identical files are refused as
        // the same upload stored twice): its labels name it.
        let tag = format!("u{id}");
        let rng = &mut self.rng;
        let first_hour = u32::try_from(rng.below(20)).unwrap();
        let hours = 1 + u32::try_from(rng.below(3)).unwrap();
        let nodes = 2 + usize::try_from(rng.below(2)).unwrap();
        let mut data = Dataset::default();
        for hour in first_hour..first_hour + hours {
            for (n, node) in NODES.iter().take(nodes).enumerate() {
                for ns in NAMESPACES {
                    let cpu = 0.25 * f64::from(u32::try_from(1 + rng.below(8)).unwrap());
                    data.pods.push(
                        PodItem::new(at(day, hour), ns, node, &format!("{ns}-{n}-{tag}"))
                            .cpu(cpu, cpu / 2.0, cpu * 2.0)
                            .memory_gib(cpu, cpu, cpu * 2.0)
                            .node_capacity(4.0, 16.0)
                            .labels(r#"{"app": "x"}"#)
                            .effective(),
                    );
                }
                let labels = if *node == "node-c" && rng.below(2) == 0 {
                    format!(r#"{{"node_role_kubernetes_io": "infra", "upload": "{tag}"}}"#)
                } else {
                    format!(r#"{{"zone": "a", "upload": "{tag}"}}"#)
                };
                data.node_labels
                    .push(NodeLabelItem::new(at(day, hour), node, &labels));
            }
            if let Some(node) = master {
                data.pods.push(
                    PodItem::new(at(day, hour), "openshift-kube-apiserver", node, "apiserver")
                        .cpu(0.5, 0.5, 1.0)
                        .memory_gib(1.0, 1.0, 1.0)
                        .node_capacity(4.0, 16.0)
                        .effective(),
                );
            }
            data.namespace_labels.push(NamespaceLabelItem::new(
                at(day, hour),
                "web",
                &format!(r#"{{"team": "{tag}"}}"#),
            ));
            data.storage.push(
                StorageItem::new(
                    at(day, hour),
                    "web",
                    &format!("web-0-{tag}"),
                    &format!("claim-{tag}"),
                    "pv-1",
                )
                .capacity_gib(10.0)
                .request_gib(5.0)
                .usage_gib(f64::from(u32::try_from(1 + rng.below(5)).unwrap())),
            );
        }
        data
    }

    /// Writes `data` as upload `id`'s files (replacing them), and returns their paths.
    fn write(&self, id: usize, data: &Dataset, old: &[PathBuf]) -> Vec<PathBuf> {
        let staging = tempfile::tempdir().unwrap();
        let written = data
            .write(staging.path(), &layout(), &WriteOptions::default())
            .unwrap();
        let mut files = Vec::new();
        for path in written {
            let rel = path.strip_prefix(staging.path()).unwrap();
            let name = rel.file_name().unwrap().to_str().unwrap();
            let name = name.replace(".parquet", &format!("_u{id}.parquet"));
            let target = self.lake.path().join(rel.parent().unwrap()).join(name);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            // A rename, as an upload replaces an object: a new version (and inode).
            std::fs::rename(&path, &target).unwrap();
            files.push(target);
        }
        for stale in old {
            if !files.contains(stale) {
                std::fs::remove_file(stale).unwrap();
            }
        }
        files
    }

    fn upload(&mut self, day: u32, master: Option<&'static str>) -> String {
        let id = self.next_id;
        self.next_id += 1;
        let data = self.data(id, day, master);
        let files = self.write(id, &data, &[]);
        self.uploads.push(Upload {
            id,
            day,
            master,
            files,
        });
        self.last_day = self.last_day.max(day);
        format!(
            "upload {id}: day {day}{}",
            master.map_or("", |_| " (master)")
        )
    }

    /// One random step; returns what it did.
    fn step(&mut self) -> String {
        let choice = if self.uploads.is_empty() {
            0
        } else {
            self.rng.below(5)
        };
        match choice {
            0 if self.last_day < 31 => self.upload(self.last_day + 1, None),
            1 => {
                let i = usize::try_from(self.rng.below(self.uploads.len() as u64)).unwrap();
                let (id, day, master) = {
                    let u = &self.uploads[i];
                    (u.id, u.day, u.master)
                };
                let data = self.data(id, day, master);
                let old = std::mem::take(&mut self.uploads[i].files);
                self.uploads[i].files = self.write(id, &data, &old);
                format!("replace upload {id} (day {day})")
            }
            3 if self.uploads.len() > 1 => {
                let i = usize::try_from(self.rng.below(self.uploads.len() as u64)).unwrap();
                let u = self.uploads.remove(i);
                for f in &u.files {
                    std::fs::remove_file(f).unwrap();
                }
                format!("delete upload {} (day {})", u.id, u.day)
            }
            4 => {
                let day = 1 + u32::try_from(self.rng.below(u64::from(self.last_day))).unwrap();
                let node = NODES[1 + usize::try_from(self.rng.below(2)).unwrap()];
                self.upload(day, Some(node))
            }
            _ => {
                let day = 1 + u32::try_from(self.rng.below(u64::from(self.last_day))).unwrap();
                self.upload(day, None)
            }
        }
    }
}

fn run_ok(config: &RunConfig) -> RunReport {
    let job = config.resolve().expect("valid config");
    ocpagg_cli::run(&job).unwrap_or_else(|e| panic!("run fails: {e:#}"))
}

fn mode(report: &RunReport) -> &'static str {
    report.mode.as_ref().map_or("none", |m| m.mode)
}

fn pg_config(lake: &Path, schema: &str, incremental: bool) -> RunConfig {
    let mut c = config(&lake.display().to_string(), &lake.join("unused.parquet"));
    c.output = Some(db_url());
    c.schema = Some(schema.into());
    c.incremental = incremental;
    c
}

fn file_config(lake: &Path, out: &Path, incremental: bool) -> RunConfig {
    let mut c = config(&lake.display().to_string(), out);
    c.incremental = incremental;
    c
}

fn sorted(rows: &[Row]) -> Vec<BTreeMap<String, Value>> {
    comparable(rows)
}

/// The table's rows in a canonical form: numbers as the table holds them.
fn table(c: &mut postgres::Client, schema: &str) -> Vec<BTreeMap<String, Value>> {
    sorted(&table_rows(c, schema, Some(SOURCE)))
}

#[test]
fn incremental_runs_write_the_rows_of_a_full_run() {
    let steps: usize = std::env::var("OCPAGG_INCREMENTAL_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let (mut c, inc_schema) = fresh_schema("incremental_inc");
    let (_, full_schema) = fresh_schema("incremental_full");
    let mut widened_total = 0;
    let mut copied = 0;
    for seed in 1..=3u64 {
        let mut month = Month::new(seed);
        let lake = month.lake.path().to_path_buf();
        let out_dir = tempfile::tempdir().unwrap();
        let inc_file = out_dir.path().join("inc.parquet");
        let full_file = out_dir.path().join("full.parquet");
        c.batch_execute(&format!(
            "DELETE FROM {inc_schema}.reporting_ocpusagelineitem_daily_summary;
             DELETE FROM {inc_schema}.ocpagg_incremental_state;
             DELETE FROM {inc_schema}.ocpagg_ingested_files;"
        ))
        .unwrap();
        let mut incremental_runs = 0;
        let mut widened = 0;
        for step in 0..steps {
            let did = month.step();
            let what = format!("seed {seed} step {step}: {did}");
            let file_report = run_ok(&file_config(&lake, &inc_file, true));
            let pg_report = run_ok(&pg_config(&lake, &inc_schema, true));
            run_ok(&file_config(&lake, &full_file, false));
            run_ok(&pg_config(&lake, &full_schema, false));
            if step > 0 {
                assert_ne!(mode(&file_report), "full", "{what}: {:?}", file_report.mode);
                assert_ne!(mode(&pg_report), "full", "{what}: {:?}", pg_report.mode);
                incremental_runs += 1;
                widened += usize::from(
                    pg_report
                        .mode
                        .as_ref()
                        .is_some_and(|m| m.reason.contains("node roles changed")),
                );
            }
            let full_rows = sorted(&read_output(&full_file));
            assert!(!full_rows.is_empty(), "{what}");
            let inc_rows = read_output(&inc_file);
            // Carried and new rows in the README's order: Pod and Storage rows by day, then
            // the unallocated rows by day.
            let keys: Vec<(bool, String)> = inc_rows
                .iter()
                .map(|r| {
                    let unallocated =
                        r.s("data_source") == Some("Pod") && r.get("pod_labels").is_null();
                    (unallocated, r.s("usage_start").unwrap().to_string())
                })
                .collect();
            assert!(keys.is_sorted(), "{what}: Parquet rows out of order");
            copied += file_report.write.row_groups_copied;
            assert_eq!(
                sorted(&inc_rows),
                full_rows,
                "{what}: Parquet, {:?}",
                file_report.mode
            );
            assert_eq!(
                table(&mut c, &inc_schema),
                table(&mut c, &full_schema),
                "{what}: PostgreSQL, {:?}",
                pg_report.mode
            );
        }
        // Nothing changed: nothing read, nothing written.
        let before = std::fs::metadata(&inc_file).unwrap().modified().unwrap();
        let again = run_ok(&file_config(&lake, &inc_file, true));
        assert_eq!(mode(&again), "unchanged");
        assert_eq!(again.files_read, 0);
        assert_eq!(
            std::fs::metadata(&inc_file).unwrap().modified().unwrap(),
            before
        );
        let again = run_ok(&pg_config(&lake, &inc_schema, true));
        assert_eq!(mode(&again), "unchanged");
        assert_eq!(again.write.rows_deleted, 0);
        assert!(incremental_runs > 0);
        eprintln!(
            "seed {seed}: {incremental_runs} incremental runs, {widened} widened by a role change"
        );
        widened_total += widened;
    }
    // The seeds include a node turning master, which changes other days' unallocated rows.
    assert!(widened_total > 0 || steps < 8);
    // Untouched days' row groups were copied from the previous output, not decoded.
    assert!(copied > 0);
}

/// The Parquet files under a Hive table location, relative, sorted.
fn hive_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    let mut out: Vec<PathBuf> = out
        .into_iter()
        .map(|p| p.strip_prefix(root).unwrap().to_path_buf())
        .collect();
    // day=10 after day=9: by the day number.
    out.sort_by_key(|p| {
        let s = p.display().to_string();
        let day: u32 = s
            .split("day=")
            .nth(1)
            .and_then(|d| d.split('/').next())
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        (day, s)
    });
    out
}

/// `ocpagg status --format json` of the lake's month written to `schema`.
fn db_status(lake: &Path, schema: &str) -> Outcome {
    Cli::command("status", &lake.display().to_string(), "10", &db_url())
        .args(&[
            "--schema",
            schema,
            "--enabled-keys",
            "*",
            "--format",
            "json",
        ])
        .output()
}

#[test]
fn a_new_day_reads_only_its_files_and_replaces_only_its_rows() {
    let mut month = Month::new(7);
    for _ in 0..4 {
        let day = month.last_day + 1;
        month.upload(day, None);
    }
    let lake = month.lake.path().to_path_buf();
    let (mut c, schema) = fresh_schema("incremental_day");
    // With koku's Hive copy too: only the affected days' partitions are replaced.
    let hive = tempfile::tempdir().unwrap();
    let with_hive = |mut config: RunConfig| {
        config.hive_output = Some(hive.path().display().to_string());
        config
    };
    let first = run_ok(&with_hive(pg_config(&lake, &schema, true)));
    assert_eq!(mode(&first), "full");
    assert!(first.mode.as_ref().unwrap().reason.contains("no state"));
    let before = table(&mut c, &schema);
    let partitions = hive_files(hive.path());
    assert_eq!(partitions.len(), 4, "{partitions:?}");
    month.upload(5, None);
    let report = run_ok(&with_hive(pg_config(&lake, &schema, true)));
    let m = report.mode.clone().unwrap();
    assert_eq!(m.mode, "incremental");
    assert_eq!(m.affected_days, vec![day(5)]);
    assert_eq!(m.files.new.len(), month.uploads[4].files.len());
    // Only day 5's files: pods (hourly and daily), storage, both label tables.
    assert_eq!(report.files_read, 5, "{report:?}");
    assert_eq!(report.write.rows_deleted, 0);
    let after = table(&mut c, &schema);
    let kept: Vec<_> = after
        .iter()
        .filter(|r| r["usage_start"] != "2025-10-05")
        .cloned()
        .collect();
    assert_eq!(kept, before, "the other days' rows are untouched");
    let now = hive_files(hive.path());
    assert_eq!(now.len(), 5, "{now:?}");
    assert_eq!(
        now[..4],
        partitions[..],
        "days 1 to 4 keep their Hive files"
    );
    let day5 = read_output(&hive.path().join(&now[4]));
    assert_eq!(
        day5.len(),
        after.len() - kept.len(),
        "day 5's rows in its partition"
    );

    // status: listings only, nothing changed, then a new file.
    let status = db_status(&lake, &schema);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let json: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["mode"], "unchanged", "{json}");
    std::fs::remove_file(&month.uploads[1].files[0]).unwrap();
    let status = db_status(&lake, &schema);
    let json: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["mode"], "incremental", "{json}");
    assert_eq!(json["affected_days"], serde_json::json!(["2025-10-02"]));
    assert_eq!(json["files"]["gone"].as_array().unwrap().len(), 1);
}

#[test]
fn a_failed_incremental_run_keeps_the_rows_and_the_state() {
    let mut month = Month::new(11);
    for _ in 0..3 {
        let day = month.last_day + 1;
        month.upload(day, None);
    }
    let lake = month.lake.path().to_path_buf();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("inc.parquet");
    let (mut c, schema) = fresh_schema("incremental_fail");
    run_ok(&pg_config(&lake, &schema, true));
    run_ok(&file_config(&lake, &out, true));
    let (rows, file_rows) = (table(&mut c, &schema), sorted(&read_output(&out)));
    // A new upload with a broken file: the run fails and changes nothing.
    month.upload(4, None);
    let broken = month.uploads[3].files[0].clone();
    let good = std::fs::read(&broken).unwrap();
    std::fs::write(&broken, b"not parquet").unwrap();
    for config in [
        pg_config(&lake, &schema, true),
        file_config(&lake, &out, true),
    ] {
        let job = config.resolve().unwrap();
        assert!(ocpagg_cli::run(&job).is_err());
    }
    assert_eq!(table(&mut c, &schema), rows);
    assert_eq!(sorted(&read_output(&out)), file_rows);
    // Repaired, the next run redoes the same day.
    std::fs::write(&broken, good).unwrap();
    for config in [
        pg_config(&lake, &schema, true),
        file_config(&lake, &out, true),
    ] {
        let report = run_ok(&config);
        let m = report.mode.unwrap();
        assert_eq!((m.mode, m.affected_days), ("incremental", vec![day(4)]));
    }
}

#[test]
fn status_and_an_unchanged_run_on_s3_read_listings_only() {
    let mut month = Month::new(5);
    for _ in 0..3 {
        let day = month.last_day + 1;
        month.upload(day, None);
    }
    let bucket = crate::sources::s3_bucket();
    let prefix = format!("incremental-{}", std::process::id());
    crate::sources::upload(month.lake.path(), &bucket, &prefix);
    let url = format!("s3://{bucket}/{prefix}");
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("inc.parquet");
    let out = out.to_str().unwrap();
    let first = Cli::run(Path::new(&url), out)
        .args(&["--incremental", "--enabled-keys", "*"])
        .output();
    assert_eq!(first.code, 0, "{}", first.stderr);
    // Through a counting proxy: listings, and no GET of an object.
    let proxy = crate::s3_faults::Proxy::start(&[]);
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let status = Cli::command("status", &url, "10", out)
        .args(&["--enabled-keys", "*", "--format", "json"])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .output();
    assert_eq!(status.code, 0, "{}", status.stderr);
    let json: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["mode"], "unchanged", "{json}");
    assert!(
        proxy.count("requests") > 0,
        "the listing went through the proxy"
    );
    assert_eq!(proxy.count("object_gets"), 0, "status read an object");
    let again = Cli::run(Path::new(&url), out)
        .args(&[
            "--incremental",
            "--enabled-keys",
            "*",
            "--result-format",
            "json",
        ])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .output();
    assert_eq!(again.code, 0, "{}", again.stderr);
    let json: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(json["incremental"]["mode"], "unchanged", "{json}");
    assert_eq!(
        proxy.count("object_gets"),
        0,
        "an unchanged run read an object"
    );
}

#[test]
fn kill_9_during_an_incremental_run_keeps_the_rows_and_the_state() {
    let mut month = Month::new(13);
    for _ in 0..3 {
        let day = month.last_day + 1;
        month.upload(day, None);
    }
    let lake = month.lake.path().to_path_buf();
    let (mut c, schema) = fresh_schema("incremental_kill");
    run_ok(&pg_config(&lake, &schema, true));
    let generation = |c: &mut postgres::Client| -> i64 {
        c.query_one(
            &format!("SELECT generation FROM {schema}.ocpagg_incremental_state"),
            &[],
        )
        .unwrap()
        .get(0)
    };
    let (rows, before) = (table(&mut c, &schema), generation(&mut c));
    month.upload(4, None);
    // Another session holds the state row: the run stops inside its transaction, after its
    // DELETE and COPY, where it writes the state; there it is killed.
    let mut holder = crate::pg::client();
    let mut hold = holder.transaction().unwrap();
    hold.query(
        &format!("SELECT 1 FROM {schema}.ocpagg_incremental_state FOR UPDATE"),
        &[],
    )
    .unwrap();
    let mut child = Cli::run(&lake, &db_url())
        .args(&["--schema", &schema, "--incremental", "--enabled-keys", "*"])
        .spawn();
    let started = std::time::Instant::now();
    loop {
        let waiting: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE wait_event_type = 'Lock' AND query LIKE '%ocpagg_incremental_state%'",
                &[],
            )
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 120,
            "the run never reached its state write"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    hold.rollback().unwrap();
    // The killed session's transaction can only roll back.
    let started = std::time::Instant::now();
    while c
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%ocpagg_incremental_state%'
               AND pid <> pg_backend_pid() AND state <> 'idle'",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0)
        > 0
    {
        assert!(started.elapsed().as_secs() < 60);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(table(&mut c, &schema), rows, "the previous rows");
    assert_eq!(generation(&mut c), before, "the previous state");
    // The next run redoes the same day.
    let report = run_ok(&pg_config(&lake, &schema, true));
    let m = report.mode.unwrap();
    assert_eq!((m.mode, m.affected_days), ("incremental", vec![day(4)]));
    assert_eq!(generation(&mut c), before + 1);
}

/// Two incremental runs of one source at once serialise on the source's lock: each reads
/// the state only once the other has committed, neither fails ("run again"), and the table
/// holds a full run's rows.
#[test]
fn two_incremental_runs_of_one_source_serialise() {
    let mut month = Month::new(11);
    for _ in 0..4 {
        let day = month.last_day + 1;
        month.upload(day, None);
    }
    let lake = month.lake.path().to_path_buf();
    let (mut c, schema) = fresh_schema("incremental_race");
    assert_eq!(mode(&run_ok(&pg_config(&lake, &schema, true))), "full");
    month.upload(2, None);
    month.upload(4, Some("node-b"));
    let modes: std::collections::BTreeSet<&str> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| run_ok(&pg_config(&lake, &schema, true))))
            .collect();
        runs.into_iter().map(|r| mode(&r.join().unwrap())).collect()
    });
    // One recomputes days 2 and 4; the other finds it done, unless node-b's new role made the
    // first start again (its lock released in between) and the second went first.
    assert!(modes.contains("incremental"), "{modes:?}");
    assert!(
        modes.is_subset(&["incremental", "unchanged"].into()),
        "{modes:?}"
    );
    let (_, full_schema) = fresh_schema("incremental_race_full");
    run_ok(&pg_config(&lake, &full_schema, false));
    assert_eq!(table(&mut c, &schema), table(&mut c, &full_schema));
}
