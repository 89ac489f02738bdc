//! Filters the chunk zone maps cannot decide, judged block by block (`storage::blocks`),
//! checked against brute force: price walks that cross the literal inside chunks, time
//! windows with residual filters, NULLs, OR, groups, every aggregate kind (summed from block
//! sums or read), the rows actually read, and summaries kept true across UPDATE and appends.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use common::TwoShards;
use quecto_engine::storage::blocks::BLOCK_ROWS;
use quecto_engine::storage::chunk::CHUNK_ROWS_MAX;
use quecto_engine::types::Value;

/// One row: (symbol, ts, price in cents, volume, size or NULL).
#[derive(Clone, Copy, Debug)]
struct Row {
    symbol: i64,
    ts: i64,
    cents: i64,
    volume: i64,
    size: Option<i64>,
}

impl Row {
    fn price(&self) -> f64 {
        self.cents as f64 / 100.0
    }
}

const SYMBOLS: i64 = 3;

/// Three symbols whose prices walk by a cent at a time from 100.00, in timestamp order:
/// about 40,000 rows each (three chunks, the last open), every 17th size NULL.
fn walks(rows_count: i64, first_ts: i64, seed: u64) -> Vec<Row> {
    let mut next = common::below(seed);
    let mut cents = [10_000i64; SYMBOLS as usize];
    (0..rows_count)
        .map(|i| {
            let symbol = next(SYMBOLS as u64) as i64;
            let price = &mut cents[symbol as usize];
            *price += next(3) as i64 - 1;
            Row {
                symbol,
                ts: first_ts + i,
                cents: *price,
                volume: 1 + next(1000) as i64,
                size: (i % 17 != 0).then(|| next(1000) as i64),
            }
        })
        .collect()
}

fn insert(db: &mut TwoShards, rows: &[Row]) {
    for batch in rows.chunks(5_000) {
        let values: Vec<String> = batch
            .iter()
            .map(|r| {
                let size = r.size.map_or("NULL".to_string(), |s| s.to_string());
                format!(
                    "({}, {}, {}, {}, {size})",
                    r.symbol,
                    r.ts,
                    r.price(),
                    r.volume
                )
            })
            .collect();
        db.rows(&format!("INSERT INTO t VALUES {}", values.join(", ")));
    }
}

fn loaded() -> (TwoShards, Vec<Row>) {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE t (symbol INT64, ts TIMESTAMP, price FLOAT64, volume INT64, size INT64)");
    let rows = walks(120_000, 1_000, 0x9e37_79b9_7f4a_7c15);
    insert(&mut db, &rows);
    (db, rows)
}

/// A filter: its SQL text and the predicate it means.
type Filter = (String, Box<dyn Fn(&Row) -> bool>);

/// Price literals (in cents, plus half a cent) at the walks' quantiles and beyond them.
fn thresholds(rows: &[Row]) -> Vec<i64> {
    let mut cents: Vec<i64> = rows.iter().map(|r| r.cents).collect();
    cents.sort_unstable();
    let at = |q: f64| cents[((cents.len() - 1) as f64 * q) as usize];
    vec![
        cents[0] - 1,
        at(0.1),
        at(0.35),
        at(0.5),
        at(0.8),
        cents[cents.len() - 1],
    ]
}

fn filters(rows: &[Row]) -> Vec<Filter> {
    let mut out: Vec<Filter> = Vec::new();
    let ts_mid = rows[rows.len() / 3].ts;
    let ts_late = rows[rows.len() - 700].ts;
    // About 3,000 rows a symbol in the middle of a chunk: judged block by block in the window.
    let (ts_from, ts_to) = (rows[rows.len() / 2].ts, rows[rows.len() / 2 + 9_000].ts);
    out.push((
        format!("ts >= {ts_late}"),
        Box::new(move |r| r.ts >= ts_late),
    ));
    for c in thresholds(rows) {
        let x = format!("{}.{:02}5", c / 100, c % 100);
        let half = 2 * c + 1; // the literal in half cents
        let above = move |r: &Row| 2 * r.cents > half;
        out.push((format!("price > {x}"), Box::new(above)));
        out.push((format!("price <= {x}"), Box::new(move |r| !above(r))));
        out.push((
            format!("price > {x} AND ts < {ts_mid}"),
            Box::new(move |r| above(r) && r.ts < ts_mid),
        ));
        out.push((
            format!("ts >= {ts_mid} AND price < {x}"),
            Box::new(move |r| r.ts >= ts_mid && !above(r)),
        ));
        out.push((
            format!("ts >= {ts_from} AND ts < {ts_to} AND price > {x}"),
            Box::new(move |r| (ts_from..ts_to).contains(&r.ts) && above(r)),
        ));
        out.push((
            format!("price > {x} AND size > 500"),
            Box::new(move |r| above(r) && r.size.is_some_and(|s| s > 500)),
        ));
        out.push((
            format!("price > {x} OR volume > 990"),
            Box::new(move |r| above(r) || r.volume > 990),
        ));
    }
    out
}

