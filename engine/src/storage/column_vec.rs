//! `ColumnVec<T>`: the values of one column of one chunk, wherever they live.
//!
//! A chunk's column is one of three things, and readers never need to know which: it derefs
//! to `&[T]`.
//! - `Owned`: a heap vector the shard appends to (an open chunk).
//! - `Shared`: the same vector frozen behind an `Arc`, so that a checkpoint's writer thread
//!   reads it while the shard goes on serving it, without a copy (a chunk being sealed).
//! - `Mapped`: a view into a published segment file (a sealed chunk): no heap memory at all.
//!
//! Writers go through `to_mut`, which turns a shared or mapped column into an owned one first
//! (copy-on-write; a shared vector nobody else holds any more is taken back without a copy).
//! Whether a column is still the allocation a checkpoint froze is `same_storage`: that is how
//! a finished checkpoint finds the chunks it may swap for their mapped copies.
//!
//! Fixed-width values (`i64`, `i32`, `f64`, `f32`, `u32`) can be mapped. BOOL values are
//! bitmaps on disk, decoded at load: `bool`'s mapped form is `Infallible`, so a mapped BOOL
//! column cannot even be constructed.

use std::convert::Infallible;
use std::fmt::Debug;
use std::ops::Deref;
use std::sync::Arc;

use crate::segment::MappedSlice;

/// A value type a column can hold.
pub trait ColumnValue: Copy + Debug + PartialEq + Send + Sync + 'static {
    /// How a column of these values is viewed inside a mapped segment file.
    type Mapped: MappedValues<Self>;
}

/// Values viewed in place in a mapped segment file.
pub trait MappedValues<T>: Clone + Debug + Send + Sync {
    /// The values.
    fn values(&self) -> &[T];
    /// Whether `other` is a view of the same bytes.
    fn same_view(&self, other: &Self) -> bool;
}

impl<T: bytemuck::Pod> MappedValues<T> for MappedSlice<T> {
    fn values(&self) -> &[T] {
        self.as_slice()
    }
    fn same_view(&self, other: &Self) -> bool {
        MappedSlice::same_view(self, other)
    }
}

/// BOOL columns are never mapped (bitmaps on disk): there is no value of this type.
impl<T> MappedValues<T> for Infallible {
    fn values(&self) -> &[T] {
        match *self {}
    }
    fn same_view(&self, _other: &Self) -> bool {
        match *self {}
    }
}

impl ColumnValue for i64 {
    type Mapped = MappedSlice<i64>;
}
impl ColumnValue for i32 {
    type Mapped = MappedSlice<i32>;
}
impl ColumnValue for u32 {
    type Mapped = MappedSlice<u32>;
}
impl ColumnValue for f64 {
    type Mapped = MappedSlice<f64>;
}
impl ColumnValue for f32 {
    type Mapped = MappedSlice<f32>;
}
impl ColumnValue for bool {
    type Mapped = Infallible;
}

/// One column's values: owned, frozen for a checkpoint, or mapped from a sealed segment.
pub enum ColumnVec<T: ColumnValue> {
    /// A heap vector this chunk alone holds.
    Owned(Vec<T>),
    /// A heap vector frozen for a checkpoint's writer, which may hold it too.
    Shared(Arc<Vec<T>>),
    /// A read-only view into a published segment file.
    Mapped(T::Mapped),
}

impl<T: ColumnValue> ColumnVec<T> {
    /// The values as a mutable vector: a shared or mapped column becomes owned first (a copy,
    /// unless a shared vector has no other holder left).
    pub fn to_mut(&mut self) -> &mut Vec<T> {
        if !matches!(self, ColumnVec::Owned(_)) {
            let owned = match std::mem::take(self) {
                ColumnVec::Owned(values) => values,
                ColumnVec::Shared(values) => Arc::unwrap_or_clone(values),
                ColumnVec::Mapped(values) => values.values().to_vec(),
            };
            *self = ColumnVec::Owned(owned);
        }
        match self {
            ColumnVec::Owned(values) => values,
            ColumnVec::Shared(_) | ColumnVec::Mapped(_) => unreachable!("made owned just above"),
        }
    }

