//! Composite queries: derived tables, CTEs, UNION ALL, joins (hash, ASOF, window), window
//! functions and SAMPLE BY fills.
//!
//! A composite query is a tree of `Node`s whose leaves are base-table SELECTs (`scans`) that the
//! shards run as fragments, exactly like a simple query, with their filters, partial aggregates
//! and symbol routing pushed down. The coordinator then evaluates the rest of the tree over the
//! leaves' merged results, row-wise (`evaluate`). A SELECT over an intermediate result is planned
//! by the same planner as a SELECT over a table (`select::plan_select_over`), against a
//! synthetic schema of the intermediate result's columns, and its fragment is run over the
//! rows in memory (`rows::run_over_rows`) before the usual merge. One exception: a SELECT over
//! an ASOF join of two base-table scans keyed by the tables' symbol columns becomes a single
//! scan whose fragment joins on the shards (`colocated`), since both tables partition by
//! symbol over the same ring. Another: an aggregate SELECT over a derived table that
//! aggregates one table by keys including its symbol column becomes a single scan whose
//! fragment finishes the inner groups and aggregates them again on the shards (`nested`).

mod ast;
mod colocated;
pub mod evaluate;
mod joins;
mod markers;
mod nested;
pub mod planner;
mod pushdown;
pub mod rows;
mod windows;

use quecto_engine::fragment::plan::{AggregateCall, ScalarExpr};
use quecto_engine::schema::{ColumnDef, TableSchema};
use quecto_engine::types::DataType;

use crate::relation::asof::AsofSpec;
use crate::relation::fill::FillSpec;
use crate::relation::join::JoinKind;
use crate::relation::window::WindowSpec;
use crate::relation::window_join::WindowJoinSpec;
use crate::relation::RelColumn;
use crate::result::ResultColumn;
use crate::select::SelectPlan;

/// A planned composite query.
#[derive(Clone, Debug)]
pub struct QueryPlan {
    /// Base-table SELECTs run on the shards; `Node::Scan` refers to them by index.
    pub scans: Vec<SelectPlan>,
    /// The tree the coordinator evaluates over the scans' results.
    pub root: PlannedNode,
}

impl QueryPlan {
    /// The output columns.
    pub fn columns(&self) -> Vec<ResultColumn> {
        self.root
            .columns
            .iter()
            .map(|c| ResultColumn {
                name: c.name.clone(),
                data_type: c.data_type,
            })
            .collect()
    }
}

/// A node and the columns it produces.
#[derive(Clone, Debug)]
pub struct PlannedNode {
    /// The operation.
    pub node: Node,
    /// Output columns, qualified by the alias the node is known by in its parent.
    pub columns: Vec<RelColumn>,
    /// The designated timestamp among the columns, when known (ASOF / window joins use it when
    /// the join names no time condition).
    pub timestamp: Option<usize>,
}

impl PlannedNode {
    /// A schema over this node's columns, for planning a SELECT on top of it. Qualified columns
    /// are named `qualifier.name`; `TableSchema::column_index` resolves unqualified names.
    pub fn schema(&self) -> TableSchema {
        relation_schema(&self.columns, self.timestamp)
    }

    /// The same node known by `qualifier` (FROM (…) AS t, a CTE name, a table alias).
    pub fn qualified(mut self, qualifier: &str) -> PlannedNode {
        for column in &mut self.columns {
            column.qualifier = Some(qualifier.to_string());
        }
        self
    }
}

/// A schema over intermediate-result columns, for planning a SELECT on top of them. Qualified
/// columns are named `qualifier.name`; `TableSchema::column_index` resolves unqualified names.
pub fn relation_schema(columns: &[RelColumn], timestamp: Option<usize>) -> TableSchema {
    let columns: Vec<ColumnDef> = columns
        .iter()
        .map(|c| ColumnDef {
            name: match &c.qualifier {
                Some(q) => format!("{q}.{}", c.name),
                None => c.name.clone(),
            },
            data_type: c.data_type,
        })
        .collect();
    let timestamp_index = timestamp
        .or_else(|| {
            columns
                .iter()
                .position(|c| c.data_type == DataType::Timestamp)
        })
        .unwrap_or(0);
    let symbol_index = columns
        .iter()
        .position(|c| c.name == "symbol" || c.name.ends_with(".symbol"))
        .unwrap_or(0);
    TableSchema {
        name: "(subquery)".into(),
        columns,
        symbol_index,
        timestamp_index,
        ttl_seconds: None,
    }
}

