//! Blocking keep-alive HTTP client for the ClickHouse-style interface of a QuectoDB server.
//!
//! One `ureq::Agent` per `HttpClient`, requests strictly one after another, and every response
//! body read to its end: that is what lets the agent hand the same TCP connection back to its
//! pool, so a latency loop measures request handling and not a TCP handshake per call. The
//! client never retries; a failed request is a typed `BenchError` naming the URL, the status and
//! the start of the body.
//!
//! A blocking client sleeps in `read` while the server works, so its wake-up cost is part of
//! every sample (tens of µs on a VM); numbers are comparable between runs of this harness, not
//! with a busy-polling client.

use crate::error::{body_excerpt, BenchError};
use crate::gen::InsertFormat;
use crate::limits::{REQUEST_TIMEOUT, RESPONSE_SIZE_MAX};
use ureq::config::AutoHeaderValue;
use ureq::http::Response;
use ureq::{Agent, Body};

/// What `GET /ping` answers, per the contract (trailing whitespace is tolerated).
pub const PING_BODY: &[u8] = b"Ok.";

/// A keep-alive client bound to one server.
#[derive(Debug)]
pub struct HttpClient {
    agent: Agent,
    base_url: String,
    ping_url: String,
    root_url: String,
}

impl HttpClient {
    /// A client for the server at `base_url` (`http://host:port`, trailing `/` allowed).
    /// Nothing is sent until the first request.
    pub fn new(base_url: &str) -> Result<Self, BenchError> {
        let base_url = base_url.trim_end_matches('/').to_string();
        base_url_check(&base_url)?;
        let config = Agent::config_builder()
            .http_status_as_error(false) // a non-200 body is the error message we report
            .timeout_global(Some(REQUEST_TIMEOUT))
            .accept_encoding(AutoHeaderValue::None) // measure the server, not decompression
            .user_agent("quecto-bench")
            .max_idle_connections_per_host(1)
            .build();
        Ok(Self {
            agent: config.new_agent(),
            ping_url: format!("{base_url}/ping"),
            root_url: format!("{base_url}/"),
            base_url,
        })
    }

    /// The server address this client talks to, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `GET /ping`; succeeds on 200 with body `Ok.`.
    pub fn ping(&self) -> Result<(), BenchError> {
        let response = self.agent.get(&self.ping_url).call();
        let body = response_ok_read(&self.ping_url, response)?;
        if body.trim_ascii_end() != PING_BODY {
            return Err(BenchError::UnexpectedBody {
                url: self.ping_url.clone(),
                expected: "\"Ok.\\n\"",
                body_excerpt: body_excerpt(&body),
            });
        }
        Ok(())
    }

    /// `POST /` with `sql` as the body; the response body on 200.
    pub fn query(&self, sql: &str) -> Result<String, BenchError> {
        let response = self
            .agent
            .post(&self.root_url)
            .content_type("text/plain")
            .send(sql);
        let body = response_ok_read(&self.root_url, response)?;
        String::from_utf8(body).map_err(|error| BenchError::UnexpectedBody {
            url: self.root_url.clone(),
            expected: "UTF-8 text",
            body_excerpt: body_excerpt(error.as_bytes()),
        })
    }

    /// `POST /?query=INSERT INTO <table> FORMAT <format>` with `body` as the rows.
    pub fn post_insert(
        &self,
        table: &str,
        format: InsertFormat,
        body: &[u8],
    ) -> Result<(), BenchError> {
        let url = self.insert_url(table, format);
        let response = self
            .agent
            .post(&url)
            .content_type("application/octet-stream")
            .send(body);
        response_ok_read(&url, response).map(drop)
    }

    /// The URL `post_insert` sends to: the statement percent-encoded into `query`.
    pub fn insert_url(&self, table: &str, format: InsertFormat) -> String {
        let statement = format!("INSERT INTO {table} FORMAT {}", format.sql_name());
        format!("{}?query={}", self.root_url, percent_encode(&statement))
    }
}

/// Accepts `http://host[:port]` with nothing after it: the harness appends the paths itself.
fn base_url_check(base_url: &str) -> Result<(), BenchError> {
    let Some(authority) = base_url.strip_prefix("http://") else {
        return Err(BenchError::Argument {
            name: "url",
            detail: format!("{base_url:?} does not start with http:// (no TLS support)"),
        });
    };
    if authority.is_empty() || authority.contains(['/', '?', '#', ' ']) {
        return Err(BenchError::Argument {
            name: "url",
            detail: format!("{base_url:?} is not http://host:port"),
        });
    }
    Ok(())
}

/// Reads the whole body (so the connection returns to the pool) and checks the status.
fn response_ok_read(
    url: &str,
    response: Result<Response<Body>, ureq::Error>,
) -> Result<Vec<u8>, BenchError> {
    let transport = |source| BenchError::Transport {
        url: url.to_string(),
        source: Box::new(source),
    };
    let mut response = response.map_err(transport)?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(RESPONSE_SIZE_MAX)
        .read_to_vec()
        .map_err(transport)?;
    if status != 200 {
        return Err(BenchError::Status {
            url: url.to_string(),
            status,
            body_excerpt: body_excerpt(&body),
        });
    }
    Ok(body)
}

