//! Window functions over a relation: `f(args) OVER (PARTITION BY .. ORDER BY .. ROWS ..)`.
//!
//! Rows are partitioned by equal `partition_by` values (NULLs equal one another; numbers
//! compare across Int and Float), each partition is sorted stably by `order_by` (ascending
//! puts NULLs first, descending is the exact reverse), functions run over the sorted partition,
//! and results go back to the input row positions.
//!
//! Frames are ROWS frames: a `RANGE` frame's peers (rows with equal ORDER BY values) are
//! treated as separate rows. Only `FirstValue`, `LastValue`, `Sum`, `Avg`, `Min`, `Max` and
//! `Count` use the frame; the others are defined over the whole sorted partition.

use std::collections::VecDeque;

use quecto_engine::types::{DataType, Value};
use quecto_engine::EngineError;

use super::key::Groups;
use super::sort::compare_rows;
use super::{internal, Relation};
use crate::QueryError;

/// A window function.
#[derive(Clone, Debug, PartialEq)]
pub enum WindowFunction {
    /// 1, 2, 3, ... in partition order.
    RowNumber,
    /// 1 + the number of rows before the row's peers (ties share a rank, then gaps).
    Rank,
    /// 1 + the number of distinct ORDER BY values before the row (no gaps).
    DenseRank,
    /// The argument `offset` rows earlier in the partition, else `default`.
    Lag {
        /// How many rows back.
        offset: u64,
        /// The value when there is no such row.
        default: Value,
    },
    /// The argument `offset` rows later in the partition, else `default`.
    Lead {
        /// How many rows ahead.
        offset: u64,
        /// The value when there is no such row.
        default: Value,
    },
    /// `x - previous x` (kdb+ `deltas`, but NULL on the partition's first row).
    Delta,
    /// `x / previous x` as Float64 (kdb+ `ratios`, but NULL on the partition's first row).
    Ratio,
    /// The argument on the frame's first row (NULL included).
    FirstValue,
    /// The argument on the frame's last row (NULL included).
    LastValue,
    /// Sum of the frame's non-NULL values (NULL when there are none); `CumulativeSum` is this
    /// with the default frame.
    Sum,
    /// Mean of the frame's non-NULL values as Float64.
    Avg,
    /// Smallest non-NULL value of the frame (by `Value::total_cmp`).
    Min,
    /// Largest non-NULL value of the frame (by `Value::total_cmp`).
    Max,
    /// Non-NULL values of the frame, or its rows without an argument.
    Count,
    /// Exponential moving average `alpha * x + (1 - alpha) * previous`, starting at the first
    /// non-NULL value; a NULL input repeats the previous average. The planner turns a period
    /// `N` into `alpha = 2 / (N + 1)`.
    Ema {
        /// The smoothing factor, in (0, 1].
        alpha: f64,
    },
}

impl WindowFunction {
    /// The SQL-ish name, for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            WindowFunction::RowNumber => "row_number",
            WindowFunction::Rank => "rank",
            WindowFunction::DenseRank => "dense_rank",
            WindowFunction::Lag { .. } => "lag",
            WindowFunction::Lead { .. } => "lead",
            WindowFunction::Delta => "delta",
            WindowFunction::Ratio => "ratio",
            WindowFunction::FirstValue => "first_value",
            WindowFunction::LastValue => "last_value",
            WindowFunction::Sum => "sum",
            WindowFunction::Avg => "avg",
            WindowFunction::Min => "min",
            WindowFunction::Max => "max",
            WindowFunction::Count => "count",
            WindowFunction::Ema { .. } => "ema",
        }
    }

    /// The result type given the first argument's type (`None` without an argument).
    pub fn output_type(&self, arg_type: Option<DataType>) -> DataType {
        let float = arg_type.is_some_and(DataType::is_float);
        match self {
            WindowFunction::RowNumber
            | WindowFunction::Rank
            | WindowFunction::DenseRank
            | WindowFunction::Count => DataType::UInt64,
            WindowFunction::Lag { .. }
            | WindowFunction::Lead { .. }
            | WindowFunction::FirstValue
            | WindowFunction::LastValue
            | WindowFunction::Min
            | WindowFunction::Max => arg_type.unwrap_or(DataType::Int64),
            WindowFunction::Delta | WindowFunction::Sum if float => DataType::Float64,
            WindowFunction::Delta | WindowFunction::Sum => DataType::Int64,
            WindowFunction::Ratio | WindowFunction::Avg | WindowFunction::Ema { .. } => {
                DataType::Float64
            }
        }
    }

    /// Checks the argument count and types, and `Ema`'s factor.
    fn check(&self, args: &[DataType]) -> Result<(), QueryError> {
        let type_error = |detail: String| Err(QueryError::Type { detail });
        let (min, max) = match self {
            WindowFunction::RowNumber | WindowFunction::Rank | WindowFunction::DenseRank => (0, 0),
            WindowFunction::Count => (0, 1),
            _ => (1, 1),
        };
        if args.len() < min || args.len() > max {
            return type_error(format!(
                "{} takes {} argument(s), got {}",
                self.name(),
                if min == max {
                    min.to_string()
                } else {
                    format!("{min} or {max}")
                },
                args.len()
            ));
        }
        let arg = args.first().copied();
        let numeric = |t: DataType| t.is_numeric() || t == DataType::Bool;
        match (self, arg) {
            (WindowFunction::Delta, Some(t)) if !t.is_numeric() => {
                type_error(format!("delta needs a numeric argument, got {t}"))
            }
            (
                WindowFunction::Sum
                | WindowFunction::Avg
                | WindowFunction::Ratio
                | WindowFunction::Ema { .. },
                Some(t),
            ) if !numeric(t) => {
                type_error(format!("{} needs a numeric argument, got {t}", self.name()))
            }
            (WindowFunction::Ema { alpha }, _) if !(*alpha > 0.0 && *alpha <= 1.0) => type_error(
                format!("ema smoothing factor must be in (0, 1], got {alpha}"),
            ),
            _ => Ok(()),
        }
    }
}

