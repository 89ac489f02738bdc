//! End-to-end harness: starts a real `quecto server` process on loopback and talks to it over
//! its ClickHouse-compatible HTTP interface.
//!
//! Each test owns one `ServerProcess` (port 0, so tests run in parallel without clashing);
//! dropping it kills and reaps the child. The harness also carries the small helpers every
//! test file needs: a seeded PRNG and tick generator whose answers the tests compute
//! themselves, encoders for each input format, and readers for JSON result values.
//!
//! Nothing here knows the server's internals: the binary is found on disk (or built once),
//! and everything else goes through HTTP or a raw `TcpStream`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

/// How long a server may take from spawn to its `listening on` line.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// Whole-request limit for every HTTP call the harness makes.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response body the harness reads.
pub const RESPONSE_SIZE_MAX: u64 = 256 << 20;
/// Largest stderr kept for failure messages (the tail is what matters).
const STDERR_KEPT_SIZE_MAX: usize = 64 << 10;
/// The prefix of the one stdout line that says the server accepts connections.
const LISTENING_PREFIX: &str = "quecto: listening on http://";

/// 2024-01-02 09:30:00 UTC in nanoseconds since the epoch.
pub const BASE_TS_NS: i64 = 1_704_187_800_000_000_000;

// ---------------------------------------------------------------------------------------------
// Finding (or building) the binary.

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The profile directory this test binary was built into (`target/debug` for
/// `target/debug/deps/sql_answers-…`), which is where the `quecto` binary lands too.
fn profile_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        if let Some(deps) = exe.parent() {
            if deps.file_name().is_some_and(|name| name == "deps") {
                if let Some(profile) = deps.parent() {
                    return profile.to_path_buf();
                }
            }
        }
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    };
    target.join("debug")
}

/// Path to the `quecto` binary, built (or brought up to date) once per test process.
///
/// `QUECTO_BIN` names a binary to use as is. Otherwise `cargo build -p quecto-ops --bin quecto`
/// runs once (a no-op when fresh); when that fails but an older binary exists (someone is
/// mid-edit in another crate), the older binary is used and a warning printed.
/// `QUECTO_SKIP_BUILD=1` skips the build whenever a binary exists.
pub fn quecto_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("QUECTO_BIN") {
            return PathBuf::from(path);
        }
        let profile = profile_dir();
        let binary = profile.join("quecto");
        let skip_build = std::env::var_os("QUECTO_SKIP_BUILD").is_some_and(|v| v != "0");
        if !(skip_build && binary.exists()) {
            if let Err(why) = build_quecto_binary(&profile) {
                assert!(
                    binary.exists(),
                    "no quecto binary at {}: {why}",
                    binary.display()
                );
                eprintln!("warning: using the existing {}: {why}", binary.display());
            }
        }
        assert!(
            binary.exists(),
            "quecto binary missing at {} after building",
            binary.display()
        );
        binary
    })
}

fn build_quecto_binary(profile: &Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "-p", "quecto-ops", "--bin", "quecto"]);
    if profile.file_name().is_some_and(|name| name == "release") {
        command.arg("--release");
    }
    // The profile dir's parent is the target dir this test binary came from.
    if let Some(target) = profile.parent() {
        command.env("CARGO_TARGET_DIR", target);
    }
    let output = command
        .output()
        .map_err(|error| format!("running cargo build: {error}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "cargo build -p quecto-ops --bin quecto failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    ))
}

// ---------------------------------------------------------------------------------------------
// The server process.

/// A running `quecto server`; killed and reaped on drop.
pub struct ServerProcess {
    child: Child,
    /// A data directory this harness made for the server (removed on drop).
    data_dir: Option<PathBuf>,
    port: u16,
    url: String,
    stderr: Arc<Mutex<String>>,
    agent: ureq::Agent,
}

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// `X-ClickHouse-Exception-Code`, when present.
    pub exception_code: Option<String>,
    pub content_type: Option<String>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("response is not JSON ({error}): {}", self.text()))
    }
}

impl ServerProcess {
    /// Starts a server on a fresh temporary data directory, removed when the server is dropped.
    pub fn start(extra_args: &[&str]) -> ServerProcess {
        let data_dir = fresh_data_dir();
        let mut server = ServerProcess::start_in(&data_dir, extra_args);
        server.data_dir = Some(data_dir);
        server
    }

