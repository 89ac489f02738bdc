//! SELECT planning: splits a query into the fragment every shard runs and the merge the
//! coordinator runs (combine partial states, HAVING, ORDER BY, LIMIT, projection).

use quecto_engine::batch::SymbolKey;
use quecto_engine::fragment::plan::{
    AggregateCall, AggregateFunction, BinaryOp, Fragment, FragmentOutput, ScalarExpr, SortKey,
};
use quecto_engine::schema::TableSchema;
use quecto_engine::types::{DataType, Value};
use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, LimitClause, OrderByKind,
    OrderBySort, Query, Select, SelectItem, SetExpr, TableFactor, Value as SqlValue,
};

use crate::bind::{bind, bind_scalar, constant, type_of, Scope, TableScope};
use crate::error::QueryError;
use crate::result::ResultColumn;

/// What the coordinator does with the fragments' results.
#[derive(Clone, Debug, PartialEq)]
pub enum Merge {
    /// Combine partial aggregates per group, then HAVING, ORDER BY, LIMIT, projection. Merged
    /// rows are `[group keys.., aggregate values..]`; `having`, `outputs` and `order_by` are
    /// bound over them.
    Aggregate {
        /// Number of GROUP BY keys.
        groups_count: usize,
        /// A GROUP BY key is the symbol column, so each group's rows lie in one partition on
        /// one shard and shards never return the same group: merging is concatenation.
        partition_complete: bool,
        /// The aggregates, in fragment order.
        functions: Vec<AggregateFunction>,
        /// HAVING.
        having: Option<ScalarExpr>,
        /// The select list.
        outputs: Vec<ScalarExpr>,
        /// ORDER BY.
        order_by: Vec<SortKey>,
        /// LIMIT.
        limit: Option<usize>,
        /// OFFSET.
        offset: usize,
    },
    /// Concatenate rows, sort by the keys that follow the `columns_count` columns, page.
    Rows {
        /// Output columns per row (sort keys follow).
        columns_count: usize,
        /// ORDER BY keys over row positions.
        order_by: Vec<SortKey>,
        /// LIMIT.
        limit: Option<usize>,
        /// OFFSET.
        offset: usize,
    },
}

/// A planned SELECT over a table.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectPlan {
    /// What each shard runs.
    pub fragment: Fragment,
    /// What the coordinator runs.
    pub merge: Merge,
    /// Output columns.
    pub columns: Vec<ResultColumn>,
}

/// Looks up table schemas for planning.
pub trait Catalog {
    /// The schema of `name`, if it exists.
    fn table(&self, name: &str) -> Option<TableSchema>;
}

/// Plans a SELECT with a FROM clause over one table.
pub fn plan_select(
    query: &Query,
    select: &Select,
    catalog: &dyn Catalog,
) -> Result<SelectPlan, QueryError> {
    let schema = from_table(select, catalog)?;
    plan_select_over(query, select, &schema)
}

/// Plans a SELECT whose FROM is `schema`: a table's, or a synthetic one over an intermediate
/// result (derived table, join) that the coordinator evaluates row-wise.
pub fn plan_select_over(
    query: &Query,
    select: &Select,
    schema: &TableSchema,
) -> Result<SelectPlan, QueryError> {
    let schema = schema.clone();
    let items = select_items(select, &schema)?;
    let filter = select
        .selection
        .as_ref()
        .map(|e| bind_scalar(e, Some(&schema)))
        .transpose()?;
    let symbols = filter
        .as_ref()
        .and_then(|f| routed_symbols(f, schema.symbol_index));
    let (limit, offset) = limit_offset(query)?;
    let order = order_by_items(query);
    let group_asts = group_by_exprs(select)?;
    let is_aggregate = !group_asts.is_empty()
        || select.having.is_some()
        || items.iter().any(|(e, _)| contains_aggregate(e))
        || order.iter().any(|(e, _)| contains_aggregate(e));
    let (output, merge, columns) = if is_aggregate {
        plan_aggregate(
            &schema,
            &items,
            &group_asts,
            select.having.as_ref(),
            &order,
            (limit, offset),
        )?
    } else {
        plan_rows(&schema, &items, &order, (limit, offset))?
    };
    let fragment = Fragment {
        table: schema.name.clone(),
        symbols,
        filter,
        output,
        asof: None,
    };
    Ok(SelectPlan {
        fragment,
        merge,
        columns,
    })
}

