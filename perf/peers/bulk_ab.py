"""W1 bulk ingest through the plugin's bulk path with different connection counts or formats.

    PYTHONPATH=../shared/bench perf/.venv/bin/python perf/peers/bulk_ab.py --connections 1,3,1,3
    PYTHONPATH=../shared/bench perf/.venv/bin/python perf/peers/bulk_ab.py \
        --connections 3 --formats RowBinary,Native,RowBinary,Native

For each (connections, format) entry, the two lists zipped with the shorter one repeated
(alternate the entries: this machine's speed drifts over minutes), a
fresh `quecto server` (QuectoEngine.start, so QUECTO_BIN/QUECTO_ARGS apply), then --reps loads of
the harness's trades (gen.gen_trades, seed 42) into a fresh table each, timed as run_peers.py
times W1 (QuectoEngine.bulk_load), and the row count checked. Prints the seconds of each load and
the median's rows/s.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import gen
import quecto_plugin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--connections", default="1,3,1,3",
                        help="comma-separated connection counts, one fresh server each")
    parser.add_argument("--formats", default="Native",
                        help="comma-separated bulk formats (Native, RowBinary), one fresh server each")
    args = parser.parse_args()
    trades = gen.gen_trades(args.rows)
    counts = [int(k) for k in args.connections.split(",")]
    formats = args.formats.split(",")
    entries = max(len(counts), len(formats))
    for index in range(entries):
        connections = counts[index % len(counts)]
        bulk_format = formats[index % len(formats)]
        engine = quecto_plugin.QuectoEngine()
        engine.bulk_connections = connections
        engine.bulk_format = bulk_format
        engine.start(tempfile.mkdtemp(prefix="quecto-bulk-ab-"))
        try:
            seconds = []
            for _ in range(args.reps):
                engine.create("trades", gen.TRADE_COLS)
                started = time.perf_counter()
                engine.bulk_load("trades", trades, gen.TRADE_COLS, None)
                seconds.append(time.perf_counter() - started)
            count = engine.query("SELECT count() FROM trades")[0][0]
            if count != args.rows:
                raise SystemExit(f"{count} rows loaded, expected {args.rows}")
        finally:
            engine.close()
        median = statistics.median(seconds)
        print(f"connections={connections} format={bulk_format} seconds={' '.join(f'{s:.3f}' for s in seconds)} "
              f"median_rows_per_s={args.rows / median / 1e6:.1f}M", flush=True)


if __name__ == "__main__":
    main()
