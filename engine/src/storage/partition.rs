//! A partition: every row of one (table, symbol) on its owning shard, as a list of chunks in
//! timestamp order. Appends in time order fill the last chunk while it is open, else start a
//! new one (a frozen or sealed chunk is never appended to); an out-of-order batch is merged
//! into the chunks it overlaps, so scans may always assume sorted timestamps.
//!
//! Late batches (every row before the partition's last timestamp: a backfill, a lagging feed)
//! may instead wait in the partition's late run (`stage`), merged in once per `CHUNK_ROWS_MAX`
//! late rows or before anything reads the partition (`settle`): one merge of the chunks after
//! the earliest late row then serves many batches, where merging each batch would move those
//! rows again every time.
//!
//! Chunk layout: sealed chunks first (each checkpoint seals the open chunks that follow the
//! previous ones), then open chunks. So every chunk is full but the last one and the last
//! chunk each checkpoint sealed; a checkpoint that compacts the table merges those again.

use super::chunk::{Chunk, ChunkState, CHUNK_ROWS_MAX};
use super::dictionary::SymbolDictionary;
use crate::batch::{RowBatch, SymbolKey};
use crate::types::DataType;

/// The rows of one symbol of one table on this shard.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    /// The symbol every row has.
    pub key: SymbolKey,
    /// Chunks in timestamp order; all but the last are full, except where a checkpoint
    /// sealed a partial one (and TTL expiry may leave the first one partial).
    pub chunks: Vec<Chunk>,
    /// Total rows, the late run's included.
    pub rows_count: usize,
    /// Late rows not merged into `chunks` yet, batches in arrival order (each batch sorted);
    /// every one is before the partition's last timestamp. Readers see none (`settle`).
    late: Option<Chunk>,
}

/// What a partition needs to know of its table's layout.
#[derive(Clone, Copy, Debug)]
pub struct Layout<'a> {
    /// Column types in schema order.
    pub types: &'a [DataType],
    /// Index of the symbol column.
    pub symbol_index: usize,
    /// Index of the timestamp column.
    pub timestamp_index: usize,
}

impl Partition {
    /// An empty partition for `key`.
    pub fn new(key: SymbolKey) -> Partition {
        Partition {
            key,
            chunks: Vec::new(),
            rows_count: 0,
            late: None,
        }
    }

    /// Like `append`, except that a batch whose rows are all before the last timestamp waits
    /// in the late run until `settle` (or until `CHUNK_ROWS_MAX` late rows wait). A batch that
    /// reaches the last timestamp first settles the run, so rows with equal timestamps still
    /// keep their arrival order. Returns whether late rows are waiting.
    pub fn stage(&mut self, rows: Chunk, layout: Layout<'_>) -> bool {
        let rows = sort_by_timestamp(rows, layout.timestamp_index);
        let last_ts = self.last_timestamp(layout.timestamp_index);
        let all_late = rows
            .timestamps(layout.timestamp_index)
            .last()
            .is_some_and(|&t| last_ts.is_some_and(|last| t < last));
        if !all_late {
            self.settle(layout);
            self.append(rows, layout);
            return false;
        }
        self.rows_count += rows.rows_count;
        let late = match self.late.take() {
            Some(mut late) => {
                late.extend_from(&rows, 0, rows.rows_count);
                late
            }
            None => rows,
        };
        let full = late.rows_count >= CHUNK_ROWS_MAX;
        self.late = Some(late);
        if full {
            self.settle(layout);
        }
        !full
    }

    /// Merges the late run, if any, into the chunks.
    pub fn settle(&mut self, layout: Layout<'_>) {
        if let Some(late) = self.late.take() {
            let sorted = sort_by_timestamp(late, layout.timestamp_index);
            self.merge(sorted, layout);
        }
    }

    /// Whether no late rows wait (readers may scan the chunks).
    pub fn is_settled(&self) -> bool {
        self.late.is_none()
    }

