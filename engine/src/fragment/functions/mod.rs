//! Scalar functions and casts: the math of each, written once per value and shared by the
//! column evaluator (`eval`) and the coordinator's row evaluator. A function picks its kernel
//! from whether any argument is a float; integers and timestamps share the integer kernels.

pub mod bucket;
pub(crate) mod case;
pub(crate) mod columns;

use crate::error::EngineError;
use crate::time::{truncate_to, CalendarUnit};
use crate::types::{DataType, Value};

/// A scalar function of a `ScalarExpr::Function` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScalarFunction {
    /// `intDiv(a, b)`: the quotient truncated toward zero; b = 0 is an error.
    IntDiv,
    /// `floorDiv(a, b)`: integer quotient rounded toward negative infinity (epoch conversions).
    FloorDiv,
    /// `abs(x)`.
    Abs,
    /// `round(x[, n])`: to n decimal places (negative n: tens, hundreds, ...); float ties go
    /// to even as in ClickHouse, integer ties away from zero.
    Round,
    /// `floor(x)`.
    Floor,
    /// `ceil(x)`.
    Ceil,
    /// `sqrt(x)`.
    Sqrt,
    /// `ln(x)` / `log(x)`: the natural logarithm.
    Ln,
    /// `log10(x)`.
    Log10,
    /// `log2(x)`.
    Log2,
    /// `exp(x)`.
    Exp,
    /// `pow(x, y)`.
    Pow,
    /// `greatest(a, b, ...)`: NULL when any argument is NULL.
    Greatest,
    /// `least(a, b, ...)`: NULL when any argument is NULL.
    Least,
    /// `coalesce(a, b, ...)`: the first argument that is not NULL.
    Coalesce,
    /// `xbar(x, step)` = floor(x / step) · step, step > 0 (kdb+); keeps the input's type.
    Xbar,
    /// The start of the calendar week (Monday), month or year holding a timestamp.
    TruncateTo(CalendarUnit),
}

