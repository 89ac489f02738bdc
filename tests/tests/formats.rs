//! Output formats (exact bytes for a small table, JSON shape and types) and input formats
//! (the same rows through CSV, TabSeparated, JSONEachRow, RowBinary, Native and VALUES must
//! give the same answers).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value as Json};

use quecto_tests::*;

const SMALL_QUERY: &str = "SELECT symbol, timestamp, price, volume FROM fmt ORDER BY timestamp";

/// Three rows, one with a NULL volume.
fn small_table_server() -> ServerProcess {
    let server = ServerProcess::start(&[]);
    server
        .exec("CREATE TABLE fmt (symbol SYMBOL, timestamp TIMESTAMP, price FLOAT64, volume INT64)");
    server.exec(
        "INSERT INTO fmt VALUES ('AAPL', '2024-01-02 09:30:00', 101.25, 100), \
         ('MSFT', '2024-01-02 09:30:00.5', 372.5, 7)",
    );
    server.exec(
        "INSERT INTO fmt (symbol, timestamp, price) VALUES ('AAPL', '2024-01-02 09:30:01', 101.5)",
    );
    server
}

const CSV_ROWS: &str = "\"AAPL\",\"2024-01-02 09:30:00.000000000\",101.25,100\n\
                        \"MSFT\",\"2024-01-02 09:30:00.500000000\",372.5,7\n\
                        \"AAPL\",\"2024-01-02 09:30:01.000000000\",101.5,\\N\n";
const TSV_ROWS: &str = "AAPL\t2024-01-02 09:30:00.000000000\t101.25\t100\n\
                        MSFT\t2024-01-02 09:30:00.500000000\t372.5\t7\n\
                        AAPL\t2024-01-02 09:30:01.000000000\t101.5\t\\N\n";

fn select_text(server: &ServerProcess, sql: &str) -> String {
    let reply = server.post_sql(sql);
    assert_eq!(reply.status, 200, "{sql}: {}", reply.text());
    reply.text()
}

#[test]
fn json_compact_outputs_write_rows_as_arrays() {
    let server = small_table_server();
    let text = select_text(&server, &format!("{SMALL_QUERY} FORMAT JSONCompact"));
    let document: Json = serde_json::from_str(&text).expect("one JSON document");
    assert_eq!(
        document["data"],
        json!([
            ["AAPL", "2024-01-02 09:30:00.000000000", 101.25, "100"],
            ["MSFT", "2024-01-02 09:30:00.500000000", 372.5, "7"],
            ["AAPL", "2024-01-02 09:30:01.000000000", 101.5, null],
        ])
    );
    assert_eq!(
        document["meta"][2],
        json!({"name": "price", "type": "Float64"})
    );
    assert_eq!(document["rows"], json!(3));
    // ClickHouse's layout: one row per line, values separated by ", ".
    assert!(
        text.contains("\t\t[\"MSFT\", \"2024-01-02 09:30:00.500000000\", 372.5, \"7\"],\n"),
        "{text}"
    );
    let lines = select_text(&server, &format!("{SMALL_QUERY} FORMAT JSONCompactEachRow"));
    assert_eq!(
        lines,
        "[\"AAPL\", \"2024-01-02 09:30:00.000000000\", 101.25, \"100\"]\n\
         [\"MSFT\", \"2024-01-02 09:30:00.500000000\", 372.5, \"7\"]\n\
         [\"AAPL\", \"2024-01-02 09:30:01.000000000\", 101.5, null]\n"
    );
}

#[test]
fn json_output_has_clickhouse_shape_types_and_quoting() {
    let server = small_table_server();
    let document = server.query_json(SMALL_QUERY);
    let meta = document["meta"].as_array().expect("meta array");
    let meta: Vec<(&str, &str)> = meta
        .iter()
        .map(|m| (json_str(&m["name"]), json_str(&m["type"])))
        .collect();
    assert_eq!(
        meta[..3],
        [
            ("symbol", "String"),
            ("timestamp", "DateTime64(9)"),
            ("price", "Float64")
        ]
    );
    assert_eq!(meta[3].0, "volume");
    assert!(
        ["Int64", "Nullable(Int64)"].contains(&meta[3].1),
        "volume type {}",
        meta[3].1
    );
    assert_eq!(
        document["data"],
        json!([
            {"symbol": "AAPL", "timestamp": "2024-01-02 09:30:00.000000000", "price": 101.25, "volume": "100"},
            {"symbol": "MSFT", "timestamp": "2024-01-02 09:30:00.500000000", "price": 372.5, "volume": "7"},
            {"symbol": "AAPL", "timestamp": "2024-01-02 09:30:01.000000000", "price": 101.5, "volume": null},
        ])
    );
    assert_eq!(document["rows"], json!(3));
    assert!(
        document["statistics"].is_object(),
        "statistics object: {document}"
    );
    // Column order in each data object follows the select list.
    let reply = server.post_sql(SMALL_QUERY);
    let text = reply.text();
    let (s, t, p, v) = (
        text.find("\"symbol\":").unwrap(),
        text.find("\"timestamp\":").unwrap(),
        text.find("\"price\":").unwrap(),
        text.find("\"volume\":").unwrap(),
    );
    assert!(s < t && t < p && p < v, "keys in select-list order: {text}");

    let count = server.query_json("SELECT count(*) AS n FROM fmt");
    assert_eq!(count["meta"], json!([{"name": "n", "type": "UInt64"}]));
    assert_eq!(count["data"], json!([{"n": "3"}]), "UInt64 is quoted");
    assert_eq!(count["rows"], json!(1));

    let explicit = server.query_json(&format!("{SMALL_QUERY} FORMAT JSON"));
    assert_eq!(
        explicit["data"], document["data"],
        "FORMAT JSON is the default"
    );
}

