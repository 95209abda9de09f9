//! The summary rows fed to a sink of one's own: CPU core-hours per namespace, as a
//! chargeback report might want them. `cargo run -p ocpagg-examples --example custom_sink`
use std::collections::BTreeMap;

use anyhow::{ensure, Result};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use ocpagg_writer::{SummarySink, WriteReport};

#[path = "summarise.rs"]
mod summarise;

/// Sums `pod_usage_cpu_core_hours` per namespace (unallocated capacity has its own).
#[derive(Default)]
struct CpuByNamespace {
    hours: BTreeMap<String, f64>,
    report: WriteReport,
}

impl SummarySink for CpuByNamespace {
    fn write(&mut self, batch: &RecordBatch) -> ocpagg_writer::Result<()> {
        self.report.count(batch);
        let column = |name| batch.column_by_name(name).expect("a summary column");
        let (namespaces, hours) = (column("namespace"), column("pod_usage_cpu_core_hours"));
        let (namespaces, hours) = (
            namespaces.as_string::<i32>(),
            hours.as_primitive::<Float64Type>(),
        );
        for i in (0..batch.num_rows()).filter(|&i| hours.is_valid(i)) {
            // Unallocated capacity of a node whose role is unknown has no namespace, as in koku.
            let namespace = match namespaces.value(i) {
                "" => "(unallocated, role unknown)",
                name => name,
            };
            *self.hours.entry(namespace.to_string()).or_default() += hours.value(i);
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> ocpagg_writer::Result<WriteReport> {
        Ok(self.report)
    }
}

fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    ocpagg_examples::generate(dir.path())?;
    let mut sink = CpuByNamespace::default();
    summarise::summarise(dir.path(), &mut sink)?;
    for (namespace, hours) in &sink.hours {
        println!("{namespace:<20} {hours:>8.3} core-hours");
    }
    ensure!(
        sink.hours.get("web") == Some(&12.0),
        "web: {:?}",
        sink.hours.get("web")
    );
    Ok(())
}
