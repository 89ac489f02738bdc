//! Command-line arguments of the `quecto-bench` subcommands, and their checks.
//!
//! Each subcommand's flags are a `clap::Args` struct here, so the binary only dispatches and
//! tests can parse flags without running anything. Every count is checked against its ceiling
//! in `limits` before any work starts.

use crate::error::BenchError;
use crate::fsync::FsyncConfig;
use crate::gen::{GenConfig, InsertFormat, SymbolChoice, SEED_DEFAULT};
use crate::ingest::{Feeds, IngestConfig, IngestWal};
use crate::limits::{
    BATCH_ROWS_MAX, CHECKPOINT_MB_MAX, FSYNC_BLOCK_SIZE_MAX, FSYNC_BLOCK_SIZE_MIN,
    FSYNC_SAMPLES_COUNT_MAX, INGEST_CORES_MAX, ITERATIONS_COUNT_MAX, ROWS_MAX, SPIN_US_MAX,
    SYMBOLS_COUNT_MAX, WAL_BATCH_MS_MAX, WRITERS_PER_EXECUTOR_MAX,
};
use crate::peers::PeersLoadConfig;
use crate::tickgen::TICK_SEED_DEFAULT;
use clap::Args;
use quecto_engine::wal::{SyncMode, WAL_WRITES_IN_FLIGHT_DEFAULT, WAL_WRITES_IN_FLIGHT_MAX};
use std::path::PathBuf;
use std::time::Duration;

/// Where the server is.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct ServerArgs {
    /// Server base URL, http only.
    #[arg(long, default_value = "http://127.0.0.1:8123")]
    pub url: String,
}

/// Flags of `ping`.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct PingArgs {
    /// Server to ping.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Measured round trips.
    #[arg(long, default_value_t = 20_000)]
    pub count: u64,
    /// Round trips sent before measuring (not recorded).
    #[arg(long, default_value_t = 2_000)]
    pub warmup: u64,
}

/// Flags of `query`.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct QueryArgs {
    /// Server to query.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The statement, sent as the body of `POST /` (add `FORMAT TabSeparated` for text).
    #[arg(long)]
    pub sql: String,
    /// Measured executions.
    #[arg(long, default_value_t = 1_000)]
    pub count: u64,
    /// Executions before measuring (not recorded).
    #[arg(long, default_value_t = 100)]
    pub warmup: u64,
}

/// Flags of `insert`.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct InsertArgs {
    /// Server to load.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Rows to generate and send (all encoded in memory first: ~30 B/row RowBinary).
    #[arg(long, default_value_t = 10_000_000)]
    pub rows: u64,
    /// Rows per request.
    #[arg(long, default_value_t = 10_000)]
    pub batch: u64,
    /// Distinct symbols, named S0000, S0001, …
    #[arg(long, default_value_t = 1_000)]
    pub symbols: u32,
    /// How each trade's symbol is picked.
    #[arg(long, value_enum, default_value_t = SymbolChoice::Zipf)]
    pub symbol_choice: SymbolChoice,
    /// Body format.
    #[arg(long, value_enum, default_value_t = InsertFormat::RowBinary)]
    pub format: InsertFormat,
    /// Target table (created with the trades schema if missing).
    #[arg(long, default_value = "trades")]
    pub table: String,
    /// Seed of the generated data; the same seed sends the same bytes.
    #[arg(long, default_value_t = SEED_DEFAULT)]
    pub seed: u64,
}

