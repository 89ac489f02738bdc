//! Aggregates over the rows a plain comparison keeps, compared and added in one kernel per
//! aggregate: `count(), sum(volume) ... WHERE price > x` over the blocks of a chunk its zones
//! cannot judge, without a keep-mask in memory or a pass to build one.

use std::ops::Range;

use super::aggregate::{AggState, Sum};
use super::kernels::{count_where, sum_f64_where, sum_i64_where};
use super::plan::{AggregateCall, AggregateFunction, BinaryOp, ScalarExpr};
use crate::storage::chunk::{ColumnChunk, ColumnData};
use crate::types::Value;

/// `column op literal` over some rows of a NULL-free numeric column, with the literal in the
/// type the comparison runs in (as `eval::compare` picks it: integers only when both sides
/// are integers).
enum Comparison<'a> {
    /// An integer column and an integer literal.
    Int(&'a [i64], BinaryOp, i64),
    /// A float column, or an integer column against a float literal.
    Float(Keys<'a>, BinaryOp, f64),
}

/// The keys of a float comparison.
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
    /// The comparison `check` makes on `rows` of `columns`, when it is one this module runs.
    fn of(check: &ScalarExpr, columns: &'a [ColumnChunk], rows: Range<usize>) -> Option<Self> {
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
                Comparison::Float(Keys::Float(keys.get(rows)?), op, literal.as_f64()?)
            }
            (ColumnData::Int64(keys) | ColumnData::Timestamp(keys), Value::Int(x)) => {
                Comparison::Int(keys.get(rows)?, op, *x)
            }
            (ColumnData::Int64(keys) | ColumnData::Timestamp(keys), Value::Float(x)) => {
                Comparison::Float(Keys::Int(keys.get(rows)?), op, *x)
            }
            _ => return None,
        })
    }

    /// Rows kept.
    fn count(&self) -> u64 {
        match self {
            Comparison::Int(keys, op, x) => {
                with_keep!(*op, *x, |k: i64| k, |keep| count_where(keys, keep))
            }
            Comparison::Float(Keys::Float(keys), op, x) => {
                with_keep!(*op, *x, |k: f64| k, |keep| count_where(keys, keep))
            }
            Comparison::Float(Keys::Int(keys), op, x) => {
                with_keep!(*op, *x, |k: i64| k as f64, |keep| count_where(keys, keep))
            }
        }
    }

    /// Sum of `values` (the same rows) over the rows kept.
    fn sum(&self, values: &Values<'_>) -> Sum {
        match (self, values) {
            (Comparison::Int(keys, op, x), Values::Int(v)) => {
                Sum::Int(with_keep!(*op, *x, |k: i64| k, |keep| sum_i64_where(
                    keys, v, keep
                )))
            }
            (Comparison::Int(keys, op, x), Values::Float(v)) => {
                Sum::Float(with_keep!(*op, *x, |k: i64| k, |keep| sum_f64_where(
                    keys, v, keep
                )))
            }
            (Comparison::Float(Keys::Float(keys), op, x), Values::Int(v)) => {
                Sum::Int(with_keep!(*op, *x, |k: f64| k, |keep| sum_i64_where(
                    keys, v, keep
                )))
            }
            (Comparison::Float(Keys::Float(keys), op, x), Values::Float(v)) => Sum::Float(
                with_keep!(*op, *x, |k: f64| k, |keep| sum_f64_where(keys, v, keep)),
            ),
            (Comparison::Float(Keys::Int(keys), op, x), Values::Int(v)) => Sum::Int(with_keep!(
                *op,
                *x,
                |k: i64| k as f64,
                |keep| sum_i64_where(keys, v, keep)
            )),
            (Comparison::Float(Keys::Int(keys), op, x), Values::Float(v)) => Sum::Float(
                with_keep!(*op, *x, |k: i64| k as f64, |keep| sum_f64_where(
                    keys, v, keep
                )),
            ),
        }
    }
}

/// The rows of a summed column.
enum Values<'a> {
    Int(&'a [i64]),
    Float(&'a [f64]),
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

/// What `call` needs over `rows` of `columns`, when the kernels can give it.
fn need<'a>(
    call: &AggregateCall,
    columns: &'a [ColumnChunk],
    rows: Range<usize>,
) -> Option<Need<'a>> {
    let column = match call.args.as_slice() {
        [] => None,
        [ScalarExpr::Column(index)] => Some(null_free(columns, *index)?),
        _ => return None,
    };
    let values = || match &column?.data {
        ColumnData::Int64(v) => Some(Values::Int(v.get(rows.clone())?)),
        ColumnData::Float64(v) => Some(Values::Float(v.get(rows.clone())?)),
        _ => None,
    };
    match call.function {
        AggregateFunction::Count => Some(Need::Count),
        AggregateFunction::Sum => Some(Need::Sum(values()?, false)),
        AggregateFunction::Avg => Some(Need::Sum(values()?, true)),
        _ => None,
    }
}

/// The number of rows of `rows` of `columns` that `check` keeps and the states of `calls`
/// over them, when `check` compares a NULL-free INT64, TIMESTAMP or FLOAT64 column with a
/// numeric literal and every call is `count`, or `sum` or `avg` of a NULL-free INT64 or
/// FLOAT64 column; `None` otherwise (the rows must then be filtered into a mask). The states
/// mean nothing when no row is kept.
pub fn checked_states(
    calls: &[AggregateCall],
    check: &ScalarExpr,
    columns: &[ColumnChunk],
    rows: Range<usize>,
) -> Option<(u64, Vec<AggState>)> {
    let comparison = Comparison::of(check, columns, rows.clone())?;
    let needs: Vec<Need<'_>> = calls
        .iter()
        .map(|call| need(call, columns, rows.clone()))
        .collect::<Option<_>>()?;
    let kept = comparison.count();
    if kept == 0 {
        return Some((0, Vec::new()));
    }
    let states = needs
        .iter()
        .map(|need| match need {
            Need::Count => AggState::Count(kept),
            Need::Sum(values, false) => AggState::Sum(comparison.sum(values)),
            Need::Sum(values, true) => AggState::Avg(comparison.sum(values), kept),
        })
        .collect();
    Some((kept, states))
}
