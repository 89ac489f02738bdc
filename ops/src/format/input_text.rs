//! CSV and TabSeparated input: row framing, quoting and escapes for the two text formats.
//!
//! A row is scanned first into `FieldSpan`s (byte ranges into the body, no copies), so the
//! row's shape is checked before any value reaches the builder; then each span is pushed.
//! Only a field with escapes (`""` in quoted CSV, a backslash in TSV) is copied, into one
//! scratch `String` reused for the whole body. The body is validated as UTF-8 once, up front;
//! a body with a bad byte is parsed up to the row holding it, which is refused with its line.
//!
//! CSV follows RFC 4180 as ClickHouse reads it: `"` quotes a field and `""` is a quote inside
//! it; spaces and tabs around a field are dropped; an unquoted empty field or `\N` is NULL.
//! TabSeparated fields are split on tab and unescaped (`\t \n \\ \r \0 \' ...`); `\N` is NULL
//! and an empty field is the empty string. Both end rows at `\n` or `\r\n` and skip empty
//! lines; the last row needs no line end.

use quecto_engine::batch::BatchBuilder;
use quecto_engine::EngineError;

use super::error::{FormatError, InputPosition};

/// Which text format a body is in: they share framing, spans and the push loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    Csv,
    TabSeparated,
}

/// Where one field's text lies in the body, as found by the row scanner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldSpan {
    /// `\N`, or an empty unquoted CSV field.
    Null,
    /// `text[start..end]` is the value as it stands.
    Plain { start: usize, end: usize },
    /// `text[start..end]` holds `""` pairs (CSV) or backslash escapes (TSV) to undo.
    Escaped { start: usize, end: usize },
}

/// Why a row could not be scanned; the parent adds the row and line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScanError {
    TooManyValues,
    UnterminatedQuote,
    AfterClosingQuote(u8),
    BareCarriageReturn,
}

/// Where a scanned row ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RowEnd {
    /// Offset of the first byte after the row and its line end.
    next: usize,
    /// True when the row ended with a line end, false when the text ran out.
    terminated: bool,
}

/// The body's longest valid UTF-8 prefix and the offset of its first bad byte, if any.
struct TextBody<'a> {
    text: &'a str,
    invalid_at: Option<usize>,
}

/// Parses a CSV body into `builder`.
pub(crate) fn parse_csv(body: &[u8], builder: &mut BatchBuilder<'_>) -> Result<(), FormatError> {
    parse_text(Dialect::Csv, body, builder)
}

/// Parses a TabSeparated body into `builder`.
pub(crate) fn parse_tab_separated(
    body: &[u8],
    builder: &mut BatchBuilder<'_>,
) -> Result<(), FormatError> {
    parse_text(Dialect::TabSeparated, body, builder)
}

fn parse_text(
    dialect: Dialect,
    body: &[u8],
    builder: &mut BatchBuilder<'_>,
) -> Result<(), FormatError> {
    let input = text_body(body);
    let bytes = input.text.as_bytes();
    let fields_count = builder.fields_count();
    let mut spans = Vec::with_capacity(fields_count);
    let mut scratch = String::new();
    let mut pos = 0;
    let mut line = 1;
    loop {
        pos = skip_empty_lines(bytes, pos, &mut line);
        let row = builder.rows_count() + 1;
        if pos == bytes.len() {
            return match input.invalid_at {
                None => Ok(()),
                Some(offset) => Err(parse_text_invalid_utf8(body, row, offset)),
            };
        }
        let row_line = line;
        spans.clear();
        let scanned = match dialect {
            Dialect::Csv => scan_csv_row(bytes, pos, fields_count, &mut spans, &mut line),
            Dialect::TabSeparated => scan_tsv_row(bytes, pos, fields_count, &mut spans, &mut line),
        };
        let end = match (scanned, input.invalid_at) {
            (Ok(end), Some(offset)) if !end.terminated => {
                return Err(parse_text_invalid_utf8(body, row, offset));
            }
            (Err(ScanError::UnterminatedQuote), Some(offset)) => {
                return Err(parse_text_invalid_utf8(body, row, offset));
            }
            (Ok(end), _) => end,
            (Err(error), _) => return Err(scan_error(error, row, row_line, fields_count)),
        };
        if spans.len() < fields_count {
            let position = InputPosition::Line(row_line);
            let (found, expected) = (spans.len(), fields_count);
            return Err(FormatError::TooFewValues {
                row,
                position,
                found,
                expected,
            });
        }
        let position = InputPosition::Line(row_line);
        push_row(dialect, input.text, &spans, &mut scratch, builder)
            .map_err(|error| error.into_format_error(row, position))?;
        line += usize::from(end.terminated);
        pos = end.next;
    }
}

