//! The thread-per-core runtime: one glommio executor pinned to each core, each owning one shard
//! (a `ShardStore`), linked to every other executor by bounded channels.
//!
//! This module is the only place that names glommio's executor API, so the runtime can be
//! swapped without touching storage or SQL. Every executor is also a coordinator: it serves
//! the connections the kernel hands it (SO_REUSEPORT) and sends work to the owning shards
//! through its `Shards` handle. Nothing is shared between executors but the channels.

pub mod checkpoint;
pub mod journal;
pub mod mesh;
pub mod message;

use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use glommio::{LocalExecutorBuilder, Placement};

use glommio::channels::shared_channel::{ConnectedReceiver, ConnectedSender};

use self::journal::{open_journal, WalSettings};
use self::mesh::{
    build_mesh, connect_all, ConnectedEnds, MeshEnds, PeerLink, RequestEnvelope, ResponseEnvelope,
};
use self::message::{handle_request, CheckpointSettings, ShardRequest, ShardResponse, ShardState};
use crate::error::EngineError;
use crate::ring::{HashRing, RingLayout};
use crate::storage::store::ShardStore;
use crate::wal::segment::check_dir_ring;

/// Registered I/O memory per executor. glommio's default (10 MiB) fails to register under the
/// common 8 MiB memlock limit; 1 MiB fits two cores under it with room to spare.
pub const IO_MEMORY_SIZE: usize = 1 << 20;
/// Capacity of each cross-core channel, in messages.
pub const CHANNEL_CAPACITY: usize = 1024;

/// How to start the runtime.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// CPU ids to pin executors to, one executor (and shard) per entry.
    pub cpus: Vec<usize>,
    /// How long an idle executor spins before parking (trades CPU for wake-up latency).
    pub spin_before_park: Duration,
    /// The write-ahead log; `None` keeps data in memory only (in-process benchmarks).
    pub wal: Option<WalSettings>,
}

/// Start-up state shared by all executors, read by the HTTP `/ready` check.
#[derive(Debug, Default)]
pub struct RuntimeStatus {
    shards_ready_count: AtomicUsize,
    mains_done_count: AtomicUsize,
    shards_count: usize,
}

impl RuntimeStatus {
    /// True once every shard has connected its links.
    pub fn all_ready(&self) -> bool {
        self.shards_ready_count.load(Ordering::Acquire) == self.shards_count
    }
}

/// One executor's view of all shards: its own store, and links to the others.
pub struct Shards {
    index: usize,
    shard: Rc<ShardState>,
    peers: Vec<Option<Rc<PeerLink>>>,
    status: Arc<RuntimeStatus>,
}

impl Shards {
    /// This executor's shard index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Number of shards.
    pub fn count(&self) -> usize {
        self.peers.len()
    }

    /// The runtime's start-up status.
    pub fn status(&self) -> &RuntimeStatus {
        &self.status
    }

    /// Reads the local store (for the catalog). Never hold across an await.
    pub fn with_store<R>(&self, f: impl FnOnce(&ShardStore) -> R) -> R {
        f(&self.shard.store.borrow())
    }

    /// Stops this executor's shard cleanly: final checkpoint, log closed (see
    /// `ShardState::shutdown`).
    pub async fn shutdown(&self) -> Result<(), EngineError> {
        self.shard.shutdown().await
    }

    /// Runs `request` on shard `shard`: directly when local, else over its link.
    pub async fn call(
        &self,
        shard: usize,
        request: ShardRequest,
    ) -> Result<ShardResponse, EngineError> {
        if shard == self.index {
            return handle_request(&self.shard, request).await;
        }
        match self.peers.get(shard) {
            Some(Some(link)) => link.call(request).await,
            _ => Err(EngineError::Internal {
                detail: format!("no link to shard {shard}"),
            }),
        }
    }

    /// Runs one request per listed shard concurrently; answers in the same order.
    pub async fn call_many(
        &self,
        requests: Vec<(usize, ShardRequest)>,
    ) -> Vec<Result<ShardResponse, EngineError>> {
        // Remote calls are issued first so their work overlaps the local one.
        let (local, remote): (Vec<_>, Vec<_>) = requests
            .into_iter()
            .enumerate()
            .partition(|(_, (s, _))| *s == self.index);
        let remote_futures = remote
            .into_iter()
            .map(
                |(order, (shard, request))| async move { (order, self.call(shard, request).await) },
            );
        let remote_all = join_all(remote_futures);
        let mut answers: Vec<(usize, Result<ShardResponse, EngineError>)> = Vec::new();
        let (remote_answers, local_answers) = futures::join!(remote_all, async {
            let mut out = Vec::new();
            for (order, (shard, request)) in local {
                out.push((order, self.call(shard, request).await));
            }
            out
        });
        answers.extend(remote_answers);
        answers.extend(local_answers);
        answers.sort_by_key(|(order, _)| *order);
        answers.into_iter().map(|(_, answer)| answer).collect()
    }

