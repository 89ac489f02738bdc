//! Test helpers: a seeded generator, random key values, and SQL `=` written independently of
//! the operators' hashing.

use quecto_engine::types::{DataType, Value};

use super::{RelColumn, Relation};

/// A small deterministic generator (SplitMix64), so failures reproduce.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A value in `lo..hi` as i64.
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64) as i64
    }

    /// True with probability `percent`%.
    pub(crate) fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A key value: mostly small integers, some as equal floats, some NULL, some non-integral.
pub(crate) fn random_key(rng: &mut Rng) -> Value {
    let k = rng.range(0, 4);
    match rng.below(10) {
        0 => Value::Null,
        1 | 2 => Value::Float(k as f64),
        3 => Value::Float(k as f64 + 0.5),
        _ => Value::Int(k),
    }
}

/// SQL `a = b`: NULL and NaN never equal; numbers compare by value across Int and Float.
pub(crate) fn sql_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => *x as f64 == *y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        _ => false,
    }
}

/// True when `a[i] = b[j]` for every key pair.
pub(crate) fn keys_eq(a: &[Value], a_keys: &[usize], b: &[Value], b_keys: &[usize]) -> bool {
    a_keys
        .iter()
        .zip(b_keys)
        .all(|(&i, &j)| sql_eq(&a[i], &b[j]))
}

/// A relation with unqualified columns named and typed by `columns`.
pub(crate) fn relation(columns: &[(&str, DataType)], rows: Vec<Vec<Value>>) -> Relation {
    Relation::new(
        columns
            .iter()
            .map(|(name, data_type)| RelColumn::new(None, name, *data_type))
            .collect(),
        rows,
    )
}

/// Grouping equality over `keys`: SQL `=`, except that NULL equals NULL.
pub(crate) fn same_group(a: &[Value], b: &[Value], keys: &[usize]) -> bool {
    keys.iter().all(|&k| match (&a[k], &b[k]) {
        (Value::Null, Value::Null) => true,
        (x, y) => sql_eq(x, y),
    })
}

/// Order of numbers and NULLs written without `Value::total_cmp`: NULL first, then by value.
pub(crate) fn naive_cmp(a: &Value, b: &Value) -> std::cmp::Ordering {
    let rank = |v: &Value| v.as_f64().map_or(f64::NEG_INFINITY, |x| x);
    rank(a)
        .partial_cmp(&rank(b))
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// `a` sorts strictly after `b` under `keys` (column, descending).
pub(crate) fn naive_after(a: &[Value], b: &[Value], keys: &[(usize, bool)]) -> bool {
    for &(k, descending) in keys {
        let order = naive_cmp(&a[k], &b[k]);
        if order.is_ne() {
            return order.is_gt() != descending;
        }
    }
    false
}

/// Stable insertion sort of `items` by `after` (move left only past strictly later items).
pub(crate) fn insertion_sort<T>(items: &mut [T], after: impl Fn(&T, &T) -> bool) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && after(&items[j - 1], &items[j]) {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Equal, with floats equal within a relative 1e-9 (NaNs equal each other).
pub(crate) fn approx_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            (x.is_nan() && y.is_nan())
                || x == y
                || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        _ => a == b,
    }
}

/// Rows `(sym, ts, id)`: random keys, times in `0..time_span` (8 % NULL), and ids
/// `tag * 1000 + row` that tell the rows apart.
pub(crate) fn random_side(rng: &mut Rng, rows: usize, tag: i64, time_span: i64) -> Relation {
    let rows = (0..rows)
        .map(|i| {
            let t = if rng.percent(8) {
                Value::Null
            } else {
                Value::Int(rng.range(0, time_span))
            };
            vec![random_key(rng), t, Value::Int(tag * 1000 + i as i64)]
        })
        .collect();
    relation(
        &[
            ("sym", DataType::Int64),
            ("ts", DataType::Timestamp),
            ("id", DataType::Int64),
        ],
        rows,
    )
}
