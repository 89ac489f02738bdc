//! Partial aggregate states: built on shards chunk by chunk, merged on the coordinator, and
//! finished into a value. Every state merges associatively, so shards and chunks may be
//! combined in any order.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::ops::Range;

use ahash::AHashSet;

use super::kernels::{count_true, dot_f64, extreme, sum_f64, sum_i64_exact};
use super::moments::Moments;
use super::plan::AggregateFunction;
use super::quantile::{quantile_cont, quantile_disc};
use super::vector::{Column, Vector};
use crate::error::EngineError;
use crate::types::Value;

/// A hashable stand-in for a value in `count(DISTINCT)` sets and group keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyPart {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A float by its bits (-0.0 folded into 0.0).
    Float(u64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
}

impl KeyPart {
    /// The hashable form of `value`.
    pub fn from_value(value: &Value) -> KeyPart {
        match value {
            Value::Null => KeyPart::Null,
            Value::Int(v) => KeyPart::Int(*v),
            Value::Float(v) => KeyPart::Float(if *v == 0.0 { 0 } else { v.to_bits() }),
            Value::Bool(v) => KeyPart::Bool(*v),
            Value::Str(v) => KeyPart::Str(v.clone()),
        }
    }

    /// Back to a value.
    pub fn to_value(&self) -> Value {
        match self {
            KeyPart::Null => Value::Null,
            KeyPart::Int(v) => Value::Int(*v),
            KeyPart::Float(bits) => Value::Float(f64::from_bits(*bits)),
            KeyPart::Bool(v) => Value::Bool(*v),
            KeyPart::Str(v) => Value::Str(v.clone()),
        }
    }
}

/// A running sum: exact for integers, f64 for floats.
#[derive(Clone, Debug, PartialEq)]
pub enum Sum {
    /// Nothing summed yet.
    Empty,
    /// Integer sum (exact).
    Int(i128),
    /// Float sum.
    Float(f64),
}

impl Sum {
    /// The sum of the one number `value`.
    fn of_value(value: &Value) -> Result<Sum, EngineError> {
        match value {
            Value::Int(v) => Ok(Sum::Int(i128::from(*v))),
            other => Ok(Sum::Float(number(other)?)),
        }
    }

    fn add(&mut self, other: &Sum) {
        *self = match (&*self, other) {
            (s, Sum::Empty) => s.clone(),
            (Sum::Empty, o) => o.clone(),
            (Sum::Int(a), Sum::Int(b)) => Sum::Int(a + b),
            (a, b) => Sum::Float(a.as_f64() + b.as_f64()),
        };
    }

    fn as_f64(&self) -> f64 {
        match self {
            Sum::Empty => 0.0,
            Sum::Int(v) => *v as f64,
            Sum::Float(v) => *v,
        }
    }
}

/// The partial state of one aggregate.
#[derive(Clone, Debug, PartialEq)]
pub enum AggState {
    /// count(*) / count(expr).
    Count(u64),
    /// count(DISTINCT expr).
    Distinct(AHashSet<KeyPart>),
    /// sum(expr).
    Sum(Sum),
    /// avg(expr): sum and count of non-NULL values.
    Avg(Sum, u64),
    /// min(expr).
    Min(Option<Value>),
    /// max(expr).
    Max(Option<Value>),
    /// first(expr): (timestamp, value) of the earliest row.
    First(Option<(i64, Value)>),
    /// last(expr): (timestamp, value) of the latest row.
    Last(Option<(i64, Value)>),
    /// vwap(price, volume): Σ price·volume, Σ volume, rows seen.
    Vwap(f64, f64, u64),
    /// var_pop / var_samp / stddev_pop / stddev_samp: count, mean and M2.
    Moments(Moments),
    /// quantile_cont / quantile_disc: every non-NULL value, in no particular order.
    Samples(Vec<f64>),
    /// arg_min(value, key): (key, value) of the best row so far.
    ArgMin(Option<(Value, Value)>),
    /// arg_max(value, key): (key, value) of the best row so far.
    ArgMax(Option<(Value, Value)>),
}

