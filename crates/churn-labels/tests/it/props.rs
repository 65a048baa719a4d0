//! Property tests: labels, eligibility and the split against obvious loops.

use churn_labels::{eligible, eligible_from_recency, future_active_days, test_mask};
use proptest::prelude::*;

fn user() -> impl Strategy<Value = (Vec<i32>, Vec<bool>)> {
    proptest::collection::btree_map(0i32..80, any::<bool>(), 1..40)
        .prop_map(|m| m.into_iter().unzip())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn labels_equal_the_naive_loop((dates, active) in user(), window in 1u32..35) {
        let fast = future_active_days(&dates, &active, window);
        for (i, &d) in dates.iter().enumerate() {
            let naive = dates.iter().zip(&active).filter(|(x, a)| **a && **x > d && **x <= d + window as i32).count() as i32;
            prop_assert_eq!(fast[i], naive);
        }
    }

    #[test]
    fn eligibility_equals_the_naive_loop((dates, active) in user(), n in 0u32..35) {
        let fast = eligible(&dates, &active, n);
        for (i, &d) in dates.iter().enumerate() {
            let naive = n == 0 || dates.iter().zip(&active).any(|(x, a)| *a && *x <= d && *x > d - n as i32);
            prop_assert_eq!(fast[i], naive);
        }
    }

    #[test]
    fn eligibility_from_one_feature_row_equals_the_history(
        (dates, active) in user(), n in 0u32..35, extra in 0u32..10, signup_gap in 0i32..50,
    ) {
        // What the features stage writes: recency (days since signup before any activity)
        // and active days over a trailing window w >= n.
        let w = n.max(1) + extra;
        let signup = dates[0] - signup_gap;
        let history = eligible(&dates, &active, n);
        for (i, &d) in dates.iter().enumerate() {
            let last = dates[..=i].iter().zip(&active).filter(|(_, a)| **a).map(|(x, _)| *x).max();
            let recency = d - last.unwrap_or(signup);
            let active_w = dates[..=i].iter().zip(&active).filter(|(x, a)| **a && **x > d - w as i32).count() as i32;
            prop_assert_eq!(eligible_from_recency(recency, active_w, n), history[i]);
        }
    }

    #[test]
    fn no_test_date_is_on_or_before_a_train_date(dates in proptest::collection::vec(0i32..30, 1..200), test_size in 0.05f64..0.95) {
        let ids: Vec<String> = (0..dates.len()).map(|i| format!("u{}", i % 7)).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let (_, mask) = test_mask(&dates, &ids, test_size);
        let max_train = dates.iter().zip(&mask).filter(|(_, t)| !**t).map(|(d, _)| *d).max();
        let min_test = dates.iter().zip(&mask).filter(|(_, t)| **t).map(|(d, _)| *d).min();
        let mut distinct = dates.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() >= 5 {
            // A date split: strictly ordered, and both parts non-empty.
            prop_assert!(max_train.is_some() && min_test.is_some());
            prop_assert!(max_train < min_test);
        } else if let (Some(a), Some(b)) = (max_train, min_test) {
            // A row split after sorting by date: never a test date before a train date.
            prop_assert!(a <= b);
        }
    }
}
