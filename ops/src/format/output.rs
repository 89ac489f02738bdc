//! Output formats: a `ResultSet` appended to a byte buffer exactly as ClickHouse prints it.
//!
//! A value's text depends on its column's type as much as on the value: ClickHouse quotes
//! 64-bit integers in JSON (JavaScript numbers lose precision past 2^53) but not Int32, and
//! prints `DateTime64(9)` as `YYYY-MM-DD hh:mm:ss.nnnnnnnnn`. Floats print as the shortest text
//! that reads back to the same value, in decimal from 1e-6 up to 1e21 and in exponent form
//! outside it (`1e21`, `1e-7`), as ClickHouse's double-conversion settings do; NaN and
//! infinities are `null` in JSON and `nan`/`inf`/`-inf` in CSV and TSV. Everything is written
//! straight into the caller's buffer: integers and timestamps through small digit writers,
//! floats through `write!`, no `String` per value.

use std::io::Write;

use quecto_engine::time::format_timestamp_ns;
use quecto_engine::types::{DataType, Value};
use quecto_sql::result::{QueryStatistics, ResultColumn, ResultSet};

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
/// Floats in `[FLOAT_DECIMAL_MIN, FLOAT_DECIMAL_MAX)` print in decimal, others with an exponent.
const FLOAT_DECIMAL_MIN: f64 = 1e-6;
const FLOAT_DECIMAL_MAX: f64 = 1e21;

/// Writes ClickHouse's `JSON` format: `meta`, `data`, `rows`, `statistics`, tab-indented.
pub(crate) fn write_json(result: &ResultSet, out: &mut Vec<u8>) {
    write_json_document(result, write_json_data, out);
}

/// Writes ClickHouse's `JSONCompact`: `JSON` with each row of `data` an array of its values.
pub(crate) fn write_json_compact(result: &ResultSet, out: &mut Vec<u8>) {
    write_json_document(result, write_json_compact_data, out);
}

fn write_json_document(
    result: &ResultSet,
    write_data: fn(&ResultSet, &mut Vec<u8>),
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"{\n");
    write_json_meta(&result.columns, out);
    out.extend_from_slice(b",\n\n");
    write_data(result, out);
    out.extend_from_slice(b",\n\n\t\"rows\": ");
    write_u64(result.rows.len() as u64, out);
    out.extend_from_slice(b",\n\n");
    write_json_statistics(&result.statistics, out);
    out.extend_from_slice(b"\n}\n");
}

fn write_json_meta(columns: &[ResultColumn], out: &mut Vec<u8>) {
    out.extend_from_slice(b"\t\"meta\":\n\t[\n");
    for (index, column) in columns.iter().enumerate() {
        if index > 0 {
            out.extend_from_slice(b",\n");
        }
        out.extend_from_slice(b"\t\t{\n\t\t\t\"name\": ");
        write_json_string(&column.name, out);
        out.extend_from_slice(b",\n\t\t\t\"type\": ");
        write_json_string(column.data_type.clickhouse_name(), out);
        out.extend_from_slice(b"\n\t\t}");
    }
    out.extend_from_slice(b"\n\t]");
}

fn write_json_data(result: &ResultSet, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\t\"data\":\n\t[\n");
    for (index, row) in result.rows.iter().enumerate() {
        if index > 0 {
            out.extend_from_slice(b",\n");
        }
        out.extend_from_slice(b"\t\t{\n");
        for (column_index, column) in result.columns.iter().enumerate() {
            if column_index > 0 {
                out.extend_from_slice(b",\n");
            }
            out.extend_from_slice(b"\t\t\t");
            write_json_string(&column.name, out);
            out.extend_from_slice(b": ");
            write_json_value(column.data_type, row_value(row, column_index), out);
        }
        out.extend_from_slice(b"\n\t\t}");
    }
    out.extend_from_slice(b"\n\t]");
}

