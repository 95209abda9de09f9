//! File selection: which files of a month a run reads, in which pass, with which columns and
//! in which order ([`ScanPlan`]).
//!
//! koku's rule decides between hourly line items and the daily roll-up per table: label
//! tables and storage come from the roll-up whenever it exists; pod sums only when every
//! daily pod file carries effective usage with no nulls ([`daily_pods_complete`]), since that
//! must be summed per hourly line item; node capacity always needs the hourly pod files.
//!
//! The columns each pass needs are the caller's ([`Needs`]): they are what its aggregation
//! consumes, and this crate does not know it.

use std::collections::BTreeMap;

use crate::scan::{DateRange, FileFooter, Projection};
use crate::schema::ReportType;
use crate::warehouse::{DataFile, Listing, ReadSpec, ScanRequest, Warehouse};
use crate::{ReadError, Result};

/// Why a file is read: the pass of the run that consumes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pass {
    /// Node labels (`node_labels`, daily roll-up when there is one).
    NodeLabels,
    /// Namespace labels (`namespace_labels`, daily roll-up when there is one).
    NamespaceLabels,
    /// Storage sums (`storage_usage`, daily roll-up when there is one).
    Storage,
    /// Pod sums only: the daily pod roll-up.
    PodUsage,
    /// Node capacity only: hourly pod files when the sums come from the roll-up.
    PodCapacity,
    /// Pod sums and node capacity: hourly pod files when there is no usable roll-up.
    PodUsageAndCapacity,
}

/// The columns each [`Pass`] reads (names of [`crate::schema`] columns of its table).
///
/// ```
/// use ocpagg_reader::{Needs, Pass};
/// let needs = Needs {
///     node_labels: &["interval_start", "node", "node_labels"],
///     namespace_labels: &["interval_start", "namespace", "namespace_labels"],
///     storage: &["interval_start", "namespace", "persistentvolumeclaim"],
///     pod_usage: &["interval_start", "namespace", "pod_usage_cpu_core_seconds"],
///     pod_capacity: &["interval_start", "node", "node_capacity_cpu_cores"],
/// };
/// assert_eq!(needs.columns(Pass::PodUsageAndCapacity), needs.pod_usage);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Needs<'a> {
    /// [`Pass::NodeLabels`].
    pub node_labels: &'a [&'a str],
    /// [`Pass::NamespaceLabels`].
    pub namespace_labels: &'a [&'a str],
    /// [`Pass::Storage`].
    pub storage: &'a [&'a str],
    /// [`Pass::PodUsage`] and [`Pass::PodUsageAndCapacity`]: must include what capacity
    /// needs, as the hourly files then give both.
    pub pod_usage: &'a [&'a str],
    /// [`Pass::PodCapacity`].
    pub pod_capacity: &'a [&'a str],
}

impl<'a> Needs<'a> {
    /// The needs `columns` gives per pass (e.g. the aggregate's input schema of the pass's
    /// table).
    pub fn from_fn(columns: impl Fn(Pass) -> &'a [&'a str]) -> Self {
        Needs {
            node_labels: columns(Pass::NodeLabels),
            namespace_labels: columns(Pass::NamespaceLabels),
            storage: columns(Pass::Storage),
            pod_usage: columns(Pass::PodUsage),
            pod_capacity: columns(Pass::PodCapacity),
        }
    }

    /// The columns `pass` reads.
    pub fn columns(&self, pass: Pass) -> &[&str] {
        match pass {
            Pass::NodeLabels => self.node_labels,
            Pass::NamespaceLabels => self.namespace_labels,
            Pass::Storage => self.storage,
            Pass::PodUsage | Pass::PodUsageAndCapacity => self.pod_usage,
            Pass::PodCapacity => self.pod_capacity,
        }
    }

    /// The projection of `pass` on `file`'s table.
    ///
    /// # Panics
    /// If a column is not one of the table's (a programming error, see [`Projection::new`]).
    pub fn projection(&self, file: &DataFile, pass: Pass) -> Projection {
        Projection::new(file.report_type, self.columns(pass))
    }
}

