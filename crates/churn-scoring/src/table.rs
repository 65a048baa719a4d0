//! The feature table a model looks its features up in: its columns, its date range, and
//! a stream of the rows of one date, keys in canonical form (user_id text, as_of_date date).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use churn_data::io::{DEFAULT_BATCH_SIZE, TableReader, parquet_date_range};
use churn_data::schema::predictions::FORBIDDEN_INPUT;
use churn_data::schema::user_daily as ud;

use crate::error::{Error, Result};

/// Days since 1970-01-01 of a date.
pub fn days(date: NaiveDate) -> i32 {
    churn_data::days::day_of(date)
}

/// The date `days` after 1970-01-01 (see [`churn_data::days::date_saturating`]: tables are
/// read through a reader that rejects days outside 0001..=9999).
pub fn date(days: i32) -> NaiveDate {
    churn_data::days::date_saturating(days)
}

/// The names of the two key columns in a table (default `user_id`, `as_of_date`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdColumns {
    /// The user id column.
    pub user: String,
    /// The date column.
    pub date: String,
}

impl Default for IdColumns {
    fn default() -> Self {
        Self {
            user: ud::USER_ID.into(),
            date: ud::AS_OF_DATE.into(),
        }
    }
}

impl IdColumns {
    /// From a `[user, date]` list, as plans write them.
    pub fn from_list(columns: &[String]) -> Result<Self> {
        match columns {
            [user, date] => Ok(Self {
                user: user.clone(),
                date: date.clone(),
            }),
            _ => Err(Error::Params(format!(
                "id_columns must name exactly two columns, the user id and the date (got {columns:?})"
            ))),
        }
    }

    fn canonical(&self, name: &str) -> String {
        if name == self.user {
            ud::USER_ID.to_string()
        } else if name == self.date {
            ud::AS_OF_DATE.to_string()
        } else {
            name.to_string()
        }
    }
}

/// A feature table: a Parquet or CSV file, or record batches a service holds in memory.
#[derive(Debug, Clone)]
pub struct FeatureTable {
    /// The file, or the name given to batches in memory (shown in messages).
    path: PathBuf,
    ids: IdColumns,
    /// The schema with canonical key names.
    schema: SchemaRef,
    /// The schema as the file (or the batches) has it.
    raw: SchemaRef,
    /// The batches of a table in memory; `None` for a file.
    memory: Option<Arc<[RecordBatch]>>,
}

impl FeatureTable {
    /// Opens a table, checking that it has both key columns and no prediction columns.
    pub fn open(path: &Path, ids: IdColumns) -> Result<Self> {
        let reader = TableReader::open(path, None, 1)?;
        Self::with_schema(path, reader.schema(), ids, None)
    }

    /// A table of record batches held in memory (features a service computed or fetched
    /// itself), checked as [`FeatureTable::open`] checks a file; every batch must have
    /// `schema`. `name` stands for the table in messages (say, `features of request 42`).
    /// Scoring it is scoring a file with the same rows: keys are matched the same way,
    /// user ids of any integer or text type, dates as dates or `YYYY-MM-DD` text.
    pub fn from_batches(
        name: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        ids: IdColumns,
    ) -> Result<Self> {
        if let Some((i, b)) = batches
            .iter()
            .enumerate()
            .find(|(_, b)| b.schema().fields() != schema.fields())
        {
            return Err(Error::Params(format!(
                "{name}: every batch must have the table's schema; batch {} has columns \
                 {:?}, the schema {:?}",
                i + 1,
                b.schema().fields(),
                schema.fields()
            )));
        }
        Self::with_schema(Path::new(name), schema, ids, Some(batches.into()))
    }

    fn with_schema(
        path: &Path,
        raw: SchemaRef,
        ids: IdColumns,
        memory: Option<Arc<[RecordBatch]>>,
    ) -> Result<Self> {
        for key in [&ids.user, &ids.date] {
            if raw.field_with_name(key).is_err() {
                return Err(Error::Input {
                    path: path.to_path_buf(),
                    column: key.clone(),
                    rule: format!(
                        "key column missing ({})",
                        churn_data::canonical::columns_present(&raw)
                    ),
                    examples: vec![],
                });
            }
        }
        reject_prediction_columns(path, &raw)?;
        let schema = Arc::new(Schema::new(
            raw.fields()
                .iter()
                .map(|f| f.as_ref().clone().with_name(ids.canonical(f.name())))
                .collect::<Vec<Field>>(),
        ));
        Ok(Self {
            path: path.to_path_buf(),
            ids,
            schema,
            raw,
            memory,
        })
    }

