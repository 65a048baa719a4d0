//! The tables churn reads and writes: column names, Arrow schemas and allowed values,
//! defined once here and used by every other crate.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Columns of the users table.
pub mod users {
    /// User identifier, kept verbatim (integers and strings are both read as text).
    pub const USER_ID: &str = "user_id";
    /// Date the user signed up.
    pub const SIGNUP_DATE: &str = "signup_date";
    /// `free` or `paid`.
    pub const PLAN: &str = "plan";
    /// 1 for paying users, 0 otherwise; must agree with `plan`.
    pub const IS_PAID: &str = "is_paid";
    /// Country code.
    pub const COUNTRY: &str = "country";
    /// Acquisition channel.
    pub const MARKETING_SOURCE: &str = "marketing_source";
    /// The simulator's latent engagement in [0, 1]; never a model feature.
    pub const ENGAGEMENT_SCORE: &str = "engagement_score";
}

/// Columns of the events table.
pub mod events {
    /// Unique event identifier.
    pub const EVENT_ID: &str = "event_id";
    /// The user the event belongs to.
    pub const USER_ID: &str = "user_id";
    /// When it happened (UTC, naive).
    pub const EVENT_TIME: &str = "event_time";
    /// One of [`super::EVENT_TYPES`] (or a type allowed in config).
    pub const EVENT_TYPE: &str = "event_type";
    /// Course of an enroll, watch or quiz.
    pub const COURSE_ID: &str = "course_id";
    /// Minutes watched (video_watch).
    pub const WATCH_MINUTES: &str = "watch_minutes";
    /// Quiz score in [0, 100] (quiz_attempt).
    pub const QUIZ_SCORE: &str = "quiz_score";
    /// Payment amount (payment_success / payment_failed).
    pub const AMOUNT: &str = "amount";
}

/// Columns of the user-day table written by `prepare`.
pub mod user_daily {
    pub use super::users::{COUNTRY, IS_PAID, MARKETING_SOURCE, PLAN, SIGNUP_DATE, USER_ID};
    /// The calendar day the row describes.
    pub const AS_OF_DATE: &str = "as_of_date";
    /// Days from signup to `as_of_date`.
    pub const DAYS_SINCE_SIGNUP: &str = "days_since_signup";
    /// 1 when the user had at least one event that day.
    pub const IS_ACTIVE_DAY: &str = "is_active_day";
    /// Events of any type that day.
    pub const TOTAL_EVENTS: &str = "total_events";
    /// Logins that day.
    pub const LOGINS_COUNT: &str = "logins_count";
    /// Course enrolments that day.
    pub const ENROLL_COUNT: &str = "enroll_count";
    /// Minutes watched that day (video_watch only).
    pub const WATCH_MINUTES_SUM: &str = "watch_minutes_sum";
    /// Quiz attempts that day.
    pub const QUIZ_ATTEMPTS_COUNT: &str = "quiz_attempts_count";
    /// Mean quiz score that day (null when no quiz with a score).
    pub const QUIZ_AVG_SCORE: &str = "quiz_avg_score";
    /// Successful payments that day.
    pub const PAYMENT_SUCCESS_COUNT: &str = "payment_success_count";
    /// Failed payments that day.
    pub const PAYMENT_FAILED_COUNT: &str = "payment_failed_count";
    /// Support tickets that day.
    pub const SUPPORT_TICKET_COUNT: &str = "support_ticket_count";
}

/// Event type: a login.
pub const LOGIN: &str = "login";
/// Event type: enrolment in a course.
pub const COURSE_ENROLL: &str = "course_enroll";
/// Event type: a video watched.
pub const VIDEO_WATCH: &str = "video_watch";
/// Event type: a quiz attempt.
pub const QUIZ_ATTEMPT: &str = "quiz_attempt";
/// Event type: a successful payment.
pub const PAYMENT_SUCCESS: &str = "payment_success";
/// Event type: a failed payment.
pub const PAYMENT_FAILED: &str = "payment_failed";
/// Event type: a support ticket.
pub const SUPPORT_TICKET: &str = "support_ticket";

/// The event types of the contract, in a fixed order.
pub const EVENT_TYPES: [&str; 7] = [
    LOGIN,
    COURSE_ENROLL,
    VIDEO_WATCH,
    QUIZ_ATTEMPT,
    PAYMENT_SUCCESS,
    PAYMENT_FAILED,
    SUPPORT_TICKET,
];

