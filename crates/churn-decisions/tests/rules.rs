//! Known answers for each rule type, caps, budgets and ordering; checks of the rules file;
//! the Parquet sink's idempotency; and properties over random users.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use churn_data::clock::FixedClock;
use churn_decisions::{
    Candidate, ParquetStore, RuleSet, RunOptions, Used, rank, read_decisions, rules::compute_param,
    run,
};
use proptest::prelude::*;

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 4, 30).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 5, 1, 6, 0, 0).unwrap()
}

fn user(id: &str, risk: f64) -> Candidate {
    Candidate {
        user_id: id.into(),
        as_of_date: day(),
        churn_risk: risk,
        plan: Some("free".into()),
        is_paid: Some(false),
        country: Some("US".into()),
        marketing_source: Some("organic".into()),
        days_since_signup: Some(100),
        days_since_last_activity: Some(1),
        reasons: vec![],
        model_name: "churn".into(),
        model_version: 1,
    }
}

fn rules(text: &str) -> RuleSet {
    RuleSet::from_toml_str(text, Path::new("rules.toml")).unwrap()
}

fn error(text: &str) -> String {
    RuleSet::from_toml_str(text, Path::new("rules.toml"))
        .unwrap_err()
        .to_string()
}

fn decide(r: &RuleSet, users: &[Candidate]) -> Vec<(String, String)> {
    let mut users = users.to_vec();
    rank(&mut users);
    r.decide(&users, &mut Used::new(), now())
        .into_iter()
        .map(|d| (d.user_id, d.action))
        .collect()
}

const ACTIONS: &str = "[actions.call]\n[actions.mail]\n";

#[test]
fn each_condition_type_selects_the_users_it_names() {
    type MakeMatch = Box<dyn Fn(&mut Candidate)>;
    let cases: [(&str, MakeMatch); 9] = [
        (
            "churn_risk = { min = 0.5, max = 0.8 }",
            Box::new(|u| u.churn_risk = 0.6),
        ),
        ("score = { max = 560.0 }", Box::new(|u| u.churn_risk = 0.2)),
        (
            "plan = [\"paid\"]",
            Box::new(|u| u.plan = Some("paid".into())),
        ),
        ("is_paid = true", Box::new(|u| u.is_paid = Some(true))),
        (
            "country = [\"IN\", \"BR\"]",
            Box::new(|u| u.country = Some("BR".into())),
        ),
        (
            "marketing_source = [\"ads\"]",
            Box::new(|u| u.marketing_source = Some("ads".into())),
        ),
        (
            "days_since_signup = { max = 30 }",
            Box::new(|u| u.days_since_signup = Some(30)),
        ),
        (
            "days_since_last_activity = { min = 7 }",
            Box::new(|u| u.days_since_last_activity = Some(9)),
        ),
        (
            "reason = [\"payment_failed_30d\"]",
            Box::new(|u| u.reasons = vec!["payment_failed_30d=2 (+0.8)".into()]),
        ),
    ];
    for (when, make_match) in cases {
        let r = rules(&format!(
            "{ACTIONS}[[rule]]\nname = \"r\"\naction = \"call\"\nwhen = {{ {when} }}\n"
        ));
        let plain = user("a", 0.05);
        let mut hit = user("b", 0.05);
        make_match(&mut hit);
        let got = decide(&r, &[plain, hit]);
        let action = |id: &str| got.iter().find(|(u, _)| u == id).unwrap().1.clone();
        assert_eq!(action("b"), "call", "{when}");
        assert_eq!(action("a"), "none", "{when}");
    }
}

#[test]
fn first_match_wins_and_no_match_is_none() {
    let r = rules(&format!(
        "{ACTIONS}[[rule]]\nname = \"high\"\naction = \"call\"\nwhen = {{ churn_risk = {{ min = 0.8 }} }}\n\
         [[rule]]\nname = \"mid\"\naction = \"mail\"\nwhen = {{ churn_risk = {{ min = 0.5 }} }}\n"
    ));
    let got = decide(&r, &[user("a", 0.9), user("b", 0.6), user("c", 0.1)]);
    assert_eq!(
        got,
        [("a", "call"), ("b", "mail"), ("c", "none")].map(|(u, a)| (u.to_string(), a.to_string()))
    );
    let d = r.decide(&[user("c", 0.1)], &mut Used::new(), now());
    assert_eq!(d[0].rule, "default");
    assert_eq!(d[0].reason, "no rule matched");
}

