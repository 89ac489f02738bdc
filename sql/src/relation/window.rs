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
    input.check(
        "window function",
        &[&spec.args, &spec.partition_by, &order_columns],
    )?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relation::test_support::{
        approx_eq, insertion_sort, naive_after, naive_cmp, random_key, relation, same_group, Rng,
    };

    const P: usize = 0;
    const O: usize = 1;
    const XI: usize = 2;
    const XF: usize = 3;
    const ID: usize = 4;

    fn random_input(rng: &mut Rng, rows: usize) -> Relation {
        let rows = (0..rows)
            .map(|i| {
                let o = if rng.percent(10) {
                    Value::Null
                } else {
                    Value::Int(rng.range(0, 5))
                };
                let xi = if rng.percent(15) {
                    Value::Null
                } else {
                    Value::Int(rng.range(-50, 50))
                };
                let xf = if rng.percent(15) {
                    Value::Null
                } else {
                    Value::Float(rng.range(-1000, 1000) as f64 / 8.0)
                };
                vec![random_key(rng), o, xi, xf, Value::Int(i as i64)]
            })
            .collect();
        relation(
            &[
                ("p", DataType::Float64),
                ("o", DataType::Int64),
                ("xi", DataType::Int64),
                ("xf", DataType::Float64),
                ("id", DataType::Int64),
            ],
            rows,
        )
    }

    /// The function at input row `row`, from first principles.
    fn brute_force(input: &Relation, spec: &WindowSpec, row: usize) -> Value {
        let rows = &input.rows;
        let mut part: Vec<usize> = (0..rows.len())
            .filter(|&j| same_group(&rows[j], &rows[row], &spec.partition_by))
            .collect();
        insertion_sort(&mut part, |&a, &b| {
            naive_after(&rows[a], &rows[b], &spec.order_by)
        });
        let n = part.len();
        let pos = part.iter().position(|&j| j == row).unwrap();
        let (start, end) = match spec.frame {
            WindowFrame::Partition => (0, n),
            WindowFrame::Rows {
                preceding,
                following,
            } => {
                let start = preceding.map_or(0, |p| (pos as i128 - p as i128).max(0) as usize);
                let end = (pos as i128 + following as i128 + 1).min(n as i128) as usize;
                (start, end)
            }
        };
        let x = |k: usize| {
            spec.args
                .first()
                .map_or(Value::Null, |&c| rows[part[k]][c].clone())
        };
        let frame: Vec<Value> = (start..end).map(x).filter(|v| !v.is_null()).collect();
        let float = spec.args.first() == Some(&XF);
        let before = |k: usize| naive_after(&rows[row], &rows[part[k]], &spec.order_by);
        match &spec.function {
            WindowFunction::RowNumber => Value::Int(pos as i64 + 1),
            WindowFunction::Rank => Value::Int(1 + (0..n).filter(|&k| before(k)).count() as i64),
            WindowFunction::DenseRank => {
                let mut earlier: Vec<usize> = (0..n).filter(|&k| before(k)).collect();
                earlier.dedup_by(|a, b| {
                    !naive_after(&rows[part[*a]], &rows[part[*b]], &spec.order_by)
                });
                Value::Int(1 + earlier.len() as i64)
            }
            WindowFunction::Lag { offset, default } => match pos.checked_sub(*offset as usize) {
                Some(k) => x(k),
                None => default.clone(),
            },
            WindowFunction::Lead { offset, default } => {
                let k = pos as u128 + *offset as u128;
                if k < n as u128 {
                    x(k as usize)
                } else {
                    default.clone()
                }
            }
            WindowFunction::Delta => match (pos.checked_sub(1).map(x), x(pos)) {
                (Some(Value::Int(p)), Value::Int(c)) => Value::Int(c - p),
                (Some(Value::Float(p)), Value::Float(c)) => Value::Float(c - p),
                _ => Value::Null,
            },
            WindowFunction::Ratio => match (pos.checked_sub(1).map(x), x(pos)) {
                (Some(p), c) if !p.is_null() && !c.is_null() => {
                    Value::Float(c.as_f64().unwrap() / p.as_f64().unwrap())
                }
                _ => Value::Null,
            },
            WindowFunction::Ema { alpha } => {
                let mut ema: Option<f64> = None;
                for k in 0..=pos {
                    if let Some(v) = x(k).as_f64() {
                        ema = Some(match ema {
                            None => v,
                            Some(e) => alpha * v + (1.0 - alpha) * e,
                        });
                    }
                }
                ema.map_or(Value::Null, Value::Float)
            }
            WindowFunction::FirstValue => x(start),
            WindowFunction::LastValue => x(end - 1),
            WindowFunction::Count if spec.args.is_empty() => Value::Int((end - start) as i64),
            WindowFunction::Count => Value::Int(frame.len() as i64),
            WindowFunction::Sum if frame.is_empty() => Value::Null,
            WindowFunction::Sum if float => {
                Value::Float(frame.iter().map(|v| v.as_f64().unwrap()).sum())
            }
            WindowFunction::Sum => Value::Int(
                frame
                    .iter()
                    .map(|v| match v {
                        Value::Int(i) => *i,
                        _ => unreachable!(),
                    })
                    .sum(),
            ),
            WindowFunction::Avg if frame.is_empty() => Value::Null,
            WindowFunction::Avg => Value::Float(
                frame.iter().map(|v| v.as_f64().unwrap()).sum::<f64>() / frame.len() as f64,
            ),
            WindowFunction::Min => frame
                .iter()
                .min_by(|a, b| naive_cmp(a, b))
                .cloned()
                .unwrap_or(Value::Null),
            WindowFunction::Max => frame
                .iter()
                .max_by(|a, b| naive_cmp(a, b))
                .cloned()
                .unwrap_or(Value::Null),
        }
    }

    fn functions() -> Vec<(WindowFunction, Vec<Vec<usize>>)> {
        let one = vec![vec![XI], vec![XF]];
        vec![
            (WindowFunction::RowNumber, vec![vec![]]),
            (WindowFunction::Rank, vec![vec![]]),
            (WindowFunction::DenseRank, vec![vec![]]),
            (
                WindowFunction::Lag {
                    offset: 2,
                    default: Value::Int(-1),
                },
                one.clone(),
            ),
            (
                WindowFunction::Lag {
                    offset: 0,
                    default: Value::Null,
                },
                one.clone(),
            ),
            (
                WindowFunction::Lead {
                    offset: 1,
                    default: Value::Null,
                },
                one.clone(),
            ),
            (
                WindowFunction::Lead {
                    offset: u64::MAX,
                    default: Value::Int(7),
                },
                one.clone(),
            ),
            (WindowFunction::Delta, one.clone()),
            (WindowFunction::Ratio, one.clone()),
            (WindowFunction::Ema { alpha: 0.25 }, one.clone()),
            (WindowFunction::FirstValue, one.clone()),
            (WindowFunction::LastValue, one.clone()),
            (WindowFunction::Sum, one.clone()),
            (WindowFunction::Avg, one.clone()),
            (WindowFunction::Min, one.clone()),
            (WindowFunction::Max, one.clone()),
            (WindowFunction::Count, vec![vec![], vec![XI], vec![XF]]),
        ]
    }

    fn frames() -> Vec<WindowFrame> {
        vec![
            WindowFrame::default_for(true),
            WindowFrame::default_for(false),
            WindowFrame::Rows {
                preceding: Some(2),
                following: 0,
            },
            WindowFrame::Rows {
                preceding: Some(0),
                following: 3,
            },
            WindowFrame::Rows {
                preceding: Some(1),
                following: 1,
            },
            WindowFrame::Rows {
                preceding: None,
                following: 2,
            },
            WindowFrame::Rows {
                preceding: Some(u64::MAX),
                following: u64::MAX,
            },
        ]
    }

    #[test]
    fn matches_brute_force_on_random_data() {
        let mut rng = Rng::new(31);
        for case in 0..12 {
            let input = random_input(&mut rng, [0, 1, 2, 7, 25, 40][case % 6]);
            let orders = [vec![(O, false)], vec![(O, true), (ID, false)], vec![]];
            for (function, arg_lists) in functions() {
                for args in arg_lists {
                    for frame in frames() {
                        for order_by in &orders {
                            for partition_by in [vec![P], vec![]] {
                                let spec = WindowSpec {
                                    function: function.clone(),
                                    args: args.clone(),
                                    partition_by,
                                    order_by: order_by.clone(),
                                    frame: frame.clone(),
                                };
                                let got =
                                    evaluate_windows(&input, std::slice::from_ref(&spec)).unwrap();
                                assert_eq!(got.len(), 1);
                                assert_eq!(got[0].len(), input.rows.len());
                                for (row, value) in got[0].iter().enumerate() {
                                    let expected = brute_force(&input, &spec, row);
                                    assert!(
                                        approx_eq(value, &expected),
                                        "case {case} row {row} {spec:?}: {value} != {expected}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn moving_float_sum_survives_infinities_and_nans_leaving_the_frame() {
        let xs = [
            1.0,
            f64::INFINITY,
            2.0,
            f64::NAN,
            3.0,
            4.0,
            f64::NEG_INFINITY,
            5.0,
        ];
        let input = relation(
            &[("x", DataType::Float64)],
            xs.iter().map(|&x| vec![Value::Float(x)]).collect(),
        );
        let spec = WindowSpec {
            function: WindowFunction::Sum,
            args: vec![0],
            partition_by: vec![],
            order_by: vec![],
            frame: WindowFrame::Rows {
                preceding: Some(1),
                following: 0,
            },
        };
        let got = evaluate_windows(&input, &[spec]).unwrap().remove(0);
        let expected: Vec<Value> = (0..xs.len())
            .map(|k| Value::Float(xs[k.saturating_sub(1)..=k].iter().sum()))
            .collect();
        for (g, e) in got.iter().zip(&expected) {
            assert!(approx_eq(g, e), "{got:?} != {expected:?}");
        }
    }

    #[test]
    fn integer_sum_is_exact_and_overflow_is_an_error() {
        let input = relation(
            &[("x", DataType::Int64)],
            vec![
                vec![Value::Int(i64::MAX)],
                vec![Value::Int(1)],
                vec![Value::Int(-2)],
            ],
        );
        let mut spec = WindowSpec {
            function: WindowFunction::Sum,
            args: vec![0],
            partition_by: vec![],
            order_by: vec![],
            frame: WindowFrame::Rows {
                preceding: Some(0),
                following: 0,
            },
        };
        let got = evaluate_windows(&input, std::slice::from_ref(&spec)).unwrap();
        assert_eq!(
            got[0],
            vec![Value::Int(i64::MAX), Value::Int(1), Value::Int(-2)]
        );
        spec.frame = WindowFrame::Partition;
        let got = evaluate_windows(&input, std::slice::from_ref(&spec)).unwrap();
        assert_eq!(got[0], vec![Value::Int(i64::MAX - 1); 3]);
        spec.frame = WindowFrame::default_for(true);
        let err = evaluate_windows(&input, &[spec]).unwrap_err();
        assert!(matches!(
            err,
            QueryError::Engine(EngineError::Overflow { .. })
        ));
    }

    #[test]
    fn bad_arguments_are_errors() {
        let input = relation(
            &[("s", DataType::Symbol), ("x", DataType::Int64)],
            vec![vec![Value::Str("a".into()), Value::Int(1)]],
        );
        let spec = |function: WindowFunction, args: Vec<usize>| WindowSpec {
            function,
            args,
            partition_by: vec![],
            order_by: vec![],
            frame: WindowFrame::Partition,
        };
        for bad in [
            spec(WindowFunction::Sum, vec![0]),
            spec(WindowFunction::Delta, vec![0]),
            spec(WindowFunction::RowNumber, vec![1]),
            spec(WindowFunction::Avg, vec![]),
            spec(WindowFunction::Count, vec![0, 1]),
            spec(WindowFunction::Ema { alpha: 0.0 }, vec![1]),
            spec(WindowFunction::Ema { alpha: f64::NAN }, vec![1]),
        ] {
            let err = evaluate_windows(&input, std::slice::from_ref(&bad)).unwrap_err();
            assert!(matches!(err, QueryError::Type { .. }), "{bad:?}: {err}");
        }
        assert!(evaluate_windows(&input, &[spec(WindowFunction::Min, vec![2])]).is_err());
        assert!(evaluate_windows(&input, &[spec(WindowFunction::Min, vec![0])]).is_ok());
    }

    #[test]
    fn output_types() {
        use DataType::*;
        assert_eq!(WindowFunction::RowNumber.output_type(None), UInt64);
        assert_eq!(WindowFunction::Sum.output_type(Some(Int32)), Int64);
        assert_eq!(WindowFunction::Sum.output_type(Some(Float32)), Float64);
        assert_eq!(WindowFunction::Delta.output_type(Some(Timestamp)), Int64);
        assert_eq!(WindowFunction::Max.output_type(Some(Symbol)), Symbol);
        assert_eq!(
            WindowFunction::Ema { alpha: 0.5 }.output_type(Some(Int64)),
            Float64
        );
        assert_eq!(WindowFunction::Count.output_type(Some(Float64)), UInt64);
    }
}
