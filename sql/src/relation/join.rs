//! Hash equi-join (INNER and LEFT) of two relations.

use quecto_engine::types::Value;

use super::key::{joinable, Groups, RowKey};
use super::{check_output_rows, internal, Relation};
use crate::QueryError;

/// Which rows of the left side a join keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// Only left rows with at least one match.
    Inner,
    /// Every left row; one without a match gets NULLs for the right columns.
    Left,
}

/// Joins `left` and `right` on `left.left_keys[i] = right.right_keys[i]` for every `i`.
///
/// Output columns are left's then right's. Rows come in left input order and, for each left
/// row, its matches in right input order. Keys compare like SQL `=` with numeric coercion; a
/// NULL (or NaN) key never matches. No keys at all is a cross join.
pub fn hash_join(
    left: Relation,
    right: Relation,
    left_keys: &[usize],
    right_keys: &[usize],
    kind: JoinKind,
) -> Result<Relation, QueryError> {
    if left_keys.len() != right_keys.len() {
        return Err(internal(format!(
            "hash join: {} left keys but {} right keys",
            left_keys.len(),
            right_keys.len()
        )));
    }
    left.check("hash join", &[left_keys])?;
    right.check("hash join", &[right_keys])?;

    // The right group each left row matches, if any.
    let groups = Groups::build(&right.rows, right_keys, |i| {
        joinable(&right.rows[i], right_keys)
    });
    let left_group: Vec<Option<usize>> = left
        .rows
        .iter()
        .map(|row| {
            joinable(row, left_keys)
                .then(|| groups.find(RowKey::new(row, left_keys)))
                .flatten()
        })
        .collect();
    let members = groups.members();
    drop(groups);
    let matches = |group: Option<usize>| group.map_or(&[][..], |g| members.of(g));

    let padded = kind == JoinKind::Left;
    let out_rows: usize = left_group
        .iter()
        .map(|&g| {
            let n = matches(g).len();
            if padded {
                n.max(1)
            } else {
                n
            }
        })
        .sum();
    check_output_rows(out_rows)?;
    let mut right_uses = vec![0u32; right.rows.len()];
    for &r in left_group.iter().flat_map(|&g| matches(g)) {
        right_uses[r] = right_uses[r].saturating_add(1);
    }

    let right_width = right.width();
    let mut right_rows = SharedRows::new(right.rows, right_uses);
    let mut rows = Vec::with_capacity(out_rows);
    for (left_row, group) in left.rows.into_iter().zip(left_group) {
        match matches(group).split_last() {
            None if padded => rows.push(null_padded(left_row, right_width)),
            None => {}
            Some((&last, rest)) => {
                for &r in rest {
                    let mut row = Vec::with_capacity(left_row.len() + right_width);
                    row.extend_from_slice(&left_row);
                    right_rows.append_to(r, &mut row);
                    rows.push(row);
                }
                rows.push(right_rows.joined(left_row, last));
            }
        }
    }
    let mut columns = left.columns;
    columns.extend(right.columns);
    Ok(Relation { columns, rows })
}

/// `left` followed by `right`, reusing `left`'s allocation.
pub(crate) fn concat(mut left: Vec<Value>, right: Vec<Value>) -> Vec<Value> {
    left.extend(right);
    left
}

/// `left` followed by `width` NULLs (a left row that met no right row).
pub(crate) fn null_padded(mut left: Vec<Value>, width: usize) -> Vec<Value> {
    left.resize(left.len() + width, Value::Null);
    left
}

/// Rows handed out a known number of times each: cloned for every use but the last, which
/// moves the row's values out.
pub(crate) struct SharedRows {
    rows: Vec<Vec<Value>>,
    uses_left: Vec<u32>,
}

impl SharedRows {
    /// `rows`, row `i` to be taken `uses[i]` times.
    pub(crate) fn new(rows: Vec<Vec<Value>>, uses: Vec<u32>) -> SharedRows {
        SharedRows {
            rows,
            uses_left: uses,
        }
    }

    /// Appends row `index` to `out`: its values cloned, or moved out on its last announced
    /// use. No row is allocated on the way: `out` grows once, if it lacks the room.
    pub(crate) fn append_to(&mut self, index: usize, out: &mut Vec<Value>) {
        let uses = &mut self.uses_left[index];
        *uses = uses.saturating_sub(1);
        if *uses == 0 {
            // Moved out and its buffer freed now, while it is in cache.
            out.extend(std::mem::take(&mut self.rows[index]));
        } else {
            out.extend_from_slice(&self.rows[index]);
        }
    }

