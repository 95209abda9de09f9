//! The PostgreSQL sink: one transaction that deletes a source's slice of days and COPYs the
//! new rows in.
//!
//! The connection lives on a session thread of its own, because a COPY in progress borrows
//! the connection and so cannot be kept between two [`SummarySink::write`] calls. The
//! session starts at once (lock, delete), so the delete overlaps the pipeline's reading;
//! batches reach it through a small bounded channel.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrow::array::{
    Array, AsArray, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray,
};
use arrow::datatypes::{Date32Type, Float64Type, Int32Type};
use chrono::NaiveDate;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use postgres::Client;

use super::encode::{write_text_field, Cell, Decimal};
use super::{
    advisory_lock, db_error, quote_ident, slice_lock_key, ColumnKind, PgTarget, SummaryTable,
};
use crate::{Result, SummarySink, WriteError, WriteReport};

/// How rows travel to the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CopyFormat {
    /// `COPY ... (FORMAT binary)`: numbers as base-10000 `numeric`, no text parsing on the
    /// server. The default: the faster of the two (see the writer benchmark).
    #[default]
    Binary,
    /// `COPY ... (FORMAT text)`: tab-separated text.
    Text,
}

/// The rows a run replaces: one source's days `start..=end`, except those with an
/// `infrastructure_raw_cost` (koku's OCP-on-cloud step wrote them and may not run again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// `source_uuid`.
    pub source_uuid: uuid::Uuid,
    /// koku's report period of the source and month, when known: its rows are replaced too
    /// (koku's own delete is by report period).
    pub report_period_id: Option<i32>,
    /// First day, inclusive.
    pub start: NaiveDate,
    /// Last day, inclusive.
    pub end: NaiveDate,
    /// Only these days of `start..=end` (an incremental run's affected days, which need not
    /// be contiguous); `None`: every day.
    pub days: Option<Vec<NaiveDate>>,
}

impl Slice {
    /// The `WHERE` clause of the rows a run replaces, koku's
    /// `delete_all_except_infrastructure_raw_cost_from_daily_summary` widened to this
    /// source's rows: `$1` is the source, `$2`..`$3` the days, `$4` the report period.
    pub const DELETE_WHERE: &'static str = "(source_uuid = $1 OR report_period_id = $4)
           AND usage_start >= $2 AND usage_start <= $3
           AND (infrastructure_raw_cost IS NULL OR infrastructure_raw_cost = 0)";
    /// [`Slice::DELETE_WHERE`] restricted to some days: `$5` is the array of days.
    pub const DELETE_DAYS_WHERE: &'static str = "(source_uuid = $1 OR report_period_id = $4)
           AND usage_start >= $2 AND usage_start <= $3 AND usage_start = ANY($5)
           AND (infrastructure_raw_cost IS NULL OR infrastructure_raw_cost = 0)";
}

