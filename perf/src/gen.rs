//! Deterministic trade generator and the two wire encodings of `trades` rows.
//!
//! The same seed always yields the same rows, whatever the batch size, so two runs (or two
//! builds of the server) ingest byte-identical data. The stream models a tape, not a market:
//!
//! - symbols `S0000` … `S{n-1}`, picked Zipf-like (`S0000` the most traded, weight 1/(rank+1))
//!   or uniformly;
//! - timestamps strictly increasing across the whole stream (not just per symbol), starting at
//!   2024-01-02 09:30:00 UTC, with gaps of 1 ns … 1 ms;
//! - prices a per-symbol random walk in whole cents that starts at 100.00 and is pulled back
//!   toward it, so `price > 100` selects roughly half of the rows;
//! - volumes uniform in 1 … 1000.
//!
//! Encoding happens here, before any clock starts: the harness measures the server, not us.

use crate::limits::{BATCH_ROWS_MAX, ROWS_MAX, SYMBOLS_COUNT_MAX};

/// 2024-01-02 09:30:00 UTC in nanoseconds since the epoch: the first generated timestamp.
pub const TIMESTAMP_NS_START: i64 = 1_704_187_800_000_000_000;

/// Largest gap between two consecutive generated timestamps, in nanoseconds.
pub const TIMESTAMP_STEP_NS_MAX: u64 = 1_000_000;

/// Seed used unless the user passes `--seed`: "QUECTODB" in ASCII.
pub const SEED_DEFAULT: u64 = 0x5155_4543_544F_4442;

/// Every symbol's random walk starts (and is pulled back toward) 100.00.
const PRICE_CENTS_START: i64 = 10_000;

/// Largest single price move, in cents, either way.
const PRICE_STEP_CENTS_MAX: i64 = 5;

/// Distance from the start price, in cents, that adds one cent of pull back toward it.
const PRICE_PULL_CENTS_PER_CENT: i64 = 500;

/// Largest generated volume; the smallest is 1.
const VOLUME_MAX: u64 = 1_000;

const _: () = {
    // Even after the largest step the walk stays far above zero (clamped to 1 cent anyway).
    assert!(PRICE_STEP_CENTS_MAX < PRICE_CENTS_START);
    assert!(TIMESTAMP_STEP_NS_MAX > 0);
    // The last timestamp of the largest run still fits an i64: 1e8 rows × 1e6 ns = 1e14 ns.
    assert!(
        (ROWS_MAX as i128) * (TIMESTAMP_STEP_NS_MAX as i128)
            < (i64::MAX - TIMESTAMP_NS_START) as i128
    );
};

/// Sebastiano Vigna's splitmix64: tiny, fast, and good enough to drive a synthetic tape.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose whole output is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0 .. bound` (`bound` > 0). Modulo bias is below 2^-40 for our bounds.
    pub fn next_below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        self.next_u64() % bound
    }

    /// A value in `[0, 1)` with 53 random bits.
    pub fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// How the generator picks the symbol of each trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SymbolChoice {
    /// Rank k is picked with weight 1/(k+1): `S0000` is the most traded symbol.
    Zipf,
    /// Every symbol equally often.
    Uniform,
}

/// Wire format of an insert body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InsertFormat {
    /// ClickHouse RowBinary: varint-prefixed symbol, then i64/f64/i64 little endian.
    #[value(name = "rowbinary")]
    RowBinary,
    /// `SYM,timestamp_ns,price,volume` lines.
    Csv,
}

impl InsertFormat {
    /// The name after `FORMAT` in the INSERT statement.
    pub fn sql_name(self) -> &'static str {
        match self {
            InsertFormat::RowBinary => "RowBinary",
            InsertFormat::Csv => "CSV",
        }
    }
}

/// One generated trade; the symbol is an index into the generator's names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trade {
    /// Index of the symbol: `S{symbol_index:04}`.
    pub symbol_index: u32,
    /// Nanoseconds since the epoch.
    pub timestamp_ns: i64,
    /// Price in currency units, always a whole number of cents.
    pub price: f64,
    /// Traded quantity, 1 … 1000.
    pub volume: i64,
}

