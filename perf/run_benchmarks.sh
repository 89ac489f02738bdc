#!/usr/bin/env bash
# Reproduces the BENCHMARKS.md figures of the foundation: in-process ingest, then a server on
# a free port with 10M sample trades loaded over HTTP by quecto-bench, ping, VWAP (hot and
# median symbol, cold first query and warm), full-table filter. Prints quecto-bench lines.
# Usage: bash perf/run_benchmarks.sh [rows]   (run from the repository root)
set -euo pipefail
rows=${1:-10000000}
cargo build --release -p quecto-ops -p quecto-perf >/dev/null
bench=target/release/quecto-bench

echo "== in-process ingest (engine API, 2 executors)"
$bench ingest --cores 2 --batch 4096 --rows "$rows"
$bench ingest --cores 2 --batch 64 --rows $((rows / 5)) | grep -v '^machine'
$bench ingest --cores 2 --batch 1 --rows $((rows / 50)) | grep -v '^machine'

out=$(mktemp)
target/release/quecto server --port 0 --cores 2 >"$out" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 1 100); do grep -q listening "$out" && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$out")

echo "== over HTTP keep-alive: $url"
$bench insert --url "$url" --rows "$rows" --batch 10000 | grep -v '^machine'
vwap_hot="SELECT vwap(price, volume) FROM trades WHERE symbol = 'S0000'"
vwap_median="SELECT vwap(price, volume) FROM trades WHERE symbol = 'S0500'"
scan="SELECT count(*), sum(volume) FROM trades WHERE price > 100"
echo "-- cold: first run of each query after the load (no chunk memo yet)"
for sql in "$vwap_hot" "$vwap_median" "$scan"; do
  $bench query --url "$url" --sql "$sql" --count 1 --warmup 0 | grep '^query' | sed "s|^|$sql :: |"
done
echo "-- warm"
$bench ping --url "$url" --count 20000 --warmup 2000 | grep '^ping'
for sql in "$vwap_hot" "$vwap_median"; do
  $bench query --url "$url" --sql "$sql" --count 2000 --warmup 200 | grep '^query' | sed "s|^|$sql :: |"
done
$bench query --url "$url" --sql "$scan" --count 200 --warmup 10 | grep '^query' | sed "s|^|$scan :: |"
$bench ping --url "$url" --count 20000 --warmup 2000 | grep '^ping'
