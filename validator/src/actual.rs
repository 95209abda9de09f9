//! The rows a run actually wrote: our Parquet or CSV output file, or koku's PostgreSQL table.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::error::{Result, ValidateError};
use crate::expected::DateRange;
use crate::row::{RowKind, SummaryRow, NUMBER_COLUMNS};

/// Rows read back from an output, with what the format can and cannot tell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActualRows {
    /// The rows.
    pub rows: Vec<SummaryRow>,
    /// CSV writes null and `''` alike (an empty field), so they read back as null; the
    /// comparison then treats an expected `''` as null.
    pub empty_text_is_null: bool,
}

impl From<Vec<SummaryRow>> for ActualRows {
    fn from(rows: Vec<SummaryRow>) -> Self {
        Self {
            rows,
            empty_text_is_null: false,
        }
    }
}

/// The text columns read, besides the numbers.
const TEXT_COLUMNS: [&str; 11] = [
    "data_source",
    "usage_start",
    "namespace",
    "node",
    "resource_id",
    "persistentvolumeclaim",
    "persistentvolume",
    "storageclass",
    "pod_labels",
    "volume_labels",
    "all_labels",
];

/// One row as loosely typed cells, before interpretation.
struct Cells<'a> {
    text: [Option<&'a str>; TEXT_COLUMNS.len()],
    numbers: [Option<f64>; NUMBER_COLUMNS.len()],
    cost_category_id: Option<i64>,
    source_uuid: Option<&'a str>,
}

fn text_index(name: &str) -> usize {
    TEXT_COLUMNS
        .iter()
        .position(|c| *c == name)
        .expect("a text column")
}

/// Turns cells into a row; `origin` names the file or table in errors.
fn interpret(cells: &Cells, origin: &str) -> Result<SummaryRow> {
    let text = |name: &str| cells.text[text_index(name)];
    let bad = |column: &str, reason: String| ValidateError::Column {
        path: origin.to_string(),
        column: column.to_string(),
        reason,
    };
    let json = |name: &str| -> Result<Option<Value>> {
        text(name)
            .map(|t| serde_json::from_str(t).map_err(|e| bad(name, format!("not JSON ({e}): {t}"))))
            .transpose()
    };
    let source = text("data_source").ok_or_else(|| bad("data_source", "null".into()))?;
    let pod_labels = json("pod_labels")?;
    let kind = RowKind::of(source, pod_labels.is_some())
        .ok_or_else(|| bad("data_source", format!("unknown value `{source}`")))?;
    let day_text = text("usage_start").ok_or_else(|| bad("usage_start", "null".into()))?;
    let day = NaiveDate::parse_from_str(day_text.get(..10).unwrap_or(day_text), "%Y-%m-%d")
        .map_err(|e| bad("usage_start", format!("`{day_text}` is not a date: {e}")))?;
    let owned = |name: &str| text(name).map(str::to_string);
    Ok(SummaryRow {
        kind,
        day,
        namespace: owned("namespace"),
        node: owned("node"),
        resource_id: owned("resource_id"),
        persistentvolumeclaim: owned("persistentvolumeclaim"),
        persistentvolume: owned("persistentvolume"),
        storageclass: owned("storageclass"),
        pod_labels,
        volume_labels: json("volume_labels")?,
        all_labels: json("all_labels")?,
        cost_category_id: cells.cost_category_id,
        numbers: cells.numbers,
    })
}

/// Reads our Parquet or CSV output (by extension), keeping the rows of `source` (when given)
/// and of the days in `range`.
pub fn load_file(path: &Path, source: Option<&str>, range: &DateRange) -> Result<ActualRows> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let (batches, csv) = match ext.as_deref() {
        Some("parquet") => (read_parquet(path)?, false),
        Some("csv") => (read_csv(path)?, true),
        _ => {
            return Err(ValidateError::Column {
                path: path.display().to_string(),
                column: "-".into(),
                reason: "unknown extension; expected .parquet or .csv".into(),
            })
        }
    };
    let origin = path.display().to_string();
    let mut rows = Vec::new();
    for batch in &batches {
        batch_rows(batch, &origin, csv, source, range, &mut rows)?;
    }
    Ok(ActualRows {
        rows,
        empty_text_is_null: csv,
    })
}

fn decode(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> ValidateError {
    ValidateError::Decode {
        path: path.to_path_buf(),
        source: Box::new(e),
    }
}

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|source| ValidateError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(open(path)?)
        .map_err(|e| decode(path, e))?
        .build()
        .map_err(|e| decode(path, e))?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| decode(path, e))
}

/// CSV read as text: every column Utf8, empty fields null.
fn read_csv(path: &Path) -> Result<Vec<RecordBatch>> {
    let mut header = String::new();
    BufReader::new(open(path)?)
        .read_line(&mut header)
        .map_err(|source| ValidateError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let fields: Vec<Field> = header
        .trim_end()
        .split(',')
        .map(|name| Field::new(name.trim_matches('"'), DataType::Utf8, true))
        .collect();
    let reader = arrow::csv::ReaderBuilder::new(Arc::new(Schema::new(fields)))
        .with_header(true)
        .build(open(path)?)
        .map_err(|e| decode(path, e))?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| decode(path, e))
}

