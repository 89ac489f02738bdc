//! Checkpoints: a shard's tables written to sealed column segment files, a manifest naming
//! them and the WAL LSN they cover, then the log recycled through that LSN. Start-up loads the
//! manifest's segments (every block checksum verified) and replays only the log after it.
//!
//! A checkpoint is a consistent cut because the shard lets no write start while it runs and
//! waits for those in flight to finish: every record up to the WAL's last LSN is then applied
//! and none after it exists. The manifest is published by write-to-temp, fsync, rename, fsync
//! of the directory, so a crash leaves either the old checkpoint or the new one, never a mix;
//! segment files no manifest names are leftovers of an interrupted checkpoint and are removed.
//!
//! Version 1 snapshots every table whole and does the file writing on the shard's core,
//! which pauses that shard's writes for the duration (hundreds of ms per 10M rows).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::EngineError;
use crate::segment::{write_segment, Segment};
use crate::storage::store::ShardStore;
use crate::wal::Lsn;

const MANIFEST_MAGIC: &str = "quecto-checkpoint 1";

/// What a checkpoint covers: the WAL LSN and the segment files (names in the segments dir).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Every record up to and including this LSN is in the segments.
    pub covered_lsn: Lsn,
    /// Segment file names.
    pub segments: Vec<String>,
}

fn manifest_path(dir: &Path, shard_index: usize) -> PathBuf {
    dir.join(format!("checkpoint-{shard_index:03}.manifest"))
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> EngineError {
    EngineError::Checkpoint {
        detail: format!("{what} {}: {error}", path.display()),
    }
}

impl Manifest {
    /// Text form: magic, `covered_lsn N`, one `segment NAME` per line, then `crc32c X` of all
    /// lines before it.
    fn encode(&self) -> String {
        let mut body = format!("{MANIFEST_MAGIC}\ncovered_lsn {}\n", self.covered_lsn);
        for name in &self.segments {
            body.push_str(&format!("segment {name}\n"));
        }
        let crc = crc32c::crc32c(body.as_bytes());
        body.push_str(&format!("crc32c {crc}\n"));
        body
    }

    fn decode(text: &str, path: &Path) -> Result<Manifest, EngineError> {
        let corrupt = |detail: &str| EngineError::Checkpoint {
            detail: format!(
                "manifest {} is corrupt: {detail}; refusing to start on it",
                path.display()
            ),
        };
        let crc_at = text
            .rfind("crc32c ")
            .ok_or_else(|| corrupt("no checksum line"))?;
        let (body, crc_line) = text.split_at(crc_at);
        let crc: u32 = crc_line
            .trim()
            .trim_start_matches("crc32c ")
            .parse()
            .map_err(|_| corrupt("bad checksum"))?;
        if crc != crc32c::crc32c(body.as_bytes()) {
            return Err(corrupt("checksum mismatch"));
        }
        let mut lines = body.lines();
        if lines.next() != Some(MANIFEST_MAGIC) {
            return Err(corrupt("unknown format"));
        }
        let covered = lines
            .next()
            .and_then(|l| l.strip_prefix("covered_lsn "))
            .and_then(|n| n.parse().ok());
        let covered_lsn = covered.ok_or_else(|| corrupt("no covered_lsn"))?;
        let segments = lines
            .map(|l| {
                l.strip_prefix("segment ")
                    .map(str::to_string)
                    .ok_or_else(|| corrupt(l))
            })
            .collect::<Result<_, _>>()?;
        Ok(Manifest {
            covered_lsn,
            segments,
        })
    }
}

/// Writes every table of `store` as a segment and publishes a manifest covering `covered_lsn`.
pub fn write_checkpoint(
    dir: &Path,
    shard_index: usize,
    store: &ShardStore,
    covered_lsn: Lsn,
) -> Result<Manifest, EngineError> {
    fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;
    let mut manifest = Manifest {
        covered_lsn,
        segments: Vec::new(),
    };
    for table in store.tables() {
        let name = format!(
            "seg-{shard_index:03}-{covered_lsn:020}-{}.qseg",
            table.schema.name.to_ascii_lowercase()
        );
        let partitions: Vec<_> = table
            .partitions
            .iter()
            .map(|p| (p.key.clone(), p.chunks.as_slice()))
            .collect();
        write_segment(
            &dir.join(&name),
            &table.schema,
            &partitions,
            &table.dictionary,
        )
        .map_err(|e| EngineError::Checkpoint {
            detail: e.to_string(),
        })?;
        manifest.segments.push(name);
    }
    publish_manifest(dir, shard_index, &manifest)?;
    remove_unlisted_segments(dir, shard_index, &manifest);
    Ok(manifest)
}

fn publish_manifest(
    dir: &Path,
    shard_index: usize,
    manifest: &Manifest,
) -> Result<(), EngineError> {
    let path = manifest_path(dir, shard_index);
    let temporary = path.with_extension("manifest.tmp");
    let mut file = fs::File::create(&temporary).map_err(|e| io_error("creating", &temporary, e))?;
    file.write_all(manifest.encode().as_bytes())
        .map_err(|e| io_error("writing", &temporary, e))?;
    file.sync_all()
        .map_err(|e| io_error("syncing", &temporary, e))?;
    fs::rename(&temporary, &path).map_err(|e| io_error("publishing", &path, e))?;
    let directory = fs::File::open(dir).map_err(|e| io_error("opening", dir, e))?;
    directory
        .sync_all()
        .map_err(|e| io_error("syncing", dir, e))
}

/// Removes this shard's segment files that `manifest` does not name (superseded checkpoints,
/// or files of one that crashed before publishing). Failures only cost disk space: logged.
fn remove_unlisted_segments(dir: &Path, shard_index: usize, manifest: &Manifest) {
    let prefix = format!("seg-{shard_index:03}-");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && !manifest.segments.contains(&name) {
            if let Err(error) = fs::remove_file(entry.path()) {
                tracing::warn!(file = %entry.path().display(), "cannot remove an old segment: {error}");
            }
        }
    }
}

/// Loads the shard's last checkpoint into `store`; returns the LSN it covers (0: none).
pub fn load_checkpoint(
    dir: &Path,
    shard_index: usize,
    store: &mut ShardStore,
) -> Result<Lsn, EngineError> {
    let path = manifest_path(dir, shard_index);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_error("reading", &path, e)),
    };
    let manifest = Manifest::decode(&text, &path)?;
    for name in &manifest.segments {
        let segment = Segment::open(&dir.join(name)).map_err(|e| EngineError::Checkpoint {
            detail: format!("{e}; refusing to serve from a damaged segment"),
        })?;
        store.create_table(segment.schema().clone(), true)?;
        let table = store.table_mut(&segment.schema().name)?;
        let partitions =
            segment
                .load_chunks(&mut table.dictionary)
                .map_err(|e| EngineError::Checkpoint {
                    detail: e.to_string(),
                })?;
        for (key, chunks) in partitions {
            table.restore_partition(key, chunks);
        }
    }
    Ok(manifest.covered_lsn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_and_rejects_any_edit() {
        let manifest = Manifest {
            covered_lsn: 42,
            segments: vec!["seg-000-a.qseg".into(), "seg-000-b.qseg".into()],
        };
        let text = manifest.encode();
        let path = Path::new("m");
        assert_eq!(Manifest::decode(&text, path).unwrap(), manifest);
        let edited = text.replace("42", "43");
        assert!(Manifest::decode(&edited, path).is_err());
        assert!(Manifest::decode(&text[..text.len() / 2], path).is_err());
    }
}
