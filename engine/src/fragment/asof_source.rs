//! Co-located ASOF join on a shard. Tables partitioned by symbol over one ring keep a symbol's
//! partitions of every table on the same shard, each a list of chunks sorted by timestamp, so
//! an ASOF join keyed by symbol needs no data from other shards: per left chunk, the walk
//! (`asof_walk`, resumed where the previous left chunk left it) finds the right row each left
//! row meets, a joined chunk is filled with the left rows the join keeps and the right values
//! they meet (`asof_gather`), and the ordinary scan (filter, partial aggregate or rows) runs
//! over it. It refuses to know SQL: the planner binds every expression over the joined columns
//! (all left table columns, then all right table columns) and decides when the join is
//! co-partitioned.
//!
//! Work the walk makes unnecessary is not done: left chunks that zone maps rule out are
//! skipped, and the left filter is dropped where they show every row passes (`symbol = X` on
//! X's partition); the timestamp bounds of the left and joined filters narrow the left rows
//! walked, those of the right filter the right rows; an inner join copies only the left rows
//! that meet a right row, so it needs no "matched" test; only the columns the scan reads are
//! copied or gathered.

use std::ops::Range;

use super::asof_gather::{copy_segments, gather_segments, Segment};
use super::asof_walk::{partition_times, Matches, RightFilter, RightWalk};
use super::combine::GroupIndex;
use super::exec::{run_fragment_over, FragmentData, FragmentResult, FRAGMENT_ROWS_MAX};
use super::plan::{AggregateFunction, AsofJoin, BinaryOp, Fragment, FragmentOutput, ScalarExpr};
use super::prune::{verdict, PruneContext, Verdict};
use super::window::TimeWindow;
use crate::batch::SymbolKey;
use crate::error::EngineError;
use crate::storage::chunk::{Chunk, ColumnChunk, ColumnData, Zone};
use crate::storage::partition::Partition;
use crate::storage::store::ShardStore;
use crate::storage::table::TableStore;
use crate::types::DataType;

/// Runs `fragment`, whose `asof` is `join`, on `store`.
pub(super) fn run_asof_fragment(
    store: &ShardStore,
    fragment: &Fragment,
    join: &AsofJoin,
) -> Result<FragmentResult, EngineError> {
    let left = store.table(&fragment.table)?;
    let right = store.table(&join.right_table)?;
    let plan = JoinPlan::new(left, right, fragment, join)?;
    let right_filter = RightFilter::new(
        join.right_filter.as_ref(),
        &right.dictionary,
        right.schema.symbol_index,
        right.schema.timestamp_index,
    );
    let partitions: Vec<&Partition> = match &fragment.symbols {
        Some(keys) => keys.iter().filter_map(|k| left.partition(k)).collect(),
        None => left.partitions.iter().collect(),
    };
    // Over no partitions the scan still answers its empty shape (one empty global group).
    let mut total = run_fragment_over(left, &[], &plan.fragments[0])?;
    // Every joined chunk answers its own partial groups; a fragment's answer holds each group
    // once (the coordinator relies on it for groups keyed by symbol), so they are combined.
    let mut group_index = match &total.data {
        FragmentData::Groups(groups) => GroupIndex::of(groups),
        FragmentData::Rows(_) => GroupIndex::default(),
    };
    // One joined chunk, refilled for every left chunk: its vectors keep their capacity, so
    // the join allocates (and faults in) its columns once per query, not once per chunk.
    let mut joined = plan.joined_partition();
    let mut matches = Matches::default();
    let mut segments: Vec<Segment> = Vec::new();
    for partition in partitions {
        let right_chunks = plan.right_chunks(&partition.key);
        if right_chunks.is_empty() && !join.left_outer {
            continue; // no left row of this symbol meets a right row
        }
        let key = &partition.key;
        let mut walk = RightWalk::new(
            right_chunks,
            &right_filter,
            key,
            join.inclusive,
            join.tolerance_ns,
        );
        joined.key = key.clone();
        for chunk in &partition.chunks {
            let Some(rows) = plan.left_rows(chunk, key)? else {
                continue;
            };
            walk.walk(rows.times, &mut matches)?;
            plan.segments(&matches, &mut segments);
            if segments.is_empty() {
                continue;
            }
            let filled = &mut joined.chunks[0];
            plan.fill(
                filled,
                chunk,
                rows.offset,
                right_chunks,
                &matches,
                &segments,
            )?;
            joined.rows_count = filled.rows_count;
            let scan = &plan.fragments[usize::from(rows.filtered)];
            let part = run_fragment_over(left, &[&joined], scan)?;
            if append_result(&mut total, &mut group_index, part, &fragment.output)? {
                return Ok(total);
            }
        }
    }
    Ok(total)
}

