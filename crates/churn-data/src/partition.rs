//! Hash partitions of users, so that N copies of the per-user stages (prepare, features,
//! labels, training set) can each take one share of the users, for example as the N pods
//! of a Kubernetes Indexed Job over shared storage.
//!
//! A user belongs to partition `hash(user_id) mod N`, where the hash is 64-bit FNV-1a of
//! the id's UTF-8 bytes (the id as the user-day table writes it: trimmed text; an integer
//! id in its decimal form) followed by the splitmix64 finaliser. It is fixed: the same id
//! falls in the same partition on every machine and in every version, so the parts of one
//! run can be written by different machines at different times.
//!
//! A partitioned stage writes the part `i` of `N` of a table `T` to the file
//! `T/part-0000i-of-0000N.<ext>`: the table becomes a folder named like the file it
//! replaces. Readers of a table accept such a folder as one table (see
//! [`crate::io::data_files`]) once every part `0..N` of one `N` is there, so `churn train`,
//! `churn score` and `churn monitor` read every part without knowing about partitions.
//!
//! ```
//! use churn_data::partition::Partition;
//! use std::path::Path;
//!
//! let p: Partition = "2/4".parse()?;
//! assert_eq!(p.index(), 2);
//! assert_eq!(
//!     p.part_path(Path::new("data/processed/user_daily.parquet")),
//!     Path::new("data/processed/user_daily.parquet/part-00002-of-00004.parquet"),
//! );
//! // Every user is in exactly one partition.
//! let owners = (0..4).filter(|&i| Partition::new(i, 4).unwrap().contains("u0000042")).count();
//! assert_eq!(owners, 1);
//! # Ok::<(), churn_data::Error>(())
//! ```

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::{Error, Result};

/// The most partitions a run may be split into (part names have five digits).
pub const MAX_PARTITIONS: u32 = 99_999;

/// One of `count` hash partitions of the users: `index` in `0..count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Partition {
    index: u32,
    count: u32,
}

impl Partition {
    /// Partition `index` of `count`; an error unless `1 <= count <= MAX_PARTITIONS` and
    /// `index < count`.
    pub fn new(index: u32, count: u32) -> Result<Self> {
        let bad = |message: String| Error::Partition {
            given: format!("{index}/{count}"),
            message,
        };
        if count == 0 || count > MAX_PARTITIONS {
            return Err(bad(format!(
                "the number of partitions N in i/N must be 1..={MAX_PARTITIONS}"
            )));
        }
        if index >= count {
            return Err(bad(format!(
                "the partition i in i/N counts from 0, so it must be below N ({count})"
            )));
        }
        Ok(Self { index, count })
    }

    /// This partition's number, from 0.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The number of partitions.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The partition a user id belongs to, among `count` (at least 1).
    pub fn of(user_id: &str, count: u32) -> u32 {
        (user_hash(user_id) % u64::from(count.max(1))) as u32
    }

    /// Whether the user belongs to this partition.
    pub fn contains(&self, user_id: &str) -> bool {
        Self::of(user_id, self.count) == self.index
    }

