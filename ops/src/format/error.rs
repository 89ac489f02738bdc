//! `FormatError`: every way an input body is refused, naming the row and where it is.
//!
//! Text formats name the 1-based line a row starts on; RowBinary names the 0-based byte offset
//! of the value it could not read. Rows are 1-based and count from the builder's first row, so
//! they agree with the row numbers inside the wrapped `EngineError`s.

use std::fmt;

use quecto_engine::EngineError;

/// Where in the input body a problem was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputPosition {
    /// 1-based line of a text format: the line the row starts on.
    Line(usize),
    /// 0-based byte offset into a binary body.
    Offset(usize),
}

impl fmt::Display for InputPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputPosition::Line(line) => write!(f, "line {line}"),
            InputPosition::Offset(offset) => write!(f, "byte offset {offset}"),
        }
    }
}

/// Errors raised while choosing a format or parsing an input body.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum FormatError {
    /// `FORMAT x` or `?default_format=x` names no input format we read.
    #[error(
        "unknown input format `{name}`: expected CSV, TabSeparated (TSV), JSONEachRow, \
         RowBinary or Native"
    )]
    UnknownInputFormat {
        /// The name as given.
        name: String,
    },
    /// `FORMAT x` names no output format we write.
    #[error(
        "unknown output format `{name}`: expected JSON, JSONEachRow, JSONCompact, \
         JSONCompactEachRow, CSV, CSVWithNames, TabSeparated (TSV) or TabSeparatedWithNames \
         (TSVWithNames)"
    )]
    UnknownOutputFormat {
        /// The name as given.
        name: String,
    },
    /// `date_time_output_format=x` names no timestamp style we write.
    #[error("unknown date_time_output_format `{name}`: expected simple, iso or unix_timestamp")]
    UnknownTimestampStyle {
        /// The name as given.
        name: String,
    },
    /// Input that is not well-formed for its format (bad quoting, bad JSON, bad Bool byte).
    #[error("row {row} ({position}): {detail}")]
    Syntax {
        /// 1-based row.
        row: usize,
        /// Where the row starts (text) or the bad value is (binary).
        position: InputPosition,
        /// What is wrong.
        detail: String,
    },
    /// A row with more values than the statement's columns.
    #[error("row {row}: more than {expected} values ({position})")]
    TooManyValues {
        /// 1-based row.
        row: usize,
        /// Where the row starts.
        position: InputPosition,
        /// Values a row must have.
        expected: usize,
    },
    /// A row with fewer values than the statement's columns.
    #[error("row {row}: {found} values, expected {expected} ({position})")]
    TooFewValues {
        /// 1-based row.
        row: usize,
        /// Where the row starts.
        position: InputPosition,
        /// Values the row has.
        found: usize,
        /// Values a row must have.
        expected: usize,
    },
    /// A JSONEachRow key that names none of the statement's columns.
    #[error("row {row} ({position}): unknown key `{key}`: it names none of the columns")]
    UnknownKey {
        /// 1-based row.
        row: usize,
        /// Where the row starts.
        position: InputPosition,
        /// The key as written.
        key: String,
    },
    /// A JSONEachRow object that sets one column twice.
    #[error("row {row} ({position}): key `{key}` appears twice")]
    DuplicateKey {
        /// 1-based row.
        row: usize,
        /// Where the row starts.
        position: InputPosition,
        /// The key as written the second time.
        key: String,
    },
    /// Bytes that are not UTF-8 where text is required.
    #[error("row {row} ({position}): invalid UTF-8")]
    InvalidUtf8 {
        /// 1-based row.
        row: usize,
        /// The line of the bad byte (text) or the offset of the bad string's bytes (binary).
        position: InputPosition,
    },
    /// A RowBinary body that ends inside a row.
    #[error("row {row}: input ends inside the row, at the value starting at byte offset {offset}")]
    Truncated {
        /// 1-based row.
        row: usize,
        /// 0-based offset of the value that could not be read whole.
        offset: usize,
    },
    /// A Native body that ends inside a block's column.
    #[error(
        "Native block starting at row {row}: input ends inside column `{column}`, whose values \
         start at byte offset {offset}"
    )]
    TruncatedBlock {
        /// 1-based row of the block's first row.
        row: usize,
        /// The column whose values are cut short.
        column: String,
        /// 0-based offset where that column's values (or NULL map) start.
        offset: usize,
    },
    /// The batch builder refused a value (wrong type, NULL in a key column); the engine error
    /// names the column and the row.
    #[error("{error} ({position})")]
    Value {
        /// 1-based row.
        row: usize,
        /// Where the row starts (text) or the value is (binary).
        position: InputPosition,
        /// The builder's error.
        error: EngineError,
    },
    /// A broken invariant between QuectoDB's own callers: our bug, never the client's.
    #[error("internal error in input formats: {detail}")]
    Internal {
        /// What broke.
        detail: String,
    },
}

