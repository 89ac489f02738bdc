//! Timestamps: i64 nanoseconds since the Unix epoch (UTC), parsed from and printed as text;
//! interval lengths; and the calendar truncations (week, month, year) that a fixed step cannot
//! express.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime};

/// Nanoseconds in one second.
pub const NANOS_PER_SECOND: i64 = 1_000_000_000;
/// Nanoseconds in one day.
pub const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SECOND;

/// Parses a timestamp: integer nanoseconds, or `YYYY-MM-DD[( |T)HH:MM[:SS[.fffffffff]]]` with an
/// optional zone `Z`, `±hh:mm`, `±hhmm` or `±hh`. Zone-less text is UTC.
pub fn parse_timestamp_ns(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(nanos) = text.parse::<i64>() {
        return Some(nanos);
    }
    let normalized = normalize(text);
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M%#z"] {
        if let Ok(zoned) = DateTime::parse_from_str(&normalized, format) {
            return zoned.timestamp_nanos_opt();
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(&normalized, format) {
            return naive.and_utc().timestamp_nanos_opt();
        }
    }
    let date = NaiveDate::parse_from_str(&normalized, "%Y-%m-%d").ok()?;
    date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_nanos_opt()
}

/// `T` between date and time becomes a space, a trailing `Z` becomes `+00:00`.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 6);
    for (index, c) in text.char_indices() {
        match c {
            'T' | 't' if index == 10 => out.push(' '),
            'Z' | 'z' if index + 1 == text.len() => out.push_str("+00:00"),
            c => out.push(c),
        }
    }
    out
}

/// Formats nanoseconds as ClickHouse prints `DateTime64(9)`: `2024-01-02 09:30:00.000000000`.
pub fn format_timestamp_ns(nanos: i64) -> String {
    let seconds = nanos.div_euclid(NANOS_PER_SECOND);
    let subsec = nanos.rem_euclid(NANOS_PER_SECOND) as u32;
    match DateTime::from_timestamp(seconds, subsec) {
        Some(time) => time.format("%Y-%m-%d %H:%M:%S%.9f").to_string(),
        None => nanos.to_string(),
    }
}

/// The length in nanoseconds of one fixed-length time unit, by any of its names: `ns`, `us`,
/// `ms`, `s`, `m`, `h`, `d`, `w` and the singular and plural long names (case-insensitive).
pub fn unit_ns(name: &str) -> Option<i64> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "ns" | "nanosecond" | "nanoseconds" => 1,
        "us" | "microsecond" | "microseconds" => 1_000,
        "ms" | "millisecond" | "milliseconds" => 1_000_000,
        "s" | "sec" | "second" | "seconds" => NANOS_PER_SECOND,
        "m" | "min" | "minute" | "minutes" => 60 * NANOS_PER_SECOND,
        "h" | "hour" | "hours" => 3_600 * NANOS_PER_SECOND,
        "d" | "day" | "days" => NANOS_PER_DAY,
        "w" | "week" | "weeks" => 7 * NANOS_PER_DAY,
        _ => return None,
    })
}

/// Parses an interval as nanoseconds: `<amount> <unit>` (`'5 minutes'`, `'1.5 s'`, `'10ms'`),
/// or a bare amount when `unit` is given separately (`INTERVAL '5' MINUTE`). `None` when the
/// text is no interval or the result does not fit in i64.
pub fn parse_interval_ns(text: &str, unit: Option<&str>) -> Option<i64> {
    let text = text.trim();
    let (amount, unit) = match unit {
        Some(unit) => (text, unit),
        None => {
            let split = text
                .find(|c: char| c.is_ascii_alphabetic())
                .unwrap_or(text.len());
            (text[..split].trim(), &text[split..])
        }
    };
    let scale = unit_ns(unit)?;
    if let Ok(whole) = amount.parse::<i64>() {
        return whole.checked_mul(scale);
    }
    let fractional = amount.parse::<f64>().ok()?;
    let nanos = (fractional * scale as f64).round();
    // i64::MAX as f64 rounds up to 2^63, which does not fit: the bound is exclusive.
    (nanos.is_finite() && nanos.abs() < i64::MAX as f64).then_some(nanos as i64)
}

/// Calendar units whose length varies or whose start is not a multiple of a fixed step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CalendarUnit {
    /// ISO weeks, starting on Monday.
    Week,
    /// Calendar months.
    Month,
    /// Calendar years.
    Year,
}

impl CalendarUnit {
    /// The unit's name as `date_trunc` spells it.
    pub fn name(self) -> &'static str {
        match self {
            CalendarUnit::Week => "week",
            CalendarUnit::Month => "month",
            CalendarUnit::Year => "year",
        }
    }
}

