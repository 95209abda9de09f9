//! The label tables (`node_labels`, `namespace_labels`): per (day, node) and (day,
//! namespace), the label set that Pod and Storage rows of that day merge in.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int32Type;
use hashbrown::HashMap;
use ocpagg_labels::LabelSetId;

use crate::error::Result;
use crate::input::{column, day_of, times};
use crate::interner::Interner;
use crate::roles::{infra_flags, NodeRoles};
use crate::strings::{row_ids, text_dictionary, StringId};

/// Label sets per (day, node or namespace id).
type DayLabels = HashMap<(i32, StringId), LabelSetId>;

/// The label tables of the days being read.
#[derive(Debug, Default)]
pub(crate) struct LabelTables {
    nodes: DayLabels,
    namespaces: DayLabels,
    /// node_labels line items folded.
    pub(crate) node_items: u64,
    /// namespace_labels line items folded.
    pub(crate) namespace_items: u64,
}

impl LabelTables {
    /// Adds a batch of `node_labels` ([`crate::input::NODE_LABEL_COLUMNS`]). Several label sets of
    /// one node and day are united (on a conflicting key the greatest value wins).
    ///
    /// Also notes in `roles`, per node, that it has label rows in the run's range and whether
    /// one of its raw label strings contains `"node_role_kubernetes_io": "infra"` (koku's
    /// text match, done on the unparsed dictionary values), for derived node roles.
    pub(crate) fn add_node_labels(
        &mut self,
        batch: &RecordBatch,
        interner: &mut Interner,
        roles: &mut NodeRoles,
    ) -> Result<()> {
        self.node_items += batch.num_rows() as u64;
        add(&mut self.nodes, batch, "node", "node_labels", interner)?;
        let ts = times(batch)?;
        let (nodes, node_remap) = interner.strings.intern_dictionary(column(batch, "node")?)?;
        let labels = text_dictionary(column(batch, "node_labels")?)?;
        let labels = labels.as_dictionary::<Int32Type>();
        let infra = infra_flags(labels.values())?;
        let keys = labels.keys();
        for (i, node) in row_ids(&nodes, &node_remap).enumerate() {
            if ts.is_null(i) || node.is_null() {
                continue;
            }
            let is_infra = keys.is_valid(i) && infra[keys.value(i) as usize];
            roles.note_label(node, is_infra);
        }
        Ok(())
    }

    /// Adds a batch of `namespace_labels` ([`crate::input::NAMESPACE_LABEL_COLUMNS`]).
    pub(crate) fn add_namespace_labels(
        &mut self,
        batch: &RecordBatch,
        interner: &mut Interner,
    ) -> Result<()> {
        self.namespace_items += batch.num_rows() as u64;
        add(
            &mut self.namespaces,
            batch,
            "namespace",
            "namespace_labels",
            interner,
        )
    }

    /// The labels of `node` on `day` (the empty set if it has none).
    pub(crate) fn node(&self, day: i32, node: StringId) -> LabelSetId {
        self.nodes.get(&(day, node)).copied().unwrap_or_default()
    }

    /// The labels of `namespace` on `day` (the empty set if it has none).
    pub(crate) fn namespace(&self, day: i32, namespace: StringId) -> LabelSetId {
        self.namespaces
            .get(&(day, namespace))
            .copied()
            .unwrap_or_default()
    }

    /// Forgets the days up to `last_day`.
    pub(crate) fn end_days(&mut self, last_day: i32) {
        self.nodes.retain(|&(day, _), _| day > last_day);
        self.namespaces.retain(|&(day, _), _| day > last_day);
    }
}

