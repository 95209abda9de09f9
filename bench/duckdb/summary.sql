-- reporting_ocpusagelineitem_daily_summary in DuckDB SQL: an independent oracle for ocpagg and
-- the program it races against (bench/duckdb/race.py).
--
-- It computes what /work/shared/SPEC.md defines ("Output rows"): Pod rows, Storage rows and
-- unallocated rows of one source and month, from koku-layout Parquet. It follows the shape of
-- koku's Trino SQL (koku/masu/database/trino_sql/openshift/
-- reporting_ocpusagelineitem_daily_summary.sql) where SPEC.md agrees with it, and SPEC.md where
-- the two differ; each difference is marked "SPEC:" below.
--
-- Parameters are {{name}} placeholders, filled in by run_sql.py (which quotes every value as a
-- SQL literal) before the text reaches DuckDB:
--   {{pod_hourly}}        the hourly pod_usage files: a read_parquet(...) call, or an empty
--                         typed relation when the month has none
--   {{pod_sums}}          the pod_usage files the sums come from: koku's daily roll-up
--                         (data/parquet/daily/...) when it is there and has the effective-usage
--                         columns, as koku does, else the hourly files (equal results, SPEC)
--   {{storage}}           storage_usage (daily roll-up when present, else hourly)
--   {{node_labels}}       node_labels (daily roll-up when present, else hourly)
--   {{namespace_labels}}  namespace_labels (daily roll-up when present, else hourly)
--   {{start_date}}, {{end_date}}   DATE literals; line items count when
--                         start <= interval_start < end + 1 day
--   {{days_in_month}}     days of the month (for gigabyte-months)
--   {{enabled_keys}}      VARCHAR[] of enabled label keys (vm_kubevirt_io_name included)
--   {{all_keys}}          true when every key is enabled ('*')
--   {{cost_categories}}   a relation (pattern VARCHAR, cost_category_id INTEGER)
--   {{node_roles}}        a relation (node VARCHAR, node_role VARCHAR) of roles given by flag
--   {{report_period_id}}, {{cluster_id}}, {{cluster_alias}}, {{source_uuid}}
--   {{output}}            the Parquet file written
--
-- Units (SPEC): hours = seconds / 3600; gigabytes = bytes * 2^-30; gigabyte-months =
-- byte-seconds / (86400 * days in month) * 2^-30.

-- ============================================================================================
-- Inputs: the columns SPEC.md uses, restricted to the run's range. Optional columns that a file
-- lacks are NULL (UNION ALL BY NAME against an empty table that has them).
-- ============================================================================================

CREATE TEMP TABLE optional_pod_columns (
    pod_effective_usage_cpu_core_seconds DOUBLE,
    pod_effective_usage_memory_byte_seconds DOUBLE,
    node_role VARCHAR
);
CREATE TEMP TABLE optional_storage_columns (csi_volume_handle VARCHAR);

CREATE TEMP VIEW pod_hourly AS
SELECT CAST(interval_start AS TIMESTAMP) AS interval_start,
    CAST(interval_start AS DATE) AS usage_start,
    namespace, node, pod, resource_id,
    node_capacity_cpu_core_seconds, node_capacity_memory_byte_seconds, node_role
FROM (FROM {{pod_hourly}} UNION ALL BY NAME FROM optional_pod_columns)
WHERE CAST(interval_start AS TIMESTAMP) >= {{start_date}}
    AND CAST(interval_start AS TIMESTAMP) < {{end_date}} + INTERVAL 1 DAY;