/// Which rows of the sorted partition a row's frame covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowFrame {
    /// `ROWS BETWEEN preceding PRECEDING AND following FOLLOWING`.
    Rows {
        /// Rows before the current one; `None` is UNBOUNDED PRECEDING.
        preceding: Option<u64>,
        /// Rows after the current one (0 is CURRENT ROW).
        following: u64,
    },
    /// The whole partition.
    Partition,
}

impl WindowFrame {
    /// SQL's default frame: UNBOUNDED PRECEDING to CURRENT ROW with an ORDER BY, else the
    /// whole partition.
    pub fn default_for(has_order_by: bool) -> WindowFrame {
        if has_order_by {
            WindowFrame::Rows {
                preceding: None,
                following: 0,
            }
        } else {
            WindowFrame::Partition
        }
    }

    /// The frame of the row at `index` of a partition of `len` rows: positions `start..end`,
    /// never empty (it holds the row), and both ends non-decreasing in `index`.
    fn bounds(&self, index: usize, len: usize) -> (usize, usize) {
        match self {
            WindowFrame::Partition => (0, len),
            WindowFrame::Rows {
                preceding,
                following,
            } => {
                let start = preceding.map_or(0, |p| index.saturating_sub(saturate(p)));
                let end = index.saturating_add(saturate(*following)).saturating_add(1);
                (start, end.min(len))
            }
        }
    }
}

fn saturate(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// One window function call.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowSpec {
    /// The function.
    pub function: WindowFunction,
    /// Argument column indices of the input.
    pub args: Vec<usize>,
    /// PARTITION BY column indices.
    pub partition_by: Vec<usize>,
    /// ORDER BY (column index, descending).
    pub order_by: Vec<(usize, bool)>,
    /// The frame; see [`WindowFrame::default_for`].
    pub frame: WindowFrame,
}

/// Evaluates each spec over `input`: one output column per spec, its values in input row
/// order.
pub fn evaluate_windows(
    input: &Relation,
    specs: &[WindowSpec],
) -> Result<Vec<Vec<Value>>, QueryError> {
    specs.iter().map(|spec| evaluate(input, spec)).collect()
}

fn evaluate(input: &Relation, spec: &WindowSpec) -> Result<Vec<Value>, QueryError> {
    let order_columns: Vec<usize> = spec.order_by.iter().map(|&(c, _)| c).collect();
    input.check("window function", &spec.args)?;
    input.check("window function", &spec.partition_by)?;
    input.check("window function", &order_columns)?;
    let arg_types: Vec<DataType> = spec
        .args
        .iter()
        .map(|&c| input.columns[c].data_type)
        .collect();
    spec.function.check(&arg_types)?;
    let float = arg_types.first().is_some_and(|t| t.is_float());

    let rows = &input.rows;
    let mut partitions = Groups::build(rows, &spec.partition_by, |_| true).members();
    let mut out = vec![Value::Null; rows.len()];
    let mut results = Vec::new();
    for group in 0..partitions.groups() {
        let part = partitions.of_mut(group);
        if !spec.order_by.is_empty() {
            part.sort_by(|&a, &b| compare_rows(&rows[a], &rows[b], &spec.order_by));
        }
        let part = &*part;
        let xs: Vec<&Value> = match spec.args.first() {
            Some(&c) => part.iter().map(|&r| &rows[r][c]).collect(),
            None => Vec::new(),
        };
        let sorted = Partition {
            rows,
            part,
            xs: &xs,
            float,
        };
        results.clear();
        sorted.compute(spec, &mut results)?;
        for (&row, value) in part.iter().zip(results.drain(..)) {
            out[row] = value;
        }
    }
    Ok(out)
}