    /// Sends a copy of `request` to every shard; the first error wins.
    pub async fn broadcast(
        &self,
        request: ShardRequest,
    ) -> Result<Vec<ShardResponse>, EngineError> {
        let requests = (0..self.count()).map(|s| (s, request.clone())).collect();
        self.call_many(requests).await.into_iter().collect()
    }
}

/// Handles on the running executors.
pub struct Runtime {
    handles: Vec<glommio::ExecutorJoinHandle<()>>,
    /// Start-up status, shared with the executors.
    pub status: Arc<RuntimeStatus>,
}

impl Runtime {
    /// Waits for every executor to finish.
    pub fn join(self) -> Result<(), EngineError> {
        for handle in self.handles {
            handle.join().map_err(|e| EngineError::Internal {
                detail: format!("executor failed: {e}"),
            })?;
        }
        Ok(())
    }
}

/// Starts one pinned executor per configured CPU. On each, after its links are connected,
/// `main` runs with that executor's `Shards`.
pub fn start<F, Fut>(config: &RuntimeConfig, main: F) -> Result<Runtime, EngineError>
where
    F: Fn(Rc<Shards>) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    check_io_uring()?;
    let shards_count = config.cpus.len();
    if shards_count == 0 {
        return Err(EngineError::Startup {
            detail: "no CPUs to run on".into(),
        });
    }
    let ring = HashRing::local(shards_count)
        .ok_or_else(|| EngineError::Startup {
            detail: format!("cannot build a ring of {shards_count} shards"),
        })?
        .layout();
    if let Some(settings) = &config.wal {
        // Before any executor starts: a shard of the new ring would log into the directory
        // (its first segment) before another shard found the mismatch and stopped the process.
        check_dir_ring(&settings.dir, ring)?;
    }
    let status = Arc::new(RuntimeStatus {
        shards_ready_count: AtomicUsize::new(0),
        mains_done_count: AtomicUsize::new(0),
        shards_count,
    });
    let mut handles = Vec::with_capacity(shards_count);
    for (index, ends) in build_mesh(shards_count, CHANNEL_CAPACITY)
        .into_iter()
        .enumerate()
    {
        let (main, status, wal) = (main.clone(), Arc::clone(&status), config.wal.clone());
        let handle = LocalExecutorBuilder::new(Placement::Fixed(config.cpus[index]))
            .name(&format!("quecto-shard-{index}"))
            .io_memory(IO_MEMORY_SIZE)
            .spin_before_park(config.spin_before_park)
            .spawn(move || async move {
                let shard = match open_shard(index, ring, wal.as_ref()).await {
                    Ok(shard) => shard,
                    Err(error) => {
                        // Start-up cannot continue without this shard's data; say why and stop.
                        eprintln!("quecto: shard {index} failed to start: {error}");
                        std::process::exit(1);
                    }
                };
                let shards = connect_shard(index, ends, shard, Arc::clone(&status)).await;
                main(shards).await;
                // Other executors may still send work to this shard: it keeps serving until
                // every executor's `main` has returned, then all of them stop together.
                status.mains_done_count.fetch_add(1, Ordering::AcqRel);
                while status.mains_done_count.load(Ordering::Acquire) < status.shards_count {
                    glommio::timer::sleep(Duration::from_millis(1)).await;
                }
            })
            .map_err(|e| EngineError::Startup {
                detail: startup_hint(index, config.cpus[index], &e.to_string()),
            })?;
        handles.push(handle);
    }
    Ok(Runtime { handles, status })
}

fn startup_hint(index: usize, cpu: usize, error: &str) -> String {
    format!(
        "executor {index} on CPU {cpu}: {error} (QuectoDB needs io_uring (Linux 5.8+, not disabled by \
         kernel.io_uring_disabled or a seccomp profile) and enough RLIMIT_MEMLOCK for {IO_MEMORY_SIZE} bytes per core)"
    )
}

