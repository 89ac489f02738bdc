//! Bars over two shards against brute force: groups keyed by the symbol and a time bucket,
//! found as timestamp runs on the shards (buckets crossing chunk edges, filters, time windows,
//! NULLs, tied timestamps, rows inserted out of order, empty partitions), and aggregates over
//! such bars, which run whole on the shards (outer WHERE, GROUP BY and HAVING, inner HAVING and
//! computed columns). Each shape is also run the general way (hashed groups; the derived table
//! finished on the coordinator) and must agree with it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;

use common::TwoShards;
use quecto_engine::storage::chunk::CHUNK_ROWS_MAX;
use quecto_engine::types::Value;

/// One trade; prices and volumes may be NULL.
#[derive(Clone, Copy, Debug)]
struct Trade {
    symbol: i64,
    ts: i64,
    price: Option<f64>,
    volume: Option<i64>,
}

/// Bar width (ns) of the tests' `intDiv(ts, 700)` and `xbar(ts, 700)`.
const BAR: i64 = 700;

/// `rows` trades over 6 symbols, symbol 0 taking about half of them (so its partition fills
/// more than one chunk), four trades per 10 ns (so a symbol often has several at one time),
/// ~8% NULL prices and volumes.
fn generate(rows: usize, seed: u64) -> Vec<Trade> {
    let mut next = common::below(seed);
    (0..rows as i64)
        .map(|i| {
            let symbol = if next(2) == 0 { 0 } else { 1 + next(5) as i64 };
            let price = (next(100) >= 8).then(|| 100.0 + next(400) as f64 / 8.0);
            let volume = (next(100) >= 8).then(|| 1 + next(50) as i64);
            Trade {
                symbol,
                ts: 10 * (i / 4),
                price,
                volume,
            }
        })
        .collect()
}

/// A table `t` holding `trades`, inserted in blocks in the given order.
fn load(trades: &[Trade], order: impl Iterator<Item = usize>) -> TwoShards {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE t (symbol INT64, ts TIMESTAMP, price FLOAT64, volume INT64)");
    let order: Vec<usize> = order.collect();
    for block in order.chunks(10_000) {
        let values: Vec<String> = block
            .iter()
            .map(|&i| {
                let t = trades[i];
                let price = t.price.map_or("NULL".into(), |p| format!("{p:?}"));
                let volume = t.volume.map_or("NULL".into(), |v| v.to_string());
                format!("({}, {}, {price}, {volume})", t.symbol, t.ts)
            })
            .collect();
        db.rows(&format!("INSERT INTO t VALUES {}", values.join(", ")));
    }
    db
}

/// 50,000 trades inserted out of order (odd rows first, then even ones).
fn market() -> (TwoShards, Vec<Trade>) {
    let trades = generate(50_000, 0x5EED_BA75);
    let odd_then_even = (1..trades.len())
        .step_by(2)
        .chain((0..trades.len()).step_by(2));
    (load(&trades, odd_then_even), trades)
}

/// A bar computed row by row, in partition order (time, then arrival).
#[derive(Clone, Debug, Default)]
struct Bar {
    rows: i64,
    priced: i64,
    volume: Option<i64>,
    volumes: i64,
    high: Option<f64>,
    low: Option<f64>,
    /// argMin(price, ts): earliest time, ties to the smallest price.
    open: Option<(i64, f64)>,
    /// argMax(price, ts): latest time, ties to the smallest price.
    close: Option<(i64, f64)>,
    first: Option<f64>,
    last: Option<f64>,
    pv: f64,
    v: f64,
    vwap_rows: i64,
}

impl Bar {
    fn add(&mut self, t: &Trade) {
        self.rows += 1;
        if let Some(v) = t.volume {
            self.volume = Some(self.volume.unwrap_or(0) + v);
            self.volumes += 1;
        }
        let Some(p) = t.price else { return };
        self.priced += 1;
        self.high = Some(self.high.map_or(p, |h| h.max(p)));
        self.low = Some(self.low.map_or(p, |l| l.min(p)));
        let earlier = |(ts, q): (i64, f64)| t.ts < ts || (t.ts == ts && p < q);
        let later = |(ts, q): (i64, f64)| t.ts > ts || (t.ts == ts && p < q);
        if self.open.is_none_or(earlier) {
            self.open = Some((t.ts, p));
        }
        if self.close.is_none_or(later) {
            self.close = Some((t.ts, p));
        }
        self.first = self.first.or(Some(p));
        self.last = Some(p);
        if let Some(v) = t.volume {
            self.pv += p * v as f64;
            self.v += v as f64;
            self.vwap_rows += 1;
        }
    }

