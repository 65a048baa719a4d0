//! Reading CSV or Parquet tables as streams of Arrow record batches, and writing Parquet,
//! CSV and JSON outputs atomically (temp file in the same folder, fsync, rename).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

use crate::{Error, Result};

/// Rows per batch when reading.
pub const DEFAULT_BATCH_SIZE: usize = 65_536;

/// The formats churn reads and writes, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.csv`
    Csv,
    /// `.parquet` or `.pq`
    Parquet,
}

impl Format {
    /// Picks the format from a path's extension.
    pub fn from_path(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("csv") => Ok(Format::Csv),
            Some("parquet") | Some("pq") => Ok(Format::Parquet),
            _ => Err(Error::UnsupportedExtension {
                path: path.to_path_buf(),
            }),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

/// A stream of record batches from one file, or from every data file of a folder (see
/// [`data_files`]). CSV columns are read as text (so ids and values are kept verbatim and
/// type problems can be reported with examples); Parquet columns keep their stored types,
/// and a batch with a date or timestamp outside 0001-01-01..=9999-12-31 is an
/// [`Error::Invalid`] naming the column (see [`crate::days`]). Errors name the file.
pub struct TableReader {
    path: PathBuf,
    format: Format,
    schema: SchemaRef,
    inner: BatchIter,
}

impl std::fmt::Debug for TableReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableReader")
            .field("path", &self.path)
            .field("format", &self.format)
            .finish()
    }
}

impl TableReader {
    /// Opens `path` (format by extension), a file or a folder of data files. When `columns`
    /// is given, only those columns that exist in the file are read; missing ones are left
    /// to the caller to judge.
    pub fn open(path: &Path, columns: Option<&[&str]>, batch_size: usize) -> Result<Self> {
        Self::open_on_date(path, columns, batch_size, None)
    }

    /// [`TableReader::open`], reading from a Parquet file only the rows whose Date32
    /// column `date.0` equals day `date.1` (days since 1970-01-01) when the file allows it:
    /// row groups whose statistics exclude the day are skipped, and the other columns are
    /// decoded only for matching rows. Other rows may still come back (CSV, other column
    /// types), so the caller filters too.
    pub fn open_on_date(
        path: &Path,
        columns: Option<&[&str]>,
        batch_size: usize,
        date: Option<(&str, i32)>,
    ) -> Result<Self> {
        match date {
            Some((column, day)) => Self::open_on_days(path, columns, batch_size, column, &[day]),
            None => Self::open_days(path, columns, batch_size, None),
        }
    }

    /// [`TableReader::open_on_date`] for several days at once: one read of the file for
    /// all of them, row groups skipped when their statistics exclude every day.
    pub fn open_on_days(
        path: &Path,
        columns: Option<&[&str]>,
        batch_size: usize,
        column: &str,
        days: &[i32],
    ) -> Result<Self> {
        let mut days = days.to_vec();
        days.sort_unstable();
        days.dedup();
        Self::open_days(path, columns, batch_size, Some((column, Arc::from(days))))
    }

