//! # churn-decisions
//!
//! The business acts on the risk list. This crate turns a day's ranked predictions into
//! retention decisions and writes them where CRM and e-mail systems read them:
//!
//! - [`rules`]: ordered rules in TOML (first match wins) with conditions on churn_risk, the
//!   points-scaled score, plan, country, channel, tenure, inactivity and reason codes; an
//!   action with parameters computed from the user's row (tiers, caps); daily budgets per
//!   action, spent on the riskiest users first; a reason naming the rule and the values.
//! - [`scorecard`]: `score = offset + factor · ln(odds of staying)`, as credit scorecards.
//! - [`store`]: the run (batch by batch, each atomic and idempotent) and the embedded
//!   Parquet sink; [`pg`]: the PostgreSQL sink.
//!
//! Database dependencies live here, not in the core crates.
//!
//! ```
//! use chrono::{NaiveDate, TimeZone, Utc};
//! use churn_decisions::{Candidate, RuleSet, Used};
//!
//! let rules = RuleSet::default_rules()?;
//! let user = Candidate {
//!     user_id: "42".into(),
//!     as_of_date: NaiveDate::from_ymd_opt(2025, 4, 30).unwrap(),
//!     churn_risk: 0.6,
//!     plan: Some("paid".into()),
//!     is_paid: Some(true),
//!     country: Some("IN".into()),
//!     marketing_source: Some("ads".into()),
//!     days_since_signup: Some(12),
//!     days_since_last_activity: Some(4),
//!     reasons: vec!["days_since_last_activity=4 (+1.2)".into()],
//!     model_name: "churn".into(),
//!     model_version: 3,
//! };
//! let now = Utc.with_ymd_and_hms(2025, 5, 1, 6, 0, 0).unwrap();
//! let d = &rules.decide(&[user], &mut Used::new(), now)[0];
//! assert_eq!(d.action, "discount_offer");
//! // 25% of the paid plan's 499 (50% applies under 300), capped at 500.
//! assert_eq!(d.params["offer_amount"], 124.75);
//! assert!(d.reason.contains("offer_paying_users_at_risk"));
//! # Ok::<(), churn_decisions::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod pg;
pub mod rules;
pub mod scorecard;
pub mod store;
pub mod table;

pub use error::{Error, Result};
pub use rules::{Candidate, Decision, History, RuleSet, Used, rank};
pub use scorecard::Scorecard;
pub use store::{DecisionStore, ParquetStore, RunOptions, RunSummary, read_decisions, run};