#[test]
fn json_each_row_output_is_one_object_per_line() {
    let server = small_table_server();
    let text = select_text(&server, &format!("{SMALL_QUERY} FORMAT JSONEachRow"));
    assert!(text.ends_with('\n'), "{text:?}");
    let lines: Vec<Json> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![
            json!({"symbol": "AAPL", "timestamp": "2024-01-02 09:30:00.000000000", "price": 101.25, "volume": "100"}),
            json!({"symbol": "MSFT", "timestamp": "2024-01-02 09:30:00.500000000", "price": 372.5, "volume": "7"}),
            json!({"symbol": "AAPL", "timestamp": "2024-01-02 09:30:01.000000000", "price": 101.5, "volume": null}),
        ]
    );
}

#[test]
fn csv_and_tab_separated_outputs_are_exact() {
    let server = small_table_server();
    assert_eq!(
        select_text(&server, &format!("{SMALL_QUERY} FORMAT CSV")),
        CSV_ROWS
    );
    assert_eq!(
        select_text(&server, &format!("{SMALL_QUERY} FORMAT CSVWithNames")),
        format!("\"symbol\",\"timestamp\",\"price\",\"volume\"\n{CSV_ROWS}")
    );
    assert_eq!(
        select_text(&server, &format!("{SMALL_QUERY} FORMAT TabSeparated")),
        TSV_ROWS
    );
    assert_eq!(
        select_text(
            &server,
            &format!("{SMALL_QUERY} FORMAT TabSeparatedWithNames")
        ),
        format!("symbol\ttimestamp\tprice\tvolume\n{TSV_ROWS}")
    );
    assert_eq!(
        select_text(&server, &format!("{SMALL_QUERY} FORMAT CSV;")),
        CSV_ROWS
    );
    assert_eq!(
        select_text(&server, "SELECT count(*) FROM fmt FORMAT CSV"),
        "3\n"
    );
    assert_eq!(
        select_text(&server, "SELECT count(*) FROM fmt FORMAT TabSeparated"),
        "3\n"
    );
}

#[test]
fn default_format_parameter_chooses_the_output() {
    let server = small_table_server();
    let cases = [
        ("CSV", CSV_ROWS.to_owned()),
        ("TabSeparated", TSV_ROWS.to_owned()),
        (
            "CSVWithNames",
            format!("\"symbol\",\"timestamp\",\"price\",\"volume\"\n{CSV_ROWS}"),
        ),
        (
            "TabSeparatedWithNames",
            format!("symbol\ttimestamp\tprice\tvolume\n{TSV_ROWS}"),
        ),
    ];
    for (format, expected) in &cases {
        let reply = server.post_sql_with_params(SMALL_QUERY, &[("default_format", format)]);
        assert_eq!(reply.status, 200, "{format}: {}", reply.text());
        assert_eq!(&reply.text(), expected, "POST default_format={format}");
        let reply = server.get_sql_with_params(SMALL_QUERY, &[("default_format", format)]);
        assert_eq!(reply.status, 200, "{format}: {}", reply.text());
        assert_eq!(&reply.text(), expected, "GET default_format={format}");
    }
    let reply = server.post_sql_with_params(SMALL_QUERY, &[("default_format", "JSONEachRow")]);
    assert_eq!(reply.text().lines().count(), 3, "{}", reply.text());
}

