//! The bad-data corpus (issue #18), in the spirit of arrow-rs's `bad_data` tests: every case is
//! built by code from a small `ocpagg_fixtures` month (no binary blob is committed), so it is
//! reproducible, then broken in one way. Each case runs the real `ocpagg run` binary to a file
//! output and must end with exit code 1, a message naming the file (and the column where there
//! is one), no output file and no temporary file, no panic, and a peak RSS (measured by
//! `/usr/bin/time -f %M`, the child's own max RSS from `wait4`) under 200 MiB. A few cases also
//! run against the test PostgreSQL, which must keep the rows it had.
//!
//! Run it alone with `cargo test -p ocpagg-cli --test e2e corpus`; `scripts/test.sh` runs it
//! with every other test.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimestampMillisecondType};
use bytes::Bytes;
use chrono::NaiveDate;
use ocpagg_fixtures::{
    hours, Dataset, NamespaceLabelItem, NodeLabelItem, PodItem, StorageItem, WriteOptions,
};
use ocpagg_reader::ReportType;
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::{
    FileMetaData, ParquetMetaData, ParquetMetaDataBuilder, ParquetMetaDataReader,
    ParquetMetaDataWriter,
};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::bad_input::shift_footer_statistics;
use crate::common::*;

/// Peak RSS allowed to any case.
const MAX_RSS_KIB: u64 = 200 * 1024;

