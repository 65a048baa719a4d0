//! The time-aware train/test split on as_of_date. Never random.

use serde::Serialize;

/// How rows were split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Split {
    /// Train is every row dated on or before `cutoff` (days since the epoch); test the rest.
    ByDate {
        /// Last training date.
        cutoff: i32,
    },
    /// Fewer than 5 distinct dates: after sorting by (as_of_date, user_id), the first
    /// `train_rows` rows train.
    ByRow {
        /// Rows in the training part.
        train_rows: usize,
    },
}

/// The split for these rows: with n ≥ 5 distinct dates the cutoff is
/// `dates[clamp(floor(n·(1 − test_size)), 1, n − 1) − 1]`; otherwise a row split.
pub fn plan_split(dates: &[i32], test_size: f64) -> Split {
    let mut distinct = dates.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let n = distinct.len();
    if n >= 5 {
        let k = ((n as f64 * (1.0 - test_size)).floor() as usize).clamp(1, n - 1);
        Split::ByDate {
            cutoff: distinct[k - 1],
        }
    } else {
        let rows = dates.len();
        let train = ((rows as f64 * (1.0 - test_size)).floor() as usize).clamp(
            usize::from(rows > 1),
            rows.saturating_sub(1).max(usize::from(rows == 1)),
        );
        Split::ByRow { train_rows: train }
    }
}

/// For each row, whether it belongs to the test part.
pub fn test_mask(dates: &[i32], user_ids: &[&str], test_size: f64) -> (Split, Vec<bool>) {
    let split = plan_split(dates, test_size);
    let mask = match split {
        Split::ByDate { cutoff } => dates.iter().map(|&d| d > cutoff).collect(),
        Split::ByRow { train_rows } => {
            let mut order: Vec<usize> = (0..dates.len()).collect();
            order.sort_by(|&a, &b| (dates[a], user_ids[a]).cmp(&(dates[b], user_ids[b])));
            let mut mask = vec![false; dates.len()];
            for &i in &order[train_rows..] {
                mask[i] = true;
            }
            mask
        }
    };
    (split, mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_dates_with_a_fifth_held_out_cut_after_the_eighth() {
        let dates: Vec<i32> = (0..10).flat_map(|d| [d, d]).collect();
        assert_eq!(plan_split(&dates, 0.2), Split::ByDate { cutoff: 7 });
        let ids = vec!["a"; dates.len()];
        let (_, mask) = test_mask(&dates, &ids, 0.2);
        assert_eq!(mask.iter().filter(|&&t| t).count(), 4);
    }

    #[test]
    fn few_dates_split_rows_by_date_then_user() {
        let dates = [2, 1, 1, 2];
        let ids = ["b", "b", "a", "a"];
        let (split, mask) = test_mask(&dates, &ids, 0.5);
        assert_eq!(split, Split::ByRow { train_rows: 2 });
        // Sorted: (1,a) (1,b) | (2,a) (2,b)
        assert_eq!(mask, vec![true, false, false, true]);
    }
}
