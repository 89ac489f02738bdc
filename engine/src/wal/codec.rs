//! Payload codec: hand-written little-endian binary for the records a shard logs.
//!
//! Why not serde: the format is on disk for years, so every byte is spelled out here, and
//! decoding is a validation of untrusted input (the disk is input): every malformed shape is a
//! typed `CodecError`, every length is checked against the bytes left before anything is
//! allocated, and nothing panics. Each payload opens with a format version byte.
//!
//! ```text
//! InsertBatch  version u8 | table str16 | rows_count u32 | columns_count u16 | column*
//!   column     tag u8 | has_nulls u8 | [null bitmap, ceil(rows/8) bytes, bit i = row i NULL]
//!              | values: rows × 8|4|8|4|1|8 bytes (Int64|Int32|Float64|Float32|Bool|Timestamp)
//!              |   or Symbol: bytes_size u32 | rows × end u32 | bytes (UTF-8)
//! CreateTable  version u8 | if_not_exists u8 | name str16 | columns_count u16
//!              | (name str16 | data_type u8)* | symbol_index u16 | timestamp_index u16
//! DropTable    version u8 | if_exists u8 | name str16
//! Checkpoint   version u8 | covered_lsn u64
//! Mutation     see `codec::mutation`
//! str16        size u16 | UTF-8 bytes
//! ```
//!
//! An insert is logged with only the rows the shard owns (the router's row indices are
//! gathered at encode time), so a batch split over N shards is not logged N times whole.

mod function_codes;
mod mutation;

pub use mutation::{encode_mutation, MUTATION_EXPR_DEPTH_MAX};

use super::error::CodecError;
use super::record::{RecordKind, WAL_RECORD_PAYLOAD_SIZE_MAX};
use super::Lsn;
use crate::batch::{BatchColumn, ColumnValues, RowBatch, StringColumn};
use crate::schema::{ColumnDef, TableSchema, NAME_SIZE_MAX, TABLE_COLUMNS_MAX};
use crate::storage::mutate::Mutation;
use crate::types::DataType;

/// The payload format version written by this code.
pub const CODEC_VERSION: u8 = 1;

const _: () = {
    // Names are length-prefixed with a u16, column counts are u16.
    assert!(NAME_SIZE_MAX <= u16::MAX as usize);
    assert!(TABLE_COLUMNS_MAX <= u16::MAX as usize);
};

/// A decoded record payload.
#[derive(Clone, Debug, PartialEq)]
pub enum WalEntry {
    /// Rows for one table: exactly the rows this shard owns.
    InsertBatch {
        /// The table.
        table: String,
        /// The rows.
        batch: RowBatch,
    },
    /// A table was created.
    CreateTable {
        /// Its schema.
        schema: TableSchema,
        /// Whether an existing table was to be kept silently.
        if_not_exists: bool,
    },
    /// A table was dropped.
    DropTable {
        /// The table.
        table: String,
        /// Whether a missing table was not an error.
        if_exists: bool,
    },
    /// Everything up to `covered_lsn` is persisted outside the WAL.
    Checkpoint {
        /// The last LSN the checkpoint covers.
        covered_lsn: Lsn,
    },
    /// A table's TTL changed.
    SetTtl {
        /// The table.
        table: String,
        /// The new TTL in seconds; `None` removes it.
        ttl_seconds: Option<u64>,
    },
    /// A DELETE or UPDATE, as the shard ran it.
    Mutation(Box<Mutation>),
}

/// Decodes the payload of a record of `kind`.
pub fn decode_entry(kind: RecordKind, payload: &[u8]) -> Result<WalEntry, CodecError> {
    match kind {
        RecordKind::InsertBatch => decode_insert_batch(payload)
            .map(|(table, batch)| WalEntry::InsertBatch { table, batch }),
        RecordKind::CreateTable => {
            decode_create_table(payload).map(|(schema, if_not_exists)| WalEntry::CreateTable {
                schema,
                if_not_exists,
            })
        }
        RecordKind::DropTable => decode_drop_table(payload)
            .map(|(table, if_exists)| WalEntry::DropTable { table, if_exists }),
        RecordKind::Checkpoint => {
            decode_checkpoint(payload).map(|covered_lsn| WalEntry::Checkpoint { covered_lsn })
        }
        RecordKind::SetTtl => decode_set_ttl(payload)
            .map(|(table, ttl_seconds)| WalEntry::SetTtl { table, ttl_seconds }),
        RecordKind::Mutation => {
            mutation::decode_mutation(payload).map(|m| WalEntry::Mutation(Box::new(m)))
        }
    }
}

