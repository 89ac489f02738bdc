//! The co-located ASOF join against the coordinator's row-wise join of the same rows, over two
//! shards: partitions spanning several chunks on both sides, and partitions whose rows never
//! meet (right side after the left, before it, absent), with the filters and time bounds the
//! shard uses to skip work (zone maps on the left filter, time windows on either side).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use common::{below, TwoShards};
use quecto_engine::types::Value;

/// Trades of symbol 1 and its quotes each span three chunks of 16384 rows.
const BUSY_ROWS: i64 = 40_000;

/// A trade or quote: (symbol, ts, id); a trade's price and a quote's bid are its id.
type Tick = (i64, i64, i64);

/// trades(symbol, ts, price, volume) and quotes(symbol, ts, bid, ask), inserted in shuffled
/// batches. Symbol 1: both sides interleaved, quotes starting a little before trades, ties on a
/// coarse grid; every 97th ask NULL. Symbol 2: every quote after the last trade. Symbol 3: every quote before the
/// first trade. Symbol 4: no quotes. Symbol 5: a few of each, the first quote first.
fn market() -> (TwoShards, Vec<Tick>, Vec<Tick>) {
    let mut db = TwoShards::new();
    db.rows("CREATE TABLE trades (symbol INT64, ts TIMESTAMP, price FLOAT64, volume INT64)");
    db.rows("CREATE TABLE quotes (symbol INT64, ts TIMESTAMP, bid FLOAT64, ask FLOAT64)");
    let mut next = below(0x5DEE_CE66_D1CE_4E5B);
    let mut trades: Vec<Tick> = Vec::new();
    let mut quotes: Vec<Tick> = Vec::new();
    let tick = |ticks: &mut Vec<Tick>, symbol: i64, ts: i64| {
        let id = ticks.len() as i64;
        ticks.push((symbol, ts, id));
    };
    for i in 0..BUSY_ROWS {
        tick(&mut trades, 1, 100_000 + i * 10 + next(10) as i64);
        tick(&mut quotes, 1, 99_950 + i * 10 + next(4) as i64 * 3);
    }
    for i in 0..300 {
        tick(&mut trades, 2, 1_000 + i);
        tick(&mut quotes, 2, 900_000 + i);
        tick(&mut trades, 3, 900_000 + i * 2);
        tick(&mut quotes, 3, 1_000 + i);
        tick(&mut trades, 4, 1_000 + i * 3);
    }
    for i in 0..50 {
        tick(&mut trades, 5, 2_000 + i * 7);
        tick(&mut quotes, 5, 1_990 + i * 11);
    }
    let trade_row = |&(s, t, id): &Tick| format!("({s}, {t}, {id}, {})", 1 + id % 7);
    // Some asks are NULL: the gathered column keeps their NULLs apart from unmatched rows'.
    let quote_row = |&(s, t, id): &Tick| match id % 97 {
        0 => format!("({s}, {t}, {id}, NULL)"),
        _ => format!("({s}, {t}, {id}, {})", id as f64 + 0.5),
    };
    insert_shuffled(&mut db, "trades", &trades, trade_row, &mut next);
    insert_shuffled(&mut db, "quotes", &quotes, quote_row, &mut next);
    (db, trades, quotes)
}

/// Inserts `ticks` in four batches of random rows, so partitions merge out-of-order batches.
fn insert_shuffled(
    db: &mut TwoShards,
    table: &str,
    ticks: &[Tick],
    row: impl Fn(&Tick) -> String,
    next: &mut impl FnMut(u64) -> u64,
) {
    let mut batches: Vec<Vec<String>> = vec![Vec::new(); 4];
    for tick in ticks {
        batches[next(4) as usize].push(row(tick));
    }
    for batch in batches.iter().filter(|b| !b.is_empty()) {
        db.rows(&format!("INSERT INTO {table} VALUES {}", batch.join(", ")));
    }
}

fn explain(db: &mut TwoShards, sql: &str) -> String {
    let rows = db.rows(&format!("EXPLAIN {sql}"));
    rows.iter().map(|r| format!("{}\n", r[0])).collect()
}

/// The trades side of a query: the table, or a derived table, aliased `t`.
struct Trades<'a>(&'a str);

/// `trades t` itself: the WHERE's conjuncts on `t` reach its scan and are applied again over
/// the joined rows.
const TRADES: Trades<'static> = Trades("trades t");

