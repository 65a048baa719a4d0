use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use churn_data::io::{TableReader, TableWriter, read_all, write_batches, write_threaded};

use crate::pretty;

fn batch() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec![
                Some("AAA-2013J-11391"),
                Some("00123"),
                None,
            ])),
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
        ],
    )
    .unwrap()
}

#[test]
fn parquet_round_trip_keeps_string_ids_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.parquet");
    write_batches(&p, batch().schema(), &[batch()]).unwrap();
    let (_, back) = read_all(&p, None).unwrap();
    assert_eq!(pretty(&back), pretty(&[batch()]));
}

#[test]
fn csv_is_read_as_text_so_leading_zeros_survive() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.csv");
    write_batches(&p, batch().schema(), &[batch()]).unwrap();
    let r = TableReader::open(&p, Some(&["user_id"]), 1024).unwrap();
    assert_eq!(r.schema().fields().len(), 1);
    let rows: Vec<RecordBatch> = r.collect::<Result<_, _>>().unwrap();
    let ids = rows[0]
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(ids.value(1), "00123");
}

#[test]
fn a_byte_order_mark_does_not_rename_the_first_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bom.csv");
    std::fs::write(&p, "\u{feff}user_id,x\n1,2\n").unwrap();
    let r = TableReader::open(&p, None, 1024).unwrap();
    assert_eq!(r.schema().field(0).name(), "user_id");
}

#[test]
fn an_unfinished_writer_leaves_no_file_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.parquet");
    std::fs::write(&p, b"old").unwrap();
    {
        let mut w = TableWriter::create(&p, batch().schema()).unwrap();
        w.write(&batch()).unwrap();
        // dropped without finish(): simulates a stage failing half-way
    }
    assert_eq!(std::fs::read(&p).unwrap(), b"old");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "temp file removed"
    );
}

#[test]
fn unsupported_extensions_are_named() {
    let err = TableReader::open(std::path::Path::new("data.xlsx"), None, 10).unwrap_err();
    assert!(err.to_string().contains("data.xlsx"));
}

#[test]
fn parquet_statistics_give_the_time_range_without_a_scan() {
    use churn_data::config::GenerateConfig;
    use churn_data::generate::Simulator;
    let dir = tempfile::tempdir().unwrap();
    let (u, e) = (dir.path().join("u.parquet"), dir.path().join("e.parquet"));
    let sim = Simulator::new(&GenerateConfig {
        n_users: 30,
        days: 10,
        ..GenerateConfig::default()
    })
    .unwrap();
    sim.write(&u, &e, &|_| {}).unwrap();
    let (_, events) = read_all(&e, Some(&["event_time"])).unwrap();
    let t = arrow::compute::concat(
        &events
            .iter()
            .map(|b| b.column(0).as_ref())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let t = t
        .as_any()
        .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
        .unwrap();
    let expected = (
        arrow::compute::min(t).unwrap(),
        arrow::compute::max(t).unwrap(),
    );
    assert_eq!(
        churn_data::io::parquet_time_range(&e, "event_time"),
        Some(expected)
    );
    assert_eq!(
        churn_data::io::parquet_time_range(&u, "signup_date"),
        None,
        "not a timestamp"
    );
}

#[test]
fn a_sample_reads_evenly_spread_runs_and_small_tables_whole() {
    use arrow::array::{Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let schema = std::sync::Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![std::sync::Arc::new(Int64Array::from_iter_values(
            0..100_000,
        ))],
    )
    .unwrap();
    churn_data::io::write_batches(&path, schema, &[batch]).unwrap();
    let values = |max: usize| -> Vec<i64> {
        churn_data::io::TableReader::open_sample(&path, None, 4096, max)
            .unwrap()
            .flat_map(|b| {
                let b = b.unwrap();
                let v = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .clone();
                v.values().to_vec()
            })
            .collect()
    };
    let sample = values(3_200);
    // 32 runs of 100 consecutive rows, one every 3,125 rows.
    assert_eq!(sample.len(), 3_200);
    assert_eq!(sample[..3], [0, 1, 2]);
    assert_eq!(sample[100], 3_125);
    assert_eq!(*sample.last().unwrap(), 31 * 3_125 + 99);
    assert_eq!(
        values(200_000).len(),
        100_000,
        "a small table is read whole"
    );
    assert_eq!(values(0).len(), 100_000, "0 = no cap");
}

#[test]
fn parallel_encoding_splits_row_groups_and_keeps_every_row_in_order() {
    use arrow::array::{Int32Array, StructArray};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    // A nested column (two leaves) beside flat ones, and uneven batches that cross the
    // 1,048,576-row group boundary.
    let inner = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int32, false),
        Field::new("b", DataType::Utf8, true),
    ]));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("pair", DataType::Struct(inner.fields().clone()), false),
        Field::new("tag", DataType::Utf8, true),
    ]));
    let make = |from: i64, n: usize| {
        let ids: Vec<i64> = (from..from + n as i64).collect();
        let a = Int32Array::from_iter_values(ids.iter().map(|i| (i % 1000) as i32));
        let b = StringArray::from_iter(
            ids.iter()
                .map(|i| (i % 7 != 0).then(|| format!("b{}", i % 13))),
        );
        let pair = StructArray::new(inner.fields().clone(), vec![Arc::new(a), Arc::new(b)], None);
        let tag = StringArray::from_iter(
            ids.iter()
                .map(|i| (i % 5 != 0).then(|| format!("t{}", i % 3))),
        );
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(pair),
                Arc::new(tag),
            ],
        )
        .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.parquet");
    let mut w = TableWriter::create(&p, schema.clone()).unwrap();
    let (mut at, sizes) = (0i64, [1usize, 70_000, 0, 500_000, 478_575, 100_000, 33]);
    for n in sizes {
        w.write(&make(at, n)).unwrap();
        at += n as i64;
    }
    assert_eq!(w.rows(), at as u64);
    w.finish().unwrap();

    let meta = SerializedFileReader::new(std::fs::File::open(&p).unwrap())
        .unwrap()
        .metadata()
        .clone();
    let groups: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
    assert_eq!(groups, [1 << 20, at - (1 << 20)]);
    let (read_schema, batches) = read_all(&p, None).unwrap();
    assert_eq!(read_schema.as_ref(), schema.as_ref());
    let whole = arrow::compute::concat_batches(&read_schema, &batches).unwrap();
    assert_eq!(whole, make(0, at as usize));
}

