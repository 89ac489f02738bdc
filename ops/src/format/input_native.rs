//! Native input: ClickHouse's column-oriented block format, the cheapest body for a program
//! that already holds its data as columns (NumPy, Arrow, another column store) to send.
//!
//! A body is a sequence of blocks. A block is its column count and row count (VarUInt), then
//! per column its name and type (VarUInt-prefixed strings) and its values for every row:
//! fixed-width numbers little-endian back to back, `String` as a VarUInt length and the bytes
//! per row, `Nullable(T)` as one byte per row (1 = NULL) followed by T's values for every row
//! (the value standing at a NULL row is ignored). This is what `FORMAT Native` over ClickHouse's
//! HTTP interface reads and writes (HTTP clients speak protocol version 0: no block info).
//!
//! Block columns are matched to the INSERT's columns by name, case-insensitively and in any
//! order; every INSERT column must be in every block, and a block has no other column. Types
//! read: Int8 to Int64, UInt8 to UInt64, Float32, Float64, Bool, String, DateTime (seconds),
//! DateTime64(P[, tz]) (scaled to nanoseconds) and Nullable of any of these. The batch builder
//! then converts and checks each value for its column as it does for every format.
//!
//! When a block has exactly the table's columns, no NULL, and every column's bytes already are
//! its column's values (Int64 or DateTime64(9) for INT64 and TIMESTAMP, Float64, Int32,
//! Float32), the block is copied column by column with no per-value work.

use std::borrow::Cow;

use quecto_engine::batch::{BatchBuilder, ColumnValues};
use quecto_engine::types::{DataType, Value};

use super::binary_reader::{Fault, Reader};
use super::error::{FormatError, InputPosition};

/// What a Native column holds per row, NULL map aside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scalar {
    /// Signed integer of this many bytes.
    Int(usize),
    /// Unsigned integer of this many bytes.
    UInt(usize),
    /// IEEE float of this many bytes.
    Float(usize),
    /// One byte, 0 or 1.
    Bool,
    /// VarUInt length and UTF-8 bytes.
    String,
    /// UInt32 seconds since the epoch.
    DateTime,
    /// Int64 ticks; `nanos_per_tick` is 10^(9 - precision).
    DateTime64 { nanos_per_tick: i64 },
}

impl Scalar {
    /// Bytes per row, or `None` for `String`.
    fn width(self) -> Option<usize> {
        match self {
            Scalar::Int(w) | Scalar::UInt(w) | Scalar::Float(w) => Some(w),
            Scalar::Bool => Some(1),
            Scalar::DateTime => Some(4),
            Scalar::DateTime64 { .. } => Some(8),
            Scalar::String => None,
        }
    }

    /// Parses a non-Nullable ClickHouse type name.
    fn parse(name: &str) -> Option<Scalar> {
        let scalar = match name {
            "Int8" => Scalar::Int(1),
            "Int16" => Scalar::Int(2),
            "Int32" => Scalar::Int(4),
            "Int64" => Scalar::Int(8),
            "UInt8" => Scalar::UInt(1),
            "UInt16" => Scalar::UInt(2),
            "UInt32" => Scalar::UInt(4),
            "UInt64" => Scalar::UInt(8),
            "Float32" => Scalar::Float(4),
            "Float64" => Scalar::Float(8),
            "Bool" => Scalar::Bool,
            "String" => Scalar::String,
            "DateTime" => Scalar::DateTime,
            _ if name.starts_with("DateTime(") && name.ends_with(')') => Scalar::DateTime,
            _ => {
                let arguments = name.strip_prefix("DateTime64(")?.strip_suffix(')')?;
                let precision: u32 = arguments.split(',').next()?.trim().parse().ok()?;
                let nanos_per_tick = 10i64.checked_pow(9u32.checked_sub(precision)?)?;
                Scalar::DateTime64 { nanos_per_tick }
            }
        };
        Some(scalar)
    }

    /// Whether values of this type, copied as they are, already are `target`'s values.
    fn is_bit_exact_for(self, target: DataType) -> bool {
        matches!(
            (self, target),
            (
                Scalar::Int(8) | Scalar::DateTime64 { nanos_per_tick: 1 },
                DataType::Int64 | DataType::Timestamp
            ) | (Scalar::Float(8), DataType::Float64)
                | (Scalar::Int(4), DataType::Int32)
                | (Scalar::Float(4), DataType::Float32)
        )
    }
}

