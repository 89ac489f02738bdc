//! The coordinator on each executor: plans statements against the local catalog replica,
//! routes inserted rows to their owning shards over the ring, scatters query fragments to the
//! shards that may hold matching partitions, and merges what comes back.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use quecto_engine::batch::{ColumnValues, RowBatch, SymbolKey};
use quecto_engine::fragment::exec::FragmentResult;
use quecto_engine::ring::{hash64, HashRing, RoutingTable};
use quecto_engine::runtime::message::{ShardRequest, ShardResponse, ShardStats};
use quecto_engine::runtime::Shards;
use quecto_engine::schema::TableSchema;
use quecto_engine::storage::mutate::Mutation;
use quecto_engine::types::{DataType, Value};
use quecto_engine::EngineError;
use quecto_sql::explain::{explain_lines, explain_query_lines};
use quecto_sql::merge::merge_results;
use quecto_sql::query::evaluate::evaluate;
use quecto_sql::query::QueryPlan;
use quecto_sql::result::ResultColumn;
use quecto_sql::result::ResultSet;
use quecto_sql::select::{Catalog, SelectPlan};
use quecto_sql::statement::{Plan, TableLister};
use quecto_sql::QueryError;

/// Plans and runs statements from this executor.
pub struct Coordinator {
    shards: Rc<Shards>,
    routing: RefCell<RoutingTable>,
}

impl Coordinator {
    /// A coordinator over `shards`, one ring member per executor of this process (node 0).
    pub fn new(shards: Rc<Shards>) -> Result<Coordinator, EngineError> {
        let ring = HashRing::local(shards.count()).ok_or_else(|| EngineError::Startup {
            detail: format!("cannot build a ring of {} shards", shards.count()),
        })?;
        Ok(Coordinator {
            shards,
            routing: RefCell::new(RoutingTable::new(ring)),
        })
    }

    /// The executors' shard handle.
    pub fn shards(&self) -> &Shards {
        &self.shards
    }

    /// Runs a planned statement; `None` for statements without a result set.
    pub async fn execute(&self, plan: Plan) -> Result<Option<ResultSet>, QueryError> {
        match plan {
            Plan::CreateTable {
                schema,
                if_not_exists,
            } => {
                self.shards
                    .broadcast(ShardRequest::CreateTable {
                        schema,
                        if_not_exists,
                    })
                    .await?;
                Ok(None)
            }
            Plan::DropTable { table, if_exists } => {
                self.shards
                    .broadcast(ShardRequest::DropTable { table, if_exists })
                    .await?;
                Ok(None)
            }
            Plan::Insert { table, batch } => {
                self.insert(&table, batch).await?;
                Ok(None)
            }
            Plan::SetTtl { table, ttl_seconds } => {
                let request = ShardRequest::SetTtl { table, ttl_seconds };
                self.shards.broadcast(request).await?;
                Ok(None)
            }
            Plan::Select(plan) => Ok(Some(self.select(&plan).await?)),
            Plan::Explain(plan) => Ok(Some(self.explain(&plan)?)),
            Plan::Query(plan) => Ok(Some(self.query(&plan).await?)),
            Plan::ExplainQuery(plan) => Ok(Some(self.explain_query(&plan)?)),
            Plan::Constant(result) => Ok(Some(result)),
            Plan::Mutate(mutation) => {
                self.mutate(&mutation).await?;
                Ok(None)
            }
        }
    }

    /// Runs a DELETE or UPDATE on every shard that may hold its rows; returns the rows
    /// affected. Each shard applies it atomically; across shards it is not a transaction (a
    /// shard whose rows make an expression fail refuses while the others apply).
    pub async fn mutate(&self, mutation: &Mutation) -> Result<u64, QueryError> {
        let requests = self
            .shards_of(mutation.symbols.as_deref())
            .into_iter()
            .map(|shard| (shard, ShardRequest::Mutate(Box::new(mutation.clone()))))
            .collect();
        let mut rows_affected = 0;
        for answer in self.shards.call_many(requests).await {
            if let ShardResponse::Done(rows) = answer? {
                rows_affected += rows;
            }
        }
        tracing::info!(table = %mutation.table, rows_affected, "DELETE/UPDATE");
        Ok(rows_affected)
    }

