//! The footer: everything a reader needs before touching a data block (schema, time ranges,
//! zone maps, block table), encoded once by the writer and decoded once at open.
//!
//! ```text
//! version u32 | flags u32 (0) | rows_count u64 | time min i64 | time max i64
//! schema_fingerprint u64 | schema (name, columns_count, symbol_index, timestamp_index,
//!                                  per column: type u8, name)
//! dictionary_block u32 | dictionary_count u32
//! blocks_count u32     | per block: offset u64 | size u64 | crc32c u32 | kind u8 | 0 0 0
//! partitions_count u32 | per partition: key (tag u8: 1 = i64, 2 = string) | rows_count u64 |
//!                        time min | time max | chunks_count u32 | per chunk: rows_count u32 |
//!                        time min | time max | per column: values_block u32 | nulls_block u32 |
//!                        zone (tag u8: 0 unknown, 1 int, 2 float | min u64 | max u64)
//! zero padding to a multiple of 8
//! ```
//!
//! Strings are `u32` length + UTF-8; a missing time range is `(i64::MAX, i64::MIN)`; a missing
//! block is `u32::MAX`.

use super::format::{
    schema_fingerprint, BlockEntry, Decoder, Encoder, BLOCK_ENTRY_SIZE, BLOCK_NONE,
    COLUMN_ENTRY_SIZE, SEGMENT_VERSION,
};
use super::SegmentError;
use crate::batch::SymbolKey;
use crate::schema::TableSchema;
use crate::storage::chunk::Zone;

/// Smallest encoded partition: an empty string key (tag u8 + length u32), rows_count u64, time
/// range (2 × i64) and a zero chunks_count u32.
const PARTITION_ENTRY_SIZE_MIN: usize = 1 + 4 + 8 + 16 + 4;

/// A partition stored in a segment, as described by the footer (no data block read).
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionMeta {
    /// The partition's symbol.
    pub key: SymbolKey,
    /// Rows over all its chunks.
    pub rows_count: u64,
    /// Smallest and largest non-NULL timestamp, inclusive; `None` when there is none.
    pub time_range_ns: Option<(i64, i64)>,
    /// Its chunks, in timestamp order.
    pub chunks: Vec<ChunkMeta>,
}

/// A chunk stored in a segment, as described by the footer.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkMeta {
    /// Rows in the chunk.
    pub rows_count: usize,
    /// Smallest and largest non-NULL timestamp, inclusive; `None` when there is none.
    pub time_range_ns: Option<(i64, i64)>,
    /// Zone map of each column, in schema order, as the in-memory chunk had it.
    pub zones: Vec<Zone>,
    /// Values and NULL blocks of each column, in schema order.
    pub(crate) blocks: Vec<ColumnBlocks>,
}

/// Block indices of one column of one chunk (`BLOCK_NONE` when absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ColumnBlocks {
    /// Index of the values block; `BLOCK_NONE` for the partition key column.
    pub values: u32,
    /// Index of the NULL bitmap block; `BLOCK_NONE` when the chunk had no NULL mask.
    pub nulls: u32,
}

/// The decoded footer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Footer {
    /// Rows over all partitions.
    pub rows_count: u64,
    /// Time range over all partitions.
    pub time_range_ns: Option<(i64, i64)>,
    /// The table's schema when the segment was written.
    pub schema: TableSchema,
    /// `schema_fingerprint(&schema)`.
    pub schema_fingerprint: u64,
    /// Index of the dictionary block (always present, possibly with no strings).
    pub dictionary_block: u32,
    /// Strings in the dictionary.
    pub dictionary_count: u32,
    /// Every block, in file order.
    pub blocks: Vec<BlockEntry>,
    /// Partitions in the order they were given to the writer.
    pub partitions: Vec<PartitionMeta>,
}

/// The footer's bytes, padded to `SEGMENT_ALIGNMENT`.
pub(crate) fn encode_footer(footer: &Footer) -> Vec<u8> {
    let mut e = Encoder::default();
    e.u32(SEGMENT_VERSION);
    e.u32(0);
    e.u64(footer.rows_count);
    e.time_range(footer.time_range_ns);
    e.u64(footer.schema_fingerprint);
    super::format::encode_schema(&mut e, &footer.schema);
    e.u32(footer.dictionary_block);
    e.u32(footer.dictionary_count);
    e.u32(footer.blocks.len() as u32);
    for block in &footer.blocks {
        e.u64(block.offset);
        e.u64(block.size);
        e.u32(block.crc32c);
        e.u8(block.kind as u8);
        e.bytes.extend_from_slice(&[0, 0, 0]);
    }
    e.u32(footer.partitions.len() as u32);
    for partition in &footer.partitions {
        encode_footer_partition(&mut e, partition);
    }
    e.pad();
    e.bytes
}

