//! `quecto-bench ingest`: in-process ingest through the engine API: pinned executors, the
//! real coordinator insert path (route rows over the ring, apply on the owning shard, await
//! every ack), no HTTP. Each executor pre-builds its batches before the clock starts.
//!
//! With `--wal-dir` every shard logs each insert to its io_uring WAL before applying it, so
//! the per-batch latency is the durable acknowledgement (in `sync` mode: after the record's
//! write and fdatasync). `--writers N` runs N concurrent writer tasks per executor, which is
//! what lets the WAL's group commit share one fdatasync among several inserts.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use glommio::sync::Semaphore;
use hdrhistogram::Histogram;
use quecto_engine::batch::{BatchBuilder, RowBatch, SymbolKey};
use quecto_engine::ring::HashRing;
use quecto_engine::runtime::journal::WalSettings;
use quecto_engine::runtime::{self, RuntimeConfig, Shards};
use quecto_engine::schema::TableSchema;
use quecto_engine::types::Value;
use quecto_engine::wal::{SyncMode, WalConfig};
use quecto_ops::coordinator::Coordinator;
use quecto_ops::sample::trades_schema;

use crate::error::BenchError;
use crate::gen::{symbol_name, SymbolChoice, TradeGen};
use crate::report::{histogram_new, latency_line, latency_record};

/// Longest wait for the other executors at a start-up barrier (shards connected, batches
/// built); beyond it the executor gives up with an error instead of waiting forever.
const BARRIER_WAIT_MAX: Duration = Duration::from_secs(600);

/// Name of the WAL directory the run creates inside `--wal-dir`.
const WAL_SUBDIR_NAME: &str = "wal";

/// Name of the checkpoint (sealed column segments) directory inside `--wal-dir`.
const SEGMENTS_SUBDIR_NAME: &str = "segments";

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestConfig {
    /// Executors (cores).
    pub cores: usize,
    /// Rows per insert call.
    pub batch_rows: usize,
    /// Rows in total, split evenly over the executors.
    pub rows: usize,
    /// Concurrent writer tasks per executor.
    pub writers: usize,
    /// Durable ingest through the WAL; `None` keeps data in memory only.
    pub wal: Option<IngestWal>,
    /// How long an idle executor spins before parking.
    pub spin_before_park: Duration,
    /// How the writers' trade streams relate.
    pub feeds: Feeds,
}

/// How the writers' trade streams relate (`--feeds`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Feeds {
    /// Every writer is a feed of its own share of the symbols (rank r goes to writer r mod
    /// the number of writers in all) with its own clock, as feed handlers split by symbol:
    /// each partition receives its rows in time order from one writer.
    #[default]
    Split,
    /// Every executor runs one stream over all symbols, all starting at the same instant, and
    /// deals its batches to its writers: every partition receives interleaved rows from every
    /// writer, each a little late for the others. A stress test of out-of-order merging.
    Overlapping,
    /// As `split`, but the writers of each executor write only the symbols its own shard owns
    /// (shared out among them), as a shard-aware client does: no insert crosses cores.
    Owned,
}

impl Feeds {
    /// The `--feeds` value.
    pub fn name(self) -> &'static str {
        match self {
            Feeds::Split => "split",
            Feeds::Overlapping => "overlapping",
            Feeds::Owned => "owned",
        }
    }
}

/// Symbols of the generated market (`S0000` … `S0999`).
const SYMBOLS_COUNT: u32 = 1000;

/// Where and how the shards log, for a durable run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestWal {
    /// Empty or absent directory; the WAL goes to its `wal` subdirectory.
    pub dir: PathBuf,
    /// When an insert is acknowledged.
    pub sync_mode: SyncMode,
    /// Log bytes after which a shard checkpoints (the server's `--checkpoint-mb`).
    pub checkpoint_log_bytes: u64,
    /// Most `sync`-mode WAL writes in flight per shard (`WalConfig::writes_in_flight_max`).
    pub writes_in_flight_max: usize,
}