/// Appends the payload for `rows` of `batch` (all rows when `None`) into `out`, which the
/// caller reuses between records. On error `out` is left as it was.
pub fn encode_insert_batch(
    out: &mut Vec<u8>,
    table: &str,
    batch: &RowBatch,
    rows: Option<&[u32]>,
) -> Result<(), CodecError> {
    let start_size = out.len();
    let result = encode_insert_batch_unchecked(out, table, batch, rows);
    if result.is_err() {
        out.truncate(start_size);
        return result;
    }
    check_payload_size(out, start_size)
}

fn encode_insert_batch_unchecked(
    out: &mut Vec<u8>,
    table: &str,
    batch: &RowBatch,
    rows: Option<&[u32]>,
) -> Result<(), CodecError> {
    check_batch_shape(batch)?;
    if let Some(rows) = rows {
        if let Some(bad) = rows.iter().find(|r| **r as usize >= batch.rows_count) {
            return Err(CodecError::BadRowIndex {
                row_index: *bad,
                rows_count: batch.rows_count,
            });
        }
    }
    let rows_count = rows.map_or(batch.rows_count, <[u32]>::len);
    let rows_count_u32 = u32::try_from(rows_count)
        .map_err(|_| too_large("rows_count", rows_count, u32::MAX as usize))?;
    out.push(CODEC_VERSION);
    put_str16(out, table, "table name")?;
    out.extend_from_slice(&rows_count_u32.to_le_bytes());
    out.extend_from_slice(&(batch.columns.len() as u16).to_le_bytes());
    for column in &batch.columns {
        encode_column(out, column, rows, rows_count);
    }
    Ok(())
}

fn check_batch_shape(batch: &RowBatch) -> Result<(), CodecError> {
    if batch.columns.len() > TABLE_COLUMNS_MAX {
        return Err(too_large(
            "columns_count",
            batch.columns.len(),
            TABLE_COLUMNS_MAX,
        ));
    }
    for column in &batch.columns {
        let values_count = column.values.len();
        let nulls_count = column.nulls.as_ref().map_or(batch.rows_count, Vec::len);
        for (what, found) in [("column values", values_count), ("null mask", nulls_count)] {
            if found != batch.rows_count {
                return Err(CodecError::CountMismatch {
                    what,
                    expected: batch.rows_count as u64,
                    found: found as u64,
                });
            }
        }
    }
    Ok(())
}

fn encode_column(out: &mut Vec<u8>, column: &BatchColumn, rows: Option<&[u32]>, rows_count: usize) {
    out.push(column_tag(&column.values));
    match &column.nulls {
        None => out.push(0),
        Some(mask) => {
            out.push(1);
            encode_null_bitmap(out, mask, rows, rows_count);
        }
    }
    match &column.values {
        ColumnValues::Int64(v) | ColumnValues::Timestamp(v) => {
            encode_fixed(out, v, rows, i64::to_le_bytes)
        }
        ColumnValues::Int32(v) => encode_fixed(out, v, rows, i32::to_le_bytes),
        ColumnValues::Float64(v) => encode_fixed(out, v, rows, f64::to_le_bytes),
        ColumnValues::Float32(v) => encode_fixed(out, v, rows, f32::to_le_bytes),
        ColumnValues::Bool(v) => encode_fixed(out, v, rows, |b| [u8::from(b)]),
        ColumnValues::Symbol(v) => encode_symbols(out, v, rows),
    }
}

