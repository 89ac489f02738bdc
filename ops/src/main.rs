//! The `quecto` binary: `quecto server …` runs a standalone QuectoDB.

use clap::{Parser, Subcommand};
use quecto_engine::wal::SyncMode;
use quecto_ops::server::{run, ServerConfig};

/// Upper bound for `--max-body-bytes`: one batch's string data must stay addressable by the
/// u32 offsets of `StringColumn`, with room to spare.
const BODY_SIZE_LIMIT: u64 = 1 << 30;

/// QuectoDB: a thread-per-core tick database with a ClickHouse-compatible HTTP/SQL endpoint.
#[derive(Parser)]
#[command(name = "quecto", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a standalone server: one pinned executor (shard) per core, HTTP/SQL on --port.
    Server {
        /// Address to listen on (loopback by default; use 0.0.0.0 to accept remote clients).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// HTTP port (ClickHouse's 8123 by default; 0 picks a free port, printed at start-up).
        #[arg(long, default_value_t = 8123)]
        port: u16,
        /// Number of cores (one executor and shard each); default: every core this process may use.
        #[arg(long)]
        cores: Option<usize>,
        /// Generate this many deterministic sample trades into `trades` at start-up.
        #[arg(long, default_value_t = 0)]
        ticks: usize,
        /// Largest accepted request body in bytes (at most 1 GiB); larger requests get 413.
        #[arg(long, default_value_t = 256 << 20, value_parser = clap::value_parser!(u64).range(1..=BODY_SIZE_LIMIT))]
        max_body_bytes: u64,
        /// Directory for the server's files; a second server on the same directory is refused.
        #[arg(long, default_value = "./quecto-data")]
        data_dir: std::path::PathBuf,
        /// WAL durability: `sync` acknowledges a write after fdatasync, `batch` after the write
        /// (fdatasync at least every --wal-batch-ms), `off` once buffered (not crash-safe).
        #[arg(long, value_enum, default_value_t = WalMode::Sync)]
        wal_mode: WalMode,
        /// Longest time between fdatasyncs in `batch` mode, in milliseconds.
        #[arg(long, default_value_t = 10)]
        wal_batch_ms: u64,
        /// WAL segment size in MiB (segments are preallocated and zeroed, then recycled).
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024))]
        wal_segment_mb: u64,
        /// Checkpoint a shard after this many MiB of log: its tables are written to checksummed
        /// column segments and the log is recycled, bounding replay at start-up.
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
        checkpoint_mb: u64,
        /// Microseconds an idle executor spins before sleeping (lower latency, more CPU).
        #[arg(long, default_value_t = 50)]
        spin_us: u64,
        /// Also serve HTTP on one port per shard, PORT + k on shard k's core (0: free ports,
        /// printed at start-up and listed by `GET /shards`). A client that sends each symbol's
        /// writes to its owner's port (`GET /route?table=T&symbol=S`) saves the hop between
        /// cores on every insert.
        #[arg(long, value_name = "PORT")]
        shard_port_base: Option<u16>,
    },
}

/// `--wal-mode` values.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum WalMode {
    /// Acknowledge after fdatasync (default).
    Sync,
    /// Acknowledge after the write; fdatasync at least every --wal-batch-ms.
    Batch,
    /// Acknowledge once buffered.
    Off,
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal; logs in files and pipes stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let Cli {
        command:
            Command::Server {
                host,
                port,
                cores,
                ticks,
                max_body_bytes,
                spin_us,
                data_dir,
                wal_mode,
                wal_batch_ms,
                wal_segment_mb,
                checkpoint_mb,
                shard_port_base,
            },
    } = Cli::parse();
    let config = ServerConfig {
        host,
        port,
        cores,
        ticks,
        body_size_max: max_body_bytes as usize,
        spin_us,
        data_dir,
        wal_mode: match wal_mode {
            WalMode::Sync => SyncMode::Sync,
            WalMode::Batch => SyncMode::Batch {
                interval_ms: wal_batch_ms,
            },
            WalMode::Off => SyncMode::Off,
        },
        wal_segment_size_bytes: wal_segment_mb << 20,
        checkpoint_log_bytes: checkpoint_mb << 20,
        shard_port_base,
    };
    if let Err(e) = run(config) {
        eprintln!("quecto: {e}");
        std::process::exit(1);
    }
}
