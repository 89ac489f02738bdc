//! Composite queries (derived tables, CTEs, UNION ALL, joins, ASOF joins, window functions,
//! LIMIT BY) over two shards, each answer checked against a computation written here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;

use common::TwoShards;
use quecto_engine::types::Value;

/// One trade or quote: (symbol, ts, a, b).
type Tick = (i64, i64, f64, i64);

/// A deterministic pseudo-random stream (xorshift).
struct Stream(u64);

impl Stream {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// trades(symbol, ts, price, volume) and quotes(symbol, ts, bid, size) over 7 symbols, with
/// timestamps inserted out of order, so both shards hold rows and partitions need merging.
fn market() -> (TwoShards, Vec<Tick>, Vec<Tick>) {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE trades (symbol INT64, ts TIMESTAMP, price FLOAT64, volume INT64)");
    db.rows("CREATE TABLE quotes (symbol INT64, ts TIMESTAMP, bid FLOAT64, size INT64)");
    let mut stream = Stream(0x9E37_79B9_7F4A_7C15);
    let mut trades = Vec::new();
    let mut quotes = Vec::new();
    for i in 0..400i64 {
        let symbol = stream.next(7) as i64;
        let ts = 1_000 + i * 10 + stream.next(10) as i64;
        trades.push((
            symbol,
            ts,
            100.0 + stream.next(50) as f64 / 4.0,
            1 + stream.next(9) as i64,
        ));
        let symbol = stream.next(7) as i64;
        let ts = 995 + i * 10 + stream.next(10) as i64;
        quotes.push((
            symbol,
            ts,
            99.0 + stream.next(50) as f64 / 4.0,
            1 + stream.next(5) as i64,
        ));
    }
    for (table, ticks) in [("trades", &trades), ("quotes", &quotes)] {
        // Out of order: odd rows first, then even rows.
        let order = ticks
            .iter()
            .skip(1)
            .step_by(2)
            .chain(ticks.iter().step_by(2));
        let values: Vec<String> = order
            .map(|(s, t, a, b)| format!("({s}, {t}, {a}, {b})"))
            .collect();
        db.rows(&format!("INSERT INTO {table} VALUES {}", values.join(", ")));
    }
    (db, trades, quotes)
}

fn int(value: &Value) -> i64 {
    match value {
        Value::Int(v) => *v,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn float(value: &Value) -> f64 {
    match value {
        Value::Float(v) => *v,
        Value::Int(v) => *v as f64,
        other => panic!("expected a number, got {other:?}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn a_derived_table_aggregates_the_inner_groups() {
    let (mut db, trades, _) = market();
    let rows = db.rows(
        "SELECT count() AS groups, sum(v) AS total, max(v) FROM \
         (SELECT symbol, sum(volume) AS v FROM trades GROUP BY symbol) AS per_symbol",
    );
    let mut per_symbol: BTreeMap<i64, i64> = BTreeMap::new();
    for (s, _, _, v) in &trades {
        *per_symbol.entry(*s).or_default() += v;
    }
    assert_eq!(int(&rows[0][0]), per_symbol.len() as i64);
    assert_eq!(int(&rows[0][1]), per_symbol.values().sum::<i64>());
    assert_eq!(int(&rows[0][2]), *per_symbol.values().max().unwrap());
}

#[test]
fn a_cte_is_filtered_and_ordered_like_a_table() {
    let (mut db, trades, _) = market();
    let rows = db.rows(
        "WITH big AS (SELECT symbol, ts, volume FROM trades WHERE volume >= 5) \
         SELECT symbol, count() FROM big WHERE symbol < 3 GROUP BY symbol ORDER BY symbol",
    );
    let mut expected: BTreeMap<i64, i64> = BTreeMap::new();
    for (s, _, _, v) in &trades {
        if *v >= 5 && *s < 3 {
            *expected.entry(*s).or_default() += 1;
        }
    }
    let got: Vec<(i64, i64)> = rows.iter().map(|r| (int(&r[0]), int(&r[1]))).collect();
    assert_eq!(got, expected.into_iter().collect::<Vec<_>>());
}

#[test]
fn union_all_keeps_duplicates_and_sorts_the_whole() {
    let (mut db, trades, quotes) = market();
    let rows = db.rows(
        "SELECT symbol, ts FROM trades WHERE symbol = 2 UNION ALL \
         SELECT symbol, ts FROM quotes WHERE symbol = 2 ORDER BY ts LIMIT 1000",
    );
    let mut expected: Vec<i64> = trades
        .iter()
        .chain(&quotes)
        .filter(|t| t.0 == 2)
        .map(|t| t.1)
        .collect();
    expected.sort_unstable();
    let got: Vec<i64> = rows.iter().map(|r| int(&r[1])).collect();
    assert_eq!(got, expected);
}

#[test]
fn inner_and_left_joins_with_a_dimension_table() {
    let (mut db, trades, _) = market();
    db.rows("CREATE TABLE names (symbol INT64, ts TIMESTAMP, lot INT64)");
    db.rows("INSERT INTO names VALUES (1, 0, 100), (2, 0, 10), (9, 0, 1)");
    let lots: BTreeMap<i64, i64> = [(1, 100), (2, 10), (9, 1)].into_iter().collect();
    let rows = db.rows(
        "SELECT t.symbol, sum(t.volume * n.lot) FROM trades AS t JOIN names AS n \
         ON t.symbol = n.symbol GROUP BY t.symbol ORDER BY t.symbol",
    );
    let mut expected: BTreeMap<i64, i64> = BTreeMap::new();
    for (s, _, _, v) in &trades {
        if let Some(lot) = lots.get(s) {
            *expected.entry(*s).or_default() += v * lot;
        }
    }
    let got: Vec<(i64, i64)> = rows.iter().map(|r| (int(&r[0]), int(&r[1]))).collect();
    assert_eq!(got, expected.into_iter().collect::<Vec<_>>());

    let rows = db.rows(
        "SELECT count(), count(n.lot) FROM trades AS t LEFT JOIN names AS n ON t.symbol = n.symbol",
    );
    let matched = trades.iter().filter(|t| lots.contains_key(&t.0)).count() as i64;
    assert_eq!(int(&rows[0][0]), trades.len() as i64);
    assert_eq!(int(&rows[0][1]), matched);
}

/// For each trade, the latest quote of its symbol at or before it (brute force).
fn asof_expected(trades: &[Tick], quotes: &[Tick]) -> Vec<(Tick, Option<Tick>)> {
    trades
        .iter()
        .map(|t| {
            let best = quotes
                .iter()
                .filter(|q| q.0 == t.0 && q.1 <= t.1)
                .max_by_key(|q| q.1)
                .copied();
            (*t, best)
        })
        .collect()
}

#[test]
fn asof_join_with_a_match_condition_pairs_each_trade_with_the_prevailing_quote() {
    let (mut db, trades, quotes) = market();
    let rows = db.rows(
        "SELECT count(), sum(t.volume * (t.price - q.bid)), sum(q.size) FROM trades AS t \
         ASOF JOIN quotes AS q MATCH_CONDITION (t.ts >= q.ts) ON t.symbol = q.symbol",
    );
    let pairs: Vec<(Tick, Tick)> = asof_expected(&trades, &quotes)
        .into_iter()
        .filter_map(|(t, q)| q.map(|q| (t, q)))
        .collect();
    let edge: f64 = pairs.iter().map(|(t, q)| t.3 as f64 * (t.2 - q.2)).sum();
    let sizes: i64 = pairs.iter().map(|(_, q)| q.3).sum();
    assert_eq!(int(&rows[0][0]), pairs.len() as i64);
    assert!(close(float(&rows[0][1]), edge), "{rows:?} vs {edge}");
    assert_eq!(int(&rows[0][2]), sizes);
}

#[test]
fn asof_join_of_derived_tables_restricted_to_one_symbol() {
    let (mut db, trades, quotes) = market();
    let rows = db.rows(
        "SELECT count(), sum(q.bid) FROM (SELECT symbol, ts, price FROM trades WHERE symbol = 3) AS t \
         ASOF JOIN (SELECT symbol, ts, bid FROM quotes WHERE symbol = 3) AS q \
         MATCH_CONDITION (t.ts >= q.ts) ON t.symbol = q.symbol",
    );
    let pairs: Vec<(Tick, Tick)> = asof_expected(&trades, &quotes)
        .into_iter()
        .filter(|(t, _)| t.0 == 3)
        .filter_map(|(t, q)| q.map(|q| (t, q)))
        .collect();
    assert_eq!(int(&rows[0][0]), pairs.len() as i64);
    let bids: f64 = pairs.iter().map(|(_, q)| q.2).sum();
    assert!(close(float(&rows[0][1]), bids));
}

/// Trades of `symbol` in time order.
fn series(trades: &[Tick], symbol: i64) -> Vec<Tick> {
    let mut rows: Vec<Tick> = trades.iter().filter(|t| t.0 == symbol).copied().collect();
    rows.sort_by_key(|t| t.1);
    rows
}

#[test]
fn window_functions_run_per_symbol_in_time_order() {
    let (mut db, trades, _) = market();
    let rows = db.rows(
        "SELECT symbol, ts, price, \
           lag(price) OVER (PARTITION BY symbol ORDER BY ts) AS prev, \
           row_number() OVER (PARTITION BY symbol ORDER BY ts) AS n, \
           avg(price) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS ma3, \
           sum(volume) OVER (PARTITION BY symbol ORDER BY ts) AS cum, \
           ema(price, 0.5) OVER (PARTITION BY symbol ORDER BY ts) AS e \
         FROM trades WHERE symbol IN (1, 4) ORDER BY symbol, ts",
    );
    let mut expected = Vec::new();
    for symbol in [1, 4] {
        let s = series(&trades, symbol);
        let mut cum = 0;
        let mut ema = 0.0;
        for (i, t) in s.iter().enumerate() {
            cum += t.3;
            ema = if i == 0 { t.2 } else { 0.5 * t.2 + 0.5 * ema };
            let window = &s[i.saturating_sub(2)..=i];
            let ma3 = window.iter().map(|w| w.2).sum::<f64>() / window.len() as f64;
            let prev = if i == 0 { None } else { Some(s[i - 1].2) };
            expected.push((t.0, t.1, prev, i as i64 + 1, ma3, cum, ema));
        }
    }
    assert_eq!(rows.len(), expected.len());
    for (row, (symbol, ts, prev, n, ma3, cum, ema)) in rows.iter().zip(expected) {
        assert_eq!((int(&row[0]), int(&row[1])), (symbol, ts));
        match prev {
            None => assert_eq!(row[3], Value::Null),
            Some(p) => assert!(close(float(&row[3]), p)),
        }
        assert_eq!(int(&row[4]), n);
        assert!(close(float(&row[5]), ma3), "{row:?} ma3 {ma3}");
        assert_eq!(int(&row[6]), cum);
        assert!(close(float(&row[7]), ema), "{row:?} ema {ema}");
    }
}

#[test]
fn limit_by_keeps_the_latest_row_of_each_symbol() {
    let (mut db, trades, _) = market();
    let rows = db.rows("SELECT symbol, ts, price FROM trades ORDER BY ts DESC LIMIT 1 BY symbol");
    let mut latest: BTreeMap<i64, Tick> = BTreeMap::new();
    for t in &trades {
        let entry = latest.entry(t.0).or_insert(*t);
        if t.1 > entry.1 {
            *entry = *t;
        }
    }
    let mut got: Vec<(i64, i64)> = rows.iter().map(|r| (int(&r[0]), int(&r[1]))).collect();
    got.sort_unstable();
    let expected: Vec<(i64, i64)> = latest.values().map(|t| (t.0, t.1)).collect();
    assert_eq!(got, expected);
    let times: Vec<i64> = rows.iter().map(|r| int(&r[1])).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "ordered by ts DESC");
    // ClickHouse's `LIMIT n BY ... LIMIT m`: the first m of those rows, in the same order.
    let first = db.rows(
        "SELECT symbol, ts, price FROM trades ORDER BY ts DESC LIMIT 1 BY symbol LIMIT 3 OFFSET 1",
    );
    assert!(rows.len() > 4);
    assert_eq!(first, rows[1..4].to_vec());
}

#[test]
fn explain_names_the_join_strategy_and_the_pushed_down_scans() {
    let (mut db, _, _) = market();
    let rows = db.rows(
        "EXPLAIN SELECT count() FROM trades AS t ASOF JOIN quotes AS q \
         MATCH_CONDITION (t.ts >= q.ts) ON t.symbol = q.symbol",
    );
    let text: Vec<String> = rows
        .iter()
        .map(|r| match &r[0] {
            Value::Str(s) => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    let text = text.join("\n");
    assert!(text.contains("co-located ASOF join on shards"), "{text}");
    // The join and the count run on the shards: no coordinator join, no scans pulled back.
    assert!(!text.contains("ASOF merge join"), "{text}");
    assert_eq!(text.matches("Scan #").count(), 0, "{text}");
}

#[test]
fn unsupported_composites_are_named() {
    let (mut db, _, _) = market();
    for (sql, named) in [
        (
            "SELECT symbol FROM trades UNION SELECT symbol FROM quotes",
            "UNION",
        ),
        ("SELECT * FROM trades, quotes", "FROM list"),
        (
            "SELECT * FROM trades t FULL OUTER JOIN quotes q ON t.symbol = q.symbol",
            "join",
        ),
    ] {
        let error = db.run(sql).unwrap_err().to_string();
        assert!(error.contains(named), "{sql}: {error}");
    }
}

/// One OHLCV bar: open, high, low, close, volume.
type Bar = (f64, f64, f64, f64, i64);

/// Brute-force OHLCV bars of `step` ns per symbol: (symbol, bucket) -> bar.
fn bars(trades: &[Tick], step: i64) -> BTreeMap<(i64, i64), Bar> {
    let mut sorted = trades.to_vec();
    sorted.sort_by_key(|t| t.1);
    let mut bars: BTreeMap<(i64, i64), Bar> = BTreeMap::new();
    for (s, ts, p, v) in sorted {
        let bucket = ts.div_euclid(step) * step;
        let bar = bars.entry((s, bucket)).or_insert((p, p, p, p, 0));
        bar.1 = bar.1.max(p);
        bar.2 = bar.2.min(p);
        bar.3 = p;
        bar.4 += v;
    }
    bars
}

#[test]
fn ohlc_bars_by_xbar_time_bucket_and_sample_by_agree_with_brute_force() {
    let (mut db, trades, _) = market();
    let expected = bars(&trades, 100);
    for sql in [
        "SELECT symbol, xbar(ts, 100) AS b, first(price), max(price), min(price), last(price), sum(volume) \
         FROM trades GROUP BY symbol, b ORDER BY symbol, b",
        "SELECT symbol, time_bucket(100, ts) AS b, argMin(price, ts), max(price), min(price), argMax(price, ts), sum(volume) \
         FROM trades GROUP BY symbol, b ORDER BY symbol, b",
        "SELECT symbol, ts, first(price), max(price), min(price), last(price), sum(volume) \
         FROM trades SAMPLE BY 100ns ORDER BY symbol, ts",
    ] {
        let rows = db.rows(sql);
        assert_eq!(rows.len(), expected.len(), "{sql}");
        for (row, ((s, b), (o, h, l, c, v))) in rows.iter().zip(&expected) {
            assert_eq!((int(&row[0]), int(&row[1])), (*s, *b), "{sql}");
            let got = [float(&row[2]), float(&row[3]), float(&row[4]), float(&row[5])];
            assert_eq!(got, [*o, *h, *l, *c], "{sql} {row:?}");
            assert_eq!(int(&row[6]), *v, "{sql}");
        }
    }
}

#[test]
fn sample_by_fill_prev_and_null_cover_every_bucket_of_every_symbol() {
    let (mut db, trades, _) = market();
    let mine: Vec<Tick> = trades
        .iter()
        .filter(|t| t.0 == 2 || t.0 == 5)
        .copied()
        .collect();
    let expected = bars(&mine, 200);
    let first = expected.keys().map(|k| k.1).min().unwrap();
    let last = expected.keys().map(|k| k.1).max().unwrap();
    let rows = db.rows(
        "SELECT ts, symbol, last(price) AS close, sum(volume) AS v FROM trades \
         WHERE symbol IN (2, 5) SAMPLE BY 200ns FILL(PREV, NULL) ORDER BY symbol, ts",
    );
    let buckets = ((last - first) / 200 + 1) as usize;
    assert_eq!(rows.len(), 2 * buckets);
    for symbol in [2, 5] {
        let mut previous: Option<f64> = None;
        let series: Vec<&Vec<Value>> = rows.iter().filter(|r| int(&r[1]) == symbol).collect();
        for (i, row) in series.iter().enumerate() {
            let bucket = first + 200 * i as i64;
            assert_eq!(int(&row[0]), bucket);
            match expected.get(&(symbol, bucket)) {
                Some((_, _, _, close, volume)) => {
                    assert_eq!(float(&row[2]), *close);
                    assert_eq!(int(&row[3]), *volume);
                    previous = Some(*close);
                }
                None => {
                    match previous {
                        Some(p) => assert_eq!(float(&row[2]), p, "PREV fill"),
                        None => assert_eq!(row[2], Value::Null),
                    }
                    assert_eq!(row[3], Value::Null, "NULL fill");
                }
            }
        }
    }
}

#[test]
fn latest_on_and_limit_by_give_the_last_row_per_symbol() {
    let (mut db, trades, _) = market();
    let mut latest: BTreeMap<i64, Tick> = BTreeMap::new();
    for t in &trades {
        if t.3 >= 3 {
            let entry = latest.entry(t.0).or_insert(*t);
            if t.1 > entry.1 {
                *entry = *t;
            }
        }
    }
    let rows = db.rows(
        "SELECT symbol, ts, price, volume FROM trades WHERE volume >= 3 \
         LATEST ON ts PARTITION BY symbol ORDER BY symbol",
    );
    let got: Vec<(i64, i64, f64, i64)> = rows
        .iter()
        .map(|r| (int(&r[0]), int(&r[1]), float(&r[2]), int(&r[3])))
        .collect();
    assert_eq!(got, latest.values().copied().collect::<Vec<_>>());
}

#[test]
fn duckdb_questdb_and_snowflake_asof_spellings_agree() {
    let (mut db, trades, quotes) = market();
    let matched = asof_expected(&trades, &quotes);
    let inner = matched.iter().filter(|(_, q)| q.is_some()).count() as i64;
    let bids: f64 = matched.iter().filter_map(|(_, q)| q.map(|q| q.2)).sum();
    for (sql, count) in [
        ("SELECT count(), sum(q.bid) FROM trades t ASOF JOIN quotes q ON t.symbol = q.symbol AND t.ts >= q.ts", inner),
        ("SELECT count(), sum(q.bid) FROM trades t ASOF JOIN quotes q USING (symbol, ts)", inner),
        ("SELECT count(), sum(q.bid) FROM trades t ASOF JOIN quotes q MATCH_CONDITION (t.ts >= q.ts) ON t.symbol = q.symbol", inner),
        ("SELECT count(), sum(q.bid) FROM trades t ASOF LEFT JOIN quotes q ON t.symbol = q.symbol AND t.ts >= q.ts", trades.len() as i64),
        ("SELECT count(), sum(q.bid) FROM trades t ASOF JOIN quotes q ON (symbol)", trades.len() as i64),
    ] {
        let rows = db.rows(sql);
        assert_eq!(int(&rows[0][0]), count, "{sql}");
        assert!(close(float(&rows[0][1]), bids), "{sql}: {rows:?} vs {bids}");
    }
}

#[test]
fn asof_tolerance_drops_stale_quotes() {
    let (mut db, trades, quotes) = market();
    let fresh: Vec<(Tick, Tick)> = asof_expected(&trades, &quotes)
        .into_iter()
        .filter_map(|(t, q)| q.filter(|q| t.1 - q.1 <= 15).map(|q| (t, q)))
        .collect();
    let rows = db.rows(
        "SELECT count(), sum(q.size) FROM trades t ASOF JOIN quotes q \
         ON t.symbol = q.symbol AND t.ts >= q.ts TOLERANCE 15ns",
    );
    assert_eq!(int(&rows[0][0]), fresh.len() as i64);
    assert_eq!(
        int(&rows[0][1]),
        fresh.iter().map(|(_, q)| q.3).sum::<i64>()
    );
}

#[test]
fn window_join_aggregates_the_quotes_around_each_trade() {
    let (mut db, trades, quotes) = market();
    let rows = db.rows(
        "SELECT t.symbol, t.ts, count(q.bid) AS n, avg(q.bid) AS mean FROM trades t \
         WINDOW JOIN quotes q ON t.symbol = q.symbol \
         RANGE BETWEEN 30ns PRECEDING AND 10ns FOLLOWING ORDER BY t.ts, t.symbol",
    );
    let mut sorted = trades.clone();
    sorted.sort_by_key(|t| (t.1, t.0));
    assert_eq!(rows.len(), sorted.len());
    for (row, t) in rows.iter().zip(&sorted) {
        let window: Vec<f64> = quotes
            .iter()
            .filter(|q| q.0 == t.0 && q.1 >= t.1 - 30 && q.1 <= t.1 + 10)
            .map(|q| q.2)
            .collect();
        assert_eq!((int(&row[0]), int(&row[1])), (t.0, t.1));
        assert_eq!(int(&row[2]), window.len() as i64);
        if window.is_empty() {
            assert_eq!(row[3], Value::Null);
        } else {
            let mean = window.iter().sum::<f64>() / window.len() as f64;
            assert!(close(float(&row[3]), mean), "{row:?} vs {mean}");
        }
    }
}

#[test]
fn where_conjuncts_reach_the_join_scans_without_changing_answers() {
    let (mut db, trades, quotes) = market();
    let sql = "FROM trades t ASOF JOIN quotes q ON t.symbol = q.symbol AND t.ts >= q.ts \
               WHERE t.symbol = 3 AND t.volume > 2 AND q.bid > 105";
    let plan = db.rows(&format!("EXPLAIN SELECT count() {sql}"));
    let text: String = plan.iter().map(|r| format!("{}\n", r[0])).collect();
    assert_eq!(text.matches("routed by symbol = 3").count(), 1, "{text}");
    assert!(text.contains("right filter (#0 = 3)"), "{text}");
    // The latest quote is chosen among all quotes of the symbol, then `q.bid > 105` filters.
    let expected: Vec<(Tick, Tick)> = asof_expected(&trades, &quotes)
        .into_iter()
        .filter_map(|(t, q)| q.map(|q| (t, q)))
        .filter(|(t, q)| t.0 == 3 && t.3 > 2 && q.2 > 105.0)
        .collect();
    let rows = db.rows(&format!("SELECT count(), sum(t.volume) {sql}"));
    assert_eq!(int(&rows[0][0]), expected.len() as i64);
    if !expected.is_empty() {
        assert_eq!(
            int(&rows[0][1]),
            expected.iter().map(|(t, _)| t.3).sum::<i64>()
        );
    }
    let rows = db.rows(
        "SELECT count() FROM trades t LEFT JOIN quotes q ON t.symbol = q.symbol AND t.ts = q.ts \
         WHERE t.symbol = 1",
    );
    let expected: usize = trades
        .iter()
        .filter(|t| t.0 == 1)
        .map(|t| {
            quotes
                .iter()
                .filter(|q| q.0 == 1 && q.1 == t.1)
                .count()
                .max(1)
        })
        .sum();
    assert_eq!(int(&rows[0][0]), expected as i64);
}

/// A row with its arrival position: (symbol, ts, id); ids count up in insertion order.
type Arrival = (i64, i64, i64);

/// trades(symbol, ts, price = id, volume) over symbols 0..8 and quotes(symbol, ts, bid = id,
/// ask) over symbols 0..5 only (symbols 5..8 have no right partition), `count` rows each,
/// inserted shuffled in four batches, with quote times on a coarse grid so that many tie.
fn tied_market(count: i64) -> (TwoShards, Vec<Arrival>, Vec<Arrival>) {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE trades (symbol INT64, ts TIMESTAMP, price FLOAT64, volume INT64)");
    db.rows("CREATE TABLE quotes (symbol INT64, ts TIMESTAMP, bid FLOAT64, ask FLOAT64)");
    let mut stream = Stream(0x2545_F491_4F6C_DD1D);
    let mut trades = Vec::new();
    let mut quotes = Vec::new();
    for _ in 0..4 {
        let mut trade_values = Vec::new();
        let mut quote_values = Vec::new();
        for _ in 0..count / 4 {
            let id = trades.len() as i64;
            let (symbol, ts) = (stream.next(8) as i64, stream.next(count as u64 * 3) as i64);
            trades.push((symbol, ts, id));
            trade_values.push(format!("({symbol}, {ts}, {id}, {})", 1 + id % 7));
            let id = quotes.len() as i64;
            let (symbol, ts) = (stream.next(5) as i64, stream.next(count as u64) as i64 * 3);
            quotes.push((symbol, ts, id));
            let ask = id as f64 + 0.5 + (id % 3) as f64;
            quote_values.push(format!("({symbol}, {ts}, {id}, {ask})"));
        }
        db.rows(&format!(
            "INSERT INTO trades VALUES {}",
            trade_values.join(", ")
        ));
        db.rows(&format!(
            "INSERT INTO quotes VALUES {}",
            quote_values.join(", ")
        ));
    }
    (db, trades, quotes)
}

/// The quote a trade meets: the latest of its symbol at (or, `strict`, before) its time, the
/// last to arrive among equal times, dropped when older than `tolerance`.
fn asof_match(
    trade: &Arrival,
    quotes: &[Arrival],
    strict: bool,
    tolerance: Option<i64>,
) -> Option<Arrival> {
    let mut best: Option<Arrival> = None;
    for q in quotes {
        let before = if strict {
            q.1 < trade.1
        } else {
            q.1 <= trade.1
        };
        if q.0 == trade.0 && before && best.is_none_or(|b| q.1 >= b.1) {
            best = Some(*q);
        }
    }
    best.filter(|q| tolerance.is_none_or(|tol| trade.1 - q.1 <= tol))
}

fn explain_text(db: &mut TwoShards, sql: &str) -> String {
    let rows = db.rows(&format!("EXPLAIN {sql}"));
    rows.iter().map(|r| format!("{}\n", r[0])).collect()
}

/// Every (trade id, met quote id) pair of `sql`, which selects `t.price, q.bid`, sorted.
fn met_pairs(db: &mut TwoShards, sql: &str) -> Vec<(i64, Option<i64>)> {
    let text = explain_text(db, sql);
    assert!(
        text.contains("co-located ASOF join on shards"),
        "{sql}\n{text}"
    );
    price_bid_pairs(&db.rows(sql))
}

/// Rows of (t.price, q.bid) as sorted (trade id, quote id) pairs.
fn price_bid_pairs(rows: &[Vec<Value>]) -> Vec<(i64, Option<i64>)> {
    let mut pairs: Vec<(i64, Option<i64>)> = rows
        .iter()
        .map(|r| {
            let bid = (r[1] != Value::Null).then(|| float(&r[1]) as i64);
            (float(&r[0]) as i64, bid)
        })
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn colocated_asof_join_meets_the_brute_force_quote_for_every_trade() {
    let (mut db, trades, quotes) = tied_market(2000);
    let forms = [
        ("ASOF JOIN", "AND t.ts >= q.ts", false, None, false),
        ("ASOF LEFT JOIN", "AND t.ts >= q.ts", false, None, true),
        ("ASOF JOIN", "AND t.ts > q.ts", true, None, false),
        (
            "ASOF LEFT JOIN",
            "AND t.ts >= q.ts TOLERANCE 4ns",
            false,
            Some(4),
            true,
        ),
        (
            "ASOF JOIN",
            "AND t.ts >= q.ts TOLERANCE 0ns",
            false,
            Some(0),
            false,
        ),
        ("LT JOIN", "", true, None, true),
    ];
    for (join, condition, strict, tolerance, left_outer) in forms {
        for symbol in [None, Some(2), Some(6)] {
            let filter = symbol.map_or(String::new(), |s| format!(" WHERE t.symbol = {s}"));
            let sql = format!(
                "SELECT t.price, q.bid FROM trades t {join} quotes q \
                 ON t.symbol = q.symbol {condition}{filter}"
            );
            let mut expected: Vec<(i64, Option<i64>)> = trades
                .iter()
                .filter(|t| symbol.is_none_or(|s| t.0 == s))
                .filter_map(|t| {
                    let met = asof_match(t, &quotes, strict, tolerance).map(|q| q.2);
                    (met.is_some() || left_outer).then_some((t.2, met))
                })
                .collect();
            expected.sort();
            assert_eq!(met_pairs(&mut db, &sql), expected, "{sql}");
        }
    }
    // A right-side filter hides quotes from the walk: the latest visible quote is met.
    let sql = "SELECT t.price, q.bid FROM trades t ASOF JOIN \
               (SELECT * FROM quotes WHERE ask - bid < 2) q ON t.symbol = q.symbol AND t.ts >= q.ts";
    let visible: Vec<Arrival> = quotes.iter().filter(|q| q.2 % 3 != 2).copied().collect();
    let mut expected: Vec<(i64, Option<i64>)> = trades
        .iter()
        .filter_map(|t| asof_match(t, &visible, false, None).map(|q| (t.2, Some(q.2))))
        .collect();
    expected.sort();
    assert_eq!(met_pairs(&mut db, sql), expected, "{sql}");
}

#[test]
fn colocated_asof_join_aggregates_like_the_peer_workload() {
    let (mut db, trades, quotes) = tied_market(2000);
    let ask = |id: i64| id as f64 + 0.5 + (id % 3) as f64;
    for symbol in [1, 3, 7] {
        let sql = format!(
            "SELECT count(), sum(t.volume * (t.price - (q.bid + q.ask) / 2)), \
             sum(q.ask - q.bid) \
             FROM (SELECT symbol, ts, price, volume FROM trades WHERE symbol = {symbol}) AS t \
             ASOF JOIN (SELECT symbol, ts, bid, ask FROM quotes WHERE symbol = {symbol}) AS q \
             ON t.symbol = q.symbol AND t.ts >= q.ts"
        );
        assert!(explain_text(&mut db, &sql).contains("co-located ASOF join"));
        let pairs: Vec<(Arrival, Arrival)> = trades
            .iter()
            .filter(|t| t.0 == symbol)
            .filter_map(|t| asof_match(t, &quotes, false, None).map(|q| (*t, q)))
            .collect();
        let edge: f64 = pairs
            .iter()
            .map(|(t, q)| (1 + t.2 % 7) as f64 * (t.2 as f64 - (q.2 as f64 + ask(q.2)) / 2.0))
            .sum();
        let spread: f64 = pairs.iter().map(|(_, q)| ask(q.2) - q.2 as f64).sum();
        let rows = db.rows(&sql);
        assert_eq!(int(&rows[0][0]), pairs.len() as i64, "{sql}");
        if pairs.is_empty() {
            assert_eq!(rows[0][1..], [Value::Null, Value::Null], "{sql}");
        } else {
            assert!(close(float(&rows[0][1]), edge), "{rows:?} vs {edge}");
            assert!(close(float(&rows[0][2]), spread), "{rows:?} vs {spread}");
        }
    }
    // GROUP BY over every symbol, LEFT: unmatched trades count, their quotes do not.
    let sql = "SELECT t.symbol, count(), count(q.bid), sum(q.bid) FROM trades t \
               ASOF LEFT JOIN quotes q ON t.symbol = q.symbol AND t.ts >= q.ts \
               WHERE q.bid IS NULL OR q.bid >= 10 GROUP BY t.symbol ORDER BY t.symbol";
    assert!(explain_text(&mut db, sql).contains("co-located ASOF join"));
    let rows = db.rows(sql);
    let mut expected: BTreeMap<i64, (i64, i64, i64)> = BTreeMap::new();
    for t in &trades {
        let met = asof_match(t, &quotes, false, None);
        if met.is_some_and(|q| q.2 < 10) {
            continue;
        }
        let entry = expected.entry(t.0).or_default();
        entry.0 += 1;
        if let Some(q) = met {
            entry.1 += 1;
            entry.2 += q.2;
        }
    }
    assert_eq!(rows.len(), expected.len());
    for (row, (symbol, (n, matched, bids))) in rows.iter().zip(&expected) {
        assert_eq!(
            (int(&row[0]), int(&row[1]), int(&row[2])),
            (*symbol, *n, *matched)
        );
        if *matched > 0 {
            assert_eq!(float(&row[3]) as i64, *bids, "{row:?}");
        } else {
            assert_eq!(row[3], Value::Null);
        }
    }
}

#[test]
fn colocated_asof_join_walks_across_many_chunks() {
    // Enough rows that each symbol's partitions span several chunks of both tables.
    let (mut db, trades, quotes) = tied_market(160_000);
    let sql = "SELECT t.price, q.bid FROM trades t ASOF LEFT JOIN quotes q \
               ON t.symbol = q.symbol AND t.ts >= q.ts WHERE t.symbol IN (0, 4, 5)";
    // Too many rows for the nested loop: per symbol, quotes sorted by (time, arrival) and a
    // binary search for the last one at or before each trade.
    let mut by_symbol: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
    for q in &quotes {
        by_symbol.entry(q.0).or_default().push((q.1, q.2));
    }
    by_symbol.values_mut().for_each(|v| v.sort());
    let met = |t: &Arrival| {
        let series = by_symbol.get(&t.0)?;
        let end = series.partition_point(|&(ts, _)| ts <= t.1);
        end.checked_sub(1).map(|i| series[i].1)
    };
    let mut expected: Vec<(i64, Option<i64>)> = trades
        .iter()
        .filter(|t| [0, 4, 5].contains(&t.0))
        .map(|t| (t.2, met(t)))
        .collect();
    expected.sort();
    assert_eq!(met_pairs(&mut db, sql), expected);
    // Without a filter, full joined chunks aggregate through the chunk memo path: each one
    // must answer with its own rows' states, not the previous chunk's.
    let sql = "SELECT t.symbol, count(), count(q.bid), sum(q.bid), sum(t.price) FROM trades t \
               ASOF LEFT JOIN quotes q ON t.symbol = q.symbol AND t.ts >= q.ts \
               GROUP BY t.symbol ORDER BY t.symbol";
    assert!(explain_text(&mut db, sql).contains("co-located ASOF join"));
    let mut expected: BTreeMap<i64, (i64, i64, i64, i64)> = BTreeMap::new();
    for t in &trades {
        let entry = expected.entry(t.0).or_default();
        entry.0 += 1;
        entry.3 += t.2;
        if let Some(q) = met(t) {
            entry.1 += 1;
            entry.2 += q;
        }
    }
    let got: BTreeMap<i64, (i64, i64, i64, i64)> = db
        .rows(sql)
        .iter()
        .map(|r| {
            let bids = if r[3] == Value::Null {
                0
            } else {
                float(&r[3]) as i64
            };
            let sums = (int(&r[1]), int(&r[2]), bids, float(&r[4]) as i64);
            (int(&r[0]), sums)
        })
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn colocated_and_coordinator_asof_joins_agree_and_null_keys_never_reach_them() {
    let (mut db, _, _) = tied_market(400);
    // The join keys are the partition key and the designated timestamp, which are never NULL:
    // such rows are refused at INSERT, so neither path has NULL keys to skip.
    for sql in [
        "INSERT INTO trades VALUES (1, NULL, 9001, 1)",
        "INSERT INTO trades VALUES (NULL, 50, 9002, 1)",
        "INSERT INTO quotes VALUES (1, NULL, 9003, 9004)",
        "INSERT INTO quotes VALUES (NULL, 40, 9005, 9006)",
    ] {
        assert!(db.run(sql).is_err(), "{sql}");
    }
    for join in ["ASOF JOIN", "ASOF LEFT JOIN"] {
        let on = "ON t.symbol = q.symbol AND t.ts >= q.ts";
        let colocated = format!("SELECT t.price, q.bid FROM trades t {join} quotes q {on}");
        // `bid + 0` is not a plain column: the coordinator joins these rows itself.
        let coordinator = format!(
            "SELECT t.price, q.bid FROM trades t {join} \
             (SELECT symbol, ts, bid + 0 AS bid FROM quotes) q {on}"
        );
        let text = explain_text(&mut db, &coordinator);
        assert!(text.contains("ASOF merge join"), "{text}");
        let expected = price_bid_pairs(&db.rows(&coordinator));
        assert_eq!(met_pairs(&mut db, &colocated), expected, "{colocated}");
    }
}