#[test]
fn a_rule_without_conditions_whose_base_can_be_missing_is_not_a_catch_all() {
    // `days_since_last_activity` is missing for a user never active: such a
    // user skips the first rule, so the second can match and the file is valid.
    let r = rules(&format!(
        "{ACTIONS}[[rule]]\nname = \"recent\"\naction = \"call\"\n\
         params.wait = {{ from = \"days_since_last_activity\" }}\n\
         [[rule]]\nname = \"rest\"\naction = \"mail\"\n"
    ));
    let mut never = user("b", 0.5);
    never.days_since_last_activity = None;
    let got = decide(&r, &[user("a", 0.9), never]);
    assert_eq!(
        got,
        [("a", "call"), ("b", "mail")].map(|(u, a)| (u.to_string(), a.to_string()))
    );
    // A base every user has makes the first rule match everyone.
    let e = error(&format!(
        "{ACTIONS}[[rule]]\nname = \"all\"\naction = \"call\"\n\
         params.x = {{ from = \"churn_risk\" }}\n\
         [[rule]]\nname = \"rest\"\naction = \"mail\"\n"
    ));
    assert!(e.contains("can never match"), "{e}");
}

#[test]
fn budgets_go_to_the_riskiest_and_the_rest_fall_through() {
    let r = rules(
        "[actions.call]\ndaily_budget = 2\n[actions.mail]\n\
         [[rule]]\nname = \"call\"\naction = \"call\"\nwhen = { churn_risk = { min = 0.5 } }\n\
         [[rule]]\nname = \"mail\"\naction = \"mail\"\nwhen = { churn_risk = { min = 0.5 } }\n",
    );
    let users: Vec<Candidate> = [0.6, 0.9, 0.7, 0.8]
        .iter()
        .enumerate()
        .map(|(i, &p)| user(&format!("u{i}"), p))
        .collect();
    let got = decide(&r, &users);
    assert_eq!(
        got,
        [
            ("u1", "call"),
            ("u3", "call"),
            ("u2", "mail"),
            ("u0", "mail")
        ]
        .map(|(u, a)| (u.to_string(), a.to_string()))
    );
    // Budget spent by an earlier run counts.
    let mut used = Used::new();
    used.insert((day(), "call".into()), 2);
    let d = r.decide(&[user("x", 0.99)], &mut used, now());
    assert_eq!(d[0].action, "mail");
    assert!(
        d[0].reason.contains("daily budget of 2 call used up"),
        "{}",
        d[0].reason
    );
}

#[test]
fn parameters_use_tiers_caps_floors_and_rounding() {
    let p: churn_decisions::rules::ParamSpec = toml::from_str(
        "from = \"monthly_amount\"\ntiers = [{ below = 300.0, rate = 0.5 }]\nrate = 0.25\ncap = 500.0\n",
    )
    .unwrap();
    assert_eq!(compute_param(&p, 200.0), 100.0, "50% under 300");
    assert_eq!(compute_param(&p, 499.0), 124.75, "25% at 300 and above");
    assert_eq!(compute_param(&p, 4000.0), 500.0, "capped");
    let q: churn_decisions::rules::ParamSpec =
        toml::from_str("value = 1.0\nrate = 0.333333\nfloor = 0.5\nround = 0\n").unwrap();
    assert_eq!(compute_param(&q, 1.0), 1.0, "floored at 0.5, then rounded");

    let r = rules(
        "[prices]\npaid = 250.0\n[actions.offer]\n[[rule]]\nname = \"o\"\naction = \"offer\"\n\
         params.amount = { from = \"monthly_amount\", tiers = [{ below = 300.0, rate = 0.5 }], rate = 0.25 }\n\
         params.days = { from = \"days_since_last_activity\" }\n",
    );
    let mut paid = user("p", 0.4);
    paid.plan = Some("Paid".into());
    paid.days_since_last_activity = Some(6);
    let d = &r.decide(&[paid, user("f", 0.3)], &mut Used::new(), now());
    assert_eq!(d[0].params["amount"], 125.0);
    assert_eq!(d[0].params["days"], 6.0);
    assert!(d[0].reason.contains("amount = 125"), "{}", d[0].reason);
    // No price for the free plan: the rule cannot price an offer, so it does not apply.
    assert_eq!(d[1].action, "none");
    assert!(d[1].reason.contains("no monthly_amount"), "{}", d[1].reason);
}

