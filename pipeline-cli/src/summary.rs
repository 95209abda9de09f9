//! The human-readable end-of-run summary.

use std::fmt::Write as _;

use crate::pipeline::RunReport;

fn secs(d: std::time::Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// Renders the report: rows read per table, rows written per data source, and time.
pub fn render(report: &RunReport) -> String {
    let mut s = String::new();
    if let Some(m) = &report.mode {
        let _ = writeln!(
            s,
            "mode     {} ({}); files {} new, {} changed, {} gone; {} day(s) recomputed",
            m.mode,
            m.reason,
            m.files.new.len(),
            m.files.changed.len(),
            m.files.gone.len(),
            m.affected_days.len()
        );
    }
    let read: Vec<String> = report
        .rows_read
        .iter()
        .map(|(table, n)| format!("{table} {n}"))
        .collect();
    let _ = writeln!(
        s,
        "read     {} files: {}",
        report.files_read,
        read.join(", ")
    );
    if report.pods_from_daily {
        let _ = writeln!(
            s,
            "         pod sums from koku's daily roll-up; node capacity from hourly line items"
        );
    }
    if let Some(io) = &report.io {
        let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
        let _ = writeln!(
            s,
            "s3       {} requests ({} retries, {:.2} per file read), {:.1} MiB received of files totalling {:.1} MiB",
            io.requests,
            io.retries,
            io.requests as f64 / report.files_read.max(1) as f64,
            mib(io.bytes),
            mib(io.file_bytes)
        );
    }
    let a = &report.aggregate;
    let _ = writeln!(
        s,
        "pods     {} line items aggregated, {} without a node (capacity only), {} label strings parsed",
        a.pod_items, a.pod_items_without_node, a.label_strings_parsed
    );
    if a.storage_items > 0 {
        let _ = writeln!(
            s,
            "storage  {} line items aggregated{}",
            a.storage_items,
            if report.storage_from_daily {
                " (koku's daily roll-up)"
            } else {
                ""
            }
        );
    }
    let by_source: Vec<String> = report
        .write
        .rows_by_data_source
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(
        s,
        "wrote    {} rows ({}) to {}",
        report.write.rows,
        if by_source.is_empty() {
            "none".to_string()
        } else {
            by_source.join(", ")
        },
        report.write.target
    );
    if report.to_database {
        let _ = writeln!(
            s,
            "replaced {} old rows deleted, {} rows inserted, in one transaction ({} writing)",
            report.write.rows_deleted,
            report.write.rows,
            secs(report.write_time)
        );
    }
    if let Some(hive) = &report.write.hive {
        let removed: u64 = hive.partitions.iter().map(|p| p.objects_removed).sum();
        let _ = writeln!(
            s,
            "hive     {} rows in {} partitions under {} ({}; {} old objects removed; published in {})",
            hive.rows,
            hive.partitions.len(),
            hive.location,
            hive.describe_partitions(),
            removed,
            secs(hive.publish_time)
        );
        if let Some(call) = &report.hive_sync_call {
            let _ = writeln!(s, "         then run in Trino: {call}");
        }
    }
    let _ = writeln!(
        s,
        "time     {} wall, {:.0} rows/s; stages: read {} (all reader threads), labels {}, aggregate {}, convert {}, write {}",
        secs(report.wall),
        report.rows_per_second(),
        secs(report.read_time),
        secs(report.labels_time),
        secs(report.aggregate_time),
        secs(report.convert_time),
        secs(report.write_time)
    );
    s
}
