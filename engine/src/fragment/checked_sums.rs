//! Aggregates over the rows a plain comparison keeps, compared and added in one kernel per
//! aggregate: `count(), sum(volume) ... WHERE price > x` over the blocks of a chunk its zones
//! cannot judge, without a keep-mask in memory or a pass to build one.

use std::ops::Range;

use super::aggregate::{AggState, Sum};
use super::kernels::{count_sum_i64_where, count_where, prefetch, sum_f64_where};
use super::plan::{AggregateCall, AggregateFunction, BinaryOp, ScalarExpr};
use crate::storage::chunk::{ColumnChunk, ColumnData};
use crate::types::Value;

/// `column op literal` over a NULL-free numeric column (or some of its rows), with the
/// literal in the type the comparison runs in (as `eval::compare` picks it: integers only when
/// both sides are integers).
#[derive(Clone, Copy)]
enum Comparison<'a> {
    /// An integer column and an integer literal.
    Int(&'a [i64], BinaryOp, i64),
    /// A float column, or an integer column against a float literal.
    Float(Keys<'a>, BinaryOp, f64),
}

/// The keys of a float comparison.
#[derive(Clone, Copy)]
enum Keys<'a> {
    Float(&'a [f64]),
    Int(&'a [i64]),
}

/// Runs `$body` with `$keep` bound to the closure `|key| $convert(key) $op $x`, the operator
/// chosen once outside the kernel's loop.
macro_rules! with_keep {
    ($op:expr, $x:expr, $convert:expr, |$keep:ident| $body:expr) => {{
        let (x, convert) = ($x, $convert);
        match $op {
            BinaryOp::Eq => {
                let $keep = |k| convert(k) == x;
                $body
            }
            BinaryOp::NotEq => {
                let $keep = |k| convert(k) != x;
                $body
            }
            BinaryOp::Lt => {
                let $keep = |k| convert(k) < x;
                $body
            }
            BinaryOp::LtEq => {
                let $keep = |k| convert(k) <= x;
                $body
            }
            BinaryOp::Gt => {
                let $keep = |k| convert(k) > x;
                $body
            }
            _ => {
                let $keep = |k| convert(k) >= x;
                $body
            }
        }
    }};
}

impl<'a> Comparison<'a> {
    /// The comparison `check` makes on `columns`, when it is one this module runs.
    fn of(check: &ScalarExpr, columns: &'a [ColumnChunk]) -> Option<Self> {
        let ScalarExpr::Binary { op, left, right } = check else {
            return None;
        };
        let (op, index, literal) = match (&**left, &**right) {
            (ScalarExpr::Column(index), ScalarExpr::Literal(value)) if op.is_comparison() => {
                (*op, *index, value)
            }
            (ScalarExpr::Literal(value), ScalarExpr::Column(index)) if op.is_comparison() => {
                (op.flipped(), *index, value)
            }
            _ => return None,
        };
        let column = null_free(columns, index)?;
        Some(match (&column.data, literal) {
            (ColumnData::Float64(keys), Value::Int(_) | Value::Float(_)) => {
                Comparison::Float(Keys::Float(keys), op, literal.as_f64()?)
            }
            (ColumnData::Int64(keys) | ColumnData::Timestamp(keys), Value::Int(x)) => {
                Comparison::Int(keys, op, *x)
            }
            (ColumnData::Int64(keys) | ColumnData::Timestamp(keys), Value::Float(x)) => {
                Comparison::Float(Keys::Int(keys), op, *x)
            }
            _ => return None,
        })
    }

    /// The comparison on `rows` only.
    fn at(self, rows: Range<usize>) -> Self {
        match self {
            Comparison::Int(keys, op, x) => Comparison::Int(&keys[rows], op, x),
            Comparison::Float(Keys::Float(keys), op, x) => {
                Comparison::Float(Keys::Float(&keys[rows]), op, x)
            }
            Comparison::Float(Keys::Int(keys), op, x) => {
                Comparison::Float(Keys::Int(&keys[rows]), op, x)
            }
        }
    }

    /// Rows of `rows` kept.
    fn count(self, rows: Range<usize>) -> u64 {
        match self.at(rows) {
            Comparison::Int(keys, op, x) => {
                with_keep!(op, x, |k: i64| k, |keep| count_where(keys, keep))
            }
            Comparison::Float(Keys::Float(keys), op, x) => {
                with_keep!(op, x, |k: f64| k, |keep| count_where(keys, keep))
            }
            Comparison::Float(Keys::Int(keys), op, x) => {
                with_keep!(op, x, |k: i64| k as f64, |keep| count_where(keys, keep))
            }
        }
    }

    /// The rows of `rows` kept and the sum of `values` over them: counted in the same pass
    /// for integer values, in a pass of its own for floats.
    fn count_sum(self, values: &Values<'_>, rows: Range<usize>) -> (u64, Sum) {
        let float_sum = |sum: f64| (self.count(rows.clone()), Sum::Float(sum));
        match (self.at(rows.clone()), values.at(rows.clone())) {
            (Comparison::Int(keys, op, x), Values::Int(v)) => {
                with_keep!(op, x, |k: i64| k, |keep| int_sum(keys, v, keep))
            }
            (Comparison::Int(keys, op, x), Values::Float(v)) => {
                float_sum(with_keep!(op, x, |k: i64| k, |keep| sum_f64_where(
                    keys, v, keep
                )))
            }
            (Comparison::Float(Keys::Float(keys), op, x), Values::Int(v)) => {
                with_keep!(op, x, |k: f64| k, |keep| int_sum(keys, v, keep))
            }
            (Comparison::Float(Keys::Float(keys), op, x), Values::Float(v)) => float_sum(
                with_keep!(op, x, |k: f64| k, |keep| sum_f64_where(keys, v, keep)),
            ),
            (Comparison::Float(Keys::Int(keys), op, x), Values::Int(v)) => {
                with_keep!(op, x, |k: i64| k as f64, |keep| int_sum(keys, v, keep))
            }
            (Comparison::Float(Keys::Int(keys), op, x), Values::Float(v)) => {
                float_sum(with_keep!(op, x, |k: i64| k as f64, |keep| sum_f64_where(
                    keys, v, keep
                )))
            }
        }
    }
}

/// `count_sum_i64_where` with the sum as a `Sum`.
#[inline(always)]
fn int_sum<K: Copy>(keys: &[K], values: &[i64], keep: impl Fn(K) -> bool) -> (u64, Sum) {
    let (kept, sum) = count_sum_i64_where(keys, values, keep);
    (kept, Sum::Int(sum))
}

/// A summed column.
#[derive(Clone, Copy)]
enum Values<'a> {
    Int(&'a [i64]),
    Float(&'a [f64]),
}

impl<'a> Values<'a> {
    /// The column's `rows` only.
    fn at(self, rows: Range<usize>) -> Self {
        match self {
            Values::Int(v) => Values::Int(&v[rows]),
            Values::Float(v) => Values::Float(&v[rows]),
        }
    }
}

/// What one aggregate needs from the kernels.
enum Need<'a> {
    /// The kept rows: `count()`, or `count(column)` of a NULL-free column.
    Count,
    /// The sum of a column over the kept rows (`sum`), and their number (`avg`).
    Sum(Values<'a>, bool),
}

/// Column `index` of `columns` when it holds no NULL.
fn null_free(columns: &[ColumnChunk], index: usize) -> Option<&ColumnChunk> {
    columns.get(index).filter(|c| c.nulls.is_none())
}

/// What `call` needs from `columns`, when the kernels can give it.
fn need<'a>(call: &AggregateCall, columns: &'a [ColumnChunk]) -> Option<Need<'a>> {
    let column = match call.args.as_slice() {
        [] => None,
        [ScalarExpr::Column(index)] => Some(null_free(columns, *index)?),
        _ => return None,
    };
    let values = || match &column?.data {
        ColumnData::Int64(v) => Some(Values::Int(v)),
        ColumnData::Float64(v) => Some(Values::Float(v)),
        _ => None,
    };
    match call.function {
        AggregateFunction::Count => Some(Need::Count),
        AggregateFunction::Sum => Some(Need::Sum(values()?, false)),
        AggregateFunction::Avg => Some(Need::Sum(values()?, true)),
        _ => None,
    }
}

/// The aggregates `calls` of a chunk's rows under the filter `check`, computed by the kernels.
pub struct CheckedSums<'a> {
    comparison: Comparison<'a>,
    needs: Vec<Need<'a>>,
}

