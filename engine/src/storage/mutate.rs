//! Mutations: `DELETE` and `UPDATE` of one table's rows on one shard, the corrections a tick
//! store needs (a bad print removed, a mistyped price fixed).
//!
//! Design. A `Mutation` is plain data like a query fragment: the table, the symbols it is
//! restricted to (from `symbol = X` / `IN`, so only the owning shards get it), a filter and
//! the action, all bound by the SQL layer against the table. A shard runs it in two steps so
//! that nothing is logged that cannot apply and nothing can fail once it is logged:
//! `prepare_mutation` prunes chunks by zone maps, evaluates the filter and the SET expressions
//! with the fragment evaluator (SET only over the selected rows, so an expression fails only
//! where it applies) and builds the replacement data without touching a partition; the shard
//! then logs the mutation (`RecordKind::Mutation`: the bound filter and assignments
//! serialized) and `apply_mutation` installs the replacements, which cannot fail. The shard
//! runs a mutation alone (it waits for the writes in flight to be applied and admits no new
//! one until it is applied), so the prepared data matches the store it lands in and the log
//! order is the apply order. Evaluation is deterministic (no clock, no randomness: anything
//! time-like is a literal by the time it is bound), so replay runs both steps again over the
//! same rows in the same order and gets the same table.
//!
//! Storage invariants. An UPDATE rewrites only the assigned columns of the chunks it touches:
//! exact zones recomputed, the chunk's aggregate memo cleared, the chunk open again (a sealed
//! chunk's other columns stay mapped until the next checkpoint rewrites it). One that assigns the designated
//! timestamp re-sorts the whole partition (stably: equal timestamps keep their order). A DELETE
//! rebuilds each touched partition from its first touched chunk on into full chunks (timestamp
//! order, all chunks but the last full, exact zones, empty memos), the cost profile of an
//! out-of-order insert; a partition left without rows is removed.

use std::borrow::Cow;

use super::chunk::{zone_of, Chunk, ColumnChunk, ColumnData};
use super::column_vec::{ColumnValue, ColumnVec};
use super::dictionary::SymbolDictionary;
use super::partition::{Layout, Partition};
use super::store::ShardStore;
use super::table::{table_layout, TableStore};
use crate::batch::SymbolKey;
use crate::error::EngineError;
use crate::fragment::eval::{evaluate, selection, EvalContext};
use crate::fragment::plan::ScalarExpr;
use crate::fragment::prune::{verdict, PruneContext, Verdict};
use crate::fragment::vector::{Column, Vector};
use crate::types::{DataType, Value};

/// `column = value` in an UPDATE.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    /// The assigned column, by schema index.
    pub column: usize,
    /// The new value, evaluated over the row's values before the update.
    pub value: ScalarExpr,
}

/// What a mutation does to the rows its filter selects.
#[derive(Clone, Debug, PartialEq)]
pub enum MutationAction {
    /// Removes them.
    Delete,
    /// Sets columns (all evaluated before any is written, as SQL's SET does).
    Update(Vec<Assignment>),
}

/// A DELETE or UPDATE of one table, as shards run and log it.
#[derive(Clone, Debug, PartialEq)]
pub struct Mutation {
    /// The table.
    pub table: String,
    /// Only these symbols' partitions when `Some`; every partition when `None`.
    pub symbols: Option<Vec<SymbolKey>>,
    /// The rows affected (NULL counts as false); every row when `None`.
    pub filter: Option<ScalarExpr>,
    /// What happens to them.
    pub action: MutationAction,
}

/// A mutation worked out against a table but not yet installed (see the module doc).
#[derive(Debug)]
pub struct PreparedMutation {
    table: String,
    edits: Vec<PartitionEdit>,
    rows_affected: u64,
}

impl PreparedMutation {
    /// Rows the mutation deletes or updates.
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

/// The changes to one partition.
#[derive(Debug)]
struct PartitionEdit {
    partition: usize,
    /// Changed chunks, by ascending chunk index.
    chunks: Vec<(usize, ChunkEdit)>,
    /// The timestamp column changed: the partition must be re-sorted.
    resort: bool,
}

/// The change to one chunk.
#[derive(Debug)]
enum ChunkEdit {
    /// The rows that remain after a DELETE (a staging chunk, no zones).
    Keep(Chunk),
    /// New versions of the assigned columns (zones exact).
    Columns(Vec<(usize, ColumnChunk)>),
}

/// The rows of a chunk that a filter selects, when any.
enum Selected {
    All,
    Rows(Vec<u32>),
}

impl ShardStore {
    /// Works out `mutation` without changing any row; an error leaves the store as it was.
    /// Strings an UPDATE assigns are interned in the table's dictionary already (unused ids
    /// are harmless).
    pub fn prepare_mutation(
        &mut self,
        mutation: &Mutation,
    ) -> Result<PreparedMutation, EngineError> {
        let table = self.table_mut(&mutation.table)?;
        let (edits, rows_affected) = table.prepare_mutation(mutation)?;
        Ok(PreparedMutation {
            table: mutation.table.clone(),
            edits,
            rows_affected,
        })
    }

