//! SQL answers checked against values the test computes itself from seeded rows: aggregates,
//! GROUP BY / HAVING / ORDER BY / LIMIT, filters, NULLs, DDL, out-of-order inserts and
//! read-your-writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use quecto_tests::*;

/// Enough symbols that both shards of a `--cores 2` server own some.
const SYMBOLS_COUNT: usize = 60;
const ROWS_COUNT: usize = 2_000;

fn loaded_server(table: &str, seed: u64) -> (ServerProcess, Vec<Tick>) {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, table);
    let ticks = gen_ticks(seed, ROWS_COUNT, SYMBOLS_COUNT);
    insert_values(&server, table, &ticks, 250);
    (server, ticks)
}

#[test]
fn select_one_and_trailing_semicolons() {
    let server = ServerProcess::start(&[]);
    server.assert_alive();
    assert_eq!(json_i64(&server.query_scalar("SELECT 1;")), 1);
    assert_eq!(json_i64(&server.query_scalar("SELECT 1 ;  ")), 1);
    assert_eq!(json_i64(&server.query_scalar("select 1")), 1);
    // Read-only statements are allowed over GET.
    let reply = server.get_sql("SELECT 1");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        json_i64(&reply.json()["data"][0]["1"]),
        1,
        "{}",
        reply.text()
    );
}

#[test]
fn ping_health_and_ready_endpoints_answer() {
    let server = ServerProcess::start(&[]);
    let ping = server.get_path("/ping");
    assert_eq!((ping.status, ping.text().as_str()), (200, "Ok.\n"));
    assert_eq!(server.get_path("/health").status, 200);
    assert_eq!(server.get_path("/ready").status, 200);
}

#[test]
fn whole_table_aggregates_match_independent_computation() {
    let (server, ticks) = loaded_server("t", 11);
    let rows = server.query_rows(
        "SELECT count(*) AS n, sum(volume) AS v, sum(price) AS p, avg(price) AS a, \
         min(price) AS lo, max(price) AS hi, count(DISTINCT symbol) AS syms, \
         vwap(price, volume) AS vw, first(price) AS f, last(price) AS l, \
         min(timestamp) AS t0, max(timestamp) AS t1 FROM t",
    );
    let row = &rows[0];
    let price_sum: f64 = ticks.iter().map(|t| t.price).sum();
    let volume_sum: i64 = ticks.iter().map(|t| t.volume).sum();
    let notional: f64 = ticks.iter().map(|t| t.price * t.volume as f64).sum();
    let symbols: BTreeSet<&str> = ticks.iter().map(|t| t.symbol.as_str()).collect();
    assert_eq!(json_i64(&row["n"]), ROWS_COUNT as i64);
    assert!(
        row["n"].is_string(),
        "count(*) is UInt64, quoted in JSON: {}",
        row["n"]
    );
    assert_eq!(json_i64(&row["v"]), volume_sum);
    assert_close(json_f64(&row["p"]), price_sum, "sum(price)");
    assert_close(
        json_f64(&row["a"]),
        price_sum / ROWS_COUNT as f64,
        "avg(price)",
    );
    let lo = ticks.iter().map(|t| t.price).fold(f64::INFINITY, f64::min);
    let hi = ticks
        .iter()
        .map(|t| t.price)
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(
        json_f64(&row["lo"]),
        lo,
        "min(price) is a stored value: exact"
    );
    assert_eq!(
        json_f64(&row["hi"]),
        hi,
        "max(price) is a stored value: exact"
    );
    assert_eq!(json_i64(&row["syms"]), symbols.len() as i64);
    assert_close(json_f64(&row["vw"]), notional / volume_sum as f64, "vwap");
    assert_eq!(
        json_f64(&row["f"]),
        ticks[0].price,
        "first(price) over the whole table"
    );
    assert_eq!(
        json_f64(&row["l"]),
        ticks[ROWS_COUNT - 1].price,
        "last(price)"
    );
    assert_eq!(json_str(&row["t0"]), format_ts(ticks[0].ts_ns));
    assert_eq!(json_str(&row["t1"]), format_ts(ticks[ROWS_COUNT - 1].ts_ns));
}

