//! Evaluates a `ScalarExpr` over one chunk into a `Column`, one operator at a time over whole
//! slices: no per-row dispatch, no per-row allocation.

use std::borrow::Cow;
use std::ops::Range;

use super::functions::{case::case, columns};
use super::plan::{BinaryOp, ScalarExpr};
use super::vector::{map2, union_nulls, Column, Operand, Vector};
use crate::batch::SymbolKey;
use crate::error::EngineError;
use crate::storage::chunk::{Chunk, ColumnData};
use crate::storage::dictionary::SymbolDictionary;
use crate::types::Value;

/// Where the columns an expression reads come from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// A stored chunk of a partition: columns by schema index.
    Chunk(&'a Chunk),
    /// Columns computed in memory, by position: a partition's finished groups, which a
    /// second aggregate reads.
    Columns(&'a [Column<'a>]),
}

/// What an expression can see: a window of consecutive rows of one source of one partition.
pub struct EvalContext<'a> {
    /// The columns.
    pub source: Source<'a>,
    /// The rows in view; row 0 of every evaluated column is `window.start`.
    pub window: Range<usize>,
    /// The partition's symbol (the value of the symbol column on every row).
    pub key: &'a SymbolKey,
    /// The table's dictionary on this shard.
    pub dictionary: &'a SymbolDictionary,
}

impl<'a> EvalContext<'a> {
    /// A view of every row of `chunk`.
    pub fn whole(
        chunk: &'a Chunk,
        key: &'a SymbolKey,
        dictionary: &'a SymbolDictionary,
    ) -> EvalContext<'a> {
        EvalContext {
            source: Source::Chunk(chunk),
            window: 0..chunk.rows_count,
            key,
            dictionary,
        }
    }

    /// A view of `rows` rows of in-memory `columns`, each that long (or constant).
    pub fn over_columns(
        columns: &'a [Column<'a>],
        rows: usize,
        key: &'a SymbolKey,
        dictionary: &'a SymbolDictionary,
    ) -> EvalContext<'a> {
        EvalContext {
            source: Source::Columns(columns),
            window: 0..rows,
            key,
            dictionary,
        }
    }

    /// The number of rows in view.
    pub(crate) fn rows(&self) -> usize {
        self.window.len()
    }

    /// The chunk in view, when the source is one.
    pub fn chunk(&self) -> Option<&'a Chunk> {
        match self.source {
            Source::Chunk(chunk) => Some(chunk),
            Source::Columns(_) => None,
        }
    }

    /// The timestamps of the rows in view (empty when `timestamp_index` is not a timestamp, or
    /// the source has no designated timestamp).
    pub fn timestamps(&self, timestamp_index: usize) -> &'a [i64] {
        self.chunk()
            .and_then(|chunk| chunk.timestamps(timestamp_index).get(self.window.clone()))
            .unwrap_or(&[])
    }

    /// The rows at `indices` (positions in view) as a source of their own.
    pub(crate) fn take(&self, indices: &[u32]) -> Taken {
        match self.source {
            Source::Chunk(chunk) => {
                let offset = self.window.start as u32;
                let rows: Vec<u32> = indices.iter().map(|&i| i + offset).collect();
                Taken::Chunk(chunk.take(&rows))
            }
            Source::Columns(columns) => Taken::Columns(
                columns
                    .iter()
                    .map(|c| take_rows(c, self.window.start, indices))
                    .collect(),
                indices.len(),
            ),
        }
    }
}

/// Rows taken out of a source (`EvalContext::take`), owned.
pub(crate) enum Taken {
    /// Rows of a chunk.
    Chunk(Chunk),
    /// Rows of in-memory columns, and how many.
    Columns(Vec<Column<'static>>, usize),
}

impl Taken {
    /// A view of every taken row, for the partition of `key`.
    pub(crate) fn context<'b>(
        &'b self,
        key: &'b SymbolKey,
        dictionary: &'b SymbolDictionary,
    ) -> EvalContext<'b> {
        match self {
            Taken::Chunk(chunk) => EvalContext::whole(chunk, key, dictionary),
            Taken::Columns(columns, rows) => {
                EvalContext::over_columns(columns, *rows, key, dictionary)
            }
        }
    }
}

