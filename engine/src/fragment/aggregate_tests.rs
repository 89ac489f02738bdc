//! Aggregate states against brute force: random data (fixed seeds) cut into random partial
//! states, merged in random order, through both the column path (`update`) and the row path
//! (`update_values`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::borrow::Cow;
use std::cmp::Ordering;

use super::aggregate::{AggState, UpdateRows};
use super::plan::{AggregateFunction, QuantileLevel};
use super::vector::{Column, Vector};
use crate::types::{DataType, Value};

/// xorshift64*: small, deterministic, good enough to shuffle test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

/// Rows of argument values plus a filter: the input both paths aggregate.
struct Data {
    /// One vector of values per argument.
    args: Vec<Vec<Value>>,
    /// Distinct, increasing timestamps.
    timestamps: Vec<i64>,
    /// Rows the (pretend) filter keeps.
    keep: Vec<bool>,
}

impl Data {
    fn new(rng: &mut Rng, args: Vec<Vec<Value>>) -> Data {
        let rows = args.first().map_or(0, Vec::len);
        Data {
            args,
            timestamps: (0..rows as i64).map(|t| 1_000 + 3 * t).collect(),
            keep: (0..rows).map(|_| !rng.chance(15)).collect(),
        }
    }

    fn rows(&self) -> usize {
        self.timestamps.len()
    }

    /// The kept rows whose arguments are all non-NULL.
    fn live_rows(&self) -> Vec<Vec<Value>> {
        (0..self.rows())
            .filter(|&row| self.keep[row] && self.args.iter().all(|a| !a[row].is_null()))
            .map(|row| self.args.iter().map(|a| a[row].clone()).collect())
            .collect()
    }

    /// The live values of the first argument as numbers.
    fn live_numbers(&self) -> Vec<f64> {
        self.live_rows()
            .iter()
            .map(|r| r[0].as_f64().unwrap())
            .collect()
    }
}

/// Strings of symbol columns, by id.
const SYMBOLS: [&str; 5] = ["AAPL", "IBM", "MSFT", "A", "ZZ"];

fn symbol_name(id: u32) -> String {
    SYMBOLS[id as usize].to_string()
}

/// A column holding `values` (all non-NULL ones of one kind).
fn column(values: &[Value]) -> Column<'static> {
    let nulls: Vec<bool> = values.iter().map(Value::is_null).collect();
    let kind = values.iter().find(|v| !v.is_null());
    let data = match kind {
        Some(Value::Float(_)) => Vector::Float(Cow::Owned(
            values.iter().map(|v| v.as_f64().unwrap_or(0.0)).collect(),
        )),
        Some(Value::Str(_)) => Vector::Sym(Cow::Owned(
            values
                .iter()
                .map(|v| match v {
                    Value::Str(s) => SYMBOLS.iter().position(|x| x == s).unwrap() as u32,
                    _ => 0,
                })
                .collect(),
        )),
        _ => Vector::Int(Cow::Owned(
            values
                .iter()
                .map(|v| match v {
                    Value::Int(x) => *x,
                    _ => 0,
                })
                .collect(),
        )),
    };
    Column {
        data,
        nulls: nulls.contains(&true).then_some(Cow::Owned(nulls)),
    }
}

/// Folds `parts` into one state in a random order.
fn merged(function: AggregateFunction, mut parts: Vec<AggState>, rng: &mut Rng) -> AggState {
    rng.shuffle(&mut parts);
    let mut state = AggState::new(function);
    for part in parts {
        state.merge(part).unwrap();
    }
    state
}

/// The column path: random contiguous ranges, one state each, merged in random order.
fn by_columns(function: AggregateFunction, data: &Data, rng: &mut Rng) -> Value {
    let columns: Vec<Column<'_>> = data.args.iter().map(|a| column(a)).collect();
    let mut parts = Vec::new();
    let mut start = 0;
    while start < data.rows() {
        let end = (start + 1 + rng.below(97) as usize).min(data.rows());
        let mut state = AggState::new(function);
        let rows = UpdateRows {
            range: start..end,
            timestamps: &data.timestamps,
            keep: Some(&data.keep),
            symbol_name: &symbol_name,
        };
        state.update(&columns, &rows).unwrap();
        parts.push(state);
        start = end;
    }
    merged(function, parts, rng).finish(function).unwrap()
}

