//! Reading one Parquet file: projection of the needed columns, row-group pruning by date,
//! and normalisation of every accepted physical type to the canonical one.

use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray, RecordBatch, StringArray,
    TimestampSecondArray,
};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Field, Int32Type, Schema, SchemaRef, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use chrono::{NaiveDate, NaiveTime};
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::column::page::PageReader;
use parquet::file::reader::ChunkReader;
use parquet::file::serialized_reader::SerializedPageReader;

use crate::error::{ReadError, Result};
use crate::remote::FileData;
use crate::schema::{canonical_schema, ColumnKind, ColumnSpec, ReportType, INTERVAL_START};
use crate::timestamp::parse_timestamp;

/// The largest `*_seconds` measure (core-seconds) of one line item: 2^70 (1.2e21), the range
/// of the aggregate's exact sums of seconds (56 fractional bits in 126). A value above it
/// could not even be summed once, so it is refused here, naming the file, rather than later
/// as an overflowed output column (sums of values in range that overflow still are).
pub(crate) const MAX_SECONDS: f64 = 1_180_591_620_717_411_303_424.0;

/// The largest `*_byte_seconds` measure of one line item: 2^110 (1.3e33), the range of the
/// aggregate's exact sums of byte-seconds (16 fractional bits in 126).
pub(crate) const MAX_BYTE_SECONDS: f64 = 1_298_074_214_633_706_907_132_624_082_305_024.0;

/// The largest capacity in cores, 10^18: a capacity is output as it is (a maximum), into
/// `numeric(33,15)`, which holds less than 10^18.
pub(crate) const MAX_CORES: f64 = 1e18;

/// The largest capacity in bytes, 10^18 GiB, output in GiB into `numeric(33,15)`.
pub(crate) const MAX_BYTES: f64 = 1e18 * 1_073_741_824.0;

/// The largest value a measure column may hold: the range of its sum for the summed
/// (`*_seconds`) columns, what the output can hold for the capacities (maxima).
fn measure_limit(column: &str) -> f64 {
    if column.ends_with("_byte_seconds") {
        MAX_BYTE_SECONDS
    } else if column.ends_with("_seconds") {
        MAX_SECONDS
    } else if column.ends_with("_bytes") {
        MAX_BYTES
    } else {
        MAX_CORES
    }
}

/// The columns to read from one report table. Batches come out with exactly these columns,
/// in this order, with the canonical types of [`ColumnKind`]; a missing optional column reads
/// as nulls.
#[derive(Debug, Clone)]
pub struct Projection {
    table: ReportType,
    columns: Vec<&'static ColumnSpec>,
    schema: SchemaRef,
}

impl Projection {
    /// Projects the named columns of `table`.
    ///
    /// # Panics
    /// If a name is not a column of the table: projections are fixed by the calling code,
    /// so that is a programming error, not bad input.
    pub fn new(table: ReportType, names: &[&str]) -> Self {
        let columns: Vec<_> = names
            .iter()
            .map(|n| {
                table
                    .column(n)
                    .unwrap_or_else(|| panic!("{n} is not a column of {table}"))
            })
            .collect();
        let schema = canonical_schema(&columns);
        Self {
            table,
            columns,
            schema,
        }
    }

    /// Every column of `table` the program knows.
    pub fn all(table: ReportType) -> Self {
        let names: Vec<_> = table.columns().iter().map(|c| c.name).collect();
        Self::new(table, &names)
    }

    /// The table.
    pub fn table(&self) -> ReportType {
        self.table
    }

    /// The schema of the batches this projection yields.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Checks a file's schema (as written, e.g. [`FileFooter::schema`]) against this
    /// projection without reading data: every problem a read of the file would stop at, in
    /// column order (missing required columns, columns of a type that cannot be read).
    /// `path` names the file in the errors. Empty when a read would accept the schema.
    pub fn check_schema(&self, file_schema: &Schema, path: &str) -> Vec<ReadError> {
        self.columns
            .iter()
            .filter_map(|spec| resolve_column(file_schema, self.table, spec, path).err())
            .collect()
    }

    /// Index of a column in the output batches.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// Line items count when `start <= interval_start < end + 1 day` (both dates inclusive, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// First day, inclusive.
    pub start: NaiveDate,
    /// Last day, inclusive.
    pub end: NaiveDate,
}

impl DateRange {
    /// The range as epoch seconds `[lo, hi)`.
    pub fn seconds(&self) -> Range<i64> {
        let lo = self.start.and_time(NaiveTime::MIN).and_utc().timestamp();
        let hi = self.end.and_time(NaiveTime::MIN).and_utc().timestamp() + 86_400;
        lo..hi
    }
}

/// About how many decoded bytes a batch holds at most. A batch has the requested number of
/// rows unless its rows are so wide (long label texts) that it would hold more than this; it
/// then has fewer rows (see [`batch_rows`]), so the memory a read holds in flight does not
/// grow with the width of its rows. koku's rows decode to about 30-280 bytes (capacity
/// columns to storage rows with labels), a 64k-row batch to 2-18 MB: only the widest of them
/// lose a few thousand rows a batch.
pub const BATCH_BYTES: u64 = 16 << 20;

/// The fewest rows a batch is cut to, however wide its rows: below this, per-batch work
/// would cost more than the memory saved.
const MIN_BATCH_ROWS: usize = 1024;

