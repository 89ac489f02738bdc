//! Binding: sqlparser expressions → `ScalarExpr` over a table's columns, with literals typed,
//! timestamp strings converted, and BETWEEN desugared. Also the type of a bound expression.

use quecto_engine::fragment::plan::{BinaryOp, ScalarExpr};
use quecto_engine::schema::TableSchema;
use quecto_engine::time::parse_timestamp_ns;
use quecto_engine::types::{DataType, Value};
use sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value as SqlValue};

use crate::error::QueryError;

/// Where names in an expression come from: a table's columns, or a merged aggregate row.
pub trait Scope {
    /// Binds `expr` itself when this scope gives it a meaning (a column, an aggregate call, a
    /// GROUP BY expression); `None` lets the binder recurse into its structure.
    fn resolve(&mut self, expr: &Expr) -> Option<Result<ScalarExpr, QueryError>>;
    /// The type of `Column(index)` in this scope.
    fn column_type(&self, index: usize) -> DataType;
}

/// Names are the columns of one table (or nothing, for constants).
pub struct TableScope<'a> {
    /// The table; `None` in FROM-less SELECTs and VALUES.
    pub schema: Option<&'a TableSchema>,
}

impl Scope for TableScope<'_> {
    fn resolve(&mut self, expr: &Expr) -> Option<Result<ScalarExpr, QueryError>> {
        let name = match expr {
            Expr::Identifier(ident) => &ident.value,
            Expr::CompoundIdentifier(parts) => {
                let dotted: Vec<&str> = parts.iter().map(|p| p.value.as_str()).collect();
                let dotted = dotted.join(".");
                if let Some(index) = self.schema.and_then(|s| s.column_index(&dotted)) {
                    return Some(Ok(ScalarExpr::Column(index)));
                }
                &parts.last()?.value
            }
            _ => return None,
        };
        Some(column_index(name, self.schema).map(ScalarExpr::Column))
    }

    fn column_type(&self, index: usize) -> DataType {
        self.schema
            .map_or(DataType::Int64, |s| s.columns[index].data_type)
    }
}

/// Binds `expr` against `schema` (`None`: no table, constants only).
pub fn bind_scalar(expr: &Expr, schema: Option<&TableSchema>) -> Result<ScalarExpr, QueryError> {
    bind(expr, &mut TableScope { schema })
}

/// Binds `expr` in `scope`.
pub fn bind(expr: &Expr, scope: &mut dyn Scope) -> Result<ScalarExpr, QueryError> {
    if let Some(bound) = scope.resolve(expr) {
        return bound;
    }
    Ok(match expr {
        Expr::Value(v) => ScalarExpr::Literal(literal(&v.value)?),
        Expr::Nested(inner) => bind(inner, scope)?,
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => ScalarExpr::Not(Box::new(bind(expr, scope)?)),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match bind(expr, scope)? {
            ScalarExpr::Literal(Value::Int(v)) => ScalarExpr::Literal(Value::Int(-v)),
            ScalarExpr::Literal(Value::Float(v)) => ScalarExpr::Literal(Value::Float(-v)),
            other => ScalarExpr::Negate(Box::new(other)),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => bind(expr, scope)?,
        Expr::BinaryOp { left, op, right } => {
            let op = binary_op(op)?;
            let (l, r) = (bind(left, scope)?, bind(right, scope)?);
            coerce_comparison(op, l, r, scope)?
        }
        Expr::IsNull(inner) => ScalarExpr::IsNull {
            expr: Box::new(bind(inner, scope)?),
            negated: false,
        },
        Expr::IsNotNull(inner) => ScalarExpr::IsNull {
            expr: Box::new(bind(inner, scope)?),
            negated: true,
        },
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let bound = bind(expr, scope)?;
            let timestamps = is_timestamp(&bound, scope);
            let list: Vec<Value> = list
                .iter()
                .map(|item| constant(item, timestamps))
                .collect::<Result<_, _>>()?;
            for item in &list {
                check_comparable(&bound, &ScalarExpr::Literal(item.clone()), scope)?;
            }
            ScalarExpr::InList {
                expr: Box::new(bound),
                list,
                negated: *negated,
            }
        }
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let x = bind(expr, scope)?;
            let (low, high) = (bind(low, scope)?, bind(high, scope)?);
            let low = coerce_comparison(BinaryOp::GtEq, x.clone(), low, scope)?;
            let high = coerce_comparison(BinaryOp::LtEq, x, high, scope)?;
            let both = ScalarExpr::Binary {
                op: BinaryOp::And,
                left: Box::new(low),
                right: Box::new(high),
            };
            if *negated {
                ScalarExpr::Not(Box::new(both))
            } else {
                both
            }
        }
        Expr::Function(f) => {
            return Err(QueryError::Unsupported {
                what: format!("function `{}` in this position", f.name),
            })
        }
        other => {
            return Err(QueryError::Unsupported {
                what: format!("expression `{other}`"),
            })
        }
    })
}

