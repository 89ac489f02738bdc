//! The writer: one `Wal` per shard, owned by the shard's executor (`!Send`), with group commit.
//!
//! `append` encodes a record into an in-memory chunk that mirrors the segment from the start
//! of its first dirty 4 KiB block; it does no I/O. `commit(lsn)` waits until that record is as
//! durable as the `SyncMode` promises. One flush task at a time turns everything appended so
//! far into one `DmaFile::write_at` of the dirty blocks, made durable by one `fdatasync` (or,
//! in `Sync` mode, by the write itself: segments are opened O_DSYNC, which on a preallocated,
//! fully written file is a FUA write, one device round trip instead of two); appends that land
//! while it is in flight are picked up by its next round. So N concurrent writers cost about
//! two durable rounds, not N.
//!
//! The last, partial block is kept in memory and written again, with the next records, by the
//! next round: its already-durable prefix is rewritten with identical bytes, so a torn write
//! of that block cannot damage an acknowledged record.
//!
//! # Pipelined writes in `Sync` mode
//!
//! With O_DSYNC each write is its own durability point, so a round need not wait for the one
//! before it: up to `WalConfig::writes_in_flight_max` writes are in flight at once, and a record that
//! arrives while a write is in flight goes out at once instead of waiting a whole device round
//! trip for its turn (with two writers on a shard, that wait doubled the ack latency). Two
//! rules keep it exact:
//! - *Never two writes on one block.* Overlapping in-flight writes may land in either order,
//!   and the older, shorter copy of a block landing last would erase acknowledged records. So
//!   when the kept partial block still belongs to a write in flight, the new records move to
//!   the next block boundary, leaving the rest of that block as the zeros the earlier write put
//!   there. Recovery steps over such a gap only when the next block starts with the very next
//!   LSN (`recovery.rs`), so no record can be lost in it.
//! - *Acknowledge in LSN order.* Writes may complete out of order; `written_lsn` and
//!   `durable_lsn` advance only over the completed prefix of the issued writes, so an ack never
//!   depends on an earlier write that might still be torn by a crash.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use glommio::io::DmaFile;

use super::error::WalError;
use super::record::{
    encode_record, record_size, RecordKind, WAL_RECORD_HEADER_SIZE, WAL_RECORD_PAYLOAD_SIZE_MAX,
};
use super::recovery::Recovered;
use super::segment::{
    activate_spare_blocking, block_align_down, block_align_up, create_spare_blocking,
    recycle_segment_blocking, run_off_core, segment_file_name, spare_file_name, SegmentHeader,
    WAL_BLOCK_SIZE, WAL_SEGMENT_HEADER_SIZE, WAL_SEGMENT_SIZE_DEFAULT, WAL_SEGMENT_SIZE_MAX,
    WAL_SEGMENT_SIZE_MIN,
};
use super::Lsn;
use crate::ring::RingLayout;

/// Default bound on bytes appended but not yet written.
pub const WAL_BUFFER_SIZE_DEFAULT: usize = 32 << 20;
/// Longest `SyncMode::Batch` interval.
pub const WAL_BATCH_INTERVAL_MS_MAX: u64 = 60_000;
/// Default number of pre-zeroed spare segments kept ready (created or recycled).
pub const WAL_SPARES_COUNT_DEFAULT: usize = 2;
/// Default bound on `Sync`-mode writes in flight at once (see "Pipelined writes" above). Each
/// costs at most one block of log space for its gap; beyond a few the device queue, not the
/// ack path, is what waits.
pub const WAL_WRITES_IN_FLIGHT_DEFAULT: usize = 4;
/// Largest `WalConfig::writes_in_flight_max`.
pub const WAL_WRITES_IN_FLIGHT_MAX: usize = 64;

const _: () = {
    // A maximal record fits in the buffer, with the partial block kept from the last round.
    assert!(WAL_BUFFER_SIZE_DEFAULT >= record_size(WAL_RECORD_PAYLOAD_SIZE_MAX) + WAL_BLOCK_SIZE);
    // A maximal record fits in an empty default segment.
    assert!(
        (WAL_SEGMENT_HEADER_SIZE + record_size(WAL_RECORD_PAYLOAD_SIZE_MAX)) as u64
            <= WAL_SEGMENT_SIZE_DEFAULT
    );
};

/// When `commit` acknowledges a record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// After the record's write and an fdatasync: an acknowledged record survives power loss.
    #[default]
    Sync,
    /// After the record's write; an fdatasync follows within `interval_ms`. A crash of the
    /// machine (not of the process) can lose up to `interval_ms` of acknowledged records.
    Batch {
        /// Longest time written data waits for its fdatasync.
        interval_ms: u64,
    },
    /// As soon as the record is buffered; it is written in the background and never synced
    /// except by `sync` or `close`. A process crash can lose acknowledged records.
    Off,
}

