//! The sinks of an incremental run: [`DayFilter`] keeps only the affected days' rows (files
//! read for an affected day may hold other days too), and [`CarryOver`] adds a file output's
//! untouched days from the previous output, in the output's order. [`LayoutSink`] lays every
//! Parquet output out for that: one or more whole row groups per (section, day).
//!
//! A file output holds the Pod and Storage rows day by day, then every unallocated row
//! sorted by day first (README "Row order"). Both the new rows and the previous output's are
//! in (section, day) order, section 0 for Pod and Storage rows and 1 for unallocated rows
//! (data source `Pod` with null `pod_labels`), and their days do not meet, so the carried
//! rows are merged in by that key. When the previous output's state records its layout
//! ([`RowRun`]s that match its row groups, and whose days the row groups' statistics
//! confirm), its untouched days' row groups are copied as they are, column chunks spliced
//! without decoding; otherwise its rows are decoded, filtered and written again.

use std::collections::{BTreeSet, VecDeque};
use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{Date32Type, SchemaRef};
use ocpagg_writer::{FileSink, SummarySink, WriteError, WriteReport};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::data_type::ByteArray;
use parquet::file::metadata::{
    PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader, RowGroupMetaData,
};
use parquet::file::statistics::{Statistics, ValueStatistics};

use crate::incremental::RowRun;

type Result<T> = std::result::Result<T, WriteError>;

fn arrow_error(what: &str, e: impl std::fmt::Display) -> WriteError {
    WriteError::Aborted {
        reason: format!("{what}: {e}"),
    }
}

/// Keeps the rows whose `usage_start` is one of `days`.
pub struct DayFilter {
    inner: Box<dyn SummarySink>,
    days: BTreeSet<i32>,
}

impl DayFilter {
    /// Filters the batches written to `inner`.
    pub fn new(inner: Box<dyn SummarySink>, days: BTreeSet<i32>) -> Self {
        DayFilter { inner, days }
    }
}

fn days_of(batch: &RecordBatch) -> Result<&arrow::array::Date32Array> {
    batch
        .column_by_name("usage_start")
        .and_then(|c| c.as_primitive_opt::<Date32Type>())
        .ok_or_else(|| WriteError::Aborted {
            reason: "a summary batch without a usage_start date column".into(),
        })
}

impl SummarySink for DayFilter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let days = days_of(batch)?;
        let keep: BooleanArray = days
            .iter()
            .map(|d| Some(d.is_some_and(|d| self.days.contains(&d))))
            .collect();
        if keep.true_count() == batch.num_rows() {
            return self.inner.write(batch);
        }
        if keep.true_count() == 0 {
            return Ok(());
        }
        let kept = arrow::compute::filter_record_batch(batch, &keep)
            .map_err(|e| arrow_error("filtering the affected days", e))?;
        self.inner.write(&kept)
    }

    fn finish(self: Box<Self>) -> Result<WriteReport> {
        self.inner.finish()
    }

    fn takes_dictionary_texts(&self) -> bool {
        self.inner.takes_dictionary_texts()
    }
}

/// (section, day) of each row: section 1 for unallocated rows.
fn keys(batch: &RecordBatch) -> Result<Vec<Key>> {
    let days = days_of(batch)?;
    let source = batch
        .column_by_name("data_source")
        .map(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8))
        .transpose()
        .map_err(|e| arrow_error("reading data_source", e))?;
    let labels = batch.column_by_name("pod_labels");
    Ok((0..batch.num_rows())
        .map(|i| {
            let pod = source
                .as_ref()
                .is_some_and(|s| s.is_valid(i) && s.as_string::<i32>().value(i) == "Pod");
            let unallocated = pod && labels.is_some_and(|l| l.is_null(i));
            (u8::from(unallocated), days.value(i))
        })
        .collect())
}

/// (section, day): the order of a file output's rows, see the module doc.
type Key = (u8, i32);

/// The runs of equal keys in `keys`: (rows, key).
fn runs(keys: &[Key]) -> impl Iterator<Item = (Range<usize>, Key)> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        let key = *keys.get(start)?;
        let end = keys[start..]
            .iter()
            .position(|k| *k != key)
            .map_or(keys.len(), |n| start + n);
        let run = start..end;
        start = end;
        Some((run, key))
    })
}

/// A Parquet output laid out in row groups of one (section, day): a row group ends wherever
/// the key changes. The layout, as [`RowRun`]s, is put in `layout` when the output is
/// finished, for the state the footer keeps.
pub struct LayoutSink {
    inner: FileSink,
    runs: Vec<RowRun>,
    layout: Arc<Mutex<Vec<RowRun>>>,
}