    /// Adds `rows` (any order) so that the partition stays sorted by timestamp. Rows with equal
    /// timestamps keep their arrival order.
    pub fn append(&mut self, rows: Chunk, layout: Layout<'_>) {
        debug_assert!(self.is_settled(), "append before the late run is settled");
        self.rows_count += rows.rows_count;
        self.merge(sort_by_timestamp(rows, layout.timestamp_index), layout);
    }

    /// Adds sorted `rows`, already counted in `rows_count`, keeping timestamp order.
    fn merge(&mut self, rows: Chunk, layout: Layout<'_>) {
        let Some(&first_ts) = rows.timestamps(layout.timestamp_index).first() else {
            return;
        };
        if first_ts
            >= self
                .last_timestamp(layout.timestamp_index)
                .unwrap_or(i64::MIN)
        {
            self.append_in_order(&rows, layout);
        } else {
            self.append_out_of_order(rows, first_ts, layout);
        }
    }

    /// The largest timestamp stored.
    pub fn last_timestamp(&self, timestamp_index: usize) -> Option<i64> {
        self.chunks
            .last()?
            .timestamps(timestamp_index)
            .last()
            .copied()
    }

    /// Appends `rows` of `batch`, which are sorted and start at or after the last timestamp,
    /// copying each value once, straight into the last chunks.
    pub fn append_batch_rows(
        &mut self,
        batch: &RowBatch,
        rows: &[u32],
        layout: Layout<'_>,
        dictionary: &mut SymbolDictionary,
    ) {
        self.rows_count += rows.len();
        let mut start = 0;
        while start < rows.len() {
            let last = self.last_chunk_with_room(layout);
            let end = rows.len().min(start + CHUNK_ROWS_MAX - last.rows_count);
            last.extend_from_batch(batch, &rows[start..end], dictionary);
            start = end;
        }
    }

    /// Drops the rows with timestamps before `cutoff_ns`. Rows are in timestamp order, so that
    /// is whole leading chunks plus a prefix of one chunk, which is rebuilt (zones and all).
    pub fn expire_before(&mut self, cutoff_ns: i64, layout: Layout<'_>) {
        let ts_index = layout.timestamp_index;
        let whole = self.chunks.partition_point(|c| {
            c.timestamps(ts_index)
                .last()
                .is_some_and(|&t| t < cutoff_ns)
        });
        self.chunks.drain(..whole);
        if let Some(first) = self.chunks.first() {
            let cut = first
                .timestamps(ts_index)
                .partition_point(|&t| t < cutoff_ns);
            if cut > 0 {
                let mut rebuilt = Chunk::empty(layout.types, layout.symbol_index);
                rebuilt.extend_from(first, cut, first.rows_count);
                self.chunks[0] = rebuilt;
            }
        }
        self.rows_count = self.chunks.iter().map(|c| c.rows_count).sum();
    }

    /// The last chunk, after starting a new one if it is full, frozen or sealed. A partition
    /// whose last two chunks hold a chunk's worth of rows is hot (it just filled one, or a
    /// checkpoint sealed its last one half full after a full one): its next chunk gets its
    /// whole capacity at once instead of growing by doubling (copies, and page faults in the
    /// middle of ingest).
    fn last_chunk_with_room(&mut self, layout: Layout<'_>) -> &mut Chunk {
        let full = self
            .chunks
            .last()
            .is_none_or(|c| c.rows_count == CHUNK_ROWS_MAX || c.state() != ChunkState::Open);
        if full {
            let mut chunk = Chunk::empty(layout.types, layout.symbol_index);
            let recent_rows: usize = self.chunks.iter().rev().take(2).map(|c| c.rows_count).sum();
            if recent_rows >= CHUNK_ROWS_MAX {
                chunk.reserve(CHUNK_ROWS_MAX);
            }
            self.chunks.push(chunk);
        }
        let last = self.chunks.len() - 1;
        &mut self.chunks[last]
    }

