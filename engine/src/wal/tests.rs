//! End-to-end tests of the WAL: write with the real writer (glommio, O_DIRECT), damage the
//! files the ways a crash or a bad disk would, and check what recovery returns and cuts.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use glommio::LocalExecutorBuilder;

use super::record::{parse_record, RecordParse};
use super::segment::{
    parse_segment_file_name, parse_spare_file_name, WAL_BLOCK_SIZE, WAL_SEGMENT_SIZE_MIN,
};
use super::writer::FaultPoint;
use super::*;
use crate::batch::{BatchColumn, ColumnValues, RowBatch, StringColumn};
use crate::ring::{HashRing, RingLayout};

const SHARD_INDEX: u32 = 3;
/// Shards in the ring the tests' logs are written under (`SHARD_INDEX` is one of them).
const SHARDS_COUNT: usize = 4;

/// The ring of `shards_count` local shards.
fn ring_of(shards_count: usize) -> RingLayout {
    HashRing::local(shards_count)
        .expect("a valid ring")
        .layout()
}

/// A unique directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("quecto-wal-{name}-{}-{unique}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    fn path(&self) -> PathBuf {
        self.0.clone()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_local<G, F, T>(make: G) -> T
where
    G: FnOnce() -> F + Send + 'static,
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(make)
        .expect("executor starts")
        .join()
        .expect("executor runs")
}

fn small_config(sync_mode: SyncMode) -> WalConfig {
    WalConfig {
        segment_size_bytes: WAL_SEGMENT_SIZE_MIN,
        sync_mode,
        ..WalConfig::default()
    }
}

/// The record logged as LSN `lsn` in these tests: mostly inserts of 1–3 rows, some others.
fn entry_for(lsn: Lsn) -> (RecordKind, WalEntry) {
    if lsn.is_multiple_of(7) {
        return (
            RecordKind::Checkpoint,
            WalEntry::Checkpoint {
                covered_lsn: lsn / 2,
            },
        );
    }
    if lsn.is_multiple_of(11) {
        return (
            RecordKind::DropTable,
            WalEntry::DropTable {
                table: format!("t{lsn}"),
                if_exists: lsn.is_multiple_of(2),
            },
        );
    }
    let rows_count = (lsn % 3 + 1) as usize;
    let mut symbols = StringColumn::default();
    (0..rows_count).for_each(|row| symbols.push(&format!("SYM{lsn}-{row}")));
    let batch = RowBatch {
        columns: vec![
            BatchColumn {
                values: ColumnValues::Symbol(symbols),
                nulls: None,
            },
            BatchColumn {
                values: ColumnValues::Timestamp(vec![lsn as i64; rows_count]),
                nulls: None,
            },
            BatchColumn {
                values: ColumnValues::Float64(vec![lsn as f64 / 3.0; rows_count]),
                nulls: Some((0..rows_count).map(|row| row == 1).collect()),
            },
        ],
        rows_count,
    };
    (
        RecordKind::InsertBatch,
        WalEntry::InsertBatch {
            table: "trades".into(),
            batch,
        },
    )
}

fn payload_for(lsn: Lsn) -> (RecordKind, Vec<u8>) {
    let (kind, entry) = entry_for(lsn);
    let mut out = Vec::new();
    match &entry {
        WalEntry::InsertBatch { table, batch } => encode_insert_batch(&mut out, table, batch, None),
        WalEntry::DropTable { table, if_exists } => encode_drop_table(&mut out, table, *if_exists),
        WalEntry::SetTtl { table, ttl_seconds } => encode_set_ttl(&mut out, table, *ttl_seconds),
        WalEntry::Mutation(mutation) => encode_mutation(&mut out, mutation),
        WalEntry::Checkpoint { covered_lsn } => {
            encode_checkpoint(&mut out, *covered_lsn);
            Ok(())
        }
        WalEntry::CreateTable {
            schema,
            if_not_exists,
        } => encode_create_table(&mut out, schema, *if_not_exists),
    }
    .expect("test entries encode");
    (kind, out)
}

/// Appends `count` records (payload chosen by LSN), committing every `commit_every`.
async fn append_many(wal: &Rc<Wal>, count: u64, commit_every: u64) {
    for index in 0..count {
        let lsn_expected = wal.stats().next_lsn;
        let (kind, payload) = payload_for(lsn_expected);
        let lsn = wal.append(kind, &payload).expect("append");
        assert_eq!(lsn, lsn_expected);
        if (index + 1) % commit_every == 0 || index + 1 == count {
            wal.commit(lsn).await.expect("commit");
        }
    }
}

