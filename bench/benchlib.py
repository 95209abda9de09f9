"""Shared parts of the end-to-end benchmarks (bench/e2e.py, bench/duckdb/race.py).

Python 3.11 standard library only: the generated dataset cache, the ocpagg build, and running a
child process while measuring its wall time and peak resident memory.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The job every benchmark runs: one generated month of one source.
ORG = "org1234567"
SOURCE = "6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01"
YEAR = 2025
MONTH = 10
CLUSTER = "my-cluster"
# Side inputs that exercise every rule: overlapping cost-category patterns (the greatest id
# wins), a pattern for the unallocated rows, label keys that node, namespace, pod, PV and PVC
# labels share, and one node role given by flag.
JOB_FLAGS = [
    "--enabled-keys", "app,environment,team,version,cost_center,storage_tier,backup,"
    "node_role_kubernetes_io,app_kubernetes_io_name,machineconfiguration_openshift_io_state",
    "--cost-category", "openshift-%=1",
    "--cost-category", "payments%=2",
    "--cost-category", "%-prod=3",
    "--cost-category", "_latform unallocated=4",
    "--node-role", "worker-1=infra",
    "--report-period-id", "7",
]


def fail(message: str) -> None:
    """Prints an error and exits 1."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def int_list(text: str, flag: str) -> list[int]:
    """'1,2' -> [1, 2] (underscores allowed inside a number: 2_000_000)."""
    try:
        values = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        fail(f"{flag} {text!r}: expected comma-separated integers")
    if not values or any(v <= 0 for v in values):
        fail(f"{flag} {text!r}: expected positive integers")
    return values


def ocpagg_binary(path: str | None) -> str:
    """The given binary, or a fresh `cargo build --release -p ocpagg-cli`."""
    if path:
        if not os.access(path, os.X_OK):
            fail(f"--ocpagg {path}: not an executable file")
        return os.path.abspath(path)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    print(f"building ocpagg (cargo build --release -p ocpagg-cli, target {target}) ...",
          flush=True)
    r = subprocess.run(["cargo", "build", "--release", "-p", "ocpagg-cli"], cwd=REPO)
    if r.returncode != 0:
        fail("cargo build --release -p ocpagg-cli failed")
    return os.path.join(target, "release", "ocpagg")


def dataset(ocpagg: str, pod_rows: int, seed: int) -> str:
    """The generated month under target/bench-data/<rows>-<seed>/, generated once."""
    root = os.path.join(REPO, "target", "bench-data", f"{pod_rows}-{seed}")
    done = os.path.join(root, ".complete")
    if os.path.exists(done):
        return root
    if os.path.exists(root):
        shutil.rmtree(root)
    print(f"generating {pod_rows} pod rows (seed {seed}) into {root} ...", flush=True)
    t0 = time.perf_counter()
    r = subprocess.run([ocpagg, "generate", "--out", root, "--org", ORG, "--source", SOURCE,
                        "--cluster-id", CLUSTER, "--year", str(YEAR), "--month", str(MONTH),
                        "--pod-rows", str(pod_rows), "--seed", str(seed)],
                       stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        fail(f"ocpagg generate failed for {root}")
    with open(done, "w", encoding="utf-8") as f:
        f.write(f"{pod_rows} {seed}\n")
    print(f"generated in {time.perf_counter() - t0:.1f} s", flush=True)
    return root


def hourly_view(warehouse: str) -> str:
    """The month without koku's daily roll-up: a directory whose hourly tree is a symlink."""
    view = warehouse.rstrip("/") + "-hourly"
    link = os.path.join(view, "data", "parquet", ORG)
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.join(os.path.realpath(warehouse), "data", "parquet", ORG), link)
    return view


def ocpagg_command(ocpagg: str, warehouse: str, output: str, threads: int | None,
                   quiet: bool = True, extra: tuple[str, ...] = ()) -> list[str]:
    """`ocpagg run` of the benchmark job (`extra`: more flags, e.g. a date range)."""
    cmd = [ocpagg, "run", "--warehouse", warehouse, "--org", ORG, "--source", SOURCE,
           "--year", str(YEAR), "--month", str(MONTH), "--cluster-id", CLUSTER,
           "--output", output, *JOB_FLAGS, *extra]
    if threads:
        cmd += ["--threads", str(threads)]
    if quiet:
        cmd.append("--quiet")
    return cmd


def hourly_pod_rows(ocpagg: str, warehouse: str, scratch: str) -> int:
    """Hourly pod_usage rows of the month, from a (warm-up) run's own summary line."""
    out = os.path.join(scratch, "count.parquet")
    r = subprocess.run(ocpagg_command(ocpagg, warehouse, out, None, quiet=False),
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"ocpagg run failed on {warehouse}:\n{r.stderr}")
    m = re.search(r"pod_usage (\d+)", r.stdout + r.stderr)
    if not m:
        fail("could not find the pod_usage row count in ocpagg's summary")
    return int(m.group(1))


@dataclass
class Measure:
    """One child process: wall seconds, CPU seconds (user + system) and peak RSS in bytes."""

    wall: float
    cpu: float
    rss: int


def pinned(cpus: int | None):
    """A `preexec_fn` that lets a child run on the first `cpus` CPUs only (as under a CPU
    limit), or None for no limit."""
    if not cpus:
        return None
    allowed = sorted(os.sched_getaffinity(0))[:cpus]
    return lambda: os.sched_setaffinity(0, allowed)


def measure(cmd: list[str], what: str, cpus: int | None = None) -> Measure:
    """Runs cmd as a child; wall time from fork to reap, peak RSS from wait4's rusage.
    With `cpus`, the child may run on the first `cpus` CPUs only (as under a CPU limit)."""
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             preexec_fn=pinned(cpus))
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    err = child.stderr.read().decode(errors="replace")
    child.stderr.close()
    if child.returncode != 0:
        fail(f"{what} exited {child.returncode}: {' '.join(cmd)}\n{err}")
    cpu = usage.ru_utime + usage.ru_stime
    return Measure(wall, cpu, usage.ru_maxrss * 1024)  # Linux: ru_maxrss is in KiB


def median_wall(ms: list[Measure]) -> float:
    return statistics.median(m.wall for m in ms)


def median_cpu(ms: list[Measure]) -> float:
    return statistics.median(m.cpu for m in ms)


def peak_rss(ms: list[Measure]) -> int:
    return max(m.rss for m in ms)


def mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A plain left/right aligned text table (numbers right-aligned)."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(cells):
        out = []
        for c, w in zip(cells, widths):
            c = str(c)
            out.append(c.rjust(w) if c[:1].isdigit() or c[:1] == "-" else c.ljust(w))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep] + [line(r) for r in rows])


def load_note() -> str:
    """The 1-minute load average, to print beside timings taken on a shared machine."""
    try:
        return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    except OSError:
        return ""
