//! The one place that maps a segment file: everything else sees a bounds-checked `&[u8]`.
//!
//! A media error while a mapped page is read in is a SIGBUS, not an `io::Error`. `Segment::open`
//! reads every byte once (the CRCs), so such a disk fails at start-up rather than mid-query.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use super::SegmentError;

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
