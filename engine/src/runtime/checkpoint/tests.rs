//! Checkpoints against a plain model of every row: generations and compactions written by the
//! real sealing code to real files, loaded back as mapped chunks, with the log after the cut
//! replayed on top, must give exactly the rows of the live store and of the model. Also the
//! manifest format, and a damaged older generation refused at start-up by name.

use std::collections::BTreeMap;

use super::*;
use crate::batch::{BatchBuilder, RowBatch, SymbolKey};
use crate::fragment::plan::{BinaryOp, ScalarExpr};
use crate::schema::{ColumnDef, TableSchema};
use crate::segment::tests::TempDir;
use crate::storage::chunk::{ChunkState, ColumnData};
use crate::storage::mutate::{Assignment, Mutation, MutationAction};
use crate::storage::seal::{SealKind, TableSeal};
use crate::types::{DataType, Value};

const TABLE: &str = "ticks";
const SYMBOL: usize = 0;
const TS: usize = 1;
const ID: usize = 2;
const PRICE: usize = 3;
const VENUE: usize = 4;
const FLAG: usize = 5;
/// Timestamp step between a symbol's consecutive rows: 1 ms.
const STEP_NS: i64 = 1_000_000;

#[test]
fn manifest_round_trips_and_rejects_any_edit() {
    let manifest = Manifest {
        covered_lsn: 42,
        sequence: 7,
        segments: vec!["seg-000-a.qseg".into(), "seg-000-b.qseg".into()],
    };
    let text = manifest.encode();
    let path = Path::new("m");
    assert_eq!(Manifest::decode(&text, path).unwrap(), manifest);
    let edited = text.replace("42", "43");
    assert!(Manifest::decode(&edited, path).is_err());
    assert!(Manifest::decode(&text[..text.len() / 2], path).is_err());
}

#[test]
fn version_1_manifest_reads_as_sequence_0() {
    let body = format!("{MANIFEST_MAGIC_V1}\ncovered_lsn 9\nsegment seg-000-x.qseg\n");
    let text = format!("{body}crc32c {}\n", crc32c::crc32c(body.as_bytes()));
    let manifest = Manifest::decode(&text, Path::new("m")).unwrap();
    let expected = Manifest {
        covered_lsn: 9,
        sequence: 0,
        segments: vec!["seg-000-x.qseg".into()],
    };
    assert_eq!(manifest, expected);
}

/// One row of the model.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    symbol: String,
    ts: i64,
    id: i64,
    price: Option<f64>,
    venue: Option<String>,
    flag: bool,
}

fn schema() -> TableSchema {
    let column = |name: &str, data_type| ColumnDef {
        name: name.into(),
        data_type,
    };
    let columns = vec![
        column("symbol", DataType::Symbol),
        column("ts", DataType::Timestamp),
        column("id", DataType::Int64),
        column("price", DataType::Float64),
        column("venue", DataType::Symbol),
        column("flag", DataType::Bool),
    ];
    TableSchema::new(TABLE, columns, None, None).unwrap()
}

fn batch_of(rows: &[Row]) -> RowBatch {
    let schema = schema();
    let mut builder = BatchBuilder::all_columns(&schema).unwrap();
    for row in rows {
        let price = row.price.map_or(Value::Null, Value::Float);
        let venue = row.venue.clone().map_or(Value::Null, Value::Str);
        builder
            .push_value(SYMBOL, &Value::Str(row.symbol.clone()))
            .unwrap();
        builder.push_value(TS, &Value::Int(row.ts)).unwrap();
        builder.push_value(ID, &Value::Int(row.id)).unwrap();
        builder.push_value(PRICE, &price).unwrap();
        builder.push_value(VENUE, &venue).unwrap();
        builder.push_value(FLAG, &Value::Bool(row.flag)).unwrap();
        builder.finish_row().unwrap();
    }
    builder.finish()
}

/// A write as the log would hold it, replayable on any store.
#[derive(Clone, Debug)]
enum Op {
    Insert(Vec<Row>),
    /// DELETE of the ids in `from..to`.
    Delete(i64, i64),
    /// UPDATE … SET price = id + 0.5 of the ids in `from..to`.
    Update(i64, i64),
    SetTtl(Option<u64>),
    /// TTL expiry at this instant (a checkpoint does it at its cut).
    Expire(i64),
}

