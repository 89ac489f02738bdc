//! A table's rows on one shard: its partitions (one per symbol this shard owns) and the
//! dictionary of its SYMBOL columns, plus what checkpoints need to know of its segment files
//! (see `seal`). The shard's executor is the only writer and reader.

use std::sync::atomic::{AtomicU64, Ordering};

use ahash::AHashMap;

use super::chunk::{Chunk, ColumnChunk, ColumnData, Zone};
use super::column_vec::{ColumnValue, ColumnVec};
use super::dictionary::SymbolDictionary;
use super::partition::{Layout, Partition};
use crate::batch::{ColumnValues, RowBatch, SymbolKey};
use crate::schema::TableSchema;
use crate::types::DataType;

/// One table's data on one shard.
#[derive(Debug)]
pub struct TableStore {
    /// The table's schema.
    pub schema: TableSchema,
    /// Column types in schema order (a copy kept for partition layout).
    pub(super) types: Vec<DataType>,
    /// Partitions in creation order.
    pub partitions: Vec<Partition>,
    /// Partition index by string symbol.
    by_string: AHashMap<Box<str>, u32>,
    /// Partition index by integer symbol.
    by_int: AHashMap<i64, u32>,
    /// Dictionary for non-key SYMBOL columns.
    pub dictionary: SymbolDictionary,
    /// Rows across all partitions.
    pub rows_count: u64,
    /// Unique in the process: a table dropped and created again under its name is another.
    pub(super) id: u64,
    /// Names of the segment files that hold this table's sealed rows, oldest first.
    pub(super) segment_files: Vec<String>,
    /// Rows in `segment_files`: while no sealed chunk changes, the sealed chunks' rows.
    pub(super) sealed_rows: u64,
    /// The next checkpoint rewrites the whole table (its schema changed).
    pub(super) rewrite_due: bool,
    /// Partitions whose late run may hold rows (`Partition::stage`), settled before reads.
    late_partitions: Vec<u32>,
}

/// The partition layout of a table with `schema` (`types` its column types).
pub(super) fn table_layout<'a>(types: &'a [DataType], schema: &TableSchema) -> Layout<'a> {
    Layout {
        types,
        symbol_index: schema.symbol_index,
        timestamp_index: schema.timestamp_index,
    }
}

/// The next `TableStore::id`.
static TABLE_ID_NEXT: AtomicU64 = AtomicU64::new(1);

impl TableStore {
    /// An empty table.
    pub fn new(schema: TableSchema) -> TableStore {
        let types = schema.columns.iter().map(|c| c.data_type).collect();
        TableStore {
            schema,
            types,
            partitions: Vec::new(),
            by_string: AHashMap::new(),
            by_int: AHashMap::new(),
            dictionary: SymbolDictionary::default(),
            rows_count: 0,
            id: TABLE_ID_NEXT.fetch_add(1, Ordering::Relaxed),
            segment_files: Vec::new(),
            sealed_rows: 0,
            rewrite_due: false,
            late_partitions: Vec::new(),
        }
    }

    /// The partition of `key`, if this shard holds rows for it.
    pub fn partition(&self, key: &SymbolKey) -> Option<&Partition> {
        self.partition_index(key).map(|i| &self.partitions[i])
    }

    /// The index in `partitions` of `key`'s partition, if this shard holds rows for it.
    pub(super) fn partition_index(&self, key: &SymbolKey) -> Option<usize> {
        let index = match key {
            SymbolKey::Int(v) => self.by_int.get(v),
            SymbolKey::Str(s) => self.by_string.get(&**s),
        };
        index.map(|&i| i as usize)
    }

    /// Applies `rows` of `batch` (all rows when `None`), which this shard owns. Rows are
    /// grouped by symbol and each group is appended to its partition in timestamp order.
    pub fn apply(&mut self, batch: &RowBatch, rows: Option<&[u32]>) {
        let rows = batch.selected_rows(rows);
        let rows: &[u32] = &rows;
        if rows.is_empty() {
            return;
        }
        let partition_of_row = self.partition_indices(batch, rows);
        let groups = group_rows(rows, &partition_of_row, self.partitions.len());
        for (partition, rows) in groups.iter() {
            self.append_rows(partition, batch, rows);
        }
        self.rows_count += rows.len() as u64;
    }

