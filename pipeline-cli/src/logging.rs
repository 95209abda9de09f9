//! Log output on stderr: human lines (the default) or one JSON object per line
//! (`--log-format json`: `timestamp`, `level`, `message`, the event's fields, and the caller's
//! `tracing_id` on every line, so koku's tracing id follows a summary through its logs).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `2026-12-06T04:00:00Z  INFO message field=value`.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// Parses a setting value (`text` or `json`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Installs the process's log output: warnings and errors only when `quiet`, else
/// information too (`OCPAGG_LOG` overrides, in `tracing`'s filter syntax). A second call
/// changes nothing.
pub fn init(format: LogFormat, quiet: bool, tracing_id: Option<&str>) {
    let default = if quiet { "warn" } else { "info" };
    let filter = EnvFilter::try_from_env("OCPAGG_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .event_format(JsonLines {
                tracing_id: tracing_id.map(str::to_string),
            })
            .try_init(),
    };
    crate::progress::allow_bar(format == LogFormat::Text);
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
}

/// Whether log lines are JSON (set by [`init`]).
static JSON: AtomicBool = AtomicBool::new(false);

/// Prints the error a command ended with: `error: ...` on stderr, or an `ERROR` line when
/// logs are JSON.
pub fn print_error(e: &anyhow::Error) {
    if JSON.load(Ordering::Relaxed) {
        tracing::error!("{e:#}");
    } else {
        eprintln!("error: {e:#}");
    }
}

/// Formats each event as one JSON object.
struct JsonLines {
    tracing_id: Option<String>,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writeln!(writer, "{}", self.line(event))
    }
}

impl JsonLines {
    fn line(&self, event: &Event<'_>) -> String {
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        line.insert(
            "level".into(),
            Value::String(event.metadata().level().to_string()),
        );
        let message = fields
            .0
            .remove("message")
            .unwrap_or(Value::String(String::new()));
        line.insert("message".into(), message);
        if let Some(id) = &self.tracing_id {
            line.insert("tracing_id".into(), Value::String(id.clone()));
        }
        for (k, v) in fields.0 {
            // An event's own field never replaces the line's keys.
            line.entry(k).or_insert(v);
        }
        Value::Object(line).to_string()
    }
}

/// Collects an event's fields as JSON values.
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.0.insert(field.name().into(), v);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}