/// The row path: rows dealt to random groups, each fed row by row, merged in random order.
fn by_rows(function: AggregateFunction, data: &Data, rng: &mut Rng) -> Value {
    let mut parts: Vec<AggState> = (0..7).map(|_| AggState::new(function)).collect();
    for row in (0..data.rows()).filter(|&r| data.keep[r]) {
        let args: Vec<Value> = data.args.iter().map(|a| a[row].clone()).collect();
        let group = rng.below(parts.len() as u64) as usize;
        parts[group]
            .update_values(&args, data.timestamps[row])
            .unwrap();
    }
    merged(function, parts, rng).finish(function).unwrap()
}

fn assert_close(actual: &Value, expected: Option<f64>, what: &str) {
    match (actual, expected) {
        (Value::Null, None) => {}
        (Value::Float(a), Some(e)) => {
            let tolerance = 1e-9 * e.abs().max(1.0);
            assert!((a - e).abs() <= tolerance, "{what}: {a} vs {e}");
        }
        (a, e) => panic!("{what}: {a:?} vs {e:?}"),
    }
}

/// Random floats far from zero (where naive Σx² - n·mean² loses every digit), ~10% NULL.
fn floats(rng: &mut Rng, rows: usize) -> Vec<Value> {
    (0..rows)
        .map(|_| {
            if rng.chance(10) {
                Value::Null
            } else {
                Value::Float(1e9 + rng.below(1_000_000) as f64 / 1000.0)
            }
        })
        .collect()
}

/// Random small integers with many ties, ~10% NULL.
fn small_ints(rng: &mut Rng, rows: usize, range: u64) -> Vec<Value> {
    (0..rows)
        .map(|_| {
            if rng.chance(10) {
                Value::Null
            } else {
                Value::Int(rng.below(range) as i64 - (range / 2) as i64)
            }
        })
        .collect()
}

/// Two-pass population and sample variance.
fn two_pass_variance(xs: &[f64]) -> (Option<f64>, Option<f64>) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let m2: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
    (
        (!xs.is_empty()).then_some(m2 / n),
        (xs.len() > 1).then(|| m2 / (n - 1.0)),
    )
}

fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    xs
}

fn sorted_cont(xs: &[f64], level: f64) -> Option<f64> {
    let xs = sorted(xs);
    let position = level * (xs.len().checked_sub(1)?) as f64;
    let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
    Some(xs[lo] + (position - lo as f64) * (xs[hi] - xs[lo]))
}

fn sorted_disc(xs: &[f64], level: f64) -> Option<f64> {
    let xs = sorted(xs);
    let rank = (level * xs.len() as f64).ceil() as usize;
    xs.get(rank.max(1) - 1).copied()
}

fn level(p: f64) -> QuantileLevel {
    QuantileLevel::new(p).unwrap()
}

#[test]
fn variance_and_stddev_match_two_pass_over_random_partials() {
    let mut rng = Rng(0x5eed_0001);
    for rows in [0, 1, 2, 3, 50, 2_000] {
        for args in [floats(&mut rng, rows), small_ints(&mut rng, rows, 1_000)] {
            let data = Data::new(&mut rng, vec![args]);
            let (pop, samp) = two_pass_variance(&data.live_numbers());
            let cases = [
                (AggregateFunction::VarPop, pop),
                (AggregateFunction::VarSamp, samp),
                (AggregateFunction::StddevPop, pop.map(f64::sqrt)),
                (AggregateFunction::StddevSamp, samp.map(f64::sqrt)),
            ];
            for (function, expected) in cases {
                let what = format!("{} over {rows} rows", function.name());
                assert_close(&by_columns(function, &data, &mut rng), expected, &what);
                assert_close(&by_rows(function, &data, &mut rng), expected, &what);
            }
        }
    }
}

#[test]
fn quantiles_match_sorting() {
    let mut rng = Rng(0x5eed_0002);
    for rows in [0, 1, 2, 5, 777] {
        for args in [floats(&mut rng, rows), small_ints(&mut rng, rows, 9)] {
            let data = Data::new(&mut rng, vec![args]);
            let xs = data.live_numbers();
            for p in [0.0, 0.1, 0.25, 0.5, 0.3, 0.9, 0.999, 1.0] {
                let cases = [
                    (
                        AggregateFunction::Quantile { level: level(p) },
                        sorted_cont(&xs, p),
                    ),
                    (
                        AggregateFunction::QuantileDisc { level: level(p) },
                        sorted_disc(&xs, p),
                    ),
                ];
                for (function, expected) in cases {
                    let expected = expected.map_or(Value::Null, Value::Float);
                    let what = format!("{} {p} over {rows} rows", function.name());
                    assert_eq!(by_columns(function, &data, &mut rng), expected, "{what}");
                    assert_eq!(by_rows(function, &data, &mut rng), expected, "{what}");
                }
            }
        }
    }
}

