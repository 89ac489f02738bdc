//! Scalar functions, CASE, CAST, intervals and time literals through the real planner, run as
//! fragments on two shard stores (column-at-a-time) and in the coordinator's merge (row-wise),
//! against answers computed here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use common::TwoShards;

use quecto_engine::ring::{HashRing, ShardId};
use quecto_engine::storage::store::ShardStore;
use quecto_engine::types::{DataType, Value};

const SECOND: i64 = 1_000_000_000;

struct Tick {
    symbol: &'static str,
    ts: i64,
    price: Option<f64>,
    qty: Option<i64>,
}

/// 40 ticks over 3 symbols, from before to after the epoch, inserted newest first, with NULL
/// prices and quantities and zero quantities.
fn ticks() -> Vec<Tick> {
    (0..40i64)
        .map(|i| Tick {
            symbol: ["A", "B", "C"][(i % 3) as usize],
            ts: (i - 20) * 17 * SECOND + (i * 7 % 5) * (SECOND + 1),
            price: (i % 7 != 3).then_some(i as f64 * 1.25 - 10.0),
            qty: (i % 5 != 4).then_some(i % 4 - 1),
        })
        .collect()
}

fn db() -> TwoShards {
    let members = [ShardId { node: 0, core: 0 }, ShardId { node: 0, core: 1 }];
    let mut db = TwoShards {
        stores: vec![ShardStore::default(), ShardStore::default()],
        ring: HashRing::new(&members).unwrap(),
    };
    db.rows("CREATE TABLE ticks (symbol SYMBOL, timestamp TIMESTAMP, price FLOAT64, qty INT64)");
    let sql_value = |v: Option<String>| v.unwrap_or_else(|| "NULL".into());
    let values: Vec<String> = ticks()
        .iter()
        .rev()
        .map(|t| {
            format!(
                "('{}', {}, {}, {})",
                t.symbol,
                t.ts,
                sql_value(t.price.map(|p| p.to_string())),
                sql_value(t.qty.map(|q| q.to_string()))
            )
        })
        .collect();
    db.rows(&format!("INSERT INTO ticks VALUES {}", values.join(", ")));
    db
}

fn floor_div(a: i64, b: i64) -> i64 {
    (a as f64 / b as f64).floor() as i64
}

#[test]
fn xbar_buckets_group_with_floor_semantics_and_stay_timestamps() {
    let mut db = db();
    let step = 60 * SECOND;
    let mut expected: Vec<(i64, i64, i64)> = Vec::new();
    for tick in ticks() {
        let bar = floor_div(tick.ts, step) * step;
        match expected.iter_mut().find(|(b, _, _)| *b == bar) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 += tick.qty.unwrap_or(0);
            }
            None => expected.push((bar, 1, tick.qty.unwrap_or(0))),
        }
    }
    expected.sort();
    assert!(expected.first().unwrap().0 < 0, "buckets before the epoch");
    let expected: Vec<Vec<Value>> = expected
        .into_iter()
        .map(|(bar, n, qty)| vec![Value::Int(bar), Value::Int(n), Value::Int(qty)])
        .collect();
    for bucket in [
        "xbar(timestamp, INTERVAL 1 MINUTE)",
        "xbar(timestamp, 60000000000)",
        "time_bucket(INTERVAL 1 MINUTES, timestamp)",
        "toStartOfInterval(timestamp, INTERVAL '1' MINUTE)",
        "toStartOfMinute(timestamp)",
        "date_trunc('minute', timestamp)",
    ] {
        let sql = format!(
            "SELECT {bucket} AS bar, count(*), sum(qty) FROM ticks GROUP BY bar ORDER BY bar"
        );
        let result = db.run(&sql).unwrap();
        assert_eq!(result.rows, expected, "{bucket}");
        assert_eq!(result.columns[0].data_type, DataType::Timestamp, "{bucket}");
    }
}