-- Read once: the labels, the sums, the claim placement and the node roles all use it.
CREATE TEMP TABLE pod_items AS
SELECT CAST(interval_start AS DATE) AS usage_start,
    namespace, node, pod, resource_id, pod_labels,
    CAST(pod_usage_cpu_core_seconds AS DOUBLE) AS usage_cpu,
    CAST(pod_request_cpu_core_seconds AS DOUBLE) AS request_cpu,
    CAST(pod_limit_cpu_core_seconds AS DOUBLE) AS limit_cpu,
    CAST(pod_effective_usage_cpu_core_seconds AS DOUBLE) AS effective_cpu,
    CAST(pod_usage_memory_byte_seconds AS DOUBLE) AS usage_memory,
    CAST(pod_request_memory_byte_seconds AS DOUBLE) AS request_memory,
    CAST(pod_limit_memory_byte_seconds AS DOUBLE) AS limit_memory,
    CAST(pod_effective_usage_memory_byte_seconds AS DOUBLE) AS effective_memory,
    CAST(node_capacity_cpu_cores AS DOUBLE) AS node_capacity_cpu_cores,
    CAST(node_capacity_memory_bytes AS DOUBLE) AS node_capacity_memory_bytes,
    node_role
FROM (FROM {{pod_sums}} UNION ALL BY NAME FROM optional_pod_columns)
WHERE CAST(interval_start AS TIMESTAMP) >= {{start_date}}
    AND CAST(interval_start AS TIMESTAMP) < {{end_date}} + INTERVAL 1 DAY;

CREATE TEMP VIEW storage_items AS
SELECT CAST(interval_start AS DATE) AS usage_start,
    namespace, pod, persistentvolumeclaim, persistentvolume, storageclass, csi_volume_handle,
    CAST(persistentvolumeclaim_capacity_bytes AS DOUBLE) AS capacity_bytes,
    CAST(persistentvolumeclaim_capacity_byte_seconds AS DOUBLE) AS capacity_byte_seconds,
    CAST(volume_request_storage_byte_seconds AS DOUBLE) AS request_byte_seconds,
    CAST(persistentvolumeclaim_usage_byte_seconds AS DOUBLE) AS usage_byte_seconds,
    persistentvolume_labels, persistentvolumeclaim_labels
FROM (FROM {{storage}} UNION ALL BY NAME FROM optional_storage_columns)
WHERE CAST(interval_start AS TIMESTAMP) >= {{start_date}}
    AND CAST(interval_start AS TIMESTAMP) < {{end_date}} + INTERVAL 1 DAY;

CREATE TEMP VIEW node_label_items AS
SELECT DISTINCT CAST(interval_start AS DATE) AS usage_start, node, node_labels
FROM {{node_labels}}
WHERE CAST(interval_start AS TIMESTAMP) >= {{start_date}}
    AND CAST(interval_start AS TIMESTAMP) < {{end_date}} + INTERVAL 1 DAY;

CREATE TEMP VIEW namespace_label_items AS
SELECT DISTINCT CAST(interval_start AS DATE) AS usage_start, namespace, namespace_labels
FROM {{namespace_labels}}
WHERE CAST(interval_start AS TIMESTAMP) >= {{start_date}}
    AND CAST(interval_start AS TIMESTAMP) < {{end_date}} + INTERVAL 1 DAY;

-- ============================================================================================
-- Labels. Each distinct label string is parsed once into (key, value) pairs of enabled keys.
-- '' and NULL mean no labels; a JSON null value is dropped; a number or boolean keeps its JSON
-- text. A label set is carried as a MAP(VARCHAR, VARCHAR) and written out as JSON with keys
-- ordered the way PostgreSQL prints jsonb (shorter key first, then bytewise).
-- ============================================================================================

CREATE TEMP TABLE label_strings AS
SELECT DISTINCT raw FROM (
    SELECT pod_labels AS raw FROM pod_items
    UNION ALL SELECT persistentvolume_labels FROM storage_items
    UNION ALL SELECT persistentvolumeclaim_labels FROM storage_items
    UNION ALL SELECT node_labels FROM node_label_items
    UNION ALL SELECT namespace_labels FROM namespace_label_items
) WHERE raw IS NOT NULL AND raw <> '';

