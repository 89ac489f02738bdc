//! `/metrics`: the shards' counters in the Prometheus text format (version 0.0.4), gathered from
//! every shard over the executors' links at scrape time.

use std::fmt::Write;

use quecto_engine::runtime::message::ShardStats;
use quecto_engine::wal::SyncMode;

/// One metric family: name, type, help, and a value per shard.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&ShardStats) -> Option<f64>,
}

const FAMILIES: &[Family] = &[
    Family {
        name: "quecto_tables",
        kind: "gauge",
        help: "Tables on the shard.",
        value: |s| Some(s.tables_count as f64),
    },
    Family {
        name: "quecto_partitions",
        kind: "gauge",
        help: "Partitions (symbols) on the shard.",
        value: |s| Some(s.partitions_count as f64),
    },
    Family {
        name: "quecto_rows",
        kind: "gauge",
        help: "Rows stored on the shard.",
        value: |s| Some(s.rows_count as f64),
    },
    Family {
        name: "quecto_sealed_mapped_bytes",
        kind: "gauge",
        help: "Bytes of column values served in place from mapped segment files.",
        value: |s| Some(s.storage.mapped_size as f64),
    },
    Family {
        name: "quecto_heap_rows",
        kind: "gauge",
        help: "Rows held on the heap (the memtable: not yet sealed into a mapped segment).",
        value: |s| Some(s.storage.heap_rows_count as f64),
    },
    Family {
        name: "quecto_checkpoints_total",
        kind: "counter",
        help: "Checkpoints published since start.",
        value: |s| s.checkpoints.map(|c| c.checkpoints_count as f64),
    },
    Family {
        name: "quecto_checkpoint_failures_total",
        kind: "counter",
        help: "Checkpoints that failed since start (the log kept their rows).",
        value: |s| s.checkpoints.map(|c| c.failures_count as f64),
    },
    Family {
        name: "quecto_checkpoint_last_seconds",
        kind: "gauge",
        help: "Duration of the last checkpoint, from its cut to its segments served mapped.",
        value: |s| s.checkpoints.map(|c| c.duration_ns_last as f64 / 1e9),
    },
    Family {
        name: "quecto_checkpoint_gate_seconds_max",
        kind: "gauge",
        help: "Longest time a checkpoint held writes back (its cut), since start.",
        value: |s| s.checkpoints.map(|c| c.gate_ns_max as f64 / 1e9),
    },
    Family {
        name: "quecto_write_gate_wait_seconds_max",
        kind: "gauge",
        help: "Longest time a write waited for a checkpoint's cut or a mutation, since start.",
        value: |s| s.checkpoints.map(|c| c.write_wait_ns_max as f64 / 1e9),
    },
    Family {
        name: "quecto_checkpoint_concurrent_writes_total",
        kind: "counter",
        help: "Writes applied while a checkpoint was writing its segment files.",
        value: |s| s.checkpoints.map(|c| c.writes_during_count as f64),
    },
    Family {
        name: "quecto_wal_appends_total",
        kind: "counter",
        help: "WAL records appended since start.",
        value: |s| s.wal.map(|(w, _)| w.appends_count as f64),
    },
    Family {
        name: "quecto_wal_written_bytes_total",
        kind: "counter",
        help: "Bytes written to the WAL since start.",
        value: |s| s.wal.map(|(w, _)| w.written_bytes as f64),
    },
    Family {
        name: "quecto_wal_fdatasync_seconds_count",
        kind: "counter",
        help: "WAL durability waits since start: fdatasync calls, and in sync mode O_DSYNC writes.",
        value: |s| s.wal.map(|(w, _)| w.fdatasyncs_count as f64),
    },
    Family {
        name: "quecto_wal_fdatasync_seconds_sum",
        kind: "counter",
        help: "Seconds spent in WAL durability waits (fdatasync, or O_DSYNC writes) since start.",
        value: |s| s.wal.map(|(w, _)| w.fdatasync_ns_total as f64 / 1e9),
    },
    Family {
        name: "quecto_wal_fdatasync_seconds_max",
        kind: "gauge",
        help: "Slowest WAL durability wait (fdatasync, or O_DSYNC write) since start, in seconds.",
        value: |s| s.wal.map(|(w, _)| w.fdatasync_ns_max as f64 / 1e9),
    },
    Family {
        name: "quecto_wal_durable_lsn",
        kind: "gauge",
        help: "Every WAL record up to this LSN is on disk.",
        value: |s| s.wal.map(|(w, _)| w.durable_lsn as f64),
    },
];

/// Renders the shards' stats, one sample per shard per family, plus the WAL mode as labels.
pub fn render(stats: &[ShardStats]) -> String {
    let mut out = String::new();
    for family in FAMILIES {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} {}",
            family.name, family.help, family.name, family.kind
        );
        for shard in stats {
            if let Some(value) = (family.value)(shard) {
                let _ = writeln!(out, "{}{{shard=\"{}\"}} {value}", family.name, shard.shard);
            }
        }
    }
    let _ = writeln!(out, "# HELP quecto_wal_mode The WAL durability mode (1 for the mode in force).\n# TYPE quecto_wal_mode gauge");
    for shard in stats {
        if let Some((_, mode)) = shard.wal {
            let _ = writeln!(
                out,
                "quecto_wal_mode{{shard=\"{}\",mode=\"{}\"}} 1",
                shard.shard,
                mode_name(mode)
            );
        }
    }
    out
}

fn mode_name(mode: SyncMode) -> &'static str {
    match mode {
        SyncMode::Sync => "sync",
        SyncMode::Batch { .. } => "batch",
        SyncMode::Off => "off",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quecto_engine::runtime::message::CheckpointStats;
    use quecto_engine::storage::seal::StorageStats;

    #[test]
    fn renders_every_family_per_shard_in_prometheus_text() {
        let stats = [
            ShardStats {
                shard: 0,
                tables_count: 2,
                rows_count: 10,
                ..ShardStats::default()
            },
            ShardStats {
                shard: 1,
                tables_count: 2,
                rows_count: 7,
                ..ShardStats::default()
            },
        ];
        let text = render(&stats);
        assert!(text.contains("# TYPE quecto_rows gauge\n"));
        assert!(text.contains("quecto_rows{shard=\"0\"} 10\n"));
        assert!(text.contains("quecto_rows{shard=\"1\"} 7\n"));
        // No log, no WAL samples; no checkpoints, no checkpoint samples.
        assert!(!text.contains("quecto_wal_appends_total{"));
        assert!(!text.contains("quecto_checkpoints_total{"));
        assert!(text.contains("quecto_heap_rows{shard=\"0\"} 0\n"));
    }

    #[test]
    fn renders_checkpoint_counters_in_seconds() {
        let stats = [ShardStats {
            shard: 3,
            checkpoints: Some(CheckpointStats {
                checkpoints_count: 4,
                gate_ns_max: 1_500_000,
                ..CheckpointStats::default()
            }),
            storage: StorageStats {
                mapped_size: 4096,
                heap_rows_count: 12,
            },
            ..ShardStats::default()
        }];
        let text = render(&stats);
        assert!(
            text.contains("quecto_checkpoints_total{shard=\"3\"} 4\n"),
            "{text}"
        );
        assert!(text.contains("quecto_checkpoint_gate_seconds_max{shard=\"3\"} 0.0015\n"));
        assert!(text.contains("quecto_sealed_mapped_bytes{shard=\"3\"} 4096\n"));
        assert!(text.contains("quecto_heap_rows{shard=\"3\"} 12\n"));
    }
}
