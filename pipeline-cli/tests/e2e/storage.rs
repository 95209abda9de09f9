//! Storage rows, unallocated rows and node roles: small hand-written inputs with expectations
//! computed by hand in the comments, plus a property check on generated months.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use ocpagg_fixtures::{
    hours, Dataset, NodeLabelItem, PodItem, ScaleSpec, StorageItem, WriteOptions,
};
use serde_json::json;

use crate::common::*;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A pod on `node` for hours `from..to` of `on`, 1 core used, 2 requested, on a 4-core
/// 16 GiB node (memory: 1 GiB used, 2 requested).
fn pod_hours(
    data: &mut Dataset,
    on: NaiveDate,
    from: u32,
    to: u32,
    ns: &str,
    node: &str,
    pod: &str,
) {
    for ts in hours(on, from, to) {
        data.pods.push(
            PodItem::new(ts, ns, node, pod)
                .cpu(1.0, 2.0, 4.0)
                .memory_gib(1.0, 2.0, 4.0)
                .node_capacity(4.0, 16.0),
        );
    }
}

/// A claim mounted by `pod`: `capacity` GiB capacity and request, `used` GiB used, storage
/// class `gp3-csi`; [`claims_day`] sets its hours.
fn claim(ns: &str, pod: &str, pvc: &str, pv: &str, capacity: f64, used: f64) -> StorageItem {
    StorageItem::new(
        NaiveDate::MIN.and_time(Default::default()),
        ns,
        pod,
        pvc,
        pv,
    )
    .storageclass("gp3-csi")
    .capacity_gib(capacity)
    .request_gib(capacity)
    .usage_gib(used)
}

/// The claim for every hour of `on`.
/// Each of `claims` for all 24 hours of `on`.
fn claims_day<const N: usize>(data: &mut Dataset, on: NaiveDate, claims: [StorageItem; N]) {
    for claim in claims {
        for ts in hours(on, 0, 24) {
            data.storage.push(StorageItem {
                interval_start: ts,
                ..claim.clone()
            });
        }
    }
}

fn node_labels_day(data: &mut Dataset, on: NaiveDate, node: &str, labels: &str) {
    for ts in hours(on, 0, 24) {
        data.node_labels.push(NodeLabelItem::new(ts, node, labels));
    }
}

fn month_config(lake: &Lake, year: i32, month: u32) -> ocpagg_cli::config::RunConfig {
    let mut config = lake.config();
    config.year = Some(year);
    config.month = Some(month);
    config
}

/// One 20 GiB claim for a full day: capacity 20 GiB, and 20 GiB for 1 day of an n-day month
/// is 20/n gigabyte-months (capacity and request; usage 5/n).
#[test]
fn full_day_claim_is_capacity_over_days_in_month() {
    for (year, month, days) in [(2025, 10, 31.0), (2025, 2, 28.0), (2024, 2, 29.0)] {
        let on = date(year, month, 3);
        let mut data = Dataset::default();
        pod_hours(&mut data, on, 0, 24, "db", "worker-1", "db-0");
        // storage_usage's own node column is not used: the pod's node is.
        let on_other_node = claim("db", "db-0", "data-db-0", "pv-1", 20.0, 5.0)
            .node("some-other-node")
            .csi("ebs.csi.aws.com", "vol-1");
        claims_day(&mut data, on, [on_other_node]);
        let lake = Lake::new(&data);
        let rows = storage_rows(&run_rows(&month_config(&lake, year, month)));
        assert_eq!(rows.len(), 1, "{rows:#?}");
        let r = &rows[0];
        assert_eq!(r.s("usage_start"), Some(on.to_string().as_str()));
        assert_eq!(r.s("usage_end"), Some(on.to_string().as_str()));
        assert_eq!(r.s("namespace"), Some("db"));
        assert_eq!(r.s("node"), Some("worker-1"));
        assert_eq!(r.s("resource_id"), Some("i-worker-1"));
        assert_eq!(r.s("persistentvolumeclaim"), Some("data-db-0"));
        assert_eq!(r.s("persistentvolume"), Some("pv-1"));
        assert_eq!(r.s("storageclass"), Some("gp3-csi"));
        close(r.f("persistentvolumeclaim_capacity_gigabyte"), 20.0);
        close(
            r.f("persistentvolumeclaim_capacity_gigabyte_months"),
            20.0 / days,
        );
        close(r.f("volume_request_storage_gigabyte_months"), 20.0 / days);
        close(
            r.f("persistentvolumeclaim_usage_gigabyte_months"),
            5.0 / days,
        );
        assert_eq!(r.json("volume_labels"), json!({}));
        assert_eq!(r.json("all_labels"), json!({}));
        assert_eq!(r.json("pod_labels"), serde_json::Value::Null);
        assert_eq!(
            r.json("infrastructure_usage_cost"),
            json!({"cpu": 0, "memory": 0, "storage": 0})
        );
        for c in [
            "pod_usage_cpu_core_hours",
            "pod_request_cpu_core_hours",
            "pod_effective_usage_cpu_core_hours",
            "pod_limit_cpu_core_hours",
            "pod_usage_memory_gigabyte_hours",
            "pod_request_memory_gigabyte_hours",
            "pod_effective_usage_memory_gigabyte_hours",
            "pod_limit_memory_gigabyte_hours",
            "node_capacity_cpu_cores",
            "node_capacity_cpu_core_hours",
            "node_capacity_memory_gigabytes",
            "node_capacity_memory_gigabyte_hours",
            "cluster_capacity_cpu_core_hours",
            "cluster_capacity_memory_gigabyte_hours",
            "cost_category_id",
        ] {
            assert!(r.get(c).is_null(), "{c} should be null on a Storage row");
        }
    }
}

