#!/usr/bin/env python3
"""Runs summary.sql with DuckDB over a koku-layout warehouse and writes the summary to Parquet.

The flags mirror `ocpagg run`, so that race.py can give both programs the same job:

    run_sql.py --warehouse DIR --org ORG --source UUID --year Y --month M \
        --cluster-id X --output out.parquet [--start-date D] [--end-date D] \
        [--enabled-keys k1,k2|*] [--cost-category PATTERN=ID ...] [--node-role NODE=ROLE ...] \
        [--report-period-id N] [--cluster-alias A] [--threads N] [--tables auto|hourly]

It fills summary.sql's {{placeholders}} with SQL literals and runs the statements in one
DuckDB connection. `--tables auto` (the default) reads koku's daily roll-up where it exists, as
koku and ocpagg do; `--tables hourly` reads only the hourly line items (SPEC.md: same results).
Errors name the file or setting at fault and exit 1 (2 for a bad setting).
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import glob
import os
import re
import sys
import time

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))
ALWAYS_ENABLED = "vm_kubevirt_io_name"

# Required columns (and the type of each when a table has no files at all).
COLUMNS = {
    "pod_usage": {
        "interval_start": "TIMESTAMP", "namespace": "VARCHAR", "node": "VARCHAR",
        "pod": "VARCHAR", "resource_id": "VARCHAR", "pod_labels": "VARCHAR",
        "pod_usage_cpu_core_seconds": "DOUBLE", "pod_request_cpu_core_seconds": "DOUBLE",
        "pod_limit_cpu_core_seconds": "DOUBLE", "pod_usage_memory_byte_seconds": "DOUBLE",
        "pod_request_memory_byte_seconds": "DOUBLE", "pod_limit_memory_byte_seconds": "DOUBLE",
        "node_capacity_cpu_cores": "DOUBLE", "node_capacity_cpu_core_seconds": "DOUBLE",
        "node_capacity_memory_bytes": "DOUBLE", "node_capacity_memory_byte_seconds": "DOUBLE",
    },
    "storage_usage": {
        "interval_start": "TIMESTAMP", "namespace": "VARCHAR", "pod": "VARCHAR",
        "persistentvolumeclaim": "VARCHAR", "persistentvolume": "VARCHAR",
        "storageclass": "VARCHAR", "persistentvolumeclaim_capacity_bytes": "DOUBLE",
        "persistentvolumeclaim_capacity_byte_seconds": "DOUBLE",
        "volume_request_storage_byte_seconds": "DOUBLE",
        "persistentvolumeclaim_usage_byte_seconds": "DOUBLE",
        "persistentvolume_labels": "VARCHAR", "persistentvolumeclaim_labels": "VARCHAR",
    },
    "node_labels": {"interval_start": "TIMESTAMP", "node": "VARCHAR", "node_labels": "VARCHAR"},
    "namespace_labels": {
        "interval_start": "TIMESTAMP", "namespace": "VARCHAR", "namespace_labels": "VARCHAR",
    },
}
EFFECTIVE = ("pod_effective_usage_cpu_core_seconds", "pod_effective_usage_memory_byte_seconds")


class UsageError(Exception):
    """A missing or invalid setting (exit 2)."""


def lit(value) -> str:
    """A SQL literal for a Python value."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def month_dir(args, report_type: str, daily: bool) -> str:
    parts = [args.warehouse, "data", "parquet"] + (["daily"] if daily else [])
    parts += [args.org, "OCP", report_type, f"source={args.source}", f"year={args.year:04d}",
              f"month={args.month:02d}"]
    return os.path.join(*parts)


def files(args, report_type: str, daily: bool) -> list[str]:
    return sorted(glob.glob(os.path.join(month_dir(args, report_type, daily), "*.parquet")))


