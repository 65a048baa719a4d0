//! The training run: split, stride, determinism and the report.

use arrow::array::{AsArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::Date32Type;
use churn_data::clock::FixedClock;
use churn_data::hash::Fnv1a;
use churn_models::{ModelKind, TrainParams, Trainer, TrainingData};

use crate::common::table;

fn clock() -> FixedClock {
    FixedClock("2026-01-02T00:00:00Z".parse().unwrap())
}

#[test]
fn splits_by_date_and_holds_out_calibration_dates() {
    let data = TrainingData::from_batches(table(100, 25, 1)).unwrap();
    let trainer = Trainer::new(&data, TrainParams::default()).unwrap();
    let w = trainer.window();
    // 25 dates: the test set is the last 5 (cutoff = 20th date), calibration the last 4 of
    // the 20 training dates (fitting ends on the 16th).
    let day = |k: i64| chrono::NaiveDate::default() + chrono::Duration::days(20_000 + k);
    assert_eq!((w.first_date, w.last_date), (day(0), day(24)));
    assert_eq!(w.cutoff, Some(day(19)));
    assert_eq!(w.fit_last_date, Some(day(15)));
    assert_eq!(
        (w.rows.fit, w.rows.calibration, w.rows.test),
        (1600, 400, 500)
    );
}

#[test]
fn the_stride_keeps_every_kth_day_of_each_user() {
    let data = TrainingData::from_batches(table(100, 25, 1)).unwrap();
    let params = TrainParams {
        train_stride_days: 4,
        ..TrainParams::default()
    };
    let trainer = Trainer::new(&data, params).unwrap();
    let w = trainer.window();
    // 16 fitting dates, every 4th per user: exactly 4 rows per user.
    assert_eq!(w.rows.fit, 400);
    assert_eq!((w.rows.calibration, w.rows.test), (400, 500));
    assert_eq!(w.train_stride_days, 4);
}

#[test]
fn row_caps_grow_the_stride_and_sample_evaluation_users_whole() {
    let data = TrainingData::from_batches(table(100, 25, 1)).unwrap();
    let params = TrainParams {
        max_fit_rows: 450,
        max_eval_rows: 450,
        ..TrainParams::default()
    };
    let trainer = Trainer::new(&data, params.clone()).unwrap();
    let w = trainer.window();
    // 1600 fitting rows under a cap of 450: stride 4 (400 rows).
    assert_eq!((w.train_stride_days, w.rows.fit), (4, 400));
    // 900 calibration + test rows under 450: about half the users, each with all 9 dates.
    assert!((w.eval_share - 0.5).abs() < 1e-12);
    let eval = w.rows.calibration + w.rows.test;
    assert_eq!(eval % 9, 0, "users are sampled whole: {eval}");
    assert!((300..=600).contains(&eval), "{eval}");

    // Filtering while reading, then training with the plan's parameters, keeps the same rows.
    let dates: Vec<i32> = data_dates(&data);
    let plan = churn_models::RowPlan::from_dates(&dates, &params).unwrap();
    let filtered: Vec<_> = table(100, 25, 1)
        .iter()
        .map(|b| plan.filter(b).unwrap())
        .collect();
    let small = TrainingData::from_batches(filtered).unwrap();
    assert!(small.rows() < data.rows());
    let again = Trainer::with_plan(small, plan.params_after(&params), Some(&plan)).unwrap();
    assert_eq!(
        again.window(),
        w,
        "the same parts, stride and evaluation share"
    );
    assert_eq!(again.window().train_stride_days, 4);
    assert!(same_rows(again.fit_rows(), trainer.fit_rows()));
    assert!(same_rows(again.test_rows(), trainer.test_rows()));
}

#[test]
fn matrices_built_batch_by_batch_equal_the_rows_transformed_at_once() {
    // One batch per date: the test rows (the last 5 dates) span five batches.
    let batches = table(100, 25, 1);
    let data = TrainingData::from_batches(batches.clone()).unwrap();
    let params = TrainParams {
        calibration: churn_models::calibration::CalibrationMethod::None,
        ..TrainParams::default()
    };
    let trainer = Trainer::new(&data, params.clone()).unwrap();
    let pre = trainer.preprocessor();
    // The matrices hold the rows in the canonical order: users by the hash of their id,
    // each user's rows by date.
    let canonical = |batches: &[RecordBatch]| {
        let all = concat_batches(&batches[0].schema(), batches).unwrap();
        let ids = all.column_by_name("user_id").unwrap().as_string::<i32>();
        let dates = all
            .column_by_name("as_of_date")
            .unwrap()
            .as_primitive::<Date32Type>();
        let mut order: Vec<usize> = (0..all.num_rows()).collect();
        order.sort_by_key(|&i| {
            (
                Fnv1a::of(ids.value(i).as_bytes()),
                ids.value(i),
                dates.value(i),
            )
        });
        pre.transform(std::slice::from_ref(&all))
            .unwrap()
            .take(&order)
    };
    assert!(same(trainer.test_rows().0, &canonical(&batches[20..])));
    assert!(same(trainer.fit_rows().0, &canonical(&batches[..20])));
    // Consuming the table gives the same matrices.
    let owned = Trainer::with_plan(data, params.clone(), None).unwrap();
    assert!(same_rows(owned.fit_rows(), trainer.fit_rows()));
    assert!(same_rows(owned.test_rows(), trainer.test_rows()));

    // transform_into fills only the rows it is given, and refuses a matrix without room.
    let mut m = pre.transform(&batches[..2]).unwrap();
    let first = pre.transform(&batches[..1]).unwrap();
    let before = m.clone();
    pre.transform_into(&batches[1..2], &mut m, 100).unwrap();
    assert!(same(&m, &before));
    pre.transform_into(&batches[..1], &mut m, 100).unwrap();
    for j in 0..m.cols {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&m.column(j)[100..]),
            bits(first.column(j)),
            "column {j}"
        );
        assert_eq!(
            bits(&m.column(j)[..100]),
            bits(first.column(j)),
            "column {j}"
        );
    }
    assert!(pre.transform_into(&batches[..1], &mut m, 101).is_err());
}

