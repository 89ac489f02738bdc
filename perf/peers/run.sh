#!/usr/bin/env bash
# QuectoDB next to the peers (DuckDB, chDB, PostgreSQL) on the shared tick data set.
#
#   perf/peers/run.sh --quick                                 # N = 1M: quecto, duckdb
#   perf/peers/run.sh --rows 10000000 --engines quecto,duckdb,chdb,postgres
#   perf/peers/run.sh --quick --skip-build -- --rt-rows 2000  # after --: run_peers.py flags
#
# Each engine runs in its own run_peers.py process (results/<tag>-<engine>.json, its log in
# results/<tag>-<engine>.log), then `run_peers.py --report` merges them into results/<tag>.json
# and results/<tag>.md, as the harness's README recommends. An engine that fails does not stop
# the others; the script exits 1 at the end if any did.
#
# Set up on first use: perf/.venv with the harness's pinned requirements, postgresql-15 from apt
# when postgres is asked for and missing (root only), and the release server binary.
# Environment: PEERS_DIR (the harness; default ../shared/bench beside the main checkout),
# VENV (default perf/.venv), CARGO_TARGET_DIR, and the plugin's QUECTO_* variables.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/perf/peers"

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

size_args=(--quick)
tag=quick
engines=quecto,duckdb
skip_build=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) size_args=(--quick); tag=quick ;;
        --rows) [ $# -ge 2 ] || usage 2; size_args=(--rows "$2"); tag="n$2"; shift ;;
        --engines) [ $# -ge 2 ] || usage 2; engines="$2"; shift ;;
        --skip-build) skip_build=1 ;;
        -h|--help) usage 0 ;;
        --) shift; break ;;
        *) echo "run.sh: unknown argument $1" >&2; usage 2 ;;
    esac
    shift
done
extra_args=("$@")
IFS=, read -r -a engine_list <<< "$engines"
wants() { [[ ",$engines," == *",$1,"* ]]; }

find_peers_dir() {
    if [ -n "${PEERS_DIR:-}" ]; then echo "$PEERS_DIR"; return; fi
    # In a git worktree the main checkout is the parent of the common .git directory.
    local common
    common=$(git -C "$ROOT" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
    for d in "$ROOT/../shared/bench" ${common:+"$(dirname "$common")/../shared/bench"}; do
        if [ -f "$d/run_peers.py" ]; then (cd "$d" && pwd); return; fi
    done
    echo "run.sh: the harness (run_peers.py) is not in ../shared/bench; set PEERS_DIR" >&2
    exit 2
}
PEERS_DIR=$(find_peers_dir)
VENV=${VENV:-$ROOT/perf/.venv}

if ! "$VENV/bin/python" -c 'import duckdb, chdb, psycopg, pyarrow, numpy' 2>/dev/null; then
    echo "== creating $VENV from $PEERS_DIR/requirements.txt" >&2
    "${PYTHON:-python3}" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet -r "$PEERS_DIR/requirements.txt"
fi

if wants postgres && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "run.sh: postgres needs postgresql-15 (apt-get install postgresql-15 util-linux, as root)" >&2
        exit 2
    fi
    echo "== installing postgresql-15" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql-15 util-linux
fi

if wants quecto; then
    target=${CARGO_TARGET_DIR:-$ROOT/target}
    case "$target" in /*) ;; *) target="$ROOT/$target" ;; esac
    if [ "$skip_build" = 0 ]; then
        echo "== cargo build --release -p quecto-ops --bin quecto" >&2
        (cd "$ROOT" && CARGO_TARGET_DIR="$target" cargo build --release -p quecto-ops --bin quecto)
    fi
    export QUECTO_BIN=${QUECTO_BIN:-$target/release/quecto}
fi

out_dir="$HERE/results"
mkdir -p "$out_dir"
export PYTHONPATH="$PEERS_DIR${PYTHONPATH:+:$PYTHONPATH}"
failed=()
outs=()
for engine in "${engine_list[@]}"; do
    out="$out_dir/$tag-$engine.json"
    log="$out_dir/$tag-$engine.log"
    rm -f "$out"
    echo "== $engine ($tag) -> $out" >&2
    if "$VENV/bin/python" "$PEERS_DIR/run_peers.py" --plugin "$HERE/quecto_plugin.py" \
        "${size_args[@]}" --only "$engine" --out "$out" ${extra_args[@]+"${extra_args[@]}"} \
        2> >(tee "$log" >&2) > /dev/null; then
        :
    else
        failed+=("$engine")
    fi
    [ -f "$out" ] && outs+=("$out")
done

if [ ${#outs[@]} -gt 0 ]; then
    "$VENV/bin/python" "$PEERS_DIR/run_peers.py" --report "${outs[@]}" --out "$out_dir/$tag.json" | tee "$out_dir/$tag.md"
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "run.sh: failed: ${failed[*]} (see $out_dir/$tag-<engine>.log)" >&2
    exit 1
fi
