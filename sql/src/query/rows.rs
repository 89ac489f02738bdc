//! Runs a fragment over rows held in memory (an intermediate result), row by row, producing the
//! same `FragmentResult` a shard would, so the ordinary merge finishes the SELECT.

use ahash::AHashMap;
use quecto_engine::fragment::aggregate::{AggState, KeyPart};
use quecto_engine::fragment::exec::{sort_rows, FragmentData, FragmentResult, Group};
use quecto_engine::fragment::plan::{AggregateCall, Fragment, FragmentOutput, ScalarExpr};
use quecto_engine::types::{DataType, Value};

use crate::error::QueryError;
use crate::row_eval::eval_row;

/// Runs `fragment` over `rows`; `timestamp` is the column that orders first/last (the row's
/// position when `None`).
pub fn run_over_rows(
    fragment: &Fragment,
    rows: Vec<Vec<Value>>,
    timestamp: Option<usize>,
) -> Result<FragmentResult, QueryError> {
    let rows_read = rows.len() as u64;
    let kept = filter_rows(fragment.filter.as_ref(), rows)?;
    let data = match &fragment.output {
        FragmentOutput::Rows {
            columns,
            order_by,
            limit,
        } => {
            let mut out = Vec::with_capacity(kept.len());
            for row in &kept {
                let mut values = Vec::with_capacity(columns.len() + order_by.len());
                for expr in columns {
                    values.push(eval_row(expr, row)?);
                }
                for key in order_by {
                    values.push(eval_row(&key.expr, row)?);
                }
                out.push(values);
            }
            if !order_by.is_empty() {
                sort_rows(&mut out, columns.len(), order_by);
            }
            if let Some(limit) = limit {
                out.truncate(*limit);
            }
            FragmentData::Rows(out)
        }
        FragmentOutput::Aggregate {
            reaggregate: Some(_),
            ..
        } => {
            return Err(QueryError::Engine(quecto_engine::EngineError::Internal {
                detail: "a second aggregate over rows in memory".into(),
            }))
        }
        FragmentOutput::Aggregate {
            group_by,
            aggregates,
            reaggregate: None,
        } => {
            let mut index: AHashMap<Vec<KeyPart>, usize> = AHashMap::new();
            let mut groups: Vec<Group> = Vec::new();
            let mut args = Vec::new();
            for (position, row) in kept.iter().enumerate() {
                let key = group_by
                    .iter()
                    .map(|g| eval_row(g, row))
                    .collect::<Result<Vec<Value>, _>>()?;
                let parts: Vec<KeyPart> = key.iter().map(KeyPart::from_value).collect();
                let slot = match index.get(&parts) {
                    Some(&slot) => slot,
                    None => {
                        let states = aggregates
                            .iter()
                            .map(|a| AggState::new(a.function))
                            .collect();
                        groups.push(Group { key, states });
                        index.insert(parts, groups.len() - 1);
                        groups.len() - 1
                    }
                };
                let order = order_of(row, timestamp, position);
                accumulate(aggregates, &mut groups[slot].states, row, order, &mut args)?;
            }
            if groups.is_empty() && group_by.is_empty() {
                let states = aggregates
                    .iter()
                    .map(|a| AggState::new(a.function))
                    .collect();
                groups.push(Group {
                    key: Vec::new(),
                    states,
                });
            }
            FragmentData::Groups(groups)
        }
    };
    Ok(FragmentResult {
        data,
        rows_read,
        bytes_read: 0,
    })
}

/// The rows `filter` keeps (NULL counts as false).
pub fn filter_rows(
    filter: Option<&ScalarExpr>,
    rows: Vec<Vec<Value>>,
) -> Result<Vec<Vec<Value>>, QueryError> {
    let Some(filter) = filter else {
        return Ok(rows);
    };
    let mut kept = Vec::with_capacity(rows.len());
    for row in rows {
        if matches!(eval_row(filter, &row)?, Value::Bool(true)) {
            kept.push(row);
        }
    }
    Ok(kept)
}

/// Adds `row` to each call's state, its arguments evaluated over the row (`args` is scratch).
pub fn accumulate(
    calls: &[AggregateCall],
    states: &mut [AggState],
    row: &[Value],
    order: i64,
    args: &mut Vec<Value>,
) -> Result<(), QueryError> {
    for (call, state) in calls.iter().zip(states) {
        args.clear();
        for arg in &call.args {
            args.push(eval_row(arg, row)?);
        }
        state.update_values(args, order)?;
    }
    Ok(())
}

/// What orders `row` for first/last: its timestamp when there is one, else its position.
pub fn order_of(row: &[Value], timestamp: Option<usize>, position: usize) -> i64 {
    match timestamp.and_then(|t| row.get(t)) {
        Some(Value::Int(ts)) => *ts,
        _ => position as i64,
    }
}

/// The column that orders first/last in rows of these types: the designated timestamp when it
/// is a timestamp.
pub fn ordering_column(types: &[DataType], timestamp: Option<usize>) -> Option<usize> {
    timestamp.filter(|&t| types.get(t) == Some(&DataType::Timestamp))
}
