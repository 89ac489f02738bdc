//! Scalar function names (ClickHouse, DuckDB, QuestDB/kdb+ spellings) bound to engine
//! functions, casts and CASE, with argument counts and types checked and result types known.
//! Time functions become fixed-step `xbar`s, calendar truncations or epoch scalings.

use quecto_engine::fragment::plan::{BinaryOp, ScalarExpr, ScalarFunction};
use quecto_engine::time::{unit_ns, CalendarUnit, NANOS_PER_SECOND};
use quecto_engine::types::{DataType, Value};
use sqlparser::ast::{Function, FunctionArg, FunctionArgExpr, FunctionArguments};

use crate::bind::{bind, constant, timestamp_typed, type_in, Scope};
use crate::error::QueryError;

/// Binds a scalar function call. Aggregates never get here (the planner resolves them first);
/// unknown names are `Unsupported`.
pub fn bind_function(f: &Function, scope: &mut dyn Scope) -> Result<ScalarExpr, QueryError> {
    let name = f.name.to_string();
    let asts = argument_asts(f, &name)?;
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "now" | "now64" | "current_timestamp" => {
            arguments(&name, asts.len(), 0, Some(0))?;
            return Ok(timestamp_typed(ScalarExpr::Literal(Value::Int(now_ns()?))));
        }
        "date_trunc" | "datetrunc" => {
            arguments(&name, asts.len(), 2, Some(2))?;
            let unit = text_argument(&name, asts[0])?;
            let ts = timestamp_argument(&name, bind(asts[1], scope)?, scope)?;
            return truncate(&name, &unit, ts);
        }
        _ => {}
    }
    let args = asts
        .iter()
        .map(|a| bind(a, scope))
        .collect::<Result<Vec<_>, _>>()?;
    call_named(&name, args, scope)
}

