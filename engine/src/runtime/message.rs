//! Messages a shard accepts from any core, and its answers. Plain data: they cross threads.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::checkpoint::{
    publish_manifest, remove_unlisted_segments, write_seals, CheckpointTarget, Manifest,
};
use super::journal::{log_insert, log_write, OpenedJournal};
use crate::batch::RowBatch;
use crate::error::EngineError;
use crate::fragment::exec::{run_fragment, FragmentResult};
use crate::fragment::plan::Fragment;
use crate::schema::TableSchema;
use crate::storage::mutate::Mutation;
use crate::storage::seal::{SealKind, StorageStats, TableSeal, TableSealed};
use crate::storage::store::ShardStore;
use crate::wal::segment::run_off_core;
use crate::wal::{
    encode_create_table, encode_drop_table, encode_mutation, encode_set_ttl, RecordKind, SyncMode,
    Wal, WalStats,
};

/// Nanoseconds since the Unix epoch, now.
fn now_ns() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since_epoch.map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// A request to one shard.
#[derive(Clone, Debug)]
pub enum ShardRequest {
    /// Create a table (every shard holds every schema).
    CreateTable {
        /// The schema.
        schema: TableSchema,
        /// Keep an existing table silently.
        if_not_exists: bool,
    },
    /// Drop a table.
    DropTable {
        /// The table.
        table: String,
        /// A missing table is not an error.
        if_exists: bool,
    },
    /// Apply rows this shard owns.
    Insert {
        /// The table.
        table: String,
        /// The whole batch, shared read-only by every shard that owns some of its rows.
        batch: Arc<RowBatch>,
        /// The rows of `batch` this shard owns (all when `None`).
        rows: Option<Vec<u32>>,
    },
    /// Set (or remove) a table's TTL.
    SetTtl {
        /// The table.
        table: String,
        /// TTL in seconds; `None` removes it.
        ttl_seconds: Option<u64>,
    },
    /// Delete or update rows this shard owns; answered with `Done(rows affected)`.
    Mutate(Box<Mutation>),
    /// Report the shard's counters (`/metrics`).
    Stats,
    /// Run a query fragment.
    Run(Box<Fragment>),
}

/// A shard's answer.
#[derive(Debug)]
pub enum ShardResponse {
    /// Done; for inserts the rows applied, for mutations the rows deleted or updated.
    Done(u64),
    /// The shard's counters.
    Stats(Box<ShardStats>),
    /// A fragment's result.
    Fragment(Box<FragmentResult>),
}

/// A shard's state on its executor: the store, touched only between awaits, its journal, and
/// the gate that lets a checkpoint see no write half done.
///
/// A checkpoint holds the gate only for its cut: it waits for the writes in flight, freezes
/// the open chunks (no copy) and opens the gate again; the segment files are written, fsynced
/// and mapped back on a helper thread while writes go on, and the manifest is published and
/// the frozen chunks swapped for mapped ones when that is done (`storage::seal`).
#[derive(Default)]
pub struct ShardState {
    /// This shard's index.
    pub index: usize,
    /// Tables and partitions of this shard.
    pub store: RefCell<ShardStore>,
    /// The write-ahead log; `None` runs without durability (in-process benchmarks).
    pub wal: Option<Rc<Wal>>,
    /// Checkpoint settings; `None` never checkpoints.
    pub checkpoints: Option<CheckpointSettings>,
    /// Writes between their check and their apply.
    writes_in_flight: Cell<usize>,
    /// True while a checkpoint or a mutation runs: new writes wait.
    writes_gated: Cell<bool>,
    /// WAL bytes written when the last checkpoint finished.
    log_bytes_at_checkpoint: Cell<u64>,
    /// Log bytes start-up found after the last checkpoint, until the next one.
    log_bytes_recovered: Cell<u64>,
    /// The checkpoint in flight, if any, and the counters of all of them.
    checkpoint: CheckpointState,
}

/// What the shard knows of its checkpoints. One runs at a time.
#[derive(Default)]
struct CheckpointState {
    /// A checkpoint is between its cut and its end.
    running: Cell<bool>,
    /// A checkpoint's files are being written while writes go on.
    writing: Cell<bool>,
    /// A checkpoint was asked for (DROP, TTL) while another ran: it runs next.
    pending: Cell<bool>,
    /// The shard is stopping: only its final checkpoint runs.
    stopping: Cell<bool>,
    /// The sequence number of the last published checkpoint.
    sequence: Cell<u64>,
    /// When the gate was last shut.
    gate_shut_at: Cell<Option<Instant>>,
    /// Counters for `/metrics`.
    stats: Cell<CheckpointStats>,
}