    /// Starts the binary with exactly `args`, waiting for its `listening on` line.
    pub fn start_raw(args: &[&str]) -> ServerProcess {
        ServerProcess::start_raw_within(args, SERVER_START_TIMEOUT)
    }

    /// Starts a server on `data_dir` (which outlives it) and waits up to `start_timeout` for
    /// its `listening on` line: for starts that load a large sample first.
    pub fn start_in_within(
        data_dir: &Path,
        extra_args: &[&str],
        start_timeout: Duration,
    ) -> ServerProcess {
        let mut args = server_args(data_dir);
        args.extend(extra_args.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ServerProcess::start_raw_within(&args, start_timeout)
    }

    fn start_raw_within(args: &[&str], start_timeout: Duration) -> ServerProcess {
        let binary = quecto_binary();
        let mut child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("spawning {} {args:?}: {error}", binary.display()));
        let stderr = Arc::new(Mutex::new(String::new()));
        drain_stderr(
            child.stderr.take().expect("stderr piped"),
            Arc::clone(&stderr),
        );
        let lines = forward_stdout(child.stdout.take().expect("stdout piped"));
        let port = match wait_for_listening(&lines, start_timeout) {
            Ok(port) => port,
            Err(why) => {
                let _ = child.kill();
                let status = child.wait();
                // Give the stderr thread a moment to read what the child wrote last.
                thread::sleep(Duration::from_millis(200));
                panic!(
                    "quecto {args:?} did not start: {why} (exit: {status:?})\n--- stderr ---\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(HTTP_TIMEOUT))
            .build();
        ServerProcess {
            child,
            data_dir: None,
            port,
            url: format!("http://127.0.0.1:{port}"),
            stderr,
            agent: config.into(),
        }
    }

    /// Starts a server on `data_dir`, which outlives it (for restart and crash tests).
    pub fn start_in(data_dir: &Path, extra_args: &[&str]) -> ServerProcess {
        ServerProcess::start_in_within(data_dir, extra_args, SERVER_START_TIMEOUT)
    }

    /// SIGTERM, then waits (at most 30 s) for the exit: a clean stop. Returns the exit code
    /// and what the server wrote to stderr.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) only sends a signal; `pid` is our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.code(),
                Ok(None) if std::time::Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    panic!("server did not stop within 30 s of SIGTERM");
                }
            }
        };
        (status, self.stderr())
    }

    /// SIGKILL: the process gets no chance to flush or clean up.
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server wrote to stderr so far (its tail).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// True while the child has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    // --- raw requests ------------------------------------------------------------------------

    /// `POST /` with the SQL text as the body.
    pub fn post_sql(&self, sql: &str) -> Reply {
        self.post_body(&format!("{}/", self.url), sql.as_bytes())
    }

    /// `POST /` with arbitrary bytes as the body.
    pub fn post_bytes(&self, body: &[u8]) -> Reply {
        self.post_body(&format!("{}/", self.url), body)
    }

    /// `POST /?query=<query>` with `body` as the data (ClickHouse's INSERT … FORMAT X form).
    pub fn post_query_with_body(&self, query: &str, body: &[u8]) -> Reply {
        let request = self
            .agent
            .post(format!("{}/", self.url))
            .query("query", query);
        self.finish("POST ?query", query, request.send(body))
    }

    /// `POST /?<params>` (params already encoded by the caller as pairs) with the SQL body.
    pub fn post_sql_with_params(&self, sql: &str, params: &[(&str, &str)]) -> Reply {
        let mut request = self.agent.post(format!("{}/", self.url));
        for (key, value) in params {
            request = request.query(*key, *value);
        }
        self.finish("POST", sql, request.send(sql.as_bytes()))
    }

    /// `GET /?query=<sql>`.
    pub fn get_sql(&self, sql: &str) -> Reply {
        let request = self.agent.get(format!("{}/", self.url)).query("query", sql);
        self.finish("GET ?query", sql, request.call())
    }

    /// `GET /?query=<sql>&<params>`.
    pub fn get_sql_with_params(&self, sql: &str, params: &[(&str, &str)]) -> Reply {
        let mut request = self.agent.get(format!("{}/", self.url)).query("query", sql);
        for (key, value) in params {
            request = request.query(*key, *value);
        }
        self.finish("GET ?query", sql, request.call())
    }

    /// `GET <path>` (e.g. `/ping`).
    pub fn get_path(&self, path: &str) -> Reply {
        let request = self.agent.get(format!("{}{path}", self.url));
        self.finish("GET", path, request.call())
    }

    /// `POST <path>` with `body`.
    pub fn post_bytes_to(&self, path: &str, body: &[u8]) -> Reply {
        self.post_body(&format!("{}{path}", self.url), body)
    }

    fn post_body(&self, url: &str, body: &[u8]) -> Reply {
        let what = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        self.finish("POST", &what, self.agent.post(url).send(body))
    }

    fn finish(
        &self,
        method: &str,
        what: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Reply {
        let mut response = result.unwrap_or_else(|error| {
            panic!(
                "{method} {what:?} to {} failed at the transport level: {error}\n--- server stderr ---\n{}",
                self.url,
                self.stderr()
            )
        });
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let exception_code = header("X-ClickHouse-Exception-Code");
        let content_type = header("Content-Type");
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(RESPONSE_SIZE_MAX)
            .read_to_vec()
            .unwrap_or_else(|error| panic!("{method} {what:?}: reading the body failed: {error}"));
        Reply {
            status,
            body,
            exception_code,
            content_type,
        }
    }

    // --- asserting helpers -------------------------------------------------------------------

    /// Runs a statement that must succeed; returns the body text.
    pub fn exec(&self, sql: &str) -> String {
        let reply = self.post_sql(sql);
        assert_eq!(
            reply.status,
            200,
            "statement failed: {sql}\n{}",
            reply.text()
        );
        reply.text()
    }

    /// Runs a SELECT that must succeed with the default (JSON) output; returns the document.
    pub fn query_json(&self, sql: &str) -> Json {
        let reply = self.post_sql(sql);
        assert_eq!(reply.status, 200, "query failed: {sql}\n{}", reply.text());
        reply.json()
    }

    /// The `data` rows of a JSON answer.
    pub fn query_rows(&self, sql: &str) -> Vec<serde_json::Map<String, Json>> {
        let document = self.query_json(sql);
        let data = document
            .get("data")
            .and_then(Json::as_array)
            .unwrap_or_else(|| {
                panic!("no data array in answer to {sql}: {document}");
            });
        data.iter()
            .map(|row| row.as_object().expect("a data row is an object").clone())
            .collect()
    }

    /// The only value of a one-row, one-column answer.
    pub fn query_scalar(&self, sql: &str) -> Json {
        let rows = self.query_rows(sql);
        assert_eq!(rows.len(), 1, "expected one row from {sql}, got {rows:?}");
        assert_eq!(
            rows[0].len(),
            1,
            "expected one column from {sql}, got {:?}",
            rows[0]
        );
        rows[0].values().next().unwrap().clone()
    }

    /// Sends `INSERT INTO table FORMAT format` with `body` as the data; must succeed.
    pub fn insert_format(&self, table: &str, format: &str, body: &[u8]) {
        let query = format!("INSERT INTO {table} FORMAT {format}");
        let reply = self.post_query_with_body(&query, body);
        assert_eq!(reply.status, 200, "{query} failed: {}", reply.text());
    }

    /// Proves the server still answers: `SELECT 1` must give 1.
    pub fn assert_alive(&self) {
        let reply = self.post_sql("SELECT 1");
        assert_eq!(
            reply.status,
            200,
            "server stopped answering SELECT 1: {}",
            reply.text()
        );
        let document = reply.json();
        let value = document["data"][0]
            .as_object()
            .and_then(|row| row.values().next().cloned());
        assert_eq!(
            value.as_ref().map(json_i64),
            Some(1),
            "SELECT 1 answered {document}"
        );
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `quecto` arguments for a test server on `data_dir`: loopback, a free port, 2 cores.
pub fn server_args(data_dir: &Path) -> Vec<String> {
    let data_dir_text = data_dir.to_string_lossy().into_owned();
    [
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--cores",
        "2",
        "--data-dir",
        &data_dir_text,
        // Small WAL segments: every server in the suite preallocates and zeroes its own.
        "--wal-segment-mb",
        "1",
    ]
    .map(str::to_string)
    .to_vec()
}

/// A data directory path no other server of this or any concurrent test run uses.
pub fn fresh_data_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let index = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!(
        "quecto-test-{}-{index}-{nanos}",
        std::process::id()
    ))
}

