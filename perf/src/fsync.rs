//! `quecto-bench fsync`: the floor under a durable acknowledgement. No engine, no WAL: one
//! aligned block written with O_DIRECT (`DmaFile::write_at`, the WAL's own write path) at
//! successive offsets, each followed by an `fdatasync`, one sample per write + sync.
//!
//! The file is preallocated and written with zeros (then synced) before the clock starts, as
//! WAL segments are: a write into a hole or an unwritten extent makes `fdatasync` commit
//! file-system metadata too, which is a different (slower) figure than the one the WAL pays.
//! A second loop does the same with `std::fs` (page cache, `write` + `sync_data`) on another
//! pre-zeroed file, for comparison. Both files are removed at the end, also on failure.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::io::{DmaFile, OpenOptions};
use glommio::{GlommioError, LocalExecutorBuilder, Placement};
use hdrhistogram::Histogram;

use crate::cli::LoopCounts;
use crate::error::BenchError;
use crate::limits::{FSYNC_FILE_SIZE, FSYNC_IO_MEMORY_SIZE, FSYNC_ZERO_CHUNK_SIZE};
use crate::report::{histogram_new, latency_line, latency_record};

/// Byte written over the zeros in each measured block (any non-zero value: the write must
/// change the block, or a clever device could skip it).
const BLOCK_FILL_BYTE: u8 = 0xA5;

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsyncConfig {
    /// Existing directory the scratch files are created in.
    pub dir: PathBuf,
    /// Warm-up and measured samples, per loop.
    pub counts: LoopCounts,
    /// Bytes per write; a multiple of `FSYNC_BLOCK_SIZE_MIN`.
    pub block_size: usize,
}

/// One loop's latencies and the wall time of its measured part.
struct Samples {
    histogram: Histogram<u64>,
    elapsed: Duration,
}

/// Runs both loops and returns the `fsync` (O_DIRECT) and `fsync_buffered` report lines.
pub fn fsync_run(config: &FsyncConfig) -> Result<Vec<String>, BenchError> {
    dir_check(&config.dir)?;
    let direct = fsync_direct_run(config)?;
    let buffered = fsync_buffered_run(config)?;
    Ok(vec![
        latency_line("fsync", &direct.histogram, direct.elapsed),
        latency_line("fsync_buffered", &buffered.histogram, buffered.elapsed),
    ])
}