/// Whether a daily pod file's footer shows effective usage with no nulls: only then can the
/// roll-up give the pod sums (effective usage is summed per hourly line item).
pub fn daily_pods_complete(footer: &FileFooter) -> bool {
    let complete = |c: &str| footer.null_counts.get(c) == Some(&Some(0));
    complete("pod_effective_usage_cpu_core_seconds")
        && complete("pod_effective_usage_memory_byte_seconds")
}

/// The files a run reads and the granularity of its sums, before any order.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Every file to read with its pass, label tables first, then storage, then pods.
    pub files: Vec<(DataFile, Pass)>,
    /// Pod sums come from koku's daily roll-up.
    pub pods_from_daily: bool,
    /// Storage sums come from koku's daily roll-up.
    pub storage_from_daily: bool,
}

impl Selection {
    /// Applies koku's rule to a month's listing. `daily_complete` tells whether a daily pod
    /// file has complete effective usage ([`daily_pods_complete`] on its footer); it is asked
    /// about daily pod files only, in order, until one answers false. [`ScanPlan::build`]
    /// uses this, and a preflight can too, to check exactly the files a run reads.
    pub fn of<E>(
        listing: &Listing,
        mut daily_complete: impl FnMut(&DataFile) -> std::result::Result<bool, E>,
    ) -> std::result::Result<Self, E> {
        let mut pods_from_daily = listing.has(ReportType::PodUsage, true);
        for file in listing.files(ReportType::PodUsage, true) {
            if !daily_complete(file)? {
                pods_from_daily = false;
                break;
            }
        }
        let mut files = Vec::new();
        for (table, pass) in [
            (ReportType::NodeLabels, Pass::NodeLabels),
            (ReportType::NamespaceLabels, Pass::NamespaceLabels),
        ] {
            let daily = listing.has(table, true);
            files.extend(listing.files(table, daily).map(|f| (f.clone(), pass)));
        }
        // Storage sums and maxima are the same from the daily roll-up, which is smaller.
        let storage_from_daily = listing.has(ReportType::StorageUsage, true);
        files.extend(
            listing
                .files(ReportType::StorageUsage, storage_from_daily)
                .map(|f| (f.clone(), Pass::Storage)),
        );
        let hourly_pass = if pods_from_daily {
            files.extend(
                listing
                    .files(ReportType::PodUsage, true)
                    .map(|f| (f.clone(), Pass::PodUsage)),
            );
            Pass::PodCapacity
        } else {
            Pass::PodUsageAndCapacity
        };
        files.extend(
            listing
                .files(ReportType::PodUsage, false)
                .map(|f| (f.clone(), hourly_pass)),
        );
        Ok(Self {
            files,
            pods_from_daily,
            storage_from_daily,
        })
    }
}

/// One file of a [`ScanPlan`], ready to read.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// The file.
    pub file: DataFile,
    /// The pass that consumes it.
    pub pass: Pass,
    /// The columns to read.
    pub projection: Projection,
    /// Its footer, read once for the selection, the order and the read.
    pub footer: FileFooter,
    /// The first day (days since 1970-01-01) the file may hold, from its footer's
    /// `interval_start` statistics; `i32::MIN` when they do not say.
    pub first_day: i32,
}

impl PlannedFile {
    /// What [`Warehouse::read_ahead`] needs for this file, keeping rows of `range`.
    pub fn read_spec(&self, range: Option<DateRange>) -> ReadSpec<'_> {
        ReadSpec {
            file: &self.file,
            footer: &self.footer,
            projection: &self.projection,
            range,
        }
    }
}

