//! `quecto-bench`: latency benchmarks against a running QuectoDB server.
//!
//! Every run prints a `machine` line first, then one line per measurement; see
//! `quecto_perf::report` for the shape. Exit status 0 on success, 1 on any error (the error
//! goes to stderr, with the URL, status and body excerpt that caused it).

use clap::{Parser, Subcommand};
use quecto_perf::bench::{insert_run, line_write, ping_run, query_run, suite_run};
use quecto_perf::cli::{
    FsyncArgs, IngestArgs, InsertArgs, LoopCounts, PeersLoadArgs, PingArgs, QueryArgs, SuiteArgs,
};
use quecto_perf::client::HttpClient;
use quecto_perf::fsync::fsync_run;
use quecto_perf::ingest::ingest_run;
use quecto_perf::peers::peers_load_run;
use quecto_perf::report::{machine_line, Machine};
use quecto_perf::BenchError;
use std::io::Write;
use std::process::ExitCode;

/// Latency benchmarks for QuectoDB over its HTTP interface (port 8123).
#[derive(Parser, Debug)]
#[command(name = "quecto-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Round-trip latency of GET /ping over one keep-alive connection.
    Ping(PingArgs),
    /// Latency of one SQL statement executed repeatedly (each must answer 200).
    Query(QueryArgs),
    /// Bulk-load generated trades; rows/s overall and per-batch latency.
    Insert(InsertArgs),
    /// In-process ingest into the engine API on pinned executors (no server, no HTTP);
    /// durable through the WAL with --wal-dir.
    Ingest(IngestArgs),
    /// The disk's floor under a durable ack: O_DIRECT block write + fdatasync latency.
    Fsync(FsyncArgs),
    /// The standard run: ping, load, VWAP of one symbol, full-table scan, vwap/ping ratio.
    Suite(SuiteArgs),
    /// Load the peer benchmark's tick data set (trades + quotes, shared/bench/gen.py) into
    /// the server, replacing those tables, and print the workloads' query literals.
    PeersLoad(PeersLoadArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    match command_run(&mut out, &cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error_print(&error);
            ExitCode::FAILURE
        }
    }
}

fn command_run(out: &mut impl Write, command: &Command) -> Result<(), BenchError> {
    line_write(out, &machine_line(&Machine::detect()))?;
    match command {
        Command::Ping(args) => {
            let client = HttpClient::new(&args.server.url)?;
            let counts = LoopCounts::new("count", args.count, args.warmup)?;
            ping_run(out, &client, counts).map(drop)
        }
        Command::Query(args) => {
            let client = HttpClient::new(&args.server.url)?;
            let counts = LoopCounts::new("count", args.count, args.warmup)?;
            query_run(out, &client, "query", &args.sql, counts).map(drop)
        }
        Command::Insert(args) => {
            let config = args.gen_config()?;
            let client = HttpClient::new(&args.server.url)?;
            insert_run(out, &client, &args.table, &config).map(drop)
        }
        Command::Ingest(args) => {
            for line in ingest_run(&args.config()?)? {
                line_write(out, &line)?;
            }
            Ok(())
        }
        Command::Fsync(args) => {
            for line in fsync_run(&args.config()?)? {
                line_write(out, &line)?;
            }
            Ok(())
        }
        Command::Suite(args) => {
            let client = HttpClient::new(&args.server.url)?;
            suite_run(out, &client, args)
        }
        Command::PeersLoad(args) => {
            let config = args.config()?;
            let client = HttpClient::new(&args.server.url)?;
            peers_load_run(out, &client, &config)
        }
    }
}

/// `quecto-bench: error: …` on stderr (the message already names the cause); a closed stderr
/// is ignored: there is nowhere left to report to.
fn error_print(error: &BenchError) {
    let _ = writeln!(std::io::stderr().lock(), "quecto-bench: error: {error}");
}
