//! Every SQL construct, planned by the real planner and run as fragments on two shard stores
//! (rows placed by the real ring), then merged: the whole query path minus the executors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use quecto_engine::batch::RowBatch;
use quecto_engine::fragment::exec::run_fragment;
use quecto_engine::ring::{HashRing, ShardId};
use quecto_engine::schema::TableSchema;
use quecto_engine::storage::store::ShardStore;
use quecto_engine::types::Value;
use quecto_sql::merge::merge_results;
use quecto_sql::result::ResultSet;
use quecto_sql::select::Catalog;
use quecto_sql::statement::{plan_sql, Plan, TableLister};
use quecto_sql::QueryError;

struct TwoShards {
    stores: Vec<ShardStore>,
    ring: HashRing,
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
    fn new() -> TwoShards {
        let members = [ShardId { node: 0, core: 0 }, ShardId { node: 0, core: 1 }];
        TwoShards {
            stores: vec![ShardStore::default(), ShardStore::default()],
            ring: HashRing::new(&members).unwrap(),
        }
    }

    fn run(&mut self, sql: &str) -> Result<ResultSet, QueryError> {
        match plan_sql(sql, self)? {
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
            Plan::Select(plan) => {
                let mut results = Vec::new();
                for store in &self.stores {
                    results.push(run_fragment(store, &plan.fragment)?);
                }
                return merge_results(&plan, results);
            }
            Plan::Explain(plan) => {
                let schema = Catalog::table(self, &plan.fragment.table).unwrap();
                let shards: Vec<usize> = match &plan.fragment.symbols {
                    Some(keys) => keys.iter().map(|k| self.ring.route(k)).collect(),
                    None => vec![0, 1],
                };
                let lines = quecto_sql::explain::explain_lines(&plan, &schema, &shards, 2);
                let rows = lines.into_iter().map(|l| vec![Value::Str(l)]).collect();
                return Ok(ResultSet {
                    rows,
                    ..ResultSet::default()
                });
            }
            Plan::Constant(result) => return Ok(result),
            Plan::Mutate(mutation) => {
                for store in &mut self.stores {
                    store.mutate(&mutation)?;
                }
            }
        }
        Ok(ResultSet::default())
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

    fn rows(&mut self, sql: &str) -> Vec<Vec<Value>> {
        match self.run(sql) {
            Ok(result) => result.rows,
            Err(e) => panic!("{sql}: {e}"),
        }
    }
}

fn s(text: &str) -> Value {
    Value::Str(text.into())
}

/// trades over 6 symbols (both shards get some), timestamps 1..=60, price = ts, volume = 10·sym.
fn trades() -> TwoShards {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE trades (symbol SYMBOL, timestamp TIMESTAMP, price FLOAT64, volume INT64, venue SYMBOL)");
    let mut values = Vec::new();
    for ts in 1..=60i64 {
        let sym = ts % 6;
        let venue = if ts % 2 == 0 { "ARCA" } else { "NYSE" };
        values.push(format!(
            "('S{sym}', {ts}, {ts}.5, {}, '{venue}')",
            10 * (sym + 1)
        ));
    }
    db.rows(&format!("INSERT INTO trades VALUES {};", values.join(", ")));
    db
}

#[test]
fn both_shards_hold_rows() {
    let db = trades();
    assert!(db
        .stores
        .iter()
        .all(|s| s.table("trades").unwrap().rows_count > 0));
}

#[test]
fn count_sum_avg_min_max_over_all_shards() {
    let mut db = trades();
    let rows = db.rows("SELECT count(*), count(price), sum(volume), avg(price), min(price), max(timestamp) FROM trades");
    let volume: i64 = (1..=60).map(|ts: i64| 10 * (ts % 6 + 1)).sum();
    let avg = (1..=60).map(|ts| ts as f64 + 0.5).sum::<f64>() / 60.0;
    assert_eq!(
        rows,
        vec![vec![
            Value::Int(60),
            Value::Int(60),
            Value::Int(volume),
            Value::Float(avg),
            Value::Float(1.5),
            Value::Int(60)
        ]]
    );
}

#[test]
fn vwap_first_last_for_one_symbol() {
    let mut db = trades();
    let rows = db.rows("SELECT vwap(price, volume), first(price), last(price), count(*) FROM trades WHERE symbol = 'S2'");
    // S2 trades at ts = 2, 8, ..., 56 with volume 30 each: vwap = mean price.
    let prices: Vec<f64> = (0..10).map(|k| (2 + 6 * k) as f64 + 0.5).collect();
    let vwap = prices.iter().map(|p| p * 30.0).sum::<f64>() / 300.0;
    assert_eq!(
        rows,
        vec![vec![
            Value::Float(vwap),
            Value::Float(2.5),
            Value::Float(56.5),
            Value::Int(10)
        ]]
    );
}

#[test]
fn group_by_having_order_by_desc_limit_offset() {
    let mut db = trades();
    let rows = db.rows(
        "SELECT symbol, sum(volume) AS v FROM trades GROUP BY symbol HAVING v > 20 ORDER BY v DESC LIMIT 2 OFFSET 1",
    );
    assert_eq!(
        rows,
        vec![
            vec![s("S4"), Value::Int(500)],
            vec![s("S3"), Value::Int(400)]
        ]
    );
}

#[test]
fn group_by_non_key_symbol_column_and_expression_over_aggregates() {
    let mut db = trades();
    let rows = db.rows("SELECT venue, count(*) * 2, sum(price) / count(*) FROM trades GROUP BY venue ORDER BY venue");
    let even = (1..=30).map(|k| (2 * k) as f64 + 0.5).sum::<f64>() / 30.0;
    let odd = (1..=30).map(|k| (2 * k - 1) as f64 + 0.5).sum::<f64>() / 30.0;
    assert_eq!(
        rows,
        vec![
            vec![s("ARCA"), Value::Int(60), Value::Float(even)],
            vec![s("NYSE"), Value::Int(60), Value::Float(odd)]
        ]
    );
}

#[test]
fn where_in_between_not_and_or() {
    let mut db = trades();
    let count = |db: &mut TwoShards, filter: &str| {
        db.rows(&format!("SELECT count(*) FROM trades WHERE {filter}"))[0][0].clone()
    };
    assert_eq!(count(&mut db, "symbol IN ('S1', 'S2')"), Value::Int(20));
    assert_eq!(
        count(&mut db, "timestamp BETWEEN 10 AND 19"),
        Value::Int(10)
    );
    assert_eq!(
        count(&mut db, "NOT timestamp BETWEEN 10 AND 19"),
        Value::Int(50)
    );
    // ts 50..=60 (11 rows) or ts % 6 == 0 (10 rows), overlapping at 54 and 60.
    assert_eq!(
        count(&mut db, "price > 50 OR symbol = 'S0'"),
        Value::Int(11 + 10 - 2)
    );
    assert_eq!(
        count(&mut db, "symbol NOT IN ('S0') AND venue = 'NYSE'"),
        Value::Int(30)
    );
    // ts >= 50 with volume < 25 (ts % 6 in {0, 1}): ts 54, 55, 60.
    assert_eq!(
        count(&mut db, "price * 2 >= 100 AND volume - 10 < 15"),
        Value::Int(3)
    );
}

#[test]
fn nulls_from_omitted_columns_and_is_null() {
    let mut db = trades();
    db.rows("INSERT INTO trades (symbol, timestamp, volume) VALUES ('S9', 100, 1), ('S9', 101, 2)");
    assert_eq!(
        db.rows("SELECT count(*) FROM trades WHERE price IS NULL"),
        vec![vec![Value::Int(2)]]
    );
    assert_eq!(
        db.rows("SELECT count(price), sum(price) FROM trades WHERE symbol = 'S9'"),
        vec![vec![Value::Int(0), Value::Null]]
    );
    assert_eq!(
        db.rows("SELECT count(*) FROM trades WHERE price IS NOT NULL"),
        vec![vec![Value::Int(60)]]
    );
}

#[test]
fn count_distinct() {
    let mut db = trades();
    assert_eq!(
        db.rows("SELECT count(DISTINCT symbol), count(DISTINCT venue) FROM trades"),
        vec![vec![Value::Int(6), Value::Int(2)]]
    );
}

#[test]
fn out_of_order_inserts_are_read_in_timestamp_order() {
    let mut db = trades();
    db.rows("INSERT INTO trades VALUES ('S1', 0, 0.25, 5, 'X'), ('S1', 1000, 9.0, 5, 'X'), ('S1', 30, 7.0, 5, 'X')");
    let rows =
        db.rows("SELECT timestamp FROM trades WHERE symbol = 'S1' ORDER BY timestamp LIMIT 3");
    assert_eq!(
        rows,
        vec![
            vec![Value::Int(0)],
            vec![Value::Int(1)],
            vec![Value::Int(7)]
        ]
    );
    assert_eq!(
        db.rows("SELECT first(price), last(price) FROM trades WHERE symbol = 'S1'"),
        vec![vec![Value::Float(0.25), Value::Float(9.0)]]
    );
}

#[test]
fn select_rows_order_by_alias_and_position_with_limit_across_shards() {
    let mut db = trades();
    let rows = db.rows("SELECT symbol, price AS p FROM trades ORDER BY p DESC LIMIT 3");
    assert_eq!(
        rows,
        vec![
            vec![s("S0"), Value::Float(60.5)],
            vec![s("S5"), Value::Float(59.5)],
            vec![s("S4"), Value::Float(58.5)]
        ]
    );
    let rows = db.rows("SELECT timestamp, price FROM trades ORDER BY 2 LIMIT 1 OFFSET 2");
    assert_eq!(rows, vec![vec![Value::Int(3), Value::Float(3.5)]]);
    assert_eq!(db.rows("SELECT * FROM trades WHERE timestamp = 7").len(), 1);
}

#[test]
fn timestamp_literals_compare_with_timestamp_columns() {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE q (sym SYMBOL, ts TIMESTAMP, bid FLOAT64)");
    db.rows("INSERT INTO q VALUES ('A', '2024-01-02 09:30:00', 1.0), ('A', '2024-01-02T09:31:00Z', 2.0)");
    let rows = db.rows("SELECT count(*) FROM q WHERE ts >= '2024-01-02 09:30:30'");
    assert_eq!(rows, vec![vec![Value::Int(1)]]);
}

#[test]
fn constant_select_and_trailing_semicolon() {
    let mut db = TwoShards::new();
    assert_eq!(db.rows("SELECT 1;"), vec![vec![Value::Int(1)]]);
    assert_eq!(
        db.rows("SELECT 1 + 2 * 3, 7 / 2, -4"),
        vec![vec![Value::Int(7), Value::Float(3.5), Value::Int(-4)]]
    );
}

#[test]
fn integer_sum_overflow_is_an_error_not_a_wrap() {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE t (symbol SYMBOL, ts TIMESTAMP, v INT64)");
    db.rows("INSERT INTO t VALUES ('A', 1, 9223372036854775807), ('B', 2, 9223372036854775807)");
    let error = db.run("SELECT sum(v) FROM t").unwrap_err();
    assert!(error.to_string().contains("overflow"), "{error}");
    assert_eq!(error.code_and_status().1, 400);
    assert_eq!(
        db.rows("SELECT sum(v) FROM t WHERE symbol = 'A'"),
        vec![vec![Value::Int(i64::MAX)]]
    );
}

#[test]
fn show_describe_drop() {
    let mut db = trades();
    assert_eq!(db.rows("SHOW TABLES"), vec![vec![s("trades")]]);
    assert_eq!(
        db.rows("DESCRIBE trades")[3],
        vec![s("volume"), s("INT64"), s("")]
    );
    db.rows("DROP TABLE trades");
    db.rows("DROP TABLE IF EXISTS trades");
    assert_eq!(
        db.run("SELECT count(*) FROM trades")
            .unwrap_err()
            .code_and_status(),
        ("UNKNOWN_TABLE", 404)
    );
    db.rows("CREATE TABLE IF NOT EXISTS trades (symbol SYMBOL, timestamp TIMESTAMP)");
    db.rows("CREATE TABLE IF NOT EXISTS trades (symbol SYMBOL, timestamp TIMESTAMP)");
}

#[test]
fn integer_symbols_route_and_filter() {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE t (symbol INT64, ts TIMESTAMP, price FLOAT64)");
    db.rows("INSERT INTO t VALUES (1, 1, 10.0), (2, 2, 20.0), (1, 3, 30.0), (3, 4, 1.0)");
    assert_eq!(
        db.rows("SELECT count(*), sum(price) FROM t WHERE symbol = 1"),
        vec![vec![Value::Int(2), Value::Float(40.0)]]
    );
    assert_eq!(
        db.rows("SELECT sum(symbol) FROM t"),
        vec![vec![Value::Int(7)]]
    );
}

#[test]
fn errors_name_what_is_wrong() {
    let mut db = trades();
    let cases = [
        ("SELEC 1", "SELEC", 400),
        ("SELECT nope FROM trades", "nope", 404),
        ("SELECT count(*) FROM nope", "nope", 404),
        (
            "INSERT INTO trades VALUES ('S1', 1, 'abc', 1, 'X')",
            "price",
            400,
        ),
        (
            "INSERT INTO trades VALUES ('S1', 1, 1.0, 1, 'X', 99)",
            "6 values",
            400,
        ),
        ("SELECT symbol, count(*) FROM trades", "GROUP BY", 400),
        ("SELECT median(price) FROM trades", "median", 400),
        (
            "SELECT * FROM trades t JOIN quotes q ON t.symbol = q.symbol",
            "JOIN",
            400,
        ),
        (
            "INSERT INTO trades (symbol, price) VALUES ('S1', 1.0)",
            "timestamp",
            400,
        ),
        ("CREATE TABLE x (a INT64)", "SYMBOL", 400),
        (
            "SELECT count(*) FROM trades WHERE symbol = 1",
            "cannot compare a SYMBOL value",
            400,
        ),
        (
            "SELECT count(*) FROM trades WHERE symbol IN ('S1', 2)",
            "cannot compare",
            400,
        ),
        (
            "SELECT count(*) FROM trades WHERE price > 'abc'",
            "FLOAT64",
            400,
        ),
        (
            "SELECT count(*) FROM trades WHERE timestamp > 'yesterday'",
            "not a timestamp",
            400,
        ),
        (
            "SELECT count(*) FROM trades WHERE timestamp BETWEEN 1 AND 'x'",
            "not a timestamp",
            400,
        ),
    ];
    for (sql, needle, status) in cases {
        let error = db.run(sql).expect_err(sql);
        assert!(error.to_string().contains(needle), "{sql}: {error}");
        assert_eq!(error.code_and_status().1, status, "{sql}: {error}");
    }
}

/// Whole-chunk aggregates are memoized in full chunks; a second (memo) run and a run after an
/// out-of-order insert rewrote memoized chunks must equal sums computed here.
#[test]
fn memoized_chunk_aggregates_match_a_rescan_and_follow_late_rows() {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE t (symbol SYMBOL, ts TIMESTAMP, price FLOAT64, volume INT64)");
    let mut rows: Vec<(i64, f64, i64)> = Vec::new();
    for ts in 0..50_000i64 {
        rows.push((ts * 10, 100.0 + (ts % 97) as f64 * 0.25, 1 + ts % 13));
    }
    for block in rows.chunks(10_000) {
        let values: Vec<String> = block
            .iter()
            .map(|(ts, p, v)| format!("('A', {ts}, {p}, {v})"))
            .collect();
        db.rows(&format!("INSERT INTO t VALUES {}", values.join(",")));
    }
    let sql =
        "SELECT count(*), sum(volume), vwap(price, volume), min(price), max(price), first(price), \
               last(volume), avg(volume) FROM t WHERE symbol = 'A'";
    let expected = |rows: &[(i64, f64, i64)]| {
        let mut sorted = rows.to_vec();
        sorted.sort_by_key(|r| r.0);
        let volume: i64 = sorted.iter().map(|r| r.2).sum();
        let pv: f64 = sorted.iter().map(|r| r.1 * r.2 as f64).sum();
        let min = sorted.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
        let max = sorted.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max);
        (
            sorted.len() as i64,
            volume,
            pv / volume as f64,
            min,
            max,
            sorted[0].1,
            sorted[sorted.len() - 1].2,
        )
    };
    let check = |got: &[Value], want: (i64, i64, f64, f64, f64, f64, i64)| {
        assert_eq!(got[0], Value::Int(want.0));
        assert_eq!(got[1], Value::Int(want.1));
        let Value::Float(vwap) = got[2] else {
            panic!("vwap {:?}", got[2])
        };
        assert!(
            (vwap - want.2).abs() <= 1e-9 * want.2.abs(),
            "{vwap} vs {}",
            want.2
        );
        assert_eq!(
            &got[3..7],
            &[
                Value::Float(want.3),
                Value::Float(want.4),
                Value::Float(want.5),
                Value::Int(want.6)
            ]
        );
    };
    let cold = db.rows(sql);
    let warm = db.rows(sql);
    assert_eq!(cold, warm);
    check(&cold[0], expected(&rows));
    // Late rows land inside the first (memoized) chunk and move every later row.
    db.rows("INSERT INTO t VALUES ('A', 5, 1.0, 1000), ('A', 155, 999.0, 7), ('A', -1, 50.0, 3)");
    rows.extend([(5, 1.0, 1000), (155, 999.0, 7), (-1, 50.0, 3)]);
    check(&db.rows(sql)[0], expected(&rows));
    check(&db.rows(sql)[0], expected(&rows));
}

