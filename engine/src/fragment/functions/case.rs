//! `CASE` over a chunk: conditions decide, per row, which branch answers; each branch's result
//! is then evaluated only over the rows it answers, so a guarded `intDiv(a, b)` never sees the
//! rows where `b = 0`.

use std::borrow::Cow;

use super::columns::choose;
use crate::error::EngineError;
use crate::fragment::eval::{compare, evaluate, selection, EvalContext};
use crate::fragment::plan::{BinaryOp, ScalarExpr};
use crate::fragment::vector::{Column, Vector};
use crate::types::Value;

/// Evaluates `CASE [operand] WHEN .. THEN .. [ELSE ..] END` over the context's chunk.
pub(crate) fn case<'a>(
    operand: Option<&ScalarExpr>,
    branches: &[(ScalarExpr, ScalarExpr)],
    otherwise: Option<&ScalarExpr>,
    ctx: &EvalContext<'a>,
) -> Result<Column<'a>, EngineError> {
    let rows = ctx.rows();
    let operand = operand.map(|o| evaluate(o, ctx)).transpose()?;
    let mut undecided = vec![true; rows];
    let mut answers: Vec<(Vec<bool>, &ScalarExpr)> = Vec::with_capacity(branches.len() + 1);
    for (when, then) in branches {
        let when = evaluate(when, ctx)?;
        let holds = match &operand {
            Some(value) => compare(BinaryOp::Eq, value.clone(), when, ctx)?,
            None => when,
        };
        let holds = selection(holds, rows).unwrap_or_else(|| vec![true; rows]);
        let mask: Vec<bool> = (0..rows).map(|row| holds[row] && undecided[row]).collect();
        for (open, taken) in undecided.iter_mut().zip(&mask) {
            *open &= !taken;
        }
        answers.push((mask, then));
    }
    if let Some(otherwise) = otherwise {
        answers.push((undecided, otherwise));
    }
    let mut result = Column::constant(Value::Null);
    for (mask, expr) in answers {
        if mask.contains(&true) {
            let value = evaluate_where(expr, &mask, ctx)?;
            result = choose(&mask, value, result, rows)?;
        }
    }
    Ok(result)
}

/// `expr` at the rows where `mask` holds; other rows hold unspecified values. Columns and
/// literals (which cannot fail) and full masks evaluate over the whole chunk.
fn evaluate_where<'a>(
    expr: &ScalarExpr,
    mask: &[bool],
    ctx: &EvalContext<'a>,
) -> Result<Column<'a>, EngineError> {
    let cannot_fail = matches!(expr, ScalarExpr::Column(_) | ScalarExpr::Literal(_));
    if cannot_fail || !mask.contains(&false) {
        return evaluate(expr, ctx);
    }
    let indices: Vec<u32> = (0..mask.len())
        .filter(|&row| mask[row])
        .map(|row| row as u32)
        .collect();
    let taken = ctx.take(&indices);
    let subset = taken.context(ctx.key, ctx.dictionary);
    let value = evaluate(expr, &subset)?;
    Ok(scatter(&value, &indices, mask.len()))
}

/// A column over `indices` spread back over `rows` rows (rows outside `indices` hold zeros).
fn scatter(value: &Column<'_>, indices: &[u32], rows: usize) -> Column<'static> {
    fn spread<T: Copy + Default>(values: &[T], indices: &[u32], rows: usize) -> Vec<T> {
        let mut out = vec![T::default(); rows];
        for (&index, &v) in indices.iter().zip(values) {
            out[index as usize] = v;
        }
        out
    }
    let data = match &value.data {
        Vector::Int(v) => Vector::Int(Cow::Owned(spread(v, indices, rows))),
        Vector::Float(v) => Vector::Float(Cow::Owned(spread(v, indices, rows))),
        Vector::Bool(v) => Vector::Bool(Cow::Owned(spread(v, indices, rows))),
        Vector::Sym(v) => Vector::Sym(Cow::Owned(spread(v, indices, rows))),
        Vector::Const(v) => Vector::Const(v.clone()),
    };
    let nulls = value
        .nulls
        .as_ref()
        .map(|n| Cow::Owned(spread(n, indices, rows)));
    Column { data, nulls }
}