/// Bit-for-bit equal matrices (missing values are NaN, which `==` never matches).
fn same(a: &churn_models::preprocess::Design, b: &churn_models::preprocess::Design) -> bool {
    a.rows == b.rows
        && a.cols == b.cols
        && a.data
            .iter()
            .map(|v| v.to_bits())
            .eq(b.data.iter().map(|v| v.to_bits()))
}

fn same_rows(
    a: (&churn_models::preprocess::Design, &[f64]),
    b: (&churn_models::preprocess::Design, &[f64]),
) -> bool {
    same(a.0, b.0) && a.1 == b.1
}

fn data_dates(data: &TrainingData) -> Vec<i32> {
    // The table helper's dates: 25 days from day 20000 for each of 100 users.
    let per_user = 25;
    assert_eq!(data.rows(), 100 * per_user);
    (0..100)
        .flat_map(|_| 20_000..20_000 + per_user as i32)
        .collect()
}

#[test]
fn every_model_learns_the_signal_and_reports_it() {
    let data = TrainingData::from_batches(table(300, 20, 2)).unwrap();
    let mut params = TrainParams::default();
    params.forest.trees = 20;
    params.forest.sample_rows = 1000;
    let trainer = Trainer::new(&data, params).unwrap();
    for kind in ModelKind::ALL {
        let a = trainer.fit(kind, &clock()).unwrap();
        let r = &a.report;
        assert_eq!(r.kind, kind);
        assert!(
            r.test.roc_auc.unwrap() > 0.75,
            "{kind}: {:?}",
            r.test.roc_auc
        );
        assert!(r.test.pr_auc.unwrap() > r.test.churn_rate, "{kind}");
        assert_eq!(r.test.rows, 1200);
        assert!(
            r.calibration.brier_after <= r.calibration.brier_before + 0.01,
            "{kind}"
        );
        assert_eq!(r.dropped_features, ["constant"]);
        assert!(r.fit_seconds >= 0.0);
        // Activity moves the log-odds the most (by 6 over its range; tickets by 2.7, the
        // plan by 1); the forest has no contributions.
        if kind == ModelKind::Forest {
            assert!(r.importance.is_empty() && r.importance_rows == 0);
            continue;
        }
        assert_eq!(r.importance_rows, 1200, "{kind}");
        assert_eq!(
            r.importance[0].feature, "activity",
            "{kind}: {:?}",
            r.importance
        );
        assert_eq!(r.importance.len(), a.preprocessing.features.len());
        assert!(
            r.importance
                .windows(2)
                .all(|w| w[0].mean_abs_contribution >= w[1].mean_abs_contribution)
        );
        assert!(
            r.importance
                .iter()
                .all(|i| (0.0..=1.0).contains(&i.reason_share))
        );
    }
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let data = TrainingData::from_batches(table(200, 15, 3)).unwrap();
    let mut params = TrainParams::default();
    params.gbm.iterations = 30;
    params.forest.trees = 8;
    params.forest.sample_rows = 500;
    for kind in ModelKind::ALL {
        let run = || {
            let trainer = Trainer::new(&data, params.clone()).unwrap();
            let mut a = trainer.fit(kind, &clock()).unwrap();
            a.report.fit_seconds = 0.0;
            serde_json::to_string(&a).unwrap()
        };
        assert_eq!(run(), run(), "{kind}");
    }
}

