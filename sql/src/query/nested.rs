//! Nested aggregates on the shards: an aggregate SELECT over a derived table that aggregates
//! one table by keys that include the table's symbol column runs whole on the shards.
//!
//! Each group of the inner aggregate lies in one partition, so a shard can finish its groups
//! (the inner HAVING and select list included) and feed them to the outer aggregate itself;
//! the coordinator then merges only the outer partial states, as for any aggregate, instead of
//! receiving every inner group (a day of minute bars of every symbol). The outer expressions
//! are rebound from the derived table's columns to the inner select list's expressions over
//! the finished group row `[inner keys.., inner aggregate values..]`, which is what a shard
//! holds per group. Anything else keeps the coordinator's row-wise evaluation: an inner ORDER
//! BY, LIMIT or OFFSET, inner groups that may span partitions, outer first/last (finished
//! groups have no time order on a shard), or string values other than the symbol.

use quecto_engine::fragment::plan::{
    map_all, map_calls, AggregateCall, AggregateFunction, BinaryOp, Fragment, FragmentOutput,
    Reaggregate, ScalarExpr,
};
use quecto_engine::schema::TableSchema;
use quecto_engine::types::DataType;

use crate::bind::type_of;
use crate::query::{Node, PlannedNode};
use crate::select::{Merge, SelectPlan};

use super::planner::Planner;

impl Planner<'_> {
    /// `node`, or a scan running both aggregates on the shards when it is an aggregate over
    /// the last scan planned, itself an aggregate whose groups each lie in one partition.
    pub(super) fn nested(&mut self, node: PlannedNode) -> PlannedNode {
        let Node::Select { input, plan } = &node.node else {
            return node;
        };
        let Node::Scan(index) = input.node else {
            return node;
        };
        if index + 1 != self.scans.len() {
            return node;
        }
        let inner = &self.scans[index];
        let Some(schema) = self.catalog.table(&inner.fragment.table) else {
            return node;
        };
        match nested_plan(inner, plan, &schema) {
            Some(pushed) => {
                self.scans[index] = pushed;
                PlannedNode {
                    node: Node::Scan(index),
                    columns: node.columns,
                    timestamp: node.timestamp,
                }
            }
            None => node,
        }
    }
}

/// The inner aggregate's parts a shard needs to finish its groups.
struct Inner<'a> {
    group_by: &'a [ScalarExpr],
    aggregates: &'a [AggregateCall],
    having: Option<&'a ScalarExpr>,
    /// The select list, over the finished group row.
    outputs: &'a [ScalarExpr],
}

/// One scan running `outer` over the finished groups of `inner`, when both fit.
fn nested_plan(inner: &SelectPlan, outer: &SelectPlan, schema: &TableSchema) -> Option<SelectPlan> {
    let parts = finishable(inner, schema)?;
    let (outer_keys, outer_calls) = plain_aggregate(outer)?;
    let ordered =
        |f: AggregateFunction| matches!(f, AggregateFunction::First | AggregateFunction::Last);
    if outer_calls.iter().any(|c| ordered(c.function)) {
        return None;
    }
    // The outer expressions read the derived table's columns: the inner select list.
    let mut rebind = |column: usize| parts.outputs.get(column).cloned();
    let outer_filter = match &outer.fragment.filter {
        Some(filter) => Some(filter.try_map_columns(&mut rebind)?),
        None => None,
    };
    let group_by = map_all(outer_keys, &mut rebind)?;
    let aggregates = map_calls(outer_calls, &mut rebind)?;
    let filter = [parts.having.cloned(), outer_filter]
        .into_iter()
        .flatten()
        .reduce(|a, b| ScalarExpr::Binary {
            op: BinaryOp::And,
            left: Box::new(a),
            right: Box::new(b),
        });
    // An outer key that is the inner symbol key keeps the outer groups on one shard each.
    let symbol_key = |e: &ScalarExpr| match e {
        ScalarExpr::Column(k) => {
            parts.group_by.get(*k) == Some(&ScalarExpr::Column(schema.symbol_index))
        }
        _ => false,
    };
    let mut merge = outer.merge.clone();
    if let Merge::Aggregate {
        partition_complete, ..
    } = &mut merge
    {
        *partition_complete = group_by.iter().any(symbol_key);
    }
    Some(SelectPlan {
        fragment: Fragment {
            table: inner.fragment.table.clone(),
            symbols: inner.fragment.symbols.clone(),
            filter: inner.fragment.filter.clone(),
            output: FragmentOutput::Aggregate {
                group_by: parts.group_by.to_vec(),
                aggregates: parts.aggregates.to_vec(),
                reaggregate: Some(Box::new(Reaggregate {
                    filter,
                    group_by,
                    aggregates,
                })),
            },
            asof: None,
        },
        merge,
        columns: outer.columns.clone(),
    })
}

/// The outer SELECT's keys and calls when it is a plain aggregate of rows.
fn plain_aggregate(plan: &SelectPlan) -> Option<(&[ScalarExpr], &[AggregateCall])> {
    match (&plan.fragment.output, &plan.merge, &plan.fragment.asof) {
        (
            FragmentOutput::Aggregate {
                group_by,
                aggregates,
                reaggregate: None,
            },
            Merge::Aggregate { .. },
            None,
        ) => Some((group_by, aggregates)),
        _ => None,
    }
}

/// The inner SELECT's parts when a shard can finish its groups: an aggregate of one table
/// whose keys include the symbol column, without ORDER BY/LIMIT/OFFSET, whose keys and values
/// are numbers, booleans, or the symbol itself (a string constant over a partition).
fn finishable<'a>(plan: &'a SelectPlan, schema: &TableSchema) -> Option<Inner<'a>> {
    let (group_by, aggregates) = plain_aggregate(plan)?;
    let Merge::Aggregate {
        partition_complete: true,
        having,
        outputs,
        order_by,
        limit: None,
        offset: 0,
        ..
    } = &plan.merge
    else {
        return None;
    };
    if !order_by.is_empty() {
        return None;
    }
    let symbol = ScalarExpr::Column(schema.symbol_index);
    if !group_by.contains(&symbol) {
        return None;
    }
    let types: Vec<DataType> = schema.columns.iter().map(|c| c.data_type).collect();
    let key_fits = |key: &ScalarExpr| *key == symbol || type_of(key, &types) != DataType::Symbol;
    let call_fits = |call: &AggregateCall| {
        let arg_types: Vec<DataType> = call.args.iter().map(|a| type_of(a, &types)).collect();
        call.function
            .result_type(&arg_types)
            .is_some_and(|t| t != DataType::Symbol)
    };
    if !group_by.iter().all(key_fits) || !aggregates.iter().all(call_fits) {
        return None;
    }
    Some(Inner {
        group_by,
        aggregates,
        having: having.as_ref(),
        outputs,
    })
}
