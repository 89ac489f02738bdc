//! JSONEachRow input: one JSON object per line, keys naming columns.
//!
//! Each line is deserialized straight into the builder with `serde` seeds: keys resolve to
//! field indexes (case-insensitively, trying the next field in order first) and values are
//! pushed as they are read, with no `serde_json::Value` tree and no copy of unescaped strings.
//! A column the object leaves out is NULL (the builder refuses that for the symbol and
//! timestamp columns); a key naming no column, a key given twice, and a nested object or array
//! are refused. Blank lines are skipped; an object may not span lines.

use std::fmt;

use quecto_engine::batch::BatchBuilder;
use quecto_engine::types::Value;
use quecto_engine::EngineError;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};

use super::error::{FormatError, InputPosition};

/// Why a row was refused inside the deserializer; `serde` only carries strings, so the seeds
/// leave the real reason here.
enum RowFailure {
    UnknownKey(String),
    DuplicateKey(String),
    Nested { column: String },
    Value(EngineError),
}

/// Parses a JSONEachRow body into `builder`; `field_names[i]` names input field `i`.
pub(crate) fn parse_json_each_row(
    body: &[u8],
    field_names: &[&str],
    builder: &mut BatchBuilder<'_>,
) -> Result<(), FormatError> {
    let fields_count = builder.fields_count();
    if field_names.len() != fields_count {
        return Err(FormatError::Internal {
            detail: format!(
                "JSONEachRow got {} field names for {fields_count} input fields",
                field_names.len()
            ),
        });
    }
    let mut seen = vec![false; fields_count];
    for (line_index, line) in body.split(|&byte| byte == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let position = InputPosition::Line(line_index + 1);
        parse_json_row(line, field_names, &mut seen, builder, position)?;
    }
    Ok(())
}

fn parse_json_row(
    line: &[u8],
    names: &[&str],
    seen: &mut [bool],
    builder: &mut BatchBuilder<'_>,
    position: InputPosition,
) -> Result<(), FormatError> {
    let row = builder.rows_count() + 1;
    let text = std::str::from_utf8(line).map_err(|_| FormatError::InvalidUtf8 { row, position })?;
    seen.fill(false);
    let mut failure = None;
    let parsed = {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let seed = RowSeed {
            names,
            seen: &mut *seen,
            builder: &mut *builder,
            failure: &mut failure,
        };
        seed.deserialize(&mut deserializer)
            .and_then(|()| deserializer.end())
    };
    if let Some(failure) = failure {
        return Err(parse_json_row_failure(failure, row, position));
    }
    if let Err(error) = parsed {
        return Err(FormatError::Syntax {
            row,
            position,
            detail: json_error_detail(&error),
        });
    }
    parse_json_row_finish(seen, builder).map_err(|error| FormatError::Value {
        row,
        position,
        error,
    })
}

/// Sets the fields the object left out to NULL and ends the row.
fn parse_json_row_finish(seen: &[bool], builder: &mut BatchBuilder<'_>) -> Result<(), EngineError> {
    for (field, _) in seen.iter().enumerate().filter(|(_, &seen)| !seen) {
        builder.push_null(field)?;
    }
    builder.finish_row()
}

fn parse_json_row_failure(failure: RowFailure, row: usize, position: InputPosition) -> FormatError {
    match failure {
        RowFailure::UnknownKey(key) => FormatError::UnknownKey { row, position, key },
        RowFailure::DuplicateKey(key) => FormatError::DuplicateKey { row, position, key },
        RowFailure::Nested { column } => FormatError::Syntax {
            row,
            position,
            detail: format!("column `{column}`: nested JSON objects and arrays are not supported"),
        },
        RowFailure::Value(error) => FormatError::Value {
            row,
            position,
            error,
        },
    }
}

/// `serde_json` appends "at line L column C"; within one line only the column matters.
fn json_error_detail(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let location = format!(" at line {} column {}", error.line(), error.column());
    let message = text.strip_suffix(&location).unwrap_or(&text);
    format!("invalid JSON at column {}: {message}", error.column())
}