impl LayoutSink {
    /// Lays out the rows written to `inner`.
    pub fn new(inner: FileSink, layout: Arc<Mutex<Vec<RowRun>>>) -> Self {
        LayoutSink {
            inner,
            runs: Vec::new(),
            layout,
        }
    }

    /// Notes `rows` rows of `key` about to be written, ending the row group on a new key.
    fn note(&mut self, (section, day): Key, rows: u64) -> Result<()> {
        match self.runs.last_mut() {
            Some(last) if (last.section, last.day) == (section, day) => last.rows += rows,
            _ => {
                self.inner.end_row_group()?;
                self.runs.push(RowRun { section, day, rows });
            }
        }
        Ok(())
    }

    /// Writes `batch` (rows carried over from the previous output if `carried`).
    fn write_rows(&mut self, batch: &RecordBatch, carried: bool) -> Result<()> {
        self.write_keyed(batch, &keys(batch)?, carried)
    }

    /// Writes `batch`, whose rows' keys are `keys`.
    fn write_keyed(&mut self, batch: &RecordBatch, keys: &[Key], carried: bool) -> Result<()> {
        for (rows, key) in runs(keys) {
            self.note(key, rows.len() as u64)?;
            let part = batch.slice(rows.start, rows.len());
            if carried {
                self.inner.write_carried(&part)?;
            } else {
                self.inner.write(&part)?;
            }
        }
        Ok(())
    }

    /// Copies row groups `groups` of `source`, `rows` rows of `key`, without decoding them;
    /// `false` if they cannot be copied (another Parquet schema).
    fn copy(
        &mut self,
        source: &File,
        metadata: &ParquetMetaData,
        groups: Range<usize>,
        (section, day): Key,
        rows: u64,
    ) -> Result<bool> {
        if !self.inner.copy_row_groups(source, metadata, groups)? {
            return Ok(false);
        }
        // The copy closed the row group before it, and the next rows start another.
        self.runs.push(RowRun { section, day, rows });
        Ok(true)
    }
}

impl SummarySink for LayoutSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write_rows(batch, false)
    }

    fn finish(self: Box<Self>) -> Result<WriteReport> {
        *self.layout.lock().expect("no poisoned lock") = self.runs;
        Box::new(self.inner).finish()
    }

    fn takes_dictionary_texts(&self) -> bool {
        self.inner.takes_dictionary_texts()
    }
}

/// The previous output's row groups of one run of its layout.
struct Unit {
    groups: Range<usize>,
    key: Key,
    rows: u64,
}

/// The previous output's row groups by run of its `layout`, or `None` when the layout does
/// not describe them (no layout, other row counts, a row group across two runs, a row group
/// whose statistics show rows of another day or section: see [`holds_only`]).
fn units(metadata: &ParquetMetaData, layout: &[RowRun]) -> Option<VecDeque<Unit>> {
    let groups = metadata.row_groups();
    let columns = metadata.file_metadata().schema_descr();
    let column = |name: &str| {
        columns
            .columns()
            .iter()
            .position(|c| c.path().string() == name)
    };
    let (usage_start, data_source) = (column("usage_start")?, column("data_source")?);
    let mut units = VecDeque::new();
    let mut next = 0;
    for run in layout {
        let (start, key) = (next, (run.section, run.day));
        let mut rows = 0u64;
        while rows < run.rows {
            let group = groups.get(next)?;
            if !holds_only(group, key, usage_start, data_source) {
                return None;
            }
            rows += u64::try_from(group.num_rows()).ok()?;
            next += 1;
        }
        if rows != run.rows || run.rows == 0 {
            return None;
        }
        units.push_back(Unit {
            groups: start..next,
            key,
            rows,
        });
    }
    (next == groups.len()).then_some(units)
}

/// Whether the statistics of row group `group` show that it holds rows of `key` only:
/// `usage_start` (column `usage_start`) is the day throughout, and for the unallocated
/// section every `data_source` (column `data_source`) is `Pod`. The layout comes from the
/// previous output's footer, and its row groups are copied without being decoded, so the
/// layout is not taken on trust: a group without these statistics, or with others, is not
/// copied (its rows are decoded and filtered instead), and a day being recomputed is never
/// carried over twice.
fn holds_only(
    group: &RowGroupMetaData,
    (section, day): Key,
    usage_start: usize,
    data_source: usize,
) -> bool {
    let days = match group.column(usage_start).statistics() {
        Some(Statistics::Int32(s)) => {
            s.min_opt() == Some(&day) && s.max_opt() == Some(&day) && s.null_count_opt() == Some(0)
        }
        _ => false,
    };
    let pods = |s: &ValueStatistics<ByteArray>| {
        let pod = |v: Option<&ByteArray>| v.is_some_and(|v| v.data() == b"Pod");
        pod(s.min_opt()) && pod(s.max_opt()) && s.null_count_opt() == Some(0)
    };
    let sources = section == 0
        || matches!(group.column(data_source).statistics(), Some(Statistics::ByteArray(s)) if pods(s));
    days && sources
}