fn column_tag(values: &ColumnValues) -> u8 {
    match values {
        ColumnValues::Int64(_) => 1,
        ColumnValues::Int32(_) => 2,
        ColumnValues::Float64(_) => 3,
        ColumnValues::Float32(_) => 4,
        ColumnValues::Bool(_) => 5,
        ColumnValues::Timestamp(_) => 6,
        ColumnValues::Symbol(_) => 7,
    }
}

/// Hot loop: one value per selected row, no allocation beyond `out`'s growth.
fn encode_fixed<T: Copy, const N: usize>(
    out: &mut Vec<u8>,
    values: &[T],
    rows: Option<&[u32]>,
    to_bytes: impl Fn(T) -> [u8; N],
) {
    match rows {
        None => {
            out.reserve(values.len() * N);
            values
                .iter()
                .for_each(|v| out.extend_from_slice(&to_bytes(*v)));
        }
        Some(rows) => {
            out.reserve(rows.len() * N);
            rows.iter()
                .for_each(|r| out.extend_from_slice(&to_bytes(values[*r as usize])));
        }
    }
}

fn encode_null_bitmap(out: &mut Vec<u8>, mask: &[bool], rows: Option<&[u32]>, rows_count: usize) {
    let start = out.len();
    out.resize(start + rows_count.div_ceil(8), 0);
    let bitmap = &mut out[start..];
    for index in 0..rows_count {
        let row = rows.map_or(index, |r| r[index] as usize);
        if mask[row] {
            bitmap[index / 8] |= 1 << (index % 8);
        }
    }
}

fn encode_symbols(out: &mut Vec<u8>, column: &StringColumn, rows: Option<&[u32]>) {
    let rows_count = rows.map_or(column.len(), <[u32]>::len);
    let row_at = |index: usize| rows.map_or(index, |r| r[index] as usize);
    let size_at = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.reserve(rows_count * 4);
    let mut end = 0u32;
    for index in 0..rows_count {
        // The selected strings are a subset of a StringColumn, whose offsets fit in u32.
        end += column.get(row_at(index)).len() as u32;
        out.extend_from_slice(&end.to_le_bytes());
    }
    out[size_at..size_at + 4].copy_from_slice(&end.to_le_bytes());
    out.reserve(end as usize);
    for index in 0..rows_count {
        out.extend_from_slice(column.get(row_at(index)).as_bytes());
    }
}

/// Appends the payload for a created table.
pub fn encode_create_table(
    out: &mut Vec<u8>,
    schema: &TableSchema,
    if_not_exists: bool,
) -> Result<(), CodecError> {
    let start_size = out.len();
    let result = encode_create_table_unchecked(out, schema, if_not_exists);
    if result.is_err() {
        out.truncate(start_size);
    }
    result
}

fn encode_create_table_unchecked(
    out: &mut Vec<u8>,
    schema: &TableSchema,
    if_not_exists: bool,
) -> Result<(), CodecError> {
    let columns_count = schema.columns.len();
    if columns_count > TABLE_COLUMNS_MAX {
        return Err(too_large("columns_count", columns_count, TABLE_COLUMNS_MAX));
    }
    for index in [schema.symbol_index, schema.timestamp_index] {
        if index >= columns_count {
            return Err(CodecError::CountMismatch {
                what: "key column index",
                expected: columns_count as u64,
                found: index as u64,
            });
        }
    }
    out.push(CODEC_VERSION);
    out.push(u8::from(if_not_exists));
    put_str16(out, &schema.name, "table name")?;
    out.extend_from_slice(&(columns_count as u16).to_le_bytes());
    for column in &schema.columns {
        put_str16(out, &column.name, "column name")?;
        out.push(column.data_type.disk_code());
    }
    out.extend_from_slice(&(schema.symbol_index as u16).to_le_bytes());
    out.extend_from_slice(&(schema.timestamp_index as u16).to_le_bytes());
    out.extend_from_slice(&schema.ttl_seconds.unwrap_or(0).to_le_bytes());
    Ok(())
}