fn batch_rows(
    batch: &RecordBatch,
    origin: &str,
    csv: bool,
    source: Option<&str>,
    range: &DateRange,
    out: &mut Vec<SummaryRow>,
) -> Result<()> {
    let missing = |column: &str| ValidateError::Column {
        path: origin.to_string(),
        column: column.to_string(),
        reason: "missing".into(),
    };
    let cast = |name: &str, to: &DataType| -> Result<Arc<dyn Array>> {
        let column = batch.column_by_name(name).ok_or_else(|| missing(name))?;
        arrow::compute::cast(column, to).map_err(|e| ValidateError::Column {
            path: origin.to_string(),
            column: name.to_string(),
            reason: format!("cannot read as {to}: {e}"),
        })
    };
    let texts: Vec<Arc<dyn Array>> = TEXT_COLUMNS
        .iter()
        .map(|c| cast(c, &DataType::Utf8))
        .collect::<Result<_>>()?;
    let numbers: Vec<Arc<dyn Array>> = NUMBER_COLUMNS
        .iter()
        .map(|c| cast(c, &DataType::Float64))
        .collect::<Result<_>>()?;
    let category = cast("cost_category_id", &DataType::Int64)?;
    let uuid = cast("source_uuid", &DataType::Utf8)?;
    fn text_of(a: &Arc<dyn Array>, i: usize, csv: bool) -> Option<&str> {
        let s = a.as_string::<i32>();
        let v = s.is_valid(i).then(|| s.value(i));
        if csv {
            v.filter(|t| !t.is_empty())
        } else {
            v
        }
    }
    let text_at = |a, i| text_of(a, i, csv);
    for i in 0..batch.num_rows() {
        let mut cells = Cells {
            text: [None; TEXT_COLUMNS.len()],
            numbers: [None; NUMBER_COLUMNS.len()],
            cost_category_id: None,
            source_uuid: text_at(&uuid, i),
        };
        for (slot, a) in cells.text.iter_mut().zip(&texts) {
            *slot = text_at(a, i);
        }
        for (slot, a) in cells.numbers.iter_mut().zip(&numbers) {
            let f = a.as_primitive::<Float64Type>();
            *slot = f.is_valid(i).then(|| f.value(i));
        }
        let c = category.as_primitive::<Int64Type>();
        cells.cost_category_id = c.is_valid(i).then(|| c.value(i));
        if source.is_some_and(|s| cells.source_uuid != Some(s)) {
            continue;
        }
        let row = interpret(&cells, origin)?;
        if range.contains(row.day) {
            out.push(row);
        }
    }
    Ok(())
}

/// Reads `{schema}.reporting_ocpusagelineitem_daily_summary`: the rows of `source` whose
/// usage_start is in `range`.
pub fn load_postgres(
    client: &mut postgres::Client,
    schema: &str,
    source: &str,
    range: &DateRange,
) -> Result<ActualRows> {
    let table = format!(
        "{}.reporting_ocpusagelineitem_daily_summary",
        quote_ident(schema)
    );
    let mut select: Vec<String> = TEXT_COLUMNS.iter().map(|c| format!("{c}::text")).collect();
    select.extend(NUMBER_COLUMNS.iter().map(|c| format!("{c}::float8")));
    select.push("cost_category_id::int8".into());
    let mut sql = format!(
        "SELECT {} FROM {table} WHERE source_uuid::text = $1",
        select.join(", ")
    );
    let start = range.start.map(|d| d.to_string());
    let end = range.end.map(|d| d.to_string());
    let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&source];
    if let Some(s) = &start {
        params.push(s);
        sql.push_str(&format!(
            " AND usage_start >= to_date(${}, 'YYYY-MM-DD')",
            params.len()
        ));
    }
    if let Some(e) = &end {
        params.push(e);
        sql.push_str(&format!(
            " AND usage_start <= to_date(${}, 'YYYY-MM-DD')",
            params.len()
        ));
    }
    let found = client
        .query(&sql, &params)
        .map_err(|source| ValidateError::Database {
            what: format!("reading {table}"),
            source,
        })?;
    let origin = format!("table {table}");
    let mut rows = Vec::with_capacity(found.len());
    for r in &found {
        let mut cells = Cells {
            text: [None; TEXT_COLUMNS.len()],
            numbers: [None; NUMBER_COLUMNS.len()],
            cost_category_id: r.get(TEXT_COLUMNS.len() + NUMBER_COLUMNS.len()),
            source_uuid: Some(source),
        };
        for (i, slot) in cells.text.iter_mut().enumerate() {
            *slot = r.get(i);
        }
        for (i, slot) in cells.numbers.iter_mut().enumerate() {
            *slot = r.get(TEXT_COLUMNS.len() + i);
        }
        rows.push(interpret(&cells, &origin)?);
    }
    Ok(rows.into())
}

/// A SQL identifier in double quotes.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