/// The name of symbol `index`: `S0000`, `S0042`, `S12345`.
pub fn symbol_name(index: u32) -> String {
    format!("S{index:04}")
}

/// The stateful trade stream; see the module doc for its shape.
#[derive(Clone, Debug)]
pub struct TradeGen {
    rng: SplitMix64,
    symbol_names: Vec<String>,
    /// Cumulative pick probabilities for `Zipf`; empty for `Uniform`.
    symbol_cdf: Vec<f64>,
    price_cents: Vec<i64>,
    timestamp_ns: i64,
}

impl TradeGen {
    /// A stream over `symbols_count` symbols (1 … `SYMBOLS_COUNT_MAX`), fixed by `seed`.
    pub fn new(symbols_count: u32, choice: SymbolChoice, seed: u64) -> Self {
        assert!(symbols_count > 0 && symbols_count <= SYMBOLS_COUNT_MAX); // checked at the CLI
        Self::over_symbols(&(0..symbols_count).collect::<Vec<_>>(), choice, seed)
    }

    /// A stream over some symbols of the universe only (`symbols`: ranks, not empty), each
    /// keeping its name `S{rank:04}` and, under `Zipf`, its weight 1/(rank+1): a feed that
    /// handles part of the market. `Trade::symbol_index` then indexes `symbols`.
    pub fn over_symbols(symbols: &[u32], choice: SymbolChoice, seed: u64) -> Self {
        assert!(!symbols.is_empty()); // checked by the callers
        let symbol_cdf = match choice {
            SymbolChoice::Zipf => zipf_cdf(symbols),
            SymbolChoice::Uniform => Vec::new(),
        };
        Self {
            rng: SplitMix64::new(seed),
            symbol_names: symbols.iter().map(|&rank| symbol_name(rank)).collect(),
            symbol_cdf,
            price_cents: vec![PRICE_CENTS_START; symbols.len()],
            timestamp_ns: TIMESTAMP_NS_START,
        }
    }

    /// The name of symbol `index` (an index from a `Trade` of this stream).
    pub fn symbol_name(&self, index: u32) -> &str {
        &self.symbol_names[index as usize]
    }

    /// The next trade of the stream.
    pub fn next_trade(&mut self) -> Trade {
        let symbol_index = self.next_symbol_index();
        let timestamp_ns = self.timestamp_ns;
        self.timestamp_ns += 1 + self.rng.next_below(TIMESTAMP_STEP_NS_MAX) as i64;
        let price_cents = self.next_price_cents(symbol_index);
        let volume = 1 + self.rng.next_below(VOLUME_MAX) as i64;
        Trade {
            symbol_index,
            timestamp_ns,
            price: price_cents as f64 / 100.0,
            volume,
        }
    }

    fn next_symbol_index(&mut self) -> u32 {
        let symbols_count = self.symbol_names.len();
        if self.symbol_cdf.is_empty() {
            return self.rng.next_below(symbols_count as u64) as u32;
        }
        let unit = self.rng.next_unit();
        let index = self
            .symbol_cdf
            .partition_point(|&cumulative| cumulative <= unit);
        index.min(symbols_count - 1) as u32
    }

    fn next_price_cents(&mut self, symbol_index: u32) -> i64 {
        let cents = &mut self.price_cents[symbol_index as usize];
        let step_range = 2 * PRICE_STEP_CENTS_MAX as u64 + 1;
        let step = self.rng.next_below(step_range) as i64 - PRICE_STEP_CENTS_MAX;
        let pull = (PRICE_CENTS_START - *cents) / PRICE_PULL_CENTS_PER_CENT;
        *cents = (*cents + step + pull).max(1);
        *cents
    }
}

/// Cumulative pick probabilities of `ranks` under weights 1/(rank+1); the last entry is 1.
fn zipf_cdf(ranks: &[u32]) -> Vec<f64> {
    let weights: Vec<f64> = ranks
        .iter()
        .map(|&rank| 1.0 / (f64::from(rank) + 1.0))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut cumulative = 0.0;
    let mut cdf: Vec<f64> = weights
        .iter()
        .map(|weight| {
            cumulative += weight;
            cumulative / total
        })
        .collect();
    if let Some(last) = cdf.last_mut() {
        *last = 1.0;
    }
    cdf
}