/// Rows `offset + indices` of `column`, owned.
fn take_rows(column: &Column<'_>, offset: usize, indices: &[u32]) -> Column<'static> {
    fn gather<T: Copy>(values: &[T], offset: usize, indices: &[u32]) -> Vec<T> {
        indices
            .iter()
            .map(|&i| values[offset + i as usize])
            .collect()
    }
    let data = match &column.data {
        Vector::Int(v) => Vector::Int(Cow::Owned(gather(v, offset, indices))),
        Vector::Float(v) => Vector::Float(Cow::Owned(gather(v, offset, indices))),
        Vector::Bool(v) => Vector::Bool(Cow::Owned(gather(v, offset, indices))),
        Vector::Sym(v) => Vector::Sym(Cow::Owned(gather(v, offset, indices))),
        Vector::Const(value) => Vector::Const(value.clone()),
    };
    let nulls = column
        .nulls
        .as_ref()
        .map(|mask| Cow::Owned(gather(mask, offset, indices)));
    Column { data, nulls }
}

/// Evaluates `expr` over every row of the context's chunk.
pub fn evaluate<'a>(expr: &ScalarExpr, ctx: &EvalContext<'a>) -> Result<Column<'a>, EngineError> {
    match expr {
        ScalarExpr::Column(index) => column(ctx, *index),
        ScalarExpr::Literal(value) => Ok(Column::constant(value.clone())),
        ScalarExpr::Binary { op, left, right } => {
            let (l, r) = (evaluate(left, ctx)?, evaluate(right, ctx)?);
            binary(*op, l, r, ctx)
        }
        ScalarExpr::Not(inner) => not(evaluate(inner, ctx)?),
        ScalarExpr::Negate(inner) => negate(evaluate(inner, ctx)?),
        ScalarExpr::IsNull { expr, negated } => {
            Ok(is_null(&evaluate(expr, ctx)?, *negated, ctx.rows()))
        }
        ScalarExpr::InList {
            expr,
            list,
            negated,
        } => in_list(evaluate(expr, ctx)?, list, *negated, ctx),
        ScalarExpr::Function { function, args } => {
            let args = args
                .iter()
                .map(|arg| evaluate(arg, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            columns::call(*function, args, ctx.rows())
        }
        ScalarExpr::Case {
            operand,
            branches,
            otherwise,
        } => case(operand.as_deref(), branches, otherwise.as_deref(), ctx),
        ScalarExpr::Cast { expr, to } => columns::cast(evaluate(expr, ctx)?, *to, ctx.rows()),
    }
}

fn column<'a>(ctx: &EvalContext<'a>, index: usize) -> Result<Column<'a>, EngineError> {
    match ctx.source {
        Source::Chunk(chunk) => Ok(stored_column(ctx, chunk, index)),
        Source::Columns(columns) => {
            let column = columns.get(index).ok_or_else(|| EngineError::Internal {
                detail: format!("column #{index} of {} in memory", columns.len()),
            })?;
            Ok(window_of(column, ctx.window.clone()))
        }
    }
}

fn stored_column<'a>(ctx: &EvalContext<'a>, chunk: &'a Chunk, index: usize) -> Column<'a> {
    let stored = &chunk.columns[index];
    let rows = ctx.window.clone();
    let data = match &stored.data {
        ColumnData::Int64(v) | ColumnData::Timestamp(v) => Vector::Int(Cow::Borrowed(&v[rows])),
        ColumnData::Int32(v) => {
            Vector::Int(Cow::Owned(v[rows].iter().map(|&x| i64::from(x)).collect()))
        }
        ColumnData::Float64(v) => Vector::Float(Cow::Borrowed(&v[rows])),
        ColumnData::Float32(v) => {
            Vector::Float(Cow::Owned(v[rows].iter().map(|&x| f64::from(x)).collect()))
        }
        ColumnData::Bool(v) => Vector::Bool(Cow::Borrowed(&v[rows])),
        ColumnData::SymbolIds(v) => Vector::Sym(Cow::Borrowed(&v[rows])),
        ColumnData::PartitionKey => Vector::Const(ctx.key.to_value()),
    };
    Column {
        data,
        nulls: stored
            .nulls
            .as_deref()
            .map(|mask| Cow::Borrowed(&mask[ctx.window.clone()])),
    }
}

