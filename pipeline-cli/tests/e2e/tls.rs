//! Connecting to PostgreSQL with each `sslmode`, as libpq would, against the real TLS server
//! of scripts/pg-server.sh: its certificate is signed by a test CA and names `localhost`
//! only, so 127.0.0.1 passes `verify-ca` but not `verify-full`. A second server has no TLS.
//! Every case reads `pg_stat_ssl` to see what the server saw.

use ocpagg_writer::PgTarget;

use crate::pg::*;

/// `key=value` settings for the main server at `host`, plus `extra`.
fn conn(host: &str, extra: &str) -> String {
    format!(
        "host={host} port={} user=postgres dbname=postgres {extra}",
        port()
    )
}

fn ca() -> String {
    tls_file("ca.crt").display().to_string()
}

/// Connects; `Ok(true)` when the session is encrypted.
fn connect(conn: &str) -> Result<bool, String> {
    let target = PgTarget::parse(conn).map_err(|e| e.to_string())?;
    let mut client = target.connect().map_err(|e| e.to_string())?;
    Ok(client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0))
}

#[track_caller]
fn encrypted(conn: &str) {
    assert_eq!(connect(conn), Ok(true), "{conn}");
}

#[track_caller]
fn clear(conn: &str) {
    assert_eq!(connect(conn), Ok(false), "{conn}");
}

#[track_caller]
fn refused(conn: &str, because: &str) {
    match connect(conn) {
        Ok(tls) => panic!("{conn}: connected (tls {tls}), expected a refusal"),
        Err(e) => assert!(e.contains(because), "{conn}: {e}"),
    }
}

#[test]
fn each_sslmode_as_libpq() {
    let ca = ca();
    let wrong_ca = tls_file("wrong-ca.crt").display().to_string();
    let plain = plain_url();
    clear(&conn("127.0.0.1", "sslmode=disable"));
    // allow: clear text first; TLS when the server refuses clear text (role tlsonly).
    clear(&conn("127.0.0.1", "sslmode=allow"));
    encrypted(&conn("127.0.0.1", "sslmode=allow").replace("user=postgres", "user=tlsonly"));
    refused(
        &conn("127.0.0.1", "sslmode=disable").replace("user=postgres", "user=tlsonly"),
        "no encryption",
    );
    // prefer: TLS when offered, clear text when not.
    encrypted(&conn("127.0.0.1", "sslmode=prefer"));
    clear(&format!("{plain}?sslmode=prefer"));
    // require: TLS without checking the certificate; a server without TLS is refused.
    encrypted(&conn("127.0.0.1", "sslmode=require"));
    refused(&format!("{plain}?sslmode=require"), "TLS");
    // require with a root certificate checks the chain, as libpq does.
    encrypted(&conn(
        "127.0.0.1",
        &format!("sslmode=require sslrootcert={ca}"),
    ));
    refused(
        &conn(
            "127.0.0.1",
            &format!("sslmode=require sslrootcert={wrong_ca}"),
        ),
        "certificate",
    );
    // allow and prefer check the chain too when a root certificate is set, as libpq does.
    encrypted(&conn(
        "127.0.0.1",
        &format!("sslmode=prefer sslrootcert={ca}"),
    ));
    refused(
        &conn(
            "127.0.0.1",
            &format!("sslmode=prefer sslrootcert={wrong_ca}"),
        ),
        "certificate",
    );
    // verify-ca: the chain, not the name.
    encrypted(&conn(
        "127.0.0.1",
        &format!("sslmode=verify-ca sslrootcert={ca}"),
    ));
    encrypted(&conn(
        "localhost",
        &format!("sslmode=verify-ca sslrootcert={ca}"),
    ));
    refused(
        &conn(
            "127.0.0.1",
            &format!("sslmode=verify-ca sslrootcert={wrong_ca}"),
        ),
        "certificate",
    );
    refused(
        &format!("{plain}?sslmode=verify-ca&sslrootcert={ca}"),
        "TLS",
    );
    // verify-full: the chain and the name.
    encrypted(&conn(
        "localhost",
        &format!("sslmode=verify-full sslrootcert={ca}"),
    ));
    refused(
        &conn(
            "127.0.0.1",
            &format!("sslmode=verify-full sslrootcert={ca}"),
        ),
        "certificate",
    );
    refused(
        &conn(
            "localhost",
            &format!("sslmode=verify-full sslrootcert={wrong_ca}"),
        ),
        "certificate",
    );
    // The URL form takes the same keys.
    encrypted(&format!(
        "postgresql://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={ca}",
        port()
    ));
    if !std::path::Path::new(&format!(
        "{}/.postgresql/root.crt",
        std::env::var("HOME").unwrap_or_default()
    ))
    .exists()
    {
        refused(&conn("localhost", "sslmode=verify-full"), "sslrootcert");
    }
}

