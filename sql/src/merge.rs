//! The coordinator's half of a query: combine the shards' fragment results into the answer.

use quecto_engine::fragment::aggregate::AggState;
use quecto_engine::fragment::combine::GroupIndex;
use quecto_engine::fragment::exec::{sort_rows, FragmentData, FragmentResult, Group};
use quecto_engine::fragment::plan::{AggregateFunction, ScalarExpr, SortKey};
use quecto_engine::types::Value;

use crate::error::QueryError;
use crate::result::{QueryStatistics, ResultSet};
use crate::row_eval::eval_row;
use crate::select::{Merge, SelectPlan};

/// Merges the fragments' results of `plan` into the final result.
pub fn merge_results(
    plan: &SelectPlan,
    results: Vec<FragmentResult>,
) -> Result<ResultSet, QueryError> {
    let mut statistics = QueryStatistics::default();
    let mut data = Vec::with_capacity(results.len());
    for result in results {
        statistics.rows_read += result.rows_read;
        statistics.bytes_read += result.bytes_read;
        data.push(result.data);
    }
    let rows = match &plan.merge {
        Merge::Aggregate {
            groups_count,
            partition_complete,
            functions,
            having,
            outputs,
            order_by,
            limit,
            offset,
        } => {
            let merged = if *partition_complete || data.len() == 1 {
                concatenate_groups(data, functions)?
            } else {
                merge_groups(data, *groups_count, functions)?
            };
            let kept = apply_having(merged, having.as_ref())?;
            project_sorted(kept, outputs, order_by, *limit, *offset)?
        }
        Merge::Rows {
            columns_count,
            order_by,
            limit,
            offset,
        } => {
            let mut rows: Vec<Vec<Value>> = Vec::new();
            for part in data {
                match part {
                    FragmentData::Rows(r) => rows.extend(r),
                    FragmentData::Groups(_) => return Err(internal("groups from a row fragment")),
                }
            }
            if !order_by.is_empty() {
                sort_rows(&mut rows, *columns_count, order_by);
            }
            let mut rows = page(rows, *limit, *offset);
            rows.iter_mut().for_each(|r| r.truncate(*columns_count));
            rows
        }
    };
    Ok(ResultSet {
        columns: plan.columns.clone(),
        rows,
        statistics,
    })
}

fn internal(detail: &str) -> QueryError {
    QueryError::Engine(quecto_engine::EngineError::Internal {
        detail: detail.to_string(),
    })
}

fn page(rows: Vec<Vec<Value>>, limit: Option<usize>, offset: usize) -> Vec<Vec<Value>> {
    let take = limit.unwrap_or(usize::MAX);
    rows.into_iter().skip(offset).take(take).collect()
}

/// Combines partial groups from every shard, then finishes each state into a value.
fn merge_groups(
    data: Vec<FragmentData>,
    groups_count: usize,
    functions: &[AggregateFunction],
) -> Result<Vec<Vec<Value>>, QueryError> {
    let mut index = GroupIndex::default();
    let mut groups: Vec<Group> = Vec::new();
    for part in data {
        let FragmentData::Groups(parts) = part else {
            return Err(internal("rows from an aggregate fragment"));
        };
        index.absorb(&mut groups, parts)?;
    }
    if groups.is_empty() && groups_count == 0 {
        groups.push(Group {
            key: Vec::new(),
            states: functions.iter().map(|f| AggState::new(*f)).collect(),
        });
    }
    groups
        .into_iter()
        .map(|group| finish_group(group.key, &group.states, functions))
        .collect()
}

/// Finishes the groups of parts whose groups are all distinct (one part, or groups that lie in
/// one partition each); a query without GROUP BY gets one group from every shard, so it never
/// comes here with more than one part.
fn concatenate_groups(
    data: Vec<FragmentData>,
    functions: &[AggregateFunction],
) -> Result<Vec<Vec<Value>>, QueryError> {
    let mut rows = Vec::new();
    for part in data {
        let FragmentData::Groups(parts) = part else {
            return Err(internal("rows from an aggregate fragment"));
        };
        rows.reserve(parts.len());
        for group in parts {
            rows.push(finish_group(group.key, &group.states, functions)?);
        }
    }
    Ok(rows)
}

/// A group's key followed by its finished aggregates.
fn finish_group(
    mut key: Vec<Value>,
    states: &[AggState],
    functions: &[AggregateFunction],
) -> Result<Vec<Value>, QueryError> {
    key.reserve(functions.len());
    for (state, function) in states.iter().zip(functions) {
        key.push(state.finish(*function)?);
    }
    Ok(key)
}

fn apply_having(
    rows: Vec<Vec<Value>>,
    having: Option<&ScalarExpr>,
) -> Result<Vec<Vec<Value>>, QueryError> {
    let Some(having) = having else {
        return Ok(rows);
    };
    let mut kept = Vec::with_capacity(rows.len());
    for row in rows {
        if eval_row(having, &row)? == Value::Bool(true) {
            kept.push(row);
        }
    }
    Ok(kept)
}

/// Sorts merged rows by `order_by`, pages them, and evaluates the select list.
fn project_sorted(
    rows: Vec<Vec<Value>>,
    outputs: &[ScalarExpr],
    order_by: &[SortKey],
    limit: Option<usize>,
    offset: usize,
) -> Result<Vec<Vec<Value>>, QueryError> {
    let identity = outputs
        .iter()
        .enumerate()
        .all(|(i, e)| matches!(e, ScalarExpr::Column(c) if *c == i));
    if order_by.is_empty() && identity {
        let mut rows = page(rows, limit, offset);
        rows.iter_mut().for_each(|r| r.truncate(outputs.len()));
        return Ok(rows);
    }
    let mut keyed: Vec<Vec<Value>> = Vec::with_capacity(rows.len());
    for row in rows {
        let mut out = Vec::with_capacity(outputs.len() + order_by.len());
        for expr in outputs.iter().chain(order_by.iter().map(|k| &k.expr)) {
            out.push(eval_row(expr, &row)?);
        }
        keyed.push(out);
    }
    if !order_by.is_empty() {
        sort_rows(&mut keyed, outputs.len(), order_by);
    }
    let mut rows = page(keyed, limit, offset);
    rows.iter_mut().for_each(|r| r.truncate(outputs.len()));
    Ok(rows)
}
