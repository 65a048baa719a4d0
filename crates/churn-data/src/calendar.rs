//! The calendar days events are counted in: UTC, a fixed UTC offset, or a time zone of the
//! IANA database (`America/New_York`), daylight saving time included.
//!
//! A [`DayCalendar`] is a sorted list of instants at which the offset from UTC changes,
//! built once from the system's time-zone database (`/usr/share/zoneinfo`, or the folder
//! named by `TZDIR`) for 1900–2200; a day is then `floor((t + offset(t)) / 1 day)`. UTC and
//! fixed offsets have no changes. [`DayCursor`] remembers the span of the last lookup, so
//! the events of a user, in time order, cost two comparisons each.
//!
//! One rule differs from a wall clock: where clocks go back across midnight
//! (`America/Santiago` in April goes from 00:00 back to 23:00), the repeated hour belongs to
//! the day that has begun, not to the day before. Days never go backwards in time, so the
//! first and last event times give the first and last days.
//!
//! ```
//! use churn_data::calendar::DayCalendar;
//!
//! // 2025-07-01 04:30 UTC is 00:30 in New York (summer time, UTC-4)...
//! let t = 1_751_344_200_000_000; // microseconds since the epoch
//! let ny = DayCalendar::parse("America/New_York").unwrap();
//! assert_eq!(churn_data::days::display(ny.day(t)), "2025-07-01");
//! // ...but 23:30 the day before at a fixed UTC-5.
//! let fixed = DayCalendar::parse("-05:00").unwrap();
//! assert_eq!(churn_data::days::display(fixed.day(t)), "2025-06-30");
//! ```

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// Microseconds in a day.
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The day (since 1970-01-01) of an instant `micros` after the epoch (UTC), on a clock
/// `offset` microseconds ahead of UTC.
pub fn day_at_offset(micros: i64, offset: i64) -> i64 {
    micros.saturating_add(offset).div_euclid(MICROS_PER_DAY)
}

/// The calendar days of UTC, a fixed offset or a time zone (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCalendar {
    /// What the calendar was made from, for messages: `UTC`, `+05:30`, `Europe/Berlin`.
    name: String,
    /// Instants (microseconds since the epoch) from which `offsets[i + 1]` applies, ascending.
    changes: Vec<i64>,
    /// Offsets from UTC in microseconds: `offsets[0]` before the first change.
    offsets: Vec<i64>,
}

impl Default for DayCalendar {
    fn default() -> Self {
        Self::utc()
    }
}

impl DayCalendar {
    /// UTC days.
    pub fn utc() -> Self {
        Self::fixed("UTC", 0)
    }

    fn fixed(name: &str, offset: i64) -> Self {
        Self {
            name: name.to_string(),
            changes: Vec::new(),
            offsets: vec![offset],
        }
    }