/// What each executor does: plain data, copied into every executor.
#[derive(Clone, Copy, Debug)]
struct ExecutorPlan {
    executors: usize,
    batch_rows: usize,
    rows_per_executor: usize,
    writers: usize,
    feeds: Feeds,
}

/// One executor's (or one writer's) measurement.
struct ExecutorReport {
    rows: usize,
    elapsed: Duration,
    histogram: Histogram<u64>,
}

/// Runs the in-process ingest benchmark and returns its report lines. A durable run claims
/// its WAL directory first and removes what it created at the end, also on failure.
pub fn ingest_run(config: &IngestConfig) -> Result<Vec<String>, BenchError> {
    let Some(wal) = config.wal.as_ref() else {
        return ingest_run_engine(config, None);
    };
    let claimed = WalDirClaim::claim(&wal.dir)?;
    let settings = WalSettings {
        dir: claimed.dir.join(WAL_SUBDIR_NAME),
        config: WalConfig {
            sync_mode: wal.sync_mode,
            writes_in_flight_max: wal.writes_in_flight_max,
            ..WalConfig::default()
        },
        segments_dir: claimed.dir.join(SEGMENTS_SUBDIR_NAME),
        checkpoint_log_bytes: wal.checkpoint_log_bytes,
    };
    let lines = ingest_run_engine(config, Some(settings))?;
    claimed.remove()?;
    Ok(lines)
}

fn ingest_run_engine(
    config: &IngestConfig,
    wal: Option<WalSettings>,
) -> Result<Vec<String>, BenchError> {
    let engine = |detail: String| BenchError::Engine { detail };
    let cpus: Vec<usize> = runtime::allowed_cpus()
        .into_iter()
        .take(config.cores.max(1))
        .collect();
    let plan = executor_plan(config, cpus.len())?;
    let (report_tx, report_rx) = mpsc::channel::<Result<ExecutorReport, String>>();
    let runtime_config = RuntimeConfig {
        cpus,
        spin_before_park: config.spin_before_park,
        wal,
    };
    let built = Arc::new(AtomicUsize::new(0));
    let runtime = runtime::start(&runtime_config, move |shards| {
        let report_tx = report_tx.clone();
        let built = Arc::clone(&built);
        async move {
            let report = executor_run(shards, plan, built).await;
            let _ = report_tx.send(report);
        }
    })
    .map_err(|e| engine(e.to_string()))?;
    let mut reports = Vec::with_capacity(plan.executors);
    for _ in 0..plan.executors {
        reports.push(
            report_rx
                .recv()
                .map_err(|e| engine(e.to_string()))?
                .map_err(engine)?,
        );
    }
    runtime.join().map_err(|e| engine(e.to_string()))?;
    Ok(report_lines(config, &reports))
}

/// The per-executor plan; every writer must get at least one batch, or `--writers` would
/// report concurrency that never happened.
fn executor_plan(config: &IngestConfig, executors: usize) -> Result<ExecutorPlan, BenchError> {
    if executors == 0 {
        return Err(BenchError::Engine {
            detail: "no CPU is allowed to this process".to_string(),
        });
    }
    let rows_per_executor = config.rows / executors;
    let batches_per_executor = rows_per_executor.div_ceil(config.batch_rows.max(1));
    if config.writers > batches_per_executor {
        return Err(BenchError::Argument {
            name: "writers",
            detail: format!(
                "{} writers per executor but only {batches_per_executor} batches per executor \
                 ({} rows / {executors} executors / batch {}): raise --rows",
                config.writers, config.rows, config.batch_rows
            ),
        });
    }
    let feeds_count = executors * config.writers;
    if config.feeds != Feeds::Overlapping && feeds_count > SYMBOLS_COUNT as usize {
        return Err(BenchError::Argument {
            name: "writers",
            detail: format!(
                "--feeds {} gives each of the {feeds_count} writers ({executors} executors x \
                 {}) its own symbols, but there are only {SYMBOLS_COUNT}",
                config.feeds.name(),
                config.writers
            ),
        });
    }
    Ok(ExecutorPlan {
        executors,
        batch_rows: config.batch_rows.max(1),
        rows_per_executor,
        writers: config.writers,
        feeds: config.feeds,
    })
}

