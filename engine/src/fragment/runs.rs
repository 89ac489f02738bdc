//! Grouping by sorted runs. Inside a partition rows are in timestamp order, so GROUP BY keys
//! made of partition constants (the symbol) and one time bucket (`functions::bucket`) take
//! each key over one contiguous run of rows. A run ends at the first row past its bucket's last
//! timestamp, found by a search; each aggregate adds a whole run at once through the slice
//! kernels into a typed state per group; a run that continues into the next chunk keeps its
//! group. Nothing is computed, hashed or allocated per row, and states are plain vectors.
//!
//! The aggregates it takes: count, sum, avg, min, max of numbers, first/last, argMin/argMax
//! keyed by the designated timestamp, and vwap. States are typed by the first chunk's argument
//! vectors (integers or floats); a chunk that gives another kind (a constant, a string) makes
//! `RunGroups::add` say no, and the caller aggregates that partition the general way. Every
//! state adds the same slices with the same kernels as `AggState::update` would, so the two
//! paths agree to the bit.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::ops::Range;

use super::aggregate::{kept_rows, AggState, Sum};
use super::exec::Group;
use super::functions::bucket::TimeBucket;
use super::kernels::{
    count_true, dot_f64, extreme, min_max, prefetch, sum_f64, sum_i64_exact, AsF64,
};
use super::plan::{AggregateCall, AggregateFunction, ScalarExpr};
use super::run_blocks::{Bounded, ColumnView, ViewBlocks};
use super::vector::{Column, Vector};
use crate::error::EngineError;
use crate::types::Value;

/// Rows a run's end is first looked for in: sorted timestamps at or before the bucket's last
/// are a prefix, so counting them (vectorized, branch-free) ends a short run at once.
const RUN_BLOCK_ROWS: usize = 32;

/// Blocks counted one after another before a run's end is searched for instead.
const LINEAR_BLOCKS: usize = 4;

/// How far ahead of a run's first row `find_runs` asks the caches for the rows the passes will
/// read: a few runs of a one-minute bar ahead, about the time a load from memory takes.
const PREFETCH_AHEAD_ROWS: usize = 256;

/// The end of the rows asked for at each run (a run of a typical bar moves ahead by about
/// this many rows; longer runs are followed by the hardware prefetcher and block sums).
const PREFETCH_END_ROWS: usize = PREFETCH_AHEAD_ROWS + RUN_BLOCK_ROWS;

/// How a fragment's groups form runs: which key is the time bucket, and each aggregate's state.
#[derive(Clone, Debug)]
pub(super) struct RunPlan {
    bucket: TimeBucket,
    /// Position of the bucket among the GROUP BY keys; the others are partition constants.
    bucket_position: usize,
    kinds: Vec<RunKind>,
    /// (min, max) aggregates of the same argument: one pass over a run finds both.
    extreme_pairs: Vec<(usize, usize)>,
    /// The stored column each aggregate's first argument is, when it is one.
    columns: Vec<Option<usize>>,
}

/// What a run state computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RunKind {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    First,
    Last,
    /// argMin keyed by the designated timestamp.
    ArgMin,
    /// argMax keyed by the designated timestamp.
    ArgMax,
    Vwap,
}

impl RunPlan {
    /// The plan when the keys are partition constants plus exactly one time bucket of the
    /// designated timestamp and every aggregate has a run state; `None` otherwise.
    pub(super) fn of(
        group_by: &[ScalarExpr],
        aggregates: &[AggregateCall],
        timestamp_index: usize,
        symbol_index: usize,
    ) -> Option<RunPlan> {
        let mut bucket = None;
        for (position, key) in group_by.iter().enumerate() {
            if key.reads_only(symbol_index) {
                continue;
            }
            if bucket.is_some() {
                return None;
            }
            bucket = Some((position, TimeBucket::of(key, timestamp_index)?));
        }
        let (bucket_position, bucket) = bucket?;
        let kinds = aggregates
            .iter()
            .map(|call| RunKind::of(call, timestamp_index))
            .collect::<Option<Vec<_>>>()?;
        let extreme_pairs = extreme_pairs(&kinds, aggregates);
        let columns = aggregates
            .iter()
            .map(|call| match call.args.first() {
                Some(ScalarExpr::Column(index)) => Some(*index),
                _ => None,
            })
            .collect();
        Some(RunPlan {
            bucket,
            bucket_position,
            kinds,
            extreme_pairs,
            columns,
        })
    }

    /// Whether aggregate `index` is half of an extreme pair.
    fn paired(&self, index: usize) -> bool {
        self.extreme_pairs
            .iter()
            .any(|&(low, high)| low == index || high == index)
    }
}

/// Each min aggregate with a max of the same argument, as (min, max) positions; each
/// aggregate in one pair at most.
fn extreme_pairs(kinds: &[RunKind], aggregates: &[AggregateCall]) -> Vec<(usize, usize)> {
    let of_kind = |kind: RunKind| (0..kinds.len()).filter(move |&i| kinds[i] == kind);
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for low in of_kind(RunKind::Min) {
        let partner = of_kind(RunKind::Max).find(|&high| {
            aggregates[high].args == aggregates[low].args
                && pairs.iter().all(|&(_, taken)| taken != high)
        });
        if let Some(high) = partner {
            pairs.push((low, high));
        }
    }
    pairs
}