fn recover_all(dir: &Path, after_lsn: Lsn) -> Result<(Vec<RecoveredRecord>, Recovered), WalError> {
    let mut records = Vec::new();
    let recovered = recover(
        dir,
        SHARD_INDEX,
        ring_of(SHARDS_COUNT),
        after_lsn,
        |record| {
            records.push(record);
            Ok::<(), WalError>(())
        },
    )?;
    Ok((records, recovered))
}

/// Checks records are exactly LSNs `first..first + count` with the payloads `entry_for` makes.
fn assert_records(records: &[RecoveredRecord], first_lsn: Lsn, count: u64) {
    assert_eq!(records.len() as u64, count, "record count");
    for (index, record) in records.iter().enumerate() {
        let lsn = first_lsn + index as u64;
        let (kind, entry) = entry_for(lsn);
        assert_eq!((record.lsn, record.kind), (lsn, kind));
        assert_eq!(record.entry, entry, "payload of lsn {lsn}");
    }
}

/// Writes a fresh log of `count` records into `dir` and closes it.
fn write_log(dir: &Path, config: WalConfig, count: u64, commit_every: u64) -> WalStats {
    let dir = dir.to_path_buf();
    run_local(move || async move {
        let (records, recovered) = recover_all(&dir, 0).expect("recover empty");
        assert!(records.is_empty());
        let wal = Wal::open(recovered, config).await.expect("open");
        append_many(&wal, count, commit_every).await;
        wal.close().await.expect("close");
        wal.wait_spare_idle().await;
        wal.stats()
    })
}

/// Reopens the log in `dir` after recovery, appends `count` more records, closes it.
fn append_after_recovery(dir: &Path, count: u64) -> Lsn {
    let dir = dir.to_path_buf();
    run_local(move || async move {
        let (_, recovered) = recover_all(&dir, 0).expect("recover");
        let first_new_lsn = recovered.next_lsn;
        let wal = Wal::open(recovered, small_config(SyncMode::Sync))
            .await
            .expect("open");
        append_many(&wal, count, 4).await;
        wal.close().await.expect("close");
        wal.wait_spare_idle().await;
        first_new_lsn
    })
}

/// The segment files of the test shard, oldest first, with their bytes.
fn read_segments(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut segments: Vec<(Lsn, PathBuf)> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let lsn = parse_segment_file_name(SHARD_INDEX, path.file_name()?.to_str()?)?;
            Some((lsn, path))
        })
        .collect();
    segments.sort();
    segments
        .into_iter()
        .map(|(_, path)| (path.clone(), std::fs::read(&path).expect("read segment")))
        .collect()
}

/// (start, end incl. padding) of every record of an undamaged segment image.
fn record_spans(image: &[u8], first_lsn: Lsn) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut offset = WAL_SEGMENT_HEADER_SIZE;
    while let RecordParse::Record { size, .. } =
        parse_record(&image[offset..], first_lsn + spans.len() as u64)
    {
        spans.push((offset, offset + size));
        offset += size;
    }
    spans
}

/// What recovery must find after damage, derived from the undamaged log.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    records_count: u64,
    /// (segment index, offset) of the cut, when one must be reported.
    cut: Option<(usize, usize)>,
    discarded_count: usize,
}

/// Recovery must return every record before the first damaged byte, in LSN order, and
/// nothing after it; it reports a cut when non-zero bytes follow that point in its segment.
fn expected_after_damage(original: &[(PathBuf, Vec<u8>)], damaged: &[Vec<u8>]) -> Expected {
    let mut records_count = 0u64;
    for (segment_index, ((_, image), damaged_image)) in original.iter().zip(damaged).enumerate() {
        let spans = record_spans(image, records_count + 1);
        let Some(change) = image.iter().zip(damaged_image).position(|(a, b)| a != b) else {
            records_count += spans.len() as u64;
            continue;
        };
        assert!(
            change >= WAL_SEGMENT_HEADER_SIZE,
            "tests damage records, not headers"
        );
        let intact_count = spans.iter().take_while(|(_, end)| *end <= change).count();
        let stop = spans[..intact_count]
            .last()
            .map_or(WAL_SEGMENT_HEADER_SIZE, |(_, end)| *end);
        let cut = damaged_image[stop..]
            .iter()
            .any(|b| *b != 0)
            .then_some((segment_index, stop));
        return Expected {
            records_count: records_count + intact_count as u64,
            cut,
            discarded_count: original.len() - 1 - segment_index,
        };
    }
    Expected {
        records_count,
        cut: None,
        discarded_count: 0,
    }
}

