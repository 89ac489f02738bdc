//! Statistical aggregates (variance, standard deviation, exact quantiles, arg_min/arg_max)
//! and the classic ones, planned by the real planner, run as fragments on two shard stores
//! (rows placed by the real ring) and merged: answers must equal brute force over the rows
//! the test inserted, whichever shard holds them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use common::TwoShards;

use quecto_engine::fragment::plan::FragmentOutput;
use quecto_engine::types::{DataType, Value};
use quecto_sql::statement::{plan_sql, Plan};

/// xorshift64*: deterministic test data.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// One inserted trade.
#[derive(Clone, Debug)]
struct Trade {
    symbol: String,
    ts: i64,
    price: Option<f64>,
    qty: i64,
    venue: &'static str,
}

const VENUES: [&str; 3] = ["ARCA", "NYSE", "BATS"];

/// `rows` trades over `symbols` symbols (both shards get some), timestamps shuffled so rows
/// arrive out of order, ~8% NULL prices, quantities with many ties.
fn trades(rows: usize, symbols: u64, seed: u64) -> (TwoShards, Vec<Trade>) {
    let mut rng = Rng(seed);
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE t (symbol SYMBOL, ts TIMESTAMP, price FLOAT64, qty INT64, venue SYMBOL)");
    let mut timestamps: Vec<i64> = (0..rows as i64).map(|t| 1_000 + 7 * t).collect();
    for i in (1..timestamps.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        timestamps.swap(i, j);
    }
    let trades: Vec<Trade> = timestamps
        .into_iter()
        .map(|ts| Trade {
            symbol: format!("S{}", rng.below(symbols)),
            ts,
            price: (rng.below(100) >= 8).then(|| 50_000.0 + rng.below(100_000) as f64 / 64.0),
            qty: rng.below(12) as i64 - 3,
            venue: VENUES[rng.below(3) as usize],
        })
        .collect();
    for block in trades.chunks(5_000) {
        let values: Vec<String> = block
            .iter()
            .map(|t| {
                let price = t.price.map_or("NULL".to_string(), |p| format!("{p:?}"));
                format!(
                    "('{}', {}, {price}, {}, '{}')",
                    t.symbol, t.ts, t.qty, t.venue
                )
            })
            .collect();
        db.rows(&format!("INSERT INTO t VALUES {}", values.join(", ")));
    }
    (db, trades)
}

fn assert_both_shards_hold_rows(db: &TwoShards) {
    assert!(db
        .stores
        .iter()
        .all(|s| s.table("t").unwrap().rows_count > 0));
}

fn variances(xs: &[f64]) -> (Value, Value) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let m2: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
    let float = |ok: bool, v: f64| if ok { Value::Float(v) } else { Value::Null };
    (
        float(!xs.is_empty(), m2 / n),
        float(xs.len() > 1, m2 / (n - 1.0)),
    )
}

fn sqrt(value: &Value) -> Value {
    match value {
        Value::Float(v) => Value::Float(v.sqrt()),
        other => other.clone(),
    }
}

fn assert_close(got: &[Value], want: &[Value], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        match (g, w) {
            (Value::Float(a), Value::Float(b)) => {
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                    "{what}: {a} vs {b}"
                )
            }
            _ => assert_eq!(g, w, "{what}"),
        }
    }
}

fn prices(trades: &[&Trade]) -> Vec<f64> {
    trades.iter().filter_map(|t| t.price).collect()
}

fn quantities(trades: &[&Trade]) -> Vec<f64> {
    trades.iter().map(|t| t.qty as f64).collect()
}

fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    xs
}

/// PostgreSQL percentile_cont by sorting.
fn cont(xs: &[f64], level: f64) -> Value {
    let xs = sorted(xs);
    if xs.is_empty() {
        return Value::Null;
    }
    let position = level * (xs.len() - 1) as f64;
    let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
    if lo == hi {
        return Value::Float(xs[lo]);
    }
    Value::Float(xs[lo] + (position - lo as f64) * (xs[hi] - xs[lo]))
}

/// PostgreSQL percentile_disc by sorting.
fn disc(xs: &[f64], level: f64) -> Value {
    let xs = sorted(xs);
    let rank = (level * xs.len() as f64).ceil() as usize;
    xs.get(rank.max(1) - 1)
        .map_or(Value::Null, |x| Value::Float(*x))
}