/// Rows per batch for rows of about `row_bytes` decoded bytes: `batch_size`, or fewer (not
/// below 1,024) when that many rows would exceed [`BATCH_BYTES`].
pub fn batch_rows(batch_size: usize, row_bytes: u64) -> usize {
    let fits = BATCH_BYTES / row_bytes.max(1);
    let fits = usize::try_from(fits).unwrap_or(usize::MAX);
    batch_size.min(fits.max(MIN_BATCH_ROWS))
}

/// The canonical record batches of one file. Each item is one batch of at most the requested
/// batch size, fewer for wide rows ([`BATCH_BYTES`]); an error ends the iteration.
pub struct FileBatches {
    reader: ParquetRecordBatchReader,
    normalizer: Normalizer,
    failed: bool,
    /// A remote file's share of the read-ahead budget, released when the batches are dropped.
    _held: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl FileBatches {
    /// Opens a file on local disk whose footer is known.
    pub(crate) fn open_local(
        path: &Path,
        described: String,
        footer: &FileFooter,
        projection: &Projection,
        range: Option<DateRange>,
        month: Option<Range<i64>>,
        batch_size: usize,
    ) -> Result<Self> {
        let io = |source| ReadError::Io {
            path: described.clone(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let pages = file.try_clone().map_err(io)?;
        let setup = Setup::new(&footer.meta, described, projection, range, month)?;
        setup.check_page_rows(Arc::new(pages), &footer.meta)?;
        Self::build(file, &footer.meta, setup, batch_size, None)
    }

    /// Decodes a remote file from bytes already in memory (see [`crate::remote`]).
    pub(crate) fn open_fetched(
        data: FileData,
        held: Option<tokio::sync::OwnedSemaphorePermit>,
        footer: &FileFooter,
        setup: Setup,
        batch_size: usize,
    ) -> Result<Self> {
        setup.check_page_rows(Arc::new(data.clone()), &footer.meta)?;
        Self::build(data, &footer.meta, setup, batch_size, held)
    }

    fn build<R: ChunkReader + 'static>(
        input: R,
        plain: &ArrowReaderMetadata,
        setup: Setup,
        batch_size: usize,
        held: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Result<Self> {
        let not_parquet = |source| ReadError::NotParquet {
            path: setup.normalizer.path.clone(),
            source,
        };
        let hinted = ArrowReaderMetadata::try_new(
            Arc::clone(plain.metadata()),
            ArrowReaderOptions::new().with_schema(Arc::clone(&setup.hint)),
        )
        .map_err(not_parquet)?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(input, hinted)
            .with_projection(setup.mask.clone())
            .with_row_groups(setup.row_groups.clone())
            .with_batch_size(batch_rows(batch_size, setup.row_bytes))
            .build()
            .map_err(not_parquet)?;
        Ok(Self {
            reader,
            normalizer: setup.normalizer,
            failed: false,
            _held: held,
        })
    }
}

impl FileBatches {
    /// Decodes every column chunk and row group this read would, and drops the batches
    /// unconverted: the decoder's share of a read, with none of ours (no normalisation, no
    /// date filter). Returns the rows decoded. For the decode-floor benchmark (`bench/floor`).
    ///
    /// # Errors
    ///
    /// A page that cannot be decoded.
    pub fn decode_only(self) -> Result<u64> {
        let path = self.normalizer.path;
        let mut rows = 0u64;
        for batch in self.reader {
            let batch = batch.map_err(|e| ReadError::Decode {
                path: path.clone(),
                source: Box::new(e),
            })?;
            rows += batch.num_rows() as u64;
        }
        Ok(rows)
    }
}

/// What a file's footer tells without reading data pages.
#[derive(Debug, Clone)]
pub struct FileFooter {
    /// The Arrow schema as written (physical types).
    pub schema: SchemaRef,
    /// Rows in the file.
    pub rows: u64,
    /// Nulls per top-level column, summed over row groups; `None` where a row group lacks
    /// the statistic.
    pub null_counts: std::collections::BTreeMap<String, Option<u64>>,
    /// The least and greatest `interval_start` (epoch seconds) over the file's row groups,
    /// from their statistics; `None` when a row group lacks them or the column is not a
    /// timestamp or date (e.g. timestamps written as text).
    pub interval_start: Option<(i64, i64)>,
    /// The parsed footer, kept so a read does not fetch or parse it again.
    pub(crate) meta: ArrowReaderMetadata,
}

impl FileFooter {
    pub(crate) fn new(meta: &ArrowReaderMetadata) -> Self {
        let md = meta.metadata();
        let mut null_counts = std::collections::BTreeMap::new();
        let descr = md.file_metadata().schema_descr();
        for (i, col) in descr.columns().iter().enumerate() {
            let name = col.path().parts()[0].clone();
            let total = md.row_groups().iter().try_fold(0u64, |acc, rg| {
                rg.column(i)
                    .statistics()
                    .and_then(|s| s.null_count_opt())
                    .map(|n| acc + n)
            });
            null_counts.insert(name, total);
        }
        Self {
            schema: Arc::clone(meta.schema()),
            rows: md.file_metadata().num_rows().max(0) as u64,
            null_counts,
            interval_start: time_range(meta),
            meta: meta.clone(),
        }
    }
}

impl FileFooter {
    /// The checks of a read that need only the footer: the row counts agree and no row
    /// group is empty of row groups, and every row group's `interval_start` statistics lie in
    /// `file`'s month. A read makes them too (so a footer-only check like `ocpagg preflight`
    /// refuses what a run refuses); the pages and the rows are checked only by a read.
    pub fn check(&self, file: &crate::DataFile, path: &str) -> Result<()> {
        check_row_counts(&self.meta, path)?;
        if let Some(month) = file.month_seconds() {
            check_statistics_month(&self.meta, &month, path)?;
        }
        Ok(())
    }
}

/// The `interval_start` range of a file from its row-group statistics, if every row group
/// has them.
fn time_range(meta: &ArrowReaderMetadata) -> Option<(i64, i64)> {
    let field = meta.schema().field_with_name(INTERVAL_START).ok()?;
    if !matches!(
        field.data_type(),
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    ) {
        return None;
    }
    let converter =
        StatisticsConverter::try_new(INTERVAL_START, meta.schema(), meta.parquet_schema()).ok()?;
    let groups = meta.metadata().row_groups();
    let mins = to_seconds(&converter.row_group_mins(groups.iter()).ok()?);
    let maxs = to_seconds(&converter.row_group_maxes(groups.iter()).ok()?);
    if mins.null_count() > 0 || maxs.null_count() > 0 {
        return None;
    }
    Some((
        mins.values().iter().copied().min()?,
        maxs.values().iter().copied().max()?,
    ))
}

/// The footer of a local file.
pub(crate) fn footer_local(path: &Path, described: &str) -> Result<FileFooter> {
    let file = File::open(path).map_err(|source| ReadError::Io {
        path: described.to_string(),
        source,
    })?;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|source| {
        ReadError::NotParquet {
            path: described.to_string(),
            source,
        }
    })?;
    Ok(FileFooter::new(&meta))
}

impl Iterator for FileBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let raw = self.reader.next().map(|r| {
                r.map_err(|e| ReadError::Decode {
                    path: self.normalizer.path.clone(),
                    source: Box::new(e),
                })
            })?;
            let normalizer = &mut self.normalizer;
            let result = raw.and_then(|batch| normalizer.normalize(&batch));
            match result {
                Ok(batch) if batch.num_rows() == 0 => continue,
                Ok(batch) => return Some(Ok(batch)),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Everything decided from a file's footer before reading data.
pub(crate) struct Setup {
    hint: SchemaRef,
    mask: ProjectionMask,
    row_groups: Vec<usize>,
    /// Byte ranges of the column chunks the read decodes (projected columns of the row
    /// groups kept): what a remote read fetches.
    pub(crate) ranges: Vec<Range<u64>>,
    /// About how many bytes a row of the read decodes to, from the footer (see
    /// [`Setup::row_bytes`]).
    row_bytes: u64,
    normalizer: Normalizer,
}

impl Setup {
    pub(crate) fn new(
        plain: &ArrowReaderMetadata,
        path: String,
        projection: &Projection,
        range: Option<DateRange>,
        month: Option<Range<i64>>,
    ) -> Result<Self> {
        check_row_counts(plain, &path)?;
        if let Some(month) = &month {
            check_statistics_month(plain, month, &path)?;
        }
        let file_schema = plain.schema();
        // Ask the decoder for dictionary arrays on every text column we read: koku's strings
        // are dictionary-encoded in the file, so each distinct value is decoded (and later
        // parsed, interned) once per dictionary page rather than once per row.
        let mut hint_fields: Vec<Field> = file_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut roots = Vec::new();
        let mut plans = Vec::with_capacity(projection.columns.len());
        for spec in &projection.columns {
            let Some((index, conversion)) =
                resolve_column(file_schema, projection.table, spec, &path)?
            else {
                plans.push(ColumnPlan::Missing);
                continue;
            };
            if matches!(conversion, Conversion::Text | Conversion::TimestampText) {
                hint_fields[index] = Field::new(spec.name, ColumnKind::Text.data_type(), true);
            }
            roots.push(index);
            plans.push(ColumnPlan::Present {
                name: spec.name,
                conversion,
            });
        }
        let mask = ProjectionMask::roots(plain.parquet_schema(), roots);
        let hint = Arc::new(Schema::new_with_metadata(
            hint_fields,
            file_schema.metadata().clone(),
        ));
        let normalizer = Normalizer {
            path,
            schema: Arc::clone(&projection.schema),
            nulls: vec![None; plans.len()],
            plans,
            range: range.map(|r| r.seconds()),
            month,
            ts_index: projection.index_of(INTERVAL_START),
            groups: Vec::new(),
            seen: 0,
        };
        let row_groups = normalizer.prune_row_groups(plain)?;
        let mut normalizer = normalizer;
        normalizer.groups = row_groups
            .iter()
            .map(|&rg| {
                let rows = plain.metadata().row_group(rg).num_rows();
                (rg, u64::try_from(rows).unwrap_or(0))
            })
            .collect();
        let descr = plain.parquet_schema();
        let leaves: Vec<usize> = (0..descr.num_columns())
            .filter(|&i| mask.leaf_included(i))
            .collect();
        let mut ranges = Vec::new();
        for &rg in &row_groups {
            let group = plain.metadata().row_group(rg);
            for &leaf in &leaves {
                let (start, len) = group.column(leaf).byte_range();
                ranges.push(start..start.saturating_add(len));
            }
        }
        let row_bytes = Self::row_bytes(plain, &row_groups, &leaves);
        Ok(Self {
            hint,
            mask,
            row_groups,
            ranges,
            row_bytes,
            normalizer,
        })
    }

    /// About how many bytes a row of the read decodes to: the uncompressed size of the column
    /// chunks read over their rows, plus 8 bytes a column (a value decodes to at least a
    /// number, or a dictionary key and an offset, however small its encoding). The sizes come
    /// from the footer: a false one makes batches smaller or as configured, never larger.
    fn row_bytes(plain: &ArrowReaderMetadata, row_groups: &[usize], leaves: &[usize]) -> u64 {
        let (mut bytes, mut rows) = (0u64, 0u64);
        for &rg in row_groups {
            let group = plain.metadata().row_group(rg);
            rows = rows.saturating_add(u64::try_from(group.num_rows()).unwrap_or(0));
            for &leaf in leaves {
                let size = u64::try_from(group.column(leaf).uncompressed_size()).unwrap_or(0);
                bytes = bytes.saturating_add(size);
            }
        }
        let per_column = 8 * leaves.len() as u64;
        (bytes / rows.max(1)).saturating_add(per_column)
    }
}

impl Setup {
    /// The data pages of `interval_start` (a column every table has) hold as many rows as
    /// each row group read says: the decoder reads a row group's pages by its count, so a
    /// count that disagrees with the pages would drop rows or shift them into the next row
    /// group. Only page headers are read.
    pub(crate) fn check_page_rows<R: ChunkReader + 'static>(
        &self,
        input: Arc<R>,
        plain: &ArrowReaderMetadata,
    ) -> Result<()> {
        let md = plain.metadata();
        let descr = md.file_metadata().schema_descr();
        let Some(leaf) = descr
            .columns()
            .iter()
            .position(|c| c.path().parts() == [INTERVAL_START])
        else {
            return Ok(());
        };
        let path = &self.normalizer.path;
        self.check_page_sizes(input.as_ref(), plain)?;
        for &g in &self.row_groups {
            let rg = md.row_group(g);
            let claimed = usize::try_from(rg.num_rows()).unwrap_or(0);
            let not_parquet = |source| ReadError::NotParquet {
                path: path.clone(),
                source,
            };
            let mut pages =
                SerializedPageReader::new(Arc::clone(&input), rg.column(leaf), claimed, None)
                    .map_err(not_parquet)?;
            let mut rows = 0usize;
            while let Some(page) = pages.peek_next_page().map_err(not_parquet)? {
                if !page.is_dict {
                    rows = rows.saturating_add(page.num_rows.or(page.num_levels).unwrap_or(0));
                }
                pages.skip_next_page().map_err(not_parquet)?;
            }
            if rows != claimed {
                return Err(ReadError::Inconsistent {
                    path: path.clone(),
                    reason: format!(
                        "row group {g} says {claimed} rows, the pages of its column \"{INTERVAL_START}\" hold {rows}"
                    ),
                });
            }
        }
        Ok(())
    }
}

impl Setup {
    /// No page of a column read may claim more than [`MAX_PAGE_BYTES`] decompressed, nor more
    /// than its column chunk's whole uncompressed size: the Parquet decoder reserves (and for
    /// some codecs fills) a page's claimed size before decompressing it, so a header claiming
    /// 2 GiB would cost 2 GiB of memory (or abort) rather than fail. Only page headers are
    /// read; a header this reader cannot parse is left to the decoder, which refuses it.
    fn check_page_sizes<R: ChunkReader>(
        &self,
        input: &R,
        plain: &ArrowReaderMetadata,
    ) -> Result<()> {
        let md = plain.metadata();
        let descr = md.file_metadata().schema_descr();
        let leaves: Vec<usize> = (0..descr.num_columns())
            .filter(|&i| self.mask.leaf_included(i))
            .collect();
        let path = &self.normalizer.path;
        for &g in &self.row_groups {
            let rg = md.row_group(g);
            for &leaf in &leaves {
                let chunk = rg.column(leaf);
                let (start, len) = chunk.byte_range();
                let end = start.saturating_add(len);
                let whole = u64::try_from(chunk.uncompressed_size()).unwrap_or(0);
                let limit = whole.min(MAX_PAGE_BYTES);
                let mut at = start;
                while at < end {
                    // A header is some tens of bytes (more with long statistics): read a
                    // little, and more only if that did not hold it.
                    let header = |window: u64| {
                        let want = (end - at).min(window) as usize;
                        input
                            .get_bytes(at, want)
                            .ok()
                            .and_then(|b| thrift::page_sizes(&b))
                    };
                    let Some(page) = header(512).or_else(|| header(1 << 16)) else {
                        break; // unparsed or longer than 64 KiB: the decoder decides
                    };
                    if page.uncompressed > limit as i64 {
                        return Err(ReadError::Inconsistent {
                            path: path.clone(),
                            reason: format!(
                                "a page of column {:?} in row group {g} claims {} bytes decompressed, \
                                 more than {} (its column chunk holds {whole} bytes in all, and no \
                                 page may exceed {MAX_PAGE_BYTES})",
                                descr.column(leaf).path().string(),
                                page.uncompressed,
                                limit,
                            ),
                        });
                    }
                    let Ok(next) = u64::try_from(page.compressed) else {
                        break;
                    };
                    at = at
                        .saturating_add(page.header_len as u64)
                        .saturating_add(next);
                }
            }
        }
        Ok(())
    }
}

/// The largest decompressed page read (64 MiB): writers cut pages at about 1 MiB, and the
/// largest value koku writes (a label string) is limited to 1 MiB.
pub(crate) const MAX_PAGE_BYTES: u64 = 64 << 20;

/// Just enough of Thrift's compact protocol to read a Parquet page header's sizes and length
/// without the decoder (whose page header type is private).
mod thrift {
    /// The sizes a page header claims, and the header's own length.
    pub(super) struct PageSizes {
        pub(super) header_len: usize,
        pub(super) uncompressed: i64,
        pub(super) compressed: i64,
    }

    struct Input<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    impl Input<'_> {
        fn byte(&mut self) -> Option<u8> {
            let b = *self.bytes.get(self.at)?;
            self.at += 1;
            Some(b)
        }

        fn varint(&mut self) -> Option<u64> {
            let mut v = 0u64;
            for shift in (0..64).step_by(7) {
                let b = self.byte()?;
                v |= u64::from(b & 0x7f) << shift;
                if b & 0x80 == 0 {
                    return Some(v);
                }
            }
            None
        }

        fn zigzag(&mut self) -> Option<i64> {
            let v = self.varint()?;
            Some((v >> 1) as i64 ^ -((v & 1) as i64))
        }

        fn skip(&mut self, n: usize) -> Option<()> {
            self.at = self.at.checked_add(n).filter(|&e| e <= self.bytes.len())?;
            Some(())
        }

        /// Skips one value of compact type `ty`; `depth` bounds nesting.
        fn skip_value(&mut self, ty: u8, depth: u8) -> Option<()> {
            let depth = depth.checked_sub(1)?;
            match ty {
                1 | 2 => Some(()),
                3 => self.skip(1),
                4..=6 => self.varint().map(drop),
                7 => self.skip(8),
                8 => {
                    let n = usize::try_from(self.varint()?).ok()?;
                    self.skip(n)
                }
                9 | 10 => {
                    let h = self.byte()?;
                    let n = match h >> 4 {
                        15 => usize::try_from(self.varint()?).ok()?,
                        n => usize::from(n),
                    };
                    let elem = h & 0x0f;
                    for _ in 0..n {
                        if elem == 1 || elem == 2 {
                            self.skip(1)?;
                        } else {
                            self.skip_value(elem, depth)?;
                        }
                    }
                    Some(())
                }
                11 => {
                    let n = usize::try_from(self.varint()?).ok()?;
                    if n > 0 {
                        let kv = self.byte()?;
                        for _ in 0..n {
                            self.skip_value(kv >> 4, depth)?;
                            self.skip_value(kv & 0x0f, depth)?;
                        }
                    }
                    Some(())
                }
                12 => self.skip_struct(depth, |_, _, _| None).map(drop),
                _ => None,
            }
        }

        /// Reads a struct's fields: `take(input, id, type)` reads an i32/i64 field it wants
        /// (returning its value) or returns `None` to have it skipped. Returns the wanted
        /// values by field id 1..=3.
        fn skip_struct(
            &mut self,
            depth: u8,
            want: impl Fn(&mut Self, i16, u8) -> Option<i64>,
        ) -> Option<[Option<i64>; 4]> {
            let mut found = [None; 4];
            let mut id: i16 = 0;
            loop {
                let h = self.byte()?;
                if h == 0 {
                    return Some(found);
                }
                let ty = h & 0x0f;
                id = match h >> 4 {
                    0 => i16::try_from(self.zigzag()?).ok()?,
                    delta => id.checked_add(i16::from(delta))?,
                };
                if (1..=3).contains(&id) && (ty == 5 || ty == 6) {
                    let v = want(self, id, ty).or_else(|| self.zigzag())?;
                    found[id as usize] = Some(v);
                } else {
                    self.skip_value(ty, depth)?;
                }
            }
        }
    }

    /// The sizes of the page header at the start of `bytes` (fields 2 and 3 of Parquet's
    /// `PageHeader`), or `None` if it is not a complete, well-formed header.
    pub(super) fn page_sizes(bytes: &[u8]) -> Option<PageSizes> {
        let mut input = Input { bytes, at: 0 };
        let found = input.skip_struct(16, |_, _, _| None)?;
        Some(PageSizes {
            header_len: input.at,
            uncompressed: found[2]?,
            compressed: found[3]?,
        })
    }
}

/// How one projected column is found in a file: its index and conversion, `None` for a
/// missing optional column, or the error a read would fail with. Both [`Setup::new`] (a read)
/// and [`Projection::check_schema`] (a footer-only check) decide through this function, so
/// the check accepts exactly what a read accepts.
fn resolve_column(
    file_schema: &Schema,
    table: ReportType,
    spec: &ColumnSpec,
    path: &str,
) -> Result<Option<(usize, Conversion)>> {
    let Ok(index) = file_schema.index_of(spec.name) else {
        if spec.required {
            return Err(ReadError::MissingColumn {
                path: path.to_string(),
                table: table.dir_name(),
                column: spec.name,
            });
        }
        return Ok(None);
    };
    let found = file_schema.field(index).data_type();
    let conversion =
        Conversion::for_type(spec.kind, found).ok_or_else(|| ReadError::ColumnType {
            path: path.to_string(),
            column: spec.name,
            found: found.clone(),
            expected: spec.kind.expected(),
        })?;
    Ok(Some((index, conversion)))
}

#[derive(Debug, Clone, Copy)]
enum Conversion {
    /// Already canonical, or a cast arrow's kernels do exactly (numbers, text encodings).
    Cast,
    /// Text requested as a dictionary; re-keyed to Int32 if needed.
    Text,
    /// A timestamp or date to rescale to seconds.
    Timestamp,
    /// Timestamp strings to parse.
    TimestampText,
}

impl Conversion {
    fn for_type(kind: ColumnKind, found: &DataType) -> Option<Self> {
        use DataType::*;
        let texty = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
        let is_text = texty(found) || matches!(found, Dictionary(_, v) if texty(v));
        match kind {
            ColumnKind::Text if is_text => Some(Conversion::Text),
            ColumnKind::Number
                if found.is_integer()
                    || found.is_floating()
                    || matches!(
                        found,
                        Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..)
                    ) =>
            {
                Some(Conversion::Cast)
            }
            ColumnKind::Timestamp if matches!(found, Timestamp(..) | Date32 | Date64) => {
                Some(Conversion::Timestamp)
            }
            ColumnKind::Timestamp if is_text => Some(Conversion::TimestampText),
            _ => None,
        }
    }
}

