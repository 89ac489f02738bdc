//! QuestDB `SAMPLE BY <duration> [FILL(<mode>, ...)] [ALIGN TO CALENDAR [TIME ZONE 'tz']
//! [WITH OFFSET 'hh:mm'] | ALIGN TO FIRST OBSERVATION]` becomes
//! `GROUP BY __sample_by(<INTERVAL>, '<fill modes>', '<alignment>'[, <tz>, <offset>])`.

use sqlparser::tokenizer::Token;

use super::duration::{self, Spelling};
use super::tokens::Tokens;
use super::{syntax_error, Replacement};
use crate::QueryError;

/// The fill mode names QuestDB accepts besides numeric constants.
const FILL_MODES: &[&str] = &["NONE", "NULL", "PREV", "LINEAR"];

/// How buckets are aligned.
struct Alignment {
    /// `CALENDAR` or `FIRST OBSERVATION`.
    mode: &'static str,
    /// The `TIME ZONE` string literal as written.
    zone: Option<String>,
    /// The `WITH OFFSET` string literal as written.
    offset: Option<String>,
}

/// Rewrites the SAMPLE BY clause whose `SAMPLE` keyword is at `i` (followed by `BY`).
pub(super) fn rewrite(tokens: &Tokens, i: usize, end: usize) -> Result<Replacement, QueryError> {
    let missing = || {
        syntax_error(
            "SAMPLE BY",
            "expected a duration such as 5m or INTERVAL 5 MINUTE",
        )
    };
    let by = tokens.keyword_at(i + 1, end, "BY").ok_or_else(missing)?;
    let at = tokens.significant(by + 1, end).ok_or_else(missing)?;
    let step = duration::parse(tokens, at, end, Spelling::Compact)?.ok_or_else(missing)?;
    let mut next = step.next;
    let mut fill = "NONE".to_string();
    if let Some(keyword) = tokens.keyword_at(next, end, "FILL") {
        (fill, next) = fill_modes(tokens, keyword, end)?;
    }
    let mut alignment = Alignment {
        mode: "CALENDAR",
        zone: None,
        offset: None,
    };
    if let Some(keyword) = tokens.keyword_at(next, end, "ALIGN") {
        (alignment, next) = align(tokens, keyword, end)?;
    }
    let mut text = format!(
        "GROUP BY __sample_by({}, '{fill}', '{}'",
        step.text, alignment.mode
    );
    if alignment.zone.is_some() || alignment.offset.is_some() {
        let or_null = |s: Option<String>| s.unwrap_or_else(|| "NULL".to_string());
        text.push_str(&format!(
            ", {}, {}",
            or_null(alignment.zone),
            or_null(alignment.offset)
        ));
    }
    text.push(')');
    Ok(Replacement { text, next })
}

/// `FILL(<mode>[, <mode>...])` at `keyword`: the modes upper-cased and comma-joined, and the
/// index after the `)`.
fn fill_modes(tokens: &Tokens, keyword: usize, end: usize) -> Result<(String, usize), QueryError> {
    let open = tokens
        .token_at(keyword + 1, end, &Token::LParen)
        .ok_or_else(|| syntax_error("FILL", "expected `(` after FILL"))?;
    let close = tokens
        .closing_paren(open, end)
        .ok_or_else(|| syntax_error("FILL", "missing `)`"))?;
    let mut modes = Vec::new();
    let mut at = tokens.significant(open + 1, close);
    while let Some(k) = at {
        let (mode, after) = fill_mode(tokens, k, close)?;
        modes.push(mode);
        at = match tokens.significant(after, close) {
            Some(comma) if tokens.get(comma) == Some(&Token::Comma) => Some(
                tokens
                    .significant(comma + 1, close)
                    .ok_or_else(|| syntax_error("FILL", "expected a fill mode after `,`"))?,
            ),
            Some(other) => {
                return Err(syntax_error(
                    "FILL",
                    format!(
                        "expected `,` or `)`, found `{}`",
                        tokens.text(other, other + 1)
                    ),
                ))
            }
            None => None,
        };
    }
    if modes.is_empty() {
        return Err(syntax_error("FILL", "expected at least one fill mode"));
    }
    Ok((modes.join(","), close + 1))
}

/// One fill mode at `k`: its canonical text and the index after it.
fn fill_mode(tokens: &Tokens, k: usize, end: usize) -> Result<(String, usize), QueryError> {
    match tokens.get(k) {
        Some(Token::Word(w)) if w.quote_style.is_none() => {
            let upper = w.value.to_ascii_uppercase();
            if FILL_MODES.contains(&upper.as_str()) {
                return Ok((upper, k + 1));
            }
        }
        Some(Token::Number(n, false)) => return Ok((n.clone(), k + 1)),
        Some(Token::Minus) => {
            if let Some(number) = tokens.significant(k + 1, end) {
                if let Some(Token::Number(n, false)) = tokens.get(number) {
                    return Ok((format!("-{n}"), number + 1));
                }
            }
        }
        _ => {}
    }
    Err(syntax_error(
        "FILL",
        format!(
            "unknown fill mode `{}` (expected NONE, NULL, PREV, LINEAR or a number)",
            tokens.text(k, k + 1)
        ),
    ))
}

/// `ALIGN TO ...` at `keyword`: the alignment and the index after the clause.
fn align(tokens: &Tokens, keyword: usize, end: usize) -> Result<(Alignment, usize), QueryError> {
    let expected = || {
        syntax_error(
            "ALIGN TO",
            "expected CALENDAR [TIME ZONE '<zone>'] [WITH OFFSET '<offset>'] or FIRST OBSERVATION",
        )
    };
    let to = tokens
        .keyword_at(keyword + 1, end, "TO")
        .ok_or_else(expected)?;
    if let Some(first) = tokens.keyword_at(to + 1, end, "FIRST") {
        let observation = tokens
            .keyword_at(first + 1, end, "OBSERVATION")
            .ok_or_else(expected)?;
        let alignment = Alignment {
            mode: "FIRST OBSERVATION",
            zone: None,
            offset: None,
        };
        return Ok((alignment, observation + 1));
    }
    let calendar = tokens
        .keyword_at(to + 1, end, "CALENDAR")
        .ok_or_else(expected)?;
    let mut next = calendar + 1;
    let mut zone = None;
    if let Some(time) = tokens.keyword_at(next, end, "TIME") {
        let zone_kw = tokens
            .keyword_at(time + 1, end, "ZONE")
            .ok_or_else(expected)?;
        let (literal, after) = string_literal(tokens, zone_kw + 1, end, "TIME ZONE")?;
        zone = Some(literal);
        next = after;
    }
    let mut offset = None;
    if let Some(with) = tokens.keyword_at(next, end, "WITH") {
        let offset_kw = tokens
            .keyword_at(with + 1, end, "OFFSET")
            .ok_or_else(expected)?;
        let (literal, after) = string_literal(tokens, offset_kw + 1, end, "WITH OFFSET")?;
        offset = Some(literal);
        next = after;
    }
    let alignment = Alignment {
        mode: "CALENDAR",
        zone,
        offset,
    };
    Ok((alignment, next))
}

/// The single-quoted string literal at the next significant token, as written.
fn string_literal(
    tokens: &Tokens,
    i: usize,
    end: usize,
    clause: &str,
) -> Result<(String, usize), QueryError> {
    let literal = tokens
        .significant(i, end)
        .filter(|&k| matches!(tokens.get(k), Some(Token::SingleQuotedString(_))));
    let k = literal.ok_or_else(|| syntax_error(clause, "expected a quoted string"))?;
    Ok((tokens.text(k, k + 1).to_string(), k + 1))
}
