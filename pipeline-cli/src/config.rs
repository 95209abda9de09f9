//! Run configuration: one set of keys, from (in rising priority) a TOML file, `OCPAGG_*`
//! environment variables, and command-line flags. All figment use is kept in this file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use chrono::{Datelike, NaiveDate};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use ocpagg_aggregate::{CostCategory, LikePattern, RunInfo, SideInputs};
use ocpagg_labels::EnabledKeys;
use serde::{Deserialize, Serialize};

/// A list setting (`enabled_keys`, `cost_category`, `node_role`): a TOML array, or one
/// comma-separated string (as environment variables give it); flags are repeatable or
/// comma-separated. Items are split on commas and trimmed; empty ones are dropped.
pub fn items(list: &Option<Vec<String>>) -> Vec<String> {
    list.iter()
        .flatten()
        .flat_map(|item| item.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Deserialises a list setting from a string or an array of strings.
fn list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Text(String),
        Items(Vec<String>),
    }
    Ok(Some(match Form::deserialize(d)? {
        Form::Text(s) => vec![s],
        Form::Items(v) => v,
    }))
}

/// Every setting of `ocpagg run`. Field names are the TOML keys, the environment variables
/// (upper-cased, prefixed `OCPAGG_`) and the flags (with `-` for `_`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Warehouse root: a path, `file://` URL or `s3://bucket/prefix`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub warehouse: Option<String>,
    /// Org (tenant schema), e.g. `org1234567`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub org: Option<String>,
    /// Source UUID.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub source: Option<String>,
    /// Year.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub year: Option<i32>,
    /// Month, 1..=12.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub month: Option<u32>,
    /// First day (default: the 1st of the month).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, value_parser = parse_date)]
    pub start_date: Option<NaiveDate>,
    /// Last day, inclusive (default: the last day of the month).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, value_parser = parse_date)]
    pub end_date: Option<NaiveDate>,
    /// Cluster id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub cluster_id: Option<String>,
    /// Cluster alias (default: the cluster id).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub cluster_alias: Option<String>,
    /// koku's report period id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub report_period_id: Option<i32>,
    /// Enabled label keys (`*` for all); `vm_kubevirt_io_name` is always enabled.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    #[arg(long, value_delimiter = ',')]
    pub enabled_keys: Option<Vec<String>>,
    /// Cost categories as `PATTERN=ID` (SQL LIKE pattern on the namespace).
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    #[arg(long, action = clap::ArgAction::Append)]
    pub cost_category: Option<Vec<String>>,
    /// Node roles as `NODE=ROLE`.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    #[arg(long, action = clap::ArgAction::Append)]
    pub node_role: Option<Vec<String>>,
    /// Output: a `.parquet` or `.csv` path, or a PostgreSQL connection string (URL or
    /// libpq `key=value` pairs).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub output: Option<String>,
    /// koku's Hive table location (a path, `file://` URL or `s3://bucket/prefix`): each day's
    /// rows are also written there as Parquet, partitioned as koku's Trino SQL does.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub hive_output: Option<String>,
    /// PostgreSQL schema of koku's tables (default: the org).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub schema: Option<String>,
    /// PostgreSQL COPY format: `binary` (default) or `text`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub copy_format: Option<String>,
    /// Worker threads (default: the number of CPUs).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub threads: Option<usize>,
    /// Rows per record batch read from Parquet (default 65536).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// No progress output, warnings and errors only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[arg(long, short)]
    pub quiet: bool,
    /// Re-summarise only the days whose files changed since the state recorded with the
    /// output (PostgreSQL or Parquet); nothing changed: nothing is read or written.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[arg(long)]
    pub incremental: bool,
    /// S3: retries of a failed request or body read (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, help_heading = "S3")]
    pub s3_max_retries: Option<usize>,
    /// S3: seconds after which an operation is no longer retried (default 180).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, help_heading = "S3")]
    pub s3_retry_timeout: Option<f64>,
    /// S3: first backoff between retries in seconds, doubled up to 15 s (default 0.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, help_heading = "S3")]
    pub s3_initial_backoff: Option<f64>,
    /// S3: timeout of one request, body included, in seconds (default 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, help_heading = "S3")]
    pub s3_request_timeout: Option<f64>,
    /// S3: connect timeout in seconds (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, help_heading = "S3")]
    pub s3_connect_timeout: Option<f64>,
    /// S3: requests in flight at most (default 32).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, help_heading = "S3")]
    pub s3_concurrency: Option<usize>,
    /// S3: MiB fetched ahead of the decoders at most (default 16).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, help_heading = "S3")]
    pub s3_read_ahead_mib: Option<u64>,
    /// S3: files up to this many MiB are fetched whole, larger ones by column ranges
    /// (default 8).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, help_heading = "S3")]
    pub s3_whole_file_mib: Option<u64>,
    /// The end-of-run result: `text` (a human summary on stderr, the default) or `json` (one
    /// JSON object on stdout; the summary still on stderr).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, help_heading = "Reporting", value_parser = ["text", "json"])]
    pub result_format: Option<String>,
    /// Log lines on stderr: `text` (the default) or `json` (one JSON object per line).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, help_heading = "Reporting", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// An id added to every JSON log line (koku's `tracing_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, help_heading = "Reporting")]
    pub tracing_id: Option<String>,
    /// Write the run's figures to this file in Prometheus' text format at the end of the
    /// run, failed or not (node_exporter's textfile collector).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, help_heading = "Reporting")]
    pub metrics_file: Option<std::path::PathBuf>,
    /// What koku's Clowder configuration (`ACG_CONFIG`) supplied beyond `output` and
    /// `warehouse`: the database CA and the object store's endpoint and keys. Set by
    /// [`RunConfig::load`]; not a key.
    #[serde(skip)]
    #[arg(skip)]
    pub clowder: Option<crate::clowder::ClowderSettings>,
}

