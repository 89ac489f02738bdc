//! Runs a `Fragment` against a shard's store: choose partitions (by symbol), prune chunks by
//! zone maps, filter, then build partial aggregates per group or collect rows.
//!
//! Groups that cannot span partitions (keyed by the symbol, or one partition scanned) are built
//! a partition at a time: by timestamp runs when the keys allow it (`runs`), else by key runs
//! found in each chunk and a hash of the keys. Whole chunks of partition-constant groups merge
//! their memoized states. A fragment with a second aggregate (`Reaggregate`) finishes each
//! partition's groups into columns and aggregates those, returning only the second
//! aggregate's states.

use std::ops::Range;

use ahash::AHashMap;

use super::aggregate::{AggState, KeyPart, UpdateRows};
use super::block_parts::{parts, summed_state, Part};
use super::checked_sums::CheckedSums;
use super::eval::{evaluate, selection, EvalContext};
use super::plan::{
    AggregateCall, AggregateFunction, Fragment, FragmentOutput, Reaggregate, ScalarExpr, SortKey,
};
use super::prune::{verdict, PruneContext, Verdict};
use super::run_blocks::ViewBlocks;
use super::runs::{RunGroups, RunPlan};
use super::vector::Column;
use super::window::TimeWindow;
use crate::error::EngineError;
use crate::storage::blocks::BLOCK_ROWS;
use crate::storage::chunk::Chunk;
use crate::storage::partition::Partition;
use crate::storage::store::ShardStore;
use crate::storage::table::TableStore;
use crate::types::Value;

/// Fewest rows of a chunk judged block by block: fewer cost less to read than to judge.
const BLOCKS_ROWS_MIN: usize = 4 * BLOCK_ROWS;

/// Parts to check that `aggregate_blocks` asks the caches for ahead of the one it reads: the
/// straddling blocks of a chunk lie apart, so the hardware prefetcher does not foresee them.
const PREFETCH_PARTS: usize = 2;

/// Most rows one fragment may return; more is `EngineError::ResultTooLarge`.
pub const FRAGMENT_ROWS_MAX: usize = 1 << 24;

/// One group's key and partial states.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// Values of the GROUP BY expressions.
    pub key: Vec<Value>,
    /// One state per aggregate.
    pub states: Vec<AggState>,
}

/// What a fragment produced.
#[derive(Clone, Debug, PartialEq)]
pub enum FragmentData {
    /// Partial aggregates.
    Groups(Vec<Group>),
    /// Rows: projected columns then sort-key values.
    Rows(Vec<Vec<Value>>),
}

/// A fragment's result plus scan statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct FragmentResult {
    /// The data.
    pub data: FragmentData,
    /// Rows in chunks that were scanned (not pruned).
    pub rows_read: u64,
    /// Bytes of those rows' column data.
    pub bytes_read: u64,
}

/// Runs `fragment` on `store`.
pub fn run_fragment(
    store: &ShardStore,
    fragment: &Fragment,
) -> Result<FragmentResult, EngineError> {
    debug_assert!(store.is_settled(), "a fragment over unsettled late rows");
    if let Some(join) = &fragment.asof {
        if matches!(
            &fragment.output,
            FragmentOutput::Aggregate {
                reaggregate: Some(_),
                ..
            }
        ) {
            return Err(EngineError::Internal {
                detail: "a second aggregate over a co-located ASOF join".into(),
            });
        }
        return super::asof_source::run_asof_fragment(store, fragment, join);
    }
    let table = store.table(&fragment.table)?;
    let partitions: Vec<&Partition> = match &fragment.symbols {
        Some(keys) => keys.iter().filter_map(|k| table.partition(k)).collect(),
        None => table.partitions.iter().collect(),
    };
    run_fragment_over(table, &partitions, fragment)
}

