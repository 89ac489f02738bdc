//! RowBinary input: ClickHouse's native row encoding, fields in column order, no framing.
//!
//! Per field: Int64, UInt64 and Timestamp (`DateTime64(9)`) are 8 bytes little-endian, Int32
//! and Float32 are 4, Float64 is 8, Bool is one byte 0 or 1, and Symbol (`String`) is an
//! unsigned LEB128 length followed by that many UTF-8 bytes. There is no NULL: the format only
//! carries non-Nullable types. A body that stops inside a row is refused with the offset of
//! the value that could not be read whole.

use quecto_engine::batch::{BatchBuilder, ColumnValues};
use quecto_engine::types::{DataType, Value};

use super::binary_reader::{Fault, Reader};
use super::error::{FormatError, InputPosition};

/// Parses a RowBinary body into `builder`.
pub(crate) fn parse_row_binary(
    body: &[u8],
    builder: &mut BatchBuilder<'_>,
) -> Result<(), FormatError> {
    let field_types: Vec<DataType> = (0..builder.fields_count())
        .map(|field| builder.field_type(field))
        .collect();
    if field_types.is_empty() && !body.is_empty() {
        // Rows of no fields would consume no bytes: refuse rather than loop forever.
        return Err(FormatError::Internal {
            detail: "RowBinary input with no fields".into(),
        });
    }
    if parse_fixed_width(body, &field_types, builder)? {
        return Ok(());
    }
    parse_row_by_row(body, &field_types, builder)
}

/// The general path: one value at a time, each checked by the builder.
fn parse_row_by_row(
    body: &[u8],
    field_types: &[DataType],
    builder: &mut BatchBuilder<'_>,
) -> Result<(), FormatError> {
    let mut reader = Reader { body, offset: 0 };
    while reader.offset < body.len() {
        let row = builder.rows_count() + 1;
        for (field, &data_type) in field_types.iter().enumerate() {
            let value_offset = reader.offset;
            parse_row_binary_field(&mut reader, data_type, field, builder)
                .map_err(|fault| fault.into_format_error(row, value_offset))?;
        }
        builder.finish_row().map_err(|error| FormatError::Value {
            row,
            position: InputPosition::Offset(reader.offset),
            error,
        })?;
    }
    Ok(())
}

/// Bytes of a field of `data_type` whose every bit pattern is a valid value (so rows need no
/// checks), or `None`.
fn unchecked_width(data_type: DataType) -> Option<usize> {
    match data_type {
        DataType::Int64 | DataType::Timestamp | DataType::Float64 => Some(8),
        DataType::Int32 | DataType::Float32 => Some(4),
        DataType::UInt64 | DataType::Bool | DataType::Symbol => None,
    }
}

/// The fast path for rows of fixed-width fields that need no checks (trades and quotes are
/// such rows): the body is whole records of one size, decoded column by column straight into
/// the builder's vectors. `Ok(false)` when the fields or the builder do not allow it.
fn parse_fixed_width(
    body: &[u8],
    field_types: &[DataType],
    builder: &mut BatchBuilder<'_>,
) -> Result<bool, FormatError> {
    let Some(widths) = field_types
        .iter()
        .map(|&t| unchecked_width(t))
        .collect::<Option<Vec<usize>>>()
    else {
        return Ok(false);
    };
    let record_size: usize = widths.iter().sum();
    let whole_rows = body.len() / record_size;
    let tail = body.len() % record_size;
    let starts: Vec<usize> = widths
        .iter()
        .scan(0, |start, &width| {
            let this = *start;
            *start += width;
            Some(this)
        })
        .collect();
    if tail != 0 {
        // The last record stops inside the first field whose end is past the body's end.
        let field = (0..widths.len())
            .find(|&f| starts[f] + widths[f] > tail)
            .unwrap_or(0);
        return Err(FormatError::Truncated {
            row: builder.rows_count() + whole_rows + 1,
            offset: whole_rows * record_size + starts[field],
        });
    }
    let records = || body.chunks_exact(record_size);
    let appended = builder.append_columns(whole_rows, |field, values| {
        let start = starts[field];
        let eight = |record: &[u8]| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&record[start..start + 8]);
            bytes
        };
        let four = |record: &[u8]| {
            let mut bytes = [0u8; 4];
            bytes.copy_from_slice(&record[start..start + 4]);
            bytes
        };
        match values {
            ColumnValues::Int64(v) | ColumnValues::Timestamp(v) => {
                v.extend(records().map(|r| i64::from_le_bytes(eight(r))));
            }
            ColumnValues::Float64(v) => v.extend(records().map(|r| f64::from_le_bytes(eight(r)))),
            ColumnValues::Int32(v) => v.extend(records().map(|r| i32::from_le_bytes(four(r)))),
            ColumnValues::Float32(v) => v.extend(records().map(|r| f32::from_le_bytes(four(r)))),
            // Not reached: unchecked_width admits none of these types; append_columns refuses
            // the batch if a column comes back short.
            ColumnValues::Bool(_) | ColumnValues::Symbol(_) => {}
        }
    });
    appended.map_err(|error| FormatError::Value {
        row: builder.rows_count() + 1,
        position: InputPosition::Offset(0),
        error,
    })
}