impl ScalarFunction {
    /// The name EXPLAIN and error messages use.
    pub fn name(self) -> &'static str {
        match self {
            ScalarFunction::IntDiv => "intDiv",
            ScalarFunction::FloorDiv => "floorDiv",
            ScalarFunction::Abs => "abs",
            ScalarFunction::Round => "round",
            ScalarFunction::Floor => "floor",
            ScalarFunction::Ceil => "ceil",
            ScalarFunction::Sqrt => "sqrt",
            ScalarFunction::Ln => "ln",
            ScalarFunction::Log10 => "log10",
            ScalarFunction::Log2 => "log2",
            ScalarFunction::Exp => "exp",
            ScalarFunction::Pow => "pow",
            ScalarFunction::Greatest => "greatest",
            ScalarFunction::Least => "least",
            ScalarFunction::Coalesce => "coalesce",
            ScalarFunction::Xbar => "xbar",
            ScalarFunction::TruncateTo(CalendarUnit::Week) => "toMonday",
            ScalarFunction::TruncateTo(CalendarUnit::Month) => "toStartOfMonth",
            ScalarFunction::TruncateTo(CalendarUnit::Year) => "toStartOfYear",
        }
    }

    /// The fewest and most arguments (`None`: any number).
    pub fn arity(self) -> (usize, Option<usize>) {
        match self {
            ScalarFunction::IntDiv
            | ScalarFunction::FloorDiv
            | ScalarFunction::Pow
            | ScalarFunction::Xbar => (2, Some(2)),
            ScalarFunction::Round => (1, Some(2)),
            ScalarFunction::Greatest | ScalarFunction::Least | ScalarFunction::Coalesce => {
                (1, None)
            }
            ScalarFunction::Abs
            | ScalarFunction::Floor
            | ScalarFunction::Ceil
            | ScalarFunction::Sqrt
            | ScalarFunction::Ln
            | ScalarFunction::Log10
            | ScalarFunction::Log2
            | ScalarFunction::Exp
            | ScalarFunction::TruncateTo(_) => (1, Some(1)),
        }
    }

    /// True for functions of any number of arguments, folded pairwise left to right.
    pub fn is_variadic(self) -> bool {
        self.arity().1.is_none()
    }

    /// Whether an all-integer call returns its first argument's type (a timestamp stays a
    /// timestamp) rather than Int64.
    pub fn keeps_input_type(self) -> bool {
        matches!(
            self,
            ScalarFunction::Greatest
                | ScalarFunction::Least
                | ScalarFunction::Coalesce
                | ScalarFunction::Xbar
                | ScalarFunction::TruncateTo(_)
                | ScalarFunction::Floor
                | ScalarFunction::Ceil
                | ScalarFunction::Round
        )
    }

    /// The kernel for arguments that include a float (`any_float`) or are all integers.
    /// Coalesce has none: it picks values rather than computing them.
    pub fn kernel(self, any_float: bool) -> Result<Kernel, EngineError> {
        use ScalarFunction as F;
        let float_only = |f: fn(f64, f64) -> Result<f64, EngineError>| Kernel::Float(f);
        Ok(match (self, any_float) {
            (F::IntDiv, false) => Kernel::Int(int_div),
            (F::IntDiv, true) => Kernel::FloatToInt(float_int_div),
            (F::FloorDiv, false) => Kernel::Int(floor_div),
            (F::Abs, false) => Kernel::Int(|x, _| checked(x.checked_abs(), "abs")),
            (F::Abs, true) => Kernel::Float(|x, _| Ok(x.abs())),
            (F::Round, false) => Kernel::Int(round_int),
            (F::Round, true) => Kernel::Float(round_float),
            (F::Floor | F::Ceil, false) => Kernel::Int(|x, _| Ok(x)),
            (F::Floor, true) => Kernel::Float(|x, _| Ok(x.floor())),
            (F::Ceil, true) => Kernel::Float(|x, _| Ok(x.ceil())),
            (F::Sqrt, _) => float_only(|x, _| Ok(x.sqrt())),
            (F::Ln, _) => float_only(|x, _| Ok(x.ln())),
            (F::Log10, _) => float_only(|x, _| Ok(x.log10())),
            (F::Log2, _) => float_only(|x, _| Ok(x.log2())),
            (F::Exp, _) => float_only(|x, _| Ok(x.exp())),
            (F::Pow, _) => float_only(|x, y| Ok(x.powf(y))),
            (F::Greatest, false) => Kernel::Int(|x, y| Ok(x.max(y))),
            (F::Greatest, true) => Kernel::Float(|x, y| Ok(x.max(y))),
            (F::Least, false) => Kernel::Int(|x, y| Ok(x.min(y))),
            (F::Least, true) => Kernel::Float(|x, y| Ok(x.min(y))),
            (F::Xbar, false) => Kernel::Int(xbar_int),
            (F::Xbar, true) => Kernel::Float(xbar_float),
            (F::TruncateTo(unit), false) => Kernel::Int(match unit {
                CalendarUnit::Week => |x, _| calendar(CalendarUnit::Week, x),
                CalendarUnit::Month => |x, _| calendar(CalendarUnit::Month, x),
                CalendarUnit::Year => |x, _| calendar(CalendarUnit::Year, x),
            }),
            (F::FloorDiv | F::TruncateTo(_), true) => {
                return Err(EngineError::Evaluation {
                    detail: format!("{} of a float: it needs integers", self.name()),
                })
            }
            (F::Coalesce, _) => {
                return Err(EngineError::Internal {
                    detail: "coalesce has no arithmetic kernel".into(),
                })
            }
        })
    }
}

/// The per-value math of a function over its first two arguments (unary functions ignore the
/// second, which callers pass as 0).
#[derive(Clone, Copy, Debug)]
pub enum Kernel {
    /// Integers (and timestamps) in, integer out.
    Int(fn(i64, i64) -> Result<i64, EngineError>),
    /// Floats in (integers converted), float out.
    Float(fn(f64, f64) -> Result<f64, EngineError>),
    /// Floats in, integer out.
    FloatToInt(fn(f64, f64) -> Result<i64, EngineError>),
}

/// Applies `function` to one row's argument values: NULL in, NULL out (except coalesce).
pub fn apply_to_values(function: ScalarFunction, args: &[Value]) -> Result<Value, EngineError> {
    check_arity(function, args.len())?;
    if function == ScalarFunction::Coalesce {
        return Ok(args
            .iter()
            .find(|v| !v.is_null())
            .cloned()
            .unwrap_or(Value::Null));
    }
    if args.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    let any_float = args.iter().any(|v| matches!(v, Value::Float(_)));
    let kernel = function.kernel(any_float)?;
    let mut acc = args[0].clone();
    let rest = match args.len() {
        1 if !function.is_variadic() => &[Value::Int(0)][..],
        _ => &args[1..],
    };
    for next in rest {
        acc = apply_kernel(function, kernel, &acc, next)?;
    }
    Ok(acc)
}

