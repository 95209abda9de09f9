//! Dense group storage: each distinct key is given an index once, and the group states live
//! in one flat `Vec` in insertion order.
//!
//! A hash map from key to state moves whole states (about 150 bytes for a Pod group) every
//! time it grows, and keeps up to half of its buckets empty: at 47k groups a day that was
//! 22-44 MB per map. Here the map holds only `key → u32` (20 bytes a bucket), the states are
//! packed, and a finished day is handed out by moving the `Vec`, not by copying entries.

use std::hash::Hash;

use hashbrown::hash_map::Entry;
use hashbrown::HashMap;

/// A group's index: at most 2^32 groups are open at once (a day of a cluster has well under
/// a million).
#[allow(
    clippy::expect_used,
    reason = "memory runs out long before 2^32 groups (each holds far more than a byte)"
)]
fn dense_index(i: usize) -> u32 {
    u32::try_from(i).expect("fewer than 2^32 open groups")
}

/// Groups keyed by `K`, each with a state `A`, stored densely (see the module docs).
#[derive(Debug)]
pub(crate) struct DenseGroups<K, A> {
    index: HashMap<K, u32>,
    entries: Vec<(K, A)>,
}

impl<K, A> Default for DenseGroups<K, A> {
    fn default() -> Self {
        Self {
            index: HashMap::new(),
            entries: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Copy, A: Default> DenseGroups<K, A> {
    /// Number of groups.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The state of `key`, created empty on first sight.
    #[cfg(test)]
    pub(crate) fn slot(&mut self, key: K) -> &mut A {
        let i = self.index(key);
        self.at(i)
    }

    /// The index of `key`'s state, created empty on first sight; valid until groups are
    /// taken or absorbed.
    #[inline]
    pub(crate) fn index(&mut self, key: K) -> u32 {
        let next = dense_index(self.entries.len());
        let i = *self.index.entry(key).or_insert(next);
        if i == next {
            self.entries.push((key, A::default()));
        }
        i
    }

    /// The state at index `i` (from [`DenseGroups::index`]).
    #[inline]
    pub(crate) fn at(&mut self, i: u32) -> &mut A {
        &mut self.entries[i as usize].1
    }

    /// Adds `key`'s state `acc`: moved in when the key is new, else combined with `merge`.
    #[inline]
    pub(crate) fn add(&mut self, key: K, acc: A, merge: impl Fn(&mut A, &A)) {
        match self.index.entry(key) {
            Entry::Vacant(v) => {
                v.insert(dense_index(self.entries.len()));
                self.entries.push((key, acc));
            }
            Entry::Occupied(o) => merge(&mut self.entries[*o.get() as usize].1, &acc),
        }
    }

    /// Adds every group of `other` (the larger of the two is kept and the smaller moved in).
    pub(crate) fn absorb(&mut self, mut other: Self, merge: impl Fn(&mut A, &A)) {
        if self.len() < other.len() {
            std::mem::swap(self, &mut other);
        }
        self.entries.reserve(other.len());
        for (key, acc) in other.entries {
            self.add(key, acc, &merge);
        }
    }

    /// The groups, in insertion order.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> &[(K, A)] {
        &self.entries
    }

    /// Removes and returns the groups whose key satisfies `take`, in insertion order. When
    /// all of them do (the usual case: one day open at a time), the storage itself is handed
    /// out and nothing is copied.
    pub(crate) fn take_where(&mut self, take: impl Fn(&K) -> bool) -> Vec<(K, A)> {
        if self.entries.iter().all(|(k, _)| take(k)) {
            self.index = HashMap::new();
            return std::mem::take(&mut self.entries);
        }
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|(k, _)| take(k));
        self.index = kept
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (*k, dense_index(i)))
            .collect();
        self.entries = kept;
        taken
    }

    /// All groups, in insertion order.
    #[cfg(test)]
    pub(crate) fn into_entries(self) -> Vec<(K, A)> {
        self.entries
    }
}

