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
}

/// Shorthand for results of this crate.
pub type Result<T, E = AggregateError> = std::result::Result<T, E>;
