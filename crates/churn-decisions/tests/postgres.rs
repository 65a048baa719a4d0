//! Integration tests against a real PostgreSQL server at CHURN_TEST_DATABASE_URL
//! (`.ci/run` starts one and sets it). Without the variable these tests report that they
//! did not run; under CI (CI set) that is a failure.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use chrono::{NaiveDate, TimeZone, Utc};
use churn_data::clock::FixedClock;
use churn_decisions::pg::PgStore;
use churn_decisions::{Candidate, RuleSet, RunOptions, run};

fn url() -> Option<String> {
    match std::env::var("CHURN_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the PostgreSQL tests: set CHURN_TEST_DATABASE_URL (.ci/run does)"
            );
            // Straight to the process's stderr (not the captured `eprintln!`), so the
            // notice shows in a passing `cargo test` run.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "NOT RUN: churn-decisions PostgreSQL integration test; set \
                 CHURN_TEST_DATABASE_URL=postgres://user:password@host/db to run it"
            );
            None
        }
    }
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 4, 30).unwrap()
}

fn clock() -> FixedClock {
    FixedClock(Utc.with_ymd_and_hms(2025, 5, 1, 6, 0, 0).unwrap())
}

fn users(n: usize) -> Vec<Candidate> {
    (0..n)
        .map(|i| Candidate {
            user_id: format!("u{i:05}"),
            as_of_date: day(),
            churn_risk: ((i * 7919) % 1000) as f64 / 1000.0,
            plan: Some(if i % 3 == 0 { "paid" } else { "free" }.into()),
            is_paid: Some(i % 3 == 0),
            country: Some("US".into()),
            marketing_source: Some("ads".into()),
            days_since_signup: Some(40),
            days_since_last_activity: Some((i % 9) as i64),
            reasons: vec![],
            model_name: "churn".into(),
            model_version: 2,
        })
        .collect()
}

fn rules() -> RuleSet {
    RuleSet::from_toml_str(
        "[prices]\npaid = 499.0\nfree = 0.0\n\
         [actions.call]\ndaily_budget = 10\n[actions.offer]\ndaily_budget = 50\n\
         [[rule]]\nname = \"call\"\naction = \"call\"\nwhen = { churn_risk = { min = 0.8 }, plan = [\"paid\"] }\n\
         [[rule]]\nname = \"offer\"\naction = \"offer\"\nwhen = { churn_risk = { min = 0.5 } }\n\
         params.amount = { from = \"monthly_amount\", tiers = [{ below = 300.0, rate = 0.5 }], rate = 0.25, cap = 500.0 }\n",
        std::path::Path::new("rules.toml"),
    )
    .unwrap()
}

/// A fresh table for one test.
fn fresh(url: &str, name: &str) -> PgStore {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS {name}; DROP TABLE IF EXISTS {name}_schema"
    ))
    .unwrap();
    PgStore::connect(url, name).unwrap()
}

