//! The SQL test harness: the real planner, fragments run on two shard stores whose rows
//! the real ring places, the real merge and coordinator evaluation — the whole query path
//! minus the executors.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // shared by several test files

use quecto_engine::batch::RowBatch;
use quecto_engine::fragment::exec::run_fragment;
use quecto_engine::ring::{HashRing, ShardId};
use quecto_engine::schema::TableSchema;
use quecto_engine::storage::store::ShardStore;
use quecto_engine::types::Value;
use quecto_sql::merge::merge_results;
use quecto_sql::query::evaluate::evaluate;
use quecto_sql::result::ResultSet;
use quecto_sql::select::{Catalog, SelectPlan};
use quecto_sql::statement::{plan_sql, Plan, TableLister};
use quecto_sql::QueryError;

/// Two shard stores with rows placed by the real ring.
pub struct TwoShards {
    /// The shards' stores.
    pub stores: Vec<ShardStore>,
    /// The ring that places rows.
    pub ring: HashRing,
}

impl Catalog for TwoShards {
    fn table(&self, name: &str) -> Option<TableSchema> {
        self.stores[0].table(name).ok().map(|t| t.schema.clone())
    }
}

impl TableLister for TwoShards {
    fn table_names(&self) -> Vec<String> {
        self.stores[0].schemas().map(|s| s.name.clone()).collect()
    }
}

impl TwoShards {
    /// Two empty shards.
    pub fn new() -> TwoShards {
        let members = [ShardId { node: 0, core: 0 }, ShardId { node: 0, core: 1 }];
        TwoShards {
            stores: vec![ShardStore::default(), ShardStore::default()],
            ring: HashRing::new(&members).unwrap(),
        }
    }

    /// Plans and runs one statement.
    pub fn run(&mut self, sql: &str) -> Result<ResultSet, QueryError> {
        let plan = plan_sql(sql, self)?;
        if !matches!(plan, Plan::Insert { .. }) {
            // As a shard does before any read: late inserts merged in.
            for store in &mut self.stores {
                store.settle_late_rows();
            }
        }
        match plan {
            Plan::CreateTable {
                schema,
                if_not_exists,
            } => {
                for store in &mut self.stores {
                    store.create_table(schema.clone(), if_not_exists)?;
                }
            }
            Plan::DropTable { table, if_exists } => {
                for store in &mut self.stores {
                    store.drop_table(&table, if_exists)?;
                }
            }
            Plan::Insert { table, batch } => self.insert(&table, &batch)?,
            Plan::SetTtl { table, ttl_seconds } => {
                for store in &mut self.stores {
                    store.set_ttl(&table, ttl_seconds)?;
                }
            }
            Plan::Select(plan) => return self.select(&plan),
            Plan::Query(plan) => {
                let mut scans = Vec::new();
                for scan in &plan.scans {
                    scans.push(self.select(scan)?);
                }
                return evaluate(&plan, scans);
            }
            Plan::ExplainQuery(plan) => {
                let lines = quecto_sql::explain::explain_query_lines(&plan, &mut |select| {
                    self.explain_lines(select)
                });
                return Ok(explain_rows(lines));
            }
            Plan::Explain(plan) => return Ok(explain_rows(self.explain_lines(&plan))),
            Plan::Constant(result) => return Ok(result),
            Plan::Mutate(mutation) => {
                for store in &mut self.stores {
                    store.mutate(&mutation)?;
                }
            }
        }
        Ok(ResultSet::default())
    }

    fn select(&self, plan: &SelectPlan) -> Result<ResultSet, QueryError> {
        let mut results = Vec::new();
        for store in &self.stores {
            results.push(run_fragment(store, &plan.fragment)?);
        }
        merge_results(plan, results)
    }

    fn explain_lines(&self, plan: &SelectPlan) -> Vec<String> {
        let schema = Catalog::table(self, &plan.fragment.table).unwrap();
        let shards: Vec<usize> = match &plan.fragment.symbols {
            Some(keys) => keys.iter().map(|k| self.ring.route(k)).collect(),
            None => vec![0, 1],
        };
        quecto_sql::explain::explain_lines(plan, &schema, &shards, 2)
    }

    fn insert(&mut self, schema: &TableSchema, batch: &RowBatch) -> Result<(), QueryError> {
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); 2];
        for row in 0..batch.rows_count {
            let key = batch.symbol_key(schema.symbol_index, row);
            rows[self.ring.route(&key)].push(row as u32);
        }
        for (shard, rows) in rows.iter().enumerate() {
            self.stores[shard].apply(&schema.name, batch, Some(rows))?;
        }
        Ok(())
    }

    /// The rows of a statement that must succeed.
    pub fn rows(&mut self, sql: &str) -> Vec<Vec<Value>> {
        match self.run(sql) {
            Ok(result) => result.rows,
            Err(e) => panic!("{sql}: {e}"),
        }
    }
}

fn explain_rows(lines: Vec<String>) -> ResultSet {
    ResultSet {
        rows: lines.into_iter().map(|l| vec![Value::Str(l)]).collect(),
        ..ResultSet::default()
    }
}

/// A deterministic xorshift stream seeded by `seed`: each call gives a number below `bound`.
pub fn below(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut state = seed;
    move |bound| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    }
}
