//! The two bits of statement text QuectoDB reads before `sqlparser`: an `INSERT INTO t [(c, …)]
//! FORMAT X` header (its data follows in the body or after the header), and a trailing
//! `FORMAT X` on a query, which selects the output format.

/// A parsed `INSERT INTO t [(cols)] FORMAT X` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsertFormat {
    /// The table.
    pub table: String,
    /// The listed columns (empty: all, in order).
    pub columns: Vec<String>,
    /// The input format's name.
    pub format: String,
    /// Byte offset in the text where inline data starts (after the format name and one newline).
    pub rest_offset: usize,
}

/// Splits `text` into words and punctuation with their byte offsets.
fn tokens(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c.is_alphanumeric() || c == '_' || c == '`' || c == '"' || c == '.' {
            let mut end = start;
            while let Some(&(i, d)) = chars.peek() {
                if d.is_alphanumeric() || d == '_' || d == '`' || d == '"' || d == '.' {
                    end = i + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            out.push((start, &text[start..end]));
        } else {
            chars.next();
            out.push((start, &text[start..start + c.len_utf8()]));
        }
        if out.len() > 4096 {
            break;
        }
    }
    out
}

fn unquote(word: &str) -> String {
    word.trim_matches(|c| c == '`' || c == '"').to_string()
}

impl InsertFormat {
    /// Recognizes an `INSERT INTO … FORMAT X` header at the start of `sql`.
    pub fn parse(sql: &str) -> Option<InsertFormat> {
        // Only the header is tokenized: the data after it may be megabytes.
        let header_end = sql
            .char_indices()
            .take(64 * 1024)
            .last()
            .map_or(0, |(i, c)| i + c.len_utf8());
        let header = &sql[..header_end];
        let words = tokens(header);
        let word = |i: usize| words.get(i).map(|(_, w)| *w);
        if !word(0)?.eq_ignore_ascii_case("insert") || !word(1)?.eq_ignore_ascii_case("into") {
            return None;
        }
        let table = unquote(word(2)?.rsplit('.').next()?);
        let mut next = 3;
        let mut columns = Vec::new();
        if word(next) == Some("(") {
            next += 1;
            while let Some(w) = word(next) {
                next += 1;
                match w {
                    ")" => break,
                    "," => {}
                    name => columns.push(unquote(name)),
                }
            }
        }
        if !word(next)?.eq_ignore_ascii_case("format") {
            return None;
        }
        let (format_start, format) = *words.get(next + 1)?;
        let mut rest_offset = format_start + format.len();
        let after = &sql[rest_offset..];
        let skipped = after.len() - after.trim_start_matches([' ', '\t', '\r']).len();
        rest_offset += skipped;
        if sql[rest_offset..].starts_with('\n') {
            rest_offset += 1;
        }
        Some(InsertFormat {
            table,
            columns,
            format: format.to_string(),
            rest_offset,
        })
    }
}

/// Splits a trailing `FORMAT X` (and `;`) off a query; returns the query and the format name.
pub fn split_format_clause(sql: &str) -> (&str, Option<String>) {
    let trimmed = sql.trim_end().trim_end_matches(';').trim_end();
    let mut words = trimmed.rsplitn(3, |c: char| c.is_whitespace());
    let (Some(name), Some(keyword)) = (words.next(), words.next()) else {
        return (sql, None);
    };
    let is_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if keyword.eq_ignore_ascii_case("format") && is_name {
        let cut = trimmed.len() - name.len() - keyword.len() - 1;
        return (trimmed[..cut].trim_end(), Some(name.to_string()));
    }
    (sql, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_insert_headers_with_and_without_columns_and_inline_data() {
        let sql = "INSERT INTO trades FORMAT CSV\nA,1,2.5,3\n";
        let parsed = InsertFormat::parse(sql).unwrap();
        assert_eq!(
            (parsed.table.as_str(), parsed.format.as_str()),
            ("trades", "CSV")
        );
        assert_eq!(&sql[parsed.rest_offset..], "A,1,2.5,3\n");
        let with_columns =
            InsertFormat::parse("insert into db.t (symbol, `ts`) format RowBinary").unwrap();
        assert_eq!(with_columns.columns, vec!["symbol", "ts"]);
        assert_eq!(with_columns.table, "t");
        assert!(InsertFormat::parse("INSERT INTO t VALUES (1)").is_none());
        assert!(InsertFormat::parse("SELECT 1").is_none());
    }

    #[test]
    fn splits_trailing_format_clause() {
        assert_eq!(
            split_format_clause("SELECT 1 FORMAT CSV;"),
            ("SELECT 1", Some("CSV".into()))
        );
        assert_eq!(split_format_clause("SELECT 1"), ("SELECT 1", None));
        assert_eq!(split_format_clause("SELECT format FROM t").1, None);
    }
}
