//! OpenShift label maps: parse the JSON strings koku stores, keep only enabled keys, unite and
//! merge maps, intern the results as small integer ids, and render canonical JSON.
//!
//! # Layout
//!
//! - [`LabelMap`] is one map, keys unique and sorted; [`LabelMap::parse`] reads koku's label
//!   strings (`''` or null mean no labels) and [`LabelMap::to_json`] renders PostgreSQL `jsonb`'s
//!   canonical text (`{"app": "web", "tier": "front"}`: keys shorter-first then bytewise, one space
//!   after `:` and `,`).
//! - [`EnabledKeys`] is the filter: a set of keys (`vm_kubevirt_io_name` always included), or all.
//! - [`LabelSets`] interns filtered maps into dense [`LabelSetId`]s. It caches the id of every
//!   distinct raw string, so each string is parsed and filtered once however many rows carry it,
//!   and caches merges and unions of ids, so grouping code works on `u32`s, never on strings.
//!   [`LabelSets::intern_column`] does this for a whole Arrow column, dictionary-first.
//! - [`MergedSets`] merges maps of a base [`LabelSets`] into an id space of its own, cached per
//!   id sequence, which can be cleared to bound memory without touching the base.
//!
//! # Example
//!
//! ```
//! use ocpagg_labels::{EnabledKeys, LabelSets};
//!
//! let mut sets = LabelSets::new(EnabledKeys::only(["app", "tier"]));
//! let node = sets.intern_str(Some(r#"{"tier": "node", "zone": "a"}"#)).unwrap();
//! let pod = sets.intern_str(Some(r#"{"app": "web", "tier": "front", "hash": "x1"}"#)).unwrap();
//! let merged = sets.merge(&[node, pod]); // later maps win on equal keys
//! assert_eq!(&**sets.json(merged), r#"{"app": "web", "tier": "front"}"#);
//! ```
// Input may never reach a panic (issue #18): no unwrap or expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs, unreachable_pub)]

mod map;
mod merged;
mod sets;

pub use map::{
    EnabledKeys, LabelError, LabelMap, KUBEVIRT_VM_KEY, MAX_LABEL_BYTES, MAX_LABEL_KEYS,
};
pub use merged::{MergedSets, MAX_MERGED};
pub use sets::{LabelSetId, LabelSets, Mark};
