//! Block summaries: for each `BLOCK_ROWS`-row block of a chunk, the min/max (zone) of every
//! NULL-free numeric column and the sum of every NULL-free integer or float column.
//!
//! A chunk-wide zone cannot judge a filter on a chunk whose values straddle its literal, yet
//! inside the chunk a time-ordered series (a symbol's price walk) mostly sits on one side of
//! it. Scans judge such a chunk block by block: blocks no row of which can pass are not read,
//! blocks whose every row passes give count/sum/avg from their sums, and only the blocks
//! that straddle the literal are filtered row by row.
//!
//! A summary is built on first use. It covers an open chunk's complete blocks: appends only
//! add rows after them, so it survives appends and is extended when more blocks complete. A
//! chunk that no longer takes appends (frozen or sealed: a checkpoint may seal it part full)
//! is covered to its last row, its last block short. Every other change to a chunk clears
//! its summary (see `Chunk::reopen`).

use std::cell::{Ref, RefCell};
use std::ops::Range;

use super::chunk::{zone_of, ColumnChunk, ColumnData, Zone};
use crate::fragment::kernels::{sum_f64, sum_i64_exact};

/// Rows in one block: small enough that a price walk's block rarely straddles a literal,
/// large enough that judging a block costs far less than reading its rows.
pub const BLOCK_ROWS: usize = 128;

/// Per-block sums of one column.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum BlockSums {
    /// Exact sums of an integer column.
    Int(Vec<i128>),
    /// Sums of a float column.
    Float(Vec<f64>),
    /// No sums kept (timestamps).
    #[default]
    None,
}

/// One column's per-block zones and sums.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ColumnBlocks {
    /// Zone of each block.
    pub zones: Vec<Zone>,
    /// Sum of each block.
    pub sums: BlockSums,
}

/// Zones and sums of a chunk's blocks, column by column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlockSummary {
    /// Rows covered: `0..rows`, block `b` holding rows `b * BLOCK_ROWS..` up to `rows`.
    pub rows: usize,
    /// One entry per schema column; `None` for columns not summarized (NULLs, symbols, bools).
    pub columns: Vec<Option<ColumnBlocks>>,
}

impl BlockSummary {
    /// The blocks of column `column`, when kept.
    pub fn column(&self, column: usize) -> Option<&ColumnBlocks> {
        self.columns.get(column).and_then(Option::as_ref)
    }

    /// Number of blocks summarized (the last may be short).
    pub fn blocks(&self) -> usize {
        self.rows.div_ceil(BLOCK_ROWS)
    }

    /// The rows of block `block`.
    pub fn block_rows(&self, block: usize) -> Range<usize> {
        block * BLOCK_ROWS..((block + 1) * BLOCK_ROWS).min(self.rows)
    }

    /// Summarizes `columns` from `self.rows` up to `rows`, which is a block boundary or the
    /// chunk's end.
    fn extend(&mut self, columns: &[ColumnChunk], rows: usize) {
        if self.columns.len() != columns.len() {
            self.columns = columns.iter().map(ColumnBlocks::start).collect();
        }
        let from = self.rows;
        for (summary, column) in self.columns.iter_mut().zip(columns) {
            if column.nulls.is_some() {
                // NULLs appeared in an appended row: this column's blocks are no longer kept.
                *summary = None;
            }
            if let Some(summary) = summary {
                summary.extend(&column.data, from, rows);
            }
        }
        self.rows = rows;
    }
}

impl ColumnBlocks {
    /// An empty summary for `column`, `None` when it is not summarized.
    fn start(column: &ColumnChunk) -> Option<ColumnBlocks> {
        if column.nulls.is_some() {
            return None;
        }
        let sums = match &column.data {
            ColumnData::Int64(_) | ColumnData::Int32(_) => BlockSums::Int(Vec::new()),
            ColumnData::Float64(_) | ColumnData::Float32(_) => BlockSums::Float(Vec::new()),
            ColumnData::Timestamp(_) => BlockSums::None,
            ColumnData::Bool(_) | ColumnData::SymbolIds(_) | ColumnData::PartitionKey => {
                return None
            }
        };
        Some(ColumnBlocks {
            zones: Vec::new(),
            sums,
        })
    }

    /// Appends the zones and sums of the blocks of rows `from..to` of `data` (`from` on a
    /// block boundary).
    fn extend(&mut self, data: &ColumnData, from: usize, to: usize) {
        for start in (from..to).step_by(BLOCK_ROWS) {
            let rows = start..(start + BLOCK_ROWS).min(to);
            self.zones.push(zone_of(data, None, rows.start, rows.end));
            match (&mut self.sums, data) {
                (BlockSums::Int(sums), ColumnData::Int64(v)) => {
                    sums.push(sum_i64_exact(&v[rows], None))
                }
                (BlockSums::Int(sums), ColumnData::Int32(v)) => {
                    sums.push(v[rows].iter().map(|&x| i128::from(x)).sum())
                }
                (BlockSums::Float(sums), ColumnData::Float64(v)) => {
                    sums.push(sum_f64(&v[rows], None))
                }
                (BlockSums::Float(sums), ColumnData::Float32(v)) => {
                    sums.push(v[rows].iter().map(|&x| f64::from(x)).sum())
                }
                _ => {}
            }
        }
    }
}

