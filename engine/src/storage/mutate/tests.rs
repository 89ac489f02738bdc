//! Mutations against a brute-force model of the table: every test applies the same change to
//! a plain list of rows and compares every stored row, then checks the storage invariants
//! (timestamp order, chunk sizes, exact zones, partition index, row counts).

use std::collections::BTreeMap;

use super::*;
use crate::batch::BatchBuilder;
use crate::fragment::aggregate::AggState;
use crate::fragment::exec::{run_fragment, FragmentData};
use crate::fragment::plan::{AggregateCall, AggregateFunction, BinaryOp, Fragment, FragmentOutput};
use crate::schema::{ColumnDef, TableSchema};
use crate::storage::chunk::{Zone, CHUNK_ROWS_MAX};

const SYMBOL: usize = 0;
const TS: usize = 1;
const PRICE: usize = 2;
const VOLUME: usize = 3;
const VENUE: usize = 4;
const QTY: usize = 5;

/// One row of the model.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    symbol: String,
    ts: i64,
    price: f64,
    volume: Option<i64>,
    venue: Option<String>,
    qty: i32,
}

fn schema() -> TableSchema {
    let column = |name: &str, data_type| ColumnDef {
        name: name.into(),
        data_type,
    };
    TableSchema::new(
        "t",
        vec![
            column("symbol", DataType::Symbol),
            column("ts", DataType::Timestamp),
            column("price", DataType::Float64),
            column("volume", DataType::Int64),
            column("venue", DataType::Symbol),
            column("qty", DataType::Int32),
        ],
        None,
        None,
    )
    .unwrap()
}

/// Rows of three symbols: `A` spans three chunks, `B` one partial chunk, `C` five rows.
/// Timestamps are distinct, batches arrive shuffled (out of order); some volumes are NULL.
fn model_rows() -> Vec<Row> {
    let counts = [("A", 2 * CHUNK_ROWS_MAX + 5000), ("B", 300), ("C", 5)];
    let mut rows = Vec::new();
    let mut i = 0i64;
    for (symbol, count) in counts {
        for _ in 0..count {
            rows.push(Row {
                symbol: symbol.into(),
                ts: 1_000 + i * 10,
                price: (i % 1000) as f64 + 0.5,
                volume: (i % 13 != 0).then_some(i % 7000),
                venue: (i % 11 != 0).then(|| ["X", "Y", "Z"][(i % 3) as usize].to_string()),
                qty: (i % 100) as i32,
            });
            i += 1;
        }
    }
    // A fixed shuffle (LCG) so batches are out of order within and across each other.
    let mut seed = 42u64;
    for k in (1..rows.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        rows.swap(k, (seed >> 33) as usize % (k + 1));
    }
    rows
}

fn store_with(rows: &[Row]) -> ShardStore {
    let schema = schema();
    let mut store = ShardStore::default();
    store.create_table(schema.clone(), false).unwrap();
    for batch_rows in rows.chunks(7_000) {
        let mut builder = BatchBuilder::all_columns(&schema).unwrap();
        for row in batch_rows {
            builder
                .push_value(SYMBOL, &Value::Str(row.symbol.clone()))
                .unwrap();
            builder.push_value(TS, &Value::Int(row.ts)).unwrap();
            builder.push_value(PRICE, &Value::Float(row.price)).unwrap();
            let volume = row.volume.map_or(Value::Null, Value::Int);
            builder.push_value(VOLUME, &volume).unwrap();
            let venue = row.venue.clone().map_or(Value::Null, Value::Str);
            builder.push_value(VENUE, &venue).unwrap();
            builder
                .push_value(QTY, &Value::Int(i64::from(row.qty)))
                .unwrap();
            builder.finish_row().unwrap();
        }
        store.apply("t", &builder.finish(), None).unwrap();
    }
    store.settle_late_rows();
    store
}

/// The model as stored: by symbol, in timestamp order (stable: ties keep model order).
fn expected(rows: &[Row]) -> BTreeMap<String, Vec<Row>> {
    let mut by_symbol: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for row in rows {
        by_symbol
            .entry(row.symbol.clone())
            .or_default()
            .push(row.clone());
    }
    for rows in by_symbol.values_mut() {
        rows.sort_by_key(|r| r.ts);
    }
    by_symbol
}

