//! The rows of finished days, held compactly until they are converted.
//!
//! A [`SummaryRow`] is about 470 bytes: six optional texts, eighteen optional numbers. A
//! Pod row is a group key and its sums until someone needs the row itself (168 bytes), and a
//! large cluster's day has tens of thousands of them. [`FinishedDays`] therefore keeps
//! the Pod groups as they are, with the few distinct texts they name, and builds
//! [`SummaryRow`]s only for the range asked of [`FinishedDays::rows`], a batch at a time.

use std::hash::Hash;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use arrow::array::{
    new_null_array, ArrayRef, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray,
    StringBuilder,
};
use arrow::datatypes::{DataType, SchemaRef};
use hashbrown::HashMap;
use ocpagg_labels::LabelSetId;

use crate::config::RunInfo;
use crate::error::{AggregateError, Result};
use crate::order::{row_order, sort_rows};
use crate::output::{
    build, constant_text, dictionary, dictionary_key, run_column, Capacity, DataSource,
    PodMeasures, StorageMeasures, SummaryRow, ZERO_INFRASTRUCTURE_COST,
};
use crate::pods::{DayCapacity, GroupKey, PodAcc};
use crate::schema::CSI_VOLUME_HANDLE;
use crate::strings::StringId;
use crate::units::{gib_hours, hours, GIB};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Pods,
    Storage,
}

/// The Pod and Storage rows of one or more finished days (from
/// [`crate::Aggregator::emit_ready`]).
///
/// Rows are addressed by position, `0..len()`: in no particular order as taken, in output
/// order (the README's row order) after [`FinishedDays::sort`]. [`FinishedDays::rows`] builds
/// the rows of a range, so a converter can turn a day into record batches piece by piece
/// (and in parallel: it takes `&self`).
#[derive(Debug, Default)]
pub struct FinishedDays {
    /// Pod groups: (day, namespace, node, merged labels) and their sums.
    pods: Vec<(GroupKey, PodAcc)>,
    storage: Vec<SummaryRow>,
    /// The text of every namespace, node and resource id the Pod groups name.
    texts: HashMap<StringId, Arc<str>>,
    /// The JSON of every label set the Pod groups name.
    labels: HashMap<LabelSetId, Arc<str>>,
    /// The cost category of every namespace the Pod groups name.
    categories: HashMap<StringId, Option<i32>>,
    capacity: DayCapacity,
    /// The rows in their current order, as runs of `pods` or `storage`.
    segments: Vec<(Part, Range<usize>)>,
    /// `texts` and `labels` as Arrow dictionaries, built on first use.
    dictionaries: OnceLock<Dictionaries>,
}

/// The texts and label JSON of a [`FinishedDays`] as Arrow dictionaries shared by all its
/// Pod batches: a Parquet writer that meets the same dictionary again hashes nothing twice.
#[derive(Debug)]
struct Dictionaries {
    texts: Shared<StringId>,
    labels: Shared<LabelSetId>,
}

/// Texts by id as one dictionary: each id's key, and the values.
#[derive(Debug)]
struct Shared<K> {
    keys: HashMap<K, i32>,
    values: ArrayRef,
}

impl<K: Copy + Hash + Eq> Shared<K> {
    fn new(texts: &HashMap<K, Arc<str>>) -> Result<Self> {
        let mut keys = HashMap::with_capacity(texts.len());
        let mut values =
            StringBuilder::with_capacity(texts.len(), texts.values().map(|t| t.len()).sum());
        for (key, (id, text)) in texts.iter().enumerate() {
            keys.insert(*id, dictionary_key(key)?);
            values.append_value(&**text);
        }
        Ok(Self {
            keys,
            values: Arc::new(values.finish()),
        })
    }

    /// The column of `ids` (null where an id is null or has no text).
    fn column(&self, ids: impl Iterator<Item = Option<K>>) -> Result<ArrayRef> {
        let keys = ids
            .map(|id| id.and_then(|id| self.keys.get(&id).copied()))
            .collect();
        dictionary(keys, Arc::clone(&self.values))
    }
}

