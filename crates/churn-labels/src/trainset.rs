//! The training set: features joined with labels on (user_id, as_of_date), eligible rows only.
//!
//! Both tables come from the same user-day table, so they list users in the same order; the
//! join walks both streams user by user (a merge join on dates inside each user), so memory
//! stays bounded. A labels file from another run is detected and rejected.
//!
//! Rows whose look-back reaches before the user's first day in the data are left out
//! ([`TrainsetParams::min_history_days`]): a user who signed up before the data starts has
//! unseen days in the first windows, so their sums read low and the model would learn that
//! "a month with two active days" is normal for a user who was in fact active every day.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Int32Array, RecordBatch, StringArray, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use churn_data::canonical::{coerce_columns, require_columns, require_parsed};
use churn_data::groups::{UserChunk, UserGroups};
use churn_data::io::{DEFAULT_BATCH_SIZE, Format, TableReader, write_threaded};
use churn_data::schema::{LABEL_COLUMNS, USER_DAILY_COLUMNS, labels as l, user_daily as ud};
use serde::Serialize;

use churn_features::{FeatureSummary, Features};

use crate::Result;
use crate::label::{LabelSummary, Labeler, canonical_keys, into_data, labels_schema};
use churn_data::days::date_of;

/// How the training set is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TrainsetParams {
    /// Days of observed history a row needs: a row of a user whose first day in the data is
    /// not their signup day (they signed up before the data starts, or the signup date is
    /// unknown) is kept only from the `min_history_days`-th day of data on, so its look-back
    /// windows are complete. Set it to the longest feature window (and the eligibility
    /// window, if longer); 0 keeps every row. Users who signed up inside the data have
    /// complete history from their first row (the days before signup are known to be
    /// empty).
    pub min_history_days: u32,
}

impl Default for TrainsetParams {
    /// 30 days: the longest default feature window and the default eligibility window.
    fn default() -> Self {
        Self {
            min_history_days: 30,
        }
    }
}

/// What the training set holds (also written as JSON beside it).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TrainsetSummary {
    /// Rows in the training set.
    pub rows: u64,
    /// Distinct users.
    pub users: u64,
    /// First as_of_date.
    pub first_date: Option<chrono::NaiveDate>,
    /// Last as_of_date.
    pub last_date: Option<chrono::NaiveDate>,
    /// Share of rows with churn_label = 1.
    pub churn_rate: f64,
    /// Eligible share of the labelled feature rows.
    pub eligible_share: f64,
    /// Labelled feature rows.
    pub labelled_rows: u64,
    /// Feature rows without a label (the last `window` days, or users without labels).
    pub unlabelled_rows: u64,
    /// Labelled, eligible rows left out because their look-back reaches before the user's
    /// first day in the data (see [`TrainsetParams::min_history_days`]).
    pub partial_history_rows: u64,
    /// The history rule applied, in days (0: off).
    pub min_history_days: u32,
}

/// Reads one user at a time from a labels stream.
struct LabelCursor<I: Iterator<Item = churn_data::Result<UserChunk>>> {
    chunks: I,
    current: Option<UserChunk>,
    user: usize,
    /// The labels file, for errors.
    source: String,
}

/// One user's labels.
struct UserLabels {
    id: String,
    dates: Vec<i32>,
    future: Vec<i32>,
    eligible: Vec<bool>,
}

impl<I: Iterator<Item = churn_data::Result<UserChunk>>> LabelCursor<I> {
    fn peek_id(&mut self) -> churn_data::Result<Option<String>> {
        loop {
            if let Some(c) = &self.current
                && self.user < c.users()
            {
                return Ok(Some(c.user_ids().value(c.starts[self.user]).to_string()));
            }
            match self.chunks.next() {
                Some(c) => {
                    self.current = Some(c?);
                    self.user = 0;
                }
                None => return Ok(None),
            }
        }
    }