/// Appends `value` as an unsigned LEB128 varint (the RowBinary string-length prefix).
pub fn varint_encode(out: &mut Vec<u8>, mut value: u64) {
    for _ in 0..10 {
        // 10 × 7 bits cover a u64
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends one `trades` row in RowBinary: varint length + symbol bytes, then timestamp (i64),
/// price (f64) and volume (i64), all little endian.
pub fn row_binary_encode(out: &mut Vec<u8>, symbol: &str, trade: &Trade) {
    varint_encode(out, symbol.len() as u64);
    out.extend_from_slice(symbol.as_bytes());
    out.extend_from_slice(&trade.timestamp_ns.to_le_bytes());
    out.extend_from_slice(&trade.price.to_le_bytes());
    out.extend_from_slice(&trade.volume.to_le_bytes());
}

/// Appends one `trades` row as a CSV line: `S0001,1704187800000000000,100.25,300\n`.
pub fn csv_encode(out: &mut Vec<u8>, symbol: &str, trade: &Trade) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = writeln!(
        out,
        "{symbol},{},{},{}",
        trade.timestamp_ns, trade.price, trade.volume
    );
}

/// What to generate for one insert run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GenConfig {
    /// Rows in total, 1 … `ROWS_MAX`.
    pub rows_count: u64,
    /// Rows per request body, 1 … `BATCH_ROWS_MAX`; the last batch may be shorter.
    pub batch_rows_count: u64,
    /// Distinct symbols, 1 … `SYMBOLS_COUNT_MAX`.
    pub symbols_count: u32,
    /// How symbols are picked.
    pub symbol_choice: SymbolChoice,
    /// Body encoding.
    pub format: InsertFormat,
    /// Seed of the stream.
    pub seed: u64,
}

/// One request body, ready to send.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedBatch {
    /// Rows encoded in `bytes`.
    pub rows_count: u64,
    /// The request body.
    pub bytes: Vec<u8>,
}

/// Generates and encodes the whole run, batch by batch, before anything is timed.
pub fn batches_encode(config: &GenConfig) -> Vec<EncodedBatch> {
    assert!(config.rows_count > 0 && config.rows_count <= ROWS_MAX); // checked at the CLI
    assert!(config.batch_rows_count > 0 && config.batch_rows_count <= BATCH_ROWS_MAX);
    let mut stream = TradeGen::new(config.symbols_count, config.symbol_choice, config.seed);
    let batches_count = config.rows_count.div_ceil(config.batch_rows_count);
    let mut batches = Vec::with_capacity(batches_count as usize);
    for batch_index in 0..batches_count {
        let rows_done = batch_index * config.batch_rows_count;
        let rows_count = config.batch_rows_count.min(config.rows_count - rows_done);
        batches.push(batch_encode(&mut stream, config.format, rows_count));
    }
    batches
}

