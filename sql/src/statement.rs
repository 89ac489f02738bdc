//! Statements: parse SQL text with `sqlparser` and turn it into a `Plan` the coordinator runs.

use quecto_engine::batch::{BatchBuilder, RowBatch};
use quecto_engine::schema::{ColumnDef, TableSchema};
use quecto_engine::storage::mutate::Mutation;
use quecto_engine::types::{DataType, Value};
use sqlparser::ast::{ObjectName, ObjectType, SetExpr, Statement, TableObject};
use sqlparser::dialect::ClickHouseDialect;
use sqlparser::parser::Parser;

use crate::bind::{bind_scalar, constant};
use crate::error::QueryError;
use crate::mutation::{plan_alter_mutation, plan_delete, plan_update};
use crate::query::planner::plan_query;
use crate::query::{Node, QueryPlan};
use crate::result::{ResultColumn, ResultSet};
use crate::row_eval::eval_row;
use crate::select::{Catalog, SelectPlan};

/// Longest SQL text accepted, in bytes (bulk data goes in the body of `INSERT … FORMAT`).
pub const SQL_SIZE_MAX: usize = 16 << 20;

/// What the coordinator must do for a statement.
#[derive(Debug)]
pub enum Plan {
    /// CREATE TABLE on every shard.
    CreateTable {
        /// The schema.
        schema: TableSchema,
        /// IF NOT EXISTS.
        if_not_exists: bool,
    },
    /// DROP TABLE on every shard.
    DropTable {
        /// The table.
        table: String,
        /// IF EXISTS.
        if_exists: bool,
    },
    /// Route rows to their shards.
    Insert {
        /// The table.
        table: TableSchema,
        /// The rows.
        batch: RowBatch,
    },
    /// Scatter a fragment, gather and merge.
    Select(Box<SelectPlan>),
    /// Set or remove a table's TTL on every shard.
    SetTtl {
        /// The table.
        table: String,
        /// TTL in seconds; `None` removes it.
        ttl_seconds: Option<u64>,
    },
    /// A composite query: pushed-down scans and coordinator nodes over their results.
    Query(Box<QueryPlan>),
    /// EXPLAIN of a SELECT: the plan, not its answer.
    Explain(Box<SelectPlan>),
    /// EXPLAIN of a composite query.
    ExplainQuery(Box<QueryPlan>),
    /// An answer known without touching shards (SHOW TABLES, DESCRIBE, SELECT 1).
    Constant(ResultSet),
    /// DELETE or UPDATE on the shards that may hold the rows.
    Mutate(Box<Mutation>),
}

impl Plan {
    /// True for statements that change data or schema (refused over HTTP GET).
    pub fn is_mutating(&self) -> bool {
        matches!(
            self,
            Plan::CreateTable { .. }
                | Plan::DropTable { .. }
                | Plan::Insert { .. }
                | Plan::SetTtl { .. }
                | Plan::Mutate(_)
        )
    }
}

/// A plan that is one pushed-down scan and nothing else, as the simple SELECT it is.
fn simple_or_composite(plan: QueryPlan) -> Result<SelectPlan, Box<QueryPlan>> {
    match (&plan.root.node, plan.scans.len()) {
        (Node::Scan(0), 1) => {
            let mut scans = plan.scans;
            scans.pop().ok_or_else(|| {
                Box::new(QueryPlan {
                    scans: Vec::new(),
                    root: plan.root,
                })
            })
        }
        _ => Err(Box::new(plan)),
    }
}

/// What planning needs besides the catalog: the list of tables for SHOW TABLES.
pub trait TableLister {
    /// Table names in order.
    fn table_names(&self) -> Vec<String>;
}

