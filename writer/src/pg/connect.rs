//! Connection strings the way libpq reads them: a `postgresql://` URL or `key=value` pairs,
//! with the `PG*` environment variables filling in whatever the string leaves out, and TLS
//! with libpq's `sslmode` meanings (see [`super::tls`]).
//!
//! The string is split here, not by `tokio-postgres`: the TLS keys (`sslmode`, `sslrootcert`,
//! `sslcert`, `sslkey`) are ours, every other key must be one `tokio-postgres` knows, and no
//! error message ever repeats a value or a word that might be part of one (a password with an
//! unquoted space would otherwise reappear as an "unknown option").

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use postgres::config::{Host, SslMode as WireMode};
use postgres::{Client, Config};

use super::tls::{MakeRustls, RootCert, SslMode, TlsSettings};
use crate::{Result, WriteError};

/// Keys `tokio-postgres` parses itself (passed through unchanged).
const PASSED_KEYS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "options",
    "application_name",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
    "sslnegotiation",
];

/// TLS keys, handled by [`super::tls`].
const TLS_KEYS: &[&str] = &["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// libpq keys this build does not support: named in the error (they are keywords, never
/// secrets), where an unknown word is not.
const UNSUPPORTED_KEYS: &[&str] = &[
    "passfile",
    "service",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "sslcompression",
    "sslcertmode",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "requiressl",
    "requirepeer",
    "require_auth",
    "gssencmode",
    "gsslib",
    "gssdelegation",
    "krbsrvname",
    "client_encoding",
    "fallback_application_name",
    "replication",
];

/// Whether an output setting names a database rather than a file: a `postgres://` or
/// `postgresql://` URL (or an SQLAlchemy-style `postgresql+driver://` one, which
/// [`PgTarget::parse`] then refuses with a clear message), or libpq `key=value` pairs
/// (`host=db dbname=koku`).
pub fn is_connection_string(s: &str) -> bool {
    let s = s.trim_start();
    url_scheme(s).is_some_and(|scheme| {
        let base = scheme.split('+').next().unwrap_or("");
        base == "postgres" || base == "postgresql"
    }) || s
        .split(|c: char| c.is_whitespace() || c == '=')
        .next()
        .is_some_and(|k| {
            (PASSED_KEYS.contains(&k) || TLS_KEYS.contains(&k))
                && s[k.len()..].trim_start().starts_with('=')
        })
}

/// The scheme of a URL (`postgresql+psycopg` of `postgresql+psycopg://...`): letters, digits,
/// `+`, `-` and `.` from the start up to `://`, as RFC 3986 has it; `None` for anything else
/// (a `key=value` string whose value happens to hold `://`).
fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    (chars.next()?.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// `text` with any password replaced by `***`: the `user:password@` of a URL and the value of
/// `password=` (plain, quoted or in a URL query). For echoing settings that failed to parse.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    let is_url = url_scheme(text).is_some();
    // URL userinfo: scheme://user:secret@host, the secret possibly holding `/`, `?` or `@`.
    if is_url {
        if let Some(start) = out.find("://").map(|i| i + 3) {
            if let Some(at) = out[start..].rfind('@').map(|i| start + i) {
                if let Some(colon) = out[start..at].find(':').map(|i| start + i) {
                    out.replace_range(colon + 1..at, "***");
                }
            }
        }
    }
    // password=secret, password = 'sec ret', password=a\ b, ?password=secret&...
    let mut from = 0;
    while let Some(i) = out[from..].find("password").map(|i| from + i) {
        let mut j = i + "password".len();
        let rest = &out[j..];
        let ws = rest.len() - rest.trim_start().len();
        if !rest.trim_start().starts_with('=') {
            from = j;
            continue;
        }
        j += ws + 1;
        j += out[j..].len() - out[j..].trim_start().len();
        let bytes = out.as_bytes();
        let quoted = bytes.get(j) == Some(&b'\'');
        let mut k = j + usize::from(quoted);
        while k < bytes.len() {
            match bytes[k] {
                b'\\' => k += 2,
                b'\'' if quoted => {
                    k += 1;
                    break;
                }
                b'&' if is_url && !quoted => break,
                c if c.is_ascii_whitespace() && !quoted => break,
                _ => k += 1,
            }
        }
        // Keep to a character boundary (an escape may precede a multi-byte character).
        let end = (k.min(out.len())..=out.len())
            .find(|&e| out.is_char_boundary(e))
            .unwrap_or(out.len());
        out.replace_range(j..end, "***");
        from = j + 3;
    }
    out
}

/// A PostgreSQL server to connect to. Its [`std::fmt::Display`] never shows the password.
#[derive(Clone)]
pub struct PgTarget {
    config: Config,
    tls: TlsSettings,
    /// The string itself named `sslrootcert` / `sslmode`.
    root_cert_given: bool,
    mode_given: bool,
    connector: MakeRustls,
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

/// One `key=value` of a connection string, with where it came from for messages.
type Pair = (String, String);

/// Splits libpq's `key = value ...` form. Values may be single-quoted, with `\'` and `\\`
/// escapes. Errors never quote the text.
fn split_pairs(text: &str) -> std::result::Result<Vec<Pair>, String> {
    let mut pairs: Vec<Pair> = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let after = pairs
            .last()
            .map_or("at the start".to_string(), |(k, _)| format!("after `{k}`"));
        if chars.next() != Some('=') {
            return Err(format!(
                "a word {after} is not followed by `=` (a value with spaces must be quoted: key='a b')"
            ));
        }
        // Before the value is read: only a known key may be named in a message.
        check_key(&key, &after)?;
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("the quoted value of `{key}` is not closed")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

fn check_key(key: &str, after: &str) -> std::result::Result<(), String> {
    if PASSED_KEYS.contains(&key) || TLS_KEYS.contains(&key) {
        Ok(())
    } else if UNSUPPORTED_KEYS.contains(&key) {
        Err(format!(
            "the libpq option `{key}` is not supported by ocpagg"
        ))
    } else {
        // Not echoed: it could be the tail of a password with an unquoted space.
        Err(format!(
            "an unknown option {after} (a value with spaces must be quoted: key='a b')"
        ))
    }
}

/// libpq's quoting, for handing pairs on to `tokio-postgres`' parser.
fn quote_value(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn percent_decode(s: &str) -> std::result::Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a bad %-escape in a URL parameter")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a URL parameter that is not UTF-8".to_string())
}

/// Splits a URL's query into the TLS pairs (ours) and the URL without them (for
/// `tokio-postgres`), checking every key.
fn split_url(text: &str) -> std::result::Result<(String, Vec<Pair>), String> {
    let Some((base, query)) = text.split_once('?') else {
        return Ok((text.to_string(), Vec::new()));
    };
    let mut kept = Vec::new();
    let mut tls = Vec::new();
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = param.split_once('=').ok_or_else(|| {
            "a URL parameter without `=` (parameters are key=value, joined by &)".to_string()
        })?;
        let key = percent_decode(key)?;
        let after = "in the URL's parameters";
        check_key(&key, after)?;
        if TLS_KEYS.contains(&key.as_str()) {
            tls.push((key, percent_decode(value)?));
        } else {
            kept.push(param);
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, tls))
}

impl PgTarget {
    /// Parses a connection string (URL or `key=value`); settings it lacks come from `PGHOST`,
    /// `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT`,
    /// `PGSSLCERT`, `PGSSLKEY`, `PGAPPNAME`, `PGCONNECT_TIMEOUT` and `PGOPTIONS`, then
    /// libpq's defaults (the local socket directory or `localhost`, port 5432, the OS user, a
    /// database named like the user, `sslmode=prefer`, `~/.postgresql/root.crt` as the root
    /// certificate when it exists).
    ///
    /// A setting in the string always wins over its variable. The certificate files are read
    /// here, so a bad one is reported before anything connects.
    pub fn parse(conn: &str) -> Result<Self> {
        let invalid = |reason: String| WriteError::InvalidTarget {
            path: "the database connection string".into(),
            reason,
        };
        let text = conn.trim();
        if let Some(scheme) = url_scheme(text) {
            if scheme.contains('+') {
                return Err(invalid(format!(
                    "`{scheme}://` is an SQLAlchemy URL; ocpagg takes libpq's form: postgresql://user@host:port/dbname"
                )));
            }
        }
        let is_url = text.starts_with("postgresql://") || text.starts_with("postgres://");
        let (mut config, tls_pairs) = if text.is_empty() {
            (Config::new(), Vec::new())
        } else if is_url {
            let (url, tls) = split_url(text).map_err(invalid)?;
            let config = if url == "postgresql://" || url == "postgres://" {
                Config::new()
            } else {
                // Its messages name the option, never its value: safe to show.
                Config::from_str(&url).map_err(|e| invalid(format!("cannot parse it: {e}")))?
            };
            (config, tls)
        } else {
            let pairs = split_pairs(text).map_err(invalid)?;
            let (tls, passed): (Vec<Pair>, Vec<Pair>) = pairs
                .into_iter()
                .partition(|(k, _)| TLS_KEYS.contains(&k.as_str()));
            let config = if passed.is_empty() {
                Config::new()
            } else {
                let quoted = passed
                    .iter()
                    .map(|(k, v)| format!("{k}={}", quote_value(v)))
                    .collect::<Vec<_>>()
                    .join(" ");
                Config::from_str(&quoted).map_err(|e| invalid(format!("cannot parse it: {e}")))?
            };
            (config, tls)
        };
        let given = |key: &str| {
            tls_pairs
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let tls = tls_settings(&given, &invalid)?;
        fill_from_env(&mut config, &invalid)?;
        let connector = tls.connector().map_err(invalid)?;
        let shown = describe(&config);
        Ok(Self {
            config,
            tls,
            root_cert_given: given("sslrootcert").is_some(),
            mode_given: given("sslmode").is_some(),
            connector,
            shown,
        })
    }

    /// Trusts the CA certificates in `pem` (inline PEM text; `origin` names it in messages)
    /// and asks for `mode`, unless the connection string or `PGSSLROOTCERT` named a root
    /// certificate or `PGSSLMODE` a mode, which win. For settings that come as text rather
    /// than files (Clowder's `database.rdsCa`).
    pub fn with_root_cert_pem(mut self, pem: &str, origin: &str, mode: SslMode) -> Result<Self> {
        if env("PGSSLROOTCERT").is_none() && !self.root_cert_given {
            self.tls.root_cert = Some(RootCert::Pem {
                pem: pem.to_string(),
                origin: origin.to_string(),
            });
        }
        if env("PGSSLMODE").is_none() && !self.mode_given {
            self.tls.mode = mode;
        }
        self.connector = self
            .tls
            .connector()
            .map_err(|reason| WriteError::InvalidTarget {
                path: "the database connection string".into(),
                reason,
            })?;
        Ok(self)
    }

    /// The TLS settings in effect.
    pub fn tls(&self) -> &TlsSettings {
        &self.tls
    }

    /// The TLS connector of these settings (for a cancel request).
    pub(crate) fn tls_connector(&self) -> MakeRustls {
        self.connector.clone()
    }

    /// Opens a connection, with TLS as `sslmode` asks.
    pub fn connect(&self) -> Result<Client> {
        let attempt = |wire: WireMode| {
            let mut config = self.config.clone();
            config.ssl_mode(wire);
            config.connect(self.connector.clone())
        };
        let mode = self.tls.effective_mode();
        let connected = match mode {
            SslMode::Disable => attempt(WireMode::Disable),
            // libpq: clear text first, TLS if the server refused that.
            SslMode::Allow => attempt(WireMode::Disable).or_else(|_| attempt(WireMode::Require)),
            SslMode::Prefer => attempt(WireMode::Prefer),
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                attempt(WireMode::Require)
            }
        };
        connected.map_err(|source| WriteError::Database {
            target: self.shown.clone(),
            action: format!("cannot connect (sslmode={mode})"),
            source,
        })
    }
}

/// The TLS settings from the string's own keys (`given`), then `PGSSL*`, then libpq's
/// defaults. A mode given in the string is never replaced by `PGSSLMODE`.
fn tls_settings(
    given: &dyn Fn(&str) -> Option<String>,
    invalid: &dyn Fn(String) -> WriteError,
) -> Result<TlsSettings> {
    let (mode_text, mode_from) = match given("sslmode") {
        Some(m) => (Some(m), "sslmode"),
        None => (env("PGSSLMODE"), "PGSSLMODE"),
    };
    let root_cert = given("sslrootcert")
        .or_else(|| env("PGSSLROOTCERT"))
        .map(|r| {
            if r == "system" {
                RootCert::System
            } else {
                RootCert::File(PathBuf::from(r))
            }
        })
        .or_else(|| {
            let default = home()?.join(".postgresql/root.crt");
            default.is_file().then_some(RootCert::File(default))
        });
    let mode = match mode_text {
        Some(text) => SslMode::parse(&text).ok_or_else(|| {
            invalid(format!(
                "{mode_from} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ))
        })?,
        // libpq: with the platform's roots the default is verify-full.
        None if root_cert == Some(RootCert::System) => SslMode::VerifyFull,
        None => SslMode::Prefer,
    };
    if root_cert == Some(RootCert::System) && mode != SslMode::VerifyFull {
        return Err(invalid(format!(
            "sslmode={mode} may not be used with sslrootcert=system (use verify-full), as in libpq"
        )));
    }
    let cert = given("sslcert").or_else(|| env("PGSSLCERT"));
    let key = given("sslkey").or_else(|| env("PGSSLKEY"));
    let client_cert = match (cert, key) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        (Some(_), None) | (None, Some(_)) => {
            return Err(invalid(
                "sslcert and sslkey go together: give both (or PGSSLCERT and PGSSLKEY)".into(),
            ))
        }
        (None, None) => home().and_then(|h| {
            let (c, k) = (
                h.join(".postgresql/postgresql.crt"),
                h.join(".postgresql/postgresql.key"),
            );
            (c.is_file() && k.is_file()).then_some((c, k))
        }),
    };
    Ok(TlsSettings {
        mode,
        root_cert,
        client_cert,
    })
}

fn home() -> Option<PathBuf> {
    env("HOME").map(PathBuf::from)
}

/// libpq's environment variables and defaults, for what the string left out.
fn fill_from_env(config: &mut Config, invalid: &dyn Fn(String) -> WriteError) -> Result<()> {
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        match env("PGHOST") {
            Some(h) => {
                for host in h.split(',') {
                    if host.starts_with('/') {
                        config.host_path(host);
                    } else {
                        config.host(host);
                    }
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
    Ok(())
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
        assert!(is_connection_string("postgresql+psycopg://u:p@h/db"));
        assert!(is_connection_string("host=h dbname=koku"));
        assert!(is_connection_string("sslmode=require host=h"));
        assert!(is_connection_string("host = h"));
        assert!(!is_connection_string("summary.parquet"));
        assert!(!is_connection_string("out/a=b.csv"));
        assert!(!is_connection_string("s3://bucket/x.parquet"));
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
        for bad in [
            "postgresql://koku:s3cret@db.example:notaport/koku",
            "postgresql+psycopg://koku:s3cret@db/koku",
            "host=db password=s3 cret=x",
            "host=db password=s3 cret",
            "host=db password='s3cret",
            "host=db s3cret",
            "host=db password=s3 cret='x",
            "host=db password=p+w application_name=x://y s3cret",
            "postgresql://koku@db/koku?s3cret=1",
            "postgresql://koku@db/koku?password=s3cret&sslmode=bogus",
            "host=db password=s3cret sslmode=verify-everything",
        ] {
            let e = PgTarget::parse(bad).unwrap_err().to_string();
            assert!(e.contains("connection string"), "{bad}: {e}");
            assert!(!e.contains("s3") && !e.contains("cret"), "{bad}: {e}");
        }
    }

    #[test]
    fn quoted_and_spaced_values() {
        let t =
            PgTarget::parse("host = db.example  password = 'a b\\'c' user=k dbname='x y'").unwrap();
        assert_eq!(t.config.get_password(), Some(&b"a b'c"[..]));
        assert_eq!(t.config.get_dbname(), Some("x y"));
        assert_eq!(t.to_string(), "postgresql://k@db.example/x y");
    }

    #[test]
    fn the_string_wins_over_pgsslmode() {
        // The spaced form, which a naive "sslmode=" search misses.
        let t = PgTarget::parse("host=db sslmode = require").unwrap();
        assert_eq!(t.tls().mode, SslMode::Require);
        let t = PgTarget::parse("postgresql://db/x?sslmode=verify-ca&sslrootcert=system");
        // system roots with verify-ca: refused, as libpq does.
        assert!(t.is_err());
        let t = PgTarget::parse("postgresql://db/x?sslmode=disable").unwrap();
        assert_eq!(t.tls().mode, SslMode::Disable);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgresql+psycopg://koku:s3cret@db/koku"),
            "postgresql+psycopg://koku:***@db/koku"
        );
        assert_eq!(
            redact("host=db password = 'a b' user=k"),
            "host=db password = *** user=k"
        );
        assert_eq!(
            redact("x://h/db?password=p&a=b"),
            "x://h/db?password=***&a=b"
        );
        assert_eq!(redact("summary.parquet"), "summary.parquet");
        assert_eq!(
            redact("postgresql://koku:s3/c?r@t@db/koku"),
            "postgresql://koku:***@db/koku"
        );
        assert_eq!(
            redact(r"host=db password=a\ b&c user=k"),
            "host=db password=*** user=k"
        );
        assert_eq!(redact(r"password=é\é"), "password=***");
    }
}