    /// Appends `rows` of `batch` to one partition: straight from the batch into the last chunk
    /// when they continue the partition in time order (the common case), else through a
    /// staging chunk that is merged in.
    fn append_rows(&mut self, partition: u32, batch: &RowBatch, rows: &[u32]) {
        let layout = table_layout(&self.types, &self.schema);
        let target = &mut self.partitions[partition as usize];
        let in_order = match &batch.columns[layout.timestamp_index].values {
            ColumnValues::Timestamp(ts) => {
                let last = target
                    .last_timestamp(layout.timestamp_index)
                    .unwrap_or(i64::MIN);
                rows.first().is_some_and(|&r| ts[r as usize] >= last)
                    && rows
                        .windows(2)
                        .all(|w| ts[w[0] as usize] <= ts[w[1] as usize])
            }
            _ => false,
        };
        if in_order {
            target.append_batch_rows(batch, rows, layout, &mut self.dictionary);
        } else {
            let staged = self.chunk_from_batch(batch, rows);
            self.append_to(partition, staged);
        }
    }

    /// Adds out-of-order `rows` to a partition; a late batch waits in its late run.
    fn append_to(&mut self, partition: u32, rows: Chunk) {
        let layout = table_layout(&self.types, &self.schema);
        let target = &mut self.partitions[partition as usize];
        let was_waiting = !target.is_settled();
        if target.stage(rows, layout) && !was_waiting {
            self.late_partitions.push(partition);
        }
    }

    /// Merges every waiting late run into its partition's chunks; readers need this first.
    pub fn settle(&mut self) {
        let layout = table_layout(&self.types, &self.schema);
        for index in self.late_partitions.drain(..) {
            self.partitions[index as usize].settle(layout);
        }
    }

    /// Whether no late rows wait anywhere in the table.
    pub fn is_settled(&self) -> bool {
        self.late_partitions.is_empty()
    }

    /// For each row of `batch`, the index of its partition (created when new).
    /// The partition index (created when new) of each of `rows`.
    fn partition_indices(&mut self, batch: &RowBatch, rows: &[u32]) -> Vec<u32> {
        let column = &batch.columns[self.schema.symbol_index].values;
        let mut out = Vec::with_capacity(rows.len());
        match column {
            ColumnValues::Symbol(strings) => {
                let mut previous: Option<(&str, u32)> = None;
                for &row in rows {
                    let name = strings.get(row as usize);
                    let index = match previous {
                        Some((last, index)) if last == name => index,
                        _ => self.string_partition(name),
                    };
                    previous = Some((name, index));
                    out.push(index);
                }
            }
            ColumnValues::Int64(ids) => {
                out.extend(rows.iter().map(|&r| self.int_partition(ids[r as usize])))
            }
            ColumnValues::Int32(ids) => out.extend(
                rows.iter()
                    .map(|&r| self.int_partition(i64::from(ids[r as usize]))),
            ),
            other => unreachable!("symbol column type is validated at CREATE TABLE: {other:?}"),
        }
        out
    }

    fn string_partition(&mut self, name: &str) -> u32 {
        if let Some(&index) = self.by_string.get(name) {
            return index;
        }
        let index = self.partitions.len() as u32;
        self.partitions
            .push(Partition::new(SymbolKey::Str(name.into())));
        self.by_string.insert(name.into(), index);
        index
    }

    fn int_partition(&mut self, id: i64) -> u32 {
        if let Some(&index) = self.by_int.get(&id) {
            return index;
        }
        let index = self.partitions.len() as u32;
        self.partitions.push(Partition::new(SymbolKey::Int(id)));
        self.by_int.insert(id, index);
        index
    }

    /// Converts `rows` of `batch` into a staging chunk of this table: one copy of each value,
    /// no zones (the partition computes them as it stores the rows).
    fn chunk_from_batch(&mut self, batch: &RowBatch, rows: &[u32]) -> Chunk {
        let mut columns = Vec::with_capacity(batch.columns.len());
        for (index, column) in batch.columns.iter().enumerate() {
            if index == self.schema.symbol_index {
                columns.push(ColumnChunk::empty(self.types[index], true));
                continue;
            }
            let nulls = column
                .nulls
                .as_ref()
                .map(|mask| rows.iter().map(|&r| mask[r as usize]).collect());
            let data = self.column_data(&column.values, rows);
            columns.push(ColumnChunk {
                data,
                nulls,
                zone: Zone::Unknown,
            });
        }
        Chunk::from_columns(columns, rows.len())
    }

