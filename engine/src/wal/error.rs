//! The WAL's errors: every variant names what failed and where (path, offset, lsn, os error).
//!
//! Two enums: `CodecError` for payload bytes that do not decode (the disk is input, so every
//! malformed shape has a variant), and `WalError` for everything else. A `WalError` is
//! `Send + Sync` so a shard can hand it to the coordinator that sent the write.

use std::path::PathBuf;
use std::sync::Arc;

use super::Lsn;
use crate::ring::RingLayout;

/// A payload that cannot be encoded or decoded. Offsets are byte offsets inside the payload.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// The payload ends before a field does.
    #[error(
        "payload truncated at offset {offset}: {needed_size} bytes needed, {available_size} left"
    )]
    Truncated {
        /// Where the field starts.
        offset: usize,
        /// Bytes the field needs.
        needed_size: usize,
        /// Bytes left in the payload.
        available_size: usize,
    },
    /// A tag byte (column type, data type, flag) has no meaning.
    #[error("bad {what} tag {tag} at offset {offset}")]
    BadTag {
        /// Which tag.
        what: &'static str,
        /// The byte found.
        tag: u8,
        /// Where.
        offset: usize,
    },
    /// A string is not UTF-8, or a string boundary splits a character.
    #[error("bad UTF-8 in {what} at offset {offset}")]
    BadUtf8 {
        /// Which string.
        what: &'static str,
        /// Where the string data starts.
        offset: usize,
    },
    /// Two counts that must agree do not (column lengths, NULL masks, string offsets).
    #[error("count mismatch in {what}: expected {expected}, found {found}")]
    CountMismatch {
        /// Which count.
        what: &'static str,
        /// The count implied elsewhere.
        expected: u64,
        /// The count found.
        found: u64,
    },
    /// A size or count exceeds its limit.
    #[error("{what} is {size}, over the limit of {size_max}")]
    TooLarge {
        /// Which size.
        what: &'static str,
        /// The size found.
        size: u64,
        /// The limit.
        size_max: u64,
    },
    /// A row index given to the encoder is not a row of the batch (a caller bug).
    #[error("row index {row_index} out of range for a batch of {rows_count} rows")]
    BadRowIndex {
        /// The index.
        row_index: u32,
        /// Rows in the batch.
        rows_count: usize,
    },
    /// Bytes remain after the last field.
    #[error("{count} trailing bytes at offset {offset}")]
    TrailingBytes {
        /// Where they start.
        offset: usize,
        /// How many.
        count: usize,
    },
}

