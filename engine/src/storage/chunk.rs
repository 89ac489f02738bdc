//! Column chunks: up to `CHUNK_ROWS_MAX` rows of one partition, column by column, in timestamp
//! order, each column with a min/max zone map that lets scans skip or fully accept the chunk.
//!
//! A chunk is `Open` (the shard appends to it), `Frozen` (a checkpoint in flight is writing it
//! to a segment file) or `Sealed` (its exact rows are in a published segment file, and its
//! columns are normally mapped from it). Appends only ever go into an open chunk; any other
//! change to a frozen or sealed one (a late row's merge, UPDATE, DELETE, TTL) goes through the
//! chunk's mutators, which copy its columns on write and make it `Open` again, so the table
//! can tell that a sealed version of its rows was superseded.

use std::cell::Ref;

use super::blocks::{BlockCache, BlockSummary, BLOCK_ROWS};
use super::column_vec::{ColumnValue, ColumnVec};
use super::dictionary::SymbolDictionary;
use super::memo::AggregateMemo;
use crate::batch::{BatchColumn, ColumnValues, RowBatch};
use crate::types::DataType;

/// Most rows in one chunk. Big enough that per-chunk overhead vanishes in scans, small enough
/// that zone maps prune inside a hot symbol's partition.
pub const CHUNK_ROWS_MAX: usize = 16 * 1024;

/// One column's values inside a chunk.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnData {
    /// INT64 (also UINT64) values.
    Int64(ColumnVec<i64>),
    /// INT32 values.
    Int32(ColumnVec<i32>),
    /// FLOAT64 values.
    Float64(ColumnVec<f64>),
    /// FLOAT32 values.
    Float32(ColumnVec<f32>),
    /// BOOL values.
    Bool(ColumnVec<bool>),
    /// TIMESTAMP values (ns).
    Timestamp(ColumnVec<i64>),
    /// SYMBOL values as ids into the table's dictionary on this shard.
    SymbolIds(ColumnVec<u32>),
    /// The partition's symbol column: one value for the whole partition, stored once.
    PartitionKey,
}

/// Min and max of a column's non-NULL values in a chunk.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Zone {
    /// Integer or timestamp bounds.
    Int {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
    /// Float bounds (NaN excluded).
    Float {
        /// Smallest value.
        min: f64,
        /// Largest value.
        max: f64,
    },
    /// No bounds kept (bools, symbols, or no non-NULL values yet).
    Unknown,
}

/// A column of a chunk: values, NULL mask and zone.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnChunk {
    /// Values (a NULL row holds the type's default).
    pub data: ColumnData,
    /// `Some(mask)` when any row is NULL (`true` = NULL).
    pub nulls: Option<ColumnVec<bool>>,
    /// Min/max of non-NULL values.
    pub zone: Zone,
}

impl ColumnChunk {
    /// An empty column for `data_type`; `is_partition_key` stores nothing per row.
    pub fn empty(data_type: DataType, is_partition_key: bool) -> ColumnChunk {
        let data = if is_partition_key {
            ColumnData::PartitionKey
        } else {
            match data_type {
                DataType::Int64 | DataType::UInt64 => ColumnData::Int64(ColumnVec::default()),
                DataType::Int32 => ColumnData::Int32(ColumnVec::default()),
                DataType::Float64 => ColumnData::Float64(ColumnVec::default()),
                DataType::Float32 => ColumnData::Float32(ColumnVec::default()),
                DataType::Bool => ColumnData::Bool(ColumnVec::default()),
                DataType::Timestamp => ColumnData::Timestamp(ColumnVec::default()),
                DataType::Symbol => ColumnData::SymbolIds(ColumnVec::default()),
            }
        };
        ColumnChunk {
            data,
            nulls: None,
            zone: Zone::Unknown,
        }
    }

