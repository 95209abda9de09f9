//! Small hand-written inputs, each with expectations computed by hand in the comments.

use ocpagg_fixtures::{hours, Dataset, NamespaceLabelItem, NodeLabelItem, PodItem, WriteOptions};
use serde_json::json;

use crate::common::*;

fn pod_day(
    data: &mut Dataset,
    d: u32,
    ns: &str,
    node: &str,
    pod: &str,
    f: impl Fn(PodItem) -> PodItem,
) {
    for ts in hours(day(d), 0, 24) {
        data.pods.push(f(PodItem::new(ts, ns, node, pod)));
    }
}

/// One pod, one day: 0.5 core request, 0.3 used, 24 h → request 12.0, usage 7.2 core-hours.
#[test]
fn one_pod_one_day() {
    let mut data = Dataset::default();
    pod_day(&mut data, 1, "web", "worker-1", "web-1", |p| {
        p.cpu(0.3, 0.5, 1.0)
            .memory_gib(1.0, 2.0, 4.0)
            .node_capacity(4.0, 16.0)
    });
    let lake = Lake::new(&data);
    let rows = run_pod_rows(&lake.config());
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.s("data_source"), Some("Pod"));
    assert_eq!(r.s("usage_start"), Some("2025-10-01"));
    assert_eq!(r.s("usage_end"), Some("2025-10-01"));
    assert_eq!(r.s("namespace"), Some("web"));
    assert_eq!(r.s("node"), Some("worker-1"));
    assert_eq!(r.s("resource_id"), Some("i-worker-1"));
    assert_eq!(r.s("cluster_id"), Some(CLUSTER));
    assert_eq!(r.s("cluster_alias"), Some(CLUSTER));
    assert_eq!(r.s("source_uuid"), Some(SOURCE));
    close(r.f("pod_usage_cpu_core_hours"), 7.2);
    close(r.f("pod_request_cpu_core_hours"), 12.0);
    // No effective column values: max(usage, request) per hour = 0.5 × 24.
    close(r.f("pod_effective_usage_cpu_core_hours"), 12.0);
    close(r.f("pod_limit_cpu_core_hours"), 24.0);
    close(r.f("pod_usage_memory_gigabyte_hours"), 24.0);
    close(r.f("pod_request_memory_gigabyte_hours"), 48.0);
    close(r.f("pod_effective_usage_memory_gigabyte_hours"), 48.0);
    close(r.f("pod_limit_memory_gigabyte_hours"), 96.0);
    close(r.f("node_capacity_cpu_cores"), 4.0);
    close(r.f("node_capacity_cpu_core_hours"), 96.0);
    close(r.f("node_capacity_memory_gigabytes"), 16.0);
    close(r.f("node_capacity_memory_gigabyte_hours"), 384.0);
    close(r.f("cluster_capacity_cpu_core_hours"), 96.0);
    close(r.f("cluster_capacity_memory_gigabyte_hours"), 384.0);
    assert_eq!(r.json("pod_labels"), json!({}));
    assert_eq!(r.json("all_labels"), json!({}));
    assert_eq!(r.json("volume_labels"), serde_json::Value::Null);
    assert_eq!(
        r.json("infrastructure_usage_cost"),
        json!({"cpu": 0, "memory": 0, "storage": 0})
    );
    for c in [
        "persistentvolumeclaim",
        "persistentvolume",
        "storageclass",
        "persistentvolumeclaim_capacity_gigabyte",
        "cost_category_id",
        "report_period_id",
    ] {
        assert!(r.get(c).is_null(), "{c} should be null");
    }
    assert!(uuid_like(r.s("uuid").unwrap()));
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|&c| c == '-').count() == 4
}

