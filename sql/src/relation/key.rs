//! Key columns of a row as a hash-map key, with SQL equality under numeric coercion, and the
//! grouping of rows by equal keys.
//!
//! Equality: integers and floats compare by numeric value, exactly (`Int 1 == Float 1.0`,
//! `Int 2^53 + 1 != Float 2^53`), `-0.0 == 0.0`; booleans equal only booleans, strings only
//! strings. For grouping, `NULL` equals `NULL` and NaN equals NaN; joins leave out rows whose
//! key has a NULL or a NaN ([`joinable`]), so those never match.

use std::hash::{Hash, Hasher};

use ahash::AHashMap;
use quecto_engine::types::Value;

/// One key value normalized so that equal SQL values are equal and hash alike.
#[derive(PartialEq, Eq, Hash)]
enum KeyPart<'a> {
    Null,
    Int(i64),
    /// A float that is not an integer in i64 range, by its bits (NaN canonical).
    Float(u64),
    Bool(bool),
    Str(&'a str),
}

/// 2^63 as f64: integral floats in `[-2^63, 2^63)` are exactly an i64.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

fn key_part(value: &Value) -> KeyPart<'_> {
    match value {
        Value::Null => KeyPart::Null,
        Value::Int(v) => KeyPart::Int(*v),
        Value::Float(v) if v.fract() == 0.0 && *v >= -TWO_POW_63 && *v < TWO_POW_63 => {
            KeyPart::Int(*v as i64)
        }
        Value::Float(v) if v.is_nan() => KeyPart::Float(f64::NAN.to_bits()),
        Value::Float(v) => KeyPart::Float(v.to_bits()),
        Value::Bool(v) => KeyPart::Bool(*v),
        Value::Str(v) => KeyPart::Str(v),
    }
}

/// The values of `cols` in `row`, compared and hashed as one key. Indices must be in range
/// (operators check them with `Relation::check` first).
#[derive(Clone, Copy)]
pub(crate) struct RowKey<'a> {
    row: &'a [Value],
    cols: &'a [usize],
}

impl<'a> RowKey<'a> {
    /// The key of `row` over `cols`.
    pub(crate) fn new(row: &'a [Value], cols: &'a [usize]) -> RowKey<'a> {
        RowKey { row, cols }
    }

    fn parts(&self) -> impl Iterator<Item = KeyPart<'a>> + '_ {
        self.cols.iter().map(|&c| key_part(&self.row[c]))
    }
}

impl PartialEq for RowKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cols.len() == other.cols.len() && self.parts().eq(other.parts())
    }
}

impl Eq for RowKey<'_> {}

impl Hash for RowKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for part in self.parts() {
            part.hash(state);
        }
    }
}

/// True when no key value of `row` over `cols` is NULL or NaN, so the row can match in a join.
pub(crate) fn joinable(row: &[Value], cols: &[usize]) -> bool {
    cols.iter().all(|&c| match &row[c] {
        Value::Null => false,
        Value::Float(v) => !v.is_nan(),
        _ => true,
    })
}

/// Rows grouped by equal keys: group ids are dense, in order of first appearance.
pub(crate) struct Groups<'a> {
    map: AHashMap<RowKey<'a>, usize>,
    /// The group of each row; `None` for rows the caller left out.
    pub(crate) row_group: Vec<Option<usize>>,
}

impl<'a> Groups<'a> {
    /// Groups the rows `i` with `keep(i)` by their values in `cols`.
    pub(crate) fn build(
        rows: &'a [Vec<Value>],
        cols: &'a [usize],
        keep: impl Fn(usize) -> bool,
    ) -> Groups<'a> {
        let mut map = AHashMap::new();
        let row_group = rows
            .iter()
            .enumerate()
            .map(|(index, row)| {
                if !keep(index) {
                    return None;
                }
                let next = map.len();
                Some(*map.entry(RowKey::new(row, cols)).or_insert(next))
            })
            .collect();
        Groups { map, row_group }
    }

    /// The number of groups.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The group whose key equals `key`, if any.
    pub(crate) fn find(&self, key: RowKey<'_>) -> Option<usize> {
        self.map.get(&key).copied()
    }

    /// The rows of each group, in input order.
    pub(crate) fn members(&self) -> Members {
        Members::new(&self.row_group, self.len())
    }
}