/// A volume mounted by pods on two nodes: one row per node, request and usage divided by the
/// node count (2), capacity not. A pod that moved node at noon makes its claim a row on each
/// node, each with the whole day's claim sums (koku's join), request and usage halved.
#[test]
fn volume_on_two_nodes_halves_request_and_usage() {
    let on = date(2025, 10, 1);
    let mut data = Dataset::default();
    pod_hours(&mut data, on, 0, 24, "app", "worker-1", "writer");
    pod_hours(&mut data, on, 0, 24, "app", "worker-2", "reader");
    claims_day(
        &mut data,
        on,
        [
            claim("app", "writer", "shared", "pv-shared", 50.0, 10.0),
            claim("app", "reader", "shared", "pv-shared", 50.0, 10.0),
        ],
    );
    pod_hours(&mut data, on, 0, 12, "app", "worker-1", "mover");
    pod_hours(&mut data, on, 12, 24, "app", "worker-3", "mover");
    claims_day(
        &mut data,
        on,
        [claim("app", "mover", "moving", "pv-moving", 8.0, 4.0)],
    );
    let lake = Lake::new(&data);
    let rows = storage_rows(&run_rows(&lake.config()));
    assert_eq!(rows.len(), 4, "{rows:#?}");
    let find = |pvc: &str, node: &str| {
        let found: Vec<&Row> = rows
            .iter()
            .filter(|r| r.s("persistentvolumeclaim") == Some(pvc) && r.s("node") == Some(node))
            .collect();
        assert_eq!(found.len(), 1, "{pvc} on {node}: {rows:#?}");
        found[0]
    };
    for node in ["worker-1", "worker-2"] {
        let r = find("shared", node);
        assert_eq!(r.s("resource_id"), Some(format!("i-{node}").as_str()));
        close(r.f("persistentvolumeclaim_capacity_gigabyte"), 50.0);
        close(
            r.f("persistentvolumeclaim_capacity_gigabyte_months"),
            50.0 / 31.0,
        );
        close(
            r.f("volume_request_storage_gigabyte_months"),
            50.0 / 31.0 / 2.0,
        );
        close(
            r.f("persistentvolumeclaim_usage_gigabyte_months"),
            10.0 / 31.0 / 2.0,
        );
    }
    for node in ["worker-1", "worker-3"] {
        let r = find("moving", node);
        close(
            r.f("persistentvolumeclaim_capacity_gigabyte_months"),
            8.0 / 31.0,
        );
        close(
            r.f("volume_request_storage_gigabyte_months"),
            8.0 / 31.0 / 2.0,
        );
        close(
            r.f("persistentvolumeclaim_usage_gigabyte_months"),
            4.0 / 31.0 / 2.0,
        );
    }
}