impl FinishedDays {
    pub(crate) fn new(
        pods: Vec<(GroupKey, PodAcc)>,
        storage: Vec<SummaryRow>,
        texts: HashMap<StringId, Arc<str>>,
        labels: HashMap<LabelSetId, Arc<str>>,
        categories: HashMap<StringId, Option<i32>>,
        capacity: DayCapacity,
    ) -> Self {
        let segments = vec![
            (Part::Pods, 0..pods.len()),
            (Part::Storage, 0..storage.len()),
        ];
        Self {
            pods,
            storage,
            texts,
            labels,
            categories,
            capacity,
            segments,
            dictionaries: OnceLock::new(),
        }
    }

    fn dictionaries(&self) -> Result<&Dictionaries> {
        if let Some(d) = self.dictionaries.get() {
            return Ok(d);
        }
        let built = Dictionaries {
            texts: Shared::new(&self.texts)?,
            labels: Shared::new(&self.labels)?,
        };
        // Workers converting at once may both build them; the first kept is used by all.
        Ok(self.dictionaries.get_or_init(|| built))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.pods.len() + self.storage.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Puts the rows in output order (the README's row order): day by day, a day's Pod rows
    /// before its Storage rows. Pod groups are sorted on integer ranks of their texts (each
    /// distinct text is compared once), Storage rows with `sort_rows`.
    pub fn sort(&mut self) {
        let text_rank = ranks(&self.texts);
        let label_rank = ranks(&self.labels);
        // Null (no text) ranks 0, before every text, as in `row_order`.
        let rank = |id: StringId| {
            debug_assert!(
                id.is_null() || text_rank.contains_key(&id),
                "{id:?} has a text"
            );
            text_rank.get(&id).copied().unwrap_or(0)
        };
        self.pods
            .sort_by_cached_key(|&((day, namespace, node, labels), ref acc)| {
                let resource = acc.resource.map_or(0, rank);
                (
                    day,
                    rank(namespace),
                    rank(node),
                    resource,
                    label_rank.get(&labels).copied().unwrap_or(0),
                )
            });
        sort_rows(&mut self.storage);
        self.segments.clear();
        let (mut i, mut j) = (0, 0);
        // Ends when neither part has rows left (no least day).
        while let Some(day) = self
            .pods
            .get(i)
            .map(|g| g.0 .0)
            .into_iter()
            .chain(self.storage.get(j).map(|r| r.day))
            .min()
        {
            let pods_end = i + self.pods[i..].partition_point(|g| g.0 .0 == day);
            let storage_end = j + self.storage[j..].partition_point(|r| r.day == day);
            if pods_end > i {
                self.segments.push((Part::Pods, i..pods_end));
            }
            if storage_end > j {
                self.segments.push((Part::Storage, j..storage_end));
            }
            (i, j) = (pods_end, storage_end);
        }
        debug_assert!(
            self.rows(0..self.len())
                .windows(2)
                .all(|w| row_order(&w[0], &w[1]).is_le()),
            "finished days in row order"
        );
    }

    /// The pieces of positions `range`: each a run of Pod groups or Storage rows, as a part
    /// and a range into `pods` or `storage`, in the current order.
    ///
    /// # Panics
    ///
    /// If `range` reaches past [`FinishedDays::len`].
    fn pieces(&self, range: Range<usize>) -> impl Iterator<Item = (Part, Range<usize>)> + '_ {
        assert!(range.end <= self.len(), "rows {range:?} of {}", self.len());
        let mut offset = 0;
        self.segments.iter().filter_map(move |(part, segment)| {
            let (start, end) = (offset, offset + segment.len());
            offset = end;
            let (lo, hi) = (range.start.max(start), range.end.min(end));
            (lo < hi).then(|| {
                (
                    *part,
                    segment.start + (lo - start)..segment.start + (hi - start),
                )
            })
        })
    }

    /// The rows at positions `range`, built.
    ///
    /// # Panics
    ///
    /// If `range` reaches past [`FinishedDays::len`].
    pub fn rows(&self, range: Range<usize>) -> Vec<SummaryRow> {
        let mut out = Vec::with_capacity(range.len());
        for (part, local) in self.pieces(range) {
            match part {
                Part::Pods => out.extend(self.pods[local].iter().map(|g| self.pod_row(g))),
                Part::Storage => out.extend_from_slice(&self.storage[local]),
            }
        }
        out
    }

    /// The rows at positions `range` as record batches of `schema` (the summary schema, with
    /// or without `csi_volume_handle`, with or without dictionary texts:
    /// [`crate::schema::with_dictionary_texts`]), one per run of Pod or Storage rows: the
    /// same values as [`crate::to_record_batch`] of [`FinishedDays::rows`], but Pod columns
    /// are built straight from the groups, without a [`SummaryRow`] per row (whose shared
    /// texts cost two atomic operations each, and whose label JSON was copied once per label
    /// column); as dictionaries, their texts and label JSON are one dictionary each, shared
    /// by every batch of these days.
    ///
    /// # Errors
    ///
    /// A column of `schema` that no summary column has.
    ///
    /// # Panics
    ///
    /// If `range` reaches past [`FinishedDays::len`].
    pub fn record_batches(
        &self,
        range: Range<usize>,
        run: &RunInfo,
        schema: &SchemaRef,
    ) -> Result<Vec<RecordBatch>> {
        self.pieces(range)
            .map(|(part, local)| match part {
                Part::Pods => self.pod_batch(&self.pods[local], run, schema),
                Part::Storage => build(Arc::clone(schema), run, &self.storage[local]),
            })
            .collect()
    }

    /// Pod groups as a record batch of `schema`, column by column.
    fn pod_batch(
        &self,
        groups: &[(GroupKey, PodAcc)],
        run: &RunInfo,
        schema: &SchemaRef,
    ) -> Result<RecordBatch> {
        let n = groups.len();
        // Node and cluster capacity: one lookup per row, not one per capacity column.
        let capacity: Vec<_> = groups
            .iter()
            .map(|&((day, _, node, _), _)| {
                (self.capacity.node(day, node), self.capacity.cluster(day))
            })
            .collect();
        let text = |id: StringId| self.texts.get(&id).map(|t| &**t);
        let texts = |f: &dyn Fn(&(GroupKey, PodAcc)) -> Option<StringId>,
                     as_dictionary: bool|
         -> Result<ArrayRef> {
            if as_dictionary {
                return self.dictionaries()?.texts.column(groups.iter().map(f));
            }
            let values: Vec<Option<&str>> = groups.iter().map(|g| f(g).and_then(text)).collect();
            Ok(Arc::new(StringArray::from(values)))
        };
        let numbers = |f: &dyn Fn(usize) -> Option<f64>| -> ArrayRef {
            Arc::new(Float64Array::from_iter((0..n).map(f)))
        };
        let acc = |i: usize| &groups[i].1;
        let mut labels: Option<ArrayRef> = None;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let name = field.name().as_str();
            if let Some(column) = run_column(field, run, n) {
                columns.push(column?);
                continue;
            }
            let as_dictionary = matches!(field.data_type(), DataType::Dictionary(..));
            let column: ArrayRef = match name {
                "data_source" => constant_text(DataSource::Pod.as_str(), n, as_dictionary)?,
                "usage_start" | "usage_end" => {
                    Arc::new(Date32Array::from_iter_values(groups.iter().map(|g| g.0 .0)))
                }
                "namespace" => texts(&|g| Some(g.0 .1), as_dictionary)?,
                "node" => texts(&|g| Some(g.0 .2), as_dictionary)?,
                "resource_id" => texts(&|g| g.1.resource, as_dictionary)?,
                // The same JSON in both columns: built once, shared.
                "pod_labels" | "all_labels" => match &labels {
                    Some(column) => Arc::clone(column),
                    None if as_dictionary => Arc::clone(
                        labels.insert(
                            self.dictionaries()?
                                .labels
                                .column(groups.iter().map(|g| Some(g.0 .3)))?,
                        ),
                    ),
                    None => Arc::clone(labels.insert({
                        let bytes = groups.iter().map(|g| self.labels[&g.0 .3].len()).sum();
                        let mut b = StringBuilder::with_capacity(n, bytes);
                        for g in groups {
                            b.append_value(&*self.labels[&g.0 .3]);
                        }
                        Arc::new(b.finish())
                    })),
                },
                "pod_usage_cpu_core_hours" => numbers(&|i| hours(acc(i).usage_cpu)),
                "pod_request_cpu_core_hours" => numbers(&|i| hours(acc(i).request_cpu)),
                "pod_effective_usage_cpu_core_hours" => numbers(&|i| hours(acc(i).effective_cpu)),
                "pod_limit_cpu_core_hours" => numbers(&|i| hours(acc(i).limit_cpu)),
                "pod_usage_memory_gigabyte_hours" => numbers(&|i| gib_hours(acc(i).usage_mem)),
                "pod_request_memory_gigabyte_hours" => numbers(&|i| gib_hours(acc(i).request_mem)),
                "pod_effective_usage_memory_gigabyte_hours" => {
                    numbers(&|i| gib_hours(acc(i).effective_mem))
                }
                "pod_limit_memory_gigabyte_hours" => numbers(&|i| gib_hours(acc(i).limit_mem)),
                "node_capacity_cpu_cores" => numbers(&|i| acc(i).cpu_cores.value()),
                "node_capacity_cpu_core_hours" => numbers(&|i| hours(capacity[i].0 .0)),
                "node_capacity_memory_gigabytes" => {
                    numbers(&|i| acc(i).memory_bytes.value().map(|b| b * GIB))
                }
                "node_capacity_memory_gigabyte_hours" => numbers(&|i| gib_hours(capacity[i].0 .1)),
                "cluster_capacity_cpu_core_hours" => numbers(&|i| hours(capacity[i].1 .0)),
                "cluster_capacity_memory_gigabyte_hours" => {
                    numbers(&|i| gib_hours(capacity[i].1 .1))
                }
                "infrastructure_usage_cost" => {
                    constant_text(ZERO_INFRASTRUCTURE_COST, n, as_dictionary)?
                }
                "cost_category_id" => Arc::new(Int32Array::from_iter(
                    groups
                        .iter()
                        .map(|g| self.categories.get(&g.0 .1).copied().flatten()),
                )),
                // Storage columns: null on Pod rows.
                "volume_labels"
                | "persistentvolumeclaim"
                | "persistentvolume"
                | "storageclass"
                | "persistentvolumeclaim_capacity_gigabyte"
                | "persistentvolumeclaim_capacity_gigabyte_months"
                | "volume_request_storage_gigabyte_months"
                | "persistentvolumeclaim_usage_gigabyte_months"
                | CSI_VOLUME_HANDLE => new_null_array(field.data_type(), n),
                _ => {
                    return Err(AggregateError::MissingColumn {
                        column: "an output column without an accessor",
                    })
                }
            };
            columns.push(column);
        }
        RecordBatch::try_new(Arc::clone(schema), columns).map_err(|source| AggregateError::Arrow {
            what: "building summary rows",
            source,
        })
    }

