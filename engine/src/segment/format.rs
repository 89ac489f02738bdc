//! Byte-level format of a segment: constants, the column encodings, and the encoder/decoder of
//! the footer. Decoding treats the bytes as hostile input: every read is bounds-checked and
//! every failure is `SegmentError::Corrupt` with the file offset.

use std::path::Path;

use super::SegmentError;
use crate::batch::SymbolKey;
use crate::schema::{ColumnDef, TableSchema, NAME_SIZE_MAX, TABLE_COLUMNS_MAX};
use crate::storage::chunk::{ColumnData, Zone};
use crate::types::DataType;

/// First 8 bytes of the header and last 8 bytes of the trailer.
pub const SEGMENT_MAGIC: [u8; 8] = *b"QUECTSEG";
/// Format version written, and the only one read.
pub const SEGMENT_VERSION: u32 = 1;
/// Header: magic (8) | version u32 | reserved u32 (zero).
pub const SEGMENT_HEADER_SIZE: usize = 16;
/// Trailer: footer_offset u64 | footer_size u64 | footer_crc32c u32 | version u32 | magic (8).
pub const SEGMENT_TRAILER_SIZE: usize = 32;
/// Blocks and the footer start at multiples of this; padding is zero.
pub const SEGMENT_ALIGNMENT: usize = 8;
/// Largest footer accepted, so a corrupt size cannot make the reader allocate without bound.
pub const SEGMENT_FOOTER_SIZE_MAX: usize = 256 << 20;
/// Longest dictionary string or string partition key, in bytes.
pub const SEGMENT_SYMBOL_SIZE_MAX: usize = 64 << 10;
/// "No block" in a block reference (the partition key column has no values block).
pub(crate) const BLOCK_NONE: u32 = u32::MAX;
/// Size of one block-table entry: offset u64 | size u64 | crc32c u32 | kind u8 | 3 zero bytes.
pub(crate) const BLOCK_ENTRY_SIZE: usize = 24;
/// Size of one column reference in a chunk: values u32 | nulls u32 | zone tag u8 | 2 × u64.
pub(crate) const COLUMN_ENTRY_SIZE: usize = 25;

const _: () = {
    assert!(SEGMENT_HEADER_SIZE.is_multiple_of(SEGMENT_ALIGNMENT));
    assert!(SEGMENT_TRAILER_SIZE.is_multiple_of(SEGMENT_ALIGNMENT));
    assert!(SEGMENT_TRAILER_SIZE == 8 + 8 + 4 + 4 + SEGMENT_MAGIC.len());
    assert!(SEGMENT_FOOTER_SIZE_MAX.is_multiple_of(SEGMENT_ALIGNMENT));
    assert!(SEGMENT_FOOTER_SIZE_MAX <= u32::MAX as usize);
    assert!(SEGMENT_SYMBOL_SIZE_MAX <= u32::MAX as usize);
};

/// `size` rounded up to the next multiple of `SEGMENT_ALIGNMENT` (13 → 16, 16 → 16).
pub(crate) fn align_up(size: u64) -> u64 {
    size.div_ceil(SEGMENT_ALIGNMENT as u64) * SEGMENT_ALIGNMENT as u64
}

/// Bytes of a bitmap of `rows_count` bits.
pub(crate) fn bitmap_size(rows_count: usize) -> usize {
    rows_count.div_ceil(8)
}

/// What a block holds; stored in the block table and checked against every reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockKind {
    /// A column's values.
    Values = 1,
    /// A column's NULL bitmap.
    Nulls = 2,
    /// The file's symbol dictionary.
    Dictionary = 3,
}

impl BlockKind {
    pub(crate) fn from_code(code: u8) -> Option<BlockKind> {
        match code {
            1 => Some(BlockKind::Values),
            2 => Some(BlockKind::Nulls),
            3 => Some(BlockKind::Dictionary),
            _ => None,
        }
    }
}

/// One entry of the footer's block table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockEntry {
    /// File offset of the block's first byte (a multiple of `SEGMENT_ALIGNMENT`).
    pub offset: u64,
    /// Bytes of content, without padding.
    pub size: u64,
    /// CRC32C of the content and its zero padding.
    pub crc32c: u32,
    /// What the block holds.
    pub kind: BlockKind,
}