    fn avg_volume(&self) -> Option<f64> {
        (self.volumes > 0).then(|| self.volume.unwrap_or(0) as f64 / self.volumes as f64)
    }

    fn vwap(&self) -> Option<f64> {
        (self.vwap_rows > 0).then(|| self.pv / self.v)
    }
}

/// Bars by (symbol, bucket) of the trades `keep` keeps, rows taken in partition order:
/// `arrival` lists the trades' indices in the order they were inserted.
fn bars(
    trades: &[Trade],
    arrival: &[usize],
    bucket: impl Fn(i64) -> i64,
    keep: impl Fn(&Trade) -> bool,
) -> BTreeMap<(i64, i64), Bar> {
    let mut order = arrival.to_vec();
    order.sort_by_key(|&i| (trades[i].symbol, trades[i].ts)); // stable: arrival order on ties
    let mut bars: BTreeMap<(i64, i64), Bar> = BTreeMap::new();
    for t in order.iter().map(|&i| &trades[i]).filter(|t| keep(t)) {
        bars.entry((t.symbol, bucket(t.ts))).or_default().add(t);
    }
    bars
}

fn market_arrival(rows: usize) -> Vec<usize> {
    (1..rows).step_by(2).chain((0..rows).step_by(2)).collect()
}

fn int(v: Option<i64>) -> Value {
    v.map_or(Value::Null, Value::Int)
}

fn float(v: Option<f64>) -> Value {
    v.map_or(Value::Null, Value::Float)
}

/// Rows equal but for float rounding (sums added in another order).
fn assert_rows_close(got: &[Vec<Value>], want: &[Vec<Value>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: row count");
    for (row, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what}: row {row} width");
        for (column, (a, b)) in g.iter().zip(w).enumerate() {
            let close = match (a, b) {
                (Value::Float(x), Value::Float(y)) => (x - y).abs() <= 1e-9 * y.abs().max(1.0),
                _ => a == b,
            };
            assert!(close, "{what}: row {row} column {column}: {a:?} != {b:?}");
        }
    }
}

/// The OHLC-and-more select list of the bar queries, after `symbol, b`.
const BAR_AGGREGATES: &str = "count(), count(price), sum(volume), avg(volume), min(price), \
                              max(price), argMin(price, ts), argMax(price, ts), \
                              vwap(price, volume)";

fn bar_row(symbol: i64, bucket: i64, bar: &Bar) -> Vec<Value> {
    vec![
        Value::Int(symbol),
        Value::Int(bucket),
        Value::Int(bar.rows),
        Value::Int(bar.priced),
        int(bar.volume),
        float(bar.avg_volume()),
        float(bar.low),
        float(bar.high),
        float(bar.open.map(|(_, p)| p)),
        float(bar.close.map(|(_, p)| p)),
        float(bar.vwap()),
    ]
}

fn explain(db: &mut TwoShards, sql: &str) -> String {
    let lines: Vec<String> = db
        .rows(&format!("EXPLAIN {sql}"))
        .into_iter()
        .map(|r| match &r[0] {
            Value::Str(line) => line.clone(),
            other => panic!("EXPLAIN gave {other:?}"),
        })
        .collect();
    lines.join("\n")
}