/// Appends the payload for a table's new TTL (`None` removes it).
pub fn encode_set_ttl(
    out: &mut Vec<u8>,
    table: &str,
    ttl_seconds: Option<u64>,
) -> Result<(), CodecError> {
    let start_size = out.len();
    out.push(CODEC_VERSION);
    let result = put_str16(out, table, "table name");
    match result {
        Ok(()) => out.extend_from_slice(&ttl_seconds.unwrap_or(0).to_le_bytes()),
        Err(_) => out.truncate(start_size),
    }
    result
}

fn decode_set_ttl(payload: &[u8]) -> Result<(String, Option<u64>), CodecError> {
    let mut reader = Reader::new(payload);
    reader.version()?;
    let table = reader.str16("table name")?;
    let ttl = reader.u64()?;
    reader.finish()?;
    Ok((table, (ttl > 0).then_some(ttl)))
}

/// Appends the payload for a dropped table.
pub fn encode_drop_table(
    out: &mut Vec<u8>,
    table: &str,
    if_exists: bool,
) -> Result<(), CodecError> {
    let start_size = out.len();
    out.push(CODEC_VERSION);
    out.push(u8::from(if_exists));
    let result = put_str16(out, table, "table name");
    if result.is_err() {
        out.truncate(start_size);
    }
    result
}

/// Appends the payload for a checkpoint covering every LSN up to `covered_lsn`.
pub fn encode_checkpoint(out: &mut Vec<u8>, covered_lsn: Lsn) {
    out.push(CODEC_VERSION);
    out.extend_from_slice(&covered_lsn.to_le_bytes());
}

fn put_str16(out: &mut Vec<u8>, text: &str, what: &'static str) -> Result<(), CodecError> {
    if text.len() > NAME_SIZE_MAX {
        return Err(too_large(what, text.len(), NAME_SIZE_MAX));
    }
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

fn check_payload_size(out: &mut Vec<u8>, start_size: usize) -> Result<(), CodecError> {
    let payload_size = out.len() - start_size;
    if payload_size > WAL_RECORD_PAYLOAD_SIZE_MAX {
        out.truncate(start_size);
        return Err(too_large(
            "payload size",
            payload_size,
            WAL_RECORD_PAYLOAD_SIZE_MAX,
        ));
    }
    Ok(())
}

fn too_large(what: &'static str, size: usize, size_max: usize) -> CodecError {
    CodecError::TooLarge {
        what,
        size: size as u64,
        size_max: size_max as u64,
    }
}

/// A cursor over untrusted payload bytes: every read checks what is left first.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, offset: 0 }
    }

    fn take(&mut self, size: usize) -> Result<&'a [u8], CodecError> {
        let available_size = self.bytes.len() - self.offset;
        if size > available_size {
            return Err(CodecError::Truncated {
                offset: self.offset,
                needed_size: size,
                available_size,
            });
        }
        let taken = &self.bytes[self.offset..self.offset + size];
        self.offset += size;
        Ok(taken)
    }

    /// `count` items of `item_size` bytes, with the multiplication checked.
    fn take_items(&mut self, count: usize, item_size: usize) -> Result<&'a [u8], CodecError> {
        let size = count.checked_mul(item_size).ok_or(CodecError::Truncated {
            offset: self.offset,
            needed_size: usize::MAX,
            available_size: self.bytes.len() - self.offset,
        })?;
        self.take(size)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut word = [0u8; N];
        word.copy_from_slice(self.take(N)?);
        Ok(word)
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, CodecError> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, CodecError> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, CodecError> {
        self.array().map(u64::from_le_bytes)
    }

    fn flag(&mut self, what: &'static str) -> Result<bool, CodecError> {
        let offset = self.offset;
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(CodecError::BadTag { what, tag, offset }),
        }
    }

    fn version(&mut self) -> Result<(), CodecError> {
        let offset = self.offset;
        match self.u8()? {
            CODEC_VERSION => Ok(()),
            tag => Err(CodecError::BadTag {
                what: "payload version",
                tag,
                offset,
            }),
        }
    }

    fn str16(&mut self, what: &'static str) -> Result<String, CodecError> {
        let size = usize::from(self.u16()?);
        if size > NAME_SIZE_MAX {
            return Err(too_large(what, size, NAME_SIZE_MAX));
        }
        let offset = self.offset;
        let bytes = self.take(size)?;
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| CodecError::BadUtf8 { what, offset })
    }

    fn finish(&self) -> Result<(), CodecError> {
        let count = self.bytes.len() - self.offset;
        if count != 0 {
            return Err(CodecError::TrailingBytes {
                offset: self.offset,
                count,
            });
        }
        Ok(())
    }
}