/// One row's value of a block column, ready for the builder.
enum Cell<'a> {
    Null,
    Value(Value),
    Text(Cow<'a, str>),
}

/// A column of one block, its values still the body's bytes.
struct BlockColumn<'a> {
    /// The builder field it fills.
    field: usize,
    name: &'a str,
    scalar: Scalar,
    /// One byte per row (non-zero = NULL), for Nullable columns.
    nulls: Option<&'a [u8]>,
    /// The values back to back: fixed-width little-endian, or VarUInt-prefixed strings.
    bytes: &'a [u8],
    /// Body offset of the first value.
    values_offset: usize,
    /// For `String`: where in `bytes` the next row's string starts (rows are read in order,
    /// so no per-row index is kept), and where the last one read started.
    string_next: usize,
    string_last: usize,
}

impl<'a> BlockColumn<'a> {
    fn has_nulls(&self) -> bool {
        self.nulls.is_some_and(|map| map.iter().any(|&b| b != 0))
    }

    /// Body offset of row `row`'s value; for a `String` column, of the string read last (row
    /// `row`'s once `cell(row, ..)` has run).
    fn value_offset(&self, row: usize) -> usize {
        match self.scalar.width() {
            Some(width) => self.values_offset + row * width,
            None => self.values_offset + self.string_last,
        }
    }

    /// The `width` bytes of fixed-width row `row`, zero-extended to 8 (little-endian).
    fn le_bytes(&self, row: usize, width: usize) -> [u8; 8] {
        let mut bytes = [0u8; 8];
        let start = row * width;
        if let Some(value) = self.bytes.get(start..start + width) {
            bytes[..width].copy_from_slice(value);
        }
        bytes
    }

    /// The next row's string of a `String` column (read even at a NULL row: the row after it
    /// starts where it ends).
    fn next_string(&mut self, block_row: usize) -> Result<&'a str, FormatError> {
        self.string_last = self.string_next;
        let mut reader = Reader {
            body: self.bytes,
            offset: self.string_next,
        };
        let text = reader.read_string().map_err(|fault| {
            let fault = match fault {
                Fault::InvalidUtf8 { offset } => Fault::InvalidUtf8 {
                    offset: self.values_offset + offset,
                },
                other => other,
            };
            fault.into_format_error(block_row, self.values_offset + self.string_last)
        })?;
        self.string_next = reader.offset;
        Ok(text)
    }

    /// Row `row`'s value; rows must be asked for in order (strings are read one after another).
    fn cell(&mut self, row: usize, block_row: usize) -> Result<Cell<'a>, FormatError> {
        let text = match self.scalar {
            Scalar::String => Some(self.next_string(block_row)?),
            _ => None,
        };
        if self.nulls.is_some_and(|map| map.get(row) != Some(&0)) {
            return Ok(Cell::Null);
        }
        let value = match self.scalar {
            Scalar::Int(width) => {
                let unused_bits = 64 - 8 * width as u32;
                let raw = i64::from_le_bytes(self.le_bytes(row, width));
                Value::Int((raw << unused_bits) >> unused_bits)
            }
            Scalar::UInt(width) => {
                let raw = u64::from_le_bytes(self.le_bytes(row, width));
                match i64::try_from(raw) {
                    Ok(value) => Value::Int(value),
                    // Stored as Int64: let the builder refuse it, naming the value.
                    Err(_) => return Ok(Cell::Text(Cow::Owned(raw.to_string()))),
                }
            }
            Scalar::Float(4) => {
                let bytes = self.le_bytes(row, 4);
                let value = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                Value::Float(f64::from(value))
            }
            Scalar::Float(_) => Value::Float(f64::from_le_bytes(self.le_bytes(row, 8))),
            Scalar::Bool => match self.le_bytes(row, 1)[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                byte => {
                    return Err(
                        Fault::BadBool(byte).into_format_error(block_row, self.value_offset(row))
                    )
                }
            },
            Scalar::String => return Ok(Cell::Text(Cow::Borrowed(text.unwrap_or_default()))),
            Scalar::DateTime => {
                let seconds = i64::from_le_bytes(self.le_bytes(row, 4));
                Value::Int(seconds * 1_000_000_000)
            }
            Scalar::DateTime64 { nanos_per_tick } => {
                let ticks = i64::from_le_bytes(self.le_bytes(row, 8));
                let nanos =
                    ticks
                        .checked_mul(nanos_per_tick)
                        .ok_or_else(|| FormatError::Syntax {
                            row: block_row,
                            position: InputPosition::Offset(self.value_offset(row)),
                            detail: format!(
                                "column `{}`: DateTime64 value {ticks} is outside the range of \
                             nanosecond timestamps",
                                self.name
                            ),
                        })?;
                Value::Int(nanos)
            }
        };
        Ok(Cell::Value(value))
    }
}

