//! A points-scaled score beside the probability, as credit scorecards do.
//!
//! `score = offset + factor · ln(odds of staying)`, `odds = (1 − p) / p`, with
//! `factor = PDO / ln 2` and `offset = base_score − factor · ln(base_odds)`: a user whose
//! odds of staying are `base_odds` scores `base_score`, and every doubling of the odds adds
//! `PDO` points. Defaults: 600 points at odds 30:1, PDO 20 (factor ≈ 28.85, offset ≈ 501.86).
//! Higher is safer.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Probabilities are clamped to `[P_MIN, 1 − P_MIN]` so certain predictions stay finite.
pub const P_MIN: f64 = 1e-9;

/// Scorecard scaling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scorecard {
    /// Points at `base_odds`.
    pub base_score: f64,
    /// Odds of staying (stay : churn) that score `base_score`.
    pub base_odds: f64,
    /// Points to double the odds.
    pub pdo: f64,
}

impl Default for Scorecard {
    fn default() -> Self {
        Self {
            base_score: 600.0,
            base_odds: 30.0,
            pdo: 20.0,
        }
    }
}

impl Scorecard {
    /// Checks that the scaling is usable (finite, odds and PDO positive).
    pub fn check(&self) -> Result<()> {
        if !(self.base_score.is_finite()
            && self.base_odds.is_finite()
            && self.base_odds > 0.0
            && self.pdo.is_finite()
            && self.pdo > 0.0)
        {
            return Err(Error::Params(format!(
                "scorecard needs a finite base_score, base_odds > 0 and pdo > 0 (got {self:?})"
            )));
        }
        Ok(())
    }

    /// `PDO / ln 2`.
    pub fn factor(&self) -> f64 {
        self.pdo / std::f64::consts::LN_2
    }

    /// `base_score − factor · ln(base_odds)`.
    pub fn offset(&self) -> f64 {
        self.base_score - self.factor() * self.base_odds.ln()
    }

    /// The points of a churn probability.
    ///
    /// ```
    /// use churn_decisions::Scorecard;
    /// let s = Scorecard::default();
    /// // Odds of staying 30:1 are the base: 600 points.
    /// assert!((s.points(1.0 / 31.0) - 600.0).abs() < 1e-9);
    /// // Odds 60:1 (twice as safe) add one PDO.
    /// assert!((s.points(1.0 / 61.0) - 620.0).abs() < 1e-9);
    /// ```
    pub fn points(&self, churn_risk: f64) -> f64 {
        let p = churn_risk.clamp(P_MIN, 1.0 - P_MIN);
        self.offset() + self.factor() * ((1.0 - p) / p).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_have_the_documented_factor_and_offset() {
        let s = Scorecard::default();
        assert!((s.factor() - 28.853_900_817_779_27).abs() < 1e-9);
        assert!((s.offset() - 501.862_188_087_829_6).abs() < 1e-9);
        assert!(
            (s.points(0.5) - s.offset()).abs() < 1e-9,
            "odds 1:1 score the offset"
        );
    }

    #[test]
    fn points_fall_as_risk_rises_and_stay_finite() {
        let s = Scorecard::default();
        let mut last = f64::INFINITY;
        for p in [0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 1.0] {
            let v = s.points(p);
            assert!(v.is_finite() && v < last, "{p}: {v}");
            last = v;
        }
    }

    #[test]
    fn bad_scaling_is_rejected() {
        for bad in [
            Scorecard {
                pdo: 0.0,
                ..Scorecard::default()
            },
            Scorecard {
                base_odds: -1.0,
                ..Scorecard::default()
            },
            Scorecard {
                base_score: f64::NAN,
                ..Scorecard::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
