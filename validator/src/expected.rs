//! The expected daily summary of a scenario, in closed form from SPEC.md.
//!
//! Nothing here walks line items. A generator's hourly intervals start at `start + k h` for
//! `k = 0..K` with `K = ⌊(end − start − 3599 s) / 3600 s⌋ + 1` (nise stops when an interval
//! `[t, t + 59:59]` would pass the end), so the number of hours falling on a day is an
//! interval intersection. Every hourly row of a pod carries `pod_seconds ×` its cores (or
//! GiB), so for a day with `n` hours:
//!
//! * pod core-hours = `n × pod_seconds × cores ÷ 3600` (usage, request, limit; effective uses
//!   `max(usage, request)`); GiB-hours the same with GiB;
//! * node capacity core-hours = `n × cores` (each hour's capacity is `cores × 3600` seconds),
//!   for the nodes that ran a pod that day; cluster capacity is their sum (node `""` included);
//! * claim gigabyte-months = `n × 3600 × GiB ÷ (86400 × days in month)`, request and usage
//!   divided by the number of nodes the volume was seen on that day;
//! * unallocated = node capacity hours − the node's Pod row sums.
//!
//! Labels, cost categories and node roles follow SPEC.md (see [`crate::settings`]).
//! Each day belongs to the run of its month (`ocpagg run` is per month), clipped to the
//! [`DateRange`]: that run's range decides the node roles.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};
use ocpagg_fixtures::{ResolvedGenerator, ResolvedNode, Scenario};

use crate::error::{Result, ValidateError};
use crate::labels::{self, Labels};
use crate::row::{RowKind, SummaryRow};
use crate::settings::Settings;

const GIB: f64 = 1_073_741_824.0;
const HOUR: i64 = 3600;

/// Namespaces of unallocated rows, left out of the sums of used capacity (SPEC.md).
const UNALLOCATED_NAMESPACES: [&str; 4] = [
    "Platform unallocated",
    "Worker unallocated",
    "Network unattributed",
    "Storage unattributed",
];

/// Days to validate, inclusive; `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateRange {
    /// First day.
    pub start: Option<NaiveDate>,
    /// Last day, inclusive.
    pub end: Option<NaiveDate>,
}

impl DateRange {
    /// Whether `day` is in the range.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start.is_none_or(|s| s <= day) && self.end.is_none_or(|e| day <= e)
    }

    /// The run that produced `day`: its month, clipped to this range.
    fn run_of(&self, day: NaiveDate) -> (NaiveDate, NaiveDate) {
        let first = day.with_day(1).expect("day 1 exists");
        let last = first + TimeDelta::days(i64::from(days_in_month(day)) - 1);
        (
            self.start.map_or(first, |s| s.max(first)),
            self.end.map_or(last, |e| e.min(last)),
        )
    }
}

/// Days in the month of `day`.
pub fn days_in_month(day: NaiveDate) -> u32 {
    let first = day.with_day(1).expect("day 1 exists");
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .expect("a next month");
    u32::try_from((next - first).num_days()).expect("28..=31")
}