    /// Installs a mutation prepared against this store with no write in between; returns the
    /// rows affected.
    pub fn apply_mutation(&mut self, prepared: PreparedMutation) -> Result<u64, EngineError> {
        self.table_mut(&prepared.table)?.apply_edits(prepared.edits);
        Ok(prepared.rows_affected)
    }

    /// Prepares and applies `mutation` (log replay, tests); returns the rows affected.
    pub fn mutate(&mut self, mutation: &Mutation) -> Result<u64, EngineError> {
        let prepared = self.prepare_mutation(mutation)?;
        self.apply_mutation(prepared)
    }
}

impl TableStore {
    fn prepare_mutation(
        &mut self,
        mutation: &Mutation,
    ) -> Result<(Vec<PartitionEdit>, u64), EngineError> {
        self.settle();
        if let MutationAction::Update(assignments) = &mutation.action {
            self.check_assignments(assignments)?;
        }
        let targets: Vec<usize> = match &mutation.symbols {
            Some(keys) => {
                let mut found: Vec<usize> = keys
                    .iter()
                    .filter_map(|k| self.partition_index(k))
                    .collect();
                found.sort_unstable();
                found.dedup();
                found
            }
            None => (0..self.partitions.len()).collect(),
        };
        let mut edits = Vec::new();
        let mut rows_affected = 0u64;
        for partition_index in targets {
            let mut edit = PartitionEdit {
                partition: partition_index,
                chunks: Vec::new(),
                resort: false,
            };
            let partition = &self.partitions[partition_index];
            for (chunk_index, chunk) in partition.chunks.iter().enumerate() {
                let Some(selected) = select_rows(
                    mutation.filter.as_ref(),
                    partition,
                    chunk,
                    self.schema.symbol_index,
                    &self.dictionary,
                )?
                else {
                    continue;
                };
                rows_affected += match &selected {
                    Selected::All => chunk.rows_count,
                    Selected::Rows(rows) => rows.len(),
                } as u64;
                let change = match &mutation.action {
                    MutationAction::Delete => ChunkEdit::Keep(match &selected {
                        Selected::All => Chunk::empty(&self.types, self.schema.symbol_index),
                        Selected::Rows(rows) => chunk.take(&complement(rows, chunk.rows_count)),
                    }),
                    MutationAction::Update(assignments) => {
                        edit.resort |= assignments
                            .iter()
                            .any(|a| a.column == self.schema.timestamp_index);
                        let target = UpdateTarget {
                            chunk,
                            key: &partition.key,
                            selected: &selected,
                        };
                        ChunkEdit::Columns(target.assign(
                            assignments,
                            &self.schema,
                            &mut self.dictionary,
                        )?)
                    }
                };
                edit.chunks.push((chunk_index, change));
            }
            if !edit.chunks.is_empty() {
                edits.push(edit);
            }
        }
        Ok((edits, rows_affected))
    }

    /// Refuses assignments the storage cannot honour: unknown columns, the symbol column
    /// (it decides which partition and shard hold a row) and a column assigned twice.
    fn check_assignments(&self, assignments: &[Assignment]) -> Result<(), EngineError> {
        for (index, assignment) in assignments.iter().enumerate() {
            let Some(column) = self.schema.columns.get(assignment.column) else {
                return Err(EngineError::Internal {
                    detail: format!(
                        "UPDATE of column #{} of `{}`, which has {} columns",
                        assignment.column,
                        self.schema.name,
                        self.schema.columns.len()
                    ),
                });
            };
            if assignment.column == self.schema.symbol_index {
                return Err(EngineError::Evaluation {
                    detail: format!(
                        "an UPDATE of the symbol column `{}`: it decides which shard holds a row",
                        column.name
                    ),
                });
            }
            if assignments[..index]
                .iter()
                .any(|a| a.column == assignment.column)
            {
                return Err(EngineError::Evaluation {
                    detail: format!("an UPDATE that assigns `{}` twice", column.name),
                });
            }
        }
        Ok(())
    }