impl FormatError {
    /// A stable code for clients and logs (ClickHouse's name where one fits).
    pub fn code(&self) -> &'static str {
        match self {
            FormatError::UnknownInputFormat { .. } => "UNKNOWN_FORMAT",
            FormatError::UnknownOutputFormat { .. } => "UNKNOWN_FORMAT",
            FormatError::UnknownTimestampStyle { .. } => "BAD_ARGUMENTS",
            FormatError::Syntax { .. } => "CANNOT_PARSE_INPUT",
            FormatError::TooManyValues { .. } => "INCORRECT_NUMBER_OF_COLUMNS",
            FormatError::TooFewValues { .. } => "INCORRECT_NUMBER_OF_COLUMNS",
            FormatError::UnknownKey { .. } => "INCORRECT_DATA",
            FormatError::DuplicateKey { .. } => "INCORRECT_DATA",
            FormatError::InvalidUtf8 { .. } => "CANNOT_PARSE_INPUT",
            FormatError::Truncated { .. } | FormatError::TruncatedBlock { .. } => {
                "CANNOT_READ_ALL_DATA"
            }
            FormatError::Value { .. } => "CANNOT_PARSE_INPUT",
            FormatError::Internal { .. } => "INTERNAL",
        }
    }

    /// The HTTP status to answer with: 400 for the client's input, 500 for our own bugs.
    pub fn http_status(&self) -> u16 {
        match self {
            FormatError::Internal { .. } => 500,
            FormatError::UnknownInputFormat { .. }
            | FormatError::UnknownOutputFormat { .. }
            | FormatError::UnknownTimestampStyle { .. }
            | FormatError::Syntax { .. }
            | FormatError::TooManyValues { .. }
            | FormatError::TooFewValues { .. }
            | FormatError::UnknownKey { .. }
            | FormatError::DuplicateKey { .. }
            | FormatError::InvalidUtf8 { .. }
            | FormatError::Truncated { .. }
            | FormatError::TruncatedBlock { .. }
            | FormatError::Value { .. } => 400,
        }
    }

    /// The 1-based row the error is about, when it is about one.
    pub fn row(&self) -> Option<usize> {
        match self {
            FormatError::Syntax { row, .. }
            | FormatError::TooManyValues { row, .. }
            | FormatError::TooFewValues { row, .. }
            | FormatError::UnknownKey { row, .. }
            | FormatError::DuplicateKey { row, .. }
            | FormatError::InvalidUtf8 { row, .. }
            | FormatError::Truncated { row, .. }
            | FormatError::TruncatedBlock { row, .. }
            | FormatError::Value { row, .. } => Some(*row),
            FormatError::UnknownInputFormat { .. }
            | FormatError::UnknownOutputFormat { .. }
            | FormatError::UnknownTimestampStyle { .. }
            | FormatError::Internal { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quecto_engine::types::DataType;

    #[test]
    fn value_error_keeps_engine_message_and_adds_position() {
        let error = FormatError::Value {
            row: 3,
            position: InputPosition::Line(4),
            error: EngineError::BadValue {
                column: "price".into(),
                expected: DataType::Float64,
                value: "abc".into(),
                row: 3,
            },
        };
        let text = error.to_string();
        assert_eq!(
            text,
            "row 3: cannot store abc in column `price` of type FLOAT64 (line 4)"
        );
        assert_eq!(
            (error.code(), error.http_status(), error.row()),
            ("CANNOT_PARSE_INPUT", 400, Some(3))
        );
    }

    #[test]
    fn too_many_values_reads_row_first() {
        let error = FormatError::TooManyValues {
            row: 2,
            position: InputPosition::Line(2),
            expected: 3,
        };
        assert!(error.to_string().starts_with("row 2: more than 3 values"));
        assert_eq!(error.code(), "INCORRECT_NUMBER_OF_COLUMNS");
    }

    #[test]
    fn internal_errors_are_server_faults() {
        let error = FormatError::Internal { detail: "x".into() };
        assert_eq!((error.http_status(), error.row()), (500, None));
    }
}