/// The rows of `batches` user-major (as a user-day table is written), in `chunks` batches,
/// users in the order of `users`.
fn user_major(batches: &[RecordBatch], users: &[usize], chunks: usize) -> Vec<RecordBatch> {
    let all = concat_batches(&batches[0].schema(), batches).unwrap();
    let n_users = batches[0].num_rows();
    let order: Vec<u32> = users
        .iter()
        .flat_map(|&u| (0..batches.len()).map(move |d| (d * n_users + u) as u32))
        .collect();
    let rows = take_record_batch(&all, &UInt32Array::from(order)).unwrap();
    let size = rows.num_rows().div_ceil(chunks);
    (0..rows.num_rows())
        .step_by(size)
        .map(|at| rows.slice(at, size.min(rows.num_rows() - at)))
        .collect()
}

#[test]
fn the_model_depends_on_the_rows_not_on_their_order_in_the_files() {
    let batches = table(150, 12, 8);
    // One table written user by user, and the same rows as the parts of a partitioned run
    // read one after another: the odd users, then the even ones, in other batch sizes.
    let whole = user_major(&batches, &(0..150).collect::<Vec<_>>(), 1);
    let parts: Vec<usize> = (0..150)
        .filter(|u| u % 2 == 1)
        .chain((0..150).step_by(2))
        .collect();
    let parts = user_major(&batches, &parts, 7);
    let (a, b) = (
        TrainingData::from_batches(whole).unwrap(),
        TrainingData::from_batches(parts).unwrap(),
    );
    assert_eq!(a.fingerprint(), b.fingerprint());
    let mut params = TrainParams::default();
    params.gbm.iterations = 30;
    params.forest.trees = 8;
    params.forest.sample_rows = 500;
    for kind in ModelKind::ALL {
        let fit = |data: &TrainingData| {
            let mut m = Trainer::new(data, params.clone())
                .unwrap()
                .fit(kind, &clock())
                .unwrap();
            m.report.fit_seconds = 0.0;
            serde_json::to_string(&m).unwrap()
        };
        assert!(fit(&a) == fit(&b), "{kind}: the models differ");
    }
    // A changed value changes the fingerprint.
    let mut changed = user_major(&batches, &(0..150).collect::<Vec<_>>(), 1);
    changed[0] = changed[0].slice(1, changed[0].num_rows() - 1);
    assert_ne!(
        TrainingData::from_batches(changed).unwrap().fingerprint(),
        a.fingerprint()
    );
}

