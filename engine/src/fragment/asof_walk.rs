//! The walk of a co-located ASOF join over one symbol's right partition: for the rows of each
//! left chunk in turn (times ascending, as partitions keep them), the right row each one meets,
//! the last eligible one at or before its time.
//!
//! The walk only goes forward. Per left chunk it first jumps to the right chunk holding the
//! latest eligible row passed by the chunk's first time (a binary search over the right chunks'
//! first times, so a late left start skips the right rows before it), then cuts the left rows at
//! the first eligible time of each following right chunk: each piece meets rows of one right
//! chunk only, found by the `asof_merge` kernel. Eligibility (the right filter and its time
//! bounds) is worked out once per right chunk, when the walk first looks at it, and is a
//! borrowed slice of the chunk's times whenever every row of a range is eligible. The answer is
//! a row index per left row plus runs naming the right chunk of consecutive rows, which is what
//! a gather needs: no per-row chunk bookkeeping.

use std::borrow::Cow;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::ops::Range;

use super::asof_merge::merge_counts;
use super::eval::{evaluate, selection, EvalContext, Source};
use super::plan::ScalarExpr;
use super::prune::{verdict, PruneContext, Verdict};
use super::window::TimeWindow;
use crate::batch::SymbolKey;
use crate::error::EngineError;
use crate::storage::chunk::Chunk;
use crate::storage::dictionary::SymbolDictionary;

/// The right rows that the rows of a left slice meet.
#[derive(Debug, Default)]
pub(super) struct Matches {
    /// Per left row: the met row's index within its right chunk (unspecified where none).
    rows: Vec<u32>,
    /// Consecutive left rows meeting rows of one right chunk, or none, in order; each run ends
    /// where the next begins, the last at `rows.len()`.
    runs: Vec<MatchRun>,
}

/// Left rows, up to `end`, that meet rows of one right chunk (or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MatchRun {
    /// One past the run's last left row.
    end: usize,
    /// The right chunk its rows meet; `None`: they meet no row.
    chunk: Option<u32>,
}

impl Matches {
    /// Per left row, the met row's index within its right chunk (see `runs`).
    pub fn rows(&self) -> &[u32] {
        &self.rows
    }

    /// The runs as (left rows, right chunk), in order.
    pub fn runs(&self) -> impl Iterator<Item = (Range<usize>, Option<u32>)> + '_ {
        let starts = std::iter::once(0).chain(self.runs.iter().map(|run| run.end));
        starts
            .zip(&self.runs)
            .map(|(start, run)| (start..run.end, run.chunk))
    }

    fn reset(&mut self, rows_count: usize) {
        self.rows.clear();
        self.rows.resize(rows_count, 0);
        self.runs.clear();
    }

    /// Ends the last run at `end`, or starts a new one when its chunk differs.
    fn push_run(&mut self, end: usize, chunk: Option<u32>) {
        match self.runs.last_mut() {
            Some(last) if last.end >= end => {}
            Some(last) if last.chunk == chunk => last.end = end,
            _ if end == 0 => {}
            _ => self.runs.push(MatchRun { end, chunk }),
        }
    }

    /// Makes the left rows for which `drop(left row, right chunk, right row)` holds meet none.
    fn unmatch_where(&mut self, mut drop: impl FnMut(usize, u32, u32) -> bool) {
        let runs = std::mem::take(&mut self.runs);
        let mut start = 0;
        for run in runs {
            match run.chunk {
                None => self.push_run(run.end, None),
                Some(chunk) => {
                    for row in start..run.end {
                        let met = !drop(row, chunk, self.rows[row]);
                        self.push_run(row + 1, met.then_some(chunk));
                    }
                }
            }
            start = run.end;
        }
    }
}

