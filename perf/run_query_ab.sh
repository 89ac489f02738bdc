#!/usr/bin/env bash
# Server binaries side by side on the peer data set: for each binary given (in the order given;
# alternate them, e.g. OLD NEW OLD NEW, since this machine's speed drifts between minutes), a
# fresh server on a temp data dir, 10M trades + 10M quotes (`quecto-bench peers-load`), 8 s
# idle (the load's checkpoint), then `quecto-bench query` for W3 full table, W3 first 1M rows
# and W7, each followed by the server's CPU time per query (utime+stime of the whole process
# from /proc/PID/stat, idle spinning included).
# Usage: bash perf/run_query_ab.sh OLD_BIN NEW_BIN [...]   (from the repository root)
# Environment: ROWS (default 10000000), COUNT (measured queries, default 1000).
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,10p "$0" | sed 's/^# \{0,1\}//'; exit 2; }
cargo build --quiet --release -p quecto-perf --bin quecto-bench
bench=target/release/quecto-bench
rows=${ROWS:-10000000}
count=${COUNT:-1000}
data=
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -n "$data" ] && rm -rf "$data"' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

measure() {
  local name=$1 sql=$2 before after line
  before=$(cpu_ticks)
  line=$("$bench" query --url "$url" --sql "$sql FORMAT TabSeparated" --count "$count" | grep '^query')
  after=$(cpu_ticks)
  echo "$name ${line#query  } cpu_per_query_ms=$(python3 -c "
print(round(($after - $before) * 1000 / $(getconf CLK_TCK) / ($count + 100), 3))")"
}

for bin in "$@"; do
  data=$(mktemp -d /tmp/quecto-ab.XXXXXX)
  "$bin" server --host 127.0.0.1 --port 0 --data-dir "$data/db" >"$data/out" 2>"$data/err" &
  pid=$!
  url=
  for _ in $(seq 1 1000); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$data/out" | head -1 || true)
    [ -n "$url" ] && break
    sleep 0.01
  done
  [ -n "$url" ] || { echo "$bin did not start:"; cat "$data/err"; exit 1; }
  "$bench" peers-load --url "$url" --rows "$rows" >"$data/load"
  params=$(grep '^peers_params' "$data/load")
  param() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$params"; }
  x=$(param price_threshold)
  sleep 8
  echo "== $bin ($(git rev-parse --short HEAD 2>/dev/null || echo ?) tree; $(date -u +%H:%M:%S) UTC)"
  measure w3_full "SELECT count(), sum(volume) FROM trades WHERE price > $x"
  measure w3_first_1m "SELECT count(), sum(volume) FROM trades WHERE ts < $(param w3_ts_to) AND price > $x"
  measure w7 "SELECT count(), sum(volume) FROM trades WHERE ts >= $(param w7_ts_from)"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
  rm -rf "$data"
  data=
done