/// `value` of the row whose `key` is smallest (`want_min`) or largest, ties going to the
/// smallest value; rows where either is NULL are skipped.
fn arg_extreme(
    trades: &[&Trade],
    value: impl Fn(&Trade) -> Value,
    key: impl Fn(&Trade) -> Value,
    want_min: bool,
) -> Value {
    let mut pairs: Vec<(Value, Value)> = trades
        .iter()
        .map(|t| (key(t), value(t)))
        .filter(|(k, v)| !k.is_null() && !v.is_null())
        .collect();
    pairs.sort_by(|a, b| {
        let by_key = a.0.total_cmp(&b.0);
        let by_key = if want_min { by_key } else { by_key.reverse() };
        by_key.then_with(|| a.1.total_cmp(&b.1))
    });
    pairs.first().map_or(Value::Null, |(_, v)| v.clone())
}

fn price_value(t: &Trade) -> Value {
    t.price.map_or(Value::Null, Value::Float)
}

/// The trades of each symbol, in symbol order.
fn by_symbol(trades: &[Trade]) -> Vec<(String, Vec<&Trade>)> {
    let mut symbols: Vec<String> = trades.iter().map(|t| t.symbol.clone()).collect();
    symbols.sort();
    symbols.dedup();
    symbols
        .into_iter()
        .map(|s| {
            let rows = trades.iter().filter(|t| t.symbol == s).collect();
            (s, rows)
        })
        .collect()
}

const SPREAD_SQL: &str = "SELECT symbol, var_pop(price), var_samp(price), stddev_pop(price), \
    stddev_samp(price), variance(price), stddev(price), varPop(qty), stddevSamp(qty), \
    stddevPop(qty), varSamp(qty) FROM t GROUP BY symbol ORDER BY symbol";

fn expected_spread(symbol: &str, rows: &[&Trade]) -> Vec<Value> {
    let (price_pop, price_samp) = variances(&prices(rows));
    let (qty_pop, qty_samp) = variances(&quantities(rows));
    vec![
        Value::Str(symbol.into()),
        price_pop.clone(),
        price_samp.clone(),
        sqrt(&price_pop),
        sqrt(&price_samp),
        price_samp.clone(),
        sqrt(&price_samp),
        qty_pop.clone(),
        sqrt(&qty_samp),
        sqrt(&qty_pop),
        qty_samp,
    ]
}

#[test]
fn variance_and_stddev_per_symbol_match_two_pass() {
    let (mut db, trades) = trades(3_000, 11, 0xa661);
    assert_both_shards_hold_rows(&db);
    let got = db.rows(SPREAD_SQL);
    let groups = by_symbol(&trades);
    assert_eq!(got.len(), groups.len());
    for (row, (symbol, rows)) in got.iter().zip(&groups) {
        assert_close(row, &expected_spread(symbol, rows), symbol);
    }
    let all: Vec<&Trade> = trades.iter().collect();
    let (pop, samp) = variances(&prices(&all));
    assert_close(
        &db.rows("SELECT var_pop(price), stddev_samp(price) FROM t")[0],
        &[pop, sqrt(&samp)],
        "all rows",
    );
}

const QUANTILE_SQL: &str = "SELECT symbol, median(price), quantile(0.9)(price), \
    quantileExact(0.25)(qty), quantile(qty), quantile_cont(price, 0.75), \
    percentile_cont(0.1) WITHIN GROUP (ORDER BY price), quantile_disc(qty, 0.5), \
    percentile_disc(0.3) WITHIN GROUP (ORDER BY price), quantile_cont(qty, 1), \
    quantile_disc(price, 0) FROM t GROUP BY symbol ORDER BY symbol";

fn expected_quantiles(symbol: &str, rows: &[&Trade]) -> Vec<Value> {
    let (p, q) = (prices(rows), quantities(rows));
    vec![
        Value::Str(symbol.into()),
        cont(&p, 0.5),
        cont(&p, 0.9),
        cont(&q, 0.25),
        cont(&q, 0.5),
        cont(&p, 0.75),
        cont(&p, 0.1),
        disc(&q, 0.5),
        disc(&p, 0.3),
        cont(&q, 1.0),
        disc(&p, 0.0),
    ]
}

