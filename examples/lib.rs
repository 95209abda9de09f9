//! Runnable examples of the `ocpagg` stages used as libraries (see `summarise.rs` and
//! `custom_sink.rs` beside this file), and the warehouse they read.

use chrono::NaiveDate;
use ocpagg_fixtures::{hours, Dataset, Layout, PodItem, WriteOptions};

/// The org (schema) of the examples' warehouse.
pub const ORG: &str = "org1234567";
/// The source (cluster) the examples write and read.
pub const SOURCE: &str = "6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01";

/// Writes a warehouse in koku's layout to `dir`: October 2025 of one pod using half a core
/// (requesting one, limited to two) all day on the 1st, on a node of 4 cores and 16 GiB.
pub fn generate(dir: &std::path::Path) -> Result<(), ocpagg_fixtures::FixtureError> {
    let mut data = Dataset::default();
    let day = NaiveDate::from_ymd_opt(2025, 10, 1).unwrap_or_default();
    for hour in hours(day, 0, 24) {
        let pod = PodItem::new(hour, "web", "worker-1", "web-1").cpu(0.5, 1.0, 2.0);
        data.pods.push(pod.node_capacity(4.0, 16.0));
    }
    let layout = Layout::new(ORG, SOURCE, "my-cluster");
    data.write(dir, &layout, &WriteOptions::default()).map(drop)
}
