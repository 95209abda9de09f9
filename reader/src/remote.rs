//! Reading from an object store (S3) with few requests, latency hidden and faults survived.
//!
//! - Every operation (a listing with all its pages, a whole-object GET, a ranged GET) goes
//!   through [`Io::retrying`]: the attempt includes reading the body, so a body cut mid-way is
//!   retried like a 503. object_store's own retry is turned off (it covers a request but not
//!   the reading of its body), so every attempt is counted here.
//! - The footer pass fetches the smallest files (up to [`StoreOptions::whole_file_bytes`])
//!   whole, in one GET, and keeps them for their reads, as far as the read-ahead budget goes;
//!   the other files' footers come from a ranged GET of their tail. A read then fetches a
//!   small file whole, a larger one by the column chunks it needs (ranges less than 1 MiB
//!   apart merged).
//! - [`ReadAhead`](crate::warehouse::ReadAhead) fetches the files of a run in read order, many requests in flight, ahead of
//!   the decoders, within a budget in bytes ([`StoreOptions::read_ahead_bytes`]).

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::reader::{ChunkReader, Length};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ReadError, Result};
use crate::warehouse::StoreOptions;

/// Ranges of one file closer than this are fetched by one request (object_store's default).
const COALESCE_BYTES: u64 = 1024 * 1024;
/// The tail fetched for a footer of a large file: most footers fit; a larger one takes one
/// more request.
const FOOTER_HINT_BYTES: usize = 64 * 1024;
/// Budget accounting unit.
const BUDGET_UNIT: u64 = 1024;

/// Requests and bytes of a run, as counted by the reader (every attempt is a request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoStats {
    /// Requests sent (listing pages, GETs, ranged GETs), retries included.
    pub requests: u64,
    /// Of which retries after a failure.
    pub retries: u64,
    /// Body bytes received by successful attempts.
    pub bytes: u64,
    /// Files opened for reading (their footer or data), and their total size.
    pub files: u64,
    /// Total size of those files, as listed.
    pub file_bytes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    bytes: AtomicU64,
    files: AtomicU64,
    file_bytes: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> IoStats {
        IoStats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            files: self.files.load(Ordering::Relaxed),
            file_bytes: self.file_bytes.load(Ordering::Relaxed),
        }
    }
}

/// The bytes of a remote file held in memory: the whole object, or the column chunks a read
/// needs. The sync Parquet reader decodes from it as from a file.
#[derive(Clone)]
pub(crate) enum FileData {
    Whole(Bytes),
    Sparse {
        /// Size of the object.
        len: u64,
        /// (start offset, bytes), sorted by start.
        chunks: Vec<(u64, Bytes)>,
    },
}

impl FileData {
    fn slice(&self, start: u64, length: Option<usize>) -> parquet::errors::Result<Bytes> {
        let (base, bytes) = match self {
            FileData::Whole(b) => (0, b),
            FileData::Sparse { chunks, .. } => {
                let i = chunks.partition_point(|(s, _)| *s <= start);
                let Some((s, b)) = i.checked_sub(1).map(|i| &chunks[i]) else {
                    return Err(ParquetError::General(format!(
                        "byte {start} was not fetched"
                    )));
                };
                (*s, b)
            }
        };
        let from = (start - base) as usize;
        let to = match length {
            Some(n) => from.checked_add(n),
            None => Some(bytes.len()),
        };
        match to {
            Some(to) if from <= to && to <= bytes.len() => Ok(bytes.slice(from..to)),
            _ => Err(ParquetError::EOF(format!(
                "bytes {start}..+{} were not fetched (file of {} bytes)",
                length.unwrap_or(0),
                self.len()
            ))),
        }
    }
}

impl Length for FileData {
    fn len(&self) -> u64 {
        match self {
            FileData::Whole(b) => b.len() as u64,
            FileData::Sparse { len, .. } => *len,
        }
    }
}

