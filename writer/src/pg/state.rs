//! The state of incremental runs (issue #20) in PostgreSQL: which files the summary rows of a
//! source and month were computed from (`ocpagg_ingested_files`, one row per file, with the
//! days its rows held) and the rest of the run's state as one JSON document
//! (`ocpagg_incremental_state`, with a generation number that every write increments).
//!
//! Both tables are created by `init-db` (the end of `ddl.sql`) and, if missing, by
//! [`ensure_state_tables`]. They are written by [`store_state`] inside the transaction that
//! replaces the rows, so the state changes with them or not at all.

use chrono::{DateTime, NaiveDate, Utc};
use postgres::{Client, GenericClient, Transaction};
use serde::{Deserialize, Serialize};

use super::{db_error, quote_ident, PgTarget};
use crate::hive::day_number;
use crate::{Result, WriteError};

/// The table of ingested files.
pub const INGESTED_FILES_TABLE: &str = "ocpagg_ingested_files";
/// The table of the state documents.
pub const STATE_TABLE: &str = "ocpagg_incremental_state";

/// One file a run's rows were computed from: a row of [`INGESTED_FILES_TABLE`], and an entry
/// of the state document kept in a Parquet output's footer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestedFile {
    /// Report type (`pod_usage`, ...).
    pub table: String,
    /// koku's `daily/` roll-up.
    pub daily: bool,
    /// Location inside the warehouse.
    pub path: String,
    /// Size in bytes, as listed.
    pub size: u64,
    /// ETag, as listed.
    pub e_tag: Option<String>,
    /// Last modification, as listed, in milliseconds since the epoch.
    pub last_modified_ms: i64,
    /// The days (since 1970-01-01) its rows held within the run's range; empty for a file
    /// the run does not read (koku's rule chose the other granularity).
    pub days: Vec<i32>,
}

/// The state of one source and month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredState {
    /// Incremented by every write: a run writes only over the generation it read.
    pub generation: i64,
    /// The state document (JSON text).
    pub document: String,
    /// The files.
    pub files: Vec<IngestedFile>,
}

/// Which state: a source, a year and a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateKey {
    /// `source_uuid`.
    pub source_uuid: uuid::Uuid,
    /// Year.
    pub year: i32,
    /// Month.
    pub month: u32,
}

/// The two state tables' DDL (the same as at the end of `init-db`'s).
fn ddl() -> &'static str {
    let all = super::DDL;
    // ddl.sql ends with the state tables; were the marker gone, all of it is harmless too.
    all.find("-- ocpagg's incremental runs")
        .map_or(all, |at| &all[at..])
}

/// Creates the state tables in `schema` if they are missing.
pub fn ensure_state_tables(client: &mut Client, target: &PgTarget, schema: &str) -> Result<()> {
    let shown = target.to_string();
    client
        .batch_execute(&ddl().replace("{schema}", &quote_ident(schema)))
        .map_err(db_error(
            &shown,
            format!("cannot create the state tables of schema {schema}"),
        ))
}

/// Reads the state of `key`, `None` if there is none.
pub fn load_state(
    client: &mut impl GenericClient,
    target: &PgTarget,
    schema: &str,
    key: StateKey,
) -> Result<Option<StoredState>> {
    let shown = target.to_string();
    let q = quote_ident(schema);
    let month = i32::try_from(key.month).unwrap_or(0);
    let row = client
        .query_opt(
            &format!(
                "SELECT generation, state::text FROM {q}.{STATE_TABLE}
                 WHERE source_uuid = $1 AND year = $2 AND month = $3"
            ),
            &[&key.source_uuid, &key.year, &month],
        )
        .map_err(db_error(
            &shown,
            format!("cannot read {schema}.{STATE_TABLE}"),
        ))?;
    let Some(row) = row else { return Ok(None) };
    let rows = client
        .query(
            &format!(
                "SELECT report_table, daily, path, size, e_tag, last_modified, days
                 FROM {q}.{INGESTED_FILES_TABLE}
                 WHERE source_uuid = $1 AND year = $2 AND month = $3 ORDER BY path"
            ),
            &[&key.source_uuid, &key.year, &month],
        )
        .map_err(db_error(
            &shown,
            format!("cannot read {schema}.{INGESTED_FILES_TABLE}"),
        ))?;
    let files = rows
        .iter()
        .map(|r| IngestedFile {
            table: r.get(0),
            daily: r.get(1),
            path: r.get(2),
            size: u64::try_from(r.get::<_, i64>(3)).unwrap_or(0),
            e_tag: r.get(4),
            last_modified_ms: r.get::<_, DateTime<Utc>>(5).timestamp_millis(),
            days: r
                .get::<_, Vec<NaiveDate>>(6)
                .into_iter()
                .map(day_number)
                .collect(),
        })
        .collect();
    Ok(Some(StoredState {
        generation: row.get(0),
        document: row.get(1),
        files,
    }))
}

