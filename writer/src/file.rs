//! Parquet and CSV file sinks.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::basic::Compression;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use tempfile::NamedTempFile;

use crate::parquet_out::{FileEncoder, OUTPUT_ROW_GROUP_ROWS};
use crate::{Result, SummarySink, WriteError, WriteReport};

/// The file formats, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// `.parquet`: Arrow types as in the summary schema, snappy-compressed.
    Parquet,
    /// `.csv`: a header line, dates as `YYYY-MM-DD`, JSON columns as text, nulls empty.
    Csv,
}

impl FileFormat {
    /// The format for a path's extension, if it is one of ours.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "parquet" => Some(FileFormat::Parquet),
            "csv" => Some(FileFormat::Csv),
            _ => None,
        }
    }
}

enum Encoder {
    Parquet(Box<FileEncoder>),
    Csv(Box<arrow::csv::Writer<BufWriter<File>>>),
}

/// A file sink: writes into a temporary file in the target's directory and renames it over the
/// target in [`SummarySink::finish`]. Dropped unfinished, the temporary file is removed.
pub struct FileSink {
    path: PathBuf,
    temp: NamedTempFile,
    encoder: Option<Encoder>,
    report: WriteReport,
    footer_metadata: Option<(String, FooterValue)>,
}

/// A value for the Parquet footer's key-value metadata, asked for when the file is finished
/// (`None`: no entry).
pub type FooterValue = Box<dyn FnOnce() -> Option<String> + Send + 'static>;

/// Opens a Parquet or CSV sink, by the path's extension, for batches of `schema`.
pub fn open_file_sink(path: &Path, schema: SchemaRef) -> Result<Box<dyn SummarySink>> {
    Ok(Box::new(FileSink::create(path, schema)?))
}

impl FileSink {
    /// Creates the sink for batches of `schema`; fails early if the extension is unknown or
    /// the directory is not writable. The Parquet layout follows the schema: no compression
    /// on Float64 measures, no statistics on JSON columns (Arrow's `arrow.json` extension
    /// type) and on row ids (field metadata `ocpagg:distinct`), dictionaries on the rest.
    pub fn create(path: &Path, schema: SchemaRef) -> Result<Self> {
        let shown = path.display().to_string();
        let format = FileFormat::from_path(path).ok_or_else(|| WriteError::InvalidTarget {
            path: shown.clone(),
            reason: "unknown extension; use .parquet or .csv (or a postgresql:// URL)".into(),
        })?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("summary");
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| WriteError::InvalidTarget {
                path: shown.clone(),
                reason: format!("cannot create a file in {}: {e}", dir.display()),
            })?;
        let io = |e: std::io::Error| WriteError::Io {
            path: shown.clone(),
            source: Box::new(e),
        };
        let file = BufWriter::with_capacity(1 << 20, temp.reopen().map_err(io)?);
        let encoder = match format {
            FileFormat::Parquet => {
                let props = parquet_properties(&schema);
                let encoder =
                    FileEncoder::new(file, schema, props).map_err(|e| WriteError::Io {
                        path: shown.clone(),
                        source: Box::new(e),
                    })?;
                Encoder::Parquet(Box::new(encoder))
            }
            FileFormat::Csv => Encoder::Csv(Box::new(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .with_date_format("%Y-%m-%d".into())
                    .build(file),
            )),
        };
        Ok(Self {
            report: WriteReport {
                target: shown,
                ..Default::default()
            },
            path: path.to_path_buf(),
            temp,
            encoder: Some(encoder),
            footer_metadata: None,
        })
    }

    /// Adds `key` to a Parquet output's footer key-value metadata, with the value `value`
    /// gives when the file is finished (an incremental run's state, issue #20: written and
    /// renamed with the rows, so the two cannot disagree). No effect on CSV.
    #[must_use]
    pub fn with_footer_metadata(mut self, key: &str, value: FooterValue) -> Self {
        self.footer_metadata = Some((key.to_string(), value));
        self
    }

    /// Copies row groups `groups` of the Parquet file `source` (its footer read into
    /// `metadata`, with the page index if it has one) after the rows written so far, column
    /// chunks as they are: nothing is decoded. Like [`FileSink::write_carried`], the rows are
    /// not counted in the report. Returns `false`, and copies nothing, when this is not a
    /// Parquet output or `source` has another Parquet schema.
    pub fn copy_row_groups(
        &mut self,
        source: &File,
        metadata: &ParquetMetaData,
        groups: std::ops::Range<usize>,
    ) -> Result<bool> {
        let Some(Encoder::Parquet(encoder)) = self.encoder.as_mut() else {
            return Ok(false);
        };
        if !encoder.can_copy_from(metadata) {
            return Ok(false);
        }
        encoder
            .copy_row_groups(source, metadata, groups)
            .map_err(|e| WriteError::Io {
                path: self.report.target.clone(),
                source: Box::new(e),
            })?;
        Ok(true)
    }

    fn error(&self, e: impl std::error::Error + Send + Sync + 'static) -> WriteError {
        WriteError::Io {
            path: self.report.target.clone(),
            source: Box::new(e),
        }
    }
}