/// Runs `fragment` over `partitions` of `table` (partitions already chosen).
pub(super) fn run_fragment_over(
    table: &TableStore,
    partitions: &[&Partition],
    fragment: &Fragment,
) -> Result<FragmentResult, EngineError> {
    let window = fragment
        .filter
        .as_ref()
        .and_then(|f| TimeWindow::of(f, table.schema.timestamp_index));
    let mut scan = Scan {
        table,
        fragment,
        window: window.as_ref(),
        read: ReadStats::default(),
    };
    let data = match &fragment.output {
        FragmentOutput::Aggregate {
            group_by,
            aggregates,
            reaggregate,
        } => FragmentData::Groups(match reaggregate {
            None => scan.aggregate(partitions, group_by, aggregates)?,
            Some(second) => scan.reaggregate(partitions, group_by, aggregates, second)?,
        }),
        FragmentOutput::Rows {
            columns,
            order_by,
            limit,
        } => FragmentData::Rows(scan.rows(partitions, columns, order_by, *limit)?),
    };
    Ok(FragmentResult {
        data,
        rows_read: scan.read.rows,
        bytes_read: scan.read.bytes,
    })
}

struct Scan<'a> {
    table: &'a TableStore,
    fragment: &'a Fragment,
    /// The filter's bounds on the designated timestamp, searched per chunk.
    window: Option<&'a TimeWindow>,
    read: ReadStats,
}

/// Rows and bytes of column data scanned (not pruned).
#[derive(Clone, Default)]
struct ReadStats {
    rows: u64,
    bytes: u64,
}

impl ReadStats {
    /// Counts `rows` rows of `chunk` as read.
    fn add(&mut self, chunk: &Chunk, rows: usize) {
        let row_size: usize = chunk.columns.iter().map(|c| c.value_size()).sum();
        self.rows += rows as u64;
        self.bytes += (rows * row_size) as u64;
    }
}

/// A chunk that survived pruning, with the rows its filter keeps.
struct Filtered<'a> {
    ctx: EvalContext<'a>,
    keep: Option<Vec<bool>>,
}

/// A chunk after pruning and its time window, before its filter runs.
enum Narrowed<'a> {
    /// No row can pass.
    Skip,
    /// The rows in view of `ctx` pass when `check` keeps them (every one when `None`);
    /// `judged` tells that the chunk's zones could not decide the filter.
    Rows {
        ctx: EvalContext<'a>,
        check: Option<&'a ScalarExpr>,
        judged: bool,
    },
}