/// Percent-encodes everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`),
/// so a space becomes `%20`, never `+`.
pub fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut encoded = String::with_capacity(text.len() * 3);
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push('%');
            encoded.push(char::from(HEX[usize::from(byte >> 4)]));
            encoded.push(char::from(HEX[usize::from(byte & 0x0F)]));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_responder::{Reply, Responder};

    #[test]
    fn percent_encode_matches_the_contract_example() {
        assert_eq!(
            percent_encode("INSERT INTO trades FORMAT RowBinary"),
            "INSERT%20INTO%20trades%20FORMAT%20RowBinary"
        );
        assert_eq!(percent_encode("a=b&c'é"), "a%3Db%26c%27%C3%A9");
    }

    #[test]
    fn new_rejects_urls_the_harness_cannot_use() {
        for url in [
            "https://db:8123",
            "127.0.0.1:8123",
            "http://",
            "http://db:8123/x",
        ] {
            assert!(
                matches!(HttpClient::new(url), Err(BenchError::Argument { .. })),
                "{url}"
            );
        }
        let client = HttpClient::new("http://127.0.0.1:8123/");
        assert_eq!(
            client.map(|c| c.ping_url).ok().as_deref(),
            Some("http://127.0.0.1:8123/ping")
        );
    }

    #[test]
    fn ping_reuses_one_keep_alive_connection() -> Result<(), BenchError> {
        let requests_count = 500;
        let responder = Responder::start(requests_count, |_| Reply::ok("Ok.\n"));
        let client = HttpClient::new(&responder.base_url())?;
        for _ in 0..requests_count {
            client.ping()?;
        }
        let log = responder.finish();
        assert_eq!(
            log.connections_count, 1,
            "the agent must reuse its connection"
        );
        assert_eq!(log.requests.len(), requests_count);
        assert!(log
            .requests
            .iter()
            .all(|r| r.method == "GET" && r.target == "/ping"));
        Ok(())
    }

    #[test]
    fn ping_rejects_a_body_other_than_ok() -> Result<(), BenchError> {
        let responder = Responder::start(1, |_| Reply::ok("Nope\n"));
        let result = HttpClient::new(&responder.base_url())?.ping();
        let excerpt = match &result {
            Err(BenchError::UnexpectedBody { body_excerpt, .. }) => body_excerpt.as_str(),
            _ => panic!("expected an unexpected-body error, got {result:?}"),
        };
        assert_eq!(excerpt, "Nope");
        Ok(())
    }

    #[test]
    fn query_posts_the_sql_as_body_and_returns_the_text() -> Result<(), BenchError> {
        let responder = Responder::start(2, |_| Reply::ok("42\t1000\n"));
        let client = HttpClient::new(&responder.base_url())?;
        let sql = "SELECT count(*), sum(volume) FROM trades WHERE price > 100 FORMAT TabSeparated";
        assert_eq!(client.query(sql)?, "42\t1000\n");
        assert_eq!(client.query(sql)?, "42\t1000\n");
        let log = responder.finish();
        assert_eq!(log.connections_count, 1);
        assert_eq!(log.requests[0].method, "POST");
        assert_eq!(log.requests[0].target, "/");
        assert_eq!(log.requests[0].body, sql.as_bytes());
        Ok(())
    }

    #[test]
    fn query_error_names_url_status_and_body() -> Result<(), BenchError> {
        let responder = Responder::start(2, |request| {
            if request.body.starts_with(b"SELEC ") {
                Reply {
                    status: 400,
                    body: "Syntax error at 'SELEC'\n",
                }
            } else {
                Reply::ok("1\n")
            }
        });
        let client = HttpClient::new(&responder.base_url())?;
        let Err(error) = client.query("SELEC 1") else {
            panic!("a 400 must be an error");
        };
        let message = error.to_string();
        assert!(
            matches!(error, BenchError::Status { status: 400, .. }),
            "{message}"
        );
        let expected = format!(
            "{}/ answered HTTP 400: Syntax error at 'SELEC'",
            responder.base_url()
        );
        assert_eq!(message, expected);
        // The error body was read to its end, so the connection is still good.
        assert_eq!(client.query("SELECT 1")?, "1\n");
        assert_eq!(responder.finish().connections_count, 1);
        Ok(())
    }

    #[test]
    fn post_insert_sends_the_statement_in_the_query_and_the_rows_as_body() -> Result<(), BenchError>
    {
        let responder = Responder::start(1, |_| Reply::ok(""));
        let client = HttpClient::new(&responder.base_url())?;
        let rows: Vec<u8> = (0..=255).cycle().take(100_000).collect();
        client.post_insert("trades", InsertFormat::RowBinary, &rows)?;
        let log = responder.finish();
        assert_eq!(log.requests[0].method, "POST");
        assert_eq!(
            log.requests[0].target,
            "/?query=INSERT%20INTO%20trades%20FORMAT%20RowBinary"
        );
        assert_eq!(log.requests[0].body, rows);
        Ok(())
    }

    #[test]
    fn refused_connection_is_a_transport_error_naming_the_url() -> Result<(), BenchError> {
        let base_url = Responder::base_url_unused();
        let result = HttpClient::new(&base_url)?.ping();
        let Err(error @ BenchError::Transport { .. }) = result else {
            panic!("expected a transport error, got {result:?}");
        };
        assert!(error
            .to_string()
            .starts_with(&format!("request to {base_url}/ping failed: ")));
        Ok(())
    }
}
