//! QuestDB `SAMPLE BY step FILL(...)`: add the missing buckets of every key and fill them.

use quecto_engine::types::{DataType, Value};

use super::key::{Groups, Members};
use super::sort::compare_rows;
use super::{check_output_rows, internal, time_of, Relation};
use crate::QueryError;

/// How a column gets its value in a generated bucket.
#[derive(Clone, Debug, PartialEq)]
pub enum FillMode {
    /// No fill: missing buckets stay missing (cannot be mixed with other modes).
    None,
    /// NULL.
    Null,
    /// The value of the key's latest earlier row present in the input (NULL if none).
    Prev,
    /// Linear interpolation by bucket time between the key's nearest earlier and later present
    /// rows with a non-NULL value; NULL before the first and after the last. Integer columns
    /// round to the nearest integer.
    Linear,
    /// A constant, cast to the column's type.
    Value(Value),
}

/// What `fill_buckets` fills.
#[derive(Clone, Debug, PartialEq)]
pub struct FillSpec {
    /// Key columns (`SAMPLE BY` per symbol, or the GROUP BY columns).
    pub keys: Vec<usize>,
    /// The bucket-start column (Timestamp or Int).
    pub bucket: usize,
    /// The bucket width, > 0.
    pub step: i64,
    /// Bucket starts `[from, to)` to cover; `None`: the global first to last bucket present.
    pub range: Option<(i64, i64)>,
    /// Filled columns and their modes; other columns are NULL in generated rows.
    pub fills: Vec<(usize, FillMode)>,
}

/// Adds, for every key combination present, every bucket of the sampled range that it lacks,
/// filled per `spec.fills`; returns the rows sorted by keys (ascending, NULLs first) then bucket.
///
/// Input: at most one row per (keys, bucket), in any order, bucket starts on the grid
/// `first + k * step` (`first` is `range.0`, or the smallest bucket present). With a range,
/// rows outside it are dropped, and without key columns the one series is filled even when the
/// input is empty. With `FillMode::None` nothing is generated (the rows are only sorted).
pub fn fill_buckets(rel: Relation, spec: &FillSpec) -> Result<Relation, QueryError> {
    let fill_columns: Vec<usize> = spec.fills.iter().map(|&(c, _)| c).collect();
    rel.check("fill", &[&spec.keys, &[spec.bucket], &fill_columns])?;
    if spec.step <= 0 {
        return Err(QueryError::Type {
            detail: format!("SAMPLE BY step must be positive, got {}", spec.step),
        });
    }
    if let Some(c) = fill_columns
        .iter()
        .find(|&c| *c == spec.bucket || spec.keys.contains(c))
    {
        return Err(internal(format!("fill: column {c} is a key or the bucket")));
    }
    let no_fill = spec.fills.iter().any(|(_, m)| *m == FillMode::None);
    if no_fill && spec.fills.iter().any(|(_, m)| *m != FillMode::None) {
        return Err(QueryError::Unsupported {
            what: "FILL(NONE) mixed with other fill modes".to_string(),
        });
    }
    let fills = spec
        .fills
        .iter()
        .map(|(c, mode)| {
            let data_type = rel.columns[*c].data_type;
            Ok((*c, resolve(mode, data_type)?, data_type))
        })
        .collect::<Result<Vec<_>, QueryError>>()?;

    let grid = Grid::new(&rel, spec)?;
    // Each row's bucket number, `None` for rows outside the range.
    let slots = rel
        .rows
        .iter()
        .map(|row| grid.slot(row, spec))
        .collect::<Result<Vec<Option<usize>>, QueryError>>()?;
    let groups = Groups::build(&rel.rows, &spec.keys, |i| slots[i].is_some());
    let mut members = groups.members();
    let mut order: Vec<usize> = (0..members.groups()).collect();
    let key_order: Vec<(usize, bool)> = spec.keys.iter().map(|&k| (k, false)).collect();
    order.sort_by(|&a, &b| {
        compare_rows(
            &rel.rows[members.of(a)[0]],
            &rel.rows[members.of(b)[0]],
            &key_order,
        )
    });
    let mut templates: Vec<Vec<Value>> = (0..members.groups())
        .map(|g| {
            let first = &rel.rows[members.of(g)[0]];
            let mut template = vec![Value::Null; rel.width()];
            for &k in &spec.keys {
                template[k] = first[k].clone();
            }
            template
        })
        .collect();
    if spec.keys.is_empty() && templates.is_empty() && grid.len > 0 {
        // The single series of an aggregate without keys exists even when empty.
        templates.push(vec![Value::Null; rel.width()]);
        order.push(0);
        members = Members::new(&[], 1);
    }
    drop(groups);
    let kept = slots.iter().flatten().count();
    let out_len = if no_fill {
        kept
    } else {
        templates.len().saturating_mul(grid.len)
    };
    check_output_rows(out_len)?;

    for group in 0..members.groups() {
        let rows = members.of_mut(group);
        rows.sort_by_key(|&r| slots[r]);
        if let Some(pair) = rows.windows(2).find(|p| slots[p[0]] == slots[p[1]]) {
            return Err(internal(format!(
                "fill: rows {} and {} share a key and a bucket",
                pair[0], pair[1]
            )));
        }
    }
    let mut input: Vec<Option<Vec<Value>>> = rel.rows.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(out_len);
    let mut generated = Vec::new();
    for group in order {
        let start = out.len();
        generated.clear();
        let mut present = members.of(group).iter().peekable();
        for slot in 0..grid.len {
            if let Some(&r) = present.next_if(|&&r| slots[r] == Some(slot)) {
                out.push(input[r].take().unwrap_or_default());
                generated.push(false);
            } else if !no_fill {
                let mut row = templates[group].clone();
                row[spec.bucket] = Value::Int(grid.start(slot));
                out.push(row);
                generated.push(true);
            }
        }
        let series = &mut out[start..];
        for (column, mode, data_type) in &fills {
            fill_column(series, &generated, *column, spec.bucket, mode, *data_type);
        }
    }
    Ok(Relation {
        columns: rel.columns,
        rows: out,
    })
}

