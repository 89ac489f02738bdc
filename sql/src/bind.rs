//! Binding: sqlparser expressions → `ScalarExpr` over a table's columns, with literals typed,
//! timestamp strings and intervals converted to nanoseconds, constant sides of comparisons
//! folded, and BETWEEN desugared. Also the type of a bound expression.

use quecto_engine::fragment::plan::{BinaryOp, ScalarExpr};
use quecto_engine::schema::TableSchema;
use quecto_engine::time::{parse_interval_ns, parse_timestamp_ns};
use quecto_engine::types::{DataType, Value};
use sqlparser::ast::{
    BinaryOperator, CastKind, CeilFloorKind, DateTimeField, Expr, Interval, UnaryOperator,
    Value as SqlValue,
};

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
        Expr::BinaryOp {
            left,
            op: BinaryOperator::DuckIntegerDivide | BinaryOperator::MyIntegerDivide,
            right,
        } => crate::functions::integer_division(bind(left, scope)?, bind(right, scope)?, scope)?,
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
        Expr::Function(f) => crate::functions::bind_function(f, scope)?,
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            let operand = operand.as_ref().map(|o| bind(o, scope)).transpose()?;
            let mut branches = Vec::with_capacity(conditions.len());
            for when in conditions {
                let condition = bind(&when.condition, scope)?;
                let condition = match &operand {
                    Some(value) => coerce_operand(value, condition, scope)?,
                    None => condition,
                };
                branches.push((condition, bind(&when.result, scope)?));
            }
            let otherwise = else_result.as_ref().map(|e| bind(e, scope)).transpose()?;
            crate::functions::case(operand, branches, otherwise, scope)?
        }
        Expr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            expr,
            data_type,
            format: None,
        } => {
            let to =
                DataType::parse(&data_type.to_string()).ok_or_else(|| QueryError::Unsupported {
                    what: format!("CAST to {data_type}"),
                })?;
            crate::functions::cast(bind(expr, scope)?, to, scope)?
        }
        Expr::Interval(interval) => ScalarExpr::Literal(Value::Int(interval_ns(interval)?)),
        Expr::TypedString(typed) => {
            let text = typed.value.clone().into_string().unwrap_or_default();
            match DataType::parse(&typed.data_type.to_string()) {
                Some(DataType::Timestamp) => timestamp_constant(&text)?,
                _ if typed.data_type.to_string().eq_ignore_ascii_case("DATE") => {
                    timestamp_constant(&text)?
                }
                _ => {
                    return Err(QueryError::Unsupported {
                        what: format!("typed literal {expr}"),
                    })
                }
            }
        }
        Expr::Floor {
            expr: inner,
            field: CeilFloorKind::DateTimeField(DateTimeField::NoDateTime),
        } => crate::functions::call_named("floor", vec![bind(inner, scope)?], scope)?,
        Expr::Ceil {
            expr: inner,
            field: CeilFloorKind::DateTimeField(DateTimeField::NoDateTime),
        } => crate::functions::call_named("ceil", vec![bind(inner, scope)?], scope)?,
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

/// `TIMESTAMP 'text'`: the instant as a timestamp-typed constant.
fn timestamp_constant(text: &str) -> Result<ScalarExpr, QueryError> {
    let nanos = parse_timestamp_ns(text).ok_or_else(|| QueryError::Type {
        detail: format!("'{text}' is not a timestamp"),
    })?;
    Ok(timestamp_typed(ScalarExpr::Literal(Value::Int(nanos))))
}

/// An integer expression typed as a timestamp.
pub(crate) fn timestamp_typed(nanos: ScalarExpr) -> ScalarExpr {
    ScalarExpr::Cast {
        expr: Box::new(nanos),
        to: DataType::Timestamp,
    }
}

/// `INTERVAL '5 minutes'`, `INTERVAL 5 MINUTE`, `INTERVAL '1' HOUR` as nanoseconds.
fn interval_ns(interval: &Interval) -> Result<i64, QueryError> {
    let unsupported = || QueryError::Unsupported {
        what: format!(
            "interval `{interval}` (units: ns, us, ms, s, m, h, d, w and their long names)"
        ),
    };
    if interval.last_field.is_some() {
        return Err(unsupported());
    }
    let amount = match constant(&interval.value, false)? {
        Value::Str(text) => text,
        Value::Int(n) => n.to_string(),
        Value::Float(x) => x.to_string(),
        _ => return Err(unsupported()),
    };
    let unit = interval.leading_field.as_ref().map(ToString::to_string);
    parse_interval_ns(&amount, unit.as_deref()).ok_or_else(unsupported)
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
    !matches!(expr, ScalarExpr::Literal(_)) && type_in(expr, scope) == DataType::Timestamp
}