/// `wal=` field of the ingest line.
fn wal_mode_name(wal: Option<&IngestWal>) -> &'static str {
    match wal.map(|w| w.sync_mode) {
        None => "none",
        Some(SyncMode::Sync) => "sync",
        Some(SyncMode::Batch { .. }) => "batch",
        Some(SyncMode::Off) => "off",
    }
}

fn report_lines(config: &IngestConfig, reports: &[ExecutorReport]) -> Vec<String> {
    let rows: usize = reports.iter().map(|r| r.rows).sum();
    let slowest = reports.iter().map(|r| r.elapsed).max().unwrap_or_default();
    let mut merged = reports.first().map(|r| r.histogram.clone());
    if let Some(total) = merged.as_mut() {
        for report in &reports[1..] {
            let _ = total.add(&report.histogram);
        }
    }
    let rate = rows as f64 / slowest.as_secs_f64().max(1e-9);
    let mut lines = vec![format!(
        "ingest  cores={} batch={} rows={rows} writers={} feeds={} wal={} elapsed_s={:.3} \
         rows_per_s={rate:.0}",
        reports.len(),
        config.batch_rows,
        config.writers,
        config.feeds.name(),
        wal_mode_name(config.wal.as_ref()),
        slowest.as_secs_f64()
    )];
    if let Some(histogram) = merged {
        lines.push(latency_line("ingest_batch", &histogram, slowest));
    }
    lines
}

async fn executor_run(
    shards: Rc<Shards>,
    plan: ExecutorPlan,
    built: Arc<AtomicUsize>,
) -> Result<ExecutorReport, String> {
    let prepared = executor_run_prepare(&shards, plan).await;
    // Building is CPU-bound and never yields: start the clock only once every executor has
    // built its batches, or one would time inserts into a shard that is not serving yet. A
    // failed executor still arrives, so the others do not wait for it until the deadline.
    built.fetch_add(1, Ordering::AcqRel);
    barrier_wait(|| built.load(Ordering::Acquire) >= plan.executors).await?;
    let (coordinator, schema, batches) = prepared?;
    let start = Rc::new(Semaphore::new(0));
    let tasks: Vec<_> = batches
        .into_iter()
        .map(|share| {
            let writer = writer_run(
                Rc::clone(&coordinator),
                Rc::clone(&schema),
                share,
                Rc::clone(&start),
            );
            glommio::spawn_local(writer)
        })
        .collect();
    // Every writer is parked on `start`; one signal releases all of them at the same instant.
    let started = Instant::now();
    start.signal(plan.writers as u64);
    let mut histogram = histogram_new().map_err(|e| e.to_string())?;
    let mut rows = 0;
    for task in tasks {
        let report = task.await?;
        rows += report.rows;
        histogram
            .add(&report.histogram)
            .map_err(|e| e.to_string())?;
    }
    // The clock stops once the rows are readable: any request but an insert makes a shard
    // merge the late rows still waiting in its partitions first.
    coordinator.stats().await.map_err(|e| e.to_string())?;
    Ok(ExecutorReport {
        rows,
        elapsed: started.elapsed(),
        histogram,
    })
}

type Prepared = (Rc<Coordinator>, Rc<TableSchema>, Vec<Vec<RowBatch>>);

/// Everything before the clock: links up, table created, this executor's batches built.
async fn executor_run_prepare(shards: &Rc<Shards>, plan: ExecutorPlan) -> Result<Prepared, String> {
    let coordinator = Coordinator::new(Rc::clone(shards)).map_err(|e| e.to_string())?;
    let schema = trades_schema().map_err(|e| e.to_string())?;
    barrier_wait(|| shards.status().all_ready()).await?;
    // Every executor creates the table (IF NOT EXISTS): the first create wins on each shard.
    coordinator
        .ensure_table(&schema)
        .await
        .map_err(|e| e.to_string())?;
    let batches = writer_batches(&schema, plan, shards.index())?;
    Ok((Rc::new(coordinator), Rc::new(schema), batches))
}

