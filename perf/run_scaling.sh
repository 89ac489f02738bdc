#!/usr/bin/env bash
# Shard scaling: how throughput and query latency change from 1 to N shards (one pinned
# executor per core). Made for a many-core machine; every run is bounded in rows and time.
#
#   1. in-process ingest (`quecto-bench ingest`, batch 4096, ROWS_PER_CORE rows per executor),
#      memory only and durable (`--wal-mode sync`) with split feeds (each executor's writer owns
#      its own symbols), then memory only with overlapping feeds (every writer writes every
#      symbol on its own clock: the out-of-order stress case);
#   2. a server per shard count with the peer tick data set (QUERY_ROWS trades + quotes) loaded
#      over HTTP (`quecto-bench peers-load`), then the peer workloads' queries (W2, W3 full,
#      W4 all symbols, W5) timed by `quecto-bench query` over one keep-alive connection.
#
# Usage: bash perf/run_scaling.sh            (from the repository root)
# Environment: BIN (directory of quecto and quecto-bench; default target/release),
#   CORES ("1 2 4 8 16"), ROWS_PER_CORE (2000000), QUERY_ROWS (10000000),
#   QUERY_COUNT (30; W4 all symbols runs a third of it), WORK (scratch dir; default mktemp -d).
set -uo pipefail
bin=${BIN:-target/release}
cores_list=${CORES:-"1 2 4 8 16"}
rows_per_core=${ROWS_PER_CORE:-2000000}
query_rows=${QUERY_ROWS:-10000000}
query_count=${QUERY_COUNT:-30}
work=${WORK:-$(mktemp -d)}
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "== machine: $(nproc) cpus,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), kernel $(uname -r), $(date -u +%F)"
echo "== scratch: $work ($(df -h "$work" | awk 'NR == 2 {print $1, $2}'))"

echo "== in-process ingest, batch 4096, ${rows_per_core} rows per executor"
for n in $cores_list; do
  echo "-- cores=$n memory"
  timeout 120 "$bin/quecto-bench" ingest --cores "$n" --batch 4096 --rows $((rows_per_core * n)) |
    grep '^ingest'
  echo "-- cores=$n durable (wal sync)"
  timeout 120 "$bin/quecto-bench" ingest --cores "$n" --batch 4096 --rows $((rows_per_core * n)) \
    --wal-dir "$work/wal-$n" --wal-mode sync | grep '^ingest'
  echo "-- cores=$n memory, overlapping feeds"
  timeout 120 "$bin/quecto-bench" ingest --cores "$n" --batch 4096 --rows $((rows_per_core * n)) \
    --feeds overlapping | grep '^ingest'
done

run_query() { # name sql count
  timeout 120 "$bin/quecto-bench" query --url "$url" --sql "$2" --count "$3" --warmup 3 |
    grep '^query' | sed "s|^|$1 |"
}

echo "== server per shard count, ${query_rows} trades + quotes over HTTP, then queries"
for n in $cores_list; do
  out="$work/server-$n.out"
  "$bin/quecto" server --port 0 --cores "$n" --data-dir "$work/data-$n" >"$out" 2>"$work/server-$n.err" &
  server_pid=$!
  for _ in $(seq 1 200); do grep -q listening "$out" && break; sleep 0.05; done
  url=$(grep -o 'http://[0-9.:]*' "$out")
  echo "-- cores=$n $url"
  params=$(timeout 300 "$bin/quecto-bench" peers-load --url "$url" --rows "$query_rows" | tee /dev/stderr |
    grep '^peers_params')
  get() { echo "$params" | grep -o "$1=[^ ]*" | cut -d= -f2; }
  s=$(get symbol); x=$(get price_threshold); bar=$(get bar_ns)
  run_query w2 "SELECT count(), sum(price * volume) / sum(volume) FROM trades WHERE symbol = $s" "$query_count"
  run_query w3_full "SELECT count(), sum(volume) FROM trades WHERE price > $x" "$query_count"
  run_query w4_all "SELECT count() AS bars, sum(o), sum(h), sum(l), sum(c), sum(v) FROM (SELECT symbol, intDiv(ts, $bar) AS b, argMin(price, ts) AS o, max(price) AS h, min(price) AS l, argMax(price, ts) AS c, sum(volume) AS v FROM trades GROUP BY symbol, b) AS bars" $((query_count / 3 + 1))
  run_query w5 "SELECT symbol, count(), sum(price * volume) / sum(volume) FROM trades GROUP BY symbol ORDER BY symbol" "$query_count"
  kill -9 "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=""
  rm -rf "$work/data-$n"
done
