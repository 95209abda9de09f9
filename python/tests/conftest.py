"""pytest fixtures: see ocpagg_testing.py (shared with integrations/koku)."""

from ocpagg_testing import db, ocpagg_bin, s3, schema, slow_warehouse, small_warehouse  # noqa: F401