/// The rows an update covers: a range of a chunk, its timestamps, and which rows the filter kept.
pub struct UpdateRows<'a> {
    /// Row range within the chunk.
    pub range: Range<usize>,
    /// The chunk's timestamps (whole chunk).
    pub timestamps: &'a [i64],
    /// Rows kept by the filter (whole chunk; `None` = all).
    pub keep: Option<&'a [bool]>,
    /// Resolves symbol ids to names.
    pub symbol_name: &'a dyn Fn(u32) -> String,
}

impl AggState {
    /// The empty state of `function`.
    pub fn new(function: AggregateFunction) -> AggState {
        match function {
            AggregateFunction::Count => AggState::Count(0),
            AggregateFunction::CountDistinct => AggState::Distinct(AHashSet::new()),
            AggregateFunction::Sum => AggState::Sum(Sum::Empty),
            AggregateFunction::Avg => AggState::Avg(Sum::Empty, 0),
            AggregateFunction::Min => AggState::Min(None),
            AggregateFunction::Max => AggState::Max(None),
            AggregateFunction::First => AggState::First(None),
            AggregateFunction::Last => AggState::Last(None),
            AggregateFunction::Vwap => AggState::Vwap(0.0, 0.0, 0),
            AggregateFunction::VarPop
            | AggregateFunction::VarSamp
            | AggregateFunction::StddevPop
            | AggregateFunction::StddevSamp => AggState::Moments(Moments::default()),
            AggregateFunction::Quantile { .. } | AggregateFunction::QuantileDisc { .. } => {
                AggState::Samples(Vec::new())
            }
            AggregateFunction::ArgMin => AggState::ArgMin(None),
            AggregateFunction::ArgMax => AggState::ArgMax(None),
        }
    }

