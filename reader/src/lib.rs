//! Finds koku-layout OpenShift usage Parquet on local disk or S3 and streams it as Arrow record
//! batches in one canonical schema, whatever the physical types in the files.
//!
//! # Layout
//!
//! - [`Warehouse`] opens a root URL (a path, `file://` or `s3://bucket/prefix`) and
//!   [`Warehouse::list`]s a month: it lists only the month directories of koku's layout
//!   (`data/parquet[/daily]/{org}/OCP/{table}/source=…/year=…/month=…`), giving a [`Listing`].
//! - [`ScanPlan::build`] decides what a run reads: the files (hourly or koku's daily roll-up,
//!   by koku's rule), the columns of each ([`Needs`], the caller's), and the read order (by
//!   footer statistics), reading every footer once; the caller then reads
//!   [`ScanPlan::files`] in order.
//! - [`Warehouse::read`] opens one [`DataFile`] with a [`Projection`] (the columns needed) and an
//!   optional [`DateRange`], and returns [`FileBatches`], an iterator of canonical batches.
//!   Row groups outside the range are skipped using footer statistics; rows outside it are
//!   filtered out.
//! - [`schema`] lists the tables, their columns, and the canonical types: text as
//!   `Dictionary(Int32, Utf8)`, numbers as `Float64`, `interval_start` as
//!   `Timestamp(Second, "UTC")`. Integers, `float32`, decimals, any timestamp unit or zone,
//!   timestamp strings, `large_utf8` and dictionaries are all accepted.
//! - Every [`ReadError`] names the file and, where relevant, the column.
//!
//! # Example
//!
//! ```no_run
//! use ocpagg_reader::{Needs, ScanPlan, ScanRequest, Warehouse};
//!
//! let warehouse = Warehouse::open("./lake")?;
//! let request = ScanRequest {
//!     org: "org1234567".into(),
//!     source: "6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01".into(),
//!     year: 2025,
//!     month: 10,
//! };
//! let needs = Needs {
//!     node_labels: &["interval_start", "node", "node_labels"],
//!     namespace_labels: &["interval_start", "namespace", "namespace_labels"],
//!     storage: &["interval_start", "namespace", "persistentvolumeclaim"],
//!     pod_usage: &["interval_start", "namespace", "node", "pod_usage_cpu_core_seconds"],
//!     pod_capacity: &["interval_start", "node", "node_capacity_cpu_cores"],
//! };
//! let plan = ScanPlan::build(&warehouse, &request, &needs)?;
//! for planned in &plan.files {
//!     let batches = warehouse.read_with_footer(
//!         &planned.file, &planned.footer, &planned.projection, None, 65_536)?;
//!     for batch in batches {
//!         println!("{:?}: {} rows", planned.pass, batch?.num_rows());
//!     }
//! }
//! # Ok::<(), ocpagg_reader::ReadError>(())
//! ```
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod plan;
mod remote;
mod scan;
pub mod schema;
mod timestamp;
mod warehouse;

pub use error::{ReadError, Result};
pub use plan::{daily_pods_complete, Needs, Pass, PlannedFile, ScanPlan, Selection};
pub use remote::IoStats;
pub use scan::{batch_rows, DateRange, FileBatches, FileFooter, Projection, BATCH_BYTES};
pub use schema::{ColumnKind, ColumnSpec, ReportType};
pub use timestamp::parse_timestamp;
pub use warehouse::{
    open_writable_store, DataFile, Listing, ReadAhead, ReadSpec, S3Defaults, ScanRequest,
    StoreOptions, Warehouse, WritableStore,
};
