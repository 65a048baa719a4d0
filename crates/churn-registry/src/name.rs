//! Model names, aliases and references (`NAME`, `NAME@ALIAS`, `NAME/VERSION`).
//!
//! Names and aliases become folder and file names, so they are restricted to ASCII
//! letters, digits, `_`, `-` and `.`, may not start with `.` (no `..`, no hidden files) and
//! are at most 64 characters: no name can write outside the registry.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The longest name or alias.
pub const MAX_NAME_LEN: usize = churn_data::names::MAX_NAME_LEN;

/// Checks a model name or alias; `what` names it in the error.
pub fn check_name(what: &'static str, name: &str) -> Result<()> {
    churn_data::names::check(name).map_err(|reason| Error::InvalidName {
        what,
        name: name.to_string(),
        reason,
    })
}

/// Which version of a model a reference selects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    /// The version an alias points at.
    Alias(String),
    /// A version number.
    Version(u32),
}

/// A model in the registry: `NAME@ALIAS` or `NAME/VERSION`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    /// Registered model name.
    pub name: String,
    /// Which version.
    pub selector: Selector,
}

impl ModelRef {
    /// `name@alias`, both checked.
    pub fn alias(name: &str, alias: &str) -> Result<Self> {
        check_name("model name", name)?;
        check_name("alias", alias)?;
        Ok(Self {
            name: name.to_string(),
            selector: Selector::Alias(alias.to_string()),
        })
    }

    /// `name/version`, checked.
    pub fn version(name: &str, version: u32) -> Result<Self> {
        check_name("model name", name)?;
        if version == 0 {
            return Err(Error::InvalidRef {
                text: format!("{name}/0"),
                reason: "versions start at 1".into(),
            });
        }
        Ok(Self {
            name: name.to_string(),
            selector: Selector::Version(version),
        })
    }

    /// Parses `NAME`, `NAME@ALIAS` or `NAME/VERSION`; a bare name selects `default_alias`.
    pub fn parse(text: &str, default_alias: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidRef {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        if let Some((name, alias)) = text.split_once('@') {
            return Self::alias(name, alias);
        }
        if let Some((name, version)) = text.split_once('/') {
            let v: u32 = version
                .parse()
                .map_err(|_| bad("the part after `/` must be a version number"))?;
            return Self::version(name, v);
        }
        Self::alias(text, default_alias)
    }
}

impl FromStr for ModelRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s, "production")
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.selector {
            Selector::Alias(a) => write!(f, "{}@{a}", self.name),
            Selector::Version(v) => write!(f, "{}/{v}", self.name),
        }
    }
}
