//! `/metrics`: Prometheus text with every shard's counters; rows add up to what was inserted
//! and the WAL's mode and fdatasync accounting are visible.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use quecto_tests::{metric_samples as sample, ServerProcess};

#[test]
fn metrics_report_rows_and_wal_counters_per_shard() {
    let server = ServerProcess::start(&[]);
    assert_eq!(
        server
            .post_sql("CREATE TABLE t (symbol SYMBOL, ts TIMESTAMP, v INT64)")
            .status,
        200
    );
    let values: Vec<String> = (0..500)
        .map(|i| format!("('S{}', {i}, {i})", i % 37))
        .collect();
    assert_eq!(
        server
            .post_sql(&format!("INSERT INTO t VALUES {}", values.join(",")))
            .status,
        200
    );
    let reply = server.get_path("/metrics");
    assert_eq!(reply.status, 200);
    assert!(reply
        .content_type
        .as_deref()
        .unwrap_or("")
        .starts_with("text/plain; version=0.0.4"));
    let text = reply.text();
    let rows = sample(&text, "quecto_rows");
    assert_eq!(rows.len(), 2, "{text}");
    assert_eq!(rows.iter().sum::<f64>(), 500.0);
    assert_eq!(sample(&text, "quecto_partitions").iter().sum::<f64>(), 37.0);
    assert!(
        sample(&text, "quecto_wal_fdatasync_seconds_count")
            .iter()
            .all(|&n| n >= 1.0),
        "{text}"
    );
    assert_eq!(text.matches("quecto_wal_mode{shard=").count(), 2);
    assert!(text.contains("mode=\"sync\"} 1"), "{text}");
    assert_eq!(server.post_bytes_to("/metrics", b"").status, 405);
}
