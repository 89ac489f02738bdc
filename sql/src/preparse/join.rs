//! Time-series joins sqlparser cannot parse, rewritten into its Snowflake
//! `ASOF JOIN <rel> MATCH_CONDITION (<marker>) [ON <cond> | USING (<cols>)]` form:
//!
//! - `ASOF [LEFT] JOIN` / `LEFT ASOF JOIN` (DuckDB, ClickHouse, QuestDB) with `ON <cond>`,
//!   `USING (<cols>)`, QuestDB's `ON (<col>, ...)` (read as USING) or no condition, and an
//!   optional `TOLERANCE <duration>`: marker `__asof(<left_outer>, <tolerance or NULL>)`;
//! - QuestDB `LT JOIN` (strictly earlier): marker `__lt_join(<left_outer>, <tolerance>)`;
//! - `WINDOW JOIN <rel> [ON ...] RANGE BETWEEN <d> PRECEDING AND <d> FOLLOWING`: marker
//!   `__window_join(<before>, <after>)` (`CURRENT ROW` is a zero interval).
//!
//! left_outer is 1 for `LEFT`, and for the forms only QuestDB has (LT JOIN, no condition, a
//! column list, an ON without a time inequality), since QuestDB keeps unmatched left rows.
//! Snowflake's own MATCH_CONDITION form is left as written.

use sqlparser::tokenizer::Token;

use super::duration::{self, Spelling};
use super::tokens::Tokens;
use super::{syntax_error, Replacement, Rewriter};
use crate::QueryError;

/// The zero duration `CURRENT ROW` stands for.
const ZERO: &str = "INTERVAL 0 SECOND";

/// Which join a head of keywords starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `ASOF [LEFT] JOIN`, with whether LEFT was written.
    Asof { left: bool },
    /// QuestDB `LT JOIN`.
    Lt,
    /// `WINDOW JOIN`.
    Window,
}

impl Kind {
    /// The clause name for error messages.
    fn name(self) -> &'static str {
        match self {
            Kind::Asof { .. } => "ASOF JOIN",
            Kind::Lt => "LT JOIN",
            Kind::Window => "WINDOW JOIN",
        }
    }
}

/// The join condition as the rewrite emits it.
enum Constraint {
    /// None written.
    None,
    /// `ON <cond>`, rewritten, and whether it holds a `<`, `<=`, `>` or `>=`.
    On { condition: String, inequality: bool },
    /// `USING (<cols>)`.
    Using(String),
    /// QuestDB's `ON (<col>, ...)`.
    Columns(String),
}

impl Constraint {
    /// Whether this is a condition only QuestDB writes (QuestDB's ON holds equalities only).
    fn is_questdb(&self) -> bool {
        match self {
            Constraint::None | Constraint::Columns(_) => true,
            Constraint::On { inequality, .. } => !inequality,
            Constraint::Using(_) => false,
        }
    }

    /// The text after MATCH_CONDITION (...).
    fn text(&self) -> String {
        match self {
            Constraint::None => String::new(),
            Constraint::On { condition, .. } => format!(" ON {condition}"),
            Constraint::Using(columns) | Constraint::Columns(columns) => {
                format!(" USING ({columns})")
            }
        }
    }
}

/// Rewrites the join starting at `i`; `None` when the tokens there are not one of ours (or
/// are Snowflake's own ASOF JOIN ... MATCH_CONDITION).
pub(super) fn rewrite(
    rw: &Rewriter,
    i: usize,
    end: usize,
) -> Result<Option<Replacement>, QueryError> {
    let tokens = rw.tokens;
    let Some((kind, join)) = head(tokens, i, end) else {
        return Ok(None);
    };
    let relation_start = tokens
        .significant(join + 1, end)
        .ok_or_else(|| syntax_error(kind.name(), "expected a table or subquery"))?;
    let relation_end = relation_end(tokens, relation_start, end, kind)?;
    if tokens
        .keyword_at(relation_end, end, "MATCH_CONDITION")
        .is_some()
    {
        return match kind {
            Kind::Asof { .. } => Ok(None),
            _ => Err(syntax_error(kind.name(), "does not take MATCH_CONDITION")),
        };
    }
    let relation = rw.span(relation_start, relation_end)?;
    let (constraint, mut next) = constraint(rw, relation_end, end, kind)?;
    let marker = match kind {
        Kind::Asof { .. } | Kind::Lt => {
            let mut tolerance = "NULL".to_string();
            if let Some(keyword) = tokens.keyword_at(next, end, "TOLERANCE") {
                let duration = tokens
                    .significant(keyword + 1, end)
                    .map(|k| duration::parse(tokens, k, end, Spelling::Compact))
                    .transpose()?
                    .flatten()
                    .ok_or_else(|| {
                        syntax_error(
                            "TOLERANCE",
                            "expected a duration such as 50ms or INTERVAL 50 MILLISECOND",
                        )
                    })?;
                tolerance = duration.text;
                next = duration.next;
            }
            let left_outer = match kind {
                Kind::Asof { left } => left || constraint.is_questdb(),
                _ => true,
            };
            let function = if kind == Kind::Lt {
                "__lt_join"
            } else {
                "__asof"
            };
            format!("{function}({}, {tolerance})", u8::from(left_outer))
        }
        Kind::Window => {
            let (before, after, range_end) = range(tokens, next, end)?;
            next = range_end;
            format!("__window_join({before}, {after})")
        }
    };
    Ok(Some(Replacement {
        text: format!(
            "ASOF JOIN {relation} MATCH_CONDITION ({marker}){}",
            constraint.text()
        ),
        next,
    }))
}