/// Every stored row by symbol, in storage order.
fn stored(store: &ShardStore) -> BTreeMap<String, Vec<Row>> {
    let table = store.table("t").unwrap();
    let mut out = BTreeMap::new();
    for partition in &table.partitions {
        let symbol = match &partition.key {
            SymbolKey::Str(s) => s.to_string(),
            SymbolKey::Int(v) => v.to_string(),
        };
        let mut rows = Vec::new();
        for chunk in &partition.chunks {
            let null = |column: usize, row: usize| {
                chunk.columns[column].nulls.as_ref().is_some_and(|m| m[row])
            };
            for row in 0..chunk.rows_count {
                let (
                    ColumnData::Timestamp(ts),
                    ColumnData::Float64(price),
                    ColumnData::Int64(volume),
                    ColumnData::SymbolIds(venue),
                    ColumnData::Int32(qty),
                ) = (
                    &chunk.columns[TS].data,
                    &chunk.columns[PRICE].data,
                    &chunk.columns[VOLUME].data,
                    &chunk.columns[VENUE].data,
                    &chunk.columns[QTY].data,
                )
                else {
                    panic!("unexpected column layout");
                };
                rows.push(Row {
                    symbol: symbol.clone(),
                    ts: ts[row],
                    price: price[row],
                    volume: (!null(VOLUME, row)).then_some(volume[row]),
                    venue: (!null(VENUE, row))
                        .then(|| table.dictionary.name(venue[row]).to_string()),
                    qty: qty[row],
                });
            }
        }
        out.insert(symbol, rows);
    }
    out
}

fn covers(zone: Zone, exact: Zone) -> bool {
    match (zone, exact) {
        (_, Zone::Unknown) => true,
        (Zone::Int { min, max }, Zone::Int { min: a, max: b }) => min <= a && b <= max,
        (Zone::Float { min, max }, Zone::Float { min: a, max: b }) => min <= a && b <= max,
        _ => false,
    }
}

/// Timestamp order, chunk sizes (all but the last full), zones that cover the values, row
/// counts, and the symbol index.
fn check_invariants(store: &ShardStore) {
    let table = store.table("t").unwrap();
    let mut table_rows = 0;
    for partition in &table.partitions {
        assert!(!partition.chunks.is_empty(), "empty partition kept");
        let last = partition.chunks.len() - 1;
        for (index, chunk) in partition.chunks.iter().enumerate() {
            assert!(chunk.rows_count > 0, "empty chunk kept");
            assert!(chunk.rows_count <= CHUNK_ROWS_MAX);
            if index < last {
                assert_eq!(chunk.rows_count, CHUNK_ROWS_MAX, "chunk {index} not full");
            }
            for column in &chunk.columns {
                // Out-of-order inserts may leave a chunk a superset zone; it must still cover.
                let exact = zone_of(&column.data, column.nulls.as_deref(), 0, chunk.rows_count);
                assert!(
                    covers(column.zone, exact),
                    "zone {:?} does not cover {exact:?} in chunk {index}",
                    column.zone
                );
                if let Some(mask) = &column.nulls {
                    assert_eq!(mask.len(), chunk.rows_count);
                }
            }
        }
        let ts: Vec<i64> = partition
            .chunks
            .iter()
            .flat_map(|c| c.timestamps(TS).to_vec())
            .collect();
        assert!(
            ts.windows(2).all(|w| w[0] <= w[1]),
            "timestamps out of order"
        );
        assert_eq!(partition.rows_count, ts.len());
        assert_eq!(table.partition(&partition.key), Some(partition));
        table_rows += ts.len() as u64;
    }
    assert_eq!(table.rows_count, table_rows);
}

fn col(index: usize) -> ScalarExpr {
    ScalarExpr::Column(index)
}

fn lit(value: Value) -> ScalarExpr {
    ScalarExpr::Literal(value)
}

fn bin(op: BinaryOp, left: ScalarExpr, right: ScalarExpr) -> ScalarExpr {
    ScalarExpr::Binary {
        op,
        left: Box::new(left),
        right: Box::new(right),
    }
}