/// `action` on the rows whose id is in `from..to`.
fn mutate_ids(from: i64, to: i64, action: MutationAction) -> Mutation {
    let compare = |op, value| ScalarExpr::Binary {
        op,
        left: Box::new(ScalarExpr::Column(ID)),
        right: Box::new(ScalarExpr::Literal(Value::Int(value))),
    };
    Mutation {
        table: TABLE.into(),
        symbols: None,
        filter: Some(ScalarExpr::Binary {
            op: BinaryOp::And,
            left: Box::new(compare(BinaryOp::GtEq, from)),
            right: Box::new(compare(BinaryOp::Lt, to)),
        }),
        action,
    }
}

/// `SET price = id + 0.5`.
fn set_price() -> MutationAction {
    MutationAction::Update(vec![Assignment {
        column: PRICE,
        value: ScalarExpr::Binary {
            op: BinaryOp::Add,
            left: Box::new(ScalarExpr::Column(ID)),
            right: Box::new(ScalarExpr::Literal(Value::Float(0.5))),
        },
    }])
}

fn apply(store: &mut ShardStore, op: &Op) {
    match op {
        Op::Insert(rows) => {
            store.apply(TABLE, &batch_of(rows), None).unwrap();
            // As the shard does before anything reads the partitions.
            store.settle_late_rows();
        }
        Op::Delete(from, to) => {
            store
                .mutate(&mutate_ids(*from, *to, MutationAction::Delete))
                .unwrap();
        }
        Op::Update(from, to) => {
            store.mutate(&mutate_ids(*from, *to, set_price())).unwrap();
        }
        Op::SetTtl(ttl) => store.set_ttl(TABLE, *ttl).unwrap(),
        Op::Expire(now_ns) => {
            store.expire(*now_ns);
        }
    }
}

/// The plain copy of every row, changed the same way as the store.
#[derive(Clone, Debug, Default)]
struct Model {
    rows: Vec<Row>,
    ttl_seconds: Option<u64>,
}

impl Model {
    fn apply(&mut self, op: &Op) {
        match op {
            Op::Insert(rows) => self.rows.extend(rows.iter().cloned()),
            Op::Delete(from, to) => self.rows.retain(|r| r.id < *from || r.id >= *to),
            Op::Update(from, to) => {
                for row in self
                    .rows
                    .iter_mut()
                    .filter(|r| (*from..*to).contains(&r.id))
                {
                    row.price = Some(row.id as f64 + 0.5);
                }
            }
            Op::SetTtl(ttl) => self.ttl_seconds = *ttl,
            Op::Expire(now_ns) => {
                if let Some(ttl) = self.ttl_seconds {
                    let cutoff = now_ns - ttl as i64 * 1_000_000_000;
                    self.rows.retain(|r| r.ts >= cutoff);
                }
            }
        }
    }

    /// By symbol, sorted by (ts, id).
    fn by_symbol(&self) -> BTreeMap<String, Vec<Row>> {
        let mut out: BTreeMap<String, Vec<Row>> = BTreeMap::new();
        for row in &self.rows {
            out.entry(row.symbol.clone()).or_default().push(row.clone());
        }
        for rows in out.values_mut() {
            rows.sort_by_key(|r| (r.ts, r.id));
        }
        out
    }
}

