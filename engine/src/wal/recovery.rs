//! Recovery: read a shard's segments in LSN order, hand every record after the caller's
//! checkpoint to a callback, and cut the log at the first record that is not intact.
//!
//! Runs once at start-up with plain std file I/O, before the shard's executor serves anything.
//! The log ends at the first of: a zero header followed only by zeros (a clean end), or a
//! record that is torn or corrupt (bad length, bad CRC, LSN gap, non-zero padding, a zero
//! header followed by data). One exception: a block's zero tail followed, at the next block
//! boundary, by the record with exactly the next LSN is a gap the writer left on purpose (a
//! write issued while the previous one still held that block; see `writer.rs`), and the scan
//! continues there. The LSN match is what makes that safe: no record is ever skipped, because
//! a skipped record would have taken that LSN. From a cut, the segment is zeroed and later
//! segments are renamed `*.discarded`, so appends continue cleanly and nothing after a hole is
//! ever replayed: replay is always a prefix of the acknowledged history. Each cut is logged with
//! `tracing::warn!` and returned in the `RecoveryReport`.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use super::codec::{decode_entry, WalEntry};
use super::error::WalError;
use super::record::{parse_record, CorruptReason, RecordKind, RecordParse};
use super::segment::{
    block_align_down, block_align_up, is_spare_temp_file_name, parse_segment_file_name,
    parse_spare_file_name, sync_dir_blocking, zero_range_blocking, SegmentHeader, WAL_BLOCK_SIZE,
    WAL_SEGMENT_HEADER_SIZE, WAL_SEGMENT_SIZE_MAX, WAL_SEGMENT_SIZE_MIN,
};
use super::Lsn;
use crate::ring::RingLayout;

/// One record handed to the recovery callback.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveredRecord {
    /// Its LSN.
    pub lsn: Lsn,
    /// Its kind.
    pub kind: RecordKind,
    /// Its decoded payload.
    pub entry: WalEntry,
}

/// Where recovery cut the log, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryCut {
    /// The segment.
    pub path: PathBuf,
    /// Offset in the segment of the first byte that is not part of the log.
    pub offset: u64,
    /// Bytes zeroed from `offset` (up to the last non-zero byte of the segment).
    pub size_bytes: u64,
    /// The LSN a record at `offset` would have had.
    pub lsn: Lsn,
    /// Why the bytes at `offset` are not a record.
    pub reason: CorruptReason,
}

/// What recovery found and changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments read.
    pub segments_count: usize,
    /// Intact records found, checkpointed or not.
    pub records_count: u64,
    /// Records handed to the callback (LSN after the checkpoint).
    pub records_replayed_count: u64,
    /// The cut, when the log did not end cleanly.
    pub cut: Option<RecoveryCut>,
    /// Segments after a cut or an LSN gap, renamed to `<name>.discarded`.
    pub discarded_segments: Vec<PathBuf>,
    /// Zero block tails stepped over (gaps left by concurrent writes, not damage).
    pub block_gaps_count: u64,
}

/// The last segment, where appends continue.
#[derive(Clone, Debug)]
pub(crate) struct RecoveredTail {
    pub(crate) path: PathBuf,
    pub(crate) header: SegmentHeader,
    /// Offset of the next record.
    pub(crate) end_offset: u64,
    /// The bytes of the block that holds `end_offset`, from its start up to `end_offset`.
    pub(crate) block_bytes: Vec<u8>,
}

/// The outcome of `recover`: the next LSN to use and the state `Wal::open` continues from.
#[derive(Debug)]
pub struct Recovered {
    /// The shard's WAL directory.
    pub dir: PathBuf,
    /// The shard.
    pub shard_index: u32,
    /// The ring the shard belongs to; every segment read was written under it, and new ones
    /// name it.
    pub ring: RingLayout,
    /// The LSN the next append gets.
    pub next_lsn: Lsn,
    /// What was found and cut.
    pub report: RecoveryReport,
    pub(crate) tail: Option<RecoveredTail>,
    /// Earlier segments, oldest first: (first LSN, path).
    pub(crate) sealed: Vec<(Lsn, PathBuf)>,
    /// Complete spares found in the directory.
    pub(crate) spares: Vec<PathBuf>,
    /// A spare number no existing spare uses.
    pub(crate) spare_index_next: u64,
}

