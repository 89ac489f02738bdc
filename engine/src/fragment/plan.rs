//! What a shard runs: a `Fragment`, plain data that the coordinator builds from a bound query
//! and that can later travel to a remote node unchanged.

use crate::batch::SymbolKey;
use crate::types::{DataType, Value};

pub use super::functions::ScalarFunction;

/// A scalar expression over one table's columns (bound: columns are schema indices).
#[derive(Clone, Debug, PartialEq)]
pub enum ScalarExpr {
    /// A column of the scanned table, by schema index.
    Column(usize),
    /// A constant.
    Literal(Value),
    /// A binary operator.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<ScalarExpr>,
        /// Right operand.
        right: Box<ScalarExpr>,
    },
    /// Logical NOT.
    Not(Box<ScalarExpr>),
    /// Arithmetic negation.
    Negate(Box<ScalarExpr>),
    /// `expr IS [NOT] NULL`.
    IsNull {
        /// The tested expression.
        expr: Box<ScalarExpr>,
        /// True for IS NOT NULL.
        negated: bool,
    },
    /// `expr [NOT] IN (literals)`.
    InList {
        /// The tested expression.
        expr: Box<ScalarExpr>,
        /// The constants.
        list: Vec<Value>,
        /// True for NOT IN.
        negated: bool,
    },
    /// A scalar function call.
    Function {
        /// The function.
        function: ScalarFunction,
        /// Its arguments.
        args: Vec<ScalarExpr>,
    },
    /// `CASE [operand] WHEN .. THEN .. [ELSE ..] END`: the first branch whose condition holds
    /// (or, with an operand, whose value equals it); NULL conditions do not hold; no match and
    /// no ELSE gives NULL.
    Case {
        /// Compared with each branch's first expression when present.
        operand: Option<Box<ScalarExpr>>,
        /// (condition or value, result) pairs, in order.
        branches: Vec<(ScalarExpr, ScalarExpr)>,
        /// The ELSE result.
        otherwise: Option<Box<ScalarExpr>>,
    },
    /// `CAST(expr AS to)`.
    Cast {
        /// The value.
        expr: Box<ScalarExpr>,
        /// The target type.
        to: DataType,
    },
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Subtract,
    /// `*`
    Multiply,
    /// `/` (always floating point, as in ClickHouse)
    Divide,
    /// `%` (integers)
    Modulo,
    /// `=`
    Eq,
    /// `!=` / `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `AND`
    And,
    /// `OR`
    Or,
}

impl BinaryOp {
    /// True for comparison operators.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::NotEq
                | BinaryOp::Lt
                | BinaryOp::LtEq
                | BinaryOp::Gt
                | BinaryOp::GtEq
        )
    }

    /// Whether `left op right` holds, given how `left` compares to `right`. False for
    /// operators that are not comparisons.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        match self {
            BinaryOp::Eq => ordering.is_eq(),
            BinaryOp::NotEq => ordering.is_ne(),
            BinaryOp::Lt => ordering.is_lt(),
            BinaryOp::LtEq => ordering.is_le(),
            BinaryOp::Gt => ordering.is_gt(),
            BinaryOp::GtEq => ordering.is_ge(),
            BinaryOp::Add
            | BinaryOp::Subtract
            | BinaryOp::Multiply
            | BinaryOp::Divide
            | BinaryOp::Modulo
            | BinaryOp::And
            | BinaryOp::Or => false,
        }
    }

    /// The operator with its operands swapped (`a < b` ⇔ `b > a`).
    pub fn flipped(self) -> BinaryOp {
        match self {
            BinaryOp::Lt => BinaryOp::Gt,
            BinaryOp::LtEq => BinaryOp::GtEq,
            BinaryOp::Gt => BinaryOp::Lt,
            BinaryOp::GtEq => BinaryOp::LtEq,
            other => other,
        }
    }
}

/// Aggregate functions, each with a mergeable partial state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggregateFunction {
    /// `count(*)` (no argument) or `count(expr)` (non-NULL values).
    Count,
    /// `count(DISTINCT expr)`.
    CountDistinct,
    /// `sum(expr)`: exact i128 for integers (overflow of Int64 is an error), f64 for floats.
    Sum,
    /// `avg(expr)`.
    Avg,
    /// `min(expr)`.
    Min,
    /// `max(expr)`.
    Max,
    /// `first(expr)`: the value at the smallest timestamp.
    First,
    /// `last(expr)`: the value at the largest timestamp.
    Last,
    /// `vwap(price, volume)` = Σ(price·volume) / Σ(volume).
    Vwap,
}

impl AggregateFunction {
    /// The SQL name.
    pub fn name(self) -> &'static str {
        match self {
            AggregateFunction::Count => "count",
            AggregateFunction::CountDistinct => "count(DISTINCT)",
            AggregateFunction::Sum => "sum",
            AggregateFunction::Avg => "avg",
            AggregateFunction::Min => "min",
            AggregateFunction::Max => "max",
            AggregateFunction::First => "first",
            AggregateFunction::Last => "last",
            AggregateFunction::Vwap => "vwap",
        }
    }
}

/// One aggregate call in a fragment.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateCall {
    /// The function.
    pub function: AggregateFunction,
    /// Its arguments (empty for `count(*)`).
    pub args: Vec<ScalarExpr>,
}

/// A sort key of a row fragment: an expression and its direction.
#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    /// The key.
    pub expr: ScalarExpr,
    /// True for DESC.
    pub descending: bool,
}

/// What the fragment returns.
#[derive(Clone, Debug, PartialEq)]
pub enum FragmentOutput {
    /// Partial aggregate states per group.
    Aggregate {
        /// Grouping expressions (empty: one group over all rows).
        group_by: Vec<ScalarExpr>,
        /// Aggregates.
        aggregates: Vec<AggregateCall>,
    },
    /// Selected rows: `columns` then the values of `order_by` keys, at most `limit` rows (the
    /// first rows in `order_by` order when given).
    Rows {
        /// Projected expressions.
        columns: Vec<ScalarExpr>,
        /// Sort keys, appended to each row after the columns.
        order_by: Vec<SortKey>,
        /// Most rows to return (offset + limit of the query).
        limit: Option<usize>,
    },
}

/// A plan fragment: scan one table on one shard, filter, and aggregate or project.
#[derive(Clone, Debug, PartialEq)]
pub struct Fragment {
    /// The table.
    pub table: String,
    /// Only these symbols when `Some` (from `symbol = X` / `IN`); every partition when `None`.
    pub symbols: Option<Vec<SymbolKey>>,
    /// Row filter (NULL counts as false).
    pub filter: Option<ScalarExpr>,
    /// What to compute.
    pub output: FragmentOutput,
}