    fn take(&mut self) -> churn_data::Result<Option<UserLabels>> {
        let Some(id) = self.peek_id()? else {
            return Ok(None);
        };
        let c = self.current.as_ref().expect("peek loaded a chunk");
        let (s, e) = (c.starts[self.user], c.starts[self.user + 1]);
        let col = |name: &str| {
            c.batch.column_by_name(name).cloned().ok_or_else(|| {
                churn_data::Error::invalid(&self.source, name, "required column is missing", vec![])
            })
        };
        let future = arrow::compute::cast(&col(l::FUTURE_ACTIVE_DAYS)?, &DataType::Int32)
            .map_err(|e| churn_data::Error::arrow(&self.source, e))?;
        let future = future.as_any().downcast_ref::<Int32Array>().expect("cast");
        if (s..e).any(|i| future.is_null(i)) {
            return Err(churn_data::Error::invalid(
                &self.source,
                l::FUTURE_ACTIVE_DAYS,
                "must not be missing",
                vec![format!("user {id}")],
            ));
        }
        let elig = col(l::ELIGIBLE)?;
        let elig = elig
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| {
                churn_data::Error::invalid(&self.source, l::ELIGIBLE, "must be boolean", vec![])
            })?;
        let labels = UserLabels {
            id,
            dates: c.dates().values()[s..e].to_vec(),
            future: (s..e).map(|i| future.value(i)).collect(),
            eligible: (s..e).map(|i| elig.is_valid(i) && elig.value(i)).collect(),
        };
        self.user += 1;
        Ok(Some(labels))
    }
}

/// Schema of the training set: the features' columns, then future_active_days and churn_label.
pub fn trainset_schema(features: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = features
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(l::FUTURE_ACTIVE_DAYS, DataType::Int32, false));
    fields.push(Field::new(l::CHURN_LABEL, DataType::Int32, false));
    Arc::new(Schema::new(fields))
}

/// A features, labels or training-set batch with the types the join and training need:
/// keys, is_active_day, signup_date and the label columns canonical. A CSV table holds only
/// text, so there every user-day and label column gets its canonical type and every other
/// column must hold numbers (Float64; an empty cell is missing): the feature columns
/// `churn features` writes are all numeric, and a model must not mistake a count for a
/// category. A value that does not parse is an error naming `source`, the column and
/// examples.
pub fn conform_table(b: &RecordBatch, csv: bool, source: &str) -> churn_data::Result<RecordBatch> {
    let b = canonical_keys(b, source)?;
    let spec: Vec<_> = USER_DAILY_COLUMNS
        .iter()
        .chain(LABEL_COLUMNS.iter())
        .filter(|c| {
            csv || c.name == ud::SIGNUP_DATE || LABEL_COLUMNS.iter().any(|l| l.name == c.name)
        })
        .cloned()
        .collect();
    let (b, failures) = coerce_columns(&b, &spec, 5)?;
    require_parsed(source, &failures)?;
    if !csv {
        return Ok(b);
    }
    let schema = b.schema();
    let mut fields = Vec::with_capacity(b.num_columns());
    let mut columns = Vec::with_capacity(b.num_columns());
    for (field, column) in schema.fields().iter().zip(b.columns()) {
        let text =
            spec.iter().all(|c| c.name != field.name()) && field.data_type() == &DataType::Utf8;
        if !text {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
            continue;
        }
        fields.push(Field::new(field.name(), DataType::Float64, true));
        columns.push(text_as_numbers(column, field.name(), source)?);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| churn_data::Error::arrow(format!("reading {source}"), e))
}

/// A text column as Float64: trimmed, empty as missing, anything else that is not a number
/// an error naming the column with examples.
fn text_as_numbers(column: &ArrayRef, name: &str, source: &str) -> churn_data::Result<ArrayRef> {
    let text = column
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("checked: a Utf8 column");
    let trimmed: StringArray = text
        .iter()
        .map(|v| v.map(str::trim).filter(|s| !s.is_empty()))
        .collect();
    let numbers = arrow::compute::cast(&trimmed, &DataType::Float64)
        .map_err(|e| churn_data::Error::arrow(format!("column `{name}`"), e))?;
    let bad: Vec<String> = (0..trimmed.len())
        .filter(|&i| trimmed.is_valid(i) && numbers.is_null(i))
        .take(5)
        .map(|i| format!("batch row {}: {:?}", i + 1, trimmed.value(i)))
        .collect();
    if !bad.is_empty() {
        return Err(churn_data::Error::invalid(
            source,
            name,
            "in a CSV table every column other than the user-day and label columns must hold numbers (write the table as Parquet to keep other types)",
            bad,
        ));
    }
    Ok(numbers)
}

