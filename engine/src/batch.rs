//! Columnar row batches: the unit of ingest, from a parser to the shard that applies it.
//!
//! A `RowBatch` holds one table's rows column by column, in schema order. Input formats fill it
//! through `BatchBuilder`; the router gives each owning shard the indices of its rows, and each
//! shard applies those rows to its partitions. It never holds the rows of two tables.

use crate::error::EngineError;
use crate::schema::TableSchema;
use crate::time::parse_timestamp_ns;
use crate::types::{DataType, Value};

/// Strings stored back to back with end offsets (Arrow-style), one allocation per column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StringColumn {
    bytes: String,
    ends: Vec<u32>,
}

impl StringColumn {
    /// Appends one string.
    pub fn push(&mut self, text: &str) {
        // Request bodies are capped at 1 GiB (`--max-body-bytes`), far below the u32 offsets.
        debug_assert!(self.bytes.len() + text.len() <= u32::MAX as usize);
        self.bytes.push_str(text);
        self.ends.push(self.bytes.len() as u32);
    }

    /// The string of row `index`.
    pub fn get(&self, index: usize) -> &str {
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize
        };
        &self.bytes[start..self.ends[index] as usize]
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Total bytes of string data.
    pub fn bytes_size(&self) -> usize {
        self.bytes.len()
    }
}

/// One column's values in a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnValues {
    /// INT64 values.
    Int64(Vec<i64>),
    /// INT32 values.
    Int32(Vec<i32>),
    /// FLOAT64 values.
    Float64(Vec<f64>),
    /// FLOAT32 values.
    Float32(Vec<f32>),
    /// BOOL values.
    Bool(Vec<bool>),
    /// TIMESTAMP values (ns).
    Timestamp(Vec<i64>),
    /// SYMBOL values.
    Symbol(StringColumn),
}

impl ColumnValues {
    /// An empty column of `data_type` with room for `capacity` rows.
    pub fn with_capacity(data_type: DataType, capacity: usize) -> ColumnValues {
        match data_type {
            DataType::Int64 | DataType::UInt64 => ColumnValues::Int64(Vec::with_capacity(capacity)),
            DataType::Int32 => ColumnValues::Int32(Vec::with_capacity(capacity)),
            DataType::Float64 => ColumnValues::Float64(Vec::with_capacity(capacity)),
            DataType::Float32 => ColumnValues::Float32(Vec::with_capacity(capacity)),
            DataType::Bool => ColumnValues::Bool(Vec::with_capacity(capacity)),
            DataType::Timestamp => ColumnValues::Timestamp(Vec::with_capacity(capacity)),
            DataType::Symbol => ColumnValues::Symbol(StringColumn::default()),
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            ColumnValues::Int64(v) | ColumnValues::Timestamp(v) => v.len(),
            ColumnValues::Int32(v) => v.len(),
            ColumnValues::Float64(v) => v.len(),
            ColumnValues::Float32(v) => v.len(),
            ColumnValues::Bool(v) => v.len(),
            ColumnValues::Symbol(v) => v.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the type's default (0, false, empty string): the stored value under a NULL.
    pub fn push_default(&mut self) {
        match self {
            ColumnValues::Int64(v) | ColumnValues::Timestamp(v) => v.push(0),
            ColumnValues::Int32(v) => v.push(0),
            ColumnValues::Float64(v) => v.push(0.0),
            ColumnValues::Float32(v) => v.push(0.0),
            ColumnValues::Bool(v) => v.push(false),
            ColumnValues::Symbol(v) => v.push(""),
        }
    }

    /// Approximate payload size in bytes (for `bytes_read` statistics and limits).
    pub fn bytes_size(&self) -> usize {
        match self {
            ColumnValues::Int64(v) | ColumnValues::Timestamp(v) => v.len() * 8,
            ColumnValues::Float64(v) => v.len() * 8,
            ColumnValues::Int32(v) => v.len() * 4,
            ColumnValues::Float32(v) => v.len() * 4,
            ColumnValues::Bool(v) => v.len(),
            ColumnValues::Symbol(v) => v.bytes_size() + v.len() * 4,
        }
    }
}

/// A column in a batch: values plus an optional NULL mask (`true` = NULL).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchColumn {
    /// The values; a NULL row holds the type's default.
    pub values: ColumnValues,
    /// `Some(mask)` once any row is NULL.
    pub nulls: Option<Vec<bool>>,
}

/// The key a partition is identified by: the value of the table's symbol column.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SymbolKey {
    /// An integer symbol id.
    Int(i64),
    /// A string symbol.
    Str(Box<str>),
}

