#!/usr/bin/env python3
"""The Python call's cost against the CLI's, on one generated month (issue #17: at most 5 %).

Paired: each round runs the CLI (`ocpagg run`, a process) and `ocpagg.run(...)` (in a fresh
Python process, timed around the call, and as the whole process), in alternating order, both
to a Parquet file. Prints each round and the medians.

    python/bench/overhead.py --ocpagg target/release/ocpagg --python VENV/bin/python \\
        --warehouse /tmp/lake2m --rounds 5
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

ORG, SOURCE, YEAR, MONTH = "org1234567", "6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01", 2025, 10

CALL = """
import json, sys, time
t0 = time.perf_counter()
import ocpagg
t1 = time.perf_counter()
ocpagg.run(warehouse=sys.argv[1], org=%r, source=%r, year=%d, month=%d, cluster_id="c",
           output=sys.argv[2], quiet=True)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "call": t2 - t1}))
""" % (ORG, SOURCE, YEAR, MONTH)


def cli(ocpagg, warehouse, out):
    started = time.perf_counter()
    subprocess.run([ocpagg, "run", "--quiet", "--warehouse", warehouse, "--org", ORG,
                    "--source", SOURCE, "--year", str(YEAR), "--month", str(MONTH),
                    "--cluster-id", "c", "--output", out], check=True)
    return time.perf_counter() - started


def python(interpreter, warehouse, out):
    started = time.perf_counter()
    done = subprocess.run([interpreter, "-c", CALL, warehouse, out], check=True,
                          capture_output=True, text=True)
    process = time.perf_counter() - started
    return json.loads(done.stdout)["call"], process


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ocpagg", required=True)
    p.add_argument("--python", required=True, help="an interpreter with the ocpagg wheel")
    p.add_argument("--warehouse", required=True)
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/summary.parquet"
        cli(a.ocpagg, a.warehouse, out)  # warm the page cache
        rows = []
        for i in range(a.rounds):
            if i % 2 == 0:
                c = cli(a.ocpagg, a.warehouse, out)
                call, process = python(a.python, a.warehouse, out)
            else:
                call, process = python(a.python, a.warehouse, out)
                c = cli(a.ocpagg, a.warehouse, out)
            rows.append((c, call, process))
            print(f"round {i + 1}: cli {c:.3f} s  python call {call:.3f} s  "
                  f"python process {process:.3f} s  call/cli {call / c:.3f}", flush=True)
    med = [statistics.median(col) for col in zip(*rows)]
    ratios = statistics.median(r[1] / r[0] for r in rows)
    print(f"median: cli {med[0]:.3f} s  python call {med[1]:.3f} s  python process {med[2]:.3f} s"
          f"  paired call/cli {ratios:.3f}  (overhead {100 * (ratios - 1):+.1f} %)")


if __name__ == "__main__":
    sys.exit(main())
