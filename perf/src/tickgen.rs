//! The peer benchmark's tick data set (`shared/bench/gen.py`), re-implemented bit for bit.
//!
//! The peer comparison loads one seeded trading day of `trades` and `quotes` into every engine
//! and checks their answers against reference values. To check QuectoDB the same way from
//! Rust, this module rebuilds exactly those columns: every value comes from integer arithmetic
//! on counter-based SplitMix64 streams (one stream per column), so the little-endian bytes of
//! each column hash to the `sha256_le_columns` of the harness's `dataset.json`.
//!
//! The recipe (the harness's `algorithm` text, in our words):
//! - `u(stream, i)` is the `i+1`-th output of a SplitMix64 whose state starts at
//!   `mix64(seed + (stream + 1) * GAMMA)`;
//! - symbols 1..=1000 are Zipf(s = 1): weights `10^12 div k`, `symbol = 1 + #{k : C[k] <= u mod
//!   T}` over the inclusive prefix sums `C` with total `T`;
//! - timestamps start at 2024-01-02 14:30 UTC and add gaps `1 + u mod (2 * (6.5 h div n) - 1)`,
//!   so they are strictly increasing over the whole table;
//! - prices are per-symbol walks of `u mod 3 - 1` cents from 100.00; volumes and sizes are
//!   `1 + u mod 1000`; asks sit `1 + u mod 5` cents above bids.
//!
//! It knows nothing about servers or SQL: callers encode the columns as they need
//! ([`TickTrades::row_binary`] is the bulk-load body) and derive the workload literals with
//! [`query_params`].

use std::ops::Range;

use crate::error::BenchError;
use crate::gen::SplitMix64;
use crate::limits::ROWS_MAX;

/// The harness's default seed.
pub const TICK_SEED_DEFAULT: u64 = 42;
/// Distinct symbols, numbered 1..=`TICK_SYMBOLS_COUNT`.
pub const TICK_SYMBOLS_COUNT: usize = 1_000;
/// 2024-01-02 14:30:00 UTC (09:30 New York) in nanoseconds since the epoch.
pub const TICK_DAY_START_NS: i64 = 1_704_205_800 * 1_000_000_000;
/// Length of the trading session the timestamps spread over: 6.5 hours.
pub const TICK_SESSION_NS: i64 = 23_400 * 1_000_000_000;
/// Every price walk starts at 100.00.
pub const TICK_PRICE_CENTS_START: i64 = 10_000;
/// W4's bar width: one minute.
pub const TICK_BAR_NS: i64 = 60 * 1_000_000_000;
/// W7's window: the last five minutes of the day.
pub const TICK_RECENT_NS: i64 = 5 * 60 * 1_000_000_000;
/// W3b's subset: the first million trades by time.
pub const TICK_W3_SUBSET_ROWS: usize = 1_000_000;
/// The symbol of the single-symbol workloads (the most traded one).
pub const TICK_REF_SYMBOL: i64 = 1;
/// `trades` columns in our SQL types, in the harness's column order.
pub const TICK_TRADES_COLUMNS_SQL: &str =
    "(symbol INT64, ts TIMESTAMP, price FLOAT64, volume INT64)";
/// `quotes` columns in our SQL types, in the harness's column order.
pub const TICK_QUOTES_COLUMNS_SQL: &str =
    "(symbol INT64, ts TIMESTAMP, bid FLOAT64, ask FLOAT64, bid_size INT64, ask_size INT64)";

/// SplitMix64's increment (the golden ratio in 64 bits); also spaces the stream keys.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Stream ids, one per generated column (the harness's numbering).
const STREAM_TRADE_SYMBOL: u64 = 1;
const STREAM_TRADE_GAP: u64 = 2;
const STREAM_TRADE_STEP: u64 = 3;
const STREAM_TRADE_VOLUME: u64 = 4;
const STREAM_QUOTE_SYMBOL: u64 = 11;
const STREAM_QUOTE_GAP: u64 = 12;
const STREAM_QUOTE_STEP: u64 = 13;
const STREAM_QUOTE_SPREAD: u64 = 14;
const STREAM_QUOTE_BID_SIZE: u64 = 15;
const STREAM_QUOTE_ASK_SIZE: u64 = 16;

