//! Merges of interned maps, in an id space of their own that can be cleared at any time.

use std::sync::Arc;

use hashbrown::HashMap;

use crate::map::{EnabledKeys, LabelMap};
use crate::sets::{LabelSetId, LabelSets};

/// The most maps merged in one call of [`MergedSets::merge`].
pub const MAX_MERGED: usize = 4;

/// Merges of maps interned in a base [`LabelSets`] (node ⊕ namespace ⊕ pod labels, say),
/// interned in their own id space and cached per sequence of base ids.
///
/// The ids it issues are not base ids, so [`MergedSets::clear`] frees every merge at once
/// without invalidating anything in the base: a long run keeps the cache while it is useful
/// (the same pods carry the same labels day after day) and clears it when it grows past a
/// bound, so memory stays flat however many distinct merges a month holds.
#[derive(Debug, Clone)]
pub struct MergedSets {
    sets: LabelSets,
    cache: HashMap<[LabelSetId; MAX_MERGED], LabelSetId>,
}

impl Default for MergedSets {
    fn default() -> Self {
        Self::new()
    }
}

impl MergedSets {
    /// An empty cache.
    pub fn new() -> Self {
        Self {
            // The base already filtered every map; merging adds no key.
            sets: LabelSets::new(EnabledKeys::All),
            cache: HashMap::new(),
        }
    }

    /// The merge of base maps `ids` in order (later maps win on equal keys), as an id of this
    /// space. Cached per sequence: a repeated sequence costs one hash lookup.
    ///
    /// # Panics
    /// If `ids` has more than [`MAX_MERGED`] entries.
    pub fn merge(&mut self, base: &LabelSets, ids: &[LabelSetId]) -> LabelSetId {
        assert!(
            ids.len() <= MAX_MERGED,
            "at most {MAX_MERGED} maps per merge"
        );
        // Empty maps change nothing; dropping them makes the padding unambiguous.
        let mut key = [LabelSetId::EMPTY; MAX_MERGED];
        let mut n = 0;
        for &id in ids.iter().filter(|&&id| id != LabelSetId::EMPTY) {
            key[n] = id;
            n += 1;
        }
        if n == 0 {
            return LabelSetId::EMPTY;
        }
        if let Some(&id) = self.cache.get(&key) {
            return id;
        }
        let merged = LabelMap::merge(key[..n].iter().map(|&i| base.get(i)));
        let id = self.sets.intern(merged);
        self.cache.insert(key, id);
        id
    }

    /// The canonical JSON of a merged id.
    pub fn json(&self, id: LabelSetId) -> &Arc<str> {
        self.sets.json(id)
    }

    /// Distinct merged maps held.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Always false: the empty map is always held.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Forgets every merge; ids issued before must not be used again.
    pub fn clear(&mut self) {
        *self = Self::new();
    }

    /// Clears when more than `limit` maps are held (see [`MergedSets::clear`]); true if it did.
    pub fn clear_if_over(&mut self, limit: usize) -> bool {
        let over = self.len() > limit;
        if over {
            self.clear();
        }
        over
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_in_their_own_space_and_survive_nothing_but_clear() {
        let mut base = LabelSets::new(EnabledKeys::All);
        let node = base.intern_str(Some(r#"{"k": "node", "n": "1"}"#)).unwrap();
        let ns = base.intern_str(Some(r#"{"k": "ns"}"#)).unwrap();
        let pod = base.intern_str(Some(r#"{"p": "1"}"#)).unwrap();
        let mut merged = MergedSets::new();
        let m = merged.merge(&base, &[node, ns, pod]);
        assert_eq!(&**merged.json(m), r#"{"k": "ns", "n": "1", "p": "1"}"#);
        assert_eq!(merged.merge(&base, &[node, LabelSetId::EMPTY, ns, pod]), m);
        // A single map is copied into the merged space, not passed through as a base id.
        let only = merged.merge(&base, &[LabelSetId::EMPTY, pod]);
        assert_eq!(&**merged.json(only), r#"{"p": "1"}"#);
        assert_eq!(merged.merge(&base, &[]), LabelSetId::EMPTY);
        assert_eq!(merged.len(), 3, "empty, the triple and the single map");
        assert!(!merged.clear_if_over(3));
        assert!(merged.clear_if_over(2));
        assert_eq!(merged.len(), 1);
        // After clearing, merges are built afresh from the base, which is untouched.
        let again = merged.merge(&base, &[ns, node]);
        assert_eq!(&**merged.json(again), r#"{"k": "node", "n": "1"}"#);
        assert_eq!(&**base.json(ns), r#"{"k": "ns"}"#);
    }
}