/// Binds `name(args)` over already bound arguments.
pub fn call_named(
    name: &str,
    args: Vec<ScalarExpr>,
    scope: &dyn Scope,
) -> Result<ScalarExpr, QueryError> {
    let lower = name.to_ascii_lowercase();
    let step = |nanos: i64| ScalarExpr::Literal(Value::Int(nanos));
    let fixed_start = |args: Vec<ScalarExpr>, nanos: i64| -> Result<ScalarExpr, QueryError> {
        let [ts] = exactly::<1>(name, args)?;
        let ts = timestamp_argument(name, ts, scope)?;
        function(name, ScalarFunction::Xbar, vec![ts, step(nanos)], scope)
    };
    let minute = 60 * NANOS_PER_SECOND;
    Ok(match lower.as_str() {
        "intdiv" => {
            let [a, b] = exactly::<2>(name, args)?;
            integer_division(a, b, scope)?
        }
        "abs" => function(name, ScalarFunction::Abs, args, scope)?,
        "round" => function(name, ScalarFunction::Round, args, scope)?,
        "floor" => function(name, ScalarFunction::Floor, args, scope)?,
        "ceil" | "ceiling" => function(name, ScalarFunction::Ceil, args, scope)?,
        "sqrt" => function(name, ScalarFunction::Sqrt, args, scope)?,
        "ln" | "log" => function(name, ScalarFunction::Ln, args, scope)?,
        "log10" => function(name, ScalarFunction::Log10, args, scope)?,
        "log2" => function(name, ScalarFunction::Log2, args, scope)?,
        "exp" => function(name, ScalarFunction::Exp, args, scope)?,
        "pow" | "power" => function(name, ScalarFunction::Pow, args, scope)?,
        "greatest" => function(name, ScalarFunction::Greatest, args, scope)?,
        "least" => function(name, ScalarFunction::Least, args, scope)?,
        "coalesce" => function(name, ScalarFunction::Coalesce, args, scope)?,
        "ifnull" => {
            let args = exactly::<2>(name, args)?;
            function(name, ScalarFunction::Coalesce, args.into(), scope)?
        }
        "if" => {
            let [condition, then, otherwise] = exactly::<3>(name, args)?;
            case(None, vec![(condition, then)], Some(otherwise), scope)?
        }
        "isnull" | "isnotnull" => {
            let [expr] = exactly::<1>(name, args)?;
            ScalarExpr::IsNull {
                expr: Box::new(expr),
                negated: lower == "isnotnull",
            }
        }
        "tofloat64" => cast(single(name, args)?, DataType::Float64, scope)?,
        "toint64" => cast(single(name, args)?, DataType::Int64, scope)?,
        "xbar" => function(name, ScalarFunction::Xbar, args, scope)?,
        "time_bucket" | "tostartofinterval" => {
            let [mut ts, mut width] = exactly::<2>(name, args)?;
            if lower == "time_bucket" {
                std::mem::swap(&mut ts, &mut width);
            }
            let ts = timestamp_argument(name, ts, scope)?;
            function(name, ScalarFunction::Xbar, vec![ts, width], scope)?
        }
        "tostartofsecond" => fixed_start(args, NANOS_PER_SECOND)?,
        "tostartofminute" => fixed_start(args, minute)?,
        "tostartoffiveminutes" | "tostartoffiveminute" => fixed_start(args, 5 * minute)?,
        "tostartoftenminutes" => fixed_start(args, 10 * minute)?,
        "tostartoffifteenminutes" => fixed_start(args, 15 * minute)?,
        "tostartofhour" => fixed_start(args, 60 * minute)?,
        "tostartofday" => fixed_start(args, 24 * 60 * minute)?,
        "tomonday" | "tostartofmonth" | "tostartofyear" => {
            let unit = match lower.as_str() {
                "tomonday" => "week",
                "tostartofmonth" => "month",
                _ => "year",
            };
            let ts = timestamp_argument(name, single(name, args)?, scope)?;
            truncate(name, unit, ts)?
        }
        "tounixtimestamp" | "epoch_s" => epoch(name, args, NANOS_PER_SECOND, scope)?,
        "tounixtimestamp64milli" | "epoch_ms" => epoch(name, args, 1_000_000, scope)?,
        "tounixtimestamp64micro" | "epoch_us" => epoch(name, args, 1_000, scope)?,
        "tounixtimestamp64nano" | "epoch_ns" => epoch(name, args, 1, scope)?,
        "epoch" => {
            let ts = timestamp_argument(name, single(name, args)?, scope)?;
            ScalarExpr::Binary {
                op: BinaryOp::Divide,
                left: Box::new(cast(ts, DataType::Int64, scope)?),
                right: Box::new(ScalarExpr::Literal(Value::Float(NANOS_PER_SECOND as f64))),
            }
        }
        "fromunixtimestamp64nano" => from_epoch(name, args, 1, scope)?,
        "fromunixtimestamp64micro" => from_epoch(name, args, 1_000, scope)?,
        "fromunixtimestamp64milli" => from_epoch(name, args, 1_000_000, scope)?,
        "to_timestamp" => seconds_to_timestamp(name, single(name, args)?, scope)?,
        "todatetime64" => {
            let [value, scale] = exactly::<2>(name, args)?;
            if scale != ScalarExpr::Literal(Value::Int(9)) {
                return Err(QueryError::Unsupported {
                    what: format!("{name} with a scale other than 9"),
                });
            }
            match type_in(&value, scope) {
                DataType::Symbol => cast(value, DataType::Timestamp, scope)?,
                DataType::Timestamp => value,
                _ => seconds_to_timestamp(name, value, scope)?,
            }
        }
        _ => {
            return Err(QueryError::Unsupported {
                what: format!("function `{name}`"),
            })
        }
    })
}