impl<'a> Scan<'a> {
    /// Prunes and filters one chunk; `None` when no row can pass.
    fn filter_chunk(
        &mut self,
        partition: &'a Partition,
        chunk: &'a Chunk,
    ) -> Result<Option<Filtered<'a>>, EngineError> {
        match self.narrow_chunk(partition, chunk) {
            Narrowed::Skip => Ok(None),
            Narrowed::Rows { ctx, check, .. } => self.filter_rows(chunk, ctx, check),
        }
    }

    /// Prunes one chunk by its zones, then narrows it to the filter's time window.
    fn narrow_chunk(&self, partition: &'a Partition, chunk: &'a Chunk) -> Narrowed<'a> {
        let ctx = EvalContext::whole(chunk, &partition.key, &self.table.dictionary);
        let Some(filter) = self.fragment.filter.as_ref() else {
            return Narrowed::Rows {
                ctx,
                check: None,
                judged: false,
            };
        };
        let prune = self.prune_context(partition, chunk);
        match verdict(filter, &prune) {
            Verdict::Skip => Narrowed::Skip,
            Verdict::All => Narrowed::Rows {
                ctx,
                check: None,
                judged: false,
            },
            Verdict::Check => {
                let ts_index = self.table.schema.timestamp_index;
                let (ctx, check) = match self.window {
                    Some(window) => match window.rows_of(chunk, ts_index) {
                        Some(rows) => (
                            EvalContext {
                                window: rows,
                                ..ctx
                            },
                            window.residual.as_ref(),
                        ),
                        None => (ctx, Some(filter)),
                    },
                    None => (ctx, Some(filter)),
                };
                if ctx.rows() == 0 {
                    return Narrowed::Skip;
                }
                Narrowed::Rows {
                    ctx,
                    check,
                    judged: true,
                }
            }
        }
    }

    /// What zone pruning sees of `chunk`.
    fn prune_context(&self, partition: &'a Partition, chunk: &'a Chunk) -> PruneContext<'a> {
        PruneContext {
            chunk,
            key: &partition.key,
            symbol_index: self.table.schema.symbol_index,
        }
    }

    /// Evaluates `check` over the rows in view of `ctx`; `None` when it keeps none.
    fn filter_rows(
        &mut self,
        chunk: &'a Chunk,
        ctx: EvalContext<'a>,
        check: Option<&ScalarExpr>,
    ) -> Result<Option<Filtered<'a>>, EngineError> {
        self.read.add(chunk, ctx.rows());
        let keep = match check {
            Some(check) => selection(evaluate(check, &ctx)?, ctx.rows()),
            None => None,
        };
        if keep.as_ref().is_some_and(|k| !k.contains(&true)) {
            return Ok(None);
        }
        Ok(Some(Filtered { ctx, keep }))
    }

    /// Partial states per group of `group_by` over the partitions' rows.
    fn aggregate(
        &mut self,
        partitions: &[&'a Partition],
        group_by: &[ScalarExpr],
        aggregates: &[AggregateCall],
    ) -> Result<Vec<Group>, EngineError> {
        let mut groups = GroupTable::new(aggregates);
        if group_by.is_empty() {
            groups.slot(Vec::new());
        }
        let keyed_by_symbol = self.keyed_by_symbol(group_by);
        let plan = self
            .run_plan(group_by, aggregates)
            .filter(|_| keyed_by_symbol || partitions.len() <= 1);
        let mut runs = plan.as_ref().map(RunGroups::new);
        for partition in partitions {
            if keyed_by_symbol {
                // No later partition can hold these groups: keep the index small.
                groups.forget_keys();
            }
            if let Some(found) = &mut runs {
                if let Some(constants) =
                    self.partition_runs(partition, found, group_by, aggregates)?
                {
                    groups.append(found.partial_groups(&constants)?);
                    continue;
                }
            }
            self.aggregate_partition(partition, group_by, aggregates, &mut groups)?;
        }
        Ok(groups.finish())
    }

    /// The second aggregate's partial states over every partition's finished groups.
    fn reaggregate(
        &mut self,
        partitions: &[&'a Partition],
        group_by: &[ScalarExpr],
        aggregates: &[AggregateCall],
        second: &Reaggregate,
    ) -> Result<Vec<Group>, EngineError> {
        let internal = |detail: &str| EngineError::Internal {
            detail: format!("second aggregate {detail}"),
        };
        if !self.keyed_by_symbol(group_by) {
            return Err(internal("over groups not keyed by the symbol"));
        }
        let ordered = |call: &AggregateCall| {
            matches!(
                call.function,
                AggregateFunction::First | AggregateFunction::Last
            )
        };
        if second.aggregates.iter().any(ordered) {
            return Err(internal(
                "with first/last: finished groups have no time order",
            ));
        }
        let plan = self.run_plan(group_by, aggregates);
        let mut runs = plan.as_ref().map(RunGroups::new);
        let mut groups = GroupTable::new(&second.aggregates);
        if second.group_by.is_empty() {
            groups.slot(Vec::new());
        }
        for partition in partitions {
            let Some((columns, rows)) =
                self.finished_groups(partition, runs.as_mut(), group_by, aggregates)?
            else {
                continue;
            };
            let ctx =
                EvalContext::over_columns(&columns, rows, &partition.key, &self.table.dictionary);
            let keep = match &second.filter {
                Some(filter) => selection(evaluate(filter, &ctx)?, rows),
                None => None,
            };
            if keep.as_ref().is_some_and(|k| !k.contains(&true)) {
                continue;
            }
            self.aggregate_rows(
                &ctx,
                keep.as_deref(),
                &second.group_by,
                &second.aggregates,
                &mut groups,
            )?;
        }
        Ok(groups.finish())
    }

    /// The finished groups of one partition as columns (keys, then aggregate values) and
    /// their number; `None` when it has none.
    fn finished_groups(
        &mut self,
        partition: &'a Partition,
        runs: Option<&mut RunGroups<'_>>,
        group_by: &[ScalarExpr],
        aggregates: &[AggregateCall],
    ) -> Result<Option<(Vec<Column<'static>>, usize)>, EngineError> {
        if let Some(found) = runs {
            if let Some(constants) = self.partition_runs(partition, found, group_by, aggregates)? {
                let rows = found.groups_count();
                return Ok((rows > 0)
                    .then(|| found.finish(&constants))
                    .transpose()?
                    .map(|columns| (columns, rows)));
            }
        }
        let mut table = GroupTable::new(aggregates);
        self.aggregate_partition(partition, group_by, aggregates, &mut table)?;
        let groups = table.finish();
        if groups.is_empty() {
            return Ok(None);
        }
        let unfit = || EngineError::Internal {
            detail: "finished groups of mixed kinds".into(),
        };
        let mut columns = Vec::with_capacity(group_by.len() + aggregates.len());
        for index in 0..group_by.len() {
            let keys: Vec<Value> = groups.iter().map(|g| g.key[index].clone()).collect();
            columns.push(Column::from_values(&keys).ok_or_else(unfit)?);
        }
        for (index, call) in aggregates.iter().enumerate() {
            let values = groups
                .iter()
                .map(|g| g.states[index].finish(call.function))
                .collect::<Result<Vec<Value>, _>>()?;
            columns.push(Column::from_values(&values).ok_or_else(unfit)?);
        }
        Ok(Some((columns, groups.len())))
    }

    /// Finds the partition's groups as timestamp runs into `found`, giving the values of the
    /// keys other than the bucket; `None` when a chunk's arguments are not what run states
    /// take (its rows are then counted as unread: the caller aggregates the partition the
    /// general way).
    fn partition_runs(
        &mut self,
        partition: &'a Partition,
        found: &mut RunGroups<'_>,
        group_by: &[ScalarExpr],
        aggregates: &[AggregateCall],
    ) -> Result<Option<Vec<Value>>, EngineError> {
        let read_before = self.read.clone();
        let ts_index = self.table.schema.timestamp_index;
        found.reset();
        let mut constants: Option<Vec<Value>> = None;
        for chunk in &partition.chunks {
            let Some(filtered) = self.filter_chunk(partition, chunk)? else {
                continue;
            };
            let ctx = &filtered.ctx;
            if constants.is_none() {
                constants = Some(self.constant_keys(group_by, ctx)?);
            }
            let timestamps = ctx.timestamps(ts_index);
            let sorted = timestamps.len() == ctx.rows()
                && chunk
                    .columns
                    .get(ts_index)
                    .is_some_and(|c| c.nulls.is_none());
            let args = evaluate_args(aggregates, ctx)?;
            // Whole blocks inside a run count from their summaries when every row is kept.
            let summary = filtered.keep.is_none().then(|| chunk.block_summary());
            let blocks = summary.as_deref().map(|summary| ViewBlocks {
                summary,
                offset: ctx.window.start,
            });
            if !sorted || !found.add(timestamps, &args, filtered.keep.as_deref(), blocks)? {
                self.read = read_before;
                return Ok(None);
            }
        }
        Ok(Some(constants.unwrap_or_default()))
    }

    /// Adds one partition's rows to `groups`.
    fn aggregate_partition(
        &mut self,
        partition: &'a Partition,
        group_by: &[ScalarExpr],
        aggregates: &[AggregateCall],
        groups: &mut GroupTable<'_>,
    ) -> Result<(), EngineError> {
        let symbol_index = self.table.schema.symbol_index;
        let constant_keys = group_by.iter().all(|e| e.reads_only(symbol_index));
        let mut slot = None;
        for chunk in &partition.chunks {
            let Narrowed::Rows { ctx, check, judged } = self.narrow_chunk(partition, chunk) else {
                continue;
            };
            if judged && constant_keys && ctx.rows() >= BLOCKS_ROWS_MIN {
                self.aggregate_blocks(partition, ctx, check, group_by, aggregates, groups)?;
                continue;
            }
            // Too few rows to judge block by block: the kernels still compare and add them
            // without a mask when they can.
            let kernels = check
                .filter(|_| constant_keys)
                .and_then(|check| CheckedSums::new(aggregates, check, &chunk.columns));
            if let Some(kernels) = kernels {
                self.read.add(chunk, ctx.rows());
                if let Some(states) = kernels.states(ctx.window.clone()) {
                    self.merge_constant_states(&mut slot, group_by, &ctx, groups, states)?;
                }
                continue;
            }
            let Some(filtered) = self.filter_rows(chunk, ctx, check)? else {
                continue;
            };
            let whole_chunk =
                filtered.keep.is_none() && filtered.ctx.window == (0..chunk.rows_count);
            if whole_chunk && constant_keys {
                let key = self
                    .constant_keys(group_by, &filtered.ctx)?
                    .iter()
                    .map(KeyPart::from_value)
                    .collect();
                let slot = groups.slot(key);
                self.merge_memoized(&filtered.ctx, aggregates, groups, slot)?;
                continue;
            }
            self.aggregate_rows(
                &filtered.ctx,
                filtered.keep.as_deref(),
                group_by,
                aggregates,
                groups,
            )?;
        }
        Ok(())
    }

    /// Adds the rows in view of `ctx`, a chunk its zones cannot judge, that `check` keeps to
    /// the one group of `group_by`'s partition-constant keys, judging the filter block by
    /// block (`block_parts`): blocks it rejects are not read, blocks it accepts give their
    /// sums when the aggregates allow, the others are filtered.
    fn aggregate_blocks(
        &mut self,
        partition: &'a Partition,
        ctx: EvalContext<'a>,
        check: Option<&'a ScalarExpr>,
        group_by: &[ScalarExpr],
        aggregates: &[AggregateCall],
        groups: &mut GroupTable<'_>,
    ) -> Result<(), EngineError> {
        let (Some(filter), Some(chunk)) = (&self.fragment.filter, ctx.chunk()) else {
            return Err(EngineError::Internal {
                detail: "block by block over rows that are not a filtered chunk".into(),
            });
        };
        let summary = chunk.block_summary();
        let inside = ctx.window.clone();
        let view = |rows| EvalContext {
            window: rows,
            ..ctx
        };
        let mut slot = None;
        let prune = self.prune_context(partition, chunk);
        let kernels = check.and_then(|check| CheckedSums::new(aggregates, check, &chunk.columns));
        let parts = parts(filter, &prune, &summary, inside.clone());
        let clipped = |rows: &Range<usize>| rows.start.max(inside.start)..rows.end.min(inside.end);
        let mut checks_ahead = parts.iter().filter_map(|part| match part {
            Part::Check(rows) => Some(clipped(rows)),
            Part::All(_) => None,
        });
        if let Some(kernels) = &kernels {
            checks_ahead
                .by_ref()
                .take(PREFETCH_PARTS)
                .for_each(|rows| kernels.prefetch(rows));
        }
        for part in parts.iter().cloned() {
            match part {
                Part::Check(rows) => {
                    let rows = clipped(&rows);
                    if let Some(kernels) = &kernels {
                        if let Some(ahead) = checks_ahead.next() {
                            kernels.prefetch(ahead);
                        }
                    }
                    if rows.is_empty() {
                        continue;
                    }
                    if let Some(kernels) = &kernels {
                        self.read.add(chunk, rows.len());
                        if let Some(states) = kernels.states(rows.clone()) {
                            let ctx = view(rows);
                            self.merge_constant_states(&mut slot, group_by, &ctx, groups, states)?;
                        }
                        continue;
                    }
                    if let Some(f) = self.filter_rows(chunk, view(rows), check)? {
                        self.aggregate_rows(
                            &f.ctx,
                            f.keep.as_deref(),
                            group_by,
                            aggregates,
                            groups,
                        )?;
                    }
                }
                Part::All(rows) => {
                    let summed: Option<Vec<AggState>> = aggregates
                        .iter()
                        .map(|call| summed_state(call, &summary, rows.clone()))
                        .collect();
                    let Some(states) = summed else {
                        let ctx = view(rows);
                        self.read.add(chunk, ctx.rows());
                        self.aggregate_rows(&ctx, None, group_by, aggregates, groups)?;
                        continue;
                    };
                    self.merge_constant_states(&mut slot, group_by, &view(rows), groups, states)?;
                }
            }
        }
        Ok(())
    }

    /// Merges `states`, one per aggregate, into the group of `group_by`'s partition-constant
    /// keys (its slot looked up once, see `constant_slot`).
    fn merge_constant_states(
        &self,
        found: &mut Option<usize>,
        group_by: &[ScalarExpr],
        ctx: &EvalContext<'_>,
        groups: &mut GroupTable<'_>,
        states: Vec<AggState>,
    ) -> Result<(), EngineError> {
        let slot = self.constant_slot(found, group_by, ctx, groups)?;
        for (index, state) in states.into_iter().enumerate() {
            groups.merge_state(slot, index, state)?;
        }
        Ok(())
    }

    /// The group slot of `group_by`'s partition-constant keys, looked up from the rows of
    /// `ctx` once and kept in `found`.
    fn constant_slot(
        &self,
        found: &mut Option<usize>,
        group_by: &[ScalarExpr],
        ctx: &EvalContext<'_>,
        groups: &mut GroupTable<'_>,
    ) -> Result<usize, EngineError> {
        if let Some(slot) = *found {
            return Ok(slot);
        }
        let key = self
            .constant_keys(group_by, ctx)?
            .iter()
            .map(KeyPart::from_value)
            .collect();
        Ok(*found.insert(groups.slot(key)))
    }

    /// Adds the rows in view of `ctx` that `keep` keeps (all when `None`) to their groups:
    /// runs of equal keys, one group lookup per run.
    fn aggregate_rows(
        &self,
        ctx: &EvalContext<'_>,
        keep: Option<&[bool]>,
        group_by: &[ScalarExpr],
        aggregates: &[AggregateCall],
        groups: &mut GroupTable<'_>,
    ) -> Result<(), EngineError> {
        let args = evaluate_args(aggregates, ctx)?;
        let dictionary = self.table.dictionary_names();
        let rows = |range| UpdateRows {
            range,
            timestamps: ctx.timestamps(self.table.schema.timestamp_index),
            keep,
            symbol_name: &dictionary,
        };
        if group_by.is_empty() {
            return groups.update(0, &args, &rows(0..ctx.rows()));
        }
        let keys: Vec<Column<'_>> = group_by
            .iter()
            .map(|e| evaluate(e, ctx))
            .collect::<Result<_, _>>()?;
        for run in runs(&keys, ctx.rows()) {
            if keep.is_some_and(|k| !k[run.clone()].contains(&true)) {
                continue;
            }
            let key = keys
                .iter()
                .map(|k| KeyPart::from_value(&k.value_at(run.start, &dictionary)))
                .collect();
            let slot = groups.slot(key);
            groups.update(slot, &args, &rows(run))?;
        }
        Ok(())
    }

    /// The values of the keys that read no column but the symbol (every key but a run plan's
    /// bucket), in order: one value over the whole partition.
    fn constant_keys(
        &self,
        group_by: &[ScalarExpr],
        ctx: &EvalContext<'_>,
    ) -> Result<Vec<Value>, EngineError> {
        let symbol_index = self.table.schema.symbol_index;
        let dictionary = self.table.dictionary_names();
        group_by
            .iter()
            .filter(|e| e.reads_only(symbol_index))
            .map(|e| Ok(evaluate(e, ctx)?.value_at(0, &dictionary)))
            .collect()
    }

    /// How the groups of `group_by` form timestamp runs, when they do.
    fn run_plan(&self, group_by: &[ScalarExpr], aggregates: &[AggregateCall]) -> Option<RunPlan> {
        let schema = &self.table.schema;
        RunPlan::of(
            group_by,
            aggregates,
            schema.timestamp_index,
            schema.symbol_index,
        )
    }

    /// True when a key is the symbol column: no group spans partitions.
    fn keyed_by_symbol(&self, group_by: &[ScalarExpr]) -> bool {
        let symbol_index = self.table.schema.symbol_index;
        group_by
            .iter()
            .any(|e| matches!(e, ScalarExpr::Column(i) if *i == symbol_index))
    }

    /// Adds every aggregate over the whole chunk to group `slot`, from the chunk's memo when it
    /// has the state, else by scanning the chunk and memoizing the result. States that can be
    /// as large as the chunk (distinct sets, quantile samples) are scanned, not memoized.
    fn merge_memoized(
        &self,
        ctx: &EvalContext<'a>,
        aggregates: &[AggregateCall],
        groups: &mut GroupTable<'_>,
        slot: usize,
    ) -> Result<(), EngineError> {
        let chunk = ctx.chunk().ok_or_else(|| EngineError::Internal {
            detail: "memoized states of rows that are not a chunk".into(),
        })?;
        let dictionary = self.table.dictionary_names();
        for (index, call) in aggregates.iter().enumerate() {
            let state = match chunk.memo.get(call) {
                Some(state) => state,
                None => {
                    let args = call
                        .args
                        .iter()
                        .map(|e| evaluate(e, ctx))
                        .collect::<Result<Vec<_>, _>>()?;
                    let mut state = AggState::new(call.function);
                    let rows = UpdateRows {
                        range: 0..chunk.rows_count,
                        timestamps: chunk.timestamps(self.table.schema.timestamp_index),
                        keep: None,
                        symbol_name: &dictionary,
                    };
                    state.update(&args, &rows)?;
                    if call.function.is_memoizable() {
                        chunk.memo.put(call, &state);
                    }
                    state
                }
            };
            groups.merge_state(slot, index, state)?;
        }
        Ok(())
    }

    fn rows(
        &mut self,
        partitions: &[&'a Partition],
        columns: &[ScalarExpr],
        order_by: &[SortKey],
        limit: Option<usize>,
    ) -> Result<Vec<Vec<Value>>, EngineError> {
        let mut out: Vec<Vec<Value>> = Vec::new();
        let wanted = limit.unwrap_or(FRAGMENT_ROWS_MAX + 1);
        for partition in partitions {
            for chunk in &partition.chunks {
                if order_by.is_empty() && out.len() >= wanted {
                    return Ok(out);
                }
                let Some(filtered) = self.filter_chunk(partition, chunk)? else {
                    continue;
                };
                let dictionary = self.table.dictionary_names();
                let exprs = columns.iter().chain(order_by.iter().map(|k| &k.expr));
                let values: Vec<Column<'_>> = exprs
                    .map(|e| evaluate(e, &filtered.ctx))
                    .collect::<Result<_, _>>()?;
                for row in 0..filtered.ctx.rows() {
                    if filtered.keep.as_ref().is_some_and(|k| !k[row]) {
                        continue;
                    }
                    out.push(
                        values
                            .iter()
                            .map(|c| c.value_at(row, &dictionary))
                            .collect(),
                    );
                    if order_by.is_empty() && out.len() >= wanted {
                        break;
                    }
                }
                if !order_by.is_empty() && out.len() > wanted.saturating_mul(2).max(4096) {
                    sort_rows(&mut out, columns.len(), order_by);
                    out.truncate(wanted);
                }
                if out.len() > FRAGMENT_ROWS_MAX {
                    return Err(EngineError::ResultTooLarge {
                        rows_max: FRAGMENT_ROWS_MAX,
                    });
                }
            }
        }
        if !order_by.is_empty() {
            sort_rows(&mut out, columns.len(), order_by);
            out.truncate(wanted);
        }
        Ok(out)
    }
}

/// Sorts rows whose sort-key values start at `keys_start`.
pub fn sort_rows(rows: &mut [Vec<Value>], keys_start: usize, order_by: &[SortKey]) {
    rows.sort_by(|a, b| {
        for (index, key) in order_by.iter().enumerate() {
            let ordering = a[keys_start + index].total_cmp(&b[keys_start + index]);
            let ordering = if key.descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        std::cmp::Ordering::Equal
    });
}

fn evaluate_args<'a>(
    aggregates: &[AggregateCall],
    ctx: &EvalContext<'a>,
) -> Result<Vec<Vec<Column<'a>>>, EngineError> {
    aggregates
        .iter()
        .map(|call| call.args.iter().map(|e| evaluate(e, ctx)).collect())
        .collect()
}

/// Maximal row ranges over which every key column holds one value.
fn runs(keys: &[Column<'_>], rows: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for row in 1..rows {
        if !keys.iter().all(|k| k.rows_equal(row - 1, row)) {
            out.push(start..row);
            start = row;
        }
    }
    if rows > 0 {
        out.push(start..rows);
    }
    out
}

/// Groups by key, with their states.
struct GroupTable<'c> {
    calls: &'c [AggregateCall],
    index: AHashMap<Vec<KeyPart>, usize>,
    groups: Vec<(Vec<KeyPart>, Vec<AggState>)>,
    /// Groups found whole some other way (a partition's timestamp runs), not indexed.
    found: Vec<Group>,
    /// The slot found last: consecutive runs often share a key (a bar across a chunk edge).
    last: Option<usize>,
}

