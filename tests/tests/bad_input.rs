//! Bad input gets a 4xx that names what was wrong, with an exception-code header, never a
//! 500; and after each one the server still answers `SELECT 1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use quecto_tests::*;

fn server_with_table() -> ServerProcess {
    let server = ServerProcess::start(&[]);
    create_trades_table(&server, "t");
    server.exec(&format!(
        "INSERT INTO t VALUES ('A', {BASE_TS_NS}, 1.5, 10)"
    ));
    server
}

#[test]
fn malformed_sql_is_400_naming_the_token() {
    let server = server_with_table();
    let reply = server.post_sql("SELEC price FROM t");
    assert_error(&reply, 400, Some("SELEC"), "misspelt keyword");
    server.assert_alive();
    let reply = server.post_sql("SELECT price FROM t WHERE price >> 3 BOGUSTOKEN");
    assert_eq!(reply.status, 400, "{}", reply.text());
    server.assert_alive();
    let reply = server.post_sql("SELECT price FROM t ORDER BY");
    assert_eq!(reply.status, 400, "{}", reply.text());
    server.assert_alive();
}

#[test]
fn unknown_table_is_404_naming_it() {
    let server = server_with_table();
    let reply = server.post_sql("SELECT count(*) FROM no_such_table_xyz");
    assert_error(&reply, 404, Some("no_such_table_xyz"), "unknown table");
    server.assert_alive();
    let reply = server.post_sql("INSERT INTO no_such_table_xyz VALUES ('A', 1, 1.0, 1)");
    assert_error(
        &reply,
        404,
        Some("no_such_table_xyz"),
        "insert into unknown table",
    );
    server.assert_alive();
    let reply =
        server.post_query_with_body("INSERT INTO no_such_table_xyz FORMAT CSV", b"A,1,1.0,1\n");
    assert_error(
        &reply,
        404,
        Some("no_such_table_xyz"),
        "CSV insert into unknown table",
    );
    server.assert_alive();
}

#[test]
fn unknown_column_is_404_naming_it() {
    let server = server_with_table();
    let reply = server.post_sql("SELECT bogus_col FROM t");
    assert_error(
        &reply,
        404,
        Some("bogus_col"),
        "unknown column in select list",
    );
    server.assert_alive();
    let reply = server.post_sql("SELECT count(*) FROM t WHERE bogus_col > 1");
    assert_error(&reply, 404, Some("bogus_col"), "unknown column in WHERE");
    server.assert_alive();
    let reply = server.post_sql("INSERT INTO t (symbol, bogus_col) VALUES ('A', 1)");
    assert_error(
        &reply,
        404,
        Some("bogus_col"),
        "unknown column in INSERT column list",
    );
    server.assert_alive();
}

#[test]
fn wrong_value_type_is_400_naming_the_column() {
    let server = server_with_table();
    let reply = server.post_sql(&format!(
        "INSERT INTO t VALUES ('A', {}, 'abc', 5)",
        BASE_TS_NS + 1
    ));
    assert_error(&reply, 400, Some("price"), "string into FLOAT64");
    server.assert_alive();
    let reply = server.post_sql(&format!(
        "INSERT INTO t VALUES ('A', {}, 1.0, 'lots')",
        BASE_TS_NS + 1
    ));
    assert_error(&reply, 400, Some("volume"), "string into INT64");
    server.assert_alive();
    let reply = server.post_query_with_body(
        "INSERT INTO t FORMAT CSV",
        b"A,1704187800000000001,1.0,xyz\n",
    );
    assert_error(&reply, 400, Some("volume"), "CSV text into INT64");
    server.assert_alive();
    let reply = server.post_sql("INSERT INTO t VALUES ('A', 'not a time', 1.0, 1)");
    assert_error(&reply, 400, Some("timestamp"), "text that is no timestamp");
    server.assert_alive();
    let reply = server.post_sql("INSERT INTO t VALUES ('A', 5, 1.0, 99999999999999999999)");
    assert_error(&reply, 400, Some("volume"), "integer too big for INT64");
    server.assert_alive();
    let reply = server.post_sql("INSERT INTO t VALUES (NULL, 5, 1.0, 1)");
    assert_error(&reply, 400, Some("symbol"), "NULL symbol");
    let reply = server.post_sql("INSERT INTO t (symbol, price) VALUES ('A', 1.0)");
    assert_error(&reply, 400, Some("timestamp"), "no timestamp column");
    let reply = server.post_sql("SELECT count(*) FROM t WHERE price = 'abc'");
    assert_error(&reply, 400, None, "float compared with text");
    server.assert_alive();
    // The refused statements stored nothing.
    assert_eq!(json_i64(&server.query_scalar("SELECT count(*) FROM t")), 1);
}