fn argument_asts<'f>(
    f: &'f Function,
    name: &str,
) -> Result<Vec<&'f sqlparser::ast::Expr>, QueryError> {
    let list = match &f.args {
        FunctionArguments::None => return Ok(Vec::new()),
        FunctionArguments::List(list)
            if list.duplicate_treatment.is_none() && list.clauses.is_empty() =>
        {
            list
        }
        _ => {
            return Err(QueryError::Unsupported {
                what: format!("the arguments of `{f}`"),
            })
        }
    };
    list.args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
            other => Err(QueryError::Unsupported {
                what: format!("argument `{other}` of {name}"),
            }),
        })
        .collect()
}

/// Refuses `count` arguments outside `min..=max` (`None`: no upper bound).
fn arguments(name: &str, count: usize, min: usize, max: Option<usize>) -> Result<(), QueryError> {
    if count >= min && count <= max.unwrap_or(usize::MAX) {
        return Ok(());
    }
    let wanted = match max {
        Some(max) if max == min => format!("{min}"),
        Some(max) => format!("{min} to {max}"),
        None => format!("at least {min}"),
    };
    Err(QueryError::Type {
        detail: format!("{name} takes {wanted} arguments, not {count}"),
    })
}

fn exactly<const N: usize>(
    name: &str,
    args: Vec<ScalarExpr>,
) -> Result<[ScalarExpr; N], QueryError> {
    arguments(name, args.len(), N, Some(N))?;
    args.try_into().map_err(|_| QueryError::Type {
        detail: format!("{name} takes {N} arguments"),
    })
}

fn single(name: &str, args: Vec<ScalarExpr>) -> Result<ScalarExpr, QueryError> {
    let [arg] = exactly::<1>(name, args)?;
    Ok(arg)
}

fn text_argument(name: &str, ast: &sqlparser::ast::Expr) -> Result<String, QueryError> {
    match constant(ast, false) {
        Ok(Value::Str(text)) => Ok(text),
        _ => Err(QueryError::Type {
            detail: format!("the first argument of {name} must be a unit name in quotes"),
        }),
    }
}

fn type_error(name: &str, what: &str, got: DataType) -> QueryError {
    QueryError::Type {
        detail: format!("{name} needs {what}, not {}", got.sql_name()),
    }
}

/// A timestamp argument; integers are taken as nanoseconds and typed as a timestamp.
fn timestamp_argument(
    name: &str,
    arg: ScalarExpr,
    scope: &dyn Scope,
) -> Result<ScalarExpr, QueryError> {
    match type_in(&arg, scope) {
        DataType::Timestamp => Ok(arg),
        t if t.is_integer() => Ok(timestamp_typed(arg)),
        t => Err(type_error(name, "a timestamp", t)),
    }
}

/// Checks argument count and types, then builds the call.
fn function(
    name: &str,
    function: ScalarFunction,
    args: Vec<ScalarExpr>,
    scope: &dyn Scope,
) -> Result<ScalarExpr, QueryError> {
    let (min, max) = function.arity();
    arguments(name, args.len(), min, max)?;
    let types: Vec<Option<DataType>> = args.iter().map(|a| known(a, scope)).collect();
    if function == ScalarFunction::Coalesce {
        let unified = unify(&types).map_err(|detail| QueryError::Type {
            detail: format!("{name}: {detail}"),
        })?;
        let args = args.into_iter().map(|a| widen(a, unified, scope)).collect();
        return Ok(ScalarExpr::Function { function, args });
    } else {
        let integral_only = matches!(
            function,
            ScalarFunction::FloorDiv | ScalarFunction::TruncateTo(_)
        );
        for t in types.iter().flatten() {
            let fits = if integral_only {
                t.is_integer() || *t == DataType::Timestamp
            } else {
                t.is_numeric()
            };
            if !fits {
                let what = if integral_only {
                    "integers or timestamps"
                } else {
                    "numbers"
                };
                return Err(type_error(name, what, *t));
            }
        }
    }
    Ok(ScalarExpr::Function { function, args })
}

/// The type of an argument; `None` for a NULL literal.
fn known(expr: &ScalarExpr, scope: &dyn Scope) -> Option<DataType> {
    (!matches!(expr, ScalarExpr::Literal(Value::Null))).then(|| type_in(expr, scope))
}