fn dir_check(dir: &Path) -> Result<(), BenchError> {
    match std::fs::metadata(dir) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(BenchError::Argument {
            name: "dir",
            detail: format!("{} is not a directory", dir.display()),
        }),
        Err(source) => Err(BenchError::Io {
            operation: "inspect",
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// The byte offset of sample `sample_index`: successive blocks, wrapping at the end of the
/// file. With 4 KiB blocks in 64 MiB there are 16384 slots, so sample 16384 rewrites slot 0.
fn block_offset(sample_index: u64, block_size: usize) -> u64 {
    let slots_count = FSYNC_FILE_SIZE / block_size as u64;
    debug_assert!(slots_count >= 1);
    (sample_index % slots_count) * block_size as u64
}

fn scratch_path(dir: &Path, kind: &str) -> PathBuf {
    dir.join(format!("quecto-bench-{kind}-{}.dat", std::process::id()))
}

fn io_error(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BenchError {
    let path = path.to_path_buf();
    move |source| BenchError::Io {
        operation,
        path,
        source,
    }
}

fn glommio_error(
    operation: &'static str,
    path: &Path,
) -> impl FnOnce(GlommioError<()>) -> BenchError {
    let io = io_error(operation, path);
    move |error| io(std::io::Error::from(error))
}

fn short_write(path: &Path, written: usize, expected: usize) -> BenchError {
    BenchError::Io {
        operation: "write",
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            format!("short write: {written} of {expected} bytes"),
        ),
    }
}

/// The O_DIRECT loop, on its own glommio executor (io_uring, like the WAL's shards).
fn fsync_direct_run(config: &FsyncConfig) -> Result<Samples, BenchError> {
    let executor = LocalExecutorBuilder::new(Placement::Unbound)
        .name("quecto-bench-fsync")
        .io_memory(FSYNC_IO_MEMORY_SIZE)
        .make()
        .map_err(|e| BenchError::Executor {
            detail: format!(
                "cannot start the fsync executor: {e} (it needs io_uring and \
                 {FSYNC_IO_MEMORY_SIZE} bytes of RLIMIT_MEMLOCK)"
            ),
        })?;
    let path = scratch_path(&config.dir, "fsync");
    executor.run(fsync_direct_measure(config, &path))
}

async fn fsync_direct_measure(config: &FsyncConfig, path: &Path) -> Result<Samples, BenchError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .dma_open(path)
        .await
        .map_err(glommio_error("create", path))?;
    let scratch = ScratchFile::created(path);
    let measured = fsync_direct_measure_file(config, &file, path).await;
    let closed = file.close().await.map_err(glommio_error("close", path));
    let samples = measured?;
    closed?;
    scratch.remove()?;
    Ok(samples)
}

async fn fsync_direct_measure_file(
    config: &FsyncConfig,
    file: &DmaFile,
    path: &Path,
) -> Result<Samples, BenchError> {
    fsync_direct_prezero(file, path).await?;
    let mut block = file.alloc_dma_buffer(config.block_size);
    block.as_bytes_mut().fill(BLOCK_FILL_BYTE);
    let block = Rc::new(block);
    let LoopCounts { count, warmup } = config.counts;
    let mut histogram = histogram_new()?;
    let mut started = Instant::now();
    for sample_index in 0..warmup + count {
        if sample_index == warmup {
            started = Instant::now();
        }
        let offset = block_offset(sample_index, config.block_size);
        let sent = Instant::now();
        let written = file
            .write_rc_at(Rc::clone(&block), offset)
            .await
            .map_err(glommio_error("write", path))?;
        file.fdatasync()
            .await
            .map_err(glommio_error("fdatasync", path))?;
        let latency = sent.elapsed();
        if written != config.block_size {
            return Err(short_write(path, written, config.block_size));
        }
        if sample_index >= warmup {
            latency_record(&mut histogram, latency);
        }
    }
    Ok(Samples {
        histogram,
        elapsed: started.elapsed(),
    })
}

/// Allocates `FSYNC_FILE_SIZE` bytes, writes zeros over all of them and syncs, so every
/// measured write lands on an allocated, written extent (as in a pre-zeroed WAL segment).
async fn fsync_direct_prezero(file: &DmaFile, path: &Path) -> Result<(), BenchError> {
    file.pre_allocate(FSYNC_FILE_SIZE, false)
        .await
        .map_err(glommio_error("preallocate", path))?;
    let mut zeros = file.alloc_dma_buffer(FSYNC_ZERO_CHUNK_SIZE);
    zeros.as_bytes_mut().fill(0);
    let zeros = Rc::new(zeros);
    let chunks_count = FSYNC_FILE_SIZE / FSYNC_ZERO_CHUNK_SIZE as u64;
    for chunk_index in 0..chunks_count {
        let offset = chunk_index * FSYNC_ZERO_CHUNK_SIZE as u64;
        let written = file
            .write_rc_at(Rc::clone(&zeros), offset)
            .await
            .map_err(glommio_error("zero", path))?;
        if written != FSYNC_ZERO_CHUNK_SIZE {
            return Err(short_write(path, written, FSYNC_ZERO_CHUNK_SIZE));
        }
    }
    file.fdatasync()
        .await
        .map_err(glommio_error("fdatasync", path))
}

/// The page-cache loop: `pwrite` of the same block, then `sync_data` (fdatasync).
fn fsync_buffered_run(config: &FsyncConfig) -> Result<Samples, BenchError> {
    let path = scratch_path(&config.dir, "fsync-buffered");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io_error("create", &path))?;
    let scratch = ScratchFile::created(&path);
    let samples = fsync_buffered_measure(config, &file, &path)?;
    drop(file);
    scratch.remove()?;
    Ok(samples)
}

fn fsync_buffered_measure(
    config: &FsyncConfig,
    file: &File,
    path: &Path,
) -> Result<Samples, BenchError> {
    let zeros = vec![0u8; FSYNC_ZERO_CHUNK_SIZE];
    let chunks_count = FSYNC_FILE_SIZE / FSYNC_ZERO_CHUNK_SIZE as u64;
    for chunk_index in 0..chunks_count {
        let offset = chunk_index * FSYNC_ZERO_CHUNK_SIZE as u64;
        file.write_all_at(&zeros, offset)
            .map_err(io_error("zero", path))?;
    }
    file.sync_data().map_err(io_error("fdatasync", path))?;
    let block = vec![BLOCK_FILL_BYTE; config.block_size];
    let LoopCounts { count, warmup } = config.counts;
    let mut histogram = histogram_new()?;
    let mut started = Instant::now();
    for sample_index in 0..warmup + count {
        if sample_index == warmup {
            started = Instant::now();
        }
        let offset = block_offset(sample_index, config.block_size);
        let sent = Instant::now();
        file.write_all_at(&block, offset)
            .map_err(io_error("write", path))?;
        file.sync_data().map_err(io_error("fdatasync", path))?;
        if sample_index >= warmup {
            latency_record(&mut histogram, sent.elapsed());
        }
    }
    Ok(Samples {
        histogram,
        elapsed: started.elapsed(),
    })
}

/// A file this run created (`create_new`, so never someone else's): `remove` deletes it and
/// reports a failure; dropping it unremoved (an error path) deletes it best-effort.
struct ScratchFile {
    path: PathBuf,
    removed: bool,
}

impl ScratchFile {
    fn created(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            removed: false,
        }
    }

    fn remove(mut self) -> Result<(), BenchError> {
        self.removed = true;
        std::fs::remove_file(&self.path).map_err(io_error("remove", &self.path))
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        if !self.removed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_offsets_are_successive_and_wrap_at_the_file_end() {
        assert_eq!(block_offset(0, 4096), 0);
        assert_eq!(block_offset(1, 4096), 4096);
        assert_eq!(block_offset(16_383, 4096), FSYNC_FILE_SIZE - 4096);
        assert_eq!(block_offset(16_384, 4096), 0);
        // 12 KiB blocks: 5461 whole slots, the last 4 KiB of the file is never written.
        assert_eq!(block_offset(5_461, 12_288), 0);
        assert!(block_offset(5_460, 12_288) + 12_288 <= FSYNC_FILE_SIZE);
    }

    #[test]
    fn fsync_refuses_a_file_as_dir() -> Result<(), std::io::Error> {
        let path = std::env::temp_dir().join(format!("quecto-perf-notdir-{}", std::process::id()));
        std::fs::write(&path, b"x")?;
        let checked = dir_check(&path);
        std::fs::remove_file(&path)?;
        assert!(matches!(
            checked,
            Err(BenchError::Argument { name: "dir", .. })
        ));
        let missing = dir_check(&path.join("absent"));
        assert!(matches!(missing, Err(BenchError::Io { .. })));
        Ok(())
    }

    #[test]
    fn fsync_run_prints_both_lines_and_removes_its_files() -> Result<(), BenchError> {
        let dir = test_dir("case1");
        let config = FsyncConfig {
            dir: dir.clone(),
            counts: LoopCounts {
                count: 3,
                warmup: 1,
            },
            block_size: 8192,
        };
        let lines = fsync_run(&config)?;
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("fsync  n=3 p50="), "{}", lines[0]);
        assert!(
            lines[1].starts_with("fsync_buffered  n=3 p50="),
            "{}",
            lines[1]
        );
        assert!(!scratch_path(&dir, "fsync").exists());
        assert!(!scratch_path(&dir, "fsync-buffered").exists());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    /// A directory of this test's own: tests run in parallel and scratch names hold only the pid.
    fn test_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("quecto-fsync-test-{name}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir
    }

    #[test]
    fn fsync_buffered_measures_and_cleans_up() -> Result<(), BenchError> {
        let dir = test_dir("case2");
        let config = FsyncConfig {
            dir: dir.clone(),
            counts: LoopCounts {
                count: 3,
                warmup: 1,
            },
            block_size: 4096,
        };
        let samples = fsync_buffered_run(&config)?;
        assert_eq!(samples.histogram.len(), 3);
        assert!(!scratch_path(&dir, "fsync-buffered").exists());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
