//! Data formats of the ClickHouse-compatible HTTP interface: input bodies into row batches,
//! result sets into response bodies.
//!
//! Input parsers read a whole request body and feed a `BatchBuilder` field by field; they own
//! the syntax of each format (quoting, escapes, framing) and nothing else. What a value means
//! for its column (number parsing, timestamps, NULL in key columns) is the builder's business,
//! and its errors come back wrapped with the row and line they were found on. Output writers
//! append ClickHouse's exact byte shapes to a caller's `Vec<u8>`, with no `String` per value.
//!
//! Choosing a format:
//! - `Native` (ClickHouse's column blocks) is the cheapest for both sides when the sender holds
//!   columns: each fixed-width column is one contiguous run of bytes, copied as it is when its
//!   type is already the column's. Blocks name their columns and may carry NULLs.
//! - `RowBinary` is the cheapest row format (no text, no escapes); it has no NULLs and the
//!   body must follow the column order exactly.
//! - `CSV` and `TabSeparated` are for files and shells. TSV is cheaper (no quote state) and
//!   round-trips any string through its backslash escapes; CSV is what spreadsheets write.
//! - `JSONEachRow` names every value's column, so rows may omit or reorder columns, at the
//!   cost of a JSON parse per row.
//!
//! Nothing here panics on any input: every malformed body is a `FormatError`.

mod binary_reader;
mod error;
mod input_json;
mod input_native;
mod input_rowbinary;
mod input_text;
mod output;

pub use error::{FormatError, InputPosition};

use quecto_engine::batch::BatchBuilder;
use quecto_engine::types::{DataType, Value};
use quecto_sql::result::ResultSet;

/// A format a request body can arrive in (`INSERT ... FORMAT x`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// RFC 4180 comma-separated values.
    Csv,
    /// Tab-separated values with backslash escapes.
    TabSeparated,
    /// One JSON object per line, keyed by column name.
    JsonEachRow,
    /// ClickHouse's little-endian binary rows.
    RowBinary,
    /// ClickHouse's column-oriented binary blocks.
    Native,
}

impl InputFormat {
    /// Parses a ClickHouse format name, case-insensitively: `CSV`, `TabSeparated`, `TSV`,
    /// `JSONEachRow` (also its ClickHouse aliases `JSONLines`, `NDJSON`), `RowBinary` or `Native`.
    pub fn parse(name: &str) -> Result<InputFormat, FormatError> {
        let format = match name.trim().to_ascii_lowercase().as_str() {
            "csv" => InputFormat::Csv,
            "tabseparated" | "tsv" => InputFormat::TabSeparated,
            "jsoneachrow" | "jsonlines" | "ndjson" => InputFormat::JsonEachRow,
            "rowbinary" => InputFormat::RowBinary,
            "native" => InputFormat::Native,
            _ => {
                return Err(FormatError::UnknownInputFormat {
                    name: name.to_string(),
                })
            }
        };
        Ok(format)
    }

    /// The canonical ClickHouse name.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Csv => "CSV",
            InputFormat::TabSeparated => "TabSeparated",
            InputFormat::JsonEachRow => "JSONEachRow",
            InputFormat::RowBinary => "RowBinary",
            InputFormat::Native => "Native",
        }
    }
}

/// A format a result can be written in (`SELECT ... FORMAT x`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON document: `meta`, `data`, `rows`, `statistics`, tab-indented as ClickHouse.
    Json,
    /// One compact JSON object per line.
    JsonEachRow,
    /// `JSON` with each row an array of values instead of an object.
    JsonCompact,
    /// One JSON array of values per line.
    JsonCompactEachRow,
    /// Comma-separated values without a header.
    Csv,
    /// Comma-separated values after a header line of column names.
    CsvWithNames,
    /// Tab-separated values without a header.
    TabSeparated,
    /// Tab-separated values after a header line of column names.
    TabSeparatedWithNames,
}

