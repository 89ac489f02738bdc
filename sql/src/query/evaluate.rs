//! Evaluates a composite query's tree on the coordinator, given the merged results of its scans.

use quecto_engine::fragment::aggregate::AggState;
use quecto_engine::types::Value;

use crate::error::QueryError;
use crate::merge::merge_results;
use crate::query::rows::{accumulate, filter_rows, order_of, ordering_column, run_over_rows};
use crate::query::{BoundWindow, JoinStrategy, Node, PlannedNode, QueryPlan};
use crate::relation::asof::asof_join;
use crate::relation::fill::fill_buckets;
use crate::relation::join::hash_join;
use crate::relation::sort::limit_by;
use crate::relation::window::evaluate_windows;
use crate::relation::window_join::window_join;
use crate::relation::{RelColumn, Relation};
use crate::result::{QueryStatistics, ResultSet};
use crate::row_eval::eval_row;

/// The answer of `plan`, given `scans[i]` = the merged result of `plan.scans[i]`.
pub fn evaluate(plan: &QueryPlan, scans: Vec<ResultSet>) -> Result<ResultSet, QueryError> {
    let mut statistics = QueryStatistics::default();
    let mut inputs: Vec<Option<Vec<Vec<Value>>>> = Vec::with_capacity(scans.len());
    for scan in scans {
        statistics.rows_read += scan.statistics.rows_read;
        statistics.bytes_read += scan.statistics.bytes_read;
        inputs.push(Some(scan.rows));
    }
    let relation = evaluate_node(&plan.root, &mut inputs)?;
    Ok(ResultSet {
        columns: plan.columns(),
        rows: relation.rows,
        statistics,
    })
}

fn evaluate_node(
    planned: &PlannedNode,
    scans: &mut [Option<Vec<Vec<Value>>>],
) -> Result<Relation, QueryError> {
    let rows = match &planned.node {
        Node::Scan(index) => scans
            .get_mut(*index)
            .and_then(Option::take)
            .ok_or_else(|| internal(format!("scan {index} consumed twice")))?,
        Node::Values(rows) => rows.clone(),
        Node::Select { input, plan } => {
            let rows = evaluate_node(input, scans)?.rows;
            let types: Vec<_> = input.columns.iter().map(|c| c.data_type).collect();
            let order = ordering_column(&types, input.timestamp);
            let result = run_over_rows(&plan.fragment, rows, order)?;
            merge_results(plan, vec![result])?.rows
        }
        Node::Join {
            left,
            right,
            strategy,
        } => {
            let left_rows = evaluate_node(left, scans)?;
            let right_rows = evaluate_node(right, scans)?;
            let added = planned.columns[left.columns.len().min(planned.columns.len())..].to_vec();
            join(left_rows, right_rows, strategy, right, added)?
        }
        Node::Window { input, windows } => {
            let relation = evaluate_node(input, scans)?;
            apply_windows(relation, windows)?
        }
        Node::Fill { input, spec } => fill_buckets(evaluate_node(input, scans)?, spec)?.rows,
        Node::LimitBy {
            input,
            keys,
            limit,
            offset,
        } => limit_by(evaluate_node(input, scans)?, keys, *limit, *offset).rows,
        Node::UnionAll(parts) => {
            let mut rows = Vec::new();
            for part in parts {
                rows.extend(evaluate_node(part, scans)?.rows);
            }
            rows
        }
    };
    Ok(Relation {
        columns: planned.columns.clone(),
        rows,
    })
}

fn join(
    left: Relation,
    right: Relation,
    strategy: &JoinStrategy,
    right_node: &PlannedNode,
    added_columns: Vec<RelColumn>,
) -> Result<Vec<Vec<Value>>, QueryError> {
    Ok(match strategy {
        JoinStrategy::Hash {
            kind,
            left_keys,
            right_keys,
            residual,
        } => {
            let joined = hash_join(left, right, left_keys, right_keys, *kind)?;
            filter_rows(residual.as_ref(), joined.rows)?
        }
        JoinStrategy::Asof(spec) => asof_join(left, right, spec)?.rows,
        JoinStrategy::Window { spec, aggregates } => {
            let types: Vec<_> = right_node.columns.iter().map(|c| c.data_type).collect();
            let order = ordering_column(&types, right_node.timestamp);
            let mut aggregate = |window: &[&[Value]]| -> Result<Vec<Value>, QueryError> {
                let mut states: Vec<AggState> = aggregates
                    .iter()
                    .map(|a| AggState::new(a.function))
                    .collect();
                let mut args = Vec::new();
                for (position, row) in window.iter().enumerate() {
                    let at = order_of(row, order, position);
                    accumulate(aggregates, &mut states, row, at, &mut args)?;
                }
                aggregates
                    .iter()
                    .zip(&states)
                    .map(|(call, state)| Ok(state.finish(call.function)?))
                    .collect()
            };
            window_join(left, right, spec, &mut aggregate, added_columns)?.rows
        }
    })
}

/// Appends each window's values to the rows, computing non-column arguments first.
fn apply_windows(
    mut relation: Relation,
    windows: &[BoundWindow],
) -> Result<Vec<Vec<Value>>, QueryError> {
    let width = relation.columns.len();
    let mut outputs = Vec::with_capacity(windows.len());
    for window in windows {
        if !window.computed.is_empty() {
            for row in &mut relation.rows {
                row.truncate(width);
                for expr in &window.computed {
                    let value = eval_row(expr, row)?;
                    row.push(value);
                }
            }
        }
        let mut values = evaluate_windows(&relation, std::slice::from_ref(&window.spec))?;
        outputs.push(values.pop().unwrap_or_default());
    }
    let mut rows = relation.rows;
    for (position, row) in rows.iter_mut().enumerate() {
        row.truncate(width);
        for output in &mut outputs {
            let value = match output.get_mut(position) {
                Some(value) => std::mem::replace(value, Value::Null),
                None => Value::Null,
            };
            row.push(value);
        }
    }
    Ok(rows)
}

fn internal(detail: String) -> QueryError {
    QueryError::Engine(quecto_engine::EngineError::Internal { detail })
}
