//! `ocpagg._ocpagg`: the native module behind the Python package `ocpagg`.
//!
//! Layout:
//! - Settings arrive as one JSON object (the pure-Python layer `ocpagg/__init__.py` turns the
//!   keyword arguments into it, dates as ISO text). [`settings`] checks each key against the
//!   CLI's keys ([`ocpagg_cli::config::keys`]) and its type through serde, so a misspelt or
//!   mistyped setting raises `ConfigError` naming it; then the CLI's own
//!   [`RunConfig::load`] (config file, `OCPAGG_*` variables, these settings) and
//!   [`RunConfig::resolve`] make the [`Job`].
//! - The work runs on a Rust thread while the calling thread waits with the GIL released, in
//!   slices of [`SLICE`]: between slices it takes the GIL back and runs Python's signal
//!   handlers (`Python::check_signals`). If one raises (Ctrl-C's `KeyboardInterrupt`, Celery's
//!   soft time limit), the run's [`CancelToken`] is cancelled, the call waits for the run to
//!   stop (the database transaction rolls back, a file output's temporary file is removed) and
//!   the exception propagates unchanged. No signal handler of ours is installed: Python owns
//!   the process's signals.
//! - Results go back as JSON text, which the Python layer parses into a `dict`.
//! - Errors become one exception class per [`ErrorKind`] ([`to_pyerr`]), with the CLI's text.

// A native module with no Rust callers: its docs are for its maintainers, private items included.
#![allow(rustdoc::private_intra_doc_links)]

use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use ocpagg_cli::config::keys;
use ocpagg_cli::{classify, CancelToken, ErrorKind, Job, RunConfig, RunResult, UsageError};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

create_exception!(
    ocpagg,
    Error,
    PyException,
    "Base class of every error ocpagg raises; the message is the CLI's error line."
);
create_exception!(
    ocpagg,
    ConfigError,
    Error,
    "A setting is missing, unknown or wrong (the CLI's exit code 2)."
);
create_exception!(
    ocpagg,
    InputError,
    Error,
    "The data is bad or missing (no files for the month, a file that is not koku's Parquet, a bad column or label)."
);
create_exception!(
    ocpagg,
    DatabaseError,
    Error,
    "PostgreSQL failed (connection, TLS, a statement) or its tables are not koku's."
);
create_exception!(
    ocpagg,
    StorageError,
    Error,
    "The object store (S3) or the local disk failed, after the configured retries."
);

/// How long the calling thread waits, GIL released, between two looks at Python's signals:
/// the latest a Ctrl-C or a Celery time limit is noticed.
const SLICE: Duration = Duration::from_millis(50);

/// The exception of `e`'s kind, with the CLI's text (`{e:#}`: the whole chain on one line).
fn to_pyerr(e: &anyhow::Error) -> PyErr {
    let text = format!("{e:#}");
    match classify(e) {
        ErrorKind::Config => ConfigError::new_err(text),
        ErrorKind::Input => InputError::new_err(text),
        ErrorKind::Database => DatabaseError::new_err(text),
        ErrorKind::Storage => StorageError::new_err(text),
        ErrorKind::Interrupted | ErrorKind::Other => Error::new_err(text),
        // ErrorKind may grow; a new kind is an `Error` until it has a class.
        #[allow(unreachable_patterns)]
        _ => Error::new_err(text),
    }
}

fn usage(message: String) -> anyhow::Error {
    UsageError(message).into()
}

/// Parses the settings object into `T`: every key must be one of `keys`, and each value must
/// have its key's type; the error names the key. `T`'s fields must all be optional (each key
/// is first checked alone).
fn settings<T: DeserializeOwned, K: AsRef<str>>(text: &str, keys: &[K]) -> anyhow::Result<T> {
    let map: Map<String, Value> =
        serde_json::from_str(text).context("the settings are not a JSON object")?;
    for (key, value) in &map {
        if !keys.iter().any(|k| k.as_ref() == key) {
            let known: Vec<&str> = keys.iter().map(AsRef::as_ref).collect();
            return Err(usage(format!(
                "unknown setting `{key}` (settings: {})",
                known.join(", ")
            )));
        }
        let one = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
        if let Err(e) = serde_json::from_value::<T>(one) {
            return Err(usage(format!("setting `{key}`: {e}")));
        }
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| usage(format!("settings: {e}")))
}