/// Files of one shard in its WAL directory.
struct DirListing {
    /// Segments sorted by first LSN: (first LSN from the name, path).
    segments: Vec<(Lsn, PathBuf)>,
    spares: Vec<PathBuf>,
    spare_index_next: u64,
}

/// Recovers shard `shard_index`'s log in `dir`: calls `on_record` for every intact record with
/// an LSN above `after_lsn` (the caller's checkpoint), in LSN order, cuts a torn or corrupt
/// tail, and returns the state to open the writer from.
///
/// Errors: I/O, a damaged segment header (named by path), a segment of another format
/// version, or of another shard or `ring` (`RingMismatch`), a log that starts after
/// `after_lsn + 1` or ends before `after_lsn`, a payload that does not decode, or the first
/// error `on_record` returns (recovery stops there, having changed nothing after it).
pub fn recover<E, F>(
    dir: &Path,
    shard_index: u32,
    ring: RingLayout,
    after_lsn: Lsn,
    mut on_record: F,
) -> Result<Recovered, E>
where
    E: From<WalError>,
    F: FnMut(RecoveredRecord) -> Result<(), E>,
{
    std::fs::create_dir_all(dir).map_err(|e| WalError::io("create dir", dir, 0, e))?;
    let listing = list_dir(dir, shard_index)?;
    let mut recovered = Recovered {
        dir: dir.to_path_buf(),
        shard_index,
        ring,
        next_lsn: after_lsn + 1,
        report: RecoveryReport::default(),
        tail: None,
        sealed: Vec::new(),
        spares: listing.spares,
        spare_index_next: listing.spare_index_next,
    };
    let Some((first_lsn, first_path)) = listing.segments.first().cloned() else {
        return Ok(recovered);
    };
    if first_lsn > after_lsn + 1 {
        return Err(WalError::MissingHistory {
            after_lsn,
            first_lsn,
            path: first_path,
        }
        .into());
    }
    recovered.next_lsn = first_lsn;
    recover_segments(&mut recovered, &listing.segments, after_lsn, &mut on_record)?;
    if recovered.next_lsn <= after_lsn {
        let log_end_lsn = recovered.next_lsn - 1;
        return Err(WalError::CheckpointAhead {
            after_lsn,
            log_end_lsn,
        }
        .into());
    }
    Ok(recovered)
}

fn recover_segments<E, F>(
    recovered: &mut Recovered,
    segments: &[(Lsn, PathBuf)],
    after_lsn: Lsn,
    on_record: &mut F,
) -> Result<(), E>
where
    E: From<WalError>,
    F: FnMut(RecoveredRecord) -> Result<(), E>,
{
    for (index, (name_lsn, path)) in segments.iter().enumerate() {
        if *name_lsn != recovered.next_lsn {
            tracing::warn!(
                path = %path.display(),
                expected_lsn = recovered.next_lsn,
                found_lsn = name_lsn,
                "WAL segment does not continue the log (LSN gap); discarding it and later ones"
            );
            discard_segments(recovered, &segments[index..])?;
            return Ok(());
        }
        let (header, mut image, file_size) =
            read_segment(path, recovered.shard_index, recovered.ring, *name_lsn)?;
        recovered.report.segments_count += 1;
        if let Some(previous) = recovered.tail.take() {
            recovered
                .sealed
                .push((previous.header.first_lsn, previous.path));
        }
        let end = scan_segment(recovered, path, &image, after_lsn, on_record)?;
        let end_offset = match end {
            ScanEnd::Clean { offset } => offset,
            ScanEnd::Corrupt { offset, reason } => {
                let lsn = recovered.next_lsn;
                cut_segment(recovered, path, &mut image, offset, lsn, reason)?;
                offset
            }
        };
        if file_size < header.segment_size_bytes {
            extend_segment(path, file_size, header.segment_size_bytes)?;
        }
        let block_start = block_align_down(end_offset) as usize;
        let block_bytes = image[block_start..end_offset as usize].to_vec();
        recovered.tail = Some(RecoveredTail {
            path: path.clone(),
            header,
            end_offset,
            block_bytes,
        });
        if recovered.report.cut.is_some() {
            discard_segments(recovered, &segments[index + 1..])?;
            return Ok(());
        }
    }
    Ok(())
}

