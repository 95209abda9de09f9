//! koku's Trino/Hive copy of the summary (issue #17): the table
//! `hive.{schema}.reporting_ocpusagelineitem_daily_summary`, Parquet files partitioned by
//! `source`, `year`, `month` and `day`, which koku's OCP-on-AWS/Azure/GCP SQL and its data
//! validation read.
//!
//! [`HiveSink`] spools each day's rows into a local Parquet file while the run goes on, and
//! publishes in [`HiveSink::publish`]: for every day of the run, it uploads the day's file to
//! `source={source}/year={Y}/month={M}/day={D}/ocpagg-{run id}.parquet` (values unpadded, as
//! koku's `cast(month(usage_start) as varchar)`), then removes every other object of that
//! partition. A day without rows loses its old objects and gets no file, as koku's
//! `delete_ocp_hive_partition_by_day` followed by an insert of nothing. Until `publish`,
//! nothing is written to the table's location; dropped unpublished, the spool is removed.
//!
//! [`HiveTee`] writes the same batches (so the same uuids) to a `HiveSink` and to another
//! sink, and finishes the Hive copy first, then the other sink, in koku's order.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use chrono::{Datelike, NaiveDate};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use parquet::arrow::ArrowWriter;

use crate::{Result, SummarySink, WriteError, WriteReport};

/// koku's Hive table name (the same as the PostgreSQL table's).
pub const HIVE_TABLE: &str = "reporting_ocpusagelineitem_daily_summary";

/// `csi_volume_handle`: a column of koku's Hive table (a grouping key of Storage rows,
/// OCP-on-cloud matches volumes to disks by it) that its PostgreSQL table has no column for.
/// A [`HiveTee`] drops it from the batches it passes on to the other sink.
pub const CSI_VOLUME_HANDLE: &str = "csi_volume_handle";

/// A column type of koku's Hive table, and how its Parquet column is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HiveType {
    /// `varchar`, a row id (no dictionary, no statistics).
    Id,
    /// `varchar`.
    Text,
    /// `varchar` holding JSON (no statistics).
    Json,
    /// `int`.
    Int,
    /// `date`.
    Date,
    /// `double`.
    Double,
}

/// The columns of koku's Hive `CREATE TABLE` (`trino_sql/openshift/
/// reporting_ocpusagelineitem_daily_summary.sql`), in its order, with their types, without
/// the partition columns (`source`, `year`, `month`, `day`, which are directory names, not
/// file columns). The PostgreSQL table's `all_labels` has no Hive column; `csi_volume_handle`
/// has no PostgreSQL column.
const HIVE_TABLE_COLUMNS: &[(&str, HiveType)] = &[
    ("uuid", HiveType::Id),
    ("report_period_id", HiveType::Int),
    ("cluster_id", HiveType::Text),
    ("cluster_alias", HiveType::Text),
    ("data_source", HiveType::Text),
    ("usage_start", HiveType::Date),
    ("usage_end", HiveType::Date),
    ("namespace", HiveType::Text),
    ("node", HiveType::Text),
    ("resource_id", HiveType::Text),
    ("pod_labels", HiveType::Json),
    ("pod_usage_cpu_core_hours", HiveType::Double),
    ("pod_request_cpu_core_hours", HiveType::Double),
    ("pod_effective_usage_cpu_core_hours", HiveType::Double),
    ("pod_limit_cpu_core_hours", HiveType::Double),
    ("pod_usage_memory_gigabyte_hours", HiveType::Double),
    ("pod_request_memory_gigabyte_hours", HiveType::Double),
    (
        "pod_effective_usage_memory_gigabyte_hours",
        HiveType::Double,
    ),
    ("pod_limit_memory_gigabyte_hours", HiveType::Double),
    ("node_capacity_cpu_cores", HiveType::Double),
    ("node_capacity_cpu_core_hours", HiveType::Double),
    ("node_capacity_memory_gigabytes", HiveType::Double),
    ("node_capacity_memory_gigabyte_hours", HiveType::Double),
    ("cluster_capacity_cpu_core_hours", HiveType::Double),
    ("cluster_capacity_memory_gigabyte_hours", HiveType::Double),
    ("persistentvolumeclaim", HiveType::Text),
    ("persistentvolume", HiveType::Text),
    ("storageclass", HiveType::Text),
    ("volume_labels", HiveType::Json),
    ("persistentvolumeclaim_capacity_gigabyte", HiveType::Double),
    (
        "persistentvolumeclaim_capacity_gigabyte_months",
        HiveType::Double,
    ),
    ("volume_request_storage_gigabyte_months", HiveType::Double),
    (
        "persistentvolumeclaim_usage_gigabyte_months",
        HiveType::Double,
    ),
    ("source_uuid", HiveType::Text),
    ("infrastructure_usage_cost", HiveType::Json),
    (CSI_VOLUME_HANDLE, HiveType::Text),
    ("cost_category_id", HiveType::Int),
];