/// The shard's state: its store, recovered from its log when there is one.
async fn open_shard(
    index: usize,
    ring: RingLayout,
    wal: Option<&WalSettings>,
) -> Result<ShardState, EngineError> {
    let Some(settings) = wal else {
        return Ok(ShardState::in_memory(index));
    };
    let mut store = ShardStore::default();
    let journal = open_journal(settings, index, ring, &mut store).await?;
    let checkpoints = CheckpointSettings {
        dir: settings.segments_dir.clone(),
        log_bytes: settings.checkpoint_log_bytes,
    };
    Ok(ShardState::durable(index, store, journal, checkpoints))
}

async fn connect_shard(
    index: usize,
    ends: MeshEnds,
    shard: ShardState,
    status: Arc<RuntimeStatus>,
) -> Rc<Shards> {
    let ConnectedEnds { calling, serving } = connect_all(ends).await;
    let peers = calling
        .into_iter()
        .enumerate()
        .map(|(peer, ends)| {
            ends.map(|(sender, responses)| PeerLink::start(peer, sender, responses))
        })
        .collect();
    let shards = Rc::new(Shards {
        index,
        shard: Rc::new(shard),
        peers,
        status: Arc::clone(&status),
    });
    for (requests, responses) in serving.into_iter().flatten() {
        glommio::spawn_local(serve_peer(Rc::clone(&shards), requests, responses)).detach();
    }
    status.shards_ready_count.fetch_add(1, Ordering::AcqRel);
    tracing::info!(shard = index, "shard ready");
    shards
}

/// Most requests from one peer that a shard works on at once.
pub const PEER_REQUESTS_IN_FLIGHT_MAX: usize = 256;

/// Answers one peer's requests on this shard, each in its own task so that requests which
/// wait (on durability) overlap and share group commits; a semaphore bounds them.
async fn serve_peer(
    shards: Rc<Shards>,
    requests: ConnectedReceiver<RequestEnvelope>,
    responses: ConnectedSender<ResponseEnvelope>,
) {
    let responses = Rc::new(responses);
    let in_flight = Rc::new(glommio::sync::Semaphore::new(
        PEER_REQUESTS_IN_FLIGHT_MAX as u64,
    ));
    while let Some((id, request)) = requests.recv().await {
        let Ok(permit) = in_flight.acquire_static_permit(1).await else {
            break;
        };
        let (shards, responses) = (Rc::clone(&shards), Rc::clone(&responses));
        glommio::spawn_local(async move {
            let answer = handle_request(&shards.shard, request).await;
            // A closed channel means the peer is gone; its callers were already failed.
            let _ = responses.send((id, answer)).await;
            drop(permit);
        })
        .detach();
    }
}

/// Size of `struct io_uring_params` (kernel ABI), rounded up to whole u64s.
const IO_URING_PARAMS_WORDS: usize = 16;
const _: () = assert!(IO_URING_PARAMS_WORDS * 8 >= 120);

/// Fails with a clear error when this process cannot create an io_uring (old kernel, or
/// disabled by `kernel.io_uring_disabled`, a container's seccomp profile, or a sandbox).
/// glommio would otherwise panic inside the executor thread.
pub fn check_io_uring() -> Result<(), EngineError> {
    let mut params = [0u64; IO_URING_PARAMS_WORDS];
    // SAFETY: io_uring_setup(entries, params) reads and writes one `struct io_uring_params`
    // (120 bytes) at `params`, which is a zeroed, exclusively borrowed 128-byte buffer.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 2u32, params.as_mut_ptr()) };
    if fd < 0 {
        let error = std::io::Error::last_os_error();
        let disabled =
            std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").unwrap_or_default();
        return Err(EngineError::Startup {
            detail: format!(
                "io_uring is not available to this process ({error}); kernel.io_uring_disabled = {}. \
                 QuectoDB needs io_uring (Linux 5.8+): enable it (sysctl kernel.io_uring_disabled=0) \
                 or allow io_uring_setup in the container's seccomp profile",
                disabled.trim()
            ),
        });
    }
    // SAFETY: `fd` is the ring descriptor io_uring_setup just returned to us and nobody else.
    unsafe { libc::close(fd as libc::c_int) };
    Ok(())
}

/// The CPUs this process may run on (its affinity mask), in ascending order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `set` is a plain bitmask owned by this frame; sched_getaffinity writes at most
    // size_of::<cpu_set_t>() bytes into it, and CPU_ISSET only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}
