//! Window functions: `f(..) OVER (PARTITION BY .. ORDER BY .. ROWS ..)` bound over their input.

use quecto_engine::fragment::plan::ScalarExpr;
use quecto_engine::types::{DataType, Value};
use sqlparser::ast::{
    Expr, GroupByExpr, Query, Select, SelectItem, SetExpr, WindowFrameBound, WindowFrameUnits,
    WindowType,
};

use crate::bind::{bind_scalar, constant, type_of};
use crate::error::QueryError;
use crate::query::{BoundWindow, Node, PlannedNode};
use crate::relation::window::{WindowFrame, WindowFunction, WindowSpec};
use crate::relation::RelColumn;
use crate::select::contains_aggregate;

use super::ast::*;
use super::planner::*;

/// Binds one `f(..) OVER (..)` over the input columns.
pub(super) fn bind_window(
    f: &sqlparser::ast::Function,
    schema: &quecto_engine::schema::TableSchema,
    types: &[DataType],
    width: usize,
    timestamp: Option<usize>,
) -> Result<(BoundWindow, DataType), QueryError> {
    let Some(WindowType::WindowSpec(over)) = &f.over else {
        return Err(unsupported("named windows"));
    };
    let name = f.name.to_string().to_ascii_lowercase();
    let args = function_args(f)?;
    let mut computed = Vec::new();
    let mut arg_columns = Vec::new();
    let mut arg_type = None;
    let value_args = match name.as_str() {
        "row_number" | "rank" | "dense_rank" => 0,
        _ => 1,
    };
    for arg in args.iter().take(value_args) {
        let bound = bind_scalar(arg, Some(schema))?;
        arg_type = Some(type_of(&bound, types));
        match bound {
            ScalarExpr::Column(i) => arg_columns.push(i),
            other => {
                arg_columns.push(width + computed.len());
                computed.push(other);
            }
        }
    }
    if arg_columns.len() < value_args {
        return Err(QueryError::Type {
            detail: format!("{name} needs an argument"),
        });
    }
    let number = |index: usize| -> Result<Option<Value>, QueryError> {
        args.get(index).map(|e| constant(e, false)).transpose()
    };
    let offset = |index: usize| -> Result<u64, QueryError> {
        match number(index)? {
            None => Ok(1),
            Some(Value::Int(n)) if n >= 0 => Ok(n as u64),
            Some(other) => Err(QueryError::Type {
                detail: format!("{name} offset must be a non-negative integer, not {other}"),
            }),
        }
    };
    let mut frame_override = None;
    let function = match name.as_str() {
        "row_number" => WindowFunction::RowNumber,
        "rank" => WindowFunction::Rank,
        "dense_rank" => WindowFunction::DenseRank,
        "lag" => WindowFunction::Lag {
            offset: offset(1)?,
            default: number(2)?.unwrap_or(Value::Null),
        },
        "lead" => WindowFunction::Lead {
            offset: offset(1)?,
            default: number(2)?.unwrap_or(Value::Null),
        },
        "delta" | "deltas" => WindowFunction::Delta,
        "ratio" | "ratios" => WindowFunction::Ratio,
        "first_value" => WindowFunction::FirstValue,
        "last_value" => WindowFunction::LastValue,
        "sum" | "cumsum" | "sums" => WindowFunction::Sum,
        "avg" => WindowFunction::Avg,
        "min" => WindowFunction::Min,
        "max" => WindowFunction::Max,
        "count" => WindowFunction::Count,
        "msum" | "mavg" | "mmin" | "mmax" | "mcount" => {
            let n = match number(1)? {
                Some(Value::Int(n)) if n >= 1 => n as u64,
                other => {
                    return Err(QueryError::Type {
                        detail: format!("{name} needs a window length >= 1, not {other:?}"),
                    })
                }
            };
            frame_override = Some(WindowFrame::Rows {
                preceding: Some(n - 1),
                following: 0,
            });
            match name.as_str() {
                "msum" => WindowFunction::Sum,
                "mavg" => WindowFunction::Avg,
                "mmin" => WindowFunction::Min,
                "mmax" => WindowFunction::Max,
                _ => WindowFunction::Count,
            }
        }
        "ema" => {
            let alpha = match number(1)?.and_then(|v| v.as_f64()) {
                Some(a) if a > 0.0 && a < 1.0 => a,
                Some(period) if period >= 1.0 => 2.0 / (period + 1.0),
                _ => {
                    return Err(QueryError::Type {
                        detail: "ema(x, alpha) needs 0 < alpha < 1 or a period >= 1".into(),
                    })
                }
            };
            WindowFunction::Ema { alpha }
        }
        other => return Err(unsupported(&format!("window function {other}"))),
    };
    let column_of = |e: &Expr| match bind_scalar(e, Some(schema))? {
        ScalarExpr::Column(i) => Ok(i),
        _ => Err(unsupported(
            "PARTITION BY / ORDER BY over an expression in OVER (name a column)",
        )),
    };
    let partition_by = over
        .partition_by
        .iter()
        .map(column_of)
        .collect::<Result<Vec<_>, _>>()?;
    let mut order_by = Vec::new();
    for key in &over.order_by {
        order_by.push((
            column_of(&key.expr)?,
            matches!(key.options.sort, Some(sqlparser::ast::OrderBySort::Desc)),
        ));
    }
    let ordered_function = !matches!(
        function,
        WindowFunction::Sum
            | WindowFunction::Avg
            | WindowFunction::Min
            | WindowFunction::Max
            | WindowFunction::Count
    ) || frame_override.is_some();
    if order_by.is_empty() && ordered_function {
        // Tick data is ordered by time: kdb+'s `deltas price by sym` needs no ORDER BY.
        if let Some(ts) = timestamp {
            order_by.push((ts, false));
        }
    }
    let frame = match (&over.window_frame, frame_override) {
        (_, Some(frame)) => frame,
        (None, None) if order_by.is_empty() => WindowFrame::Partition,
        (None, None) => WindowFrame::Rows {
            preceding: None,
            following: 0,
        },
        (Some(frame), None) => bind_frame(frame)?,
    };
    let data_type = function.output_type(arg_type);
    Ok((
        BoundWindow {
            spec: WindowSpec {
                function,
                args: arg_columns,
                partition_by,
                order_by,
                frame,
            },
            computed,
        },
        data_type,
    ))
}