impl ChunkReader for FileData {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        use bytes::Buf;
        Ok(self.slice(start, None)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.slice(start, Some(length))
    }
}

/// A file's bytes with the share of the read-ahead budget they hold (released on drop).
pub(crate) struct Held {
    pub(crate) data: FileData,
    pub(crate) _permit: Option<OwnedSemaphorePermit>,
}

enum Slot {
    /// Being fetched by the read-ahead.
    InFlight,
    Ready(Held),
    Failed(ReadError),
    /// A reader took it (or fetches it itself).
    Taken,
}

/// The object store with our retries, counters and budget.
pub(crate) struct Io {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) options: StoreOptions,
    pub(crate) counters: Arc<Counters>,
    /// Requests in flight.
    permits: Arc<Semaphore>,
    /// Read-ahead bytes, in [`BUDGET_UNIT`]s.
    budget: Arc<Semaphore>,
    budget_units: u32,
    /// Bytes of files fetched (by the footer pass or the read-ahead) and not yet read.
    slots: Mutex<HashMap<ObjectPath, Slot>>,
    arrived: Condvar,
}

/// Whether an error may go away on a retry: server errors, throttling, timeouts, resets and
/// cut bodies do; a missing object, a refused permission or another 4xx do not.
fn transient(e: &object_store::Error) -> bool {
    use object_store::Error as E;
    match e {
        E::NotFound { .. }
        | E::InvalidPath { .. }
        | E::NotSupported { .. }
        | E::AlreadyExists { .. }
        | E::Precondition { .. }
        | E::NotModified { .. }
        | E::NotImplemented { .. }
        | E::PermissionDenied { .. }
        | E::Unauthenticated { .. }
        | E::UnknownConfigurationKey { .. } => false,
        other => {
            // object_store's RetryError is private: its status is in the text.
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                text.push_str(&s.to_string());
                source = s.source();
            }
            match status_in(&text) {
                Some(408 | 429) => true,
                Some(s) => !(400..500).contains(&s),
                None => true,
            }
        }
    }
}

/// The HTTP status in an object_store error text ("... status code: 503 Service ...").
fn status_in(text: &str) -> Option<u16> {
    let at = text.find("status code: ")? + "status code: ".len();
    text.get(at..at + 3)?.parse().ok()
}

/// A small jitter source (no need for a crate): xorshift seeded from the clock.
fn jitter() -> f64 {
    use std::cell::Cell;
    thread_local!(static STATE: Cell<u64> = Cell::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            | 1
    ));
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