/// The batches of each writer of executor `executor_index`, per `plan.feeds`.
fn writer_batches(
    schema: &TableSchema,
    plan: ExecutorPlan,
    executor_index: usize,
) -> Result<Vec<Vec<RowBatch>>, String> {
    match plan.feeds {
        Feeds::Overlapping => {
            let generator = TradeGen::new(
                SYMBOLS_COUNT,
                SymbolChoice::Zipf,
                42 + executor_index as u64,
            );
            let batches =
                build_batches(schema, generator, plan.rows_per_executor, plan.batch_rows)?;
            Ok(share_round_robin(batches, plan.writers))
        }
        Feeds::Split | Feeds::Owned => {
            let symbols = feed_symbols(plan, executor_index)?;
            symbols
                .iter()
                .enumerate()
                .map(|(writer, symbols)| {
                    let feed = executor_index * plan.writers + writer;
                    let generator =
                        TradeGen::over_symbols(symbols, SymbolChoice::Zipf, 42 + feed as u64);
                    let rows = plan.rows_per_executor / plan.writers
                        + usize::from(writer < plan.rows_per_executor % plan.writers);
                    build_batches(schema, generator, rows, plan.batch_rows)
                })
                .collect()
        }
    }
}

/// Polls `done` every 100 µs until it holds, or fails after `BARRIER_WAIT_MAX`.
async fn barrier_wait(done: impl Fn() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + BARRIER_WAIT_MAX;
    while !done() {
        if Instant::now() >= deadline {
            return Err(format!(
                "the other executors did not arrive within {BARRIER_WAIT_MAX:?}"
            ));
        }
        glommio::timer::sleep(Duration::from_micros(100)).await;
    }
    Ok(())
}

/// One writer: waits for the common start, then inserts its batches one after another; each
/// latency runs from the call to the acknowledgement (durable, when the WAL syncs).
async fn writer_run(
    coordinator: Rc<Coordinator>,
    schema: Rc<TableSchema>,
    batches: Vec<RowBatch>,
    start: Rc<Semaphore>,
) -> Result<ExecutorReport, String> {
    start.acquire(1).await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut histogram = histogram_new().map_err(|e| e.to_string())?;
    let mut rows = 0;
    for batch in batches {
        rows += batch.rows_count;
        let sent = Instant::now();
        coordinator
            .insert(&schema, batch)
            .await
            .map_err(|e| e.to_string())?;
        latency_record(&mut histogram, sent.elapsed());
    }
    Ok(ExecutorReport {
        rows,
        elapsed: started.elapsed(),
        histogram,
    })
}

/// Deals `items` to `parts` shares in turn (item i to share i % parts), keeping their order
/// within each share; share sizes differ by at most one.
fn share_round_robin<T>(items: Vec<T>, parts: usize) -> Vec<Vec<T>> {
    let parts = parts.max(1);
    let mut shares: Vec<Vec<T>> = (0..parts)
        .map(|_| Vec::with_capacity(items.len() / parts + 1))
        .collect();
    for (index, item) in items.into_iter().enumerate() {
        shares[index % parts].push(item);
    }
    shares
}

