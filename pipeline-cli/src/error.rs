//! What kind of failure an error is, for callers that react by kind: the Python package
//! raises one exception class per kind, and a caller may retry a storage or database failure
//! but not a bad setting.
//!
//! [`classify`] walks an error's chain, outermost first, and takes the first error whose type
//! it knows; the crates' error enums say which it is.

use ocpagg_aggregate::AggregateError;
use ocpagg_fixtures::FixtureError;
use ocpagg_labels::LabelError;
use ocpagg_reader::ReadError;
use ocpagg_validator::ValidateError;
use ocpagg_writer::WriteError;

use crate::config::UsageError;
use crate::interrupt::{Cancelled, Interrupted};

/// The kinds of failure, by who must act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// A setting is missing or wrong: the caller fixes it (the CLI's exit code 2).
    Config,
    /// The data is bad or missing: a file that is not koku's Parquet, a column of the wrong
    /// type, a label that is not JSON, a month with no files, a scenario that cannot be read.
    Input,
    /// PostgreSQL failed or its tables are not koku's (connect, TLS, a statement, a missing
    /// report period).
    Database,
    /// The object store or the local disk failed: S3 listings and reads (after their
    /// retries), local files that cannot be opened, an output file that cannot be written.
    Storage,
    /// A signal or the caller's [`CancelToken`](crate::interrupt::CancelToken) stopped the run.
    Interrupted,
    /// Anything else (an internal error).
    Other,
}

/// A failure the data itself causes, with no typed error of a stage behind it (a month with
/// no pod_usage files, a footer whose statistics lie).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DataError(pub String);

/// The kind of `error`: that of the outermost error in its chain whose type is known.
pub fn classify(error: &anyhow::Error) -> ErrorKind {
    error.chain().find_map(kind_of).unwrap_or(ErrorKind::Other)
}

fn kind_of(e: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    use ErrorKind::{Config, Database, Input, Interrupted as Stopped, Other, Storage};
    if e.is::<UsageError>() {
        return Some(Config);
    }
    if e.is::<Interrupted>() || e.is::<Cancelled>() {
        return Some(Stopped);
    }
    if e.is::<DataError>() || e.is::<LabelError>() {
        return Some(Input);
    }
    if let Some(r) = e.downcast_ref::<ReadError>() {
        return Some(match r {
            ReadError::InvalidWarehouse { .. } => Config,
            ReadError::Store { .. } | ReadError::Io { .. } => Storage,
            _ => Input,
        });
    }
    if let Some(w) = e.downcast_ref::<WriteError>() {
        return Some(match w {
            WriteError::InvalidTarget { .. } => Config,
            WriteError::Database { .. } | WriteError::Schema { .. } => Database,
            WriteError::Io { .. } => Storage,
            _ => Other,
        });
    }
    if let Some(a) = e.downcast_ref::<AggregateError>() {
        return Some(match a {
            AggregateError::Labels { .. }
            | AggregateError::DayFinished { .. }
            | AggregateError::NoLineItems { .. } => Input,
            _ => Other,
        });
    }
    if let Some(v) = e.downcast_ref::<ValidateError>() {
        return Some(match v {
            ValidateError::Io { .. } => Storage,
            ValidateError::Settings { .. } => Config,
            ValidateError::Database { .. } => Database,
            _ => Input,
        });
    }
    if let Some(f) = e.downcast_ref::<FixtureError>() {
        return Some(match f {
            FixtureError::Io { .. } => Storage,
            _ => Input,
        });
    }
    if e.is::<postgres::Error>() {
        return Some(Database);
    }
    if e.is::<std::io::Error>() {
        return Some(Storage);
    }
    if e.is::<parquet::errors::ParquetError>() {
        return Some(Input);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    fn kind(e: impl Into<anyhow::Error>) -> ErrorKind {
        classify(&e.into())
    }

    #[test]
    fn each_stage_error_has_its_kind() {
        assert_eq!(kind(UsageError("setting `year`".into())), ErrorKind::Config);
        assert_eq!(kind(Cancelled), ErrorKind::Interrupted);
        assert_eq!(kind(Interrupted(2)), ErrorKind::Interrupted);
        assert_eq!(
            kind(DataError("no pod_usage files".into())),
            ErrorKind::Input
        );
        let invalid = ReadError::InvalidWarehouse {
            url: "ftp://x".into(),
            reason: "unsupported scheme".into(),
        };
        assert_eq!(kind(invalid), ErrorKind::Config);
        let io = ReadError::Io {
            path: "/lake/x.parquet".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert_eq!(kind(io), ErrorKind::Storage);
        let missing = ReadError::MissingColumn {
            path: "/lake/x.parquet".into(),
            table: "pod_usage",
            column: "pod",
        };
        assert_eq!(kind(missing), ErrorKind::Input);
        let schema = WriteError::Schema {
            target: "db".into(),
            table: "t".into(),
            reason: "missing".into(),
        };
        assert_eq!(kind(schema), ErrorKind::Database);
        let target = WriteError::InvalidTarget {
            path: "x.txt".into(),
            reason: "unknown extension".into(),
        };
        assert_eq!(kind(target), ErrorKind::Config);
        let write = WriteError::Io {
            path: "out.parquet".into(),
            source: Box::new(std::io::Error::from(std::io::ErrorKind::StorageFull)),
        };
        assert_eq!(kind(write), ErrorKind::Storage);
        let label = AggregateError::Labels {
            column: "pod_labels",
            source: LabelError::NotAnObject { text: "[]".into() },
        };
        assert_eq!(kind(label), ErrorKind::Input);
        assert_eq!(kind(anyhow::anyhow!("a thread panicked")), ErrorKind::Other);
    }

    #[test]
    fn the_outermost_known_error_decides_through_context() {
        // Context adds untyped layers; the typed error below them decides.
        let e = Err::<(), _>(ReadError::MissingColumn {
            path: "p".into(),
            table: "pod_usage",
            column: "pod",
        })
        .context("while aggregating p")
        .unwrap_err();
        assert_eq!(classify(&e), ErrorKind::Input);
        // A signal wrapped with the CLI's "stopped; ..." context stays an interruption.
        let e = anyhow::Error::new(Interrupted(15)).context("stopped; out.parquet was not written");
        assert_eq!(classify(&e), ErrorKind::Interrupted);
        // A ReadError wins over the io::Error it carries as its source.
        let e: anyhow::Error = ReadError::Io {
            path: "p".into(),
            source: std::io::Error::from(std::io::ErrorKind::InvalidData),
        }
        .into();
        assert_eq!(classify(&e), ErrorKind::Storage);
    }
}