#[test]
fn an_empty_table_is_a_valid_file_with_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.parquet");
    assert_eq!(write_batches(&p, batch().schema(), &[]).unwrap(), 0);
    let (schema, batches) = read_all(&p, None).unwrap();
    assert_eq!(schema, batch().schema());
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
}

#[test]
fn prefetching_keeps_the_order_and_stops_when_the_consumer_does() {
    use churn_data::io::prefetched;
    let all: Vec<u32> = prefetched(0..10_000u32, 3, |items| items.collect());
    assert_eq!(all, (0..10_000).collect::<Vec<_>>());
    // An endless producer: returning early must not leave it (or this test) running.
    let first: Vec<u64> = prefetched(0u64.., 2, |items| items.take(5).collect());
    assert_eq!(first, [0, 1, 2, 3, 4]);
}

#[test]
fn a_batch_that_does_not_fit_the_file_is_an_error_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.parquet");
    let mut w = TableWriter::create(&p, batch().schema()).unwrap();
    let other = RecordBatch::try_from_iter([(
        "user_id",
        Arc::new(Int64Array::from(vec![1i64])) as arrow::array::ArrayRef,
    )])
    .unwrap();
    let e = w.write(&other).unwrap_err().to_string();
    assert!(e.contains("t.parquet") && e.contains("does not fit"), "{e}");
    drop(w);
    assert!(!p.exists());
}

/// Rows of varied types, `n` of them, in batches of `per_batch` (an empty batch first).
fn many(n: usize, per_batch: usize) -> Vec<RecordBatch> {
    use arrow::array::{Date32Array, Float64Array};
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, true),
        Field::new("day", DataType::Date32, true),
        Field::new("risk", DataType::Float64, true),
        Field::new("reason", DataType::Utf8, true),
    ]));
    let mut out = vec![RecordBatch::new_empty(schema.clone())];
    let mut start = 0;
    while start < n {
        let rows = per_batch.min(n - start);
        let ids = start..start + rows;
        out.push(
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from_iter(
                        ids.clone()
                            .map(|i| (i % 13 != 0).then(|| format!("u{i:07}"))),
                    )),
                    Arc::new(Date32Array::from_iter(
                        ids.clone()
                            .map(|i| (i % 7 != 0).then_some(20_000 + i as i32 % 90)),
                    )),
                    Arc::new(Float64Array::from_iter(
                        ids.clone().map(|i| Some(1.0 / (i as f64 + 3.0))),
                    )),
                    Arc::new(StringArray::from_iter(ids.map(|i| {
                        (i % 3 == 0).then(|| format!("events_7d={} (+0.{i:03}), \"q\"", i % 9))
                    }))),
                ],
            )
            .unwrap(),
        );
        start += rows;
    }
    out
}

