#!/usr/bin/env bash
# Durable-write figures: the disk's floor (one 4 KiB O_DIRECT write + fdatasync, and the same
# through the page cache), then in-process ingest with every insert logged to the WAL in sync
# mode (acknowledged after fdatasync) at batch 4096 / 64 / 1 rows x 1 / 8 / 64 writers per
# executor, then the same grid without a WAL for reference. Writers are split feeds (each owns
# its own symbols, so rows reach every partition in time order); the last lines repeat
# batch 4096 with overlapping feeds (every writer writes every symbol on its own clock).
# Everything runs on a temp dir under /tmp (the disk the WAL would use there), removed at the
# end. Prints quecto-bench lines.
# Usage: bash perf/run_durability_benchmarks.sh   (run from the repository root; ~1-4 min on
# 2 cores, most of it building the batches)
set -euo pipefail
cargo build --release -p quecto-perf >/dev/null
bench=target/release/quecto-bench
work=$(mktemp -d /tmp/quecto-durability.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "== fsync floor in $work (O_DIRECT write + fdatasync; buffered write + sync_data)"
$bench fsync --dir "$work" --count 2000 --warmup 100 --block-bytes 4096

# Rows per batch size: bounded so each run takes seconds (batch 1 is one fdatasync per row).
rows_of() {
  case "$1" in
    4096) echo 4000000 ;;
    64) echo 400000 ;;
    1) echo 20000 ;;
  esac
}

echo "== durable ingest: --wal-mode sync (ack after fdatasync), 2 executors"
for batch in 4096 64 1; do
  for writers in 1 8 64; do
    $bench ingest --cores 2 --batch "$batch" --rows "$(rows_of "$batch")" --writers "$writers" \
      --wal-dir "$work/ingest-b$batch-w$writers" --wal-mode sync | grep -v '^machine'
  done
done

echo "== reference: the same ingest without a WAL (memory only)"
for batch in 4096 64 1; do
  for writers in 1 8 64; do
    $bench ingest --cores 2 --batch "$batch" --rows "$(rows_of "$batch")" --writers "$writers" |
      grep -v '^machine'
  done
done

echo "== durable acks of shard-aware writers (--feeds owned: no insert crosses cores), batch 1"
$bench ingest --cores 2 --batch 1 --rows 20000 --feeds owned --wal-dir "$work/owned" \
  --wal-mode sync | grep -v '^machine'

echo "== overlapping feeds (late rows in every partition), batch 4096, memory only"
for writers in 1 8; do
  $bench ingest --cores 2 --batch 4096 --rows 4000000 --writers "$writers" --feeds overlapping |
    grep -v '^machine'
done
