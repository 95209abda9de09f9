//! Generated months against a naive re-implementation of SPEC.md's Pod and Storage rows,
//! written for clarity, not speed, sharing no code with the aggregate crate. (Unallocated rows
//! are checked by the capacity-balance property in `storage`.)

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use ocpagg_fixtures::{Dataset, ScaleSpec, WriteOptions};
use serde_json::{Map, Value};

use crate::common::*;

type Labels = BTreeMap<String, String>;

fn parse(text: Option<&str>, enabled: &Option<BTreeSet<String>>) -> Labels {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Labels::new();
    };
    let Value::Object(map) = serde_json::from_str::<Value>(text).unwrap() else {
        panic!("not an object: {text}")
    };
    map.into_iter()
        .filter(|(k, _)| {
            enabled
                .as_ref()
                .is_none_or(|e| e.contains(k) || k == "vm_kubevirt_io_name")
        })
        .map(|(k, v)| {
            (
                k,
                v.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect()
}

fn unite(into: &mut Labels, from: Labels) {
    for (k, v) in from {
        let e = into.entry(k).or_insert_with(|| v.clone());
        if v > *e {
            *e = v;
        }
    }
}

#[derive(Debug, Default)]
struct Expected {
    sums: [f64; 8],
    cores: f64,
    bytes: f64,
    resource: Option<String>,
    node_cpu: f64,
    node_mem: f64,
    cluster_cpu: f64,
    cluster_mem: f64,
}

type Key = (NaiveDate, Option<String>, String, Labels);
type LabelTable = BTreeMap<(NaiveDate, Option<String>), Labels>;

fn label_tables(data: &Dataset, enabled: &Option<BTreeSet<String>>) -> (LabelTable, LabelTable) {
    let mut node_labels: BTreeMap<(NaiveDate, Option<String>), Labels> = BTreeMap::new();
    for item in &data.node_labels {
        let l = parse(item.node_labels.as_deref(), enabled);
        unite(
            node_labels
                .entry((item.interval_start.date(), item.node.clone()))
                .or_default(),
            l,
        );
    }
    let mut ns_labels: BTreeMap<(NaiveDate, Option<String>), Labels> = BTreeMap::new();
    for item in &data.namespace_labels {
        let l = parse(item.namespace_labels.as_deref(), enabled);
        unite(
            ns_labels
                .entry((item.interval_start.date(), item.namespace.clone()))
                .or_default(),
            l,
        );
    }
    (node_labels, ns_labels)
}

fn oracle(data: &Dataset, enabled: &Option<BTreeSet<String>>) -> BTreeMap<Key, Expected> {
    let (node_labels, ns_labels) = label_tables(data, enabled);
    let mut hourly: BTreeMap<(chrono::NaiveDateTime, Option<String>), (f64, f64)> = BTreeMap::new();
    for p in &data.pods {
        let e = hourly
            .entry((p.interval_start, p.node.clone()))
            .or_insert((f64::MIN, f64::MIN));
        e.0 = e.0.max(p.node_capacity_cpu_core_seconds);
        e.1 = e.1.max(p.node_capacity_memory_byte_seconds);
    }
    let mut node_cap: BTreeMap<(NaiveDate, Option<String>), (f64, f64)> = BTreeMap::new();
    let mut cluster_cap: BTreeMap<NaiveDate, (f64, f64)> = BTreeMap::new();
    for ((ts, node), (c, m)) in hourly {
        let e = node_cap.entry((ts.date(), node)).or_default();
        e.0 += c;
        e.1 += m;
        let e = cluster_cap.entry(ts.date()).or_default();
        e.0 += c;
        e.1 += m;
    }
    let mut out: BTreeMap<Key, Expected> = BTreeMap::new();
    for p in &data.pods {
        let Some(node) = p.node.clone().filter(|n| !n.is_empty()) else {
            continue;
        };
        let d = p.interval_start.date();
        let mut labels = node_labels
            .get(&(d, Some(node.clone())))
            .cloned()
            .unwrap_or_default();
        labels.extend(
            ns_labels
                .get(&(d, p.namespace.clone()))
                .cloned()
                .unwrap_or_default(),
        );
        labels.extend(parse(p.pod_labels.as_deref(), enabled));
        let e = out
            .entry((d, p.namespace.clone(), node.clone(), labels))
            .or_default();
        let eff = |e: Option<f64>, u: f64, r: f64| e.unwrap_or(u.max(r));
        let values = [
            p.usage_cpu_core_seconds,
            p.request_cpu_core_seconds,
            eff(
                p.effective_cpu_core_seconds,
                p.usage_cpu_core_seconds,
                p.request_cpu_core_seconds,
            ),
            p.limit_cpu_core_seconds,
            p.usage_memory_byte_seconds,
            p.request_memory_byte_seconds,
            eff(
                p.effective_memory_byte_seconds,
                p.usage_memory_byte_seconds,
                p.request_memory_byte_seconds,
            ),
            p.limit_memory_byte_seconds,
        ];
        for (s, v) in e.sums.iter_mut().zip(values) {
            *s += v;
        }
        e.cores = e.cores.max(p.node_capacity_cpu_cores);
        e.bytes = e.bytes.max(p.node_capacity_memory_bytes);
        if p.resource_id > e.resource {
            e.resource = p.resource_id.clone();
        }
        let nc = node_cap[&(d, Some(node.clone()))];
        (e.node_cpu, e.node_mem) = nc;
        (e.cluster_cpu, e.cluster_mem) = cluster_cap[&d];
    }
    out
}

fn labels_of(v: &Value) -> Labels {
    let Value::Object(m) = v else { panic!("{v:?}") };
    m.iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

fn check_against_oracle(data: &Dataset, rows: &[Row], enabled: &Option<BTreeSet<String>>) {
    check_storage_against_oracle(data, rows, enabled);
    let rows = &pod_rows(rows)[..];
    let expected = oracle(data, enabled);
    assert_eq!(rows.len(), expected.len(), "row count");
    const GIB: f64 = 1.0 / 1073741824.0;
    let cols = [
        ("pod_usage_cpu_core_hours", 1.0 / 3600.0),
        ("pod_request_cpu_core_hours", 1.0 / 3600.0),
        ("pod_effective_usage_cpu_core_hours", 1.0 / 3600.0),
        ("pod_limit_cpu_core_hours", 1.0 / 3600.0),
        ("pod_usage_memory_gigabyte_hours", GIB / 3600.0),
        ("pod_request_memory_gigabyte_hours", GIB / 3600.0),
        ("pod_effective_usage_memory_gigabyte_hours", GIB / 3600.0),
        ("pod_limit_memory_gigabyte_hours", GIB / 3600.0),
    ];
    for r in rows {
        let d = NaiveDate::parse_from_str(r.s("usage_start").unwrap(), "%Y-%m-%d").unwrap();
        let key = (
            d,
            r.s("namespace").map(String::from),
            r.s("node").unwrap().to_string(),
            labels_of(&r.json("pod_labels")),
        );
        let e = expected
            .get(&key)
            .unwrap_or_else(|| panic!("unexpected row {key:?}"));
        for ((col, scale), sum) in cols.iter().zip(e.sums) {
            close(r.f(col), sum * scale);
        }
        close(r.f("node_capacity_cpu_cores"), e.cores);
        close(r.f("node_capacity_memory_gigabytes"), e.bytes * GIB);
        close(r.f("node_capacity_cpu_core_hours"), e.node_cpu / 3600.0);
        close(
            r.f("node_capacity_memory_gigabyte_hours"),
            e.node_mem / 3600.0 * GIB,
        );
        close(
            r.f("cluster_capacity_cpu_core_hours"),
            e.cluster_cpu / 3600.0,
        );
        close(
            r.f("cluster_capacity_memory_gigabyte_hours"),
            e.cluster_mem / 3600.0 * GIB,
        );
        assert_eq!(r.s("resource_id"), e.resource.as_deref());
        assert_eq!(r.json("all_labels"), r.json("pod_labels"));
    }
}

/// (day, namespace, node, resource_id, pvc, pv, storage class, volume labels). The CSI handle
/// is a grouping key but not an output column; the generator gives each volume one.
type StorageKey = (
    NaiveDate,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Labels,
);

#[derive(Debug, Default)]
struct ExpectedStorage {
    capacity_bytes: f64,
    capacity: f64,
    request: f64,
    usage: f64,
}

/// SPEC.md "Storage rows", naively: each storage item is placed on every (node, resource_id)
/// its pod ran on that day, or on (null, null); request and usage are divided by the number
/// of distinct nodes its volume was seen on that day (1 if none).
fn storage_oracle(
    data: &Dataset,
    enabled: &Option<BTreeSet<String>>,
) -> BTreeMap<StorageKey, (ExpectedStorage, usize)> {
    let (node_labels, ns_labels) = label_tables(data, enabled);
    type Pair = (Option<String>, Option<String>);
    let mut placements: BTreeMap<(NaiveDate, String, String), BTreeSet<Pair>> = BTreeMap::new();
    for p in &data.pods {
        if let (Some(ns), Some(pod)) = (&p.namespace, &p.pod) {
            placements
                .entry((p.interval_start.date(), ns.clone(), pod.clone()))
                .or_default()
                .insert((p.node.clone(), p.resource_id.clone()));
        }
    }
    let pairs_of = |s: &ocpagg_fixtures::StorageItem| -> Vec<Pair> {
        match (&s.namespace, &s.pod) {
            (Some(ns), Some(pod)) => placements
                .get(&(s.interval_start.date(), ns.clone(), pod.clone()))
                .map(|p| p.iter().cloned().collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    };
    let mut volume_nodes: BTreeMap<(NaiveDate, String), BTreeSet<String>> = BTreeMap::new();
    for s in &data.storage {
        let Some(pv) = &s.persistentvolume else {
            continue;
        };
        for (node, _) in pairs_of(s) {
            if let Some(node) = node {
                volume_nodes
                    .entry((s.interval_start.date(), pv.clone()))
                    .or_default()
                    .insert(node);
            }
        }
    }
    let mut out: BTreeMap<StorageKey, (ExpectedStorage, usize)> = BTreeMap::new();
    for s in &data.storage {
        let d = s.interval_start.date();
        let mut pairs = pairs_of(s);
        if pairs.is_empty() {
            pairs.push((None, None));
        }
        let nodes = s
            .persistentvolume
            .as_ref()
            .and_then(|pv| volume_nodes.get(&(d, pv.clone())))
            .map_or(1, |n| n.len().max(1));
        for (node, resource) in pairs {
            let mut labels = node
                .as_ref()
                .and_then(|n| node_labels.get(&(d, Some(n.clone()))))
                .cloned()
                .unwrap_or_default();
            labels.extend(
                ns_labels
                    .get(&(d, s.namespace.clone()))
                    .cloned()
                    .unwrap_or_default(),
            );
            labels.extend(parse(s.persistentvolume_labels.as_deref(), enabled));
            labels.extend(parse(s.persistentvolumeclaim_labels.as_deref(), enabled));
            let key = (
                d,
                s.namespace.clone(),
                node,
                resource,
                s.persistentvolumeclaim.clone(),
                s.persistentvolume.clone(),
                s.storageclass.clone(),
                labels,
            );
            let (e, n) = out.entry(key).or_default();
            e.capacity_bytes = e.capacity_bytes.max(s.capacity_bytes);
            e.capacity += s.capacity_byte_seconds;
            e.request += s.request_byte_seconds;
            e.usage += s.usage_byte_seconds;
            *n = nodes;
        }
    }
    out
}

fn check_storage_against_oracle(data: &Dataset, rows: &[Row], enabled: &Option<BTreeSet<String>>) {
    let expected = storage_oracle(data, enabled);
    let rows = storage_rows(rows);
    assert!(!rows.is_empty(), "the generated month has storage");
    assert!(
        expected.keys().any(|k| k.2.is_none()),
        "the generated month has a claim whose pod never ran"
    );
    assert!(
        expected.values().any(|(_, nodes)| *nodes == 2),
        "the generated month has a volume on two nodes"
    );
    assert_eq!(rows.len(), expected.len(), "Storage row count");
    const GIB: f64 = 1.0 / 1073741824.0;
    let month = 86400.0 * 31.0;
    let text = |r: &Row, c: &str| r.s(c).map(String::from);
    for r in &rows {
        let key = (
            NaiveDate::parse_from_str(r.s("usage_start").unwrap(), "%Y-%m-%d").unwrap(),
            text(r, "namespace"),
            text(r, "node"),
            text(r, "resource_id"),
            text(r, "persistentvolumeclaim"),
            text(r, "persistentvolume"),
            text(r, "storageclass"),
            labels_of(&r.json("volume_labels")),
        );
        let (e, nodes) = expected
            .get(&key)
            .unwrap_or_else(|| panic!("unexpected Storage row {key:?}"));
        let nodes = *nodes as f64;
        close(
            r.f("persistentvolumeclaim_capacity_gigabyte"),
            e.capacity_bytes * GIB,
        );
        close(
            r.f("persistentvolumeclaim_capacity_gigabyte_months"),
            e.capacity / month * GIB,
        );
        close(
            r.f("volume_request_storage_gigabyte_months"),
            e.request / nodes / month * GIB,
        );
        close(
            r.f("persistentvolumeclaim_usage_gigabyte_months"),
            e.usage / nodes / month * GIB,
        );
        assert_eq!(r.json("all_labels"), r.json("volume_labels"));
        assert!(r.get("pod_labels").is_null());
    }
}

fn month(pod_rows: u64, seed: u64) -> (ScaleSpec, Dataset) {
    let mut spec = ScaleSpec::new(2025, 10, pod_rows);
    spec.seed = seed;
    let mut all = Dataset::default();
    for d in spec.days() {
        all.append(d);
    }
    (spec, all)
}

/// A generated month with every label key enabled, then with a subset.
#[test]
fn generated_month_matches_oracle() {
    let (_, data) = month(40_000, 7);
    assert!(
        data.pods.iter().any(|p| p.node.as_deref() == Some("")),
        "fixture has unscheduled pods"
    );
    let lake = Lake::new(&data);
    let rows = run_rows(&lake.config());
    check_against_oracle(&data, &rows, &None);

    // Enable a subset: the keys of one pod label string and one node label string.
    let mut keys = BTreeSet::new();
    for text in [
        data.pods
            .iter()
            .find_map(|p| p.pod_labels.clone().filter(|l| l.len() > 2)),
        data.node_labels.first().and_then(|n| n.node_labels.clone()),
    ]
    .into_iter()
    .flatten()
    {
        if let Value::Object(m) = serde_json::from_str::<Value>(&text).unwrap() {
            keys.extend(m.keys().take(2).cloned());
        }
    }
    assert!(!keys.is_empty());
    let mut config = lake.config();
    config.enabled_keys = Some(keys.iter().cloned().collect());
    let rows = run_rows(&config);
    check_against_oracle(&data, &rows, &Some(keys));
    let _ = Map::<String, Value>::new();
}

/// The README's row order ("Row order"): Pod and Storage rows day by day, each day sorted by
/// data source, namespace, node, resource id, labels and claim; then every unallocated row,
/// sorted the same way. Null sorts before any text.
fn readme_order_key(r: &Row) -> (bool, Vec<(bool, String)>) {
    let text = |c: &str| match r.get(c) {
        Value::Null => (false, String::new()),
        Value::String(s) => (true, s.clone()),
        other => panic!("{c} is {other:?}"),
    };
    let columns = [
        "usage_start",
        "data_source",
        "namespace",
        "node",
        "resource_id",
        "pod_labels",
        "volume_labels",
        "persistentvolumeclaim",
        "persistentvolume",
        "storageclass",
    ];
    (is_unallocated(r), columns.iter().map(|c| text(c)).collect())
}

/// Results are bit-identical whatever the thread count and batch size (exact sums), and so
/// is the row order, which is the README's.
#[test]
fn identical_for_any_thread_count_and_batch_size() {
    let (_, data) = month(30_000, 11);
    let lake = Lake::write(
        &data,
        &WriteOptions {
            files_per_day: 2,
            row_group_size: 4096,
            ..WriteOptions::default()
        },
    );
    let mut outputs = Vec::new();
    for (threads, batch) in [(1, 65_536), (2, 65_536), (7, 1000), (3, 333)] {
        let mut config = lake.config();
        config.threads = Some(threads);
        config.batch_size = Some(batch);
        let rows = run_rows(&config);
        let keys: Vec<_> = rows.iter().map(readme_order_key).collect();
        for (i, pair) in keys.windows(2).enumerate() {
            assert!(
                pair[0] <= pair[1],
                "threads {threads}, batch {batch}: row {} is out of the README's order:\n{:?}\n{:?}",
                i + 1,
                pair[0],
                pair[1]
            );
        }
        outputs.push(rows.iter().map(Row::without_uuid).collect::<Vec<_>>());
    }
    assert!(outputs[0].len() > 1000, "{} rows", outputs[0].len());
    for o in &outputs[1..] {
        assert_eq!(o, &outputs[0], "the same rows in the same order");
    }
}