CREATE TEMP TABLE label_pairs AS
SELECT s.raw, e.key, e.value ->> '$' AS value
FROM label_strings AS s, json_each(CAST(s.raw AS JSON)) AS e
WHERE (e.value ->> '$') IS NOT NULL
    AND ({{all_keys}} OR list_contains({{enabled_keys}}, e.key));

-- One map per label string (strings without an enabled key are absent: coalesce to {}).
CREATE TEMP TABLE label_maps AS
SELECT raw, map_from_entries(list({'key': key, 'value': value})) AS labels
FROM label_pairs GROUP BY raw;

CREATE MACRO empty_labels() AS map_from_entries([]::STRUCT(key VARCHAR, value VARCHAR)[]);

-- {"k": "v", ...} in jsonb's key order.
CREATE MACRO labels_json(m) AS
    '{' || array_to_string(
        list_transform(
            list_sort(list_transform(map_entries(m),
                e -> {'n': strlen(e.key), 'key': e.key, 'value': e.value})),
            e -> CAST(to_json(e.key) AS VARCHAR) || ': ' || CAST(to_json(e.value) AS VARCHAR)),
        ', ') || '}';

-- SPEC: node labels(d, node) and namespace labels(d, namespace) unite every label set seen
-- that day (koku joins them row by row and so multiplies rows); on a conflicting key the
-- greatest value wins.
CREATE TEMP TABLE node_labels_daily AS
SELECT *, labels_json(labels) AS json FROM (
SELECT usage_start, node, map_from_entries(list({'key': key, 'value': value})) AS labels
FROM (
    SELECT n.usage_start, n.node, p.key, max(p.value) AS value
    FROM node_label_items AS n JOIN label_pairs AS p ON p.raw = n.node_labels
    GROUP BY ALL
) GROUP BY ALL);

CREATE TEMP TABLE namespace_labels_daily AS
SELECT *, labels_json(labels) AS json FROM (
SELECT usage_start, namespace, map_from_entries(list({'key': key, 'value': value})) AS labels
FROM (
    SELECT n.usage_start, n.namespace, p.key, max(p.value) AS value
    FROM namespace_label_items AS n JOIN label_pairs AS p ON p.raw = n.namespace_labels
    GROUP BY ALL
) GROUP BY ALL);

-- Every distinct united node or namespace map, by its JSON text.
CREATE TEMP TABLE label_sets AS
SELECT json, any_value(labels) AS labels FROM (
    SELECT json, labels FROM node_labels_daily
    UNION ALL SELECT json, labels FROM namespace_labels_daily
) GROUP BY json;

-- ============================================================================================
-- Cost categories. SPEC: the greatest id whose LIKE pattern matches the namespace (koku's
-- row-by-row join would multiply rows when two patterns match). DuckDB's LIKE has no escape
-- character unless one is given, as SPEC.md asks.
-- ============================================================================================

CREATE TEMP TABLE cost_category_patterns AS SELECT * FROM {{cost_categories}};

CREATE MACRO cost_category(ns) AS (
    SELECT max(c.cost_category_id) FROM cost_category_patterns AS c WHERE ns LIKE c.pattern
);

