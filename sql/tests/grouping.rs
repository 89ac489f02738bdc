//! Grouped aggregates over two shards against brute force: groups keyed by the symbol (which
//! never span shards, so the coordinator concatenates them) and groups that do span shards
//! (combined by key), with many groups per partition and buckets crossing chunk edges.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;

use common::TwoShards;
use quecto_engine::fragment::plan::FragmentOutput;
use quecto_engine::storage::chunk::CHUNK_ROWS_MAX;
use quecto_engine::types::Value;
use quecto_sql::statement::{plan_sql, Plan};

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

/// (symbol, count, sum of volume) per symbol, in symbol order.
fn per_symbol(rows: &[(i64, i64, i64)]) -> Vec<Vec<i64>> {
    let mut expected: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for &(symbol, _, volume) in rows {
        let entry = expected.entry(symbol).or_default();
        entry.0 += 1;
        entry.1 += volume;
    }
    expected
        .into_iter()
        .map(|(s, (c, v))| vec![s, c, v])
        .collect()
}

#[test]
fn symbol_groups_answer_from_every_whole_chunks_memo_and_appends_refresh_it() {
    let (mut db, mut rows) = bars();
    let sql = "SELECT symbol, count(), sum(volume) FROM t GROUP BY symbol ORDER BY symbol";
    assert_eq!(ints(&db.rows(sql)), per_symbol(&rows));
    let Plan::Select(plan) = plan_sql(sql, &db).unwrap() else {
        panic!("{sql} is a SELECT")
    };
    let FragmentOutput::Aggregate { aggregates, .. } = &plan.fragment.output else {
        panic!("{sql} aggregates")
    };
    // Partial chunks (each partition's last) memoize too: the second run merges states.
    let partial_chunks = || {
        db.stores
            .iter()
            .flat_map(|s| &s.table("t").unwrap().partitions)
            .flat_map(|p| &p.chunks)
            .filter(|c| c.rows_count < CHUNK_ROWS_MAX)
    };
    assert!(partial_chunks().count() >= 5);
    let memos: Vec<(usize, bool)> = partial_chunks()
        .map(|c| (c.rows_count, c.memo.get(&aggregates[1]).is_some()))
        .collect();
    assert!(memos.iter().all(|m| m.1), "{memos:?} {aggregates:?}");
    // In order (into the last chunks) and out of order (merged into earlier ones).
    let appended: Vec<(i64, i64, i64)> = (0..9)
        .map(|s| (s, 500_000 + s, 1_000 + s))
        .chain((0..9).map(|s| (s, 15 + 10 * s, 7)))
        .collect();
    for (symbol, ts, volume) in &appended {
        db.rows(&format!("INSERT INTO t VALUES ({symbol}, {ts}, {volume})"));
        rows.push((*symbol, *ts, *volume));
        assert_eq!(
            ints(&db.rows(sql)),
            per_symbol(&rows),
            "after ({symbol}, {ts})"
        );
    }
}