    /// Adds the rows `rows` of the argument columns `args`.
    pub fn update(
        &mut self,
        args: &[Column<'_>],
        rows: &UpdateRows<'_>,
    ) -> Result<(), EngineError> {
        let keep = kept_rows(args, rows.range.clone(), rows.keep);
        let keep = keep.as_deref();
        let r = rows.range.clone();
        let kept_count = keep.map_or(r.len() as u64, count_true);
        if kept_count == 0 {
            // Nothing to add; an untouched state must stay "no rows" (NULL), not become 0.
            return Ok(());
        }
        match self {
            AggState::Count(n) => *n += kept_count,
            AggState::Distinct(set) => distinct_update(set, &args[0], r, keep, rows.symbol_name),
            AggState::Sum(sum) => sum.add(&sum_update(&args[0], r, keep)?),
            AggState::Avg(sum, n) => {
                sum.add(&sum_update(&args[0], r, keep)?);
                *n += kept_count;
            }
            AggState::Min(best) => extreme_update(best, &args[0], r, keep, rows.symbol_name, true),
            AggState::Max(best) => extreme_update(best, &args[0], r, keep, rows.symbol_name, false),
            AggState::First(best) => edge_update(best, &args[0], rows, keep, true),
            AggState::Last(best) => edge_update(best, &args[0], rows, keep, false),
            AggState::Vwap(pv, v, n) => {
                let (dot, volume) = vwap_update(&args[0], &args[1], r, keep)?;
                *pv += dot;
                *v += volume;
                *n += kept_count;
            }
            AggState::Moments(moments) => moments.merge(moments_update(&args[0], r, keep)?),
            AggState::Samples(values) => samples_update(values, &args[0], r, keep)?,
            AggState::ArgMin(best) => arg_update(best, args, rows, keep, true),
            AggState::ArgMax(best) => arg_update(best, args, rows, keep, false),
        }
        Ok(())
    }

    /// Adds one row whose arguments the caller evaluated: the row-wise twin of `update`, for
    /// aggregating rows the coordinator holds. Rows with a NULL argument are skipped as
    /// `update` skips them; `order` (the row's timestamp, or its position) places the row for
    /// `first`/`last`, the earlier of equal orders counting as first and the later as last.
    /// Gives what `update` gives over the same rows, up to float rounding in sums and moments
    /// (`update` adds a chunk's values in a different order).
    pub fn update_values(&mut self, args: &[Value], order: i64) -> Result<(), EngineError> {
        if args.iter().any(Value::is_null) {
            return Ok(());
        }
        match self {
            AggState::Count(n) => *n += 1,
            AggState::Distinct(set) => {
                set.insert(KeyPart::from_value(argument(args, 0)?));
            }
            AggState::Sum(sum) => sum.add(&Sum::of_value(argument(args, 0)?)?),
            AggState::Avg(sum, n) => {
                sum.add(&Sum::of_value(argument(args, 0)?)?);
                *n += 1;
            }
            AggState::Min(best) => keep_better(best, Some(argument(args, 0)?.clone()), true),
            AggState::Max(best) => keep_better(best, Some(argument(args, 0)?.clone()), false),
            AggState::First(best) => {
                keep_edge(best, Some((order, argument(args, 0)?.clone())), true)
            }
            AggState::Last(best) => {
                keep_edge(best, Some((order, argument(args, 0)?.clone())), false)
            }
            AggState::Vwap(pv, v, n) => {
                let (price, volume) = (number(argument(args, 0)?)?, number(argument(args, 1)?)?);
                *pv += price * volume;
                *v += volume;
                *n += 1;
            }
            AggState::Moments(moments) => {
                moments.merge(Moments::single(number(argument(args, 0)?)?))
            }
            AggState::Samples(values) => values.push(number(argument(args, 0)?)?),
            AggState::ArgMin(best) => offer_arg(best, key_value(args)?, true),
            AggState::ArgMax(best) => offer_arg(best, key_value(args)?, false),
        }
        Ok(())
    }

    /// Folds another partial state of the same function into this one.
    pub fn merge(&mut self, other: AggState) -> Result<(), EngineError> {
        match (self, other) {
            (AggState::Count(a), AggState::Count(b)) => *a += b,
            (AggState::Distinct(a), AggState::Distinct(b)) => a.extend(b),
            (AggState::Sum(a), AggState::Sum(b)) => a.add(&b),
            (AggState::Avg(a, n), AggState::Avg(b, m)) => {
                a.add(&b);
                *n += m;
            }
            (AggState::Min(a), AggState::Min(b)) => keep_better(a, b, true),
            (AggState::Max(a), AggState::Max(b)) => keep_better(a, b, false),
            (AggState::First(a), AggState::First(b)) => keep_edge(a, b, true),
            (AggState::Last(a), AggState::Last(b)) => keep_edge(a, b, false),
            (AggState::Vwap(a, b, n), AggState::Vwap(c, d, m)) => {
                *a += c;
                *b += d;
                *n += m;
            }
            (AggState::Moments(a), AggState::Moments(b)) => a.merge(b),
            (AggState::Samples(a), AggState::Samples(b)) => a.extend(b),
            (AggState::ArgMin(a), AggState::ArgMin(b)) => {
                if let Some(candidate) = b {
                    offer_arg(a, candidate, true);
                }
            }
            (AggState::ArgMax(a), AggState::ArgMax(b)) => {
                if let Some(candidate) = b {
                    offer_arg(a, candidate, false);
                }
            }
            (mine, theirs) => {
                return Err(EngineError::Internal {
                    detail: format!("merging {mine:?} with {theirs:?}"),
                })
            }
        }
        Ok(())
    }

    /// The final value. Over no rows: count 0, everything else NULL.
    pub fn finish(&self, function: AggregateFunction) -> Result<Value, EngineError> {
        let float = |v: Option<f64>| v.map_or(Value::Null, Value::Float);
        Ok(match self {
            AggState::Count(n) => Value::Int(*n as i64),
            AggState::Distinct(set) => Value::Int(set.len() as i64),
            AggState::Sum(Sum::Empty) => Value::Null,
            AggState::Sum(Sum::Int(v)) => {
                Value::Int(i64::try_from(*v).map_err(|_| EngineError::Overflow {
                    function: function.name().to_string(),
                })?)
            }
            AggState::Sum(Sum::Float(v)) => Value::Float(*v),
            AggState::Avg(_, 0) => Value::Null,
            AggState::Avg(sum, n) => Value::Float(sum.as_f64() / *n as f64),
            AggState::Min(v) | AggState::Max(v) => v.clone().unwrap_or(Value::Null),
            AggState::First(v) | AggState::Last(v) => {
                v.as_ref().map_or(Value::Null, |(_, v)| v.clone())
            }
            AggState::Vwap(_, _, 0) => Value::Null,
            AggState::Vwap(pv, v, _) => Value::Float(pv / v),
            AggState::Moments(moments) => float(match function {
                AggregateFunction::VarPop => moments.variance_population(),
                AggregateFunction::VarSamp => moments.variance_sample(),
                AggregateFunction::StddevPop => moments.variance_population().map(f64::sqrt),
                AggregateFunction::StddevSamp => moments.variance_sample().map(f64::sqrt),
                other => return Err(mismatch(other, self)),
            }),
            AggState::Samples(values) => float(match function {
                AggregateFunction::Quantile { level } => quantile_cont(values, level.get()),
                AggregateFunction::QuantileDisc { level } => quantile_disc(values, level.get()),
                other => return Err(mismatch(other, self)),
            }),
            AggState::ArgMin(best) | AggState::ArgMax(best) => best
                .as_ref()
                .map_or(Value::Null, |(_, value)| value.clone()),
        })
    }
}

fn mismatch(function: AggregateFunction, state: &AggState) -> EngineError {
    EngineError::Internal {
        detail: format!("finishing {state:?} as {}", function.name()),
    }
}

/// Argument `index` of a row-wise update.
fn argument(args: &[Value], index: usize) -> Result<&Value, EngineError> {
    args.get(index).ok_or_else(|| EngineError::Internal {
        detail: format!("aggregate given {} arguments", args.len()),
    })
}

/// A numeric argument as f64.
fn number(value: &Value) -> Result<f64, EngineError> {
    match value {
        Value::Int(v) => Ok(*v as f64),
        Value::Float(v) => Ok(*v),
        other => Err(EngineError::Evaluation {
            detail: format!("arithmetic aggregate of the non-numeric value {other}"),
        }),
    }
}

/// The (key, value) of an `arg_min`/`arg_max` row from its arguments (value, key).
fn key_value(args: &[Value]) -> Result<(Value, Value), EngineError> {
    Ok((argument(args, 1)?.clone(), argument(args, 0)?.clone()))
}

/// The rows of `range` an aggregate of `args` adds: those the filter's mask `keep` (over the
/// whole chunk; `None` = all) keeps, less those where an argument is NULL. `None` = all.
pub(super) fn kept_rows<'a>(
    args: &[Column<'_>],
    r: Range<usize>,
    keep: Option<&'a [bool]>,
) -> Option<Cow<'a, [bool]>> {
    let mut keep: Option<Cow<'a, [bool]>> = keep.map(|k| Cow::Borrowed(&k[r.clone()]));
    for arg in args {
        let null_rows: Option<Cow<'_, [bool]>> = match (&arg.data, &arg.nulls) {
            (Vector::Const(v), _) if v.is_null() => Some(Cow::Owned(vec![true; r.len()])),
            (Vector::Const(_), _) | (_, None) => None,
            (_, Some(mask)) => Some(Cow::Borrowed(&mask[r.clone()])),
        };
        if let Some(nulls) = null_rows {
            let base = keep
                .as_deref()
                .map_or_else(|| vec![true; r.len()], <[bool]>::to_vec);
            keep = Some(Cow::Owned(
                base.iter()
                    .zip(nulls.iter())
                    .map(|(&k, &n)| k && !n)
                    .collect(),
            ));
        }
    }
    keep
}