fn from_table(select: &Select, catalog: &dyn Catalog) -> Result<TableSchema, QueryError> {
    let [from] = select.from.as_slice() else {
        return Err(QueryError::Unsupported {
            what: "a SELECT over more than one table".into(),
        });
    };
    if !from.joins.is_empty() {
        return Err(QueryError::Unsupported {
            what: "JOIN".into(),
        });
    }
    let TableFactor::Table { name, .. } = &from.relation else {
        return Err(QueryError::Unsupported {
            what: format!("FROM {}", from.relation),
        });
    };
    let table = name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .unwrap_or_default();
    catalog
        .table(&table)
        .ok_or(QueryError::UnknownTable { table })
}

/// Select items as (expression, output name); `*` expands to every column.
fn select_items(select: &Select, schema: &TableSchema) -> Result<Vec<(Expr, String)>, QueryError> {
    let mut items = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::UnnamedExpr(expr) => items.push((expr.clone(), expr.to_string())),
            SelectItem::ExprWithAlias { expr, alias } => {
                items.push((expr.clone(), alias.value.clone()))
            }
            SelectItem::Wildcard(_) => {
                for column in &schema.columns {
                    let ident = sqlparser::ast::Ident::new(column.name.clone());
                    items.push((Expr::Identifier(ident), column.name.clone()));
                }
            }
            SelectItem::QualifiedWildcard(..) | SelectItem::ExprWithAliases { .. } => {
                return Err(QueryError::Unsupported {
                    what: "qualified wildcard".into(),
                })
            }
        }
    }
    Ok(items)
}

/// Replaces a select alias or a 1-based position by the select item's expression.
fn resolve_alias(expr: &Expr, items: &[(Expr, String)], schema: &TableSchema) -> Expr {
    match expr {
        Expr::Identifier(ident) if schema.column_index(&ident.value).is_none() => items
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(&ident.value))
            .map_or_else(|| expr.clone(), |(e, _)| e.clone()),
        Expr::Value(v) => match &v.value {
            SqlValue::Number(n, _) => n
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i.wrapping_sub(1)))
                .map_or_else(|| expr.clone(), |(e, _)| e.clone()),
            _ => expr.clone(),
        },
        _ => expr.clone(),
    }
}

fn group_by_exprs(select: &Select) -> Result<Vec<Expr>, QueryError> {
    match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => Ok(exprs.clone()),
        other => Err(QueryError::Unsupported {
            what: format!("{other}"),
        }),
    }
}

fn order_by_items(query: &Query) -> Vec<(Expr, bool)> {
    let Some(order_by) = &query.order_by else {
        return Vec::new();
    };
    match &order_by.kind {
        OrderByKind::Expressions(exprs) => exprs
            .iter()
            .map(|o| {
                (
                    o.expr.clone(),
                    matches!(o.options.sort, Some(OrderBySort::Desc)),
                )
            })
            .collect(),
        OrderByKind::All(_) => Vec::new(),
    }
}

fn limit_offset(query: &Query) -> Result<(Option<usize>, usize), QueryError> {
    let count = |e: &Expr| -> Result<usize, QueryError> {
        match constant(e, false)? {
            Value::Int(n) if n >= 0 => Ok(n as usize),
            other => Err(QueryError::Type {
                detail: format!("LIMIT/OFFSET must be a non-negative integer, not {other}"),
            }),
        }
    };
    match &query.limit_clause {
        None => Ok((None, 0)),
        Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) => {
            if !limit_by.is_empty() {
                return Err(QueryError::Unsupported {
                    what: "LIMIT BY".into(),
                });
            }
            let limit = limit.as_ref().map(count).transpose()?;
            let offset = offset
                .as_ref()
                .map(|o| count(&o.value))
                .transpose()?
                .unwrap_or(0);
            Ok((limit, offset))
        }
        Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
            Ok((Some(count(limit)?), count(offset)?))
        }
    }
}