#[test]
fn bars_found_as_runs_match_brute_force_across_chunk_edges() {
    let (mut db, trades) = market();
    let arrival = market_arrival(trades.len());
    // Symbol 0's partition fills more than one chunk, and a bar spans the first chunk edge.
    let mut hot: Vec<i64> = trades
        .iter()
        .filter(|t| t.symbol == 0)
        .map(|t| t.ts)
        .collect();
    hot.sort_unstable();
    assert!(hot.len() > CHUNK_ROWS_MAX);
    assert_eq!(hot[CHUNK_ROWS_MAX - 1] / BAR, hot[CHUNK_ROWS_MAX] / BAR);
    for (key, bucket) in [
        ("intDiv(ts, 700)", (|ts| ts / BAR) as fn(i64) -> i64),
        ("xbar(ts, 700)", |ts| ts / BAR * BAR),
    ] {
        let sql = format!(
            "SELECT symbol, {key} AS b, {BAR_AGGREGATES} FROM t GROUP BY symbol, b \
             ORDER BY symbol, b"
        );
        assert!(
            explain(&mut db, &sql).contains("as timestamp runs"),
            "{sql}"
        );
        let want: Vec<Vec<Value>> = bars(&trades, &arrival, bucket, |_| true)
            .iter()
            .map(|(&(s, b), bar)| bar_row(s, b, bar))
            .collect();
        assert!(want.len() > 500, "{} bars", want.len());
        assert_rows_close(&db.rows(&sql), &want, key);
    }
}

#[test]
fn runs_under_a_row_filter_and_a_time_window_skip_empty_runs() {
    let (mut db, trades) = market();
    let arrival = market_arrival(trades.len());
    let (from, to) = (33_333, 99_999);
    for (filter, keep) in [
        (
            "volume > 40".to_string(),
            Box::new(|t: &Trade| t.volume.is_some_and(|v| v > 40)) as Box<dyn Fn(&Trade) -> bool>,
        ),
        (
            format!("ts >= {from} AND ts < {to}"),
            Box::new(move |t: &Trade| t.ts >= from && t.ts < to),
        ),
        (
            format!("ts >= {from} AND ts < {to} AND price < 120"),
            Box::new(move |t: &Trade| {
                t.ts >= from && t.ts < to && t.price.is_some_and(|p| p < 120.0)
            }),
        ),
    ] {
        let sql = format!(
            "SELECT symbol, intDiv(ts, 700) AS b, {BAR_AGGREGATES} FROM t WHERE {filter} \
             GROUP BY symbol, b ORDER BY symbol, b"
        );
        let want: Vec<Vec<Value>> = bars(&trades, &arrival, |ts| ts / BAR, keep)
            .iter()
            .map(|(&(s, b), bar)| bar_row(s, b, bar))
            .collect();
        assert_rows_close(&db.rows(&sql), &want, &filter);
    }
}

#[test]
fn runs_agree_bit_for_bit_with_hashed_groups_first_and_last_included() {
    let (mut db, _) = market();
    let aggregates = format!("{BAR_AGGREGATES}, first(price), last(price)");
    // Keys in either order, and a constant key between them.
    for keys in [
        "symbol, xbar(ts, 700) AS b",
        "xbar(ts, 700) AS b, 7 AS seven, symbol",
    ] {
        let group_by = if keys.contains("seven") {
            "b, seven, symbol"
        } else {
            "symbol, b"
        };
        let runs =
            format!("SELECT {keys}, {aggregates} FROM t GROUP BY {group_by} ORDER BY symbol, b");
        // count(DISTINCT) has no run state: the whole fragment hashes its groups.
        let hashed = format!(
            "SELECT {keys}, {aggregates}, count(DISTINCT volume) FROM t GROUP BY {group_by} \
             ORDER BY symbol, b"
        );
        assert!(
            explain(&mut db, &runs).contains("as timestamp runs"),
            "{runs}"
        );
        assert!(!explain(&mut db, &hashed).contains("as timestamp runs"));
        let (by_runs, by_hash) = (db.rows(&runs), db.rows(&hashed));
        assert!(by_runs.len() > 500);
        assert_eq!(by_runs.len(), by_hash.len());
        for (a, b) in by_runs.iter().zip(&by_hash) {
            assert_eq!(a[..], b[..a.len()]);
        }
    }
}