    fn column_data(&mut self, values: &ColumnValues, rows: &[u32]) -> ColumnData {
        fn pick<T: ColumnValue>(values: &[T], rows: &[u32]) -> ColumnVec<T> {
            rows.iter().map(|&r| values[r as usize]).collect()
        }
        match values {
            ColumnValues::Int64(v) => ColumnData::Int64(pick(v, rows)),
            ColumnValues::Int32(v) => ColumnData::Int32(pick(v, rows)),
            ColumnValues::Float64(v) => ColumnData::Float64(pick(v, rows)),
            ColumnValues::Float32(v) => ColumnData::Float32(pick(v, rows)),
            ColumnValues::Bool(v) => ColumnData::Bool(pick(v, rows)),
            ColumnValues::Timestamp(v) => ColumnData::Timestamp(pick(v, rows)),
            ColumnValues::Symbol(v) => ColumnData::SymbolIds(
                rows.iter()
                    .map(|&r| self.dictionary.intern(v.get(r as usize)))
                    .collect(),
            ),
        }
    }
}

/// Row indices grouped by partition (a counting sort), partitions in order of first
/// appearance, rows in batch order within each group.
struct RowGroups {
    /// Row indices, group after group.
    order: Vec<u32>,
    /// (partition, start, end) of each group in `order`.
    spans: Vec<(u32, usize, usize)>,
}

impl RowGroups {
    fn iter(&self) -> impl Iterator<Item = (u32, &[u32])> {
        self.spans
            .iter()
            .map(|&(partition, start, end)| (partition, &self.order[start..end]))
    }
}

fn group_rows(rows: &[u32], partition_of_row: &[u32], partitions_count: usize) -> RowGroups {
    let mut count_of_partition = vec![0u32; partitions_count];
    let mut touched: Vec<u32> = Vec::new();
    for &partition in partition_of_row {
        let count = &mut count_of_partition[partition as usize];
        if *count == 0 {
            touched.push(partition);
        }
        *count += 1;
    }
    // Reuse the counts as each group's next write position.
    let mut spans = Vec::with_capacity(touched.len());
    let mut start = 0usize;
    for &partition in &touched {
        let count = count_of_partition[partition as usize] as usize;
        spans.push((partition, start, start + count));
        count_of_partition[partition as usize] = start as u32;
        start += count;
    }
    let mut order = vec![0u32; partition_of_row.len()];
    for (&row, &partition) in rows.iter().zip(partition_of_row) {
        let next = &mut count_of_partition[partition as usize];
        order[*next as usize] = row;
        *next += 1;
    }
    RowGroups { order, spans }
}

impl TableStore {
    /// Appends chunks loaded from a segment at start-up to `key`'s partition, creating it
    /// when new (the chunks follow the partition's in timestamp order, their symbol ids
    /// already mapped into this table's dictionary).
    pub fn restore_chunks(&mut self, key: SymbolKey, chunks: Vec<Chunk>) {
        let rows_count: usize = chunks.iter().map(|c| c.rows_count).sum();
        let index = match &key {
            SymbolKey::Int(id) => self.int_partition(*id),
            SymbolKey::Str(name) => self.string_partition(name),
        };
        let partition = &mut self.partitions[index as usize];
        partition.chunks.extend(chunks);
        partition.rows_count += rows_count;
        self.rows_count += rows_count as u64;
    }

    /// Drops the rows with timestamps before `cutoff_ns`; partitions left empty disappear.
    /// Returns the number of rows dropped.
    pub fn expire_before(&mut self, cutoff_ns: i64) -> u64 {
        self.settle();
        let layout = table_layout(&self.types, &self.schema);
        let before = self.rows_count;
        for partition in &mut self.partitions {
            partition.expire_before(cutoff_ns, layout);
        }
        self.drop_empty_partitions();
        before - self.rows_count
    }

    /// Removes partitions left without rows, then re-indexes the rest and recounts the rows.
    pub(super) fn drop_empty_partitions(&mut self) {
        self.settle();
        self.partitions.retain(|p| p.rows_count > 0);
        self.by_string.clear();
        self.by_int.clear();
        for (index, partition) in self.partitions.iter().enumerate() {
            match &partition.key {
                SymbolKey::Int(id) => self.by_int.insert(*id, index as u32),
                SymbolKey::Str(name) => self.by_string.insert(name.clone(), index as u32),
            };
        }
        self.rows_count = self.partitions.iter().map(|p| p.rows_count as u64).sum();
    }

    /// A resolver from this table's dictionary ids to names.
    pub fn dictionary_names(&self) -> impl Fn(u32) -> String + '_ {
        |id| self.dictionary.name(id).to_string()
    }
}