    /// Keeps the first `len` values; a shared or mapped column copies only those.
    pub fn truncate(&mut self, len: usize) {
        match self {
            ColumnVec::Owned(values) => values.truncate(len),
            ColumnVec::Shared(_) | ColumnVec::Mapped(_) => {
                *self = ColumnVec::Owned(self[..len.min(self.len())].to_vec());
            }
        }
    }

    /// Freezes an owned vector behind an `Arc` (no copy) and returns a handle on the same
    /// storage, for a checkpoint's writer thread.
    pub fn freeze(&mut self) -> ColumnVec<T> {
        if let ColumnVec::Owned(values) = self {
            *self = ColumnVec::Shared(Arc::new(std::mem::take(values)));
        }
        self.clone()
    }

    /// Whether `other` is a handle on this very storage (not merely equal values). An owned
    /// vector is never shared, so it is never the same storage as anything.
    pub fn same_storage(&self, other: &ColumnVec<T>) -> bool {
        match (self, other) {
            (ColumnVec::Shared(a), ColumnVec::Shared(b)) => Arc::ptr_eq(a, b),
            (ColumnVec::Mapped(a), ColumnVec::Mapped(b)) => a.same_view(b),
            (ColumnVec::Owned(_) | ColumnVec::Shared(_) | ColumnVec::Mapped(_), _) => false,
        }
    }

    /// Whether the values are read from a mapped segment file.
    pub fn is_mapped(&self) -> bool {
        matches!(self, ColumnVec::Mapped(_))
    }
}

impl<T: ColumnValue> Deref for ColumnVec<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            ColumnVec::Owned(values) => values,
            ColumnVec::Shared(values) => values,
            ColumnVec::Mapped(values) => values.values(),
        }
    }
}

impl<T: ColumnValue> Default for ColumnVec<T> {
    fn default() -> Self {
        ColumnVec::Owned(Vec::new())
    }
}

impl<T: ColumnValue> From<Vec<T>> for ColumnVec<T> {
    fn from(values: Vec<T>) -> Self {
        ColumnVec::Owned(values)
    }
}

impl<T: ColumnValue> FromIterator<T> for ColumnVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(values: I) -> Self {
        ColumnVec::Owned(values.into_iter().collect())
    }
}

impl<T: ColumnValue> Clone for ColumnVec<T> {
    /// An owned vector is copied; shared and mapped storage is shared.
    fn clone(&self) -> Self {
        match self {
            ColumnVec::Owned(values) => ColumnVec::Owned(values.clone()),
            ColumnVec::Shared(values) => ColumnVec::Shared(Arc::clone(values)),
            ColumnVec::Mapped(values) => ColumnVec::Mapped(values.clone()),
        }
    }
}

impl<T: ColumnValue> PartialEq for ColumnVec<T> {
    /// Equal values, wherever each side keeps them.
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: ColumnValue> Debug for ColumnVec<T> {
    /// The values, printed alike wherever they live.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_column_copies_on_write_and_leaves_the_snapshot_alone() {
        let mut column = ColumnVec::from(vec![1i64, 2, 3]);
        let snapshot = column.freeze();
        assert!(column.same_storage(&snapshot));
        column.to_mut().push(4);
        assert_eq!(*column, [1, 2, 3, 4]);
        assert_eq!(*snapshot, [1, 2, 3], "the writer's snapshot never changes");
        assert!(
            !column.same_storage(&snapshot),
            "a written column is a new allocation"
        );
    }

    #[test]
    fn frozen_column_nobody_else_holds_is_taken_back_without_a_copy() {
        let mut column = ColumnVec::from(vec![7i32; 1000]);
        let pointer = column.as_ptr();
        drop(column.freeze());
        // Compared before the push: growing the vector may move it, whoever held it.
        assert_eq!(column.to_mut().as_ptr(), pointer);
        column.to_mut().push(8);
        assert_eq!(column.len(), 1001);
    }

    #[test]
    fn owned_columns_are_never_the_same_storage_and_compare_by_value() {
        let a = ColumnVec::from(vec![true, false]);
        let b = a.clone();
        assert!(!a.same_storage(&b));
        assert_eq!(a, b);
        let mut shared = a.clone();
        assert_eq!(shared.freeze(), a, "equality ignores where values live");
    }
}