    /// Appends `rows`, which start at or after the last timestamp, filling the last chunk
    /// first. Leaves `rows_count` to the caller.
    pub(super) fn append_in_order(&mut self, rows: &Chunk, layout: Layout<'_>) {
        let mut start = 0;
        while start < rows.rows_count {
            let last = self.last_chunk_with_room(layout);
            let end = rows
                .rows_count
                .min(start + CHUNK_ROWS_MAX - last.rows_count);
            last.extend_from(rows, start, end);
            start = end;
        }
    }

    /// Inserts rows that start before the partition's last timestamp. Only the rows after the
    /// insertion point move: they are cut off (the chunk keeps its zone, a superset of the
    /// remaining rows' bounds and so still safe to prune with), merged linearly with the new
    /// rows, and appended again. Feeds that are slightly late touch a handful of rows.
    fn append_out_of_order(&mut self, rows: Chunk, first_ts: i64, layout: Layout<'_>) {
        let ts_index = layout.timestamp_index;
        let chunk_index = self.chunks.partition_point(|c| {
            c.timestamps(ts_index)
                .last()
                .is_some_and(|&t| t <= first_ts)
        });
        let row_index = self.chunks[chunk_index]
            .timestamps(ts_index)
            .partition_point(|&t| t <= first_ts);
        let mut tail = Chunk::empty(layout.types, layout.symbol_index);
        let cut = &self.chunks[chunk_index];
        tail.extend_from(cut, row_index, cut.rows_count);
        for chunk in self.chunks.drain(chunk_index + 1..) {
            tail.extend_from(&chunk, 0, chunk.rows_count);
        }
        if row_index == 0 {
            self.chunks.truncate(chunk_index);
        } else {
            self.chunks[chunk_index].truncate(row_index);
        }
        let merged = merge_by_timestamp(tail, &rows, ts_index);
        self.append_in_order(&merged, layout);
    }
}

/// Two sorted runs merged by timestamp; on equal timestamps `older` rows come first.
fn merge_by_timestamp(mut older: Chunk, newer: &Chunk, timestamp_index: usize) -> Chunk {
    let older_count = older.rows_count;
    older.extend_from(newer, 0, newer.rows_count);
    let ts = older.timestamps(timestamp_index);
    let (left, right) = ts.split_at(older_count);
    let mut order = Vec::with_capacity(ts.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if right[j] < left[i] {
            order.push((older_count + j) as u32);
            j += 1;
        } else {
            order.push(i as u32);
            i += 1;
        }
    }
    order.extend((i..left.len()).map(|k| k as u32));
    order.extend((j..right.len()).map(|k| (older_count + k) as u32));
    older.take(&order)
}

