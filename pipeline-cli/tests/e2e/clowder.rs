//! koku's pod settings under Clowder (`ACG_CONFIG` names a `cdappconfig.json`): a month runs
//! from S3 into PostgreSQL over TLS with no settings but org, source, year and month, and
//! nothing from the file's secrets is printed.

use std::path::Path;

use ocpagg_fixtures::{Dataset, Layout, ScaleSpec, WriteOptions};
use serde_json::{json, Value};

use crate::common::{Cli, Outcome, CLUSTER};
use crate::pg::*;
use crate::sources::{s3_bucket, upload};

/// A source of this test alone: its warehouse sits at the bucket's root, as koku's does.
const SOURCE: &str = "c10dde00-7e57-4a6b-8c7d-0123456789ab";
const ORG: &str = "org_clowder";
const DB_PASSWORD: &str = "db-pass-Zq81x";
const S3_SECRET: &str = "s3-secret-Kp42w";

/// A `cdappconfig.json` for the test servers: PostgreSQL by host name (its certificate names
/// `localhost`) with `rdsCa`, and the local S3 server under the bucket koku requests.
fn app_config(dir: &Path, ca_file: &str) -> std::path::PathBuf {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("scripts/s3-server.sh exports it");
    let (host, s3_port) = endpoint
        .trim_start_matches("http://")
        .rsplit_once(':')
        .unwrap();
    let config = json!({
        "publicPort": 8000,
        "metricsPort": 9000,
        "database": {
            "name": "postgres",
            "username": "postgres",
            "password": DB_PASSWORD,
            "hostname": "localhost",
            "port": port_number(&port()),
            "adminUsername": "postgres",
            "adminPassword": DB_PASSWORD,
            "rdsCa": std::fs::read_to_string(tls_file(ca_file)).unwrap(),
            "sslMode": "require"
        },
        "objectStore": {
            "hostname": host,
            "port": port_number(s3_port),
            "tls": false,
            "buckets": [
                {"name": "some-other-bucket", "requestedName": "other", "accessKey": "x", "secretKey": "y"},
                {"name": s3_bucket(), "requestedName": "koku-report", "accessKey": "AKIDCLOWDER",
                 "secretKey": S3_SECRET, "region": "us-east-1"}
            ]
        },
        "logging": {"type": "null"}
    });
    let path = dir.join("cdappconfig.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    path
}

fn port_number(s: &str) -> u16 {
    s.parse().unwrap()
}

/// `ocpagg run` with only org, source, year and month, the environment holding nothing but
/// `ACG_CONFIG` (and PATH/HOME).
fn run_with(acg: &Path) -> Outcome {
    // This test's own org and source, not the common ones.
    Cli::new(&["run", "--org", ORG, "--source", SOURCE])
        .args(&["--year", "2025", "--month", "10", "--result-format", "json"])
        .env_clear()
        .env("HOME", "/nonexistent")
        .env("ACG_CONFIG", acg)
        .output()
}

#[test]
fn a_month_runs_on_clowder_settings_alone() {
    let mut c = client();
    koku_schema(&mut c, ORG, &[SOURCE]);
    let data = {
        let spec = ScaleSpec::new(2025, 10, 1500);
        let mut data = Dataset::default();
        for d in spec.days().take(3) {
            data.append(d);
        }
        data
    };
    let lake = tempfile::tempdir().unwrap();
    data.write(
        lake.path(),
        &Layout::new(ORG, SOURCE, CLUSTER),
        &WriteOptions::default(),
    )
    .unwrap();
    upload(lake.path(), &s3_bucket(), "");

    let dir = tempfile::tempdir().unwrap();
    let run = run_with(&app_config(dir.path(), "ca.crt"));
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for secret in [DB_PASSWORD, S3_SECRET] {
        assert!(!run.stdout.contains(secret), "{}", run.stdout);
        assert!(!run.stderr.contains(secret), "{}", run.stderr);
    }
    let result: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let in_table: i64 = c
        .query_one(
            &format!(
                "SELECT count(*) FROM {ORG}.reporting_ocpusagelineitem_daily_summary
                  WHERE source_uuid = '{SOURCE}'"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert!(in_table > 0);
    assert_eq!(result["rows_inserted"], in_table);
    // The cluster came from koku's report period, the warehouse from the requested bucket.
    assert_eq!(result["cluster_id"], CLUSTER);
    assert_eq!(
        result["settings"]["warehouse"],
        format!("s3://{}", s3_bucket())
    );
    assert!(result["s3"]["requests"].as_u64().unwrap() > 0, "{result}");

    // rdsCa is what the connection trusts, with verify-full: another CA is refused.
    let wrong = run_with(&app_config(dir.path(), "wrong-ca.crt"));
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("verify-full"), "{}", wrong.stderr);
    for secret in [DB_PASSWORD, S3_SECRET] {
        assert!(!wrong.stdout.contains(secret) && !wrong.stderr.contains(secret));
    }
}

#[test]
fn a_broken_clowder_file_is_a_setting_error_that_quotes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdappconfig.json");
    std::fs::write(
        &path,
        format!(r#"{{"database": {{"password": "{DB_PASSWORD}", "port": "{DB_PASSWORD}"}}}}"#),
    )
    .unwrap();
    let run = run_with(&path);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("ACG_CONFIG"), "{}", run.stderr);
    assert!(!run.stderr.contains(DB_PASSWORD), "{}", run.stderr);
    assert!(!run.stdout.contains(DB_PASSWORD), "{}", run.stdout);
}
