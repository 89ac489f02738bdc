//! Co-located ASOF join on a shard. Tables partitioned by symbol over one ring keep a symbol's
//! partitions of every table on the same shard, each a list of chunks sorted by timestamp, so
//! an ASOF join keyed by symbol needs no data from other shards: per left chunk, a merge walk
//! over the right partition (resumed where the previous left chunk left it) finds each left
//! row's match, the matched right values are gathered into column vectors and appended to the
//! left chunk's columns, and the ordinary scan (filter, partial aggregate or rows) runs over
//! these joined chunks. It refuses to know SQL: the planner binds every expression over the
//! joined columns (all left table columns, then all right table columns) and decides when the
//! join is co-partitioned.

use super::combine::GroupIndex;
use super::eval::{evaluate, selection, EvalContext};
use super::exec::{run_fragment_over, FragmentData, FragmentResult, FRAGMENT_ROWS_MAX};
use super::plan::{AsofJoin, BinaryOp, Fragment, FragmentOutput, ScalarExpr};
use super::prune::{verdict, PruneContext, Verdict};
use crate::batch::SymbolKey;
use crate::error::EngineError;
use crate::storage::chunk::{Chunk, ColumnChunk, ColumnData, Zone, CHUNK_ROWS_MAX};
use crate::storage::column_vec::{ColumnValue, ColumnVec};
use crate::storage::partition::Partition;
use crate::storage::store::ShardStore;
use crate::storage::table::TableStore;

/// The right row a left row met: (chunk index, row index) in the right partition.
type RightRow = Option<(u32, u32)>;