/// Labels: pod wins over namespace wins over node.
#[test]
fn label_precedence_pod_namespace_node() {
    let mut data = Dataset::default();
    pod_day(&mut data, 1, "web", "worker-1", "web-1", |p| {
        p.cpu(1.0, 1.0, 1.0)
            .node_capacity(4.0, 16.0)
            .labels(r#"{"a": "pod"}"#)
    });
    for ts in hours(day(1), 0, 24) {
        data.node_labels.push(NodeLabelItem::new(
            ts,
            "worker-1",
            r#"{"a": "node", "b": "node", "c": "node"}"#,
        ));
        data.namespace_labels.push(NamespaceLabelItem::new(
            ts,
            "web",
            r#"{"a": "ns", "b": "ns"}"#,
        ));
    }
    let lake = Lake::new(&data);
    let rows = run_pod_rows(&lake.config());
    assert_eq!(rows.len(), 1);
    let want = json!({"a": "pod", "b": "ns", "c": "node"});
    assert_eq!(rows[0].json("pod_labels"), want);
    assert_eq!(rows[0].json("all_labels"), want);
    // jsonb's canonical text: keys by length then bytes, ": " and ", ".
    assert_eq!(
        rows[0].s("pod_labels"),
        Some(r#"{"a": "pod", "b": "ns", "c": "node"}"#)
    );
}

/// Only enabled keys survive; vm_kubevirt_io_name always does. Pods whose labels differ only
/// in disabled keys fall into one row.
#[test]
fn filtering_to_enabled_keys() {
    let mut data = Dataset::default();
    pod_day(&mut data, 1, "vms", "worker-1", "virt-launcher-a", |p| {
        p.cpu(1.0, 1.0, 1.0)
            .node_capacity(4.0, 16.0)
            .labels(r#"{"app": "vm", "pod-template-hash": "abc", "vm_kubevirt_io_name": "rhel9"}"#)
    });
    pod_day(&mut data, 1, "vms", "worker-1", "virt-launcher-b", |p| {
        p.cpu(0.5, 0.5, 0.5)
            .node_capacity(4.0, 16.0)
            .labels(r#"{"app": "vm", "pod-template-hash": "xyz", "vm_kubevirt_io_name": "rhel9"}"#)
    });
    for ts in hours(day(1), 0, 24) {
        data.node_labels.push(NodeLabelItem::new(
            ts,
            "worker-1",
            r#"{"zone": "a", "app": "node-app"}"#,
        ));
    }
    let lake = Lake::new(&data);
    let mut config = lake.config();
    config.enabled_keys = Some(vec!["app, zone".into()]);
    let rows = run_pod_rows(&config);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(
        rows[0].json("pod_labels"),
        json!({"app": "vm", "zone": "a", "vm_kubevirt_io_name": "rhel9"})
    );
    close(rows[0].f("pod_usage_cpu_core_hours"), 36.0);
    // With no key enabled, only the KubeVirt key remains.
    config.enabled_keys = None;
    let rows = run_pod_rows(&config);
    assert_eq!(
        rows[0].json("pod_labels"),
        json!({"vm_kubevirt_io_name": "rhel9"})
    );
}

/// '' , null and {} are all "no labels": one row, labels {}.
#[test]
fn empty_and_null_labels() {
    let mut data = Dataset::default();
    pod_day(&mut data, 1, "ns", "worker-1", "a", |p| {
        p.cpu(1.0, 1.0, 1.0).node_capacity(4.0, 16.0).labels("")
    });
    pod_day(&mut data, 1, "ns", "worker-1", "b", |mut p| {
        p.pod_labels = None;
        p.cpu(1.0, 1.0, 1.0).node_capacity(4.0, 16.0)
    });
    pod_day(&mut data, 1, "ns", "worker-1", "c", |p| {
        p.cpu(1.0, 1.0, 1.0).node_capacity(4.0, 16.0).labels("{}")
    });
    for ts in hours(day(1), 0, 24) {
        data.node_labels
            .push(NodeLabelItem::new(ts, "worker-1", ""));
    }
    let lake = Lake::new(&data);
    let rows = run_pod_rows(&lake.config());
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].s("pod_labels"), Some("{}"));
    close(rows[0].f("pod_usage_cpu_core_hours"), 72.0);
}

/// Effective usage is max(usage, request) per hourly item when the column is null, and the
/// column's value when present.
#[test]
fn effective_usage_is_hourly_max_of_usage_and_request() {
    let mut data = Dataset::default();
    for ts in hours(day(1), 0, 12) {
        data.pods.push(
            PodItem::new(ts, "ns", "worker-1", "p")
                .cpu(0.75, 0.5, 1.0)
                .memory_gib(3.0, 2.0, 4.0)
                .node_capacity(4.0, 16.0),
        );
    }
    for ts in hours(day(1), 12, 24) {
        data.pods.push(
            PodItem::new(ts, "ns", "worker-1", "p")
                .cpu(0.25, 0.5, 1.0)
                .memory_gib(1.0, 2.0, 4.0)
                .node_capacity(4.0, 16.0),
        );
    }
    // A pod whose operator reported effective usage itself: 0.875 core, whatever usage says.
    for ts in hours(day(1), 0, 24) {
        let mut p = PodItem::new(ts, "other", "worker-1", "q")
            .cpu(0.25, 0.5, 1.0)
            .node_capacity(4.0, 16.0);
        p.effective_cpu_core_seconds = Some(0.875 * 3600.0);
        p.effective_memory_byte_seconds = Some(0.0);
        data.pods.push(p);
    }
    let lake = Lake::new(&data);
    let (report, rows) = run(&lake.config());
    // Daily effective columns hold nulls here, so sums must come from the hourly items.
    assert!(!report.pods_from_daily);
    let r = the_row(&rows, "ns", "worker-1");
    close(r.f("pod_usage_cpu_core_hours"), 0.75 * 12.0 + 0.25 * 12.0);
    close(
        r.f("pod_effective_usage_cpu_core_hours"),
        0.75 * 12.0 + 0.5 * 12.0,
    );
    close(
        r.f("pod_effective_usage_memory_gigabyte_hours"),
        3.0 * 12.0 + 2.0 * 12.0,
    );
    let q = the_row(&rows, "other", "worker-1");
    close(q.f("pod_effective_usage_cpu_core_hours"), 0.875 * 24.0);
    assert_eq!(q.f("pod_effective_usage_memory_gigabyte_hours"), 0.0);
}

/// A line item with an empty node is not a Pod row, but its node's capacity is in the cluster.
#[test]
fn empty_node_excluded_but_counted_in_cluster_capacity() {
    let mut data = Dataset::default();
    pod_day(&mut data, 1, "ns", "worker-1", "p", |p| {
        p.cpu(1.0, 1.0, 1.0).node_capacity(4.0, 16.0)
    });
    pod_day(&mut data, 1, "ns", "", "pending", |p| {
        p.cpu(1.0, 1.0, 1.0).node_capacity(2.0, 8.0)
    });
    let lake = Lake::new(&data);
    let (report, rows) = run(&lake.config());
    let rows = pod_rows(&rows);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].s("node"), Some("worker-1"));
    close(rows[0].f("node_capacity_cpu_core_hours"), 96.0);
    close(rows[0].f("cluster_capacity_cpu_core_hours"), 96.0 + 48.0);
    close(
        rows[0].f("cluster_capacity_memory_gigabyte_hours"),
        384.0 + 192.0,
    );
    assert_eq!(report.aggregate.pod_items_without_node, 24);
}