fn column_index(name: &str, schema: Option<&TableSchema>) -> Result<usize, QueryError> {
    schema
        .and_then(|s| s.column_index(name))
        .ok_or_else(|| QueryError::UnknownColumn {
            column: name.to_string(),
            table: schema.map(|s| s.name.clone()),
        })
}

/// A SQL literal as a value.
pub fn literal(value: &SqlValue) -> Result<Value, QueryError> {
    Ok(match value {
        SqlValue::Number(text, _) => match text.parse::<i64>() {
            Ok(v) => Value::Int(v),
            Err(_) => Value::Float(text.parse().map_err(|_| QueryError::Type {
                detail: format!("bad number {text}"),
            })?),
        },
        SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => Value::Str(s.clone()),
        SqlValue::Boolean(b) => Value::Bool(*b),
        SqlValue::Null => Value::Null,
        other => {
            return Err(QueryError::Unsupported {
                what: format!("literal {other}"),
            })
        }
    })
}

/// A constant expression (a literal, possibly negated), converting timestamp text when asked.
pub fn constant(expr: &Expr, as_timestamp: bool) -> Result<Value, QueryError> {
    let bound = bind_scalar(expr, None).map_err(|_| QueryError::Type {
        detail: format!("`{expr}` is not a constant"),
    })?;
    let value = crate::row_eval::eval_row(&bound, &[])?;
    Ok(if as_timestamp {
        timestamp_literal(value)?
    } else {
        value
    })
}

fn timestamp_literal(value: Value) -> Result<Value, QueryError> {
    match value {
        Value::Str(text) => {
            parse_timestamp_ns(&text)
                .map(Value::Int)
                .ok_or_else(|| QueryError::Type {
                    detail: format!("'{text}' is not a timestamp"),
                })
        }
        other => Ok(other),
    }
}

fn is_timestamp(expr: &ScalarExpr, scope: &dyn Scope) -> bool {
    matches!(expr, ScalarExpr::Column(i) if scope.column_type(*i) == DataType::Timestamp)
}

/// Builds `l op r`, turning a string literal compared with a timestamp column into ns.
fn coerce_comparison(
    op: BinaryOp,
    l: ScalarExpr,
    r: ScalarExpr,
    scope: &dyn Scope,
) -> Result<ScalarExpr, QueryError> {
    let fix = |side: ScalarExpr, other: &ScalarExpr| match side {
        ScalarExpr::Literal(Value::Str(text))
            if op.is_comparison() && is_timestamp(other, scope) =>
        {
            match parse_timestamp_ns(&text) {
                Some(ns) => Ok(ScalarExpr::Literal(Value::Int(ns))),
                None => Err(QueryError::Type {
                    detail: format!("'{text}' is not a timestamp"),
                }),
            }
        }
        side => Ok(side),
    };
    let l2 = fix(l, &r)?;
    let r2 = fix(r, &l2)?;
    if op.is_comparison() {
        check_comparable(&l2, &r2, scope)?;
    }
    Ok(ScalarExpr::Binary {
        op,
        left: Box::new(l2),
        right: Box::new(r2),
    })
}