/// A chunk's block summary, built lazily. Only the owning shard's executor touches a chunk,
/// so a `RefCell` suffices; a copy of a chunk starts without one.
#[derive(Debug, Default)]
pub struct BlockCache {
    summary: RefCell<BlockSummary>,
}

impl BlockCache {
    /// The summary of rows `0..rows` of `columns` (`rows` a block boundary or the chunk's
    /// end), built or extended first when it covers other rows.
    pub fn get(&self, columns: &[ColumnChunk], rows: usize) -> Ref<'_, BlockSummary> {
        if self.summary.borrow().rows != rows {
            // A reader holding the summary means it is being used as it is: extend it later.
            if let Ok(mut summary) = self.summary.try_borrow_mut() {
                if summary.rows > rows || summary.rows % BLOCK_ROWS != 0 {
                    *summary = BlockSummary::default();
                }
                summary.extend(columns, rows);
            }
        }
        self.summary.borrow()
    }

    /// Forgets the summary (the chunk's rows changed).
    pub fn clear(&mut self) {
        *self.summary.get_mut() = BlockSummary::default();
    }
}

impl Clone for BlockCache {
    /// A copy of a chunk starts without a summary.
    fn clone(&self) -> Self {
        BlockCache::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::storage::chunk::{Chunk, ChunkState};

    fn column(data: ColumnData) -> ColumnChunk {
        ColumnChunk {
            data,
            nulls: None,
            zone: Zone::Unknown,
        }
    }

    /// A chunk of `rows` rows: an integer, a float and a timestamp column.
    fn chunk(rows: usize) -> Chunk {
        let ints: Vec<i64> = (0..rows as i64).map(|i| (i * 7919) % 1000 - 500).collect();
        let floats: Vec<f64> = (0..rows).map(|i| i as f64 / 4.0).collect();
        let times: Vec<i64> = (0..rows as i64).collect();
        let columns = vec![
            column(ColumnData::Int64(ints.into())),
            column(ColumnData::Float64(floats.into())),
            column(ColumnData::Timestamp(times.into())),
        ];
        Chunk::from_columns(columns, rows)
    }

    /// Checks every summarized block against its rows, brute force.
    fn check(chunk: &Chunk, summary: &BlockSummary) {
        let ColumnData::Int64(ints) = &chunk.columns[0].data else {
            unreachable!()
        };
        let ColumnData::Float64(floats) = &chunk.columns[1].data else {
            unreachable!()
        };
        for block in 0..summary.blocks() {
            let rows = summary.block_rows(block);
            let ints = &ints[rows.clone()];
            let (min, max) = (*ints.iter().min().unwrap(), *ints.iter().max().unwrap());
            let int_blocks = summary.column(0).unwrap();
            assert_eq!(int_blocks.zones[block], Zone::Int { min, max });
            let BlockSums::Int(sums) = &int_blocks.sums else {
                unreachable!()
            };
            assert_eq!(
                sums[block],
                ints.iter().map(|&x| i128::from(x)).sum::<i128>()
            );
            let BlockSums::Float(sums) = &summary.column(1).unwrap().sums else {
                unreachable!()
            };
            assert_eq!(sums[block], floats[rows].iter().sum::<f64>());
            assert_eq!(summary.column(2).unwrap().sums, BlockSums::None);
        }
    }

    #[test]
    fn an_open_chunk_summarizes_its_complete_blocks_and_extends_on_appends() {
        let mut open = chunk(3 * BLOCK_ROWS + 5);
        let summary = open.block_summary().clone();
        assert_eq!((summary.blocks(), summary.rows), (3, 3 * BLOCK_ROWS));
        check(&open, &summary);
        let more = chunk(2 * BLOCK_ROWS);
        open.extend_from(&more, 0, 2 * BLOCK_ROWS);
        let summary = open.block_summary().clone();
        assert_eq!((summary.blocks(), summary.rows), (5, 5 * BLOCK_ROWS));
        check(&open, &summary);
    }

    #[test]
    fn a_frozen_chunk_is_summarized_to_its_last_row_and_cleared_when_it_changes() {
        let mut sealed = chunk(2 * BLOCK_ROWS + 9);
        assert_eq!(sealed.block_summary().rows, 2 * BLOCK_ROWS);
        let _copy = sealed.freeze();
        assert_eq!(sealed.state(), ChunkState::Frozen);
        let summary = sealed.block_summary().clone();
        assert_eq!((summary.blocks(), summary.rows), (3, 2 * BLOCK_ROWS + 9));
        assert_eq!(summary.block_rows(2), 2 * BLOCK_ROWS..2 * BLOCK_ROWS + 9);
        check(&sealed, &summary);
        // Any change reopens the chunk: the short last block is summarized no more.
        sealed.truncate(BLOCK_ROWS + 1);
        let summary = sealed.block_summary().clone();
        assert_eq!((summary.blocks(), summary.rows), (1, BLOCK_ROWS));
        check(&sealed, &summary);
    }
}
