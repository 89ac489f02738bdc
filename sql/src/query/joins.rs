//! Join planning: ON / USING conditions split into keys, time comparisons and residual
//! filters; the hash, ASOF and window-join strategies.

use quecto_engine::fragment::plan::{AggregateCall, BinaryOp, ScalarExpr};
use quecto_engine::types::{DataType, Value};
use sqlparser::ast::{Expr, JoinConstraint, JoinOperator, Query, Select};

use crate::bind::{bind_scalar, constant, type_of};
use crate::error::QueryError;
use crate::query::{relation_schema, JoinStrategy, PlannedNode};
use crate::relation::asof::AsofSpec;
use crate::relation::join::JoinKind;
use crate::relation::window_join::WindowJoinSpec;
use crate::relation::RelColumn;
use crate::select::aggregate_function;

use super::ast::*;
use super::planner::*;

/// A join's ON condition split into key equalities and the rest.
pub(super) struct SplitCondition {
    left_keys: Vec<usize>,
    right_keys: Vec<usize>,
    /// Comparisons of a left column with a right column: (left, op as `left op right`, right).
    comparisons: Vec<(usize, BinaryOp, usize)>,
    /// The conjuncts `comparisons` came from (a hash join checks them on the joined row).
    comparison_exprs: Vec<Expr>,
    residual: Vec<Expr>,
}

pub(super) fn split_condition(
    left: &PlannedNode,
    right: &PlannedNode,
    constraint: &JoinConstraint,
) -> Result<SplitCondition, QueryError> {
    let (left_schema, right_schema) = (left.schema(), right.schema());
    let mut split = SplitCondition {
        left_keys: Vec::new(),
        right_keys: Vec::new(),
        comparisons: Vec::new(),
        comparison_exprs: Vec::new(),
        residual: Vec::new(),
    };
    let using = |names: Vec<String>, split: &mut SplitCondition| -> Result<(), QueryError> {
        for name in names {
            let l = left_schema.column_index(&name);
            let r = right_schema.column_index(&name);
            let (Some(l), Some(r)) = (l, r) else {
                return Err(QueryError::UnknownColumn {
                    column: name,
                    table: None,
                });
            };
            split.left_keys.push(l);
            split.right_keys.push(r);
        }
        Ok(())
    };
    match constraint {
        JoinConstraint::None => {}
        JoinConstraint::Using(names) => using(names.iter().map(object_name).collect(), &mut split)?,
        JoinConstraint::On(expr) => {
            if let Some(names) = column_list(expr) {
                using(names, &mut split)?;
                return Ok(split);
            }
            let column_on = |e: &Expr, schema| match bind_scalar(e, Some(schema)) {
                Ok(ScalarExpr::Column(i)) => Some(i),
                _ => None,
            };
            for conjunct in conjuncts(expr) {
                let Expr::BinaryOp {
                    left: a,
                    op,
                    right: b,
                } = conjunct
                else {
                    split.residual.push(conjunct.clone());
                    continue;
                };
                let op = crate::bind::binary_op(op)?;
                let sides = (
                    column_on(a, &left_schema),
                    column_on(b, &right_schema),
                    column_on(b, &left_schema),
                    column_on(a, &right_schema),
                );
                let pair = match sides {
                    (Some(l), Some(r), _, _) if qualified_apart(a, b) => Some((l, op, r)),
                    (_, _, Some(l), Some(r)) if qualified_apart(b, a) => Some((l, op.flipped(), r)),
                    (Some(l), Some(r), None, None) => Some((l, op, r)),
                    (None, None, Some(l), Some(r)) => Some((l, op.flipped(), r)),
                    _ => None,
                };
                match pair {
                    Some((l, BinaryOp::Eq, r)) => {
                        split.left_keys.push(l);
                        split.right_keys.push(r);
                    }
                    Some((l, op, r)) if op.is_comparison() => {
                        split.comparisons.push((l, op, r));
                        split.comparison_exprs.push(conjunct.clone());
                    }
                    _ => split.residual.push(conjunct.clone()),
                }
            }
        }
        JoinConstraint::Natural => return Err(unsupported("NATURAL JOIN")),
    }
    Ok(split)
}

/// True unless both expressions carry the same qualifier (then neither side can be told).
pub(super) fn qualified_apart(a: &Expr, b: &Expr) -> bool {
    let qualifier = |e: &Expr| match e {
        Expr::CompoundIdentifier(parts) if parts.len() > 1 => Some(parts[0].value.to_lowercase()),
        _ => None,
    };
    match (qualifier(a), qualifier(b)) {
        (Some(x), Some(y)) => x != y,
        _ => true,
    }
}

