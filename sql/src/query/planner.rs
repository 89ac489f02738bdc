//! Plans composite queries into a `QueryPlan`: base-table SELECTs become pushed-down scans,
//! everything else becomes coordinator nodes over their results.

use quecto_engine::fragment::plan::{AggregateCall, AggregateFunction, BinaryOp, ScalarExpr};
use quecto_engine::types::{DataType, Value};
use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, Join,
    JoinConstraint, JoinOperator, LimitClause, ObjectName, Query, Select, SelectItem, SetExpr,
    SetOperator, SetQuantifier, TableFactor, TableWithJoins, WindowFrameBound, WindowFrameUnits,
    WindowType,
};
use sqlparser::dialect::ClickHouseDialect;
use sqlparser::parser::Parser;

use crate::bind::{bind_scalar, constant, type_of};
use crate::error::QueryError;
use crate::query::{BoundWindow, JoinStrategy, Node, PlannedNode, QueryPlan};
use crate::relation::asof::AsofSpec;
use crate::relation::fill::{FillMode, FillSpec};
use crate::relation::join::JoinKind;
use crate::relation::window::{WindowFrame, WindowFunction, WindowSpec};
use crate::relation::window_join::WindowJoinSpec;
use crate::relation::RelColumn;
use crate::select::{aggregate_function, contains_aggregate, plan_select, plan_select_over};
use crate::select::{Catalog, SelectPlan};

/// Plans `query`.
pub fn plan_query(query: &Query, catalog: &dyn Catalog) -> Result<QueryPlan, QueryError> {
    let mut planner = Planner {
        catalog,
        scans: Vec::new(),
        ctes: Vec::new(),
    };
    let root = planner.query(query)?;
    Ok(QueryPlan {
        scans: planner.scans,
        root,
    })
}

struct Planner<'a> {
    catalog: &'a dyn Catalog,
    scans: Vec<SelectPlan>,
    /// CTEs in scope: each reference plans its query anew (its scans run once per reference).
    ctes: Vec<(String, Query)>,
}