/// Parses a Native body into `builder`; `field_names[i]` names builder field `i`.
pub(crate) fn parse_native(
    body: &[u8],
    field_names: &[&str],
    builder: &mut BatchBuilder<'_>,
) -> Result<(), FormatError> {
    if field_names.len() != builder.fields_count() {
        return Err(FormatError::Internal {
            detail: format!(
                "Native input got {} field names for {} fields",
                field_names.len(),
                builder.fields_count()
            ),
        });
    }
    let mut reader = Reader { body, offset: 0 };
    while reader.offset < body.len() {
        let (rows_count, mut columns) =
            read_block(&mut reader, field_names, builder.rows_count() + 1)?;
        append_block(rows_count, &mut columns, builder)?;
    }
    Ok(())
}

/// Reads one block's header and columns, checking that they cover every field once: its row
/// count and columns.
fn read_block<'a>(
    reader: &mut Reader<'a>,
    field_names: &[&str],
    first_row: usize,
) -> Result<(usize, Vec<BlockColumn<'a>>), FormatError> {
    let block_offset = reader.offset;
    let syntax = |offset: usize, detail: String| FormatError::Syntax {
        row: first_row,
        position: InputPosition::Offset(offset),
        detail,
    };
    let mut read_count = |what: &str| -> Result<usize, FormatError> {
        let offset = reader.offset;
        let count = reader
            .read_varint()
            .map_err(|fault| fault.into_format_error(first_row, offset))?;
        // Every column takes at least one byte per row and two per header: a count beyond the
        // bytes left is a broken body, refused before anything is allocated for it.
        let left = reader.body.len() - reader.offset;
        match usize::try_from(count) {
            Ok(count) if count <= left => Ok(count),
            _ => Err(syntax(
                offset,
                format!("a Native block's {what} count {count} exceeds the {left} bytes left"),
            )),
        }
    };
    let columns_count = read_count("column")?;
    let rows_count = read_count("row")?;
    if columns_count > field_names.len() {
        return Err(syntax(
            block_offset,
            format!(
                "a Native block of {columns_count} columns for an INSERT of {} columns",
                field_names.len()
            ),
        ));
    }
    if columns_count == 0 && rows_count > 0 {
        return Err(syntax(
            block_offset,
            format!("a Native block of {rows_count} rows has no columns"),
        ));
    }
    let mut columns: Vec<BlockColumn<'a>> = Vec::with_capacity(columns_count);
    for _ in 0..columns_count {
        let header_offset = reader.offset;
        let (name, type_name) = read_column_header(reader)
            .map_err(|fault| fault.into_format_error(first_row, header_offset))?;
        let field = field_names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                syntax(
                    header_offset,
                    format!(
                        "column `{name}` of the Native block is not among the INSERT's columns \
                         ({})",
                        field_names.join(", ")
                    ),
                )
            })?;
        if columns.iter().any(|c| c.field == field) {
            return Err(syntax(
                header_offset,
                format!("column `{name}` appears twice in one Native block"),
            ));
        }
        let (scalar, nullable) = parse_type(type_name).ok_or_else(|| {
            syntax(
                header_offset,
                format!(
                    "column `{name}` has Native type `{type_name}`, which QuectoDB does not \
                     read (Int8-Int64, UInt8-UInt64, Float32, Float64, Bool, String, DateTime, \
                     DateTime64(P), or Nullable of one of them)"
                ),
            )
        })?;
        let data_offset = reader.offset;
        let column = read_column_values(reader, field, name, scalar, nullable, rows_count)
            .map_err(|fault| match fault {
                Fault::Truncated => FormatError::TruncatedBlock {
                    row: first_row,
                    column: name.to_string(),
                    offset: data_offset,
                },
                other => other.into_format_error(first_row, data_offset),
            })?;
        columns.push(column);
    }
    // An empty block (no columns, no rows) lists nothing; any other must list every field.
    let missing = (0..field_names.len()).find(|&f| columns.iter().all(|c| c.field != f));
    if let Some(missing) = missing.filter(|_| columns_count > 0) {
        return Err(syntax(
            block_offset,
            format!(
                "the Native block has no column `{}`, which the INSERT lists",
                field_names[missing]
            ),
        ));
    }
    Ok((rows_count, columns))
}