    /// Appends rows `start..end` of `other` (same type).
    pub fn extend_from(
        &mut self,
        rows_before: usize,
        other: &ColumnChunk,
        start: usize,
        end: usize,
    ) {
        fn ext<T: ColumnValue>(to: &mut ColumnVec<T>, from: &[T], start: usize, end: usize) {
            to.to_mut().extend_from_slice(&from[start..end]);
        }
        match (&mut self.data, &other.data) {
            (ColumnData::Int64(a), ColumnData::Int64(b)) => ext(a, b, start, end),
            (ColumnData::Int32(a), ColumnData::Int32(b)) => ext(a, b, start, end),
            (ColumnData::Float64(a), ColumnData::Float64(b)) => ext(a, b, start, end),
            (ColumnData::Float32(a), ColumnData::Float32(b)) => ext(a, b, start, end),
            (ColumnData::Bool(a), ColumnData::Bool(b)) => ext(a, b, start, end),
            (ColumnData::Timestamp(a), ColumnData::Timestamp(b)) => ext(a, b, start, end),
            (ColumnData::SymbolIds(a), ColumnData::SymbolIds(b)) => ext(a, b, start, end),
            (ColumnData::PartitionKey, ColumnData::PartitionKey) => {}
            (a, b) => unreachable!("column types differ within one table: {a:?} vs {b:?}"),
        }
        match (&mut self.nulls, &other.nulls) {
            (Some(a), Some(b)) => a.to_mut().extend_from_slice(&b[start..end]),
            (Some(a), None) => {
                let a = a.to_mut();
                a.resize(a.len() + end - start, false)
            }
            (None, Some(b)) if b[start..end].contains(&true) => {
                let mut mask = vec![false; rows_before];
                mask.extend_from_slice(&b[start..end]);
                self.nulls = Some(mask.into());
            }
            (None, _) => {}
        }
        self.zone = merge_zones(
            self.zone,
            zone_of(&other.data, other.nulls.as_deref(), start, end),
        );
    }

    /// Appends rows `rows` of a batch column, updating the NULL mask and the zone.
    pub fn extend_from_batch(
        &mut self,
        rows_before: usize,
        source: &BatchColumn,
        rows: &[u32],
        dictionary: &mut SymbolDictionary,
    ) {
        fn gather<T: ColumnValue>(to: &mut ColumnVec<T>, from: &[T], rows: &[u32]) {
            to.to_mut().extend(rows.iter().map(|&r| from[r as usize]));
        }
        // Gather and bound in one pass: ingest appends a few rows per partition per batch, so a
        // second pass over them (and its dispatch) would cost as much as the copy.
        let bounds = match (&mut self.data, &source.values) {
            (ColumnData::PartitionKey, _) => return,
            (ColumnData::Int64(a), ColumnValues::Int64(b)) => {
                gather_int_bounded(a.to_mut(), b, rows)
            }
            (ColumnData::Timestamp(a), ColumnValues::Timestamp(b)) => {
                gather_int_bounded(a.to_mut(), b, rows)
            }
            (ColumnData::Float64(a), ColumnValues::Float64(b)) => {
                gather_float_bounded(a.to_mut(), b, rows)
            }
            (ColumnData::Int32(a), ColumnValues::Int32(b)) => {
                gather(a, b, rows);
                None
            }
            (ColumnData::Float32(a), ColumnValues::Float32(b)) => {
                gather(a, b, rows);
                None
            }
            (ColumnData::Bool(a), ColumnValues::Bool(b)) => {
                gather(a, b, rows);
                None
            }
            (ColumnData::SymbolIds(a), ColumnValues::Symbol(b)) => {
                let ids = rows.iter().map(|&r| dictionary.intern(b.get(r as usize)));
                a.to_mut().extend(ids);
                None
            }
            (a, b) => unreachable!("batch column does not match the table: {a:?} vs {b:?}"),
        };
        let appended_end = rows_before + rows.len();
        match (&mut self.nulls, &source.nulls) {
            (Some(mask), Some(from)) => {
                mask.to_mut().extend(rows.iter().map(|&r| from[r as usize]))
            }
            (Some(mask), None) => mask.to_mut().resize(appended_end, false),
            (None, Some(from)) if rows.iter().any(|&r| from[r as usize]) => {
                let mut mask = vec![false; rows_before];
                mask.extend(rows.iter().map(|&r| from[r as usize]));
                self.nulls = Some(mask.into());
            }
            (None, _) => {}
        }
        // Bounds from the gather are exact only without NULL rows among the appended ones.
        let appended_has_nulls = source
            .nulls
            .as_ref()
            .is_some_and(|m| rows.iter().any(|&r| m[r as usize]));
        let added = match bounds {
            Some(zone) if !appended_has_nulls => zone,
            _ => zone_of(&self.data, self.nulls.as_deref(), rows_before, appended_end),
        };
        self.zone = merge_zones(self.zone, added);
    }