/// Every key of [`RunConfig`]: its fields, as clap and serde both name them.
pub fn keys() -> Vec<String> {
    use clap::Args as _;
    RunConfig::augment_args(clap::Command::new("ocpagg"))
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect()
}

/// How a run reports: its result, its log lines and its metrics.
#[derive(Debug, Clone, Default)]
pub struct Reporting {
    /// Print the result as JSON on stdout.
    pub json_result: bool,
    /// Log line format.
    pub log_format: crate::logging::LogFormat,
    /// koku's tracing id, on every JSON log line.
    pub tracing_id: Option<String>,
    /// Where to write the Prometheus metrics.
    pub metrics_file: Option<std::path::PathBuf>,
}

/// A configuration error: the user must fix a setting (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl RunConfig {
    /// Merges the config file (if any), `OCPAGG_*` environment variables and `flags`, in
    /// rising priority.
    pub fn load(file: Option<&Path>, flags: &RunConfig) -> Result<RunConfig, UsageError> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            if !file.is_file() {
                return Err(UsageError(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        let mut config: RunConfig = figment
            // Only our keys: other OCPAGG_* variables (OCPAGG_LOG, test settings) are not settings.
            .merge(
                Env::prefixed("OCPAGG_")
                    .only(&keys().iter().map(String::as_str).collect::<Vec<_>>()),
            )
            .merge(Serialized::defaults(flags))
            .extract()
            .map_err(|e| UsageError(format!("invalid configuration: {e}")))?;
        // Lowest of all: what Clowder's file says.
        crate::clowder::fill(&mut config)?;
        Ok(config)
    }

    /// How the run reports (checked apart from the rest, so that a run with a bad setting
    /// still reports it as asked).
    pub fn reporting(&self) -> Result<Reporting, UsageError> {
        let json_result = match self.result_format.as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(UsageError(format!(
                    "setting `result_format`: {other:?} is not text or json"
                )))
            }
        };
        let log_format = match self.log_format.as_deref() {
            None => crate::logging::LogFormat::Text,
            Some(text) => crate::logging::LogFormat::parse(text).ok_or_else(|| {
                UsageError(format!(
                    "setting `log_format`: {text:?} is not text or json"
                ))
            })?,
        };
        if let Some(id) = &self.tracing_id {
            if id.len() > 256 || id.chars().any(char::is_control) {
                return Err(UsageError(
                    "setting `tracing_id`: at most 256 characters, no control characters".into(),
                ));
            }
        }
        if let Some(path) = &self.metrics_file {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            if path.is_dir() || dir.is_some_and(|d| !d.is_dir()) {
                return Err(UsageError(format!(
                    "setting `metrics_file`: {} is not a file in an existing directory",
                    path.display()
                )));
            }
        }
        Ok(Reporting {
            json_result,
            log_format,
            tracing_id: self.tracing_id.clone(),
            metrics_file: self.metrics_file.clone(),
        })
    }

    /// Checks the settings and resolves defaults into a [`Job`].
    pub fn resolve(&self) -> Result<Job, UsageError> {
        fn need<T: Clone>(v: &Option<T>, key: &str) -> Result<T, UsageError> {
            v.clone().ok_or_else(|| {
                UsageError(format!(
                    "missing setting `{key}` (flag --{}, environment OCPAGG_{}, or `{key}` in the config file)",
                    key.replace('_', "-"),
                    key.to_uppercase()
                ))
            })
        }
        let warehouse = need(&self.warehouse, "warehouse")?;
        let org = need(&self.org, "org")?;
        let source = need(&self.source, "source")?;
        let year = need(&self.year, "year")?;
        let month = need(&self.month, "month")?;
        check_org(&org)?;
        check_source(&source)?;
        check_month(year, month)?;
        let output = need(&self.output, "output")?;
        // A database run takes the cluster from koku's report period when not given.
        let cluster_id = if ocpagg_writer::pg::is_connection_string(&output) {
            self.cluster_id.clone().unwrap_or_default()
        } else {
            need(&self.cluster_id, "cluster_id")?
        };
        let output = if ocpagg_writer::pg::is_connection_string(&output) {
            let mut target = ocpagg_writer::PgTarget::parse(&output)
                .map_err(|e| UsageError(format!("setting `output`: {e}")))?;
            if let Some(ca) = self.clowder.as_ref().and_then(|c| c.database_ca.as_ref()) {
                target = target
                    .with_root_cert_pem(
                        ca,
                        "ACG_CONFIG database.rdsCa",
                        ocpagg_writer::pg::SslMode::VerifyFull,
                    )
                    .map_err(|e| UsageError(format!("setting `output` (from ACG_CONFIG): {e}")))?;
            }
            let copy_format = match self.copy_format.as_deref() {
                None | Some("binary") => ocpagg_writer::CopyFormat::Binary,
                Some("text") => ocpagg_writer::CopyFormat::Text,
                Some(other) => {
                    return Err(UsageError(format!(
                        "setting `copy_format`: {other:?} is not binary or text"
                    )))
                }
            };
            if uuid::Uuid::parse_str(&source).is_err() {
                return Err(UsageError(format!(
                    "setting `source`: {source:?} is not a UUID (koku's source_uuid column is a uuid)"
                )));
            }
            Output::Postgres {
                target: Box::new(target),
                schema: self.schema.clone().unwrap_or_else(|| org.clone()),
                copy_format,
            }
        } else {
            if ocpagg_writer::FileFormat::from_path(Path::new(&output)).is_none() {
                return Err(UsageError(format!(
                    "setting `output`: {:?} is neither a .parquet or .csv path nor a postgresql:// connection string",
                    ocpagg_writer::pg::redact(&output)
                )));
            }
            Output::File(output)
        };
        let hive_output = match self.hive_output.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) if url.contains("://") && !["s3://", "s3a://", "file://"].iter().any(|p| url.starts_with(p)) => {
                return Err(UsageError(format!(
                    "setting `hive_output`: {url:?} is neither a path, a file:// URL nor s3://bucket/prefix"
                )))
            }
            Some(url) => Some(url.to_string()),
        };
        let first = NaiveDate::from_ymd_opt(year, month, 1)
            .ok_or_else(|| UsageError(format!("invalid year/month {year}-{month}")))?;
        let last = last_day_of_month(first);
        let start = self.start_date.unwrap_or(first);
        let end = self.end_date.unwrap_or(last);
        for (key, d) in [("start_date", start), ("end_date", end)] {
            if d.year() != year || d.month() != month {
                return Err(UsageError(format!(
                    "setting `{key}` = {d} is outside {year}-{month:02}: a run covers one month"
                )));
            }
        }
        if start > end {
            return Err(UsageError(format!(
                "start_date {start} is after end_date {end}"
            )));
        }
        let enabled_keys = match &self.enabled_keys {
            None => EnabledKeys::default(),
            Some(_) => {
                let items = items(&self.enabled_keys);
                if items.iter().any(|k| k == "*") {
                    EnabledKeys::All
                } else {
                    EnabledKeys::only(items)
                }
            }
        };
        let mut cost_categories = Vec::new();
        for item in items(&self.cost_category) {
            let (pattern, id) = item.rsplit_once('=').ok_or_else(|| {
                UsageError(format!(
                    "setting `cost_category`: {item:?} is not PATTERN=ID"
                ))
            })?;
            let id: i32 = id.trim().parse().map_err(|_| {
                UsageError(format!(
                    "setting `cost_category`: id {id:?} in {item:?} is not an integer"
                ))
            })?;
            cost_categories.push(CostCategory {
                pattern: LikePattern::new(pattern.trim()),
                id,
            });
        }
        let mut node_roles = BTreeMap::new();
        for item in items(&self.node_role) {
            let (node, role) = item.split_once('=').ok_or_else(|| {
                UsageError(format!("setting `node_role`: {item:?} is not NODE=ROLE"))
            })?;
            node_roles.insert(node.trim().to_string(), role.trim().to_string());
        }
        let threads = match self.threads {
            Some(0) => return Err(UsageError("setting `threads` must be at least 1".into())),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let batch_size = match self.batch_size {
            Some(0) => return Err(UsageError("setting `batch_size` must be at least 1".into())),
            Some(n) => n,
            None => 65_536,
        };
        let store = self.store_options()?;
        Ok(Job {
            store,
            warehouse,
            request: ocpagg_reader::ScanRequest {
                org,
                source: source.clone(),
                year,
                month,
            },
            run: RunInfo {
                source_uuid: source,
                cluster_alias: self
                    .cluster_alias
                    .clone()
                    .unwrap_or_else(|| cluster_id.clone()),
                cluster_id,
                report_period_id: self.report_period_id,
                start,
                end,
            },
            explicit: Explicit {
                enabled_keys: self.enabled_keys.is_some(),
                cost_categories: self.cost_category.is_some(),
                cluster_id: self.cluster_id.is_some(),
                cluster_alias: self.cluster_alias.is_some(),
            },
            side: SideInputs {
                enabled_keys,
                cost_categories,
                node_roles,
                ..SideInputs::default()
            },
            output,
            hive_output,
            threads,
            batch_size,
            quiet: self.quiet,
            incremental: self.incremental,
        })
    }
}