    /// A calendar from text: empty, `UTC` or `Z` for UTC days; a fixed offset `±HH:MM`
    /// within ±14:00; or a time-zone name of the IANA database (`Asia/Kolkata`). The error
    /// says which forms are accepted and, for a name, where it was looked up.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text.eq_ignore_ascii_case("z") || text.eq_ignore_ascii_case("utc") {
            return Ok(Self::utc());
        }
        if let Some(sign) = text.strip_prefix(['+', '-']).map(|_| &text[..1]) {
            return fixed_offset(&text[1..])
                .map(|micros| Self::fixed(text, if sign == "-" { -micros } else { micros }))
                .ok_or_else(|| {
                    format!(
                        "must be a UTC offset such as +05:30 or -08:00 within ±14:00, or a \
                         time-zone name such as America/New_York (got {text:?})"
                    )
                });
        }
        let zone = TimeZone::get(text).map_err(|e| {
            format!(
                "must be a UTC offset such as +05:30 or a time-zone name of the IANA database \
                 such as America/New_York (got {text:?}: {e}; names are looked up in the \
                 system's time-zone database, /usr/share/zoneinfo or the folder TZDIR names)"
            )
        })?;
        Ok(Self::zone(text, &zone))
    }

    /// The offsets of `zone` from 1900 to 2200, each change that takes clocks back across
    /// midnight delayed until the clock is back at that midnight (the module's rule).
    fn zone(name: &str, zone: &TimeZone) -> Self {
        let micros = |t: Timestamp| t.as_microsecond();
        let start = Timestamp::from_second(-2_208_988_800).expect("1900-01-01 is a timestamp");
        let end = Timestamp::from_second(7_258_118_400).expect("2200-01-01 is a timestamp");
        let mut offsets = vec![i64::from(zone.to_offset(start).seconds()) * 1_000_000];
        let mut changes = Vec::new();
        for t in zone.following(start) {
            if t.timestamp() >= end {
                break;
            }
            let (at, before) = (micros(t.timestamp()), *offsets.last().expect("one offset"));
            let after = i64::from(t.offset().seconds()) * 1_000_000;
            // Past the last midnight of the old clock at the change, by `since`; a jump back
            // of more than that would put the following instants on the day before.
            let since = (at + before).rem_euclid(MICROS_PER_DAY);
            let back = before - after;
            let from = if back > since { at + back - since } else { at };
            changes.push(from);
            offsets.push(after);
        }
        Self {
            name: name.to_string(),
            changes,
            offsets,
        }
    }

    /// What the calendar was made from: `UTC`, the offset or the zone's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the days are UTC days.
    pub fn is_utc(&self) -> bool {
        self.changes.is_empty() && self.offsets[0] == 0
    }

    /// The day (since 1970-01-01) of the instant `micros` after the epoch.
    pub fn day(&self, micros: i64) -> i64 {
        let i = self.changes.partition_point(|&c| c <= micros);
        day_at_offset(micros, self.offsets[i])
    }

    /// A cursor for many lookups, fast when consecutive instants are close.
    pub fn cursor(&self) -> DayCursor<'_> {
        DayCursor {
            calendar: self,
            from: 0,
            until: 0,
            offset: 0,
        }
    }

    /// The span `[from, until)` of instants with one offset around `micros`, and the offset.
    fn span(&self, micros: i64) -> (i64, i64, i64) {
        let i = self.changes.partition_point(|&c| c <= micros);
        let from = if i == 0 {
            i64::MIN
        } else {
            self.changes[i - 1]
        };
        let until = self.changes.get(i).copied().unwrap_or(i64::MAX);
        (from, until, self.offsets[i])
    }
}

/// `HH:MM` within 14:00 in microseconds.
fn fixed_offset(hh_mm: &str) -> Option<i64> {
    let (h, m) = hh_mm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && h * 60 + m <= 14 * 60).then_some((h * 60 + m) * 60_000_000)
}

/// Day lookups of one [`DayCalendar`] that remember the last offset's span.
#[derive(Debug, Clone)]
pub struct DayCursor<'a> {
    calendar: &'a DayCalendar,
    from: i64,
    until: i64,
    offset: i64,
}