pub(super) fn bind_frame(frame: &sqlparser::ast::WindowFrame) -> Result<WindowFrame, QueryError> {
    let bound = |b: &WindowFrameBound, preceding: bool| -> Result<Option<u64>, QueryError> {
        match b {
            WindowFrameBound::CurrentRow => Ok(Some(0)),
            WindowFrameBound::Preceding(None) if preceding => Ok(None),
            WindowFrameBound::Following(Some(e)) if !preceding => match constant(e, false)? {
                Value::Int(n) if n >= 0 => Ok(Some(n as u64)),
                other => Err(QueryError::Type {
                    detail: format!("frame bound {other}"),
                }),
            },
            WindowFrameBound::Preceding(Some(e)) if preceding => match constant(e, false)? {
                Value::Int(n) if n >= 0 => Ok(Some(n as u64)),
                other => Err(QueryError::Type {
                    detail: format!("frame bound {other}"),
                }),
            },
            other => Err(unsupported(&format!("window frame bound {other}"))),
        }
    };
    if frame.units != WindowFrameUnits::Rows {
        return Err(unsupported(&format!(
            "{} frames (use ROWS n PRECEDING)",
            frame.units
        )));
    }
    let preceding = bound(&frame.start_bound, true)?;
    let following = match &frame.end_bound {
        None => 0,
        Some(end) => bound(end, false)?.unwrap_or(0),
    };
    Ok(WindowFrame::Rows {
        preceding,
        following,
    })
}

impl Planner<'_> {
    pub(super) fn window_select(
        &mut self,
        query: &Query,
        select: &Select,
    ) -> Result<PlannedNode, QueryError> {
        let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
        if grouped
            || select.projection.iter().any(|i| match i {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    contains_aggregate(e) && !has_window(e)
                }
                _ => false,
            })
        {
            return Err(unsupported(
                "window functions together with GROUP BY in one SELECT (aggregate in a subquery first)",
            ));
        }
        // The rows the windows run over: FROM and WHERE.
        let mut base = star_select()?;
        base.from = select.from.clone();
        base.selection = select.selection.clone();
        let mut base_query = query.clone();
        base_query.with = None;
        base_query.order_by = None;
        base_query.limit_clause = None;
        *base_query.body = SetExpr::Select(Box::new(base.clone()));
        let input = self.select(&base_query, &base)?;
        let schema = input.schema();
        let types: Vec<DataType> = schema.columns.iter().map(|c| c.data_type).collect();
        let width = input.columns.len();
        let mut windows = Vec::new();
        let mut columns = input.columns.clone();
        let mut failure = None;
        let projection = map_items(select, &mut |f| {
            f.over.as_ref()?;
            match bind_window(f, &schema, &types, width, input.timestamp) {
                Ok((window, data_type)) => {
                    let name = format!("__w{}", windows.len());
                    windows.push(window);
                    columns.push(RelColumn {
                        qualifier: None,
                        name: name.clone(),
                        data_type,
                    });
                    Some(name)
                }
                Err(e) => {
                    failure.get_or_insert(e);
                    None
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        let node = PlannedNode {
            columns,
            timestamp: input.timestamp,
            node: Node::Window {
                input: Box::new(input),
                windows,
            },
        };
        let mut outer = select.clone();
        outer.projection = projection;
        outer.selection = None;
        self.select_over(query, &outer, node)
    }
}
