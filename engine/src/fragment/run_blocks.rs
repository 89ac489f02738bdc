//! Runs over whole summarized blocks (`storage::blocks`): a time bucket that spans blocks
//! takes the integer sum and the min/max of those blocks from their sums and zones, and reads
//! only the rows before the first whole block and after the last. A hot symbol's one-minute
//! bar holds thousands of rows, nearly all of them inside whole blocks.

use std::ops::Range;

use crate::storage::blocks::{BlockSummary, BlockSums, ColumnBlocks, BLOCK_ROWS};
use crate::storage::chunk::Zone;

/// The summarized blocks of the chunk in view.
#[derive(Clone, Copy)]
pub(super) struct ViewBlocks<'a> {
    /// The chunk's block summary.
    pub summary: &'a BlockSummary,
    /// The chunk row of the view's first row.
    pub offset: usize,
}

impl<'a> ViewBlocks<'a> {
    /// Column `column`'s blocks, when kept.
    pub fn column(self, column: usize) -> Option<ColumnView<'a>> {
        Some(ColumnView {
            view: self,
            blocks: self.summary.column(column)?,
        })
    }

    /// `rows` (positions in view) split around the whole blocks inside them: the rows before,
    /// the blocks, the rows after; `None` when no whole block lies inside.
    fn split(self, rows: Range<usize>) -> Option<(Range<usize>, Range<usize>, Range<usize>)> {
        let complete = self.summary.rows / BLOCK_ROWS;
        let first = (rows.start + self.offset).div_ceil(BLOCK_ROWS);
        let end = ((rows.end + self.offset) / BLOCK_ROWS).min(complete);
        if end <= first {
            return None;
        }
        let (head_end, tail_start) = (
            first * BLOCK_ROWS - self.offset,
            end * BLOCK_ROWS - self.offset,
        );
        Some((rows.start..head_end, first..end, tail_start..rows.end))
    }
}

/// One argument column's blocks in the view.
#[derive(Clone, Copy)]
pub(super) struct ColumnView<'a> {
    view: ViewBlocks<'a>,
    blocks: &'a ColumnBlocks,
}

/// A number whose block zones give exact extremes.
pub(super) trait Bounded: Copy + PartialOrd {
    /// The zone's (min, max) when they are exactly what a scan of the rows finds: never for
    /// a float block holding a NaN (its zone is infinite) or a zero (a scan keeps the first
    /// of 0.0 and -0.0 it meets).
    fn bounds(zone: Zone) -> Option<(Self, Self)>;
}

impl Bounded for i64 {
    fn bounds(zone: Zone) -> Option<(i64, i64)> {
        match zone {
            Zone::Int { min, max } => Some((min, max)),
            Zone::Float { .. } | Zone::Unknown => None,
        }
    }
}

impl Bounded for f64 {
    fn bounds(zone: Zone) -> Option<(f64, f64)> {
        match zone {
            Zone::Float { min, max }
                if min.is_finite() && max.is_finite() && min != 0.0 && max != 0.0 =>
            {
                Some((min, max))
            }
            Zone::Float { .. } | Zone::Int { .. } | Zone::Unknown => None,
        }
    }
}

impl ColumnView<'_> {
    /// The exact sum of `values` over `rows`, with `sum` adding a slice; `None` when no whole
    /// block lies inside or the blocks keep no integer sums.
    pub fn int_sum(
        self,
        rows: Range<usize>,
        values: &[i64],
        sum: impl Fn(&[i64]) -> i128,
    ) -> Option<i128> {
        let BlockSums::Int(sums) = &self.blocks.sums else {
            return None;
        };
        let (head, blocks, tail) = self.view.split(rows)?;
        Some(sum(&values[head]) + sums[blocks].iter().sum::<i128>() + sum(&values[tail]))
    }

    /// The (min, max) of `values` over `rows`, with `min_max` folding a slice; `None` when no
    /// whole block lies inside or a block's zone is not exact.
    pub fn min_max<T: Bounded>(
        self,
        rows: Range<usize>,
        values: &[T],
        min_max: impl Fn(&[T]) -> Option<(T, T)>,
    ) -> Option<Option<(T, T)>> {
        let (head, blocks, tail) = self.view.split(rows)?;
        let mut low_high: Option<(T, T)> = None;
        let mut fold = |(low, high): (T, T)| {
            low_high = Some(match low_high {
                None => (low, high),
                Some((l, h)) => (
                    if low < l { low } else { l },
                    if high > h { high } else { h },
                ),
            });
        };
        // In row order: the first of equal extremes a scan would keep stays kept.
        if let Some(bounds) = min_max(&values[head]) {
            fold(bounds);
        }
        for &zone in &self.blocks.zones[blocks] {
            fold(T::bounds(zone)?);
        }
        if let Some(bounds) = min_max(&values[tail]) {
            fold(bounds);
        }
        Some(low_high)
    }
}