/// One partition in window order.
struct Partition<'a> {
    rows: &'a [Vec<Value>],
    /// Input row indices in window order.
    part: &'a [usize],
    /// The first argument per position (empty without arguments).
    xs: &'a [&'a Value],
    /// The argument is a float column.
    float: bool,
}

impl Partition<'_> {
    /// Appends the function's value for each position to `out`.
    fn compute(&self, spec: &WindowSpec, out: &mut Vec<Value>) -> Result<(), QueryError> {
        let n = self.part.len();
        let xs = self.xs;
        let frame = &spec.frame;
        match &spec.function {
            WindowFunction::RowNumber => out.extend((1..=n).map(|k| Value::Int(k as i64))),
            WindowFunction::Rank | WindowFunction::DenseRank => {
                let dense = spec.function == WindowFunction::DenseRank;
                let mut rank = 0;
                for k in 0..n {
                    let peer = k > 0
                        && compare_rows(
                            &self.rows[self.part[k - 1]],
                            &self.rows[self.part[k]],
                            &spec.order_by,
                        )
                        .is_eq();
                    if !peer {
                        rank = if dense { rank + 1 } else { k + 1 };
                    }
                    out.push(Value::Int(rank as i64));
                }
            }
            WindowFunction::Lag { offset, default } => {
                let back = saturate(*offset);
                out.extend((0..n).map(|k| match k.checked_sub(back) {
                    Some(j) => xs[j].clone(),
                    None => default.clone(),
                }));
            }
            WindowFunction::Lead { offset, default } => {
                let ahead = saturate(*offset);
                out.extend(
                    (0..n).map(|k| match k.checked_add(ahead).filter(|&j| j < n) {
                        Some(j) => xs[j].clone(),
                        None => default.clone(),
                    }),
                );
            }
            WindowFunction::Delta => {
                for k in 0..n {
                    out.push(match k.checked_sub(1) {
                        Some(j) => delta(xs[j], xs[k], self.float)?,
                        None => Value::Null,
                    });
                }
            }
            WindowFunction::Ratio => {
                out.extend((0..n).map(|k| {
                    let pair = k.checked_sub(1).map(|j| (xs[j].as_f64(), xs[k].as_f64()));
                    match pair {
                        Some((Some(prev), Some(x))) => Value::Float(x / prev),
                        _ => Value::Null,
                    }
                }));
            }
            WindowFunction::Ema { alpha } => {
                let mut ema: Option<f64> = None;
                for x in xs {
                    if let Some(x) = x.as_f64() {
                        ema = Some(ema.map_or(x, |e| alpha * x + (1.0 - alpha) * e));
                    }
                    out.push(ema.map_or(Value::Null, Value::Float));
                }
            }
            WindowFunction::FirstValue => {
                out.extend((0..n).map(|k| xs[frame.bounds(k, n).0].clone()));
            }
            WindowFunction::LastValue => {
                out.extend((0..n).map(|k| xs[frame.bounds(k, n).1 - 1].clone()));
            }
            WindowFunction::Count => {
                // prefix[i]: counted rows among positions 0..i.
                let mut prefix = Vec::with_capacity(n + 1);
                prefix.push(0usize);
                for k in 0..n {
                    let counted = xs.get(k).is_none_or(|x| !x.is_null());
                    prefix.push(prefix[k] + usize::from(counted));
                }
                out.extend((0..n).map(|k| {
                    let (start, end) = frame.bounds(k, n);
                    Value::Int((prefix[end] - prefix[start]) as i64)
                }));
            }
            WindowFunction::Sum | WindowFunction::Avg => {
                let avg = spec.function == WindowFunction::Avg;
                let mut sum = MovingSum::new(self.float);
                let (mut lo, mut hi) = (0, 0);
                for k in 0..n {
                    let (start, end) = frame.bounds(k, n);
                    for x in &xs[hi..end] {
                        sum.add(x, 1)?;
                    }
                    for x in &xs[lo..start] {
                        sum.add(x, -1)?;
                    }
                    (lo, hi) = (start, end);
                    out.push(if avg { sum.mean() } else { sum.total()? });
                }
            }
            WindowFunction::Min | WindowFunction::Max => {
                let max = spec.function == WindowFunction::Max;
                // Positions whose values may still be the extreme of a later frame, their
                // values strictly improving from back to front.
                let mut candidates: VecDeque<usize> = VecDeque::new();
                let mut hi = 0;
                for k in 0..n {
                    let (start, end) = frame.bounds(k, n);
                    for j in hi..end {
                        if xs[j].is_null() {
                            continue;
                        }
                        while let Some(&back) = candidates.back() {
                            let order = xs[back].total_cmp(xs[j]);
                            if (max && order.is_le()) || (!max && order.is_ge()) {
                                candidates.pop_back();
                            } else {
                                break;
                            }
                        }
                        candidates.push_back(j);
                    }
                    hi = end;
                    while candidates.front().is_some_and(|&f| f < start) {
                        candidates.pop_front();
                    }
                    out.push(candidates.front().map_or(Value::Null, |&f| xs[f].clone()));
                }
            }
        }
        Ok(())
    }
}