/// The names of [`hive_schema`]'s columns, in order (koku's Hive table without its partition
/// columns).
pub const HIVE_COLUMNS: &[&str] = &[
    "uuid",
    "report_period_id",
    "cluster_id",
    "cluster_alias",
    "data_source",
    "usage_start",
    "usage_end",
    "namespace",
    "node",
    "resource_id",
    "pod_labels",
    "pod_usage_cpu_core_hours",
    "pod_request_cpu_core_hours",
    "pod_effective_usage_cpu_core_hours",
    "pod_limit_cpu_core_hours",
    "pod_usage_memory_gigabyte_hours",
    "pod_request_memory_gigabyte_hours",
    "pod_effective_usage_memory_gigabyte_hours",
    "pod_limit_memory_gigabyte_hours",
    "node_capacity_cpu_cores",
    "node_capacity_cpu_core_hours",
    "node_capacity_memory_gigabytes",
    "node_capacity_memory_gigabyte_hours",
    "cluster_capacity_cpu_core_hours",
    "cluster_capacity_memory_gigabyte_hours",
    "persistentvolumeclaim",
    "persistentvolume",
    "storageclass",
    "volume_labels",
    "persistentvolumeclaim_capacity_gigabyte",
    "persistentvolumeclaim_capacity_gigabyte_months",
    "volume_request_storage_gigabyte_months",
    "persistentvolumeclaim_usage_gigabyte_months",
    "source_uuid",
    "infrastructure_usage_cost",
    CSI_VOLUME_HANDLE,
    "cost_category_id",
];

/// Label columns rewritten as Trino's `json_format(cast(map as json))` prints them.
const LABEL_COLUMNS: &[&str] = &["pod_labels", "volume_labels"];

/// The Arrow schema of the Hive files: koku's Hive types (varchar → Utf8, int → Int32,
/// date → Date32, double → Float64), every column nullable as in a Hive table.
pub fn hive_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| {
        let fields: Vec<Field> = HIVE_TABLE_COLUMNS
            .iter()
            .map(|&(name, hive_type)| {
                let data_type = match hive_type {
                    HiveType::Id | HiveType::Text | HiveType::Json => DataType::Utf8,
                    HiveType::Int => DataType::Int32,
                    HiveType::Date => DataType::Date32,
                    HiveType::Double => DataType::Float64,
                };
                let field = Field::new(name, data_type, true);
                match hive_type {
                    HiveType::Json => field.with_metadata(HashMap::from([(
                        "ARROW:extension:name".to_string(),
                        "arrow.json".to_string(),
                    )])),
                    HiveType::Id => field.with_metadata(HashMap::from([(
                        crate::file::DISTINCT_KEY.to_string(),
                        "true".to_string(),
                    )])),
                    _ => field,
                }
            })
            .collect();
        Arc::new(Schema::new(fields))
    }))
}

/// The partition directory of a day: `source={source}/year={Y}/month={M}/day={D}`, values
/// unpadded as koku's `cast(year(usage_start) as varchar)` etc. give them.
pub fn partition_path(source: &str, day: NaiveDate) -> String {
    format!(
        "source={source}/year={}/month={}/day={}",
        day.year(),
        day.month(),
        day.day()
    )
}