#[test]
fn group_by_symbol_matches_per_symbol_aggregates() {
    let (server, ticks) = loaded_server("t", 12);
    let expected = stats_by_symbol(&ticks);
    let rows = server.query_rows(
        "SELECT symbol, count(*) AS n, sum(volume) AS v, avg(price) AS a, min(price) AS lo, \
         max(price) AS hi, first(price) AS f, last(price) AS l, vwap(price, volume) AS vw, \
         count(price) AS np FROM t GROUP BY symbol ORDER BY symbol",
    );
    assert_eq!(rows.len(), expected.len(), "one row per symbol");
    for (row, (symbol, stats)) in rows.iter().zip(&expected) {
        assert_eq!(json_str(&row["symbol"]), symbol);
        assert_eq!(json_i64(&row["n"]) as u64, stats.count, "{symbol} count");
        assert_eq!(
            json_i64(&row["np"]) as u64,
            stats.count,
            "{symbol} count(price)"
        );
        assert_eq!(
            json_i64(&row["v"]),
            stats.volume_sum,
            "{symbol} sum(volume)"
        );
        assert_close(
            json_f64(&row["a"]),
            stats.price_avg(),
            &format!("{symbol} avg"),
        );
        assert_eq!(json_f64(&row["lo"]), stats.price_min, "{symbol} min");
        assert_eq!(json_f64(&row["hi"]), stats.price_max, "{symbol} max");
        assert_eq!(json_f64(&row["f"]), stats.first_price, "{symbol} first");
        assert_eq!(json_f64(&row["l"]), stats.last_price, "{symbol} last");
        assert_close(
            json_f64(&row["vw"]),
            stats.vwap(),
            &format!("{symbol} vwap"),
        );
    }
}

/// Whether a WHERE clause keeps a tick, computed by the test.
type KeepsTick = Box<dyn Fn(&Tick) -> bool>;

#[test]
fn filtered_counts_and_sums_per_symbol_match_a_plain_filter() {
    let (server, ticks) = loaded_server("t", 13);
    let cut_ts = ticks[ROWS_COUNT / 3].ts_ns;
    let filters: [(String, KeepsTick); 3] = [
        ("price > 640.5".into(), Box::new(|t| t.price > 640.5)),
        ("volume <= 2500".into(), Box::new(|t| t.volume <= 2500)),
        (
            format!("timestamp < {cut_ts} AND price > 300"),
            Box::new(move |t| t.ts_ns < cut_ts && t.price > 300.0),
        ),
    ];
    for (filter, keeps) in &filters {
        let mut expected: BTreeMap<&str, (u64, i64, f64)> = BTreeMap::new();
        for tick in ticks.iter().filter(|t| keeps(t)) {
            let entry = expected.entry(tick.symbol.as_str()).or_default();
            *entry = (entry.0 + 1, entry.1 + tick.volume, entry.2 + tick.price);
        }
        let rows = server.query_rows(&format!(
            "SELECT symbol, count() AS n, sum(volume) AS v, avg(volume) AS a, sum(price) AS p \
             FROM t WHERE {filter} GROUP BY symbol ORDER BY symbol"
        ));
        assert_eq!(
            rows.len(),
            expected.len(),
            "{filter}: symbols with a kept row"
        );
        for (row, (symbol, (n, volume, price))) in rows.iter().zip(&expected) {
            let what = format!("{filter}, {symbol}");
            assert_eq!(json_str(&row["symbol"]), *symbol, "{what}");
            assert_eq!(json_i64(&row["n"]) as u64, *n, "{what}: count()");
            assert_eq!(json_i64(&row["v"]), *volume, "{what}: sum(volume)");
            let average = *volume as f64 / *n as f64;
            assert_close(
                json_f64(&row["a"]),
                average,
                &format!("{what}: avg(volume)"),
            );
            assert_close(json_f64(&row["p"]), *price, &format!("{what}: sum(price)"));
        }
    }
}