fn delete(filter: Option<ScalarExpr>) -> Mutation {
    Mutation {
        table: "t".into(),
        symbols: None,
        filter,
        action: MutationAction::Delete,
    }
}

fn update(filter: Option<ScalarExpr>, assignments: Vec<(usize, ScalarExpr)>) -> Mutation {
    Mutation {
        table: "t".into(),
        symbols: None,
        filter,
        action: MutationAction::Update(
            assignments
                .into_iter()
                .map(|(column, value)| Assignment { column, value })
                .collect(),
        ),
    }
}

/// Applies `mutation` to a fresh store and `change` to the model, and compares them.
fn check(mutation: &Mutation, change: impl Fn(&mut Vec<Row>)) -> ShardStore {
    let mut rows = model_rows();
    let mut store = store_with(&rows);
    change(&mut rows);
    store.mutate(mutation).unwrap();
    assert_eq!(stored(&store), expected(&rows));
    check_invariants(&store);
    store
}

#[test]
fn delete_across_chunk_boundaries_keeps_the_rest_in_order() {
    // A's rows have ts 1_000 + 10 i: this range straddles A's first chunk boundary.
    let (low, high) = (1_000 + 10 * 16_000, 1_000 + 10 * 17_000);
    let filter = bin(
        BinaryOp::And,
        bin(BinaryOp::GtEq, col(TS), lit(Value::Int(low))),
        bin(BinaryOp::Lt, col(TS), lit(Value::Int(high))),
    );
    let mut rows = model_rows();
    let mut store = store_with(&rows);
    let affected = store.mutate(&delete(Some(filter))).unwrap();
    rows.retain(|r| !(r.ts >= low && r.ts < high));
    assert_eq!(affected, 1_000);
    assert_eq!(stored(&store), expected(&rows));
    check_invariants(&store);
}

#[test]
fn delete_of_scattered_rows_with_nulls_in_the_filter() {
    // volume % 3 = 0 is NULL (not true) on NULL volumes: those rows stay.
    let filter = bin(
        BinaryOp::Eq,
        bin(BinaryOp::Modulo, col(VOLUME), lit(Value::Int(3))),
        lit(Value::Int(0)),
    );
    check(&delete(Some(filter)), |rows| {
        rows.retain(|r| r.volume.is_none_or(|v| v % 3 != 0))
    });
}

#[test]
fn deleting_a_whole_partition_removes_it_and_it_can_come_back() {
    let filter = bin(BinaryOp::Eq, col(SYMBOL), lit(Value::Str("B".into())));
    let mut store = check(&delete(Some(filter)), |rows| {
        rows.retain(|r| r.symbol != "B")
    });
    let table = store.table("t").unwrap();
    assert!(table.partition(&SymbolKey::Str("B".into())).is_none());
    // A fresh B row after the delete lands in a new partition, found by its key.
    let again = vec![Row {
        symbol: "B".into(),
        ts: 5,
        price: 1.0,
        volume: None,
        venue: None,
        qty: 0,
    }];
    store
        .apply("t", &batch_of(&again), None)
        .expect("insert after delete");
    assert_eq!(stored(&store)["B"], again);
    check_invariants(&store);
}

fn batch_of(rows: &[Row]) -> crate::batch::RowBatch {
    let schema = schema();
    let mut builder = BatchBuilder::all_columns(&schema).unwrap();
    for row in rows {
        builder
            .push_value(SYMBOL, &Value::Str(row.symbol.clone()))
            .unwrap();
        builder.push_value(TS, &Value::Int(row.ts)).unwrap();
        builder.push_value(PRICE, &Value::Float(row.price)).unwrap();
        builder
            .push_value(VOLUME, &row.volume.map_or(Value::Null, Value::Int))
            .unwrap();
        builder
            .push_value(VENUE, &row.venue.clone().map_or(Value::Null, Value::Str))
            .unwrap();
        builder
            .push_value(QTY, &Value::Int(i64::from(row.qty)))
            .unwrap();
        builder.finish_row().unwrap();
    }
    builder.finish()
}

#[test]
fn delete_without_filter_empties_the_table() {
    let store = check(&delete(None), Vec::clear);
    assert!(store.table("t").unwrap().partitions.is_empty());
}