impl OutputFormat {
    /// Parses a ClickHouse format name, case-insensitively: `JSON`, `JSONEachRow` (`JSONLines`,
    /// `NDJSON`), `JSONCompact`, `JSONCompactEachRow`, `CSV`, `CSVWithNames`, `TabSeparated`
    /// (`TSV`), `TabSeparatedWithNames` (`TSVWithNames`).
    pub fn parse(name: &str) -> Result<OutputFormat, FormatError> {
        let format = match name.trim().to_ascii_lowercase().as_str() {
            "json" => OutputFormat::Json,
            "jsoneachrow" | "jsonlines" | "ndjson" => OutputFormat::JsonEachRow,
            "jsoncompact" => OutputFormat::JsonCompact,
            "jsoncompacteachrow" => OutputFormat::JsonCompactEachRow,
            "csv" => OutputFormat::Csv,
            "csvwithnames" => OutputFormat::CsvWithNames,
            "tabseparated" | "tsv" => OutputFormat::TabSeparated,
            "tabseparatedwithnames" | "tsvwithnames" => OutputFormat::TabSeparatedWithNames,
            _ => {
                return Err(FormatError::UnknownOutputFormat {
                    name: name.to_string(),
                })
            }
        };
        Ok(format)
    }

    /// The canonical ClickHouse name.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Json => "JSON",
            OutputFormat::JsonEachRow => "JSONEachRow",
            OutputFormat::JsonCompact => "JSONCompact",
            OutputFormat::JsonCompactEachRow => "JSONCompactEachRow",
            OutputFormat::Csv => "CSV",
            OutputFormat::CsvWithNames => "CSVWithNames",
            OutputFormat::TabSeparated => "TabSeparated",
            OutputFormat::TabSeparatedWithNames => "TabSeparatedWithNames",
        }
    }

    /// The `Content-Type` ClickHouse sends with this format.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Json
            | OutputFormat::JsonEachRow
            | OutputFormat::JsonCompact
            | OutputFormat::JsonCompactEachRow => "application/json; charset=UTF-8",
            OutputFormat::Csv => "text/csv; charset=UTF-8; header=absent",
            OutputFormat::CsvWithNames => "text/csv; charset=UTF-8; header=present",
            OutputFormat::TabSeparated | OutputFormat::TabSeparatedWithNames => {
                "text/tab-separated-values; charset=UTF-8"
            }
        }
    }
}

/// How TIMESTAMP values are written (ClickHouse's `date_time_output_format` setting, given as
/// a URL parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimestampStyle {
    /// `2024-01-02 09:30:00.000000000` (UTC, nanoseconds): ClickHouse's default layout.
    #[default]
    Simple,
    /// ISO 8601 / RFC 3339: `2024-01-02T09:30:00.000000000Z`.
    Iso,
    /// Integer nanoseconds since the epoch, written as an INT64 column.
    UnixTimestamp,
}

impl TimestampStyle {
    /// Parses `simple`, `iso` or `unix_timestamp`, case-insensitively.
    pub fn parse(name: &str) -> Result<TimestampStyle, FormatError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "simple" => Ok(TimestampStyle::Simple),
            "iso" => Ok(TimestampStyle::Iso),
            "unix_timestamp" => Ok(TimestampStyle::UnixTimestamp),
            _ => Err(FormatError::UnknownTimestampStyle {
                name: name.to_string(),
            }),
        }
    }
}

/// Rewrites the TIMESTAMP columns of `result` for `style`: unchanged for `Simple`, strings for
/// `Iso` (quoted where the format quotes strings, as timestamps already are), INT64 for
/// `UnixTimestamp`. NULLs stay NULL.
pub fn apply_timestamp_style(result: &mut ResultSet, style: TimestampStyle) {
    let columns: Vec<usize> = result
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.data_type == DataType::Timestamp)
        .map(|(i, _)| i)
        .collect();
    let data_type = match style {
        TimestampStyle::Simple => return,
        TimestampStyle::Iso => DataType::Symbol,
        TimestampStyle::UnixTimestamp => DataType::Int64,
    };
    for &index in &columns {
        result.columns[index].data_type = data_type;
    }
    if style != TimestampStyle::Iso {
        return;
    }
    for row in &mut result.rows {
        for &index in &columns {
            if let Some(value) = row.get_mut(index) {
                if let Value::Int(nanos) = *value {
                    *value = Value::Str(output::timestamp_iso(nanos));
                }
            }
        }
    }
}