#[test]
fn having_order_by_desc_limit_offset() {
    let (server, ticks) = loaded_server("t", 13);
    let stats = stats_by_symbol(&ticks);
    let mut counts: Vec<u64> = stats.values().map(|s| s.count).collect();
    counts.sort_unstable();
    let threshold = counts[counts.len() / 3]; // keeps roughly two thirds of the symbols
    let mut kept: Vec<(&String, &SymbolStats)> =
        stats.iter().filter(|(_, s)| s.count > threshold).collect();
    kept.sort_by(|a, b| b.1.volume_sum.cmp(&a.1.volume_sum).then(a.0.cmp(b.0)));
    let expected: Vec<_> = kept.iter().skip(3).take(7).collect();

    let rows = server.query_rows(&format!(
        "SELECT symbol, sum(volume) AS v, count(*) AS n FROM t GROUP BY symbol \
         HAVING count(*) > {threshold} ORDER BY v DESC, symbol ASC LIMIT 7 OFFSET 3"
    ));
    assert_eq!(rows.len(), expected.len());
    for (row, (symbol, s)) in rows.iter().zip(&expected) {
        assert_eq!(json_str(&row["symbol"]), symbol.as_str());
        assert_eq!(json_i64(&row["v"]), s.volume_sum);
        assert_eq!(json_i64(&row["n"]) as u64, s.count);
    }

    // The same with the aggregate spelled out in ORDER BY instead of its alias.
    let again = server.query_rows(&format!(
        "SELECT symbol, sum(volume) AS v, count(*) AS n FROM t GROUP BY symbol \
         HAVING count(*) > {threshold} ORDER BY sum(volume) DESC, symbol LIMIT 7 OFFSET 3"
    ));
    assert_eq!(again, rows, "ORDER BY alias and ORDER BY expression agree");

    // HAVING on an aggregate not in the select list.
    let avg_cut = 500.0;
    let expected_count = stats
        .values()
        .filter(|s| s.price_avg() > avg_cut && s.count > threshold)
        .count();
    let rows = server.query_rows(&format!(
        "SELECT symbol FROM t GROUP BY symbol HAVING avg(price) > {avg_cut} AND count(*) > \
         {threshold} ORDER BY symbol"
    ));
    assert_eq!(rows.len(), expected_count);
}

#[test]
fn order_by_expression_alias_and_arithmetic() {
    let (server, ticks) = loaded_server("t", 14);
    let mut by_notional: Vec<&Tick> = ticks.iter().collect();
    by_notional.sort_by(|a, b| {
        (b.price * b.volume as f64)
            .total_cmp(&(a.price * a.volume as f64))
            .then(a.ts_ns.cmp(&b.ts_ns))
    });
    let rows = server.query_rows(
        "SELECT symbol, timestamp, price * volume AS notional, price + 1.5 AS up, \
         price - 0.25 AS down, price / 4 AS quarter, (price + price) * 2 AS quad \
         FROM t ORDER BY notional DESC LIMIT 10",
    );
    assert_eq!(rows.len(), 10);
    for (row, tick) in rows.iter().zip(&by_notional) {
        assert_eq!(json_str(&row["symbol"]), tick.symbol);
        assert_eq!(json_str(&row["timestamp"]), format_ts(tick.ts_ns));
        assert_close(
            json_f64(&row["notional"]),
            tick.price * tick.volume as f64,
            "notional",
        );
        assert_close(json_f64(&row["up"]), tick.price + 1.5, "price + 1.5");
        assert_close(json_f64(&row["down"]), tick.price - 0.25, "price - 0.25");
        assert_close(json_f64(&row["quarter"]), tick.price / 4.0, "price / 4");
        assert_close(
            json_f64(&row["quad"]),
            (tick.price + tick.price) * 2.0,
            "(p+p)*2",
        );
    }

    // Ascending on a plain column with OFFSET, across both shards.
    let mut by_price: Vec<&Tick> = ticks.iter().collect();
    by_price.sort_by(|a, b| a.price.total_cmp(&b.price));
    let rows =
        server.query_rows("SELECT price, volume FROM t ORDER BY price ASC LIMIT 5 OFFSET 10");
    let got: Vec<f64> = rows.iter().map(|r| json_f64(&r["price"])).collect();
    let want: Vec<f64> = by_price[10..15].iter().map(|t| t.price).collect();
    assert_eq!(got, want);
}

