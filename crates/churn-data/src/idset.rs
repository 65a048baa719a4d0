//! A set of 64-bit ids that stays small for the dense, positive ids real event tables have:
//! a bitmap over [0, 2^31) grown on demand, and a hash set for everything else.

use std::collections::HashSet;

const BITMAP_LIMIT: i64 = 1 << 31;

/// Remembers which ids were seen.
#[derive(Debug, Default, Clone)]
pub struct IdSet {
    bits: Vec<u64>,
    others: HashSet<i64>,
}

impl IdSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts `id`; returns false when it was already present.
    pub fn insert(&mut self, id: i64) -> bool {
        if (0..BITMAP_LIMIT).contains(&id) {
            let word = (id >> 6) as usize;
            if word >= self.bits.len() {
                let grow = (word + 1)
                    .max(self.bits.len() * 2)
                    .min((BITMAP_LIMIT >> 6) as usize);
                self.bits.resize(grow, 0);
            }
            let mask = 1u64 << (id & 63);
            let fresh = self.bits[word] & mask == 0;
            self.bits[word] |= mask;
            fresh
        } else {
            self.others.insert(id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IdSet;

    #[test]
    fn detects_repeats_in_and_out_of_the_bitmap() {
        let mut s = IdSet::new();
        for id in [0, 1, 63, 64, 1_000_000, -5, i64::MAX] {
            assert!(s.insert(id), "{id} is new");
        }
        for id in [0, 1, 63, 64, 1_000_000, -5, i64::MAX] {
            assert!(!s.insert(id), "{id} was seen");
        }
        assert!(s.insert(2));
    }
}