/// The argument's values in `range` as f64 (borrowed when already f64).
fn float_slice<'b>(
    column: &'b Column<'_>,
    range: Range<usize>,
) -> Result<Cow<'b, [f64]>, EngineError> {
    match &column.data {
        Vector::Float(v) => Ok(Cow::Borrowed(&v[range])),
        Vector::Int(v) => Ok(Cow::Owned(v[range].iter().map(|&x| x as f64).collect())),
        Vector::Const(value) => {
            let x = value.as_f64().unwrap_or(0.0);
            Ok(Cow::Owned(vec![x; range.len()]))
        }
        Vector::Bool(_) | Vector::Sym(_) => Err(EngineError::Evaluation {
            detail: "arithmetic aggregate of a non-numeric column".into(),
        }),
    }
}

/// Σ price·volume and Σ volume over `range`, with kernels for each numeric column pairing so no
/// column is converted into a temporary.
fn vwap_update(
    price: &Column<'_>,
    volume: &Column<'_>,
    range: Range<usize>,
    keep: Option<&[bool]>,
) -> Result<(f64, f64), EngineError> {
    Ok(match (&price.data, &volume.data) {
        (Vector::Float(p), Vector::Int(v)) => {
            let (p, v) = (&p[range.clone()], &v[range]);
            (dot_f64(p, v, keep), sum_f64(v, keep))
        }
        (Vector::Float(p), Vector::Float(v)) => {
            let (p, v) = (&p[range.clone()], &v[range]);
            (dot_f64(p, v, keep), sum_f64(v, keep))
        }
        _ => {
            let (p, v) = (
                float_slice(price, range.clone())?,
                float_slice(volume, range)?,
            );
            (dot_f64(&p, &v, keep), sum_f64(&v, keep))
        }
    })
}

