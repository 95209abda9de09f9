//! What a run is about (its identity columns) and the side inputs that shape its rows.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use hashbrown::HashMap;
use ocpagg_labels::EnabledKeys;

use crate::like::LikePattern;
use crate::strings::{StringId, Strings};

/// The run's identity, copied into every row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// Source (cluster) UUID, the `source_uuid` column.
    pub source_uuid: String,
    /// `cluster_id`.
    pub cluster_id: String,
    /// `cluster_alias` (koku defaults it to the cluster id).
    pub cluster_alias: String,
    /// `report_period_id`, when known.
    pub report_period_id: Option<i32>,
    /// First day of the run, inclusive.
    pub start: NaiveDate,
    /// Last day of the run, inclusive.
    pub end: NaiveDate,
}

impl RunInfo {
    /// A run of `source_uuid` over `start..=end`, with the cluster alias equal to the cluster
    /// id (koku's default) and no report period.
    pub fn new(source_uuid: &str, cluster_id: &str, start: NaiveDate, end: NaiveDate) -> Self {
        RunInfo {
            source_uuid: source_uuid.into(),
            cluster_id: cluster_id.into(),
            cluster_alias: cluster_id.into(),
            report_period_id: None,
            start,
            end,
        }
    }

    /// [`RunInfo::new`] over the whole of `month` (1–12) of `year`; `None` for no such month.
    ///
    /// ```
    /// let run = ocpagg_aggregate::RunInfo::month("6e2f1b52", "my-cluster", 2024, 2).unwrap();
    /// assert_eq!(run.end.to_string(), "2024-02-29");
    /// ```
    pub fn month(source_uuid: &str, cluster_id: &str, year: i32, month: u32) -> Option<Self> {
        let start = NaiveDate::from_ymd_opt(year, month, 1)?;
        let end = start
            .checked_add_months(chrono::Months::new(1))?
            .pred_opt()?;
        Some(Self::new(source_uuid, cluster_id, start, end))
    }
}

/// A cost category: namespaces matching `pattern` (SQL LIKE) belong to category `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostCategory {
    /// The LIKE pattern.
    pub pattern: LikePattern,
    /// `reporting_ocp_cost_category.id`.
    pub id: i32,
}

/// Inputs from outside the Parquet data (PostgreSQL tables or configuration).
#[derive(Debug, Clone, Default)]
pub struct SideInputs {
    /// Which label keys are kept.
    pub enabled_keys: EnabledKeys,
    /// Cost-category patterns.
    pub cost_categories: Vec<CostCategory>,
    /// Node roles given by configuration (`master`, `infra`, `worker`, ...), by node name.
    pub node_roles: BTreeMap<String, String>,
    /// Node roles from koku's `reporting_ocp_nodes` (greatest role per node), used after the
    /// data's `node_role` column and [`SideInputs::node_roles`]; empty without a database.
    pub database_node_roles: BTreeMap<String, String>,
    /// Every node's role decided by the caller, overriding the data, the configuration, the
    /// database and the derivation: a node absent from the map has no role. For a run that
    /// reads only some days of the range (an incremental run), whose roles are a fact of the
    /// whole range (issue #20). `None`: the usual order of sources.
    pub resolved_node_roles: Option<BTreeMap<String, String>>,
}

impl SideInputs {
    /// The cost category of a namespace: the greatest id among matching patterns. koku's join
    /// would repeat the namespace's rows once per matching pattern; we never double-count.
    pub fn cost_category(&self, namespace: Option<&str>) -> Option<i32> {
        let namespace = namespace?;
        self.cost_categories
            .iter()
            .filter(|c| c.pattern.matches(namespace))
            .map(|c| c.id)
            .max()
    }

    /// [`SideInputs::cost_category`] of the namespace `namespace` names in `strings`, matched
    /// once per namespace and kept in `cache`.
    pub(crate) fn cost_category_of(
        &self,
        cache: &mut HashMap<StringId, Option<i32>>,
        strings: &Strings,
        namespace: StringId,
    ) -> Option<i32> {
        *cache
            .entry(namespace)
            .or_insert_with(|| self.cost_category(strings.get(namespace).map(|s| s.as_ref())))
    }
}
