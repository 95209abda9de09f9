//! Each stage of the pipeline alone, in input rows per second, on one generated month
//! (issue #6). The month is written once with the fixtures crate and cached under
//! `target/bench-data/`; delete that directory to regenerate it.
//!
//!     cargo bench -p ocpagg-benches --bench stages
//!     cargo bench -p ocpagg-benches --bench stages -- aggregate/   # one group
//!
//! Groups:
//! - `reader`: list, open and decode the hourly pod files, with the usage pass's columns and
//!   with the capacity pass's columns only (what a run with daily files reads hourly);
//! - `labels`: parse and filter each distinct pod label string once (a fresh interner per
//!   iteration), and merge node ⊕ namespace ⊕ pod label sets;
//! - `aggregate`: intern a batch's dictionaries (`prepare`), fold prepared batches into
//!   partials on one thread (`partial`), merge the partials (`merge`), and build the sorted
//!   rows (`finish`).
//!
//! The file and PostgreSQL writers are measured by the `writer` bench.

use std::hint::black_box;
use std::path::PathBuf;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int32Type;
use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ocpagg_aggregate::{Aggregator, PodPass, PreparedBatch, RunInfo, SideInputs, Table};
use ocpagg_fixtures::{Layout, ScaleSpec, WriteOptions};
use ocpagg_labels::{EnabledKeys, LabelSets};
use ocpagg_reader::{DateRange, Projection, ReportType, ScanRequest, Warehouse};

/// The pod_usage columns the aggregate reads for usage and capacity, and for capacity only.
const POD_USAGE: &[&str] = Table::Pods(PodPass::Both).columns();
const POD_CAPACITY: &[&str] = Table::Pods(PodPass::Capacity).columns();

/// Hourly pod rows of the benchmark month.
const POD_ROWS: u64 = 300_000;
const ORG: &str = "org1234567";
const SOURCE: &str = "6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01";
const BATCH_ROWS: usize = 65_536;

struct Month {
    warehouse: Warehouse,
    request: ScanRequest,
    range: DateRange,
    run: RunInfo,
}

impl Month {
    /// The cached month, generated on first use.
    fn load() -> Self {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let root = target.join(format!("bench-data/stages-{POD_ROWS}"));
        let done = root.join(".complete");
        if !done.exists() {
            let _ = std::fs::remove_dir_all(&root);
            ScaleSpec::new(2025, 10, POD_ROWS)
                .write(
                    &root,
                    &Layout::new(ORG, SOURCE, "bench-cluster"),
                    &WriteOptions::default(),
                )
                .expect("generate the benchmark month");
            std::fs::write(&done, b"").expect("mark the month complete");
        }
        let start = NaiveDate::from_ymd_opt(2025, 10, 1).unwrap();
        let end = NaiveDate::from_ymd_opt(2025, 10, 31).unwrap();
        Month {
            warehouse: Warehouse::open(root.to_str().expect("UTF-8 path")).expect("open"),
            request: ScanRequest {
                org: ORG.into(),
                source: SOURCE.into(),
                year: 2025,
                month: 10,
            },
            range: DateRange { start, end },
            run: RunInfo::new(SOURCE, "bench-cluster", start, end),
        }
    }

    /// Every batch of the hourly pod files, read with `columns`.
    fn pod_batches(&self, columns: &[&str]) -> Vec<RecordBatch> {
        let plan = self.warehouse.list(&self.request).expect("list");
        let projection = Projection::new(ReportType::PodUsage, columns);
        let mut out = Vec::new();
        for file in plan.files(ReportType::PodUsage, false) {
            let batches = self
                .warehouse
                .read(file, &projection, Some(self.range), BATCH_ROWS)
                .expect("open a pod file");
            out.extend(batches.map(|b| b.expect("decode a batch")));
        }
        out
    }

    fn side(&self) -> SideInputs {
        SideInputs {
            enabled_keys: EnabledKeys::All,
            ..SideInputs::default()
        }
    }
}

fn rows(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.num_rows() as u64).sum()
}

