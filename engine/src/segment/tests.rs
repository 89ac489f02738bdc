//! Segment round trips and corruption: every column type, NULLs, dictionaries, both key kinds;
//! truncation at many lengths and a flip of every byte must all be `Corrupt`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::batch::SymbolKey;
use crate::schema::{ColumnDef, TableSchema};
use crate::storage::chunk::{zone_of, Chunk, ColumnChunk, ColumnData, Zone, CHUNK_ROWS_MAX};
use crate::storage::column_vec::ColumnVec;
use crate::storage::dictionary::SymbolDictionary;
use crate::types::DataType;

/// A unique directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(test: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!(
            "quecto-segment-{test}-{}-{nanos}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn all_types_schema() -> TableSchema {
    let column = |name: &str, data_type| ColumnDef {
        name: name.to_string(),
        data_type,
    };
    let columns = vec![
        column("symbol", DataType::Symbol),
        column("ts", DataType::Timestamp),
        column("price", DataType::Float64),
        column("size", DataType::Int64),
        column("trade_count", DataType::UInt64),
        column("level", DataType::Int32),
        column("ratio", DataType::Float32),
        column("is_buy", DataType::Bool),
        column("venue", DataType::Symbol),
    ];
    TableSchema::new("trades", columns, None, None).unwrap()
}

fn int_key_schema(key_type: DataType) -> TableSchema {
    let columns = vec![
        ColumnDef {
            name: "ts".to_string(),
            data_type: DataType::Timestamp,
        },
        ColumnDef {
            name: "symbol".to_string(),
            data_type: key_type,
        },
        ColumnDef {
            name: "value".to_string(),
            data_type: DataType::Float64,
        },
    ];
    TableSchema::new("ticks", columns, None, None).unwrap()
}

fn column(data: ColumnData, nulls: Option<Vec<bool>>, rows_count: usize) -> ColumnChunk {
    let zone = zone_of(&data, nulls.as_deref(), 0, rows_count);
    let nulls = nulls.map(ColumnVec::from);
    ColumnChunk { data, nulls, zone }
}