/// Work done in the sink's transaction just before it commits (an incremental run's state,
/// [`super::state::store_state`]); an error rolls everything back.
pub type BeforeCommit =
    Box<dyn FnOnce(&mut postgres::Transaction<'_>, &str) -> Result<()> + Send + 'static>;

enum Command {
    Batch(RecordBatch),
    Commit,
}

/// A sink into koku's summary table. Nothing is visible to other sessions until
/// [`SummarySink::finish`] commits; an error or a drop rolls the transaction back.
pub struct PostgresSink {
    commands: Option<SyncSender<Command>>,
    session: Option<JoinHandle<Result<WriteReport>>>,
    /// Cancels the session's statement when the sink is dropped unfinished: it may be
    /// waiting, without limit, for another run's lock.
    cancel: CancelHandle,
}

/// Cancels what the sink's database session is running (a wait for a lock, a COPY), from any
/// thread; the session then fails and rolls back.
#[derive(Clone)]
pub struct CancelHandle(postgres::CancelToken, super::tls::MakeRustls);

impl CancelHandle {
    /// A handle on what `client`'s session runs.
    pub fn new(client: &Client, target: &PgTarget) -> Self {
        CancelHandle(client.cancel_token(), target.tls_connector())
    }

    /// Sends the cancel request (a new connection to the server); errors are ignored: the
    /// session may have ended already.
    pub fn cancel(&self) {
        let _ = self.0.cancel_query(self.1.clone());
    }
}

impl PostgresSink {
    /// Starts the session: creates the month's partition if needed, then begins the
    /// transaction, takes the (schema, source) lock and deletes the slice, while the caller
    /// goes on reading.
    pub fn open(
        client: Client,
        target: &PgTarget,
        table: SummaryTable,
        slice: Slice,
        format: CopyFormat,
    ) -> Result<Self> {
        Self::open_with(client, target, table, slice, format, None)
    }

    /// [`PostgresSink::open`], running `before_commit` in the transaction after the COPY and
    /// before the commit.
    pub fn open_with(
        mut client: Client,
        target: &PgTarget,
        table: SummaryTable,
        slice: Slice,
        format: CopyFormat,
        before_commit: Option<BeforeCommit>,
    ) -> Result<Self> {
        let created = table.ensure_partition(&mut client, target, slice.start)?;
        let created: Vec<String> = created
            .map(|name| format!("{}.{name}", table.schema))
            .into_iter()
            .collect();
        let cancel = CancelHandle(client.cancel_token(), target.tls_connector());
        let (tx, rx) = sync_channel(4);
        let shown = target.to_string();
        let session = std::thread::Builder::new()
            .name("ocpagg-pg".into())
            .spawn(move || {
                session(client, &shown, &table, slice, format, rx, before_commit).map(|report| {
                    WriteReport {
                        partitions_created: created,
                        ..report
                    }
                })
            })
            .map_err(|e| WriteError::Io {
                path: target.to_string(),
                source: Box::new(e),
            })?;
        Ok(Self {
            commands: Some(tx),
            session: Some(session),
            cancel,
        })
    }

    /// A handle that cancels the session's running statement from another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    fn session_result(&mut self) -> Result<WriteReport> {
        self.commands = None;
        let Some(handle) = self.session.take() else {
            return Err(WriteError::Aborted {
                reason: "the database session has already ended".into(),
            });
        };
        handle.join().unwrap_or_else(|_| {
            Err(WriteError::Aborted {
                reason: "the database session thread panicked".into(),
            })
        })
    }
}

impl SummarySink for PostgresSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let Some(commands) = self.commands.as_ref() else {
            return Err(WriteError::Aborted {
                reason: "a batch after the end of the rows".into(),
            });
        };
        let sent = commands.send(Command::Batch(batch.clone()));
        if sent.is_err() {
            // The session stopped early: its result is the error.
            return Err(match self.session_result() {
                Err(e) => e,
                Ok(_) => WriteError::Aborted {
                    reason: "the database session ended early".into(),
                },
            });
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<WriteReport> {
        if let Some(tx) = &self.commands {
            let _ = tx.send(Command::Commit);
        }
        self.session_result()
    }
}

impl Drop for PostgresSink {
    fn drop(&mut self) {
        if self.session.is_some() {
            // Disconnecting the channel makes the session roll back, and cancelling its
            // statement ends a wait on another session's lock; wait for it so the rollback is
            // done before the process goes on (or exits).
            self.commands = None;
            self.cancel.cancel();
            let _ = self.session_result();
        }
    }
}