#[test]
fn quantile_interpolates_between_neighbours() {
    let mut rng = Rng(0x5eed_0003);
    let values = [3, 1, 4, 1, 5].map(Value::Int).to_vec();
    let data = Data {
        keep: vec![true; values.len()],
        timestamps: (0..values.len() as i64).collect(),
        args: vec![values],
    };
    // Sorted: 1 1 3 4 5. Median = 3; p = 0.6 → position 2.4 → 3 + 0.4·(4 - 3).
    let median = AggregateFunction::Quantile {
        level: QuantileLevel::MEDIAN,
    };
    assert_eq!(by_columns(median, &data, &mut rng), Value::Float(3.0));
    let cont = AggregateFunction::Quantile { level: level(0.6) };
    assert_eq!(
        by_rows(cont, &data, &mut rng),
        Value::Float(3.0 + 0.4 * 1.0)
    );
    // Discrete 0.6: ⌈0.6·5⌉ = 3rd value.
    let disc = AggregateFunction::QuantileDisc { level: level(0.6) };
    assert_eq!(by_columns(disc, &data, &mut rng), Value::Float(3.0));
}

/// Brute-force arg_min/arg_max: order (key, value) pairs, the key descending for arg_max and
/// the value always ascending, and take the first.
fn brute_arg(data: &Data, want_min: bool) -> Value {
    let mut pairs: Vec<(Value, Value)> = data
        .live_rows()
        .into_iter()
        .map(|r| (r[1].clone(), r[0].clone()))
        .collect();
    pairs.sort_by(|a, b| {
        let by_key = a.0.total_cmp(&b.0);
        let by_key = if want_min { by_key } else { by_key.reverse() };
        by_key.then_with(|| a.1.total_cmp(&b.1))
    });
    pairs.first().map_or(Value::Null, |(_, v)| v.clone())
}

fn symbols(rng: &mut Rng, rows: usize) -> Vec<Value> {
    (0..rows)
        .map(|_| {
            if rng.chance(10) {
                Value::Null
            } else {
                Value::Str(SYMBOLS[rng.below(SYMBOLS.len() as u64) as usize].into())
            }
        })
        .collect()
}

#[test]
fn arg_min_max_take_the_extreme_key_and_break_ties_by_the_smallest_value() {
    let mut rng = Rng(0x5eed_0004);
    for rows in [0, 1, 2, 40, 1_500] {
        let shapes = [
            (floats(&mut rng, rows), small_ints(&mut rng, rows, 7)),
            (symbols(&mut rng, rows), small_ints(&mut rng, rows, 3)),
            (small_ints(&mut rng, rows, 50), floats(&mut rng, rows)),
            (small_ints(&mut rng, rows, 50), symbols(&mut rng, rows)),
        ];
        for (values, keys) in shapes {
            let data = Data::new(&mut rng, vec![values, keys]);
            for (function, want_min) in [
                (AggregateFunction::ArgMin, true),
                (AggregateFunction::ArgMax, false),
            ] {
                let expected = brute_arg(&data, want_min);
                let what = format!("{} over {rows} rows", function.name());
                assert_eq!(by_columns(function, &data, &mut rng), expected, "{what}");
                assert_eq!(by_rows(function, &data, &mut rng), expected, "{what}");
            }
        }
    }
}

#[test]
fn arg_min_ties_keep_the_smaller_value_in_any_merge_order() {
    let mut rng = Rng(0x5eed_0005);
    let data = Data {
        args: vec![
            [9, 4, 7, 1, 8].map(Value::Int).to_vec(),
            [2, 1, 1, 5, 1].map(Value::Int).to_vec(),
        ],
        timestamps: (0..5).collect(),
        keep: vec![true; 5],
    };
    for _ in 0..20 {
        assert_eq!(
            by_columns(AggregateFunction::ArgMin, &data, &mut rng),
            Value::Int(4)
        );
        assert_eq!(
            by_rows(AggregateFunction::ArgMax, &data, &mut rng),
            Value::Int(1)
        );
    }
}

/// Every function over `data`, both paths, as (column path, row path).
fn both_paths(function: AggregateFunction, data: &Data, rng: &mut Rng) -> (Value, Value) {
    (
        by_columns(function, data, rng),
        by_rows(function, data, rng),
    )
}