impl Planner<'_> {
    fn query(&mut self, query: &Query) -> Result<PlannedNode, QueryError> {
        let ctes_before = self.ctes.len();
        if let Some(with) = &query.with {
            if with.recursive {
                return Err(unsupported("WITH RECURSIVE"));
            }
            for cte in &with.cte_tables {
                self.ctes
                    .push((cte.alias.name.value.clone(), (*cte.query).clone()));
            }
        }
        let planned = self.body(query);
        self.ctes.truncate(ctes_before);
        planned
    }

    fn body(&mut self, query: &Query) -> Result<PlannedNode, QueryError> {
        match &*query.body {
            SetExpr::Select(select) => self.select(query, select),
            SetExpr::Query(inner) if query.order_by.is_none() && query.limit_clause.is_none() => {
                self.query(inner)
            }
            SetExpr::SetOperation {
                op: SetOperator::Union,
                set_quantifier: SetQuantifier::All,
                ..
            } => {
                let mut parts = Vec::new();
                self.union_parts(&query.body, &mut parts)?;
                let columns = parts[0].columns.clone();
                for part in &parts[1..] {
                    if part.columns.len() != columns.len() {
                        return Err(QueryError::Type {
                            detail: format!(
                                "UNION ALL of {} and {} columns",
                                columns.len(),
                                part.columns.len()
                            ),
                        });
                    }
                }
                let union = PlannedNode {
                    columns: unqualified(columns),
                    timestamp: parts[0].timestamp,
                    node: Node::UnionAll(parts),
                };
                self.over_node(query, union)
            }
            other => Err(unsupported(&format!("query body `{}`", first_words(other)))),
        }
    }

    fn union_parts(
        &mut self,
        body: &SetExpr,
        parts: &mut Vec<PlannedNode>,
    ) -> Result<(), QueryError> {
        match body {
            SetExpr::SetOperation {
                op: SetOperator::Union,
                set_quantifier: SetQuantifier::All,
                left,
                right,
            } => {
                self.union_parts(left, parts)?;
                self.union_parts(right, parts)
            }
            SetExpr::SetOperation { op, .. } => Err(unsupported(&format!(
                "{op} without ALL (only UNION ALL is supported)"
            ))),
            SetExpr::Query(inner) => {
                parts.push(self.query(inner)?);
                Ok(())
            }
            other => {
                let query = bare_query(other.clone());
                parts.push(self.query(&query)?);
                Ok(())
            }
        }
    }

    /// `SELECT * FROM <node>` with `query`'s ORDER BY and LIMIT (a no-op when it has none).
    fn over_node(&mut self, query: &Query, node: PlannedNode) -> Result<PlannedNode, QueryError> {
        if query.order_by.is_none() && query.limit_clause.is_none() {
            return Ok(node);
        }
        let star = star_select()?;
        let mut outer = query.clone();
        outer.with = None;
        *outer.body = SetExpr::Select(Box::new(star.clone()));
        self.select_over(&outer, &star, node)
    }

    fn select(&mut self, query: &Query, select: &Select) -> Result<PlannedNode, QueryError> {
        if select.from.is_empty() {
            let constant = match crate::statement::constant_select(select)? {
                crate::statement::Plan::Constant(result) => result,
                _ => return Err(unsupported("a FROM-less SELECT")),
            };
            let node = PlannedNode {
                columns: constant
                    .columns
                    .iter()
                    .map(|c| RelColumn {
                        qualifier: None,
                        name: c.name.clone(),
                        data_type: c.data_type,
                    })
                    .collect(),
                timestamp: None,
                node: Node::Values(constant.rows),
            };
            return self.over_node(query, node);
        }
        if let Some(marker) = group_marker(select) {
            return self.marker_select(query, select, marker);
        }
        if let Some((limit_by, rest)) = split_limit_by(query)? {
            let inner = self.select(&rest, select)?;
            return self.limit_by(query, inner, limit_by);
        }
        if select.projection.iter().any(item_has_window) {
            return self.window_select(query, select);
        }
        if let Some(window_join) = window_join_of(select) {
            return self.window_join_select(query, select, window_join);
        }
        if let Some(table) = self.single_base_table(select) {
            let plan = plan_select(query, select, self.catalog)?;
            let schema = self
                .catalog
                .table(&table)
                .ok_or(QueryError::UnknownTable { table })?;
            let timestamp_name = &schema.columns[schema.timestamp_index].name;
            return Ok(self.scan(plan, Some(timestamp_name)));
        }
        let input = self.from(&select.from, None)?;
        self.select_over(query, select, input)
    }

    /// Plans `select` over `input`'s rows.
    fn select_over(
        &mut self,
        query: &Query,
        select: &Select,
        input: PlannedNode,
    ) -> Result<PlannedNode, QueryError> {
        let schema = input.schema();
        let plan = plan_select_over(query, select, &schema)?;
        let timestamp = timestamp_output(&plan, input.timestamp);
        Ok(PlannedNode {
            columns: result_columns(&plan),
            timestamp,
            node: Node::Select {
                input: Box::new(input),
                plan: Box::new(plan),
            },
        })
    }

    fn scan(&mut self, plan: SelectPlan, timestamp_name: Option<&String>) -> PlannedNode {
        let columns = result_columns(&plan);
        let timestamp = timestamp_name.and_then(|name| {
            columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(name))
        });
        self.scans.push(plan);
        PlannedNode {
            node: Node::Scan(self.scans.len() - 1),
            columns,
            timestamp,
        }
    }

    /// The table of `FROM table` when it is a base table (not a CTE) without joins.
    fn single_base_table(&self, select: &Select) -> Option<String> {
        let [from] = select.from.as_slice() else {
            return None;
        };
        if !from.joins.is_empty() {
            return None;
        }
        let TableFactor::Table {
            name, args: None, ..
        } = &from.relation
        else {
            return None;
        };
        let table = object_name(name);
        let is_cte = self
            .ctes
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(&table));
        (!is_cte).then_some(table)
    }

    fn from(
        &mut self,
        from: &[TableWithJoins],
        window_aggregates: Option<&[Expr]>,
    ) -> Result<PlannedNode, QueryError> {
        let [first] = from else {
            return Err(unsupported(
                "a FROM list of several tables (write JOIN … ON instead)",
            ));
        };
        let mut node = self.factor(&first.relation)?;
        for join in &first.joins {
            node = self.join(node, join, window_aggregates)?;
        }
        Ok(node)
    }

    fn factor(&mut self, factor: &TableFactor) -> Result<PlannedNode, QueryError> {
        match factor {
            TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } => {
                let table = object_name(name);
                let qualifier = alias
                    .as_ref()
                    .map_or(table.clone(), |a| a.name.value.clone());
                let cte = self
                    .ctes
                    .iter()
                    .rev()
                    .find(|(n, _)| n.eq_ignore_ascii_case(&table))
                    .map(|(_, q)| q.clone());
                let node = match cte {
                    Some(query) => self.query(&query)?,
                    None => {
                        let query = parse_query(&format!("SELECT * FROM {name}"))?;
                        self.query(&query)?
                    }
                };
                Ok(node.qualified(&qualifier))
            }
            TableFactor::Derived {
                lateral: false,
                subquery,
                alias,
                ..
            } => {
                let node = self.query(subquery)?;
                Ok(match alias {
                    Some(alias) => node.qualified(&alias.name.value),
                    None => node,
                })
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias: None,
                ..
            } => self.from(std::slice::from_ref(&**table_with_joins), None),
            other => Err(unsupported(&format!("FROM {other}"))),
        }
    }

    fn join(
        &mut self,
        left: PlannedNode,
        join: &Join,
        window_aggregates: Option<&[Expr]>,
    ) -> Result<PlannedNode, QueryError> {
        let right = self.factor(&join.relation)?;
        let (strategy, extra) = match &join.join_operator {
            JoinOperator::Join(c) | JoinOperator::Inner(c) => {
                (hash_strategy(&left, &right, c, JoinKind::Inner)?, None)
            }
            JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => {
                (hash_strategy(&left, &right, c, JoinKind::Left)?, None)
            }
            JoinOperator::CrossJoin(JoinConstraint::None) => (
                JoinStrategy::Hash {
                    kind: JoinKind::Inner,
                    left_keys: Vec::new(),
                    right_keys: Vec::new(),
                    residual: None,
                },
                None,
            ),
            JoinOperator::AsOf {
                match_condition,
                constraint,
            } => asof_strategy(
                &left,
                &right,
                match_condition,
                constraint,
                window_aggregates,
            )?,
            other => {
                let text = format!("{other:?}");
                let kind = text.split('(').next().unwrap_or_default().to_string();
                return Err(unsupported(&format!("join `{kind}`")));
            }
        };
        let mut columns = left.columns.clone();
        match extra {
            Some(aggregate_columns) => columns.extend(aggregate_columns),
            None => columns.extend(right.columns.iter().cloned()),
        }
        Ok(PlannedNode {
            columns,
            timestamp: left.timestamp,
            node: Node::Join {
                left: Box::new(left),
                right: Box::new(right),
                strategy,
            },
        })
    }

    fn limit_by(
        &mut self,
        query: &Query,
        inner: PlannedNode,
        limit_by: LimitBy,
    ) -> Result<PlannedNode, QueryError> {
        let schema = inner.schema();
        let mut keys = Vec::with_capacity(limit_by.keys.len());
        for key in &limit_by.keys {
            match bind_scalar(key, Some(&schema))? {
                ScalarExpr::Column(index) => keys.push(index),
                _ => return Err(unsupported("LIMIT BY over an expression (name a column)")),
            }
        }
        let node = PlannedNode {
            columns: inner.columns.clone(),
            timestamp: inner.timestamp,
            node: Node::LimitBy {
                input: Box::new(inner),
                keys,
                limit: limit_by.limit,
                offset: limit_by.offset,
            },
        };
        let mut outer = query.clone();
        outer.order_by = None;
        outer.limit_clause = limit_by.rest;
        outer.with = None;
        self.over_node(&outer, node)
    }
}