pub(super) fn hash_strategy(
    left: &PlannedNode,
    right: &PlannedNode,
    constraint: &JoinConstraint,
    kind: JoinKind,
) -> Result<JoinStrategy, QueryError> {
    let split = split_condition(left, right, constraint)?;
    // Comparisons other than key equalities are checked on the joined row.
    let mut residual_exprs = split.comparison_exprs;
    residual_exprs.extend(split.residual);
    let residual = if residual_exprs.is_empty() {
        None
    } else {
        if kind == JoinKind::Left {
            return Err(unsupported(
                "LEFT JOIN with conditions other than key equalities",
            ));
        }
        let columns: Vec<RelColumn> = left.columns.iter().chain(&right.columns).cloned().collect();
        let joined = relation_schema(&columns, None);
        let mut bound: Option<ScalarExpr> = None;
        for expr in &residual_exprs {
            let e = bind_scalar(expr, Some(&joined))?;
            bound = Some(match bound {
                None => e,
                Some(prev) => ScalarExpr::Binary {
                    op: BinaryOp::And,
                    left: Box::new(prev),
                    right: Box::new(e),
                },
            });
        }
        bound
    };
    Ok(JoinStrategy::Hash {
        kind,
        left_keys: split.left_keys,
        right_keys: split.right_keys,
        residual,
    })
}

/// An ASOF-family marker from the pre-parse rewrite, or a plain time condition.
pub(super) enum AsofMarker {
    Asof {
        left_outer: bool,
        tolerance: Option<i64>,
        strict: bool,
    },
    Window {
        before: i64,
        after: i64,
    },
    Condition(Box<Expr>),
}

pub(super) fn asof_marker(expr: &Expr) -> Result<AsofMarker, QueryError> {
    let Expr::Function(f) = expr else {
        return Ok(AsofMarker::Condition(Box::new(expr.clone())));
    };
    let name = f.name.to_string().to_ascii_lowercase();
    let args = function_args(f)?;
    let int = |e: Option<&Expr>| -> Result<Option<i64>, QueryError> {
        match e.map(|e| constant(e, false)).transpose()? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Int(v)) => Ok(Some(v)),
            Some(other) => Err(QueryError::Type {
                detail: format!("expected a duration, found {other}"),
            }),
        }
    };
    Ok(match name.as_str() {
        "__asof" | "__lt_join" => AsofMarker::Asof {
            left_outer: int(args.first())?.unwrap_or(0) != 0,
            tolerance: int(args.get(1))?,
            strict: name == "__lt_join",
        },
        "__window_join" => AsofMarker::Window {
            before: int(args.first())?.unwrap_or(0),
            after: int(args.get(1))?.unwrap_or(0),
        },
        _ => AsofMarker::Condition(Box::new(expr.clone())),
    })
}

pub(super) fn asof_strategy(
    left: &PlannedNode,
    right: &PlannedNode,
    match_condition: &Expr,
    constraint: &JoinConstraint,
    window_aggregates: Option<&[Expr]>,
) -> Result<(JoinStrategy, Option<Vec<RelColumn>>), QueryError> {
    let marker = asof_marker(match_condition)?;
    let mut split = split_condition(left, right, constraint)?;
    if let AsofMarker::Condition(condition) = &marker {
        let extra = split_condition(left, right, &JoinConstraint::On((**condition).clone()))?;
        split.comparisons.extend(extra.comparisons);
        split.residual.extend(extra.residual);
    }
    if !split.residual.is_empty() {
        return Err(unsupported(&format!(
            "ASOF JOIN condition `{}` (use key equalities and one time comparison)",
            split.residual[0]
        )));
    }
    // DuckDB/ClickHouse `USING (keys.., ts)`: the last column is the time column.
    let last_is_time = split.comparisons.is_empty()
        && split.left_keys.last().copied() == left.timestamp
        && split.right_keys.last().copied() == right.timestamp
        && left.timestamp.is_some();
    if last_is_time {
        split.left_keys.pop();
        split.right_keys.pop();
    }
    let designated = || match (left.timestamp, right.timestamp) {
        (Some(l), Some(r)) => Ok((l, r)),
        _ => Err(QueryError::Type {
            detail: "ASOF JOIN without a time comparison needs timestamp columns on both sides"
                .into(),
        }),
    };
    let (left_time, right_time, inclusive) = match split.comparisons.as_slice() {
        [] => {
            let (l, r) = designated()?;
            (l, r, true)
        }
        [(l, BinaryOp::GtEq, r)] => (*l, *r, true),
        [(l, BinaryOp::Gt, r)] => (*l, *r, false),
        [(_, op, _)] => {
            return Err(unsupported(&format!(
                "ASOF JOIN with left time {} right time (only >= and > are supported)",
                op_text(*op)
            )))
        }
        _ => return Err(unsupported("ASOF JOIN with several time comparisons")),
    };
    match marker {
        AsofMarker::Window { before, after } => {
            let spec = WindowJoinSpec {
                left_keys: split.left_keys,
                right_keys: split.right_keys,
                left_time,
                right_time,
                before,
                after,
            };
            let (aggregates, columns) = bind_window_aggregates(right, window_aggregates)?;
            Ok((JoinStrategy::Window { spec, aggregates }, Some(columns)))
        }
        AsofMarker::Asof {
            left_outer,
            tolerance,
            strict,
        } => Ok((
            JoinStrategy::Asof(AsofSpec {
                left_keys: split.left_keys,
                right_keys: split.right_keys,
                left_time,
                right_time,
                inclusive: inclusive && !strict,
                tolerance,
                left_outer,
            }),
            None,
        )),
        AsofMarker::Condition(_) => Ok((
            JoinStrategy::Asof(AsofSpec {
                left_keys: split.left_keys,
                right_keys: split.right_keys,
                left_time,
                right_time,
                inclusive,
                tolerance: None,
                left_outer: false,
            }),
            None,
        )),
    }
}

