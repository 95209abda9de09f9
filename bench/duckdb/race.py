#!/usr/bin/env python3
"""ocpagg against DuckDB running summary.sql, on the same generated month.

    bench/duckdb/race.py [--pod-rows 2000000] [--seed 42] [--runs 5] [--threads 1,2]
                         [--duckdb-threads N] [--ocpagg PATH]
    bench/duckdb/race.py --check [--pod-rows 20000] [--ocpagg PATH]

On first use it creates bench/duckdb/.venv, installs the pinned duckdb there and re-runs itself
with that interpreter. The dataset is generated once with `ocpagg generate` into
target/bench-data/<rows>-<seed>/ and reused. Without --ocpagg it builds
`cargo build --release -p ocpagg-cli`.

Race: the programs run alternately, --runs times each, each run a fresh process (DuckDB through
run_sql.py, so its start-up counts too); both write Parquet. Prints the medians, the ratio and
the peak RSS of each.

--check: runs both once (DuckDB twice: over koku's daily roll-up as koku does, and over the
hourly line items only) and compares the outputs row by row; prints the first differences and
exits 1 on any.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venv")
DUCKDB_VERSION = "1.5.6"


def ensure_venv() -> None:
    """Re-executes this script inside bench/duckdb/.venv, creating it on first use."""
    python = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    marker = os.path.join(VENV, f".duckdb-{DUCKDB_VERSION}")
    if not os.path.exists(marker):
        print(f"creating {VENV} with duckdb=={DUCKDB_VERSION} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        r = subprocess.run([python, "-m", "pip", "install", "--quiet",
                            f"duckdb=={DUCKDB_VERSION}"])
        if r.returncode != 0:
            print(f"error: pip install duckdb=={DUCKDB_VERSION} into {VENV} failed",
                  file=sys.stderr)
            sys.exit(1)
        open(marker, "w").close()
    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])


ensure_venv()

import duckdb  # noqa: E402  (only inside the venv)

sys.path.insert(0, os.path.dirname(HERE))
import benchlib as bl  # noqa: E402


def duckdb_command(warehouse: str, output: str, threads: int | None,
                   tables: str = "auto", extra: tuple[str, ...] = ()) -> list[str]:
    cmd = [sys.executable, os.path.join(HERE, "run_sql.py"), "--warehouse", warehouse,
           "--org", bl.ORG, "--source", bl.SOURCE, "--year", str(bl.YEAR),
           "--month", str(bl.MONTH), "--cluster-id", bl.CLUSTER, "--output", output,
           "--tables", tables, "--quiet", *bl.JOB_FLAGS, *extra]
    if threads:
        cmd += ["--threads", str(threads)]
    return cmd


# ---------------------------------------------------------------------------------------------
# --check: row-by-row comparison
# ---------------------------------------------------------------------------------------------

LABEL_COLUMNS = ("pod_labels", "volume_labels", "all_labels", "infrastructure_usage_cost")
KEY_COLUMNS = ("data_source", "usage_start", "namespace", "node", "resource_id",
               "persistentvolumeclaim", "persistentvolume", "storageclass",
               "pod_labels", "volume_labels", "all_labels")
REL_TOL = 1e-9
# Unallocated values are capacity minus use; when the two are equal, one side's rounding may
# leave 1e-13 where the other has 0. Such a difference is far below any number we write.
ABS_TOL = 1e-9


def canonical_json(text):
    """A label or cost JSON text as a comparable value (None stays None)."""
    if text is None:
        return None
    import json
    return json.dumps(json.loads(text), sort_keys=True)


def load(path: str):
    """(column names and types, rows as dicts) of a summary Parquet file."""
    con = duckdb.connect()
    schema = con.execute("SELECT column_name, column_type FROM "
                         "(DESCRIBE SELECT * FROM read_parquet(?))", [path]).fetchall()
    cur = con.execute("SELECT * FROM read_parquet(?)", [path])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    return schema, rows


def row_key(r: dict) -> tuple:
    return tuple(canonical_json(r[c]) if c in LABEL_COLUMNS else r[c] for c in KEY_COLUMNS)


def equal(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return a == b


def compare(ours_path: str, theirs_path: str, theirs_name: str, limit: int = 10) -> list[str]:
    """Differences between ocpagg's and DuckDB's output, as messages (empty when equal)."""
    diffs: list[str] = []
    s1, ours = load(ours_path)
    s2, theirs = load(theirs_path)
    if s1 != s2:
        diffs.append(f"columns differ:\n  ocpagg: {s1}\n  {theirs_name}: {s2}")
        return diffs
    names = [c for c, _ in s1]
    for side, rows in (("ocpagg", ours), (theirs_name, theirs)):
        uuids = [r["uuid"] for r in rows]
        if any(u is None for u in uuids) or len(set(uuids)) != len(uuids):
            diffs.append(f"{side}: uuid null or repeated")
    groups: dict[tuple, list[list[dict]]] = {}
    for i, rows in enumerate((ours, theirs)):
        for r in rows:
            groups.setdefault(row_key(r), [[], []])[i].append(r)
    value_columns = [c for c in names if c not in KEY_COLUMNS and c != "uuid"]

    def show(r: dict) -> str:
        return ", ".join(f"{c}={r[c]!r}" for c in KEY_COLUMNS if r[c] is not None)

    for key, (a, b) in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        if len(a) != len(b):
            sample = (a or b)[0]
            diffs.append(f"{len(a)} ocpagg row(s) vs {len(b)} {theirs_name} row(s) for "
                         f"{show(sample)}")
            continue
        # Rows with equal keys (a claim on several volume handles) pair up in value order.
        order = lambda r: tuple((r[c] is None, str(r[c])) for c in value_columns)  # noqa: E731
        for ra, rb in zip(sorted(a, key=order), sorted(b, key=order)):
            for c in value_columns:
                va, vb = ra[c], rb[c]
                if c in LABEL_COLUMNS:
                    va, vb = canonical_json(va), canonical_json(vb)
                if not equal(va, vb):
                    diffs.append(f"{c}: ocpagg {va!r} vs {theirs_name} {vb!r} for {show(ra)}")
        if len(diffs) >= limit:
            break
    return diffs


# What --check runs: the whole month, and a range of days within it with one more node role
# given by flag (so that a flag's precedence over the derived role is checked at any size; the
# job's own flag names worker-1, which small months do not have).
CHECKS = [
    ("whole month", ()),
    ("days 10-20", ("--start-date", f"{bl.YEAR}-{bl.MONTH:02d}-10",
                    "--end-date", f"{bl.YEAR}-{bl.MONTH:02d}-20",
                    "--node-role", "infra-0=worker")),
]


def check(args, ocpagg: str, warehouse: str, scratch: str) -> int:
    passed = failed = 0
    for what, extra in CHECKS:
        ours = os.path.join(scratch, "ocpagg.parquet")
        bl.measure(bl.ocpagg_command(ocpagg, warehouse, ours, None, extra=extra), "ocpagg")
        rows = len(load(ours)[1])
        for tables in ("auto", "hourly"):
            theirs = os.path.join(scratch, f"duckdb-{tables}.parquet")
            bl.measure(duckdb_command(warehouse, theirs, args.duckdb_threads, tables, extra),
                       "duckdb")
            name = f"duckdb[{'daily roll-up' if tables == 'auto' else 'hourly only'}]"
            diffs = compare(ours, theirs, name)
            if diffs:
                failed += 1
                print(f"FAIL {what}: ocpagg vs {name}: first differences:")
                for d in diffs:
                    print(f"  {d}")
            else:
                passed += 1
                print(f"ok   {what}: ocpagg vs {name}: {rows} rows equal "
                      f"(numbers within rel {REL_TOL:g}, labels as parsed JSON)")
    print(f"check: {passed} passed, {failed} failed")
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# The race
# ---------------------------------------------------------------------------------------------

def race(args, ocpagg: str, warehouse: str, scratch: str) -> int:
    threads = bl.int_list(args.threads, "--threads") if args.threads else [None]
    pod_rows = bl.hourly_pod_rows(ocpagg, warehouse, scratch)
    ours_out = os.path.join(scratch, "ocpagg.parquet")
    theirs_out = os.path.join(scratch, "duckdb.parquet")
    tables = args.tables
    if tables == "hourly":
        # Both read the hourly line items only: ocpagg a view of the month without the
        # daily/ tree (it has no flag for that; SPEC.md: the results are the same).
        warehouse = bl.hourly_view(warehouse)
    # One warm-up run of DuckDB too, so that both start from a warm page cache.
    bl.measure(duckdb_command(warehouse, theirs_out, args.duckdb_threads, tables), "duckdb")
    ours: dict = {t: [] for t in threads}
    theirs = []
    # With --baseline: that other ocpagg binary too, at the last thread count, alternating
    # with the others, so that a change's ratio to DuckDB is compared in the same run.
    base = os.path.abspath(args.baseline) if args.baseline else None
    olds = []
    if base:
        bl.measure(bl.ocpagg_command(base, warehouse, ours_out, threads[-1]), "baseline")
    for i in range(args.runs):
        for t in threads:
            ours[t].append(bl.measure(bl.ocpagg_command(ocpagg, warehouse, ours_out, t),
                                      "ocpagg"))
        if base:
            olds.append(bl.measure(bl.ocpagg_command(base, warehouse, ours_out, threads[-1]),
                                   "baseline"))
        theirs.append(bl.measure(
            duckdb_command(warehouse, theirs_out, args.duckdb_threads, tables), "duckdb"))
        print(f"run {i + 1}/{args.runs}: " + ", ".join(
            f"ocpagg{'' if t is None else f' -t{t}'} {ours[t][-1].wall:.3f} s"
            for t in threads) + f", duckdb {theirs[-1].wall:.3f} s", flush=True)
    d_med = bl.median_wall(theirs)
    d_cpu = bl.median_cpu(theirs)
    header = ["dataset", "input rows", "ocpagg threads", "ocpagg median", "rows/s",
              "duckdb median", "ratio", "ocpagg CPU", "duckdb CPU", "CPU ratio",
              "ocpagg peak RSS", "duckdb peak RSS"]
    rows = []
    for t in threads:
        o_med = bl.median_wall(ours[t])
        rows.append([os.path.relpath(warehouse, bl.REPO), str(pod_rows),
                     "all CPUs" if t is None else str(t), f"{o_med:.3f} s",
                     f"{pod_rows / o_med:,.0f}", f"{d_med:.3f} s", f"{d_med / o_med:.2f}x",
                     f"{bl.median_cpu(ours[t]):.2f} s", f"{d_cpu:.2f} s",
                     f"{d_cpu / bl.median_cpu(ours[t]):.2f}x",
                     bl.mib(bl.peak_rss(ours[t])), bl.mib(bl.peak_rss(theirs))])
    print()
    print(f"tables: {tables}; {args.runs} runs each, medians of wall time including "
          "process start; "
          f"duckdb {duckdb.__version__}, threads {args.duckdb_threads or 'all CPUs'}; "
          f"{bl.load_note()}")
    if base:
        o_med = bl.median_wall(olds)
        rows.append([f"baseline {os.path.basename(base)}", str(pod_rows),
                     "all CPUs" if threads[-1] is None else str(threads[-1]),
                     f"{o_med:.3f} s", f"{pod_rows / o_med:,.0f}", f"{d_med:.3f} s",
                     f"{d_med / o_med:.2f}x", f"{bl.median_cpu(olds):.2f} s", f"{d_cpu:.2f} s",
                     f"{d_cpu / bl.median_cpu(olds):.2f}x", bl.mib(bl.peak_rss(olds)),
                     bl.mib(bl.peak_rss(theirs))])
    print(bl.table(header, rows))
    print("ratio = duckdb median / ocpagg median (wall); CPU = median user + system seconds")
    if len(threads) > 1:
        base = bl.median_wall(ours[threads[0]])
        for t in threads[1:]:
            print(f"speed-up ocpagg --threads {t} over --threads {threads[0]}: "
                  f"{base / bl.median_wall(ours[t]):.2f}x")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description="ocpagg against DuckDB (summary.sql)")
    p.add_argument("--pod-rows", default=None,
                   help="hourly pod rows of the generated month (default 2000000; "
                        "20000 with --check)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", help="ocpagg --threads values, comma-separated (e.g. 1,2)")
    p.add_argument("--duckdb-threads", type=int)
    p.add_argument("--ocpagg", help="ocpagg binary (default: cargo build --release)")
    p.add_argument("--baseline", help="race: another ocpagg binary, run alternately too")
    p.add_argument("--tables", choices=("auto", "hourly"), default="auto",
                   help="race: auto (daily roll-up when present) or hourly line items only")
    p.add_argument("--check", action="store_true",
                   help="compare both outputs row by row instead of timing them")
    args = p.parse_args()
    default_rows = 20_000 if args.check else 2_000_000
    pod_rows = bl.int_list(args.pod_rows, "--pod-rows")[0] if args.pod_rows else default_rows
    if args.runs < 1:
        bl.fail("--runs must be at least 1")
    ocpagg = bl.ocpagg_binary(args.ocpagg)
    warehouse = bl.dataset(ocpagg, pod_rows, args.seed)
    with tempfile.TemporaryDirectory(prefix="ocpagg-race-") as scratch:
        if args.check:
            return check(args, ocpagg, warehouse, scratch)
        return race(args, ocpagg, warehouse, scratch)


if __name__ == "__main__":
    sys.exit(main())