#[test]
fn the_points_scaled_score_is_written_beside_the_probability() {
    let r = RuleSet::default_rules().unwrap();
    let d = &r.decide(&[user("a", 1.0 / 31.0)], &mut Used::new(), now())[0];
    assert_eq!(d.score, 600.0);
}

#[test]
fn bad_rules_files_name_the_line_and_the_rule() {
    let cases = [
        (
            "[actions.call]\n\n[[rule]]\nname = \"x\"\naction = \"teleport\"\n",
            vec!["rules.toml:3", "rule `x`", "unknown action `teleport`"],
        ),
        (
            "[actions.call]\n[[rule]]\nname = \"x\"\naction = \"call\"\nwhen = { churn_risk = { min = 0.9, max = 0.2 } }\n",
            vec!["rules.toml:2", "impossible", "churn_risk"],
        ),
        (
            "[actions.call]\n[[rule]]\nname = \"x\"\naction = \"call\"\nwhen = { churn_risk = { min = 1.5 } }\n",
            vec!["impossible", "[0, 1]"],
        ),
        (
            "[actions.call]\n[[rule]]\nname = \"x\"\naction = \"call\"\nwhen = { plan = [\"free\"], is_paid = true }\n",
            vec!["impossible", "is_paid"],
        ),
        (
            "[actions.call]\n[[rule]]\nname = \"x\"\naction = \"call\"\nwhen = { plan = [\"platinum\"] }\n",
            vec!["platinum"],
        ),
        (
            "[actions.call]\n[[rule]]\nname = \"x\"\naction = \"call\"\nwhen = { churn_rsk = { min = 0.5 } }\n",
            vec!["rules.toml:5", "churn_rsk"],
        ),
        (
            "[actions.call]\n[[rule]]\nname = \"x\"\naction = \"call\"\nparams.a = { from = \"salary\" }\n",
            vec!["params.a", "salary"],
        ),
        (
            "[actions.call]\n[[rule]]\nname = \"all\"\naction = \"call\"\n[[rule]]\nname = \"later\"\naction = \"none\"\n",
            vec!["rules.toml:5", "can never match", "`all`"],
        ),
        ("[actions.call]\n", vec!["no [[rule]]"]),
        (
            "[actions.call]\n[[rule]]\nname = \"x\"\naction = \"call\"\n[[rule]]\nname = \"x\"\naction = \"none\"\nwhen = { churn_risk = { min = 0.1 } }\n",
            vec!["rules.toml:5", "used already on line 2"],
        ),
        (
            "[actions.call]\n[[rule]]\nname = \"x\"\naction = \"call\"\nparams.a = { from = \"monthly_amount\" }\n",
            vec!["[prices]"],
        ),
    ];
    for (text, fragments) in cases {
        let e = error(text);
        for f in fragments {
            assert!(e.contains(f), "{text}\n=> {e}\n(lacks {f})");
        }
    }
}

fn write_predictions(path: &Path, users: &[Candidate]) {
    use arrow::array::{Date32Array, Float64Array, StringArray, UInt32Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("as_of_date", DataType::Date32, false),
        Field::new("churn_risk", DataType::Float64, false),
        Field::new("plan", DataType::Utf8, true),
        Field::new("model_name", DataType::Utf8, false),
        Field::new("model_version", DataType::UInt32, false),
    ]));
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                users.iter().map(|u| &u.user_id),
            )),
            Arc::new(Date32Array::from_iter_values(
                users
                    .iter()
                    .map(|u| (u.as_of_date - epoch).num_days() as i32),
            )),
            Arc::new(Float64Array::from_iter_values(
                users.iter().map(|u| u.churn_risk),
            )),
            Arc::new(StringArray::from_iter(users.iter().map(|u| u.plan.clone()))),
            Arc::new(StringArray::from_iter_values(users.iter().map(|_| "churn"))),
            Arc::new(UInt32Array::from_iter_values(users.iter().map(|_| 1))),
        ],
    )
    .unwrap();
    churn_data::io::write_batches(path, schema, &[batch]).unwrap();
}

