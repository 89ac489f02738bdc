//! `write_segment`: streams partitions' chunks into a new segment file, block by block, and
//! publishes it crash-safely (tmp, fsync, rename, fsync of the directory).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use ahash::{AHashMap, AHashSet};

use super::footer::{encode_footer, ChunkMeta, ColumnBlocks, Footer, PartitionMeta};
use super::format::{
    align_up, key_fits_symbol_type, schema_fingerprint, BlockEntry, BlockKind, ColumnEncoding,
    Encoder, BLOCK_ENTRY_SIZE, BLOCK_NONE, SEGMENT_FOOTER_SIZE_MAX, SEGMENT_HEADER_SIZE,
    SEGMENT_MAGIC, SEGMENT_SYMBOL_SIZE_MAX, SEGMENT_VERSION,
};
use super::SegmentError;
use crate::batch::SymbolKey;
use crate::schema::TableSchema;
use crate::storage::chunk::{Chunk, ColumnChunk, ColumnData, CHUNK_ROWS_MAX};
use crate::storage::dictionary::SymbolDictionary;

/// Most blocks in one segment: as many as the largest footer can list.
const SEGMENT_BLOCKS_MAX: usize = SEGMENT_FOOTER_SIZE_MAX / BLOCK_ENTRY_SIZE;
/// File-local id stored for a NULL row whose shard id is not in the dictionary (a NULL row
/// holds the type's default, which need not be a valid id); it loads as id 0.
pub(crate) const SYMBOL_ID_NULL: u32 = u32::MAX;

/// What `write_segment` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    /// The published file.
    pub path: PathBuf,
    /// Size of the file in bytes.
    pub file_size: u64,
    /// Partitions stored.
    pub partitions_count: usize,
    /// Chunks stored over all partitions.
    pub chunks_count: usize,
    /// Rows stored over all partitions.
    pub rows_count: u64,
    /// Blocks in the file (values, NULL bitmaps and the dictionary).
    pub blocks_count: usize,
    /// Strings in the file's symbol dictionary.
    pub dictionary_count: usize,
    /// Smallest and largest non-NULL timestamp, inclusive; `None` when the file has no rows.
    pub time_range_ns: Option<(i64, i64)>,
    /// `schema_fingerprint` of the schema the file was written with.
    pub schema_fingerprint: u64,
}

/// Writes `partitions` (each a symbol key and its chunks in timestamp order) of a table with
/// `schema` to a new segment at `path`, replacing any file there, and returns what it wrote.
/// Partitions are taken one at a time, so a caller may build each one's chunks lazily.
///
/// `SymbolIds` columns hold ids of `dictionary` (the table's dictionary on this shard); the
/// file keeps its own dictionary of just the strings it uses. The file is complete and durable
/// when this returns `Ok`; on `Err` nothing is published and the `.tmp` file is removed.
pub fn write_segment<C: AsRef<[Chunk]>>(
    path: &Path,
    schema: &TableSchema,
    partitions: impl IntoIterator<Item = (SymbolKey, C)>,
    dictionary: &SymbolDictionary,
) -> Result<SegmentSummary, SegmentError> {
    let tmp_path = tmp_path_of(path);
    let written = write_segment_tmp(path, &tmp_path, schema, partitions, dictionary)
        .and_then(|summary| write_segment_publish(&tmp_path, path).map(|()| summary));
    if written.is_err() {
        // Best effort: a leftover `.tmp` is never read, and the next write truncates it.
        let _ = std::fs::remove_file(&tmp_path);
    }
    written
}

/// `<path>.tmp`.
fn tmp_path_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