#[test]
fn csv_written_in_parallel_pieces_is_byte_for_byte_one_writers_output() {
    let dir = tempfile::tempdir().unwrap();
    // Enough rows for several parallel rounds and pieces, in uneven batches.
    for (n, per_batch) in [(0, 1), (5, 2), (150_000, 7_001)] {
        let batches = many(n, per_batch);
        let p = dir.path().join(format!("t{n}.csv"));
        write_batches(&p, batches[0].schema(), &batches).unwrap();
        let mut one = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(Vec::new());
        for b in &batches {
            one.write(b).unwrap();
        }
        let expected = one.into_inner();
        let got = std::fs::read(&p).unwrap();
        assert!(got == expected, "{n} rows: the files differ");
        if n == 0 {
            assert_eq!(String::from_utf8(got).unwrap(), "user_id,day,risk,reason\n");
        }
    }
}

#[test]
fn parquet_outputs_write_numbers_plain_dictionary_encode_text_and_keep_key_statistics() {
    use parquet::basic::Encoding;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.parquet");
    let batches = many(10_000, 4_000);
    write_batches(&p, batches[0].schema(), &batches).unwrap();
    let reader = SerializedFileReader::new(std::fs::File::open(&p).unwrap()).unwrap();
    let group = reader.metadata().row_group(0);
    let encodings = |name: &str| {
        let c = (0..group.num_columns())
            .map(|i| group.column(i))
            .find(|c| c.column_path().string() == name)
            .unwrap();
        c.encodings().collect::<Vec<_>>()
    };
    // Numbers and dates are plain: neither dictionary nor delta encoded (both cost more to
    // write than zstd saves on them).
    for name in ["day", "risk"] {
        let e = encodings(name);
        assert!(e.contains(&Encoding::PLAIN), "{name}: {e:?}");
        assert!(!e.contains(&Encoding::DELTA_BINARY_PACKED), "{name}: {e:?}");
        assert!(!e.contains(&Encoding::RLE_DICTIONARY), "{name}: {e:?}");
    }
    assert!(encodings("user_id").contains(&Encoding::RLE_DICTIONARY));
    // Keys and dates keep min/max for row-group pruning; measures carry none.
    let stats = |name: &str| {
        (0..group.num_columns())
            .map(|i| group.column(i))
            .find(|c| c.column_path().string() == name)
            .unwrap()
            .statistics()
            .is_some_and(|s| s.min_bytes_opt().is_some())
    };
    assert!(stats("day") && stats("user_id"));
    assert!(!stats("risk"));
    let (_, back) = read_all(&p, None).unwrap();
    assert_eq!(pretty(&back), pretty(&batches));
}

#[test]
fn threaded_writers_started_from_every_rayon_worker_at_once_finish() {
    use rayon::prelude::*;
    // Each writer encodes on the rayon pool while its caller, a pool worker, waits for it:
    // with more writers than workers, plain blocking waits would hold every worker and hang.
    const BATCHES: usize = 40;
    const ROWS: usize = 8192;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let writers = rayon::current_num_threads() + 1;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Several columns: one column is encoded on the writer's own thread.
        let schema = Arc::new(Schema::new(
            (0..4)
                .map(|c| Field::new(format!("v{c}"), DataType::Int64, false))
                .collect::<Vec<_>>(),
        ));
        let rows: Vec<u64> = (0..writers)
            .into_par_iter()
            .map(|w| {
                let path = root.join(format!("t{w}.parquet"));
                let produce = |sink: &mut dyn FnMut(RecordBatch) -> churn_data::Result<()>| {
                    for b in 0..BATCHES {
                        let values: arrow::array::ArrayRef = Arc::new(
                            Int64Array::from_iter_values((0..ROWS as i64).map(|v| v * b as i64)),
                        );
                        let columns = vec![values; schema.fields().len()];
                        sink(RecordBatch::try_new(schema.clone(), columns).unwrap())?;
                    }
                    Ok(())
                };
                write_threaded(&path, schema.clone(), produce).unwrap().1
            })
            .collect();
        tx.send(rows).unwrap();
    });
    let rows = rx
        .recv_timeout(std::time::Duration::from_secs(300))
        .expect("writers started from rayon workers finish");
    assert_eq!(rows, vec![(BATCHES * ROWS) as u64; writers]);
    for w in 0..writers {
        let (_, batches) = read_all(&dir.path().join(format!("t{w}.parquet")), None).unwrap();
        let n: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(n, BATCHES * ROWS);
    }
}