/// How a column's values are laid out in its values block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ColumnEncoding {
    /// The partition's symbol column: no block.
    PartitionKey,
    /// `i64` per row (INT64, UINT64).
    Int64,
    /// `i64` nanoseconds per row.
    Timestamp,
    /// `i32` per row.
    Int32,
    /// `f64` bits per row.
    Float64,
    /// `f32` bits per row.
    Float32,
    /// One bit per row.
    Bool,
    /// `u32` id into the file's dictionary per row.
    SymbolIds,
}

impl ColumnEncoding {
    /// The encoding of column `index` of `schema`.
    pub(crate) fn of_column(schema: &TableSchema, index: usize) -> ColumnEncoding {
        if index == schema.symbol_index {
            return ColumnEncoding::PartitionKey;
        }
        match schema.columns[index].data_type {
            DataType::Int64 | DataType::UInt64 => ColumnEncoding::Int64,
            DataType::Int32 => ColumnEncoding::Int32,
            DataType::Float64 => ColumnEncoding::Float64,
            DataType::Float32 => ColumnEncoding::Float32,
            DataType::Bool => ColumnEncoding::Bool,
            DataType::Timestamp => ColumnEncoding::Timestamp,
            DataType::Symbol => ColumnEncoding::SymbolIds,
        }
    }

    /// Whether `data` is stored with this encoding.
    pub(crate) fn matches(self, data: &ColumnData) -> bool {
        matches!(
            (self, data),
            (ColumnEncoding::PartitionKey, ColumnData::PartitionKey)
                | (ColumnEncoding::Int64, ColumnData::Int64(_))
                | (ColumnEncoding::Timestamp, ColumnData::Timestamp(_))
                | (ColumnEncoding::Int32, ColumnData::Int32(_))
                | (ColumnEncoding::Float64, ColumnData::Float64(_))
                | (ColumnEncoding::Float32, ColumnData::Float32(_))
                | (ColumnEncoding::Bool, ColumnData::Bool(_))
                | (ColumnEncoding::SymbolIds, ColumnData::SymbolIds(_))
        )
    }

    /// Bytes of the values block of `rows_count` rows (`None`: no block).
    pub(crate) fn block_size(self, rows_count: usize) -> Option<usize> {
        match self {
            ColumnEncoding::PartitionKey => None,
            ColumnEncoding::Int64 | ColumnEncoding::Timestamp | ColumnEncoding::Float64 => {
                Some(rows_count * 8)
            }
            ColumnEncoding::Int32 | ColumnEncoding::Float32 | ColumnEncoding::SymbolIds => {
                Some(rows_count * 4)
            }
            ColumnEncoding::Bool => Some(bitmap_size(rows_count)),
        }
    }
}

/// Whether a partition `key` has the shape of a symbol column of type `symbol_type`: strings
/// for SYMBOL, integers for INT64 and INT32 (the types `TableSchema` accepts as a key).
pub(crate) fn key_fits_symbol_type(key: &SymbolKey, symbol_type: DataType) -> bool {
    match (key, symbol_type) {
        (SymbolKey::Str(name), DataType::Symbol) => name.len() <= SEGMENT_SYMBOL_SIZE_MAX,
        (SymbolKey::Int(_), DataType::Int64 | DataType::Int32) => true,
        (
            SymbolKey::Str(_) | SymbolKey::Int(_),
            DataType::Int64
            | DataType::Int32
            | DataType::UInt64
            | DataType::Float64
            | DataType::Float32
            | DataType::Bool
            | DataType::Timestamp
            | DataType::Symbol,
        ) => false,
    }
}

/// Appends little-endian fields to a byte buffer.
#[derive(Default)]
pub(crate) struct Encoder {
    /// The bytes so far.
    pub bytes: Vec<u8>,
}

