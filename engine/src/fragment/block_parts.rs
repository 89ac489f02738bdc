//! Judging a chunk block by block (see `storage::blocks`): the row ranges a filter may keep,
//! and the states of aggregates over blocks it accepts whole, taken from the blocks' sums.

use std::ops::Range;

use super::aggregate::{AggState, Sum};
use super::plan::{AggregateCall, AggregateFunction, BinaryOp, ScalarExpr};
use super::prune::{combine, verdict, PruneContext, Verdict, ZoneJudge};
use crate::storage::blocks::{BlockSummary, BlockSums, BLOCK_ROWS};
use crate::storage::chunk::Zone;

/// Consecutive rows of a chunk with one verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Every row passes the filter; whole summarized blocks.
    All(Range<usize>),
    /// The filter must be evaluated on these rows.
    Check(Range<usize>),
}

/// The parts of `rows` of the chunk of `chunk_ctx` that `filter` may keep, judged by
/// `summary` block by block, in row order: the blocks that overlap `rows` (a part may reach
/// past them to its block's edge), then the rows after the summarized ones, checked. Adjacent
/// blocks with the same verdict form one part.
pub fn parts(
    filter: &ScalarExpr,
    chunk_ctx: &PruneContext<'_>,
    summary: &BlockSummary,
    rows: Range<usize>,
) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::new();
    let mut push = |all: bool, rows: Range<usize>| match (parts.last_mut(), all) {
        (Some(Part::All(last)), true) | (Some(Part::Check(last)), false)
            if last.end == rows.start =>
        {
            last.end = rows.end
        }
        _ => parts.push(if all {
            Part::All(rows)
        } else {
            Part::Check(rows)
        }),
    };
    let end = rows.end.div_ceil(BLOCK_ROWS).min(summary.blocks());
    let blocks = (rows.start / BLOCK_ROWS).min(end)..end;
    let judged = block_verdicts(filter, chunk_ctx, summary, blocks.clone());
    for (block, judged) in blocks.zip(judged) {
        let rows = summary.block_rows(block);
        match judged {
            Verdict::Skip => {}
            Verdict::All => push(true, rows),
            Verdict::Check => push(false, rows),
        }
    }
    let tail = summary.rows.max(rows.start)..rows.end;
    if !tail.is_empty() {
        push(false, tail);
    }
    parts
}

/// The verdict of `filter` on each of the summarized `blocks`. A comparison of a summarized
/// column with a literal is judged by each block's zone in one loop; AND and OR combine their
/// sides; anything else takes its verdict on the whole chunk, which bounds every block.
fn block_verdicts(
    filter: &ScalarExpr,
    chunk_ctx: &PruneContext<'_>,
    summary: &BlockSummary,
    blocks: Range<usize>,
) -> Vec<Verdict> {
    let by_zones = |op: BinaryOp, column: &ScalarExpr, literal: &ScalarExpr| {
        let (ScalarExpr::Column(index), ScalarExpr::Literal(value)) = (column, literal) else {
            return None;
        };
        let column = summary
            .column(*index)
            .filter(|_| *index != chunk_ctx.symbol_index)?;
        let judge = ZoneJudge::new(op, value);
        let judge = |&zone: &Zone| judge.verdict(zone, false);
        Some(column.zones[blocks.clone()].iter().map(judge).collect())
    };
    let judged = match filter {
        ScalarExpr::Binary {
            op: op @ (BinaryOp::And | BinaryOp::Or),
            left,
            right,
        } => {
            let left = block_verdicts(left, chunk_ctx, summary, blocks.clone());
            let right = block_verdicts(right, chunk_ctx, summary, blocks.clone());
            let both = left.into_iter().zip(right);
            Some(both.map(|(a, b)| combine(*op, a, b)).collect())
        }
        ScalarExpr::Binary { op, left, right } if op.is_comparison() => {
            by_zones(*op, left, right).or_else(|| by_zones(op.flipped(), right, left))
        }
        _ => None,
    };
    judged.unwrap_or_else(|| vec![verdict(filter, chunk_ctx); blocks.len()])
}

/// The state of `call` over the whole summarized blocks `rows`, from their sums; `None` when
/// the sums cannot give it (the rows must then be read).
pub fn summed_state(
    call: &AggregateCall,
    summary: &BlockSummary,
    rows: Range<usize>,
) -> Option<AggState> {
    let count = rows.len() as u64;
    let column = match call.args.as_slice() {
        [] => None,
        [ScalarExpr::Column(index)] => Some(summary.column(*index)?),
        _ => return None,
    };
    let sum = || {
        let blocks = rows.start / BLOCK_ROWS..rows.end.div_ceil(BLOCK_ROWS);
        match &column?.sums {
            BlockSums::Int(sums) => Some(Sum::Int(sums[blocks].iter().sum())),
            BlockSums::Float(sums) => Some(Sum::Float(sums[blocks].iter().sum())),
            BlockSums::None => None,
        }
    };
    // A summarized column has no NULLs: count(column) counts every row.
    match call.function {
        AggregateFunction::Count => Some(AggState::Count(count)),
        AggregateFunction::Sum => Some(AggState::Sum(sum()?)),
        AggregateFunction::Avg => Some(AggState::Avg(sum()?, count)),
        _ => None,
    }
}