fn text_body(body: &[u8]) -> TextBody<'_> {
    match std::str::from_utf8(body) {
        Ok(text) => TextBody {
            text,
            invalid_at: None,
        },
        Err(error) => {
            let valid_size = error.valid_up_to();
            // `valid_up_to` promises this prefix is UTF-8; the fallback is never taken.
            let prefix = body.get(..valid_size).unwrap_or_default();
            let text = std::str::from_utf8(prefix).unwrap_or_default();
            TextBody {
                text,
                invalid_at: Some(valid_size),
            }
        }
    }
}

fn parse_text_invalid_utf8(body: &[u8], row: usize, offset: usize) -> FormatError {
    let before = body.get(..offset).unwrap_or(body);
    let line = 1 + before.iter().filter(|&&byte| byte == b'\n').count();
    FormatError::InvalidUtf8 {
        row,
        position: InputPosition::Line(line),
    }
}

fn scan_error(error: ScanError, row: usize, line: usize, fields_count: usize) -> FormatError {
    let position = InputPosition::Line(line);
    let detail = match error {
        ScanError::TooManyValues => {
            return FormatError::TooManyValues {
                row,
                position,
                expected: fields_count,
            };
        }
        ScanError::UnterminatedQuote => {
            "a quoted field has no closing `\"` before the end of input".to_string()
        }
        ScanError::AfterClosingQuote(byte) => {
            format!(
                "{} after a closing quote; expected `,` or a line end",
                describe_byte(byte)
            )
        }
        ScanError::BareCarriageReturn => {
            "a `\\r` that does not end the line; quote the field to keep it".to_string()
        }
    };
    FormatError::Syntax {
        row,
        position,
        detail,
    }
}

fn describe_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() || byte == b' ' {
        format!("`{}`", char::from(byte))
    } else {
        format!("byte 0x{byte:02x}")
    }
}

/// A failure while pushing a scanned row.
enum PushError {
    Engine(EngineError),
    SpanOutsideText,
}

impl PushError {
    fn into_format_error(self, row: usize, position: InputPosition) -> FormatError {
        match self {
            PushError::Engine(error) => FormatError::Value {
                row,
                position,
                error,
            },
            PushError::SpanOutsideText => FormatError::Internal {
                detail: format!("row {row}: a field span is not on a character boundary"),
            },
        }
    }
}

fn push_row(
    dialect: Dialect,
    text: &str,
    spans: &[FieldSpan],
    scratch: &mut String,
    builder: &mut BatchBuilder<'_>,
) -> Result<(), PushError> {
    for (field, span) in spans.iter().enumerate() {
        let pushed = match *span {
            FieldSpan::Null => builder.push_null(field),
            FieldSpan::Plain { start, end } => {
                builder.push_text(field, span_text(text, start, end)?)
            }
            FieldSpan::Escaped { start, end } => {
                let raw = span_text(text, start, end)?;
                match dialect {
                    Dialect::Csv => unescape_csv(raw, scratch),
                    Dialect::TabSeparated => unescape_tab_separated(raw, scratch),
                }
                builder.push_text(field, scratch)
            }
        };
        pushed.map_err(PushError::Engine)?;
    }
    builder.finish_row().map_err(PushError::Engine)
}

fn span_text(text: &str, start: usize, end: usize) -> Result<&str, PushError> {
    // Spans start and end next to ASCII delimiters, so they are always character boundaries.
    text.get(start..end).ok_or(PushError::SpanOutsideText)
}

fn skip_empty_lines(bytes: &[u8], mut pos: usize, line: &mut usize) -> usize {
    loop {
        match bytes.get(pos) {
            Some(b'\n') => pos += 1,
            Some(b'\r') if bytes.get(pos + 1) == Some(&b'\n') => pos += 2,
            _ => return pos,
        }
        *line += 1;
    }
}

