//! The aggregate stage's error type.

/// An error while aggregating line items.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AggregateError {
    /// A label column holds text that is not a JSON object.
    #[error("column {column:?}: {source}")]
    Labels {
        /// The label column.
        column: &'static str,
        /// What is wrong with the text.
        #[source]
        source: ocpagg_labels::LabelError,
    },
    /// A batch lacks a column the stage needs (a wiring bug, not bad input: the reader fills
    /// missing optional columns with nulls and rejects files missing required ones).
    #[error("internal error: batch has no column {column:?} of the expected type")]
    MissingColumn {
        /// The column.
        column: &'static str,
    },
    /// A window folding on the thread pool ended without a result (the pool dropped it
    /// unrun): not expected while the aggregator holds the pool, reported rather than a
    /// panic.
    #[error("internal error: a fold on the thread pool ended without a result")]
    FoldLost,
    /// An Arrow kernel failed on a batch (a cast of text values, a batch rebuilt with
    /// re-keyed columns): not expected from the reader's canonical batches, reported rather
    /// than a panic.
    #[error("internal error: {what}: {source}")]
    Arrow {
        /// What was being done.
        what: &'static str,
        /// The kernel's error.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A batch holds a column with a type other than the reader's canonical one.
    #[error("column {column:?} is {actual}, expected {expected}")]
    ColumnType {
        /// The column.
        column: &'static str,
        /// The type the aggregate reads.
        expected: arrow::datatypes::DataType,
        /// The batch's type.
        actual: arrow::datatypes::DataType,
    },
    /// A batch holds rows of a day already handed out by `emit_ready`: the caller said the
    /// file would start later (a file's footer statistics, when the caller took the first
    /// day from them), and folding the rows would give the day a second set of rows.
    #[error(
        "holds rows of {day}, a day already finished because this file's footer statistics \
         (the minimum of interval_start) say it starts later; the statistics are wrong: rewrite the file"
    )]
    DayFinished {
        /// The day, as `2025-10-03`.
        day: String,
    },
    /// The run saw no pod_usage line item in its range.
    #[error(
        "no pod_usage line items between {start} and {end} for source {source_uuid} \
         (the month's files hold no rows in that range)"
    )]
    NoLineItems {
        /// The run's first day.
        start: chrono::NaiveDate,
        /// The run's last day.
        end: chrono::NaiveDate,
        /// The run's source.
        source_uuid: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = AggregateError> = std::result::Result<T, E>;