    /// The rows at `indices`, in that order, as a new staging column (no zone).
    pub fn take(&self, indices: &[u32]) -> ColumnChunk {
        fn gather<T: ColumnValue>(values: &[T], indices: &[u32]) -> ColumnVec<T> {
            ColumnVec::Owned(indices.iter().map(|&i| values[i as usize]).collect())
        }
        let data = match &self.data {
            ColumnData::Int64(v) => ColumnData::Int64(gather(v, indices)),
            ColumnData::Int32(v) => ColumnData::Int32(gather(v, indices)),
            ColumnData::Float64(v) => ColumnData::Float64(gather(v, indices)),
            ColumnData::Float32(v) => ColumnData::Float32(gather(v, indices)),
            ColumnData::Bool(v) => ColumnData::Bool(gather(v, indices)),
            ColumnData::Timestamp(v) => ColumnData::Timestamp(gather(v, indices)),
            ColumnData::SymbolIds(v) => ColumnData::SymbolIds(gather(v, indices)),
            ColumnData::PartitionKey => ColumnData::PartitionKey,
        };
        let nulls = self.nulls.as_ref().map(|mask| gather(mask, indices));
        // Staging only: zones are computed when rows land in a partition (`extend_from`).
        ColumnChunk {
            data,
            nulls,
            zone: Zone::Unknown,
        }
    }

    /// Bytes of value data per row (for `bytes_read`).
    pub fn value_size(&self) -> usize {
        match &self.data {
            ColumnData::Int64(_) | ColumnData::Float64(_) | ColumnData::Timestamp(_) => 8,
            ColumnData::Int32(_) | ColumnData::Float32(_) | ColumnData::SymbolIds(_) => 4,
            ColumnData::Bool(_) => 1,
            ColumnData::PartitionKey => 0,
        }
    }

    /// Freezes the values and NULL mask (see `ColumnVec::freeze`) and returns a handle on the
    /// same storage.
    fn freeze(&mut self) -> ColumnChunk {
        let data = match &mut self.data {
            ColumnData::Int64(v) => ColumnData::Int64(v.freeze()),
            ColumnData::Int32(v) => ColumnData::Int32(v.freeze()),
            ColumnData::Float64(v) => ColumnData::Float64(v.freeze()),
            ColumnData::Float32(v) => ColumnData::Float32(v.freeze()),
            ColumnData::Bool(v) => ColumnData::Bool(v.freeze()),
            ColumnData::Timestamp(v) => ColumnData::Timestamp(v.freeze()),
            ColumnData::SymbolIds(v) => ColumnData::SymbolIds(v.freeze()),
            ColumnData::PartitionKey => ColumnData::PartitionKey,
        };
        ColumnChunk {
            data,
            nulls: self.nulls.as_mut().map(ColumnVec::freeze),
            zone: self.zone,
        }
    }

    /// Whether `other`'s values and mask are this column's very storage.
    fn same_storage(&self, other: &ColumnChunk) -> bool {
        let data = match (&self.data, &other.data) {
            (ColumnData::Int64(a), ColumnData::Int64(b))
            | (ColumnData::Timestamp(a), ColumnData::Timestamp(b)) => a.same_storage(b),
            (ColumnData::Int32(a), ColumnData::Int32(b)) => a.same_storage(b),
            (ColumnData::Float64(a), ColumnData::Float64(b)) => a.same_storage(b),
            (ColumnData::Float32(a), ColumnData::Float32(b)) => a.same_storage(b),
            (ColumnData::Bool(a), ColumnData::Bool(b)) => a.same_storage(b),
            (ColumnData::SymbolIds(a), ColumnData::SymbolIds(b)) => a.same_storage(b),
            (ColumnData::PartitionKey, ColumnData::PartitionKey) => true,
            _ => false,
        };
        let nulls = match (&self.nulls, &other.nulls) {
            (Some(a), Some(b)) => a.same_storage(b),
            (None, None) => true,
            (Some(_), None) | (None, Some(_)) => false,
        };
        data && nulls
    }