/// Flags of `suite`.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct SuiteArgs {
    /// Server to measure.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Rows the table must hold; inserted (10,000-row RowBinary batches) when it has fewer.
    #[arg(long, default_value_t = 10_000_000)]
    pub rows: u64,
    /// Table to load and query (trades schema).
    #[arg(long, default_value = "trades")]
    pub table: String,
    /// Measured pings.
    #[arg(long, default_value_t = 20_000)]
    pub ping_count: u64,
    /// Pings before measuring.
    #[arg(long, default_value_t = 2_000)]
    pub ping_warmup: u64,
    /// Measured VWAP queries.
    #[arg(long, default_value_t = 2_000)]
    pub vwap_count: u64,
    /// VWAP queries before measuring.
    #[arg(long, default_value_t = 200)]
    pub vwap_warmup: u64,
    /// Measured full-table scans.
    #[arg(long, default_value_t = 100)]
    pub scan_count: u64,
    /// Full-table scans before measuring.
    #[arg(long, default_value_t = 5)]
    pub scan_warmup: u64,
}

/// Flags of `peers-load`.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct PeersLoadArgs {
    /// Server to load.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Trades to generate (the harness's --rows; its --quick is 1,000,000).
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Quotes to generate (default: as many as trades).
    #[arg(long)]
    pub quote_rows: Option<u64>,
    /// The data set's seed (the harness's default is 42).
    #[arg(long, default_value_t = TICK_SEED_DEFAULT)]
    pub seed: u64,
    /// Rows per RowBinary request (a request must fit the server's body and WAL record limits).
    #[arg(long, default_value_t = 262_144)]
    pub chunk: u64,
}

impl PeersLoadArgs {
    /// The checked load settings.
    pub fn config(&self) -> Result<PeersLoadConfig, BenchError> {
        let quote_rows = self.quote_rows.unwrap_or(self.rows);
        range_check("rows", self.rows, 1, ROWS_MAX)?;
        range_check("quote-rows", quote_rows, 1, ROWS_MAX)?;
        range_check("chunk", self.chunk, 1, BATCH_ROWS_MAX)?;
        Ok(PeersLoadConfig {
            trades_rows_count: self.rows as usize,
            quotes_rows_count: quote_rows as usize,
            seed: self.seed,
            chunk_rows_count: self.chunk as usize,
        })
    }
}

/// A measured loop: `warmup` unrecorded iterations, then `count` recorded ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopCounts {
    /// Recorded iterations, 1 … `ITERATIONS_COUNT_MAX`.
    pub count: u64,
    /// Unrecorded iterations first, 0 … `ITERATIONS_COUNT_MAX`.
    pub warmup: u64,
}

impl LoopCounts {
    /// Checked counts; `name` is the flag reported on error (`count`, `vwap-count`, …).
    pub fn new(name: &'static str, count: u64, warmup: u64) -> Result<Self, BenchError> {
        range_check(name, count, 1, ITERATIONS_COUNT_MAX)?;
        range_check("warmup", warmup, 0, ITERATIONS_COUNT_MAX)?;
        Ok(Self { count, warmup })
    }
}

impl InsertArgs {
    /// The generator settings, checked against the ceilings.
    pub fn gen_config(&self) -> Result<GenConfig, BenchError> {
        table_name_check(&self.table)?;
        gen_config_check(GenConfig {
            rows_count: self.rows,
            batch_rows_count: self.batch,
            symbols_count: self.symbols,
            symbol_choice: self.symbol_choice,
            format: self.format,
            seed: self.seed,
        })
    }
}

/// `config` unchanged when every count is within its ceiling, else an `Argument` error.
pub fn gen_config_check(config: GenConfig) -> Result<GenConfig, BenchError> {
    range_check("rows", config.rows_count, 1, ROWS_MAX)?;
    range_check("batch", config.batch_rows_count, 1, BATCH_ROWS_MAX)?;
    let symbols_count = u64::from(config.symbols_count);
    range_check("symbols", symbols_count, 1, u64::from(SYMBOLS_COUNT_MAX))?;
    Ok(config)
}

/// `value` within `min ..= max`, or an `Argument` error naming the flag and the range.
pub fn range_check(name: &'static str, value: u64, min: u64, max: u64) -> Result<(), BenchError> {
    if value < min || value > max {
        return Err(BenchError::Argument {
            name,
            detail: format!("{value} is outside {min} ..= {max}"),
        });
    }
    Ok(())
}