fn counts(url: &str, table: &str) -> (i64, i64, i64, i64) {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let r = c
        .query_one(
            &format!(
                "SELECT count(*), count(DISTINCT (user_id, as_of_date)),
                        count(*) FILTER (WHERE action = 'call'),
                        count(*) FILTER (WHERE action = 'offer') FROM {table}"
            ),
            &[],
        )
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

#[test]
fn migrations_run_once_and_the_table_has_its_key() {
    let Some(url) = url() else { return };
    let mut store = fresh(&url, "t_migrate");
    assert_eq!(
        store.migrate().unwrap(),
        0,
        "a second migration does nothing"
    );
    let mut again = PgStore::connect(&url, "t_migrate").unwrap();
    assert_eq!(again.migrate().unwrap(), 0);
    let key: Vec<String> = store
        .client()
        .query(
            "SELECT a.attname::text FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
             WHERE i.indrelid = 't_migrate'::regclass AND i.indisprimary ORDER BY a.attname",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(key, ["as_of_date", "user_id"]);
    assert!(PgStore::connect(&url, "x; DROP TABLE t_migrate").is_err());
}

#[test]
fn rerunning_decides_nobody_twice_and_budgets_hold() {
    let Some(url) = url() else { return };
    let mut store = fresh(&url, "t_rerun");
    let opts = RunOptions {
        batch_rows: 64,
        ..RunOptions::default()
    };
    let s = run(&mut store, &rules(), users(500), &opts, &clock()).unwrap();
    assert_eq!((s.written, s.already_decided), (500, 0));
    let again = run(&mut store, &rules(), users(500), &opts, &clock()).unwrap();
    assert_eq!((again.written, again.already_decided), (0, 500));
    let (rows, distinct, calls, offers) = counts(&url, "t_rerun");
    assert_eq!((rows, distinct), (500, 500));
    assert_eq!(
        (calls, offers),
        (10, 50),
        "budgets are spent in full and never exceeded"
    );
    let stored = store.decisions_on(day()).unwrap();
    let top_call = stored.iter().find(|d| d.action == "call").unwrap();
    assert!(
        top_call.reason.contains("rule `call`"),
        "{}",
        top_call.reason
    );
    let offer = stored.iter().find(|d| d.action == "offer").unwrap();
    assert!(offer.params.contains_key("amount"));
    // Newcomers later the same day: the budgets are spent.
    let more: Vec<Candidate> = users(600).into_iter().skip(500).collect();
    let s = run(&mut store, &rules(), more, &opts, &clock()).unwrap();
    assert_eq!(s.written, 100);
    assert!(!s.by_action.contains_key("call") && !s.by_action.contains_key("offer"));
    // --redecide replaces decisions in place.
    let redo = RunOptions {
        redecide: true,
        ..opts
    };
    let s = run(&mut store, &rules(), users(500), &redo, &clock()).unwrap();
    assert_eq!(s.written, 500);
    let (rows, distinct, calls, offers) = counts(&url, "t_rerun");
    assert_eq!((rows, distinct), (600, 600));
    assert!(calls <= 10 && offers <= 50);
}

#[test]
fn two_concurrent_runs_do_not_double_decide_or_overspend() {
    let Some(url) = url() else { return };
    drop(fresh(&url, "t_concurrent"));
    let outcomes: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let url = url.clone();
                s.spawn(move || {
                    let mut store = PgStore::connect(&url, "t_concurrent").unwrap();
                    let opts = RunOptions {
                        batch_rows: 25,
                        ..RunOptions::default()
                    };
                    run(&mut store, &rules(), users(400), &opts, &clock())
                        .unwrap()
                        .written
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().sum::<u64>(), 400, "{outcomes:?}");
    let (rows, distinct, calls, offers) = counts(&url, "t_concurrent");
    assert_eq!((rows, distinct), (400, 400));
    assert_eq!((calls, offers), (10, 50));
}

#[test]
fn a_broken_connection_keeps_whole_batches_only_and_a_rerun_completes() {
    let Some(url) = url() else { return };
    drop(fresh(&url, "t_broken"));
    let app = "churn_decide_broken_test";
    let tagged = if url.contains('?') {
        format!("{url}&application_name={app}")
    } else {
        format!("{url}?application_name={app}")
    };
    let batch = 7;
    let n = 20_000;
    let result = std::thread::scope(|s| {
        let runner = s.spawn(|| {
            let mut store = PgStore::connect(&tagged, "t_broken").unwrap();
            let opts = RunOptions {
                batch_rows: batch,
                ..RunOptions::default()
            };
            run(&mut store, &rules(), users(n), &opts, &clock())
        });
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        // Wait for some batches to commit, then cut the writer's connection.
        loop {
            let (rows, ..) = counts(&url, "t_broken");
            if rows > 0 || runner.is_finished() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .unwrap();
        runner.join().unwrap()
    });
    let err = result
        .expect_err("the run sees the broken connection")
        .to_string();
    assert!(err.contains("PostgreSQL"), "{err}");
    let (rows, distinct, ..) = counts(&url, "t_broken");
    assert!(rows > 0 && rows < n as i64, "{rows}");
    assert_eq!(rows, distinct);
    assert_eq!(
        rows % batch as i64,
        0,
        "only whole batches were committed: {rows}"
    );
    let mut store = PgStore::connect(&url, "t_broken").unwrap();
    let opts = RunOptions {
        batch_rows: 1000,
        ..RunOptions::default()
    };
    let s = run(&mut store, &rules(), users(n), &opts, &clock()).unwrap();
    assert_eq!(s.written as i64 + rows, n as i64);
    let (rows, distinct, calls, offers) = counts(&url, "t_broken");
    assert_eq!((rows, distinct), (n as i64, n as i64));
    assert_eq!((calls, offers), (10, 50));
}

#[test]
fn undecided_users_are_read_from_a_table_with_a_limit() {
    let Some(url) = url() else { return };
    let mut store = fresh(&url, "t_source_decisions");
    store
        .client()
        .batch_execute(
            "DROP TABLE IF EXISTS t_source;
             CREATE TABLE t_source (user_id text, as_of_date date, churn_risk float8, plan text,
                                    model_name text, model_version int, reason_1 text);
             INSERT INTO t_source
             SELECT 'u' || g, DATE '2025-04-30', g / 100.0, 'paid', 'churn', 3, 'logins_7d=0 (+1)'
             FROM generate_series(1, 99) g;",
        )
        .unwrap();
    let first = store.undecided_from("t_source", Some(day()), 30).unwrap();
    assert_eq!(first.len(), 30);
    assert_eq!(first[0].user_id, "u99", "highest risk first");
    assert_eq!(first[0].reasons, ["logins_7d=0 (+1)"]);
    run(
        &mut store,
        &rules(),
        first.clone(),
        &RunOptions::default(),
        &clock(),
    )
    .unwrap();
    let next = store.undecided_from("t_source", None, 1000).unwrap();
    assert_eq!(next.len(), 69);
    let a: HashSet<_> = first.iter().map(|c| &c.user_id).collect();
    assert!(next.iter().all(|c| !a.contains(&c.user_id)));
    assert!(store.undecided_from("t_source; --", None, 1).is_err());
}

#[test]
fn a_cooldown_reads_earlier_dates_from_the_table() {
    let Some(url) = url() else { return };
    let r = RuleSet::from_toml_str(
        "[actions.offer]\ncooldown_days = 7\n[actions.email]\n\
         [[rule]]\nname = \"o\"\naction = \"offer\"\nwhen = { churn_risk = { min = 0.5 } }\n\
         [[rule]]\nname = \"e\"\naction = \"email\"\nwhen = { churn_risk = { min = 0.5 } }\n",
        std::path::Path::new("rules.toml"),
    )
    .unwrap();
    let on = |days: i64| -> Vec<Candidate> {
        users(3)
            .into_iter()
            .map(|c| Candidate {
                as_of_date: day() + chrono::Duration::days(days),
                churn_risk: 0.9,
                ..c
            })
            .collect()
    };
    let mut store = fresh(&url, "churn_test_cooldown");
    let actions = |store: &mut PgStore, days: i64| -> Vec<String> {
        let s = run(store, &r, on(days), &RunOptions::default(), &clock()).unwrap();
        s.by_action
            .iter()
            .map(|(a, n)| format!("{a} {n}"))
            .collect()
    };
    assert_eq!(actions(&mut store, 0), ["offer 3"]);
    assert_eq!(
        actions(&mut store, 3),
        ["email 3"],
        "within 7 days of the offers"
    );
    assert_eq!(
        actions(&mut store, 7),
        ["offer 3"],
        "7 days after: offered again"
    );
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let reason: String = c
        .query_one(
            "SELECT reason FROM churn_test_cooldown WHERE as_of_date = $1 LIMIT 1",
            &[&(day() + chrono::Duration::days(3))],
        )
        .unwrap()
        .get(0);
    assert!(reason.contains("within cooldown_days 7"), "{reason}");
}
