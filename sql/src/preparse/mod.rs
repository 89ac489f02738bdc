//! Pre-parse rewrite: lets sqlparser's ClickHouse dialect parse the tick SQL users bring from
//! QuestDB, kdb+, DuckDB and ClickHouse. The text is tokenized with sqlparser's own tokenizer
//! (so string literals, quoted identifiers and comments are never touched) and the extension
//! syntax is rewritten into standard SQL that carries its meaning in marker function calls
//! whose names start with `__`:
//!
//! - durations `5m`, `250ms`, `1h` → `INTERVAL 5 MINUTE` (see `duration`);
//! - `SAMPLE BY ...` → `GROUP BY __sample_by(...)` (see `sample_by`);
//! - `LATEST ON ... PARTITION BY ...` / `LATEST BY ...` → `GROUP BY __latest_on(...)`
//!   (see `latest_on`);
//! - ASOF / LT / WINDOW joins → `ASOF JOIN ... MATCH_CONDITION (__asof(...) | __lt_join(...) |
//!   __window_join(...))` (see `join`);
//! - ClickHouse's `LIMIT n BY cols LIMIT m` → the `LIMIT n BY` query as a derived table under
//!   `LIMIT m` (see `limit_by`; done first, on the original text).
//!
//! Everything else comes back byte for byte.

mod duration;
mod join;
mod latest_on;
mod limit_by;
mod sample_by;
mod tokens;

#[cfg(test)]
mod tests;

use sqlparser::dialect::ClickHouseDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::QueryError;
use tokens::Tokens;

/// Rewrites the extension syntax in `sql` into standard SQL with marker calls; text without
/// extensions is returned unchanged. A malformed extension clause is a `QueryError::Syntax`
/// naming the clause.
pub fn rewrite(sql: &str) -> Result<String, QueryError> {
    let tokens = Tokenizer::new(&ClickHouseDialect {}, sql)
        .with_unescape(false)
        .tokenize_with_location()
        .map_err(|e| QueryError::Syntax {
            message: e.to_string(),
        })?;
    let tokens = Tokens::new(sql, tokens);
    if let Some(wrapped) = limit_by::wrap(&tokens) {
        // The wrapped text has no `LIMIT … BY … LIMIT` left at any level: this recursion ends.
        return rewrite(&wrapped);
    }
    Rewriter { tokens: &tokens }.span(0, tokens.len())
}

/// A `QueryError::Syntax` whose message starts with the clause it is about.
fn syntax_error(clause: &str, detail: impl std::fmt::Display) -> QueryError {
    QueryError::Syntax {
        message: format!("{clause}: {detail}"),
    }
}

/// Replacement text for tokens from a clause's first token up to `next`.
struct Replacement {
    /// The text to emit.
    text: String,
    /// The index of the first token after the replaced ones.
    next: usize,
}

/// The grouping clause a SELECT has claimed, one per parenthesis level.
#[derive(Default)]
struct Scope {
    /// `GROUP BY`, `SAMPLE BY` or `LATEST ON`, once seen.
    grouping: Option<&'static str>,
}

/// Walks the tokens and emits their rewritten text.
struct Rewriter<'a> {
    /// The whole statement's tokens.
    tokens: &'a Tokens<'a>,
}

impl Rewriter<'_> {
    /// The rewritten text of tokens `start..end` (which must not cut a parenthesised group).
    fn span(&self, start: usize, end: usize) -> Result<String, QueryError> {
        let mut out = String::new();
        let mut scopes = vec![Scope::default()];
        let mut i = start;
        while i < end {
            if let Some(replacement) = self.clause_at(i, end, &mut scopes)? {
                out.push_str(&replacement.text);
                i = replacement.next;
                continue;
            }
            match self.tokens.get(i) {
                Some(Token::LParen) => scopes.push(Scope::default()),
                Some(Token::RParen) if scopes.len() > 1 => {
                    scopes.pop();
                }
                _ if self.tokens.is_keyword(i, "SELECT") => {
                    if let Some(scope) = scopes.last_mut() {
                        scope.grouping = None;
                    }
                }
                _ => {}
            }
            out.push_str(self.tokens.text(i, i + 1));
            i += 1;
        }
        Ok(out)
    }

    /// The rewrite of the extension that starts at `i`, if one does.
    fn clause_at(
        &self,
        i: usize,
        end: usize,
        scopes: &mut [Scope],
    ) -> Result<Option<Replacement>, QueryError> {
        let tokens = self.tokens;
        let next_is = |keyword: &str| tokens.keyword_at(i + 1, end, keyword).is_some();
        match tokens.get(i) {
            Some(Token::Number(..)) => Ok(duration::compact(tokens, i)?.map(Into::into)),
            Some(Token::Word(w)) if w.quote_style.is_none() => {
                match w.value.to_ascii_uppercase().as_str() {
                    "INTERVAL" => Ok(duration::interval(tokens, i, end)?.map(Into::into)),
                    "GROUP" if next_is("BY") => {
                        claim(scopes, "GROUP BY")?;
                        Ok(None)
                    }
                    "SAMPLE" if next_is("BY") => {
                        claim(scopes, "SAMPLE BY")?;
                        sample_by::rewrite(tokens, i, end).map(Some)
                    }
                    "LATEST" if next_is("ON") || next_is("BY") => {
                        claim(scopes, "LATEST ON")?;
                        latest_on::rewrite(self, i, end).map(Some)
                    }
                    "ASOF" | "LEFT" | "LT" | "WINDOW" => join::rewrite(self, i, end),
                    _ => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }
}

impl From<duration::Duration> for Replacement {
    fn from(duration: duration::Duration) -> Self {
        Replacement {
            text: duration.text,
            next: duration.next,
        }
    }
}

/// Records that the innermost SELECT groups by `clause`; a second grouping clause is an error.
fn claim(scopes: &mut [Scope], clause: &'static str) -> Result<(), QueryError> {
    let Some(scope) = scopes.last_mut() else {
        return Ok(());
    };
    match scope.grouping {
        Some(earlier) => Err(syntax_error(
            clause,
            format!("cannot be combined with {earlier} in the same SELECT"),
        )),
        None => {
            scope.grouping = Some(clause);
            Ok(())
        }
    }
}