#[test]
fn delete_that_matches_nothing_changes_nothing() {
    let filter = bin(BinaryOp::Lt, col(TS), lit(Value::Int(0)));
    let rows = model_rows();
    let mut store = store_with(&rows);
    assert_eq!(store.mutate(&delete(Some(filter))).unwrap(), 0);
    assert_eq!(stored(&store), expected(&rows));
}

#[test]
fn update_across_chunks_sets_values_nulls_and_zones() {
    let filter = bin(BinaryOp::Gt, col(VOLUME), lit(Value::Int(5_000)));
    let mutation = update(
        Some(filter),
        vec![
            (
                PRICE,
                bin(BinaryOp::Multiply, col(PRICE), lit(Value::Int(2))),
            ),
            (VENUE, lit(Value::Str("NEW".into()))),
            (QTY, lit(Value::Null)),
        ],
    );
    // qty is never NULL in the model's type; model NULL as the stored default 0 with a mask
    // check below.
    let mut rows = model_rows();
    let mut store = store_with(&rows);
    let affected = store.mutate(&mutation).unwrap();
    let mut count = 0;
    for row in &mut rows {
        if row.volume.is_some_and(|v| v > 5_000) {
            row.price *= 2.0;
            row.venue = Some("NEW".into());
            row.qty = 0;
            count += 1;
        }
    }
    assert_eq!(affected, count);
    assert_eq!(stored(&store), expected(&rows));
    check_invariants(&store);
    let nulls: usize = store
        .table("t")
        .unwrap()
        .partitions
        .iter()
        .flat_map(|p| &p.chunks)
        .map(|c| {
            c.columns[QTY]
                .nulls
                .as_ref()
                .map_or(0, |m| m.iter().filter(|&&n| n).count())
        })
        .sum();
    assert_eq!(nulls as u64, count);
}

#[test]
fn update_reads_every_value_before_writing_any() {
    // volume = volume + 1 and price = volume: price gets the old volume.
    let mutation = update(
        Some(bin(BinaryOp::Eq, col(SYMBOL), lit(Value::Str("B".into())))),
        vec![
            (VOLUME, bin(BinaryOp::Add, col(VOLUME), lit(Value::Int(1)))),
            (PRICE, col(VOLUME)),
        ],
    );
    let mut rows = model_rows();
    let mut store = store_with(&rows);
    store.mutate(&mutation).unwrap();
    // A NULL volume stays NULL and makes the price NULL, stored as 0.0 under a mask.
    for row in rows.iter_mut().filter(|r| r.symbol == "B") {
        row.price = row.volume.map_or(0.0, |v| v as f64);
        row.volume = row.volume.map(|v| v + 1);
    }
    assert_eq!(stored(&store), expected(&rows));
    check_invariants(&store);
}

#[test]
fn update_of_the_timestamp_resorts_the_partition() {
    // Even-qty rows of A move 200_000 ns (20_000 rows) earlier, past chunk boundaries; some
    // land on the timestamps of other rows: ties keep the rows' previous order.
    let filter = bin(
        BinaryOp::And,
        bin(BinaryOp::Eq, col(SYMBOL), lit(Value::Str("A".into()))),
        bin(
            BinaryOp::Eq,
            bin(BinaryOp::Modulo, col(QTY), lit(Value::Int(2))),
            lit(Value::Int(0)),
        ),
    );
    let mutation = update(
        Some(filter),
        vec![(
            TS,
            bin(BinaryOp::Subtract, col(TS), lit(Value::Int(200_000))),
        )],
    );
    let rows = model_rows();
    let mut store = store_with(&rows);
    store.mutate(&mutation).unwrap();
    let mut want = expected(&rows);
    let a = want.get_mut("A").unwrap();
    for row in a.iter_mut().filter(|r| r.qty % 2 == 0) {
        row.ts -= 200_000;
    }
    a.sort_by_key(|r| r.ts);
    assert_eq!(stored(&store), want);
    check_invariants(&store);
}