impl DayCursor<'_> {
    /// The day of the instant `micros` after the epoch, as [`DayCalendar::day`].
    #[inline]
    pub fn day(&mut self, micros: i64) -> i64 {
        if micros < self.from || micros >= self.until {
            (self.from, self.until, self.offset) = self.calendar.span(micros);
        }
        day_at_offset(micros, self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;

    fn micros(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_microsecond()
    }

    fn date(cal: &DayCalendar, utc: &str) -> String {
        crate::days::display(cal.day(micros(utc)))
    }

    #[test]
    fn fixed_offsets_and_utc_parse() {
        for (text, minutes) in [
            ("", 0),
            ("Z", 0),
            ("utc", 0),
            ("+00:00", 0),
            ("+05:30", 330),
            ("-08:00", -480),
            ("+14:00", 840),
            ("-14:00", -840),
        ] {
            let cal = DayCalendar::parse(text).unwrap();
            assert_eq!(cal.offsets, [minutes * 60_000_000], "{text}");
            assert!(cal.changes.is_empty(), "{text}");
        }
        assert!(DayCalendar::parse("").unwrap().is_utc());
        assert!(!DayCalendar::parse("+01:00").unwrap().is_utc());
        for bad in ["+5:30", "+14:01", "+05:60", "+0530", "-1a:00", "+-1:00"] {
            let err = DayCalendar::parse(bad).unwrap_err();
            assert!(err.contains(bad) && err.contains("±14:00"), "{bad}: {err}");
        }
    }

    #[test]
    fn unknown_zone_names_say_where_names_are_looked_up() {
        for bad in ["Mars/Olympus", "IST", "America/New York"] {
            let err = DayCalendar::parse(bad).unwrap_err();
            assert!(
                err.contains(bad) && err.contains("zoneinfo") && err.contains("America/New_York"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn zones_follow_daylight_saving_time() {
        let ny = DayCalendar::parse("America/New_York").unwrap();
        // 04:30 UTC is 23:30 the day before in winter (UTC-5), 00:30 in summer (UTC-4).
        assert_eq!(date(&ny, "2025-01-15T04:30:00Z"), "2025-01-14");
        assert_eq!(date(&ny, "2025-07-01T04:30:00Z"), "2025-07-01");
        // Around the spring change (07:00 UTC on 2025-03-09) and the autumn one.
        assert_eq!(date(&ny, "2025-03-09T04:59:59Z"), "2025-03-08");
        assert_eq!(date(&ny, "2025-03-09T05:00:00Z"), "2025-03-09");
        assert_eq!(date(&ny, "2025-11-03T03:59:59Z"), "2025-11-02");
        assert_eq!(date(&ny, "2025-11-03T04:59:59Z"), "2025-11-02");
        assert_eq!(date(&ny, "2025-11-03T05:00:00Z"), "2025-11-03");
        // No DST: Kolkata is +05:30 all year.
        let kolkata = DayCalendar::parse("Asia/Kolkata").unwrap();
        assert_eq!(date(&kolkata, "2025-07-01T18:29:59Z"), "2025-07-01");
        assert_eq!(date(&kolkata, "2025-07-01T18:30:00Z"), "2025-07-02");
    }

    #[test]
    fn an_hour_repeated_across_midnight_stays_in_the_day_begun() {
        // Santiago, 2025-04-06 03:00 UTC: clocks go from 00:00 (UTC-3) back to 23:00 on
        // the 5th (UTC-4). The repeated hour, 03:00-04:00 UTC, stays on the 6th.
        let santiago = DayCalendar::parse("America/Santiago").unwrap();
        assert_eq!(date(&santiago, "2025-04-06T02:59:59Z"), "2025-04-05");
        assert_eq!(date(&santiago, "2025-04-06T03:00:00Z"), "2025-04-06");
        assert_eq!(date(&santiago, "2025-04-06T03:59:59Z"), "2025-04-06");
        assert_eq!(date(&santiago, "2025-04-06T04:00:00Z"), "2025-04-06");
        assert_eq!(date(&santiago, "2025-04-07T03:59:59Z"), "2025-04-06");
        assert_eq!(date(&santiago, "2025-04-07T04:00:00Z"), "2025-04-07");
    }

    #[test]
    fn days_never_go_back_and_match_the_wall_clock_elsewhere() {
        for name in [
            "America/New_York",
            "America/Santiago",
            "Europe/Berlin",
            "Australia/Lord_Howe",
            "Pacific/Apia",
            "Asia/Kolkata",
        ] {
            let cal = DayCalendar::parse(name).unwrap();
            let zone = TimeZone::get(name).unwrap();
            let mut cursor = cal.cursor();
            let (mut last, mut differ) = (i64::MIN, 0);
            // Every 15 minutes of 2010-2026, a span with each zone's changes of rule.
            let mut t = micros("2010-01-01T00:00:00Z");
            while t < micros("2026-01-01T00:00:00Z") {
                let day = cal.day(t);
                assert_eq!(cursor.day(t), day, "{name} at {t}");
                assert!(day >= last, "{name}: day went back at {t}");
                let wall = Timestamp::from_microsecond(t)
                    .unwrap()
                    .to_zoned(zone.clone());
                let wall = crate::days::day_of(
                    chrono::NaiveDate::from_ymd_opt(
                        i32::from(wall.year()),
                        wall.month() as u32,
                        wall.day() as u32,
                    )
                    .unwrap(),
                );
                differ += usize::from(i64::from(wall) != day);
                last = day;
                t += HOUR / 4;
            }
            // Only the hours repeated across midnight differ (Santiago: one a year).
            if name == "America/Santiago" {
                assert!((1..=16 * 4).contains(&differ), "{name}: {differ}");
            } else {
                assert_eq!(differ, 0, "{name}");
            }
        }
    }

    #[test]
    fn cursors_agree_with_lookups_in_any_order() {
        let cal = DayCalendar::parse("Europe/Berlin").unwrap();
        let mut cursor = cal.cursor();
        let mut t = micros("2024-10-27T00:00:00Z");
        // A walk that jumps back and forth across the October and March changes.
        for step in 0..2_000i64 {
            t += if step % 7 == 0 { -40 * HOUR } else { 7 * HOUR };
            assert_eq!(cursor.day(t), cal.day(t), "{t}");
        }
        assert_eq!(cursor.day(i64::MIN / 2), cal.day(i64::MIN / 2));
        assert_eq!(cursor.day(i64::MAX / 2), cal.day(i64::MAX / 2));
    }
}
