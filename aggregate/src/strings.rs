//! Interning of namespace, node, pod and resource strings into dense ids.

use std::hash::Hash;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::{DataType, Int32Type};
use hashbrown::HashMap;

use crate::error::{AggregateError, Result};

/// Dense id of an interned string; [`StringId::NULL`] stands for SQL null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct StringId(pub(crate) u32);

impl StringId {
    /// SQL null (distinct from the empty string, which is interned like any other).
    pub(crate) const NULL: StringId = StringId(u32::MAX);

    /// Whether this is null.
    pub(crate) fn is_null(self) -> bool {
        self == Self::NULL
    }
}

/// A string interner. A run has two: one for long-lived names (namespaces, nodes, resource
/// ids, storage classes, roles) and one for names that matter only within a day.
///
/// Strings can be forgotten ([`Strings::retain_only`]) once nothing refers to their ids any more;
/// their ids are then reused, so an interner of short-lived values (pod names) stays as large
/// as the values alive at once, not as all values of a month.
#[derive(Debug, Default)]
pub(crate) struct Strings {
    values: Texts,
    ids: HashMap<Arc<str>, StringId>,
    free: Vec<StringId>,
}

/// The texts of a [`Strings`] by id, shared copy-on-write: a fold running on another thread
/// holds a clone (a snapshot) while the interner goes on interning the next batches. The
/// first string interned while a snapshot lives copies the table (a pointer per id), so a
/// table shared with a fold in flight is copied at most once per fold, and a table nobody
/// shares (short-lived names) never is.
#[derive(Debug, Clone, Default)]
pub(crate) struct Texts(Arc<Vec<Option<Arc<str>>>>);

impl Texts {
    /// The string of an id; `None` for [`StringId::NULL`].
    ///
    /// # Panics
    /// If the id was forgotten by [`Strings::retain_only`] or interned after this snapshot
    /// was taken (a caller bug).
    #[allow(
        clippy::expect_used,
        reason = "ids come only from this table; a forgotten one is a caller bug, never input"
    )]
    pub(crate) fn get(&self, id: StringId) -> Option<&Arc<str>> {
        (!id.is_null()).then(|| {
            self.0[id.0 as usize]
                .as_ref()
                .expect("an id that was not forgotten")
        })
    }

    /// Whether the text of `a` sorts after the text of `b` (null sorts first): the
    /// "greatest value wins" rule of koku's `max()` over text columns.
    pub(crate) fn greater(&self, a: StringId, b: StringId) -> bool {
        self.get(a).map(|s| s.as_ref()) > self.get(b).map(|s| s.as_ref())
    }

    /// The table, to change; copied first if a snapshot shares it.
    fn edit(&mut self) -> &mut Vec<Option<Arc<str>>> {
        Arc::make_mut(&mut self.0)
    }
}

