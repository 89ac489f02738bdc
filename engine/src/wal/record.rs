//! Record framing: how one record sits in a segment, and how a reader tells a record from a torn
//! write.
//!
//! ```text
//! offset  0      4        8        16     17        24                 24 + payload_size
//!         | size | crc32c | lsn    | kind | pad (0) | payload ...      | pad (0) to 8 bytes |
//! ```
//!
//! `crc32c` covers header bytes 8..24 (lsn, kind, pad) and the payload. Records start at 8-byte
//! aligned offsets, so the header's integers are naturally aligned in the block. A header that
//! is all zero marks the end of the log: segments are pre-zeroed, and LSN 0 is never written.
//! The zero padding after a payload is not under the CRC, so the reader checks it separately.

use super::Lsn;

/// Bytes in a record header.
pub const WAL_RECORD_HEADER_SIZE: usize = 24;
/// Records start at multiples of this many bytes in a segment.
pub const WAL_RECORD_ALIGNMENT: usize = 8;
/// Largest payload one record carries (an ingest batch larger than this is split by the caller).
pub const WAL_RECORD_PAYLOAD_SIZE_MAX: usize = 16 << 20;

const _: () = {
    assert!(WAL_RECORD_HEADER_SIZE.is_multiple_of(WAL_RECORD_ALIGNMENT));
    assert!(WAL_RECORD_ALIGNMENT.is_power_of_two());
    // `payload_size` is a u32 on disk.
    assert!(WAL_RECORD_PAYLOAD_SIZE_MAX <= u32::MAX as usize);
};

/// What a record holds. The byte values are on disk: never renumber, only add.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// Rows of one table (`codec::encode_insert_batch`).
    InsertBatch = 1,
    /// A table was created (`codec::encode_create_table`).
    CreateTable = 2,
    /// A table was dropped (`codec::encode_drop_table`).
    DropTable = 3,
    /// Everything up to an LSN is persisted elsewhere (`codec::encode_checkpoint`).
    Checkpoint = 4,
    /// A table's TTL changed (`codec::encode_set_ttl`).
    SetTtl = 5,
    /// A DELETE or UPDATE (`codec::encode_mutation`).
    Mutation = 6,
}

impl RecordKind {
    /// The on-disk byte.
    pub fn to_byte(self) -> u8 {
        self as u8
    }

    /// The kind of an on-disk byte, if it names one.
    pub fn from_byte(byte: u8) -> Option<RecordKind> {
        match byte {
            1 => Some(RecordKind::InsertBatch),
            2 => Some(RecordKind::CreateTable),
            3 => Some(RecordKind::DropTable),
            4 => Some(RecordKind::Checkpoint),
            5 => Some(RecordKind::SetTtl),
            6 => Some(RecordKind::Mutation),
            _ => None,
        }
    }
}

/// Bytes a record with a payload of `payload_size` bytes takes in a segment, padding included.
///
/// Example: a 13-byte payload takes 24 + 13 = 37 bytes, rounded up to 40.
pub const fn record_size(payload_size: usize) -> usize {
    let unpadded_size = WAL_RECORD_HEADER_SIZE + payload_size;
    (unpadded_size + WAL_RECORD_ALIGNMENT - 1) & !(WAL_RECORD_ALIGNMENT - 1)
}

/// Writes one record at the start of `target` and returns its size (`record_size`).
///
/// `target` must hold `record_size(payload.len())` bytes; the padding is written as zeros.
pub fn encode_record(target: &mut [u8], lsn: Lsn, kind: RecordKind, payload: &[u8]) -> usize {
    debug_assert!(lsn > 0, "lsn 0 means nothing written yet");
    debug_assert!(payload.len() <= WAL_RECORD_PAYLOAD_SIZE_MAX);
    let size = record_size(payload.len());
    debug_assert!(target.len() >= size);
    let (header, rest) = target[..size].split_at_mut(WAL_RECORD_HEADER_SIZE);
    header[8..16].copy_from_slice(&lsn.to_le_bytes());
    header[16] = kind.to_byte();
    header[17..24].fill(0);
    rest[..payload.len()].copy_from_slice(payload);
    rest[payload.len()..].fill(0);
    let crc = record_crc(&header[8..24], payload);
    header[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    size
}

fn record_crc(header_tail: &[u8], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(header_tail), payload)
}

/// Why the bytes at a position are not the next record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CorruptReason {
    /// The payload size is over the limit or runs past the segment's end.
    #[error("bad length: payload_size {payload_size} with {available_size} bytes left")]
    BadLength {
        /// The size in the header.
        payload_size: u64,
        /// Bytes left in the segment after the header.
        available_size: u64,
    },
    /// The checksum does not match.
    #[error("bad crc32c: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc {
        /// The stored checksum.
        stored: u32,
        /// The checksum of the bytes found.
        computed: u32,
    },
    /// The LSN is not the one that follows the previous record.
    #[error("lsn gap: expected {expected}, found {found}")]
    LsnGap {
        /// The LSN expected.
        expected: Lsn,
        /// The LSN found.
        found: Lsn,
    },
    /// The kind byte names no `RecordKind`.
    #[error("unknown record kind {kind}")]
    BadKind {
        /// The byte found.
        kind: u8,
    },
    /// Header or alignment padding is not zero.
    #[error("non-zero padding")]
    BadPadding,
    /// Fewer than a header's bytes remain, and they are not zero.
    #[error("partial header at the end of the segment")]
    PartialHeader,
    /// A zero header (end of log) is followed by non-zero bytes: a hole in the log.
    #[error("zeroed header followed by data")]
    ZeroedHeader,
}

