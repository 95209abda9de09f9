//! Opening a warehouse (local directory or S3 bucket) and planning a scan: which files of
//! koku's layout hold a given org, source and month.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, Certificate, ClientOptions, ObjectStore, RetryConfig};
use tokio::runtime::Runtime;

use crate::error::{ReadError, Result};
use crate::remote::{Io, IoStats, Planned};
use crate::scan::{DateRange, FileBatches, FileFooter, Projection, Setup};
use crate::schema::ReportType;

/// Network settings for S3-compatible warehouses. Credentials, region, endpoint and
/// addressing come from the standard `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
/// `AWS_ALLOW_HTTP`, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`, `AWS_WEB_IDENTITY_TOKEN_FILE` with
/// `AWS_ROLE_ARN`, ...), so MinIO works unchanged; `AWS_CA_BUNDLE` names a PEM file of extra
/// trusted certificate authorities (a private CA in front of MinIO or ODF).
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Retries of a failed operation (server errors, 429/SlowDown, timeouts, connection resets,
    /// bodies cut mid-way; never a 403 or 404). Default 10.
    pub max_retries: usize,
    /// Give up retrying an operation after this long. Default 3 minutes.
    pub retry_timeout: Duration,
    /// First backoff between retries, doubled each time up to 15 s, with jitter. Default
    /// 100 ms.
    pub initial_backoff: Duration,
    /// Timeout of one request, its body included. Default 30 s.
    pub request_timeout: Duration,
    /// Timeout to establish a connection. Default 5 s.
    pub connect_timeout: Duration,
    /// Requests in flight at most. Default 32.
    pub concurrency: usize,
    /// Bytes fetched ahead of the decoders at most (one file larger than this is still
    /// read). Default 16 MiB.
    pub read_ahead_bytes: u64,
    /// A file up to this size is fetched whole, in one GET; a larger one by ranges of the
    /// column chunks a run needs. Default 8 MiB.
    pub whole_file_bytes: u64,
    /// Endpoint, region and credentials to use where the `AWS_*` environment sets none.
    pub defaults: S3Defaults,
}

/// S3 settings that the `AWS_*` environment overrides, one by one (koku's Clowder
/// configuration supplies them). Its `Debug` never shows the keys.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Defaults {
    /// Endpoint URL (`AWS_ENDPOINT_URL`), e.g. `https://minio:9000`.
    pub endpoint: Option<String>,
    /// Region (`AWS_REGION`, `AWS_DEFAULT_REGION`).
    pub region: Option<String>,
    /// Access key id (`AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Secret access key (`AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
    /// Plain HTTP allowed (`AWS_ALLOW_HTTP`): an `http://` endpoint needs it.
    pub allow_http: Option<bool>,
}

impl std::fmt::Debug for S3Defaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("S3Defaults")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &hidden(&self.access_key_id))
            .field("secret_access_key", &hidden(&self.secret_access_key))
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

impl S3Defaults {
    /// Applies the defaults whose environment variables are unset to `builder`.
    fn apply(&self, mut builder: AmazonS3Builder) -> AmazonS3Builder {
        let unset = |names: &[&str]| {
            names
                .iter()
                .all(|n| std::env::var_os(n).is_none_or(|v| v.is_empty()))
        };
        if let Some(v) = self
            .endpoint
            .as_ref()
            .filter(|_| unset(&["AWS_ENDPOINT_URL", "AWS_ENDPOINT"]))
        {
            builder = builder.with_endpoint(v);
        }
        if let Some(v) = self
            .region
            .as_ref()
            .filter(|_| unset(&["AWS_REGION", "AWS_DEFAULT_REGION"]))
        {
            builder = builder.with_region(v);
        }
        if let Some(v) = self
            .access_key_id
            .as_ref()
            .filter(|_| unset(&["AWS_ACCESS_KEY_ID"]))
        {
            builder = builder.with_access_key_id(v);
        }
        if let Some(v) = self
            .secret_access_key
            .as_ref()
            .filter(|_| unset(&["AWS_SECRET_ACCESS_KEY"]))
        {
            builder = builder.with_secret_access_key(v);
        }
        builder
    }

