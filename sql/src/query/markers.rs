//! QuestDB's `SAMPLE BY … FILL` and `LATEST ON`, carried by the pre-parse rewrite as GROUP BY
//! marker calls, planned as pushed-down aggregates (plus a fill node).

use quecto_engine::types::Value;
use sqlparser::ast::{Expr, GroupByExpr, Ident, Query, Select, SelectItem, SetExpr};

use crate::bind::constant;
use crate::error::QueryError;
use crate::query::{Node, PlannedNode};
use crate::relation::fill::{FillMode, FillSpec};
use crate::select::contains_aggregate;

use super::ast::*;
use super::planner::*;

// ---------------------------------------------------------------- markers and windows

/// A GROUP BY marker from the pre-parse rewrite (`SAMPLE BY`, `LATEST ON`).
pub(super) enum GroupMarker {
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

pub(super) fn group_marker(select: &Select) -> Option<GroupMarker> {
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

pub(super) fn fill_mode(text: &str) -> Result<FillMode, QueryError> {
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

pub(super) fn order_by_positions(positions: &[usize]) -> sqlparser::ast::OrderBy {
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

impl Planner<'_> {
    pub(super) fn marker_select(
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
    pub(super) fn columns_of_from(&mut self, select: &Select) -> Result<PlannedNode, QueryError> {
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
    pub(super) fn latest_on(
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
    pub(super) fn sample_by(
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
