//! `peers-load`: the peer benchmark's tick data set ([`crate::tickgen`]) loaded into a running
//! server, so that its workloads (perf/peers, shared/bench/workloads.py) can be run by hand
//! against exactly the tables the harness compares.
//!
//! Each table is dropped, created with our types and filled with RowBinary requests of
//! `chunk_rows_count` rows; a `peers_load` line reports each table, and a `peers_params` line
//! the literals the workloads use with this data set.

use std::io::Write;
use std::ops::Range;
use std::time::Instant;

use crate::bench::line_write;
use crate::client::HttpClient;
use crate::error::BenchError;
use crate::gen::InsertFormat;
use crate::report::rate_format;
use crate::tickgen::{
    query_params, quotes_generate, trades_generate, TickQueryParams, TICK_QUOTES_COLUMNS_SQL,
    TICK_TRADES_COLUMNS_SQL,
};

/// What `peers-load` generates and how it sends it (checked by `PeersLoadArgs::config`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeersLoadConfig {
    /// Trades, 1..=`ROWS_MAX`.
    pub trades_rows_count: usize,
    /// Quotes, 1..=`ROWS_MAX`.
    pub quotes_rows_count: usize,
    /// The data set's seed (the harness's default is `TICK_SEED_DEFAULT`).
    pub seed: u64,
    /// Rows per RowBinary request, 1..=`BATCH_ROWS_MAX`.
    pub chunk_rows_count: usize,
}

/// Generates the data set, (re)creates and loads `trades` and `quotes`, and prints one
/// `peers_load` line per table and a `peers_params` line.
pub fn peers_load_run(
    out: &mut impl Write,
    client: &HttpClient,
    config: &PeersLoadConfig,
) -> Result<(), BenchError> {
    debug_assert!(config.chunk_rows_count > 0);
    let trades = trades_generate(config.trades_rows_count, config.seed)?;
    let params = query_params(&trades)?;
    let quotes = quotes_generate(config.quotes_rows_count, config.seed)?;
    let trades_table = PeersTable {
        name: "trades",
        columns_sql: TICK_TRADES_COLUMNS_SQL,
        rows_count: trades.rows_count(),
    };
    peers_load_table(out, client, &trades_table, config, |rows| {
        trades.row_binary(rows)
    })?;
    let quotes_table = PeersTable {
        name: "quotes",
        columns_sql: TICK_QUOTES_COLUMNS_SQL,
        rows_count: quotes.rows_count(),
    };
    peers_load_table(out, client, &quotes_table, config, |rows| {
        quotes.row_binary(rows)
    })?;
    line_write(out, &params_line(&params))
}

/// One table of the data set.
struct PeersTable {
    name: &'static str,
    columns_sql: &'static str,
    rows_count: usize,
}

fn peers_load_table(
    out: &mut impl Write,
    client: &HttpClient,
    table: &PeersTable,
    config: &PeersLoadConfig,
    encode: impl Fn(Range<usize>) -> Vec<u8>,
) -> Result<(), BenchError> {
    let name = table.name;
    client.query(&format!("DROP TABLE IF EXISTS {name}"))?;
    client.query(&format!("CREATE TABLE {name} {}", table.columns_sql))?;
    let start = Instant::now();
    for first in (0..table.rows_count).step_by(config.chunk_rows_count) {
        let end = table.rows_count.min(first + config.chunk_rows_count);
        client.post_insert(name, InsertFormat::RowBinary, &encode(first..end))?;
    }
    let elapsed = start.elapsed();
    line_write(
        out,
        &format!(
            "peers_load  table={name} rows={} elapsed_s={:.2} rows_per_s={}",
            table.rows_count,
            elapsed.as_secs_f64(),
            rate_format(table.rows_count as u64, elapsed)
        ),
    )
}

/// `peers_params  symbol=1 price_threshold=100.005 w3_ts_to=… w7_ts_from=… bar_ns=…`.
pub fn params_line(params: &TickQueryParams) -> String {
    format!(
        "peers_params  symbol={} price_threshold={} w3_ts_to={} w7_ts_from={} bar_ns={} \
         ts_min={} ts_max={}",
        params.symbol,
        params.price_threshold,
        params.w3_ts_to,
        params.w7_ts_from,
        params.bar_ns,
        params.ts_min,
        params.ts_max
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_responder::{Reply, Responder};

    #[test]
    fn peers_load_creates_both_tables_and_sends_every_row_once() {
        // 2 statements + 3 trade chunks (2, 2, 1 rows) + 2 statements + 1 quote chunk.
        let responder = Responder::start(8, |_| Reply::ok(""));
        let client = HttpClient::new(&responder.base_url()).unwrap();
        let config = PeersLoadConfig {
            trades_rows_count: 5,
            quotes_rows_count: 2,
            seed: 42,
            chunk_rows_count: 2,
        };
        let mut out = Vec::new();
        peers_load_run(&mut out, &client, &config).unwrap();
        let log = responder.finish();
        let bodies: Vec<&[u8]> = log.requests.iter().map(|r| r.body.as_slice()).collect();
        assert_eq!(bodies[0], b"DROP TABLE IF EXISTS trades");
        assert!(bodies[1].starts_with(b"CREATE TABLE trades (symbol INT64, ts TIMESTAMP"));
        let trades = trades_generate(5, 42).unwrap();
        let sent_trades: Vec<u8> = bodies[2..5].concat();
        assert_eq!(sent_trades, trades.row_binary(0..5));
        assert_eq!(bodies[4].len(), 32, "the last chunk holds the one row left");
        assert_eq!(bodies[5], b"DROP TABLE IF EXISTS quotes");
        assert_eq!(bodies[7], quotes_generate(2, 42).unwrap().row_binary(0..2));
        assert!(log.requests[2]
            .target
            .contains("INSERT%20INTO%20trades%20FORMAT%20RowBinary"));
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("peers_load  table=trades rows=5 "), "{text}");
        assert!(text.contains("peers_load  table=quotes rows=2 "), "{text}");
        let params = query_params(&trades).unwrap();
        assert!(
            text.ends_with(&format!("{}\n", params_line(&params))),
            "{text}"
        );
    }

    #[test]
    fn peers_load_stops_at_the_first_refused_request() {
        let responder = Responder::start(2, |request| {
            if request.body.starts_with(b"CREATE") {
                Reply {
                    status: 400,
                    body: "unknown type",
                }
            } else {
                Reply::ok("")
            }
        });
        let client = HttpClient::new(&responder.base_url()).unwrap();
        let config = PeersLoadConfig {
            trades_rows_count: 3,
            quotes_rows_count: 3,
            seed: 1,
            chunk_rows_count: 10,
        };
        let error = peers_load_run(&mut Vec::new(), &client, &config).unwrap_err();
        assert!(
            matches!(error, BenchError::Status { status: 400, .. }),
            "{error}"
        );
        assert_eq!(responder.finish().requests.len(), 2);
    }
}
