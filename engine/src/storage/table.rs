//! A table's rows on one shard: its partitions (one per symbol this shard owns) and the
//! dictionary of its SYMBOL columns. The shard's executor is the only writer and reader.

use ahash::AHashMap;

use super::chunk::{Chunk, ColumnChunk, ColumnData};
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

    /// Converts `rows` of `batch` (all of them when `None`) into a chunk of this table.
    fn chunk_from_batch(&mut self, batch: &RowBatch, rows: Option<&[u32]>) -> Chunk {
        let mut columns = Vec::with_capacity(batch.columns.len());
        for (index, column) in batch.columns.iter().enumerate() {
            if index == self.schema.symbol_index {
                columns.push(ColumnChunk::empty(self.types[index], true));
                continue;
            }
            let taken;
            let (values, nulls) = match rows {
                Some(rows) => {
                    taken = column.values.take(rows);
                    let nulls = column
                        .nulls
                        .as_ref()
                        .map(|m| rows.iter().map(|&r| m[r as usize]).collect());
                    (&taken, nulls)
                }
                None => (&column.values, column.nulls.clone()),
            };
            let data = self.column_data(values);
            let zone = super::chunk::zone_of(&data, nulls.as_deref(), 0, batch_len(values));
            columns.push(ColumnChunk { data, nulls, zone });
        }
        let rows_count = rows.map_or(batch.rows_count, <[u32]>::len);
        Chunk {
            columns,
            rows_count,
        }
    }

    fn column_data(&mut self, values: &ColumnValues) -> ColumnData {
        match values {
            ColumnValues::Int64(v) => ColumnData::Int64(v.clone()),
            ColumnValues::Int32(v) => ColumnData::Int32(v.clone()),
            ColumnValues::Float64(v) => ColumnData::Float64(v.clone()),
            ColumnValues::Float32(v) => ColumnData::Float32(v.clone()),
            ColumnValues::Bool(v) => ColumnData::Bool(v.clone()),
            ColumnValues::Timestamp(v) => ColumnData::Timestamp(v.clone()),
            ColumnValues::Symbol(v) => ColumnData::SymbolIds(
                (0..v.len())
                    .map(|i| self.dictionary.intern(v.get(i)))
                    .collect(),
            ),
        }
    }
}

fn batch_len(values: &ColumnValues) -> usize {
    values.len()
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
