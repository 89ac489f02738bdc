//! Timestamps: i64 nanoseconds since the Unix epoch (UTC), parsed from and printed as text.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Parses a timestamp: integer nanoseconds, `YYYY-MM-DD[ HH:MM:SS[.fffffffff]]`, or ISO 8601
/// with `T` and an optional `Z` / `±hh:mm` zone. Zone-less text is UTC.
pub fn parse_timestamp_ns(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(nanos) = text.parse::<i64>() {
        return Some(nanos);
    }
    if let Ok(with_zone) = DateTime::parse_from_rfc3339(text) {
        return with_zone.timestamp_nanos_opt();
    }
    let trimmed = text.strip_suffix('Z').unwrap_or(text);
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(trimmed, format) {
            return naive.and_utc().timestamp_nanos_opt();
        }
    }
    let date = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d").ok()?;
    date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_nanos_opt()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_integer_and_text_forms_to_the_same_instant() {
        let ns = 1_704_187_800_000_000_000; // 2024-01-02 09:30:00 UTC
        assert_eq!(parse_timestamp_ns("1704187800000000000"), Some(ns));
        assert_eq!(parse_timestamp_ns("2024-01-02 09:30:00"), Some(ns));
        assert_eq!(parse_timestamp_ns("2024-01-02T09:30:00Z"), Some(ns));
        assert_eq!(parse_timestamp_ns("2024-01-02T04:30:00-05:00"), Some(ns));
        assert_eq!(
            parse_timestamp_ns("2024-01-02 09:30:00.000000001"),
            Some(ns + 1)
        );
        assert_eq!(parse_timestamp_ns("yesterday"), None);
    }

    #[test]
    fn formats_with_nanoseconds_and_round_trips() {
        let ns = 1_704_187_800_123_456_789;
        let text = format_timestamp_ns(ns);
        assert_eq!(text, "2024-01-02 09:30:00.123456789");
        assert_eq!(parse_timestamp_ns(&text), Some(ns));
        assert_eq!(format_timestamp_ns(-1), "1969-12-31 23:59:59.999999999");
    }
}