enum ColumnPlan {
    Missing,
    Present {
        name: &'static str,
        conversion: Conversion,
    },
}

/// Turns a decoded batch (file types, file column order) into a canonical batch.
struct Normalizer {
    path: String,
    schema: SchemaRef,
    plans: Vec<ColumnPlan>,
    range: Option<Range<i64>>,
    /// The month of the file's directory (epoch seconds): a line item outside it is an error.
    month: Option<Range<i64>>,
    ts_index: Option<usize>,
    /// The row groups read, in order, with their row counts: where a bad value sits.
    groups: Vec<(usize, u64)>,
    /// Rows decoded so far.
    seen: u64,
    /// Per column the file lacks, the nulls last made for it (`None` until then, and for the
    /// columns it has): sliced for every batch that is not longer, so the batches of a file
    /// share one buffer of nulls rather than each allocating and zeroing its own.
    nulls: Vec<Option<ArrayRef>>,
}

impl Normalizer {
    fn normalize(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let first_row = self.seen;
        self.seen += rows as u64;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.plans.len());
        for (i, (plan, field)) in self.plans.iter().zip(self.schema.fields()).enumerate() {
            let array = match plan {
                ColumnPlan::Missing => {
                    let nulls = &mut self.nulls[i];
                    match nulls {
                        Some(made) if made.len() >= rows => made.slice(0, rows),
                        _ => Arc::clone(
                            nulls.insert(arrow::array::new_null_array(field.data_type(), rows)),
                        ),
                    }
                }
                ColumnPlan::Present { name, conversion } => {
                    let raw = batch
                        .column_by_name(name)
                        .ok_or_else(|| ReadError::Decode {
                            path: self.path.clone(),
                            source: format!(
                                "internal error: projected column {name:?} not decoded"
                            )
                            .into(),
                        })?;
                    let array = self.convert(name, *conversion, raw, field.data_type())?;
                    if field.data_type() == &DataType::Float64 {
                        self.check_measure(name, &array, first_row)?;
                    }
                    array
                }
            };
            columns.push(array);
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(|e| {
            ReadError::Decode {
                path: self.path.clone(),
                source: Box::new(e),
            }
        })?;
        self.check_month(&batch, first_row)?;
        self.filter_range(batch)
    }