#[test]
fn where_in_between_not_or_and_is_null() {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, "t");
    let ticks = gen_ticks(15, 1_000, SYMBOLS_COUNT);
    // Every 7th row arrives without a volume: NULL.
    let without_volume: Vec<(usize, &Tick)> = ticks
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 7 == 0)
        .collect();
    let with_volume: Vec<(usize, &Tick)> = ticks
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 7 != 0)
        .collect();
    let with_volume: Vec<Tick> = with_volume.into_iter().map(|(_, t)| t.clone()).collect();
    insert_values(&server, "t", &with_volume, 200);
    for chunk in without_volume.chunks(50) {
        let values: Vec<String> = chunk
            .iter()
            .map(|(_, t)| format!("('{}', {}, {:?})", t.symbol, t.ts_ns, t.price))
            .collect();
        server.exec(&format!(
            "INSERT INTO t (symbol, timestamp, price) VALUES {}",
            values.join(", ")
        ));
    }
    let nulls_count = without_volume.len() as i64;
    let count = |sql: &str| json_i64(&server.query_scalar(sql));

    assert_eq!(count("SELECT count(*) FROM t"), ticks.len() as i64);
    assert_eq!(
        count("SELECT count(*) FROM t WHERE volume IS NULL"),
        nulls_count
    );
    assert_eq!(
        count("SELECT count(*) FROM t WHERE volume IS NOT NULL"),
        ticks.len() as i64 - nulls_count
    );
    assert_eq!(
        count("SELECT count(volume) FROM t"),
        ticks.len() as i64 - nulls_count
    );
    let sum_non_null: i64 = with_volume.iter().map(|t| t.volume).sum();
    assert_eq!(
        count("SELECT sum(volume) FROM t"),
        sum_non_null,
        "sum skips NULLs"
    );

    let wanted = ["S001", "S017", "S042"];
    let in_count = ticks
        .iter()
        .filter(|t| wanted.contains(&t.symbol.as_str()))
        .count();
    assert_eq!(
        count("SELECT count(*) FROM t WHERE symbol IN ('S001', 'S017', 'S042')"),
        in_count as i64
    );
    assert_eq!(
        count("SELECT count(*) FROM t WHERE symbol NOT IN ('S001', 'S017', 'S042')"),
        (ticks.len() - in_count) as i64
    );

    let (lo, hi) = (200.0, 400.0);
    let between = ticks
        .iter()
        .filter(|t| t.price >= lo && t.price <= hi)
        .count();
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM t WHERE price BETWEEN {lo:?} AND {hi:?}"
        )),
        between as i64
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM t WHERE NOT (price BETWEEN {lo:?} AND {hi:?})"
        )),
        (ticks.len() - between) as i64
    );
    let either = ticks
        .iter()
        .enumerate()
        .filter(|(i, t)| t.symbol == "S005" || (t.price > 900.0 && i % 7 != 0 && t.volume < 5000))
        .count();
    assert_eq!(
        count("SELECT count(*) FROM t WHERE symbol = 'S005' OR (price > 900.0 AND volume < 5000)"),
        either as i64,
        "NULL volume compares as unknown, so those rows only match through symbol"
    );
    let ts_cut = ticks[500].ts_ns;
    let after = ticks
        .iter()
        .filter(|t| t.ts_ns >= ts_cut && t.symbol != "S000")
        .count();
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM t WHERE timestamp >= {ts_cut} AND NOT symbol = 'S000'"
        )),
        after as i64
    );

    // NULLs come back as JSON null.
    let first_null = without_volume[0].1;
    let rows = server.query_rows(&format!(
        "SELECT volume FROM t WHERE symbol = '{}' AND timestamp = {}",
        first_null.symbol, first_null.ts_ns
    ));
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0]["volume"].is_null(),
        "missing volume is NULL: {:?}",
        rows[0]
    );
}

#[test]
fn count_distinct_counts_each_value_once() {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, "t");
    let mut ticks = gen_ticks(16, 1_500, SYMBOLS_COUNT);
    for tick in &mut ticks {
        tick.volume %= 37; // many repeats
    }
    insert_values(&server, "t", &ticks, 250);
    let distinct_volumes: BTreeSet<i64> = ticks.iter().map(|t| t.volume).collect();
    let distinct_symbols: BTreeSet<&str> = ticks.iter().map(|t| t.symbol.as_str()).collect();
    assert_eq!(
        json_i64(&server.query_scalar("SELECT count(DISTINCT volume) FROM t")),
        distinct_volumes.len() as i64
    );
    assert_eq!(
        json_i64(&server.query_scalar("SELECT count(DISTINCT symbol) FROM t")),
        distinct_symbols.len() as i64
    );
    // Per group: distinct volumes per symbol.
    let mut per_symbol: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
    for tick in &ticks {
        per_symbol
            .entry(&tick.symbol)
            .or_default()
            .insert(tick.volume);
    }
    let rows = server.query_rows(
        "SELECT symbol, count(DISTINCT volume) AS d FROM t GROUP BY symbol ORDER BY symbol",
    );
    assert_eq!(rows.len(), per_symbol.len());
    for (row, (symbol, volumes)) in rows.iter().zip(&per_symbol) {
        assert_eq!(json_str(&row["symbol"]), *symbol);
        assert_eq!(json_i64(&row["d"]), volumes.len() as i64, "{symbol}");
    }
}

