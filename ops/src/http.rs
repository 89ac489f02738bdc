//! The ClickHouse-style HTTP interface: `/ping`, `/health`, `/ready`, `/metrics`, the shard map
//! for shard-aware clients (`/shards`, `/route`), and SQL on `/` (POST body or `?query=`), with
//! `INSERT … FORMAT X` bodies, output formats, limits and typed errors.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use quecto_engine::batch::BatchBuilder;
use quecto_sql::result::{QueryStatistics, ResultSet};
use quecto_sql::statement::{insert_target, plan_sql};
use quecto_sql::QueryError;

use crate::coordinator::Coordinator;
use crate::format::{
    apply_timestamp_style, parse_input, write_output, FormatError, InputFormat, OutputFormat,
    TimestampStyle,
};
use crate::insert_format::{split_format_clause, InsertFormat};

/// Limits applied to every request.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Largest request body, in bytes (413 above it).
    pub body_size_max: usize,
    /// Longest time to receive a body.
    pub body_timeout: Duration,
}

/// What every request of one executor's listeners shares.
#[derive(Clone, Debug)]
pub struct HttpContext {
    /// Request limits.
    pub limits: HttpLimits,
    /// Each shard's own port, in shard order (empty without `--shard-port-base`).
    pub shard_ports: Vec<u16>,
}

/// A request failure: HTTP status, stable code, message.
#[derive(Debug)]
pub struct HttpError {
    status: u16,
    code: &'static str,
    message: String,
}

impl From<QueryError> for HttpError {
    fn from(error: QueryError) -> Self {
        let (code, status) = error.code_and_status();
        HttpError {
            status,
            code,
            message: error.to_string(),
        }
    }
}

impl From<FormatError> for HttpError {
    fn from(error: FormatError) -> Self {
        HttpError {
            status: error.http_status(),
            code: error.code(),
            message: error.to_string(),
        }
    }
}

impl From<quecto_engine::EngineError> for HttpError {
    fn from(error: quecto_engine::EngineError) -> Self {
        QueryError::from(error).into()
    }
}

fn bad_request(code: &'static str, message: String) -> HttpError {
    HttpError {
        status: 400,
        code,
        message,
    }
}

/// Serves one request; never fails (errors become responses).
pub async fn handle(
    request: Request<Incoming>,
    coordinator: Rc<Coordinator>,
    context: Rc<HttpContext>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    match route(request, &coordinator, &context, started).await {
        Ok(response) => response,
        Err(error) => error_response(error),
    }
}

fn error_response(error: HttpError) -> Response<Full<Bytes>> {
    if error.status >= 500 {
        tracing::error!(code = error.code, "{}", error.message);
    }
    let body = format!("Code: {}. DB::Exception: {}\n", error.code, error.message);
    Response::builder()
        .status(StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST))
        .header("Content-Type", "text/plain; charset=UTF-8")
        .header("X-ClickHouse-Exception-Code", error.code)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"internal error\n"))))
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

async fn route(
    request: Request<Incoming>,
    coordinator: &Coordinator,
    context: &HttpContext,
    started: Instant,
) -> Result<Response<Full<Bytes>>, HttpError> {
    let limits = context.limits;
    let path = request.uri().path().to_string();
    let params = query_params(request.uri().query().unwrap_or(""));
    match (request.method(), path.as_str()) {
        (&Method::GET | &Method::HEAD, "/ping") => Ok(text(StatusCode::OK, "Ok.\n")),
        (&Method::GET, "/metrics") => {
            let stats = coordinator.stats().await?;
            let mut response =
                Response::new(Full::new(Bytes::from(crate::metrics::render(&stats))));
            let content_type =
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
            response
                .headers_mut()
                .insert(hyper::header::CONTENT_TYPE, content_type);
            Ok(response)
        }
        (&Method::GET, "/health") => Ok(text(StatusCode::OK, "OK\n")),
        (&Method::GET, "/shards") => Ok(json_response(shard_map(coordinator, context))),
        (&Method::GET, "/route") => Ok(json_response(route_symbol(&params, coordinator, context)?)),
        (&Method::GET, "/ready") => Ok(if coordinator.shards().status().all_ready() {
            text(StatusCode::OK, "Ok.\n")
        } else {
            text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
        }),
        (&Method::GET, "/") => match params.get("query") {
            Some(sql) => run_sql(sql, None, &params, coordinator, true, started).await,
            None => Ok(text(StatusCode::OK, "Ok.\n")),
        },
        (&Method::POST, "/") => {
            let body = read_body(request, limits).await?;
            match params.get("query") {
                Some(sql) => run_sql(sql, Some(body), &params, coordinator, false, started).await,
                None => run_body_sql(body, &params, coordinator, started).await,
            }
        }
        (_, "/" | "/ping" | "/health" | "/ready" | "/metrics" | "/shards" | "/route") => {
            Err(HttpError {
                status: 405,
                code: "METHOD_NOT_ALLOWED",
                message: format!("{} {path}", request.method()),
            })
        }
        _ => Err(HttpError {
            status: 404,
            code: "NOT_FOUND",
            message: format!("no endpoint {path}"),
        }),
    }
}

