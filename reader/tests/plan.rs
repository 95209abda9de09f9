//! The reader alone on generated months: every physical type variant reads as the same
//! canonical batches, and [`ScanPlan::build`] applies koku's hourly/daily rule and orders the
//! files by their first day.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use ocpagg_fixtures::{Dataset, Layout, ScaleSpec, TypeVariant, WriteOptions};
use ocpagg_reader::{Needs, Pass, Projection, ReportType, ScanPlan, Warehouse};

mod common;

use common::{request, ORG, SOURCE};

/// October 2025 with `pod_rows` hourly pod rows; `effective` fills the effective-usage
/// columns, so the daily pod roll-up is complete.
fn month(pod_rows: u64, effective: bool) -> Dataset {
    let mut all = Dataset::default();
    for d in ScaleSpec::new(2025, 10, pod_rows).days() {
        all.append(d);
    }
    for p in &mut all.pods {
        p.effective_cpu_core_seconds =
            effective.then(|| p.usage_cpu_core_seconds.max(p.request_cpu_core_seconds));
        p.effective_memory_byte_seconds = effective.then(|| {
            p.usage_memory_byte_seconds
                .max(p.request_memory_byte_seconds)
        });
    }
    all
}

fn lake(data: &Dataset, opts: &WriteOptions) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    data.write(dir.path(), &Layout::new(ORG, SOURCE, "test-cluster"), opts)
        .unwrap();
    dir
}

