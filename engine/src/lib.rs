//! quecto-engine: the per-core storage and execution engine of QuectoDB.
//!
//! The engine owns everything below SQL text: types and schemas, the consistent-hash ring that
//! places symbols on shards, columnar partitions, the fragment executor that runs on a shard,
//! and the thread-per-core runtime that pins one executor per core and moves messages between
//! them. It knows nothing of SQL syntax, HTTP or sockets.

// Data model.
pub mod batch;
pub mod error;
pub mod schema;
pub mod time;
pub mod types;

// Placement.
pub mod ring;

pub use error::EngineError;

// Storage.
pub mod storage;

// Durability.
pub mod segment;
pub mod wal;

// Execution.
pub mod fragment;

// Runtime.
pub mod runtime;
