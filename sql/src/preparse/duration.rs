//! Duration literals: the compact `5m` / `250ms` form (a number directly followed by a unit),
//! QuestDB's `50T` / `10U`, the spaced `1 minute` form of window-join ranges, and INTERVAL
//! literals. Every form becomes `INTERVAL <n> <UNIT>`, the spelling sqlparser's ClickHouse
//! dialect accepts (it rejects `INTERVAL '5 minute'`, which has no unit after the literal).

use sqlparser::tokenizer::Token;

use super::tokens::Tokens;
use crate::QueryError;

/// Compact unit suffixes (case-sensitive: QuestDB's `M` is a month, `m` a minute) and the
/// SQL unit each stands for. `n`, `U` and `T` are QuestDB's nanosecond, microsecond and
/// millisecond letters.
const COMPACT_UNITS: &[(&str, &str)] = &[
    ("ns", "NANOSECOND"),
    ("n", "NANOSECOND"),
    ("us", "MICROSECOND"),
    ("U", "MICROSECOND"),
    ("ms", "MILLISECOND"),
    ("T", "MILLISECOND"),
    ("s", "SECOND"),
    ("m", "MINUTE"),
    ("h", "HOUR"),
    ("d", "DAY"),
    ("w", "WEEK"),
];

/// QuestDB's calendar suffixes, which have no fixed length in nanoseconds.
const CALENDAR_UNITS: &[&str] = &["M", "y"];

/// Spelled-out units (any letter case, singular or plural) and the SQL unit for each.
const LONG_UNITS: &[(&str, &str)] = &[
    ("NANOSECOND", "NANOSECOND"),
    ("MICROSECOND", "MICROSECOND"),
    ("MILLISECOND", "MILLISECOND"),
    ("SECOND", "SECOND"),
    ("MINUTE", "MINUTE"),
    ("HOUR", "HOUR"),
    ("DAY", "DAY"),
    ("WEEK", "WEEK"),
];

/// Units sqlparser accepts after an INTERVAL value (kept as written).
const INTERVAL_QUALIFIERS: &[&str] = &[
    "NANOSECOND",
    "NANOSECONDS",
    "MICROSECOND",
    "MICROSECONDS",
    "MILLISECOND",
    "MILLISECONDS",
    "SECOND",
    "SECONDS",
    "MINUTE",
    "MINUTES",
    "HOUR",
    "HOURS",
    "DAY",
    "DAYS",
    "WEEK",
    "WEEKS",
    "MONTH",
    "MONTHS",
    "QUARTER",
    "YEAR",
    "YEARS",
];

/// A duration found in the token list.
pub(super) struct Duration {
    /// Its text as an INTERVAL literal.
    pub(super) text: String,
    /// The index just after its last token.
    pub(super) next: usize,
}

/// Which duration spellings a context accepts besides the compact and INTERVAL forms.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Spelling {
    /// Only `5m` and INTERVAL literals.
    Compact,
    /// Also `5 minute` (a number, whitespace, a spelled-out unit), as in window-join ranges.
    AlsoSpaced,
}

/// The duration that starts at `i`, in any spelling `spelling` allows; `None` when the
/// tokens there are not a duration.
pub(super) fn parse(
    tokens: &Tokens,
    i: usize,
    end: usize,
    spelling: Spelling,
) -> Result<Option<Duration>, QueryError> {
    if let Some(duration) = compact(tokens, i)? {
        return Ok(Some(duration));
    }
    if tokens.is_keyword(i, "INTERVAL") {
        return interval(tokens, i, end);
    }
    if spelling == Spelling::AlsoSpaced {
        return spaced(tokens, i, end);
    }
    Ok(None)
}

