//! Feature selection, the ordered feature spec and the fitted preprocessing that turns Arrow
//! batches into a numeric design matrix.
//!
//! Features are every column except the lookup keys, dates, the label columns and an exclude
//! list. Numeric columns (integers, floats, booleans) pass through with missing values as
//! NaN; each model decides what to do with them (the linear model fills and standardizes,
//! gradient boosting routes them natively). Categorical columns (any string column) become
//! one-hot columns over the categories seen at fit time; a missing value is the category
//! `"missing"` and an unknown category at predict time sets no column at all.

use std::collections::{BTreeSet, HashMap};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Schema};
use churn_data::schema::{labels, user_daily as ud, users};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The table the features are looked up in.
pub const SOURCE_TABLE: &str = "user_features_daily";

/// The columns a feature row is looked up by.
pub const LOOKUP_KEYS: [&str; 2] = [ud::USER_ID, ud::AS_OF_DATE];

/// How a feature enters the design matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// A number (integer, float or boolean), used as is.
    Numeric,
    /// A string, one-hot encoded over the categories seen at fit time.
    Categorical,
}

/// One input column a model needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Column name.
    pub name: String,
    /// The Arrow type seen at fit time, as Arrow prints it (e.g. `Int32`).
    pub arrow_type: String,
    /// Whether the column was nullable at fit time.
    pub nullable: bool,
    /// Numeric or categorical.
    pub kind: FeatureKind,
    /// The table the column comes from.
    pub source_table: String,
    /// The keys the column is looked up by.
    pub lookup_keys: Vec<String>,
}

/// One column of the design matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesignColumn {
    /// `feature` for numerics, `feature=category` for one-hot columns.
    pub name: String,
    /// Index of the source feature in the spec.
    pub feature: usize,
    /// The category of a one-hot column.
    pub category: Option<String>,
}

/// What to select and how to encode it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreprocessParams {
    /// Columns never used as features (besides keys, dates and labels).
    pub exclude: Vec<String>,
    /// The value a missing numeric takes in models that need one (the linear model).
    pub numeric_fill: f64,
    /// The category a missing string becomes.
    pub missing_category: String,
}

impl Default for PreprocessParams {
    fn default() -> Self {
        Self {
            exclude: vec![users::ENGAGEMENT_SCORE.to_string()],
            numeric_fill: 0.0,
            missing_category: "missing".to_string(),
        }
    }
}

/// A numeric matrix in column-major order (each column contiguous), missing numerics NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `cols` columns of `rows` values each.
    pub data: Vec<f64>,
}

impl Design {
    /// Column `j`.
    pub fn column(&self, j: usize) -> &[f64] {
        &self.data[j * self.rows..(j + 1) * self.rows]
    }

    /// The value at row `i`, column `j`.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[j * self.rows + i]
    }

    /// A new matrix of the given rows, in the given order.
    pub fn take(&self, rows: &[usize]) -> Design {
        let mut data = Vec::with_capacity(rows.len() * self.cols);
        for j in 0..self.cols {
            let col = self.column(j);
            data.extend(rows.iter().map(|&i| col[i]));
        }
        Design {
            rows: rows.len(),
            cols: self.cols,
            data,
        }
    }

    /// Puts the rows in the order `order` (a permutation of the row numbers): row `k`
    /// becomes the old row `order[k]`. Column by column, so it needs one column's space.
    ///
    /// # Panics
    /// When `order` does not have one entry per row.
    pub fn reorder(&mut self, order: &[usize]) {
        assert_eq!(order.len(), self.rows, "a permutation of the rows");
        let mut moved = vec![0.0; self.rows];
        for column in self.data.chunks_exact_mut(self.rows.max(1)) {
            for (m, &i) in moved.iter_mut().zip(order) {
                *m = column[i];
            }
            column.copy_from_slice(&moved);
        }
    }

    /// Row `i` as a vector.
    pub fn row(&self, i: usize) -> Vec<f64> {
        (0..self.cols).map(|j| self.get(i, j)).collect()
    }
}

fn is_key_or_label(name: &str) -> bool {
    LOOKUP_KEYS.contains(&name)
        || [
            labels::CHURN_LABEL,
            labels::FUTURE_ACTIVE_DAYS,
            labels::ELIGIBLE,
        ]
        .contains(&name)
}

fn is_date(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    )
}