/// Parses `sql` (one statement) and plans it.
pub fn plan_sql<C: Catalog + TableLister>(sql: &str, catalog: &C) -> Result<Plan, QueryError> {
    if sql.len() > SQL_SIZE_MAX {
        return Err(QueryError::Syntax {
            message: format!(
                "statement of {} bytes is over the {SQL_SIZE_MAX}-byte limit",
                sql.len()
            ),
        });
    }
    if let Some(alter) = plan_alter_ttl(sql, catalog) {
        return alter;
    }
    if let Some(mutation) = plan_alter_mutation(sql, catalog) {
        return mutation.map(|m| Plan::Mutate(Box::new(m)));
    }
    let rewritten = crate::preparse::rewrite(sql)?;
    let mut statements =
        Parser::parse_sql(&ClickHouseDialect {}, &rewritten).map_err(|e| QueryError::Syntax {
            message: e.to_string(),
        })?;
    if statements.len() != 1 {
        return Err(QueryError::Syntax {
            message: format!("expected one statement, found {}", statements.len()),
        });
    }
    match statements.remove(0) {
        Statement::Query(query) => match &*query.body {
            SetExpr::Select(select) if select.from.is_empty() && query.with.is_none() => {
                constant_select(select)
            }
            _ => Ok(match simple_or_composite(plan_query(&query, catalog)?) {
                Ok(select) => Plan::Select(Box::new(select)),
                Err(composite) => Plan::Query(composite),
            }),
        },
        Statement::CreateTable(create) => {
            let columns = create
                .columns
                .iter()
                .map(|c| {
                    let text = c.data_type.to_string();
                    let data_type = DataType::parse(&text).ok_or_else(|| QueryError::Type {
                        detail: format!("unknown type {text} for column `{}`", c.name.value),
                    })?;
                    Ok(ColumnDef {
                        name: c.name.value.clone(),
                        data_type,
                    })
                })
                .collect::<Result<Vec<_>, QueryError>>()?;
            let schema = TableSchema::new(&object_name(&create.name), columns, None, None)?;
            Ok(Plan::CreateTable {
                schema,
                if_not_exists: create.if_not_exists,
            })
        }
        Statement::Drop {
            object_type: ObjectType::Table,
            if_exists,
            names,
            ..
        } => {
            let [name] = names.as_slice() else {
                return Err(QueryError::Unsupported {
                    what: "DROP of several tables at once".into(),
                });
            };
            Ok(Plan::DropTable {
                table: object_name(name),
                if_exists,
            })
        }
        Statement::Explain {
            statement,
            analyze: false,
            ..
        } => match *statement {
            Statement::Query(query) if !matches!(&*query.body, SetExpr::Select(s) if s.from.is_empty()) => {
                Ok(match simple_or_composite(plan_query(&query, catalog)?) {
                    Ok(select) => Plan::Explain(Box::new(select)),
                    Err(composite) => Plan::ExplainQuery(composite),
                })
            }
            other => Err(QueryError::Unsupported {
                what: format!("EXPLAIN of `{}`", first_words(&other.to_string())),
            }),
        },
        Statement::ShowTables { .. } => Ok(Plan::Constant(show_tables(catalog))),
        Statement::ExplainTable { table_name, .. } => describe(&object_name(&table_name), catalog),
        Statement::Insert(insert) => plan_insert(&insert, catalog),
        Statement::Delete(delete) => Ok(Plan::Mutate(Box::new(plan_delete(&delete, catalog)?))),
        Statement::Update(update) => Ok(Plan::Mutate(Box::new(plan_update(&update, catalog)?))),
        other => Err(QueryError::Unsupported {
            what: format!("statement `{}`", first_words(&other.to_string())),
        }),
    }
}

/// `ALTER TABLE t SET TTL n SECONDS|MINUTES|HOURS|DAYS|WEEKS` or `ALTER TABLE t REMOVE TTL`
/// (QuestDB's and ClickHouse's idea, in words sqlparser does not know); `None` for any other
/// statement.
fn plan_alter_ttl(sql: &str, catalog: &dyn Catalog) -> Option<Result<Plan, QueryError>> {
    let words: Vec<&str> = sql
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .collect();
    let is = |index: usize, word: &str| {
        words
            .get(index)
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
    };
    if !(is(0, "alter") && is(1, "table") && (is(3, "set") || is(3, "remove")) && is(4, "ttl")) {
        return None;
    }
    let table = words[2].trim_matches(|c| c == '`' || c == '"').to_string();
    if catalog.table(&table).is_none() {
        return Some(Err(QueryError::UnknownTable { table }));
    }
    if is(3, "remove") {
        return Some(if words.len() == 5 {
            Ok(Plan::SetTtl {
                table,
                ttl_seconds: None,
            })
        } else {
            Err(QueryError::Syntax {
                message: "expected ALTER TABLE t REMOVE TTL".into(),
            })
        });
    }
    let ttl = match (words.get(5), words.get(6), words.len()) {
        (Some(count), Some(unit), 7) => ttl_seconds(count, unit),
        _ => None,
    };
    let expected =
        "expected ALTER TABLE t SET TTL <positive integer> SECONDS|MINUTES|HOURS|DAYS|WEEKS";
    Some(
        ttl.map(|ttl| Plan::SetTtl {
            table,
            ttl_seconds: Some(ttl),
        })
        .ok_or_else(|| QueryError::Syntax {
            message: format!("{expected}, got `{}`", words[5..].join(" ")),
        }),
    )
}

fn ttl_seconds(count: &str, unit: &str) -> Option<u64> {
    let count: u64 = count.parse().ok().filter(|&n| n > 0)?;
    let unit = unit.to_ascii_uppercase();
    let seconds = match unit.trim_end_matches('S') {
        "SECOND" => 1,
        "MINUTE" => 60,
        "HOUR" => 3_600,
        "DAY" => 86_400,
        "WEEK" => 604_800,
        _ => return None,
    };
    count.checked_mul(seconds)
}