/// A join's ON condition split into key equalities and the rest.
struct SplitCondition {
    left_keys: Vec<usize>,
    right_keys: Vec<usize>,
    /// Comparisons of a left column with a right column: (left, op as `left op right`, right).
    comparisons: Vec<(usize, BinaryOp, usize)>,
    residual: Vec<Expr>,
}

fn split_condition(
    left: &PlannedNode,
    right: &PlannedNode,
    constraint: &JoinConstraint,
) -> Result<SplitCondition, QueryError> {
    let (left_schema, right_schema) = (left.schema(), right.schema());
    let mut split = SplitCondition {
        left_keys: Vec::new(),
        right_keys: Vec::new(),
        comparisons: Vec::new(),
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
                    Some((l, op, r)) if op.is_comparison() => split.comparisons.push((l, op, r)),
                    _ => split.residual.push(conjunct.clone()),
                }
            }
        }
        JoinConstraint::Natural => return Err(unsupported("NATURAL JOIN")),
    }
    Ok(split)
}

/// True unless both expressions carry the same qualifier (then neither side can be told).
fn qualified_apart(a: &Expr, b: &Expr) -> bool {
    let qualifier = |e: &Expr| match e {
        Expr::CompoundIdentifier(parts) if parts.len() > 1 => Some(parts[0].value.to_lowercase()),
        _ => None,
    };
    match (qualifier(a), qualifier(b)) {
        (Some(x), Some(y)) => x != y,
        _ => true,
    }
}

