//! Interning of namespace, node, pod and resource strings into dense ids.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::{DataType, Int32Type};
use hashbrown::HashMap;

/// Dense id of an interned string; [`StringId::NULL`] stands for SQL null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StringId(pub u32);

impl StringId {
    /// SQL null (distinct from the empty string, which is interned like any other).
    pub const NULL: StringId = StringId(u32::MAX);

    /// Whether this is null.
    pub fn is_null(self) -> bool {
        self == Self::NULL
    }
}

/// A string interner shared by all columns of a run.
#[derive(Debug, Default)]
pub struct Strings {
    values: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, StringId>,
}

impl Strings {
    /// Interns one string.
    pub fn intern(&mut self, s: &str) -> StringId {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = StringId(u32::try_from(self.values.len()).expect("fewer than 2^32 strings"));
        let s: Arc<str> = s.into();
        self.values.push(Arc::clone(&s));
        self.ids.insert(s, id);
        id
    }

    /// Looks a string up without interning it.
    pub fn lookup(&self, s: &str) -> Option<StringId> {
        self.ids.get(s).copied()
    }

    /// The string of an id; `None` for [`StringId::NULL`].
    pub fn get(&self, id: StringId) -> Option<&Arc<str>> {
        (!id.is_null()).then(|| &self.values[id.0 as usize])
    }

    /// Interns the distinct values of a canonical text column (a dictionary) and returns the id
    /// of each dictionary key, so rows map to ids with one indexed load. Plain text columns are
    /// first dictionary-encoded.
    ///
    /// # Panics
    /// If the column is not text; the reader guarantees it is.
    pub fn intern_dictionary(&mut self, column: &ArrayRef) -> (ArrayRef, Vec<StringId>) {
        let column = text_dictionary(column);
        let remap = self.intern_values(column.as_dictionary::<Int32Type>().values());
        (column, remap)
    }

    /// The id of each value of a dictionary's values array (any text type).
    pub(crate) fn intern_values(&mut self, values: &ArrayRef) -> Vec<StringId> {
        let values = arrow::compute::cast(values, &DataType::Utf8).expect("text values");
        let values: &StringArray = values.as_string();
        values
            .iter()
            .map(|v| v.map_or(StringId::NULL, |s| self.intern(s)))
            .collect()
    }
}

/// A text column as the canonical `Dictionary(Int32, _)` (unchanged when it is one; plain
/// text is dictionary-encoded).
///
/// # Panics
/// If the column is not text; the reader guarantees it is.
pub(crate) fn text_dictionary(column: &ArrayRef) -> ArrayRef {
    match column.data_type() {
        DataType::Dictionary(k, _) if **k == DataType::Int32 => Arc::clone(column),
        _ => arrow::compute::cast(
            column,
            &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        )
        .expect("a text column"),
    }
}

/// The last dictionary seen per column, with what its values were interned to.
///
/// The Parquet reader hands every batch of a column chunk the same dictionary values, so
/// consecutive batches of a file are interned once: a hit is a pointer comparison. The
/// cached values are kept alive, so their buffers cannot be reused by a different array.
#[derive(Debug)]
pub(crate) struct DictionaryCache<T> {
    last: HashMap<(u8, &'static str), (ArrayRef, Vec<T>)>,
}

impl<T> Default for DictionaryCache<T> {
    fn default() -> Self {
        Self {
            last: HashMap::new(),
        }
    }
}

impl<T: Clone> DictionaryCache<T> {
    /// The cached ids of `values` under `key`, or `intern(values)` (then cached).
    pub(crate) fn get_or<E>(
        &mut self,
        key: (u8, &'static str),
        values: &ArrayRef,
        intern: impl FnOnce(&ArrayRef) -> Result<Vec<T>, E>,
    ) -> Result<Vec<T>, E> {
        if let Some((seen, ids)) = self.last.get(&key) {
            if seen.to_data().ptr_eq(&values.to_data()) {
                return Ok(ids.clone());
            }
        }
        let ids = intern(values)?;
        self.last.insert(key, (Arc::clone(values), ids.clone()));
        Ok(ids)
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
