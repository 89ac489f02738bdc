//! `Segment`: an opened, fully verified segment file. Opening checks every byte (trailer,
//! header, footer CRC, every block CRC, the block table tiling the file, every block reference
//! against the schema), so that afterwards metadata is served from the decoded footer and
//! chunks are built on the map without a reason left to fail but our own bugs.
//!
//! Fixed-width columns are not copied: a chunk's INT64, TIMESTAMP, INT32, FLOAT64 and FLOAT32
//! values are views into the map (`ColumnVec::Mapped`), which every such chunk keeps alive.
//! BOOL columns and NULL masks (bitmaps) and SYMBOL columns (file-local ids, remapped into the
//! caller's dictionary) are decoded onto the heap.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::footer::{decode_footer, is_block, ChunkMeta, Footer, PartitionMeta};
use super::format::{
    align_up, bitmap_size, key_fits_symbol_type, BlockEntry, BlockKind, ColumnEncoding, Decoder,
    SEGMENT_FOOTER_SIZE_MAX, SEGMENT_HEADER_SIZE, SEGMENT_MAGIC, SEGMENT_SYMBOL_SIZE_MAX,
    SEGMENT_TRAILER_SIZE, SEGMENT_VERSION,
};
use super::mmap::{MappedFile, MappedSlice};
use super::writer::SYMBOL_ID_NULL;
use super::SegmentError;
use crate::batch::SymbolKey;
use crate::schema::TableSchema;
use crate::storage::chunk::{Chunk, ColumnChunk, ColumnData, CHUNK_ROWS_MAX};
use crate::storage::column_vec::ColumnVec;
use crate::storage::dictionary::SymbolDictionary;

/// A segment file, mapped read-only and verified.
#[derive(Debug)]
pub struct Segment {
    path: PathBuf,
    map: Arc<MappedFile>,
    footer: Footer,
    /// The file's symbol dictionary: file-local id → string.
    dictionary: Vec<Box<str>>,
}