fn moments_update(
    column: &Column<'_>,
    range: Range<usize>,
    keep: Option<&[bool]>,
) -> Result<Moments, EngineError> {
    Ok(match &column.data {
        Vector::Int(v) => Moments::of_slice(&v[range], keep),
        _ => Moments::of_slice(&float_slice(column, range)?, keep),
    })
}

fn samples_update(
    values: &mut Vec<f64>,
    column: &Column<'_>,
    range: Range<usize>,
    keep: Option<&[bool]>,
) -> Result<(), EngineError> {
    let slice = float_slice(column, range)?;
    match keep {
        None => values.extend_from_slice(&slice),
        Some(mask) => values.extend(slice.iter().zip(mask).filter(|(_, &k)| k).map(|(&x, _)| x)),
    }
    Ok(())
}

fn sum_update(
    column: &Column<'_>,
    range: Range<usize>,
    keep: Option<&[bool]>,
) -> Result<Sum, EngineError> {
    Ok(match &column.data {
        Vector::Int(v) => Sum::Int(sum_i64_exact(&v[range], keep)),
        Vector::Const(Value::Int(x)) => {
            let kept = keep.map_or(range.len() as u64, count_true);
            Sum::Int(i128::from(*x) * i128::from(kept))
        }
        Vector::Float(v) => Sum::Float(sum_f64(&v[range], keep)),
        _ => Sum::Float(sum_f64(&float_slice(column, range)?, keep)),
    })
}

fn distinct_update(
    set: &mut AHashSet<KeyPart>,
    column: &Column<'_>,
    range: Range<usize>,
    keep: Option<&[bool]>,
    symbol_name: &dyn Fn(u32) -> String,
) {
    for (offset, row) in range.enumerate() {
        if keep.is_none_or(|k| k[offset]) {
            set.insert(KeyPart::from_value(&column.value_at(row, symbol_name)));
        }
    }
}

fn extreme_update(
    best: &mut Option<Value>,
    column: &Column<'_>,
    range: Range<usize>,
    keep: Option<&[bool]>,
    symbol_name: &dyn Fn(u32) -> String,
    want_min: bool,
) {
    let candidate = match &column.data {
        Vector::Int(v) => extreme(&v[range], keep, want_min).map(Value::Int),
        Vector::Float(v) => extreme(&v[range], keep, want_min).map(Value::Float),
        _ => range
            .enumerate()
            .filter(|(offset, _)| keep.is_none_or(|k| k[*offset]))
            .map(|(_, row)| column.value_at(row, symbol_name))
            .reduce(|a, b| pick(a, b, want_min)),
    };
    if let Some(candidate) = candidate {
        keep_better(best, Some(candidate), want_min);
    }
}

fn pick(a: Value, b: Value, want_min: bool) -> Value {
    let b_wins = if want_min {
        b.total_cmp(&a).is_lt()
    } else {
        b.total_cmp(&a).is_gt()
    };
    if b_wins {
        b
    } else {
        a
    }
}

