//! The daily summary's columns: koku's names, their Arrow types in file outputs, and their
//! PostgreSQL types in koku's table.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

/// One output column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryColumn {
    /// koku's column name.
    pub name: &'static str,
    /// The Arrow type in record batches and file outputs.
    pub data_type: DataType,
    /// The PostgreSQL type in koku's table.
    pub pg_type: &'static str,
    /// Whether the value is JSON text (a `jsonb` column in PostgreSQL).
    pub json: bool,
    /// Whether the column is never null.
    pub not_null: bool,
}

const fn col(name: &'static str, data_type: DataType, pg_type: &'static str) -> SummaryColumn {
    SummaryColumn {
        name,
        data_type,
        pg_type,
        json: false,
        not_null: false,
    }
}

const fn num(name: &'static str) -> SummaryColumn {
    col(name, DataType::Float64, "numeric(33,15)")
}

const fn text(name: &'static str) -> SummaryColumn {
    col(name, DataType::Utf8, "text")
}

const fn json(name: &'static str) -> SummaryColumn {
    SummaryColumn {
        name,
        data_type: DataType::Utf8,
        pg_type: "jsonb",
        json: true,
        not_null: false,
    }
}

const fn required(name: &'static str, data_type: DataType, pg_type: &'static str) -> SummaryColumn {
    SummaryColumn {
        name,
        data_type,
        pg_type,
        json: false,
        not_null: true,
    }
}

/// Every output column, in output order (SPEC.md "Output rows").
pub const SUMMARY_COLUMNS: &[SummaryColumn] = &[
    required("uuid", DataType::Utf8, "uuid"),
    col("report_period_id", DataType::Int32, "integer"),
    text("cluster_id"),
    text("cluster_alias"),
    text("data_source"),
    required("usage_start", DataType::Date32, "date"),
    required("usage_end", DataType::Date32, "date"),
    text("namespace"),
    text("node"),
    text("resource_id"),
    json("pod_labels"),
    num("pod_usage_cpu_core_hours"),
    num("pod_request_cpu_core_hours"),
    num("pod_effective_usage_cpu_core_hours"),
    num("pod_limit_cpu_core_hours"),
    num("pod_usage_memory_gigabyte_hours"),
    num("pod_request_memory_gigabyte_hours"),
    num("pod_effective_usage_memory_gigabyte_hours"),
    num("pod_limit_memory_gigabyte_hours"),
    num("node_capacity_cpu_cores"),
    num("node_capacity_cpu_core_hours"),
    num("node_capacity_memory_gigabytes"),
    num("node_capacity_memory_gigabyte_hours"),
    num("cluster_capacity_cpu_core_hours"),
    num("cluster_capacity_memory_gigabyte_hours"),
    text("persistentvolumeclaim"),
    text("persistentvolume"),
    text("storageclass"),
    json("volume_labels"),
    json("all_labels"),
    num("persistentvolumeclaim_capacity_gigabyte"),
    num("persistentvolumeclaim_capacity_gigabyte_months"),
    num("volume_request_storage_gigabyte_months"),
    num("persistentvolumeclaim_usage_gigabyte_months"),
    col("source_uuid", DataType::Utf8, "uuid"),
    json("infrastructure_usage_cost"),
    col("cost_category_id", DataType::Int32, "integer"),
];

/// The field metadata key of an Arrow extension type's name.
pub const EXTENSION_NAME_KEY: &str = "ARROW:extension:name";

/// Arrow's canonical JSON extension type: a Utf8 column whose values are JSON texts. The
/// JSON columns of [`summary_schema`] carry it (`ARROW:extension:name = arrow.json`), so a
/// sink knows them without a list of names.
pub const JSON_EXTENSION: &str = "arrow.json";

/// A field metadata key (ours, value `true`): the column's values are distinct per row (a
/// row id), so a file writer spends neither a dictionary nor statistics on it. Set on `uuid`.
pub const DISTINCT_KEY: &str = "ocpagg:distinct";

/// The Arrow schema of summary batches (and of Parquet/CSV outputs). JSON columns carry
/// [`JSON_EXTENSION`], the row id [`DISTINCT_KEY`].
pub fn summary_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| {
        Arc::new(Schema::new(
            SUMMARY_COLUMNS
                .iter()
                .map(|c| {
                    let field = Field::new(c.name, c.data_type.clone(), !c.not_null);
                    if c.json {
                        field.with_metadata(HashMap::from([(
                            EXTENSION_NAME_KEY.to_string(),
                            JSON_EXTENSION.to_string(),
                        )]))
                    } else if c.name == "uuid" {
                        field.with_metadata(HashMap::from([(
                            DISTINCT_KEY.to_string(),
                            "true".to_string(),
                        )]))
                    } else {
                        field
                    }
                })
                .collect::<Vec<_>>(),
        ))
    }))
}

/// `csi_volume_handle`: a grouping key of Storage rows that koku's PostgreSQL table has no
/// column for, but its Hive copy has (OCP-on-cloud matches volumes to disks by it).
pub const CSI_VOLUME_HANDLE: &str = "csi_volume_handle";

/// [`summary_schema`] plus a trailing nullable `csi_volume_handle` (Utf8): the batches of
/// [`crate::to_record_batch_with_csi`], for sinks that also write koku's Hive copy.
pub fn summary_schema_with_csi() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| {
        let mut fields: Vec<Field> = summary_schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(CSI_VOLUME_HANDLE, DataType::Utf8, true));
        Arc::new(Schema::new(fields))
    }))
}

/// The Arrow type of a text column in the form of [`with_dictionary_texts`]: `Int32` keys
/// into `Utf8` values.
pub fn dictionary_text_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// `schema` with its text columns as Arrow dictionaries ([`dictionary_text_type`]), but for
/// row ids ([`DISTINCT_KEY`]), which stay `Utf8`; names, nullability and field metadata are
/// kept. Batches of this schema hold the same values as those of `schema`: it is the form
/// in which [`crate::FinishedDays::record_batches`] builds a text column without copying a
/// text per row, and in which a Parquet writer hashes each distinct text once per column
/// chunk rather than once per row. Give it only to a sink that takes it (a Parquet file).
pub fn with_dictionary_texts(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let distinct = f.metadata().get(DISTINCT_KEY).is_some_and(|v| v == "true");
            if f.data_type() == &DataType::Utf8 && !distinct {
                f.as_ref().clone().with_data_type(dictionary_text_type())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Index of a summary column by name.
pub fn column_index(name: &str) -> Option<usize> {
    SUMMARY_COLUMNS.iter().position(|c| c.name == name)
}