/// `ALTER TABLE … SET TTL` is recorded in the schema (DESCRIBE shows it) and, when a shard
/// expires (at checkpoints), rows older than the TTL go and newer ones stay, exactly.
#[test]
fn alter_table_ttl_expires_exactly_the_old_rows() {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE t (symbol SYMBOL, ts TIMESTAMP, v INT64)");
    let now_ns: i64 = 1_800_000_000_000_000_000;
    let hour_ns: i64 = 3_600_000_000_000;
    let values: Vec<String> = (0..48i64)
        .map(|h| format!("('S{}', {}, {h})", h % 5, now_ns - h * hour_ns - 1))
        .collect();
    db.rows(&format!("INSERT INTO t VALUES {}", values.join(",")));
    db.rows("ALTER TABLE t SET TTL 1 DAYS;");
    assert_eq!(
        db.rows("DESCRIBE t")[1],
        vec![s("ts"), s("TIMESTAMP"), s("ts + INTERVAL 86400 SECOND")]
    );
    let dropped: u64 = db.stores.iter_mut().map(|store| store.expire(now_ns)).sum();
    // Rows h = 0..=23 are younger than a day (ts = now - h hours - 1 ns); h = 24.. are older.
    assert_eq!(dropped, 24);
    assert_eq!(
        db.rows("SELECT count(*), min(v), max(v) FROM t"),
        vec![vec![Value::Int(24), Value::Int(0), Value::Int(23)]]
    );
    db.rows("ALTER TABLE t REMOVE TTL");
    assert_eq!(db.rows("DESCRIBE t")[1][2], s(""));
    let errors = [
        ("ALTER TABLE nope SET TTL 1 DAYS", 404),
        ("ALTER TABLE t SET TTL 0 DAYS", 400),
        ("ALTER TABLE t SET TTL 3 FORTNIGHTS", 400),
        ("ALTER TABLE t SET TTL many DAYS", 400),
    ];
    for (sql, status) in errors {
        assert_eq!(
            db.run(sql).unwrap_err().code_and_status().1,
            status,
            "{sql}"
        );
    }
}

