//! Deterministic sample trades for `--ticks N`: about 1000 symbols with skewed popularity,
//! random-walk prices, and strictly increasing nanosecond timestamps.

use quecto_engine::batch::{BatchBuilder, RowBatch};
use quecto_engine::schema::{ColumnDef, TableSchema};
use quecto_engine::types::{DataType, Value};
use quecto_engine::EngineError;

/// Symbols in the sample set.
pub const SAMPLE_SYMBOLS_COUNT: usize = 1000;
/// Rows per generated batch.
pub const SAMPLE_BATCH_ROWS: usize = 64 * 1024;
/// 2024-01-02 09:30:00 New York (14:30 UTC), in ns.
const DAY_OPEN_NS: i64 = 1_704_205_800_000_000_000;

/// The schema of the sample `trades` table.
pub fn trades_schema() -> Result<TableSchema, EngineError> {
    let column = |name: &str, data_type| ColumnDef {
        name: name.into(),
        data_type,
    };
    TableSchema::new(
        "trades",
        vec![
            column("symbol", DataType::Symbol),
            column("timestamp", DataType::Timestamp),
            column("price", DataType::Float64),
            column("volume", DataType::Int64),
        ],
        None,
        None,
    )
}

/// splitmix64: a tiny, well-mixed, seedable generator.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Generates `ticks` trades in batches of `SAMPLE_BATCH_ROWS`.
pub struct SampleTrades {
    rng: SplitMix64,
    prices_cents: Vec<i64>,
    names: Vec<String>,
    remaining: usize,
    timestamp_ns: i64,
}

impl SampleTrades {
    /// A generator of `ticks` rows from a fixed seed.
    pub fn new(ticks: usize) -> SampleTrades {
        let names = (0..SAMPLE_SYMBOLS_COUNT)
            .map(|i| format!("S{i:04}"))
            .collect();
        SampleTrades {
            rng: SplitMix64(42),
            prices_cents: vec![10_000; SAMPLE_SYMBOLS_COUNT],
            names,
            remaining: ticks,
            timestamp_ns: DAY_OPEN_NS,
        }
    }

    /// A symbol index with roughly Zipf-like skew: low indices are much more popular.
    fn pick_symbol(&mut self) -> usize {
        let u = (self.rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        let index = ((SAMPLE_SYMBOLS_COUNT as f64 + 1.0).powf(u) - 1.0) as usize;
        index.min(SAMPLE_SYMBOLS_COUNT - 1)
    }

    /// The next batch, or `None` when all rows were produced.
    pub fn next_batch(&mut self, schema: &TableSchema) -> Result<Option<RowBatch>, EngineError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let rows = self.remaining.min(SAMPLE_BATCH_ROWS);
        let mut builder = BatchBuilder::all_columns(schema)?;
        for _ in 0..rows {
            let symbol = self.pick_symbol();
            let step = (self.rng.next() % 3) as i64 - 1;
            let price = (self.prices_cents[symbol] + step).max(1);
            self.prices_cents[symbol] = price;
            self.timestamp_ns += 1 + (self.rng.next() % 2_000_000) as i64;
            let volume = 1 + (self.rng.next() % 1000) as i64;
            builder.push_text(0, &self.names[symbol])?;
            builder.push_value(1, &Value::Int(self.timestamp_ns))?;
            builder.push_value(2, &Value::Float(price as f64 / 100.0))?;
            builder.push_value(3, &Value::Int(volume))?;
            builder.finish_row()?;
        }
        self.remaining -= rows;
        Ok(Some(builder.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_deterministic_with_increasing_timestamps() {
        let schema = trades_schema().unwrap();
        let a = SampleTrades::new(5000)
            .next_batch(&schema)
            .unwrap()
            .unwrap();
        let b = SampleTrades::new(5000)
            .next_batch(&schema)
            .unwrap()
            .unwrap();
        assert_eq!(a, b);
        let quecto_engine::batch::ColumnValues::Timestamp(ts) = &a.columns[1].values else {
            panic!()
        };
        assert!(ts.windows(2).all(|w| w[0] < w[1]));
    }
}