impl<'a> CheckedSums<'a> {
    /// The kernels for `calls` over the chunk `columns` under `check`, when `check` compares
    /// a NULL-free INT64, TIMESTAMP or FLOAT64 column with a numeric literal and every call is
    /// `count`, or `sum` or `avg` of a NULL-free INT64 or FLOAT64 column; `None` otherwise
    /// (rows must then be filtered into a mask).
    pub fn new(
        calls: &[AggregateCall],
        check: &ScalarExpr,
        columns: &'a [ColumnChunk],
    ) -> Option<Self> {
        let comparison = Comparison::of(check, columns)?;
        let needs = calls
            .iter()
            .map(|call| need(call, columns))
            .collect::<Option<_>>()?;
        Some(CheckedSums { comparison, needs })
    }

    /// Starts loading the compared and summed values of `rows` into the caches (see
    /// `kernels::prefetch`), for a later `states` over them.
    pub fn prefetch(&self, rows: Range<usize>) {
        match self.comparison.at(rows.clone()) {
            Comparison::Int(keys, ..) | Comparison::Float(Keys::Int(keys), ..) => prefetch(keys),
            Comparison::Float(Keys::Float(keys), ..) => prefetch(keys),
        }
        for need in &self.needs {
            match need {
                Need::Count => {}
                Need::Sum(Values::Int(values), _) => prefetch(&values[rows.clone()]),
                Need::Sum(Values::Float(values), _) => prefetch(&values[rows.clone()]),
            }
        }
    }