fn read_column_header<'a>(reader: &mut Reader<'a>) -> Result<(&'a str, &'a str), Fault> {
    let name = reader.read_string()?;
    let type_name = reader.read_string()?;
    Ok((name, type_name))
}

/// A ClickHouse type name as (scalar, is Nullable).
fn parse_type(name: &str) -> Option<(Scalar, bool)> {
    let name = name.trim();
    match name
        .strip_prefix("Nullable(")
        .and_then(|inner| inner.strip_suffix(')'))
    {
        Some(inner) => Scalar::parse(inner.trim()).map(|scalar| (scalar, true)),
        None => Scalar::parse(name).map(|scalar| (scalar, false)),
    }
}

fn read_column_values<'a>(
    reader: &mut Reader<'a>,
    field: usize,
    name: &'a str,
    scalar: Scalar,
    nullable: bool,
    rows_count: usize,
) -> Result<BlockColumn<'a>, Fault> {
    let nulls = if nullable {
        Some(reader.take(rows_count)?)
    } else {
        None
    };
    let values_offset = reader.offset;
    match scalar.width() {
        Some(width) => {
            let size = rows_count.checked_mul(width).ok_or(Fault::Truncated)?;
            reader.take(size)?;
        }
        None => {
            // Only the strings' extent is checked here; their bytes are read (and checked as
            // UTF-8) row by row later, so a block of many short strings allocates nothing.
            for _ in 0..rows_count {
                let size = usize::try_from(reader.read_varint()?).map_err(|_| Fault::Truncated)?;
                reader.take(size)?;
            }
        }
    }
    Ok(BlockColumn {
        field,
        name,
        scalar,
        nulls,
        bytes: &reader.body[values_offset..reader.offset],
        values_offset,
        string_next: 0,
        string_last: 0,
    })
}