#[cfg(target_os = "linux")]
#[test]
fn temporary_files_of_writers_that_died_are_removed_by_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.parquet");
    // Process ids never exceed 2^22 on Linux: 999999999 ran no process that still runs.
    let dead = dir.path().join(".out.parquet.999999999.17.tmp");
    let live = dir
        .path()
        .join(format!(".out.parquet.{}.5.tmp", std::process::id()));
    let other_target = dir.path().join(".other.parquet.999999999.1.tmp");
    let not_ours = dir.path().join(".out.parquet.backup.tmp");
    for p in [&dead, &live, &other_target, &not_ours] {
        std::fs::write(p, b"partial").unwrap();
    }
    let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    let batch =
        RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1, 2]))]).unwrap();
    write_batches(&target, schema, &[batch]).unwrap();
    assert!(!dead.exists(), "a dead writer's temporary file is removed");
    assert!(live.exists(), "a running process's is kept");
    assert!(other_target.exists(), "another target's is kept");
    assert!(not_ours.exists(), "a file not named as ours is kept");
    assert_eq!(read_all(&target, None).unwrap().1[0].num_rows(), 2);
}

#[test]
fn a_folder_of_files_reads_as_one_table_in_path_order() {
    use churn_data::config::GenerateConfig;
    use churn_data::generate::Simulator;
    let dir = tempfile::tempdir().unwrap();
    let (u, e) = (dir.path().join("u.parquet"), dir.path().join("e.parquet"));
    let sim = Simulator::new(&GenerateConfig {
        n_users: 40,
        days: 12,
        ..GenerateConfig::default()
    })
    .unwrap();
    sim.write(&u, &e, &|_| {}).unwrap();
    let (schema, events) = read_all(&e, None).unwrap();
    let all = arrow::compute::concat_batches(&schema, &events).unwrap();
    // A partitioned export: three parts in nested folders, plus files a reader skips.
    let folder = dir.path().join("events");
    let third = all.num_rows() / 3;
    // Written last part first: reading follows the paths, not the order of writing.
    for (name, start, len) in [
        (
            "date=2/part-0.parquet",
            2 * third,
            all.num_rows() - 2 * third,
        ),
        ("date=1/part-1.parquet", third, third),
        ("date=1/part-0.parquet", 0, third),
    ] {
        let path = folder.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        write_batches(&path, schema.clone(), &[all.slice(start, len)]).unwrap();
    }
    std::fs::write(folder.join("_SUCCESS"), "").unwrap();
    std::fs::write(folder.join("date=1/.part-0.parquet.crc"), "x").unwrap();
    std::fs::write(folder.join("README.txt"), "not data").unwrap();
    let (_, back) = read_all(&folder, None).unwrap();
    let back = arrow::compute::concat_batches(&back[0].schema(), &back).unwrap();
    assert_eq!(back.num_rows(), all.num_rows());
    for c in 0..all.num_columns() {
        assert_eq!(
            back.column(c).to_data(),
            all.column(c).to_data(),
            "column {c}"
        );
    }
    // Statistics over every file: the same range and row count as the single file.
    assert_eq!(
        churn_data::io::parquet_time_range(&folder, "event_time"),
        churn_data::io::parquet_time_range(&e, "event_time")
    );
    assert_eq!(
        churn_data::io::parquet_row_count(&folder),
        Some(all.num_rows() as u64)
    );
    // A part with other columns, a folder of two formats, an empty folder: errors naming
    // the files.
    let odd = folder.join("date=3/part-0.parquet");
    std::fs::create_dir_all(odd.parent().unwrap()).unwrap();
    write_batches(&odd, batch().schema(), &[batch()]).unwrap();
    let err = read_all(&folder, None).unwrap_err().to_string();
    assert!(
        err.contains("date=3/part-0.parquet") && err.contains("date=1/part-0.parquet"),
        "{err}"
    );
    std::fs::remove_file(&odd).unwrap();
    write_batches(
        &folder.join("date=3/part-0.csv"),
        batch().schema(),
        &[batch()],
    )
    .unwrap();
    let err = TableReader::open(&folder, None, 1024)
        .unwrap_err()
        .to_string();
    assert!(err.contains("mixes") && err.contains("part-0.csv"), "{err}");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("date=1")).unwrap();
    let err = TableReader::open(&empty, None, 1024)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("empty") && err.contains("no .parquet or .csv"),
        "{err}"
    );
}