impl SymbolKey {
    /// The key as a scalar value.
    pub fn to_value(&self) -> Value {
        match self {
            SymbolKey::Int(v) => Value::Int(*v),
            SymbolKey::Str(s) => Value::Str(s.to_string()),
        }
    }

    /// The key from a literal, when it has a symbol's shape.
    pub fn from_value(value: &Value) -> Option<SymbolKey> {
        match value {
            Value::Int(v) => Some(SymbolKey::Int(*v)),
            Value::Str(s) => Some(SymbolKey::Str(s.as_str().into())),
            Value::Null | Value::Float(_) | Value::Bool(_) => None,
        }
    }

    /// The bytes that are hashed to place this key on the ring.
    pub fn with_hash_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            SymbolKey::Int(v) => f(&v.to_le_bytes()),
            SymbolKey::Str(s) => f(s.as_bytes()),
        }
    }
}

/// Rows of one table, column by column in schema order.
#[derive(Clone, Debug, PartialEq)]
pub struct RowBatch {
    /// One entry per schema column.
    pub columns: Vec<BatchColumn>,
    /// Number of rows.
    pub rows_count: usize,
}

impl RowBatch {
    /// `rows`, or every row's index when `None`.
    pub fn selected_rows<'r>(&self, rows: Option<&'r [u32]>) -> std::borrow::Cow<'r, [u32]> {
        match rows {
            Some(rows) => std::borrow::Cow::Borrowed(rows),
            None => std::borrow::Cow::Owned((0..self.rows_count as u32).collect()),
        }
    }

    /// The symbol key of row `row`, given the index of the symbol column.
    pub fn symbol_key(&self, symbol_index: usize, row: usize) -> SymbolKey {
        match &self.columns[symbol_index].values {
            ColumnValues::Symbol(v) => SymbolKey::Str(v.get(row).into()),
            ColumnValues::Int64(v) => SymbolKey::Int(v[row]),
            ColumnValues::Int32(v) => SymbolKey::Int(i64::from(v[row])),
            other => unreachable!("symbol column validated at CREATE TABLE, got {other:?}"),
        }
    }

    /// Approximate payload size in bytes.
    pub fn bytes_size(&self) -> usize {
        self.columns.iter().map(|c| c.values.bytes_size()).sum()
    }
}

/// Builds a `RowBatch` row by row from parsed input fields.
///
/// `fields` maps each input field, in input order, to a schema column; schema columns that are
/// not among the fields get NULL. The symbol and timestamp columns must be among the fields.
pub struct BatchBuilder<'a> {
    schema: &'a TableSchema,
    fields: Vec<usize>,
    columns: Vec<BatchColumn>,
    filled: Vec<bool>,
    rows_count: usize,
}

impl<'a> BatchBuilder<'a> {
    /// A builder for `schema` with input fields mapped to schema columns by `fields`.
    pub fn new(schema: &'a TableSchema, fields: Vec<usize>) -> Result<Self, EngineError> {
        for required in [schema.symbol_index, schema.timestamp_index] {
            if !fields.contains(&required) {
                return Err(EngineError::MissingColumn {
                    table: schema.name.clone(),
                    column: schema.columns[required].name.clone(),
                });
            }
        }
        let columns = schema
            .columns
            .iter()
            .map(|c| BatchColumn {
                values: ColumnValues::with_capacity(c.data_type, 1024),
                nulls: None,
            })
            .collect();
        let filled = vec![false; fields.len()];
        Ok(BatchBuilder {
            schema,
            fields,
            columns,
            filled,
            rows_count: 0,
        })
    }

