//! A balanced random forest of smartcore decision trees.
//!
//! Each tree is a smartcore `DecisionTreeClassifier` fitted on its own bootstrap sample with
//! as many churners as stayers (so the rare class is seen) and on a random subset of the
//! columns (random subspaces). The forest's score is the share of trees voting churn; it is
//! a ranking score, turned into a probability by calibration. Trees are fitted in parallel,
//! each from its own seed, so the forest does not depend on the number of threads.
//! Missing inputs take `fill`.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::{
    DecisionTreeClassifier, DecisionTreeClassifierParameters, SplitCriterion,
};

use crate::error::{Error, Result};
use crate::logistic::check_labels;
use crate::preprocess::Design;

type Tree = DecisionTreeClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>>;

/// Parameters of the random forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForestParams {
    /// Number of trees.
    pub trees: usize,
    /// Maximum depth of a tree.
    pub max_depth: u16,
    /// Smallest number of rows in a leaf.
    pub min_samples_leaf: usize,
    /// Rows drawn (with replacement, half churners) for each tree.
    pub sample_rows: usize,
    /// Share of the columns each tree sees.
    pub column_share: f64,
    /// The value of a missing input.
    pub fill: f64,
    /// Seed of the sampling.
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self {
            trees: 100,
            max_depth: 10,
            min_samples_leaf: 5,
            sample_rows: 20_000,
            column_share: 0.5,
            fill: 0.0,
            seed: 42,
        }
    }
}

/// A fitted random forest.
#[derive(Debug, Serialize, Deserialize)]
pub struct RandomForest {
    /// Each tree with the design columns it reads.
    members: Vec<(Vec<usize>, Tree)>,
    fill: f64,
}

impl ForestParams {
    /// Checks the parameters.
    pub fn check(&self) -> Result<()> {
        if self.trees == 0 || self.max_depth == 0 || self.sample_rows < 2 {
            return Err(Error::Params(
                "forest: trees and max_depth must be >= 1 and sample_rows >= 2".into(),
            ));
        }
        if !(self.column_share > 0.0 && self.column_share <= 1.0 && self.fill.is_finite()) {
            return Err(Error::Params(
                "forest: column_share must be in (0, 1] and fill finite".into(),
            ));
        }
        Ok(())
    }

    /// Fits on a design matrix and 0/1 labels.
    pub fn fit(&self, x: &Design, y: &[f64]) -> Result<RandomForest> {
        self.check()?;
        check_labels("random forest", x.rows, y)?;
        let pos: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 1.0).collect();
        let neg: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 0.0).collect();
        let m = ((x.cols as f64 * self.column_share).ceil() as usize).clamp(1, x.cols);
        let members = (0..self.trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = ChaCha8Rng::seed_from_u64(self.seed.wrapping_add(t as u64));
                let rows: Vec<usize> = (0..self.sample_rows)
                    .map(|k| {
                        let class = if k % 2 == 0 { &pos } else { &neg };
                        class[rng.random_range(0..class.len())]
                    })
                    .collect();
                let mut cols: Vec<usize> = (0..x.cols).collect();
                for i in 0..m {
                    let j = rng.random_range(i..x.cols);
                    cols.swap(i, j);
                }
                cols.truncate(m);
                cols.sort_unstable();
                let sub = column_major(x, &rows, &cols, self.fill)?;
                let labels: Vec<u32> = rows.iter().map(|&i| y[i] as u32).collect();
                let params = DecisionTreeClassifierParameters {
                    criterion: SplitCriterion::Gini,
                    max_depth: Some(self.max_depth),
                    min_samples_leaf: self.min_samples_leaf,
                    min_samples_split: 2,
                    seed: Some(self.seed.wrapping_add(t as u64)),
                };
                let tree = Tree::fit(&sub, &labels, params).map_err(|e| Error::Fit {
                    model: "random forest",
                    message: e.to_string(),
                })?;
                Ok((cols, tree))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RandomForest {
            members,
            fill: self.fill,
        })
    }
}

fn column_major(x: &Design, rows: &[usize], cols: &[usize], fill: f64) -> Result<DenseMatrix<f64>> {
    let mut values = Vec::with_capacity(rows.len() * cols.len());
    for &j in cols {
        let col = x.column(j);
        values.extend(rows.iter().map(|&i| {
            let v = col[i];
            if v.is_nan() { fill } else { v }
        }));
    }
    DenseMatrix::new(rows.len(), cols.len(), values, true).map_err(|e| Error::Fit {
        model: "random forest",
        message: e.to_string(),
    })
}

impl RandomForest {
    /// Number of trees.
    pub fn trees(&self) -> usize {
        self.members.len()
    }

    /// Share of trees voting churn for every row.
    pub fn predict_votes(&self, x: &Design) -> Result<Vec<f64>> {
        let rows: Vec<usize> = (0..x.rows).collect();
        let votes = self
            .members
            .par_iter()
            .map(|(cols, tree)| {
                let sub = column_major(x, &rows, cols, self.fill)?;
                tree.predict(&sub).map_err(|e| Error::Fit {
                    model: "random forest",
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<Vec<u32>>>>()?;
        let mut share = vec![0.0; x.rows];
        for v in &votes {
            for (s, &c) in share.iter_mut().zip(v) {
                *s += f64::from(c);
            }
        }
        let n = self.members.len() as f64;
        Ok(share.into_iter().map(|s| s / n).collect())
    }
}