/// How a shard's WAL is run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalConfig {
    /// Size of each new segment file (pre-allocated and pre-zeroed).
    pub segment_size_bytes: u64,
    /// When commits are acknowledged.
    pub sync_mode: SyncMode,
    /// Bound on bytes appended but not yet written; beyond it `append` is `BufferFull`.
    pub buffer_size_bytes_max: usize,
    /// Spare segments to keep ready; checkpointed segments beyond this are deleted.
    pub spares_count_max: usize,
    /// Most `Sync`-mode writes in flight at once; 1 makes each round wait for the previous.
    pub writes_in_flight_max: usize,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            segment_size_bytes: WAL_SEGMENT_SIZE_DEFAULT,
            sync_mode: SyncMode::Sync,
            buffer_size_bytes_max: WAL_BUFFER_SIZE_DEFAULT,
            spares_count_max: WAL_SPARES_COUNT_DEFAULT,
            writes_in_flight_max: WAL_WRITES_IN_FLIGHT_DEFAULT,
        }
    }
}

impl WalConfig {
    /// Checks every field against its limits.
    pub fn validate(&self) -> Result<(), WalError> {
        let size = self.segment_size_bytes;
        let bad = |detail: String| Err(WalError::Config { detail });
        if !(WAL_SEGMENT_SIZE_MIN..=WAL_SEGMENT_SIZE_MAX).contains(&size)
            || !size.is_multiple_of(WAL_BLOCK_SIZE as u64)
        {
            return bad(format!(
                "segment_size_bytes {size} must be a multiple of {WAL_BLOCK_SIZE} in \
                 {WAL_SEGMENT_SIZE_MIN}..={WAL_SEGMENT_SIZE_MAX}"
            ));
        }
        if self.buffer_size_bytes_max < 2 * WAL_BLOCK_SIZE {
            return bad(format!(
                "buffer_size_bytes_max {} below {}",
                self.buffer_size_bytes_max,
                2 * WAL_BLOCK_SIZE
            ));
        }
        if self.spares_count_max == 0 {
            return bad("spares_count_max must be at least 1".into());
        }
        if !(1..=WAL_WRITES_IN_FLIGHT_MAX).contains(&self.writes_in_flight_max) {
            return bad(format!(
                "writes_in_flight_max {} not in 1..={WAL_WRITES_IN_FLIGHT_MAX}",
                self.writes_in_flight_max
            ));
        }
        if let SyncMode::Batch { interval_ms } = self.sync_mode {
            if interval_ms == 0 || interval_ms > WAL_BATCH_INTERVAL_MS_MAX {
                return bad(format!(
                    "batch interval_ms {interval_ms} not in 1..={WAL_BATCH_INTERVAL_MS_MAX}"
                ));
            }
        }
        Ok(())
    }

    /// Largest payload a record may carry in a segment of this configuration.
    pub fn record_payload_size_max(&self) -> usize {
        let in_segment =
            self.segment_size_bytes as usize - WAL_SEGMENT_HEADER_SIZE - WAL_RECORD_HEADER_SIZE;
        let in_buffer = self.buffer_size_bytes_max - WAL_BLOCK_SIZE - WAL_RECORD_HEADER_SIZE;
        WAL_RECORD_PAYLOAD_SIZE_MAX.min(in_segment).min(in_buffer)
    }
}

/// Counters and positions, for tests, metrics and the group-commit ratio.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Records appended since open.
    pub appends_count: u64,
    /// `write_at` calls.
    pub writes_count: u64,
    /// Durability waits: `fdatasync` calls, and in `Sync` mode the O_DSYNC writes.
    pub fdatasyncs_count: u64,
    /// Total time spent in those waits, in ns (with the count: the mean).
    pub fdatasync_ns_total: u64,
    /// The slowest of those waits since open, in ns.
    pub fdatasync_ns_max: u64,
    /// Bytes handed to `write_at` (whole blocks, rewrites included).
    pub written_bytes: u64,
    /// Segments started since open.
    pub segments_rolled_count: u64,
    /// The LSN the next append gets.
    pub next_lsn: Lsn,
    /// Every record up to this LSN is written.
    pub written_lsn: Lsn,
    /// Every record up to this LSN is written and synced.
    pub durable_lsn: Lsn,
}

/// How far a waiter needs its record to have gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AckLevel {
    Buffered,
    Written,
    Durable,
}

/// An I/O the flush task does; tests inject a failure at the next one of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultPoint {
    Write,
    Sync,
}

/// The open segment.
struct OpenSegment {
    file: Rc<DmaFile>,
    path: PathBuf,
    header: SegmentHeader,
}

/// Records waiting to be written to one segment, mirrored from a block boundary.
struct Chunk {
    /// `Some`: roll to a new segment with this header before writing this chunk.
    roll_to: Option<SegmentHeader>,
    segment_size_bytes: u64,
    /// File offset of `bytes[0]`; a multiple of `WAL_BLOCK_SIZE`.
    block_offset: u64,
    bytes: Vec<u8>,
    /// `bytes[..written_size]` are on disk already (the kept partial block).
    written_size: usize,
    /// LSN of the last record in `bytes`.
    last_lsn: Lsn,
}

impl Chunk {
    fn end_offset(&self) -> u64 {
        self.block_offset + self.bytes.len() as u64
    }

    fn new_segment(header: SegmentHeader) -> Chunk {
        Chunk {
            roll_to: Some(header),
            segment_size_bytes: header.segment_size_bytes,
            block_offset: WAL_SEGMENT_HEADER_SIZE as u64,
            bytes: Vec::new(),
            written_size: 0,
            last_lsn: header.first_lsn - 1,
        }
    }
}