/// Parses a whole request body in `format` into `builder`, one builder row per input row.
///
/// `field_names[i]` is the column name of the builder's input field `i`; JSONEachRow keys and
/// Native block columns are matched against them case-insensitively, and those two formats
/// then need one name per field. The other formats are positional and ignore it (pass `&[]`).
/// On error the builder holds a partial row and should be dropped.
pub fn parse_input(
    format: InputFormat,
    body: &[u8],
    field_names: &[&str],
    builder: &mut BatchBuilder<'_>,
) -> Result<(), FormatError> {
    match format {
        InputFormat::Csv => input_text::parse_csv(body, builder),
        InputFormat::TabSeparated => input_text::parse_tab_separated(body, builder),
        InputFormat::JsonEachRow => input_json::parse_json_each_row(body, field_names, builder),
        InputFormat::RowBinary => input_rowbinary::parse_row_binary(body, builder),
        InputFormat::Native => input_native::parse_native(body, field_names, builder),
    }
}

/// Appends `result` to `out` in `format`, byte for byte as ClickHouse writes it.
///
/// Writing into a `Vec` cannot fail, so neither can this.
pub fn write_output(format: OutputFormat, result: &ResultSet, out: &mut Vec<u8>) {
    match format {
        OutputFormat::Json => output::write_json(result, out),
        OutputFormat::JsonEachRow => output::write_json_each_row(result, out),
        OutputFormat::JsonCompact => output::write_json_compact(result, out),
        OutputFormat::JsonCompactEachRow => output::write_json_compact_each_row(result, out),
        OutputFormat::Csv => output::write_csv(result, false, out),
        OutputFormat::CsvWithNames => output::write_csv(result, true, out),
        OutputFormat::TabSeparated => output::write_tab_separated(result, false, out),
        OutputFormat::TabSeparatedWithNames => output::write_tab_separated(result, true, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_format_names_are_case_insensitive() {
        assert_eq!(InputFormat::parse("csv"), Ok(InputFormat::Csv));
        assert_eq!(InputFormat::parse("TSV"), Ok(InputFormat::TabSeparated));
        assert_eq!(
            InputFormat::parse("tabSeparated"),
            Ok(InputFormat::TabSeparated)
        );
        assert_eq!(
            InputFormat::parse("JSONEachRow"),
            Ok(InputFormat::JsonEachRow)
        );
        assert_eq!(
            InputFormat::parse("jsoneachrow"),
            Ok(InputFormat::JsonEachRow)
        );
        assert_eq!(InputFormat::parse("RowBinary"), Ok(InputFormat::RowBinary));
    }

    #[test]
    fn unknown_input_format_is_named() {
        let error = InputFormat::parse("CSVWithNames").unwrap_err();
        assert_eq!(
            error,
            FormatError::UnknownInputFormat {
                name: "CSVWithNames".into()
            }
        );
        assert_eq!(error.code(), "UNKNOWN_FORMAT");
        assert!(InputFormat::parse("Parquet").is_err());
    }

    #[test]
    fn output_format_names_and_aliases_parse() {
        assert_eq!(OutputFormat::parse("json"), Ok(OutputFormat::Json));
        assert_eq!(
            OutputFormat::parse("JSONEachRow"),
            Ok(OutputFormat::JsonEachRow)
        );
        assert_eq!(OutputFormat::parse("CSV"), Ok(OutputFormat::Csv));
        assert_eq!(
            OutputFormat::parse("csvwithnames"),
            Ok(OutputFormat::CsvWithNames)
        );
        assert_eq!(OutputFormat::parse("TSV"), Ok(OutputFormat::TabSeparated));
        assert_eq!(
            OutputFormat::parse("TSVWithNames"),
            Ok(OutputFormat::TabSeparatedWithNames)
        );
        assert_eq!(
            OutputFormat::parse("TabSeparatedWithNames"),
            Ok(OutputFormat::TabSeparatedWithNames)
        );
        assert_eq!(
            OutputFormat::parse("jsoncompact"),
            Ok(OutputFormat::JsonCompact)
        );
        assert!(OutputFormat::parse("JSONStrings").is_err());
        assert!(OutputFormat::parse("RowBinary").is_err());
    }

    #[test]
    fn canonical_names_parse_back() {
        let inputs = [
            InputFormat::Csv,
            InputFormat::TabSeparated,
            InputFormat::JsonEachRow,
            InputFormat::RowBinary,
        ];
        for format in inputs {
            assert_eq!(InputFormat::parse(format.name()), Ok(format));
        }
        let outputs = [
            OutputFormat::Json,
            OutputFormat::JsonEachRow,
            OutputFormat::JsonCompact,
            OutputFormat::JsonCompactEachRow,
            OutputFormat::Csv,
            OutputFormat::CsvWithNames,
            OutputFormat::TabSeparated,
            OutputFormat::TabSeparatedWithNames,
        ];
        for format in outputs {
            assert_eq!(OutputFormat::parse(format.name()), Ok(format));
        }
    }

    use quecto_engine::batch::{BatchBuilder, ColumnValues, RowBatch};
    use quecto_engine::types::Value;
    use quecto_sql::result::{QueryStatistics, ResultColumn};
    use test_support::trades_schema;

    /// Trades whose strings hold every character the text formats must quote or escape.
    fn tricky_trades() -> ResultSet {
        let schema = trades_schema();
        let columns = schema
            .columns
            .iter()
            .map(|column| ResultColumn {
                name: column.name.clone(),
                data_type: column.data_type,
            })
            .collect();
        let symbols = [
            "plain",
            "a,b",
            "say \"hi\"",
            "tab\there",
            "new\nline",
            "back\\slash",
            "",
            "é'",
        ];
        let rows = symbols
            .iter()
            .enumerate()
            .map(|(index, symbol)| {
                let volume = if index % 3 == 0 {
                    Value::Null
                } else {
                    Value::Int(index as i64 - 4)
                };
                vec![
                    Value::Str(symbol.to_string()),
                    Value::Int(1_704_187_800_123_456_789 + index as i64),
                    Value::Float(0.1 + 0.2 * index as f64),
                    volume,
                ]
            })
            .collect();
        ResultSet {
            columns,
            rows,
            statistics: QueryStatistics::default(),
        }
    }

    fn parse_body(format: InputFormat, body: &[u8]) -> Result<RowBatch, FormatError> {
        let schema = trades_schema();
        let names: Vec<&str> = schema
            .columns
            .iter()
            .map(|column| column.name.as_str())
            .collect();
        let mut builder = BatchBuilder::all_columns(&schema).unwrap();
        parse_input(format, body, &names, &mut builder)?;
        Ok(builder.finish())
    }

    fn assert_batch_matches(batch: &RowBatch, result: &ResultSet) {
        assert_eq!(batch.rows_count, result.rows.len());
        let ColumnValues::Symbol(symbols) = &batch.columns[0].values else {
            panic!()
        };
        let ColumnValues::Timestamp(timestamps) = &batch.columns[1].values else {
            panic!()
        };
        let ColumnValues::Float64(prices) = &batch.columns[2].values else {
            panic!()
        };
        let ColumnValues::Int64(volumes) = &batch.columns[3].values else {
            panic!()
        };
        for (index, row) in result.rows.iter().enumerate() {
            assert_eq!(
                Value::Str(symbols.get(index).to_string()),
                row[0],
                "row {index}"
            );
            assert_eq!(Value::Int(timestamps[index]), row[1], "row {index}");
            assert_eq!(Value::Float(prices[index]), row[2], "row {index}");
            let is_null = batch.columns[3]
                .nulls
                .as_ref()
                .is_some_and(|mask| mask[index]);
            let volume = if is_null {
                Value::Null
            } else {
                Value::Int(volumes[index])
            };
            assert_eq!(volume, row[3], "row {index}");
        }
    }

    #[test]
    fn outputs_parse_back_to_the_same_rows() {
        let result = tricky_trades();
        let pairs = [
            (OutputFormat::Csv, InputFormat::Csv),
            (OutputFormat::TabSeparated, InputFormat::TabSeparated),
            (OutputFormat::JsonEachRow, InputFormat::JsonEachRow),
        ];
        for (output, input) in pairs {
            let mut body = Vec::new();
            write_output(output, &result, &mut body);
            let batch =
                parse_body(input, &body).unwrap_or_else(|error| panic!("{input:?}: {error}"));
            assert_batch_matches(&batch, &result);
        }
    }

    /// Valid bodies with bytes overwritten and tails cut: deeper than random bytes reach.
    #[test]
    fn mutated_valid_bodies_never_panic_any_parser() {
        let result = tricky_trades();
        let mut row_binary = Vec::new();
        for row in &result.rows {
            let Value::Str(symbol) = &row[0] else {
                panic!()
            };
            row_binary.push(symbol.len() as u8);
            row_binary.extend_from_slice(symbol.as_bytes());
            row_binary.extend_from_slice(&1_704_187_800_000_000_000i64.to_le_bytes());
            row_binary.extend_from_slice(&1.5f64.to_le_bytes());
            row_binary.extend_from_slice(&7i64.to_le_bytes());
        }
        assert_eq!(
            parse_body(InputFormat::RowBinary, &row_binary)
                .unwrap()
                .rows_count,
            8
        );
        let mut bodies = vec![(InputFormat::RowBinary, row_binary)];
        for (output, input) in [
            (OutputFormat::Csv, InputFormat::Csv),
            (OutputFormat::TabSeparated, InputFormat::TabSeparated),
            (OutputFormat::JsonEachRow, InputFormat::JsonEachRow),
        ] {
            let mut body = Vec::new();
            write_output(output, &result, &mut body);
            bodies.push((input, body));
        }
        let specials = b",\t\n\r\"\\{}:N\x00\x80\xff";
        let mut state: u64 = 0x1234_5678_9ABC_DEF1;
        for (format, body) in bodies {
            for cut in 0..body.len() {
                let _ = parse_body(format, &body[..cut]);
            }
            for _ in 0..3000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let mut mutated = body.clone();
                for shift in [0, 16, 32] {
                    let index = (state >> shift) as usize % mutated.len();
                    mutated[index] = specials[(state >> (shift + 8)) as usize % specials.len()];
                }
                let _ = parse_body(format, &mutated);
            }
        }
    }

    #[test]
    fn content_types_match_clickhouse() {
        assert_eq!(
            OutputFormat::Json.content_type(),
            "application/json; charset=UTF-8"
        );
        assert_eq!(
            OutputFormat::Csv.content_type(),
            "text/csv; charset=UTF-8; header=absent"
        );
        assert_eq!(
            OutputFormat::CsvWithNames.content_type(),
            "text/csv; charset=UTF-8; header=present"
        );
        assert_eq!(
            OutputFormat::TabSeparatedWithNames.content_type(),
            "text/tab-separated-values; charset=UTF-8"
        );
    }
}

/// Schemas and inputs shared by the format tests.
#[cfg(test)]
pub(crate) mod test_support {
    use quecto_engine::schema::{ColumnDef, TableSchema};
    use quecto_engine::types::DataType;

    pub(crate) fn column(name: &str, data_type: DataType) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            data_type,
        }
    }

    /// `trades(symbol SYMBOL, timestamp TIMESTAMP, price FLOAT64, volume INT64)`.
    pub(crate) fn trades_schema() -> TableSchema {
        let columns = vec![
            column("symbol", DataType::Symbol),
            column("timestamp", DataType::Timestamp),
            column("price", DataType::Float64),
            column("volume", DataType::Int64),
        ];
        TableSchema::new("trades", columns, None, None).unwrap()
    }

    /// One column of every type: `sym, ts, i64, i32, u64, f64, f32, flag, note`.
    pub(crate) fn wide_schema() -> TableSchema {
        let columns = vec![
            column("sym", DataType::Symbol),
            column("ts", DataType::Timestamp),
            column("i64", DataType::Int64),
            column("i32", DataType::Int32),
            column("u64", DataType::UInt64),
            column("f64", DataType::Float64),
            column("f32", DataType::Float32),
            column("flag", DataType::Bool),
            column("note", DataType::Symbol),
        ];
        TableSchema::new("wide", columns, None, None).unwrap()
    }

    /// Appends `value` as ClickHouse's VarUInt (unsigned LEB128).
    pub(crate) fn push_varuint(out: &mut Vec<u8>, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// Deterministic pseudo-random bodies (xorshift), half of their bytes drawn from
    /// `alphabet` so that parsers get past their first byte; lengths 0 to 256.
    pub(crate) fn random_bodies(alphabet: &[u8]) -> Vec<Vec<u8>> {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..4000)
            .map(|_| {
                let size = (next() % 257) as usize;
                (0..size)
                    .map(|_| {
                        let roll = next();
                        if roll % 2 == 0 {
                            alphabet[(roll >> 8) as usize % alphabet.len()]
                        } else {
                            (roll >> 8) as u8
                        }
                    })
                    .collect()
            })
            .collect()
    }
}