    fn open_days(
        path: &Path,
        columns: Option<&[&str]>,
        batch_size: usize,
        date: Option<(&str, Days)>,
    ) -> Result<Self> {
        if path.is_dir() {
            let (_, files) = data_files(path)?;
            let date: Option<(String, Days)> = date.map(|(c, d)| (c.to_string(), d));
            return Self::open_folder(path, files, columns, move |file, names| {
                let date = date.as_ref().map(|(c, d)| (c.as_str(), d.clone()));
                Self::open_days(file, names, batch_size, date)
            });
        }
        let format = Format::from_path(path)?;
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let format_err = |message: String| Error::Format {
            path: path.to_path_buf(),
            format: format.name(),
            message,
        };
        let (schema, inner): (SchemaRef, ArrowBatches) = match format {
            Format::Csv => {
                let full = csv_text_schema(&file).map_err(format_err)?;
                let projection = project(&full, columns);
                let schema = Arc::new(
                    full.project(&projection)
                        .map_err(|e| format_err(e.to_string()))?,
                );
                let reader = arrow::csv::ReaderBuilder::new(Arc::new(full))
                    .with_header(true)
                    .with_batch_size(batch_size)
                    .with_projection(projection)
                    .build(BufReader::with_capacity(1 << 20, file))
                    .map_err(|e| format_err(e.to_string()))?;
                (schema, Box::new(reader))
            }
            Format::Parquet => {
                let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
                    format_err(format!("{e} (is the file truncated or not Parquet?)"))
                })?;
                let full = builder.schema().clone();
                let projection = project(&full, columns);
                let mask =
                    ProjectionMask::roots(builder.parquet_schema(), projection.iter().copied());
                let day = date.and_then(|(c, d)| Some((date_column(&builder, c)?, d)));
                let groups = day
                    .as_ref()
                    .map_or_else(Vec::new, |(index, d)| day_groups(&builder, *index, d));
                match day {
                    // Several row groups to search: decoded in parallel. One (a latest-date
                    // snapshot) streams batch by batch, so its consumer starts at once.
                    Some(day) if groups.len() > 1 => {
                        DayGroups::start(path, &builder, &projection, mask, day, groups, batch_size)
                            .map_err(|e| format_err(e.to_string()))?
                    }
                    _ => {
                        let builder = match day {
                            Some((index, d)) => {
                                day_filter(builder.with_row_groups(groups), index, d)
                            }
                            None => builder,
                        };
                        let reader = builder
                            .with_projection(mask)
                            .with_batch_size(batch_size)
                            .build()
                            .map_err(|e| format_err(e.to_string()))?;
                        let schema = arrow::record_batch::RecordBatchReader::schema(&reader);
                        (schema, Box::new(reader) as ArrowBatches)
                    }
                }
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            format,
            schema,
            inner: checked(path, format, inner),
        })
    }

    /// The data `files` of the folder `path` (see [`data_files`]) in turn, each opened by
    /// `open(file, columns)`, as one table: the columns (and, for Parquet, their types) must
    /// be the same in every file; each batch carries the first file's columns, all nullable.
    fn open_folder(
        path: &Path,
        files: Vec<PathBuf>,
        columns: Option<&[&str]>,
        open: impl Fn(&Path, Option<&[&str]>) -> Result<Self> + Send + 'static,
    ) -> Result<Self> {
        let first = open(&files[0], columns)?;
        let format = first.format;
        let schema: SchemaRef = Arc::new(Schema::new(
            first
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<Field>>(),
        ));
        let columns: Option<Vec<String>> =
            columns.map(|c| c.iter().map(|s| s.to_string()).collect());
        let first_file = files[0].clone();
        let shape = schema.clone();
        let rest = files
            .into_iter()
            .skip(1)
            .flat_map(move |file| -> BatchIter {
                let names: Option<Vec<&str>> = columns
                    .as_ref()
                    .map(|c| c.iter().map(String::as_str).collect());
                let opened = open(&file, names.as_deref())
                    .and_then(|r| same_columns(r, &shape, &first_file));
                match opened {
                    Ok(r) => Box::new(r),
                    Err(e) => Box::new(std::iter::once(Err(e))),
                }
            });
        let uniform = schema.clone();
        let inner = first.chain(rest).map(move |b| {
            let b = b?;
            RecordBatch::try_new_with_options(
                uniform.clone(),
                b.columns().to_vec(),
                &arrow::array::RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
            )
            .map_err(|e| Error::arrow("reading a folder of files", e))
        });
        Ok(Self {
            path: path.to_path_buf(),
            format,
            schema,
            inner: Box::new(inner),
        })
    }

    /// Opens a Parquet table keeping about `max_rows` of its rows: 32 evenly spaced runs of
    /// consecutive rows (runs long enough that whole pages outside them are skipped, not
    /// decoded, when the file has a page index); from a folder of files (the parts of a
    /// partitioned run), each file's share of `max_rows` in proportion to its rows. A table
    /// with no more rows than that, or a CSV table, is read whole.
    pub fn open_sample(
        path: &Path,
        columns: Option<&[&str]>,
        batch_size: usize,
        max_rows: usize,
    ) -> Result<Self> {
        use parquet::arrow::arrow_reader::{ArrowReaderOptions, RowSelection, RowSelector};
        let total = parquet_row_count(path).unwrap_or(0) as usize;
        if max_rows == 0 || total <= max_rows || Format::from_path(path)? != Format::Parquet {
            return Self::open(path, columns, batch_size);
        }
        if path.is_dir() {
            let (_, files) = data_files(path)?;
            return Self::open_folder(path, files, columns, move |file, names| {
                let rows = parquet_row_count(file).unwrap_or(0) as usize;
                let share = (max_rows as u128 * rows as u128).div_ceil(total as u128) as usize;
                Self::open_sample(file, names, batch_size, share.max(1))
            });
        }
        let runs = 32usize.min(max_rows);
        let run = max_rows / runs;
        let gap = total / runs;
        let mut selectors = Vec::with_capacity(runs * 2);
        for _ in 0..runs {
            selectors.push(RowSelector::select(run));
            selectors.push(RowSelector::skip(gap - run));
        }
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let format_err = |message: String| Error::Format {
            path: path.to_path_buf(),
            format: Format::Parquet.name(),
            message,
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(
            file,
            ArrowReaderOptions::new()
                .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Optional),
        )
        .map_err(|e| format_err(format!("{e} (is the file truncated or not Parquet?)")))?;
        let projection = project(builder.schema(), columns);
        let mask = ProjectionMask::roots(builder.parquet_schema(), projection.iter().copied());
        let reader = builder
            .with_projection(mask)
            .with_row_selection(RowSelection::from(selectors))
            .with_batch_size(batch_size)
            .build()
            .map_err(|e| format_err(e.to_string()))?;
        let schema = arrow::record_batch::RecordBatchReader::schema(&reader);
        Ok(Self {
            path: path.to_path_buf(),
            format: Format::Parquet,
            schema,
            inner: checked(path, Format::Parquet, Box::new(reader)),
        })
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema of the batches this reader yields.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        self.format
    }
}

impl Iterator for TableReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

type ArrowBatches = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send>;

/// The batches of one file with its errors named, and dates checked: a Parquet date or
/// timestamp can hold any integer; nothing past the reader has to guard its date
/// arithmetic (CSV dates are text here, parsed downstream).
fn checked(path: &Path, format: Format, batches: ArrowBatches) -> BatchIter {
    let path = path.to_path_buf();
    Box::new(batches.map(move |r| {
        let batch = r.map_err(|e| Error::Format {
            path: path.clone(),
            format: format.name(),
            message: e.to_string(),
        })?;
        match crate::days::out_of_range(&batch) {
            None => Ok(batch),
            Some((column, examples)) => Err(Error::Invalid {
                path: path.clone(),
                column,
                rule: crate::days::RANGE_RULE.into(),
                examples,
            }),
        }
    }))
}