/// Deserializes one object into the builder's current row.
struct RowSeed<'r, 'b> {
    names: &'r [&'r str],
    seen: &'r mut [bool],
    builder: &'r mut BatchBuilder<'b>,
    failure: &'r mut Option<RowFailure>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with one key per column")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let RowSeed {
            names,
            seen,
            builder,
            failure,
        } = self;
        let mut hint = 0;
        loop {
            let key_seed = KeySeed {
                names,
                hint,
                failure: &mut *failure,
            };
            let Some(field) = map.next_key_seed(key_seed)? else {
                return Ok(());
            };
            // `field` indexes `names`, and `seen` has one flag per name.
            if std::mem::replace(&mut seen[field], true) {
                *failure = Some(RowFailure::DuplicateKey(names[field].to_string()));
                return Err(de::Error::custom("duplicate key"));
            }
            let value_seed = ValueSeed {
                field,
                names,
                builder: &mut *builder,
                failure: &mut *failure,
            };
            map.next_value_seed(value_seed)?;
            hint = field + 1;
        }
    }
}

/// Resolves a key to its field index.
struct KeySeed<'r> {
    names: &'r [&'r str],
    /// The field to try first: the one after the previous key, as writers keep column order.
    hint: usize,
    failure: &'r mut Option<RowFailure>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = usize;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a column name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        let hinted = self
            .names
            .get(self.hint)
            .is_some_and(|name| name.eq_ignore_ascii_case(key));
        if hinted {
            return Ok(self.hint);
        }
        match self
            .names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(key))
        {
            Some(field) => Ok(field),
            None => {
                *self.failure = Some(RowFailure::UnknownKey(key.to_string()));
                Err(E::custom("unknown key"))
            }
        }
    }
}

/// Pushes one value into field `field`.
struct ValueSeed<'r, 'b> {
    field: usize,
    names: &'r [&'r str],
    builder: &'r mut BatchBuilder<'b>,
    failure: &'r mut Option<RowFailure>,
}

impl ValueSeed<'_, '_> {
    fn store<E: de::Error>(self, pushed: Result<(), EngineError>) -> Result<(), E> {
        pushed.map_err(|error| {
            *self.failure = Some(RowFailure::Value(error));
            E::custom("value refused")
        })
    }

