"""ocpagg.run, preflight and validate against the CLI, the test PostgreSQL and the local S3
server: same rows, the right exception class, other threads running, clean cancellation."""

from __future__ import annotations

import _thread
import datetime
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import ocpagg
from ocpagg_testing import MONTH, ORG, SLOW, SOURCE, YEAR, read_csv_rows, run_cli

REPO = Path(__file__).resolve().parents[2]
MONTH_SETTINGS = dict(org=ORG, source=SOURCE, year=YEAR, month=MONTH)


def test_file_output_is_the_clis(ocpagg_bin, small_warehouse, tmp_path):
    settings = dict(MONTH_SETTINGS, warehouse=small_warehouse, cluster_id="my-cluster",
                    enabled_keys="app,environment", cost_category="openshift-%=1")
    run_cli(ocpagg_bin, **dict(settings, output=tmp_path / "cli.csv"))
    result = ocpagg.run(output=tmp_path / "py.csv", metrics_file=tmp_path / "ocpagg.prom",
                        **settings)
    rows = read_csv_rows(tmp_path / "py.csv")
    assert rows == read_csv_rows(tmp_path / "cli.csv")
    assert result["success"] is True
    assert result["rows_inserted"] == len(rows) > 0
    # The metrics file, as the CLI writes it.
    metrics = (tmp_path / "ocpagg.prom").read_text()
    assert "ocpagg_run_success{" in metrics and f"source=\"{SOURCE}\"" in metrics
    assert sum(result["rows_written"].values()) == len(rows)
    assert result["days"] == 31
    assert result["rows_read"]["pod_usage"] > 0
    assert result["settings"]["warehouse"] == str(small_warehouse)


def test_database_rows_are_the_clis(ocpagg_bin, small_warehouse, db, schema):
    db.koku_schema(ocpagg_bin, schema)
    settings = dict(MONTH_SETTINGS, warehouse=small_warehouse, output=db.url, schema=schema,
                    start_date="2025-10-03", end_date="2025-10-20")
    run_cli(ocpagg_bin, **settings)
    cli_rows, cli_uuids = db.summary_rows(schema), db.uuids(schema)
    assert cli_rows
    result = ocpagg.run(**dict(settings, start_date=datetime.date(2025, 10, 3),
                               end_date=datetime.datetime(2025, 10, 20, 0, 0)))
    # The Python run replaced the CLI's rows (new uuids) with the same rows.
    assert db.summary_rows(schema) == cli_rows
    assert db.uuids(schema).isdisjoint(cli_uuids)
    assert result["rows_deleted"] == len(cli_rows) == result["rows_inserted"]
    assert result["days"] == 18
    assert "password" not in str(result)


def test_s3_warehouse_gives_the_local_rows(small_warehouse, s3, tmp_path):
    url = s3.upload(small_warehouse)
    settings = dict(MONTH_SETTINGS, cluster_id="c")
    ocpagg.run(warehouse=small_warehouse, output=tmp_path / "local.csv", **settings)
    ocpagg.run(warehouse=url, output=tmp_path / "s3.csv", **settings)
    assert read_csv_rows(tmp_path / "s3.csv") == read_csv_rows(tmp_path / "local.csv")


def test_environment_and_config_file_fill_in_and_the_call_wins(small_warehouse, tmp_path, monkeypatch):
    config = tmp_path / "ocpagg.toml"
    config.write_text(f'org = "{ORG}"\nsource = "{SOURCE}"\nyear = {YEAR}\nmonth = 1\ncluster_id = "c"\n')
    monkeypatch.setenv("OCPAGG_WAREHOUSE", str(small_warehouse))
    monkeypatch.setenv("OCPAGG_CONFIG", str(config))
    result = ocpagg.run(month=MONTH, output=tmp_path / "out.parquet")
    assert result["settings"]["month"] == MONTH
    assert result["settings"]["warehouse"] == str(small_warehouse)
    assert (tmp_path / "out.parquet").exists()


def timeless(message: str) -> str:
    """A message without what changes between two runs: durations ("in 7.2ms") and an S3
    error's request and host ids."""
    message = re.sub(r"\bin [0-9.]+ ?[mµn]?s\b", "in T", message)
    return re.sub(r"<(RequestId|HostId)>[^<]*<", r"<\1>ID<", message)