/// An old batch being carried: its rows, their keys, the next row.
type Pending = (RecordBatch, Vec<Key>, usize);

/// The previous output, as it is carried over.
enum Old {
    /// Row groups by run of its layout, copied whole.
    Units {
        file: File,
        metadata: ParquetMetaData,
        units: VecDeque<Unit>,
    },
    /// Rows decoded a batch at a time, affected days filtered out.
    Rows(OldRows),
}

/// The previous output's rows, decoded.
struct OldRows {
    reader: Option<ParquetRecordBatchReader>,
    /// The current batch (affected days removed), its keys and the next row.
    pending: Option<Pending>,
}

impl OldRows {
    /// The next old batch with rows left, affected days removed.
    fn fill(&mut self, schema: &SchemaRef, affected: &BTreeSet<i32>) -> Result<bool> {
        loop {
            if let Some((batch, _, at)) = &self.pending {
                if *at < batch.num_rows() {
                    return Ok(true);
                }
                self.pending = None;
            }
            let Some(reader) = self.reader.as_mut() else {
                return Ok(false);
            };
            let Some(batch) = reader.next() else {
                self.reader = None;
                return Ok(false);
            };
            let batch = under(schema, batch)?;
            let days = days_of(&batch)?;
            let keep: BooleanArray = days
                .iter()
                .map(|d| Some(d.is_some_and(|d| !affected.contains(&d))))
                .collect();
            let batch = arrow::compute::filter_record_batch(&batch, &keep)
                .map_err(|e| arrow_error("filtering the previous output", e))?;
            let keys = keys(&batch)?;
            self.pending = Some((batch, keys, 0));
        }
    }
}

/// A batch of the previous output under our schema: it was written with the same schema,
/// but its fields' metadata may read back differently.
fn under(
    schema: &SchemaRef,
    batch: std::result::Result<RecordBatch, arrow::error::ArrowError>,
) -> Result<RecordBatch> {
    let batch = batch.map_err(|e| arrow_error("reading the previous output", e))?;
    RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
        .map_err(|e| arrow_error("the previous output's columns", e))
}

/// Writes the previous output's rows of the untouched days around the new rows.
pub struct CarryOver {
    out: LayoutSink,
    schema: SchemaRef,
    affected: BTreeSet<i32>,
    old: Old,
    carried: u64,
    copied: u64,
}

impl CarryOver {
    /// Carries the rows of days not in `affected` over from the Parquet file `previous`,
    /// whose state recorded `layout`.
    pub fn open(
        out: LayoutSink,
        schema: SchemaRef,
        previous: &Path,
        affected: BTreeSet<i32>,
        layout: &[RowRun],
    ) -> Result<Self> {
        let shown = previous.display().to_string();
        let failed = |e: Box<dyn std::error::Error + Send + Sync>| WriteError::Io {
            path: shown.clone(),
            source: e,
        };
        let file = File::open(previous).map_err(|e| failed(Box::new(e)))?;
        let metadata = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Optional)
            .parse_and_finish(&file)
            .map_err(|e| failed(Box::new(e)))?;
        let old = match units(&metadata, layout) {
            Some(units) => Old::Units {
                file,
                metadata,
                units,
            },
            None => {
                let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                    .and_then(|b| b.with_batch_size(8192).build())
                    .map_err(|e| failed(Box::new(e)))?;
                Old::Rows(OldRows {
                    reader: Some(reader),
                    pending: None,
                })
            }
        };
        Ok(CarryOver {
            out,
            schema,
            affected,
            old,
            carried: 0,
            copied: 0,
        })
    }

    /// Writes the old rows whose key is below `key` (all of them for `None`).
    fn flush_below(&mut self, key: Option<Key>) -> Result<()> {
        let below = |k: Key| key.is_none_or(|key| k < key);
        let CarryOver {
            out,
            schema,
            affected,
            old,
            carried,
            copied,
        } = self;
        match old {
            Old::Units {
                file,
                metadata,
                units,
            } => {
                while let Some(unit) = units.pop_front() {
                    if !below(unit.key) {
                        units.push_front(unit);
                        break;
                    }
                    if affected.contains(&unit.key.1) {
                        continue;
                    }
                    *carried += unit.rows;
                    if out.copy(file, metadata, unit.groups.clone(), unit.key, unit.rows)? {
                        *copied += unit.groups.len() as u64;
                        continue;
                    }
                    let file = file
                        .try_clone()
                        .map_err(|e| arrow_error("reading the previous output", e))?;
                    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                        .and_then(|b| {
                            b.with_row_groups(unit.groups.collect())
                                .with_batch_size(8192)
                                .build()
                        })
                        .map_err(|e| arrow_error("reading the previous output", e))?;
                    for batch in reader {
                        out.write_rows(&under(schema, batch)?, true)?;
                    }
                }
            }
            Old::Rows(rows) => {
                while rows.fill(schema, affected)? {
                    let (batch, keys, at) = rows.pending.as_mut().expect("filled");
                    let end = keys[*at..]
                        .iter()
                        .position(|k| !below(*k))
                        .map_or(keys.len(), |n| *at + n);
                    if end == *at {
                        return Ok(());
                    }
                    let part = batch.slice(*at, end - *at);
                    out.write_keyed(&part, &keys[*at..end], true)?;
                    *at = end;
                    *carried += part.num_rows() as u64;
                }
            }
        }
        Ok(())
    }
}

