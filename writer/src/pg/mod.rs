//! PostgreSQL: koku's summary table, its side-input tables, and the COPY sink.
//!
//! - [`PgTarget`] parses a libpq connection string (URL or `key=value`, `PG*` variables).
//! - [`init_db`] creates the schema and tables (koku's shape), idempotently and safely when
//!   several processes run it at once.
//! - [`read_side_inputs`] reads enabled tag keys, cost-category patterns and node roles.
//! - [`SummaryTable::check`] verifies that the summary table exists with usable column types.
//! - [`PostgresSink`] replaces one source's slice of days in one transaction: it deletes the
//!   slice and COPYs the new rows, and commits only in [`crate::SummarySink::finish`]; any error, or
//!   dropping the sink, rolls back, so the table keeps exactly its previous rows.
//!
//! Shared state is guarded by transaction-scoped advisory locks: one per schema for
//! `init-db`, one per partition for its creation, and one per (schema, source) for the
//! replace, so concurrent runs for different sources proceed in parallel while two runs of
//! the same source serialise instead of both inserting.

mod connect;
mod encode;
mod period;
mod sink;
pub mod state;
mod tls;

use std::collections::BTreeMap;

use arrow::datatypes::{DataType, Field, SchemaRef};
use chrono::{Datelike, NaiveDate};
use postgres::{Client, GenericClient};

pub use connect::{is_connection_string, redact, PgTarget};
pub use encode::{Decimal, NUMERIC_SCALE};
pub use period::{
    find_report_period, get_report_period, missing_cost_categories, missing_cost_categories_error,
    ReportPeriod, COST_CATEGORY_TABLE, REPORT_PERIOD_TABLE,
};
pub use sink::{BeforeCommit, CancelHandle, CopyFormat, PostgresSink, Slice};
pub use tls::{RootCert, SslMode, TlsSettings};

use crate::{Result, WriteError};

/// koku's summary table name.
pub const SUMMARY_TABLE: &str = "reporting_ocpusagelineitem_daily_summary";

const DDL: &str = include_str!("ddl.sql");

/// Quotes an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn db_error(target: &str, action: impl Into<String>) -> impl FnOnce(postgres::Error) -> WriteError {
    let (target, action) = (target.to_string(), action.into());
    move |source| WriteError::Database {
        target,
        action,
        source,
    }
}

/// The advisory lock of one source's rows in `schema`: the runs of a source serialise on it.
pub(crate) fn slice_lock_key(schema: &str, source: &uuid::Uuid) -> String {
    format!("ocpagg:slice:{schema}:{source}")
}

/// Takes the lock of `source`'s rows in `schema` (`ocpagg:slice:{schema}:{source}`) for the
/// rest of the session, so that a run reads the incremental state only after every run of the
/// same source before it has committed or rolled back. The sink's transaction takes the same lock
/// again (a session holding an advisory lock is always granted it again); closing the
/// connection releases it, so a crash never leaves it held. Waits while another run holds
/// it; a [`CancelHandle`] of the client stops the wait (the call then fails).
pub fn lock_source(
    client: &mut Client,
    target: &PgTarget,
    schema: &str,
    source: &uuid::Uuid,
) -> Result<()> {
    let key = slice_lock_key(schema, source);
    client
        .execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", &[&key])
        .map(|_| ())
        .map_err(db_error(
            &target.to_string(),
            format!("cannot take the lock {key:?}"),
        ))
}

/// Takes a transaction-scoped advisory lock named by `key`.
fn advisory_lock(client: &mut impl GenericClient, target: &str, key: &str) -> Result<()> {
    client
        .execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&key],
        )
        .map(|_| ())
        .map_err(db_error(target, format!("cannot take the lock {key:?}")))
}