/// Lists the partition of `day` under the store (one request): a wrong bucket, endpoint or
/// credentials fail here. Returns the number of objects the partition holds now.
pub fn check_location(store: &dyn ObjectStore, source: &str, day: NaiveDate) -> Result<usize> {
    let prefix = ObjectPath::from(partition_path(source, day));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| WriteError::Aborted {
            reason: format!("cannot start the I/O runtime: {e}"),
        })?;
    let listed = runtime
        .block_on(store.list_with_delimiter(Some(&prefix)))
        .map_err(|e| WriteError::Io {
            path: format!("{prefix} (listing)"),
            source: Box::new(e),
        })?;
    Ok(listed.objects.len())
}

/// One partition the publication replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HivePartition {
    /// The day.
    pub day: NaiveDate,
    /// `source=…/year=…/month=…/day=…`, relative to the table's location.
    pub path: String,
    /// The file written (relative to the location), none for a day without rows.
    pub file: Option<String>,
    /// Rows in that file.
    pub rows: u64,
    /// Objects removed from the partition (previous runs' files).
    pub objects_removed: u64,
}

/// What [`HiveSink::publish`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HiveReport {
    /// The table's location: `s3://bucket/prefix` or a directory.
    pub location: String,
    /// The run's id, in every file name (`ocpagg-{run_id}.parquet`).
    pub run_id: String,
    /// Every partition of the run's days, in day order.
    pub partitions: Vec<HivePartition>,
    /// Rows written, all partitions.
    pub rows: u64,
    /// Time spent closing the spooled files and publishing them.
    pub publish_time: std::time::Duration,
}

impl HiveReport {
    /// The partitions as a short text: `source=S/year=2025/month=10/day=1..31`, or the
    /// days listed when they are not one range.
    pub fn describe_partitions(&self) -> String {
        let Some(first) = self.partitions.first() else {
            return "no partitions".into();
        };
        let last = self.partitions.last().unwrap_or(first);
        let prefix = first.path.rsplit_once("/day=").map_or("", |(p, _)| p);
        let days: Vec<u32> = self.partitions.iter().map(|p| p.day.day()).collect();
        let contiguous =
            days.windows(2).all(|w| w[1] == w[0] + 1) && first.day.month() == last.day.month();
        if days.len() == 1 {
            first.path.clone()
        } else if contiguous {
            format!("{prefix}/day={}..{}", days[0], days[days.len() - 1])
        } else {
            let list: Vec<String> = days.iter().map(u32::to_string).collect();
            format!("{prefix}/day={{{}}}", list.join(","))
        }
    }
}

struct DayFile {
    path: PathBuf,
    writer: ArrowWriter<BufWriter<File>>,
    rows: u64,
}

/// Writes koku's Hive copy of the summary (see the module documentation).
pub struct HiveSink {
    store: Arc<dyn ObjectStore>,
    location: String,
    source: String,
    days: Vec<NaiveDate>,
    run_id: uuid::Uuid,
    spool: tempfile::TempDir,
    files: BTreeMap<i32, DayFile>,
    last_day: Option<i32>,
    runtime: tokio::runtime::Runtime,
    concurrency: usize,
    report: WriteReport,
}

/// Days since 1970-01-01 of a date.
pub(crate) fn day_number(day: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((day - epoch).num_days()).unwrap_or(i32::MAX)
}

/// Files up to this size are uploaded in one PUT; larger ones in parts of this size.
const PART_BYTES: usize = 8 << 20;