    /// The file, or the name of a table in memory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema, with the key columns named `user_id` and `as_of_date`.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// First and last as_of_date: from Parquet statistics when present, else by reading the
    /// date column. `None` for an empty table.
    pub fn date_range(&self) -> Result<Option<(NaiveDate, NaiveDate)>> {
        if self.memory.is_none()
            && let Some((lo, hi)) = parquet_date_range(&self.path, &self.ids.date)
        {
            return Ok(Some((date(lo), date(hi))));
        }
        let mut range: Option<(i32, i32)> = None;
        for batch in self.read(&[ud::AS_OF_DATE], DEFAULT_BATCH_SIZE)? {
            let batch = batch?;
            let dates = batch.column(0).as_primitive::<Date32Type>();
            if let (Some(lo), Some(hi)) = (arrow::compute::min(dates), arrow::compute::max(dates)) {
                range = Some(match range {
                    Some((a, b)) => (a.min(lo), b.max(hi)),
                    None => (lo, hi),
                });
            }
        }
        Ok(range.map(|(lo, hi)| (date(lo), date(hi))))
    }

    /// About how many rows one date holds: the rows (from the Parquet footers) over the
    /// days of the date range; `None` when the footers do not say (CSV, rows in memory).
    pub fn rows_per_date(&self) -> Option<u64> {
        if self.memory.is_some() {
            return None;
        }
        let rows = churn_data::io::parquet_row_count(&self.path)?;
        let (lo, hi) = parquet_date_range(&self.path, &self.ids.date)?;
        Some(rows.div_ceil(u64::try_from(hi - lo).ok()? + 1))
    }

    /// The date to read: `date` when the table covers it (an error listing the table's range
    /// otherwise), else the table's last date (an error when the table has no rows). A
    /// date given for a table without rows is returned as it is: reading finds nothing.
    pub fn date_or_latest(&self, date: Option<NaiveDate>) -> Result<NaiveDate> {
        self.pick_date(self.date_range()?, date)
    }