#[test]
fn unusable_training_sets_are_clear_errors() {
    assert!(TrainingData::from_batches(Vec::new()).is_err());
    let data = TrainingData::from_batches(table(50, 3, 4)).unwrap();
    // 3 dates: a row split; the fitting part still exists.
    assert!(Trainer::new(&data, TrainParams::default()).is_ok());
    let bad = TrainParams {
        test_size: 1.5,
        ..TrainParams::default()
    };
    let err = Trainer::new(&data, bad).err().unwrap().to_string();
    assert!(err.contains("test_size"), "{err}");
    let batches = table(50, 10, 5);
    let fingerprint = TrainingData::from_batches(batches.clone())
        .unwrap()
        .fingerprint()
        .to_string();
    assert_eq!(
        TrainingData::from_batches(batches).unwrap().fingerprint(),
        fingerprint
    );
    assert_ne!(
        TrainingData::from_batches(table(50, 10, 6))
            .unwrap()
            .fingerprint(),
        fingerprint
    );
}

#[test]
fn a_training_set_with_a_repeated_key_is_refused_naming_it() {
    let mut batches = table(60, 12, 3);
    // The first row (the earliest date) again, as an upstream join gone wrong would.
    batches.push(batches[0].slice(0, 1));
    let user = batches[0]
        .column_by_name("user_id")
        .unwrap()
        .as_string::<i32>()
        .value(0)
        .to_string();
    let data = TrainingData::from_batches(batches).unwrap();
    let err = Trainer::new(&data, TrainParams::default())
        .err()
        .expect("a repeated key is an error")
        .to_string();
    assert!(
        err.contains("user_id") && err.contains("duplicate"),
        "{err}"
    );
    assert!(err.contains(&format!("({user}, ")), "{err}");
}

#[test]
fn a_gap_leaves_the_last_training_dates_out_of_fitting_and_calibration() {
    let data = TrainingData::from_batches(table(100, 25, 1)).unwrap();
    let day = |k: i64| chrono::NaiveDate::default() + chrono::Duration::days(20_000 + k);
    let config = churn_data::config::TrainConfig {
        gap_days: 5,
        ..Default::default()
    };
    let params = TrainParams::from_config(&config).unwrap();
    assert_eq!(params.gap_days, 5);
    let trainer = Trainer::new(&data, params.clone()).unwrap();
    let w = trainer.window();
    // The test set is unchanged (the 5 dates after the 20th); training ends 5 days before
    // the cutoff (day 14), its last 3 of 15 dates calibrate, days 15..=19 are left out.
    assert_eq!(w.cutoff, Some(day(19)));
    assert_eq!(w.fit_last_date, Some(day(11)));
    assert_eq!(w.gap_days, 5);
    assert_eq!(w.train_last_date(), Some(day(14)));
    assert_eq!(
        (w.rows.fit, w.rows.calibration, w.rows.test),
        (1200, 300, 500)
    );

    // The plan made while reading drops the same dates, and training on what it kept
    // gives the same parts.
    let plan = churn_models::RowPlan::from_dates(&data_dates(&data), &params).unwrap();
    assert_eq!((plan.cutoff, plan.train_last), (20_019, 20_014));
    for (date, kept) in [
        (20_011, true),
        (20_014, true),
        (20_015, false),
        (20_019, false),
        (20_020, true),
    ] {
        assert_eq!(plan.keep("u00007", date), kept, "day {date}");
    }
    let filtered: Vec<_> = table(100, 25, 1)
        .iter()
        .map(|b| plan.filter(b).unwrap())
        .collect();
    let small = TrainingData::from_batches(filtered).unwrap();
    assert_eq!(small.rows(), 2000);
    let again = Trainer::with_plan(small, plan.params_after(&params), Some(&plan)).unwrap();
    assert_eq!(again.window(), w);

    // Without calibration every date up to the gap is fitted on.
    let no_calibration = TrainParams {
        calibration: churn_models::calibration::CalibrationMethod::None,
        ..params.clone()
    };
    let w = Trainer::new(&data, no_calibration)
        .unwrap()
        .window()
        .clone();
    assert_eq!((w.rows.fit, w.rows.calibration), (1500, 0));

    // A gap as long as the training dates leaves nothing to fit: a clear error.
    let too_long = TrainParams {
        gap_days: 20,
        ..params
    };
    let err = Trainer::new(&data, too_long).err().unwrap().to_string();
    assert!(
        err.contains("gap_days = 20") && err.contains("0 rows to fit"),
        "{err}"
    );
}