/// A plain SQL identifier (`[A-Za-z_][A-Za-z0-9_]*`, at most 64 bytes): the name is pasted
/// into statements, so anything else is refused rather than quoted.
pub fn table_name_check(table: &str) -> Result<(), BenchError> {
    let mut bytes = table.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !first_ok || !rest_ok || table.len() > 64 {
        return Err(BenchError::Argument {
            name: "table",
            detail: format!("{table:?} is not a plain identifier [A-Za-z_][A-Za-z0-9_]*"),
        });
    }
    Ok(())
}

/// Flags of `ingest` (in-process, no server).
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct IngestArgs {
    /// Executors (pinned cores) to run.
    #[arg(long, default_value_t = 2)]
    pub cores: usize,
    /// Rows per insert call.
    #[arg(long, default_value_t = 4096)]
    pub batch: usize,
    /// Rows in total (split over the executors).
    #[arg(long, default_value_t = 10_000_000)]
    pub rows: usize,
    /// Concurrent writer tasks per executor, each inserting its share of the batches.
    #[arg(long, default_value_t = 1)]
    pub writers: usize,
    /// Log every insert to a WAL under DIR/wal before applying it (durable ingest). DIR must
    /// be empty or absent; the WAL (and DIR, when the run created it) is removed at the end.
    #[arg(long, value_name = "DIR")]
    pub wal_dir: Option<PathBuf>,
    /// When the WAL acknowledges an insert (only with --wal-dir).
    #[arg(long, value_enum, default_value_t = WalModeArg::Sync)]
    pub wal_mode: WalModeArg,
    /// Longest time between fdatasyncs with `--wal-mode batch`, in milliseconds.
    #[arg(long, default_value_t = 10)]
    pub wal_batch_ms: u64,
    /// Checkpoint a shard after this many MiB of log (the server's default is 256).
    #[arg(long, default_value_t = 256)]
    pub checkpoint_mb: u64,
    /// Microseconds an idle executor spins before it parks (the server's `--spin-us`): while
    /// a shard waits on its fdatasync, a spinning executor sees a cross-core request or
    /// answer without a sleep->wake.
    #[arg(long, default_value_t = 50)]
    pub spin_us: u64,
    /// Most WAL writes a shard has in flight at once in `sync` mode (1: each waits for the
    /// one before, as before pipelining).
    #[arg(long, default_value_t = WAL_WRITES_IN_FLIGHT_DEFAULT)]
    pub wal_writes_in_flight: usize,
    /// How the writers' streams relate: `split` (each writer a feed of its own symbols, rows
    /// reach each partition in time order), `owned` (as split, each executor's writers taking
    /// only the symbols its own shard owns, as shard-aware clients do: no insert crosses
    /// cores) or `overlapping` (every writer writes every symbol on its own clock: late rows
    /// everywhere, a stress test of out-of-order merging).
    #[arg(long, value_enum, default_value_t = Feeds::Split)]
    pub feeds: Feeds,
}

/// `--wal-mode` values; the same choice the server offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WalModeArg {
    /// Acknowledge after the write and an fdatasync (survives power loss).
    Sync,
    /// Acknowledge after the write; fdatasync at least every --wal-batch-ms.
    Batch,
    /// Acknowledge once buffered (not crash-safe).
    Off,
}

impl WalModeArg {
    /// The WAL's sync mode; `batch_ms` is used by `Batch` only.
    pub fn sync_mode(self, batch_ms: u64) -> SyncMode {
        match self {
            WalModeArg::Sync => SyncMode::Sync,
            WalModeArg::Batch => SyncMode::Batch {
                interval_ms: batch_ms,
            },
            WalModeArg::Off => SyncMode::Off,
        }
    }
}