/// A claim whose pod is not found that day: node and resource_id null, request and usage
/// counted once (SPEC.md's third point) — or divided by the volume's node count when the
/// volume was seen on nodes through another claim that day.
#[test]
fn claim_without_pod_is_counted_once() {
    let on = date(2025, 10, 1);
    let mut data = Dataset::default();
    pod_hours(&mut data, on, 0, 24, "app", "worker-1", "a");
    pod_hours(&mut data, on, 0, 24, "app", "worker-2", "b");
    claims_day(
        &mut data,
        on,
        [
            claim("app", "deleted-job", "orphan", "pv-orphan", 10.0, 2.0),
            claim("app", "a", "shared", "pv-shared", 30.0, 6.0),
            claim("app", "b", "shared", "pv-shared", 30.0, 6.0),
            claim("app", "gone", "shared", "pv-shared", 30.0, 6.0),
        ],
    );
    let lake = Lake::new(&data);
    let rows = storage_rows(&run_rows(&lake.config()));
    assert_eq!(rows.len(), 4, "{rows:#?}");
    let unplaced: Vec<&Row> = rows.iter().filter(|r| r.get("node").is_null()).collect();
    assert_eq!(unplaced.len(), 2, "{rows:#?}");
    for r in &unplaced {
        assert!(r.get("resource_id").is_null());
        assert_eq!(r.s("namespace"), Some("app"));
    }
    let orphan = unplaced
        .iter()
        .find(|r| r.s("persistentvolumeclaim") == Some("orphan"))
        .unwrap();
    close(
        orphan.f("persistentvolumeclaim_capacity_gigabyte_months"),
        10.0 / 31.0,
    );
    close(
        orphan.f("volume_request_storage_gigabyte_months"),
        10.0 / 31.0,
    );
    close(
        orphan.f("persistentvolumeclaim_usage_gigabyte_months"),
        2.0 / 31.0,
    );
    let gone = unplaced
        .iter()
        .find(|r| r.s("persistentvolumeclaim") == Some("shared"))
        .unwrap();
    close(
        gone.f("persistentvolumeclaim_capacity_gigabyte_months"),
        30.0 / 31.0,
    );
    close(
        gone.f("volume_request_storage_gigabyte_months"),
        30.0 / 31.0 / 2.0,
    );
    close(
        gone.f("persistentvolumeclaim_usage_gigabyte_months"),
        6.0 / 31.0 / 2.0,
    );
}

