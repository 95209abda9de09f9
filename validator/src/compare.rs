//! Expected rows against actual rows: a flat list of named checks.
//!
//! Rows are matched by their identifying columns, so a predicted row that is missing, or a
//! row that nothing predicts, shows up as a failed `rows` check of its key:
//!
//! | scope | key | checks |
//! |---|---|---|
//! | `rows` | day, data_source | row count |
//! | `Pod` | day, namespace, node, pod_labels | rows, the 8 pod_* sums, all_labels, cost_category_id, resource_id |
//! | `node` | day, node | node_capacity_{cpu_cores, cpu_core_hours, memory_gigabytes, memory_gigabyte_hours} of every Pod-source row of the node |
//! | `cluster` | day | cluster_capacity_{cpu_core, memory_gigabyte}_hours of every Pod-source row |
//! | `unallocated` | day, node | rows, namespace (by role), the 6 usage/request/effective values, all_labels, cost_category_id, resource_id |
//! | `Storage` | day, namespace, node, claim, volume, class, volume_labels | rows, capacity GiB, the 3 gigabyte-month sums, all_labels, cost_category_id |
//!
//! Label maps are compared as parsed JSON (key order and spacing do not matter). Sums are
//! over the rows of a key (Storage rows of one claim differ in the CSI volume handle, which
//! the table does not show); a value that every row of a key carries (capacity, labels, ids)
//! must be the same on all of them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde_json::Value;

use crate::actual::ActualRows;
use crate::labels::canonical;
use crate::row::{RowKind, SummaryRow, NUMBER_COLUMNS};

/// The relative tolerance of number checks (see the crate docs for an expected 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance(pub f64);

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance(1e-6)
    }
}

/// One side of a check.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckValue {
    /// Null, or no value.
    Null,
    /// A number.
    Number(f64),
    /// An integer (ids, row counts).
    Int(i64),
    /// Text.
    Text(String),
    /// A JSON value (label maps).
    Json(Value),
    /// Rows of one key disagree on a value every row should share.
    Several(Vec<String>),
}

impl std::fmt::Display for CheckValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckValue::Null => f.write_str("null"),
            CheckValue::Number(x) => write!(f, "{x}"),
            CheckValue::Int(i) => write!(f, "{i}"),
            CheckValue::Text(s) => write!(f, "{s:?}"),
            CheckValue::Json(v) => f.write_str(&canonical(v)),
            CheckValue::Several(v) => write!(f, "several: {}", v.join(" | ")),
        }
    }
}

impl CheckValue {
    /// As JSON, for [`crate::render_json`].
    pub fn to_json(&self) -> Value {
        match self {
            CheckValue::Null => Value::Null,
            CheckValue::Number(x) => serde_json::Number::from_f64(*x)
                .map_or_else(|| Value::String(x.to_string()), Value::Number),
            CheckValue::Int(i) => Value::from(*i),
            CheckValue::Text(s) => Value::String(s.clone()),
            CheckValue::Json(v) => v.clone(),
            CheckValue::Several(v) => serde_json::json!({ "several": v }),
        }
    }
}

/// One check: what was compared, both sides, and the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// `scope key column`, e.g. `Pod 2025-10-01 web/worker-1 {"app":"web"} pod_usage_cpu_core_hours`.
    pub name: String,
    /// The value computed from the scenario.
    pub expected: CheckValue,
    /// The value found in the output.
    pub actual: CheckValue,
    /// `(actual − expected) ÷ |expected| × 100`, for numbers with a non-zero expectation.
    pub difference_pct: Option<f64>,
    /// Whether the check passed.
    pub pass: bool,
}

/// The result of [`compare`].
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The checks, in a deterministic order (by day, then scope and key).
    pub checks: Vec<Check>,
    /// The tolerance used.
    pub tolerance: Tolerance,
}

impl Comparison {
    /// Number of passed checks.
    pub fn passed(&self) -> usize {
        self.checks.iter().filter(|c| c.pass).count()
    }