/// The run's settings merged as the CLI merges them: the config file (`config`, else
/// `OCPAGG_CONFIG`), then `OCPAGG_*` variables, then these settings; resolved into a job.
fn job(settings_json: &str, config: Option<&str>) -> anyhow::Result<(RunConfig, Job)> {
    let given: RunConfig = settings(settings_json, &keys())?;
    let file = config.map(String::from).or_else(|| {
        std::env::var("OCPAGG_CONFIG")
            .ok()
            .filter(|s| !s.is_empty())
    });
    let merged = RunConfig::load(file.as_deref().map(std::path::Path::new), &given)?;
    let job = merged.resolve()?;
    Ok((merged, job))
}

/// How a wait ended.
enum Waited<T> {
    /// The work's value.
    Done(T),
    /// The work's thread ended without one (it panicked).
    Lost,
    /// A Python signal handler raised; `T` is what the cancelled work ended with, when it
    /// was waited for.
    Raised(PyErr, Option<T>),
}

/// Waits for `rx` in slices, GIL released, running Python's signal handlers between slices.
/// When one raises: `cancel` (if any) is cancelled and the work waited for; without a token
/// the work is left to finish on its own (it changes nothing).
fn wait<T: Send>(py: Python<'_>, rx: &Receiver<T>, cancel: Option<&CancelToken>) -> Waited<T> {
    loop {
        match py.detach(|| rx.recv_timeout(SLICE)) {
            Ok(value) => return Waited::Done(value),
            Err(RecvTimeoutError::Disconnected) => return Waited::Lost,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if let Err(raised) = py.check_signals() {
            let ended = cancel.and_then(|cancel| {
                cancel.cancel();
                // The run stops at its next batch (a database statement at once): wait, so
                // that nothing of it is left when the exception reaches the caller.
                py.detach(|| rx.recv()).ok()
            });
            return Waited::Raised(raised, ended);
        }
    }
}

/// Starts `work` on a thread of its own; its result arrives on the receiver.
fn spawn<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> PyResult<Receiver<anyhow::Result<T>>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .map_err(|e| Error::new_err(format!("cannot start a thread: {e}")))?;
    Ok(rx)
}

/// Runs `work` on a thread of its own while the caller waits ([`wait`]), not cancellable.
fn on_thread<T: Send + 'static>(
    py: Python<'_>,
    name: &str,
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> PyResult<T> {
    match wait(py, &spawn(name, work)?, None) {
        Waited::Done(Ok(value)) => Ok(value),
        Waited::Done(Err(e)) => Err(to_pyerr(&e)),
        Waited::Lost => Err(Error::new_err(format!("the {name} thread panicked"))),
        Waited::Raised(raised, _) => Err(raised),
    }
}

/// The CLI's exit code for an error, as the result reports it.
fn exit_code(e: &anyhow::Error) -> u8 {
    if let Some(signal) = e.downcast_ref::<ocpagg_cli::interrupt::Interrupted>() {
        return signal.exit_code();
    }
    match classify(e) {
        ErrorKind::Config => 2,
        _ => 1,
    }
}

/// Runs one source and month to its output; returns the result as JSON text (the CLI's
/// `--result-format json` object). On failure the exception carries the failed run's result
/// as its `result` attribute (JSON text; the Python layer makes it a dict). The metrics file,
/// when set, is written either way, as the CLI writes it.
#[pyfunction]
#[pyo3(signature = (settings_json, config=None))]
fn run(py: Python<'_>, settings_json: &str, config: Option<&str>) -> PyResult<String> {
    let started = Instant::now();
    let (merged, job) = job(settings_json, config).map_err(|e| to_pyerr(&e))?;
    // Checked as the CLI checks them; `result_format` and `log_format` mean nothing here
    // (the result is the return value, and the run logs nothing), `metrics_file` is honoured.
    let reporting = merged
        .reporting()
        .map_err(|e| to_pyerr(&anyhow::Error::new(e)))?;
    let cancel = CancelToken::new();
    let token = cancel.clone();
    let job_for_run = job.clone();
    let rx = spawn("ocpagg-run", move || {
        ocpagg_cli::run_with(&job_for_run, &token)
    })?;
    let (outcome, raised) = match wait(py, &rx, Some(&cancel)) {
        Waited::Done(outcome) => (outcome, None),
        Waited::Lost => (Err(anyhow::anyhow!("the ocpagg-run thread panicked")), None),
        Waited::Raised(raised, ended) => {
            let stopped = match ended {
                Some(Ok(report)) => Ok(report), // it had finished: the rows are in place
                _ => Err(anyhow::Error::new(ocpagg_cli::interrupt::Cancelled)),
            };
            (stopped, Some(raised))
        }
    };
    let result = RunResult::new(
        Some(&merged),
        Some(&job),
        outcome.as_ref().map_err(|e| (e, exit_code(e))),
        started.elapsed(),
    );
    if let Some(path) = &reporting.metrics_file {
        // As in the CLI, a metrics file that cannot be written does not fail the run.
        let _ = result.write_metrics(path);
    }
    if let Some(raised) = raised {
        return Err(raised);
    }
    match outcome {
        Ok(_) => Ok(result.to_json()),
        Err(e) => {
            let err = to_pyerr(&e);
            err.value(py).setattr("result", result.to_json())?;
            Err(err)
        }
    }
}