/// Everything that can go wrong in the WAL.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// A configuration value is out of range.
    #[error("bad WAL configuration: {detail}")]
    Config {
        /// What is wrong.
        detail: String,
    },
    /// An I/O call failed.
    #[error("WAL {op} failed on {path} at offset {offset}: {source}")]
    Io {
        /// The operation (`write`, `fdatasync`, `open`, `rename`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Byte offset in the file (0 when it does not apply).
        offset: u64,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A write moved fewer bytes than asked.
    #[error("short WAL write on {path} at offset {offset}: {written_size} of {size} bytes")]
    ShortWrite {
        /// The segment.
        path: PathBuf,
        /// Where the write started.
        offset: u64,
        /// Bytes asked.
        size: usize,
        /// Bytes written.
        written_size: usize,
    },
    /// A segment's 4 KiB header is damaged or does not match its file name.
    #[error("WAL segment header corrupt in {path}: {detail}")]
    SegmentHeaderCorrupt {
        /// The segment.
        path: PathBuf,
        /// What does not match.
        detail: String,
    },
    /// A segment was written by an older (or newer) format this build does not read.
    #[error(
        "WAL segment {path} has format version {version}; this build reads version \
         {version_supported} only (version 2 added the ring identity to the header). \
         Refusing to start rather than guess at its layout"
    )]
    SegmentVersionUnsupported {
        /// The segment.
        path: PathBuf,
        /// The version in its header.
        version: u32,
        /// The version this build reads and writes.
        version_supported: u32,
    },
    /// A segment was written by another shard or under another ring than the running one.
    /// Rows are not re-routed on a ring change, so replaying it would put rows on a shard that
    /// does not own them: start with the ring the data was written under.
    #[error(
        "WAL segment {path} was written by shard {segment_shard_index} of the ring \
         ({segment_ring}), but it would be replayed by shard {shard_index} of the ring now \
         ({ring}); rows are not re-routed between rings, so refusing to start (run with the \
         core count the data directory was written with)"
    )]
    RingMismatch {
        /// The segment.
        path: PathBuf,
        /// The shard named in its header.
        segment_shard_index: u32,
        /// The ring named in its header.
        segment_ring: RingLayout,
        /// The shard that would replay it.
        shard_index: u32,
        /// The running ring.
        ring: RingLayout,
    },
    /// The log starts after the caller's checkpoint: records in between are gone.
    #[error(
        "WAL history missing: checkpoint covers lsn {after_lsn}, \
         oldest segment {path} starts at lsn {first_lsn}"
    )]
    MissingHistory {
        /// The caller's checkpoint LSN.
        after_lsn: Lsn,
        /// The first LSN on disk.
        first_lsn: Lsn,
        /// The oldest segment.
        path: PathBuf,
    },
    /// The caller's checkpoint is past the end of the log: appending would reuse LSNs.
    #[error("WAL ends at lsn {log_end_lsn} but the checkpoint covers lsn {after_lsn}")]
    CheckpointAhead {
        /// The caller's checkpoint LSN.
        after_lsn: Lsn,
        /// The last LSN in the log (0 when none).
        log_end_lsn: Lsn,
    },
    /// A record with a valid CRC holds a payload that does not decode: a format bug.
    #[error("WAL record lsn {lsn} in {path} at offset {offset} does not decode: {source}")]
    Decode {
        /// The record's LSN.
        lsn: Lsn,
        /// The segment.
        path: PathBuf,
        /// The record's offset in the segment.
        offset: u64,
        /// Why.
        #[source]
        source: CodecError,
    },
    /// A payload could not be encoded.
    #[error("WAL payload encoding failed: {0}")]
    Encode(#[from] CodecError),
    /// A payload is larger than one record may carry.
    #[error("WAL record payload of {payload_size} bytes exceeds {payload_size_max}")]
    RecordTooLarge {
        /// The payload's size.
        payload_size: usize,
        /// The limit.
        payload_size_max: usize,
    },
    /// The append buffer is full; commit and retry (backpressure).
    #[error(
        "WAL buffer full: {pending_size} bytes pending, \
         {record_size} more would exceed {buffer_size_max}"
    )]
    BufferFull {
        /// Bytes buffered, not yet written.
        pending_size: usize,
        /// Bytes the record needs.
        record_size: usize,
        /// The buffer's bound.
        buffer_size_max: usize,
    },
    /// An earlier write or fdatasync failed; nothing more is accepted.
    #[error("WAL poisoned by an earlier failure: {cause}")]
    Poisoned {
        /// The failure that poisoned the WAL.
        #[source]
        cause: Arc<WalError>,
    },
    /// A commit named an LSN that was never appended (a caller bug).
    #[error("commit of lsn {lsn}, but the next lsn to append is {next_lsn}")]
    NotAppended {
        /// The LSN asked for.
        lsn: Lsn,
        /// The next LSN `append` would give.
        next_lsn: Lsn,
    },
    /// The WAL was closed.
    #[error("WAL closed")]
    Closed,
    /// A helper thread that creates or recycles segments died.
    #[error("WAL helper thread failed: {detail}")]
    Helper {
        /// What happened.
        detail: String,
    },
}

impl WalError {
    /// An `Io` error for `op` on `path` at `offset`.
    pub fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
        offset: u64,
        source: std::io::Error,
    ) -> Self {
        WalError::Io {
            op,
            path: path.into(),
            offset,
            source,
        }
    }

    /// A `Io` error from a glommio error (which carries its own operation and path).
    pub(crate) fn glommio<T>(
        op: &'static str,
        path: impl Into<PathBuf>,
        offset: u64,
        source: glommio::GlommioError<T>,
    ) -> Self {
        WalError::io(op, path, offset, std::io::Error::from(source))
    }
}