#[test]
fn the_parquet_sink_decides_nobody_twice_and_keeps_budgets_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("decisions/decisions.parquet");
    let r = rules(
        "[actions.call]\ndaily_budget = 3\n[[rule]]\nname = \"c\"\naction = \"call\"\nwhen = { churn_risk = { min = 0.5 } }\n",
    );
    let clock = FixedClock(now());
    let first: Vec<Candidate> = (0..5)
        .map(|i| user(&format!("a{i}"), 0.9 - i as f64 * 0.01))
        .collect();
    let preds = dir.path().join("p.parquet");
    write_predictions(&preds, &first);
    let read = churn_decisions::table::read_predictions(&preds).unwrap();
    assert_eq!(read.len(), 5);
    let opts = RunOptions {
        batch_rows: 2,
        ..RunOptions::default()
    };
    let s = run(
        &mut ParquetStore::open(&out).unwrap(),
        &r,
        read.clone(),
        &opts,
        &clock,
    )
    .unwrap();
    assert_eq!((s.written, s.already_decided), (5, 0));
    assert_eq!(s.by_action["call"], 3);
    assert_eq!(s.by_action["none"], 2);
    let again = run(
        &mut ParquetStore::open(&out).unwrap(),
        &r,
        read,
        &opts,
        &clock,
    )
    .unwrap();
    assert_eq!(
        (again.written, again.already_decided),
        (0, 5),
        "a re-run decides nobody"
    );
    // A newcomer the same day: the call budget is spent, so no call.
    let late = vec![user("zz", 0.99)];
    let s = run(
        &mut ParquetStore::open(&out).unwrap(),
        &r,
        late,
        &opts,
        &clock,
    )
    .unwrap();
    assert_eq!(s.by_action.get("call"), None);
    assert_eq!(read_decisions(&out).unwrap().len(), 6);
    assert!(out.with_extension("csv").is_file());
    // Re-deciding replaces, never duplicates.
    let redo = RunOptions {
        redecide: true,
        ..opts
    };
    let s = run(
        &mut ParquetStore::open(&out).unwrap(),
        &r,
        first,
        &redo,
        &clock,
    )
    .unwrap();
    assert_eq!(s.written, 5);
    assert_eq!(read_decisions(&out).unwrap().len(), 6);
}

#[test]
fn more_decisions_than_one_write_batch_are_all_written_once_in_rank_order() {
    // The sink writes its decisions a slice at a time: every slice lands, in order.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("decisions.parquet");
    let n = churn_data::io::DEFAULT_BATCH_SIZE + 1_000;
    let users: Vec<Candidate> = (0..n)
        .map(|i| user(&format!("u{i:06}"), i as f64 / n as f64))
        .collect();
    let r = rules("[actions.call]\n[[rule]]\nname = \"c\"\naction = \"call\"\n");
    let options = RunOptions {
        batch_rows: 20_000,
        ..RunOptions::default()
    };
    let clock = FixedClock(now());
    let s = run(
        &mut ParquetStore::open(&out).unwrap(),
        &r,
        users,
        &options,
        &clock,
    )
    .unwrap();
    assert_eq!(s.written, n as u64);
    let read = read_decisions(&out).unwrap();
    assert_eq!(read.len(), n);
    let ids: Vec<&str> = read.iter().map(|d| d.user_id.as_str()).collect();
    let expected: Vec<String> = (0..n).rev().map(|i| format!("u{i:06}")).collect();
    assert!(
        ids.iter().eq(expected.iter()),
        "highest risk first, each once"
    );
    let csv = std::fs::read_to_string(out.with_extension("csv")).unwrap();
    assert_eq!(csv.lines().count(), n + 1, "one header");
}