def relation(con, report_type: str, paths: list[str]) -> str:
    """read_parquet over the files, after checking each has the required columns."""
    if not paths:
        cols = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in COLUMNS[report_type].items())
        return f"(SELECT {cols} WHERE false)"
    try:
        rows = con.execute("SELECT file_name, name FROM parquet_schema(?)", [paths]).fetchall()
    except duckdb.Error as e:
        raise RuntimeError(f"{report_type}: a file is not readable Parquet: {e}") from None
    names: dict[str, set] = {}
    for file_name, name in rows:
        names.setdefault(file_name, set()).add(name)
    for path in paths:
        missing = [c for c in COLUMNS[report_type] if c not in names.get(path, ())]
        if missing:
            raise RuntimeError(f"{path}: missing required column {missing[0]!r} ({report_type})")
    listed = ", ".join(lit(p) for p in paths)
    return f"read_parquet([{listed}], union_by_name = true, hive_partitioning = false)"


def effective_complete(con, paths: list[str]) -> bool:
    """Whether every daily pod file has both effective-usage columns with no nulls (footers)."""
    if not paths:
        return False
    rows = con.execute(
        "SELECT file_name, path_in_schema, sum(coalesce(stats_null_count, 1)) "
        "FROM parquet_metadata(?) GROUP BY ALL", [paths]).fetchall()
    nulls = {(f, c): n for f, c, n in rows}
    return all(nulls.get((p, c)) == 0 for p in paths for c in EFFECTIVE)


def parse_pairs(items: list[str], flag: str, convert) -> list[tuple[str, object]]:
    out = []
    for item in items:
        key, sep, value = item.rpartition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {item!r}: expected NAME=VALUE")
        try:
            out.append((key, convert(value)))
        except ValueError:
            raise UsageError(f"{flag} {item!r}: invalid value {value!r}") from None
    return out


def values_relation(rows, names_types) -> str:
    if not rows:
        cols = ", ".join(f"CAST(NULL AS {t}) AS {n}" for n, t in names_types)
        return f"(SELECT {cols} WHERE false)"
    body = ", ".join("(" + ", ".join(lit(v) for v in r) + ")" for r in rows)
    cols = ", ".join(n for n, _ in names_types)
    casts = ", ".join(f"CAST({n} AS {t}) AS {n}" for n, t in names_types)
    return f"(SELECT {casts} FROM (VALUES {body}) AS v({cols}))"


