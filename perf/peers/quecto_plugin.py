"""QuectoDB as an engine of the peer benchmark harness (shared/bench/run_peers.py).

    run_peers.py --plugin perf/peers/quecto_plugin.py --quick --only quecto

(perf/peers/run.sh does this, with the venv, the release build and one process per engine.)

The harness does the timing, repetitions, answer checks and the report; this file only drives
our server: it starts `quecto server` on 127.0.0.1 with port 0 and a data directory inside the
harness's work directory, reads the port from the server's `quecto: listening on
http://HOST:PORT` line, and stops it (SIGTERM, then SIGKILL) in close() and at exit. Everything
else goes over the ClickHouse HTTP interface: Native bulk loads, one
INSERT ... VALUES per row for W1rt, JSONCompact answers.

Environment:
  QUECTO_BIN          the server binary (default: $CARGO_TARGET_DIR or <repo>/target, release/quecto)
  QUECTO_ARGS         extra server flags, e.g. "--cores 2 --wal-mode batch" (default: none, so
                      the server's defaults: every core, WAL fdatasync before each acknowledgement)
  QUECTO_CHUNK_ROWS   rows per bulk request (default 262144)
  QUECTO_BULK_FORMAT  "Native" (default): each bulk request is one ClickHouse Native block,
                      the harness's NumPy columns sent as they are (no client-side copy);
                      "RowBinary": rows interleaved by NumPy first, as the base class does
  QUECTO_BULK_CONNECTIONS  keep-alive connections a bulk load spreads its requests over, one
                      client thread each (default 3; 1 sends them one after another on one
                      connection)
  QUECTO_SQL          "clickhouse" (default): the harness's ClickHouse SQL text as is;
                      "native": our own spellings where we have them (see native_sql)
  QUECTO_HTTP_CLIENT  "lean" (default): requests go through LeanHttpConnection below, a
                      keep-alive HTTP/1.1 client on a plain socket; "http.client": the
                      harness's own client (Python's http.client), as for clickhouse-server
  QUECTO_SHARD_AWARE  "1" (default, with the lean client): the server also listens on one port
                      per shard (--shard-port-base 0) and each single-row INSERT (W1rt) goes to
                      the port of the shard that owns its symbol (asked once per symbol from
                      GET /route), as a shard-aware driver does; "0": every request to the
                      one HTTP port, whichever core accepted the connection

Why Native for a bulk load: the harness holds each column as one NumPy array, and a Native block
is those arrays' bytes behind a few header bytes, so the client sends slices of them as they are
and the server copies each column in one pass. RowBinary would make both sides interleave and
de-interleave every row (measured on the client alone: ~80 ms per 10M trades).

Why several connections for a bulk load: one request of 262,144 rows spends most of its time
waiting on the owning shard's WAL write and fdatasync, so one request at a time leaves the cores
about two thirds idle. Concurrent requests let one shard apply a batch while another batch's WAL
write is in flight. Each request is still durable before it is acknowledged, and the load still
finishes only when every request was acknowledged. Rows of a table may arrive in any order
(out-of-order inserts are supported), so the chunks need no ordering between connections; a
chunk applied before an earlier one waits in its partitions' late runs and is merged in
(measured cost: a few % of the server's CPU during the load).

Why a client of our own: Python's http.client costs ~100-150 us of client CPU per request
(header objects, email-style header parsing), several times the server's own work for a
single-row INSERT. PostgreSQL is driven through libpq (C) in the same harness, so the lean client
is the like-for-like choice. Both clients speak the same HTTP/1.1 to the same server; the
server does the same work either way.
"""
from __future__ import annotations

import atexit
import json
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import threading

import numpy as np
import run_peers

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LISTENING = re.compile(r"^quecto: listening on http://(?P<host>[^\s:]+):(?P<port>\d+)")
SERVER_START_S = 60.0
SERVER_STOP_S = 30.0
OUR_TYPES = {"symbol": "INT64", "ts": "TIMESTAMP"}
SQL_TYPES = {"int64": "INT64", "float64": "FLOAT64"}


