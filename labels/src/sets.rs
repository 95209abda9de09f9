//! Interning of filtered label maps into dense ids, with per-string and per-merge caches.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::{DataType, Int32Type};
use hashbrown::HashMap;

use crate::map::{EnabledKeys, LabelError, LabelMap};

/// Dense id of an interned label map. Id 0 is always the empty map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LabelSetId(pub u32);

impl LabelSetId {
    /// The empty map's id.
    pub const EMPTY: LabelSetId = LabelSetId(0);
}

/// A point in a [`LabelSets`]' history (see [`LabelSets::forget_since`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark(usize);

/// Interns filtered label maps. One instance per run (or per table) keeps every id stable.
#[derive(Debug, Clone)]
pub struct LabelSets {
    enabled: EnabledKeys,
    maps: Vec<LabelMap>,
    json: Vec<Arc<str>>,
    ids: HashMap<LabelMap, LabelSetId>,
    raw: HashMap<Box<str>, LabelSetId>,
    merges: HashMap<Vec<LabelSetId>, LabelSetId>,
    unions: HashMap<(LabelSetId, LabelSetId), LabelSetId>,
    parsed: u64,
}

impl LabelSets {
    /// A new interner that filters every parsed map with `enabled`.
    pub fn new(enabled: EnabledKeys) -> Self {
        let mut sets = Self {
            enabled,
            maps: Vec::new(),
            json: Vec::new(),
            ids: HashMap::new(),
            raw: HashMap::new(),
            merges: HashMap::new(),
            unions: HashMap::new(),
            parsed: 0,
        };
        let empty = sets.intern(LabelMap::new());
        debug_assert_eq!(empty, LabelSetId::EMPTY);
        sets
    }

    /// The key filter.
    pub fn enabled(&self) -> &EnabledKeys {
        &self.enabled
    }

    /// Number of distinct maps interned so far.
    pub fn len(&self) -> usize {
        self.maps.len()
    }

    /// Always false: the empty map is interned at creation.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// How many label strings were actually parsed (the rest were cache hits).
    pub fn strings_parsed(&self) -> u64 {
        self.parsed
    }

    /// Interns an already filtered map.
    pub fn intern(&mut self, map: LabelMap) -> LabelSetId {
        if let Some(&id) = self.ids.get(&map) {
            return id;
        }
        // 2^32 distinct label sets would need hundreds of GiB first (each is a map and its
        // JSON); the id saturates rather than panic.
        let id = LabelSetId(u32::try_from(self.maps.len()).unwrap_or(u32::MAX));
        self.json.push(map.to_json().into());
        self.ids.insert(map.clone(), id);
        self.maps.push(map);
        id
    }

    /// Parses, filters and interns one raw label string; null and `''` are the empty map.
    /// Each distinct string is parsed once.
    pub fn intern_str(&mut self, raw: Option<&str>) -> Result<LabelSetId, LabelError> {
        let Some(text) = raw else {
            return Ok(LabelSetId::EMPTY);
        };
        if let Some(&id) = self.raw.get(text) {
            return Ok(id);
        }
        self.parsed += 1;
        let map = LabelMap::parse(text)?.filtered(&self.enabled);
        let id = self.intern(map);
        self.raw.insert(text.into(), id);
        Ok(id)
    }

    /// Ids for every row of a label column (text, large text, view, or a dictionary of text
    /// with any key type), written into `out` (cleared first). A dictionary column is handled
    /// per distinct value. Any other type is an error.
    pub fn intern_column(
        &mut self,
        column: &ArrayRef,
        out: &mut Vec<LabelSetId>,
    ) -> Result<(), LabelError> {
        out.clear();
        out.reserve(column.len());
        let not_text = || LabelError::NotText {
            data_type: column.data_type().to_string(),
        };
        if let DataType::Dictionary(key, _) = column.data_type() {
            let int32_keys;
            let column = if **key == DataType::Int32 {
                column
            } else {
                let target =
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
                int32_keys = arrow::compute::cast(column, &target).map_err(|_| not_text())?;
                &int32_keys
            };
            let dict = column.as_dictionary::<Int32Type>();
            let values =
                arrow::compute::cast(dict.values(), &DataType::Utf8).map_err(|_| not_text())?;
            let values: &StringArray = values.as_string();
            let mut by_key = Vec::with_capacity(values.len());
            for v in values.iter() {
                by_key.push(self.intern_str(v)?);
            }
            for k in dict.keys().iter() {
                out.push(k.map_or(LabelSetId::EMPTY, |k| by_key[k as usize]));
            }
            return Ok(());
        }
        if !matches!(
            column.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            return Err(not_text());
        }
        let text = arrow::compute::cast(column, &DataType::Utf8).map_err(|_| not_text())?;
        for v in text.as_string::<i32>().iter() {
            out.push(self.intern_str(v)?);
        }
        Ok(())
    }