/// A shard's checkpoint counters, for `/metrics` and the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Checkpoints published since start.
    pub checkpoints_count: u64,
    /// Checkpoints that failed since start (the log kept their rows).
    pub failures_count: u64,
    /// Duration of the last published checkpoint, cut to swap, in ns.
    pub duration_ns_last: u64,
    /// Longest time a checkpoint held writes back (the gate: cut and freeze), in ns.
    pub gate_ns_max: u64,
    /// Longest time a write waited at the gate (shut by a checkpoint or a mutation), in ns.
    pub write_wait_ns_max: u64,
    /// Writes applied while a checkpoint's files were being written.
    pub writes_during_count: u64,
}

/// A shard's counters, for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct ShardStats {
    /// The shard's index.
    pub shard: usize,
    /// Tables.
    pub tables_count: u64,
    /// Partitions (symbols) over all tables.
    pub partitions_count: u64,
    /// Rows over all tables.
    pub rows_count: u64,
    /// Where the rows live: mapped segments or the heap.
    pub storage: StorageStats,
    /// The log's counters and sync mode, when the shard has a log.
    pub wal: Option<(WalStats, SyncMode)>,
    /// Checkpoint counters, when the shard checkpoints.
    pub checkpoints: Option<CheckpointStats>,
}

/// Where a shard checkpoints and how often.
#[derive(Clone, Debug)]
pub struct CheckpointSettings {
    /// Directory of manifests and segments.
    pub dir: PathBuf,
    /// Log bytes between checkpoints.
    pub log_bytes: u64,
}

/// Marks one write in flight for as long as it lives.
struct WriteGuard<'a>(&'a Cell<usize>);

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Holds the write gate shut for as long as it lives (an exclusive write).
struct GateGuard<'a>(&'a Cell<bool>);

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// How long a waiting write or checkpoint sleeps between looks at the gate.
const GATE_POLL: Duration = Duration::from_micros(100);

impl ShardState {
    /// A shard without a log (in-memory only: in-process benchmarks).
    pub fn in_memory(index: usize) -> ShardState {
        ShardState {
            index,
            ..ShardState::default()
        }
    }

    /// A shard with a log and checkpoints.
    pub fn durable(
        index: usize,
        store: ShardStore,
        journal: OpenedJournal,
        checkpoints: CheckpointSettings,
    ) -> ShardState {
        let log_bytes = journal.wal.stats().written_bytes;
        let state = ShardState {
            index,
            store: RefCell::new(store),
            wal: Some(journal.wal),
            checkpoints: Some(checkpoints),
            log_bytes_at_checkpoint: Cell::new(log_bytes),
            log_bytes_recovered: Cell::new(journal.log_bytes_uncovered),
            ..ShardState::default()
        };
        state.checkpoint.sequence.set(journal.checkpoint.sequence);
        state
    }

    fn stats(&self) -> ShardStats {
        let store = self.store.borrow();
        ShardStats {
            shard: self.index,
            tables_count: store.tables().count() as u64,
            partitions_count: store.tables().map(|t| t.partitions.len() as u64).sum(),
            rows_count: store.tables().map(|t| t.rows_count).sum(),
            storage: store.storage_stats(),
            wal: self
                .wal
                .as_ref()
                .map(|wal| (wal.stats(), wal.config().sync_mode)),
            checkpoints: self
                .checkpoints
                .as_ref()
                .map(|_| self.checkpoint.stats.get()),
        }
    }

    fn update_stats(&self, update: impl FnOnce(&mut CheckpointStats)) {
        let mut stats = self.checkpoint.stats.get();
        update(&mut stats);
        self.checkpoint.stats.set(stats);
    }

