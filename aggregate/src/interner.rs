//! What every concern shares: the interned texts and label sets of a run.
//!
//! Each distinct dictionary value becomes a dense id once ([`Strings`], [`LabelSets`]); the
//! ids of the last dictionary of each column are kept ([`DictionaryCache`]), so the batches
//! of one column chunk, which share their dictionary, are interned once. The concern modules
//! ([`crate::pods`], [`crate::storage`], [`crate::labels`]) take an `&mut Interner` to
//! prepare batches and a [`FoldView`] (a snapshot of the texts, so a fold may run on another
//! thread while the next batches are interned) or an `&Interner` to fold them.

use arrow::array::{ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int32Type, SchemaRef};
use ocpagg_labels::{EnabledKeys, LabelSetId, LabelSets};

use crate::error::{AggregateError, Result};
use crate::input::SHORT_LIVED_COLUMNS;
use crate::strings::{text_dictionary, DictionaryCache, StringId, Strings, Texts};

/// Raw label strings cached from one day to the next (each is parsed once while cached);
/// beyond this many, the cache is cleared after a day's rows are built, so a month of
/// distinct label strings (pods that come and go) is not held to the month's end.
const RAW_LABELS_KEPT: usize = 1 << 16;

/// Which input a text column belongs to, for the dictionary cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    /// pod_usage.
    Pods,
    /// storage_usage.
    Storage,
}

/// The interned texts and label sets of a run. See the module docs.
#[derive(Debug)]
pub(crate) struct Interner {
    /// Names that live as long as the run: namespaces, nodes, resource ids, roles.
    pub(crate) strings: Strings,
    /// Names that matter only within a day ([`SHORT_LIVED_COLUMNS`]: pods, claims, volumes,
    /// CSI handles), of which a month holds many; see [`Interner::end_days`].
    pub(crate) short_lived: Strings,
    /// Parsed and filtered label strings.
    pub(crate) labels: LabelSets,
    /// The id of `''` in `strings` (a node that is no node).
    pub(crate) empty: StringId,
    string_remaps: DictionaryCache<(Source, &'static str), StringId>,
    label_remaps: DictionaryCache<&'static str, LabelSetId>,
    /// [`RAW_LABELS_KEPT`] (lower in tests, to exercise the forgetting).
    pub(crate) raw_labels_kept: usize,
}

impl Interner {
    /// An empty interner keeping the label keys `enabled`.
    pub(crate) fn new(enabled: EnabledKeys) -> Self {
        let mut strings = Strings::default();
        let empty = strings.intern("");
        Self {
            strings,
            short_lived: Strings::default(),
            labels: LabelSets::new(enabled),
            empty,
            string_remaps: DictionaryCache::default(),
            label_remaps: DictionaryCache::default(),
            raw_labels_kept: RAW_LABELS_KEPT,
        }
    }

    /// Interns the dictionary values of the text column `name` of `source`, reusing the ids
    /// of the previous batch when it shares the dictionary. Returns the column as a
    /// dictionary and the id of each dictionary key.
    pub(crate) fn intern_column(
        &mut self,
        source: Source,
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
            (source, name),
            dict.as_dictionary::<Int32Type>().values(),
            |values| strings.intern_values(values),
        )?;
        Ok((dict, remap))
    }

    /// Parses the label strings of the label column `name` (each distinct string once).
    /// Returns the column as a dictionary and the label-set id of each dictionary key.
    pub(crate) fn intern_labels(
        &mut self,
        column: &ArrayRef,
        name: &'static str,
    ) -> Result<(ArrayRef, Vec<LabelSetId>)> {
        let dict = text_dictionary(column)?;
        let labels = &mut self.labels;
        let remap = self.label_remaps.get_or(
            name,
            dict.as_dictionary::<Int32Type>().values(),
            |values| {
                let values = arrow::compute::cast(values, &DataType::Utf8).map_err(|source| {
                    AggregateError::Arrow {
                        what: "reading label text",
                        source,
                    }
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

    /// What a fold reads of the interner, as a snapshot: a fold can run on another thread
    /// while the next batches are interned.
    pub(crate) fn fold_view(&self) -> FoldView {
        FoldView {
            texts: self.strings.texts().clone(),
            empty: self.empty,
        }
    }

    /// Frees what finished days no longer need, once their rows are built: the short-lived
    /// names not in `live` (what unfinished days refer to) nor in the dictionaries the next
    /// batches may share, and the raw label cache grown past its bound. The interner then
    /// holds the names of the days being read rather than every pod and claim of the month.
    pub(crate) fn end_days(&mut self, live: impl IntoIterator<Item = StringId>) {
        let caches = &self.string_remaps;
        let cached = [Source::Pods, Source::Storage]
            .into_iter()
            .flat_map(|source| {
                SHORT_LIVED_COLUMNS
                    .iter()
                    .flat_map(move |&column| caches.cached(&(source, column)).iter().copied())
            });
        self.short_lived.retain_only(live.into_iter().chain(cached));
        self.labels.forget_raw_if_over(self.raw_labels_kept);
    }
}

/// What folding prepared batches reads of the [`Interner`] ([`Interner::fold_view`]): the
/// long-lived texts, which fold and merge compare ("greatest wins"), and the id of `''`.
/// Short-lived ids (pods) are only keys to a fold, so their table is not part of it.
#[derive(Debug, Clone)]
pub(crate) struct FoldView {
    /// A snapshot of [`Interner::strings`]: every id of the batches prepared before it.
    pub(crate) texts: Texts,
    /// [`Interner::empty`].
    pub(crate) empty: StringId,
}

/// A batch of `source` whose text columns are being interned: each column is swapped for its
/// dictionary form as its ids are handed out ([`Rekeyed::text`], [`Rekeyed::labels`]), and
/// [`Rekeyed::finish`] rebuilds the batch from the swapped columns.
pub(crate) struct Rekeyed {
    source: Source,
    schema: SchemaRef,
    columns: Vec<ArrayRef>,
}

impl Rekeyed {
    /// Starts with `batch`'s columns as they are.
    pub(crate) fn new(source: Source, batch: &RecordBatch) -> Self {
        Self {
            source,
            schema: batch.schema(),
            columns: batch.columns().to_vec(),
        }
    }

    fn index(&self, name: &'static str) -> Result<usize> {
        self.schema
            .index_of(name)
            .map_err(|_| AggregateError::MissingColumn { column: name })
    }

    /// The id of each dictionary key of the text column `name` ([`Interner::intern_column`]).
    pub(crate) fn text(
        &mut self,
        name: &'static str,
        interner: &mut Interner,
    ) -> Result<Vec<StringId>> {
        let i = self.index(name)?;
        let (column, ids) = interner.intern_column(self.source, name, &self.columns[i])?;
        self.columns[i] = column;
        Ok(ids)
    }

    /// The label-set id of each dictionary key of the label column `name`
    /// ([`Interner::intern_labels`]).
    pub(crate) fn labels(
        &mut self,
        name: &'static str,
        interner: &mut Interner,
    ) -> Result<Vec<LabelSetId>> {
        let i = self.index(name)?;
        let (column, ids) = interner.intern_labels(&self.columns[i], name)?;
        self.columns[i] = column;
        Ok(ids)
    }

    /// The batch with the swapped columns.
    pub(crate) fn finish(self) -> Result<RecordBatch> {
        let what = match self.source {
            Source::Pods => "re-keying a pod batch",
            Source::Storage => "re-keying a storage batch",
        };
        RecordBatch::try_new(self.schema, self.columns)
            .map_err(|source| AggregateError::Arrow { what, source })
    }
}