fn kind_of(data_type: &DataType) -> Option<FeatureKind> {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(FeatureKind::Categorical),
        DataType::Dictionary(_, value) if kind_of(value) == Some(FeatureKind::Categorical) => {
            Some(FeatureKind::Categorical)
        }
        DataType::Boolean => Some(FeatureKind::Numeric),
        t if t.is_numeric() => Some(FeatureKind::Numeric),
        _ => None,
    }
}

impl PreprocessParams {
    /// Checks the parameters.
    pub fn check(&self) -> Result<()> {
        if !self.numeric_fill.is_finite() {
            return Err(Error::Params(format!(
                "numeric_fill must be finite, got {}",
                self.numeric_fill
            )));
        }
        if self.missing_category.is_empty() {
            return Err(Error::Params("missing_category must not be empty".into()));
        }
        Ok(())
    }

    /// The ordered feature spec of a table: every column but keys, dates, labels and the
    /// exclude list. A column of a type no model can use is an error naming it.
    pub fn select(&self, schema: &Schema) -> Result<Vec<FeatureSpec>> {
        // An exclusion naming no column is likely a typo that leaves the intended column in
        // the model. The simulator's latent variable, excluded by default, is absent from
        // real data and from the training set alike: no warning for it.
        for name in &self.exclude {
            if schema.index_of(name).is_err() && name != users::ENGAGEMENT_SCORE {
                tracing::warn!(
                    column = %name,
                    "train.exclude_features names `{name}`, which the training set does not have \
                     (a misspelt name would leave the intended column in the model)"
                );
            }
        }
        let mut spec = Vec::new();
        for field in schema.fields() {
            let name = field.name();
            if is_key_or_label(name)
                || is_date(field.data_type())
                || self.exclude.iter().any(|e| e == name)
            {
                continue;
            }
            let kind = kind_of(field.data_type()).ok_or_else(|| {
                Error::schema(
                    name,
                    format!(
                        "type {} cannot be a feature (numbers, booleans and strings can); \
                         add it to train.exclude_features",
                        field.data_type()
                    ),
                )
            })?;
            spec.push(FeatureSpec {
                name: name.clone(),
                arrow_type: field.data_type().to_string(),
                nullable: field.is_nullable(),
                kind,
                source_table: SOURCE_TABLE.to_string(),
                lookup_keys: LOOKUP_KEYS.iter().map(|k| k.to_string()).collect(),
            });
        }
        if spec.is_empty() {
            return Err(Error::Input(format!(
                "no feature columns: every column is a key, date, label or excluded ({})",
                churn_data::canonical::columns_present(schema)
            )));
        }
        Ok(spec)
    }

    /// Learns the spec, the categories and the constant columns from the selected rows
    /// (`rows[i]` true; all rows when `None`). Features constant on those rows (one value
    /// or only missing values) are dropped and listed in [`Preprocessor::dropped`].
    pub fn fit(&self, batches: &[RecordBatch], rows: Option<&[bool]>) -> Result<Preprocessor> {
        self.check()?;
        let schema = batches
            .first()
            .map(|b| b.schema())
            .ok_or_else(|| Error::Input("no rows to fit the preprocessing on".into()))?;
        let candidates = self.select(&schema)?;
        let mut features = Vec::new();
        let mut columns = Vec::new();
        let mut dropped = Vec::new();
        for spec in candidates {
            let stats = FitStats::collect(self, &spec, batches, rows)?;
            let keep = match &stats {
                FitStats::Numeric { min, max } => min < max,
                FitStats::Categorical(cats) => cats.len() > 1,
            };
            if !keep {
                dropped.push(spec.name.clone());
                continue;
            }
            let index = features.len();
            match stats {
                FitStats::Numeric { .. } => columns.push(DesignColumn {
                    name: spec.name.clone(),
                    feature: index,
                    category: None,
                }),
                FitStats::Categorical(cats) => {
                    columns.extend(cats.into_iter().map(|c| DesignColumn {
                        name: format!("{}={c}", spec.name),
                        feature: index,
                        category: Some(c),
                    }))
                }
            }
            features.push(spec);
        }
        if columns.is_empty() {
            return Err(Error::Input(format!(
                "every feature is constant on the training rows ({})",
                dropped.join(", ")
            )));
        }
        Ok(Preprocessor {
            features,
            columns,
            dropped,
            missing_category: self.missing_category.clone(),
        })
    }
}