/// A NaN fails every comparison; zone maps must not let pruning declare "every row passes"
/// for a chunk that holds one (it once did: a NaN left the finite bounds in place).
#[test]
fn nan_rows_never_pass_a_comparison_even_when_zones_would_accept_the_chunk() {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE t (symbol SYMBOL, ts TIMESTAMP, price FLOAT64)");
    // Separate appends: the NaN joins a chunk whose bounds are already [1.5, 2.0].
    db.rows("INSERT INTO t VALUES ('A', 1, 1.5), ('A', 2, 2.0)");
    db.rows("INSERT INTO t VALUES ('A', 3, 0.0 / 0.0)");
    db.rows("INSERT INTO t VALUES ('A', 4, 3.0)");
    assert_eq!(
        db.rows("SELECT count(*) FROM t WHERE price > 1.0"),
        vec![vec![Value::Int(3)]]
    );
    assert_eq!(
        db.rows("SELECT count(*) FROM t WHERE price < 10.0"),
        vec![vec![Value::Int(3)]]
    );
    assert_eq!(
        db.rows("SELECT count(*) FROM t WHERE NOT price > 1.0"),
        vec![vec![Value::Int(1)]]
    );
}

/// EXPLAIN names the shards a query touches (one for a symbol filter), the pruning its filter
/// allows, the partial states and the merge; EXPLAIN of a write is refused by name.
#[test]
fn explain_shows_routing_pruning_states_and_merge() {
    let mut db = trades();
    let text = |rows: Vec<Vec<Value>>| -> String {
        rows.into_iter()
            .map(|r| match &r[0] {
                Value::Str(line) => line.clone(),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let routed =
        text(db.rows("EXPLAIN SELECT vwap(price, volume) FROM trades WHERE symbol = 'S2'"));
    let shard = db
        .ring
        .route(&quecto_engine::batch::SymbolKey::Str("S2".into()));
    assert!(
        routed.contains(&format!(
            "Fragment on shards [{shard}] of 2 (routed by symbol = 'S2')"
        )),
        "{routed}"
    );
    assert!(routed.contains("states [vwap(price, volume)]"), "{routed}");
    assert!(routed.contains("zone maps on: symbol"), "{routed}");
    let scan = text(db.rows("EXPLAIN SELECT venue, count(*) FROM trades WHERE price > 10 GROUP BY venue ORDER BY 2 DESC LIMIT 1"));
    assert!(scan.contains("shards [0, 1] of 2 (every shard)"), "{scan}");
    assert!(
        scan.contains("group by [venue]") && scan.contains("zone maps on: price"),
        "{scan}"
    );
    assert!(
        scan.starts_with(
            "Merge: combine 1 partial state(s) over 1 group key(s), ORDER BY 1 key(s), LIMIT 1"
        ),
        "{scan}"
    );
    let error = db
        .run("EXPLAIN INSERT INTO trades VALUES ('S1', 1, 1.0, 1, 'X')")
        .unwrap_err();
    assert_eq!(error.code_and_status().1, 400);
}