fn reader(c: &mut Criterion, month: &Month) {
    let mut group = c.benchmark_group("reader");
    group.sample_size(10);
    for (name, columns) in [
        ("pod_usage_columns", POD_USAGE),
        ("pod_capacity_columns", POD_CAPACITY),
    ] {
        group.throughput(Throughput::Elements(rows(&month.pod_batches(columns))));
        group.bench_function(name, |b| {
            b.iter(|| black_box(rows(&month.pod_batches(columns))))
        });
    }
    group.finish();
}

fn labels(c: &mut Criterion, month: &Month) {
    let batches = month.pod_batches(POD_USAGE);
    // The distinct pod label strings of the month, as the aggregate sees them.
    let mut distinct: Vec<String> = Vec::new();
    for batch in &batches {
        let column = batch.column_by_name("pod_labels").expect("pod_labels");
        let values = arrow::compute::cast(
            column.as_dictionary::<Int32Type>().values(),
            &arrow::datatypes::DataType::Utf8,
        )
        .expect("text");
        distinct.extend(values.as_string::<i32>().iter().flatten().map(String::from));
    }
    distinct.sort();
    distinct.dedup();
    let mut group = c.benchmark_group("labels");
    group.throughput(Throughput::Elements(distinct.len() as u64));
    group.bench_function("parse_filter_intern", |b| {
        b.iter(|| {
            let mut sets = LabelSets::new(EnabledKeys::All);
            for s in &distinct {
                black_box(sets.intern_str(Some(s)).expect("valid labels"));
            }
            sets
        })
    });
    let mut sets = LabelSets::new(EnabledKeys::All);
    let ids: Vec<_> = distinct
        .iter()
        .map(|s| sets.intern_str(Some(s)).expect("valid labels"))
        .collect();
    // Every (node, namespace, pod) triple of three different sets: no merge is cached.
    let triples: Vec<[_; 3]> = (0..ids.len())
        .map(|i| [ids[i], ids[(i + 1) % ids.len()], ids[(i + 7) % ids.len()]])
        .collect();
    group.throughput(Throughput::Elements(triples.len() as u64));
    group.bench_function("merge", |b| {
        b.iter_batched(
            || sets.clone(),
            |mut sets| {
                for t in &triples {
                    black_box(sets.merge(t));
                }
                sets
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn aggregate(c: &mut Criterion, month: &Month) {
    let batches = month.pod_batches(POD_USAGE);
    let n = rows(&batches);
    let mut group = c.benchmark_group("aggregate");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));

    let mut agg = Aggregator::new(month.run.clone(), month.side());
    group.bench_function("prepare", |b| {
        b.iter_batched(
            || batches.clone(),
            |batches| {
                for batch in batches {
                    black_box(agg.prepare(batch, PodPass::Both).expect("prepare"));
                }
            },
            BatchSize::LargeInput,
        )
    });

    let prepared: Vec<PreparedBatch> = batches
        .iter()
        .map(|b| agg.prepare(b.clone(), PodPass::Both).expect("prepare"))
        .collect();
    group.bench_function("partial", |b| {
        b.iter(|| {
            for p in &prepared {
                black_box(agg.partial(p).expect("fold"));
            }
        })
    });

    let fresh = || {
        let mut agg = Aggregator::new(month.run.clone(), month.side());
        let prepared: Vec<PreparedBatch> = batches
            .iter()
            .map(|b| agg.prepare(b.clone(), PodPass::Both).expect("prepare"))
            .collect();
        let partials: Vec<_> = prepared
            .iter()
            .map(|p| agg.partial(p).expect("fold"))
            .collect();
        (agg, partials)
    };
    group.bench_function("merge", |b| {
        b.iter_batched(
            fresh,
            |(mut agg, partials)| {
                for p in partials {
                    agg.merge(p);
                }
                agg
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("finish", |b| {
        b.iter_batched(
            || {
                let (mut agg, partials) = fresh();
                partials.into_iter().for_each(|p| agg.merge(p));
                agg
            },
            |agg| black_box(agg.finish().expect("finish").rows.len()),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn stages(c: &mut Criterion) {
    let month = Month::load();
    reader(c, &month);
    labels(c, &month);
    aggregate(c, &month);
}

criterion_group!(benches, stages);
criterion_main!(benches);