    fn apply_edits(&mut self, edits: Vec<PartitionEdit>) {
        let layout = table_layout(&self.types, &self.schema);
        for edit in edits {
            let partition = &mut self.partitions[edit.partition];
            let mut kept = Vec::new();
            for (chunk_index, change) in edit.chunks {
                match change {
                    ChunkEdit::Columns(columns) => {
                        let chunk = &mut partition.chunks[chunk_index];
                        // A sealed chunk's rows change: it is open again (see `chunk`).
                        chunk.reopen();
                        for (column, data) in columns {
                            chunk.columns[column] = data;
                        }
                    }
                    ChunkEdit::Keep(rows) => kept.push((chunk_index, rows)),
                }
            }
            if !kept.is_empty() {
                keep_rows(partition, kept, layout);
            }
            if edit.resort {
                resort(partition, layout);
            }
            partition.rows_count = partition.chunks.iter().map(|c| c.rows_count).sum();
        }
        self.drop_empty_partitions();
    }
}

/// The rows of `chunk` that `filter` selects (zone maps first); `None` when none are.
fn select_rows(
    filter: Option<&ScalarExpr>,
    partition: &Partition,
    chunk: &Chunk,
    symbol_index: usize,
    dictionary: &SymbolDictionary,
) -> Result<Option<Selected>, EngineError> {
    let Some(filter) = filter else {
        return Ok(Some(Selected::All));
    };
    let prune = PruneContext {
        chunk,
        key: &partition.key,
        symbol_index,
    };
    match verdict(filter, &prune) {
        Verdict::Skip => return Ok(None),
        Verdict::All => return Ok(Some(Selected::All)),
        Verdict::Check => {}
    }
    let ctx = EvalContext::whole(chunk, &partition.key, dictionary);
    let Some(keep) = selection(evaluate(filter, &ctx)?, chunk.rows_count) else {
        return Ok(Some(Selected::All));
    };
    let rows: Vec<u32> = (0..chunk.rows_count as u32)
        .filter(|&row| keep[row as usize])
        .collect();
    Ok(if rows.is_empty() {
        None
    } else if rows.len() == chunk.rows_count {
        Some(Selected::All)
    } else {
        Some(Selected::Rows(rows))
    })
}

/// The row indices below `rows_count` that are not in `rows` (ascending).
fn complement(rows: &[u32], rows_count: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(rows_count - rows.len());
    let mut next = rows.iter().peekable();
    for row in 0..rows_count as u32 {
        if next.next_if_eq(&&row).is_none() {
            out.push(row);
        }
    }
    out
}

/// Replaces the chunks named in `kept` (ascending) by their remaining rows, rebuilding the
/// partition from the first of them on into full chunks.
fn keep_rows(partition: &mut Partition, kept: Vec<(usize, Chunk)>, layout: Layout<'_>) {
    let Some(&(first, _)) = kept.first() else {
        return;
    };
    let tail: Vec<Chunk> = partition.chunks.drain(first..).collect();
    let mut kept = kept.into_iter().peekable();
    for (offset, chunk) in tail.into_iter().enumerate() {
        let rows = match kept.next_if(|(index, _)| *index == first + offset) {
            Some((_, rows)) => rows,
            None => chunk,
        };
        partition.append_in_order(&rows, layout);
    }
}

/// Rebuilds `partition` in timestamp order (stable), after its timestamps were assigned.
fn resort(partition: &mut Partition, layout: Layout<'_>) {
    let mut all = Chunk::empty(layout.types, layout.symbol_index);
    for chunk in &partition.chunks {
        all.extend_from(chunk, 0, chunk.rows_count);
    }
    *partition = Partition::new(partition.key.clone());
    partition.append(all, layout);
}

/// The selected rows of one chunk, which an UPDATE rewrites.
struct UpdateTarget<'a> {
    chunk: &'a Chunk,
    key: &'a SymbolKey,
    selected: &'a Selected,
}