fn keep_better(best: &mut Option<Value>, candidate: Option<Value>, want_min: bool) {
    *best = match (best.take(), candidate) {
        (None, c) => c,
        (b, None) => b,
        (Some(b), Some(c)) => Some(pick(b, c, want_min)),
    };
}

fn edge_update(
    best: &mut Option<(i64, Value)>,
    column: &Column<'_>,
    rows: &UpdateRows<'_>,
    keep: Option<&[bool]>,
    want_first: bool,
) {
    let start = rows.range.start;
    let kept = |offset: &usize| keep.is_none_or(|k| k[*offset]);
    let offset = if want_first {
        (0..rows.range.len()).find(kept)
    } else {
        (0..rows.range.len()).rev().find(kept)
    };
    if let Some(offset) = offset {
        let row = start + offset;
        let candidate = (rows.timestamps[row], column.value_at(row, rows.symbol_name));
        keep_edge(best, Some(candidate), want_first);
    }
}

fn keep_edge(best: &mut Option<(i64, Value)>, candidate: Option<(i64, Value)>, want_first: bool) {
    *best = match (best.take(), candidate) {
        (None, c) => c,
        (b, None) => b,
        (Some(b), Some(c)) => {
            let c_wins = if want_first { c.0 < b.0 } else { c.0 >= b.0 };
            Some(if c_wins { c } else { b })
        }
    };
}

/// Offers the rows of an `arg_min`/`arg_max` update whose key is extreme (a typed scan for
/// numeric keys; every kept row otherwise).
fn arg_update(
    best: &mut Option<(Value, Value)>,
    args: &[Column<'_>],
    rows: &UpdateRows<'_>,
    keep: Option<&[bool]>,
    want_min: bool,
) {
    let (value, key) = (&args[0], &args[1]);
    let r = rows.range.clone();
    let start = r.start;
    let offsets = match &key.data {
        Vector::Int(keys) => extreme_offsets(&keys[r], keep, i64::cmp, want_min),
        Vector::Float(keys) => extreme_offsets(&keys[r], keep, f64::total_cmp, want_min),
        _ => (0..r.len())
            .filter(|offset| keep.is_none_or(|k| k[*offset]))
            .collect(),
    };
    for offset in offsets {
        let row = start + offset;
        let candidate = (
            key.value_at(row, rows.symbol_name),
            value.value_at(row, rows.symbol_name),
        );
        offer_arg(best, candidate, want_min);
    }
}

/// Offsets of the kept `keys` that are the smallest (`want_min`) or the largest under `cmp`.
fn extreme_offsets<T>(
    keys: &[T],
    keep: Option<&[bool]>,
    cmp: impl Fn(&T, &T) -> Ordering,
    want_min: bool,
) -> Vec<usize> {
    let mut best: Vec<usize> = Vec::new();
    for (offset, key) in keys.iter().enumerate() {
        if keep.is_some_and(|k| !k[offset]) {
            continue;
        }
        let ordering = match best.first() {
            None => Ordering::Less,
            Some(&b) if want_min => cmp(key, &keys[b]),
            Some(&b) => cmp(key, &keys[b]).reverse(),
        };
        match ordering {
            Ordering::Less => {
                best.clear();
                best.push(offset);
            }
            Ordering::Equal => best.push(offset),
            Ordering::Greater => {}
        }
    }
    best
}

/// Keeps the (key, value) `candidate` when its key is better (smaller for `want_min`), or
/// equal with a smaller value: the pair order is total, so the result is the same whatever
/// order rows and partial states arrive in.
fn offer_arg(best: &mut Option<(Value, Value)>, candidate: (Value, Value), want_min: bool) {
    let wins = match best {
        None => true,
        Some((key, value)) => {
            let by_key = candidate.0.total_cmp(key);
            let by_key = if want_min { by_key } else { by_key.reverse() };
            by_key.then_with(|| candidate.1.total_cmp(value)).is_lt()
        }
    };
    if wins {
        *best = Some(candidate);
    }
}
