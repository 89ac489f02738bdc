//! Durability end to end: acknowledged rows survive `kill -9` and clean restarts, exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use quecto_tests::{fresh_data_dir, server_args, wait_for_manifests, ServerProcess};

/// Crash cycles: 20 by default (CI), more with QUECTO_CRASH_CYCLES.
fn crash_cycles() -> usize {
    std::env::var("QUECTO_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

const CREATE: &str = "CREATE TABLE IF NOT EXISTS acks (symbol SYMBOL, ts TIMESTAMP, id INT64)";

/// Every id the server returned: (acknowledged ids, ids whose INSERT was in flight at the kill).
struct Ledger {
    acked: BTreeSet<i64>,
    in_flight: BTreeSet<i64>,
}

/// Rows per INSERT of each concurrent writer in a crash cycle: with more than one writer, a
/// shard's log has writes in flight at once (pipelined, with block gaps), so kills land in
/// that state too; the bulk writer grows the log past `--checkpoint-mb` within a cycle or
/// two, so kills also land while checkpoints write their files.
const WRITER_INSERT_ROWS: [i64; 3] = [7, 7, 5_000];
const WRITERS_COUNT: i64 = WRITER_INSERT_ROWS.len() as i64;
/// The crash test's servers checkpoint after this much log (MiB, the smallest allowed).
const CRASH_CHECKPOINT_MB: &str = "1";

/// Streams multi-row INSERTs of `rows` fresh ids each (`first_id`, then every `stride`-th)
/// until `stop`, recording each outcome; returns the next id it would have used.
fn stream_inserts(
    url: String,
    (first_id, stride, rows): (i64, i64, i64),
    stop: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
) -> i64 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let mut next = first_id;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stop.load(Ordering::Acquire) && Instant::now() < deadline {
        let ids: Vec<i64> = (0..rows).map(|k| next + k * stride).collect();
        next += rows * stride;
        let csv: String = ids
            .iter()
            .map(|id| format!("S{},{id},{id}\n", id % 31))
            .collect();
        ledger.lock().unwrap().in_flight.extend(&ids);
        let answer = agent
            .post(format!("{url}/"))
            .query("query", "INSERT INTO acks FORMAT CSV")
            .send(csv.as_bytes());
        match answer {
            Ok(response) if response.status() == 200 => {
                let mut ledger = ledger.lock().unwrap();
                for id in &ids {
                    ledger.in_flight.remove(id);
                    ledger.acked.insert(*id);
                }
            }
            // A refused or broken request may or may not have been applied: it stays in flight.
            _ => break,
        }
    }
    next
}

fn stored_ids(server: &ServerProcess) -> Vec<i64> {
    let reply = server.post_sql("SELECT id FROM acks ORDER BY id FORMAT TabSeparated");
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.text().lines().map(|l| l.parse().unwrap()).collect()
}

#[test]
fn acknowledged_rows_survive_kill_9_exactly_once() {
    let dir = fresh_data_dir();
    let ledger = Arc::new(Mutex::new(Ledger {
        acked: BTreeSet::new(),
        in_flight: BTreeSet::new(),
    }));
    let mut next_id = 1;
    let mut seed = 0x5eed_u64;
    let checkpointing = ["--checkpoint-mb", CRASH_CHECKPOINT_MB];
    for cycle in 0..crash_cycles() {
        let server = ServerProcess::start_in(&dir, &checkpointing);
        assert_eq!(server.post_sql(CREATE).status, 200);
        check_exactly_once(&stored_ids(&server), &ledger.lock().unwrap(), cycle);
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS_COUNT)
            .map(|writer| {
                let (url, stop, ledger) = (
                    server.url().to_string(),
                    Arc::clone(&stop),
                    Arc::clone(&ledger),
                );
                let ids = (
                    next_id + writer,
                    WRITERS_COUNT,
                    WRITER_INSERT_ROWS[writer as usize],
                );
                thread::spawn(move || stream_inserts(url, ids, stop, ledger))
            })
            .collect();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        thread::sleep(Duration::from_millis(20 + (seed >> 33) % 200));
        server.kill_hard();
        stop.store(true, Ordering::Release);
        for writer in writers {
            next_id = next_id.max(writer.join().unwrap());
        }
    }
    let server = ServerProcess::start_in(&dir, &checkpointing);
    let stored = stored_ids(&server);
    let ledger = ledger.lock().unwrap();
    check_exactly_once(&stored, &ledger, crash_cycles());
    // The cycles checkpointed: both shards start from sealed segments, not an empty store.
    let stderr = server.stderr();
    assert_eq!(stderr.matches("checkpoint_lsn=0 ").count(), 0, "{stderr}");
    println!(
        "crash test: {} cycles, {} rows acknowledged, {} stored, {} in flight at kills",
        crash_cycles(),
        ledger.acked.len(),
        stored.len(),
        ledger.in_flight.len()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every acknowledged id is stored once; anything else stored was in flight at a kill.
fn check_exactly_once(stored: &[i64], ledger: &Ledger, cycle: usize) {
    let unique: BTreeSet<i64> = stored.iter().copied().collect();
    assert_eq!(
        unique.len(),
        stored.len(),
        "cycle {cycle}: duplicated rows after recovery"
    );
    let lost: Vec<&i64> = ledger
        .acked
        .iter()
        .filter(|id| !unique.contains(id))
        .take(10)
        .collect();
    assert!(
        lost.is_empty(),
        "cycle {cycle}: acknowledged rows lost: {lost:?}"
    );
    let unexpected: Vec<&i64> = unique
        .iter()
        .filter(|id| !ledger.acked.contains(id) && !ledger.in_flight.contains(id))
        .take(10)
        .collect();
    assert!(
        unexpected.is_empty(),
        "cycle {cycle}: rows nobody inserted: {unexpected:?}"
    );
}

#[test]
fn data_and_schemas_survive_a_clean_restart_with_identical_answers() {
    let dir = fresh_data_dir();
    let queries = [
        "SELECT count(*), sum(volume), vwap(price, volume), min(ts), max(ts) FROM t FORMAT TabSeparated",
        "SELECT symbol, count(*), first(price), last(price) FROM t GROUP BY symbol ORDER BY symbol FORMAT TabSeparated",
        "SHOW TABLES FORMAT TabSeparated",
        "DESCRIBE t FORMAT TabSeparated",
    ];
    let before: Vec<String> = {
        let server = ServerProcess::start_in(&dir, &[]);
        assert_eq!(
            server
                .post_sql(
                    "CREATE TABLE t (symbol SYMBOL, ts TIMESTAMP, price FLOAT64, volume INT64)"
                )
                .status,
            200
        );
        assert_eq!(
            server
                .post_sql("CREATE TABLE gone (symbol SYMBOL, ts TIMESTAMP)")
                .status,
            200
        );
        for round in 0..20i64 {
            let values: Vec<String> = (0..50i64)
                .map(|k| {
                    format!(
                        "('S{}', {}, {}.25, {})",
                        k % 9,
                        1000 - round * 50 - k,
                        k + round,
                        k + 1
                    )
                })
                .collect();
            let reply = server.post_sql(&format!("INSERT INTO t VALUES {}", values.join(",")));
            assert_eq!(reply.status, 200, "{}", reply.text());
        }
        assert_eq!(server.post_sql("DROP TABLE gone").status, 200);
        let answers = queries.iter().map(|q| server.post_sql(q).text()).collect();
        let (code, _) = server.terminate();
        assert_eq!(code, Some(0), "SIGTERM must stop the server cleanly");
        answers
    };
    let server = ServerProcess::start_in(&dir, &[]);
    // The clean stop checkpointed every shard: nothing is left to replay.
    let stderr = server.stderr();
    assert_eq!(stderr.matches(" records=0 ").count(), 2, "{stderr}");
    let after: Vec<String> = queries.iter().map(|q| server.post_sql(q).text()).collect();
    assert_eq!(before, after);
    assert!(before[0].starts_with("1000\t"), "{}", before[0]);
    assert_eq!(server.post_sql("SELECT count(*) FROM gone").status, 404);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One INSERT far larger than a WAL record (1 MiB segments here) is logged as several records;
/// after it is acknowledged and the server is killed, every row comes back exactly once.
#[test]
fn an_insert_larger_than_a_wal_record_survives_kill_9() {
    let dir = fresh_data_dir();
    let rows = 200_000i64;
    let csv: String = (0..rows)
        .map(|i| format!("S{},{},{}\n", i % 50, i, i * 3))
        .collect();
    assert!(
        csv.len() > 2 << 20,
        "the body must exceed a 1 MiB segment's record size"
    );
    let server = ServerProcess::start_in(&dir, &[]);
    assert_eq!(
        server
            .post_sql("CREATE TABLE big (symbol SYMBOL, ts TIMESTAMP, v INT64)")
            .status,
        200
    );
    let reply = server.post_query_with_body("INSERT INTO big FORMAT CSV", csv.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    server.kill_hard();
    let server = ServerProcess::start_in(&dir, &[]);
    let answer = server
        .post_sql("SELECT count(*), count(DISTINCT ts), sum(v) FROM big FORMAT TabSeparated")
        .text();
    let sum: i64 = (0..rows).map(|i| i * 3).sum();
    assert_eq!(answer, format!("{rows}\t{rows}\t{sum}\n"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One shard's part of an INSERT whose record would exceed the WAL's 16 MiB record cap (with
/// the default 64 MiB segments) is split too, not refused: it is acknowledged and survives
/// `kill -9`.
#[test]
fn an_insert_over_the_wal_record_cap_is_split_and_survives_kill_9() {
    let dir = fresh_data_dir();
    // The suite's arguments without its small segments: the default 64 MiB segments leave the
    // codec's 16 MiB cap as the limit.
    let mut args = server_args(&dir);
    let segment_flag = args.iter().position(|a| a == "--wal-segment-mb");
    if let Some(position) = segment_flag {
        args.drain(position..position + 2);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let rows = 800_000i64;
    let csv: String = (0..rows).map(|i| format!("7,{i},{}\n", i % 1000)).collect();
    let server = ServerProcess::start_raw(&args);
    let create = server.post_sql("CREATE TABLE wide (symbol INT64, ts TIMESTAMP, v INT64)");
    assert_eq!(create.status, 200);
    let reply = server.post_query_with_body("INSERT INTO wide FORMAT CSV", csv.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    server.kill_hard();
    let server = ServerProcess::start_raw(&args);
    let answer = server
        .post_sql("SELECT count(*), sum(v) FROM wide FORMAT TabSeparated")
        .text();
    let sum: i64 = (0..rows).map(|i| i % 1000).sum();
    assert_eq!(answer, format!("{rows}\t{sum}\n"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Rows from a checkpoint (sealed segments) plus rows only in the log after it both survive
/// `kill -9`; start-up says which LSN the checkpoint covered and replays only the tail.
#[test]
fn checkpointed_segments_and_the_log_tail_survive_kill_9() {
    let dir = fresh_data_dir();
    let checkpointing = ["--checkpoint-mb", "1"];
    let server = ServerProcess::start_in(&dir, &checkpointing);
    assert_eq!(
        server
            .post_sql("CREATE TABLE t (symbol SYMBOL, ts TIMESTAMP, v INT64)")
            .status,
        200
    );
    load_past_a_checkpoint(&server, &dir, "t", 2);
    for id in 0..20i64 {
        let reply = server.post_sql(&format!(
            "INSERT INTO t VALUES ('TAIL', {}, 1)",
            1_000_000 + id
        ));
        assert_eq!(reply.status, 200);
    }
    server.kill_hard();
    let server = ServerProcess::start_in(&dir, &checkpointing);
    let answer = server
        .post_sql("SELECT count(*), sum(v) FROM t FORMAT TabSeparated")
        .text();
    let sum: i64 = (0..150_000i64).map(|i| i * 2).sum::<i64>() + 20;
    assert_eq!(answer, format!("150020\t{sum}\n"));
    let stderr = server.stderr();
    // Both shards start from the checkpoint, not from an empty store.
    assert_eq!(stderr.matches("checkpoint_lsn=0 ").count(), 0, "{stderr}");
    assert_eq!(stderr.matches("WAL recovered").count(), 2, "{stderr}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Loads 150,000 rows (`v` = row number × `v_scale`) into `table`: several MiB of log, past a
/// 1 MiB `--checkpoint-mb`; then waits for both shards' checkpoints.
fn load_past_a_checkpoint(
    server: &ServerProcess,
    dir: &std::path::Path,
    table: &str,
    v_scale: i64,
) {
    let csv: String = (0..150_000i64)
        .map(|i| format!("S{},{i},{}\n", i % 40, i * v_scale))
        .collect();
    let reply =
        server.post_query_with_body(&format!("INSERT INTO {table} FORMAT CSV"), csv.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    wait_for_manifests(dir);
}

fn segment_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "qseg"))
        .collect();
    files.sort();
    files
}

/// A flipped byte in a sealed segment is caught by its checksums: the server refuses to start
/// (exit 1) and names the file, instead of serving wrong data.
#[test]
fn a_damaged_segment_is_reported_and_not_served() {
    let dir = fresh_data_dir();
    let server = ServerProcess::start_in(&dir, &["--checkpoint-mb", "1"]);
    assert_eq!(
        server
            .post_sql("CREATE TABLE t (symbol SYMBOL, ts TIMESTAMP, v INT64)")
            .status,
        200
    );
    load_past_a_checkpoint(&server, &dir, "t", 1);
    server.kill_hard();
    let victim = segment_files(&dir)
        .into_iter()
        .next()
        .expect("a segment file");
    let mut bytes = std::fs::read(&victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&victim, bytes).unwrap();
    let output = std::process::Command::new(quecto_tests::quecto_binary())
        .args(quecto_tests::server_args(&dir))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        stderr.contains(&name) && stderr.contains("refusing to serve"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// DROP TABLE takes a checkpoint that no longer lists the table, which removes its files.
#[test]
fn drop_table_removes_its_segment_files() {
    let dir = fresh_data_dir();
    let server = ServerProcess::start_in(&dir, &["--checkpoint-mb", "1"]);
    for table in ["keep", "gone"] {
        let create = format!("CREATE TABLE {table} (symbol SYMBOL, ts TIMESTAMP, v INT64)");
        assert_eq!(server.post_sql(&create).status, 200);
    }
    load_past_a_checkpoint(&server, &dir, "gone", 1);
    assert!(segment_files(&dir)
        .iter()
        .any(|p| p.to_string_lossy().ends_with("-gone.qseg")));
    assert_eq!(server.post_sql("DROP TABLE gone").status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while segment_files(&dir)
        .iter()
        .any(|p| p.to_string_lossy().ends_with("-gone.qseg"))
    {
        assert!(
            Instant::now() < deadline,
            "segment files of a dropped table remain"
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert!(segment_files(&dir)
        .iter()
        .any(|p| p.to_string_lossy().ends_with("-keep.qseg")));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ALTER TABLE … SET TTL` takes a checkpoint that drops the expired rows; the TTL and the
/// result survive `kill -9`.
#[test]
fn ttl_drops_old_rows_at_checkpoint_and_survives_restart() {
    let dir = fresh_data_dir();
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let hour_ns = 3_600_000_000_000i64;
    let server = ServerProcess::start_in(&dir, &[]);
    assert_eq!(
        server
            .post_sql("CREATE TABLE t (symbol SYMBOL, ts TIMESTAMP, v INT64)")
            .status,
        200
    );
    let values: Vec<String> = (0..60i64)
        .map(|h| format!("('S{}', {}, {h})", h % 7, now_ns - h * hour_ns))
        .collect();
    assert_eq!(
        server
            .post_sql(&format!("INSERT INTO t VALUES {}", values.join(",")))
            .status,
        200
    );
    let reply = server.post_sql("ALTER TABLE t SET TTL 1 DAYS");
    assert_eq!(reply.status, 200, "{}", reply.text());
    wait_for_manifests(&dir);
    // h = 0..=23 are within the day; the checkpoint ran after the ALTER, a little later still.
    let expected = "24\t0\t23\n";
    let deadline = Instant::now() + Duration::from_secs(20);
    while server
        .post_sql("SELECT count(*), min(v), max(v) FROM t FORMAT TabSeparated")
        .text()
        != expected
    {
        assert!(Instant::now() < deadline, "expired rows were not dropped");
        thread::sleep(Duration::from_millis(20));
    }
    server.kill_hard();
    let server = ServerProcess::start_in(&dir, &[]);
    assert_eq!(
        server
            .post_sql("SELECT count(*), min(v), max(v) FROM t FORMAT TabSeparated")
            .text(),
        expected
    );
    let described = server.post_sql("DESCRIBE t FORMAT TabSeparated").text();
    assert!(
        described.contains("ts + INTERVAL 86400 SECOND"),
        "{described}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--ticks` loads the sample once: a restart on the same data directory keeps the rows it
/// has instead of appending another sample.
#[test]
fn sample_ticks_load_once_per_data_directory() {
    let dir = fresh_data_dir();
    let count = |server: &ServerProcess| {
        server
            .post_sql("SELECT count(*) FROM trades FORMAT TabSeparated")
            .text()
    };
    let server = ServerProcess::start_in(&dir, &["--ticks", "20000"]);
    assert_eq!(count(&server), "20000\n");
    assert_eq!(server.terminate().0, Some(0));
    let server = ServerProcess::start_in(&dir, &["--ticks", "20000"]);
    assert_eq!(count(&server), "20000\n");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
