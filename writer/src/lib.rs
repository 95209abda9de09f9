//! Sinks for daily summary batches ([`ocpagg_aggregate::schema`]): Parquet and CSV files, and
//! koku's PostgreSQL table ([`pg`]).
//!
//! A sink is opened, receives batches with [`SummarySink::write`], and must be finished with
//! [`SummarySink::finish`]; dropping it instead aborts, leaving no trace. File sinks write to
//! a temporary file beside the target and rename it into place only in `finish`, so a failed
//! run never leaves a partial file and a previous file stays intact.
//!
//! ```no_run
//! use ocpagg_writer::{open_file_sink, SummarySink};
//! let mut sink = open_file_sink("summary.parquet".as_ref())?;
//! // sink.write(&batch)?; for each batch
//! let report = sink.finish()?;
//! println!("{} rows written to {}", report.rows, report.target);
//! # Ok::<(), ocpagg_writer::WriteError>(())
//! ```
// Input may never reach a panic (issue #18): no unwrap or expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

mod file;
pub mod hive;
pub mod pg;

use std::collections::BTreeMap;

use arrow::array::{AsArray, RecordBatch};

pub use file::{open_file_sink, FileFormat, FileSink};
pub use hive::{HivePartition, HiveReport, HiveSink, HiveTee};
pub use pg::{CopyFormat, PgTarget, PostgresSink};

/// An error while writing the summary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The output path cannot be used.
    #[error("output {path}: {reason}")]
    InvalidTarget {
        /// The path as given.
        path: String,
        /// Why.
        reason: String,
    },
    /// A database operation failed.
    #[error("{target}: {action}: {}", pg_message(source))]
    Database {
        /// The server, without password.
        target: String,
        /// What was being done.
        action: String,
        /// The driver's error.
        source: postgres::Error,
    },
    /// The database's tables are missing or not koku's.
    #[error("{target}: {table}: {reason}")]
    Schema {
        /// The server, without password.
        target: String,
        /// The table.
        table: String,
        /// What is wrong, and the remedy.
        reason: String,
    },
    /// The run stopped before the output was complete; nothing was kept.
    #[error("{reason}")]
    Aborted {
        /// Why.
        reason: String,
    },
    /// The other sink of a [`HiveTee`] failed after the Hive copy was published.
    #[error("{source}; the Hive copy under {location} was already replaced ({partitions}) and the other output was not: run again to bring both in line")]
    AfterHive {
        /// The Hive table's location.
        location: String,
        /// The partitions replaced.
        partitions: String,
        /// The other sink's error.
        source: Box<WriteError>,
    },
    /// Writing the file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The target file.
        path: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A driver error as one line: the server's message with its detail and hint, or the
/// client-side cause.
fn pg_message(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!("{}: {}", db.severity(), db.message());
        if let Some(d) = db.detail() {
            text.push_str(&format!(" (detail: {d})"));
        }
        if let Some(h) = db.hint() {
            text.push_str(&format!(" (hint: {h})"));
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// Shorthand for results of this crate.
pub type Result<T, E = WriteError> = std::result::Result<T, E>;

/// What a finished sink wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Where (a path or a table).
    pub target: String,
    /// Rows written.
    pub rows: u64,
    /// Rows written per `data_source` value.
    pub rows_by_data_source: BTreeMap<String, u64>,
    /// Rows deleted before writing (database targets).
    pub rows_deleted: u64,
    /// koku's Hive copy, when one was written ([`HiveTee`]).
    pub hive: Option<HiveReport>,
    /// Partitions the run created (database targets; `schema.table_YYYY_MM`).
    pub partitions_created: Vec<String>,
}

impl WriteReport {
    /// Counts a batch's rows per data source.
    pub fn count(&mut self, batch: &RecordBatch) {
        self.rows += batch.num_rows() as u64;
        if let Some(col) = batch.column_by_name("data_source") {
            for v in col.as_string::<i32>().iter() {
                *self
                    .rows_by_data_source
                    .entry(v.unwrap_or("null").to_string())
                    .or_default() += 1;
            }
        }
    }
}

/// A destination for summary batches.
pub trait SummarySink: Send {
    /// Writes one batch in the summary schema.
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;

    /// Completes the output atomically (rename, commit). Without this call, nothing is kept.
    fn finish(self: Box<Self>) -> Result<WriteReport>;
}