/// Two nodes: cluster capacity is the sum of both; two pods on one node do not double its
/// capacity (hourly max per node, then the daily sum).
#[test]
fn two_nodes_cluster_capacity_is_their_sum() {
    let mut data = Dataset::default();
    pod_day(&mut data, 1, "a", "worker-1", "p1", |p| {
        p.cpu(1.0, 1.0, 1.0).node_capacity(4.0, 16.0)
    });
    pod_day(&mut data, 1, "b", "worker-1", "p2", |p| {
        p.cpu(1.0, 1.0, 1.0).node_capacity(4.0, 16.0)
    });
    pod_day(&mut data, 1, "a", "worker-2", "p3", |p| {
        p.cpu(1.0, 1.0, 1.0).node_capacity(8.0, 32.0)
    });
    let lake = Lake::new(&data);
    let rows = run_pod_rows(&lake.config());
    assert_eq!(rows.len(), 3);
    for r in &rows {
        close(r.f("cluster_capacity_cpu_core_hours"), 96.0 + 192.0);
        close(
            r.f("cluster_capacity_memory_gigabyte_hours"),
            (16.0 + 32.0) * 24.0,
        );
    }
    close(
        the_row(&rows, "a", "worker-1").f("node_capacity_cpu_core_hours"),
        96.0,
    );
    close(
        the_row(&rows, "b", "worker-1").f("node_capacity_cpu_core_hours"),
        96.0,
    );
    close(
        the_row(&rows, "a", "worker-2").f("node_capacity_cpu_core_hours"),
        192.0,
    );
    close(
        the_row(&rows, "a", "worker-2").f("node_capacity_memory_gigabytes"),
        32.0,
    );
    // A node present only 6 hours of the day has 6 hours of capacity.
    let mut data = Dataset::default();
    pod_day(&mut data, 1, "a", "worker-1", "p1", |p| {
        p.cpu(1.0, 1.0, 1.0).node_capacity(4.0, 16.0)
    });
    for ts in hours(day(1), 0, 6) {
        data.pods.push(
            PodItem::new(ts, "a", "worker-3", "short")
                .cpu(1.0, 1.0, 1.0)
                .node_capacity(2.0, 8.0),
        );
    }
    let lake = Lake::new(&data);
    let rows = run_pod_rows(&lake.config());
    close(
        the_row(&rows, "a", "worker-3").f("node_capacity_cpu_core_hours"),
        12.0,
    );
    close(
        the_row(&rows, "a", "worker-3").f("cluster_capacity_cpu_core_hours"),
        96.0 + 12.0,
    );
}