def quecto_binary() -> str:
    """QUECTO_BIN, else the release binary in the cargo target directory."""
    explicit = os.environ.get("QUECTO_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO_ROOT, "target")
    if not os.path.isabs(target):
        target = os.path.join(REPO_ROOT, target)
    path = os.path.join(target, "release", "quecto")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"no quecto binary at {path}: run `cargo build --release -p quecto-ops "
                           f"--bin quecto` or set QUECTO_BIN")
    return path


def columns_sql(spec) -> str:
    """`(symbol INT64, ts TIMESTAMP, price FLOAT64, ...)` for a harness column spec."""
    return "(" + ", ".join(f"{n} {OUR_TYPES.get(n, SQL_TYPES[d])}" for n, d in spec) + ")"


def native_sql(p: dict) -> dict:
    """Our own spellings of workloads whose ClickHouse text we run slower or not at all."""
    s, bar = p["symbol"], p["bar_ns"]

    def ohlc(where):
        return (f"SELECT count() AS bars, sum(o), sum(h), sum(l), sum(c), sum(v) FROM ("
                f"SELECT symbol, intDiv(ts, {bar}) AS b, first(price) AS o, max(price) AS h, "
                f"min(price) AS l, last(price) AS c, sum(volume) AS v FROM trades{where} "
                f"GROUP BY symbol, b) AS bars")

    return {
        "w2_vwap_symbol": f"SELECT count(), vwap(price, volume) FROM trades WHERE symbol = {s}",
        "w4_ohlc_symbol": ohlc(f" WHERE symbol = {s}"),
        "w4_ohlc_all": ohlc(""),
        "w5_vwap_by_symbol": ("SELECT symbol, count(), vwap(price, volume) FROM trades "
                              "GROUP BY symbol ORDER BY symbol"),
    }



