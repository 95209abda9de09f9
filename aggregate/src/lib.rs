//! The aggregate stage: koku line items in, daily summary rows out (SPEC.md "Output rows").
//!
//! # Layout
//!
//! - [`Aggregator`] holds one run's state. Label tables go in with
//!   [`Aggregator::add_node_labels`] / [`Aggregator::add_namespace_labels`]; pod_usage batches
//!   go through [`Aggregator::prepare`] (intern dictionary values, sequential) →
//!   [`Aggregator::partial`] (fold one batch, pure, any thread) → [`Aggregator::merge`], or all
//!   three at once on a rayon pool with [`Aggregator::add_batches`]. storage_usage batches
//!   take the same path through [`Aggregator::prepare_storage`] →
//!   [`Aggregator::partial_storage`] → [`Aggregator::merge_storage`]
//!   ([`Aggregator::add_prepared_storage`]). Tables may arrive in any order and interleaved.
//! - [`Aggregator::finish`] returns a [`Summary`] of sorted [`SummaryRow`]s: Pod rows, then
//!   the barrier work that needs all of them: Storage rows (claims placed on the nodes their
//!   pods ran on) and one unallocated row per node and day (capacity minus the node's Pod
//!   rows, namespace from the node's role).
//! - [`Aggregator::take_days`] hands finished days out as [`FinishedDays`]: Pod groups stay
//!   compact until [`FinishedDays::rows`] builds the rows of a range, so a converter can turn a
//!   large day into record batches a window at a time.
//! - Groups are keyed by dense integer ids (`day`, namespace, node, label set) and stored
//!   densely (a `key → index` map and one `Vec` of states); strings are
//!   interned once per dictionary value, label strings parsed once per distinct string
//!   ([`ocpagg_labels::LabelSets`]).
//! - Sums are exact fixed-point ([`exact`]): results are bit-identical for any thread count,
//!   batch size or file order.
//! - [`schema`] is the summary's column list (names, Arrow and PostgreSQL types);
//!   [`to_record_batch`] turns rows into Arrow batches.
//!
//! # Example
//!
//! ```
//! use ocpagg_aggregate::{Aggregator, RunInfo, SideInputs};
//! use chrono::NaiveDate;
//!
//! let day = NaiveDate::from_ymd_opt(2025, 10, 1).unwrap();
//! let run = RunInfo {
//!     source_uuid: "6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01".into(),
//!     cluster_id: "my-cluster".into(),
//!     cluster_alias: "my-cluster".into(),
//!     report_period_id: None,
//!     start: day,
//!     end: day,
//! };
//! let aggregator = Aggregator::new(run, SideInputs::default());
//! // ... add label tables and pod batches read by ocpagg-reader ...
//! assert!(aggregator.finish().rows.is_empty());
//! ```
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod error;
pub mod exact;
mod finished;
mod groups;
mod like;
mod output;
mod pods;
pub mod schema;
mod storage;
mod strings;
mod unallocated;

pub use config::{CostCategory, RunInfo, SideInputs};
pub use error::{AggregateError, Result};
pub use finished::FinishedDays;
pub use like::LikePattern;
pub use output::{
    to_record_batch, to_record_batch_with_csi, Capacity, DataSource, PodMeasures, StorageMeasures,
    SummaryRow, ZERO_INFRASTRUCTURE_COST,
};
pub use pods::{
    row_order, sort_rows, AggregateStats, Aggregator, PodPartial, PodPass, PreparedBatch, Summary,
    GIB, NAMESPACE_LABEL_COLUMNS, NODE_LABEL_COLUMNS, POD_CAPACITY_COLUMNS, POD_USAGE_COLUMNS,
};
pub use storage::{PreparedStorage, StoragePartial, STORAGE_USAGE_COLUMNS};
pub use strings::{StringId, Strings};
pub use unallocated::{PLATFORM_UNALLOCATED, WORKER_UNALLOCATED};