fn json_response(body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}

/// `GET /shards`: how many shards, which one answered, and each shard's own port (`null`
/// without `--shard-port-base`).
fn shard_map(coordinator: &Coordinator, context: &HttpContext) -> serde_json::Value {
    let shards = coordinator.shards();
    serde_json::json!({
        "shards": shards.count(),
        "shard": shards.index(),
        "shard_ports": (!context.shard_ports.is_empty()).then_some(&context.shard_ports),
    })
}

/// `GET /route?table=T&symbol=S`: the shard that owns `S` in `T` (the symbol is read as the
/// table's symbol column reads it: an integer for INT64/INT32 keys) and its own port.
fn route_symbol(
    params: &HashMap<String, String>,
    coordinator: &Coordinator,
    context: &HttpContext,
) -> Result<serde_json::Value, HttpError> {
    let argument = |name: &str| {
        params
            .get(name)
            .ok_or_else(|| bad_request("BAD_ARGUMENTS", format!("/route needs ?{name}=")))
    };
    let (table, symbol) = (argument("table")?, argument("symbol")?);
    let shard = coordinator.shard_of_symbol(table, symbol)?;
    Ok(serde_json::json!({
        "table": table,
        "symbol": symbol,
        "shard": shard,
        "port": context.shard_ports.get(shard),
    }))
}

fn query_params(query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// Reads the whole body, refusing more than the limit (by Content-Length before reading, and
/// by counting as it streams) and bodies slower than the body timeout.
async fn read_body(request: Request<Incoming>, limits: HttpLimits) -> Result<Bytes, HttpError> {
    let too_large = |size: u64| HttpError {
        status: 413,
        code: "TOO_LARGE_REQUEST",
        message: format!(
            "request body of {size} bytes is over the {}-byte limit",
            limits.body_size_max
        ),
    };
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(size) = declared.filter(|&s| s > limits.body_size_max as u64) {
        return Err(too_large(size));
    }
    let mut body = request.into_body();
    let mut collected = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let deadline = Instant::now() + limits.body_timeout;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let frame = glommio::timer::timeout(remaining, async { Ok(body.frame().await) })
            .await
            .map_err(|_| HttpError {
                status: 408,
                code: "TIMEOUT_EXCEEDED",
                message: format!("request body not received within {:?}", limits.body_timeout),
            })?;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| {
            bad_request("CANNOT_READ_BODY", format!("reading the request body: {e}"))
        })?;
        if let Some(data) = frame.data_ref() {
            if collected.len() + data.len() > limits.body_size_max {
                return Err(too_large((collected.len() + data.len()) as u64));
            }
            collected.extend_from_slice(data);
        }
    }
    Ok(Bytes::from(collected))
}