/// The month every case starts from: two days of four hours in all four tables, hourly files
/// only, so each (table, day) is one file.
fn base() -> Dataset {
    let mut data = Dataset::default();
    for d in 1..=2 {
        for ts in hours(day(d), 0, 4) {
            data.pods.push(
                PodItem::new(ts, "ns", "worker-1", "p")
                    .cpu(1.0, 1.0, 1.0)
                    .memory_gib(1.0, 1.0, 1.0)
                    .node_capacity(4.0, 16.0)
                    .labels(r#"{"app": "web"}"#),
            );
            data.storage.push(
                StorageItem::new(ts, "ns", "p", "pvc", "pv")
                    .capacity_gib(10.0)
                    .request_gib(5.0)
                    .usage_gib(1.0)
                    .pv_labels(r#"{"disk": "ssd"}"#)
                    .pvc_labels(r#"{"claim": "c"}"#),
            );
            data.node_labels.push(NodeLabelItem::new(
                ts,
                "worker-1",
                r#"{"node_role_kubernetes_io": "worker"}"#,
            ));
            data.namespace_labels
                .push(NamespaceLabelItem::new(ts, "ns", r#"{"team": "a"}"#));
        }
    }
    data
}

/// Rewrites a Parquet file as the same schema with no row groups.
fn without_row_groups(f: &Path) {
    let schema = {
        let file = std::fs::File::open(f).unwrap();
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .schema()
            .clone()
    };
    let w = ArrowWriter::try_new(std::fs::File::create(f).unwrap(), schema, None).unwrap();
    w.close().unwrap();
}

fn month_dir(root: &Path, table: ReportType, month: u32) -> PathBuf {
    root.join(format!(
        "data/parquet/{ORG}/OCP/{}/source={SOURCE}/year=2025/month={month:02}",
        table.dir_name()
    ))
}

/// The hourly file of `table` holding day `d` of October.
fn file_of(root: &Path, table: ReportType, d: u32) -> PathBuf {
    month_dir(root, table, 10).join(format!(
        "{CLUSTER}_{}_202510{d:02}.0_0.parquet",
        table.dir_name()
    ))
}

fn pods(root: &Path) -> PathBuf {
    file_of(root, ReportType::PodUsage, 1)
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// What breaking the lake leaves to check: texts stderr must contain.
type Expect = Vec<String>;

fn expect(texts: &[&str]) -> Expect {
    texts.iter().map(|s| s.to_string()).collect()
}

/// One case: a name and how it breaks a fresh base lake (returning what stderr must say).
struct Case {
    name: String,
    args: Vec<String>,
    data: fn() -> Dataset,
    breaks: Box<dyn Fn(&Path) -> Expect>,
}

impl Case {
    fn new(name: impl Into<String>, breaks: impl Fn(&Path) -> Expect + 'static) -> Self {
        Case {
            name: name.into(),
            args: Vec::new(),
            data: base,
            breaks: Box::new(breaks),
        }
    }
}

/// What one run of a case measured.
struct Measured {
    code: i32,
    stderr: String,
    rss_kib: u64,
    wall: Duration,
}

/// Runs `ocpagg` with `args` under `/usr/bin/time`, which reports the child's max RSS.
fn measured_run(args: &[String]) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let rss_file = dir.path().join("rss");
    let started = Instant::now();
    let out = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss_file)
        .arg(env!("CARGO_BIN_EXE_ocpagg"))
        .args(args)
        .output()
        .expect("/usr/bin/time runs");
    let wall = started.elapsed();
    let rss = std::fs::read_to_string(&rss_file).unwrap_or_default();
    // The last line is %M; a line before it may say the command exited non-zero.
    let rss_kib = rss
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(u64::MAX);
    Measured {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        rss_kib,
        wall,
    }
}

/// Runs every case to a file output, checks each and fails with every broken expectation at
/// once; prints a table of the cases (visible with `--nocapture`).
fn run_cases(cases: Vec<Case>) {
    let mut failures = Vec::new();
    let mut table = String::new();
    for case in cases {
        let lake = Lake::write(&(case.data)(), &WriteOptions::hourly_only());
        let wants = (case.breaks)(lake.path());
        let out_dir = tempfile::tempdir().unwrap();
        let output = out_dir.path().join("summary.parquet");
        let mut args = run_argv(lake.path(), &output.display().to_string());
        args.extend(case.args.iter().cloned());
        let m = measured_run(&args);
        let mut wrong = Vec::new();
        if m.code != 1 {
            wrong.push(format!("exit code {} (expected 1)", m.code));
        }
        for want in &wants {
            if !m.stderr.contains(want.as_str()) {
                wrong.push(format!("stderr lacks {want:?}"));
            }
        }
        if m.stderr.contains("panicked") || m.stderr.contains("RUST_BACKTRACE") {
            wrong.push("a panic".into());
        }
        let left: Vec<_> = std::fs::read_dir(out_dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        if !left.is_empty() {
            wrong.push(format!("files left in the output directory: {left:?}"));
        }
        if m.rss_kib > MAX_RSS_KIB {
            wrong.push(format!("peak RSS {} KiB", m.rss_kib));
        }
        table.push_str(&format!(
            "{:<48} exit {} {:>6} KiB {:>5} ms  {}\n",
            case.name,
            m.code,
            m.rss_kib,
            m.wall.as_millis(),
            m.stderr.lines().last().unwrap_or("")
        ));
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {}\n  stderr: {}",
                case.name,
                wrong.join("; "),
                m.stderr.trim()
            ));
        }
    }
    eprintln!("{table}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- ways to break a file ------------------------------------------------------------------

fn truncate_to(path: &Path, len: impl Fn(usize) -> usize) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..len(bytes.len())]).unwrap();
}

/// The footer as parsed, and where the data ends (the footer starts).
fn footer(bytes: &[u8]) -> (ParquetMetaData, usize) {
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&Bytes::copy_from_slice(bytes))
        .unwrap();
    let n = bytes.len();
    let footer_len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    (meta, n - 8 - footer_len)
}

/// Rewrites the file's footer through `edit` (data pages untouched, unless `data` edits them).
fn edit_footer(path: &Path, edit: impl FnOnce(ParquetMetaData) -> ParquetMetaData) {
    let bytes = std::fs::read(path).unwrap();
    let (meta, data_end) = footer(&bytes);
    let mut out = bytes[..data_end].to_vec();
    ParquetMetaDataWriter::new(&mut out, &edit(meta))
        .finish()
        .unwrap();
    std::fs::write(path, out).unwrap();
}

