//! Checkpoints on disk: the segment files a checkpoint writes, the manifest naming every live
//! one with the WAL LSN they cover, and loading them back at start-up.
//!
//! A checkpoint is incremental: each table writes at most one new segment file, holding either
//! its rows since the last checkpoint (a generation, added to its files) or all its live rows
//! (a compaction, replacing them); `storage::seal` decides which and why. The functions here
//! that write or read files block, so the shard runs them on a helper thread
//! (`write_seals`, `publish_manifest`, `remove_unlisted_segments`), never on its own core.
//!
//! The manifest is published by write-to-temp, fsync, rename, fsync of the directory, so a
//! crash leaves either the old checkpoint or the new one, never a mix. It lists files in table
//! order, each table's oldest first; start-up concatenates each partition's chunks in that
//! order, which is timestamp order because a sealed chunk that changes forces a compaction.
//! Segment files no manifest names are leftovers of an interrupted or superseded checkpoint
//! and are removed after the next publish.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::EngineError;
use crate::segment::{write_segment, Segment};
use crate::storage::seal::{TableSeal, TableSealed};
use crate::storage::store::ShardStore;
use crate::wal::Lsn;

const MANIFEST_MAGIC: &str = "quecto-checkpoint 2";
/// The first format: one file per table, no sequence. Still read (it is a valid version 2
/// list with sequence 0).
const MANIFEST_MAGIC_V1: &str = "quecto-checkpoint 1";

/// What a checkpoint covers: the WAL LSN and the segment files (names in the segments dir).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Every record up to and including this LSN is in the segments.
    pub covered_lsn: Lsn,
    /// The checkpoint's number on this shard (1, 2, …), part of every file name it writes, so
    /// no checkpoint ever writes a name an earlier one published.
    pub sequence: u64,
    /// Segment file names, in table order, each table's oldest first.
    pub segments: Vec<String>,
}

fn manifest_path(dir: &Path, shard_index: usize) -> PathBuf {
    dir.join(format!("checkpoint-{shard_index:03}.manifest"))
}

