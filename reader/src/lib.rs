//! Finds koku-layout OpenShift usage Parquet on local disk or S3 and streams it as Arrow record
//! batches in one canonical schema, whatever the physical types in the files.
//!
//! # Layout
//!
//! - [`Warehouse`] opens a root URL (a path, `file://` or `s3://bucket/prefix`) and
//!   [`Warehouse::plan`]s a scan: it lists only the month directories of koku's layout
//!   (`data/parquet[/daily]/{org}/OCP/{table}/source=…/year=…/month=…`), giving a [`ScanPlan`]
//!   that can be inspected before any data is read.
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
//! use ocpagg_reader::{Projection, ReportType, ScanRequest, Warehouse};
//!
//! let warehouse = Warehouse::open("./lake")?;
//! let plan = warehouse.plan(&ScanRequest {
//!     org: "org1234567".into(),
//!     source: "6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01".into(),
//!     year: 2025,
//!     month: 10,
//! })?;
//! let projection = Projection::new(ReportType::NodeLabels, &["interval_start", "node", "node_labels"]);
//! for file in plan.files(ReportType::NodeLabels, false) {
//!     for batch in warehouse.read(file, &projection, None, 65_536)? {
//!         println!("{} rows", batch?.num_rows());
//!     }
//! }
//! # Ok::<(), ocpagg_reader::ReadError>(())
//! ```
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod remote;
mod scan;
pub mod schema;
mod timestamp;
mod warehouse;

pub use error::{ReadError, Result};
pub use remote::IoStats;
pub use scan::{DateRange, FileBatches, FileFooter, Projection};
pub use schema::{ColumnKind, ColumnSpec, ReportType};
pub use timestamp::parse_timestamp;
pub use warehouse::{
    open_writable_store, DataFile, ReadAhead, ReadSpec, S3Defaults, ScanPlan, ScanRequest,
    StoreOptions, Warehouse, WritableStore,
};