/// Replaces the state of `key` inside `tx`, provided its generation is still `read` (the one
/// the run planned from; `None`: there was none). Another run that committed in between
/// makes this fail with [`WriteError::Aborted`], so the transaction rolls back. Returns the
/// new generation.
pub fn store_state(
    tx: &mut Transaction<'_>,
    target: &str,
    schema: &str,
    key: StateKey,
    read: Option<i64>,
    document: &str,
    files: &[IngestedFile],
) -> Result<i64> {
    let q = quote_ident(schema);
    let month = i32::try_from(key.month).unwrap_or(0);
    let now = Utc::now();
    let current: Option<i64> = tx
        .query_opt(
            &format!(
                "SELECT generation FROM {q}.{STATE_TABLE}
                 WHERE source_uuid = $1 AND year = $2 AND month = $3 FOR UPDATE"
            ),
            &[&key.source_uuid, &key.year, &month],
        )
        .map_err(db_error(
            target,
            format!("cannot read {schema}.{STATE_TABLE}"),
        ))?
        .map(|r| r.get(0));
    if read.is_some() && current != read {
        return Err(WriteError::Aborted {
            reason: format!(
                "another run changed the incremental state of this source and month (generation {current:?}, planned from {read:?}); nothing was committed, run again"
            ),
        });
    }
    let generation = current.unwrap_or(0) + 1;
    let failed = |what: &str| db_error(target, format!("cannot write {schema}.{what}"));
    tx.execute(
        &format!(
            "INSERT INTO {q}.{STATE_TABLE} (source_uuid, year, month, generation, state, summarised_at)
             VALUES ($1, $2, $3, $4, $5::text::jsonb, $6)
             ON CONFLICT (source_uuid, year, month) DO UPDATE
             SET generation = EXCLUDED.generation, state = EXCLUDED.state,
                 summarised_at = EXCLUDED.summarised_at"
        ),
        &[&key.source_uuid, &key.year, &month, &generation, &document, &now],
    )
    .map_err(failed(STATE_TABLE))?;
    tx.execute(
        &format!(
            "DELETE FROM {q}.{INGESTED_FILES_TABLE}
             WHERE source_uuid = $1 AND year = $2 AND month = $3"
        ),
        &[&key.source_uuid, &key.year, &month],
    )
    .map_err(failed(INGESTED_FILES_TABLE))?;
    let insert = tx
        .prepare(&format!(
            "INSERT INTO {q}.{INGESTED_FILES_TABLE} (source_uuid, year, month, report_table,
                 daily, path, size, e_tag, last_modified, days, summarised_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .map_err(failed(INGESTED_FILES_TABLE))?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    for f in files {
        let size = i64::try_from(f.size).unwrap_or(i64::MAX);
        let days: Vec<NaiveDate> = f
            .days
            .iter()
            .filter_map(|&d| epoch.checked_add_signed(chrono::Duration::days(i64::from(d))))
            .collect();
        let modified = DateTime::<Utc>::from_timestamp_millis(f.last_modified_ms)
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        tx.execute(
            &insert,
            &[
                &key.source_uuid,
                &key.year,
                &month,
                &f.table,
                &f.daily,
                &f.path,
                &size,
                &f.e_tag,
                &modified,
                &days,
                &now,
            ],
        )
        .map_err(failed(INGESTED_FILES_TABLE))?;
    }
    Ok(generation)
}

/// Whether both state tables exist in `schema`.
pub fn state_tables_exist(client: &mut Client, target: &PgTarget, schema: &str) -> Result<bool> {
    let shown = target.to_string();
    Ok(
        super::table_exists(client, &shown, schema, INGESTED_FILES_TABLE)?
            && super::table_exists(client, &shown, schema, STATE_TABLE)?,
    )
}
