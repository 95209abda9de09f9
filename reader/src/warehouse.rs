//! Opening a warehouse (local directory or S3 bucket) and planning a scan: which files of
//! koku's layout hold a given org, source and month.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};
use tokio::runtime::Runtime;

use crate::error::{ReadError, Result};
use crate::scan::{DateRange, FileBatches, Projection};
use crate::schema::ReportType;

/// Network settings for S3-compatible warehouses. Credentials, region and endpoint come from
/// the standard `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ...), so MinIO works unchanged.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Retries of a failed request (transient errors only: 5xx, timeouts, connection resets).
    /// Default 10.
    pub max_retries: usize,
    /// Give up retrying a request after this long. Default 3 minutes.
    pub retry_timeout: Duration,
    /// First backoff between retries, doubled each time up to 15 s. Default 100 ms.
    pub initial_backoff: Duration,
    /// Timeout of one request. Default 30 s.
    pub request_timeout: Duration,
    /// Timeout to establish a connection. Default 5 s.
    pub connect_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            initial_backoff: Duration::from_millis(100),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Which slice of the warehouse to scan: koku partitions by org, source, year and month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRequest {
    /// Tenant schema name, e.g. `org1234567`.
    pub org: String,
    /// Source (cluster) UUID as it appears in `source=...`.
    pub source: String,
    /// Year of the month to read.
    pub year: i32,
    /// Month to read, 1..=12.
    pub month: u32,
}

/// One Parquet file found by [`Warehouse::plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// The table the file belongs to.
    pub report_type: ReportType,
    /// True for koku's `daily/` roll-up, false for hourly line items.
    pub daily: bool,
    /// Location inside the warehouse.
    pub location: ObjectPath,
    /// Size in bytes.
    pub size: u64,
}

/// The files of one scan, sorted by location so runs are repeatable.
#[derive(Debug, Clone, Default)]
pub struct ScanPlan {
    /// Every file found, hourly and daily, all report types.
    pub files: Vec<DataFile>,
}

impl ScanPlan {
    /// The files of one report type, hourly (`daily = false`) or daily roll-up.
    pub fn files(&self, report_type: ReportType, daily: bool) -> impl Iterator<Item = &DataFile> {
        self.files
            .iter()
            .filter(move |f| f.report_type == report_type && f.daily == daily)
    }

    /// Whether any file of this report type and granularity exists.
    pub fn has(&self, report_type: ReportType, daily: bool) -> bool {
        self.files(report_type, daily).next().is_some()
    }
}

/// A koku Parquet warehouse: a local directory or an S3 bucket with an optional prefix.
///
/// Local files are read with blocking I/O on the caller's thread. S3 objects are fetched on a
/// small private tokio runtime owned by the warehouse, and decoded on the caller's thread, so
/// CPU work never stalls the connections.
pub struct Warehouse {
    display: String,
    store: Arc<dyn ObjectStore>,
    local_root: Option<PathBuf>,
    runtime: Arc<Runtime>,
}

impl std::fmt::Debug for Warehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warehouse")
            .field("url", &self.display)
            .finish_non_exhaustive()
    }
}

impl Warehouse {
    /// Opens a warehouse with default network settings. `url` is a local path, a `file://` URL
    /// or `s3://bucket[/prefix]`.
    pub fn open(url: &str) -> Result<Self> {
        Self::open_with(url, &StoreOptions::default())
    }

