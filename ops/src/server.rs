//! `quecto server`: starts the runtime, loads sample data, binds the HTTP port on every
//! executor (SO_REUSEPORT spreads connections), and serves. With `--shard-port-base`, each
//! executor also binds a port of its own (base + shard index), so a client that knows which
//! shard owns a symbol can talk to that shard's core directly.

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::net::TcpListener;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use quecto_engine::runtime::journal::WalSettings;
use quecto_engine::runtime::{self, RuntimeConfig, Shards};
use quecto_engine::wal::{SyncMode, WalConfig};
use smol_hyper::rt::FuturesIo;

use crate::coordinator::Coordinator;
use crate::data_dir::{fsync_probe, DataDirLock};
use crate::http::{handle, HttpContext, HttpLimits};
use crate::sample::{trades_schema, SampleTrades};

/// Server settings from the command line.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to bind.
    pub host: String,
    /// Port to bind (0: any free port, printed at start-up).
    pub port: u16,
    /// Executors (cores) to run.
    pub cores: Option<usize>,
    /// Sample trades to generate at start-up.
    pub ticks: usize,
    /// Request body limit in bytes.
    pub body_size_max: usize,
    /// Idle spin before an executor parks, in µs.
    pub spin_us: u64,
    /// Directory for the server's files, locked against a second server.
    pub data_dir: PathBuf,
    /// WAL durability mode.
    pub wal_mode: SyncMode,
    /// WAL segment size in bytes.
    pub wal_segment_size_bytes: u64,
    /// Log bytes after which a shard checkpoints.
    pub checkpoint_log_bytes: u64,
    /// First per-shard port (shard k listens on it + k; 0: free ports); `None`: none.
    pub shard_port_base: Option<u16>,
}

/// How long a client may take to send request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Start-up rendezvous of the executors: the port executor 0 bound, each executor's own
/// shard port (0 until bound, or when there are none), and how many have bound.
struct Rendezvous {
    port: AtomicU32,
    shard_ports: Vec<AtomicU32>,
    bound_count: AtomicUsize,
}

impl Rendezvous {
    fn new(executors: usize) -> Rendezvous {
        Rendezvous {
            port: AtomicU32::new(0),
            shard_ports: (0..executors).map(|_| AtomicU32::new(0)).collect(),
            bound_count: AtomicUsize::new(0),
        }
    }

    /// The shard ports in shard order (empty without `--shard-port-base`).
    fn shard_ports(&self, config: &ServerConfig) -> Vec<u16> {
        if config.shard_port_base.is_none() {
            return Vec::new();
        }
        self.shard_ports
            .iter()
            .map(|p| p.load(Ordering::Acquire) as u16)
            .collect()
    }
}

/// Runs the server until the process is killed.
pub fn run(config: ServerConfig) -> Result<(), String> {
    let cpus = runtime::allowed_cpus();
    let cores = config
        .cores
        .unwrap_or(cpus.len())
        .clamp(1, cpus.len().max(1));
    let cpus: Vec<usize> = cpus.into_iter().take(cores).collect();
    // Lock before binding: the lock, not the port, is what refuses a second server.
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    check_port_free(&config.host, config.port)?;
    for shard in 0..cpus.len() {
        if let Some(port) = shard_port(&config, shard)? {
            check_port_free(&config.host, port)?;
        }
    }
    check_memlock(cpus.len());
    let wal = wal_settings(&config)?;
    let runtime_config = RuntimeConfig {
        cpus,
        spin_before_park: Duration::from_micros(config.spin_us),
        wal: Some(wal),
    };
    let rendezvous = Arc::new(Rendezvous::new(runtime_config.cpus.len()));
    let stop = stop_on_signals()?;
    let executors = runtime_config.cpus.len();
    let runtime = runtime::start(&runtime_config, move |shards| {
        let stop = Arc::clone(&stop);
        executor_main(
            shards,
            config.clone(),
            Arc::clone(&rendezvous),
            executors,
            stop,
        )
    })
    .map_err(|e| e.to_string())?;
    runtime.join().map_err(|e| e.to_string())?;
    println!("quecto: stopped cleanly (every shard checkpointed, logs closed)");
    Ok(())
}

/// A flag that SIGTERM or SIGINT sets: the executors watch it and stop cleanly.
fn stop_on_signals() -> Result<Arc<AtomicBool>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| format!("cannot handle signal {signal}: {e}"))?;
    }
    Ok(stop)
}

/// How often an executor looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(10);

