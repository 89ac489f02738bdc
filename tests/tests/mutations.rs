//! DELETE and UPDATE end to end: real servers (2 shards), answers compared with the same
//! corrections applied to the test's own copy of the rows, across `kill -9` (replay from the
//! WAL) and checkpoints (the mutated rows sealed in segments).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use quecto_tests::{
    assert_error, create_trades_table, format_ts, fresh_data_dir, gen_ticks, insert_values,
    json_f64, json_i64, json_str, wait_for_manifests, ServerProcess, Tick,
};

/// Per symbol: count, sum(volume), min(price), max(price), first(price), last(price),
/// max(timestamp).
type Answer = BTreeMap<String, (i64, i64, f64, f64, f64, f64, String)>;

const ANSWER_SQL: &str = "SELECT symbol, count(*) AS n, sum(volume) AS v, min(price) AS lo, \
     max(price) AS hi, first(price) AS f, last(price) AS l, max(timestamp) AS t \
     FROM trades GROUP BY symbol ORDER BY symbol FORMAT JSON";

fn answer(server: &ServerProcess) -> Answer {
    server
        .query_rows(ANSWER_SQL)
        .iter()
        .map(|row| {
            (
                json_str(&row["symbol"]).to_string(),
                (
                    json_i64(&row["n"]),
                    json_i64(&row["v"]),
                    json_f64(&row["lo"]),
                    json_f64(&row["hi"]),
                    json_f64(&row["f"]),
                    json_f64(&row["l"]),
                    json_str(&row["t"]).to_string(),
                ),
            )
        })
        .collect()
}

/// The same answer, computed from the ticks.
fn expected(ticks: &[Tick]) -> Answer {
    let mut by_symbol: BTreeMap<&str, Vec<&Tick>> = BTreeMap::new();
    for tick in ticks {
        by_symbol.entry(&tick.symbol).or_default().push(tick);
    }
    by_symbol
        .into_iter()
        .map(|(symbol, mut rows)| {
            rows.sort_by_key(|t| t.ts_ns);
            let prices = rows.iter().map(|t| t.price);
            let (first, last) = (rows[0], rows[rows.len() - 1]);
            let stats = (
                rows.len() as i64,
                rows.iter().map(|t| t.volume).sum(),
                prices.clone().fold(f64::INFINITY, f64::min),
                prices.fold(f64::NEG_INFINITY, f64::max),
                first.price,
                last.price,
                format_ts(last.ts_ns),
            );
            (symbol.to_string(), stats)
        })
        .collect()
}

/// Rows per shard from `/metrics`.
fn rows_per_shard(server: &ServerProcess) -> Vec<i64> {
    let text = server.get_path("/metrics").text();
    let mut rows: Vec<(usize, i64)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("quecto_rows{shard=\""))
        .filter_map(|rest| {
            let (shard, value) = rest.split_once("\"} ")?;
            Some((shard.parse().ok()?, value.trim().parse().ok()?))
        })
        .collect();
    rows.sort_unstable();
    rows.into_iter().map(|(_, n)| n).collect()
}

