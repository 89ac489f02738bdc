//! DELETE and UPDATE: binds a mutation statement against its table into the engine's
//! `Mutation`, which the owning shards log and apply (see `quecto_engine::storage::mutate`).
//!
//! Spellings: `DELETE FROM t [WHERE c]`, `UPDATE t SET col = expr[, ...] [WHERE c]`, and
//! ClickHouse's `ALTER TABLE t DELETE WHERE c` / `ALTER TABLE t UPDATE col = expr WHERE c`
//! (sqlparser does not parse those: they are rewritten to the standard form first, and keep
//! ClickHouse's required WHERE). No WHERE means every row. The filter is bound exactly as a
//! SELECT's is, and `symbol = X` / `IN` routes the mutation to the owning shards only. SET
//! values are type-checked against their column here, so a mismatch is a planning error; the
//! symbol column cannot be assigned (it decides which shard holds a row), the designated
//! timestamp can (its partition is re-sorted) but not to NULL.

use quecto_engine::fragment::plan::{BinaryOp, ScalarExpr};
use quecto_engine::schema::TableSchema;
use quecto_engine::storage::mutate::{Assignment, Mutation, MutationAction};
use quecto_engine::time::parse_timestamp_ns;
use quecto_engine::types::{DataType, Value};
use quecto_engine::wal::codec::MUTATION_EXPR_DEPTH_MAX;
use sqlparser::ast::{
    AssignmentTarget, Delete, Expr, FromTable, Statement, TableFactor, TableWithJoins, Update,
};
use sqlparser::dialect::ClickHouseDialect;
use sqlparser::parser::Parser;

use crate::bind::{bind_scalar, type_of};
use crate::error::QueryError;
use crate::select::{routed_symbols, Catalog};
use crate::statement::object_name;

/// Binds `DELETE FROM t [WHERE c]`.
pub fn plan_delete(delete: &Delete, catalog: &dyn Catalog) -> Result<Mutation, QueryError> {
    let extras = !delete.tables.is_empty()
        || delete.using.is_some()
        || delete.returning.is_some()
        || delete.output.is_some()
        || !delete.order_by.is_empty()
        || delete.limit.is_some();
    if extras {
        return Err(QueryError::Unsupported {
            what: "DELETE with USING, RETURNING, ORDER BY, LIMIT or a table list".into(),
        });
    }
    let (FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables)) = &delete.from;
    let [table] = tables.as_slice() else {
        return Err(QueryError::Unsupported {
            what: "DELETE from several tables".into(),
        });
    };
    let schema = target_table(table, catalog)?;
    mutation(&schema, delete.selection.as_ref(), MutationAction::Delete)
}

/// Binds `UPDATE t SET col = expr[, ...] [WHERE c]`.
pub fn plan_update(update: &Update, catalog: &dyn Catalog) -> Result<Mutation, QueryError> {
    let extras = update.from.is_some()
        || update.returning.is_some()
        || update.output.is_some()
        || update.or.is_some()
        || !update.order_by.is_empty()
        || update.limit.is_some();
    if extras {
        return Err(QueryError::Unsupported {
            what: "UPDATE with FROM, RETURNING, OR, ORDER BY or LIMIT".into(),
        });
    }
    let schema = target_table(&update.table, catalog)?;
    let mut assignments: Vec<Assignment> = Vec::with_capacity(update.assignments.len());
    for assignment in &update.assignments {
        let bound = bind_assignment(assignment, &schema)?;
        if assignments.iter().any(|a| a.column == bound.column) {
            return Err(QueryError::Syntax {
                message: format!(
                    "column `{}` is assigned twice",
                    schema.columns[bound.column].name
                ),
            });
        }
        assignments.push(bound);
    }
    mutation(
        &schema,
        update.selection.as_ref(),
        MutationAction::Update(assignments),
    )
}