/// `intDiv(a, b)` / `a // b`.
pub fn integer_division(
    a: ScalarExpr,
    b: ScalarExpr,
    scope: &dyn Scope,
) -> Result<ScalarExpr, QueryError> {
    function("intDiv", ScalarFunction::IntDiv, vec![a, b], scope)
}

/// `date_trunc(unit, ts)`: a fixed unit is an `xbar`; week, month and year are calendar
/// truncations.
fn truncate(name: &str, unit: &str, ts: ScalarExpr) -> Result<ScalarExpr, QueryError> {
    let calendar = match unit.trim().to_ascii_lowercase().as_str() {
        "week" | "weeks" | "w" => Some(CalendarUnit::Week),
        "month" | "months" => Some(CalendarUnit::Month),
        "year" | "years" => Some(CalendarUnit::Year),
        _ => None,
    };
    let (function, args) = match (calendar, unit_ns(unit)) {
        (Some(calendar), _) => (ScalarFunction::TruncateTo(calendar), vec![ts]),
        (None, Some(nanos)) => (
            ScalarFunction::Xbar,
            vec![ts, ScalarExpr::Literal(Value::Int(nanos))],
        ),
        (None, None) => {
            return Err(QueryError::Unsupported {
                what: format!("{name} to '{unit}'"),
            })
        }
    };
    Ok(ScalarExpr::Function { function, args })
}

/// A timestamp in whole units of `unit_ns` nanoseconds since the epoch (rounded down).
fn epoch(
    name: &str,
    args: Vec<ScalarExpr>,
    unit_ns: i64,
    scope: &dyn Scope,
) -> Result<ScalarExpr, QueryError> {
    let ts = timestamp_argument(name, single(name, args)?, scope)?;
    let nanos = cast(ts, DataType::Int64, scope)?;
    if unit_ns == 1 {
        return Ok(nanos);
    }
    let divisor = ScalarExpr::Literal(Value::Int(unit_ns));
    function(name, ScalarFunction::FloorDiv, vec![nanos, divisor], scope)
}

/// An integer count of `unit_ns` units since the epoch as a timestamp (overflow is an error).
fn from_epoch(
    name: &str,
    args: Vec<ScalarExpr>,
    unit_ns: i64,
    scope: &dyn Scope,
) -> Result<ScalarExpr, QueryError> {
    let count = single(name, args)?;
    if let Some(t) = known(&count, scope).filter(|t| !t.is_integer()) {
        return Err(type_error(name, "an integer", t));
    }
    Ok(timestamp_typed(scale(count, Value::Int(unit_ns))))
}

/// Seconds (integer or fractional) since the epoch as a timestamp.
fn seconds_to_timestamp(
    name: &str,
    seconds: ScalarExpr,
    scope: &dyn Scope,
) -> Result<ScalarExpr, QueryError> {
    let factor = match known(&seconds, scope) {
        Some(t) if t.is_float() => Value::Float(NANOS_PER_SECOND as f64),
        Some(t) if !t.is_integer() => return Err(type_error(name, "seconds", t)),
        _ => Value::Int(NANOS_PER_SECOND),
    };
    let nanos = scale(seconds, factor);
    cast(nanos, DataType::Timestamp, scope)
}

fn scale(value: ScalarExpr, factor: Value) -> ScalarExpr {
    ScalarExpr::Binary {
        op: BinaryOp::Multiply,
        left: Box::new(value),
        right: Box::new(ScalarExpr::Literal(factor)),
    }
}