def cli_error(ocpagg_bin, **settings) -> str:
    """The CLI's error line for the same settings, without `error: `."""
    argv = [ocpagg_bin, "run", "--quiet"]
    for key, value in settings.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode != 0
    # The error line and any lines the message itself holds (an S3 error's XML body).
    lines = done.stderr.rstrip("\n").splitlines()
    first = max(i for i, line in enumerate(lines) if line.startswith("error: "))
    return "\n".join(lines[first:]).removeprefix("error: ")


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(yaer=2025), "unknown setting `yaer`"),
        (dict(year="2025"), "setting `year`: invalid type: string \"2025\", expected i32"),
        (dict(threads=-1), "setting `threads`"),
        (dict(month=13), "setting `month`: 13 is not 1-12"),
        (dict(output="summary.txt"), "setting `output`"),
        (dict(start_date="2025-11-01"), "setting `start_date` = 2025-11-01 is outside 2025-10"),
    ],
)
def test_bad_settings_raise_config_error(small_warehouse, tmp_path, change, message):
    settings = dict(MONTH_SETTINGS, warehouse=small_warehouse, cluster_id="c",
                    output=str(tmp_path / "o.csv"))
    settings.update(change)
    with pytest.raises(ocpagg.ConfigError, match=message.replace("(", r"\(").replace("$", r"\$")):
        ocpagg.run(**settings)
    assert not (tmp_path / "o.csv").exists()


def test_errors_have_the_clis_message_and_their_class(ocpagg_bin, small_warehouse, s3, db, tmp_path):
    base = dict(MONTH_SETTINGS, cluster_id="c", output=tmp_path / "o.csv")
    corrupt = tmp_path / "corrupt"
    subprocess.run(["cp", "-r", str(small_warehouse), str(corrupt)], check=True)
    victim = next(p for p in sorted(corrupt.rglob("*.parquet")) if "pod_usage" in str(p))
    victim.write_bytes(b"this is not parquet" * 10)
    cases = [
        (ocpagg.ConfigError, dict(base, warehouse=small_warehouse, month=0)),
        (ocpagg.InputError, dict(base, warehouse=tmp_path / "empty")),
        (ocpagg.InputError, dict(base, warehouse=corrupt)),
        (ocpagg.StorageError, dict(base, warehouse=f"s3://no-such-bucket-{SOURCE[:8]}/data",
                                   s3_max_retries=0)),
        (ocpagg.DatabaseError, dict(base, warehouse=small_warehouse, output=db.url,
                                    schema="py_no_such_schema")),
        (ocpagg.DatabaseError, dict(base, warehouse=small_warehouse,
                                    output="postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2")),
    ]
    (tmp_path / "empty").mkdir()
    for cls, settings in cases:
        with pytest.raises(ocpagg.Error) as raised:
            ocpagg.run(**settings)
        assert type(raised.value) is cls, (settings, raised.value)
        assert timeless(str(raised.value)) == timeless(cli_error(ocpagg_bin, **settings))
        if cls is not ocpagg.ConfigError:
            # A run that started carries its failed result, as the CLI's JSON result.
            assert raised.value.result["success"] is False
            assert raised.value.result["error"]["message"] == str(raised.value)
    assert issubclass(ocpagg.ConfigError, ocpagg.Error) and issubclass(ocpagg.Error, Exception)


def test_other_threads_run_during_a_run(slow_warehouse, tmp_path):
    ticks = 0
    stop = threading.Event()

    def count():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    started = time.monotonic()
    try:
        ocpagg.run(warehouse=slow_warehouse, output=tmp_path / "o.parquet", cluster_id="c",
                   **MONTH_SETTINGS, **SLOW)
    finally:
        elapsed = time.monotonic() - started
        stop.set()
        counter.join()
    # With the GIL held for the run the counter would stay near 0; released, it ticks about
    # once a millisecond (sleep's granularity and a loaded machine allowed for).
    assert elapsed > 0.3
    assert ticks > elapsed * 1000 * 0.25, (ticks, elapsed)


class SoftTimeLimitExceeded(Exception):
    """What Celery raises from its SIGUSR1 handler at a task's soft time limit."""


def interrupt_after(seconds: float) -> threading.Timer:
    """Ctrl-C in `seconds`: KeyboardInterrupt in the main thread, as Python's SIGINT handler
    raises it."""
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


def test_ctrl_c_rolls_the_database_back(ocpagg_bin, slow_warehouse, db, schema):
    db.koku_schema(ocpagg_bin, schema)
    settings = dict(MONTH_SETTINGS, warehouse=slow_warehouse, output=db.url, schema=schema, **SLOW)
    started = time.monotonic()
    ocpagg.run(**settings)
    full = time.monotonic() - started
    before, before_uuids = db.summary_rows(schema), db.uuids(schema)
    started = time.monotonic()
    timer = interrupt_after(min(0.4, full / 4))
    with pytest.raises(KeyboardInterrupt):
        ocpagg.run(**settings)
    stopped = time.monotonic() - started
    timer.join()
    assert stopped < full * 0.8, (stopped, full)
    # The transaction (delete + COPY) was rolled back: the first run's rows, untouched.
    assert db.uuids(schema) == before_uuids
    assert db.summary_rows(schema) == before
    # And the session is gone (no transaction left open, no lock held).
    assert db.sql(
        f"SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        f"WHERE c.relname = 'reporting_ocpusagelineitem_daily_summary' "
        f"AND c.relnamespace = '{schema}'::regnamespace"
    ).strip() == "0"