/// Binds a window join's aggregate calls over the right input.
pub(super) fn bind_window_aggregates(
    right: &PlannedNode,
    calls: Option<&[Expr]>,
) -> Result<(Vec<AggregateCall>, Vec<RelColumn>), QueryError> {
    let schema = right.schema();
    let types: Vec<DataType> = schema.columns.iter().map(|c| c.data_type).collect();
    let mut aggregates = Vec::new();
    let mut columns = Vec::new();
    for (index, call) in calls.unwrap_or_default().iter().enumerate() {
        let Expr::Function(f) = call else {
            continue;
        };
        let function = aggregate_function(&f.name.to_string(), false)
            .ok_or_else(|| unsupported(&format!("window join aggregate {}", f.name)))?;
        let mut args = Vec::new();
        for arg in function_args(f)? {
            args.push(bind_scalar(&arg, Some(&schema))?);
        }
        let arg_types: Vec<DataType> = args.iter().map(|a| type_of(a, &types)).collect();
        columns.push(RelColumn {
            qualifier: None,
            name: format!("__wj{index}"),
            data_type: function
                .result_type(&arg_types)
                .ok_or_else(|| QueryError::Type {
                    detail: format!("{} does not take {arg_types:?}", function.name()),
                })?,
        });
        aggregates.push(AggregateCall { function, args });
    }
    Ok((aggregates, columns))
}

pub(super) fn op_text(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Lt => "<",
        BinaryOp::LtEq => "<=",
        BinaryOp::Gt => ">",
        BinaryOp::GtEq => ">=",
        BinaryOp::NotEq => "!=",
        _ => "?",
    }
}

/// `ON (a, b)` / `ON (a)`: QuestDB's column-list form.
pub(super) fn column_list(expr: &Expr) -> Option<Vec<String>> {
    match expr {
        Expr::Nested(inner) => match &**inner {
            Expr::Identifier(ident) => Some(vec![ident.value.clone()]),
            _ => None,
        },
        Expr::Tuple(items) => items
            .iter()
            .map(|e| match e {
                Expr::Identifier(ident) => Some(ident.value.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

pub(super) fn conjuncts(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::BinaryOp {
            left,
            op: sqlparser::ast::BinaryOperator::And,
            right,
        } => {
            let mut all = conjuncts(left);
            all.extend(conjuncts(right));
            all
        }
        Expr::Nested(inner) if !matches!(**inner, Expr::Identifier(_)) => conjuncts(inner),
        other => vec![other],
    }
}

pub(super) fn window_join_of(select: &Select) -> Option<()> {
    let from = select.from.first()?;
    from.joins.iter().find_map(|j| match &j.join_operator {
        JoinOperator::AsOf {
            match_condition: Expr::Function(f),
            ..
        } if f.name.to_string().eq_ignore_ascii_case("__window_join") => Some(()),
        _ => None,
    })
}

impl Planner<'_> {
    pub(super) fn window_join_select(
        &mut self,
        query: &Query,
        select: &Select,
        (): (),
    ) -> Result<PlannedNode, QueryError> {
        let mut calls: Vec<Expr> = Vec::new();
        let projection = map_items(select, &mut |f| {
            aggregate_function(&f.name.to_string(), false)?;
            calls.push(Expr::Function(f.clone()));
            Some(format!("__wj{}", calls.len() - 1))
        });
        let saved = std::mem::replace(&mut self.pushed, super::pushdown::pushable(select));
        let input = self.from(&select.from, Some(&calls));
        self.pushed = saved;
        let input = input?;
        let mut outer = select.clone();
        outer.projection = projection;
        self.select_over(query, &outer, input)
    }
}