const _: () = {
    // The mean gap `session / rows` must be at least 1 ns, or the gap modulus would be 0.
    assert!(ROWS_MAX as i64 <= TICK_SESSION_NS);
    // The last timestamp stays below day start + 2 × session, far inside i64.
    assert!(TICK_DAY_START_NS < i64::MAX - 2 * TICK_SESSION_NS);
};

/// `trades` of the data set, one vector per column, in timestamp order.
#[derive(Clone, Debug, PartialEq)]
pub struct TickTrades {
    /// Symbol id, 1..=1000.
    pub symbol: Vec<i64>,
    /// Nanoseconds since the epoch, strictly increasing.
    pub ts_ns: Vec<i64>,
    /// `price_cents / 100.0`.
    pub price: Vec<f64>,
    /// 1..=1000.
    pub volume: Vec<i64>,
    /// The exact price in cents (for answers computed without rounding).
    pub price_cents: Vec<i64>,
}

/// `quotes` of the data set, one vector per column, in timestamp order.
#[derive(Clone, Debug, PartialEq)]
pub struct TickQuotes {
    /// Symbol id, 1..=1000.
    pub symbol: Vec<i64>,
    /// Nanoseconds since the epoch, strictly increasing.
    pub ts_ns: Vec<i64>,
    /// `bid_cents / 100.0`.
    pub bid: Vec<f64>,
    /// `ask_cents / 100.0`.
    pub ask: Vec<f64>,
    /// 1..=1000.
    pub bid_size: Vec<i64>,
    /// 1..=1000.
    pub ask_size: Vec<i64>,
    /// The exact bid in cents.
    pub bid_cents: Vec<i64>,
    /// The exact ask in cents, 1..=5 above the bid.
    pub ask_cents: Vec<i64>,
}

/// The literals the workloads use, derived from the trades as the harness derives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TickQueryParams {
    /// Symbol of the single-symbol workloads.
    pub symbol: i64,
    /// W3's threshold as SQL text: half a cent above the median price (`"100.005"`), so no
    /// price equals it.
    pub price_threshold: String,
    /// The same threshold in half cents: `price > threshold` iff `2 * cents > this`.
    pub price_threshold_half_cents: i64,
    /// W4's bar width.
    pub bar_ns: i64,
    /// Start of the trading day.
    pub day_start_ns: i64,
    /// Rows in W3b's subset.
    pub w3_subset_rows: usize,
    /// W3b's upper bound: `ts < w3_ts_to` selects the first `w3_subset_rows` trades.
    pub w3_ts_to: i64,
    /// W7's lower bound: `ts >= w7_ts_from` is the last five minutes.
    pub w7_ts_from: i64,
    /// First trade timestamp.
    pub ts_min: i64,
    /// Last trade timestamp.
    pub ts_max: i64,
}

impl TickTrades {
    /// Number of trades.
    pub fn rows_count(&self) -> usize {
        self.ts_ns.len()
    }

    /// `rows` as a RowBinary body for (symbol Int64, ts DateTime64(9), price Float64,
    /// volume Int64): 32 little-endian bytes per row.
    pub fn row_binary(&self, rows: Range<usize>) -> Vec<u8> {
        let mut out = Vec::with_capacity(rows.len() * 32);
        for i in rows {
            out.extend_from_slice(&self.symbol[i].to_le_bytes());
            out.extend_from_slice(&self.ts_ns[i].to_le_bytes());
            out.extend_from_slice(&self.price[i].to_le_bytes());
            out.extend_from_slice(&self.volume[i].to_le_bytes());
        }
        out
    }
}

impl TickQuotes {
    /// Number of quotes.
    pub fn rows_count(&self) -> usize {
        self.ts_ns.len()
    }

