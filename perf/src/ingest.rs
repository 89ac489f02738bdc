//! `quecto-bench ingest`: in-process ingest through the engine API: pinned executors, the
//! real coordinator insert path (route rows over the ring, apply on the owning shard, await
//! every ack), no HTTP. Each executor pre-builds its batches before the clock starts.

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use quecto_engine::batch::{BatchBuilder, RowBatch};
use quecto_engine::runtime::{self, RuntimeConfig, Shards};
use quecto_engine::schema::TableSchema;
use quecto_engine::types::Value;
use quecto_ops::coordinator::Coordinator;
use quecto_ops::sample::trades_schema;

use crate::error::BenchError;
use crate::gen::{SymbolChoice, TradeGen};
use crate::report::{histogram_new, latency_line, latency_record};

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct IngestConfig {
    /// Executors (cores).
    pub cores: usize,
    /// Rows per insert call.
    pub batch_rows: usize,
    /// Rows in total, split evenly over the executors.
    pub rows: usize,
}

/// One executor's measurement.
struct ExecutorReport {
    rows: usize,
    elapsed: Duration,
    histogram: Histogram<u64>,
}

/// Runs the in-process ingest benchmark and returns its report lines.
pub fn ingest_run(config: IngestConfig) -> Result<Vec<String>, BenchError> {
    let engine = |detail: String| BenchError::Engine { detail };
    let cpus: Vec<usize> = runtime::allowed_cpus()
        .into_iter()
        .take(config.cores.max(1))
        .collect();
    let executors = cpus.len();
    let (report_tx, report_rx) = mpsc::channel::<Result<ExecutorReport, String>>();
    let runtime_config = RuntimeConfig {
        cpus,
        spin_before_park: Duration::from_micros(50),
        wal: None,
    };
    let built = Arc::new(AtomicUsize::new(0));
    let runtime = runtime::start(&runtime_config, move |shards| {
        let report_tx = report_tx.clone();
        let built = Arc::clone(&built);
        async move {
            let report = executor_run(shards, config, executors, built).await;
            let _ = report_tx.send(report);
        }
    })
    .map_err(|e| engine(e.to_string()))?;
    let mut reports = Vec::with_capacity(executors);
    for _ in 0..executors {
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

fn report_lines(config: IngestConfig, reports: &[ExecutorReport]) -> Vec<String> {
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
        "ingest  cores={} batch={} rows={rows} elapsed_s={:.3} rows_per_s={rate:.0}",
        reports.len(),
        config.batch_rows,
        slowest.as_secs_f64()
    )];
    if let Some(histogram) = merged {
        lines.push(latency_line("ingest_batch", &histogram, slowest));
    }
    lines
}

async fn executor_run(
    shards: Rc<Shards>,
    config: IngestConfig,
    executors: usize,
    built: Arc<AtomicUsize>,
) -> Result<ExecutorReport, String> {
    let coordinator = Coordinator::new(Rc::clone(&shards)).map_err(|e| e.to_string())?;
    let schema = trades_schema().map_err(|e| e.to_string())?;
    while !shards.status().all_ready() {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    // Every executor creates the table (IF NOT EXISTS): the first create wins on each shard.
    coordinator
        .ensure_table(&schema)
        .await
        .map_err(|e| e.to_string())?;
    let rows = config.rows / executors;
    let batches = build_batches(&schema, rows, config.batch_rows, shards.index() as u64)?;
    // Building is CPU-bound and never yields: start the clock only once every executor has
    // built its batches, or one would time inserts into a shard that is not serving yet.
    built.fetch_add(1, Ordering::AcqRel);
    while built.load(Ordering::Acquire) < executors {
        glommio::timer::sleep(Duration::from_micros(100)).await;
    }
    let mut histogram = histogram_new().map_err(|e| e.to_string())?;
    let started = Instant::now();
    for batch in batches {
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

fn build_batches(
    schema: &TableSchema,
    rows: usize,
    batch_rows: usize,
    seed: u64,
) -> Result<Vec<RowBatch>, String> {
    let mut generator = TradeGen::new(1000, SymbolChoice::Zipf, 42 + seed);
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
