//! Checks a daily summary against expectations computed independently from a nise-style
//! scenario (issue #5).
//!
//! A scenario file in nise's static OCP format states every node, namespace, pod and volume
//! with exact requests, limits and usage, so the whole daily summary follows from it by
//! arithmetic. This crate does that arithmetic in closed form, from SPEC.md's definitions,
//! and compares the result with the rows a run actually wrote:
//!
//! ```text
//!  scenario.yml ──► Settings::from_scenario_file ─┐
//!       │                                         ▼
//!       └──► Scenario ──► expected::expected_rows ──► compare::compare ──► Comparison
//!                                                         ▲                 │ render_table
//!  summary.parquet / .csv / PostgreSQL ──► actual::load_* ┘                 └ render_json
//! ```
//!
//! * [`Settings`]: the run's side inputs (enabled label keys, cost-category patterns, node
//!   roles), read from an optional top-level `ocpagg:` block of the scenario file (nise
//!   ignores it), which callers may override.
//! * [`expected_rows`]: the predicted rows. It uses `ocpagg-fixtures` only for what nise
//!   *writes* (the YAML model, defaults and caps, label-string conversion), never the
//!   generated line items, and it does not depend on the aggregation crates: it checks our
//!   code with different code. Sums are `hours on the day × pod_seconds × cores ÷ 3600` and
//!   the like, where the hours per day come from the generator's range.
//! * [`load_file`] and [`load_postgres`]: the actual rows, from our Parquet or CSV output or
//!   from `{schema}.reporting_ocpusagelineitem_daily_summary` (one source, optional days).
//! * [`compare()`]: the list of [`Check`]s: Pod sums per (day, namespace, node, labels), node
//!   and cluster capacity, Storage per (day, namespace, node, claim, labels), unallocated
//!   rows per (day, node), row counts per (day, data_source), label maps (compared as parsed
//!   JSON) and cost categories. A row the scenario does not predict, or a predicted row that
//!   is missing, is a failed check.
//! * [`render_table`] and [`render_json`] present a [`Comparison`].
//!
//! # Tolerance
//!
//! A number passes when `|actual − expected| ≤ tolerance × |expected|` (relative; 1e-6 by
//! default). For an expected 0 a relative rule cannot pass anything but an exact 0, so the
//! rule becomes absolute: `|actual| ≤ tolerance`, in the column's own unit (core-hours,
//! GiB-months, ...). Unallocated capacity is a difference of sums and is exactly where such
//! zeros and last-bit residues appear. Text, label maps and ids must be equal.
//!
//! # Example
//!
//! ```
//! use ocpagg_fixtures::Scenario;
//! use ocpagg_validator::{compare, expected_rows, DateRange, Settings, Tolerance};
//!
//! let yaml = "
//! generators:
//!   - OCPGenerator:
//!       start_date: 2025-10-01
//!       end_date: 2025-10-02
//!       nodes:
//!         - node_name: worker-1
//!           cpu_cores: 4
//!           memory_gig: 16
//!           namespaces:
//!             web:
//!               pods:
//!                 - pod_name: web-1
//!                   cpu_request: 1
//!                   cpu_limit: 2
//!                   mem_request_gig: 2
//!                   mem_limit_gig: 4
//!                   pod_seconds: 3600
//! ";
//! let scenario = Scenario::from_yaml(yaml).unwrap();
//! let expected = expected_rows(&scenario, &Settings::default(), &DateRange::default()).unwrap();
//! // One Pod row and one unallocated row (data_source Pod), no Storage.
//! assert_eq!(expected.len(), 2);
//! // Comparing the expectation with itself passes every check.
//! let result = compare(&expected, &expected.clone().into(), Tolerance::default());
//! assert!(result.all_passed());
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod actual;
pub mod compare;
mod error;
pub mod expected;
mod labels;
pub mod render;
mod row;
pub mod settings;

pub use actual::{load_file, load_postgres, ActualRows};
pub use compare::{compare, Check, CheckValue, Comparison, Tolerance};
pub use error::ValidateError;
pub use expected::{expected_rows, DateRange};
pub use render::{render_json, render_table};
pub use row::{RowKind, SummaryRow, NUMBER_COLUMNS};
pub use settings::{like_matches, EnabledKeys, Settings};