impl Io {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, options: StoreOptions) -> Self {
        let units = (options.read_ahead_bytes / BUDGET_UNIT).clamp(1, u64::from(u32::MAX >> 4));
        Self {
            store,
            permits: Arc::new(Semaphore::new(options.concurrency.max(1))),
            budget: Arc::new(Semaphore::new(units as usize)),
            budget_units: units as u32,
            options,
            counters: Arc::default(),
            slots: Mutex::default(),
            arrived: Condvar::new(),
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries or their time run out:
    /// exponential backoff from `initial_backoff`, doubling up to 15 s, with full jitter.
    /// The error names the operation, the object, the attempts and the last error.
    pub(crate) async fn retrying<T, F, Fut>(
        &self,
        operation: &'static str,
        described: &str,
        mut attempt: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, object_store::Error>>,
    {
        let opts = &self.options;
        let started = Instant::now();
        let mut backoff = opts.initial_backoff;
        let mut tries = 0usize;
        loop {
            tries += 1;
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let outcome = {
                // `None` only if the semaphore were closed, which it never is.
                let _slot = self.permits.acquire().await.ok();
                attempt().await
            };
            let error = match outcome {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let elapsed = started.elapsed();
            let sleep = backoff.mul_f64(0.5 + 0.5 * jitter());
            if !transient(&error)
                || tries > opts.max_retries
                || elapsed + sleep > opts.retry_timeout
            {
                let reason = if transient(&error) {
                    format!(
                        "gave up after {tries} attempts in {:.1} s; last error: ",
                        elapsed.as_secs_f64()
                    )
                } else {
                    String::new()
                };
                return Err(ReadError::Store {
                    operation,
                    location: described.to_string(),
                    reason,
                    error: Box::new(error),
                });
            }
            tracing::debug!(operation, object = described, attempt = tries, error = %error, "Retrying a failed request.");
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(sleep).await;
            backoff = (backoff * 2).min(Duration::from_secs(15));
        }
    }

    /// Lists a prefix (all pages; a failure mid-way lists again from the start).
    pub(crate) async fn list(
        &self,
        prefix: &ObjectPath,
        described: &str,
    ) -> Result<Vec<ObjectMeta>> {
        let listed: Vec<ObjectMeta> = self
            .retrying("list", described, || {
                self.store.list(Some(prefix)).try_collect()
            })
            .await?;
        // A page holds up to 1,000 keys: the pages after the first are requests too.
        let extra = listed.len().saturating_sub(1) / 1000;
        self.counters
            .requests
            .fetch_add(extra as u64, Ordering::Relaxed);
        Ok(listed)
    }

    pub(crate) async fn get_whole(&self, location: &ObjectPath, described: &str) -> Result<Bytes> {
        let bytes = self
            .retrying("read", described, || async {
                self.store.get(location).await?.bytes().await
            })
            .await?;
        self.counters
            .bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }

    pub(crate) async fn get_range(
        &self,
        location: &ObjectPath,
        range: Range<u64>,
        described: &str,
    ) -> Result<Bytes> {
        let want = range.end - range.start;
        let bytes = self
            .retrying("read", described, || async {
                let b = self.store.get_range(location, range.clone()).await?;
                if b.len() as u64 != want {
                    // A short body the client did not notice (a server that lies about it).
                    return Err(object_store::Error::Generic {
                        store: "S3",
                        source: format!("expected {want} bytes, received {}", b.len()).into(),
                    });
                }
                Ok(b)
            })
            .await?;
        self.counters
            .bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }

    /// Which files of a footer pass to fetch whole and keep for their reads: the smallest
    /// first (the most files read with one request each), up to the free read-ahead budget.
    /// Each gets its share of the budget now, so the pass holds no more than the budget;
    /// the others' footers come from a ranged GET of their tail.
    pub(crate) fn plan_footers(&self, sizes: &[u64]) -> Vec<Option<OwnedSemaphorePermit>> {
        let mut order: Vec<usize> = (0..sizes.len()).collect();
        order.sort_by_key(|&i| sizes[i]);
        let mut permits: Vec<Option<OwnedSemaphorePermit>> = sizes.iter().map(|_| None).collect();
        for i in order {
            if sizes[i] > self.options.whole_file_bytes {
                break;
            }
            match Arc::clone(&self.budget).try_acquire_many_owned(self.units(sizes[i])) {
                Ok(p) => permits[i] = Some(p),
                Err(_) => break,
            }
        }
        permits
    }

    /// The footer of one file. With a share of the budget (see [`Io::plan_footers`]) the
    /// file is fetched whole and kept for its read; without, its tail is fetched.
    pub(crate) async fn footer(
        &self,
        location: &ObjectPath,
        size: u64,
        described: &str,
        keep: Option<OwnedSemaphorePermit>,
    ) -> Result<ArrowReaderMetadata> {
        self.counters.files.fetch_add(1, Ordering::Relaxed);
        self.counters.file_bytes.fetch_add(size, Ordering::Relaxed);
        if let Some(permit) = keep {
            let bytes = self.get_whole(location, described).await?;
            let meta =
                ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::new()).map_err(|source| {
                    ReadError::NotParquet {
                        path: described.to_string(),
                        source,
                    }
                })?;
            let held = Held {
                data: FileData::Whole(bytes),
                _permit: Some(permit),
            };
            self.slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(location.clone(), Slot::Ready(held));
            return Ok(meta);
        }
        let mut file = Tail {
            io: self,
            location,
            described,
        };
        let metadata = ParquetMetaDataReader::new()
            .with_prefetch_hint(Some(FOOTER_HINT_BYTES))
            .load_and_finish(&mut file, size)
            .await
            .map_err(|e| tail_error(e, described))?;
        let meta = ArrowReaderMetadata::try_new(Arc::new(metadata), ArrowReaderOptions::new())
            .map_err(|source| ReadError::NotParquet {
                path: described.to_string(),
                source,
            })?;
        Ok(meta)
    }

    fn units(&self, bytes: u64) -> u32 {
        (bytes.div_ceil(BUDGET_UNIT).max(1)).min(u64::from(self.budget_units)) as u32
    }

    /// Fetches what a read of a file needs: the whole object if small, else the given byte
    /// ranges (column chunks), merged where close.
    pub(crate) async fn fetch(
        &self,
        location: &ObjectPath,
        size: u64,
        ranges: &[Range<u64>],
        described: &str,
    ) -> Result<FileData> {
        if size <= self.options.whole_file_bytes {
            return Ok(FileData::Whole(self.get_whole(location, described).await?));
        }
        let mut sorted: Vec<Range<u64>> =
            ranges.iter().filter(|r| r.end > r.start).cloned().collect();
        sorted.sort_by_key(|r| r.start);
        let merged = merge_ranges(&sorted, COALESCE_BYTES);
        let chunks: Vec<Bytes> = futures::stream::iter(merged.iter().cloned())
            .map(|r| self.get_range(location, r, described))
            .buffered(self.options.concurrency.max(1))
            .try_collect()
            .await?;
        Ok(FileData::Sparse {
            len: size,
            chunks: merged.iter().map(|r| r.start).zip(chunks).collect(),
        })
    }

    /// The bytes of a file for a read: from the footer pass or the read-ahead, waiting for a
    /// fetch in flight; `None` when nobody fetched it (the caller fetches it itself).
    pub(crate) fn take(&self, location: &ObjectPath) -> Option<Result<Held>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match slots.get(location) {
                Some(Slot::InFlight) => {
                    slots = self
                        .arrived
                        .wait(slots)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                None => {
                    slots.insert(location.clone(), Slot::Taken);
                    return None;
                }
                Some(Slot::Taken) => return None,
                Some(Slot::Ready(_) | Slot::Failed(_)) => {
                    return match slots.insert(location.clone(), Slot::Taken) {
                        Some(Slot::Ready(held)) => Some(Ok(held)),
                        Some(Slot::Failed(e)) => Some(Err(e)),
                        _ => unreachable!("matched above"),
                    };
                }
            }
        }
    }

    /// Keeps the slots of the locations `keep` accepts.
    pub(crate) fn retain(&self, keep: impl Fn(&ObjectPath) -> bool) {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|location, _| keep(location));
    }

