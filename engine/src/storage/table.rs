//! A table's rows on one shard: its partitions (one per symbol this shard owns) and the
//! dictionary of its SYMBOL columns. The shard's executor is the only writer and reader.

use ahash::AHashMap;

use super::chunk::{Chunk, ColumnChunk, ColumnData, Zone};
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
    types: Vec<DataType>,
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
}

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
        }
    }

    /// The partition of `key`, if this shard holds rows for it.
    pub fn partition(&self, key: &SymbolKey) -> Option<&Partition> {
        let index = match key {
            SymbolKey::Int(v) => self.by_int.get(v),
            SymbolKey::Str(s) => self.by_string.get(&**s),
        };
        index.map(|&i| &self.partitions[i as usize])
    }

    /// Applies a batch whose rows this shard owns. Rows are grouped by symbol and each group
    /// is appended to its partition in timestamp order.
    pub fn apply(&mut self, batch: &RowBatch) {
        if batch.rows_count == 0 {
            return;
        }
        let partition_of_row = self.partition_indices(batch);
        let first = partition_of_row[0];
        if partition_of_row.iter().all(|&p| p == first) {
            let rows = self.chunk_from_batch(batch, None);
            self.append_to(first, rows);
        } else {
            for (partition, rows) in group_rows(&partition_of_row) {
                let rows = self.chunk_from_batch(batch, Some(&rows));
                self.append_to(partition, rows);
            }
        }
        self.rows_count += batch.rows_count as u64;
    }

    fn append_to(&mut self, partition: u32, rows: Chunk) {
        let layout = Layout {
            types: &self.types,
            symbol_index: self.schema.symbol_index,
            timestamp_index: self.schema.timestamp_index,
        };
        self.partitions[partition as usize].append(rows, layout);
    }

    /// For each row of `batch`, the index of its partition (created when new).
    fn partition_indices(&mut self, batch: &RowBatch) -> Vec<u32> {
        let column = &batch.columns[self.schema.symbol_index].values;
        let mut out = Vec::with_capacity(batch.rows_count);
        match column {
            ColumnValues::Symbol(strings) => {
                let mut previous: Option<(&str, u32)> = None;
                for row in 0..strings.len() {
                    let name = strings.get(row);
                    let index = match previous {
                        Some((last, index)) if last == name => index,
                        _ => self.string_partition(name),
                    };
                    previous = Some((name, index));
                    out.push(index);
                }
            }
            ColumnValues::Int64(ids) => out.extend(ids.iter().map(|&id| self.int_partition(id))),
            ColumnValues::Int32(ids) => {
                out.extend(ids.iter().map(|&id| self.int_partition(i64::from(id))))
            }
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

    /// Converts `rows` of `batch` (all of them when `None`) into a staging chunk of this table:
    /// one copy of each value, no zones (the partition computes them as it stores the rows).
    fn chunk_from_batch(&mut self, batch: &RowBatch, rows: Option<&[u32]>) -> Chunk {
        let mut columns = Vec::with_capacity(batch.columns.len());
        for (index, column) in batch.columns.iter().enumerate() {
            if index == self.schema.symbol_index {
                columns.push(ColumnChunk::empty(self.types[index], true));
                continue;
            }
            let nulls = column.nulls.as_ref().map(|mask| match rows {
                Some(rows) => rows.iter().map(|&r| mask[r as usize]).collect(),
                None => mask.clone(),
            });
            let data = self.column_data(&column.values, rows);
            columns.push(ColumnChunk {
                data,
                nulls,
                zone: Zone::Unknown,
            });
        }
        let rows_count = rows.map_or(batch.rows_count, <[u32]>::len);
        Chunk {
            columns,
            rows_count,
        }
    }

    fn column_data(&mut self, values: &ColumnValues, rows: Option<&[u32]>) -> ColumnData {
        fn pick<T: Copy>(values: &[T], rows: Option<&[u32]>) -> Vec<T> {
            match rows {
                Some(rows) => rows.iter().map(|&r| values[r as usize]).collect(),
                None => values.to_vec(),
            }
        }
        match values {
            ColumnValues::Int64(v) => ColumnData::Int64(pick(v, rows)),
            ColumnValues::Int32(v) => ColumnData::Int32(pick(v, rows)),
            ColumnValues::Float64(v) => ColumnData::Float64(pick(v, rows)),
            ColumnValues::Float32(v) => ColumnData::Float32(pick(v, rows)),
            ColumnValues::Bool(v) => ColumnData::Bool(pick(v, rows)),
            ColumnValues::Timestamp(v) => ColumnData::Timestamp(pick(v, rows)),
            ColumnValues::Symbol(v) => {
                let all: Vec<u32>;
                let indices: &[u32] = match rows {
                    Some(rows) => rows,
                    None => {
                        all = (0..v.len() as u32).collect();
                        &all
                    }
                };
                ColumnData::SymbolIds(
                    indices
                        .iter()
                        .map(|&r| self.dictionary.intern(v.get(r as usize)))
                        .collect(),
                )
            }
        }
    }
}

/// Row indices grouped by partition, partitions in order of first appearance.
fn group_rows(partition_of_row: &[u32]) -> Vec<(u32, Vec<u32>)> {
    let mut slot_of_partition: AHashMap<u32, usize> = AHashMap::new();
    let mut groups: Vec<(u32, Vec<u32>)> = Vec::new();
    for (row, &partition) in partition_of_row.iter().enumerate() {
        let slot = *slot_of_partition.entry(partition).or_insert_with(|| {
            groups.push((partition, Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(row as u32);
    }
    groups
}

impl TableStore {
    /// A resolver from this table's dictionary ids to names.
    pub fn dictionary_names(&self) -> impl Fn(u32) -> String + '_ {
        |id| self.dictionary.name(id).to_string()
    }
}
