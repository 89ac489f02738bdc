//! The measurements behind each subcommand: timed loops over an `HttpClient`, and the lines
//! they print.
//!
//! Every loop runs exactly `warmup + count` iterations (or one per pre-encoded batch) and stops
//! at the first failed request: a benchmark that silently skips errors reports fiction. Only
//! the request is inside the clock; generation, encoding and formatting happen outside it.

use crate::cli::{gen_config_check, table_name_check, LoopCounts, SuiteArgs};
use crate::client::HttpClient;
use crate::error::{body_excerpt, BenchError};
use crate::gen::{batches_encode, symbol_name, EncodedBatch, GenConfig, InsertFormat};
use crate::gen::{SymbolChoice, SEED_DEFAULT};
use crate::report::{histogram_new, latency_format, latency_line, latency_record, rate_format};
use hdrhistogram::Histogram;
use std::io::Write;
use std::time::{Duration, Instant};

/// Rows per request in the suite's insert step, as the standard run prescribes.
pub const SUITE_BATCH_ROWS_COUNT: u64 = 10_000;

/// Distinct symbols in the suite's data.
pub const SUITE_SYMBOLS_COUNT: u32 = 1_000;

/// The latencies of one measured loop.
#[derive(Debug)]
pub struct Measurement {
    /// One sample per recorded iteration, in nanoseconds.
    pub histogram: Histogram<u64>,
    /// Wall time of the recorded iterations together (throughput = samples / elapsed).
    pub elapsed: Duration,
}

impl Measurement {
    /// Median latency in nanoseconds.
    pub fn p50_ns(&self) -> u64 {
        self.histogram.value_at_quantile(0.50)
    }
}

/// Runs `op` `counts.warmup` times unrecorded, then `counts.count` times timed one by one.
pub fn loop_measure(
    counts: LoopCounts,
    mut op: impl FnMut() -> Result<(), BenchError>,
) -> Result<Measurement, BenchError> {
    for _ in 0..counts.warmup {
        op()?;
    }
    let mut histogram = histogram_new()?;
    let start = Instant::now();
    for _ in 0..counts.count {
        let sent = Instant::now();
        op()?;
        latency_record(&mut histogram, sent.elapsed());
    }
    Ok(Measurement {
        histogram,
        elapsed: start.elapsed(),
    })
}

/// `ping`: /ping round trips; prints one latency line labelled `ping`.
pub fn ping_run(
    out: &mut impl Write,
    client: &HttpClient,
    counts: LoopCounts,
) -> Result<Measurement, BenchError> {
    let measurement = loop_measure(counts, || client.ping())?;
    line_write(
        out,
        &latency_line("ping", &measurement.histogram, measurement.elapsed),
    )?;
    Ok(measurement)
}

/// `query`: one statement repeated. Prints the statement and its first answer (one extra,
/// unrecorded execution), then the latency line under `label`.
pub fn query_run(
    out: &mut impl Write,
    client: &HttpClient,
    label: &str,
    sql: &str,
    counts: LoopCounts,
) -> Result<Measurement, BenchError> {
    line_write(
        out,
        &format!(
            "sql  label={label} text=\"{}\"",
            body_excerpt(sql.as_bytes())
        ),
    )?;
    let answer = client.query(sql)?;
    line_write(
        out,
        &format!(
            "answer  label={label} text=\"{}\"",
            body_excerpt(answer.as_bytes())
        ),
    )?;
    let measurement = loop_measure(counts, || client.query(sql).map(drop))?;
    line_write(
        out,
        &latency_line(label, &measurement.histogram, measurement.elapsed),
    )?;
    Ok(measurement)
}

/// The statement creating `table` with the trades schema, if missing.
pub fn table_create_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} \
         (symbol SYMBOL, timestamp TIMESTAMP, price FLOAT64, volume INT64)"
    )
}

/// What one insert run achieved.
#[derive(Debug)]
pub struct InsertOutcome {
    /// Rows acknowledged by the server.
    pub rows_count: u64,
    /// Body bytes sent.
    pub bytes_count: u64,
    /// One sample per batch.
    pub batches: Measurement,
}

/// `insert`: creates the table if missing, encodes every batch, then sends them one after
/// another. Prints `insert_prepare`, `insert` and `insert_batch` lines.
pub fn insert_run(
    out: &mut impl Write,
    client: &HttpClient,
    table: &str,
    config: &GenConfig,
) -> Result<InsertOutcome, BenchError> {
    client.query(&table_create_sql(table))?;
    let encode_start = Instant::now();
    let batches = batches_encode(config);
    let encode_elapsed = encode_start.elapsed();
    let bytes_count: u64 = batches.iter().map(|batch| batch.bytes.len() as u64).sum();
    line_write(
        out,
        &format!(
            "insert_prepare  table={table} format={} rows={} batches={} bytes={bytes_count} \
             encode_s={:.2}",
            config.format.sql_name(),
            config.rows_count,
            batches.len(),
            encode_elapsed.as_secs_f64(),
        ),
    )?;
    let outcome = insert_send(client, table, config.format, &batches)?;
    line_write(out, &insert_line(&outcome))?;
    let batches_line = latency_line(
        "insert_batch",
        &outcome.batches.histogram,
        outcome.batches.elapsed,
    );
    line_write(out, &batches_line)?;
    Ok(outcome)
}