impl IngestArgs {
    /// The run's settings, every count checked against its ceiling. The WAL directory is
    /// checked (empty or absent) when the run starts, not here.
    pub fn config(&self) -> Result<IngestConfig, BenchError> {
        range_check("cores", self.cores as u64, 1, INGEST_CORES_MAX as u64)?;
        range_check("batch", self.batch as u64, 1, BATCH_ROWS_MAX)?;
        range_check("rows", self.rows as u64, 1, ROWS_MAX)?;
        let writers_max = WRITERS_PER_EXECUTOR_MAX as u64;
        range_check("writers", self.writers as u64, 1, writers_max)?;
        range_check("wal-batch-ms", self.wal_batch_ms, 1, WAL_BATCH_MS_MAX)?;
        range_check("checkpoint-mb", self.checkpoint_mb, 1, CHECKPOINT_MB_MAX)?;
        range_check("spin-us", self.spin_us, 0, SPIN_US_MAX)?;
        let in_flight_max = WAL_WRITES_IN_FLIGHT_MAX as u64;
        range_check(
            "wal-writes-in-flight",
            self.wal_writes_in_flight as u64,
            1,
            in_flight_max,
        )?;
        let wal = self.wal_dir.as_ref().map(|dir| IngestWal {
            dir: dir.clone(),
            sync_mode: self.wal_mode.sync_mode(self.wal_batch_ms),
            checkpoint_log_bytes: self.checkpoint_mb << 20,
            writes_in_flight_max: self.wal_writes_in_flight,
        });
        Ok(IngestConfig {
            cores: self.cores,
            batch_rows: self.batch,
            rows: self.rows,
            writers: self.writers,
            wal,
            spin_before_park: Duration::from_micros(self.spin_us),
            feeds: self.feeds,
        })
    }
}

/// Flags of `fsync` (the disk's durable-write floor; no server, no engine).
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct FsyncArgs {
    /// Existing directory to measure in (use the one the WAL will live on).
    #[arg(long)]
    pub dir: PathBuf,
    /// Measured write + fdatasync samples.
    #[arg(long, default_value_t = 2_000)]
    pub count: u64,
    /// Samples before measuring (not recorded).
    #[arg(long, default_value_t = 100)]
    pub warmup: u64,
    /// Bytes written per sample: a multiple of 4096, at most 1 MiB.
    #[arg(long, default_value_t = 4_096)]
    pub block_bytes: usize,
}