fn apply_kernel(
    function: ScalarFunction,
    kernel: Kernel,
    a: &Value,
    b: &Value,
) -> Result<Value, EngineError> {
    let not_numeric = || EngineError::Evaluation {
        detail: format!("{} of {a} and {b}: it needs numbers", function.name()),
    };
    let float = |v: &Value| match v {
        Value::Int(x) => Ok(*x as f64),
        Value::Float(x) => Ok(*x),
        _ => Err(not_numeric()),
    };
    Ok(match (kernel, a, b) {
        (Kernel::Int(f), Value::Int(x), Value::Int(y)) => Value::Int(f(*x, *y)?),
        (Kernel::Int(_), _, _) => return Err(not_numeric()),
        (Kernel::Float(f), _, _) => Value::Float(f(float(a)?, float(b)?)?),
        (Kernel::FloatToInt(f), _, _) => Value::Int(f(float(a)?, float(b)?)?),
    })
}

/// Refuses a call with the wrong number of arguments.
pub fn check_arity(function: ScalarFunction, count: usize) -> Result<(), EngineError> {
    let (min, max) = function.arity();
    if count < min || max.is_some_and(|m| count > m) {
        return Err(EngineError::Evaluation {
            detail: format!("{} with {count} arguments", function.name()),
        });
    }
    Ok(())
}

fn checked(value: Option<i64>, function: &str) -> Result<i64, EngineError> {
    value.ok_or_else(|| EngineError::Overflow {
        function: function.to_string(),
    })
}

fn division_by_zero(function: &str) -> EngineError {
    EngineError::Evaluation {
        detail: format!("{function}: division by zero"),
    }
}

fn int_div(a: i64, b: i64) -> Result<i64, EngineError> {
    if b == 0 {
        return Err(division_by_zero("intDiv"));
    }
    checked(a.checked_div(b), "intDiv")
}

fn float_int_div(a: f64, b: f64) -> Result<i64, EngineError> {
    if b == 0.0 {
        return Err(division_by_zero("intDiv"));
    }
    float_to_i64((a / b).trunc(), "intDiv")
}

/// `a / b` rounded toward negative infinity.
fn floor_div(a: i64, b: i64) -> Result<i64, EngineError> {
    if b == 0 {
        return Err(division_by_zero("floorDiv"));
    }
    let quotient = checked(a.checked_div(b), "floorDiv")?;
    let inexact = a % b != 0;
    Ok(if inexact && ((a < 0) != (b < 0)) {
        quotient - 1
    } else {
        quotient
    })
}

fn positive_step(positive: bool) -> Result<(), EngineError> {
    if positive {
        Ok(())
    } else {
        Err(EngineError::Evaluation {
            detail: "xbar: the step must be positive".into(),
        })
    }
}

fn xbar_int(x: i64, step: i64) -> Result<i64, EngineError> {
    positive_step(step > 0)?;
    checked(floor_div(x, step)?.checked_mul(step), "xbar")
}

fn xbar_float(x: f64, step: f64) -> Result<f64, EngineError> {
    positive_step(step > 0.0)?;
    Ok((x / step).floor() * step)
}

fn round_float(x: f64, digits: f64) -> Result<f64, EngineError> {
    let scale = 10f64.powi(digits.clamp(-400.0, 400.0) as i32);
    let scaled = x * scale;
    Ok(if scaled.is_finite() {
        scaled.round_ties_even() / scale
    } else {
        x
    })
}

fn round_int(x: i64, digits: i64) -> Result<i64, EngineError> {
    if digits >= 0 {
        return Ok(x);
    }
    let Some(unit) = u32::try_from(-digits)
        .ok()
        .and_then(|d| 10i64.checked_pow(d))
    else {
        return Ok(0);
    };
    let half = unit / 2;
    let magnitude = i128::from(x).abs() + i128::from(half);
    let rounded = magnitude / i128::from(unit) * i128::from(unit);
    let signed = if x < 0 { -rounded } else { rounded };
    checked(i64::try_from(signed).ok(), "round")
}

fn calendar(unit: CalendarUnit, nanos: i64) -> Result<i64, EngineError> {
    truncate_to(unit, nanos).ok_or_else(|| EngineError::Evaluation {
        detail: format!(
            "the start of the {} of {nanos} is out of range",
            unit.name()
        ),
    })
}