/// Indexes of the event types in [`EVENT_TYPES`], for code that counts types in arrays.
pub mod event_code {
    /// `login`
    pub const LOGIN: u8 = 0;
    /// `course_enroll`
    pub const COURSE_ENROLL: u8 = 1;
    /// `video_watch`
    pub const VIDEO_WATCH: u8 = 2;
    /// `quiz_attempt`
    pub const QUIZ_ATTEMPT: u8 = 3;
    /// `payment_success`
    pub const PAYMENT_SUCCESS: u8 = 4;
    /// `payment_failed`
    pub const PAYMENT_FAILED: u8 = 5;
    /// `support_ticket`
    pub const SUPPORT_TICKET: u8 = 6;
}

/// Allowed plans.
pub const PLANS: [&str; 2] = ["free", "paid"];
/// The paid plan.
pub const PLAN_PAID: &str = "paid";
/// The free plan.
pub const PLAN_FREE: &str = "free";

/// What a column must be and whether it may be absent.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    /// Column name.
    pub name: &'static str,
    /// Canonical Arrow type after reading.
    pub data_type: fn() -> DataType,
    /// Whether a file without the column is rejected.
    pub required: bool,
}

fn utf8() -> DataType {
    DataType::Utf8
}
fn date32() -> DataType {
    DataType::Date32
}
fn int32() -> DataType {
    DataType::Int32
}
fn int64() -> DataType {
    DataType::Int64
}
fn float64() -> DataType {
    DataType::Float64
}
fn boolean() -> DataType {
    DataType::Boolean
}
/// The canonical type of event timestamps.
pub fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

const fn col(name: &'static str, data_type: fn() -> DataType, required: bool) -> ColumnSpec {
    ColumnSpec {
        name,
        data_type,
        required,
    }
}

/// The users table contract.
pub const USERS_COLUMNS: [ColumnSpec; 7] = [
    col(users::USER_ID, utf8, true),
    col(users::SIGNUP_DATE, date32, true),
    col(users::PLAN, utf8, true),
    col(users::IS_PAID, int32, true),
    col(users::COUNTRY, utf8, false),
    col(users::MARKETING_SOURCE, utf8, false),
    col(users::ENGAGEMENT_SCORE, float64, false),
];

/// The events table contract.
pub const EVENTS_COLUMNS: [ColumnSpec; 8] = [
    col(events::EVENT_ID, int64, true),
    col(events::USER_ID, utf8, true),
    col(events::EVENT_TIME, timestamp, true),
    col(events::EVENT_TYPE, utf8, true),
    col(events::COURSE_ID, utf8, false),
    col(events::WATCH_MINUTES, float64, false),
    col(events::QUIZ_SCORE, float64, false),
    col(events::AMOUNT, float64, false),
];

/// The user-day table contract (all columns required).
pub const USER_DAILY_COLUMNS: [ColumnSpec; 18] = [
    col(user_daily::USER_ID, utf8, true),
    col(user_daily::AS_OF_DATE, date32, true),
    col(user_daily::SIGNUP_DATE, date32, true),
    col(user_daily::DAYS_SINCE_SIGNUP, int32, true),
    col(user_daily::PLAN, utf8, true),
    col(user_daily::IS_PAID, int32, true),
    col(user_daily::COUNTRY, utf8, true),
    col(user_daily::MARKETING_SOURCE, utf8, true),
    col(user_daily::IS_ACTIVE_DAY, int32, true),
    col(user_daily::TOTAL_EVENTS, int32, true),
    col(user_daily::LOGINS_COUNT, int32, true),
    col(user_daily::ENROLL_COUNT, int32, true),
    col(user_daily::WATCH_MINUTES_SUM, float64, true),
    col(user_daily::QUIZ_ATTEMPTS_COUNT, int32, true),
    col(user_daily::QUIZ_AVG_SCORE, float64, true),
    col(user_daily::PAYMENT_SUCCESS_COUNT, int32, true),
    col(user_daily::PAYMENT_FAILED_COUNT, int32, true),
    col(user_daily::SUPPORT_TICKET_COUNT, int32, true),
];

/// Builds the canonical Arrow schema of a contract (every column nullable).
pub fn schema_of(columns: &[ColumnSpec]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c.name, (c.data_type)(), true))
            .collect::<Vec<_>>(),
    ))
}

/// Canonical schema of the users table.
pub fn users_schema() -> SchemaRef {
    schema_of(&USERS_COLUMNS)
}

/// Canonical schema of the events table.
pub fn events_schema() -> SchemaRef {
    schema_of(&EVENTS_COLUMNS)
}