/// Creates `schema` and every table ocpagg reads or writes, with koku's column names and
/// types; the summary table is range-partitioned by `usage_start` with a default partition.
/// Running it again, or from several processes at once, is harmless.
pub fn init_db(client: &mut Client, target: &PgTarget, schema: &str) -> Result<()> {
    let shown = target.to_string();
    let mut tx = client
        .transaction()
        .map_err(db_error(&shown, "cannot begin a transaction"))?;
    advisory_lock(&mut tx, &shown, &format!("ocpagg:init-db:{schema}"))?;
    tx.batch_execute(&DDL.replace("{schema}", &quote_ident(schema)))
        .map_err(db_error(
            &shown,
            format!("cannot create the tables of schema {schema}"),
        ))?;
    tx.commit()
        .map_err(db_error(&shown, "cannot commit the schema"))
}

/// Side inputs found in the database (SPEC.md "Side inputs").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseSideInputs {
    /// Keys of `reporting_enabledtagkeys` with `enabled` and `provider_type = 'OCP'`, sorted.
    pub enabled_keys: Vec<String>,
    /// `(LIKE pattern, cost_category_id)` from `reporting_ocp_cost_category_namespace`.
    pub cost_categories: Vec<(String, i32)>,
    /// Node → greatest `node_role` of `reporting_ocp_nodes`.
    pub node_roles: BTreeMap<String, String>,
}

fn missing_table(target: &str, schema: &str, table: &str) -> WriteError {
    WriteError::Schema {
        target: target.into(),
        table: format!("{schema}.{table}"),
        reason: format!(
            "the table does not exist; point --schema at a koku tenant schema, or create it with `ocpagg init-db --database-url ... --schema {schema}`"
        ),
    }
}

fn table_exists(client: &mut Client, target: &str, schema: &str, table: &str) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL",
            &[&schema, &table],
        )
        .map_err(db_error(target, format!("cannot look up {schema}.{table}")))?;
    Ok(row.get(0))
}

/// Reads enabled tag keys, cost-category patterns and node roles from `schema`.
pub fn read_side_inputs(
    client: &mut Client,
    target: &PgTarget,
    schema: &str,
) -> Result<DatabaseSideInputs> {
    let shown = target.to_string();
    let s = quote_ident(schema);
    let mut out = DatabaseSideInputs::default();
    for table in SIDE_INPUT_TABLES {
        if !table_exists(client, &shown, schema, table)? {
            return Err(missing_table(&shown, schema, table));
        }
    }
    let read = |what: &str| db_error(&shown, format!("cannot read {schema}.{what}"));
    for row in client
        .query(
            &format!("SELECT key::text FROM {s}.reporting_enabledtagkeys WHERE enabled AND provider_type = 'OCP' ORDER BY 1"),
            &[],
        )
        .map_err(read("reporting_enabledtagkeys"))?
    {
        out.enabled_keys.push(row.get(0));
    }
    for row in client
        .query(
            &format!("SELECT namespace::text, cost_category_id::int4 FROM {s}.reporting_ocp_cost_category_namespace ORDER BY 1"),
            &[],
        )
        .map_err(read("reporting_ocp_cost_category_namespace"))?
    {
        out.cost_categories.push((row.get(0), row.get(1)));
    }
    for row in client
        .query(
            &format!("SELECT node::text, max(node_role)::text FROM {s}.reporting_ocp_nodes WHERE node_role IS NOT NULL GROUP BY 1"),
            &[],
        )
        .map_err(read("reporting_ocp_nodes"))?
    {
        out.node_roles.insert(row.get(0), row.get(1));
    }
    Ok(out)
}

/// The side-input tables a run reads (SPEC.md "Side inputs").
const SIDE_INPUT_TABLES: [&str; 3] = [
    "reporting_enabledtagkeys",
    "reporting_ocp_cost_category_namespace",
    "reporting_ocp_nodes",
];

/// The partition of `day`'s month: its name, and the range [first of month, first of next).
fn month_partition(day: NaiveDate) -> Result<(String, NaiveDate, NaiveDate)> {
    let from = day - chrono::Days::new(u64::from(day.day0()));
    let to = from
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| WriteError::Aborted {
            reason: format!("the month after {from} is beyond the calendar"),
        })?;
    let name = format!("{SUMMARY_TABLE}_{:04}_{:02}", from.year(), from.month());
    Ok((name, from, to))
}