    /// The row group holding the `row`-th row read, as text (`?` if the counts are off).
    fn row_group_of(&self, row: u64) -> String {
        let mut start = 0;
        self.groups
            .iter()
            .find(|(_, rows)| {
                start += rows;
                row < start
            })
            .map_or_else(|| "?".to_string(), |(rg, _)| rg.to_string())
    }

    /// Every line item lies in the month of the file's directory: koku partitions by month,
    /// so a row of another month is a file in the wrong place (or a wrong clock), and would
    /// otherwise be dropped or counted in a month it does not belong to, silently.
    fn check_month(&self, batch: &RecordBatch, first_row: u64) -> Result<()> {
        let (Some(month), Some(ts)) = (&self.month, self.ts_index) else {
            return Ok(());
        };
        let times = batch.column(ts).as_primitive::<TimestampSecondType>();
        // The common case in two vectorised passes; the row is looked for only on failure.
        let (lo, hi) = (arrow::compute::min(times), arrow::compute::max(times));
        if lo.is_none_or(|lo| lo >= month.start) && hi.is_none_or(|hi| hi < month.end) {
            return Ok(());
        }
        let Some((i, t)) = times
            .iter()
            .enumerate()
            .find_map(|(i, t)| t.filter(|t| !month.contains(t)).map(|t| (i, t)))
        else {
            return Ok(());
        };
        Err(ReadError::OutsideMonth {
            path: self.path.clone(),
            what: format!(
                "row group {} holds a line item of",
                self.row_group_of(first_row + i as u64)
            ),
            value: instant_text(t),
            month: month_text(month),
        })
    }