impl UpdateTarget<'_> {
    /// The new versions of the assigned columns. Every value is computed from the rows as
    /// they were, before any column is replaced.
    fn assign(
        &self,
        assignments: &[Assignment],
        schema: &crate::schema::TableSchema,
        dictionary: &mut SymbolDictionary,
    ) -> Result<Vec<(usize, ColumnChunk)>, EngineError> {
        let rows: Cow<'_, Chunk> = match self.selected {
            Selected::All => Cow::Borrowed(self.chunk),
            Selected::Rows(rows) => Cow::Owned(self.chunk.take(rows)),
        };
        let values: Vec<Column<'static>> = {
            let ctx = EvalContext::whole(&rows, self.key, &*dictionary);
            assignments
                .iter()
                .map(|a| evaluate(&a.value, &ctx).map(detach))
                .collect::<Result<_, _>>()?
        };
        let mut columns = Vec::with_capacity(assignments.len());
        for (assignment, value) in assignments.iter().zip(values) {
            let column = &schema.columns[assignment.column];
            let (data, nulls) = cast(&value, column.data_type, rows.rows_count, dictionary)
                .map_err(|what| EngineError::Evaluation {
                    detail: format!(
                        "UPDATE of column `{}` ({}): {what}",
                        column.name, column.data_type
                    ),
                })?;
            let any_null = nulls.as_ref().is_some_and(|mask| mask.contains(&true));
            if assignment.column == schema.timestamp_index && any_null {
                return Err(EngineError::Evaluation {
                    detail: format!(
                        "UPDATE of column `{}`: the designated timestamp cannot be NULL",
                        column.name
                    ),
                });
            }
            columns.push((
                assignment.column,
                self.scatter(assignment.column, data, nulls),
            ));
        }
        Ok(columns)
    }

    /// Column `column` of the chunk with the selected rows set to `data` / `nulls` (one
    /// entry per selected row), its zone recomputed.
    fn scatter(&self, column: usize, data: ColumnData, nulls: Option<Vec<bool>>) -> ColumnChunk {
        let old = &self.chunk.columns[column];
        let rows_count = self.chunk.rows_count;
        let (data, nulls) = match self.selected {
            Selected::All => (data, nulls),
            Selected::Rows(rows) => {
                let mut mask = match &old.nulls {
                    Some(mask) => mask.to_vec(),
                    None => vec![false; rows_count],
                };
                for (i, &row) in rows.iter().enumerate() {
                    mask[row as usize] = nulls.as_ref().is_some_and(|n| n[i]);
                }
                (scatter_data(&old.data, rows, data), Some(mask))
            }
        };
        let nulls = nulls
            .filter(|mask| mask.contains(&true))
            .map(ColumnVec::from);
        let zone = zone_of(&data, nulls.as_deref(), 0, rows_count);
        ColumnChunk { data, nulls, zone }
    }
}

/// `old` with the values at `rows` replaced by `new` (same type, one value per row).
fn scatter_data(old: &ColumnData, rows: &[u32], new: ColumnData) -> ColumnData {
    fn put<T: ColumnValue>(old: &[T], rows: &[u32], new: ColumnVec<T>) -> ColumnVec<T> {
        let mut out = old.to_vec();
        for (&row, &value) in rows.iter().zip(new.iter()) {
            out[row as usize] = value;
        }
        out.into()
    }
    match (old, new) {
        (ColumnData::Int64(o), ColumnData::Int64(n)) => ColumnData::Int64(put(o, rows, n)),
        (ColumnData::Int32(o), ColumnData::Int32(n)) => ColumnData::Int32(put(o, rows, n)),
        (ColumnData::Float64(o), ColumnData::Float64(n)) => ColumnData::Float64(put(o, rows, n)),
        (ColumnData::Float32(o), ColumnData::Float32(n)) => ColumnData::Float32(put(o, rows, n)),
        (ColumnData::Bool(o), ColumnData::Bool(n)) => ColumnData::Bool(put(o, rows, n)),
        (ColumnData::Timestamp(o), ColumnData::Timestamp(n)) => {
            ColumnData::Timestamp(put(o, rows, n))
        }
        (ColumnData::SymbolIds(o), ColumnData::SymbolIds(n)) => {
            ColumnData::SymbolIds(put(o, rows, n))
        }
        (o, n) => unreachable!("`cast` builds the column's own type: {o:?} vs {n:?}"),
    }
}

