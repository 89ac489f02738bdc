//! The one error type of the harness; each variant names whose fault it is and carries the
//! URL, status and a body excerpt needed to act on it.

use crate::limits::BODY_EXCERPT_CHARS_MAX;

/// Everything that can stop a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The in-process engine failed to start or to apply a batch.
    #[error("in-process engine: {detail}")]
    Engine {
        /// What failed.
        detail: String,
    },
    /// A command-line value is outside what the harness accepts (the user's fault).
    #[error("invalid --{name}: {detail}")]
    Argument {
        /// The flag, without the leading dashes.
        name: &'static str,
        /// What is wrong and what is accepted.
        detail: String,
    },
    /// The request never produced a complete response: connect, send, timeout or body read.
    #[error("request to {url} failed: {source}")]
    Transport {
        /// The full request URL.
        url: String,
        /// The underlying client error (boxed: `ureq::Error` is large).
        #[source]
        source: Box<ureq::Error>,
    },
    /// The server answered with a status other than 200 (the server's verdict on our request).
    #[error("{url} answered HTTP {status}: {body_excerpt}")]
    Status {
        /// The full request URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, escaped for one line.
        body_excerpt: String,
    },
    /// The server answered 200 with a body the contract does not allow (the server's bug).
    #[error("{url} answered 200 with an unexpected body ({expected} expected): {body_excerpt}")]
    UnexpectedBody {
        /// The full request URL.
        url: String,
        /// What the contract says the body is.
        expected: &'static str,
        /// The start of the response body, escaped for one line.
        body_excerpt: String,
    },
    /// A file-system call of an in-process measurement failed (permissions, disk full, a file
    /// system without O_DIRECT): the machine's fault, or the chosen directory's.
    #[error("cannot {operation} {}: {source}", path.display())]
    Io {
        /// What was being done (`create`, `fdatasync`, …).
        operation: &'static str,
        /// The file or directory it was done to.
        path: std::path::PathBuf,
        /// The error the system reported.
        #[source]
        source: std::io::Error,
    },
    /// The glommio executor of an in-process measurement could not start or did not finish
    /// (io_uring unavailable, too little RLIMIT_MEMLOCK, a panic inside it).
    #[error("executor: {detail}")]
    Executor {
        /// What failed, with the system's reason.
        detail: String,
    },
    /// A report line could not be written (closed stdout, full disk).
    #[error("cannot write the report: {0}")]
    Output(#[source] std::io::Error),
    /// A broken invariant inside the harness: our bug, never the server's or the user's.
    #[error("internal error in quecto-bench: {detail}")]
    Internal {
        /// What went wrong.
        detail: String,
    },
}

/// The start of `body` as one printable line: at most `BODY_EXCERPT_CHARS_MAX` characters,
/// trailing whitespace dropped, invalid UTF-8 replaced, `…` appended when cut, and `\`, `"` and
/// control characters escaped, so the excerpt can sit between double quotes in a report line.
pub fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim_end();
    let mut excerpt = String::with_capacity(text.len().min(BODY_EXCERPT_CHARS_MAX * 2));
    for c in text.chars().take(BODY_EXCERPT_CHARS_MAX) {
        body_excerpt_push(&mut excerpt, c);
    }
    if text.chars().nth(BODY_EXCERPT_CHARS_MAX).is_some() {
        excerpt.push('…');
    }
    excerpt
}

fn body_excerpt_push(excerpt: &mut String, c: char) {
    match c {
        '\\' => excerpt.push_str("\\\\"),
        '"' => excerpt.push_str("\\\""),
        '\n' => excerpt.push_str("\\n"),
        '\r' => excerpt.push_str("\\r"),
        '\t' => excerpt.push_str("\\t"),
        c if c.is_control() => excerpt.extend(c.escape_unicode()),
        c => excerpt.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_excerpt_escapes_newlines_and_trims_the_tail() {
        assert_eq!(
            body_excerpt(b"Code: 62. Syntax error\nat 'SELEC'\n"),
            "Code: 62. Syntax error\\nat 'SELEC'"
        );
    }

    #[test]
    fn body_excerpt_escapes_quotes_and_backslashes() {
        assert_eq!(body_excerpt(br#"a "b" \c"#), r#"a \"b\" \\c"#);
    }

    #[test]
    fn body_excerpt_cuts_long_bodies_and_marks_the_cut() {
        let body = vec![b'x'; BODY_EXCERPT_CHARS_MAX + 50];
        let excerpt = body_excerpt(&body);
        assert_eq!(excerpt.chars().count(), BODY_EXCERPT_CHARS_MAX + 1);
        assert!(excerpt.ends_with('…'));
    }

    #[test]
    fn body_excerpt_survives_invalid_utf8() {
        assert_eq!(body_excerpt(&[b'o', 0xFF, b'k']), "o\u{FFFD}k");
    }
}
