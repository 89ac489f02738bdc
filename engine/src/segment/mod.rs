//! Immutable on-disk column segments: the sealed form of a shard's partitions.
//!
//! A segment file holds the chunks of several partitions of one table on one shard over one
//! time range, column by column, exactly as the in-memory chunks hold them. It is written once
//! (`write_segment`), published atomically, and from then on only read (`Segment::open`,
//! memory-mapped). This module owns the byte format, its checks and the crash-safe publish; it
//! knows nothing of checkpoints, WAL positions or which files a shard keeps: callers decide
//! what a segment means.
//!
//! # Layout
//!
//! All integers are little-endian; every block and the footer start on an 8-byte boundary so
//! that a later reader may view `i64`/`f64` columns in place in the (page-aligned) map.
//!
//! ```text
//!  offset 0 ┌────────────────────────────────────┐
//!           │ header, 16 B                       │ magic "QUECTSEG" | version u32 | 0u32
//!       16  ├────────────────────────────────────┤
//!           │ block 0 ▒▒▒ zero pad to 8          │ ┐ column values (raw LE), NULL bitmaps,
//!           │ block 1 ▒▒▒▒▒▒▒▒ zero pad          │ │ the dictionary strings; blocks are
//!           │ …                                  │ │ contiguous, each CRC32C covers the
//!           │ block n-1 (dictionary)             │ ┘ block and its padding
//! footer_   ├────────────────────────────────────┤
//!   offset  │ footer, footer_size B (8k)         │ version, rows, time range, schema and its
//!           │                                    │ fingerprint, block table (offset, size,
//!           │                                    │ crc32c, kind), partitions → chunks → per
//!           │                                    │ column (values block, NULL block, zone)
//!  len - 32 ├────────────────────────────────────┤
//!           │ trailer, 32 B                      │ footer_offset u64 | footer_size u64 |
//!           │                                    │ footer_crc32c u32 | version u32 | magic
//!      len  └────────────────────────────────────┘
//! ```
//!
//! Value blocks: INT64/UINT64/TIMESTAMP as `i64`, INT32 as `i32`, FLOAT64/FLOAT32 as their IEEE
//! bits, SYMBOL columns as `u32` ids into the file's own dictionary (not the shard's: the shard
//! dictionary keeps growing, a sealed file must not depend on it), BOOL and NULL masks as
//! bitmaps (bit `i % 8` of byte `i / 8`, `1` = true / NULL, unused high bits zero). The
//! partition key column stores nothing per row: the key is in the footer, once per partition.
//!
//! # Why a checksum per block, and why every byte is covered
//!
//! Segments are read for years after they are written, and disks, controllers and kernels do
//! return wrong bytes without an I/O error. A CRC32C per block (hardware-accelerated, ~20 GB/s)
//! names *which* block is bad, so the error can say "partition X, offset Y" and recovery can
//! decide per block; one CRC over the whole file could only say "somewhere". The footer has its
//! own CRC, kept in the trailer, because every other check trusts the block table it holds.
//! The open path leaves no byte unchecked: the header and trailer fields are compared with
//! what they must be, blocks must tile the space between header and footer with no gap, and
//! the padding after each block is inside its CRC (and must also be zero). So a flipped byte
//! anywhere is `SegmentError::Corrupt`, never a silently different value; the tests flip every
//! byte of a file to prove it.
//!
//! # Why tmp + fsync + rename + fsync(dir)
//!
//! The file is written as `<path>.tmp`, `fsync`ed, renamed over `<path>`, and then the directory
//! is `fsync`ed. A crash before the rename leaves only a `.tmp` (garbage, never read); rename is
//! atomic, so `<path>` is either absent or complete; fsyncing the file *before* the rename keeps
//! the kernel from persisting the new name ahead of the data (a complete-looking empty file),
//! and fsyncing the directory *after* makes the name itself durable, so a segment that
//! `write_segment` reported as written is still there after power loss.

mod footer;
mod format;
mod mmap;
mod reader;
mod writer;

#[cfg(test)]
pub(crate) mod tests;

use std::path::PathBuf;

pub use footer::{ChunkMeta, PartitionMeta};
pub use format::{
    schema_fingerprint, SEGMENT_ALIGNMENT, SEGMENT_FOOTER_SIZE_MAX, SEGMENT_HEADER_SIZE,
    SEGMENT_MAGIC, SEGMENT_SYMBOL_SIZE_MAX, SEGMENT_TRAILER_SIZE, SEGMENT_VERSION,
};
pub use mmap::MappedSlice;
pub use reader::Segment;
pub use writer::{write_segment, SegmentSummary};

/// Every way writing or opening a segment fails. The variant says whose fault it is: the
/// operating system (`Io`), the bytes on disk (`Corrupt`) or the caller's chunks (`InvalidInput`).
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// A system call failed (open, write, fsync, rename, mmap).
    #[error("segment {}: {operation} failed: {source}", path.display())]
    Io {
        /// The file or directory operated on.
        path: PathBuf,
        /// What was being done, e.g. `"fsync"`.
        operation: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file's bytes are not a valid segment: truncated, flipped, wrong magic or version.
    #[error("segment {} is corrupt at offset {offset}: {detail}", path.display())]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// What check failed.
        detail: String,
        /// Byte offset in the file of the field or block that failed the check.
        offset: u64,
    },
    /// The chunks given to `write_segment` do not fit the schema or the format's limits; no
    /// file is left behind. A caller's bug, never the disk's.
    #[error("segment {}: cannot write: {detail}", path.display())]
    InvalidInput {
        /// The segment that was to be written.
        path: PathBuf,
        /// What is wrong with the input.
        detail: String,
    },
}

impl SegmentError {
    /// Whether this is `Corrupt` (the file must not be trusted).
    pub fn is_corrupt(&self) -> bool {
        match self {
            SegmentError::Corrupt { .. } => true,
            SegmentError::Io { .. } | SegmentError::InvalidInput { .. } => false,
        }
    }
}