    /// A builder whose fields are all of the schema's columns in order.
    pub fn all_columns(schema: &'a TableSchema) -> Result<Self, EngineError> {
        Self::new(schema, (0..schema.columns.len()).collect())
    }

    /// Number of input fields a row has.
    pub fn fields_count(&self) -> usize {
        self.fields.len()
    }

    /// The type of input field `field`.
    pub fn field_type(&self, field: usize) -> DataType {
        self.schema.columns[self.fields[field]].data_type
    }

    /// Number of complete rows so far.
    pub fn rows_count(&self) -> usize {
        self.rows_count
    }

    /// Sets field `field` of the current row from text (CSV, TSV, JSON strings).
    pub fn push_text(&mut self, field: usize, text: &str) -> Result<(), EngineError> {
        let column_index = self.fields[field];
        let values = &mut self.columns[column_index].values;
        let parsed = match values {
            ColumnValues::Int64(v) => text.trim().parse().map(|x| v.push(x)).is_ok(),
            ColumnValues::Int32(v) => text.trim().parse().map(|x| v.push(x)).is_ok(),
            ColumnValues::Float64(v) => text.trim().parse().map(|x| v.push(x)).is_ok(),
            ColumnValues::Float32(v) => text.trim().parse().map(|x| v.push(x)).is_ok(),
            ColumnValues::Bool(v) => parse_bool(text).map(|x| v.push(x)).is_some(),
            ColumnValues::Timestamp(v) => parse_timestamp_ns(text).map(|x| v.push(x)).is_some(),
            ColumnValues::Symbol(v) => {
                v.push(text);
                true
            }
        };
        if !parsed {
            return Err(self.bad_value(column_index, text));
        }
        self.mark_filled(field, false)
    }

    /// Sets field `field` of the current row from a scalar value (SQL literals, JSON numbers).
    pub fn push_value(&mut self, field: usize, value: &Value) -> Result<(), EngineError> {
        let column_index = self.fields[field];
        let values = &mut self.columns[column_index].values;
        match (values, value) {
            (_, Value::Null) => return self.push_null(field),
            (ColumnValues::Int64(v), Value::Int(x)) => v.push(*x),
            (ColumnValues::Timestamp(v), Value::Int(x)) => v.push(*x),
            (ColumnValues::Int32(v), Value::Int(x)) if i32::try_from(*x).is_ok() => {
                v.push(*x as i32)
            }
            (ColumnValues::Float64(v), Value::Int(x)) => v.push(*x as f64),
            (ColumnValues::Float64(v), Value::Float(x)) => v.push(*x),
            (ColumnValues::Float32(v), Value::Int(x)) => v.push(*x as f32),
            (ColumnValues::Float32(v), Value::Float(x)) => v.push(*x as f32),
            (ColumnValues::Bool(v), Value::Bool(x)) => v.push(*x),
            (ColumnValues::Bool(v), Value::Int(x @ (0 | 1))) => v.push(*x == 1),
            (ColumnValues::Symbol(v), Value::Str(x)) => v.push(x),
            (ColumnValues::Timestamp(_), Value::Str(x)) => return self.push_text(field, x),
            (ColumnValues::Int64(v), Value::Str(x)) if column_index == self.schema.symbol_index => {
                match x.parse() {
                    Ok(parsed) => v.push(parsed),
                    Err(_) => return Err(self.bad_value(column_index, x)),
                }
            }
            (_, other) => return Err(self.bad_value(column_index, &other.to_string())),
        }
        self.mark_filled(field, false)
    }

    /// Sets field `field` of the current row to NULL.
    pub fn push_null(&mut self, field: usize) -> Result<(), EngineError> {
        let column_index = self.fields[field];
        if column_index == self.schema.symbol_index || column_index == self.schema.timestamp_index {
            return Err(EngineError::NullInKeyColumn {
                column: self.schema.columns[column_index].name.clone(),
                row: self.rows_count + 1,
            });
        }
        self.columns[column_index].values.push_default();
        self.mark_filled(field, true)
    }