/// Whether a fragment aggregating by `group_by` groups each partition's rows by timestamp runs
/// (when its groups cannot span partitions). For EXPLAIN.
pub fn groups_by_runs(
    group_by: &[ScalarExpr],
    aggregates: &[AggregateCall],
    timestamp_index: usize,
    symbol_index: usize,
) -> bool {
    RunPlan::of(group_by, aggregates, timestamp_index, symbol_index).is_some()
}

impl RunKind {
    fn of(call: &AggregateCall, timestamp_index: usize) -> Option<RunKind> {
        let by_time = call.args.get(1) == Some(&ScalarExpr::Column(timestamp_index));
        Some(match call.function {
            AggregateFunction::Count => RunKind::Count,
            AggregateFunction::Sum => RunKind::Sum,
            AggregateFunction::Avg => RunKind::Avg,
            AggregateFunction::Min => RunKind::Min,
            AggregateFunction::Max => RunKind::Max,
            AggregateFunction::First => RunKind::First,
            AggregateFunction::Last => RunKind::Last,
            AggregateFunction::ArgMin if by_time => RunKind::ArgMin,
            AggregateFunction::ArgMax if by_time => RunKind::ArgMax,
            AggregateFunction::Vwap => RunKind::Vwap,
            AggregateFunction::ArgMin
            | AggregateFunction::ArgMax
            | AggregateFunction::CountDistinct
            | AggregateFunction::VarPop
            | AggregateFunction::VarSamp
            | AggregateFunction::StddevPop
            | AggregateFunction::StddevSamp
            | AggregateFunction::Quantile { .. }
            | AggregateFunction::QuantileDisc { .. } => return None,
        })
    }

    fn function(self) -> &'static str {
        match self {
            RunKind::Count => "count",
            RunKind::Sum => "sum",
            RunKind::Avg => "avg",
            RunKind::Min => "min",
            RunKind::Max => "max",
            RunKind::First => "first",
            RunKind::Last => "last",
            RunKind::ArgMin => "arg_min",
            RunKind::ArgMax => "arg_max",
            RunKind::Vwap => "vwap",
        }
    }
}

/// Rows `start..end` of a chunk's view, all of the group `group`.
#[derive(Clone, Copy, Debug)]
struct Run {
    start: usize,
    end: usize,
    group: usize,
}

impl Run {
    fn rows(self) -> Range<usize> {
        self.start..self.end
    }
}

/// One aggregate's states, one per group of the partition.
#[derive(Debug)]
enum States {
    /// No chunk seen yet.
    Untyped,
    /// Rows counted.
    Count(Vec<u64>),
    /// Exact integer sums and the rows added (none: NULL).
    IntSum(Vec<i128>, Vec<u64>),
    /// Float sums and the rows added.
    FloatSum(Vec<f64>, Vec<u64>),
    /// The chosen row's (timestamp, value) of integers (min/max keep no timestamp).
    IntPick(Vec<Option<(i64, i64)>>),
    /// The chosen row's (timestamp, value) of floats.
    FloatPick(Vec<Option<(i64, f64)>>),
    /// Σ price·volume, Σ volume, rows.
    Vwap(Vec<(f64, f64, u64)>),
}

impl States {
    /// Empty states of `kind` over the argument vectors `args`; `None` when they are not
    /// number vectors.
    fn typed(kind: RunKind, args: &[Column<'_>]) -> Option<States> {
        let numbers = |column: &Column<'_>| match column.data {
            Vector::Int(_) => Some(false),
            Vector::Float(_) => Some(true),
            Vector::Bool(_) | Vector::Sym(_) | Vector::Const(_) => None,
        };
        Some(match kind {
            RunKind::Count => States::Count(Vec::new()),
            RunKind::Vwap => {
                numbers(args.first()?)?;
                numbers(args.get(1)?)?;
                States::Vwap(Vec::new())
            }
            RunKind::Sum | RunKind::Avg => match numbers(args.first()?)? {
                false => States::IntSum(Vec::new(), Vec::new()),
                true => States::FloatSum(Vec::new(), Vec::new()),
            },
            RunKind::Min
            | RunKind::Max
            | RunKind::First
            | RunKind::Last
            | RunKind::ArgMin
            | RunKind::ArgMax => match numbers(args.first()?)? {
                false => States::IntPick(Vec::new()),
                true => States::FloatPick(Vec::new()),
            },
        })
    }

    /// Whether the states read the argument vectors in order (sums, extremes) rather than a
    /// row or two per run (first, last, argMin, argMax).
    fn streams(kind: RunKind) -> bool {
        !matches!(
            kind,
            RunKind::First | RunKind::Last | RunKind::ArgMin | RunKind::ArgMax
        )
    }

    /// Forgets every group, keeping the kind and the room.
    fn clear(&mut self) {
        self.resize(0);
    }

    /// Makes room for `groups` groups (new ones empty).
    fn resize(&mut self, groups: usize) {
        match self {
            States::Untyped => {}
            States::Count(counts) => counts.resize(groups, 0),
            States::IntSum(sums, counts) => {
                sums.resize(groups, 0);
                counts.resize(groups, 0);
            }
            States::FloatSum(sums, counts) => {
                sums.resize(groups, 0.0);
                counts.resize(groups, 0);
            }
            States::IntPick(picks) => picks.resize(groups, None),
            States::FloatPick(picks) => picks.resize(groups, None),
            States::Vwap(sums) => sums.resize(groups, (0.0, 0.0, 0)),
        }
    }
}