/// Rows `rows` of an in-memory column, borrowed.
fn window_of<'a>(column: &'a Column<'a>, rows: Range<usize>) -> Column<'a> {
    let data = match &column.data {
        Vector::Int(v) => Vector::Int(Cow::Borrowed(&v[rows.clone()])),
        Vector::Float(v) => Vector::Float(Cow::Borrowed(&v[rows.clone()])),
        Vector::Bool(v) => Vector::Bool(Cow::Borrowed(&v[rows.clone()])),
        Vector::Sym(v) => Vector::Sym(Cow::Borrowed(&v[rows.clone()])),
        Vector::Const(value) => Vector::Const(value.clone()),
    };
    Column {
        data,
        nulls: column
            .nulls
            .as_deref()
            .map(|mask| Cow::Borrowed(&mask[rows])),
    }
}

fn binary<'a>(
    op: BinaryOp,
    l: Column<'a>,
    r: Column<'a>,
    ctx: &EvalContext<'a>,
) -> Result<Column<'a>, EngineError> {
    match op {
        BinaryOp::And | BinaryOp::Or => logical(op, l, r, ctx.rows()),
        _ if op.is_comparison() => compare(op, l, r, ctx),
        _ => arithmetic(op, l, r, ctx.rows()),
    }
}

/// The operand of a float kernel; integers are converted.
pub(crate) fn float_operand<'b>(column: &'b Column<'_>) -> Option<Operand<'b, f64>> {
    match &column.data {
        Vector::Float(v) => Some(Operand::Slice(Cow::Borrowed(v))),
        Vector::Int(v) => Some(Operand::Slice(Cow::Owned(
            v.iter().map(|&x| x as f64).collect(),
        ))),
        Vector::Const(value) => value.as_f64().map(Operand::Scalar),
        Vector::Bool(_) | Vector::Sym(_) => None,
    }
}

/// The operand of an integer kernel, when the column is integral.
pub(crate) fn int_operand<'b>(column: &'b Column<'_>) -> Option<Operand<'b, i64>> {
    match &column.data {
        Vector::Int(v) => Some(Operand::Slice(Cow::Borrowed(v))),
        Vector::Const(Value::Int(x)) => Some(Operand::Scalar(*x)),
        _ => None,
    }
}

pub(crate) fn bool_operand<'b>(column: &'b Column<'_>) -> Option<Operand<'b, bool>> {
    match &column.data {
        Vector::Bool(v) => Some(Operand::Slice(Cow::Borrowed(v))),
        Vector::Const(Value::Bool(x)) => Some(Operand::Scalar(*x)),
        Vector::Const(Value::Null) => Some(Operand::Scalar(false)),
        _ => None,
    }
}

pub(crate) fn is_const_null(column: &Column<'_>) -> bool {
    matches!(column.data, Vector::Const(Value::Null))
}

fn mismatch(op: BinaryOp, l: &Column<'_>, r: &Column<'_>) -> EngineError {
    EngineError::Evaluation {
        detail: format!("{op:?} on {} and {}", kind(l), kind(r)),
    }
}

pub(crate) fn kind(column: &Column<'_>) -> &'static str {
    match &column.data {
        Vector::Int(_) | Vector::Const(Value::Int(_)) => "an integer",
        Vector::Float(_) | Vector::Const(Value::Float(_)) => "a float",
        Vector::Bool(_) | Vector::Const(Value::Bool(_)) => "a boolean",
        Vector::Sym(_) | Vector::Const(Value::Str(_)) => "a string",
        Vector::Const(Value::Null) => "NULL",
    }
}

fn arithmetic<'a>(
    op: BinaryOp,
    l: Column<'a>,
    r: Column<'a>,
    rows: usize,
) -> Result<Column<'a>, EngineError> {
    if is_const_null(&l) || is_const_null(&r) {
        return Ok(Column::constant(Value::Null));
    }
    let nulls = union_nulls(&l.nulls, &r.nulls);
    let both_const = matches!((&l.data, &r.data), (Vector::Const(_), Vector::Const(_)));
    let data = match (int_operand(&l), int_operand(&r)) {
        (Some(a), Some(b)) if op != BinaryOp::Divide => {
            Vector::Int(Cow::Owned(int_arithmetic(op, &a, &b, rows)?))
        }
        _ => {
            let (a, b) = match (float_operand(&l), float_operand(&r)) {
                (Some(a), Some(b)) => (a, b),
                _ => return Err(mismatch(op, &l, &r)),
            };
            Vector::Float(Cow::Owned(float_arithmetic(op, &a, &b, rows)?))
        }
    };
    Ok(fold_if_const(Column { data, nulls }, both_const))
}