    /// A measure (seconds, bytes, cores) must be a finite number, not negative, and not above
    /// what its sum can hold ([`MAX_SECONDS`], [`MAX_BYTE_SECONDS`]): anything else would become a wrong sum (or, summed with other values,
    /// one that depends on their order). The error names the file, the column and the row
    /// group.
    fn check_measure(&self, column: &'static str, array: &ArrayRef, first_row: u64) -> Result<()> {
        let values = array.as_primitive::<arrow::datatypes::Float64Type>();
        // NaN and the infinities are outside the range too.
        let limit = measure_limit(column);
        let bad = |v: f64| !(0.0..=limit).contains(&v);
        let found = if values.null_count() == 0 {
            values.values().iter().position(|&v| bad(v))
        } else {
            (0..values.len()).find(|&i| values.is_valid(i) && bad(values.value(i)))
        };
        let Some(i) = found else {
            return Ok(());
        };
        let value = values.value(i);
        let group = self.row_group_of(first_row + i as u64);
        Err(ReadError::BadValue {
            path: self.path.clone(),
            column,
            value: if value.abs() >= 1e16 {
                format!("{value:e}")
            } else {
                value.to_string()
            },
            reason: format!(
                "row group {group}: a measure must be a finite number, not negative{}",
                if column.ends_with("_seconds") {
                    format!(", at most {limit:.1e} (what its sum can hold)")
                } else {
                    format!(", at most {limit:.1e} (what the output can hold)")
                }
            ),
        })
    }