/// A date range that cuts the month keeps exactly its days (end inclusive, next midnight out).
#[test]
fn date_range_cuts_the_month() {
    let mut data = Dataset::default();
    for d in 1..=4 {
        pod_day(&mut data, d, "ns", "worker-1", "p", |p| {
            p.cpu(f64::from(d), 1.0, 1.0).node_capacity(4.0, 16.0)
        });
    }
    let lake = Lake::new(&data);
    let mut config = lake.config();
    config.start_date = Some(day(2));
    config.end_date = Some(day(3));
    let rows = run_pod_rows(&config);
    let days: Vec<_> = rows
        .iter()
        .map(|r| r.s("usage_start").unwrap().to_string())
        .collect();
    assert_eq!(days, ["2025-10-02", "2025-10-03"]);
    close(rows[0].f("pod_usage_cpu_core_hours"), 2.0 * 24.0);
    close(rows[1].f("pod_usage_cpu_core_hours"), 3.0 * 24.0);
    close(rows[1].f("cluster_capacity_cpu_core_hours"), 96.0);
}

/// A namespace matching several cost-category patterns gets the greatest id, and its usage is
/// counted once.
#[test]
fn cost_category_greatest_matching_id_no_double_counting() {
    let mut data = Dataset::default();
    pod_day(&mut data, 1, "openshift-monitoring", "worker-1", "p", |p| {
        p.cpu(1.0, 1.0, 1.0).node_capacity(4.0, 16.0)
    });
    pod_day(&mut data, 1, "app", "worker-1", "q", |p| {
        p.cpu(1.0, 1.0, 1.0).node_capacity(4.0, 16.0)
    });
    let lake = Lake::new(&data);
    let mut config = lake.config();
    config.cost_category = Some(vec![
        "openshift-%=3".into(),
        "%monitoring=7".into(),
        "kube-%=9".into(),
        "openshift_monitoring=2".into(),
    ]);
    let rows = run_pod_rows(&config);
    assert_eq!(rows.len(), 2);
    let r = the_row(&rows, "openshift-monitoring", "worker-1");
    assert_eq!(r.get("cost_category_id"), &json!(7));
    close(r.f("pod_usage_cpu_core_hours"), 24.0);
    assert!(the_row(&rows, "app", "worker-1")
        .get("cost_category_id")
        .is_null());
}

