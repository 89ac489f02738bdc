//! `QueryError`: every way a statement fails; the variant says who is to blame.

use quecto_engine::EngineError;

/// Errors of parsing, binding, planning and merging a statement.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The text is not valid SQL (the message names the token and position).
    #[error("syntax error: {message}")]
    Syntax {
        /// Parser message with line and column.
        message: String,
    },
    /// Valid SQL that QuectoDB does not support.
    #[error("not supported: {what}")]
    Unsupported {
        /// The construct.
        what: String,
    },
    /// An unknown table.
    #[error("unknown table `{table}`")]
    UnknownTable {
        /// The table named.
        table: String,
    },
    /// An unknown column.
    #[error("unknown column `{column}`{}", table.as_ref().map(|t| format!(" in table `{t}`")).unwrap_or_default())]
    UnknownColumn {
        /// The column named.
        column: String,
        /// The table searched, when there is one.
        table: Option<String>,
    },
    /// A column name that matches more than one column of the FROM clause.
    #[error("ambiguous column `{column}`: qualify it with its table")]
    AmbiguousColumn {
        /// The name as written.
        column: String,
    },
    /// An expression whose types do not fit.
    #[error("type error: {detail}")]
    Type {
        /// What does not fit.
        detail: String,
    },
    /// A statement that is not allowed in this context (e.g. a write over GET).
    #[error("{detail}")]
    NotAllowed {
        /// Why.
        detail: String,
    },
    /// An engine error (bad value, overflow, unavailable shard, ...).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl QueryError {
    /// Stable error code and HTTP status. No `_` arm: a new variant cannot ship unmapped.
    pub fn code_and_status(&self) -> (&'static str, u16) {
        match self {
            QueryError::Syntax { .. } => ("SYNTAX_ERROR", 400),
            QueryError::Unsupported { .. } => ("NOT_IMPLEMENTED", 400),
            QueryError::UnknownTable { .. } => ("UNKNOWN_TABLE", 404),
            QueryError::UnknownColumn { .. } => ("UNKNOWN_IDENTIFIER", 404),
            QueryError::AmbiguousColumn { .. } => ("AMBIGUOUS_COLUMN_NAME", 400),
            QueryError::Type { .. } => ("TYPE_MISMATCH", 400),
            QueryError::NotAllowed { .. } => ("READONLY", 405),
            QueryError::Engine(e) => engine_code_and_status(e),
        }
    }
}

fn engine_code_and_status(error: &EngineError) -> (&'static str, u16) {
    match error {
        EngineError::InvalidName { .. } => ("BAD_ARGUMENTS", 400),
        EngineError::InvalidSchema { .. } => ("BAD_ARGUMENTS", 400),
        EngineError::UnknownTable { .. } => ("UNKNOWN_TABLE", 404),
        EngineError::TableExists { .. } => ("TABLE_ALREADY_EXISTS", 400),
        EngineError::UnknownColumn { .. } => ("UNKNOWN_IDENTIFIER", 404),
        EngineError::MissingColumn { .. } => ("NO_DATA_TO_INSERT", 400),
        EngineError::BadValue { .. } => ("CANNOT_PARSE_INPUT", 400),
        EngineError::NullInKeyColumn { .. } => ("CANNOT_INSERT_NULL", 400),
        EngineError::RowShape { .. } => ("INCORRECT_NUMBER_OF_COLUMNS", 400),
        EngineError::Overflow { .. } => ("DECIMAL_OVERFLOW", 400),
        EngineError::ResultTooLarge { .. } => ("TOO_MANY_ROWS", 413),
        EngineError::Evaluation { .. } => ("ILLEGAL_TYPE_OF_ARGUMENT", 400),
        EngineError::ShardUnavailable { .. } => ("SHARD_UNAVAILABLE", 503),
        EngineError::Wal { .. } => ("WAL_UNAVAILABLE", 503),
        EngineError::Checkpoint { .. } => ("CHECKPOINT_FAILED", 503),
        EngineError::Startup { .. } => ("STARTUP_FAILED", 503),
        EngineError::Internal { .. } => ("LOGICAL_ERROR", 500),
    }
}
