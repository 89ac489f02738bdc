//! Aggregates over the rows a plain comparison keeps, compared and added in one kernel per
//! aggregate: `count(), sum(volume) ... WHERE price > x` over the blocks of a chunk its zones
//! cannot judge, without a keep-mask in memory or a pass to build one.

use std::ops::Range;

use super::aggregate::{AggState, Sum};
use super::kernels::{count_where, prefetch, sum_f64_where, sum_i64_where};
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

    /// Sum of `values` over the rows of `rows` kept.
    fn sum(self, values: &Values<'_>, rows: Range<usize>) -> Sum {
        match (self.at(rows.clone()), values.at(rows)) {
            (Comparison::Int(keys, op, x), Values::Int(v)) => {
                Sum::Int(with_keep!(op, x, |k: i64| k, |keep| sum_i64_where(
                    keys, v, keep
                )))
            }
            (Comparison::Int(keys, op, x), Values::Float(v)) => {
                Sum::Float(with_keep!(op, x, |k: i64| k, |keep| sum_f64_where(
                    keys, v, keep
                )))
            }
            (Comparison::Float(Keys::Float(keys), op, x), Values::Int(v)) => {
                Sum::Int(with_keep!(op, x, |k: f64| k, |keep| sum_i64_where(
                    keys, v, keep
                )))
            }
            (Comparison::Float(Keys::Float(keys), op, x), Values::Float(v)) => Sum::Float(
                with_keep!(op, x, |k: f64| k, |keep| sum_f64_where(keys, v, keep)),
            ),
            (Comparison::Float(Keys::Int(keys), op, x), Values::Int(v)) => {
                Sum::Int(with_keep!(op, x, |k: i64| k as f64, |keep| sum_i64_where(
                    keys, v, keep
                )))
            }
            (Comparison::Float(Keys::Int(keys), op, x), Values::Float(v)) => {
                Sum::Float(with_keep!(op, x, |k: i64| k as f64, |keep| sum_f64_where(
                    keys, v, keep
                )))
            }
        }
    }
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
        let kept = self.comparison.count(rows.clone());
        if kept == 0 {
            return None;
        }
        let sum = |values: &Values<'_>| self.comparison.sum(values, rows.clone());
        let states = self
            .needs
            .iter()
            .map(|need| match need {
                Need::Count => AggState::Count(kept),
                Need::Sum(values, false) => AggState::Sum(sum(values)),
                Need::Sum(values, true) => AggState::Avg(sum(values), kept),
            })
            .collect();
        Some(states)
    }
}
