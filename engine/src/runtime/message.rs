//! Messages a shard accepts from any core, and its answers. Plain data: they cross threads.

use std::cell::RefCell;
use std::sync::Arc;

use crate::batch::RowBatch;
use crate::error::EngineError;
use crate::fragment::exec::{run_fragment, FragmentResult};
use crate::fragment::plan::Fragment;
use crate::schema::TableSchema;
use crate::storage::store::ShardStore;

/// A request to one shard.
#[derive(Clone, Debug)]
pub enum ShardRequest {
    /// Create a table (every shard holds every schema).
    CreateTable {
        /// The schema.
        schema: TableSchema,
        /// Keep an existing table silently.
        if_not_exists: bool,
    },
    /// Drop a table.
    DropTable {
        /// The table.
        table: String,
        /// A missing table is not an error.
        if_exists: bool,
    },
    /// Apply rows this shard owns.
    Insert {
        /// The table.
        table: String,
        /// The whole batch, shared read-only by every shard that owns some of its rows.
        batch: Arc<RowBatch>,
        /// The rows of `batch` this shard owns (all when `None`).
        rows: Option<Vec<u32>>,
    },
    /// Run a query fragment.
    Run(Box<Fragment>),
}

/// A shard's answer.
#[derive(Debug)]
pub enum ShardResponse {
    /// Done; for inserts, the rows applied.
    Done(u64),
    /// A fragment's result.
    Fragment(Box<FragmentResult>),
}

/// A shard's state on its executor: the store, touched only between awaits.
#[derive(Debug, Default)]
pub struct ShardState {
    /// Tables and partitions of this shard.
    pub store: RefCell<ShardStore>,
}

/// Executes `request` on the shard. The store is borrowed only inside synchronous sections, so
/// requests that await (durable writes, later) interleave without ever seeing a half-applied
/// change.
pub async fn handle_request(
    shard: &ShardState,
    request: ShardRequest,
) -> Result<ShardResponse, EngineError> {
    match request {
        ShardRequest::CreateTable {
            schema,
            if_not_exists,
        } => {
            shard
                .store
                .borrow_mut()
                .create_table(schema, if_not_exists)?;
            Ok(ShardResponse::Done(0))
        }
        ShardRequest::DropTable { table, if_exists } => {
            shard.store.borrow_mut().drop_table(&table, if_exists)?;
            Ok(ShardResponse::Done(0))
        }
        ShardRequest::Insert { table, batch, rows } => {
            shard
                .store
                .borrow_mut()
                .apply(&table, &batch, rows.as_deref())?;
            Ok(ShardResponse::Done(
                rows.map_or(batch.rows_count, |r| r.len()) as u64,
            ))
        }
        ShardRequest::Run(fragment) => {
            let result = run_fragment(&shard.store.borrow(), &fragment)?;
            Ok(ShardResponse::Fragment(Box::new(result)))
        }
    }
}
