//! Aggregate calls as SQL spells them: which function a name means, and where a quantile's
//! level is written:
//!
//! - `median(x)`: the level is 0.5;
//! - ClickHouse `quantile(p)(x)` / `quantileExact(p)(x)`: the level is a parameter (0.5 when
//!   omitted). Both are exact and interpolate, like `quantile_cont`;
//! - DuckDB `quantile_cont(x, p)` / `quantile_disc(x, p)`: the level is the second argument;
//! - PostgreSQL `percentile_cont(p) WITHIN GROUP (ORDER BY x)` (and `percentile_disc`): the
//!   level is the argument, the aggregated expression the ordering key.
//!
//! `stddev` and `variance` are the sample statistics, as in PostgreSQL and DuckDB.

use quecto_engine::fragment::plan::{AggregateFunction, QuantileLevel};
use quecto_engine::types::Value;
use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, OrderBySort,
};

use crate::bind::constant;
use crate::error::QueryError;

/// Where a call's quantile level is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LevelSyntax {
    /// No level: not a quantile, or `median`.
    None,
    /// ClickHouse parameter: `quantile(p)(x)`.
    Parameter,
    /// Last argument: `quantile_cont(x, p)`.
    LastArgument,
    /// `percentile_cont(p) WITHIN GROUP (ORDER BY x)`.
    WithinGroup,
}

/// The function `name` means with `distinct` (for `name(DISTINCT ..)`), and where its level
/// is written. Quantiles carry the median's level until `call_arguments` reads the real one.
fn lookup(name: &str, distinct: bool) -> Option<(AggregateFunction, LevelSyntax)> {
    let median = AggregateFunction::Quantile {
        level: QuantileLevel::MEDIAN,
    };
    let median_disc = AggregateFunction::QuantileDisc {
        level: QuantileLevel::MEDIAN,
    };
    let plain = |function| Some((function, LevelSyntax::None));
    match (name.to_ascii_lowercase().as_str(), distinct) {
        ("count", true) | ("uniqexact", false) => plain(AggregateFunction::CountDistinct),
        (_, true) => None,
        ("count", _) => plain(AggregateFunction::Count),
        ("sum", _) => plain(AggregateFunction::Sum),
        ("avg", _) => plain(AggregateFunction::Avg),
        ("min", _) => plain(AggregateFunction::Min),
        ("max", _) => plain(AggregateFunction::Max),
        ("first" | "first_value" | "any", _) => plain(AggregateFunction::First),
        ("last" | "last_value" | "anylast", _) => plain(AggregateFunction::Last),
        ("vwap", _) => plain(AggregateFunction::Vwap),
        ("var_pop" | "varpop", _) => plain(AggregateFunction::VarPop),
        ("var_samp" | "varsamp" | "variance", _) => plain(AggregateFunction::VarSamp),
        ("stddev_pop" | "stddevpop", _) => plain(AggregateFunction::StddevPop),
        ("stddev_samp" | "stddevsamp" | "stddev", _) => plain(AggregateFunction::StddevSamp),
        ("median" | "medianexact", _) => plain(median),
        ("quantile" | "quantileexact", _) => Some((median, LevelSyntax::Parameter)),
        ("quantile_cont", _) => Some((median, LevelSyntax::LastArgument)),
        ("quantile_disc", _) => Some((median_disc, LevelSyntax::LastArgument)),
        ("percentile_cont", _) => Some((median, LevelSyntax::WithinGroup)),
        ("percentile_disc", _) => Some((median_disc, LevelSyntax::WithinGroup)),
        ("arg_min" | "argmin" | "min_by", _) => plain(AggregateFunction::ArgMin),
        ("arg_max" | "argmax" | "max_by", _) => plain(AggregateFunction::ArgMax),
        _ => None,
    }
}

/// The aggregate function named `name`, if it is one (quantiles at the median's level; the
/// call's own level comes from `call_arguments`).
pub fn function_named(name: &str, distinct: bool) -> Option<AggregateFunction> {
    lookup(name, distinct).map(|(function, _)| function)
}

