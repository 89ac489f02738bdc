//! quecto-sql: the SQL front end: parse with `sqlparser`, bind against the catalog, plan, split
//! into per-shard fragments and a coordinator merge, and run the merge.

pub mod aggregate_syntax;
pub mod bind;
pub mod error;
pub mod explain;
pub mod functions;
pub mod merge;
pub mod mutation;
pub mod preparse;
pub mod query;
pub mod relation;
pub mod result;
pub mod row_eval;
pub mod select;
pub mod statement;

pub use error::QueryError;