/// `reader` when its columns have the names and types of `shape` (the columns of the
/// folder's first file, `first`); an error naming both files otherwise.
fn same_columns(reader: TableReader, shape: &Schema, first: &Path) -> Result<TableReader> {
    let schema = reader.schema();
    let same = schema.fields().len() == shape.fields().len()
        && schema
            .fields()
            .iter()
            .zip(shape.fields())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
    if same {
        return Ok(reader);
    }
    Err(Error::Folder {
        path: reader.path.clone(),
        message: format!(
            "columns {} differ from {}'s {} (the files of a folder are one table)",
            describe_fields(&schema),
            first.display(),
            describe_fields(shape)
        ),
    })
}

/// `name: type, ...` of a schema, for messages.
fn describe_fields(schema: &Schema) -> String {
    let fields: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect();
    format!("[{}]", fields.join(", "))
}

/// The data files of a table: the file itself, or every `.parquet` / `.csv` file under a
/// folder, its subfolders included (a partitioned export such as
/// `events/date=2025-01-01/part-0.parquet`), in path order, with their format. Names
/// starting with `.` or `_` (`_SUCCESS`, `.part-0.crc`, temporary files) are skipped, and so
/// are other extensions. A folder with no data file, or with files of both formats, is an
/// error naming it, and so is a folder of partition parts (`part-00000-of-00004.parquet`,
/// see [`crate::partition`]) that lacks a part or mixes two partition counts.
pub fn data_files(path: &Path) -> Result<(Format, Vec<PathBuf>)> {
    if !path.is_dir() {
        return Ok((Format::from_path(path)?, vec![path.to_path_buf()]));
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, "list", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, "list", e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let p = entry.path();
            if p.is_dir() {
                pending.push(p);
            } else if let Ok(format) = Format::from_path(&p) {
                files.push((p, format));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let Some((_, format)) = files.first().cloned() else {
        return Err(Error::Folder {
            path: path.to_path_buf(),
            message: "no .parquet or .csv file in the folder (or its subfolders)".into(),
        });
    };
    if let Some((other, _)) = files.iter().find(|(_, f)| *f != format) {
        return Err(Error::Folder {
            path: path.to_path_buf(),
            message: format!(
                "the folder mixes {} and {} files (e.g. {} and {}); a table is one format",
                format.name(),
                if format == Format::Csv {
                    "parquet"
                } else {
                    "csv"
                },
                files[0].0.display(),
                other.display()
            ),
        });
    }
    let files: Vec<PathBuf> = files.into_iter().map(|(p, _)| p).collect();
    crate::partition::check_parts(path, &files)?;
    Ok((format, files))
}

/// The row groups whose statistics may hold `day` in the Date32 column `index` (a group
/// without statistics may).
fn day_groups(
    builder: &ParquetRecordBatchReaderBuilder<File>,
    index: usize,
    days: &[i32],
) -> Vec<usize> {
    use arrow::array::Date32Array;
    let schema = builder.schema().clone();
    let groups = builder.metadata().row_groups();
    let stats = parquet::arrow::arrow_reader::statistics::StatisticsConverter::try_new(
        schema.field(index).name(),
        &schema,
        builder.parquet_schema(),
    )
    .ok()
    .and_then(|c| {
        let mins = c.row_group_mins(groups.iter()).ok()?;
        let maxes = c.row_group_maxes(groups.iter()).ok()?;
        let mins = mins.as_any().downcast_ref::<Date32Array>()?.clone();
        let maxes = maxes.as_any().downcast_ref::<Date32Array>()?.clone();
        Some((mins, maxes))
    });
    (0..groups.len())
        .filter(|&g| match &stats {
            Some((mins, maxes)) => {
                mins.is_null(g)
                    || maxes.is_null(g)
                    || days
                        .iter()
                        .any(|&day| mins.value(g) <= day && day <= maxes.value(g))
            }
            None => true,
        })
        .collect()
}

/// The builder with a row filter keeping `column index == day` (a Date32 column): the
/// other columns are decoded only for the rows kept.
fn day_filter(
    builder: ParquetRecordBatchReaderBuilder<File>,
    index: usize,
    days: Days,
) -> ParquetRecordBatchReaderBuilder<File> {
    use arrow::array::{AsArray, BooleanArray, Date32Array};
    use arrow::datatypes::Date32Type;
    use parquet::arrow::arrow_reader::{ArrowPredicateFn, RowFilter};
    let mask = ProjectionMask::roots(builder.parquet_schema(), [index]);
    let predicate = ArrowPredicateFn::new(mask, move |batch: RecordBatch| {
        if let [day] = *days {
            return arrow::compute::kernels::cmp::eq(
                batch.column(0),
                &Date32Array::new_scalar(day),
            );
        }
        let column = batch.column(0).as_primitive::<Date32Type>();
        Ok(column
            .iter()
            .map(|d| Some(d.is_some_and(|d| days.binary_search(&d).is_ok())))
            .collect::<BooleanArray>())
    });
    builder.with_row_filter(RowFilter::new(vec![Box::new(predicate)]))
}

/// The days a reader keeps, ascending (days since 1970-01-01).
type Days = Arc<[i32]>;

/// The Date32 column `column` of a Parquet file, for a date filter.
fn date_column(builder: &ParquetRecordBatchReaderBuilder<File>, column: &str) -> Option<usize> {
    let schema = builder.schema();
    let index = schema.index_of(column).ok()?;
    (schema.field(index).data_type() == &DataType::Date32).then_some(index)
}

/// The wanted days' rows of a Parquet file's row groups, each row group decoded (projection and
/// day filter applied) on the rayon pool, a window of them at a time, yielded in row-group
/// order: a day's rows of a user-ordered table are spread over every page, so reading them
/// is decoding the whole file, which one thread would do alone.
struct DayGroups {
    path: PathBuf,
    metadata: parquet::arrow::arrow_reader::ArrowReaderMetadata,
    mask: ProjectionMask,
    day: (usize, Days),
    batch_size: usize,
    groups: std::vec::IntoIter<usize>,
    ready: std::collections::VecDeque<std::result::Result<RecordBatch, ArrowError>>,
}

impl DayGroups {
    /// The reader of `groups` of the file `builder` opened, with its schema.
    fn start(
        path: &Path,
        builder: &ParquetRecordBatchReaderBuilder<File>,
        projection: &[usize],
        mask: ProjectionMask,
        day: (usize, Days),
        groups: Vec<usize>,
        batch_size: usize,
    ) -> std::result::Result<(SchemaRef, ArrowBatches), ArrowError> {
        let schema = Arc::new(builder.schema().project(projection)?);
        let metadata = parquet::arrow::arrow_reader::ArrowReaderMetadata::try_new(
            builder.metadata().clone(),
            Default::default(),
        )
        .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
        let reader = DayGroups {
            path: path.to_path_buf(),
            metadata,
            mask,
            day,
            batch_size,
            groups: groups.into_iter(),
            ready: Default::default(),
        };
        Ok((schema, Box::new(reader)))
    }

    fn decode(&self, group: usize) -> std::result::Result<Vec<RecordBatch>, ArrowError> {
        let file = File::open(&self.path).map_err(|e| ArrowError::IoError(e.to_string(), e))?;
        let builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                .with_row_groups(vec![group])
                .with_projection(self.mask.clone())
                .with_batch_size(self.batch_size);
        day_filter(builder, self.day.0, self.day.1.clone())
            .build()
            .map_err(|e| ArrowError::ExternalError(Box::new(e)))?
            .collect()
    }
}

impl Iterator for DayGroups {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.ready.is_empty() {
            let window: Vec<usize> = self
                .groups
                .by_ref()
                .take(2 * rayon::current_num_threads().max(1))
                .collect();
            if window.is_empty() {
                return None;
            }
            let decoded: Vec<_> = window.par_iter().map(|&g| self.decode(g)).collect();
            for d in decoded {
                match d {
                    Ok(batches) => self.ready.extend(batches.into_iter().map(Ok)),
                    Err(e) => {
                        self.ready.push_back(Err(e));
                        self.groups = Vec::new().into_iter();
                        break;
                    }
                }
            }
        }
        self.ready.pop_front()
    }
}

fn project(schema: &Schema, columns: Option<&[&str]>) -> Vec<usize> {
    match columns {
        None => (0..schema.fields().len()).collect(),
        Some(cols) => schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| cols.contains(&f.name().as_str()))
            .map(|(i, _)| i)
            .collect(),
    }
}