fn hash_strategy(
    left: &PlannedNode,
    right: &PlannedNode,
    constraint: &JoinConstraint,
    kind: JoinKind,
) -> Result<JoinStrategy, QueryError> {
    let split = split_condition(left, right, constraint)?;
    let mut residual_exprs = split.residual;
    if !split.comparisons.is_empty() {
        if let JoinConstraint::On(expr) = constraint {
            // Non-equality comparisons are checked on the joined row.
            residual_exprs = conjuncts(expr)
                .into_iter()
                .filter(|c| !is_key_equality(c, left, right))
                .cloned()
                .collect();
        }
    }
    let residual = if residual_exprs.is_empty() {
        None
    } else {
        if kind == JoinKind::Left {
            return Err(unsupported(
                "LEFT JOIN with conditions other than key equalities",
            ));
        }
        let joined = PlannedNode {
            node: Node::UnionAll(Vec::new()),
            columns: left.columns.iter().chain(&right.columns).cloned().collect(),
            timestamp: None,
        }
        .schema();
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

fn is_key_equality(conjunct: &Expr, left: &PlannedNode, right: &PlannedNode) -> bool {
    let on = JoinConstraint::On(conjunct.clone());
    split_condition(left, right, &on).is_ok_and(|s| s.left_keys.len() == 1)
}

/// An ASOF-family marker from the pre-parse rewrite, or a plain time condition.
enum AsofMarker {
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

fn asof_marker(expr: &Expr) -> Result<AsofMarker, QueryError> {
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

fn asof_strategy(
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
fn bind_window_aggregates(
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
            data_type: aggregate_output_type(function, &arg_types),
        });
        aggregates.push(AggregateCall { function, args });
    }
    Ok((aggregates, columns))
}

/// The type an aggregate returns over arguments of `arg_types`.
fn aggregate_output_type(function: AggregateFunction, arg_types: &[DataType]) -> DataType {
    let first = arg_types.first().copied().unwrap_or(DataType::Int64);
    match function {
        AggregateFunction::Count | AggregateFunction::CountDistinct => DataType::UInt64,
        AggregateFunction::Sum if first.is_float() => DataType::Float64,
        AggregateFunction::Sum => DataType::Int64,
        AggregateFunction::Min
        | AggregateFunction::Max
        | AggregateFunction::First
        | AggregateFunction::Last => first,
        _ => DataType::Float64,
    }
}

fn op_text(op: BinaryOp) -> &'static str {
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
fn column_list(expr: &Expr) -> Option<Vec<String>> {
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

fn conjuncts(expr: &Expr) -> Vec<&Expr> {
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

fn function_args(f: &sqlparser::ast::Function) -> Result<Vec<Expr>, QueryError> {
    match &f.args {
        FunctionArguments::None => Ok(Vec::new()),
        FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e.clone()),
                other => Err(unsupported(&format!("argument {other} of {}", f.name))),
            })
            .collect(),
        FunctionArguments::Subquery(_) => Err(unsupported("a subquery as a function argument")),
    }
}

fn result_columns(plan: &SelectPlan) -> Vec<RelColumn> {
    plan.columns
        .iter()
        .map(|c| RelColumn {
            qualifier: None,
            name: c.name.clone(),
            data_type: c.data_type,
        })
        .collect()
}

fn unqualified(columns: Vec<RelColumn>) -> Vec<RelColumn> {
    columns
        .into_iter()
        .map(|c| RelColumn {
            qualifier: None,
            ..c
        })
        .collect()
}

/// The output column that passes the input's timestamp through unchanged, if any.
fn timestamp_output(plan: &SelectPlan, input_timestamp: Option<usize>) -> Option<usize> {
    let input_timestamp = input_timestamp?;
    match &plan.merge {
        crate::select::Merge::Rows { .. } => match &plan.fragment.output {
            quecto_engine::fragment::plan::FragmentOutput::Rows { columns, .. } => columns
                .iter()
                .position(|c| *c == ScalarExpr::Column(input_timestamp)),
            quecto_engine::fragment::plan::FragmentOutput::Aggregate { .. } => None,
        },
        crate::select::Merge::Aggregate { .. } => plan
            .columns
            .iter()
            .position(|c| c.data_type == DataType::Timestamp),
    }
}

/// ClickHouse `LIMIT n [OFFSET m] BY keys`, split off a query.
struct LimitBy {
    keys: Vec<Expr>,
    limit: usize,
    offset: usize,
    /// The query's plain LIMIT after the LIMIT BY, if any.
    rest: Option<LimitClause>,
}

fn split_limit_by(query: &Query) -> Result<Option<(LimitBy, Query)>, QueryError> {
    let Some(LimitClause::LimitOffset {
        limit,
        offset,
        limit_by,
    }) = &query.limit_clause
    else {
        return Ok(None);
    };
    if limit_by.is_empty() {
        return Ok(None);
    }
    let count = |e: &Expr| match constant(e, false)? {
        Value::Int(n) if n >= 0 => Ok(n as usize),
        other => Err(QueryError::Type {
            detail: format!("LIMIT BY needs a non-negative integer, not {other}"),
        }),
    };
    let limit = limit.as_ref().map(count).transpose()?.unwrap_or(usize::MAX);
    let offset = offset
        .as_ref()
        .map(|o| count(&o.value))
        .transpose()?
        .unwrap_or(0);
    let mut rest = query.clone();
    rest.limit_clause = None;
    rest.with = None;
    Ok(Some((
        LimitBy {
            keys: limit_by.clone(),
            limit,
            offset,
            rest: None,
        },
        rest,
    )))
}

/// A query with just `body`.
fn bare_query(body: SetExpr) -> Query {
    let mut query = match parse_query("SELECT 1") {
        Ok(q) => q,
        Err(_) => unreachable_query(),
    };
    query.body = Box::new(body);
    query
}

fn unreachable_query() -> Query {
    // `SELECT 1` always parses; this only keeps the signature total.
    Query {
        with: None,
        body: Box::new(SetExpr::Values(sqlparser::ast::Values {
            explicit_row: false,
            value_keyword: false,
            rows: Vec::new(),
        })),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: Vec::new(),
    }
}

fn star_select() -> Result<Select, QueryError> {
    let query = parse_query("SELECT * FROM t")?;
    match *query.body {
        SetExpr::Select(select) => Ok(*select),
        _ => Err(unsupported("SELECT *")),
    }
}

fn parse_query(sql: &str) -> Result<Query, QueryError> {
    let mut statements =
        Parser::parse_sql(&ClickHouseDialect {}, sql).map_err(|e| QueryError::Syntax {
            message: e.to_string(),
        })?;
    match statements.pop() {
        Some(sqlparser::ast::Statement::Query(query)) => Ok(*query),
        _ => Err(QueryError::Syntax {
            message: format!("not a query: {sql}"),
        }),
    }
}

fn object_name(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .unwrap_or_default()
}

fn first_words(item: &impl std::fmt::Display) -> String {
    item.to_string().chars().take(60).collect()
}

fn unsupported(what: &str) -> QueryError {
    QueryError::Unsupported {
        what: what.to_string(),
    }
}

// ---------------------------------------------------------------- markers and windows

/// A GROUP BY marker from the pre-parse rewrite (`SAMPLE BY`, `LATEST ON`).
enum GroupMarker {
    SampleBy {
        step: Expr,
        fills: Vec<String>,
        align: String,
        /// `TIME ZONE` or `WITH OFFSET` was given.
        zoned: bool,
    },
    LatestOn {
        timestamp: Option<Expr>,
        keys: Vec<Expr>,
    },
}

fn group_marker(select: &Select) -> Option<GroupMarker> {
    let GroupByExpr::Expressions(exprs, _) = &select.group_by else {
        return None;
    };
    let [Expr::Function(f)] = exprs.as_slice() else {
        return None;
    };
    let name = f.name.to_string().to_ascii_lowercase();
    let args = function_args(f).ok()?;
    let text = |e: Option<&Expr>| match e.map(|e| constant(e, false)) {
        Some(Ok(Value::Str(s))) => s,
        _ => String::new(),
    };
    match name.as_str() {
        "__sample_by" => Some(GroupMarker::SampleBy {
            step: args.first()?.clone(),
            fills: text(args.get(1))
                .split(',')
                .map(|s| s.trim().to_ascii_uppercase())
                .filter(|s| !s.is_empty())
                .collect(),
            align: text(args.get(2)).to_ascii_uppercase(),
            zoned: args[3..]
                .iter()
                .any(|a| !matches!(constant(a, false), Ok(Value::Null))),
        }),
        "__latest_on" => Some(GroupMarker::LatestOn {
            timestamp: args
                .first()
                .filter(|e| !matches!(constant(e, false), Ok(Value::Null)))
                .cloned(),
            keys: args[1..].to_vec(),
        }),
        _ => None,
    }
}

fn item_has_window(item: &SelectItem) -> bool {
    match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => has_window(e),
        _ => false,
    }
}