    /// Ends the current row; every field must have been set exactly once.
    pub fn finish_row(&mut self) -> Result<(), EngineError> {
        if let Some(missing) = self.filled.iter().position(|f| !f) {
            let column = &self.schema.columns[self.fields[missing]].name;
            return Err(EngineError::RowShape {
                row: self.rows_count + 1,
                detail: format!(
                    "no value for column `{column}` ({} values expected)",
                    self.fields.len()
                ),
            });
        }
        self.rows_count += 1;
        self.filled.iter_mut().for_each(|f| *f = false);
        for (index, column) in self.columns.iter_mut().enumerate() {
            if !self.fields.contains(&index) {
                column.values.push_default();
                column
                    .nulls
                    .get_or_insert_with(|| vec![false; self.rows_count - 1])
                    .push(true);
            } else if let Some(mask) = column.nulls.as_mut() {
                if mask.len() < self.rows_count {
                    mask.push(false);
                }
            }
        }
        Ok(())
    }

    /// Appends `count` whole rows column by column: `fill(field, values)` must append exactly
    /// `count` values to each field's column. Only for input whose fields are every column of
    /// the schema, between rows, and for values that need no check (no NULLs, no text): false,
    /// with nothing appended, when the builder cannot take rows this way.
    pub fn append_columns(
        &mut self,
        count: usize,
        mut fill: impl FnMut(usize, &mut ColumnValues),
    ) -> Result<bool, EngineError> {
        let mut covered = self.fields.clone();
        covered.sort_unstable();
        covered.dedup();
        // Distinct schema indices, as many as there are columns: every column exactly once.
        let every_column =
            covered.len() == self.fields.len() && self.fields.len() == self.columns.len();
        if !every_column || self.filled.contains(&true) {
            return Ok(false);
        }
        let rows_after = self.rows_count + count;
        for (field, &column_index) in self.fields.iter().enumerate() {
            let column = &mut self.columns[column_index];
            fill(field, &mut column.values);
            if column.values.len() != rows_after {
                return Err(EngineError::RowShape {
                    row: self.rows_count + 1,
                    detail: format!(
                        "column `{}` got {} values for {count} rows",
                        self.schema.columns[column_index].name,
                        column.values.len().saturating_sub(self.rows_count)
                    ),
                });
            }
            if let Some(mask) = column.nulls.as_mut() {
                mask.resize(rows_after, false);
            }
        }
        self.rows_count = rows_after;
        Ok(true)
    }

    /// The finished batch.
    pub fn finish(self) -> RowBatch {
        RowBatch {
            columns: self.columns,
            rows_count: self.rows_count,
        }
    }

    fn mark_filled(&mut self, field: usize, is_null: bool) -> Result<(), EngineError> {
        if std::mem::replace(&mut self.filled[field], true) {
            return Err(EngineError::RowShape {
                row: self.rows_count + 1,
                detail: format!("more than {} values", self.fields.len()),
            });
        }
        if is_null {
            let rows_before = self.rows_count;
            let column = &mut self.columns[self.fields[field]];
            column
                .nulls
                .get_or_insert_with(|| vec![false; rows_before])
                .push(true);
        }
        Ok(())
    }

    fn bad_value(&self, column_index: usize, text: &str) -> EngineError {
        let column = &self.schema.columns[column_index];
        let mut shown: String = text.chars().take(64).collect();
        if shown.len() < text.len() {
            shown.push('…');
        }
        EngineError::BadValue {
            column: column.name.clone(),
            expected: column.data_type,
            value: shown,
            row: self.rows_count + 1,
        }
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "1" | "true" | "TRUE" | "True" | "t" => Some(true),
        "0" | "false" | "FALSE" | "False" | "f" => Some(false),
        _ => None,
    }
}
