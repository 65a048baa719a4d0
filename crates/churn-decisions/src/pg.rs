//! The PostgreSQL sink: decisions written to the operational database, where CRM and e-mail
//! systems read them.
//!
//! [`PgStore::connect`] creates or migrates the table (a version table records what ran).
//! Each batch is one transaction: a transaction-scoped advisory lock serialises concurrent
//! runs (so a budget cannot be spent twice), the users of the batch already decided are
//! read and skipped (or, re-deciding, deleted), the budget used per (date, action) is
//! counted, and the decisions are inserted with one parameterised `INSERT ... SELECT FROM
//! UNNEST(...)` that does nothing on a (user_id, as_of_date) conflict. A broken connection
//! rolls back the batch in flight; what was committed stays.
//!
//! Values are always bound parameters. Table names cannot be parameters in SQL, so they are
//! checked against `[A-Za-z_][A-Za-z0-9_]*` (optionally `schema.table`) and quoted.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use postgres::{Client, NoTls, Transaction};

use crate::error::{Error, Result};
use crate::rules::{Candidate, Decision, History, Used};
use crate::store::{BatchOutcome, Decide, DecisionStore};

/// The default table.
pub const DEFAULT_TABLE: &str = "churn_decisions";

/// Columns read from a source table: name, SQL type, required.
const SOURCE_COLUMNS: [(&str, &str, bool); 14] = [
    ("user_id", "text", true),
    ("as_of_date", "date", true),
    ("churn_risk", "float8", true),
    ("plan", "text", false),
    ("is_paid", "bool", false),
    ("country", "text", false),
    ("marketing_source", "text", false),
    ("days_since_signup", "int8", false),
    ("days_since_last_activity", "int8", false),
    ("reason_1", "text", false),
    ("reason_2", "text", false),
    ("reason_3", "text", false),
    ("model_name", "text", true),
    ("model_version", "int8", true),
];

fn sorted(set: &HashSet<String>) -> Vec<&str> {
    let mut v: Vec<&str> = set.iter().map(String::as_str).collect();
    v.sort_unstable();
    v
}

/// Key of the advisory lock the writers take (an arbitrary constant: "churn").
const LOCK_KEY: i64 = 0x6368_7572_6e00;

/// A checked, quoted SQL identifier (`name` or `schema.name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    raw: String,
    quoted: String,
}

impl Ident {
    /// Checks `name` and quotes each part.
    pub fn parse(name: &str) -> Result<Self> {
        let parts: Vec<&str> = name.split('.').collect();
        let ok = (1..=2).contains(&parts.len())
            && parts.iter().all(|p| {
                let mut chars = p.chars();
                chars
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && p.len() <= 63
            });
        if !ok {
            return Err(Error::Params(format!(
                "table name {name:?} must be `name` or `schema.name` of letters, digits and `_` \
                 (starting with a letter or `_`, at most 63 each)"
            )));
        }
        Ok(Self {
            raw: name.to_string(),
            quoted: parts
                .iter()
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join("."),
        })
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    fn sql(&self) -> &str {
        &self.quoted
    }

    /// The same name with a suffix (for the schema-version table and indexes).
    fn suffixed(&self, suffix: &str) -> Result<Self> {
        Self::parse(&format!("{}{suffix}", self.raw))
    }
}

/// Decisions in a PostgreSQL table.
pub struct PgStore {
    client: Client,
    table: Ident,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("table", &self.table)
            .finish()
    }
}

