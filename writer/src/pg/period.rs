//! What koku has already recorded about a source's month: its report period (the row every
//! summary row points to) and its cost categories. Read before any data, so that a run
//! which would fail on a foreign key at COMMIT fails at once instead, with the table named.

use chrono::NaiveDate;
use postgres::Client;

use super::{db_error, quote_ident, table_exists, PgTarget};
use crate::{Result, WriteError};

/// koku's report-period table: one row per (provider, month, cluster).
pub const REPORT_PERIOD_TABLE: &str = "reporting_ocpusagereportperiod";

/// koku's cost-category table.
pub const COST_CATEGORY_TABLE: &str = "reporting_ocp_cost_category";

/// A row of `reporting_ocpusagereportperiod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPeriod {
    /// Its `id`, the summary rows' `report_period_id`.
    pub id: i32,
    /// `cluster_id` (never null in koku).
    pub cluster_id: String,
    /// `cluster_alias`, when set.
    pub cluster_alias: Option<String>,
}

fn schema_error(target: &PgTarget, schema: &str, table: &str, reason: String) -> WriteError {
    WriteError::Schema {
        target: target.to_string(),
        table: format!("{schema}.{table}"),
        reason,
    }
}

fn require_table(client: &mut Client, target: &PgTarget, schema: &str, table: &str) -> Result<()> {
    if table_exists(client, &target.to_string(), schema, table)? {
        Ok(())
    } else {
        Err(schema_error(
            target,
            schema,
            table,
            format!(
                "the table does not exist; point --schema at a koku tenant schema, or create it with `ocpagg init-db --database-url ... --schema {schema}`"
            ),
        ))
    }
}

/// Finds the report period koku created for `source`'s month (`report_period_start` = the
/// first day of `month`, read in UTC as koku writes it). With several (one per cluster),
/// `cluster_id` chooses. None found is an error that says how koku creates it.
pub fn find_report_period(
    client: &mut Client,
    target: &PgTarget,
    schema: &str,
    source: uuid::Uuid,
    month: NaiveDate,
    cluster_id: Option<&str>,
) -> Result<ReportPeriod> {
    require_table(client, target, schema, REPORT_PERIOD_TABLE)?;
    let rows = client
        .query(
            &format!(
                "SELECT id, cluster_id::text, cluster_alias::text
                   FROM {}.{REPORT_PERIOD_TABLE}
                  WHERE provider_id = $1
                    AND (report_period_start AT TIME ZONE 'UTC')::date = $2
                  ORDER BY id",
                quote_ident(schema)
            ),
            &[&source, &month],
        )
        .map_err(db_error(
            &target.to_string(),
            format!("cannot read {schema}.{REPORT_PERIOD_TABLE}"),
        ))?;
    let periods: Vec<ReportPeriod> = rows
        .iter()
        .map(|r| ReportPeriod {
            id: r.get(0),
            cluster_id: r.get(1),
            cluster_alias: r.get(2),
        })
        .collect();
    let month_text = month.format("%Y-%m");
    let chosen: Vec<&ReportPeriod> = match cluster_id {
        Some(c) if periods.len() > 1 => periods.iter().filter(|p| p.cluster_id == c).collect(),
        _ => periods.iter().collect(),
    };
    match chosen.as_slice() {
        [one] => Ok((*one).clone()),
        [] if periods.is_empty() => Err(schema_error(
            target,
            schema,
            REPORT_PERIOD_TABLE,
            format!(
                "no report period for source {source} and month {month_text}: koku creates that row when it \
                 processes the month's first report from the cluster; process one first, or give the id with --report-period-id"
            ),
        )),
        _ => Err(schema_error(
            target,
            schema,
            REPORT_PERIOD_TABLE,
            format!(
                "source {source} has {} report periods for {month_text} (ids {}, clusters {}); choose one with --report-period-id{}",
                periods.len(),
                periods.iter().map(|p| p.id.to_string()).collect::<Vec<_>>().join(", "),
                periods.iter().map(|p| p.cluster_id.as_str()).collect::<Vec<_>>().join(", "),
                if cluster_id.is_none() { " or --cluster-id" } else { "" },
            ),
        )),
    }
}

/// Reads report period `id`, which must exist and belong to `source` and `month`.
pub fn get_report_period(
    client: &mut Client,
    target: &PgTarget,
    schema: &str,
    id: i32,
    source: uuid::Uuid,
    month: NaiveDate,
) -> Result<ReportPeriod> {
    require_table(client, target, schema, REPORT_PERIOD_TABLE)?;
    let row = client
        .query_opt(
            &format!(
                "SELECT cluster_id::text, cluster_alias::text, provider_id,
                        (report_period_start AT TIME ZONE 'UTC')::date
                   FROM {}.{REPORT_PERIOD_TABLE} WHERE id = $1",
                quote_ident(schema)
            ),
            &[&id],
        )
        .map_err(db_error(
            &target.to_string(),
            format!("cannot read {schema}.{REPORT_PERIOD_TABLE}"),
        ))?
        .ok_or_else(|| {
            schema_error(
                target,
                schema,
                REPORT_PERIOD_TABLE,
                format!("report period id {id} (--report-period-id) does not exist in the table"),
            )
        })?;
    let provider: Option<uuid::Uuid> = row.get(2);
    if provider.is_some_and(|p| p != source) {
        return Err(schema_error(
            target,
            schema,
            REPORT_PERIOD_TABLE,
            format!(
                "report period id {id} (--report-period-id) belongs to source {}, not to {source}",
                provider.map_or_else(String::new, |p| p.to_string())
            ),
        ));
    }
    let start: NaiveDate = row.get(3);
    if start != month {
        return Err(schema_error(
            target,
            schema,
            REPORT_PERIOD_TABLE,
            format!(
                "report period id {id} (--report-period-id) is the month of {}, not {}",
                start.format("%Y-%m"),
                month.format("%Y-%m")
            ),
        ));
    }
    Ok(ReportPeriod {
        id,
        cluster_id: row.get(0),
        cluster_alias: row.get(1),
    })
}

/// The ids among `ids` that `reporting_ocp_cost_category` lacks (sorted, deduplicated).
pub fn missing_cost_categories(
    client: &mut Client,
    target: &PgTarget,
    schema: &str,
    ids: &[i32],
) -> Result<Vec<i32>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    require_table(client, target, schema, COST_CATEGORY_TABLE)?;
    let rows = client
        .query(
            &format!(
                "SELECT DISTINCT wanted FROM unnest($1::int4[]) AS wanted
                  WHERE NOT EXISTS (SELECT 1 FROM {}.{COST_CATEGORY_TABLE} c WHERE c.id = wanted)
                  ORDER BY 1",
                quote_ident(schema)
            ),
            &[&ids],
        )
        .map_err(db_error(
            &target.to_string(),
            format!("cannot read {schema}.{COST_CATEGORY_TABLE}"),
        ))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The error for cost-category ids that are not in the table.
pub fn missing_cost_categories_error(
    target: &PgTarget,
    schema: &str,
    missing: &[i32],
) -> WriteError {
    schema_error(
        target,
        schema,
        COST_CATEGORY_TABLE,
        format!(
            "cost category id{} {} (--cost-category) not in the table; the summary rows would break its foreign key",
            if missing.len() == 1 { "" } else { "s" },
            missing.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
        ),
    )
}