#[test]
fn the_parquet_sink_holds_only_the_dates_it_decides_and_keeps_the_others_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("decisions.parquet");
    let r = rules(
        "[actions.call]\ndaily_budget = 2\n[[rule]]\nname = \"c\"\naction = \"call\"\nwhen = { churn_risk = { min = 0.5 } }\n",
    );
    let on = |d: NaiveDate, ids: &[&str]| -> Vec<Candidate> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| Candidate {
                as_of_date: d,
                ..user(id, 0.9 - i as f64 * 0.1)
            })
            .collect()
    };
    let (d1, d2) = (day(), day().succ_opt().unwrap());
    let opts = RunOptions::default();
    let decide = |candidates: Vec<Candidate>, redecide: bool| {
        let mut store = ParquetStore::open(&out).unwrap();
        let options = RunOptions {
            redecide,
            ..opts.clone()
        };
        let s = run(&mut store, &r, candidates, &options, &FixedClock(now())).unwrap();
        (s, store.decisions().to_vec())
    };
    decide(on(d1, &["a", "b", "c"]), false);
    let day_one = read_decisions(&out).unwrap();
    assert_eq!(day_one.len(), 3);

    // A run on the next day reads and holds only that day; the first day's rows are
    // carried through unchanged, and its budget is its own.
    let (s, held) = decide(on(d2, &["a", "d"]), false);
    assert_eq!(s.by_action["call"], 2, "day two has its own budget");
    assert!(held.iter().all(|d| d.as_of_date == d2), "{held:?}");
    let all = read_decisions(&out).unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(
        all.iter()
            .filter(|d| d.as_of_date == d1)
            .cloned()
            .collect::<Vec<_>>(),
        day_one
    );

    // Re-deciding the first day touches only it: still one decision per user and day.
    let (s, held) = decide(on(d1, &["c", "e"]), true);
    assert_eq!((s.written, s.already_decided), (2, 0));
    assert!(held.iter().all(|d| d.as_of_date == d1));
    assert_eq!(held.len(), 4, "a, b, c (re-decided) and e");
    let all = read_decisions(&out).unwrap();
    assert_eq!(all.len(), 6);
    let mut keys: Vec<(NaiveDate, String)> = all
        .iter()
        .map(|d| (d.as_of_date, d.user_id.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 6, "no (user, date) twice");
    let csv = std::fs::read_to_string(out.with_extension("csv")).unwrap();
    assert_eq!(csv.lines().count(), 7, "the CSV copy has the same rows");
}

#[test]
fn predictions_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.parquet");
    write_predictions(&p, &[user("a", 0.5), user("a", 0.4)]);
    let e = churn_decisions::table::read_predictions(&p)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("p.parquet") && e.contains("duplicate") && e.contains("a 2025-04-30"),
        "{e}"
    );
    write_predictions(&p, &[user("a", 1.5)]);
    let e = churn_decisions::table::read_predictions(&p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("churn_risk") && e.contains("a: 1.5"), "{e}");
    write_predictions(&p, &[]);
    let e = churn_decisions::table::read_predictions(&p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no rows"), "{e}");
}