    /// Forgets every slot (kept bytes included).
    pub(crate) fn clear(&self) {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.arrived.notify_all();
    }
}

/// One file the read-ahead fetches.
pub(crate) struct Planned {
    pub(crate) location: ObjectPath,
    pub(crate) size: u64,
    pub(crate) ranges: Vec<Range<u64>>,
    pub(crate) described: String,
}

/// Fetches the planned files in order within the byte budget, putting them in the slots.
/// A file a reader reached first is left to that reader (so the reader never waits on the
/// budget: a file larger than what is free is still read).
pub(crate) async fn read_ahead(io: Arc<Io>, files: Vec<Planned>) {
    let mut in_flight = futures::stream::FuturesUnordered::new();
    for file in files {
        let present = |io: &Io| {
            io.slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains_key(&file.location)
        };
        if present(&io) {
            continue; // kept by the footer pass (holding its budget already), or taken
        }
        let estimate = if file.size <= io.options.whole_file_bytes {
            file.size
        } else {
            file.ranges.iter().map(|r| r.end - r.start).sum()
        };
        // Wait for budget while finishing fetches (they must be polled to complete).
        let acquire = Arc::clone(&io.budget).acquire_many_owned(io.units(estimate));
        futures::pin_mut!(acquire);
        let permit = loop {
            tokio::select! {
                // `None` only if the budget were closed, which it never is.
                p = &mut acquire => break p.ok(),
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            }
        };
        {
            let mut slots = io.slots.lock().unwrap_or_else(PoisonError::into_inner);
            if slots.contains_key(&file.location) {
                continue; // kept by the footer pass, or taken by a reader
            }
            slots.insert(file.location.clone(), Slot::InFlight);
        }
        // Do not run far ahead of the request slots either.
        while in_flight.len() >= io.options.concurrency.max(1) {
            in_flight.next().await;
        }
        let io = Arc::clone(&io);
        in_flight.push(async move {
            let fetched = io
                .fetch(&file.location, file.size, &file.ranges, &file.described)
                .await;
            let slot = match fetched {
                Ok(data) => Slot::Ready(Held {
                    data,
                    _permit: permit,
                }),
                Err(e) => Slot::Failed(e),
            };
            let mut slots = io.slots.lock().unwrap_or_else(PoisonError::into_inner);
            // A slot cleared meanwhile (the run stopped) stays cleared.
            if let Some(s @ Slot::InFlight) = slots.get_mut(&file.location) {
                *s = slot;
            }
            drop(slots);
            io.arrived.notify_all();
        });
    }
    while in_flight.next().await.is_some() {}
}

