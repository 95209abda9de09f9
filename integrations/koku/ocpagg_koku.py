"""ocpagg inside koku: the drop-in for the Trino step of the OpenShift summary.

koku's ``OCPReportParquetSummaryUpdater.update_summary_tables`` calls, for each chunk of days,
``OCPReportDBAccessor.populate_line_item_daily_summary_table_trino(start_date, end_date,
report_period_id, cluster_id, cluster_alias, source)``, which runs
``trino_sql/openshift/reporting_ocpusagelineitem_daily_summary.sql``. The function below has
the same arguments plus koku's schema (the accessor's ``self.schema``) and what ocpagg needs
to find the data and the database, and does the same work with ``ocpagg.run``: it replaces
the day range's rows of ``{schema}.reporting_ocpusagelineitem_daily_summary`` for the source
in one transaction.

This is an example with tests (``test_ocpagg_koku.py``), not a fork of koku. Two ways to use
it from koku:

1. Call :func:`populate_line_item_daily_summary_table` where the accessor's method is called::

       populate_line_item_daily_summary_table(
           start, end, report_period_id, cluster_id, cluster_alias, provider_uuid,
           schema=self._schema, tracing_id=tracing_id,
       )

2. Mix :class:`OcpaggSummaryMixin` into ``OCPReportDBAccessor`` (before the base class), so
   that ``populate_line_item_daily_summary_table_trino`` itself runs ocpagg.

Where the data is comes from ``warehouse=`` or ``OCPAGG_WAREHOUSE`` (koku's
``s3://{S3_BUCKET_NAME}/{WAREHOUSE_PATH}/{PARQUET_DATA_TYPE}``, with ``AWS_*`` for the
endpoint and keys). The database comes from ``database_url=``, else ``OCPAGG_OUTPUT``, else
koku's ``DATABASE_*`` variables (:func:`database_url_from_env`). Any other ocpagg setting may
be passed through ``**settings`` (``threads``, ``s3_max_retries``, ...).

Each call logs two lines on the ``ocpagg_koku`` logger with koku's :func:`log_json` fields
(``message``, ``tracing_id``, ``schema``, ``start_date``, ``end_date``, ``provider_uuid``,
``cluster_id``, then the figures), or one error line naming the ocpagg error class before
the exception propagates.
"""

from __future__ import annotations

import datetime
import logging
import os
import time
from typing import Any, Dict, Mapping, Optional, Union
from uuid import UUID

import ocpagg

LOG = logging.getLogger("ocpagg_koku")

DateLike = Union[datetime.date, datetime.datetime, str]