    /// `rows` as a RowBinary body for (symbol Int64, ts DateTime64(9), bid Float64,
    /// ask Float64, bid_size Int64, ask_size Int64): 48 little-endian bytes per row.
    pub fn row_binary(&self, rows: Range<usize>) -> Vec<u8> {
        let mut out = Vec::with_capacity(rows.len() * 48);
        for i in rows {
            out.extend_from_slice(&self.symbol[i].to_le_bytes());
            out.extend_from_slice(&self.ts_ns[i].to_le_bytes());
            out.extend_from_slice(&self.bid[i].to_le_bytes());
            out.extend_from_slice(&self.ask[i].to_le_bytes());
            out.extend_from_slice(&self.bid_size[i].to_le_bytes());
            out.extend_from_slice(&self.ask_size[i].to_le_bytes());
        }
        out
    }
}

/// `rows_count` trades for `seed` (1..=`ROWS_MAX` rows).
pub fn trades_generate(rows_count: usize, seed: u64) -> Result<TickTrades, BenchError> {
    rows_count_check(rows_count)?;
    let symbol = symbols_generate(stream(seed, STREAM_TRADE_SYMBOL), rows_count);
    let ts_ns = timestamps_generate(stream(seed, STREAM_TRADE_GAP), rows_count);
    let steps = steps_generate(stream(seed, STREAM_TRADE_STEP), rows_count);
    let price_cents = walk_cents(&symbol, &steps)?;
    Ok(TickTrades {
        price: cents_to_price(&price_cents),
        volume: sizes_generate(stream(seed, STREAM_TRADE_VOLUME), rows_count),
        symbol,
        ts_ns,
        price_cents,
    })
}

/// `rows_count` quotes for `seed` (1..=`ROWS_MAX` rows).
pub fn quotes_generate(rows_count: usize, seed: u64) -> Result<TickQuotes, BenchError> {
    rows_count_check(rows_count)?;
    let symbol = symbols_generate(stream(seed, STREAM_QUOTE_SYMBOL), rows_count);
    let ts_ns = timestamps_generate(stream(seed, STREAM_QUOTE_GAP), rows_count);
    let steps = steps_generate(stream(seed, STREAM_QUOTE_STEP), rows_count);
    let bid_cents = walk_cents(&symbol, &steps)?;
    let mut spreads = stream(seed, STREAM_QUOTE_SPREAD);
    let ask_cents: Vec<i64> = bid_cents
        .iter()
        .map(|&bid| bid + 1 + (spreads.next_u64() % 5) as i64)
        .collect();
    Ok(TickQuotes {
        bid: cents_to_price(&bid_cents),
        ask: cents_to_price(&ask_cents),
        bid_size: sizes_generate(stream(seed, STREAM_QUOTE_BID_SIZE), rows_count),
        ask_size: sizes_generate(stream(seed, STREAM_QUOTE_ASK_SIZE), rows_count),
        symbol,
        ts_ns,
        bid_cents,
        ask_cents,
    })
}

/// The workload literals for `trades`, as the harness's `query_params` computes them; an
/// empty table has no median and is refused.
pub fn query_params(trades: &TickTrades) -> Result<TickQueryParams, BenchError> {
    let rows_count = trades.rows_count();
    rows_count_check(rows_count)?;
    let mut cents = trades.price_cents.clone();
    let (_, &mut median_cents, _) = cents.select_nth_unstable(rows_count / 2);
    let ts_max = trades.ts_ns[rows_count - 1];
    let w3_ts_to = match trades.ts_ns.get(TICK_W3_SUBSET_ROWS) {
        Some(&ts) => ts,
        None => ts_max + 1,
    };
    Ok(TickQueryParams {
        symbol: TICK_REF_SYMBOL,
        price_threshold: format!(
            "{}.{:02}5",
            median_cents.div_euclid(100),
            median_cents.rem_euclid(100)
        ),
        price_threshold_half_cents: 2 * median_cents + 1,
        bar_ns: TICK_BAR_NS,
        day_start_ns: TICK_DAY_START_NS,
        w3_subset_rows: rows_count.min(TICK_W3_SUBSET_ROWS),
        w3_ts_to,
        w7_ts_from: ts_max - TICK_RECENT_NS,
        ts_min: trades.ts_ns[0],
        ts_max,
    })
}