    /// The map of an id.
    pub fn get(&self, id: LabelSetId) -> &LabelMap {
        &self.maps[id.0 as usize]
    }

    /// The canonical JSON text of an id, rendered once when the map was interned.
    pub fn json(&self, id: LabelSetId) -> &Arc<str> {
        &self.json[id.0 as usize]
    }

    /// Merges interned maps in order (later wins); cached per id sequence.
    pub fn merge(&mut self, ids: &[LabelSetId]) -> LabelSetId {
        let nonempty: Vec<LabelSetId> = ids
            .iter()
            .copied()
            .filter(|&i| i != LabelSetId::EMPTY)
            .collect();
        match nonempty.as_slice() {
            [] => return LabelSetId::EMPTY,
            [one] => return *one,
            _ => {}
        }
        if let Some(&id) = self.merges.get(&nonempty) {
            return id;
        }
        let merged = LabelMap::merge(nonempty.iter().map(|&i| &self.maps[i.0 as usize]));
        let id = self.intern(merged);
        self.merges.insert(nonempty, id);
        id
    }

    /// The current end of the interner's history, for [`LabelSets::forget_since`].
    pub fn mark(&self) -> Mark {
        Mark(self.maps.len())
    }

    /// Forgets every map interned after `mark`, with the cached merges, unions and raw
    /// strings that involve one, and frees their memory. Ids issued before the mark stay
    /// valid; the caller must not use an id issued after it again.
    ///
    /// For merges that matter only for a while (a day's rows), [`crate::MergedSets`] is
    /// usually the better tool: its own id space can be cleared without a mark, and keeps
    /// its cache as long as it is useful.
    pub fn forget_since(&mut self, mark: Mark) {
        let keep = mark.0;
        if self.maps.len() <= keep {
            return;
        }
        for map in self.maps.drain(keep..) {
            self.ids.remove(&map);
        }
        self.json.truncate(keep);
        let live = |id: &LabelSetId| (id.0 as usize) < keep;
        self.merges.retain(|k, v| live(v) && k.iter().all(live));
        self.unions
            .retain(|(a, b), v| live(v) && live(a) && live(b));
        self.raw.retain(|_, v| live(v));
    }

    /// Number of raw label strings cached by [`LabelSets::intern_str`].
    pub fn raw_cached(&self) -> usize {
        self.raw.len()
    }

    /// Forgets the raw-string cache of [`LabelSets::intern_str`] when it holds more than
    /// `limit` strings; true if it did. Ids stay valid and the same: a string seen again is
    /// parsed again and interned to the map (and id) it had. This bounds the memory a month of
    /// distinct label strings takes (the strings themselves) to what the open days use.
    pub fn forget_raw_if_over(&mut self, limit: usize) -> bool {
        let over = self.raw.len() > limit;
        if over {
            self.raw = HashMap::new();
        }
        over
    }

