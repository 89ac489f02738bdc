//! Messages a shard accepts from any core, and its answers. Plain data: they cross threads.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::journal::{log_insert, log_write};
use crate::batch::RowBatch;
use crate::error::EngineError;
use crate::fragment::exec::{run_fragment, FragmentResult};
use crate::fragment::plan::Fragment;
use crate::schema::TableSchema;
use crate::storage::store::ShardStore;
use crate::wal::{encode_create_table, encode_drop_table, RecordKind, Wal};

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

/// A shard's state on its executor: the store, touched only between awaits, and its journal.
#[derive(Default)]
pub struct ShardState {
    /// Tables and partitions of this shard.
    pub store: RefCell<ShardStore>,
    /// The write-ahead log; `None` runs without durability (in-process benchmarks).
    pub wal: Option<Rc<Wal>>,
}

/// Executes `request` on the shard. A write is checked against the store first (so nothing
/// that cannot apply is logged), then logged durably, then applied, then acknowledged. The
/// store is borrowed only inside synchronous sections, so writes waiting on the log interleave
/// without seeing a half-applied change.
pub async fn handle_request(
    shard: &ShardState,
    request: ShardRequest,
) -> Result<ShardResponse, EngineError> {
    match request {
        ShardRequest::CreateTable {
            schema,
            if_not_exists,
        } => {
            if shard.store.borrow().table(&schema.name).is_ok() {
                if if_not_exists {
                    return Ok(ShardResponse::Done(0));
                }
                return Err(EngineError::TableExists { table: schema.name });
            }
            if let Some(wal) = &shard.wal {
                let encode = |out: &mut Vec<u8>| encode_create_table(out, &schema, if_not_exists);
                log_write(wal, RecordKind::CreateTable, encode).await?;
            }
            shard.store.borrow_mut().create_table(schema, true)?;
            Ok(ShardResponse::Done(0))
        }
        ShardRequest::DropTable { table, if_exists } => {
            if shard.store.borrow().table(&table).is_err() {
                return if if_exists {
                    Ok(ShardResponse::Done(0))
                } else {
                    Err(EngineError::UnknownTable { table })
                };
            }
            if let Some(wal) = &shard.wal {
                log_write(wal, RecordKind::DropTable, |out| {
                    encode_drop_table(out, &table, if_exists)
                })
                .await?;
            }
            shard.store.borrow_mut().drop_table(&table, true)?;
            Ok(ShardResponse::Done(0))
        }
        ShardRequest::Insert { table, batch, rows } => {
            shard.store.borrow().table(&table)?;
            if let Some(wal) = &shard.wal {
                log_insert(wal, &table, &batch, rows.as_deref()).await?;
            }
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