/// Reads the CSV header and returns a schema with every column as nullable text.
fn csv_text_schema(file: &File) -> std::result::Result<Schema, String> {
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return Err("the file is empty (expected a header line)".into());
    }
    let mut start = [0u8; 2];
    let mut f = file;
    let utf16 = match f.read_exact(&mut start).map(|()| start) {
        Ok([0xFF, 0xFE]) => Some("little-endian, byte-order mark FF FE"),
        Ok([0xFE, 0xFF]) => Some("big-endian, byte-order mark FE FF"),
        _ => None,
    };
    if let Some(order) = utf16 {
        return Err(format!(
            "the file is UTF-16 text ({order}), as spreadsheets save \"Unicode text\"; save it as CSV UTF-8"
        ));
    }
    f.seek(SeekFrom::Start(0))
        .map_err(|e| format!("cannot rewind: {e}"))?;
    let (inferred, _) = arrow::csv::reader::Format::default()
        .with_header(true)
        .infer_schema(BufReader::new(file), Some(0))
        .map_err(|e| e.to_string())?;
    let mut fields = Vec::with_capacity(inferred.fields().len());
    let mut seen = std::collections::HashSet::new();
    for (i, f) in inferred.fields().iter().enumerate() {
        let mut name = f.name().trim().to_string();
        if i == 0 {
            name = name.trim_start_matches('\u{feff}').to_string();
        }
        if !seen.insert(name.clone()) {
            return Err(format!("duplicate column `{name}` in the header"));
        }
        fields.push(Field::new(name, DataType::Utf8, true));
    }
    // infer_schema read the header through the shared handle; rewind it for the data reader.
    let mut f = file;
    f.seek(SeekFrom::Start(0))
        .map_err(|e| format!("cannot rewind: {e}"))?;
    Ok(Schema::new(fields))
}

/// The min and max of a timestamp column, in microseconds, from a Parquet file's row-group
/// statistics; `None` when the file is not Parquet, the column is not a timestamp, any
/// row group lacks statistics, or a value lies outside the calendar of [`crate::days`] (the
/// caller then scans, and the reader reports the values).
pub fn parquet_time_range(path: &Path, column: &str) -> Option<(i64, i64)> {
    over_files(path, |file| parquet_file_time_range(file, column))
}

fn parquet_file_time_range(path: &Path, column: &str) -> Option<(i64, i64)> {
    let target = DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None);
    let (mins, maxes) = parquet_column_stats(
        path,
        column,
        |t| matches!(t, DataType::Timestamp(..)),
        &target,
    )?;
    let (mins, maxes) = (
        mins.as_any()
            .downcast_ref::<arrow::array::TimestampMicrosecondArray>()?,
        maxes
            .as_any()
            .downcast_ref::<arrow::array::TimestampMicrosecondArray>()?,
    );
    let (lo, hi) = (arrow::compute::min(mins)?, arrow::compute::max(maxes)?);
    // Outside the calendar: `None`, so the caller scans and the reader names the values.
    let day = 86_400_000_000i64;
    let (first, end) = (
        i64::from(crate::days::MIN_DAY) * day,
        (i64::from(crate::days::MAX_DAY) + 1) * day,
    );
    (first <= lo && hi < end).then_some((lo, hi))
}

