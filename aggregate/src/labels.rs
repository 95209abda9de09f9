//! Label tables (`node_labels`, `namespace_labels`) and the interning of text and label
//! columns: each distinct dictionary value becomes a dense id once.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::Int32Type;
use hashbrown::HashMap;
use ocpagg_labels::LabelSetId;

use crate::aggregator::Aggregator;
use crate::error::{AggregateError, Result};
use crate::input::{column, day_of, times, SHORT_LIVED_COLUMNS};
use crate::roles::infra_flags;
use crate::strings::{row_ids, text_dictionary, StringId};

impl Aggregator {
    /// Adds a batch of `node_labels` ([`crate::NODE_LABEL_COLUMNS`]). Several label sets of one node
    /// and day are united (on a conflicting key the greatest value wins).
    ///
    /// Also notes, per node, that it has label rows in the run's range and whether one of its
    /// raw label strings contains `"node_role_kubernetes_io": "infra"` (koku's text match,
    /// done on the unparsed dictionary values), for derived node roles.
    pub(crate) fn add_node_labels(&mut self, batch: &RecordBatch) -> Result<()> {
        self.stats.node_label_items += batch.num_rows() as u64;
        let map = std::mem::take(&mut self.node_labels);
        self.node_labels = self.add_label_table(batch, "node", "node_labels", map)?;
        let ts = times(batch)?;
        let (nodes, node_remap) = self.strings.intern_dictionary(column(batch, "node")?)?;
        let labels = text_dictionary(column(batch, "node_labels")?)?;
        let labels = labels.as_dictionary::<Int32Type>();
        let infra = infra_flags(labels.values())?;
        let keys = labels.keys();
        for (i, node) in row_ids(&nodes, &node_remap).enumerate() {
            if ts.is_null(i) || node.is_null() {
                continue;
            }
            let is_infra = keys.is_valid(i) && infra[keys.value(i) as usize];
            self.node_roles.note_label(node, is_infra);
        }
        Ok(())
    }

    /// Adds a batch of `namespace_labels` ([`crate::NAMESPACE_LABEL_COLUMNS`]).
    pub(crate) fn add_namespace_labels(&mut self, batch: &RecordBatch) -> Result<()> {
        self.stats.namespace_label_items += batch.num_rows() as u64;
        let map = std::mem::take(&mut self.namespace_labels);
        self.namespace_labels =
            self.add_label_table(batch, "namespace", "namespace_labels", map)?;
        Ok(())
    }

    fn add_label_table(
        &mut self,
        batch: &RecordBatch,
        key: &'static str,
        labels: &'static str,
        mut map: HashMap<(i32, StringId), LabelSetId>,
    ) -> Result<HashMap<(i32, StringId), LabelSetId>> {
        let ts = times(batch)?;
        let (keys, key_remap) = self.strings.intern_dictionary(column(batch, key)?)?;
        let (label_col, label_remap) = self.intern_labels(column(batch, labels)?, labels)?;
        let label_keys = label_col.as_dictionary::<Int32Type>().keys();
        for (i, node) in row_ids(&keys, &key_remap).enumerate() {
            let Some(t) = ts.is_valid(i).then(|| ts.value(i)) else {
                continue;
            };
            let id = if label_keys.is_valid(i) {
                label_remap[label_keys.value(i) as usize]
            } else {
                LabelSetId::EMPTY
            };
            let slot = map.entry((day_of(t), node)).or_insert(id);
            if *slot != id {
                *slot = self.labels.unite(*slot, id);
            }
        }
        Ok(map)
    }

    /// Label-set id per dictionary key of a label column.
    pub(crate) fn intern_labels(
        &mut self,
        column: &ArrayRef,
        name: &'static str,
    ) -> Result<(ArrayRef, Vec<LabelSetId>)> {
        let dict = text_dictionary(column)?;
        let labels = &mut self.labels;
        let remap = self.label_remaps.get_or(
            (0, name),
            dict.as_dictionary::<Int32Type>().values(),
            |values| {
                let values = arrow::compute::cast(values, &arrow::datatypes::DataType::Utf8)
                    .map_err(|source| AggregateError::Arrow {
                        what: "reading label text",
                        source,
                    })?;
                values
                    .as_string::<i32>()
                    .iter()
                    .map(|v| {
                        labels
                            .intern_str(v)
                            .map_err(|source| AggregateError::Labels {
                                column: name,
                                source,
                            })
                    })
                    .collect()
            },
        )?;
        Ok((dict, remap))
    }

    /// Interns the dictionary values of a text column of `table` (0: pod_usage, 1:
    /// storage_usage), reusing the ids of the previous batch when it shares the dictionary.
    pub(crate) fn intern_column(
        &mut self,
        table: u8,
        name: &'static str,
        column: &ArrayRef,
    ) -> Result<(ArrayRef, Vec<StringId>)> {
        let dict = text_dictionary(column)?;
        let strings = if SHORT_LIVED_COLUMNS.contains(&name) {
            &mut self.short_lived
        } else {
            &mut self.strings
        };
        let remap = self.string_remaps.get_or(
            (table, name),
            dict.as_dictionary::<Int32Type>().values(),
            |values| strings.intern_values(values),
        )?;
        Ok((dict, remap))
    }
}
