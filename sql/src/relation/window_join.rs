//! Window join: each left row aggregates the right rows of its key within a time window.

use quecto_engine::types::Value;

use super::join::concat;
use super::key::{joinable, Members, RowKey};
use super::time_groups::TimeGroups;
use super::{internal, time_of, RelColumn, Relation};
use crate::QueryError;

/// What a window join matches on.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowJoinSpec {
    /// Left equality key columns.
    pub left_keys: Vec<usize>,
    /// Right equality key columns, pairwise with `left_keys`.
    pub right_keys: Vec<usize>,
    /// The left time column (timestamp or integer).
    pub left_time: usize,
    /// The right time column (timestamp or integer).
    pub right_time: usize,
    /// The window starts `before` time units before the left time (inclusive).
    pub before: i64,
    /// The window ends `after` time units after the left time (inclusive).
    pub after: i64,
}

/// The aggregate of one window: the window's right rows in time order (ties in right input
/// order) to the values appended to the left row.
pub type WindowAggregate<'a> = dyn FnMut(&[&[Value]]) -> Result<Vec<Value>, QueryError> + 'a;

/// For every left row, calls `aggregate` on the right rows with equal keys and
/// `left.t - before <= right.t <= left.t + after`, and appends its values to the left row.
///
/// Every left row is kept, in left input order; one with no right rows in its window (or with
/// a NULL key or time) gets `aggregate(&[])`. `aggregate` must return one value per
/// `out_columns` entry; it is called once per left row, in key and time order rather than input
/// order. Output columns are left's then `out_columns`. Each key's windows slide with two
/// pointers over its time-sorted right rows: O(n log n + m log m) plus the aggregates' own
/// work.
pub fn window_join(
    left: Relation,
    right: Relation,
    spec: &WindowJoinSpec,
    aggregate: &mut WindowAggregate<'_>,
    out_columns: Vec<RelColumn>,
) -> Result<Relation, QueryError> {
    if spec.left_keys.len() != spec.right_keys.len() {
        return Err(internal(format!(
            "window join: {} left keys but {} right keys",
            spec.left_keys.len(),
            spec.right_keys.len()
        )));
    }
    left.check("window join", &[&spec.left_keys, &[spec.left_time]])?;
    right.check("window join", &[&spec.right_keys, &[spec.right_time]])?;

    let index = TimeGroups::build(&right.rows, &spec.right_keys, spec.right_time)?;
    let left_times = left
        .rows
        .iter()
        .map(|row| time_of(row, spec.left_time))
        .collect::<Result<Vec<_>, _>>()?;
    // Left rows that can have a non-empty window, grouped by their right group.
    let left_group: Vec<Option<usize>> = left
        .rows
        .iter()
        .zip(&left_times)
        .map(|(row, time)| {
            (time.is_some() && joinable(row, &spec.left_keys))
                .then(|| index.find(RowKey::new(row, &spec.left_keys)))
                .flatten()
        })
        .collect();
    let mut left_members = Members::new(&left_group, index.len());

    let width = out_columns.len();
    let mut results: Vec<Option<Vec<Value>>> = vec![None; left.rows.len()];
    for group in 0..index.len() {
        let (right_rows, right_times) = index.group(group);
        let window_rows: Vec<&[Value]> = right_rows
            .iter()
            .map(|&r| right.rows[r].as_slice())
            .collect();
        let lefts = left_members.of_mut(group);
        lefts.sort_by_key(|&l| left_times[l].unwrap_or(i64::MIN));
        let (mut start, mut end) = (0, 0);
        for &l in lefts.iter() {
            let t = i128::from(left_times[l].unwrap_or(i64::MIN));
            let (from, to) = (t - i128::from(spec.before), t + i128::from(spec.after));
            while start < right_times.len() && i128::from(right_times[start]) < from {
                start += 1;
            }
            end = end.max(start);
            while end < right_times.len() && i128::from(right_times[end]) <= to {
                end += 1;
            }
            results[l] = Some(checked(aggregate(&window_rows[start..end])?, width)?);
        }
    }
    for result in results.iter_mut().filter(|r| r.is_none()) {
        *result = Some(checked(aggregate(&[])?, width)?);
    }
    drop(index);

    let rows = left
        .rows
        .into_iter()
        .zip(results)
        .map(|(row, values)| concat(row, values.unwrap_or_default()))
        .collect();
    let mut columns = left.columns;
    columns.extend(out_columns);
    Ok(Relation { columns, rows })
}

