//! Row-at-a-time evaluation of bound expressions over small merged results (HAVING, final
//! projection, constant SELECTs, INSERT VALUES). Column kernels live in the engine; this is
//! for the coordinator's few rows.

use quecto_engine::fragment::functions::{apply_to_values, cast_value};
use quecto_engine::fragment::plan::{BinaryOp, ScalarExpr};
use quecto_engine::types::Value;
use quecto_engine::EngineError;

/// Evaluates `expr` where `Column(i)` is `row[i]`.
pub fn eval_row(expr: &ScalarExpr, row: &[Value]) -> Result<Value, EngineError> {
    Ok(match expr {
        ScalarExpr::Column(i) => row.get(*i).cloned().unwrap_or(Value::Null),
        ScalarExpr::Literal(v) => v.clone(),
        ScalarExpr::Binary { op, left, right } => {
            binary(*op, eval_row(left, row)?, eval_row(right, row)?)?
        }
        ScalarExpr::Not(inner) => match eval_row(inner, row)? {
            Value::Bool(b) => Value::Bool(!b),
            Value::Null => Value::Null,
            other => {
                return Err(EngineError::Evaluation {
                    detail: format!("NOT {other}"),
                })
            }
        },
        ScalarExpr::Negate(inner) => match eval_row(inner, row)? {
            Value::Int(v) => Value::Int(v.checked_neg().ok_or_else(|| overflow("negation"))?),
            Value::Float(v) => Value::Float(-v),
            Value::Null => Value::Null,
            other => {
                return Err(EngineError::Evaluation {
                    detail: format!("-{other}"),
                })
            }
        },
        ScalarExpr::IsNull { expr, negated } => {
            Value::Bool(eval_row(expr, row)?.is_null() != *negated)
        }
        ScalarExpr::InList {
            expr,
            list,
            negated,
        } => {
            let value = eval_row(expr, row)?;
            if value.is_null() {
                Value::Null
            } else {
                Value::Bool(list.iter().any(|item| equal(&value, item)) != *negated)
            }
        }
        ScalarExpr::Function { function, args } => {
            let values = args
                .iter()
                .map(|arg| eval_row(arg, row))
                .collect::<Result<Vec<_>, _>>()?;
            apply_to_values(*function, &values)?
        }
        ScalarExpr::Case {
            operand,
            branches,
            otherwise,
        } => case(operand.as_deref(), branches, otherwise.as_deref(), row)?,
        ScalarExpr::Cast { expr, to } => cast_value(&eval_row(expr, row)?, *to)?,
    })
}

/// The first branch whose condition is TRUE (or whose value equals the operand) answers.
fn case(
    operand: Option<&ScalarExpr>,
    branches: &[(ScalarExpr, ScalarExpr)],
    otherwise: Option<&ScalarExpr>,
    row: &[Value],
) -> Result<Value, EngineError> {
    let operand = operand.map(|o| eval_row(o, row)).transpose()?;
    for (when, then) in branches {
        let when = eval_row(when, row)?;
        let holds = match &operand {
            Some(value) => binary(BinaryOp::Eq, value.clone(), when)?,
            None => when,
        };
        if holds == Value::Bool(true) {
            return eval_row(then, row);
        }
    }
    otherwise.map_or(Ok(Value::Null), |e| eval_row(e, row))
}

fn overflow(what: &str) -> EngineError {
    EngineError::Overflow {
        function: what.to_string(),
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Str(_), _) | (_, Value::Str(_)) => false,
        _ => a.total_cmp(b).is_eq(),
    }
}

fn binary(op: BinaryOp, l: Value, r: Value) -> Result<Value, EngineError> {
    match op {
        BinaryOp::And => return Ok(kleene(l, r, true)),
        BinaryOp::Or => return Ok(kleene(l, r, false)),
        _ => {}
    }
    if l.is_null() || r.is_null() {
        return Ok(Value::Null);
    }
    if op.is_comparison() {
        let comparable = matches!((&l, &r), (Value::Str(_), Value::Str(_)))
            || (!matches!(l, Value::Str(_)) && !matches!(r, Value::Str(_)));
        if !comparable {
            return Err(EngineError::Evaluation {
                detail: format!("comparison of {l} and {r}"),
            });
        }
        let ordering = l.total_cmp(&r);
        return Ok(Value::Bool(op.holds(ordering)));
    }
    arithmetic(op, l, r)
}

fn arithmetic(op: BinaryOp, l: Value, r: Value) -> Result<Value, EngineError> {
    if let (Value::Int(a), Value::Int(b), false) = (&l, &r, op == BinaryOp::Divide) {
        let result = match op {
            BinaryOp::Add => a.checked_add(*b),
            BinaryOp::Subtract => a.checked_sub(*b),
            BinaryOp::Multiply => a.checked_mul(*b),
            _ if *b == 0 => {
                return Err(EngineError::Evaluation {
                    detail: "modulo by zero".into(),
                })
            }
            _ => a.checked_rem(*b),
        };
        return result
            .map(Value::Int)
            .ok_or_else(|| overflow(&format!("{op:?}")));
    }
    let (Some(a), Some(b)) = (l.as_f64(), r.as_f64()) else {
        return Err(EngineError::Evaluation {
            detail: format!("{op:?} of {l} and {r}"),
        });
    };
    Ok(Value::Float(match op {
        BinaryOp::Add => a + b,
        BinaryOp::Subtract => a - b,
        BinaryOp::Multiply => a * b,
        BinaryOp::Divide => a / b,
        _ => a % b,
    }))
}

fn kleene(l: Value, r: Value, is_and: bool) -> Value {
    let as_bool = |v: &Value| match v {
        Value::Bool(b) => Some(*b),
        Value::Int(i) => Some(*i != 0),
        _ => None,
    };
    match (as_bool(&l), as_bool(&r)) {
        (Some(a), Some(b)) => Value::Bool(if is_and { a && b } else { a || b }),
        (Some(x), None) | (None, Some(x)) if x != is_and => Value::Bool(x),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(v: Value) -> Box<ScalarExpr> {
        Box::new(ScalarExpr::Literal(v))
    }

    #[test]
    fn integer_arithmetic_is_checked_and_division_is_float() {
        let add = ScalarExpr::Binary {
            op: BinaryOp::Add,
            left: lit(Value::Int(i64::MAX)),
            right: lit(Value::Int(1)),
        };
        assert!(eval_row(&add, &[]).is_err());
        let div = ScalarExpr::Binary {
            op: BinaryOp::Divide,
            left: lit(Value::Int(1)),
            right: lit(Value::Int(4)),
        };
        assert_eq!(eval_row(&div, &[]).unwrap(), Value::Float(0.25));
    }

    #[test]
    fn kleene_logic_with_nulls() {
        let or = ScalarExpr::Binary {
            op: BinaryOp::Or,
            left: lit(Value::Null),
            right: lit(Value::Bool(true)),
        };
        assert_eq!(eval_row(&or, &[]).unwrap(), Value::Bool(true));
        let and = ScalarExpr::Binary {
            op: BinaryOp::And,
            left: lit(Value::Null),
            right: lit(Value::Bool(true)),
        };
        assert_eq!(eval_row(&and, &[]).unwrap(), Value::Null);
    }
}