/// The join keywords at `i`: `ASOF [LEFT [OUTER]] JOIN`, `LEFT [OUTER] ASOF JOIN`,
/// `LT JOIN` or `WINDOW JOIN`; the kind and the index of `JOIN`. A word right after `AS` is an
/// alias, never a join keyword.
fn head(tokens: &Tokens, i: usize, end: usize) -> Option<(Kind, usize)> {
    let after_as = tokens
        .previous_significant(i)
        .is_some_and(|k| tokens.is_keyword(k, "AS"));
    if after_as {
        return None;
    }
    let optional_outer = |k: usize| tokens.keyword_at(k + 1, end, "OUTER").unwrap_or(k);
    if tokens.is_keyword(i, "ASOF") {
        if let Some(left) = tokens.keyword_at(i + 1, end, "LEFT") {
            let join = tokens.keyword_at(optional_outer(left) + 1, end, "JOIN")?;
            return Some((Kind::Asof { left: true }, join));
        }
        let join = tokens.keyword_at(i + 1, end, "JOIN")?;
        return Some((Kind::Asof { left: false }, join));
    }
    if tokens.is_keyword(i, "LEFT") {
        let asof = tokens.keyword_at(optional_outer(i) + 1, end, "ASOF")?;
        let join = tokens.keyword_at(asof + 1, end, "JOIN")?;
        return Some((Kind::Asof { left: true }, join));
    }
    let kind = if tokens.is_keyword(i, "LT") {
        Kind::Lt
    } else if tokens.is_keyword(i, "WINDOW") {
        Kind::Window
    } else {
        return None;
    };
    let join = tokens.keyword_at(i + 1, end, "JOIN")?;
    Some((kind, join))
}

/// The index just after the joined relation starting at `start`: a (qualified) table name or
/// table function, or a parenthesised subquery, then an optional `[AS] alias`.
fn relation_end(
    tokens: &Tokens,
    start: usize,
    end: usize,
    kind: Kind,
) -> Result<usize, QueryError> {
    let unclosed = || syntax_error(kind.name(), "missing `)` after the joined subquery");
    let mut next = match tokens.get(start) {
        Some(Token::LParen) => tokens.closing_paren(start, end).ok_or_else(unclosed)? + 1,
        Some(Token::Word(_)) => {
            let mut k = start + 1;
            while tokens.get(k) == Some(&Token::Period)
                && matches!(tokens.get(k + 1), Some(Token::Word(_)))
            {
                k += 2;
            }
            match tokens.token_at(k, end, &Token::LParen) {
                Some(open) => tokens.closing_paren(open, end).ok_or_else(unclosed)? + 1,
                None => k,
            }
        }
        _ => {
            return Err(syntax_error(
                kind.name(),
                "expected a table name or a parenthesised subquery",
            ))
        }
    };
    if let Some(as_keyword) = tokens.keyword_at(next, end, "AS") {
        let alias = tokens
            .significant(as_keyword + 1, end)
            .filter(|&k| matches!(tokens.get(k), Some(Token::Word(_))))
            .ok_or_else(|| syntax_error(kind.name(), "expected an alias after AS"))?;
        next = alias + 1;
    } else if let Some(alias) = tokens.significant(next, end) {
        if matches!(tokens.get(alias), Some(Token::Word(_))) && !tokens.ends_clause(alias, end) {
            next = alias + 1;
        }
    }
    Ok(next)
}