fn new_functions() -> Vec<AggregateFunction> {
    vec![
        AggregateFunction::VarPop,
        AggregateFunction::VarSamp,
        AggregateFunction::StddevPop,
        AggregateFunction::StddevSamp,
        AggregateFunction::Quantile {
            level: QuantileLevel::MEDIAN,
        },
        AggregateFunction::QuantileDisc { level: level(0.0) },
        AggregateFunction::ArgMin,
        AggregateFunction::ArgMax,
    ]
}

/// Arguments for `function` made of `value` repeated `rows` times.
fn args_of(function: AggregateFunction, value: Value, rows: usize) -> Vec<Vec<Value>> {
    let arity = *function.arity().end();
    vec![vec![value; rows]; arity]
}

#[test]
fn empty_and_all_null_inputs_finish_as_null() {
    let mut rng = Rng(0x5eed_0006);
    for function in new_functions() {
        for data in [
            Data::new(&mut rng, args_of(function, Value::Null, 0)),
            Data::new(&mut rng, args_of(function, Value::Null, 30)),
        ] {
            let (columns, rows) = both_paths(function, &data, &mut rng);
            assert_eq!(columns, Value::Null, "{}", function.name());
            assert_eq!(rows, Value::Null, "{}", function.name());
        }
        let state = AggState::new(function);
        assert_eq!(state.finish(function).unwrap(), Value::Null);
    }
}

#[test]
fn one_row_gives_zero_population_spread_and_null_sample_spread() {
    let mut rng = Rng(0x5eed_0007);
    let expected = [
        Value::Float(0.0),
        Value::Null,
        Value::Float(0.0),
        Value::Null,
        Value::Float(42.5),
        Value::Float(42.5),
        Value::Float(42.5),
        Value::Float(42.5),
    ];
    for (function, expected) in new_functions().into_iter().zip(expected) {
        let data = Data {
            args: args_of(function, Value::Float(42.5), 1),
            timestamps: vec![7],
            keep: vec![true],
        };
        let (columns, rows) = both_paths(function, &data, &mut rng);
        assert_eq!(columns, expected, "{}", function.name());
        assert_eq!(rows, expected, "{}", function.name());
    }
}

/// Expected value of an existing function over `data`, computed directly.
fn brute_existing(function: AggregateFunction, data: &Data) -> Value {
    let live = data.live_rows();
    let numbers: Vec<f64> = live.iter().filter_map(|r| r.first()?.as_f64()).collect();
    let extreme = |ordering: Ordering| {
        live.iter()
            .map(|r| r[0].clone())
            .reduce(|a, b| if b.total_cmp(&a) == ordering { b } else { a })
            .unwrap_or(Value::Null)
    };
    match function {
        AggregateFunction::Count => Value::Int(live.len() as i64),
        AggregateFunction::CountDistinct => {
            let mut distinct: Vec<String> = live.iter().map(|r| format!("{:?}", r[0])).collect();
            distinct.sort();
            distinct.dedup();
            Value::Int(distinct.len() as i64)
        }
        AggregateFunction::Sum if live.is_empty() => Value::Null,
        AggregateFunction::Sum => match live[0][0] {
            Value::Int(_) => Value::Int(live.iter().map(|r| r[0].as_f64().unwrap() as i64).sum()),
            _ => Value::Float(numbers.iter().sum()),
        },
        AggregateFunction::Avg if live.is_empty() => Value::Null,
        AggregateFunction::Avg => Value::Float(numbers.iter().sum::<f64>() / live.len() as f64),
        AggregateFunction::Min => extreme(Ordering::Less),
        AggregateFunction::Max => extreme(Ordering::Greater),
        AggregateFunction::First => live.first().map_or(Value::Null, |r| r[0].clone()),
        AggregateFunction::Last => live.last().map_or(Value::Null, |r| r[0].clone()),
        AggregateFunction::Vwap if live.is_empty() => Value::Null,
        AggregateFunction::Vwap => {
            let pv: f64 = live
                .iter()
                .map(|r| r[0].as_f64().unwrap() * r[1].as_f64().unwrap())
                .sum();
            let v: f64 = live.iter().map(|r| r[1].as_f64().unwrap()).sum();
            Value::Float(pv / v)
        }
        other => panic!("{} is not an existing function", other.name()),
    }
}