fn drain_stderr(stderr: std::process::ChildStderr, kept: Arc<Mutex<String>>) {
    thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let mut kept = kept.lock().unwrap();
                    kept.push_str(&line);
                    if kept.len() > STDERR_KEPT_SIZE_MAX {
                        let cut = kept.len() - STDERR_KEPT_SIZE_MAX / 2;
                        let cut = (cut..kept.len())
                            .find(|&i| kept.is_char_boundary(i))
                            .unwrap();
                        kept.replace_range(..cut, "…");
                    }
                }
            }
        }
    });
}

/// Reads stdout lines in a thread (forever, so the child never blocks on a full pipe) and
/// forwards them until the receiver is gone.
fn forward_stdout(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let reader = BufReader::new(stdout);
        for line in reader.lines() {
            let Ok(line) = line else { break };
            let _ = sender.send(line);
        }
    });
    receiver
}

fn wait_for_listening(
    lines: &mpsc::Receiver<String>,
    start_timeout: Duration,
) -> Result<u16, String> {
    let deadline = Instant::now() + start_timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.trim().strip_prefix(LISTENING_PREFIX) {
                    let port_text = rest.rsplit(':').next().unwrap_or("").trim_end_matches('/');
                    return port_text
                        .parse::<u16>()
                        .map_err(|_| format!("cannot read a port from stdout line {line:?}"));
                }
                seen.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "no `{LISTENING_PREFIX}PORT` line within {start_timeout:?}; stdout: {seen:?}"
                ));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(format!(
                    "stdout closed before the listening line; stdout: {seen:?}"
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw TCP.

/// Writes `bytes` to the server on a fresh connection, half-closes, and returns whatever the
/// server answers within `read_timeout` (possibly nothing).
pub fn raw_exchange(port: u16, bytes: &[u8], read_timeout: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to server");
    stream.set_read_timeout(Some(read_timeout)).unwrap();
    stream.write_all(bytes).expect("write raw request");
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + read_timeout;
    while Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
    answer
}

/// Writes `bytes` and drops the connection without reading anything.
pub fn raw_write_and_drop(port: u16, bytes: &[u8]) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to server");
    stream.write_all(bytes).expect("write raw request");
    drop(stream);
}

// ---------------------------------------------------------------------------------------------
// Deterministic data and independent answers.

/// SplitMix64: tiny, seeded, and the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (bound > 0; the tiny modulo bias does not matter here).
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0);
        self.next_u64() % bound
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// One trade.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    pub symbol: String,
    pub ts_ns: i64,
    pub price: f64,
    pub volume: i64,
}