/// Writes `damaged` (the last file cut to `last_size` bytes when given) into `dir`, recovers,
/// and checks the outcome against `expected_after_damage`.
fn check_recovery_after_damage(
    dir: &Path,
    original: &[(PathBuf, Vec<u8>)],
    damaged: &[Vec<u8>],
    last_size: Option<usize>,
) -> Recovered {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        std::fs::remove_file(entry.expect("entry").path()).expect("clean dir");
    }
    for (index, ((path, _), image)) in original.iter().zip(damaged).enumerate() {
        let size = if index + 1 == original.len() {
            last_size.unwrap_or(image.len())
        } else {
            image.len()
        };
        let name = path.file_name().expect("segment name");
        std::fs::write(dir.join(name), &image[..size]).expect("write damaged segment");
    }
    let expected = expected_after_damage(original, damaged);
    let (records, recovered) = recover_all(dir, 0).expect("recovery succeeds despite damage");
    assert_records(&records, 1, expected.records_count);
    assert_eq!(recovered.next_lsn, expected.records_count + 1);
    let report = &recovered.report;
    let cut = report.cut.as_ref().map(|cut| {
        let index = original
            .iter()
            .position(|(p, _)| p.file_name() == cut.path.file_name())
            .expect("known file");
        (index, cut.offset as usize)
    });
    assert_eq!(cut, expected.cut, "cut of {expected:?}: {report:?}");
    assert_eq!(report.discarded_segments.len(), expected.discarded_count);
    recovered
}

#[test]
fn append_commit_recover_round_trips_across_segment_rolls() {
    let dir = TempDir::new("roundtrip");
    let stats = write_log(&dir.path(), small_config(SyncMode::Sync), 400, 25);
    assert_eq!((stats.next_lsn, stats.durable_lsn), (401, 400));
    assert!(stats.segments_rolled_count >= 4, "{stats:?}");
    let (records, recovered) = recover_all(&dir.path(), 0).expect("recover");
    assert_records(&records, 1, 400);
    assert_eq!(recovered.next_lsn, 401);
    assert_eq!(recovered.report.cut, None);
    assert_eq!(
        recovered.report.segments_count as u64,
        stats.segments_rolled_count
    );
    // Every segment and spare is exactly the configured size: pre-allocated, never grown.
    for entry in std::fs::read_dir(dir.path()).expect("read dir") {
        let entry = entry.expect("entry");
        assert_eq!(
            entry.metadata().expect("stat").len(),
            WAL_SEGMENT_SIZE_MIN,
            "{:?}",
            entry.path()
        );
    }
}

#[test]
fn recovered_wal_continues_with_the_next_lsn_and_survives_another_recovery() {
    let dir = TempDir::new("continue");
    write_log(&dir.path(), small_config(SyncMode::Sync), 30, 5);
    let first_new_lsn = append_after_recovery(&dir.path(), 300);
    assert_eq!(first_new_lsn, 31);
    let (records, recovered) = recover_all(&dir.path(), 0).expect("recover");
    assert_records(&records, 1, 330);
    assert_eq!(recovered.report.cut, None);
    // Replay starts after the caller's checkpoint.
    let (records, _) = recover_all(&dir.path(), 100).expect("recover after checkpoint");
    assert_records(&records, 101, 230);
}

#[test]
fn group_commit_shares_one_fdatasync_among_concurrent_appends() {
    let dir = TempDir::new("group");
    let path = dir.path();
    let (stats, lsns) = run_local(move || async move {
        let (_, recovered) = recover_all(&path, 0).expect("recover");
        let wal = Wal::open(recovered, small_config(SyncMode::Sync))
            .await
            .expect("open");
        let before = wal.stats().fdatasyncs_count;
        let tasks: Vec<_> = (0..32u64)
            .map(|_| {
                let wal = Rc::clone(&wal);
                glommio::spawn_local(async move {
                    let (kind, payload) = payload_for(wal.stats().next_lsn);
                    wal.append_durable(kind, &payload)
                        .await
                        .expect("durable append")
                })
            })
            .collect();
        let mut lsns = Vec::new();
        for task in tasks {
            lsns.push(task.await);
        }
        let mut stats = wal.stats();
        stats.fdatasyncs_count -= before;
        wal.close().await.expect("close");
        wal.wait_spare_idle().await;
        (stats, lsns)
    });
    assert_eq!(lsns, (1..=32).collect::<Vec<_>>());
    assert_eq!(stats.durable_lsn, 32);
    assert!(
        stats.fdatasyncs_count <= 4,
        "32 commits took {} fdatasyncs",
        stats.fdatasyncs_count
    );
    let (records, _) = recover_all(&dir.path(), 0).expect("recover");
    assert_records(&records, 1, 32);
}