/// ⌈a / b⌉ for b > 0.
fn ceil_div(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

/// Number of hourly intervals of a generator.
fn hour_count(g: &ResolvedGenerator) -> i64 {
    let span = (g.end - g.start).num_seconds();
    if span < HOUR - 1 {
        0
    } else {
        (span - (HOUR - 1)) / HOUR + 1
    }
}

/// Number of a generator's hourly intervals starting in `[from, to)`.
fn hours_in(g: &ResolvedGenerator, from: NaiveDateTime, to: NaiveDateTime) -> i64 {
    let total = hour_count(g);
    let lo = ceil_div((from - g.start).num_seconds(), HOUR).max(0);
    let hi = (ceil_div((to - g.start).num_seconds(), HOUR) - 1).min(total - 1);
    (hi - lo + 1).max(0)
}

fn midnight(d: NaiveDate) -> NaiveDateTime {
    d.and_time(NaiveTime::MIN)
}

/// Hours of `g` on `day`.
fn hours_on(g: &ResolvedGenerator, day: NaiveDate) -> i64 {
    hours_in(g, midnight(day), midnight(day) + TimeDelta::days(1))
}

/// Hours of `g` in the days `[first, last]`.
fn hours_between(g: &ResolvedGenerator, first: NaiveDate, last: NaiveDate) -> i64 {
    hours_in(g, midnight(first), midnight(last) + TimeDelta::days(1))
}

/// The days a generator has hours on.
fn generator_days(g: &ResolvedGenerator) -> Vec<NaiveDate> {
    let k = hour_count(g);
    if k == 0 {
        return Vec::new();
    }
    let last = (g.start + TimeDelta::hours(k - 1)).date();
    g.start
        .date()
        .iter_days()
        .take_while(|d| *d <= last)
        .collect()
}

fn has_pods(node: &ResolvedNode) -> bool {
    node.namespaces.iter().any(|ns| !ns.pods.is_empty())
}

/// Node capacity is an hourly maximum per node; with one node in two generators whose hours
/// overlap that maximum would need the hours themselves. Such scenarios are refused.
fn check_overlaps(gens: &[ResolvedGenerator]) -> Result<()> {
    for (i, a) in gens.iter().enumerate() {
        for b in &gens[i + 1..] {
            let (ka, kb) = (hour_count(a), hour_count(b));
            if ka == 0 || kb == 0 {
                continue;
            }
            let (a_last, b_last) = (
                a.start + TimeDelta::hours(ka - 1),
                b.start + TimeDelta::hours(kb - 1),
            );
            if a.start > b_last || b.start > a_last {
                continue;
            }
            for na in a.nodes.iter().filter(|n| has_pods(n)) {
                if b.nodes.iter().any(|nb| nb.name == na.name && has_pods(nb)) {
                    return Err(ValidateError::Unsupported(format!(
                        "node `{}` runs pods in two OCPGenerators whose hours overlap; \
                         the validator needs each node's hours in one generator",
                        na.name
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The expected rows of `scenario` for the days of `range`, given the run's settings:
/// Pod rows, unallocated rows and Storage rows, in a deterministic order.
pub fn expected_rows(
    scenario: &Scenario,
    settings: &Settings,
    range: &DateRange,
) -> Result<Vec<SummaryRow>> {
    let gens = scenario.resolve();
    check_overlaps(&gens)?;
    let days: BTreeSet<NaiveDate> = gens
        .iter()
        .flat_map(generator_days)
        .filter(|d| range.contains(*d))
        .collect();
    let mut out = Vec::new();
    for day in days {
        Day::new(&gens, settings, range, day).rows(&mut out);
    }
    Ok(out)
}

/// One day's computation.
struct Day<'a> {
    gens: &'a [ResolvedGenerator],
    settings: &'a Settings,
    range: &'a DateRange,
    day: NaiveDate,
    /// Generators with hours on the day, and how many.
    active: Vec<(&'a ResolvedGenerator, f64)>,
    node_labels: BTreeMap<&'a str, Labels>,
    namespace_labels: BTreeMap<&'a str, Labels>,
}

#[derive(Default, Clone, Copy)]
struct Capacity {
    cores: f64,
    memory_gib: f64,
    core_hours: f64,
    memory_gib_hours: f64,
}

impl<'a> Day<'a> {
    fn new(
        gens: &'a [ResolvedGenerator],
        settings: &'a Settings,
        range: &'a DateRange,
        day: NaiveDate,
    ) -> Self {
        let active: Vec<(&ResolvedGenerator, f64)> = gens
            .iter()
            .filter_map(|g| {
                let n = hours_on(g, day);
                (n > 0).then_some((g, n as f64))
            })
            .collect();
        let enabled = &settings.enabled_keys;
        let mut node_labels: BTreeMap<&str, Labels> = BTreeMap::new();
        let mut namespace_labels: BTreeMap<&str, Labels> = BTreeMap::new();
        for (g, _) in &active {
            for node in &g.nodes {
                labels::unite(
                    node_labels.entry(&node.name).or_default(),
                    &labels::parse(&node.labels_json, enabled),
                );
                for ns in &node.namespaces {
                    labels::unite(
                        namespace_labels.entry(&ns.name).or_default(),
                        &labels::parse(&ns.labels_json, enabled),
                    );
                }
            }
        }
        Self {
            gens,
            settings,
            range,
            day,
            active,
            node_labels,
            namespace_labels,
        }
    }

    fn node_labels(&self, node: &str) -> Labels {
        self.node_labels.get(node).cloned().unwrap_or_default()
    }

    fn namespace_labels(&self, ns: &str) -> Labels {
        self.namespace_labels.get(ns).cloned().unwrap_or_default()
    }

    fn rows(&self, out: &mut Vec<SummaryRow>) {
        let enabled = &self.settings.enabled_keys;
        // Capacity of every node that ran a pod (node "" included, for the cluster).
        let mut capacity: BTreeMap<&str, Capacity> = BTreeMap::new();
        let mut pods: BTreeMap<(String, String, String), SummaryRow> = BTreeMap::new();
        for &(g, n) in &self.active {
            for node in g.nodes.iter().filter(|n| has_pods(n)) {
                let c = capacity.entry(&node.name).or_default();
                let memory_gib = node.memory_bytes / GIB;
                c.cores = c.cores.max(node.cpu_cores);
                c.memory_gib = c.memory_gib.max(memory_gib);
                c.core_hours += n * node.cpu_cores;
                c.memory_gib_hours += n * memory_gib;
                if node.name.is_empty() {
                    continue; // not a Pod row (SPEC.md), but part of the cluster
                }
                let node_labels = self.node_labels(&node.name);
                for ns in &node.namespaces {
                    let base = labels::merge(&node_labels, &self.namespace_labels(&ns.name));
                    for pod in &ns.pods {
                        let merged =
                            labels::merge(&base, &labels::parse(&pod.labels_json, enabled));
                        let json = labels::to_json(&merged);
                        let key = (ns.name.clone(), node.name.clone(), labels::canonical(&json));
                        let row = pods.entry(key).or_insert_with(|| {
                            let mut r = SummaryRow::new(RowKind::Pod, self.day);
                            r.namespace = Some(ns.name.clone());
                            r.node = Some(node.name.clone());
                            r.pod_labels = Some(json.clone());
                            r.all_labels = Some(json.clone());
                            r.cost_category_id = self.settings.cost_category(Some(&ns.name));
                            for c in crate::row::NUMBER_COLUMNS.iter().take(8) {
                                r.set(c, 0.0);
                            }
                            r
                        });
                        if row.resource_id.as_deref() < Some(node.resource_id.as_str()) {
                            row.resource_id = Some(node.resource_id.clone());
                        }
                        // n hourly rows of pod_seconds × the rate each, in hours.
                        let f = n * pod.pod_seconds / 3600.0;
                        let cpu = pod.cpu_usage_on(self.day);
                        let mem = pod.mem_usage_gig_on(self.day);
                        add(row, "pod_usage_cpu_core_hours", f * cpu);
                        add(row, "pod_request_cpu_core_hours", f * pod.cpu_request);
                        add(
                            row,
                            "pod_effective_usage_cpu_core_hours",
                            f * cpu.max(pod.cpu_request),
                        );
                        add(row, "pod_limit_cpu_core_hours", f * pod.cpu_limit);
                        add(row, "pod_usage_memory_gigabyte_hours", f * mem);
                        add(
                            row,
                            "pod_request_memory_gigabyte_hours",
                            f * pod.mem_request_gig,
                        );
                        add(
                            row,
                            "pod_effective_usage_memory_gigabyte_hours",
                            f * mem.max(pod.mem_request_gig),
                        );
                        add(
                            row,
                            "pod_limit_memory_gigabyte_hours",
                            f * pod.mem_limit_gig,
                        );
                    }
                }
            }
        }
        let cluster_cpu: f64 = capacity.values().map(|c| c.core_hours).sum();
        let cluster_mem: f64 = capacity.values().map(|c| c.memory_gib_hours).sum();
        let with_capacity = |r: &mut SummaryRow, c: &Capacity| {
            r.set("node_capacity_cpu_cores", c.cores);
            r.set("node_capacity_cpu_core_hours", c.core_hours);
            r.set("node_capacity_memory_gigabytes", c.memory_gib);
            r.set("node_capacity_memory_gigabyte_hours", c.memory_gib_hours);
            r.set("cluster_capacity_cpu_core_hours", cluster_cpu);
            r.set("cluster_capacity_memory_gigabyte_hours", cluster_mem);
        };
        for ((_, node, _), row) in &mut pods {
            with_capacity(row, &capacity[node.as_str()]);
        }

        // Unallocated rows: per node with Pod rows.
        let mut unallocated = Vec::new();
        let nodes: BTreeSet<&str> = pods.keys().map(|(_, node, _)| node.as_str()).collect();
        for node in nodes {
            let c = capacity[node];
            let mut r = SummaryRow::new(RowKind::Unallocated, self.day);
            r.node = Some(node.to_string());
            r.namespace = match self.role(node).as_deref() {
                Some("master" | "infra") => Some("Platform unallocated".into()),
                Some("worker") => Some("Worker unallocated".into()),
                _ => None,
            };
            r.cost_category_id = self.settings.cost_category(r.namespace.as_deref());
            r.all_labels = Some(serde_json::json!({}));
            with_capacity(&mut r, &c);
            let node_rows: Vec<&SummaryRow> = pods
                .iter()
                .filter(|((ns, n, _), _)| {
                    n == node && !UNALLOCATED_NAMESPACES.contains(&ns.as_str())
                })
                .map(|(_, r)| r)
                .collect();
            r.resource_id = pods
                .iter()
                .filter(|((_, n, _), _)| n == node)
                .filter_map(|(_, r)| r.resource_id.clone())
                .max();
            for (column, cap) in [
                ("pod_usage_cpu_core_hours", c.core_hours),
                ("pod_request_cpu_core_hours", c.core_hours),
                ("pod_effective_usage_cpu_core_hours", c.core_hours),
                ("pod_usage_memory_gigabyte_hours", c.memory_gib_hours),
                ("pod_request_memory_gigabyte_hours", c.memory_gib_hours),
                (
                    "pod_effective_usage_memory_gigabyte_hours",
                    c.memory_gib_hours,
                ),
            ] {
                let used: f64 = node_rows.iter().filter_map(|r| r.number(column)).sum();
                r.set(column, cap - used);
            }
            unallocated.push(r);
        }
        out.extend(pods.into_values());
        out.extend(unallocated);
        self.storage_rows(out);
    }

    /// The node's role in the run of this day (SPEC.md's order of precedence).
    fn role(&self, node: &str) -> Option<String> {
        let (first, last) = self.range.run_of(self.day);
        let in_run: Vec<&ResolvedGenerator> = self
            .gens
            .iter()
            .filter(|g| hours_between(g, first, last) > 0)
            .collect();
        let entries = || {
            in_run
                .iter()
                .flat_map(|g| g.nodes.iter())
                .filter(move |n| n.name == node)
        };
        // 1. The data's node_role column (greatest non-null over the node's pod items).
        if let Some(role) = entries()
            .filter(|n| has_pods(n))
            .filter_map(|n| n.role.clone())
            .max()
        {
            return Some(role);
        }
        // 2. A role given by flag or reporting_ocp_nodes.
        if let Some(role) = self.settings.node_roles.get(node) {
            return Some(role.clone());
        }
        // 3. Derived per (node, resource_id), as koku fills reporting_ocp_nodes; needs the
        //    node's label rows in the run (every scenario node has them).
        entries().next()?;
        let infra = entries().any(|n| {
            n.labels_json
                .contains(r#""node_role_kubernetes_io": "infra""#)
        });
        let mut per_resource: BTreeMap<&str, bool> = BTreeMap::new();
        for n in entries().filter(|n| has_pods(n)) {
            let master = n
                .namespaces
                .iter()
                .any(|ns| ns.name == "openshift-kube-apiserver" && !ns.pods.is_empty());
            *per_resource.entry(&n.resource_id).or_default() |= master;
        }
        per_resource
            .values()
            .map(|&master| {
                if master {
                    "master"
                } else if infra {
                    "infra"
                } else {
                    "worker"
                }
            })
            .max()
            .map(str::to_string)
    }

    fn storage_rows(&self, out: &mut Vec<SummaryRow>) {
        struct Entry<'e> {
            n: f64,
            namespace: &'e str,
            pod: &'e str,
            claim: &'e str,
            volume: &'e str,
            storage_class: &'e str,
            csi_volume_handle: &'e str,
            capacity_bytes: f64,
            request_bytes: f64,
            usage_gib: f64,
            pv_labels: &'e str,
            pvc_labels: &'e str,
        }
        // Where each (namespace, pod) ran today: (node, resource_id) pairs.
        let mut locator: BTreeMap<(&str, &str), BTreeSet<(&str, &str)>> = BTreeMap::new();
        let mut entries = Vec::new();
        for &(g, n) in &self.active {
            for node in &g.nodes {
                for ns in &node.namespaces {
                    for pod in &ns.pods {
                        locator
                            .entry((ns.name.as_str(), pod.name.as_str()))
                            .or_default()
                            .insert((node.name.as_str(), node.resource_id.as_str()));
                    }
                    for v in &ns.volumes {
                        let volume = |e: Entry<'a>| Entry {
                            volume: &v.name,
                            storage_class: &v.storage_class,
                            csi_volume_handle: &v.csi_volume_handle,
                            pv_labels: &v.labels_json,
                            ..e
                        };
                        if v.claims.is_empty() {
                            // nise's claimless row: no namespace, pod or claim.
                            entries.push(volume(Entry {
                                n,
                                namespace: "",
                                pod: "",
                                claim: "",
                                capacity_bytes: v.request_bytes,
                                request_bytes: 0.0,
                                usage_gib: 0.0,
                                pvc_labels: "{}",
                                volume: "",
                                storage_class: "",
                                csi_volume_handle: "",
                                pv_labels: "",
                            }));
                        }
                        for c in &v.claims {
                            entries.push(volume(Entry {
                                n,
                                namespace: &ns.name,
                                pod: &c.pod,
                                claim: &c.name,
                                capacity_bytes: c.capacity_bytes,
                                request_bytes: v.request_bytes,
                                usage_gib: c.usage_gig_on(self.day),
                                pvc_labels: &c.labels_json,
                                volume: "",
                                storage_class: "",
                                csi_volume_handle: "",
                                pv_labels: "",
                            }));
                        }
                    }
                }
            }
        }
        let empty = BTreeSet::new();
        let placed = |e: &Entry<'a>| -> &BTreeSet<(&'a str, &'a str)> {
            locator.get(&(e.namespace, e.pod)).unwrap_or(&empty)
        };
        let mut volume_nodes: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for e in &entries {
            let nodes = volume_nodes.entry(e.volume).or_default();
            nodes.extend(placed(e).iter().map(|(node, _)| *node));
        }
        let month_seconds = 86400.0 * f64::from(days_in_month(self.day));
        let enabled = &self.settings.enabled_keys;
        type Key = (
            String,
            Option<String>,
            Option<String>,
            String,
            String,
            String,
            String,
            String,
        );
        let mut rows: BTreeMap<Key, SummaryRow> = BTreeMap::new();
        for e in &entries {
            let divisor = volume_nodes[e.volume].len().max(1) as f64;
            let pairs: Vec<Option<(&str, &str)>> = if placed(e).is_empty() {
                vec![None]
            } else {
                placed(e).iter().copied().map(Some).collect()
            };
            let volume_labels = labels::merge(
                &labels::parse(e.pv_labels, enabled),
                &labels::parse(e.pvc_labels, enabled),
            );
            for pair in pairs {
                let node = pair.map(|(node, _)| node);
                let base = labels::merge(
                    &node.map(|n| self.node_labels(n)).unwrap_or_default(),
                    &self.namespace_labels(e.namespace),
                );
                let json = labels::to_json(&labels::merge(&base, &volume_labels));
                let key = (
                    e.namespace.to_string(),
                    node.map(str::to_string),
                    pair.map(|(_, rid)| rid.to_string()),
                    e.claim.to_string(),
                    e.volume.to_string(),
                    e.storage_class.to_string(),
                    e.csi_volume_handle.to_string(),
                    labels::canonical(&json),
                );
                let row = rows.entry(key).or_insert_with(|| {
                    let mut r = SummaryRow::new(RowKind::Storage, self.day);
                    r.namespace = Some(e.namespace.to_string());
                    r.node = node.map(str::to_string);
                    r.resource_id = pair.map(|(_, rid)| rid.to_string());
                    r.persistentvolumeclaim = Some(e.claim.to_string());
                    r.persistentvolume = Some(e.volume.to_string());
                    r.storageclass = Some(e.storage_class.to_string());
                    r.volume_labels = Some(json.clone());
                    r.all_labels = Some(json.clone());
                    r.cost_category_id = self.settings.cost_category(Some(e.namespace));
                    r.set("persistentvolumeclaim_capacity_gigabyte", 0.0);
                    r.set("persistentvolumeclaim_capacity_gigabyte_months", 0.0);
                    r.set("volume_request_storage_gigabyte_months", 0.0);
                    r.set("persistentvolumeclaim_usage_gigabyte_months", 0.0);
                    r
                });
                let capacity_gib = e.capacity_bytes / GIB;
                let c = crate::row::col("persistentvolumeclaim_capacity_gigabyte");
                row.numbers[c] = Some(row.numbers[c].unwrap_or(0.0).max(capacity_gib));
                // n hours of 3600 byte-seconds per byte, in gigabyte-months.
                let months = e.n * 3600.0 / month_seconds;
                add(
                    row,
                    "persistentvolumeclaim_capacity_gigabyte_months",
                    months * capacity_gib,
                );
                add(
                    row,
                    "volume_request_storage_gigabyte_months",
                    months * e.request_bytes / GIB / divisor,
                );
                add(
                    row,
                    "persistentvolumeclaim_usage_gigabyte_months",
                    months * e.usage_gib / divisor,
                );
            }
        }
        out.extend(rows.into_values());
    }
}

fn add(row: &mut SummaryRow, column: &str, value: f64) {
    let c = crate::row::col(column);
    row.numbers[c] = Some(row.numbers[c].unwrap_or(0.0) + value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(yaml: &str) -> Scenario {
        Scenario::from_yaml(yaml).unwrap()
    }

    fn find<'r>(rows: &'r [SummaryRow], kind: RowKind, ns: Option<&str>) -> &'r SummaryRow {
        let found: Vec<&SummaryRow> = rows
            .iter()
            .filter(|r| r.kind == kind && r.namespace.as_deref() == ns)
            .collect();
        assert_eq!(found.len(), 1, "{kind:?} {ns:?}: {rows:#?}");
        found[0]
    }

    #[track_caller]
    fn close(actual: Option<f64>, expected: f64) {
        let a = actual.expect("a number");
        assert!(
            (a - expected).abs() <= 1e-12 * expected.abs().max(1.0),
            "{a} != {expected}"
        );
    }

    #[test]
    fn hours_of_a_generator_per_day() {
        let g = |start: &str, end: &str| ResolvedGenerator {
            start: NaiveDateTime::parse_from_str(start, "%Y-%m-%d %H:%M").unwrap(),
            end: NaiveDateTime::parse_from_str(end, "%Y-%m-%d %H:%M").unwrap(),
            nodes: Vec::new(),
        };
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // A date end stops at 23:00 of the day before: 24 hours.
        let full = g("2025-10-01 00:00", "2025-10-02 00:00");
        assert_eq!(hour_count(&full), 24);
        assert_eq!(hours_on(&full, d("2025-10-01")), 24);
        assert_eq!(hours_on(&full, d("2025-10-02")), 0);
        assert_eq!(generator_days(&full), [d("2025-10-01")]);
        // 22:30 to 02:00: intervals at 22:30, 23:30, 00:30 (01:30 would end at 02:29:59).
        let odd = g("2025-10-01 22:30", "2025-10-02 02:00");
        assert_eq!(hour_count(&odd), 3);
        assert_eq!(hours_on(&odd, d("2025-10-01")), 2);
        assert_eq!(hours_on(&odd, d("2025-10-02")), 1);
        // Less than an interval: nothing.
        assert_eq!(hour_count(&g("2025-10-01 00:00", "2025-10-01 00:59")), 0);
        assert_eq!(days_in_month(d("2024-02-10")), 29);
        assert_eq!(days_in_month(d("2025-02-10")), 28);
        assert_eq!(days_in_month(d("2025-12-31")), 31);
    }

    /// By hand: 10 hours (08:00–17:00) on 2025-11-03; pod_seconds 1800 halves each hourly row.
    /// cpu usage 0.6 (capped at the limit 1 from 3), request 0.4 → usage 0.6 × 1800 × 10 / 3600
    /// = 3.0, request 2.0, effective 3.0, limit 5.0; memory: usage 2 (default: the request),
    /// limit 4 → 10.0, 10.0, 10.0, 20.0. Node 2 cores × 10 h = 20 core-hours, 8 GiB → 80.
    /// Claim 6 GiB, volume 9 GiB, usage 1.5: months = 10 h × 3600 / (86400 × 30):
    /// capacity 6 × 10 / 720 = 1/12, request 9 × 10 / 720 = 1/8, usage 1.5 × 10 / 720 = 1/48.
    #[test]
    fn closed_form_by_hand() {
        let s = scenario(
            "
generators:
  - OCPGenerator:
      start_date: 2025-11-03 08:00:00
      end_date: 2025-11-03 18:00:00
      nodes:
        - node_name: n1
          cpu_cores: 2
          memory_gig: 8
          resource_id: r1
          node_labels: label_node_role_kubernetes_io:infra|label_zone:z
          namespaces:
            ns1:
              namespace_labels: label_team:t
              pods:
                - pod_name: p1
                  cpu_request: 0.4
                  cpu_limit: 1
                  mem_request_gig: 2
                  mem_limit_gig: 4
                  pod_seconds: 1800
                  cpu_usage: {full_period: 3}
                  labels: label_app:a|label_secret:s
              volumes:
                - volume_name: v1
                  storage_class: sc
                  volume_request_gig: 9
                  volume_claims:
                    - {volume_claim_name: c1, pod_name: p1, capacity_gig: 6, volume_claim_usage_gig: {full_period: 1.5}}
",
        );
        let mut settings = Settings {
            enabled_keys: crate::settings::EnabledKeys::Keys(vec![
                "app".into(),
                "team".into(),
                "zone".into(),
            ]),
            ..Settings::default()
        };
        settings.cost_categories.insert("ns%".into(), 4);
        settings.cost_categories.insert("Platform%".into(), 9);
        let rows = expected_rows(&s, &settings, &DateRange::default()).unwrap();
        assert_eq!(rows.len(), 3);

        let pod = find(&rows, RowKind::Pod, Some("ns1"));
        assert_eq!(pod.day, NaiveDate::from_ymd_opt(2025, 11, 3).unwrap());
        assert_eq!(pod.node.as_deref(), Some("n1"));
        assert_eq!(pod.resource_id.as_deref(), Some("i-r1"));
        let labels = serde_json::json!({"app": "a", "team": "t", "zone": "z"});
        assert_eq!(pod.pod_labels.as_ref(), Some(&labels));
        assert_eq!(pod.all_labels.as_ref(), Some(&labels));
        assert_eq!(pod.cost_category_id, Some(4));
        close(pod.number("pod_usage_cpu_core_hours"), 3.0);
        close(pod.number("pod_request_cpu_core_hours"), 2.0);
        close(pod.number("pod_effective_usage_cpu_core_hours"), 3.0);
        close(pod.number("pod_limit_cpu_core_hours"), 5.0);
        close(pod.number("pod_usage_memory_gigabyte_hours"), 10.0);
        close(pod.number("pod_request_memory_gigabyte_hours"), 10.0);
        close(
            pod.number("pod_effective_usage_memory_gigabyte_hours"),
            10.0,
        );
        close(pod.number("pod_limit_memory_gigabyte_hours"), 20.0);
        close(pod.number("node_capacity_cpu_cores"), 2.0);
        close(pod.number("node_capacity_cpu_core_hours"), 20.0);
        close(pod.number("node_capacity_memory_gigabytes"), 8.0);
        close(pod.number("node_capacity_memory_gigabyte_hours"), 80.0);
        close(pod.number("cluster_capacity_cpu_core_hours"), 20.0);
        close(pod.number("cluster_capacity_memory_gigabyte_hours"), 80.0);
        assert_eq!(pod.number("persistentvolumeclaim_capacity_gigabyte"), None);

        // Infra label → Platform unallocated: 20 − 3, 20 − 2, 20 − 3; 80 − 10 (× 3).
        let un = find(&rows, RowKind::Unallocated, Some("Platform unallocated"));
        assert_eq!(un.cost_category_id, Some(9));
        assert_eq!(un.pod_labels, None);
        assert_eq!(un.all_labels, Some(serde_json::json!({})));
        close(un.number("pod_usage_cpu_core_hours"), 17.0);
        close(un.number("pod_request_cpu_core_hours"), 18.0);
        close(un.number("pod_effective_usage_cpu_core_hours"), 17.0);
        close(un.number("pod_usage_memory_gigabyte_hours"), 70.0);
        assert_eq!(un.number("pod_limit_cpu_core_hours"), None);

        let st = find(&rows, RowKind::Storage, Some("ns1"));
        assert_eq!(st.node.as_deref(), Some("n1"));
        assert_eq!(st.persistentvolumeclaim.as_deref(), Some("c1"));
        assert_eq!(
            st.volume_labels,
            Some(serde_json::json!({"team": "t", "zone": "z"}))
        );
        assert_eq!(st.pod_labels, None);
        close(st.number("persistentvolumeclaim_capacity_gigabyte"), 6.0);
        close(
            st.number("persistentvolumeclaim_capacity_gigabyte_months"),
            1.0 / 12.0,
        );
        close(
            st.number("volume_request_storage_gigabyte_months"),
            1.0 / 8.0,
        );
        close(
            st.number("persistentvolumeclaim_usage_gigabyte_months"),
            1.0 / 48.0,
        );
        assert_eq!(st.number("pod_usage_cpu_core_hours"), None);

        // A date range outside the scenario predicts nothing.
        let day = NaiveDate::from_ymd_opt(2025, 11, 4);
        let none = DateRange {
            start: day,
            end: day,
        };
        assert!(expected_rows(&s, &settings, &none).unwrap().is_empty());
    }

    #[test]
    fn overlapping_generators_on_one_node_are_refused() {
        let g = "
  - OCPGenerator:
      start_date: 2025-10-01
      end_date: 2025-10-02
      nodes:
        - node_name: n1
          namespaces:
            a:
              pods:
                - {pod_name: p}
";
        let s = scenario(&format!("generators:{g}{g}"));
        let err = expected_rows(&s, &Settings::default(), &DateRange::default()).unwrap_err();
        assert!(err.to_string().contains("node `n1`"), "{err}");
    }
}
