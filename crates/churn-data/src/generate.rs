//! The synthetic e-learning simulator.
//!
//! Each user has a latent engagement that drives the daily activity probability, the
//! sessions per active day and the chance of watching, quizzing and enrolling; a churn day
//! (more likely for low engagement, less for paid users) after which activity stops; monthly
//! payments for paid users, sometimes failing; rare support tickets.
//!
//! Every user draws from its own ChaCha8 stream (seed, user index), so the output is the
//! same for a seed whatever the chunk size or thread count. Users are produced in chunks
//! and written batch by batch, so memory stays bounded at any user count.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{Datelike, NaiveDate};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Normal};
use rayon::prelude::*;

use crate::config::GenerateConfig;
use crate::io::TableWriter;
use crate::schema::event_code::{
    COURSE_ENROLL, LOGIN, PAYMENT_FAILED, PAYMENT_SUCCESS, QUIZ_ATTEMPT, SUPPORT_TICKET,
    VIDEO_WATCH,
};
use crate::schema::{self, events, users};
use crate::{Error, Result};

/// Countries drawn uniformly.
pub const COUNTRIES: [&str; 6] = ["IN", "US", "UK", "CA", "AU", "SG"];
/// Marketing sources drawn uniformly.
pub const MARKETING_SOURCES: [&str; 5] = ["organic", "referral", "ads", "youtube", "community"];
/// The course pool.
pub const COURSES: [&str; 7] = ["C101", "C102", "C103", "C104", "C105", "C106", "C107"];

const MICROS_PER_DAY: i64 = 86_400_000_000;
const PAYMENT_FAIL_P: f64 = 0.07;
const SUPPORT_TICKET_P: f64 = 0.005;
const ENROLL_P: f64 = 0.05;
const USERS_PER_TASK: usize = 512;

/// One simulated user, with the latent variables a test may want to check against.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedUser {
    /// 1-based user id.
    pub user_id: i64,
    /// Signup date.
    pub signup_date: NaiveDate,
    /// Whether the user is on the paid plan.
    pub is_paid: bool,
    /// Index into [`COUNTRIES`].
    pub country: u8,
    /// Index into [`MARKETING_SOURCES`].
    pub marketing_source: u8,
    /// Latent engagement in [0, 1].
    pub engagement: f64,
    /// Day index (from the start date) from which the user is gone, if they churn.
    pub churn_day: Option<u32>,
}

/// Events of one or more users in columnar form, event ids not yet assigned.
#[derive(Debug, Default, Clone)]
pub struct EventColumns {
    /// User id of each event.
    pub user_id: Vec<i64>,
    /// Microseconds since the epoch.
    pub time: Vec<i64>,
    /// Index into [`schema::EVENT_TYPES`].
    pub event_type: Vec<u8>,
    /// Index into [`COURSES`], or [`NO_COURSE`].
    pub course: Vec<u8>,
    /// Watch minutes, quiz score or payment amount, by event type; NaN when none.
    pub value: Vec<f64>,
}

/// Course index of events without a course.
pub const NO_COURSE: u8 = u8::MAX;

/// One event of a day before it is sorted into place.
#[derive(Debug, Clone, Copy)]
struct DayEvent {
    time: i64,
    kind: u8,
    course: u8,
    value: f64,
}

impl EventColumns {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.time.len()
    }
    /// True when there are no events.
    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }
    /// Sorts one day's events by time and appends them.
    fn push_day(&mut self, user: i64, day: &mut [DayEvent]) {
        day.sort_unstable_by_key(|e| (e.time, e.kind));
        for e in day.iter() {
            self.user_id.push(user);
            self.time.push(e.time);
            self.event_type.push(e.kind);
            self.course.push(e.course);
            self.value.push(e.value);
        }
    }
    fn values_of(&self, kinds: &[u8]) -> Float64Array {
        self.event_type
            .iter()
            .zip(&self.value)
            .map(|(k, v)| kinds.contains(k).then_some(*v))
            .collect()
    }
}

/// The simulator for one configuration.
#[derive(Debug, Clone)]
pub struct Simulator {
    config: GenerateConfig,
    start_micros: i64,
    start_days: i32,
    drift_day: Option<u32>,
    engagement: Beta<f64>,
}

/// Counts of a finished generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct GenerateSummary {
    /// Users written.
    pub users: u64,
    /// Events written.
    pub events: u64,
}

