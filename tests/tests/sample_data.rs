//! `--ticks N` loads N deterministic sample trades into `trades` at start-up; the answers about
//! them must hang together.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use quecto_tests::*;

const TICKS_COUNT: i64 = 100_000;

#[test]
fn sample_trades_load_with_expected_shape() {
    let server = ServerProcess::start(&["--ticks", &TICKS_COUNT.to_string()]);
    assert_eq!(server.get_path("/ready").status, 200);

    let described = server.query_rows("DESCRIBE trades");
    let names: Vec<&str> = described.iter().map(|row| json_str(&row["name"])).collect();
    assert_eq!(names, ["symbol", "timestamp", "price", "volume"]);

    let rows = server.query_rows(
        "SELECT count(*) AS n, count(DISTINCT symbol) AS syms, min(price) AS lo, \
         max(price) AS hi, min(volume) AS vlo, sum(volume) AS v, \
         sum(price * volume) AS pv, vwap(price, volume) AS vw FROM trades",
    );
    let row = &rows[0];
    assert_eq!(json_i64(&row["n"]), TICKS_COUNT);
    let symbols_count = json_i64(&row["syms"]);
    assert!(
        (900..=1000).contains(&symbols_count),
        "about 1000 symbols, got {symbols_count}"
    );
    let price_min = json_f64(&row["lo"]);
    assert!(
        price_min > 0.0 && price_min.is_finite(),
        "prices positive, min {price_min}"
    );
    assert!(json_f64(&row["hi"]).is_finite());
    assert!(json_i64(&row["vlo"]) > 0, "volumes positive");
    let volume_sum = json_i64(&row["v"]);
    assert_close(
        json_f64(&row["vw"]),
        json_f64(&row["pv"]) / volume_sum as f64,
        "vwap = Σpv/Σv",
    );

    // Per-symbol groups partition the table.
    let groups = server.query_rows(
        "SELECT symbol, count(*) AS n, sum(volume) AS v, min(timestamp) AS t0, \
         max(timestamp) AS t1 FROM trades GROUP BY symbol ORDER BY n DESC, symbol LIMIT 2000",
    );
    assert_eq!(groups.len() as i64, symbols_count);
    assert_eq!(
        groups.iter().map(|g| json_i64(&g["n"])).sum::<i64>(),
        TICKS_COUNT
    );
    assert_eq!(
        groups.iter().map(|g| json_i64(&g["v"])).sum::<i64>(),
        volume_sum
    );
    for group in &groups {
        assert!(
            json_str(&group["t0"]) <= json_str(&group["t1"]),
            "{group:?}"
        );
    }

    // For a few symbols (the busiest, a middle one, the quietest): timestamps come back in
    // order from a plain scan of one symbol (rows are stored in timestamp order), and
    // first/last agree with the rows at the ends.
    let picks = [0, groups.len() / 2, groups.len() - 1];
    for pick in picks {
        let symbol = json_str(&groups[pick]["symbol"]);
        let count = json_i64(&groups[pick]["n"]);
        let scan = server.query_rows(&format!(
            "SELECT timestamp, price FROM trades WHERE symbol = '{symbol}'"
        ));
        assert_eq!(scan.len() as i64, count, "{symbol}");
        let stamps: Vec<&str> = scan.iter().map(|r| json_str(&r["timestamp"])).collect();
        assert!(
            stamps.windows(2).all(|pair| pair[0] <= pair[1]),
            "{symbol}: timestamps not monotonic in a single-symbol scan"
        );
        let ends = server.query_rows(&format!(
            "SELECT first(price) AS f, last(price) AS l FROM trades WHERE symbol = '{symbol}'"
        ));
        let ordered = server.query_rows(&format!(
            "SELECT price FROM trades WHERE symbol = '{symbol}' ORDER BY timestamp"
        ));
        assert_eq!(
            json_f64(&ends[0]["f"]),
            json_f64(&ordered[0]["price"]),
            "{symbol} first"
        );
        assert_eq!(
            json_f64(&ends[0]["l"]),
            json_f64(&ordered[ordered.len() - 1]["price"]),
            "{symbol} last"
        );
        assert!(
            scan.iter().all(|r| json_f64(&r["price"]) > 0.0),
            "{symbol}: prices positive"
        );
    }
}

#[test]
fn sample_trades_are_deterministic_across_restarts() {
    let query = "SELECT count(*) AS n, sum(volume) AS v, min(price) AS lo, max(price) AS hi, \
                 count(DISTINCT symbol) AS s FROM trades";
    let first = ServerProcess::start(&["--ticks", "5000"]).query_rows(query);
    let second = ServerProcess::start(&["--ticks", "5000"]).query_rows(query);
    assert_eq!(first, second, "the same --ticks gives the same data");
    assert_eq!(json_i64(&first[0]["n"]), 5000);
}

#[test]
fn whole_sample_streams_out_as_csv() {
    let server = ServerProcess::start(&["--ticks", &TICKS_COUNT.to_string()]);
    let reply = server.post_sql("SELECT * FROM trades FORMAT CSV");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let text = reply.text();
    let mut lines_count = 0i64;
    let mut volume_sum = 0i64;
    for line in text.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 4, "{line}");
        assert!(fields[2].parse::<f64>().unwrap() > 0.0, "{line}");
        volume_sum += fields[3].parse::<i64>().unwrap();
        lines_count += 1;
    }
    assert_eq!(lines_count, TICKS_COUNT);
    assert_eq!(
        json_i64(&server.query_scalar("SELECT sum(volume) FROM trades")),
        volume_sum
    );
}