/// `ALTER TABLE t DELETE WHERE c` / `ALTER TABLE t UPDATE col = expr[, ...] WHERE c`, bound;
/// `None` for any other statement.
pub fn plan_alter_mutation(
    sql: &str,
    catalog: &dyn Catalog,
) -> Option<Result<Mutation, QueryError>> {
    let (alter, rest) = next_word(sql);
    let (table_word, rest) = next_word(rest);
    let (table, rest) = next_word(rest);
    let (verb, rest) = next_word(rest);
    let is_delete = verb.eq_ignore_ascii_case("delete");
    let is_mutation = alter.eq_ignore_ascii_case("alter")
        && table_word.eq_ignore_ascii_case("table")
        && (is_delete || verb.eq_ignore_ascii_case("update"));
    if !is_mutation {
        return None;
    }
    let standard = if is_delete {
        format!("DELETE FROM {table} {rest}")
    } else {
        format!("UPDATE {table} SET {rest}")
    };
    Some(plan_standard(&standard, catalog, verb))
}

fn plan_standard(sql: &str, catalog: &dyn Catalog, verb: &str) -> Result<Mutation, QueryError> {
    let mut statements =
        Parser::parse_sql(&ClickHouseDialect {}, sql).map_err(|e| QueryError::Syntax {
            message: format!("in ALTER TABLE … {verb}: {e}"),
        })?;
    let (mutation, has_where) = match statements.pop() {
        Some(Statement::Delete(delete)) if statements.is_empty() => {
            (plan_delete(&delete, catalog)?, delete.selection.is_some())
        }
        Some(Statement::Update(update)) if statements.is_empty() => {
            (plan_update(&update, catalog)?, update.selection.is_some())
        }
        _ => {
            return Err(QueryError::Syntax {
                message: format!("expected one ALTER TABLE t {verb} … statement"),
            })
        }
    };
    if !has_where {
        // ClickHouse's grammar: ALTER … DELETE/UPDATE always names its rows (`WHERE 1`: all).
        return Err(QueryError::Syntax {
            message: format!("ALTER TABLE t {verb} needs a WHERE clause (WHERE 1 for every row)"),
        });
    }
    Ok(mutation)
}

/// The first whitespace-separated word of `text` and what follows it.
fn next_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    text.split_at(end)
}

fn target_table(table: &TableWithJoins, catalog: &dyn Catalog) -> Result<TableSchema, QueryError> {
    let TableFactor::Table { name, .. } = &table.relation else {
        return Err(QueryError::Unsupported {
            what: format!("a mutation of {}", table.relation),
        });
    };
    if !table.joins.is_empty() {
        return Err(QueryError::Unsupported {
            what: "JOIN in DELETE or UPDATE".into(),
        });
    }
    let name = object_name(name);
    catalog
        .table(&name)
        .ok_or(QueryError::UnknownTable { table: name })
}

fn mutation(
    schema: &TableSchema,
    selection: Option<&Expr>,
    action: MutationAction,
) -> Result<Mutation, QueryError> {
    let filter = selection.map(|e| bind_filter(e, schema)).transpose()?;
    let values = match &action {
        MutationAction::Delete => Vec::new(),
        MutationAction::Update(assignments) => assignments.iter().map(|a| &a.value).collect(),
    };
    if filter
        .iter()
        .chain(values)
        .any(|e| depth(e) > MUTATION_EXPR_DEPTH_MAX)
    {
        return Err(QueryError::Unsupported {
            what: format!(
                "a WHERE or SET expression nested more than {MUTATION_EXPR_DEPTH_MAX} levels \
                 deep (a long OR chain of equalities can be an IN list)"
            ),
        });
    }
    let symbols = filter
        .as_ref()
        .and_then(|f| routed_symbols(f, schema.symbol_index));
    Ok(Mutation {
        table: schema.name.clone(),
        symbols,
        filter,
        action,
    })
}

/// Levels of `expr`'s tree (a column or literal is 1), which the mutation record bounds.
fn depth(expr: &ScalarExpr) -> usize {
    1 + match expr {
        ScalarExpr::Column(_) | ScalarExpr::Literal(_) => 0,
        ScalarExpr::Binary { left, right, .. } => depth(left).max(depth(right)),
        ScalarExpr::Not(inner)
        | ScalarExpr::Negate(inner)
        | ScalarExpr::IsNull { expr: inner, .. }
        | ScalarExpr::InList { expr: inner, .. }
        | ScalarExpr::Cast { expr: inner, .. } => depth(inner),
        ScalarExpr::Function { args, .. } => args.iter().map(depth).max().unwrap_or(0),
        ScalarExpr::Case {
            operand,
            branches,
            otherwise,
        } => branches
            .iter()
            .flat_map(|(when, then)| [depth(when), depth(then)])
            .chain(operand.iter().chain(otherwise).map(|e| depth(e)))
            .max()
            .unwrap_or(0),
    }
}