impl Strings {
    /// Interns one string.
    pub(crate) fn intern(&mut self, s: &str) -> StringId {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let s: Arc<str> = s.into();
        let values = self.values.edit();
        let id = match self.free.pop() {
            Some(id) => {
                values[id.0 as usize] = Some(Arc::clone(&s));
                id
            }
            None => {
                // 2^32 distinct strings would need hundreds of GiB before this could fail.
                #[allow(
                    clippy::expect_used,
                    reason = "memory runs out long before 2^32 strings"
                )]
                let id = StringId(u32::try_from(values.len()).expect("fewer than 2^32 strings"));
                values.push(Some(Arc::clone(&s)));
                id
            }
        };
        self.ids.insert(s, id);
        id
    }

    /// Looks a string up without interning it.
    pub(crate) fn lookup(&self, s: &str) -> Option<StringId> {
        self.ids.get(s).copied()
    }

    /// The string of an id; `None` for [`StringId::NULL`].
    ///
    /// # Panics
    /// If the id was forgotten by [`Strings::retain_only`] (a caller bug).
    pub(crate) fn get(&self, id: StringId) -> Option<&Arc<str>> {
        self.values.get(id)
    }

    /// The texts by id, to read (see [`Texts::greater`]) or to share with a fold (clone).
    pub(crate) fn texts(&self) -> &Texts {
        &self.values
    }

    /// One past the greatest id given so far (ids are dense: `0..id_bound()`, null aside).
    pub(crate) fn id_bound(&self) -> usize {
        self.values.0.len()
    }

    /// Strings held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.ids.len()
    }

    /// Forgets every string whose id is not in `live` (repeats and null are fine) and frees
    /// it; a later [`Strings::intern`] may reuse the id for another string. The caller must
    /// hold no forgotten id.
    ///
    /// Marks the live ids in a bitmap and walks the ids in order: only forgotten strings are
    /// hashed (to leave the map), so a day whose names all live on costs no hashing at all.
    pub(crate) fn retain_only(&mut self, live: impl IntoIterator<Item = StringId>) {
        let values = self.values.edit();
        let mut keep = vec![false; values.len()];
        for id in live {
            if let Some(k) = keep.get_mut(id.0 as usize) {
                *k = true;
            }
        }
        let (ids, free) = (&mut self.ids, &mut self.free);
        for ((i, value), kept) in values.iter_mut().enumerate().zip(keep) {
            if kept {
                continue;
            }
            if let Some(text) = value.take() {
                ids.remove(&text);
                free.push(StringId(i as u32));
            }
        }
    }

    /// Interns the distinct values of a canonical text column (a dictionary) and returns the id
    /// of each dictionary key, so rows map to ids with one indexed load. Plain text columns are
    /// first dictionary-encoded.
    ///
    /// # Panics
    /// If the column is not text; the reader guarantees it is.
    pub(crate) fn intern_dictionary(
        &mut self,
        column: &ArrayRef,
    ) -> Result<(ArrayRef, Vec<StringId>)> {
        let column = text_dictionary(column)?;
        let remap = self.intern_values(column.as_dictionary::<Int32Type>().values())?;
        Ok((column, remap))
    }

    /// The id of each value of a dictionary's values array (any text type).
    pub(crate) fn intern_values(&mut self, values: &ArrayRef) -> Result<Vec<StringId>> {
        let values = arrow::compute::cast(values, &DataType::Utf8).map_err(|source| {
            AggregateError::Arrow {
                what: "reading text values",
                source,
            }
        })?;
        let values: &StringArray = values.as_string();
        Ok(values
            .iter()
            .map(|v| v.map_or(StringId::NULL, |s| self.intern(s)))
            .collect())
    }
}

/// A text column as the canonical `Dictionary(Int32, _)` (unchanged when it is one; plain
/// text is dictionary-encoded).
/// A column that is not text (the reader guarantees it is) is an error.
pub(crate) fn text_dictionary(column: &ArrayRef) -> Result<ArrayRef> {
    match column.data_type() {
        DataType::Dictionary(k, _) if **k == DataType::Int32 => Ok(Arc::clone(column)),
        _ => arrow::compute::cast(
            column,
            &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        )
        .map_err(|source| AggregateError::Arrow {
            what: "dictionary-encoding a text column",
            source,
        }),
    }
}

/// The last dictionary seen per column (`K` names the column), with what its values were
/// interned to.
///
/// The Parquet reader hands every batch of a column chunk the same dictionary values, so
/// consecutive batches of a file are interned once: a hit is a pointer comparison. The
/// cached values are kept alive, so their buffers cannot be reused by a different array.
///
/// Row groups of one file, and files of one hour after another, often carry the same
/// dictionary in new buffers (the nodes of a cluster, in the order of their first line
/// item): values equal to the cached ones (same length, then compared value by value, which
/// stops at the first difference) are a hit too. At 60M rows a month, the hourly files' node
/// dictionaries (2,000 names per 64k-row batch) were otherwise interned again for every
/// batch, a name at a time.
#[derive(Debug)]
pub(crate) struct DictionaryCache<K, T> {
    last: HashMap<K, (ArrayRef, Vec<T>)>,
}

