//! PSI properties on random samples.

use churn_monitor::psi::{PsiParams, psi_numeric};
use proptest::prelude::*;

fn sample() -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec(
        prop_oneof![8 => (-50i32..50).prop_map(f64::from), 1 => Just(f64::NAN), 1 => Just(3.0)],
        0..300,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn psi_is_finite_and_non_negative(base in sample(), cur in sample()) {
        let r = psi_numeric("x", &base, &cur, &PsiParams::default());
        prop_assert!(r.psi.is_finite() && r.psi >= 0.0, "{}", r.psi);
        prop_assert!(r.buckets.iter().all(|b| b.contribution >= 0.0));
        // Every value is counted somewhere.
        prop_assert_eq!(r.buckets.iter().map(|b| b.actual_count).sum::<u64>(), cur.len() as u64);
        prop_assert_eq!(r.buckets.iter().map(|b| b.expected_count).sum::<u64>(), base.len() as u64);
    }

    #[test]
    fn identical_samples_give_zero(base in sample()) {
        prop_assert_eq!(psi_numeric("x", &base, &base, &PsiParams::default()).psi, 0.0);
    }

    #[test]
    fn permuting_rows_changes_nothing(base in sample(), cur in sample(), seed in 0u64..1000) {
        let p = PsiParams::default();
        let shuffle = |v: &[f64]| {
            let mut v = v.to_vec();
            let n = v.len();
            for i in (1..n).rev() {
                let j = ((seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64)) >> 33) as usize % (i + 1);
                v.swap(i, j);
            }
            v
        };
        let a = psi_numeric("x", &base, &cur, &p).psi;
        let b = psi_numeric("x", &shuffle(&base), &shuffle(&cur), &p).psi;
        prop_assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }

    #[test]
    fn moving_mass_beyond_the_baseline_range_increases_psi(
        base in proptest::collection::vec((0i32..100).prop_map(f64::from), 20..300),
        moved in 1usize..20,
    ) {
        let p = PsiParams::default();
        // The smallest values move, so they leave the lower buckets.
        let mut base = base;
        base.sort_unstable_by(f64::total_cmp);
        let max = base.iter().copied().fold(f64::MIN, f64::max);
        let mut less = base.clone();
        let mut more = base.clone();
        for v in less.iter_mut().take(moved) { *v = max + 10.0; }
        for v in more.iter_mut().take(moved * 2) { *v = max + 10.0; }
        let a = psi_numeric("x", &base, &less, &p).psi;
        let b = psi_numeric("x", &base, &more, &p).psi;
        prop_assert!(b >= a - 1e-12, "{a} then {b}");
        prop_assert!(a > 0.0);
    }
}
