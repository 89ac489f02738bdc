//! Sealing: what a checkpoint takes from a table at its cut, and what it gives back.
//!
//! At the cut (`seal_begin`, on the shard, writes held) a table freezes its open chunks and
//! hands their snapshots (shared storage, no copy) to the checkpoint's writer thread as a
//! `TableSeal`. Which rows it hands over decides the kind of file written:
//! - a *generation*: only the chunks that were open, i.e. the rows since the last checkpoint;
//!   appended to the table's list of segment files;
//! - a *compaction*: every live chunk, small runs merged into full chunks; the file replaces
//!   all the table's older files. Taken when a sealed version of the table's rows was
//!   superseded (a sealed chunk changed or went: its old rows are still in some file), when
//!   the schema changed (TTL), or when sealed chunks became many and small.
//!
//! A table knows that something sealed was superseded without watching every mutation: it
//! remembers how many rows its files hold (`sealed_rows`), and any change to a sealed chunk
//! reopens it (see `chunk`), so the rows of chunks still `Sealed` differ from that count as
//! soon as anything sealed was touched or dropped.
//!
//! Once the file is durable and the manifest naming it published, `seal_finish` swaps every
//! chunk that is still the very snapshot written (`Chunk::is_snapshot`) for its mapped copy
//! from the new file, freeing its heap memory. A chunk changed meanwhile stays open: its new
//! rows are in the log after the cut. If the checkpoint fails, `seal_abandon` reopens the
//! frozen chunks and the next checkpoint tries again (the log still holds every row).

use super::chunk::{Chunk, ChunkState, CHUNK_ROWS_MAX};
use super::dictionary::SymbolDictionary;
use super::store::ShardStore;
use super::table::TableStore;
use crate::batch::SymbolKey;
use crate::schema::TableSchema;

/// A table compacts when its chunks outnumber the fewest that could hold its rows by this
/// factor (average fill under a quarter), so cold symbols do not keep one tiny chunk per
/// checkpoint forever.
pub const SEAL_CHUNKS_PER_NEEDED_MAX: usize = 4;

/// What a checkpoint writes for one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealKind {
    /// The rows since the last checkpoint, in a file added to the table's files.
    Generation,
    /// Every live row, in one file that replaces all the table's files.
    Compaction,
}

/// One table's share of a checkpoint, taken at the cut: snapshots on shared storage that the
/// writer thread owns while the shard goes on serving (and changing) the table.
#[derive(Debug)]
pub struct TableSeal {
    /// Identity of the table (a table dropped and created again is another table).
    pub table_id: u64,
    /// The schema at the cut.
    pub schema: TableSchema,
    /// The table's dictionary at the cut (resolves the chunks' SYMBOL ids).
    pub dictionary: SymbolDictionary,
    /// Generation or compaction.
    pub kind: SealKind,
    /// Per partition: the key and the chunk snapshots, in timestamp order.
    pub partitions: Vec<(SymbolKey, Vec<Chunk>)>,
}

/// A `TableSeal` written to a durable segment file.
#[derive(Debug)]
pub struct TableSealed {
    /// What was written.
    pub seal: TableSeal,
    /// The file's name in the segments directory.
    pub file_name: String,
    /// Rows in the file.
    pub rows_count: u64,
    /// The file's partitions as sealed chunks mapped from it, in `seal.partitions`' order.
    pub mapped: Vec<(SymbolKey, Vec<Chunk>)>,
    /// Per partition, which snapshot chunks each run of mapped chunks holds.
    pub groups: Vec<Vec<ChunkGroup>>,
}

/// Which snapshot chunks became which file chunks, in order: `sources` consecutive snapshot
/// chunks of a partition were written as its next `written` file chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkGroup {
    /// Snapshot chunks in the group.
    pub sources: usize,
    /// File chunks they became.
    pub written: usize,
}

impl TableSeal {
    /// The chunks the file gets for `chunks` (one partition's snapshots), and how they group:
    /// a generation's as they are; a compaction's with every run of adjacent partial chunks
    /// merged into full ones (full chunks, and a partial one alone, pass through without a
    /// copy). Runs on the writer thread.
    pub fn file_chunks(&self, chunks: &[Chunk]) -> (Vec<Chunk>, Vec<ChunkGroup>) {
        let one = ChunkGroup {
            sources: 1,
            written: 1,
        };
        if self.kind == SealKind::Generation {
            return (chunks.to_vec(), vec![one; chunks.len()]);
        }
        let (mut written, mut groups) = (Vec::with_capacity(chunks.len()), Vec::new());
        let mut start = 0;
        while start < chunks.len() {
            let partial = |c: &&Chunk| c.rows_count < CHUNK_ROWS_MAX;
            let run = chunks[start..].iter().take_while(partial).count().max(1);
            let before = written.len();
            if run == 1 {
                written.push(chunks[start].clone());
            } else {
                merge_partial_run(&chunks[start..start + run], &self.schema, &mut written);
            }
            groups.push(ChunkGroup {
                sources: run,
                written: written.len() - before,
            });
            start += run;
        }
        (written, groups)
    }
}

