//! fixtures → `ScanPlan` → `Aggregator` → `FileSink`: a generated day of koku data summarised
//! into a Parquet file, with no CLI. `cargo run -p ocpagg-examples --example summarise`
use anyhow::{ensure, Context, Result};
use arrow::{array::AsArray, datatypes::Float64Type};
use ocpagg_aggregate::{schema::summary_schema, to_record_batch, Aggregator, RunInfo, SideInputs};
use ocpagg_examples::{generate, ORG, SOURCE};
use ocpagg_reader::{ScanPlan, ScanRequest, Warehouse};
use ocpagg_writer::SummarySink;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Reads October 2025 from `dir` and writes its summary rows to `sink`, a day at a time.
pub fn summarise(dir: &std::path::Path, sink: &mut dyn SummarySink) -> Result<()> {
    let warehouse = Warehouse::open(&dir.display().to_string())?;
    let (org, source) = (ORG.to_string(), SOURCE.to_string());
    let request = ScanRequest {
        org,
        source,
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
        for batch in warehouse.read_planned(planned, None, 65_536)? {
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

#[allow(dead_code)] // custom_sink.rs includes this file for `summarise`
fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    generate(dir.path())?;
    let out = dir.path().join("summary.parquet");
    let mut sink = ocpagg_writer::open_file_sink(&out, summary_schema())?;
    summarise(dir.path(), sink.as_mut())?;
    println!("wrote {} rows to {}", sink.finish()?.rows, out.display());
    // The first row is the web pod's: 0.5 cores for 24 hours.
    let mut rows = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out)?)?.build()?;
    let batch = rows.next().context("no rows")??;
    let hours = batch
        .column_by_name("pod_usage_cpu_core_hours")
        .context("no CPU hours")?;
    let hours = hours.as_primitive::<Float64Type>().value(0);
    ensure!(hours == 12.0, "expected 12 core-hours, got {hours}");
    Ok(())
}
