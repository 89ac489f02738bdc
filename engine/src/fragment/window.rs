//! Timestamp windows: a filter's bounds on the designated timestamp, turned into a row range
//! of each chunk by binary search (chunks are sorted by timestamp), so that `ts >= X` reads
//! only the rows after X instead of evaluating the comparison over the whole chunk.

use std::ops::Range;

use super::plan::{BinaryOp, ScalarExpr};
use crate::storage::chunk::Chunk;
use crate::types::Value;

/// The filter split into its timestamp bounds and the rest.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeWindow {
    /// Smallest timestamp a row may have.
    pub from: i64,
    /// Largest timestamp a row may have.
    pub to: i64,
    /// The conjuncts that are not timestamp bounds (`None` when every one was).
    pub residual: Option<ScalarExpr>,
}

impl TimeWindow {
    /// The window of `filter`'s top-level AND conjuncts of the form `ts <op> integer literal`
    /// (either side); `None` when it has no such conjunct.
    pub fn of(filter: &ScalarExpr, timestamp_index: usize) -> Option<TimeWindow> {
        let mut conjuncts = Vec::new();
        split_and(filter, &mut conjuncts);
        let mut window = TimeWindow {
            from: i64::MIN,
            to: i64::MAX,
            residual: None,
        };
        let mut bounded = false;
        for conjunct in conjuncts {
            match timestamp_bound(conjunct, timestamp_index) {
                Some((op, x)) => {
                    window.tighten(op, x);
                    bounded = true;
                }
                None => {
                    window.residual = Some(match window.residual.take() {
                        None => conjunct.clone(),
                        Some(rest) => ScalarExpr::Binary {
                            op: BinaryOp::And,
                            left: Box::new(rest),
                            right: Box::new(conjunct.clone()),
                        },
                    });
                }
            }
        }
        bounded.then_some(window)
    }

    /// The rows of `chunk` inside the window, or `None` when its timestamp column may hold
    /// NULLs (which no bound keeps, and which a binary search cannot place).
    pub fn rows_of(&self, chunk: &Chunk, timestamp_index: usize) -> Option<Range<usize>> {
        if chunk.columns.get(timestamp_index)?.nulls.is_some() {
            return None;
        }
        let ts = chunk.timestamps(timestamp_index);
        if ts.len() != chunk.rows_count {
            return None;
        }
        Some(self.rows_in(ts))
    }

    /// The positions of `times` (ascending, none NULL) inside the window.
    pub fn rows_in(&self, times: &[i64]) -> Range<usize> {
        if self.from > self.to {
            return 0..0;
        }
        let start = first_at_or_after(times, self.from);
        let end = match self.to.checked_add(1) {
            Some(after) => start + first_at_or_after(&times[start..], after),
            None => times.len(),
        };
        start..end
    }

    fn tighten(&mut self, op: BinaryOp, x: i64) {
        let (from, to) = match op {
            BinaryOp::Gt => match x.checked_add(1) {
                Some(next) => (next, i64::MAX),
                None => (i64::MAX, i64::MIN),
            },
            BinaryOp::GtEq => (x, i64::MAX),
            BinaryOp::Lt => match x.checked_sub(1) {
                Some(previous) => (i64::MIN, previous),
                None => (i64::MAX, i64::MIN),
            },
            BinaryOp::LtEq => (i64::MIN, x),
            _ => (x, x),
        };
        self.from = self.from.max(from);
        self.to = self.to.min(to);
    }
}

/// The first position of ascending `times` at or after `target`.
///
/// Ticks arrive at a roughly steady rate, so the position is first guessed by interpolating
/// between the first and last time, then bracketed by galloping from the guess in steps
/// doubling from one cache line, then searched. A plain binary search of a 16K-row chunk is 14
/// dependent cache misses; this is a few, most of them in lines next to the guess.
fn first_at_or_after(times: &[i64], target: i64) -> usize {
    const STEP_ROWS: usize = 8;
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return 0;
    };
    if target <= first {
        return 0;
    }
    if target > last {
        return times.len();
    }
    // Here first < target <= last: at least two rows, and the answer is in 1..len.
    let len = times.len();
    let fraction = (target as f64 - first as f64) / (last as f64 - first as f64);
    let guess = ((fraction * (len - 1) as f64) as usize).clamp(1, len - 1);
    let before = |row: usize| times[row] < target;
    // Invariant: times[lo - 1] < target <= times[hi]; the answer is in lo..=hi.
    let (mut lo, mut hi) = (1, len - 1);
    let mut step = STEP_ROWS;
    if before(guess) {
        lo = guess + 1;
        while lo + step < hi {
            if !before(lo + step) {
                hi = lo + step;
                break;
            }
            lo += step + 1;
            step *= 2;
        }
    } else {
        hi = guess;
        while hi >= lo + step {
            if before(hi - step) {
                lo = hi - step + 1;
                break;
            }
            hi -= step;
            step *= 2;
        }
    }
    lo + times[lo..hi].partition_point(|&t| t < target)
}