fn rows_count_check(rows_count: usize) -> Result<(), BenchError> {
    if rows_count == 0 || rows_count as u64 > ROWS_MAX {
        return Err(BenchError::Argument {
            name: "rows",
            detail: format!("{rows_count} rows; the tick data set takes 1..={ROWS_MAX}"),
        });
    }
    Ok(())
}

/// The generator whose `i+1`-th output is `u(stream_id, i)`.
///
/// The stream key is `mix64(seed + (stream_id + 1) * GAMMA)`: the first output of a
/// SplitMix64 started at `seed + stream_id * GAMMA`, because each step adds `GAMMA` before
/// mixing. Started at the key, the `i+1`-th output is `mix64(key + (i + 1) * GAMMA)`.
fn stream(seed: u64, stream_id: u64) -> SplitMix64 {
    let key = SplitMix64::new(seed.wrapping_add(stream_id.wrapping_mul(GAMMA))).next_u64();
    SplitMix64::new(key)
}

/// Zipf(s = 1) symbols 1..=1000 by inverse transform over integer weights `10^12 div k`.
fn symbols_generate(mut draws: SplitMix64, rows_count: usize) -> Vec<i64> {
    let weights_cumulative: Vec<u64> = (1..=TICK_SYMBOLS_COUNT as u64)
        .scan(0u64, |sum, k| {
            *sum += 1_000_000_000_000 / k;
            Some(*sum)
        })
        .collect();
    let total = weights_cumulative[TICK_SYMBOLS_COUNT - 1];
    (0..rows_count)
        .map(|_| {
            let draw = draws.next_u64() % total;
            1 + weights_cumulative.partition_point(|&sum| sum <= draw) as i64
        })
        .collect()
}

/// Strictly increasing timestamps: gaps uniform in `1 ..= 2 * mean - 1`, mean `session / n`.
fn timestamps_generate(mut draws: SplitMix64, rows_count: usize) -> Vec<i64> {
    let gap_mean_ns = TICK_SESSION_NS / rows_count as i64;
    let gap_modulus = (2 * gap_mean_ns - 1) as u64;
    let mut ts_ns = TICK_DAY_START_NS;
    (0..rows_count)
        .map(|_| {
            ts_ns += 1 + (draws.next_u64() % gap_modulus) as i64;
            ts_ns
        })
        .collect()
}

/// Price steps of -1, 0 or +1 cent.
fn steps_generate(mut draws: SplitMix64, rows_count: usize) -> Vec<i64> {
    (0..rows_count)
        .map(|_| (draws.next_u64() % 3) as i64 - 1)
        .collect()
}

/// Volumes and quote sizes: uniform in 1..=1000.
fn sizes_generate(mut draws: SplitMix64, rows_count: usize) -> Vec<i64> {
    (0..rows_count)
        .map(|_| 1 + (draws.next_u64() % 1_000) as i64)
        .collect()
}

/// Per-symbol running sums of `steps` from 100.00, in row order. A walk that reaches zero
/// cents is refused, as the harness refuses it: no such data set exists.
fn walk_cents(symbols: &[i64], steps: &[i64]) -> Result<Vec<i64>, BenchError> {
    debug_assert_eq!(symbols.len(), steps.len());
    let mut walks = vec![TICK_PRICE_CENTS_START; TICK_SYMBOLS_COUNT + 1];
    let mut cents = Vec::with_capacity(steps.len());
    for (&symbol, &step) in symbols.iter().zip(steps) {
        let walk = &mut walks[symbol as usize];
        *walk += step;
        if *walk <= 0 {
            return Err(BenchError::Argument {
                name: "rows",
                detail: format!("symbol {symbol}'s price walk reaches {walk} cents"),
            });
        }
        cents.push(*walk);
    }
    Ok(cents)
}

