//! Parquet and CSV file sinks.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use tempfile::NamedTempFile;

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
    Parquet(ArrowWriter<BufWriter<File>>),
    Csv(arrow::csv::Writer<BufWriter<File>>),
}

/// A file sink: writes into a temporary file in the target's directory and renames it over the
/// target in [`SummarySink::finish`]. Dropped unfinished, the temporary file is removed.
pub struct FileSink {
    path: PathBuf,
    temp: NamedTempFile,
    encoder: Option<Encoder>,
    report: WriteReport,
}

/// Opens a Parquet or CSV sink, by the path's extension.
pub fn open_file_sink(path: &Path) -> Result<Box<dyn SummarySink>> {
    Ok(Box::new(FileSink::create(path)?))
}

impl FileSink {
    /// Creates the sink; fails early if the extension is unknown or the directory is not
    /// writable.
    pub fn create(path: &Path) -> Result<Self> {
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
        let schema = ocpagg_aggregate::schema::summary_schema();
        let encoder =
            match format {
                FileFormat::Parquet => {
                    let props = parquet_properties();
                    Encoder::Parquet(ArrowWriter::try_new(file, schema, Some(props)).map_err(
                        |e| WriteError::Io {
                            path: shown.clone(),
                            source: Box::new(e),
                        },
                    )?)
                }
                FileFormat::Csv => Encoder::Csv(
                    arrow::csv::WriterBuilder::new()
                        .with_header(true)
                        .with_date_format("%Y-%m-%d".into())
                        .build(file),
                ),
            };
        Ok(Self {
            report: WriteReport {
                target: shown,
                ..Default::default()
            },
            path: path.to_path_buf(),
            temp,
            encoder: Some(encoder),
        })
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

impl SummarySink for FileSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
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
        })?;
        self.report.count(batch);
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
                let file = w.into_inner().map_err(|e| self.error(e))?;
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

/// Rows per row group of a Parquet output.
const OUTPUT_ROW_GROUP_ROWS: usize = 65_536;

/// Columns whose values repeat across rows, and so are worth a dictionary: ids, names and
/// label maps. Numbers and `uuid` are (nearly) all distinct, and a dictionary attempt on them
/// only costs time before the writer falls back to plain encoding.
const DICTIONARY_COLUMNS: &[&str] = &[
    "cluster_id",
    "cluster_alias",
    "data_source",
    "namespace",
    "node",
    "resource_id",
    "pod_labels",
    "persistentvolumeclaim",
    "persistentvolume",
    "storageclass",
    "volume_labels",
    "all_labels",
    "source_uuid",
    "infrastructure_usage_cost",
    "report_period_id",
    "usage_start",
    "usage_end",
    "cost_category_id",
];

/// Columns whose min/max statistics no reader can use (JSON texts, random ids), while
/// computing them compares every long value.
const NO_STATISTICS_COLUMNS: &[&str] = &[
    "uuid",
    "pod_labels",
    "volume_labels",
    "all_labels",
    "infrastructure_usage_cost",
];

/// Snappy on all but the measures, dictionaries only where values repeat, statistics per column chunk (page-level
/// min/max of long label texts is measurable and no reader of this file needs it) and none
/// on JSON and uuid columns.
pub(crate) fn parquet_properties() -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        // The writer buffers a whole row group before writing it out: bound it, or a month
        // with a million output rows holds them all (encoded) in memory.
        .set_max_row_group_row_count(Some(OUTPUT_ROW_GROUP_ROWS));
    for column in DICTIONARY_COLUMNS {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(*column), true);
    }
    // Measures are nearly random float64s: Snappy gains almost nothing on them and costs
    // a pass over every page.
    for column in ocpagg_aggregate::schema::SUMMARY_COLUMNS {
        if column.data_type == arrow::datatypes::DataType::Float64 {
            builder = builder
                .set_column_compression(ColumnPath::from(column.name), Compression::UNCOMPRESSED);
        }
    }
    for column in NO_STATISTICS_COLUMNS {
        builder = builder
            .set_column_statistics_enabled(ColumnPath::from(*column), EnabledStatistics::None);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn write_empty(path: &Path) {
        let mut sink = open_file_sink(path).unwrap();
        sink.write(&RecordBatch::new_empty(
            ocpagg_aggregate::schema::summary_schema(),
        ))
        .unwrap();
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
        let sink = open_file_sink(&dir.path().join("s.parquet")).unwrap();
        drop(sink);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
