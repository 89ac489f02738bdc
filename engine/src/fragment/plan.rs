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

/// A quantile level in `[0, 1]`, kept as the bits of its f64 so that aggregate functions stay
/// `Copy + Eq + Hash` (-0.0 is stored as 0.0, so equal levels have equal bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QuantileLevel(u64);

impl QuantileLevel {
    /// The median's level, 0.5.
    pub const MEDIAN: QuantileLevel = QuantileLevel(0x3fe0_0000_0000_0000);

    /// `level` when it lies in `[0, 1]`; `None` for NaN and levels outside it.
    pub fn new(level: f64) -> Option<QuantileLevel> {
        // Adding 0.0 turns -0.0 into 0.0 and leaves every other value unchanged.
        (0.0..=1.0)
            .contains(&level)
            .then(|| QuantileLevel((level + 0.0).to_bits()))
    }

    /// The level as a number in `[0, 1]`.
    pub fn get(self) -> f64 {
        f64::from_bits(self.0)
    }
}

/// Aggregate functions, each with a mergeable partial state. Every function but `count(*)`
/// skips rows where any of its arguments is NULL.
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
    /// `var_pop(expr)`: population variance Σ(x - mean)² / n; NULL over no rows.
    VarPop,
    /// `var_samp(expr)` (also `variance`, as in PostgreSQL and DuckDB): sample variance
    /// Σ(x - mean)² / (n - 1); NULL under two rows.
    VarSamp,
    /// `stddev_pop(expr)`: the square root of `var_pop`.
    StddevPop,
    /// `stddev_samp(expr)` (also `stddev`): the square root of `var_samp`.
    StddevSamp,
    /// `quantile_cont(expr, level)` / `median(expr)`: the exact quantile, interpolated linearly
    /// between the two nearest values (PostgreSQL `percentile_cont`).
    Quantile {
        /// The quantile's level.
        level: QuantileLevel,
    },
    /// `quantile_disc(expr, level)`: the first value (in ascending order) at or after the
    /// fraction `level` of the values (PostgreSQL `percentile_disc`), as Float64.
    QuantileDisc {
        /// The quantile's level.
        level: QuantileLevel,
    },
    /// `arg_min(value, key)`: `value` of the row with the smallest `key`; among rows tied on
    /// the key, the smallest value, so the answer does not depend on how rows are spread
    /// over shards.
    ArgMin,
    /// `arg_max(value, key)`: `value` of the row with the largest `key`; ties as `ArgMin`.
    ArgMax,
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
            AggregateFunction::VarPop => "var_pop",
            AggregateFunction::VarSamp => "var_samp",
            AggregateFunction::StddevPop => "stddev_pop",
            AggregateFunction::StddevSamp => "stddev_samp",
            AggregateFunction::Quantile { .. } => "quantile_cont",
            AggregateFunction::QuantileDisc { .. } => "quantile_disc",
            AggregateFunction::ArgMin => "arg_min",
            AggregateFunction::ArgMax => "arg_max",
        }
    }

    /// How many arguments the function takes.
    pub fn arity(self) -> std::ops::RangeInclusive<usize> {
        match self {
            AggregateFunction::Count => 0..=1,
            AggregateFunction::Vwap | AggregateFunction::ArgMin | AggregateFunction::ArgMax => {
                2..=2
            }
            _ => 1..=1,
        }
    }

    /// The type of the function's result over arguments of `arg_types`; `None` when it does not
    /// take arguments of those types (or of that number).
    pub fn result_type(
        self,
        arg_types: &[crate::types::DataType],
    ) -> Option<crate::types::DataType> {
        use crate::types::DataType;
        if !self.arity().contains(&arg_types.len()) {
            return None;
        }
        let numeric_or_bool = |t: &DataType| t.is_numeric() || *t == DataType::Bool;
        let first = arg_types.first().copied();
        match self {
            AggregateFunction::Count | AggregateFunction::CountDistinct => Some(DataType::UInt64),
            AggregateFunction::Sum => first.filter(numeric_or_bool).map(|t| {
                if t.is_float() {
                    DataType::Float64
                } else {
                    DataType::Int64
                }
            }),
            AggregateFunction::Avg | AggregateFunction::Vwap => arg_types
                .iter()
                .all(numeric_or_bool)
                .then_some(DataType::Float64),
            AggregateFunction::VarPop
            | AggregateFunction::VarSamp
            | AggregateFunction::StddevPop
            | AggregateFunction::StddevSamp
            | AggregateFunction::Quantile { .. }
            | AggregateFunction::QuantileDisc { .. } => arg_types
                .iter()
                .all(|t| t.is_numeric())
                .then_some(DataType::Float64),
            AggregateFunction::Min
            | AggregateFunction::Max
            | AggregateFunction::First
            | AggregateFunction::Last
            | AggregateFunction::ArgMin
            | AggregateFunction::ArgMax => first,
        }
    }

    /// Whether a chunk may memoize the function's state over all its rows: false for states
    /// that grow with the rows (distinct sets, quantile samples).
    pub fn is_memoizable(self) -> bool {
        !matches!(
            self,
            AggregateFunction::CountDistinct
                | AggregateFunction::Quantile { .. }
                | AggregateFunction::QuantileDisc { .. }
        )
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
        /// When set, the groups are finished on the shard and aggregated again, and the
        /// fragment returns the partial states of that second aggregate instead.
        reaggregate: Option<Box<Reaggregate>>,
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

/// A second aggregate over the finished groups of a fragment's aggregate: a query over a
/// derived table that aggregates one table, run whole on the shards. Every expression reads
/// the finished row of a group, `[group keys.., finished aggregate values..]`. The first
/// aggregate's keys must include the symbol column, so that each of its groups lies in one
/// partition and is finished there, one partition at a time.
#[derive(Clone, Debug, PartialEq)]
pub struct Reaggregate {
    /// Finished groups kept (the derived table's HAVING and the outer WHERE; NULL is false).
    pub filter: Option<ScalarExpr>,
    /// Grouping expressions of the second aggregate (empty: one group).
    pub group_by: Vec<ScalarExpr>,
    /// The second aggregate's calls; `first`/`last` have no order here and are refused.
    pub aggregates: Vec<AggregateCall>,
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
    /// A co-located ASOF join with another table of the same shard, when set: `filter` still
    /// selects rows of `table` (the left side), while `output` is bound over the joined
    /// columns, every column of `table` followed by every column of `AsofJoin::right_table`.
    pub asof: Option<Box<AsofJoin>>,
}

/// An ASOF join run on the shard: each left row of a partition meets the last right row of the
/// same symbol's partition of `right_table` whose timestamp is at or before its own (ties: the
/// last in partition order, which is arrival order), both sides walked in timestamp order.
#[derive(Clone, Debug, PartialEq)]
pub struct AsofJoin {
    /// The right table; partitioned by symbol on the same ring as the left table.
    pub right_table: String,
    /// Only these right symbols when `Some` (a left row of another symbol finds no match).
    pub right_symbols: Option<Vec<SymbolKey>>,
    /// Right rows that may match (over the right table's columns; NULL counts as false).
    pub right_filter: Option<ScalarExpr>,
    /// Joined rows kept (over the joined columns; NULL counts as false).
    pub joined_filter: Option<ScalarExpr>,
    /// `right.ts <= left.ts` when true, `right.ts < left.ts` when false.
    pub inclusive: bool,
    /// When set, also `left.ts - right.ts <= tolerance_ns`.
    pub tolerance_ns: Option<i64>,
    /// Keep unmatched left rows, with NULL right columns.
    pub left_outer: bool,
}

impl ScalarExpr {
    /// True when the expression reads no column but `column`: with the symbol column, one
    /// value over a whole partition.
    pub fn reads_only(&self, column: usize) -> bool {
        self.try_map_columns(&mut |index| (index == column).then_some(ScalarExpr::Column(index)))
            .is_some()
    }

    /// The expression with every `Column(i)` replaced by `f(i)`; `None` when `f` refuses one.
    pub fn try_map_columns(
        &self,
        f: &mut dyn FnMut(usize) -> Option<ScalarExpr>,
    ) -> Option<ScalarExpr> {
        let boxed = |e: &ScalarExpr, f: &mut dyn FnMut(usize) -> Option<ScalarExpr>| {
            e.try_map_columns(f).map(Box::new)
        };
        Some(match self {
            ScalarExpr::Column(index) => f(*index)?,
            ScalarExpr::Literal(value) => ScalarExpr::Literal(value.clone()),
            ScalarExpr::Binary { op, left, right } => ScalarExpr::Binary {
                op: *op,
                left: boxed(left, f)?,
                right: boxed(right, f)?,
            },
            ScalarExpr::Not(inner) => ScalarExpr::Not(boxed(inner, f)?),
            ScalarExpr::Negate(inner) => ScalarExpr::Negate(boxed(inner, f)?),
            ScalarExpr::IsNull { expr, negated } => ScalarExpr::IsNull {
                expr: boxed(expr, f)?,
                negated: *negated,
            },
            ScalarExpr::InList {
                expr,
                list,
                negated,
            } => ScalarExpr::InList {
                expr: boxed(expr, f)?,
                list: list.clone(),
                negated: *negated,
            },
            ScalarExpr::Function { function, args } => ScalarExpr::Function {
                function: *function,
                args: map_all(args, f)?,
            },
            ScalarExpr::Case {
                operand,
                branches,
                otherwise,
            } => ScalarExpr::Case {
                operand: map_optional(operand.as_deref(), f)?,
                branches: branches
                    .iter()
                    .map(|(w, t)| Some((w.try_map_columns(f)?, t.try_map_columns(f)?)))
                    .collect::<Option<_>>()?,
                otherwise: map_optional(otherwise.as_deref(), f)?,
            },
            ScalarExpr::Cast { expr, to } => ScalarExpr::Cast {
                expr: boxed(expr, f)?,
                to: *to,
            },
        })
    }
}

impl FragmentOutput {
    /// The output with every expression's columns mapped by `f` (see
    /// `ScalarExpr::try_map_columns`); `None` when `f` refuses a column.
    pub fn try_map_columns(
        &self,
        f: &mut dyn FnMut(usize) -> Option<ScalarExpr>,
    ) -> Option<FragmentOutput> {
        Some(match self {
            FragmentOutput::Aggregate {
                group_by,
                aggregates,
                reaggregate,
            } => FragmentOutput::Aggregate {
                group_by: map_all(group_by, f)?,
                aggregates: map_calls(aggregates, f)?,
                // The second aggregate reads finished groups, not the mapped columns.
                reaggregate: reaggregate.clone(),
            },
            FragmentOutput::Rows {
                columns,
                order_by,
                limit,
            } => FragmentOutput::Rows {
                columns: map_all(columns, f)?,
                order_by: order_by
                    .iter()
                    .map(|key| {
                        Some(SortKey {
                            expr: key.expr.try_map_columns(f)?,
                            descending: key.descending,
                        })
                    })
                    .collect::<Option<_>>()?,
                limit: *limit,
            },
        })
    }
}

/// `Some(None)` for no expression, `None` when mapping refuses.
fn map_optional(
    expr: Option<&ScalarExpr>,
    f: &mut dyn FnMut(usize) -> Option<ScalarExpr>,
) -> Option<Option<Box<ScalarExpr>>> {
    match expr {
        None => Some(None),
        Some(e) => e.try_map_columns(f).map(|e| Some(Box::new(e))),
    }
}

/// The calls with their arguments' columns mapped by `f`; `None` when it refuses one.
pub fn map_calls(
    calls: &[AggregateCall],
    f: &mut dyn FnMut(usize) -> Option<ScalarExpr>,
) -> Option<Vec<AggregateCall>> {
    calls
        .iter()
        .map(|call| {
            Some(AggregateCall {
                function: call.function,
                args: map_all(&call.args, f)?,
            })
        })
        .collect()
}

/// The expressions with their columns mapped by `f`; `None` when it refuses one.
pub fn map_all(
    exprs: &[ScalarExpr],
    f: &mut dyn FnMut(usize) -> Option<ScalarExpr>,
) -> Option<Vec<ScalarExpr>> {
    exprs.iter().map(|e| e.try_map_columns(f)).collect()
}