/// Turns a one-row result of two constants back into a constant.
pub(crate) fn fold_if_const(column: Column<'_>, both_const: bool) -> Column<'_> {
    if !both_const {
        return column;
    }
    let value = match &column.data {
        Vector::Int(v) => v.first().map(|&x| Value::Int(x)),
        Vector::Float(v) => v.first().map(|&x| Value::Float(x)),
        Vector::Bool(v) => v.first().map(|&x| Value::Bool(x)),
        Vector::Sym(_) | Vector::Const(_) => None,
    };
    value.map_or(column, Column::constant)
}

fn int_arithmetic(
    op: BinaryOp,
    a: &Operand<'_, i64>,
    b: &Operand<'_, i64>,
    rows: usize,
) -> Result<Vec<i64>, EngineError> {
    let overflow = |name: &str| EngineError::Overflow {
        function: name.to_string(),
    };
    let (values, overflowed) = match op {
        BinaryOp::Add => (
            map2(a, b, rows, i64::wrapping_add),
            map2(a, b, rows, |x, y| x.checked_add(y).is_none()),
        ),
        BinaryOp::Subtract => (
            map2(a, b, rows, i64::wrapping_sub),
            map2(a, b, rows, |x, y| x.checked_sub(y).is_none()),
        ),
        BinaryOp::Multiply => (
            map2(a, b, rows, i64::wrapping_mul),
            map2(a, b, rows, |x, y| x.checked_mul(y).is_none()),
        ),
        BinaryOp::Modulo => {
            if map2(a, b, rows, |_, y| y == 0).contains(&true) {
                return Err(EngineError::Evaluation {
                    detail: "modulo by zero".into(),
                });
            }
            (map2(a, b, rows, i64::wrapping_rem), Vec::new())
        }
        other => {
            return Err(EngineError::Internal {
                detail: format!("{other:?} is not integer arithmetic"),
            })
        }
    };
    if overflowed.contains(&true) {
        return Err(overflow(&format!("{op:?}")));
    }
    Ok(values)
}

fn float_arithmetic(
    op: BinaryOp,
    a: &Operand<'_, f64>,
    b: &Operand<'_, f64>,
    rows: usize,
) -> Result<Vec<f64>, EngineError> {
    Ok(match op {
        BinaryOp::Add => map2(a, b, rows, |x, y| x + y),
        BinaryOp::Subtract => map2(a, b, rows, |x, y| x - y),
        BinaryOp::Multiply => map2(a, b, rows, |x, y| x * y),
        BinaryOp::Divide => map2(a, b, rows, |x, y| x / y),
        BinaryOp::Modulo => map2(a, b, rows, |x, y| x % y),
        other => {
            return Err(EngineError::Internal {
                detail: format!("{other:?} is not arithmetic"),
            })
        }
    })
}

pub(crate) fn compare<'a>(
    op: BinaryOp,
    l: Column<'a>,
    r: Column<'a>,
    ctx: &EvalContext<'a>,
) -> Result<Column<'a>, EngineError> {
    let rows = ctx.rows();
    if is_const_null(&l) || is_const_null(&r) {
        return Ok(Column::constant(Value::Null));
    }
    let nulls = union_nulls(&l.nulls, &r.nulls);
    let both_const = matches!((&l.data, &r.data), (Vector::Const(_), Vector::Const(_)));
    let values = if let (Some(a), Some(b)) = (int_operand(&l), int_operand(&r)) {
        compare_kernel(op, &a, &b, rows)
    } else if let (Some(a), Some(b)) = (float_operand(&l), float_operand(&r)) {
        compare_kernel(op, &a, &b, rows)
    } else if let (Some(a), Some(b)) = (bool_operand(&l), bool_operand(&r)) {
        compare_kernel(op, &a, &b, rows)
    } else if let (Some(a), Some(b)) = (string_operand(&l, ctx), string_operand(&r, ctx)) {
        compare_strings(op, &a, &b, rows)
    } else {
        return Err(mismatch(op, &l, &r));
    };
    Ok(fold_if_const(
        Column {
            data: Vector::Bool(Cow::Owned(values)),
            nulls,
        },
        both_const,
    ))
}

