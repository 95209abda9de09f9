#!/usr/bin/env python3
"""End-to-end benchmark of ocpagg alone: generated month in, Parquet summary out.

    bench/e2e.py [--pod-rows 2000000[,20000000]] [--threads 1,2] [--runs 5] [--seed 42]
                 [--ocpagg PATH] [--scale] [--keep-up-to ROWS]

For each --pod-rows value, the month is generated once with `ocpagg generate` into
target/bench-data/<rows>-<seed>/ and reused by later runs (20M rows take a few minutes to
generate the first time). Without --ocpagg, it builds `cargo build --release -p ocpagg-cli`.
Each run is a fresh `ocpagg run` process (process start included) writing Parquet; after one
warm-up run per dataset, the thread counts run alternately --runs times. Prints, per dataset and
thread count, the hourly pod rows, the median wall time, rows/s, median CPU time and peak RSS,
then the speed-up of each thread count over the first one and the peak-RSS growth of each
dataset over the first one (the "flat memory" figure). Python 3.11 standard library only.

--scale is the cost curve of issue #21: --pod-rows 100000,2000000,20000000,60000000, and the
cost per input row (CPU and wall nanoseconds) of each size against the 2M month's. A month of
more than --keep-up-to rows (default 20,000,000) is generated for this run and deleted once
measured (60M rows take about 1.4 GB and, on a busy 2-CPU machine, about half an hour).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description="ocpagg end-to-end benchmark")
    p.add_argument("--pod-rows", default="2000000",
                   help="hourly pod rows per generated month, comma-separated")
    p.add_argument("--threads", default=None,
                   help="ocpagg --threads values, comma-separated (default: all CPUs)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--ocpagg", help="ocpagg binary (default: cargo build --release)")
    p.add_argument("--scale", action="store_true",
                   help="the cost curve: 100k, 2M, 20M and 60M rows (unless --pod-rows)")
    p.add_argument("--keep-up-to", type=int, default=20_000_000,
                   help="months of more rows are generated for this run and deleted after")
    args = p.parse_args()
    if args.scale and "--pod-rows" not in sys.argv:
        args.pod_rows = "100000,2000000,20000000,60000000"
    if args.runs < 1:
        bl.fail("--runs must be at least 1")
    sizes = bl.int_list(args.pod_rows, "--pod-rows")
    threads = bl.int_list(args.threads, "--threads") if args.threads else [None]
    ocpagg = bl.ocpagg_binary(args.ocpagg)
    results = []  # (dataset, rows, threads, [Measure])
    with tempfile.TemporaryDirectory(prefix="ocpagg-e2e-") as scratch:
        out = os.path.join(scratch, "summary.parquet")
        for size in sizes:
            warehouse = bl.dataset(ocpagg, size, args.seed)
            try:
                rows = bl.hourly_pod_rows(ocpagg, warehouse, scratch)  # also the warm-up run
                runs: dict = {t: [] for t in threads}
                for i in range(args.runs):
                    for t in threads:
                        runs[t].append(bl.measure(
                            bl.ocpagg_command(ocpagg, warehouse, out, t), "ocpagg"))
                    print(f"{size} rows, run {i + 1}/{args.runs}: " + ", ".join(
                        f"{'all CPUs' if t is None else f'--threads {t}'} "
                        f"{runs[t][-1].wall:.3f} s" for t in threads), flush=True)
            finally:
                if size > args.keep_up_to:
                    print(f"deleting {warehouse} ({size} rows > --keep-up-to)", flush=True)
                    shutil.rmtree(warehouse, ignore_errors=True)
            results += [(os.path.relpath(warehouse, bl.REPO), rows, t, runs[t]) for t in threads]
    header = ["dataset", "input rows", "threads", "wall median", "rows/s", "CPU median",
              "wall ns/row", "CPU ns/row", "peak RSS"]
    table = [[d, str(n), "all CPUs" if t is None else str(t), f"{bl.median_wall(ms):.3f} s",
              f"{n / bl.median_wall(ms):,.0f}", f"{bl.median_cpu(ms):.2f} s",
              f"{1e9 * bl.median_wall(ms) / n:.0f}", f"{1e9 * bl.median_cpu(ms) / n:.0f}",
              bl.mib(bl.peak_rss(ms))] for d, n, t, ms in results]
    print()
    print(f"ocpagg {ocpagg}: {args.runs} runs each, wall time including process start; "
          f"{bl.load_note()}")
    print(bl.table(header, table))
    by = {(d, t): ms for d, _, t, ms in results}
    datasets = list(dict.fromkeys(d for d, *_ in results))
    for d in datasets:
        for t in threads[1:]:
            speedup = bl.median_wall(by[(d, threads[0])]) / bl.median_wall(by[(d, t)])
            print(f"{d}: --threads {t} is {speedup:.2f}x --threads {threads[0]}")
    for d in datasets[1:]:
        for t in threads:
            growth = bl.peak_rss(by[(d, t)]) / bl.peak_rss(by[(datasets[0], t)])
            label = "all CPUs" if t is None else f"--threads {t}"
            print(f"peak RSS {d} / {datasets[0]} ({label}): {growth:.2f}x")
    # The cost curve: cost per input row of each month against the 2M month's (or the
    # second smallest: the smallest is mostly process start).
    rows_of = {d: n for d, n, _, _ in results}
    ref = next((d for d in datasets if d.endswith("/2000000-" + str(args.seed))),
               datasets[min(1, len(datasets) - 1)])
    for d in datasets:
        if d == ref:
            continue
        for t in threads:
            per = [bl.median_wall(by[(x, t)]) / rows_of[x] for x in (d, ref)]
            cpu = [bl.median_cpu(by[(x, t)]) / rows_of[x] for x in (d, ref)]
            label = "all CPUs" if t is None else f"--threads {t}"
            print(f"cost per row {d} / {ref} ({label}): wall {per[0] / per[1]:.2f}x, "
                  f"CPU {cpu[0] / cpu[1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