    /// Every row, built, in the current order.
    pub fn into_rows(self) -> Vec<SummaryRow> {
        self.rows(0..self.len())
    }

    fn text(&self, id: StringId) -> Option<Arc<str>> {
        self.texts.get(&id).cloned()
    }

    fn pod_row(
        &self,
        &((day, namespace, node, labels), ref acc): &(GroupKey, PodAcc),
    ) -> SummaryRow {
        let (node_cpu, node_mem) = self.capacity.node(day, node);
        let (cluster_cpu, cluster_mem) = self.capacity.cluster(day);
        let labels = Arc::clone(&self.labels[&labels]);
        SummaryRow {
            data_source: DataSource::Pod,
            day,
            namespace: self.text(namespace),
            node: self.text(node),
            resource_id: acc.resource.and_then(|r| self.text(r)),
            pod_labels: Some(Arc::clone(&labels)),
            volume_labels: None,
            all_labels: Some(labels),
            pod: PodMeasures {
                usage_cpu_core_hours: hours(acc.usage_cpu),
                request_cpu_core_hours: hours(acc.request_cpu),
                effective_usage_cpu_core_hours: hours(acc.effective_cpu),
                limit_cpu_core_hours: hours(acc.limit_cpu),
                usage_memory_gigabyte_hours: gib_hours(acc.usage_mem),
                request_memory_gigabyte_hours: gib_hours(acc.request_mem),
                effective_usage_memory_gigabyte_hours: gib_hours(acc.effective_mem),
                limit_memory_gigabyte_hours: gib_hours(acc.limit_mem),
            },
            capacity: Capacity {
                node_cpu_cores: acc.cpu_cores.value(),
                node_cpu_core_hours: hours(node_cpu),
                node_memory_gigabytes: acc.memory_bytes.value().map(|b| b * GIB),
                node_memory_gigabyte_hours: gib_hours(node_mem),
                cluster_cpu_core_hours: hours(cluster_cpu),
                cluster_memory_gigabyte_hours: gib_hours(cluster_mem),
            },
            storage: StorageMeasures::default(),
            cost_category_id: self.categories.get(&namespace).copied().flatten(),
            infrastructure_cost: true,
        }
    }
}