/// The min and max of a date column (days since 1970-01-01) from a Parquet file's row-group
/// statistics; `None` as for [`parquet_time_range`], and when a day lies outside
/// [`crate::days::MIN_DAY`]`..=`[`crate::days::MAX_DAY`] (the caller then scans, and the
/// reader reports the values).
pub fn parquet_date_range(path: &Path, column: &str) -> Option<(i32, i32)> {
    over_files(path, |file| parquet_file_date_range(file, column))
}

/// The range over every data file of `path` (see [`data_files`]); `None` unless each has
/// one.
fn over_files<T: Ord + Copy>(
    path: &Path,
    range: impl Fn(&Path) -> Option<(T, T)>,
) -> Option<(T, T)> {
    let (_, files) = data_files(path).ok()?;
    files.iter().try_fold(None, |acc: Option<(T, T)>, f| {
        let (lo, hi) = range(f)?;
        Some(Some(acc.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi)))))
    })?
}

fn parquet_file_date_range(path: &Path, column: &str) -> Option<(i32, i32)> {
    let (mins, maxes) = parquet_column_stats(
        path,
        column,
        |t| matches!(t, DataType::Date32),
        &DataType::Date32,
    )?;
    let (mins, maxes) = (
        mins.as_any().downcast_ref::<arrow::array::Date32Array>()?,
        maxes.as_any().downcast_ref::<arrow::array::Date32Array>()?,
    );
    let range = crate::days::MIN_DAY..=crate::days::MAX_DAY;
    let (lo, hi) = (arrow::compute::min(mins)?, arrow::compute::max(maxes)?);
    (range.contains(&lo) && range.contains(&hi)).then_some((lo, hi))
}

/// The number of rows of a Parquet file (or a folder of them) from the footers; `None` for
/// other files.
pub fn parquet_row_count(path: &Path) -> Option<u64> {
    let (format, files) = data_files(path).ok()?;
    if format != Format::Parquet {
        return None;
    }
    files.iter().try_fold(0u64, |sum, f| {
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(f).ok()?).ok()?;
        Some(sum + u64::try_from(builder.metadata().file_metadata().num_rows()).ok()?)
    })
}

/// Per-row-group mins and maxes of a column, cast to `target`; `None` unless every row group
/// has both.
fn parquet_column_stats(
    path: &Path,
    column: &str,
    accept: impl Fn(&DataType) -> bool,
    target: &DataType,
) -> Option<(arrow::array::ArrayRef, arrow::array::ArrayRef)> {
    if Format::from_path(path).ok()? != Format::Parquet {
        return None;
    }
    let file = File::open(path).ok()?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).ok()?;
    let schema = builder.schema();
    let field = schema.field_with_name(column).ok()?;
    if !accept(field.data_type()) {
        return None;
    }
    let converter = parquet::arrow::arrow_reader::statistics::StatisticsConverter::try_new(
        column,
        schema,
        builder.parquet_schema(),
    )
    .ok()?;
    let groups = builder.metadata().row_groups();
    let complete = |a: arrow::array::ArrayRef| {
        arrow::compute::cast(&a, target)
            .ok()
            .filter(|c| c.null_count() == 0 && !c.is_empty())
    };
    Some((
        complete(converter.row_group_mins(groups.iter()).ok()?)?,
        complete(converter.row_group_maxes(groups.iter()).ok()?)?,
    ))
}

/// Reads a whole (small) table into memory.
pub fn read_all(path: &Path, columns: Option<&[&str]>) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let reader = TableReader::open(path, columns, DEFAULT_BATCH_SIZE)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>>>()?;
    Ok((schema, batches))
}

/// A file that appears at its final path only when [`AtomicFile::commit`] succeeds; dropped
/// uncommitted, its temporary file is removed and the previous output stays untouched.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Creates the temporary file beside `target` (creating the folder if needed).
    pub fn create(target: &Path) -> Result<Self> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if target.is_dir() {
            return Err(Error::Folder {
                path: target.to_path_buf(),
                message: "is a folder (the parts of a run with --partition) where this run \
                          writes one file; remove the folder, or run with --partition"
                    .into(),
            });
        }
        if dir.is_file() {
            return Err(Error::Folder {
                path: dir.clone(),
                message: format!(
                    "is a file where this run writes the part {} of a partitioned table; \
                     remove the file (a run without --partition wrote it), or run without \
                     --partition",
                    target.display()
                ),
            });
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create folder", e))?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        remove_stale_temps(&dir, &name);
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let temp = dir.join(format!(".{name}.{}.{nonce}.tmp", std::process::id()));
        let file = File::create(&temp).map_err(|e| Error::io(&temp, "create", e))?;
        Ok(Self {
            target: target.to_path_buf(),
            temp,
            file: Some(file),
        })
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// A handle to write into the temporary file.
    pub fn file(&self) -> Result<File> {
        self.file
            .as_ref()
            .expect("file is present until commit")
            .try_clone()
            .map_err(|e| Error::io(&self.temp, "clone handle", e))
    }

    /// Flushes to disk and renames the temporary file over the target.
    pub fn commit(mut self) -> Result<PathBuf> {
        let file = self.file.take().expect("file is present until commit");
        file.sync_all()
            .map_err(|e| Error::io(&self.temp, "fsync", e))?;
        drop(file);
        std::fs::rename(&self.temp, &self.target)
            .map_err(|e| Error::io(&self.target, "rename into place", e))?;
        if let Some(dir) = self.target.parent() {
            // Persist the rename itself; not all platforms allow opening a folder.
            if let Ok(d) = File::open(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            }) {
                let _ = d.sync_all();
            }
        }
        Ok(self.target.clone())
    }
}