impl HiveSink {
    /// Opens the sink for the days `start..=end` of `source`. `store` is rooted at the table's
    /// location (`location` is its name in messages); `concurrency` partitions are published
    /// at once. Fails early when the location cannot be listed or the spool cannot be
    /// created.
    pub fn open(
        store: Arc<dyn ObjectStore>,
        location: &str,
        source: &str,
        start: NaiveDate,
        end: NaiveDate,
        concurrency: usize,
    ) -> Result<Self> {
        let invalid = |reason: String| WriteError::InvalidTarget {
            path: location.to_string(),
            reason,
        };
        if source.is_empty()
            || !source
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(format!(
                "source {source:?} cannot name a partition (letters, digits, - and _ only)"
            )));
        }
        if start > end {
            return Err(invalid(format!("no days: {start} is after {end}")));
        }
        let days: Vec<NaiveDate> = start.iter_days().take_while(|d| *d <= end).collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| invalid(format!("cannot start the I/O runtime: {e}")))?;
        // One listing now: a wrong bucket, credentials or endpoint fails the run before any
        // data is read.
        let first = ObjectPath::from(partition_path(source, start));
        runtime
            .block_on(store.list_with_delimiter(Some(&first)))
            .map_err(|e| invalid(format!("cannot list {}: {e}", first)))?;
        let spool = tempfile::Builder::new()
            .prefix("ocpagg-hive-")
            .tempdir()
            .map_err(|e| {
                invalid(format!(
                    "cannot create a spool directory in {}: {e}",
                    std::env::temp_dir().display()
                ))
            })?;
        Ok(Self {
            store,
            location: location.trim_end_matches('/').to_string(),
            source: source.to_string(),
            days,
            run_id: uuid::Uuid::new_v4(),
            spool,
            files: BTreeMap::new(),
            last_day: None,
            runtime,
            concurrency: concurrency.max(1),
            report: WriteReport {
                target: location.to_string(),
                ..Default::default()
            },
        })
    }

    /// Replaces only the partitions of `days` (those of the range opened), not every day of
    /// the range: an incremental run's affected days, which need not be contiguous. Rows of
    /// other days are refused.
    #[must_use]
    pub fn only_days(mut self, days: &[NaiveDate]) -> Self {
        self.days.retain(|d| days.contains(d));
        self
    }

    /// The run's id (in every file name).
    pub fn run_id(&self) -> uuid::Uuid {
        self.run_id
    }

    fn spool_error(&self, e: impl std::error::Error + Send + Sync + 'static) -> WriteError {
        WriteError::Io {
            path: format!("the Hive spool {}", self.spool.path().display()),
            source: Box::new(e),
        }
    }

    fn write_day(&mut self, day: i32, rows: &RecordBatch) -> Result<()> {
        let first = self.days.first().copied().map_or(i32::MIN, day_number);
        let last = self.days.last().copied().map_or(i32::MAX, day_number);
        if day < first || day > last {
            return Err(WriteError::Aborted {
                reason: format!(
                    "a summary row of day {day} (days since 1970) outside the run's days {}..={}; nothing was written to {}",
                    self.days.first().map(NaiveDate::to_string).unwrap_or_default(),
                    self.days.last().map(NaiveDate::to_string).unwrap_or_default(),
                    self.location
                ),
            });
        }
        // Rows come day by day: a day's buffered row group is written out when the next day
        // starts, so the spool holds at most about one day in memory.
        if self.last_day != Some(day) {
            if let Some(previous) = self.last_day.and_then(|d| self.files.get_mut(&d)) {
                let flushed = previous.writer.flush();
                flushed.map_err(|e| self.spool_error(e))?;
            }
            self.last_day = Some(day);
        }
        if !self.files.contains_key(&day) {
            let path = self.spool.path().join(format!("{day}.parquet"));
            let file = File::create(&path).map_err(|e| self.spool_error(e))?;
            let writer = ArrowWriter::try_new(
                BufWriter::with_capacity(1 << 16, file),
                hive_schema(),
                Some(crate::file::parquet_properties(&hive_schema())),
            )
            .map_err(|e| self.spool_error(e))?;
            self.files.insert(
                day,
                DayFile {
                    path,
                    writer,
                    rows: 0,
                },
            );
        }
        let Some(file) = self.files.get_mut(&day) else {
            return Ok(());
        };
        let written = file.writer.write(rows);
        file.rows += rows.num_rows() as u64;
        written.map_err(|e| self.spool_error(e))
    }

    /// Uploads every day's file, then removes every other object of its partition (see the
    /// module documentation); returns what changed. Partitions are published
    /// `concurrency` at a time, each one new file first, old objects after: an error stops
    /// the publication, leaving the partitions done replaced, the others untouched, and in
    /// a partition being done at that moment possibly both the new and the old files.
    pub fn publish(mut self) -> Result<HiveReport> {
        let started = std::time::Instant::now();
        let mut ready: BTreeMap<i32, (PathBuf, u64)> = BTreeMap::new();
        for (day, file) in std::mem::take(&mut self.files) {
            let closed = file
                .writer
                .into_inner()
                .map_err(|e| self.spool_error(e))
                .and_then(|w| w.into_inner().map_err(|e| self.spool_error(e.into_error())));
            closed?;
            ready.insert(day, (file.path, file.rows));
        }
        let name = format!("ocpagg-{}.parquet", self.run_id);
        let store = &self.store;
        let location = &self.location;
        let describe = |p: &ObjectPath| format!("{location}/{p}");
        let publish_day = |day: NaiveDate| {
            let partition = partition_path(&self.source, day);
            let spooled = ready.get(&day_number(day)).cloned();
            let name = &name;
            async move {
                let prefix = ObjectPath::from(partition.as_str());
                let mut written = None;
                let mut rows = 0;
                if let Some((path, n)) = spooled {
                    let target = ObjectPath::from(format!("{partition}/{name}"));
                    upload(store.as_ref(), &path, &target)
                        .await
                        .map_err(|source| WriteError::Io {
                            path: describe(&target),
                            source,
                        })?;
                    rows = n;
                    written = Some(target);
                }
                let old: Vec<ObjectPath> = store
                    .list(Some(&prefix))
                    .map_ok(|meta| meta.location)
                    .try_collect()
                    .await
                    .map_err(|e| WriteError::Io {
                        path: format!("{} (listing)", describe(&prefix)),
                        source: Box::new(e),
                    })?;
                let mut removed = 0;
                for object in old.iter().filter(|o| Some(*o) != written.as_ref()) {
                    match store.delete(object).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => removed += 1,
                        Err(e) => {
                            return Err(WriteError::Io {
                                path: format!("{} (removing)", describe(object)),
                                source: Box::new(e),
                            })
                        }
                    }
                }
                Ok::<_, WriteError>(HivePartition {
                    day,
                    path: partition,
                    file: written.map(|w| w.to_string()),
                    rows,
                    objects_removed: removed,
                })
            }
        };
        let mut partitions: Vec<HivePartition> = self.runtime.block_on(
            futures::stream::iter(self.days.iter().copied().map(publish_day))
                .buffer_unordered(self.concurrency)
                .try_collect(),
        )?;
        partitions.sort_by_key(|p| p.day);
        let rows = partitions.iter().map(|p| p.rows).sum();
        tracing::info!(
            location = %self.location,
            run_id = %self.run_id,
            partitions = partitions.len(),
            rows,
            "Hive partitions replaced."
        );
        Ok(HiveReport {
            location: self.location.clone(),
            run_id: self.run_id.to_string(),
            partitions,
            rows,
            publish_time: started.elapsed(),
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Uploads a spooled file: one PUT when small, else a multipart upload in [`PART_BYTES`]
/// parts (aborted on error). Either way the object appears whole or not at all.
async fn upload(
    store: &dyn ObjectStore,
    path: &std::path::Path,
    target: &ObjectPath,
) -> std::result::Result<(), BoxError> {
    let size = std::fs::metadata(path)?.len();
    if size <= PART_BYTES as u64 {
        let bytes = std::fs::read(path)?;
        store.put(target, bytes::Bytes::from(bytes).into()).await?;
        return Ok(());
    }
    let upload = store.put_multipart(target).await?;
    let mut parts = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; PART_BYTES];
    let streamed: std::result::Result<(), BoxError> = async {
        loop {
            let mut filled = 0;
            while filled < buf.len() {
                let n = file.read(&mut buf[filled..])?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                return Ok(());
            }
            parts.wait_for_capacity(2).await?;
            parts.write(&buf[..filled]);
        }
    }
    .await;
    match streamed {
        Ok(()) => {
            parts.finish().await?;
            Ok(())
        }
        Err(e) => {
            let _ = parts.abort().await;
            Err(e)
        }
    }
}

/// Renders a label JSON object as Trino's `json_format(cast(map as json))` does, which is
/// how koku's Hive copy holds it: keys sorted, no spaces (`{"app":"web","tier":"front"}`).
/// koku's OCP-on-cloud SQL matches tags with `strpos(pod_labels, '"key":"value"')`, so the
/// spacing matters.
fn compact_labels(column: &ArrayRef, name: &str) -> Result<ArrayRef> {
    let Some(texts) = column.as_string_opt::<i32>() else {
        return Err(WriteError::Aborted {
            reason: format!("column {name} is {}, not text", column.data_type()),
        });
    };
    let mut cache: HashMap<&str, String> = HashMap::new();
    let mut out = StringBuilder::with_capacity(texts.len(), texts.value_data().len());
    for text in texts.iter() {
        let Some(text) = text else {
            out.append_null();
            continue;
        };
        if !cache.contains_key(text) {
            let map: BTreeMap<String, serde_json::Value> =
                serde_json::from_str(text).map_err(|e| WriteError::Aborted {
                    reason: format!("column {name}: {text:?} is not a JSON object: {e}"),
                })?;
            let compact = serde_json::to_string(&map).map_err(|e| WriteError::Aborted {
                reason: format!("column {name}: {e}"),
            })?;
            cache.insert(text, compact);
        }
        out.append_value(&cache[text]);
    }
    Ok(Arc::new(out.finish()))
}

/// A summary batch (with or without the trailing `csi_volume_handle`) in the Hive schema.
pub fn hive_batch(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = hive_schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(HIVE_COLUMNS.len());
    for field in schema.fields() {
        let name = field.name().as_str();
        let column = match batch.column_by_name(name) {
            Some(c) if LABEL_COLUMNS.contains(&name) => compact_labels(c, name)?,
            Some(c) => Arc::clone(c),
            None if name == CSI_VOLUME_HANDLE => {
                arrow::array::new_null_array(&DataType::Utf8, batch.num_rows())
            }
            None => {
                return Err(WriteError::Aborted {
                    reason: format!("the summary batch has no column {name}"),
                })
            }
        };
        columns.push(column);
    }
    RecordBatch::try_new(schema, columns).map_err(|e| WriteError::Aborted {
        reason: format!("the Hive copy's columns: {e}"),
    })
}

impl SummarySink for HiveSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let hive = hive_batch(batch)?;
        let Some(days) = hive
            .column_by_name("usage_start")
            .and_then(|c| c.as_primitive_opt::<Date32Type>())
        else {
            return Err(WriteError::Aborted {
                reason: "the summary batch has no usage_start dates".into(),
            });
        };
        if days.null_count() > 0 {
            return Err(WriteError::Aborted {
                reason: "a summary row without usage_start".into(),
            });
        }
        let days = days.values().clone();
        let mut start = 0;
        while start < days.len() {
            let day = days[start];
            let end = (start..days.len())
                .find(|&i| days[i] != day)
                .unwrap_or(days.len());
            self.write_day(day, &hive.slice(start, end - start))?;
            start = end;
        }
        self.report.count(batch);
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<WriteReport> {
        let mut report = self.report.clone();
        report.hive = Some(self.publish()?);
        Ok(report)
    }
}