/// Rank of each key by its text, from 1 (0 is left for null); equal texts share a rank.
fn ranks<K: Copy + Hash + Eq>(texts: &HashMap<K, Arc<str>>) -> HashMap<K, u32> {
    let mut by_text: Vec<(&str, K)> = texts.iter().map(|(k, t)| (&**t, *k)).collect();
    by_text.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut rank = HashMap::with_capacity(by_text.len());
    let mut next = 0;
    let mut previous: Option<&str> = None;
    for (text, key) in by_text {
        if previous != Some(text) {
            next += 1;
            previous = Some(text);
        }
        rank.insert(key, next);
    }
    rank
}

#[cfg(test)]
mod tests {
    use crate::input::{PodPass, Table, POD_USAGE_COLUMNS};
    use crate::order::row_order;
    use crate::output::SummaryRow;
    use crate::testing::{aggregator, canonical, text, times};

    use super::FinishedDays;

    /// Two days of pods in three namespaces on two nodes, given out of order.
    fn finished() -> FinishedDays {
        let mut agg = aggregator();
        let day = 86_400;
        let batch = canonical(
            POD_USAGE_COLUMNS,
            6,
            &[
                ("interval_start", times(&[day, 0, day, 0, 0, day])),
                (
                    "namespace",
                    text(&[
                        Some("c"),
                        Some("b"),
                        Some("a"),
                        Some("c"),
                        Some("a"),
                        Some("b"),
                    ]),
                ),
                (
                    "node",
                    text(&[
                        Some("n2"),
                        Some("n1"),
                        Some("n1"),
                        Some("n2"),
                        Some("n2"),
                        Some("n1"),
                    ]),
                ),
                ("pod", text(&[Some("p"); 6])),
                ("pod_labels", text(&[Some("{}"); 6])),
            ],
        );
        agg.push(Table::Pods(PodPass::Both), batch).unwrap();
        agg.close_days_before(2);
        agg.emit_ready().unwrap().unwrap()
    }