#[test]
fn tied_timestamps_pick_by_the_documented_rules() {
    // In order: ties keep arrival order, so first/last are defined too.
    let trades = generate(40_000, 0x7200);
    let mut db = load(&trades, 0..trades.len());
    let arrival: Vec<usize> = (0..trades.len()).collect();
    // Symbol 0's first chunk ends inside a run of priced trades at one time, the lower price
    // on the far side: tie rules apply across the chunk edge too.
    let hot: Vec<&Trade> = trades.iter().filter(|t| t.symbol == 0).collect();
    let (before, after) = (hot[CHUNK_ROWS_MAX - 1], hot[CHUNK_ROWS_MAX]);
    assert_eq!(before.ts, after.ts);
    assert!(after.price.unwrap() < before.price.unwrap());
    // Bars of one timestamp (every row of a bar tied) and of three.
    for width in [10, 30] {
        let sql = format!(
            "SELECT symbol, intDiv(ts, {width}) AS b, argMin(price, ts), argMax(price, ts), \
             first(price), last(price) FROM t GROUP BY symbol, b ORDER BY symbol, b"
        );
        let want: Vec<Vec<Value>> = bars(&trades, &arrival, |ts| ts / width, |_| true)
            .iter()
            .map(|(&(s, b), bar)| {
                vec![
                    Value::Int(s),
                    Value::Int(b),
                    float(bar.open.map(|(_, p)| p)),
                    float(bar.close.map(|(_, p)| p)),
                    float(bar.first),
                    float(bar.last),
                ]
            })
            .collect();
        let tied = want.iter().filter(|row| row[4] != row[5]).count();
        assert!(tied > 1_000, "{tied} bars whose first and last differ");
        assert_rows_close(&db.rows(&sql), &want, &sql);
    }
}

/// The W4 shape: OHLC bars per symbol and minute, aggregated again.
const OHLC: &str = "SELECT symbol, intDiv(ts, 700) AS b, argMin(price, ts) AS o, \
                    max(price) AS h, min(price) AS l, argMax(price, ts) AS c, \
                    sum(volume) AS v, count() AS n FROM t";

/// `sql` with the derived table's rows ordered, which keeps it on the coordinator.
fn on_coordinator(sql: &str) -> String {
    match sql.rfind(") AS ") {
        Some(end) => format!("{} ORDER BY symbol{}", &sql[..end], &sql[end..]),
        None => sql.to_string(),
    }
}

/// The answer of `sql` pushed down equals the coordinator's, and EXPLAIN says which is which.
fn assert_same_on_shards_and_coordinator(db: &mut TwoShards, sql: &str) -> Vec<Vec<Value>> {
    let coordinator = on_coordinator(sql);
    assert_ne!(coordinator, sql, "{sql} has no inner GROUP BY symbol, b");
    assert!(
        explain(db, sql).contains("nested aggregate on the shards"),
        "{sql}"
    );
    let plan = explain(db, &coordinator);
    assert!(!plan.contains("nested aggregate"), "{plan}");
    assert!(plan.starts_with("Coordinator Merge"), "{plan}");
    let pushed = db.rows(sql);
    assert_rows_close(&pushed, &db.rows(&coordinator), sql);
    pushed
}

fn sum(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values
        .flatten()
        .fold(None, |acc, x| Some(acc.unwrap_or(0.0) + x))
}

#[test]
fn aggregates_over_bars_run_on_the_shards_and_match_brute_force() {
    let (mut db, trades) = market();
    let arrival = market_arrival(trades.len());
    let all = bars(&trades, &arrival, |ts| ts / BAR, |_| true);
    let sql = format!(
        "SELECT count() AS bars, sum(o), sum(h), sum(l), sum(c), sum(v), min(l), max(h), \
         avg(n) FROM ({OHLC} GROUP BY symbol, b) AS bars"
    );
    let got = assert_same_on_shards_and_coordinator(&mut db, &sql);
    let values = || all.values();
    let want = vec![
        Value::Int(values().count() as i64),
        float(sum(values().map(|b| b.open.map(|(_, p)| p)))),
        float(sum(values().map(|b| b.high))),
        float(sum(values().map(|b| b.low))),
        float(sum(values().map(|b| b.close.map(|(_, p)| p)))),
        int(values().filter_map(|b| b.volume).reduce(|a, b| a + b)),
        float(values().filter_map(|b| b.low).reduce(f64::min)),
        float(values().filter_map(|b| b.high).reduce(f64::max)),
        Value::Float(values().map(|b| b.rows).sum::<i64>() as f64 / values().count() as f64),
    ];
    assert_rows_close(&got, &[want], "W4 shape");
}

