"""ocpagg: koku-layout OpenShift usage Parquet in, Cost Management's daily summary out.

The Python face of the ``ocpagg`` command. The same work as ``ocpagg run``, ``ocpagg
preflight`` and ``ocpagg validate``, called in process::

    import ocpagg

    result = ocpagg.run(
        warehouse="s3://koku-bucket/data",
        org="org1234567",
        source="6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01",
        year=2025,
        month=10,
        output="postgresql://koku@db:5432/koku",
        start_date=datetime.date(2025, 10, 1),
        end_date=datetime.date(2025, 10, 5),
    )
    result["rows_inserted"]

Settings are the CLI's, with the names of its TOML keys (``start_date``, ``cluster_id``,
``enabled_keys``, ``s3_max_retries``, ...). As with the CLI, ``OCPAGG_*`` environment
variables and a TOML file (``config=`` or ``OCPAGG_CONFIG``) fill in what the call leaves
out; the call's own settings win. S3 and PostgreSQL credentials come from the environment
(``AWS_*``, ``PG*``), as for the CLI. A setting that is unknown, of the wrong type or invalid
raises :class:`ConfigError` naming it.

Errors are instances of :class:`Error`, one subclass per kind of failure
(:class:`ConfigError`, :class:`InputError`, :class:`DatabaseError`, :class:`StorageError`),
with the CLI's message.

The GIL is released while the work runs, so other Python threads go on. An exception raised
in the calling thread by a signal handler (``KeyboardInterrupt`` on Ctrl-C, Celery's
``SoftTimeLimitExceeded``) cancels :func:`run` within about 50 ms of the handler running:
the call waits until the run has stopped (the database transaction rolled back, a file
output's temporary file removed) and then lets the exception through unchanged.
"""

from __future__ import annotations

import datetime as _dt
import json as _json
import os as _os
import uuid as _uuid
from typing import Any, Dict, Optional, Union

from . import _ocpagg
from ._ocpagg import ConfigError, DatabaseError, Error, InputError, StorageError

__all__ = [
    "run",
    "preflight",
    "status",
    "validate",
    "Error",
    "ConfigError",
    "InputError",
    "DatabaseError",
    "StorageError",
    "SETTINGS",
    "VALIDATE_SETTINGS",
]

#: The settings :func:`run` and :func:`preflight` take: the CLI's TOML keys.
SETTINGS = tuple(_ocpagg.SETTINGS)
#: The settings :func:`validate` takes: the flags of ``ocpagg validate``.
VALIDATE_SETTINGS = tuple(_ocpagg.VALIDATE_SETTINGS)

PathLike = Union[str, "_os.PathLike[str]"]