fn encode_footer_partition(e: &mut Encoder, partition: &PartitionMeta) {
    e.symbol_key(&partition.key);
    e.u64(partition.rows_count);
    e.time_range(partition.time_range_ns);
    e.u32(partition.chunks.len() as u32);
    for chunk in &partition.chunks {
        debug_assert_eq!(chunk.zones.len(), chunk.blocks.len());
        e.u32(chunk.rows_count as u32);
        e.time_range(chunk.time_range_ns);
        for (zone, blocks) in chunk.zones.iter().zip(&chunk.blocks) {
            e.u32(blocks.values);
            e.u32(blocks.nulls);
            e.zone(*zone);
        }
    }
}

/// Decodes a footer whose CRC has been checked. Structure only: block references are checked
/// against the block table by the reader.
pub(crate) fn decode_footer(d: &mut Decoder<'_>) -> Result<Footer, SegmentError> {
    let version = d.u32("footer version")?;
    if version != SEGMENT_VERSION {
        return Err(d.corrupt(format!(
            "unsupported footer version {version}, expected {SEGMENT_VERSION}"
        )));
    }
    if d.u32("footer flags")? != 0 {
        return Err(d.corrupt("unknown footer flags"));
    }
    let rows_count = d.u64("rows count")?;
    let time_range_ns = d.time_range("segment time range")?;
    let fingerprint = d.u64("schema fingerprint")?;
    let schema = d.schema()?;
    if schema_fingerprint(&schema) != fingerprint {
        return Err(d.corrupt("schema fingerprint does not match the schema"));
    }
    let dictionary_block = d.u32("dictionary block")?;
    let dictionary_count = d.u32("dictionary count")?;
    let blocks_count = d.count(BLOCK_ENTRY_SIZE, "blocks count")?;
    let mut blocks = Vec::with_capacity(blocks_count);
    for _ in 0..blocks_count {
        blocks.push(d.block_entry()?);
    }
    let partitions_count = d.count(PARTITION_ENTRY_SIZE_MIN, "partitions count")?;
    let mut partitions = Vec::with_capacity(partitions_count);
    for _ in 0..partitions_count {
        partitions.push(decode_footer_partition(d, schema.columns.len())?);
    }
    d.finish()?;
    Ok(Footer {
        rows_count,
        time_range_ns,
        schema,
        schema_fingerprint: fingerprint,
        dictionary_block,
        dictionary_count,
        blocks,
        partitions,
    })
}

fn decode_footer_partition(
    d: &mut Decoder<'_>,
    columns_count: usize,
) -> Result<PartitionMeta, SegmentError> {
    let key = d.symbol_key()?;
    let rows_count = d.u64("partition rows count")?;
    let time_range_ns = d.time_range("partition time range")?;
    let chunk_entry_size = 4 + 16 + columns_count * COLUMN_ENTRY_SIZE;
    let chunks_count = d.count(chunk_entry_size, "chunks count")?;
    let mut chunks = Vec::with_capacity(chunks_count);
    for _ in 0..chunks_count {
        let rows_count = d.u32("chunk rows count")? as usize;
        let time_range_ns = d.time_range("chunk time range")?;
        let mut zones = Vec::with_capacity(columns_count);
        let mut blocks = Vec::with_capacity(columns_count);
        for _ in 0..columns_count {
            let values = d.u32("values block")?;
            let nulls = d.u32("nulls block")?;
            blocks.push(ColumnBlocks { values, nulls });
            zones.push(d.zone()?);
        }
        chunks.push(ChunkMeta {
            rows_count,
            time_range_ns,
            zones,
            blocks,
        });
    }
    Ok(PartitionMeta {
        key,
        rows_count,
        time_range_ns,
        chunks,
    })
}

/// Whether `index` refers to a block (as opposed to `BLOCK_NONE`).
pub(crate) fn is_block(index: u32) -> bool {
    index != BLOCK_NONE
}
