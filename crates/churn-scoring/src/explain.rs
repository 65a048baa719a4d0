//! One user's score explained: the risk, what every user starts from, and each feature's
//! value and contribution to the log-odds — all of them, not only the top reasons the
//! predictions carry. What a support or success team asks for ("why is this user at
//! risk?"), and what an engineer checks when a score looks wrong.

use std::collections::HashMap;

use arrow::array::{AsArray, RecordBatch};
use arrow::compute::concat_batches;
use chrono::NaiveDate;
use churn_data::schema::user_daily as ud;
use churn_models::reasons::ReasonCode;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::score::{ModelIdentity, Scorer, eligibility_column, eligible_rows, select_date};
use crate::table::{FeatureTable, days};

/// One feature of an explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureContribution {
    /// The feature.
    pub feature: String,
    /// Its value for the user (`missing`, or the category of a categorical feature).
    pub value: String,
    /// Its contribution to the log-odds (positive: raises the risk).
    pub contribution: f64,
}

/// A user's score on one date, explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The user.
    pub user_id: String,
    /// The date.
    pub as_of_date: NaiveDate,
    /// The model.
    pub model: ModelIdentity,
    /// Calibrated churn probability, as `churn score` writes it.
    pub churn_risk: f64,
    /// Uncalibrated log-odds: `base` plus every contribution.
    pub raw_logit: f64,
    /// The log-odds before any feature: what every user starts from.
    pub base: Option<f64>,
    /// Whether scoring keeps the user (active within `labels.active_within_days`);
    /// `churn score` leaves an ineligible user out of its list.
    pub eligible: bool,
    /// Every feature, the largest absolute contribution first (ties by name); empty for a
    /// model without contributions (the forest).
    pub features: Vec<FeatureContribution>,
}

impl Scorer<'_> {
    /// Explains `user`'s score on `date` (default: the table's last date), from the user's
    /// own row of the feature table. A user without a row on the date is an error naming
    /// the table and the date.
    pub fn explain(
        &self,
        table: &FeatureTable,
        user: &str,
        date: Option<NaiveDate>,
    ) -> Result<Explanation> {
        let date = table.date_or_latest(date)?;
        let schema = table.schema();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let keys = HashMap::from([(user.trim().to_string(), 0usize)]);
        let mut rows: Vec<RecordBatch> = Vec::new();
        for batch in table.read_on(&columns, self.params.batch_rows, Some(date))? {
            let found = select_date(&batch?, days(date), Some(&keys))?;
            if found.num_rows() > 0 {
                rows.push(found);
            }
        }
        let found: usize = rows.iter().map(RecordBatch::num_rows).sum();
        if found != 1 {
            return Err(Error::Input {
                path: table.path().to_path_buf(),
                column: ud::USER_ID.into(),
                rule: if found == 0 {
                    format!("no row for user {user:?} on {date} (check the id and the date)")
                } else {
                    format!("{found} rows for user {user:?} on {date}: a key must have one row")
                },
                examples: vec![user.to_string()],
            });
        }
        let row = concat_batches(&rows[0].schema(), &rows)
            .map_err(|e| Error::arrow("the user's row", e))?;
        let eligible = match eligibility_column(table, self.params.active_within_days)? {
            Some(column) => {
                eligible_rows(table.path(), &row, &column, self.params.active_within_days)?.value(0)
            }
            None => true,
        };
        let artifact = self.artifact;
        let design = artifact.design(std::slice::from_ref(&self.conform(table, &row)?))?;
        let predicted = artifact.predict_design(&design, false)?;
        let raw_logit = predicted.raw_logit[0];
        let pre = &artifact.preprocessing;
        let mut features: Vec<FeatureContribution> = match artifact.model.contributions(&design) {
            Some(c) => (0..pre.features.len())
                .map(|f| {
                    let contribution: f64 = c[pre.columns_of(f)].iter().sum();
                    let mut value = String::new();
                    ReasonCode {
                        feature: f,
                        contribution,
                    }
                    .push_value(pre, &design, 0, &mut value);
                    FeatureContribution {
                        feature: pre.features[f].name.clone(),
                        value,
                        contribution,
                    }
                })
                .collect(),
            None => Vec::new(),
        };
        features.sort_by(|a, b| {
            b.contribution
                .abs()
                .total_cmp(&a.contribution.abs())
                .then_with(|| a.feature.cmp(&b.feature))
        });
        let base = (!features.is_empty())
            .then(|| raw_logit - features.iter().map(|f| f.contribution).sum::<f64>());
        let user_id = row
            .column_by_name(ud::USER_ID)
            .map(|c| c.as_string::<i32>().value(0).to_string())
            .unwrap_or_else(|| user.to_string());
        Ok(Explanation {
            user_id,
            as_of_date: date,
            model: self.identity.clone(),
            churn_risk: predicted.churn_risk[0],
            raw_logit,
            base,
            eligible,
            features,
        })
    }
}
