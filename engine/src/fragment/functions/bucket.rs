//! Time buckets: grouping keys that are non-decreasing functions of the designated timestamp
//! (`intDiv(ts, c)`, `floorDiv(ts, c)`, `xbar` and the spellings bound to it: `time_bucket`,
//! `toStartOfInterval`, `date_trunc` to a fixed unit, SAMPLE BY; the calendar truncations; or
//! the timestamp itself). Rows in timestamp order take each bucket over one contiguous run, and
//! the run of bucket `b` ends at the first row after `b`'s last timestamp: one search per run
//! finds it, where evaluating the key would divide once per row.
//!
//! A bucket's value comes from the same kernel that evaluates the function, so a run's key is
//! exactly what the per-row evaluation would give.

use super::{calendar, floor_div, int_div, xbar_int, ScalarFunction};
use crate::error::EngineError;
use crate::fragment::plan::ScalarExpr;
use crate::time::{truncate_to, CalendarUnit, NANOS_PER_DAY};
use crate::types::{DataType, Value};

/// A non-decreasing function of the designated timestamp, by what it computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeBucket {
    /// The timestamp itself.
    Identity,
    /// `intDiv(ts, step)`, step > 0: the quotient truncated toward zero.
    IntDiv(i64),
    /// `floorDiv(ts, step)`, step > 0: the quotient rounded toward negative infinity.
    FloorDiv(i64),
    /// `xbar(ts, step)`, step > 0: the first timestamp of the step-wide bucket.
    Xbar(i64),
    /// The first instant of the calendar week, month or year.
    Calendar(CalendarUnit),
}

