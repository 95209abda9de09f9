//! The writer stage alone: rows/s into koku's summary table, binary COPY against text COPY
//! (issue #3), the binary COPY over TLS (sslmode=require) against clear text (issue #15), and
//! into a Parquet file for comparison.
//!
//! The PostgreSQL part needs a server: `eval "$(scripts/pg-server.sh start)"` exports
//! `OCPAGG_TEST_DATABASE_URL`; without it only the file sink is measured.
//!
//!     eval "$(scripts/pg-server.sh start)"; cargo bench -p ocpagg-benches --bench writer

use std::hint::black_box;
use std::sync::Arc;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use data::summary_batches;
use ocpagg_aggregate::schema::{summary_schema, with_dictionary_texts};
use ocpagg_writer::pg::{init_db, Slice, SummaryTable};
use ocpagg_writer::{open_file_sink, CopyFormat, PgTarget, PostgresSink, SummarySink};

const ROWS: usize = 100_000;
const SOURCE: &str = "6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01";

mod data {
    use super::*;
    use arrow::datatypes::SchemaRef;
    use ocpagg_aggregate::{
        to_record_batch_as, Capacity, DataSource, PodMeasures, RunInfo, StorageMeasures, SummaryRow,
    };

    /// `rows` Pod rows over 31 days, 40 namespaces and 12 nodes, with realistic numbers
    /// (fractions of hours and GiB) and a few label sets, in 8192-row batches of `schema`
    /// (the summary schema, or its dictionary-texts form).
    pub fn summary_batches(rows: usize, schema: SchemaRef) -> Vec<arrow::array::RecordBatch> {
        let run = RunInfo::month(SOURCE, "bench-cluster", 2025, 10).unwrap();
        let namespaces: Vec<Arc<str>> = (0..40).map(|i| format!("namespace-{i}").into()).collect();
        let nodes: Vec<Arc<str>> = (0..12).map(|i| format!("worker-{i}").into()).collect();
        let labels: Vec<Arc<str>> = (0..16)
            .map(|i| {
                format!(
                    r#"{{"app": "app-{i}", "team": "team-{}", "environment": "prod"}}"#,
                    i % 4
                )
                .into()
            })
            .collect();
        let day0 = 20_362; // 2025-10-01
        let all: Vec<SummaryRow> = (0..rows)
            .map(|i| {
                let x = i as f64;
                let labels = Arc::clone(&labels[i % labels.len()]);
                SummaryRow {
                    data_source: DataSource::Pod,
                    day: day0 + (i % 31) as i32,
                    namespace: Some(Arc::clone(&namespaces[i % namespaces.len()])),
                    node: Some(Arc::clone(&nodes[i % nodes.len()])),
                    resource_id: Some(format!("i-{:08x}", i % 12).into()),
                    pod_labels: Some(Arc::clone(&labels)),
                    volume_labels: None,
                    all_labels: Some(labels),
                    pod: PodMeasures {
                        usage_cpu_core_hours: Some(x * 0.013 / 7.0),
                        request_cpu_core_hours: Some(x * 0.021),
                        effective_usage_cpu_core_hours: Some(x * 0.021),
                        limit_cpu_core_hours: Some(x * 0.05),
                        usage_memory_gigabyte_hours: Some(x / 1024.0 * 3.3),
                        request_memory_gigabyte_hours: Some(x / 1024.0 * 4.0),
                        effective_usage_memory_gigabyte_hours: Some(x / 1024.0 * 4.0),
                        limit_memory_gigabyte_hours: None,
                    },
                    capacity: Capacity {
                        node_cpu_cores: Some(16.0),
                        node_cpu_core_hours: Some(384.0),
                        node_memory_gigabytes: Some(62.8),
                        node_memory_gigabyte_hours: Some(1507.2),
                        cluster_cpu_core_hours: Some(4608.0),
                        cluster_memory_gigabyte_hours: Some(18086.4),
                    },
                    storage: StorageMeasures::default(),
                    cost_category_id: None,
                    infrastructure_cost: true,
                }
            })
            .collect();
        all.chunks(8192)
            .map(|c| to_record_batch_as(Arc::clone(&schema), &run, c).expect("summary rows"))
            .collect()
    }
}

fn bench_writer(c: &mut Criterion) {
    let batches = summary_batches(ROWS, summary_schema());
    let mut group = c.benchmark_group("writer");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));

    let dir = std::env::temp_dir().join("ocpagg-bench-writer");
    std::fs::create_dir_all(&dir).unwrap();
    group.bench_function("parquet_file", |b| {
        b.iter(|| {
            let mut sink = open_file_sink(&dir.join("summary.parquet"), summary_schema()).unwrap();
            for batch in &batches {
                sink.write(batch).unwrap();
            }
            black_box(sink.finish().unwrap())
        })
    });
    // The same rows as the pipeline gives a Parquet file: texts as dictionaries
    // (`SummarySink::takes_dictionary_texts`), which the writer hashes once per value and
    // column chunk instead of once per row.
    let dictionary_batches = summary_batches(ROWS, with_dictionary_texts(&summary_schema()));
    group.bench_function("parquet_file_dictionary_texts", |b| {
        b.iter(|| {
            let mut sink = open_file_sink(&dir.join("summary.parquet"), summary_schema()).unwrap();
            assert!(sink.takes_dictionary_texts());
            for batch in &dictionary_batches {
                sink.write(batch).unwrap();
            }
            black_box(sink.finish().unwrap())
        })
    });

    let Ok(url) = std::env::var("OCPAGG_TEST_DATABASE_URL") else {
        eprintln!("OCPAGG_TEST_DATABASE_URL is not set: skipping the PostgreSQL COPY benchmarks (eval \"$(scripts/pg-server.sh start)\")");
        return;
    };
    // The test server speaks TLS: the same COPY in clear text and encrypted (sslmode=require,
    // rustls with aws-lc-rs), so the cost of TLS is one ratio of two medians.
    let with_mode = |mode: &str| {
        let sep = if url.contains('?') { '&' } else { '?' };
        PgTarget::parse(&format!("{url}{sep}sslmode={mode}")).unwrap()
    };
    let target = with_mode("disable");
    let tls_target = with_mode("require");
    let schema = "bench_writer";
    let mut client = target.connect().unwrap();
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
    init_db(&mut client, &target, schema).unwrap();
    let slice = Slice {
        source_uuid: uuid::Uuid::parse_str(SOURCE).unwrap(),
        report_period_id: None,
        start: NaiveDate::from_ymd_opt(2025, 10, 1).unwrap(),
        end: NaiveDate::from_ymd_opt(2025, 10, 31).unwrap(),
        days: None,
    };
    for (name, format, target) in [
        ("copy_binary", CopyFormat::Binary, &target),
        ("copy_text", CopyFormat::Text, &target),
        ("copy_binary_tls", CopyFormat::Binary, &tls_target),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    // Start from an empty slice so every sample inserts the same rows.
                    let mut c = target.connect().unwrap();
                    c.batch_execute(&format!(
                        "TRUNCATE {schema}.reporting_ocpusagelineitem_daily_summary"
                    ))
                    .unwrap();
                    let table =
                        SummaryTable::check(&mut c, target, schema, &summary_schema()).unwrap();
                    (c, table)
                },
                |(c, table)| {
                    let mut sink: Box<dyn SummarySink> = Box::new(
                        PostgresSink::open(c, target, table, slice.clone(), format).unwrap(),
                    );
                    for batch in &batches {
                        sink.write(batch).unwrap();
                    }
                    black_box(sink.finish().unwrap())
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_writer);
criterion_main!(benches);