pub fn symbol_name(index: usize) -> String {
    format!("S{index:03}")
}

/// `rows_count` ticks over `symbols_count` symbols, timestamps strictly increasing (so first
/// and last are unambiguous), prices with full 53-bit mantissas, volumes 1..=10_000.
pub fn gen_ticks(seed: u64, rows_count: usize, symbols_count: usize) -> Vec<Tick> {
    let mut rng = Rng::new(seed);
    (0..rows_count)
        .map(|i| Tick {
            symbol: symbol_name(rng.below(symbols_count as u64) as usize),
            ts_ns: BASE_TS_NS + i as i64 * 1_000_000 + rng.below(1_000_000) as i64,
            price: 10.0 + 990.0 * rng.unit(),
            volume: 1 + rng.below(10_000) as i64,
        })
        .collect()
}

/// Per-symbol aggregates computed by the test itself.
#[derive(Clone, Debug, PartialEq)]
pub struct SymbolStats {
    pub count: u64,
    pub volume_sum: i64,
    pub price_sum: f64,
    pub price_min: f64,
    pub price_max: f64,
    pub first_price: f64,
    pub last_price: f64,
    pub first_ts_ns: i64,
    pub last_ts_ns: i64,
    pub notional_sum: f64,
}

impl SymbolStats {
    pub fn vwap(&self) -> f64 {
        self.notional_sum / self.volume_sum as f64
    }