/// The years a run may name: koku's data starts in 2018; four digits keep every date of
/// the month (and of the next) representable.
pub const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// Checks an org: it names a directory of the warehouse (`{org}/...`) and a PostgreSQL
/// schema, so only letters, digits and `_`, at most 63 (koku: `org1234567`, `acct12345`).
pub fn check_org(org: &str) -> Result<(), UsageError> {
    if !org.is_empty()
        && org.len() <= 63
        && org.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(())
    } else {
        Err(UsageError(format!(
            "setting `org`: {org:?} is not a koku org (letters, digits and _, at most 63, e.g. org1234567)"
        )))
    }
}

/// Checks a source: it names a directory of the warehouse (`source={source}`), so letters,
/// digits, `-` and `_` only (koku's sources are UUIDs).
pub fn check_source(source: &str) -> Result<(), UsageError> {
    if !source.is_empty()
        && source.len() <= 100
        && source
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && source
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(UsageError(format!(
            "setting `source`: {source:?} is not a koku source (a UUID; letters, digits, - and _)"
        )))
    }
}

/// Checks a year and month.
pub fn check_month(year: i32, month: u32) -> Result<(), UsageError> {
    if !YEARS.contains(&year) {
        return Err(UsageError(format!(
            "setting `year`: {year} is outside {}..={}",
            YEARS.start(),
            YEARS.end()
        )));
    }
    if !(1..=12).contains(&month) {
        return Err(UsageError(format!("setting `month`: {month} is not 1-12")));
    }
    Ok(())
}