/// Which right rows may be met, per right chunk: those where the right filter (over the right
/// table's columns) holds.
pub(super) struct RightFilter<'a> {
    /// The right filter; `None`: every row.
    filter: Option<&'a ScalarExpr>,
    /// The filter's bounds on the right timestamp, searched in each chunk.
    window: Option<TimeWindow>,
    /// The right table's dictionary, for the filter.
    dictionary: &'a SymbolDictionary,
    /// The right table's symbol column.
    symbol_index: usize,
    /// The right table's timestamp column.
    timestamp_index: usize,
}

impl<'a> RightFilter<'a> {
    /// The eligibility of a right table's rows under `filter`.
    pub fn new(
        filter: Option<&'a ScalarExpr>,
        dictionary: &'a SymbolDictionary,
        symbol_index: usize,
        timestamp_index: usize,
    ) -> RightFilter<'a> {
        RightFilter {
            filter,
            window: filter.and_then(|f| TimeWindow::of(f, timestamp_index)),
            dictionary,
            symbol_index,
            timestamp_index,
        }
    }

    /// The eligible rows of `chunk`, a chunk of `key`'s partition.
    fn eligible(&self, chunk: &'a Chunk, key: &SymbolKey) -> Result<EligibleRows<'a>, EngineError> {
        let times = partition_times(chunk, self.timestamp_index)?;
        let whole = 0..times.len();
        let Some(filter) = self.filter else {
            return Ok(EligibleRows::of(times, whole, None));
        };
        let prune = PruneContext {
            chunk,
            key,
            symbol_index: self.symbol_index,
        };
        match verdict(filter, &prune) {
            Verdict::Skip => Ok(EligibleRows::of(times, 0..0, None)),
            Verdict::All => Ok(EligibleRows::of(times, whole, None)),
            Verdict::Check => {
                let (range, rest) = match &self.window {
                    Some(window) => (window.rows_in(times), window.residual.as_ref()),
                    None => (whole, Some(filter)),
                };
                let keep = match rest {
                    Some(rest) if !range.is_empty() => {
                        let ctx = EvalContext {
                            source: Source::Chunk(chunk),
                            window: range.clone(),
                            key,
                            dictionary: self.dictionary,
                        };
                        selection(evaluate(rest, &ctx)?, range.len())
                    }
                    _ => None,
                };
                Ok(EligibleRows::of(times, range, keep.as_deref()))
            }
        }
    }
}

/// The eligible rows of one right chunk: their times (ascending) and where they are.
#[derive(Debug)]
struct EligibleRows<'a> {
    times: Cow<'a, [i64]>,
    rows: RowMap,
}

/// Where the eligible rows of a right chunk are.
#[derive(Debug)]
enum RowMap {
    /// Eligible row `p` is chunk row `start + p`.
    From(u32),
    /// Eligible row `p` is chunk row `listed[p]`.
    Listed(Vec<u32>),
}

impl<'a> EligibleRows<'a> {
    /// Rows `range` of a chunk with these `times`, less those that `keep` (over the range) drops.
    fn of(times: &'a [i64], range: Range<usize>, keep: Option<&[bool]>) -> EligibleRows<'a> {
        let Some(keep) = keep else {
            return EligibleRows {
                times: Cow::Borrowed(&times[range.clone()]),
                rows: RowMap::From(range.start as u32),
            };
        };
        let listed: Vec<u32> = range
            .zip(keep)
            .filter_map(|(row, &kept)| kept.then_some(row as u32))
            .collect();
        EligibleRows {
            times: Cow::Owned(listed.iter().map(|&row| times[row as usize]).collect()),
            rows: RowMap::Listed(listed),
        }
    }

    fn time_first(&self) -> Option<i64> {
        self.times.first().copied()
    }
}

/// The times of a partition's `chunk`: every row's, ascending, none NULL (rows with a NULL
/// designated timestamp are refused at INSERT).
pub(super) fn partition_times(
    chunk: &Chunk,
    timestamp_index: usize,
) -> Result<&[i64], EngineError> {
    let times = chunk.timestamps(timestamp_index);
    let nulls = chunk.columns[timestamp_index].nulls.as_deref();
    if times.len() != chunk.rows_count || nulls.is_some_and(|n| n.contains(&true)) {
        return Err(EngineError::Internal {
            detail: "an ASOF join met a chunk whose timestamps are missing or NULL".into(),
        });
    }
    debug_assert!(times.is_sorted());
    Ok(times)
}

/// The forward walk over one right partition, carried from one left chunk to the next.
pub(super) struct RightWalk<'a> {
    /// The right partition's chunks.
    chunks: &'a [Chunk],
    filter: &'a RightFilter<'a>,
    /// The partition's symbol.
    key: &'a SymbolKey,
    /// `right.ts <= left.ts` when true, `<` when false.
    inclusive: bool,
    /// When set, a left row meets no row older than its time minus this.
    tolerance_ns: Option<i64>,
    /// Eligible rows of the chunks looked at, from `at` on.
    views: BTreeMap<usize, EligibleRows<'a>>,
    /// The chunk holding the latest eligible row passed so far; `None` before the first.
    at: Option<usize>,
}

