//! The test PostgreSQL servers (scripts/pg-server.sh starts them and exports their URLs) and
//! koku's tables in a schema of a test's own.

use std::path::PathBuf;

use postgres::{Client, NoTls};

/// The main test server (TLS on; plain connections accepted for `postgres`).
pub fn db_url() -> String {
    std::env::var("OCPAGG_TEST_DATABASE_URL").expect(
        "OCPAGG_TEST_DATABASE_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL",
    )
}

/// A second server without TLS.
pub fn plain_url() -> String {
    std::env::var("OCPAGG_TEST_PG_PLAIN_URL").expect(
        "OCPAGG_TEST_PG_PLAIN_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL",
    )
}

/// The test CA, server and client certificates (scripts/pg-server.sh makes them).
pub fn tls_file(name: &str) -> PathBuf {
    let dir = std::env::var("OCPAGG_TEST_PG_TLS_DIR").expect(
        "OCPAGG_TEST_PG_TLS_DIR is not set: run the tests with scripts/test.sh, which starts PostgreSQL",
    );
    PathBuf::from(dir).join(name)
}

/// The port of the main test server.
pub fn port() -> String {
    db_url()
        .rsplit(':')
        .next()
        .and_then(|s| s.split('/').next())
        .unwrap()
        .to_string()
}

pub fn client() -> Client {
    Client::connect(&db_url(), NoTls).expect("connect to the test database")
}

/// A new schema with koku's tables (through `init-db`'s code) and koku's report periods of
/// `sources` for every month of 2024 to 2026, as koku creates them before a summary.
pub fn koku_schema(c: &mut Client, schema: &str, sources: &[&str]) {
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
    let target = ocpagg_writer::PgTarget::parse(&db_url()).unwrap();
    ocpagg_writer::pg::init_db(c, &target, schema).unwrap();
    for source in sources {
        add_report_periods(c, schema, source);
    }
}

/// koku's report periods of `source` for every month of 2024 to 2026, cluster `test-cluster`.
pub fn add_report_periods(c: &mut Client, schema: &str, source: &str) {
    c.batch_execute(&format!(
        "INSERT INTO {schema}.reporting_ocpusagereportperiod
            (cluster_id, cluster_alias, report_period_start, report_period_end, provider_id)
         SELECT 'test-cluster', 'Test cluster', m, m + interval '1 month', '{source}'::uuid
           FROM generate_series(timestamptz '2024-01-01 00:00+00', '2026-12-01 00:00+00', interval '1 month') AS m"
    ))
    .unwrap();
}

/// The id of `source`'s report period of October 2025.
pub fn october_period(c: &mut Client, schema: &str, source: &str) -> i32 {
    c.query_one(
        &format!(
            "SELECT id FROM {schema}.reporting_ocpusagereportperiod
              WHERE provider_id = $1::text::uuid AND report_period_start = '2025-10-01 00:00+00'"
        ),
        &[&source],
    )
    .unwrap()
    .get(0)
}