/// Appends the rows of `run` (partial chunks, in order) to `out` as full chunks and one last
/// partial one.
fn merge_partial_run(run: &[Chunk], schema: &TableSchema, out: &mut Vec<Chunk>) {
    let types: Vec<_> = schema.columns.iter().map(|c| c.data_type).collect();
    let mut target = Chunk::empty(&types, schema.symbol_index);
    for chunk in run {
        let mut start = 0;
        while start < chunk.rows_count {
            let end = chunk
                .rows_count
                .min(start + CHUNK_ROWS_MAX - target.rows_count);
            target.extend_from(chunk, start, end);
            start = end;
            if target.rows_count == CHUNK_ROWS_MAX {
                let full = Chunk::empty(&types, schema.symbol_index);
                out.push(std::mem::replace(&mut target, full));
            }
        }
    }
    if target.rows_count > 0 {
        out.push(target);
    }
}

impl TableStore {
    /// Freezes what this checkpoint writes of the table (see the module doc); `None` when
    /// there is nothing to write: no new rows, nothing superseded, and the schema already in
    /// a file.
    fn seal_begin(&mut self) -> Option<TableSeal> {
        self.settle();
        let kind = if self.seal_needs_compaction() {
            SealKind::Compaction
        } else {
            SealKind::Generation
        };
        let has_open_rows = self
            .partitions
            .iter()
            .flat_map(|p| &p.chunks)
            .any(|c| c.state() == ChunkState::Open && c.rows_count > 0);
        let has_file = !self.segment_files.is_empty();
        if kind == SealKind::Generation && !has_open_rows && has_file {
            return None;
        }
        let mut partitions = Vec::new();
        for partition in &mut self.partitions {
            let snapshots: Vec<Chunk> = partition
                .chunks
                .iter_mut()
                .filter(|c| c.rows_count > 0)
                .filter(|c| kind == SealKind::Compaction || c.state() == ChunkState::Open)
                .map(Chunk::freeze)
                .collect();
            if !snapshots.is_empty() {
                partitions.push((partition.key.clone(), snapshots));
            }
        }
        self.rewrite_due = false;
        Some(TableSeal {
            table_id: self.id,
            schema: self.schema.clone(),
            dictionary: self.dictionary.clone(),
            kind,
            partitions,
        })
    }

    /// Whether this checkpoint must rewrite the whole table (see the module doc).
    fn seal_needs_compaction(&self) -> bool {
        let chunks = self.partitions.iter().flat_map(|p| &p.chunks);
        let sealed_rows: u64 = chunks
            .clone()
            .filter(|c| c.state() == ChunkState::Sealed)
            .map(|c| c.rows_count as u64)
            .sum();
        let chunks_count = chunks.filter(|c| c.rows_count > 0).count();
        let chunks_needed: usize = self
            .partitions
            .iter()
            .map(|p| p.rows_count.div_ceil(CHUNK_ROWS_MAX))
            .sum();
        self.rewrite_due
            || sealed_rows != self.sealed_rows
            || chunks_count > SEAL_CHUNKS_PER_NEEDED_MAX * chunks_needed
    }

    /// A failed checkpoint: frozen chunks are open again, and a compaction is still due.
    fn seal_abandon(&mut self, kind: SealKind) {
        for chunk in self.partitions.iter_mut().flat_map(|p| &mut p.chunks) {
            if chunk.state() == ChunkState::Frozen {
                chunk.reopen();
            }
        }
        if kind == SealKind::Compaction {
            self.rewrite_due = true;
        }
    }

    /// The table's segment files once `sealed` (this table's share, if any) is published.
    fn sealed_file_names(&self, sealed: Option<&TableSealed>) -> Vec<String> {
        match sealed {
            None => self.segment_files.clone(),
            Some(sealed) => {
                let mut files = match sealed.seal.kind {
                    SealKind::Generation => self.segment_files.clone(),
                    SealKind::Compaction => Vec::new(),
                };
                files.push(sealed.file_name.clone());
                files
            }
        }
    }