/// The first row of `dates` (one user's, ascending) whose look-back of `days` days lies
/// inside the user's observed history. `signup` is the user's signup date, if known.
fn first_complete_row(dates: &[i32], signup: Option<i32>, days: u32) -> usize {
    let Some(&first) = dates.first() else {
        return 0;
    };
    if days <= 1 || signup.is_some_and(|s| s >= first) {
        return 0;
    }
    // The window [d - days + 1, d] is observed when d - days + 1 >= first.
    let from = first + (days as i32 - 1);
    dates.partition_point(|&d| d < from)
}

/// Joins the features file with the labels file and writes the eligible, labelled rows
/// that have enough history (`params`).
pub fn build_trainset(
    features_path: &Path,
    labels_path: &Path,
    output: &Path,
    params: &TrainsetParams,
) -> Result<TrainsetSummary> {
    let fname = features_path.display().to_string();
    let lname = labels_path.display().to_string();
    let freader = TableReader::open(features_path, None, DEFAULT_BATCH_SIZE)?;
    let csv = Format::from_path(features_path)? == Format::Csv;
    // The schema the conformed batches have: that of an empty one.
    let fschema = {
        let probe = freader.schema();
        require_columns(features_path, &probe, &[ud::USER_ID, ud::AS_OF_DATE])?;
        conform_table(&RecordBatch::new_empty(probe), csv, &fname)?
            .schema()
            .as_ref()
            .clone()
    };
    let lreader = TableReader::open(labels_path, None, DEFAULT_BATCH_SIZE)?;
    require_columns(
        labels_path,
        &lreader.schema(),
        &[
            ud::USER_ID,
            ud::AS_OF_DATE,
            l::FUTURE_ACTIVE_DAYS,
            l::ELIGIBLE,
        ],
    )?;
    let lname2 = lname.clone();
    let lcsv = Format::from_path(labels_path)? == Format::Csv;
    let mut labels = LabelCursor {
        chunks: UserGroups::new(
            &lname,
            lreader.map(move |b| conform_table(&b?, lcsv, &lname2)),
            DEFAULT_BATCH_SIZE,
        ),
        current: None,
        user: 0,
        source: lname.clone(),
    };
    let fname2 = fname.clone();
    let features = UserGroups::new(
        &fname,
        freader.map(move |b| conform_table(&b?, csv, &fname2)),
        DEFAULT_BATCH_SIZE,
    );
    let out_schema = trainset_schema(&fschema);
    let mut rows = TrainsetRows::new(params);
    let (_, _) = write_threaded(output, out_schema.clone(), |sink| {
        // The features are read and cut into users on a thread of their own.
        churn_data::io::prefetched(features, 2, |features| {
            for chunk in features {
                let chunk = chunk?;
                let dates = chunk.dates().values();
                // Each feature row's label, when the labels have its (user_id, as_of_date).
                let mut labels_of = vec![None; dates.len()];
                for u in 0..chunk.users() {
                    let (a, b) = (chunk.starts[u], chunk.starts[u + 1]);
                    let id = chunk.user_ids().value(a);
                    if labels.peek_id()?.as_deref() != Some(id) {
                        continue;
                    }
                    let lab = labels.take()?.expect("peeked");
                    let mut j = 0;
                    let mut matched = 0;
                    for (i, &d) in dates.iter().enumerate().take(b).skip(a) {
                        while j < lab.dates.len() && lab.dates[j] < d {
                            j += 1;
                        }
                        if j < lab.dates.len() && lab.dates[j] == d {
                            matched += 1;
                            labels_of[i] = Some((lab.future[j], lab.eligible[j]));
                        }
                    }
                    if matched != lab.dates.len() {
                        return Err(churn_data::Error::invalid(
                            &lname,
                            ud::AS_OF_DATE,
                            "every labelled (user_id, as_of_date) must exist in the features",
                            vec![format!("user {}", lab.id)],
                        ));
                    }
                }
                sink(rows.select(&chunk, &labels_of, &out_schema)?)?;
            }
            Ok::<(), churn_data::Error>(())
        })?;
        rows.check_not_empty(&fname, &lname)?;
        if let Some(id) = labels.peek_id()? {
            return Err(churn_data::Error::invalid(
                &lname,
                ud::USER_ID,
                "labels list a user the features do not have (or in another order): were both built from the same user_daily?",
                vec![id],
            ));
        }
        Ok(())
    })?;
    Ok(rows.finish())
}