    async fn begin_write(&self) -> WriteGuard<'_> {
        if self.writes_gated.get() {
            let started = Instant::now();
            while self.writes_gated.get() {
                glommio::timer::sleep(GATE_POLL).await;
            }
            let waited_ns = duration_ns(started.elapsed());
            self.update_stats(|s| s.write_wait_ns_max = s.write_wait_ns_max.max(waited_ns));
        }
        self.writes_in_flight.set(self.writes_in_flight.get() + 1);
        WriteGuard(&self.writes_in_flight)
    }

    /// Shuts the gate (it is open): no new write starts until it opens.
    fn shut_gate(&self) {
        debug_assert!(!self.writes_gated.get());
        self.writes_gated.set(true);
        self.checkpoint.gate_shut_at.set(Some(Instant::now()));
    }

    /// Waits for the gate, shuts it, then waits until every write in flight is applied: the
    /// caller then runs alone among writes, and everything logged is applied.
    async fn begin_exclusive_write(&self) -> GateGuard<'_> {
        while self.writes_gated.get() {
            glommio::timer::sleep(GATE_POLL).await;
        }
        self.writes_gated.set(true);
        let guard = GateGuard(&self.writes_gated);
        while self.writes_in_flight.get() > 0 {
            glommio::timer::sleep(GATE_POLL).await;
        }
        guard
    }

    /// Clean stop: waits for a checkpoint in flight, gates writes, takes a final checkpoint
    /// (so the next start replays nothing) and closes the log. Writes that arrive afterwards
    /// wait at the gate until the process ends, unacknowledged.
    pub async fn shutdown(&self) -> Result<(), EngineError> {
        self.checkpoint.stopping.set(true);
        while self.writes_gated.get() || self.checkpoint.running.get() {
            glommio::timer::sleep(GATE_POLL).await;
        }
        self.checkpoint.running.set(true);
        self.shut_gate();
        self.checkpoint(GateAfterCut::StaysShut).await?;
        if let Some(wal) = &self.wal {
            wal.close().await?;
        }
        Ok(())
    }

    /// Starts a checkpoint in the background when the log has grown enough (or `force`, or
    /// one was asked for while another ran).
    fn checkpoint_if_due(self: &Rc<Self>, force: bool) {
        let (Some(wal), Some(settings)) = (&self.wal, &self.checkpoints) else {
            return;
        };
        let state = &self.checkpoint;
        let force = force || state.pending.get();
        let grown = wal
            .stats()
            .written_bytes
            .saturating_sub(self.log_bytes_at_checkpoint.get())
            + self.log_bytes_recovered.get();
        if state.stopping.get() || (!force && grown < settings.log_bytes) {
            return;
        }
        if state.running.get() || self.writes_gated.get() {
            // One at a time; a forced one (DROP, TTL) runs after the one in flight.
            state.pending.set(force);
            return;
        }
        state.pending.set(false);
        state.running.set(true);
        self.shut_gate();
        let shard = Rc::clone(self);
        glommio::spawn_local(async move {
            if let Err(error) = shard.checkpoint(GateAfterCut::Opens).await {
                // The log still holds everything: a failed checkpoint costs replay time only.
                tracing::error!(shard = shard.index, "checkpoint failed: {error}");
            }
            shard.checkpoint.running.set(false);
            if shard.checkpoint.pending.get() {
                shard.checkpoint_if_due(true);
            }
        })
        .detach();
    }

    /// Takes a checkpoint; runs with the gate shut by the caller. At the cut (every write in
    /// flight applied) it freezes what each table writes, then opens the gate (unless
    /// stopping) and writes, publishes and swaps in the files off this core.
    async fn checkpoint(&self, gate: GateAfterCut) -> Result<(), EngineError> {
        let (Some(wal), Some(settings)) = (&self.wal, &self.checkpoints) else {
            return Ok(());
        };
        let started = self
            .checkpoint
            .gate_shut_at
            .get()
            .unwrap_or_else(Instant::now);
        while self.writes_in_flight.get() > 0 {
            glommio::timer::sleep(GATE_POLL).await;
        }
        // No write is between its log append and its apply: everything logged is applied.
        let covered_lsn = wal.stats().next_lsn - 1;
        // TTLs apply here, at the cut: the expired rows leave memory and the segments
        // together, and the log holding them is recycled after the publish.
        let expired_rows = self.store.borrow_mut().expire(now_ns());
        let seals = self.store.borrow_mut().seal_begin();
        let gate_ns = duration_ns(started.elapsed());
        if gate == GateAfterCut::Opens {
            self.writes_gated.set(false);
        }
        self.update_stats(|s| s.gate_ns_max = s.gate_ns_max.max(gate_ns));
        let kinds: Vec<(u64, SealKind)> = seals.iter().map(|s| (s.table_id, s.kind)).collect();
        let target = CheckpointTarget {
            dir: settings.dir.clone(),
            shard_index: self.index,
            sequence: self.checkpoint.sequence.get() + 1,
            covered_lsn,
        };
        self.checkpoint.writing.set(true);
        let published = self.checkpoint_publish(&target, seals).await;
        self.checkpoint.writing.set(false);
        let (sealed, manifest) = match published {
            Ok(published) => published,
            Err(error) => {
                self.store.borrow_mut().seal_abandon(&kinds);
                self.update_stats(|s| s.failures_count += 1);
                return Err(error);
            }
        };
        self.checkpoint.sequence.set(target.sequence);
        let snapshots = self.store.borrow_mut().seal_finish(sealed);
        let recycled = wal.recycle_through(covered_lsn).await?;
        self.log_bytes_at_checkpoint.set(wal.stats().written_bytes);
        self.log_bytes_recovered.set(0);
        let duration_ns = duration_ns(started.elapsed());
        self.update_stats(|s| {
            s.checkpoints_count += 1;
            s.duration_ns_last = duration_ns;
        });
        let storage = self.store.borrow().storage_stats();
        tracing::info!(
            shard = self.index,
            covered_lsn,
            tables_written = kinds.len(),
            compactions = kinds
                .iter()
                .filter(|(_, k)| *k == SealKind::Compaction)
                .count(),
            segment_files = manifest.segments.len(),
            log_segments_recycled = recycled,
            expired_rows,
            heap_rows = storage.heap_rows_count,
            mapped_bytes = storage.mapped_size,
            gate_us = gate_ns / 1000,
            elapsed_ms = duration_ns / 1_000_000,
            "checkpoint"
        );
        self.checkpoint_clean_up(settings.dir.clone(), manifest, snapshots)
            .await;
        Ok(())
    }

    /// Writes the shares' files and publishes the manifest naming them, off this core.
    async fn checkpoint_publish(
        &self,
        target: &CheckpointTarget,
        seals: Vec<TableSeal>,
    ) -> Result<(Vec<TableSealed>, Manifest), EngineError> {
        let writing = target.clone();
        let sealed = run_off_core("checkpoint", move || Ok(write_seals(&writing, seals))).await??;
        let manifest = Manifest {
            covered_lsn: target.covered_lsn,
            sequence: target.sequence,
            segments: self.store.borrow().sealed_file_names(&sealed),
        };
        let (dir, shard_index, publishing) = (target.dir.clone(), self.index, manifest.clone());
        run_off_core("checkpoint", move || {
            Ok(publish_manifest(&dir, shard_index, &publishing))
        })
        .await??;
        Ok((sealed, manifest))
    }

    /// Removes the files `manifest` no longer names and lets go of the snapshots (the last
    /// holders of the frozen heap columns), off this core.
    async fn checkpoint_clean_up(
        &self,
        dir: PathBuf,
        manifest: Manifest,
        snapshots: Vec<TableSeal>,
    ) {
        let shard_index = self.index;
        let cleaned = run_off_core("checkpoint", move || {
            remove_unlisted_segments(&dir, shard_index, &manifest);
            drop(snapshots);
            Ok(())
        })
        .await;
        if let Err(error) = cleaned {
            tracing::warn!(shard = shard_index, "checkpoint clean-up: {error}");
        }
    }
}

