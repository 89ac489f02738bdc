//! quecto-sql: the SQL front end: parse with `sqlparser`, bind against the catalog, plan, split
//! into per-shard fragments and a coordinator merge, and run the merge.

pub mod result;
