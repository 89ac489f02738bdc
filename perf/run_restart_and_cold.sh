#!/usr/bin/env bash
# Restart time and first-run ("cold") query latency on the peer data set. Starts the release
# server on a temp data dir, loads 10M trades + 10M quotes (`quecto-bench peers-load`), runs each
# workload's SQL four times (the first run after the load fills the per-chunk aggregate memos),
# kills the server with -9, restarts it (time to the `listening` line: WAL replay + mapped
# segments), runs the queries again, and repeats the restart once more.
# The SQL comes from the harness's last run: perf/peers/results/n10000000-quecto.json
# (`perf/peers/run.sh --rows 10000000` writes it). Needs curl and python3.
# Usage: bash perf/run_restart_and_cold.sh   (from the repository root; ~10 s after the build)
set -euo pipefail
cargo build --release -p quecto-ops -p quecto-perf --bins >/dev/null
results=perf/peers/results/n10000000-quecto.json
queries=$(mktemp)
data=$(mktemp -d /tmp/quecto-restart.XXXXXX)
log=$(mktemp)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$data" "$queries" "$log"' EXIT
python3 -c '
import json, sys
sql = json.load(open(sys.argv[1]))["engines"]["quecto"]["sql"]
for name, text in sql.items():
    print(f"{name}|{text}")
' "$results" >"$queries"

start() {
  local t0 t1
  t0=$(date +%s.%N)
  target/release/quecto server --host 127.0.0.1 --port 0 --data-dir "$data" >"$log" 2>&1 &
  pid=$!
  port=
  for _ in $(seq 1 1000); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | sed 's/.*://' || true)
    [ -n "$port" ] && break
    sleep 0.01
  done
  [ -n "$port" ] || { echo "server did not start:"; cat "$log"; exit 1; }
  t1=$(date +%s.%N)
  echo "ready_s=$(python3 -c "print(round($t1 - $t0, 3))")"
}
query_s() { curl -s -o /dev/null -w '%{time_total}' --data-binary "$1" "http://127.0.0.1:$port/"; }
run_queries() {
  while IFS='|' read -r name sql; do
    echo "$1 $name first=$(query_s "$sql")s then=$(query_s "$sql")s,$(query_s "$sql")s,$(query_s "$sql")s"
  done <"$queries"
}

start
target/release/quecto-bench peers-load --url "http://127.0.0.1:$port" --rows 10000000 | grep -v '^machine'
run_queries after-load
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
start
run_queries after-restart
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
start
kill "$pid"; wait "$pid" 2>/dev/null || true
pid=