fn write_json_compact_data(result: &ResultSet, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\t\"data\":\n\t[\n");
    for (index, row) in result.rows.iter().enumerate() {
        if index > 0 {
            out.extend_from_slice(b",\n");
        }
        out.extend_from_slice(b"\t\t");
        write_json_array(result, row, out);
    }
    out.extend_from_slice(b"\n\t]");
}

/// One row as a JSON array, values separated by `, ` as ClickHouse writes them.
fn write_json_array(result: &ResultSet, row: &[Value], out: &mut Vec<u8>) {
    out.push(b'[');
    for (column_index, column) in result.columns.iter().enumerate() {
        if column_index > 0 {
            out.extend_from_slice(b", ");
        }
        write_json_value(column.data_type, row_value(row, column_index), out);
    }
    out.push(b']');
}

fn write_json_statistics(statistics: &QueryStatistics, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\t\"statistics\":\n\t{\n\t\t\"elapsed\": ");
    write_json_float(DataType::Float64, statistics.elapsed_seconds, out);
    out.extend_from_slice(b",\n\t\t\"rows_read\": ");
    write_u64(statistics.rows_read, out);
    out.extend_from_slice(b",\n\t\t\"bytes_read\": ");
    write_u64(statistics.bytes_read, out);
    out.extend_from_slice(b"\n\t}");
}

/// Writes ClickHouse's `JSONEachRow`: one compact object per row, each on its own line.
pub(crate) fn write_json_each_row(result: &ResultSet, out: &mut Vec<u8>) {
    for row in &result.rows {
        out.push(b'{');
        for (column_index, column) in result.columns.iter().enumerate() {
            if column_index > 0 {
                out.push(b',');
            }
            write_json_string(&column.name, out);
            out.push(b':');
            write_json_value(column.data_type, row_value(row, column_index), out);
        }
        out.extend_from_slice(b"}\n");
    }
}

/// Writes ClickHouse's `JSONCompactEachRow`: one array of values per row, each on its own line.
pub(crate) fn write_json_compact_each_row(result: &ResultSet, out: &mut Vec<u8>) {
    for row in &result.rows {
        write_json_array(result, row, out);
        out.push(b'\n');
    }
}

/// Writes `CSV`, after a line of quoted column names when `with_names`.
pub(crate) fn write_csv(result: &ResultSet, with_names: bool, out: &mut Vec<u8>) {
    if with_names {
        for (index, column) in result.columns.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_csv_string(&column.name, out);
        }
        out.push(b'\n');
    }
    for row in &result.rows {
        for (column_index, column) in result.columns.iter().enumerate() {
            if column_index > 0 {
                out.push(b',');
            }
            write_csv_value(column.data_type, row_value(row, column_index), out);
        }
        out.push(b'\n');
    }
}

/// Writes `TabSeparated`, after a line of escaped column names when `with_names`.
pub(crate) fn write_tab_separated(result: &ResultSet, with_names: bool, out: &mut Vec<u8>) {
    if with_names {
        for (index, column) in result.columns.iter().enumerate() {
            if index > 0 {
                out.push(b'\t');
            }
            write_tab_separated_string(&column.name, out);
        }
        out.push(b'\n');
    }
    for row in &result.rows {
        for (column_index, column) in result.columns.iter().enumerate() {
            if column_index > 0 {
                out.push(b'\t');
            }
            write_tab_separated_value(column.data_type, row_value(row, column_index), out);
        }
        out.push(b'\n');
    }
}

/// The row's value for a column; a short row (a bug upstream) reads as NULL, never a panic.
fn row_value(row: &[Value], column_index: usize) -> &Value {
    row.get(column_index).unwrap_or(&Value::Null)
}

fn write_json_value(data_type: DataType, value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(value) => write_bool(*value, out),
        Value::Float(value) => write_json_float(data_type, *value, out),
        Value::Str(text) => write_json_string(text, out),
        Value::Int(value) => match data_type {
            DataType::Int64 | DataType::UInt64 | DataType::Symbol | DataType::Timestamp => {
                out.push(b'"');
                write_int_text(data_type, *value, out);
                out.push(b'"');
            }
            DataType::Int32 | DataType::Float64 | DataType::Float32 | DataType::Bool => {
                write_int_text(data_type, *value, out)
            }
        },
    }
}