    #[test]
    fn sort_gives_row_order() {
        let mut days = finished();
        let mut expected: Vec<SummaryRow> = finished().into_rows();
        assert_eq!(expected.len(), 6);
        expected.sort_by(row_order);
        days.sort();
        assert_eq!(days.into_rows(), expected);
    }

    /// Pod columns built from the groups hold what the rows would, column for column.
    #[test]
    fn record_batches_match_the_rows_converted() {
        use crate::schema::summary_schema_with_csi;
        use crate::to_record_batch_with_csi;

        let mut days = finished();
        days.sort();
        let run = crate::testing::aggregator().run().clone();
        let schema = summary_schema_with_csi();
        for (start, end) in [(0, 6), (1, 4), (5, 6)] {
            let batches = days.record_batches(start..end, &run, &schema).unwrap();
            let direct = arrow::compute::concat_batches(&schema, &batches).unwrap();
            let expected = to_record_batch_with_csi(&run, &days.rows(start..end)).unwrap();
            assert_eq!(direct.schema(), expected.schema());
            for (i, field) in schema.fields().iter().enumerate() {
                if field.name() != "uuid" {
                    assert_eq!(
                        direct.column(i).to_data(),
                        expected.column(i).to_data(),
                        "{} of rows {start}..{end}",
                        field.name()
                    );
                }
            }
        }
    }