/// Runs `select … FROM {trades} {join} <quotes> q ON t.symbol = q.symbol {rest}` twice: with
/// `quotes` as a plain scan (co-located) and with a computed `bid` (the coordinator's join),
/// checks which plan each got, and asserts they answer the same rows.
fn assert_plans_agree(
    db: &mut TwoShards,
    select: &str,
    trades: &Trades<'_>,
    join: &str,
    quotes_where: &str,
    rest: &str,
) {
    let trades = trades.0;
    let colocated = format!(
        "{select} FROM {trades} {join} (SELECT * FROM quotes{quotes_where}) q \
         ON t.symbol = q.symbol {rest}"
    );
    let coordinator = format!(
        "{select} FROM {trades} {join} \
         (SELECT symbol, ts, bid + 0 AS bid, ask FROM quotes{quotes_where}) q \
         ON t.symbol = q.symbol {rest}"
    );
    let text = explain(db, &colocated);
    assert!(
        text.contains("co-located ASOF join on shards"),
        "{colocated}\n{text}"
    );
    let text = explain(db, &coordinator);
    assert!(text.contains("ASOF merge join"), "{coordinator}\n{text}");
    let (got, expected) = (db.rows(&colocated), db.rows(&coordinator));
    assert_eq!(got.len(), expected.len(), "{colocated}");
    for (got_row, expected_row) in got.iter().zip(&expected) {
        let same = got_row
            .iter()
            .zip(expected_row)
            .all(|(a, b)| same_value(a, b));
        assert!(same, "{colocated}\n{got_row:?}\n{expected_row:?}");
    }
}

/// Equal, floats up to rounding (the two joins add in different orders).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => (x - y).abs() <= 1e-9 * y.abs().max(1.0),
        _ => a == b,
    }
}

/// The join forms: inclusive, strict, with a tolerance, and QuestDB's LT JOIN.
const JOINS: [(&str, &str); 6] = [
    ("ASOF JOIN", "AND t.ts >= q.ts"),
    ("ASOF LEFT JOIN", "AND t.ts >= q.ts"),
    ("ASOF JOIN", "AND t.ts > q.ts"),
    ("ASOF LEFT JOIN", "AND t.ts >= q.ts TOLERANCE 4ns"),
    ("ASOF JOIN", "AND t.ts >= q.ts TOLERANCE 0ns"),
    ("LT JOIN", ""),
];

const PER_SYMBOL: &str = "SELECT t.symbol, count(), count(q.bid), count(q.ask), sum(q.bid), \
                          sum(q.ask - q.bid), sum(t.volume * (t.price - q.bid)), min(q.bid), \
                          max(t.price)";

#[test]
fn every_partition_shape_and_join_form_agrees_with_the_coordinator_join() {
    let (mut db, _, _) = market();
    for (join, on) in JOINS {
        let rest = format!("{on} GROUP BY t.symbol ORDER BY t.symbol");
        assert_plans_agree(&mut db, PER_SYMBOL, &TRADES, join, "", &rest);
    }
    // Rows, not aggregates: every trade with the quote it met.
    for (join, on) in JOINS {
        let rest = format!("{on} ORDER BY t.price, t.symbol");
        let select = "SELECT t.symbol, t.price, q.bid, q.ts";
        assert_plans_agree(
            &mut db,
            select,
            &TRADES,
            join,
            " WHERE symbol IN (2, 3, 5)",
            &rest,
        );
    }
}

#[test]
fn partitions_that_never_meet_answer_nothing_or_nulls() {
    let (mut db, trades, quotes) = market();
    let count = |ticks: &[Tick], symbol: i64| ticks.iter().filter(|t| t.0 == symbol).count() as i64;
    let sql = |join: &str, symbol: i64| {
        format!(
            "SELECT count(), count(q.bid), sum(q.bid), max(q.bid) FROM trades t {join} quotes q \
             ON t.symbol = q.symbol AND t.ts >= q.ts WHERE t.symbol = {symbol}"
        )
    };
    let last_quote = |symbol: i64| quotes.iter().rfind(|q| q.0 == symbol).unwrap().2;
    // Symbol 2: every quote after every trade; symbol 4: no quotes at all.
    for symbol in [2, 4] {
        let text = explain(&mut db, &sql("ASOF JOIN", symbol));
        assert!(text.contains("co-located ASOF join on shards"), "{text}");
        let rows = db.rows(&sql("ASOF JOIN", symbol));
        assert_eq!(
            rows[0],
            [Value::Int(0), Value::Int(0), Value::Null, Value::Null]
        );
        let rows = db.rows(&sql("ASOF LEFT JOIN", symbol));
        let n = Value::Int(count(&trades, symbol));
        assert_eq!(rows[0], [n, Value::Int(0), Value::Null, Value::Null]);
    }
    // Symbol 3: every quote before every trade, so every trade meets the last quote.
    let rows = db.rows(&sql("ASOF JOIN", 3));
    let (n, last) = (count(&trades, 3), last_quote(3));
    let all_last = [n, n].map(Value::Int);
    assert_eq!(rows[0][..2], all_last);
    assert_eq!(
        rows[0][2..],
        [(n * last) as f64, last as f64].map(Value::Float)
    );
}