#[test]
fn torn_tail_at_every_offset_recovers_exactly_the_records_written_before_it() {
    let dir = TempDir::new("torn-source");
    write_log(&dir.path(), small_config(SyncMode::Sync), 40, 3);
    let original = read_segments(&dir.path());
    let (last_path, last_image) = original.last().expect("a segment");
    let first_lsn = parse_segment_file_name(
        SHARD_INDEX,
        &last_path.file_name().expect("name").to_string_lossy(),
    )
    .expect("segment name");
    let spans = record_spans(last_image, first_lsn);
    assert!(spans.len() >= 3, "the last segment holds a few records");
    // Every byte offset from the third-to-last record's start to just past the last record.
    let (from, to) = (spans[spans.len() - 3].0, spans[spans.len() - 1].1 + 8);
    let work = TempDir::new("torn");
    for size in from..=to {
        let mut damaged: Vec<Vec<u8>> = original.iter().map(|(_, image)| image.clone()).collect();
        damaged.last_mut().expect("a segment")[size..].fill(0);
        check_recovery_after_damage(&work.path(), &original, &damaged, Some(size));
        if size.is_multiple_of(41) {
            // The repaired log takes appends that survive the next recovery.
            let first_new_lsn = append_after_recovery(&work.path(), 5);
            let (records, recovered) = recover_all(&work.path(), 0).expect("recover again");
            assert_records(&records, 1, first_new_lsn + 4);
            assert_eq!(recovered.report.cut, None);
        }
    }
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % bound
    }
}

#[test]
fn flipped_bytes_in_the_tail_stop_recovery_at_the_corrupt_record() {
    let dir = TempDir::new("flip-source");
    write_log(&dir.path(), small_config(SyncMode::Sync), 60, 4);
    let original = read_segments(&dir.path());
    let last_image = &original.last().expect("a segment").1;
    let end = last_image.iter().rposition(|b| *b != 0).expect("records") + 1;
    let from = WAL_SEGMENT_HEADER_SIZE.max(end.saturating_sub(600));
    let work = TempDir::new("flip");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..80 {
        let offset = from + rng.below(end + 64 - from);
        let mut damaged: Vec<Vec<u8>> = original.iter().map(|(_, image)| image.clone()).collect();
        damaged.last_mut().expect("a segment")[offset] ^= 1 + rng.below(255) as u8;
        let recovered = check_recovery_after_damage(&work.path(), &original, &damaged, None);
        assert!(
            recovered.report.cut.is_some(),
            "a flipped byte always leaves data to cut"
        );
    }
}

#[test]
fn zeroed_page_in_the_middle_stops_recovery_there_and_discards_later_segments() {
    let dir = TempDir::new("page-source");
    write_log(&dir.path(), small_config(SyncMode::Sync), 300, 10);
    let original = read_segments(&dir.path());
    assert!(original.len() >= 3, "{} segments", original.len());
    let work = TempDir::new("page");
    for (segment_index, page_offset) in [(1usize, 8192usize), (0, 4096), (original.len() - 1, 4096)]
    {
        let mut damaged: Vec<Vec<u8>> = original.iter().map(|(_, image)| image.clone()).collect();
        damaged[segment_index][page_offset..page_offset + 4096].fill(0);
        let recovered = check_recovery_after_damage(&work.path(), &original, &damaged, None);
        let next_lsn = recovered.next_lsn;
        let first_new_lsn = append_after_recovery(&work.path(), 40);
        assert_eq!(first_new_lsn, next_lsn);
        let (records, recovered) = recover_all(&work.path(), 0).expect("recover again");
        assert_records(&records, 1, next_lsn + 39);
        assert_eq!(recovered.report.cut, None);
    }
}

