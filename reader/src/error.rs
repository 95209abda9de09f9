//! The reader's error type: every variant names the file (or URL) and, where one is involved,
//! the column.

use arrow::datatypes::DataType;

/// An error while finding or reading koku Parquet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The month has no hourly pod files: there is nothing to summarise.
    #[error("no pod_usage files for org {org} source {source_uuid} in {year}-{month:02}: nothing under {location}")]
    NoPodFiles {
        /// The tenant schema.
        org: String,
        /// The source (cluster) UUID.
        source_uuid: String,
        /// The year.
        year: i32,
        /// The month.
        month: u32,
        /// The prefix that was listed.
        location: String,
    },
    /// The warehouse URL or a storage setting cannot be used.
    #[error("invalid warehouse {url:?}: {reason}")]
    InvalidWarehouse {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The object store (local disk or S3) failed.
    #[error("cannot {operation} {location}: {reason}{}", chain_text(.error))]
    Store {
        /// What we were doing (`list`, `read`).
        operation: &'static str,
        /// The full location (URL of the file or prefix).
        location: String,
        /// How long it was retried, when it was (`gave up after 4 attempts in 2.1 s; last
        /// error: `), else empty.
        reason: String,
        /// The (last) underlying error. Not a `source`: the message already carries its whole
        /// chain once (object_store's texts repeat their sources).
        error: Box<object_store::Error>,
    },
    /// A local file cannot be opened.
    #[error("cannot open {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not readable Parquet (corrupt, truncated, or another format).
    #[error("{path} is not a readable Parquet file: {source}")]
    NotParquet {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Decoding the data pages of a file failed.
    #[error("cannot decode {path}: {source}")]
    Decode {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A required column is absent.
    #[error("{path}: required column {column:?} of table {table} is missing")]
    MissingColumn {
        /// The file.
        path: String,
        /// The report table.
        table: &'static str,
        /// The column.
        column: &'static str,
    },
    /// A column has a type that cannot be read as what the program needs.
    #[error("{path}: column {column:?} has type {found}, expected {expected}")]
    ColumnType {
        /// The file.
        path: String,
        /// The column.
        column: &'static str,
        /// The type in the file.
        found: DataType,
        /// What is accepted.
        expected: &'static str,
    },
    /// A value cannot be interpreted (for example a timestamp string in an unknown format).
    #[error("{path}: column {column:?}: cannot read value {value:?}: {reason}")]
    BadValue {
        /// The file.
        path: String,
        /// The column.
        column: &'static str,
        /// The offending value.
        value: String,
        /// Why.
        reason: String,
    },
    /// The footer's counts disagree with each other or with the pages, or the file has no
    /// row groups: a truncated, unfinished or crafted file whose rows cannot be trusted.
    #[error("{path} is not a consistent Parquet file: {reason}")]
    Inconsistent {
        /// The file.
        path: String,
        /// Which counts disagree.
        reason: String,
    },
    /// A line item (or the footer statistics) of a file lies outside the month of the
    /// directory the file is in.
    #[error(
        "{path}: column \"interval_start\": {what} {value}, outside {month}, the month of the \
         file's directory (koku writes a month's line items only under that month): move or \
         remove the file"
    )]
    OutsideMonth {
        /// The file.
        path: String,
        /// Where: `row group 0 holds` or `row group 0's footer statistics say`.
        what: String,
        /// The instant, `2025-11-01 00:00:00 UTC`.
        value: String,
        /// The directory's month, `2025-10`.
        month: String,
    },
    /// Two files of the same table and month have the same bytes: one upload stored twice,
    /// which would count every line item twice.
    #[error(
        "{path} and {other} have the same contents (the same upload stored twice would be \
         counted twice): remove one of them"
    )]
    Duplicate {
        /// The file listed first.
        path: String,
        /// The file listed second.
        other: String,
    },
}

/// An error and its sources in one line, each text only once: object_store's messages
/// include their source's text, which a plain chain would repeat.
fn chain_text(error: &object_store::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// Shorthand for results of this crate.
pub type Result<T, E = ReadError> = std::result::Result<T, E>;