/// Canonical schema of the user-day table.
pub fn user_daily_schema() -> SchemaRef {
    schema_of(&USER_DAILY_COLUMNS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_index_the_event_types() {
        use event_code::*;
        let pairs = [
            (LOGIN, super::LOGIN),
            (COURSE_ENROLL, super::COURSE_ENROLL),
            (VIDEO_WATCH, super::VIDEO_WATCH),
            (QUIZ_ATTEMPT, super::QUIZ_ATTEMPT),
            (PAYMENT_SUCCESS, super::PAYMENT_SUCCESS),
            (PAYMENT_FAILED, super::PAYMENT_FAILED),
            (SUPPORT_TICKET, super::SUPPORT_TICKET),
        ];
        for (code, name) in pairs {
            assert_eq!(EVENT_TYPES[code as usize], name);
        }
    }

    #[test]
    fn user_daily_schema_lists_the_design_columns_in_order() {
        let schema = user_daily_schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names[0], "user_id");
        assert_eq!(names[1], "as_of_date");
        assert_eq!(names.last(), Some(&"support_ticket_count"));
        assert_eq!(names.len(), 18);
    }
}

/// Columns added by the features stage.
pub mod features {
    /// Days since the last active day (0 on an active day; days since signup before any).
    pub const DAYS_SINCE_LAST_ACTIVITY: &str = "days_since_last_activity";
    /// Window sum of `is_active_day`.
    pub const ACTIVE_DAYS: &str = "active_days";
    /// Window sum of `total_events`.
    pub const EVENTS: &str = "events";
    /// Window sum of `logins_count`.
    pub const LOGINS: &str = "logins";
    /// Window sum of `enroll_count`.
    pub const ENROLL: &str = "enroll";
    /// Window sum of `watch_minutes_sum`.
    pub const WATCH_MINUTES: &str = "watch_minutes";
    /// Window sum of `quiz_attempts_count`.
    pub const QUIZ_ATTEMPTS: &str = "quiz_attempts";
    /// Window sum of `payment_success_count`.
    pub const PAYMENT_SUCCESS: &str = "payment_success";
    /// Window sum of `payment_failed_count`.
    pub const PAYMENT_FAILED: &str = "payment_failed";
    /// Window sum of `support_ticket_count`.
    pub const SUPPORT_TICKET: &str = "support_ticket";
    /// Window mean of the daily quiz averages.
    pub const QUIZ_AVG_SCORE: &str = "quiz_avg_score";
    /// failed / (failed + success) payments over a window.
    pub const PAYMENT_FAIL_RATE: &str = "payment_fail_rate";

    /// The column name of a windowed feature, e.g. `windowed("logins", 7)` = `logins_7d`.
    pub fn windowed(base: &str, window: u32) -> String {
        format!("{base}_{window}d")
    }
}

/// The columns the labels stage adds, with their canonical types.
pub const LABEL_COLUMNS: [ColumnSpec; 3] = [
    col(labels::FUTURE_ACTIVE_DAYS, int32, true),
    col(labels::CHURN_LABEL, int32, false),
    col(labels::ELIGIBLE, boolean, true),
];

/// Columns added by the labels stage.
pub mod labels {
    /// Active days in (as_of_date, as_of_date + window].
    pub const FUTURE_ACTIVE_DAYS: &str = "future_active_days";
    /// 1 when `future_active_days` is 0.
    pub const CHURN_LABEL: &str = "churn_label";
    /// Whether the user-day may enter training and scoring.
    pub const ELIGIBLE: &str = "eligible";
}

/// Columns of the scoring outputs (`churn_predictions_<date>`, `churn_top_<K>_<date>`).
pub mod predictions {
    /// Calibrated probability of churn.
    pub const CHURN_RISK: &str = "churn_risk";
    /// 1 for the highest risk of the date; ties broken by user_id.
    pub const RISK_RANK: &str = "risk_rank";
    /// Registered model name.
    pub const MODEL_NAME: &str = "model_name";
    /// Registered model version.
    pub const MODEL_VERSION: &str = "model_version";
    /// When the rows were scored (the caller's clock).
    pub const SCORED_AT: &str = "scored_at";
    /// Classification runs: risk at or above the threshold.
    pub const PREDICTED_LABEL: &str = "predicted_label";
    /// Regression runs: the model's raw output.
    pub const PREDICTED_VALUE: &str = "predicted_value";
    /// Anomaly runs: score at or above the threshold.
    pub const ANOMALY_FLAG: &str = "anomaly_flag";
    /// Columns an input to scoring may not carry (it would be an already-scored table).
    pub const FORBIDDEN_INPUT: [&str; 5] = [
        CHURN_RISK,
        RISK_RANK,
        "prediction",
        PREDICTED_LABEL,
        PREDICTED_VALUE,
    ];

    /// `reason_1`, `reason_2`, ...
    pub fn reason(i: usize) -> String {
        format!("reason_{i}")
    }
}