def test_a_soft_time_limit_leaves_no_file(slow_warehouse, tmp_path):
    def soft_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, soft_limit)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.4)
        with pytest.raises(SoftTimeLimitExceeded):
            ocpagg.run(warehouse=slow_warehouse, output=tmp_path / "o.parquet", cluster_id="c",
                       **MONTH_SETTINGS, **SLOW)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    # Neither the output nor its temporary file is left.
    assert list(tmp_path.iterdir()) == []
    # And the package is usable again at once.
    ocpagg.run(warehouse=slow_warehouse, output=tmp_path / "o.parquet", cluster_id="c",
               **MONTH_SETTINGS)
    assert (tmp_path / "o.parquet").exists()


def test_preflight(small_warehouse, tmp_path):
    ready = ocpagg.preflight(warehouse=small_warehouse, cluster_id="c",
                             output=tmp_path / "o.parquet", **MONTH_SETTINGS)
    assert ready["ready"] is True
    assert {c["name"] for c in ready["checks"]} >= {"settings", "warehouse"}
    assert all(c["status"] in ("PASS", "WARN") for c in ready["checks"])
    empty = tmp_path / "empty"
    empty.mkdir()
    not_ready = ocpagg.preflight(warehouse=empty, cluster_id="c", output=tmp_path / "o.parquet",
                                 **MONTH_SETTINGS)
    assert not_ready["ready"] is False
    assert any(c["status"] == "FAIL" and c.get("remedy") for c in not_ready["checks"])
    with pytest.raises(ocpagg.ConfigError, match="missing setting `warehouse`"):
        ocpagg.preflight(**MONTH_SETTINGS)
    assert list(tmp_path.glob("*.parquet")) == []


def test_validate(ocpagg_bin, tmp_path):
    scenario = REPO / "validator" / "scenarios" / "01_basic_pod.yml"
    lake = tmp_path / "lake"
    subprocess.run([ocpagg_bin, "generate", "--scenario", str(scenario), "--out", str(lake)],
                   check=True, capture_output=True)
    ocpagg.run(warehouse=lake, output=tmp_path / "s.parquet", cluster_id="my-cluster",
               **MONTH_SETTINGS)
    result = ocpagg.validate(scenario=scenario, against=str(tmp_path / "s.parquet"))
    assert result["ok"] is True and result["failed"] == 0 and result["passed"] > 0
    # A foreign scenario fails checks: reported, not raised.
    other = REPO / "validator" / "scenarios" / "02_multiple_namespaces.yml"
    if other.exists():
        assert ocpagg.validate(scenario=other, against=str(tmp_path / "s.parquet"))["ok"] is False
    with pytest.raises(ocpagg.ConfigError, match="unknown setting `format`"):
        ocpagg.validate(scenario=scenario, against="x.parquet", format="json")
    with pytest.raises(ocpagg.StorageError, match="missing.yml"):
        ocpagg.validate(scenario=tmp_path / "missing.yml", against=str(tmp_path / "s.parquet"))



def test_status_and_incremental_runs(small_warehouse, tmp_path):
    import os
    import shutil

    warehouse = tmp_path / "warehouse"
    shutil.copytree(small_warehouse, warehouse)
    settings = dict(MONTH_SETTINGS, warehouse=warehouse, cluster_id="c",
                    output=tmp_path / "out.parquet")
    # No state yet: a full run would be needed.
    assert ocpagg.status(**settings)["mode"] == "full"
    first = ocpagg.run(**settings)
    assert first["success"] is True
    unchanged = ocpagg.status(**settings)
    assert unchanged["mode"] == "unchanged" and unchanged["affected_days"] == []
    # A file rewritten (same bytes, a newer modification time) makes its days affected.
    pod_file = sorted(warehouse.rglob("*pod_usage_20251003*.parquet"))[0]
    stamp = pod_file.stat().st_mtime + 60
    os.utime(pod_file, (stamp, stamp))
    changed = ocpagg.status(**settings)
    assert changed["mode"] == "incremental", changed
    assert any(p.endswith(pod_file.name) for p in changed["files"]["changed"]), changed
    assert "2025-10-03" in [str(d) for d in changed["affected_days"]], changed
    again = ocpagg.run(incremental=True, **settings)
    assert again["incremental"]["mode"] == "incremental", again["incremental"]
    # Only the affected day's files were read; the file holds the whole month again.
    assert sum(again["rows_read"].values()) < sum(first["rows_read"].values()) / 5
    # The other days' rows were carried over, their row groups copied without decoding.
    assert again["rows_inserted"] + again["rows_carried"] == first["rows_inserted"]
    assert 0 < again["rows_inserted"] < first["rows_inserted"]
    assert again["row_groups_copied"] > 0
    assert ocpagg.status(**settings)["mode"] == "unchanged"
    with pytest.raises(ocpagg.ConfigError, match="missing setting `warehouse`"):
        ocpagg.status(**MONTH_SETTINGS)