/// Sends the pre-encoded batches in order; each batch is one timed sample.
fn insert_send(
    client: &HttpClient,
    table: &str,
    format: InsertFormat,
    batches: &[EncodedBatch],
) -> Result<InsertOutcome, BenchError> {
    let mut histogram = histogram_new()?;
    let (mut rows_count, mut bytes_count) = (0, 0);
    let start = Instant::now();
    for batch in batches {
        let sent = Instant::now();
        client.post_insert(table, format, &batch.bytes)?;
        latency_record(&mut histogram, sent.elapsed());
        rows_count += batch.rows_count;
        bytes_count += batch.bytes.len() as u64;
    }
    let batches = Measurement {
        histogram,
        elapsed: start.elapsed(),
    };
    Ok(InsertOutcome {
        rows_count,
        bytes_count,
        batches,
    })
}

/// `insert  rows=10000000 batches=1000 bytes=300000000 elapsed_s=12.34 rows_per_s=810373
/// mib_per_s=23.18`.
pub fn insert_line(outcome: &InsertOutcome) -> String {
    let elapsed = outcome.batches.elapsed;
    let seconds = elapsed.as_secs_f64();
    let mib_per_s = if seconds > 0.0 {
        outcome.bytes_count as f64 / seconds / 1_048_576.0
    } else {
        0.0
    };
    format!(
        "insert  rows={} batches={} bytes={} elapsed_s={seconds:.2} rows_per_s={} \
         mib_per_s={mib_per_s:.2}",
        outcome.rows_count,
        outcome.batches.histogram.len(),
        outcome.bytes_count,
        rate_format(outcome.rows_count, elapsed),
    )
}

/// The rows `table` holds now, from `SELECT count(*) … FORMAT TabSeparated`.
pub fn table_rows_count(client: &HttpClient, table: &str) -> Result<u64, BenchError> {
    let answer = client.query(&format!("SELECT count(*) FROM {table} FORMAT TabSeparated"))?;
    answer
        .trim()
        .parse()
        .map_err(|_| BenchError::UnexpectedBody {
            url: format!("{}/", client.base_url()),
            expected: "one unsigned row count",
            body_excerpt: body_excerpt(answer.as_bytes()),
        })
}

/// `suite`: the standard run, in order: ping; load (skipped when the table already holds
/// `--rows`); VWAP of the most traded symbol; a filtered full-table count/sum; the
/// vwap_p50 / ping_p50 ratio.
pub fn suite_run(
    out: &mut impl Write,
    client: &HttpClient,
    args: &SuiteArgs,
) -> Result<(), BenchError> {
    let ping_counts = LoopCounts::new("ping-count", args.ping_count, args.ping_warmup)?;
    let vwap_counts = LoopCounts::new("vwap-count", args.vwap_count, args.vwap_warmup)?;
    let scan_counts = LoopCounts::new("scan-count", args.scan_count, args.scan_warmup)?;
    let config = suite_gen_config(args.rows)?;
    table_name_check(&args.table)?;
    let ping = ping_run(out, client, ping_counts)?;
    suite_load(out, client, &args.table, &config)?;
    // Zipf ranks symbols by weight: index 0 is the most traded.
    let vwap_sql = format!(
        "SELECT vwap(price, volume) FROM {} WHERE symbol = '{}' FORMAT TabSeparated",
        args.table,
        symbol_name(0)
    );
    let vwap = query_run(out, client, "vwap", &vwap_sql, vwap_counts)?;
    let scan_sql = format!(
        "SELECT count(*), sum(volume) FROM {} WHERE price > 100 FORMAT TabSeparated",
        args.table
    );
    query_run(out, client, "scan", &scan_sql, scan_counts)?;
    line_write(out, &ratio_line(vwap.p50_ns(), ping.p50_ns()))
}

/// The suite's data: `rows` RowBinary trades in 10,000-row batches, Zipf over 1,000 symbols.
fn suite_gen_config(rows: u64) -> Result<GenConfig, BenchError> {
    gen_config_check(GenConfig {
        rows_count: rows,
        batch_rows_count: SUITE_BATCH_ROWS_COUNT,
        symbols_count: SUITE_SYMBOLS_COUNT,
        symbol_choice: SymbolChoice::Zipf,
        format: InsertFormat::RowBinary,
        seed: SEED_DEFAULT,
    })
}

