//! End-to-end tests of `ocpagg run`: generated koku-layout Parquet in, summary rows out.
//!
//! One test binary (fast to link on 2 cores) with a module per concern:
//! - `scenarios`: small hand-written inputs with hand-computed expectations;
//! - `oracle`: generated months against a naive, independent re-implementation of SPEC.md;
//! - `sources`: hourly vs daily tables, local disk vs a real S3 server, type variants;
//! - `storage`: Storage rows, unallocated rows and node roles, hand-computed, plus a
//!   capacity-balance property on generated months;
//! - `bad_input`: errors, exit codes, and nothing half-written (runs the real binary);
//! - `clowder`: a month on koku's Clowder settings (`ACG_CONFIG`) alone;
//! - `corpus`: the bad-data corpus, files broken one way each, run through the binary;
//! - `database`: PostgreSQL output and side inputs against a real server;
//! - `tls`: connecting to PostgreSQL with each `sslmode`, against a real TLS server;
//! - `hive`: `--hive-output`, koku's Hive copy, against PostgreSQL, local disk and S3;
//! - `pg`: the test servers and koku's tables (shared helpers);
//! - `preflight`: `ocpagg preflight`, the pre-run checks, against local, S3 and PostgreSQL;
//! - `s3_faults`: S3 through a fault-injecting proxy, over HTTPS with a private CA;
//! - `reporting`: the JSON result, JSON logs and the Prometheus metrics file;
//! - `validate`: the scenario suite through generate → run → `ocpagg validate`.

mod bad_input;
mod clowder;
mod common;
mod corpus;
mod database;
mod hive;
mod incremental;
mod oracle;
mod pg;
mod preflight;
mod reporting;
mod s3_faults;
mod scenarios;
mod sources;
mod storage;
mod tls;
mod validate;
