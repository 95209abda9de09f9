-- The tables ocpagg reads and writes, in the shape koku's Django models and migrations give
-- them. Every statement is idempotent; {schema} is replaced by the quoted schema name.
CREATE SCHEMA IF NOT EXISTS {schema};

CREATE TABLE IF NOT EXISTS {schema}.reporting_ocpusagereportperiod (
    id serial PRIMARY KEY,
    cluster_id varchar(50) NOT NULL,
    cluster_alias varchar(256),
    report_period_start timestamptz NOT NULL,
    report_period_end timestamptz NOT NULL,
    summary_data_creation_datetime timestamptz,
    summary_data_updated_datetime timestamptz,
    ocp_on_cloud_updated_datetime timestamptz,
    derived_cost_datetime timestamptz,
    provider_id uuid
);

CREATE TABLE IF NOT EXISTS {schema}.reporting_ocp_cost_category (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    source_type text NOT NULL DEFAULT 'OCP',
    system_default boolean NOT NULL DEFAULT false,
    label text[] NOT NULL DEFAULT '{}'
);

CREATE TABLE IF NOT EXISTS {schema}.reporting_ocp_cost_category_namespace (
    id serial PRIMARY KEY,
    namespace text NOT NULL UNIQUE,
    system_default boolean NOT NULL DEFAULT false,
    cost_category_id integer NOT NULL
        REFERENCES {schema}.reporting_ocp_cost_category (id) ON DELETE CASCADE
        DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE IF NOT EXISTS {schema}.reporting_enabledtagkeys (
    uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key varchar(512) NOT NULL,
    enabled boolean NOT NULL DEFAULT true,
    provider_type varchar(50) NOT NULL,
    UNIQUE (key, provider_type)
);

CREATE TABLE IF NOT EXISTS {schema}.reporting_ocp_nodes (
    uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    node text NOT NULL,
    resource_id text,
    node_capacity_cpu_cores numeric(18,2),
    cluster_id uuid,
    node_role text,
    architecture text
);

-- koku's partition bookkeeping: inserting a row here creates the partition (trigger below).
CREATE TABLE IF NOT EXISTS {schema}.partitioned_tables (
    id serial PRIMARY KEY,
    schema_name text NOT NULL,
    table_name text NOT NULL,
    partition_of_table_name text NOT NULL,
    partition_type text NOT NULL,
    partition_col text NOT NULL,
    partition_parameters jsonb NOT NULL,
    active boolean NOT NULL DEFAULT true,
    subpartition_type text,
    subpartition_col text,
    UNIQUE (schema_name, table_name)
);

CREATE OR REPLACE FUNCTION {schema}.ocpagg_create_range_partition() RETURNS trigger AS $$
BEGIN
    IF (NEW.partition_parameters->>'default')::boolean THEN
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %I.%I DEFAULT',
            NEW.schema_name, NEW.table_name, NEW.schema_name, NEW.partition_of_table_name);
    ELSE
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L::date) TO (%L::date)',
            NEW.schema_name, NEW.table_name, NEW.schema_name, NEW.partition_of_table_name,
            NEW.partition_parameters->>'from', NEW.partition_parameters->>'to');
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE TRIGGER tr_manage_date_range_partition
    AFTER INSERT ON {schema}.partitioned_tables
    FOR EACH ROW EXECUTE FUNCTION {schema}.ocpagg_create_range_partition();

