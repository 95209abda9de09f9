//! Sinks for daily summary batches: Parquet and CSV files, and koku's PostgreSQL table
//! ([`pg`]).
//!
//! A sink is given the batches' Arrow schema when it is opened (the aggregate's is
//! `ocpagg_aggregate::schema::summary_schema()`); this crate knows no column list of its own
//! beyond koku's DDL. JSON columns are those marked with Arrow's canonical `arrow.json`
//! extension type (field metadata `ARROW:extension:name`); the PostgreSQL types come from the
//! target table's catalog ([`pg::SummaryTable::check`]).
//!
//! A sink is opened, receives batches with [`SummarySink::write`], and must be finished with
//! [`SummarySink::finish`]; dropping it instead aborts, leaving no trace. File sinks write to
//! a temporary file beside the target and rename it into place only in `finish`, so a failed
//! run never leaves a partial file and a previous file stays intact.
//!
//! ```no_run
//! use ocpagg_writer::{open_file_sink, SummarySink};
//! # let schema = std::sync::Arc::new(arrow::datatypes::Schema::empty());
//! let mut sink = open_file_sink("summary.parquet".as_ref(), schema)?;
//! // sink.write(&batch)?; for each batch
//! let report = sink.finish()?;
//! println!("{} rows written to {}", report.rows, report.target);
//! # Ok::<(), ocpagg_writer::WriteError>(())
//! ```
// Input may never reach a panic (issue #18): no unwrap or expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs, unreachable_pub)]

mod file;
pub mod hive;
mod parquet_out;
pub mod pg;

use std::collections::BTreeMap;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::DataType;

pub use file::{open_file_sink, FileFormat, FileSink, FooterValue, DISTINCT_KEY};
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
    /// Rows carried over unchanged from the previous output (an incremental run's untouched
    /// days, file targets); not in `rows`.
    pub rows_carried: u64,
    /// Of those, Parquet row groups copied without decoding.
    pub row_groups_copied: u64,
}

impl WriteReport {
    /// Counts a batch's rows per data source (`data_source` as `Utf8` or as a dictionary of
    /// texts; a batch without it counts in `rows` only).
    pub fn count(&mut self, batch: &RecordBatch) {
        self.rows += batch.num_rows() as u64;
        let Some(column) = batch.column_by_name("data_source") else {
            return;
        };
        let Ok(texts) = arrow::compute::cast(column, &DataType::Utf8) else {
            return;
        };
        let Some(texts) = texts.as_string_opt::<i32>() else {
            return;
        };
        // Rows come in runs of one data source: one map entry per run, not per row.
        let mut run: Option<(Option<&str>, u64)> = None;
        for value in texts.iter() {
            match &mut run {
                Some((current, n)) if *current == value => *n += 1,
                _ => {
                    if let Some((current, n)) = run.replace((value, 1)) {
                        self.add_data_source(current, n);
                    }
                }
            }
        }
        if let Some((current, n)) = run {
            self.add_data_source(current, n);
        }
    }

    fn add_data_source(&mut self, value: Option<&str>, rows: u64) {
        let value = value.unwrap_or("null");
        match self.rows_by_data_source.get_mut(value) {
            Some(count) => *count += rows,
            None => {
                self.rows_by_data_source.insert(value.to_string(), rows);
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

    /// The rows written so far end a unit of the output's layout (a Parquet row group), so
    /// that the next rows start a new one. A hint: sinks without such units ignore it.
    fn end_row_group(&mut self) -> Result<()> {
        Ok(())
    }

    /// Whether the sink takes text columns as Arrow dictionaries (`Int32` keys into `Utf8`
    /// values) in place of `Utf8`, and writes what it would of the plain texts: batches in
    /// the form of `ocpagg_aggregate::schema::with_dictionary_texts`. A Parquet file does,
    /// and hashes each distinct text once per column chunk instead of once per row. Sinks
    /// that do not are given `Utf8`.
    fn takes_dictionary_texts(&self) -> bool {
        false
    }
}

/// A small schema and batch in the shape of the aggregate's, for the sinks' unit tests.
#[cfg(test)]
pub(crate) mod test_batch {
    use std::collections::HashMap;
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

    /// `uuid` (a row id), `usage_start`, `usage_end`, `data_source`, `namespace`, `pod_labels` (JSON),
    /// `cost_category_id`, `pod_usage_cpu_core_hours`.
    pub(crate) fn schema() -> SchemaRef {
        let meta = |k: &str, v: &str| HashMap::from([(k.to_string(), v.to_string())]);
        Arc::new(Schema::new(vec![
            Field::new("uuid", DataType::Utf8, false)
                .with_metadata(meta(crate::file::DISTINCT_KEY, "true")),
            Field::new("usage_start", DataType::Date32, false),
            Field::new("usage_end", DataType::Date32, false),
            Field::new("data_source", DataType::Utf8, true),
            Field::new("namespace", DataType::Utf8, true),
            Field::new("pod_labels", DataType::Utf8, true)
                .with_metadata(meta("ARROW:extension:name", "arrow.json")),
            Field::new("cost_category_id", DataType::Int32, true),
            Field::new("pod_usage_cpu_core_hours", DataType::Float64, true),
        ]))
    }

    /// Two rows of [`schema`] (2025-10-01 is day 20362); `hours` fills the measure.
    pub(crate) fn batch(hours: [Option<f64>; 2]) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                "9a3e1c5e-1b0e-4a57-9d6c-0d2a1f4c3b01",
                "9a3e1c5e-1b0e-4a57-9d6c-0d2a1f4c3b02",
            ])),
            Arc::new(Date32Array::from(vec![20362, 20363])),
            Arc::new(Date32Array::from(vec![20362, 20363])),
            Arc::new(StringArray::from(vec![Some("Pod"), Some("Storage")])),
            Arc::new(StringArray::from(vec![Some("tab\there"), None])),
            Arc::new(StringArray::from(vec![Some(r#"{"app":"web"}"#), None])),
            Arc::new(Int32Array::from(vec![None, Some(3)])),
            Arc::new(Float64Array::from(hours.to_vec())),
        ];
        RecordBatch::try_new(schema(), columns).unwrap()
    }
}