fn with_file_rows(meta: ParquetMetaData, rows: impl Fn(i64) -> i64) -> ParquetMetaData {
    let f = meta.file_metadata();
    let file = FileMetaData::new(
        f.version(),
        rows(f.num_rows()),
        f.created_by().map(str::to_string),
        f.key_value_metadata().cloned(),
        f.schema_descr_ptr(),
        f.column_orders().cloned(),
    );
    let groups = meta.row_groups().to_vec();
    ParquetMetaDataBuilder::new(file)
        .set_row_groups(groups)
        .build()
}

/// Changes the row count of row group 0, and with `values` the value counts of its columns too.
fn with_group_rows(meta: ParquetMetaData, delta: i64, values: bool) -> ParquetMetaData {
    let mut groups = meta.row_groups().to_vec();
    let g = groups[0].clone();
    let rows = g.num_rows() + delta;
    let columns = g
        .columns()
        .iter()
        .map(|c| {
            if values {
                c.clone()
                    .into_builder()
                    .set_num_values(c.num_values() + delta)
                    .build()
                    .unwrap()
            } else {
                c.clone()
            }
        })
        .collect();
    groups[0] = g
        .into_builder()
        .set_num_rows(rows)
        .set_column_metadata(columns)
        .build()
        .unwrap();
    ParquetMetaDataBuilder::new_from_metadata(meta)
        .set_row_groups(groups)
        .build()
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Reads a thrift compact varint at `at`; returns (value, length).
fn read_varint(bytes: &[u8], at: usize) -> (u64, usize) {
    let (mut v, mut shift, mut i) = (0u64, 0, at);
    loop {
        let b = bytes[i];
        v |= u64::from(b & 0x7f) << shift;
        i += 1;
        if b & 0x80 == 0 {
            return (v, i - at);
        }
        shift += 7;
    }
}

/// Makes the first page header of `column` claim 2 GiB (`i32::MAX` bytes): field 2 is its
/// uncompressed size, field 3 its compressed size (thrift compact, written in field order).
/// The header grows by a few bytes; the footer's offsets after it are moved to match, so
/// only the claim is wrong.
fn page_claims_2_gib(path: &Path, column: &str, field: usize) {
    let bytes = std::fs::read(path).unwrap();
    let (meta, data_end) = footer(&bytes);
    let descr = meta.file_metadata().schema_descr_ptr();
    let leaf = (0..descr.num_columns())
        .find(|&i| descr.column(i).name() == column)
        .unwrap();
    let chunk = meta.row_group(0).column(leaf);
    let start = chunk.byte_range().0 as usize;
    // Fields 1 (type), 2 (uncompressed size), 3 (compressed size): each a 0x15 byte (delta 1,
    // i32) and a zigzag varint.
    let mut at = start;
    let mut fields = Vec::new();
    for _ in 0..3 {
        assert_eq!(bytes[at], 0x15, "a page header written in field order");
        let (_, len) = read_varint(&bytes, at + 1);
        fields.push((at + 1, len));
        at += 1 + len;
    }
    let (pos, len) = fields[field - 1];
    let mut claim = Vec::new();
    varint((i32::MAX as u64) << 1, &mut claim); // zigzag of a positive i32
    let grow = claim.len() as i64 - len as i64;
    let mut out = bytes[..pos].to_vec();
    out.extend_from_slice(&claim);
    out.extend_from_slice(&bytes[pos + len..data_end]);
    let shift = |o: i64| if o > start as i64 { o + grow } else { o };
    let groups = meta
        .row_groups()
        .iter()
        .map(|g| {
            let columns = g
                .columns()
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let mut b = c
                        .clone()
                        .into_builder()
                        .set_data_page_offset(shift(c.data_page_offset()))
                        .set_dictionary_page_offset(c.dictionary_page_offset().map(shift))
                        .set_column_index_offset(None)
                        .set_column_index_length(None)
                        .set_offset_index_offset(None)
                        .set_offset_index_length(None);
                    if i == leaf && std::ptr::eq(g, meta.row_group(0)) {
                        b = b.set_total_compressed_size(c.compressed_size() + grow);
                    }
                    b.build().unwrap()
                })
                .collect();
            g.clone()
                .into_builder()
                .set_column_metadata(columns)
                .build()
                .unwrap()
        })
        .collect();
    let meta = ParquetMetaDataBuilder::new_from_metadata(meta)
        .set_row_groups(groups)
        .build();
    ParquetMetaDataWriter::new(&mut out, &meta)
        .finish()
        .unwrap();
    std::fs::write(path, out).unwrap();
}