/// Creates the table, and loads it unless it already holds `config.rows_count` rows.
fn suite_load(
    out: &mut impl Write,
    client: &HttpClient,
    table: &str,
    config: &GenConfig,
) -> Result<(), BenchError> {
    client.query(&table_create_sql(table))?;
    let rows_present = table_rows_count(client, table)?;
    let action = if rows_present >= config.rows_count {
        "skip"
    } else {
        "insert"
    };
    line_write(
        out,
        &format!(
            "table  name={table} rows_present={rows_present} rows_wanted={} action={action}",
            config.rows_count
        ),
    )?;
    if rows_present < config.rows_count {
        insert_run(out, client, table, config)?;
    }
    Ok(())
}

/// `ratio  vwap_p50/ping_p50=2.95 vwap_p50=120.3us ping_p50=40.8us`.
pub fn ratio_line(vwap_p50_ns: u64, ping_p50_ns: u64) -> String {
    let ratio = vwap_p50_ns as f64 / ping_p50_ns.max(1) as f64;
    format!(
        "ratio  vwap_p50/ping_p50={ratio:.2} vwap_p50={} ping_p50={}",
        latency_format(vwap_p50_ns),
        latency_format(ping_p50_ns)
    )
}

/// Writes `line` and a newline, flushing so progress shows during long runs.
pub fn line_write(out: &mut impl Write, line: &str) -> Result<(), BenchError> {
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(BenchError::Output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::SEED_DEFAULT;
    use crate::test_responder::{Reply, Responder};

    fn output_lines(out: &[u8]) -> Vec<String> {
        String::from_utf8_lossy(out)
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn ping_run_prints_one_latency_line_over_one_connection() -> Result<(), BenchError> {
        let counts = LoopCounts::new("count", 300, 30)?;
        let responder = Responder::start(330, |_| Reply::ok("Ok.\n"));
        let client = HttpClient::new(&responder.base_url())?;
        let mut out = Vec::new();
        let measurement = ping_run(&mut out, &client, counts)?;
        assert_eq!(measurement.histogram.len(), 300);
        let lines = output_lines(&out);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("ping  n=300 p50="), "{}", lines[0]);
        assert!(
            lines[0].contains(" p99=")
                && lines[0].contains(" p99.9=")
                && lines[0].contains(" max=")
        );
        assert!(lines[0].ends_with("/s"));
        assert_eq!(responder.finish().connections_count, 1);
        Ok(())
    }

    #[test]
    fn query_run_stops_at_the_first_error_status() -> Result<(), BenchError> {
        let responder = Responder::start(3, |_| Reply {
            status: 404,
            body: "Unknown table trades",
        });
        let client = HttpClient::new(&responder.base_url())?;
        let mut out = Vec::new();
        let result = query_run(
            &mut out,
            &client,
            "q",
            "SELECT 1",
            LoopCounts::new("count", 10, 0)?,
        );
        assert!(
            matches!(result, Err(BenchError::Status { status: 404, .. })),
            "{result:?}"
        );
        assert_eq!(output_lines(&out), ["sql  label=q text=\"SELECT 1\""]);
        Ok(())
    }

    #[test]
    fn insert_run_creates_the_table_then_sends_every_batch_in_order() -> Result<(), BenchError> {
        let config = GenConfig {
            rows_count: 2_500,
            batch_rows_count: 1_000,
            symbols_count: 10,
            symbol_choice: SymbolChoice::Zipf,
            format: InsertFormat::Csv,
            seed: SEED_DEFAULT,
        };
        let responder = Responder::start(4, |_| Reply::ok(""));
        let client = HttpClient::new(&responder.base_url())?;
        let mut out = Vec::new();
        let outcome = insert_run(&mut out, &client, "trades", &config)?;
        assert_eq!(outcome.rows_count, 2_500);
        let log = responder.finish();
        assert_eq!(log.connections_count, 1);
        assert_eq!(log.requests[0].body, table_create_sql("trades").as_bytes());
        let sent: Vec<u8> = log.requests[1..]
            .iter()
            .flat_map(|r| r.body.clone())
            .collect();
        let expected: Vec<u8> = batches_encode(&config)
            .into_iter()
            .flat_map(|b| b.bytes)
            .collect();
        assert_eq!(sent, expected);
        assert!(log.requests[1..]
            .iter()
            .all(|r| r.target == "/?query=INSERT%20INTO%20trades%20FORMAT%20CSV"));
        let lines = output_lines(&out);
        assert!(lines[0]
            .starts_with("insert_prepare  table=trades format=CSV rows=2500 batches=3 bytes="));
        assert!(
            lines[1].starts_with("insert  rows=2500 batches=3 bytes="),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].starts_with("insert_batch  n=3 p50="),
            "{}",
            lines[2]
        );
        Ok(())
    }

    #[test]
    fn ratio_line_divides_the_medians() {
        assert_eq!(
            ratio_line(120_300, 40_800),
            "ratio  vwap_p50/ping_p50=2.95 vwap_p50=120.3us ping_p50=40.8us"
        );
        assert!(ratio_line(5, 0).starts_with("ratio  vwap_p50/ping_p50=5.00 "));
    }
}
