"""Shared fixtures and helpers of the Python tests (python/tests and integrations/koku): the CLI
binary, generated warehouses, and the test PostgreSQL (through psql) and S3 servers that
scripts/test.sh starts."""

from __future__ import annotations

import csv
import glob
import json
import os
import shutil
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

ORG = "org1234567"
SOURCE = "6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01"
YEAR, MONTH = 2025, 10


def _need(var: str) -> str:
    value = os.environ.get(var)
    if not value:
        pytest.fail(f"{var} is not set: run scripts/python-test.sh (scripts/test.sh starts the servers)")
    return value


@pytest.fixture(scope="session")
def ocpagg_bin() -> str:
    return _need("OCPAGG_BIN")


def generate(ocpagg_bin: str, out: Path, pod_rows: int, *extra: str) -> Path:
    subprocess.run(
        [ocpagg_bin, "generate", "--out", str(out), "--org", ORG, "--source", SOURCE,
         "--year", str(YEAR), "--month", str(MONTH), "--pod-rows", str(pod_rows), *extra],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory, ocpagg_bin) -> Path:
    """A month of 20,000 hourly pod rows, with koku's daily roll-up."""
    return generate(ocpagg_bin, tmp_path_factory.mktemp("small"), 20_000)


@pytest.fixture(scope="session")
def slow_warehouse(tmp_path_factory, ocpagg_bin) -> Path:
    """A month of 400,000 hourly pod rows and no roll-up: with one thread and small batches,
    a run of about two seconds (debug build), long enough to be cancelled half-way."""
    return generate(ocpagg_bin, tmp_path_factory.mktemp("slow"), 400_000, "--no-daily")


#: Settings that make a run on `slow_warehouse` slow.
SLOW = {"threads": 1, "batch_size": 1000}


def run_cli(ocpagg_bin: str, **settings) -> subprocess.CompletedProcess:
    argv = [ocpagg_bin, "run", "--quiet"]
    for key, value in settings.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return subprocess.run(argv, check=True, capture_output=True, text=True)


def read_csv_rows(path: Path) -> list:
    """A CSV output's rows without uuid (fresh per row), sorted: koku's table has no order."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        del row["uuid"]
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


def _psql() -> str:
    found = shutil.which("psql") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))), None)
    if not found:
        pytest.fail("psql is not installed (scripts/pg-server.sh installs PostgreSQL)")
    return found


class Database:
    """The test PostgreSQL through psql: no Python driver needed."""

    def __init__(self, url: str):
        self.url = url
        self.psql = _psql()

    def sql(self, text: str) -> str:
        done = subprocess.run(
            [self.psql, self.url, "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", text],
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout

    def koku_schema(self, ocpagg_bin: str, schema: str, source: str = SOURCE) -> None:
        """A fresh schema with koku's tables (`ocpagg init-db`) and the source's report
        periods of 2024-2026, cluster `test-cluster`, as koku creates them."""
        self.sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        subprocess.run(
            [ocpagg_bin, "init-db", "--database-url", self.url, "--schema", schema],
            check=True,
            capture_output=True,
        )
        self.sql(
            f"""INSERT INTO {schema}.reporting_ocpusagereportperiod
                  (cluster_id, cluster_alias, report_period_start, report_period_end, provider_id)
                SELECT 'test-cluster', 'Test cluster', m, m + interval '1 month', '{source}'::uuid
                  FROM generate_series(timestamptz '2024-01-01 00:00+00', '2026-12-01 00:00+00',
                                       interval '1 month') AS m"""
        )

    def summary_rows(self, schema: str) -> list:
        """Every summary row, all columns but uuid, as sorted JSON text."""
        out = self.sql(
            f"SELECT (to_jsonb(t) - 'uuid')::text FROM {schema}.reporting_ocpusagelineitem_daily_summary t"
        )
        return sorted(line for line in out.splitlines() if line)

    def uuids(self, schema: str) -> set:
        out = self.sql(f"SELECT uuid FROM {schema}.reporting_ocpusagelineitem_daily_summary")
        return set(out.split())


@pytest.fixture(scope="session")
def db() -> Database:
    return Database(_need("OCPAGG_TEST_DATABASE_URL"))


@pytest.fixture()
def schema(request) -> str:
    """A schema name of this test's own."""
    name = "py_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())
    return name[:63]


class S3:
    """The local S3 server (moto, which takes unsigned requests)."""

    def __init__(self):
        self.endpoint = _need("AWS_ENDPOINT_URL")
        self.bucket = _need("OCPAGG_TEST_S3_BUCKET")

    def upload(self, local: Path) -> str:
        """Copies a warehouse under a fresh prefix; returns its s3:// URL."""
        prefix = f"py-{uuid.uuid4().hex[:12]}"
        for path in sorted(local.rglob("*")):
            if path.is_file():
                key = f"{prefix}/{path.relative_to(local).as_posix()}"
                # Binary content type: moto parses a form-encoded body (urllib's default).
                request = urllib.request.Request(
                    f"{self.endpoint}/{self.bucket}/{key}",
                    data=path.read_bytes(),
                    method="PUT",
                    headers={"Content-Type": "application/octet-stream"},
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    assert response.status == 200
        return f"s3://{self.bucket}/{prefix}"


@pytest.fixture(scope="session")
def s3() -> S3:
    return S3()