/// Runs `fragment`, whose `asof` is `join`, on `store`.
pub(super) fn run_asof_fragment(
    store: &ShardStore,
    fragment: &Fragment,
    join: &AsofJoin,
) -> Result<FragmentResult, EngineError> {
    let left = store.table(&fragment.table)?;
    let right = store.table(&join.right_table)?;
    let joined = Joined::new(left, right, fragment, join)?;
    let partitions: Vec<&Partition> = match &fragment.symbols {
        Some(keys) => keys.iter().filter_map(|k| left.partition(k)).collect(),
        None => left.partitions.iter().collect(),
    };
    // Over no partitions the scan still answers its empty shape (one empty global group).
    let mut total = run_fragment_over(left, &[], &joined.fragment)?;
    // Every left chunk answers its own partial groups; a fragment's answer holds each group
    // once (the coordinator relies on it for groups keyed by symbol), so they are combined.
    let mut group_index = match &total.data {
        FragmentData::Groups(groups) => GroupIndex::of(groups),
        FragmentData::Rows(_) => GroupIndex::default(),
    };
    // One joined chunk, refilled for every left chunk: its vectors keep their capacity, so
    // the join allocates (and faults in) its columns once per query, not once per chunk.
    let mut scratch = Partition::new(SymbolKey::Int(0));
    scratch.chunks.push(Chunk::from_columns(Vec::new(), 0));
    let mut matches = Vec::with_capacity(CHUNK_ROWS_MAX);
    for partition in partitions {
        let right_chunks = joined.right_chunks(&partition.key);
        let mut walk = RightWalk::new(right_chunks, right, &partition.key, join);
        scratch.key = partition.key.clone();
        for chunk in &partition.chunks {
            if joined.left_skips(chunk, &partition.key) {
                continue;
            }
            walk.matches(chunk, left.schema.timestamp_index, &mut matches)?;
            joined.combine(chunk, right_chunks, &matches, &mut scratch.chunks[0])?;
            scratch.rows_count = chunk.rows_count;
            let part = run_fragment_over(left, &[&scratch], &joined.fragment)?;
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

/// The join's fixed parts: both tables, the columns the query reads, and the fragment the
/// ordinary scan runs over the joined chunks.
struct Joined<'a> {
    left: &'a TableStore,
    right: &'a TableStore,
    join: &'a AsofJoin,
    /// The filter on left rows alone (over the left table's columns).
    left_filter: Option<ScalarExpr>,
    /// Scan over joined chunks: left filter AND joined filter (AND matched, for inner joins).
    fragment: Fragment,
    /// Left columns the query reads (others are left empty in joined chunks).
    left_used: Vec<bool>,
    /// Right columns the query reads.
    right_used: Vec<bool>,
}

impl<'a> Joined<'a> {
    fn new(
        left: &'a TableStore,
        right: &'a TableStore,
        fragment: &Fragment,
        join: &'a AsofJoin,
    ) -> Result<Joined<'a>, EngineError> {
        let (left_schema, right_schema) = (&left.schema, &right.schema);
        let left_width = left_schema.columns.len();
        let left_symbol = left_schema.columns[left_schema.symbol_index].data_type;
        let right_symbol = right_schema.columns[right_schema.symbol_index].data_type;
        if left_symbol != right_symbol {
            return Err(internal(format!(
                "co-located ASOF join of symbol types {left_symbol:?} and {right_symbol:?}"
            )));
        }
        let right_time = ScalarExpr::Column(left_width + right_schema.timestamp_index);
        let matched = (!join.left_outer).then(|| ScalarExpr::IsNull {
            expr: Box::new(right_time),
            negated: true,
        });
        let filter = [&fragment.filter, &join.joined_filter, &matched]
            .into_iter()
            .flatten()
            .cloned()
            .reduce(|a, b| ScalarExpr::Binary {
                op: BinaryOp::And,
                left: Box::new(a),
                right: Box::new(b),
            });
        let left_filter = &fragment.filter;
        let fragment = Fragment {
            table: fragment.table.clone(),
            symbols: None,
            filter,
            output: fragment.output.clone(),
            asof: None,
        };
        let mut used = vec![false; left_width + right_schema.columns.len()];
        used[left_schema.timestamp_index] = true; // first/last order by the left timestamp
        mark_used(&fragment, &mut used);
        let right_used = used.split_off(left_width);
        for (index, column) in right_schema.columns.iter().enumerate() {
            let stored_per_row = index != right_schema.symbol_index
                && column.data_type != crate::types::DataType::Symbol;
            if right_used[index] && !stored_per_row {
                return Err(internal(format!(
                    "co-located ASOF join reads symbol column `{}` of `{}`",
                    column.name, right_schema.name
                )));
            }
        }
        Ok(Joined {
            left,
            right,
            join,
            left_filter: left_filter.clone(),
            fragment,
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

    /// True when zone maps show no row of `chunk` passes the left filter.
    fn left_skips(&self, chunk: &Chunk, key: &SymbolKey) -> bool {
        let Some(filter) = &self.left_filter else {
            return false;
        };
        let prune = PruneContext {
            chunk,
            key,
            symbol_index: self.left.schema.symbol_index,
        };
        matches!(verdict(filter, &prune), Verdict::Skip)
    }

    /// Refills `joined` with `chunk`'s columns, then the right columns gathered at `matches`
    /// (columns the query does not read stay empty).
    fn combine(
        &self,
        chunk: &Chunk,
        right_chunks: &[Chunk],
        matches: &[RightRow],
        joined: &mut Chunk,
    ) -> Result<(), EngineError> {
        debug_assert_eq!(matches.len(), chunk.rows_count);
        let left_width = self.left_used.len();
        joined
            .columns
            .resize_with(left_width + self.right_used.len(), unread);
        // The memo holds states over the previous rows: stale for the new ones.
        joined.memo.clear();
        joined.rows_count = chunk.rows_count;
        let (left_columns, right_columns) = joined.columns.split_at_mut(left_width);
        for ((to, from), used) in left_columns
            .iter_mut()
            .zip(&chunk.columns)
            .zip(&self.left_used)
        {
            if *used {
                copy_column(to, from);
            }
        }
        let right_types = self.right.schema.columns.iter().map(|c| c.data_type);
        let right_used = right_types.zip(&self.right_used).zip(right_columns);
        for (index, ((data_type, used), to)) in right_used.enumerate() {
            if *used {
                gather_column(to, right_chunks, index, data_type, matches)?;
            }
        }
        Ok(())
    }
}

/// Makes `to` a copy of `from`, reusing `to`'s vectors when they have the same type.
fn copy_column(to: &mut ColumnChunk, from: &ColumnChunk) {
    fn refill<T: ColumnValue>(to: &mut ColumnVec<T>, from: &[T]) {
        let to = to.to_mut();
        to.clear();
        to.extend_from_slice(from);
    }
    match (&mut to.data, &from.data) {
        (ColumnData::Int64(a), ColumnData::Int64(b))
        | (ColumnData::Timestamp(a), ColumnData::Timestamp(b)) => refill(a, b),
        (ColumnData::Int32(a), ColumnData::Int32(b)) => refill(a, b),
        (ColumnData::Float64(a), ColumnData::Float64(b)) => refill(a, b),
        (ColumnData::Float32(a), ColumnData::Float32(b)) => refill(a, b),
        (ColumnData::Bool(a), ColumnData::Bool(b)) => refill(a, b),
        (ColumnData::SymbolIds(a), ColumnData::SymbolIds(b)) => refill(a, b),
        (to_data, from_data) => *to_data = from_data.clone(),
    }
    match (&mut to.nulls, &from.nulls) {
        (Some(a), Some(b)) => refill(a, b),
        (to_nulls, from_nulls) => *to_nulls = from_nulls.clone(),
    }
    to.zone = from.zone;
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

/// The merge walk over one right partition, in timestamp order, carried across left chunks.
struct RightWalk<'a> {
    chunks: &'a [Chunk],
    right: &'a TableStore,
    key: &'a SymbolKey,
    join: &'a AsofJoin,
    /// The chunk holding the first right row not yet passed.
    chunk_index: usize,
    /// That row within the chunk.
    row_index: usize,
    /// Which right rows of `chunk_index`'s chunk may match: (chunk index, mask or all).
    eligible: Option<(usize, Option<Vec<bool>>)>,
    /// The last eligible right row passed: (chunk index, row index, time).
    last: Option<(u32, u32, i64)>,
    /// The previous left time; a smaller one restarts the walk.
    time_previous: i64,
}

impl<'a> RightWalk<'a> {
    fn new(
        chunks: &'a [Chunk],
        right: &'a TableStore,
        key: &'a SymbolKey,
        join: &'a AsofJoin,
    ) -> RightWalk<'a> {
        RightWalk {
            chunks,
            right,
            key,
            join,
            chunk_index: 0,
            row_index: 0,
            eligible: None,
            last: None,
            time_previous: i64::MIN,
        }
    }

    /// Sets `out` to the right row each row of the left `chunk` meets, if any.
    fn matches(
        &mut self,
        chunk: &Chunk,
        timestamp_index: usize,
        out: &mut Vec<RightRow>,
    ) -> Result<(), EngineError> {
        let times = chunk.timestamps(timestamp_index);
        let nulls = chunk.columns[timestamp_index].nulls.as_deref();
        debug_assert_eq!(times.len(), chunk.rows_count);
        out.clear();
        for (row, &time) in times.iter().enumerate() {
            if nulls.is_some_and(|n| n[row]) {
                out.push(None); // a NULL time never matches
                continue;
            }
            if time < self.time_previous {
                // Partitions are sorted, so this is a safety net, not a path taken.
                self.chunk_index = 0;
                self.row_index = 0;
                self.last = None;
            }
            self.time_previous = time;
            self.advance_to(time)?;
            let tolerance = self.join.tolerance_ns;
            out.push(
                self.last
                    .filter(|&(_, _, right_time)| {
                        tolerance.is_none_or(|tolerance| {
                            i128::from(time) - i128::from(right_time) <= i128::from(tolerance)
                        })
                    })
                    .map(|(chunk, row, _)| (chunk, row)),
            );
        }
        Ok(())
    }

    /// Passes every right row whose time is at (or, when not inclusive, before) `time`,
    /// remembering the last eligible one.
    fn advance_to(&mut self, time: i64) -> Result<(), EngineError> {
        let timestamp_index = self.right.schema.timestamp_index;
        // One comparison in the hot loop: `t < time` is `t <= time - 1` (nothing is below MIN).
        let bound = if self.join.inclusive {
            time
        } else {
            match time.checked_sub(1) {
                Some(bound) => bound,
                None => return Ok(()),
            }
        };
        while let Some(chunk) = self.chunks.get(self.chunk_index) {
            let times = chunk.timestamps(timestamp_index);
            let start = self.row_index;
            let passed = times[start..].iter().take_while(|&&t| t <= bound).count();
            let end = start + passed;
            if passed > 0 {
                let mask = self.eligibility()?;
                let last = match mask {
                    None => Some(end - 1),
                    Some(mask) => (start..end).rev().find(|&row| mask[row]),
                };
                if let Some(row) = last {
                    self.last = Some((self.chunk_index as u32, row as u32, times[row]));
                }
            }
            self.row_index = end;
            if end < times.len() {
                break;
            }
            self.chunk_index += 1;
            self.row_index = 0;
        }
        Ok(())
    }

    /// Which rows of the current right chunk may match (`None`: all): the right filter holds
    /// and the time is not NULL.
    fn eligibility(&mut self) -> Result<Option<&[bool]>, EngineError> {
        let index = self.chunk_index;
        if self.eligible.as_ref().is_none_or(|(at, _)| *at != index) {
            let mask = self.eligibility_of(&self.chunks[index])?;
            self.eligible = Some((index, mask));
        }
        Ok(self.eligible.as_ref().and_then(|(_, mask)| mask.as_deref()))
    }

    fn eligibility_of(&self, chunk: &Chunk) -> Result<Option<Vec<bool>>, EngineError> {
        let rows = chunk.rows_count;
        let mut mask = match &self.join.right_filter {
            None => None,
            Some(filter) => {
                let prune = PruneContext {
                    chunk,
                    key: self.key,
                    symbol_index: self.right.schema.symbol_index,
                };
                match verdict(filter, &prune) {
                    Verdict::Skip => Some(vec![false; rows]),
                    Verdict::All => None,
                    Verdict::Check => {
                        let ctx = EvalContext::whole(chunk, self.key, &self.right.dictionary);
                        selection(evaluate(filter, &ctx)?, rows)
                    }
                }
            }
        };
        let timestamp_index = self.right.schema.timestamp_index;
        if let Some(nulls) = chunk.columns[timestamp_index].nulls.as_deref() {
            let keep = mask.get_or_insert_with(|| vec![true; rows]);
            for (keep, &null) in keep.iter_mut().zip(nulls) {
                *keep &= !null;
            }
        }
        Ok(mask)
    }
}

/// Values that a right column gathers by row.
trait Gather: ColumnValue + Default {
    /// The values of `data` when it holds this type.
    fn values(data: &ColumnData) -> Option<&[Self]>;
}

impl Gather for i64 {
    fn values(data: &ColumnData) -> Option<&[i64]> {
        match data {
            ColumnData::Int64(v) | ColumnData::Timestamp(v) => Some(v),
            _ => None,
        }
    }
}

impl Gather for i32 {
    fn values(data: &ColumnData) -> Option<&[i32]> {
        match data {
            ColumnData::Int32(v) => Some(v),
            _ => None,
        }
    }
}

impl Gather for f64 {
    fn values(data: &ColumnData) -> Option<&[f64]> {
        match data {
            ColumnData::Float64(v) => Some(v),
            _ => None,
        }
    }
}

impl Gather for f32 {
    fn values(data: &ColumnData) -> Option<&[f32]> {
        match data {
            ColumnData::Float32(v) => Some(v),
            _ => None,
        }
    }
}

impl Gather for bool {
    fn values(data: &ColumnData) -> Option<&[bool]> {
        match data {
            ColumnData::Bool(v) => Some(v),
            _ => None,
        }
    }
}

/// Sets `to` to right column `column` at `matches` (NULL where a left row met no right row).
fn gather_column(
    to: &mut ColumnChunk,
    chunks: &[Chunk],
    column: usize,
    data_type: crate::types::DataType,
    matches: &[RightRow],
) -> Result<(), EngineError> {
    if matches!(to.data, ColumnData::PartitionKey) {
        *to = ColumnChunk::empty(data_type, false);
    }
    match &mut to.data {
        ColumnData::Int64(v) | ColumnData::Timestamp(v) => gather(v, chunks, column, matches)?,
        ColumnData::Int32(v) => gather(v, chunks, column, matches)?,
        ColumnData::Float64(v) => gather(v, chunks, column, matches)?,
        ColumnData::Float32(v) => gather(v, chunks, column, matches)?,
        ColumnData::Bool(v) => gather(v, chunks, column, matches)?,
        ColumnData::SymbolIds(_) | ColumnData::PartitionKey => {
            return Err(internal(format!(
                "co-located ASOF join gathers symbol column {column}"
            )))
        }
    }
    to.nulls = gather_nulls(chunks, column, matches).map(ColumnVec::from);
    Ok(())
}

fn gather<T: Gather>(
    to: &mut ColumnVec<T>,
    chunks: &[Chunk],
    column: usize,
    matches: &[RightRow],
) -> Result<(), EngineError> {
    let slices = chunks
        .iter()
        .map(|c| T::values(&c.columns[column].data))
        .collect::<Option<Vec<&[T]>>>()
        .ok_or_else(|| internal(format!("right column {column} differs between chunks")))?;
    let to = to.to_mut();
    to.clear();
    to.extend(matches.iter().map(|m| match *m {
        Some((chunk, row)) => slices[chunk as usize][row as usize],
        None => T::default(),
    }));
    Ok(())
}

fn gather_nulls(chunks: &[Chunk], column: usize, matches: &[RightRow]) -> Option<Vec<bool>> {
    let masks: Vec<Option<&[bool]>> = chunks
        .iter()
        .map(|c| c.columns[column].nulls.as_deref())
        .collect();
    if masks.iter().all(Option::is_none) && matches.iter().all(Option::is_some) {
        return None;
    }
    Some(
        matches
            .iter()
            .map(|m| match *m {
                Some((chunk, row)) => masks[chunk as usize].is_some_and(|n| n[row as usize]),
                None => true,
            })
            .collect(),
    )
}

fn internal(detail: String) -> EngineError {
    EngineError::Internal { detail }
}
