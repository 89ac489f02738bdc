//! QuestDB `LATEST ON <ts> PARTITION BY <col>[, ...]` becomes
//! `GROUP BY __latest_on(<ts>, <col>, ...)`; the older `LATEST BY <col>[, ...]` becomes
//! `GROUP BY __latest_on(NULL, <col>, ...)` (NULL: the designated timestamp). A WHERE clause
//! written after the clause (the older QuestDB order) is moved in front of the GROUP BY.

use super::tokens::Tokens;
use super::{syntax_error, Replacement, Rewriter};
use crate::QueryError;

/// Rewrites the clause whose `LATEST` keyword is at `i` (followed by `ON` or `BY`).
pub(super) fn rewrite(rw: &Rewriter, i: usize, end: usize) -> Result<Replacement, QueryError> {
    let tokens: &Tokens = rw.tokens;
    let usage = || {
        syntax_error(
            "LATEST ON",
            "expected LATEST ON <timestamp> PARTITION BY <column>[, ...] or LATEST BY <column>[, ...]",
        )
    };
    let (timestamp, columns_from) = if let Some(on) = tokens.keyword_at(i + 1, end, "ON") {
        let start = tokens.significant(on + 1, end).ok_or_else(usage)?;
        let stop = tokens.clause_end(start, end, false);
        let partition = tokens
            .keyword_at(stop, end, "PARTITION")
            .ok_or_else(usage)?;
        if stop == start {
            return Err(usage());
        }
        let by = tokens
            .keyword_at(partition + 1, end, "BY")
            .ok_or_else(usage)?;
        (rw.span(start, stop)?, by + 1)
    } else {
        let by = tokens.keyword_at(i + 1, end, "BY").ok_or_else(usage)?;
        ("NULL".to_string(), by + 1)
    };
    let start = tokens.significant(columns_from, end).ok_or_else(usage)?;
    let stop = tokens.clause_end(start, end, false);
    if stop == start {
        return Err(usage());
    }
    let group_by = format!(
        "GROUP BY __latest_on({timestamp}, {})",
        rw.span(start, stop)?
    );
    match tokens.keyword_at(stop, end, "WHERE") {
        Some(filter) => {
            let filter_end = tokens.clause_end(filter + 1, end, false);
            if filter_end == filter + 1 {
                return Err(syntax_error("WHERE", "expected a condition"));
            }
            Ok(Replacement {
                text: format!("{} {group_by}", rw.span(filter, filter_end)?),
                next: filter_end,
            })
        }
        None => Ok(Replacement {
            text: group_by,
            next: stop,
        }),
    }
}