    pub fn price_avg(&self) -> f64 {
        self.price_sum / self.count as f64
    }
}

pub fn stats_by_symbol(ticks: &[Tick]) -> std::collections::BTreeMap<String, SymbolStats> {
    let mut stats = std::collections::BTreeMap::<String, SymbolStats>::new();
    for tick in ticks {
        let entry = stats.entry(tick.symbol.clone()).or_insert(SymbolStats {
            count: 0,
            volume_sum: 0,
            price_sum: 0.0,
            price_min: f64::INFINITY,
            price_max: f64::NEG_INFINITY,
            first_price: tick.price,
            last_price: tick.price,
            first_ts_ns: tick.ts_ns,
            last_ts_ns: tick.ts_ns,
            notional_sum: 0.0,
        });
        entry.count += 1;
        entry.volume_sum += tick.volume;
        entry.price_sum += tick.price;
        entry.price_min = entry.price_min.min(tick.price);
        entry.price_max = entry.price_max.max(tick.price);
        entry.notional_sum += tick.price * tick.volume as f64;
        if tick.ts_ns < entry.first_ts_ns {
            entry.first_ts_ns = tick.ts_ns;
            entry.first_price = tick.price;
        }
        if tick.ts_ns > entry.last_ts_ns {
            entry.last_ts_ns = tick.ts_ns;
            entry.last_price = tick.price;
        }
    }
    stats
}

pub const TRADES_COLUMNS_SQL: &str =
    "(symbol SYMBOL, timestamp TIMESTAMP, price FLOAT64, volume INT64)";

/// Creates `table` with the canonical trades shape.
pub fn create_trades_table(server: &ServerProcess, table: &str) {
    server.exec(&format!("CREATE TABLE {table} {TRADES_COLUMNS_SQL}"));
}

/// Inserts ticks with multi-row `INSERT … VALUES`, `rows_per_statement` rows at a time.
pub fn insert_values(
    server: &ServerProcess,
    table: &str,
    ticks: &[Tick],
    rows_per_statement: usize,
) {
    for chunk in ticks.chunks(rows_per_statement.max(1)) {
        server.exec(&values_statement(table, chunk));
    }
}

pub fn values_statement(table: &str, ticks: &[Tick]) -> String {
    let mut sql = format!("INSERT INTO {table} VALUES ");
    for (i, tick) in ticks.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "('{}', {}, {:?}, {})",
            tick.symbol, tick.ts_ns, tick.price, tick.volume
        ));
    }
    sql
}

/// ClickHouse's `DateTime64(9)` text for nanoseconds since the epoch (UTC), computed here
/// without a date library (civil-from-days, Howard Hinnant's algorithm).
pub fn format_ts(ns: i64) -> String {
    let seconds = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{nanos:09}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// Encodes ticks as ClickHouse RowBinary for (symbol String, timestamp DateTime64(9),
/// price Float64, volume Int64): LEB128 length + bytes, then little-endian fixed widths.
pub fn row_binary(ticks: &[Tick]) -> Vec<u8> {
    let mut out = Vec::new();
    for tick in ticks {
        write_leb128(&mut out, tick.symbol.len() as u64);
        out.extend_from_slice(tick.symbol.as_bytes());
        out.extend_from_slice(&tick.ts_ns.to_le_bytes());
        out.extend_from_slice(&tick.price.to_le_bytes());
        out.extend_from_slice(&tick.volume.to_le_bytes());
    }
    out
}

/// Encodes ticks as one ClickHouse Native block with columns (volume Int64, price Float64,
/// timestamp DateTime64(9, 'UTC'), symbol String): deliberately not the table's column order.
pub fn native_block(ticks: &[Tick]) -> Vec<u8> {
    let mut out = Vec::new();
    write_leb128(&mut out, 4);
    write_leb128(&mut out, ticks.len() as u64);
    let header = |name: &str, type_name: &str, out: &mut Vec<u8>| {
        for text in [name, type_name] {
            write_leb128(out, text.len() as u64);
            out.extend_from_slice(text.as_bytes());
        }
    };
    header("volume", "Int64", &mut out);
    out.extend(ticks.iter().flat_map(|t| t.volume.to_le_bytes()));
    header("price", "Float64", &mut out);
    out.extend(ticks.iter().flat_map(|t| t.price.to_le_bytes()));
    header("timestamp", "DateTime64(9, 'UTC')", &mut out);
    out.extend(ticks.iter().flat_map(|t| t.ts_ns.to_le_bytes()));
    header("symbol", "String", &mut out);
    for tick in ticks {
        write_leb128(&mut out, tick.symbol.len() as u64);
        out.extend_from_slice(tick.symbol.as_bytes());
    }
    out
}

/// Appends `value` as unsigned LEB128 (ClickHouse's VarUInt).
pub fn write_leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

// ---------------------------------------------------------------------------------------------
// Reading JSON values.

/// An integer from a JSON answer: ClickHouse quotes 64-bit integers ("5"), smaller ones are
/// plain numbers.
pub fn json_i64(value: &Json) -> i64 {
    match value {
        Json::String(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("not an integer string: {value}")),
        Json::Number(number) => number
            .as_i64()
            .unwrap_or_else(|| panic!("not an integer number: {value}")),
        other => panic!("expected an integer, got {other}"),
    }
}

/// A float from a JSON answer (a number; ClickHouse writes inf/nan as strings, accepted too).
pub fn json_f64(value: &Json) -> f64 {
    match value {
        Json::Number(number) => number.as_f64().unwrap(),
        Json::String(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("not a float: {value}")),
        other => panic!("expected a float, got {other}"),
    }
}

pub fn json_str(value: &Json) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
}