    fn refuse_nested<E: de::Error>(self) -> Result<(), E> {
        let column = self
            .names
            .get(self.field)
            .copied()
            .unwrap_or_default()
            .to_string();
        *self.failure = Some(RowFailure::Nested { column });
        Err(E::custom("nested value"))
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number, boolean or null")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        let pushed = self.builder.push_value(self.field, &Value::Bool(value));
        self.store(pushed)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        let pushed = self.builder.push_value(self.field, &Value::Int(value));
        self.store(pushed)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        let pushed = match i64::try_from(value) {
            Ok(value) => self.builder.push_value(self.field, &Value::Int(value)),
            // Above i64::MAX: let the builder refuse it with the value in its message.
            Err(_) => self.builder.push_text(self.field, &value.to_string()),
        };
        self.store(pushed)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        let pushed = self.builder.push_value(self.field, &Value::Float(value));
        self.store(pushed)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        let pushed = self.builder.push_text(self.field, value);
        self.store(pushed)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        let pushed = self.builder.push_null(self.field);
        self.store(pushed)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _seq: A) -> Result<(), A::Error> {
        self.refuse_nested()
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<(), A::Error> {
        self.refuse_nested()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::test_support::{random_bodies, trades_schema, wide_schema};
    use quecto_engine::batch::{ColumnValues, RowBatch};
    use quecto_engine::schema::TableSchema;

    fn names(schema: &TableSchema) -> Vec<&str> {
        schema
            .columns
            .iter()
            .map(|column| column.name.as_str())
            .collect()
    }

    fn parse(schema: &TableSchema, body: &str) -> Result<RowBatch, FormatError> {
        let mut builder = BatchBuilder::all_columns(schema).unwrap();
        parse_json_each_row(body.as_bytes(), &names(schema), &mut builder)?;
        Ok(builder.finish())
    }

    #[test]
    fn json_rows_fill_columns_by_name_in_any_order_and_case() {
        let schema = trades_schema();
        let body = concat!(
            r#"{"symbol":"AAPL","timestamp":"2024-01-02 09:30:00","price":187.5,"volume":100}"#,
            "\n",
            r#"{"VOLUME":7,"Price":402,"timestamp":1704187800000000001,"symbol":"MS\"FT"}"#,
        );
        let batch = parse(&schema, body).unwrap();
        assert_eq!(batch.rows_count, 2);
        assert_eq!(
            batch.columns[2].values,
            ColumnValues::Float64(vec![187.5, 402.0])
        );
        assert_eq!(batch.columns[3].values, ColumnValues::Int64(vec![100, 7]));
        let ColumnValues::Symbol(symbols) = &batch.columns[0].values else {
            panic!()
        };
        assert_eq!((symbols.get(0), symbols.get(1)), ("AAPL", "MS\"FT"));
        assert_eq!(
            batch.columns[1].values,
            ColumnValues::Timestamp(vec![1_704_187_800_000_000_000, 1_704_187_800_000_000_001])
        );
    }

    #[test]
    fn json_missing_key_and_null_are_null() {
        let schema = wide_schema();
        let body = "{\"sym\":\"A\",\"ts\":1,\"i64\":null,\"flag\":true,\"f32\":1.5}\n";
        let batch = parse(&schema, body).unwrap();
        for column in [2, 3, 4, 5, 8] {
            assert_eq!(
                batch.columns[column].nulls,
                Some(vec![true]),
                "column {column}"
            );
        }
        assert_eq!(batch.columns[7].values, ColumnValues::Bool(vec![true]));
        assert_eq!(batch.columns[6].values, ColumnValues::Float32(vec![1.5]));
        assert_eq!(batch.columns[6].nulls, None);
    }

    #[test]
    fn json_missing_key_column_is_refused_by_the_builder() {
        let schema = trades_schema();
        let error = parse(&schema, "{\"symbol\":\"A\",\"price\":1}").unwrap_err();
        assert!(matches!(
            &error,
            FormatError::Value {
                row: 1,
                error: EngineError::NullInKeyColumn { .. },
                ..
            }
        ));
        assert!(error.to_string().contains("`timestamp`"), "{error}");
    }

    #[test]
    fn json_unknown_key_is_named() {
        let schema = trades_schema();
        let body = concat!(
            r#"{"symbol":"A","timestamp":1}"#,
            "\n\n",
            r#"{"symbol":"A","timestamp":1,"venue":"X"}"#,
        );
        let error = parse(&schema, body).unwrap_err();
        let position = InputPosition::Line(3);
        assert_eq!(
            error,
            FormatError::UnknownKey {
                row: 2,
                position,
                key: "venue".into()
            }
        );
        assert!(error.to_string().contains("`venue`"));
    }

    #[test]
    fn json_duplicate_key_is_refused() {
        let schema = trades_schema();
        let error = parse(
            &schema,
            "{\"symbol\":\"A\",\"timestamp\":1,\"SYMBOL\":\"B\"}",
        )
        .unwrap_err();
        assert!(
            matches!(error, FormatError::DuplicateKey { row: 1, .. }),
            "{error}"
        );
    }

    #[test]
    fn json_wrong_type_names_column_and_row() {
        let schema = trades_schema();
        let body = concat!(
            r#"{"symbol":"A","timestamp":1,"volume":1}"#,
            "\n",
            r#"{"symbol":"B","timestamp":2,"volume":1.5}"#,
        );
        let error = parse(&schema, body).unwrap_err();
        assert_eq!(error.row(), Some(2));
        assert!(matches!(
            &error,
            FormatError::Value {
                error: EngineError::BadValue { .. },
                ..
            }
        ));
        assert!(error.to_string().contains("column `volume`"), "{error}");
        let error = parse(
            &schema,
            "{\"symbol\":\"A\",\"timestamp\":1,\"price\":\"x\"}",
        )
        .unwrap_err();
        assert!(error.to_string().contains("column `price`"), "{error}");
    }

    #[test]
    fn json_floats_parse_to_the_exact_double() {
        let schema = trades_schema();
        let prices = [
            1.3000000000000003,
            0.30000000000000004,
            1e21,
            2.2250738585072014e-308,
        ];
        let body: String = prices
            .iter()
            .map(|price| format!("{{\"symbol\":\"A\",\"timestamp\":1,\"price\":{price:e}}}\n"))
            .collect();
        let batch = parse(&schema, &body).unwrap();
        assert_eq!(
            batch.columns[2].values,
            ColumnValues::Float64(prices.to_vec())
        );
    }

    #[test]
    fn json_u64_above_i64_max_is_refused_not_wrapped() {
        let schema = trades_schema();
        let body = "{\"symbol\":\"A\",\"timestamp\":1,\"volume\":18446744073709551615}";
        let error = parse(&schema, body).unwrap_err();
        assert!(
            error.to_string().contains("18446744073709551615"),
            "{error}"
        );
    }

    #[test]
    fn json_nested_values_and_non_objects_are_syntax_errors() {
        let schema = trades_schema();
        let error = parse(&schema, "{\"symbol\":\"A\",\"timestamp\":1,\"price\":[1]}").unwrap_err();
        assert!(
            error.to_string().contains("column `price`: nested"),
            "{error}"
        );
        for body in [
            "[1,2]",
            "{\"symbol\":\"A\"",
            "{\"symbol\":\"A\",\"timestamp\":1} x",
            "nope",
        ] {
            let error = parse(&schema, body).unwrap_err();
            assert!(
                matches!(error, FormatError::Syntax { row: 1, .. }),
                "{body}: {error}"
            );
        }
    }

    #[test]
    fn json_syntax_error_names_line_and_column() {
        let schema = trades_schema();
        let error = parse(&schema, "\n{\"symbol\":\"A\",\"timestamp\":1,}").unwrap_err();
        let FormatError::Syntax {
            row,
            position,
            detail,
        } = error
        else {
            panic!("{error}")
        };
        assert_eq!((row, position), (1, InputPosition::Line(2)));
        assert!(detail.starts_with("invalid JSON at column"), "{detail}");
        assert!(!detail.contains("line"), "{detail}");
    }

    #[test]
    fn json_tolerates_crlf_and_blank_lines() {
        let schema = trades_schema();
        let body = concat!(
            "\r\n  ",
            r#"{"symbol":"A","timestamp":1}"#,
            " \r\n\t\r\n",
            r#"{"symbol":"B","timestamp":2}"#,
            "\r\n",
        );
        assert_eq!(parse(&schema, body).unwrap().rows_count, 2);
    }

    #[test]
    fn json_invalid_utf8_names_row_and_line() {
        let schema = trades_schema();
        let mut builder = BatchBuilder::all_columns(&schema).unwrap();
        let body = b"{\"symbol\":\"A\",\"timestamp\":1}\n{\"symbol\":\"\xff\",\"timestamp\":1}";
        let error = parse_json_each_row(body, &names(&schema), &mut builder).unwrap_err();
        assert_eq!(
            error,
            FormatError::InvalidUtf8 {
                row: 2,
                position: InputPosition::Line(2)
            }
        );
    }

    #[test]
    fn json_field_names_must_match_fields() {
        let schema = trades_schema();
        let mut builder = BatchBuilder::all_columns(&schema).unwrap();
        let error = parse_json_each_row(b"{}", &["symbol"], &mut builder).unwrap_err();
        assert_eq!(error.code(), "INTERNAL");
    }

    #[test]
    fn random_bytes_never_panic_json_parser() {
        let schema = wide_schema();
        let names = names(&schema);
        for body in random_bodies(b"{}[]\":,\n nultrefas0123456789.e-\\") {
            let mut builder = BatchBuilder::all_columns(&schema).unwrap();
            let _ = parse_json_each_row(&body, &names, &mut builder);
        }
    }
}