fn list_dir(dir: &Path, shard_index: u32) -> Result<DirListing, WalError> {
    let entries = std::fs::read_dir(dir).map_err(|e| WalError::io("read dir", dir, 0, e))?;
    let mut listing = DirListing {
        segments: Vec::new(),
        spares: Vec::new(),
        spare_index_next: 0,
    };
    for entry in entries {
        let entry = entry.map_err(|e| WalError::io("read dir", dir, 0, e))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue; // Not one of ours: our names are ASCII.
        };
        if let Some(first_lsn) = parse_segment_file_name(shard_index, &name) {
            listing.segments.push((first_lsn, path));
        } else if let Some(spare_index) = parse_spare_file_name(shard_index, &name) {
            listing.spare_index_next = listing.spare_index_next.max(spare_index + 1);
            listing.spares.push(path);
        } else if is_spare_temp_file_name(shard_index, &name) {
            // An unfinished spare from a crash: never part of the log.
            std::fs::remove_file(&path)
                .map_err(|e| WalError::io("remove temp spare", &path, 0, e))?;
        }
    }
    listing.segments.sort();
    listing.spares.sort();
    Ok(listing)
}

/// Reads a whole segment and checks its header. A file shorter than its header says (a torn
/// extension, or a test's truncation) reads as zeros past its end.
fn read_segment(
    path: &Path,
    shard_index: u32,
    ring: RingLayout,
    name_lsn: Lsn,
) -> Result<(SegmentHeader, Vec<u8>, u64), WalError> {
    let mut image = std::fs::read(path).map_err(|e| WalError::io("read segment", path, 0, e))?;
    let file_size = image.len() as u64;
    let header = SegmentHeader::decode(&image, path)?;
    let corrupt = |detail: String| WalError::SegmentHeaderCorrupt {
        path: path.to_path_buf(),
        detail,
    };
    header.check_ring(path, shard_index, ring)?;
    if header.first_lsn != name_lsn {
        return Err(corrupt(format!(
            "first lsn {} in header, {name_lsn} in name",
            header.first_lsn
        )));
    }
    let size = header.segment_size_bytes;
    let size_ok = (WAL_SEGMENT_SIZE_MIN..=WAL_SEGMENT_SIZE_MAX).contains(&size)
        && size.is_multiple_of(WAL_BLOCK_SIZE as u64);
    if !size_ok || file_size > size {
        return Err(corrupt(format!(
            "segment size {size} in header, file has {file_size} bytes"
        )));
    }
    image.resize(size as usize, 0);
    Ok((header, image, file_size))
}

enum ScanEnd {
    Clean { offset: u64 },
    Corrupt { offset: u64, reason: CorruptReason },
}

/// Walks the records of one segment image, delivering those after `after_lsn`.
fn scan_segment<E, F>(
    recovered: &mut Recovered,
    path: &Path,
    image: &[u8],
    after_lsn: Lsn,
    on_record: &mut F,
) -> Result<ScanEnd, E>
where
    E: From<WalError>,
    F: FnMut(RecoveredRecord) -> Result<(), E>,
{
    let mut offset = WAL_SEGMENT_HEADER_SIZE;
    // Every record takes at least a header's 24 bytes and a gap step lands on a record, so
    // this loop ends within image.len() / 12 iterations.
    loop {
        let lsn_expected = recovered.next_lsn;
        let (lsn, kind, payload, size) = match parse_record(&image[offset..], lsn_expected) {
            RecordParse::Record {
                lsn,
                kind,
                payload,
                size,
            } => (lsn, kind, payload, size),
            RecordParse::End if image[offset..].iter().all(|b| *b == 0) => {
                return Ok(ScanEnd::Clean {
                    offset: offset as u64,
                });
            }
            RecordParse::End | RecordParse::Corrupt(_)
                if block_gap_end(image, offset, lsn_expected).is_some() =>
            {
                recovered.report.block_gaps_count += 1;
                offset = block_align_up(offset);
                continue;
            }
            RecordParse::End => {
                return Ok(ScanEnd::Corrupt {
                    offset: offset as u64,
                    reason: CorruptReason::ZeroedHeader,
                });
            }
            RecordParse::Corrupt(reason) => {
                return Ok(ScanEnd::Corrupt {
                    offset: offset as u64,
                    reason,
                })
            }
        };
        recovered.report.records_count += 1;
        if lsn > after_lsn {
            let entry = decode_entry(kind, payload).map_err(|source| WalError::Decode {
                lsn,
                path: path.to_path_buf(),
                offset: offset as u64,
                source,
            })?;
            on_record(RecoveredRecord { lsn, kind, entry })?;
            recovered.report.records_replayed_count += 1;
        }
        recovered.next_lsn = lsn + 1;
        offset += size;
    }
}

