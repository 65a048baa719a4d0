use arrow::array::RecordBatch;
use churn_data::config::{GenerateConfig, PrepareConfig, ValidateConfig};
use churn_data::generate::Simulator;
use churn_data::io::{read_all, write_batches};
use churn_data::prepare::{prepare_batches, prepare_files};

use crate::{assert_table, epoch_seconds_events, fixture, pretty};

/// Hand-computed from fixtures/tiny (see fixtures/README.md): the grid runs from
/// max(signup, 2025-01-01) to 2025-01-04 in users-file order.
const TINY_EXPECTED: &str = r#"
+-----------------+------------+-------------+-------------------+------+---------+---------+------------------+---------------+--------------+--------------+--------------+-------------------+---------------------+----------------+-----------------------+----------------------+----------------------+
| user_id         | as_of_date | signup_date | days_since_signup | plan | is_paid | country | marketing_source | is_active_day | total_events | logins_count | enroll_count | watch_minutes_sum | quiz_attempts_count | quiz_avg_score | payment_success_count | payment_failed_count | support_ticket_count |
+-----------------+------------+-------------+-------------------+------+---------+---------+------------------+---------------+--------------+--------------+--------------+-------------------+---------------------+----------------+-----------------------+----------------------+----------------------+
| AAA-2013J-11391 | 2025-01-01 | 2025-01-01  | 0                 | paid | 1       | IN      | ads              | 1             | 4            | 1            | 0            | 30.5              | 2                   | 70.0           | 0                     | 0                    | 0                    |
| AAA-2013J-11391 | 2025-01-02 | 2025-01-01  | 1                 | paid | 1       | IN      | ads              | 1             | 1            | 0            | 0            | 0.0               | 0                   |                | 1                     | 0                    | 0                    |
| AAA-2013J-11391 | 2025-01-03 | 2025-01-01  | 2                 | paid | 1       | IN      | ads              | 0             | 0            | 0            | 0            | 0.0               | 0                   |                | 0                     | 0                    | 0                    |
| AAA-2013J-11391 | 2025-01-04 | 2025-01-01  | 3                 | paid | 1       | IN      | ads              | 1             | 1            | 0            | 0            | 10.0              | 0                   |                | 0                     | 0                    | 0                    |
| B2              | 2025-01-03 | 2025-01-03  | 0                 | free | 0       | US      | organic          | 1             | 2            | 1            | 0            | 0.0               | 0                   |                | 0                     | 1                    | 0                    |
| B2              | 2025-01-04 | 2025-01-03  | 1                 | free | 0       | US      | organic          | 0             | 0            | 0            | 0            | 0.0               | 0                   |                | 0                     | 0                    | 0                    |
| 77              | 2025-01-01 | 2024-12-01  | 31                | free | 0       | UK      | referral         | 0             | 0            | 0            | 0            | 0.0               | 0                   |                | 0                     | 0                    | 0                    |
| 77              | 2025-01-02 | 2024-12-01  | 32                | free | 0       | UK      | referral         | 1             | 3            | 0            | 1            | 0.0               | 1                   |                | 0                     | 0                    | 1                    |
| 77              | 2025-01-03 | 2024-12-01  | 33                | free | 0       | UK      | referral         | 0             | 0            | 0            | 0            | 0.0               | 0                   |                | 0                     | 0                    | 0                    |
| 77              | 2025-01-04 | 2024-12-01  | 34                | free | 0       | UK      | referral         | 0             | 0            | 0            | 0            | 0.0               | 0                   |                | 0                     | 0                    | 0                    |
+-----------------+------------+-------------+-------------------+------+---------+---------+------------------+---------------+--------------+--------------+--------------+-------------------+---------------------+----------------+-----------------------+----------------------+----------------------+
"#;

