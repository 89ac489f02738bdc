//! The data directory and its lock: one server per directory. glommio binds every listener
//! with SO_REUSEPORT, so a second server on the same port would not fail to bind; the lock,
//! taken before binding, is what refuses a second start-up over the same files.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Name of the lock file inside the data directory.
pub const LOCK_FILE_NAME: &str = "LOCK";

/// An exclusive `flock` on `<data dir>/LOCK`, held for the life of the value (the kernel
/// releases it when the process dies, even by `kill -9`).
#[derive(Debug)]
pub struct DataDirLock {
    path: PathBuf,
    _file: File,
}

impl DataDirLock {
    /// Creates `dir` if needed and locks it; fails with a message naming the holder's pid when
    /// another process holds it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, String> {
        fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
        let path = dir.join(LOCK_FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        // SAFETY: flock on a descriptor this function owns (`file` lives until it returns or
        // is moved into the result); LOCK_NB makes it return at once instead of blocking.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if !locked {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(format!(
                "data directory {} is in use by another QuectoDB server (pid {}); stop it or choose another --data-dir",
                dir.display(),
                holder.trim()
            ));
        }
        let pid = std::process::id().to_string();
        let written = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(pid.as_bytes()));
        written.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(DataDirLock { path, _file: file })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Median latency of writing one 4 KiB block and `fdatasync` on a file in `dir` (5 samples),
/// the floor under every durable acknowledgement.
pub fn fsync_probe(dir: &Path) -> std::io::Result<std::time::Duration> {
    const SAMPLES_COUNT: usize = 5;
    let path = dir.join("fsync-probe.tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    let block = [0u8; 4096];
    let mut samples = Vec::with_capacity(SAMPLES_COUNT);
    for _ in 0..SAMPLES_COUNT {
        let started = std::time::Instant::now();
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&block)?;
        file.sync_data()?;
        samples.push(started.elapsed());
    }
    drop(file);
    fs::remove_file(&path)?;
    samples.sort();
    Ok(samples[SAMPLES_COUNT / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("quecto-lock-test-{}", std::process::id()));
        let first = DataDirLock::acquire(&dir).unwrap();
        let refused = DataDirLock::acquire(&dir).unwrap_err();
        assert!(
            refused.contains("in use") && refused.contains(&std::process::id().to_string()),
            "{refused}"
        );
        drop(first);
        let again = DataDirLock::acquire(&dir).unwrap();
        assert!(again.path().ends_with(LOCK_FILE_NAME));
        drop(again);
        let _ = fs::remove_dir_all(&dir);
    }
}