impl FsyncArgs {
    /// The run's settings, checked against the ceilings.
    pub fn config(&self) -> Result<FsyncConfig, BenchError> {
        let counts = LoopCounts::new("count", self.count, self.warmup)?;
        range_check("count", self.count, 1, FSYNC_SAMPLES_COUNT_MAX)?;
        range_check(
            "warmup",
            self.warmup,
            0,
            FSYNC_SAMPLES_COUNT_MAX - self.count,
        )?;
        let (min, max) = (FSYNC_BLOCK_SIZE_MIN as u64, FSYNC_BLOCK_SIZE_MAX as u64);
        range_check("block-bytes", self.block_bytes as u64, min, max)?;
        if !self.block_bytes.is_multiple_of(FSYNC_BLOCK_SIZE_MIN) {
            return Err(BenchError::Argument {
                name: "block-bytes",
                detail: format!(
                    "{} is not a multiple of {FSYNC_BLOCK_SIZE_MIN} (O_DIRECT alignment)",
                    self.block_bytes
                ),
            });
        }
        Ok(FsyncConfig {
            dir: self.dir.clone(),
            counts,
            block_size: self.block_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct InsertOnly {
        #[command(flatten)]
        args: InsertArgs,
    }

    #[derive(Parser, Debug)]
    struct PeersLoadOnly {
        #[command(flatten)]
        args: PeersLoadArgs,
    }

    #[test]
    fn peers_load_defaults_are_the_quick_data_set_and_counts_are_checked() -> Result<(), clap::Error>
    {
        let args = PeersLoadOnly::try_parse_from(["peers-load"])?.args;
        let config = args.config().unwrap();
        assert_eq!(
            (
                config.trades_rows_count,
                config.quotes_rows_count,
                config.seed
            ),
            (1_000_000, 1_000_000, 42)
        );
        let odd =
            PeersLoadOnly::try_parse_from(["peers-load", "--rows", "7", "--quote-rows", "3"])?;
        let config = odd.args.config().unwrap();
        assert_eq!((config.trades_rows_count, config.quotes_rows_count), (7, 3));
        for (bad, flag) in [
            (
                PeersLoadArgs {
                    rows: 0,
                    ..args.clone()
                },
                "rows",
            ),
            (
                PeersLoadArgs {
                    quote_rows: Some(ROWS_MAX + 1),
                    ..args.clone()
                },
                "quote-rows",
            ),
            (
                PeersLoadArgs {
                    chunk: 0,
                    ..args.clone()
                },
                "chunk",
            ),
            (
                PeersLoadArgs {
                    chunk: BATCH_ROWS_MAX + 1,
                    ..args.clone()
                },
                "chunk",
            ),
        ] {
            let error = bad.config().unwrap_err();
            assert!(
                matches!(error, BenchError::Argument { name, .. } if name == flag),
                "{error}"
            );
        }
        Ok(())
    }

    #[test]
    fn insert_defaults_are_the_standard_run() -> Result<(), clap::Error> {
        let parsed = InsertOnly::try_parse_from(["insert"])?.args;
        assert_eq!(parsed.server.url, "http://127.0.0.1:8123");
        assert_eq!(
            (parsed.rows, parsed.batch, parsed.symbols),
            (10_000_000, 10_000, 1_000)
        );
        assert_eq!(parsed.format, InsertFormat::RowBinary);
        assert_eq!(parsed.symbol_choice, SymbolChoice::Zipf);
        assert_eq!(parsed.table, "trades");
        let csv = InsertOnly::try_parse_from([
            "insert",
            "--format",
            "csv",
            "--symbol-choice",
            "uniform",
        ])?;
        assert_eq!(
            (csv.args.format, csv.args.symbol_choice),
            (InsertFormat::Csv, SymbolChoice::Uniform)
        );
        Ok(())
    }

    #[test]
    fn insert_refuses_counts_beyond_the_ceilings() -> Result<(), clap::Error> {
        let args = InsertOnly::try_parse_from(["insert"])?.args;
        let cases = [
            InsertArgs {
                rows: 0,
                ..args.clone()
            },
            InsertArgs {
                rows: ROWS_MAX + 1,
                ..args.clone()
            },
            InsertArgs {
                batch: 0,
                ..args.clone()
            },
            InsertArgs {
                batch: BATCH_ROWS_MAX + 1,
                ..args.clone()
            },
            InsertArgs {
                symbols: 0,
                ..args.clone()
            },
            InsertArgs {
                symbols: SYMBOLS_COUNT_MAX + 1,
                ..args.clone()
            },
            InsertArgs {
                table: "trades; DROP TABLE trades".to_string(),
                ..args.clone()
            },
        ];
        for case in cases {
            assert!(
                matches!(case.gen_config(), Err(BenchError::Argument { .. })),
                "{case:?}"
            );
        }
        assert!(args.gen_config().is_ok());
        Ok(())
    }

    #[test]
    fn loop_counts_need_at_least_one_measured_iteration() {
        assert!(LoopCounts::new("count", 0, 10).is_err());
        assert!(LoopCounts::new("count", ITERATIONS_COUNT_MAX + 1, 0).is_err());
        assert_eq!(
            LoopCounts::new("count", 1, 0).ok(),
            Some(LoopCounts {
                count: 1,
                warmup: 0
            })
        );
    }

    #[test]
    fn table_names_are_plain_identifiers() {
        assert!(table_name_check("trades").is_ok());
        assert!(table_name_check("_t2").is_ok());
        for bad in ["", "2t", "a-b", "a b", "t'", &"x".repeat(65)] {
            assert!(table_name_check(bad).is_err(), "{bad}");
        }
    }

    #[derive(Parser, Debug)]
    struct IngestOnly {
        #[command(flatten)]
        args: IngestArgs,
    }

    #[derive(Parser, Debug)]
    struct FsyncOnly {
        #[command(flatten)]
        args: FsyncArgs,
    }

    #[test]
    fn ingest_defaults_are_one_writer_and_no_wal() -> Result<(), BenchError> {
        let parsed = IngestOnly::try_parse_from(["ingest"])
            .map_err(|e| BenchError::Internal {
                detail: e.to_string(),
            })?
            .args;
        let config = parsed.config()?;
        assert_eq!(
            (config.cores, config.batch_rows, config.writers),
            (2, 4096, 1)
        );
        assert!(config.wal.is_none());
        Ok(())
    }

    #[test]
    fn ingest_wal_mode_maps_to_the_sync_mode() -> Result<(), BenchError> {
        let parse = |mode: &str| {
            IngestOnly::try_parse_from([
                "ingest",
                "--wal-dir",
                "/tmp/x",
                "--wal-mode",
                mode,
                "--wal-batch-ms",
                "7",
            ])
            .map_err(|e| BenchError::Internal {
                detail: e.to_string(),
            })
        };
        let modes = [
            ("sync", SyncMode::Sync),
            ("batch", SyncMode::Batch { interval_ms: 7 }),
            ("off", SyncMode::Off),
        ];
        for (name, sync_mode) in modes {
            let wal = parse(name)?.args.config()?.wal;
            assert_eq!(
                wal.map(|w| (w.dir, w.sync_mode)),
                Some(("/tmp/x".into(), sync_mode))
            );
        }
        assert!(parse("fsync").is_err());
        Ok(())
    }

    #[test]
    fn ingest_refuses_counts_beyond_the_ceilings() -> Result<(), BenchError> {
        let args = IngestOnly::try_parse_from(["ingest"])
            .map_err(|e| BenchError::Internal {
                detail: e.to_string(),
            })?
            .args;
        let cases = [
            IngestArgs {
                cores: 0,
                ..args.clone()
            },
            IngestArgs {
                batch: 0,
                ..args.clone()
            },
            IngestArgs {
                rows: 0,
                ..args.clone()
            },
            IngestArgs {
                writers: 0,
                ..args.clone()
            },
            IngestArgs {
                writers: WRITERS_PER_EXECUTOR_MAX + 1,
                ..args.clone()
            },
            IngestArgs {
                checkpoint_mb: 0,
                ..args.clone()
            },
            IngestArgs {
                wal_batch_ms: 0,
                ..args.clone()
            },
            IngestArgs {
                wal_batch_ms: WAL_BATCH_MS_MAX + 1,
                ..args.clone()
            },
        ];
        for case in cases {
            assert!(
                matches!(case.config(), Err(BenchError::Argument { .. })),
                "{case:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn fsync_block_must_be_aligned_and_bounded() -> Result<(), BenchError> {
        let args = FsyncOnly::try_parse_from(["fsync", "--dir", "/tmp"])
            .map_err(|e| BenchError::Internal {
                detail: e.to_string(),
            })?
            .args;
        assert_eq!(args.config()?.block_size, 4096);
        assert_eq!(
            args.config()?.counts,
            LoopCounts {
                count: 2_000,
                warmup: 100
            }
        );
        for block_bytes in [0, 512, 4097, 6144, FSYNC_BLOCK_SIZE_MAX + 4096] {
            let case = FsyncArgs {
                block_bytes,
                ..args.clone()
            };
            assert!(
                matches!(case.config(), Err(BenchError::Argument { .. })),
                "{case:?}"
            );
        }
        let too_many = FsyncArgs {
            count: FSYNC_SAMPLES_COUNT_MAX,
            warmup: 1,
            ..args.clone()
        };
        assert!(too_many.config().is_err());
        let ok = FsyncArgs {
            block_bytes: 8192,
            ..args
        };
        assert_eq!(ok.config()?.block_size, 8192);
        Ok(())
    }
}