/// The function (with its quantile level) and the aggregated arguments of the call `f`,
/// whose argument list is `args`. Clauses the engine does not run (FILTER, OVER, ORDER BY
/// inside the call, parameters or WITHIN GROUP where the function takes none) are errors.
pub fn call_arguments(
    f: &Function,
    args: &[FunctionArg],
) -> Result<(AggregateFunction, Vec<FunctionArg>), QueryError> {
    let name = f.name.to_string();
    let unsupported = |what: &str| QueryError::Unsupported {
        what: format!("{what} in aggregate `{name}`"),
    };
    if f.filter.is_some() {
        return Err(unsupported("FILTER"));
    }
    if f.over.is_some() {
        return Err(unsupported("OVER (window functions)"));
    }
    if f.null_treatment.is_some() {
        return Err(unsupported("IGNORE/RESPECT NULLS"));
    }
    if matches!(&f.args, FunctionArguments::List(list) if !list.clauses.is_empty()) {
        return Err(unsupported("clauses inside the argument list"));
    }
    let distinct = matches!(
        &f.args,
        FunctionArguments::List(list)
            if matches!(list.duplicate_treatment, Some(sqlparser::ast::DuplicateTreatment::Distinct))
    );
    let Some((function, syntax)) = lookup(&name, distinct) else {
        return Err(unsupported(if distinct { "DISTINCT" } else { "this name" }));
    };
    let parameters = match &f.parameters {
        FunctionArguments::List(list) => list.args.as_slice(),
        FunctionArguments::None | FunctionArguments::Subquery(_) => &[],
    };
    if syntax != LevelSyntax::Parameter && !parameters.is_empty() {
        return Err(unsupported("parameters"));
    }
    if syntax != LevelSyntax::WithinGroup && !f.within_group.is_empty() {
        return Err(unsupported("WITHIN GROUP"));
    }
    let (level, args) = match syntax {
        LevelSyntax::None => (None, args.to_vec()),
        LevelSyntax::Parameter => match parameters {
            [] => (None, args.to_vec()),
            [level] => (Some(level), args.to_vec()),
            _ => return Err(unsupported("more than one level")),
        },
        LevelSyntax::LastArgument => match args {
            [value, level] => (Some(level), vec![value.clone()]),
            _ => {
                return Err(QueryError::Type {
                    detail: format!("{name} takes (expression, level)"),
                })
            }
        },
        LevelSyntax::WithinGroup => match (args, f.within_group.as_slice()) {
            ([level], [order]) => {
                if matches!(order.options.sort, Some(OrderBySort::Desc)) {
                    return Err(unsupported("WITHIN GROUP (ORDER BY .. DESC)"));
                }
                let value = FunctionArg::Unnamed(FunctionArgExpr::Expr(order.expr.clone()));
                (Some(level), vec![value])
            }
            _ => {
                return Err(QueryError::Type {
                    detail: format!("{name} takes (level) WITHIN GROUP (ORDER BY expression)"),
                })
            }
        },
    };
    let function = match level.map(|l| level_of(l, &name)).transpose()? {
        None => function,
        Some(level) => match function {
            AggregateFunction::QuantileDisc { .. } => AggregateFunction::QuantileDisc { level },
            _ => AggregateFunction::Quantile { level },
        },
    };
    Ok((function, args))
}

/// A constant level in [0, 1].
fn level_of(arg: &FunctionArg, name: &str) -> Result<QuantileLevel, QueryError> {
    let bad = |what: String| QueryError::Type {
        detail: format!("the level of {name} must be a constant number in [0, 1], not {what}"),
    };
    let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg else {
        return Err(bad(arg.to_string()));
    };
    let level = match constant(expr, false) {
        Ok(Value::Int(v)) => v as f64,
        Ok(Value::Float(v)) => v,
        _ => return Err(bad(expr_text(expr))),
    };
    QuantileLevel::new(level).ok_or_else(|| bad(expr_text(expr)))
}

fn expr_text(expr: &Expr) -> String {
    format!("`{expr}`")
}