impl<'a> RightWalk<'a> {
    /// A walk from the start of the right partition `chunks` of symbol `key`.
    pub fn new(
        chunks: &'a [Chunk],
        filter: &'a RightFilter<'a>,
        key: &'a SymbolKey,
        inclusive: bool,
        tolerance_ns: Option<i64>,
    ) -> RightWalk<'a> {
        RightWalk {
            chunks,
            filter,
            key,
            inclusive,
            tolerance_ns,
            views: BTreeMap::new(),
            at: None,
        }
    }

    /// Sets `out` to the right row each of `times` meets. `times` ascend and start at or after
    /// the last time of the previous call.
    pub fn walk(&mut self, times: &[i64], out: &mut Matches) -> Result<(), EngineError> {
        out.reset(times.len());
        let Some(&time_first) = times.first() else {
            return Ok(());
        };
        self.seek(time_first)?;
        let (mut at, mut start) = match self.at {
            Some(at) => (at, 0),
            None => match self.next_nonempty(0)? {
                // Rows before the first eligible right row meet none.
                Some((at, right_first)) => (at, self.passing_none(times, right_first)),
                None => (0, times.len()),
            },
        };
        out.push_run(start, None);
        while start < times.len() {
            let next = self.next_nonempty(at + 1)?;
            let end = match next {
                Some((_, right_first)) => start + self.passing_none(&times[start..], right_first),
                None => times.len(),
            };
            self.merge(at, &times[start..end], &mut out.rows[start..end])?;
            out.push_run(end, Some(at as u32));
            start = end;
            if let Some((index, _)) = next.filter(|_| end < times.len()) {
                at = index;
            }
        }
        // The last row met a row of `at` (before tolerance): the walk stands there now.
        if out.runs.last().is_some_and(|run| run.chunk.is_some()) {
            self.at = Some(at);
            self.views = self.views.split_off(&at);
        }
        if let Some(tolerance_ns) = self.tolerance_ns {
            self.drop_stale(times, tolerance_ns, out);
        }
        Ok(())
    }

    /// Moves `at` to the chunk holding the latest eligible row that `time` passes, if later.
    fn seek(&mut self, time: i64) -> Result<(), EngineError> {
        let start = self.at.map_or(0, |at| at + 1);
        let timestamp_index = self.filter.timestamp_index;
        // Chunks after `end` start after `time`: nothing in them passes it.
        let end = start
            + self.chunks[start..].partition_point(|chunk| {
                let first = chunk.timestamps(timestamp_index).first();
                first.is_none_or(|&first| self.passes(first, time))
            });
        for index in (start..end).rev() {
            let first = self.view(index)?.time_first();
            if first.is_some_and(|first| self.passes(first, time)) {
                self.at = Some(index);
                break;
            }
        }
        Ok(())
    }

    /// The first chunk from `from` on with an eligible row, and that row's time.
    fn next_nonempty(&mut self, from: usize) -> Result<Option<(usize, i64)>, EngineError> {
        for index in from..self.chunks.len() {
            if let Some(first) = self.view(index)?.time_first() {
                return Ok(Some((index, first)));
            }
        }
        Ok(None)
    }

    /// The eligible rows of chunk `index`, worked out on first use.
    fn view(&mut self, index: usize) -> Result<&EligibleRows<'a>, EngineError> {
        let chunk = &self.chunks[index];
        Ok(match self.views.entry(index) {
            Entry::Occupied(view) => view.into_mut(),
            Entry::Vacant(slot) => slot.insert(self.filter.eligible(chunk, self.key)?),
        })
    }

    /// How many of `times` (ascending) do not pass a right row at `right_time`.
    fn passing_none(&self, times: &[i64], right_time: i64) -> usize {
        times.partition_point(|&time| !self.passes(right_time, time))
    }

    fn passes(&self, right_time: i64, left_time: i64) -> bool {
        if self.inclusive {
            right_time <= left_time
        } else {
            right_time < left_time
        }
    }

    /// Sets `out` to the rows of chunk `at` that `times` meet; each time passes its first
    /// eligible row. The view is in `views`: the walk looked at the chunk before choosing it.
    fn merge(&self, at: usize, times: &[i64], out: &mut [u32]) -> Result<(), EngineError> {
        let Some(view) = self.views.get(&at) else {
            return Err(EngineError::Internal {
                detail: format!("the ASOF walk chose right chunk {at} without looking at it"),
            });
        };
        let offset = match view.rows {
            // A count of `c` passed rows meets eligible row `c - 1`.
            RowMap::From(start) => start.wrapping_sub(1),
            RowMap::Listed(_) => u32::MAX,
        };
        if self.inclusive {
            merge_counts::<true>(times, &view.times, offset, out);
        } else {
            merge_counts::<false>(times, &view.times, offset, out);
        }
        if let RowMap::Listed(listed) = &view.rows {
            for row in out.iter_mut() {
                *row = listed[*row as usize];
            }
        }
        Ok(())
    }

    /// Unmatches the rows whose met row is older than their time minus `tolerance_ns`.
    fn drop_stale(&self, times: &[i64], tolerance_ns: i64, out: &mut Matches) {
        let timestamp_index = self.filter.timestamp_index;
        out.unmatch_where(|row, chunk, right_row| {
            let right_times = self.chunks[chunk as usize].timestamps(timestamp_index);
            let age = i128::from(times[row]) - i128::from(right_times[right_row as usize]);
            age > i128::from(tolerance_ns)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment::plan::BinaryOp;
    use crate::storage::chunk::{zone_of, ColumnChunk, ColumnData};
    use crate::types::Value;

    /// Right rows: (time, value), values counting up in partition order.
    type Rows = Vec<(i64, i64)>;

    struct Stream(u64);

    impl Stream {
        fn below(&mut self, bound: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % bound
        }

        /// `count` ascending times from `start`, steps of 0..=`gap_max` (ties included).
        fn times(&mut self, count: usize, start: i64, gap_max: u64) -> Vec<i64> {
            let mut time = start;
            (0..count)
                .map(|_| {
                    time += self.below(gap_max + 1) as i64;
                    time
                })
                .collect()
        }
    }

    /// A chunk of (symbol, ts, value) rows, with zones, as a partition holds it.
    fn chunk(rows: &[(i64, i64)]) -> Chunk {
        let column = |data: ColumnData| ColumnChunk {
            zone: zone_of(&data, None, 0, rows.len()),
            data,
            nulls: None,
        };
        Chunk::from_columns(
            vec![
                column(ColumnData::PartitionKey),
                column(ColumnData::Timestamp(rows.iter().map(|r| r.0).collect())),
                column(ColumnData::Int64(rows.iter().map(|r| r.1).collect())),
            ],
            rows.len(),
        )
    }

    /// `rows` cut into chunks of 1..=`size_max` rows.
    fn chunks(stream: &mut Stream, rows: &Rows, size_max: u64) -> Vec<Chunk> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < rows.len() {
            let end = rows.len().min(start + 1 + stream.below(size_max) as usize);
            out.push(chunk(&rows[start..end]));
            start = end;
        }
        out
    }

    fn binary(op: BinaryOp, left: ScalarExpr, right: ScalarExpr) -> ScalarExpr {
        ScalarExpr::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        }
    }

    fn int(value: i64) -> ScalarExpr {
        ScalarExpr::Literal(Value::Int(value))
    }

    const TIME: usize = 1;
    const VALUE: usize = 2;

    /// A right filter and the same predicate on (time, value).
    type Filter = (Option<ScalarExpr>, fn(i64, i64) -> bool);

    fn filters() -> Vec<Filter> {
        let col = ScalarExpr::Column;
        let not_third = binary(
            BinaryOp::NotEq,
            binary(BinaryOp::Modulo, col(VALUE), int(3)),
            int(0),
        );
        let window = binary(
            BinaryOp::And,
            binary(BinaryOp::GtEq, col(TIME), int(300)),
            // The literal on the left, as `2000 >= ts` is written.
            binary(BinaryOp::GtEq, int(2_000), col(TIME)),
        );
        vec![
            (None, |_, _| true),
            // Evaluated per chunk: eligible rows are listed.
            (Some(not_third.clone()), |_, v| v % 3 != 0),
            // Zone maps: early chunks all pass, late ones are skipped, one is checked.
            (Some(binary(BinaryOp::Lt, col(VALUE), int(700))), |_, v| {
                v < 700
            }),
            // A time window alone: ranges of chunks, borrowed.
            (Some(window.clone()), |t, _| (300..=2_000).contains(&t)),
            // A time window and a residual.
            (Some(binary(BinaryOp::And, window, not_third)), |t, v| {
                (300..=2_000).contains(&t) && v % 3 != 0
            }),
        ]
    }

    /// The (chunk, row) each left time meets by a scan of every right row.
    fn brute_force(
        chunks: &[Chunk],
        eligible: fn(i64, i64) -> bool,
        inclusive: bool,
        tolerance_ns: Option<i64>,
        left: &[i64],
    ) -> Vec<Option<(u32, u32)>> {
        left.iter()
            .map(|&time| {
                let mut met = None;
                for (c, chunk) in chunks.iter().enumerate() {
                    let times = chunk.timestamps(TIME);
                    let ColumnData::Int64(values) = &chunk.columns[VALUE].data else {
                        unreachable!()
                    };
                    for (r, (&t, &v)) in times.iter().zip(values.iter()).enumerate() {
                        let passes = if inclusive { t <= time } else { t < time };
                        if passes && eligible(t, v) {
                            met = Some((c as u32, r as u32, t));
                        }
                    }
                }
                met.filter(|&(_, _, t)| {
                    tolerance_ns.is_none_or(|tol| i128::from(time) - i128::from(t) <= tol.into())
                })
                .map(|(c, r, _)| (c, r))
            })
            .collect()
    }

    /// What the walk answers for `left`, walked in pieces of 0..`piece_max` rows.
    fn walked(
        stream: &mut Stream,
        chunks: &[Chunk],
        filter: &RightFilter<'_>,
        inclusive: bool,
        tolerance_ns: Option<i64>,
        left: &[i64],
    ) -> Vec<Option<(u32, u32)>> {
        let key = SymbolKey::Int(1);
        let mut walk = RightWalk::new(chunks, filter, &key, inclusive, tolerance_ns);
        let mut matches = Matches::default();
        let mut out = Vec::new();
        let mut start = 0;
        while start < left.len() {
            let end = left.len().min(start + stream.below(700) as usize);
            walk.walk(&left[start..end], &mut matches).unwrap();
            assert_eq!(matches.rows().len(), end - start);
            for (rows, chunk) in matches.runs() {
                out.extend(rows.map(|row| chunk.map(|c| (c, matches.rows()[row]))));
            }
            assert_eq!(out.len(), end);
            start = end;
        }
        out
    }

    #[test]
    fn walk_meets_the_brute_force_row_for_every_filter_and_join_form() {
        let dictionary = SymbolDictionary::default();
        let mut stream = Stream(0x9E37_79B9_7F4A_7C15);
        // Right sides starting before, inside and after the left; as dense as the left and
        // much denser; one with nothing.
        for (right_start, right_count, gap_max, chunk_rows_max) in [
            (0, 1_000, 3, 120),
            (-500, 3_000, 1, 700),
            (1_200, 400, 2, 50),
            (5_000, 300, 3, 100),
            (-9_000, 200, 4, 60),
            (0, 0, 1, 1),
        ] {
            let times = stream.times(right_count, right_start, gap_max);
            let rows: Rows = times.into_iter().zip(0..).collect();
            let chunks = chunks(&mut stream, &rows, chunk_rows_max);
            let left = stream.times(1_500, 0, 3);
            for (expr, eligible) in filters() {
                let filter = RightFilter::new(expr.as_ref(), &dictionary, 0, TIME);
                for (inclusive, tolerance_ns) in [
                    (true, None),
                    (false, None),
                    (true, Some(0)),
                    (false, Some(4)),
                ] {
                    let expected = brute_force(&chunks, eligible, inclusive, tolerance_ns, &left);
                    let got = walked(
                        &mut stream,
                        &chunks,
                        &filter,
                        inclusive,
                        tolerance_ns,
                        &left,
                    );
                    let first_wrong = (0..left.len()).find(|&i| got[i] != expected[i]);
                    assert_eq!(
                        first_wrong.map(|i| (i, left[i], got[i])),
                        None,
                        "right from {right_start}, {right_count} rows, filter {expr:?}, \
                         inclusive {inclusive}, tolerance {tolerance_ns:?}, expected {:?}",
                        first_wrong.map(|i| expected[i])
                    );
                }
            }
        }
    }

    #[test]
    fn runs_name_each_right_chunk_once_and_unmatched_rows_as_none() {
        let dictionary = SymbolDictionary::default();
        let filter = RightFilter::new(None, &dictionary, 0, TIME);
        let chunks = [chunk(&[(10, 0), (20, 1)]), chunk(&[(30, 2), (40, 3)])];
        let key = SymbolKey::Int(1);
        let mut walk = RightWalk::new(&chunks, &filter, &key, true, None);
        let mut matches = Matches::default();
        walk.walk(&[5, 10, 25, 30, 35, 99], &mut matches).unwrap();
        let runs: Vec<_> = matches.runs().collect();
        assert_eq!(runs, [(0..1, None), (1..3, Some(0)), (3..6, Some(1))]);
        assert_eq!(matches.rows()[1..], [0, 1, 0, 0, 1]);
        // The walk goes on from there: a later left slice meets the last row.
        walk.walk(&[100], &mut matches).unwrap();
        assert_eq!(matches.runs().collect::<Vec<_>>(), [(0..1, Some(1))]);
        assert_eq!(matches.rows(), [1]);
    }

    #[test]
    fn null_timestamps_in_a_partition_are_an_internal_error() {
        let mut broken = chunk(&[(10, 0), (20, 1)]);
        broken.columns[TIME].nulls = Some(vec![false, true].into());
        let err = partition_times(&broken, TIME).unwrap_err();
        assert!(matches!(err, EngineError::Internal { .. }), "{err:?}");
        let dictionary = SymbolDictionary::default();
        let filter = RightFilter::new(None, &dictionary, 0, TIME);
        let key = SymbolKey::Int(1);
        let chunks = [broken];
        let mut walk = RightWalk::new(&chunks, &filter, &key, true, None);
        let err = walk.walk(&[15], &mut Matches::default()).unwrap_err();
        assert!(matches!(err, EngineError::Internal { .. }), "{err:?}");
    }
}