#[test]
fn too_many_values_is_400() {
    let server = server_with_table();
    let reply = server.post_sql("INSERT INTO t VALUES ('A', 1, 1.0, 5, 6)");
    assert_error(&reply, 400, None, "five values for four columns");
    server.assert_alive();
    let reply = server.post_sql("INSERT INTO t (symbol, timestamp) VALUES ('A', 1, 2.0)");
    assert_error(&reply, 400, None, "three values for two listed columns");
    server.assert_alive();
    let reply = server.post_query_with_body("INSERT INTO t FORMAT CSV", b"A,1,1.0,5,6\n");
    assert_error(&reply, 400, None, "CSV row with five values");
    server.assert_alive();
    let reply =
        server.post_query_with_body("INSERT INTO t FORMAT TabSeparated", b"A\t1\t1.0\t5\t6\n");
    assert_error(&reply, 400, None, "TSV row with five values");
    server.assert_alive();
    assert_eq!(json_i64(&server.query_scalar("SELECT count(*) FROM t")), 1);
}

#[test]
fn oversized_body_is_413() {
    let server = ServerProcess::start(&["--max-body-bytes", "1000"]);
    create_trades_table(&server, "t");
    let mut sql = String::from("SELECT 1 /*");
    sql.push_str(&"x".repeat(5_000 - sql.len() - 2));
    sql.push_str("*/");
    assert_eq!(sql.len(), 5_000);
    let reply = server.post_sql(&sql);
    assert_error(&reply, 413, None, "5000-byte body over a 1000-byte limit");
    server.assert_alive();
    let ticks = gen_ticks(31, 200, 10);
    let body = row_binary(&ticks);
    assert!(body.len() > 1_000);
    let reply = server.post_query_with_body("INSERT INTO t FORMAT RowBinary", &body);
    assert_error(&reply, 413, None, "oversized RowBinary insert");
    server.assert_alive();
    assert_eq!(json_i64(&server.query_scalar("SELECT count(*) FROM t")), 0);
    // A body under the limit still works.
    server.insert_format("t", "RowBinary", &row_binary(&ticks[..5]));
    assert_eq!(json_i64(&server.query_scalar("SELECT count(*) FROM t")), 5);
}

#[test]
fn binary_garbage_as_sql_is_400() {
    let server = server_with_table();
    let mut rng = Rng::new(32);
    let garbage: Vec<u8> = (0..512).map(|_| rng.next_u64() as u8).collect();
    let reply = server.post_bytes(&garbage);
    assert_error(&reply, 400, None, "random bytes as SQL");
    server.assert_alive();
    let reply = server.post_bytes(&[0xff, 0xfe, 0x00, 0x01, b'S', b'E', 0xc3]);
    assert_error(&reply, 400, None, "invalid UTF-8 as SQL");
    server.assert_alive();
    let reply = server.post_bytes(b"");
    assert!(
        (400..500).contains(&reply.status),
        "empty body: {} {}",
        reply.status,
        reply.text()
    );
    server.assert_alive();
}

#[test]
fn binary_garbage_as_row_binary_is_400() {
    let server = server_with_table();
    let mut rng = Rng::new(33);
    let mut bodies: Vec<Vec<u8>> = vec![
        vec![0xff; 37],               // a string length that runs past the end
        vec![0x01, b'A', 0x00, 0x00], // a row cut inside its timestamp
    ];
    let mut cut = row_binary(&gen_ticks(33, 3, 2));
    cut.truncate(cut.len() - 3); // two whole rows and most of a third
    bodies.push(cut);
    bodies.push((0..333).map(|_| rng.next_u64() as u8).collect());
    for body in &bodies {
        let reply = server.post_query_with_body("INSERT INTO t FORMAT RowBinary", body);
        assert_error(
            &reply,
            400,
            None,
            &format!("RowBinary garbage {:?}", &body[..body.len().min(8)]),
        );
        server.assert_alive();
    }
    assert_eq!(
        json_i64(&server.query_scalar("SELECT count(*) FROM t")),
        1,
        "a refused body stores none of its rows"
    );
    let reply =
        server.post_query_with_body("INSERT INTO t FORMAT JSONEachRow", b"{\"symbol\": \"A\", ");
    assert_error(&reply, 400, None, "cut JSON");
    let reply = server.post_query_with_body("INSERT INTO t FORMAT CSV", b"\"A,1,1.0,1\n");
    assert_error(&reply, 400, None, "unterminated CSV quote");
    server.assert_alive();
}