impl TimeBucket {
    /// The bucket `expr` computes from the column `timestamp_index` (the designated timestamp),
    /// or `None` when it is not one of the recognized shapes.
    pub fn of(expr: &ScalarExpr, timestamp_index: usize) -> Option<TimeBucket> {
        let is_timestamp = |e: &ScalarExpr| match e {
            ScalarExpr::Column(index) => *index == timestamp_index,
            ScalarExpr::Cast { expr, to } => {
                matches!(to, DataType::Int64 | DataType::Timestamp)
                    && matches!(**expr, ScalarExpr::Column(index) if index == timestamp_index)
            }
            _ => false,
        };
        if is_timestamp(expr) {
            return Some(TimeBucket::Identity);
        }
        let ScalarExpr::Function { function, args } = expr else {
            return None;
        };
        match (function, args.as_slice()) {
            (ScalarFunction::TruncateTo(unit), [ts]) if is_timestamp(ts) => {
                Some(TimeBucket::Calendar(*unit))
            }
            (_, [ts, ScalarExpr::Literal(Value::Int(step))]) if is_timestamp(ts) && *step > 0 => {
                match function {
                    ScalarFunction::IntDiv => Some(TimeBucket::IntDiv(*step)),
                    ScalarFunction::FloorDiv => Some(TimeBucket::FloorDiv(*step)),
                    ScalarFunction::Xbar => Some(TimeBucket::Xbar(*step)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The bucket (the function's value) of timestamp `ts`.
    pub fn bucket(self, ts: i64) -> Result<i64, EngineError> {
        match self {
            TimeBucket::Identity => Ok(ts),
            TimeBucket::IntDiv(step) => int_div(ts, step),
            TimeBucket::FloorDiv(step) => floor_div(ts, step),
            TimeBucket::Xbar(step) => xbar_int(ts, step),
            TimeBucket::Calendar(unit) => calendar(unit, ts),
        }
    }

    /// The bucket right after `bucket` (whose last timestamp is `last`) and its last timestamp,
    /// when buckets have one width and that costs no division; `None` otherwise.
    pub fn following(self, bucket: i64, last: i64) -> Option<(i64, i64)> {
        let (next, step) = match self {
            TimeBucket::IntDiv(step) if bucket >= 0 => (bucket.checked_add(1)?, step),
            TimeBucket::FloorDiv(step) => (bucket.checked_add(1)?, step),
            TimeBucket::Xbar(step) => (bucket.checked_add(step)?, step),
            // Bucket 0 of a truncating division is twice as wide; the rest vary in width.
            TimeBucket::IntDiv(_) | TimeBucket::Identity | TimeBucket::Calendar(_) => return None,
        };
        Some((next, last.checked_add(step)?))
    }

    /// The largest timestamp in `bucket` (a value `bucket()` returned); `i64::MAX` when the
    /// bucket reaches past the largest timestamp.
    ///
    /// `intDiv` truncates toward zero, so bucket 0 spans both signs: with step 10, bucket 1 is
    /// 10..=19, bucket 0 is -9..=9 and bucket -1 is -19..=-10. Its last timestamp is
    /// `b·step + step - 1` for b ≥ 0 and `b·step` for b < 0.
    pub fn last_timestamp(self, bucket: i64) -> i64 {
        let last = match self {
            TimeBucket::Identity => Some(bucket),
            TimeBucket::IntDiv(step) if bucket < 0 => bucket.checked_mul(step),
            TimeBucket::IntDiv(step) | TimeBucket::FloorDiv(step) => bucket
                .checked_mul(step)
                .and_then(|start| start.checked_add(step - 1)),
            TimeBucket::Xbar(step) => bucket.checked_add(step - 1),
            TimeBucket::Calendar(unit) => {
                // A span that always lands inside the next period, whose start truncation finds.
                let days = match unit {
                    CalendarUnit::Week => 7,
                    CalendarUnit::Month => 32,
                    CalendarUnit::Year => 366,
                };
                bucket
                    .checked_add(days * NANOS_PER_DAY)
                    .and_then(|inside_next| truncate_to(unit, inside_next))
                    .map(|next_start| next_start - 1)
            }
        };
        last.unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use super::*;

    fn call(function: ScalarFunction, args: Vec<ScalarExpr>) -> ScalarExpr {
        ScalarExpr::Function { function, args }
    }

    fn int(v: i64) -> ScalarExpr {
        ScalarExpr::Literal(Value::Int(v))
    }

    #[test]
    fn recognizes_monotone_functions_of_the_designated_timestamp_only() {
        let ts = ScalarExpr::Column(1);
        let of = |e: &ScalarExpr| TimeBucket::of(e, 1);
        assert_eq!(of(&ts), Some(TimeBucket::Identity));
        let by_minute = call(ScalarFunction::IntDiv, vec![ts.clone(), int(60)]);
        assert_eq!(of(&by_minute), Some(TimeBucket::IntDiv(60)));
        let xbar = call(ScalarFunction::Xbar, vec![ts.clone(), int(5)]);
        assert_eq!(of(&xbar), Some(TimeBucket::Xbar(5)));
        let month = call(
            ScalarFunction::TruncateTo(CalendarUnit::Month),
            vec![ts.clone()],
        );
        assert_eq!(of(&month), Some(TimeBucket::Calendar(CalendarUnit::Month)));
        let epoch = call(
            ScalarFunction::FloorDiv,
            vec![
                ScalarExpr::Cast {
                    expr: Box::new(ts.clone()),
                    to: DataType::Int64,
                },
                int(1000),
            ],
        );
        assert_eq!(of(&epoch), Some(TimeBucket::FloorDiv(1000)));
        // Decreasing, zero, another column, or not a recognized function: no runs.
        assert_eq!(
            of(&call(ScalarFunction::IntDiv, vec![ts.clone(), int(-60)])),
            None
        );
        assert_eq!(
            of(&call(ScalarFunction::Xbar, vec![ts.clone(), int(0)])),
            None
        );
        assert_eq!(
            of(&call(
                ScalarFunction::IntDiv,
                vec![ScalarExpr::Column(2), int(60)]
            )),
            None
        );
        assert_eq!(of(&call(ScalarFunction::Abs, vec![ts])), None);
    }

    /// `last_timestamp(bucket(t))` is in t's bucket, and the next timestamp is not; the
    /// following bucket, when given, is that next timestamp's, with its last timestamp.
    fn assert_bucket_ends(bucket: TimeBucket, timestamps: impl Iterator<Item = i64>) {
        for t in timestamps {
            let b = bucket.bucket(t).unwrap();
            let last = bucket.last_timestamp(b);
            assert!(last >= t, "{bucket:?}: {t} in bucket {b} ending at {last}");
            assert_eq!(bucket.bucket(last).unwrap(), b, "{bucket:?} at {t}");
            if last == i64::MAX {
                continue;
            }
            let next = bucket.bucket(last + 1).unwrap();
            assert_ne!(next, b, "{bucket:?} at {t}");
            if let Some(following) = bucket.following(b, last) {
                assert_eq!(
                    following,
                    (next, bucket.last_timestamp(next)),
                    "{bucket:?} at {t}"
                );
            }
        }
    }

    #[test]
    fn each_bucket_ends_at_its_last_timestamp_on_both_sides_of_zero() {
        for step in [1, 3, 10] {
            assert_bucket_ends(TimeBucket::IntDiv(step), -35..=35);
            assert_bucket_ends(TimeBucket::FloorDiv(step), -35..=35);
            assert_bucket_ends(TimeBucket::Xbar(step), -35..=35);
        }
        assert_bucket_ends(TimeBucket::Identity, -3..=3);
        assert_bucket_ends(TimeBucket::IntDiv(7), [i64::MAX - 1, i64::MAX].into_iter());
        assert_bucket_ends(TimeBucket::Identity, [i64::MAX].into_iter());
    }

    #[test]
    fn calendar_buckets_end_where_the_next_period_starts() {
        // Every 13 hours over four years (a leap year included), before and after the epoch.
        let hours = |from: i64| (0..2_700).map(move |i| from + i * 13 * 3_600_000_000_000);
        for unit in [CalendarUnit::Week, CalendarUnit::Month, CalendarUnit::Year] {
            assert_bucket_ends(TimeBucket::Calendar(unit), hours(1_577_836_800_000_000_000));
            assert_bucket_ends(TimeBucket::Calendar(unit), hours(-200_000_000_000_000_000));
        }
    }
}
