//! Co-located ASOF joins: a SELECT over an ASOF join of two base-table scans keyed by the two
//! tables' symbol columns runs on the shards, not on the coordinator.
//!
//! Every table is partitioned by symbol over the same ring, so a symbol's rows of both tables
//! live on one shard, sorted by their designated timestamps: each shard can join its own
//! partitions by a merge walk and evaluate the SELECT above the join (aggregate or
//! projection) column-wise, and the coordinator only merges what the shards send, as for a
//! query over one table. The SELECT's expressions are rebound from the join's output columns
//! (the two scans' projections) to the joined columns a shard sees: every left table column,
//! then every right table column. Anything else keeps the coordinator's row-wise join.

use quecto_engine::fragment::plan::{AsofJoin, Fragment, FragmentOutput, ScalarExpr};
use quecto_engine::schema::TableSchema;
use quecto_engine::types::DataType;

use crate::query::{JoinStrategy, Node, PlannedNode};
use crate::relation::asof::AsofSpec;
use crate::select::{Merge, SelectPlan};

use super::planner::Planner;

impl Planner<'_> {
    /// `node`, or a scan running it on the shards when it is a SELECT over a co-partitioned
    /// ASOF join of the last two scans planned.
    pub(super) fn colocated(&mut self, node: PlannedNode) -> PlannedNode {
        match self.colocated_plan(&node) {
            Some(plan) => {
                // The join's two scans are the last ones planned; the joined scan replaces them.
                let first = self.scans.len() - 2;
                self.scans.truncate(first);
                self.scans.push(plan);
                PlannedNode {
                    node: Node::Scan(first),
                    columns: node.columns,
                    timestamp: node.timestamp,
                }
            }
            None => node,
        }
    }

    fn colocated_plan(&self, node: &PlannedNode) -> Option<SelectPlan> {
        let Node::Select { input, plan } = &node.node else {
            return None;
        };
        let Node::Join {
            left,
            right,
            strategy: JoinStrategy::Asof(spec),
        } = &input.node
        else {
            return None;
        };
        let (Node::Scan(l), Node::Scan(r)) = (&left.node, &right.node) else {
            return None;
        };
        if *l + 1 != *r || *r + 1 != self.scans.len() {
            return None;
        }
        let (left_scan, right_scan) = (&self.scans[*l], &self.scans[*r]);
        let left_schema = self.catalog.table(&left_scan.fragment.table)?;
        let right_schema = self.catalog.table(&right_scan.fragment.table)?;
        let sides = Sides {
            left: plain_scan(left_scan)?,
            right: plain_scan(right_scan)?,
            left_schema: &left_schema,
            right_schema: &right_schema,
        };
        sides.keyed_by_symbol_and_time(spec)?;
        let left_outer = spec.left_outer;
        let mut rebind = |index: usize| sides.rebind(index, left_outer);
        let joined_filter = match &plan.fragment.filter {
            Some(filter) => Some(filter.try_map_columns(&mut rebind)?),
            None => None,
        };
        let output = plan.fragment.output.try_map_columns(&mut rebind)?;
        let join = AsofJoin {
            right_table: right_scan.fragment.table.clone(),
            right_symbols: right_scan.fragment.symbols.clone(),
            right_filter: right_scan.fragment.filter.clone(),
            joined_filter,
            inclusive: spec.inclusive,
            tolerance_ns: spec.tolerance,
            left_outer,
        };
        Some(SelectPlan {
            fragment: Fragment {
                table: left_scan.fragment.table.clone(),
                symbols: left_scan.fragment.symbols.clone(),
                filter: left_scan.fragment.filter.clone(),
                output,
                asof: Some(Box::new(join)),
            },
            merge: plan.merge.clone(),
            columns: plan.columns.clone(),
        })
    }
}

/// The projections of a scan that only filters and projects (no aggregate, order or limit).
fn plain_scan(plan: &SelectPlan) -> Option<&[ScalarExpr]> {
    let FragmentOutput::Rows {
        columns,
        order_by,
        limit: None,
    } = &plan.fragment.output
    else {
        return None;
    };
    let Merge::Rows {
        columns_count,
        order_by: merge_order,
        limit: None,
        offset: 0,
    } = &plan.merge
    else {
        return None;
    };
    let plain = plan.fragment.asof.is_none()
        && order_by.is_empty()
        && merge_order.is_empty()
        && *columns_count == columns.len();
    plain.then_some(columns.as_slice())
}

/// The two scans of a join: their projections over their tables.
struct Sides<'a> {
    left: &'a [ScalarExpr],
    right: &'a [ScalarExpr],
    left_schema: &'a TableSchema,
    right_schema: &'a TableSchema,
}

impl Sides<'_> {
    /// `Some` when the join's only keys are the two symbol columns (of one type) and its times
    /// are the two designated timestamps: the shape a shard can join by partition.
    fn keyed_by_symbol_and_time(&self, spec: &AsofSpec) -> Option<()> {
        let ([left_key], [right_key]) = (spec.left_keys.as_slice(), spec.right_keys.as_slice())
        else {
            return None;
        };
        let is = |projection: &[ScalarExpr], at: usize, column: usize| {
            projection.get(at) == Some(&ScalarExpr::Column(column))
        };
        let (ls, rs) = (self.left_schema, self.right_schema);
        let symbol_type = |s: &TableSchema| s.columns.get(s.symbol_index).map(|c| c.data_type);
        let fits = is(self.left, *left_key, ls.symbol_index)
            && is(self.right, *right_key, rs.symbol_index)
            && is(self.left, spec.left_time, ls.timestamp_index)
            && is(self.right, spec.right_time, rs.timestamp_index)
            && symbol_type(ls).is_some()
            && symbol_type(ls) == symbol_type(rs);
        fits.then_some(())
    }

    /// Column `index` of the join's output as an expression over the joined columns a shard
    /// sees; `None` where the shard cannot give the coordinator's value.
    fn rebind(&self, index: usize, left_outer: bool) -> Option<ScalarExpr> {
        if let Some(expr) = self.left.get(index) {
            return Some(expr.clone());
        }
        // A right projection must be a plain column: an expression over an unmatched row
        // would not be NULL as the coordinator's padded row is (`coalesce(bid, 0)`, `1`).
        let ScalarExpr::Column(column) = self.right.get(index - self.left.len())? else {
            return None;
        };
        let left_width = self.left_schema.columns.len();
        if *column == self.right_schema.symbol_index {
            // Equal to the left symbol on every matched row; NULL on an unmatched one.
            return (!left_outer).then_some(ScalarExpr::Column(self.left_schema.symbol_index));
        }
        // Other SYMBOL columns hold ids of the right table's dictionary, which a joined chunk
        // (read with the left table's dictionary) cannot resolve.
        let data_type = self.right_schema.columns.get(*column)?.data_type;
        (data_type != DataType::Symbol).then_some(ScalarExpr::Column(left_width + column))
    }
}