/// Opens `path` (creating it and its folder if needed) and takes an exclusive advisory lock
/// on it, waiting while another process or thread holds it; the lock lasts until the
/// returned file is dropped. Writers that must not interleave (two runs into one output
/// folder) hold one.
pub fn lock_exclusive(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create folder", e))?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, "open the lock", e))?;
    file.lock().map_err(|e| Error::io(path, "lock", e))?;
    Ok(file)
}

/// Removes temporary files of `name` in `dir` (`.{name}.{pid}.{nonce}.tmp`) left by a
/// process that no longer runs: a writer killed before it committed (SIGKILL, the OOM
/// killer, Ctrl-C) cannot remove its own, and a features table's can be hundreds of MB per
/// attempt. Where running processes cannot be told (no `/proc`), nothing is removed; a
/// temporary file of a live process, this one included, is never touched.
fn remove_stale_temps(dir: &Path, name: &str) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}.");
    let own = std::process::id();
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(rest) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|f| f.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Some(pid) = rest
            .split_once('.')
            .and_then(|(pid, nonce)| nonce.parse::<u32>().ok().and(pid.parse::<u32>().ok()))
        else {
            continue;
        };
        if pid != own && !proc.join(pid.to_string()).exists() {
            tracing::debug!("removing {}, left by process {pid}", entry.path().display());
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 1 << 20;

/// Rows gathered before their columns are encoded in parallel: enough work per column
/// task to outweigh scheduling it.
const ENCODE_ROWS: usize = 1 << 16;

/// Writer properties of every Parquet output: zstd level 1 (fast, still several times
/// smaller than plain), 1M-row row groups, dictionary encoding only for text columns
/// (ids, timestamps, counts and measures gain little from it and cost a hash per value),
/// and plain encoding for numbers, dates and timestamps. Delta bit-packing would make the
/// features table ~10% smaller, but the writer packs it value by value: it was ~28% of the
/// CPU time of the features, labels and training-set pass, more than zstd saves on the
/// smaller input, and readers decode either at the same speed. Statistics (min/max) are
/// written for text and temporal columns, the keys and dates readers prune row groups by
/// (a scoring date, an event-time range); counts and measures carry none, since computing
/// the min and max of every value was about 12% of writing the features table and no
/// reader filters on a measure.
pub fn parquet_properties(schema: &Schema) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("1 is a valid zstd level"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    for field in schema.fields() {
        let text = matches!(
            field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..)
        );
        let path = ColumnPath::from(field.name().as_str());
        if !text {
            builder = builder.set_column_dictionary_enabled(path.clone(), false);
        }
        let temporal = matches!(
            field.data_type(),
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
        );
        if !text && !temporal {
            builder = builder.set_column_statistics_enabled(path, EnabledStatistics::None);
        }
    }
    builder.build()
}

/// Batches written but not encoded yet: the parallel writers encode `ENCODE_ROWS` rows at a
/// time.
#[derive(Default)]
struct Pending {
    batches: Vec<RecordBatch>,
    rows: usize,
}

impl Pending {
    /// Keeps `batch`; true once enough rows are pending to encode them.
    fn push(&mut self, batch: &RecordBatch) -> bool {
        self.rows += batch.num_rows();
        self.batches.push(batch.clone());
        self.rows >= ENCODE_ROWS
    }

    /// The pending batches, in order, leaving none.
    fn take(&mut self) -> Vec<RecordBatch> {
        self.rows = 0;
        std::mem::take(&mut self.batches)
    }
}

/// A Parquet writer that encodes and compresses the columns of each block of rows in
/// parallel (one rayon task per column), where `ArrowWriter` encodes every column on the
/// calling thread. Encoding is a large part of a stage's work (zstd alone is about a third
/// of the features stage's CPU), so this keeps a stage from waiting on one core. Each
/// column is still encoded in row order, so the file's bytes do not depend on the thread
/// count.
struct ParallelParquet {
    file: SerializedFileWriter<File>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Leaf columns per field, in schema order (one for flat types).
    leaves: Vec<usize>,
    /// The current row group's column writers, in leaf order.
    columns: Vec<ArrowColumnWriter>,
    group: usize,
    group_rows: usize,
    pending: Pending,
}

