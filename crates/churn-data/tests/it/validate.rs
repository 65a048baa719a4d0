use std::path::Path;

use churn_data::clock::FixedClock;
use churn_data::config::{GenerateConfig, ValidateConfig};
use churn_data::generate::Simulator;
use churn_data::validate::{Severity, ValidationReport, validate_files};

use crate::{epoch_seconds_events, fixture};

fn clock() -> FixedClock {
    FixedClock(chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap())
}

fn check(users: &Path, events: &Path) -> ValidationReport {
    validate_files(users, events, &ValidateConfig::default(), &clock()).unwrap()
}

/// The violation of `column` whose rule contains `rule`.
#[track_caller]
fn find<'a>(
    r: &'a ValidationReport,
    column: &str,
    rule: &str,
) -> &'a churn_data::validate::Violation {
    r.violations
        .iter()
        .find(|v| v.column == column && v.rule.contains(rule))
        .unwrap_or_else(|| {
            panic!(
                "no violation of `{column}` / {rule:?} in:\n{}",
                r.render_text()
            )
        })
}

#[test]
fn generated_data_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::new(&GenerateConfig {
        n_users: 100,
        ..GenerateConfig::default()
    })
    .unwrap();
    let (u, e) = (
        dir.path().join("users.csv"),
        dir.path().join("events.parquet"),
    );
    sim.write(&u, &e, &|_| {}).unwrap();
    let r = check(&u, &e);
    assert!(r.ok && r.violations.is_empty(), "{}", r.render_text());
    assert_eq!(r.users.rows, 100);
    assert_eq!(r.checked_at, "2026-01-01T00:00:00+00:00");
}

#[test]
fn the_tiny_fixture_has_only_its_known_warning() {
    let r = check(&fixture("tiny/users.csv"), &fixture("tiny/events.csv"));
    assert!(r.ok, "{}", r.render_text());
    let w = find(&r, "event_time", "before the user's signup_date");
    assert_eq!((w.severity, w.count), (Severity::Warning, 1));
    assert_eq!(w.examples, vec!["row 9: user B2 event day 2025-01-02"]);
    let p = find(&r, "plan", "lowercase");
    assert_eq!(p.examples, vec!["row 3: Free"]);
}

#[test]
fn every_broken_rule_is_reported_with_counts_and_examples() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.csv");
    let events = dir.path().join("events.csv");
    std::fs::write(
        &users,
        "user_id,signup_date,plan,is_paid,engagement_score\n\
         1,2025-01-01,paid,1,0.5\n\
         1,2025-01-01,paid,1,0.5\n\
         ,2025-01-01,free,0,0.5\n\
         3,2025-13-45,gold,2,1.5\n\
         4,2025-01-01,paid,0,0.1\n",
    )
    .unwrap();
    std::fs::write(
        &events,
        "event_id,user_id,event_time,event_type,watch_minutes,quiz_score,amount\n\
         1,1,2025-01-02 10:00:00,login,,,\n\
         1,1,2025-01-02 10:00:00,login,,,\n\
         2,99,2025-01-02 10:00:00,login,,,\n\
         3,1,yesterday,login,,,\n\
         4,1,2025-01-02 10:00:00,teleport,,,\n\
         5,1,2025-01-02 10:00:00,video_watch,-3,,\n\
         6,1,2025-01-02 10:00:00,quiz_attempt,,101,\n\
         7,1,2025-01-02 10:00:00,payment_success,,,-5\n\
         8,1,2025-01-02 10:00:00,login,,,10\n\
         x9,1,2025-01-02 10:00:00,login,,,\n",
    )
    .unwrap();
    let r = check(&users, &events);
    assert!(!r.ok);
    assert_eq!(find(&r, "user_id", "unique").examples, vec!["row 2: 1"]);
    assert_eq!(find(&r, "user_id", "not be null").count, 1);
    assert_eq!(
        find(&r, "signup_date", "parse as a date").examples,
        vec!["row 4: \"2025-13-45\""]
    );
    assert_eq!(
        find(&r, "plan", "free or paid").examples,
        vec!["row 4: gold"]
    );
    assert_eq!(find(&r, "is_paid", "0 or 1").examples, vec!["row 4: 2"]);
    assert_eq!(
        find(&r, "is_paid", "agree with plan").examples,
        vec!["row 5: plan=paid is_paid=0"]
    );
    assert_eq!(find(&r, "engagement_score", "[0, 1]").count, 1);
    assert_eq!(find(&r, "event_id", "unique").examples, vec!["row 2: 1"]);
    assert_eq!(
        find(&r, "event_id", "parse as an integer").examples,
        vec!["row 10: \"x9\""]
    );
    assert_eq!(
        find(&r, "user_id", "exist in the users table").examples,
        vec!["row 3: 99"]
    );
    assert_eq!(find(&r, "event_time", "parse as a timestamp").count, 1);
    // A value that does not parse is reported once, as such, not again as missing; a truly
    // missing required value still is.
    for column in ["signup_date", "event_time", "event_id"] {
        assert!(
            !r.violations
                .iter()
                .any(|v| v.column == column && v.rule.contains("not be null")),
            "{column}:\n{}",
            r.render_text()
        );
    }
    assert_eq!(
        find(&r, "event_type", "allowed types").examples,
        vec!["row 5: teleport"]
    );
    assert_eq!(
        find(&r, "watch_minutes", ">= 0").examples,
        vec!["row 6: -3"]
    );
    assert_eq!(
        find(&r, "quiz_score", "[0, 100]").examples,
        vec!["row 7: 101"]
    );
    assert_eq!(find(&r, "amount", "> 0").examples, vec!["row 8: -5"]);
    assert_eq!(
        find(&r, "amount", "non-payment").severity,
        Severity::Warning
    );
    let text = r.render_text();
    assert!(
        text.contains("FAILED") && text.contains("events.csv"),
        "{text}"
    );
}