/// The WAL's settings, logged with a measured fdatasync latency of the data directory's disk
/// (what every durable acknowledgement in `sync` mode waits for).
fn wal_settings(config: &ServerConfig) -> Result<WalSettings, String> {
    let wal_config = WalConfig {
        segment_size_bytes: config.wal_segment_size_bytes,
        sync_mode: config.wal_mode,
        ..WalConfig::default()
    };
    wal_config.validate().map_err(|e| e.to_string())?;
    let probe = fsync_probe(&config.data_dir)
        .map_err(|e| format!("fdatasync probe in {}: {e}", config.data_dir.display()))?;
    tracing::info!(
        mode = ?config.wal_mode,
        segment_size_bytes = config.wal_segment_size_bytes,
        fdatasync_latency_us_p50 = probe.as_micros() as u64,
        "write-ahead log"
    );
    Ok(WalSettings {
        dir: config.data_dir.join("wal"),
        config: wal_config,
        segments_dir: config.data_dir.join("segments"),
        checkpoint_log_bytes: config.checkpoint_log_bytes,
    })
}

/// glommio binds with SO_REUSEPORT, so a second server on the same port would silently share
/// it. A plain bind first fails if anyone holds the port (0 picks a free one: nothing to check).
fn check_port_free(host: &str, port: u16) -> Result<(), String> {
    if port == 0 {
        return Ok(());
    }
    let address = format!("{host}:{port}");
    StdTcpListener::bind(&address)
        .map(drop)
        .map_err(|e| format!("cannot bind {address}: {e} (is another server running?)"))
}

/// Shard `shard`'s own port: `None` without `--shard-port-base`, `Some(0)` for a free one.
fn shard_port(config: &ServerConfig, shard: usize) -> Result<Option<u16>, String> {
    let Some(base) = config.shard_port_base else {
        return Ok(None);
    };
    if base == 0 {
        return Ok(Some(0));
    }
    u16::try_from(usize::from(base) + shard)
        .map(Some)
        .map_err(|_| format!("--shard-port-base {base}: shard {shard}'s port is past 65535"))
}

fn check_memlock(executors: usize) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the valid, exclusively borrowed `limit`.
    let result = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    let needed = (runtime::IO_MEMORY_SIZE * executors) as u64;
    if result == 0 && limit.rlim_cur != libc::RLIM_INFINITY && limit.rlim_cur < needed {
        tracing::warn!(
            memlock_bytes = limit.rlim_cur,
            needed_bytes = needed,
            "RLIMIT_MEMLOCK is below the io_uring buffers QuectoDB registers; I/O falls back to unregistered buffers"
        );
    }
}

async fn executor_main(
    shards: Rc<Shards>,
    config: ServerConfig,
    rendezvous: Arc<Rendezvous>,
    executors: usize,
    stop: Arc<AtomicBool>,
) {
    let coordinator = match Coordinator::new(Rc::clone(&shards)) {
        Ok(c) => Rc::new(c),
        Err(e) => {
            tracing::error!("{e}");
            std::process::exit(1);
        }
    };
    wait_for(|| shards.status().all_ready()).await;
    if shards.index() == 0 && config.ticks > 0 {
        if let Err(e) = load_sample(&coordinator, config.ticks).await {
            eprintln!("quecto: loading sample data failed: {e}");
            std::process::exit(1);
        }
    }
    let listener = match bind(&config, &shards, &rendezvous).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("quecto: {e}");
            std::process::exit(1);
        }
    };
    let shard_listener = match bind_shard_port(&config, &shards, &rendezvous) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("quecto: {e}");
            std::process::exit(1);
        }
    };
    rendezvous.bound_count.fetch_add(1, Ordering::AcqRel);
    // Every executor serves only once all have bound: `/shards` lists every shard's port.
    wait_for(|| rendezvous.bound_count.load(Ordering::Acquire) == executors).await;
    let shard_ports = rendezvous.shard_ports(&config);
    if shards.index() == 0 {
        let port = rendezvous.port.load(Ordering::Acquire);
        println!("quecto: listening on http://{}:{port}", config.host);
        if !shard_ports.is_empty() {
            let list: Vec<String> = shard_ports.iter().map(u16::to_string).collect();
            println!("quecto: shard ports {}", list.join(","));
        }
    }
    let context = Rc::new(HttpContext {
        limits: HttpLimits {
            body_size_max: config.body_size_max,
            body_timeout: BODY_TIMEOUT,
        },
        shard_ports,
    });
    let server = glommio::spawn_local(serve(
        listener,
        Rc::clone(&coordinator),
        Rc::clone(&context),
    ));
    let shard_server =
        shard_listener.map(|listener| glommio::spawn_local(serve(listener, coordinator, context)));
    while !stop.load(Ordering::Acquire) {
        glommio::timer::sleep(STOP_POLL).await;
    }
    // Stop accepting first, then make the shard's state durable and quiet.
    drop(server);
    drop(shard_server);
    if let Err(error) = shards.shutdown().await {
        eprintln!(
            "quecto: shard {} did not stop cleanly: {error}",
            shards.index()
        );
        std::process::exit(1);
    }
}