async fn run_sql(
    sql: &str,
    data: Option<Bytes>,
    params: &HashMap<String, String>,
    coordinator: &Coordinator,
    read_only: bool,
    started: Instant,
) -> Result<Response<Full<Bytes>>, HttpError> {
    if let Some(insert) = InsertFormat::parse(sql) {
        if read_only {
            return Err(read_only_error());
        }
        let inline = &sql.as_bytes()[insert.rest_offset..];
        let payload = match &data {
            Some(body) if inline.is_empty() => &body[..],
            _ => inline,
        };
        insert_formatted(&insert, payload, coordinator).await?;
        return Ok(empty_ok());
    }
    let sql = match &data {
        Some(body) if !body.is_empty() => {
            let tail = std::str::from_utf8(body)
                .map_err(|e| bad_request("SYNTAX_ERROR", format!("body is not UTF-8: {e}")))?;
            format!("{sql} {tail}")
        }
        _ => sql.to_string(),
    };
    let (sql, format_name) = split_format_clause(&sql);
    let format_name = format_name.or_else(|| params.get("default_format").cloned());
    let format = format_name
        .as_deref()
        .map(OutputFormat::parse)
        .transpose()?
        .unwrap_or(OutputFormat::Json);
    let timestamp_style = params
        .get("date_time_output_format")
        .map(|name| TimestampStyle::parse(name))
        .transpose()?
        .unwrap_or_default();
    let plan = plan_sql(sql, coordinator)?;
    if read_only && plan.is_mutating() {
        return Err(read_only_error());
    }
    let Some(mut result) = coordinator.execute(plan).await? else {
        return Ok(empty_ok());
    };
    result.statistics = QueryStatistics {
        elapsed_seconds: started.elapsed().as_secs_f64(),
        ..result.statistics
    };
    apply_timestamp_style(&mut result, timestamp_style);
    Ok(result_response(format, &result))
}

/// SQL in the POST body. `INSERT … FORMAT X` may be followed by its data in the same body;
/// that data may be binary (RowBinary), so only the header line is decoded as text.
async fn run_body_sql(
    body: Bytes,
    params: &HashMap<String, String>,
    coordinator: &Coordinator,
    started: Instant,
) -> Result<Response<Full<Bytes>>, HttpError> {
    let header_end = body
        .iter()
        .take(INSERT_HEADER_SIZE_MAX)
        .position(|&b| b == b'\n')
        .map_or(body.len(), |i| i + 1);
    if let Ok(header) = std::str::from_utf8(&body[..header_end.min(body.len())]) {
        if let Some(insert) = InsertFormat::parse(header) {
            insert_formatted(&insert, &body[insert.rest_offset..], coordinator).await?;
            return Ok(empty_ok());
        }
    }
    let sql = std::str::from_utf8(&body).map_err(|e| {
        bad_request(
            "SYNTAX_ERROR",
            format!("request body is not UTF-8 SQL: {e}"),
        )
    })?;
    run_sql(sql, None, params, coordinator, false, started).await
}

/// Longest `INSERT … FORMAT X` header line searched for in a POST body.
const INSERT_HEADER_SIZE_MAX: usize = 64 * 1024;

fn read_only_error() -> HttpError {
    HttpError {
        status: 405,
        code: "READONLY",
        message: "statements that change data or schema must be sent with POST, not GET".into(),
    }
}

fn empty_ok() -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::new()))
}

fn result_response(format: OutputFormat, result: &ResultSet) -> Response<Full<Bytes>> {
    let mut body = Vec::with_capacity(256 + result.rows.len() * 32);
    write_output(format, result, &mut body);
    Response::builder()
        .header("Content-Type", format.content_type())
        .header("X-ClickHouse-Format", format.name())
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

async fn insert_formatted(
    insert: &InsertFormat,
    data: &[u8],
    coordinator: &Coordinator,
) -> Result<u64, HttpError> {
    let format = InputFormat::parse(&insert.format)?;
    let (schema, fields) = insert_target(&insert.table, &insert.columns, coordinator)?;
    let names: Vec<&str> = fields
        .iter()
        .map(|&i| schema.columns[i].name.as_str())
        .collect();
    let mut builder = BatchBuilder::new(&schema, fields.clone())?;
    parse_input(format, data, &names, &mut builder)?;
    let batch = builder.finish();
    Ok(coordinator.insert(&schema, batch).await?)
}