#[test]
fn exact_quantiles_per_symbol_match_sorting_in_every_spelling() {
    let (mut db, trades) = trades(3_000, 11, 0xa662);
    assert_both_shards_hold_rows(&db);
    let got = db.rows(QUANTILE_SQL);
    let groups = by_symbol(&trades);
    assert_eq!(got.len(), groups.len());
    for (row, (symbol, rows)) in got.iter().zip(&groups) {
        assert_eq!(row, &expected_quantiles(symbol, rows), "{symbol}");
    }
}

const ARG_SQL: &str = "SELECT symbol, argMin(price, qty), argMax(venue, qty), arg_min(ts, price), \
    arg_max(qty, price), min_by(venue, ts), max_by(price, ts), argmin(qty, venue) \
    FROM t GROUP BY symbol ORDER BY symbol";

fn expected_args(symbol: &str, rows: &[&Trade]) -> Vec<Value> {
    let qty = |t: &Trade| Value::Int(t.qty);
    let ts = |t: &Trade| Value::Int(t.ts);
    let venue = |t: &Trade| Value::Str(t.venue.into());
    vec![
        Value::Str(symbol.into()),
        arg_extreme(rows, price_value, qty, true),
        arg_extreme(rows, venue, qty, false),
        arg_extreme(rows, ts, price_value, true),
        arg_extreme(rows, qty, price_value, false),
        arg_extreme(rows, venue, ts, true),
        arg_extreme(rows, price_value, ts, false),
        arg_extreme(rows, qty, venue, true),
    ]
}

#[test]
fn arg_min_max_per_symbol_take_extreme_keys_with_ties_to_the_smallest_value() {
    let (mut db, trades) = trades(3_000, 11, 0xa663);
    assert_both_shards_hold_rows(&db);
    let result = db.run(ARG_SQL).unwrap();
    let types: Vec<DataType> = result.columns.iter().map(|c| c.data_type).collect();
    assert_eq!(
        types,
        [
            DataType::Symbol,
            DataType::Float64,
            DataType::Symbol,
            DataType::Timestamp,
            DataType::Int64,
            DataType::Symbol,
            DataType::Float64,
            DataType::Int64
        ]
    );
    let groups = by_symbol(&trades);
    assert_eq!(result.rows.len(), groups.len());
    for (row, (symbol, rows)) in result.rows.iter().zip(&groups) {
        assert_eq!(row, &expected_args(symbol, rows), "{symbol}");
    }
}

#[test]
fn classic_aggregates_in_every_spelling() {
    let (mut db, trades) = trades(2_000, 7, 0xa664);
    let got = db.rows(
        "SELECT count(), count(*), count(price), uniqExact(venue), count(DISTINCT qty), \
         sum(qty), avg(price), min(qty), max(price), first(qty), last(qty), any(qty), \
         anyLast(qty) FROM t",
    );
    let mut by_time: Vec<&Trade> = trades.iter().collect();
    by_time.sort_by_key(|t| t.ts);
    let p: Vec<f64> = trades.iter().filter_map(|t| t.price).collect();
    let mut qtys: Vec<i64> = trades.iter().map(|t| t.qty).collect();
    qtys.sort();
    qtys.dedup();
    let want = [
        Value::Int(trades.len() as i64),
        Value::Int(trades.len() as i64),
        Value::Int(p.len() as i64),
        Value::Int(3),
        Value::Int(qtys.len() as i64),
        Value::Int(trades.iter().map(|t| t.qty).sum()),
        Value::Float(p.iter().sum::<f64>() / p.len() as f64),
        Value::Int(qtys[0]),
        Value::Float(p.iter().copied().fold(f64::MIN, f64::max)),
        Value::Int(by_time[0].qty),
        Value::Int(by_time[by_time.len() - 1].qty),
        Value::Int(by_time[0].qty),
        Value::Int(by_time[by_time.len() - 1].qty),
    ];
    assert_close(&got[0], &want, "classic");
}

#[test]
fn empty_input_gives_null_and_zero_counts() {
    let (mut db, _) = trades(500, 5, 0xa665);
    let got = db.rows(
        "SELECT count(), stddev(price), var_pop(qty), median(price), quantile_disc(qty, 0.5), \
         argMin(venue, qty), argMax(price, ts), sum(qty) FROM t WHERE symbol = 'NONE'",
    );
    let mut want = vec![Value::Null; 8];
    want[0] = Value::Int(0);
    assert_eq!(got, vec![want]);
    // A group whose prices are all NULL.
    db.rows(
        "INSERT INTO t (symbol, ts, qty, venue) VALUES ('N', 1, 4, 'ARCA'), ('N', 2, 4, 'NYSE')",
    );
    assert_eq!(
        db.rows(
            "SELECT var_samp(price), median(price), argMax(price, qty), argMin(venue, price), \
             argMax(venue, qty) FROM t WHERE symbol = 'N'"
        ),
        vec![vec![
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Str("ARCA".into())
        ]]
    );
}