/// `CAST(expr AS to)`, refusing casts the evaluators cannot do.
pub fn cast(expr: ScalarExpr, to: DataType, scope: &dyn Scope) -> Result<ScalarExpr, QueryError> {
    let from = known(&expr, scope);
    let possible = match (from, to) {
        (Some(DataType::Symbol), DataType::Symbol) | (None, _) => true,
        // Text parses only as a constant: symbol columns hold dictionary ids.
        (Some(DataType::Symbol), _) => matches!(expr, ScalarExpr::Literal(Value::Str(_))),
        (Some(_), DataType::Symbol) => false,
        (Some(_), _) => true,
    };
    if let (false, Some(from)) = (possible, from) {
        return Err(QueryError::Unsupported {
            what: format!("CAST from {} to {}", from.sql_name(), to.sql_name()),
        });
    }
    Ok(ScalarExpr::Cast {
        expr: Box::new(expr),
        to,
    })
}

/// `CASE`, with its results' types checked to fit together.
pub fn case(
    operand: Option<ScalarExpr>,
    branches: Vec<(ScalarExpr, ScalarExpr)>,
    otherwise: Option<ScalarExpr>,
    scope: &dyn Scope,
) -> Result<ScalarExpr, QueryError> {
    let results = branches
        .iter()
        .map(|(_, then)| then)
        .chain(otherwise.as_ref());
    let types: Vec<Option<DataType>> = results.map(|e| known(e, scope)).collect();
    let unified = unify(&types).map_err(|detail| QueryError::Type {
        detail: format!("CASE/if: {detail}"),
    })?;
    let branches = branches
        .into_iter()
        .map(|(when, then)| (when, widen(then, unified, scope)))
        .collect();
    let otherwise = otherwise.map(|e| widen(e, unified, scope));
    Ok(ScalarExpr::Case {
        operand: operand.map(Box::new),
        branches,
        otherwise: otherwise.map(Box::new),
    })
}

/// Casts an integer result of a CASE or coalesce to float when the results mix the two, so
/// that every row (and both evaluators) answer in the one unified type.
fn widen(expr: ScalarExpr, unified: DataType, scope: &dyn Scope) -> ScalarExpr {
    match known(&expr, scope) {
        Some(t) if unified.is_float() && !t.is_float() => ScalarExpr::Cast {
            expr: Box::new(expr),
            to: DataType::Float64,
        },
        _ => expr,
    }
}

/// The one type of values that may come from any of `types` (`None`: a NULL literal).
pub fn unify(types: &[Option<DataType>]) -> Result<DataType, String> {
    let known: Vec<DataType> = types.iter().flatten().copied().collect();
    let Some(&first) = known.first() else {
        return Ok(DataType::Int64);
    };
    if known.iter().all(|&t| t == first) {
        return Ok(first);
    }
    if known.iter().all(|t| t.is_numeric()) {
        return Ok(if known.iter().any(|t| t.is_float()) {
            DataType::Float64
        } else {
            DataType::Int64
        });
    }
    let names: Vec<&str> = known.iter().map(|t| t.sql_name()).collect();
    Err(format!("cannot mix {} values", names.join(", ")))
}

/// The result type of a call whose arguments have `types` (`None`: a NULL literal).
pub fn result_type(function: ScalarFunction, types: &[Option<DataType>]) -> DataType {
    let any_float = types.iter().flatten().any(|t| t.is_float());
    match function {
        ScalarFunction::Coalesce => unify(types).unwrap_or(DataType::Int64),
        ScalarFunction::IntDiv | ScalarFunction::FloorDiv => DataType::Int64,
        ScalarFunction::Sqrt
        | ScalarFunction::Ln
        | ScalarFunction::Log10
        | ScalarFunction::Log2
        | ScalarFunction::Exp
        | ScalarFunction::Pow => DataType::Float64,
        _ if any_float => DataType::Float64,
        f if f.keeps_input_type() && types.first() == Some(&Some(DataType::Timestamp)) => {
            DataType::Timestamp
        }
        _ => DataType::Int64,
    }
}

fn now_ns() -> Result<i64, QueryError> {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| QueryError::Type {
            detail: format!("the clock is before 1970: {e}"),
        })?;
    i64::try_from(since_epoch.as_nanos()).map_err(|_| QueryError::Type {
        detail: "the clock is past 2262".into(),
    })
}