/// The three places a filter on trades can be written: the WHERE over `trades t` (applied in
/// the trades scan and again over the joined rows), a derived table's WHERE (the scan only)
/// and the WHERE over a derived table without one (the joined rows only). `filter` names the
/// trades columns bare; returns (trades side, WHERE clause) pairs.
fn filter_placements(filter: &str) -> [(String, String); 3] {
    let qualified = ["ts", "price", "volume"]
        .iter()
        .fold(filter.to_string(), |f, c| f.replace(c, &format!("t.{c}")));
    [
        ("trades t".into(), format!("WHERE {qualified}")),
        (
            format!("(SELECT * FROM trades WHERE {filter}) t"),
            String::new(),
        ),
        (
            "(SELECT * FROM trades) t".into(),
            format!("WHERE {qualified}"),
        ),
    ]
}

#[test]
fn time_bounds_on_either_side_narrow_the_walk_without_changing_answers() {
    let (mut db, _, _) = market();
    let middle = 100_000 + BUSY_ROWS * 5;
    let (from, to) = (middle - 70_000, middle + 90_000);
    let on = "AND t.ts >= q.ts";
    let by_symbol = "GROUP BY t.symbol ORDER BY t.symbol";
    for join in ["ASOF JOIN", "ASOF LEFT JOIN"] {
        // Bounds on the trades, alone and with another conjunct, wherever they are written.
        for filter in [
            format!("ts BETWEEN {from} AND {to}"),
            format!("ts > {from} AND volume > 3 AND ts < {to}"),
        ] {
            for (trades, filter) in filter_placements(&filter) {
                let rest = format!("{on} {filter} {by_symbol}");
                assert_plans_agree(&mut db, PER_SYMBOL, &Trades(&trades), join, "", &rest);
            }
        }
        // Bounds on the quotes: only those quotes may be met (earlier trades meet none).
        let rest = format!("{on} {by_symbol}");
        let quotes_where = format!(" WHERE ts >= {from} AND ts <= {to}");
        assert_plans_agree(&mut db, PER_SYMBOL, &TRADES, join, &quotes_where, &rest);
        let quotes_where = format!(" WHERE ts >= {from} AND bid > {BUSY_ROWS} / 3");
        assert_plans_agree(&mut db, PER_SYMBOL, &TRADES, join, &quotes_where, &rest);
        // A bound on the met quote's time filters joined rows: not a bound on the walk.
        let rest = format!("{on} WHERE q.ts >= {from} {by_symbol}");
        assert_plans_agree(&mut db, PER_SYMBOL, &TRADES, join, "", &rest);
    }
}

#[test]
fn left_filters_are_dropped_kept_or_skip_chunks_as_zone_maps_decide() {
    let (mut db, trades, _) = market();
    // Prices are ids, ascending in time: these bounds pass whole chunks, skip others, and cut
    // one, so each left chunk takes a different path.
    let (low, high) = (10_000, 30_000);
    for (join, on) in JOINS {
        for filter in [
            format!("price >= {low} AND price < {high}"),
            format!("price >= {low} AND volume <> 4"),
            format!("price < {high} OR volume = 2"),
        ] {
            for (trades, filter) in filter_placements(&filter) {
                let rest = format!("{on} {filter} GROUP BY t.symbol ORDER BY t.symbol");
                assert_plans_agree(&mut db, PER_SYMBOL, &Trades(&trades), join, "", &rest);
            }
        }
    }
    let sql = format!(
        "SELECT count() FROM (SELECT * FROM trades WHERE price >= {low} AND price < {high}) t \
         ASOF LEFT JOIN quotes q ON t.symbol = q.symbol AND t.ts >= q.ts"
    );
    let expected = trades.iter().filter(|t| (low..high).contains(&t.2)).count();
    assert_eq!(db.rows(&sql)[0][0], Value::Int(expected as i64));
}

#[test]
fn first_and_last_order_the_joined_rows_by_the_trade_time() {
    let (mut db, _, _) = market();
    let select = "SELECT t.symbol, first(q.bid), last(q.bid), first(t.price), last(q.ask)";
    for (join, on) in JOINS {
        let rest = format!("{on} GROUP BY t.symbol ORDER BY t.symbol");
        assert_plans_agree(&mut db, select, &TRADES, join, "", &rest);
    }
}
