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
    /// Adds a batch of `node_labels` ([`crate::NODE_LABEL_COLUMNS`]). Several label sets of
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

    /// Adds a batch of `namespace_labels` ([`crate::NAMESPACE_LABEL_COLUMNS`]).
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