    /// Creates `schema`'s table on every shard unless it exists.
    pub async fn ensure_table(&self, schema: &TableSchema) -> Result<(), QueryError> {
        let create = Plan::CreateTable {
            schema: schema.clone(),
            if_not_exists: true,
        };
        self.execute(create).await.map(drop)
    }

    /// Applies each row of `batch` on its owning shard (every shard reads the one shared batch
    /// at its own row indices); returns after every row is applied (read-your-writes).
    pub async fn insert(&self, schema: &TableSchema, batch: RowBatch) -> Result<u64, QueryError> {
        let shard_of_row = self.route_rows(schema, &batch);
        let Some(&first) = shard_of_row.first() else {
            return Ok(0);
        };
        let table = schema.name.clone();
        let batch = Arc::new(batch);
        let requests = if shard_of_row.iter().all(|&s| s == first) {
            vec![(
                first,
                ShardRequest::Insert {
                    table,
                    batch,
                    rows: None,
                },
            )]
        } else {
            let mut rows_of_shard: Vec<Vec<u32>> = vec![Vec::new(); self.shards.count()];
            for (row, &shard) in shard_of_row.iter().enumerate() {
                rows_of_shard[shard].push(row as u32);
            }
            rows_of_shard
                .into_iter()
                .enumerate()
                .filter(|(_, rows)| !rows.is_empty())
                .map(|(shard, rows)| {
                    let batch = Arc::clone(&batch);
                    (
                        shard,
                        ShardRequest::Insert {
                            table: table.clone(),
                            batch,
                            rows: Some(rows),
                        },
                    )
                })
                .collect()
        };
        let mut applied = 0;
        for answer in self.shards.call_many(requests).await {
            if let ShardResponse::Done(rows) = answer? {
                applied += rows;
            }
        }
        Ok(applied)
    }

    /// The owning shard of every row, hashing the symbol bytes as `SymbolKey` does.
    fn route_rows(&self, schema: &TableSchema, batch: &RowBatch) -> Vec<usize> {
        let mut routing = self.routing.borrow_mut();
        match &batch.columns[schema.symbol_index].values {
            ColumnValues::Symbol(names) => (0..names.len())
                .map(|row| routing.route_hash(hash64(names.get(row).as_bytes())))
                .collect(),
            ColumnValues::Int64(ids) => ids
                .iter()
                .map(|id| routing.route_hash(hash64(&id.to_le_bytes())))
                .collect(),
            ColumnValues::Int32(ids) => ids
                .iter()
                .map(|&id| routing.route_hash(hash64(&i64::from(id).to_le_bytes())))
                .collect(),
            _ => vec![0; batch.rows_count],
        }
    }

    /// Every shard's counters, in shard order.
    pub async fn stats(&self) -> Result<Vec<ShardStats>, QueryError> {
        let mut stats = Vec::with_capacity(self.shards.count());
        for answer in self.shards.broadcast(ShardRequest::Stats).await? {
            if let ShardResponse::Stats(shard) = answer {
                stats.push(*shard);
            }
        }
        Ok(stats)
    }

    /// The shards a fragment must run on: the owners of its symbols, or all.
    pub fn target_shards(&self, plan: &SelectPlan) -> Vec<usize> {
        self.shards_of(plan.fragment.symbols.as_deref())
    }