/// The symbol ranks of each writer of executor `executor_index` under split or owned feeds.
fn feed_symbols(plan: ExecutorPlan, executor_index: usize) -> Result<Vec<Vec<u32>>, String> {
    let shares = match plan.feeds {
        Feeds::Owned => {
            let ring = HashRing::local(plan.executors)
                .ok_or_else(|| format!("no ring of {} shards", plan.executors))?;
            let owned: Vec<u32> = (0..SYMBOLS_COUNT)
                .filter(|&rank| {
                    let key = SymbolKey::Str(symbol_name(rank).into());
                    ring.route(&key) == executor_index
                })
                .collect();
            share_round_robin(owned, plan.writers)
        }
        Feeds::Split | Feeds::Overlapping => {
            let feeds_count = plan.executors * plan.writers;
            (0..plan.writers)
                .map(|writer| {
                    let feed = executor_index * plan.writers + writer;
                    (0..SYMBOLS_COUNT)
                        .filter(|&rank| rank as usize % feeds_count == feed)
                        .collect()
                })
                .collect()
        }
    };
    if shares.iter().any(Vec::is_empty) {
        return Err(format!(
            "executor {executor_index} has fewer symbols than its {} writers",
            plan.writers
        ));
    }
    Ok(shares)
}

fn build_batches(
    schema: &TableSchema,
    mut generator: TradeGen,
    rows: usize,
    batch_rows: usize,
) -> Result<Vec<RowBatch>, String> {
    let mut batches = Vec::with_capacity(rows / batch_rows.max(1) + 1);
    let mut remaining = rows;
    while remaining > 0 {
        let count = remaining.min(batch_rows.max(1));
        let mut builder = BatchBuilder::all_columns(schema).map_err(|e| e.to_string())?;
        for _ in 0..count {
            let trade = generator.next_trade();
            let fill = |b: &mut BatchBuilder<'_>| -> Result<(), quecto_engine::EngineError> {
                b.push_text(0, generator.symbol_name(trade.symbol_index))?;
                b.push_value(1, &Value::Int(trade.timestamp_ns))?;
                b.push_value(2, &Value::Float(trade.price))?;
                b.push_value(3, &Value::Int(trade.volume))?;
                b.finish_row()
            };
            fill(&mut builder).map_err(|e| e.to_string())?;
        }
        batches.push(builder.finish());
        remaining -= count;
    }
    Ok(batches)
}

/// The `--wal-dir` of a durable run, claimed for its duration. The directory must be empty or
/// absent, so removing the `wal` and `segments` subdirectories at the end can never delete
/// anyone's data; the directory itself is removed only when this run created it. Dropping the
/// claim without `remove` (an error path) removes the same things, best-effort.
struct WalDirClaim {
    dir: PathBuf,
    dir_created: bool,
    removed: bool,
}