def render(args, con, output: str) -> tuple[str, dict]:
    """summary.sql with its placeholders filled (writing to `output`); also what was chosen."""
    if not 1 <= args.month <= 12:
        raise UsageError(f"--month {args.month}: must be 1-12")
    days = calendar.monthrange(args.year, args.month)[1]
    first = dt.date(args.year, args.month, 1)
    last = dt.date(args.year, args.month, days)
    start, end = first, last
    for flag, text in (("--start-date", args.start_date), ("--end-date", args.end_date)):
        if text is None:
            continue
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise UsageError(f"{flag} {text!r}: expected YYYY-MM-DD") from None
        if flag == "--start-date":
            start = day
        else:
            end = day
    if not first <= start <= end <= last:
        raise UsageError(f"--start-date/--end-date {start}..{end}: not within {first}..{last}")

    hourly_pods = files(args, "pod_usage", False)
    if not hourly_pods:
        raise RuntimeError(f"{month_dir(args, 'pod_usage', False)}: no pod_usage Parquet files")
    chosen = {}

    def pick(report_type: str) -> list[str]:
        daily = files(args, report_type, True) if args.tables == "auto" else []
        chosen[report_type] = "daily" if daily else "hourly"
        return daily or files(args, report_type, False)

    daily_pods = files(args, "pod_usage", True) if args.tables == "auto" else []
    pods_daily = effective_complete(con, daily_pods)
    chosen["pod_usage sums"] = "daily" if pods_daily else "hourly"
    keys = [k.strip() for k in (args.enabled_keys or "").split(",") if k.strip()]
    all_keys = "*" in keys
    keys = sorted(set(k for k in keys if k != "*") | {ALWAYS_ENABLED})
    cost = parse_pairs(args.cost_category, "--cost-category", int)
    roles = parse_pairs(args.node_role, "--node-role", str)
    alias = args.cluster_alias if args.cluster_alias is not None else args.cluster_id
    params = {
        "pod_hourly": relation(con, "pod_usage", hourly_pods),
        "pod_sums": relation(con, "pod_usage", daily_pods if pods_daily else hourly_pods),
        "storage": relation(con, "storage_usage", pick("storage_usage")),
        "node_labels": relation(con, "node_labels", pick("node_labels")),
        "namespace_labels": relation(con, "namespace_labels", pick("namespace_labels")),
        "start_date": f"DATE {lit(start.isoformat())}",
        "end_date": f"DATE {lit(end.isoformat())}",
        "days_in_month": str(days),
        "enabled_keys": "CAST([" + ", ".join(lit(k) for k in keys) + "] AS VARCHAR[])",
        "all_keys": lit(all_keys),
        "cost_categories": values_relation(
            cost, [("pattern", "VARCHAR"), ("cost_category_id", "INTEGER")]),
        "node_roles": values_relation(roles, [("node", "VARCHAR"), ("node_role", "VARCHAR")]),
        "report_period_id": lit(args.report_period_id),
        "cluster_id": lit(args.cluster_id),
        "cluster_alias": lit(alias),
        "source_uuid": lit(args.source),
        "output": lit(output),
    }
    with open(os.path.join(HERE, "summary.sql"), encoding="utf-8") as f:
        sql = f.read()
    # Comments first (they mention placeholders by name), then the placeholders.
    sql = re.sub(r"--[^\n]*", "", sql)

    def fill(m: re.Match) -> str:
        if m.group(1) not in params:
            raise RuntimeError(f"summary.sql: unknown placeholder {m.group(0)}")
        return params[m.group(1)]

    return re.sub(r"\{\{(\w+)\}\}", fill, sql), chosen


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--warehouse", required=True)
    p.add_argument("--org", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--month", type=int, required=True)
    p.add_argument("--start-date")
    p.add_argument("--end-date")
    p.add_argument("--cluster-id", required=True)
    p.add_argument("--cluster-alias")
    p.add_argument("--report-period-id", type=int)
    p.add_argument("--enabled-keys")
    p.add_argument("--cost-category", action="append", default=[])
    p.add_argument("--node-role", action="append", default=[])
    p.add_argument("--output", required=True)
    p.add_argument("--threads", type=int)
    p.add_argument("--tables", choices=["auto", "hourly"], default="auto")
    p.add_argument("--quiet", "-q", action="store_true")
    p.add_argument("--profile", action="store_true",
                   help="run the statements one by one and print the time of each")
    args = p.parse_args(argv)
    if args.warehouse.startswith("file://"):
        args.warehouse = args.warehouse[len("file://"):]
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if args.threads:
        con.execute(f"SET threads = {int(args.threads)}")
    try:
        # Written under a temporary name and renamed when complete, as ocpagg does.
        tmp = args.output + ".tmp"
        sql, chosen = render(args, con, tmp)
        if args.profile:
            for statement in filter(str.strip, sql.split(";\n")):
                t = time.perf_counter()
                con.execute(statement)
                head = " ".join(statement.split())[:70]
                print(f"{time.perf_counter() - t:8.3f} s  {head}", file=sys.stderr)
        else:
            con.execute(sql)
        os.replace(tmp, args.output)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (RuntimeError, ValueError, duckdb.Error) as e:
        if os.path.exists(args.output + ".tmp"):
            os.remove(args.output + ".tmp")
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not args.quiet:
        rows = con.execute("SELECT count(*) FROM read_parquet(?)", [args.output]).fetchone()[0]
        print(f"duckdb {duckdb.__version__}: wrote {rows} rows to {args.output} in "
              f"{time.perf_counter() - t0:.3f} s; tables: "
              + ", ".join(f"{k} {v}" for k, v in chosen.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
