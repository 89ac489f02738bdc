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
