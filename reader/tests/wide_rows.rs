//! Batches of wide rows are cut by their decoded bytes, not only by the configured row count:
//! the memory a read holds in flight does not grow with the width of its rows.

use arrow::array::RecordBatch;
use ocpagg_fixtures::{hours, Dataset, Layout, PodItem, WriteOptions};
use ocpagg_reader::{Projection, ReportType, Warehouse, BATCH_BYTES};

mod common;

use common::{request, ORG, SOURCE};
const PODS: usize = 200;
const LABEL_BYTES: usize = 8 << 10;

/// One day of `PODS` pods an hour, hourly pod files only; with `wide`, every row carries a
/// distinct label text of at least `LABEL_BYTES` bytes.
fn lake(wide: bool) -> tempfile::TempDir {
    let mut data = Dataset::default();
    let day = chrono::NaiveDate::from_ymd_opt(2025, 10, 1).unwrap();
    for (h, ts) in hours(day, 0, 24).enumerate() {
        for p in 0..PODS {
            let mut item = PodItem::new(ts, "ns", "worker-1", &format!("pod-{p}"))
                .cpu(1.0, 1.0, 1.0)
                .node_capacity(4.0, 16.0);
            if wide {
                let filler = format!("{h:02}-{p:04}-").repeat(LABEL_BYTES / 8);
                item = item.labels(&format!(r#"{{"app":"a","note":"{filler}"}}"#));
            }
            data.pods.push(item);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    data.write(
        dir.path(),
        &Layout::new(ORG, SOURCE, "c"),
        &WriteOptions::hourly_only(),
    )
    .unwrap();
    dir
}

/// Every batch of every hourly pod file, read with `batch_size` rows asked for.
fn batches(root: &std::path::Path, batch_size: usize) -> Vec<RecordBatch> {
    let warehouse = Warehouse::open(&root.display().to_string()).unwrap();
    let listing = warehouse.list(&request()).unwrap();
    let projection = Projection::all(ReportType::PodUsage);
    let mut all = Vec::new();
    for file in listing.files(ReportType::PodUsage, false) {
        for batch in warehouse.read(file, &projection, None, batch_size).unwrap() {
            all.push(batch.unwrap());
        }
    }
    all
}

#[test]
fn wide_rows_come_in_batches_of_bounded_bytes_and_none_is_lost() {
    let dir = lake(true);
    let got = batches(dir.path(), 65_536);
    let rows: usize = got.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 24 * PODS, "every row is read once");
    // Each row holds at least LABEL_BYTES of label text, so a batch within the budget has
    // at most this many rows (the file has more: the cut is needed).
    let most = usize::try_from(BATCH_BYTES).unwrap() / LABEL_BYTES;
    assert!(24 * PODS > most);
    assert!(got.len() > 1, "the file is read in more than one batch");
    for batch in &got {
        assert!(
            batch.num_rows() <= most,
            "{} rows of at least {LABEL_BYTES} bytes in one batch (at most {most})",
            batch.num_rows()
        );
        // The decoded batch itself stays near the budget (within a factor of two for the
        // estimate's error and the buffers' spare capacity).
        let bytes = batch.get_array_memory_size() as u64;
        assert!(bytes <= 2 * BATCH_BYTES, "a batch of {bytes} bytes");
    }
}

#[test]
fn narrow_rows_keep_the_configured_batch_size() {
    let dir = lake(false);
    for size in [1_000, 4_800] {
        let got = batches(dir.path(), size);
        let sizes: Vec<usize> = got.iter().map(RecordBatch::num_rows).collect();
        let rows: usize = sizes.iter().sum();
        assert_eq!(rows, 24 * PODS);
        // Every batch but the last of its file is full.
        assert!(
            sizes.iter().filter(|&&n| n < size).count() <= 1,
            "{sizes:?}"
        );
    }
}