#[test]
fn date_time_output_format_writes_timestamps_iso_or_as_integers() {
    let server = small_table_server();
    let sql = "SELECT symbol, timestamp FROM fmt ORDER BY timestamp FORMAT CSV";
    let styled = |style: &str| {
        let reply = server.post_sql_with_params(sql, &[("date_time_output_format", style)]);
        assert_eq!(reply.status, 200, "{style}: {}", reply.text());
        reply.text()
    };
    assert_eq!(
        styled("iso"),
        "\"AAPL\",\"2024-01-02T09:30:00.000000000Z\"\n\
         \"MSFT\",\"2024-01-02T09:30:00.500000000Z\"\n\
         \"AAPL\",\"2024-01-02T09:30:01.000000000Z\"\n"
    );
    assert_eq!(
        styled("unix_timestamp"),
        "\"AAPL\",1704187800000000000\n\
         \"MSFT\",1704187800500000000\n\
         \"AAPL\",1704187801000000000\n"
    );
    assert_eq!(styled("simple"), select_text(&server, sql));
    let document = server
        .post_sql_with_params(
            "SELECT timestamp FROM fmt ORDER BY timestamp LIMIT 1 FORMAT JSON",
            &[("date_time_output_format", "unix_timestamp")],
        )
        .json();
    assert_eq!(document["meta"][0]["type"], "Int64");
    assert_eq!(document["data"][0]["timestamp"], "1704187800000000000");
    let reply = server.post_sql_with_params(sql, &[("date_time_output_format", "epoch")]);
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(
        reply.text().contains("date_time_output_format `epoch`"),
        "{}",
        reply.text()
    );
}

#[test]
fn special_characters_are_quoted_and_escaped() {
    let server = ServerProcess::start(&[]);
    server
        .exec("CREATE TABLE esc (symbol SYMBOL, timestamp TIMESTAMP, price FLOAT64, volume INT64)");
    let tricky = "a,\"b\"\tc\\d";
    let row = json!({"symbol": tricky, "timestamp": BASE_TS_NS, "price": 1.5, "volume": 1});
    server.insert_format("esc", "JSONEachRow", format!("{row}\n").as_bytes());
    let q = "SELECT symbol, volume FROM esc";
    assert_eq!(json_str(&server.query_json(q)["data"][0]["symbol"]), tricky);
    assert_eq!(
        select_text(&server, &format!("{q} FORMAT CSV")),
        "\"a,\"\"b\"\"\tc\\d\",1\n"
    );
    assert_eq!(
        select_text(&server, &format!("{q} FORMAT TabSeparated")),
        "a,\"b\"\\tc\\\\d\t1\n"
    );
}

#[test]
fn floats_and_extreme_integers_round_trip_exactly() {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, "csv_in");
    create_trades_table(&server, "rb_in");
    let prices = [
        0.1,
        1.0 / 3.0,
        123_456.789_012_345_68,
        1e-300,
        5e-324,
        f64::MAX,
        -42.125,
        2.0_f64.powi(60),
        std::f64::consts::PI,
    ];
    let volumes = [
        i64::MIN,
        i64::MAX,
        0,
        -1,
        1,
        4_294_967_296,
        9_007_199_254_740_993,
        42,
        7,
    ];
    let ticks: Vec<Tick> = prices
        .iter()
        .zip(volumes)
        .enumerate()
        .map(|(i, (&price, volume))| Tick {
            symbol: symbol_name(i),
            ts_ns: BASE_TS_NS + i as i64,
            price,
            volume,
        })
        .collect();
    let csv: String = ticks
        .iter()
        .map(|t| format!("{},{},{:?},{}\n", t.symbol, t.ts_ns, t.price, t.volume))
        .collect();
    server.insert_format("csv_in", "CSV", csv.as_bytes());
    server.insert_format("rb_in", "RowBinary", &row_binary(&ticks));
    for table in ["csv_in", "rb_in"] {
        let rows = server.query_rows(&format!(
            "SELECT price, volume FROM {table} ORDER BY timestamp"
        ));
        assert_eq!(rows.len(), ticks.len());
        for (row, tick) in rows.iter().zip(&ticks) {
            let price = json_f64(&row["price"]);
            assert_eq!(
                price.to_bits(),
                tick.price.to_bits(),
                "{table}: price {:?}",
                tick.price
            );
            assert!(row["volume"].is_string(), "Int64 quoted: {}", row["volume"]);
            assert_eq!(json_i64(&row["volume"]), tick.volume, "{table}: volume");
        }
        // CSV output parses back to the same bits too.
        let text = select_text(
            &server,
            &format!("SELECT price, volume FROM {table} ORDER BY timestamp FORMAT CSV"),
        );
        for (line, tick) in text.lines().zip(&ticks) {
            let (price, volume) = line.split_once(',').unwrap();
            assert_eq!(
                price.parse::<f64>().unwrap().to_bits(),
                tick.price.to_bits(),
                "CSV {line}"
            );
            assert_eq!(volume.parse::<i64>().unwrap(), tick.volume, "CSV {line}");
        }
    }
}