/// One round of the flush task.
enum FlushStep {
    Roll(SegmentHeader),
    Write(WriteJob),
    Sync,
    /// Pipelined writes are at their limit, or must all finish before a roll.
    AwaitWrite,
    Idle,
}

/// A pipelined write, from issue until it and every write before it have completed.
struct IssuedWrite {
    sequence: u64,
    last_lsn: Lsn,
    /// `Some(device time)` once it completed.
    completed: Option<Duration>,
}

struct WriteJob {
    file: Rc<DmaFile>,
    path: PathBuf,
    offset: u64,
    buffer: glommio::io::DmaBuffer,
    last_lsn: Lsn,
    sync: bool,
    /// Its place among pipelined writes (unused by the serial path).
    sequence: u64,
}

struct WalState {
    segment: Option<OpenSegment>,
    /// Front: the open segment's unwritten records; later entries start new segments.
    chunks: VecDeque<Chunk>,
    pending_size: usize,
    next_lsn: Lsn,
    written_lsn: Lsn,
    durable_lsn: Lsn,
    flush_in_flight: bool,
    /// Pipelined (`Sync` mode) writes issued, oldest first; popped in order once completed.
    writes: VecDeque<IssuedWrite>,
    write_sequence_next: u64,
    /// The pipelined write in flight whose last block is the front chunk's kept partial block.
    tail_block_writer: Option<u64>,
    sync_requested: bool,
    sync_timer_armed: bool,
    synced_at: Instant,
    poison: Option<Arc<WalError>>,
    closed: bool,
    spares: VecDeque<PathBuf>,
    spare_in_progress: bool,
    spare_index_next: u64,
    /// Segments before the open one, oldest first: (first LSN, path).
    sealed: VecDeque<(Lsn, PathBuf)>,
    stats: WalStats,
    #[cfg(test)]
    fault: Option<FaultPoint>,
}

/// Wakes every waiter when a flush round ends.
#[derive(Default)]
struct FlushSignal {
    epoch: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl FlushSignal {
    fn epoch(&self) -> u64 {
        self.epoch.get()
    }

    fn notify(&self) {
        self.epoch.set(self.epoch.get() + 1);
        let wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        wakers.into_iter().for_each(Waker::wake);
    }

    fn wait(&self, epoch_seen: u64) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if self.epoch.get() != epoch_seen {
                return Poll::Ready(());
            }
            self.wakers.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
    }
}

/// A shard's write-ahead log. Create with `Wal::open` from the result of `recover`.
pub struct Wal {
    dir: PathBuf,
    shard_index: u32,
    ring: RingLayout,
    config: WalConfig,
    state: RefCell<WalState>,
    signal: FlushSignal,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("shard_index", &self.shard_index)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Wal {
    /// Opens the writer where `recover` left the log: appends continue in the last segment,
    /// or in a new first segment when there was none. Must run on the shard's executor.
    pub async fn open(recovered: Recovered, config: WalConfig) -> Result<Rc<Wal>, WalError> {
        config.validate()?;
        let next_lsn = recovered.next_lsn;
        assert!(next_lsn > 0, "LSNs start at 1");
        let wal = Rc::new(Wal {
            dir: recovered.dir.clone(),
            shard_index: recovered.shard_index,
            ring: recovered.ring,
            config,
            state: RefCell::new(WalState {
                segment: None,
                chunks: VecDeque::new(),
                pending_size: 0,
                next_lsn,
                written_lsn: next_lsn - 1,
                durable_lsn: next_lsn - 1,
                flush_in_flight: false,
                writes: VecDeque::new(),
                write_sequence_next: 0,
                tail_block_writer: None,
                sync_requested: false,
                sync_timer_armed: false,
                synced_at: Instant::now(),
                poison: None,
                closed: false,
                spares: recovered.spares.into_iter().collect(),
                spare_in_progress: false,
                spare_index_next: recovered.spare_index_next,
                sealed: recovered.sealed.into_iter().collect(),
                stats: WalStats::default(),
                #[cfg(test)]
                fault: None,
            }),
            signal: FlushSignal::default(),
        });
        match recovered.tail {
            Some(tail) => {
                let file = open_segment_file(&tail.path, wal.writes_are_durable()).await?;
                let block_offset = block_align_down(tail.end_offset);
                let mut state = wal.state.borrow_mut();
                state.segment = Some(OpenSegment {
                    file,
                    path: tail.path,
                    header: tail.header,
                });
                state.chunks.push_back(Chunk {
                    roll_to: None,
                    segment_size_bytes: tail.header.segment_size_bytes,
                    block_offset,
                    written_size: tail.block_bytes.len(),
                    bytes: tail.block_bytes,
                    last_lsn: next_lsn - 1,
                });
            }
            None => {
                let header = wal.segment_header(next_lsn);
                wal.flush_roll(header).await?;
                wal.state.borrow_mut().chunks.push_back(Chunk {
                    roll_to: None,
                    ..Chunk::new_segment(header)
                });
            }
        }
        wal.spare_ensure_background();
        Ok(wal)
    }

    /// The directory the segments live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &WalConfig {
        &self.config
    }

    /// Counters and LSN positions.
    pub fn stats(&self) -> WalStats {
        let state = self.state.borrow();
        WalStats {
            next_lsn: state.next_lsn,
            written_lsn: state.written_lsn,
            durable_lsn: state.durable_lsn,
            ..state.stats
        }
    }