enum FitStats {
    Numeric { min: f64, max: f64 },
    Categorical(BTreeSet<String>),
}

impl FitStats {
    fn collect(
        params: &PreprocessParams,
        spec: &FeatureSpec,
        batches: &[RecordBatch],
        rows: Option<&[bool]>,
    ) -> Result<FitStats> {
        let mut offset = 0;
        let mut stats = match spec.kind {
            FeatureKind::Numeric => FitStats::Numeric {
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
            FeatureKind::Categorical => FitStats::Categorical(BTreeSet::new()),
        };
        for batch in batches {
            let array = column(batch, spec)?;
            let selected = |i: usize| rows.is_none_or(|r| r[offset + i]);
            match &mut stats {
                FitStats::Numeric { min, max } => {
                    let values = as_f64(&array, spec)?;
                    for (i, v) in values.iter().enumerate() {
                        if let Some(v) = v.filter(|v| v.is_finite() && selected(i)) {
                            *min = min.min(v);
                            *max = max.max(v);
                        }
                    }
                }
                FitStats::Categorical(cats) => {
                    let values = as_utf8(&array, spec)?;
                    let strings = values.as_string::<i32>();
                    for i in (0..strings.len()).filter(|&i| selected(i)) {
                        let v = if strings.is_null(i) {
                            params.missing_category.as_str()
                        } else {
                            strings.value(i)
                        };
                        if !cats.contains(v) {
                            cats.insert(v.to_string());
                        }
                    }
                }
            }
            offset += batch.num_rows();
        }
        Ok(stats)
    }
}

/// Finds a feature's column in a batch and checks that its type fits the spec.
fn column(batch: &RecordBatch, spec: &FeatureSpec) -> Result<ArrayRef> {
    let array = batch.column_by_name(&spec.name).ok_or_else(|| {
        Error::schema(
            &spec.name,
            format!(
                "missing from the input; the model needs it ({} {}, looked up in {} by {})",
                match spec.kind {
                    FeatureKind::Numeric => "numeric",
                    FeatureKind::Categorical => "categorical",
                },
                spec.arrow_type,
                spec.source_table,
                spec.lookup_keys.join(" + ")
            ),
        )
    })?;
    if kind_of(array.data_type()) != Some(spec.kind) {
        return Err(Error::schema(
            &spec.name,
            format!(
                "wrong type: the model was trained on {} ({}), the input has {}",
                spec.arrow_type,
                match spec.kind {
                    FeatureKind::Numeric => "a number or boolean",
                    FeatureKind::Categorical => "a string",
                },
                array.data_type()
            ),
        ));
    }
    Ok(array.clone())
}

fn as_f64(array: &ArrayRef, spec: &FeatureSpec) -> Result<arrow::array::Float64Array> {
    let cast = cast(array, &DataType::Float64)
        .map_err(|e| Error::arrow(format!("column `{}` to numbers", spec.name), e))?;
    Ok(cast.as_primitive::<Float64Type>().clone())
}

fn as_utf8(array: &ArrayRef, spec: &FeatureSpec) -> Result<ArrayRef> {
    cast(array, &DataType::Utf8)
        .map_err(|e| Error::arrow(format!("column `{}` to text", spec.name), e))
}

/// The fitted preprocessing: the ordered feature spec and the design columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    /// The input columns, in order.
    pub features: Vec<FeatureSpec>,
    /// The design-matrix columns, in order.
    pub columns: Vec<DesignColumn>,
    /// Features dropped at fit time because they were constant on the training rows.
    pub dropped: Vec<String>,
    /// The category a missing string becomes.
    pub missing_category: String,
}

impl Preprocessor {
    /// The design columns of feature `f`: one run, the features' runs in feature order (as
    /// fitting lays them out and [`Preprocessor::check_layout`] checks on load).
    pub fn columns_of(&self, f: usize) -> std::ops::Range<usize> {
        let start = self.columns.partition_point(|c| c.feature < f);
        start..start + self.columns[start..].partition_point(|c| c.feature == f)
    }

