#!/usr/bin/env python3
"""ocpagg against its decode floor (issue #21): wall ratios, memory flat in days, threads.

    bench/floor.py [--pod-rows 2000000,20000000] [--threads 1,2] [--runs 5] [--seed 42]
                   [--tables daily,hourly] [--first-days 3] [--ocpagg PATH] [--floor PATH]
                   [--baseline PATH] [--pin]

For each generated month (cached as bench/e2e.py does) and each table choice ("daily": the
month as generated, with koku's daily roll-up; "hourly": a view of the same files without the
daily/ tree, symlinked under target/bench-data/<rows>-<seed>-hourly/), the programs run
alternately, --runs times each, after one warm-up run of each:
- `ocpagg run` of the benchmark job (benchlib.JOB_FLAGS), once per --threads value;
- the floor (`bench/floor/main.rs`: the same files, columns and row groups, only decoded), with
  the same thread count;
- `ocpagg run` of the first --first-days days only (--end-date), with the last thread count:
  peak RSS of the whole month against its first days (memory flat in days);
- with --baseline OLD: that other ocpagg binary too (the whole month, the last thread count),
  for the ratio new/old of each change.
With --pin, each program runs on as many CPUs as its thread count (sched_setaffinity, as under a
container's CPU limit), so the 1- vs 2-thread speed-up is that of one CPU against two; without
it, `--threads 1` still runs its reader, converter and writer threads beside the one
aggregation thread, on every CPU.
Prints wall and CPU medians, peak RSS, the ratio ocpagg/floor (of the medians, and the median
of the paired ratios), the 1- vs 2-thread speed-up and the memory ratio, with the load average.
Without --floor it builds the floor with `cargo bench -p ocpagg-benches --bench floor --no-run`;
without --ocpagg, `cargo build --release -p ocpagg-cli`. Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def floor_binary(path: str | None) -> str:
    """The given floor program, or the one `cargo bench --no-run` builds."""
    if path:
        return os.path.abspath(path)
    print("building the floor (cargo bench -p ocpagg-benches --bench floor --no-run) ...",
          flush=True)
    r = subprocess.run(["cargo", "bench", "-p", "ocpagg-benches", "--bench", "floor",
                        "--no-run", "--message-format=json"], cwd=bl.REPO,
                       capture_output=True, text=True)
    if r.returncode != 0:
        bl.fail(f"building the floor failed:\n{r.stderr}")
    for line in r.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "floor" \
                and msg.get("executable"):
            return msg["executable"]
    bl.fail("cargo did not report the floor's executable")
    return ""


def floor_command(floor: str, warehouse: str, threads: int | None) -> list[str]:
    cmd = [floor, "--warehouse", warehouse, "--org", bl.ORG, "--source", bl.SOURCE,
           "--year", str(bl.YEAR), "--month", str(bl.MONTH)]
    if threads:
        cmd += ["--threads", str(threads)]
    return cmd


def main() -> int:
    p = argparse.ArgumentParser(description="ocpagg against its decode floor")
    p.add_argument("--pod-rows", default="2000000")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--tables", default="daily,hourly")
    p.add_argument("--first-days", type=int, default=3, help="0: no first-days run")
    p.add_argument("--ocpagg")
    p.add_argument("--floor")
    p.add_argument("--baseline", help="another ocpagg binary to pair against")
    p.add_argument("--no-floor", action="store_true", help="ocpagg (and baseline) only")
    p.add_argument("--pin", action="store_true",
                   help="run each program on as many CPUs as its --threads (as under a CPU "
                        "limit): --threads 1 then gets one CPU, not one aggregation thread "
                        "beside the reader, converter and writer threads on two")
    args = p.parse_args()
    sizes = bl.int_list(args.pod_rows, "--pod-rows")
    threads = bl.int_list(args.threads, "--threads")
    tables = [t for t in args.tables.split(",") if t]
    ocpagg = bl.ocpagg_binary(args.ocpagg)
    floor = None if args.no_floor else floor_binary(args.floor)
    last = threads[-1]
    extra_days = ("--end-date", f"{bl.YEAR}-{bl.MONTH:02d}-{args.first_days:02d}")
    loads = []
    report = []
    with tempfile.TemporaryDirectory(prefix="ocpagg-floor-") as scratch:
        out = os.path.join(scratch, "summary.parquet")
        for size in sizes:
            base = bl.dataset(ocpagg, size, args.seed)
            for table in tables:
                wh = base if table == "daily" else bl.hourly_view(base)
                runners = {}
                for t in threads:
                    runners[("ocpagg", t)] = bl.ocpagg_command(ocpagg, wh, out, t)
                    if floor:
                        runners[("floor", t)] = floor_command(floor, wh, t)
                if args.first_days:
                    runners[("first days", last)] = bl.ocpagg_command(
                        ocpagg, wh, out, last, extra=extra_days)
                if args.baseline:
                    runners[("baseline", last)] = bl.ocpagg_command(
                        os.path.abspath(args.baseline), wh, out, last)
                def cpus(k: tuple) -> int | None:
                    return k[1] if args.pin else None
                for k, cmd in runners.items():
                    bl.measure(cmd, "warm-up", cpus(k))
                ms: dict = {k: [] for k in runners}
                for i in range(args.runs):
                    for k, cmd in runners.items():
                        ms[k].append(bl.measure(cmd, k[0], cpus(k)))
                    loads.append(os.getloadavg()[0])
                    print(f"{size} {table} run {i + 1}/{args.runs}: " + ", ".join(
                        f"{k[0]}@{k[1]} {ms[k][-1].wall:.3f}" for k in runners), flush=True)
                report.append((size, table, ms))
    print()
    pinned = "; each on as many CPUs as its threads" if args.pin else ""
    print(f"ocpagg {ocpagg}; floor {floor}; {args.runs} runs each, alternating{pinned}; "
          f"load average during the runs: median {statistics.median(loads):.2f}, "
          f"max {max(loads):.2f} on {os.cpu_count()} CPUs")
    header = ["month", "tables", "program", "threads", "wall median", "CPU median",
              "peak RSS", "/ floor", "paired", "/ baseline"]
    rows = []
    for size, table, ms in report:
        for (what, t), m in ms.items():
            ratio = paired = vs_base = ""
            if what in ("ocpagg", "baseline") and ("floor", t) in ms:
                fl = ms[("floor", t)]
                ratio = f"{bl.median_wall(m) / bl.median_wall(fl):.2f}x"
                paired = f"{statistics.median(a.wall / b.wall for a, b in zip(m, fl)):.2f}x"
            if what == "ocpagg" and ("baseline", t) in ms:
                b = ms[("baseline", t)]
                vs_base = f"{statistics.median(a.wall / c.wall for a, c in zip(m, b)):.3f}x"
            rows.append([f"{size:,}", table, what, str(t), f"{bl.median_wall(m):.3f} s",
                         f"{bl.median_cpu(m):.2f} s", bl.mib(bl.peak_rss(m)), ratio, paired,
                         vs_base])
    print(bl.table(header, rows))
    for size, table, ms in report:
        if ("ocpagg", 1) in ms and ("ocpagg", 2) in ms:
            s = bl.median_wall(ms[("ocpagg", 1)]) / bl.median_wall(ms[("ocpagg", 2)])
            print(f"{size:,} {table}: --threads 2 is {s:.2f}x faster than --threads 1")
        if ("first days", last) in ms:
            whole = bl.peak_rss(ms[("ocpagg", last)])
            first = bl.peak_rss(ms[("first days", last)])
            print(f"{size:,} {table}: peak RSS whole month {bl.mib(whole)} / first "
                  f"{args.first_days} days {bl.mib(first)} = {whole / first:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
