//! Column vectors: the values of one expression over one chunk, borrowed from storage where
//! possible, with a NULL mask. Expressions evaluate to these; kernels loop over their slices.

use std::borrow::Cow;

use crate::types::Value;

/// Values of an expression over the rows of a chunk.
#[derive(Clone, Debug, PartialEq)]
pub enum Vector<'a> {
    /// Integers and timestamps.
    Int(Cow<'a, [i64]>),
    /// Floats.
    Float(Cow<'a, [f64]>),
    /// Booleans.
    Bool(Cow<'a, [bool]>),
    /// Symbol ids into the shard's dictionary for the table.
    Sym(Cow<'a, [u32]>),
    /// One value for every row (literals, the partition key, folded constants).
    Const(Value),
}

/// A vector plus its NULL mask (`true` = NULL; `None` = no NULLs).
#[derive(Clone, Debug, PartialEq)]
pub struct Column<'a> {
    /// The values.
    pub data: Vector<'a>,
    /// The NULL mask.
    pub nulls: Option<Cow<'a, [bool]>>,
}

impl<'a> Column<'a> {
    /// A column without NULLs.
    pub fn new(data: Vector<'a>) -> Column<'a> {
        Column { data, nulls: None }
    }

    /// A constant column.
    pub fn constant(value: Value) -> Column<'a> {
        Column {
            data: Vector::Const(value),
            nulls: None,
        }
    }

    /// A column holding `values`, typed by them: integers, floats (integers among floats become
    /// floats), booleans, or one string repeated (a partition's symbol); NULLs go to the mask.
    /// `None` for other mixes, or differing strings.
    pub fn from_values(values: &[Value]) -> Option<Column<'static>> {
        let present = |v: &&Value| !v.is_null();
        let Some(first) = values.iter().find(present) else {
            return Some(Column::constant(Value::Null));
        };
        let nulls: Vec<bool> = values.iter().map(Value::is_null).collect();
        let nulls = nulls.contains(&true).then_some(Cow::Owned(nulls));
        let all = |kind: fn(&Value) -> bool| values.iter().filter(present).all(kind);
        let data = if all(|v| matches!(v, Value::Int(_))) {
            Vector::Int(
                values
                    .iter()
                    .map(|v| if let Value::Int(x) = v { *x } else { 0 })
                    .collect(),
            )
        } else if all(|v| matches!(v, Value::Int(_) | Value::Float(_))) {
            Vector::Float(values.iter().map(|v| v.as_f64().unwrap_or(0.0)).collect())
        } else if all(|v| matches!(v, Value::Bool(_))) {
            Vector::Bool(
                values
                    .iter()
                    .map(|v| matches!(v, Value::Bool(true)))
                    .collect(),
            )
        } else if values.iter().filter(present).all(|v| v == first) {
            Vector::Const(first.clone())
        } else {
            return None;
        };
        Some(match data {
            // A repeated string with NULLs among it cannot be a constant.
            Vector::Const(_) if nulls.is_some() => return None,
            data => Column { data, nulls },
        })
    }

    /// True when row `row` is NULL.
    pub fn is_null(&self, row: usize) -> bool {
        match &self.data {
            Vector::Const(v) => v.is_null(),
            _ => self.nulls.as_ref().is_some_and(|m| m[row]),
        }
    }

    /// The value at `row`, with symbol ids resolved by `symbol_name`.
    pub fn value_at(&self, row: usize, symbol_name: &dyn Fn(u32) -> String) -> Value {
        if self.is_null(row) {
            return Value::Null;
        }
        match &self.data {
            Vector::Int(v) => Value::Int(v[row]),
            Vector::Float(v) => Value::Float(v[row]),
            Vector::Bool(v) => Value::Bool(v[row]),
            Vector::Sym(v) => Value::Str(symbol_name(v[row])),
            Vector::Const(v) => v.clone(),
        }
    }

    /// True when rows `a` and `b` hold the same value (NULLs equal each other).
    pub fn rows_equal(&self, a: usize, b: usize) -> bool {
        if self.is_null(a) || self.is_null(b) {
            return self.is_null(a) == self.is_null(b);
        }
        match &self.data {
            Vector::Int(v) => v[a] == v[b],
            Vector::Float(v) => v[a].to_bits() == v[b].to_bits(),
            Vector::Bool(v) => v[a] == v[b],
            Vector::Sym(v) => v[a] == v[b],
            Vector::Const(_) => true,
        }
    }
}

/// One side of a binary kernel: a slice, or a scalar broadcast over every row.
#[derive(Clone, Debug)]
pub enum Operand<'b, T: Clone> {
    /// Per-row values.
    Slice(Cow<'b, [T]>),
    /// One value for all rows.
    Scalar(T),
}

/// `f` applied row by row to two operands of `len` rows. Written as iterator maps over slices
/// so the compiler vectorizes each monomorphized instance.
pub fn map2<T: Copy, U: Copy, R: Clone>(
    left: &Operand<'_, T>,
    right: &Operand<'_, U>,
    len: usize,
    f: impl Fn(T, U) -> R,
) -> Vec<R> {
    match (left, right) {
        (Operand::Slice(a), Operand::Slice(b)) => {
            a.iter().zip(b.iter()).map(|(&x, &y)| f(x, y)).collect()
        }
        (Operand::Slice(a), Operand::Scalar(y)) => a.iter().map(|&x| f(x, *y)).collect(),
        (Operand::Scalar(x), Operand::Slice(b)) => b.iter().map(|&y| f(*x, y)).collect(),
        (Operand::Scalar(x), Operand::Scalar(y)) => vec![f(*x, *y); len],
    }
}

/// The union of two NULL masks.
pub fn union_nulls<'a>(
    a: &Option<Cow<'a, [bool]>>,
    b: &Option<Cow<'a, [bool]>>,
) -> Option<Cow<'a, [bool]>> {
    match (a, b) {
        (None, None) => None,
        (Some(m), None) | (None, Some(m)) => Some(m.clone()),
        (Some(x), Some(y)) => Some(Cow::Owned(
            x.iter().zip(y.iter()).map(|(&p, &q)| p | q).collect(),
        )),
    }
}
