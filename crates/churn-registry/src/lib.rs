//! # churn-registry
//!
//! A versioned model registry in a folder, after MLflow's: each registered model name has
//! immutable, auto-numbered versions (the artifact byte for byte, its test metrics and
//! lineage: training-data fingerprint, training window, parent version, training time);
//! aliases (`production`, `staging`, any name) point at one version; promotion compares a
//! candidate with the alias's version on a primary metric and moves the alias only when the
//! candidate is better; every change is appended to a JSON-lines history; rollback moves an
//! alias back.
//!
//! Every write is atomic (temporary file or folder, fsync, rename) and serialised by a lock
//! file, so concurrent writers lose no update and a crash never leaves a half-written
//! version or alias. Names and aliases are validated so none can point outside the
//! registry folder.
//!
//! ```
//! use churn_registry::{ModelRef, Selector};
//!
//! let r: ModelRef = "churn@staging".parse().unwrap();
//! assert_eq!(r.selector, Selector::Alias("staging".into()));
//! assert_eq!(ModelRef::parse("churn/3", "production").unwrap().selector, Selector::Version(3));
//! assert!(ModelRef::parse("../etc@production", "production").is_err());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod lock;
pub mod metric;
pub mod name;
pub mod registry;

pub use error::{Error, Result};
pub use metric::Metric;
pub use name::{ModelRef, Selector, check_name};
pub use registry::{
    Action, HistoryEvent, Lineage, PromoteOutcome, PromotePolicy, Registered, Registry, VersionInfo,
};