/// Row indices laid out group after group (compressed sparse rows).
pub(crate) struct Members {
    offsets: Vec<usize>,
    rows: Vec<usize>,
}

impl Members {
    /// The members of `groups` groups given each row's group (rows without one are left out),
    /// each group's rows in input order.
    pub(crate) fn new(row_group: &[Option<usize>], groups: usize) -> Members {
        let mut offsets = vec![0usize; groups + 1];
        for &group in row_group.iter().flatten() {
            offsets[group + 1] += 1;
        }
        for g in 0..groups {
            offsets[g + 1] += offsets[g];
        }
        let mut next = offsets.clone();
        let mut rows = vec![0usize; offsets[groups]];
        for (row, group) in row_group.iter().enumerate() {
            if let Some(group) = group {
                rows[next[*group]] = row;
                next[*group] += 1;
            }
        }
        Members { offsets, rows }
    }

    /// The number of groups.
    pub(crate) fn groups(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The position range of group `group` in [`Members::all`].
    pub(crate) fn range(&self, group: usize) -> std::ops::Range<usize> {
        self.offsets[group]..self.offsets[group + 1]
    }

    /// The rows of group `group`.
    pub(crate) fn of(&self, group: usize) -> &[usize] {
        &self.rows[self.range(group)]
    }

    /// The rows of group `group`, to reorder in place.
    pub(crate) fn of_mut(&mut self, group: usize) -> &mut [usize] {
        let range = self.range(group);
        &mut self.rows[range]
    }

    /// Every member, group after group.
    pub(crate) fn all(&self) -> &[usize] {
        &self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_eq(a: Value, b: Value) -> bool {
        let (ra, rb) = ([a], [b]);
        RowKey::new(&ra, &[0]) == RowKey::new(&rb, &[0])
    }

    #[test]
    fn numeric_coercion_is_exact() {
        assert!(key_eq(Value::Int(1), Value::Float(1.0)));
        assert!(key_eq(Value::Int(0), Value::Float(-0.0)));
        assert!(!key_eq(Value::Int(1), Value::Float(1.5)));
        assert!(!key_eq(
            Value::Int((1 << 53) + 1),
            Value::Float((1u64 << 53) as f64)
        ));
        assert!(!key_eq(Value::Int(1), Value::Bool(true)));
        assert!(!key_eq(Value::Int(1), Value::Str("1".into())));
        assert!(key_eq(Value::Null, Value::Null));
        assert!(key_eq(Value::Float(f64::NAN), Value::Float(-f64::NAN)));
        assert!(key_eq(
            Value::Float(f64::INFINITY),
            Value::Float(f64::INFINITY)
        ));
        assert!(!key_eq(Value::Float(TWO_POW_63), Value::Int(i64::MAX)));
        assert!(key_eq(Value::Float(-TWO_POW_63), Value::Int(i64::MIN)));
    }

    #[test]
    fn groups_in_first_appearance_order_and_members_in_input_order() {
        let rows: Vec<Vec<Value>> = [2, 1, 2, 3, 1]
            .iter()
            .map(|&v| vec![Value::Int(v)])
            .collect();
        let groups = Groups::build(&rows, &[0], |i| i != 3);
        assert_eq!(
            groups.row_group,
            vec![Some(0), Some(1), Some(0), None, Some(1)]
        );
        let members = groups.members();
        assert_eq!(members.groups(), 2);
        assert_eq!(members.of(0), &[0, 2]);
        assert_eq!(members.of(1), &[1, 4]);
        let probe = [Value::Float(1.0)];
        assert_eq!(groups.find(RowKey::new(&probe, &[0])), Some(1));
    }

    #[test]
    fn joinable_rejects_null_and_nan() {
        let row = [Value::Int(1), Value::Null, Value::Float(f64::NAN)];
        assert!(joinable(&row, &[0]));
        assert!(!joinable(&row, &[0, 1]));
        assert!(!joinable(&row, &[2]));
    }
}