#[test]
fn client_certificate() {
    let (cert, key) = (tls_file("client.crt"), tls_file("client.key"));
    let as_certuser =
        |extra: &str| conn("localhost", extra).replace("user=postgres", "user=certuser");
    encrypted(&as_certuser(&format!(
        "sslmode=verify-full sslrootcert={} sslcert={} sslkey={}",
        ca(),
        cert.display(),
        key.display()
    )));
    refused(&as_certuser("sslmode=require"), "certificate");
    refused(
        &as_certuser(&format!("sslmode=require sslcert={}", cert.display())),
        "sslkey",
    );
}

/// The connection string's own mode wins over `PGSSLMODE`, spaced or not, and the `PGSSL*`
/// variables fill in what it leaves out; preflight says which mode it used.
#[test]
fn environment_never_downgrades_and_preflight_reports_tls() {
    let lake = crate::common::Lake::new(&ocpagg_fixtures::Dataset::default());
    let preflight = |output: &str, env: &[(&str, String)]| {
        let mut cli = crate::common::Cli::new(&["preflight", "--format", "json", "--warehouse"])
            .arg(lake.path())
            .args(&crate::common::slice("10"))
            .args(&["--schema", "t_tls_none"])
            .args(&["--output", output]);
        for (k, v) in env {
            cli = cli.env(k, v);
        }
        let out = cli.output();
        let json: serde_json::Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stderr));
        json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "database")
            .map(|c| {
                (
                    c["status"].as_str().unwrap().to_string(),
                    c["detail"].as_str().unwrap().to_string(),
                )
            })
            .unwrap()
    };
    let disable = [("PGSSLMODE", "disable".to_string())];
    for spaced in ["sslmode = require", "sslmode=require", "sslmode= require"] {
        let (status, detail) = preflight(&conn("127.0.0.1", spaced), &disable);
        assert_eq!(status, "PASS", "{detail}");
        assert!(
            detail.contains("TLS TLSv1.") && detail.contains("sslmode=require"),
            "{spaced}: {detail}"
        );
    }
    let (status, detail) = preflight(&conn("127.0.0.1", ""), &disable);
    assert_eq!(status, "PASS", "{detail}");
    assert!(detail.contains("without TLS (sslmode=disable)"), "{detail}");
    let verify = [
        ("PGSSLMODE", "verify-full".to_string()),
        ("PGSSLROOTCERT", ca()),
    ];
    let (status, detail) = preflight(&conn("localhost", ""), &verify);
    assert_eq!(status, "PASS", "{detail}");
    assert!(detail.contains("sslmode=verify-full"), "{detail}");
    let (status, detail) = preflight(&conn("127.0.0.1", ""), &verify);
    assert_eq!(status, "FAIL", "{detail}");
    assert!(detail.contains("sslmode=verify-full"), "{detail}");
    assert!(detail.contains("certificate"), "{detail}");
    // sslrootcert=system: the platform's roots (here the test CA, through SSL_CERT_FILE, which
    // the platform loader honours), verify-full implied.
    let system = [("SSL_CERT_FILE", ca())];
    let (status, detail) = preflight(&conn("localhost", "sslrootcert=system"), &system);
    assert_eq!(status, "PASS", "{detail}");
    assert!(
        detail.contains("TLS TLSv1.") && detail.contains("sslmode=verify-full"),
        "{detail}"
    );
    let (status, detail) = preflight(&conn("127.0.0.1", "sslrootcert=system"), &system);
    assert_eq!(status, "FAIL", "{detail}");
}