/// What [`SummaryTable::partition_status`] found for a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionStatus {
    /// The table is not partitioned: rows go straight into it.
    NotPartitioned,
    /// The month's partition exists.
    Exists {
        /// Its table name.
        name: String,
    },
    /// The partition is missing, and the run will create it.
    WillBeCreated {
        /// The table name it will get.
        name: String,
        /// Through `partitioned_tables` (koku's way) rather than directly.
        via_registry: bool,
    },
    /// The partition is missing, and the connected role cannot create it.
    CannotCreate {
        /// The table name it would get.
        name: String,
        /// The privileges lacking, e.g. `CREATE on schema org1`.
        missing: Vec<String>,
    },
}

/// koku's summary table in one schema.
#[derive(Debug, Clone)]
pub struct SummaryTable {
    /// The schema (koku's tenant, e.g. `org1234567`).
    pub schema: String,
    /// Whether the table is partitioned (koku's is, by range of `usage_start`).
    pub partitioned: bool,
    /// Whether `{schema}.partitioned_tables` exists: koku creates partitions by inserting
    /// there (a trigger runs the `CREATE TABLE ... PARTITION OF`).
    pub partition_registry: bool,
    /// The batches' columns, in their order, with the table's type of each.
    columns: Vec<TableColumn>,
}

/// One column a [`PostgresSink`] fills: its name, and how its values are sent, from the
/// table's catalog type.
#[derive(Debug, Clone)]
pub(crate) struct TableColumn {
    pub(crate) name: String,
    pub(crate) kind: ColumnKind,
    /// The length limit (`varchar(n)`), if any.
    pub(crate) max_chars: Option<usize>,
}

/// How a column's values are sent, by the table's type of the column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    /// `text`, `varchar`: from Utf8.
    Text,
    /// `jsonb`: from Utf8 marked with Arrow's `arrow.json` extension type.
    Json,
    /// `uuid`: from Utf8 holding uuid texts.
    Uuid,
    /// `int4`: from Int32.
    Int,
    /// `date`: from Date32.
    Date,
    /// `numeric`: from Float64.
    Numeric,
}

/// How a batch column of type `field` fills a table column of type `typname`, or the type
/// the table column should have.
fn column_kind(field: &Field, typname: &str) -> std::result::Result<ColumnKind, String> {
    let json = crate::file::is_json(field);
    match (field.data_type(), typname) {
        (DataType::Utf8, "jsonb") if json => Ok(ColumnKind::Json),
        (DataType::Utf8, _) if json => Err("jsonb".into()),
        (DataType::Utf8, "text" | "varchar") => Ok(ColumnKind::Text),
        (DataType::Utf8, "uuid") => Ok(ColumnKind::Uuid),
        (DataType::Utf8, _) => Err("text".into()),
        (DataType::Int32, "int4") => Ok(ColumnKind::Int),
        (DataType::Int32, _) => Err("integer".into()),
        (DataType::Date32, "date") => Ok(ColumnKind::Date),
        (DataType::Date32, _) => Err("date".into()),
        (DataType::Float64, "numeric") => Ok(ColumnKind::Numeric),
        (DataType::Float64, _) => Err("numeric".into()),
        (other, _) => Err(format!(
            "a type for Arrow's {other}, which the COPY cannot send"
        )),
    }
}

