//! A partition: every row of one (table, symbol) on its owning shard, as a list of chunks in
//! timestamp order. Appends in time order fill the last chunk; an out-of-order batch is merged
//! into the chunks it overlaps, so scans may always assume sorted timestamps.

use super::chunk::{Chunk, CHUNK_ROWS_MAX};
use crate::batch::SymbolKey;
use crate::types::DataType;

/// The rows of one symbol of one table on this shard.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    /// The symbol every row has.
    pub key: SymbolKey,
    /// Chunks in timestamp order; all but the last are full.
    pub chunks: Vec<Chunk>,
    /// Total rows.
    pub rows_count: usize,
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
        }
    }

    /// Adds `rows` (any order) so that the partition stays sorted by timestamp. Rows with equal
    /// timestamps keep their arrival order.
    pub fn append(&mut self, rows: Chunk, layout: Layout<'_>) {
        let rows = sort_by_timestamp(rows, layout.timestamp_index);
        let Some(&first_ts) = rows.timestamps(layout.timestamp_index).first() else {
            return;
        };
        self.rows_count += rows.rows_count;
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

    fn append_in_order(&mut self, rows: &Chunk, layout: Layout<'_>) {
        let mut start = 0;
        while start < rows.rows_count {
            let needs_chunk = self
                .chunks
                .last()
                .is_none_or(|c| c.rows_count == CHUNK_ROWS_MAX);
            if needs_chunk {
                self.chunks
                    .push(Chunk::empty(layout.types, layout.symbol_index));
            }
            let Some(last) = self.chunks.last_mut() else {
                return;
            };
            let end = rows
                .rows_count
                .min(start + CHUNK_ROWS_MAX - last.rows_count);
            last.extend_from(rows, start, end);
            start = end;
        }
    }

    fn append_out_of_order(&mut self, rows: Chunk, first_ts: i64, layout: Layout<'_>) {
        let ts_index = layout.timestamp_index;
        // First chunk holding a timestamp after the batch's first: everything from there is
        // re-merged; earlier chunks are untouched.
        let first_affected = self.chunks.partition_point(|c| {
            c.timestamps(ts_index)
                .last()
                .is_some_and(|&t| t <= first_ts)
        });
        let mut merged = Chunk::empty(layout.types, layout.symbol_index);
        for chunk in self.chunks.drain(first_affected..) {
            merged.extend_from(&chunk, 0, chunk.rows_count);
        }
        merged.extend_from(&rows, 0, rows.rows_count);
        let merged = sort_by_timestamp(merged, ts_index);
        self.append_in_order(&merged, layout);
    }
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
        Chunk {
            columns: vec![
                column(ColumnData::PartitionKey),
                column(ColumnData::Timestamp(ts.to_vec())),
                column(ColumnData::Int64(values)),
            ],
            rows_count: ts.len(),
        }
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
                ColumnData::Int64(v) => v.clone(),
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
        late.columns[2].data = ColumnData::Int64(vec![-1]);
        p.append(late, layout());
        let values = match &p.chunks[0].columns[2].data {
            ColumnData::Int64(v) => v.clone(),
            _ => vec![],
        };
        assert_eq!(values, vec![100, -1, 200]);
    }
}
