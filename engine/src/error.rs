//! `EngineError`: every way the engine refuses input or fails; variants carry what to act on.

use crate::types::DataType;

/// Errors raised by the engine (storage, routing, fragments, runtime).
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum EngineError {
    /// A table or column name is empty, too long or has characters outside `[A-Za-z0-9_]`.
    #[error("invalid name `{name}`: names are 1-256 letters, digits or underscores")]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// A `CREATE TABLE` that cannot make a valid table.
    #[error("invalid schema for table `{table}`: {detail}")]
    InvalidSchema {
        /// The table being created.
        table: String,
        /// What is wrong.
        detail: String,
    },
    /// The table does not exist.
    #[error("unknown table `{table}`")]
    UnknownTable {
        /// The table named.
        table: String,
    },
    /// `CREATE TABLE` of a name that exists.
    #[error("table `{table}` already exists")]
    TableExists {
        /// The table named.
        table: String,
    },
    /// A column that the statement names does not exist.
    #[error("unknown column `{column}` in table `{table}`")]
    UnknownColumn {
        /// The table.
        table: String,
        /// The column named.
        column: String,
    },
    /// An insert lacks a column that every row needs.
    #[error("column `{column}` of table `{table}` is required in every INSERT")]
    MissingColumn {
        /// The table.
        table: String,
        /// The required column.
        column: String,
    },
    /// A value that cannot be stored in its column's type.
    #[error("row {row}: cannot store {value} in column `{column}` of type {expected}")]
    BadValue {
        /// The column.
        column: String,
        /// The column's type.
        expected: DataType,
        /// The offending value (shortened).
        value: String,
        /// 1-based row number within the statement.
        row: usize,
    },
    /// NULL in the symbol or timestamp column.
    #[error("row {row}: column `{column}` cannot be NULL")]
    NullInKeyColumn {
        /// The column.
        column: String,
        /// 1-based row number.
        row: usize,
    },
    /// A row with too many or too few values.
    #[error("row {row}: {detail}")]
    RowShape {
        /// 1-based row number.
        row: usize,
        /// What is wrong.
        detail: String,
    },
    /// An integer aggregate overflowed i64.
    #[error("integer overflow in {function}: the exact result does not fit in Int64")]
    Overflow {
        /// The aggregate or operator.
        function: String,
    },
    /// A result larger than the engine returns in one piece.
    #[error("result too large: more than {rows_max} rows; add a LIMIT or a narrower WHERE")]
    ResultTooLarge {
        /// The limit.
        rows_max: usize,
    },
    /// A query fragment that the engine cannot run (a type mismatch the planner missed).
    #[error("cannot evaluate {detail}")]
    Evaluation {
        /// What could not be evaluated.
        detail: String,
    },
    /// A shard stopped or its channel closed.
    #[error("shard {shard} is unavailable: {detail}")]
    ShardUnavailable {
        /// The shard index.
        shard: usize,
        /// Why.
        detail: String,
    },
    /// The write-ahead log failed (I/O, a poisoned log after a failed write or fsync, or a
    /// record it cannot encode): the write was not acknowledged.
    #[error("write-ahead log: {detail}")]
    Wal {
        /// What failed.
        detail: String,
    },
    /// Writing or loading a checkpoint failed (I/O, or a damaged manifest or segment, which
    /// the server refuses to serve from).
    #[error("checkpoint: {detail}")]
    Checkpoint {
        /// What failed, naming the file.
        detail: String,
    },
    /// The runtime could not start (io_uring, memlock, pinning).
    #[error("runtime start-up failed: {detail}")]
    Startup {
        /// What failed, with the remedy when known.
        detail: String,
    },
    /// A broken invariant inside QuectoDB: our bug, never the client's.
    #[error("internal error: {detail}")]
    Internal {
        /// What broke.
        detail: String,
    },
}