impl<'c> GroupTable<'c> {
    fn new(calls: &'c [AggregateCall]) -> Self {
        GroupTable {
            calls,
            index: AHashMap::new(),
            groups: Vec::new(),
            found: Vec::new(),
            last: None,
        }
    }

    fn slot(&mut self, key: Vec<KeyPart>) -> usize {
        if let Some(last) = self.last.filter(|&last| self.groups[last].0 == key) {
            return last;
        }
        if let Some(&slot) = self.index.get(&key) {
            self.last = Some(slot);
            return slot;
        }
        let states = self
            .calls
            .iter()
            .map(|c| AggState::new(c.function))
            .collect();
        let slot = self.groups.len();
        self.groups.push((key.clone(), states));
        self.index.insert(key, slot);
        self.last = Some(slot);
        slot
    }

    /// Adds groups that no later row can belong to (a partition's, found some other way).
    fn append(&mut self, groups: Vec<Group>) {
        self.found.extend(groups);
    }

    /// Stops finding the groups made so far (they stay in the output): for groups that no
    /// later row can belong to.
    fn forget_keys(&mut self) {
        self.index.clear();
        self.last = None;
    }

    fn update(
        &mut self,
        slot: usize,
        args: &[Vec<Column<'_>>],
        rows: &UpdateRows<'_>,
    ) -> Result<(), EngineError> {
        for (state, args) in self.groups[slot].1.iter_mut().zip(args) {
            state.update(args, rows)?;
        }
        Ok(())
    }

    fn merge_state(
        &mut self,
        slot: usize,
        index: usize,
        state: AggState,
    ) -> Result<(), EngineError> {
        self.groups[slot].1[index].merge(state)
    }

    fn finish(self) -> Vec<Group> {
        let hashed = self.groups.into_iter().map(|(key, states)| {
            // Room for the finished aggregates the coordinator appends to the key.
            let mut values = Vec::with_capacity(key.len() + states.len());
            values.extend(key.iter().map(KeyPart::to_value));
            Group {
                key: values,
                states,
            }
        });
        hashed.chain(self.found).collect()
    }
}