fn first_words(text: &str) -> String {
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last part of a possibly qualified name.
pub fn object_name(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .unwrap_or_default()
}

/// A FROM-less SELECT, evaluated at once.
pub(crate) fn constant_select(select: &sqlparser::ast::Select) -> Result<Plan, QueryError> {
    let mut columns = Vec::new();
    let mut row = Vec::new();
    for item in &select.projection {
        let (expr, name) = match item {
            sqlparser::ast::SelectItem::UnnamedExpr(e) => (e, e.to_string()),
            sqlparser::ast::SelectItem::ExprWithAlias { expr, alias } => {
                (expr, alias.value.clone())
            }
            other => {
                return Err(QueryError::Unsupported {
                    what: format!("`{other}` without FROM"),
                })
            }
        };
        let bound = bind_scalar(expr, None)?;
        let value = eval_row(&bound, &[])?;
        columns.push(ResultColumn {
            name,
            data_type: crate::bind::type_of(&bound, &[]),
        });
        row.push(value);
    }
    Ok(Plan::Constant(ResultSet {
        columns,
        rows: vec![row],
        ..ResultSet::default()
    }))
}

fn show_tables(lister: &dyn TableLister) -> ResultSet {
    let rows = lister
        .table_names()
        .into_iter()
        .map(|n| vec![Value::Str(n)])
        .collect();
    ResultSet {
        columns: vec![ResultColumn {
            name: "name".into(),
            data_type: DataType::Symbol,
        }],
        rows,
        ..ResultSet::default()
    }
}

fn describe(table: &str, catalog: &dyn Catalog) -> Result<Plan, QueryError> {
    let schema = catalog
        .table(table)
        .ok_or_else(|| QueryError::UnknownTable {
            table: table.to_string(),
        })?;
    // ClickHouse's DESCRIBE has a ttl_expression column; ours names the TTL on the timestamp
    // column it applies to.
    let ttl = |index: usize| match schema.ttl_seconds {
        Some(seconds) if index == schema.timestamp_index => {
            format!("{} + INTERVAL {seconds} SECOND", schema.columns[index].name)
        }
        _ => String::new(),
    };
    let rows = schema
        .columns
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let type_name = c.data_type.sql_name().to_string();
            vec![
                Value::Str(c.name.clone()),
                Value::Str(type_name),
                Value::Str(ttl(index)),
            ]
        })
        .collect();
    let text_column = |name: &str| ResultColumn {
        name: name.into(),
        data_type: DataType::Symbol,
    };
    let columns = vec![
        text_column("name"),
        text_column("type"),
        text_column("ttl_expression"),
    ];
    Ok(Plan::Constant(ResultSet {
        columns,
        rows,
        ..ResultSet::default()
    }))
}

/// The schema and field mapping of `INSERT INTO t [(cols)]`.
pub fn insert_target(
    table: &str,
    column_names: &[String],
    catalog: &dyn Catalog,
) -> Result<(TableSchema, Vec<usize>), QueryError> {
    let schema = catalog
        .table(table)
        .ok_or_else(|| QueryError::UnknownTable {
            table: table.to_string(),
        })?;
    let fields = if column_names.is_empty() {
        (0..schema.columns.len()).collect()
    } else {
        column_names
            .iter()
            .map(|name| {
                schema
                    .column_index(name)
                    .ok_or_else(|| QueryError::UnknownColumn {
                        column: name.clone(),
                        table: Some(schema.name.clone()),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok((schema, fields))
}

fn plan_insert(insert: &sqlparser::ast::Insert, catalog: &dyn Catalog) -> Result<Plan, QueryError> {
    let TableObject::TableName(name) = &insert.table else {
        return Err(QueryError::Unsupported {
            what: "INSERT INTO a table function".into(),
        });
    };
    let names: Vec<String> = insert.columns.iter().map(object_name).collect();
    let (schema, fields) = insert_target(&object_name(name), &names, catalog)?;
    let Some(source) = &insert.source else {
        return Err(QueryError::Syntax {
            message: "INSERT needs VALUES (or FORMAT with data in the body)".into(),
        });
    };
    let SetExpr::Values(values) = &*source.body else {
        return Err(QueryError::Unsupported {
            what: "INSERT … SELECT".into(),
        });
    };
    let mut builder = BatchBuilder::new(&schema, fields)?;
    for (row_index, row) in values.rows.iter().enumerate() {
        if row.len() != builder.fields_count() {
            return Err(QueryError::Engine(quecto_engine::EngineError::RowShape {
                row: row_index + 1,
                detail: format!(
                    "{} values for {} columns",
                    row.len(),
                    builder.fields_count()
                ),
            }));
        }
        for (field, expr) in row.iter().enumerate() {
            let as_timestamp = builder.field_type(field) == DataType::Timestamp;
            builder.push_value(field, &constant(expr, as_timestamp)?)?;
        }
        builder.finish_row()?;
    }
    Ok(Plan::Insert {
        table: schema.clone(),
        batch: builder.finish(),
    })
}