fn float_to_i64(x: f64, what: &str) -> Result<i64, EngineError> {
    // i64::MIN is -2^63 exactly; 2^63 (i64::MAX as f64) itself does not fit.
    if x.is_finite() && x >= i64::MIN as f64 && x < i64::MAX as f64 {
        Ok(x as i64)
    } else {
        Err(EngineError::Evaluation {
            detail: format!("{what}: {x} does not fit in Int64"),
        })
    }
}

/// The vector kind a cast to `to` produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CastTarget {
    /// Integers and timestamps.
    Int,
    /// Floats.
    Float,
    /// Booleans.
    Bool,
    /// Strings.
    Text,
}

/// The kind of values a cast to `to` produces.
pub fn cast_target(to: DataType) -> CastTarget {
    match to {
        DataType::Int64 | DataType::Int32 | DataType::UInt64 | DataType::Timestamp => {
            CastTarget::Int
        }
        DataType::Float64 | DataType::Float32 => CastTarget::Float,
        DataType::Bool => CastTarget::Bool,
        DataType::Symbol => CastTarget::Text,
    }
}

/// An integer (or timestamp) as `to` when `to` is integral: range-checked.
pub fn int_to_int(x: i64, to: DataType) -> Result<i64, EngineError> {
    let fits = match to {
        DataType::Int32 => i32::try_from(x).is_ok(),
        DataType::UInt64 => x >= 0,
        _ => true,
    };
    if fits {
        Ok(x)
    } else {
        Err(EngineError::Evaluation {
            detail: format!("CAST of {x} to {to}: out of range"),
        })
    }
}

/// A float as integral `to`: truncated toward zero, range-checked, NaN refused.
pub fn float_to_int(x: f64, to: DataType) -> Result<i64, EngineError> {
    int_to_int(float_to_i64(x.trunc(), &format!("CAST to {to}"))?, to)
}

/// A float as float `to` (FLOAT32 rounds to single precision).
pub fn float_to_float(x: f64, to: DataType) -> f64 {
    if to == DataType::Float32 {
        f64::from(x as f32)
    } else {
        x
    }
}

/// Casts one value to `to`; strings are parsed (timestamps as `parse_timestamp_ns` reads them).
pub fn cast_value(value: &Value, to: DataType) -> Result<Value, EngineError> {
    let target = cast_target(to);
    let refused = || EngineError::Evaluation {
        detail: format!("CAST of {value} to {to}"),
    };
    Ok(match (value, target) {
        (Value::Null, _) => Value::Null,
        (Value::Int(x), CastTarget::Int) => Value::Int(int_to_int(*x, to)?),
        (Value::Int(x), CastTarget::Float) => Value::Float(float_to_float(*x as f64, to)),
        (Value::Int(x), CastTarget::Bool) => Value::Bool(*x != 0),
        (Value::Float(x), CastTarget::Int) => Value::Int(float_to_int(*x, to)?),
        (Value::Float(x), CastTarget::Float) => Value::Float(float_to_float(*x, to)),
        (Value::Float(x), CastTarget::Bool) => Value::Bool(*x != 0.0),
        (Value::Bool(b), CastTarget::Int) => Value::Int(i64::from(*b)),
        (Value::Bool(b), CastTarget::Float) => Value::Float(f64::from(u8::from(*b))),
        (Value::Bool(b), CastTarget::Bool) => Value::Bool(*b),
        (Value::Str(s), CastTarget::Text) => Value::Str(s.clone()),
        (Value::Str(s), _) => parse_text(s, to).ok_or_else(refused)?,
        (_, CastTarget::Text) => return Err(refused()),
    })
}