#[test]
fn one_row_has_zero_population_spread_and_no_sample_spread() {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE t (symbol SYMBOL, ts TIMESTAMP, price FLOAT64, qty INT64, venue SYMBOL)");
    db.rows("INSERT INTO t VALUES ('A', 5, 2.5, 3, 'ARCA')");
    assert_eq!(
        db.rows(
            "SELECT var_pop(price), var_samp(price), stddev_pop(qty), stddev(qty), \
             median(price), quantile(0.9)(qty), argMax(venue, price) FROM t"
        ),
        vec![vec![
            Value::Float(0.0),
            Value::Null,
            Value::Float(0.0),
            Value::Null,
            Value::Float(2.5),
            Value::Float(3.0),
            Value::Str("ARCA".into())
        ]]
    );
}

/// A symbol with more than a chunk of rows: whole chunks take the memo path (variance and
/// arg_min memoize their chunk state, quantiles rescan); cold, warm and brute force agree.
#[test]
fn full_chunks_memoize_bounded_states_and_rescan_quantiles() {
    let (mut db, trades) = trades(40_000, 1, 0xa666);
    let sql = "SELECT var_samp(price), stddev_pop(qty), argMin(ts, qty), argMax(price, price), \
               median(price), quantile_disc(qty, 0.9) FROM t WHERE symbol = 'S0'";
    let rows: Vec<&Trade> = trades.iter().collect();
    let (p, q) = (prices(&rows), quantities(&rows));
    let (_, price_samp) = variances(&p);
    let (qty_pop, _) = variances(&q);
    let want = [
        price_samp,
        sqrt(&qty_pop),
        arg_extreme(&rows, |t| Value::Int(t.ts), |t| Value::Int(t.qty), true),
        arg_extreme(&rows, price_value, price_value, false),
        cont(&p, 0.5),
        disc(&q, 0.9),
    ];
    let cold = db.rows(sql);
    let warm = db.rows(sql);
    assert_close(&cold[0], &want, "cold");
    assert_close(&warm[0], &want, "warm");
    let Plan::Select(plan) = plan_sql(sql, &db).unwrap() else {
        panic!("{sql} is a SELECT")
    };
    let FragmentOutput::Aggregate { aggregates, .. } = &plan.fragment.output else {
        panic!("{sql} aggregates")
    };
    for call in aggregates {
        let memoized = db
            .stores
            .iter()
            .flat_map(|s| &s.table("t").unwrap().partitions)
            .flat_map(|p| &p.chunks)
            .filter(|c| c.memo.get(call).is_some())
            .count();
        let memoizable = call.function.is_memoizable();
        assert_eq!(memoized > 0, memoizable, "{call:?}: {memoized} memos");
    }
}

#[test]
fn unsupported_or_ill_typed_aggregates_are_errors_naming_the_problem() {
    let (mut db, _) = trades(100, 3, 0xa667);
    let cases = [
        ("SELECT quantile(1.5)(price) FROM t", "level"),
        ("SELECT quantile_cont(price, qty) FROM t", "level"),
        ("SELECT quantile_cont(price) FROM t", "level"),
        (
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY price DESC) FROM t",
            "DESC",
        ),
        ("SELECT median(0.5)(price) FROM t", "parameters"),
        ("SELECT stddev(symbol) FROM t", "SYMBOL"),
        ("SELECT median(venue) FROM t", "SYMBOL"),
        ("SELECT argMin(price) FROM t", "number of arguments"),
        ("SELECT sum(DISTINCT price) FROM t", "DISTINCT"),
        (
            "SELECT quantile(0.1, 0.2)(price) FROM t",
            "more than one level",
        ),
    ];
    for (sql, needle) in cases {
        let error = db.run(sql).expect_err(sql);
        assert!(error.to_string().contains(needle), "{sql}: {error}");
        assert_eq!(error.code_and_status().1, 400, "{sql}: {error}");
    }
}