/// After a field ends at `\r`: `\r\n` ends the row, `\r` at the end of text ends the input.
fn row_end_after_carriage_return(bytes: &[u8], cr: usize) -> Result<RowEnd, ScanError> {
    match bytes.get(cr + 1) {
        Some(b'\n') => Ok(RowEnd {
            next: cr + 2,
            terminated: true,
        }),
        None => Ok(RowEnd {
            next: cr + 1,
            terminated: false,
        }),
        Some(_) => Err(ScanError::BareCarriageReturn),
    }
}

fn scan_csv_row(
    bytes: &[u8],
    mut pos: usize,
    fields_count: usize,
    spans: &mut Vec<FieldSpan>,
    line: &mut usize,
) -> Result<RowEnd, ScanError> {
    loop {
        if spans.len() == fields_count {
            return Err(ScanError::TooManyValues);
        }
        let (span, after) = scan_csv_field(bytes, pos, line)?;
        spans.push(span);
        match bytes.get(after) {
            None => {
                return Ok(RowEnd {
                    next: after,
                    terminated: false,
                })
            }
            Some(b',') => pos = after + 1,
            Some(b'\n') => {
                return Ok(RowEnd {
                    next: after + 1,
                    terminated: true,
                })
            }
            Some(b'\r') => return row_end_after_carriage_return(bytes, after),
            Some(&other) => return Err(ScanError::AfterClosingQuote(other)),
        }
    }
}

/// Scans one CSV field from `pos`; returns its span and the offset of the byte after it
/// (a delimiter, a line end, or the end of text for a well-formed row).
fn scan_csv_field(
    bytes: &[u8],
    pos: usize,
    line: &mut usize,
) -> Result<(FieldSpan, usize), ScanError> {
    let start = skip_blanks(bytes, pos);
    if bytes.get(start) == Some(&b'"') {
        return scan_csv_field_quoted(bytes, start + 1, line);
    }
    let end = find_csv_field_end(bytes, start);
    let value_end = trim_blanks_end(bytes, start, end);
    let span = match bytes.get(start..value_end) {
        Some(b"") | Some(b"\\N") => FieldSpan::Null,
        _ => FieldSpan::Plain {
            start,
            end: value_end,
        },
    };
    Ok((span, end))
}

fn scan_csv_field_quoted(
    bytes: &[u8],
    content_start: usize,
    line: &mut usize,
) -> Result<(FieldSpan, usize), ScanError> {
    let mut pos = content_start;
    let mut escaped = false;
    loop {
        let quote = find_byte(bytes, pos, b'"').ok_or(ScanError::UnterminatedQuote)?;
        if bytes.get(quote + 1) == Some(&b'"') {
            escaped = true;
            pos = quote + 2;
            continue;
        }
        *line += count_newlines(bytes, content_start, quote);
        let span = if escaped {
            FieldSpan::Escaped {
                start: content_start,
                end: quote,
            }
        } else {
            FieldSpan::Plain {
                start: content_start,
                end: quote,
            }
        };
        return Ok((span, skip_blanks(bytes, quote + 1)));
    }
}

/// The hot loop of CSV: the first `,`, `\n` or `\r` at or after `start`.
fn find_csv_field_end(bytes: &[u8], start: usize) -> usize {
    let rest = bytes.get(start..).unwrap_or_default();
    match rest
        .iter()
        .position(|&byte| matches!(byte, b',' | b'\n' | b'\r'))
    {
        Some(index) => start + index,
        None => bytes.len(),
    }
}

fn find_byte(bytes: &[u8], start: usize, wanted: u8) -> Option<usize> {
    let rest = bytes.get(start..)?;
    rest.iter()
        .position(|&byte| byte == wanted)
        .map(|index| start + index)
}

fn count_newlines(bytes: &[u8], start: usize, end: usize) -> usize {
    let range = bytes.get(start..end).unwrap_or_default();
    range.iter().filter(|&&byte| byte == b'\n').count()
}