/// `5m`: a number token directly followed (no whitespace) by an unquoted unit word.
pub(super) fn compact(tokens: &Tokens, i: usize) -> Result<Option<Duration>, QueryError> {
    let (Some(Token::Number(count, false)), Some(Token::Word(word))) =
        (tokens.get(i), tokens.get(i + 1))
    else {
        return Ok(None);
    };
    if word.quote_style.is_some() {
        return Ok(None);
    }
    if CALENDAR_UNITS.contains(&word.value.as_str()) {
        return Err(QueryError::Unsupported {
            what: format!(
                "duration `{count}{}`: calendar units (M = month, y = year) have no fixed length; \
                 use ns, us, ms, s, m, h, d or w",
                word.value
            ),
        });
    }
    let Some((_, unit)) = COMPACT_UNITS.iter().find(|(u, _)| *u == word.value) else {
        return Ok(None);
    };
    let text = interval_text(count, unit).ok_or_else(|| QueryError::Syntax {
        message: format!(
            "duration `{count}{}`: the count must be a whole number",
            word.value
        ),
    })?;
    Ok(Some(Duration { text, next: i + 2 }))
}

/// An INTERVAL literal at `i` (the INTERVAL keyword). `INTERVAL 5 MINUTE` and
/// `INTERVAL '5' MINUTE` are kept as written; `INTERVAL '5 minutes'`, `INTERVAL '5m'` and
/// `INTERVAL 5m` become `INTERVAL 5 MINUTE`. `None` for any other shape.
pub(super) fn interval(
    tokens: &Tokens,
    i: usize,
    end: usize,
) -> Result<Option<Duration>, QueryError> {
    let Some(value) = tokens.significant(i + 1, end) else {
        return Ok(None);
    };
    if let Some(duration) = compact(tokens, value)? {
        return Ok(Some(duration));
    }
    let qualifier = tokens.significant(value + 1, end).filter(|&k| {
        INTERVAL_QUALIFIERS
            .iter()
            .any(|unit| tokens.is_keyword(k, unit))
    });
    Ok(match (tokens.get(value), qualifier) {
        (Some(Token::Number(_, false) | Token::SingleQuotedString(_)), Some(unit)) => {
            Some(Duration {
                text: tokens.text(i, unit + 1).to_string(),
                next: unit + 1,
            })
        }
        (Some(Token::SingleQuotedString(body)), None) => {
            interval_from_string(body).map(|text| Duration {
                text,
                next: value + 1,
            })
        }
        _ => None,
    })
}

/// `5 minute`: a whole number, then (after whitespace) a spelled-out unit.
fn spaced(tokens: &Tokens, i: usize, end: usize) -> Result<Option<Duration>, QueryError> {
    let Some(Token::Number(count, false)) = tokens.get(i) else {
        return Ok(None);
    };
    let Some(unit_at) = tokens.significant(i + 1, end) else {
        return Ok(None);
    };
    let Some(Token::Word(word)) = tokens.get(unit_at) else {
        return Ok(None);
    };
    let Some(unit) = long_unit(&word.value).filter(|_| word.quote_style.is_none()) else {
        return Ok(None);
    };
    let text = interval_text(count, unit).ok_or_else(|| QueryError::Syntax {
        message: format!(
            "duration `{count} {}`: the count must be a whole number",
            word.value
        ),
    })?;
    Ok(Some(Duration {
        text,
        next: unit_at + 1,
    }))
}

/// `'5 minutes'` or `'5m'` (the body of a string) as `INTERVAL 5 MINUTE`.
fn interval_from_string(body: &str) -> Option<String> {
    let body = body.trim();
    let split = body.find(|c: char| !c.is_ascii_digit())?;
    let (count, unit) = body.split_at(split);
    let unit = unit.trim_start();
    let sql_unit = COMPACT_UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, sql)| *sql)
        .or_else(|| long_unit(unit))?;
    interval_text(count, sql_unit)
}

/// The SQL unit for a spelled-out unit such as `minutes` or `Hour`.
fn long_unit(word: &str) -> Option<&'static str> {
    let upper = word.to_ascii_uppercase();
    let singular = upper.strip_suffix('S').unwrap_or(&upper);
    LONG_UNITS
        .iter()
        .find(|(name, _)| *name == singular)
        .map(|(_, sql)| *sql)
}

/// `INTERVAL <count> <unit>` when `count` is a whole number (digit-group underscores allowed).
fn interval_text(count: &str, unit: &str) -> Option<String> {
    let digits: String = count.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(format!("INTERVAL {digits} {unit}"))
}