fn write_csv_value(data_type: DataType, value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"\\N"),
        Value::Bool(value) => write_bool(*value, out),
        Value::Float(value) => write_text_float(data_type, *value, out),
        Value::Str(text) => write_csv_string(text, out),
        Value::Int(value) => match data_type {
            DataType::Symbol | DataType::Timestamp => {
                out.push(b'"');
                write_int_text(data_type, *value, out);
                out.push(b'"');
            }
            DataType::Int64
            | DataType::UInt64
            | DataType::Int32
            | DataType::Float64
            | DataType::Float32
            | DataType::Bool => write_int_text(data_type, *value, out),
        },
    }
}

fn write_tab_separated_value(data_type: DataType, value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"\\N"),
        Value::Bool(value) => write_bool(*value, out),
        Value::Float(value) => write_text_float(data_type, *value, out),
        Value::Str(text) => write_tab_separated_string(text, out),
        Value::Int(value) => write_int_text(data_type, *value, out),
    }
}

/// An integer value as its column type prints it, without quotes.
fn write_int_text(data_type: DataType, value: i64, out: &mut Vec<u8>) {
    match data_type {
        DataType::Timestamp => write_timestamp_ns(value, out),
        // UInt64 lives in an i64; its bits are the unsigned value.
        DataType::UInt64 => write_u64(value as u64, out),
        DataType::Bool => write_bool(value != 0, out),
        DataType::Int64
        | DataType::Int32
        | DataType::Float64
        | DataType::Float32
        | DataType::Symbol => write_i64(value, out),
    }
}

fn write_bool(value: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

fn write_json_float(data_type: DataType, value: f64, out: &mut Vec<u8>) {
    if value.is_finite() {
        write_float(data_type, value, out);
    } else {
        out.extend_from_slice(b"null");
    }
}

fn write_text_float(data_type: DataType, value: f64, out: &mut Vec<u8>) {
    if value.is_nan() {
        out.extend_from_slice(b"nan");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"inf" } else { b"-inf" });
    } else {
        write_float(data_type, value, out);
    }
}

/// A finite float, shortest round-trip; a Float32 column prints its f32's shortest digits
/// (`0.1`, not `0.10000000149011612`) when the value is an f32 exactly.
fn write_float(data_type: DataType, value: f64, out: &mut Vec<u8>) {
    let magnitude = value.abs();
    let decimal = magnitude == 0.0 || (FLOAT_DECIMAL_MIN..FLOAT_DECIMAL_MAX).contains(&magnitude);
    let as_f32 = data_type == DataType::Float32 && f64::from(value as f32) == value;
    // Writing into a Vec cannot fail.
    let _ = match (as_f32, decimal) {
        (true, true) => write!(out, "{}", value as f32),
        (true, false) => write!(out, "{:e}", value as f32),
        (false, true) => write!(out, "{value}"),
        (false, false) => write!(out, "{value:e}"),
    };
}

fn write_i64(value: i64, out: &mut Vec<u8>) {
    if value < 0 {
        out.push(b'-');
    }
    write_u64(value.unsigned_abs(), out);
}

fn write_u64(value: u64, out: &mut Vec<u8>) {
    write_digits(value, 1, out);
}

/// Writes `value` in decimal, zero-padded to at least `width` digits (`width` <= 20).
fn write_digits(mut value: u64, width: usize, out: &mut Vec<u8>) {
    const DIGITS_MAX: usize = 20; // u64::MAX has 20 digits
    let mut buffer = [b'0'; DIGITS_MAX];
    let mut start = DIGITS_MAX;
    while value > 0 && start > 0 {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
    }
    let start = start.min(DIGITS_MAX.saturating_sub(width));
    out.extend_from_slice(&buffer[start..]);
}

