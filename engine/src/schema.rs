//! Table schemas: typed columns with a designated symbol (partition key) and timestamp column.

use crate::error::EngineError;
use crate::types::DataType;

/// Most columns a table may have.
pub const TABLE_COLUMNS_MAX: usize = 1024;
/// Longest table or column name, in bytes.
pub const NAME_SIZE_MAX: usize = 256;

/// One column of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDef {
    /// Column name, as created (lookups are case-insensitive).
    pub name: String,
    /// Column type.
    pub data_type: DataType,
}

/// A table's schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSchema {
    /// Table name.
    pub name: String,
    /// Columns in declaration order.
    pub columns: Vec<ColumnDef>,
    /// Index of the symbol column: the partition key, routed over the ring.
    pub symbol_index: usize,
    /// Index of the designated timestamp column: rows are kept in its order.
    pub timestamp_index: usize,
    /// Rows whose timestamp is older than this many seconds are dropped at checkpoints
    /// (`ALTER TABLE t SET TTL n DAYS`); `None` keeps everything.
    pub ttl_seconds: Option<u64>,
}

impl TableSchema {
    /// Builds a schema, designating the symbol and timestamp columns.
    ///
    /// The symbol column is `symbol_column` when given, else the first `SYMBOL` column, else an
    /// integer column named `symbol`; the timestamp column is `timestamp_column` when given,
    /// else the first `TIMESTAMP` column.
    pub fn new(
        name: &str,
        columns: Vec<ColumnDef>,
        symbol_column: Option<&str>,
        timestamp_column: Option<&str>,
    ) -> Result<TableSchema, EngineError> {
        check_name(name)?;
        if columns.is_empty() || columns.len() > TABLE_COLUMNS_MAX {
            return Err(EngineError::InvalidSchema {
                table: name.to_string(),
                detail: format!("a table needs 1..={TABLE_COLUMNS_MAX} columns"),
            });
        }
        for (index, column) in columns.iter().enumerate() {
            check_name(&column.name)?;
            let duplicate = columns[..index]
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case(&column.name));
            if duplicate {
                return Err(EngineError::InvalidSchema {
                    table: name.to_string(),
                    detail: format!("column `{}` is declared twice", column.name),
                });
            }
        }
        let symbol_index = designate_symbol(name, &columns, symbol_column)?;
        let timestamp_index = designate_timestamp(name, &columns, timestamp_column)?;
        Ok(TableSchema {
            name: name.to_string(),
            columns,
            symbol_index,
            timestamp_index,
            ttl_seconds: None,
        })
    }

    /// Index of the column named `name` (case-insensitive). Columns of intermediate results
    /// may be qualified (`t.price`): an unqualified `price` then finds the one column whose
    /// name ends in `.price`, and none when several do.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        let exact = self
            .columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name));
        if exact.is_some() || name.contains('.') {
            return exact;
        }
        let mut qualified = self.columns.iter().enumerate().filter(|(_, c)| {
            c.name.len() > name.len() + 1
                && c.name.as_bytes()[c.name.len() - name.len() - 1] == b'.'
                && c.name[c.name.len() - name.len()..].eq_ignore_ascii_case(name)
        });
        match (qualified.next(), qualified.next()) {
            (Some((index, _)), None) => Some(index),
            _ => None,
        }
    }

    /// Type of the symbol column.
    pub fn symbol_type(&self) -> DataType {
        self.columns[self.symbol_index].data_type
    }
}

fn check_name(name: &str) -> Result<(), EngineError> {
    let valid = !name.is_empty()
        && name.len() <= NAME_SIZE_MAX
        && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(EngineError::InvalidName {
            name: name.to_string(),
        })
    }
}

fn designate_symbol(
    table: &str,
    columns: &[ColumnDef],
    requested: Option<&str>,
) -> Result<usize, EngineError> {
    let key_type_ok =
        |t: DataType| matches!(t, DataType::Symbol | DataType::Int64 | DataType::Int32);
    let found = match requested {
        Some(wanted) => columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(wanted)),
        None => columns
            .iter()
            .position(|c| c.data_type == DataType::Symbol)
            .or_else(|| {
                columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case("symbol") && key_type_ok(c.data_type))
            }),
    };
    match found {
        Some(index) if key_type_ok(columns[index].data_type) => Ok(index),
        Some(index) => Err(EngineError::InvalidSchema {
            table: table.to_string(),
            detail: format!(
                "symbol column `{}` must be SYMBOL, INT64 or INT32, not {}",
                columns[index].name, columns[index].data_type
            ),
        }),
        None => Err(EngineError::InvalidSchema {
            table: table.to_string(),
            detail: "a table needs a SYMBOL column (or an integer column named `symbol`)".into(),
        }),
    }
}

fn designate_timestamp(
    table: &str,
    columns: &[ColumnDef],
    requested: Option<&str>,
) -> Result<usize, EngineError> {
    let found = match requested {
        Some(wanted) => columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(wanted)),
        None => columns
            .iter()
            .position(|c| c.data_type == DataType::Timestamp),
    };
    match found {
        Some(index) if columns[index].data_type == DataType::Timestamp => Ok(index),
        Some(index) => Err(EngineError::InvalidSchema {
            table: table.to_string(),
            detail: format!(
                "timestamp column `{}` must be TIMESTAMP",
                columns[index].name
            ),
        }),
        None => Err(EngineError::InvalidSchema {
            table: table.to_string(),
            detail: "a table needs a TIMESTAMP column".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, data_type: DataType) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            data_type,
        }
    }

    #[test]
    fn designates_first_symbol_and_timestamp_columns() {
        let columns = vec![
            col("px", DataType::Float64),
            col("sym", DataType::Symbol),
            col("ts", DataType::Timestamp),
        ];
        let schema = TableSchema::new("t", columns, None, None).unwrap();
        assert_eq!((schema.symbol_index, schema.timestamp_index), (1, 2));
    }

    #[test]
    fn accepts_integer_symbol_named_symbol() {
        let columns = vec![
            col("symbol", DataType::Int64),
            col("ts", DataType::Timestamp),
        ];
        let schema = TableSchema::new("t", columns, None, None).unwrap();
        assert_eq!(schema.symbol_type(), DataType::Int64);
    }

    #[test]
    fn rejects_tables_without_timestamp_or_with_duplicate_columns() {
        let no_ts = vec![col("symbol", DataType::Symbol)];
        assert!(TableSchema::new("t", no_ts, None, None).is_err());
        let dup = vec![
            col("symbol", DataType::Symbol),
            col("ts", DataType::Timestamp),
            col("TS", DataType::Int64),
        ];
        assert!(TableSchema::new("t", dup, None, None).is_err());
        assert!(TableSchema::new("bad name", vec![], None, None).is_err());
    }
}