fn parse_row_binary_field(
    reader: &mut Reader<'_>,
    data_type: DataType,
    field: usize,
    builder: &mut BatchBuilder<'_>,
) -> Result<(), Fault> {
    let pushed = match data_type {
        DataType::Int64 | DataType::Timestamp => {
            let value = i64::from_le_bytes(reader.take_array()?);
            builder.push_value(field, &Value::Int(value))
        }
        DataType::Int32 => {
            let value = i32::from_le_bytes(reader.take_array()?);
            builder.push_value(field, &Value::Int(i64::from(value)))
        }
        DataType::UInt64 => {
            let value = u64::from_le_bytes(reader.take_array()?);
            match i64::try_from(value) {
                Ok(value) => builder.push_value(field, &Value::Int(value)),
                // UInt64 is stored as Int64: let the builder refuse it, naming the value.
                Err(_) => builder.push_text(field, &value.to_string()),
            }
        }
        DataType::Float64 => {
            let value = f64::from_le_bytes(reader.take_array()?);
            builder.push_value(field, &Value::Float(value))
        }
        DataType::Float32 => {
            let value = f32::from_le_bytes(reader.take_array()?);
            builder.push_value(field, &Value::Float(f64::from(value)))
        }
        DataType::Bool => match reader.take_array::<1>()? {
            [0] => builder.push_value(field, &Value::Bool(false)),
            [1] => builder.push_value(field, &Value::Bool(true)),
            [byte] => return Err(Fault::BadBool(byte)),
        },
        DataType::Symbol => {
            let text = reader.read_string()?;
            builder.push_text(field, text)
        }
    };
    pushed.map_err(Fault::Value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::test_support::{push_varuint, random_bodies, trades_schema, wide_schema};
    use quecto_engine::batch::{ColumnValues, RowBatch};
    use quecto_engine::schema::TableSchema;

    fn push_string(body: &mut Vec<u8>, text: &[u8]) {
        push_varuint(body, text.len() as u64);
        body.extend_from_slice(text);
    }

    fn trade(body: &mut Vec<u8>, symbol: &[u8], timestamp_ns: i64, price: f64, volume: i64) {
        push_string(body, symbol);
        body.extend_from_slice(&timestamp_ns.to_le_bytes());
        body.extend_from_slice(&price.to_le_bytes());
        body.extend_from_slice(&volume.to_le_bytes());
    }

    fn parse(schema: &TableSchema, body: &[u8]) -> Result<RowBatch, FormatError> {
        let mut builder = BatchBuilder::all_columns(schema).unwrap();
        parse_row_binary(body, &mut builder)?;
        Ok(builder.finish())
    }

    /// `symbol INT64, ts, f64, i32, f32, i64`: every field fixed-width and unchecked.
    fn fixed_schema() -> TableSchema {
        let columns = vec![
            crate::format::test_support::column("symbol", DataType::Int64),
            crate::format::test_support::column("ts", DataType::Timestamp),
            crate::format::test_support::column("f64", DataType::Float64),
            crate::format::test_support::column("i32", DataType::Int32),
            crate::format::test_support::column("f32", DataType::Float32),
            crate::format::test_support::column("i64", DataType::Int64),
        ];
        TableSchema::new("fixed", columns, Some("symbol"), Some("ts")).unwrap()
    }

    /// Parses `body` with `fields` by the fast path (when it applies) and by the row-by-row
    /// path, each into a builder that already holds one row.
    fn both_paths(
        schema: &TableSchema,
        fields: &[usize],
        body: &[u8],
    ) -> [Result<RowBatch, FormatError>; 2] {
        let run = |fast: bool| {
            let mut builder = BatchBuilder::new(schema, fields.to_vec()).unwrap();
            let first: Vec<u8> = (0..fields.iter().map(|&f| field_width(schema, f)).sum())
                .map(|i| i as u8)
                .collect();
            parse_row_by_row(&first, &field_types(&builder), &mut builder)?;
            let types = field_types(&builder);
            if !(fast && parse_fixed_width(body, &types, &mut builder)?) {
                parse_row_by_row(body, &types, &mut builder)?;
            }
            Ok(builder.finish())
        };
        [run(true), run(false)]
    }

    fn field_types(builder: &BatchBuilder<'_>) -> Vec<DataType> {
        (0..builder.fields_count())
            .map(|f| builder.field_type(f))
            .collect()
    }

    fn field_width(schema: &TableSchema, column: usize) -> usize {
        unchecked_width(schema.columns[column].data_type).unwrap()
    }

    #[test]
    fn fixed_width_rows_decode_as_the_row_by_row_path_does() {
        let schema = fixed_schema(); // 40-byte records
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let body: Vec<u8> = (0..40 * 200)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let in_order: Vec<usize> = (0..6).collect();
        let permuted = vec![4, 1, 0, 5, 3, 2];
        for fields in [in_order, permuted] {
            for cut in [
                0,
                39,
                40,
                41,
                40 * 100,
                40 * 100 + 9,
                40 * 100 + 17,
                40 * 200 - 1,
                40 * 200,
            ] {
                let [fast, slow] = both_paths(&schema, &fields, &body[..cut]);
                assert_eq!(fast, slow, "fields {fields:?}, cut {cut}");
            }
        }
        let [fast, _] = both_paths(&schema, &(0..6).collect::<Vec<_>>(), &body);
        assert_eq!(fast.unwrap().rows_count, 201);
    }

    #[test]
    fn fixed_width_path_declines_inputs_it_cannot_check() {
        let schema = fixed_schema();
        // A field list without every column: the missing ones need NULLs.
        let mut builder = BatchBuilder::new(&schema, vec![0, 1]).unwrap();
        let types = field_types(&builder);
        assert_eq!(parse_fixed_width(&[0; 32], &types, &mut builder), Ok(false));
        // Types whose bytes need checks.
        let wide = wide_schema();
        let mut builder = BatchBuilder::all_columns(&wide).unwrap();
        let types = field_types(&builder);
        assert_eq!(parse_fixed_width(&[0; 64], &types, &mut builder), Ok(false));
    }

    #[test]
    fn rowbinary_reads_every_type() {
        let schema = wide_schema();
        let mut body = Vec::new();
        push_string(&mut body, b"AAPL");
        body.extend_from_slice(&1_704_187_800_000_000_000i64.to_le_bytes());
        body.extend_from_slice(&(-5i64).to_le_bytes());
        body.extend_from_slice(&(-7i32).to_le_bytes());
        body.extend_from_slice(&42u64.to_le_bytes());
        body.extend_from_slice(&0.1f64.to_le_bytes());
        body.extend_from_slice(&0.1f32.to_le_bytes());
        body.push(1);
        let long_note = "é".repeat(100); // 200 bytes: a two-byte varint
        push_string(&mut body, long_note.as_bytes());
        let batch = parse(&schema, &body).unwrap();
        assert_eq!(batch.rows_count, 1);
        assert_eq!(
            batch.columns[1].values,
            ColumnValues::Timestamp(vec![1_704_187_800_000_000_000])
        );
        assert_eq!(batch.columns[2].values, ColumnValues::Int64(vec![-5]));
        assert_eq!(batch.columns[3].values, ColumnValues::Int32(vec![-7]));
        assert_eq!(batch.columns[4].values, ColumnValues::Int64(vec![42]));
        assert_eq!(batch.columns[5].values, ColumnValues::Float64(vec![0.1]));
        assert_eq!(batch.columns[6].values, ColumnValues::Float32(vec![0.1]));
        assert_eq!(batch.columns[7].values, ColumnValues::Bool(vec![true]));
        let ColumnValues::Symbol(notes) = &batch.columns[8].values else {
            panic!()
        };
        assert_eq!(notes.get(0), long_note);
        assert!(batch.columns.iter().all(|column| column.nulls.is_none()));
    }

    #[test]
    fn rowbinary_reads_many_rows_and_empty_body() {
        let schema = trades_schema();
        let mut body = Vec::new();
        trade(&mut body, b"A", 1, 1.5, 10);
        trade(&mut body, b"", 2, -2.5, 20);
        let batch = parse(&schema, &body).unwrap();
        assert_eq!(batch.rows_count, 2);
        assert_eq!(batch.columns[3].values, ColumnValues::Int64(vec![10, 20]));
        assert_eq!(parse(&schema, b"").unwrap().rows_count, 0);
    }

    #[test]
    fn rowbinary_truncated_row_names_row_and_offset() {
        let schema = trades_schema();
        let mut body = Vec::new();
        trade(&mut body, b"A", 1, 1.5, 10); // 2 + 8 + 8 + 8 = 26 bytes
        trade(&mut body, b"B", 2, 2.5, 20);
        for cut in 27..body.len() {
            let error = parse(&schema, &body[..cut]).unwrap_err();
            let value_offset = match cut {
                27 => 26,      // inside the second row's string
                28..=35 => 28, // inside its timestamp
                36..=43 => 36, // inside its price
                _ => 44,       // inside its volume
            };
            assert_eq!(
                error,
                FormatError::Truncated {
                    row: 2,
                    offset: value_offset
                },
                "cut {cut}"
            );
            assert!(error
                .to_string()
                .contains(&format!("byte offset {value_offset}")));
        }
    }

    #[test]
    fn rowbinary_string_longer_than_body_is_truncated() {
        let schema = trades_schema();
        let mut body = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
        body.extend_from_slice(b"AAPL");
        let error = parse(&schema, &body).unwrap_err();
        assert_eq!(error, FormatError::Truncated { row: 1, offset: 0 });
    }

    #[test]
    fn rowbinary_overlong_varint_and_bad_bool_are_syntax_errors() {
        let schema = trades_schema();
        let error = parse(&schema, &[0x80; 11]).unwrap_err();
        assert!(
            matches!(error, FormatError::Syntax { row: 1, .. }),
            "{error}"
        );
        let wide = wide_schema();
        let mut body = Vec::new();
        push_string(&mut body, b"A");
        body.extend_from_slice(&[0; 8 + 8 + 4 + 8 + 8 + 4]);
        body.push(2);
        let error = parse(&wide, &body).unwrap_err();
        let position = InputPosition::Offset(42);
        let detail = "a Bool byte must be 0 or 1, not 2".to_string();
        assert_eq!(
            error,
            FormatError::Syntax {
                row: 1,
                position,
                detail
            }
        );
    }

    #[test]
    fn rowbinary_invalid_utf8_names_row_and_offset() {
        let schema = trades_schema();
        let mut body = Vec::new();
        trade(&mut body, b"A", 1, 1.5, 10);
        trade(&mut body, b"B\xff", 2, 2.5, 20);
        let error = parse(&schema, &body).unwrap_err();
        assert_eq!(
            error,
            FormatError::InvalidUtf8 {
                row: 2,
                position: InputPosition::Offset(27)
            }
        );
    }

    #[test]
    fn rowbinary_uint64_above_i64_max_is_refused_with_its_value() {
        let schema = wide_schema();
        let mut body = Vec::new();
        push_string(&mut body, b"A");
        body.extend_from_slice(&[0; 8 + 8 + 4]);
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        let error = parse(&schema, &body).unwrap_err();
        assert!(
            matches!(&error, FormatError::Value { row: 1, .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("18446744073709551615"),
            "{error}"
        );
        assert!(error.to_string().contains("column `u64`"), "{error}");
    }

    #[test]
    fn random_bytes_never_panic_rowbinary_parser() {
        for schema in [trades_schema(), wide_schema()] {
            for body in random_bodies(&[0, 1, 2, 0x7f, 0x80, 0xff, b'a']) {
                let mut builder = BatchBuilder::all_columns(&schema).unwrap();
                let _ = parse_row_binary(&body, &mut builder);
            }
        }
    }
}
