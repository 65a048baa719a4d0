//! Retention rules: evaluated in order, first match wins, with daily budgets per action.
//!
//! A rules file (TOML; see docs/decide.md) declares the actions with their optional daily
//! budget (a count cap per as_of_date), plan prices, the scorecard scaling, and the ordered
//! `[[rule]]`s: conditions on the user's row (`when`), an action, and numeric parameters
//! computed from the row with tiers, caps and rounding. Users are taken highest risk first,
//! so when a budget runs out the riskiest users already have it; a user whose first
//! matching rule has no budget left falls through to the next matching rule. A user no rule
//! matches gets the action `none`, so every candidate gets exactly one decision.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::error::{Error, Result};
use crate::scorecard::Scorecard;

/// The action that does nothing; always available, never budgeted.
pub const NONE: &str = "none";

/// The numeric fields a parameter can be computed from.
pub const NUMERIC_FIELDS: [&str; 5] = [
    "churn_risk",
    "score",
    "days_since_signup",
    "days_since_last_activity",
    "monthly_amount",
];

/// One user to decide for: a row of a predictions file (or table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The user.
    pub user_id: String,
    /// The scored date.
    pub as_of_date: NaiveDate,
    /// Calibrated churn probability.
    pub churn_risk: f64,
    /// Plan (free, paid).
    pub plan: Option<String>,
    /// Billing flag.
    pub is_paid: Option<bool>,
    /// Country code.
    pub country: Option<String>,
    /// Acquisition channel.
    pub marketing_source: Option<String>,
    /// Days since signup.
    pub days_since_signup: Option<i64>,
    /// Days since the last active day.
    pub days_since_last_activity: Option<i64>,
    /// The top reasons, as scoring writes them (`feature=value (+contribution)`).
    pub reasons: Vec<String>,
    /// The model that scored the row.
    pub model_name: String,
    /// Its version.
    pub model_version: u32,
}

impl Candidate {
    /// The feature a reason names (the text before `=`).
    fn reason_features(&self) -> impl Iterator<Item = &str> {
        self.reasons
            .iter()
            .map(|r| r.split('=').next().unwrap_or_default().trim())
    }
}

/// Sorts candidates as decisions are taken: highest risk first, ties by user id.
pub fn rank(candidates: &mut [Candidate]) {
    candidates.sort_by(|a, b| {
        b.churn_risk
            .total_cmp(&a.churn_risk)
            .then_with(|| a.user_id.cmp(&b.user_id))
    });
}

/// One decision, as written to the sinks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The user.
    pub user_id: String,
    /// The scored date.
    pub as_of_date: NaiveDate,
    /// Calibrated churn probability.
    pub churn_risk: f64,
    /// Points-scaled score (higher is safer).
    pub score: f64,
    /// The action (`none` when no rule applied).
    pub action: String,
    /// The action's parameters.
    pub params: BTreeMap<String, f64>,
    /// Why: the rule and the values that triggered it.
    pub reason: String,
    /// The rule's name (`default` when none matched).
    pub rule: String,
    /// The model that scored the user.
    pub model_name: String,
    /// Its version.
    pub model_version: u32,
    /// When the decision was taken (the caller's clock).
    pub decided_at: DateTime<Utc>,
}

/// Budget used so far, per (date, action).
pub type Used = HashMap<(NaiveDate, String), u64>;

/// Earlier decisions that cooldowns look at: the dates on which each user was given each
/// action with a `cooldown_days` (see [`ActionSpec::cooldown_days`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History(HashMap<String, Vec<(NaiveDate, String)>>);

impl History {
    /// Records that `user` was given `action` on `date`.
    pub fn add(&mut self, user: &str, date: NaiveDate, action: &str) {
        self.0
            .entry(user.to_string())
            .or_default()
            .push((date, action.to_string()));
    }

    /// The latest date before `date` on which `user` was given `action`.
    pub fn last_before(&self, user: &str, action: &str, date: NaiveDate) -> Option<NaiveDate> {
        self.0
            .get(user)?
            .iter()
            .filter(|(d, a)| *d < date && a == action)
            .map(|(d, _)| *d)
            .max()
    }