#[test]
fn segment_header_corruption_is_reported_with_the_file_name() {
    let dir = TempDir::new("header");
    write_log(&dir.path(), small_config(SyncMode::Sync), 300, 10);
    let segments = read_segments(&dir.path());
    let (path, image) = &segments[1];
    let mut damaged = image.clone();
    damaged[20] ^= 0xff; // Inside first_lsn: the header crc no longer matches.
    std::fs::write(path, &damaged).expect("write");
    let error = recover_all(&dir.path(), 0).expect_err("a damaged header stops recovery");
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    assert!(
        matches!(error, WalError::SegmentHeaderCorrupt { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(&name), "{error}");
}

#[test]
fn recovery_refuses_a_log_written_under_another_ring() {
    let dir = TempDir::new("ring");
    write_log(&dir.path(), small_config(SyncMode::Sync), 300, 10);
    assert!(segment::check_dir_ring(&dir.path(), ring_of(SHARDS_COUNT)).is_ok());
    let other = ring_of(SHARDS_COUNT + 1);
    let error = recover(&dir.path(), SHARD_INDEX, other, 0, |_| {
        Ok::<(), WalError>(())
    })
    .expect_err("a log of a 4-shard ring is not replayed by a 5-shard one");
    let WalError::RingMismatch {
        segment_ring, ring, ..
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!((*segment_ring, *ring), (ring_of(SHARDS_COUNT), other));
    let message = error.to_string();
    assert!(
        message.contains("wal-003-00000000000000000001.log"),
        "{message}"
    );
    assert!(
        message.contains("4 shards x 128") && message.contains("5 shards x 128"),
        "{message}"
    );
    let error = segment::check_dir_ring(&dir.path(), other).expect_err("the directory check too");
    assert!(matches!(error, WalError::RingMismatch { .. }), "{error}");
    // Nothing was changed: the right ring still recovers every record.
    let (records, _) = recover_all(&dir.path(), 0).expect("recover");
    assert_records(&records, 1, 300);
}

#[test]
fn recovery_refuses_a_segment_of_another_shard_under_its_name() {
    let dir = TempDir::new("swap");
    write_log(&dir.path(), small_config(SyncMode::Sync), 30, 10);
    let segments = read_segments(&dir.path());
    // Shard 3's segment copied in as shard 2's first segment.
    let (path, _) = &segments[0];
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .replace("wal-003-", "wal-002-");
    std::fs::copy(path, dir.path().join(&name)).expect("copy");
    let ring = ring_of(SHARDS_COUNT);
    let error = recover(&dir.path(), 2, ring, 0, |_| Ok::<(), WalError>(()))
        .expect_err("shard 2 does not replay shard 3's records");
    assert!(
        matches!(
            error,
            WalError::RingMismatch {
                segment_shard_index: 3,
                shard_index: 2,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains(&name), "{error}");
    let error = segment::check_dir_ring(&dir.path(), ring).expect_err("the directory check too");
    assert!(error.to_string().contains(&name), "{error}");
}

#[test]
fn recovery_refuses_a_version_1_segment_by_its_version() {
    let dir = TempDir::new("v1");
    write_log(&dir.path(), small_config(SyncMode::Sync), 30, 10);
    let segments = read_segments(&dir.path());
    let (path, image) = &segments[0];
    // A version 1 header: the same first 32 bytes with version 1, crc32c of them at 32..36.
    let mut old = image.clone();
    old[8..12].copy_from_slice(&1u32.to_le_bytes());
    old[32..4096].fill(0);
    let crc = crc32c::crc32c(&old[0..32]);
    old[32..36].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(path, &old).expect("write");
    for error in [
        recover_all(&dir.path(), 0).expect_err("version 1 is refused"),
        segment::check_dir_ring(&dir.path(), ring_of(SHARDS_COUNT)).expect_err("refused"),
    ] {
        assert!(
            matches!(
                error,
                WalError::SegmentVersionUnsupported {
                    version: 1,
                    version_supported: 2,
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("version 1"), "{error}");
    }
}

#[test]
fn recovery_refuses_a_log_that_starts_after_the_checkpoint() {
    let dir = TempDir::new("history");
    write_log(&dir.path(), small_config(SyncMode::Sync), 300, 10);
    let segments = read_segments(&dir.path());
    std::fs::remove_file(&segments[0].0).expect("remove oldest");
    let error = recover_all(&dir.path(), 0).expect_err("records 1.. are gone");
    assert!(
        matches!(error, WalError::MissingHistory { after_lsn: 0, .. }),
        "{error}"
    );
    let error = recover_all(&dir.path(), 1000).expect_err("checkpoint past the log");
    assert!(
        matches!(
            error,
            WalError::CheckpointAhead {
                after_lsn: 1000,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn off_mode_acks_before_writing_and_batch_mode_syncs_within_the_interval() {
    let dir = TempDir::new("modes");
    let path = dir.path();
    run_local(move || async move {
        let (_, recovered) = recover_all(&path, 0).expect("recover");
        let wal = Wal::open(recovered, small_config(SyncMode::Off))
            .await
            .expect("open");
        let syncs_before = wal.stats().fdatasyncs_count;
        let (kind, payload) = payload_for(1);
        let lsn = wal.append_durable(kind, &payload).await.expect("append");
        // Acknowledged while only buffered: not written yet, never synced.
        assert_eq!((wal.stats().written_lsn, wal.stats().durable_lsn), (0, 0));
        glommio::timer::sleep(Duration::from_millis(20)).await;
        let stats = wal.stats();
        assert_eq!(
            (stats.written_lsn, stats.durable_lsn),
            (lsn, 0),
            "written in the background, not synced"
        );
        assert_eq!(stats.fdatasyncs_count, syncs_before);
        assert_eq!(wal.sync().await.expect("sync"), lsn);
        assert_eq!(wal.stats().durable_lsn, lsn);
        wal.close().await.expect("close");
        wal.wait_spare_idle().await;
    });
    let path = dir.path();
    run_local(move || async move {
        let (records, recovered) = recover_all(&path, 0).expect("recover");
        assert_records(&records, 1, 1);
        let config = small_config(SyncMode::Batch { interval_ms: 30 });
        let wal = Wal::open(recovered, config).await.expect("open");
        glommio::timer::sleep(Duration::from_millis(40)).await;
        let (kind, payload) = payload_for(2);
        let lsn = wal.append_durable(kind, &payload).await.expect("append");
        let stats = wal.stats();
        assert_eq!(stats.written_lsn, lsn, "batch acks after the write");
        glommio::timer::sleep(Duration::from_millis(80)).await;
        assert_eq!(wal.stats().durable_lsn, lsn, "synced within the interval");
        wal.close().await.expect("close");
        wal.wait_spare_idle().await;
    });
    let (records, _) = recover_all(&dir.path(), 0).expect("recover");
    assert_records(&records, 1, 2);
}

fn check_fault_poisons(fault: FaultPoint) {
    let dir = TempDir::new("poison");
    let path = dir.path();
    run_local(move || async move {
        let (_, recovered) = recover_all(&path, 0).expect("recover");
        let wal = Wal::open(recovered, small_config(SyncMode::Sync))
            .await
            .expect("open");
        append_many(&wal, 3, 1).await;
        wal.inject_fault(fault);
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let wal = Rc::clone(&wal);
                glommio::spawn_local(async move {
                    let (kind, payload) = payload_for(wal.stats().next_lsn);
                    wal.append_durable(kind, &payload).await
                })
            })
            .collect();
        for task in tasks {
            let error = task.await.expect_err("every waiter sees the failure");
            assert!(matches!(&error, WalError::Poisoned { .. }), "{error}");
            assert!(error.to_string().contains("WAL poisoned"), "{error}");
            let WalError::Poisoned { cause } = &error else {
                unreachable!()
            };
            assert!(
                matches!(**cause, WalError::Io { .. }),
                "cause names the I/O error: {cause}"
            );
        }
        let (kind, payload) = payload_for(99);
        let later = wal.append(kind, &payload).expect_err("poisoned");
        assert!(
            later.to_string().contains("Input/output error")
                || later.to_string().contains("os error 5"),
            "{later}"
        );
        assert!(wal.sync().await.is_err());
        assert_eq!(
            wal.stats().durable_lsn,
            3,
            "nothing acknowledged after the failure"
        );
        wal.wait_spare_idle().await;
    });
    let (records, _) = recover_all(&dir.path(), 0).expect("recover");
    assert!(records.len() >= 3, "acknowledged records survive");
}

#[test]
fn failed_write_poisons_every_waiter_and_later_appends() {
    check_fault_poisons(FaultPoint::Write);
}

#[test]
fn failed_fdatasync_poisons_every_waiter_and_later_appends() {
    check_fault_poisons(FaultPoint::Sync);
}

#[test]
fn checkpointed_segments_are_recycled_into_zeroed_spares() {
    let dir = TempDir::new("recycle");
    let path = dir.path();
    let config = WalConfig {
        spares_count_max: 3,
        ..small_config(SyncMode::Sync)
    };
    let recycled_count = run_local(move || async move {
        let (_, recovered) = recover_all(&path, 0).expect("recover");
        let wal = Wal::open(recovered, config).await.expect("open");
        append_many(&wal, 300, 20).await;
        wal.wait_spare_idle().await;
        let recycled_count = wal.recycle_through(150).await.expect("recycle");
        wal.close().await.expect("close");
        recycled_count
    });
    assert!(recycled_count >= 1);
    let mut spares_count = 0;
    for entry in std::fs::read_dir(dir.path()).expect("read dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        if parse_spare_file_name(SHARD_INDEX, &name).is_some() {
            spares_count += 1;
            let bytes = std::fs::read(&path).expect("read spare");
            assert_eq!(bytes.len() as u64, WAL_SEGMENT_SIZE_MIN);
            assert!(
                bytes.iter().all(|b| *b == 0),
                "a recycled spare is zeroed: {name}"
            );
        }
    }
    assert!((1..=3).contains(&spares_count), "{spares_count} spares");
    let (records, _) = recover_all(&dir.path(), 150).expect("recover after the checkpoint");
    assert_records(&records, 151, 150);
    assert!(matches!(
        recover_all(&dir.path(), 0),
        Err(WalError::MissingHistory { .. })
    ));
}

#[test]
fn a_middle_segment_that_ends_early_discards_the_segments_after_the_gap() {
    let dir = TempDir::new("gap-source");
    write_log(&dir.path(), small_config(SyncMode::Sync), 300, 10);
    let original = read_segments(&dir.path());
    assert!(original.len() >= 3, "{} segments", original.len());
    let first_lsn = 1 + record_spans(&original[0].1, 1).len() as u64;
    let third_record_start = record_spans(&original[1].1, first_lsn)[2].0;
    let mut damaged: Vec<Vec<u8>> = original.iter().map(|(_, image)| image.clone()).collect();
    damaged[1][third_record_start..].fill(0);
    let work = TempDir::new("gap");
    let recovered = check_recovery_after_damage(&work.path(), &original, &damaged, None);
    // A clean end (zeros only) inside the log: no cut, but the LSN gap drops what follows.
    assert_eq!(recovered.report.cut, None);
    assert_eq!(recovered.next_lsn, first_lsn + 2);
    assert_eq!(
        recovered.report.discarded_segments.len(),
        original.len() - 2
    );
}

/// Six tasks each append 60 records durably at random moments, with at most
/// `writes_in_flight_max` writes in flight; checks every ack covered its whole prefix and every
/// record comes back. Returns the recovery report.
fn concurrent_durable_appends(writes_in_flight_max: usize) -> RecoveryReport {
    let dir = TempDir::new("pipelined");
    let path = dir.path();
    let config = WalConfig {
        writes_in_flight_max,
        ..small_config(SyncMode::Sync)
    };
    let (mut lsns, stats) = run_local(move || async move {
        let (_, recovered) = recover_all(&path, 0).expect("recover");
        let wal = Wal::open(recovered, config).await.expect("open");
        // Writers arrive at random moments, so records land while earlier writes are in flight.
        let tasks: Vec<_> = (0..6u64)
            .map(|task_index| {
                let wal = Rc::clone(&wal);
                glommio::spawn_local(async move {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (task_index + 1));
                    let mut lsns = Vec::new();
                    for _ in 0..60 {
                        let pause = Duration::from_micros(rng.below(300) as u64);
                        glommio::timer::sleep(pause).await;
                        let (kind, payload) = payload_for(wal.stats().next_lsn);
                        let lsn = wal.append_durable(kind, &payload).await.expect("durable");
                        // An ack covers every earlier record too: durability is a prefix.
                        assert!(wal.stats().durable_lsn >= lsn, "lsn {lsn} acked early");
                        lsns.push(lsn);
                    }
                    lsns
                })
            })
            .collect();
        let mut lsns = Vec::new();
        for task in tasks {
            lsns.extend(task.await);
        }
        let stats = wal.stats();
        wal.close().await.expect("close");
        wal.wait_spare_idle().await;
        (lsns, stats)
    });
    lsns.sort_unstable();
    assert_eq!(lsns, (1..=360).collect::<Vec<_>>());
    assert_eq!(stats.durable_lsn, 360);
    let (records, recovered) = recover_all(&dir.path(), 0).expect("recover");
    assert_records(&records, 1, 360);
    assert_eq!(recovered.report.cut, None);
    recovered.report
}

#[test]
fn pipelined_sync_writes_ack_in_order_and_recovery_steps_over_their_block_gaps() {
    let report = concurrent_durable_appends(WAL_WRITES_IN_FLIGHT_DEFAULT);
    assert!(
        report.block_gaps_count > 0,
        "no write was issued while another held its block: {report:?}"
    );
    // One write at a time rewrites the partial block instead: never a gap.
    let report = concurrent_durable_appends(1);
    assert_eq!(report.block_gaps_count, 0, "{report:?}");
}

#[test]
fn writes_in_flight_bound_is_checked() {
    let with = |writes_in_flight_max| WalConfig {
        writes_in_flight_max,
        ..WalConfig::default()
    };
    assert!(with(1).validate().is_ok());
    assert!(with(WAL_WRITES_IN_FLIGHT_MAX).validate().is_ok());
    for bad in [0, WAL_WRITES_IN_FLIGHT_MAX + 1] {
        let error = with(bad).validate().expect_err("out of range");
        assert!(
            error.to_string().contains("writes_in_flight_max"),
            "{error}"
        );
    }
}

/// The first segment of a fresh 20-record log, rebuilt with record `k` moved to the next block
/// boundary and zeros before it, as a write issued behind an in-flight one leaves it. Returns
/// the image, the gap's start and the boundary.
fn segment_with_gap() -> (PathBuf, Vec<u8>, usize, usize) {
    let dir = TempDir::new("gap-source");
    write_log(&dir.path(), small_config(SyncMode::Sync), 20, 20);
    let (path, image) = read_segments(&dir.path()).swap_remove(0);
    let spans = record_spans(&image, 1);
    let k = spans
        .iter()
        .position(|(start, _)| *start > WAL_BLOCK_SIZE && !start.is_multiple_of(WAL_BLOCK_SIZE))
        .expect("a record starting inside a block");
    let (gap_start, boundary) = (spans[k].0, spans[k].0.next_multiple_of(WAL_BLOCK_SIZE));
    let records_end = spans.last().expect("records").1;
    let mut rebuilt = vec![0u8; image.len()];
    rebuilt[..gap_start].copy_from_slice(&image[..gap_start]);
    rebuilt[boundary..boundary + records_end - gap_start]
        .copy_from_slice(&image[gap_start..records_end]);
    let name = PathBuf::from(path.file_name().expect("segment name"));
    (name, rebuilt, gap_start, boundary)
}

/// Recovers `dir` holding only `image` as segment `name`: (records, recovered).
fn recover_image(dir: &Path, name: &Path, image: &[u8]) -> (Vec<RecoveredRecord>, Recovered) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        std::fs::remove_file(entry.expect("entry").path()).expect("clean dir");
    }
    std::fs::write(dir.join(name), image).expect("write segment");
    recover_all(dir, 0).expect("recovery succeeds")
}

#[test]
fn recovery_steps_over_a_zero_block_tail_only_onto_the_very_next_lsn() {
    let (name, image, gap_start, boundary) = segment_with_gap();
    let lsn_at_gap = 1 + record_spans(&image, 1).len() as u64;
    let work = TempDir::new("gap");

    // The gap as the writer leaves it: every record comes back.
    let (records, recovered) = recover_image(&work.path(), &name, &image);
    assert_records(&records, 1, 20);
    assert_eq!(recovered.report.cut, None);
    assert_eq!(recovered.report.block_gaps_count, 1);

    // The record after the gap is not the next LSN (one is missing): cut at the gap.
    let next_span = record_spans(&image[boundary - WAL_SEGMENT_HEADER_SIZE..], lsn_at_gap)[0];
    let mut missing = image.clone();
    let after = boundary + (next_span.1 - next_span.0);
    missing.copy_within(after.., boundary);
    let (records, recovered) = recover_image(&work.path(), &name, &missing);
    assert_records(&records, 1, lsn_at_gap - 1);
    let cut = recovered.report.cut.expect("a cut");
    assert_eq!(cut.offset as usize, gap_start);
    assert_eq!(recovered.report.block_gaps_count, 0);

    // A non-zero byte inside the gap is damage, not a gap.
    let mut dirty = image.clone();
    dirty[boundary - 1] = 0x5a;
    let (records, recovered) = recover_image(&work.path(), &name, &dirty);
    assert_records(&records, 1, lsn_at_gap - 1);
    assert_eq!(
        recovered.report.cut.expect("a cut").offset as usize,
        gap_start
    );
}