    /// The states of the calls over the rows of `rows` the filter keeps; `None` when it keeps
    /// none.
    pub fn states(&self, rows: Range<usize>) -> Option<Vec<AggState>> {
        let mut kept = None;
        let mut states: Vec<AggState> = self
            .needs
            .iter()
            .map(|need| match need {
                Need::Count => AggState::Count(0),
                Need::Sum(values, avg) => {
                    let (rows_kept, sum) = self.comparison.count_sum(values, rows.clone());
                    kept = Some(rows_kept);
                    match avg {
                        true => AggState::Avg(sum, rows_kept),
                        false => AggState::Sum(sum),
                    }
                }
            })
            .collect();
        let kept = kept.unwrap_or_else(|| self.comparison.count(rows));
        if kept == 0 {
            return None;
        }
        for state in &mut states {
            if let AggState::Count(count) = state {
                *count = kept;
            }
        }
        Some(states)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::chunk::Zone;

    fn column(data: ColumnData) -> ColumnChunk {
        ColumnChunk {
            data,
            nulls: None,
            zone: Zone::Unknown,
        }
    }

    fn call(function: AggregateFunction, args: Vec<ScalarExpr>) -> AggregateCall {
        AggregateCall { function, args }
    }

    #[test]
    fn counts_and_sums_in_one_pass_match_a_plain_filter() {
        let keys: Vec<f64> = (0..500).map(|i| ((i * 37) % 101) as f64).collect();
        let ints: Vec<i64> = (0..500).map(|i| (i * 7919) % 1001 - 500).collect();
        let floats: Vec<f64> = ints.iter().map(|&v| v as f64 / 8.0).collect();
        let columns = vec![
            column(ColumnData::Float64(keys.clone().into())),
            column(ColumnData::Int64(ints.clone().into())),
            column(ColumnData::Float64(floats.clone().into())),
        ];
        let calls = [
            call(AggregateFunction::Count, vec![]),
            call(AggregateFunction::Sum, vec![ScalarExpr::Column(1)]),
            call(AggregateFunction::Avg, vec![ScalarExpr::Column(1)]),
            call(AggregateFunction::Sum, vec![ScalarExpr::Column(2)]),
        ];
        for (op, x) in [
            (BinaryOp::Gt, 60.0),
            (BinaryOp::LtEq, 3.0),
            (BinaryOp::Gt, 500.0),
        ] {
            let check = ScalarExpr::Binary {
                op,
                left: Box::new(ScalarExpr::Column(0)),
                right: Box::new(ScalarExpr::Literal(Value::Float(x))),
            };
            let sums = CheckedSums::new(&calls, &check, &columns).unwrap();
            for rows in [0..500, 17..18, 100..371] {
                let kept: Vec<usize> = rows
                    .clone()
                    .filter(|&i| {
                        if op == BinaryOp::Gt {
                            keys[i] > x
                        } else {
                            keys[i] <= x
                        }
                    })
                    .collect();
                let states = sums.states(rows.clone());
                if kept.is_empty() {
                    assert_eq!(states, None, "{op:?} {x} {rows:?}");
                    continue;
                }
                let n = kept.len() as u64;
                let int_sum: i128 = kept.iter().map(|&i| i128::from(ints[i])).sum();
                let float_sum: f64 = kept.iter().map(|&i| floats[i]).sum();
                let states = states.unwrap();
                assert_eq!(
                    states[..3],
                    [
                        AggState::Count(n),
                        AggState::Sum(Sum::Int(int_sum)),
                        AggState::Avg(Sum::Int(int_sum), n),
                    ]
                );
                let AggState::Sum(Sum::Float(got)) = states[3] else {
                    panic!("float sum state: {:?}", states[3]);
                };
                assert!((got - float_sum).abs() < 1e-9, "{got} against {float_sum}");
            }
        }
    }
}
