//! Segment files: names, the 4 KiB header, and the slow file work (create pre-zeroed, activate,
//! recycle) that runs on a helper thread, never on a pinned executor.
//!
//! A segment is `wal-{shard:03}-{first_lsn:020}.log`, always `segment_size_bytes` long:
//!
//! ```text
//! 0     4096                                                     segment_size_bytes
//! | hdr | record | record | ... | zeros (pre-zeroed, never grown) |
//! hdr:  magic "QUECTWAL" | version u32 (2) | shard_index u32 | first_lsn u64
//!       | segment_size_bytes u64 | shards_count u32 | virtual_nodes_per_shard u32
//!       | ring_fingerprint u64 | crc32c u32 (of bytes 0..48) | zeros to 4096
//! ```
//!
//! The ring fields (a `RingLayout`) say which placement of symbols the records were routed
//! under. Rows are never re-routed when the ring changes, so recovery refuses a segment whose
//! shard or ring differs from the running one (`WalError::RingMismatch`) instead of replaying
//! another shard's rows, or rows of another ring, into this shard; `check_dir_ring` makes the
//! same check over a whole directory before any shard starts. Version 1 headers (no ring
//! fields) are refused by version (`WalError::SegmentVersionUnsupported`).
//!
//! A spare is a pre-zeroed file of the segment size named `wal-{shard:03}-spare-{n:06}.zeroed`;
//! one being made is `.tmp` until it is complete and synced. Activating a spare writes its
//! header, syncs, renames it to its segment name and syncs the directory, so a file with a
//! segment name always has a durable header.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::error::WalError;
use super::Lsn;
use crate::ring::RingLayout;

/// Bytes in a segment header; records start at this offset.
pub const WAL_SEGMENT_HEADER_SIZE: usize = 4096;
/// The unit of every segment write (O_DIRECT alignment): writes cover whole blocks.
pub const WAL_BLOCK_SIZE: usize = 4096;
/// Default segment size.
pub const WAL_SEGMENT_SIZE_DEFAULT: u64 = 64 << 20;
/// Smallest configurable segment size (tests use small segments to roll often).
pub const WAL_SEGMENT_SIZE_MIN: u64 = 16 << 10;
/// Largest configurable segment size.
pub const WAL_SEGMENT_SIZE_MAX: u64 = 1 << 30;
/// First bytes of every segment.
pub const WAL_SEGMENT_MAGIC: [u8; 8] = *b"QUECTWAL";
/// Segment format version written and read by this code (2: the header names the ring).
pub const WAL_SEGMENT_VERSION: u32 = 2;
/// Bytes of the header covered by its crc32c; the crc follows them.
const HEADER_FIELDS_SIZE: usize = 48;
/// Bytes written at a time when zero-filling a file.
const ZERO_CHUNK_SIZE: usize = 1 << 20;

const _: () = {
    assert!(WAL_SEGMENT_HEADER_SIZE.is_multiple_of(WAL_BLOCK_SIZE));
    assert!(WAL_SEGMENT_SIZE_MIN.is_multiple_of(WAL_BLOCK_SIZE as u64));
    assert!(WAL_SEGMENT_SIZE_DEFAULT.is_multiple_of(WAL_BLOCK_SIZE as u64));
    assert!(WAL_SEGMENT_SIZE_MIN >= 2 * WAL_SEGMENT_HEADER_SIZE as u64);
    assert!(WAL_SEGMENT_SIZE_MIN <= WAL_SEGMENT_SIZE_DEFAULT);
    assert!(WAL_SEGMENT_SIZE_DEFAULT <= WAL_SEGMENT_SIZE_MAX);
    // The header's fields and crc fit before the zero tail the reader checks.
    assert!(HEADER_FIELDS_SIZE + 4 <= WAL_SEGMENT_HEADER_SIZE);
};

/// The file name of shard `shard_index`'s segment starting at `first_lsn`.
pub fn segment_file_name(shard_index: u32, first_lsn: Lsn) -> String {
    format!("wal-{shard_index:03}-{first_lsn:020}.log")
}

/// The first LSN in a segment file name of shard `shard_index`, if `name` is one.
pub fn parse_segment_file_name(shard_index: u32, name: &str) -> Option<Lsn> {
    parse_any_segment_file_name(name)
        .filter(|(name_shard_index, _)| *name_shard_index == shard_index)
        .map(|(_, first_lsn)| first_lsn)
}