/// `Some(next block boundary)` when `offset` is inside a block, the rest of that block is
/// zeros, and the record at the boundary is intact and carries `lsn_expected`: the gap a
/// concurrent write leaves (see the module doc). `None` for anything else.
fn block_gap_end(image: &[u8], offset: usize, lsn_expected: Lsn) -> Option<usize> {
    let next = block_align_up(offset);
    if next == offset || next >= image.len() || image[offset..next].iter().any(|b| *b != 0) {
        return None;
    }
    match parse_record(&image[next..], lsn_expected) {
        RecordParse::Record { lsn, .. } if lsn == lsn_expected => Some(next),
        _ => None,
    }
}

/// Zeroes `[offset, last non-zero byte]` of the segment on disk and in `image`, and records
/// the cut.
fn cut_segment(
    recovered: &mut Recovered,
    path: &Path,
    image: &mut [u8],
    offset: u64,
    lsn: Lsn,
    reason: CorruptReason,
) -> Result<(), WalError> {
    let start = offset as usize;
    let end = image
        .iter()
        .rposition(|b| *b != 0)
        .map_or(start, |last| last + 1)
        .max(start);
    let size_bytes = (end - start) as u64;
    tracing::warn!(path = %path.display(), offset, size_bytes, lsn, %reason,
        "WAL recovery: cutting torn or corrupt tail");
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| WalError::io("open for cut", path, offset, e))?;
    zero_range_blocking(&file, path, offset, size_bytes)?;
    file.sync_data()
        .map_err(|e| WalError::io("fdatasync cut", path, offset, e))?;
    image[start..end].fill(0);
    recovered.report.cut = Some(RecoveryCut {
        path: path.to_path_buf(),
        offset,
        size_bytes,
        lsn,
        reason,
    });
    Ok(())
}

/// Writes zeros from `file_size` to `segment_size_bytes`, so the segment is pre-zeroed again.
fn extend_segment(path: &Path, file_size: u64, segment_size_bytes: u64) -> Result<(), WalError> {
    tracing::warn!(
        path = %path.display(),
        file_size,
        segment_size_bytes,
        "WAL recovery: re-extending a short segment"
    );
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| WalError::io("open for extend", path, 0, e))?;
    zero_range_blocking(&file, path, file_size, segment_size_bytes - file_size)?;
    file.sync_all()
        .map_err(|e| WalError::io("fsync extend", path, file_size, e))
}

/// Renames segments that follow a cut or a gap out of the log.
fn discard_segments(
    recovered: &mut Recovered,
    segments: &[(Lsn, PathBuf)],
) -> Result<(), WalError> {
    for (_, path) in segments {
        let mut discarded = path.clone().into_os_string();
        discarded.push(".discarded");
        let discarded = PathBuf::from(discarded);
        tracing::warn!(path = %path.display(), "WAL recovery: discarding a segment past the end");
        std::fs::rename(path, &discarded)
            .map_err(|e| WalError::io("rename discarded", path, 0, e))?;
        recovered.report.discarded_segments.push(path.clone());
    }
    if !segments.is_empty() {
        sync_dir_blocking(&recovered.dir)?;
    }
    Ok(())
}