    /// Bytes of values read in place from a mapped segment file.
    fn mapped_size(&self) -> usize {
        let mapped = match &self.data {
            ColumnData::Int64(v) | ColumnData::Timestamp(v) => v.is_mapped(),
            ColumnData::Int32(v) => v.is_mapped(),
            ColumnData::Float64(v) => v.is_mapped(),
            ColumnData::Float32(v) => v.is_mapped(),
            ColumnData::SymbolIds(v) => v.is_mapped(),
            ColumnData::Bool(_) | ColumnData::PartitionKey => false,
        };
        if mapped {
            self.value_size() * self.data.values_count().unwrap_or(0)
        } else {
            0
        }
    }
}

impl ColumnData {
    /// Number of values stored (`None` for the partition key, which stores none).
    pub fn values_count(&self) -> Option<usize> {
        match self {
            ColumnData::Int64(v) | ColumnData::Timestamp(v) => Some(v.len()),
            ColumnData::Int32(v) => Some(v.len()),
            ColumnData::Float64(v) => Some(v.len()),
            ColumnData::Float32(v) => Some(v.len()),
            ColumnData::Bool(v) => Some(v.len()),
            ColumnData::SymbolIds(v) => Some(v.len()),
            ColumnData::PartitionKey => None,
        }
    }
}

/// The zone of rows `start..end` of `data`, ignoring NULL rows.
pub fn zone_of(data: &ColumnData, nulls: Option<&[bool]>, start: usize, end: usize) -> Zone {
    if start >= end {
        return Zone::Unknown;
    }
    if let Some(mask) = nulls {
        // Rare path: fold non-NULL values one by one.
        return (start..end)
            .filter(|&i| !mask[i])
            .fold(Zone::Unknown, |zone, i| {
                merge_zones(zone, zone_of(data, None, i, i + 1))
            });
    }
    match data {
        ColumnData::Int64(v) | ColumnData::Timestamp(v) => int_zone(v[start..end].iter().copied()),
        ColumnData::Int32(v) => int_zone(v[start..end].iter().map(|&x| i64::from(x))),
        ColumnData::Float64(v) => float_zone(v[start..end].iter().copied()),
        ColumnData::Float32(v) => float_zone(v[start..end].iter().map(|&x| f64::from(x))),
        ColumnData::Bool(_) | ColumnData::SymbolIds(_) | ColumnData::PartitionKey => Zone::Unknown,
    }
}

/// Appends `from` at `rows` to `to`, returning the appended values' bounds.
fn gather_int_bounded(to: &mut Vec<i64>, from: &[i64], rows: &[u32]) -> Option<Zone> {
    let (mut min, mut max) = (i64::MAX, i64::MIN);
    to.extend(rows.iter().map(|&r| {
        let x = from[r as usize];
        min = min.min(x);
        max = max.max(x);
        x
    }));
    Some(if min > max {
        Zone::Unknown
    } else {
        Zone::Int { min, max }
    })
}

/// Appends `from` at `rows` to `to`, returning the appended values' bounds (none with a NaN).
fn gather_float_bounded(to: &mut Vec<f64>, from: &[f64], rows: &[u32]) -> Option<Zone> {
    let (mut min, mut max, mut nan) = (f64::INFINITY, f64::NEG_INFINITY, false);
    to.extend(rows.iter().map(|&r| {
        let x = from[r as usize];
        min = min.min(x);
        max = max.max(x);
        nan |= x.is_nan();
        x
    }));
    Some(float_bounds(min, max, nan))
}

