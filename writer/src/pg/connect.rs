//! Connection strings the way libpq reads them: a `postgresql://` URL or `key=value` pairs,
//! with the `PG*` environment variables filling in whatever the string leaves out.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use postgres::config::{Host, SslMode};
use postgres::{Client, Config, NoTls};

use crate::{Result, WriteError};

/// Whether an output setting names a database rather than a file: a `postgres://` or
/// `postgresql://` URL, or libpq `key=value` pairs (`host=db dbname=koku`).
pub fn is_connection_string(s: &str) -> bool {
    let s = s.trim_start();
    s.starts_with("postgres://")
        || s.starts_with("postgresql://")
        || s.split_whitespace()
            .next()
            .and_then(|w| w.split_once('='))
            .is_some_and(|(k, _)| {
                matches!(
                    k,
                    "host"
                        | "hostaddr"
                        | "port"
                        | "dbname"
                        | "user"
                        | "password"
                        | "sslmode"
                        | "application_name"
                        | "connect_timeout"
                        | "options"
                )
            })
}

/// A PostgreSQL server to connect to. Its [`std::fmt::Display`] never shows the password.
#[derive(Clone)]
pub struct PgTarget {
    config: Config,
    shown: String,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PgTarget").field(&self.shown).finish()
    }
}

impl std::fmt::Display for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Reads one environment variable, ignoring empty values as libpq does.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl PgTarget {
    /// Parses a connection string (URL or `key=value`); settings it lacks come from `PGHOST`,
    /// `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, `PGAPPNAME`,
    /// `PGCONNECT_TIMEOUT` and `PGOPTIONS`, then libpq's defaults (the local socket directory
    /// or `localhost`, port 5432, the OS user, a database named like the user).
    ///
    /// `sslmode` accepts `disable`, `prefer` (the default) and `require`; TLS is not built in
    /// yet, so `prefer` connects without it and `require` is refused with a clear error.
    pub fn parse(conn: &str) -> Result<Self> {
        let invalid = |reason: String| WriteError::InvalidTarget {
            path: "the database connection string".into(),
            reason,
        };
        // An empty URL (`postgresql://`) means "everything from the environment".
        let text = conn.trim();
        let mut config = if text == "postgresql://" || text == "postgres://" || text.is_empty() {
            Config::new()
        } else {
            // The parser's messages name the option, never its value: safe to show.
            Config::from_str(text).map_err(|e| invalid(format!("cannot parse it: {e}")))?
        };
        let has = |key: &str| {
            text.split(|c: char| c.is_whitespace() || c == '?' || c == '&')
                .any(|part| part.starts_with(&format!("{key}=")))
        };
        if config.get_hosts().is_empty() {
            match env("PGHOST") {
                Some(h) => {
                    for host in h.split(',') {
                        config.host(host);
                    }
                }
                None => {
                    let socket = Path::new("/var/run/postgresql");
                    if socket.is_dir() {
                        config.host_path(socket);
                    } else {
                        config.host("localhost");
                    }
                }
            }
        }
        if config.get_ports().is_empty() {
            if let Some(p) = env("PGPORT") {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| invalid(format!("PGPORT={p:?} is not a port number")))?;
                config.port(port);
            }
        }
        if config.get_user().is_none() {
            let user = env("PGUSER")
                .or_else(|| env("USER"))
                .unwrap_or_else(|| "postgres".into());
            config.user(&user);
        }
        if config.get_password().is_none() {
            if let Some(p) = env("PGPASSWORD") {
                config.password(p);
            }
        }
        if config.get_dbname().is_none() {
            let db = env("PGDATABASE").unwrap_or_else(|| config.get_user().unwrap_or("").into());
            config.dbname(&db);
        }
        if !has("sslmode") {
            if let Some(mode) = env("PGSSLMODE") {
                config.ssl_mode(match mode.as_str() {
                    "disable" => SslMode::Disable,
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" | "verify-ca" | "verify-full" => SslMode::Require,
                    other => return Err(invalid(format!("PGSSLMODE={other:?} is not an sslmode"))),
                });
            }
        }
        if config.get_application_name().is_none() {
            config.application_name(&env("PGAPPNAME").unwrap_or_else(|| "ocpagg".into()));
        }
        if config.get_connect_timeout().is_none() {
            let secs = env("PGCONNECT_TIMEOUT")
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(10);
            config.connect_timeout(Duration::from_secs(secs.max(2)));
        }
        if config.get_options().is_none() {
            if let Some(o) = env("PGOPTIONS") {
                config.options(&o);
            }
        }
        if config.get_ssl_mode() == SslMode::Require {
            return Err(invalid(
                "sslmode=require: this build of ocpagg has no TLS support; use sslmode=disable or prefer, \
                 or a TLS-terminating proxy"
                    .into(),
            ));
        }
        let shown = describe(&config);
        Ok(Self { config, shown })
    }

    /// Opens a connection.
    pub fn connect(&self) -> Result<Client> {
        self.config
            .connect(NoTls)
            .map_err(|source| WriteError::Database {
                target: self.shown.clone(),
                action: "cannot connect".into(),
                source,
            })
    }
}

/// `postgresql://user@host:port/db`, without the password.
fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config
        .get_ports()
        .first()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    format!(
        "postgresql://{}@{}{}/{}",
        config.get_user().unwrap_or(""),
        hosts.join(","),
        port,
        config.get_dbname().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_connection_strings() {
        assert!(is_connection_string("postgresql://u@h/db"));
        assert!(is_connection_string("postgres://h"));
        assert!(is_connection_string("host=h dbname=koku"));
        assert!(!is_connection_string("summary.parquet"));
        assert!(!is_connection_string("out/a=b.csv"));
    }

    #[test]
    fn display_hides_the_password() {
        let t = PgTarget::parse("postgresql://koku:s3cret@db.example:5433/koku").unwrap();
        assert_eq!(t.to_string(), "postgresql://koku@db.example:5433/koku");
        assert!(!format!("{t:?}").contains("s3cret"));
        let t = PgTarget::parse("host=db.example port=5433 user=koku password=s3cret dbname=x")
            .unwrap();
        assert_eq!(t.to_string(), "postgresql://koku@db.example:5433/x");
    }

    #[test]
    fn bad_strings_are_errors_without_secrets() {
        let e = PgTarget::parse("postgresql://koku:s3cret@db.example:notaport/koku")
            .unwrap_err()
            .to_string();
        assert!(e.contains("connection string"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let e = PgTarget::parse("host=h sslmode=require")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sslmode=require"), "{e}");
    }
}