    fn convert(
        &self,
        column: &'static str,
        conversion: Conversion,
        raw: &ArrayRef,
        target: &DataType,
    ) -> Result<ArrayRef> {
        let cast_err = |e: arrow::error::ArrowError| ReadError::BadValue {
            path: self.path.clone(),
            column,
            value: format!("(column of type {})", raw.data_type()),
            reason: e.to_string(),
        };
        match conversion {
            Conversion::Cast | Conversion::Text => {
                if raw.data_type() == target {
                    Ok(Arc::clone(raw))
                } else {
                    cast(raw, target).map_err(cast_err)
                }
            }
            Conversion::Timestamp => Ok(Arc::new(to_seconds(raw))),
            Conversion::TimestampText => {
                let dict = if raw.data_type() == &ColumnKind::Text.data_type() {
                    Arc::clone(raw)
                } else {
                    cast(raw, &ColumnKind::Text.data_type()).map_err(cast_err)?
                };
                let dict = dict.as_dictionary::<Int32Type>();
                let values = cast(dict.values(), &DataType::Utf8).map_err(cast_err)?;
                let values: &StringArray = values.as_string();
                // Each distinct string is parsed once.
                let mut parsed = Vec::with_capacity(values.len());
                for v in values.iter() {
                    parsed.push(match v {
                        None => None,
                        Some(s) => {
                            Some(parse_timestamp(s).map_err(|reason| ReadError::BadValue {
                                path: self.path.clone(),
                                column,
                                value: s.to_string(),
                                reason,
                            })?)
                        }
                    });
                }
                let seconds: TimestampSecondArray = dict
                    .keys()
                    .iter()
                    .map(|k| k.and_then(|k| parsed[k as usize]))
                    .collect();
                Ok(Arc::new(seconds.with_timezone("UTC")))
            }
        }
    }

