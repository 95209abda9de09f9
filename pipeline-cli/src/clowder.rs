//! koku's pod settings under Clowder: the JSON file named by `ACG_CONFIG`
//! (`cdappconfig.json`). Its database and object store fill in whatever the flags, the
//! `OCPAGG_*` variables, the `PG*` / `AWS_*` variables and the config file leave unset; all of
//! those win over it. As koku does (`koku/configurator.py`, `koku/database.py`):
//!
//! - the database is `database.hostname/port/name/username/password`; with `database.rdsCa`
//!   the connection uses `sslmode=verify-full` and trusts that CA (else `database.sslMode`,
//!   else libpq's default);
//! - the warehouse is the bucket koku requests (`REQUESTED_BUCKET`, default `koku-report`):
//!   the `objectStore.buckets[]` entry of that `requestedName`, with its keys and region (else
//!   the first bucket's keys, else `objectStore.accessKey/secretKey`), at
//!   `http[s]://objectStore.hostname[:port]` (`objectStore.tls`).
//!
//! Nothing read from the file is ever printed: parse errors name the file, a line and a
//! column, not the text there.

use std::path::Path;

use ocpagg_reader::S3Defaults;
use serde::Deserialize;

use crate::config::{RunConfig, UsageError};

/// The parts of `cdappconfig.json` a run uses (Clowder writes many more).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AppConfig {
    database: Option<Database>,
    object_store: Option<ObjectStore>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Database {
    hostname: Option<String>,
    port: Option<u16>,
    name: Option<String>,
    username: Option<String>,
    password: Option<String>,
    ssl_mode: Option<String>,
    rds_ca: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectStore {
    hostname: Option<String>,
    port: Option<u16>,
    tls: Option<Flag>,
    #[serde(default)]
    buckets: Vec<Bucket>,
    access_key: Option<String>,
    secret_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bucket {
    name: String,
    requested_name: Option<String>,
    access_key: Option<String>,
    secret_key: Option<String>,
    region: Option<String>,
}

/// `tls`: a boolean, or the strings `"true"`/`"false"` (koku accepts both).
#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
}

impl Flag {
    fn on(&self) -> bool {
        match self {
            Flag::Bool(b) => *b,
            Flag::Text(t) => t.eq_ignore_ascii_case("true"),
        }
    }
}

/// The Clowder settings of a run: what [`fill`] took from `ACG_CONFIG`.
#[derive(Clone, Default, PartialEq)]
pub struct ClowderSettings {
    /// `database.rdsCa`: the CA the database connection trusts (with `verify-full`).
    pub database_ca: Option<String>,
    /// Endpoint, keys and region of the object store.
    pub s3: S3Defaults,
}

impl std::fmt::Debug for ClowderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClowderSettings")
            .field("database_ca", &self.database_ca.as_ref().map(|_| "PEM"))
            .field("s3", &self.s3)
            .finish()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Fills `config`'s unset `output` and `warehouse` from the file `ACG_CONFIG` names, if it
/// is set; records the CA and the S3 defaults in `config.clowder`.
pub fn fill(config: &mut RunConfig) -> Result<(), UsageError> {
    let Some(path) = env("ACG_CONFIG") else {
        return Ok(());
    };
    let app = read(Path::new(&path))?;
    let mut clowder = ClowderSettings::default();
    if let Some(db) = app.database.filter(|_| config.output.is_none()) {
        let (conninfo, ca) = database(&db);
        config.output = Some(conninfo);
        clowder.database_ca = ca;
    }
    if let Some(store) = app.object_store {
        let requested = env("REQUESTED_BUCKET").unwrap_or_else(|| "koku-report".into());
        let bucket = store
            .buckets
            .iter()
            .find(|b| b.requested_name.as_deref() == Some(requested.as_str()));
        if config.warehouse.is_none() {
            let name = bucket.map_or(requested.as_str(), |b| b.name.as_str());
            config.warehouse = Some(format!("s3://{name}"));
        }
        let first = store.buckets.first();
        let key =
            |own: Option<&Option<String>>, first: Option<&Option<String>>, top: &Option<String>| {
                own.and_then(Option::clone)
                    .or_else(|| first.and_then(Option::clone))
                    .or_else(|| top.clone())
            };
        let tls = store.tls.as_ref().is_some_and(Flag::on);
        clowder.s3 = S3Defaults {
            endpoint: store.hostname.as_ref().map(|host| {
                let scheme = if tls { "https" } else { "http" };
                match store.port {
                    Some(port) if port != 0 => format!("{scheme}://{host}:{port}"),
                    _ => format!("{scheme}://{host}"),
                }
            }),
            region: bucket.and_then(|b| b.region.clone()),
            access_key_id: key(
                bucket.map(|b| &b.access_key),
                first.map(|b| &b.access_key),
                &store.access_key,
            ),
            secret_access_key: key(
                bucket.map(|b| &b.secret_key),
                first.map(|b| &b.secret_key),
                &store.secret_key,
            ),
            allow_http: Some(!tls),
        };
    }
    config.clowder = Some(clowder);
    Ok(())
}

fn read(path: &Path) -> Result<AppConfig, UsageError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("ACG_CONFIG {shown}: cannot read it: {e}")))?;
    serde_json::from_str(&text).map_err(|e| {
        // serde_json's message may quote the value it refused (a password, a key): only its
        // kind and position are shown.
        let kind = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "not valid JSON"
            }
            _ => "a setting has the wrong type (e.g. a port that is not a number)",
        };
        UsageError(format!(
            "ACG_CONFIG {shown}: {kind} at line {} column {}",
            e.line(),
            e.column()
        ))
    })
}

/// A libpq `key=value` connection string of the settings the `PG*` variables leave unset
/// (they win, as they would over any setting in libpq), and the CA if `rdsCa` is given.
fn database(db: &Database) -> (String, Option<String>) {
    let mut pairs = Vec::new();
    let mut add = |key: &str, vars: &[&str], value: Option<String>| {
        if let Some(value) = value.filter(|_| vars.iter().all(|v| env(v).is_none())) {
            pairs.push(format!("{key}={}", quote(&value)));
        }
    };
    add("host", &["PGHOST", "PGHOSTADDR"], db.hostname.clone());
    add("port", &["PGPORT"], db.port.map(|p| p.to_string()));
    add("dbname", &["PGDATABASE"], db.name.clone());
    add("user", &["PGUSER"], db.username.clone());
    add("password", &["PGPASSWORD"], db.password.clone());
    let ca = db.rds_ca.clone().filter(|c| !c.trim().is_empty());
    if ca.is_none() {
        add("sslmode", &["PGSSLMODE"], db.ssl_mode.clone());
    }
    (pairs.join(" "), ca)
}

/// A libpq value in single quotes, `\` and `'` escaped.
fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', r"\\").replace('\'', r"\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_for_libpq() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote(r"it's\x"), r"'it\'s\\x'");
    }

    #[test]
    fn parse_errors_never_quote_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdappconfig.json");
        std::fs::write(
            &path,
            r#"{"database": {"password": "hunter2", "port": "not-a-port-hunter2"}}"#,
        )
        .unwrap();
        let e = read(&path).err().unwrap().0;
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.contains("line 1"), "{e}");
    }
}