/// The migrations, in order; each runs once, recorded in `<table>_schema`.
fn migrations(t: &Ident) -> Result<Vec<String>> {
    let index = t.suffixed("_by_date_action")?;
    let index_name = index
        .as_str()
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_string();
    Ok(vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {t} (
                user_id text NOT NULL,
                as_of_date date NOT NULL,
                churn_risk double precision NOT NULL CHECK (churn_risk >= 0 AND churn_risk <= 1),
                score double precision NOT NULL,
                action text NOT NULL,
                params jsonb NOT NULL,
                reason text NOT NULL,
                model_name text NOT NULL,
                model_version integer NOT NULL,
                decided_at timestamptz NOT NULL,
                PRIMARY KEY (user_id, as_of_date)
            )",
            t = t.sql()
        ),
        format!(
            "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS rule text NOT NULL DEFAULT ''",
            t = t.sql()
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS \"{index_name}\" ON {t} (as_of_date, action)",
            t = t.sql()
        ),
    ])
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`) and creates or migrates
    /// `table`.
    pub fn connect(url: &str, table: &str) -> Result<Self> {
        let table = Ident::parse(table)?;
        let client = Client::connect(url, NoTls)
            .map_err(Error::pg(format!("cannot connect to {}", redact(url))))?;
        let mut store = Self { client, table };
        store.migrate()?;
        Ok(store)
    }

    /// The table written.
    pub fn table(&self) -> &Ident {
        &self.table
    }

    /// The connection (for callers that read the table).
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Runs the migrations not run yet, under the advisory lock. Returns how many ran.
    pub fn migrate(&mut self) -> Result<usize> {
        let version_table = self.table.suffixed("_schema")?;
        let steps = migrations(&self.table)?;
        let mut tx = self.client.transaction().map_err(Error::pg("begin"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .map_err(Error::pg("lock"))?;
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
            version_table.sql()
        ))
        .map_err(Error::pg(format!("create {}", version_table.as_str())))?;
        let done: i32 = tx
            .query_one(
                &format!(
                    "SELECT COALESCE(max(version), 0) FROM {}",
                    version_table.sql()
                ),
                &[],
            )
            .map_err(Error::pg("read the schema version"))?
            .get(0);
        let mut ran = 0;
        for (i, step) in steps.iter().enumerate() {
            let version = i as i32 + 1;
            if version <= done {
                continue;
            }
            tx.batch_execute(step).map_err(Error::pg(format!(
                "migration {version} of {}",
                self.table.as_str()
            )))?;
            tx.execute(
                &format!("INSERT INTO {} (version) VALUES ($1)", version_table.sql()),
                &[&version],
            )
            .map_err(Error::pg("record the migration"))?;
            ran += 1;
        }
        tx.commit().map_err(Error::pg("commit the migrations"))?;
        Ok(ran)
    }

    /// Candidates from a table shaped like a predictions file (user_id, as_of_date,
    /// churn_risk, model_name, model_version; optionally plan, is_paid, country,
    /// marketing_source, days_since_signup, days_since_last_activity, reason_1..3) that
    /// are not decided yet, highest risk first, at most `limit`, on `date` when given.
    pub fn undecided_from(
        &mut self,
        source: &str,
        date: Option<NaiveDate>,
        limit: i64,
    ) -> Result<Vec<Candidate>> {
        let src = Ident::parse(source)?;
        let (schema, name) = match source.split_once('.') {
            Some((s, n)) => (Some(s.to_string()), n.to_string()),
            None => (None, source.to_string()),
        };
        let present: HashSet<String> = self
            .client
            .query(
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_name = $1 AND ($2::text IS NULL OR table_schema = $2)",
                &[&name, &schema],
            )
            .map_err(Error::pg(format!("read the columns of {source}")))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if present.is_empty() {
            return Err(Error::Params(format!("no table {source} in the database")));
        }
        // The select list is built from this fixed list only; a column the table lacks is
        // NULL (required ones are an error).
        let mut select = Vec::new();
        for (column, ty, required) in SOURCE_COLUMNS {
            if present.contains(column) {
                select.push(format!("s.{column}::{ty}"));
            } else if required {
                return Err(Error::Input {
                    path: format!("postgres table {source}").into(),
                    column: column.to_string(),
                    rule: format!(
                        "required column is missing (present: {})",
                        sorted(&present).join(", ")
                    ),
                    examples: vec![],
                });
            } else {
                select.push(format!("NULL::{ty}"));
            }
        }
        let sql = format!(
            "SELECT {}
             FROM {src} s
             WHERE ($1::date IS NULL OR s.as_of_date = $1)
               AND NOT EXISTS (SELECT 1 FROM {t} d
                               WHERE d.user_id = s.user_id::text AND d.as_of_date = s.as_of_date)
             ORDER BY s.churn_risk DESC, s.user_id
             LIMIT $2",
            select.join(", "),
            src = src.sql(),
            t = self.table.sql()
        );
        let rows = self
            .client
            .query(&sql, &[&date, &limit])
            .map_err(Error::pg(format!("read undecided users from {source}")))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let risk: f64 = r.get(2);
            let user: String = r.get(0);
            if !(0.0..=1.0).contains(&risk) {
                return Err(Error::Input {
                    path: format!("postgres table {source}").into(),
                    column: "churn_risk".into(),
                    rule: "must be a probability in [0, 1]".into(),
                    examples: vec![format!("{user}: {risk}")],
                });
            }
            let version: i64 = r.get(13);
            out.push(Candidate {
                user_id: user,
                as_of_date: r.get(1),
                churn_risk: risk,
                plan: r.get(3),
                is_paid: r.get(4),
                country: r.get(5),
                marketing_source: r.get(6),
                days_since_signup: r.get(7),
                days_since_last_activity: r.get(8),
                reasons: [9, 10, 11]
                    .iter()
                    .filter_map(|&i| r.get::<_, Option<String>>(i))
                    .collect(),
                model_name: r.get(12),
                model_version: u32::try_from(version).unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// Every decision of a date, highest risk first.
    pub fn decisions_on(&mut self, date: NaiveDate) -> Result<Vec<Decision>> {
        let sql = format!(
            "SELECT user_id, as_of_date, churn_risk, score, action, params, reason, rule,
                    model_name, model_version, decided_at
             FROM {} WHERE as_of_date = $1 ORDER BY churn_risk DESC, user_id",
            self.table.sql()
        );
        let rows = self
            .client
            .query(&sql, &[&date])
            .map_err(Error::pg("read decisions"))?;
        rows.iter()
            .map(|r| {
                let params: serde_json::Value = r.get(5);
                Ok(Decision {
                    user_id: r.get(0),
                    as_of_date: r.get(1),
                    churn_risk: r.get(2),
                    score: r.get(3),
                    action: r.get(4),
                    params: serde_json::from_value(params)
                        .map_err(|e| Error::Params(format!("params of a stored decision: {e}")))?,
                    reason: r.get(6),
                    rule: r.get(7),
                    model_name: r.get(8),
                    model_version: u32::try_from(r.get::<_, i32>(9)).unwrap_or(0),
                    decided_at: r.get::<_, DateTime<Utc>>(10),
                })
            })
            .collect()
    }
}

fn used_on(tx: &mut Transaction<'_>, t: &Ident, dates: &[NaiveDate]) -> Result<Used> {
    let rows = tx
        .query(
            &format!(
                "SELECT as_of_date, action, count(*) FROM {} WHERE as_of_date = ANY($1)
                 GROUP BY as_of_date, action",
                t.sql()
            ),
            &[&dates],
        )
        .map_err(Error::pg("count the budget used"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let n: i64 = r.get(2);
            ((r.get::<_, NaiveDate>(0), r.get::<_, String>(1)), n as u64)
        })
        .collect())
}

impl DecisionStore for PgStore {
    fn transact(
        &mut self,
        batch: &[Candidate],
        redecide: bool,
        cooldowns: &BTreeMap<String, u32>,
        decide: &mut Decide<'_>,
    ) -> Result<BatchOutcome> {
        let t = self.table.clone();
        let mut tx = self.client.transaction().map_err(Error::pg("begin"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .map_err(Error::pg("lock"))?;
        let users: Vec<&str> = batch.iter().map(|c| c.user_id.as_str()).collect();
        let days: Vec<NaiveDate> = batch.iter().map(|c| c.as_of_date).collect();
        if redecide {
            tx.execute(
                &format!(
                    "DELETE FROM {} d USING UNNEST($1::text[], $2::date[]) AS k(user_id, as_of_date)
                     WHERE d.user_id = k.user_id AND d.as_of_date = k.as_of_date",
                    t.sql()
                ),
                &[&users, &days],
            )
            .map_err(Error::pg("delete the decisions to redo"))?;
        }
        let decided: HashSet<(String, NaiveDate)> = tx
            .query(
                &format!(
                    "SELECT d.user_id, d.as_of_date FROM {} d
                     JOIN UNNEST($1::text[], $2::date[]) AS k(user_id, as_of_date)
                       ON d.user_id = k.user_id AND d.as_of_date = k.as_of_date",
                    t.sql()
                ),
                &[&users, &days],
            )
            .map_err(Error::pg("read the users decided already"))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let fresh: Vec<&Candidate> = batch
            .iter()
            .filter(|c| !decided.contains(&(c.user_id.clone(), c.as_of_date)))
            .collect();
        let mut dates: Vec<NaiveDate> = fresh.iter().map(|c| c.as_of_date).collect();
        dates.sort_unstable();
        dates.dedup();
        let mut used = used_on(&mut tx, &t, &dates)?;
        let history = history_of(&mut tx, &t, &fresh, cooldowns)?;
        let new = decide(&fresh, &mut used, &history);
        let col = |f: &dyn Fn(&Decision) -> String| new.iter().map(f).collect::<Vec<String>>();
        let written = tx
            .execute(
                &format!(
                    "INSERT INTO {} (user_id, as_of_date, churn_risk, score, action, params,
                                     reason, rule, model_name, model_version, decided_at)
                     SELECT * FROM UNNEST($1::text[], $2::date[], $3::float8[], $4::float8[],
                                          $5::text[], $6::jsonb[], $7::text[], $8::text[],
                                          $9::text[], $10::int4[], $11::timestamptz[])
                     ON CONFLICT (user_id, as_of_date) DO NOTHING",
                    t.sql()
                ),
                &[
                    &col(&|d| d.user_id.clone()),
                    &new.iter().map(|d| d.as_of_date).collect::<Vec<_>>(),
                    &new.iter().map(|d| d.churn_risk).collect::<Vec<_>>(),
                    &new.iter().map(|d| d.score).collect::<Vec<_>>(),
                    &col(&|d| d.action.clone()),
                    &new.iter()
                        .map(|d| serde_json::json!(d.params))
                        .collect::<Vec<_>>(),
                    &col(&|d| d.reason.clone()),
                    &col(&|d| d.rule.clone()),
                    &col(&|d| d.model_name.clone()),
                    &new.iter()
                        .map(|d| i32::try_from(d.model_version).unwrap_or(i32::MAX))
                        .collect::<Vec<_>>(),
                    &new.iter().map(|d| d.decided_at).collect::<Vec<_>>(),
                ],
            )
            .map_err(Error::pg(format!("insert into {}", t.as_str())))?;
        tx.commit().map_err(Error::pg("commit"))?;
        Ok(BatchOutcome {
            written,
            already_decided: (batch.len() - fresh.len()) as u64,
        })
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// The decisions of the `cooldowns` actions given to the `fresh` users in the days before
/// the batch's dates (up to the longest cooldown).
fn history_of(
    tx: &mut Transaction<'_>,
    t: &Ident,
    fresh: &[&Candidate],
    cooldowns: &BTreeMap<String, u32>,
) -> Result<History> {
    let mut history = History::default();
    let (Some(&longest), Some(first), Some(last)) = (
        cooldowns.values().max(),
        fresh.iter().map(|c| c.as_of_date).min(),
        fresh.iter().map(|c| c.as_of_date).max(),
    ) else {
        return Ok(history);
    };
    let from = first - chrono::Duration::days(i64::from(longest) - 1);
    let users: Vec<&str> = fresh.iter().map(|c| c.user_id.as_str()).collect();
    let actions: Vec<&str> = cooldowns.keys().map(String::as_str).collect();
    let rows = tx
        .query(
            &format!(
                "SELECT user_id, as_of_date, action FROM {}
                 WHERE user_id = ANY($1) AND action = ANY($2)
                   AND as_of_date >= $3 AND as_of_date < $4",
                t.sql()
            ),
            &[&users, &actions, &from, &last],
        )
        .map_err(Error::pg("read earlier decisions for cooldowns"))?;
    for r in rows {
        let (user, day, action): (String, NaiveDate, String) = (r.get(0), r.get(1), r.get(2));
        history.add(&user, day, &action);
    }
    Ok(history)
}

/// A connection URL with the password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked_and_quoted() {
        assert_eq!(
            Ident::parse("churn_decisions").unwrap().sql(),
            "\"churn_decisions\""
        );
        assert_eq!(
            Ident::parse("crm.decisions").unwrap().sql(),
            "\"crm\".\"decisions\""
        );
        for bad in ["", "a;drop table x", "a.b.c", "1abc", "a\"b", "a b", "x--"] {
            assert!(Ident::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://churn:s3cret@db:5432/crm"),
            "postgres://churn:***@db:5432/crm"
        );
        assert_eq!(redact("postgres://db/crm"), "postgres://db/crm");
    }
}