impl ParallelParquet {
    fn try_new(file: File, schema: SchemaRef) -> std::result::Result<Self, ParquetError> {
        let props = parquet_properties(&schema);
        // ArrowWriter lays out the file (schema conversion, the embedded Arrow schema);
        // the row groups are then written here.
        let (file, factory) =
            ArrowWriter::try_new(file, schema.clone(), Some(props))?.into_serialized_writer()?;
        let leaves = schema
            .fields()
            .iter()
            .map(|f| {
                let empty = arrow::array::new_empty_array(f.data_type());
                compute_leaves(f, &empty).map(|l| l.len())
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let columns = factory.create_column_writers(0)?;
        Ok(Self {
            file,
            factory,
            schema,
            leaves,
            columns,
            group: 0,
            group_rows: 0,
            pending: Pending::default(),
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> std::result::Result<(), ParquetError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let fields = batch.schema_ref().fields();
        if fields.len() != self.schema.fields().len()
            || fields
                .iter()
                .zip(self.schema.fields())
                .any(|(a, b)| a.data_type() != b.data_type())
        {
            return Err(ParquetError::General(format!(
                "a batch of columns {:?} does not fit the file's columns {:?}",
                fields.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
                self.schema
                    .fields()
                    .iter()
                    .map(|f| f.to_string())
                    .collect::<Vec<_>>()
            )));
        }
        if self.pending.push(batch) {
            self.encode_pending()?;
        }
        Ok(())
    }

    /// Encodes the pending rows, closing each row group as it fills.
    fn encode_pending(&mut self) -> std::result::Result<(), ParquetError> {
        let pending = self.pending.take();
        let mut block: Vec<RecordBatch> = Vec::new();
        for mut batch in pending {
            while batch.num_rows() > 0 {
                let room = ROW_GROUP_ROWS - self.group_rows;
                let take = room.min(batch.num_rows());
                block.push(batch.slice(0, take));
                batch = batch.slice(take, batch.num_rows() - take);
                self.group_rows += take;
                if self.group_rows == ROW_GROUP_ROWS {
                    self.encode(&std::mem::take(&mut block))?;
                    self.close_group()?;
                }
            }
        }
        self.encode(&block)
    }

    /// Encodes `block` into the current row group, one task per field.
    fn encode(&mut self, block: &[RecordBatch]) -> std::result::Result<(), ParquetError> {
        if block.is_empty() {
            return Ok(());
        }
        let mut per_field: Vec<(usize, &mut [ArrowColumnWriter])> =
            Vec::with_capacity(self.leaves.len());
        let mut rest: &mut [ArrowColumnWriter] = &mut self.columns;
        for (i, &n) in self.leaves.iter().enumerate() {
            let (these, tail) = rest.split_at_mut(n);
            per_field.push((i, these));
            rest = tail;
        }
        let schema = &self.schema;
        per_field.into_par_iter().try_for_each(|(i, writers)| {
            let field = schema.field(i);
            for batch in block {
                let leaves = compute_leaves(field, batch.column(i))?;
                for (w, leaf) in writers.iter_mut().zip(&leaves) {
                    w.write(leaf)?;
                }
            }
            Ok(())
        })
    }

    /// Finishes the current row group's columns (in parallel) and appends them to the file.
    fn close_group(&mut self) -> std::result::Result<(), ParquetError> {
        self.group += 1;
        let next = self.factory.create_column_writers(self.group)?;
        let columns = std::mem::replace(&mut self.columns, next);
        let chunks = columns
            .into_par_iter()
            .map(ArrowColumnWriter::close)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut group = self.file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut group)?;
        }
        group.close()?;
        self.group_rows = 0;
        Ok(())
    }

    fn close(mut self) -> std::result::Result<(), ParquetError> {
        self.encode_pending()?;
        if self.group_rows > 0 {
            self.close_group()?;
        }
        self.file.close()?;
        Ok(())
    }
}

/// Rows of one CSV piece encoded by one task.
const CSV_PIECE_ROWS: usize = 8192;

/// A CSV writer that formats pieces of the pending rows in parallel (number and date
/// formatting is the cost of a CSV output) and writes them in order. Each piece is
/// formatted by arrow's CSV writer with the same options, the first with the header, so
/// the bytes are those of one writer given every row.
struct ParallelCsv {
    out: BufWriter<File>,
    header_written: bool,
    pending: Pending,
}

impl ParallelCsv {
    fn new(file: File) -> Self {
        Self {
            out: BufWriter::with_capacity(1 << 20, file),
            header_written: false,
            pending: Pending::default(),
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> std::result::Result<(), ArrowError> {
        if self.pending.push(batch) {
            self.encode_pending()?;
        }
        Ok(())
    }

    fn encode_pending(&mut self) -> std::result::Result<(), ArrowError> {
        let mut pieces: Vec<RecordBatch> = Vec::new();
        for batch in self.pending.take() {
            if batch.num_rows() == 0 {
                // Still written: the first write of a CSV writes the header.
                pieces.push(batch);
                continue;
            }
            let mut start = 0;
            while start < batch.num_rows() {
                let len = CSV_PIECE_ROWS.min(batch.num_rows() - start);
                pieces.push(batch.slice(start, len));
                start += len;
            }
        }
        let header = !self.header_written;
        let encoded: Vec<Vec<u8>> = pieces
            .par_iter()
            .enumerate()
            .map(|(i, piece)| {
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(header && i == 0)
                    .build(Vec::new());
                w.write(piece)?;
                Ok(w.into_inner())
            })
            .collect::<std::result::Result<_, ArrowError>>()?;
        self.header_written |= !pieces.is_empty();
        for bytes in encoded {
            self.out.write_all(&bytes)?;
        }
        Ok(())
    }

    fn finish(mut self) -> std::result::Result<BufWriter<File>, ArrowError> {
        self.encode_pending()?;
        Ok(self.out)
    }
}

enum SinkWriter {
    Parquet(Box<ParallelParquet>),
    Csv(Box<ParallelCsv>),
}

/// An atomic table writer; the format follows the target's extension.
pub struct TableWriter {
    atomic: AtomicFile,
    writer: SinkWriter,
    rows: u64,
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("target", &self.atomic.target)
            .field("rows", &self.rows)
            .finish()
    }
}

impl TableWriter {
    /// Starts writing `schema` to `target` (`.parquet` or `.csv`).
    pub fn create(target: &Path, schema: SchemaRef) -> Result<Self> {
        let format = Format::from_path(target)?;
        let atomic = AtomicFile::create(target)?;
        let file = atomic.file()?;
        let writer = match format {
            Format::Parquet => {
                let w =
                    ParallelParquet::try_new(file, schema).map_err(|e| Error::ParquetWrite {
                        path: target.to_path_buf(),
                        source: e,
                    })?;
                SinkWriter::Parquet(Box::new(w))
            }
            Format::Csv => SinkWriter::Csv(Box::new(ParallelCsv::new(file))),
        };
        Ok(Self {
            atomic,
            writer,
            rows: 0,
        })
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let target = self.atomic.target.clone();
        match &mut self.writer {
            SinkWriter::Parquet(w) => w.write(batch).map_err(|e| Error::ParquetWrite {
                path: target,
                source: e,
            })?,
            SinkWriter::Csv(w) => w
                .write(batch)
                .map_err(|e| Error::arrow(format!("{}: writing csv", target.display()), e))?,
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Finishes the file and moves it into place.
    pub fn finish(self) -> Result<PathBuf> {
        let target = self.atomic.target.clone();
        match self.writer {
            SinkWriter::Parquet(w) => {
                w.close().map_err(|e| Error::ParquetWrite {
                    path: target.clone(),
                    source: e,
                })?;
            }
            SinkWriter::Csv(w) => {
                let mut inner = w
                    .finish()
                    .map_err(|e| Error::arrow(format!("{}: writing csv", target.display()), e))?;
                inner.flush().map_err(|e| Error::io(&target, "write", e))?;
            }
        }
        self.atomic.commit()
    }
}

/// Writes batches to `target` atomically and returns the number of rows.
pub fn write_batches(target: &Path, schema: SchemaRef, batches: &[RecordBatch]) -> Result<u64> {
    let mut w = TableWriter::create(target, schema)?;
    for b in batches {
        w.write(b)?;
    }
    let rows = w.rows();
    w.finish()?;
    Ok(rows)
}

/// Runs `produce` with a sink whose batches are encoded and written to `target` on a second
/// thread (so encoding overlaps computing); the file is committed only if both succeed.
/// Returns what `produce` returned and the rows written.
pub fn write_threaded<T>(
    target: &Path,
    schema: SchemaRef,
    produce: impl FnOnce(&mut dyn FnMut(RecordBatch) -> Result<()>) -> Result<T>,
) -> Result<(T, u64)> {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(4);
        let writer = scope.spawn(move || -> Result<TableWriter> {
            let mut w = TableWriter::create(target, schema)?;
            for b in rx {
                w.write(&b)?;
            }
            Ok(w)
        });
        let produced = {
            let tx = tx;
            let mut sink = |b: RecordBatch| {
                crate::wait::send(&tx, b)
                    .map_err(|_| Error::invalid(target, "*", "the output writer stopped", vec![]))
            };
            produce(&mut sink)
        };
        let w = crate::wait::join(writer).unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        let value = produced?;
        let rows = w.rows();
        w.finish()?;
        Ok((value, rows))
    })
}

/// Runs `iter` on a thread of its own, up to `depth` items ahead, while `consume` works
/// through them on the calling thread: reading and decoding the next input overlap the work
/// on the current one. When `consume` returns early the producer stops at its next item.
pub fn prefetched<T: Send, R>(
    iter: impl Iterator<Item = T> + Send,
    depth: usize,
    consume: impl FnOnce(&mut dyn Iterator<Item = T>) -> R,
) -> R {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<T>(depth.max(1));
        scope.spawn(move || {
            for item in iter {
                if tx.send(item).is_err() {
                    break;
                }
            }
        });
        consume(&mut crate::wait::iter(&rx))
    })
}

/// The latest-date snapshot beside a daily table: `user_features_daily.parquet` →
/// `user_features_daily.latest.parquet`, the rows of the table's last as_of_date only, so
/// the daily job (score the latest date) reads one date instead of the whole history. The
/// snapshot of a partition's part (`T/part-00001-of-00004.parquet`, see
/// [`crate::partition`]) is the same part of the snapshot folder of `T`.
pub fn latest_snapshot_path(table: &Path) -> PathBuf {
    // A partition's part `T/part-i-of-N.parquet` has its snapshot in the snapshot folder
    // of `T`, so the snapshot folder is as whole as the table's.
    if let Some(name) = table.file_name()
        && let Some(folder) = table.parent()
        && crate::partition::part_of(&name.to_string_lossy()).is_some()
        && !folder.as_os_str().is_empty()
    {
        return latest_snapshot_path(folder).join(name);
    }
    let stem = table
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    table.with_file_name(format!("{stem}.latest.parquet"))
}

/// The snapshot of `table` for `day`, when one is there and can stand in for the table's
/// rows of that day: Parquet, written after the table (so by the same run or a later one;
/// a run that died between the two leaves an older snapshot, which is ignored), holding
/// exactly that date (by its statistics).
pub fn fresh_snapshot(table: &Path, date_column: &str, day: i32) -> Option<PathBuf> {
    let snap = latest_snapshot_path(table);
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if Format::from_path(table).ok()? != Format::Parquet || modified(&snap)? < modified(table)? {
        return None;
    }
    (parquet_date_range(&snap, date_column)? == (day, day)).then_some(snap)
}

/// Writes a value as pretty JSON, atomically.
pub fn write_json<T: serde::Serialize>(target: &Path, value: &T) -> Result<PathBuf> {
    let atomic = AtomicFile::create(target)?;
    let mut w = BufWriter::new(atomic.file()?);
    serde_json::to_writer_pretty(&mut w, value).map_err(|e| Error::Json {
        path: target.to_path_buf(),
        source: e,
    })?;
    w.write_all(b"\n")
        .and_then(|_| w.flush())
        .map_err(|e| Error::io(target, "write", e))?;
    drop(w);
    atomic.commit()
}
