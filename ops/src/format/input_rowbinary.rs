//! RowBinary input: ClickHouse's native row encoding, fields in column order, no framing.
//!
//! Per field: Int64, UInt64 and Timestamp (`DateTime64(9)`) are 8 bytes little-endian, Int32
//! and Float32 are 4, Float64 is 8, Bool is one byte 0 or 1, and Symbol (`String`) is an
//! unsigned LEB128 length followed by that many UTF-8 bytes. There is no NULL: the format only
//! carries non-Nullable types. A body that stops inside a row is refused with the offset of
//! the value that could not be read whole.

use quecto_engine::batch::BatchBuilder;
use quecto_engine::types::{DataType, Value};
use quecto_engine::EngineError;

use super::error::{FormatError, InputPosition};

/// Longest LEB128 encoding of a u64: ceil(64 / 7) bytes.
const VARINT_SIZE_MAX: usize = 10;
const _: () = assert!(VARINT_SIZE_MAX * 7 >= 64 && (VARINT_SIZE_MAX - 1) * 7 < 64);

/// Why a value could not be read; the parent adds the row and the value's offset.
enum Fault {
    Truncated,
    BadBool(u8),
    VarintTooLong,
    InvalidUtf8 { offset: usize },
    Value(EngineError),
}

impl Fault {
    fn into_format_error(self, row: usize, value_offset: usize) -> FormatError {
        let position = InputPosition::Offset(value_offset);
        match self {
            Fault::Truncated => FormatError::Truncated {
                row,
                offset: value_offset,
            },
            Fault::BadBool(byte) => FormatError::Syntax {
                row,
                position,
                detail: format!("a Bool byte must be 0 or 1, not {byte}"),
            },
            Fault::VarintTooLong => FormatError::Syntax {
                row,
                position,
                detail: format!("a string length varint is longer than {VARINT_SIZE_MAX} bytes"),
            },
            Fault::InvalidUtf8 { offset } => FormatError::InvalidUtf8 {
                row,
                position: InputPosition::Offset(offset),
            },
            Fault::Value(error) => FormatError::Value {
                row,
                position,
                error,
            },
        }
    }
}

/// A cursor over the body that never reads past its end.
struct Reader<'a> {
    body: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, size: usize) -> Result<&'a [u8], Fault> {
        let end = self.offset.checked_add(size).ok_or(Fault::Truncated)?;
        let bytes = self.body.get(self.offset..end).ok_or(Fault::Truncated)?;
        self.offset = end;
        Ok(bytes)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], Fault> {
        let bytes = self.take(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| Fault::Truncated)
    }

    fn read_varint(&mut self) -> Result<u64, Fault> {
        let mut value = 0u64;
        for index in 0..VARINT_SIZE_MAX {
            let [byte] = self.take_array::<1>()?;
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Fault::VarintTooLong)
    }

    fn read_string(&mut self) -> Result<&'a str, Fault> {
        let size = usize::try_from(self.read_varint()?).map_err(|_| Fault::Truncated)?;
        let bytes_offset = self.offset;
        let bytes = self.take(size)?;
        std::str::from_utf8(bytes).map_err(|_| Fault::InvalidUtf8 {
            offset: bytes_offset,
        })
    }
}

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
    use crate::format::test_support::{random_bodies, trades_schema, wide_schema};
    use quecto_engine::batch::{ColumnValues, RowBatch};
    use quecto_engine::schema::TableSchema;

    fn push_string(body: &mut Vec<u8>, text: &[u8]) {
        let mut size = text.len();
        loop {
            let byte = (size & 0x7f) as u8;
            size >>= 7;
            if size == 0 {
                body.push(byte);
                break;
            }
            body.push(byte | 0x80);
        }
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
