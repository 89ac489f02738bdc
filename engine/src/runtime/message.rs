//! Messages a shard accepts from any core, and its answers. Plain data: they cross threads.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::checkpoint::write_checkpoint;
use super::journal::{log_insert, log_write};
use crate::batch::RowBatch;
use crate::error::EngineError;
use crate::fragment::exec::{run_fragment, FragmentResult};
use crate::fragment::plan::Fragment;
use crate::schema::TableSchema;
use crate::storage::mutate::Mutation;
use crate::storage::store::ShardStore;
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
    /// The log's counters and sync mode, when the shard has a log.
    pub wal: Option<(WalStats, SyncMode)>,
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
        wal: Rc<Wal>,
        checkpoints: CheckpointSettings,
    ) -> ShardState {
        let log_bytes = wal.stats().written_bytes;
        ShardState {
            index,
            store: RefCell::new(store),
            wal: Some(wal),
            checkpoints: Some(checkpoints),
            log_bytes_at_checkpoint: Cell::new(log_bytes),
            ..ShardState::default()
        }
    }

    fn stats(&self) -> ShardStats {
        let store = self.store.borrow();
        ShardStats {
            shard: self.index,
            tables_count: store.tables().count() as u64,
            partitions_count: store.tables().map(|t| t.partitions.len() as u64).sum(),
            rows_count: store.tables().map(|t| t.rows_count).sum(),
            wal: self
                .wal
                .as_ref()
                .map(|wal| (wal.stats(), wal.config().sync_mode)),
        }
    }

    async fn begin_write(&self) -> WriteGuard<'_> {
        while self.writes_gated.get() {
            glommio::timer::sleep(GATE_POLL).await;
        }
        self.writes_in_flight.set(self.writes_in_flight.get() + 1);
        WriteGuard(&self.writes_in_flight)
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

    /// Clean stop: gates writes, takes a final checkpoint (so the next start replays nothing)
    /// and closes the log. Writes that arrive afterwards wait at the gate until the process
    /// ends, unacknowledged.
    pub async fn shutdown(&self) -> Result<(), EngineError> {
        while self.writes_gated.get() {
            glommio::timer::sleep(GATE_POLL).await;
        }
        self.writes_gated.set(true);
        self.checkpoint().await?;
        if let Some(wal) = &self.wal {
            wal.close().await?;
        }
        Ok(())
    }

    /// Starts a checkpoint in the background when the log has grown enough (or `force`).
    fn checkpoint_if_due(self: &Rc<Self>, force: bool) {
        let (Some(wal), Some(settings)) = (&self.wal, &self.checkpoints) else {
            return;
        };
        let grown = wal
            .stats()
            .written_bytes
            .saturating_sub(self.log_bytes_at_checkpoint.get());
        if self.writes_gated.get() || (!force && grown < settings.log_bytes) {
            return;
        }
        self.writes_gated.set(true);
        let shard = Rc::clone(self);
        glommio::spawn_local(async move {
            if let Err(error) = shard.checkpoint().await {
                // The log still holds everything: a failed checkpoint costs replay time only.
                tracing::error!(shard = shard.index, "checkpoint failed: {error}");
            }
            shard.writes_gated.set(false);
        })
        .detach();
    }

    /// Waits out the writes in flight, snapshots every table, publishes the manifest and
    /// recycles the log through the covered LSN. Runs with `writes_gated` set.
    async fn checkpoint(&self) -> Result<(), EngineError> {
        let (Some(wal), Some(settings)) = (&self.wal, &self.checkpoints) else {
            return Ok(());
        };
        while self.writes_in_flight.get() > 0 {
            glommio::timer::sleep(GATE_POLL).await;
        }
        let started = Instant::now();
        // No write is between its log append and its apply: everything logged is applied.
        let covered_lsn = wal.stats().next_lsn - 1;
        // TTLs apply here, at checkpoint time: the expired rows leave memory and the segments
        // together, and the log holding them is recycled below.
        let expired_rows = self.store.borrow_mut().expire(now_ns());
        let manifest =
            write_checkpoint(&settings.dir, self.index, &self.store.borrow(), covered_lsn)?;
        let recycled = wal.recycle_through(covered_lsn).await?;
        self.log_bytes_at_checkpoint.set(wal.stats().written_bytes);
        tracing::info!(
            shard = self.index,
            covered_lsn,
            segments = manifest.segments.len(),
            log_segments_recycled = recycled,
            expired_rows,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "checkpoint"
        );
        Ok(())
    }
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