/// `value = condition` of a simple CASE's WHEN, with the WHEN side coerced like a comparison.
fn coerce_operand(
    value: &ScalarExpr,
    condition: ScalarExpr,
    scope: &dyn Scope,
) -> Result<ScalarExpr, QueryError> {
    match coerce_comparison(BinaryOp::Eq, value.clone(), condition, scope)? {
        ScalarExpr::Binary { right, .. } => Ok(*right),
        other => Ok(other),
    }
}

/// True when `expr` reads no column (its value is the same on every row).
fn is_constant(expr: &ScalarExpr) -> bool {
    match expr {
        ScalarExpr::Column(_) => false,
        ScalarExpr::Literal(_) => true,
        ScalarExpr::Binary { left, right, .. } => is_constant(left) && is_constant(right),
        ScalarExpr::Not(e)
        | ScalarExpr::Negate(e)
        | ScalarExpr::IsNull { expr: e, .. }
        | ScalarExpr::InList { expr: e, .. }
        | ScalarExpr::Cast { expr: e, .. } => is_constant(e),
        ScalarExpr::Function { args, .. } => args.iter().all(is_constant),
        ScalarExpr::Case {
            operand,
            branches,
            otherwise,
        } => {
            operand.iter().chain(otherwise).all(|e| is_constant(e))
                && branches
                    .iter()
                    .all(|(w, t)| is_constant(w) && is_constant(t))
        }
    }
}

/// A column-free side of a comparison, evaluated now so that zone maps and routing see a
/// literal (`ts > now() - INTERVAL 1 HOUR`).
fn fold(side: ScalarExpr) -> Result<ScalarExpr, QueryError> {
    if matches!(side, ScalarExpr::Literal(_)) || !is_constant(&side) {
        return Ok(side);
    }
    Ok(ScalarExpr::Literal(crate::row_eval::eval_row(&side, &[])?))
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
        let (l3, r3) = (fold(l2)?, fold(r2)?);
        return Ok(ScalarExpr::Binary {
            op,
            left: Box::new(l3),
            right: Box::new(r3),
        });
    }
    Ok(ScalarExpr::Binary {
        op,
        left: Box::new(l2),
        right: Box::new(r2),
    })
}

/// The type of an expression, unknown for NULL.
fn known_type(expr: &ScalarExpr, scope: &dyn Scope) -> Option<DataType> {
    match expr {
        ScalarExpr::Literal(Value::Null) => None,
        _ => Some(type_in(expr, scope)),
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
    type_with(expr, &|i| inputs.get(i).copied().unwrap_or(DataType::Int64))
}

/// The type of a bound expression in `scope`.
pub(crate) fn type_in(expr: &ScalarExpr, scope: &dyn Scope) -> DataType {
    type_with(expr, &|i| scope.column_type(i))
}

fn type_with(expr: &ScalarExpr, column: &dyn Fn(usize) -> DataType) -> DataType {
    let of = |e: &ScalarExpr| type_with(e, column);
    match expr {
        ScalarExpr::Column(i) => column(*i),
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
            let (l, r) = (of(left), of(right));
            let timestamp = DataType::Timestamp;
            if *op == BinaryOp::Divide || l.is_float() || r.is_float() {
                DataType::Float64
            } else if (*op == BinaryOp::Add && (l == timestamp) != (r == timestamp))
                || (*op == BinaryOp::Subtract && l == timestamp && r != timestamp)
            {
                timestamp
            } else {
                DataType::Int64
            }
        }
        ScalarExpr::Not(_) | ScalarExpr::IsNull { .. } | ScalarExpr::InList { .. } => {
            DataType::Bool
        }
        ScalarExpr::Negate(inner) => match of(inner) {
            t if t.is_float() => DataType::Float64,
            _ => DataType::Int64,
        },
        ScalarExpr::Function { function, args } => {
            let types: Vec<Option<DataType>> = args
                .iter()
                .map(|a| (!matches!(a, ScalarExpr::Literal(Value::Null))).then(|| of(a)))
                .collect();
            crate::functions::result_type(*function, &types)
        }
        ScalarExpr::Case {
            branches,
            otherwise,
            ..
        } => {
            let results = branches
                .iter()
                .map(|(_, then)| then)
                .chain(otherwise.as_deref());
            let types: Vec<Option<DataType>> = results
                .map(|e| (!matches!(e, ScalarExpr::Literal(Value::Null))).then(|| of(e)))
                .collect();
            crate::functions::unify(&types).unwrap_or(DataType::Int64)
        }
        ScalarExpr::Cast { to, .. } => *to,
    }
}