impl WalDirClaim {
    fn claim(dir: &Path) -> Result<Self, BenchError> {
        let io = |operation, source| BenchError::Io {
            operation,
            path: dir.to_path_buf(),
            source,
        };
        match std::fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(BenchError::Argument {
                        name: "wal-dir",
                        detail: format!(
                            "{} exists and is not empty; give an empty or absent directory \
                             (the run creates and removes {WAL_SUBDIR_NAME}/ and \
                             {SEGMENTS_SUBDIR_NAME}/ in it)",
                            dir.display()
                        ),
                    });
                }
                Ok(Self::claimed(dir, false))
            }
            Err(error) if error.kind() == ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(|e| io("create", e))?;
                Ok(Self::claimed(dir, true))
            }
            Err(error) => Err(io("list", error)),
        }
    }

    fn claimed(dir: &Path, dir_created: bool) -> Self {
        Self {
            dir: dir.to_path_buf(),
            dir_created,
            removed: false,
        }
    }

    /// Removes the WAL and the checkpoints (and the directory, when this run created it),
    /// reporting failures.
    fn remove(mut self) -> Result<(), BenchError> {
        self.removed = true;
        self.remove_files()
    }

    fn remove_files(&self) -> Result<(), BenchError> {
        for name in [WAL_SUBDIR_NAME, SEGMENTS_SUBDIR_NAME] {
            let path = self.dir.join(name);
            match std::fs::remove_dir_all(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(BenchError::Io {
                        operation: "remove",
                        path,
                        source,
                    })
                }
            }
        }
        if self.dir_created {
            std::fs::remove_dir(&self.dir).map_err(|source| BenchError::Io {
                operation: "remove",
                path: self.dir.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

impl Drop for WalDirClaim {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.remove_files();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quecto_engine::batch::ColumnValues;

    fn scratch_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("quecto-perf-{name}-{}", std::process::id()))
    }

    #[test]
    fn share_round_robin_deals_evenly_in_order() {
        let shares = share_round_robin((0..10).collect(), 3);
        assert_eq!(shares, vec![vec![0, 3, 6, 9], vec![1, 4, 7], vec![2, 5, 8]]);
        let one = share_round_robin(vec![1, 2], 1);
        assert_eq!(one, vec![vec![1, 2]]);
    }

    #[test]
    fn plan_refuses_more_writers_than_batches() {
        let config = IngestConfig {
            cores: 2,
            batch_rows: 64,
            rows: 640,
            writers: 6,
            wal: None,
            spin_before_park: Duration::from_micros(50),
            feeds: Feeds::Split,
        };
        // 640 rows / 2 executors = 320 rows = 5 batches of 64 each: 6 writers cannot all work.
        assert!(matches!(
            executor_plan(&config, 2),
            Err(BenchError::Argument {
                name: "writers",
                ..
            })
        ));
        let fits = IngestConfig {
            writers: 5,
            ..config
        };
        assert_eq!(
            executor_plan(&fits, 2).map(|p| p.rows_per_executor).ok(),
            Some(320)
        );
    }

    #[test]
    fn split_feeds_need_a_symbol_per_writer_and_own_disjoint_symbols() -> Result<(), String> {
        let config = IngestConfig {
            cores: 2,
            batch_rows: 1,
            rows: 2000,
            writers: 501,
            wal: None,
            spin_before_park: Duration::from_micros(50),
            feeds: Feeds::Split,
        };
        // 2 x 501 writers > 1000 symbols.
        assert!(executor_plan(&config, 2).is_err());
        let overlapping = IngestConfig {
            feeds: Feeds::Overlapping,
            ..config.clone()
        };
        assert!(executor_plan(&overlapping, 2).is_ok());
        let fits = IngestConfig {
            writers: 3,
            batch_rows: 50,
            ..config
        };
        let plan = executor_plan(&fits, 2).map_err(|e| e.to_string())?;
        let schema = trades_schema().map_err(|e| e.to_string())?;
        let mut owner: std::collections::HashMap<String, usize> = Default::default();
        let mut rows = 0;
        for executor in 0..2 {
            let writers = writer_batches(&schema, plan, executor)?;
            assert_eq!(writers.len(), 3);
            for (writer, batches) in writers.iter().enumerate() {
                let feed = executor * 3 + writer;
                let mut last_ts = i64::MIN;
                for batch in batches {
                    rows += batch.rows_count;
                    let ColumnValues::Timestamp(ts) = &batch.columns[1].values else {
                        return Err("timestamp column".into());
                    };
                    let ColumnValues::Symbol(names) = &batch.columns[0].values else {
                        return Err("symbol column".into());
                    };
                    for (row, &t) in ts.iter().enumerate() {
                        assert!(t > last_ts, "one feed's clock only moves forward");
                        last_ts = t;
                        let name = names.get(row).to_string();
                        assert_eq!(*owner.entry(name.clone()).or_insert(feed), feed, "{name}");
                    }
                }
            }
        }
        assert_eq!(rows, 2000);
        Ok(())
    }

    #[test]
    fn owned_feeds_write_only_the_symbols_their_shard_owns() -> Result<(), String> {
        let config = IngestConfig {
            cores: 2,
            batch_rows: 100,
            rows: 4000,
            writers: 2,
            wal: None,
            spin_before_park: Duration::from_micros(50),
            feeds: Feeds::Owned,
        };
        let plan = executor_plan(&config, 2).map_err(|e| e.to_string())?;
        let schema = trades_schema().map_err(|e| e.to_string())?;
        let ring = HashRing::local(2).ok_or("ring")?;
        let mut seen = [0usize; 2];
        for (executor, count) in seen.iter_mut().enumerate() {
            for batch in writer_batches(&schema, plan, executor)?.iter().flatten() {
                let ColumnValues::Symbol(names) = &batch.columns[0].values else {
                    return Err("symbol column".into());
                };
                for row in 0..batch.rows_count {
                    let key = SymbolKey::Str(names.get(row).into());
                    assert_eq!(ring.route(&key), executor, "{}", names.get(row));
                    *count += 1;
                }
            }
        }
        assert_eq!(seen, [2000, 2000]);
        Ok(())
    }

    #[test]
    fn wal_field_names_every_mode() {
        let wal = |sync_mode| IngestWal {
            dir: PathBuf::from("/x"),
            sync_mode,
            checkpoint_log_bytes: 1 << 20,
            writes_in_flight_max: 4,
        };
        assert_eq!(wal_mode_name(None), "none");
        assert_eq!(wal_mode_name(Some(&wal(SyncMode::Sync))), "sync");
        let batch = wal(SyncMode::Batch { interval_ms: 10 });
        assert_eq!(wal_mode_name(Some(&batch)), "batch");
        assert_eq!(wal_mode_name(Some(&wal(SyncMode::Off))), "off");
    }

    #[test]
    fn report_line_carries_writers_and_wal_mode() -> Result<(), BenchError> {
        let mut histogram = histogram_new()?;
        latency_record(&mut histogram, Duration::from_micros(100));
        let report = ExecutorReport {
            rows: 4096,
            elapsed: Duration::from_millis(500),
            histogram,
        };
        let config = IngestConfig {
            cores: 1,
            batch_rows: 4096,
            rows: 4096,
            writers: 8,
            wal: Some(IngestWal {
                dir: PathBuf::from("/x"),
                sync_mode: SyncMode::Sync,
                checkpoint_log_bytes: 1 << 20,
                writes_in_flight_max: 4,
            }),
            spin_before_park: Duration::from_micros(50),
            feeds: Feeds::Split,
        };
        let lines = report_lines(&config, &[report]);
        assert_eq!(
            lines[0],
            "ingest  cores=1 batch=4096 rows=4096 writers=8 feeds=split wal=sync elapsed_s=0.500 \
             rows_per_s=8192"
        );
        assert!(lines[1].starts_with("ingest_batch  n=1 p50=100.0us"));
        Ok(())
    }

    #[test]
    fn wal_dir_claim_refuses_a_non_empty_dir() -> Result<(), std::io::Error> {
        let dir = scratch_dir("claim-busy");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("precious"), b"data")?;
        let claimed = WalDirClaim::claim(&dir);
        assert!(matches!(
            claimed,
            Err(BenchError::Argument {
                name: "wal-dir",
                ..
            })
        ));
        assert!(dir.join("precious").exists());
        std::fs::remove_dir_all(&dir)
    }

    #[test]
    fn wal_dir_claim_removes_what_it_created() -> Result<(), BenchError> {
        let dir = scratch_dir("claim-absent");
        let claimed = WalDirClaim::claim(&dir)?;
        let wal = dir.join(WAL_SUBDIR_NAME);
        let io = |source| BenchError::Io {
            operation: "create",
            path: wal.clone(),
            source,
        };
        std::fs::create_dir_all(&wal).map_err(io)?;
        std::fs::write(wal.join("segment"), b"x").map_err(io)?;
        std::fs::create_dir_all(dir.join(SEGMENTS_SUBDIR_NAME)).map_err(io)?;
        claimed.remove()?;
        assert!(!dir.exists());
        // An empty directory the user made stays; only the WAL inside it goes.
        std::fs::create_dir_all(&dir).map_err(io)?;
        let claimed = WalDirClaim::claim(&dir)?;
        std::fs::create_dir_all(&wal).map_err(io)?;
        drop(claimed);
        assert!(dir.exists() && !dir.join(WAL_SUBDIR_NAME).exists());
        std::fs::remove_dir(&dir).map_err(io)
    }
}