/// Aggregates whose every value is an exact integer or an exact stored price.
const EXACT: &str = "count(), count(size), sum(volume), sum(size), min(price), max(volume), \
                     first(price), last(price)";

fn exact_expected(kept: &[&Row]) -> Vec<Value> {
    let int_or_null = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
    let sizes: Vec<i64> = kept.iter().filter_map(|r| r.size).collect();
    let nonempty = !kept.is_empty();
    vec![
        Value::Int(kept.len() as i64),
        Value::Int(sizes.len() as i64),
        int_or_null(nonempty.then(|| kept.iter().map(|r| r.volume).sum())),
        int_or_null((!sizes.is_empty()).then(|| sizes.iter().sum())),
        kept.iter()
            .map(|r| r.cents)
            .min()
            .map_or(Value::Null, |c| Value::Float(c as f64 / 100.0)),
        int_or_null(kept.iter().map(|r| r.volume).max()),
        kept.first()
            .map_or(Value::Null, |r| Value::Float(r.price())),
        kept.last().map_or(Value::Null, |r| Value::Float(r.price())),
    ]
}

/// sum(price) and avg(volume): float results, compared within rounding.
fn float_expected(kept: &[&Row]) -> Option<(f64, f64)> {
    if kept.is_empty() {
        return None;
    }
    let cents: i64 = kept.iter().map(|r| r.cents).sum();
    let volume: i64 = kept.iter().map(|r| r.volume).sum();
    Some((cents as f64 / 100.0, volume as f64 / kept.len() as f64))
}