fn batch_encode(stream: &mut TradeGen, format: InsertFormat, rows_count: u64) -> EncodedBatch {
    let mut bytes = Vec::with_capacity(rows_count as usize * 32);
    for _ in 0..rows_count {
        let trade = stream.next_trade();
        let symbol = stream.symbol_name(trade.symbol_index);
        match format {
            InsertFormat::RowBinary => row_binary_encode(&mut bytes, symbol, &trade),
            InsertFormat::Csv => csv_encode(&mut bytes, symbol, &trade),
        }
    }
    EncodedBatch { rows_count, bytes }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROWS_COUNT: usize = 100_000;

    fn trades_take(stream: &mut TradeGen, count: usize) -> Vec<Trade> {
        (0..count).map(|_| stream.next_trade()).collect()
    }

    #[test]
    fn same_seed_yields_the_same_stream() {
        let a = trades_take(&mut TradeGen::new(1000, SymbolChoice::Zipf, 7), ROWS_COUNT);
        let b = trades_take(&mut TradeGen::new(1000, SymbolChoice::Zipf, 7), ROWS_COUNT);
        let c = trades_take(&mut TradeGen::new(1000, SymbolChoice::Zipf, 8), ROWS_COUNT);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // First outputs of Vigna's splitmix64.c for seed 1234567.
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn timestamps_start_at_the_open_and_strictly_increase() {
        let trades = trades_take(
            &mut TradeGen::new(1000, SymbolChoice::Zipf, SEED_DEFAULT),
            ROWS_COUNT,
        );
        assert_eq!(trades[0].timestamp_ns, TIMESTAMP_NS_START);
        for pair in trades.windows(2) {
            let step_ns = pair[1].timestamp_ns - pair[0].timestamp_ns;
            assert!(
                step_ns >= 1 && step_ns <= TIMESTAMP_STEP_NS_MAX as i64,
                "step {step_ns}"
            );
        }
    }

    #[test]
    fn values_stay_in_their_ranges() {
        let trades = trades_take(&mut TradeGen::new(50, SymbolChoice::Uniform, 3), ROWS_COUNT);
        let above_100 = trades.iter().filter(|trade| trade.price > 100.0).count();
        for trade in &trades {
            assert!(trade.symbol_index < 50);
            assert!((1..=1000).contains(&trade.volume));
            assert!(trade.price > 0.0);
            assert_eq!((trade.price * 100.0).round() / 100.0, trade.price); // whole cents
        }
        // Mean-reverting walk around 100: neither side dominates.
        assert!(
            above_100 > ROWS_COUNT / 5 && above_100 < ROWS_COUNT * 4 / 5,
            "{above_100}"
        );
    }

    #[test]
    fn zipf_makes_the_first_symbol_the_most_traded() {
        let mut counts = vec![0u32; 1000];
        let mut stream = TradeGen::new(1000, SymbolChoice::Zipf, SEED_DEFAULT);
        for trade in trades_take(&mut stream, ROWS_COUNT) {
            counts[trade.symbol_index as usize] += 1;
        }
        // Weight of rank 0 is 1/H(1000) ≈ 13.4 %; rank 999 about 0.013 %.
        assert!(counts[0] > ROWS_COUNT as u32 / 10, "{}", counts[0]);
        assert!(2 * counts[0] > 3 * counts[1]); // weights 1 : 1/2
        assert!(counts[1] > counts[10] && counts[10] > counts[500]);
    }

    #[test]
    fn uniform_spreads_symbols_evenly() {
        let mut counts = vec![0u32; 10];
        let mut stream = TradeGen::new(10, SymbolChoice::Uniform, SEED_DEFAULT);
        for trade in trades_take(&mut stream, ROWS_COUNT) {
            counts[trade.symbol_index as usize] += 1;
        }
        assert!(
            counts.iter().all(|&count| count > 9_000 && count < 11_000),
            "{counts:?}"
        );
    }

    #[test]
    fn a_feed_over_some_symbols_names_and_weighs_them_as_the_whole_market_does() {
        let ranks = [1u32, 3, 998];
        let mut stream = TradeGen::over_symbols(&ranks, SymbolChoice::Zipf, SEED_DEFAULT);
        let mut counts = [0u32; 3];
        for trade in trades_take(&mut stream, ROWS_COUNT) {
            counts[trade.symbol_index as usize] += 1;
        }
        assert_eq!(stream.symbol_name(0), "S0001");
        assert_eq!(stream.symbol_name(2), "S0998");
        // Weights 1/2 : 1/4 : 1/999 of the same total.
        let total = 0.5 + 0.25 + 1.0 / 999.0;
        let expected = [0.5 / total, 0.25 / total];
        for (count, share) in counts.iter().zip(expected) {
            let got = f64::from(*count) / ROWS_COUNT as f64;
            assert!((got - share).abs() < 0.01, "{counts:?}");
        }
        assert!(counts[2] > 0 && counts[2] < counts[1] / 50, "{counts:?}");
    }

    #[test]
    fn symbol_names_are_zero_padded_to_four_digits() {
        assert_eq!(symbol_name(0), "S0000");
        assert_eq!(symbol_name(999), "S0999");
        assert_eq!(symbol_name(12_345), "S12345");
    }

    #[test]
    fn varint_encodes_leb128() {
        let cases: [(u64, &[u8]); 5] = [
            (0, &[0x00]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (300, &[0xAC, 0x02]),
            (
                u64::MAX,
                &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            ),
        ];
        for (value, expected) in cases {
            let mut out = Vec::new();
            varint_encode(&mut out, value);
            assert_eq!(out, expected, "{value}");
        }
    }

    fn trade_example() -> Trade {
        Trade {
            symbol_index: 1,
            timestamp_ns: 1_704_187_800_000_000_000,
            price: 100.25,
            volume: 300,
        }
    }

    #[test]
    fn row_binary_encodes_one_row_byte_exact() {
        let mut out = Vec::new();
        row_binary_encode(&mut out, "S0001", &trade_example());
        #[rustfmt::skip]
        let expected: [u8; 30] = [
            0x05, b'S', b'0', b'0', b'0', b'1',                // varint length 5 + "S0001"
            0x00, 0xF0, 0x8D, 0x61, 0xC6, 0x7D, 0xA6, 0x17,    // 1704187800000000000 i64 LE
            0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x59, 0x40,    // 100.25 f64 LE (0x4059100000000000)
            0x2C, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,    // 300 i64 LE
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn csv_encodes_one_row_exact() {
        let mut out = Vec::new();
        csv_encode(&mut out, "S0001", &trade_example());
        assert_eq!(out, b"S0001,1704187800000000000,100.25,300\n");
    }

    /// Reads RowBinary rows back; `None` on a malformed row.
    fn row_binary_decode(mut bytes: &[u8]) -> Option<Vec<(String, i64, f64, i64)>> {
        let mut rows = Vec::new();
        while !bytes.is_empty() {
            let length = usize::from(*bytes.first()?); // names are < 128 bytes: one varint byte
            let symbol = String::from_utf8(bytes.get(1..1 + length)?.to_vec()).ok()?;
            let fixed = bytes.get(1 + length..1 + length + 24)?;
            let word = |index: usize| <[u8; 8]>::try_from(&fixed[index * 8..index * 8 + 8]).ok();
            rows.push((
                symbol,
                i64::from_le_bytes(word(0)?),
                f64::from_le_bytes(word(1)?),
                i64::from_le_bytes(word(2)?),
            ));
            bytes = &bytes[1 + length + 24..];
        }
        Some(rows)
    }

    #[test]
    fn batches_split_the_run_and_decode_back_to_the_stream() {
        let config = GenConfig {
            rows_count: 25_005,
            batch_rows_count: 10_000,
            symbols_count: 1000,
            symbol_choice: SymbolChoice::Zipf,
            format: InsertFormat::RowBinary,
            seed: SEED_DEFAULT,
        };
        let batches = batches_encode(&config);
        let rows_counts: Vec<u64> = batches.iter().map(|batch| batch.rows_count).collect();
        assert_eq!(rows_counts, [10_000, 10_000, 5_005]);
        let mut stream = TradeGen::new(1000, SymbolChoice::Zipf, SEED_DEFAULT);
        for batch in &batches {
            let rows = row_binary_decode(&batch.bytes);
            let rows = rows.unwrap_or_default();
            assert_eq!(rows.len() as u64, batch.rows_count);
            for (symbol, timestamp_ns, price, volume) in rows {
                let trade = stream.next_trade();
                assert_eq!(symbol, stream.symbol_name(trade.symbol_index));
                assert_eq!(
                    (timestamp_ns, price, volume),
                    (trade.timestamp_ns, trade.price, trade.volume)
                );
            }
        }
    }

    #[test]
    fn batch_size_does_not_change_the_data() {
        let mut config = GenConfig {
            rows_count: 1_000,
            batch_rows_count: 7,
            symbols_count: 100,
            symbol_choice: SymbolChoice::Uniform,
            format: InsertFormat::Csv,
            seed: 11,
        };
        let small: Vec<u8> = batches_encode(&config)
            .into_iter()
            .flat_map(|batch| batch.bytes)
            .collect();
        config.batch_rows_count = 1_000;
        let whole: Vec<u8> = batches_encode(&config)
            .into_iter()
            .flat_map(|batch| batch.bytes)
            .collect();
        assert_eq!(small, whole);
        assert_eq!(whole.iter().filter(|&&byte| byte == b'\n').count(), 1_000);
    }
}
