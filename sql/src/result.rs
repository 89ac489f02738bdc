//! `ResultSet`: the merged, final answer of a statement, ready for an output format.

use quecto_engine::types::{DataType, Value};

/// One output column.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultColumn {
    /// The column's name as the client sees it (alias or expression text).
    pub name: String,
    /// Its type.
    pub data_type: DataType,
}

/// Execution statistics reported with a result (ClickHouse's `statistics`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct QueryStatistics {
    /// Wall time from receiving the statement to the merged result, in seconds.
    pub elapsed_seconds: f64,
    /// Rows the fragments scanned (after partition and chunk pruning).
    pub rows_read: u64,
    /// Bytes of column data those rows occupy.
    pub bytes_read: u64,
}

/// A statement's answer: columns, rows (row-major) and statistics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResultSet {
    /// Output columns in order.
    pub columns: Vec<ResultColumn>,
    /// Rows; each has one value per column.
    pub rows: Vec<Vec<Value>>,
    /// Statistics.
    pub statistics: QueryStatistics,
}
