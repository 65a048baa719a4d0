//! The user ids of one date seen so far, so a second row of a user is an error.
//!
//! A date has up to millions of users; a `HashSet<String>` cost an allocation and a
//! SipHash per user and was the slowest serial step of scoring a million users. Here the
//! ids stay in the Arrow arrays they came in (cheap reference-counted clones) and a hash
//! table holds only a 64-bit hash and the position of each id; a hash match is confirmed by
//! comparing the ids themselves, so two different ids that share a hash are still two
//! users.

use std::hash::BuildHasher;

use arrow::array::{Array, StringArray};
use hashbrown::HashTable;

/// Where an id is: (hash, array, row).
type Entry = (u64, u32, u32);

/// A set of trimmed user ids, backed by the arrays they were read from.
#[derive(Debug, Default)]
pub(crate) struct SeenUsers {
    arrays: Vec<StringArray>,
    table: HashTable<Entry>,
}

/// A fixed hash, so scoring behaves the same on every run.
fn hash(id: &str) -> u64 {
    std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
        .hash_one(id)
}

impl SeenUsers {
    /// An empty set.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Number of distinct ids.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the (trimmed) id was seen.
    pub(crate) fn contains(&self, id: &str) -> bool {
        let id = id.trim();
        let h = hash(id);
        self.table
            .find(h, |e| e.0 == h && id_at(&self.arrays, e) == id)
            .is_some()
    }

    /// Adds every id of `users`. Stops at the first null (`Err(Missing(row))`) or the first
    /// id already seen, in this array or an earlier one (`Err(Repeated(id))`); ids before it
    /// stay added.
    pub(crate) fn extend(&mut self, users: &StringArray) -> Result<(), Rejected> {
        let at = self.arrays.len() as u32;
        self.arrays.push(users.clone());
        self.table.reserve(users.len(), |e| e.0);
        for row in 0..users.len() {
            if users.is_null(row) {
                return Err(Rejected::Missing(row));
            }
            let id = users.value(row).trim();
            let h = hash(id);
            let Self { arrays, table } = self;
            if table
                .find(h, |e| e.0 == h && id_at(arrays, e) == id)
                .is_some()
            {
                return Err(Rejected::Repeated(id.to_string()));
            }
            table.insert_unique(h, (h, at, row as u32), |e| e.0);
        }
        Ok(())
    }
}

/// The (trimmed) id an entry points at.
fn id_at<'a>(arrays: &'a [StringArray], e: &Entry) -> &'a str {
    arrays[e.1 as usize].value(e.2 as usize).trim()
}

/// Why an array of ids was not taken whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// A null id at this row of the array.
    Missing(usize),
    /// This id was seen before.
    Repeated(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_repeats_within_and_across_arrays_after_trimming() {
        let mut seen = SeenUsers::new();
        assert_eq!(
            seen.extend(&StringArray::from(vec!["a", "b", " c"])),
            Ok(())
        );
        assert_eq!(seen.len(), 3);
        assert!(seen.contains("c") && seen.contains(" a ") && !seen.contains("d"));
        assert_eq!(
            seen.extend(&StringArray::from(vec!["d", "c "])),
            Err(Rejected::Repeated("c".into()))
        );
        let mut within = SeenUsers::new();
        assert_eq!(
            within.extend(&StringArray::from(vec!["x", "y", "x"])),
            Err(Rejected::Repeated("x".into()))
        );
        assert_eq!(
            SeenUsers::new().extend(&StringArray::from(vec![Some("x"), None])),
            Err(Rejected::Missing(1))
        );
    }

    #[test]
    fn many_ids_stay_distinct() {
        let mut seen = SeenUsers::new();
        let ids: Vec<String> = (0..50_000).map(|i| format!("u{i:07}")).collect();
        for chunk in ids.chunks(4096) {
            seen.extend(&StringArray::from_iter_values(chunk)).unwrap();
        }
        assert_eq!(seen.len(), ids.len());
        assert!(ids.iter().step_by(997).all(|id| seen.contains(id)));
        assert!(!seen.contains("u9999999"));
    }
}
