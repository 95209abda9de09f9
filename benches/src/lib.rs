//! Benchmarks of `ocpagg`'s stages (criterion), under `benches/`:
//!
//! - `writer`: the summary sinks alone, rows/s for 100k rows: PostgreSQL binary COPY against
//!   text COPY (needs `OCPAGG_TEST_DATABASE_URL`, see `scripts/pg-server.sh`), and Parquet.
//!
//! Run with `cargo bench -p ocpagg-benches`. The end-to-end figure is the `time` line that
//! `ocpagg run` prints at the end of every run.