    /// The file this partition writes for the table at `table`:
    /// `table/part-IIIII-of-NNNNN.<table's extension>`.
    pub fn part_path(&self, table: &Path) -> PathBuf {
        let ext = table
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        table.join(format!("part-{:05}-of-{:05}{ext}", self.index, self.count))
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Partition {
    type Err = Error;

    /// Reads `i/N`, for example `0/16` (the first of 16).
    fn from_str(s: &str) -> Result<Self> {
        let parsed = s
            .split_once('/')
            .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((i, n)) => Self::new(i, n),
            None => Err(Error::Partition {
                given: s.to_string(),
                message: "a partition is written i/N: the partition i (from 0) of N, e.g. 0/16"
                    .into(),
            }),
        }
    }
}

/// The stable hash of a user id: FNV-1a 64 of its bytes, then the splitmix64 finaliser
/// (FNV-1a alone leaves the bits of short, similar ids alike).
fn user_hash(user_id: &str) -> u64 {
    crate::hash::mix64(crate::hash::Fnv1a::of(user_id.as_bytes()))
}

/// `(i, N)` when a file name is a part written by [`Partition::part_path`].
pub fn part_of(file_name: &str) -> Option<(u32, u32)> {
    let rest = file_name.strip_prefix("part-")?;
    let (i, rest) = rest.split_once("-of-")?;
    let n = rest.split('.').next()?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(i) || !digits(n) {
        return None;
    }
    Some((i.parse().ok()?, n.parse().ok()?))
}

/// Checks that the data files of the folder `table` that are parts (see [`part_of`]) make
/// one complete set: all of one `N`, every part `0..N` present. A folder of parts written by
/// partitioned runs is read as one table only when it is whole, so a stage never reads a
/// share of the users as if it were all of them. Files that are not parts are left alone
/// (an export's own names).
pub fn check_parts(table: &Path, files: &[PathBuf]) -> Result<()> {
    let parts: Vec<(u32, u32, &PathBuf)> = files
        .iter()
        .filter(|f| f.parent() == Some(table))
        .filter_map(|f| {
            let (i, n) = part_of(&f.file_name()?.to_string_lossy())?;
            Some((i, n, f))
        })
        .collect();
    let Some(&(_, n, first)) = parts.first() else {
        return Ok(());
    };
    let folder_error = |message: String| Error::Folder {
        path: table.to_path_buf(),
        message,
    };
    if let Some((_, other, file)) = parts.iter().find(|(_, m, _)| *m != n) {
        return Err(folder_error(format!(
            "holds parts of {n} and of {other} partitions ({} and {}): parts of two \
             partitioned runs; remove the folder and run every partition again",
            first.display(),
            file.display()
        )));
    }
    let mut have = vec![false; n as usize];
    for &(i, _, _) in &parts {
        if let Some(slot) = have.get_mut(i as usize) {
            *slot = true;
        }
    }
    let missing: Vec<String> = (0..n)
        .filter(|&i| !have[i as usize])
        .map(|i| format!("{i}/{n}"))
        .collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
        return Err(folder_error(format!(
            "{} of {n} partition parts are missing ({}{}): a partitioned run has not \
             finished every partition; run the missing ones (--partition i/{n}) before \
             reading the whole table",
            missing.len(),
            shown.join(", "),
            if missing.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_i_of_n_and_rejects_the_rest() {
        assert_eq!(
            "3/16".parse::<Partition>().unwrap(),
            Partition::new(3, 16).unwrap()
        );
        assert_eq!(" 0 / 1 ".parse::<Partition>().unwrap().to_string(), "0/1");
        for bad in ["16/16", "0/0", "1", "a/b", "-1/4", "1/100000", ""] {
            let e = bad.parse::<Partition>().unwrap_err().to_string();
            assert!(e.starts_with("partition `"), "{bad}: {e}");
        }
        let e = "4/4".parse::<Partition>().unwrap_err().to_string();
        assert!(e.contains("below N (4)") && e.contains("`4/4`"), "{e}");
    }

    #[test]
    fn the_hash_is_fixed() {
        // Parts written by different versions must agree: these values may never change.
        assert_eq!(user_hash(""), 0xf52a_15e9_a9b5_e89b);
        let ids = ["u0000001", "u0000002", "u0000003", "42", "alice"];
        let got: Vec<u32> = ids.iter().map(|id| Partition::of(id, 16)).collect();
        assert_eq!(got, [13, 2, 7, 2, 12]);
    }

    #[test]
    fn users_spread_evenly() {
        let n = 8;
        let mut counts = vec![0u32; n as usize];
        for u in 0..80_000 {
            counts[Partition::of(&format!("u{u:07}"), n) as usize] += 1;
        }
        for c in counts {
            assert!((9_500..=10_500).contains(&c), "{c}");
        }
    }

    #[test]
    fn part_names_round_trip() {
        let p = Partition::new(7, 12).unwrap();
        let path = p.part_path(Path::new("t.csv"));
        assert_eq!(path, Path::new("t.csv/part-00007-of-00012.csv"));
        assert_eq!(
            part_of(&path.file_name().unwrap().to_string_lossy()),
            Some((7, 12))
        );
        assert_eq!(part_of("part-0.parquet"), None);
        assert_eq!(part_of("part-00001-of-2.parquet"), None);
    }

    #[test]
    fn a_folder_of_parts_must_be_whole() {
        let t = Path::new("t.parquet");
        let files = |names: &[&str]| names.iter().map(|n| t.join(n)).collect::<Vec<_>>();
        check_parts(
            t,
            &files(&["part-00000-of-00002.parquet", "part-00001-of-00002.parquet"]),
        )
        .unwrap();
        // Not parts at all: an export's own names.
        check_parts(t, &files(&["a.parquet", "b.parquet"])).unwrap();
        let e = check_parts(t, &files(&["part-00001-of-00003.parquet"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 of 3") && e.contains("0/3, 2/3"), "{e}");
        let e = check_parts(
            t,
            &files(&["part-00000-of-00001.parquet", "part-00000-of-00002.parquet"]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("of 1 and of 2 partitions"), "{e}");
    }
}