def log_json(tracing_id: str = "", *, msg: str, context: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> Dict[str, Any]:
    """koku's ``api.common.log_json``: the JSON object koku logs (a local copy)."""
    stmt: Dict[str, Any] = {"message": msg, "tracing_id": tracing_id}
    if context:
        stmt |= context
    stmt |= kwargs
    for key, value in stmt.items():
        if key == "split_files":
            stmt[key] = len(value)
        if isinstance(value, UUID):
            stmt[key] = str(value)
    return stmt


def parse_to_date(value: DateLike) -> datetime.date:
    """koku's ``DateHelper().parse_to_date``: a date, a datetime or ISO text, as a date."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()


def _quote(value: Any) -> str:
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def database_url_from_env(env: Mapping[str, str] = os.environ) -> Optional[str]:
    """A libpq ``key=value`` connection string from koku's variables (``DATABASE_HOST``,
    ``DATABASE_PORT``, ``DATABASE_NAME``, ``DATABASE_USER``, ``DATABASE_PASSWORD``; with
    ``DATABASE_SSLROOTCERT`` set, ``sslmode=verify-full`` as koku does with Clowder's
    ``rdsCa``). None without ``DATABASE_HOST``. ocpagg never prints the password."""
    if not env.get("DATABASE_HOST"):
        return None
    pairs = {
        "host": env.get("DATABASE_HOST"),
        "port": env.get("DATABASE_PORT"),
        "dbname": env.get("DATABASE_NAME"),
        "user": env.get("DATABASE_USER"),
        "password": env.get("DATABASE_PASSWORD"),
        "application_name": env.get("APPLICATION_NAME", "koku"),
    }
    if env.get("DATABASE_SSLROOTCERT"):
        pairs["sslmode"] = "verify-full"
        pairs["sslrootcert"] = env["DATABASE_SSLROOTCERT"]
    return " ".join(f"{k}={_quote(v)}" for k, v in pairs.items() if v)


def populate_line_item_daily_summary_table(
    start_date: DateLike,
    end_date: DateLike,
    report_period_id: Optional[int],
    cluster_id: Optional[str],
    cluster_alias: Optional[str],
    source: Union[str, UUID],
    *,
    schema: str,
    warehouse: Optional[str] = None,
    database_url: Optional[str] = None,
    tracing_id: str = "",
    **settings: Any,
) -> Dict[str, Any]:
    """Populate the daily summary of ``source`` from ``start_date`` to ``end_date``
    (inclusive, one month) in ``schema``, as koku's
    ``populate_line_item_daily_summary_table_trino`` does, with ocpagg.

    Args:
        start_date, end_date: the days (dates, datetimes or ISO text; koku's types).
        report_period_id: koku's report period (None: the one koku made for the month).
        cluster_id, cluster_alias: the cluster (None: the report period's).
        source: the provider UUID.
        schema: koku's tenant schema (``org1234567``); also the org of the warehouse.
        warehouse: the warehouse root (default: ``OCPAGG_WAREHOUSE``).
        database_url: the database (default: ``OCPAGG_OUTPUT``, else koku's ``DATABASE_*``).
        tracing_id: koku's tracing id, added to every log line.
        **settings: any other ocpagg setting.

    Returns:
        ocpagg's result dict.

    Raises:
        ocpagg.Error: its subclasses tell a bad setting, bad data, a database or a storage
        failure; nothing was committed.
    """
    start = parse_to_date(start_date)
    end = parse_to_date(end_date)
    source = str(source)
    output = database_url or os.environ.get("OCPAGG_OUTPUT") or database_url_from_env()
    context = {
        "schema": schema,
        "start_date": start,
        "end_date": end,
        "provider_uuid": source,
        "cluster_id": cluster_id,
    }
    LOG.info(
        log_json(
            tracing_id,
            msg="running ocpagg for the OCP daily summary",
            context=context,
            report_period_id=report_period_id,
        )
    )
    started = time.monotonic()
    try:
        result = ocpagg.run(
            warehouse=warehouse,
            org=schema,
            source=source,
            year=start.year,
            month=start.month,
            output=output,
            schema=schema,
            start_date=start,
            end_date=end,
            report_period_id=report_period_id,
            cluster_id=cluster_id,
            cluster_alias=cluster_alias,
            **settings,
        )
    except ocpagg.Error as e:
        LOG.error(
            log_json(
                tracing_id,
                msg="ocpagg failed; the summary keeps its previous rows",
                context=context,
                error_type=type(e).__name__,
                error=str(e),
                seconds=round(time.monotonic() - started, 3),
            )
        )
        raise
    LOG.info(
        log_json(
            tracing_id,
            msg="ocpagg populated the OCP daily summary",
            context=context,
            report_period_id=report_period_id,
            rows_deleted=result.get("rows_deleted"),
            rows_inserted=result.get("rows_inserted"),
            rows_written=result.get("rows_written"),
            rows_read=result.get("rows_read"),
            seconds=result.get("wall_seconds"),
        )
    )
    return result


class OcpaggSummaryMixin:
    """Mix into koku's ``OCPReportDBAccessor`` (first in the bases) to run ocpagg in place of
    Trino: the accessor's ``schema`` is the tenant schema; ``ocpagg_settings`` (a dict,
    empty by default) adds ocpagg settings."""

    schema: str
    ocpagg_settings: Dict[str, Any] = {}

    def populate_line_item_daily_summary_table_trino(
        self, start_date, end_date, report_period_id, cluster_id, cluster_alias, source
    ):
        """koku's signature; see :func:`populate_line_item_daily_summary_table`."""
        populate_line_item_daily_summary_table(
            start_date,
            end_date,
            report_period_id,
            cluster_id,
            cluster_alias,
            source,
            schema=self.schema,
            **self.ocpagg_settings,
        )