impl Encoder {
    pub(crate) fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }
    pub(crate) fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }
    pub(crate) fn i64(&mut self, value: i64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }
    /// `u32` length, then the UTF-8 bytes. The caller bounds the length.
    pub(crate) fn str(&mut self, value: &str) {
        debug_assert!(value.len() <= u32::MAX as usize);
        self.u32(value.len() as u32);
        self.bytes.extend_from_slice(value.as_bytes());
    }
    /// An inclusive time range; `None` is written as `(i64::MAX, i64::MIN)`.
    pub(crate) fn time_range(&mut self, range: Option<(i64, i64)>) {
        let (min, max) = range.unwrap_or((i64::MAX, i64::MIN));
        self.i64(min);
        self.i64(max);
    }
    pub(crate) fn zone(&mut self, zone: Zone) {
        let (tag, min, max) = match zone {
            Zone::Unknown => (0, 0, 0),
            Zone::Int { min, max } => (1, min as u64, max as u64),
            Zone::Float { min, max } => (2, min.to_bits(), max.to_bits()),
        };
        self.u8(tag);
        self.u64(min);
        self.u64(max);
    }
    pub(crate) fn symbol_key(&mut self, key: &SymbolKey) {
        match key {
            SymbolKey::Int(value) => {
                self.u8(1);
                self.i64(*value);
            }
            SymbolKey::Str(name) => {
                self.u8(2);
                self.str(name);
            }
        }
    }
    /// Zero bytes up to the next multiple of `SEGMENT_ALIGNMENT`.
    pub(crate) fn pad(&mut self) {
        let size = align_up(self.bytes.len() as u64) as usize;
        self.bytes.resize(size, 0);
    }
}

/// The schema section: table name, columns, symbol and timestamp indices.
pub(crate) fn encode_schema(encoder: &mut Encoder, schema: &TableSchema) {
    encoder.str(&schema.name);
    encoder.u32(schema.columns.len() as u32);
    encoder.u32(schema.symbol_index as u32);
    encoder.u32(schema.timestamp_index as u32);
    for column in &schema.columns {
        encoder.u8(column.data_type.disk_code());
        encoder.str(&column.name);
    }
    encoder.u64(schema.ttl_seconds.unwrap_or(0));
}

/// A 64-bit FNV-1a hash of the schema's encoding: equal for equal schemas (names, types,
/// order, key and timestamp columns), different for almost any change. Stored in the footer so
/// a loader can refuse a segment written for another version of the table.
pub fn schema_fingerprint(schema: &TableSchema) -> u64 {
    let mut encoder = Encoder::default();
    encode_schema(&mut encoder, schema);
    encoder
        .bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

/// Reads little-endian fields from a slice of the file, failing with `Corrupt` at the offset
/// of the field that does not fit or does not make sense.
pub(crate) struct Decoder<'a> {
    bytes: &'a [u8],
    position: usize,
    base_offset: u64,
    path: &'a Path,
}

