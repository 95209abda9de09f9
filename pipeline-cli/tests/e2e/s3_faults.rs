//! S3 done right (#16): runs through our own fault-injecting proxy
//! (`scripts/s3-fault-proxy.py`, on loopback, bounded in requests and time) in front of the
//! local S3 server give exactly the rows of the local run; faults that never stop fail with
//! exit 1 naming the object; HTTPS with a private CA (made here with openssl) works.
//!
//! Each test runs the real binary with its own `AWS_*` environment, so the in-process tests
//! that use the S3 server directly are not disturbed.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::*;
use crate::sources::{s3_bucket, upload};

/// The proxy, killed when dropped (it also stops by itself after its bounds).
pub(crate) struct Proxy {
    child: Child,
    pub(crate) port: u16,
    stats: PathBuf,
    _dir: tempfile::TempDir,
}

impl Proxy {
    pub(crate) fn start(args: &[&str]) -> Proxy {
        let upstream = std::env::var("AWS_ENDPOINT_URL")
            .expect("AWS_ENDPOINT_URL is set by scripts/s3-server.sh");
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let dir = tempfile::tempdir().unwrap();
        let stats = dir.path().join("stats.json");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3-fault-proxy.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--upstream", &upstream, "--max-seconds", "300"])
            .args(["--max-requests", "20000", "--stats"])
            .arg(&stats)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the fault proxy");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the proxy did not start: {line:?}"));
        Proxy {
            child,
            port,
            stats,
            _dir: dir,
        }
    }

    pub(crate) fn count(&self, what: &str) -> u64 {
        let text = std::fs::read_to_string(&self.stats).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v[what].as_u64().unwrap()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ocpagg run` of the test month from `warehouse` to `out`, with `env` over the inherited
/// environment.
fn run_binary(warehouse: &str, out: &Path, env: &[(&str, &str)], extra: &[&str]) -> Outcome {
    let mut cli = Cli::command("run", warehouse, "10", &out.display().to_string())
        .args(&["--enabled-keys", "*"])
        .args(extra);
    for (k, v) in env {
        cli = cli.env(k, v);
    }
    cli.output()
}

/// A month uploaded to the S3 server under a fresh prefix, with its local run's rows.
struct Uploaded {
    url: String,
    local: Vec<std::collections::BTreeMap<String, serde_json::Value>>,
    _lake: Lake,
}

fn uploaded(tag: &str, pod_rows: u64) -> Uploaded {
    let bucket = s3_bucket();
    let lake = Lake::new(&generated_month(pod_rows));
    let local = comparable(&run_rows(&lake.config()));
    let prefix = format!("faults-{tag}-{}", std::process::id());
    upload(lake.path(), &bucket, &prefix);
    Uploaded {
        url: format!("s3://{bucket}/{prefix}"),
        local,
        _lake: lake,
    }
}

#[test]
fn runs_behind_faults_give_the_local_rows() {
    let month = uploaded("survive", 8_000);
    // About one request in three fails: an object fails all 11 tries with odds of 1e-5.
    let proxy = Proxy::start(&[
        "--every-503",
        "13",
        "--every-429",
        "17",
        "--every-reset",
        "19",
        "--every-cut",
        "7",
        "--every-slow",
        "11",
        "--slow-ms",
        "5",
        "--latency-ms",
        "1",
    ]);
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let out = tempfile::tempdir().unwrap();
    let fast = ["--s3-initial-backoff", "0.01"];
    // Whole-file GETs kept from the footer pass (the default for small files); a budget too
    // small to keep them all (footers by tail ranges, then whole-file reads); column ranges
    // only (every file counts as large): all through the same faults.
    for (name, extra) in [
        ("whole.parquet", vec![]),
        ("small-budget.parquet", vec!["--s3-read-ahead-mib", "1"]),
        ("ranges.parquet", vec!["--s3-whole-file-mib", "0"]),
    ] {
        let path = out.path().join(name);
        let extra: Vec<&str> = fast.iter().copied().chain(extra).collect();
        let run = run_binary(
            &month.url,
            &path,
            &[("AWS_ENDPOINT_URL", &endpoint)],
            &extra,
        );
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert_eq!(comparable(&read_output(&path)), month.local, "{name}");
        // The summary (on stderr) counts the retries it made.
        let retries: u64 = run
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("s3 "))
            .and_then(|l| l.split('(').nth(1))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no s3 line in the summary: {}", run.stderr));
        assert!(retries > 0, "{name}: {}", run.stderr);
    }
    // Every kind of fault happened (the schedule is by request count, so they do).
    for kind in ["503", "429", "reset", "cut", "slow"] {
        assert!(proxy.count(kind) > 0, "no {kind} fault injected");
    }
}

#[test]
fn faults_that_never_stop_fail_naming_the_object() {
    let month = uploaded("never", 2_000);
    // One hourly pod file always answers 503 (its footer is fetched; no run can succeed).
    let bucket = s3_bucket();
    let victim = month_files(&month._lake)
        .into_iter()
        .find(|p| p.contains("/pod_usage/") && !p.contains("/daily/"))
        .expect("an hourly pod file");
    let name = victim.rsplit('/').next().unwrap().to_string();
    let proxy = Proxy::start(&["--fail-path", &name]);
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("never.parquet");
    let run = run_binary(
        &month.url,
        &path,
        &[("AWS_ENDPOINT_URL", &endpoint)],
        &["--s3-max-retries", "3", "--s3-initial-backoff", "0.01"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let object = format!("{}/{victim}", month.url);
    assert!(
        run.stderr.contains(&object),
        "names {object}: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("gave up after 4 attempts") && run.stderr.contains("503"),
        "{}",
        run.stderr
    );
    assert_eq!(proxy.count("fail_path"), 4, "1 try and 3 retries");
    assert!(!path.exists(), "nothing written");
    assert!(!run.stderr.contains("testing"), "no secret in output");
    let _ = bucket;
}

/// The warehouse-relative paths of the month's Parquet files.
fn month_files(lake: &Lake) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|x| x == "parquet") && !p.ends_with("out.parquet") {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(lake.path(), lake.path(), &mut out);
    out.sort();
    out
}

/// A private CA and a certificate for `localhost` and 127.0.0.1 signed by it.
fn private_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=ocpagg test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

#[test]
fn https_with_a_private_ca_a_session_token_and_another_region() {
    let month = uploaded("tls", 2_000);
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(certs.path());
    let proxy = Proxy::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let endpoint = format!("https://localhost:{}", proxy.port);
    let out = tempfile::tempdir().unwrap();
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "false"),
        ("AWS_REGION", "eu-west-3"),
        ("AWS_SESSION_TOKEN", "session-token-of-the-test"),
    ];
    let path = out.path().join("tls.parquet");
    let mut with_ca = env.to_vec();
    with_ca.push(("AWS_CA_BUNDLE", ca.to_str().unwrap()));
    let run = run_binary(&month.url, &path, &with_ca, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(comparable(&read_output(&path)), month.local);

    // Without the CA the server is not trusted: exit 1, naming what was being listed.
    let untrusted = out.path().join("untrusted.parquet");
    let mut without = env.to_vec();
    without.push(("AWS_CA_BUNDLE", ""));
    let run = run_binary(
        &month.url,
        &untrusted,
        &without,
        &["--s3-max-retries", "1", "--s3-initial-backoff", "0.01"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("cannot list s3://"), "{}", run.stderr);
    assert!(!run.stderr.contains("session-token-of-the-test"));

    // A CA bundle that is not PEM is a setting error naming the variable.
    let bogus = certs.path().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate").unwrap();
    let mut bad = env.to_vec();
    bad.push(("AWS_CA_BUNDLE", bogus.to_str().unwrap()));
    let run = run_binary(&month.url, &untrusted, &bad, &[]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("AWS_CA_BUNDLE"), "{}", run.stderr);
}