    /// Buffers one record and returns its LSN. No I/O: the record is not durable until a
    /// `commit` of its LSN (or a later one) returns.
    pub fn append(&self, kind: RecordKind, payload: &[u8]) -> Result<Lsn, WalError> {
        let mut state = self.state.borrow_mut();
        check_open(&state)?;
        let payload_size_max = self.config.record_payload_size_max();
        if payload.len() > payload_size_max {
            return Err(WalError::RecordTooLarge {
                payload_size: payload.len(),
                payload_size_max,
            });
        }
        let size = record_size(payload.len());
        if state.pending_size + size > self.config.buffer_size_bytes_max {
            return Err(WalError::BufferFull {
                pending_size: state.pending_size,
                record_size: size,
                buffer_size_max: self.config.buffer_size_bytes_max,
            });
        }
        let lsn = state.next_lsn;
        let fits = state
            .chunks
            .back()
            .is_some_and(|c| c.end_offset() + size as u64 <= c.segment_size_bytes);
        if !fits {
            let header = self.segment_header(lsn);
            state.chunks.push_back(Chunk::new_segment(header));
        }
        let Some(chunk) = state.chunks.back_mut() else {
            unreachable!("a chunk was pushed above when none fit");
        };
        let start = chunk.bytes.len();
        chunk.bytes.resize(start + size, 0);
        encode_record(&mut chunk.bytes[start..], lsn, kind, payload);
        chunk.last_lsn = lsn;
        debug_assert!(chunk.end_offset() <= chunk.segment_size_bytes);
        state.pending_size += size;
        state.next_lsn = lsn + 1;
        state.stats.appends_count += 1;
        Ok(lsn)
    }

    /// Waits until record `lsn` is acknowledged under the configured `SyncMode`: durable
    /// (`Sync`), written (`Batch`), or at once after starting its write (`Off`). Commits of
    /// concurrent callers share one write and one fdatasync (group commit).
    pub async fn commit(self: &Rc<Self>, lsn: Lsn) -> Result<(), WalError> {
        let level = match self.config.sync_mode {
            SyncMode::Sync => AckLevel::Durable,
            SyncMode::Batch { .. } => AckLevel::Written,
            SyncMode::Off => AckLevel::Buffered,
        };
        self.wait_for(lsn, level).await
    }

    /// `append` then `commit`: resolves once the record is acknowledged under the `SyncMode`.
    /// A full buffer waits for the writes in flight and retries once.
    pub async fn append_durable(
        self: &Rc<Self>,
        kind: RecordKind,
        payload: &[u8],
    ) -> Result<Lsn, WalError> {
        let lsn = match self.append(kind, payload) {
            Err(WalError::BufferFull { .. }) => {
                let last_lsn = self.state.borrow().next_lsn - 1;
                self.wait_for(last_lsn, AckLevel::Written).await?;
                self.append(kind, payload)?
            }
            other => other?,
        };
        self.commit(lsn).await?;
        Ok(lsn)
    }

    /// Writes and fdatasyncs everything appended so far, whatever the `SyncMode` (for
    /// checkpoints and shutdown). Returns the last durable LSN.
    pub async fn sync(self: &Rc<Self>) -> Result<Lsn, WalError> {
        let last_lsn = self.state.borrow().next_lsn - 1;
        self.state.borrow_mut().sync_requested = true;
        self.wait_for(last_lsn, AckLevel::Durable).await?;
        Ok(last_lsn)
    }

    /// Syncs everything and closes the open segment. Later calls fail with `Closed`.
    pub async fn close(self: &Rc<Self>) -> Result<(), WalError> {
        self.sync().await?;
        let segment = {
            let mut state = self.state.borrow_mut();
            state.closed = true;
            state.segment.take()
        };
        if let Some(segment) = segment {
            close_segment_file(segment.file, &segment.path).await?;
        }
        Ok(())
    }

    /// Recycles (or deletes, beyond `spares_count_max`) the segments whose every record is at
    /// or below `checkpoint_lsn`; the open segment is never touched. Returns how many.
    pub async fn recycle_through(self: &Rc<Self>, checkpoint_lsn: Lsn) -> Result<usize, WalError> {
        let mut recycled_count = 0;
        // Bounded by the number of sealed segments, each popped once.
        loop {
            let Some(path) = self.sealed_pop_covered(checkpoint_lsn) else {
                return Ok(recycled_count);
            };
            let spare = {
                let mut state = self.state.borrow_mut();
                let keep = state.spares.len() < self.config.spares_count_max;
                keep.then(|| {
                    state.spare_index_next += 1;
                    self.dir.join(spare_file_name(
                        self.shard_index,
                        state.spare_index_next - 1,
                    ))
                })
            };
            let segment_path = path.clone();
            let spare_path = spare.clone();
            run_off_core("recycle", move || match spare_path {
                Some(spare_path) => recycle_segment_blocking(&segment_path, &spare_path),
                None => remove_segment_blocking(&segment_path),
            })
            .await?;
            if let Some(spare) = spare {
                self.state.borrow_mut().spares.push_back(spare);
            }
            recycled_count += 1;
        }
    }