fn column_types(schema: &TableSchema) -> Vec<DataType> {
    schema.columns.iter().map(|c| c.data_type).collect()
}

/// A WHERE bound as SELECT binds it; an integer condition means `<> 0` (ClickHouse's
/// `WHERE 1`), anything else that is not a boolean is refused rather than matching nothing.
fn bind_filter(expr: &Expr, schema: &TableSchema) -> Result<ScalarExpr, QueryError> {
    let filter = bind_scalar(expr, Some(schema))?;
    match type_of(&filter, &column_types(schema)) {
        DataType::Bool => Ok(filter),
        found if found.is_integer() => Ok(ScalarExpr::Binary {
            op: BinaryOp::NotEq,
            left: Box::new(filter),
            right: Box::new(ScalarExpr::Literal(Value::Int(0))),
        }),
        found => Err(QueryError::Type {
            detail: format!("WHERE needs a condition, not a {found} value"),
        }),
    }
}

fn bind_assignment(
    assignment: &sqlparser::ast::Assignment,
    schema: &TableSchema,
) -> Result<Assignment, QueryError> {
    let AssignmentTarget::ColumnName(name) = &assignment.target else {
        return Err(QueryError::Unsupported {
            what: format!("assignment to a tuple `{}`", assignment.target),
        });
    };
    let name = object_name(name);
    let column = schema
        .column_index(&name)
        .ok_or_else(|| QueryError::UnknownColumn {
            column: name.clone(),
            table: Some(schema.name.clone()),
        })?;
    if column == schema.symbol_index {
        return Err(QueryError::Unsupported {
            what: format!(
                "UPDATE of the symbol column `{name}`: it decides which shard holds a row \
                 (DELETE the rows and INSERT them with the new symbol instead)"
            ),
        });
    }
    let value = bind_scalar(&assignment.value, Some(schema))?;
    let value = coerce_value(value, column, schema)?;
    Ok(Assignment { column, value })
}

