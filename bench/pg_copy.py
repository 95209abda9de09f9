#!/usr/bin/env python3
"""ocpagg into koku's PostgreSQL table against PostgreSQL's own COPY of the same rows.

    bench/pg_copy.py [--pod-rows 2000000] [--runs 5] [--sslmodes disable,require] [--ocpagg PATH]

Starts the test PostgreSQL server (scripts/pg-server.sh, TLS on), creates koku's tables in
schema `bench_pg` (`ocpagg init-db`) with the report period and cost categories the benchmark
job names, and runs the job once to warm up. The rows it wrote are exported with
`COPY ... TO ... (FORMAT binary)`. Then, alternately, --runs times per sslmode:

- ocpagg: a whole `ocpagg run` (read the month, aggregate, delete the slice and COPY the rows
  in one transaction), a fresh process;
- psql: `psql --single-transaction` deleting the same slice and `\\copy`-ing the exported rows
  in (FORMAT binary), a fresh process, over a connection with the same sslmode.

Prints the median wall time of each and their ratio (the target: ocpagg within 1.15x of psql).
Python 3.11 standard library only; needs psql (installed with PostgreSQL).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

SCHEMA = "bench_pg"
TABLE = f"{SCHEMA}.reporting_ocpusagelineitem_daily_summary"


def server_env() -> dict[str, str]:
    """Starts scripts/pg-server.sh and returns the variables it exports."""
    r = subprocess.run([os.path.join(bl.REPO, "scripts", "pg-server.sh"), "start"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        bl.fail(f"scripts/pg-server.sh start failed:\n{r.stderr}")
    return dict(re.findall(r"^export (\w+)=(.*)$", r.stdout, re.M))


def with_mode(url: str, mode: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}sslmode={mode}"


def psql(url: str, *commands: str, single: bool = False) -> list[str]:
    cmd = ["psql", url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
    if single:
        cmd.append("--single-transaction")
    for c in commands:
        cmd += ["-c", c]
    return cmd


def run(cmd: list[str], what: str) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        bl.fail(f"{what} failed:\n{r.stderr}")
    return r.stdout


def main() -> int:
    p = argparse.ArgumentParser(description="ocpagg into PostgreSQL against psql \\copy")
    p.add_argument("--pod-rows", default="2000000")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--sslmodes", default="disable,require")
    p.add_argument("--ocpagg")
    args = p.parse_args()
    (pod_rows,) = bl.int_list(args.pod_rows, "--pod-rows")
    modes = [m for m in args.sslmodes.split(",") if m]
    ocpagg = bl.ocpagg_binary(args.ocpagg)
    warehouse = bl.dataset(ocpagg, pod_rows, args.seed)
    url = server_env()["OCPAGG_TEST_DATABASE_URL"]

    run(psql(url, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), "drop schema")
    run([ocpagg, "init-db", "--database-url", url, "--schema", SCHEMA], "ocpagg init-db")
    # What the job's flags reference: report period 7 of the source, cost categories 1-4.
    run(psql(url,
             f"INSERT INTO {SCHEMA}.reporting_ocpusagereportperiod (id, cluster_id, "
             "report_period_start, report_period_end, provider_id) VALUES (7, "
             f"'{bl.CLUSTER}', '{bl.YEAR}-{bl.MONTH:02}-01 00:00+00', "
             f"'{bl.YEAR}-{bl.MONTH:02}-01 00:00+00'::timestamptz + interval '1 month', "
             f"'{bl.SOURCE}')",
             f"INSERT INTO {SCHEMA}.reporting_ocp_cost_category (id, name) "
             "SELECT i, 'category ' || i FROM generate_series(1, 4) AS i"), "koku's rows")

    slice_where = (f"source_uuid = '{bl.SOURCE}' AND usage_start >= '{bl.YEAR}-{bl.MONTH:02}-01'"
                   f" AND usage_start < '{bl.YEAR}-{bl.MONTH:02}-01'::date + interval '1 month'")
    with tempfile.TemporaryDirectory() as scratch:
        rows_file = os.path.join(scratch, "rows.bin")
        run(bl.ocpagg_command(ocpagg, warehouse, with_mode(url, "disable"), None,
                              extra=("--schema", SCHEMA)), "warm-up ocpagg run")
        rows = int(run(psql(url, f"SELECT count(*) FROM {TABLE} WHERE {slice_where}"),
                       "count").strip())
        run(psql(url, f"\\copy (SELECT * FROM {TABLE} WHERE {slice_where}) TO "
                      f"'{rows_file}' (FORMAT binary)"), "export")
        print(f"{rows} summary rows of {pod_rows} pod rows; "
              f"binary COPY file {os.path.getsize(rows_file) / 2**20:.1f} MiB; {bl.load_note()}",
              flush=True)
        results: dict[tuple[str, str], list[bl.Measure]] = {}
        for i in range(args.runs):
            for mode in modes:
                target = with_mode(url, mode)
                results.setdefault(("ocpagg", mode), []).append(bl.measure(
                    bl.ocpagg_command(ocpagg, warehouse, target, None,
                                      extra=("--schema", SCHEMA)), "ocpagg run"))
                results.setdefault(("psql", mode), []).append(bl.measure(
                    psql(target, f"DELETE FROM {TABLE} WHERE {slice_where}",
                         f"\\copy {TABLE} FROM '{rows_file}' (FORMAT binary)", single=True),
                    "psql \\copy"))
            print(f"  round {i + 1}/{args.runs} done", flush=True)
    table = []
    for mode in modes:
        ours, theirs = results[("ocpagg", mode)], results[("psql", mode)]
        table.append([mode, f"{bl.median_wall(ours):.3f} s", f"{bl.median_wall(theirs):.3f} s",
                      f"{bl.median_wall(ours) / bl.median_wall(theirs):.2f}x",
                      f"{bl.median_cpu(ours):.2f} s", bl.mib(bl.peak_rss(ours))])
    print(bl.table(["sslmode", "ocpagg run (whole)", "psql \\copy", "ratio",
                    "ocpagg CPU", "ocpagg peak RSS"], table))
    print(f"medians of {args.runs}; {bl.load_note()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
