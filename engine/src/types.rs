//! Scalar types and values shared by storage, plans and the wire.
//!
//! `DataType` is the logical type of a column or an expression; `Value` is one scalar of any
//! type, used at the edges (literals, result rows, row-wise input) and never in column kernels,
//! which work on typed slices.

use std::fmt;

/// The logical type of a column or expression result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// 64-bit signed integer.
    Int64,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit unsigned integer (counts).
    UInt64,
    /// IEEE-754 double.
    Float64,
    /// IEEE-754 single.
    Float32,
    /// Boolean.
    Bool,
    /// Nanoseconds since the Unix epoch, UTC, as i64.
    Timestamp,
    /// A dictionary-encoded string.
    Symbol,
}

impl DataType {
    /// The SQL spelling used in `CREATE TABLE` and `DESCRIBE`.
    pub fn sql_name(self) -> &'static str {
        match self {
            DataType::Int64 => "INT64",
            DataType::Int32 => "INT32",
            DataType::UInt64 => "UINT64",
            DataType::Float64 => "FLOAT64",
            DataType::Float32 => "FLOAT32",
            DataType::Bool => "BOOL",
            DataType::Timestamp => "TIMESTAMP",
            DataType::Symbol => "SYMBOL",
        }
    }

    /// The ClickHouse type name shown in JSON `meta` and `*WithNamesAndTypes` headers.
    pub fn clickhouse_name(self) -> &'static str {
        match self {
            DataType::Int64 => "Int64",
            DataType::Int32 => "Int32",
            DataType::UInt64 => "UInt64",
            DataType::Float64 => "Float64",
            DataType::Float32 => "Float32",
            DataType::Bool => "Bool",
            DataType::Timestamp => "DateTime64(9)",
            DataType::Symbol => "String",
        }
    }

    /// Parses a column type as written in `CREATE TABLE` (SQL and ClickHouse spellings).
    pub fn parse(name: &str) -> Option<DataType> {
        let upper = name.trim().to_ascii_uppercase();
        let data_type = match upper.as_str() {
            "INT64" | "BIGINT" | "LONG" | "INT8" => DataType::Int64,
            "INT32" | "INT" | "INTEGER" => DataType::Int32,
            "UINT64" => DataType::UInt64,
            "FLOAT64" | "DOUBLE" | "DOUBLE PRECISION" | "FLOAT8" => DataType::Float64,
            "FLOAT32" | "FLOAT" | "REAL" | "FLOAT4" => DataType::Float32,
            "BOOL" | "BOOLEAN" => DataType::Bool,
            "TIMESTAMP" | "DATETIME64" | "DATETIME64(9)" | "TIMESTAMP(9)" => DataType::Timestamp,
            "SYMBOL" | "STRING" | "VARCHAR" | "TEXT" | "LOWCARDINALITY(STRING)" => DataType::Symbol,
            _ => return None,
        };
        Some(data_type)
    }

    /// The type's byte in every on-disk format (WAL records, segment files). Stable forever:
    /// a new type takes a new number.
    pub fn disk_code(self) -> u8 {
        match self {
            DataType::Int64 => 1,
            DataType::Int32 => 2,
            DataType::UInt64 => 3,
            DataType::Float64 => 4,
            DataType::Float32 => 5,
            DataType::Bool => 6,
            DataType::Timestamp => 7,
            DataType::Symbol => 8,
        }
    }

    /// The type of an on-disk code, if it names one.
    pub fn from_disk_code(code: u8) -> Option<DataType> {
        Some(match code {
            1 => DataType::Int64,
            2 => DataType::Int32,
            3 => DataType::UInt64,
            4 => DataType::Float64,
            5 => DataType::Float32,
            6 => DataType::Bool,
            7 => DataType::Timestamp,
            8 => DataType::Symbol,
            _ => return None,
        })
    }

    /// True for the integer types (not timestamps).
    pub fn is_integer(self) -> bool {
        matches!(self, DataType::Int64 | DataType::Int32 | DataType::UInt64)
    }

    /// True for the floating-point types.
    pub fn is_float(self) -> bool {
        matches!(self, DataType::Float64 | DataType::Float32)
    }

    /// True for types arithmetic applies to (integers, floats, timestamps).
    pub fn is_numeric(self) -> bool {
        self.is_integer() || self.is_float() || self == DataType::Timestamp
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sql_name())
    }
}

/// One scalar value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// Any integer or timestamp (the column's `DataType` says which).
    Int(i64),
    /// Any float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A string or symbol.
    Str(String),
}

impl Value {
    /// The value as f64, when numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            Value::Bool(v) => Some(f64::from(u8::from(*v))),
            Value::Null | Value::Str(_) => None,
        }
    }

    /// True when NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A total order for sorting result rows: NULLs first, then numbers, bools, strings.
    pub fn total_cmp(&self, other: &Value) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Less,
            (_, Value::Null) => Ordering::Greater,
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::Str(a), Value::Str(b)) => a.cmp(b),
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Str(_), _) => Ordering::Greater,
            (_, Value::Str(_)) => Ordering::Less,
            (a, b) => {
                let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
                x.total_cmp(&y)
            }
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Str(v) => write!(f, "'{v}'"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sql_and_clickhouse_type_spellings() {
        assert_eq!(DataType::parse("float64"), Some(DataType::Float64));
        assert_eq!(DataType::parse("DateTime64(9)"), Some(DataType::Timestamp));
        assert_eq!(
            DataType::parse("LowCardinality(String)"),
            Some(DataType::Symbol)
        );
        assert_eq!(DataType::parse("decimal"), None);
    }

    #[test]
    fn disk_codes_round_trip_and_are_pinned() {
        let all = [
            DataType::Int64,
            DataType::Int32,
            DataType::UInt64,
            DataType::Float64,
            DataType::Float32,
            DataType::Bool,
            DataType::Timestamp,
            DataType::Symbol,
        ];
        for (index, data_type) in all.into_iter().enumerate() {
            assert_eq!(data_type.disk_code(), index as u8 + 1);
            assert_eq!(
                DataType::from_disk_code(data_type.disk_code()),
                Some(data_type)
            );
        }
        assert_eq!(DataType::from_disk_code(0), None);
        assert_eq!(DataType::from_disk_code(9), None);
    }

    #[test]
    fn total_order_puts_nulls_first_and_compares_mixed_numbers() {
        assert!(Value::Null.total_cmp(&Value::Int(0)).is_lt());
        assert!(Value::Int(2).total_cmp(&Value::Float(1.5)).is_gt());
        assert!(Value::Str("a".into())
            .total_cmp(&Value::Str("b".into()))
            .is_lt());
    }
}
