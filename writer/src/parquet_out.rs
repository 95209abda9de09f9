//! The Parquet encoder of [`crate::FileSink`]: Arrow batches encoded into row groups, and row
//! groups of an earlier file copied in as they are (column chunks spliced, nothing decoded).
//!
//! A row group closes when it reaches [`OUTPUT_ROW_GROUP_ROWS`] rows or when the caller says
//! ([`ParquetEncoder::end_row_group`]), so that a caller can lay its rows out in row groups of
//! its own (a day each) and copy those of another file later.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::Result;
use parquet::file::metadata::{KeyValue, ParquetMetaData};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::ChunkReader;
use parquet::file::writer::SerializedFileWriter;

/// Rows per output row group at most: the writer buffers a whole row group (encoded) before
/// writing it out, so a month with a million output rows does not hold them all. 16,384
/// rather than 65,536: 11 MiB less peak RSS on a 20M-row month, the same time, a 0.4% larger
/// file (`bench/floor.py`, #21).
pub(crate) const OUTPUT_ROW_GROUP_ROWS: usize = 16_384;

/// Encodes batches of one schema into a Parquet file. See the module docs.
pub(crate) struct ParquetEncoder<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// The row group being encoded: a writer per leaf column, and its rows.
    open: Option<(Vec<ArrowColumnWriter>, usize)>,
}

impl<W: Write + Send> ParquetEncoder<W> {
    /// A file of `schema` written with `props` (the Arrow schema goes into the footer, as
    /// [`ArrowWriter`] puts it).
    pub(crate) fn new(out: W, schema: SchemaRef, props: WriterProperties) -> Result<Self> {
        let (writer, factory) =
            ArrowWriter::try_new(out, schema.clone(), Some(props))?.into_serialized_writer()?;
        Ok(Self {
            writer,
            factory,
            schema,
            open: None,
        })
    }

    /// Encodes `batch`, closing row groups as they fill.
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut start = 0;
        while start < batch.num_rows() {
            let (writers, rows) = match &mut self.open {
                Some(open) => open,
                None => {
                    let index = self.writer.flushed_row_groups().len();
                    let writers = self.factory.create_column_writers(index)?;
                    self.open.insert((writers, 0))
                }
            };
            let take = (OUTPUT_ROW_GROUP_ROWS - *rows).min(batch.num_rows() - start);
            let part = batch.slice(start, take);
            let mut leaves = writers.iter_mut();
            for (field, column) in self.schema.fields().iter().zip(part.columns()) {
                for leaf in compute_leaves(field, column)? {
                    let Some(writer) = leaves.next() else {
                        return Err(parquet::errors::ParquetError::General(
                            "more leaf columns than the schema's".into(),
                        ));
                    };
                    writer.write(&leaf)?;
                }
            }
            *rows += take;
            start += take;
            if *rows >= OUTPUT_ROW_GROUP_ROWS {
                self.end_row_group()?;
            }
        }
        Ok(())
    }

    /// Closes the row group being encoded, if it has rows.
    pub(crate) fn end_row_group(&mut self) -> Result<()> {
        let Some((writers, _)) = self.open.take() else {
            return Ok(());
        };
        let mut row_group = self.writer.next_row_group()?;
        for writer in writers {
            writer.close()?.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        Ok(())
    }

    /// Whether row groups of a file with `metadata` can be copied into this one: the same
    /// Parquet schema.
    pub(crate) fn can_copy_from(&self, metadata: &ParquetMetaData) -> bool {
        metadata.file_metadata().schema_descr().root_schema()
            == self.writer.schema_descr().root_schema()
    }

    /// Copies row groups `groups` of `source` (whose metadata is `metadata`, with its page
    /// index if it has one) after the rows written so far, column chunks as they are.
    pub(crate) fn copy_row_groups<R: ChunkReader>(
        &mut self,
        source: &R,
        metadata: &ParquetMetaData,
        groups: Range<usize>,
    ) -> Result<()> {
        self.end_row_group()?;
        let page_index = metadata.page_index();
        for index in groups {
            let group = metadata.row_group(index);
            let mut out = self.writer.next_row_group()?;
            for (c, column) in group.columns().iter().enumerate() {
                let offset_index = page_index.and_then(|p| p.offset_index(index, c)).cloned();
                out.append_column(
                    source,
                    ColumnCloseResult {
                        bytes_written: column.compressed_size() as u64,
                        rows_written: group.num_rows() as u64,
                        metadata: column.clone(),
                        bloom_filter: None,
                        column_index: None,
                        offset_index,
                    },
                )?;
            }
            out.close()?;
        }
        Ok(())
    }

    /// Writes the footer, with `metadata` added to its key-value metadata, and returns the
    /// output.
    pub(crate) fn finish(mut self, metadata: Option<KeyValue>) -> Result<W> {
        self.end_row_group()?;
        if let Some(kv) = metadata {
            self.writer.append_key_value_metadata(kv);
        }
        self.writer.into_inner()
    }
}

/// The file type [`crate::FileSink`] encodes into.
pub(crate) type FileEncoder = ParquetEncoder<BufWriter<File>>;