impl SummarySink for CarryOver {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let keys = keys(batch)?;
        for (rows, key) in runs(&keys) {
            self.flush_below(Some(key))?;
            let part = batch.slice(rows.start, rows.len());
            self.out.write_keyed(&part, &keys[rows], false)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<WriteReport> {
        self.flush_below(None)?;
        let mut report = Box::new(self.out).finish()?;
        report.rows_carried = self.carried;
        report.row_groups_copied = self.copied;
        Ok(report)
    }

    fn takes_dictionary_texts(&self) -> bool {
        self.out.takes_dictionary_texts()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Date32Array, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::{EnabledStatistics, WriterProperties};

    use super::*;

    /// A Parquet file of one row group per `groups` entry: (day, data sources), with
    /// `statistics`; its metadata.
    fn file_of(groups: &[(i32, &[&str])], statistics: EnabledStatistics) -> ParquetMetaData {
        let file = tempfile::tempfile().unwrap();
        let props = WriterProperties::builder()
            .set_statistics_enabled(statistics)
            .build();
        let batches: Vec<RecordBatch> = groups
            .iter()
            .map(|&(day, sources)| {
                RecordBatch::try_from_iter([
                    (
                        "usage_start",
                        Arc::new(Date32Array::from(vec![day; sources.len()])) as ArrayRef,
                    ),
                    (
                        "data_source",
                        Arc::new(StringArray::from(sources.to_vec())) as ArrayRef,
                    ),
                ])
                .unwrap()
            })
            .collect();
        let mut writer =
            ArrowWriter::try_new(file.try_clone().unwrap(), batches[0].schema(), Some(props))
                .unwrap();
        for batch in &batches {
            writer.write(batch).unwrap();
            writer.flush().unwrap();
        }
        writer.close().unwrap();
        ParquetMetaDataReader::new()
            .parse_and_finish(&file)
            .unwrap()
    }

    fn run(section: u8, day: i32, rows: u64) -> RowRun {
        RowRun { section, day, rows }
    }

    /// A layout is followed only where the row groups' statistics agree with it: a day or a
    /// section the rows do not have, or no statistics, means decoding instead of copying.
    #[test]
    fn a_layout_is_followed_only_where_the_statistics_agree() {
        let groups: &[(i32, &[&str])] =
            &[(10, &["Pod", "Storage"]), (11, &["Pod"]), (10, &["Pod"])];
        let metadata = file_of(groups, EnabledStatistics::Chunk);
        let honest = [run(0, 10, 2), run(0, 11, 1), run(1, 10, 1)];
        let described: Vec<(Range<usize>, Key, u64)> = units(&metadata, &honest)
            .expect("the layout describes the file")
            .into_iter()
            .map(|u| (u.groups, u.key, u.rows))
            .collect();
        assert_eq!(
            described,
            [(0..1, (0, 10), 2), (1..2, (0, 11), 1), (2..3, (1, 10), 1)]
        );
        // Another day, the day of another row group, a Storage row called unallocated.
        for lie in [
            [run(0, 10, 2), run(0, 12, 1), run(1, 10, 1)],
            [run(0, 11, 2), run(0, 11, 1), run(1, 10, 1)],
            [run(1, 10, 2), run(0, 11, 1), run(1, 10, 1)],
        ] {
            assert!(units(&metadata, &lie).is_none(), "{lie:?}");
        }
        let bare = file_of(groups, EnabledStatistics::None);
        assert!(units(&bare, &honest).is_none(), "no statistics, no trust");
    }
}