    /// Number of failed checks.
    pub fn failed(&self) -> usize {
        self.checks.len() - self.passed()
    }

    /// Whether every check passed (and there was at least one).
    pub fn all_passed(&self) -> bool {
        !self.checks.is_empty() && self.failed() == 0
    }
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("∅")
}

fn labels_key(v: &Option<Value>) -> String {
    v.as_ref().map_or_else(|| "null".into(), canonical)
}

/// A group key: day, then scope name and key text.
type Key = (NaiveDate, &'static str, String);

fn key_of(r: &SummaryRow) -> Key {
    match r.kind {
        RowKind::Pod => (
            r.day,
            "Pod",
            format!(
                "{}/{} {}",
                opt(&r.namespace),
                opt(&r.node),
                labels_key(&r.pod_labels)
            ),
        ),
        RowKind::Unallocated => (r.day, "unallocated", opt(&r.node).to_string()),
        RowKind::Storage => (
            r.day,
            "Storage",
            format!(
                "{}/{} claim {} volume {} class {} {}",
                opt(&r.namespace),
                opt(&r.node),
                opt(&r.persistentvolumeclaim),
                opt(&r.persistentvolume),
                opt(&r.storageclass),
                labels_key(&r.volume_labels)
            ),
        ),
    }
}

/// CSV cannot tell `''` from null: read both as null.
fn blank_to_null(r: &SummaryRow) -> SummaryRow {
    let mut r = r.clone();
    for s in [
        &mut r.namespace,
        &mut r.node,
        &mut r.resource_id,
        &mut r.persistentvolumeclaim,
        &mut r.persistentvolume,
        &mut r.storageclass,
    ] {
        if s.as_deref() == Some("") {
            *s = None;
        }
    }
    r
}

struct Checker {
    tolerance: f64,
    checks: Vec<Check>,
}

impl Checker {
    fn push(&mut self, name: String, expected: CheckValue, actual: CheckValue) {
        let (pass, difference_pct) = match (&expected, &actual) {
            (CheckValue::Number(e), CheckValue::Number(a)) => {
                if *e == 0.0 {
                    (a.abs() <= self.tolerance, None)
                } else {
                    let rel = (a - e) / e.abs();
                    (rel.abs() <= self.tolerance, Some(rel * 100.0))
                }
            }
            (CheckValue::Several(_), _) | (_, CheckValue::Several(_)) => (false, None),
            (e, a) => (e == a, None),
        };
        self.checks.push(Check {
            name,
            expected,
            actual,
            difference_pct,
            pass,
        });
    }
}

/// The sum of a number column over rows (null if every row has null).
fn sum(rows: &[&SummaryRow], column: usize) -> CheckValue {
    let values: Vec<f64> = rows.iter().filter_map(|r| r.numbers[column]).collect();
    if values.is_empty() {
        CheckValue::Null
    } else {
        CheckValue::Number(values.iter().sum())
    }
}

/// The value every row shares (null for no rows, [`CheckValue::Several`] if they differ).
fn shared(values: impl IntoIterator<Item = CheckValue>) -> CheckValue {
    let mut distinct: Vec<CheckValue> = Vec::new();
    for v in values {
        if !distinct.contains(&v) {
            distinct.push(v);
        }
    }
    match distinct.len() {
        0 => CheckValue::Null,
        1 => distinct.pop().expect("one"),
        _ => CheckValue::Several(distinct.iter().map(ToString::to_string).collect()),
    }
}

fn number(v: Option<f64>) -> CheckValue {
    v.map_or(CheckValue::Null, CheckValue::Number)
}

fn text(v: &Option<String>) -> CheckValue {
    v.clone().map_or(CheckValue::Null, CheckValue::Text)
}

fn json(v: &Option<Value>) -> CheckValue {
    v.clone().map_or(CheckValue::Null, CheckValue::Json)
}

fn int(v: Option<i64>) -> CheckValue {
    v.map_or(CheckValue::Null, CheckValue::Int)
}

fn count(n: usize) -> CheckValue {
    CheckValue::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn col(name: &str) -> usize {
    crate::row::col(name)
}

/// Compares expected with actual rows.
pub fn compare(expected: &[SummaryRow], actual: &ActualRows, tolerance: Tolerance) -> Comparison {
    let expected: Vec<SummaryRow> = if actual.empty_text_is_null {
        expected.iter().map(blank_to_null).collect()
    } else {
        expected.to_vec()
    };
    let mut c = Checker {
        tolerance: tolerance.0,
        checks: Vec::new(),
    };

    let mut groups: BTreeMap<Key, (Vec<&SummaryRow>, Vec<&SummaryRow>)> = BTreeMap::new();
    for r in &expected {
        groups.entry(key_of(r)).or_default().0.push(r);
    }
    for r in &actual.rows {
        groups.entry(key_of(r)).or_default().1.push(r);
    }

    let days: BTreeSet<NaiveDate> = groups.keys().map(|(d, _, _)| *d).collect();
    for day in days {
        let of_day = |rows: &[SummaryRow]| -> Vec<SummaryRow> {
            rows.iter().filter(|r| r.day == day).cloned().collect()
        };
        let (e_day, a_day) = (of_day(&expected), of_day(&actual.rows));

        // Row counts per data_source.
        for source in ["Pod", "Storage"] {
            let n = |rows: &[SummaryRow]| {
                rows.iter()
                    .filter(|r| r.kind.data_source() == source)
                    .count()
            };
            c.push(
                format!("rows {day} data_source={source}"),
                count(n(&e_day)),
                count(n(&a_day)),
            );
        }

        // Cluster capacity, over every Pod-source row of the day.
        let pod_source = |rows: &[SummaryRow]| -> Vec<SummaryRow> {
            rows.iter()
                .filter(|r| r.kind != RowKind::Storage)
                .cloned()
                .collect()
        };
        let (e_pods, a_pods) = (pod_source(&e_day), pod_source(&a_day));
        for column in [
            "cluster_capacity_cpu_core_hours",
            "cluster_capacity_memory_gigabyte_hours",
        ] {
            let i = col(column);
            c.push(
                format!("cluster {day} {column}"),
                shared(e_pods.iter().map(|r| number(r.numbers[i]))),
                shared(a_pods.iter().map(|r| number(r.numbers[i]))),
            );
        }

        // Node capacity, over every Pod-source row of the node.
        let nodes: BTreeSet<Option<String>> = e_pods
            .iter()
            .chain(&a_pods)
            .map(|r| r.node.clone())
            .collect();
        for node in nodes {
            let of_node = |rows: &[SummaryRow]| -> Vec<SummaryRow> {
                rows.iter().filter(|r| r.node == node).cloned().collect()
            };
            let (e_node, a_node) = (of_node(&e_pods), of_node(&a_pods));
            for column in [
                "node_capacity_cpu_cores",
                "node_capacity_cpu_core_hours",
                "node_capacity_memory_gigabytes",
                "node_capacity_memory_gigabyte_hours",
            ] {
                let i = col(column);
                c.push(
                    format!("node {day} {} {column}", opt(&node)),
                    shared(e_node.iter().map(|r| number(r.numbers[i]))),
                    shared(a_node.iter().map(|r| number(r.numbers[i]))),
                );
            }
        }

        // Rows by key.
        for ((_, scope, key), (e, a)) in groups.range((day, "", String::new())..) {
            if e.first().or(a.first()).is_some_and(|r| r.day != day) {
                break;
            }
            let name = |column: &str| format!("{scope} {day} {key} {column}");
            c.push(name("rows"), count(e.len()), count(a.len()));
            if e.is_empty() || a.is_empty() {
                continue;
            }
            let kind = e[0].kind;
            let sums: &[&str] = match kind {
                RowKind::Pod => &NUMBER_COLUMNS[..8],
                RowKind::Unallocated => &[
                    "pod_usage_cpu_core_hours",
                    "pod_request_cpu_core_hours",
                    "pod_effective_usage_cpu_core_hours",
                    "pod_usage_memory_gigabyte_hours",
                    "pod_request_memory_gigabyte_hours",
                    "pod_effective_usage_memory_gigabyte_hours",
                ],
                RowKind::Storage => &[
                    "persistentvolumeclaim_capacity_gigabyte_months",
                    "volume_request_storage_gigabyte_months",
                    "persistentvolumeclaim_usage_gigabyte_months",
                ],
            };
            if kind == RowKind::Unallocated {
                c.push(
                    name("namespace"),
                    shared(e.iter().map(|r| text(&r.namespace))),
                    shared(a.iter().map(|r| text(&r.namespace))),
                );
            }
            for &column in sums {
                c.push(name(column), sum(e, col(column)), sum(a, col(column)));
            }
            if kind == RowKind::Storage {
                let i = col("persistentvolumeclaim_capacity_gigabyte");
                c.push(
                    name("persistentvolumeclaim_capacity_gigabyte"),
                    shared(e.iter().map(|r| number(r.numbers[i]))),
                    shared(a.iter().map(|r| number(r.numbers[i]))),
                );
            }
            c.push(
                name("all_labels"),
                shared(e.iter().map(|r| json(&r.all_labels))),
                shared(a.iter().map(|r| json(&r.all_labels))),
            );
            c.push(
                name("cost_category_id"),
                shared(e.iter().map(|r| int(r.cost_category_id))),
                shared(a.iter().map(|r| int(r.cost_category_id))),
            );
            if kind != RowKind::Storage {
                c.push(
                    name("resource_id"),
                    shared(e.iter().map(|r| text(&r.resource_id))),
                    shared(a.iter().map(|r| text(&r.resource_id))),
                );
            }
        }
    }
    Comparison {
        checks: c.checks,
        tolerance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(usage: f64) -> SummaryRow {
        let mut r = SummaryRow::new(RowKind::Pod, NaiveDate::from_ymd_opt(2025, 10, 1).unwrap());
        r.namespace = Some("web".into());
        r.node = Some("n1".into());
        r.pod_labels = Some(serde_json::json!({"a": "1", "b": "2"}));
        r.all_labels = r.pod_labels.clone();
        r.set("pod_usage_cpu_core_hours", usage);
        r
    }

    #[test]
    fn tolerance_is_relative_and_absolute_at_zero() {
        let t = Tolerance(1e-6);
        let cmp = |e: f64, a: f64| {
            let c = compare(&[pod(e)], &vec![pod(a)].into(), t);
            c.checks
                .iter()
                .find(|c| c.name.ends_with("pod_usage_cpu_core_hours"))
                .unwrap()
                .clone()
        };
        assert!(cmp(100.0, 100.00009).pass);
        assert!(!cmp(100.0, 100.00011).pass);
        let d = cmp(100.0, 101.0).difference_pct.unwrap();
        assert!((d - 1.0).abs() < 1e-9, "{d}");
        assert!(cmp(0.0, 9e-7).pass);
        assert!(!cmp(0.0, 2e-6).pass);
        assert_eq!(cmp(0.0, 0.0).difference_pct, None);
    }

    #[test]
    fn labels_match_as_json_and_missing_rows_fail() {
        let mut reordered = pod(1.0);
        reordered.pod_labels = Some(serde_json::from_str(r#"{"b": "2", "a": "1"}"#).unwrap());
        let ok = compare(&[pod(1.0)], &vec![reordered].into(), Tolerance::default());
        assert!(ok.all_passed(), "{:#?}", ok.checks);

        let mut other = pod(1.0);
        other.pod_labels = Some(serde_json::json!({"a": "1"}));
        let bad = compare(&[pod(1.0)], &vec![other].into(), Tolerance::default());
        let failed: Vec<&str> = bad
            .checks
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            failed,
            [
                r#"Pod 2025-10-01 web/n1 {"a":"1","b":"2"} rows"#,
                r#"Pod 2025-10-01 web/n1 {"a":"1"} rows"#
            ]
        );
        let none = compare(&[pod(1.0)], &ActualRows::default(), Tolerance::default());
        assert!(!none.all_passed());
    }
}