/// The session thread: BEGIN, lock, DELETE, COPY every batch, COMMIT on `Commit`.
fn session(
    mut client: Client,
    target: &str,
    table: &SummaryTable,
    slice: Slice,
    format: CopyFormat,
    commands: Receiver<Command>,
    before_commit: Option<BeforeCommit>,
) -> Result<WriteReport> {
    let name = table.qualified();
    let mut report = WriteReport {
        target: format!("{target} {}.{}", table.schema, super::SUMMARY_TABLE),
        ..Default::default()
    };
    let mut tx = client
        .transaction()
        .map_err(db_error(target, "cannot begin a transaction"))?;
    advisory_lock(
        &mut tx,
        target,
        &slice_lock_key(&table.schema, &slice.source_uuid),
    )?;
    let deleted = match &slice.days {
        None => tx.execute(
            &format!("DELETE FROM {name} WHERE {}", Slice::DELETE_WHERE),
            &[
                &slice.source_uuid,
                &slice.start,
                &slice.end,
                &slice.report_period_id,
            ],
        ),
        Some(days) => tx.execute(
            &format!("DELETE FROM {name} WHERE {}", Slice::DELETE_DAYS_WHERE),
            &[
                &slice.source_uuid,
                &slice.start,
                &slice.end,
                &slice.report_period_id,
                days,
            ],
        ),
    };
    report.rows_deleted = deleted.map_err(db_error(
        target,
        format!("cannot delete the old rows of {name}"),
    ))?;
    let columns = table
        .columns()
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let copy_failed = || db_error(target, format!("COPY into {name} failed"));
    let started = Instant::now();
    let mut copy_time = Duration::ZERO;
    match format {
        CopyFormat::Binary => {
            let writer = tx
                .copy_in(&format!(
                    "COPY {name} ({columns}) FROM STDIN (FORMAT binary)"
                ))
                .map_err(copy_failed())?;
            let types: Vec<Type> = table.columns().iter().map(|c| pg_type(c.kind)).collect();
            let mut writer = BinaryCopyInWriter::new(writer, &types);
            let mut encoder = BinaryRows::new(types.len());
            loop {
                match commands.recv() {
                    Ok(Command::Batch(batch)) => {
                        let t = Instant::now();
                        encoder.write(&Columns::of(&batch, table)?, &mut writer, target, &name)?;
                        report.count(&batch);
                        copy_time += t.elapsed();
                    }
                    Ok(Command::Commit) => break,
                    Err(_) => return Err(aborted()),
                }
            }
            writer.finish().map_err(copy_failed())?;
        }
        CopyFormat::Text => {
            let mut writer = tx
                .copy_in(&format!("COPY {name} ({columns}) FROM STDIN (FORMAT text)"))
                .map_err(copy_failed())?;
            let mut buf = Vec::with_capacity(1 << 16);
            let mut decimal = Decimal::default();
            loop {
                match commands.recv() {
                    Ok(Command::Batch(batch)) => {
                        let t = Instant::now();
                        let cols = Columns::of(&batch, table)?;
                        for row in 0..batch.num_rows() {
                            cols.text_row(row, &mut decimal, &mut buf)?;
                            if buf.len() >= 1 << 16 {
                                writer.write_all(&buf).map_err(|e| WriteError::Io {
                                    path: name.clone(),
                                    source: Box::new(e),
                                })?;
                                buf.clear();
                            }
                        }
                        report.count(&batch);
                        copy_time += t.elapsed();
                    }
                    Ok(Command::Commit) => break,
                    Err(_) => return Err(aborted()),
                }
            }
            writer.write_all(&buf).map_err(|e| WriteError::Io {
                path: name.clone(),
                source: Box::new(e),
            })?;
            writer.finish().map_err(copy_failed())?;
        }
    }
    if let Some(hook) = before_commit {
        hook(&mut tx, target)?;
    }
    tx.commit().map_err(db_error(
        target,
        format!("cannot commit the rows of {name}"),
    ))?;
    tracing::debug!(
        rows = report.rows,
        deleted = report.rows_deleted,
        copy_ms = copy_time.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "Committed the summary rows."
    );
    Ok(report)
}

fn aborted() -> WriteError {
    WriteError::Aborted {
        reason: "the run failed before all rows were written; the transaction was rolled back and the table keeps its previous rows".into(),
    }
}

fn pg_type(kind: ColumnKind) -> Type {
    match kind {
        ColumnKind::Uuid => Type::UUID,
        ColumnKind::Int => Type::INT4,
        ColumnKind::Date => Type::DATE,
        ColumnKind::Json => Type::JSONB,
        ColumnKind::Text => Type::TEXT,
        ColumnKind::Numeric => Type::NUMERIC,
    }
}