fn arb_user() -> impl Strategy<Value = Candidate> {
    (
        0u32..60,
        0.0f64..=1.0,
        prop::bool::ANY,
        prop::option::of(0i64..60),
        prop::sample::select(vec!["US", "IN", "BR"]),
    )
        .prop_map(|(id, risk, paid, inactive, country)| Candidate {
            plan: Some(if paid { "paid" } else { "free" }.into()),
            is_paid: Some(paid),
            days_since_last_activity: inactive,
            country: Some(country.into()),
            ..user(&format!("u{id}"), risk)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_user_gets_one_decision_and_budgets_hold(
        users in prop::collection::vec(arb_user(), 0..80),
        budget_call in 0u64..6,
        budget_mail in 0u64..10,
    ) {
        let r = rules(&format!(
            "[prices]\npaid = 499.0\n\
             [actions.call]\ndaily_budget = {budget_call}\n[actions.mail]\ndaily_budget = {budget_mail}\n\
             [[rule]]\nname = \"a\"\naction = \"call\"\nwhen = {{ churn_risk = {{ min = 0.7 }}, plan = [\"paid\"] }}\n\
             [[rule]]\nname = \"b\"\naction = \"mail\"\nwhen = {{ days_since_last_activity = {{ min = 3 }} }}\n\
             params.x = {{ from = \"monthly_amount\", cap = 100.0 }}\n\
             [[rule]]\nname = \"c\"\naction = \"mail\"\nwhen = {{ country = [\"IN\"] }}\n"
        ));
        let mut unique = users.clone();
        unique.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        unique.dedup_by(|a, b| a.user_id == b.user_id);
        rank(&mut unique);
        let d = r.decide(&unique, &mut Used::new(), now());
        prop_assert_eq!(d.len(), unique.len());
        for (c, x) in unique.iter().zip(&d) {
            prop_assert_eq!(&c.user_id, &x.user_id);
        }
        let count = |a: &str| d.iter().filter(|x| x.action == a).count() as u64;
        prop_assert!(count("call") <= budget_call);
        prop_assert!(count("mail") <= budget_mail);
        // The riskiest eligible users get the call: no one left without a call is riskier
        // than someone who got it, among paid users above 0.7.
        let called_min = d.iter().filter(|x| x.action == "call").map(|x| x.churn_risk).fold(f64::INFINITY, f64::min);
        for (c, x) in unique.iter().zip(&d) {
            if x.action != "call" && c.plan.as_deref() == Some("paid") && c.churn_risk >= 0.7 {
                prop_assert!(c.churn_risk <= called_min);
            }
        }
    }
}

#[test]
fn an_action_with_a_cooldown_is_not_given_again_within_it_and_the_next_rule_applies() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("decisions.parquet");
    let r = rules(
        "[actions.offer]\ncooldown_days = 7\n[actions.email]\n\
         [[rule]]\nname = \"o\"\naction = \"offer\"\nwhen = { churn_risk = { min = 0.5 } }\n\
         [[rule]]\nname = \"e\"\naction = \"email\"\nwhen = { churn_risk = { min = 0.5 } }\n",
    );
    assert_eq!(r.cooldowns().get("offer"), Some(&7));
    let on = |days: i64, ids: &[&str]| -> Vec<Candidate> {
        ids.iter()
            .map(|id| Candidate {
                as_of_date: day() + chrono::Duration::days(days),
                ..user(id, 0.9)
            })
            .collect()
    };
    let decide = |candidates: Vec<Candidate>| -> Vec<(String, String)> {
        let mut store = ParquetStore::open(&out).unwrap();
        run(
            &mut store,
            &r,
            candidates,
            &RunOptions::default(),
            &FixedClock(now()),
        )
        .unwrap();
        let mut got: Vec<(String, String)> = store
            .decisions()
            .iter()
            .filter(|d| d.as_of_date == store.decisions().last().unwrap().as_of_date)
            .map(|d| (d.user_id.clone(), d.action.clone()))
            .collect();
        got.sort();
        got
    };
    let pair = |u: &str, a: &str| (u.to_string(), a.to_string());
    // Day 0: both get the offer. Day 1 (a new run, the file read back): `a` is within the
    // cooldown and gets the e-mail; `c` is new. Day 7: the offer again.
    assert_eq!(
        decide(on(0, &["a", "b"])),
        [pair("a", "offer"), pair("b", "offer")]
    );
    assert_eq!(
        decide(on(1, &["a", "c"])),
        [pair("a", "email"), pair("c", "offer")]
    );
    let d6 = decide(on(6, &["a", "c"]));
    assert_eq!(d6, [pair("a", "email"), pair("c", "email")]);
    assert_eq!(
        decide(on(7, &["a", "c"])),
        [pair("a", "offer"), pair("c", "email")]
    );
    let all = read_decisions(&out).unwrap();
    let a1 = all
        .iter()
        .find(|d| d.user_id == "a" && d.as_of_date == day() + chrono::Duration::days(1))
        .unwrap();
    assert!(
        a1.reason
            .contains("offer given on 2025-04-30, within cooldown_days 7"),
        "{}",
        a1.reason
    );
    // In memory: the history decides, without a store.
    let mut history = churn_decisions::History::default();
    history.add("x", day(), "offer");
    let later = Candidate {
        as_of_date: day() + chrono::Duration::days(3),
        ..user("x", 0.9)
    };
    let d = r.decide_with_history([&later], &mut Used::new(), &history, now());
    assert_eq!(d[0].action, "email");
    // A catch-all rule whose action has a cooldown can still fall through: not an error.
    rules("[actions.offer]\ncooldown_days = 3\n[[rule]]\nname = \"all\"\naction = \"offer\"\n");
}