/// Replaces one column's values (keeping its name; the type follows the new array).
fn set_column(path: &Path, column: &'static str, values: impl Fn(&ArrayRef) -> ArrayRef) {
    rewrite(path, |b| {
        let i = b.schema().index_of(column).unwrap();
        let mut fields: Vec<Field> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut cols: Vec<ArrayRef> = b.columns().to_vec();
        cols[i] = values(&cols[i]);
        fields[i] = Field::new(column, cols[i].data_type().clone(), true);
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
    });
}

/// One text value at row 1, the others as they were.
fn set_text(path: &Path, column: &'static str, text: String) {
    set_column(path, column, move |a| {
        let a = arrow::compute::cast(a, &DataType::Utf8).unwrap();
        let mut v: Vec<Option<String>> = a
            .as_string::<i32>()
            .iter()
            .map(|s| s.map(str::to_string))
            .collect();
        v[1] = Some(text.clone());
        Arc::new(StringArray::from(v))
    });
}

/// One measure value at row 1.
fn set_number(path: &Path, column: &'static str, value: f64) {
    set_column(path, column, move |a| {
        let mut v: Vec<Option<f64>> = a
            .as_primitive::<arrow::datatypes::Float64Type>()
            .iter()
            .collect();
        v[1] = Some(value);
        Arc::new(arrow::array::Float64Array::from(v))
    });
}

/// The measure column as text (`"3600.0"`), as a tool that wrote every column as a string would.
fn number_as_text(path: &Path, column: &'static str) {
    set_column(path, column, |a| {
        arrow::compute::cast(a, &DataType::Utf8).unwrap()
    });
}