/// Writes every batch to koku's Hive copy and to another sink (PostgreSQL or a file), so both
/// hold the same rows with the same uuids. The Hive copy is encoded on a thread of its own
/// (`ocpagg-hive`), beside the other sink's work. `finish` publishes the Hive copy first, then
/// finishes the other sink (a database commits), as koku writes Hive before PostgreSQL. If
/// the Hive publication fails, the other sink is dropped (a database rolls back). Dropped
/// unfinished, neither keeps anything.
pub struct HiveTee {
    batches: Option<std::sync::mpsc::SyncSender<RecordBatch>>,
    hive: Option<std::thread::JoinHandle<Result<HiveSink>>>,
    inner: Option<Box<dyn SummarySink>>,
}

impl HiveTee {
    /// Tees batches to `hive` and `inner`. Batches may carry a trailing
    /// [`CSI_VOLUME_HANDLE`] column; `inner` gets the batch without it.
    pub fn new(hive: HiveSink, inner: Box<dyn SummarySink>) -> Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(4);
        let location = hive.location.clone();
        let worker = std::thread::Builder::new()
            .name("ocpagg-hive".into())
            .spawn(move || {
                let mut hive = hive;
                for batch in rx {
                    hive.write(&batch)?;
                }
                Ok(hive)
            })
            .map_err(|e| WriteError::Io {
                path: location,
                source: Box::new(e),
            })?;
        Ok(Self {
            batches: Some(tx),
            hive: Some(worker),
            inner: Some(inner),
        })
    }

    /// Ends the Hive thread and returns its sink, or the error it stopped with.
    fn join_hive(&mut self) -> Result<HiveSink> {
        self.batches = None;
        let Some(worker) = self.hive.take() else {
            return Err(WriteError::Aborted {
                reason: "the Hive copy has already ended".into(),
            });
        };
        worker.join().unwrap_or_else(|_| {
            Err(WriteError::Aborted {
                reason: "the Hive thread panicked".into(),
            })
        })
    }
}