class LeanHttpConnection:
    """One keep-alive HTTP/1.1 connection on a plain socket: POST with a Content-Length body,
    answers read by their Content-Length (the server always sends one). Reconnects once when
    the server closed the connection between requests."""

    def __init__(self, host: str, port: int, timeout: float = 600.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = None
        self.pending = b""

    def _connect(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """(status, body) of one POST; raises OSError/ConnectionError on a broken connection.
        `body` is bytes or a list of bytes-like parts sent one after another."""
        return self.request("POST", path, body)

    def get(self, path: str) -> tuple[int, bytes]:
        """(status, body) of one GET."""
        return self.request("GET", path, b"")

    def request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        """(status, body) of one request; reconnects once if the connection was closed."""
        for attempt in (0, 1):
            try:
                if self.sock is None:
                    self._connect()
                parts = body if isinstance(body, list) else [body]
                length = sum(memoryview(part).nbytes for part in parts)
                head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                        f"Content-Length: {length}\r\n\r\n").encode()
                if length < 16384:
                    self.sock.sendall(head + b"".join(parts))
                else:
                    self.sock.sendall(head)
                    for part in parts:
                        self.sock.sendall(part)
                return self._read_response()
            except (ConnectionError, OSError):
                self.close()
                if attempt:
                    raise
        raise ConnectionError("unreachable")

    def _read_response(self) -> tuple[int, bytes]:
        buf = self.pending
        while (end := buf.find(b"\r\n\r\n")) < 0:
            buf += self._recv()
        lines = buf[:end].split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise ConnectionError(f"answer without Content-Length: {lines[0]!r}")
        start = end + 4
        while len(buf) < start + length:
            buf += self._recv()
        self.pending = buf[start + length:]
        return status, buf[start:start + length]

    def _recv(self) -> bytes:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("server closed the connection")
        return data


def _varuint(value: int) -> bytes:
    """ClickHouse's VarUInt (unsigned LEB128)."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


NATIVE_TYPES = {"int64": "Int64", "float64": "Float64"}


def _native_block(cols, spec, lo, hi) -> list:
    """Rows lo..hi as one Native block: per column its name, type and the NumPy slice's own
    bytes (little-endian, contiguous), so nothing is copied on this side."""
    parts = [_varuint(len(spec)) + _varuint(hi - lo)]
    for name, dtype in spec:
        values = np.ascontiguousarray(cols[name][lo:hi], dtype="<i8" if dtype == "int64" else "<f8")
        header = b"".join(_varuint(len(t)) + t for t in (name.encode(), NATIVE_TYPES[dtype].encode()))
        parts += [header, memoryview(values).cast("B")]
    return parts


def _row_binary(cols, spec, lo, hi) -> list:
    """Rows lo..hi as RowBinary: the columns interleaved into one NumPy record array."""
    rows = np.empty(hi - lo, np.dtype([(n, "<i8" if d == "int64" else "<f8") for n, d in spec]))
    for name, _ in spec:
        rows[name] = cols[name][lo:hi]
    return [memoryview(rows).cast("B")]


def _compact_rows(document: bytes) -> list:
    """The rows of a JSONCompact answer as tuples: numbers as int or float (64-bit integers
    arrive quoted, as ClickHouse's JSON writes them, and are converted by the column's type),
    NULL as None, text as str. One json.loads in C: W5's 1,000-row answer costs ~0.5 ms of client
    CPU where parsing TabSeparated field by field in Python cost ~3 ms."""
    parsed = json.loads(document)
    integers = [index for index, column in enumerate(parsed["meta"])
                if column["type"].removeprefix("Nullable(").startswith(("Int", "UInt"))]
    rows = parsed["data"]
    for row in rows:
        for index in integers:
            if isinstance(row[index], str):
                row[index] = int(row[index])
    return [tuple(row) for row in rows]


class QuectoEngine(run_peers.ClickHouseHTTPEngine):
    """`quecto server` started here on 127.0.0.1, stopped at exit."""
    name, dialect, timing = "quecto", "clickhouse", "client"
    chunk_rows = int(os.environ.get("QUECTO_CHUNK_ROWS", str(1 << 18)))
    bulk_connections = int(os.environ.get("QUECTO_BULK_CONNECTIONS", "3"))
    bulk_format = os.environ.get("QUECTO_BULK_FORMAT", "Native")
    unsupported: dict = {}

    def __init__(self):
        super().__init__(None)
        self.proc = None
        self.lean = None
        self.shard_aware = False
        self.shard_links = {}     # shard port -> LeanHttpConnection
        self.owner_port = {}      # (table, symbol) -> shard port

    def start(self, workdir):
        self.bin = quecto_binary()
        self.args = ["server", "--host", "127.0.0.1", "--port", "0",
                     "--data-dir", os.path.join(workdir, "quecto-data")]
        client = os.environ.get("QUECTO_HTTP_CLIENT", "lean")
        self.shard_aware = client == "lean" and os.environ.get("QUECTO_SHARD_AWARE", "1") == "1"
        if self.shard_aware:
            self.args += ["--shard-port-base", "0"]
        self.args += shlex.split(os.environ.get("QUECTO_ARGS", ""))
        self.stderr_path = os.path.join(workdir, "quecto.stderr.log")
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([self.bin] + self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.stderr,
                                     start_new_session=True)
        atexit.register(self.close)
        host, port = self._wait_listening()
        self._connect(f"http://{host}:{port}")
        if client == "lean":
            self.lean = LeanHttpConnection(host, port)
        elif client != "http.client":
            raise ValueError(f"QUECTO_HTTP_CLIENT={client!r}: expected lean or http.client")

    def _post(self, sql, body=None):
        """As the base class (SQL in the body, or in ?query= with a data body), through the lean
        client unless QUECTO_HTTP_CLIENT=http.client."""
        if self.lean is None:
            return super()._post(sql, body)
        import urllib.parse
        path = "/?" + urllib.parse.urlencode({"query": sql}) if body is not None else "/"
        status, data = self.lean.post(path, body if body is not None else sql.encode())
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {data[:500].decode(errors='replace')}")
        return data

    def _wait_listening(self):
        """The (host, port) of the listening line; stdout keeps being drained afterwards so
        the server never blocks on a full pipe."""
        lines: queue.Queue = queue.Queue()

        def drain(stream):
            for raw in stream:
                lines.put(raw.decode(errors="replace").rstrip("\n"))
            lines.put(None)

        threading.Thread(target=drain, args=(self.proc.stdout,), daemon=True).start()
        seen = []
        while True:
            try:
                line = lines.get(timeout=SERVER_START_S)
            except queue.Empty:
                line = None
            if line is None:
                self.close()
                raise RuntimeError(f"quecto {' '.join(self.args)} did not start; stdout {seen}; "
                                   f"stderr tail: {self._stderr_tail()}")
            m = LISTENING.match(line)
            if m:
                return m.group("host"), int(m.group("port"))
            seen.append(line)

    def _stderr_tail(self, size=2000) -> str:
        try:
            with open(self.stderr_path, "rb") as fh:
                return fh.read()[-size:].decode(errors="replace")
        except OSError:
            return "?"

    def version(self):
        out = subprocess.run([self.bin, "--version"], capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def settings(self):
        return {"server_args": " ".join(self.args),
                "endpoint": f"http://{self.http_host}:{self.http_port}",
                "storage": "shards per core, data dir in temp dir, server on 127.0.0.1",
                "bulk_path": f"POST INSERT ... FORMAT {self.bulk_format}, {self.chunk_rows} rows per"
                             " request"
                             f" over {max(1, self.bulk_connections)} connection(s)",
                "sql": os.environ.get("QUECTO_SQL", "clickhouse"),
                "http_client": os.environ.get("QUECTO_HTTP_CLIENT", "lean"),
                "w1rt_shard_aware": self.shard_aware}

    def bulk_load(self, table, cols, spec, arrow_tbl):
        """Chunks of `chunk_rows` rows in `bulk_format` over `bulk_connections` keep-alive
        connections, each fed by its own thread taking the next chunk; returns when every chunk
        was acknowledged, raises the first failure."""
        if self.lean is None:
            return super().bulk_load(table, cols, spec, arrow_tbl)
        encode = {"native": _native_block, "rowbinary": _row_binary}.get(self.bulk_format.lower())
        if encode is None:
            raise ValueError(f"QUECTO_BULK_FORMAT={self.bulk_format!r}: expected Native or RowBinary")
        n = len(cols[spec[0][0]])
        starts = iter(range(0, n, self.chunk_rows))
        take = threading.Lock()
        failures = []

        def sender():
            link = LeanHttpConnection(self.http_host, self.http_port)
            path = f"/?query=INSERT%20INTO%20{table}%20FORMAT%20{self.bulk_format}"
            try:
                while not failures:
                    with take:
                        lo = next(starts, None)
                    if lo is None:
                        return
                    body = encode(cols, spec, lo, min(n, lo + self.chunk_rows))
                    status, data = link.post(path, body)
                    if status != 200:
                        raise RuntimeError(f"HTTP {status}: {data[:500].decode(errors='replace')}")
            except Exception as e:  # handed to the harness's thread below
                failures.append(e)
            finally:
                link.close()

        threads = [threading.Thread(target=sender) for _ in range(max(1, self.bulk_connections))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            raise failures[0]

    def create(self, table, spec):
        self._post(f"DROP TABLE IF EXISTS {table}")
        self._post(f"CREATE TABLE {table} {columns_sql(spec)}")

    def post_load(self):
        return {"steps": "none"}

    def sql(self, params):
        q = run_peers.queries("clickhouse", params)
        style = os.environ.get("QUECTO_SQL", "clickhouse")
        if style == "native":
            q.update(native_sql(params))
        elif style != "clickhouse":
            raise ValueError(f"QUECTO_SQL={style!r}: expected clickhouse or native")
        return q

    def rt_insert(self, row):
        """One INSERT ... VALUES, sent to the owning shard's port when shard-aware."""
        sql = f"INSERT INTO trades_rt VALUES ({row[0]}, {row[1]}, {row[2]!r}, {row[3]})"
        if not self.shard_aware:
            self._post(sql)
            return
        port = self.owner_port.get(row[0])
        if port is None:
            status, data = self.lean.get(f"/route?table=trades_rt&symbol={row[0]}")
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {data[:500].decode(errors='replace')}")
            port = json.loads(data)["port"]
            self.owner_port[row[0]] = port
        link = self.shard_links.get(port)
        if link is None:
            link = self.shard_links[port] = LeanHttpConnection(self.http_host, port)
        status, data = link.post("/", sql.encode())
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {data[:500].decode(errors='replace')}")

    def query(self, sql):
        return _compact_rows(self._post(sql + " FORMAT JSONCompact"))

    def server_pids(self):
        return (self.proc.pid,) if self.proc is not None else ()

    def close(self):
        super().close()
        if self.lean is not None:
            self.lean.close()
        for link in self.shard_links.values():
            link.close()
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(SERVER_STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.stderr.close()


ENGINES = {"quecto": QuectoEngine}
