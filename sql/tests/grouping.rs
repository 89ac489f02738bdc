//! Grouped aggregates over two shards against brute force: groups keyed by the symbol (which
//! never span shards, so the coordinator concatenates them) and groups that do span shards
//! (combined by key), with many groups per partition and buckets crossing chunk edges.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;

use common::TwoShards;
use quecto_engine::types::Value;

/// (symbol, ts, volume) rows: 9 symbols, 45,000 rows, so the busiest partitions fill two
/// chunks; inserted in two interleaved halves (out of order).
fn bars() -> (TwoShards, Vec<(i64, i64, i64)>) {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE t (symbol INT64, ts TIMESTAMP, volume INT64)");
    let mut next = common::below(0x9E37_79B9_7F4A_7C15_u64);
    let rows: Vec<(i64, i64, i64)> = (0..45_000i64)
        .map(|i| ((next(9) * next(9) / 9) as i64, 10 * i, 1 + next(100) as i64))
        .collect();
    for half in [1, 0] {
        let values: Vec<String> = rows
            .iter()
            .skip(half)
            .step_by(2)
            .map(|(s, t, v)| format!("({s}, {t}, {v})"))
            .collect();
        db.rows(&format!("INSERT INTO t VALUES {}", values.join(", ")));
    }
    (db, rows)
}

fn ints(rows: &[Vec<Value>]) -> Vec<Vec<i64>> {
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|v| match v {
                    Value::Int(x) => *x,
                    other => panic!("expected an integer, got {other:?}"),
                })
                .collect()
        })
        .collect()
}

#[test]
fn groups_keyed_by_symbol_and_bucket_match_brute_force() {
    let (mut db, rows) = bars();
    let got = db.rows(
        "SELECT symbol, intDiv(ts, 700) AS b, count(), sum(volume), min(ts) FROM t \
         GROUP BY symbol, b ORDER BY symbol, b",
    );
    let mut expected: BTreeMap<(i64, i64), (i64, i64, i64)> = BTreeMap::new();
    for &(symbol, ts, volume) in &rows {
        let entry = expected
            .entry((symbol, ts / 700))
            .or_insert((0, 0, i64::MAX));
        entry.0 += 1;
        entry.1 += volume;
        entry.2 = entry.2.min(ts);
    }
    let expected: Vec<Vec<i64>> = expected
        .into_iter()
        .map(|((s, b), (c, v, t))| vec![s, b, c, v, t])
        .collect();
    assert!(expected.len() > 1_000);
    assert_eq!(ints(&got), expected);
}

#[test]
fn groups_that_span_shards_are_combined_by_key() {
    let (mut db, rows) = bars();
    let got =
        db.rows("SELECT intDiv(ts, 700) AS b, count(), sum(volume) FROM t GROUP BY b ORDER BY b");
    let mut expected: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for &(_, ts, volume) in &rows {
        let entry = expected.entry(ts / 700).or_insert((0, 0));
        entry.0 += 1;
        entry.1 += volume;
    }
    let expected: Vec<Vec<i64>> = expected
        .into_iter()
        .map(|(b, (c, v))| vec![b, c, v])
        .collect();
    assert_eq!(ints(&got), expected);
}

#[test]
fn explain_says_how_groups_are_merged() {
    let (mut db, _) = bars();
    let mut merge_line = |sql: &str| match &db.rows(sql)[0][0] {
        Value::Str(line) => line.clone(),
        other => panic!("expected text, got {other:?}"),
    };
    let by_symbol = merge_line("EXPLAIN SELECT symbol, count() FROM t GROUP BY symbol");
    assert!(
        by_symbol.starts_with("Merge: concatenate groups keyed by symbol"),
        "{by_symbol}"
    );
    let by_volume = merge_line("EXPLAIN SELECT volume, count() FROM t GROUP BY volume");
    assert!(by_volume.starts_with("Merge: combine"), "{by_volume}");
}