/// The buckets covered: starts `first + k * step` for `k` in `0..len`.
struct Grid {
    first: i64,
    step: i64,
    len: usize,
    /// The range given, which drops rows outside it.
    range: Option<(i64, i64)>,
}

impl Grid {
    fn new(rel: &Relation, spec: &FillSpec) -> Result<Grid, QueryError> {
        let span = |first: i64, last_exclusive: i128| {
            let width = (last_exclusive - i128::from(first)).max(0);
            let len = (width + i128::from(spec.step) - 1) / i128::from(spec.step);
            usize::try_from(len).unwrap_or(usize::MAX)
        };
        if let Some((from, to)) = spec.range {
            return Ok(Grid {
                first: from,
                step: spec.step,
                len: span(from, i128::from(to)),
                range: spec.range,
            });
        }
        let mut bounds: Option<(i64, i64)> = None;
        for row in &rel.rows {
            let b = bucket_of(row, spec.bucket)?;
            bounds = Some(bounds.map_or((b, b), |(lo, hi)| (lo.min(b), hi.max(b))));
        }
        Ok(match bounds {
            Some((lo, hi)) => Grid {
                first: lo,
                step: spec.step,
                len: span(lo, i128::from(hi) + 1),
                range: None,
            },
            None => Grid {
                first: 0,
                step: spec.step,
                len: 0,
                range: None,
            },
        })
    }

    /// The bucket number of `row`, `None` outside the range; an error off the grid.
    fn slot(&self, row: &[Value], spec: &FillSpec) -> Result<Option<usize>, QueryError> {
        let b = bucket_of(row, spec.bucket)?;
        if self.range.is_some_and(|(from, to)| b < from || b >= to) {
            return Ok(None);
        }
        let offset = i128::from(b) - i128::from(self.first);
        if offset % i128::from(self.step) != 0 {
            return Err(internal(format!(
                "fill: bucket start {b} is not on the grid {} + k * {}",
                self.first, self.step
            )));
        }
        Ok(usize::try_from(offset / i128::from(self.step)).ok())
    }

    /// The start of bucket `slot`.
    fn start(&self, slot: usize) -> i64 {
        let start = i128::from(self.first) + slot as i128 * i128::from(self.step);
        i64::try_from(start).unwrap_or(i64::MAX)
    }
}

fn bucket_of(row: &[Value], column: usize) -> Result<i64, QueryError> {
    time_of(row, column)?.ok_or_else(|| internal("fill: NULL bucket start".to_string()))
}