fn int_zone(values: impl Iterator<Item = i64>) -> Zone {
    let (min, max) = values.fold((i64::MAX, i64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    if min > max {
        Zone::Unknown
    } else {
        Zone::Int { min, max }
    }
}

fn float_zone(values: impl Iterator<Item = f64>) -> Zone {
    let (min, max, nan) = values.fold(
        (f64::INFINITY, f64::NEG_INFINITY, false),
        |(lo, hi, nan), x| (lo.min(x), hi.max(x), nan | x.is_nan()),
    );
    float_bounds(min, max, nan)
}

/// The zone of float values with these extremes. A NaN fails every comparison, so a chunk
/// holding one must never be judged "every row passes" (nor "none"): its bounds become
/// infinite, which prunes nothing and, unlike `Unknown` (no values yet), survives merging.
fn float_bounds(min: f64, max: f64, nan: bool) -> Zone {
    if nan {
        Zone::Float {
            min: f64::NEG_INFINITY,
            max: f64::INFINITY,
        }
    } else if min > max {
        Zone::Unknown
    } else {
        Zone::Float { min, max }
    }
}

/// The zone covering both inputs.
pub fn merge_zones(a: Zone, b: Zone) -> Zone {
    match (a, b) {
        (Zone::Unknown, z) | (z, Zone::Unknown) => z,
        (Zone::Int { min: a0, max: a1 }, Zone::Int { min: b0, max: b1 }) => Zone::Int {
            min: a0.min(b0),
            max: a1.max(b1),
        },
        (Zone::Float { min: a0, max: a1 }, Zone::Float { min: b0, max: b1 }) => Zone::Float {
            min: a0.min(b0),
            max: a1.max(b1),
        },
        (Zone::Int { .. }, Zone::Float { .. }) | (Zone::Float { .. }, Zone::Int { .. }) => {
            Zone::Unknown
        }
    }
}

/// Where a chunk is in its life (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChunkState {
    /// Appendable; its rows are only in the log.
    #[default]
    Open,
    /// Being written by a checkpoint in flight; its columns are frozen (shared, read-only).
    Frozen,
    /// Its exact rows are in a published segment file.
    Sealed,
}

/// Up to `CHUNK_ROWS_MAX` rows of a partition, sorted by timestamp.
#[derive(Clone, Debug)]
pub struct Chunk {
    /// One column per schema column. Readers use it freely; a writer changes it only through
    /// the chunk's mutators, or after `reopen` (a sealed chunk must not change unnoticed).
    pub columns: Vec<ColumnChunk>,
    /// Number of rows.
    pub rows_count: usize,
    /// Partial aggregates of the whole chunk, cleared by every mutation.
    pub memo: AggregateMemo,
    /// Zones and sums of its blocks (see `block_summary`), kept across appends, cleared by
    /// other changes.
    blocks: BlockCache,
    /// Open, frozen or sealed. Every mutator makes the chunk `Open`.
    state: ChunkState,
}

impl PartialEq for Chunk {
    /// Same rows and zones; where the values live (heap or map) and the state do not count.
    fn eq(&self, other: &Chunk) -> bool {
        self.rows_count == other.rows_count && self.columns == other.columns
    }
}

impl Chunk {
    /// An empty chunk for a table with these column types.
    pub fn empty(types: &[DataType], symbol_index: usize) -> Chunk {
        let columns = types
            .iter()
            .enumerate()
            .map(|(index, &t)| ColumnChunk::empty(t, index == symbol_index))
            .collect();
        Chunk::from_columns(columns, 0)
    }

    /// An open chunk of `rows_count` rows made of `columns` (one per schema column).
    pub fn from_columns(columns: Vec<ColumnChunk>, rows_count: usize) -> Chunk {
        Chunk {
            columns,
            rows_count,
            memo: AggregateMemo::default(),
            blocks: BlockCache::default(),
            state: ChunkState::Open,
        }
    }

    /// A sealed chunk loaded from a published segment file.
    pub fn sealed(columns: Vec<ColumnChunk>, rows_count: usize) -> Chunk {
        Chunk {
            state: ChunkState::Sealed,
            ..Chunk::from_columns(columns, rows_count)
        }
    }

    /// Open, frozen or sealed.
    pub fn state(&self) -> ChunkState {
        self.state
    }

    /// Makes the chunk open (it is about to change, or its checkpoint failed) and forgets its
    /// memo and block summary. A frozen or sealed chunk's columns are copied on their first
    /// write.
    pub fn reopen(&mut self) {
        self.blocks.clear();
        self.reopen_for_append();
    }

    /// Like `reopen`, for a change that only appends rows to an open chunk: the summary of
    /// its complete blocks stays true.
    fn reopen_for_append(&mut self) {
        if self.state != ChunkState::Open {
            // Its summary may cover a short last block.
            self.blocks.clear();
        }
        self.state = ChunkState::Open;
        self.memo.clear();
    }

    /// The zones and sums of the chunk's blocks (built on first use): the complete ones of an
    /// open chunk, all of a frozen or sealed one.
    pub fn block_summary(&self) -> Ref<'_, BlockSummary> {
        let rows = match self.state {
            ChunkState::Open => self.rows_count / BLOCK_ROWS * BLOCK_ROWS,
            ChunkState::Frozen | ChunkState::Sealed => self.rows_count,
        };
        self.blocks.get(&self.columns, rows)
    }

    /// Freezes the chunk's columns for a checkpoint and returns a copy of it on the same
    /// storage (no value is copied), for the checkpoint's writer thread. An open chunk becomes
    /// `Frozen`; a sealed one (which a compaction rewrites) stays sealed.
    pub fn freeze(&mut self) -> Chunk {
        debug_assert_ne!(self.state, ChunkState::Frozen, "one checkpoint at a time");
        if self.state == ChunkState::Open {
            self.state = ChunkState::Frozen;
        }
        let columns = self.columns.iter_mut().map(ColumnChunk::freeze).collect();
        Chunk::from_columns(columns, self.rows_count)
    }

    /// Whether this chunk is still, unchanged, the one `snapshot` was taken of (`freeze`, or a
    /// clone of a sealed chunk): same rows, every column the very same storage.
    pub fn is_snapshot(&self, snapshot: &Chunk) -> bool {
        self.state != ChunkState::Open
            && self.rows_count == snapshot.rows_count
            && self.columns.len() == snapshot.columns.len()
            && self
                .columns
                .iter()
                .zip(&snapshot.columns)
                .all(|(a, b)| a.same_storage(b))
    }

    /// Marks a frozen chunk sealed: its rows are in the segment file just published.
    pub fn seal(&mut self) {
        debug_assert_eq!(self.state, ChunkState::Frozen);
        self.state = ChunkState::Sealed;
    }

    /// Bytes of column values read in place from mapped segment files.
    pub fn mapped_size(&self) -> usize {
        self.columns.iter().map(ColumnChunk::mapped_size).sum()
    }

    /// Makes room for `rows` more rows in every column.
    pub fn reserve(&mut self, rows: usize) {
        for column in &mut self.columns {
            match &mut column.data {
                ColumnData::Int64(v) | ColumnData::Timestamp(v) => v.to_mut().reserve(rows),
                ColumnData::Int32(v) => v.to_mut().reserve(rows),
                ColumnData::Float64(v) => v.to_mut().reserve(rows),
                ColumnData::Float32(v) => v.to_mut().reserve(rows),
                ColumnData::Bool(v) => v.to_mut().reserve(rows),
                ColumnData::SymbolIds(v) => v.to_mut().reserve(rows),
                ColumnData::PartitionKey => {}
            }
        }
    }

    /// Appends rows `start..end` of `other`.
    pub fn extend_from(&mut self, other: &Chunk, start: usize, end: usize) {
        debug_assert!(start <= end && end <= other.rows_count);
        self.reopen_for_append();
        for (to, from) in self.columns.iter_mut().zip(&other.columns) {
            to.extend_from(self.rows_count, from, start, end);
        }
        self.rows_count += end - start;
    }

    /// Appends rows `rows` of `batch` (same table), converting symbols through `dictionary`.
    pub fn extend_from_batch(
        &mut self,
        batch: &RowBatch,
        rows: &[u32],
        dictionary: &mut SymbolDictionary,
    ) {
        self.reopen_for_append();
        for (column, source) in self.columns.iter_mut().zip(&batch.columns) {
            column.extend_from_batch(self.rows_count, source, rows, dictionary);
        }
        self.rows_count += rows.len();
    }

    /// The rows at `indices`, in that order.
    pub fn take(&self, indices: &[u32]) -> Chunk {
        let columns = self.columns.iter().map(|c| c.take(indices)).collect();
        Chunk::from_columns(columns, indices.len())
    }

    /// Keeps the first `rows` rows. Zones are kept: bounds of a superset stay valid bounds.
    pub fn truncate(&mut self, rows: usize) {
        debug_assert!(rows <= self.rows_count);
        self.reopen();
        for column in &mut self.columns {
            match &mut column.data {
                ColumnData::Int64(v) | ColumnData::Timestamp(v) => v.truncate(rows),
                ColumnData::Int32(v) => v.truncate(rows),
                ColumnData::Float64(v) => v.truncate(rows),
                ColumnData::Float32(v) => v.truncate(rows),
                ColumnData::Bool(v) => v.truncate(rows),
                ColumnData::SymbolIds(v) => v.truncate(rows),
                ColumnData::PartitionKey => {}
            }
            if let Some(mask) = &mut column.nulls {
                mask.truncate(rows);
            }
        }
        self.rows_count = rows;
    }

    /// The timestamps, given the timestamp column's index.
    pub fn timestamps(&self, timestamp_index: usize) -> &[i64] {
        match &self.columns[timestamp_index].data {
            ColumnData::Timestamp(v) => v,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ignores_nulls_and_drops_bounds_on_nan() {
        let data = ColumnData::Float64(vec![5.0, 7.0, -1.0, 100.0].into());
        let nulls = [false, false, false, true];
        assert_eq!(
            zone_of(&data, Some(&nulls), 0, 4),
            Zone::Float {
                min: -1.0,
                max: 7.0
            }
        );
        let with_nan = ColumnData::Float64(vec![5.0, f64::NAN].into());
        let unbounded = Zone::Float {
            min: f64::NEG_INFINITY,
            max: f64::INFINITY,
        };
        assert_eq!(zone_of(&with_nan, None, 0, 2), unbounded);
        assert_eq!(
            merge_zones(Zone::Float { min: 1.0, max: 2.0 }, unbounded),
            unbounded
        );
    }

    #[test]
    fn extend_keeps_null_mask_aligned() {
        let mut a = ColumnChunk::empty(DataType::Int64, false);
        let b = ColumnChunk {
            data: ColumnData::Int64(vec![1, 2, 3].into()),
            nulls: None,
            zone: Zone::Unknown,
        };
        let c = ColumnChunk {
            data: ColumnData::Int64(vec![7, 0].into()),
            nulls: Some(vec![false, true].into()),
            zone: Zone::Unknown,
        };
        a.extend_from(0, &b, 0, 3);
        a.extend_from(3, &c, 0, 2);
        assert_eq!(a.nulls, Some(vec![false, false, false, false, true].into()));
        assert_eq!(a.zone, Zone::Int { min: 1, max: 7 });
    }

    #[test]
    fn bounds_from_batch_appends_skip_nulls_and_unbound_on_nan() {
        use crate::batch::{BatchColumn, ColumnValues};
        let mut dictionary = SymbolDictionary::default();
        let ints = BatchColumn {
            values: ColumnValues::Int64(vec![5, -3, 99, 7]),
            nulls: Some(vec![false, false, true, false]),
        };
        let mut column = ColumnChunk::empty(DataType::Int64, false);
        column.extend_from_batch(0, &ints, &[0, 1, 3], &mut dictionary);
        assert_eq!(column.zone, Zone::Int { min: -3, max: 7 });
        // Row 2 is NULL (its stored 99 must not widen the bounds).
        column.extend_from_batch(3, &ints, &[2], &mut dictionary);
        assert_eq!(column.zone, Zone::Int { min: -3, max: 7 });
        assert_eq!(column.nulls, Some(vec![false, false, false, true].into()));
        let floats = BatchColumn {
            values: ColumnValues::Float64(vec![1.5, f64::NAN]),
            nulls: None,
        };
        let mut column = ColumnChunk::empty(DataType::Float64, false);
        column.extend_from_batch(0, &floats, &[0], &mut dictionary);
        assert_eq!(column.zone, Zone::Float { min: 1.5, max: 1.5 });
        column.extend_from_batch(1, &floats, &[1], &mut dictionary);
        assert_eq!(
            column.zone,
            Zone::Float {
                min: f64::NEG_INFINITY,
                max: f64::INFINITY
            },
            "a NaN unbounds the column for good"
        );
    }
}
