//! Scalar functions, casts and row choices over whole columns: the per-value math of the parent
//! module applied slice at a time, NULL rows skipped (a NULL row never raises an error).

use std::borrow::Cow;

use super::{
    cast_target, cast_value, check_arity, float_to_float, float_to_int, int_to_int, CastTarget,
    Kernel, ScalarFunction,
};
use crate::error::EngineError;
use crate::fragment::eval::{
    bool_operand, float_operand, fold_if_const, int_operand, is_const_null, kind,
};
use crate::fragment::vector::{union_nulls, Column, Operand, Vector};
use crate::types::{DataType, Value};

/// Applies `function` to its argument columns over `rows` rows.
pub(crate) fn call<'a>(
    function: ScalarFunction,
    args: Vec<Column<'a>>,
    rows: usize,
) -> Result<Column<'a>, EngineError> {
    check_arity(function, args.len())?;
    let any_float = args.iter().any(is_float);
    let mut args = args.into_iter();
    let Some(first) = args.next() else {
        return Err(EngineError::Internal {
            detail: format!("{} without arguments", function.name()),
        });
    };
    if function == ScalarFunction::Coalesce {
        return args.try_fold(first, |acc, next| coalesce(acc, next, rows));
    }
    let kernel = function.kernel(any_float)?;
    if !function.is_variadic() && args.len() == 0 {
        return apply(
            function,
            kernel,
            first,
            Column::constant(Value::Int(0)),
            rows,
        );
    }
    args.try_fold(first, |acc, next| apply(function, kernel, acc, next, rows))
}

fn is_float(column: &Column<'_>) -> bool {
    matches!(
        column.data,
        Vector::Float(_) | Vector::Const(Value::Float(_))
    )
}

/// One kernel step over two columns.
fn apply<'a>(
    function: ScalarFunction,
    kernel: Kernel,
    a: Column<'a>,
    b: Column<'a>,
    rows: usize,
) -> Result<Column<'a>, EngineError> {
    if is_const_null(&a) || is_const_null(&b) {
        return Ok(Column::constant(Value::Null));
    }
    let both_const = matches!((&a.data, &b.data), (Vector::Const(_), Vector::Const(_)));
    let rows = if both_const { 1 } else { rows };
    let nulls = union_nulls(&a.nulls, &b.nulls);
    let mask = nulls.as_deref();
    let not_numeric = || EngineError::Evaluation {
        detail: format!(
            "{} of {} and {}: it needs numbers",
            function.name(),
            kind(&a),
            kind(&b)
        ),
    };
    let data = match kernel {
        Kernel::Int(f) => {
            let (Some(x), Some(y)) = (int_operand(&a), int_operand(&b)) else {
                return Err(not_numeric());
            };
            Vector::Int(Cow::Owned(map_checked(&x, &y, mask, rows, f)?))
        }
        Kernel::Float(f) => {
            let (Some(x), Some(y)) = (float_operand(&a), float_operand(&b)) else {
                return Err(not_numeric());
            };
            Vector::Float(Cow::Owned(map_checked(&x, &y, mask, rows, f)?))
        }
        Kernel::FloatToInt(f) => {
            let (Some(x), Some(y)) = (float_operand(&a), float_operand(&b)) else {
                return Err(not_numeric());
            };
            Vector::Int(Cow::Owned(map_checked(&x, &y, mask, rows, f)?))
        }
    };
    Ok(fold_if_const(Column { data, nulls }, both_const))
}

fn at<T: Copy>(operand: &Operand<'_, T>, row: usize) -> T {
    match operand {
        Operand::Slice(values) => values[row],
        Operand::Scalar(value) => *value,
    }
}

/// `f` row by row; rows NULL in `mask` get `R::default()` without calling `f`.
fn map_checked<T: Copy, U: Copy, R: Default>(
    a: &Operand<'_, T>,
    b: &Operand<'_, U>,
    mask: Option<&[bool]>,
    rows: usize,
    f: impl Fn(T, U) -> Result<R, EngineError>,
) -> Result<Vec<R>, EngineError> {
    // Without NULLs, one loop per operand shape (a column by a constant, as in
    // `intDiv(ts, 60e9)`, is the common one): no per-row shape or mask test.
    match (mask, a, b) {
        (None, Operand::Slice(x), Operand::Scalar(y)) => {
            x.iter().take(rows).map(|&x| f(x, *y)).collect()
        }
        (None, Operand::Slice(x), Operand::Slice(y)) => x
            .iter()
            .zip(y.iter())
            .take(rows)
            .map(|(&x, &y)| f(x, y))
            .collect(),
        _ => (0..rows)
            .map(|row| match mask {
                Some(nulls) if nulls[row] => Ok(R::default()),
                _ => f(at(a, row), at(b, row)),
            })
            .collect(),
    }
}

/// `a`, with its NULL rows taken from `b`.
fn coalesce<'a>(a: Column<'a>, b: Column<'a>, rows: usize) -> Result<Column<'a>, EngineError> {
    if is_const_null(&a) {
        return Ok(b);
    }
    let Some(a_nulls) = a.nulls.clone() else {
        return Ok(a);
    };
    choose(&a_nulls, b, a, rows)
}

