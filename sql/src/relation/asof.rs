//! As-of join: each left row meets the latest right row at or before its time.

use super::join::{null_padded, SharedRows};
use super::key::{joinable, RowKey};
use super::time_groups::TimeGroups;
use super::{internal, time_of, Relation};
use crate::QueryError;

/// What an as-of join matches on.
///
/// One direction only: the right row is at or before the left row's time (`right.t <= left.t`,
/// or `<` when not inclusive). A planner that wants the other side looked up swaps the inputs
/// and reorders the output columns itself.
#[derive(Clone, Debug, PartialEq)]
pub struct AsofSpec {
    /// Left equality key columns.
    pub left_keys: Vec<usize>,
    /// Right equality key columns, pairwise with `left_keys`.
    pub right_keys: Vec<usize>,
    /// The left time column (timestamp or integer).
    pub left_time: usize,
    /// The right time column (timestamp or integer).
    pub right_time: usize,
    /// `right.t <= left.t` when true, `right.t < left.t` when false.
    pub inclusive: bool,
    /// When set, also `left.t - right.t <= tolerance`.
    pub tolerance: Option<i64>,
    /// Keep unmatched left rows with NULL right columns (LEFT ASOF JOIN).
    pub left_outer: bool,
}

/// Joins every left row to the right row with equal keys and the greatest time allowed by
/// `spec` (among equal times, the last in right input order).
///
/// Output columns are left's then right's, rows in left input order; an unmatched left row is
/// dropped, or padded with NULLs when `spec.left_outer`. NULL keys and NULL times never match.
/// Inputs need not be sorted: O((n + m) log m) for n left and m right rows.
pub fn asof_join(left: Relation, right: Relation, spec: &AsofSpec) -> Result<Relation, QueryError> {
    if spec.left_keys.len() != spec.right_keys.len() {
        return Err(internal(format!(
            "asof join: {} left keys but {} right keys",
            spec.left_keys.len(),
            spec.right_keys.len()
        )));
    }
    left.check("asof join", &[&spec.left_keys, &[spec.left_time]])?;
    right.check("asof join", &[&spec.right_keys, &[spec.right_time]])?;

    let index = TimeGroups::build(&right.rows, &spec.right_keys, spec.right_time)?;
    let matches = left
        .rows
        .iter()
        .map(|row| match time_of(row, spec.left_time)? {
            Some(t) if joinable(row, &spec.left_keys) => Ok(index
                .find(RowKey::new(row, &spec.left_keys))
                .and_then(|group| latest(&index, group, t, spec))),
            _ => Ok(None),
        })
        .collect::<Result<Vec<Option<usize>>, QueryError>>()?;
    drop(index);

    let mut uses = vec![0u32; right.rows.len()];
    for &r in matches.iter().flatten() {
        uses[r] = uses[r].saturating_add(1);
    }
    let right_width = right.width();
    let mut right_rows = SharedRows::new(right.rows, uses);
    let mut rows = Vec::with_capacity(left.rows.len());
    for (left_row, matched) in left.rows.into_iter().zip(matches) {
        match matched {
            Some(r) => rows.push(right_rows.joined(left_row, r)),
            None if spec.left_outer => rows.push(null_padded(left_row, right_width)),
            None => {}
        }
    }
    let mut columns = left.columns;
    columns.extend(right.columns);
    Ok(Relation { columns, rows })
}

/// The right row of `group` matching a left row at time `t`, if any.
fn latest(index: &TimeGroups<'_>, group: usize, t: i64, spec: &AsofSpec) -> Option<usize> {
    let (rows, times) = index.group(group);
    let end = if spec.inclusive {
        times.partition_point(|&rt| rt <= t)
    } else {
        times.partition_point(|&rt| rt < t)
    };
    let at = end.checked_sub(1)?;
    let within = spec
        .tolerance
        .is_none_or(|tol| i128::from(t) - i128::from(times[at]) <= i128::from(tol));
    within.then_some(rows[at])
}

#[cfg(test)]
mod tests {
    use quecto_engine::types::{DataType, Value};

    use super::*;
    use crate::relation::test_support::{keys_eq, random_side, relation, Rng};