fn compare_kernel<T: Copy + PartialOrd>(
    op: BinaryOp,
    a: &Operand<'_, T>,
    b: &Operand<'_, T>,
    rows: usize,
) -> Vec<bool> {
    match op {
        BinaryOp::Eq => map2(a, b, rows, |x, y| x == y),
        BinaryOp::NotEq => map2(a, b, rows, |x, y| x != y),
        BinaryOp::Lt => map2(a, b, rows, |x, y| x < y),
        BinaryOp::LtEq => map2(a, b, rows, |x, y| x <= y),
        BinaryOp::Gt => map2(a, b, rows, |x, y| x > y),
        _ => map2(a, b, rows, |x, y| x >= y),
    }
}

/// A string side of a comparison: dictionary ids, or a constant string.
enum StrOperand<'b> {
    Ids(&'b [u32], &'b SymbolDictionary),
    Scalar(&'b str),
}

fn string_operand<'b>(column: &'b Column<'_>, ctx: &EvalContext<'b>) -> Option<StrOperand<'b>> {
    match &column.data {
        Vector::Sym(ids) => Some(StrOperand::Ids(ids, ctx.dictionary)),
        Vector::Const(Value::Str(s)) => Some(StrOperand::Scalar(s)),
        _ => None,
    }
}

fn compare_strings(op: BinaryOp, a: &StrOperand<'_>, b: &StrOperand<'_>, rows: usize) -> Vec<bool> {
    // Equality against a constant compares dictionary ids: one lookup, then an integer kernel.
    let eq = matches!(op, BinaryOp::Eq | BinaryOp::NotEq);
    match (a, b) {
        (StrOperand::Ids(ids, dict), StrOperand::Scalar(s))
        | (StrOperand::Scalar(s), StrOperand::Ids(ids, dict))
            if eq =>
        {
            let target = dict.lookup(s).map_or(u64::MAX, u64::from);
            let want_equal = op == BinaryOp::Eq;
            ids.iter()
                .map(|&id| (u64::from(id) == target) == want_equal)
                .collect()
        }
        _ => {
            let text = |side: &StrOperand<'_>, row: usize| -> String {
                match side {
                    StrOperand::Ids(ids, dict) => dict.name(ids[row]).to_string(),
                    StrOperand::Scalar(s) => s.to_string(),
                }
            };
            (0..rows)
                .map(|row| {
                    let ordering = text(a, row).cmp(&text(b, row));
                    op.holds(ordering)
                })
                .collect()
        }
    }
}

/// Kleene AND/OR: NULL only when the known operands do not decide the result.
fn logical<'a>(
    op: BinaryOp,
    l: Column<'a>,
    r: Column<'a>,
    rows: usize,
) -> Result<Column<'a>, EngineError> {
    let (Some(a), Some(b)) = (bool_operand(&l), bool_operand(&r)) else {
        return Err(mismatch(op, &l, &r));
    };
    let both_const = matches!((&l.data, &r.data), (Vector::Const(_), Vector::Const(_)));
    let null_free = |c: &Column<'_>| c.nulls.is_none() && !is_const_null(c);
    if null_free(&l) && null_free(&r) && !both_const {
        // No NULL on either side: plain two-valued logic.
        let values = match op {
            BinaryOp::And => map2(&a, &b, rows, |x, y| x & y),
            _ => map2(&a, &b, rows, |x, y| x | y),
        };
        return Ok(Column {
            data: Vector::Bool(Cow::Owned(values)),
            nulls: None,
        });
    }
    let (an, bn) = (null_operand(&l), null_operand(&r));
    let known_a = map2(&a, &an, rows, |v, n| (v, n));
    let known_b = map2(&b, &bn, rows, |v, n| (v, n));
    let pairs = Operand::Slice(Cow::Owned(known_a));
    let pairs_b = Operand::Slice(Cow::Owned(known_b));
    let (values, nulls): (Vec<bool>, Vec<bool>) = if op == BinaryOp::And {
        map2(&pairs, &pairs_b, rows, |(x, xn), (y, yn)| {
            let decided_false = (!x && !xn) || (!y && !yn);
            (x && y && !xn && !yn, !decided_false && (xn || yn))
        })
    } else {
        map2(&pairs, &pairs_b, rows, |(x, xn), (y, yn)| {
            let decided_true = (x && !xn) || (y && !yn);
            (decided_true, !decided_true && (xn || yn))
        })
    }
    .into_iter()
    .unzip();
    let nulls = nulls.contains(&true).then_some(Cow::Owned(nulls));
    Ok(Column {
        data: Vector::Bool(Cow::Owned(values)),
        nulls,
    })
}

