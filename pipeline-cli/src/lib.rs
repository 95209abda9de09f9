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
