"""Two server binaries on the same data, each workload's query sent to them in turn (A, B, A, B).

    PYTHONPATH=../shared/bench perf/.venv/bin/python perf/peers/query_ab.py \
        --a /tmp/quecto-old --b target/release/quecto --workloads w3_filter_full,w4_ohlc_all

This machine's speed drifts by tens of percent over minutes, so two binaries timed one after
the other cannot be compared. Here both servers run at once, each started as the harness starts
ours (QuectoEngine.start, so QUECTO_ARGS applies) and loaded with the harness's 10M trades
(gen.gen_trades, seed 42; quotes too with --quotes) through the plugin's bulk path. For each
workload, after --warmup queries to each, --pairs pairs of queries alternate between A and B on
one client thread, so a slow moment slows both sides of a pair; A goes first in even pairs, B
in odd ones, since the second of a pair starts while the first server's cores are still busy.
Prints each side's median, the ratio B/A and in how many pairs B was the faster; answers are
checked against each other.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import gen
import quecto_plugin


def started(binary: str, trades: dict, quotes: dict | None) -> quecto_plugin.QuectoEngine:
    """A server of `binary` with the trades (and quotes) loaded."""
    os.environ["QUECTO_BIN"] = binary
    engine = quecto_plugin.QuectoEngine()
    engine.start(tempfile.mkdtemp(prefix="query-ab-"))
    tables = [("trades", trades, gen.TRADE_COLS)]
    if quotes is not None:
        tables.append(("quotes", quotes, gen.QUOTE_COLS))
    for table, columns, spec in tables:
        engine.create(table, spec)
        engine.bulk_load(table, columns, spec, None)
    engine.post_load()
    return engine


def same_answer(a: list, b: list) -> bool:
    """Equal rows, floats within the harness's relative 1e-9: partial float sums from the
    shards are added in the order the shards answer, so the last digits may differ."""
    def close(x, y) -> bool:
        if isinstance(x, float) or isinstance(y, float):
            return abs(float(x) - float(y)) <= 1e-9 * max(1.0, abs(float(x)), abs(float(y)))
        return x == y
    return len(a) == len(b) and all(
        len(r) == len(s) and all(close(x, y) for x, y in zip(r, s)) for r, s in zip(a, b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="server binary A (the baseline)")
    parser.add_argument("--b", required=True, help="server binary B")
    parser.add_argument("--workloads", default="w3_filter_full,w3_filter_1m,w4_ohlc_all",
                        help="comma-separated harness workload keys")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--quotes", action="store_true", help="load the quotes too (W6)")
    args = parser.parse_args()
    trades = gen.gen_trades(args.rows)
    quotes = gen.gen_quotes(args.rows) if args.quotes else None
    engines = [started(binary, trades, quotes) for binary in (args.a, args.b)]
    try:
        queries = engines[0].sql(gen.query_params(trades))
        for workload in args.workloads.split(","):
            sql = queries[workload]
            for engine in engines:
                for _ in range(args.warmup):
                    engine.query(sql)
            times: list[list[float]] = [[], []]
            answers = [None, None]
            for pair in range(args.pairs):
                # The side asked second finds the other server's cores still busy for a
                # moment (its executors spin before they park): each side goes first in half
                # of the pairs.
                for side in (0, 1) if pair % 2 == 0 else (1, 0):
                    engine = engines[side]
                    start = time.perf_counter_ns()
                    answers[side] = engine.query(sql)
                    times[side].append((time.perf_counter_ns() - start) / 1e6)
            if not same_answer(answers[0], answers[1]):
                raise SystemExit(f"{workload}: A answered {answers[0]}, B {answers[1]}")
            a, b = (statistics.median(side) for side in times)
            b_faster = sum(1 for x, y in zip(*times) if y < x)
            print(f"{workload}: A p50 {a:.3f} ms  B p50 {b:.3f} ms  B/A {b / a:.3f}  "
                  f"B faster in {b_faster}/{args.pairs} pairs", flush=True)
    finally:
        for engine in engines:
            engine.close()


if __name__ == "__main__":
    main()