impl SummarySink for HiveTee {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let sent = match &self.batches {
            Some(tx) => tx.send(batch.clone()).is_ok(),
            None => false,
        };
        if !sent {
            // The Hive thread stopped: its result is the error.
            return Err(match self.join_hive() {
                Err(e) => e,
                Ok(_) => WriteError::Aborted {
                    reason: "the Hive copy ended early".into(),
                },
            });
        }
        let Some(inner) = self.inner.as_mut() else {
            return Err(WriteError::Aborted {
                reason: "a batch after the end of the rows".into(),
            });
        };
        let n = batch.num_columns();
        let schema = batch.schema();
        if n > 0 && schema.field(n - 1).name() == CSI_VOLUME_HANDLE {
            let projected = batch
                .project(&(0..n - 1).collect::<Vec<_>>())
                .map_err(|e| WriteError::Aborted {
                    reason: format!("the summary columns of a batch: {e}"),
                })?;
            inner.write(&projected)
        } else {
            inner.write(batch)
        }
    }

    fn finish(mut self: Box<Self>) -> Result<WriteReport> {
        let published = self.join_hive()?.publish()?;
        let Some(inner) = self.inner.take() else {
            return Err(WriteError::Aborted {
                reason: "the output was already finished".into(),
            });
        };
        match inner.finish() {
            Ok(mut report) => {
                report.hive = Some(published);
                Ok(report)
            }
            Err(e) => Err(WriteError::AfterHive {
                location: published.location.clone(),
                partitions: published.describe_partitions(),
                source: Box::new(e),
            }),
        }
    }
}

