//! Query fragments: what a shard runs for a query, as plain data (`plan`), and the machinery
//! that runs it against the shard's storage: expression evaluation over column vectors,
//! zone-map pruning, aggregation kernels and mergeable partial states.

pub mod aggregate;
mod asof_gather;
mod asof_merge;
mod asof_source;
mod asof_walk;
mod block_parts;
mod checked_sums;
pub mod combine;
pub mod eval;
pub mod exec;
pub mod functions;
pub mod kernels;
pub mod moments;
pub mod plan;
pub mod prune;
pub mod quantile;
mod run_blocks;
pub mod runs;
pub mod vector;
pub mod window;

#[cfg(test)]
mod aggregate_tests;