    /// The oldest sealed segment if the checkpoint covers all its records: they end where the
    /// next segment (sealed or open) begins.
    fn sealed_pop_covered(&self, checkpoint_lsn: Lsn) -> Option<PathBuf> {
        let mut state = self.state.borrow_mut();
        let next_first_lsn = match state.sealed.get(1) {
            Some((first_lsn, _)) => *first_lsn,
            None => state.segment.as_ref()?.header.first_lsn,
        };
        if state.sealed.is_empty() || next_first_lsn - 1 > checkpoint_lsn {
            return None;
        }
        state.sealed.pop_front().map(|(_, path)| path)
    }

    fn segment_header(&self, first_lsn: Lsn) -> SegmentHeader {
        SegmentHeader {
            shard_index: self.shard_index,
            first_lsn,
            segment_size_bytes: self.config.segment_size_bytes,
            ring: self.ring,
        }
    }

    /// Injects a failure at the next write or fdatasync.
    #[cfg(test)]
    pub(crate) fn inject_fault(&self, fault: FaultPoint) {
        self.state.borrow_mut().fault = Some(fault);
    }
}

/// Records that everything up to `target_lsn` is durable, after a wait (an fdatasync, or an
/// O_DSYNC write) of `latency`.
fn mark_durable(state: &mut WalState, target_lsn: Lsn, latency: Duration) {
    let latency_ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
    state.durable_lsn = state.durable_lsn.max(target_lsn);
    state.stats.fdatasyncs_count += 1;
    state.stats.fdatasync_ns_total = state.stats.fdatasync_ns_total.saturating_add(latency_ns);
    state.stats.fdatasync_ns_max = state.stats.fdatasync_ns_max.max(latency_ns);
    state.synced_at = Instant::now();
    state.sync_requested = false;
}

/// Whether a pipelined write may be issued now; moves the front chunk's new records past a
/// partial block that a write in flight still holds (the gap rule in the module doc).
fn pipelined_write_may_start(state: &mut WalState, writes_in_flight_max: usize) -> bool {
    if state.writes.len() >= writes_in_flight_max {
        return false;
    }
    if state.tail_block_writer.is_none() {
        return true;
    }
    let Some(front) = state.chunks.front_mut() else {
        return true;
    };
    // The kept partial block is `bytes[..written_size]`, from `block_offset`.
    let new_size = front.bytes.len() - front.written_size;
    let moved_offset = front.block_offset + WAL_BLOCK_SIZE as u64;
    if front.written_size == 0 || moved_offset + new_size as u64 > front.segment_size_bytes {
        // No room left in the segment for the gap: wait for the write that holds the block.
        return front.written_size == 0;
    }
    front.bytes.drain(..front.written_size);
    front.block_offset = moved_offset;
    front.written_size = 0;
    state.tail_block_writer = None;
    true
}

fn check_open(state: &WalState) -> Result<(), WalError> {
    if let Some(cause) = &state.poison {
        return Err(WalError::Poisoned {
            cause: Arc::clone(cause),
        });
    }
    if state.closed {
        return Err(WalError::Closed);
    }
    Ok(())
}

fn remove_segment_blocking(path: &Path) -> Result<(), WalError> {
    std::fs::remove_file(path).map_err(|e| WalError::io("remove segment", path, 0, e))?;
    super::segment::sync_dir_blocking(path.parent().unwrap_or(Path::new(".")))
}

/// Opens a segment for O_DIRECT writes; with `write_through`, also O_DSYNC, so a write that
/// completes is durable (on a preallocated, fully written file no metadata changes, so the
/// kernel issues it as a FUA write: one device round trip instead of a write plus a flush).
async fn open_segment_file(path: &Path, write_through: bool) -> Result<Rc<DmaFile>, WalError> {
    let flags = if write_through { libc::O_DSYNC } else { 0 };
    let file = glommio::io::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(flags)
        .dma_open(path)
        .await
        .map_err(|e| WalError::glommio("open segment", path, 0, e))?;
    // Our blocks are 4 KiB; a device needing larger O_DIRECT alignment cannot take them.
    if !(WAL_BLOCK_SIZE as u64).is_multiple_of(file.alignment()) {
        return Err(WalError::Config {
            detail: format!(
                "{} needs O_DIRECT alignment {}, WAL blocks are {WAL_BLOCK_SIZE}",
                path.display(),
                file.alignment()
            ),
        });
    }
    Ok(Rc::new(file))
}

async fn close_segment_file(file: Rc<DmaFile>, path: &Path) -> Result<(), WalError> {
    match Rc::try_unwrap(file) {
        Ok(file) => file
            .close()
            .await
            .map_err(|e| WalError::glommio("close segment", path, 0, e)),
        // A write still holds it; the last holder's drop closes it.
        Err(_) => Ok(()),
    }
}

/// The flush task and its helpers: the only code that writes the open segment.
impl Wal {
    async fn wait_for(self: &Rc<Self>, lsn: Lsn, level: AckLevel) -> Result<(), WalError> {
        // Each round waits for one flush round to end; the flush task always makes progress
        // or poisons the WAL, so this ends.
        loop {
            let epoch = self.signal.epoch();
            if self.wait_for_done(lsn, level)? {
                return Ok(());
            }
            self.flush_kick();
            if level == AckLevel::Buffered {
                return Ok(());
            }
            self.signal.wait(epoch).await;
        }
    }