impl RunConfig {
    /// The S3 settings, defaults filled in.
    fn store_options(&self) -> Result<ocpagg_reader::StoreOptions, UsageError> {
        let mut o = ocpagg_reader::StoreOptions::default();
        if let Some(clowder) = &self.clowder {
            o.defaults = clowder.s3.clone();
        }
        let secs = |v: Option<f64>, key: &str, default: std::time::Duration| match v {
            None => Ok(default),
            Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
                Ok(std::time::Duration::from_secs_f64(s))
            }
            Some(s) => Err(UsageError(format!(
                "setting `{key}` = {s}: expected seconds, more than 0 and at most 86400"
            ))),
        };
        let positive = |v: Option<u64>, key: &str, default: u64| match v {
            None => Ok(default),
            Some(0) => Err(UsageError(format!("setting `{key}` must be at least 1"))),
            Some(n) => Ok(n),
        };
        let mib = |v: Option<u64>, key: &str, default: u64| -> Result<u64, UsageError> {
            let n = positive(v, key, default >> 20)?;
            n.checked_mul(1 << 20)
                .filter(|&b| b <= 1 << 40)
                .ok_or_else(|| UsageError(format!("setting `{key}` = {n} MiB is too large")))
        };
        if let Some(n) = self.s3_max_retries {
            o.max_retries = n;
        }
        o.retry_timeout = secs(self.s3_retry_timeout, "s3_retry_timeout", o.retry_timeout)?;
        o.initial_backoff = secs(
            self.s3_initial_backoff,
            "s3_initial_backoff",
            o.initial_backoff,
        )?;
        o.request_timeout = secs(
            self.s3_request_timeout,
            "s3_request_timeout",
            o.request_timeout,
        )?;
        o.connect_timeout = secs(
            self.s3_connect_timeout,
            "s3_connect_timeout",
            o.connect_timeout,
        )?;
        o.concurrency = positive(
            self.s3_concurrency.map(|n| n as u64),
            "s3_concurrency",
            o.concurrency as u64,
        )?
        .min(1024) as usize;
        o.read_ahead_bytes = mib(
            self.s3_read_ahead_mib,
            "s3_read_ahead_mib",
            o.read_ahead_bytes,
        )?;
        // 0 is allowed here: every file is then read by column ranges.
        o.whole_file_bytes = match self.s3_whole_file_mib {
            Some(0) => 0,
            v => mib(v, "s3_whole_file_mib", o.whole_file_bytes)?,
        };
        Ok(o)
    }
}

