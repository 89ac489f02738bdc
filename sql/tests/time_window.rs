//! Timestamp-bounded scans, which binary-search each chunk for the rows inside the bounds,
//! checked against brute force: bounds on duplicate timestamps and chunk boundaries, every
//! comparison in both operand orders, residual filters, groups, first/last, row output.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use common::TwoShards;
use quecto_engine::types::Value;

/// One row: (symbol, ts, price, volume).
type Row = (i64, i64, f64, i64);

/// Three symbols with about 20,000 rows each (two chunks per partition), every timestamp
/// shared by three consecutive rows, inserted in batches of which every third arrives late.
fn ticks() -> (TwoShards, Vec<Row>) {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE t (symbol INT64, ts TIMESTAMP, price FLOAT64, volume INT64)");
    let mut next = common::below(0x2545_f491_4f6c_dd1d_u64);
    let rows: Vec<Row> = (0..60_000i64)
        .map(|i| {
            let symbol = next(3) as i64;
            (
                symbol,
                1_000 + i / 3,
                100.0 + next(400) as f64 / 8.0,
                1 + next(50) as i64,
            )
        })
        .collect();
    let mut batches: Vec<&[Row]> = rows.chunks(6_000).collect();
    for i in (2..batches.len()).step_by(3) {
        batches.swap(i - 1, i);
    }
    for batch in batches {
        let values: Vec<String> = batch
            .iter()
            .map(|(s, t, p, v)| format!("({s}, {t}, {p}, {v})"))
            .collect();
        db.rows(&format!("INSERT INTO t VALUES {}", values.join(", ")));
    }
    (db, rows)
}

fn int(value: &Value) -> i64 {
    match value {
        Value::Int(v) => *v,
        Value::Null => i64::MIN,
        other => panic!("expected an integer, got {other:?}"),
    }
}

/// A timestamp bound: its SQL text and the predicate it means.
type Bound = (String, Box<dyn Fn(i64) -> bool>);

/// Timestamp bounds to test.
fn bounds() -> Vec<Bound> {
    let mut out: Vec<Bound> = Vec::new();
    // 1,000 + 20,000 / 3 is the first timestamp of the second chunk of a typical partition;
    // the others are a duplicate run's middle, the first and last timestamps, and beyond.
    for x in [
        1_000,
        1_001,
        7_666,
        7_667,
        12_345,
        20_999,
        21_000,
        i64::MAX,
        i64::MIN,
    ] {
        out.push((format!("ts >= {x}"), Box::new(move |t| t >= x)));
        out.push((format!("ts > {x}"), Box::new(move |t| t > x)));
        out.push((format!("ts < {x}"), Box::new(move |t| t < x)));
        out.push((format!("ts <= {x}"), Box::new(move |t| t <= x)));
        out.push((format!("ts = {x}"), Box::new(move |t| t == x)));
        out.push((format!("{x} < ts"), Box::new(move |t| x < t)));
        out.push((format!("{x} >= ts"), Box::new(move |t| x >= t)));
    }
    for (a, b) in [
        (3_000, 3_000),
        (5_000, 9_000),
        (9_000, 5_000),
        (7_660, 7_670),
    ] {
        out.push((
            format!("ts > {a} AND ts <= {b}"),
            Box::new(move |t| t > a && t <= b),
        ));
        out.push((
            format!("ts BETWEEN {a} AND {b}"),
            Box::new(move |t| (a..=b).contains(&t)),
        ));
    }
    out
}

#[test]
fn counts_and_sums_under_timestamp_bounds_match_brute_force() {
    let (mut db, rows) = ticks();
    for (sql, holds) in bounds() {
        let got = db.rows(&format!(
            "SELECT count(), sum(volume), min(ts), max(ts) FROM t WHERE {sql}"
        ));
        let kept: Vec<&Row> = rows.iter().filter(|r| holds(r.1)).collect();
        let expected = [
            kept.len() as i64,
            if kept.is_empty() {
                i64::MIN
            } else {
                kept.iter().map(|r| r.3).sum()
            },
            kept.iter().map(|r| r.1).min().unwrap_or(i64::MIN),
            kept.iter().map(|r| r.1).max().unwrap_or(i64::MIN),
        ];
        let got: Vec<i64> = got[0].iter().map(int).collect();
        assert_eq!(got, expected, "{sql}");
    }
}