    fn filter_range(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let (Some(range), Some(ts)) = (&self.range, self.ts_index) else {
            return Ok(batch);
        };
        let times = batch.column(ts).as_primitive::<TimestampSecondType>();
        let keep = |t: Option<i64>| t.is_some_and(|t| range.contains(&t));
        if times.iter().all(keep) {
            return Ok(batch);
        }
        let mask: BooleanArray = times.iter().map(|t| Some(keep(t))).collect();
        filter_record_batch(&batch, &mask).map_err(|e| ReadError::Decode {
            path: self.path.clone(),
            source: Box::new(e),
        })
    }

    /// Row groups that may hold line items in the date range, from the footer's statistics.
    /// Row groups without usable statistics are kept.
    fn prune_row_groups(&self, plain: &ArrowReaderMetadata) -> Result<Vec<usize>> {
        let all: Vec<usize> = (0..plain.metadata().num_row_groups()).collect();
        let Some(range) = &self.range else {
            return Ok(all);
        };
        let file_type = plain
            .schema()
            .field_with_name(INTERVAL_START)
            .map(|f| f.data_type().clone());
        if !matches!(
            file_type,
            Ok(DataType::Timestamp(..) | DataType::Date32 | DataType::Date64)
        ) {
            return Ok(all);
        }
        let Ok(converter) =
            StatisticsConverter::try_new(INTERVAL_START, plain.schema(), plain.parquet_schema())
        else {
            return Ok(all);
        };
        let groups = plain.metadata().row_groups();
        let (Ok(mins), Ok(maxs)) = (
            converter.row_group_mins(groups.iter()),
            converter.row_group_maxes(groups.iter()),
        ) else {
            return Ok(all);
        };
        let (mins, maxs) = (to_seconds(&mins), to_seconds(&maxs));
        Ok(all
            .into_iter()
            .filter(|&i| {
                let lo = mins.is_valid(i).then(|| mins.value(i));
                let hi = maxs.is_valid(i).then(|| maxs.value(i));
                !(hi.is_some_and(|hi| hi < range.start) || lo.is_some_and(|lo| lo >= range.end))
            })
            .collect())
    }
}

/// An instant as `2025-11-01 00:00:00 UTC`.
fn instant_text(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map_or_else(|| format!("{seconds} s since 1970"), |t| t.to_string())
}

/// The month of `[first instant, next month)` as `2025-10`.
fn month_text(month: &Range<i64>) -> String {
    chrono::DateTime::from_timestamp(month.start, 0).map_or_else(
        || format!("{} s since 1970", month.start),
        |t| t.format("%Y-%m").to_string(),
    )
}