/// The last day of `first`'s month.
pub fn last_day_of_month(first: NaiveDate) -> NaiveDate {
    let (y, m) = if first.month() == 12 {
        (first.year() + 1, 1)
    } else {
        (first.year(), first.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .expect("valid date")
        .pred_opt()
        .expect("valid date")
}

/// Where a run's rows go.
#[derive(Debug, Clone)]
pub enum Output {
    /// A `.parquet` or `.csv` file.
    File(String),
    /// koku's summary table in a PostgreSQL schema.
    Postgres {
        /// The server (boxed: a parsed libpq config is large).
        target: Box<ocpagg_writer::PgTarget>,
        /// The tenant schema.
        schema: String,
        /// Binary or text COPY.
        copy_format: ocpagg_writer::CopyFormat,
    },
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::File(p) => f.write_str(p),
            Output::Postgres { target, schema, .. } => write!(f, "{target} schema {schema}"),
        }
    }
}

/// Which side inputs the configuration set explicitly: those override the database's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Explicit {
    /// `enabled_keys` was set.
    pub enabled_keys: bool,
    /// `cost_category` was set.
    pub cost_categories: bool,
    /// `cluster_id` was set (else a database run takes the report period's).
    pub cluster_id: bool,
    /// `cluster_alias` was set (else the report period's, or the cluster id).
    pub cluster_alias: bool,
}