/// `mode` with its constant cast to `data_type`; Linear only on numeric columns.
fn resolve(mode: &FillMode, data_type: DataType) -> Result<FillMode, QueryError> {
    let cannot = |what: String| {
        Err(QueryError::Type {
            detail: format!("cannot fill a {data_type} column with {what}"),
        })
    };
    let integral = data_type.is_integer() || data_type == DataType::Timestamp;
    Ok(match mode {
        FillMode::Linear if !data_type.is_numeric() => return cannot("LINEAR".to_string()),
        FillMode::Value(v) => FillMode::Value(match (v, data_type) {
            (Value::Null, _) => Value::Null,
            (Value::Int(i), _) if integral => Value::Int(*i),
            (Value::Int(i), t) if t.is_float() => Value::Float(*i as f64),
            (Value::Float(f), t) if t.is_float() => Value::Float(*f),
            (Value::Float(f), _) if integral && f.fract() == 0.0 && f.abs() < 9.2e18 => {
                Value::Int(*f as i64)
            }
            (Value::Bool(b), DataType::Bool) => Value::Bool(*b),
            (Value::Str(s), DataType::Symbol) => Value::Str(s.clone()),
            (other, _) => return cannot(other.to_string()),
        }),
        other => other.clone(),
    })
}

/// Fills `column` of the generated rows of one key's series (sorted by bucket).
fn fill_column(
    series: &mut [Vec<Value>],
    generated: &[bool],
    column: usize,
    bucket: usize,
    mode: &FillMode,
    data_type: DataType,
) {
    match mode {
        FillMode::None | FillMode::Null => {}
        FillMode::Value(v) => {
            for (row, _) in series.iter_mut().zip(generated).filter(|(_, g)| **g) {
                row[column] = v.clone();
            }
        }
        FillMode::Prev => {
            let mut last = Value::Null;
            for (row, &g) in series.iter_mut().zip(generated) {
                if g {
                    row[column] = last.clone();
                } else {
                    last = row[column].clone();
                }
            }
        }
        FillMode::Linear => {
            let point = |row: &Vec<Value>| match (&row[bucket], row[column].as_f64()) {
                (Value::Int(t), Some(v)) => Some((*t as f64, v)),
                _ => None,
            };
            let mut before: Option<(f64, f64)> = None;
            let mut gap_start = 0;
            for j in 0..series.len() {
                if generated[j] {
                    continue;
                }
                let Some(after) = point(&series[j]) else {
                    continue;
                };
                if let Some((t0, v0)) = before {
                    let gap = series[gap_start..j]
                        .iter_mut()
                        .zip(&generated[gap_start..j]);
                    for (row, _) in gap.filter(|(_, g)| **g) {
                        if let Value::Int(t) = row[bucket] {
                            let v = v0 + (after.1 - v0) * (t as f64 - t0) / (after.0 - t0);
                            row[column] = if data_type.is_float() {
                                Value::Float(v)
                            } else {
                                Value::Int(v.round() as i64)
                            };
                        }
                    }
                }
                before = Some(after);
                gap_start = j + 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relation::test_support::{relation, Rng};

    const K: usize = 0;
    const B: usize = 1;
    const VI: usize = 2;
    const VF: usize = 3;
    const VS: usize = 4;
    const BASE: i64 = 1_000;
    const STEP: i64 = 10;

    fn columns() -> [(&'static str, DataType); 5] {
        [
            ("k", DataType::Symbol),
            ("b", DataType::Timestamp),
            ("vi", DataType::Int64),
            ("vf", DataType::Float64),
            ("vs", DataType::Symbol),
        ]
    }

    /// Each key (or only "a") at each of 8 buckets with probability 1/2, shuffled.
    fn random_input(rng: &mut Rng, keyed: bool) -> Relation {
        let keys: Vec<Value> = if keyed {
            vec![Value::Null, Value::Str("b".into()), Value::Str("a".into())]
        } else {
            vec![Value::Str("a".into())]
        };
        let mut rows = Vec::new();
        for key in &keys {
            for slot in 0..8 {
                if rng.percent(50) {
                    continue;
                }
                let maybe = |rng: &mut Rng, v: Value| if rng.percent(20) { Value::Null } else { v };
                let vi = Value::Int(rng.range(-100, 100));
                let vf = Value::Float(rng.range(-100, 100) as f64 / 4.0);
                let vs = Value::Str(format!("s{}", rng.below(3)));
                rows.push(vec![
                    key.clone(),
                    Value::Int(BASE + slot * STEP),
                    maybe(rng, vi),
                    maybe(rng, vf),
                    maybe(rng, vs),
                ]);
            }
        }
        for i in (1..rows.len()).rev() {
            rows.swap(i, rng.below(i as u64 + 1) as usize);
        }
        relation(&columns(), rows)
    }

    fn key_cmp(a: &Value, b: &Value) -> std::cmp::Ordering {
        match (a, b) {
            (Value::Str(x), Value::Str(y)) => x.cmp(y),
            (Value::Null, Value::Null) => std::cmp::Ordering::Equal,
            (Value::Null, _) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        }
    }

    fn int(v: &Value) -> i64 {
        match v {
            Value::Int(i) => *i,
            other => panic!("not an int: {other}"),
        }
    }

    fn brute_force(input: &Relation, spec: &FillSpec) -> Vec<Vec<Value>> {
        let in_range = |b: i64| spec.range.is_none_or(|(from, to)| from <= b && b < to);
        let rows: Vec<&Vec<Value>> = input.rows.iter().filter(|r| in_range(int(&r[B]))).collect();
        let buckets: Vec<i64> = match spec.range {
            Some((from, to)) => (from..to).step_by(spec.step as usize).collect(),
            None => match (
                rows.iter().map(|r| int(&r[B])).min(),
                rows.iter().map(|r| int(&r[B])).max(),
            ) {
                (Some(lo), Some(hi)) => (lo..=hi).step_by(spec.step as usize).collect(),
                _ => vec![],
            },
        };
        let mut keys: Vec<Value> = Vec::new();
        if spec.keys.is_empty() {
            keys.push(Value::Null);
        } else {
            for r in &rows {
                if !keys.contains(&r[K]) {
                    keys.push(r[K].clone());
                }
            }
            keys.sort_by(key_cmp);
        }
        let no_fill = spec.fills.iter().any(|(_, m)| *m == FillMode::None);
        let of_key = |key: &Value| -> Vec<&Vec<Value>> {
            rows.iter()
                .filter(|r| spec.keys.is_empty() || r[K] == *key)
                .copied()
                .collect()
        };
        let mut out = Vec::new();
        for key in &keys {
            let series = of_key(key);
            for &b in &buckets {
                if let Some(r) = series.iter().find(|r| int(&r[B]) == b) {
                    out.push((*r).clone());
                    continue;
                }
                if no_fill {
                    continue;
                }
                let mut row = vec![Value::Null; 5];
                if !spec.keys.is_empty() {
                    row[K] = key.clone();
                }
                row[B] = Value::Int(b);
                for (c, mode) in &spec.fills {
                    row[*c] = match mode {
                        FillMode::None | FillMode::Null => Value::Null,
                        FillMode::Value(Value::Int(i)) if *c == VF => Value::Float(*i as f64),
                        FillMode::Value(Value::Float(f)) if *c == VI => Value::Int(*f as i64),
                        FillMode::Value(v) => v.clone(),
                        FillMode::Prev => series
                            .iter()
                            .filter(|r| int(&r[B]) < b)
                            .max_by_key(|r| int(&r[B]))
                            .map_or(Value::Null, |r| r[*c].clone()),
                        FillMode::Linear => {
                            let known = |r: &&&Vec<Value>| !r[*c].is_null();
                            let lo = series
                                .iter()
                                .filter(known)
                                .filter(|r| int(&r[B]) < b)
                                .max_by_key(|r| int(&r[B]));
                            let hi = series
                                .iter()
                                .filter(known)
                                .filter(|r| int(&r[B]) > b)
                                .min_by_key(|r| int(&r[B]));
                            match (lo, hi) {
                                (Some(lo), Some(hi)) => {
                                    let (t0, t1) = (int(&lo[B]) as f64, int(&hi[B]) as f64);
                                    let (v0, v1) =
                                        (lo[*c].as_f64().unwrap(), hi[*c].as_f64().unwrap());
                                    let v = v0 + (v1 - v0) * (b as f64 - t0) / (t1 - t0);
                                    if *c == VF {
                                        Value::Float(v)
                                    } else {
                                        Value::Int(v.round() as i64)
                                    }
                                }
                                _ => Value::Null,
                            }
                        }
                    };
                }
                out.push(row);
            }
        }
        out
    }

    #[test]
    fn matches_brute_force_on_random_data() {
        let mut rng = Rng::new(41);
        let fill_sets = vec![
            vec![(VI, FillMode::Prev), (VF, FillMode::Linear)],
            vec![(VI, FillMode::Linear), (VF, FillMode::Value(Value::Int(3)))],
            vec![
                (VI, FillMode::Value(Value::Float(2.0))),
                (VF, FillMode::Null),
            ],
            vec![],
            vec![(VI, FillMode::None), (VF, FillMode::None)],
            vec![(VS, FillMode::Prev), (VF, FillMode::Prev)],
            vec![(VS, FillMode::Value(Value::Str("x".into())))],
        ];
        let ranges = [
            None,
            Some((BASE - 2 * STEP, BASE + 5 * STEP)),
            Some((BASE + 3 * STEP, BASE + 3 * STEP)),
            Some((BASE + 2 * STEP, BASE + 12 * STEP + 1)),
        ];
        for case in 0..30 {
            let keyed = case % 3 != 0;
            let input = random_input(&mut rng, keyed);
            for fills in &fill_sets {
                for range in ranges {
                    let spec = FillSpec {
                        keys: if keyed { vec![K] } else { vec![] },
                        bucket: B,
                        step: STEP,
                        range,
                        fills: fills.clone(),
                    };
                    let got = fill_buckets(input.clone(), &spec).unwrap();
                    assert_eq!(got.rows, brute_force(&input, &spec), "{case} {spec:?}");
                    assert_eq!(got.columns, input.columns);
                }
            }
        }
    }

    fn spec(fills: Vec<(usize, FillMode)>) -> FillSpec {
        FillSpec {
            keys: vec![K],
            bucket: B,
            step: STEP,
            range: None,
            fills,
        }
    }

    fn row(b: i64) -> Vec<Value> {
        vec![
            Value::Str("a".into()),
            Value::Int(b),
            Value::Int(1),
            Value::Float(1.0),
            Value::Null,
        ]
    }

    #[test]
    fn empty_input() {
        let empty = relation(&columns(), vec![]);
        let got = fill_buckets(empty.clone(), &spec(vec![(VI, FillMode::Prev)])).unwrap();
        assert!(got.rows.is_empty());
        let mut keyless = spec(vec![(VI, FillMode::Value(Value::Int(0)))]);
        keyless.keys.clear();
        keyless.range = Some((0, 3 * STEP));
        let got = fill_buckets(empty, &keyless).unwrap();
        let expected: Vec<Vec<Value>> = (0..3)
            .map(|k| {
                vec![
                    Value::Null,
                    Value::Int(k * STEP),
                    Value::Int(0),
                    Value::Null,
                    Value::Null,
                ]
            })
            .collect();
        assert_eq!(got.rows, expected);
    }

    #[test]
    fn single_row_needs_no_fill() {
        let one = relation(&columns(), vec![row(BASE)]);
        let got = fill_buckets(one.clone(), &spec(vec![(VI, FillMode::Linear)])).unwrap();
        assert_eq!(got, one);
    }

    #[test]
    fn invalid_specs_and_inputs_are_errors() {
        let rel = relation(&columns(), vec![row(BASE), row(BASE + 2 * STEP)]);
        let check = |spec: FillSpec, rel: &Relation| fill_buckets(rel.clone(), &spec).unwrap_err();
        let err = check(spec(vec![(VI, FillMode::None), (VF, FillMode::Prev)]), &rel);
        assert!(matches!(err, QueryError::Unsupported { .. }), "{err}");
        let err = check(spec(vec![(VS, FillMode::Linear)]), &rel);
        assert!(matches!(err, QueryError::Type { .. }), "{err}");
        let err = check(
            spec(vec![(VI, FillMode::Value(Value::Str("x".into())))]),
            &rel,
        );
        assert!(matches!(err, QueryError::Type { .. }), "{err}");
        let err = check(spec(vec![(VI, FillMode::Value(Value::Float(0.5)))]), &rel);
        assert!(matches!(err, QueryError::Type { .. }), "{err}");
        let err = check(
            FillSpec {
                step: 0,
                ..spec(vec![])
            },
            &rel,
        );
        assert!(matches!(err, QueryError::Type { .. }), "{err}");
        check(spec(vec![(K, FillMode::Prev)]), &rel);
        check(spec(vec![(9, FillMode::Prev)]), &rel);
        let off_grid = relation(&columns(), vec![row(BASE), row(BASE + STEP / 2)]);
        check(spec(vec![]), &off_grid);
        let duplicate = relation(&columns(), vec![row(BASE), row(BASE)]);
        check(spec(vec![]), &duplicate);
        let mut null_bucket = row(BASE);
        null_bucket[B] = Value::Null;
        check(spec(vec![]), &relation(&columns(), vec![null_bucket]));
    }

    #[test]
    fn too_many_buckets_is_an_error() {
        let rel = relation(&columns(), vec![row(0)]);
        let huge = FillSpec {
            range: Some((0, i64::MAX)),
            step: 1,
            ..spec(vec![])
        };
        let err = fill_buckets(rel, &huge).unwrap_err();
        assert!(matches!(
            err,
            QueryError::Engine(quecto_engine::EngineError::ResultTooLarge { .. })
        ));
    }
}