/// `x - prev`; NULL when either is NULL. Integers subtract exactly (overflow is an error).
fn delta(prev: &Value, x: &Value, float: bool) -> Result<Value, QueryError> {
    match (prev, x) {
        (Value::Null, _) | (_, Value::Null) => Ok(Value::Null),
        (Value::Int(p), Value::Int(c)) if !float => c
            .checked_sub(*p)
            .map(Value::Int)
            .ok_or_else(|| overflow("delta")),
        _ => match (prev.as_f64(), x.as_f64()) {
            (Some(p), Some(c)) => Ok(Value::Float(c - p)),
            _ => Err(internal(format!(
                "delta over non-numeric values {prev}, {x}"
            ))),
        },
    }
}

fn overflow(function: &str) -> QueryError {
    QueryError::Engine(EngineError::Overflow {
        function: function.to_string(),
    })
}

/// A sum over a sliding frame that values enter and leave: exact in i128 for integers;
/// compensated (Neumaier) for floats, with infinities and NaNs counted apart so that one
/// leaving the frame does not poison the rest.
struct MovingSum {
    float: bool,
    count: i64,
    int: i128,
    sum: f64,
    compensation: f64,
    positive_infinities: i64,
    negative_infinities: i64,
    nans: i64,
}

impl MovingSum {
    fn new(float: bool) -> MovingSum {
        MovingSum {
            float,
            count: 0,
            int: 0,
            sum: 0.0,
            compensation: 0.0,
            positive_infinities: 0,
            negative_infinities: 0,
            nans: 0,
        }
    }

    /// Adds `value` (`sign` 1) or takes it back out (`sign` -1); NULLs are ignored.
    fn add(&mut self, value: &Value, sign: i8) -> Result<(), QueryError> {
        if value.is_null() {
            return Ok(());
        }
        self.count += i64::from(sign);
        if !self.float {
            let v = match value {
                Value::Int(v) => i128::from(*v),
                Value::Bool(v) => i128::from(*v),
                other => return Err(internal(format!("sum of {other} in an integer column"))),
            };
            self.int += i128::from(sign) * v;
            return Ok(());
        }
        let Some(v) = value.as_f64() else {
            return Err(internal(format!("sum of {value} in a float column")));
        };
        if v.is_nan() {
            self.nans += i64::from(sign);
        } else if v == f64::INFINITY {
            self.positive_infinities += i64::from(sign);
        } else if v == f64::NEG_INFINITY {
            self.negative_infinities += i64::from(sign);
        } else {
            let v = f64::from(sign) * v;
            let t = self.sum + v;
            self.compensation += if self.sum.abs() >= v.abs() {
                (self.sum - t) + v
            } else {
                (v - t) + self.sum
            };
            self.sum = t;
        }
        Ok(())
    }

    fn float_total(&self) -> f64 {
        let infinities = (self.positive_infinities > 0, self.negative_infinities > 0);
        match infinities {
            _ if self.nans > 0 => f64::NAN,
            (true, true) => f64::NAN,
            (true, false) => f64::INFINITY,
            (false, true) => f64::NEG_INFINITY,
            (false, false) => self.sum + self.compensation,
        }
    }

    /// The sum; NULL when no value is in the frame.
    fn total(&self) -> Result<Value, QueryError> {
        if self.count == 0 {
            Ok(Value::Null)
        } else if self.float {
            Ok(Value::Float(self.float_total()))
        } else {
            i64::try_from(self.int)
                .map(Value::Int)
                .map_err(|_| overflow("sum"))
        }
    }

    /// The mean; NULL when no value is in the frame.
    fn mean(&self) -> Value {
        if self.count == 0 {
            return Value::Null;
        }
        let sum = if self.float {
            self.float_total()
        } else {
            self.int as f64
        };
        Value::Float(sum / self.count as f64)
    }
}