fn has_window(expr: &Expr) -> bool {
    let mut found = false;
    visit_functions(expr, &mut |f| found |= f.over.is_some());
    found
}

fn visit_functions(expr: &Expr, visit: &mut dyn FnMut(&sqlparser::ast::Function)) {
    match expr {
        Expr::Function(f) => {
            visit(f);
            if let Ok(args) = function_args(f) {
                args.iter().for_each(|a| visit_functions(a, visit));
            }
        }
        Expr::BinaryOp { left, right, .. } => {
            visit_functions(left, visit);
            visit_functions(right, visit);
        }
        Expr::UnaryOp { expr, .. } | Expr::Nested(expr) | Expr::Cast { expr, .. } => {
            visit_functions(expr, visit)
        }
        _ => {}
    }
}

/// Replaces every function call for which `replace` gives a name by that identifier.
fn replace_functions(
    expr: &Expr,
    replace: &mut dyn FnMut(&sqlparser::ast::Function) -> Option<String>,
) -> Expr {
    match expr {
        Expr::Function(f) => match replace(f) {
            Some(name) => Expr::Identifier(Ident::new(name)),
            None => expr.clone(),
        },
        Expr::BinaryOp { left, op, right } => Expr::BinaryOp {
            left: Box::new(replace_functions(left, replace)),
            op: op.clone(),
            right: Box::new(replace_functions(right, replace)),
        },
        Expr::UnaryOp { op, expr } => Expr::UnaryOp {
            op: *op,
            expr: Box::new(replace_functions(expr, replace)),
        },
        Expr::Nested(inner) => Expr::Nested(Box::new(replace_functions(inner, replace))),
        other => other.clone(),
    }
}