/// `values` when it has one value per output column.
fn checked(values: Vec<Value>, width: usize) -> Result<Vec<Value>, QueryError> {
    if values.len() != width {
        return Err(internal(format!(
            "window join: the aggregate returned {} values for {width} columns",
            values.len()
        )));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use quecto_engine::types::DataType;

    use super::*;
    use crate::relation::test_support::{keys_eq, random_side, relation, Rng};

    /// Count and the ids of the window, in the order given.
    fn describe(rows: &[&[Value]]) -> Result<Vec<Value>, QueryError> {
        let ids: Vec<String> = rows.iter().map(|r| r[2].to_string()).collect();
        Ok(vec![
            Value::Int(rows.len() as i64),
            Value::Str(ids.join(",")),
        ])
    }

    fn brute_force(left: &Relation, right: &Relation, spec: &WindowJoinSpec) -> Vec<Vec<Value>> {
        left.rows
            .iter()
            .map(|l| {
                let mut window: Vec<&[Value]> = Vec::new();
                if let Value::Int(lt) = l[spec.left_time] {
                    for r in &right.rows {
                        if let Value::Int(rt) = r[spec.right_time] {
                            let (rt, lt) = (rt as i128, lt as i128);
                            if keys_eq(l, &spec.left_keys, r, &spec.right_keys)
                                && lt - spec.before as i128 <= rt
                                && rt <= lt + spec.after as i128
                            {
                                window.push(r);
                            }
                        }
                    }
                }
                window.sort_by_key(|r| match r[spec.right_time] {
                    Value::Int(t) => t,
                    _ => unreachable!(),
                });
                l.iter()
                    .cloned()
                    .chain(describe(&window).unwrap())
                    .collect()
            })
            .collect()
    }

    fn out_columns() -> Vec<RelColumn> {
        vec![
            RelColumn::new(None, "n", DataType::UInt64),
            RelColumn::new(None, "ids", DataType::Symbol),
        ]
    }

    #[test]
    fn matches_nested_loop_on_random_unsorted_data() {
        let mut rng = Rng::new(23);
        for case in 0..80 {
            let left = random_side(&mut rng, case % 9 * 4, 1, 40);
            let right = random_side(&mut rng, case % 11 * 5, 2, 40);
            for keys in [vec![0], vec![]] {
                for (before, after) in [(0, 0), (3, 0), (0, 5), (4, 2), (-2, 5), (2, -3)] {
                    let spec = WindowJoinSpec {
                        left_keys: keys.clone(),
                        right_keys: keys.clone(),
                        left_time: 1,
                        right_time: 1,
                        before,
                        after,
                    };
                    let got = window_join(
                        left.clone(),
                        right.clone(),
                        &spec,
                        &mut describe,
                        out_columns(),
                    )
                    .unwrap();
                    assert_eq!(
                        got.rows,
                        brute_force(&left, &right, &spec),
                        "{case} {spec:?}"
                    );
                    assert_eq!(got.width(), 5);
                }
            }
        }
    }

    #[test]
    fn extreme_bounds_and_wrong_aggregate_width() {
        let left = relation(
            &[("ts", DataType::Timestamp)],
            vec![vec![Value::Int(i64::MIN)], vec![Value::Int(i64::MAX)]],
        );
        let right = relation(
            &[
                ("ts", DataType::Timestamp),
                ("x", DataType::Int64),
                ("id", DataType::Int64),
            ],
            vec![vec![Value::Int(0), Value::Null, Value::Int(7)]],
        );
        let spec = WindowJoinSpec {
            left_keys: vec![],
            right_keys: vec![],
            left_time: 0,
            right_time: 0,
            before: i64::MAX,
            after: i64::MAX,
        };
        let got = window_join(
            left.clone(),
            right.clone(),
            &spec,
            &mut describe,
            out_columns(),
        )
        .unwrap();
        // [MIN - MAX, MIN + MAX] = [.., -1] misses 0; [MAX - MAX, ..] holds it.
        assert_eq!(got.rows[0][1], Value::Int(0));
        assert_eq!(got.rows[1][1], Value::Int(1));
        let mut too_few = |_: &[&[Value]]| Ok(vec![]);
        assert!(window_join(left, right, &spec, &mut too_few, out_columns()).is_err());
    }

    #[test]
    fn empty_right_calls_aggregate_with_empty_windows() {
        let left = relation(&[("ts", DataType::Timestamp)], vec![vec![Value::Int(1)]]);
        let right = relation(
            &[
                ("ts", DataType::Timestamp),
                ("x", DataType::Int64),
                ("id", DataType::Int64),
            ],
            vec![],
        );
        let spec = WindowJoinSpec {
            left_keys: vec![],
            right_keys: vec![],
            left_time: 0,
            right_time: 0,
            before: 1,
            after: 1,
        };
        let got = window_join(left, right, &spec, &mut describe, out_columns()).unwrap();
        assert_eq!(
            got.rows,
            vec![vec![
                Value::Int(1),
                Value::Int(0),
                Value::Str(String::new())
            ]]
        );
    }
}