/// `rows` sorted by timestamp (stable); returned as is when already sorted.
fn sort_by_timestamp(rows: Chunk, timestamp_index: usize) -> Chunk {
    let ts = rows.timestamps(timestamp_index);
    if ts.windows(2).all(|w| w[0] <= w[1]) {
        return rows;
    }
    let mut order: Vec<u32> = (0..rows.rows_count as u32).collect();
    order.sort_by_key(|&i| ts[i as usize]);
    rows.take(&order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::chunk::{ColumnChunk, ColumnData, Zone};

    const TYPES: [DataType; 3] = [DataType::Symbol, DataType::Timestamp, DataType::Int64];
    fn layout() -> Layout<'static> {
        Layout {
            types: &TYPES,
            symbol_index: 0,
            timestamp_index: 1,
        }
    }

    fn rows(ts: &[i64]) -> Chunk {
        let values: Vec<i64> = ts.iter().map(|t| t * 10).collect();
        let column = |data| ColumnChunk {
            data,
            nulls: None,
            zone: Zone::Unknown,
        };
        let columns = vec![
            column(ColumnData::PartitionKey),
            column(ColumnData::Timestamp(ts.to_vec().into())),
            column(ColumnData::Int64(values.into())),
        ];
        Chunk::from_columns(columns, ts.len())
    }

    fn all_timestamps(p: &Partition) -> Vec<i64> {
        p.chunks
            .iter()
            .flat_map(|c| c.timestamps(1).to_vec())
            .collect()
    }

    #[test]
    fn in_order_appends_fill_chunks_to_the_limit() {
        let mut p = Partition::new(SymbolKey::Int(1));
        let ts: Vec<i64> = (0..(CHUNK_ROWS_MAX as i64 * 2 + 5)).collect();
        p.append(rows(&ts[..100]), layout());
        p.append(rows(&ts[100..]), layout());
        assert_eq!(p.chunks.len(), 3);
        assert_eq!(p.chunks[0].rows_count, CHUNK_ROWS_MAX);
        assert_eq!(all_timestamps(&p), ts);
        assert_eq!(
            p.chunks[1].columns[1].zone,
            Zone::Int {
                min: CHUNK_ROWS_MAX as i64,
                max: 2 * CHUNK_ROWS_MAX as i64 - 1
            }
        );
    }

    #[test]
    fn out_of_order_rows_land_in_timestamp_order_with_their_values() {
        let mut p = Partition::new(SymbolKey::Int(1));
        let late: Vec<i64> = (1000..1000 + CHUNK_ROWS_MAX as i64 + 10).collect();
        p.append(rows(&late), layout());
        p.append(rows(&[5, 1500, 3, 999_999]), layout());
        let ts = all_timestamps(&p);
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(ts.len(), late.len() + 4);
        assert_eq!(p.rows_count, ts.len());
        let values: Vec<i64> = p
            .chunks
            .iter()
            .flat_map(|c| match &c.columns[2].data {
                ColumnData::Int64(v) => v.to_vec(),
                _ => vec![],
            })
            .collect();
        assert!(ts.iter().zip(&values).all(|(t, v)| *v == t * 10));
    }

    #[test]
    fn equal_timestamps_keep_arrival_order() {
        let mut p = Partition::new(SymbolKey::Int(1));
        p.append(rows(&[10, 20]), layout());
        let mut late = rows(&[10]);
        late.columns[2].data = ColumnData::Int64(vec![-1].into());
        p.append(late, layout());
        let values = match &p.chunks[0].columns[2].data {
            ColumnData::Int64(v) => v.to_vec(),
            _ => vec![],
        };
        assert_eq!(values, vec![100, -1, 200]);
    }

    fn values(p: &Partition) -> Vec<i64> {
        p.chunks
            .iter()
            .flat_map(|c| match &c.columns[2].data {
                ColumnData::Int64(v) => v.to_vec(),
                _ => vec![],
            })
            .collect()
    }

    fn rows_valued(ts: &[i64], values: &[i64]) -> Chunk {
        let mut chunk = rows(ts);
        chunk.columns[2].data = ColumnData::Int64(values.to_vec().into());
        chunk
    }

    #[test]
    fn late_batches_wait_until_settled_and_ties_keep_arrival_order() {
        let mut p = Partition::new(SymbolKey::Int(1));
        p.append(rows(&[10, 20, 30]), layout());
        assert!(p.stage(rows_valued(&[15, 3], &[1, 2]), layout()));
        assert!(p.stage(rows_valued(&[3, 10], &[3, 4]), layout()));
        // Readers of the chunks see none of it yet; the count already has it.
        assert_eq!(all_timestamps(&p), vec![10, 20, 30]);
        assert!(!p.is_settled());
        assert_eq!(p.rows_count, 7);
        p.settle(layout());
        assert!(p.is_settled());
        assert_eq!(all_timestamps(&p), vec![3, 3, 10, 10, 15, 20, 30]);
        // ts 3: the first late batch's row, then the second's; ts 10: the stored row first.
        assert_eq!(values(&p), vec![2, 3, 100, 4, 1, 200, 300]);
    }

    #[test]
    fn a_batch_reaching_the_last_timestamp_settles_the_late_run_first() {
        let mut p = Partition::new(SymbolKey::Int(1));
        p.append(rows(&[10, 20]), layout());
        assert!(p.stage(rows_valued(&[15], &[1]), layout()));
        // Reaches 20: merged at once, after the waiting row it ties with.
        assert!(!p.stage(rows_valued(&[15, 25], &[2, 3]), layout()));
        assert!(p.is_settled());
        assert_eq!(all_timestamps(&p), vec![10, 15, 15, 20, 25]);
        assert_eq!(values(&p), vec![100, 1, 2, 200, 3]);
    }

    #[test]
    fn a_chunk_of_late_rows_merges_without_a_reader() {
        let mut p = Partition::new(SymbolKey::Int(1));
        let top = CHUNK_ROWS_MAX as i64 * 10;
        p.append(rows(&[top]), layout());
        let batch = 1000;
        let mut staged = 0;
        while staged + batch < CHUNK_ROWS_MAX {
            let ts: Vec<i64> = (0..batch as i64)
                .map(|k| top - 1 - (staged as i64 + k))
                .collect();
            assert!(p.stage(rows(&ts), layout()));
            staged += batch;
        }
        let ts: Vec<i64> = (0..batch as i64)
            .map(|k| top - 1 - (staged as i64 + k))
            .collect();
        assert!(!p.stage(rows(&ts), layout()), "the full run merged itself");
        let stored = all_timestamps(&p);
        assert_eq!(stored.len(), staged + batch + 1);
        assert!(stored.is_sorted());
        assert_eq!(
            values(&p),
            stored.iter().map(|t| t * 10).collect::<Vec<_>>()
        );
    }

    #[test]
    fn interleaved_late_feeds_match_a_stable_sort_of_all_rows() {
        check_interleaved_feeds(|p, batch, _| p.append(batch, layout()));
    }

    #[test]
    fn staged_late_feeds_settled_now_and_then_match_a_stable_sort_of_all_rows() {
        check_interleaved_feeds(|p, batch, round| {
            p.stage(batch, layout());
            if round % 37 == 0 {
                p.settle(layout());
            }
        });
    }

    /// Feeds 400 overlapping batches through `add` (given the batch's round), settles, and
    /// compares the partition with a stable sort of every row.
    fn check_interleaved_feeds(add: impl Fn(&mut Partition, Chunk, i64)) {
        // Two feeds whose batches overlap in time, plus occasional very late rows; every row
        // carries a unique value so the final order can be compared exactly.
        let mut p = Partition::new(SymbolKey::Int(1));
        let mut all: Vec<(i64, i64)> = Vec::new();
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as i64
        };
        let mut value = 0i64;
        for round in 0..400i64 {
            let base = round * 100 - (next() % 300);
            let count = 1 + (next() % 200) as usize;
            let ts: Vec<i64> = (0..count)
                .map(|k| base + (k as i64) * 2 + next() % 3)
                .collect();
            let mut batch = rows(&ts);
            let values: Vec<i64> = (0..count as i64).map(|k| value + k).collect();
            batch.columns[2].data = ColumnData::Int64(values.clone().into());
            value += count as i64;
            // The partition sorts a batch stably, then keeps earlier arrivals first on ties.
            let mut sorted_batch: Vec<(i64, i64)> = ts.iter().copied().zip(values).collect();
            sorted_batch.sort_by_key(|&(t, _)| t);
            all.extend(sorted_batch);
            add(&mut p, batch, round);
        }
        p.settle(layout());
        assert_eq!(p.rows_count, all.len());
        all.sort_by_key(|&(t, _)| t);
        let got: Vec<(i64, i64)> = p
            .chunks
            .iter()
            .flat_map(|c| {
                let ts = c.timestamps(1).to_vec();
                let values = match &c.columns[2].data {
                    ColumnData::Int64(v) => v.to_vec(),
                    _ => vec![],
                };
                ts.into_iter().zip(values)
            })
            .collect();
        assert_eq!(got, all);
        assert!(p.chunks[..p.chunks.len() - 1]
            .iter()
            .all(|c| c.rows_count == CHUNK_ROWS_MAX));
    }
}