fn csv_body(ticks: &[Tick]) -> String {
    ticks
        .iter()
        .map(|t| {
            format!(
                "\"{}\",\"{}\",{:?},{}\n",
                t.symbol,
                format_ts(t.ts_ns),
                t.price,
                t.volume
            )
        })
        .collect()
}

fn tsv_body(ticks: &[Tick]) -> String {
    ticks
        .iter()
        .map(|t| format!("{}\t{}\t{:?}\t{}\n", t.symbol, t.ts_ns, t.price, t.volume))
        .collect()
}

/// Keys in a different order from the columns, as JSONEachRow allows.
fn json_each_row_body(ticks: &[Tick]) -> String {
    ticks
        .iter()
        .map(|t| {
            format!(
                "{{\"volume\":{},\"symbol\":{},\"price\":{:?},\"timestamp\":\"{}\"}}\n",
                t.volume,
                json!(t.symbol),
                t.price,
                format_ts(t.ts_ns)
            )
        })
        .collect()
}

#[test]
fn every_input_format_loads_the_same_rows() {
    let server = ServerProcess::start(&[]);
    let ticks = gen_ticks(21, 1_500, 50);
    let tables = ["t_csv", "t_tsv", "t_json", "t_rb", "t_native", "t_values"];
    for table in tables {
        create_trades_table(&server, table);
    }
    server.insert_format("t_csv", "CSV", csv_body(&ticks).as_bytes());
    server.insert_format("t_tsv", "TabSeparated", tsv_body(&ticks).as_bytes());
    server.insert_format(
        "t_json",
        "JSONEachRow",
        json_each_row_body(&ticks).as_bytes(),
    );
    server.insert_format("t_rb", "RowBinary", &row_binary(&ticks));
    // Two blocks, split mid-way, as a client streaming columns sends them.
    let (head, tail) = ticks.split_at(ticks.len() / 3);
    let native = [native_block(head), native_block(tail)].concat();
    server.insert_format("t_native", "Native", &native);
    insert_values(&server, "t_values", &ticks, 300);

    let stats = stats_by_symbol(&ticks);
    let mut dumps = Vec::new();
    for table in tables {
        let rows = server.query_rows(&format!(
            "SELECT symbol, count(*) AS n, sum(volume) AS v, sum(price) AS p, first(price) AS f, \
             last(price) AS l, vwap(price, volume) AS vw FROM {table} GROUP BY symbol ORDER BY symbol"
        ));
        assert_eq!(rows.len(), stats.len(), "{table}: one row per symbol");
        for (row, (symbol, s)) in rows.iter().zip(&stats) {
            assert_eq!(json_str(&row["symbol"]), symbol, "{table}");
            assert_eq!(
                json_i64(&row["n"]) as u64,
                s.count,
                "{table} {symbol} count"
            );
            assert_eq!(
                json_i64(&row["v"]),
                s.volume_sum,
                "{table} {symbol} sum(volume)"
            );
            assert_close(
                json_f64(&row["p"]),
                s.price_sum,
                &format!("{table} {symbol} sum(price)"),
            );
            assert_eq!(json_f64(&row["f"]), s.first_price, "{table} {symbol} first");
            assert_eq!(json_f64(&row["l"]), s.last_price, "{table} {symbol} last");
            assert_close(
                json_f64(&row["vw"]),
                s.vwap(),
                &format!("{table} {symbol} vwap"),
            );
        }
        let dump = server.query_json(&format!(
            "SELECT symbol, timestamp, price, volume FROM {table} ORDER BY timestamp"
        ));
        dumps.push((table, dump["data"].clone()));
    }
    let expected: Vec<Json> = ticks
        .iter()
        .map(|t| {
            json!({"symbol": t.symbol, "timestamp": format_ts(t.ts_ns), "price": t.price,
                   "volume": t.volume.to_string()})
        })
        .collect();
    for (table, dump) in &dumps {
        assert!(
            dump == &Json::Array(expected.clone()),
            "{table}: full dump differs from the rows sent"
        );
    }
}

#[test]
fn json_each_row_input_may_omit_a_column_which_becomes_null() {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, "t");
    let body = format!(
        "{{\"symbol\":\"A\",\"timestamp\":{BASE_TS_NS},\"price\":1.5,\"volume\":3}}\n\
         {{\"symbol\":\"A\",\"timestamp\":{},\"price\":2.5}}\n",
        BASE_TS_NS + 1
    );
    server.insert_format("t", "JSONEachRow", body.as_bytes());
    let rows = server.query_rows("SELECT volume FROM t ORDER BY timestamp");
    assert_eq!(rows.len(), 2);
    assert_eq!(json_i64(&rows[0]["volume"]), 3);
    assert!(rows[1]["volume"].is_null(), "{:?}", rows[1]);
}
