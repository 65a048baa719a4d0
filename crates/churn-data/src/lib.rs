//! # churn-data
//!
//! The data layer of churn: the schemas of the users, events and user-day tables (column
//! names are defined once, in [`schema`]), CSV and Parquet I/O over Arrow record batches with
//! atomic writes ([`io`]), the configuration file ([`config`]), the synthetic e-learning
//! simulator ([`generate`]), validation of raw inputs against every rule of the contract
//! ([`validate`]) and cleaning plus aggregation to one row per user and day ([`prepare`]).
//!
//! ```
//! use churn_data::config::{GenerateConfig, PrepareConfig, ValidateConfig};
//! use churn_data::generate::Simulator;
//! use churn_data::prepare::prepare_batches;
//!
//! let config = GenerateConfig { n_users: 20, days: 30, ..GenerateConfig::default() };
//! let sim = Simulator::new(&config)?;
//! let (users, events) = sim.chunk(0..20, 1)?;
//! assert_eq!(users.num_rows(), 20);
//!
//! let (daily, summary) = prepare_batches(&[users], &[events], &ValidateConfig::default(), &PrepareConfig::default())?;
//! assert_eq!(summary.users_kept, 20);
//! assert_eq!(daily.iter().map(|b| b.num_rows()).sum::<usize>() as u64, summary.user_days);
//! # Ok::<(), churn_data::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod calendar;
pub mod canonical;
pub mod clock;
pub mod config;
pub mod days;
mod error;
pub mod generate;
pub mod groups;
pub mod hash;
mod idset;
pub mod io;
pub mod names;
pub mod partition;
pub mod prepare;
pub mod schema;
pub mod validate;
pub mod wait;

pub use error::{Error, Result};
pub use idset::IdSet;