#[test]
fn allowed_and_mapped_event_types_pass() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.csv");
    std::fs::write(&events, "event_id,user_id,event_time,event_type\n1,B2,2025-01-03 10:00:00,signin\n2,B2,2025-01-03 11:00:00,certificate\n").unwrap();
    let config = ValidateConfig {
        extra_event_types: vec!["certificate".into()],
        event_type_map: [("signin".to_string(), "login".to_string())].into(),
        ..ValidateConfig::default()
    };
    let r = validate_files(&fixture("tiny/users.csv"), &events, &config, &clock()).unwrap();
    assert!(r.ok, "{}", r.render_text());
}

#[test]
fn unreadable_files_are_violations_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let users = fixture("tiny/users.csv");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.csv", vec![], "empty"),
        (
            "header_only.csv",
            b"event_id,user_id,event_time,event_type\n".to_vec(),
            "at least one data row",
        ),
        (
            "latin1.csv",
            b"event_id,user_id,event_time,event_type\n1,B2,2025-01-03 10:00:00,logi\xe9n\n"
                .to_vec(),
            "UTF-8",
        ),
        (
            "truncated.parquet",
            b"PAR1\x00\x00garbage".to_vec(),
            "parquet",
        ),
        (
            "missing_col.csv",
            b"event_id,user_id,event_type\n1,B2,login\n".to_vec(),
            "required column is missing",
        ),
    ];
    for (name, bytes, expect) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let r = check(&users, &path);
        assert!(!r.ok, "{name} must fail");
        let text = r.render_text();
        assert!(
            text.to_lowercase().contains(&expect.to_lowercase()),
            "{name}: expected {expect:?} in\n{text}"
        );
        assert!(text.contains(name), "{name}: the file is named in\n{text}");
    }
}

#[test]
fn numbers_in_a_timestamp_column_are_an_error_not_january_1970() {
    let dir = tempfile::tempdir().unwrap();
    let events = epoch_seconds_events(dir.path());
    let r = check(&fixture("tiny/users.csv"), &events);
    assert!(!r.ok, "{}", r.render_text());
    let v = find(&r, "event_time", "not numbers");
    assert_eq!(v.severity, Severity::Error);
    assert_eq!(v.count, 0, "a rule about the whole column counts no rows");
    assert_eq!(v.examples, ["type Int64"]);
    let text = r.render_text();
    assert!(
        text.contains("events.parquet") && !text.contains("0 row(s)"),
        "{text}"
    );
}

#[test]
fn a_missing_column_is_reported_once_not_as_a_null_in_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.csv");
    std::fs::write(
        &events,
        "event_id,user_id,event_time\n1,B2,2025-01-03 10:00:00\n2,B2,2025-01-04 10:00:00\n",
    )
    .unwrap();
    let r = check(&fixture("tiny/users.csv"), &events);
    let v = find(&r, "event_type", "required column is missing");
    assert_eq!(v.count, 0);
    assert!(
        !r.violations
            .iter()
            .any(|v| v.rule.contains("must not be null")),
        "{}",
        r.render_text()
    );
}

#[test]
fn a_missing_day_and_a_partial_last_day_are_warnings() {
    use arrow::array::{AsArray, BooleanArray};
    use arrow::datatypes::TimestampMicrosecondType;
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::new(&GenerateConfig {
        n_users: 200,
        days: 40,
        ..GenerateConfig::default()
    })
    .unwrap();
    let (u, e) = (
        dir.path().join("users.parquet"),
        dir.path().join("events.parquet"),
    );
    sim.write(&u, &e, &|_| {}).unwrap();
    let (schema, batches) = churn_data::io::read_all(&e, None).unwrap();
    let all = arrow::compute::concat_batches(&schema, &batches).unwrap();
    let times = all
        .column_by_name("event_time")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>()
        .clone();
    let day = |t: i64| t.div_euclid(86_400_000_000);
    let hour = |t: i64| t.rem_euclid(86_400_000_000) / 3_600_000_000;
    let last = (0..times.len()).map(|i| day(times.value(i))).max().unwrap();
    // Day 20 of the data is missing, and the last day stops at 04:00.
    let gap = last - 20;
    let keep: BooleanArray = (0..times.len())
        .map(|i| {
            let t = times.value(i);
            Some(day(t) != gap && (day(t) != last || hour(t) < 4))
        })
        .collect();
    let cut = arrow::compute::filter_record_batch(&all, &keep).unwrap();
    let broken = dir.path().join("broken.parquet");
    churn_data::io::write_batches(&broken, schema, &[cut]).unwrap();
    let r = check(&u, &broken);
    assert!(r.ok, "warnings only:\n{}", r.render_text());
    let missing = find(&r, "event_time", "1 date(s) have none");
    assert_eq!(missing.severity, Severity::Warning);
    assert_eq!(missing.examples, [churn_data::days::display(gap)]);
    let partial = find(&r, "event_time", "last date's events");
    assert_eq!(partial.severity, Severity::Warning);
    assert!(
        partial.examples[0].starts_with(&churn_data::days::display(last)),
        "{:?}",
        partial.examples
    );
    // Turned off, the partial day passes; the untouched export has neither warning.
    let off = ValidateConfig {
        last_day_min_share: 0.0,
        ..ValidateConfig::default()
    };
    let r = validate_files(&u, &broken, &off, &clock()).unwrap();
    assert!(!r.violations.iter().any(|v| v.rule.contains("last date's")));
    let r = check(&u, &e);
    assert!(r.violations.is_empty(), "{}", r.render_text());
}