/// The aggregate function named `name`, if it is one (quantiles at the median's level: the
/// level written in a call comes from `aggregate_syntax::call_arguments`).
pub(crate) fn aggregate_function(name: &str, distinct: bool) -> Option<AggregateFunction> {
    crate::aggregate_syntax::function_named(name, distinct)
}

pub(crate) fn contains_aggregate(expr: &Expr) -> bool {
    match expr {
        Expr::Function(f) => {
            aggregate_function(&f.name.to_string(), false).is_some()
                || matches!(&f.args, FunctionArguments::List(list) if list.args.iter().any(|a| {
                    matches!(a, FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) if contains_aggregate(e))
                }))
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            operand
                .iter()
                .chain(else_result)
                .any(|e| contains_aggregate(e))
                || conditions
                    .iter()
                    .any(|w| contains_aggregate(&w.condition) || contains_aggregate(&w.result))
        }
        Expr::Cast { expr, .. } => contains_aggregate(expr),
        Expr::BinaryOp { left, right, .. } => contains_aggregate(left) || contains_aggregate(right),
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr) => contains_aggregate(expr),
        Expr::Between {
            expr, low, high, ..
        } => [expr, low, high].iter().any(|e| contains_aggregate(e)),
        Expr::InList { expr, .. } => contains_aggregate(expr),
        _ => false,
    }
}

/// The symbols a filter restricts the scan to, from top-level `symbol = X` / `symbol IN (..)`.
pub(crate) fn routed_symbols(filter: &ScalarExpr, symbol_index: usize) -> Option<Vec<SymbolKey>> {
    match filter {
        ScalarExpr::Binary {
            op: BinaryOp::And,
            left,
            right,
        } => routed_symbols(left, symbol_index).or_else(|| routed_symbols(right, symbol_index)),
        ScalarExpr::Binary {
            op: BinaryOp::Eq,
            left,
            right,
        } => match (&**left, &**right) {
            (ScalarExpr::Column(c), ScalarExpr::Literal(v))
            | (ScalarExpr::Literal(v), ScalarExpr::Column(c))
                if *c == symbol_index =>
            {
                Some(SymbolKey::from_value(v).into_iter().collect())
            }
            _ => None,
        },
        ScalarExpr::InList {
            expr,
            list,
            negated: false,
        } => match &**expr {
            ScalarExpr::Column(c) if *c == symbol_index => {
                Some(list.iter().filter_map(SymbolKey::from_value).collect())
            }
            _ => None,
        },
        _ => None,
    }
}

type Planned = (FragmentOutput, Merge, Vec<ResultColumn>);

fn plan_rows(
    schema: &TableSchema,
    items: &[(Expr, String)],
    order: &[(Expr, bool)],
    (limit, offset): (Option<usize>, usize),
) -> Result<Planned, QueryError> {
    let types: Vec<DataType> = schema.columns.iter().map(|c| c.data_type).collect();
    let mut columns = Vec::with_capacity(items.len());
    let mut result_columns = Vec::with_capacity(items.len());
    for (expr, name) in items {
        let bound = bind_scalar(expr, Some(schema))?;
        result_columns.push(ResultColumn {
            name: name.clone(),
            data_type: type_of(&bound, &types),
        });
        columns.push(bound);
    }
    let mut fragment_keys = Vec::with_capacity(order.len());
    let mut merge_keys = Vec::with_capacity(order.len());
    for (index, (expr, descending)) in order.iter().enumerate() {
        let expr = resolve_alias(expr, items, schema);
        fragment_keys.push(SortKey {
            expr: bind_scalar(&expr, Some(schema))?,
            descending: *descending,
        });
        merge_keys.push(SortKey {
            expr: ScalarExpr::Column(columns.len() + index),
            descending: *descending,
        });
    }
    let fragment_limit = limit.map(|l| l.saturating_add(offset));
    let merge = Merge::Rows {
        columns_count: columns.len(),
        order_by: merge_keys,
        limit,
        offset,
    };
    let output = FragmentOutput::Rows {
        columns,
        order_by: fragment_keys,
        limit: fragment_limit,
    };
    Ok((output, merge, result_columns))
}