/// A node with two label sets in one day: the sets are united (greatest value on a conflicting
/// key) into one map, and the pod's usage is counted once.
#[test]
fn node_with_two_label_sets_in_a_day() {
    let mut data = Dataset::default();
    pod_day(&mut data, 1, "ns", "worker-1", "p", |p| {
        p.cpu(1.0, 1.0, 1.0).node_capacity(4.0, 16.0)
    });
    for ts in hours(day(1), 0, 12) {
        data.node_labels.push(NodeLabelItem::new(
            ts,
            "worker-1",
            r#"{"pool": "b", "old": "x"}"#,
        ));
    }
    for ts in hours(day(1), 12, 24) {
        data.node_labels.push(NodeLabelItem::new(
            ts,
            "worker-1",
            r#"{"pool": "a", "new": "y"}"#,
        ));
    }
    for ts in hours(day(2), 0, 24) {
        data.node_labels
            .push(NodeLabelItem::new(ts, "worker-1", r#"{"pool": "a"}"#));
    }
    pod_day(&mut data, 2, "ns", "worker-1", "p", |p| {
        p.cpu(1.0, 1.0, 1.0).node_capacity(4.0, 16.0)
    });
    let lake = Lake::new(&data);
    let rows = run_pod_rows(&lake.config());
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(
        rows[0].json("pod_labels"),
        json!({"pool": "b", "old": "x", "new": "y"})
    );
    close(rows[0].f("pod_usage_cpu_core_hours"), 24.0);
    assert_eq!(rows[1].json("pod_labels"), json!({"pool": "a"}));
}

/// Several hourly files per day (operator uploads) and a CSV output give the same numbers.
#[test]
fn several_files_per_day_and_csv_output() {
    let mut data = Dataset::default();
    pod_day(&mut data, 1, "ns", "worker-1", "p", |p| {
        p.cpu(0.5, 1.0, 1.0)
            .node_capacity(4.0, 16.0)
            .labels(r#"{"k": "v"}"#)
    });
    pod_day(&mut data, 1, "ns", "worker-2", "q", |p| {
        p.cpu(0.25, 1.0, 1.0).node_capacity(4.0, 16.0)
    });
    let lake = Lake::write(
        &data,
        &WriteOptions {
            files_per_day: 3,
            ..WriteOptions::default()
        },
    );
    let rows = run_pod_rows(&lake.config());
    assert_eq!(rows.len(), 2);
    close(
        the_row(&rows, "ns", "worker-1").f("pod_usage_cpu_core_hours"),
        12.0,
    );
    let csv = lake.path().join("out.csv");
    let mut config = lake.config();
    config.output = Some(csv.display().to_string());
    let job = config.resolve().unwrap();
    ocpagg_cli::run(&job).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header.len(), 37);
    assert_eq!(header[0], "uuid");
    assert_eq!(header[36], "cost_category_id");
    // Two Pod rows and the two nodes' unallocated rows.
    assert_eq!(lines.count(), 4);
    assert!(
        text.contains(r#""{""k"": ""v""}""#),
        "JSON quoted as CSV text: {text}"
    );
    assert!(text.contains(",2025-10-01,2025-10-01,"));
}

/// The real koku sample (testdata/koku-poc-02, nise scenario 02): one pod for one day.
/// nise applies pod_seconds (86400) to every hourly row, so each hour holds 0.8 × 86400
/// core-seconds of usage: 24 × 69120 / 3600 = 460.8 core-hours.
#[test]
fn real_koku_sample() {
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/koku-poc-02");
    let out = tempfile::tempdir().unwrap();
    let mut config = config(&sample.display().to_string(), &out.path().join("s.parquet"));
    config.source = Some("6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01".into());
    let (report, rows) = run(&config);
    assert!(
        report.pods_from_daily,
        "the sample's daily table carries effective usage"
    );
    // One Pod row, the node's unallocated row and the claim's Storage row.
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let pods = pod_rows(&rows);
    let r = &pods[0];
    assert_eq!(r.s("namespace"), Some("database"));
    assert_eq!(r.s("node"), Some("worker-node-1"));
    assert_eq!(r.s("resource_id"), Some("i-i-worker001"));
    assert_eq!(r.s("usage_start"), Some("2025-10-01"));
    close(
        r.f("pod_usage_cpu_core_hours"),
        0.8 * 86400.0 * 24.0 / 3600.0,
    );
    close(r.f("pod_request_cpu_core_hours"), 86400.0 * 24.0 / 3600.0);
    close(
        r.f("pod_effective_usage_cpu_core_hours"),
        86400.0 * 24.0 / 3600.0,
    );
    close(
        r.f("pod_limit_cpu_core_hours"),
        2.0 * 86400.0 * 24.0 / 3600.0,
    );
    close(
        r.f("pod_usage_memory_gigabyte_hours"),
        3.0 * 86400.0 * 24.0 / 3600.0,
    );
    close(
        r.f("pod_request_memory_gigabyte_hours"),
        4.0 * 86400.0 * 24.0 / 3600.0,
    );
    close(
        r.f("pod_limit_memory_gigabyte_hours"),
        8.0 * 86400.0 * 24.0 / 3600.0,
    );
    close(r.f("node_capacity_cpu_cores"), 4.0);
    close(r.f("node_capacity_cpu_core_hours"), 96.0);
    close(r.f("node_capacity_memory_gigabytes"), 16.0);
    close(r.f("node_capacity_memory_gigabyte_hours"), 384.0);
    close(r.f("cluster_capacity_cpu_core_hours"), 96.0);
    assert_eq!(r.json("pod_labels"), json!({}));

    // The node has label rows, no API server pod and no infra label: a worker. nise's
    // pod_seconds makes the pod use more than the node has, and the negative is kept:
    // 96 − 460.8 core-hours, 384 − 3 × 86400 × 24 / 3600 GiB-hours.
    let u = &unallocated_rows(&rows)[0];
    assert_eq!(u.s("namespace"), Some("Worker unallocated"));
    assert_eq!(u.s("node"), Some("worker-node-1"));
    close(u.f("pod_usage_cpu_core_hours"), 96.0 - 460.8);
    close(u.f("pod_request_cpu_core_hours"), 96.0 - 576.0);
    close(u.f("pod_usage_memory_gigabyte_hours"), 384.0 - 1728.0);

    // The claim: 100 GiB capacity and request, 50 GiB used, 24 hours of a 31-day month.
    let st = &storage_rows(&rows)[0];
    assert!(report.storage_from_daily);
    assert_eq!(st.s("namespace"), Some("database"));
    assert_eq!(st.s("node"), Some("worker-node-1"));
    assert_eq!(st.s("resource_id"), Some("i-i-worker001"));
    assert_eq!(st.s("persistentvolumeclaim"), Some("postgres-data-pvc"));
    assert_eq!(st.s("persistentvolume"), Some("postgres-data-pvc"));
    assert_eq!(st.s("storageclass"), Some("gp2"));
    close(st.f("persistentvolumeclaim_capacity_gigabyte"), 100.0);
    close(
        st.f("persistentvolumeclaim_capacity_gigabyte_months"),
        100.0 / 31.0,
    );
    close(st.f("volume_request_storage_gigabyte_months"), 100.0 / 31.0);
    close(
        st.f("persistentvolumeclaim_usage_gigabyte_months"),
        50.0 / 31.0,
    );
    assert_eq!(
        st.json("volume_labels"),
        json!({"storage": "database", "backup": "enabled"})
    );
}