def _value(value: Any) -> Any:
    """A setting as JSON: dates as ``YYYY-MM-DD``, UUIDs and paths as text."""
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, _uuid.UUID):
        return str(value)
    if isinstance(value, _os.PathLike):
        return _os.fspath(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        # cost_category / node_role as {pattern: id} / {node: role}.
        return [f"{k}={v}" for k, v in value.items()]
    return value


def _settings(settings: Dict[str, Any]) -> str:
    """The settings object the native module parses; ``None`` means "not set"."""
    return _json.dumps({k: _value(v) for k, v in settings.items() if v is not None})


def _config(config: Optional[PathLike]) -> Optional[str]:
    return None if config is None else _os.fspath(config)


def run(
    warehouse: Optional[PathLike] = None,
    org: Optional[str] = None,
    source: Union[str, _uuid.UUID, None] = None,
    year: Optional[int] = None,
    month: Optional[int] = None,
    output: Optional[PathLike] = None,
    *,
    config: Optional[PathLike] = None,
    **settings: Any,
) -> Dict[str, Any]:
    """Aggregate one source and month into the daily summary, as ``ocpagg run`` does.

    Args:
        warehouse: the warehouse root: a path, ``file://`` URL or ``s3://bucket/prefix``.
        org: the org (tenant schema), e.g. ``org1234567``.
        source: the source UUID.
        year: the year.
        month: the month, 1-12.
        output: a ``.parquet`` or ``.csv`` path, or a PostgreSQL connection string (URL or
            libpq ``key=value`` pairs; ``PG*`` variables fill the gaps).
        config: a TOML file with the same keys (default: ``OCPAGG_CONFIG``, if set).
        **settings: any other key of :data:`SETTINGS` (``start_date``, ``end_date`` as
            ``datetime.date`` or ``YYYY-MM-DD``; ``cluster_id``, ``cluster_alias``,
            ``report_period_id``, ``schema``, ``enabled_keys`` (list or comma-separated
            text), ``cost_category`` (``["PATTERN=ID", ...]`` or ``{pattern: id}``),
            ``node_role``, ``threads``, ``batch_size``, ``copy_format``, ``s3_*``, ...).

    Returns:
        The run's result, a ``dict``: the CLI's ``--result-format json`` object (``success``,
        ``settings`` used without secrets, ``start_date``, ``end_date``, ``days``,
        ``report_period_id``, ``cluster_id``, ``rows_read`` per table, ``rows_written`` per
        ``data_source``, ``rows_inserted``, ``rows_deleted``, ``partitions_created``,
        ``stage_seconds``, ``wall_seconds``, ``peak_rss_bytes``, ``s3``, ...). With
        ``metrics_file`` set, the same figures are also written there in Prometheus' text
        format (also after a failure). ``result_format`` and ``log_format`` are accepted and
        ignored.

    Raises:
        ConfigError: a setting is missing, unknown, mistyped or invalid.
        InputError: the month has no data, or the data is not koku's.
        DatabaseError: PostgreSQL failed; nothing was committed.
        StorageError: S3 or the local disk failed; nothing was written.
        Error: any other failure.

        An :class:`Error` raised by a run that started carries the failed run's result
        (``success`` False, ``error``) as its ``result`` attribute.
    """
    given = dict(
        settings,
        warehouse=warehouse,
        org=org,
        source=source,
        year=year,
        month=month,
        output=output,
    )
    try:
        return _json.loads(_ocpagg.run(_settings(given), _config(config)))
    except Error as e:
        # The failed run's result (``success`` False, ``error``), as the CLI prints it.
        if isinstance(getattr(e, "result", None), str):
            e.result = _json.loads(e.result)
        raise


def preflight(*, config: Optional[PathLike] = None, **settings: Any) -> Dict[str, Any]:
    """Check, with the settings of :func:`run`, that a run can start, as ``ocpagg preflight``.

    It reads only listings, Parquet footers and the database's catalog, and changes nothing.

    Returns:
        ``{"ready": bool, "checks": [{"status", "name", "detail", "remedy"?}, ...]}``, the
        CLI's ``--format json`` object. A failed check is in it (``ready`` is then False),
        not raised.

    Raises:
        ConfigError: the settings do not resolve (the CLI's exit code 2).
    """
    return _json.loads(_ocpagg.preflight(_settings(settings), _config(config)))


def status(*, config: Optional[PathLike] = None, **settings: Any) -> Dict[str, Any]:
    """What ``run(..., incremental=True)`` would do, as ``ocpagg status``: from the month's
    listing and the state kept with the output alone (no data file is read, nothing is
    written).

    Returns:
        ``{"mode", "reason", "files": {"new", "changed", "gone"}, "affected_days", ...}``, the
        CLI's ``--format json`` object. ``mode`` is ``"unchanged"``, ``"incremental"`` or
        ``"full"``.

    Raises:
        ConfigError: the settings do not resolve. Other :class:`Error` subclasses as
        :func:`run` raises them (an unreachable warehouse or database).
    """
    return _json.loads(_ocpagg.status(_settings(settings), _config(config)))


def validate(
    scenario: Optional[PathLike] = None,
    against: Optional[str] = None,
    **settings: Any,
) -> Dict[str, Any]:
    """Compare a run's output with the summary a nise scenario predicts, as ``ocpagg validate``.

    Args:
        scenario: the nise static OCP scenario YAML.
        against: the run's output: a ``.parquet`` or ``.csv`` path, or a PostgreSQL
            connection string (then ``schema`` and ``source`` are required).
        **settings: any other key of :data:`VALIDATE_SETTINGS` (``schema``, ``source``,
            ``start_date``, ``end_date``, ``tolerance``, ``enabled_keys``,
            ``cost_category``, ``node_role``).

    Returns:
        The CLI's ``--format json`` object (``tolerance``, ``passed``, ``failed``, ``checks``)
        plus ``ok`` (no check failed). Failed checks are in it, not raised.

    Raises:
        ConfigError: a setting is missing, unknown or invalid.
        InputError: the scenario or the output cannot be read, or there is nothing to compare.
        DatabaseError: reading the rows from PostgreSQL failed.
    """
    given = dict(settings, scenario=scenario, against=against)
    return _json.loads(_ocpagg.validate(_settings(given)))