impl<K, T> Default for DictionaryCache<K, T> {
    fn default() -> Self {
        Self {
            last: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq, T: Clone> DictionaryCache<K, T> {
    /// The cached ids of `values` under `key`, or `intern(values)` (then cached).
    pub(crate) fn get_or<E>(
        &mut self,
        key: K,
        values: &ArrayRef,
        intern: impl FnOnce(&ArrayRef) -> Result<Vec<T>, E>,
    ) -> Result<Vec<T>, E> {
        if let Some((seen, ids)) = self.last.get(&key) {
            // The same buffers (one pointer comparison each), else equal values (Arrow's
            // equality compares types and lengths first).
            let (seen, new) = (seen.to_data(), values.to_data());
            if seen.ptr_eq(&new) || seen == new {
                return Ok(ids.clone());
            }
        }
        let ids = intern(values)?;
        self.last.insert(key, (Arc::clone(values), ids.clone()));
        Ok(ids)
    }

    /// The ids cached under `key`, if any.
    pub(crate) fn cached(&self, key: &K) -> &[T] {
        self.last.get(key).map_or(&[], |(_, ids)| ids.as_slice())
    }
}

/// Per-row ids of a dictionary column, given the remap from [`Strings::intern_dictionary`].
pub(crate) fn row_ids<'a>(
    column: &'a ArrayRef,
    remap: &'a [StringId],
) -> impl Iterator<Item = StringId> + 'a {
    column
        .as_dictionary::<Int32Type>()
        .keys()
        .iter()
        .map(move |k| k.map_or(StringId::NULL, |k| remap[k as usize]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache under one key, interning with a counter of the values it was asked for.
    fn cached_ids(
        cache: &mut DictionaryCache<&'static str, u32>,
        values: &ArrayRef,
        interned: &mut usize,
    ) -> Vec<u32> {
        let ids = cache.get_or("node", values, |v| {
            *interned += v.len();
            Ok::<_, ()>(
                (0..v.len() as u32)
                    .map(|i| i + 10 * *interned as u32)
                    .collect(),
            )
        });
        ids.unwrap()
    }

    #[test]
    fn equal_dictionaries_in_new_buffers_are_interned_once() {
        let texts = |v: &[&str]| -> ArrayRef { Arc::new(StringArray::from(v.to_vec())) };
        let mut cache = DictionaryCache::default();
        let mut interned = 0;
        let first = cached_ids(&mut cache, &texts(&["n1", "n2", "n3"]), &mut interned);
        assert_eq!(interned, 3);
        // The same names in a new array (the next row group's dictionary): a hit.
        let again = cached_ids(&mut cache, &texts(&["n1", "n2", "n3"]), &mut interned);
        assert_eq!((interned, &again), (3, &first));
        // As many names, one of them another: interned, and cached in turn.
        let other = cached_ids(&mut cache, &texts(&["n1", "n2", "n4"]), &mut interned);
        assert_eq!(interned, 6);
        assert_ne!(other, first);
        let _ = cached_ids(&mut cache, &texts(&["n1", "n2", "n4"]), &mut interned);
        assert_eq!(interned, 6);
        // Null is a value too: a null where a name was is another dictionary.
        let with_null: ArrayRef = Arc::new(StringArray::from(vec![Some("n1"), None, Some("n4")]));
        let _ = cached_ids(&mut cache, &with_null, &mut interned);
        assert_eq!(interned, 9);
    }

    #[test]
    fn forgotten_strings_free_their_ids_for_reuse() {
        let mut s = Strings::default();
        let a = s.intern("a");
        let b = s.intern("b");
        s.retain_only([b, StringId::NULL, b]);
        assert_eq!(s.len(), 1);
        assert_eq!(s.lookup("a"), None);
        assert_eq!(s.get(b).map(|v| v.as_ref()), Some("b"));
        let c = s.intern("c");
        assert_eq!(c, a, "the forgotten id is reused");
        assert_eq!(s.get(c).map(|v| v.as_ref()), Some("c"));
        assert_eq!(s.intern("b"), b);
        assert_eq!(
            s.intern("a"),
            StringId(2),
            "a new id once the free ones are used"
        );
    }

    #[test]
    fn a_snapshot_of_the_texts_is_unchanged_while_the_table_grows() {
        let mut s = Strings::default();
        let a = s.intern("a");
        let snapshot = s.texts().clone();
        let b = s.intern("b");
        assert_eq!(snapshot.0.len(), 1, "the snapshot did not grow");
        assert_eq!(snapshot.get(a).map(|v| v.as_ref()), Some("a"));
        assert_eq!(s.get(b).map(|v| v.as_ref()), Some("b"));
        assert!(s.texts().greater(b, a));
        drop(snapshot);
        let shared = Arc::as_ptr(&s.texts().0);
        s.intern("c");
        assert_eq!(
            Arc::as_ptr(&s.texts().0),
            shared,
            "a table nobody shares is not copied"
        );
    }

    #[test]
    fn greater_compares_text_not_ids_and_null_sorts_first() {
        let mut s = Strings::default();
        let b = s.intern("b");
        let a = s.intern("a");
        let t = s.texts();
        assert!(t.greater(b, a), "\"b\" > \"a\" although its id is smaller");
        assert!(!t.greater(a, b));
        assert!(!t.greater(a, a));
        assert!(t.greater(a, StringId::NULL));
        assert!(!t.greater(StringId::NULL, a));
    }
}