    /// Forgets what `user` was given on `date` (a decision that is redone).
    pub fn remove(&mut self, user: &str, date: NaiveDate) {
        if let Some(given) = self.0.get_mut(user) {
            given.retain(|(d, _)| *d != date);
        }
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    scorecard: Scorecard,
    #[serde(default)]
    prices: BTreeMap<String, f64>,
    #[serde(default)]
    actions: BTreeMap<String, ActionSpec>,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleSpec>,
}

/// An action's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// At most this many users get the action per as_of_date (none: unlimited).
    #[serde(default, deserialize_with = "daily_budget")]
    pub daily_budget: Option<u64>,
    /// A user given the action is not given it again for this many days (its rule is
    /// passed over, as when the budget is used up): no discount every day to the same user.
    #[serde(default, deserialize_with = "cooldown_days")]
    pub cooldown_days: Option<u32>,
}

/// A whole number `key` of the rules file, 0 or more, with an error naming the key.
fn whole<'de, D, T>(d: D, key: &str) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::de::Error as _;
    Option::<i64>::deserialize(d)?
        .map(|n| {
            T::try_from(n).map_err(|_| {
                D::Error::custom(format!("{key} must be a whole number, 0 or more (got {n})"))
            })
        })
        .transpose()
}

fn daily_budget<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u64>, D::Error> {
    whole(d, "daily_budget")
}

fn cooldown_days<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u32>, D::Error> {
    whole(d, "cooldown_days")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    name: Spanned<String>,
    action: Spanned<String>,
    #[serde(default)]
    when: Conditions,
    #[serde(default)]
    params: BTreeMap<String, ParamSpec>,
}

/// Conditions of a rule; all that are set must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// churn_risk within the range.
    pub churn_risk: Option<Range>,
    /// Points-scaled score within the range.
    pub score: Option<Range>,
    /// Plan is one of these.
    pub plan: Option<Vec<String>>,
    /// Billing flag equals this.
    pub is_paid: Option<bool>,
    /// Country is one of these.
    pub country: Option<Vec<String>>,
    /// Acquisition channel is one of these.
    pub marketing_source: Option<Vec<String>>,
    /// Days since signup within the range.
    pub days_since_signup: Option<Range>,
    /// Days since the last active day within the range.
    pub days_since_last_activity: Option<Range>,
    /// One of the user's top reasons is one of these features.
    pub reason: Option<Vec<String>>,
}

/// An inclusive range; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Lower bound (inclusive).
    pub min: Option<f64>,
    /// Upper bound (inclusive).
    pub max: Option<f64>,
}

impl Range {
    fn contains(&self, v: f64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }

    fn text(&self) -> String {
        match (self.min, self.max) {
            (Some(a), Some(b)) => format!("in [{a}, {b}]"),
            (Some(a), None) => format!(">= {a}"),
            (None, Some(b)) => format!("<= {b}"),
            (None, None) => "any".into(),
        }
    }
}

/// A numeric parameter: `base × rate` (the rate of the first tier whose `below` exceeds
/// the base, else `rate`), clamped to `[floor, cap]`, rounded to `round` decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// The field the base comes from (one of [`NUMERIC_FIELDS`]).
    pub from: Option<String>,
    /// A constant base instead.
    pub value: Option<f64>,
    /// Rates by base, in increasing `below`.
    #[serde(default)]
    pub tiers: Vec<Tier>,
    /// Rate when no tier applies (default 1).
    pub rate: Option<f64>,
    /// Lowest value.
    pub floor: Option<f64>,
    /// Highest value.
    pub cap: Option<f64>,
    /// Decimals kept (default 2).
    pub round: Option<u32>,
}

/// A rate for bases below a bound.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Applies when the base is below this.
    pub below: f64,
    /// The multiplier.
    pub rate: f64,
}

/// A checked rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Its name.
    pub name: String,
    /// Its line in the rules file.
    pub line: usize,
    /// The action it gives.
    pub action: String,
    /// When it applies.
    pub when: Conditions,
    /// Parameters of the action.
    pub params: BTreeMap<String, ParamSpec>,
}