fn skip_blanks(bytes: &[u8], mut pos: usize) -> usize {
    while matches!(bytes.get(pos), Some(b' ' | b'\t')) {
        pos += 1;
    }
    pos
}

fn trim_blanks_end(bytes: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && matches!(bytes.get(end - 1), Some(b' ' | b'\t')) {
        end -= 1;
    }
    end
}

/// Undoes CSV quoting: every `""` inside a quoted field is one `"`.
fn unescape_csv(raw: &str, out: &mut String) {
    out.clear();
    for (index, part) in raw.split("\"\"").enumerate() {
        if index > 0 {
            out.push('"');
        }
        out.push_str(part);
    }
}

fn scan_tsv_row(
    bytes: &[u8],
    mut pos: usize,
    fields_count: usize,
    spans: &mut Vec<FieldSpan>,
    line: &mut usize,
) -> Result<RowEnd, ScanError> {
    loop {
        if spans.len() == fields_count {
            return Err(ScanError::TooManyValues);
        }
        let (span, after) = scan_tsv_field(bytes, pos, line);
        spans.push(span);
        match bytes.get(after) {
            Some(b'\t') => pos = after + 1,
            Some(b'\n') => {
                return Ok(RowEnd {
                    next: after + 1,
                    terminated: true,
                })
            }
            Some(b'\r') => return row_end_after_carriage_return(bytes, after),
            _ => {
                return Ok(RowEnd {
                    next: bytes.len(),
                    terminated: false,
                })
            }
        }
    }
}

/// The hot loop of TSV: the field from `start` to the next unescaped tab or line end. A
/// backslash hides the byte after it, so `\` + newline is a newline inside the field.
fn scan_tsv_field(bytes: &[u8], start: usize, line: &mut usize) -> (FieldSpan, usize) {
    let mut pos = start;
    let mut escaped = false;
    let end = loop {
        let rest = bytes.get(pos..).unwrap_or_default();
        let Some(index) = rest
            .iter()
            .position(|&byte| matches!(byte, b'\t' | b'\n' | b'\r' | b'\\'))
        else {
            break bytes.len();
        };
        pos += index;
        match (rest.get(index), rest.get(index + 1)) {
            (Some(b'\\'), Some(next)) => {
                escaped = true;
                *line += usize::from(*next == b'\n');
                pos += 2;
            }
            // A lone backslash at the end of text is kept as data.
            (Some(b'\\'), None) => break bytes.len(),
            // A `\r` inside a line is data; only `\r\n` or a final `\r` ends the field.
            (Some(b'\r'), Some(next)) if *next != b'\n' => pos += 1,
            _ => break pos,
        }
    };
    let span = match bytes.get(start..end) {
        Some(b"\\N") => FieldSpan::Null,
        _ if escaped => FieldSpan::Escaped { start, end },
        _ => FieldSpan::Plain { start, end },
    };
    (span, end)
}

/// Undoes TabSeparated escapes; an unknown escape keeps its backslash.
fn unescape_tab_separated(raw: &str, out: &mut String) {
    out.clear();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(escaped) => unescape_tab_separated_one(escaped, out),
            None => out.push('\\'),
        }
    }
}

