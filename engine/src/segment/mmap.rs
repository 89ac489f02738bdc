//! The one place that maps a segment file: everything else sees a bounds-checked `&[u8]`, or a
//! `MappedSlice<T>` whose length and alignment were checked once, when it was made.
//!
//! A media error while a mapped page is read in is a SIGBUS, not an `io::Error`. `Segment::open`
//! reads every byte once (the CRCs), so such a disk fails at start-up rather than mid-query.

use std::fs::File;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use bytemuck::Pod;
use memmap2::Mmap;

use super::SegmentError;

// Values are viewed in place in the little-endian file: a big-endian build would read every
// one of them byte-swapped.
#[cfg(not(target_endian = "little"))]
compile_error!("QuectoDB maps little-endian segment files in place: little-endian targets only");

/// A segment file mapped read-only for as long as this value lives.
#[derive(Debug)]
pub(crate) struct MappedFile {
    map: Mmap,
}

impl MappedFile {
    /// Maps `path` read-only. A file shorter than `size_min` is `Corrupt` and is not mapped
    /// (an empty file cannot be mapped at all).
    pub(crate) fn open(path: &Path, size_min: u64) -> Result<MappedFile, SegmentError> {
        let io = |operation| {
            move |source| SegmentError::Io {
                path: path.to_path_buf(),
                operation,
                source,
            }
        };
        let file = File::open(path).map_err(io("open"))?;
        let size = file.metadata().map_err(io("stat"))?.len();
        if size < size_min {
            return Err(SegmentError::Corrupt {
                path: path.to_path_buf(),
                detail: format!("file is {size} bytes, shorter than header and trailer"),
                offset: size,
            });
        }
        // SAFETY: `Mmap::map` is unsafe because another process could modify or truncate the
        // file while it is mapped, which would change or SIGBUS the bytes behind our `&[u8]`.
        // Segment files are ours: written under a `.tmp` name, published by rename and never
        // written again. They are never truncated in place: a rewrite renames a new inode over
        // the name, and both rename and unlink keep the mapped inode alive. This handle is
        // read-only. Every read of the map goes through bounds-checked slice indexing against
        // `map.len()`, so a corrupt offset in the file is an error, never an out-of-bounds read.
        let map = unsafe { Mmap::map(&file) }.map_err(io("mmap"))?;
        Ok(MappedFile { map })
    }

    /// The file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }
}

/// `len` values of type `T` at byte `offset` of a mapped segment, viewed in place. It keeps
/// the mapping alive, so a sealed column stays readable after its file is replaced or removed.
pub struct MappedSlice<T> {
    file: Arc<MappedFile>,
    offset: usize,
    len: usize,
    values: PhantomData<fn() -> T>,
}

impl<T: Pod> MappedSlice<T> {
    /// The `size` bytes at `offset` of `file` as values of `T`; `None` when they are outside
    /// the file, not a whole number of values, or not aligned for `T` (the format aligns every
    /// block to 8 bytes in a page-aligned map, so a good file always fits).
    pub(crate) fn new(file: &Arc<MappedFile>, offset: usize, size: usize) -> Option<Self> {
        let bytes = file.bytes().get(offset..offset.checked_add(size)?)?;
        let values: &[T] = bytemuck::try_cast_slice(bytes).ok()?;
        Some(MappedSlice {
            file: Arc::clone(file),
            offset,
            len: values.len(),
            values: PhantomData,
        })
    }

    /// The values.
    pub fn as_slice(&self) -> &[T] {
        let end = self.offset + self.len * std::mem::size_of::<T>();
        // `new` checked this very range for bounds, length and alignment; the map neither
        // moves nor shrinks while `self.file` holds it, so the cast cannot fail here.
        bytemuck::cast_slice(&self.file.bytes()[self.offset..end])
    }

    /// Whether `other` views the same bytes of the same mapping.
    pub fn same_view(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.file, &other.file) && self.offset == other.offset && self.len == other.len
    }
}

impl<T> Clone for MappedSlice<T> {
    fn clone(&self) -> Self {
        MappedSlice {
            file: Arc::clone(&self.file),
            offset: self.offset,
            len: self.len,
            values: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for MappedSlice<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MappedSlice({} values at {})", self.len, self.offset)
    }
}