    /// The checkpoint that wrote `sealed` is published: records the file, and swaps each
    /// group of snapshotted chunks for its mapped copies where none of them changed
    /// meanwhile; frozen chunks that cannot be swapped are sealed on the heap. Returns the
    /// snapshots, which may be the last holders of heap columns.
    fn seal_finish(&mut self, sealed: TableSealed) -> TableSeal {
        self.segment_files = self.sealed_file_names(Some(&sealed));
        self.sealed_rows = match sealed.seal.kind {
            SealKind::Generation => self.sealed_rows + sealed.rows_count,
            SealKind::Compaction => sealed.rows_count,
        };
        let TableSealed {
            seal,
            mapped,
            groups,
            ..
        } = sealed;
        for (((key, snapshots), (_, mapped)), groups) in
            seal.partitions.iter().zip(mapped).zip(groups)
        {
            let Some(index) = self.partition_index(key) else {
                continue;
            };
            let partition = &mut self.partitions[index];
            let mut mapped = mapped.into_iter();
            let mut source = 0;
            for group in groups {
                let written: Vec<Chunk> = mapped.by_ref().take(group.written).collect();
                let sources = &snapshots[source..source + group.sources];
                source += group.sources;
                if let Some(first) = live_run(&partition.chunks, sources) {
                    partition
                        .chunks
                        .splice(first..first + sources.len(), written);
                }
            }
            for chunk in &mut partition.chunks {
                if chunk.state() == ChunkState::Frozen {
                    chunk.seal();
                }
            }
        }
        seal
    }

    /// Records a segment file loaded at start-up, whose `rows_count` rows are now sealed
    /// chunks of this table.
    pub fn seal_loaded(&mut self, file_name: String, rows_count: u64) {
        self.segment_files.push(file_name);
        self.sealed_rows += rows_count;
    }
}

/// Where `snapshots` still are, unchanged and in a row, among `chunks`.
fn live_run(chunks: &[Chunk], snapshots: &[Chunk]) -> Option<usize> {
    let first = chunks.iter().position(|c| c.is_snapshot(&snapshots[0]))?;
    let live = chunks.get(first..first + snapshots.len())?;
    let unchanged = live.iter().zip(snapshots).all(|(c, s)| c.is_snapshot(s));
    unchanged.then_some(first)
}

/// Rows and bytes by where they live, over a shard's tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Bytes of column values read in place from mapped segment files.
    pub mapped_size: u64,
    /// Rows of chunks with no column mapped: the memtable (open and frozen chunks, and sealed
    /// ones not swapped for a mapped copy).
    pub heap_rows_count: u64,
}

impl ShardStore {
    /// Freezes every table's share of a checkpoint at this cut (see the module doc).
    pub fn seal_begin(&mut self) -> Vec<TableSeal> {
        self.tables
            .values_mut()
            .filter_map(TableStore::seal_begin)
            .collect()
    }

    /// A checkpoint that took `seals` (id and kind of each) failed: see `seal_abandon`.
    pub fn seal_abandon(&mut self, seals: &[(u64, SealKind)]) {
        for table in self.tables.values_mut() {
            if let Some(&(_, kind)) = seals.iter().find(|(id, _)| *id == table.id) {
                table.seal_abandon(kind);
            }
        }
    }

    /// Every segment file the manifest names once `sealed` is published, in table order and
    /// then oldest first: the order start-up concatenates their chunks in.
    pub fn sealed_file_names(&self, sealed: &[TableSealed]) -> Vec<String> {
        self.tables
            .values()
            .flat_map(|table| {
                let own = sealed.iter().find(|s| s.seal.table_id == table.id);
                table.sealed_file_names(own)
            })
            .collect()
    }

    /// The checkpoint that wrote `sealed` is published: see `seal_finish`. Shares of tables
    /// dropped since the cut are let go (their files are no longer named). Returns the
    /// snapshots, for the caller to drop off the shard's core (freeing heap columns).
    pub fn seal_finish(&mut self, sealed: Vec<TableSealed>) -> Vec<TableSeal> {
        let mut snapshots = Vec::with_capacity(sealed.len());
        for share in sealed {
            let table = self
                .tables
                .values_mut()
                .find(|t| t.id == share.seal.table_id);
            snapshots.push(match table {
                Some(table) => table.seal_finish(share),
                None => share.seal,
            });
        }
        snapshots
    }

    /// Where the shard's rows live.
    pub fn storage_stats(&self) -> StorageStats {
        let mut stats = StorageStats::default();
        let chunks = self
            .tables
            .values()
            .flat_map(|t| &t.partitions)
            .flat_map(|p| &p.chunks);
        for chunk in chunks {
            let mapped_size = chunk.mapped_size() as u64;
            stats.mapped_size += mapped_size;
            if mapped_size == 0 {
                stats.heap_rows_count += chunk.rows_count as u64;
            }
        }
        stats
    }
}