    fn wait_for_done(&self, lsn: Lsn, level: AckLevel) -> Result<bool, WalError> {
        let mut state = self.state.borrow_mut();
        if let Some(cause) = &state.poison {
            return Err(WalError::Poisoned {
                cause: Arc::clone(cause),
            });
        }
        if lsn >= state.next_lsn {
            return Err(WalError::NotAppended {
                lsn,
                next_lsn: state.next_lsn,
            });
        }
        let done = match level {
            AckLevel::Buffered | AckLevel::Written => state.written_lsn >= lsn,
            AckLevel::Durable => state.durable_lsn >= lsn,
        };
        if !done && state.closed {
            return Err(WalError::Closed);
        }
        if !done && level == AckLevel::Durable {
            state.sync_requested = true;
        }
        Ok(done)
    }

    /// In `sync` mode segments are opened O_DSYNC: every completed write is durable.
    fn writes_are_durable(&self) -> bool {
        matches!(self.config.sync_mode, SyncMode::Sync)
    }

    fn flush_kick(self: &Rc<Self>) {
        {
            let mut state = self.state.borrow_mut();
            if state.flush_in_flight || state.poison.is_some() || state.closed {
                return;
            }
            state.flush_in_flight = true;
        }
        let wal = Rc::clone(self);
        glommio::spawn_local(async move { wal.flush_loop().await }).detach();
    }

    /// Rounds of roll / write / sync until nothing is pending. Appends made during a round
    /// join the next one: that is the group commit.
    async fn flush_loop(self: Rc<Self>) {
        // Waiters are woken only when something they wait on may have changed: a loop that
        // finds nothing to do must not wake them, or a waiter whose pipelined write is in
        // flight would restart the loop, be woken by its exit, and spin.
        let mut stepped = false;
        // Ends when nothing is pending; appends are bounded by the buffer, so it does.
        loop {
            let epoch = self.signal.epoch();
            let result = match self.flush_next_step() {
                FlushStep::Idle => break,
                FlushStep::Roll(header) => self.flush_roll(header).await.map(|()| {
                    if let Some(front) = self.state.borrow_mut().chunks.front_mut() {
                        front.roll_to = None;
                    }
                }),
                FlushStep::Write(job) if self.writes_are_durable() => {
                    // Its completion notifies.
                    self.flush_write_pipelined(job);
                    continue;
                }
                FlushStep::Write(job) => self.flush_write(job).await,
                FlushStep::Sync => self.flush_sync().await,
                FlushStep::AwaitWrite => {
                    self.signal.wait(epoch).await;
                    continue;
                }
            };
            stepped = true;
            if let Err(error) = result {
                self.poison(error);
                break;
            }
            self.signal.notify();
        }
        self.state.borrow_mut().flush_in_flight = false;
        if stepped {
            self.signal.notify();
        }
    }

    fn flush_next_step(&self) -> FlushStep {
        let mut state = self.state.borrow_mut();
        if state.poison.is_some() || state.closed {
            return FlushStep::Idle;
        }
        let Some(front) = state.chunks.front() else {
            return FlushStep::Idle;
        };
        if let Some(header) = front.roll_to {
            if !state.writes.is_empty() {
                // The previous segment's writes finish before it is closed.
                return FlushStep::AwaitWrite;
            }
            return FlushStep::Roll(header);
        }
        let has_new = front.bytes.len() > front.written_size;
        let sealed = state.chunks.len() > 1;
        if has_new {
            let limit = self.config.writes_in_flight_max;
            if self.writes_are_durable() && !pipelined_write_may_start(&mut state, limit) {
                return FlushStep::AwaitWrite;
            }
            return FlushStep::Write(self.flush_next_write(&mut state, sealed));
        }
        if sealed {
            // Everything for this segment is written: sync it before the next one starts.
            state.chunks.pop_front();
            if state.durable_lsn < state.written_lsn {
                return FlushStep::Sync;
            }
            return match state.chunks.front().and_then(|c| c.roll_to) {
                Some(_) if !state.writes.is_empty() => FlushStep::AwaitWrite,
                Some(header) => FlushStep::Roll(header),
                None => FlushStep::Idle,
            };
        }
        if state.sync_requested && state.durable_lsn < state.written_lsn {
            return FlushStep::Sync;
        }
        state.sync_requested = false;
        FlushStep::Idle
    }