/// The shard index and first LSN in a segment file name of any shard, if `name` is one.
pub fn parse_any_segment_file_name(name: &str) -> Option<(u32, Lsn)> {
    let rest = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    let (shard, digits) = rest.split_once('-')?;
    let all_digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if shard.len() < 3 || !all_digits(shard) || digits.len() != 20 || !all_digits(digits) {
        return None;
    }
    Some((shard.parse().ok()?, digits.parse().ok()?))
}

/// The file name of spare number `spare_index` of a shard.
pub fn spare_file_name(shard_index: u32, spare_index: u64) -> String {
    format!("wal-{shard_index:03}-spare-{spare_index:06}.zeroed")
}

/// The spare number in a spare file name of shard `shard_index`, if `name` is one.
pub fn parse_spare_file_name(shard_index: u32, name: &str) -> Option<u64> {
    let prefix = format!("wal-{shard_index:03}-spare-");
    let digits = name.strip_prefix(&prefix)?.strip_suffix(".zeroed")?;
    digits.parse().ok()
}

/// True for a shard's unfinished spare (left by a crash; safe to delete).
pub fn is_spare_temp_file_name(shard_index: u32, name: &str) -> bool {
    name.strip_suffix(".tmp")
        .is_some_and(|stem| parse_spare_file_name(shard_index, stem).is_some())
}

/// A segment's header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The shard that wrote it.
    pub shard_index: u32,
    /// The LSN of its first record.
    pub first_lsn: Lsn,
    /// Its file size.
    pub segment_size_bytes: u64,
    /// The ring its records were routed under.
    pub ring: RingLayout,
}

impl SegmentHeader {
    /// The 4 KiB on-disk header.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![0u8; WAL_SEGMENT_HEADER_SIZE];
        bytes[0..8].copy_from_slice(&WAL_SEGMENT_MAGIC);
        bytes[8..12].copy_from_slice(&WAL_SEGMENT_VERSION.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.shard_index.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.first_lsn.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.segment_size_bytes.to_le_bytes());
        bytes[32..36].copy_from_slice(&self.ring.shards_count.to_le_bytes());
        bytes[36..40].copy_from_slice(&self.ring.virtual_nodes_per_shard.to_le_bytes());
        bytes[40..48].copy_from_slice(&self.ring.fingerprint.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[0..HEADER_FIELDS_SIZE]);
        bytes[HEADER_FIELDS_SIZE..HEADER_FIELDS_SIZE + 4].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Parses and checks the header at the start of `bytes`, read from `path`.
    ///
    /// The version is checked right after the magic, before the crc: an older header has
    /// other fields under its crc, and the error should name its version, not a bad checksum.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<SegmentHeader, WalError> {
        let corrupt = |detail: String| WalError::SegmentHeaderCorrupt {
            path: path.to_path_buf(),
            detail,
        };
        if bytes.len() < WAL_SEGMENT_HEADER_SIZE {
            return Err(corrupt(format!(
                "file has {} bytes, less than a header",
                bytes.len()
            )));
        }
        let word = |range: std::ops::Range<usize>| {
            let mut out = [0u8; 8];
            out[..range.len()].copy_from_slice(&bytes[range]);
            u64::from_le_bytes(out)
        };
        if bytes[0..8] != WAL_SEGMENT_MAGIC {
            return Err(corrupt(format!("bad magic {:?}", &bytes[0..8])));
        }
        let version = word(8..12) as u32;
        if version != WAL_SEGMENT_VERSION {
            return Err(WalError::SegmentVersionUnsupported {
                path: path.to_path_buf(),
                version,
                version_supported: WAL_SEGMENT_VERSION,
            });
        }
        let crc_range = HEADER_FIELDS_SIZE..HEADER_FIELDS_SIZE + 4;
        let stored = word(crc_range.clone()) as u32;
        let computed = crc32c::crc32c(&bytes[0..HEADER_FIELDS_SIZE]);
        if stored != computed {
            return Err(corrupt(format!(
                "bad crc32c: stored {stored:#010x}, computed {computed:#010x}"
            )));
        }
        if bytes[crc_range.end..WAL_SEGMENT_HEADER_SIZE]
            .iter()
            .any(|b| *b != 0)
        {
            return Err(corrupt("non-zero header padding".into()));
        }
        Ok(SegmentHeader {
            shard_index: word(12..16) as u32,
            first_lsn: word(16..24),
            segment_size_bytes: word(24..32),
            ring: RingLayout {
                shards_count: word(32..36) as u32,
                virtual_nodes_per_shard: word(36..40) as u32,
                fingerprint: word(40..48),
            },
        })
    }

    /// `RingMismatch` unless this header, read from `path`, was written by shard
    /// `shard_index` of `ring`.
    pub fn check_ring(
        &self,
        path: &Path,
        shard_index: u32,
        ring: RingLayout,
    ) -> Result<(), WalError> {
        if self.shard_index == shard_index && self.ring == ring {
            return Ok(());
        }
        Err(WalError::RingMismatch {
            path: path.to_path_buf(),
            segment_shard_index: self.shard_index,
            segment_ring: self.ring,
            shard_index,
            ring,
        })
    }
}