/// Adds `part` to `total`; true when a row fragment without ORDER BY has all the rows it needs.
fn append_result(
    total: &mut FragmentResult,
    group_index: &mut GroupIndex,
    part: FragmentResult,
    output: &FragmentOutput,
) -> Result<bool, EngineError> {
    total.rows_read += part.rows_read;
    total.bytes_read += part.bytes_read;
    match (&mut total.data, part.data) {
        (FragmentData::Groups(all), FragmentData::Groups(groups)) => {
            group_index.absorb(all, groups)?;
            Ok(false)
        }
        (FragmentData::Rows(all), FragmentData::Rows(rows)) => {
            all.extend(rows);
            if all.len() > FRAGMENT_ROWS_MAX {
                return Err(EngineError::ResultTooLarge {
                    rows_max: FRAGMENT_ROWS_MAX,
                });
            }
            Ok(match output {
                FragmentOutput::Rows {
                    order_by,
                    limit: Some(limit),
                    ..
                } => order_by.is_empty() && all.len() >= *limit,
                FragmentOutput::Rows { .. } | FragmentOutput::Aggregate { .. } => false,
            })
        }
        (FragmentData::Groups(_), FragmentData::Rows(_))
        | (FragmentData::Rows(_), FragmentData::Groups(_)) => Err(EngineError::Internal {
            detail: "a co-located ASOF join batch answered a different shape".into(),
        }),
    }
}

/// The rows of a left chunk that the join walks.
struct LeftRows<'c> {
    /// Their times.
    times: &'c [i64],
    /// The position of the first one in the chunk.
    offset: usize,
    /// Whether the scan must still apply the left filter to them.
    filtered: bool,
}

/// The join's fixed parts: both tables, how left chunks are narrowed, the scans run over the
/// joined chunks, and the columns those read.
struct JoinPlan<'a> {
    left: &'a TableStore,
    right: &'a TableStore,
    join: &'a AsofJoin,
    /// The filter on left rows alone (over the left table's columns).
    left_filter: Option<&'a ScalarExpr>,
    /// Its bounds on the left timestamp.
    left_window: Option<TimeWindow>,
    /// The joined filter's bounds on the left timestamp: rows outside are dropped either way.
    joined_window: Option<TimeWindow>,
    /// The scans over joined chunks, both with what the joined window leaves of the joined
    /// filter: `[0]` for chunks every row of which passes the left filter, `[1]` with what the
    /// left window leaves of the left filter.
    fragments: [Fragment; 2],
    /// Left columns the scans read (others stay unread in joined chunks).
    left_used: Vec<bool>,
    /// Right columns the scans read.
    right_used: Vec<bool>,
}

