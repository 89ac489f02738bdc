//! The peer benchmark's workloads W1..W7 on its 1M-row tick data set (seed 42), answered by a
//! real server and checked against the harness's reference answers (tests/data, computed by
//! shared/bench/gen.py with exact integer arithmetic), the way `workloads.check` checks every
//! peer: counts and integer sums exact, floating results within 1e-9 relative.
//!
//! The rows come from `quecto_perf::tickgen`, whose column hashes are pinned to the harness's
//! `dataset.json` by its own tests; here the query literals are pinned to it as well. The SQL is
//! the harness's ClickHouse text, which is what `perf/peers/quecto_plugin.py` sends: derived
//! tables, intDiv, argMin/argMax and DuckDB's `ASOF JOIN … ON` included.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use quecto_perf::tickgen::{
    query_params, quotes_generate, trades_generate, TickQueryParams, TICK_QUOTES_COLUMNS_SQL,
    TICK_TRADES_COLUMNS_SQL,
};
use quecto_tests::*;
use serde_json::Value as Json;

/// Rows per RowBinary request: 4 MiB of trades, 6 MiB of quotes.
const LOAD_CHUNK_ROWS: usize = 1 << 17;

/// The harness's answers (and the query literals they were computed with).
fn reference() -> Json {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/n1000000_q1000000_s42.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A server holding the data set's trades (and quotes when asked), with the query literals.
fn loaded_server(with_quotes: bool) -> (ServerProcess, TickQueryParams, Json) {
    let reference = reference();
    let dataset = &reference["dataset"];
    let seed = dataset["seed"].as_u64().unwrap();
    let trades = trades_generate(dataset["trades_rows"].as_u64().unwrap() as usize, seed).unwrap();
    let params = query_params(&trades).unwrap();
    check_params(&params, &reference["query_params"]);
    // The answers do not depend on durability: skip the WAL's fdatasyncs.
    let server = ServerProcess::start(&["--wal-mode", "off"]);
    server.exec(&format!("CREATE TABLE trades {TICK_TRADES_COLUMNS_SQL}"));
    load(&server, "trades", trades.rows_count(), |rows| {
        trades.row_binary(rows)
    });
    if with_quotes {
        let quotes =
            quotes_generate(dataset["quotes_rows"].as_u64().unwrap() as usize, seed).unwrap();
        server.exec(&format!("CREATE TABLE quotes {TICK_QUOTES_COLUMNS_SQL}"));
        load(&server, "quotes", quotes.rows_count(), |rows| {
            quotes.row_binary(rows)
        });
    }
    (server, params, reference)
}

fn load(
    server: &ServerProcess,
    table: &str,
    rows_count: usize,
    encode: impl Fn(std::ops::Range<usize>) -> Vec<u8>,
) {
    let query = format!("INSERT INTO {table} FORMAT RowBinary");
    for start in (0..rows_count).step_by(LOAD_CHUNK_ROWS) {
        let body = encode(start..rows_count.min(start + LOAD_CHUNK_ROWS));
        let reply = server.post_query_with_body(&query, &body);
        assert_eq!(
            reply.status,
            200,
            "{query} at row {start}: {}",
            reply.text()
        );
    }
}

fn check_params(params: &TickQueryParams, want: &Json) {
    let int = |name: &str| want[name].as_i64().unwrap();
    assert_eq!(params.symbol, int("symbol"));
    assert_eq!(
        params.price_threshold,
        want["price_threshold"].as_str().unwrap()
    );
    assert_eq!(params.bar_ns, int("bar_ns"));
    assert_eq!(params.w3_ts_to, int("w3_ts_to"));
    assert_eq!(params.w7_ts_from, int("w7_ts_from"));
}

/// Our SQL text of workload `key` (the harness's ClickHouse dialect).
fn workload_sql(key: &str, p: &TickQueryParams) -> String {
    let (s, x, bar) = (p.symbol, &p.price_threshold, p.bar_ns);
    let ohlc = |filter: &str| {
        format!(
            "SELECT count() AS bars, sum(o), sum(h), sum(l), sum(c), sum(v) FROM (\
             SELECT symbol, intDiv(ts, {bar}) AS b, argMin(price, ts) AS o, max(price) AS h, \
             min(price) AS l, argMax(price, ts) AS c, sum(volume) AS v FROM trades{filter} \
             GROUP BY symbol, b) AS bars"
        )
    };
    match key {
        "w1_load" => "SELECT count(), sum(volume), sum(symbol) FROM trades".into(),
        "quotes_load" => "SELECT count(), sum(bid_size) FROM quotes".into(),
        "w2_vwap_symbol" => {
            format!(
                "SELECT count(), sum(price * volume) / sum(volume) FROM trades WHERE symbol = {s}"
            )
        }
        "w3_filter_full" => format!("SELECT count(), sum(volume) FROM trades WHERE price > {x}"),
        "w3_filter_1m" => format!(
            "SELECT count(), sum(volume) FROM trades WHERE ts < {} AND price > {x}",
            p.w3_ts_to
        ),
        "w4_ohlc_symbol" => ohlc(&format!(" WHERE symbol = {s}")),
        "w4_ohlc_all" => ohlc(""),
        "w5_vwap_by_symbol" => "SELECT symbol, count(), sum(price * volume) / sum(volume) \
                                FROM trades GROUP BY symbol ORDER BY symbol"
            .into(),
        "w6_asof_symbol" => format!(
            "SELECT count(), sum(t.volume * (t.price - (q.bid + q.ask) / 2)), sum(q.ask - q.bid) \
             FROM (SELECT symbol, ts, price, volume FROM trades WHERE symbol = {s}) AS t \
             ASOF JOIN (SELECT symbol, ts, bid, ask FROM quotes WHERE symbol = {s}) AS q \
             ON t.symbol = q.symbol AND t.ts >= q.ts"
        ),
        "w7_recent" => format!(
            "SELECT count(), sum(volume) FROM trades WHERE ts >= {}",
            p.w7_ts_from
        ),
        other => panic!("no workload {other}"),
    }
}

/// One expected field: integers compare exactly, floats within 1e-9 relative.
#[derive(Debug)]
enum Expected {
    Int(i64),
    Float(f64),
}

/// The expected first row of a one-row workload, from the reference answers.
fn expected_row(key: &str, answer: &Json) -> Vec<Expected> {
    let int = |name: &str| Expected::Int(answer[name].as_i64().unwrap());
    let float = |name: &str| Expected::Float(answer[name].as_f64().unwrap());
    match key {
        "w1_load" => vec![int("count"), int("sum_volume"), int("sum_symbol")],
        "quotes_load" => vec![int("count"), int("sum_bid_size")],
        "w2_vwap_symbol" => vec![int("count"), float("vwap")],
        "w3_filter_full" | "w3_filter_1m" | "w7_recent" => vec![int("count"), int("sum_volume")],
        "w4_ohlc_symbol" | "w4_ohlc_all" => vec![
            int("bars"),
            float("sum_open"),
            float("sum_high"),
            float("sum_low"),
            float("sum_close"),
            int("sum_volume"),
        ],
        "w6_asof_symbol" => vec![
            int("count"),
            float("sum_volume_x_price_minus_mid"),
            float("sum_spread"),
        ],
        other => panic!("no one-row workload {other}"),
    }
}

/// W5's rows: `[symbol, count, vwap]` per traded symbol, by symbol.
fn expected_rows_w5(answer: &Json) -> Vec<Vec<Expected>> {
    let rows = answer["rows"].as_array().unwrap();
    let row = |r: &Json| {
        vec![
            Expected::Int(r[0].as_i64().unwrap()),
            Expected::Int(r[1].as_i64().unwrap()),
            Expected::Float(r[2].as_f64().unwrap()),
        ]
    };
    rows.iter().map(row).collect()
}

/// Runs workload `key` and compares every field of every row with the reference.
fn check_workload(server: &ServerProcess, params: &TickQueryParams, reference: &Json, key: &str) {
    let sql = workload_sql(key, params);
    let answer = &reference["answers"][key];
    let expected = match key {
        "w5_vwap_by_symbol" => expected_rows_w5(answer),
        _ => vec![expected_row(key, answer)],
    };
    let reply = server.post_sql(&format!("{sql} FORMAT TabSeparated"));
    assert_eq!(reply.status, 200, "{key}: {sql}\n{}", reply.text());
    let text = reply.text();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|line| line.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), expected.len(), "{key}: rows of {sql}\n{text}");
    for (index, (row, want)) in rows.iter().zip(&expected).enumerate() {
        assert_eq!(row.len(), want.len(), "{key} row {index}: {row:?}");
        for (field, want) in row.iter().zip(want) {
            let what = format!("{key} row {index} {row:?}, expected {want:?}");
            match want {
                Expected::Int(value) => {
                    assert_eq!(field.parse::<i64>().ok(), Some(*value), "{what}")
                }
                Expected::Float(value) => assert_close(field.parse().unwrap(), *value, &what),
            }
        }
    }
}

#[test]
fn single_table_workloads_match_the_reference_answers() {
    let (server, params, reference) = loaded_server(true);
    for key in [
        "w1_load",
        "quotes_load",
        "w2_vwap_symbol",
        "w3_filter_full",
        "w3_filter_1m",
        "w5_vwap_by_symbol",
        "w7_recent",
    ] {
        check_workload(&server, &params, &reference, key);
    }
}

#[test]
fn w4_ohlc_one_symbol_matches_the_reference_answers() {
    let (server, params, reference) = loaded_server(false);
    check_workload(&server, &params, &reference, "w4_ohlc_symbol");
}

#[test]
fn w4_ohlc_all_symbols_matches_the_reference_answers() {
    let (server, params, reference) = loaded_server(false);
    check_workload(&server, &params, &reference, "w4_ohlc_all");
}

#[test]
fn w6_asof_join_one_symbol_matches_the_reference_answers() {
    let (server, params, reference) = loaded_server(true);
    check_workload(&server, &params, &reference, "w6_asof_symbol");
}
