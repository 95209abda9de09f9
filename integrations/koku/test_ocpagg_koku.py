"""The koku drop-in against the test PostgreSQL: koku's arguments in, koku's rows and
log_json lines out."""

from __future__ import annotations

import datetime
import logging
import uuid

import pytest

import ocpagg
import ocpagg_koku
from ocpagg_testing import ORG, SOURCE


@pytest.fixture()
def schema() -> str:
    """koku's tenant schema is also the org of the warehouse's paths."""
    return ORG


def period_id(db, schema: str) -> int:
    return int(db.sql(
        f"SELECT id FROM {schema}.reporting_ocpusagereportperiod "
        f"WHERE report_period_start = '2025-10-01 00:00+00'"
    ))


def days_and_clusters(db, schema: str) -> list:
    out = db.sql(
        f"SELECT DISTINCT usage_start, cluster_id, cluster_alias, report_period_id "
        f"FROM {schema}.reporting_ocpusagelineitem_daily_summary ORDER BY 1"
    )
    return [line.split("|") for line in out.splitlines()]


def test_koku_arguments_populate_the_days_and_log_koku_fields(ocpagg_bin, small_warehouse, db, schema, caplog):
    db.koku_schema(ocpagg_bin, schema)
    rp = period_id(db, schema)
    caplog.set_level(logging.INFO, logger="ocpagg_koku")
    # As OCPReportParquetSummaryUpdater calls it: dates, the report period, the cluster and
    # alias of the provider, the provider's UUID object.
    result = ocpagg_koku.populate_line_item_daily_summary_table(
        datetime.date(2025, 10, 4),
        datetime.date(2025, 10, 6),
        rp,
        "test-cluster",
        "Test cluster",
        uuid.UUID(SOURCE),
        schema=schema,
        warehouse=str(small_warehouse),
        database_url=db.url,
        tracing_id="trace-123",
    )
    rows = days_and_clusters(db, schema)
    assert [r[0] for r in rows] == ["2025-10-04", "2025-10-05", "2025-10-06"]
    assert {tuple(r[1:]) for r in rows} == {("test-cluster", "Test cluster", str(rp))}
    assert result["rows_inserted"] > 0
    records = [r.msg for r in caplog.records if r.name == "ocpagg_koku"]
    assert len(records) == 2
    done = records[-1]
    assert done["message"] == "ocpagg populated the OCP daily summary"
    assert done["tracing_id"] == "trace-123"
    assert done["schema"] == schema
    assert done["provider_uuid"] == SOURCE
    assert done["start_date"] == datetime.date(2025, 10, 4)
    assert done["rows_inserted"] == result["rows_inserted"]
    assert done["report_period_id"] == rp


def test_the_mixin_replaces_the_trino_method_with_strings_and_defaults(ocpagg_bin, small_warehouse, db, schema, monkeypatch):
    db.koku_schema(ocpagg_bin, schema)

    class Accessor(ocpagg_koku.OcpaggSummaryMixin):
        def __init__(self, schema):
            self.schema = schema
            self.ocpagg_settings = {"warehouse": str(small_warehouse)}

    monkeypatch.setenv("OCPAGG_OUTPUT", db.url)
    # koku may hand datetimes or ISO text; no report period or cluster: the report period
    # koku made for the month gives them.
    Accessor(schema).populate_line_item_daily_summary_table_trino(
        "2025-10-30", datetime.datetime(2025, 10, 31, 0, 0), None, None, None, SOURCE
    )
    rows = days_and_clusters(db, schema)
    assert [r[0] for r in rows] == ["2025-10-30", "2025-10-31"]
    assert {tuple(r[1:]) for r in rows} == {("test-cluster", "Test cluster", str(period_id(db, schema)))}


def test_a_failure_is_logged_and_raised(ocpagg_bin, tmp_path, db, schema, caplog):
    db.koku_schema(ocpagg_bin, schema)
    caplog.set_level(logging.INFO, logger="ocpagg_koku")
    with pytest.raises(ocpagg.InputError, match="no pod_usage files"):
        ocpagg_koku.populate_line_item_daily_summary_table(
            "2025-10-01", "2025-10-02", None, None, None, SOURCE,
            schema=schema, warehouse=str(tmp_path), database_url=db.url, tracing_id="t",
        )
    failed = caplog.records[-1]
    assert failed.levelno == logging.ERROR
    assert failed.msg["error_type"] == "InputError"
    assert failed.msg["tracing_id"] == "t"
    assert "no pod_usage files" in failed.msg["error"]


def test_database_url_from_kokus_variables():
    assert ocpagg_koku.database_url_from_env({}) is None
    url = ocpagg_koku.database_url_from_env({
        "DATABASE_HOST": "db.example", "DATABASE_PORT": "5432", "DATABASE_NAME": "koku",
        "DATABASE_USER": "kokuadmin", "DATABASE_PASSWORD": "it's secret",
        "DATABASE_SSLROOTCERT": "/etc/rds/ca.pem",
    })
    assert url == (
        "host='db.example' port='5432' dbname='koku' user='kokuadmin' password='it\\'s secret' "
        "application_name='koku' sslmode='verify-full' sslrootcert='/etc/rds/ca.pem'"
    )


def test_koku_log_json_is_kokus():
    stmt = ocpagg_koku.log_json("tid", msg="m", context={"schema": "org1"}, provider_uuid=uuid.UUID(SOURCE))
    assert stmt == {"message": "m", "tracing_id": "tid", "schema": "org1", "provider_uuid": SOURCE}
