//! The shard's journal: the glue between shard requests and the write-ahead log. A write is
//! checked against the store, logged durably (per the WAL's sync mode), and only then applied;
//! at start-up the log is replayed into an empty store, schemas included (every shard logs the
//! DDL it applies, so each shard rebuilds its own catalog replica).

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use super::checkpoint::{load_checkpoint, Manifest};
use crate::batch::RowBatch;
use crate::error::EngineError;
use crate::ring::RingLayout;
use crate::storage::store::ShardStore;
use crate::wal::{
    encode_insert_batch, recover, RecordKind, Recovered, RecoveredRecord, Wal, WalConfig, WalEntry,
    WalError,
};

/// Where and how the shards log and checkpoint.
#[derive(Clone, Debug)]
pub struct WalSettings {
    /// Directory of every shard's WAL segments.
    pub dir: PathBuf,
    /// Segment size, sync mode and buffers.
    pub config: WalConfig,
    /// Directory of checkpoint manifests and sealed column segments.
    pub segments_dir: PathBuf,
    /// Log bytes written after which a shard checkpoints (and recycles its log).
    pub checkpoint_log_bytes: u64,
}

impl From<WalError> for EngineError {
    fn from(error: WalError) -> Self {
        EngineError::Wal {
            detail: error.to_string(),
        }
    }
}

/// A shard's recovered journal.
pub struct OpenedJournal {
    /// The log, open for appends.
    pub wal: Rc<Wal>,
    /// The checkpoint the store was loaded from (`Manifest::default()` when none).
    pub checkpoint: Manifest,
    /// Log bytes found after the checkpoint: they count towards the next one, so a server
    /// restarted again and again still checkpoints every `checkpoint_log_bytes`.
    pub log_bytes_uncovered: u64,
}

/// Loads shard `shard_index`'s last checkpoint into `store`, replays its log after it and
/// opens the log for appends; the shard is a member of `ring`, which every segment read must
/// have been written under.
pub async fn open_journal(
    settings: &WalSettings,
    shard_index: usize,
    ring: RingLayout,
    store: &mut ShardStore,
) -> Result<OpenedJournal, EngineError> {
    std::fs::create_dir_all(&settings.dir).map_err(|e| EngineError::Wal {
        detail: format!("cannot create {}: {e}", settings.dir.display()),
    })?;
    let started = Instant::now();
    let checkpoint = load_checkpoint(&settings.segments_dir, shard_index, store)?;
    let covered_lsn = checkpoint.covered_lsn;
    let recovered = recover(
        &settings.dir,
        shard_index as u32,
        ring,
        covered_lsn,
        |record: RecoveredRecord| {
            replay(store, record);
            Ok::<(), EngineError>(())
        },
    )?;
    let report = &recovered.report;
    tracing::info!(
        shard = shard_index,
        checkpoint_lsn = covered_lsn,
        checkpoint_files = checkpoint.segments.len(),
        segments = report.segments_count,
        records = report.records_replayed_count,
        block_gaps = report.block_gaps_count,
        next_lsn = recovered.next_lsn,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "WAL recovered"
    );
    let log_bytes_uncovered = log_bytes_uncovered(&recovered, &settings.config);
    let wal = Wal::open(recovered, settings.config.clone()).await?;
    Ok(OpenedJournal {
        wal,
        checkpoint,
        log_bytes_uncovered,
    })
}

/// Log bytes recovery found after the checkpoint: the earlier segments whole, and the last one
/// up to its end. An upper bound only when a crash came between a manifest's publish and the
/// recycling of the log it covers.
fn log_bytes_uncovered(recovered: &Recovered, config: &WalConfig) -> u64 {
    let sealed_size = recovered.sealed.len() as u64 * config.segment_size_bytes;
    sealed_size + recovered.tail.as_ref().map_or(0, |tail| tail.end_offset)
}