/// A summary batch's columns, typed once per batch.
enum Col<'a> {
    Text(&'a StringArray),
    Json(&'a StringArray),
    Uuid(&'a StringArray),
    Int(&'a Int32Array),
    Date(&'a Date32Array),
    Num(&'a Float64Array),
}

struct Columns<'a> {
    cols: Vec<(&'a str, Col<'a>)>,
    rows: usize,
    usage_start: &'a Date32Array,
}

impl<'a> Columns<'a> {
    /// Types the batch's columns, and checks every text against its column's length, so
    /// that a value the table cannot hold is named here rather than by the server's COPY
    /// error (which names neither row nor day).
    fn of(batch: &'a RecordBatch, table: &'a SummaryTable) -> Result<Self> {
        let expected = table.columns();
        if batch.num_columns() != expected.len() {
            return Err(WriteError::Aborted {
                reason: format!(
                    "a batch with {} columns is not in the schema the table was checked for ({} columns)",
                    batch.num_columns(),
                    expected.len()
                ),
            });
        }
        let cols = expected
            .iter()
            .zip(batch.columns())
            .map(|(c, a)| {
                let col = match c.kind {
                    ColumnKind::Uuid => a.as_string_opt::<i32>().map(Col::Uuid),
                    ColumnKind::Int => a.as_primitive_opt::<Int32Type>().map(Col::Int),
                    ColumnKind::Date => a.as_primitive_opt::<Date32Type>().map(Col::Date),
                    ColumnKind::Json => a.as_string_opt::<i32>().map(Col::Json),
                    ColumnKind::Text => a.as_string_opt::<i32>().map(Col::Text),
                    ColumnKind::Numeric => a.as_primitive_opt::<Float64Type>().map(Col::Num),
                };
                let col = col.ok_or_else(|| WriteError::Aborted {
                    reason: format!(
                        "column {}: a batch of type {} is not in the schema the table was checked for",
                        c.name,
                        a.data_type()
                    ),
                })?;
                Ok((c.name.as_str(), col))
            })
            .collect::<Result<Vec<_>>>()?;
        let usage_start = cols
            .iter()
            .find_map(|(name, col)| match col {
                Col::Date(a) if *name == "usage_start" => Some(*a),
                _ => None,
            })
            .ok_or_else(|| WriteError::Aborted {
                reason: "a batch without usage_start is not in the summary schema".into(),
            })?;
        let columns = Self {
            cols,
            rows: batch.num_rows(),
            usage_start,
        };
        for (name, col) in &columns.cols {
            let (Col::Text(a), Some(max)) = (col, table.max_chars(name)) else {
                continue;
            };
            for row in 0..columns.rows {
                // Bytes bound characters from above: count only the long ones.
                if a.is_valid(row) && a.value(row).len() > max {
                    let chars = a.value(row).chars().count();
                    if chars > max {
                        return Err(columns.bad_value(
                            row,
                            name,
                            &format!("a text of {chars} characters does not fit varchar({max})"),
                        ));
                    }
                }
            }
        }
        Ok(columns)
    }

    /// An error naming the column and the row's day.
    fn bad_value(&self, row: usize, column: &str, what: &str) -> WriteError {
        let day = self
            .usage_start
            .value_as_date(row)
            .map_or_else(|| "an unknown day".into(), |d| d.to_string());
        WriteError::Aborted {
            reason: format!("column {column}, a row of {day}: {what}; nothing was committed"),
        }
    }

    fn text_row(&self, row: usize, decimal: &mut Decimal, out: &mut Vec<u8>) -> Result<()> {
        for (i, (name, col)) in self.cols.iter().enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            let valid = match col {
                Col::Text(a) | Col::Json(a) | Col::Uuid(a) => a.is_valid(row),
                Col::Int(a) => a.is_valid(row),
                Col::Date(a) => a.is_valid(row),
                Col::Num(a) => a.is_valid(row),
            };
            if !valid {
                out.extend_from_slice(b"\\N");
                continue;
            }
            match col {
                Col::Text(a) | Col::Json(a) => write_text_field(a.value(row), out),
                Col::Uuid(a) => out.extend_from_slice(a.value(row).as_bytes()),
                Col::Int(a) => {
                    let _ = write!(out, "{}", a.value(row));
                }
                Col::Date(a) => {
                    let Some(d) = a.value_as_date(row) else {
                        return Err(self.bad_value(row, name, "a date beyond the calendar"));
                    };
                    let mut s = String::with_capacity(10);
                    let _ = write!(s, "{}", d.format("%Y-%m-%d"));
                    out.extend_from_slice(s.as_bytes());
                }
                Col::Num(a) => {
                    if !decimal.set(a.value(row)) {
                        return Err(self.bad_value(row, name, &unrepresentable(a.value(row))));
                    }
                    decimal.write_text(out);
                }
            }
        }
        out.push(b'\n');
        Ok(())
    }
}

fn unrepresentable(value: f64) -> String {
    format!("{value:e} cannot be stored as numeric(33,15), which holds |x| < 1e18")
}

/// Reusable per-row scratch space for binary rows.
struct BinaryRows {
    decimals: Vec<Decimal>,
    uuids: Vec<[u8; 16]>,
}

impl BinaryRows {
    /// Scratch space for rows of `n` columns.
    fn new(n: usize) -> Self {
        Self {
            decimals: (0..n).map(|_| Decimal::default()).collect(),
            uuids: vec![[0; 16]; n],
        }
    }

    fn write(
        &mut self,
        cols: &Columns<'_>,
        writer: &mut BinaryCopyInWriter<'_>,
        target: &str,
        table: &str,
    ) -> Result<()> {
        for row in 0..cols.rows {
            // Pass 1: values that need scratch space (numbers, uuids).
            for (i, (name, col)) in cols.cols.iter().enumerate() {
                match col {
                    Col::Num(a) if a.is_valid(row) && !self.decimals[i].set(a.value(row)) => {
                        return Err(cols.bad_value(row, name, &unrepresentable(a.value(row))));
                    }
                    Col::Uuid(a) if a.is_valid(row) => {
                        let text = a.value(row);
                        self.uuids[i] = *uuid::Uuid::parse_str(text)
                            .map_err(|e| WriteError::Aborted {
                                reason: format!("column {name}: {text:?} is not a uuid: {e}"),
                            })?
                            .as_bytes();
                    }
                    _ => {}
                }
            }
            // Pass 2: the row's cells.
            let cells = cols.cols.iter().enumerate().map(|(i, (_, col))| match col {
                Col::Text(a) if a.is_valid(row) => Cell::Text(a.value(row)),
                Col::Json(a) if a.is_valid(row) => Cell::Jsonb(a.value(row)),
                Col::Uuid(a) if a.is_valid(row) => Cell::Uuid(self.uuids[i]),
                Col::Int(a) if a.is_valid(row) => Cell::Int4(a.value(row)),
                Col::Date(a) if a.is_valid(row) => Cell::Date(a.value(row)),
                Col::Num(a) if a.is_valid(row) => Cell::Numeric(&self.decimals[i]),
                _ => Cell::Null,
            });
            writer
                .write_raw(cells)
                .map_err(db_error(target, format!("COPY into {table} failed")))?;
        }
        Ok(())
    }
}

/// Against the test server (`OCPAGG_TEST_DATABASE_URL`, started by scripts/test.sh or
/// scripts/pg-server.sh); skipped with a note when it is not set.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_batch::{batch, schema};

    fn server() -> Option<PgTarget> {
        let Ok(url) = std::env::var("OCPAGG_TEST_DATABASE_URL") else {
            eprintln!("OCPAGG_TEST_DATABASE_URL is not set: skipped");
            return None;
        };
        Some(PgTarget::parse(&url).unwrap())
    }

    /// A fresh koku schema, and its summary table checked for the test batches' columns.
    fn fresh(target: &PgTarget, name: &str) -> (Client, SummaryTable) {
        let mut client = target.connect().unwrap();
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
            .unwrap();
        super::super::init_db(&mut client, target, name).unwrap();
        client
            .batch_execute(&format!(
                "INSERT INTO {name}.reporting_ocp_cost_category (id, name) VALUES (3, 'test')"
            ))
            .unwrap();
        let table = SummaryTable::check(&mut client, target, name, &schema()).unwrap();
        (client, table)
    }

    fn slice() -> Slice {
        Slice {
            source_uuid: uuid::Uuid::from_u128(7),
            report_period_id: None,
            start: NaiveDate::from_ymd_opt(2025, 10, 1).unwrap(),
            end: NaiveDate::from_ymd_opt(2025, 10, 31).unwrap(),
            days: None,
        }
    }

    type Row = (
        String,
        NaiveDate,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i32>,
        Option<String>,
    );

    fn rows(client: &mut Client, name: &str) -> Vec<Row> {
        client
            .query(
                &format!(
                    "SELECT uuid::text, usage_start, data_source, namespace, pod_labels::text,
                            cost_category_id, pod_usage_cpu_core_hours::text
                       FROM {name}.reporting_ocpusagelineitem_daily_summary ORDER BY uuid"
                ),
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                )
            })
            .collect()
    }

    #[test]
    fn both_formats_commit_the_same_rows_with_the_catalogs_types() {
        let Some(target) = server() else { return };
        let mut results = Vec::new();
        for (format, name) in [
            (CopyFormat::Binary, "writer_unit_binary"),
            (CopyFormat::Text, "writer_unit_text"),
        ] {
            let (client, table) = fresh(&target, name);
            let mut sink: Box<dyn SummarySink> =
                Box::new(PostgresSink::open(client, &target, table, slice(), format).unwrap());
            sink.write(&batch([Some(1.5), None])).unwrap();
            let report = sink.finish().unwrap();
            assert_eq!(report.rows, 2);
            assert_eq!(
                report.partitions_created,
                [format!(
                    "{name}.reporting_ocpusagelineitem_daily_summary_2025_10"
                )]
            );
            let mut client = target.connect().unwrap();
            results.push(rows(&mut client, name));
            client
                .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
                .unwrap();
        }
        assert_eq!(results[0], results[1]);
        let day = |d| NaiveDate::from_ymd_opt(2025, 10, d).unwrap();
        assert_eq!(
            results[0],
            [
                (
                    "9a3e1c5e-1b0e-4a57-9d6c-0d2a1f4c3b01".to_string(),
                    day(1),
                    Some("Pod".to_string()),
                    Some("tab\there".to_string()),
                    Some(r#"{"app": "web"}"#.to_string()),
                    None,
                    Some("1.500000000000000".to_string()),
                ),
                (
                    "9a3e1c5e-1b0e-4a57-9d6c-0d2a1f4c3b02".to_string(),
                    day(2),
                    Some("Storage".to_string()),
                    None,
                    None,
                    Some(3),
                    None,
                ),
            ]
        );
    }

    #[test]
    fn a_dropped_or_failed_sink_keeps_the_previous_rows() {
        let Some(target) = server() else { return };
        let name = "writer_unit_rollback";
        let (client, table) = fresh(&target, name);
        let mut sink: Box<dyn SummarySink> = Box::new(
            PostgresSink::open(client, &target, table.clone(), slice(), CopyFormat::Binary)
                .unwrap(),
        );
        sink.write(&batch([Some(1.0), Some(2.0)])).unwrap();
        sink.finish().unwrap();
        let mut check = target.connect().unwrap();
        assert_eq!(rows(&mut check, name).len(), 2);

        // Dropped unfinished: rolled back.
        let client = target.connect().unwrap();
        let mut sink =
            PostgresSink::open(client, &target, table.clone(), slice(), CopyFormat::Binary)
                .unwrap();
        sink.write(&batch([Some(5.0), Some(6.0)])).unwrap();
        drop(sink);
        let kept = rows(&mut check, name);
        assert_eq!(kept[0].6.as_deref(), Some("1.000000000000000"));

        // A value numeric(33,15) cannot hold: refused, naming column and day; rolled back.
        let client = target.connect().unwrap();
        let mut sink: Box<dyn SummarySink> = Box::new(
            PostgresSink::open(client, &target, table, slice(), CopyFormat::Binary).unwrap(),
        );
        let err = match sink.write(&batch([Some(1.0), Some(1e19)])) {
            Err(e) => e,
            Ok(()) => sink.finish().unwrap_err(),
        }
        .to_string();
        assert!(
            err.contains("pod_usage_cpu_core_hours") && err.contains("2025-10-02"),
            "{err}"
        );
        assert_eq!(rows(&mut check, name), kept);
        check
            .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
            .unwrap();
    }

    #[test]
    fn a_column_of_the_wrong_type_is_named_at_check() {
        let Some(target) = server() else { return };
        let name = "writer_unit_types";
        let (mut client, _) = fresh(&target, name);
        client
            .batch_execute(&format!(
                "ALTER TABLE {name}.reporting_ocpusagelineitem_daily_summary
                     ALTER COLUMN data_source TYPE int4 USING NULL"
            ))
            .unwrap();
        let err = SummaryTable::check(&mut client, &target, name, &schema())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column data_source has type int4, expected text"),
            "{err}"
        );
        // JSON columns are known by Arrow's extension type, and need jsonb.
        let json = schema().field_with_name("pod_labels").unwrap().clone();
        assert_eq!(
            super::super::column_kind(&json, "jsonb"),
            Ok(ColumnKind::Json)
        );
        assert_eq!(
            super::super::column_kind(&json, "text"),
            Err("jsonb".into())
        );
        let text = schema().field_with_name("namespace").unwrap().clone();
        assert_eq!(
            super::super::column_kind(&text, "varchar"),
            Ok(ColumnKind::Text)
        );
        assert_eq!(
            super::super::column_kind(&text, "jsonb"),
            Err("text".into())
        );
        client
            .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
            .unwrap();
    }
}