/// Gives every group a new key (`rekey` of its old one) and combines the groups that end up
/// with equal keys into the first of them (`merge`), keeping their order. No state moves
/// unless keys collide.
pub(crate) fn rekey<K: Hash + Eq + Copy, A>(
    entries: &mut Vec<(K, A)>,
    mut rekey: impl FnMut(K) -> K,
    merge: impl Fn(&mut A, &A),
) {
    let mut first: HashMap<K, u32> = HashMap::with_capacity(entries.len());
    let mut absorbed: Vec<bool> = Vec::new();
    for i in 0..entries.len() {
        let key = rekey(entries[i].0);
        entries[i].0 = key;
        match first.entry(key) {
            Entry::Vacant(v) => {
                v.insert(dense_index(i));
            }
            Entry::Occupied(o) => {
                let (head, tail) = entries.split_at_mut(i);
                merge(&mut head[*o.get() as usize].1, &tail[0].1);
                absorbed.resize(head.len() + tail.len(), false);
                absorbed[i] = true;
            }
        }
    }
    if !absorbed.is_empty() {
        let mut i = 0;
        entries.retain(|_| {
            i += 1;
            !absorbed[i - 1]
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(into: &mut u64, from: &u64) {
        *into += from;
    }

    #[test]
    fn slot_gives_one_state_per_key_in_first_seen_order() {
        let mut g: DenseGroups<(i32, u32), u64> = DenseGroups::default();
        for (k, v) in [((1, 7), 2), ((0, 3), 5), ((1, 7), 4)] {
            *g.slot(k) += v;
        }
        assert_eq!(g.entries(), &[((1, 7), 6), ((0, 3), 5)]);
    }

    #[test]
    fn absorb_merges_equal_keys_and_keeps_the_others() {
        let mut a: DenseGroups<u32, u64> = DenseGroups::default();
        let mut b: DenseGroups<u32, u64> = DenseGroups::default();
        *a.slot(1) += 10;
        for (k, v) in [(1, 1), (2, 2), (3, 3)] {
            *b.slot(k) += v;
        }
        a.absorb(b, sum);
        let mut got = a.entries().to_vec();
        got.sort_unstable();
        assert_eq!(got, vec![(1, 11), (2, 2), (3, 3)]);
        // The index still finds every key after the swap inside absorb.
        *a.slot(1) += 1;
        *a.slot(3) += 1;
        assert_eq!(a.len(), 3);
        let mut got = a.into_entries();
        got.sort_unstable();
        assert_eq!(got, vec![(1, 12), (2, 2), (3, 4)]);
    }

    #[test]
    fn rekey_combines_equal_new_keys_into_the_first_in_order() {
        let mut entries: Vec<(u32, u64)> = vec![(1, 1), (2, 10), (3, 100), (4, 1000), (5, 7)];
        // Odd keys become 1, even keys stay.
        rekey(&mut entries, |k| if k % 2 == 1 { 1 } else { k }, sum);
        assert_eq!(entries, vec![(1, 108), (2, 10), (4, 1000)]);
        let mut distinct: Vec<(u32, u64)> = vec![(3, 1), (1, 2)];
        rekey(&mut distinct, |k| k * 10, sum);
        assert_eq!(distinct, vec![(30, 1), (10, 2)]);
    }

    #[test]
    fn take_where_splits_and_the_rest_stays_findable() {
        let mut g: DenseGroups<(i32, u32), u64> = DenseGroups::default();
        for (k, v) in [((1, 1), 1), ((2, 1), 2), ((1, 2), 3), ((3, 1), 4)] {
            *g.slot(k) += v;
        }
        let taken = g.take_where(|k| k.0 <= 1);
        assert_eq!(taken, vec![((1, 1), 1), ((1, 2), 3)]);
        *g.slot((3, 1)) += 10;
        *g.slot((1, 1)) += 7; // a new group again
        assert_eq!(g.entries(), &[((2, 1), 2), ((3, 1), 14), ((1, 1), 7)]);
        let all = g.take_where(|_| true);
        assert_eq!(all.len(), 3);
        assert_eq!(g.len(), 0);
        *g.slot((5, 5)) += 1;
        assert_eq!(g.entries(), &[((5, 5), 1)]);
    }
}