impl<'a> Decoder<'a> {
    /// A decoder of `bytes`, which start at `base_offset` in the file at `path`.
    pub(crate) fn new(bytes: &'a [u8], base_offset: u64, path: &'a Path) -> Decoder<'a> {
        Decoder {
            bytes,
            position: 0,
            base_offset,
            path,
        }
    }

    /// A `Corrupt` error at the current position.
    pub(crate) fn corrupt(&self, detail: impl Into<String>) -> SegmentError {
        SegmentError::Corrupt {
            path: self.path.to_path_buf(),
            detail: detail.into(),
            offset: self.base_offset + self.position as u64,
        }
    }

    fn take(&mut self, size: usize, what: &str) -> Result<&'a [u8], SegmentError> {
        let end = self.position.checked_add(size);
        match end.and_then(|end| self.bytes.get(self.position..end)) {
            Some(taken) => {
                self.position += size;
                Ok(taken)
            }
            None => Err(self.corrupt(format!("{what} runs past the end of its section"))),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], SegmentError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N, what)?);
        Ok(array)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8, SegmentError> {
        Ok(self.array::<1>(what)?[0])
    }
    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, SegmentError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, SegmentError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    pub(crate) fn i64(&mut self, what: &str) -> Result<i64, SegmentError> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    /// A `u32`-length-prefixed UTF-8 string of at most `size_max` bytes.
    pub(crate) fn str(&mut self, size_max: usize, what: &str) -> Result<&'a str, SegmentError> {
        let size = self.u32(what)? as usize;
        if size > size_max {
            return Err(self.corrupt(format!("{what} is {size} bytes, over {size_max}")));
        }
        let bytes = self.take(size, what)?;
        std::str::from_utf8(bytes).map_err(|_| self.corrupt(format!("{what} is not UTF-8")))
    }

    /// A `u32` count of entries of at least `entry_size_min` bytes each, checked against the
    /// bytes left so that a corrupt count cannot make the reader allocate without bound.
    pub(crate) fn count(
        &mut self,
        entry_size_min: usize,
        what: &str,
    ) -> Result<usize, SegmentError> {
        let count = self.u32(what)? as usize;
        let left = self.bytes.len() - self.position;
        if count.saturating_mul(entry_size_min) > left {
            return Err(self.corrupt(format!("{what} {count} does not fit in {left} bytes")));
        }
        Ok(count)
    }

    pub(crate) fn time_range(&mut self, what: &str) -> Result<Option<(i64, i64)>, SegmentError> {
        let min = self.i64(what)?;
        let max = self.i64(what)?;
        match (min, max) {
            (i64::MAX, i64::MIN) => Ok(None),
            (min, max) if min <= max => Ok(Some((min, max))),
            _ => Err(self.corrupt(format!("{what} has min {min} > max {max}"))),
        }
    }

    pub(crate) fn zone(&mut self) -> Result<Zone, SegmentError> {
        let tag = self.u8("zone tag")?;
        let min = self.u64("zone min")?;
        let max = self.u64("zone max")?;
        match tag {
            0 => Ok(Zone::Unknown),
            1 => Ok(Zone::Int {
                min: min as i64,
                max: max as i64,
            }),
            2 => Ok(Zone::Float {
                min: f64::from_bits(min),
                max: f64::from_bits(max),
            }),
            _ => Err(self.corrupt(format!("unknown zone tag {tag}"))),
        }
    }

    pub(crate) fn symbol_key(&mut self) -> Result<SymbolKey, SegmentError> {
        match self.u8("partition key tag")? {
            1 => Ok(SymbolKey::Int(self.i64("partition key")?)),
            2 => Ok(SymbolKey::Str(
                self.str(SEGMENT_SYMBOL_SIZE_MAX, "partition key")?.into(),
            )),
            tag => Err(self.corrupt(format!("unknown partition key tag {tag}"))),
        }
    }

    pub(crate) fn block_entry(&mut self) -> Result<BlockEntry, SegmentError> {
        let offset = self.u64("block offset")?;
        let size = self.u64("block size")?;
        let crc32c = self.u32("block crc32c")?;
        let code = self.u8("block kind")?;
        let Some(kind) = BlockKind::from_code(code) else {
            return Err(self.corrupt(format!("unknown block kind {code}")));
        };
        let reserved = self.take(3, "block entry padding")?;
        if reserved != [0, 0, 0] {
            return Err(self.corrupt("block entry padding is not zero"));
        }
        Ok(BlockEntry {
            offset,
            size,
            crc32c,
            kind,
        })
    }

    pub(crate) fn schema(&mut self) -> Result<TableSchema, SegmentError> {
        let name = self.str(NAME_SIZE_MAX, "table name")?.to_string();
        let columns_count = self.u32("columns count")? as usize;
        let symbol_index = self.u32("symbol index")? as usize;
        let timestamp_index = self.u32("timestamp index")? as usize;
        if columns_count == 0 || columns_count > TABLE_COLUMNS_MAX {
            return Err(self.corrupt(format!("columns count {columns_count}")));
        }
        if symbol_index >= columns_count
            || timestamp_index >= columns_count
            || symbol_index == timestamp_index
        {
            return Err(self.corrupt("symbol or timestamp index out of range"));
        }
        let mut columns = Vec::with_capacity(columns_count);
        for _ in 0..columns_count {
            let code = self.u8("column type")?;
            let Some(data_type) = DataType::from_disk_code(code) else {
                return Err(self.corrupt(format!("unknown column type {code}")));
            };
            let name = self.str(NAME_SIZE_MAX, "column name")?.to_string();
            columns.push(ColumnDef { name, data_type });
        }
        if columns[timestamp_index].data_type != DataType::Timestamp {
            return Err(self.corrupt("the timestamp column is not a TIMESTAMP"));
        }
        let ttl = self.u64("ttl seconds")?;
        Ok(TableSchema {
            name,
            columns,
            symbol_index,
            timestamp_index,
            ttl_seconds: (ttl > 0).then_some(ttl),
        })
    }

    /// Checks that only zero padding (less than `SEGMENT_ALIGNMENT` bytes) is left.
    pub(crate) fn finish(&mut self) -> Result<(), SegmentError> {
        let left = &self.bytes[self.position..];
        if left.len() >= SEGMENT_ALIGNMENT || left.iter().any(|&b| b != 0) {
            return Err(self.corrupt(format!("{} unexpected bytes at the end", left.len())));
        }
        Ok(())
    }
}