-- ============================================================================================
-- Node capacity (koku's cte_ocp_node_capacity and cte_ocp_cluster_capacity): per hourly
-- interval the greatest capacity of the node, summed over the day. The cluster sums every node
-- of the day, the node '' included.
-- ============================================================================================

CREATE TEMP TABLE node_capacity AS
SELECT usage_start, node,
    sum(cpu_seconds) AS cpu_seconds,
    sum(memory_byte_seconds) AS memory_byte_seconds
FROM (
    SELECT usage_start, interval_start, node,
        max(CAST(node_capacity_cpu_core_seconds AS DOUBLE)) AS cpu_seconds,
        max(CAST(node_capacity_memory_byte_seconds AS DOUBLE)) AS memory_byte_seconds
    FROM pod_hourly
    GROUP BY ALL
) GROUP BY ALL;

CREATE TEMP TABLE cluster_capacity AS
SELECT usage_start,
    sum(cpu_seconds) AS cpu_seconds,
    sum(memory_byte_seconds) AS memory_byte_seconds
FROM node_capacity GROUP BY ALL;

-- ============================================================================================
-- POD rows: line items with a node; grouped by (day, namespace, node, merged labels) where
-- merged = node labels, then namespace labels, then filtered pod labels (later wins).
-- Line items are first summed per distinct pod label string, so the labels are merged once per
-- (day, namespace, node, label string) rather than once per line item.
-- ============================================================================================

CREATE TEMP TABLE pod_partial AS
SELECT usage_start, namespace, node, pod_labels,
    max(resource_id) AS resource_id,
    sum(usage_cpu) AS usage_cpu,
    sum(request_cpu) AS request_cpu,
    -- SPEC: effective usage per line item; the daily roll-up carries it summed.
    sum(coalesce(effective_cpu, greatest(usage_cpu, request_cpu))) AS effective_cpu,
    sum(limit_cpu) AS limit_cpu,
    sum(usage_memory) AS usage_memory,
    sum(request_memory) AS request_memory,
    sum(coalesce(effective_memory, greatest(usage_memory, request_memory))) AS effective_memory,
    sum(limit_memory) AS limit_memory,
    max(node_capacity_cpu_cores) AS node_capacity_cpu_cores,
    max(node_capacity_memory_bytes) AS node_capacity_memory_bytes
FROM pod_items
WHERE node <> ''
GROUP BY usage_start, namespace, node, pod_labels;

-- The label maps of each pod partial, as canonical JSON texts, then the merge done once per
-- distinct (node labels, namespace labels, pod label string) rather than once per day.
CREATE TEMP TABLE pod_keyed AS
SELECT pp.*,
    coalesce(nl.json, '{}') AS node_json,
    coalesce(nsl.json, '{}') AS namespace_json
FROM pod_partial AS pp
LEFT JOIN node_labels_daily AS nl
    ON nl.usage_start = pp.usage_start AND nl.node = pp.node
LEFT JOIN namespace_labels_daily AS nsl
    ON nsl.usage_start = pp.usage_start AND nsl.namespace = pp.namespace;

CREATE TEMP TABLE pod_merged_labels AS
SELECT k.node_json, k.namespace_json, k.pod_labels,
    labels_json(map_concat(
        coalesce(n.labels, empty_labels()),
        coalesce(ns.labels, empty_labels()),
        coalesce(pl.labels, empty_labels()))) AS labels
FROM (SELECT DISTINCT node_json, namespace_json, pod_labels FROM pod_keyed) AS k
LEFT JOIN label_sets AS n ON n.json = k.node_json
LEFT JOIN label_sets AS ns ON ns.json = k.namespace_json
LEFT JOIN label_maps AS pl ON pl.raw = k.pod_labels;

CREATE TEMP TABLE pod_rows AS
SELECT p.usage_start, p.namespace, p.node,
    max(p.resource_id) AS resource_id,
    m.labels,
    sum(p.usage_cpu) / 3600.0 AS pod_usage_cpu_core_hours,
    sum(p.request_cpu) / 3600.0 AS pod_request_cpu_core_hours,
    sum(p.effective_cpu) / 3600.0 AS pod_effective_usage_cpu_core_hours,
    sum(p.limit_cpu) / 3600.0 AS pod_limit_cpu_core_hours,
    sum(p.usage_memory) / 3600.0 * pow(2, -30) AS pod_usage_memory_gigabyte_hours,
    sum(p.request_memory) / 3600.0 * pow(2, -30) AS pod_request_memory_gigabyte_hours,
    sum(p.effective_memory) / 3600.0 * pow(2, -30) AS pod_effective_usage_memory_gigabyte_hours,
    sum(p.limit_memory) / 3600.0 * pow(2, -30) AS pod_limit_memory_gigabyte_hours,
    max(p.node_capacity_cpu_cores) AS node_capacity_cpu_cores,
    max(nc.cpu_seconds) / 3600.0 AS node_capacity_cpu_core_hours,
    max(p.node_capacity_memory_bytes) * pow(2, -30) AS node_capacity_memory_gigabytes,
    max(nc.memory_byte_seconds) / 3600.0 * pow(2, -30) AS node_capacity_memory_gigabyte_hours,
    max(cc.cpu_seconds) / 3600.0 AS cluster_capacity_cpu_core_hours,
    max(cc.memory_byte_seconds) / 3600.0 * pow(2, -30) AS cluster_capacity_memory_gigabyte_hours
FROM pod_keyed AS p
JOIN pod_merged_labels AS m
    ON m.node_json = p.node_json AND m.namespace_json = p.namespace_json
        AND m.pod_labels IS NOT DISTINCT FROM p.pod_labels
LEFT JOIN node_capacity AS nc ON nc.usage_start = p.usage_start AND nc.node = p.node
LEFT JOIN cluster_capacity AS cc ON cc.usage_start = p.usage_start
GROUP BY p.usage_start, p.namespace, p.node, m.labels;

-- ============================================================================================
-- STORAGE rows. A claim sits on the (node, resource_id) pairs its pod ran on that day (every
-- pod line item, node '' included; koku's cte_volume_nodes); storage_usage's own node column is
-- not used. Request and usage are divided by the number of distinct nodes the volume was seen
-- on that day (koku's cte_shared_volume_node_count).
-- SPEC: a claim whose pod is not found that day keeps node and resource_id NULL and is counted
-- once: divided by the volume's node count when other claims placed it on nodes that day, else
-- by 1 (koku's Trino SQL divides by NULL and loses it).
-- ============================================================================================

CREATE TEMP TABLE pod_nodes AS
SELECT DISTINCT usage_start, namespace, pod, node, resource_id FROM pod_items;

CREATE TEMP TABLE storage_placed AS
SELECT s.*, pn.node, pn.resource_id
FROM storage_items AS s
LEFT JOIN pod_nodes AS pn
    ON pn.usage_start = s.usage_start AND pn.namespace = s.namespace AND pn.pod = s.pod;

CREATE TEMP TABLE volume_node_count AS
SELECT usage_start, persistentvolume, count(DISTINCT node) AS node_count
FROM storage_placed WHERE node IS NOT NULL
GROUP BY ALL;

-- volume labels = node labels, then namespace labels, then PV labels, then PVC labels; merged
-- once per distinct combination, as for pods.
CREATE TEMP TABLE storage_keyed AS
SELECT sp.*,
    coalesce(nl.json, '{}') AS node_json,
    coalesce(nsl.json, '{}') AS namespace_json
FROM storage_placed AS sp
LEFT JOIN node_labels_daily AS nl
    ON nl.usage_start = sp.usage_start AND nl.node = sp.node
LEFT JOIN namespace_labels_daily AS nsl
    ON nsl.usage_start = sp.usage_start AND nsl.namespace = sp.namespace;

CREATE TEMP TABLE storage_merged_labels AS
SELECT k.node_json, k.namespace_json, k.persistentvolume_labels, k.persistentvolumeclaim_labels,
    labels_json(map_concat(
        coalesce(n.labels, empty_labels()),
        coalesce(ns.labels, empty_labels()),
        coalesce(pvl.labels, empty_labels()),
        coalesce(pvcl.labels, empty_labels()))) AS labels
FROM (SELECT DISTINCT node_json, namespace_json, persistentvolume_labels,
          persistentvolumeclaim_labels FROM storage_keyed) AS k
LEFT JOIN label_sets AS n ON n.json = k.node_json
LEFT JOIN label_sets AS ns ON ns.json = k.namespace_json
LEFT JOIN label_maps AS pvl ON pvl.raw = k.persistentvolume_labels
LEFT JOIN label_maps AS pvcl ON pvcl.raw = k.persistentvolumeclaim_labels;

CREATE TEMP TABLE storage_rows AS
SELECT s.usage_start, s.namespace, s.node, s.resource_id,
    s.persistentvolumeclaim, s.persistentvolume, s.storageclass, s.csi_volume_handle,
    m.labels,
    max(s.capacity_bytes) * pow(2, -30) AS persistentvolumeclaim_capacity_gigabyte,
    sum(s.capacity_byte_seconds) / (86400 * {{days_in_month}}) * pow(2, -30)
        AS persistentvolumeclaim_capacity_gigabyte_months,
    sum(s.request_byte_seconds) / max(coalesce(vc.node_count, 1))
        / (86400 * {{days_in_month}}) * pow(2, -30) AS volume_request_storage_gigabyte_months,
    sum(s.usage_byte_seconds) / max(coalesce(vc.node_count, 1))
        / (86400 * {{days_in_month}}) * pow(2, -30) AS persistentvolumeclaim_usage_gigabyte_months
FROM storage_keyed AS s
JOIN storage_merged_labels AS m
    ON m.node_json = s.node_json AND m.namespace_json = s.namespace_json
        AND m.persistentvolume_labels IS NOT DISTINCT FROM s.persistentvolume_labels
        AND m.persistentvolumeclaim_labels IS NOT DISTINCT FROM s.persistentvolumeclaim_labels
LEFT JOIN volume_node_count AS vc
    ON vc.usage_start = s.usage_start AND vc.persistentvolume = s.persistentvolume
GROUP BY s.usage_start, s.namespace, s.node, s.resource_id, s.persistentvolumeclaim,
    s.persistentvolume, s.storageclass, s.csi_volume_handle, m.labels;

-- ============================================================================================
-- Node roles, per node, the first of (SPEC):
--   1. the greatest non-NULL node_role of the pod data in the range;
--   2. a role given by flag ({{node_roles}});
--   3. derived as koku does when it fills reporting_ocp_nodes (reportdb_accessor_trino.py,
--      get_nodes_query_sql), per (node, resource_id): master if it ran a pod in
--      openshift-kube-apiserver, else infra if one of the node's raw label strings contains
--      "node_role_kubernetes_io": "infra" (plain text; koku's LIKE also lets _ match any
--      character), else worker; the node's role is the greatest of those. A node without
--      node_labels rows in the range gets none (koku's join drops it).
-- (ocpagg also reads reporting_ocp_nodes when it writes to PostgreSQL; a file run does not.)
-- ============================================================================================

CREATE TEMP TABLE node_roles AS
WITH data_role AS (
    SELECT node, max(node_role) AS node_role FROM pod_items
    WHERE node_role IS NOT NULL GROUP BY node
),
flag_role AS (SELECT node, node_role FROM {{node_roles}}),
labelled AS (
    SELECT node, bool_or(contains(node_labels, '"node_role_kubernetes_io": "infra"')) AS infra
    FROM node_label_items GROUP BY node
),
derived AS (
    SELECT node, max(role) AS node_role FROM (
        SELECT p.node, p.resource_id,
            CASE WHEN bool_or(p.namespace = 'openshift-kube-apiserver') THEN 'master'
                 WHEN bool_or(l.infra) THEN 'infra'
                 ELSE 'worker' END AS role
        FROM pod_items AS p JOIN labelled AS l ON l.node = p.node
        GROUP BY p.node, p.resource_id
    ) GROUP BY node
)
SELECT n.node, coalesce(dr.node_role, fr.node_role, dv.node_role) AS node_role
FROM (SELECT DISTINCT node FROM pod_rows) AS n
LEFT JOIN data_role AS dr ON dr.node = n.node
LEFT JOIN flag_role AS fr ON fr.node = n.node
LEFT JOIN derived AS dv ON dv.node = n.node;

-- ============================================================================================
-- UNALLOCATED rows, per (day, node), from the Pod rows: capacity minus what the node's Pod
-- rows used. A Pod row with a NULL namespace counts as used (IS DISTINCT FROM, not <>).
-- ============================================================================================

CREATE TEMP TABLE unallocated_rows AS
SELECT u.*, cost_category(u.namespace) AS cost_category_id
FROM (
    SELECT p.usage_start,
        CASE max(r.node_role)
            WHEN 'master' THEN 'Platform unallocated'
            WHEN 'infra' THEN 'Platform unallocated'
            WHEN 'worker' THEN 'Worker unallocated'
        END AS namespace,
        p.node,
        max(p.resource_id) AS resource_id,
        max(p.node_capacity_cpu_core_hours) - sum(p.pod_usage_cpu_core_hours)
            AS pod_usage_cpu_core_hours,
        max(p.node_capacity_cpu_core_hours) - sum(p.pod_request_cpu_core_hours)
            AS pod_request_cpu_core_hours,
        max(p.node_capacity_cpu_core_hours) - sum(p.pod_effective_usage_cpu_core_hours)
            AS pod_effective_usage_cpu_core_hours,
        max(p.node_capacity_memory_gigabyte_hours) - sum(p.pod_usage_memory_gigabyte_hours)
            AS pod_usage_memory_gigabyte_hours,
        max(p.node_capacity_memory_gigabyte_hours) - sum(p.pod_request_memory_gigabyte_hours)
            AS pod_request_memory_gigabyte_hours,
        max(p.node_capacity_memory_gigabyte_hours)
            - sum(p.pod_effective_usage_memory_gigabyte_hours)
            AS pod_effective_usage_memory_gigabyte_hours,
        max(p.node_capacity_cpu_cores) AS node_capacity_cpu_cores,
        max(p.node_capacity_cpu_core_hours) AS node_capacity_cpu_core_hours,
        max(p.node_capacity_memory_gigabytes) AS node_capacity_memory_gigabytes,
        max(p.node_capacity_memory_gigabyte_hours) AS node_capacity_memory_gigabyte_hours,
        max(p.cluster_capacity_cpu_core_hours) AS cluster_capacity_cpu_core_hours,
        max(p.cluster_capacity_memory_gigabyte_hours) AS cluster_capacity_memory_gigabyte_hours
    FROM pod_rows AS p
    LEFT JOIN node_roles AS r ON r.node = p.node
    WHERE p.namespace IS DISTINCT FROM 'Platform unallocated'
        AND p.namespace IS DISTINCT FROM 'Worker unallocated'
        AND p.namespace IS DISTINCT FROM 'Network unattributed'
        AND p.namespace IS DISTINCT FROM 'Storage unattributed'
    GROUP BY p.usage_start, p.node
) AS u;

-- ============================================================================================
-- Output: koku's columns in koku's order, one file.
-- ============================================================================================

COPY (
    SELECT CAST(gen_random_uuid() AS VARCHAR) AS uuid,
        CAST({{report_period_id}} AS INTEGER) AS report_period_id,
        {{cluster_id}} AS cluster_id,
        {{cluster_alias}} AS cluster_alias,
        data_source, usage_start, usage_start AS usage_end,
        namespace, node, resource_id, pod_labels,
        pod_usage_cpu_core_hours, pod_request_cpu_core_hours,
        pod_effective_usage_cpu_core_hours, pod_limit_cpu_core_hours,
        pod_usage_memory_gigabyte_hours, pod_request_memory_gigabyte_hours,
        pod_effective_usage_memory_gigabyte_hours, pod_limit_memory_gigabyte_hours,
        node_capacity_cpu_cores, node_capacity_cpu_core_hours,
        node_capacity_memory_gigabytes, node_capacity_memory_gigabyte_hours,
        cluster_capacity_cpu_core_hours, cluster_capacity_memory_gigabyte_hours,
        persistentvolumeclaim, persistentvolume, storageclass, volume_labels, all_labels,
        persistentvolumeclaim_capacity_gigabyte, persistentvolumeclaim_capacity_gigabyte_months,
        volume_request_storage_gigabyte_months, persistentvolumeclaim_usage_gigabyte_months,
        {{source_uuid}} AS source_uuid,
        infrastructure_usage_cost,
        CAST(cost_category_id AS INTEGER) AS cost_category_id
    FROM (
        SELECT 'Pod' AS data_source, p.usage_start, p.namespace, p.node, p.resource_id,
            p.labels AS pod_labels,
            p.pod_usage_cpu_core_hours, p.pod_request_cpu_core_hours,
            p.pod_effective_usage_cpu_core_hours, p.pod_limit_cpu_core_hours,
            p.pod_usage_memory_gigabyte_hours, p.pod_request_memory_gigabyte_hours,
            p.pod_effective_usage_memory_gigabyte_hours, p.pod_limit_memory_gigabyte_hours,
            p.node_capacity_cpu_cores, p.node_capacity_cpu_core_hours,
            p.node_capacity_memory_gigabytes, p.node_capacity_memory_gigabyte_hours,
            p.cluster_capacity_cpu_core_hours, p.cluster_capacity_memory_gigabyte_hours,
            NULL AS persistentvolumeclaim, NULL AS persistentvolume, NULL AS storageclass,
            NULL AS volume_labels, p.labels AS all_labels,
            NULL AS persistentvolumeclaim_capacity_gigabyte,
            NULL AS persistentvolumeclaim_capacity_gigabyte_months,
            NULL AS volume_request_storage_gigabyte_months,
            NULL AS persistentvolumeclaim_usage_gigabyte_months,
            '{"cpu": 0, "memory": 0, "storage": 0}' AS infrastructure_usage_cost,
            cc.cost_category_id
        FROM pod_rows AS p
        LEFT JOIN (SELECT namespace, cost_category(namespace) AS cost_category_id
                   FROM (SELECT DISTINCT namespace FROM pod_rows)) AS cc
            ON cc.namespace IS NOT DISTINCT FROM p.namespace
        UNION ALL BY NAME
        SELECT 'Storage' AS data_source, s.usage_start, s.namespace, s.node, s.resource_id,
            NULL AS pod_labels,
            s.persistentvolumeclaim, s.persistentvolume, s.storageclass,
            s.labels AS volume_labels, s.labels AS all_labels,
            s.persistentvolumeclaim_capacity_gigabyte,
            s.persistentvolumeclaim_capacity_gigabyte_months,
            s.volume_request_storage_gigabyte_months,
            s.persistentvolumeclaim_usage_gigabyte_months,
            '{"cpu": 0, "memory": 0, "storage": 0}' AS infrastructure_usage_cost,
            cc.cost_category_id
        FROM storage_rows AS s
        LEFT JOIN (SELECT namespace, cost_category(namespace) AS cost_category_id
                   FROM (SELECT DISTINCT namespace FROM storage_rows)) AS cc
            ON cc.namespace IS NOT DISTINCT FROM s.namespace
        UNION ALL BY NAME
        SELECT 'Pod' AS data_source, u.usage_start, u.namespace, u.node, u.resource_id,
            u.pod_usage_cpu_core_hours, u.pod_request_cpu_core_hours,
            u.pod_effective_usage_cpu_core_hours,
            u.pod_usage_memory_gigabyte_hours, u.pod_request_memory_gigabyte_hours,
            u.pod_effective_usage_memory_gigabyte_hours,
            u.node_capacity_cpu_cores, u.node_capacity_cpu_core_hours,
            u.node_capacity_memory_gigabytes, u.node_capacity_memory_gigabyte_hours,
            u.cluster_capacity_cpu_core_hours, u.cluster_capacity_memory_gigabyte_hours,
            '{}' AS all_labels,
            u.cost_category_id
        FROM unallocated_rows AS u
    )
) TO {{output}} (FORMAT parquet);