impl Simulator {
    /// Checks the configuration and builds a simulator.
    pub fn new(config: &GenerateConfig) -> Result<Self> {
        let start_days = crate::days::day_of(config.start_date);
        let drift_day = config.drift.as_ref().map(|d| {
            let delta = (d.from_date - config.start_date).num_days();
            delta.clamp(0, i64::from(u32::MAX)) as u32
        });
        Ok(Self {
            config: config.clone(),
            start_micros: i64::from(start_days) * MICROS_PER_DAY,
            start_days,
            drift_day,
            engagement: Beta::new(2.0, 2.5).map_err(|e| Error::Config {
                source_name: "generate".into(),
                message: e.to_string(),
            })?,
        })
    }

    fn rng(&self, index: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(index);
        rng
    }

    /// Simulates user `index` (0-based): its attributes and its events, in time order.
    pub fn user(&self, index: u64, out: &mut EventColumns) -> SimulatedUser {
        let c = &self.config;
        let mut rng = self.rng(index);
        let signup_span = c.days.div_ceil(3).max(30);
        let signup_offset = rng.random_range(0..signup_span);
        let signup_date = c.start_date - chrono::Days::new(u64::from(signup_offset));
        let is_paid = rng.random_bool(c.paid_ratio);
        let country = rng.random_range(0..COUNTRIES.len()) as u8;
        let marketing_source = rng.random_range(0..MARKETING_SOURCES.len()) as u8;
        let engagement: f64 = self.engagement.sample(&mut rng);
        let plan_factor = if is_paid { 0.75 } else { 1.0 };
        let p_churn =
            (c.churn_base_rate * plan_factor * (0.4 + 1.4 * (1.0 - engagement).powf(1.6)))
                .clamp(0.0, 0.95);
        let churn_day = rng
            .random_bool(p_churn)
            .then(|| rng.random_range(c.days / 4..c.days));
        let user = SimulatedUser {
            user_id: index as i64 + 1,
            signup_date,
            is_paid,
            country,
            marketing_source,
            engagement,
            churn_day,
        };
        self.events(&user, &mut rng, out);
        user
    }

    fn events(&self, u: &SimulatedUser, rng: &mut ChaCha8Rng, out: &mut EventColumns) {
        let end = u.churn_day.unwrap_or(self.config.days);
        let drift = self.config.drift.as_ref();
        let mut paid_month: Option<(i32, u32)> = None;
        let mut day: Vec<DayEvent> = Vec::with_capacity(16);
        for d in 0..end {
            let drifted = self.drift_day.is_some_and(|from| d >= from);
            let eng = match (drifted, drift) {
                (true, Some(dc)) => u.engagement * dc.engagement_factor,
                _ => u.engagement,
            };
            if !rng.random_bool((0.15 + 0.8 * eng).clamp(0.0, 1.0)) {
                continue;
            }
            let day_micros = self.start_micros + i64::from(d) * MICROS_PER_DAY;
            day.clear();
            let mut push = |rng: &mut ChaCha8Rng, kind: u8, course: u8, value: f64| {
                let time = day_micros + rng.random_range(0..MICROS_PER_DAY);
                day.push(DayEvent {
                    time,
                    kind,
                    course,
                    value,
                });
            };
            let sessions = rng.random_range(1..=3u32);
            for _ in 0..sessions {
                push(rng, LOGIN, NO_COURSE, f64::NAN);
                if rng.random_bool(0.5 + 0.4 * eng) {
                    let minutes = clip(normal(rng, 20.0 + 40.0 * eng, 10.0), 2.0, 180.0);
                    let course = rng.random_range(0..COURSES.len()) as u8;
                    push(rng, VIDEO_WATCH, course, round1(minutes));
                }
                if rng.random_bool(0.25 + 0.35 * eng) {
                    let score = clip(normal(rng, 50.0 + 40.0 * eng, 15.0), 0.0, 100.0);
                    let course = rng.random_range(0..COURSES.len()) as u8;
                    push(rng, QUIZ_ATTEMPT, course, round1(score));
                }
                if rng.random_bool(ENROLL_P) {
                    let course = rng.random_range(0..COURSES.len()) as u8;
                    push(rng, COURSE_ENROLL, course, f64::NAN);
                }
            }
            if u.is_paid {
                let date = self.config.start_date + chrono::Days::new(u64::from(d));
                let month = (date.year(), date.month());
                if date.day() <= 3 && paid_month != Some(month) {
                    let fail_factor = match (drifted, drift) {
                        (true, Some(dc)) => dc.payment_fail_factor,
                        _ => 1.0,
                    };
                    let failed = rng.random_bool((PAYMENT_FAIL_P * fail_factor).clamp(0.0, 1.0));
                    let amount =
                        (clip(normal(rng, 499.0, 80.0), 199.0, 999.0) * 100.0).round() / 100.0;
                    if failed {
                        push(rng, PAYMENT_FAILED, NO_COURSE, amount);
                    } else {
                        push(rng, PAYMENT_SUCCESS, NO_COURSE, amount);
                        paid_month = Some(month);
                    }
                }
            }
            if rng.random_bool(SUPPORT_TICKET_P) {
                push(rng, SUPPORT_TICKET, NO_COURSE, f64::NAN);
            }
            out.push_day(u.user_id, &mut day);
        }
    }