fn parse_text(text: &str, to: DataType) -> Option<Value> {
    let text = text.trim();
    match to {
        DataType::Timestamp => crate::time::parse_timestamp_ns(text).map(Value::Int),
        DataType::Bool => match text.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(Value::Bool(true)),
            "false" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        _ if cast_target(to) == CastTarget::Float => text
            .parse()
            .ok()
            .map(|x| Value::Float(float_to_float(x, to))),
        _ => text
            .parse()
            .ok()
            .and_then(|x| int_to_int(x, to).ok())
            .map(Value::Int),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(function: ScalarFunction, args: &[Value]) -> Result<Value, EngineError> {
        apply_to_values(function, args)
    }

    fn int(x: i64) -> Value {
        Value::Int(x)
    }

    fn float(x: f64) -> Value {
        Value::Float(x)
    }

    #[test]
    fn int_div_truncates_toward_zero_and_refuses_zero() {
        for a in -9..=9i64 {
            for b in [-4i64, -3, -1, 1, 2, 5] {
                let expected = (a as f64 / b as f64).trunc() as i64;
                assert_eq!(
                    call(ScalarFunction::IntDiv, &[int(a), int(b)]).unwrap(),
                    int(expected),
                    "{a} / {b}"
                );
            }
        }
        assert_eq!(
            call(ScalarFunction::IntDiv, &[float(-7.5), int(2)]).unwrap(),
            int(-3)
        );
        assert!(call(ScalarFunction::IntDiv, &[int(1), int(0)]).is_err());
        assert!(call(ScalarFunction::IntDiv, &[float(1.0), float(0.0)]).is_err());
        assert!(call(ScalarFunction::IntDiv, &[int(i64::MIN), int(-1)]).is_err());
        assert_eq!(
            call(ScalarFunction::IntDiv, &[Value::Null, int(0)]).unwrap(),
            Value::Null
        );
    }

    #[test]
    fn floor_div_and_xbar_round_toward_negative_infinity() {
        for x in -25..=25i64 {
            for step in [1i64, 3, 7, 10] {
                let floor = (x as f64 / step as f64).floor() as i64;
                assert_eq!(floor_div(x, step).unwrap(), floor, "{x} // {step}");
                assert_eq!(
                    call(ScalarFunction::Xbar, &[int(x), int(step)]).unwrap(),
                    int(floor * step),
                    "xbar {x} {step}"
                );
            }
            assert_eq!(floor_div(x, -3).unwrap(), (x as f64 / -3.0).floor() as i64);
        }
        assert_eq!(
            call(ScalarFunction::Xbar, &[float(-0.5), float(0.25)]).unwrap(),
            float(-0.5)
        );
        assert_eq!(
            call(ScalarFunction::Xbar, &[float(1.3), int(1)]).unwrap(),
            float(1.0)
        );
        assert!(call(ScalarFunction::Xbar, &[int(5), int(0)]).is_err());
        assert!(call(ScalarFunction::Xbar, &[int(5), int(-2)]).is_err());
        assert!(call(ScalarFunction::Xbar, &[int(i64::MIN), int(7)]).is_err());
        assert_eq!(
            call(ScalarFunction::Xbar, &[Value::Null, int(7)]).unwrap(),
            Value::Null
        );
    }

    #[test]
    fn rounding_floor_ceil_abs() {
        assert_eq!(
            call(ScalarFunction::Round, &[float(2.5)]).unwrap(),
            float(2.0)
        );
        assert_eq!(
            call(ScalarFunction::Round, &[float(-3.5)]).unwrap(),
            float(-4.0)
        );
        assert_eq!(
            call(ScalarFunction::Round, &[float(1.23456), int(2)]).unwrap(),
            float(1.23)
        );
        assert_eq!(
            call(ScalarFunction::Round, &[float(1234.5), int(-2)]).unwrap(),
            float(1200.0)
        );
        assert_eq!(call(ScalarFunction::Round, &[int(7)]).unwrap(), int(7));
        assert_eq!(
            call(ScalarFunction::Round, &[int(-15), int(-1)]).unwrap(),
            int(-20)
        );
        assert_eq!(
            call(ScalarFunction::Round, &[int(14), int(-1)]).unwrap(),
            int(10)
        );
        assert_eq!(
            call(ScalarFunction::Round, &[int(14), int(-30)]).unwrap(),
            int(0)
        );
        assert_eq!(
            call(ScalarFunction::Floor, &[float(-1.5)]).unwrap(),
            float(-2.0)
        );
        assert_eq!(
            call(ScalarFunction::Ceil, &[float(-1.5)]).unwrap(),
            float(-1.0)
        );
        assert_eq!(call(ScalarFunction::Floor, &[int(-3)]).unwrap(), int(-3));
        assert_eq!(call(ScalarFunction::Abs, &[int(-3)]).unwrap(), int(3));
        assert!(call(ScalarFunction::Abs, &[int(i64::MIN)]).is_err());
        assert_eq!(
            call(ScalarFunction::Abs, &[float(-0.5)]).unwrap(),
            float(0.5)
        );
    }

    #[test]
    fn float_math_converts_integers() {
        assert_eq!(call(ScalarFunction::Sqrt, &[int(16)]).unwrap(), float(4.0));
        assert_eq!(
            call(ScalarFunction::Pow, &[int(2), int(10)]).unwrap(),
            float(1024.0)
        );
        assert_eq!(call(ScalarFunction::Ln, &[int(1)]).unwrap(), float(0.0));
        assert_eq!(call(ScalarFunction::Exp, &[int(0)]).unwrap(), float(1.0));
        assert_eq!(
            call(ScalarFunction::Log10, &[int(1000)]).unwrap(),
            float(3.0)
        );
        assert_eq!(
            call(ScalarFunction::Log2, &[float(8.0)]).unwrap(),
            float(3.0)
        );
        assert!(matches!(
            call(ScalarFunction::Sqrt, &[int(-1)]).unwrap(),
            Value::Float(x) if x.is_nan()
        ));
    }

    #[test]
    fn greatest_least_coalesce() {
        let args = [int(3), int(-1), int(7)];
        assert_eq!(call(ScalarFunction::Greatest, &args).unwrap(), int(7));
        assert_eq!(call(ScalarFunction::Least, &args).unwrap(), int(-1));
        assert_eq!(
            call(ScalarFunction::Greatest, &[int(3), float(2.5)]).unwrap(),
            float(3.0)
        );
        assert_eq!(
            call(ScalarFunction::Least, &[int(3), Value::Null]).unwrap(),
            Value::Null
        );
        assert_eq!(
            call(ScalarFunction::Coalesce, &[Value::Null, int(2), int(3)]).unwrap(),
            int(2)
        );
        assert_eq!(
            call(ScalarFunction::Coalesce, &[Value::Null, Value::Null]).unwrap(),
            Value::Null
        );
        assert_eq!(call(ScalarFunction::Greatest, &[int(-5)]).unwrap(), int(-5));
        assert!(call(ScalarFunction::Greatest, &[]).is_err());
        assert!(call(ScalarFunction::Greatest, &[int(1), Value::Str("a".into())]).is_err());
    }

    #[test]
    fn casts_check_ranges_and_parse_text() {
        assert_eq!(cast_value(&float(-2.9), DataType::Int64).unwrap(), int(-2));
        assert!(cast_value(&float(f64::NAN), DataType::Int64).is_err());
        assert!(cast_value(&float(1e19), DataType::Int64).is_err());
        assert!(cast_value(&int(1 << 40), DataType::Int32).is_err());
        assert!(cast_value(&int(-1), DataType::UInt64).is_err());
        assert_eq!(cast_value(&int(3), DataType::Float64).unwrap(), float(3.0));
        assert_eq!(
            cast_value(&float(0.1), DataType::Float32).unwrap(),
            float(f64::from(0.1f32))
        );
        assert_eq!(
            cast_value(&int(2), DataType::Bool).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            cast_value(&Value::Bool(true), DataType::Int64).unwrap(),
            int(1)
        );
        assert_eq!(
            cast_value(
                &Value::Str("1970-01-01 00:00:01".into()),
                DataType::Timestamp
            )
            .unwrap(),
            int(1_000_000_000)
        );
        assert_eq!(
            cast_value(&Value::Str(" 42 ".into()), DataType::Int64).unwrap(),
            int(42)
        );
        assert_eq!(
            cast_value(&Value::Str("2.5".into()), DataType::Float64).unwrap(),
            float(2.5)
        );
        assert!(cast_value(&Value::Str("x".into()), DataType::Int64).is_err());
        assert!(cast_value(&int(1), DataType::Symbol).is_err());
        assert_eq!(
            cast_value(&Value::Null, DataType::Int64).unwrap(),
            Value::Null
        );
    }

    #[test]
    fn calendar_truncation_refuses_floats_and_keeps_nulls() {
        let month = ScalarFunction::TruncateTo(CalendarUnit::Month);
        let jan_2 = 1_704_187_800_000_000_000;
        assert_eq!(
            call(month, &[int(jan_2)]).unwrap(),
            int(1_704_067_200_000_000_000)
        );
        assert!(call(month, &[float(1.0)]).is_err());
        assert_eq!(call(month, &[Value::Null]).unwrap(), Value::Null);
        assert!(call(ScalarFunction::FloorDiv, &[float(1.0), int(1)]).is_err());
    }
}