/// Per row: `x` where `mask` is true, else `y` (values and NULLs alike).
pub(crate) fn choose<'a>(
    mask: &[bool],
    x: Column<'a>,
    y: Column<'a>,
    rows: usize,
) -> Result<Column<'a>, EngineError> {
    if is_const_null(&y) && !is_const_null(&x) {
        let nulls = (0..rows).map(|row| !mask[row] || x.is_null(row)).collect();
        return Ok(Column {
            data: spread_constant(x.data, rows)?,
            nulls: Some(Cow::Owned(nulls)),
        });
    }
    if is_const_null(&x) && !is_const_null(&y) {
        let flipped: Vec<bool> = mask.iter().map(|m| !m).collect();
        return choose(&flipped, y, x, rows);
    }
    let nulls: Vec<bool> = (0..rows)
        .map(|row| {
            if mask[row] {
                x.is_null(row)
            } else {
                y.is_null(row)
            }
        })
        .collect();
    let pick = |row: usize| mask[row];
    let data = match (&x.data, &y.data) {
        (Vector::Const(p), Vector::Const(q)) if p == q => Vector::Const(p.clone()),
        (Vector::Sym(p), Vector::Sym(q)) => Vector::Sym(Cow::Owned(
            (0..rows)
                .map(|r| if pick(r) { p[r] } else { q[r] })
                .collect(),
        )),
        _ if is_float(&x) || is_float(&y) => match (float_operand(&x), float_operand(&y)) {
            (Some(p), Some(q)) => Vector::Float(Cow::Owned(select(&p, &q, mask, rows))),
            _ => return Err(unchoosable(&x, &y)),
        },
        _ => match (int_operand(&x), int_operand(&y)) {
            (Some(p), Some(q)) => Vector::Int(Cow::Owned(select(&p, &q, mask, rows))),
            _ => match (bool_operand(&x), bool_operand(&y)) {
                (Some(p), Some(q)) if !is_text(&x) && !is_text(&y) => {
                    Vector::Bool(Cow::Owned(select(&p, &q, mask, rows)))
                }
                _ => return Err(unchoosable(&x, &y)),
            },
        },
    };
    let nulls = nulls.contains(&true).then_some(Cow::Owned(nulls));
    Ok(Column { data, nulls })
}

/// A constant as one value per row, so that a NULL mask can apply to it.
fn spread_constant(data: Vector<'_>, rows: usize) -> Result<Vector<'_>, EngineError> {
    Ok(match data {
        Vector::Const(Value::Int(x)) => Vector::Int(Cow::Owned(vec![x; rows])),
        Vector::Const(Value::Float(x)) => Vector::Float(Cow::Owned(vec![x; rows])),
        Vector::Const(Value::Bool(x)) => Vector::Bool(Cow::Owned(vec![x; rows])),
        Vector::Const(value) => {
            return Err(EngineError::Evaluation {
                detail: format!("CASE/if/coalesce choosing {value} or NULL over columns"),
            })
        }
        other => other,
    })
}

fn is_text(column: &Column<'_>) -> bool {
    matches!(column.data, Vector::Sym(_) | Vector::Const(Value::Str(_)))
}

fn select<T: Copy>(x: &Operand<'_, T>, y: &Operand<'_, T>, mask: &[bool], rows: usize) -> Vec<T> {
    (0..rows)
        .map(|row| if mask[row] { at(x, row) } else { at(y, row) })
        .collect()
}

fn unchoosable(x: &Column<'_>, y: &Column<'_>) -> EngineError {
    EngineError::Evaluation {
        detail: format!(
            "CASE/if/coalesce choosing between {} and {} over columns",
            kind(x),
            kind(y)
        ),
    }
}

/// `CAST(column AS to)`.
pub(crate) fn cast(
    column: Column<'_>,
    to: DataType,
    rows: usize,
) -> Result<Column<'_>, EngineError> {
    let target = cast_target(to);
    let mask = column.nulls.as_deref();
    let unit = Operand::Scalar(());
    let data = match (&column.data, target) {
        (Vector::Const(value), _) => Vector::Const(cast_value(value, to)?),
        (Vector::Int(v), CastTarget::Int) => {
            let values = Operand::Slice(Cow::Borrowed(&v[..]));
            Vector::Int(Cow::Owned(map_checked(
                &values,
                &unit,
                mask,
                rows,
                |x, ()| int_to_int(x, to),
            )?))
        }
        (Vector::Int(v), CastTarget::Float) => Vector::Float(Cow::Owned(
            v.iter().map(|&x| float_to_float(x as f64, to)).collect(),
        )),
        (Vector::Int(v), CastTarget::Bool) => {
            Vector::Bool(Cow::Owned(v.iter().map(|&x| x != 0).collect()))
        }
        (Vector::Float(v), CastTarget::Int) => {
            let values = Operand::Slice(Cow::Borrowed(&v[..]));
            Vector::Int(Cow::Owned(map_checked(
                &values,
                &unit,
                mask,
                rows,
                |x, ()| float_to_int(x, to),
            )?))
        }
        (Vector::Float(v), CastTarget::Float) => Vector::Float(Cow::Owned(
            v.iter().map(|&x| float_to_float(x, to)).collect(),
        )),
        (Vector::Float(v), CastTarget::Bool) => {
            Vector::Bool(Cow::Owned(v.iter().map(|&x| x != 0.0).collect()))
        }
        (Vector::Bool(v), CastTarget::Int) => {
            Vector::Int(Cow::Owned(v.iter().map(|&x| i64::from(x)).collect()))
        }
        (Vector::Bool(v), CastTarget::Float) => Vector::Float(Cow::Owned(
            v.iter().map(|&x| f64::from(u8::from(x))).collect(),
        )),
        (Vector::Bool(_), CastTarget::Bool) | (Vector::Sym(_), CastTarget::Text) => {
            return Ok(column)
        }
        _ => {
            return Err(EngineError::Evaluation {
                detail: format!("CAST of {} column to {to}", kind(&column)),
            })
        }
    };
    Ok(Column {
        data,
        nulls: column.nulls.clone(),
    })
}