    fn brute_force(left: &Relation, right: &Relation, spec: &AsofSpec) -> Vec<Vec<Value>> {
        let mut out = Vec::new();
        for l in &left.rows {
            let Value::Int(lt) = l[spec.left_time] else {
                if spec.left_outer {
                    out.push(padded(l, right.width()));
                }
                continue;
            };
            let mut best: Option<(i64, &Vec<Value>)> = None;
            for r in &right.rows {
                let Value::Int(rt) = r[spec.right_time] else {
                    continue;
                };
                let before = if spec.inclusive { rt <= lt } else { rt < lt };
                let near = spec
                    .tolerance
                    .is_none_or(|tol| (lt as i128 - rt as i128) <= tol as i128);
                if keys_eq(l, &spec.left_keys, r, &spec.right_keys)
                    && before
                    && near
                    && best.is_none_or(|(bt, _)| rt >= bt)
                {
                    best = Some((rt, r));
                }
            }
            match best {
                Some((_, r)) => out.push(l.iter().chain(r).cloned().collect()),
                None if spec.left_outer => out.push(padded(l, right.width())),
                None => {}
            }
        }
        out
    }

    fn padded(l: &[Value], width: usize) -> Vec<Value> {
        let mut row = l.to_vec();
        row.extend(vec![Value::Null; width]);
        row
    }

    #[test]
    fn matches_nested_loop_on_random_unsorted_data() {
        let mut rng = Rng::new(11);
        for case in 0..80 {
            let left = random_side(&mut rng, case % 9 * 4, 1, 30);
            let right = random_side(&mut rng, case % 11 * 5, 2, 30);
            for keys in [vec![0], vec![]] {
                for (inclusive, tolerance, left_outer) in [
                    (true, None, false),
                    (false, None, true),
                    (true, Some(3), true),
                    (false, Some(0), false),
                    (true, Some(0), true),
                    (true, Some(-1), true),
                ] {
                    let spec = AsofSpec {
                        left_keys: keys.clone(),
                        right_keys: keys.clone(),
                        left_time: 1,
                        right_time: 1,
                        inclusive,
                        tolerance,
                        left_outer,
                    };
                    let got = asof_join(left.clone(), right.clone(), &spec).unwrap();
                    assert_eq!(
                        got.rows,
                        brute_force(&left, &right, &spec),
                        "{case} {spec:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn ties_take_the_last_right_row_and_extreme_tolerance_does_not_overflow() {
        let left = relation(
            &[("ts", DataType::Timestamp)],
            vec![
                vec![Value::Int(i64::MAX)],
                vec![Value::Int(5)],
                vec![Value::Int(-10)],
            ],
        );
        let right = relation(
            &[("ts", DataType::Timestamp), ("v", DataType::Int64)],
            vec![
                vec![Value::Int(5), Value::Int(1)],
                vec![Value::Int(i64::MIN), Value::Int(0)],
                vec![Value::Int(5), Value::Int(2)],
            ],
        );
        let mut spec = AsofSpec {
            left_keys: vec![],
            right_keys: vec![],
            left_time: 0,
            right_time: 0,
            inclusive: true,
            tolerance: Some(i64::MAX),
            left_outer: true,
        };
        let got = asof_join(left.clone(), right.clone(), &spec).unwrap();
        let tie = [Value::Int(5), Value::Int(2)];
        assert_eq!(got.rows[0][1..], tie[..]);
        assert_eq!(got.rows[1][1..], tie[..]);
        assert_eq!(got.rows[2][1..], [Value::Int(i64::MIN), Value::Int(0)]);
        spec.tolerance = Some(i64::MAX - 20);
        let got = asof_join(left, right, &spec).unwrap();
        assert_eq!(got.rows[0][1..], [Value::Null, Value::Null]);
        assert_eq!(got.rows[1][1..], tie[..]);
        assert_eq!(got.rows[2][1..], [Value::Null, Value::Null]);
    }

    #[test]
    fn non_integer_time_is_a_type_error() {
        let left = relation(&[("ts", DataType::Float64)], vec![vec![Value::Float(1.0)]]);
        let spec = AsofSpec {
            left_keys: vec![],
            right_keys: vec![],
            left_time: 0,
            right_time: 0,
            inclusive: true,
            tolerance: None,
            left_outer: false,
        };
        let err = asof_join(left.clone(), left, &spec).unwrap_err();
        assert!(matches!(err, QueryError::Type { .. }));
    }
}