/// `seg-SSS-LSN-SEQUENCE-table.qseg`: shard, covered LSN and checkpoint sequence, table last.
fn segment_file_name(shard_index: usize, covered_lsn: Lsn, sequence: u64, table: &str) -> String {
    let table = table.to_ascii_lowercase();
    format!("seg-{shard_index:03}-{covered_lsn:020}-{sequence:010}-{table}.qseg")
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> EngineError {
    EngineError::Checkpoint {
        detail: format!("{what} {}: {error}", path.display()),
    }
}

impl Manifest {
    /// Text form: magic, `covered_lsn N`, `sequence N`, one `segment NAME` per line, then
    /// `crc32c X` of all lines before it.
    fn encode(&self) -> String {
        let mut body = format!(
            "{MANIFEST_MAGIC}\ncovered_lsn {}\nsequence {}\n",
            self.covered_lsn, self.sequence
        );
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
        let mut lines = body.lines().peekable();
        let version_1 = match lines.next() {
            Some(MANIFEST_MAGIC) => false,
            Some(MANIFEST_MAGIC_V1) => true,
            _ => return Err(corrupt("unknown format")),
        };
        let number = |line: Option<&str>, prefix: &str| {
            line.and_then(|l| l.strip_prefix(prefix))
                .and_then(|n| n.parse().ok())
        };
        let covered_lsn =
            number(lines.next(), "covered_lsn ").ok_or_else(|| corrupt("no covered_lsn"))?;
        let sequence = if version_1 {
            0
        } else {
            number(lines.next(), "sequence ").ok_or_else(|| corrupt("no sequence"))?
        };
        let segments = lines
            .map(|l| {
                l.strip_prefix("segment ")
                    .map(str::to_string)
                    .ok_or_else(|| corrupt(l))
            })
            .collect::<Result<_, _>>()?;
        Ok(Manifest {
            covered_lsn,
            sequence,
            segments,
        })
    }
}

/// Where a checkpoint's files go and what they are named after.
#[derive(Clone, Debug)]
pub struct CheckpointTarget {
    /// The segments directory.
    pub dir: PathBuf,
    /// The shard.
    pub shard_index: usize,
    /// The checkpoint's sequence number.
    pub sequence: u64,
    /// The LSN it covers.
    pub covered_lsn: Lsn,
}

/// Writes one durable segment file per table share and maps it back (every CRC verified).
/// Blocks: run it off the shard's core. Fails on the first table that cannot be written; files
/// already written are left for the next publish to remove (no manifest names them).
pub fn write_seals(
    target: &CheckpointTarget,
    seals: Vec<TableSeal>,
) -> Result<Vec<TableSealed>, EngineError> {
    fs::create_dir_all(&target.dir).map_err(|e| io_error("creating", &target.dir, e))?;
    let checkpoint_error = |detail: String| EngineError::Checkpoint { detail };
    let mut sealed = Vec::with_capacity(seals.len());
    for mut seal in seals {
        let file_name = segment_file_name(
            target.shard_index,
            target.covered_lsn,
            target.sequence,
            &seal.schema.name,
        );
        let path = target.dir.join(&file_name);
        let mut groups = Vec::with_capacity(seal.partitions.len());
        let partitions = seal.partitions.iter().map(|(key, chunks)| {
            let (written, grouped) = seal.file_chunks(chunks);
            groups.push(grouped);
            (key.clone(), written)
        });
        let summary = write_segment(&path, &seal.schema, partitions, &seal.dictionary)
            .map_err(|e| checkpoint_error(e.to_string()))?;
        let segment = Segment::open(&path).map_err(|e| checkpoint_error(e.to_string()))?;
        let mapped = segment
            .map_chunks(&mut seal.dictionary)
            .map_err(|e| checkpoint_error(e.to_string()))?;
        sealed.push(TableSealed {
            seal,
            file_name,
            rows_count: summary.rows_count,
            mapped,
            groups,
        });
    }
    Ok(sealed)
}

/// Publishes `manifest` as the shard's checkpoint (tmp, fsync, rename, fsync of the dir).
/// Blocks: run it off the shard's core.
pub fn publish_manifest(
    dir: &Path,
    shard_index: usize,
    manifest: &Manifest,
) -> Result<(), EngineError> {
    fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;
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

/// Removes this shard's segment files that `manifest` does not name (superseded by a
/// compaction, of a dropped table, or of a checkpoint that failed before publishing).
/// Chunks still mapped from a removed file stay readable: the mapping keeps its inode.
/// Failures only cost disk space: logged. Blocks: run it off the shard's core.
pub fn remove_unlisted_segments(dir: &Path, shard_index: usize, manifest: &Manifest) {
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

/// Loads the shard's last checkpoint into `store`: every listed file opened and verified,
/// each partition's chunks concatenated in manifest order as sealed chunks mapped in place.
/// Returns the manifest (the default, covering LSN 0, when there is none).
pub fn load_checkpoint(
    dir: &Path,
    shard_index: usize,
    store: &mut ShardStore,
) -> Result<Manifest, EngineError> {
    let path = manifest_path(dir, shard_index);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
        Err(e) => return Err(io_error("reading", &path, e)),
    };
    let manifest = Manifest::decode(&text, &path)?;
    for name in &manifest.segments {
        load_checkpoint_segment(&dir.join(name), name, store)?;
    }
    Ok(manifest)
}

fn load_checkpoint_segment(
    path: &Path,
    name: &str,
    store: &mut ShardStore,
) -> Result<(), EngineError> {
    let refuse = |detail: String| EngineError::Checkpoint {
        detail: format!("{detail}; refusing to serve from a damaged segment"),
    };
    let segment = Segment::open(path).map_err(|e| refuse(e.to_string()))?;
    let schema = segment.schema();
    store.create_table(schema.clone(), true)?;
    let table = store.table_mut(&schema.name)?;
    let same_columns = table.schema.columns == schema.columns
        && table.schema.symbol_index == schema.symbol_index
        && table.schema.timestamp_index == schema.timestamp_index;
    if !same_columns {
        return Err(refuse(format!(
            "segment {} holds table `{}` with other columns than its older files",
            path.display(),
            schema.name
        )));
    }
    // A later file of the table carries its later TTL.
    table.schema.ttl_seconds = schema.ttl_seconds;
    let partitions = segment
        .map_chunks(&mut table.dictionary)
        .map_err(|e| refuse(e.to_string()))?;
    for (key, chunks) in partitions {
        table.restore_chunks(key, chunks);
    }
    table.seal_loaded(name.to_string(), segment.rows_count());
    Ok(())
}

#[cfg(test)]
mod tests;
