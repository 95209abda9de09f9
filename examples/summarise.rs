//! fixtures → `Warehouse` → `Aggregator` → `FileSink`: a generated day of koku data summarised
//! into a Parquet file, with no CLI. `cargo run -p ocpagg-examples --example summarise`
use anyhow::{ensure, Context, Result};
use arrow::array::AsArray;
use arrow::datatypes::Float64Type;
use chrono::NaiveDate;
use ocpagg_aggregate::{schema::summary_schema, to_record_batch, Aggregator, RunInfo, SideInputs};
use ocpagg_fixtures::{hours, Dataset, Layout, PodItem, WriteOptions};
use ocpagg_reader::{ScanPlan, ScanRequest, Warehouse};
use ocpagg_writer::SummarySink;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The source (cluster) the example writes and reads.
pub const SOURCE: &str = "6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01";

/// A warehouse in koku's layout: one pod using half a core all day on a 4-core node.
pub fn generate(dir: &std::path::Path) -> Result<()> {
    let mut data = Dataset::default();
    for hour in hours(
        NaiveDate::from_ymd_opt(2025, 10, 1).unwrap_or_default(),
        0,
        24,
    ) {
        data.pods.push(
            PodItem::new(hour, "web", "worker-1", "web-1")
                .cpu(0.5, 1.0, 2.0)
                .node_capacity(4.0, 16.0),
        );
    }
    Ok(data
        .write(
            dir,
            &Layout::new("org1234567", SOURCE, "my-cluster"),
            &WriteOptions::default(),
        )
        .map(drop)?)
}

/// Reads October 2025 from `dir` and writes its summary rows to `sink`, a day at a time.
pub fn summarise(dir: &std::path::Path, sink: &mut dyn SummarySink) -> Result<()> {
    let warehouse = Warehouse::open(&dir.display().to_string())?;
    let request = ScanRequest {
        org: "org1234567".into(),
        source: SOURCE.into(),
        year: 2025,
        month: 10,
    };
    // The reader plans the month (files, koku's hourly/daily rule, columns, order); the
    // aggregator folds what it is pushed and emits each day once the files holding it are read.
    let plan = ScanPlan::build(&warehouse, &request, &Aggregator::needs())?;
    let run = RunInfo::month(SOURCE, "my-cluster", 2025, 10).context("no such month")?;
    let mut aggregator = Aggregator::new(run.clone(), SideInputs::default());
    aggregator.expect_files(plan.files.iter().map(|f| f.first_day));
    for (index, planned) in plan.files.iter().enumerate() {
        for batch in warehouse.read_with_footer(
            &planned.file,
            &planned.footer,
            &planned.projection,
            None,
            65_536,
        )? {
            aggregator.push(planned.pass.into(), batch?)?;
        }
        aggregator.file_done(index);
        while let Some(mut days) = aggregator.emit_ready()? {
            days.sort();
            sink.write(&to_record_batch(&run, &days.into_rows())?)?;
        }
    }
    // What is left: days still open, then one unallocated row per node and day.
    Ok(sink.write(&to_record_batch(&run, &aggregator.finish()?.rows)?)?)
}

#[allow(dead_code)] // custom_sink.rs includes this file for the functions above
fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    generate(dir.path())?;
    let out = dir.path().join("summary.parquet");
    let mut sink = ocpagg_writer::open_file_sink(&out, summary_schema())?;
    summarise(dir.path(), sink.as_mut())?;
    println!("wrote {} rows to {}", sink.finish()?.rows, out.display());
    // The web pod's row: 0.5 cores for 24 hours.
    let file = std::fs::File::open(&out)?;
    let batch = ParquetRecordBatchReaderBuilder::try_new(file)?
        .build()?
        .next()
        .transpose()?;
    let batch = batch.ok_or_else(|| anyhow::anyhow!("{} holds no rows", out.display()))?;
    let hours = batch
        .column_by_name("pod_usage_cpu_core_hours")
        .map(|c| c.as_primitive::<Float64Type>().value(0));
    ensure!(hours == Some(12.0), "expected 12 core-hours, got {hours:?}");
    Ok(())
}
