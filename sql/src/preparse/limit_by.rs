//! ClickHouse's `… LIMIT n BY cols LIMIT m [OFFSET k]` (at most `n` rows per key, then at most
//! `m` rows in all) becomes `SELECT * FROM (… LIMIT n BY cols) AS __limit_by LIMIT m [OFFSET
//! k]`. sqlparser reads a `LIMIT … BY` clause but no second `LIMIT` after it; the derived table
//! keeps the inner query's row order, so the outer `LIMIT` keeps the same rows ClickHouse does.
//!
//! Every parenthesised query is handled on its own, innermost first. A query whose level holds
//! `UNION` is left alone (ClickHouse binds `LIMIT BY` to one SELECT of the union; wrapping the
//! whole union would change the answer), so sqlparser reports the second `LIMIT` there.

use sqlparser::tokenizer::Token;

use super::tokens::Tokens;

/// The text of `tokens` with every query level that has a `LIMIT … BY … LIMIT` wrapped; `None`
/// when no level has one (the text is then unchanged).
pub(super) fn wrap(tokens: &Tokens) -> Option<String> {
    let (text, wrapped) = wrap_level(tokens, 0, tokens.len());
    wrapped.then_some(text)
}

/// The rewritten text of tokens `start..end` (one query level, nested levels within), and
/// whether anything was wrapped.
fn wrap_level(tokens: &Tokens, start: usize, end: usize) -> (String, bool) {
    let mut out = String::new();
    let mut wrapped = false;
    let mut limit_seen = false;
    let mut limit_by_seen = false;
    let mut has_union = false;
    let mut second_limit = None;
    let mut i = start;
    while i < end {
        if let Some(Token::LParen) = tokens.get(i) {
            let close = tokens.closing_paren(i, end).unwrap_or(end);
            let (inner, inner_wrapped) = wrap_level(tokens, i + 1, close);
            out.push('(');
            out.push_str(&inner);
            out.push_str(tokens.text(close, close + 1));
            wrapped |= inner_wrapped;
            i = close + 1;
            continue;
        }
        if tokens.is_keyword(i, "UNION") {
            has_union = true;
        } else if tokens.is_keyword(i, "LIMIT") {
            if limit_by_seen && second_limit.is_none() {
                second_limit = Some((i, out.len()));
            }
            limit_seen = true;
        } else if tokens.is_keyword(i, "BY") && limit_seen && second_limit.is_none() {
            limit_by_seen = true;
        } else if tokens.ends_clause(i, end) && !tokens.is_keyword(i, "OFFSET") {
            limit_seen = false;
        }
        out.push_str(tokens.text(i, i + 1));
        i += 1;
    }
    let Some((_, split)) = second_limit.filter(|_| !has_union) else {
        return (out, wrapped);
    };
    let Some(head_len) = query_offset(tokens, start, end) else {
        return (out, wrapped);
    };
    let (inner, outer) = out.split_at(split);
    let (head, query) = inner.split_at(head_len);
    let text = format!(
        "{head}SELECT * FROM ({}) AS __limit_by {outer}",
        query.trim_end()
    );
    (text, true)
}

/// The length of the level's text before its query (leading space, and `EXPLAIN ` which stays
/// outside the derived table). `None` when the level does not start with `SELECT`, `WITH` or
/// `EXPLAIN SELECT/WITH`: then it is not a query that can be wrapped.
fn query_offset(tokens: &Tokens, start: usize, end: usize) -> Option<usize> {
    let first = tokens.significant(start, end)?;
    let query = if tokens.is_keyword(first, "EXPLAIN") {
        tokens.significant(first + 1, end)?
    } else {
        first
    };
    let is_query = tokens.is_keyword(query, "SELECT") || tokens.is_keyword(query, "WITH");
    // Tokens start..query hold no parenthesis, so their text is the level's text verbatim.
    is_query.then(|| tokens.text(start, query).len())
}
