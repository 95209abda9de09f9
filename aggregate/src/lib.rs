//! The aggregate stage: koku line items in, daily summary rows out (SPEC.md "Output rows").
//!
//! # Layout
//!
//! - [`aggregator`] is the calling sequence (DataFusion's intern → update → emit):
//!   [`Aggregator::input_schema`] names the columns to read per [`Table`];
//!   [`Aggregator::push`] takes batches of any table, in any order, checks their schema,
//!   interns their dictionary values and folds them a window at a time (on the pool given
//!   with [`Aggregator::with_pool`]); [`Aggregator::expect_files`] +
//!   [`Aggregator::file_done`], or [`Aggregator::close_days_before`], say which days are
//!   complete, and [`Aggregator::emit_ready`] hands those out as [`FinishedDays`] (Pod groups
//!   stay compact until [`FinishedDays::rows`] builds a range of rows, so a converter can turn
//!   a large day into record batches a window at a time); [`Aggregator::finish`] returns the
//!   rest as a [`Summary`]: the days not emitted and one unallocated row per node and day
//!   (capacity minus the node's Pod rows, namespace from the node's role), or
//!   [`Aggregator::finish_each_day`] hands the same rows out in parts of whole days.
//! - Callers with threads of their own use [`Aggregator::prepare`] (sequential, cheap) →
//!   [`Aggregator::partial`] (pure, any thread) → [`Aggregator::merge`], and the storage trio
//!   ([`Aggregator::prepare_storage`], [`Aggregator::partial_storage`],
//!   [`Aggregator::merge_storage`]), then emit and finish as above.
//! - Inside, the [`Aggregator`] owns one state per concern (pod groups and capacity, storage
//!   claims, the label tables, the unallocated rows' inputs, node roles), each in its own
//!   module with its own methods, and the interner they share; the aggregator module is the
//!   only one that sees them all, and imports point only down.
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
//! use ocpagg_aggregate::{Aggregator, AggregateError, RunInfo, SideInputs};
//! use chrono::NaiveDate;
//!
//! let day = NaiveDate::from_ymd_opt(2025, 10, 1).unwrap();
//! let run = RunInfo::new("6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01", "my-cluster", day, day);
//! let mut aggregator = Aggregator::new(run, SideInputs::default());
//! // ... `push` label tables and pod batches read by ocpagg-reader, `emit_ready` as days
//! // complete ...
//! assert!(aggregator.emit_ready().unwrap().is_none());
//! // A run without pod line items is an error.
//! assert!(matches!(aggregator.finish(), Err(AggregateError::NoLineItems { .. })));
//! ```
#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

// Layers, top first (`tests/layering.rs` lists them and checks that imports point only
// down): the bridge to the reader; the calling sequence; the concerns; what they share; the
// leaves.
pub mod aggregator;
#[cfg(feature = "reader")]
mod scan;
// One module per concern. Pods sit below the concerns that take its days: storage claims
// find their nodes through pod placements, unallocated rows and finished days are built from
// Pod groups; label tables sit above node roles, which they feed.
mod finished;
mod labels;
mod pods;
mod roles;
mod storage;
mod unallocated;
// What every concern shares: the run's interned texts and label sets.
mod interner;
// Shared leaves.
mod config;
mod error;
pub mod exact;
mod groups;
mod input;
mod like;
mod order;
mod output;
pub mod schema;
mod strings;
#[cfg(test)]
mod testing;
mod units;

pub use aggregator::{AggregateStats, Aggregator, Summary, Timings};
pub use config::{CostCategory, RunInfo, SideInputs};
pub use error::{AggregateError, Result};
pub use finished::FinishedDays;
pub use input::{day_of, PodPass, Table};
pub use like::LikePattern;
pub use output::{
    to_record_batch, to_record_batch_as, to_record_batch_with_csi, Capacity, DataSource,
    PodMeasures, StorageMeasures, SummaryRow, ZERO_INFRASTRUCTURE_COST,
};
pub use pods::{PodPartial, PreparedBatch};
pub use roles::{APISERVER_NAMESPACE, INFRA_LABEL_TEXT};
pub use storage::{PreparedStorage, StoragePartial};
pub use unallocated::{PLATFORM_UNALLOCATED, WORKER_UNALLOCATED};
