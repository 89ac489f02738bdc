//! The token list the rewrites walk, with the look-ahead they share: skipping whitespace and
//! comments, keyword tests, matching parentheses and finding where a clause ends.

use sqlparser::tokenizer::{Location, Token, TokenWithSpan};

/// Words that end a clause body (at parenthesis depth 0): the next clause, a join, or one of
/// the words our extension clauses are built from.
const CLAUSE_ENDS: &[&str] = &[
    "WHERE",
    "PREWHERE",
    "GROUP",
    "HAVING",
    "ORDER",
    "LIMIT",
    "OFFSET",
    "FETCH",
    "SAMPLE",
    "LATEST",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "WINDOW",
    "QUALIFY",
    "SETTINGS",
    "FORMAT",
    "JOIN",
    "INNER",
    "FULL",
    "CROSS",
    "OUTER",
    "ASOF",
    "GLOBAL",
    "SEMI",
    "ANTI",
    "ARRAY",
    "NATURAL",
    "ON",
    "USING",
    "MATCH_CONDITION",
    "TOLERANCE",
    "RANGE",
    "PARTITION",
];

/// The tokens of one SQL text, whitespace and comments included, with where each starts in
/// the text, so that any run of tokens can be given back exactly as written.
pub(super) struct Tokens<'s> {
    source: &'s str,
    tokens: Vec<Token>,
    /// Byte offset of each token's start, then the text's length.
    offsets: Vec<usize>,
}

impl<'s> Tokens<'s> {
    /// The tokens of `source` (the tokenizer's spans are contiguous: each token starts where
    /// the one before ended).
    pub(super) fn new(source: &'s str, spanned: Vec<TokenWithSpan>) -> Self {
        let mut offsets = Vec::with_capacity(spanned.len() + 1);
        let mut cursor = LocationCursor::new(source);
        for token in &spanned {
            offsets.push(cursor.advance_to(token.span.start));
        }
        offsets.push(source.len());
        let tokens = spanned.into_iter().map(|t| t.token).collect();
        Tokens {
            source,
            tokens,
            offsets,
        }
    }

    /// Number of tokens.
    pub(super) fn len(&self) -> usize {
        self.tokens.len()
    }

    /// The token at `i`, if any.
    pub(super) fn get(&self, i: usize) -> Option<&Token> {
        self.tokens.get(i)
    }

    /// The first index in `i..end` that is not whitespace or a comment.
    pub(super) fn significant(&self, i: usize, end: usize) -> Option<usize> {
        (i..end.min(self.len())).find(|&k| !matches!(self.tokens[k], Token::Whitespace(_)))
    }

    /// The last index before `i` that is not whitespace or a comment.
    pub(super) fn previous_significant(&self, i: usize) -> Option<usize> {
        (0..i.min(self.len()))
            .rev()
            .find(|&k| !matches!(self.tokens[k], Token::Whitespace(_)))
    }

    /// Whether the token at `i` is the unquoted word `keyword`, in any letter case.
    pub(super) fn is_keyword(&self, i: usize, keyword: &str) -> bool {
        matches!(self.get(i), Some(Token::Word(w))
            if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(keyword))
    }

    /// The index of the next significant token from `i` when it is `keyword`.
    pub(super) fn keyword_at(&self, i: usize, end: usize, keyword: &str) -> Option<usize> {
        self.significant(i, end)
            .filter(|&k| self.is_keyword(k, keyword))
    }

    /// The index of the next significant token from `i` when it is `token`.
    pub(super) fn token_at(&self, i: usize, end: usize, token: &Token) -> Option<usize> {
        self.significant(i, end)
            .filter(|&k| self.get(k) == Some(token))
    }

    /// The tokens `start..end` exactly as written.
    pub(super) fn text(&self, start: usize, end: usize) -> &'s str {
        let end = end.min(self.len());
        let start = start.min(end);
        &self.source[self.offsets[start]..self.offsets[end]]
    }

    /// The index of the `)` that closes the `(` at `open`.
    pub(super) fn closing_paren(&self, open: usize, end: usize) -> Option<usize> {
        let mut depth = 0usize;
        for k in open..end.min(self.len()) {
            match self.tokens[k] {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(k);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// Where a clause body that starts at `start` ends: just after its last significant token
    /// before the first depth-0 `)`, `;`, clause word (see `CLAUSE_ENDS`) or, when
    /// `comma_ends` is set, `,`. Equals `start` for an empty body.
    pub(super) fn clause_end(&self, start: usize, end: usize, comma_ends: bool) -> usize {
        let mut depth = 0usize;
        let mut last = start;
        for k in start..end.min(self.len()) {
            match &self.tokens[k] {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => break,
                Token::RParen => depth -= 1,
                Token::SemiColon if depth == 0 => break,
                Token::Comma if depth == 0 && comma_ends => break,
                Token::Word(_) if depth == 0 && self.ends_clause(k, end) => break,
                _ => {}
            }
            if !matches!(self.tokens[k], Token::Whitespace(_)) {
                last = k + 1;
            }
        }
        last
    }

    /// Whether the word at `k` starts the next clause or join rather than continuing an
    /// expression or naming an alias.
    pub(super) fn ends_clause(&self, k: usize, end: usize) -> bool {
        let Some(Token::Word(w)) = self.get(k) else {
            return false;
        };
        if w.quote_style.is_some() {
            return false;
        }
        let value = w.value.to_ascii_uppercase();
        match value.as_str() {
            // LEFT(s, n) and RIGHT(s, n) are functions; `lt` is a name unless a join follows.
            "LEFT" | "RIGHT" => self.token_at(k + 1, end, &Token::LParen).is_none(),
            "LT" => self.keyword_at(k + 1, end, "JOIN").is_some(),
            _ => CLAUSE_ENDS.contains(&value.as_str()),
        }
    }
}

/// Walks a text forward, turning the tokenizer's 1-based line and column (counted in
/// characters, a new line after each `\n`) into byte offsets.
struct LocationCursor<'s> {
    chars: std::iter::Peekable<std::str::CharIndices<'s>>,
    len: usize,
    line: u64,
    column: u64,
}

impl<'s> LocationCursor<'s> {
    fn new(source: &'s str) -> Self {
        LocationCursor {
            chars: source.char_indices().peekable(),
            len: source.len(),
            line: 1,
            column: 1,
        }
    }

    /// The byte offset of `target`, which must not lie before the previous target.
    fn advance_to(&mut self, target: Location) -> usize {
        while (self.line, self.column) < (target.line, target.column) {
            match self.chars.next() {
                Some((_, '\n')) => {
                    self.line += 1;
                    self.column = 1;
                }
                Some(_) => self.column += 1,
                None => break,
            }
        }
        self.chars.peek().map_or(self.len, |&(offset, _)| offset)
    }
}