/// Applies one logged write. Records were checked before they were logged and are replayed
/// in log order, so a failure here means a DDL race that resolved the same way live (an insert
/// into a table a later record drops); it is logged and skipped, never fatal.
fn replay(store: &mut ShardStore, record: RecoveredRecord) {
    let lsn = record.lsn;
    let applied = match record.entry {
        WalEntry::InsertBatch { table, batch } => store.apply(&table, &batch, None),
        WalEntry::CreateTable { schema, .. } => store.create_table(schema, true),
        WalEntry::DropTable { table, .. } => store.drop_table(&table, true),
        WalEntry::SetTtl { table, ttl_seconds } => store.set_ttl(&table, ttl_seconds),
        WalEntry::Mutation(mutation) => store.mutate(&mutation).map(drop),
        WalEntry::Checkpoint { .. } => Ok(()),
    };
    if let Err(error) = applied {
        tracing::warn!(lsn, "WAL replay skipped a record: {error}");
    }
}

/// Logs the rows `rows` of `batch` (all when `None`) durably. A batch whose record would not
/// fit in one WAL record (the segment size bounds it) is logged as several records of
/// consecutive rows, halving the piece until it fits; the insert is acknowledged only after
/// the last one, so a crash can leave a prefix of an unacknowledged insert, never lose an
/// acknowledged one.
pub async fn log_insert(
    wal: &Rc<Wal>,
    table: &str,
    batch: &RowBatch,
    rows: Option<&[u32]>,
) -> Result<(), EngineError> {
    let limit = wal.config().record_payload_size_max();
    // Room for the rows' values up front: a multi-megabyte record grown by doubling would be
    // copied about once more in all.
    let rows_count = rows.map_or(batch.rows_count, <[u32]>::len);
    let row_size = batch.bytes_size() / batch.rows_count.max(1);
    let mut payload = Vec::with_capacity((rows_count * (row_size + 1) + 256).min(limit + 256));
    let encode_error = |e: crate::wal::CodecError| EngineError::Wal {
        detail: format!("encoding an insert: {e}"),
    };
    // Encodes `rows` into `payload`: `Ok(false)` when the record would be too large for one
    // WAL record (the encoder's own cap or this log's), so the caller splits the rows.
    let encode = |payload: &mut Vec<u8>, rows: Option<&[u32]>| {
        payload.clear();
        match encode_insert_batch(payload, table, batch, rows) {
            Ok(()) => Ok(payload.len() <= limit),
            Err(crate::wal::CodecError::TooLarge {
                what: "payload size",
                ..
            }) => Ok(false),
            Err(e) => Err(encode_error(e)),
        }
    };
    if encode(&mut payload, rows)? {
        wal.append_durable(RecordKind::InsertBatch, &payload)
            .await?;
        return Ok(());
    }
    let rows = batch.selected_rows(rows);
    let rows: &[u32] = &rows;
    let (mut start, mut piece_rows) = (0, rows.len() / 2);
    while start < rows.len() {
        let end = rows.len().min(start + piece_rows.max(1));
        if !encode(&mut payload, Some(&rows[start..end]))? {
            if end - start > 1 {
                piece_rows = (end - start) / 2;
                continue;
            }
            return Err(EngineError::Wal {
                detail: format!(
                    "one row of `{table}` does not fit in a WAL record of {limit} bytes"
                ),
            });
        }
        wal.append_durable(RecordKind::InsertBatch, &payload)
            .await?;
        start = end;
    }
    Ok(())
}

/// Logs one write durably: encodes it with `encode` and waits for the WAL's acknowledgement.
pub async fn log_write(
    wal: &Rc<Wal>,
    kind: RecordKind,
    encode: impl FnOnce(&mut Vec<u8>) -> Result<(), crate::wal::CodecError>,
) -> Result<(), EngineError> {
    let mut payload = Vec::new();
    encode(&mut payload).map_err(|e| EngineError::Wal {
        detail: format!("encoding a {kind:?} record: {e}"),
    })?;
    wal.append_durable(kind, &payload).await?;
    Ok(())
}