fn write_segment_tmp<C: AsRef<[Chunk]>>(
    path: &Path,
    tmp_path: &Path,
    schema: &TableSchema,
    partitions: impl IntoIterator<Item = (SymbolKey, C)>,
    dictionary: &SymbolDictionary,
) -> Result<SegmentSummary, SegmentError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp_path)
        .map_err(io_error(tmp_path, "create"))?;
    let mut w = BlockWriter::new(path, tmp_path, file);
    let mut header = Vec::with_capacity(SEGMENT_HEADER_SIZE);
    header.extend_from_slice(&SEGMENT_MAGIC);
    header.extend_from_slice(&SEGMENT_VERSION.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    w.write_raw(&header)?;
    let mut local = FileDictionary::default();
    let mut keys_seen = AHashSet::new();
    let mut metas = Vec::new();
    for (key, chunks) in partitions {
        let chunks = chunks.as_ref();
        check_partition_key(path, schema, &key)?;
        if keys_seen.contains(&key) {
            return Err(w.invalid(format!("partition {key:?} is given twice")));
        }
        keys_seen.insert(key.clone());
        let mut meta = PartitionMeta {
            key,
            rows_count: 0,
            time_range_ns: None,
            chunks: Vec::with_capacity(chunks.len()),
        };
        for chunk in chunks {
            let chunk_meta = write_segment_chunk(&mut w, schema, chunk, dictionary, &mut local)?;
            meta.rows_count += chunk.rows_count as u64;
            meta.time_range_ns = merge_ranges(meta.time_range_ns, chunk_meta.time_range_ns);
            meta.chunks.push(chunk_meta);
        }
        metas.push(meta);
    }
    let dictionary_block = w.append(BlockKind::Dictionary, |out| {
        let mut e = Encoder::default();
        e.u32(local.names.len() as u32);
        for name in &local.names {
            e.str(name);
        }
        out.extend_from_slice(&e.bytes);
    })?;
    let footer = Footer {
        rows_count: metas.iter().map(|p| p.rows_count).sum(),
        time_range_ns: metas
            .iter()
            .fold(None, |range, p| merge_ranges(range, p.time_range_ns)),
        schema: schema.clone(),
        schema_fingerprint: schema_fingerprint(schema),
        dictionary_block,
        dictionary_count: local.names.len() as u32,
        blocks: std::mem::take(&mut w.blocks),
        partitions: metas,
    };
    write_segment_tmp_footer(w, &footer)
}

/// Writes the footer and trailer, fsyncs the file and sums up what the file holds.
fn write_segment_tmp_footer(
    mut w: BlockWriter<'_>,
    footer: &Footer,
) -> Result<SegmentSummary, SegmentError> {
    let footer_bytes = encode_footer(footer);
    if footer_bytes.len() > SEGMENT_FOOTER_SIZE_MAX {
        return Err(w.invalid(format!(
            "footer of {} bytes is over {SEGMENT_FOOTER_SIZE_MAX}: split the segment",
            footer_bytes.len()
        )));
    }
    let footer_offset = w.offset;
    debug_assert!(footer_offset.is_multiple_of(8));
    w.write_raw(&footer_bytes)?;
    let mut trailer = Encoder::default();
    trailer.u64(footer_offset);
    trailer.u64(footer_bytes.len() as u64);
    trailer.u32(crc32c::crc32c(&footer_bytes));
    trailer.u32(SEGMENT_VERSION);
    trailer.bytes.extend_from_slice(&SEGMENT_MAGIC);
    w.write_raw(&trailer.bytes)?;
    let file_size = w.offset;
    let tmp_path = w.tmp_path;
    let file = w
        .out
        .into_inner()
        .map_err(|e| io_error(tmp_path, "write")(e.into_error()))?;
    // Durability: the data must be on disk before the rename can make it visible.
    file.sync_all().map_err(io_error(tmp_path, "fsync"))?;
    Ok(SegmentSummary {
        path: w.path.to_path_buf(),
        file_size,
        partitions_count: footer.partitions.len(),
        chunks_count: footer.partitions.iter().map(|p| p.chunks.len()).sum(),
        rows_count: footer.rows_count,
        blocks_count: footer.blocks.len(),
        dictionary_count: footer.dictionary_count as usize,
        time_range_ns: footer.time_range_ns,
        schema_fingerprint: footer.schema_fingerprint,
    })
}

/// Renames the fsynced `.tmp` over `path`, then fsyncs the directory so the name is durable.
fn write_segment_publish(tmp_path: &Path, path: &Path) -> Result<(), SegmentError> {
    std::fs::rename(tmp_path, path).map_err(io_error(path, "rename"))?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)
        .and_then(|d| d.sync_all())
        .map_err(io_error(directory, "fsync directory"))
}