/// Every expression over `{p}` (price), `{q}` (qty) and `{t}` (timestamp), once per row in the
/// fragments and once in the merge over one-row groups: answers (and errors) must agree.
#[test]
fn fragment_and_row_evaluation_agree() {
    let mut db = db();
    let expressions = [
        "intDiv({q}, 2)",
        "intDiv({p}, 3)",
        "abs({q})",
        "abs({p})",
        "round({p}, 1)",
        "round({p})",
        "round({q}, -1)",
        "floor({p})",
        "ceil({p})",
        "sqrt(abs({p}))",
        "ln(abs({p}) + 1)",
        "log10(abs({p}) + 1)",
        "exp({q})",
        "pow({p}, 2)",
        "greatest({p}, {q}, 0)",
        "least({q}, 1)",
        "coalesce({q}, -100)",
        "coalesce({p}, {q}, 0.5)",
        "ifNull({p}, 0.5)",
        "if({q} > 0, {p}, -{p})",
        "CASE WHEN {q} = 0 THEN 0 WHEN {q} > 0 THEN intDiv(10, {q}) ELSE {q} END",
        "CASE {q} WHEN 1 THEN 10 WHEN 2 THEN 20 END",
        "CASE WHEN {p} IS NULL THEN true ELSE {p} > 5 END",
        "xbar({t}, 10000000000)",
        "xbar({p}, 2.5)",
        "xbar({q}, 3)",
        "toStartOfMinute({t})",
        "date_trunc('hour', {t})",
        "toMonday({t})",
        "toStartOfMonth({t})",
        "toStartOfYear({t})",
        "toUnixTimestamp({t})",
        "epoch_ms({t})",
        "epoch({t})",
        "toFloat64({q})",
        "toInt64({p})",
        "CAST({q} AS DOUBLE)",
        "CAST({p} > 0 AS INT64)",
        "{t} + INTERVAL 5 MINUTE",
        "{t} - INTERVAL '1.5' SECOND",
        "{t} - {t}",
        "isNull({p})",
        "fromUnixTimestamp64Milli(epoch_ms({t}))",
        "intDiv(10, {q})",
    ];
    for expression in expressions {
        let per_row = expression
            .replace("{p}", "price")
            .replace("{q}", "qty")
            .replace("{t}", "timestamp");
        let merged = expression
            .replace("{p}", "min(price)")
            .replace("{q}", "min(qty)")
            .replace("{t}", "timestamp");
        let fragment = db.run(&format!(
            "SELECT symbol, timestamp, {per_row} FROM ticks ORDER BY symbol, timestamp"
        ));
        let rows = db.run(&format!(
            "SELECT symbol, timestamp, {merged} FROM ticks GROUP BY symbol, timestamp \
             ORDER BY symbol, timestamp"
        ));
        match (fragment, rows) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.rows.len(), 40, "{expression}");
                assert_eq!(a.rows, b.rows, "{expression}");
                assert_eq!(
                    a.columns[2].data_type, b.columns[2].data_type,
                    "{expression}"
                );
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{expression}"),
            (a, b) => panic!("{expression}: fragment {a:?} but merge {b:?}"),
        }
    }
}

#[test]
fn functions_match_brute_force_with_nulls() {
    let mut db = db();
    let sql = "SELECT intDiv(qty, 2), epoch_ms(timestamp), toUnixTimestamp(timestamp), \
               coalesce(price, -1.0), CASE WHEN qty = 0 THEN NULL ELSE intDiv(12, qty) END \
               FROM ticks ORDER BY timestamp";
    let mut sorted = ticks();
    sorted.sort_by_key(|t| t.ts);
    let int_or_null = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
    let expected: Vec<Vec<Value>> = sorted
        .iter()
        .map(|t| {
            vec![
                int_or_null(t.qty.map(|q| q / 2)),
                Value::Int(floor_div(t.ts, 1_000_000)),
                Value::Int(floor_div(t.ts, SECOND)),
                Value::Float(t.price.unwrap_or(-1.0)),
                int_or_null(t.qty.filter(|&q| q != 0).map(|q| 12 / q)),
            ]
        })
        .collect();
    assert_eq!(db.rows(sql), expected);
}

