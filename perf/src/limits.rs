//! Named ceilings of the harness, checked against each other at compile time.
//!
//! Every loop in `quecto-bench` is bounded by a count the user passes (`--count`, `--rows`), and
//! every such count is bounded by a ceiling here, so a typo cannot make the harness run for a
//! week or allocate the machine away. The pre-encoded insert data is the one large allocation:
//! `ROWS_MAX` rows of at most `ROW_SIZE_MAX` bytes each.

use std::time::Duration;

/// Most measured (or warm-up) iterations of one loop.
pub const ITERATIONS_COUNT_MAX: u64 = 100_000_000;

/// Most rows one `insert` run generates. Everything is encoded before timing starts, so this
/// bounds memory: RowBinary trades take about 30 bytes a row (3 GB at the ceiling).
pub const ROWS_MAX: u64 = 100_000_000;

/// Most rows in one insert request.
pub const BATCH_ROWS_MAX: u64 = 1_000_000;

/// Most distinct symbols the generator names (`S0000` … `S99999`).
pub const SYMBOLS_COUNT_MAX: u32 = 100_000;

/// Longest symbol name the generator produces: `S` plus at most 5 digits (`SYMBOLS_COUNT_MAX`).
pub const SYMBOL_NAME_SIZE_MAX: usize = 6;

/// Largest encoded row, in either format. RowBinary: 1 varint byte + name + 3 × 8 bytes.
/// CSV: name, `,`, 19-digit timestamp, `,`, price (at most 24 chars), `,`, 4-digit volume, `\n`.
pub const ROW_SIZE_MAX: usize = SYMBOL_NAME_SIZE_MAX + 1 + 19 + 1 + 24 + 1 + 4 + 1;

/// Largest response body read; a larger one is an error, not a truncation.
pub const RESPONSE_SIZE_MAX: u64 = 64 << 20;

/// Characters of a response body quoted in an error message or a report line.
pub const BODY_EXCERPT_CHARS_MAX: usize = 200;

/// Wall-clock limit of one HTTP request, connect included. A full-table scan of `ROWS_MAX`
/// rows must fit; anything slower is a hung server as far as the harness is concerned.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Largest latency a histogram holds without saturating: one hour, in nanoseconds.
pub const LATENCY_NS_MAX: u64 = 3_600 * 1_000_000_000;

const _: () = {
    assert!(BATCH_ROWS_MAX <= ROWS_MAX);
    assert!(ROWS_MAX <= ITERATIONS_COUNT_MAX);
    // `S` + decimal digits of the largest symbol index (99_999) fits the name ceiling.
    assert!(SYMBOLS_COUNT_MAX <= 100_000 && SYMBOL_NAME_SIZE_MAX >= 6);
    // A RowBinary row is never larger than the CSV bound used for sizing.
    assert!(1 + SYMBOL_NAME_SIZE_MAX + 24 <= ROW_SIZE_MAX);
    // One batch stays far below the response-size-like bounds a server sets on bodies.
    assert!(BATCH_ROWS_MAX as usize * ROW_SIZE_MAX <= 128 << 20);
    assert!(REQUEST_TIMEOUT.as_nanos() <= LATENCY_NS_MAX as u128);
};