/// Every stored row by symbol, sorted by (ts, id), after checking the partition is in
/// timestamp order.
fn stored(store: &ShardStore) -> BTreeMap<String, Vec<Row>> {
    let table = store.table(TABLE).unwrap();
    let mut out = BTreeMap::new();
    for partition in &table.partitions {
        let SymbolKey::Str(symbol) = &partition.key else {
            panic!("string keys only");
        };
        let mut rows = Vec::new();
        for chunk in &partition.chunks {
            let (
                ColumnData::Timestamp(ts),
                ColumnData::Int64(id),
                ColumnData::Float64(price),
                ColumnData::SymbolIds(venue),
                ColumnData::Bool(flag),
            ) = (
                &chunk.columns[TS].data,
                &chunk.columns[ID].data,
                &chunk.columns[PRICE].data,
                &chunk.columns[VENUE].data,
                &chunk.columns[FLAG].data,
            )
            else {
                panic!("unexpected column layout");
            };
            let null = |column: usize, row: usize| {
                chunk.columns[column].nulls.as_ref().is_some_and(|m| m[row])
            };
            for row in 0..chunk.rows_count {
                rows.push(Row {
                    symbol: symbol.to_string(),
                    ts: ts[row],
                    id: id[row],
                    price: (!null(PRICE, row)).then_some(price[row]),
                    venue: (!null(VENUE, row)).then(|| table.dictionary.name(venue[row]).into()),
                    flag: flag[row],
                });
            }
        }
        assert!(rows.windows(2).all(|w| w[0].ts <= w[1].ts), "{symbol}");
        assert_eq!(rows.len(), partition.rows_count);
        rows.sort_by_key(|r| (r.ts, r.id));
        out.insert(symbol.to_string(), rows);
    }
    out
}

/// Random rows: a hot symbol and two cold ones, mostly in time order, some late.
struct Feed {
    seed: u64,
    next_id: i64,
    last_ts: BTreeMap<String, i64>,
}

impl Feed {
    fn new(seed: u64) -> Feed {
        Feed {
            seed,
            next_id: 0,
            last_ts: BTreeMap::new(),
        }
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.seed >> 33) % bound
    }

    /// `count` rows; with `late`, each lands up to 20,000 steps before its symbol's last row.
    fn rows(&mut self, count: usize, late: bool) -> Vec<Row> {
        let mut rows = Vec::with_capacity(count);
        for _ in 0..count {
            let symbol = match self.below(10) {
                0..=6 => "HOT",
                7 | 8 => "COLD",
                _ => "RARE",
            };
            let last = self.last_ts.entry(symbol.into()).or_insert(1_000 * STEP_NS);
            let ts = if late {
                *last - (self.seed as i64 % 20_000).abs() * STEP_NS
            } else {
                *last += STEP_NS;
                *last
            };
            let id = self.next_id;
            self.next_id += 1;
            rows.push(Row {
                symbol: symbol.into(),
                ts,
                id,
                price: (id % 9 != 4).then_some(id as f64 * 0.25),
                venue: (id % 5 != 1).then(|| ["X", "Y", "Z"][(id % 3) as usize].into()),
                flag: id % 2 == 0,
            });
        }
        rows
    }

    /// A random write: mostly in-order inserts, some late rows, some deletes and updates.
    fn op(&mut self) -> Op {
        let choice = self.below(12);
        let from = self.below(self.next_id.max(1) as u64) as i64;
        let to = from + 1 + self.below(3_000) as i64;
        match choice {
            0..=5 => {
                let count = 1 + self.below(6_000) as usize;
                Op::Insert(self.rows(count, false))
            }
            6 | 7 => {
                let count = 1 + self.below(50) as usize;
                Op::Insert(self.rows(count, true))
            }
            8 | 9 => Op::Delete(from, to),
            _ => Op::Update(from, to),
        }
    }
}

/// A shard's checkpoints in a directory, driven step by step as `ShardState` does.
struct Disk {
    dir: TempDir,
    sequence: u64,
}

impl Disk {
    fn new(test: &str) -> Disk {
        Disk {
            dir: TempDir::new(test),
            sequence: 0,
        }
    }

    fn target(&self, covered_lsn: Lsn) -> CheckpointTarget {
        CheckpointTarget {
            dir: self.dir.path().to_path_buf(),
            shard_index: 0,
            sequence: self.sequence + 1,
            covered_lsn,
        }
    }

    /// Writes, publishes and swaps in `seals` (taken by `seal_begin` at the cut).
    fn finish(&mut self, store: &mut ShardStore, seals: Vec<TableSeal>, covered_lsn: Lsn) {
        let target = self.target(covered_lsn);
        let sealed = write_seals(&target, seals).unwrap();
        let manifest = Manifest {
            covered_lsn,
            sequence: target.sequence,
            segments: store.sealed_file_names(&sealed),
        };
        publish_manifest(&target.dir, 0, &manifest).unwrap();
        drop(store.seal_finish(sealed));
        remove_unlisted_segments(&target.dir, 0, &manifest);
        self.sequence = target.sequence;
    }

