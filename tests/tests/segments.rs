//! Sealed segments end to end: checkpoints run while inserts go on (writes are held only for a
//! checkpoint's cut), the memtable shrinks as rows are served from mapped segment files, every
//! acknowledged row survives `kill -9` exactly once, and a restart maps millions of rows
//! instead of copying them to the heap.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use quecto_tests::{fresh_data_dir, metric_samples, ServerProcess, BASE_TS_NS};

const CREATE: &str = "CREATE TABLE ticks (symbol SYMBOL, ts TIMESTAMP, id INT64, price FLOAT64)";
/// Fixed-width bytes per row of `ticks` in a segment: ts, id and price (the symbol is the
/// partition key and stores nothing per row).
const TICKS_ROW_SIZE: f64 = 24.0;
/// Rows per INSERT of the writer.
const INSERT_ROWS: i64 = 1_000;
/// Checkpoints each shard takes while the writer inserts.
const CHECKPOINTS_PER_SHARD_MIN: f64 = 8.0;
/// Symbols the writer spreads rows over: few, so partitions span many chunks and late rows
/// touch only their last ones.
const SYMBOLS_COUNT: i64 = 8;

fn metrics(server: &ServerProcess) -> String {
    let reply = server.get_path("/metrics");
    assert_eq!(reply.status, 200);
    reply.text()
}

/// Inserts batches of fresh ids until `stop`, in time order per symbol except that every
/// fifth batch also carries rows 5,000 ids back in time (late rows into sealed chunks).
/// Returns the acknowledged ids.
fn insert_until(url: String, stop: Arc<AtomicBool>) -> BTreeSet<i64> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut acked = BTreeSet::new();
    let (mut next, mut late_next) = (1_000_000i64, 0i64);
    let deadline = Instant::now() + Duration::from_secs(120);
    let row = |id: i64, ts_id: i64| {
        let ts = BASE_TS_NS + ts_id * 1_000;
        format!("S{},{ts},{id},{}.5\n", id % SYMBOLS_COUNT, id % 977)
    };
    for batch in 0.. {
        if stop.load(Ordering::Acquire) || Instant::now() > deadline {
            break;
        }
        let mut ids: Vec<i64> = (next..next + INSERT_ROWS).collect();
        let mut csv: String = ids.iter().map(|&id| row(id, id)).collect();
        if batch % 5 == 4 {
            for _ in 0..20 {
                // Same symbol as an id 5,000 back, at that id's time: lands among sealed rows.
                let id = late_next;
                late_next += 1;
                csv.push_str(&row(id, next - 5_000 + id % SYMBOLS_COUNT));
                ids.push(id);
            }
        }
        next += INSERT_ROWS;
        let reply = agent
            .post(format!("{url}/"))
            .query("query", "INSERT INTO ticks FORMAT CSV")
            .send(csv.as_bytes());
        assert!(
            matches!(&reply, Ok(r) if r.status() == 200),
            "insert failed"
        );
        acked.extend(ids);
    }
    acked
}

fn stored_ids(server: &ServerProcess) -> Vec<i64> {
    let reply = server.post_sql("SELECT id FROM ticks ORDER BY id FORMAT TabSeparated");
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.text().lines().map(|l| l.parse().unwrap()).collect()
}

const QUERIES: [&str; 3] = [
    "SELECT count(*), sum(id), count(DISTINCT id), min(ts), max(ts), sum(price) FROM ticks FORMAT TabSeparated",
    "SELECT symbol, count(*), first(price), last(price), max(id) FROM ticks GROUP BY symbol ORDER BY symbol FORMAT TabSeparated",
    "SELECT id, price FROM ticks WHERE symbol = 'S7' AND id % 1000 = 3 ORDER BY ts, id FORMAT TabSeparated",
];

#[test]
fn inserts_go_on_while_checkpoints_write_and_every_row_survives_kill_9() {
    let dir = fresh_data_dir();
    let args = ["--checkpoint-mb", "1"];
    let server = ServerProcess::start_in(&dir, &args);
    assert_eq!(server.post_sql(CREATE).status, 200);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (url, stop) = (server.url().to_string(), Arc::clone(&stop));
        thread::spawn(move || insert_until(url, stop))
    };
    // Until every shard has checkpointed a few times and some insert was acknowledged while a
    // checkpoint was writing its files.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = metrics(&server);
        let checkpoints = metric_samples(&text, "quecto_checkpoints_total");
        let concurrent = metric_samples(&text, "quecto_checkpoint_concurrent_writes_total");
        let enough = checkpoints.len() == 2
            && checkpoints.iter().all(|&n| n >= CHECKPOINTS_PER_SHARD_MIN)
            && concurrent.iter().sum::<f64>() >= 1.0;
        if enough {
            break;
        }
        assert!(Instant::now() < deadline, "too few checkpoints: {text}");
        thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Release);
    let acked = writer.join().unwrap();
    let text = metrics(&server);
    // Writes wait only for a checkpoint's cut: the longest wait is the longest gate hold,
    // give or take the waiter's 100 µs poll and its wake-up on a busy machine.
    let gate_max = metric_samples(&text, "quecto_checkpoint_gate_seconds_max");
    let wait_max = metric_samples(&text, "quecto_write_gate_wait_seconds_max");
    for (gate, wait) in gate_max.iter().zip(&wait_max) {
        assert!(
            *wait <= gate + 0.05,
            "a write waited {wait} s, the gate held {gate} s"
        );
    }
    assert_eq!(
        metric_samples(&text, "quecto_checkpoint_failures_total"),
        [0.0, 0.0]
    );
    // The memtable shrank: most rows are served from mapped segments, every sealed row's
    // three fixed-width columns mapped in place.
    let rows = metric_samples(&text, "quecto_rows");
    let heap_rows = metric_samples(&text, "quecto_heap_rows");
    let mapped = metric_samples(&text, "quecto_sealed_mapped_bytes");
    assert_eq!(rows.iter().sum::<f64>(), acked.len() as f64);
    for shard in 0..2 {
        assert!(heap_rows[shard] < rows[shard] / 2.0, "{text}");
        let sealed_rows = rows[shard] - heap_rows[shard];
        assert_eq!(mapped[shard], sealed_rows * TICKS_ROW_SIZE, "{text}");
    }
    let before: Vec<String> = QUERIES.iter().map(|q| server.post_sql(q).text()).collect();
    server.kill_hard();
    let server = ServerProcess::start_in(&dir, &args);
    let stored = stored_ids(&server);
    assert_eq!(
        stored.len(),
        acked.len(),
        "every acknowledged row, exactly once"
    );
    assert!(stored.iter().copied().eq(acked.iter().copied()));
    let after: Vec<String> = QUERIES.iter().map(|q| server.post_sql(q).text()).collect();
    assert_eq!(before, after);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Anonymous (heap) memory of process `pid`, from /proc.