    /// With dictionary texts, every column holds the values of the `Utf8` batch; the Pod
    /// batches of one `FinishedDays` share one dictionary per kind of text.
    #[test]
    fn dictionary_texts_hold_the_same_values() {
        use arrow::array::{Array, AsArray};
        use arrow::datatypes::{DataType, Int32Type};

        use crate::schema::{summary_schema_with_csi, with_dictionary_texts};

        let mut days = finished();
        days.sort();
        let run = crate::testing::aggregator().run().clone();
        let plain = summary_schema_with_csi();
        let schema = with_dictionary_texts(&plain);
        let mut label_values = Vec::new();
        for (start, end) in [(0, 6), (1, 4), (5, 6)] {
            let batches = days.record_batches(start..end, &run, &schema).unwrap();
            let expected = days.record_batches(start..end, &run, &plain).unwrap();
            assert_eq!(batches.len(), expected.len());
            for (batch, expected) in batches.iter().zip(&expected) {
                assert_eq!(batch.schema(), schema);
                for (i, field) in schema.fields().iter().enumerate() {
                    let column = batch.column(i);
                    if field.name() == "uuid" {
                        assert_eq!(column.data_type(), &DataType::Utf8);
                        continue;
                    }
                    let values = arrow::compute::cast(column, expected.column(i).data_type());
                    assert_eq!(
                        values.unwrap().to_data(),
                        expected.column(i).to_data(),
                        "{} of rows {start}..{end}",
                        field.name()
                    );
                }
                let labels = batch.column_by_name("all_labels").unwrap();
                assert!(matches!(labels.data_type(), DataType::Dictionary(..)));
                label_values.push(labels.as_dictionary::<Int32Type>().values().clone());
            }
        }
        assert!(
            label_values
                .windows(2)
                .all(|w| std::sync::Arc::ptr_eq(&w[0], &w[1])),
            "one label dictionary for all batches"
        );
    }

    #[test]
    fn rows_of_a_range_are_that_slice_of_every_row() {
        let mut days = finished();
        days.sort();
        let all = days.rows(0..days.len());
        for (start, end) in [(0, 6), (1, 4), (3, 3), (5, 6)] {
            assert_eq!(days.rows(start..end), all[start..end], "{start}..{end}");
        }
        let days_of = |rows: &[SummaryRow]| rows.iter().map(|r| r.day).collect::<Vec<_>>();
        assert_eq!(days_of(&all), [0, 0, 0, 1, 1, 1]);
        let namespaces: Vec<_> = all.iter().map(|r| r.namespace.as_deref()).collect();
        assert_eq!(
            namespaces,
            [
                Some("a"),
                Some("b"),
                Some("c"),
                Some("a"),
                Some("b"),
                Some("c")
            ]
        );
    }
}