/// Appends a block's rows: column by column when its bytes can be copied as they are, else
/// value by value through the builder's checks.
fn append_block(
    rows_count: usize,
    columns: &mut [BlockColumn<'_>],
    builder: &mut BatchBuilder<'_>,
) -> Result<(), FormatError> {
    if columns.is_empty() {
        return Ok(());
    }
    let first_row = builder.rows_count() + 1;
    let copyable = columns
        .iter()
        .all(|c| c.scalar.is_bit_exact_for(builder.field_type(c.field)) && !c.has_nulls());
    if copyable {
        let copied = builder.append_columns(rows_count, |field, values| {
            if let Some(column) = columns.iter().find(|c| c.field == field) {
                copy_column(column.bytes, values);
            }
        });
        let copied = copied.map_err(|error| FormatError::Value {
            row: first_row,
            position: InputPosition::Offset(columns[0].values_offset),
            error,
        })?;
        if copied {
            return Ok(());
        }
    }
    for row in 0..rows_count {
        let row_number = builder.rows_count() + 1;
        for column in columns.iter_mut() {
            let pushed = match column.cell(row, row_number)? {
                Cell::Null => builder.push_null(column.field),
                Cell::Value(value) => builder.push_value(column.field, &value),
                Cell::Text(text) => builder.push_text(column.field, &text),
            };
            pushed.map_err(|error| FormatError::Value {
                row: row_number,
                position: InputPosition::Offset(column.value_offset(row)),
                error,
            })?;
        }
        builder.finish_row().map_err(|error| FormatError::Value {
            row: row_number,
            position: InputPosition::Offset(columns[0].value_offset(row)),
            error,
        })?;
    }
    Ok(())
}

/// Appends little-endian values to a column whose type they already are.
fn copy_column(bytes: &[u8], values: &mut ColumnValues) {
    fn eight(chunk: &[u8]) -> [u8; 8] {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        bytes
    }
    fn four(chunk: &[u8]) -> [u8; 4] {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(chunk);
        bytes
    }
    match values {
        ColumnValues::Int64(v) | ColumnValues::Timestamp(v) => {
            v.extend(bytes.chunks_exact(8).map(|c| i64::from_le_bytes(eight(c))))
        }
        ColumnValues::Float64(v) => {
            v.extend(bytes.chunks_exact(8).map(|c| f64::from_le_bytes(eight(c))))
        }
        ColumnValues::Int32(v) => {
            v.extend(bytes.chunks_exact(4).map(|c| i32::from_le_bytes(four(c))))
        }
        ColumnValues::Float32(v) => {
            v.extend(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(four(c))))
        }
        // Not reached: is_bit_exact_for admits none of these; append_columns refuses the block
        // if a column comes back short.
        ColumnValues::Bool(_) | ColumnValues::Symbol(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::test_support::{push_varuint, random_bodies, trades_schema, wide_schema};
    use quecto_engine::batch::RowBatch;
    use quecto_engine::schema::TableSchema;
    use quecto_engine::EngineError;

    /// ClickHouse 26.9 (chDB) wrote this for
    /// `SELECT toString(number) AS sym, toDateTime64(1704187800 + number, 3, 'UTC') AS ts,
    /// toInt64(-number) AS i64, toInt32(number*7) AS i32, toUInt64(number) AS u64,
    /// number/4 AS f64, toFloat32(number/8) AS f32, toBool(number % 2) AS flag,
    /// if(number=1, NULL, concat('n', toString(number))) AS note FROM numbers(3) FORMAT Native`.
    const CLICKHOUSE_WIDE_BLOCK: &str = "09030373796d06537472696e67013001310132027473144461746554\
        696d65363428332c20275554432729c02982c98c010000a82d82c98c010000903182c98c0100000369363405\
        496e7436340000000000000000fffffffffffffffffeffffffffffffff0369333205496e7433320000000007\
        0000000e000000037536340655496e7436340000000000000000010000000000000002000000000000000366\
        363407466c6f617436340000000000000000000000000000d03f000000000000e03f0366333207466c6f6174\
        3332000000000000003e0000803e04666c616704426f6f6c000100046e6f7465104e756c6c61626c65285374\
        72696e6729000100026e3000026e32";

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn string(out: &mut Vec<u8>, text: &str) {
        push_varuint(out, text.len() as u64);
        out.extend_from_slice(text.as_bytes());
    }

    /// A block of `rows` rows with (name, type, values bytes) columns.
    fn block(rows: u64, columns: &[(&str, &str, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        push_varuint(&mut out, columns.len() as u64);
        push_varuint(&mut out, rows);
        for (name, type_name, data) in columns {
            string(&mut out, name);
            string(&mut out, type_name);
            out.extend_from_slice(data);
        }
        out
    }

    fn le<T: Copy, const N: usize>(values: &[T], to_bytes: fn(T) -> [u8; N]) -> Vec<u8> {
        values.iter().flat_map(|&v| to_bytes(v)).collect()
    }

    fn names(schema: &TableSchema) -> Vec<&str> {
        schema.columns.iter().map(|c| c.name.as_str()).collect()
    }

    fn parse(schema: &TableSchema, body: &[u8]) -> Result<RowBatch, FormatError> {
        let mut builder = BatchBuilder::all_columns(schema).unwrap();
        parse_native(body, &names(schema), &mut builder)?;
        Ok(builder.finish())
    }

    /// `symbol INT64, ts, price FLOAT64, volume INT64`: the peer benchmark's trades.
    fn ticks_schema() -> TableSchema {
        let columns = vec![
            crate::format::test_support::column("symbol", DataType::Int64),
            crate::format::test_support::column("ts", DataType::Timestamp),
            crate::format::test_support::column("price", DataType::Float64),
            crate::format::test_support::column("volume", DataType::Int64),
        ];
        TableSchema::new("ticks", columns, Some("symbol"), Some("ts")).unwrap()
    }

    const SYMBOLS: [i64; 4] = [7, 7, -3, 1 << 40];
    const TIMES: [i64; 4] = [1, 2, 2, 1_704_187_800_123_456_789];
    const PRICES: [f64; 4] = [0.1, -2.5, f64::MAX, 1e-300];
    const VOLUMES: [i64; 4] = [0, -1, i64::MAX, 42];

    /// The ticks above with `volume` of `volume_type`, columns in the order given.
    fn ticks_block(volume_type: &str, volume_bytes: Vec<u8>, reversed: bool) -> Vec<u8> {
        let mut columns = vec![
            ("symbol", "Int64", le(&SYMBOLS, i64::to_le_bytes)),
            ("TS", "DateTime64(9, 'UTC')", le(&TIMES, i64::to_le_bytes)),
            ("price", "Float64", le(&PRICES, f64::to_le_bytes)),
            ("volume", volume_type, volume_bytes),
        ];
        if reversed {
            columns.reverse();
        }
        block(4, &columns)
    }

    #[test]
    fn clickhouse_written_block_reads_every_type_and_null() {
        let batch = parse(&wide_schema(), &unhex(CLICKHOUSE_WIDE_BLOCK)).unwrap();
        assert_eq!(batch.rows_count, 3);
        let ColumnValues::Symbol(syms) = &batch.columns[0].values else {
            panic!()
        };
        assert_eq!([syms.get(0), syms.get(1), syms.get(2)], ["0", "1", "2"]);
        let second = 1_000_000_000;
        let start = 1_704_187_800 * second;
        assert_eq!(
            batch.columns[1].values,
            ColumnValues::Timestamp(vec![start, start + second, start + 2 * second])
        );
        assert_eq!(
            batch.columns[2].values,
            ColumnValues::Int64(vec![0, -1, -2])
        );
        assert_eq!(batch.columns[3].values, ColumnValues::Int32(vec![0, 7, 14]));
        assert_eq!(batch.columns[4].values, ColumnValues::Int64(vec![0, 1, 2]));
        assert_eq!(
            batch.columns[5].values,
            ColumnValues::Float64(vec![0.0, 0.25, 0.5])
        );
        assert_eq!(
            batch.columns[6].values,
            ColumnValues::Float32(vec![0.0, 0.125, 0.25])
        );
        assert_eq!(
            batch.columns[7].values,
            ColumnValues::Bool(vec![false, true, false])
        );
        let ColumnValues::Symbol(notes) = &batch.columns[8].values else {
            panic!()
        };
        assert_eq!((notes.get(0), notes.get(2)), ("n0", "n2"));
        assert_eq!(batch.columns[8].nulls, Some(vec![false, true, false]));
        assert!(batch.columns[..8].iter().all(|c| c.nulls.is_none()));
    }

    #[test]
    fn copied_blocks_equal_value_by_value_blocks_in_any_column_order() {
        let schema = ticks_schema();
        // Int64 volumes are copied as they are; Int32 ones go value by value.
        let copied = ticks_block("Int64", le(&VOLUMES, i64::to_le_bytes), false);
        let small: Vec<i32> = VOLUMES.iter().map(|&v| v.clamp(-9, 99) as i32).collect();
        let checked = ticks_block("Int32", le(&small, i32::to_le_bytes), true);
        let copied = parse(&schema, &copied).unwrap();
        let checked = parse(&schema, &checked).unwrap();
        assert_eq!(
            copied.columns[0].values,
            ColumnValues::Int64(SYMBOLS.to_vec())
        );
        assert_eq!(
            copied.columns[1].values,
            ColumnValues::Timestamp(TIMES.to_vec())
        );
        assert_eq!(
            copied.columns[2].values,
            ColumnValues::Float64(PRICES.to_vec())
        );
        assert_eq!(
            copied.columns[3].values,
            ColumnValues::Int64(VOLUMES.to_vec())
        );
        assert_eq!(copied.columns[..3], checked.columns[..3]);
        let widened: Vec<i64> = small.iter().map(|&v| i64::from(v)).collect();
        assert_eq!(checked.columns[3].values, ColumnValues::Int64(widened));
        // A Nullable column without a NULL is copied too; with one it is not, and is NULL.
        let no_null = [vec![0u8; 4], le(&VOLUMES, i64::to_le_bytes)].concat();
        let batch = parse(&schema, &ticks_block("Nullable(Int64)", no_null, false)).unwrap();
        assert_eq!(batch, copied);
        let one_null = [vec![0, 0, 1, 0], le(&VOLUMES, i64::to_le_bytes)].concat();
        let batch = parse(&schema, &ticks_block("Nullable(Int64)", one_null, false)).unwrap();
        assert_eq!(
            batch.columns[3].nulls,
            Some(vec![false, false, true, false])
        );
    }

    #[test]
    fn blocks_follow_one_another_and_empty_bodies_add_nothing() {
        let schema = ticks_schema();
        let one = ticks_block("Int64", le(&VOLUMES, i64::to_le_bytes), false);
        let batch = parse(&schema, &[one.clone(), block(0, &[]), one].concat()).unwrap();
        assert_eq!(batch.rows_count, 8);
        assert_eq!(
            batch.columns[3].values,
            ColumnValues::Int64([VOLUMES, VOLUMES].concat())
        );
        assert_eq!(parse(&schema, b"").unwrap().rows_count, 0);
    }

    #[test]
    fn datetime_types_scale_to_nanoseconds() {
        let schema = ticks_schema();
        let base = || {
            vec![
                ("symbol", "Int64", le(&[1i64], i64::to_le_bytes)),
                ("price", "Float64", le(&[1.0f64], f64::to_le_bytes)),
                ("volume", "UInt8", vec![200]),
            ]
        };
        let cases: [(&str, Vec<u8>, i64); 3] = [
            ("DateTime64(6)", le(&[5i64], i64::to_le_bytes), 5_000),
            (
                "DateTime('UTC')",
                le(&[3u32], u32::to_le_bytes),
                3_000_000_000,
            ),
            (
                "DateTime",
                le(&[u32::MAX], u32::to_le_bytes),
                i64::from(u32::MAX) * 1_000_000_000,
            ),
        ];
        for (type_name, bytes, nanos) in cases {
            let mut columns = base();
            columns.push(("ts", type_name, bytes));
            let batch = parse(&schema, &block(1, &columns)).unwrap();
            assert_eq!(
                batch.columns[1].values,
                ColumnValues::Timestamp(vec![nanos]),
                "{type_name}"
            );
            assert_eq!(batch.columns[3].values, ColumnValues::Int64(vec![200]));
        }
        let mut columns = base();
        columns.push((
            "ts",
            "DateTime64(0)",
            le(&[i64::MAX / 10], i64::to_le_bytes),
        ));
        let error = parse(&schema, &block(1, &columns)).unwrap_err();
        assert!(error.to_string().contains("outside the range"), "{error}");
    }

    fn error_text(schema: &TableSchema, body: &[u8]) -> String {
        let error = parse(schema, body).unwrap_err();
        assert_eq!(error.http_status(), 400, "{error}");
        error.to_string()
    }

    #[test]
    fn block_shape_errors_name_the_column() {
        let schema = ticks_schema();
        let volumes = || le(&VOLUMES, i64::to_le_bytes);
        let mut unknown = ticks_block("Int64", volumes(), false);
        unknown.extend(block(1, &[("bid", "Int64", vec![0; 8])]));
        let text = error_text(&schema, &unknown);
        assert!(
            text.contains("column `bid`") && text.contains("row 5"),
            "{text}"
        );

        let missing = block(
            1,
            &[("symbol", "Int64", vec![0; 8]), ("ts", "Int64", vec![0; 8])],
        );
        assert!(error_text(&schema, &missing).contains("no column `price`"));

        let twice = block(
            1,
            &[
                ("symbol", "Int64", vec![0; 8]),
                ("SYMBOL", "Int64", vec![0; 8]),
            ],
        );
        assert!(error_text(&schema, &twice).contains("`SYMBOL` appears twice"));

        let low = ticks_block("LowCardinality(String)", vec![0; 40], false);
        let text = error_text(&schema, &low);
        assert!(
            text.contains("`LowCardinality(String)`") && text.contains("`volume`"),
            "{text}"
        );

        let wide = wide_schema();
        let mut body = unhex(CLICKHOUSE_WIDE_BLOCK);
        // After the flags: the note column's header (22 bytes), NULL map (3) and strings (7).
        let flags = body.len() - 32 - 2; // the second row's Bool byte, 1
        assert_eq!(body[flags], 1);
        body[flags] = 2;
        let text = error_text(&wide, &body);
        assert!(text.contains("row 2") && text.contains("not 2"), "{text}");

        let mut huge = Vec::new();
        push_varuint(&mut huge, 1);
        push_varuint(&mut huge, u64::MAX);
        assert!(error_text(&schema, &huge).contains("row count"));
        let no_columns = [block(3, &[]), vec![0; 3]].concat();
        assert!(error_text(&schema, &no_columns).contains("no columns"));
    }

    #[test]
    fn strings_are_checked_row_by_row_and_columns_are_bounded_by_the_insert() {
        let wide = wide_schema();
        let mut body = unhex(CLICKHOUSE_WIDE_BLOCK);
        // The sym column's second string "1" (its values start at byte 13: 01 30 01 31 01 32).
        assert_eq!(&body[13..19], b"\x010\x011\x012");
        body[16] = 0xff;
        let error = parse(&wide, &body).unwrap_err();
        assert_eq!(
            error,
            FormatError::InvalidUtf8 {
                row: 2,
                position: InputPosition::Offset(16)
            }
        );
        let schema = ticks_schema();
        let mut many = Vec::new();
        push_varuint(&mut many, 5);
        push_varuint(&mut many, 1);
        many.extend(vec![0u8; 64]);
        assert!(error_text(&schema, &many).contains("5 columns for an INSERT of 4"));
    }

    #[test]
    fn uint64_above_i64_max_is_refused_with_its_value() {
        let schema = ticks_schema();
        let body = ticks_block("UInt64", le(&[0, 1, u64::MAX, 3], u64::to_le_bytes), false);
        let error = parse(&schema, &body).unwrap_err();
        assert!(
            matches!(
                &error,
                FormatError::Value {
                    row: 3,
                    error: EngineError::BadValue { .. },
                    ..
                }
            ),
            "{error}"
        );
        assert!(
            error.to_string().contains("18446744073709551615"),
            "{error}"
        );
    }

    #[test]
    fn every_truncation_is_refused_without_a_partial_block() {
        for (schema, body) in [
            (wide_schema(), unhex(CLICKHOUSE_WIDE_BLOCK)),
            (
                ticks_schema(),
                ticks_block("Int64", le(&VOLUMES, i64::to_le_bytes), false),
            ),
        ] {
            for cut in 1..body.len() {
                let mut builder = BatchBuilder::all_columns(&schema).unwrap();
                let error = parse_native(&body[..cut], &names(&schema), &mut builder).unwrap_err();
                assert_eq!(error.row(), Some(1), "cut {cut}: {error}");
                assert_eq!(builder.rows_count(), 0, "cut {cut}");
            }
        }
        let body = ticks_block("Int64", le(&VOLUMES, i64::to_le_bytes), false);
        let error = parse(&ticks_schema(), &body[..body.len() - 1]).unwrap_err();
        assert_eq!(error.code(), "CANNOT_READ_ALL_DATA");
        assert!(
            error.to_string().contains("inside column `volume`"),
            "{error}"
        );
    }

    #[test]
    fn random_bytes_never_panic_native_parser() {
        for schema in [trades_schema(), wide_schema(), ticks_schema()] {
            for body in random_bodies(&[0, 1, 2, 4, 5, 9, 0x80, 0xff, b'I', b'S']) {
                let _ = parse(&schema, &body);
            }
        }
    }
}
