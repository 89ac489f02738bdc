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

/// Most executors (cores) one `ingest` run asks for.
pub const INGEST_CORES_MAX: usize = 1_024;

/// Most concurrent writer tasks per executor in `ingest --writers`.
pub const WRITERS_PER_EXECUTOR_MAX: usize = 1_024;

/// Longest fdatasync interval `ingest --wal-mode batch` accepts (the WAL's own ceiling).
pub const WAL_BATCH_MS_MAX: u64 = 60_000;

/// Largest `ingest --checkpoint-mb` (the server's own ceiling: 1 TiB of log).
pub const CHECKPOINT_MB_MAX: u64 = 1 << 20;
/// Largest `ingest --spin-us`: one second of spinning is already a core given away.
pub const SPIN_US_MAX: u64 = 1_000_000;

/// Size of the file `fsync` measures in: preallocated and written with zeros before timing,
/// like a WAL segment (`WAL_SEGMENT_SIZE_DEFAULT`), so no sample pays for block allocation.
pub const FSYNC_FILE_SIZE: u64 = 64 << 20;

/// Smallest block `fsync` writes, and the alignment of every block size: O_DIRECT needs the
/// logical block size, and 4 KiB is also the WAL's block (`WAL_BLOCK_SIZE`).
pub const FSYNC_BLOCK_SIZE_MIN: usize = 4_096;

/// Largest block `fsync` writes.
pub const FSYNC_BLOCK_SIZE_MAX: usize = 1 << 20;

/// Size of each zero-filled write that pre-zeroes the `fsync` file.
pub const FSYNC_ZERO_CHUNK_SIZE: usize = 1 << 20;

/// Most samples (measured plus warm-up) of one `fsync` loop: each is a disk flush, so at a
/// typical 0.1–10 ms this is minutes to hours, never weeks.
pub const FSYNC_SAMPLES_COUNT_MAX: u64 = 1_000_000;

/// Registered I/O memory of the `fsync` executor: under the common 8 MiB memlock limit.
pub const FSYNC_IO_MEMORY_SIZE: usize = 1 << 20;

const _: () = {
    assert!(BATCH_ROWS_MAX <= ROWS_MAX);
    // Blocks are aligned, and the file and its zero chunks are whole numbers of blocks.
    assert!(FSYNC_BLOCK_SIZE_MAX.is_multiple_of(FSYNC_BLOCK_SIZE_MIN));
    assert!(FSYNC_ZERO_CHUNK_SIZE.is_multiple_of(FSYNC_BLOCK_SIZE_MIN));
    assert!(FSYNC_FILE_SIZE.is_multiple_of(FSYNC_ZERO_CHUNK_SIZE as u64));
    // At least one block fits, so the offsets can wrap around the file.
    assert!(FSYNC_BLOCK_SIZE_MAX as u64 <= FSYNC_FILE_SIZE);
    assert!(FSYNC_SAMPLES_COUNT_MAX <= ITERATIONS_COUNT_MAX);
    assert!(ROWS_MAX <= ITERATIONS_COUNT_MAX);
    // `S` + decimal digits of the largest symbol index (99_999) fits the name ceiling.
    assert!(SYMBOLS_COUNT_MAX <= 100_000 && SYMBOL_NAME_SIZE_MAX >= 6);
    // A RowBinary row is never larger than the CSV bound used for sizing.
    assert!(1 + SYMBOL_NAME_SIZE_MAX + 24 <= ROW_SIZE_MAX);
    // One batch stays far below the response-size-like bounds a server sets on bodies.
    assert!(BATCH_ROWS_MAX as usize * ROW_SIZE_MAX <= 128 << 20);
    assert!(REQUEST_TIMEOUT.as_nanos() <= LATENCY_NS_MAX as u128);
};