#[test]
fn point_queries_find_every_symbol_on_its_shard() {
    let (server, ticks) = loaded_server("t", 17);
    let stats = stats_by_symbol(&ticks);
    assert!(
        stats.len() >= 50,
        "at least 50 symbols so both shards own some"
    );
    for (symbol, s) in &stats {
        let rows = server.query_rows(&format!(
            "SELECT count(*) AS n, sum(volume) AS v, last(price) AS l FROM t WHERE symbol = '{symbol}'"
        ));
        assert_eq!(json_i64(&rows[0]["n"]) as u64, s.count, "{symbol}");
        assert_eq!(json_i64(&rows[0]["v"]), s.volume_sum, "{symbol}");
        assert_eq!(json_f64(&rows[0]["l"]), s.last_price, "{symbol}");
    }
    let missing = server.query_rows("SELECT count(*) AS n FROM t WHERE symbol = 'NOPE'");
    assert_eq!(json_i64(&missing[0]["n"]), 0);
}

#[test]
fn out_of_order_inserts_read_back_in_timestamp_order() {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, "t");
    let mut rng = Rng::new(18);
    // 600 rows of X, plus other symbols interleaved, inserted in shuffled order over many
    // statements, so later statements carry older timestamps.
    let mut ticks = gen_ticks(18, 1_200, 8);
    for tick in ticks.iter_mut().step_by(2) {
        tick.symbol = "X".to_string();
    }
    let mut shuffled = ticks.clone();
    rng.shuffle(&mut shuffled);
    insert_values(&server, "t", &shuffled, 40);

    let mut x_ts: Vec<i64> = ticks
        .iter()
        .filter(|t| t.symbol == "X")
        .map(|t| t.ts_ns)
        .collect();
    x_ts.sort_unstable();
    let rows = server.query_rows("SELECT timestamp FROM t WHERE symbol = 'X' ORDER BY timestamp");
    let got: Vec<String> = rows
        .iter()
        .map(|r| json_str(&r["timestamp"]).to_owned())
        .collect();
    let want: Vec<String> = x_ts.iter().map(|&ns| format_ts(ns)).collect();
    assert_eq!(got, want);

    let stats = stats_by_symbol(&ticks);
    for (symbol, s) in &stats {
        let rows = server.query_rows(&format!(
            "SELECT first(price) AS f, last(price) AS l, min(timestamp) AS t0, \
             max(timestamp) AS t1 FROM t WHERE symbol = '{symbol}'"
        ));
        assert_eq!(
            json_f64(&rows[0]["f"]),
            s.first_price,
            "first(price) of {symbol}"
        );
        assert_eq!(
            json_f64(&rows[0]["l"]),
            s.last_price,
            "last(price) of {symbol}"
        );
        assert_eq!(json_str(&rows[0]["t0"]), format_ts(s.first_ts_ns));
        assert_eq!(json_str(&rows[0]["t1"]), format_ts(s.last_ts_ns));
    }
    let rows = server.query_rows(
        "SELECT symbol, first(price) AS f, last(price) AS l FROM t GROUP BY symbol ORDER BY symbol",
    );
    assert_eq!(rows.len(), stats.len());
    for (row, (symbol, s)) in rows.iter().zip(&stats) {
        assert_eq!(json_str(&row["symbol"]), symbol);
        assert_eq!(
            json_f64(&row["f"]),
            s.first_price,
            "grouped first(price) of {symbol}"
        );
        assert_eq!(
            json_f64(&row["l"]),
            s.last_price,
            "grouped last(price) of {symbol}"
        );
    }
    let desc = server
        .query_rows("SELECT timestamp FROM t WHERE symbol = 'X' ORDER BY timestamp DESC LIMIT 3");
    let want_desc: Vec<String> = x_ts.iter().rev().take(3).map(|&ns| format_ts(ns)).collect();
    let got_desc: Vec<String> = desc
        .iter()
        .map(|r| json_str(&r["timestamp"]).to_owned())
        .collect();
    assert_eq!(got_desc, want_desc);
}

