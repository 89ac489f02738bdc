//! A damaged WAL tail, against the real server: truncated at random offsets, random bytes
//! flipped, a page zeroed. Each time the server starts, serves exactly the rows of the records
//! before the damage (a prefix of the acknowledged inserts), says what it cut, and keeps
//! logging: rows inserted after recovery survive the next restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use quecto_tests::{fresh_data_dir, ServerProcess};

const ROWS: i64 = 300;

/// A data dir whose log holds CREATE TABLE and `ROWS` one-row inserts of one symbol (so one
/// shard's log holds them in id order), left by a killed server.
fn populated_dir() -> PathBuf {
    let dir = fresh_data_dir();
    let server = ServerProcess::start_in(&dir, &[]);
    assert_eq!(
        server
            .post_sql("CREATE TABLE c (symbol SYMBOL, ts TIMESTAMP, id INT64)")
            .status,
        200
    );
    for id in 1..=ROWS {
        let reply = server.post_sql(&format!("INSERT INTO c VALUES ('X', {id}, {id})"));
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    server.kill_hard();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The log segment holding the inserts (the one with the most written bytes) and the end of
/// its written region.
fn busiest_segment(dir: &Path) -> (PathBuf, usize) {
    let mut best: Option<(PathBuf, usize)> = None;
    for entry in fs::read_dir(dir.join("wal")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".log") {
            continue;
        }
        let bytes = fs::read(&path).unwrap();
        let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        if best.as_ref().is_none_or(|(_, e)| end > *e) {
            best = Some((path, end));
        }
    }
    best.expect("a WAL segment")
}

/// Starts on `dir`, checks the stored ids are exactly 1..=k, and returns k and stderr.
fn recovered_prefix(dir: &Path) -> (i64, String, ServerProcess) {
    let server = ServerProcess::start_in(dir, &[]);
    let reply = server.post_sql("SELECT id FROM c ORDER BY id FORMAT TabSeparated");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let ids: Vec<i64> = reply.text().lines().map(|l| l.parse().unwrap()).collect();
    let expected: Vec<i64> = (1..=ids.len() as i64).collect();
    assert_eq!(
        ids, expected,
        "recovered rows must be a prefix of the acknowledged inserts"
    );
    let stderr = server.stderr();
    (ids.len() as i64, stderr, server)
}

/// After recovery the log takes new writes, and they survive another restart.
fn keeps_logging(server: ServerProcess, dir: &Path, recovered: i64) {
    let reply = server.post_sql("INSERT INTO c VALUES ('X', 100000, 100000)");
    assert_eq!(reply.status, 200, "{}", reply.text());
    server.kill_hard();
    let again = ServerProcess::start_in(dir, &[]);
    let count = again
        .post_sql("SELECT count(*), max(id) FROM c FORMAT TabSeparated")
        .text();
    assert_eq!(count, format!("{}\t100000\n", recovered + 1));
}

fn with_damaged_copy(original: &Path, damage: impl FnOnce(&Path, usize)) -> (i64, String) {
    let dir = fresh_data_dir();
    copy_dir(original, &dir);
    let (segment, end) = busiest_segment(&dir);
    damage(&segment, end);
    let (recovered, stderr, server) = recovered_prefix(&dir);
    keeps_logging(server, &dir, recovered);
    let _ = fs::remove_dir_all(&dir);
    (recovered, stderr)
}

/// Offsets spread over the last 80 % of the written records (the first records hold the
/// CREATE TABLE, whose loss would drop the table rather than a tail of rows).
fn tail_offsets(end: usize, count: usize, seed: u64) -> Vec<usize> {
    let start = 4096 + (end - 4096) / 5;
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            start + (state >> 33) as usize % (end - start)
        })
        .collect()
}

#[test]
fn truncated_tail_recovers_to_the_last_whole_record_and_says_so() {
    let original = populated_dir();
    let (_, end) = busiest_segment(&original);
    for offset in tail_offsets(end, 6, 1) {
        let (recovered, stderr) = with_damaged_copy(&original, |segment, _| {
            fs::OpenOptions::new()
                .write(true)
                .open(segment)
                .unwrap()
                .set_len(offset as u64)
                .unwrap();
        });
        assert!(
            recovered < ROWS,
            "offset {offset}: a cut record must be gone"
        );
        assert!(
            stderr.contains("short segment") || stderr.contains("cutting"),
            "offset {offset}: {stderr}"
        );
    }
    let _ = fs::remove_dir_all(&original);
}

#[test]
fn flipped_tail_bytes_stop_recovery_at_the_corrupt_record_and_say_so() {
    let original = populated_dir();
    let (_, end) = busiest_segment(&original);
    for offset in tail_offsets(end, 6, 2) {
        let (recovered, stderr) = with_damaged_copy(&original, |segment, _| {
            let mut bytes = fs::read(segment).unwrap();
            bytes[offset] ^= 0x5a;
            fs::write(segment, bytes).unwrap();
        });
        assert!(
            recovered < ROWS,
            "offset {offset}: the corrupt record must be dropped"
        );
        assert!(
            stderr.contains("cutting torn or corrupt tail"),
            "offset {offset}: {stderr}"
        );
    }
    let _ = fs::remove_dir_all(&original);
}

#[test]
fn zeroed_page_stops_recovery_there_and_says_so() {
    let original = populated_dir();
    let (recovered, stderr) = with_damaged_copy(&original, |segment, end| {
        let mut bytes = fs::read(segment).unwrap();
        let page = (4096 + (end - 4096) / 2) / 4096 * 4096;
        bytes[page..page + 4096].fill(0);
        fs::write(segment, bytes).unwrap();
    });
    assert!(
        recovered < ROWS,
        "rows past the zeroed page must be dropped"
    );
    assert!(stderr.contains("cutting torn or corrupt tail"), "{stderr}");
    let _ = fs::remove_dir_all(&original);
}

#[test]
fn undamaged_log_recovers_every_row() {
    let original = populated_dir();
    let (recovered, _, server) = recovered_prefix(&original);
    assert_eq!(recovered, ROWS);
    drop(server);
    let _ = fs::remove_dir_all(&original);
}