/// Writes one chunk's blocks and returns its footer entry.
fn write_segment_chunk(
    w: &mut BlockWriter<'_>,
    schema: &TableSchema,
    chunk: &Chunk,
    dictionary: &SymbolDictionary,
    local: &mut FileDictionary,
) -> Result<ChunkMeta, SegmentError> {
    check_chunk(w, schema, chunk)?;
    let mut zones = Vec::with_capacity(chunk.columns.len());
    let mut blocks = Vec::with_capacity(chunk.columns.len());
    for column in &chunk.columns {
        let values = write_segment_column_values(w, column, dictionary, local)?;
        let nulls = match &column.nulls {
            Some(mask) => w.append(BlockKind::Nulls, |out| encode_bitmap(out, mask))?,
            None => BLOCK_NONE,
        };
        blocks.push(ColumnBlocks { values, nulls });
        zones.push(column.zone);
    }
    Ok(ChunkMeta {
        rows_count: chunk.rows_count,
        time_range_ns: chunk_time_range(&chunk.columns[schema.timestamp_index]),
        zones,
        blocks,
    })
}

fn write_segment_column_values(
    w: &mut BlockWriter<'_>,
    column: &ColumnChunk,
    dictionary: &SymbolDictionary,
    local: &mut FileDictionary,
) -> Result<u32, SegmentError> {
    let kind = BlockKind::Values;
    match &column.data {
        ColumnData::PartitionKey => Ok(BLOCK_NONE),
        ColumnData::Int64(v) | ColumnData::Timestamp(v) => w.append(kind, |out| {
            v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()))
        }),
        ColumnData::Int32(v) => w.append(kind, |out| {
            v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()))
        }),
        ColumnData::Float64(v) => w.append(kind, |out| {
            v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_bits().to_le_bytes()))
        }),
        ColumnData::Float32(v) => w.append(kind, |out| {
            v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_bits().to_le_bytes()))
        }),
        ColumnData::Bool(v) => w.append(kind, |out| encode_bitmap(out, v)),
        ColumnData::SymbolIds(v) => {
            let mut ids = Vec::with_capacity(v.len());
            for (row, &shard_id) in v.iter().enumerate() {
                let is_null = column.nulls.as_ref().is_some_and(|mask| mask[row]);
                match local.local_id(shard_id, dictionary) {
                    Ok(id) => ids.push(id),
                    Err(_) if is_null => ids.push(SYMBOL_ID_NULL),
                    Err(detail) => return Err(w.invalid(detail)),
                }
            }
            w.append(kind, |out| {
                ids.iter()
                    .for_each(|x| out.extend_from_slice(&x.to_le_bytes()))
            })
        }
    }
}

/// Bit `i % 8` of byte `i / 8` is `bits[i]`; unused high bits of the last byte are zero.
fn encode_bitmap(out: &mut Vec<u8>, bits: &[bool]) {
    for byte_bits in bits.chunks(8) {
        let byte = byte_bits
            .iter()
            .enumerate()
            .fold(0u8, |byte, (i, &bit)| byte | (u8::from(bit) << i));
        out.push(byte);
    }
}

/// Min and max of the non-NULL timestamps.
fn chunk_time_range(column: &ColumnChunk) -> Option<(i64, i64)> {
    let ColumnData::Timestamp(values) = &column.data else {
        return None;
    };
    values
        .iter()
        .enumerate()
        .filter(|&(row, _)| !column.nulls.as_ref().is_some_and(|mask| mask[row]))
        .fold(None, |range, (_, &t)| merge_ranges(range, Some((t, t))))
}

fn merge_ranges(a: Option<(i64, i64)>, b: Option<(i64, i64)>) -> Option<(i64, i64)> {
    match (a, b) {
        (None, r) | (r, None) => r,
        (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
    }
}

fn check_partition_key(
    path: &Path,
    schema: &TableSchema,
    key: &SymbolKey,
) -> Result<(), SegmentError> {
    let fits = key_fits_symbol_type(key, schema.symbol_type());
    if fits {
        Ok(())
    } else {
        Err(SegmentError::InvalidInput {
            path: path.to_path_buf(),
            detail: format!(
                "partition key {key:?} does not fit symbol column type {}",
                schema.symbol_type()
            ),
        })
    }
}

/// Checks that `chunk` has the schema's shape, so the file cannot describe what it lacks.
fn check_chunk(
    w: &BlockWriter<'_>,
    schema: &TableSchema,
    chunk: &Chunk,
) -> Result<(), SegmentError> {
    if chunk.columns.len() != schema.columns.len() {
        return Err(w.invalid(format!(
            "chunk has {} columns, schema {}",
            chunk.columns.len(),
            schema.columns.len()
        )));
    }
    if chunk.rows_count > CHUNK_ROWS_MAX {
        return Err(w.invalid(format!(
            "chunk has {} rows, over {CHUNK_ROWS_MAX}",
            chunk.rows_count
        )));
    }
    for (index, column) in chunk.columns.iter().enumerate() {
        let encoding = ColumnEncoding::of_column(schema, index);
        if !encoding.matches(&column.data) {
            return Err(w.invalid(format!("column {index} is not stored as {encoding:?}")));
        }
        let values_count = column.data.values_count();
        let rows_ok = values_count.is_none_or(|count| count == chunk.rows_count)
            && column
                .nulls
                .as_ref()
                .is_none_or(|m| m.len() == chunk.rows_count);
        if !rows_ok {
            return Err(w.invalid(format!(
                "column {index} length differs from the chunk's {} rows",
                chunk.rows_count
            )));
        }
    }
    Ok(())
}

fn io_error<'a>(
    path: &'a Path,
    operation: &'static str,
) -> impl Fn(std::io::Error) -> SegmentError + 'a {
    move |source| SegmentError::Io {
        path: path.to_path_buf(),
        operation,
        source,
    }
}