    /// `left` followed by row `index` (see `append_to`).
    pub(crate) fn joined(&mut self, mut left: Vec<Value>, index: usize) -> Vec<Value> {
        left.reserve_exact(self.rows[index].len());
        self.append_to(index, &mut left);
        left
    }
}

#[cfg(test)]
mod tests {
    use quecto_engine::types::DataType;

    use super::*;
    use crate::relation::test_support::{keys_eq, random_key, relation, Rng};

    fn brute_force(
        left: &Relation,
        right: &Relation,
        lk: &[usize],
        rk: &[usize],
        kind: JoinKind,
    ) -> Vec<Vec<Value>> {
        let mut out = Vec::new();
        for l in &left.rows {
            let mut matched = false;
            for r in &right.rows {
                if keys_eq(l, lk, r, rk) {
                    matched = true;
                    out.push(l.iter().chain(r).cloned().collect());
                }
            }
            if !matched && kind == JoinKind::Left {
                let mut row = l.clone();
                row.extend(vec![Value::Null; right.width()]);
                out.push(row);
            }
        }
        out
    }

    fn random_side(rng: &mut Rng, rows: usize, tag: i64) -> Relation {
        let rows = (0..rows)
            .map(|i| {
                vec![
                    random_key(rng),
                    random_key(rng),
                    Value::Int(tag * 1000 + i as i64),
                ]
            })
            .collect();
        relation(
            &[
                ("a", DataType::Int64),
                ("b", DataType::Float64),
                ("id", DataType::Int64),
            ],
            rows,
        )
    }

    #[test]
    fn matches_nested_loop_on_random_data() {
        let mut rng = Rng::new(7);
        for case in 0..60 {
            let left = random_side(&mut rng, (case % 7) * 5, 1);
            let right = random_side(&mut rng, (case % 5) * 6, 2);
            for (lk, rk) in [
                (vec![0], vec![0]),
                (vec![0, 1], vec![1, 0]),
                (vec![], vec![]),
            ] {
                for kind in [JoinKind::Inner, JoinKind::Left] {
                    let expected = brute_force(&left, &right, &lk, &rk, kind);
                    let got = hash_join(left.clone(), right.clone(), &lk, &rk, kind).unwrap();
                    assert_eq!(got.rows, expected, "case {case} keys {lk:?} {kind:?}");
                    assert_eq!(got.width(), 6);
                }
            }
        }
    }

    #[test]
    fn null_keys_never_match_and_left_join_pads() {
        let left = relation(
            &[("k", DataType::Int64)],
            vec![vec![Value::Null], vec![Value::Int(1)]],
        );
        let right = relation(
            &[("k", DataType::Float64), ("v", DataType::Symbol)],
            vec![
                vec![Value::Null, Value::Str("null".into())],
                vec![Value::Float(1.0), Value::Str("one".into())],
                vec![Value::Float(f64::NAN), Value::Str("nan".into())],
            ],
        );
        let inner = hash_join(left.clone(), right.clone(), &[0], &[0], JoinKind::Inner).unwrap();
        assert_eq!(
            inner.rows,
            vec![vec![
                Value::Int(1),
                Value::Float(1.0),
                Value::Str("one".into())
            ]]
        );
        let outer = hash_join(left, right, &[0], &[0], JoinKind::Left).unwrap();
        assert_eq!(outer.rows[0], vec![Value::Null, Value::Null, Value::Null]);
        assert_eq!(outer.rows.len(), 2);
    }

    #[test]
    fn empty_sides() {
        let empty = relation(&[("k", DataType::Int64)], vec![]);
        let one = relation(&[("k", DataType::Int64)], vec![vec![Value::Int(1)]]);
        let got = hash_join(empty.clone(), one.clone(), &[0], &[0], JoinKind::Left).unwrap();
        assert!(got.rows.is_empty());
        assert_eq!(got.width(), 2);
        let got = hash_join(one.clone(), empty.clone(), &[0], &[0], JoinKind::Left).unwrap();
        assert_eq!(got.rows, vec![vec![Value::Int(1), Value::Null]]);
        let got = hash_join(one, empty, &[0], &[0], JoinKind::Inner).unwrap();
        assert!(got.rows.is_empty());
    }

    #[test]
    fn bad_keys_are_errors() {
        let one = relation(&[("k", DataType::Int64)], vec![vec![Value::Int(1)]]);
        assert!(hash_join(one.clone(), one.clone(), &[0], &[], JoinKind::Inner).is_err());
        assert!(hash_join(one.clone(), one, &[1], &[0], JoinKind::Inner).is_err());
    }
}