fn assert_close(got: &Value, expected: f64, what: &str) {
    let Value::Float(got) = got else {
        panic!("{what}: expected a float, got {got:?}");
    };
    assert!(
        (got - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{what}: {got} against {expected}"
    );
}

fn check_all_filters(db: &mut TwoShards, rows: &[Row]) {
    for (sql, holds) in filters(rows) {
        let kept: Vec<&Row> = rows.iter().filter(|r| holds(r)).collect();
        let got = db.rows(&format!(
            "SELECT {EXACT}, sum(price), avg(volume) FROM t WHERE {sql}"
        ));
        assert_eq!(got[0][..8], exact_expected(&kept), "{sql}");
        match float_expected(&kept) {
            Some((price, volume)) => {
                assert_close(&got[0][8], price, &sql);
                assert_close(&got[0][9], volume, &sql);
            }
            None => assert_eq!(got[0][8..], [Value::Null, Value::Null], "{sql}"),
        }
        let grouped = db.rows(&format!(
            "SELECT symbol, {EXACT} FROM t WHERE {sql} GROUP BY symbol ORDER BY symbol"
        ));
        let mut expected = Vec::new();
        for symbol in 0..SYMBOLS {
            let of_symbol: Vec<&Row> = kept
                .iter()
                .copied()
                .filter(|r| r.symbol == symbol)
                .collect();
            if !of_symbol.is_empty() {
                let mut row = vec![Value::Int(symbol)];
                row.extend(exact_expected(&of_symbol));
                expected.push(row);
            }
        }
        assert_eq!(grouped, expected, "{sql} GROUP BY symbol");
    }
}

#[test]
fn filters_judged_block_by_block_match_brute_force() {
    let (mut db, rows) = loaded();
    check_all_filters(&mut db, &rows);
}

/// The rows a scan of `price > x` reads, by the chunk layout of rows appended in time order:
/// a chunk its zone accepts is read whole (or answered from its memo, still counted); one its
/// zone rejects is not read; one it cannot judge (split) reads only its blocks that straddle
/// the literal and the rows after its last complete block. Returns the rows read, and of
/// them those in split chunks, and the rows of split chunks.
fn rows_read_by_blocks(rows: &[Row], half: i64) -> (u64, u64, u64) {
    let (mut read, mut read_split, mut split) = (0, 0, 0);
    for symbol in 0..SYMBOLS {
        let cents: Vec<i64> = rows
            .iter()
            .filter(|r| r.symbol == symbol)
            .map(|r| r.cents)
            .collect();
        let above = |c: &i64| 2 * c > half;
        for chunk in cents.chunks(CHUNK_ROWS_MAX) {
            if chunk.iter().all(above) {
                read += chunk.len();
            } else if chunk.iter().any(above) {
                assert!(chunk.len() >= 4 * BLOCK_ROWS, "a chunk too short to split");
                split += chunk.len();
                let blocks = chunk.chunks_exact(BLOCK_ROWS);
                read_split += blocks.remainder().len();
                let straddling = blocks.filter(|b| b.iter().any(above) && !b.iter().all(above));
                read_split += straddling.count() * BLOCK_ROWS;
            }
        }
    }
    ((read + read_split) as u64, read_split as u64, split as u64)
}

#[test]
fn a_scan_reads_only_the_blocks_its_zones_cannot_judge() {
    let (mut db, rows) = loaded();
    for c in thresholds(&rows) {
        let half = 2 * c + 1;
        let sql = format!(
            "SELECT count(), sum(volume) FROM t WHERE price > {}.{:02}5",
            c / 100,
            c % 100
        );
        let result = db.run(&sql).unwrap();
        let kept: Vec<&Row> = rows.iter().filter(|r| 2 * r.cents > half).collect();
        let expected = exact_expected(&kept);
        assert_eq!(result.rows[0][0], expected[0], "{sql}");
        assert_eq!(result.rows[0][1], expected[2], "{sql}");
        assert_eq!(
            result.statistics.rows_read,
            rows_read_by_blocks(&rows, half).0,
            "{sql}"
        );
    }
    // The median literal splits chunks, yet most of their blocks are judged whole.
    let median = thresholds(&rows)[3];
    let (_, read_split, split) = rows_read_by_blocks(&rows, 2 * median + 1);
    assert!(
        split > 0 && read_split < split / 4,
        "{read_split} of {split}"
    );
}

#[test]
fn block_sums_stay_true_across_updates_and_appends() {
    let (mut db, mut rows) = loaded();
    check_all_filters(&mut db, &rows);
    // An UPDATE rewrites rows inside summarized blocks.
    let c = thresholds(&rows)[3];
    db.rows(&format!(
        "UPDATE t SET volume = volume + 1000 WHERE price > {}.{:02}5 AND volume % 5 = 0",
        c / 100,
        c % 100
    ));
    for row in rows
        .iter_mut()
        .filter(|r| 2 * r.cents > 2 * c + 1 && r.volume % 5 == 0)
    {
        row.volume += 1000;
    }
    check_all_filters(&mut db, &rows);
    // Appends fill the open chunks' last blocks and start new ones.
    let more = walks(9_000, rows[rows.len() - 1].ts + 1, 0x5851_f42d_4c95_7f2d);
    insert(&mut db, &more);
    rows.extend(more);
    check_all_filters(&mut db, &rows);
}

/// Bars of `width` ns per symbol, brute force: count, first, max, min, last of price, then
/// sum, min and max of volume and the sum of size (NULLs: its rows are always read).
fn brute_bars(rows: &[Row], width: i64) -> Vec<Vec<Value>> {
    let mut bars: std::collections::BTreeMap<(i64, i64), Vec<&Row>> = Default::default();
    for row in rows {
        bars.entry((row.symbol, row.ts / width))
            .or_default()
            .push(row);
    }
    bars.into_iter()
        .map(|((symbol, bucket), rows)| {
            let price = |r: &&Row| r.cents;
            let at = |cents: i64| Value::Float(cents as f64 / 100.0);
            let sizes: Vec<i64> = rows.iter().filter_map(|r| r.size).collect();
            vec![
                Value::Int(symbol),
                Value::Int(bucket),
                Value::Int(rows.len() as i64),
                at(rows[0].cents),
                at(rows.iter().map(price).max().unwrap()),
                at(rows.iter().map(price).min().unwrap()),
                at(rows[rows.len() - 1].cents),
                Value::Int(rows.iter().map(|r| r.volume).sum()),
                Value::Int(rows.iter().map(|r| r.volume).min().unwrap()),
                Value::Int(rows.iter().map(|r| r.volume).max().unwrap()),
                if sizes.is_empty() {
                    Value::Null
                } else {
                    Value::Int(sizes.iter().sum())
                },
            ]
        })
        .collect()
}

#[test]
fn bars_over_whole_blocks_match_brute_force() {
    let (mut db, rows) = loaded();
    // From a bar of a few rows (no whole block) to bars of thousands (dozens of blocks).
    for width in [7, 500, 1_000, 4_099, 30_000] {
        let got = db.rows(&format!(
            "SELECT symbol, intDiv(ts, {width}) AS b, count(), argMin(price, ts), max(price), \
             min(price), argMax(price, ts), sum(volume), min(volume), max(volume), sum(size) \
             FROM t GROUP BY symbol, b ORDER BY symbol, b"
        ));
        assert_eq!(got, brute_bars(&rows, width), "bars of {width}");
    }
}

/// count, sum and avg under one comparison with a literal are compared and added in one
/// kernel over the blocks the zones cannot judge (`fragment::checked_sums`): every operator,
/// either side, float and integer columns against float and integer literals, and a column
/// with NULLs (read through a mask instead), checked against brute force.
#[test]
fn sums_under_one_comparison_match_brute_force() {
    let (mut db, rows) = loaded();
    let c = thresholds(&rows)[3];
    let x = format!("{}.{:02}5", c / 100, c % 100);
    let half = 2 * c + 1;
    let by_price = |op: &str| -> Box<dyn Fn(&Row) -> bool> {
        match op {
            "=" => Box::new(|_| false), // no price equals a literal between two cents
            "!=" => Box::new(|_| true),
            "<" | "<=" => Box::new(move |r| 2 * r.cents < half),
            _ => Box::new(move |r| 2 * r.cents > half),
        }
    };
    let mut cases: Vec<Filter> = Vec::new();
    for op in ["=", "!=", "<", "<=", ">", ">="] {
        cases.push((format!("price {op} {x}"), by_price(op)));
        let flipped = match op {
            "<" => ">",
            "<=" => ">=",
            ">" => "<",
            ">=" => "<=",
            same => same,
        };
        cases.push((format!("{x} {flipped} price"), by_price(op)));
    }
    cases.push(("volume > 500".into(), Box::new(|r| r.volume > 500)));
    cases.push(("volume <= 500.5".into(), Box::new(|r| r.volume <= 500)));
    cases.push(("volume = 77".into(), Box::new(|r| r.volume == 77)));
    cases.push((
        "size > 500".into(),
        Box::new(|r| r.size.is_some_and(|s| s > 500)),
    ));
    for (sql, holds) in cases {
        let kept: Vec<&Row> = rows.iter().filter(|r| holds(r)).collect();
        let got = db.rows(&format!(
            "SELECT count(), count(volume), sum(volume), sum(price), avg(volume), avg(price) \
             FROM t WHERE {sql}"
        ));
        let n = kept.len() as i64;
        assert_eq!(got[0][..2], [Value::Int(n), Value::Int(n)], "{sql}");
        if kept.is_empty() {
            assert_eq!(got[0][2..], vec![Value::Null; 4], "{sql}");
            continue;
        }
        let volume: i64 = kept.iter().map(|r| r.volume).sum();
        let cents: i64 = kept.iter().map(|r| r.cents).sum();
        assert_eq!(got[0][2], Value::Int(volume), "{sql}");
        assert_close(&got[0][3], cents as f64 / 100.0, &sql);
        assert_close(&got[0][4], volume as f64 / n as f64, &sql);
        assert_close(&got[0][5], cents as f64 / 100.0 / n as f64, &sql);
    }
}
