//! `ocpagg demo`: generate a small month in a temporary directory, run it, show the result.

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use ocpagg_fixtures::{Layout, ScaleSpec, WriteOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::config::RunConfig;
use crate::pipeline::{run, RunReport};

/// The demo's fixed identity.
pub const DEMO_ORG: &str = "org1234567";
/// The demo's source UUID.
pub const DEMO_SOURCE: &str = "6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01";

/// Generates `pod_rows` hourly rows for 2025-10 under a temp dir, runs the pipeline to a
/// Parquet file, and returns the report and the output rows.
pub fn demo(
    pod_rows: u64,
    threads: Option<usize>,
    quiet: bool,
) -> Result<(RunReport, RecordBatch)> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let spec = ScaleSpec::new(2025, 10, pod_rows);
    let layout = Layout::new(DEMO_ORG, DEMO_SOURCE, "demo-cluster");
    spec.write(dir.path(), &layout, &WriteOptions::default())
        .context("cannot generate the demo data")?;
    let output = dir.path().join("summary.parquet");
    let config = RunConfig {
        warehouse: Some(dir.path().display().to_string()),
        org: Some(DEMO_ORG.into()),
        source: Some(DEMO_SOURCE.into()),
        year: Some(2025),
        month: Some(10),
        cluster_id: Some("demo-cluster".into()),
        enabled_keys: Some(vec!["*".into()]),
        output: Some(output.display().to_string()),
        threads,
        quiet,
        ..Default::default()
    };
    let job = config.resolve()?;
    let report = run(&job)?;
    let file = std::fs::File::open(&output)?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    let batch = concat_batches(&ocpagg_aggregate::schema::summary_schema(), &batches)?;
    Ok((report, batch))
}