/// Writes `nanos` as `format_timestamp_ns` does (`2024-01-02 09:30:00.000000000`), without
/// allocating: the calendar date comes from Howard Hinnant's `civil_from_days`.
fn write_timestamp_ns(nanos: i64, out: &mut Vec<u8>) {
    let seconds = nanos.div_euclid(NANOS_PER_SECOND);
    let subsecond_ns = nanos.rem_euclid(NANOS_PER_SECOND);
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
    // i64 nanoseconds span 1677-09-21 to 2262-04-11, so the year always has four digits; the
    // fallback only keeps this total.
    let year = match u64::try_from(year) {
        Ok(year) if year <= 9999 => year,
        _ => {
            out.extend_from_slice(format_timestamp_ns(nanos).as_bytes());
            return;
        }
    };
    write_digits(year, 4, out);
    out.push(b'-');
    write_digits(u64::from(month), 2, out);
    out.push(b'-');
    write_digits(u64::from(day), 2, out);
    out.push(b' ');
    write_digits((second_of_day / 3600) as u64, 2, out);
    out.push(b':');
    write_digits((second_of_day / 60 % 60) as u64, 2, out);
    out.push(b':');
    write_digits((second_of_day % 60) as u64, 2, out);
    out.push(b'.');
    write_digits(subsecond_ns as u64, 9, out);
}

/// `nanos` in ISO 8601 / RFC 3339 form, `2024-01-02T09:30:00.000000000Z` (UTC).
pub(super) fn timestamp_iso(nanos: i64) -> String {
    let mut out = Vec::with_capacity(32);
    write_timestamp_ns(nanos, &mut out);
    if let Some(space) = out.iter().position(|&b| b == b' ') {
        out[space] = b'T';
    }
    out.push(b'Z');
    String::from_utf8_lossy(&out).into_owned()
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31) in the proleptic Gregorian calendar.
///
/// Shifts the epoch to 0000-03-01 so leap days fall at the end of a year, splits into
/// 400-year eras of 146097 days, then finds the year of era and the March-based day of year.
/// Worked example: day 0 → z = 719468, era 4, day of era 135080, year of era 369 → year 1969,
/// day of year 306 → March-based month 10 → January of 1970, day 1.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day)
}

/// A JSON string literal with ClickHouse's escapes: `\"`, `\\`, `\/`, `\b \f \n \r \t`,
/// `\u00XX` for other control bytes, and `\u2028`/`\u2029` (line breaks to JavaScript).
fn write_json_string(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    out.push(b'"');
    let mut run_start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'/' => b"\\/",
            b'\x08' => b"\\b",
            b'\x0c' => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => b"",
            0xe2 if bytes.get(index + 1) == Some(&0x80)
                && matches!(bytes.get(index + 2), Some(0xa8 | 0xa9)) =>
            {
                b""
            }
            _ => continue,
        };
        out.extend_from_slice(bytes.get(run_start..index).unwrap_or_default());
        run_start = index + 1;
        if !escape.is_empty() {
            out.extend_from_slice(escape);
        } else if byte == 0xe2 {
            let last = if bytes.get(index + 2) == Some(&0xa8) {
                b"\\u2028"
            } else {
                b"\\u2029"
            };
            out.extend_from_slice(last);
            run_start = index + 3;
        } else {
            write_json_control_escape(byte, out);
        }
    }
    out.extend_from_slice(bytes.get(run_start..).unwrap_or_default());
    out.push(b'"');
}

fn write_json_control_escape(byte: u8, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(b"\\u00");
    out.push(HEX[usize::from(byte >> 4)]);
    out.push(HEX[usize::from(byte & 0x0f)]);
}

/// A double-quoted CSV field; a quote inside is doubled.
fn write_csv_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for (index, part) in text.split('"').enumerate() {
        if index > 0 {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(part.as_bytes());
    }
    out.push(b'"');
}