    /// Whether plain HTTP is allowed by the defaults (and `AWS_ALLOW_HTTP` is unset).
    fn allow_http(&self) -> bool {
        self.allow_http == Some(true)
            && std::env::var_os("AWS_ALLOW_HTTP").is_none_or(|v| v.is_empty())
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            initial_backoff: Duration::from_millis(100),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            concurrency: 32,
            read_ahead_bytes: 16 << 20,
            whole_file_bytes: 8 << 20,
            defaults: S3Defaults::default(),
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

/// One Parquet file found by [`Warehouse::list`].
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
    /// The year of the month directory the file was listed in (`year=YYYY`).
    pub year: i32,
    /// The month of that directory (`month=MM`, 1..=12): every line item of the file must
    /// fall in it.
    pub month: u32,
    /// The store's ETag, when it gives one (S3 does; the local store derives one from the
    /// inode, size and modification time). With `size` and `last_modified`, what tells an
    /// incremental run that a file was replaced, from the listing alone.
    pub e_tag: Option<String>,
    /// Last modification, as the listing gives it (milliseconds since the epoch, UTC).
    pub last_modified_ms: i64,
}

impl DataFile {
    /// The file's month as epoch seconds `[first instant, first instant of the next month)`,
    /// `None` for a month that does not exist (a plan only lists real months).
    pub fn month_seconds(&self) -> Option<Range<i64>> {
        let first = chrono::NaiveDate::from_ymd_opt(self.year, self.month, 1)?;
        let next = first.checked_add_months(chrono::Months::new(1))?;
        let at = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
        Some(at(first)?..at(next)?)
    }
}

/// The files of one month ([`Warehouse::list`]), sorted by location so runs are repeatable.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Every file found, hourly and daily, all report types.
    pub files: Vec<DataFile>,
}

impl Listing {
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
/// small private tokio runtime owned by the warehouse, into memory, and decoded on the
/// caller's thread, so CPU work never stalls the connections.
pub struct Warehouse {
    display: String,
    io: Arc<Io>,
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

/// The object_store client settings the `AWS_*` environment gives (as
/// `AmazonS3Builder::from_env` reads them), plus `AWS_CA_BUNDLE` and our timeouts.
fn client_options(options: &StoreOptions) -> std::result::Result<ClientOptions, String> {
    let mut client = ClientOptions::new();
    for (key, value) in std::env::vars() {
        if !key.starts_with("AWS_") {
            continue;
        }
        if let Ok(AmazonS3ConfigKey::Client(k)) = key.to_ascii_lowercase().parse() {
            client = client.with_config(k, value);
        }
    }
    if let Some(bundle) = std::env::var_os("AWS_CA_BUNDLE").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(bundle);
        let pem =
            std::fs::read(&path).map_err(|e| format!("AWS_CA_BUNDLE {}: {e}", path.display()))?;
        let certs = Certificate::from_pem_bundle(&pem).map_err(|e| {
            format!(
                "AWS_CA_BUNDLE {}: not a PEM certificate bundle: {e}",
                path.display()
            )
        })?;
        if certs.is_empty() {
            return Err(format!(
                "AWS_CA_BUNDLE {}: holds no PEM certificate",
                path.display()
            ));
        }
        for cert in certs {
            client = client.with_root_certificate(cert);
        }
    }
    if options.defaults.allow_http() {
        client = client.with_allow_http(true);
    }
    Ok(client
        .with_timeout(options.request_timeout)
        .with_connect_timeout(options.connect_timeout))
}

/// An object store to write to (koku's Hive table location, issue #17): the same URLs,
/// `AWS_*` settings, `AWS_CA_BUNDLE` and timeouts as a warehouse, but with object_store's own
/// retries on (every write request is whole and can be resent): `max_retries` retries,
/// backoff from `initial_backoff` doubling up to 15 s, within `retry_timeout`.
#[derive(Debug, Clone)]
pub struct WritableStore {
    /// The store, rooted at the URL's prefix or directory.
    pub store: Arc<dyn ObjectStore>,
    /// The location for messages: `s3://bucket/prefix` or the absolute directory.
    pub display: String,
    /// Whether the store is S3 (not local disk).
    pub remote: bool,
}

/// Where a warehouse or Hive URL points: an S3 bucket and prefix, or a local directory.
enum Location {
    S3 { bucket: String, prefix: String },
    Local(PathBuf),
}

impl Location {
    /// Parses a path, `file://` URL or `s3://bucket[/prefix]` (`s3a://` too).
    fn parse(url: &str) -> std::result::Result<Self, String> {
        if let Some(rest) = url
            .strip_prefix("s3://")
            .or_else(|| url.strip_prefix("s3a://"))
        {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err("the URL names no bucket".into());
            }
            let (bucket, prefix) = (bucket.to_string(), prefix.trim_matches('/').to_string());
            return Ok(Location::S3 { bucket, prefix });
        }
        match url.strip_prefix("file://") {
            Some(p) => Ok(Location::Local(PathBuf::from(p))),
            None if url.contains("://") => {
                Err("unsupported scheme; use a local path, file:// or s3://".into())
            }
            None => Ok(Location::Local(PathBuf::from(url))),
        }
    }
}