impl SummaryTable {
    /// Checks that the schema and the summary table exist, and that every column of the
    /// batches to write (`columns`, e.g. `ocpagg_aggregate::schema::summary_schema()`) is
    /// there with a type the COPY can fill: the PostgreSQL types come from the table's
    /// catalog, JSON columns are those marked with Arrow's `arrow.json` extension type.
    pub fn check(
        client: &mut Client,
        target: &PgTarget,
        schema: &str,
        columns: &SchemaRef,
    ) -> Result<Self> {
        let shown = target.to_string();
        let exists: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                &[&schema],
            )
            .map_err(db_error(&shown, "cannot list schemas"))?
            .get(0);
        if !exists {
            return Err(WriteError::Schema {
                target: shown,
                table: format!("{schema}.{SUMMARY_TABLE}"),
                reason: format!(
                    "schema {schema} does not exist; check --schema, or create it with `ocpagg init-db --database-url ... --schema {schema}`"
                ),
            });
        }
        let rows = client
            .query(
                "SELECT c.relkind::text, a.attname::text, t.typname::text,
                        CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4
                             THEN a.atttypmod - 4 END
                   FROM pg_class c
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                   LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                   LEFT JOIN pg_type t ON t.oid = a.atttypid
                  WHERE n.nspname = $1 AND c.relname = $2",
                &[&schema, &SUMMARY_TABLE],
            )
            .map_err(db_error(&shown, "cannot read the summary table's columns"))?;
        let table = format!("{schema}.{SUMMARY_TABLE}");
        let Some(first) = rows.first() else {
            return Err(missing_table(&shown, schema, SUMMARY_TABLE));
        };
        let kind: String = first.get(0);
        let catalog: BTreeMap<String, (String, Option<i32>)> = rows
            .iter()
            .filter_map(|r| {
                Some((
                    r.get::<_, Option<String>>(1)?,
                    (r.get::<_, Option<String>>(2)?, r.get::<_, Option<i32>>(3)),
                ))
            })
            .collect();
        let mut problems = Vec::new();
        let mut table_columns = Vec::with_capacity(columns.fields().len());
        for field in columns.fields() {
            let name = field.name();
            match catalog.get(name) {
                None => problems.push(format!("column {name} is missing")),
                Some((t, max)) => match column_kind(field, t) {
                    Ok(kind) => table_columns.push(TableColumn {
                        name: name.clone(),
                        kind,
                        max_chars: max.and_then(|n| usize::try_from(n).ok()),
                    }),
                    Err(expected) => {
                        problems.push(format!("column {name} has type {t}, expected {expected}"));
                    }
                },
            }
        }
        if !problems.is_empty() {
            return Err(WriteError::Schema {
                target: shown,
                table,
                reason: format!("not koku's summary table: {}", problems.join("; ")),
            });
        }
        let partition_registry = table_exists(client, &shown, schema, "partitioned_tables")?;
        Ok(Self {
            schema: schema.to_string(),
            partitioned: kind == "p",
            partition_registry,
            columns: table_columns,
        })
    }

    /// The most characters `column` holds (`varchar(n)`), or `None` when it has no limit.
    pub fn max_chars(&self, column: &str) -> Option<usize> {
        self.columns
            .iter()
            .find(|c| c.name == column)
            .and_then(|c| c.max_chars)
    }

    /// The columns the sink fills, in the batches' order.
    pub(crate) fn columns(&self) -> &[TableColumn] {
        &self.columns
    }

    /// Checks a value that every row carries (`cluster_id`, `cluster_alias`) against its
    /// column's length, before any row is written.
    pub fn check_length(&self, target: &PgTarget, column: &str, value: &str) -> Result<()> {
        match self.max_chars(column) {
            Some(max) if value.chars().count() > max => Err(WriteError::Schema {
                target: target.to_string(),
                table: format!("{}.{SUMMARY_TABLE}", self.schema),
                reason: format!(
                    "{column} is {} characters long; the column is varchar({max})",
                    value.chars().count()
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The schema-qualified, quoted table name.
    pub fn qualified(&self) -> String {
        format!(
            "{}.{}",
            quote_ident(&self.schema),
            quote_ident(SUMMARY_TABLE)
        )
    }

    /// Whether the month of `day` has its partition, or could get one, without creating
    /// anything: what [`SummaryTable::ensure_partition`] would find or do, and whether the
    /// connected role has the privileges it needs for that (read-only; for `ocpagg preflight`).
    pub fn partition_status(
        &self,
        client: &mut Client,
        target: &PgTarget,
        day: NaiveDate,
    ) -> Result<PartitionStatus> {
        if !self.partitioned {
            return Ok(PartitionStatus::NotPartitioned);
        }
        let shown = target.to_string();
        let (name, _, _) = month_partition(day)?;
        if table_exists(client, &shown, &self.schema, &name)? {
            return Ok(PartitionStatus::Exists { name });
        }
        // ensure_partition inserts into partitioned_tables (whose trigger runs CREATE TABLE
        // as the same role) and then runs CREATE TABLE ... PARTITION OF itself: either way
        // the role needs CREATE on the schema and must own (be a member of the owner of) the
        // parent table, plus INSERT on the registry when there is one.
        let row = client
            .query_one(
                "SELECT has_schema_privilege($1::text, 'CREATE'),
                        pg_has_role(c.relowner, 'USAGE'),
                        CASE WHEN $3 THEN has_table_privilege(
                            format('%I.%I', $1::text, 'partitioned_tables'), 'INSERT')
                        ELSE true END
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = $1 AND c.relname = $2",
                &[&self.schema, &SUMMARY_TABLE, &self.partition_registry],
            )
            .map_err(db_error(
                &shown,
                format!("cannot check the privileges on schema {}", self.schema),
            ))?;
        let (create, owner, insert): (bool, bool, bool) = (row.get(0), row.get(1), row.get(2));
        let mut missing = Vec::new();
        if !create {
            missing.push(format!("CREATE on schema {}", self.schema));
        }
        if !owner {
            missing.push(format!(
                "ownership of {}.{SUMMARY_TABLE} (a partition is created by the table's owner)",
                self.schema
            ));
        }
        if !insert {
            missing.push(format!("INSERT on {}.partitioned_tables", self.schema));
        }
        Ok(if missing.is_empty() {
            PartitionStatus::WillBeCreated {
                name,
                via_registry: self.partition_registry,
            }
        } else {
            PartitionStatus::CannotCreate { name, missing }
        })
    }

    /// The table privileges a run needs (SELECT, INSERT and DELETE on the summary table,
    /// SELECT on the side-input tables) that the connected role lacks, as `PRIVILEGE on
    /// table`. Empty when a run may write. Tables that do not exist are skipped (their
    /// absence is reported by [`SummaryTable::check`] and [`read_side_inputs`]).
    pub fn missing_privileges(
        &self,
        client: &mut Client,
        target: &PgTarget,
    ) -> Result<Vec<String>> {
        let shown = target.to_string();
        let mut needed = vec![
            (SUMMARY_TABLE, "SELECT"),
            (SUMMARY_TABLE, "INSERT"),
            (SUMMARY_TABLE, "DELETE"),
        ];
        for table in SIDE_INPUT_TABLES {
            needed.push((table, "SELECT"));
        }
        let mut missing = Vec::new();
        for (table, privilege) in needed {
            let granted: Option<bool> = client
                .query_one(
                    "SELECT CASE WHEN to_regclass(format('%I.%I', $1::text, $2::text)) IS NULL
                                 THEN NULL
                                 ELSE has_table_privilege(format('%I.%I', $1::text, $2::text), $3) END",
                    &[&self.schema, &table, &privilege],
                )
                .map_err(db_error(
                    &shown,
                    format!("cannot check the privileges on {}.{table}", self.schema),
                ))?
                .get(0);
            if granted == Some(false) {
                missing.push(format!("{privilege} on {}.{table}", self.schema));
            }
        }
        Ok(missing)
    }

    /// Makes sure the month of `day` has its partition, `{table}_YYYY_MM` covering
    /// [first of month, first of next month), creating it as koku does when it is missing:
    /// through `partitioned_tables` where that table exists, directly otherwise. Runs in its
    /// own short transaction under an advisory lock, so racing runs create it once. Each
    /// attempt waits at most a few seconds for the table's lock (`lock_timeout`), and gives it
    /// up between attempts, so a long reader of the table delays the run a bounded time and
    /// never queues koku's other readers behind it.
    pub fn ensure_partition(
        &self,
        client: &mut Client,
        target: &PgTarget,
        day: NaiveDate,
    ) -> Result<Option<String>> {
        if !self.partitioned {
            return Ok(None);
        }
        let shown = target.to_string();
        let (name, from, to) = month_partition(day)?;
        if table_exists(client, &shown, &self.schema, &name)? {
            return Ok(None);
        }
        let action = format!("cannot create partition {}.{name}", self.schema);
        // CREATE TABLE ... PARTITION OF takes an ACCESS EXCLUSIVE lock on the parent: behind a
        // long reader (another source's run, a koku report) it would wait without limit, and
        // every later reader would queue behind it. So each attempt waits a bounded time, and
        // gives the lock up between attempts.
        let mut wait = PARTITION_RETRY_BACKOFF;
        for attempt in 1..=PARTITION_ATTEMPTS {
            match self.create_partition(client, &name, from, to) {
                Err(e) if attempt < PARTITION_ATTEMPTS && is_lock_timeout(&e) => {
                    tracing::warn!(
                        partition = %name,
                        schema = %self.schema,
                        attempt,
                        "The summary table is locked by another session; retrying the partition's creation in {} ms.",
                        wait.as_millis()
                    );
                    std::thread::sleep(wait);
                    wait *= 2;
                }
                Err(source) if is_lock_timeout(&source) => {
                    return Err(WriteError::Database {
                        target: shown,
                        action: format!(
                            "{action}: the summary table stayed locked by another session through {PARTITION_ATTEMPTS} attempts of {} s each (a long query or another run holds it; retry later)",
                            PARTITION_LOCK_TIMEOUT.as_secs()
                        ),
                        source,
                    })
                }
                Err(source) => {
                    return Err(WriteError::Database {
                        target: shown,
                        action,
                        source,
                    })
                }
                Ok(false) => return Ok(None),
                Ok(true) => break,
            }
        }
        tracing::info!(partition = %name, schema = %self.schema, "Created the month's partition.");
        Ok(Some(name))
    }

    /// One attempt: a transaction under the partition's advisory lock, with a bounded
    /// `lock_timeout`. `Ok(false)` when another run created it first.
    fn create_partition(
        &self,
        client: &mut Client,
        name: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> std::result::Result<bool, postgres::Error> {
        let mut tx = client.transaction()?;
        tx.batch_execute(&format!(
            "SET LOCAL lock_timeout = '{}ms'",
            PARTITION_LOCK_TIMEOUT.as_millis()
        ))?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&format!("ocpagg:partition:{}.{name}", self.schema)],
        )?;
        let exists: bool = tx
            .query_one(
                "SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL",
                &[&self.schema, &name],
            )?
            .get(0);
        if exists {
            return Ok(false);
        }
        if self.partition_registry {
            let params = format!(r#"{{"default": false, "from": "{from}", "to": "{to}"}}"#);
            tx.execute(
                &format!(
                    "INSERT INTO {}.partitioned_tables
                        (schema_name, table_name, partition_of_table_name, partition_type,
                         partition_col, partition_parameters, active)
                     VALUES ($1, $2, $3, 'range', 'usage_start', $4::text::jsonb, true)
                     ON CONFLICT (schema_name, table_name) DO NOTHING",
                    quote_ident(&self.schema)
                ),
                &[&self.schema, &name, &SUMMARY_TABLE, &params],
            )?;
        }
        // Without a registry, or if its trigger did not create the table: create it directly.
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {}.{} PARTITION OF {} FOR VALUES FROM ('{from}') TO ('{to}')",
            quote_ident(&self.schema),
            quote_ident(name),
            self.qualified()
        ))?;
        tx.commit()?;
        Ok(true)
    }
}

/// How long one attempt to create a partition waits for the summary table's lock.
const PARTITION_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// Attempts before giving up (about 3 s each, plus 0.5 + 1 + 2 s between them).
const PARTITION_ATTEMPTS: u32 = 4;
/// The first pause between attempts, doubled each time.
const PARTITION_RETRY_BACKOFF: std::time::Duration = std::time::Duration::from_millis(500);

/// Whether a failure is `lock_timeout` expiring (SQLSTATE 55P03, lock_not_available).
fn is_lock_timeout(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE)
}
