//! `ORDER BY` over a relation, and ClickHouse `LIMIT n [OFFSET m] BY cols`.

use std::cmp::Ordering;

use ahash::AHashMap;
use quecto_engine::types::Value;

use super::key::RowKey;
use super::Relation;

/// Compares two rows by `keys` (column, descending): ascending is [`Value::total_cmp`] (NULLs
/// first), descending its exact reverse (NULLs last). A column past a row's end compares as
/// NULL.
pub(crate) fn compare_rows(a: &[Value], b: &[Value], keys: &[(usize, bool)]) -> Ordering {
    const NULL: Value = Value::Null;
    for &(column, descending) in keys {
        let (x, y) = (
            a.get(column).unwrap_or(&NULL),
            b.get(column).unwrap_or(&NULL),
        );
        let order = x.total_cmp(y);
        if order != Ordering::Equal {
            return if descending { order.reverse() } else { order };
        }
    }
    Ordering::Equal
}

/// Sorts `rel`'s rows by `keys` (column index, descending), stably: ascending puts NULLs first
/// (like [`Value::total_cmp`]), descending is the exact reverse (NULLs last). An index past the
/// last column compares every row equal (the planner checks indices).
pub fn sort_relation(rel: &mut Relation, keys: &[(usize, bool)]) {
    rel.rows.sort_by(|a, b| compare_rows(a, b, keys));
}

/// ClickHouse `LIMIT limit OFFSET offset BY keys`: keeps, of each group of rows with equal
/// `keys` (NULLs equal one another; numbers compare across Int and Float), the rows numbered
/// `offset..offset + limit` in input order, and keeps input order. An index past the last
/// column leaves the relation unchanged (the planner checks indices).
pub fn limit_by(rel: Relation, keys: &[usize], limit: usize, offset: usize) -> Relation {
    let width = rel.width();
    if keys.iter().any(|&k| k >= width) || rel.rows.iter().any(|r| r.len() != width) {
        return rel;
    }
    let end = offset.saturating_add(limit);
    let keep: Vec<bool> = {
        let mut seen: AHashMap<RowKey<'_>, usize> = AHashMap::new();
        rel.rows
            .iter()
            .map(|row| {
                let count = seen.entry(RowKey::new(row, keys)).or_insert(0);
                let index = *count;
                *count += 1;
                (offset..end).contains(&index)
            })
            .collect()
    };
    let rows = rel
        .rows
        .into_iter()
        .zip(keep)
        .filter_map(|(row, kept)| kept.then_some(row))
        .collect();
    Relation {
        columns: rel.columns,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use quecto_engine::types::DataType;

    use super::*;
    use crate::relation::test_support::{
        insertion_sort, naive_after, random_key, relation, same_group, Rng,
    };

    fn random_rel(rng: &mut Rng, rows: usize) -> Relation {
        let rows = (0..rows)
            .map(|i| vec![random_key(rng), random_key(rng), Value::Int(i as i64)])
            .collect();
        relation(
            &[
                ("a", DataType::Float64),
                ("b", DataType::Float64),
                ("id", DataType::Int64),
            ],
            rows,
        )
    }

    #[test]
    fn sort_is_stable_and_matches_insertion_sort() {
        let mut rng = Rng::new(5);
        for case in 0..40 {
            let rel = random_rel(&mut rng, case * 3);
            for keys in [vec![(0, false)], vec![(0, true), (1, false)], vec![]] {
                let mut expected = rel.rows.clone();
                insertion_sort(&mut expected, |a, b| naive_after(a, b, &keys));
                let mut got = rel.clone();
                sort_relation(&mut got, &keys);
                assert_eq!(got.rows, expected, "{case} {keys:?}");
            }
        }
    }

    #[test]
    fn sort_puts_nulls_first_ascending_and_last_descending() {
        let mut rel = relation(
            &[("a", DataType::Int64)],
            vec![vec![Value::Int(2)], vec![Value::Null], vec![Value::Int(1)]],
        );
        sort_relation(&mut rel, &[(0, false)]);
        assert_eq!(rel.rows[0], vec![Value::Null]);
        sort_relation(&mut rel, &[(0, true)]);
        assert_eq!(
            rel.rows,
            vec![vec![Value::Int(2)], vec![Value::Int(1)], vec![Value::Null]]
        );
    }

    #[test]
    fn limit_by_matches_counting_each_group() {
        let mut rng = Rng::new(9);
        for case in 0..40 {
            let rel = random_rel(&mut rng, case * 3);
            for (keys, limit, offset) in [
                (vec![0], 1, 0),
                (vec![0, 1], 2, 1),
                (vec![], 3, 2),
                (vec![1], 0, 0),
                (vec![1], usize::MAX, 1),
            ] {
                let expected: Vec<Vec<Value>> = rel
                    .rows
                    .iter()
                    .enumerate()
                    .filter(|(i, row)| {
                        let before = rel.rows[..*i]
                            .iter()
                            .filter(|r| same_group(r, row, &keys))
                            .count();
                        before >= offset && before - offset < limit
                    })
                    .map(|(_, row)| row.clone())
                    .collect();
                let got = limit_by(rel.clone(), &keys, limit, offset);
                assert_eq!(got.rows, expected, "{case} {keys:?} {limit} {offset}");
            }
        }
    }
}