/// An S3 store of `bucket` under `prefix`, with the `AWS_*` settings, `options`' defaults
/// and timeouts, and `retry`; and its display URL.
fn s3_store(
    bucket: &str,
    prefix: &str,
    options: &StoreOptions,
    retry: RetryConfig,
) -> std::result::Result<(Arc<dyn ObjectStore>, String), String> {
    let store = options
        .defaults
        .apply(AmazonS3Builder::from_env())
        .with_bucket_name(bucket)
        .with_retry(retry)
        .with_client_options(client_options(options)?)
        .build()
        .map_err(|e| e.to_string())?;
    let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
        Arc::new(store)
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
    };
    let display = format!("s3://{bucket}/{prefix}")
        .trim_end_matches('/')
        .to_string();
    Ok((store, display))
}

/// Opens `url` (a path, `file://` URL or `s3://bucket[/prefix]`) for writing. A local
/// directory is created if missing; local writes are synced (file and directory) before they
/// count as done, and a directory left empty by a delete is removed.
pub fn open_writable_store(url: &str, options: &StoreOptions) -> Result<WritableStore> {
    let invalid = |reason: String| ReadError::InvalidWarehouse {
        url: url.to_string(),
        reason,
    };
    let path = match Location::parse(url).map_err(invalid)? {
        Location::S3 { bucket, prefix } => {
            let retry = RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: options.initial_backoff,
                    max_backoff: Duration::from_secs(15),
                    base: 2.0,
                },
                max_retries: options.max_retries,
                retry_timeout: options.retry_timeout,
            };
            let (store, display) = s3_store(&bucket, &prefix, options, retry).map_err(invalid)?;
            return Ok(WritableStore {
                store,
                display,
                remote: true,
            });
        }
        Location::Local(path) => path,
    };
    std::fs::create_dir_all(&path).map_err(|e| invalid(format!("cannot create directory: {e}")))?;
    let root = path
        .canonicalize()
        .map_err(|e| invalid(format!("cannot open directory: {e}")))?;
    let store = LocalFileSystem::new_with_prefix(&root)
        .map_err(|e| invalid(e.to_string()))?
        .with_automatic_cleanup(true)
        .with_fsync(true);
    Ok(WritableStore {
        store: Arc::new(store),
        display: root.display().to_string(),
        remote: false,
    })
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
        let path = match Location::parse(url).map_err(invalid)? {
            Location::S3 { bucket, prefix } => {
                // Our own retries cover every attempt, body included (see `remote`):
                // object_store's would retry a request without its body, and hide attempts
                // from the counters.
                let retry = RetryConfig {
                    backoff: BackoffConfig::default(),
                    max_retries: 0,
                    retry_timeout: options.retry_timeout,
                };
                let (store, display) =
                    s3_store(&bucket, &prefix, options, retry).map_err(invalid)?;
                return Ok(Self {
                    display,
                    io: Arc::new(Io::new(store, options.clone())),
                    local_root: None,
                    runtime: Arc::new(runtime),
                });
            }
            Location::Local(path) => path,
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
            io: Arc::new(Io::new(Arc::new(store), options.clone())),
            local_root: Some(root),
            runtime: Arc::new(runtime),
        })
    }

    /// The warehouse URL, for messages.
    pub fn url(&self) -> &str {
        &self.display
    }

    /// Whether the warehouse is an object store (S3), not local disk.
    pub fn is_remote(&self) -> bool {
        self.local_root.is_none()
    }

    /// Requests and bytes so far (meaningful for S3; a local warehouse counts its listings).
    pub fn io_stats(&self) -> IoStats {
        self.io.counters.snapshot()
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
    /// Only the month's directories are listed, all at once: the partition layout prunes the
    /// rest.
    pub fn list(&self, request: &ScanRequest) -> Result<Listing> {
        let tables: Vec<(ReportType, bool, ObjectPath)> = ReportType::ALL
            .into_iter()
            .flat_map(|t| [false, true].map(|d| (t, d, Self::table_prefix(request, t, d))))
            .collect();
        let io = &self.io;
        let listings =
            self.runtime
                .block_on(futures::future::join_all(tables.iter().map(
                    |(_, _, prefix)| async move { io.list(prefix, &self.describe(prefix)).await },
                )));
        let mut files = Vec::new();
        for ((report_type, daily, _), listed) in tables.into_iter().zip(listings) {
            for meta in listed? {
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
                    year: request.year,
                    month: request.month,
                    e_tag: meta.e_tag,
                    last_modified_ms: meta.last_modified.timestamp_millis(),
                });
            }
        }
        files.sort_by(|a, b| a.location.as_ref().cmp(b.location.as_ref()));
        Ok(Listing { files })
    }

    /// The footers of many files, in their order: schema as written, row count, null counts.
    /// From S3 they are fetched concurrently; the smallest files are fetched whole and kept
    /// for their reads as far as the free read-ahead budget goes, the others' footers come
    /// from a ranged GET of their tail.
    pub fn footers(&self, files: &[DataFile]) -> Vec<Result<FileFooter>> {
        let Some(root) = &self.local_root else {
            let io = &self.io;
            let sizes: Vec<u64> = files.iter().map(|f| f.size).collect();
            let keep = io.plan_footers(&sizes);
            let footed = self.runtime.block_on(
                futures::stream::iter(files.iter().zip(keep))
                    .map(|(file, keep)| async move {
                        let described = self.describe(&file.location);
                        io.footer(&file.location, file.size, &described, keep).await
                    })
                    .buffered(self.io.options.concurrency.max(1))
                    .collect::<Vec<_>>(),
            );
            return footed
                .into_iter()
                .map(|meta| Ok(FileFooter::new(&meta?)))
                .collect();
        };
        // Local footers on a few threads: opening and parsing 200 footers one by one shows
        // in a 0.4 s run.
        const THREADS: usize = 8;
        let next = AtomicUsize::new(0);
        let slots: Vec<Mutex<Option<Result<FileFooter>>>> =
            files.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..THREADS.min(files.len()) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    let footer = crate::scan::footer_local(
                        &root.join(file.location.as_ref()),
                        &self.describe(&file.location),
                    );
                    *slots[i].lock().unwrap_or_else(PoisonError::into_inner) = Some(footer);
                });
            }
        });
        slots
            .into_iter()
            .zip(files)
            .map(|(slot, file)| {
                // Every slot was filled: the threads take indices until none is left.
                slot.into_inner()
                    .unwrap_or_else(PoisonError::into_inner)
                    .unwrap_or_else(|| Err(self.unread(file)))
            })
            .collect()
    }

    /// A file's footer: schema as written, row count, null counts. No data pages are read
    /// (from S3, a small file may be fetched whole and kept for its read).
    pub fn footer(&self, file: &DataFile) -> Result<FileFooter> {
        self.footers(std::slice::from_ref(file))
            .pop()
            .unwrap_or_else(|| Err(self.unread(file)))
    }

    /// Refuses two files of the same table, granularity and month with the same bytes: the
    /// same upload stored under two names would count every line item twice. Candidates are
    /// files of equal size and equal footers (row groups, column chunks and statistics); only
    /// those are compared byte for byte, so the usual month reads no data here.
    pub fn check_duplicates(&self, files: &[(&DataFile, &FileFooter)]) -> Result<()> {
        for (i, (a, fa)) in files.iter().enumerate() {
            for (b, fb) in &files[i + 1..] {
                let candidate = a.report_type == b.report_type
                    && a.daily == b.daily
                    && a.size == b.size
                    && fa.rows == fb.rows
                    && fa.meta.metadata().row_groups() == fb.meta.metadata().row_groups();
                if candidate && self.same_bytes(a, b)? {
                    return Err(ReadError::Duplicate {
                        path: self.describe(&a.location),
                        other: self.describe(&b.location),
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether two files of equal size hold the same bytes, compared block by block (64 KiB
    /// locally, 8 MiB ranges from S3), so memory stays small whatever their size.
    fn same_bytes(&self, a: &DataFile, b: &DataFile) -> Result<bool> {
        let Some(root) = &self.local_root else {
            const BLOCK: u64 = 8 << 20;
            let io = &self.io;
            let (da, db) = (self.describe(&a.location), self.describe(&b.location));
            let mut start = 0;
            while start < a.size {
                let range = start..a.size.min(start + BLOCK);
                let (ba, bb) = self.runtime.block_on(futures::future::join(
                    io.get_range(&a.location, range.clone(), &da),
                    io.get_range(&b.location, range.clone(), &db),
                ));
                if ba? != bb? {
                    return Ok(false);
                }
                start = range.end;
            }
            return Ok(true);
        };
        use std::io::Read;
        let open = |f: &DataFile| {
            std::fs::File::open(root.join(f.location.as_ref())).map_err(|source| ReadError::Io {
                path: self.describe(&f.location),
                source,
            })
        };
        let (mut fa, mut fb) = (open(a)?, open(b)?);
        let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
        loop {
            let read = |f: &mut std::fs::File, buf: &mut [u8], file: &DataFile| {
                let mut n = 0;
                while n < buf.len() {
                    match f.read(&mut buf[n..]) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(source) => {
                            return Err(ReadError::Io {
                                path: self.describe(&file.location),
                                source,
                            })
                        }
                    }
                }
                Ok(n)
            };
            let (na, nb) = (read(&mut fa, &mut ba, a)?, read(&mut fb, &mut bb, b)?);
            if na != nb || ba[..na] != bb[..nb] {
                return Ok(false);
            }
            if na == 0 {
                return Ok(true);
            }
        }
    }

    /// The error for a footer that was not read (never expected: each file gets one).
    fn unread(&self, file: &DataFile) -> ReadError {
        ReadError::Io {
            path: self.describe(&file.location),
            source: std::io::Error::other("internal error: the footer was not read"),
        }
    }

    /// Starts fetching, in this order, what the reads of these files will need, ahead of
    /// the decoders within the read-ahead budget (S3 only; a local warehouse does nothing).
    /// Fetching stops when the returned guard is dropped.
    pub fn read_ahead(&self, reads: &[ReadSpec<'_>]) -> Result<ReadAhead> {
        if self.local_root.is_some() {
            return Ok(ReadAhead { task: None });
        }
        let mut planned = Vec::with_capacity(reads.len());
        for r in reads {
            let described = self.describe(&r.file.location);
            let setup = Setup::new(
                &r.footer.meta,
                described.clone(),
                r.projection,
                r.range,
                r.file.month_seconds(),
            )?;
            planned.push(Planned {
                location: r.file.location.clone(),
                size: r.file.size,
                ranges: setup.ranges,
                described,
            });
        }
        // Bytes the footer pass kept for files this run does not read go now.
        let wanted: std::collections::HashSet<&ObjectPath> =
            reads.iter().map(|r| &r.file.location).collect();
        self.io.retain(|location| wanted.contains(location));
        let task = self
            .runtime
            .spawn(crate::remote::read_ahead(Arc::clone(&self.io), planned));
        Ok(ReadAhead {
            task: Some((task, Arc::clone(&self.io))),
        })
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
        let footer = self.footer(file)?;
        self.read_with_footer(file, &footer, projection, range, batch_size)
    }

    /// [`Warehouse::read`] of a file of a [`ScanPlan`](crate::ScanPlan), with the footer and
    /// the projection the plan holds for it.
    pub fn read_planned(
        &self,
        planned: &crate::PlannedFile,
        range: Option<DateRange>,
        batch_size: usize,
    ) -> Result<FileBatches> {
        let (file, footer) = (&planned.file, &planned.footer);
        self.read_with_footer(file, footer, &planned.projection, range, batch_size)
    }

    /// [`Warehouse::read`] of a file whose footer is known ([`Warehouse::footers`]): from S3,
    /// the bytes come from the footer pass or the read-ahead when they fetched them, else
    /// they are fetched now.
    pub fn read_with_footer(
        &self,
        file: &DataFile,
        footer: &FileFooter,
        projection: &Projection,
        range: Option<DateRange>,
        batch_size: usize,
    ) -> Result<FileBatches> {
        let described = self.describe(&file.location);
        if let Some(root) = &self.local_root {
            let path: PathBuf = root.join(file.location.as_ref());
            return FileBatches::open_local(
                &path,
                described,
                footer,
                projection,
                range,
                file.month_seconds(),
                batch_size,
            );
        }
        let setup = Setup::new(
            &footer.meta,
            described.clone(),
            projection,
            range,
            file.month_seconds(),
        )?;
        let (data, permit) = match self.io.take(&file.location) {
            Some(held) => {
                let held = held?;
                (held.data, held._permit)
            }
            None => {
                let data = self.runtime.block_on(self.io.fetch(
                    &file.location,
                    file.size,
                    &setup.ranges,
                    &described,
                ))?;
                (data, None)
            }
        };
        FileBatches::open_fetched(data, permit, footer, setup, batch_size)
    }

    /// The local root directory, when the warehouse is on local disk.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }
}

/// One read a run will make, for [`Warehouse::read_ahead`].
#[derive(Debug, Clone, Copy)]
pub struct ReadSpec<'a> {
    /// The file.
    pub file: &'a DataFile,
    /// Its footer.
    pub footer: &'a FileFooter,
    /// The columns the read decodes.
    pub projection: &'a Projection,
    /// The date range the read keeps.
    pub range: Option<DateRange>,
}

/// Fetching ahead of the reads; stops (and frees what was fetched and not read) when dropped.
pub struct ReadAhead {
    task: Option<(tokio::task::JoinHandle<()>, Arc<Io>)>,
}

impl std::fmt::Debug for ReadAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadAhead")
            .field("running", &self.task.is_some())
            .finish()
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        if let Some((task, io)) = self.task.take() {
            task.abort();
            io.clear();
        }
    }
}