/// A column that owns its values, so it outlives the evaluation context it came from.
fn detach(column: Column<'_>) -> Column<'static> {
    fn own<T: Clone>(values: Cow<'_, [T]>) -> Cow<'static, [T]> {
        Cow::Owned(values.into_owned())
    }
    let data = match column.data {
        Vector::Int(v) => Vector::Int(own(v)),
        Vector::Float(v) => Vector::Float(own(v)),
        Vector::Bool(v) => Vector::Bool(own(v)),
        Vector::Sym(v) => Vector::Sym(own(v)),
        Vector::Const(v) => Vector::Const(v),
    };
    Column {
        data,
        nulls: column.nulls.map(own),
    }
}

/// `value` over `rows` rows stored as `target`: the values (a NULL row holds the type's
/// default) and the NULL mask when any row is NULL. `Err` names what does not fit.
fn cast(
    value: &Column<'_>,
    target: DataType,
    rows: usize,
    dictionary: &mut SymbolDictionary,
) -> Result<(ColumnData, Option<Vec<bool>>), String> {
    let nulls = match &value.data {
        Vector::Const(Value::Null) => Some(vec![true; rows]),
        Vector::Const(_) => None,
        _ => value.nulls.as_ref().map(|mask| mask.to_vec()),
    };
    let is_null = |row: usize| nulls.as_ref().is_some_and(|mask| mask[row]);
    let mismatch = || format!("cannot store {} in it", kind(&value.data));
    let data = match target {
        DataType::Int64 | DataType::UInt64 => {
            ColumnData::Int64(ints(value, rows).ok_or_else(mismatch)?.into())
        }
        DataType::Timestamp => {
            ColumnData::Timestamp(ints(value, rows).ok_or_else(mismatch)?.into())
        }
        DataType::Int32 => {
            let wide = ints(value, rows).ok_or_else(mismatch)?;
            let mut narrow = Vec::with_capacity(rows);
            for (row, &x) in wide.iter().enumerate() {
                match i32::try_from(x) {
                    Ok(v) => narrow.push(v),
                    Err(_) if is_null(row) => narrow.push(0),
                    Err(_) => return Err(format!("{x} does not fit in INT32")),
                }
            }
            ColumnData::Int32(narrow.into())
        }
        DataType::Float64 => ColumnData::Float64(floats(value, rows).ok_or_else(mismatch)?.into()),
        DataType::Float32 => ColumnData::Float32(
            floats(value, rows)
                .ok_or_else(mismatch)?
                .into_iter()
                .map(|x| x as f32)
                .collect(),
        ),
        DataType::Bool => ColumnData::Bool(match &value.data {
            Vector::Bool(v) => v.to_vec().into(),
            Vector::Const(Value::Bool(x)) => vec![*x; rows].into(),
            Vector::Const(Value::Null) => vec![false; rows].into(),
            _ => return Err(mismatch()),
        }),
        DataType::Symbol => ColumnData::SymbolIds(match &value.data {
            Vector::Sym(ids) => ids.to_vec().into(),
            Vector::Const(Value::Str(text)) => vec![dictionary.intern(text); rows].into(),
            // NULL rows hold the empty string's id, as inserted NULLs do.
            Vector::Const(Value::Null) => vec![dictionary.intern(""); rows].into(),
            _ => return Err(mismatch()),
        }),
    };
    Ok((data, nulls))
}

/// Integer values (integers, timestamps, or NULL as 0), when the column is integral.
fn ints(value: &Column<'_>, rows: usize) -> Option<Vec<i64>> {
    match &value.data {
        Vector::Int(v) => Some(v.to_vec()),
        Vector::Const(Value::Int(x)) => Some(vec![*x; rows]),
        Vector::Const(Value::Null) => Some(vec![0; rows]),
        _ => None,
    }
}

/// Float values (integers converted, NULL as 0), when the column is numeric.
fn floats(value: &Column<'_>, rows: usize) -> Option<Vec<f64>> {
    match &value.data {
        Vector::Float(v) => Some(v.to_vec()),
        Vector::Int(v) => Some(v.iter().map(|&x| x as f64).collect()),
        Vector::Const(Value::Float(x)) => Some(vec![*x; rows]),
        Vector::Const(Value::Int(x)) => Some(vec![*x as f64; rows]),
        Vector::Const(Value::Null) => Some(vec![0.0; rows]),
        _ => None,
    }
}

fn kind(data: &Vector<'_>) -> &'static str {
    match data {
        Vector::Int(_) | Vector::Const(Value::Int(_)) => "an integer",
        Vector::Float(_) | Vector::Const(Value::Float(_)) => "a float",
        Vector::Bool(_) | Vector::Const(Value::Bool(_)) => "a boolean",
        Vector::Sym(_) | Vector::Const(Value::Str(_)) => "a string",
        Vector::Const(Value::Null) => "NULL",
    }
}

#[cfg(test)]
mod tests;