/// Runs the preflight checks; returns `{"ready", "checks"}` as JSON text.
#[pyfunction]
#[pyo3(signature = (settings_json, config=None))]
fn preflight(py: Python<'_>, settings_json: &str, config: Option<&str>) -> PyResult<String> {
    let (_, job) = job(settings_json, config).map_err(|e| to_pyerr(&e))?;
    on_thread(py, "ocpagg-preflight", move || {
        Ok(ocpagg_cli::preflight::preflight(&job).render_json())
    })
}

/// What an incremental run would do, from the listing and the state alone (`ocpagg status`);
/// returns the report as JSON text (`--format json`).
#[pyfunction]
#[pyo3(signature = (settings_json, config=None))]
fn status(py: Python<'_>, settings_json: &str, config: Option<&str>) -> PyResult<String> {
    let (_, job) = job(settings_json, config).map_err(|e| to_pyerr(&e))?;
    on_thread(py, "ocpagg-status", move || {
        let report = ocpagg_cli::pipeline::status(&job)?;
        Ok(serde_json::to_string(&report)?)
    })
}

/// A list setting of `validate`: an array, or one comma-separated string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum List {
    Text(String),
    Items(Vec<String>),
}

impl List {
    /// The items, trimmed, empty ones dropped.
    fn items(&self) -> Vec<String> {
        let raw: Vec<&str> = match self {
            List::Text(s) => s.split(',').collect(),
            List::Items(v) => v.iter().map(String::as_str).collect(),
        };
        raw.into_iter()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }
}

/// The settings of `validate`: the keys of `ocpagg validate`'s flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateSettings {
    scenario: Option<String>,
    against: Option<String>,
    schema: Option<String>,
    source: Option<String>,
    start_date: Option<chrono::NaiveDate>,
    end_date: Option<chrono::NaiveDate>,
    tolerance: Option<f64>,
    enabled_keys: Option<List>,
    cost_category: Option<List>,
    node_role: Option<List>,
}

const VALIDATE_KEYS: &[&str] = &[
    "scenario",
    "against",
    "schema",
    "source",
    "start_date",
    "end_date",
    "tolerance",
    "enabled_keys",
    "cost_category",
    "node_role",
];

/// Compares a run's output with a scenario's expected summary; returns the CLI's
/// `--format json` object as JSON text (failed checks are in it, not raised).
#[pyfunction]
fn validate(py: Python<'_>, settings_json: &str) -> PyResult<String> {
    let s: ValidateSettings = settings(settings_json, VALIDATE_KEYS).map_err(|e| to_pyerr(&e))?;
    let need = |v: Option<String>, key: &str| {
        v.ok_or_else(|| to_pyerr(&usage(format!("missing setting `{key}`"))))
    };
    let args = ocpagg_cli::validate::ValidateArgs {
        scenario: need(s.scenario, "scenario")?.into(),
        against: need(s.against, "against")?,
        schema: s.schema,
        source: s.source,
        start_date: s.start_date,
        end_date: s.end_date,
        tolerance: s.tolerance.unwrap_or(1e-6),
        format: "json".into(),
        enabled_keys: s.enabled_keys.map(|l| l.items().join(",")),
        cost_category: s.cost_category.map(|l| l.items()).unwrap_or_default(),
        node_role: s.node_role.map(|l| l.items()).unwrap_or_default(),
    };
    on_thread(py, "ocpagg-validate", move || {
        let comparison = ocpagg_cli::validate::compare(&args)?;
        if comparison.checks.is_empty() {
            return Err(ocpagg_cli::validate::nothing_to_compare());
        }
        let mut value = ocpagg_validator::render_json(&comparison);
        if let Value::Object(map) = &mut value {
            map.insert("ok".into(), json!(comparison.failed() == 0));
        }
        Ok(value.to_string())
    })
}

/// The native module.
#[pymodule]
fn _ocpagg(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("DatabaseError", py.get_type::<DatabaseError>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    m.add("SETTINGS", keys())?;
    m.add("VALIDATE_SETTINGS", VALIDATE_KEYS.to_vec())?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(preflight, m)?)?;
    m.add_function(wrap_pyfunction!(status, m)?)?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    Ok(())
}
