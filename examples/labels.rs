//! Stage 5, labels: forward-looking churn labels, eligibility and the time split, as an
//! embedding service would compute them for one user's history.
//!
//! `cargo run --example labels`

use churn_labels::{LabelParams, eligible, future_active_days, test_mask};

fn main() -> Result<(), churn_labels::Error> {
    let params = LabelParams {
        window: 3,
        active_within_days: 2,
    };
    params.check()?;
    let dates: Vec<i32> = (0..10).collect();
    let active = [
        true, false, false, true, false, false, false, false, false, false,
    ];
    let future = future_active_days(&dates, &active, params.window);
    let elig = eligible(&dates, &active, params.active_within_days);
    println!("day active future_active_days churn_label eligible");
    for i in 0..dates.len() {
        if dates[i] + params.window as i32 > *dates.last().unwrap_or(&0) {
            println!(
                "{:>3} {:>6} {:>18} {:>11} {:>8}",
                dates[i],
                u8::from(active[i]),
                "-",
                "(unlabelled)",
                elig[i]
            );
        } else {
            println!(
                "{:>3} {:>6} {:>18} {:>11} {:>8}",
                dates[i],
                u8::from(active[i]),
                future[i],
                u8::from(future[i] == 0),
                elig[i]
            );
        }
    }
    let ids = vec!["u1"; dates.len()];
    let (split, mask) = test_mask(&dates, &ids, 0.2);
    println!(
        "split: {split:?}; test rows: {}",
        mask.iter().filter(|&&t| t).count()
    );
    Ok(())
}
