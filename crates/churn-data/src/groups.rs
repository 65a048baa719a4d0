//! Streams of user-day rows cut into chunks of whole users, checking on the way that rows are
//! grouped by user, dated in strictly increasing order within a user, and keyed by non-null
//! (user_id, as_of_date). Every per-user stage (features, labels, training set) reads
//! through this, so each sees complete users while memory stays bounded by the chunk size.

use std::collections::HashSet;

use arrow::array::{Array, Date32Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;

use crate::schema::user_daily;
use crate::{Error, Result};

/// Rows of whole users: `starts[i]..starts[i + 1]` are the rows of the i-th user.
#[derive(Debug, Clone)]
pub struct UserChunk {
    /// The rows, user_id as text and as_of_date as a date.
    pub batch: RecordBatch,
    /// Row offsets where each user starts, plus the total row count at the end.
    pub starts: Vec<usize>,
}

impl UserChunk {
    /// Number of users in the chunk.
    pub fn users(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }
    /// The as_of_date column (days since the epoch).
    pub fn dates(&self) -> &Date32Array {
        self.batch
            .column_by_name(user_daily::AS_OF_DATE)
            .and_then(|c| c.as_any().downcast_ref::<Date32Array>())
            .expect("grouping checked the as_of_date column")
    }
    /// The user_id column.
    pub fn user_ids(&self) -> &StringArray {
        self.batch
            .column_by_name(user_daily::USER_ID)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .expect("grouping checked the user_id column")
    }
}

/// Cuts a stream of batches into [`UserChunk`]s of at least `min_rows` rows (except the last).
pub struct UserGroups<I> {
    source: String,
    input: I,
    schema: Option<SchemaRef>,
    min_rows: usize,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    /// 64-bit hashes of the users already closed: 8 bytes a user instead of the id.
    finished: HashSet<u64>,
    last: Option<(String, i32)>,
    rows_seen: u64,
    done: bool,
}

impl<I> std::fmt::Debug for UserGroups<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserGroups")
            .field("source", &self.source)
            .finish()
    }
}

impl<I: Iterator<Item = Result<RecordBatch>>> UserGroups<I> {
    /// Groups `input`; `source` names the input in errors.
    pub fn new(source: impl Into<String>, input: I, min_rows: usize) -> Self {
        Self {
            source: source.into(),
            input,
            schema: None,
            min_rows: min_rows.max(1),
            pending: Vec::new(),
            pending_rows: 0,
            finished: HashSet::new(),
            last: None,
            rows_seen: 0,
            done: false,
        }
    }

    fn check(&mut self, batch: &RecordBatch) -> Result<()> {
        let col = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| {
                Error::invalid(&self.source, name, "required column is missing", vec![])
            })
        };
        let ids = col(user_daily::USER_ID)?;
        let dates = col(user_daily::AS_OF_DATE)?;
        let ids = ids.as_any().downcast_ref::<StringArray>().ok_or_else(|| {
            Error::invalid(
                &self.source,
                user_daily::USER_ID,
                "must be text (read through canonicalize)",
                vec![],
            )
        })?;
        let dates = dates
            .as_any()
            .downcast_ref::<Date32Array>()
            .ok_or_else(|| {
                Error::invalid(
                    &self.source,
                    user_daily::AS_OF_DATE,
                    "must be a date (read through canonicalize)",
                    vec![],
                )
            })?;
        for r in 0..batch.num_rows() {
            let row = self.rows_seen + r as u64 + 1;
            if ids.is_null(r) || dates.is_null(r) {
                let column = if ids.is_null(r) {
                    user_daily::USER_ID
                } else {
                    user_daily::AS_OF_DATE
                };
                return Err(Error::invalid(
                    &self.source,
                    column,
                    "must not be null",
                    vec![format!("row {row}")],
                ));
            }
            let (id, date) = (ids.value(r), dates.value(r));
            match &mut self.last {
                Some((prev, prev_date)) if prev == id => {
                    if date == *prev_date {
                        return Err(Error::invalid(
                            &self.source,
                            "user_id, as_of_date",
                            "(user_id, as_of_date) must be unique",
                            vec![format!(
                                "row {row}: {id} {}",
                                crate::days::display(i64::from(date))
                            )],
                        ));
                    }
                    if date < *prev_date {
                        return Err(Error::invalid(
                            &self.source,
                            user_daily::AS_OF_DATE,
                            "rows must be sorted by as_of_date within each user",
                            vec![format!(
                                "row {row}: {id} {} after {}",
                                crate::days::display(i64::from(date)),
                                crate::days::display(i64::from(*prev_date))
                            )],
                        ));
                    }
                    *prev_date = date;
                }
                _ => {
                    if let Some((prev, _)) = self.last.take() {
                        self.finished.insert(id_hash(&prev));
                    }
                    if self.finished.contains(&id_hash(id)) {
                        return Err(Error::invalid(
                            &self.source,
                            user_daily::USER_ID,
                            "rows must be grouped by user (each user's rows contiguous)",
                            vec![format!("row {row}: {id} appears again")],
                        ));
                    }
                    self.last = Some((id.to_string(), date));
                }
            }
        }
        self.rows_seen += batch.num_rows() as u64;
        Ok(())
    }

    fn emit(&mut self, upto_last_user: bool) -> Result<Option<UserChunk>> {
        let Some(schema) = self.schema.clone() else {
            return Ok(None);
        };
        if self.pending_rows == 0 {
            return Ok(None);
        }
        let all = concat_batches(&schema, &self.pending)
            .map_err(|e| Error::arrow("grouping user rows", e))?;
        self.pending.clear();
        self.pending_rows = 0;
        let ids = all
            .column_by_name(user_daily::USER_ID)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .expect("checked above");
        let mut starts = vec![0];
        for r in 1..all.num_rows() {
            if ids.value(r) != ids.value(r - 1) {
                starts.push(r);
            }
        }
        // Keep the last (possibly incomplete) user for the next chunk unless the input ended.
        let cut = if upto_last_user {
            all.num_rows()
        } else {
            *starts.last().expect("starts has 0")
        };
        if !upto_last_user {
            starts.pop();
        }
        if cut < all.num_rows() {
            let rest = all.slice(cut, all.num_rows() - cut);
            self.pending_rows = rest.num_rows();
            self.pending.push(rest);
        }
        if cut == 0 {
            return Ok(None);
        }
        starts.push(cut);
        Ok(Some(UserChunk {
            batch: all.slice(0, cut),
            starts,
        }))
    }
}

impl<I: Iterator<Item = Result<RecordBatch>>> Iterator for UserGroups<I> {
    type Item = Result<UserChunk>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match self.input.next() {
                Some(Ok(batch)) => {
                    if let Err(e) = self.check(&batch) {
                        self.done = true;
                        return Some(Err(e));
                    }
                    self.schema.get_or_insert_with(|| batch.schema());
                    self.pending_rows += batch.num_rows();
                    self.pending.push(batch);
                    if self.pending_rows >= self.min_rows {
                        match self.emit(false) {
                            Ok(Some(chunk)) => return Some(Ok(chunk)),
                            Ok(None) => continue,
                            Err(e) => {
                                self.done = true;
                                return Some(Err(e));
                            }
                        }
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                None => {
                    self.done = true;
                    return self.emit(true).transpose();
                }
            }
        }
    }
}

/// A fixed (unseeded) 64-bit hash, so the check behaves the same on every run.
fn id_hash(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}