    /// Copies the front chunk's dirty blocks into an aligned buffer and advances the chunk:
    /// its last partial block stays, to be rewritten with the next records.
    fn flush_next_write(&self, state: &mut WalState, sealed: bool) -> WriteJob {
        let Some(segment) = state.segment.as_ref() else {
            unreachable!("a chunk without roll_to belongs to the open segment");
        };
        let (file, path) = (Rc::clone(&segment.file), segment.path.clone());
        let Some(front) = state.chunks.front_mut() else {
            unreachable!("flush_next_step checked the front chunk");
        };
        let size = front.bytes.len();
        let mut buffer = file.alloc_dma_buffer(block_align_up(size));
        buffer.as_bytes_mut()[..size].copy_from_slice(&front.bytes);
        buffer.as_bytes_mut()[size..].fill(0);
        let (offset, last_lsn) = (front.block_offset, front.last_lsn);
        let new_size = size - front.written_size;
        debug_assert!(offset.is_multiple_of(WAL_BLOCK_SIZE as u64));
        let kept_partial_block = if sealed {
            state.chunks.pop_front();
            false
        } else {
            // bytes[0] sits at a block boundary, so aligning the length finds the last block.
            let keep_from = block_align_down(size as u64) as usize;
            front.bytes.drain(..keep_from);
            front.block_offset += keep_from as u64;
            front.written_size = front.bytes.len();
            front.written_size > 0
        };
        state.pending_size -= new_size;
        let sequence = state.write_sequence_next;
        state.write_sequence_next += 1;
        if self.writes_are_durable() {
            state.writes.push_back(IssuedWrite {
                sequence,
                last_lsn,
                completed: None,
            });
            state.tail_block_writer = kept_partial_block.then_some(sequence);
        }
        let sync = match self.config.sync_mode {
            SyncMode::Sync => true,
            SyncMode::Batch { interval_ms } => {
                sealed
                    || state.sync_requested
                    || state.synced_at.elapsed() >= Duration::from_millis(interval_ms)
            }
            SyncMode::Off => sealed || state.sync_requested,
        };
        WriteJob {
            file,
            path,
            offset,
            buffer,
            last_lsn,
            sync,
            sequence,
        }
    }

    /// Writes `buffer` (whole blocks) at `offset` and checks it went whole; counts it.
    async fn write_blocks(
        &self,
        file: &DmaFile,
        path: &Path,
        buffer: glommio::io::DmaBuffer,
        offset: u64,
    ) -> Result<(), WalError> {
        let size = buffer.len();
        self.fault_take(FaultPoint::Write, path, offset)?;
        let written_size = file
            .write_at(buffer, offset)
            .await
            .map_err(|e| WalError::glommio("write", path, offset, e))?;
        if written_size != size {
            return Err(WalError::ShortWrite {
                path: path.to_path_buf(),
                offset,
                size,
                written_size,
            });
        }
        let mut state = self.state.borrow_mut();
        state.stats.writes_count += 1;
        state.stats.written_bytes += size as u64;
        Ok(())
    }

    /// Runs a `Sync`-mode write in its own task, so the flush loop can issue the next one.
    fn flush_write_pipelined(self: &Rc<Self>, job: WriteJob) {
        let wal = Rc::clone(self);
        let task = async move {
            let started = Instant::now();
            let written = wal.write_blocks(&job.file, &job.path, job.buffer, job.offset);
            let result = match written.await {
                // The O_DSYNC write's completion is its durability point.
                Ok(()) => wal.fault_take(FaultPoint::Sync, &job.path, job.offset),
                Err(error) => Err(error),
            };
            match result {
                Ok(()) => wal.complete_pipelined_write(job.sequence, started.elapsed()),
                Err(error) => wal.poison(error),
            }
            wal.signal.notify();
        };
        glommio::spawn_local(task).detach();
    }

    /// Marks pipelined write `sequence` done and acknowledges the completed prefix of the
    /// issued writes, in LSN order. After a failure nothing more is acknowledged, even a write
    /// issued before it that completes later.
    fn complete_pipelined_write(&self, sequence: u64, latency: Duration) {
        let mut state = self.state.borrow_mut();
        if state.poison.is_some() {
            return;
        }
        if state.tail_block_writer == Some(sequence) {
            state.tail_block_writer = None;
        }
        if let Some(write) = state.writes.iter_mut().find(|w| w.sequence == sequence) {
            write.completed = Some(latency);
        }
        while let Some(IssuedWrite {
            last_lsn,
            completed: Some(latency),
            ..
        }) = state.writes.front()
        {
            let (last_lsn, latency) = (*last_lsn, *latency);
            state.writes.pop_front();
            state.written_lsn = state.written_lsn.max(last_lsn);
            mark_durable(&mut state, last_lsn, latency);
        }
    }

    fn poison(&self, error: WalError) {
        let dir = self.dir.display();
        tracing::error!(%error, %dir, "WAL I/O failed; poisoning the WAL");
        self.state.borrow_mut().poison = Some(Arc::new(error));
    }

    async fn flush_write(self: &Rc<Self>, job: WriteJob) -> Result<(), WalError> {
        self.write_blocks(&job.file, &job.path, job.buffer, job.offset)
            .await?;
        {
            let mut state = self.state.borrow_mut();
            state.written_lsn = state.written_lsn.max(job.last_lsn);
        }
        if job.sync {
            return self.flush_sync_file(&job.file, &job.path).await;
        }
        self.sync_timer_arm();
        Ok(())
    }

    async fn flush_sync(&self) -> Result<(), WalError> {
        let open = self
            .state
            .borrow()
            .segment
            .as_ref()
            .map(|s| (Rc::clone(&s.file), s.path.clone()));
        match open {
            Some((file, path)) => self.flush_sync_file(&file, &path).await,
            None => Ok(()),
        }
    }

    async fn flush_sync_file(&self, file: &DmaFile, path: &Path) -> Result<(), WalError> {
        let target_lsn = self.state.borrow().written_lsn;
        self.fault_take(FaultPoint::Sync, path, 0)?;
        let started = Instant::now();
        file.fdatasync()
            .await
            .map_err(|e| WalError::glommio("fdatasync", path, 0, e))?;
        mark_durable(&mut self.state.borrow_mut(), target_lsn, started.elapsed());
        Ok(())
    }

