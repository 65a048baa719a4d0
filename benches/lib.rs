//! Criterion benchmarks of the churn hot paths; run `cargo bench -p churn-benches`.
//! This library holds what the bench targets share.

/// The size ladder in users (× 120 days): 1k and 10k, plus 100k with CHURN_BENCH_LARGE=1.
pub fn ladder() -> Vec<u64> {
    let mut sizes = vec![1_000, 10_000];
    if std::env::var_os("CHURN_BENCH_LARGE").is_some() {
        sizes.push(100_000);
    }
    sizes
}

/// A design matrix of `rows` × `cols` with values like engagement counts (a tenth of them
/// missing) and 0/1 labels from a logistic model over them, about 10% positive.
pub fn synthetic_design(
    rows: usize,
    cols: usize,
    seed: u64,
) -> (churn_models::preprocess::Design, Vec<f64>) {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut data = Vec::with_capacity(rows * cols);
    for j in 0..cols {
        let scale = 1.0 + j as f64 % 7.0;
        data.extend((0..rows).map(|_| {
            if rng.random_range(0..10) == 0 {
                f64::NAN
            } else {
                (rng.random_range(0.0..scale) * 4.0).floor()
            }
        }));
    }
    let mut y = vec![0.0; rows];
    for (i, yi) in y.iter_mut().enumerate() {
        let mut z = -2.5;
        for j in 0..cols.min(8) {
            let v = data[j * rows + i];
            if !v.is_nan() {
                z += if j % 2 == 0 { 0.15 } else { -0.1 } * v;
            }
        }
        *yi = f64::from(rng.random_range(0.0..1.0) < 1.0 / (1.0 + (-z).exp()));
    }
    (churn_models::preprocess::Design { rows, cols, data }, y)
}

/// A trained model and a feature table of `users` users on one date, for scoring benches.
///
/// Runs the library pipeline on the default 2,000 synthetic users (generate, prepare,
/// features, labels, training set), trains `kind` with the default parameters, then
/// writes the last date's feature rows copied under new user ids until there are `users`
/// rows to `<dir>/features_<users>.parquet`.
pub struct ScoringFixture {
    /// Keeps the files alive.
    pub dir: tempfile::TempDir,
    /// The trained model.
    pub artifact: churn_models::ModelArtifact,
    /// The 2,000-user feature table (every date).
    pub features: std::path::PathBuf,
}

impl ScoringFixture {
    /// Builds the pipeline outputs and trains `kind`.
    pub fn new(kind: churn_models::ModelKind) -> Self {
        use churn_data::clock::FixedClock;
        let dir = tempfile::tempdir().expect("temp dir");
        let files = churn_examples::pipeline(dir.path(), 2_000).expect("pipeline");
        let data = files.training_data().expect("training data");
        let trainer = churn_models::Trainer::new(&data, churn_models::TrainParams::default())
            .expect("trainer");
        let clock = FixedClock(chrono::DateTime::UNIX_EPOCH);
        let artifact = trainer.fit(kind, &clock).expect("fit");
        Self {
            features: files.features,
            artifact,
            dir,
        }
    }

    /// The last date of the feature table, and a table of `users` rows of that date.
    pub fn one_date_table(&self, users: usize) -> (chrono::NaiveDate, std::path::PathBuf) {
        use arrow::array::{Array, AsArray, StringArray};
        use arrow::datatypes::Date32Type;
        let (schema, batches) = churn_data::io::read_all(&self.features, None).expect("read");
        let all = arrow::compute::concat_batches(&schema, &batches).expect("concat");
        let date_idx = schema.index_of("as_of_date").expect("as_of_date");
        let dates = all.column(date_idx).as_primitive::<Date32Type>();
        let last = arrow::compute::max(dates).expect("rows");
        let mask: arrow::array::BooleanArray =
            dates.iter().map(|d| Some(d == Some(last))).collect();
        let day = arrow::compute::filter_record_batch(&all, &mask).expect("filter");
        let id_idx = schema.index_of("user_id").expect("user_id");
        let path = self.dir.path().join(format!("features_{users}.parquet"));
        let mut w = churn_data::io::TableWriter::create(&path, schema.clone()).expect("writer");
        let mut written = 0;
        let mut copy = 0;
        while written < users {
            let take = day.num_rows().min(users - written);
            let part = day.slice(0, take);
            let ids = part.column(id_idx).as_string::<i32>();
            let renamed: StringArray = (0..ids.len())
                .map(|i| Some(format!("{}-{copy}", ids.value(i))))
                .collect();
            let mut columns = part.columns().to_vec();
            columns[id_idx] = std::sync::Arc::new(renamed);
            let b = arrow::array::RecordBatch::try_new(schema.clone(), columns).expect("batch");
            w.write(&b).expect("write");
            written += take;
            copy += 1;
        }
        w.finish().expect("finish");
        let date = chrono::NaiveDate::default() + chrono::Duration::days(i64::from(last));
        (date, path)
    }
}
