//! The crate's error type.

use std::path::PathBuf;

/// Why validation could not run (a failed check is not an error: see [`crate::Comparison`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidateError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A summary file is not readable Parquet or CSV.
    #[error("{path}: not a readable summary file: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A summary file lacks a column or holds a value of the wrong kind.
    #[error("{path}: column `{column}`: {reason}")]
    Column {
        /// The file (or the database table).
        path: String,
        /// The column.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// The scenario's `ocpagg:` block, or a setting given by the caller, is invalid.
    #[error("{origin}: {message}")]
    Settings {
        /// Where the setting came from (the scenario file, or a flag).
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// The scenario describes something the closed-form expectations do not cover.
    #[error("scenario: {0}")]
    Unsupported(String),
    /// A database query failed.
    #[error("{what}: {source}")]
    Database {
        /// What was being done (names the schema and table).
        what: String,
        /// The cause.
        source: postgres::Error,
    },
}

/// The crate's result type.
pub(crate) type Result<T, E = ValidateError> = std::result::Result<T, E>;