/// Binds post-aggregation expressions: GROUP BY expressions and aggregate calls become columns
/// of the merged row `[group keys.., aggregates..]`.
struct AggregateScope<'a> {
    schema: &'a TableSchema,
    items: &'a [(Expr, String)],
    group_texts: Vec<String>,
    group_exprs: Vec<ScalarExpr>,
    group_types: Vec<DataType>,
    calls: Vec<AggregateCall>,
    call_texts: Vec<String>,
    call_types: Vec<DataType>,
    alias_depth: usize,
}

impl AggregateScope<'_> {
    fn aggregate(&mut self, expr: &Expr) -> Option<Result<ScalarExpr, QueryError>> {
        let Expr::Function(f) = expr else { return None };
        let FunctionArguments::List(list) = &f.args else {
            return aggregate_function(&f.name.to_string(), false).map(|_| {
                Err(QueryError::Type {
                    detail: format!("{} needs arguments", f.name),
                })
            });
        };
        aggregate_function(&f.name.to_string(), false)?;
        Some(
            crate::aggregate_syntax::call_arguments(f, &list.args).and_then(|(function, args)| {
                self.aggregate_call(function, &args, &expr.to_string())
            }),
        )
    }

    fn aggregate_call(
        &mut self,
        function: AggregateFunction,
        args: &[FunctionArg],
        text: &str,
    ) -> Result<ScalarExpr, QueryError> {
        let text = text.to_ascii_lowercase();
        if let Some(index) = self.call_texts.iter().position(|t| *t == text) {
            return Ok(ScalarExpr::Column(self.group_exprs.len() + index));
        }
        let mut bound = Vec::with_capacity(args.len());
        for arg in args {
            match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => {
                    bound.push(bind_scalar(e, Some(self.schema))?)
                }
                FunctionArg::Unnamed(FunctionArgExpr::Wildcard)
                    if function == AggregateFunction::Count => {}
                other => {
                    return Err(QueryError::Unsupported {
                        what: format!("aggregate argument {other}"),
                    })
                }
            }
        }
        if !function.arity().contains(&bound.len()) {
            return Err(QueryError::Type {
                detail: format!("wrong number of arguments to {}", function.name()),
            });
        }
        let data_type = self.aggregate_type(function, &bound)?;
        self.calls.push(AggregateCall {
            function,
            args: bound,
        });
        self.call_texts.push(text);
        self.call_types.push(data_type);
        Ok(ScalarExpr::Column(
            self.group_exprs.len() + self.calls.len() - 1,
        ))
    }

    fn aggregate_type(
        &self,
        function: AggregateFunction,
        args: &[ScalarExpr],
    ) -> Result<DataType, QueryError> {
        let types: Vec<DataType> = self.schema.columns.iter().map(|c| c.data_type).collect();
        let arg_types: Vec<DataType> = args.iter().map(|a| type_of(a, &types)).collect();
        function
            .result_type(&arg_types)
            .ok_or_else(|| QueryError::Type {
                detail: format!(
                    "{} does not take arguments of type ({})",
                    function.name(),
                    arg_types
                        .iter()
                        .map(|t| t.sql_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    fn group_or_alias(&mut self, expr: &Expr) -> Option<Result<ScalarExpr, QueryError>> {
        let text = expr.to_string().to_ascii_lowercase();
        if let Some(index) = self.group_texts.iter().position(|t| *t == text) {
            return Some(Ok(ScalarExpr::Column(index)));
        }
        let name = match expr {
            Expr::Identifier(ident) => ident.value.clone(),
            Expr::CompoundIdentifier(parts) => parts.last()?.value.clone(),
            _ => return None,
        };
        if let Ok(column) = bind_scalar(expr, Some(self.schema)) {
            let index = self.group_exprs.iter().position(|g| *g == column);
            return Some(
                index
                    .map(ScalarExpr::Column)
                    .ok_or_else(|| QueryError::Type {
                        detail: format!(
                            "column `{name}` must appear in GROUP BY or inside an aggregate"
                        ),
                    }),
            );
        }
        let alias = self
            .items
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(&name))
            .map(|(e, _)| e.clone());
        match alias {
            Some(aliased) if self.alias_depth < 8 => {
                self.alias_depth += 1;
                let bound = bind(&aliased, self);
                self.alias_depth -= 1;
                Some(bound)
            }
            _ => Some(Err(QueryError::UnknownColumn {
                column: name,
                table: Some(self.schema.name.clone()),
            })),
        }
    }
}

impl Scope for AggregateScope<'_> {
    fn resolve(&mut self, expr: &Expr) -> Option<Result<ScalarExpr, QueryError>> {
        self.aggregate(expr).or_else(|| self.group_or_alias(expr))
    }

    fn column_type(&self, index: usize) -> DataType {
        let groups = self.group_types.len();
        if index < groups {
            self.group_types[index]
        } else {
            self.call_types
                .get(index - groups)
                .copied()
                .unwrap_or(DataType::Int64)
        }
    }
}

fn plan_aggregate(
    schema: &TableSchema,
    items: &[(Expr, String)],
    group_asts: &[Expr],
    having: Option<&Expr>,
    order: &[(Expr, bool)],
    (limit, offset): (Option<usize>, usize),
) -> Result<Planned, QueryError> {
    let types: Vec<DataType> = schema.columns.iter().map(|c| c.data_type).collect();
    let mut scope = AggregateScope {
        schema,
        items,
        group_texts: Vec::new(),
        group_exprs: Vec::new(),
        group_types: Vec::new(),
        calls: Vec::new(),
        call_texts: Vec::new(),
        call_types: Vec::new(),
        alias_depth: 0,
    };
    for ast in group_asts {
        let resolved = resolve_alias(ast, items, schema);
        let bound = bind(
            &resolved,
            &mut TableScope {
                schema: Some(schema),
            },
        )?;
        scope
            .group_texts
            .push(resolved.to_string().to_ascii_lowercase());
        scope.group_types.push(type_of(&bound, &types));
        scope.group_exprs.push(bound);
    }
    let mut outputs = Vec::with_capacity(items.len());
    for (expr, _) in items {
        outputs.push(bind(expr, &mut scope)?);
    }
    let having = having.map(|h| bind(h, &mut scope)).transpose()?;
    let mut order_by = Vec::with_capacity(order.len());
    for (expr, descending) in order {
        let expr = resolve_alias(expr, items, schema);
        order_by.push(SortKey {
            expr: bind(&expr, &mut scope)?,
            descending: *descending,
        });
    }
    let merged_types: Vec<DataType> = scope
        .group_types
        .iter()
        .chain(&scope.call_types)
        .copied()
        .collect();
    let columns = items
        .iter()
        .zip(&outputs)
        .map(|((_, name), bound)| ResultColumn {
            name: name.clone(),
            data_type: type_of(bound, &merged_types),
        })
        .collect();
    let functions = scope.calls.iter().map(|c| c.function).collect();
    let partition_complete = scope
        .group_exprs
        .iter()
        .any(|e| matches!(e, ScalarExpr::Column(i) if *i == schema.symbol_index));
    let merge = Merge::Aggregate {
        groups_count: scope.group_exprs.len(),
        partition_complete,
        functions,
        having,
        outputs,
        order_by,
        limit,
        offset,
    };
    let output = FragmentOutput::Aggregate {
        group_by: scope.group_exprs,
        aggregates: scope.calls,
        reaggregate: None,
    };
    Ok((output, merge, columns))
}

/// The SELECT body of a query, when it is a plain SELECT.
pub fn plain_select(query: &Query) -> Result<&Select, QueryError> {
    if query.with.is_some() {
        return Err(QueryError::Unsupported {
            what: "WITH".into(),
        });
    }
    match &*query.body {
        SetExpr::Select(select) => Ok(select),
        other => Err(QueryError::Unsupported {
            what: format!("query body `{other}`"),
        }),
    }
}