#[test]
fn timestamp_literals_and_intervals_filter_rows() {
    let mut db = db();
    let count = |db: &mut TwoShards, filter: &str| -> Value {
        db.rows(&format!("SELECT count(*) FROM ticks WHERE {filter}"))[0][0].clone()
    };
    let after = |bound: i64| Value::Int(ticks().iter().filter(|t| t.ts >= bound).count() as i64);
    let forms = [
        "timestamp >= TIMESTAMP '1970-01-01 00:00:00'",
        "timestamp >= '1970-01-01T00:00:00Z'",
        "timestamp >= '1970-01-01T05:30:00+05:30'",
        "timestamp >= '1969-12-31 19:00:00.000000000-0500'",
        "timestamp >= 0",
        "timestamp + INTERVAL '1' HOUR >= TIMESTAMP '1970-01-01 01:00:00'",
        "timestamp - INTERVAL 60 SECOND >= '1969-12-31 23:59'",
    ];
    for form in forms {
        assert_eq!(count(&mut db, form), after(0), "{form}");
    }
    assert_eq!(
        count(&mut db, "timestamp >= '1970-01-01 00:00:00.000000001'"),
        after(1)
    );
    assert_eq!(
        count(&mut db, "timestamp > now() - INTERVAL 1 DAY"),
        Value::Int(0)
    );
    assert_eq!(
        count(
            &mut db,
            "timestamp < now() AND timestamp >= now() - INTERVAL 5200 WEEK"
        ),
        Value::Int(40)
    );
}

#[test]
fn functions_over_aggregates_without_group_by() {
    let mut db = db();
    let prices: Vec<f64> = ticks().iter().filter_map(|t| t.price).collect();
    let avg = prices.iter().sum::<f64>() / prices.len() as f64;
    let rows = db.rows("SELECT round(avg(price), 2), if(count(*) > 10, 'many', 'few') FROM ticks");
    assert_eq!(
        rows,
        vec![vec![
            Value::Float((avg * 100.0).round_ties_even() / 100.0),
            Value::Str("many".into())
        ]]
    );
}

#[test]
fn constant_selects_evaluate_row_wise() {
    let mut db = db();
    let at = 1_704_187_800_123_456_789i64; // 2024-01-02 09:30:00.123456789 UTC
    let rows = db.rows(
        "SELECT intDiv(-7, 2), xbar(-7, 2), toUnixTimestamp(TIMESTAMP '2024-01-02 09:30:00.123456789'), \
         toUnixTimestamp64Milli(toDateTime64('2024-01-02T09:30:00.123456789Z', 9)), \
         epoch_ns('2024-01-02 04:30:00.123456789-05:00'::TIMESTAMP), INTERVAL 5 MINUTE, \
         to_timestamp(1.5), fromUnixTimestamp64Micro(-1), date_trunc('month', TIMESTAMP '2024-02-29 12:00:00')",
    );
    assert_eq!(
        rows,
        vec![vec![
            Value::Int(-3),
            Value::Int(-8),
            Value::Int(at / SECOND),
            Value::Int(at / 1_000_000),
            Value::Int(at),
            Value::Int(300 * SECOND),
            Value::Int(1_500_000_000),
            Value::Int(-1_000),
            Value::Int(1_706_745_600 * SECOND),
        ]]
    );
}

#[test]
fn bad_calls_are_errors_naming_the_function() {
    let mut db = db();
    let cases = [
        (
            "SELECT frobnicate(price) FROM ticks",
            "not supported",
            "frobnicate",
        ),
        ("SELECT xbar(price) FROM ticks", "type error", "xbar"),
        ("SELECT intDiv(1, 2, 3)", "type error", "intDiv"),
        ("SELECT abs(symbol) FROM ticks", "type error", "abs"),
        (
            "SELECT toStartOfMonth(price) FROM ticks",
            "type error",
            "toStartOfMonth",
        ),
        (
            "SELECT date_trunc('quarter', timestamp) FROM ticks",
            "not supported",
            "quarter",
        ),
        (
            "SELECT intDiv(qty, 0) FROM ticks",
            "cannot evaluate",
            "division by zero",
        ),
        ("SELECT xbar(qty, 0) FROM ticks", "cannot evaluate", "xbar"),
        ("SELECT INTERVAL 1 MONTH", "not supported", "interval"),
        (
            "SELECT count(*) FROM ticks WHERE timestamp > 'noon'",
            "type error",
            "noon",
        ),
        (
            "SELECT count(*) FROM ticks WHERE symbol = abs(1)",
            "type error",
            "compare",
        ),
        (
            "SELECT if(qty > 0, 'x', 1) FROM ticks",
            "type error",
            "cannot mix",
        ),
        (
            "SELECT CAST(price AS SYMBOL) FROM ticks",
            "not supported",
            "CAST",
        ),
        ("SELECT toInt64(1e300)", "cannot evaluate", "Int64"),
    ];
    for (sql, kind, needle) in cases {
        let error = db.run(sql).expect_err(sql).to_string();
        assert!(
            error.contains(kind) && error.contains(needle),
            "{sql}: {error}"
        );
    }
}
