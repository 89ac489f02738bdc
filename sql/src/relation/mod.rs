//! Coordinator-side relational operators over materialized intermediate results: hash and
//! as-of joins, window joins, window functions, sorting and `LIMIT BY`, and `SAMPLE BY` fills.
//!
//! Every operator is a pure, synchronous function over [`Relation`]s. Key equality follows SQL
//! with numeric coercion (`Int 1 == Float 1.0`); see [`key`] for the exact rules.

pub mod asof;
pub mod fill;
pub mod join;
mod key;
pub mod sort;
#[cfg(test)]
mod test_support;
mod time_groups;
pub mod window;
pub mod window_join;

pub use asof::{asof_join, AsofSpec};
pub use fill::{fill_buckets, FillMode, FillSpec};
pub use join::{hash_join, JoinKind};
pub use sort::{limit_by, sort_relation};
pub use window::{evaluate_windows, WindowFrame, WindowFunction, WindowSpec};
pub use window_join::{window_join, WindowJoinSpec};

use quecto_engine::types::{DataType, Value};
use quecto_engine::EngineError;

use crate::QueryError;

/// Most rows an operator that can grow its input (a join, a fill) may produce; more is
/// `EngineError::ResultTooLarge`.
pub const RELATION_ROWS_MAX: usize = 1 << 24;

/// One column of a relation.
#[derive(Clone, Debug, PartialEq)]
pub struct RelColumn {
    /// The table name or alias the column comes from, when it has one.
    pub qualifier: Option<String>,
    /// The column name.
    pub name: String,
    /// The column's type.
    pub data_type: DataType,
}

impl RelColumn {
    /// A column named `name` of type `data_type`, qualified by `qualifier` when given.
    pub fn new(qualifier: Option<&str>, name: &str, data_type: DataType) -> RelColumn {
        RelColumn {
            qualifier: qualifier.map(str::to_string),
            name: name.to_string(),
            data_type,
        }
    }
}

/// A materialized intermediate result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Relation {
    /// The columns, in row order.
    pub columns: Vec<RelColumn>,
    /// The rows; each has one value per column.
    pub rows: Vec<Vec<Value>>,
}

impl Relation {
    /// A relation of `columns` and `rows`.
    pub fn new(columns: Vec<RelColumn>, rows: Vec<Vec<Value>>) -> Relation {
        Relation { columns, rows }
    }

    /// The number of columns.
    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// The index of the column `qualifier.name` (names compare ASCII case-insensitively, like
    /// table columns). An unqualified name matches a column of any qualifier. `Ok(None)` when
    /// nothing matches; an error when more than one column matches.
    pub fn column_index(
        &self,
        qualifier: Option<&str>,
        name: &str,
    ) -> Result<Option<usize>, QueryError> {
        let mut matches = self.columns.iter().enumerate().filter(|(_, column)| {
            column.name.eq_ignore_ascii_case(name)
                && match qualifier {
                    None => true,
                    Some(q) => column
                        .qualifier
                        .as_deref()
                        .is_some_and(|c| c.eq_ignore_ascii_case(q)),
                }
        });
        let first = matches.next().map(|(index, _)| index);
        if matches.next().is_some() {
            let column = match qualifier {
                Some(q) => format!("{q}.{name}"),
                None => name.to_string(),
            };
            return Err(QueryError::AmbiguousColumn { column });
        }
        Ok(first)
    }

    /// Checks that every row has one value per column and that every index in `columns`
    /// names a column; `operator` names the caller in the error.
    pub(crate) fn check(&self, operator: &str, columns: &[&[usize]]) -> Result<(), QueryError> {
        let width = self.width();
        if let Some(&bad) = columns.iter().copied().flatten().find(|&&c| c >= width) {
            return Err(internal(format!(
                "{operator}: column index {bad} out of range for {width} columns"
            )));
        }
        if let Some(row) = self.rows.iter().position(|r| r.len() != width) {
            return Err(internal(format!(
                "{operator}: row {row} has {} values for {width} columns",
                self.rows[row].len()
            )));
        }
        Ok(())
    }
}

/// A broken planner invariant (a bad column index, a malformed row): our bug, never the user's.
pub(crate) fn internal(detail: String) -> QueryError {
    QueryError::Engine(EngineError::Internal { detail })
}

/// Fails with `ResultTooLarge` when an operator's output would pass [`RELATION_ROWS_MAX`].
pub(crate) fn check_output_rows(rows: usize) -> Result<(), QueryError> {
    if rows > RELATION_ROWS_MAX {
        return Err(QueryError::Engine(EngineError::ResultTooLarge {
            rows_max: RELATION_ROWS_MAX,
        }));
    }
    Ok(())
}

/// The time of `row[column]`: an integer or timestamp, `None` for NULL.
pub(crate) fn time_of(row: &[Value], column: usize) -> Result<Option<i64>, QueryError> {
    match row.get(column) {
        Some(Value::Int(t)) => Ok(Some(*t)),
        Some(Value::Null) => Ok(None),
        Some(other) => Err(QueryError::Type {
            detail: format!("a time column must be a timestamp or an integer, found {other}"),
        }),
        None => Err(internal(format!("time column {column} out of range"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> Relation {
        Relation::new(
            vec![
                RelColumn::new(Some("t"), "ts", DataType::Timestamp),
                RelColumn::new(Some("t"), "price", DataType::Float64),
                RelColumn::new(Some("q"), "ts", DataType::Timestamp),
                RelColumn::new(None, "bid", DataType::Float64),
            ],
            vec![],
        )
    }

    #[test]
    fn resolves_qualified_and_unqualified_names() {
        let rel = columns();
        assert_eq!(rel.column_index(None, "PRICE").unwrap(), Some(1));
        assert_eq!(rel.column_index(Some("Q"), "ts").unwrap(), Some(2));
        assert_eq!(rel.column_index(Some("t"), "ts").unwrap(), Some(0));
        assert_eq!(rel.column_index(None, "bid").unwrap(), Some(3));
        assert_eq!(rel.column_index(Some("t"), "bid").unwrap(), None);
        assert_eq!(rel.column_index(None, "ask").unwrap(), None);
    }

    #[test]
    fn ambiguous_unqualified_name_is_an_error() {
        let err = columns().column_index(None, "ts").unwrap_err();
        assert!(matches!(err, QueryError::AmbiguousColumn { ref column } if column == "ts"));
    }

    #[test]
    fn check_rejects_bad_indices_and_ragged_rows() {
        let mut rel = columns();
        assert!(rel.check("test", &[&[0, 3], &[1]]).is_ok());
        assert!(rel.check("test", &[&[0], &[4]]).is_err());
        rel.rows.push(vec![Value::Null]);
        assert!(rel.check("test", &[]).is_err());
    }
}