/// The shard dictionary's ids used by the file, renumbered densely from 0 in first-use order.
#[derive(Default)]
struct FileDictionary {
    local_of_shard: AHashMap<u32, u32>,
    names: Vec<Box<str>>,
}

impl FileDictionary {
    fn local_id(&mut self, shard_id: u32, dictionary: &SymbolDictionary) -> Result<u32, String> {
        if let Some(&id) = self.local_of_shard.get(&shard_id) {
            return Ok(id);
        }
        let name = dictionary.name(shard_id);
        if dictionary.lookup(name) != Some(shard_id) {
            return Err(format!("symbol id {shard_id} is not in the dictionary"));
        }
        if name.len() > SEGMENT_SYMBOL_SIZE_MAX {
            return Err(format!(
                "symbol of {} bytes is over {SEGMENT_SYMBOL_SIZE_MAX}",
                name.len()
            ));
        }
        let id = self.names.len() as u32;
        debug_assert!(id != SYMBOL_ID_NULL);
        self.names.push(name.into());
        self.local_of_shard.insert(shard_id, id);
        Ok(id)
    }
}

/// Appends 8-byte-aligned, checksummed blocks to the `.tmp` file, keeping the block table.
struct BlockWriter<'a> {
    /// The final path (for errors about the input).
    path: &'a Path,
    /// The file being written (for I/O errors).
    tmp_path: &'a Path,
    out: BufWriter<File>,
    /// Bytes written so far: the offset of the next block.
    offset: u64,
    blocks: Vec<BlockEntry>,
    /// Reused per block: a block is at most a chunk's column, `CHUNK_ROWS_MAX * 8` bytes.
    scratch: Vec<u8>,
}

impl<'a> BlockWriter<'a> {
    fn new(path: &'a Path, tmp_path: &'a Path, file: File) -> BlockWriter<'a> {
        BlockWriter {
            path,
            tmp_path,
            out: BufWriter::with_capacity(1 << 20, file),
            offset: 0,
            blocks: Vec::new(),
            scratch: Vec::with_capacity(CHUNK_ROWS_MAX * 8),
        }
    }

    fn invalid(&self, detail: impl Into<String>) -> SegmentError {
        SegmentError::InvalidInput {
            path: self.path.to_path_buf(),
            detail: detail.into(),
        }
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<(), SegmentError> {
        debug_assert!(bytes.len().is_multiple_of(8));
        self.out
            .write_all(bytes)
            .map_err(io_error(self.tmp_path, "write"))?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Appends a block filled by `fill`, zero-padded to 8 bytes; its CRC covers the padding.
    fn append(
        &mut self,
        kind: BlockKind,
        fill: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u32, SegmentError> {
        if self.blocks.len() >= SEGMENT_BLOCKS_MAX {
            return Err(self.invalid(format!(
                "over {SEGMENT_BLOCKS_MAX} blocks: split the segment"
            )));
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        fill(&mut scratch);
        let size = scratch.len() as u64;
        scratch.resize(align_up(size) as usize, 0);
        let entry = BlockEntry {
            offset: self.offset,
            size,
            crc32c: crc32c::crc32c(&scratch),
            kind,
        };
        let written = self.write_raw(&scratch);
        self.scratch = scratch;
        written?;
        self.blocks.push(entry);
        Ok((self.blocks.len() - 1) as u32)
    }
}