    /// Opens a warehouse with explicit network settings (used for S3 only).
    pub fn open_with(url: &str, options: &StoreOptions) -> Result<Self> {
        let invalid = |reason: String| ReadError::InvalidWarehouse {
            url: url.to_string(),
            reason,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ocpagg-io")
            .enable_all()
            .build()
            .map_err(|e| invalid(format!("cannot start the I/O runtime: {e}")))?;
        if let Some(rest) = url
            .strip_prefix("s3://")
            .or_else(|| url.strip_prefix("s3a://"))
        {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("the URL names no bucket".into()));
            }
            let retry = RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: options.initial_backoff,
                    max_backoff: Duration::from_secs(15),
                    base: 2.0,
                },
                max_retries: options.max_retries,
                retry_timeout: options.retry_timeout,
            };
            // Timeouts go through config keys: replacing the client options wholesale would
            // drop what the environment set (AWS_ALLOW_HTTP, for one).
            let secs = |d: Duration| format!("{}ms", d.as_millis());
            let store = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry)
                .with_config(
                    AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                    secs(options.request_timeout),
                )
                .with_config(
                    AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                    secs(options.connect_timeout),
                )
                .build()
                .map_err(|e| invalid(e.to_string()))?;
            let prefix = prefix.trim_matches('/');
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(store)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
            };
            return Ok(Self {
                display: format!("s3://{bucket}/{prefix}")
                    .trim_end_matches('/')
                    .to_string(),
                store,
                local_root: None,
                runtime: Arc::new(runtime),
            });
        }
        let path = match url.strip_prefix("file://") {
            Some(p) => PathBuf::from(p),
            None if url.contains("://") => {
                return Err(invalid(
                    "unsupported scheme; use a local path, file:// or s3://".into(),
                ))
            }
            None => PathBuf::from(url),
        };
        let root = path
            .canonicalize()
            .map_err(|e| invalid(format!("cannot open directory: {e}")))?;
        if !root.is_dir() {
            return Err(invalid("not a directory".into()));
        }
        let store = LocalFileSystem::new_with_prefix(&root).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            display: root.display().to_string(),
            store: Arc::new(store),
            local_root: Some(root),
            runtime: Arc::new(runtime),
        })
    }

    /// The warehouse URL, for messages.
    pub fn url(&self) -> &str {
        &self.display
    }

    /// The full location of a file, for messages: a local path or an `s3://` URL.
    pub fn describe(&self, location: &ObjectPath) -> String {
        match &self.local_root {
            Some(root) => root.join(location.as_ref()).display().to_string(),
            None => format!("{}/{}", self.display, location),
        }
    }

    /// The directory (prefix) koku uses for one table of a scan.
    pub fn table_prefix(request: &ScanRequest, report_type: ReportType, daily: bool) -> ObjectPath {
        let daily = if daily { "daily/" } else { "" };
        ObjectPath::from(format!(
            "data/parquet/{daily}{org}/OCP/{table}/source={source}/year={year:04}/month={month:02}",
            org = request.org,
            table = report_type.dir_name(),
            source = request.source,
            year = request.year,
            month = request.month,
        ))
    }

    /// Lists the Parquet files of every report type (hourly and daily) for the request.
    /// Only the month's directories are listed: the partition layout prunes the rest.
    pub fn plan(&self, request: &ScanRequest) -> Result<ScanPlan> {
        let mut files = Vec::new();
        for report_type in ReportType::ALL {
            for daily in [false, true] {
                let prefix = Self::table_prefix(request, report_type, daily);
                let listed: Vec<_> = self
                    .runtime
                    .block_on(self.store.list(Some(&prefix)).try_collect())
                    .map_err(|source| ReadError::Store {
                        operation: "list",
                        location: self.describe(&prefix),
                        source,
                    })?;
                for meta in listed {
                    // Only direct children named *.parquet: koku writes nothing else there,
                    // but editors and tools leave temporary files behind.
                    let name = meta.location.filename().unwrap_or_default();
                    if !name.ends_with(".parquet") || name.starts_with('.') {
                        continue;
                    }
                    files.push(DataFile {
                        report_type,
                        daily,
                        location: meta.location,
                        size: meta.size,
                    });
                }
            }
        }
        files.sort_by(|a, b| a.location.as_ref().cmp(b.location.as_ref()));
        Ok(ScanPlan { files })
    }

    /// Opens one file and streams its rows as canonical record batches (see [`Projection`]),
    /// keeping only line items whose `interval_start` falls in `range`.
    pub fn read(
        &self,
        file: &DataFile,
        projection: &Projection,
        range: Option<DateRange>,
        batch_size: usize,
    ) -> Result<FileBatches> {
        let described = self.describe(&file.location);
        match &self.local_root {
            Some(root) => {
                let path: PathBuf = root.join(file.location.as_ref());
                FileBatches::open_local(&path, described, projection, range, batch_size)
            }
            None => FileBatches::open_remote(
                Arc::clone(&self.store),
                Arc::clone(&self.runtime),
                file.location.clone(),
                file.size,
                described,
                projection,
                range,
                batch_size,
            ),
        }
    }

    /// A file's footer: schema as written, row count, null counts. No data pages are read.
    pub fn footer(&self, file: &DataFile) -> Result<crate::scan::FileFooter> {
        let described = self.describe(&file.location);
        match &self.local_root {
            Some(root) => crate::scan::footer_local(&root.join(file.location.as_ref()), &described),
            None => crate::scan::footer_remote(
                Arc::clone(&self.store),
                &self.runtime,
                file.location.clone(),
                file.size,
                &described,
            ),
        }
    }

    /// The local root directory, when the warehouse is on local disk.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }
}
