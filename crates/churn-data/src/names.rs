//! The rule for names that become folder and file names (model names, aliases).
//!
//! Restricted to ASCII letters, digits, `_`, `-` and `.`, not starting with `.` (no `..`,
//! no hidden files) and at most [`MAX_NAME_LEN`] characters, so no name can point outside
//! the folder it is joined to.

/// The longest name.
pub const MAX_NAME_LEN: usize = 64;

/// Checks `name`; on failure returns why, in words (e.g. "it may not start with `.`").
///
/// ```
/// assert!(churn_data::names::check("churn-v2.1").is_ok());
/// assert!(churn_data::names::check("../etc").is_err());
/// ```
pub fn check(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("it is longer than {MAX_NAME_LEN} characters"));
    }
    if name.starts_with('.') {
        return Err("it may not start with `.`".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "character {c:?} is not allowed (use letters, digits, `_`, `-`, `.`)"
        ));
    }
    Ok(())
}