/// The training rows of chunks of whole users, and the running counts of the summary.
struct TrainsetRows {
    s: TrainsetSummary,
    min_history_days: u32,
    first: i32,
    last: i32,
    churned: u64,
    eligible_labelled: u64,
}

impl TrainsetRows {
    fn new(params: &TrainsetParams) -> Self {
        Self {
            s: TrainsetSummary {
                min_history_days: params.min_history_days,
                ..TrainsetSummary::default()
            },
            min_history_days: params.min_history_days,
            first: i32::MAX,
            last: i32::MIN,
            churned: 0,
            eligible_labelled: 0,
        }
    }

    /// The training rows of `chunk` (features of whole users): `labels[i]` is row i's
    /// (future_active_days, eligible) when the row is labelled. Eligible labelled rows are
    /// kept from each user's first row with complete history on, with future_active_days
    /// and churn_label appended.
    fn select(
        &mut self,
        chunk: &UserChunk,
        labels: &[Option<(i32, bool)>],
        schema: &SchemaRef,
    ) -> churn_data::Result<RecordBatch> {
        let dates = chunk.dates().values();
        let signup = chunk
            .batch
            .column_by_name(ud::SIGNUP_DATE)
            .and_then(|c| c.as_any().downcast_ref::<Date32Array>());
        let (mut take, mut future) = (Vec::new(), Vec::new());
        for u in 0..chunk.users() {
            let (a, b) = (chunk.starts[u], chunk.starts[u + 1]);
            let user_signup = signup.and_then(|c| c.is_valid(a).then(|| c.value(a)));
            let complete_from =
                a + first_complete_row(&dates[a..b], user_signup, self.min_history_days);
            let mut kept_any = false;
            for i in a..b {
                let Some((f, eligible)) = labels[i] else {
                    self.s.unlabelled_rows += 1;
                    continue;
                };
                self.s.labelled_rows += 1;
                if !eligible {
                    continue;
                }
                self.eligible_labelled += 1;
                if i < complete_from {
                    self.s.partial_history_rows += 1;
                    continue;
                }
                take.push(i as u32);
                future.push(f);
                self.churned += u64::from(f == 0);
                self.first = self.first.min(dates[i]);
                self.last = self.last.max(dates[i]);
                kept_any = true;
            }
            self.s.users += u64::from(kept_any);
        }
        let idx = UInt32Array::from(take);
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for c in chunk.batch.columns() {
            cols.push(
                arrow::compute::take(c, &idx, None)
                    .map_err(|e| churn_data::Error::arrow("selecting training rows", e))?,
            );
        }
        let labels_col: Vec<i32> = future.iter().map(|&f| i32::from(f == 0)).collect();
        cols.push(Arc::new(Int32Array::from(future)));
        cols.push(Arc::new(Int32Array::from(labels_col)));
        let out = RecordBatch::try_new(schema.clone(), cols)
            .map_err(|e| churn_data::Error::arrow("building training batch", e))?;
        self.s.rows += out.num_rows() as u64;
        Ok(out)
    }

