//! Filling the joined chunk of a co-located ASOF join: the rows it holds are segments of a left
//! chunk, each meeting rows of one right chunk (or none); left columns are copied segment by
//! segment, right columns gathered at the met rows, one pass per column.

use std::ops::Range;

use crate::error::EngineError;
use crate::storage::chunk::{Chunk, ColumnChunk, ColumnData};
use crate::storage::column_vec::{ColumnValue, ColumnVec};

/// Left rows (positions in the walked rows) and the right chunk they meet, if any.
pub(super) type Segment = (Range<usize>, Option<u32>);

/// Refills `to` with the rows of `from` at `segments`, shifted by `offset` (the position of the
/// walked rows in the chunk). `to` holds the same type as `from`.
pub(super) fn copy_segments(
    to: &mut ColumnChunk,
    from: &ColumnChunk,
    offset: usize,
    segments: &[Segment],
) -> Result<(), EngineError> {
    fn refill<T: ColumnValue>(
        to: &mut ColumnVec<T>,
        from: &[T],
        offset: usize,
        segments: &[Segment],
    ) {
        let to = to.to_mut();
        to.clear();
        for (rows, _) in segments {
            to.extend_from_slice(&from[rows.start + offset..rows.end + offset]);
        }
    }
    match (&mut to.data, &from.data) {
        (ColumnData::Int64(a), ColumnData::Int64(b))
        | (ColumnData::Timestamp(a), ColumnData::Timestamp(b)) => refill(a, b, offset, segments),
        (ColumnData::Int32(a), ColumnData::Int32(b)) => refill(a, b, offset, segments),
        (ColumnData::Float64(a), ColumnData::Float64(b)) => refill(a, b, offset, segments),
        (ColumnData::Float32(a), ColumnData::Float32(b)) => refill(a, b, offset, segments),
        (ColumnData::Bool(a), ColumnData::Bool(b)) => refill(a, b, offset, segments),
        (ColumnData::SymbolIds(a), ColumnData::SymbolIds(b)) => refill(a, b, offset, segments),
        (ColumnData::PartitionKey, ColumnData::PartitionKey) => {}
        (to, from) => {
            return Err(internal(format!(
                "a joined column of {} copies a left column of {}",
                kind(to),
                kind(from)
            )))
        }
    }
    to.nulls = from.nulls.as_ref().map(|nulls| {
        let mut mask = ColumnVec::from(Vec::new());
        refill(&mut mask, nulls, offset, segments);
        mask
    });
    // The bounds of the whole column still bound the copied rows.
    to.zone = from.zone;
    Ok(())
}

/// Refills `to` with the right column `column` at the rows `segments` meet: `rows[i]` is the row
/// that left row `i` meets in its segment's right chunk. NULL in segments that meet none.
pub(super) fn gather_segments(
    to: &mut ColumnChunk,
    chunks: &[Chunk],
    column: usize,
    rows: &[u32],
    segments: &[Segment],
) -> Result<(), EngineError> {
    let source = Source {
        chunks,
        column,
        rows,
    };
    match &mut to.data {
        ColumnData::Int64(v) | ColumnData::Timestamp(v) => source.gather(v, segments)?,
        ColumnData::Int32(v) => source.gather(v, segments)?,
        ColumnData::Float64(v) => source.gather(v, segments)?,
        ColumnData::Float32(v) => source.gather(v, segments)?,
        ColumnData::Bool(v) => source.gather(v, segments)?,
        ColumnData::SymbolIds(_) | ColumnData::PartitionKey => {
            return Err(internal(format!(
                "a co-located ASOF join gathers symbol column {column}"
            )))
        }
    }
    to.nulls = source.nulls(segments).map(ColumnVec::from);
    Ok(())
}

/// One right column of a partition, and the rows met in it.
struct Source<'a> {
    chunks: &'a [Chunk],
    column: usize,
    rows: &'a [u32],
}

impl Source<'_> {
    fn gather<T: Gather>(
        &self,
        to: &mut ColumnVec<T>,
        segments: &[Segment],
    ) -> Result<(), EngineError> {
        let to = to.to_mut();
        to.clear();
        for (rows, chunk) in segments {
            match chunk {
                Some(chunk) => {
                    let values = self
                        .column_of(*chunk)
                        .and_then(|c| T::values(&c.data))
                        .ok_or_else(|| {
                            internal(format!("right column {} differs by chunk", self.column))
                        })?;
                    let met = &self.rows[rows.clone()];
                    to.extend(met.iter().map(|&row| values[row as usize]));
                }
                None => to.resize(to.len() + rows.len(), T::default()),
            }
        }
        Ok(())
    }

    /// The NULL mask of the gathered rows; `None` when none is NULL.
    fn nulls(&self, segments: &[Segment]) -> Option<Vec<bool>> {
        let mask_of = |chunk: u32| self.column_of(chunk)?.nulls.as_deref();
        let any_null = segments
            .iter()
            .any(|(_, chunk)| chunk.is_none_or(|c| mask_of(c).is_some()));
        if !any_null {
            return None;
        }
        let mut out = Vec::new();
        for (rows, chunk) in segments {
            match chunk.map(mask_of) {
                Some(Some(mask)) => {
                    let met = &self.rows[rows.clone()];
                    out.extend(met.iter().map(|&row| mask[row as usize]));
                }
                Some(None) => out.resize(out.len() + rows.len(), false),
                None => out.resize(out.len() + rows.len(), true),
            }
        }
        Some(out)
    }

    fn column_of(&self, chunk: u32) -> Option<&ColumnChunk> {
        self.chunks.get(chunk as usize)?.columns.get(self.column)
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

/// The name of a column's storage, for errors.
fn kind(data: &ColumnData) -> &'static str {
    match data {
        ColumnData::Int64(_) => "Int64",
        ColumnData::Int32(_) => "Int32",
        ColumnData::Float64(_) => "Float64",
        ColumnData::Float32(_) => "Float32",
        ColumnData::Bool(_) => "Bool",
        ColumnData::Timestamp(_) => "Timestamp",
        ColumnData::SymbolIds(_) => "SymbolIds",
        ColumnData::PartitionKey => "PartitionKey",
    }
}

fn internal(detail: String) -> EngineError {
    EngineError::Internal { detail }
}