#[test]
fn broken_native_blocks_are_400_naming_what_is_wrong() {
    let server = server_with_table();
    let whole = native_block(&gen_ticks(34, 3, 2));
    let mut rng = Rng::new(34);
    let mut renamed = whole.clone();
    let at = renamed.windows(6).position(|w| w == b"volume").unwrap();
    renamed[at..at + 6].copy_from_slice(b"volumx");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (whole[..whole.len() - 2].to_vec(), "inside column `symbol`"),
        (renamed, "column `volumx`"),
        ([0x01, 0xff, 0xff, 0xff, 0xff, 0x0f].to_vec(), "row count"),
        ((0..333).map(|_| rng.next_u64() as u8).collect(), ""),
    ];
    for (body, expected) in &cases {
        let reply = server.post_query_with_body("INSERT INTO t FORMAT Native", body);
        assert_error(&reply, 400, None, &format!("Native garbage {expected:?}"));
        assert!(reply.text().contains(expected), "{}", reply.text());
        server.assert_alive();
    }
    assert_eq!(
        json_i64(&server.query_scalar("SELECT count(*) FROM t")),
        1,
        "a refused body stores none of its rows"
    );
}

#[test]
fn truncated_request_does_not_hurt_the_server() {
    let server = server_with_table();
    // Headers promise 100 bytes; only 10 arrive, then the client half-closes.
    let request = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nSELECT 1; ";
    let answer = raw_exchange(server.port(), request, Duration::from_secs(5));
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "a truncated body gets no answer or a 4xx, not {answer:?}"
    );
    server.assert_alive();
    // Unterminated headers, then close.
    raw_exchange(
        server.port(),
        b"GET /?query=SELECT%201 HTTP/1.1\r\nHost: x\r\nX-",
        Duration::from_secs(2),
    );
    server.assert_alive();
    // Not HTTP at all.
    raw_exchange(
        server.port(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
        Duration::from_secs(2),
    );
    server.assert_alive();
}

#[test]
fn client_disconnecting_mid_request_does_not_hurt_the_server() {
    let server = server_with_table();
    let full = format!(
        "POST /?query={} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 200\r\n\r\n",
        "INSERT%20INTO%20t%20FORMAT%20CSV"
    );
    for i in 0..20 {
        let cut = (full.len() * (i + 1) / 21).max(1);
        let mut bytes = full.as_bytes()[..cut].to_vec();
        if i % 2 == 0 {
            bytes = full.as_bytes().to_vec();
            bytes.extend_from_slice(b"B,1704187800000000001,2.5,");
        }
        raw_write_and_drop(server.port(), &bytes);
    }
    server.assert_alive();
    assert_eq!(
        json_i64(&server.query_scalar("SELECT count(*) FROM t")),
        1,
        "half-sent inserts store nothing"
    );
}

#[test]
fn mutating_statements_over_get_are_405() {
    let server = server_with_table();
    let statements = [
        "INSERT INTO t VALUES ('B', 1, 1.0, 1)".to_owned(),
        format!("CREATE TABLE t2 {TRADES_COLUMNS_SQL}"),
        "DROP TABLE t".to_owned(),
        "DROP TABLE IF EXISTS t".to_owned(),
    ];
    for sql in &statements {
        let reply = server.get_sql(sql);
        assert_error(&reply, 405, None, &format!("GET {sql}"));
        server.assert_alive();
    }
    // None of them took effect.
    assert_eq!(json_i64(&server.query_scalar("SELECT count(*) FROM t")), 1);
    assert_eq!(server.post_sql("SELECT count(*) FROM t2").status, 404);
}

#[test]
fn assorted_bad_statements_are_client_errors_never_500() {
    let server = server_with_table();
    let statements = [
        "SELECT",
        "SELECT FROM t",
        "SELECT * FROM t WHERE",
        "INSERT INTO t VALUES (",
        "INSERT INTO t VALUES ('A', 1, 1.0, 1",
        "CREATE TABLE bad (a NOSUCHTYPE)",
        "CREATE TABLE bad (",
        "SELECT sum(symbol) FROM t",
        "SELECT price FROM t GROUP BY symbol",
        "SELECT count(*) FROM t HAVING",
        "SELECT price FROM t LIMIT -1",
        "SELECT price FROM t LIMIT 'x'",
        "SELECT price FROM t FORMAT NoSuchFormat",
        "SELECT vwap(price) FROM t",
        "SELECT first() FROM t",
        "SELECT 'unterminated FROM t",
        "SELECT price FROM t WHERE symbol IN ()",
        "DESCRIBE no_such_table",
        ";;;",
        "\u{0}\u{0}\u{0}",
    ];
    for sql in statements {
        let reply = server.post_sql(sql);
        assert!(
            (400..500).contains(&reply.status),
            "{sql:?}: expected a 4xx, got {} {}",
            reply.status,
            reply.text()
        );
        assert!(
            reply.exception_code.is_some(),
            "{sql:?}: no exception code header"
        );
        server.assert_alive();
    }
    let reply = server.post_query_with_body("INSERT INTO t FORMAT NoSuchFormat", b"x");
    assert!(
        (400..500).contains(&reply.status),
        "unknown input format: {}",
        reply.status
    );
    server.assert_alive();
}
