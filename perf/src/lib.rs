//! quecto-perf: the latency benchmarking harness of QuectoDB (`quecto-bench`).
//!
//! It drives a running server over its ClickHouse-style HTTP interface and prints
//! hdrhistogram percentiles (p50/p99/p99.9/max) and throughput, one greppable line per
//! measurement. It uses only the public wire contract, so it measures exactly what a client
//! sees; it never links the server.
//!
//! Pieces, each reusable by other benchmark binaries:
//! - `client`: a keep-alive HTTP client with typed errors;
//! - `gen`: the deterministic trade generator and the RowBinary/CSV encoders;
//! - `tickgen`: the peer benchmark's seeded trades + quotes data set, bit-identical to gen.py;
//! - `peers`: that data set loaded into a running server (`peers-load`);
//! - `bench`: the timed loops behind each subcommand;
//! - `ingest`: in-process ingest through the engine API, optionally durable (WAL);
//! - `fsync`: the disk's write + fdatasync floor under a durable acknowledgement;
//! - `report`: histogram and machine report lines;
//! - `cli`: subcommand flags and their checks; `limits`: every ceiling; `error`: `BenchError`.

// Wire and data.
pub mod client;
pub mod gen;
pub mod tickgen;

// Measuring and reporting.
pub mod bench;
pub mod fsync;
pub mod ingest;
pub mod peers;
pub mod report;

// Plumbing.
pub mod cli;
pub mod error;
pub mod limits;

#[cfg(test)]
mod test_responder;

pub use error::BenchError;