impl<'a> JoinPlan<'a> {
    fn new(
        left: &'a TableStore,
        right: &'a TableStore,
        fragment: &'a Fragment,
        join: &'a AsofJoin,
    ) -> Result<JoinPlan<'a>, EngineError> {
        let (left_schema, right_schema) = (&left.schema, &right.schema);
        let left_symbol = left_schema.columns[left_schema.symbol_index].data_type;
        let right_symbol = right_schema.columns[right_schema.symbol_index].data_type;
        if left_symbol != right_symbol {
            return Err(internal(format!(
                "co-located ASOF join of symbol types {left_symbol:?} and {right_symbol:?}"
            )));
        }
        let left_time = left_schema.timestamp_index;
        let left_window = fragment
            .filter
            .as_ref()
            .and_then(|f| TimeWindow::of(f, left_time));
        let joined_window =
            (join.joined_filter.as_ref()).and_then(|f| TimeWindow::of(f, left_time));
        let rest = |window: &Option<TimeWindow>, filter: &Option<ScalarExpr>| match window {
            Some(window) => window.residual.clone(),
            None => filter.clone(),
        };
        let left_rest = rest(&left_window, &fragment.filter);
        let joined_rest = rest(&joined_window, &join.joined_filter);
        let scan = |filter: Option<ScalarExpr>| Fragment {
            table: fragment.table.clone(),
            symbols: None,
            filter,
            output: fragment.output.clone(),
            asof: None,
        };
        let fragments = [
            scan(joined_rest.clone()),
            scan(conjunction(left_rest, joined_rest)),
        ];
        let mut used = vec![false; left_schema.columns.len() + right_schema.columns.len()];
        // The scan's first/last order rows by the left timestamp.
        used[left_time] = orders_by_time(&fragment.output);
        mark_used(&fragments[1], &mut used);
        let right_used = used.split_off(left_schema.columns.len());
        for (index, column) in right_schema.columns.iter().enumerate() {
            if right_used[index] && column.data_type == DataType::Symbol {
                return Err(internal(format!(
                    "co-located ASOF join reads symbol column `{}` of `{}`",
                    column.name, right_schema.name
                )));
            }
        }
        Ok(JoinPlan {
            left,
            right,
            join,
            left_filter: fragment.filter.as_ref(),
            left_window,
            joined_window,
            fragments,
            left_used: used,
            right_used,
        })
    }

    /// The chunks of `key`'s right partition (none when absent or excluded by symbol).
    fn right_chunks(&self, key: &SymbolKey) -> &'a [Chunk] {
        let allowed = self
            .join
            .right_symbols
            .as_ref()
            .is_none_or(|keys| keys.contains(key));
        match self.right.partition(key) {
            Some(partition) if allowed => &partition.chunks,
            _ => &[],
        }
    }

    /// The rows of `chunk` (of `key`'s left partition) that the join walks; `None` when no
    /// row can pass the left and joined filters.
    fn left_rows<'c>(
        &self,
        chunk: &'c Chunk,
        key: &SymbolKey,
    ) -> Result<Option<LeftRows<'c>>, EngineError> {
        let times = partition_times(chunk, self.left.schema.timestamp_index)?;
        let mut rows = 0..times.len();
        let mut filtered = false;
        if let Some(filter) = self.left_filter {
            let prune = PruneContext {
                chunk,
                key,
                symbol_index: self.left.schema.symbol_index,
            };
            match verdict(filter, &prune) {
                Verdict::Skip => return Ok(None),
                Verdict::All => {}
                Verdict::Check => {
                    rows = narrow(rows, self.left_window.as_ref(), times);
                    filtered = true;
                }
            }
        }
        rows = narrow(rows, self.joined_window.as_ref(), times);
        Ok((!rows.is_empty()).then(|| LeftRows {
            times: &times[rows.clone()],
            offset: rows.start,
            filtered,
        }))
    }

    /// Sets `out` to the segments of walked rows the joined chunk holds: all of them for a
    /// LEFT join, those meeting a right row for an inner one.
    fn segments(&self, matches: &Matches, out: &mut Vec<Segment>) {
        out.clear();
        let left_outer = self.join.left_outer;
        out.extend(
            matches
                .runs()
                .filter(|(_, chunk)| left_outer || chunk.is_some()),
        );
    }

    /// A partition holding one joined chunk, with empty vectors for the columns the scans read.
    fn joined_partition(&self) -> Partition {
        let types = (self.left.schema.columns.iter())
            .chain(&self.right.schema.columns)
            .map(|column| column.data_type);
        let used = self.left_used.iter().chain(&self.right_used);
        let columns = types
            .zip(used)
            .enumerate()
            .map(|(index, (data_type, &used))| match used {
                true => ColumnChunk::empty(data_type, index == self.left.schema.symbol_index),
                false => unread(),
            })
            .collect();
        let mut partition = Partition::new(SymbolKey::Int(0));
        partition.chunks.push(Chunk::from_columns(columns, 0));
        partition
    }

    /// Refills `joined` with the rows `segments` of the walked rows of `chunk` (from `offset`):
    /// their left columns, then the right columns at the rows they meet.
    fn fill(
        &self,
        joined: &mut Chunk,
        chunk: &Chunk,
        offset: usize,
        right_chunks: &[Chunk],
        matches: &Matches,
        segments: &[Segment],
    ) -> Result<(), EngineError> {
        // The memo and block summary describe the previous rows: stale for the new ones.
        joined.reopen();
        let (left_columns, right_columns) = joined.columns.split_at_mut(self.left_used.len());
        let left = left_columns.iter_mut().zip(&chunk.columns);
        for ((to, from), _) in left.zip(&self.left_used).filter(|(_, used)| **used) {
            copy_segments(to, from, offset, segments)?;
        }
        let right = right_columns.iter_mut().zip(&self.right_used).enumerate();
        for (index, (to, _)) in right.filter(|(_, (_, used))| **used) {
            gather_segments(to, right_chunks, index, matches.rows(), segments)?;
        }
        joined.rows_count = segments.iter().map(|(rows, _)| rows.len()).sum();
        Ok(())
    }
}