/// A TabSeparated field with ClickHouse's escapes: `\b \f \n \r \t \0 \\ \'`.
fn write_tab_separated_string(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    let mut run_start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'\x08' => b"\\b",
            b'\x0c' => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            b'\0' => b"\\0",
            b'\\' => b"\\\\",
            b'\'' => b"\\'",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(run_start..index).unwrap_or_default());
        out.extend_from_slice(escape);
        run_start = index + 1;
    }
    out.extend_from_slice(bytes.get(run_start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use quecto_engine::time::parse_timestamp_ns;

    fn column(name: &str, data_type: DataType) -> ResultColumn {
        ResultColumn {
            name: name.into(),
            data_type,
        }
    }

    fn result(columns: Vec<ResultColumn>, rows: Vec<Vec<Value>>) -> ResultSet {
        let statistics = QueryStatistics {
            elapsed_seconds: 0.000123,
            rows_read: 2,
            bytes_read: 48,
        };
        ResultSet {
            columns,
            rows,
            statistics,
        }
    }

    fn text(write: fn(&ResultSet, &mut Vec<u8>), result: &ResultSet) -> String {
        let mut out = Vec::new();
        write(result, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn json_value(data_type: DataType, value: Value) -> String {
        let mut out = Vec::new();
        write_json_value(data_type, &value, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn trades_result() -> ResultSet {
        result(
            vec![
                column("symbol", DataType::Symbol),
                column("timestamp", DataType::Timestamp),
                column("price", DataType::Float64),
                column("volume", DataType::Int64),
                column("n", DataType::Int32),
            ],
            vec![
                vec![
                    Value::Str("AAPL".into()),
                    Value::Int(1_704_187_800_123_456_789),
                    Value::Float(187.5),
                    Value::Int(100),
                    Value::Int(3),
                ],
                vec![
                    Value::Str("a \"b\", c".into()),
                    Value::Int(0),
                    Value::Null,
                    Value::Int(-1),
                    Value::Null,
                ],
            ],
        )
    }

    #[test]
    fn json_output_matches_clickhouse_layout_exactly() {
        let result = result(
            vec![column("c", DataType::Int64), column("x", DataType::Float64)],
            vec![vec![Value::Int(1), Value::Float(0.5)]],
        );
        let expected = "{\n\
            \t\"meta\":\n\t[\n\
            \t\t{\n\t\t\t\"name\": \"c\",\n\t\t\t\"type\": \"Int64\"\n\t\t},\n\
            \t\t{\n\t\t\t\"name\": \"x\",\n\t\t\t\"type\": \"Float64\"\n\t\t}\n\
            \t],\n\n\
            \t\"data\":\n\t[\n\
            \t\t{\n\t\t\t\"c\": \"1\",\n\t\t\t\"x\": 0.5\n\t\t}\n\
            \t],\n\n\
            \t\"rows\": 1,\n\n\
            \t\"statistics\":\n\t{\n\
            \t\t\"elapsed\": 0.000123,\n\t\t\"rows_read\": 2,\n\t\t\"bytes_read\": 48\n\
            \t}\n\
            }\n";
        assert_eq!(text(write_json, &result), expected);
    }

    #[test]
    fn json_output_with_no_rows_keeps_an_empty_data_array() {
        let result = result(vec![column("c", DataType::Int32)], vec![]);
        let output = text(write_json, &result);
        assert!(
            output.contains("\t\"data\":\n\t[\n\n\t],\n\n\t\"rows\": 0,"),
            "{output}"
        );
        serde_json::from_str::<serde_json::Value>(&output).unwrap();
    }

    #[test]
    fn json_output_is_valid_json_with_typed_values() {
        let output = text(write_json, &trades_result());
        let parsed: serde_json::Value = serde_json::from_str(&output).unwrap();
        let data = &parsed["data"];
        assert_eq!(data[0]["symbol"], "AAPL");
        assert_eq!(data[0]["timestamp"], "2024-01-02 09:30:00.123456789");
        assert_eq!(data[0]["price"], 187.5);
        assert_eq!(data[0]["volume"], "100");
        assert_eq!(data[0]["n"], 3);
        assert_eq!(data[1]["symbol"], "a \"b\", c");
        assert_eq!(data[1]["timestamp"], "1970-01-01 00:00:00.000000000");
        assert!(data[1]["price"].is_null() && data[1]["n"].is_null());
        assert_eq!(parsed["meta"][1]["type"], "DateTime64(9)");
        assert_eq!(parsed["meta"][0]["type"], "String");
        assert_eq!(parsed["rows"], 2);
    }

    #[test]
    fn json_quotes_64_bit_integers_but_not_int32() {
        assert_eq!(
            json_value(DataType::Int64, Value::Int(i64::MIN)),
            "\"-9223372036854775808\""
        );
        assert_eq!(
            json_value(DataType::UInt64, Value::Int(-1)),
            "\"18446744073709551615\""
        );
        assert_eq!(json_value(DataType::UInt64, Value::Int(0)), "\"0\"");
        assert_eq!(
            json_value(DataType::Int32, Value::Int(-2147483648)),
            "-2147483648"
        );
        assert_eq!(json_value(DataType::Bool, Value::Bool(true)), "true");
        assert_eq!(json_value(DataType::Bool, Value::Int(0)), "false");
        assert_eq!(json_value(DataType::Int64, Value::Null), "null");
    }

    #[test]
    fn json_floats_round_trip_and_stay_valid_json() {
        assert_eq!(
            json_value(DataType::Float64, Value::Float(0.1 + 0.2)),
            "0.30000000000000004"
        );
        assert_eq!(json_value(DataType::Float64, Value::Float(0.1)), "0.1");
        assert_eq!(json_value(DataType::Float64, Value::Float(1.0)), "1");
        assert_eq!(json_value(DataType::Float64, Value::Float(-0.0)), "-0");
        assert_eq!(json_value(DataType::Float64, Value::Float(1e21)), "1e21");
        assert_eq!(
            json_value(DataType::Float64, Value::Float(1e20)),
            "100000000000000000000"
        );
        assert_eq!(
            json_value(DataType::Float64, Value::Float(1e-6)),
            "0.000001"
        );
        assert_eq!(
            json_value(DataType::Float64, Value::Float(1.5e-7)),
            "1.5e-7"
        );
        assert_eq!(
            json_value(DataType::Float64, Value::Float(f64::MAX)),
            "1.7976931348623157e308"
        );
        assert_eq!(
            json_value(DataType::Float64, Value::Float(f64::NAN)),
            "null"
        );
        assert_eq!(
            json_value(DataType::Float64, Value::Float(f64::NEG_INFINITY)),
            "null"
        );
        assert_eq!(
            json_value(DataType::Float32, Value::Float(f64::from(0.1f32))),
            "0.1"
        );
        // Not an f32 (a merged sum, say): printed as the f64 it is, never as an f32 `inf`.
        assert_eq!(json_value(DataType::Float32, Value::Float(1e300)), "1e300");
        assert_eq!(json_value(DataType::Float32, Value::Float(0.1)), "0.1");
        let samples = [
            0.1 + 0.2,
            1e21,
            1.5e-7,
            f64::MAX,
            f64::MIN_POSITIVE,
            123456.789,
            -2.5e300,
        ];
        for value in samples {
            let printed = json_value(DataType::Float64, Value::Float(value));
            let parsed: serde_json::Value = serde_json::from_str(&printed).unwrap();
            assert_eq!(parsed.as_f64(), Some(value), "{printed}");
        }
    }

    #[test]
    fn json_strings_escape_quotes_controls_slashes_and_line_separators() {
        let value = Value::Str("a\"b\\c/d\ne\tf\u{1}g\u{2028}h\u{2029}é".into());
        let printed = json_value(DataType::Symbol, value);
        assert_eq!(
            printed,
            "\"a\\\"b\\\\c\\/d\\ne\\tf\\u0001g\\u2028h\\u2029é\""
        );
        let parsed: serde_json::Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(parsed, "a\"b\\c/d\ne\tf\u{1}g\u{2028}h\u{2029}é");
    }

    #[test]
    fn json_each_row_prints_one_compact_object_per_line() {
        let output = text(write_json_each_row, &trades_result());
        let expected = concat!(
            r#"{"symbol":"AAPL","timestamp":"2024-01-02 09:30:00.123456789","#,
            r#""price":187.5,"volume":"100","n":3}"#,
            "\n",
            r#"{"symbol":"a \"b\", c","timestamp":"1970-01-01 00:00:00.000000000","#,
            r#""price":null,"volume":"-1","n":null}"#,
            "\n",
        );
        assert_eq!(output, expected);
    }

    #[test]
    fn csv_quotes_strings_and_timestamps_and_writes_null_as_backslash_n() {
        let mut out = Vec::new();
        write_csv(&trades_result(), true, &mut out);
        let expected = "\"symbol\",\"timestamp\",\"price\",\"volume\",\"n\"\n\
                        \"AAPL\",\"2024-01-02 09:30:00.123456789\",187.5,100,3\n\
                        \"a \"\"b\"\", c\",\"1970-01-01 00:00:00.000000000\",\\N,-1,\\N\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        let mut out = Vec::new();
        write_csv(&trades_result(), false, &mut out);
        assert!(String::from_utf8(out).unwrap().starts_with("\"AAPL\""));
    }

    #[test]
    fn csv_and_tsv_print_bools_and_special_floats_like_clickhouse() {
        let result = result(
            vec![column("b", DataType::Bool), column("f", DataType::Float64)],
            vec![
                vec![Value::Bool(true), Value::Float(f64::NAN)],
                vec![Value::Bool(false), Value::Float(f64::INFINITY)],
                vec![Value::Null, Value::Float(f64::NEG_INFINITY)],
            ],
        );
        let mut csv = Vec::new();
        write_csv(&result, false, &mut csv);
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "true,nan\nfalse,inf\n\\N,-inf\n"
        );
        let mut tsv = Vec::new();
        write_tab_separated(&result, false, &mut tsv);
        assert_eq!(
            String::from_utf8(tsv).unwrap(),
            "true\tnan\nfalse\tinf\n\\N\t-inf\n"
        );
    }

    #[test]
    fn tsv_escapes_tabs_newlines_backslashes_and_quotes() {
        let result = result(
            vec![
                column("a\tb", DataType::Symbol),
                column("ts", DataType::Timestamp),
            ],
            vec![vec![Value::Str("x\ty\nz\\w'q\0\r".into()), Value::Int(-1)]],
        );
        let mut out = Vec::new();
        write_tab_separated(&result, true, &mut out);
        let expected = "a\\tb\tts\nx\\ty\\nz\\\\w\\'q\\0\\r\t1969-12-31 23:59:59.999999999\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn timestamp_writer_matches_format_timestamp_ns() {
        let mut samples = vec![
            i64::MIN,
            i64::MAX,
            -1,
            0,
            1,
            951_782_400_000_000_000,    // 2000-02-29
            951_868_799_999_999_999,    // 2000-02-29 23:59:59.999999999
            -2_203_891_200_000_000_000, // 1900-03-01
            4_107_456_000_000_000_000,  // 2100-02-28
            parse_timestamp_ns("2024-12-31 23:59:59.5").unwrap(),
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            samples.push(state as i64);
        }
        for nanos in samples {
            let mut out = Vec::new();
            write_timestamp_ns(nanos, &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format_timestamp_ns(nanos),
                "{nanos}"
            );
        }
    }

    #[test]
    fn short_rows_print_null_instead_of_panicking() {
        let result = result(
            vec![column("a", DataType::Int64), column("b", DataType::Int32)],
            vec![vec![]],
        );
        assert_eq!(
            text(write_json_each_row, &result),
            "{\"a\":null,\"b\":null}\n"
        );
    }
}
