#!/usr/bin/env python3
"""Where a run's threads spend the wall time: per-thread CPU use of one `ocpagg run`, over time.

    bench/threads.py [--pod-rows 20000000] [--tables daily|hourly] [--threads 2] [--pin]
                     [--bin 0.25] [--seed 42] [--ocpagg PATH]

Runs the benchmark job once on the generated month (as bench/e2e.py does) and samples
/proc/<pid>/task/*/stat every few milliseconds. Prints, per thread role (the reader, the
aggregation pool, the main thread that interns and merges, the conversion thread, the writer),
the CPU seconds and their share of the wall time; then, per time bin, how many CPUs the run
kept busy and by which roles. With --pin the run may use only its --threads CPUs (as under a
CPU limit), so "idle" is the share of those CPUs that no thread of the run used.

It answers "is one stage the bottleneck, or do the stages wait for each other?": a role near
1.00 CPU in most bins is a bottleneck; CPUs idle while no role is near 1.00 are waits between
stages. Linux only (/proc); Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

SAMPLE_SECONDS = 0.005


def role(thread: str, main: str) -> str:
    """`ocpagg-agg-1` -> `agg`; the process's own name -> `main`."""
    if thread == main:
        return "main"
    return re.sub(r"-\d+$", "", thread.removeprefix("ocpagg-"))


def cpu_ticks(pid: int) -> dict[tuple[str, str], int]:
    """(thread id, name) -> user + system clock ticks so far, for every live thread of pid."""
    ticks = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return ticks
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # the thread ended between the listing and the read
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ticks[(tid, name)] = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks


def sample(cmd: list[str], cpus: int | None) -> tuple[float, float, list[tuple[float, dict]], str]:
    """Runs cmd, sampling its threads; returns the wall time, the CPU time the kernel counted
    for the whole process, the samples and the main thread's name."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             preexec_fn=bl.pinned(cpus))
    main = os.path.basename(cmd[0])[:15]  # the kernel keeps 15 bytes of a thread's name
    samples = []
    while child.poll() is None:
        samples.append((time.perf_counter() - t0, cpu_ticks(child.pid)))
        time.sleep(SAMPLE_SECONDS)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    err = child.stderr.read().decode(errors="replace")
    if child.returncode != 0:
        bl.fail(f"ocpagg exited {child.returncode}: {' '.join(cmd)}\n{err}")
    return wall, cpu, samples, main


def per_bin(samples, bin_seconds: float, main: str) -> dict[int, Counter]:
    """Clock ticks per time bin and role (each thread's growth between two samples)."""
    bins: dict[int, Counter] = defaultdict(Counter)
    last: dict[tuple[str, str], int] = {}
    for t, ticks in samples:
        for thread, n in ticks.items():
            bins[int(t / bin_seconds)][role(thread[1], main)] += n - last.get(thread, 0)
            last[thread] = n
    return bins


def main() -> int:
    p = argparse.ArgumentParser(description="per-thread CPU use of one ocpagg run")
    p.add_argument("--pod-rows", type=int, default=20_000_000)
    p.add_argument("--tables", choices=("daily", "hourly"), default="daily",
                   help="daily: with koku's daily roll-ups; hourly: hourly files only")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pin", action="store_true",
                   help="run on as many CPUs as --threads (as under a CPU limit)")
    p.add_argument("--bin", type=float, default=0.25, help="seconds per timeline row")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--ocpagg", help="ocpagg binary (default: cargo build --release)")
    args = p.parse_args()
    if args.threads <= 0 or args.bin <= 0 or args.pod_rows <= 0:
        bl.fail("--pod-rows, --threads and --bin must be positive")

    ocpagg = bl.ocpagg_binary(args.ocpagg)
    warehouse = bl.dataset(ocpagg, args.pod_rows, args.seed)
    if args.tables == "hourly":
        warehouse = bl.hourly_view(warehouse)
    with tempfile.TemporaryDirectory() as scratch:
        cmd = bl.ocpagg_command(ocpagg, warehouse, os.path.join(scratch, "out.parquet"),
                                args.threads)
        bl.measure(cmd, "ocpagg (warm-up)")
        wall, cpu, samples, main_name = sample(cmd, args.threads if args.pin else None)

    hz = os.sysconf("SC_CLK_TCK")
    bins = per_bin(samples, args.bin, main_name)
    totals: Counter = Counter()
    for c in bins.values():
        totals.update(c)
    roles = sorted(totals, key=lambda r: -totals[r])
    cpus = args.threads if args.pin else os.cpu_count() or 1
    busy = sum(totals.values()) / hz

    print(f"{warehouse} ({args.tables}), --threads {args.threads}"
          f"{', pinned' if args.pin else ''}: wall {wall:.3f} s; {bl.load_note()}")
    rows = [[r, f"{totals[r] / hz:.2f}", f"{totals[r] / hz / wall:.2f}"] for r in roles]
    rows.append(["all", f"{busy:.2f}", f"{busy / wall:.2f}"])
    print(bl.table(["thread", "CPU s", "CPUs busy (mean)"], rows))
    print(f"{cpus} CPUs available: {max(0.0, 1 - busy / (wall * cpus)):.0%} of their time idle"
          f" (the samples hold {busy:.2f} of the run's {cpu:.2f} CPU s: a thread's last"
          " ticks before it ends are missed)")
    print()
    header = ["t (s)", "CPUs busy"] + roles
    timeline = []
    for b in range(max(bins) + 1 if bins else 0):
        c = bins.get(b, Counter())
        seconds = args.bin * hz
        timeline.append([f"{b * args.bin:.2f}", f"{sum(c.values()) / seconds:.2f}"]
                        + [f"{c[r] / seconds:.2f}" for r in roles])
    print(bl.table(header, timeline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