/// The footer's row counts agree: the file's with the sum of its row groups', and each row
/// group's with the number of values of each of its (flat) column chunks. A file without row
/// groups holds no line items: an empty or unfinished upload, refused rather than read as
/// nothing. The Parquet decoder trusts these counts, so a lie would drop or misplace rows.
fn check_row_counts(plain: &ArrowReaderMetadata, path: &str) -> Result<()> {
    let md = plain.metadata();
    let bad = |reason: String| {
        Err(ReadError::Inconsistent {
            path: path.to_string(),
            reason,
        })
    };
    if md.num_row_groups() == 0 {
        return bad(
            "it has no row groups, so no line items (an empty or unfinished upload): remove it"
                .into(),
        );
    }
    let file_rows = md.file_metadata().num_rows();
    let group_rows: i64 = md
        .row_groups()
        .iter()
        .map(|rg| rg.num_rows())
        .fold(0i64, i64::saturating_add);
    if file_rows != group_rows {
        return bad(format!(
            "its footer says {file_rows} rows, its row groups hold {group_rows}"
        ));
    }
    let descr = md.file_metadata().schema_descr();
    for (g, rg) in md.row_groups().iter().enumerate() {
        if rg.num_rows() < 0 {
            return bad(format!("row group {g} says {} rows", rg.num_rows()));
        }
        for (c, column) in rg.columns().iter().enumerate() {
            let flat = descr.column(c).max_rep_level() == 0;
            if flat && column.num_values() != rg.num_rows() {
                return bad(format!(
                    "row group {g} says {} rows, its column {:?} holds {} values",
                    rg.num_rows(),
                    descr.column(c).path().string(),
                    column.num_values()
                ));
            }
        }
    }
    Ok(())
}

/// Every row group's `interval_start` statistics lie in the month of the file's directory
/// (checked before any pruning, so a row group of another month is never skipped silently).
fn check_statistics_month(
    plain: &ArrowReaderMetadata,
    month: &Range<i64>,
    path: &str,
) -> Result<()> {
    let Ok(field) = plain.schema().field_with_name(INTERVAL_START) else {
        return Ok(());
    };
    if !matches!(
        field.data_type(),
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    ) {
        return Ok(());
    }
    let Ok(converter) =
        StatisticsConverter::try_new(INTERVAL_START, plain.schema(), plain.parquet_schema())
    else {
        return Ok(());
    };
    let groups = plain.metadata().row_groups();
    let (Ok(mins), Ok(maxs)) = (
        converter.row_group_mins(groups.iter()),
        converter.row_group_maxes(groups.iter()),
    ) else {
        return Ok(());
    };
    let (mins, maxs) = (to_seconds(&mins), to_seconds(&maxs));
    for g in 0..groups.len() {
        for bound in [&mins, &maxs] {
            if bound.is_valid(g) && !month.contains(&bound.value(g)) {
                return Err(ReadError::OutsideMonth {
                    path: path.to_string(),
                    what: format!("row group {g}'s footer statistics say it holds"),
                    value: instant_text(bound.value(g)),
                    month: month_text(month),
                });
            }
        }
    }
    Ok(())
}

/// Rescales any timestamp or date array to whole epoch seconds (floor), zone `UTC`.
/// Arrow stores zoned timestamps as UTC instants already, so only the unit changes.
fn to_seconds(raw: &ArrayRef) -> TimestampSecondArray {
    fn scaled<T: arrow::datatypes::ArrowPrimitiveType>(
        raw: &ArrayRef,
        f: impl Fn(T::Native) -> i64,
    ) -> TimestampSecondArray {
        let a: &PrimitiveArray<T> = raw.as_primitive::<T>();
        a.unary::<_, TimestampSecondType>(f)
    }
    let out = match raw.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => scaled::<TimestampSecondType>(raw, |v| v),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            scaled::<TimestampMillisecondType>(raw, |v| v.div_euclid(1_000))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            scaled::<TimestampMicrosecondType>(raw, |v| v.div_euclid(1_000_000))
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            scaled::<TimestampNanosecondType>(raw, |v| v.div_euclid(1_000_000_000))
        }
        DataType::Date32 => scaled::<Date32Type>(raw, |d| i64::from(d) * 86_400),
        DataType::Date64 => scaled::<Date64Type>(raw, |ms| ms.div_euclid(1_000)),
        other => unreachable!("to_seconds called on {other}"),
    };
    out.with_timezone("UTC")
}

#[cfg(test)]
mod tests {
    use super::{batch_rows, BATCH_BYTES, MIN_BATCH_ROWS};

    #[test]
    fn batches_are_cut_only_for_wide_rows_and_never_below_the_floor() {
        // koku's widest rows (about 170 bytes) keep the configured size.
        assert_eq!(batch_rows(65_536, 170), 65_536);
        // 4 KiB rows: as many as fit the budget.
        let wide = batch_rows(65_536, 4096);
        assert_eq!(wide, usize::try_from(BATCH_BYTES / 4096).unwrap());
        assert!(wide as u64 * 4096 <= BATCH_BYTES);
        // Never more than configured, never fewer than the floor (nor zero for a zero width).
        assert_eq!(batch_rows(100, 4096), 100);
        assert_eq!(batch_rows(65_536, u64::MAX), MIN_BATCH_ROWS);
        assert_eq!(batch_rows(65_536, 0), 65_536);
        assert_eq!(batch_rows(10, u64::MAX), 10);
    }
}