/// The files a run reads, in read order: by the first day each may hold (from its footer),
/// so that days complete one after the other while reading; a file whose footer gives no
/// time range comes first, and label tables stay ahead of the usage of the same day.
///
/// Built with one pass over the footers (concurrent on S3), which also refuses duplicate
/// uploads ([`Warehouse::check_duplicates`]).
#[derive(Debug, Clone)]
pub struct ScanPlan {
    /// The planned files, in read order.
    pub files: Vec<PlannedFile>,
    /// Pod sums come from koku's daily roll-up.
    pub pods_from_daily: bool,
    /// Storage sums come from koku's daily roll-up.
    pub storage_from_daily: bool,
}

impl ScanPlan {
    /// Lists the month of `request`, selects its files by koku's rule, reads every footer
    /// the selection and the order need (once), and orders the files. Fails when the month
    /// has no hourly pod files, when a footer cannot be read, or on duplicate files.
    pub fn build(warehouse: &Warehouse, request: &ScanRequest, needs: &Needs<'_>) -> Result<Self> {
        let listing = warehouse.list(request)?;
        if !listing.has(ReportType::PodUsage, false) {
            return Err(ReadError::NoPodFiles {
                org: request.org.clone(),
                source_uuid: request.source.clone(),
                year: request.year,
                month: request.month,
                location: warehouse.describe(&Warehouse::table_prefix(
                    request,
                    ReportType::PodUsage,
                    false,
                )),
            });
        }
        // Every file the run may read is known from the listing alone: the daily pod files
        // (whose footers decide between the roll-up and the hourly files) and every other
        // file the selection takes either way. Their footers are read in one pass.
        let without_daily_pods = Selection::of(&listing, |_| Ok::<_, ReadError>(false))?;
        let mut wanted: Vec<DataFile> =
            listing.files(ReportType::PodUsage, true).cloned().collect();
        wanted.extend(without_daily_pods.files.iter().map(|(f, _)| f.clone()));
        let mut footers: BTreeMap<String, Result<FileFooter>> = BTreeMap::new();
        for (file, footer) in wanted.iter().zip(warehouse.footers(&wanted)) {
            footers.insert(file.location.to_string(), footer);
        }
        let mut footer = |file: &DataFile| -> Result<FileFooter> {
            match footers.remove(file.location.as_ref()) {
                Some(f) => f,
                None => warehouse.footer(file),
            }
        };
        // Daily pod footers first, as their errors were reported before the others'.
        let mut daily: BTreeMap<String, FileFooter> = BTreeMap::new();
        for file in listing.files(ReportType::PodUsage, true) {
            daily.insert(file.location.to_string(), footer(file)?);
        }
        let selection = Selection::of(&listing, |file| {
            let complete = daily
                .get(file.location.as_ref())
                .is_some_and(daily_pods_complete);
            if !complete {
                tracing::info!(file = %warehouse.describe(&file.location), "Daily pod file lacks complete effective usage; using hourly line items.");
            }
            Ok::<_, ReadError>(complete)
        })?;
        let mut files = Vec::with_capacity(selection.files.len());
        for (file, pass) in selection.files {
            let footer = match daily.remove(file.location.as_ref()) {
                Some(f) => f,
                None => footer(&file)?,
            };
            let first_day = footer.interval_start.map_or(i32::MIN, |(min, _)| {
                i32::try_from(min.div_euclid(86_400)).unwrap_or(i32::MIN)
            });
            files.push(PlannedFile {
                projection: needs.projection(&file, pass),
                file,
                pass,
                footer,
                first_day,
            });
        }
        // Stable: label tables (listed first) stay ahead of the usage of the same day.
        files.sort_by_key(|f| f.first_day);
        let footed: Vec<(&DataFile, &FileFooter)> =
            files.iter().map(|f| (&f.file, &f.footer)).collect();
        warehouse.check_duplicates(&footed)?;
        Ok(Self {
            files,
            pods_from_daily: selection.pods_from_daily,
            storage_from_daily: selection.storage_from_daily,
        })
    }

    /// What [`Warehouse::read_ahead`] needs, in read order, keeping rows of `range`.
    pub fn read_specs(&self, range: Option<DateRange>) -> Vec<ReadSpec<'_>> {
        self.files.iter().map(|f| f.read_spec(range)).collect()
    }
}