/// One step of a composite query.
#[derive(Clone, Debug)]
pub enum Node {
    /// The merged result of `QueryPlan::scans[index]`.
    Scan(usize),
    /// Constant rows (a FROM-less SELECT).
    Values(Vec<Vec<quecto_engine::types::Value>>),
    /// A SELECT over the input's rows: its fragment runs on the coordinator, then its merge.
    Select {
        /// The rows it reads.
        input: Box<PlannedNode>,
        /// The plan, bound over `input.schema()`.
        plan: Box<SelectPlan>,
    },
    /// A join of two inputs; output = left columns ++ right columns (or ++ window aggregates).
    Join {
        /// Left input.
        left: Box<PlannedNode>,
        /// Right input.
        right: Box<PlannedNode>,
        /// How.
        strategy: JoinStrategy,
    },
    /// Window functions: appends one column per window to the input's columns.
    Window {
        /// The rows.
        input: Box<PlannedNode>,
        /// The windows.
        windows: Vec<BoundWindow>,
    },
    /// SAMPLE BY … FILL: adds the missing buckets.
    Fill {
        /// One row per (keys, bucket).
        input: Box<PlannedNode>,
        /// Keys, bucket and fill modes.
        spec: FillSpec,
    },
    /// ClickHouse `LIMIT n OFFSET m BY keys`: rows `m..m+n` of each key, in input order.
    LimitBy {
        /// The (sorted) rows.
        input: Box<PlannedNode>,
        /// Key columns.
        keys: Vec<usize>,
        /// Rows kept per key.
        limit: usize,
        /// Rows skipped per key.
        offset: usize,
    },
    /// UNION ALL of inputs with the same column count.
    UnionAll(Vec<PlannedNode>),
}

/// How a join is evaluated.
#[derive(Clone, Debug)]
pub enum JoinStrategy {
    /// Build a hash table on the right input's keys, probe with the left rows.
    Hash {
        /// Inner or left outer.
        kind: JoinKind,
        /// Key columns of the left input.
        left_keys: Vec<usize>,
        /// Key columns of the right input.
        right_keys: Vec<usize>,
        /// Conditions that are not key equalities, over the joined row (inner joins only).
        residual: Option<ScalarExpr>,
    },
    /// Each left row with the latest right row at or before its time, per key.
    Asof(AsofSpec),
    /// Each left row with aggregates of the right rows in a time window around it, per key.
    Window {
        /// Keys, times and the window.
        spec: WindowJoinSpec,
        /// Aggregates over the right input's columns.
        aggregates: Vec<AggregateCall>,
    },
}

impl JoinStrategy {
    /// A one-line description for EXPLAIN.
    pub fn describe(&self) -> String {
        match self {
            JoinStrategy::Hash { kind, .. } => format!("hash join ({kind:?}), build on the right"),
            JoinStrategy::Asof(spec) => format!(
                "ASOF merge join: per key, latest right row with time {} left time{}{}",
                if spec.inclusive { "<=" } else { "<" },
                spec.tolerance
                    .map(|t| format!(", tolerance {t} ns"))
                    .unwrap_or_default(),
                if spec.left_outer { ", left outer" } else { "" }
            ),
            JoinStrategy::Window { spec, aggregates } => format!(
                "window join: {} aggregate(s) over right rows in [t - {} ns, t + {} ns]",
                aggregates.len(),
                spec.before,
                spec.after
            ),
        }
    }
}

/// A window function bound over its input.
#[derive(Clone, Debug)]
pub struct BoundWindow {
    /// The function and its partition, order and frame; `args` index the input row extended
    /// by `computed` (computed argument values follow the input's columns).
    pub spec: WindowSpec,
    /// Argument expressions that are not plain columns, over the input row.
    pub computed: Vec<ScalarExpr>,
}