/// Checks, before any shard starts, that every segment in the WAL directory `dir` was written
/// under `ring` by the shard its name says: a directory written with another `--cores` (or
/// holding a segment copied from another shard) is refused as a whole, before a shard of the
/// new ring logs anything into it. A segment whose header does not decode as damaged is left
/// to recovery, which decides whether it is part of the log at all (one after a cut is not).
pub fn check_dir_ring(dir: &Path, ring: RingLayout) -> Result<(), WalError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(WalError::io("read dir", dir, 0, e)),
    };
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| WalError::io("read dir", dir, 0, e))?;
        let name = entry.file_name();
        let parsed = name.to_str().and_then(parse_any_segment_file_name);
        if let Some((shard_index, _)) = parsed {
            segments.push((shard_index, entry.path()));
        }
    }
    segments.sort();
    for (shard_index, path) in segments {
        let mut bytes = Vec::with_capacity(WAL_SEGMENT_HEADER_SIZE);
        let file = File::open(&path).map_err(|e| WalError::io("open segment", &path, 0, e))?;
        file.take(WAL_SEGMENT_HEADER_SIZE as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| WalError::io("read header", &path, 0, e))?;
        match SegmentHeader::decode(&bytes, &path) {
            Ok(header) => header.check_ring(&path, shard_index, ring)?,
            Err(WalError::SegmentHeaderCorrupt { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// Rounds `offset` down to a block boundary. Example: 9000 → 8192.
pub fn block_align_down(offset: u64) -> u64 {
    offset & !(WAL_BLOCK_SIZE as u64 - 1)
}

/// Rounds `size` up to whole blocks. Example: 9000 → 12288.
pub fn block_align_up(size: usize) -> usize {
    (size + WAL_BLOCK_SIZE - 1) & !(WAL_BLOCK_SIZE - 1)
}

/// Makes a durable rename or create visible after a crash: fsync of the directory.
pub fn sync_dir_blocking(dir: &Path) -> Result<(), WalError> {
    let file = File::open(dir).map_err(|e| WalError::io("open dir", dir, 0, e))?;
    file.sync_all()
        .map_err(|e| WalError::io("fsync dir", dir, 0, e))
}

/// Writes zeros over `[offset, offset + size)` of the file at `path` (whose open handle is
/// `file`), in bounded chunks. Block-aligned ranges go through a second, O_DIRECT handle: the
/// disk reads one aligned zero buffer by DMA, where buffered writes would copy every byte into
/// the page cache on this core and leave 64 MiB of dirty pages per segment behind (a quarter
/// of the server's CPU during a bulk load was that copy). A file system that refuses O_DIRECT
/// (tmpfs on older kernels) gets buffered writes.
pub fn zero_range_blocking(
    file: &File,
    path: &Path,
    offset: u64,
    size: u64,
) -> Result<(), WalError> {
    let block = WAL_BLOCK_SIZE as u64;
    let direct = if offset.is_multiple_of(block) && size.is_multiple_of(block) {
        OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok()
    } else {
        None
    };
    // One zero buffer, 4 KiB-aligned inside an over-allocated vector (O_DIRECT's rule).
    let backing = vec![0u8; ZERO_CHUNK_SIZE + WAL_BLOCK_SIZE];
    let start = backing.as_ptr().align_offset(WAL_BLOCK_SIZE);
    let zeros = &backing[start..start + ZERO_CHUNK_SIZE];
    let target = direct.as_ref().unwrap_or(file);
    let mut done_size = 0u64;
    while done_size < size {
        let chunk_size = (size - done_size).min(ZERO_CHUNK_SIZE as u64) as usize;
        let at = offset + done_size;
        target
            .write_all_at(&zeros[..chunk_size], at)
            .map_err(|e| WalError::io("write zeros", path, at, e))?;
        done_size += chunk_size as u64;
    }
    Ok(())
}

/// Creates spare `spare_index` in `dir`: a file of `segment_size_bytes` zeros, written (not
/// just fallocated, so later overwrites journal no extents), synced, then renamed into place.
pub fn create_spare_blocking(
    dir: &Path,
    shard_index: u32,
    spare_index: u64,
    segment_size_bytes: u64,
) -> Result<PathBuf, WalError> {
    let path = dir.join(spare_file_name(shard_index, spare_index));
    let temp_path = path.with_extension("zeroed.tmp");
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp_path)
        .map_err(|e| WalError::io("create spare", &temp_path, 0, e))?;
    zero_range_blocking(&file, &temp_path, 0, segment_size_bytes)?;
    file.sync_all()
        .map_err(|e| WalError::io("fsync spare", &temp_path, 0, e))?;
    std::fs::rename(&temp_path, &path)
        .map_err(|e| WalError::io("rename spare", &temp_path, 0, e))?;
    sync_dir_blocking(dir)?;
    Ok(path)
}

/// Turns spare `spare_path` into the segment at `segment_path`: header written and synced
/// first, then the rename made durable, so a segment name never shows a missing header.
pub fn activate_spare_blocking(
    spare_path: &Path,
    segment_path: &Path,
    header: &SegmentHeader,
) -> Result<(), WalError> {
    let file = OpenOptions::new()
        .write(true)
        .open(spare_path)
        .map_err(|e| WalError::io("open spare", spare_path, 0, e))?;
    let size = file
        .metadata()
        .map_err(|e| WalError::io("stat spare", spare_path, 0, e))?
        .len();
    if size != header.segment_size_bytes {
        // A spare made under another configuration: resize it and zero it again.
        file.set_len(header.segment_size_bytes)
            .map_err(|e| WalError::io("resize spare", spare_path, 0, e))?;
        zero_range_blocking(&file, spare_path, 0, header.segment_size_bytes)?;
    }
    file.write_all_at(&header.encode(), 0)
        .map_err(|e| WalError::io("write header", spare_path, 0, e))?;
    file.sync_data()
        .map_err(|e| WalError::io("fdatasync header", spare_path, 0, e))?;
    std::fs::rename(spare_path, segment_path)
        .map_err(|e| WalError::io("rename spare", spare_path, 0, e))?;
    let dir = segment_path.parent().unwrap_or(Path::new("."));
    sync_dir_blocking(dir)
}

/// Turns a segment whose records are all checkpointed into spare `spare_path`: renamed out of
/// the log first (so recovery never sees it again), zeroed whole, synced, renamed to a spare.
/// Zeroing overwrites allocated blocks: no extent journaling, and the "all zero past the end
/// of the log" invariant recovery relies on holds for recycled files too.
pub fn recycle_segment_blocking(segment_path: &Path, spare_path: &Path) -> Result<(), WalError> {
    let temp_path = spare_path.with_extension("zeroed.tmp");
    std::fs::rename(segment_path, &temp_path)
        .map_err(|e| WalError::io("rename for recycle", segment_path, 0, e))?;
    let dir = segment_path.parent().unwrap_or(Path::new("."));
    sync_dir_blocking(dir)?;
    let file = OpenOptions::new()
        .write(true)
        .open(&temp_path)
        .map_err(|e| WalError::io("open recycled", &temp_path, 0, e))?;
    let size = file
        .metadata()
        .map_err(|e| WalError::io("stat recycled", &temp_path, 0, e))?
        .len();
    zero_range_blocking(&file, &temp_path, 0, size)?;
    file.sync_all()
        .map_err(|e| WalError::io("fsync recycled", &temp_path, 0, e))?;
    std::fs::rename(&temp_path, spare_path)
        .map_err(|e| WalError::io("rename recycled", &temp_path, 0, e))?;
    sync_dir_blocking(dir)
}

/// Runs `work` on a short-lived helper thread and awaits its result from the executor.
///
/// Why a plain thread and not glommio's blocking pool: a pool of an executor built with
/// `Placement::Fixed(cpu)` is pinned to that same cpu, where file creation is starved by the
/// spinning executor (DESIGN, "Measured facts"). A thread costs ~20 µs, and runs once per
/// segment (64 MiB of log) — off the hot path.
pub async fn run_off_core<R, F>(name: &'static str, work: F) -> Result<R, WalError>
where
    F: FnOnce() -> Result<R, WalError> + Send + 'static,
    R: Send + 'static,
{
    let (sender, receiver) = futures::channel::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("quecto-wal-{name}"))
        .spawn(move || {
            // A send fails only when the awaiting side is gone; then nobody wants the result.
            let _ = sender.send(work());
        })
        .map_err(|e| WalError::Helper {
            detail: format!("cannot spawn {name} thread: {e}"),
        })?;
    receiver.await.map_err(|_| WalError::Helper {
        detail: format!("{name} thread ended without an answer"),
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reject_other_shards() {
        let name = segment_file_name(7, 42);
        assert_eq!(name, "wal-007-00000000000000000042.log");
        assert_eq!(parse_segment_file_name(7, &name), Some(42));
        assert_eq!(parse_segment_file_name(8, &name), None);
        assert_eq!(parse_segment_file_name(7, "wal-007-42.log"), None);
        let spare = spare_file_name(7, 3);
        assert_eq!(parse_spare_file_name(7, &spare), Some(3));
        assert!(is_spare_temp_file_name(7, &format!("{spare}.tmp")));
        assert!(!is_spare_temp_file_name(7, &name));
    }

    fn ring_of(shards_count: usize) -> RingLayout {
        crate::ring::HashRing::local(shards_count)
            .expect("a valid ring")
            .layout()
    }

    fn header_make() -> SegmentHeader {
        SegmentHeader {
            shard_index: 3,
            first_lsn: 99,
            segment_size_bytes: 1 << 20,
            ring: ring_of(4),
        }
    }

    #[test]
    fn any_shard_names_parse_and_others_do_not() {
        assert_eq!(
            parse_any_segment_file_name(&segment_file_name(12, 7)),
            Some((12, 7))
        );
        assert_eq!(
            parse_any_segment_file_name(&segment_file_name(1234, 1)),
            Some((1234, 1))
        );
        for name in [
            "wal-003-42.log",
            "wal-3-00000000000000000001.log",
            "wal-003-spare-000001.zeroed",
            "wal-003-00000000000000000001.log.discarded",
            "wal-x03-00000000000000000001.log",
        ] {
            assert_eq!(parse_any_segment_file_name(name), None, "{name}");
        }
    }

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let header = header_make();
        let bytes = header.encode();
        let path = Path::new("wal-003-x.log");
        assert_eq!(SegmentHeader::decode(&bytes, path).ok(), Some(header));
        for index in [0usize, 9, 13, 17, 25, 33, 37, 41, 47, 49, 52, 100, 4095] {
            let mut damaged = bytes.clone();
            damaged[index] ^= 1;
            let error = SegmentHeader::decode(&damaged, path).expect_err("damaged");
            assert!(error.to_string().contains("wal-003-x.log"), "{error}");
        }
        assert!(SegmentHeader::decode(&bytes[..100], path).is_err());
    }

    #[test]
    fn header_of_another_version_is_refused_by_its_version() {
        let mut bytes = header_make().encode();
        bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        let path = Path::new("wal-003-x.log");
        let error = SegmentHeader::decode(&bytes, path).expect_err("version 1");
        assert!(
            matches!(
                error,
                WalError::SegmentVersionUnsupported {
                    version: 1,
                    version_supported: WAL_SEGMENT_VERSION,
                    ..
                }
            ),
            "{error}"
        );
        let message = error.to_string();
        assert!(
            message.contains("wal-003-x.log") && message.contains("version 1"),
            "{message}"
        );
    }

    #[test]
    fn ring_check_names_both_rings_and_both_shards() {
        let header = header_make();
        let path = Path::new("wal-003-x.log");
        assert!(header.check_ring(path, 3, ring_of(4)).is_ok());
        let error = header
            .check_ring(path, 3, ring_of(2))
            .expect_err("other ring");
        let message = error.to_string();
        assert!(
            message.contains("4 shards x 128 virtual nodes"),
            "{message}"
        );
        assert!(
            message.contains("2 shards x 128 virtual nodes"),
            "{message}"
        );
        assert!(message.contains("wal-003-x.log"), "{message}");
        let error = header
            .check_ring(path, 1, ring_of(4))
            .expect_err("other shard");
        assert!(
            matches!(
                error,
                WalError::RingMismatch {
                    segment_shard_index: 3,
                    shard_index: 1,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn alignment_helpers_round_to_blocks() {
        assert_eq!(block_align_down(9000), 8192);
        assert_eq!(block_align_down(8192), 8192);
        assert_eq!(block_align_up(9000), 12288);
        assert_eq!(block_align_up(0), 0);
    }
}