#[test]
fn outer_where_group_by_and_having_apply_to_the_bars() {
    let (mut db, trades) = market();
    let arrival = market_arrival(trades.len());
    let all = bars(&trades, &arrival, |ts| ts / BAR, |_| true);
    let sql = format!(
        "SELECT symbol, count(), sum(v), max(h) FROM ({OHLC} GROUP BY symbol, b) AS bars \
         WHERE v > 300 GROUP BY symbol HAVING count() > 3 ORDER BY symbol"
    );
    let got = assert_same_on_shards_and_coordinator(&mut db, &sql);
    assert!(explain(&mut db, &sql).starts_with("Merge: concatenate groups keyed by symbol"));
    let mut per_symbol: BTreeMap<i64, (i64, i64, Option<f64>)> = BTreeMap::new();
    for (&(s, _), bar) in &all {
        let Some(v) = bar.volume.filter(|&v| v > 300) else {
            continue;
        };
        let entry = per_symbol.entry(s).or_insert((0, 0, None));
        entry.0 += 1;
        entry.1 += v;
        entry.2 = match (entry.2, bar.high) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let want: Vec<Vec<Value>> = per_symbol
        .into_iter()
        .filter(|(_, (n, _, _))| *n > 3)
        .map(|(s, (n, v, h))| vec![Value::Int(s), Value::Int(n), Value::Int(v), float(h)])
        .collect();
    assert!(want.len() >= 3, "{want:?}");
    assert_rows_close(&got, &want, "per symbol");
}

#[test]
fn inner_having_and_computed_columns_are_finished_on_the_shards() {
    let (mut db, trades) = market();
    let arrival = market_arrival(trades.len());
    let all = bars(&trades, &arrival, |ts| ts / BAR * BAR, |_| true);
    let sql = "SELECT count(), sum(n), min(vw), max(span) FROM (SELECT symbol, \
               xbar(ts, 700) AS b, sum(price * volume) / sum(volume) AS vw, count() AS n, \
               max(price) - min(price) AS span FROM t GROUP BY symbol, b \
               HAVING count() >= 60) AS x";
    let got = assert_same_on_shards_and_coordinator(&mut db, sql);
    let kept: Vec<&Bar> = all.values().filter(|b| b.rows >= 60).collect();
    assert!(!kept.is_empty() && kept.len() < all.len());
    // sum(volume) also counts the volumes of trades without a price.
    let vwap = |b: &Bar| Some(b.pv / b.volume? as f64).filter(|_| b.vwap_rows > 0);
    let want = vec![
        Value::Int(kept.len() as i64),
        Value::Int(kept.iter().map(|b| b.rows).sum()),
        float(kept.iter().filter_map(|b| vwap(b)).reduce(f64::min)),
        float(
            kept.iter()
                .filter_map(|b| Some(b.high? - b.low?))
                .reduce(f64::max),
        ),
    ];
    assert_rows_close(&got, &[want], "inner HAVING");
}

#[test]
fn outer_groups_spanning_shards_are_combined() {
    let (mut db, trades) = market();
    let arrival = market_arrival(trades.len());
    let all = bars(&trades, &arrival, |ts| ts / BAR, |_| true);
    let sql = format!(
        "SELECT b, count(), sum(n), min(o) FROM ({OHLC} GROUP BY symbol, b) AS bars \
         GROUP BY b ORDER BY b"
    );
    let got = assert_same_on_shards_and_coordinator(&mut db, &sql);
    assert!(explain(&mut db, &sql).starts_with("Merge: combine"));
    let mut per_bucket: BTreeMap<i64, (i64, i64, Option<f64>)> = BTreeMap::new();
    for (&(_, b), bar) in &all {
        let entry = per_bucket.entry(b).or_insert((0, 0, None));
        entry.0 += 1;
        entry.1 += bar.rows;
        if let Some((_, o)) = bar.open {
            entry.2 = Some(entry.2.map_or(o, |m: f64| m.min(o)));
        }
    }
    let want: Vec<Vec<Value>> = per_bucket
        .into_iter()
        .map(|(b, (n, rows, o))| vec![Value::Int(b), Value::Int(n), Value::Int(rows), float(o)])
        .collect();
    assert_rows_close(&got, &want, "per bucket");
}

#[test]
fn one_routed_symbol_groups_by_runs_without_the_symbol_key() {
    let (mut db, trades) = market();
    let arrival = market_arrival(trades.len());
    let sql = "SELECT intDiv(ts, 700) AS b, count(), max(price), argMax(price, ts) FROM t \
               WHERE symbol = 0 GROUP BY b ORDER BY b";
    assert!(explain(&mut db, sql).contains("as timestamp runs"));
    let want: Vec<Vec<Value>> = bars(&trades, &arrival, |ts| ts / BAR, |t| t.symbol == 0)
        .iter()
        .map(|(&(_, b), bar)| {
            vec![
                Value::Int(b),
                Value::Int(bar.rows),
                float(bar.high),
                float(bar.close.map(|(_, p)| p)),
            ]
        })
        .collect();
    assert_rows_close(&db.rows(sql), &want, "symbol 0");
    let nested =
        format!("SELECT count(), sum(v) FROM ({OHLC} WHERE symbol = 0 GROUP BY symbol, b) AS bars");
    let got = assert_same_on_shards_and_coordinator(&mut db, &nested);
    assert!(explain(&mut db, &nested).contains("routed by symbol = 0"));
    let volume: i64 = trades
        .iter()
        .filter(|t| t.symbol == 0)
        .filter_map(|t| t.volume)
        .sum();
    assert_eq!(
        got[0],
        vec![Value::Int(want.len() as i64), Value::Int(volume)]
    );
}

#[test]
fn empty_tables_filters_and_partitions_give_no_bars() {
    let (mut db, _) = market();
    let nested = format!("SELECT count(), sum(v), max(h) FROM ({OHLC} GROUP BY symbol, b) AS bars");
    let none = vec![vec![Value::Int(0), Value::Null, Value::Null]];
    let filtered = nested.replace("FROM t GROUP", "FROM t WHERE volume > 1000 GROUP");
    assert_eq!(db.rows(&filtered), none);
    // A partition emptied by DELETE, next to full ones.
    db.rows("DELETE FROM t WHERE symbol = 3");
    let per_symbol = format!(
        "SELECT symbol, count() FROM ({OHLC} GROUP BY symbol, b) AS bars GROUP BY symbol \
         ORDER BY symbol"
    );
    let symbols: Vec<Value> = db
        .rows(&per_symbol)
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(symbols, [0, 1, 2, 4, 5].map(Value::Int));
    let mut empty = TwoShards::new();
    empty.rows("CREATE TABLE t (symbol INT64, ts TIMESTAMP, price FLOAT64, volume INT64)");
    assert_eq!(empty.rows(&nested), none);
    let plain = "SELECT symbol, intDiv(ts, 700) AS b, count() FROM t GROUP BY symbol, b";
    assert!(empty.rows(plain).is_empty());
}

#[test]
fn shapes_a_shard_cannot_finish_stay_on_the_coordinator_and_agree() {
    let (mut db, _) = market();
    let inner = format!("{OHLC} GROUP BY symbol, b");
    let cases = [
        // first/last of finished groups have no time order on a shard.
        format!("SELECT first(o), count() FROM ({inner}) AS bars"),
        // Inner groups that may span partitions.
        "SELECT count(), sum(n) FROM (SELECT intDiv(ts, 700) AS b, count() AS n FROM t \
         GROUP BY b) AS per_bucket"
            .to_string(),
        // An inner LIMIT picks bars on the coordinator.
        format!("SELECT count(), sum(v) FROM ({inner} ORDER BY v DESC LIMIT 10) AS top"),
    ];
    for sql in cases {
        let plan = explain(&mut db, &sql);
        assert!(plan.starts_with("Coordinator Merge"), "{sql}\n{plan}");
        assert!(!plan.contains("nested aggregate"), "{sql}\n{plan}");
        assert!(!db.rows(&sql).is_empty(), "{sql}");
    }
    // The pushed and kept plans answer the same.
    let pushed = format!("SELECT count(), sum(v) FROM ({inner}) AS bars");
    assert_same_on_shards_and_coordinator(&mut db, &pushed);
}

#[test]
fn explain_shows_the_nested_aggregate_and_its_runs() {
    let (mut db, _) = market();
    let sql = format!(
        "SELECT count(), sum(o) FROM ({OHLC} GROUP BY symbol, b HAVING count() > 1) AS bars \
         WHERE v > 10"
    );
    let plan = explain(&mut db, &sql);
    let lines: Vec<&str> = plan.lines().collect();
    assert!(
        lines[0].starts_with("Merge: combine 2 partial state(s)"),
        "{plan}"
    );
    assert_eq!(
        lines[2],
        "    PartialAggregate: group by [], states [count(*), sum(arg_min(price, ts))] of each \
         partition's finished groups (nested aggregate on the shards)"
    );
    assert_eq!(
        lines[3],
        "      Finished groups kept: ((count(*) > 1) AND (sum(volume) > 10))"
    );
    assert!(
        lines[4].starts_with(
            "      Groups finished per partition: group by [symbol, intDiv(ts, 700)] as \
             timestamp runs per partition (no hashing), states [arg_min(price, ts), max(price)"
        ),
        "{plan}"
    );
}

#[test]
fn computed_and_constant_arguments_and_states_without_runs_agree() {
    let (mut db, trades) = market();
    let arrival = market_arrival(trades.len());
    // A computed argument, of another type than the column it reads, through run states.
    let bound = 60_000;
    let sql = format!(
        "SELECT symbol, intDiv(ts, 700) AS b, count(), count(), \
         sum(CASE WHEN ts < {bound} THEN volume ELSE 0.5 END) FROM t GROUP BY symbol, b \
         ORDER BY symbol, b"
    );
    // (rows, Σ of the CASE, rows it added)
    let mut want: BTreeMap<(i64, i64), (i64, f64, i64)> = BTreeMap::new();
    for &i in &arrival {
        let t = &trades[i];
        let entry = want.entry((t.symbol, t.ts / BAR)).or_default();
        entry.0 += 1;
        let value = if t.ts < bound {
            t.volume.map(|v| v as f64)
        } else {
            Some(0.5)
        };
        if let Some(v) = value {
            entry.1 += v;
            entry.2 += 1;
        }
    }
    let want: Vec<Vec<Value>> = want
        .into_iter()
        .map(|((s, b), (n, sum, added))| {
            let sum = (added > 0).then_some(sum);
            vec![
                Value::Int(s),
                Value::Int(b),
                Value::Int(n),
                Value::Int(n),
                float(sum),
            ]
        })
        .collect();
    let got = db.rows(&sql);
    assert_rows_close(&got, &want, &sql);
    // The same shapes under a second aggregate, a constant argument (sum(1): every partition
    // falls back), and inner aggregates with no run state.
    for inner in [
        "count() AS n, sum(CASE WHEN ts < 60000 THEN volume ELSE 0.5 END) AS v",
        "sum(1) AS n, max(price) AS v",
        "stddev_pop(price) AS n, count(DISTINCT volume) AS v",
    ] {
        let nested = format!(
            "SELECT count(), sum(n), max(v) FROM (SELECT symbol, intDiv(ts, 700) AS b, \
             {inner} FROM t GROUP BY symbol, b) AS bars"
        );
        assert_same_on_shards_and_coordinator(&mut db, &nested);
    }
}

#[test]
fn string_symbols_are_one_constant_per_partition() {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE s (symbol SYMBOL, ts TIMESTAMP, price FLOAT64)");
    let mut next = common::below(0xC0FFEE);
    let rows: Vec<String> = (0..3_000)
        .map(|i| format!("('S{}', {}, {}.5)", next(7), 10 * i, next(90)))
        .collect();
    db.rows(&format!("INSERT INTO s VALUES {}", rows.join(", ")));
    let sql = "SELECT symbol, count(), max(h), count(DISTINCT symbol) FROM (SELECT symbol, \
               xbar(ts, 500) AS b, max(price) AS h FROM s GROUP BY symbol, b) AS bars \
               GROUP BY symbol ORDER BY symbol";
    let got = assert_same_on_shards_and_coordinator(&mut db, sql);
    assert_eq!(got.len(), 7);
    assert!(got
        .iter()
        .all(|r| matches!(&r[0], Value::Str(s) if s.starts_with('S'))));
    assert!(got.iter().all(|r| r[3] == Value::Int(1)));
}