/// Folds a label table's batch into `map`: the `labels` column per (day, `key` column).
fn add(
    map: &mut DayLabels,
    batch: &RecordBatch,
    key: &'static str,
    labels: &'static str,
    interner: &mut Interner,
) -> Result<()> {
    let ts = times(batch)?;
    let (keys, key_remap) = interner.strings.intern_dictionary(column(batch, key)?)?;
    let (label_col, label_remap) = interner.intern_labels(column(batch, labels)?, labels)?;
    let label_keys = label_col.as_dictionary::<Int32Type>().keys();
    for (i, id) in row_ids(&keys, &key_remap).enumerate() {
        let Some(t) = ts.is_valid(i).then(|| ts.value(i)) else {
            continue;
        };
        let set = if label_keys.is_valid(i) {
            label_remap[label_keys.value(i) as usize]
        } else {
            LabelSetId::EMPTY
        };
        let slot = map.entry((day_of(t), id)).or_insert(set);
        if *slot != set {
            *slot = interner.labels.unite(*slot, set);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ocpagg_labels::EnabledKeys;

    use super::*;
    use crate::input::{NAMESPACE_LABEL_COLUMNS, NODE_LABEL_COLUMNS};
    use crate::testing::{canonical, text, times};

    const DAY: i64 = 86_400;

    fn json(interner: &Interner, set: LabelSetId) -> String {
        interner.labels.json(set).to_string()
    }

    /// Two label rows of one node and day unite (the greatest value wins on a conflict);
    /// another day keeps its own set; an infra label is noted for derived roles.
    #[test]
    fn label_rows_of_a_node_and_day_unite() {
        let mut interner = Interner::new(EnabledKeys::only([
            "app",
            "tier",
            "node_role_kubernetes_io",
        ]));
        let mut tables = LabelTables::default();
        let mut roles = NodeRoles::default();
        let batch = canonical(
            NODE_LABEL_COLUMNS,
            3,
            &[
                ("interval_start", times(&[0, 3600, DAY])),
                ("node", text(&[Some("n1"); 3])),
                (
                    "node_labels",
                    text(&[
                        Some(r#"{"app": "a", "tier": "1"}"#),
                        Some(r#"{"app": "b", "node_role_kubernetes_io": "infra"}"#),
                        Some(r#"{"app": "c"}"#),
                    ]),
                ),
            ],
        );
        tables
            .add_node_labels(&batch, &mut interner, &mut roles)
            .unwrap();
        let n1 = interner.strings.lookup("n1").unwrap();
        assert_eq!(
            json(&interner, tables.node(0, n1)),
            r#"{"app": "b", "tier": "1", "node_role_kubernetes_io": "infra"}"#
        );
        assert_eq!(json(&interner, tables.node(1, n1)), r#"{"app": "c"}"#);
        assert_eq!(tables.node_items, 3);
        // The raw text named the node infra (koku's text match).
        let derived = {
            let mut r = roles;
            r.note_placements(
                [(StringId::NULL, n1, StringId::NULL)].into_iter(),
                &interner.strings,
            );
            r.derived()
        };
        assert_eq!(derived.get(&n1), Some(&"infra"));
    }

    /// A day's labels are forgotten once the day ends; unknown keys give the empty set.
    #[test]
    fn ended_days_are_forgotten() {
        let mut interner = Interner::new(EnabledKeys::only(["team"]));
        let mut tables = LabelTables::default();
        let batch = canonical(
            NAMESPACE_LABEL_COLUMNS,
            2,
            &[
                ("interval_start", times(&[0, DAY])),
                ("namespace", text(&[Some("ns"); 2])),
                ("namespace_labels", text(&[Some(r#"{"team": "x"}"#); 2])),
            ],
        );
        tables.add_namespace_labels(&batch, &mut interner).unwrap();
        let ns = interner.strings.lookup("ns").unwrap();
        assert_eq!(json(&interner, tables.namespace(0, ns)), r#"{"team": "x"}"#);
        tables.end_days(0);
        assert_eq!(tables.namespace(0, ns), LabelSetId::EMPTY);
        assert_eq!(json(&interner, tables.namespace(1, ns)), r#"{"team": "x"}"#);
        assert_eq!(tables.node(1, ns), LabelSetId::EMPTY);
    }
}