/// What the bytes at a position in a segment are.
#[derive(Debug, PartialEq, Eq)]
pub enum RecordParse<'a> {
    /// A valid record.
    Record {
        /// Its LSN (the expected one).
        lsn: Lsn,
        /// Its kind.
        kind: RecordKind,
        /// Its payload.
        payload: &'a [u8],
        /// Bytes it takes, padding included.
        size: usize,
    },
    /// A zero header, or too few zero bytes for a header: no record here.
    End,
    /// Not a record.
    Corrupt(CorruptReason),
}

/// Parses the record at the start of `bytes` (the segment from this position to its end),
/// which must carry `lsn_expected`. Never panics on any input.
pub fn parse_record(bytes: &[u8], lsn_expected: Lsn) -> RecordParse<'_> {
    if bytes.len() < WAL_RECORD_HEADER_SIZE {
        if bytes.iter().all(|b| *b == 0) {
            return RecordParse::End;
        }
        return RecordParse::Corrupt(CorruptReason::PartialHeader);
    }
    let header = &bytes[..WAL_RECORD_HEADER_SIZE];
    if header.iter().all(|b| *b == 0) {
        return RecordParse::End;
    }
    match parse_record_checked(bytes, lsn_expected) {
        Ok(parsed) => parsed,
        Err(reason) => RecordParse::Corrupt(reason),
    }
}

fn parse_record_checked(bytes: &[u8], lsn_expected: Lsn) -> Result<RecordParse<'_>, CorruptReason> {
    let payload_size = u64::from(read_u32(bytes, 0));
    let available_size = (bytes.len() - WAL_RECORD_HEADER_SIZE) as u64;
    if payload_size > WAL_RECORD_PAYLOAD_SIZE_MAX as u64 || payload_size > available_size {
        return Err(CorruptReason::BadLength {
            payload_size,
            available_size,
        });
    }
    let payload_size = payload_size as usize; // Bounded by WAL_RECORD_PAYLOAD_SIZE_MAX above.
    let size = record_size(payload_size).min(bytes.len());
    let payload = &bytes[WAL_RECORD_HEADER_SIZE..WAL_RECORD_HEADER_SIZE + payload_size];
    let stored = read_u32(bytes, 4);
    let computed = record_crc(&bytes[8..WAL_RECORD_HEADER_SIZE], payload);
    if stored != computed {
        return Err(CorruptReason::BadCrc { stored, computed });
    }
    let lsn = read_u64(bytes, 8);
    if lsn != lsn_expected {
        return Err(CorruptReason::LsnGap {
            expected: lsn_expected,
            found: lsn,
        });
    }
    let kind =
        RecordKind::from_byte(bytes[16]).ok_or(CorruptReason::BadKind { kind: bytes[16] })?;
    let padding = &bytes[WAL_RECORD_HEADER_SIZE + payload_size..size];
    if bytes[17..24].iter().any(|b| *b != 0) || padding.iter().any(|b| *b != 0) {
        return Err(CorruptReason::BadPadding);
    }
    Ok(RecordParse::Record {
        lsn,
        kind,
        payload,
        size,
    })
}

fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(word)
}

fn read_u64(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(lsn: Lsn, kind: RecordKind, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0u8; record_size(payload.len()) + 64];
        encode_record(&mut bytes, lsn, kind, payload);
        bytes
    }

    #[test]
    fn record_size_rounds_to_eight_bytes() {
        assert_eq!(record_size(0), 24);
        assert_eq!(record_size(1), 32);
        assert_eq!(record_size(8), 32);
        assert_eq!(record_size(13), 40);
    }

    #[test]
    fn record_round_trips_every_kind() {
        for kind in [
            RecordKind::InsertBatch,
            RecordKind::CreateTable,
            RecordKind::DropTable,
            RecordKind::Checkpoint,
            RecordKind::SetTtl,
            RecordKind::Mutation,
        ] {
            assert_eq!(RecordKind::from_byte(kind.to_byte()), Some(kind));
            let bytes = encoded(7, kind, b"hello, wal");
            match parse_record(&bytes, 7) {
                RecordParse::Record {
                    lsn,
                    kind: parsed_kind,
                    payload,
                    size,
                } => {
                    assert_eq!(
                        (lsn, parsed_kind, payload, size),
                        (7, kind, &b"hello, wal"[..], 40)
                    );
                }
                other => panic!("expected a record, got {other:?}"),
            }
        }
        assert_eq!(RecordKind::from_byte(0), None);
        assert_eq!(RecordKind::from_byte(7), None);
    }

    #[test]
    fn parse_rejects_every_single_byte_flip() {
        let clean = encoded(3, RecordKind::InsertBatch, b"0123456789abc");
        let size = record_size(13);
        for index in 0..size {
            let mut bytes = clean.clone();
            bytes[index] ^= 0x40;
            assert!(
                matches!(parse_record(&bytes, 3), RecordParse::Corrupt(_)),
                "flip at {index} accepted"
            );
        }
    }

    #[test]
    fn parse_reports_gap_zero_and_partial_headers() {
        let bytes = encoded(3, RecordKind::Checkpoint, b"");
        assert_eq!(
            parse_record(&bytes, 4),
            RecordParse::Corrupt(CorruptReason::LsnGap {
                expected: 4,
                found: 3
            })
        );
        assert_eq!(parse_record(&[0u8; 100], 1), RecordParse::End);
        assert_eq!(parse_record(&[0u8; 10], 1), RecordParse::End);
        assert_eq!(
            parse_record(&[1u8; 10], 1),
            RecordParse::Corrupt(CorruptReason::PartialHeader)
        );
        let mut huge = [0u8; 64];
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse_record(&huge, 1),
            RecordParse::Corrupt(CorruptReason::BadLength { .. })
        ));
    }
}