/// Refuses a batch with an infinite or NaN number (an input the reader let through, or a sum
/// that overflowed: the aggregate reads those as NaN), naming the column and the row's day.
fn check_finite(batch: &RecordBatch) -> Result<()> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Date32Type, Float64Type};
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.data_type() != &DataType::Float64 {
            continue;
        }
        let values = column.as_primitive::<Float64Type>();
        let bad = (0..values.len()).find(|&i| values.is_valid(i) && !values.value(i).is_finite());
        if let Some(row) = bad {
            let day = batch
                .column_by_name("usage_start")
                .and_then(|c| c.as_primitive_opt::<Date32Type>())
                .and_then(|d| d.value_as_date(row))
                .map_or_else(|| "an unknown day".into(), |d| d.to_string());
            return Err(WriteError::Aborted {
                reason: format!(
                    "column {}, a row of {day}: the value is {} (an input that is not a finite number, or a sum too large to hold); nothing was written",
                    field.name(),
                    values.value(row)
                ),
            });
        }
    }
    Ok(())
}

impl FileSink {
    /// Writes rows carried over from an earlier output (an incremental run's untouched days):
    /// like [`SummarySink::write`], but not counted in the report, which counts the rows this
    /// run computed.
    pub fn write_carried(&mut self, batch: &RecordBatch) -> Result<()> {
        self.encode(batch)
    }

    fn encode(&mut self, batch: &RecordBatch) -> Result<()> {
        check_finite(batch)?;
        let Some(encoder) = self.encoder.as_mut() else {
            return Err(WriteError::Aborted {
                reason: "a batch after the end of the rows".into(),
            });
        };
        let result = match encoder {
            Encoder::Parquet(w) => w.write(batch).map_err(|e| Box::new(e) as Box<_>),
            Encoder::Csv(w) => w.write(batch).map_err(|e| Box::new(e) as Box<_>),
        };
        result.map_err(|source| WriteError::Io {
            path: self.report.target.clone(),
            source,
        })
    }
}

impl SummarySink for FileSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.encode(batch)?;
        self.report.count(batch);
        Ok(())
    }

    fn takes_dictionary_texts(&self) -> bool {
        matches!(self.encoder, Some(Encoder::Parquet(_)))
    }

    fn end_row_group(&mut self) -> Result<()> {
        if let Some(Encoder::Parquet(encoder)) = self.encoder.as_mut() {
            encoder.end_row_group().map_err(|e| WriteError::Io {
                path: self.report.target.clone(),
                source: Box::new(e),
            })?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<WriteReport> {
        let Some(encoder) = self.encoder.take() else {
            return Err(WriteError::Aborted {
                reason: "the output was already finished".into(),
            });
        };
        match encoder {
            Encoder::Parquet(w) => {
                let metadata = self.footer_metadata.take().and_then(|(key, value)| {
                    value().map(|v| parquet::file::metadata::KeyValue::new(key, v))
                });
                let file = w.finish(metadata).map_err(|e| self.error(e))?;
                file.into_inner()
                    .map_err(|e| self.error(e.into_error()))?
                    .sync_all()
                    .map_err(|e| self.error(e))?;
            }
            Encoder::Csv(w) => {
                w.into_inner()
                    .into_inner()
                    .map_err(|e| self.error(e.into_error()))?
                    .sync_all()
                    .map_err(|e| self.error(e))?;
            }
        }
        let this = *self;
        // The temporary file was created 0600; the output gets the mode of the file it
        // replaces, or a new file's usual mode.
        let mode = match std::fs::metadata(&this.path) {
            Ok(old) => old.permissions(),
            Err(_) => new_file_permissions(),
        };
        std::fs::set_permissions(this.temp.path(), mode).map_err(|e| this.error(e))?;
        let dir = this.temp.path().parent().map(Path::to_path_buf);
        this.temp.persist(&this.path).map_err(|e| WriteError::Io {
            path: this.report.target.clone(),
            source: Box::new(e.error),
        })?;
        // The rename is durable only once the directory is.
        if let Some(dir) = dir {
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| WriteError::Io {
                    path: this.report.target.clone(),
                    source: Box::new(e),
                })?;
        }
        Ok(this.report)
    }
}