/// Row 0's `interval_start` set to `at`; with `statistics = false` the file is written with
/// no statistics, so only the rows can tell.
fn move_first_row(path: &Path, at: NaiveDate, hour: u32, statistics: bool) {
    let instant = at
        .and_hms_opt(hour, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let file = std::fs::File::open(path).unwrap();
    let batches: Vec<RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let b = &batches[0];
    let i = b.schema().index_of("interval_start").unwrap();
    let ty = b.column(i).data_type().clone();
    let mut v: Vec<Option<i64>> = b
        .column(i)
        .as_primitive::<TimestampMillisecondType>()
        .iter()
        .collect();
    v[0] = Some(instant);
    let mut cols = b.columns().to_vec();
    cols[i] = Arc::new(TimestampMillisecondArray::from(v).with_data_type(ty));
    let batch = RecordBatch::try_new(b.schema(), cols).unwrap();
    let props = WriterProperties::builder()
        .set_statistics_enabled(if statistics {
            EnabledStatistics::Chunk
        } else {
            EnabledStatistics::None
        })
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        b.schema(),
        Some(props),
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

// ---- the cases -----------------------------------------------------------------------------

/// Files that are not Parquet, or not whole: truncated, wrong magic, footer length past the
/// end, a page header claiming 2 GiB, row counts that disagree, no row groups.
#[test]
fn corpus_structure() {
    let mut cases = Vec::new();
    type Cut = fn(usize) -> usize;
    let cuts: [(&str, Cut); 6] = [
        ("zero bytes", |_| 0),
        ("the magic only", |_| 4),
        ("100 bytes", |_| 100),
        ("half", |n| n / 2),
        ("without its last byte", |n| n - 1),
        ("without the footer length and magic", |n| n - 8),
    ];
    for (what, cut) in cuts {
        cases.push(Case::new(format!("truncated: {what}"), move |root| {
            let f = pods(root);
            truncate_to(&f, cut);
            expect(&[&name(&f), "not a readable Parquet file"])
        }));
    }
    cases.push(Case::new("wrong magic at the end", |root| {
        let f = pods(root);
        let mut b = std::fs::read(&f).unwrap();
        let n = b.len();
        b[n - 4..].copy_from_slice(b"PAR2");
        std::fs::write(&f, b).unwrap();
        expect(&[&name(&f), "not a readable Parquet file"])
    }));
    cases.push(Case::new("a text file named .parquet", |root| {
        let f = pods(root);
        std::fs::write(&f, "interval_start,namespace\n2025-10-01,ns\n").unwrap();
        expect(&[&name(&f), "not a readable Parquet file"])
    }));
    for (what, len) in [
        ("footer length past the end", None),
        ("footer length 4 GiB", Some(u32::MAX)),
    ] {
        cases.push(Case::new(what, move |root| {
            let f = pods(root);
            let mut b = std::fs::read(&f).unwrap();
            let n = b.len();
            let claim = len.unwrap_or(n as u32);
            b[n - 8..n - 4].copy_from_slice(&claim.to_le_bytes());
            std::fs::write(&f, b).unwrap();
            expect(&[&name(&f), "not a readable Parquet file"])
        }));
    }
    for (what, field) in [("uncompressed", 2), ("compressed", 3)] {
        for column in ["interval_start", "pod_usage_cpu_core_seconds"] {
            cases.push(Case::new(
                format!("page header: {what} size 2 GiB ({column})"),
                move |root| {
                    let f = pods(root);
                    page_claims_2_gib(&f, column, field);
                    expect(&[&name(&f)])
                },
            ));
        }
    }
    // (A footer whose own row count disagrees with its row groups cannot be written with
    // `ParquetMetaDataWriter`, which derives it from them; the reader checks it all the same.)
    cases.push(Case::new("row counts: row group says one fewer", |root| {
        let f = pods(root);
        edit_footer(&f, |m| {
            with_file_rows(with_group_rows(m, -1, false), |n| n - 1)
        });
        expect(&[&name(&f), "row group 0 says 3 rows, its column"])
    }));
    cases.push(Case::new(
        "row counts: footer and chunks say one fewer than the pages",
        |root| {
            let f = pods(root);
            edit_footer(&f, |m| {
                with_file_rows(with_group_rows(m, -1, true), |n| n - 1)
            });
            expect(&[
                &name(&f),
                "the pages of its column \"interval_start\" hold 4",
            ])
        },
    ));
    cases.push(Case::new(
        "row counts: footer and chunks say one more than the pages",
        |root| {
            let f = pods(root);
            edit_footer(&f, |m| {
                with_file_rows(with_group_rows(m, 1, true), |n| n + 1)
            });
            expect(&[&name(&f), "row group 0 says 5 rows"])
        },
    ));
    cases.push(Case::new("zero row groups", |root| {
        let f = file_of(root, ReportType::PodUsage, 2);
        without_row_groups(&f);
        expect(&[&name(&f), "no row groups"])
    }));
    run_cases(cases);
}

/// Each required column missing in turn, in each table; each measure written as text.
#[test]
fn corpus_columns() {
    let mut cases = Vec::new();
    for table in ReportType::ALL {
        for spec in table.columns().iter().filter(|c| c.required) {
            let column = spec.name;
            cases.push(Case::new(
                format!("missing {}.{column}", table.dir_name()),
                move |root| {
                    let f = file_of(root, table, 1);
                    rewrite(&f, |mut b| {
                        let i = b.schema().index_of(column).unwrap();
                        b.remove_column(i);
                        b
                    });
                    expect(&[&name(&f), column, "missing"])
                },
            ));
            if spec.kind == ocpagg_reader::ColumnKind::Number {
                cases.push(Case::new(
                    format!("{}.{column} as text", table.dir_name()),
                    move |root| {
                        let f = file_of(root, table, 1);
                        number_as_text(&f, column);
                        expect(&[&name(&f), column, "Utf8", "expected a number"])
                    },
                ));
            }
        }
    }
    run_cases(cases);
}

/// Values that cannot be trusted: negative, infinite, NaN or absurdly large measures; label
/// text that is not JSON, nested 200 deep, or 5 MiB long.
#[test]
fn corpus_values() {
    let mut cases = Vec::new();
    let values: [(&str, f64, &str); 5] = [
        ("negative", -1.0, "not negative"),
        ("infinite", f64::INFINITY, "finite"),
        ("-infinite", f64::NEG_INFINITY, "finite"),
        ("NaN", f64::NAN, "finite"),
        ("1e300", 1e300, "at most"),
    ];
    for (table, column) in [
        (ReportType::PodUsage, "pod_usage_cpu_core_seconds"),
        (ReportType::PodUsage, "node_capacity_memory_bytes"),
        (
            ReportType::StorageUsage,
            "persistentvolumeclaim_usage_byte_seconds",
        ),
    ] {
        for (what, value, says) in values {
            cases.push(Case::new(format!("{column} {what}"), move |root| {
                let f = file_of(root, table, 2);
                set_number(&f, column, value);
                expect(&[&name(&f), column, "row group 0", says])
            }));
        }
    }
    let deep = format!("{}1{}", r#"{"a": "#.repeat(200), "}".repeat(200));
    let long = format!(r#"{{"a": "{}"}}"#, "x".repeat(5 << 20));
    let labels: [(ReportType, &'static str, &str, String); 6] = [
        (
            ReportType::PodUsage,
            "pod_labels",
            "not JSON",
            "app=web".into(),
        ),
        (
            ReportType::PodUsage,
            "pod_labels",
            "nested 200 deep",
            deep.clone(),
        ),
        (ReportType::PodUsage, "pod_labels", "5 MiB", long.clone()),
        (
            ReportType::NodeLabels,
            "node_labels",
            "not JSON",
            "{\"a\": ".into(),
        ),
        (
            ReportType::NamespaceLabels,
            "namespace_labels",
            "nested 200 deep",
            deep,
        ),
        (
            ReportType::StorageUsage,
            "persistentvolumeclaim_labels",
            "5 MiB",
            long,
        ),
    ];
    for (table, column, what, text) in labels {
        cases.push(Case::new(format!("{column} {what}"), move |root| {
            let f = file_of(root, table, 2);
            set_text(&f, column, text.clone());
            expect(&[&name(&f), column])
        }));
    }
    run_cases(cases);
}

/// Files in the wrong place or told twice: another month's rows, an `interval_start` outside
/// the month (caught by the statistics, and by the rows when there are none), wrong footer
/// statistics, the same upload under two names.
#[test]
fn corpus_layout() {
    let mut cases = Vec::new();
    cases.push(Case::new(
        "a November file in October's directory",
        |root| {
            let mut data = Dataset::default();
            for ts in hours(NaiveDate::from_ymd_opt(2025, 11, 3).unwrap(), 0, 4) {
                data.pods.push(
                    PodItem::new(ts, "ns", "worker-1", "p")
                        .cpu(1.0, 1.0, 1.0)
                        .node_capacity(4.0, 16.0),
                );
            }
            data.write(root, &layout(), &WriteOptions::hourly_only())
                .unwrap();
            let from = month_dir(root, ReportType::PodUsage, 11)
                .join(format!("{CLUSTER}_pod_usage_20251103.0_0.parquet"));
            let to = month_dir(root, ReportType::PodUsage, 10).join("uploaded-late.parquet");
            std::fs::rename(from, &to).unwrap();
            expect(&[
                &name(&to),
                "interval_start",
                "outside 2025-10",
                "statistics",
            ])
        },
    ));
    for (what, date, hour, statistics) in [
        ("2025-11-01 00:00 (statistics)", (11, 1), 0, true),
        ("2025-11-01 00:00 (no statistics)", (11, 1), 0, false),
        ("2025-09-30 23:00 (no statistics)", (9, 30), 23, false),
    ] {
        cases.push(Case::new(format!("interval_start {what}"), move |root| {
            let f = file_of(root, ReportType::StorageUsage, 2);
            let d = NaiveDate::from_ymd_opt(2025, date.0, date.1).unwrap();
            move_first_row(&f, d, hour, statistics);
            let at = format!("{d} {hour:02}:00:00 UTC");
            expect(&[&name(&f), "interval_start", &at, "outside 2025-10"])
        }));
    }
    cases.push(Case::new("footer statistics: 40 days later", |root| {
        let f = pods(root);
        shift_footer_statistics(&f, 40);
        expect(&[
            &name(&f),
            "interval_start",
            "footer statistics",
            "outside 2025-10",
        ])
    }));
    let mut lying = Case::new("footer statistics: day 3 claims day 12", |root| {
        let f = file_of(root, ReportType::PodUsage, 3);
        shift_footer_statistics(&f, 9);
        expect(&[&name(&f), "2025-10-03", "statistics"])
    });
    lying.data = || one_pod(3..=12, 4);
    lying.args = vec!["--threads".into(), "1".into()];
    cases.push(lying);
    for table in [ReportType::PodUsage, ReportType::NodeLabels] {
        cases.push(Case::new(
            format!("duplicate {} file", table.dir_name()),
            move |root| {
                let f = file_of(root, table, 1);
                let copy = f.with_file_name("again.parquet");
                std::fs::copy(&f, &copy).unwrap();
                expect(&[&name(&f), &name(&copy), "same contents"])
            },
        ));
    }
    run_cases(cases);
}

/// A few cases against PostgreSQL: the run fails and the table keeps exactly the rows of the
/// last good run (the transaction never commits).
#[test]
fn corpus_postgres_keeps_its_rows() {
    use crate::pg::{client, db_url, koku_schema};
    let schema = "corpus_pg";
    let mut c = client();
    koku_schema(&mut c, schema, &[SOURCE]);
    let snapshot = |c: &mut postgres::Client| -> (i64, String) {
        let row = c
            .query_one(
                &format!(
                    "SELECT count(*), coalesce(string_agg(uuid::text, ',' ORDER BY uuid), '')
                       FROM {schema}.reporting_ocpusagelineitem_daily_summary"
                ),
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    let args = |root: &Path| {
        let mut a = run_argv(root, &db_url());
        a.extend(["--schema".into(), schema.into()]);
        a
    };
    let good = Lake::write(&base(), &WriteOptions::hourly_only());
    let m = measured_run(&args(good.path()));
    assert_eq!(m.code, 0, "{}", m.stderr);
    let before = snapshot(&mut c);
    assert!(before.0 > 0);
    type Break = fn(&Path) -> PathBuf;
    let cases: [(&str, Break); 4] = [
        ("truncated", |root| {
            let f = file_of(root, ReportType::StorageUsage, 2);
            truncate_to(&f, |n| n / 2);
            f
        }),
        ("infinite measure", |root| {
            let f = file_of(root, ReportType::PodUsage, 2);
            set_number(&f, "pod_usage_cpu_core_seconds", f64::INFINITY);
            f
        }),
        ("duplicate file", |root| {
            let f = file_of(root, ReportType::PodUsage, 2);
            std::fs::copy(&f, f.with_file_name("again.parquet")).unwrap();
            f
        }),
        ("row of November", |root| {
            let f = file_of(root, ReportType::PodUsage, 2);
            move_first_row(&f, NaiveDate::from_ymd_opt(2025, 11, 1).unwrap(), 0, false);
            f
        }),
    ];
    for (what, breaks) in cases {
        let lake = Lake::write(&base(), &WriteOptions::hourly_only());
        let f = breaks(lake.path());
        let m = measured_run(&args(lake.path()));
        assert_eq!(m.code, 1, "{what}: {}", m.stderr);
        assert!(m.stderr.contains(&name(&f)), "{what}: {}", m.stderr);
        assert!(!m.stderr.contains("panicked"), "{what}: {}", m.stderr);
        assert!(m.rss_kib < MAX_RSS_KIB, "{what}: {} KiB", m.rss_kib);
        assert_eq!(snapshot(&mut c), before, "{what}: the table changed");
    }
}

/// `ocpagg preflight` refuses, from the footers alone, what a run refuses from them: no row
/// groups, row counts that disagree, statistics outside the month, the same file twice.
#[test]
fn corpus_preflight_agrees() {
    type Break = fn(&Path) -> PathBuf;
    let cases: [(&str, Break); 4] = [
        ("zero row groups", |root| {
            let f = pods(root);
            without_row_groups(&f);
            f
        }),
        ("row counts", |root| {
            let f = pods(root);
            edit_footer(&f, |m| {
                with_file_rows(with_group_rows(m, -1, false), |n| n - 1)
            });
            f
        }),
        ("statistics of November", |root| {
            let f = file_of(root, ReportType::NodeLabels, 2);
            shift_footer_statistics(&f, 40);
            f
        }),
        ("duplicate", |root| {
            let f = file_of(root, ReportType::StorageUsage, 2);
            std::fs::copy(&f, f.with_file_name("again.parquet")).unwrap();
            f
        }),
    ];
    for (what, breaks) in cases {
        let lake = Lake::write(&base(), &WriteOptions::hourly_only());
        let f = breaks(lake.path());
        let out = lake.path().join("out.parquet");
        let mut args = run_argv(lake.path(), &out.display().to_string());
        args[0] = "preflight".into();
        let o = ocpagg(&args);
        assert_eq!(o.code, 1, "{what}: {}{}", o.stdout, o.stderr);
        assert!(
            o.stdout
                .lines()
                .any(|l| l.starts_with("FAIL") && l.contains(&name(&f))),
            "{what}: {}",
            o.stdout
        );
        assert!(o.stdout.contains("NOT READY"), "{what}: {}", o.stdout);
    }
}

/// A few cases from S3 (decoded from fetched bytes rather than a local file, duplicates
/// compared by ranged GETs): the same outcomes as on local disk.
#[test]
fn corpus_from_s3() {
    let bucket = crate::sources::s3_bucket();
    type Break = fn(&Path) -> (PathBuf, &'static str);
    let cases: [(&str, Break); 5] = [
        ("truncated", |root| {
            let f = pods(root);
            truncate_to(&f, |n| n / 2);
            (f, "not a readable Parquet file")
        }),
        ("page header: uncompressed size 2 GiB", |root| {
            let f = pods(root);
            page_claims_2_gib(&f, "pod_usage_cpu_core_seconds", 2);
            (f, "claims 2147483647 bytes decompressed")
        }),
        ("row counts: one fewer than the pages", |root| {
            let f = pods(root);
            edit_footer(&f, |m| {
                with_file_rows(with_group_rows(m, -1, true), |n| n - 1)
            });
            (f, "the pages of its column \"interval_start\" hold 4")
        }),
        ("row of November", |root| {
            let f = file_of(root, ReportType::StorageUsage, 2);
            move_first_row(&f, NaiveDate::from_ymd_opt(2025, 11, 1).unwrap(), 0, false);
            (f, "outside 2025-10")
        }),
        ("duplicate", |root| {
            let f = file_of(root, ReportType::PodUsage, 2);
            std::fs::copy(&f, f.with_file_name("again.parquet")).unwrap();
            (f, "same contents")
        }),
    ];
    for (i, (what, breaks)) in cases.into_iter().enumerate() {
        let lake = Lake::write(&base(), &WriteOptions::hourly_only());
        let (f, says) = breaks(lake.path());
        let prefix = format!("corpus-{}-{i}", std::process::id());
        crate::sources::upload(lake.path(), &bucket, &prefix);
        let out_dir = tempfile::tempdir().unwrap();
        let output = out_dir.path().join("summary.parquet");
        let url = format!("s3://{bucket}/{prefix}");
        let m = measured_run(&run_argv(Path::new(&url), &output.display().to_string()));
        assert_eq!(m.code, 1, "{what}: {}", m.stderr);
        assert!(m.stderr.contains(&name(&f)), "{what}: {}", m.stderr);
        assert!(m.stderr.contains(says), "{what}: {}", m.stderr);
        assert!(!m.stderr.contains("panicked"), "{what}: {}", m.stderr);
        assert!(m.rss_kib < MAX_RSS_KIB, "{what}: {} KiB", m.rss_kib);
        assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 0);
    }
}