#[test]
fn timestamps_accept_text_and_integer_nanoseconds() {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, "t");
    server.exec(
        "INSERT INTO t VALUES ('A', '2024-01-02 09:30:00', 1.5, 1), \
         ('A', 1704187800000000001, 2.5, 2), ('B', '2024-01-02 09:30:00.123456789', 3.5, 3)",
    );
    let rows = server.query_rows("SELECT symbol, timestamp FROM t ORDER BY timestamp");
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                json_str(&r["symbol"]).to_owned(),
                json_str(&r["timestamp"]).to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("A".to_owned(), "2024-01-02 09:30:00.000000000".to_owned()),
            ("A".to_owned(), "2024-01-02 09:30:00.000000001".to_owned()),
            ("B".to_owned(), "2024-01-02 09:30:00.123456789".to_owned()),
        ]
    );
    let n = server.query_scalar(&format!(
        "SELECT count(*) FROM t WHERE timestamp BETWEEN {BASE_TS_NS} AND {}",
        BASE_TS_NS + 1
    ));
    assert_eq!(json_i64(&n), 2);
}

#[test]
fn integer_sum_overflow_is_an_error_not_a_wrapped_value() {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, "t");
    server.exec(&format!(
        "INSERT INTO t VALUES ('A', {BASE_TS_NS}, 1.0, 9223372036854775807), \
         ('A', {}, 1.0, 9223372036854775807), ('B', {}, 1.0, 5)",
        BASE_TS_NS + 1,
        BASE_TS_NS + 2
    ));
    let reply = server.post_sql("SELECT sum(volume) FROM t");
    assert_eq!(
        reply.status,
        400,
        "Int64 sum overflow must be refused: {}",
        reply.text()
    );
    let reply = server.post_sql("SELECT symbol, sum(volume) FROM t GROUP BY symbol");
    assert_eq!(
        reply.status,
        400,
        "grouped Int64 sum overflow must be refused: {}",
        reply.text()
    );
    // A sum that fits still works, and so does the server.
    assert_eq!(
        json_i64(&server.query_scalar("SELECT sum(volume) FROM t WHERE symbol = 'B'")),
        5
    );
    assert_eq!(
        json_i64(&server.query_scalar("SELECT max(volume) FROM t")),
        i64::MAX,
        "Int64::MAX survives the round trip"
    );
    server.assert_alive();
}

#[test]
fn show_tables_describe_and_drop() {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, "trades_a");
    server.exec(
        "CREATE TABLE quotes_b (symbol SYMBOL, timestamp TIMESTAMP, bid FLOAT64, ask FLOAT32, \
         bid_size INT32, halted BOOL)",
    );
    server.exec("CREATE TABLE IF NOT EXISTS quotes_b (symbol SYMBOL, timestamp TIMESTAMP)");
    let again = server.post_sql(&format!("CREATE TABLE trades_a {TRADES_COLUMNS_SQL}"));
    assert!(
        (400..500).contains(&again.status),
        "creating an existing table is the client's error: {} {}",
        again.status,
        again.text()
    );

    let table_names = |server: &ServerProcess| -> BTreeSet<String> {
        server
            .query_rows("SHOW TABLES")
            .iter()
            .map(|row| json_str(row.values().next().expect("a column")).to_owned())
            .collect()
    };
    assert_eq!(
        table_names(&server),
        BTreeSet::from(["quotes_b".into(), "trades_a".into()])
    );

    let described = server.query_rows("DESCRIBE quotes_b");
    let columns: Vec<(String, String)> = described
        .iter()
        .map(|row| {
            (
                json_str(&row["name"]).to_owned(),
                json_str(&row["type"]).to_ascii_uppercase(),
            )
        })
        .collect();
    let expected = [
        ("symbol", ["SYMBOL", "STRING"]),
        ("timestamp", ["TIMESTAMP", "DATETIME64(9)"]),
        ("bid", ["FLOAT64", "FLOAT64"]),
        ("ask", ["FLOAT32", "FLOAT32"]),
        ("bid_size", ["INT32", "INT32"]),
        ("halted", ["BOOL", "BOOL"]),
    ];
    assert_eq!(columns.len(), expected.len(), "{columns:?}");
    for ((name, data_type), (want_name, want_types)) in columns.iter().zip(expected) {
        assert_eq!(name, want_name);
        assert!(
            want_types.contains(&data_type.as_str()),
            "{name}: type {data_type}"
        );
    }

    server.exec("INSERT INTO trades_a VALUES ('A', 1, 1.0, 1)");
    server.exec("DROP TABLE trades_a");
    let reply = server.post_sql("SELECT count(*) FROM trades_a");
    assert_error(&reply, 404, Some("trades_a"), "query after DROP TABLE");
    server.exec("DROP TABLE IF EXISTS trades_a");
    let reply = server.post_sql("DROP TABLE trades_a");
    assert_error(
        &reply,
        404,
        Some("trades_a"),
        "DROP TABLE of a missing table",
    );
    assert_eq!(table_names(&server), BTreeSet::from(["quotes_b".into()]));

    // A dropped name can be reused, and starts empty.
    create_trades_table(&server, "trades_a");
    assert_eq!(
        json_i64(&server.query_scalar("SELECT count(*) FROM trades_a")),
        0
    );
}