fn map_items(
    select: &Select,
    replace: &mut dyn FnMut(&sqlparser::ast::Function) -> Option<String>,
) -> Vec<SelectItem> {
    select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(e) => SelectItem::ExprWithAlias {
                expr: replace_functions(e, replace),
                alias: Ident::new(e.to_string()),
            },
            SelectItem::ExprWithAlias { expr, alias } => SelectItem::ExprWithAlias {
                expr: replace_functions(expr, replace),
                alias: alias.clone(),
            },
            other => other.clone(),
        })
        .collect()
}

fn window_join_of(select: &Select) -> Option<()> {
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
    fn window_join_select(
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
        let input = self.from(&select.from, Some(&calls))?;
        let mut outer = select.clone();
        outer.projection = projection;
        self.select_over(query, &outer, input)
    }

    fn window_select(&mut self, query: &Query, select: &Select) -> Result<PlannedNode, QueryError> {
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

    fn marker_select(
        &mut self,
        query: &Query,
        select: &Select,
        marker: GroupMarker,
    ) -> Result<PlannedNode, QueryError> {
        let input_columns = self.columns_of_from(select)?;
        let timestamp_name = input_columns
            .timestamp
            .map(|t| input_columns.columns[t].name.clone())
            .ok_or_else(|| QueryError::Type {
                detail: "SAMPLE BY / LATEST ON need a table with a designated timestamp".into(),
            })?;
        match marker {
            GroupMarker::LatestOn { timestamp, keys } => {
                if let Some(ts) = &timestamp {
                    if !ts.to_string().eq_ignore_ascii_case(&timestamp_name)
                        && !ts
                            .to_string()
                            .to_ascii_lowercase()
                            .ends_with(&format!(".{}", timestamp_name.to_ascii_lowercase()))
                    {
                        return Err(unsupported(&format!(
                            "LATEST ON `{ts}`: only the designated timestamp `{timestamp_name}`"
                        )));
                    }
                }
                self.latest_on(query, select, &input_columns, &keys)
            }
            GroupMarker::SampleBy {
                step,
                fills,
                align,
                zoned,
            } => {
                if align.contains("FIRST") {
                    return Err(unsupported("SAMPLE BY … ALIGN TO FIRST OBSERVATION"));
                }
                if zoned {
                    return Err(unsupported(
                        "SAMPLE BY … ALIGN TO CALENDAR TIME ZONE / WITH OFFSET (buckets are UTC)",
                    ));
                }
                self.sample_by(query, select, &timestamp_name, &step, &fills)
            }
        }
    }

    /// The columns of a SELECT's FROM (planned once to learn them; its scans are discarded).
    fn columns_of_from(&mut self, select: &Select) -> Result<PlannedNode, QueryError> {
        let scans_before = self.scans.len();
        let mut star = star_select()?;
        star.from = select.from.clone();
        let query = bare_query(SetExpr::Select(Box::new(star.clone())));
        let node = self.select(&query, &star)?;
        self.scans.truncate(scans_before);
        Ok(node)
    }

    /// `LATEST ON ts PARTITION BY keys`: the last row of each key, as `last(col)` per column
    /// grouped by the keys (pushed down to the shards).
    fn latest_on(
        &mut self,
        query: &Query,
        select: &Select,
        input: &PlannedNode,
        keys: &[Expr],
    ) -> Result<PlannedNode, QueryError> {
        let key_texts: Vec<String> = keys.iter().map(|k| k.to_string().to_lowercase()).collect();
        let is_key = |e: &Expr| key_texts.contains(&e.to_string().to_lowercase());
        let mut projection = Vec::new();
        let mut wrap = |expr: &Expr, alias: String| {
            let expr = if is_key(expr) {
                expr.clone()
            } else {
                call("last", vec![expr.clone()])
            };
            projection.push(SelectItem::ExprWithAlias {
                expr,
                alias: Ident::new(alias),
            });
        };
        for item in &select.projection {
            match item {
                SelectItem::Wildcard(_) => {
                    for column in &input.columns {
                        wrap(
                            &Expr::Identifier(Ident::new(&column.name)),
                            column.name.clone(),
                        )
                    }
                }
                SelectItem::UnnamedExpr(e) => wrap(e, e.to_string()),
                SelectItem::ExprWithAlias { expr, alias } => wrap(expr, alias.value.clone()),
                other => return Err(unsupported(&format!("LATEST ON with {other}"))),
            }
        }
        let mut rewritten = select.clone();
        rewritten.projection = projection;
        rewritten.group_by = GroupByExpr::Expressions(keys.to_vec(), Vec::new());
        self.select(query, &rewritten)
    }

    /// `SAMPLE BY step [FILL(..)]`: GROUP BY the non-aggregate items with the timestamp
    /// floored to the step, then fill the missing buckets.
    fn sample_by(
        &mut self,
        query: &Query,
        select: &Select,
        timestamp_name: &str,
        step: &Expr,
        fills: &[String],
    ) -> Result<PlannedNode, QueryError> {
        let step_ns = match constant(step, false)? {
            Value::Int(ns) if ns > 0 => ns,
            other => {
                return Err(QueryError::Type {
                    detail: format!("SAMPLE BY needs a positive duration, not {other}"),
                })
            }
        };
        let is_timestamp = |e: &Expr| match e {
            Expr::Identifier(i) => i.value.eq_ignore_ascii_case(timestamp_name),
            Expr::CompoundIdentifier(p) => p
                .last()
                .is_some_and(|i| i.value.eq_ignore_ascii_case(timestamp_name)),
            _ => false,
        };
        let bucket = call(
            "xbar",
            vec![
                Expr::Identifier(Ident::new(timestamp_name)),
                Expr::value(sqlparser::ast::Value::Number(step_ns.to_string(), false)),
            ],
        );
        let mut projection = Vec::new();
        let mut group_by = Vec::new();
        let mut keys = Vec::new();
        let mut aggregates = Vec::new();
        let mut bucket_position = None;
        for (position, item) in select.projection.iter().enumerate() {
            let (expr, alias) = match item {
                SelectItem::UnnamedExpr(e) => (e.clone(), e.to_string()),
                SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), alias.value.clone()),
                other => return Err(unsupported(&format!("SAMPLE BY with {other}"))),
            };
            let expr = if is_timestamp(&expr) {
                bucket_position = Some(position);
                group_by.push(bucket.clone());
                bucket.clone()
            } else if contains_aggregate(&expr) {
                aggregates.push(position);
                expr
            } else {
                keys.push(position);
                group_by.push(expr.clone());
                expr
            };
            projection.push(SelectItem::ExprWithAlias {
                expr,
                alias: Ident::new(alias),
            });
        }
        let Some(bucket_position) = bucket_position else {
            // No timestamp in the select list: bucket anyway, QuestDB-style, without output.
            return Err(unsupported(&format!(
                "SAMPLE BY without `{timestamp_name}` in the select list"
            )));
        };
        let mut rewritten = select.clone();
        rewritten.projection = projection;
        rewritten.group_by = GroupByExpr::Expressions(group_by, Vec::new());
        let modes: Vec<FillMode> = fills
            .iter()
            .map(|f| fill_mode(f))
            .collect::<Result<_, _>>()?;
        let fill_needed = modes.iter().any(|m| !matches!(m, FillMode::None));
        let mut ordered = query.clone();
        ordered.with = None;
        if let Some(order_by) = &mut ordered.order_by {
            if let sqlparser::ast::OrderByKind::Expressions(exprs) = &mut order_by.kind {
                for key in exprs.iter_mut().filter(|k| is_timestamp(&k.expr)) {
                    key.expr = Expr::value(sqlparser::ast::Value::Number(
                        (bucket_position + 1).to_string(),
                        false,
                    ));
                }
            }
        }
        if !fill_needed {
            if ordered.order_by.is_none() {
                ordered.order_by = Some(order_by_positions(&[bucket_position + 1]));
            }
            return self.select(&ordered, &rewritten);
        }
        let mut inner_query = ordered.clone();
        inner_query.order_by = None;
        inner_query.limit_clause = None;
        let inner = self.select(&inner_query, &rewritten)?;
        let fills_per_column = aggregates
            .iter()
            .enumerate()
            .map(|(i, &column)| {
                let mode = modes
                    .get(i)
                    .or(modes.last())
                    .cloned()
                    .unwrap_or(FillMode::None);
                (column, mode)
            })
            .collect();
        let node = PlannedNode {
            columns: inner.columns.clone(),
            timestamp: Some(bucket_position),
            node: Node::Fill {
                input: Box::new(inner),
                spec: FillSpec {
                    keys,
                    bucket: bucket_position,
                    step: step_ns,
                    range: None,
                    fills: fills_per_column,
                },
            },
        };
        if ordered.order_by.is_none() {
            ordered.order_by = Some(order_by_positions(&[bucket_position + 1]));
        }
        self.over_node(&ordered, node)
    }
}

