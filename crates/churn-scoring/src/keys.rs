//! Keys-only scoring input: rows of (user_id, as_of_date) and nothing else the model needs.
//!
//! Every key is checked (present, parseable, unique), and its row number is kept so each
//! result can be traced back to the key it answers.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::Date32Type;
use chrono::NaiveDate;
use churn_data::io::DEFAULT_BATCH_SIZE;
use churn_data::schema::user_daily as ud;

use crate::error::{Error, Result};
use crate::table::{FeatureTable, IdColumns, date, days};

/// Requested keys, grouped by date.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    source: PathBuf,
    by_date: BTreeMap<i32, HashMap<String, usize>>,
    rows: usize,
}

impl KeySet {
    /// Reads a keys file (CSV or Parquet) whose key columns are named by `ids`.
    pub fn read(path: &Path, ids: IdColumns) -> Result<Self> {
        let table = FeatureTable::open(path, ids)?;
        let mut set = Self {
            source: path.to_path_buf(),
            ..Self::default()
        };
        let mut duplicates = Vec::new();
        let mut nulls = Vec::new();
        for batch in table.read(&[ud::USER_ID, ud::AS_OF_DATE], DEFAULT_BATCH_SIZE)? {
            let batch = batch?;
            let users = batch.column(0).as_string::<i32>();
            let dates = batch.column(1).as_primitive::<Date32Type>();
            for i in 0..batch.num_rows() {
                let row = set.rows + 1;
                set.rows += 1;
                if users.is_null(i) || dates.is_null(i) || users.value(i).trim().is_empty() {
                    nulls.push(format!("row {row}"));
                    continue;
                }
                let user = users.value(i).trim().to_string();
                let day = dates.value(i);
                if set
                    .by_date
                    .entry(day)
                    .or_default()
                    .insert(user.clone(), row - 1)
                    .is_some()
                {
                    duplicates.push(format!("{user} {} (row {row})", date(day)));
                }
            }
        }
        let check = |bad: Vec<String>, column: &str, rule: &str| -> Result<()> {
            if bad.is_empty() {
                return Ok(());
            }
            Err(Error::Input {
                path: path.to_path_buf(),
                column: column.to_string(),
                rule: format!("{} {rule}", bad.len()),
                examples: bad.into_iter().take(3).collect(),
            })
        };
        if set.rows == 0 {
            return Err(Error::Input {
                path: path.to_path_buf(),
                column: ud::USER_ID.into(),
                rule: "the keys file has no rows; give at least one (user_id, as_of_date)".into(),
                examples: vec![],
            });
        }
        check(nulls, ud::USER_ID, "rows with a missing key")?;
        check(
            duplicates,
            ud::USER_ID,
            "duplicate (user_id, as_of_date) keys",
        )?;
        Ok(set)
    }

    /// Keys given in memory, in order.
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = (&'a str, NaiveDate)>) -> Result<Self> {
        let mut set = Self {
            source: PathBuf::from("<keys>"),
            ..Self::default()
        };
        for (user, d) in keys {
            let row = set.rows;
            set.rows += 1;
            if set
                .by_date
                .entry(days(d))
                .or_default()
                .insert(user.to_string(), row)
                .is_some()
            {
                return Err(Error::Input {
                    path: set.source.clone(),
                    column: ud::USER_ID.into(),
                    rule: "duplicate (user_id, as_of_date) key".into(),
                    examples: vec![format!("{user} {d}")],
                });
            }
        }
        Ok(set)
    }

    /// Where the keys came from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.by_date.values().map(HashMap::len).sum()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dates asked for, in order.
    pub fn dates(&self) -> Vec<NaiveDate> {
        self.by_date.keys().map(|&d| date(d)).collect()
    }

    /// The users asked for on one date, with their row in the keys file.
    pub fn users_on(&self, d: NaiveDate) -> Option<&HashMap<String, usize>> {
        self.by_date.get(&days(d))
    }
}