fn same(actual: &Value, expected: &Value, what: &str) {
    match (actual, expected) {
        (Value::Float(_), Value::Float(e)) => assert_close(actual, Some(*e), what),
        _ => assert_eq!(actual, expected, "{what}"),
    }
}

#[test]
fn row_path_matches_brute_force_for_existing_functions() {
    let mut rng = Rng(0x5eed_0008);
    for rows in [0, 1, 300] {
        let ints = small_ints(&mut rng, rows, 20);
        let prices = floats(&mut rng, rows);
        let volumes = small_ints(&mut rng, rows, 20)
            .into_iter()
            .map(|v| match v {
                Value::Int(x) => Value::Int(x.abs() + 1),
                other => other,
            })
            .collect();
        let cases = [
            (AggregateFunction::Count, vec![]),
            (AggregateFunction::Count, vec![ints.clone()]),
            (AggregateFunction::CountDistinct, vec![ints.clone()]),
            (
                AggregateFunction::CountDistinct,
                vec![symbols(&mut rng, rows)],
            ),
            (AggregateFunction::Sum, vec![ints.clone()]),
            (AggregateFunction::Sum, vec![prices.clone()]),
            (AggregateFunction::Avg, vec![ints.clone()]),
            (AggregateFunction::Min, vec![ints.clone()]),
            (AggregateFunction::Max, vec![prices.clone()]),
            (AggregateFunction::Min, vec![symbols(&mut rng, rows)]),
            (AggregateFunction::First, vec![ints.clone()]),
            (AggregateFunction::Last, vec![prices.clone()]),
            (AggregateFunction::Vwap, vec![prices.clone(), volumes]),
        ];
        for (function, args) in cases {
            let mut data = Data::new(&mut rng, args);
            if data.args.is_empty() {
                // count(*): rows without arguments.
                data = Data::new(&mut rng, vec![ints.clone()]);
                data.args.clear();
            }
            let expected = brute_existing(function, &data);
            let what = format!("{} over {rows} rows", function.name());
            same(&by_rows(function, &data, &mut rng), &expected, &what);
            same(&by_columns(function, &data, &mut rng), &expected, &what);
        }
    }
}

#[test]
fn quantile_levels_are_validated_and_canonical() {
    assert_eq!(QuantileLevel::new(0.5), Some(QuantileLevel::MEDIAN));
    assert_eq!(QuantileLevel::MEDIAN.get(), 0.5);
    assert_eq!(QuantileLevel::new(-0.0), QuantileLevel::new(0.0));
    assert_eq!(QuantileLevel::new(1.0).map(QuantileLevel::get), Some(1.0));
    for bad in [-0.01, 1.01, f64::NAN, f64::INFINITY] {
        assert_eq!(QuantileLevel::new(bad), None, "{bad}");
    }
}

#[test]
fn result_types_follow_the_arguments() {
    use DataType::*;
    let median = AggregateFunction::Quantile {
        level: QuantileLevel::MEDIAN,
    };
    assert_eq!(
        AggregateFunction::VarSamp.result_type(&[Int64]),
        Some(Float64)
    );
    assert_eq!(median.result_type(&[Float32]), Some(Float64));
    assert_eq!(median.result_type(&[Symbol]), None);
    assert_eq!(AggregateFunction::StddevPop.result_type(&[Bool]), None);
    assert_eq!(
        AggregateFunction::ArgMax.result_type(&[Symbol, Timestamp]),
        Some(Symbol)
    );
    assert_eq!(AggregateFunction::ArgMin.result_type(&[Symbol]), None);
    assert_eq!(AggregateFunction::Count.result_type(&[]), Some(UInt64));
    assert_eq!(AggregateFunction::Sum.result_type(&[Int32]), Some(Int64));
    assert_eq!(AggregateFunction::Sum.result_type(&[Symbol]), None);
}

#[test]
fn only_bounded_states_are_memoizable() {
    assert!(AggregateFunction::VarPop.is_memoizable());
    assert!(AggregateFunction::ArgMax.is_memoizable());
    assert!(!AggregateFunction::CountDistinct.is_memoizable());
    assert!(!AggregateFunction::QuantileDisc { level: level(0.2) }.is_memoizable());
}

#[test]
fn row_path_rejects_non_numeric_arithmetic() {
    let mut state = AggState::new(AggregateFunction::VarPop);
    assert!(state.update_values(&[Value::Str("x".into())], 0).is_err());
    let mut state = AggState::new(AggregateFunction::ArgMin);
    assert!(state.update_values(&[Value::Int(1)], 0).is_err());
}