#[test]
fn deletes_and_updates_change_answers_on_both_shards_and_survive_kill_9() {
    let dir = fresh_data_dir();
    let mut ticks = gen_ticks(0xdead, 4_000, 24);
    let server = ServerProcess::start_in(&dir, &[]);
    create_trades_table(&server, "trades");
    insert_values(&server, "trades", &ticks, 500);
    assert_eq!(answer(&server), expected(&ticks));
    let shards_before = rows_per_shard(&server);
    assert_eq!(shards_before.len(), 2);
    assert!(shards_before.iter().all(|&n| n > 0), "{shards_before:?}");

    // A DELETE over every shard.
    server.exec("DELETE FROM trades WHERE volume < 2000");
    ticks.retain(|t| t.volume >= 2000);
    assert_eq!(answer(&server), expected(&ticks));
    let shards_after = rows_per_shard(&server);
    assert!(
        shards_after.iter().zip(&shards_before).all(|(a, b)| a < b),
        "both shards must lose rows: {shards_before:?} -> {shards_after:?}"
    );

    // Routed to one shard, and ClickHouse's spellings.
    server.exec("UPDATE trades SET price = price * 2 WHERE symbol = 'S003'");
    for t in ticks.iter_mut().filter(|t| t.symbol == "S003") {
        t.price *= 2.0;
    }
    server.exec("ALTER TABLE trades UPDATE volume = volume + 1 WHERE price > 500");
    for t in ticks.iter_mut().filter(|t| t.price > 500.0) {
        t.volume += 1;
    }
    server.exec("ALTER TABLE trades DELETE WHERE symbol IN ('S001', 'S002')");
    ticks.retain(|t| t.symbol != "S001" && t.symbol != "S002");
    // Moving some rows of a symbol past all others re-sorts its partition: first/last change.
    let shift = 500_000_000_000i64;
    server.exec(&format!(
        "UPDATE trades SET timestamp = timestamp + {shift} WHERE symbol = 'S004' AND volume > 6000"
    ));
    for t in ticks
        .iter_mut()
        .filter(|t| t.symbol == "S004" && t.volume > 6000)
    {
        t.ts_ns += shift;
    }
    // One that matches nothing is fine and changes nothing.
    server.exec("DELETE FROM trades WHERE symbol = 'NOPE'");
    let live = answer(&server);
    assert_eq!(live, expected(&ticks));

    server.kill_hard();
    let server = ServerProcess::start_in(&dir, &[]);
    assert_eq!(answer(&server), live, "replayed from the WAL");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Loads 150,000 rows (`v` = row number, 40 symbols): past a 1 MiB `--checkpoint-mb`.
fn load_rows(server: &ServerProcess) -> Vec<(String, i64, i64)> {
    let rows: Vec<(String, i64, i64)> = (0..150_000i64)
        .map(|i| (format!("S{}", i % 40), i, i))
        .collect();
    let csv: String = rows
        .iter()
        .map(|(s, ts, v)| format!("{s},{ts},{v}\n"))
        .collect();
    server.insert_format("t", "CSV", csv.as_bytes());
    rows
}

fn summary(server: &ServerProcess) -> String {
    server
        .post_sql(
            "SELECT symbol, count(*), sum(v), min(ts), max(ts) FROM t GROUP BY symbol \
             ORDER BY symbol FORMAT TabSeparated",
        )
        .text()
}

fn expected_summary(rows: &[(String, i64, i64)]) -> String {
    let mut by_symbol: BTreeMap<&str, (i64, i64, i64, i64)> = BTreeMap::new();
    for (symbol, ts, v) in rows {
        let entry = by_symbol
            .entry(symbol)
            .or_insert((0, 0, i64::MAX, i64::MIN));
        entry.0 += 1;
        entry.1 += v;
        entry.2 = entry.2.min(*ts);
        entry.3 = entry.3.max(*ts);
    }
    by_symbol
        .iter()
        .map(|(s, (n, v, lo, hi))| {
            format!("{s}\t{n}\t{v}\t{}\t{}\n", format_ts(*lo), format_ts(*hi))
        })
        .collect()
}

#[test]
fn mutated_rows_are_sealed_by_checkpoints_and_survive_restarts() {
    let dir = fresh_data_dir();
    let checkpointing = ["--checkpoint-mb", "1"];
    let server = ServerProcess::start_in(&dir, &checkpointing);
    server.exec("CREATE TABLE t (symbol SYMBOL, ts TIMESTAMP, v INT64)");
    let mut rows = load_rows(&server);
    wait_for_manifests(&dir);
    // Mutations of rows that are already in sealed segments.
    server.exec("DELETE FROM t WHERE v % 3 = 0");
    rows.retain(|(_, _, v)| v % 3 != 0);
    server.exec("UPDATE t SET v = v * 10 WHERE symbol = 'S7' OR symbol = 'S8'");
    for row in rows.iter_mut().filter(|r| r.0 == "S7" || r.0 == "S8") {
        row.2 *= 10;
    }
    server.exec("ALTER TABLE t DELETE WHERE symbol = 'S9'");
    rows.retain(|r| r.0 != "S9");
    let want = expected_summary(&rows);
    assert_eq!(summary(&server), want);

    // A clean stop checkpoints: the restart replays nothing, so the mutations are in segments.
    let (code, _) = server.terminate();
    assert_eq!(code, Some(0));
    let server = ServerProcess::start_in(&dir, &checkpointing);
    let stderr = server.stderr();
    assert_eq!(stderr.matches(" records=0 ").count(), 2, "{stderr}");
    assert_eq!(summary(&server), want);

    // More mutations on top of the checkpoint, then kill -9: segments plus replayed log.
    server.exec("UPDATE t SET ts = ts + 1000000 WHERE symbol = 'S10' AND v > 100000");
    for row in rows.iter_mut().filter(|r| r.0 == "S10" && r.2 > 100_000) {
        row.1 += 1_000_000;
    }
    server.exec("DELETE FROM t WHERE v < 1000");
    rows.retain(|r| r.2 >= 1000);
    let want = expected_summary(&rows);
    assert_eq!(summary(&server), want);
    server.kill_hard();
    let server = ServerProcess::start_in(&dir, &checkpointing);
    assert_eq!(summary(&server), want);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Inserts and deletes race on the same shards; whatever order the shards chose, replay after
/// `kill -9` must reproduce exactly the table the server had.
#[test]
fn mutations_racing_inserts_replay_to_the_same_table() {
    let dir = fresh_data_dir();
    let server = ServerProcess::start_in(&dir, &[]);
    server.exec("CREATE TABLE t (symbol SYMBOL, ts TIMESTAMP, v INT64)");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (url, stop) = (server.url().to_string(), Arc::clone(&stop));
        thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let mut id = 0i64;
            while !stop.load(Ordering::Acquire) {
                let values: Vec<String> = (id..id + 20)
                    .map(|k| format!("('S{}', {k}, {k})", k % 5))
                    .collect();
                id += 20;
                let sql = format!("INSERT INTO t VALUES {}", values.join(","));
                let reply = agent.post(format!("{url}/")).send(sql.as_bytes()).unwrap();
                assert_eq!(reply.status(), 200);
            }
        })
    };
    for round in 0..30 {
        let sql = if round % 2 == 0 {
            format!("DELETE FROM t WHERE v % 7 = {}", round % 7)
        } else {
            "UPDATE t SET v = v + 1 WHERE v % 3 = 0".to_string()
        };
        server.exec(&sql);
    }
    stop.store(true, Ordering::Release);
    writer.join().unwrap();
    let query = "SELECT count(*), sum(v), min(v), max(v) FROM t FORMAT TabSeparated";
    let live = server.post_sql(query).text();
    server.kill_hard();
    let server = ServerProcess::start_in(&dir, &[]);
    assert_eq!(server.post_sql(query).text(), live);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_mutations_are_refused_with_clear_errors() {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, "trades");
    insert_values(&server, "trades", &gen_ticks(7, 50, 3), 50);
    let cases = [
        ("UPDATE trades SET nope = 1", 404, "nope"),
        ("DELETE FROM trades WHERE nope = 1", 404, "nope"),
        ("DELETE FROM missing", 404, "missing"),
        ("UPDATE trades SET symbol = 'X'", 400, "symbol column"),
        ("UPDATE trades SET price = 'abc'", 400, "price"),
        ("UPDATE trades SET volume = 1.5", 400, "volume"),
        ("UPDATE trades SET timestamp = NULL", 400, "timestamp"),
        ("ALTER TABLE trades DELETE", 400, "WHERE"),
    ];
    for (sql, status, needle) in cases {
        assert_error(&server.post_sql(sql), status, Some(needle), sql);
    }
    // Over GET, writes are refused.
    assert_error(
        &server.get_sql("DELETE FROM trades"),
        405,
        None,
        "DELETE over GET",
    );
    assert_eq!(
        json_i64(&server.query_scalar("SELECT count(*) FROM trades")),
        50
    );
}
