//! In-memory columnar storage of one shard: tables → partitions (one per symbol) → chunks of
//! columns with zone maps. Only the shard's own executor touches it, so nothing here locks.

pub mod blocks;
pub mod chunk;
pub mod column_vec;
pub mod dictionary;
pub mod memo;
pub mod mutate;
pub mod partition;
pub mod seal;
pub mod store;
pub mod table;