/// Sorted ranges merged when less than `gap` apart.
fn merge_ranges(sorted: &[Range<u64>], gap: u64) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::new();
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(gap) => {
                last.end = last.end.max(r.end);
            }
            _ => out.push(r.clone()),
        }
    }
    out
}

/// The tail reads of a large file's footer, through our retries.
struct Tail<'a> {
    io: &'a Io,
    location: &'a ObjectPath,
    described: &'a str,
}

impl AsyncFileReader for Tail<'_> {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.io
                .get_range(self.location, range, self.described)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_metadata<'b>(
        &'b mut self,
        _options: Option<&'b ArrowReaderOptions>,
    ) -> BoxFuture<'b, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async { Err(ParquetError::General("not used".into())) }.boxed()
    }
}

/// A fetch error comes back through the Parquet footer reader: unwrap it.
fn tail_error(e: ParquetError, described: &str) -> ReadError {
    match e {
        ParquetError::External(inner) => match inner.downcast::<ReadError>() {
            Ok(read) => *read,
            Err(other) => ReadError::Decode {
                path: described.to_string(),
                source: other,
            },
        },
        other => ReadError::NotParquet {
            path: described.to_string(),
            source: other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_closer_than_the_gap_merge() {
        let merged = merge_ranges(&[0..10, 15..20, 100..110, 105..120, 300..301], 10);
        assert_eq!(merged, vec![0..20, 100..120, 300..301]);
    }

    #[test]
    fn status_is_found_in_error_text() {
        assert_eq!(
            status_in("Server returned non-2xx status code: 503 Service Unavailable: "),
            Some(503)
        );
        assert_eq!(status_in("connection reset by peer"), None);
    }

    #[test]
    fn sparse_data_serves_only_what_was_fetched() {
        let data = FileData::Sparse {
            len: 100,
            chunks: vec![
                (10, Bytes::from_static(b"abcde")),
                (50, Bytes::from_static(b"xyz")),
            ],
        };
        assert_eq!(data.get_bytes(11, 3).unwrap(), Bytes::from_static(b"bcd"));
        assert_eq!(data.get_bytes(50, 3).unwrap(), Bytes::from_static(b"xyz"));
        assert!(data.get_bytes(13, 5).is_err(), "runs past a fetched chunk");
        assert!(data.get_bytes(2, 1).is_err(), "before any chunk");
        assert_eq!(data.len(), 100);
    }

    fn io(max_retries: usize) -> Io {
        Io::new(
            Arc::new(object_store::memory::InMemory::new()),
            StoreOptions {
                max_retries,
                initial_backoff: Duration::from_millis(1),
                ..StoreOptions::default()
            },
        )
    }

    fn generic(text: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: text.to_string().into(),
        }
    }

    /// Runs `retrying` with attempts answering `outcomes` in turn (the last one repeating);
    /// returns the result and the number of attempts.
    fn attempts(
        io: &Io,
        outcomes: Vec<fn() -> std::result::Result<u8, object_store::Error>>,
    ) -> (Result<u8>, usize) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let result = rt.block_on(io.retrying("read", "s3://b/x.parquet", || {
            let i = calls.fetch_add(1, Ordering::Relaxed);
            let outcome = outcomes[i.min(outcomes.len() - 1)]();
            async move { outcome }
        }));
        (result, calls.load(Ordering::Relaxed))
    }

    #[test]
    fn transient_errors_are_retried_until_success() {
        let io = io(10);
        let (result, calls) = attempts(
            &io,
            vec![
                || {
                    Err(generic(
                        "Server returned non-2xx status code: 503 Service Unavailable",
                    ))
                },
                || {
                    Err(generic(
                        "Server returned non-2xx status code: 429 Too Many Requests",
                    ))
                },
                || {
                    Err(generic(
                        "error decoding response body: end of file before message length reached",
                    ))
                },
                || Ok(7),
            ],
        );
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls, 4);
        let stats = io.counters.snapshot();
        assert_eq!((stats.requests, stats.retries), (4, 3));
    }

    #[test]
    fn retries_stop_at_the_limit_naming_the_object_and_the_last_error() {
        let io = io(3);
        let (result, calls) = attempts(
            &io,
            vec![|| {
                Err(generic(
                    "Server returned non-2xx status code: 503 Service Unavailable",
                ))
            }],
        );
        assert_eq!(calls, 4, "one try and three retries");
        let text = result.unwrap_err().to_string();
        assert!(
            text.starts_with("cannot read s3://b/x.parquet: gave up after 4 attempts in "),
            "{text}"
        );
        assert!(text.ends_with("503 Service Unavailable"), "{text}");
    }

    #[test]
    fn retries_stop_when_their_time_is_up() {
        let io = Io::new(
            Arc::new(object_store::memory::InMemory::new()),
            StoreOptions {
                max_retries: 1_000,
                initial_backoff: Duration::from_millis(10),
                retry_timeout: Duration::from_millis(200),
                ..StoreOptions::default()
            },
        );
        let (result, calls) = attempts(&io, vec![|| Err(generic("connection reset by peer"))]);
        // Waits of 5-10, 10-20, 20-40, 40-80, 80-160 ms: at most 6 attempts fit in 200 ms.
        assert!((2..=7).contains(&calls), "{calls} attempts");
        assert!(result.unwrap_err().to_string().contains("gave up after"));
    }

    #[test]
    fn permanent_errors_are_not_retried() {
        let io = io(10);
        let (result, calls) = attempts(
            &io,
            vec![|| {
                Err(object_store::Error::NotFound {
                    path: "x.parquet".into(),
                    source: "gone".into(),
                })
            }],
        );
        assert_eq!(calls, 1);
        assert!(!result.unwrap_err().to_string().contains("gave up"));
        let (_, calls) = attempts(
            &io,
            vec![|| {
                Err(generic(
                    "Server returned non-2xx status code: 400 Bad Request",
                ))
            }],
        );
        assert_eq!(calls, 1);
    }

    #[test]
    fn jitter_stays_in_unit_interval() {
        for _ in 0..1000 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