/// `ts op x` normalized so the timestamp is on the left; only the comparisons a range holds.
fn timestamp_bound(expr: &ScalarExpr, timestamp_index: usize) -> Option<(BinaryOp, i64)> {
    let ScalarExpr::Binary { op, left, right } = expr else {
        return None;
    };
    let (op, x) = match (&**left, &**right) {
        (ScalarExpr::Column(c), ScalarExpr::Literal(Value::Int(x))) if *c == timestamp_index => {
            (*op, *x)
        }
        (ScalarExpr::Literal(Value::Int(x)), ScalarExpr::Column(c)) if *c == timestamp_index => {
            (op.flipped(), *x)
        }
        _ => return None,
    };
    matches!(
        op,
        BinaryOp::Gt | BinaryOp::GtEq | BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Eq
    )
    .then_some((op, x))
}

fn split_and<'e>(expr: &'e ScalarExpr, out: &mut Vec<&'e ScalarExpr>) {
    match expr {
        ScalarExpr::Binary {
            op: BinaryOp::And,
            left,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        other => out.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolated_search_agrees_with_a_binary_search() {
        // Steady, bursty (long ties, gaps) and extreme-valued times, every target around them.
        let steady: Vec<i64> = (0..5000).map(|i| 1_000 + i * 7).collect();
        let bursty: Vec<i64> = (0..3000i64)
            .map(|i| match i {
                0..1000 => i / 100,
                1000..2000 => 1_000_000 + i,
                _ => 1_000_000_000 + i / 3,
            })
            .collect();
        let extreme = vec![
            i64::MIN,
            i64::MIN + 1,
            -5,
            0,
            0,
            0,
            9,
            i64::MAX - 1,
            i64::MAX,
        ];
        for times in [steady, bursty, extreme, vec![], vec![4], vec![4, 4, 4]] {
            let mut targets: Vec<i64> = times
                .iter()
                .flat_map(|&t| [t.saturating_sub(1), t, t.saturating_add(1)])
                .collect();
            targets.extend([i64::MIN, i64::MAX, 0, 500_000, 999_999_999]);
            for target in targets {
                assert_eq!(
                    first_at_or_after(&times, target),
                    times.partition_point(|&t| t < target),
                    "target {target} in {} times",
                    times.len()
                );
            }
        }
    }

    fn column(index: usize) -> Box<ScalarExpr> {
        Box::new(ScalarExpr::Column(index))
    }

    fn literal(value: Value) -> Box<ScalarExpr> {
        Box::new(ScalarExpr::Literal(value))
    }

    fn binary(op: BinaryOp, left: Box<ScalarExpr>, right: Box<ScalarExpr>) -> ScalarExpr {
        ScalarExpr::Binary { op, left, right }
    }

    #[test]
    fn bounds_are_collected_from_conjuncts_and_the_rest_is_kept() {
        let price = binary(BinaryOp::Gt, column(2), literal(Value::Float(1.5)));
        let filter = binary(
            BinaryOp::And,
            Box::new(binary(
                BinaryOp::And,
                Box::new(binary(BinaryOp::GtEq, column(1), literal(Value::Int(10)))),
                Box::new(price.clone()),
            )),
            Box::new(binary(BinaryOp::Gt, literal(Value::Int(20)), column(1))),
        );
        let window = TimeWindow::of(&filter, 1);
        assert_eq!(
            window,
            Some(TimeWindow {
                from: 10,
                to: 19,
                residual: Some(price),
            })
        );
    }

    #[test]
    fn disjunctions_other_columns_and_non_integer_literals_are_not_bounds() {
        let or = binary(
            BinaryOp::Or,
            Box::new(binary(BinaryOp::Gt, column(1), literal(Value::Int(1)))),
            Box::new(binary(BinaryOp::Lt, column(1), literal(Value::Int(0)))),
        );
        assert_eq!(TimeWindow::of(&or, 1), None);
        let other = binary(BinaryOp::Gt, column(0), literal(Value::Int(1)));
        assert_eq!(TimeWindow::of(&other, 1), None);
        let float = binary(BinaryOp::Gt, column(1), literal(Value::Float(1.0)));
        assert_eq!(TimeWindow::of(&float, 1), None);
        let not_equal = binary(BinaryOp::NotEq, column(1), literal(Value::Int(1)));
        assert_eq!(TimeWindow::of(&not_equal, 1), None);
    }

    #[test]
    fn bounds_at_the_ends_of_the_range_do_not_overflow() {
        let above_max = binary(BinaryOp::Gt, column(1), literal(Value::Int(i64::MAX)));
        let window = TimeWindow::of(&above_max, 1).unwrap();
        assert!(window.from > window.to);
        let below_min = binary(BinaryOp::Lt, column(1), literal(Value::Int(i64::MIN)));
        let window = TimeWindow::of(&below_min, 1).unwrap();
        assert!(window.from > window.to);
    }
}