#[test]
fn read_your_writes_every_insert_is_visible_at_once() {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, "t");
    let ticks = gen_ticks(19, 1_000, SYMBOLS_COUNT);
    let mut inserted = 0usize;
    for chunk in ticks.chunks(50) {
        server.exec(&values_statement("t", chunk));
        inserted += chunk.len();
        let n = json_i64(&server.query_scalar("SELECT count(*) FROM t"));
        assert_eq!(
            n as usize, inserted,
            "count right after an acknowledged insert"
        );
        let last = chunk.last().unwrap();
        let rows = server.query_rows(&format!(
            "SELECT price FROM t WHERE symbol = '{}' AND timestamp = {}",
            last.symbol, last.ts_ns
        ));
        assert_eq!(rows.len(), 1, "the last row just inserted is visible");
        assert_eq!(json_f64(&rows[0]["price"]), last.price);
    }
    // And through GET too.
    let reply = server.get_sql("SELECT count(*) AS n FROM t");
    assert_eq!(reply.status, 200);
    assert_eq!(json_i64(&reply.json()["data"][0]["n"]), ticks.len() as i64);
}

#[test]
fn empty_results_and_aggregates_over_no_rows() {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, "t");
    let document = server.query_json("SELECT count(*) AS n FROM t");
    assert_eq!(
        document["data"],
        serde_json::json!([{"n": "0"}]),
        "count over no rows is 0"
    );
    let rows = server.query_rows("SELECT symbol, count(*) FROM t GROUP BY symbol");
    assert!(rows.is_empty(), "no groups from an empty table: {rows:?}");
    insert_values(&server, "t", &gen_ticks(41, 300, 20), 300);
    let document = server.query_json("SELECT price FROM t LIMIT 0");
    assert_eq!(document["rows"], serde_json::json!(0));
    assert_eq!(document["data"], serde_json::json!([]));
    assert!(server
        .query_rows("SELECT price FROM t LIMIT 10 OFFSET 300")
        .is_empty());
    let n = server.query_scalar("SELECT count(*) FROM t WHERE price < 0");
    assert_eq!(
        json_i64(&n),
        0,
        "a WHERE that matches nothing still gives one count row"
    );
}

#[test]
fn aggregates_skip_nulls() {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, "t");
    server.exec(&format!(
        "INSERT INTO t VALUES ('A', {BASE_TS_NS}, 1.0, 10), ('A', {}, 3.0, 30)",
        BASE_TS_NS + 2
    ));
    server.exec(&format!(
        "INSERT INTO t (symbol, timestamp, volume) VALUES ('A', {}, 20)",
        BASE_TS_NS + 1
    ));
    let rows = server.query_rows(
        "SELECT count(*) AS n, count(price) AS np, avg(price) AS a, min(price) AS lo, \
         max(price) AS hi, sum(price) AS s, sum(volume) AS v FROM t",
    );
    let row = &rows[0];
    assert_eq!(json_i64(&row["n"]), 3);
    assert_eq!(json_i64(&row["np"]), 2);
    assert_close(json_f64(&row["a"]), 2.0, "avg skips the NULL price");
    assert_eq!(json_f64(&row["lo"]), 1.0);
    assert_eq!(json_f64(&row["hi"]), 3.0);
    assert_eq!(json_f64(&row["s"]), 4.0);
    assert_eq!(json_i64(&row["v"]), 60);
}