/// A chunk of `all_types_schema` with `rows_count` rows from `ts_start`; `seed` varies values.
/// NULLs: `size` every 7th row, `ratio` every 3rd, `venue` every 5th; `level` has a mask
/// with no NULL in it (kept as `Some`, as a truncated chunk may have).
fn all_types_chunk(
    ts_start: i64,
    rows_count: usize,
    seed: u64,
    dictionary: &mut SymbolDictionary,
) -> Chunk {
    let n = rows_count;
    let rows = 0..n as u64;
    let mix = |i: u64| (i ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11;
    let specials = [f64::NAN, -0.0, f64::INFINITY, f64::MIN_POSITIVE];
    let price: Vec<f64> = rows
        .clone()
        .map(|i| match i % 97 {
            5 => specials[(i as usize / 97) % specials.len()],
            _ => mix(i) as f64 / 1024.0 - 3.5,
        })
        .collect();
    let venues = ["NYSE", "ARCA", "BATS", "IEX", "ÜBER-venue"];
    let venue: Vec<u32> = rows
        .clone()
        .map(|i| dictionary.intern(venues[(mix(i) % 5) as usize]))
        .collect();
    let every = |k: usize| -> Vec<bool> { (0..n).map(|i| i % k == k - 1).collect() };
    let zero_nulls = |v: &mut Vec<i64>, mask: &[bool]| {
        v.iter_mut()
            .zip(mask)
            .filter(|(_, &m)| m)
            .for_each(|(x, _)| *x = 0)
    };
    let size_nulls = every(7);
    let mut size: Vec<i64> = rows.clone().map(|i| mix(i) as i64 - (1 << 50)).collect();
    zero_nulls(&mut size, &size_nulls);
    let columns = vec![
        column(ColumnData::PartitionKey, None, n),
        column(
            ColumnData::Timestamp(rows.clone().map(|i| ts_start + i as i64 * 1000).collect()),
            None,
            n,
        ),
        column(ColumnData::Float64(price.into()), None, n),
        column(ColumnData::Int64(size.into()), Some(size_nulls), n),
        column(
            ColumnData::Int64(rows.clone().map(|i| i as i64 * 3).collect()),
            None,
            n,
        ),
        column(
            ColumnData::Int32(
                rows.clone()
                    .map(|i| (mix(i) as i32).wrapping_sub(7))
                    .collect(),
            ),
            Some(vec![false; n]),
            n,
        ),
        column(
            ColumnData::Float32(rows.clone().map(|i| (mix(i) % 1000) as f32 * 0.5).collect()),
            Some(every(3)),
            n,
        ),
        column(
            ColumnData::Bool(rows.map(|i| mix(i) % 3 == 0).collect()),
            None,
            n,
        ),
        column(ColumnData::SymbolIds(venue.into()), Some(every(5)), n),
    ];
    Chunk::from_columns(columns, n)
}

fn int_key_chunk(ts_start: i64, rows_count: usize) -> Chunk {
    let n = rows_count;
    let values: Vec<f64> = (0..n).map(|i| i as f64 * 1.5).collect();
    let nulls: Vec<bool> = (0..n).map(|i| i % 4 == 1).collect();
    let columns = vec![
        column(
            ColumnData::Timestamp((0..n as i64).map(|i| ts_start + i).collect()),
            None,
            n,
        ),
        column(ColumnData::PartitionKey, None, n),
        column(ColumnData::Float64(values.into()), Some(nulls), n),
    ];
    Chunk::from_columns(columns, n)
}

/// Partitions of `all_types_schema` covering the edges: a full chunk, odd row counts, a
/// single-row chunk, and a partition with no chunks.
fn all_types_partitions(dictionary: &mut SymbolDictionary) -> Vec<(SymbolKey, Vec<Chunk>)> {
    vec![
        (
            SymbolKey::Str("AAPL".into()),
            vec![
                all_types_chunk(1_000_000, CHUNK_ROWS_MAX, 1, dictionary),
                all_types_chunk(
                    1_000_000 + CHUNK_ROWS_MAX as i64 * 1000,
                    1003,
                    2,
                    dictionary,
                ),
                all_types_chunk(9_000_000_000_000, 1, 3, dictionary),
            ],
        ),
        (
            SymbolKey::Str("MSFT".into()),
            vec![all_types_chunk(-5_000, 37, 4, dictionary)],
        ),
        (SymbolKey::Str("".into()), vec![]),
    ]
}

/// A small segment (a few KB) for the byte-by-byte corruption tests.
fn small_segment(dir: &TempDir) -> (PathBuf, Vec<u8>) {
    let mut dictionary = SymbolDictionary::default();
    let partitions = vec![
        (
            SymbolKey::Str("AAPL".into()),
            vec![
                all_types_chunk(0, 40, 1, &mut dictionary),
                all_types_chunk(40_000, 13, 2, &mut dictionary),
            ],
        ),
        (
            SymbolKey::Str("MSFT".into()),
            vec![all_types_chunk(5, 9, 3, &mut dictionary)],
        ),
    ];
    let path = dir.join("small.seg");
    write_segment(
        &path,
        &all_types_schema(),
        as_refs(&partitions),
        &dictionary,
    )
    .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

fn as_refs(partitions: &[(SymbolKey, Vec<Chunk>)]) -> Vec<(SymbolKey, &[Chunk])> {
    partitions
        .iter()
        .map(|(key, chunks)| (key.clone(), chunks.as_slice()))
        .collect()
}

/// Exact comparison: `Debug` prints NaN, -0.0 and every bit of a float distinctly enough,
/// and prints a column's values alike wherever they live (heap or map).
fn assert_same_chunks(got: &[(SymbolKey, Vec<Chunk>)], want: &[(SymbolKey, Vec<Chunk>)]) {
    assert_eq!(got.len(), want.len());
    for ((got_key, got_chunks), (want_key, want_chunks)) in got.iter().zip(want) {
        assert_eq!(got_key, want_key);
        assert_eq!(got_chunks.len(), want_chunks.len());
        for (g, w) in got_chunks.iter().zip(want_chunks) {
            assert_eq!(g.rows_count, w.rows_count, "partition {want_key:?}");
            let (g_columns, w_columns) = (format!("{:?}", g.columns), format!("{:?}", w.columns));
            assert_eq!(g_columns, w_columns, "partition {want_key:?}");
        }
    }
}

fn assert_corrupt(result: Result<Segment, SegmentError>, case: &str) -> SegmentError {
    match result {
        Err(error @ SegmentError::Corrupt { .. }) => error,
        Err(other) => panic!("{case}: expected Corrupt, got {other}"),
        Ok(_) => panic!("{case}: corrupt segment opened without error"),
    }
}

#[test]
fn round_trip_preserves_every_column_type_nulls_and_symbols() {
    let dir = TempDir::new("round-trip");
    let mut dictionary = SymbolDictionary::default();
    dictionary.intern("unused-by-the-file");
    let partitions = all_types_partitions(&mut dictionary);
    let path = dir.join("trades.seg");
    let schema = all_types_schema();
    let summary = write_segment(&path, &schema, as_refs(&partitions), &dictionary).unwrap();
    assert_eq!(summary.partitions_count, 3);
    assert_eq!(summary.chunks_count, 4);
    assert_eq!(summary.rows_count, (CHUNK_ROWS_MAX + 1003 + 1 + 37) as u64);
    assert_eq!(
        summary.dictionary_count, 5,
        "only the strings the file uses"
    );
    assert_eq!(summary.file_size, std::fs::metadata(&path).unwrap().len());

    let segment = Segment::open(&path).unwrap();
    assert_eq!(segment.schema(), &schema);
    assert_eq!(segment.schema_fingerprint(), schema_fingerprint(&schema));
    assert_eq!(segment.rows_count(), summary.rows_count);
    // Loading into the writer's own dictionary gives back identical chunks, ids included.
    let mut same = dictionary.clone();
    assert_same_chunks(&segment.map_chunks(&mut same).unwrap(), &partitions);
    // Loading into another shard's dictionary remaps ids but keeps every string.
    let mut other = SymbolDictionary::default();
    for name in ["X", "Y", "IEX", "Z"] {
        other.intern(name);
    }
    let loaded = segment.map_chunks(&mut other).unwrap();
    for ((_, got), (_, want)) in loaded.iter().zip(&partitions) {
        for (g, w) in got.iter().zip(want) {
            let (ColumnData::SymbolIds(g_ids), ColumnData::SymbolIds(w_ids)) =
                (&g.columns[8].data, &w.columns[8].data)
            else {
                panic!("venue is not a symbol column");
            };
            let g_names: Vec<&str> = g_ids.iter().map(|&id| other.name(id)).collect();
            let w_names: Vec<&str> = w_ids.iter().map(|&id| dictionary.name(id)).collect();
            assert_eq!(g_names, w_names);
            assert_eq!(g.columns[8].nulls, w.columns[8].nulls);
        }
    }
    assert_eq!(other.lookup("X"), Some(0), "existing ids are kept");
}

#[test]
fn round_trip_with_integer_partition_keys() {
    for key_type in [DataType::Int64, DataType::Int32] {
        let dir = TempDir::new("int-keys");
        let schema = int_key_schema(key_type);
        let partitions = vec![
            (
                SymbolKey::Int(7),
                vec![int_key_chunk(100, 500), int_key_chunk(10_000, 3)],
            ),
            (SymbolKey::Int(-3), vec![int_key_chunk(-50, 64)]),
            (SymbolKey::Int(i64::MAX), vec![int_key_chunk(0, 1)]),
        ];
        let path = dir.join("ticks.seg");
        let dictionary = SymbolDictionary::default();
        let summary = write_segment(&path, &schema, as_refs(&partitions), &dictionary).unwrap();
        assert_eq!(summary.dictionary_count, 0);
        assert_eq!(summary.time_range_ns, Some((-50, 10_002)));
        let segment = Segment::open(&path).unwrap();
        let loaded = segment
            .map_chunks(&mut SymbolDictionary::default())
            .unwrap();
        assert_same_chunks(&loaded, &partitions);
    }
}

#[test]
fn zone_maps_and_time_ranges_are_served_from_the_footer() {
    let dir = TempDir::new("zones");
    let mut dictionary = SymbolDictionary::default();
    let mut partitions = all_types_partitions(&mut dictionary);
    // A stale zone (a superset, as `Chunk::truncate` leaves) must come back as written.
    partitions[1].1[0].columns[3].zone = Zone::Int {
        min: -1 << 62,
        max: 1 << 62,
    };
    let path = dir.join("zones.seg");
    let summary = write_segment(
        &path,
        &all_types_schema(),
        as_refs(&partitions),
        &dictionary,
    )
    .unwrap();
    let segment = Segment::open(&path).unwrap();
    let last_aapl_ts = 9_000_000_000_000;
    assert_eq!(segment.time_range_ns(), Some((-5_000, last_aapl_ts)));
    assert_eq!(summary.time_range_ns, segment.time_range_ns());
    let metas = segment.partitions();
    assert_eq!(metas.len(), partitions.len());
    for (meta, (key, chunks)) in metas.iter().zip(&partitions) {
        assert_eq!(&meta.key, key);
        assert_eq!(meta.chunks.len(), chunks.len());
        for (chunk_meta, chunk) in meta.chunks.iter().zip(chunks) {
            assert_eq!(chunk_meta.rows_count, chunk.rows_count);
            let zones: Vec<Zone> = chunk.columns.iter().map(|c| c.zone).collect();
            assert_eq!(format!("{:?}", chunk_meta.zones), format!("{zones:?}"));
            let ts = chunk.timestamps(1);
            assert_eq!(chunk_meta.time_range_ns, Some((ts[0], ts[ts.len() - 1])));
        }
    }
    assert_eq!(metas[0].time_range_ns, Some((1_000_000, last_aapl_ts)));
    assert_eq!(
        metas[2].time_range_ns, None,
        "a partition without rows has no range"
    );
    assert_eq!(metas[2].rows_count, 0);
}

#[test]
fn empty_partition_list_writes_a_valid_empty_segment() {
    let dir = TempDir::new("empty");
    let path = dir.join("empty.seg");
    let schema = all_types_schema();
    let no_partitions: [(SymbolKey, &[Chunk]); 0] = [];
    let summary =
        write_segment(&path, &schema, no_partitions, &SymbolDictionary::default()).unwrap();
    assert_eq!((summary.rows_count, summary.partitions_count), (0, 0));
    assert_eq!(summary.time_range_ns, None);
    let segment = Segment::open(&path).unwrap();
    assert!(segment.partitions().is_empty());
    assert_eq!(segment.time_range_ns(), None);
    assert!(segment
        .map_chunks(&mut SymbolDictionary::default())
        .unwrap()
        .is_empty());
}

#[test]
fn truncation_at_any_length_is_corrupt() {
    let dir = TempDir::new("truncate");
    let mut dictionary = SymbolDictionary::default();
    let partitions = all_types_partitions(&mut dictionary);
    let path = dir.join("full.seg");
    write_segment(
        &path,
        &all_types_schema(),
        as_refs(&partitions),
        &dictionary,
    )
    .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let size = bytes.len();
    let spread = (0..200).map(|i| i * size / 200);
    let tail = size.saturating_sub(64)..size;
    let cut = dir.join("cut.seg");
    for length in spread.chain(tail) {
        std::fs::write(&cut, &bytes[..length]).unwrap();
        assert_corrupt(
            Segment::open(&cut),
            &format!("truncated to {length} of {size}"),
        );
    }
}

#[test]
fn every_flipped_byte_is_corrupt() {
    let dir = TempDir::new("flip");
    let (_, bytes) = small_segment(&dir);
    let flipped = dir.join("flipped.seg");
    let mut regions_hit = std::collections::BTreeSet::new();
    // Every byte, with a one-bit flip and a whole-byte flip: header, each block and its
    // padding, footer and trailer are all in here.
    for offset in 0..bytes.len() {
        for mask in [0x01u8, 0xff] {
            let mut corrupted = bytes.clone();
            corrupted[offset] ^= mask;
            std::fs::write(&flipped, &corrupted).unwrap();
            let case = format!("byte {offset} ^ {mask:#x} of {}", bytes.len());
            if let SegmentError::Corrupt { detail, .. } =
                assert_corrupt(Segment::open(&flipped), &case)
            {
                regions_hit.insert(detail.split(' ').take(2).collect::<Vec<_>>().join(" "));
            }
        }
    }
    // The flips were caught by the header, trailer, footer and block checks alike.
    let hit = |prefix: &str| regions_hit.iter().any(|d| d.starts_with(prefix));
    assert!(hit("bad header"), "{regions_hit:?}");
    assert!(hit("bad trailer"), "{regions_hit:?}");
    assert!(hit("footer CRC32C"), "{regions_hit:?}");
    assert!(hit("block "), "{regions_hit:?}");
}

#[test]
fn bad_magic_and_unsupported_versions_are_corrupt() {
    let dir = TempDir::new("version");
    let (_, bytes) = small_segment(&dir);
    let size = bytes.len();
    let path = dir.join("bad.seg");
    let open_with = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut edited = bytes.clone();
        edit(&mut edited);
        std::fs::write(&path, &edited).unwrap();
        Segment::open(&path)
    };
    let detail_of = |error: SegmentError| match error {
        SegmentError::Corrupt { detail, .. } => detail,
        other => panic!("expected Corrupt, got {other}"),
    };
    let error = assert_corrupt(
        open_with(&|b| b[..8].copy_from_slice(b"NOTASEGM")),
        "header",
    );
    assert!(detail_of(error).contains("magic"));
    let error = assert_corrupt(
        open_with(&|b| b[size - 8..].copy_from_slice(b"PARQUET1")),
        "tail",
    );
    assert!(detail_of(error).contains("magic"));
    let set_version =
        |b: &mut Vec<u8>, at: usize| b[at..at + 4].copy_from_slice(&2u32.to_le_bytes());
    let error = assert_corrupt(open_with(&|b| set_version(b, 8)), "header version");
    assert!(detail_of(error).contains("version 2"));
    let error = assert_corrupt(open_with(&|b| set_version(b, size - 12)), "trailer version");
    assert!(detail_of(error).contains("version 2"));
    // A footer claiming version 2 with a CRC that matches: refused by the version, not the CRC.
    let footer_v2 = |b: &mut Vec<u8>| {
        let trailer = size - SEGMENT_TRAILER_SIZE;
        let footer_offset =
            u64::from_le_bytes(b[trailer..trailer + 8].try_into().unwrap()) as usize;
        set_version(b, footer_offset);
        let crc = crc32c::crc32c(&b[footer_offset..trailer]);
        b[trailer + 16..trailer + 20].copy_from_slice(&crc.to_le_bytes());
    };
    let error = assert_corrupt(open_with(&footer_v2), "footer version");
    assert!(detail_of(error).contains("footer version 2"));
    assert_corrupt(open_with(&|b| b.clear()), "empty file");
    assert_corrupt(open_with(&|b| b.resize(size + 8, 0)), "appended zeros");
}

#[test]
fn writer_rejects_chunks_that_do_not_fit_the_schema_and_leaves_no_file() {
    let dir = TempDir::new("invalid");
    let schema = all_types_schema();
    let path = dir.join("invalid.seg");
    let mut dictionary = SymbolDictionary::default();
    let good = all_types_chunk(0, 10, 1, &mut dictionary);
    let mut too_few_columns = good.clone();
    too_few_columns.columns.pop();
    let mut wrong_type = good.clone();
    wrong_type.columns[2].data = ColumnData::Int64(vec![0; 10].into());
    let mut short_column = good.clone();
    short_column.columns[3].data = ColumnData::Int64(vec![0; 9].into());
    let mut short_mask = good.clone();
    short_mask.columns[6].nulls = Some(vec![false; 11].into());
    let mut unknown_symbol = good.clone();
    unknown_symbol.columns[8] = column(ColumnData::SymbolIds(vec![99; 10].into()), None, 10);
    let cases = [
        (
            "too few columns",
            SymbolKey::Str("A".into()),
            too_few_columns,
        ),
        ("wrong type", SymbolKey::Str("A".into()), wrong_type),
        ("short column", SymbolKey::Str("A".into()), short_column),
        ("short mask", SymbolKey::Str("A".into()), short_mask),
        (
            "unknown symbol id",
            SymbolKey::Str("A".into()),
            unknown_symbol,
        ),
        (
            "integer key for a SYMBOL column",
            SymbolKey::Int(1),
            good.clone(),
        ),
    ];
    for (case, key, chunk) in cases {
        let chunks = [good.clone(), chunk];
        let result = write_segment(&path, &schema, [(key, &chunks[..])], &dictionary);
        match result {
            Err(SegmentError::InvalidInput { .. }) => {}
            other => panic!("{case}: expected InvalidInput, got {other:?}"),
        }
        assert!(!path.exists(), "{case}: no segment is published");
        assert!(
            !dir.join("invalid.seg.tmp").exists(),
            "{case}: the tmp file is removed"
        );
    }
    let chunks = [good];
    let twice = [
        (SymbolKey::Str("A".into()), &chunks[..]),
        (SymbolKey::Str("A".into()), &chunks[..]),
    ];
    let result = write_segment(&path, &schema, twice, &dictionary);
    assert!(
        matches!(result, Err(SegmentError::InvalidInput { .. })),
        "{result:?}"
    );
    assert!(!path.exists() && !dir.join("invalid.seg.tmp").exists());
}

#[test]
fn null_symbol_row_with_an_id_outside_the_dictionary_loads_as_default() {
    let dir = TempDir::new("null-symbol");
    let mut dictionary = SymbolDictionary::default();
    let mut chunk = all_types_chunk(0, 10, 1, &mut dictionary);
    let mut nulls = vec![false; 10];
    nulls[4] = true;
    let ColumnData::SymbolIds(ids) = &mut chunk.columns[8].data else {
        panic!("venue is not a symbol column");
    };
    ids.to_mut()[4] = 12_345;
    chunk.columns[8].nulls = Some(nulls.into());
    let path = dir.join("null.seg");
    let partitions = vec![(SymbolKey::Str("A".into()), vec![chunk.clone()])];
    write_segment(
        &path,
        &all_types_schema(),
        as_refs(&partitions),
        &dictionary,
    )
    .unwrap();
    let loaded = Segment::open(&path)
        .unwrap()
        .map_chunks(&mut dictionary)
        .unwrap();
    let ColumnData::SymbolIds(ids) = &mut chunk.columns[8].data else {
        panic!("venue is not a symbol column");
    };
    ids.to_mut()[4] = 0;
    assert_same_chunks(&loaded, &[(SymbolKey::Str("A".into()), vec![chunk])]);
}

#[test]
fn rewrite_replaces_the_file_and_a_stale_tmp_is_ignored() {
    let dir = TempDir::new("rewrite");
    let path = dir.join("ticks.seg");
    std::fs::write(dir.join("ticks.seg.tmp"), b"garbage from a crash").unwrap();
    let schema = int_key_schema(DataType::Int64);
    let dictionary = SymbolDictionary::default();
    let first = vec![(SymbolKey::Int(1), vec![int_key_chunk(0, 10)])];
    write_segment(&path, &schema, as_refs(&first), &dictionary).unwrap();
    let second = vec![(SymbolKey::Int(2), vec![int_key_chunk(50, 20)])];
    write_segment(&path, &schema, as_refs(&second), &dictionary).unwrap();
    assert!(!dir.join("ticks.seg.tmp").exists());
    let segment = Segment::open(&path).unwrap();
    assert_same_chunks(
        &segment
            .map_chunks(&mut SymbolDictionary::default())
            .unwrap(),
        &second,
    );
}

#[test]
fn missing_file_is_an_io_error_not_corruption() {
    let dir = TempDir::new("missing");
    match Segment::open(&dir.join("absent.seg")) {
        Err(SegmentError::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
        }
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn schema_fingerprint_changes_with_names_types_and_key() {
    let base = all_types_schema();
    let mut renamed = base.clone();
    renamed.columns[2].name = "px".to_string();
    let mut retyped = base.clone();
    retyped.columns[5].data_type = DataType::Int64;
    let mut rekeyed = base.clone();
    rekeyed.symbol_index = 8;
    let fingerprints = [&base, &renamed, &retyped, &rekeyed].map(schema_fingerprint);
    for (i, a) in fingerprints.iter().enumerate() {
        assert!(fingerprints[i + 1..].iter().all(|b| a != b));
    }
    assert_eq!(schema_fingerprint(&all_types_schema()), fingerprints[0]);
}

#[test]
fn corrupt_error_names_path_and_offset() {
    let dir = TempDir::new("error-context");
    let (path, mut bytes) = small_segment(&dir);
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let error = assert_corrupt(Segment::open(&path), "middle flip");
    assert!(error.is_corrupt());
    let message = error.to_string();
    assert!(message.contains(&*path.to_string_lossy()), "{message}");
    let SegmentError::Corrupt {
        path: error_path,
        offset,
        ..
    } = error
    else {
        unreachable!("assert_corrupt returns Corrupt")
    };
    assert_eq!(error_path.as_path(), Path::new(&path));
    assert!(offset <= bytes.len() as u64);
}

#[test]
fn mapped_chunk_equals_the_heap_chunk_it_was_written_from_without_copying_it() {
    let dir = TempDir::new("mapped");
    let schema = int_key_schema(DataType::Int64);
    let partitions = vec![
        (
            SymbolKey::Int(1),
            vec![int_key_chunk(0, CHUNK_ROWS_MAX), int_key_chunk(1 << 20, 77)],
        ),
        (SymbolKey::Int(2), vec![int_key_chunk(-9, 3)]),
    ];
    let path = dir.join("mapped.seg");
    let dictionary = SymbolDictionary::default();
    write_segment(&path, &schema, as_refs(&partitions), &dictionary).unwrap();
    let segment = Segment::open(&path).unwrap();
    let mapped = segment.map_chunks(&mut dictionary.clone()).unwrap();
    for ((_, got), (_, want)) in mapped.iter().zip(&partitions) {
        assert!(got == want, "a mapped chunk equals its heap source");
        for chunk in got {
            // ts and value (8 bytes each) are views into the file; the key stores nothing.
            assert_eq!(chunk.mapped_size(), chunk.rows_count * 16);
            assert_eq!(chunk.state(), crate::storage::chunk::ChunkState::Sealed);
        }
    }
    drop(segment);
    std::fs::remove_file(&path).unwrap();
    // The chunks keep the mapping alive: still readable after the file is gone.
    assert!(mapped[0].1 == partitions[0].1);
}