    /// The shard that owns `symbol` in `table`, the text read as the table's symbol column
    /// reads it (an integer for integer keys).
    pub fn shard_of_symbol(&self, table: &str, symbol: &str) -> Result<usize, QueryError> {
        let schema = Catalog::table(self, table).ok_or_else(|| QueryError::UnknownTable {
            table: table.to_string(),
        })?;
        let key = match schema.columns[schema.symbol_index].data_type {
            DataType::Symbol => SymbolKey::Str(symbol.into()),
            _ => SymbolKey::Int(symbol.trim().parse().map_err(|_| QueryError::Type {
                detail: format!(
                    "symbol `{symbol}` is not an integer, as the key of `{}` is",
                    schema.name
                ),
            })?),
        };
        Ok(self.routing.borrow_mut().route(&key))
    }

    /// The shards owning `symbols` (ascending, once each), or every shard when `None`.
    fn shards_of(&self, symbols: Option<&[SymbolKey]>) -> Vec<usize> {
        match symbols {
            Some(keys) => {
                let mut routing = self.routing.borrow_mut();
                let mut shards: Vec<usize> = keys.iter().map(|k| routing.route(k)).collect();
                shards.sort_unstable();
                shards.dedup();
                shards
            }
            None => (0..self.shards.count()).collect(),
        }
    }

    fn explain(&self, plan: &SelectPlan) -> Result<ResultSet, QueryError> {
        Ok(explain_result(self.scan_lines(plan)?))
    }

    fn explain_query(&self, plan: &QueryPlan) -> Result<ResultSet, QueryError> {
        let mut failure = None;
        let lines = explain_query_lines(plan, &mut |select| {
            self.scan_lines(select).unwrap_or_else(|e| {
                failure.get_or_insert(e);
                Vec::new()
            })
        });
        match failure {
            Some(e) => Err(e),
            None => Ok(explain_result(lines)),
        }
    }

    fn scan_lines(&self, plan: &SelectPlan) -> Result<Vec<String>, QueryError> {
        let table = &plan.fragment.table;
        let schema = Catalog::table(self, table).ok_or_else(|| QueryError::UnknownTable {
            table: table.clone(),
        })?;
        Ok(explain_lines(
            plan,
            &schema,
            &self.target_shards(plan),
            self.shards.count(),
        ))
    }

    /// Runs a composite query: its scans on the shards (concurrently), then its tree here.
    async fn query(&self, plan: &QueryPlan) -> Result<ResultSet, QueryError> {
        let answers = futures::future::join_all(plan.scans.iter().map(|s| self.select(s))).await;
        let scans = answers.into_iter().collect::<Result<Vec<_>, _>>()?;
        evaluate(plan, scans)
    }

    async fn select(&self, plan: &SelectPlan) -> Result<ResultSet, QueryError> {
        let requests = self
            .target_shards(plan)
            .into_iter()
            .map(|shard| (shard, ShardRequest::Run(Box::new(plan.fragment.clone()))))
            .collect();
        let mut results: Vec<FragmentResult> = Vec::new();
        for answer in self.shards.call_many(requests).await {
            match answer? {
                ShardResponse::Fragment(result) => results.push(*result),
                ShardResponse::Done(_) | ShardResponse::Stats(_) => {
                    return Err(QueryError::Engine(EngineError::Internal {
                        detail: "a fragment answered with something other than a result".into(),
                    }))
                }
            }
        }
        merge_results(plan, results)
    }
}

/// EXPLAIN's answer: one `explain` row per line.
fn explain_result(lines: Vec<String>) -> ResultSet {
    let rows = lines
        .into_iter()
        .map(|line| vec![Value::Str(line)])
        .collect();
    let columns = vec![ResultColumn {
        name: "explain".into(),
        data_type: DataType::Symbol,
    }];
    ResultSet {
        columns,
        rows,
        ..ResultSet::default()
    }
}

impl Catalog for Coordinator {
    fn table(&self, name: &str) -> Option<TableSchema> {
        self.shards
            .with_store(|store| store.table(name).ok().map(|t| t.schema.clone()))
    }
}

impl TableLister for Coordinator {
    fn table_names(&self) -> Vec<String> {
        self.shards
            .with_store(|store| store.schemas().map(|s| s.name.clone()).collect())
    }
}