fn fill_mode(text: &str) -> Result<FillMode, QueryError> {
    Ok(match text {
        "NONE" => FillMode::None,
        "NULL" => FillMode::Null,
        "PREV" => FillMode::Prev,
        "LINEAR" => FillMode::Linear,
        number => match number.parse::<i64>() {
            Ok(v) => FillMode::Value(Value::Int(v)),
            Err(_) => FillMode::Value(Value::Float(number.parse().map_err(|_| {
                QueryError::Syntax {
                    message: format!("unknown FILL mode {number}"),
                }
            })?)),
        },
    })
}

fn order_by_positions(positions: &[usize]) -> sqlparser::ast::OrderBy {
    let exprs = positions
        .iter()
        .map(|p| sqlparser::ast::OrderByExpr {
            expr: Expr::value(sqlparser::ast::Value::Number(p.to_string(), false)),
            options: sqlparser::ast::OrderByOptions {
                sort: None,
                nulls_first: None,
            },
            with_fill: None,
        })
        .collect();
    sqlparser::ast::OrderBy {
        kind: sqlparser::ast::OrderByKind::Expressions(exprs),
        interpolate: None,
    }
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(sqlparser::ast::Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(sqlparser::ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// Binds one `f(..) OVER (..)` over the input columns.
fn bind_window(
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

fn bind_frame(frame: &sqlparser::ast::WindowFrame) -> Result<WindowFrame, QueryError> {
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