impl Drop for HiveTee {
    fn drop(&mut self) {
        // Unfinished: the Hive thread ends and drops its sink (the spool goes with it) before
        // the process goes on.
        if self.hive.is_some() {
            let _ = self.join_hive();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_unpadded() {
        let d = NaiveDate::from_ymd_opt(2025, 1, 7).unwrap();
        assert_eq!(
            partition_path("s-1", d),
            "source=s-1/year=2025/month=1/day=7"
        );
    }

    #[test]
    fn labels_as_trino_prints_them() {
        let col: ArrayRef = Arc::new(arrow::array::StringArray::from(vec![
            Some(r#"{"app": "web", "tier": "front", "a_long_key": "x y"}"#),
            None,
            Some("{}"),
            Some(r#"{"app": "web", "tier": "front", "a_long_key": "x y"}"#),
        ]));
        let out = compact_labels(&col, "pod_labels").unwrap();
        let out = out.as_string::<i32>();
        assert_eq!(
            out.value(0),
            r#"{"a_long_key":"x y","app":"web","tier":"front"}"#
        );
        assert!(out.is_null(1));
        assert_eq!(out.value(2), "{}");
        assert_eq!(out.value(3), out.value(0));
    }

    #[test]
    fn the_schema_is_kokus() {
        let schema = hive_schema();
        assert_eq!(schema.fields().len(), 37);
        assert!(schema.field_with_name("all_labels").is_err());
        for (name, t) in [
            ("uuid", DataType::Utf8),
            ("report_period_id", DataType::Int32),
            ("usage_start", DataType::Date32),
            ("pod_labels", DataType::Utf8),
            ("node_capacity_cpu_cores", DataType::Float64),
            ("csi_volume_handle", DataType::Utf8),
            ("cost_category_id", DataType::Int32),
        ] {
            assert_eq!(schema.field_with_name(name).unwrap().data_type(), &t);
        }
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, HIVE_COLUMNS);
        let json: Vec<&str> = schema
            .fields()
            .iter()
            .filter(|f| crate::file::is_json(f))
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(
            json,
            ["pod_labels", "volume_labels", "infrastructure_usage_cost"]
        );
    }
}