/// Decodes an `InsertBatch` payload into its table name and rows.
pub fn decode_insert_batch(payload: &[u8]) -> Result<(String, RowBatch), CodecError> {
    let mut reader = Reader::new(payload);
    reader.version()?;
    let table = reader.str16("table name")?;
    let rows_count = reader.u32()? as usize;
    let columns_count = usize::from(reader.u16()?);
    if columns_count > TABLE_COLUMNS_MAX {
        return Err(too_large("columns_count", columns_count, TABLE_COLUMNS_MAX));
    }
    let mut columns = Vec::with_capacity(columns_count);
    for _ in 0..columns_count {
        columns.push(decode_column(&mut reader, rows_count)?);
    }
    reader.finish()?;
    Ok((
        table,
        RowBatch {
            columns,
            rows_count,
        },
    ))
}

fn decode_column(reader: &mut Reader<'_>, rows_count: usize) -> Result<BatchColumn, CodecError> {
    let tag_offset = reader.offset;
    let tag = reader.u8()?;
    let nulls = match reader.flag("null mask flag")? {
        false => None,
        true => Some(decode_null_bitmap(reader, rows_count)?),
    };
    let values = match tag {
        1 => ColumnValues::Int64(decode_fixed(reader, rows_count, i64::from_le_bytes)?),
        2 => ColumnValues::Int32(decode_fixed(reader, rows_count, i32::from_le_bytes)?),
        3 => ColumnValues::Float64(decode_fixed(reader, rows_count, f64::from_le_bytes)?),
        4 => ColumnValues::Float32(decode_fixed(reader, rows_count, f32::from_le_bytes)?),
        5 => ColumnValues::Bool(decode_bools(reader, rows_count)?),
        6 => ColumnValues::Timestamp(decode_fixed(reader, rows_count, i64::from_le_bytes)?),
        7 => ColumnValues::Symbol(decode_symbols(reader, rows_count)?),
        _ => {
            return Err(CodecError::BadTag {
                what: "column type",
                tag,
                offset: tag_offset,
            })
        }
    };
    Ok(BatchColumn { values, nulls })
}

fn decode_fixed<T, const N: usize>(
    reader: &mut Reader<'_>,
    rows_count: usize,
    from_bytes: impl Fn([u8; N]) -> T,
) -> Result<Vec<T>, CodecError> {
    let bytes = reader.take_items(rows_count, N)?;
    let mut word = [0u8; N];
    Ok(bytes
        .chunks_exact(N)
        .map(|chunk| {
            word.copy_from_slice(chunk);
            from_bytes(word)
        })
        .collect())
}

fn decode_bools(reader: &mut Reader<'_>, rows_count: usize) -> Result<Vec<bool>, CodecError> {
    let offset = reader.offset;
    let bytes = reader.take_items(rows_count, 1)?;
    if let Some(index) = bytes.iter().position(|b| *b > 1) {
        return Err(CodecError::BadTag {
            what: "bool value",
            tag: bytes[index],
            offset: offset + index,
        });
    }
    Ok(bytes.iter().map(|b| *b == 1).collect())
}