    /// Every date from `from` (default: the last) through `to` (default: `from`), each
    /// checked as [`FeatureTable::date_or_latest`] checks one, with one lookup of the
    /// table's range (a CSV table is scanned for it).
    pub fn dates_through(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<NaiveDate>> {
        let range = self.date_range()?;
        let first = self.pick_date(range, from)?;
        let last = match to {
            Some(to) => self.pick_date(range, Some(to))?,
            None => first,
        };
        Ok(first.iter_days().take_while(|d| *d <= last).collect())
    }

    fn pick_date(
        &self,
        range: Option<(NaiveDate, NaiveDate)>,
        date: Option<NaiveDate>,
    ) -> Result<NaiveDate> {
        match (range, date) {
            (Some((first, last)), Some(d)) if d < first || d > last => Err(Error::UnknownDate {
                path: self.path.clone(),
                date: d,
                first,
                last,
            }),
            (_, Some(d)) => Ok(d),
            (Some((_, last)), None) => Ok(last),
            (None, None) => Err(Error::Input {
                path: self.path.clone(),
                column: ud::AS_OF_DATE.into(),
                rule: "the feature table has no rows".into(),
                examples: vec![],
            }),
        }
    }

    /// Streams the given (canonical) columns; keys come as user_id text and as_of_date
    /// dates, whatever the file stores.
    pub fn read<'a>(
        &'a self,
        columns: &[&str],
        batch_rows: usize,
    ) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>> + Send + 'a>> {
        self.read_on(columns, batch_rows, None)
    }

    /// [`FeatureTable::read`], skipping (where the file format allows) rows of other dates
    /// than `day`: a Parquet table decodes its other columns only for the day's rows. Rows
    /// of other dates may still come back; the caller filters.
    pub fn read_on<'a>(
        &'a self,
        columns: &[&str],
        batch_rows: usize,
        day: Option<NaiveDate>,
    ) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>> + Send + 'a>> {
        self.read_on_days(columns, batch_rows, day.as_slice())
    }

    /// [`FeatureTable::read_on`] for several days in one read (every row when `days` is
    /// empty).
    pub fn read_on_days<'a>(
        &'a self,
        columns: &[&str],
        batch_rows: usize,
        days_wanted: &[NaiveDate],
    ) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>> + Send + 'a>> {
        let file_names: Vec<String> = columns
            .iter()
            .map(|c| match *c {
                ud::USER_ID => self.ids.user.clone(),
                ud::AS_OF_DATE => self.ids.date.clone(),
                other => other.to_string(),
            })
            .collect();
        let refs: Vec<&str> = file_names.iter().map(String::as_str).collect();
        if let Some(batches) = &self.memory {
            let indices = refs
                .iter()
                .map(|c| {
                    self.raw.index_of(c).map_err(|_| Error::Input {
                        path: self.path.clone(),
                        column: c.to_string(),
                        rule: format!(
                            "column missing ({})",
                            churn_data::canonical::columns_present(&self.raw)
                        ),
                        examples: vec![],
                    })
                })
                .collect::<Result<Vec<usize>>>()?;
            return Ok(Box::new(batches.iter().map(move |b| {
                let projected = b
                    .project(&indices)
                    .map_err(|e| Error::arrow(format!("{}: columns", self.path.display()), e))?;
                self.canonical_batch(projected)
            })));
        }
        // The latest-date snapshot written beside the table, when it holds exactly this
        // day and is not older than the table: one date instead of the whole history.
        let one_day = match days_wanted {
            [d] => Some(*d),
            _ => None,
        };
        let source = one_day
            .and_then(|d| churn_data::io::fresh_snapshot(&self.path, &self.ids.date, days(d)))
            .filter(|snap| {
                TableReader::open(snap, None, 1)
                    .map(|r| r.schema().fields() == self.raw.fields())
                    .unwrap_or(false)
            });
        if let Some(snap) = &source {
            tracing::debug!(snapshot = %snap.display(), "reading the latest-date snapshot");
        }
        let path = source.as_deref().unwrap_or(&self.path);
        let reader = if days_wanted.is_empty() {
            TableReader::open(path, Some(&refs), batch_rows)?
        } else {
            let wanted: Vec<i32> = days_wanted.iter().map(|&d| days(d)).collect();
            TableReader::open_on_days(path, Some(&refs), batch_rows, &self.ids.date, &wanted)?
        };
        Ok(Box::new(reader.map(move |b| self.canonical_batch(b?))))
    }

    fn canonical_batch(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let schema = batch.schema();
        let mut fields = Vec::with_capacity(batch.num_columns());
        let mut arrays = Vec::with_capacity(batch.num_columns());
        for (field, array) in schema.fields().iter().zip(batch.columns()) {
            let name = self.ids.canonical(field.name());
            let (array, field) = match name.as_str() {
                ud::USER_ID => (
                    self.cast_key(array, &DataType::Utf8, &name)?,
                    Field::new(&name, DataType::Utf8, true),
                ),
                ud::AS_OF_DATE => (
                    self.cast_key(array, &DataType::Date32, &name)?,
                    Field::new(&name, DataType::Date32, true),
                ),
                _ => (array.clone(), field.as_ref().clone().with_name(name)),
            };
            fields.push(field);
            arrays.push(array);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .map_err(|e| Error::arrow(format!("{}: renaming key columns", self.path.display()), e))
    }

    fn cast_key(&self, array: &ArrayRef, to: &DataType, name: &str) -> Result<ArrayRef> {
        if array.data_type() == to {
            return Ok(array.clone());
        }
        // Key text is read as written by hand: ` 2025-03-31` after a comma and a space.
        let source = match array.as_string_opt::<i32>() {
            Some(text) if text.iter().flatten().any(|v| v.trim() != v) => Arc::new(
                text.iter()
                    .map(|v| v.map(str::trim))
                    .collect::<StringArray>(),
            ),
            _ => array.clone(),
        };
        let cast = cast(&source, to).map_err(|e| Error::Input {
            path: self.path.clone(),
            column: self.ids.canonical(name),
            rule: format!("cannot read as {to}: {e}"),
            examples: vec![],
        })?;
        // A value that does not parse becomes null in the cast: report it.
        let bad: Vec<String> = (0..cast.len())
            .filter(|&i| cast.is_null(i) && !source.is_null(i))
            .take(3)
            .map(|i| arrow::util::display::array_value_to_string(&source, i).unwrap_or_default())
            .collect();
        if !bad.is_empty() {
            return Err(Error::Input {
                path: self.path.clone(),
                column: name.to_string(),
                rule: match to {
                    DataType::Date32 => "values that are not dates (YYYY-MM-DD)".to_string(),
                    _ => format!("values that do not parse as {to}"),
                },
                examples: bad,
            });
        }
        Ok(cast)
    }
}

/// Rejects a table that already carries predictions: scoring it again would mix them up.
pub fn reject_prediction_columns(path: &Path, schema: &Schema) -> Result<()> {
    let found: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| FORBIDDEN_INPUT.contains(&n.as_str()))
        .collect();
    match found.first() {
        Some(column) => Err(Error::Input {
            path: path.to_path_buf(),
            column: column.clone(),
            rule: "the input already carries predictions; pass the feature table or a keys \
                   file (user_id, as_of_date), not a scored output"
                .into(),
            examples: found,
        }),
        None => Ok(()),
    }
}

/// Keeps the rows of `batch` where `mask` is true.
pub fn keep(batch: &RecordBatch, mask: &BooleanArray) -> Result<RecordBatch> {
    filter_record_batch(batch, mask).map_err(|e| Error::arrow("filtering rows", e))
}