/// `value` checked (and literals converted) for storing in column `column`.
fn coerce_value(
    value: ScalarExpr,
    column: usize,
    schema: &TableSchema,
) -> Result<ScalarExpr, QueryError> {
    let target = schema.columns[column].data_type;
    let name = &schema.columns[column].name;
    let type_error = |detail: String| Err(QueryError::Type { detail });
    let value = match (value, target) {
        (ScalarExpr::Literal(Value::Null), _) if column == schema.timestamp_index => {
            return type_error(format!("the designated timestamp `{name}` cannot be NULL"));
        }
        (ScalarExpr::Literal(Value::Null), _) => return Ok(ScalarExpr::Literal(Value::Null)),
        (ScalarExpr::Literal(Value::Str(text)), DataType::Timestamp) => {
            match parse_timestamp_ns(&text) {
                Some(ns) => ScalarExpr::Literal(Value::Int(ns)),
                None => return type_error(format!("'{text}' is not a timestamp")),
            }
        }
        (ScalarExpr::Literal(Value::Int(x)), DataType::Int32) if i32::try_from(x).is_err() => {
            return type_error(format!("{x} does not fit in column `{name}` of type INT32"));
        }
        (ScalarExpr::Literal(Value::Int(x @ (0 | 1))), DataType::Bool) => {
            ScalarExpr::Literal(Value::Bool(x == 1))
        }
        (value, _) => value,
    };
    let found = type_of(&value, &column_types(schema));
    let integral = found.is_integer() || found == DataType::Timestamp;
    let fits = match target {
        DataType::Int64 | DataType::Int32 | DataType::UInt64 | DataType::Timestamp => integral,
        DataType::Float64 | DataType::Float32 => found.is_numeric(),
        DataType::Bool => found == DataType::Bool,
        DataType::Symbol => found == DataType::Symbol,
    };
    if !fits {
        return type_error(format!(
            "cannot assign a {found} value to column `{name}` of type {target}"
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use quecto_engine::batch::SymbolKey;
    use quecto_engine::schema::ColumnDef;

    use super::*;
    use crate::statement::{plan_sql, Plan, TableLister};

    struct OneTable(TableSchema);

    impl Catalog for OneTable {
        fn table(&self, name: &str) -> Option<TableSchema> {
            self.0
                .name
                .eq_ignore_ascii_case(name)
                .then(|| self.0.clone())
        }
    }

    impl TableLister for OneTable {
        fn table_names(&self) -> Vec<String> {
            vec![self.0.name.clone()]
        }
    }

    fn catalog() -> OneTable {
        let column = |name: &str, data_type| ColumnDef {
            name: name.into(),
            data_type,
        };
        let columns = vec![
            column("symbol", DataType::Symbol),
            column("ts", DataType::Timestamp),
            column("price", DataType::Float64),
            column("volume", DataType::Int64),
            column("venue", DataType::Symbol),
            column("qty", DataType::Int32),
            column("flag", DataType::Bool),
        ];
        OneTable(TableSchema::new("t", columns, None, None).unwrap())
    }

    fn plan(sql: &str) -> Result<Mutation, QueryError> {
        match plan_sql(sql, &catalog())? {
            Plan::Mutate(mutation) => Ok(*mutation),
            other => panic!("{sql} planned as {other:?}"),
        }
    }

    #[test]
    fn unknown_names_are_planning_errors() {
        let unknown_column = |sql: &str| {
            assert!(
                matches!(plan(sql), Err(QueryError::UnknownColumn { .. })),
                "{sql}"
            )
        };
        unknown_column("UPDATE t SET nope = 1");
        unknown_column("UPDATE t SET price = nope WHERE volume > 1");
        unknown_column("DELETE FROM t WHERE nope = 1");
        unknown_column("ALTER TABLE t DELETE WHERE nope = 1");
        assert!(matches!(
            plan("DELETE FROM u WHERE price > 1"),
            Err(QueryError::UnknownTable { .. })
        ));
        assert!(matches!(
            plan("ALTER TABLE u UPDATE price = 1 WHERE 1"),
            Err(QueryError::UnknownTable { .. })
        ));
    }

    #[test]
    fn the_symbol_column_cannot_be_updated() {
        for sql in [
            "UPDATE t SET symbol = 'B' WHERE symbol = 'A'",
            "ALTER TABLE t UPDATE SYMBOL = 'B' WHERE 1",
        ] {
            let error = plan(sql).unwrap_err();
            assert!(
                matches!(&error, QueryError::Unsupported { what } if what.contains("symbol column")),
                "{sql}: {error}"
            );
        }
    }

    #[test]
    fn values_that_do_not_fit_their_column_are_type_errors() {
        for sql in [
            "UPDATE t SET price = 'abc'",
            "UPDATE t SET volume = 1.5",
            "UPDATE t SET volume = price",
            "UPDATE t SET venue = 3",
            "UPDATE t SET venue = price + 1",
            "UPDATE t SET flag = 2",
            "UPDATE t SET flag = 'true'",
            "UPDATE t SET ts = NULL",
            "UPDATE t SET ts = 'yesterday'",
            "UPDATE t SET ts = 1.5",
            "UPDATE t SET qty = 5000000000",
            "DELETE FROM t WHERE price",
            "DELETE FROM t WHERE venue",
            "DELETE FROM t WHERE symbol = 1",
        ] {
            assert!(
                matches!(plan(sql), Err(QueryError::Type { .. })),
                "{sql}: {:?}",
                plan(sql)
            );
        }
    }

    #[test]
    fn values_are_converted_for_their_column() {
        let m = plan(
            "UPDATE t SET ts = '2024-01-02 09:30:00', flag = 1, price = volume, venue = NULL, \
             qty = -3 WHERE symbol = 'A'",
        )
        .unwrap();
        let MutationAction::Update(assignments) = &m.action else {
            panic!("not an update");
        };
        let values: Vec<(usize, ScalarExpr)> = assignments
            .iter()
            .map(|a| (a.column, a.value.clone()))
            .collect();
        assert_eq!(
            values,
            vec![
                (
                    1,
                    ScalarExpr::Literal(Value::Int(1_704_187_800_000_000_000))
                ),
                (6, ScalarExpr::Literal(Value::Bool(true))),
                (2, ScalarExpr::Column(3)),
                (4, ScalarExpr::Literal(Value::Null)),
                (5, ScalarExpr::Literal(Value::Int(-3))),
            ]
        );
        assert!(matches!(
            plan("UPDATE t SET qty = 1, QTY = 2"),
            Err(QueryError::Syntax { .. })
        ));
    }

    #[test]
    fn symbol_filters_route_and_others_go_everywhere() {
        let symbols = |sql: &str| plan(sql).unwrap().symbols;
        let a = SymbolKey::Str("A".into());
        assert_eq!(
            symbols("DELETE FROM t WHERE symbol = 'A' AND price > 1"),
            Some(vec![a.clone()])
        );
        assert_eq!(
            symbols("UPDATE t SET price = 1 WHERE symbol IN ('A', 'B')"),
            Some(vec![a, SymbolKey::Str("B".into())])
        );
        assert_eq!(
            symbols("DELETE FROM t WHERE symbol = 'A' OR price > 1"),
            None
        );
        assert_eq!(symbols("DELETE FROM t"), None);
        assert_eq!(plan("DELETE FROM t").unwrap().filter, None);
    }

    #[test]
    fn clickhouse_alter_spellings_mean_the_standard_statements() {
        assert_eq!(
            plan("alter table t delete where price > 1 and symbol = 'A';").unwrap(),
            plan("DELETE FROM t WHERE price > 1 AND symbol = 'A'").unwrap()
        );
        assert_eq!(
            plan("ALTER TABLE t UPDATE price = price * 2, qty = 0 WHERE volume < 10").unwrap(),
            plan("UPDATE t SET price = price * 2, qty = 0 WHERE volume < 10").unwrap()
        );
        for sql in ["ALTER TABLE t DELETE", "ALTER TABLE t UPDATE price = 1"] {
            assert!(
                matches!(plan(sql), Err(QueryError::Syntax { message }) if message.contains("WHERE")),
                "{sql}"
            );
        }
        // `WHERE 1` is every row: an integer condition means `<> 0`.
        let every = plan("ALTER TABLE t DELETE WHERE 1").unwrap();
        assert_eq!(
            every.filter,
            Some(ScalarExpr::Binary {
                op: BinaryOp::NotEq,
                left: Box::new(ScalarExpr::Literal(Value::Int(1))),
                right: Box::new(ScalarExpr::Literal(Value::Int(0))),
            })
        );
        assert!(plan_sql("ALTER TABLE t SET TTL 1 DAYS", &catalog()).is_ok());
    }

    #[test]
    fn expressions_deeper_than_a_mutation_record_holds_are_refused() {
        let chain = |terms: usize| {
            let ors: Vec<String> = (0..terms).map(|k| format!("volume = {k}")).collect();
            format!("DELETE FROM t WHERE {}", ors.join(" OR "))
        };
        // Parsing and binding recurse once per level: give them a big stack.
        let deep = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(move || {
                assert!(plan(&chain(MUTATION_EXPR_DEPTH_MAX / 2)).is_ok());
                plan(&chain(MUTATION_EXPR_DEPTH_MAX)).map(drop)
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(matches!(
            deep,
            Err(QueryError::Unsupported { what }) if what.contains("IN list")
        ));
    }

    #[test]
    fn unsupported_clauses_are_named() {
        for sql in [
            "DELETE FROM t WHERE price > 1 RETURNING price",
            "UPDATE t SET price = 1 FROM u WHERE t.volume = u.volume",
            "UPDATE t SET (price, volume) = (1, 2)",
        ] {
            assert!(
                matches!(
                    plan_sql(sql, &catalog()),
                    Err(QueryError::Unsupported { .. } | QueryError::Syntax { .. })
                ),
                "{sql}"
            );
        }
    }
}