fn decode_null_bitmap(reader: &mut Reader<'_>, rows_count: usize) -> Result<Vec<bool>, CodecError> {
    let offset = reader.offset;
    let bitmap = reader.take(rows_count.div_ceil(8))?;
    // Bits past the last row must be zero: the negative space is checked too.
    if !rows_count.is_multiple_of(8) {
        let last = bitmap[bitmap.len() - 1];
        if last >> (rows_count % 8) != 0 {
            return Err(CodecError::BadTag {
                what: "null bitmap padding",
                tag: last,
                offset: offset + bitmap.len() - 1,
            });
        }
    }
    Ok((0..rows_count)
        .map(|index| bitmap[index / 8] & (1 << (index % 8)) != 0)
        .collect())
}

fn decode_symbols(reader: &mut Reader<'_>, rows_count: usize) -> Result<StringColumn, CodecError> {
    let bytes_size = reader.u32()? as usize;
    let ends = reader.take_items(rows_count, 4)?;
    let text_offset = reader.offset;
    let text = std::str::from_utf8(reader.take(bytes_size)?).map_err(|_| CodecError::BadUtf8 {
        what: "symbol bytes",
        offset: text_offset,
    })?;
    let mut column = StringColumn::default();
    let mut start = 0usize;
    for chunk in ends.chunks_exact(4) {
        let mut word = [0u8; 4];
        word.copy_from_slice(chunk);
        let end = u32::from_le_bytes(word) as usize;
        // `get` is None when the range is reversed, out of bounds, or splits a character.
        let Some(symbol) = text.get(start..end) else {
            return Err(symbol_offset_error(text, start, end, text_offset));
        };
        column.push(symbol);
        start = end;
    }
    if start != bytes_size {
        return Err(CodecError::CountMismatch {
            what: "symbol bytes_size vs last offset",
            expected: bytes_size as u64,
            found: start as u64,
        });
    }
    Ok(column)
}

fn symbol_offset_error(text: &str, start: usize, end: usize, text_offset: usize) -> CodecError {
    if end < start || end > text.len() {
        return CodecError::CountMismatch {
            what: "symbol offset",
            expected: text.len() as u64,
            found: end as u64,
        };
    }
    CodecError::BadUtf8 {
        what: "symbol boundary",
        offset: text_offset + end,
    }
}

fn decode_create_table(payload: &[u8]) -> Result<(TableSchema, bool), CodecError> {
    let mut reader = Reader::new(payload);
    reader.version()?;
    let if_not_exists = reader.flag("if_not_exists")?;
    let name = reader.str16("table name")?;
    let columns_count = usize::from(reader.u16()?);
    if columns_count > TABLE_COLUMNS_MAX {
        return Err(too_large("columns_count", columns_count, TABLE_COLUMNS_MAX));
    }
    let mut columns = Vec::with_capacity(columns_count);
    for _ in 0..columns_count {
        let name = reader.str16("column name")?;
        let offset = reader.offset;
        let tag = reader.u8()?;
        let data_type = DataType::from_disk_code(tag).ok_or(CodecError::BadTag {
            what: "data type",
            tag,
            offset,
        })?;
        columns.push(ColumnDef { name, data_type });
    }
    let symbol_index = usize::from(reader.u16()?);
    let timestamp_index = usize::from(reader.u16()?);
    let ttl = reader.u64()?;
    reader.finish()?;
    for index in [symbol_index, timestamp_index] {
        if index >= columns_count {
            return Err(CodecError::CountMismatch {
                what: "key column index",
                expected: columns_count as u64,
                found: index as u64,
            });
        }
    }
    let schema = TableSchema {
        name,
        columns,
        symbol_index,
        timestamp_index,
        ttl_seconds: (ttl > 0).then_some(ttl),
    };
    Ok((schema, if_not_exists))
}

fn decode_drop_table(payload: &[u8]) -> Result<(String, bool), CodecError> {
    let mut reader = Reader::new(payload);
    reader.version()?;
    let if_exists = reader.flag("if_exists")?;
    let table = reader.str16("table name")?;
    reader.finish()?;
    Ok((table, if_exists))
}

fn decode_checkpoint(payload: &[u8]) -> Result<Lsn, CodecError> {
    let mut reader = Reader::new(payload);
    reader.version()?;
    let covered_lsn = reader.u64()?;
    reader.finish()?;
    Ok(covered_lsn)
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