/// Volume labels: PVC wins over PV wins over namespace wins over node; filtered to enabled
/// keys; pod labels play no part.
#[test]
fn volume_label_precedence_pvc_pv_namespace_node() {
    let on = date(2025, 10, 1);
    let mut data = Dataset::default();
    for ts in hours(on, 0, 24) {
        data.pods.push(
            PodItem::new(ts, "app", "worker-1", "p")
                .cpu(1.0, 1.0, 1.0)
                .node_capacity(4.0, 16.0)
                .labels(r#"{"a": "pod", "e": "pod"}"#),
        );
        data.namespace_labels
            .push(ocpagg_fixtures::NamespaceLabelItem::new(
                ts,
                "app",
                r#"{"a": "ns", "b": "ns", "c": "ns"}"#,
            ));
    }
    node_labels_day(
        &mut data,
        on,
        "worker-1",
        r#"{"a": "node", "b": "node", "c": "node", "d": "node"}"#,
    );
    claims_day(
        &mut data,
        on,
        [claim("app", "p", "data", "pv-1", 1.0, 1.0)
            .pv_labels(r#"{"a": "pv", "b": "pv"}"#)
            .pvc_labels(r#"{"a": "pvc"}"#)],
    );
    let lake = Lake::new(&data);
    let rows = storage_rows(&run_rows(&lake.config()));
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let want = json!({"a": "pvc", "b": "pv", "c": "ns", "d": "node"});
    assert_eq!(rows[0].json("volume_labels"), want);
    assert_eq!(rows[0].json("all_labels"), want);
    let mut config = lake.config();
    config.enabled_keys = Some(vec!["a, c".into()]);
    let rows = storage_rows(&run_rows(&config));
    assert_eq!(
        rows[0].json("volume_labels"),
        json!({"a": "pvc", "c": "ns"})
    );
}

/// A month where day 2 has pods but no storage data: Storage rows on days 1 and 3 only.
#[test]
fn day_without_storage_has_no_storage_rows() {
    let mut data = Dataset::default();
    for d in 1..=3 {
        pod_hours(
            &mut data,
            date(2025, 10, d),
            0,
            24,
            "db",
            "worker-1",
            "db-0",
        );
    }
    for d in [1, 3] {
        let data_claim = claim("db", "db-0", "data", "pv-1", 20.0, 5.0);
        claims_day(&mut data, date(2025, 10, d), [data_claim]);
    }
    let lake = Lake::new(&data);
    let all = run_rows(&lake.config());
    assert_eq!(pod_rows(&all).len(), 3);
    let rows = storage_rows(&all);
    let days: Vec<&str> = rows.iter().map(|r| r.s("usage_start").unwrap()).collect();
    assert_eq!(days, ["2025-10-01", "2025-10-03"]);
    for r in &rows {
        close(
            r.f("persistentvolumeclaim_capacity_gigabyte_months"),
            20.0 / 31.0,
        );
    }
}

/// An API-server node, an infra node and a worker, each with pods: three unallocated rows
/// with capacity minus use. Every node has 4 cores = 96 core-hours and 16 GiB = 384 GiB-hours
/// a day; each pod uses 1 core (24 core-hours) and 1 GiB, requests 2 (48).
#[test]
fn unallocated_rows_per_role() {
    let on = date(2025, 10, 1);
    let mut data = Dataset::default();
    pod_hours(
        &mut data,
        on,
        0,
        24,
        "openshift-kube-apiserver",
        "cp-1",
        "kube-apiserver-cp-1",
    );
    pod_hours(
        &mut data,
        on,
        0,
        24,
        "openshift-ingress",
        "infra-1",
        "router",
    );
    pod_hours(&mut data, on, 0, 24, "web", "worker-1", "web-1");
    pod_hours(&mut data, on, 0, 24, "batch", "worker-1", "job-1");
    // A pod with no node: not in any node's Σ.
    pod_hours(&mut data, on, 0, 24, "web", "", "pending");
    node_labels_day(
        &mut data,
        on,
        "cp-1",
        r#"{"node_role_kubernetes_io": "master"}"#,
    );
    node_labels_day(
        &mut data,
        on,
        "infra-1",
        r#"{"node_role_kubernetes_io": "infra", "zone": "a"}"#,
    );
    node_labels_day(
        &mut data,
        on,
        "worker-1",
        r#"{"node_role_kubernetes_io": "worker"}"#,
    );
    let lake = Lake::new(&data);
    let mut config = lake.config();
    config.cost_category = Some(vec!["%unallocated=5".into(), "Platform%=7".into()]);
    let rows = unallocated_rows(&run_rows(&config));
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let by_node: BTreeMap<&str, &Row> = rows.iter().map(|r| (r.s("node").unwrap(), r)).collect();
    // cluster: 3 nodes with capacity + the '' node of the pending pod, 4 cores each.
    for (node, namespace, pods, category) in [
        ("cp-1", "Platform unallocated", 1.0, 7),
        ("infra-1", "Platform unallocated", 1.0, 7),
        ("worker-1", "Worker unallocated", 2.0, 5),
    ] {
        let r = by_node[node];
        assert_eq!(r.s("data_source"), Some("Pod"));
        assert_eq!(r.s("namespace"), Some(namespace), "{node}");
        assert_eq!(r.s("resource_id"), Some(format!("i-{node}").as_str()));
        assert_eq!(r.get("cost_category_id"), &json!(category), "{node}");
        close(r.f("pod_usage_cpu_core_hours"), 96.0 - pods * 24.0);
        close(r.f("pod_request_cpu_core_hours"), 96.0 - pods * 48.0);
        close(
            r.f("pod_effective_usage_cpu_core_hours"),
            96.0 - pods * 48.0,
        );
        close(r.f("pod_usage_memory_gigabyte_hours"), 384.0 - pods * 24.0);
        close(
            r.f("pod_request_memory_gigabyte_hours"),
            384.0 - pods * 48.0,
        );
        close(
            r.f("pod_effective_usage_memory_gigabyte_hours"),
            384.0 - pods * 48.0,
        );
        close(r.f("node_capacity_cpu_cores"), 4.0);
        close(r.f("node_capacity_cpu_core_hours"), 96.0);
        close(r.f("node_capacity_memory_gigabytes"), 16.0);
        close(r.f("node_capacity_memory_gigabyte_hours"), 384.0);
        close(r.f("cluster_capacity_cpu_core_hours"), 4.0 * 96.0);
        close(r.f("cluster_capacity_memory_gigabyte_hours"), 4.0 * 384.0);
        assert_eq!(r.s("all_labels"), Some("{}"));
        for c in [
            "pod_labels",
            "volume_labels",
            "pod_limit_cpu_core_hours",
            "pod_limit_memory_gigabyte_hours",
            "infrastructure_usage_cost",
            "persistentvolumeclaim",
            "persistentvolume",
            "storageclass",
            "persistentvolumeclaim_capacity_gigabyte",
            "persistentvolumeclaim_capacity_gigabyte_months",
            "volume_request_storage_gigabyte_months",
            "persistentvolumeclaim_usage_gigabyte_months",
        ] {
            assert!(
                r.get(c).is_null(),
                "{c} should be null on an unallocated row"
            );
        }
    }
}

/// A node with no Pod rows on a day gets no unallocated row that day, even with labels and
/// capacity (here worker-2 on day 2 only runs a pod... on no node).
#[test]
fn node_without_pods_that_day_has_no_unallocated_row() {
    let mut data = Dataset::default();
    for d in [1, 2] {
        pod_hours(
            &mut data,
            date(2025, 10, d),
            0,
            24,
            "web",
            "worker-1",
            "web-1",
        );
        node_labels_day(&mut data, date(2025, 10, d), "worker-1", "{}");
        node_labels_day(&mut data, date(2025, 10, d), "worker-2", "{}");
    }
    pod_hours(
        &mut data,
        date(2025, 10, 1),
        0,
        24,
        "web",
        "worker-2",
        "web-2",
    );
    pod_hours(&mut data, date(2025, 10, 2), 0, 24, "web", "", "web-2");
    let lake = Lake::new(&data);
    let rows = unallocated_rows(&run_rows(&lake.config()));
    let keys: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.s("usage_start").unwrap(), r.s("node").unwrap()))
        .collect();
    assert_eq!(
        keys,
        [
            ("2025-10-01", "worker-1"),
            ("2025-10-01", "worker-2"),
            ("2025-10-02", "worker-1")
        ]
    );
    assert!(rows
        .iter()
        .all(|r| r.s("namespace") == Some("Worker unallocated")));
}

/// Node roles, first of: the `node_role` column; configuration; derivation (API-server pod →
/// master; the raw label text `"node_role_kubernetes_io": "infra"` → infra, matched as text,
/// so other spacing does not match; else worker). A node without node_labels rows gets no
/// derived role, so its unallocated row has a null namespace (and no cost category).
#[test]
fn node_role_derivation_and_precedence() {
    let on = date(2025, 10, 1);
    let mut data = Dataset::default();
    pod_hours(
        &mut data,
        on,
        0,
        24,
        "openshift-kube-apiserver",
        "cp-1",
        "kube-apiserver",
    );
    pod_hours(&mut data, on, 0, 24, "web", "labelled-infra", "a");
    pod_hours(&mut data, on, 0, 24, "web", "tight-infra", "b");
    pod_hours(&mut data, on, 0, 24, "web", "plain", "c");
    pod_hours(&mut data, on, 0, 24, "web", "unlabelled", "d");
    pod_hours(&mut data, on, 0, 24, "web", "configured", "e");
    for ts in hours(on, 0, 24) {
        // The data's node_role wins over the labels' infra text.
        data.pods.push(
            PodItem::new(ts, "web", "role-column", "f")
                .cpu(1.0, 2.0, 4.0)
                .node_capacity(4.0, 16.0)
                .role("worker"),
        );
    }
    node_labels_day(&mut data, on, "cp-1", "{}");
    node_labels_day(
        &mut data,
        on,
        "labelled-infra",
        r#"{"node_role_kubernetes_io": "infra"}"#,
    );
    node_labels_day(
        &mut data,
        on,
        "tight-infra",
        r#"{"node_role_kubernetes_io":"infra"}"#,
    );
    node_labels_day(
        &mut data,
        on,
        "plain",
        r#"{"kubernetes_io_hostname": "plain"}"#,
    );
    node_labels_day(&mut data, on, "configured", "{}");
    node_labels_day(
        &mut data,
        on,
        "role-column",
        r#"{"node_role_kubernetes_io": "infra"}"#,
    );
    let lake = Lake::new(&data);
    let mut config = lake.config();
    // Configuration wins over derivation (which would say worker).
    config.node_role = Some(vec!["configured=infra".into()]);
    config.cost_category = Some(vec!["%=1".into()]);
    let rows = unallocated_rows(&run_rows(&config));
    let namespaces: BTreeMap<&str, Option<&str>> = rows
        .iter()
        .map(|r| (r.s("node").unwrap(), r.s("namespace")))
        .collect();
    let want: BTreeMap<&str, Option<&str>> = [
        ("cp-1", Some("Platform unallocated")),
        ("labelled-infra", Some("Platform unallocated")),
        ("tight-infra", Some("Worker unallocated")),
        ("plain", Some("Worker unallocated")),
        ("unlabelled", None),
        ("configured", Some("Platform unallocated")),
        ("role-column", Some("Worker unallocated")),
    ]
    .into_iter()
    .collect();
    assert_eq!(namespaces, want);
    let unlabelled = rows
        .iter()
        .find(|r| r.s("node") == Some("unlabelled"))
        .unwrap();
    assert!(unlabelled.get("cost_category_id").is_null());
    close(unlabelled.f("pod_usage_cpu_core_hours"), 96.0 - 24.0);
}

/// Storage from koku's daily roll-up and from the hourly files give identical rows.
#[test]
fn daily_and_hourly_storage_identical() {
    let mut spec = ScaleSpec::new(2025, 10, 8_000);
    spec.seed = 5;
    let mut data = Dataset::default();
    for d in spec.days() {
        data.append(d);
    }
    assert!(!data.storage.is_empty());
    let with_daily = Lake::write(
        &data,
        &WriteOptions {
            files_per_day: 2,
            ..WriteOptions::default()
        },
    );
    let hourly_only = Lake::write(&data, &WriteOptions::hourly_only());
    let (daily_report, daily_rows) = run(&with_daily.config());
    let (hourly_report, hourly_rows) = run(&hourly_only.config());
    assert!(daily_report.storage_from_daily);
    assert!(!hourly_report.storage_from_daily);
    assert!(daily_report.rows_read.contains_key("storage_usage (daily)"));
    assert!(!storage_rows(&daily_rows).is_empty());
    assert_eq!(comparable(&daily_rows), comparable(&hourly_rows));
}

/// For generated months: per (day, node), the Pod rows plus the unallocated row add up to the
/// node's capacity hours, for usage, request and effective usage, CPU and memory. Every node
/// with Pod rows has exactly one unallocated row, with the role the generator gave it.
#[test]
fn pods_plus_unallocated_equal_capacity() {
    let measures = [
        ("pod_usage_cpu_core_hours", "node_capacity_cpu_core_hours"),
        ("pod_request_cpu_core_hours", "node_capacity_cpu_core_hours"),
        (
            "pod_effective_usage_cpu_core_hours",
            "node_capacity_cpu_core_hours",
        ),
        (
            "pod_usage_memory_gigabyte_hours",
            "node_capacity_memory_gigabyte_hours",
        ),
        (
            "pod_request_memory_gigabyte_hours",
            "node_capacity_memory_gigabyte_hours",
        ),
        (
            "pod_effective_usage_memory_gigabyte_hours",
            "node_capacity_memory_gigabyte_hours",
        ),
    ];
    for seed in [1, 2, 3] {
        let mut spec = ScaleSpec::new(2025, 10, 6_000);
        spec.seed = seed;
        let mut data = Dataset::default();
        for d in spec.days() {
            data.append(d);
        }
        let lake = Lake::new(&data);
        let rows = run_rows(&lake.config());
        let mut used: BTreeMap<(String, String), [f64; 6]> = BTreeMap::new();
        for r in pod_rows(&rows) {
            let key = (
                r.s("usage_start").unwrap().into(),
                r.s("node").unwrap().into(),
            );
            let e = used.entry(key).or_default();
            for (slot, (col, _)) in e.iter_mut().zip(measures) {
                *slot += r.f(col);
            }
        }
        let unallocated = unallocated_rows(&rows);
        assert_eq!(unallocated.len(), used.len(), "seed {seed}");
        for u in &unallocated {
            let node = u.s("node").unwrap();
            let key = (u.s("usage_start").unwrap().to_string(), node.to_string());
            let sums = used
                .get(&key)
                .unwrap_or_else(|| panic!("no Pod rows for {key:?}"));
            for (sum, (col, capacity)) in sums.iter().zip(measures) {
                let cap = u.f(capacity);
                let total = sum + u.f(col);
                assert!(
                    (total - cap).abs() <= 1e-9 * cap.max(1.0),
                    "seed {seed} {key:?} {col}: {sum} + {} != {cap}",
                    u.f(col)
                );
            }
            let want = if node.starts_with("worker-") {
                "Worker unallocated"
            } else {
                "Platform unallocated"
            };
            assert_eq!(u.s("namespace"), Some(want), "seed {seed} node {node}");
        }
        assert!(used.len() > 31, "several nodes a day");
    }
}

/// Roles from the database's `reporting_ocp_nodes` (greatest per node) come after the data's
/// column and the configuration, and before derivation. Needs the test PostgreSQL server
/// (scripts/test.sh starts it), like the `database` module.
#[test]
fn node_roles_from_the_database() {
    use postgres::{Client, NoTls};
    let url = std::env::var("OCPAGG_TEST_DATABASE_URL").expect(
        "OCPAGG_TEST_DATABASE_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL",
    );
    let schema = "t_storage_node_roles";
    let mut c = Client::connect(&url, NoTls).unwrap();
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
    crate::pg::koku_schema(&mut c, schema, &[SOURCE]);
    c.batch_execute(&format!(
        "INSERT INTO {schema}.reporting_ocp_nodes (node, resource_id, node_role) VALUES
            ('db-worker', 'i-db-worker', 'worker'),
            ('db-master', 'i-db-master', 'infra'), ('db-master', 'i-old', 'master'),
            ('configured', 'i-configured', 'worker');"
    ))
    .unwrap();
    let on = date(2025, 10, 1);
    let mut data = Dataset::default();
    for node in ["db-worker", "db-master", "configured", "derived"] {
        pod_hours(&mut data, on, 0, 24, "web", node, &format!("pod-{node}"));
    }
    // Derivation alone would make db-worker an infra node and the others workers.
    node_labels_day(
        &mut data,
        on,
        "db-worker",
        r#"{"node_role_kubernetes_io": "infra"}"#,
    );
    for node in ["db-master", "configured", "derived"] {
        node_labels_day(&mut data, on, node, "{}");
    }
    let lake = Lake::new(&data);
    let mut config = lake.config();
    config.output = Some(url.clone());
    config.schema = Some(schema.into());
    config.node_role = Some(vec!["configured=infra".into()]);
    let job = config.resolve().expect("valid config");
    ocpagg_cli::run(&job).expect("run succeeds");
    let namespaces: Vec<(String, Option<String>)> = c
        .query(
            &format!(
                "SELECT node, namespace FROM {schema}.reporting_ocpusagelineitem_daily_summary
                 WHERE data_source = 'Pod' AND pod_labels IS NULL ORDER BY node"
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want = [
        ("configured", "Platform unallocated"),
        ("db-master", "Platform unallocated"),
        ("db-worker", "Worker unallocated"),
        ("derived", "Worker unallocated"),
    ]
    .map(|(n, ns)| (n.to_string(), Some(ns.to_string())));
    assert_eq!(namespaces, want);
    c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
}
