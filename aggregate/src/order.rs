//! The output order of summary rows (README "How it works", row order).

use std::cmp::Ordering;
use std::sync::Arc;

use hashbrown::HashMap;

use crate::output::{DataSource, SummaryRow};

/// Output order: day, data source (Pod before Storage), namespace (null first), node,
/// resource_id, pod labels (null first, so a node's unallocated row precedes a Pod row of the
/// same namespace), volume labels, then the claim: persistent volume claim, volume, storage
/// class and CSI volume handle.
///
/// This is a total order on what tells rows apart: Pod rows are unique per (day, namespace,
/// node, labels), unallocated rows per (day, node) and Storage rows per their full grouping
/// key, so the output is the same on every run.
pub(crate) fn row_order(a: &SummaryRow, b: &SummaryRow) -> Ordering {
    type Text<'a> = &'a Option<Arc<str>>;
    fn key(r: &SummaryRow) -> (i32, DataSource, Text<'_>, Text<'_>, Text<'_>) {
        (r.day, r.data_source, &r.namespace, &r.node, &r.resource_id)
    }
    fn claim(r: &SummaryRow) -> [Text<'_>; 4] {
        let s = &r.storage;
        [
            &s.persistentvolumeclaim,
            &s.persistentvolume,
            &s.storageclass,
            &s.csi_volume_handle,
        ]
    }
    key(a)
        .cmp(&key(b))
        .then_with(|| a.pod_labels.cmp(&b.pod_labels))
        .then_with(|| a.volume_labels.cmp(&b.volume_labels))
        .then_with(|| claim(a).cmp(&claim(b)))
}

/// Sorts rows by [`row_order`] without comparing text in the sort itself.
///
/// Rows are wide (about 500 bytes) and their keys are text, so a plain `sort_by` spends most of
/// its time moving rows and comparing strings. Instead, each distinct string (told apart by
/// its allocation: rows share the aggregate's interned `Arc<str>`s) is ranked once by content,
/// each row gets a fixed-size integer key, and only `u32` indices are sorted.
pub(crate) fn sort_rows(rows: &mut [SummaryRow]) {
    const FIELDS: usize = 9;
    fn texts(r: &SummaryRow) -> [&Option<Arc<str>>; FIELDS] {
        let s = &r.storage;
        [
            &r.namespace,
            &r.node,
            &r.resource_id,
            &r.pod_labels,
            &r.volume_labels,
            &s.persistentvolumeclaim,
            &s.persistentvolume,
            &s.storageclass,
            &s.csi_volume_handle,
        ]
    }
    let order: Vec<u32> = {
        // Provisional id per distinct allocation, then a rank per distinct content.
        let mut ids: HashMap<(usize, usize), u32> = HashMap::new();
        let mut distinct: Vec<&str> = Vec::new();
        let mut keys: Vec<(i32, DataSource, [u32; FIELDS])> = Vec::with_capacity(rows.len());
        for r in rows.iter() {
            let mut key = [0u32; FIELDS];
            for (slot, text) in key.iter_mut().zip(texts(r)) {
                if let Some(t) = text {
                    let id = *ids
                        .entry((t.as_ptr() as usize, t.len()))
                        .or_insert_with(|| {
                            distinct.push(t);
                            (distinct.len() - 1) as u32
                        });
                    *slot = id;
                } else {
                    *slot = u32::MAX;
                }
            }
            keys.push((r.day, r.data_source, key));
        }
        let mut by_text: Vec<u32> = (0..distinct.len() as u32).collect();
        by_text.sort_unstable_by_key(|&i| distinct[i as usize]);
        // Null sorts first (rank 0); equal texts in different allocations share a rank.
        let mut rank = vec![0u32; distinct.len()];
        let mut next = 0u32;
        for (n, &i) in by_text.iter().enumerate() {
            if n == 0 || distinct[by_text[n - 1] as usize] != distinct[i as usize] {
                next += 1;
            }
            rank[i as usize] = next;
        }
        for (_, _, key) in &mut keys {
            for slot in key.iter_mut() {
                *slot = if *slot == u32::MAX {
                    0
                } else {
                    rank[*slot as usize]
                };
            }
        }
        let mut order: Vec<u32> = (0..rows.len() as u32).collect();
        order.sort_unstable_by_key(|&i| keys[i as usize]);
        order
    };
    // Apply the permutation in place, cycle by cycle: no second copy of the rows.
    let mut order = order;
    for start in 0..order.len() {
        let mut at = start;
        loop {
            let from = order[at] as usize;
            order[at] = at as u32; // placed
            if from == start || from == at {
                break;
            }
            rows.swap(at, from);
            at = from;
        }
    }
    debug_assert!(rows.windows(2).all(|w| row_order(&w[0], &w[1]).is_le()));
}