CREATE TABLE IF NOT EXISTS {schema}.reporting_ocpusagelineitem_daily_summary (
    uuid uuid NOT NULL,
    report_period_id integer
        REFERENCES {schema}.reporting_ocpusagereportperiod (id) ON DELETE CASCADE
        DEFERRABLE INITIALLY DEFERRED,
    cluster_id varchar(50),
    cluster_alias varchar(256),
    data_source varchar(64),
    namespace varchar(253),
    node varchar(253),
    resource_id varchar(253),
    usage_start date NOT NULL,
    usage_end date NOT NULL,
    pod_labels jsonb,
    pod_usage_cpu_core_hours numeric(33,15),
    pod_request_cpu_core_hours numeric(33,15),
    pod_effective_usage_cpu_core_hours numeric(33,15),
    pod_limit_cpu_core_hours numeric(33,15),
    pod_usage_memory_gigabyte_hours numeric(33,15),
    pod_request_memory_gigabyte_hours numeric(33,15),
    pod_effective_usage_memory_gigabyte_hours numeric(33,15),
    pod_limit_memory_gigabyte_hours numeric(33,15),
    node_capacity_cpu_cores numeric(33,15),
    node_capacity_cpu_core_hours numeric(33,15),
    node_capacity_memory_gigabytes numeric(33,15),
    node_capacity_memory_gigabyte_hours numeric(33,15),
    cluster_capacity_cpu_core_hours numeric(33,15),
    cluster_capacity_memory_gigabyte_hours numeric(33,15),
    persistentvolumeclaim varchar(253),
    persistentvolume varchar(253),
    storageclass varchar(253),
    volume_labels jsonb,
    all_labels jsonb,
    persistentvolumeclaim_capacity_gigabyte numeric(33,15),
    persistentvolumeclaim_capacity_gigabyte_months numeric(33,15),
    volume_request_storage_gigabyte_months numeric(33,15),
    persistentvolumeclaim_usage_gigabyte_months numeric(33,15),
    infrastructure_raw_cost numeric(33,15) DEFAULT 0,
    infrastructure_project_raw_cost numeric(33,15) DEFAULT 0,
    infrastructure_data_in_gigabytes numeric(33,15),
    infrastructure_data_out_gigabytes numeric(33,15),
    infrastructure_usage_cost jsonb,
    infrastructure_markup_cost numeric(33,15),
    infrastructure_project_markup_cost numeric(33,15),
    infrastructure_monthly_cost numeric(33,15),
    infrastructure_monthly_cost_json jsonb,
    infrastructure_project_monthly_cost jsonb,
    supplementary_usage_cost jsonb,
    supplementary_monthly_cost numeric(33,15),
    supplementary_monthly_cost_json jsonb,
    supplementary_project_monthly_cost jsonb,
    cost_model_cpu_cost numeric(33,15),
    cost_model_memory_cost numeric(33,15),
    cost_model_volume_cost numeric(33,15),
    cost_model_gpu_cost numeric(33,15),
    cost_model_rate_type text,
    monthly_cost_type text,
    source_uuid uuid,
    raw_currency text,
    distributed_cost numeric(33,15),
    cost_category_id integer
        REFERENCES {schema}.reporting_ocp_cost_category (id) ON DELETE CASCADE
        DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (usage_start, uuid)
) PARTITION BY RANGE (usage_start);

CREATE TABLE IF NOT EXISTS {schema}.reporting_ocpusagelineitem_daily_summary_default
    PARTITION OF {schema}.reporting_ocpusagelineitem_daily_summary DEFAULT;

CREATE INDEX IF NOT EXISTS summary_ocp_usage_idx
    ON {schema}.reporting_ocpusagelineitem_daily_summary (usage_start);
CREATE INDEX IF NOT EXISTS summary_namespace_idx
    ON {schema}.reporting_ocpusagelineitem_daily_summary (namespace varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS summary_node_idx
    ON {schema}.reporting_ocpusagelineitem_daily_summary (node varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS summary_data_source_idx
    ON {schema}.reporting_ocpusagelineitem_daily_summary (data_source);
CREATE INDEX IF NOT EXISTS all_labels_idx
    ON {schema}.reporting_ocpusagelineitem_daily_summary USING gin (all_labels);
CREATE INDEX IF NOT EXISTS pod_labels_idx
    ON {schema}.reporting_ocpusagelineitem_daily_summary USING gin (pod_labels);
CREATE INDEX IF NOT EXISTS volume_labels_idx
    ON {schema}.reporting_ocpusagelineitem_daily_summary USING gin (volume_labels);

-- ocpagg's incremental runs (issue #20): what the summary rows of a source and month were
-- computed from. Changed in the same transaction as the rows.
CREATE TABLE IF NOT EXISTS {schema}.ocpagg_ingested_files (
    source_uuid uuid NOT NULL,
    year integer NOT NULL,
    month integer NOT NULL,
    report_table text NOT NULL,
    daily boolean NOT NULL,
    path text NOT NULL,
    size bigint NOT NULL,
    e_tag text,
    last_modified timestamp with time zone NOT NULL,
    days date[] NOT NULL,
    summarised_at timestamp with time zone NOT NULL,
    PRIMARY KEY (source_uuid, year, month, path)
);

CREATE TABLE IF NOT EXISTS {schema}.ocpagg_incremental_state (
    source_uuid uuid NOT NULL,
    year integer NOT NULL,
    month integer NOT NULL,
    generation bigint NOT NULL,
    state jsonb NOT NULL,
    summarised_at timestamp with time zone NOT NULL,
    PRIMARY KEY (source_uuid, year, month)
);