/// `0666` less the process's umask (read from `/proc`, so the umask is never changed), as
/// `open(2)` would give a new file; `0644` where the umask cannot be read.
fn new_file_permissions() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    let umask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|m| u32::from_str_radix(m.trim(), 8).ok())
        })
        .unwrap_or(0o022);
    std::fs::Permissions::from_mode(0o666 & !umask)
}

/// The field metadata key our schemas set (value `true`) on a column whose values are
/// distinct per row: a row id, for which a dictionary attempt only costs time before the
/// writer falls back to plain encoding, and whose min/max no reader uses.
pub const DISTINCT_KEY: &str = "ocpagg:distinct";

/// Whether a field holds JSON texts: Arrow's canonical `arrow.json` extension type.
pub(crate) fn is_json(field: &Field) -> bool {
    field.extension_type_name() == Some("arrow.json")
}

fn is_distinct(field: &Field) -> bool {
    field
        .metadata()
        .get(DISTINCT_KEY)
        .is_some_and(|v| v == "true")
}

/// Snappy on all but the measures and row ids, dictionaries only where values repeat (all
/// but measures and row ids), statistics per column chunk (page-level min/max of long label
/// texts is measurable and no reader of this file needs it) and none on JSON columns and row
/// ids.
pub(crate) fn parquet_properties(schema: &Schema) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        // The writer buffers a whole row group before writing it out: bound it, or a month
        // with a million output rows holds them all (encoded) in memory.
        .set_max_row_group_row_count(Some(OUTPUT_ROW_GROUP_ROWS));
    for field in schema.fields() {
        let column = || ColumnPath::from(field.name().as_str());
        if field.data_type() == &DataType::Float64 || is_distinct(field) {
            // Measures are nearly random float64s and row ids random hex: Snappy gains almost
            // nothing on them (10% of the uuids) and costs a pass over every page (uuids
            // uncompressed: 7% less CPU for the whole 20M-row month, a 2.5% larger file; #21);
            // a dictionary would not hold them.
            builder = builder.set_column_compression(column(), Compression::UNCOMPRESSED);
        } else if !is_distinct(field) {
            builder = builder.set_column_dictionary_enabled(column(), true);
        }
        if is_json(field) || is_distinct(field) {
            builder = builder.set_column_statistics_enabled(column(), EnabledStatistics::None);
        }
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    use crate::test_batch::{batch, schema};

    fn write_empty(path: &Path) {
        let mut sink = open_file_sink(path, schema()).unwrap();
        sink.write(&RecordBatch::new_empty(schema())).unwrap();
        sink.finish().unwrap();
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn replaced_output_keeps_its_mode_and_new_output_is_not_private() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["s.parquet", "s.csv"] {
            let path = dir.path().join(name);
            write_empty(&path);
            assert_eq!(mode(&path), new_file_permissions().mode() & 0o777);
            assert_ne!(mode(&path), 0o600, "not the temporary file's mode");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
            write_empty(&path);
            assert_eq!(mode(&path), 0o640);
        }
        // Nothing but the outputs is left in the directory.
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["s.csv", "s.parquet"]);
    }

    #[test]
    fn dropped_sink_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let sink = open_file_sink(&dir.path().join("s.parquet"), schema()).unwrap();
        drop(sink);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// Row groups end where the caller says; copied row groups read back as they were
    /// written, between rows encoded before and after them, and are not counted.
    #[test]
    fn row_groups_end_on_request_and_copy_without_decoding() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use parquet::file::metadata::ParquetMetaDataReader;

        let read_all = |path: &Path| -> RecordBatch {
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
            let batches: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
            let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
            RecordBatch::try_new(schema(), batch.columns().to_vec()).unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first.parquet");
        let mut sink = FileSink::create(&first, schema()).unwrap();
        let parts = [
            batch([Some(1.0), Some(2.0)]),
            batch([Some(3.0), None]),
            batch([None, Some(4.0)]),
        ];
        for part in &parts {
            sink.write(part).unwrap();
            sink.end_row_group().unwrap();
        }
        sink.end_row_group().unwrap(); // nothing open: no empty row group
        Box::new(sink).finish().unwrap();
        let file = File::open(&first).unwrap();
        let metadata = ParquetMetaDataReader::new()
            .parse_and_finish(&file)
            .unwrap();
        assert_eq!(metadata.num_row_groups(), 3);

        let second = dir.path().join("second.parquet");
        let mut sink = FileSink::create(&second, schema()).unwrap();
        let new = batch([Some(9.0), Some(8.0)]);
        sink.write(&new).unwrap();
        assert!(sink.copy_row_groups(&file, &metadata, 1..3).unwrap());
        sink.write(&new).unwrap();
        let report = Box::new(sink).finish().unwrap();
        assert_eq!(report.rows, 4, "copied rows are not counted");
        let expected = arrow::compute::concat_batches(
            &schema(),
            &[new.clone(), parts[1].clone(), parts[2].clone(), new],
        )
        .unwrap();
        assert_eq!(read_all(&second), expected);

        // A CSV output copies nothing.
        let csv = dir.path().join("x.csv");
        let mut sink = FileSink::create(&csv, schema()).unwrap();
        assert!(!sink.copy_row_groups(&file, &metadata, 0..1).unwrap());
    }

    /// Text columns given as Arrow dictionaries make the very same file as the plain texts,
    /// and count the same rows; a CSV output does not take them.
    #[test]
    fn dictionary_texts_write_the_same_parquet() {
        use std::collections::BTreeMap;
        use std::sync::Arc;

        use arrow::array::ArrayRef;

        let dir = tempfile::tempdir().unwrap();
        let dictionary_type =
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let as_dictionaries = |batch: &RecordBatch| -> RecordBatch {
            let columns: Vec<ArrayRef> = batch
                .schema()
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(f, c)| match f.data_type() {
                    DataType::Utf8 if !is_distinct(f) => {
                        arrow::compute::cast(c, &dictionary_type).unwrap()
                    }
                    _ => Arc::clone(c),
                })
                .collect();
            RecordBatch::try_new_with_options(
                Arc::new(Schema::new(
                    batch
                        .schema()
                        .fields()
                        .iter()
                        .zip(&columns)
                        .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
                        .collect::<Vec<_>>(),
                )),
                columns,
                &Default::default(),
            )
            .unwrap()
        };
        let parts = [batch([Some(1.0), Some(2.0)]), batch([Some(3.0), None])];
        let write = |name: &str, dictionaries: bool| -> (Vec<u8>, WriteReport) {
            let path = dir.path().join(name);
            let mut sink = FileSink::create(&path, schema()).unwrap();
            assert!(sink.takes_dictionary_texts());
            for part in &parts {
                let part = if dictionaries {
                    as_dictionaries(part)
                } else {
                    part.clone()
                };
                assert_eq!(
                    part.column_by_name("namespace").unwrap().data_type() == &dictionary_type,
                    dictionaries
                );
                sink.write(&part).unwrap();
            }
            let report = Box::new(sink).finish().unwrap();
            (std::fs::read(&path).unwrap(), report)
        };
        let (plain, plain_report) = write("plain.parquet", false);
        let (dictionary, dictionary_report) = write("dictionary.parquet", true);
        assert!(plain == dictionary, "the same bytes");
        assert_eq!(
            dictionary_report.rows_by_data_source,
            BTreeMap::from([("Pod".to_string(), 2), ("Storage".to_string(), 2)])
        );
        assert_eq!(
            (plain_report.rows, plain_report.rows_by_data_source),
            (
                dictionary_report.rows,
                dictionary_report.rows_by_data_source
            )
        );
        let csv = FileSink::create(&dir.path().join("x.csv"), schema()).unwrap();
        assert!(!csv.takes_dictionary_texts());
    }

    #[test]
    fn parquet_keeps_types_and_values_and_lays_out_by_schema() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use parquet::file::reader::{FileReader, SerializedFileReader};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.parquet");
        let mut sink = open_file_sink(&path, schema()).unwrap();
        sink.write(&batch([Some(1.5), None])).unwrap();
        sink.write(&batch([Some(2.0), Some(0.25)])).unwrap();
        let report = sink.finish().unwrap();
        assert_eq!(report.rows, 4);
        assert_eq!(report.target, path.display().to_string());
        assert_eq!(
            report.rows_by_data_source,
            [("Pod".to_string(), 2), ("Storage".to_string(), 2)].into()
        );

        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        let read = reader.schema().clone();
        for (got, want) in read.fields().iter().zip(schema().fields()) {
            assert_eq!(got.name(), want.name());
            assert_eq!(got.data_type(), want.data_type());
            assert_eq!(got.is_nullable(), want.is_nullable());
        }
        let batches: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let all = arrow::compute::concat_batches(&read, &batches).unwrap();
        let expected = arrow::compute::concat_batches(
            &schema(),
            &[batch([Some(1.5), None]), batch([Some(2.0), Some(0.25)])],
        )
        .unwrap();
        assert_eq!(all.columns(), expected.columns());

        // The layout follows the schema: no dictionary or statistics on the row id, no
        // statistics on JSON, no compression on measures and row ids.
        let file = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let group = file.metadata().row_group(0);
        let column = |name: &str| {
            (0..group.num_columns())
                .map(|i| group.column(i))
                .find(|c| c.column_path().string() == name)
                .unwrap()
        };
        let dictionary = |name: &str| column(name).dictionary_page_offset().is_some();
        assert!(!dictionary("uuid"));
        assert!(dictionary("namespace"));
        assert!(dictionary("pod_labels"));
        assert!(!dictionary("pod_usage_cpu_core_hours"));
        assert!(column("uuid").statistics().is_none());
        assert!(column("pod_labels").statistics().is_none());
        assert!(column("namespace").statistics().is_some());
        assert_eq!(
            column("pod_usage_cpu_core_hours").compression(),
            Compression::UNCOMPRESSED
        );
        assert_eq!(column("uuid").compression(), Compression::UNCOMPRESSED);
        assert_eq!(column("namespace").compression(), Compression::SNAPPY);
    }

    #[test]
    fn csv_writes_a_header_dates_json_text_and_empty_nulls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        let mut sink = open_file_sink(&path, schema()).unwrap();
        sink.write(&batch([Some(1.5), None])).unwrap();
        sink.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "uuid,usage_start,usage_end,data_source,namespace,pod_labels,cost_category_id,pod_usage_cpu_core_hours\n\
             9a3e1c5e-1b0e-4a57-9d6c-0d2a1f4c3b01,2025-10-01,2025-10-01,Pod,tab\there,\"{\"\"app\"\":\"\"web\"\"}\",,1.5\n\
             9a3e1c5e-1b0e-4a57-9d6c-0d2a1f4c3b02,2025-10-02,2025-10-02,Storage,,,3,\n"
        );
    }

    #[test]
    fn a_non_finite_measure_is_refused_and_nothing_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["s.parquet", "s.csv"] {
            let path = dir.path().join(name);
            let mut sink = open_file_sink(&path, schema()).unwrap();
            let err = sink
                .write(&batch([Some(1.0), Some(f64::INFINITY)]))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("pod_usage_cpu_core_hours") && err.contains("2025-10-02"),
                "{err}"
            );
            drop(sink);
            assert!(!path.exists());
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn an_unknown_extension_or_directory_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let err = open_file_sink(&dir.path().join("s.txt"), schema())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("unknown extension"), "{err}");
        let err = open_file_sink(&dir.path().join("missing/s.csv"), schema())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("cannot create a file in"), "{err}");
    }
}
