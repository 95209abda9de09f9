"""Type stubs of the native module ``ocpagg._ocpagg`` (built from python/src/lib.rs).

Use the package ``ocpagg`` instead: it takes keyword settings and returns dicts. These
functions take the settings as one JSON object and return JSON text.
"""

from typing import List, Optional

class Error(Exception):
    """Base class of every error ocpagg raises; the message is the CLI's error line."""

class ConfigError(Error):
    """A setting is missing, unknown or wrong (the CLI's exit code 2)."""

class InputError(Error):
    """The data is bad or missing (no files for the month, a file that is not koku's Parquet, a bad column or label)."""

class DatabaseError(Error):
    """PostgreSQL failed (connection, TLS, a statement) or its tables are not koku's."""

class StorageError(Error):
    """The object store (S3) or the local disk failed, after the configured retries."""

SETTINGS: List[str]
VALIDATE_SETTINGS: List[str]

def run(settings_json: str, config: Optional[str] = None) -> str:
    """Runs one source and month to its output; returns the result as JSON text."""

def preflight(settings_json: str, config: Optional[str] = None) -> str:
    """Runs the preflight checks; returns ``{"ready", "checks"}`` as JSON text."""

def status(settings_json: str, config: Optional[str] = None) -> str:
    """What an incremental run would do; returns ``ocpagg status --format json`` as text."""

def validate(settings_json: str) -> str:
    """Compares a run's output with a scenario's expected summary; returns JSON text."""
