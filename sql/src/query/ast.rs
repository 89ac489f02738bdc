//! Small helpers over sqlparser's AST: building, parsing and rewriting expressions.

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName, Query, Select,
    SelectItem, SetExpr,
};
use sqlparser::dialect::ClickHouseDialect;
use sqlparser::parser::Parser;

use crate::error::QueryError;

pub(super) fn function_args(f: &sqlparser::ast::Function) -> Result<Vec<Expr>, QueryError> {
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

/// A query with just `body`.
pub(super) fn bare_query(body: SetExpr) -> Query {
    Query {
        with: None,
        body: Box::new(body),
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

pub(super) fn star_select() -> Result<Select, QueryError> {
    let query = parse_query("SELECT * FROM t")?;
    match *query.body {
        SetExpr::Select(select) => Ok(*select),
        _ => Err(unsupported("SELECT *")),
    }
}

pub(super) fn parse_query(sql: &str) -> Result<Query, QueryError> {
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

pub(super) fn object_name(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .unwrap_or_default()
}

pub(super) fn first_words(item: &impl std::fmt::Display) -> String {
    item.to_string().chars().take(60).collect()
}

pub(super) fn unsupported(what: &str) -> QueryError {
    QueryError::Unsupported {
        what: what.to_string(),
    }
}

pub(super) fn item_has_window(item: &SelectItem) -> bool {
    match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => has_window(e),
        _ => false,
    }
}

pub(super) fn has_window(expr: &Expr) -> bool {
    let mut found = false;
    visit_functions(expr, &mut |f| found |= f.over.is_some());
    found
}

pub(super) fn visit_functions(expr: &Expr, visit: &mut dyn FnMut(&sqlparser::ast::Function)) {
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
pub(super) fn replace_functions(
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

pub(super) fn map_items(
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

pub(super) fn call(name: &str, args: Vec<Expr>) -> Expr {
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