    /// An empty training set is an error saying why (history rule or eligibility).
    fn check_not_empty(&self, features: &str, labels: &str) -> churn_data::Result<()> {
        let s = &self.s;
        if s.rows == 0 && s.partial_history_rows > 0 {
            return Err(churn_data::Error::invalid(
                features,
                ud::AS_OF_DATE,
                format!(
                    "the training set would be empty: every eligible labelled row has less than {} days of history (more days of data, or labels.require_full_history = false?)",
                    self.min_history_days
                ),
                vec![format!(
                    "{} eligible rows with partial history",
                    s.partial_history_rows
                )],
            ));
        }
        if s.rows == 0 {
            return Err(churn_data::Error::invalid(
                labels,
                l::ELIGIBLE,
                "the training set would be empty: no labelled row is eligible (more days of data, a shorter labels.window or a larger labels.active_within_days?)",
                vec![format!("{} labelled rows", s.labelled_rows)],
            ));
        }
        Ok(())
    }

    fn finish(self) -> TrainsetSummary {
        let mut s = self.s;
        if s.rows > 0 {
            s.first_date = date_of(self.first);
            s.last_date = date_of(self.last);
            s.churn_rate = self.churned as f64 / s.rows as f64;
        }
        if s.labelled_rows > 0 {
            s.eligible_share = self.eligible_labelled as f64 / s.labelled_rows as f64;
        }
        s
    }
}

/// What [`features_labels_trainset`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineSummary {
    /// The features table.
    pub features: FeatureSummary,
    /// The labels table.
    pub labels: LabelSummary,
    /// The training set.
    pub trainset: TrainsetSummary,
}

/// Features, labels and the training set in one pass over the user-day table: the same
/// three tables as [`churn_features::compute_file`], [`Labeler::label_file`] and
/// [`build_trainset`] run one after the other, without reading the user-day table twice or
/// decoding the features table back (which is most of the training set's cost). Each output
/// is written atomically; a failure while computing leaves all three untouched. The tables
/// are committed training set first, then labels, then features, so an interrupted commit
/// leaves at worst an older features table beside newer derived ones, which the next run
/// rewrites.
pub fn features_labels_trainset(
    features: &Features,
    labeler: &Labeler,
    params: &TrainsetParams,
    user_daily: &Path,
    features_out: &Path,
    labels_out: &Path,
    trainset_out: &Path,
) -> Result<PipelineSummary> {
    let name = user_daily.display().to_string();
    let (last, mut labels) = crate::label::start_labels(user_daily)?;
    let mut rows = TrainsetRows::new(params);
    let schema = trainset_schema(&features.output_schema());
    let (feature_summary, _) = write_threaded(labels_out, labels_schema(), |labels_sink| {
        let (summary, _) = write_threaded(trainset_out, schema.clone(), |trainset_sink| {
            let summary = churn_features::compute_file_with(
                features,
                user_daily,
                features_out,
                &mut |users, batch| {
                    // The features batch holds the user-day columns the labels read.
                    let chunk = UserChunk {
                        batch: batch.clone(),
                        starts: users.starts.clone(),
                    };
                    let cl = labeler.chunk_labels(&chunk).map_err(into_data)?;
                    let dates = chunk.dates().values();
                    let labels_of: Vec<Option<(i32, bool)>> = (0..dates.len())
                        .map(|i| {
                            labeler
                                .labelled(dates[i], last)
                                .then(|| (cl.future[i], cl.eligible[i]))
                        })
                        .collect();
                    labels_sink(
                        labeler
                            .labels_from(&chunk, &cl, last, &mut labels)
                            .map_err(into_data)?,
                    )?;
                    trainset_sink(rows.select(&chunk, &labels_of, &schema)?)
                },
            )
            .map_err(|e| match e {
                churn_features::Error::Data(d) => d,
                other => churn_data::Error::invalid(&name, "*", other.to_string(), vec![]),
            })?;
            rows.check_not_empty(&name, &name)?;
            Ok(summary)
        })?;
        Ok(summary)
    })?;
    Ok(PipelineSummary {
        features: feature_summary,
        labels,
        trainset: rows.finish(),
    })
}