/// The type of a column or literal, when the binder knows it without evaluating anything.
fn known_type(expr: &ScalarExpr, scope: &dyn Scope) -> Option<DataType> {
    match expr {
        ScalarExpr::Column(index) => Some(scope.column_type(*index)),
        ScalarExpr::Literal(Value::Int(_)) => Some(DataType::Int64),
        ScalarExpr::Literal(Value::Float(_)) => Some(DataType::Float64),
        ScalarExpr::Literal(Value::Str(_)) => Some(DataType::Symbol),
        _ => None,
    }
}

/// Refuses comparing text with numbers (ClickHouse does too): `symbol = 1` on a SYMBOL column
/// would otherwise match nothing, silently.
fn check_comparable(l: &ScalarExpr, r: &ScalarExpr, scope: &dyn Scope) -> Result<(), QueryError> {
    let numeric = |t: DataType| t.is_numeric();
    match (known_type(l, scope), known_type(r, scope)) {
        (Some(a), Some(b))
            if (a == DataType::Symbol && numeric(b)) || (numeric(a) && b == DataType::Symbol) =>
        {
            Err(QueryError::Type {
                detail: format!(
                    "cannot compare a {} value with a {} value",
                    a.sql_name(),
                    b.sql_name()
                ),
            })
        }
        _ => Ok(()),
    }
}

/// The operator of a SQL binary operator we support.
pub(crate) fn binary_op(op: &BinaryOperator) -> Result<BinaryOp, QueryError> {
    Ok(match op {
        BinaryOperator::Plus => BinaryOp::Add,
        BinaryOperator::Minus => BinaryOp::Subtract,
        BinaryOperator::Multiply => BinaryOp::Multiply,
        BinaryOperator::Divide => BinaryOp::Divide,
        BinaryOperator::Modulo => BinaryOp::Modulo,
        BinaryOperator::Eq => BinaryOp::Eq,
        BinaryOperator::NotEq => BinaryOp::NotEq,
        BinaryOperator::Lt => BinaryOp::Lt,
        BinaryOperator::LtEq => BinaryOp::LtEq,
        BinaryOperator::Gt => BinaryOp::Gt,
        BinaryOperator::GtEq => BinaryOp::GtEq,
        BinaryOperator::And => BinaryOp::And,
        BinaryOperator::Or => BinaryOp::Or,
        other => {
            return Err(QueryError::Unsupported {
                what: format!("operator {other}"),
            })
        }
    })
}

/// The type of a bound expression whose `Column(i)` has type `inputs[i]`.
pub fn type_of(expr: &ScalarExpr, inputs: &[DataType]) -> DataType {
    match expr {
        ScalarExpr::Column(i) => inputs.get(*i).copied().unwrap_or(DataType::Int64),
        ScalarExpr::Literal(v) => match v {
            Value::Int(_) | Value::Null => DataType::Int64,
            Value::Float(_) => DataType::Float64,
            Value::Bool(_) => DataType::Bool,
            Value::Str(_) => DataType::Symbol,
        },
        ScalarExpr::Binary { op, left, right } => {
            if op.is_comparison() || matches!(op, BinaryOp::And | BinaryOp::Or) {
                return DataType::Bool;
            }
            let (l, r) = (type_of(left, inputs), type_of(right, inputs));
            if *op == BinaryOp::Divide || l.is_float() || r.is_float() {
                DataType::Float64
            } else {
                DataType::Int64
            }
        }
        ScalarExpr::Not(_) | ScalarExpr::IsNull { .. } | ScalarExpr::InList { .. } => {
            DataType::Bool
        }
        ScalarExpr::Negate(inner) => match type_of(inner, inputs) {
            t if t.is_float() => DataType::Float64,
            _ => DataType::Int64,
        },
    }
}