/// Whether a checkpoint opens the write gate after its cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GateAfterCut {
    /// Writes resume right after the cut.
    Opens,
    /// The shard is stopping: writes stay held.
    StaysShut,
}

fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Executes `request` on the shard. A write is checked against the store first (so nothing
/// that cannot apply is logged), then logged durably, then applied, then acknowledged. The
/// store is borrowed only inside synchronous sections, so writes waiting on the log interleave
/// without seeing a half-applied change.
pub async fn handle_request(
    shard: &Rc<ShardState>,
    request: ShardRequest,
) -> Result<ShardResponse, EngineError> {
    let is_write = !matches!(request, ShardRequest::Run(_) | ShardRequest::Stats);
    // A dropped table's files and a new TTL's expired rows go with a checkpoint: take it now.
    let force_checkpoint = matches!(
        request,
        ShardRequest::DropTable { .. } | ShardRequest::SetTtl { .. }
    );
    let answer = if matches!(request, ShardRequest::Mutate(_)) {
        // A mutation reads what earlier writes left and must be logged and applied in the
        // same place among them: it runs alone.
        let _exclusive = shard.begin_exclusive_write().await;
        apply_request(shard, request).await
    } else {
        let _write = if is_write {
            Some(shard.begin_write().await)
        } else {
            None
        };
        apply_request(shard, request).await
    };
    if is_write && answer.is_ok() {
        if shard.checkpoint.writing.get() {
            shard.update_stats(|s| s.writes_during_count += 1);
        }
        shard.checkpoint_if_due(force_checkpoint);
    }
    answer
}

/// Prepares `mutation` (nothing changes if that fails), logs it when it affects any row, then
/// installs it. Runs with the write gate held (`begin_exclusive_write`).
async fn mutate(shard: &ShardState, mutation: &Mutation) -> Result<ShardResponse, EngineError> {
    let prepared = shard.store.borrow_mut().prepare_mutation(mutation)?;
    let rows_affected = prepared.rows_affected();
    if rows_affected == 0 {
        return Ok(ShardResponse::Done(0));
    }
    if let Some(wal) = &shard.wal {
        log_write(wal, RecordKind::Mutation, |out| {
            encode_mutation(out, mutation)
        })
        .await?;
    }
    shard.store.borrow_mut().apply_mutation(prepared)?;
    tracing::info!(
        shard = shard.index,
        table = %mutation.table,
        rows_affected,
        "mutation applied"
    );
    Ok(ShardResponse::Done(rows_affected))
}

async fn apply_request(
    shard: &ShardState,
    request: ShardRequest,
) -> Result<ShardResponse, EngineError> {
    if !matches!(request, ShardRequest::Insert { .. }) {
        // Whatever reads or rewrites rows sees late inserts merged in.
        shard.store.borrow_mut().settle_late_rows();
    }
    match request {
        ShardRequest::CreateTable {
            schema,
            if_not_exists,
        } => {
            if shard.store.borrow().table(&schema.name).is_ok() {
                if if_not_exists {
                    return Ok(ShardResponse::Done(0));
                }
                return Err(EngineError::TableExists { table: schema.name });
            }
            if let Some(wal) = &shard.wal {
                let encode = |out: &mut Vec<u8>| encode_create_table(out, &schema, if_not_exists);
                log_write(wal, RecordKind::CreateTable, encode).await?;
            }
            shard.store.borrow_mut().create_table(schema, true)?;
            Ok(ShardResponse::Done(0))
        }
        ShardRequest::DropTable { table, if_exists } => {
            if shard.store.borrow().table(&table).is_err() {
                return if if_exists {
                    Ok(ShardResponse::Done(0))
                } else {
                    Err(EngineError::UnknownTable { table })
                };
            }
            if let Some(wal) = &shard.wal {
                log_write(wal, RecordKind::DropTable, |out| {
                    encode_drop_table(out, &table, if_exists)
                })
                .await?;
            }
            shard.store.borrow_mut().drop_table(&table, true)?;
            Ok(ShardResponse::Done(0))
        }
        ShardRequest::Insert { table, batch, rows } => {
            shard.store.borrow().table(&table)?;
            if let Some(wal) = &shard.wal {
                log_insert(wal, &table, &batch, rows.as_deref()).await?;
            }
            shard
                .store
                .borrow_mut()
                .apply(&table, &batch, rows.as_deref())?;
            Ok(ShardResponse::Done(
                rows.map_or(batch.rows_count, |r| r.len()) as u64,
            ))
        }
        ShardRequest::SetTtl { table, ttl_seconds } => {
            shard.store.borrow().table(&table)?;
            if let Some(wal) = &shard.wal {
                log_write(wal, RecordKind::SetTtl, |out| {
                    encode_set_ttl(out, &table, ttl_seconds)
                })
                .await?;
            }
            shard.store.borrow_mut().set_ttl(&table, ttl_seconds)?;
            Ok(ShardResponse::Done(0))
        }
        ShardRequest::Mutate(mutation) => mutate(shard, &mutation).await,
        ShardRequest::Stats => Ok(ShardResponse::Stats(Box::new(shard.stats()))),
        ShardRequest::Run(fragment) => {
            let result = run_fragment(&shard.store.borrow(), &fragment)?;
            Ok(ShardResponse::Fragment(Box::new(result)))
        }
    }
}