    /// Simulates users `range` and returns their users and events batches (event ids start
    /// at `first_event_id`).
    pub fn chunk(
        &self,
        range: std::ops::Range<u64>,
        first_event_id: i64,
    ) -> Result<(RecordBatch, RecordBatch)> {
        let parts = self.chunk_parts(range, first_event_id)?;
        let users: Vec<RecordBatch> = parts.iter().map(|p| p.0.clone()).collect();
        let events: Vec<RecordBatch> = parts.into_iter().map(|p| p.1).collect();
        let concat = |schema: SchemaRef, b: &[RecordBatch]| {
            arrow::compute::concat_batches(&schema, b)
                .map_err(|e| Error::arrow("concatenating generated batches", e))
        };
        Ok((
            concat(generated_users_schema(), &users)?,
            concat(generated_events_schema(), &events)?,
        ))
    }

    /// Simulates users `range` in parallel tasks of a few hundred users and returns each
    /// task's users and events batches, in user order.
    fn chunk_parts(
        &self,
        range: std::ops::Range<u64>,
        first_event_id: i64,
    ) -> Result<Vec<(RecordBatch, RecordBatch)>> {
        let tasks: Vec<std::ops::Range<u64>> = (range.start..range.end)
            .step_by(USERS_PER_TASK)
            .map(|s| s..(s + USERS_PER_TASK as u64).min(range.end))
            .collect();
        let parts: Vec<(Vec<SimulatedUser>, EventColumns)> = tasks
            .into_par_iter()
            .map(|r| {
                let mut ev = EventColumns::default();
                let us = r.map(|i| self.user(i, &mut ev)).collect();
                (us, ev)
            })
            .collect();
        let mut first_ids = Vec::with_capacity(parts.len());
        let mut next = first_event_id;
        for (_, ev) in &parts {
            first_ids.push(next);
            next += ev.len() as i64;
        }
        parts
            .into_par_iter()
            .zip(first_ids)
            .map(|((us, ev), first)| Ok((self.users_batch(&us)?, self.events_batch(ev, first)?)))
            .collect()
    }