/// Asserts `actual` is within 1e-9 relative of `expected` (absolute near zero).
#[track_caller]
pub fn assert_close(actual: f64, expected: f64, what: &str) {
    let scale = expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= 1e-9 * scale,
        "{what}: got {actual:?}, expected {expected:?} (relative error {:e})",
        (actual - expected).abs() / scale
    );
}

/// Asserts the reply is an error with `status`, carries an exception code, and (when given)
/// names `needle` in its body.
#[track_caller]
pub fn assert_error(reply: &Reply, status: u16, needle: Option<&str>, what: &str) {
    assert_eq!(
        reply.status,
        status,
        "{what}: wrong status; body: {}",
        reply.text()
    );
    let code = reply.exception_code.as_deref().unwrap_or("");
    assert!(
        !code.is_empty(),
        "{what}: no X-ClickHouse-Exception-Code header; body: {}",
        reply.text()
    );
    if let Some(needle) = needle {
        assert!(
            reply.text().contains(needle),
            "{what}: error body does not name {needle:?}: {}",
            reply.text()
        );
    }
}

/// The values of metric `name`, one per shard, from `/metrics` text.
pub fn metric_samples(text: &str, name: &str) -> Vec<f64> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .map(|line| line.rsplit(' ').next().unwrap().parse().unwrap())
        .collect()
}

/// Waits (at most 20 s) until both shards of a server on `data_dir` have published a
/// checkpoint manifest; panics otherwise.
pub fn wait_for_manifests(data_dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let segments = data_dir.join("segments");
    while Instant::now() < deadline {
        let manifests = std::fs::read_dir(&segments)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".manifest"))
                    .count()
            })
            .unwrap_or(0);
        if manifests == 2 {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("no checkpoint within 20 s in {}", segments.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_ts_matches_known_instants() {
        assert_eq!(format_ts(BASE_TS_NS), "2024-01-02 09:30:00.000000000");
        assert_eq!(
            format_ts(BASE_TS_NS + 123_456_789),
            "2024-01-02 09:30:00.123456789"
        );
        assert_eq!(format_ts(0), "1970-01-01 00:00:00.000000000");
        assert_eq!(format_ts(-1), "1969-12-31 23:59:59.999999999");
        assert_eq!(
            format_ts(951_782_400_000_000_000),
            "2000-02-29 00:00:00.000000000"
        );
    }

    #[test]
    fn leb128_matches_clickhouse_varuint() {
        let mut out = Vec::new();
        write_leb128(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        out.clear();
        write_leb128(&mut out, 4);
        assert_eq!(out, [4]);
    }

    #[test]
    fn generator_is_deterministic_and_increasing() {
        let a = gen_ticks(7, 100, 10);
        assert_eq!(a, gen_ticks(7, 100, 10));
        assert!(a.windows(2).all(|pair| pair[0].ts_ns < pair[1].ts_ns));
    }
}