/// Cents as the harness's float64 prices: `cents / 100.0`, one IEEE division each.
fn cents_to_price(cents: &[i64]) -> Vec<f64> {
    cents.iter().map(|&c| c as f64 / 100.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;
    use sha2::{Digest, Sha256};

    /// The harness's 1M-row data set description (seed 42), copied into tests/data.
    fn dataset_json() -> Json {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/n1000000_q1000000_s42.dataset.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// mix64 straight from the recipe text, independent of `SplitMix64`.
    fn mix64(z: u64) -> u64 {
        let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn sha256_le<T: Copy>(values: &[T], to_le: fn(T) -> [u8; 8]) -> String {
        let mut hasher = Sha256::new();
        for &value in values {
            hasher.update(to_le(value));
        }
        hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    fn check_i64(expected: &Json, table: &str, column: &str, values: &[i64]) {
        let want = expected["sha256_le_columns"][table][column]
            .as_str()
            .unwrap();
        assert_eq!(
            sha256_le(values, i64::to_le_bytes),
            want,
            "{table}.{column}"
        );
    }

    fn check_f64(expected: &Json, table: &str, column: &str, values: &[f64]) {
        let want = expected["sha256_le_columns"][table][column]
            .as_str()
            .unwrap();
        assert_eq!(
            sha256_le(values, f64::to_le_bytes),
            want,
            "{table}.{column}"
        );
    }

    #[test]
    fn stream_outputs_follow_the_recipe() {
        for (seed, stream_id) in [(42, 1), (0, 0), (u64::MAX, 16), (7, u64::MAX)] {
            let key = mix64(seed.wrapping_add(stream_id.wrapping_add(1).wrapping_mul(GAMMA)));
            let mut draws = stream(seed, stream_id);
            for i in 0..100u64 {
                let want = mix64(key.wrapping_add((i + 1).wrapping_mul(GAMMA)));
                assert_eq!(
                    draws.next_u64(),
                    want,
                    "seed {seed} stream {stream_id} i {i}"
                );
            }
        }
    }

    #[test]
    fn one_million_rows_hash_to_the_harness_columns() {
        let expected = dataset_json();
        let rows_count = expected["trades_rows"].as_u64().unwrap() as usize;
        let seed = expected["seed"].as_u64().unwrap();
        let trades = trades_generate(rows_count, seed).unwrap();
        check_i64(&expected, "trades", "symbol", &trades.symbol);
        check_i64(&expected, "trades", "ts", &trades.ts_ns);
        check_f64(&expected, "trades", "price", &trades.price);
        check_i64(&expected, "trades", "volume", &trades.volume);
        let quotes = quotes_generate(expected["quotes_rows"].as_u64().unwrap() as usize, seed);
        let quotes = quotes.unwrap();
        check_i64(&expected, "quotes", "symbol", &quotes.symbol);
        check_i64(&expected, "quotes", "ts", &quotes.ts_ns);
        check_f64(&expected, "quotes", "bid", &quotes.bid);
        check_f64(&expected, "quotes", "ask", &quotes.ask);
        check_i64(&expected, "quotes", "bid_size", &quotes.bid_size);
        check_i64(&expected, "quotes", "ask_size", &quotes.ask_size);
        check_query_params(&expected["query_params"], &query_params(&trades).unwrap());
    }

    fn check_query_params(want: &Json, got: &TickQueryParams) {
        let int = |name: &str| want[name].as_i64().unwrap();
        assert_eq!(got.symbol, int("symbol"));
        assert_eq!(
            got.price_threshold,
            want["price_threshold"].as_str().unwrap()
        );
        assert_eq!(
            got.price_threshold_half_cents,
            int("price_threshold_half_cents")
        );
        assert_eq!(got.bar_ns, int("bar_ns"));
        assert_eq!(got.day_start_ns, int("day_start_ns"));
        assert_eq!(got.w3_subset_rows as i64, int("w3_subset_rows"));
        assert_eq!(got.w3_ts_to, int("w3_ts_to"));
        assert_eq!(got.w7_ts_from, int("w7_ts_from"));
        assert_eq!(got.ts_min, int("ts_min"));
        assert_eq!(got.ts_max, int("ts_max"));
    }

    #[test]
    fn small_tables_keep_the_invariants() {
        for rows_count in [1, 2, 3, 1_000] {
            let trades = trades_generate(rows_count, 9).unwrap();
            let quotes = quotes_generate(rows_count, 9).unwrap();
            assert_eq!(trades.rows_count(), rows_count);
            assert_eq!(quotes.rows_count(), rows_count);
            assert!(trades.ts_ns.windows(2).all(|pair| pair[0] < pair[1]));
            assert!(trades.ts_ns[0] > TICK_DAY_START_NS);
            assert!(trades.symbol.iter().all(|&s| (1..=1_000).contains(&s)));
            assert!(trades.volume.iter().all(|&v| (1..=1_000).contains(&v)));
            let spreads = quotes.bid_cents.iter().zip(&quotes.ask_cents);
            assert!(spreads.map(|(b, a)| a - b).all(|d| (1..=5).contains(&d)));
            assert_eq!(trades, trades_generate(rows_count, 9).unwrap());
        }
    }

    #[test]
    fn prices_walk_one_cent_per_trade_of_the_same_symbol() {
        let trades = trades_generate(5_000, 3).unwrap();
        let mut last = std::collections::HashMap::new();
        for (i, &symbol) in trades.symbol.iter().enumerate() {
            let before = last.insert(symbol, trades.price_cents[i]);
            let step = trades.price_cents[i] - before.unwrap_or(TICK_PRICE_CENTS_START);
            assert!((-1..=1).contains(&step), "row {i}: step {step}");
            assert_eq!(trades.price[i], trades.price_cents[i] as f64 / 100.0);
        }
    }

    #[test]
    fn query_params_of_a_single_row_point_past_it() {
        let trades = trades_generate(1, TICK_SEED_DEFAULT).unwrap();
        let params = query_params(&trades).unwrap();
        assert_eq!(params.w3_subset_rows, 1);
        assert_eq!(params.w3_ts_to, trades.ts_ns[0] + 1);
        assert_eq!(params.ts_min, params.ts_max);
        let cents = trades.price_cents[0];
        assert_eq!(params.price_threshold_half_cents, 2 * cents + 1);
        let threshold: f64 = params.price_threshold.parse().unwrap();
        assert!((threshold - (cents as f64 + 0.5) / 100.0).abs() < 1e-9);
    }

    #[test]
    fn empty_and_oversized_tables_are_refused() {
        assert!(matches!(
            trades_generate(0, 1),
            Err(BenchError::Argument { name: "rows", .. })
        ));
        assert!(quotes_generate(ROWS_MAX as usize + 1, 1).is_err());
        let mut trades = trades_generate(1, 1).unwrap();
        trades.ts_ns.clear();
        assert!(query_params(&trades).is_err());
    }

    #[test]
    fn row_binary_is_32_and_48_bytes_per_row_in_column_order() {
        let trades = trades_generate(3, 5).unwrap();
        let body = trades.row_binary(1..3);
        assert_eq!(body.len(), 64);
        assert_eq!(body[..8], trades.symbol[1].to_le_bytes());
        assert_eq!(body[16..24], trades.price[1].to_le_bytes());
        assert_eq!(body[56..], trades.volume[2].to_le_bytes());
        let quotes = quotes_generate(2, 5).unwrap();
        let body = quotes.row_binary(0..2);
        assert_eq!(body.len(), 96);
        assert_eq!(body[24..32], quotes.ask[0].to_le_bytes());
        assert_eq!(body[88..], quotes.ask_size[1].to_le_bytes());
        assert!(quotes.row_binary(2..2).is_empty());
    }
}