/// The groups of one partition found as runs, with their states; `reset` between partitions
/// keeps the vectors' room.
pub(super) struct RunGroups<'p> {
    plan: &'p RunPlan,
    /// The bucket of each group, non-decreasing.
    buckets: Vec<i64>,
    /// One per aggregate.
    states: Vec<States>,
    /// The current chunk's runs (kept between chunks for its capacity).
    runs: Vec<Run>,
    /// The rows of the partition's last run: where the next one likely ends.
    run_rows_hint: usize,
    /// The partition's last bucket and its last timestamp.
    current: Option<(i64, i64)>,
}

impl<'p> RunGroups<'p> {
    /// No groups yet.
    pub(super) fn new(plan: &'p RunPlan) -> RunGroups<'p> {
        RunGroups {
            plan,
            buckets: Vec::new(),
            states: plan.kinds.iter().map(|_| States::Untyped).collect(),
            runs: Vec::new(),
            run_rows_hint: 0,
            current: None,
        }
    }

    /// Forgets the groups, for the next partition.
    pub(super) fn reset(&mut self) {
        self.buckets.clear();
        self.states.iter_mut().for_each(States::clear);
        self.run_rows_hint = 0;
        self.current = None;
    }

    /// Number of groups found.
    pub(super) fn groups_count(&self) -> usize {
        self.buckets.len()
    }

    /// Adds the rows in view of the partition's next chunk: their (sorted) `timestamps`, each
    /// aggregate's evaluated arguments `args`, the rows the filter keeps (`None` = all), and
    /// the chunk's summarized blocks, whose sums and zones stand for the rows of whole blocks
    /// inside a run when every row is kept. False, adding nothing, when an argument vector is
    /// not of the kind the states hold.
    pub(super) fn add(
        &mut self,
        timestamps: &[i64],
        args: &[Vec<Column<'_>>],
        keep: Option<&[bool]>,
        blocks: Option<ViewBlocks<'_>>,
    ) -> Result<bool, EngineError> {
        debug_assert!(timestamps.is_sorted());
        let retype = self.buckets.is_empty();
        for ((states, &kind), args) in self.states.iter_mut().zip(&self.plan.kinds).zip(args) {
            let Some(fresh) = States::typed(kind, args) else {
                return Ok(false);
            };
            if std::mem::discriminant(states) != std::mem::discriminant(&fresh) {
                if !retype {
                    return Ok(false);
                }
                *states = fresh;
            }
        }
        self.find_runs(timestamps, keep, &streamed_vectors(&self.plan.kinds, args))?;
        let groups = self.buckets.len();
        let changed_kind = |kind: RunKind| EngineError::Internal {
            detail: format!("{} run states changed kind", kind.function()),
        };
        let column_of = |index: usize| blocks?.column(self.plan.columns[index]?);
        for &(low, high) in &self.plan.extreme_pairs {
            let (lows, highs) = two_mut(&mut self.states, low, high);
            lows.resize(groups);
            highs.resize(groups);
            let mask = kept_rows(&args[low], 0..timestamps.len(), keep);
            let column = column_of(low).filter(|_| mask.is_none());
            if !add_extreme_pair(lows, highs, &args[low], mask.as_deref(), &self.runs, column) {
                return Err(changed_kind(RunKind::Min));
            }
        }
        // Sums and extremes stream each argument through the cache first; the picks then
        // find their rows there.
        for streaming in [true, false] {
            let aggregates = self.states.iter_mut().zip(&self.plan.kinds).zip(args);
            for (index, ((states, &kind), args)) in aggregates.enumerate() {
                if States::streams(kind) != streaming || self.plan.paired(index) {
                    continue;
                }
                states.resize(groups);
                let mask = kept_rows(args, 0..timestamps.len(), keep);
                let column = column_of(index).filter(|_| mask.is_none());
                let runs = &self.runs;
                let added = add_runs(
                    states,
                    kind,
                    args,
                    mask.as_deref(),
                    timestamps,
                    runs,
                    column,
                );
                if !added {
                    return Err(changed_kind(kind));
                }
            }
        }
        Ok(true)
    }

    /// Cuts the chunk's rows into runs of one bucket each, giving each run its group: the
    /// previous chunk's last group when the bucket continues it, else a new one. Runs without
    /// a row the filter keeps make no group. Asks the caches for the timestamps and the
    /// `streams` a little ahead of the rows it reads, so the passes that add the runs find
    /// their values loaded (`PREFETCH_AHEAD_ROWS`).
    fn find_runs(
        &mut self,
        timestamps: &[i64],
        keep: Option<&[bool]>,
        streams: &[&Vector<'_>],
    ) -> Result<(), EngineError> {
        self.runs.clear();
        let mut start = 0;
        let len = timestamps.len();
        while start < len {
            let ahead =
                (start + PREFETCH_AHEAD_ROWS).min(len)..(start + PREFETCH_END_ROWS).min(len);
            prefetch(&timestamps[ahead.clone()]);
            for values in streams {
                prefetch_vector(values, ahead.clone());
            }
            let (bucket, last) = self.bucket_of(timestamps[start])?;
            let end = run_end(timestamps, start, last, self.run_rows_hint);
            self.run_rows_hint = end - start;
            if keep.is_none_or(|k| k[start..end].contains(&true)) {
                // Buckets never decrease: an equal last bucket is this run's own group.
                if self.buckets.last() != Some(&bucket) {
                    self.buckets.push(bucket);
                }
                let group = self.buckets.len() - 1;
                self.runs.push(Run { start, end, group });
            }
            start = end;
        }
        Ok(())
    }

    /// The bucket of timestamp `ts` (at or after every timestamp seen in the partition) and its
    /// last timestamp: the last run's, or the one after it, found without a division.
    fn bucket_of(&mut self, ts: i64) -> Result<(i64, i64), EngineError> {
        let bucket = self.plan.bucket;
        let found = match self.current {
            // A run continued from the previous chunk.
            Some((b, last)) if ts <= last => (b, last),
            current => match current.and_then(|(b, last)| bucket.following(b, last)) {
                Some((next, next_last)) if ts <= next_last => (next, next_last),
                _ => {
                    let b = bucket.bucket(ts)?;
                    (b, bucket.last_timestamp(b))
                }
            },
        };
        self.current = Some(found);
        Ok(found)
    }

    /// The groups with their partial states, keys in GROUP BY order: `constants` are the other
    /// keys' values, in order. Each key has room for the finished values the coordinator
    /// appends.
    pub(super) fn partial_groups(&self, constants: &[Value]) -> Result<Vec<Group>, EngineError> {
        let position = self.plan.bucket_position.min(constants.len());
        let mut groups = Vec::with_capacity(self.buckets.len());
        for (group, &bucket) in self.buckets.iter().enumerate() {
            let mut key = Vec::with_capacity(constants.len() + 1 + self.states.len());
            key.extend_from_slice(&constants[..position]);
            key.push(Value::Int(bucket));
            key.extend_from_slice(&constants[position..]);
            let states = self
                .states
                .iter()
                .zip(&self.plan.kinds)
                .map(|(states, &kind)| partial_state(states, kind, group))
                .collect::<Result<_, _>>()?;
            groups.push(Group { key, states });
        }
        Ok(groups)
    }

    /// The finished groups as columns: the keys in GROUP BY order (`constants` are the other
    /// keys' values, in order), then each aggregate's value.
    pub(super) fn finish(&self, constants: &[Value]) -> Result<Vec<Column<'static>>, EngineError> {
        let position = self.plan.bucket_position;
        let mut columns: Vec<Column<'static>> = constants
            .iter()
            .map(|value| Column::constant(value.clone()))
            .collect();
        let buckets = Column::new(Vector::Int(self.buckets.clone().into()));
        columns.insert(position.min(columns.len()), buckets);
        for (states, &kind) in self.states.iter().zip(&self.plan.kinds) {
            columns.push(finish_states(states, kind)?);
        }
        Ok(columns)
    }
}

/// The first row at or after `start` whose timestamp is past `last` (the run's bucket's last
/// timestamp; `timestamps[start] <= last`, and timestamps are sorted). `hint` is the length of
/// the run before, which a run of the same width likely shares.
///
/// A run of up to `LINEAR_BLOCKS` blocks ends inside one, found by counting block after block
/// (sequential reads the prefetcher follows). A longer one is bracketed by galloping from the
/// hinted end, in steps doubling from one block, then searched: each probe is a cache miss
/// in a column the kernels do not read, so a few probes near the end beat streaming the whole
/// run's timestamps (a hot symbol's minute holds thousands of rows).
fn run_end(timestamps: &[i64], start: usize, last: i64, hint: usize) -> usize {
    let len = timestamps.len();
    let mut first_end = start;
    for _ in 0..LINEAR_BLOCKS {
        let block_start = first_end;
        first_end = len.min(block_start + RUN_BLOCK_ROWS);
        let within = timestamps[block_start..first_end]
            .iter()
            .filter(|&&t| t <= last)
            .count();
        if block_start + within < first_end || first_end == len {
            return block_start + within;
        }
    }
    // Invariant: the end lies in lo..=hi (timestamps[lo - 1] <= last; hi == len or
    // timestamps[hi] > last).
    let inside = |row: usize| timestamps[row] <= last;
    let guess = (start + hint).clamp(first_end, len - 1);
    let (mut lo, mut hi);
    let mut step = RUN_BLOCK_ROWS;
    if inside(guess) {
        lo = guess + 1;
        while lo + step < len && inside(lo + step) {
            lo += step + 1;
            step *= 2;
        }
        hi = len.min(lo + step);
    } else {
        (lo, hi) = (first_end, guess);
        while hi > lo + step && !inside(hi - step - 1) {
            hi -= step + 1;
            step *= 2;
        }
        lo = lo.max(hi.saturating_sub(step));
    }
    lo + timestamps[lo..hi].partition_point(|&t| t <= last)
}

/// Rows of `rows` kept by `mask` (all when `None`).
fn kept(mask: Option<&[bool]>, rows: Range<usize>) -> u64 {
    mask.map_or(rows.len() as u64, |m| count_true(&m[rows]))
}

/// Adds every run to `states` over the argument vectors `args` (integer sums of whole blocks
/// from `column`'s block sums when given); false when they do not match the states' kind.
fn add_runs(
    states: &mut States,
    kind: RunKind,
    args: &[Column<'_>],
    mask: Option<&[bool]>,
    timestamps: &[i64],
    runs: &[Run],
    column: Option<ColumnView<'_>>,
) -> bool {
    let data = |index: usize| args.get(index).map(|column| &column.data);
    match (states, data(0), data(1)) {
        (States::Count(counts), _, _) => {
            for run in runs {
                counts[run.group] += kept(mask, run.rows());
            }
        }
        (States::IntSum(sums, counts), Some(Vector::Int(values)), _) => {
            for run in runs {
                let (rows, slice_mask) = (run.rows(), mask.map(|m| &m[run.rows()]));
                counts[run.group] += kept(mask, run.rows());
                let sum = |values: &[i64]| sum_i64_exact(values, None);
                sums[run.group] += match column.and_then(|c| c.int_sum(run.rows(), values, sum)) {
                    Some(sum) => sum,
                    None => sum_i64_exact(&values[rows], slice_mask),
                };
            }
        }
        (States::FloatSum(sums, counts), Some(Vector::Float(values)), _) => {
            for run in runs {
                let added = kept(mask, run.rows());
                if added > 0 {
                    counts[run.group] += added;
                    sums[run.group] += sum_f64(&values[run.rows()], mask.map(|m| &m[run.rows()]));
                }
            }
        }
        (States::IntPick(picks), Some(Vector::Int(values)), _) => {
            pick_runs(picks, kind, values, timestamps, mask, runs)
        }
        (States::FloatPick(picks), Some(Vector::Float(values)), _) => {
            pick_runs(picks, kind, values, timestamps, mask, runs)
        }
        (States::Vwap(sums), Some(price), Some(volume)) => match (price, volume) {
            (Vector::Float(p), Vector::Int(v)) => vwap_runs(sums, p, v, mask, runs),
            (Vector::Float(p), Vector::Float(v)) => vwap_runs(sums, p, v, mask, runs),
            (Vector::Int(p), Vector::Int(v)) => vwap_runs(sums, p, v, mask, runs),
            (Vector::Int(p), Vector::Float(v)) => vwap_runs(sums, p, v, mask, runs),
            _ => return false,
        },
        _ => return false,
    }
    true
}

/// The number vectors the streaming aggregates (`States::streams`) read, each once.
fn streamed_vectors<'v, 'c>(kinds: &[RunKind], args: &'v [Vec<Column<'c>>]) -> Vec<&'v Vector<'c>> {
    let mut vectors: Vec<&Vector<'_>> = Vec::new();
    let streamed = args
        .iter()
        .zip(kinds)
        .filter(|(_, &kind)| States::streams(kind));
    for column in streamed.flat_map(|(args, _)| args) {
        let start = |vector: &Vector<'_>| match vector {
            Vector::Int(values) => Some(values.as_ptr().cast::<u8>()),
            Vector::Float(values) => Some(values.as_ptr().cast::<u8>()),
            Vector::Bool(_) | Vector::Sym(_) | Vector::Const(_) => None,
        };
        let Some(first_value) = start(&column.data) else {
            continue;
        };
        if vectors.iter().all(|seen| start(seen) != Some(first_value)) {
            vectors.push(&column.data);
        }
    }
    vectors
}

/// Asks the caches for `rows` of a number vector (see `kernels::prefetch`).
fn prefetch_vector(vector: &Vector<'_>, rows: Range<usize>) {
    match vector {
        Vector::Int(values) => prefetch(&values[rows]),
        Vector::Float(values) => prefetch(&values[rows]),
        Vector::Bool(_) | Vector::Sym(_) | Vector::Const(_) => {}
    }
}

/// Items `a` and `b` (different) of `items`, both mutable.
fn two_mut<T>(items: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    debug_assert_ne!(a, b);
    if a < b {
        let (left, right) = items.split_at_mut(b);
        (&mut left[a], &mut right[0])
    } else {
        let (left, right) = items.split_at_mut(a);
        (&mut right[0], &mut left[b])
    }
}

/// Adds every run's min to `lows` and max to `highs` in one pass over the argument (whole
/// blocks from `column`'s zones when given); false when it does not match the states' kind.
fn add_extreme_pair(
    lows: &mut States,
    highs: &mut States,
    args: &[Column<'_>],
    mask: Option<&[bool]>,
    runs: &[Run],
    column: Option<ColumnView<'_>>,
) -> bool {
    match (lows, highs, args.first().map(|column| &column.data)) {
        (States::IntPick(lows), States::IntPick(highs), Some(Vector::Int(values))) => {
            extreme_pair_runs(lows, highs, values, mask, runs, column)
        }
        (States::FloatPick(lows), States::FloatPick(highs), Some(Vector::Float(values))) => {
            extreme_pair_runs(lows, highs, values, mask, runs, column)
        }
        _ => return false,
    }
    true
}

fn extreme_pair_runs<T: Number + Bounded>(
    lows: &mut [Option<(i64, T)>],
    highs: &mut [Option<(i64, T)>],
    values: &[T],
    mask: Option<&[bool]>,
    runs: &[Run],
    column: Option<ColumnView<'_>>,
) {
    let fold = |values: &[T]| min_max(values, None);
    for run in runs {
        let extremes = match column.and_then(|c| c.min_max(run.rows(), values, fold)) {
            Some(extremes) => extremes,
            None => min_max(&values[run.rows()], mask.map(|m| &m[run.rows()])),
        };
        if let Some((low, high)) = extremes {
            offer(&mut lows[run.group], (0, low), RunKind::Min);
            offer(&mut highs[run.group], (0, high), RunKind::Max);
        }
    }
}

/// A number a pick state holds.
trait Number: Copy + PartialOrd {
    /// The total order `Value::total_cmp` gives the number's value.
    fn total_order(&self, other: &Self) -> Ordering;
    /// As a value.
    fn value(self) -> Value;
}

impl Number for i64 {
    fn total_order(&self, other: &Self) -> Ordering {
        self.cmp(other)
    }

    fn value(self) -> Value {
        Value::Int(self)
    }
}

impl Number for f64 {
    fn total_order(&self, other: &Self) -> Ordering {
        self.total_cmp(other)
    }

    fn value(self) -> Value {
        Value::Float(self)
    }
}

/// Min/max/first/last/argMin/argMax of each run, offered to its group's pick.
fn pick_runs<T: Number>(
    picks: &mut [Option<(i64, T)>],
    kind: RunKind,
    values: &[T],
    timestamps: &[i64],
    mask: Option<&[bool]>,
    runs: &[Run],
) {
    let is_kept = |row: usize| mask.is_none_or(|m| m[row]);
    let masked = |rows: Range<usize>| mask.map(|m| &m[rows]);
    let at = |row: usize| (timestamps[row], values[row]);
    // One loop per kind: the kernel and the rule are fixed inside each.
    match kind {
        RunKind::Min => offer_each(picks, runs, kind, |rows| {
            extreme(&values[rows.clone()], masked(rows), true).map(|e| (0, e))
        }),
        RunKind::Max => offer_each(picks, runs, kind, |rows| {
            extreme(&values[rows.clone()], masked(rows), false).map(|e| (0, e))
        }),
        RunKind::First => offer_each(picks, runs, kind, |mut rows| {
            rows.find(|&r| is_kept(r)).map(at)
        }),
        RunKind::Last => offer_each(picks, runs, kind, |mut rows| {
            rows.rfind(|&r| is_kept(r)).map(at)
        }),
        RunKind::ArgMin => offer_each(picks, runs, kind, |rows| {
            let first = rows.clone().find(|&r| is_kept(r))?;
            Some(smallest_value_at_time(
                values,
                timestamps,
                &is_kept,
                first,
                first..rows.end,
            ))
        }),
        RunKind::ArgMax => offer_each(picks, runs, kind, |rows| {
            let last = rows.clone().rfind(|&r| is_kept(r))?;
            let walk = (rows.start..last + 1).rev();
            Some(smallest_value_at_time(
                values, timestamps, &is_kept, last, walk,
            ))
        }),
        RunKind::Count | RunKind::Sum | RunKind::Avg | RunKind::Vwap => {}
    }
}

/// Offers each run's `candidate` to its group's pick under `kind`'s rule.
#[inline(always)]
fn offer_each<T: Number>(
    picks: &mut [Option<(i64, T)>],
    runs: &[Run],
    kind: RunKind,
    candidate: impl Fn(Range<usize>) -> Option<(i64, T)>,
) {
    for run in runs {
        if let Some(candidate) = candidate(run.rows()) {
            offer(&mut picks[run.group], candidate, kind);
        }
    }
}

/// (time, value) of row `found`, with the value replaced by the smallest kept value among the
/// rows of `walk` (from `found` outward) that share its time: argMin/argMax's tie rule.
fn smallest_value_at_time<T: Number>(
    values: &[T],
    timestamps: &[i64],
    is_kept: &dyn Fn(usize) -> bool,
    found: usize,
    walk: impl Iterator<Item = usize>,
) -> (i64, T) {
    let time = timestamps[found];
    let mut best = values[found];
    for row in walk.take_while(|&r| timestamps[r] == time) {
        if is_kept(row) && values[row].total_order(&best).is_lt() {
            best = values[row];
        }
    }
    (time, best)
}

/// Keeps `candidate` in `pick` when it wins under `kind`'s rule, the rule `AggState::merge`
/// applies to the same partial states (`keep_better`, `keep_edge`, `offer_arg`).
#[inline(always)]
fn offer<T: Number>(pick: &mut Option<(i64, T)>, candidate: (i64, T), kind: RunKind) {
    let wins = match pick {
        None => true,
        Some((time, value)) => match kind {
            RunKind::Min => candidate.1.total_order(value).is_lt(),
            RunKind::Max => candidate.1.total_order(value).is_gt(),
            RunKind::First => candidate.0 < *time,
            RunKind::Last => candidate.0 >= *time,
            RunKind::ArgMin => candidate
                .0
                .cmp(time)
                .then_with(|| candidate.1.total_order(value))
                .is_lt(),
            RunKind::ArgMax => candidate
                .0
                .cmp(time)
                .reverse()
                .then_with(|| candidate.1.total_order(value))
                .is_lt(),
            RunKind::Count | RunKind::Sum | RunKind::Avg | RunKind::Vwap => false,
        },
    };
    if wins {
        *pick = Some(candidate);
    }
}

fn vwap_runs<P: AsF64, V: AsF64>(
    sums: &mut [(f64, f64, u64)],
    price: &[P],
    volume: &[V],
    mask: Option<&[bool]>,
    runs: &[Run],
) {
    for run in runs {
        let added = kept(mask, run.rows());
        if added == 0 {
            continue;
        }
        let (rows, slice_mask) = (run.rows(), mask.map(|m| &m[run.rows()]));
        let sum = &mut sums[run.group];
        sum.0 += dot_f64(&price[rows.clone()], &volume[rows.clone()], slice_mask);
        sum.1 += sum_f64(&volume[rows], slice_mask);
        sum.2 += added;
    }
}

/// Group `group`'s state as the `AggState` the general path would have built.
fn partial_state(states: &States, kind: RunKind, group: usize) -> Result<AggState, EngineError> {
    let missing = || EngineError::Internal {
        detail: format!("{} run state of group {group}", kind.function()),
    };
    let sum = |value: Sum, count: u64| match kind {
        RunKind::Avg => AggState::Avg(if count == 0 { Sum::Empty } else { value }, count),
        _ => AggState::Sum(if count == 0 { Sum::Empty } else { value }),
    };
    Ok(match states {
        States::Untyped => return Err(missing()),
        States::Count(counts) => AggState::Count(*counts.get(group).ok_or_else(missing)?),
        States::IntSum(sums, counts) => {
            let (s, n) = (sums.get(group), counts.get(group));
            sum(Sum::Int(*s.ok_or_else(missing)?), *n.ok_or_else(missing)?)
        }
        States::FloatSum(sums, counts) => {
            let (s, n) = (sums.get(group), counts.get(group));
            sum(Sum::Float(*s.ok_or_else(missing)?), *n.ok_or_else(missing)?)
        }
        States::IntPick(picks) => pick_state(*picks.get(group).ok_or_else(missing)?, kind)?,
        States::FloatPick(picks) => pick_state(*picks.get(group).ok_or_else(missing)?, kind)?,
        States::Vwap(sums) => {
            let (pv, v, n) = *sums.get(group).ok_or_else(missing)?;
            AggState::Vwap(pv, v, n)
        }
    })
}

fn pick_state<T: Number>(pick: Option<(i64, T)>, kind: RunKind) -> Result<AggState, EngineError> {
    let value = pick.map(|(_, v)| v.value());
    let timed = pick.map(|(t, v)| (t, v.value()));
    Ok(match kind {
        RunKind::Min => AggState::Min(value),
        RunKind::Max => AggState::Max(value),
        RunKind::First => AggState::First(timed),
        RunKind::Last => AggState::Last(timed),
        RunKind::ArgMin => AggState::ArgMin(pick.map(|(t, v)| (Value::Int(t), v.value()))),
        RunKind::ArgMax => AggState::ArgMax(pick.map(|(t, v)| (Value::Int(t), v.value()))),
        RunKind::Count | RunKind::Sum | RunKind::Avg | RunKind::Vwap => {
            return Err(EngineError::Internal {
                detail: format!("{} from a pick state", kind.function()),
            })
        }
    })
}

/// Every group's finished value, as `AggState::finish` gives it: NULL over no rows (count: 0),
/// an integer sum outside Int64 an overflow error.
fn finish_states(states: &States, kind: RunKind) -> Result<Column<'static>, EngineError> {
    let counted = |counts: &[u64]| null_mask(counts.iter().map(|&n| n > 0));
    Ok(match states {
        States::Untyped => Column::new(Vector::Int(Vec::new().into())),
        States::Count(counts) => {
            Column::new(Vector::Int(counts.iter().map(|&n| n as i64).collect()))
        }
        States::IntSum(sums, counts) if kind == RunKind::Avg => Column {
            data: Vector::Float(
                sums.iter()
                    .zip(counts)
                    .map(|(&s, &n)| s as f64 / n as f64)
                    .collect(),
            ),
            nulls: counted(counts),
        },
        States::FloatSum(sums, counts) if kind == RunKind::Avg => Column {
            data: Vector::Float(
                sums.iter()
                    .zip(counts)
                    .map(|(&s, &n)| s / n as f64)
                    .collect(),
            ),
            nulls: counted(counts),
        },
        States::IntSum(sums, counts) => {
            let within = |&s: &i128| i64::try_from(s).is_ok();
            if !sums.iter().all(within) {
                return Err(EngineError::Overflow {
                    function: kind.function().to_string(),
                });
            }
            Column {
                data: Vector::Int(sums.iter().map(|&s| s as i64).collect()),
                nulls: counted(counts),
            }
        }
        States::FloatSum(sums, counts) => Column {
            data: Vector::Float(sums.clone().into()),
            nulls: counted(counts),
        },
        States::IntPick(picks) => {
            let (values, nulls) = picked_values(picks, 0);
            Column {
                data: Vector::Int(values.into()),
                nulls,
            }
        }
        States::FloatPick(picks) => {
            let (values, nulls) = picked_values(picks, 0.0);
            Column {
                data: Vector::Float(values.into()),
                nulls,
            }
        }
        States::Vwap(sums) => Column {
            data: Vector::Float(sums.iter().map(|&(pv, v, _)| pv / v).collect()),
            nulls: null_mask(sums.iter().map(|&(_, _, n)| n > 0)),
        },
    })
}

/// Each group's picked value (`absent` where it has none) and the NULL mask of those groups
/// (`None` when every group has a value), in one pass over the picks when all have one.
fn picked_values<T: Number>(
    picks: &[Option<(i64, T)>],
    absent: T,
) -> (Vec<T>, Option<Cow<'static, [bool]>>) {
    let mut every_one = true;
    let values = picks
        .iter()
        .map(|pick| match pick {
            Some((_, value)) => *value,
            None => {
                every_one = false;
                absent
            }
        })
        .collect();
    let nulls = (!every_one).then(|| picks.iter().map(Option::is_none).collect());
    (values, nulls)
}

/// The NULL mask of groups where `present` is false; `None` (no mask) when every one is there.
fn null_mask(present: impl Iterator<Item = bool> + Clone) -> Option<Cow<'static, [bool]>> {
    if present.clone().all(|p| p) {
        return None;
    }
    Some(present.map(|p| !p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(values: Vec<i64>) -> Column<'static> {
        Column::new(Vector::Int(values.into()))
    }

    #[test]
    fn a_chunk_of_another_argument_kind_is_refused_whole() {
        let calls = [AggregateCall {
            function: AggregateFunction::Sum,
            args: vec![ScalarExpr::Column(2)],
        }];
        let key = ScalarExpr::Function {
            function: crate::fragment::functions::ScalarFunction::IntDiv,
            args: vec![ScalarExpr::Column(1), ScalarExpr::Literal(Value::Int(10))],
        };
        let plan = RunPlan::of(&[ScalarExpr::Column(0), key], &calls, 1, 0).unwrap();
        let mut found = RunGroups::new(&plan);
        assert!(found
            .add(&[1, 5, 12], &[vec![ints(vec![1, 2, 3])]], None, None)
            .unwrap());
        assert_eq!(found.groups_count(), 2);
        // Floats after integers, and a constant: nothing added, the caller goes the general way.
        let floats = Column::new(Vector::Float(vec![0.5, 1.5].into()));
        assert!(!found.add(&[14, 25], &[vec![floats]], None, None).unwrap());
        let constant = Column::constant(Value::Int(7));
        assert!(!found.add(&[14, 25], &[vec![constant]], None, None).unwrap());
        assert_eq!(found.groups_count(), 2);
        // A new partition may take the other kind.
        found.reset();
        let floats = Column::new(Vector::Float(vec![0.5, 1.5].into()));
        assert!(found.add(&[14, 25], &[vec![floats]], None, None).unwrap());
        let groups = found.partial_groups(&[Value::Int(3)]).unwrap();
        let sums: Vec<&AggState> = groups.iter().map(|g| &g.states[0]).collect();
        assert_eq!(
            sums,
            [
                &AggState::Sum(Sum::Float(0.5)),
                &AggState::Sum(Sum::Float(1.5))
            ]
        );
        assert_eq!(groups[1].key, [Value::Int(3), Value::Int(2)]);
    }

    #[test]
    fn streamed_vectors_are_the_streaming_arguments_each_once() {
        let (prices, volumes, other) = ([1.5, 2.5], [10i64, 20], [3.5, 4.5]);
        let price = || Column::new(Vector::Float(Cow::Borrowed(&prices[..])));
        let volume = || Column::new(Vector::Int(Cow::Borrowed(&volumes[..])));
        let kinds = [RunKind::Min, RunKind::Max, RunKind::Vwap, RunKind::First];
        let args = [
            vec![price()],
            vec![price()],
            vec![price(), volume()],
            vec![Column::new(Vector::Float(Cow::Borrowed(&other[..])))],
        ];
        let found = streamed_vectors(&kinds, &args);
        assert_eq!(
            found.len(),
            2,
            "price and volume once each, not first()'s column"
        );
        assert_eq!(found[0], &args[0][0].data);
        assert_eq!(found[1], &args[2][1].data);
    }

    #[test]
    fn picked_values_mark_groups_without_a_pick_null() {
        let all = [Some((1, 2.5)), Some((3, -1.0))];
        assert_eq!(picked_values(&all, 0.0), (vec![2.5, -1.0], None));
        let gaps = [Some((1, 7i64)), None, Some((4, 9))];
        let (values, nulls) = picked_values(&gaps, 0);
        assert_eq!(values, [7, 0, 9]);
        assert_eq!(nulls.as_deref(), Some(&[false, true, false][..]));
    }

    #[test]
    fn run_end_finds_the_first_later_bucket_for_short_and_long_runs() {
        // Runs of 1 to 5000 rows (inside a block, at its edges, longer), at the end too.
        let lengths = [1usize, 31, 32, 33, 64, 2048, 2049, 5000, 3, 700, 40];
        // Bucket b holds b·10..=b·10 + 9; each run spans its bucket, last timestamp included.
        let timestamps: Vec<i64> = lengths
            .iter()
            .enumerate()
            .flat_map(|(bucket, &len)| {
                let spread = move |i: usize| (i * 9 / (len - 1).max(1)) as i64;
                (0..len).map(move |i| bucket as i64 * 10 + spread(i).min(9))
            })
            .collect();
        assert!(timestamps.is_sorted());
        // Every hint: none, exact, short and long of the end, past the last row.
        for hint in [
            0, 1, 31, 40, 63, 100, 699, 700, 701, 2000, 4999, 5000, 5001, 20_000,
        ] {
            let mut start = 0;
            for (bucket, &len) in lengths.iter().enumerate() {
                let last = bucket as i64 * 10 + 9;
                let end = run_end(&timestamps, start, last, hint);
                assert_eq!(end, start + len, "bucket {bucket}, hint {hint}");
                start += len;
            }
            assert_eq!(start, timestamps.len());
        }
    }
}