async fn wait_for(condition: impl Fn() -> bool) {
    while !condition() {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
}

/// Executor 0 binds first (port 0 picks a free port); the others bind the port it got.
async fn bind(
    config: &ServerConfig,
    shards: &Shards,
    rendezvous: &Rendezvous,
) -> Result<TcpListener, String> {
    if shards.index() != 0 {
        wait_for(|| rendezvous.port.load(Ordering::Acquire) != 0).await;
    }
    let port = if shards.index() == 0 {
        config.port
    } else {
        rendezvous.port.load(Ordering::Acquire) as u16
    };
    let address: SocketAddr = format!("{}:{port}", config.host)
        .parse()
        .map_err(|e| format!("bad address {}:{port}: {e}", config.host))?;
    let listener = TcpListener::bind(address).map_err(|e| format!("cannot bind {address}: {e}"))?;
    if shards.index() == 0 {
        let bound = listener
            .local_addr()
            .map_err(|e| format!("local address: {e}"))?;
        rendezvous
            .port
            .store(u32::from(bound.port()), Ordering::Release);
    }
    Ok(listener)
}

/// This executor's own port (`--shard-port-base`), bound by it alone, its number recorded.
fn bind_shard_port(
    config: &ServerConfig,
    shards: &Shards,
    rendezvous: &Rendezvous,
) -> Result<Option<TcpListener>, String> {
    let Some(port) = shard_port(config, shards.index())? else {
        return Ok(None);
    };
    let address: SocketAddr = format!("{}:{port}", config.host)
        .parse()
        .map_err(|e| format!("bad address {}:{port}: {e}", config.host))?;
    let listener = TcpListener::bind(address).map_err(|e| format!("cannot bind {address}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("local address: {e}"))?;
    rendezvous.shard_ports[shards.index()].store(u32::from(bound.port()), Ordering::Release);
    Ok(Some(listener))
}

/// Generates `ticks` sample trades into `trades`, unless the data directory already has that
/// table (a restart with the same `--ticks` must not load the sample twice).
async fn load_sample(coordinator: &Coordinator, ticks: usize) -> Result<(), String> {
    let schema = trades_schema().map_err(|e| e.to_string())?;
    if quecto_sql::select::Catalog::table(coordinator, &schema.name).is_some() {
        println!(
            "quecto: table `trades` is already in the data directory; not generating sample ticks"
        );
        return Ok(());
    }
    coordinator
        .ensure_table(&schema)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut generator = SampleTrades::new(ticks);
    let mut loaded = 0usize;
    while let Some(batch) = generator.next_batch(&schema).map_err(|e| e.to_string())? {
        loaded += batch.rows_count;
        coordinator
            .insert(&schema, batch)
            .await
            .map_err(|e| e.to_string())?;
        if loaded % (1 << 20) < crate::sample::SAMPLE_BATCH_ROWS {
            println!("quecto: generated {loaded} of {ticks} ticks");
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "quecto: generated {loaded} ticks into `trades` in {seconds:.2} s ({:.0} rows/s)",
        loaded as f64 / seconds
    );
    Ok(())
}

async fn serve(listener: TcpListener, coordinator: Rc<Coordinator>, context: Rc<HttpContext>) {
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Latency over throughput on the wire: a response goes out as soon as it is written.
        let _ = stream.set_nodelay(true);
        let coordinator = Rc::clone(&coordinator);
        let context = Rc::clone(&context);
        glommio::spawn_local(async move {
            let service = service_fn(move |request| {
                let coordinator = Rc::clone(&coordinator);
                let context = Rc::clone(&context);
                async move {
                    Ok::<_, std::convert::Infallible>(handle(request, coordinator, context).await)
                }
            });
            let connection = http1::Builder::new()
                .timer(crate::timer::GlommioTimer)
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(true)
                .serve_connection(FuturesIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!("connection ended: {e}");
            }
        })
        .detach();
    }
}
