//! Shard-aware ports (`--shard-port-base`): every shard serves HTTP on a port of its own,
//! `/shards` lists them, `/route` names a symbol's owner as the query planner routes it, and
//! writes through any port land once, readable from every port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::Command;

use serde_json::Value as Json;

use quecto_tests::{fresh_data_dir, quecto_binary, server_args, ServerProcess};

/// (status, body) of `method` `path` on `port` of the loopback.
fn call(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("http://127.0.0.1:{port}{path}");
    let response = match method {
        "GET" => agent.get(&url).call(),
        _ => agent.post(&url).send(body.as_bytes()),
    };
    let mut response = response.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, text)
}

fn json(port: u16, path: &str) -> Json {
    let (status, body) = call(port, "GET", path, "");
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn shard_ports(server: &ServerProcess) -> Vec<u16> {
    let map = json(server.port(), "/shards");
    assert_eq!(map["shards"], 2, "{map}");
    map["shard_ports"]
        .as_array()
        .expect("shard_ports listed")
        .iter()
        .map(|p| p.as_u64().unwrap() as u16)
        .collect()
}

#[test]
fn each_shard_answers_on_its_own_port_and_route_agrees_with_the_planner() {
    let server = ServerProcess::start(&["--shard-port-base", "0"]);
    let ports = shard_ports(&server);
    assert_eq!(ports.len(), 2);
    assert!(
        ports.iter().all(|&p| p != 0 && p != server.port()),
        "{ports:?}"
    );
    assert_ne!(ports[0], ports[1]);
    for (shard, &port) in ports.iter().enumerate() {
        let map = json(port, "/shards");
        assert_eq!(
            map["shard"], shard,
            "port {port} is shard {shard}'s own: {map}"
        );
    }
    server.exec("CREATE TABLE t (symbol INT64, ts TIMESTAMP, v INT64)");
    server.exec("CREATE TABLE s (symbol SYMBOL, ts TIMESTAMP, v INT64)");
    let mut owners = [0usize; 2];
    for (table, symbol, literal) in (0..40)
        .map(|k| ("t", k.to_string(), k.to_string()))
        .chain((0..40).map(|k| ("s", format!("S{k}"), format!("'S{k}'"))))
    {
        let route = json(
            server.port(),
            &format!("/route?table={table}&symbol={symbol}"),
        );
        let shard = route["shard"].as_u64().unwrap() as usize;
        owners[shard] += 1;
        assert_eq!(route["port"], ports[shard], "{route}");
        // The planner sends `symbol = X` to the same single shard.
        let plan = server.post_sql(&format!(
            "EXPLAIN SELECT count() FROM {table} WHERE symbol = {literal} FORMAT TabSeparated"
        ));
        assert!(
            plan.text().contains(&format!("shards [{shard}] of 2")),
            "{table} {symbol}: /route says {shard}, EXPLAIN says\n{}",
            plan.text()
        );
        // A row written through the owner's port and one through the other's both land.
        let other = ports[1 - shard];
        for (port, ts) in [(ports[shard], 1), (other, 2)] {
            let (status, body) = call(
                port,
                "POST",
                "/",
                &format!("INSERT INTO {table} VALUES ({literal}, {ts}, {ts})"),
            );
            assert_eq!(status, 200, "{body}");
        }
    }
    assert!(
        owners.iter().all(|&n| n > 10),
        "both shards own symbols: {owners:?}"
    );
    for port in [server.port(), ports[0], ports[1]] {
        for table in ["t", "s"] {
            let (_, body) = call(
                port,
                "POST",
                "/",
                &format!("SELECT count(), sum(v) FROM {table} FORMAT TabSeparated"),
            );
            assert_eq!(body, "80\t120\n", "{table} through port {port}");
        }
    }
}

#[test]
fn route_and_shards_refuse_bad_requests_by_name() {
    let server = ServerProcess::start(&[]);
    let map = json(server.port(), "/shards");
    assert!(
        map["shard_ports"].is_null(),
        "no shard ports asked for: {map}"
    );
    server.exec("CREATE TABLE t (symbol INT64, ts TIMESTAMP, v INT64)");
    let route = json(server.port(), "/route?table=t&symbol=7");
    assert!(
        route["port"].is_null() && route["shard"].as_u64().unwrap() < 2,
        "{route}"
    );
    let cases = [
        (
            "GET",
            "/route?table=nope&symbol=1",
            404,
            "unknown table `nope`",
        ),
        (
            "GET",
            "/route?table=t&symbol=abc",
            400,
            "symbol `abc` is not an integer",
        ),
        ("GET", "/route?table=t", 400, "/route needs ?symbol="),
        ("POST", "/shards", 405, "POST /shards"),
    ];
    for (method, path, status, message) in cases {
        let (got, body) = call(server.port(), method, path, "");
        assert_eq!(got, status, "{method} {path}: {body}");
        assert!(body.contains(message), "{method} {path}: {body}");
    }
    server.assert_alive();
}

#[test]
fn a_taken_shard_port_stops_start_up_with_its_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    // Shard 0's port is the taken one.
    let base = port.to_string();
    let dir = fresh_data_dir();
    let mut args = server_args(&dir);
    args.extend(["--shard-port-base".to_string(), base]);
    let output = Command::new(quecto_binary()).args(&args).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot bind 127.0.0.1:{port}")),
        "{stderr}"
    );
    drop(taken);
    let _ = std::fs::remove_dir_all(&dir);
}