fn unescape_tab_separated_one(escaped: char, out: &mut String) {
    let plain = match escaped {
        't' => '\t',
        'n' => '\n',
        'r' => '\r',
        '0' => '\0',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'a' => '\u{7}',
        'v' => '\u{b}',
        '\\' | '\'' | '"' | '/' | '\n' => escaped,
        other => {
            out.push('\\');
            other
        }
    };
    out.push(plain);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::test_support::{random_bodies, trades_schema, wide_schema};
    use quecto_engine::batch::{ColumnValues, RowBatch};
    use quecto_engine::schema::TableSchema;

    fn parse(dialect: Dialect, schema: &TableSchema, body: &str) -> Result<RowBatch, FormatError> {
        let mut builder = BatchBuilder::all_columns(schema).unwrap();
        parse_text(dialect, body.as_bytes(), &mut builder)?;
        Ok(builder.finish())
    }

    fn symbols(batch: &RowBatch, column: usize) -> Vec<String> {
        match &batch.columns[column].values {
            ColumnValues::Symbol(values) => (0..values.len())
                .map(|index| values.get(index).to_string())
                .collect(),
            other => panic!("not a symbol column: {other:?}"),
        }
    }

    fn floats(batch: &RowBatch, column: usize) -> Vec<f64> {
        match &batch.columns[column].values {
            ColumnValues::Float64(values) => values.clone(),
            other => panic!("not a Float64 column: {other:?}"),
        }
    }

    #[test]
    fn csv_parses_rows_with_and_without_trailing_newline() {
        let schema = trades_schema();
        let body = "AAPL,2024-01-02 09:30:00,187.5,100\nMSFT,1704187800000000001,402.25,7";
        let batch = parse(Dialect::Csv, &schema, body).unwrap();
        assert_eq!(batch.rows_count, 2);
        assert_eq!(symbols(&batch, 0), ["AAPL", "MSFT"]);
        assert_eq!(floats(&batch, 2), [187.5, 402.25]);
        assert_eq!(batch.columns[3].values, ColumnValues::Int64(vec![100, 7]));
        assert_eq!(
            batch.columns[1].values,
            ColumnValues::Timestamp(vec![1_704_187_800_000_000_000, 1_704_187_800_000_000_001])
        );
        let with_newline = format!("{body}\n");
        assert_eq!(parse(Dialect::Csv, &schema, &with_newline).unwrap(), batch);
    }

    #[test]
    fn csv_accepts_crlf_and_skips_empty_lines() {
        let schema = trades_schema();
        let body = "\r\nA,1,1.5,1\r\n\r\n\nB,2,2.5,2\r\n";
        let batch = parse(Dialect::Csv, &schema, body).unwrap();
        assert_eq!(symbols(&batch, 0), ["A", "B"]);
        assert_eq!(batch.columns[3].values, ColumnValues::Int64(vec![1, 2]));
    }

    #[test]
    fn csv_quoted_fields_keep_commas_quotes_and_newlines() {
        let schema = wide_schema();
        let body = "\"a,b\",1,1,1,1,1,1,true,\"say \"\"hi\"\"\"\n\
                    \"multi\nline\",2,2,2,2,2,2,false,\"\"\"\"\n";
        let batch = parse(Dialect::Csv, &schema, body).unwrap();
        assert_eq!(symbols(&batch, 0), ["a,b", "multi\nline"]);
        assert_eq!(symbols(&batch, 8), ["say \"hi\"", "\""]);
        assert_eq!(
            batch.columns[7].values,
            ColumnValues::Bool(vec![true, false])
        );
    }

    #[test]
    fn csv_trims_blanks_around_fields_and_quotes() {
        let schema = trades_schema();
        let batch = parse(Dialect::Csv, &schema, "  A , 1 ,  \"2.5\"  ,\t3\t\n").unwrap();
        assert_eq!(symbols(&batch, 0), ["A"]);
        assert_eq!(floats(&batch, 2), [2.5]);
        assert_eq!(batch.columns[3].values, ColumnValues::Int64(vec![3]));
    }

    #[test]
    fn csv_empty_unquoted_and_backslash_n_are_null_but_quoted_empty_is_text() {
        let schema = wide_schema();
        let body = "A,1,,\\N,1,1,1,1,\"\"\nB,2,5,6,7,8,9,0,\n";
        let batch = parse(Dialect::Csv, &schema, body).unwrap();
        assert_eq!(batch.columns[2].nulls, Some(vec![true, false]));
        assert_eq!(batch.columns[3].nulls, Some(vec![true, false]));
        assert_eq!(batch.columns[8].nulls, Some(vec![false, true]));
        assert_eq!(symbols(&batch, 8), ["", ""]);
    }

    #[test]
    fn csv_null_in_key_column_names_column_and_row() {
        let schema = trades_schema();
        let error = parse(Dialect::Csv, &schema, "A,1,1,1\n,2,2,2\n").unwrap_err();
        assert!(matches!(
            &error,
            FormatError::Value {
                row: 2,
                error: EngineError::NullInKeyColumn { .. },
                ..
            }
        ));
        assert!(error.to_string().contains("`symbol`"), "{error}");
    }

    #[test]
    fn csv_wrong_type_names_column_row_and_line() {
        let schema = trades_schema();
        let body = "A,1,1.5,1\n\"B\nC\",2,2.5,2\nD,3,abc,3\n";
        let error = parse(Dialect::Csv, &schema, body).unwrap_err();
        assert_eq!(error.row(), Some(3));
        assert_eq!(
            error.to_string(),
            "row 3: cannot store abc in column `price` of type FLOAT64 (line 4)"
        );
    }

    #[test]
    fn csv_too_many_values_is_refused() {
        let schema = trades_schema();
        let error = parse(Dialect::Csv, &schema, "A,1,1,1\nB,2,2,2,9\n").unwrap_err();
        assert_eq!(
            error,
            FormatError::TooManyValues {
                row: 2,
                position: InputPosition::Line(2),
                expected: 4
            }
        );
        assert!(error.to_string().starts_with("row 2: more than 4 values"));
        let trailing_comma = parse(Dialect::Csv, &schema, "A,1,1,1,\n").unwrap_err();
        assert!(matches!(
            trailing_comma,
            FormatError::TooManyValues { row: 1, .. }
        ));
    }

    #[test]
    fn csv_too_few_values_is_refused() {
        let schema = trades_schema();
        let error = parse(Dialect::Csv, &schema, "A,1,1\n").unwrap_err();
        let position = InputPosition::Line(1);
        assert_eq!(
            error,
            FormatError::TooFewValues {
                row: 1,
                position,
                found: 3,
                expected: 4
            }
        );
    }

    #[test]
    fn csv_unterminated_quote_and_junk_after_quote_are_syntax_errors() {
        let schema = trades_schema();
        let error = parse(Dialect::Csv, &schema, "A,1,1,1\n\"B,2,2,2\n").unwrap_err();
        assert!(
            matches!(error, FormatError::Syntax { row: 2, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("closing"), "{error}");
        let error = parse(Dialect::Csv, &schema, "\"A\"x,1,1,1\n").unwrap_err();
        assert!(
            error.to_string().contains("`x` after a closing quote"),
            "{error}"
        );
    }

    #[test]
    fn csv_bare_carriage_return_is_refused() {
        let schema = trades_schema();
        let error = parse(Dialect::Csv, &schema, "A\rB,1,1,1\n").unwrap_err();
        assert!(
            matches!(error, FormatError::Syntax { row: 1, .. }),
            "{error}"
        );
    }

    #[test]
    fn invalid_utf8_names_row_and_line() {
        let schema = trades_schema();
        for dialect in [Dialect::Csv, Dialect::TabSeparated] {
            let separator = if dialect == Dialect::Csv { b',' } else { b'\t' };
            let mut body = b"A,1,1,1\n\nB,2,2,2\nC\xff,3,3,3\n".to_vec();
            body.iter_mut()
                .filter(|byte| **byte == b',')
                .for_each(|byte| *byte = separator);
            let mut builder = BatchBuilder::all_columns(&schema).unwrap();
            let error = parse_text(dialect, &body, &mut builder).unwrap_err();
            let position = InputPosition::Line(4);
            assert_eq!(error, FormatError::InvalidUtf8 { row: 3, position });
        }
    }

    #[test]
    fn invalid_utf8_right_after_a_line_end_names_the_next_row() {
        let schema = trades_schema();
        let mut builder = BatchBuilder::all_columns(&schema).unwrap();
        let error = parse_text(Dialect::Csv, b"A,1,1,1\n\xfe", &mut builder).unwrap_err();
        let position = InputPosition::Line(2);
        assert_eq!(error, FormatError::InvalidUtf8 { row: 2, position });
    }

    #[test]
    fn tsv_unescapes_tabs_newlines_and_backslashes() {
        let schema = wide_schema();
        let body = "a\\tb\t1\t1\t1\t1\t1\t1\t1\tx\\ny\\\\z\\'q\\0\n\
                    c\\\nd\t2\t2\t2\t2\t2\t2\t0\t\\N\n";
        let batch = parse(Dialect::TabSeparated, &schema, body).unwrap();
        assert_eq!(symbols(&batch, 0), ["a\tb", "c\nd"]);
        assert_eq!(symbols(&batch, 8), ["x\ny\\z'q\0", ""]);
        assert_eq!(batch.columns[8].nulls, Some(vec![false, true]));
    }

    #[test]
    fn tsv_empty_field_is_empty_string_not_null() {
        let schema = wide_schema();
        let body = "a\t1\t1\t1\t1\t1\t1\t1\t\n";
        let batch = parse(Dialect::TabSeparated, &schema, body).unwrap();
        assert_eq!(symbols(&batch, 8), [""]);
        assert_eq!(batch.columns[8].nulls, None);
    }

    #[test]
    fn tsv_accepts_crlf_missing_final_newline_and_counts_escaped_newlines_as_lines() {
        let schema = trades_schema();
        let body = "A\\\nB\t1\t1.5\t1\r\n\r\nC\t2\tx\t2";
        let error = parse(Dialect::TabSeparated, &schema, body).unwrap_err();
        assert_eq!(
            error.to_string(),
            "row 2: cannot store x in column `price` of type FLOAT64 (line 4)"
        );
        let batch = parse(Dialect::TabSeparated, &schema, "A\t1\t1.5\t1\r\nC\t2\t2\t2").unwrap();
        assert_eq!(symbols(&batch, 0), ["A", "C"]);
        assert_eq!(floats(&batch, 2), [1.5, 2.0]);
    }

    #[test]
    fn tsv_wrong_field_counts_are_refused() {
        let schema = trades_schema();
        let error = parse(Dialect::TabSeparated, &schema, "A\t1\t1\t1\t1\n").unwrap_err();
        assert_eq!(error.to_string(), "row 1: more than 4 values (line 1)");
        let error = parse(Dialect::TabSeparated, &schema, "A\t1\n").unwrap_err();
        assert!(matches!(
            error,
            FormatError::TooFewValues {
                row: 1,
                found: 2,
                expected: 4,
                ..
            }
        ));
    }

    #[test]
    fn tsv_keeps_a_carriage_return_inside_a_line_and_a_final_backslash() {
        let schema = wide_schema();
        let body = "a\rb\t1\t1\t1\t1\t1\t1\t1\tend\\";
        let batch = parse(Dialect::TabSeparated, &schema, body).unwrap();
        assert_eq!(symbols(&batch, 0), ["a\rb"]);
        assert_eq!(symbols(&batch, 8), ["end\\"]);
    }

    #[test]
    fn tsv_unknown_escape_keeps_its_backslash() {
        let mut out = String::new();
        unescape_tab_separated("a\\qb\\", &mut out);
        assert_eq!(out, "a\\qb\\");
    }

    #[test]
    fn random_bytes_never_panic_text_parsers() {
        let schema = wide_schema();
        for body in random_bodies(b",\t\n\r\"\\N 1.e-x") {
            for dialect in [Dialect::Csv, Dialect::TabSeparated] {
                let mut builder = BatchBuilder::all_columns(&schema).unwrap();
                let _ = parse_text(dialect, &body, &mut builder);
            }
        }
    }

    /// Run with `cargo test --release -p quecto-ops parse_rate -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing, release builds only"]
    fn csv_and_tsv_parse_rate_fields_per_second() {
        let schema = trades_schema();
        let rows_count = 1_000_000;
        let mut csv = String::new();
        for index in 0..rows_count {
            let timestamp_ns = 1_700_000_000_000_000_000u64 + index;
            let line = format!(
                "SYM{},{timestamp_ns},{}.25,{index}\n",
                index % 500,
                index % 1000
            );
            csv.push_str(&line);
        }
        let tsv = csv.replace(',', "\t");
        for (dialect, body) in [(Dialect::Csv, &csv), (Dialect::TabSeparated, &tsv)] {
            let start = std::time::Instant::now();
            let mut builder = BatchBuilder::all_columns(&schema).unwrap();
            parse_text(dialect, body.as_bytes(), &mut builder).unwrap();
            let elapsed_s = start.elapsed().as_secs_f64();
            let fields_per_s = rows_count as f64 * 4.0 / elapsed_s;
            let mb = body.len() >> 20;
            println!(
                "{dialect:?}: {:.1}M fields/s, {mb} MiB in {elapsed_s:.3}s",
                fields_per_s / 1e6
            );
            assert_eq!(builder.rows_count(), rows_count as usize);
        }
    }
}
