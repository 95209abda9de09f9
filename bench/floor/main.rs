//! The decode floor of an `ocpagg run` (issue #21): list the month, read every footer, and
//! decode exactly the columns and row groups the run reads (the same [`ScanPlan`], the same
//! projections, dictionary hints and row-group pruning, the same batch size), on `--threads`
//! threads pulling files in read order, and do nothing else: no normalisation, no
//! aggregation, no output. `ocpagg run` wall / this program's wall is how much of a run is
//! ours rather than the Parquet decoder's.
//!
//!     cargo bench -p ocpagg-benches --bench floor -- --warehouse DIR --threads 2
//!     bench/floor.py ...    # paired against `ocpagg run`, with the ratios
//!
//! Flags: `--warehouse DIR` (required), `--threads N` (default: all CPUs), `--org`,
//! `--source`, `--year`, `--month` (default: the benchmark job's, `bench/benchlib.py`),
//! `--batch-size` (default 65,536, as `ocpagg run`). Prints the files, the rows decoded and
//! the wall time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::NaiveDate;
use ocpagg_aggregate::Aggregator;
use ocpagg_reader::{DateRange, ScanPlan, ScanRequest, Warehouse};

struct Args {
    warehouse: String,
    threads: usize,
    org: String,
    source: String,
    year: i32,
    month: u32,
    batch_size: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        warehouse: String::new(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        org: "org1234567".into(),
        source: "6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01".into(),
        year: 2025,
        month: 10,
        batch_size: 65_536,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue; // cargo bench passes it to every bench target
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--warehouse" => args.warehouse = value,
            "--threads" => args.threads = number(&value)?.max(1),
            "--org" => args.org = value,
            "--source" => args.source = value,
            "--year" => args.year = i32::try_from(number(&value)?).map_err(|e| e.to_string())?,
            "--month" => args.month = u32::try_from(number(&value)?).map_err(|e| e.to_string())?,
            "--batch-size" => args.batch_size = number(&value)?.max(1),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.warehouse.is_empty() {
        return Err("--warehouse is required".into());
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let start = NaiveDate::from_ymd_opt(args.year, args.month, 1).expect("a valid month");
    let end = start
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.pred_opt())
        .expect("a valid month");
    let request = ScanRequest {
        org: args.org.clone(),
        source: args.source.clone(),
        year: args.year,
        month: args.month,
    };
    let warehouse = Warehouse::open(&args.warehouse).expect("cannot open the warehouse");
    let plan =
        ScanPlan::build(&warehouse, &request, &Aggregator::needs()).expect("cannot plan the run");
    let range = Some(DateRange { start, end });
    let next = AtomicUsize::new(0);
    let rows = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..args.threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(f) = plan.files.get(i) else { break };
                let decoded = warehouse
                    .read_with_footer(&f.file, &f.footer, &f.projection, range, args.batch_size)
                    .and_then(ocpagg_reader::FileBatches::decode_only)
                    .expect("cannot decode a file");
                rows.fetch_add(usize::try_from(decoded).unwrap_or(0), Ordering::Relaxed);
            });
        }
    });
    println!(
        "floor: {} files, {} rows decoded, {} threads, {:.3} s",
        plan.files.len(),
        rows.load(Ordering::Relaxed),
        args.threads,
        started.elapsed().as_secs_f64()
    );
}