impl Segment {
    /// Maps and verifies the segment at `path`: magic, version, trailer, footer CRC, header,
    /// every block's CRC and padding, and every block reference. Any mismatch is
    /// `SegmentError::Corrupt` with the offset of what failed; a missing file is `Io`.
    pub fn open(path: &Path) -> Result<Segment, SegmentError> {
        let size_min = (SEGMENT_HEADER_SIZE + SEGMENT_TRAILER_SIZE) as u64;
        let map = MappedFile::open(path, size_min)?;
        let bytes = map.bytes();
        let (footer_offset, footer_size) = open_check_trailer(path, bytes)?;
        open_check_header(path, bytes)?;
        let footer_bytes = slice(path, bytes, footer_offset, footer_size)?;
        let footer = decode_footer(&mut Decoder::new(footer_bytes, footer_offset, path))?;
        open_check_blocks(path, bytes, &footer.blocks, footer_offset)?;
        let dictionary = open_read_dictionary(path, bytes, &footer)?;
        open_check_partitions(path, &footer, footer_offset)?;
        Ok(Segment {
            path: path.to_path_buf(),
            map: Arc::new(map),
            footer,
            dictionary,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the file in bytes.
    pub fn file_size(&self) -> u64 {
        self.map.bytes().len() as u64
    }

    /// The table's schema as it was when the segment was written.
    pub fn schema(&self) -> &TableSchema {
        &self.footer.schema
    }

    /// `schema_fingerprint(self.schema())`: compare with the live table's before loading.
    pub fn schema_fingerprint(&self) -> u64 {
        self.footer.schema_fingerprint
    }

    /// Smallest and largest non-NULL timestamp in the file, inclusive; `None` if it has none.
    pub fn time_range_ns(&self) -> Option<(i64, i64)> {
        self.footer.time_range_ns
    }

    /// Rows over all partitions.
    pub fn rows_count(&self) -> u64 {
        self.footer.rows_count
    }

    /// The partitions with their chunks' row counts, time ranges and zone maps (read from the
    /// footer: no data block is touched).
    pub fn partitions(&self) -> &[PartitionMeta] {
        &self.footer.partitions
    }

    /// The file's symbol dictionary, indexed by file-local id.
    pub fn dictionary_names(&self) -> &[Box<str>] {
        &self.dictionary
    }

    /// Every partition as sealed chunks, in file order: fixed-width columns mapped in place,
    /// the rest decoded (see the module doc). SYMBOL ids are remapped into `dictionary`
    /// (interning strings it lacks), so the chunks can join a live table.
    pub fn map_chunks(
        &self,
        dictionary: &mut SymbolDictionary,
    ) -> Result<Vec<(SymbolKey, Vec<Chunk>)>, SegmentError> {
        let mut remap = vec![None; self.dictionary.len()];
        let mut loaded = Vec::with_capacity(self.footer.partitions.len());
        for partition in &self.footer.partitions {
            let chunks = self.map_partition_chunks(partition, &mut remap, dictionary)?;
            loaded.push((partition.key.clone(), chunks));
        }
        Ok(loaded)
    }

    fn map_partition_chunks(
        &self,
        partition: &PartitionMeta,
        remap: &mut [Option<u32>],
        dictionary: &mut SymbolDictionary,
    ) -> Result<Vec<Chunk>, SegmentError> {
        partition
            .chunks
            .iter()
            .map(|chunk| self.map_chunk(chunk, remap, dictionary))
            .collect()
    }

    fn map_chunk(
        &self,
        meta: &ChunkMeta,
        remap: &mut [Option<u32>],
        dictionary: &mut SymbolDictionary,
    ) -> Result<Chunk, SegmentError> {
        let rows_count = meta.rows_count;
        let mut columns = Vec::with_capacity(meta.blocks.len());
        for (index, (blocks, zone)) in meta.blocks.iter().zip(&meta.zones).enumerate() {
            let nulls = if is_block(blocks.nulls) {
                let (bytes, offset) = self.block_bytes(blocks.nulls)?;
                Some(self.decode_bitmap(bytes, offset, rows_count)?.into())
            } else {
                None
            };
            let encoding = ColumnEncoding::of_column(&self.footer.schema, index);
            let data = if encoding == ColumnEncoding::PartitionKey {
                ColumnData::PartitionKey
            } else {
                let (bytes, offset) = self.block_bytes(blocks.values)?;
                let ids = SymbolRemap {
                    names: &self.dictionary,
                    remap: &mut *remap,
                    dictionary: &mut *dictionary,
                    nulls: nulls.as_deref(),
                };
                self.decode_values(encoding, bytes, offset, rows_count, ids)?
            };
            columns.push(ColumnChunk {
                data,
                nulls,
                zone: *zone,
            });
        }
        Ok(Chunk::sealed(columns, rows_count))
    }

    fn decode_values(
        &self,
        encoding: ColumnEncoding,
        bytes: &[u8],
        offset: u64,
        rows_count: usize,
        ids: SymbolRemap<'_>,
    ) -> Result<ColumnData, SegmentError> {
        if encoding.block_size(rows_count) != Some(bytes.len()) {
            return Err(self.corrupt(offset, format!("{encoding:?} block of wrong size")));
        }
        Ok(match encoding {
            ColumnEncoding::PartitionKey => ColumnData::PartitionKey,
            ColumnEncoding::Int64 => ColumnData::Int64(self.view(bytes, offset)?),
            ColumnEncoding::Timestamp => ColumnData::Timestamp(self.view(bytes, offset)?),
            ColumnEncoding::Int32 => ColumnData::Int32(self.view(bytes, offset)?),
            ColumnEncoding::Float64 => ColumnData::Float64(self.view(bytes, offset)?),
            ColumnEncoding::Float32 => ColumnData::Float32(self.view(bytes, offset)?),
            ColumnEncoding::Bool => {
                ColumnData::Bool(self.decode_bitmap(bytes, offset, rows_count)?.into())
            }
            ColumnEncoding::SymbolIds => {
                let local_ids: Vec<u32> = bytes
                    .chunks_exact(4)
                    .map(|id| u32::from_le_bytes([id[0], id[1], id[2], id[3]]))
                    .collect();
                let ids = self.decode_symbol_ids(&local_ids, offset, ids)?;
                ColumnData::SymbolIds(ids.into())
            }
        })
    }

    /// The values block `bytes` (at file `offset`) viewed in place as values of `T`.
    fn view<T>(&self, bytes: &[u8], offset: u64) -> Result<ColumnVec<T>, SegmentError>
    where
        T: bytemuck::Pod + crate::storage::column_vec::ColumnValue<Mapped = MappedSlice<T>>,
    {
        let start = usize::try_from(offset).ok();
        let view = start.and_then(|start| MappedSlice::new(&self.map, start, bytes.len()));
        view.map(ColumnVec::Mapped)
            .ok_or_else(|| self.corrupt(offset, "values block not aligned for its type"))
    }

    /// File-local ids → ids of the caller's dictionary.
    fn decode_symbol_ids(
        &self,
        local_ids: &[u32],
        offset: u64,
        ids: SymbolRemap<'_>,
    ) -> Result<Vec<u32>, SegmentError> {
        let mut out = Vec::with_capacity(local_ids.len());
        for (row, &local_id) in local_ids.iter().enumerate() {
            let is_null = ids.nulls.is_some_and(|mask| mask[row]);
            let name = ids.names.get(local_id as usize);
            let id = match (name, ids.remap.get_mut(local_id as usize)) {
                (Some(_), Some(Some(id))) => *id,
                (Some(name), Some(slot)) => *slot.insert(ids.dictionary.intern(name)),
                _ if local_id == SYMBOL_ID_NULL && is_null => 0,
                _ => {
                    let detail = format!("row {row}: symbol id {local_id} not in the dictionary");
                    return Err(self.corrupt(offset + row as u64 * 4, detail));
                }
            };
            out.push(id);
        }
        Ok(out)
    }

    fn decode_bitmap(
        &self,
        bytes: &[u8],
        offset: u64,
        rows_count: usize,
    ) -> Result<Vec<bool>, SegmentError> {
        if bytes.len() != bitmap_size(rows_count) {
            return Err(self.corrupt(offset, "bitmap of wrong size"));
        }
        let unused_bits = bytes.len() * 8 - rows_count;
        if unused_bits > 0 && bytes.last().is_some_and(|&b| b >> (8 - unused_bits) != 0) {
            return Err(self.corrupt(offset, "bitmap has bits set past its last row"));
        }
        Ok((0..rows_count)
            .map(|row| bytes[row / 8] & (1 << (row % 8)) != 0)
            .collect())
    }

    /// The content (without padding) and file offset of block `index`.
    fn block_bytes(&self, index: u32) -> Result<(&[u8], u64), SegmentError> {
        let Some(block) = self.footer.blocks.get(index as usize) else {
            return Err(self.corrupt(0, format!("block {index} does not exist")));
        };
        let bytes = slice(&self.path, self.map.bytes(), block.offset, block.size)?;
        Ok((bytes, block.offset))
    }

    fn corrupt(&self, offset: u64, detail: impl Into<String>) -> SegmentError {
        corrupt(&self.path, offset, detail)
    }
}

/// What decoding a SYMBOL column needs besides its bytes.
struct SymbolRemap<'a> {
    /// The file's dictionary.
    names: &'a [Box<str>],
    /// File-local id → caller id, filled on first use.
    remap: &'a mut [Option<u32>],
    /// The caller's dictionary.
    dictionary: &'a mut SymbolDictionary,
    /// The column's NULL mask.
    nulls: Option<&'a [bool]>,
}

fn corrupt(path: &Path, offset: u64, detail: impl Into<String>) -> SegmentError {
    SegmentError::Corrupt {
        path: path.to_path_buf(),
        detail: detail.into(),
        offset,
    }
}

/// `bytes[offset..offset + size]`, or `Corrupt` when that is outside the file.
fn slice<'a>(
    path: &Path,
    bytes: &'a [u8],
    offset: u64,
    size: u64,
) -> Result<&'a [u8], SegmentError> {
    let range = usize::try_from(offset)
        .ok()
        .zip(usize::try_from(size).ok())
        .and_then(|(start, size)| Some(start..start.checked_add(size)?));
    range.and_then(|range| bytes.get(range)).ok_or_else(|| {
        corrupt(
            path,
            offset,
            format!("{size} bytes at {offset} are outside the file"),
        )
    })
}

