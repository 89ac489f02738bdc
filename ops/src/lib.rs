//! quecto-ops: the `quecto` binary's library: the server (runtime start-up, HTTP endpoint),
//! the coordinator that routes and scatters statements, data formats and sample data.

pub mod coordinator;
pub mod data_dir;
pub mod format;
pub mod http;
pub mod insert_format;
pub mod metrics;
pub mod sample;
pub mod server;
pub mod timer;
