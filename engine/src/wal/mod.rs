//! The per-shard write-ahead log: what makes an acknowledged write survive a crash.
//!
//! Each shard (one pinned executor) owns one `Wal` and one directory of segment files; no
//! other core ever touches them, so there are no locks. The write path is: encode the change
//! (`codec`), `append` it (a record in memory, `record`), `commit` (group commit: one O_DIRECT
//! write of the dirty 4 KiB blocks plus one `fdatasync` for every record waiting at that
//! moment, `writer`), then apply it to the store and acknowledge. At start-up `recover` replays
//! what the store's checkpoint does not cover and cuts a torn tail (`recovery`).
//!
//! Why pre-zeroed segments: on this machine a 64 KiB write + fdatasync costs 150–200 µs when
//! it overwrites blocks of a file that already exist, ~310 µs into fallocated-only space (the
//! file system journals the extent conversion) and ~4 ms when it grows the file, because the
//! kernel work lands on the pinned core (DESIGN, "Measured facts"). So every segment is
//! created at its full size, written with zeros, on a helper thread before it is needed, and a
//! checkpointed segment is recycled — renamed and zeroed again off the core — instead of
//! deleted. Zeros also make the end of the log unambiguous: past the last record every byte
//! is zero, so recovery can tell a clean end (zeros) from a hole (zeros, then data).
//!
//! Why group commit: an fdatasync costs the same for one record as for a hundred. Commits
//! that arrive while a flush is in flight wait for the next one, which covers all of them;
//! under load the number of fdatasyncs per second stays flat while records per second grow.
//!
//! Ordering guarantees:
//! - LSNs are dense (1, 2, 3, ...) in append order, and records are written in LSN order.
//! - Under `SyncMode::Sync`, `commit(lsn)` returns only after every record up to `lsn` is
//!   written and fdatasynced; `Batch` and `Off` trade that for latency, as documented on
//!   `SyncMode`.
//! - A segment is fdatasynced before the next one is started, and a segment's header is
//!   synced before its name appears, so the log on disk is always a prefix of the appends,
//!   possibly followed by one torn region, which recovery cuts.
//! - A failed write or fdatasync poisons the WAL: every waiter and every later call gets
//!   `WalError::Poisoned` naming the first failure. Nothing is acknowledged after a failure
//!   we cannot account for (after a failed fdatasync the page state is unknown).
//!
//! What it refuses to know: table semantics (payloads are opaque to `record` and `writer`),
//! checkpoints (the caller passes the LSN its store has persisted), and networking.

pub mod codec;
pub mod error;
pub mod record;
pub mod recovery;
pub mod segment;
pub mod writer;

#[cfg(test)]
mod tests;

/// A log sequence number: 1 for the first record ever appended, dense and increasing. 0 means
/// "nothing".
pub type Lsn = u64;

pub use codec::{
    decode_entry, decode_insert_batch, encode_checkpoint, encode_create_table, encode_drop_table,
    encode_insert_batch, encode_mutation, encode_set_ttl, WalEntry,
};
pub use error::{CodecError, WalError};
pub use record::{RecordKind, WAL_RECORD_HEADER_SIZE, WAL_RECORD_PAYLOAD_SIZE_MAX};
pub use recovery::{recover, Recovered, RecoveredRecord, RecoveryCut, RecoveryReport};
pub use segment::{WAL_SEGMENT_HEADER_SIZE, WAL_SEGMENT_SIZE_DEFAULT};
pub use writer::{
    SyncMode, Wal, WalConfig, WalStats, WAL_WRITES_IN_FLIGHT_DEFAULT, WAL_WRITES_IN_FLIGHT_MAX,
};