    /// Checks the layout the design matrix and the reasons rely on: every design column
    /// belongs to a feature of the spec, in feature order. An artifact edited by hand could
    /// break it and would silently put values in the wrong columns.
    pub fn check_layout(&self) -> Result<()> {
        if let Some(bad) = self
            .columns
            .iter()
            .find(|c| c.feature >= self.features.len())
        {
            return Err(Error::Input(format!(
                "design column `{}` belongs to feature {}, but the spec has {} features",
                bad.name,
                bad.feature,
                self.features.len()
            )));
        }
        if let Some(w) = self
            .columns
            .windows(2)
            .find(|w| w[1].feature < w[0].feature)
        {
            return Err(Error::Input(format!(
                "design columns out of feature order: `{}` after `{}`",
                w[1].name, w[0].name
            )));
        }
        Ok(())
    }

    /// Names of the design columns.
    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// Checks that a schema has every feature with a usable type.
    pub fn check_schema(&self, schema: &Schema) -> Result<()> {
        let empty = RecordBatch::new_empty(std::sync::Arc::new(schema.clone()));
        for spec in &self.features {
            column(&empty, spec)?;
        }
        Ok(())
    }

    /// The design matrix of these batches (rows in order). Non-finite numbers count as
    /// missing (NaN).
    pub fn transform(&self, batches: &[RecordBatch]) -> Result<Design> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let mut design = Design {
            rows,
            cols: self.columns.len(),
            data: vec![0.0; rows * self.columns.len()],
        };
        self.transform_into(batches, &mut design, 0)?;
        Ok(design)
    }

    /// Writes the rows of `batches` into rows `start..` of `out`, a matrix of this
    /// preprocessor's columns whose other rows are left as they are: a matrix can be built
    /// batch by batch, each batch dropped once written. `out` must have the preprocessor's
    /// columns, and room for the rows.
    pub fn transform_into(
        &self,
        batches: &[RecordBatch],
        out: &mut Design,
        start: usize,
    ) -> Result<()> {
        let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let cols = self.columns.len();
        if out.cols != cols || start + n > out.rows || out.data.len() != out.rows * cols {
            return Err(Error::Params(format!(
                "a {} x {} matrix cannot take rows {start}..{} of {cols} columns",
                out.rows,
                out.cols,
                start + n
            )));
        }
        let rows = out.rows;
        // Each feature fills its own run of design columns; the features are filled in
        // parallel, each from every batch in order.
        let mut parts: Vec<(&FeatureSpec, usize, &mut [f64])> =
            Vec::with_capacity(self.features.len());
        let mut rest: &mut [f64] = &mut out.data;
        for (f, spec) in self.features.iter().enumerate() {
            let run = self.columns_of(f);
            let (part, tail) = std::mem::take(&mut rest).split_at_mut(run.len() * rows);
            rest = tail;
            parts.push((spec, run.start, part));
        }
        let filled: Vec<Result<()>> = parts
            .into_par_iter()
            .map(|(spec, first, part)| self.fill(batches, spec, first, rows, start, part))
            .collect();
        filled.into_iter().collect()
    }

    /// Fills the design columns `first..` of one feature (`part`: column-major, `rows` per
    /// column) from every batch, from row `start` on.
    fn fill(
        &self,
        batches: &[RecordBatch],
        spec: &FeatureSpec,
        first: usize,
        rows: usize,
        start: usize,
        part: &mut [f64],
    ) -> Result<()> {
        let span = part.len() / rows.max(1);
        let lookup: HashMap<&str, usize> = self.columns[first..first + span]
            .iter()
            .enumerate()
            .filter_map(|(k, c)| c.category.as_deref().map(|cat| (cat, k)))
            .collect();
        let mut offset = start;
        for batch in batches {
            let array = column(batch, spec)?;
            match spec.kind {
                FeatureKind::Numeric => {
                    let out = &mut part[offset..][..batch.num_rows()];
                    for (o, v) in out.iter_mut().zip(as_f64(&array, spec)?.iter()) {
                        *o = v.filter(|v| v.is_finite()).unwrap_or(f64::NAN);
                    }
                }
                FeatureKind::Categorical => {
                    let values = as_utf8(&array, spec)?;
                    let strings = values.as_string::<i32>();
                    // The rows may hold an earlier write: clear every category's column.
                    for j in 0..span {
                        part[j * rows + offset..][..strings.len()].fill(0.0);
                    }
                    for i in 0..strings.len() {
                        let v = if strings.is_null(i) {
                            self.missing_category.as_str()
                        } else {
                            strings.value(i)
                        };
                        if let Some(&j) = lookup.get(v) {
                            part[j * rows + offset + i] = 1.0;
                        }
                    }
                }
            }
            offset += batch.num_rows();
        }
        Ok(())
    }
}
