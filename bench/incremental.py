#!/usr/bin/env python3
"""Incremental runs (issue #20) against full runs, on a generated month.

    bench/incremental.py [--pod-rows 20000000] [--runs 3] [--seed 42] [--ocpagg PATH]
                         [--pg URL --schema NAME]

The month is generated once as bench/e2e.py does (target/bench-data/<rows>-<seed>/), then
copied into a scratch warehouse without the files of days 30 and 31: a 29-day month. Each
round: a full run of the 29 days (Parquet output; its footer keeps the state), then day 30's
files are added and `run --incremental` recomputes that day (the timed incremental run),
then `run --incremental` again with nothing changed (the timed no-change run), then a full
run of the 30 days (the timed full run); day 30's files are taken out again for the next
round. Prints the median of each, the ratio incremental / full and the files each read.
With --pg, the output is that PostgreSQL database instead (schema NAME is made with `ocpagg
init-db` and given koku's report period of the month through `psql`; the job's
--report-period-id is left out), and the rows each run deleted and inserted are printed too.
Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

DAYS_HELD_BACK = ("20251030", "20251031")


def day_of(name: str) -> str | None:
    for day in DAYS_HELD_BACK:
        if f"_{day}." in name:
            return day
    return None


def run_json(cmd: list[str]) -> tuple[bl.Measure, dict]:
    """Runs cmd with --result-format json; its wall time and RSS, and its result."""
    out = os.path.join(tempfile.gettempdir(), f"ocpagg-incr-{os.getpid()}.json")
    with open(out, "w", encoding="utf-8") as f:
        child = subprocess.Popen([*cmd, "--result-format", "json"], stdout=f,
                                 stderr=subprocess.PIPE)
        import time
        t0 = time.perf_counter()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        bl.fail(f"{' '.join(cmd)} failed:\n{child.stderr.read().decode()}")
    with open(out, encoding="utf-8") as f:
        result = json.load(f)
    os.remove(out)
    m = bl.Measure(wall=wall, cpu=usage.ru_utime + usage.ru_stime, rss=usage.ru_maxrss * 1024)
    return m, result


def prepare_pg(ocpagg: str, url: str, schema: str) -> None:
    """koku's tables in `schema`, the source's report period of the month and the job's
    cost categories."""
    r = subprocess.run([ocpagg, "init-db", "--database-url", url, "--schema", schema],
                       capture_output=True, text=True)
    if r.returncode != 0:
        bl.fail(f"ocpagg init-db failed:\n{r.stderr}")
    month = f"{bl.YEAR}-{bl.MONTH:02d}-01 00:00+00"
    sql = (f"INSERT INTO {schema}.reporting_ocpusagereportperiod (cluster_id, cluster_alias, "
           f"report_period_start, report_period_end, provider_id) "
           f"SELECT '{bl.CLUSTER}', '{bl.CLUSTER}', '{month}', "
           f"timestamptz '{month}' + interval '1 month', '{bl.SOURCE}' "
           f"WHERE NOT EXISTS (SELECT 1 FROM {schema}.reporting_ocpusagereportperiod "
           f"WHERE provider_id = '{bl.SOURCE}' AND report_period_start = '{month}')")
    # The job's cost-category ids (1 to 4) must exist: the rows reference them.
    sql += (f"; INSERT INTO {schema}.reporting_ocp_cost_category (id, name) "
            f"SELECT i, 'bench ' || i FROM generate_series(1, 4) AS i ON CONFLICT DO NOTHING")
    r = subprocess.run(["psql", url, "-qc", sql], capture_output=True, text=True)
    if r.returncode != 0:
        bl.fail(f"psql failed:\n{r.stderr}")


def main() -> int:
    p = argparse.ArgumentParser(description="ocpagg incremental benchmark")
    p.add_argument("--pod-rows", type=int, default=20_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--ocpagg", help="ocpagg binary (default: cargo build --release)")
    p.add_argument("--pg", help="PostgreSQL URL to write to instead of a Parquet file")
    p.add_argument("--schema", default="bench_incremental", help="schema with --pg")
    args = p.parse_args()
    if args.runs < 1:
        bl.fail("--runs must be at least 1")
    ocpagg = bl.ocpagg_binary(args.ocpagg)
    source = bl.dataset(ocpagg, args.pod_rows, args.seed)
    full, incr, none = [], [], []
    files = {}
    with tempfile.TemporaryDirectory(prefix="ocpagg-incr-", dir=os.path.join(bl.REPO, "target")) \
            as scratch:
        lake = os.path.join(scratch, "lake")
        held = os.path.join(scratch, "held")  # day 30's files, relative paths kept
        shutil.copytree(os.path.join(source, "data"), os.path.join(lake, "data"))
        day30 = []
        for root, _, names in os.walk(lake):
            for name in names:
                day = day_of(name)
                if day is None:
                    continue
                path = os.path.join(root, name)
                if day == DAYS_HELD_BACK[0]:
                    rel = os.path.relpath(path, lake)
                    os.makedirs(os.path.join(held, os.path.dirname(rel)), exist_ok=True)
                    shutil.move(path, os.path.join(held, rel))
                    day30.append(rel)
                else:
                    os.remove(path)
        out = os.path.join(scratch, "summary.parquet")
        cmd = bl.ocpagg_command(ocpagg, lake, out, None)
        if args.pg:
            prepare_pg(ocpagg, args.pg, args.schema)
            cmd = bl.ocpagg_command(ocpagg, lake, args.pg, None, extra=("--schema", args.schema))
            at = cmd.index("--report-period-id")
            del cmd[at:at + 2]
        for i in range(args.runs):
            for rel in day30:
                if os.path.exists(os.path.join(lake, rel)):
                    shutil.move(os.path.join(lake, rel), os.path.join(held, rel))
            run_json(cmd)  # the 29-day state (untimed)
            for rel in day30:
                shutil.copy2(os.path.join(held, rel), os.path.join(lake, rel))
            m, r = run_json([*cmd, "--incremental"])
            incr.append(m)
            files["incremental"] = (r["files_read"], r["incremental"]["affected_days"],
                                    r["incremental"]["mode"])
            if args.pg:
                print(f"incremental: {r['rows_deleted']} rows deleted, "
                      f"{r['rows_inserted']} inserted", flush=True)
            m, r = run_json([*cmd, "--incremental"])
            none.append(m)
            files["no change"] = (r["files_read"], r["incremental"]["affected_days"],
                                  r["incremental"]["mode"])
            m, r = run_json(cmd)
            full.append(m)
            files["full"] = (r["files_read"], len(r["incremental"]["affected_days"]), "full")
            print(f"round {i + 1}/{args.runs}: full {full[-1].wall:.3f} s, incremental "
                  f"{incr[-1].wall:.3f} s, no change {none[-1].wall:.3f} s", flush=True)
    header = ["run", "wall median", "CPU median", "peak RSS", "files read", "days"]
    rows = []
    for name, ms, key in [("full (30 days)", full, "full"),
                          ("incremental (+day 30)", incr, "incremental"),
                          ("nothing changed", none, "no change")]:
        n, days, _ = files[key]
        rows.append([name, f"{bl.median_wall(ms):.3f} s", f"{bl.median_cpu(ms):.3f} s",
                     bl.mib(bl.peak_rss(ms)), str(n), str(days if isinstance(days, int)
                                                           else len(days))])
    print()
    print(f"{args.pod_rows} pod rows (seed {args.seed}), medians of {args.runs}")
    print(bl.table(header, rows))
    print(f"incremental / full wall: {bl.median_wall(incr) / bl.median_wall(full):.3f}")
    print(bl.load_note())
    return 0


if __name__ == "__main__":
    sys.exit(main())
