"""Tests of race.py's row-by-row comparison: it must notice every kind of difference.

Run inside the venv race.py creates (race.py --check does that on first use):
    bench/duckdb/.venv/bin/python -m unittest discover -s bench/duckdb -p 'test_*.py'
"""

from __future__ import annotations

import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import duckdb  # noqa: E402

import race  # noqa: E402  (already inside the venv: ensure_venv returns at once)

# Two rows of the summary's shape: a Pod row and a Storage row (columns as ocpagg writes them).
BASE = """
SELECT * FROM (VALUES
  ('11111111-1111-4111-8111-111111111111', 7, 'c', 'c', 'Pod', DATE '2025-10-01',
   DATE '2025-10-01', 'payments-prod', 'worker-0', 'i-1', '{"app": "web", "team": "x"}',
   1.5, 2.0, 2.0, NULL, 0.25, 0.5, 0.5, NULL, 16.0, 384.0, 64.0, 1536.0, 2112.0, 8448.0,
   NULL, NULL, NULL, NULL, '{"app": "web", "team": "x"}', NULL, NULL, NULL, NULL, 'src',
   '{"cpu": 0, "memory": 0, "storage": 0}', 3),
  ('22222222-2222-4222-8222-222222222222', 7, 'c', 'c', 'Storage', DATE '2025-10-01',
   DATE '2025-10-01', 'payments-prod', NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   'data', 'pv-1', 'gp3', '{}', '{}', 10.0, 0.3225806451612903, 0.3225806451612903,
   0.14262012768817203, 'src', '{"cpu": 0, "memory": 0, "storage": 0}', 3)
) AS t(uuid, report_period_id, cluster_id, cluster_alias, data_source, usage_start, usage_end,
       namespace, node, resource_id, pod_labels, pod_usage_cpu_core_hours,
       pod_request_cpu_core_hours, pod_effective_usage_cpu_core_hours, pod_limit_cpu_core_hours,
       pod_usage_memory_gigabyte_hours, pod_request_memory_gigabyte_hours,
       pod_effective_usage_memory_gigabyte_hours, pod_limit_memory_gigabyte_hours,
       node_capacity_cpu_cores, node_capacity_cpu_core_hours, node_capacity_memory_gigabytes,
       node_capacity_memory_gigabyte_hours, cluster_capacity_cpu_core_hours,
       cluster_capacity_memory_gigabyte_hours, persistentvolumeclaim, persistentvolume,
       storageclass, volume_labels, all_labels, persistentvolumeclaim_capacity_gigabyte,
       persistentvolumeclaim_capacity_gigabyte_months, volume_request_storage_gigabyte_months,
       persistentvolumeclaim_usage_gigabyte_months, source_uuid, infrastructure_usage_cost,
       cost_category_id)
"""
# Column types as the summary has them (VALUES with NULLs would otherwise guess).
TYPES = {"report_period_id": "INTEGER", "cost_category_id": "INTEGER"}
DOUBLE_COLUMNS = [
    "pod_usage_cpu_core_hours", "pod_request_cpu_core_hours",
    "pod_effective_usage_cpu_core_hours", "pod_limit_cpu_core_hours",
    "pod_usage_memory_gigabyte_hours", "pod_request_memory_gigabyte_hours",
    "pod_effective_usage_memory_gigabyte_hours", "pod_limit_memory_gigabyte_hours",
    "node_capacity_cpu_cores", "node_capacity_cpu_core_hours",
    "node_capacity_memory_gigabytes", "node_capacity_memory_gigabyte_hours",
    "cluster_capacity_cpu_core_hours", "cluster_capacity_memory_gigabyte_hours",
    "persistentvolumeclaim_capacity_gigabyte", "persistentvolumeclaim_capacity_gigabyte_months",
    "volume_request_storage_gigabyte_months", "persistentvolumeclaim_usage_gigabyte_months",
]
STRING_COLUMNS = ["node", "resource_id", "pod_labels", "persistentvolumeclaim",
                  "persistentvolume", "storageclass", "volume_labels"]


class CompareTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.con = duckdb.connect()
        casts = ", ".join(
            [f"CAST({c} AS {t}) AS {c}" for c, t in TYPES.items()]
            + [f"CAST({c} AS DOUBLE) AS {c}" for c in DOUBLE_COLUMNS]
            + [f"CAST({c} AS VARCHAR) AS {c}" for c in STRING_COLUMNS])
        self.con.execute(f"CREATE TABLE base AS SELECT * REPLACE ({casts}) FROM ({BASE})")
        self.ours = self.write("ours", "SELECT * FROM base")

    def tearDown(self):
        self.dir.cleanup()

    def write(self, name: str, query: str) -> str:
        path = os.path.join(self.dir.name, f"{name}.parquet")
        self.con.execute(f"COPY ({query}) TO '{path}' (FORMAT parquet)")
        return path

    def diffs(self, query: str) -> list[str]:
        return race.compare(self.ours, self.write("theirs", query), "other")

    def changed(self, assignment: str, where: str = "true") -> list[str]:
        """The base rows with one column changed on the rows matching `where`."""
        column = assignment.split("=", 1)[0].strip()
        value = assignment.split("=", 1)[1]
        return self.diffs(
            f"SELECT * REPLACE (CASE WHEN {where} THEN {value} ELSE {column} END "
            f"AS {column}) FROM base")

    def test_same_rows_in_another_order_with_fresh_uuids_are_equal(self):
        self.assertEqual(self.diffs(
            "SELECT * REPLACE (CAST(gen_random_uuid() AS VARCHAR) AS uuid) FROM base "
            "ORDER BY data_source DESC"), [])

    def test_label_key_order_and_spacing_do_not_matter(self):
        self.assertEqual(self.changed(
            """pod_labels = '{"team":"x","app":"web"}'""", "data_source = 'Pod'"), [])

    def test_tiny_float_noise_is_equal(self):
        self.assertEqual(self.changed(
            "pod_usage_cpu_core_hours = pod_usage_cpu_core_hours * (1 + 1e-12)"), [])

    def test_numbers_beyond_tolerance_differ(self):
        d = self.changed("pod_usage_cpu_core_hours = pod_usage_cpu_core_hours * (1 + 1e-7)",
                         "data_source = 'Pod'")
        self.assertEqual(len(d), 1)
        self.assertIn("pod_usage_cpu_core_hours", d[0])

    def test_null_differs_from_zero(self):
        d = self.changed("pod_limit_cpu_core_hours = 0.0", "data_source = 'Pod'")
        self.assertEqual(len(d), 1)
        self.assertIn("pod_limit_cpu_core_hours", d[0])

    def test_a_label_value_changes_the_row_key(self):
        d = self.changed("""all_labels = '{"app": "web", "team": "y"}'""", "data_source = 'Pod'")
        self.assertTrue(any("row(s)" in x for x in d), d)

    def test_cost_category_differs(self):
        d = self.changed("cost_category_id = 4", "data_source = 'Storage'")
        self.assertEqual(len(d), 1)
        self.assertIn("cost_category_id", d[0])

    def test_storage_months_differ(self):
        d = self.changed("volume_request_storage_gigabyte_months = 0.3225806451612903 / 2",
                         "data_source = 'Storage'")
        self.assertEqual(len(d), 1)
        self.assertIn("volume_request_storage_gigabyte_months", d[0])

    def test_missing_and_extra_rows_differ(self):
        self.assertEqual(len(self.diffs("SELECT * FROM base WHERE data_source = 'Pod'")), 1)
        d = self.diffs("SELECT * FROM base UNION ALL "
                       "SELECT * REPLACE ('33333333-3333-4333-8333-333333333333' AS uuid) "
                       "FROM base WHERE data_source = 'Pod'")
        self.assertEqual(len(d), 1)
        self.assertIn("1 ocpagg row(s) vs 2 other row(s)", d[0])

    def test_repeated_uuid_is_reported(self):
        d = self.changed("uuid = '11111111-1111-4111-8111-111111111111'")
        self.assertTrue(any("uuid" in x for x in d), d)

    def test_a_changed_column_type_is_reported(self):
        d = self.diffs("SELECT * REPLACE (CAST(cost_category_id AS BIGINT) AS cost_category_id) "
                       "FROM base")
        self.assertEqual(len(d), 1)
        self.assertIn("columns differ", d[0])


if __name__ == "__main__":
    unittest.main()
