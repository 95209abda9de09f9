//! The `ocpagg` command as a library: configuration ([`config`]), the threaded run
//! ([`pipeline`]), the pre-run checks ([`preflight`]), progress display ([`progress`]) and the end-of-run summary ([`summary`]).
//! `main.rs` only parses flags and maps errors to exit codes.
#![warn(missing_docs, unreachable_pub)]

pub mod carry_over;
pub mod clowder;
pub mod config;
pub mod demo;
pub mod error;
pub mod incremental;
pub mod interrupt;
pub mod logging;
pub mod pipeline;
pub mod preflight;
pub mod progress;
pub mod result;
pub mod summary;
pub mod validate;

pub use config::{Job, RunConfig, UsageError};
pub use error::{classify, ErrorKind};
pub use interrupt::CancelToken;
pub use pipeline::{run, run_with, RunReport};
pub use result::RunResult;

#[cfg(test)]
mod tests {
    /// The aggregate marks the row id column with a metadata key that the writer reads; the
    /// two crates do not depend on each other, so each names the key, and this binary, which
    /// joins them, checks that they agree (else the writer would spend a dictionary and
    /// statistics on every row id).
    #[test]
    fn the_aggregate_and_the_writer_name_the_same_row_id_key() {
        assert_eq!(
            ocpagg_aggregate::schema::DISTINCT_KEY,
            ocpagg_writer::DISTINCT_KEY
        );
        let schema = ocpagg_aggregate::schema::summary_schema();
        let marked: Vec<&str> = schema
            .fields()
            .iter()
            .filter(|f| {
                f.metadata()
                    .get(ocpagg_writer::DISTINCT_KEY)
                    .map(String::as_str)
                    == Some("true")
            })
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(marked, ["uuid"]);
    }
}
