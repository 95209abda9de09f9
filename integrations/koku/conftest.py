"""pytest fixtures: those of the package's tests (python/tests/ocpagg_testing.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python" / "tests"))

from ocpagg_testing import db, ocpagg_bin, schema, small_warehouse  # noqa: E402,F401
