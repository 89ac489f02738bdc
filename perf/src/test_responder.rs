//! A throwaway HTTP/1.1 keep-alive responder for the client's tests: one thread on a
//! loopback port that answers a fixed number of requests and logs what it saw, including how
//! many TCP connections it accepted (the test of connection reuse). It parses just enough of
//! HTTP for `ureq`'s requests: a request line, headers, and a `Content-Length` body.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a failure is a test failure

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the responder waits for a connection or a byte before giving up.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// One request as received.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// What the responder answers to one request.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Response body.
    pub body: &'static str,
}

impl Reply {
    /// `200` with `body`.
    pub fn ok(body: &'static str) -> Self {
        Self { status: 200, body }
    }
}

/// Everything the responder saw.
#[derive(Debug, Default)]
pub struct ResponderLog {
    /// TCP connections accepted.
    pub connections_count: usize,
    /// Requests answered, in order.
    pub requests: Vec<LoggedRequest>,
}

/// A running responder; `finish` joins it.
pub struct Responder {
    port: u16,
    thread: JoinHandle<ResponderLog>,
}

impl Responder {
    /// Listens on an ephemeral loopback port and answers `requests_count` requests.
    pub fn start(requests_count: usize, reply: fn(&LoggedRequest) -> Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let thread = std::thread::spawn(move || serve(&listener, requests_count, reply));
        Self { port, thread }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A loopback URL on which nothing listens (the port was just released).
    pub fn base_url_unused() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("http://127.0.0.1:{port}")
    }

    /// Waits for the last answer and returns the log.
    pub fn finish(self) -> ResponderLog {
        self.thread.join().unwrap()
    }
}

fn serve(
    listener: &TcpListener,
    requests_count: usize,
    reply: fn(&LoggedRequest) -> Reply,
) -> ResponderLog {
    let mut log = ResponderLog::default();
    // At most one connection per request: a client that reuses nothing still terminates.
    for _ in 0..requests_count {
        if log.requests.len() == requests_count {
            break;
        }
        let Some(stream) = accept_before_deadline(listener) else {
            break;
        };
        log.connections_count += 1;
        serve_connection(stream, requests_count, reply, &mut log);
    }
    log
}

fn accept_before_deadline(listener: &TcpListener) -> Option<TcpStream> {
    let deadline = Instant::now() + IDLE_TIMEOUT;
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => return Some(stream),
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    None
}

fn serve_connection(
    mut stream: TcpStream,
    requests_count: usize,
    reply: fn(&LoggedRequest) -> Reply,
    log: &mut ResponderLog,
) {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(IDLE_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut buffer = Vec::new();
    while log.requests.len() < requests_count {
        let Some(request) = request_read(&mut stream, &mut buffer) else {
            return;
        };
        let answer = reply(&request);
        let head = format!(
            "HTTP/1.1 {} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            answer.status,
            answer.body.len()
        );
        log.requests.push(request);
        let written = stream
            .write_all(head.as_bytes())
            .and(stream.write_all(answer.body.as_bytes()));
        if written.is_err() {
            return;
        }
    }
}

/// Reads one request; `None` when the client closed the connection or went silent.
fn request_read(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<LoggedRequest> {
    let head_size = loop {
        if let Some(index) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break index + 4;
        }
        buffer_fill(stream, buffer)?;
    };
    let head = String::from_utf8(buffer[..head_size].to_vec()).ok()?;
    let mut words = head.split_whitespace();
    let method = words.next()?.to_string();
    let target = words.next()?.to_string();
    let body_size = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, value)| value.trim().parse::<usize>().unwrap());
    while buffer.len() < head_size + body_size {
        buffer_fill(stream, buffer)?;
    }
    let body = buffer[head_size..head_size + body_size].to_vec();
    buffer.drain(..head_size + body_size);
    Some(LoggedRequest {
        method,
        target,
        body,
    })
}

fn buffer_fill(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 64 * 1024];
    match stream.read(&mut chunk) {
        Ok(0) | Err(_) => None,
        Ok(size) => {
            buffer.extend_from_slice(&chunk[..size]);
            Some(())
        }
    }
}