    /// Unites two interned maps (all keys; greatest value on conflict); commutative, cached.
    pub fn unite(&mut self, a: LabelSetId, b: LabelSetId) -> LabelSetId {
        if a == b || b == LabelSetId::EMPTY {
            return a;
        }
        if a == LabelSetId::EMPTY {
            return b;
        }
        let key = (a.min(b), a.max(b));
        if let Some(&id) = self.unions.get(&key) {
            return id;
        }
        let united = self.maps[a.0 as usize].unite(&self.maps[b.0 as usize]);
        let id = self.intern(united);
        self.unions.insert(key, id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::DictionaryArray;

    #[test]
    fn forgetting_raw_strings_keeps_their_ids() {
        let mut sets = LabelSets::new(EnabledKeys::All);
        let a = sets.intern_str(Some(r#"{"a": "1"}"#)).unwrap();
        let b = sets.intern_str(Some(r#"{"b": "2"}"#)).unwrap();
        assert!(!sets.forget_raw_if_over(2));
        assert!(sets.forget_raw_if_over(1));
        assert_eq!(sets.raw_cached(), 0);
        assert_eq!(sets.intern_str(Some(r#"{"b": "2"}"#)).unwrap(), b);
        assert_eq!(sets.intern_str(Some(r#"{"a":"1"}"#)).unwrap(), a);
        assert_eq!(sets.strings_parsed(), 4);
    }

    #[test]
    fn forgetting_since_a_mark_keeps_earlier_ids() {
        let mut sets = LabelSets::new(EnabledKeys::All);
        let a = sets.intern_str(Some(r#"{"a": "1"}"#)).unwrap();
        let b = sets.intern_str(Some(r#"{"b": "2"}"#)).unwrap();
        let mark = sets.mark();
        let ab = sets.merge(&[a, b]);
        assert_eq!(sets.json(ab).as_ref(), r#"{"a": "1", "b": "2"}"#);
        let c = sets.intern_str(Some(r#"{"c": "3"}"#)).unwrap();
        sets.forget_since(mark);
        assert_eq!(sets.len(), 3, "the empty map, a and b");
        assert_eq!(sets.json(a).as_ref(), r#"{"a": "1"}"#);
        assert_eq!(sets.json(b).as_ref(), r#"{"b": "2"}"#);
        // Forgotten maps are interned afresh, never confused with a stale id.
        let again = sets.merge(&[a, b]);
        assert_eq!(sets.json(again).as_ref(), r#"{"a": "1", "b": "2"}"#);
        let c2 = sets.intern_str(Some(r#"{"c": "3"}"#)).unwrap();
        assert_eq!(sets.json(c2).as_ref(), r#"{"c": "3"}"#);
        assert_ne!(c2, again);
        let _ = c;
    }

    #[test]
    fn any_dictionary_key_type_and_no_panic_on_other_types() {
        use arrow::datatypes::{UInt16Type, UInt8Type};
        let mut sets = LabelSets::new(EnabledKeys::All);
        let mut out = Vec::new();
        let texts = vec![r#"{"a": "1"}"#, "{}", r#"{"a": "1"}"#];
        let u16: DictionaryArray<UInt16Type> = texts.iter().copied().collect();
        sets.intern_column(&(Arc::new(u16) as ArrayRef), &mut out)
            .unwrap();
        let from_u16 = out.clone();
        let u8: DictionaryArray<UInt8Type> = texts.iter().copied().collect();
        sets.intern_column(&(Arc::new(u8) as ArrayRef), &mut out)
            .unwrap();
        assert_eq!(out, from_u16);
        let plain = arrow::array::StringArray::from(texts);
        sets.intern_column(&(Arc::new(plain) as ArrayRef), &mut out)
            .unwrap();
        assert_eq!(out, from_u16);
        assert_eq!(sets.json(out[0]).as_ref(), r#"{"a": "1"}"#);
        let numbers = arrow::array::Int64Array::from(vec![1, 2]);
        let e = sets
            .intern_column(&(Arc::new(numbers) as ArrayRef), &mut out)
            .unwrap_err();
        assert!(matches!(e, LabelError::NotText { .. }), "{e}");
    }

    #[test]
    fn each_distinct_string_parsed_once() {
        let mut sets = LabelSets::new(EnabledKeys::All);
        let dict: DictionaryArray<Int32Type> =
            vec![r#"{"a": "1"}"#, r#"{"a": "1"}"#, "{}", r#"{"a": "1"}"#, ""]
                .into_iter()
                .collect();
        let col: ArrayRef = Arc::new(dict);
        let mut ids = Vec::new();
        sets.intern_column(&col, &mut ids).unwrap();
        assert_eq!(ids[0], ids[1]);
        assert_eq!(ids[2], LabelSetId::EMPTY);
        assert_eq!(ids[4], LabelSetId::EMPTY);
        assert_eq!(sets.strings_parsed(), 3);
        let plain: ArrayRef = Arc::new(StringArray::from(vec![Some(r#"{"a": "1"}"#), None]));
        sets.intern_column(&plain, &mut ids).unwrap();
        assert_eq!(
            ids,
            vec![
                sets.intern_str(Some(r#"{"a":"1"}"#)).unwrap(),
                LabelSetId::EMPTY
            ]
        );
    }

    #[test]
    fn filtered_duplicates_share_an_id() {
        let mut sets = LabelSets::new(EnabledKeys::only(["app"]));
        let a = sets
            .intern_str(Some(r#"{"app": "x", "hash": "1"}"#))
            .unwrap();
        let b = sets
            .intern_str(Some(r#"{"app": "x", "hash": "2"}"#))
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn merge_and_unite_by_id() {
        let mut sets = LabelSets::new(EnabledKeys::All);
        let node = sets.intern_str(Some(r#"{"k": "node", "n": "1"}"#)).unwrap();
        let ns = sets.intern_str(Some(r#"{"k": "ns"}"#)).unwrap();
        let pod = sets.intern_str(Some(r#"{"p": "1"}"#)).unwrap();
        let m = sets.merge(&[node, ns, pod]);
        assert_eq!(sets.json(m).as_ref(), r#"{"k": "ns", "n": "1", "p": "1"}"#);
        assert_eq!(sets.merge(&[node, ns, pod]), m);
        let u = sets.unite(ns, node);
        assert_eq!(sets.json(u).as_ref(), r#"{"k": "ns", "n": "1"}"#);
        assert_eq!(sets.unite(node, ns), u);
    }
}