    /// In `Batch` mode, makes sure an fdatasync comes at most `interval_ms` after a write.
    fn sync_timer_arm(self: &Rc<Self>) {
        let delay = {
            let mut state = self.state.borrow_mut();
            let SyncMode::Batch { interval_ms } = self.config.sync_mode else {
                return;
            };
            if state.sync_timer_armed {
                return;
            }
            state.sync_timer_armed = true;
            Duration::from_millis(interval_ms).saturating_sub(state.synced_at.elapsed())
        };
        let wal = Rc::clone(self);
        let timer = async move {
            glommio::timer::sleep(delay).await;
            {
                let mut state = wal.state.borrow_mut();
                state.sync_timer_armed = false;
                state.sync_requested = true;
            }
            wal.flush_kick();
        };
        glommio::spawn_local(timer).detach();
    }

    /// Starts a new segment from a spare: header, rename, directory sync off the core, then
    /// opens it for O_DIRECT writes. The previous segment was synced by the caller.
    async fn flush_roll(self: &Rc<Self>, header: SegmentHeader) -> Result<(), WalError> {
        let spare = self.spare_take().await?;
        let path = self
            .dir
            .join(segment_file_name(self.shard_index, header.first_lsn));
        let segment_path = path.clone();
        run_off_core("activate", move || {
            activate_spare_blocking(&spare, &segment_path, &header)
        })
        .await?;
        let file = open_segment_file(&path, self.writes_are_durable()).await?;
        let previous = {
            let mut state = self.state.borrow_mut();
            state.stats.segments_rolled_count += 1;
            let previous = state.segment.replace(OpenSegment { file, path, header });
            if let Some(previous) = &previous {
                state
                    .sealed
                    .push_back((previous.header.first_lsn, previous.path.clone()));
            }
            previous
        };
        self.spare_ensure_background();
        match previous {
            Some(previous) => close_segment_file(previous.file, &previous.path).await,
            None => Ok(()),
        }
    }

    async fn spare_take(&self) -> Result<PathBuf, WalError> {
        let spare_index = {
            let mut state = self.state.borrow_mut();
            if let Some(spare) = state.spares.pop_front() {
                return Ok(spare);
            }
            state.spare_index_next += 1;
            state.spare_index_next - 1
        };
        let dir = self.dir.display();
        if self.state.borrow().stats.segments_rolled_count == 0 {
            // The log's very first segment: there is never a spare for it yet.
            tracing::debug!(%dir, "creating the first WAL segment");
        } else {
            tracing::warn!(%dir, "no spare WAL segment ready; creating one on the commit path");
        }
        let (dir, shard_index, size) = (
            self.dir.clone(),
            self.shard_index,
            self.config.segment_size_bytes,
        );
        run_off_core("spare", move || {
            create_spare_blocking(&dir, shard_index, spare_index, size)
        })
        .await
    }

    /// Starts making a spare in the background when none is ready.
    fn spare_ensure_background(self: &Rc<Self>) {
        let spare_index = {
            let mut state = self.state.borrow_mut();
            if state.spare_in_progress
                || !state.spares.is_empty()
                || state.poison.is_some()
                || state.closed
            {
                return;
            }
            state.spare_in_progress = true;
            state.spare_index_next += 1;
            state.spare_index_next - 1
        };
        let (dir, shard_index, size) = (
            self.dir.clone(),
            self.shard_index,
            self.config.segment_size_bytes,
        );
        let wal = Rc::clone(self);
        let task = async move {
            let result = run_off_core("spare", move || {
                create_spare_blocking(&dir, shard_index, spare_index, size)
            })
            .await;
            {
                let mut state = wal.state.borrow_mut();
                state.spare_in_progress = false;
                match result {
                    Ok(path) => state.spares.push_back(path),
                    Err(error) => {
                        tracing::warn!(%error, "making a spare WAL segment failed; will retry")
                    }
                }
            }
            wal.signal.notify();
        };
        glommio::spawn_local(task).detach();
    }

    /// Waits until no spare is being made in the background (so a test can clean up).
    pub async fn wait_spare_idle(&self) {
        // Each round waits for one notification; the helper thread always answers.
        loop {
            let epoch = self.signal.epoch();
            if !self.state.borrow().spare_in_progress {
                return;
            }
            self.signal.wait(epoch).await;
        }
    }

    #[cfg(test)]
    fn fault_take(&self, kind: FaultPoint, path: &Path, offset: u64) -> Result<(), WalError> {
        let mut state = self.state.borrow_mut();
        if state.fault != Some(kind) {
            return Ok(());
        }
        state.fault = None;
        let op = match kind {
            FaultPoint::Write => "write",
            FaultPoint::Sync => "fdatasync",
        };
        Err(WalError::io(
            op,
            path,
            offset,
            std::io::Error::from_raw_os_error(libc::EIO),
        ))
    }

    #[cfg(not(test))]
    fn fault_take(&self, _kind: FaultPoint, _path: &Path, _offset: u64) -> Result<(), WalError> {
        Ok(())
    }
}