    /// A whole checkpoint with nothing happening during it.
    fn checkpoint(&mut self, store: &mut ShardStore) -> Vec<(u64, SealKind)> {
        let seals = store.seal_begin();
        let kinds = seals.iter().map(|s| (s.table_id, s.kind)).collect();
        self.finish(store, seals, 1);
        kinds
    }

    fn load(&self) -> (ShardStore, Manifest) {
        let mut store = ShardStore::default();
        let manifest = load_checkpoint(self.dir.path(), 0, &mut store).unwrap();
        (store, manifest)
    }
}

fn new_store() -> ShardStore {
    let mut store = ShardStore::default();
    store.create_table(schema(), false).unwrap();
    store
}

#[test]
fn generations_and_compactions_load_back_exactly_what_the_log_does_not_hold() {
    let mut disk = Disk::new("checkpoint-model");
    let mut feed = Feed::new(0x5eed);
    let mut store = new_store();
    let mut model = Model::default();
    // The writes after the last published cut: what the log replays at start-up.
    let mut log: Vec<Op> = Vec::new();
    let mut kinds_seen = Vec::new();
    let mut chunks_max = 0;
    for round in 0..24u64 {
        let mut ops: Vec<Op> = (0..1 + feed.below(4)).map(|_| feed.op()).collect();
        if round == 10 {
            ops.push(Op::SetTtl(Some(60)));
        }
        if model.ttl_seconds.is_some() {
            let newest = model.rows.iter().map(|r| r.ts).max().unwrap_or(0);
            ops.push(Op::Expire(newest + 60 * 1_000_000_000 - 30_000 * STEP_NS));
        }
        for op in &ops {
            apply(&mut store, op);
            model.apply(op);
        }
        log.extend(ops);
        let seals = store.seal_begin();
        kinds_seen.extend(seals.iter().map(|s| s.kind));
        // Writes go on while the files are written: new rows, late rows into frozen and
        // sealed chunks, deletes.
        let during: Vec<Op> = (0..feed.below(3)).map(|_| feed.op()).collect();
        for op in &during {
            apply(&mut store, op);
            model.apply(op);
        }
        let fails = round % 7 == 3;
        if fails {
            let kinds: Vec<_> = seals.iter().map(|s| (s.table_id, s.kind)).collect();
            drop(seals);
            store.seal_abandon(&kinds);
            log.extend(during);
        } else {
            disk.finish(&mut store, seals, round + 1);
            log = during;
        }
        if log.is_empty() && !fails {
            let stats = store.storage_stats();
            assert_eq!(stats.heap_rows_count, 0, "round {round}: all rows mapped");
        }
        let live = stored(&store);
        assert_eq!(live, model.by_symbol(), "round {round}: live store");
        let table = store.table(TABLE).unwrap();
        chunks_max = table
            .partitions
            .iter()
            .map(|p| p.chunks.len())
            .fold(chunks_max, usize::max);
        let (mut loaded, manifest) = disk.load();
        assert_eq!(manifest.sequence, disk.sequence);
        for op in &log {
            apply(&mut loaded, op);
        }
        assert_eq!(stored(&loaded), live, "round {round}: checkpoint + log");
    }
    assert!(kinds_seen.contains(&SealKind::Generation));
    assert!(kinds_seen.contains(&SealKind::Compaction));
    assert!(
        chunks_max >= 3,
        "a partition spans several chunks at some point"
    );
}