/// Every value of a batch as text, floats to 9 significant digits (a `float` file holds
/// fewer), one line per row.
fn lines(batch: &RecordBatch) -> Vec<String> {
    let texts: Vec<Vec<String>> = batch
        .columns()
        .iter()
        .map(|c| {
            if c.data_type() == &DataType::Float64 {
                let f = c.as_primitive::<Float64Type>();
                (0..f.len())
                    .map(|i| {
                        if f.is_null(i) {
                            "null".into()
                        } else {
                            format!("{:.8e}", f.value(i))
                        }
                    })
                    .collect()
            } else {
                let c = match c.data_type() {
                    DataType::Timestamp(..) => arrow::compute::cast(c, &DataType::Int64).unwrap(),
                    _ => c.clone(),
                };
                let s = arrow::compute::cast(&c, &DataType::Utf8).unwrap();
                let s = s.as_string::<i32>();
                (0..s.len())
                    .map(|i| if s.is_valid(i) { s.value(i) } else { "null" }.into())
                    .collect()
            }
        })
        .collect();
    (0..batch.num_rows())
        .map(|r| {
            texts
                .iter()
                .map(|c| c[r].as_str())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// Every row of every hourly table of the lake, all columns, sorted per table.
fn read_all(root: &std::path::Path) -> Vec<(ReportType, Vec<String>)> {
    let warehouse = Warehouse::open(&root.display().to_string()).unwrap();
    let listing = warehouse.list(&request()).unwrap();
    ReportType::ALL
        .into_iter()
        .map(|table| {
            let projection = Projection::all(table);
            let mut rows = Vec::new();
            for file in listing.files(table, false) {
                for batch in warehouse.read(file, &projection, None, 4096).unwrap() {
                    let batch = batch.unwrap();
                    assert_eq!(batch.schema(), projection.schema().clone(), "{table}");
                    rows.extend(lines(&batch));
                }
            }
            rows.sort();
            (table, rows)
        })
        .collect()
}

#[test]
fn every_type_variant_reads_the_same() {
    let data = month(2_000, true);
    let hourly = |variant| WriteOptions {
        daily: false,
        variant,
        ..WriteOptions::default()
    };
    let base = read_all(lake(&data, &hourly(TypeVariant::Koku)).path());
    assert!(base.iter().all(|(_, rows)| !rows.is_empty()));
    for variant in TypeVariant::ALL {
        let dir = lake(&data, &hourly(variant));
        assert_eq!(read_all(dir.path()), base, "variant {variant:?}");
    }
}

const NEEDS: Needs<'static> = Needs {
    node_labels: &["interval_start", "node", "node_labels"],
    namespace_labels: &["interval_start", "namespace", "namespace_labels"],
    storage: &["interval_start", "namespace", "persistentvolumeclaim"],
    pod_usage: &[
        "interval_start",
        "namespace",
        "node",
        "pod_usage_cpu_core_seconds",
    ],
    pod_capacity: &["interval_start", "node", "node_capacity_cpu_cores"],
};

fn passes(plan: &ScanPlan) -> Vec<(ReportType, bool, Pass)> {
    let mut p: Vec<_> = plan
        .files
        .iter()
        .map(|f| (f.file.report_type, f.file.daily, f.pass))
        .collect();
    p.sort_by_key(|(t, d, pass)| (t.to_string(), *d, format!("{pass:?}")));
    p.dedup();
    p
}

#[test]
fn the_plan_takes_the_complete_daily_roll_up_and_orders_by_day() {
    let dir = lake(&month(2_000, true), &WriteOptions::default());
    let warehouse = Warehouse::open(&dir.path().display().to_string()).unwrap();
    let plan = ScanPlan::build(&warehouse, &request(), &NEEDS).unwrap();
    assert!(plan.pods_from_daily && plan.storage_from_daily);
    let mut want = vec![
        (ReportType::NamespaceLabels, true, Pass::NamespaceLabels),
        (ReportType::NodeLabels, true, Pass::NodeLabels),
        (ReportType::PodUsage, false, Pass::PodCapacity),
        (ReportType::PodUsage, true, Pass::PodUsage),
        (ReportType::StorageUsage, true, Pass::Storage),
    ];
    want.sort_by_key(|(t, d, pass)| (t.to_string(), *d, format!("{pass:?}")));
    assert_eq!(passes(&plan), want);
    let days: Vec<i32> = plan.files.iter().map(|f| f.first_day).collect();
    assert!(days.windows(2).all(|w| w[0] <= w[1]), "{days:?}");
    assert!(
        days.iter().all(|&d| d != i32::MIN),
        "footers give every first day"
    );
    for f in &plan.files {
        assert_eq!(
            f.projection.schema().fields().len(),
            NEEDS.columns(f.pass).len()
        );
    }
    assert_eq!(plan.read_specs(None).len(), plan.files.len());
}

#[test]
fn an_incomplete_daily_roll_up_leaves_pods_to_the_hourly_files() {
    let dir = lake(&month(2_000, false), &WriteOptions::default());
    let warehouse = Warehouse::open(&dir.path().display().to_string()).unwrap();
    let plan = ScanPlan::build(&warehouse, &request(), &NEEDS).unwrap();
    assert!(!plan.pods_from_daily && plan.storage_from_daily);
    assert!(plan
        .files
        .iter()
        .all(|f| f.file.report_type != ReportType::PodUsage
            || (!f.file.daily && f.pass == Pass::PodUsageAndCapacity)));
}

#[test]
fn a_month_without_hourly_pods_is_refused_naming_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().display().to_string()).unwrap();
    let err = ScanPlan::build(&warehouse, &request(), &NEEDS)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "no pod_usage files for org {ORG} source {SOURCE} in 2025-10: nothing under "
        )),
        "{err}"
    );
    assert!(err.contains("pod_usage"), "{err}");
}

/// A column the files lack reads as nulls of each batch's length, and a file's batches share
/// one buffer of them rather than each allocating its own.
#[test]
fn a_missing_column_reads_as_nulls_shared_by_a_files_batches() {
    let dir = lake(
        &month(2_000, true),
        &WriteOptions {
            daily: false,
            ..WriteOptions::default()
        },
    );
    let warehouse = Warehouse::open(&dir.path().display().to_string()).unwrap();
    let listing = warehouse.list(&request()).unwrap();
    let projection = Projection::all(ReportType::PodUsage);
    let role = projection.schema().index_of("node_role").unwrap();
    let mut files = 0;
    for file in listing.files(ReportType::PodUsage, false) {
        let mut first = None;
        let mut batches = 0;
        for batch in warehouse.read(file, &projection, None, 7).unwrap() {
            let column = batch.unwrap().column(role).clone();
            assert_eq!(
                column.null_count(),
                column.len(),
                "no node_role in the files"
            );
            let keys = column.to_data().buffers()[0].as_ptr();
            assert_eq!(
                *first.get_or_insert(keys),
                keys,
                "batch {batches} of {file:?}"
            );
            batches += 1;
        }
        assert!(batches > 1, "{file:?} read in one batch");
        files += 1;
    }
    assert!(files > 0);
}