#[test]
fn the_rows_of_some_days_from_many_row_groups_come_in_file_order() {
    use arrow::array::{AsArray, Date32Array, Int64Array};
    use arrow::datatypes::{Date32Type, Int64Type};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("daily.parquet");
    // 60 users x 30 days, user-major as the feature table is, in row groups of 97 rows.
    let schema = Arc::new(Schema::new(vec![
        Field::new("row", DataType::Int64, false),
        Field::new("as_of_date", DataType::Date32, false),
    ]));
    let rows = 60 * 30;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(0..rows)),
            Arc::new(Date32Array::from_iter_values(
                (0..rows).map(|r| 20_000 + (r % 30) as i32),
            )),
        ],
    )
    .unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(97))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        schema,
        Some(props),
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let groups = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&path).unwrap(),
    )
    .unwrap()
    .metadata()
    .num_row_groups();
    assert_eq!(
        groups, 19,
        "several windows of row groups decoded in parallel"
    );
    // The ids a reader returns, every row dated on one of `days`; and the ids it should.
    let read = |reader: TableReader, days: &[i32]| {
        let mut got = Vec::new();
        for b in reader {
            let b = b.unwrap();
            let dates = b.column(1).as_primitive::<Date32Type>();
            assert!(dates.values().iter().all(|d| days.contains(d)));
            got.extend(
                b.column(0)
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .copied(),
            );
        }
        got
    };
    let want = |days: &[i32]| -> Vec<i64> {
        (0..rows)
            .filter(|r| days.contains(&(20_000 + (r % 30) as i32)))
            .collect()
    };
    for day in [20_000, 20_017, 20_029] {
        let reader = TableReader::open_on_date(&path, None, 16, Some(("as_of_date", day))).unwrap();
        assert_eq!(read(reader, &[day]), want(&[day]), "day {day}");
    }
    // Several days in one read, given in any order: exactly their rows, in file order.
    let days = [20_029, 20_003, 20_017];
    let reader = TableReader::open_on_days(&path, None, 16, "as_of_date", &days).unwrap();
    assert_eq!(read(reader, &days), want(&days));
}

#[test]
fn a_whole_table_and_a_folder_of_parts_never_replace_each_other() {
    use churn_data::partition::Partition;
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t.parquet");
    write_batches(&table, batch().schema(), &[batch()]).unwrap();
    // A part cannot be written into a whole table's file, and the file is kept.
    let part = Partition::new(0, 2).unwrap().part_path(&table);
    let e = TableWriter::create(&part, batch().schema())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("is a file where this run writes the part"),
        "{e}"
    );
    assert!(e.contains("t.parquet"), "{e}");
    assert_eq!(
        pretty(&read_all(&table, None).unwrap().1),
        pretty(&[batch()])
    );
    // Nor a whole table over a folder of parts; the parts are kept.
    std::fs::remove_file(&table).unwrap();
    for i in 0..2 {
        let part = Partition::new(i, 2).unwrap().part_path(&table);
        write_batches(&part, batch().schema(), &[batch()]).unwrap();
    }
    let e = write_batches(&table, batch().schema(), &[batch()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("is a folder (the parts of a run with --partition)"),
        "{e}"
    );
    assert_eq!(read_all(&table, None).unwrap().1.len(), 2);
    // A part's latest-date snapshot is the same part of the snapshot folder.
    assert_eq!(
        churn_data::io::latest_snapshot_path(&Partition::new(1, 2).unwrap().part_path(&table)),
        dir.path()
            .join("t.latest.parquet/part-00001-of-00002.parquet")
    );
}

#[test]
fn a_sample_of_a_folder_of_parts_takes_each_parts_share() {
    use churn_data::partition::Partition;
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t.parquet");
    for (i, n) in [(0, 30_000), (1, 10_000)] {
        let part = Partition::new(i, 2).unwrap().part_path(&table);
        let batches = many(n, 4_000);
        write_batches(&part, batches[0].schema(), &batches).unwrap();
    }
    // 3,000 rows of the first part and 1,000 of the second (32 runs each, rounded down):
    // far from all 40,000, and more than either part's share alone.
    let rows: usize = TableReader::open_sample(&table, None, 1024, 4_000)
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 32 * (3_000 / 32) + 32 * (1_000 / 32));
}
