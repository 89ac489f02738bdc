//! The ring identity in WAL segment headers, against the real server: a data directory written
//! with `--cores 2` is refused by a server started with `--cores 1` (and the other way round),
//! with an error naming the segment, the ring it was written for and the ring now, and nothing
//! in the directory is changed; a segment of shard 1 copied in under shard 0's name is refused
//! the same way. Started again with the right ring, the server serves every row.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use quecto_tests::{fresh_data_dir, quecto_binary, server_args, ServerProcess};

const ROWS: i64 = 200;

/// `server_args` with `--cores` set to `cores`.
fn args_with_cores(dir: &Path, cores: usize) -> Vec<String> {
    let mut args = server_args(dir);
    let at = args.iter().position(|a| a == "--cores").expect("--cores") + 1;
    args[at] = cores.to_string();
    args
}

/// Rows over many symbols (so both shards hold some), left by a killed 2-core server.
fn populated_dir() -> PathBuf {
    let dir = fresh_data_dir();
    let server = ServerProcess::start_in(&dir, &[]);
    let reply = server.post_sql("CREATE TABLE r (symbol SYMBOL, ts TIMESTAMP, id INT64)");
    assert_eq!(reply.status, 200, "{}", reply.text());
    for id in 1..=ROWS {
        let sql = format!("INSERT INTO r VALUES ('S{:02}', {id}, {id})", id % 16);
        let reply = server.post_sql(&sql);
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    server.kill_hard();
    dir
}

/// Every file under `dir` with its size and modification time.
fn listing(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::metadata(&path).unwrap();
        if meta.is_dir() {
            out.extend(listing(&path));
        } else if path.file_name().is_some_and(|n| n != "LOCK") {
            out.push((path, meta.len(), meta.modified().unwrap()));
        }
    }
    out.sort();
    out
}

/// Longest a refused start may take before the test calls it a start that was not refused.
const REFUSAL_WAIT: Duration = Duration::from_secs(60);

/// Runs the server expecting it to refuse to start (exit 1 within `REFUSAL_WAIT`, never
/// listening); returns its stderr. A server that does start is killed, and the test fails.
fn start_refused(args: &[String]) -> String {
    let mut child = Command::new(quecto_binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + REFUSAL_WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let code = status.and_then(|s| s.code());
    assert_eq!(
        code,
        Some(1),
        "expected a refused start\n{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("listening"), "{stdout}");
    stderr
}

/// Starts the server with `args`, checks it serves `rows_count` rows of `r`, stops it and
/// removes `dir`.
fn serves_rows_then_remove(dir: &Path, args: &[String], rows_count: i64) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = ServerProcess::start_raw(&args);
    let text = server
        .post_sql("SELECT count(*) FROM r FORMAT TabSeparated")
        .text();
    assert_eq!(text.trim().parse::<i64>().ok(), Some(rows_count), "{text}");
    server.kill_hard();
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_restart_with_another_core_count_is_refused_and_changes_nothing() {
    let dir = populated_dir();
    let before = listing(&dir);
    let stderr = start_refused(&args_with_cores(&dir, 1));
    assert!(stderr.contains("wal-000-"), "names the segment: {stderr}");
    assert!(
        stderr.contains("shard 0 of the ring (2 shards x 128 virtual nodes"),
        "names the ring it was written for: {stderr}"
    );
    assert!(
        stderr.contains("(1 shards x 128 virtual nodes"),
        "names the ring now: {stderr}"
    );
    assert_eq!(listing(&dir), before, "a refused start writes nothing");
    // The ring the data was written under serves every row.
    serves_rows_then_remove(&dir, &server_args(&dir), ROWS);
}

#[test]
fn a_restart_with_more_cores_is_refused_before_any_shard_logs() {
    let dir = fresh_data_dir();
    let one = args_with_cores(&dir, 1);
    let one: Vec<&str> = one.iter().map(String::as_str).collect();
    let server = ServerProcess::start_raw(&one);
    let reply = server.post_sql("CREATE TABLE r (symbol SYMBOL, ts TIMESTAMP, id INT64)");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = server.post_sql("INSERT INTO r VALUES ('A', 1, 1), ('B', 2, 2), ('C', 3, 3)");
    assert_eq!(reply.status, 200, "{}", reply.text());
    server.kill_hard();
    let before = listing(&dir);
    let stderr = start_refused(&args_with_cores(&dir, 2));
    assert!(
        stderr.contains("(1 shards x 128") && stderr.contains("(2 shards x 128"),
        "{stderr}"
    );
    // Shard 1 of the refused ring created no segment of its own.
    assert_eq!(listing(&dir), before, "a refused start writes nothing");
    serves_rows_then_remove(&dir, &args_with_cores(&dir, 1), 3);
}

#[test]
fn a_segment_of_shard_1_under_shard_0s_name_is_refused() {
    let dir = populated_dir();
    let wal = dir.join("wal");
    let shard_1 = fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("wal-001-") && name.ends_with(".log")
        })
        .expect("shard 1 has a segment");
    let name = shard_1.file_name().unwrap().to_string_lossy().into_owned();
    let copied = wal.join(name.replace("wal-001-", "wal-000-"));
    let swapped = copied.with_extension("log.tmp-original");
    if copied.exists() {
        fs::rename(&copied, &swapped).unwrap();
    }
    fs::copy(&shard_1, &copied).unwrap();
    let stderr = start_refused(&server_args(&dir));
    assert!(
        stderr.contains(&copied.file_name().unwrap().to_string_lossy().into_owned()),
        "names the copied segment: {stderr}"
    );
    assert!(
        stderr.contains("was written by shard 1 of the ring")
            && stderr.contains("replayed by shard 0 of the ring now"),
        "{stderr}"
    );
    // Put back, the directory serves every row again.
    fs::remove_file(&copied).unwrap();
    if swapped.exists() {
        fs::rename(&swapped, &copied).unwrap();
    }
    serves_rows_then_remove(&dir, &server_args(&dir), ROWS);
}

#[test]
fn segments_of_a_shard_the_ring_lacks_are_refused() {
    // Shard 0's log gone (say, removed by hand), shard 1's left: a 1-core server would start
    // empty and never look at shard 1's rows. The directory check refuses it as a whole.
    let dir = populated_dir();
    let wal = dir.join("wal");
    for entry in fs::read_dir(&wal).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("wal-000-")
        {
            fs::remove_file(path).unwrap();
        }
    }
    let stderr = start_refused(&args_with_cores(&dir, 1));
    assert!(
        stderr.contains("wal-001-") && stderr.contains("was written by shard 1 of the ring"),
        "{stderr}"
    );
    let _ = fs::remove_dir_all(&dir);
}