/// The error of preparing the tiny fixture's users with `events` into `out`.
fn tiny_users_error(events: &std::path::Path, out: &std::path::Path) -> String {
    prepare_files(
        &fixture("tiny/users.csv"),
        events,
        out,
        &ValidateConfig::default(),
        &PrepareConfig::default(),
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn tiny_fixture_gives_the_hand_computed_user_days() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("user_daily.parquet");
    let s = prepare_files(
        &fixture("tiny/users.csv"),
        &fixture("tiny/events.csv"),
        &out,
        &ValidateConfig::default(),
        &PrepareConfig::default(),
    )
    .unwrap();
    assert_eq!(s.user_days, 10);
    assert_eq!(s.events_in, 12);
    assert_eq!(s.events_kept, 12);
    assert_eq!(
        s.events_outside_grid, 1,
        "B2 logged in the day before signing up"
    );
    assert_eq!(s.passes, 1, "grouped events take one streaming pass");
    let (_, batches) = read_all(&out, None).unwrap();
    assert_table(&batches, TINY_EXPECTED);
}

#[test]
fn ungrouped_events_fall_back_to_passes_with_the_same_answer() {
    let (_, users) = read_all(&fixture("tiny/users.csv"), None).unwrap();
    let (_, events) = read_all(&fixture("tiny/events.csv"), None).unwrap();
    let all = arrow::compute::concat_batches(&events[0].schema(), &events).unwrap();
    let reversed: Vec<RecordBatch> = (0..all.num_rows()).rev().map(|i| all.slice(i, 1)).collect();
    let (daily, s) = prepare_batches(
        &users,
        &reversed,
        &ValidateConfig::default(),
        &PrepareConfig::default(),
    )
    .unwrap();
    assert_eq!(s.passes, 1, "one partitioned pass fits the budget");
    assert_eq!(s.events_kept, 12);
    assert_table(&daily, TINY_EXPECTED);
}

fn simulated(n: u64, days: u32) -> (RecordBatch, RecordBatch) {
    let config = GenerateConfig {
        n_users: n,
        days,
        ..GenerateConfig::default()
    };
    Simulator::new(&config).unwrap().chunk(0..n, 1).unwrap()
}

#[test]
fn many_partitioned_passes_equal_one_streaming_pass() {
    let (users, events) = simulated(400, 120);
    let (streamed, s1) = prepare_batches(
        std::slice::from_ref(&users),
        std::slice::from_ref(&events),
        &ValidateConfig::default(),
        &PrepareConfig::default(),
    )
    .unwrap();
    assert_eq!(s1.passes, 1);
    // Shuffle users so the events are no longer in users order; 1 MiB forces several passes.
    let order: Vec<u32> = (0..users.num_rows() as u32).rev().collect();
    let shuffled =
        arrow::compute::take_record_batch(&users, &arrow::array::UInt32Array::from(order)).unwrap();
    let tight = PrepareConfig {
        memory_budget_mib: 1,
        ..PrepareConfig::default()
    };
    let (passed, s2) =
        prepare_batches(&[shuffled], &[events], &ValidateConfig::default(), &tight).unwrap();
    assert!(s2.passes >= 3, "expected several passes, got {}", s2.passes);
    assert_eq!(s1.user_days, s2.user_days);
    assert_eq!(s1.events_kept, s2.events_kept);
    // Same rows, users in reverse order: compare per-user sorted renderings.
    let sort = |b: &[RecordBatch]| {
        let mut lines: Vec<String> = pretty(b).lines().map(String::from).collect();
        lines.sort();
        lines
    };
    assert_eq!(sort(&streamed), sort(&passed));
}

#[test]
fn csv_and_parquet_inputs_give_identical_user_days() {
    let (users, events) = simulated(60, 45);
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for ext in ["csv", "parquet"] {
        let u = dir.path().join(format!("users.{ext}"));
        let e = dir.path().join(format!("events.{ext}"));
        write_batches(&u, users.schema(), std::slice::from_ref(&users)).unwrap();
        write_batches(&e, events.schema(), std::slice::from_ref(&events)).unwrap();
        let out = dir.path().join(format!("daily_{ext}.parquet"));
        prepare_files(
            &u,
            &e,
            &out,
            &ValidateConfig::default(),
            &PrepareConfig::default(),
        )
        .unwrap();
        outputs.push(read_all(&out, None).unwrap().1);
    }
    assert_eq!(pretty(&outputs[0]), pretty(&outputs[1]));
    assert_eq!(
        outputs[0].iter().map(|b| b.num_rows()).sum::<usize>(),
        60 * 45
    );
    // The events as a folder of parts, each a run of days (not grouped by user, as date
    // partitions are): the same user-days, in CSV parts and in Parquet parts.
    let times = events
        .column_by_name("event_time")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
        .unwrap()
        .clone();
    let cut = arrow::compute::min(&times).unwrap() + 20 * 86_400_000_000;
    let early = arrow::compute::kernels::cmp::lt(
        &times,
        &arrow::array::TimestampMicrosecondArray::new_scalar(cut),
    )
    .unwrap();
    let late = arrow::compute::not(&early).unwrap();
    for ext in ["csv", "parquet"] {
        let folder = dir.path().join(format!("events_{ext}"));
        for (name, mask) in [("a", &early), ("b", &late)] {
            let part = arrow::compute::filter_record_batch(&events, mask).unwrap();
            let path = folder.join(format!("day={name}/part.{ext}"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            write_batches(&path, part.schema(), &[part]).unwrap();
        }
        let out = dir.path().join(format!("daily_folder_{ext}.parquet"));
        prepare_files(
            &dir.path().join(format!("users.{ext}")),
            &folder,
            &out,
            &ValidateConfig::default(),
            &PrepareConfig::default(),
        )
        .unwrap();
        assert_eq!(
            pretty(&read_all(&out, None).unwrap().1),
            pretty(&outputs[0])
        );
    }
}

#[test]
fn dirty_rows_are_cleaned_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.csv");
    let events = dir.path().join("events.csv");
    std::fs::write(&users, "user_id,signup_date,plan,is_paid\n1,2025-01-01,PAID,1\n1,2025-01-01,free,0\n,2025-01-01,free,0\n2,2025-01-01,free,\n").unwrap();
    std::fs::write(
        &events,
        "event_id,user_id,event_time,event_type\n\
         1,1,2025-01-01 10:00:00,LOGIN\n\
         1,1,2025-01-01 11:00:00,login\n\
         2,9,2025-01-01 10:00:00,login\n\
         3,2,2025-01-02 10:00:00,teleport\n\
         4,2,,login\n\
         5, 2 ,2025-01-02 10:00:00,login\n",
    )
    .unwrap();
    let out = dir.path().join("daily.csv");
    let s = prepare_files(
        &users,
        &events,
        &out,
        &ValidateConfig::default(),
        &PrepareConfig::default(),
    )
    .unwrap();
    assert_eq!(
        (
            s.users_in,
            s.users_kept,
            s.users_dropped_duplicate,
            s.users_dropped_missing_id
        ),
        (4, 2, 1, 1)
    );
    assert_eq!(s.events_dropped_duplicate, 1);
    assert_eq!(s.events_dropped_unknown_user, 1);
    assert_eq!(s.events_dropped_unknown_type, 1);
    assert_eq!(s.events_dropped_missing_identity, 1);
    assert_eq!(s.events_kept, 2);
    let (_, b) = read_all(&out, None).unwrap();
    assert_table(
        &b,
        r#"
+---------+------------+-------------+-------------------+------+---------+---------+------------------+---------------+--------------+--------------+--------------+-------------------+---------------------+----------------+-----------------------+----------------------+----------------------+
| user_id | as_of_date | signup_date | days_since_signup | plan | is_paid | country | marketing_source | is_active_day | total_events | logins_count | enroll_count | watch_minutes_sum | quiz_attempts_count | quiz_avg_score | payment_success_count | payment_failed_count | support_ticket_count |
+---------+------------+-------------+-------------------+------+---------+---------+------------------+---------------+--------------+--------------+--------------+-------------------+---------------------+----------------+-----------------------+----------------------+----------------------+
| 1       | 2025-01-01 | 2025-01-01  | 0                 | paid | 1       |         |                  | 1             | 1            | 1            | 0            | 0.0               | 0                   |                | 0                     | 0                    | 0                    |
| 1       | 2025-01-02 | 2025-01-01  | 1                 | paid | 1       |         |                  | 0             | 0            | 0            | 0            | 0.0               | 0                   |                | 0                     | 0                    | 0                    |
| 2       | 2025-01-01 | 2025-01-01  | 0                 | free | 0       |         |                  | 0             | 0            | 0            | 0            | 0.0               | 0                   |                | 0                     | 0                    | 0                    |
| 2       | 2025-01-02 | 2025-01-01  | 1                 | free | 0       |         |                  | 1             | 1            | 1            | 0            | 0.0               | 0                   |                | 0                     | 0                    | 0                    |
+---------+------------+-------------+-------------------+------+---------+---------+------------------+---------------+--------------+--------------+--------------+-------------------+---------------------+----------------+-----------------------+----------------------+----------------------+
"#,
    );
}

#[test]
fn a_failed_prepare_leaves_the_previous_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("daily.parquet");
    std::fs::write(&out, b"previous good output").unwrap();
    let bad_events = dir.path().join("events.csv");
    std::fs::write(&bad_events, "event_id,user_id,event_type\n1,1,login\n").unwrap();
    let msg = tiny_users_error(&bad_events, &out);
    assert!(
        msg.contains("event_time") && msg.contains("events.csv"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"previous good output");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

#[test]
fn a_stray_far_future_timestamp_is_an_error_not_a_huge_grid() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.csv");
    std::fs::write(&events, "event_id,user_id,event_time,event_type\n1,B2,2025-01-03 10:00:00,login\n2,B2,2099-01-03 10:00:00,login\n").unwrap();
    let out = dir.path().join("daily.parquet");
    let err = tiny_users_error(&events, &out);
    assert!(
        err.contains("event_time") && err.contains("2099-01-03") && err.contains("max_span_days"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn numbers_in_event_time_are_an_error_naming_the_type() {
    let dir = tempfile::tempdir().unwrap();
    let events = epoch_seconds_events(dir.path());
    let out = dir.path().join("daily.parquet");
    let err = tiny_users_error(&events, &out);
    assert!(
        err.contains("events.parquet")
            && err.contains("event_time")
            && err.contains("not numbers")
            && err.contains("Int64"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn events_ending_before_every_signup_are_an_error_not_an_empty_table() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.csv");
    std::fs::write(
        &events,
        "event_id,user_id,event_time,event_type\n1,B2,2020-01-03 10:00:00,login\n2,77,2020-01-05 10:00:00,login\n",
    )
    .unwrap();
    let out = dir.path().join("daily.parquet");
    let err = tiny_users_error(&events, &out);
    assert!(
        err.contains("events.csv")
            && err.contains("no user-day")
            && err.contains("2020-01-03 .. 2020-01-05")
            && err.contains("earliest signup_date 2024-12-01"),
        "{err}"
    );
    assert!(!out.exists());
    // The in-memory entry point says the same.
    let users = read_all(&fixture("tiny/users.csv"), None).unwrap().1;
    let events = read_all(&events, None).unwrap().1;
    let err = prepare_batches(
        &users,
        &events,
        &ValidateConfig::default(),
        &PrepareConfig::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no user-day"), "{err}");
}

/// The dates on which `user` of the tiny users is active, from events given as CSV text,
/// counted in the days of `zone` (`validate.day_time_zone`).
fn active_days_in(user: &str, events_csv: &str, zone: &str) -> Vec<String> {
    use arrow::array::AsArray;
    use arrow::datatypes::{Date32Type, Int32Type};
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.csv");
    std::fs::write(&events, events_csv).unwrap();
    let users = read_all(&fixture("tiny/users.csv"), None).unwrap().1;
    let events = read_all(&events, None).unwrap().1;
    let vcfg = ValidateConfig {
        day_time_zone: zone.into(),
        ..ValidateConfig::default()
    };
    let (daily, _) = prepare_batches(&users, &events, &vcfg, &PrepareConfig::default()).unwrap();
    let mut days = Vec::new();
    for b in &daily {
        let users = b.column_by_name("user_id").unwrap().as_string::<i32>();
        let date = b
            .column_by_name("as_of_date")
            .unwrap()
            .as_primitive::<Date32Type>();
        let active = b
            .column_by_name("is_active_day")
            .unwrap()
            .as_primitive::<Int32Type>();
        for i in 0..b.num_rows() {
            if users.value(i) == user && active.value(i) == 1 {
                days.push(date.value_as_date(i).unwrap().to_string());
            }
        }
    }
    days
}

#[test]
fn events_are_counted_in_the_days_of_the_configured_utc_offset() {
    // 20:00 UTC on 2025-01-04 is 01:30 on 2025-01-05 at +05:30, and 12:00 on 2025-01-04
    // at -08:00.
    let events = "event_id,user_id,event_time,event_type\n1,B2,2025-01-03 10:00:00,login\n2,B2,2025-01-04 20:00:00,login\n3,B2,2025-01-06 10:00:00,login\n";
    let active_days = |offset: &str| active_days_in("B2", events, offset);
    assert_eq!(active_days(""), ["2025-01-03", "2025-01-04", "2025-01-06"]);
    assert_eq!(
        active_days("+05:30"),
        ["2025-01-03", "2025-01-05", "2025-01-06"]
    );
    assert_eq!(
        active_days("-08:00"),
        ["2025-01-03", "2025-01-04", "2025-01-06"]
    );
    // -11:00: 10:00 UTC is the previous evening, so the first login falls on 2025-01-02,
    // before B2 signed up, outside the user's days.
    assert_eq!(active_days("-11:00"), ["2025-01-04", "2025-01-05"]);
}

#[test]
fn events_are_counted_in_the_days_of_a_time_zone_with_summer_time() {
    // 04:30 UTC is 23:30 the evening before in New York in January (UTC-5) and 00:30 the
    // same day in June (UTC-4): no fixed offset gets both days right.
    let events = "event_id,user_id,event_time,event_type\n1,B2,2025-01-10 04:30:00,login\n2,B2,2025-06-10 04:30:00,login\n";
    let active_days = |zone: &str| active_days_in("B2", events, zone);
    assert_eq!(
        active_days("America/New_York"),
        ["2025-01-09", "2025-06-10"]
    );
    assert_eq!(active_days("-05:00"), ["2025-01-09", "2025-06-09"]);
    assert_eq!(active_days("-04:00"), ["2025-01-10", "2025-06-10"]);
    assert_eq!(active_days(""), ["2025-01-10", "2025-06-10"]);
}

/// The batch with its `user_id` column as Int64 (the simulator's `u0000042` as 42).
fn integer_ids(batch: &RecordBatch) -> RecordBatch {
    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let i = batch.schema().index_of("user_id").unwrap();
    let text = arrow::compute::cast(batch.column(i), &DataType::Utf8).unwrap();
    let ids = text.as_any().downcast_ref::<StringArray>().unwrap();
    let ints: Int64Array = ids
        .iter()
        .map(|v| v.map(|s| s.trim_start_matches('u').parse::<i64>().unwrap()))
        .collect();
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[i] = Field::new("user_id", DataType::Int64, ids.null_count() > 0);
    let mut columns = batch.columns().to_vec();
    columns[i] = std::sync::Arc::new(ints);
    RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns).unwrap()
}

#[test]
fn the_parts_of_every_partition_add_up_to_the_whole_user_day_table() {
    use churn_data::partition::Partition;
    use churn_data::prepare::prepare_files_in;
    let (users, events) = simulated(300, 60);
    let dir = tempfile::tempdir().unwrap();
    // Integer ids: events are looked up as integers, partitions hash their decimal text.
    let (u, e) = (
        dir.path().join("users.parquet"),
        dir.path().join("events.parquet"),
    );
    let (users, events) = (integer_ids(&users), integer_ids(&events));
    write_batches(&u, users.schema(), std::slice::from_ref(&users)).unwrap();
    write_batches(&e, events.schema(), std::slice::from_ref(&events)).unwrap();
    let (vcfg, pcfg) = (ValidateConfig::default(), PrepareConfig::default());
    let whole_path = dir.path().join("whole.parquet");
    let whole = prepare_files(&u, &e, &whole_path, &vcfg, &pcfg).unwrap();
    let table = dir.path().join("user_daily.parquet");
    let n = 4;
    let mut kept = (0, 0, 0);
    for i in 0..n {
        let p = Partition::new(i, n).unwrap();
        let s = prepare_files_in(&u, &e, &p.part_path(&table), &vcfg, &pcfg, Some(p)).unwrap();
        assert!(s.users_kept > 0 && s.users_kept < whole.users_kept, "{s:?}");
        assert_eq!(s.users_kept + s.users_other_partition, whole.users_kept);
        assert_eq!(s.events_kept + s.events_other_partition, whole.events_kept);
        assert_eq!(
            s.events_dropped_unknown_user, 0,
            "other partitions are not unknown"
        );
        // Every part's grid ends on the data's last date, not its own users' last event.
        assert_eq!(
            (s.first_date, s.last_date),
            (whole.first_date, whole.last_date)
        );
        kept = (
            kept.0 + s.users_kept,
            kept.1 + s.events_kept,
            kept.2 + s.user_days,
        );
    }
    assert_eq!(kept, (whole.users_kept, whole.events_kept, whole.user_days));
    let sort = |b: &[RecordBatch]| {
        let mut lines: Vec<String> = pretty(b).lines().map(String::from).collect();
        lines.sort();
        lines
    };
    let (_, a) = read_all(&whole_path, None).unwrap();
    let (_, b) = read_all(&table, None).unwrap();
    assert_eq!(sort(&a), sort(&b));
    // Without one part, the folder is not the whole table.
    std::fs::remove_file(Partition::new(3, n).unwrap().part_path(&table)).unwrap();
    let e = read_all(&table, None).unwrap_err().to_string();
    assert!(
        e.contains("1 of 4 partition parts are missing (3/4)"),
        "{e}"
    );
}
