//! `ShardStore`: the tables of one shard, by name. Every shard holds every table's schema (DDL
//! is applied on all shards) and the rows of the symbols it owns.

use std::collections::BTreeMap;

use super::table::TableStore;
use crate::batch::RowBatch;
use crate::error::EngineError;
use crate::schema::TableSchema;

/// All tables of one shard.
#[derive(Debug, Default)]
pub struct ShardStore {
    /// Tables by lower-cased name.
    pub(super) tables: BTreeMap<String, TableStore>,
}

impl ShardStore {
    /// Creates a table; with `if_not_exists`, an existing table is kept and that is not an error.
    pub fn create_table(
        &mut self,
        schema: TableSchema,
        if_not_exists: bool,
    ) -> Result<(), EngineError> {
        let key = schema.name.to_ascii_lowercase();
        if self.tables.contains_key(&key) {
            if if_not_exists {
                return Ok(());
            }
            return Err(EngineError::TableExists { table: schema.name });
        }
        self.tables.insert(key, TableStore::new(schema));
        Ok(())
    }

    /// Drops a table and its rows; with `if_exists`, a missing table is not an error.
    pub fn drop_table(&mut self, name: &str, if_exists: bool) -> Result<(), EngineError> {
        match self.tables.remove(&name.to_ascii_lowercase()) {
            Some(_) => Ok(()),
            None if if_exists => Ok(()),
            None => Err(EngineError::UnknownTable {
                table: name.to_string(),
            }),
        }
    }

    /// The table named `name` (case-insensitive).
    pub fn table(&self, name: &str) -> Result<&TableStore, EngineError> {
        self.tables
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| EngineError::UnknownTable {
                table: name.to_string(),
            })
    }

    /// The table named `name`, for restoring its partitions at start-up.
    pub fn table_mut(&mut self, name: &str) -> Result<&mut TableStore, EngineError> {
        self.tables
            .get_mut(&name.to_ascii_lowercase())
            .ok_or_else(|| EngineError::UnknownTable {
                table: name.to_string(),
            })
    }

    /// Sets (or with `None` removes) a table's TTL. The schema is in every segment file, so
    /// the next checkpoint rewrites the table.
    pub fn set_ttl(&mut self, table: &str, ttl_seconds: Option<u64>) -> Result<(), EngineError> {
        let table = self.table_mut(table)?;
        table.schema.ttl_seconds = ttl_seconds;
        table.rewrite_due = true;
        Ok(())
    }

    /// Drops, in every table with a TTL, the rows older than `now_ns` minus the TTL; returns
    /// the number of rows dropped.
    pub fn expire(&mut self, now_ns: i64) -> u64 {
        let mut dropped = 0;
        for table in self.tables.values_mut() {
            if let Some(ttl) = table.schema.ttl_seconds {
                let ttl_ns = i64::try_from(ttl)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(1_000_000_000);
                dropped += table.expire_before(now_ns.saturating_sub(ttl_ns));
            }
        }
        dropped
    }

    /// Merges every late run waiting in any table (`Partition::stage`): the store is then
    /// ready to read. Cheap when none waits.
    pub fn settle_late_rows(&mut self) {
        for table in self.tables.values_mut() {
            table.settle();
        }
    }

    /// Whether no late rows wait anywhere (what `run_fragment` reads must be settled).
    pub fn is_settled(&self) -> bool {
        self.tables.values().all(TableStore::is_settled)
    }

    /// Every table of this shard, in name order.
    pub fn tables(&self) -> impl Iterator<Item = &TableStore> {
        self.tables.values()
    }

    /// Applies `rows` of `batch` (all when `None`) to a table.
    pub fn apply(
        &mut self,
        table: &str,
        batch: &RowBatch,
        rows: Option<&[u32]>,
    ) -> Result<(), EngineError> {
        let store = self
            .tables
            .get_mut(&table.to_ascii_lowercase())
            .ok_or_else(|| EngineError::UnknownTable {
                table: table.to_string(),
            })?;
        store.apply(batch, rows);
        Ok(())
    }

    /// Table schemas in name order.
    pub fn schemas(&self) -> impl Iterator<Item = &TableSchema> {
        self.tables.values().map(|t| &t.schema)
    }
}
