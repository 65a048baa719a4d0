use std::collections::{HashMap, HashSet};

use arrow::array::{
    Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use churn_data::config::{DriftConfig, GenerateConfig};
use churn_data::generate::{EventColumns, Simulator};
use churn_data::io::read_all;
use churn_data::schema::{self, events as ev, users as us};

use crate::pretty;

fn config(n: u64, seed: u64) -> GenerateConfig {
    GenerateConfig {
        n_users: n,
        seed,
        ..GenerateConfig::default()
    }
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> &'a T {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<T>()
        .unwrap()
}

#[test]
fn same_seed_same_output_different_seed_different_output() {
    let a = Simulator::new(&config(200, 7))
        .unwrap()
        .chunk(0..200, 1)
        .unwrap();
    let b = Simulator::new(&config(200, 7))
        .unwrap()
        .chunk(0..200, 1)
        .unwrap();
    let c = Simulator::new(&config(200, 8))
        .unwrap()
        .chunk(0..200, 1)
        .unwrap();
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert_ne!(a.0, c.0);
    assert_ne!(a.1.num_rows(), 0);
}

#[test]
fn output_does_not_depend_on_chunking() {
    let sim = Simulator::new(&config(300, 42)).unwrap();
    let (u_all, e_all) = sim.chunk(0..300, 1).unwrap();
    let (u1, e1) = sim.chunk(0..100, 1).unwrap();
    let (u2, e2) = sim.chunk(100..300, 1 + e1.num_rows() as i64).unwrap();
    assert_eq!(pretty(&[u_all]), pretty(&[u1, u2]));
    assert_eq!(pretty(&[e_all]), pretty(&[e1, e2]));
}

#[test]
fn files_written_in_chunks_equal_one_chunk_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GenerateConfig {
        chunk_users: 37,
        ..config(150, 3)
    };
    let sim = Simulator::new(&cfg).unwrap();
    let (u, e) = (dir.path().join("u.parquet"), dir.path().join("e.parquet"));
    let summary = sim.write(&u, &e, &|_| {}).unwrap();
    let (users, events) = sim.chunk(0..150, 1).unwrap();
    assert_eq!(summary.users, 150);
    assert_eq!(summary.events, events.num_rows() as u64);
    assert_eq!(pretty(&read_all(&u, None).unwrap().1), pretty(&[users]));
    assert_eq!(pretty(&read_all(&e, None).unwrap().1), pretty(&[events]));
}

#[test]
fn statistics_at_2000_users_look_like_the_design() {
    let sim = Simulator::new(&config(2000, 42)).unwrap();
    let (users, events) = sim.chunk(0..2000, 1).unwrap();
    let paid = col::<Int32Array>(&users, us::IS_PAID);
    let share = paid.values().iter().map(|&v| f64::from(v)).sum::<f64>() / 2000.0;
    assert!((share - 0.35).abs() <= 0.03, "paid share {share}");

    let known: HashSet<i64> = col::<Int64Array>(&users, us::USER_ID)
        .values()
        .iter()
        .copied()
        .collect();
    let ids = col::<Int64Array>(&events, ev::USER_ID);
    assert!(
        ids.values().iter().all(|u| known.contains(u)),
        "every event's user exists"
    );

    let types = col::<StringArray>(&events, ev::EVENT_TYPE);
    let mut mix: HashMap<&str, usize> = HashMap::new();
    for t in types.iter().flatten() {
        *mix.entry(t).or_default() += 1;
    }
    for t in schema::EVENT_TYPES {
        assert!(
            mix.get(t).copied().unwrap_or(0) > 0,
            "{t} never generated: {mix:?}"
        );
    }
    let n = events.num_rows() as f64;
    let login = mix[schema::LOGIN] as f64 / n;
    assert!(login > 0.3 && login < 0.6, "login share {login}");
    assert!(mix[schema::VIDEO_WATCH] > mix[schema::QUIZ_ATTEMPT]);
    assert!(mix[schema::QUIZ_ATTEMPT] > mix[schema::COURSE_ENROLL]);
    assert!(mix[schema::PAYMENT_SUCCESS] > 5 * mix[schema::PAYMENT_FAILED]);
    assert!(mix[schema::SUPPORT_TICKET] < mix[schema::COURSE_ENROLL]);

    // Sorted by (user_id, event_time); ids 1..N.
    let times = col::<TimestampMicrosecondArray>(&events, ev::EVENT_TIME);
    for i in 1..events.num_rows() {
        assert!(
            (ids.value(i - 1), times.value(i - 1)) <= (ids.value(i), times.value(i)),
            "row {i} out of order"
        );
    }
    let eid = col::<Int64Array>(&events, ev::EVENT_ID);
    assert!(
        eid.values()
            .iter()
            .enumerate()
            .all(|(i, &v)| v == i as i64 + 1)
    );
    assert_eq!(eid.null_count(), 0);
}

#[test]
fn no_activity_on_or_after_a_users_churn_day_and_churn_follows_engagement() {
    let cfg = config(2000, 42);
    let sim = Simulator::new(&cfg).unwrap();
    let start = cfg
        .start_date
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();
    let (mut churned_eng, mut stayed_eng) = (Vec::new(), Vec::new());
    for i in 0..2000 {
        let mut evs = EventColumns::default();
        let u = sim.user(i, &mut evs);
        if let Some(day) = u.churn_day {
            let cutoff = start + i64::from(day) * 86_400_000_000;
            assert!(
                evs.time.iter().all(|&t| t < cutoff),
                "user {} active after churn day {day}",
                u.user_id
            );
            assert!(day >= cfg.days / 4 && day < cfg.days);
            churned_eng.push(u.engagement);
        } else {
            stayed_eng.push(u.engagement);
        }
        assert!(u.signup_date <= cfg.start_date);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        mean(&churned_eng) < mean(&stayed_eng),
        "low engagement churns more"
    );
    let rate = churned_eng.len() as f64 / 2000.0;
    assert!(rate > 0.15 && rate < 0.45, "churn rate {rate}");
}

#[test]
fn drift_lowers_activity_after_its_date() {
    let base = config(500, 1);
    let drifted = GenerateConfig {
        drift: Some(DriftConfig {
            from_date: base.start_date + chrono::Days::new(60),
            engagement_factor: 0.5,
            payment_fail_factor: 3.0,
        }),
        ..base.clone()
    };
    let count_late = |cfg: &GenerateConfig| {
        let (_, e) = Simulator::new(cfg).unwrap().chunk(0..500, 1).unwrap();
        let cutoff = (cfg.start_date + chrono::Days::new(60))
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros();
        col::<TimestampMicrosecondArray>(&e, ev::EVENT_TIME)
            .values()
            .iter()
            .filter(|&&t| t >= cutoff)
            .count()
    };
    let (before, after) = (count_late(&base), count_late(&drifted));
    assert!(
        (after as f64) < 0.8 * before as f64,
        "late events {before} -> {after}"
    );
}