fn rss_anon_bytes(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .expect("RssAnon in /proc/PID/status");
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024.0
}

#[test]
fn a_restart_with_10m_rows_maps_them_instead_of_copying_them_to_the_heap() {
    const ROWS: f64 = 10_000_000.0;
    // trades: timestamp, price and volume are fixed-width (8 bytes each); symbol is the key.
    const TRADES_ROW_SIZE: f64 = 24.0;
    let dir = fresh_data_dir();
    let sum = "SELECT count(*), sum(volume), min(timestamp), max(timestamp) FROM trades FORMAT TabSeparated";
    let server =
        ServerProcess::start_in_within(&dir, &["--ticks", "10000000"], Duration::from_secs(600));
    let before = server.post_sql(sum).text();
    assert!(before.starts_with("10000000\t"), "{before}");
    assert_eq!(server.terminate().0, Some(0));
    let server = ServerProcess::start_in(&dir, &[]);
    let text = metrics(&server);
    assert_eq!(
        metric_samples(&text, "quecto_rows").iter().sum::<f64>(),
        ROWS
    );
    assert_eq!(
        metric_samples(&text, "quecto_heap_rows"),
        [0.0, 0.0],
        "{text}"
    );
    let mapped: f64 = metric_samples(&text, "quecto_sealed_mapped_bytes")
        .iter()
        .sum();
    assert_eq!(mapped, ROWS * TRADES_ROW_SIZE);
    // Copying even one of the three columns to the heap would take 80 MB.
    let anon = rss_anon_bytes(server.pid());
    assert!(anon < ROWS * 8.0, "{anon} bytes of heap after the restart");
    assert_eq!(server.post_sql(sum).text(), before);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sum of `name` over the shards.
fn metric_sum(server: &ServerProcess, name: &str) -> f64 {
    metric_samples(&metrics(server), name).iter().sum()
}

/// Takes a checkpoint on both shards now (DROP TABLE takes one right away) and waits for it.
fn checkpoint_now(server: &ServerProcess, name: &str) {
    let checkpoints = metric_sum(server, "quecto_checkpoints_total");
    let create = format!("CREATE TABLE {name} (symbol SYMBOL, ts TIMESTAMP)");
    assert_eq!(server.post_sql(&create).status, 200);
    assert_eq!(server.post_sql(&format!("DROP TABLE {name}")).status, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric_sum(server, "quecto_checkpoints_total") < checkpoints + 2.0 {
        assert!(Instant::now() < deadline, "no checkpoint after DROP TABLE");
        thread::sleep(Duration::from_millis(20));
    }
}

/// An UPDATE and a DELETE of rows already sealed in segment files are in the next checkpoint
/// (which rewrites the table), so they survive `kill -9` once the log holding them is
/// recycled.
#[test]
fn corrections_of_sealed_rows_survive_the_next_checkpoint_and_kill_9() {
    let dir = fresh_data_dir();
    let server = ServerProcess::start_in(&dir, &[]);
    assert_eq!(server.post_sql(CREATE).status, 200);
    let csv: String = (0..100_000i64)
        .map(|id| format!("S{},{},{id},1.5\n", id % 4, BASE_TS_NS + id * 1_000))
        .collect();
    let reply = server.post_query_with_body("INSERT INTO ticks FORMAT CSV", csv.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    checkpoint_now(&server, "seal_all");
    assert_eq!(
        metric_sum(&server, "quecto_heap_rows"),
        0.0,
        "every row sealed"
    );
    let update = "UPDATE ticks SET price = 9.25 WHERE id % 1000 = 7";
    assert_eq!(server.post_sql(update).status, 200);
    let delete = "DELETE FROM ticks WHERE id % 1000 = 8";
    assert_eq!(server.post_sql(delete).status, 200);
    checkpoint_now(&server, "cover_corrections");
    let query = "SELECT count(*), sum(price) FROM ticks FORMAT TabSeparated";
    let expected = format!("{}\t{}\n", 100_000 - 100, 99_800.0 * 1.5 + 100.0 * 9.25);
    assert_eq!(server.post_sql(query).text(), expected);
    server.kill_hard();
    let server = ServerProcess::start_in(&dir, &[]);
    assert_eq!(server.post_sql(query).text(), expected);
    let stderr = server.stderr();
    assert_eq!(stderr.matches(" records=0 ").count(), 2, "{stderr}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