    /// The users batch of simulated users.
    pub fn users_batch(&self, us: &[SimulatedUser]) -> Result<RecordBatch> {
        let epoch_days =
            |d: NaiveDate| self.start_days - (self.config.start_date - d).num_days() as i32;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(us.iter().map(|u| u.user_id))),
            Arc::new(Date32Array::from_iter_values(
                us.iter().map(|u| epoch_days(u.signup_date)),
            )),
            Arc::new(StringArray::from_iter_values(us.iter().map(|u| {
                if u.is_paid {
                    schema::PLAN_PAID
                } else {
                    schema::PLAN_FREE
                }
            }))),
            Arc::new(Int32Array::from_iter_values(
                us.iter().map(|u| i32::from(u.is_paid)),
            )),
            Arc::new(StringArray::from_iter_values(
                us.iter().map(|u| COUNTRIES[u.country as usize]),
            )),
            Arc::new(StringArray::from_iter_values(
                us.iter()
                    .map(|u| MARKETING_SOURCES[u.marketing_source as usize]),
            )),
            Arc::new(Float64Array::from_iter_values(
                us.iter()
                    .map(|u| (u.engagement * 10_000.0).round() / 10_000.0),
            )),
        ];
        RecordBatch::try_new(generated_users_schema(), cols)
            .map_err(|e| Error::arrow("building users batch", e))
    }

    /// The events batch of simulated events; ids are consecutive from `first_event_id`.
    pub fn events_batch(&self, mut ev: EventColumns, first_event_id: i64) -> Result<RecordBatch> {
        let n = ev.len() as i64;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(
                first_event_id..first_event_id + n,
            )),
            Arc::new(Int64Array::from(std::mem::take(&mut ev.user_id))),
            Arc::new(TimestampMicrosecondArray::from(std::mem::take(
                &mut ev.time,
            ))),
            Arc::new(StringArray::from_iter_values(
                ev.event_type
                    .iter()
                    .map(|&t| schema::EVENT_TYPES[t as usize]),
            )),
            Arc::new(StringArray::from_iter(
                ev.course.iter().map(|&c| COURSES.get(c as usize).copied()),
            )),
            Arc::new(ev.values_of(&[VIDEO_WATCH])),
            Arc::new(ev.values_of(&[QUIZ_ATTEMPT])),
            Arc::new(ev.values_of(&[PAYMENT_SUCCESS, PAYMENT_FAILED])),
        ];
        RecordBatch::try_new(generated_events_schema(), cols)
            .map_err(|e| Error::arrow("building events batch", e))
    }

    /// Runs the whole simulation, writing users and events to the given files (format by
    /// extension) atomically; `progress` is called with the number of users done.
    pub fn write(
        &self,
        users_path: &Path,
        events_path: &Path,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<GenerateSummary> {
        let mut users_out = TableWriter::create(users_path, generated_users_schema())?;
        let mut events_out = TableWriter::create(events_path, generated_events_schema())?;
        let n = self.config.n_users;
        let chunk = self.config.chunk_users as u64;
        // Generation of chunk k+1 overlaps the writing of chunk k.
        std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) =
                std::sync::mpsc::sync_channel::<Result<(Vec<(RecordBatch, RecordBatch)>, u64)>>(1);
            scope.spawn(move || {
                let (mut start, mut next_id) = (0, 1i64);
                while start < n {
                    let end = (start + chunk).min(n);
                    let item = self.chunk_parts(start..end, next_id).map(|parts| {
                        next_id += parts.iter().map(|p| p.1.num_rows() as i64).sum::<i64>();
                        (parts, end)
                    });
                    let failed = item.is_err();
                    if tx.send(item).is_err() || failed {
                        return;
                    }
                    start = end;
                }
            });
            for item in crate::wait::iter(&rx) {
                let (parts, done) = item?;
                for (users_batch, events_batch) in &parts {
                    users_out.write(users_batch)?;
                    events_out.write(events_batch)?;
                }
                progress(done);
            }
            Ok(())
        })?;
        let summary = GenerateSummary {
            users: users_out.rows(),
            events: events_out.rows(),
        };
        users_out.finish()?;
        events_out.finish()?;
        Ok(summary)
    }
}

/// Schema of the generated users table (user_id as a 64-bit integer).
pub fn generated_users_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(users::USER_ID, DataType::Int64, false),
        Field::new(users::SIGNUP_DATE, DataType::Date32, false),
        Field::new(users::PLAN, DataType::Utf8, false),
        Field::new(users::IS_PAID, DataType::Int32, false),
        Field::new(users::COUNTRY, DataType::Utf8, false),
        Field::new(users::MARKETING_SOURCE, DataType::Utf8, false),
        Field::new(users::ENGAGEMENT_SCORE, DataType::Float64, false),
    ]))
}

/// Schema of the generated events table.
pub fn generated_events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(events::EVENT_ID, DataType::Int64, false),
        Field::new(events::USER_ID, DataType::Int64, false),
        Field::new(
            events::EVENT_TIME,
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new(events::EVENT_TYPE, DataType::Utf8, false),
        Field::new(events::COURSE_ID, DataType::Utf8, true),
        Field::new(events::WATCH_MINUTES, DataType::Float64, true),
        Field::new(events::QUIZ_SCORE, DataType::Float64, true),
        Field::new(events::AMOUNT, DataType::Float64, true),
    ]))
}

fn normal(rng: &mut ChaCha8Rng, mean: f64, sd: f64) -> f64 {
    Normal::new(mean, sd).map(|n| n.sample(rng)).unwrap_or(mean)
}

fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    x.clamp(lo, hi)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