/// Checks the trailer and the footer's CRC; returns the footer's offset and size.
fn open_check_trailer(path: &Path, bytes: &[u8]) -> Result<(u64, u64), SegmentError> {
    let file_size = bytes.len() as u64;
    let trailer_offset = file_size.saturating_sub(SEGMENT_TRAILER_SIZE as u64);
    let trailer = slice(path, bytes, trailer_offset, SEGMENT_TRAILER_SIZE as u64)?;
    let magic_offset = SEGMENT_TRAILER_SIZE - SEGMENT_MAGIC.len();
    if trailer[magic_offset..] != SEGMENT_MAGIC {
        let detail = "bad trailer magic (truncated or not a segment)";
        return Err(corrupt(path, trailer_offset + magic_offset as u64, detail));
    }
    let mut d = Decoder::new(trailer, trailer_offset, path);
    let footer_offset = d.u64("footer offset")?;
    let footer_size = d.u64("footer size")?;
    let footer_crc32c = d.u32("footer crc32c")?;
    let version = d.u32("trailer version")?;
    if version != SEGMENT_VERSION {
        let detail = format!("unsupported version {version}, expected {SEGMENT_VERSION}");
        return Err(corrupt(path, trailer_offset + 20, detail));
    }
    let footer_fits = footer_size.is_multiple_of(8)
        && footer_size <= SEGMENT_FOOTER_SIZE_MAX as u64
        && footer_offset.is_multiple_of(8)
        && footer_offset >= SEGMENT_HEADER_SIZE as u64
        && footer_offset.checked_add(footer_size) == Some(trailer_offset);
    if !footer_fits {
        let detail =
            format!("footer of {footer_size} bytes at {footer_offset} does not end at the trailer");
        return Err(corrupt(path, trailer_offset, detail));
    }
    let footer = slice(path, bytes, footer_offset, footer_size)?;
    if crc32c::crc32c(footer) != footer_crc32c {
        return Err(corrupt(path, footer_offset, "footer CRC32C mismatch"));
    }
    Ok((footer_offset, footer_size))
}