#[test]
fn failed_updates_change_nothing() {
    let rows = model_rows();
    let mut store = store_with(&rows);
    let too_big = update(None, vec![(QTY, lit(Value::Int(i64::from(i32::MAX) + 1)))]);
    assert!(store.mutate(&too_big).is_err());
    let null_ts = update(None, vec![(TS, lit(Value::Null))]);
    assert!(store.mutate(&null_ts).is_err());
    let text_into_number = update(None, vec![(PRICE, lit(Value::Str("x".into())))]);
    assert!(store.mutate(&text_into_number).is_err());
    let symbol = update(None, vec![(SYMBOL, lit(Value::Str("Z".into())))]);
    assert!(store.mutate(&symbol).is_err());
    let twice = update(
        None,
        vec![(QTY, lit(Value::Int(1))), (QTY, lit(Value::Int(2)))],
    );
    assert!(store.mutate(&twice).is_err());
    assert_eq!(stored(&store), expected(&rows));
    check_invariants(&store);
}

#[test]
fn symbols_restrict_partitions_and_repeats_apply_once() {
    let mut mutation = update(
        Some(bin(BinaryOp::GtEq, col(QTY), lit(Value::Int(0)))),
        vec![(QTY, bin(BinaryOp::Add, col(QTY), lit(Value::Int(1))))],
    );
    mutation.symbols = Some(vec![
        SymbolKey::Str("C".into()),
        SymbolKey::Str("C".into()),
        SymbolKey::Str("missing".into()),
    ]);
    check(&mutation, |rows| {
        for row in rows.iter_mut().filter(|r| r.symbol == "C") {
            row.qty += 1;
        }
    });
}

/// count(volume) and sum(volume) over the whole table: full chunks answer from their memo.
fn volume_aggregates(store: &ShardStore) -> (Value, Value) {
    let fragment = Fragment {
        table: "t".into(),
        symbols: None,
        filter: None,
        output: FragmentOutput::Aggregate {
            reaggregate: None,
            group_by: vec![],
            aggregates: vec![
                AggregateCall {
                    function: AggregateFunction::Count,
                    args: vec![col(VOLUME)],
                },
                AggregateCall {
                    function: AggregateFunction::Sum,
                    args: vec![col(VOLUME)],
                },
            ],
        },
        asof: None,
    };
    let FragmentData::Groups(groups) = run_fragment(store, &fragment).unwrap().data else {
        panic!("aggregate fragment returned rows");
    };
    let states: &[AggState] = &groups[0].states;
    (
        states[0].finish(AggregateFunction::Count).unwrap(),
        states[1].finish(AggregateFunction::Sum).unwrap(),
    )
}

fn brute_volume_aggregates(rows: &[Row]) -> (Value, Value) {
    let volumes: Vec<i64> = rows.iter().filter_map(|r| r.volume).collect();
    (
        Value::Int(volumes.len() as i64),
        Value::Int(volumes.iter().sum()),
    )
}

#[test]
fn mutations_invalidate_memoized_aggregates() {
    let mut rows = model_rows();
    let mut store = store_with(&rows);
    let before = volume_aggregates(&store);
    assert_eq!(before, brute_volume_aggregates(&rows));
    // Memoized now; an UPDATE inside full chunks must not leave the old states behind.
    let filter = bin(BinaryOp::Lt, col(VOLUME), lit(Value::Int(100)));
    store
        .mutate(&update(
            Some(filter),
            vec![(
                VOLUME,
                bin(BinaryOp::Add, col(VOLUME), lit(Value::Int(1_000))),
            )],
        ))
        .unwrap();
    for row in &mut rows {
        if let Some(v) = row.volume.as_mut().filter(|v| **v < 100) {
            *v += 1_000;
        }
    }
    let updated = volume_aggregates(&store);
    assert_ne!(updated, before);
    assert_eq!(updated, brute_volume_aggregates(&rows));
    // And a DELETE.
    let filter = bin(BinaryOp::Gt, col(VOLUME), lit(Value::Int(6_000)));
    store.mutate(&delete(Some(filter))).unwrap();
    rows.retain(|r| r.volume.is_none_or(|v| v <= 6_000));
    let deleted = volume_aggregates(&store);
    assert_ne!(deleted, updated);
    assert_eq!(deleted, brute_volume_aggregates(&rows));
    check_invariants(&store);
}