/// A checked rules file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    /// Where it came from.
    pub source: PathBuf,
    /// Points scaling.
    pub scorecard: Scorecard,
    /// Monthly price per plan (the `monthly_amount` field).
    pub prices: BTreeMap<String, f64>,
    /// Declared actions.
    pub actions: BTreeMap<String, ActionSpec>,
    /// The rules, in order.
    pub rules: Vec<Rule>,
}

/// The rules shipped as the default (`churn decide` without `--rules`).
pub const DEFAULT_RULES: &str = include_str!("default_rules.toml");

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl RuleSet {
    /// The default rules.
    pub fn default_rules() -> Result<Self> {
        Self::from_toml_str(DEFAULT_RULES, Path::new("<default rules>"))
    }

    /// Reads and checks a rules file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::Rules {
            path: path.to_path_buf(),
            line: None,
            message: format!("cannot read the rules: {e}"),
        })?;
        let text = String::from_utf8(bytes).map_err(|e| Error::Rules {
            path: path.to_path_buf(),
            line: None,
            message: format!(
                "not valid UTF-8 (first bad byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        })?;
        Self::from_toml_str(&text, path)
    }

    /// Parses and checks rules; `source` names them in errors.
    pub fn from_toml_str(text: &str, source: &Path) -> Result<Self> {
        let file: RulesFile = toml::from_str(text).map_err(|e| Error::Rules {
            path: source.to_path_buf(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().to_string(),
        })?;
        let fail = |line: Option<usize>, message: String| Error::Rules {
            path: source.to_path_buf(),
            line,
            message,
        };
        file.scorecard
            .check()
            .map_err(|e| fail(None, format!("[scorecard]: {e}")))?;
        for (plan, price) in &file.prices {
            if !(price.is_finite() && *price >= 0.0) {
                return Err(fail(
                    None,
                    format!("[prices] {plan} = {price}: a price must be a finite number >= 0"),
                ));
            }
        }
        for name in file.actions.keys() {
            if name == NONE {
                return Err(fail(
                    None,
                    "[actions.none]: `none` is built in and cannot be declared".into(),
                ));
            }
            churn_data::names::check(name)
                .map_err(|r| fail(None, format!("[actions.{name}]: not a valid name: {r}")))?;
        }
        if file.rules.is_empty() {
            return Err(fail(None, "no [[rule]]: give at least one".into()));
        }
        let mut rules: Vec<Rule> = Vec::with_capacity(file.rules.len());
        for spec in file.rules {
            // The rule's `[[rule]]` header, else its name's line.
            let at_name = spec.name.span().start;
            let line = line_of(text, text[..at_name].rfind("[[rule]]").unwrap_or(at_name));
            let rule = Rule {
                name: spec.name.into_inner(),
                line,
                action: spec.action.into_inner(),
                when: spec.when,
                params: spec.params,
            };
            let at =
                |message: String| fail(Some(rule.line), format!("rule `{}`: {message}", rule.name));
            if rule.name.trim().is_empty() {
                return Err(at("the name is empty".into()));
            }
            if let Some(first) = rules.iter().find(|r| r.name == rule.name) {
                return Err(at(format!(
                    "the name is used already on line {}",
                    first.line
                )));
            }
            if rule.action != NONE && !file.actions.contains_key(&rule.action) {
                let known: Vec<&str> = std::iter::once(NONE)
                    .chain(file.actions.keys().map(String::as_str))
                    .collect();
                return Err(at(format!(
                    "unknown action `{}` (known: {}; declare it as [actions.{}])",
                    rule.action,
                    known.join(", "),
                    rule.action
                )));
            }
            check_conditions(&rule.when).map_err(&at)?;
            for (name, p) in &rule.params {
                check_param(name, p, &file.prices).map_err(&at)?;
            }
            if let Some(catch_all) = rules.iter().find(|r| {
                r.when == Conditions::default()
                    // Parameters from fields every user has (a missing base skips the rule).
                    && r.params
                        .values()
                        .all(|p| matches!(p.from.as_deref(), None | Some("churn_risk" | "score")))
                    && (r.action == NONE || {
                        let a = &file.actions[&r.action];
                        a.daily_budget.is_none() && a.cooldown_days.is_none_or(|d| d == 0)
                    })
            }) {
                return Err(at(format!(
                    "can never match: rule `{}` on line {} matches every user first",
                    catch_all.name, catch_all.line
                )));
            }
            rules.push(rule);
        }
        Ok(Self {
            source: source.to_path_buf(),
            scorecard: file.scorecard,
            prices: file.prices,
            actions: file.actions,
            rules,
        })
    }

    /// The daily budget of an action (`None`: unlimited).
    pub fn budget(&self, action: &str) -> Option<u64> {
        self.actions.get(action).and_then(|a| a.daily_budget)
    }

    /// The actions with a cooldown, and its days: what a store looks up in earlier
    /// decisions before a batch is decided.
    pub fn cooldowns(&self) -> BTreeMap<String, u32> {
        self.actions
            .iter()
            .filter_map(|(name, a)| {
                a.cooldown_days
                    .filter(|&d| d > 0)
                    .map(|d| (name.clone(), d))
            })
            .collect()
    }

    /// Decides for `candidates`, taken in the order given (call [`rank`] first), counting
    /// budgets in `used` (what earlier runs and batches used, per date and action).
    pub fn decide<'a>(
        &self,
        candidates: impl IntoIterator<Item = &'a Candidate>,
        used: &mut Used,
        decided_at: DateTime<Utc>,
    ) -> Vec<Decision> {
        self.decide_with_history(candidates, used, &History::default(), decided_at)
    }

    /// [`RuleSet::decide`], passing over a rule whose action the user was given within its
    /// `cooldown_days` before the candidate's date, as `history` records.
    pub fn decide_with_history<'a>(
        &self,
        candidates: impl IntoIterator<Item = &'a Candidate>,
        used: &mut Used,
        history: &History,
        decided_at: DateTime<Utc>,
    ) -> Vec<Decision> {
        candidates
            .into_iter()
            .map(|c| self.decide_one(c, used, history, decided_at))
            .collect()
    }

    fn decide_one(
        &self,
        c: &Candidate,
        used: &mut Used,
        history: &History,
        decided_at: DateTime<Utc>,
    ) -> Decision {
        let score = self.scorecard.points(c.churn_risk);
        let mut passed_over: Vec<String> = Vec::new();
        for rule in &self.rules {
            let Some(why) = self.matches(&rule.when, c, score) else {
                continue;
            };
            let Some(params) = self.params_of(rule, c, score) else {
                passed_over.push(format!("`{}`: no monthly_amount for plan", rule.name));
                continue;
            };
            let cooldown = self
                .actions
                .get(&rule.action)
                .and_then(|a| a.cooldown_days)
                .filter(|&d| d > 0);
            if let Some(days) = cooldown
                && let Some(last) = history.last_before(&c.user_id, &rule.action, c.as_of_date)
                && (c.as_of_date - last).num_days() < i64::from(days)
            {
                passed_over.push(format!(
                    "`{}`: {} given on {last}, within cooldown_days {days}",
                    rule.name, rule.action
                ));
                continue;
            }
            if rule.action != NONE {
                let key = (c.as_of_date, rule.action.clone());
                let count = used.entry(key).or_insert(0);
                if let Some(budget) = self.budget(&rule.action)
                    && *count >= budget
                {
                    passed_over.push(format!(
                        "`{}`: daily budget of {budget} {} used up",
                        rule.name, rule.action
                    ));
                    continue;
                }
                *count += 1;
            }
            let mut reason = format!(
                "rule `{}` (line {}): {}",
                rule.name,
                rule.line,
                why.join(", ")
            );
            for (name, value) in &params {
                reason.push_str(&format!("; {name} = {value}"));
            }
            if !passed_over.is_empty() {
                reason.push_str(&format!(" (passed over {})", passed_over.join("; ")));
            }
            return self.decision(
                c,
                score,
                &rule.action,
                params,
                reason,
                &rule.name,
                decided_at,
            );
        }
        let mut reason = "no rule matched".to_string();
        if !passed_over.is_empty() {
            reason.push_str(&format!(" (passed over {})", passed_over.join("; ")));
        }
        self.decision(
            c,
            score,
            NONE,
            BTreeMap::new(),
            reason,
            "default",
            decided_at,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn decision(
        &self,
        c: &Candidate,
        score: f64,
        action: &str,
        params: BTreeMap<String, f64>,
        reason: String,
        rule: &str,
        decided_at: DateTime<Utc>,
    ) -> Decision {
        Decision {
            user_id: c.user_id.clone(),
            as_of_date: c.as_of_date,
            churn_risk: c.churn_risk,
            score: (score * 100.0).round() / 100.0,
            action: action.to_string(),
            params,
            reason,
            rule: rule.to_string(),
            model_name: c.model_name.clone(),
            model_version: c.model_version,
            decided_at,
        }
    }

    /// The conditions' descriptions when all hold, else `None`.
    fn matches(&self, w: &Conditions, c: &Candidate, score: f64) -> Option<Vec<String>> {
        let mut why = Vec::new();
        let range =
            |name: &str, r: &Option<Range>, v: Option<f64>, why: &mut Vec<String>| match (r, v) {
                (None, _) => true,
                (Some(r), Some(v)) if r.contains(v) => {
                    why.push(format!("{name} {} {}", round4(v), r.text()));
                    true
                }
                _ => false,
            };
        let one_of = |name: &str,
                      set: &Option<Vec<String>>,
                      v: Option<&str>,
                      why: &mut Vec<String>| match (set, v) {
            (None, _) => true,
            (Some(set), Some(v)) if set.iter().any(|s| s.eq_ignore_ascii_case(v)) => {
                why.push(format!("{name} {v}"));
                true
            }
            _ => false,
        };
        let ok = range("churn_risk", &w.churn_risk, Some(c.churn_risk), &mut why)
            && range("score", &w.score, Some(score), &mut why)
            && one_of("plan", &w.plan, c.plan.as_deref(), &mut why)
            && match w.is_paid {
                None => true,
                Some(p) if c.is_paid == Some(p) => {
                    why.push(format!("is_paid {p}"));
                    true
                }
                Some(_) => false,
            }
            && one_of("country", &w.country, c.country.as_deref(), &mut why)
            && one_of(
                "marketing_source",
                &w.marketing_source,
                c.marketing_source.as_deref(),
                &mut why,
            )
            && range(
                "days_since_signup",
                &w.days_since_signup,
                c.days_since_signup.map(|d| d as f64),
                &mut why,
            )
            && range(
                "days_since_last_activity",
                &w.days_since_last_activity,
                c.days_since_last_activity.map(|d| d as f64),
                &mut why,
            )
            && match &w.reason {
                None => true,
                Some(features) => match c
                    .reason_features()
                    .find(|f| features.iter().any(|x| x == f))
                {
                    Some(f) => {
                        why.push(format!("top reason {f}"));
                        true
                    }
                    None => false,
                },
            };
        if !ok {
            return None;
        }
        if why.is_empty() {
            why.push("applies to every user".into());
        }
        Some(why)
    }

    fn field(&self, name: &str, c: &Candidate, score: f64) -> Option<f64> {
        match name {
            "churn_risk" => Some(c.churn_risk),
            "score" => Some(score),
            "days_since_signup" => c.days_since_signup.map(|d| d as f64),
            "days_since_last_activity" => c.days_since_last_activity.map(|d| d as f64),
            "monthly_amount" => c
                .plan
                .as_deref()
                .and_then(|p| self.prices.get(&p.to_lowercase()).copied()),
            _ => None,
        }
    }

    /// The rule's parameters for `c`; `None` when a base is unknown for this user.
    fn params_of(&self, rule: &Rule, c: &Candidate, score: f64) -> Option<BTreeMap<String, f64>> {
        let mut out = BTreeMap::new();
        for (name, p) in &rule.params {
            let base = match (&p.from, p.value) {
                (Some(f), _) => self.field(f, c, score)?,
                (None, Some(v)) => v,
                (None, None) => return None,
            };
            out.insert(name.clone(), compute_param(p, base));
        }
        Some(out)
    }
}

/// A parameter's value for a base.
pub fn compute_param(p: &ParamSpec, base: f64) -> f64 {
    let rate = p
        .tiers
        .iter()
        .find(|t| base < t.below)
        .map(|t| t.rate)
        .or(p.rate)
        .unwrap_or(1.0);
    let mut v = base * rate;
    if let Some(f) = p.floor {
        v = v.max(f);
    }
    if let Some(c) = p.cap {
        v = v.min(c);
    }
    let scale = 10f64.powi(p.round.unwrap_or(2).min(12) as i32);
    (v * scale).round() / scale
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

fn check_conditions(w: &Conditions) -> std::result::Result<(), String> {
    let ranges = [
        ("churn_risk", w.churn_risk, Some((0.0, 1.0))),
        ("score", w.score, None),
        (
            "days_since_signup",
            w.days_since_signup,
            Some((0.0, f64::INFINITY)),
        ),
        (
            "days_since_last_activity",
            w.days_since_last_activity,
            Some((0.0, f64::INFINITY)),
        ),
    ];
    for (name, r, domain) in ranges {
        let Some(r) = r else { continue };
        for v in [r.min, r.max].into_iter().flatten() {
            if !v.is_finite() {
                return Err(format!(
                    "when.{name}: bounds must be finite numbers (got {v})"
                ));
            }
        }
        if let (Some(a), Some(b)) = (r.min, r.max)
            && a > b
        {
            return Err(format!(
                "when.{name}: impossible range, min {a} is above max {b}"
            ));
        }
        if let Some((lo, hi)) = domain
            && (r.min.is_some_and(|a| a > hi) || r.max.is_some_and(|b| b < lo))
        {
            return Err(format!(
                "when.{name}: impossible range {}: {name} is within [{lo}, {hi}]",
                r.text()
            ));
        }
    }
    for (name, set) in [
        ("plan", &w.plan),
        ("country", &w.country),
        ("marketing_source", &w.marketing_source),
        ("reason", &w.reason),
    ] {
        if set.as_ref().is_some_and(Vec::is_empty) {
            return Err(format!("when.{name}: an empty list matches nobody"));
        }
    }
    if let Some(plans) = &w.plan {
        if let Some(bad) = plans
            .iter()
            .find(|p| !["free", "paid"].contains(&p.to_lowercase().as_str()))
        {
            return Err(format!(
                "when.plan: `{bad}` is not a plan (free or paid), so the rule matches nobody on it"
            ));
        }
        if let Some(paid) = w.is_paid {
            let wanted = if paid { "paid" } else { "free" };
            if !plans.iter().any(|p| p.eq_ignore_ascii_case(wanted)) {
                return Err(format!(
                    "when: impossible, is_paid = {paid} but plan is only {plans:?}"
                ));
            }
        }
    }
    Ok(())
}

fn check_param(
    name: &str,
    p: &ParamSpec,
    prices: &BTreeMap<String, f64>,
) -> std::result::Result<(), String> {
    let at = |m: String| Err(format!("params.{name}: {m}"));
    match (&p.from, p.value) {
        (Some(_), Some(_)) => return at("give `from` or `value`, not both".into()),
        (None, None) => return at("give `from` (a field) or `value` (a constant)".into()),
        (Some(f), None) if !NUMERIC_FIELDS.contains(&f.as_str()) => {
            return at(format!(
                "unknown field `{f}` (known: {})",
                NUMERIC_FIELDS.join(", ")
            ));
        }
        (Some(f), None) if f == "monthly_amount" && prices.is_empty() => {
            return at("monthly_amount needs plan prices under [prices]".into());
        }
        (None, Some(v)) if !v.is_finite() => return at(format!("value {v} is not finite")),
        _ => {}
    }
    let mut last = f64::NEG_INFINITY;
    for t in &p.tiers {
        if !(t.below.is_finite() && t.rate.is_finite() && t.rate >= 0.0) {
            return at(format!(
                "tier {t:?}: below and rate must be finite, rate >= 0"
            ));
        }
        if t.below <= last {
            return at("tiers must be in increasing `below`".into());
        }
        last = t.below;
    }
    if p.rate.is_some_and(|r| !(r.is_finite() && r >= 0.0)) {
        return at("rate must be a finite number >= 0".into());
    }
    if let (Some(f), Some(c)) = (p.floor, p.cap)
        && f > c
    {
        return at(format!("impossible: floor {f} is above cap {c}"));
    }
    Ok(())
}