/// A checked, fully resolved run.
#[derive(Debug, Clone)]
pub struct Job {
    /// Warehouse URL.
    pub warehouse: String,
    /// What to scan.
    pub request: ocpagg_reader::ScanRequest,
    /// The run's identity and date range.
    pub run: RunInfo,
    /// Side inputs from the configuration.
    pub side: SideInputs,
    /// Which of them were set explicitly (and so win over the database's).
    pub explicit: Explicit,
    /// Output target.
    pub output: Output,
    /// koku's Hive table location, when the Hive copy is written too.
    pub hive_output: Option<String>,
    /// Worker threads.
    pub threads: usize,
    /// Parquet read batch size.
    pub batch_size: usize,
    /// Silence progress.
    pub quiet: bool,
    /// Re-summarise only the affected days (issue #20).
    pub incremental: bool,
    /// S3 network settings (retries, timeouts, concurrency, read-ahead).
    pub store: ocpagg_reader::StoreOptions,
}

/// Parses `--start-date`-style values with a message naming the flag.
pub fn parse_date(s: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        settings: RunConfig,
    }

    fn flags(args: &[&str]) -> RunConfig {
        Flags::try_parse_from(std::iter::once("ocpagg").chain(args.iter().copied()))
            .map(|f| f.settings)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn one_definition_gives_flags_and_keys() {
        let keys = keys();
        for key in [
            "warehouse",
            "cost_category",
            "s3_whole_file_mib",
            "metrics_file",
            "quiet",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
        }
        assert!(!keys.iter().any(|k| k == "clowder"), "not a setting");
        // Every key serialises under its own name: a TOML file of every flag's value is read
        // back to the same settings.
        let given = flags(&[
            "--warehouse",
            "w",
            "--org",
            "o",
            "--year",
            "2025",
            "--month",
            "10",
            "--start-date",
            "2025-10-02",
            "--enabled-keys",
            "app, env",
            "--cost-category",
            "a%=1",
            "--cost-category",
            "b%=2",
            "--node-role",
            "n=infra",
            "--threads",
            "3",
            "--s3-retry-timeout",
            "1.5",
            "--quiet",
            "--log-format",
            "json",
        ]);
        assert_eq!(
            given.cost_category,
            Some(vec!["a%=1".into(), "b%=2".into()])
        );
        assert_eq!(items(&given.enabled_keys), ["app", "env"]);
        assert!(given.quiet);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ocpagg.toml");
        let toml: String = serde_json::to_value(&given)
            .unwrap()
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect();
        std::fs::write(&file, toml).unwrap();
        let loaded = RunConfig::load(Some(&file), &RunConfig::default()).unwrap();
        assert_eq!(loaded, given);
    }

    #[test]
    fn lists_are_strings_or_arrays() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ocpagg.toml");
        std::fs::write(
            &file,
            "enabled_keys = \"a, b\"\ncost_category = [\"x%=1\", \"y%=2\"]\n",
        )
        .unwrap();
        let loaded = RunConfig::load(Some(&file), &RunConfig::default()).unwrap();
        assert_eq!(items(&loaded.enabled_keys), ["a", "b"]);
        assert_eq!(items(&loaded.cost_category), ["x%=1", "y%=2"]);
        // A flag given wins over the file; an absent `--quiet` does not clear the file's.
        std::fs::write(&file, "quiet = true\nthreads = 2\n").unwrap();
        let loaded = RunConfig::load(Some(&file), &flags(&["--threads", "5"])).unwrap();
        assert_eq!(loaded.threads, Some(5));
        assert!(loaded.quiet);
    }
}