/// A column's NULL mask as a bool operand.
fn null_operand<'b>(column: &'b Column<'_>) -> Operand<'b, bool> {
    match (&column.data, &column.nulls) {
        (Vector::Const(v), _) => Operand::Scalar(v.is_null()),
        (_, Some(mask)) => Operand::Slice(Cow::Borrowed(mask)),
        (_, None) => Operand::Scalar(false),
    }
}

fn not(column: Column<'_>) -> Result<Column<'_>, EngineError> {
    let data = match &column.data {
        Vector::Bool(v) => Vector::Bool(Cow::Owned(v.iter().map(|x| !x).collect())),
        Vector::Const(Value::Bool(x)) => Vector::Const(Value::Bool(!x)),
        Vector::Const(Value::Null) => Vector::Const(Value::Null),
        _ => {
            return Err(EngineError::Evaluation {
                detail: format!("NOT of {}", kind(&column)),
            })
        }
    };
    Ok(Column {
        data,
        nulls: column.nulls,
    })
}

fn negate(column: Column<'_>) -> Result<Column<'_>, EngineError> {
    let data = match &column.data {
        Vector::Int(v) => Vector::Int(Cow::Owned(v.iter().map(|x| x.wrapping_neg()).collect())),
        Vector::Float(v) => Vector::Float(Cow::Owned(v.iter().map(|x| -x).collect())),
        Vector::Const(Value::Int(x)) => Vector::Const(Value::Int(x.wrapping_neg())),
        Vector::Const(Value::Float(x)) => Vector::Const(Value::Float(-x)),
        Vector::Const(Value::Null) => Vector::Const(Value::Null),
        _ => {
            return Err(EngineError::Evaluation {
                detail: format!("negation of {}", kind(&column)),
            })
        }
    };
    Ok(Column {
        data,
        nulls: column.nulls,
    })
}

fn is_null<'a>(column: &Column<'a>, negated: bool, rows: usize) -> Column<'a> {
    match (&column.data, &column.nulls) {
        (Vector::Const(v), _) => Column::constant(Value::Bool(v.is_null() != negated)),
        (_, None) => Column::constant(Value::Bool(negated)),
        (_, Some(mask)) => {
            debug_assert_eq!(mask.len(), rows);
            Column::new(Vector::Bool(Cow::Owned(
                mask.iter().map(|&n| n != negated).collect(),
            )))
        }
    }
}

fn in_list<'a>(
    column: Column<'a>,
    list: &[Value],
    negated: bool,
    ctx: &EvalContext<'a>,
) -> Result<Column<'a>, EngineError> {
    let mut result: Option<Column<'a>> = None;
    for item in list {
        let hit = compare(
            BinaryOp::Eq,
            column.clone(),
            Column::constant(item.clone()),
            ctx,
        )?;
        result = Some(match result {
            None => hit,
            Some(acc) => logical(BinaryOp::Or, acc, hit, ctx.rows())?,
        });
    }
    let result = result.unwrap_or_else(|| Column::constant(Value::Bool(false)));
    if negated {
        not(result)
    } else {
        Ok(result)
    }
}

/// The rows a filter keeps: `None` when every row passes; NULL counts as false. Takes the
/// filter's column so its mask is reused, not copied.
pub fn selection(filter: Column<'_>, rows: usize) -> Option<Vec<bool>> {
    match (filter.data, filter.nulls) {
        (Vector::Const(Value::Bool(true)), _) => None,
        (Vector::Const(_), _) => Some(vec![false; rows]),
        (Vector::Bool(v), None) => Some(v.into_owned()),
        (Vector::Bool(v), Some(n)) => Some(
            v.iter()
                .zip(n.iter())
                .map(|(&x, &null)| x && !null)
                .collect(),
        ),
        _ => Some(vec![false; rows]),
    }
}
