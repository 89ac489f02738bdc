//! Plans composite queries into a `QueryPlan`: base-table SELECTs become pushed-down scans,
//! everything else becomes coordinator nodes over their results.

use quecto_engine::fragment::plan::ScalarExpr;
use quecto_engine::types::{DataType, Value};
use sqlparser::ast::{
    Expr, Join, JoinConstraint, JoinOperator, LimitClause, Query, Select, SetExpr, SetOperator,
    SetQuantifier, TableFactor, TableWithJoins,
};

use crate::bind::{bind_scalar, constant};
use crate::error::QueryError;
use crate::query::{JoinStrategy, Node, PlannedNode, QueryPlan};
use crate::relation::join::JoinKind;
use crate::relation::RelColumn;
use crate::select::{plan_select, plan_select_over};
use crate::select::{Catalog, SelectPlan};

use super::ast::*;
use super::joins::*;
use super::markers::*;

/// Plans `query`.
pub fn plan_query(query: &Query, catalog: &dyn Catalog) -> Result<QueryPlan, QueryError> {
    let mut planner = Planner {
        catalog,
        scans: Vec::new(),
        ctes: Vec::new(),
        pushed: Vec::new(),
    };
    let root = planner.query(query)?;
    Ok(QueryPlan {
        scans: planner.scans,
        root,
    })
}

pub(super) struct Planner<'a> {
    pub(super) catalog: &'a dyn Catalog,
    pub(super) scans: Vec<SelectPlan>,
    /// CTEs in scope: each reference plans its query anew (its scans run once per reference).
    pub(super) ctes: Vec<(String, Query)>,
    /// WHERE conjuncts the base tables of the join being planned apply in their scans.
    pub(super) pushed: super::pushdown::Pushed,
}

impl Planner<'_> {
    pub(super) fn query(&mut self, query: &Query) -> Result<PlannedNode, QueryError> {
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

    pub(super) fn body(&mut self, query: &Query) -> Result<PlannedNode, QueryError> {
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

    pub(super) fn union_parts(
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
    pub(super) fn over_node(
        &mut self,
        query: &Query,
        node: PlannedNode,
    ) -> Result<PlannedNode, QueryError> {
        if query.order_by.is_none() && query.limit_clause.is_none() {
            return Ok(node);
        }
        let star = star_select()?;
        let mut outer = query.clone();
        outer.with = None;
        *outer.body = SetExpr::Select(Box::new(star.clone()));
        self.select_over(&outer, &star, node)
    }

    pub(super) fn select(
        &mut self,
        query: &Query,
        select: &Select,
    ) -> Result<PlannedNode, QueryError> {
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
        let saved = std::mem::replace(&mut self.pushed, super::pushdown::pushable(select));
        let input = self.from(&select.from, None);
        self.pushed = saved;
        self.select_over(query, select, input?)
    }

    /// Plans `select` over `input`'s rows.
    pub(super) fn select_over(
        &mut self,
        query: &Query,
        select: &Select,
        input: PlannedNode,
    ) -> Result<PlannedNode, QueryError> {
        let schema = input.schema();
        let plan = plan_select_over(query, select, &schema)?;
        let timestamp = timestamp_output(&plan, input.timestamp);
        let node = PlannedNode {
            columns: result_columns(&plan),
            timestamp,
            node: Node::Select {
                input: Box::new(input),
                plan: Box::new(plan),
            },
        };
        let node = self.colocated(node);
        Ok(self.nested(node))
    }

    pub(super) fn scan(
        &mut self,
        plan: SelectPlan,
        timestamp_name: Option<&String>,
    ) -> PlannedNode {
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
    pub(super) fn single_base_table(&self, select: &Select) -> Option<String> {
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

    pub(super) fn from(
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

    pub(super) fn factor(&mut self, factor: &TableFactor) -> Result<PlannedNode, QueryError> {
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
                        let position = self
                            .pushed
                            .iter()
                            .position(|(q, _)| q.eq_ignore_ascii_case(&qualifier));
                        let filter = match position.map(|p| self.pushed.remove(p).1) {
                            Some(conjuncts) => {
                                let texts: Vec<String> =
                                    conjuncts.iter().map(|c| format!("({c})")).collect();
                                format!(" WHERE {}", texts.join(" AND "))
                            }
                            None => String::new(),
                        };
                        let query = parse_query(&format!("SELECT * FROM {name}{filter}"))?;
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

    pub(super) fn join(
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

    pub(super) fn limit_by(
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

pub(super) fn result_columns(plan: &SelectPlan) -> Vec<RelColumn> {
    plan.columns
        .iter()
        .map(|c| RelColumn {
            qualifier: None,
            name: c.name.clone(),
            data_type: c.data_type,
        })
        .collect()
}

pub(super) fn unqualified(columns: Vec<RelColumn>) -> Vec<RelColumn> {
    columns
        .into_iter()
        .map(|c| RelColumn {
            qualifier: None,
            ..c
        })
        .collect()
}

/// The output column that passes the input's timestamp through unchanged, if any.
pub(super) fn timestamp_output(plan: &SelectPlan, input_timestamp: Option<usize>) -> Option<usize> {
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
pub(super) struct LimitBy {
    keys: Vec<Expr>,
    limit: usize,
    offset: usize,
    /// The query's plain LIMIT after the LIMIT BY, if any.
    rest: Option<LimitClause>,
}

pub(super) fn split_limit_by(query: &Query) -> Result<Option<(LimitBy, Query)>, QueryError> {
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