fn open_check_header(path: &Path, bytes: &[u8]) -> Result<(), SegmentError> {
    let header = slice(path, bytes, 0, SEGMENT_HEADER_SIZE as u64)?;
    if header[..8] != SEGMENT_MAGIC {
        return Err(corrupt(path, 0, "bad header magic"));
    }
    let mut d = Decoder::new(&header[8..], 8, path);
    let version = d.u32("header version")?;
    if version != SEGMENT_VERSION {
        let detail = format!("unsupported header version {version}, expected {SEGMENT_VERSION}");
        return Err(corrupt(path, 8, detail));
    }
    if d.u32("header reserved")? != 0 {
        return Err(corrupt(path, 12, "header reserved field is not zero"));
    }
    Ok(())
}

/// Checks that blocks tile `SEGMENT_HEADER_SIZE..footer_offset` with no gap, and each block's
/// CRC32C (over its content and padding) and zero padding.
fn open_check_blocks(
    path: &Path,
    bytes: &[u8],
    blocks: &[BlockEntry],
    footer_offset: u64,
) -> Result<(), SegmentError> {
    let mut expected_offset = SEGMENT_HEADER_SIZE as u64;
    for (index, block) in blocks.iter().enumerate() {
        if block.offset != expected_offset {
            let detail = format!("block {index} at {} leaves a gap", block.offset);
            return Err(corrupt(path, expected_offset, detail));
        }
        if block.size > footer_offset.saturating_sub(block.offset) {
            let detail = format!("block {index} of {} bytes runs into the footer", block.size);
            return Err(corrupt(path, block.offset, detail));
        }
        let padded_size = align_up(block.size);
        let padded = slice(path, bytes, block.offset, padded_size)?;
        if crc32c::crc32c(padded) != block.crc32c {
            let detail = format!("block {index} ({:?}) CRC32C mismatch", block.kind);
            return Err(corrupt(path, block.offset, detail));
        }
        if padded[block.size as usize..].iter().any(|&b| b != 0) {
            let detail = format!("block {index} padding is not zero");
            return Err(corrupt(path, block.offset + block.size, detail));
        }
        expected_offset = block.offset + padded_size;
    }
    if expected_offset != footer_offset {
        return Err(corrupt(
            path,
            expected_offset,
            "blocks do not reach the footer",
        ));
    }
    Ok(())
}