/// The `ON` / `USING` condition after the relation (ending at `from`), and the index after it.
fn constraint(
    rw: &Rewriter,
    from: usize,
    end: usize,
    kind: Kind,
) -> Result<(Constraint, usize), QueryError> {
    let tokens = rw.tokens;
    if let Some(using) = tokens.keyword_at(from, end, "USING") {
        let (columns, next) = parenthesised(tokens, using + 1, end)
            .ok_or_else(|| syntax_error(kind.name(), "expected USING (<column>, ...)"))?;
        return Ok((
            Constraint::Using(tokens.text(columns.0, columns.1).to_string()),
            next,
        ));
    }
    let Some(on) = tokens.keyword_at(from, end, "ON") else {
        return Ok((Constraint::None, from));
    };
    if let Some((columns, next)) = parenthesised(tokens, on + 1, end) {
        if is_column_list(tokens, columns.0, columns.1) {
            return Ok((
                Constraint::Columns(tokens.text(columns.0, columns.1).to_string()),
                next,
            ));
        }
    }
    let start = tokens
        .significant(on + 1, end)
        .ok_or_else(|| syntax_error(kind.name(), "expected a condition after ON"))?;
    let stop = tokens.clause_end(start, end, true);
    if stop == start {
        return Err(syntax_error(kind.name(), "expected a condition after ON"));
    }
    let inequality = (start..stop).any(|k| {
        matches!(
            tokens.get(k),
            Some(Token::Lt | Token::LtEq | Token::Gt | Token::GtEq)
        )
    });
    let condition = rw.span(start, stop)?;
    Ok((
        Constraint::On {
            condition,
            inequality,
        },
        stop,
    ))
}

/// The inside `(start, end)` of the parenthesised group at the next significant token from
/// `i`, and the index after its `)`.
fn parenthesised(tokens: &Tokens, i: usize, end: usize) -> Option<((usize, usize), usize)> {
    let open = tokens.token_at(i, end, &Token::LParen)?;
    let close = tokens.closing_paren(open, end)?;
    Some(((open + 1, close), close + 1))
}

/// Whether `start..end` is `name[, name ...]` (plain or quoted identifiers only).
fn is_column_list(tokens: &Tokens, start: usize, end: usize) -> bool {
    let mut expect_name = true;
    let mut k = tokens.significant(start, end);
    while let Some(at) = k {
        let fits = match tokens.get(at) {
            Some(Token::Word(_)) => expect_name,
            Some(Token::Comma) => !expect_name,
            _ => false,
        };
        if !fits {
            return false;
        }
        expect_name = !expect_name;
        k = tokens.significant(at + 1, end);
    }
    // Non-empty and not ending on a comma.
    !expect_name
}

/// `RANGE BETWEEN <bound> PRECEDING AND <bound> FOLLOWING [EXCLUDE PREVAILING]` from `i`:
/// the two INTERVAL texts and the index after the clause.
fn range(tokens: &Tokens, i: usize, end: usize) -> Result<(String, String, usize), QueryError> {
    let usage = || {
        syntax_error(
            "WINDOW JOIN",
            "expected RANGE BETWEEN <duration> PRECEDING AND <duration> FOLLOWING",
        )
    };
    let range = tokens.keyword_at(i, end, "RANGE").ok_or_else(usage)?;
    let between = tokens
        .keyword_at(range + 1, end, "BETWEEN")
        .ok_or_else(usage)?;
    let (before, next) = bound(tokens, between + 1, end, "PRECEDING")?.ok_or_else(usage)?;
    let and = tokens.keyword_at(next, end, "AND").ok_or_else(usage)?;
    let (after, mut next) = bound(tokens, and + 1, end, "FOLLOWING")?.ok_or_else(usage)?;
    if let Some(include) = tokens.keyword_at(next, end, "INCLUDE") {
        if tokens.keyword_at(include + 1, end, "PREVAILING").is_some() {
            return Err(QueryError::Unsupported {
                what: "WINDOW JOIN ... INCLUDE PREVAILING".to_string(),
            });
        }
    }
    if let Some(exclude) = tokens.keyword_at(next, end, "EXCLUDE") {
        // The default: only rows inside the window take part.
        next = tokens
            .keyword_at(exclude + 1, end, "PREVAILING")
            .ok_or_else(usage)?
            + 1;
    }
    Ok((before, after, next))
}

/// `CURRENT ROW` or `<duration> <direction>` (PRECEDING / FOLLOWING) from `i`: the INTERVAL text and the index after;
/// `None` when the tokens there are neither.
fn bound(
    tokens: &Tokens,
    i: usize,
    end: usize,
    direction: &str,
) -> Result<Option<(String, usize)>, QueryError> {
    let Some(at) = tokens.significant(i, end) else {
        return Ok(None);
    };
    if tokens.is_keyword(at, "CURRENT") {
        return Ok(tokens
            .keyword_at(at + 1, end, "ROW")
            .map(|row| (ZERO.to_string(), row + 1)));
    }
    let Some(duration) = duration::parse(tokens, at, end, Spelling::AlsoSpaced)? else {
        return Ok(None);
    };
    Ok(tokens
        .keyword_at(duration.next, end, direction)
        .map(|keyword| (duration.text, keyword + 1)))
}