/// The first instant of the week, month or year that holds `nanos` (UTC). `None` when that
/// instant is outside the range of i64 nanoseconds.
pub fn truncate_to(unit: CalendarUnit, nanos: i64) -> Option<i64> {
    let day = nanos.div_euclid(NANOS_PER_DAY);
    let start_day = match unit {
        // 1970-01-01 was a Thursday: Monday-based weeks start 3 days before the epoch's day.
        CalendarUnit::Week => day - (day + 3).rem_euclid(7),
        CalendarUnit::Month | CalendarUnit::Year => {
            let date = DateTime::from_timestamp(day.checked_mul(86_400)?, 0)?.date_naive();
            let month = if unit == CalendarUnit::Month {
                date.month()
            } else {
                1
            };
            let first = NaiveDate::from_ymd_opt(date.year(), month, 1)?;
            first.and_hms_opt(0, 0, 0)?.and_utc().timestamp() / 86_400
        }
    };
    start_day.checked_mul(NANOS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: i64 = 1_704_187_800_000_000_000; // 2024-01-02 09:30:00 UTC

    #[test]
    fn parses_integer_and_text_forms_to_the_same_instant() {
        assert_eq!(parse_timestamp_ns("1704187800000000000"), Some(NS));
        assert_eq!(parse_timestamp_ns("2024-01-02 09:30:00"), Some(NS));
        assert_eq!(parse_timestamp_ns("2024-01-02 09:30"), Some(NS));
        assert_eq!(parse_timestamp_ns("2024-01-02T09:30:00Z"), Some(NS));
        assert_eq!(parse_timestamp_ns("2024-01-02t09:30:00z"), Some(NS));
        assert_eq!(parse_timestamp_ns("2024-01-02T04:30:00-05:00"), Some(NS));
        assert_eq!(
            parse_timestamp_ns("2024-01-02 09:30:00.000000001"),
            Some(NS + 1)
        );
        assert_eq!(parse_timestamp_ns("yesterday"), None);
        assert_eq!(parse_timestamp_ns("2024-13-02"), None);
        assert_eq!(parse_timestamp_ns(""), None);
    }

    #[test]
    fn parses_zones_in_every_spelling_with_fractions() {
        let half_hour_east = NS - 5 * 3_600 * NANOS_PER_SECOND - 30 * 60 * NANOS_PER_SECOND;
        assert_eq!(
            parse_timestamp_ns("2024-01-02T09:30:00+05:30"),
            Some(half_hour_east)
        );
        assert_eq!(
            parse_timestamp_ns("2024-01-02 09:30:00+0530"),
            Some(half_hour_east)
        );
        assert_eq!(
            parse_timestamp_ns("2024-01-02T04:30:00.123-0500"),
            Some(NS + 123_000_000)
        );
        assert_eq!(
            parse_timestamp_ns("2024-01-02T04:30:00.123456789-05"),
            Some(NS + 123_456_789)
        );
        assert_eq!(
            parse_timestamp_ns("2024-01-02T09:30:00.5Z"),
            Some(NS + 500_000_000)
        );
        assert_eq!(
            parse_timestamp_ns("1969-12-31T23:59:59.999999999Z"),
            Some(-1)
        );
        assert_eq!(parse_timestamp_ns("2024-01-02T09:30:00+25:00"), None);
    }

    #[test]
    fn formats_with_nanoseconds_and_round_trips() {
        let ns = 1_704_187_800_123_456_789;
        let text = format_timestamp_ns(ns);
        assert_eq!(text, "2024-01-02 09:30:00.123456789");
        assert_eq!(parse_timestamp_ns(&text), Some(ns));
        assert_eq!(format_timestamp_ns(-1), "1969-12-31 23:59:59.999999999");
    }

    #[test]
    fn every_unit_name_has_its_length() {
        let groups: [(&[&str], i64); 8] = [
            (&["ns", "nanosecond", "nanoseconds", "NANOSECOND"], 1),
            (&["us", "microsecond", "microseconds"], 1_000),
            (&["ms", "millisecond", "milliseconds"], 1_000_000),
            (&["s", "second", "seconds", "SECOND"], 1_000_000_000),
            (&["m", "minute", "minutes", "Minute"], 60_000_000_000),
            (&["h", "hour", "hours"], 3_600_000_000_000),
            (&["d", "day", "days"], 86_400_000_000_000),
            (&["w", "week", "weeks"], 604_800_000_000_000),
        ];
        for (names, nanos) in groups {
            for name in names {
                assert_eq!(unit_ns(name), Some(nanos), "{name}");
            }
        }
        assert_eq!(unit_ns("month"), None);
        assert_eq!(unit_ns(""), None);
    }

    #[test]
    fn parses_intervals_with_and_without_a_separate_unit() {
        assert_eq!(parse_interval_ns("5 minutes", None), Some(300_000_000_000));
        assert_eq!(parse_interval_ns("10ms", None), Some(10_000_000));
        assert_eq!(parse_interval_ns(" 1.5 s ", None), Some(1_500_000_000));
        assert_eq!(parse_interval_ns("-2 h", None), Some(-7_200_000_000_000));
        assert_eq!(
            parse_interval_ns("1", Some("HOUR")),
            Some(3_600_000_000_000)
        );
        assert_eq!(parse_interval_ns("1 month", None), None);
        assert_eq!(parse_interval_ns("minutes", None), None);
        assert_eq!(parse_interval_ns("1000000 weeks", None), None);
        assert_eq!(parse_interval_ns("1e30 s", None), None);
    }

    #[test]
    fn truncates_to_weeks_months_and_years_before_and_after_the_epoch() {
        let at = |text: &str| parse_timestamp_ns(text).unwrap();
        let cases = [
            (CalendarUnit::Week, "2024-01-02 09:30:00", "2024-01-01"),
            (CalendarUnit::Week, "2024-01-07 23:59:59.999", "2024-01-01"),
            (CalendarUnit::Week, "2024-01-08", "2024-01-08"),
            (CalendarUnit::Week, "1970-01-01 12:00", "1969-12-29"),
            (CalendarUnit::Month, "2024-02-29 23:00", "2024-02-01"),
            (
                CalendarUnit::Month,
                "1969-12-31 23:59:59.999999999",
                "1969-12-01",
            ),
            (CalendarUnit::Year, "2024-07-01", "2024-01-01"),
            (CalendarUnit::Year, "1969-06-30", "1969-01-01"),
        ];
        for (unit, input, start) in cases {
            assert_eq!(truncate_to(unit, at(input)), Some(at(start)), "{input}");
        }
        assert_eq!(truncate_to(CalendarUnit::Year, i64::MIN), None);
    }
}