#[test]
fn appends_after_a_seal_start_a_new_chunk_and_the_sealed_one_stays_mapped() {
    let mut disk = Disk::new("checkpoint-append");
    let mut feed = Feed::new(1);
    let mut store = new_store();
    let first = feed.rows(100, false);
    apply(&mut store, &Op::Insert(first.clone()));
    disk.checkpoint(&mut store);
    let hot = SymbolKey::Str("HOT".into());
    let sealed_size = {
        let partition = store.table(TABLE).unwrap().partition(&hot).unwrap();
        assert_eq!(partition.chunks.len(), 1);
        assert_eq!(partition.chunks[0].state(), ChunkState::Sealed);
        partition.chunks[0].mapped_size()
    };
    assert!(sealed_size > 0, "the sealed chunk is mapped");
    apply(&mut store, &Op::Insert(feed.rows(50, false)));
    let partition = store.table(TABLE).unwrap().partition(&hot).unwrap();
    assert_eq!(partition.chunks.len(), 2, "a new chunk, not an append");
    assert_eq!(partition.chunks[0].state(), ChunkState::Sealed);
    assert_eq!(partition.chunks[0].mapped_size(), sealed_size);
    assert_eq!(partition.chunks[1].state(), ChunkState::Open);
    assert_eq!(partition.chunks[1].mapped_size(), 0);
    let kinds = disk.checkpoint(&mut store);
    assert_eq!(kinds.len(), 1);
    assert_eq!(
        kinds[0].1,
        SealKind::Generation,
        "only the new rows are written"
    );
}

#[test]
fn a_late_row_into_a_sealed_chunk_copies_on_write_and_forces_a_compaction() {
    let mut disk = Disk::new("checkpoint-late");
    let mut feed = Feed::new(2);
    let mut store = new_store();
    let mut model = Model::default();
    let rows = Op::Insert(feed.rows(3_000, false));
    apply(&mut store, &rows);
    model.apply(&rows);
    disk.checkpoint(&mut store);
    let files_before = disk.load().1.segments;
    let late = Op::Insert(feed.rows(5, true));
    apply(&mut store, &late);
    model.apply(&late);
    let table = store.table(TABLE).unwrap();
    let reopened = table
        .partitions
        .iter()
        .flat_map(|p| &p.chunks)
        .filter(|c| c.state() == ChunkState::Open && c.mapped_size() == 0)
        .count();
    assert!(
        reopened > 0,
        "the sealed chunk the row fell in is open again, on the heap"
    );
    // The published file still holds the chunk as it was sealed.
    let (loaded, _) = disk.load();
    let mut before = model.clone();
    before
        .rows
        .retain(|r| !matches!(&late, Op::Insert(l) if l.contains(r)));
    assert_eq!(stored(&loaded), before.by_symbol());
    let kinds = disk.checkpoint(&mut store);
    assert_eq!(
        kinds[0].1,
        SealKind::Compaction,
        "a superseded chunk forces a rewrite"
    );
    let (loaded, manifest) = disk.load();
    assert_eq!(
        manifest.segments.len(),
        1,
        "the compaction replaced {files_before:?}"
    );
    assert_eq!(stored(&loaded), model.by_symbol());
    assert_eq!(store.storage_stats().heap_rows_count, 0);
}

#[test]
fn late_rows_still_waiting_at_a_checkpoint_are_in_it() {
    let mut disk = Disk::new("checkpoint-late-run");
    let mut feed = Feed::new(2);
    let mut store = new_store();
    let mut model = Model::default();
    let rows = Op::Insert(feed.rows(2_000, false));
    apply(&mut store, &rows);
    model.apply(&rows);
    // Late batches straight into the store: they wait in their partitions' late runs.
    for _ in 0..3 {
        let late = feed.rows(50, true);
        store.apply(TABLE, &batch_of(&late), None).unwrap();
        model.apply(&Op::Insert(late));
    }
    assert!(!store.is_settled(), "the late rows wait");
    disk.checkpoint(&mut store);
    assert!(store.is_settled());
    let (loaded, _) = disk.load();
    assert_eq!(stored(&loaded), model.by_symbol());
    assert_eq!(stored(&store), model.by_symbol());
}

#[test]
fn a_flipped_byte_in_an_older_generation_is_refused_naming_that_file() {
    let mut disk = Disk::new("checkpoint-flip");
    let mut feed = Feed::new(3);
    let mut store = new_store();
    for _ in 0..3 {
        apply(&mut store, &Op::Insert(feed.rows(500, false)));
        disk.checkpoint(&mut store);
    }
    let manifest = disk.load().1;
    assert_eq!(manifest.segments.len(), 3, "three generations");
    let older = &manifest.segments[0];
    let path = disk.dir.join(older);
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    fs::write(&path, bytes).unwrap();
    let error = load_checkpoint(disk.dir.path(), 0, &mut ShardStore::default()).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(older.as_str()) && text.contains("refusing to serve"),
        "{text}"
    );
}
