//! `ocpagg validate`: a scenario's expected summary against a run's output (issue #5).
//!
//! The expectations come from `ocpagg-validator`, computed from the scenario alone; this
//! module only reads the flags, loads the actual rows (a file, or PostgreSQL through the
//! writer's connection handling) and prints the comparison.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use ocpagg_fixtures::Scenario;
use ocpagg_validator::{DateRange, EnabledKeys, Settings, Tolerance};

use crate::config::UsageError;

/// Flags of `ocpagg validate`.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// nise static OCP scenario YAML (its optional `ocpagg:` block holds the run's settings).
    #[arg(long)]
    pub scenario: PathBuf,
    /// The run's output: a *.parquet or *.csv file, or a PostgreSQL connection string.
    #[arg(long)]
    pub against: String,
    /// PostgreSQL schema of the summary table (required with a connection string).
    #[arg(long)]
    pub schema: Option<String>,
    /// Source UUID (required with a connection string; filters a file's rows if given).
    #[arg(long)]
    pub source: Option<String>,
    /// First day to validate, YYYY-MM-DD (default: the scenario's first day).
    #[arg(long, value_parser = crate::config::parse_date)]
    pub start_date: Option<chrono::NaiveDate>,
    /// Last day to validate, inclusive, YYYY-MM-DD (default: the scenario's last day).
    #[arg(long, value_parser = crate::config::parse_date)]
    pub end_date: Option<chrono::NaiveDate>,
    /// Relative tolerance of number checks (absolute when the expected value is 0).
    #[arg(long, default_value_t = 1e-6)]
    pub tolerance: f64,
    /// Output format: table or json.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Enabled label keys, comma-separated ('*' = all); replaces the scenario's.
    #[arg(long)]
    pub enabled_keys: Option<String>,
    /// Cost category as PATTERN=ID; repeatable; replaces the scenario's.
    #[arg(long = "cost-category")]
    pub cost_category: Vec<String>,
    /// Node role as NODE=ROLE; repeatable; replaces the scenario's.
    #[arg(long = "node-role")]
    pub node_role: Vec<String>,
}

fn usage(message: String) -> anyhow::Error {
    UsageError(message).into()
}

/// The scenario's settings with the flags applied.
fn settings(args: &ValidateArgs) -> Result<Settings> {
    let mut s = Settings::from_scenario_file(&args.scenario)?;
    if let Some(keys) = &args.enabled_keys {
        s.enabled_keys = EnabledKeys::from_list(
            keys.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect(),
        );
    }
    if !args.cost_category.is_empty() {
        s.cost_categories.clear();
        for item in &args.cost_category {
            let (pattern, id) = item
                .rsplit_once('=')
                .ok_or_else(|| usage(format!("--cost-category `{item}`: expected PATTERN=ID")))?;
            let id = id.trim().parse().map_err(|_| {
                usage(format!(
                    "--cost-category `{item}`: `{id}` is not an integer id"
                ))
            })?;
            s.cost_categories.insert(pattern.to_string(), id);
        }
    }
    if !args.node_role.is_empty() {
        s.node_roles.clear();
        for item in &args.node_role {
            let (node, role) = item
                .split_once('=')
                .ok_or_else(|| usage(format!("--node-role `{item}`: expected NODE=ROLE")))?;
            s.node_roles.insert(node.to_string(), role.to_string());
        }
    }
    Ok(s)
}

/// Runs the command: prints the comparison on stdout; a failed check is an error (exit 1).
pub fn run(args: &ValidateArgs) -> Result<()> {
    let json = match args.format.as_str() {
        "table" => false,
        "json" => true,
        other => return Err(usage(format!("--format `{other}`: expected table or json"))),
    };
    let result = compare(args)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&ocpagg_validator::render_json(&result))?
        );
    } else {
        print!("{}", ocpagg_validator::render_table(&result));
    }
    if result.checks.is_empty() {
        return Err(nothing_to_compare());
    }
    if result.failed() > 0 {
        bail!(
            "{} of {} checks failed",
            result.failed(),
            result.checks.len()
        );
    }
    Ok(())
}

/// The comparison of the command (its `format` aside): the scenario's expected rows against
/// the rows read from `against`. Failed checks are in the result, not an error.
pub fn compare(args: &ValidateArgs) -> Result<ocpagg_validator::Comparison> {
    if !(args.tolerance >= 0.0 && args.tolerance.is_finite()) {
        return Err(usage(format!(
            "--tolerance {}: expected a number >= 0",
            args.tolerance
        )));
    }
    if let (Some(s), Some(e)) = (args.start_date, args.end_date) {
        if e < s {
            return Err(usage(format!("--end-date {e} is before --start-date {s}")));
        }
    }
    let range = DateRange {
        start: args.start_date,
        end: args.end_date,
    };
    let settings = settings(args)?;
    let scenario = Scenario::from_path(&args.scenario)?;
    let expected = ocpagg_validator::expected_rows(&scenario, &settings, &range)
        .with_context(|| format!("scenario {}", args.scenario.display()))?;

    let actual = if ocpagg_writer::pg::is_connection_string(&args.against) {
        let schema = args
            .schema
            .as_deref()
            .ok_or_else(|| usage("--schema is required with a database --against".into()))?;
        let source = args
            .source
            .as_deref()
            .ok_or_else(|| usage("--source is required with a database --against".into()))?;
        let target = ocpagg_writer::PgTarget::parse(&args.against)
            .map_err(|e| usage(format!("--against: {e}")))?;
        let mut client = target.connect()?;
        ocpagg_validator::load_postgres(&mut client, schema, source, &range)?
    } else {
        ocpagg_validator::load_file(
            std::path::Path::new(&args.against),
            args.source.as_deref(),
            &range,
        )?
    };

    Ok(ocpagg_validator::compare(
        &expected,
        &actual,
        Tolerance(args.tolerance),
    ))
}

/// The error of a comparison with no checks at all.
pub fn nothing_to_compare() -> anyhow::Error {
    crate::error::DataError(
        "nothing to compare: the scenario predicts no rows and the output has none".into(),
    )
    .into()
}