fn open_read_dictionary(
    path: &Path,
    bytes: &[u8],
    footer: &Footer,
) -> Result<Vec<Box<str>>, SegmentError> {
    let block = footer.blocks.get(footer.dictionary_block as usize);
    let Some(block) = block.filter(|b| b.kind == BlockKind::Dictionary) else {
        let detail = format!("dictionary block {} is missing", footer.dictionary_block);
        return Err(corrupt(path, 0, detail));
    };
    let mut d = Decoder::new(
        slice(path, bytes, block.offset, block.size)?,
        block.offset,
        path,
    );
    let count = d.count(4, "dictionary count")?;
    if count != footer.dictionary_count as usize {
        return Err(d.corrupt("dictionary count differs from the footer's"));
    }
    let mut names = Vec::with_capacity(count);
    for _ in 0..count {
        names.push(d.str(SEGMENT_SYMBOL_SIZE_MAX, "dictionary string")?.into());
    }
    d.finish()?;
    Ok(names)
}

/// Checks every chunk's block references against the schema (kind and exact size) and the
/// row counts against their sums, so that loading cannot meet a block of the wrong shape.
fn open_check_partitions(
    path: &Path,
    footer: &Footer,
    footer_offset: u64,
) -> Result<(), SegmentError> {
    let schema = &footer.schema;
    let fail = |detail: String| Err(corrupt(path, footer_offset, detail));
    let mut rows_total = 0u64;
    for (partition_index, partition) in footer.partitions.iter().enumerate() {
        let key_fits = key_fits_symbol_type(&partition.key, schema.symbol_type());
        if !key_fits {
            return fail(format!(
                "partition {partition_index} key does not fit the schema"
            ));
        }
        let mut rows = 0u64;
        for chunk in &partition.chunks {
            if chunk.rows_count > CHUNK_ROWS_MAX {
                return fail(format!(
                    "partition {partition_index}: chunk of {} rows",
                    chunk.rows_count
                ));
            }
            for (index, blocks) in chunk.blocks.iter().enumerate() {
                let encoding = ColumnEncoding::of_column(schema, index);
                let values_size = encoding.block_size(chunk.rows_count);
                let values_ok = match values_size {
                    None => !is_block(blocks.values),
                    Some(size) => block_fits(footer, blocks.values, BlockKind::Values, size),
                };
                let nulls_ok = !is_block(blocks.nulls)
                    || block_fits(
                        footer,
                        blocks.nulls,
                        BlockKind::Nulls,
                        bitmap_size(chunk.rows_count),
                    );
                if !values_ok || !nulls_ok {
                    return fail(format!(
                        "partition {partition_index}: column {index} has a bad block"
                    ));
                }
            }
            rows += chunk.rows_count as u64;
        }
        if rows != partition.rows_count {
            return fail(format!(
                "partition {partition_index}: rows count differs from its chunks'"
            ));
        }
        rows_total += rows;
    }
    if rows_total != footer.rows_count {
        return fail("rows count differs from the partitions'".to_string());
    }
    Ok(())
}

fn block_fits(footer: &Footer, index: u32, kind: BlockKind, size: usize) -> bool {
    footer
        .blocks
        .get(index as usize)
        .is_some_and(|b| b.kind == kind && b.size == size as u64)
}