#[test]
fn explicit_column_list_in_any_order_and_select_star() {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, "t");
    server.exec(&format!(
        "INSERT INTO t (volume, price, timestamp, symbol) VALUES (5, 2.5, {BASE_TS_NS}, 'Zürich€')"
    ));
    let document = server.query_json("SELECT * FROM t");
    let names: Vec<&str> = document["meta"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| json_str(&m["name"]))
        .collect();
    assert_eq!(
        names,
        ["symbol", "timestamp", "price", "volume"],
        "SELECT * in schema order"
    );
    assert_eq!(
        document["data"],
        serde_json::json!([{"symbol": "Zürich€", "timestamp": format_ts(BASE_TS_NS),
                            "price": 2.5, "volume": "5"}])
    );
    let reply = server.post_sql("SELECT symbol FROM t FORMAT CSV");
    assert_eq!(reply.text(), "\"Zürich€\"\n");
}

#[test]
fn narrow_types_round_trip_with_their_clickhouse_names() {
    let server = ServerProcess::start(&[]);
    server.exec("CREATE TABLE w (symbol SYMBOL, timestamp TIMESTAMP, f FLOAT32, i INT32, b BOOL)");
    server.exec(&format!(
        "INSERT INTO w VALUES ('A', {BASE_TS_NS}, 1.1, -7, true), \
         ('B', {}, 0.1, 2147483647, false), ('C', {}, -3.5, -2147483648, true)",
        BASE_TS_NS + 1,
        BASE_TS_NS + 2
    ));
    let document = server.query_json("SELECT f, i, b FROM w ORDER BY timestamp");
    let types: Vec<&str> = document["meta"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| json_str(&m["type"]))
        .collect();
    assert_eq!(types, ["Float32", "Int32", "Bool"]);
    let data = document["data"].as_array().unwrap();
    let floats: Vec<f32> = data.iter().map(|r| json_f64(&r["f"]) as f32).collect();
    assert_eq!(floats, [1.1_f32, 0.1_f32, -3.5_f32]);
    let ints: Vec<i64> = data.iter().map(|r| json_i64(&r["i"])).collect();
    assert_eq!(ints, [-7, 2_147_483_647, -2_147_483_648]);
    let bools: Vec<bool> = data
        .iter()
        .map(|r| r["b"].as_bool().expect("a JSON bool"))
        .collect();
    assert_eq!(bools, [true, false, true]);
    let total = server.query_scalar("SELECT sum(i) FROM w");
    assert_eq!(
        json_i64(&total),
        -7 + 2_147_483_647 - 2_147_483_648,
        "INT32 sums do not wrap"
    );
    let reply = server.post_sql(&format!(
        "INSERT INTO w VALUES ('D', {}, 1.0, 2147483648, true)",
        BASE_TS_NS + 3
    ));
    assert_error(&reply, 400, Some("`i`"), "INT32 overflow on insert");
}

#[test]
fn concurrent_clients_each_read_their_own_writes() {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, "t");
    let clients_count = 4;
    let batches_count = 15;
    std::thread::scope(|scope| {
        for client in 0..clients_count {
            let server = &server;
            scope.spawn(move || {
                let symbol = format!("C{client}");
                for batch in 0..batches_count {
                    let mut ticks = gen_ticks(100 + client as u64 * 1000 + batch as u64, 20, 1);
                    for tick in &mut ticks {
                        tick.symbol = symbol.clone();
                        tick.ts_ns += batch as i64 * 1_000_000_000;
                    }
                    server.exec(&values_statement("t", &ticks));
                    let n = server
                        .query_scalar(&format!("SELECT count(*) FROM t WHERE symbol = '{symbol}'"));
                    assert_eq!(
                        json_i64(&n),
                        (batch as i64 + 1) * 20,
                        "{symbol} batch {batch}"
                    );
                }
            });
        }
    });
    let total = server.query_scalar("SELECT count(*) FROM t");
    assert_eq!(
        json_i64(&total),
        (clients_count * batches_count * 20) as i64
    );
}
