//! The reader's error type: every variant names the file (or URL) and, where one is involved,
//! the column.

use arrow::datatypes::DataType;

/// An error while finding or reading koku Parquet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
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