/// `rows` less those whose `times` fall outside `window`.
fn narrow(rows: Range<usize>, window: Option<&TimeWindow>, times: &[i64]) -> Range<usize> {
    let Some(window) = window else {
        return rows;
    };
    let within = window.rows_in(times);
    let start = rows.start.max(within.start);
    start..rows.end.min(within.end).max(start)
}

/// `a AND b` of the filters present.
fn conjunction(a: Option<ScalarExpr>, b: Option<ScalarExpr>) -> Option<ScalarExpr> {
    match (a, b) {
        (Some(a), Some(b)) => Some(ScalarExpr::Binary {
            op: BinaryOp::And,
            left: Box::new(a),
            right: Box::new(b),
        }),
        (a, b) => a.or(b),
    }
}

/// Whether `output` has aggregates that order rows by the timestamp (first, last).
fn orders_by_time(output: &FragmentOutput) -> bool {
    match output {
        FragmentOutput::Aggregate { aggregates, .. } => aggregates.iter().any(|call| {
            matches!(
                call.function,
                AggregateFunction::First | AggregateFunction::Last
            )
        }),
        FragmentOutput::Rows { .. } => false,
    }
}

/// Marks every column the scan of `fragment` reads.
fn mark_used(fragment: &Fragment, used: &mut [bool]) {
    let mut mark = |index: usize| {
        if let Some(slot) = used.get_mut(index) {
            *slot = true;
        }
        Some(ScalarExpr::Column(index))
    };
    if let Some(filter) = &fragment.filter {
        filter.try_map_columns(&mut mark);
    }
    fragment.output.try_map_columns(&mut mark);
}

/// A column the query does not read: no values (never evaluated).
fn unread() -> ColumnChunk {
    ColumnChunk {
        data: ColumnData::PartitionKey,
        nulls: None,
        zone: Zone::Unknown,
    }
}

fn internal(detail: String) -> EngineError {
    EngineError::Internal { detail }
}