#[test]
fn bounds_with_a_residual_filter_and_groups_match_brute_force() {
    let (mut db, rows) = ticks();
    for (sql, holds) in bounds() {
        let got = db.rows(&format!(
            "SELECT symbol, count(), sum(volume), first(ts), last(ts) FROM t \
             WHERE {sql} AND price > 120 AND volume < 40 GROUP BY symbol ORDER BY symbol"
        ));
        let mut expected = Vec::new();
        for symbol in 0..3 {
            let kept: Vec<&Row> = rows
                .iter()
                .filter(|r| r.0 == symbol && holds(r.1) && r.2 > 120.0 && r.3 < 40)
                .collect();
            if let (Some(first), Some(last)) = (kept.first(), kept.last()) {
                let volume: i64 = kept.iter().map(|r| r.3).sum();
                expected.push(vec![symbol, kept.len() as i64, volume, first.1, last.1]);
            }
        }
        let got: Vec<Vec<i64>> = got.iter().map(|r| r.iter().map(int).collect()).collect();
        assert_eq!(got, expected, "{sql}");
    }
}

#[test]
fn bounded_row_output_matches_brute_force() {
    let (mut db, rows) = ticks();
    let got = db.rows(
        "SELECT ts, volume FROM t WHERE symbol = 2 AND ts >= 7000 AND ts < 7700 AND volume > 25 \
         ORDER BY ts, volume",
    );
    let mut expected: Vec<Vec<i64>> = rows
        .iter()
        .filter(|r| r.0 == 2 && (7_000..7_700).contains(&r.1) && r.3 > 25)
        .map(|r| vec![r.1, r.3])
        .collect();
    expected.sort();
    let got: Vec<Vec<i64>> = got.iter().map(|r| r.iter().map(int).collect()).collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
}

#[test]
fn a_bounded_scan_reads_only_the_rows_inside_the_bounds() {
    let (mut db, rows) = ticks();
    let result = db.run("SELECT count() FROM t WHERE ts >= 20000").unwrap();
    let inside = rows.iter().filter(|r| r.1 >= 20_000).count() as u64;
    assert_eq!(result.rows, vec![vec![Value::Int(inside as i64)]]);
    // Whole blocks inside the bounds are counted from their summaries, not read.
    assert!(result.statistics.rows_read <= inside);
}

#[test]
fn first_and_last_across_partitions_come_from_the_edge_timestamps() {
    let (mut db, rows) = ticks();
    let ranges = (0..40i64).map(|i| (1_000 + i * 487, 1_003 + i * 487 + (i % 7) * 1_101));
    for (a, b) in ranges.chain([(7_000, 7_700), (1_500, 19_000), (7_666, 7_668)]) {
        let got = db.rows(&format!(
            "SELECT first(price), last(price) FROM t WHERE ts > {a} AND ts < {b}"
        ));
        let kept: Vec<&Row> = rows.iter().filter(|r| r.1 > a && r.1 < b).collect();
        let low = kept.iter().map(|r| r.1).min().unwrap();
        let high = kept.iter().map(|r| r.1).max().unwrap();
        let prices_at = |ts: i64| -> Vec<Value> {
            kept.iter()
                .filter(|r| r.1 == ts)
                .map(|r| Value::Float(r.2))
                .collect()
        };
        assert!(prices_at(low).contains(&got[0][0]), "first over ({a}, {b})");
        assert!(prices_at(high).contains(&got[0][1]), "last over ({a}, {b})");
    }
}

#[test]
fn explain_shows_the_time_window() {
    let (mut db, _) = ticks();
    let lines =
        db.rows("EXPLAIN SELECT count() FROM t WHERE ts > 100 AND ts <= 200 AND volume > 3");
    let text: Vec<String> = lines.iter().map(|r| r[0].to_string()).collect();
    assert!(
        text.iter()
            .any(|l| l.contains("Time window: ts in [101, 200], found by binary search")),
        "{text:?}"
    );
}
