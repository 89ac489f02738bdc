//! Exact quantiles of a sample of numbers, by selection (O(n)) rather than a full sort.
//! NaNs order after every number (`f64::total_cmp`).

use std::cmp::Ordering;

/// The continuous quantile at `level` (PostgreSQL `percentile_cont`, DuckDB `quantile_cont`):
/// with the values sorted, position p = level·(n - 1) falls between the values at ⌊p⌋ and
/// ⌈p⌉, and the result interpolates linearly between them. `None` over no values.
pub fn quantile_cont(values: &[f64], level: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut values = values.to_vec();
    let position = level * (values.len() - 1) as f64;
    let lower_index = position.floor() as usize;
    let fraction = position - lower_index as f64;
    let (_, lower, above) = values.select_nth_unstable_by(lower_index, f64::total_cmp);
    let lower = *lower;
    if fraction == 0.0 {
        return Some(lower);
    }
    // The upper neighbour is the smallest value above the lower one's position.
    let upper = above
        .iter()
        .copied()
        .min_by(f64::total_cmp)
        .unwrap_or(lower);
    // Equal neighbours give that value (and no ∞ - ∞ when both are infinite).
    if upper.total_cmp(&lower) == Ordering::Equal {
        return Some(lower);
    }
    Some(lower + fraction * (upper - lower))
}

/// The discrete quantile at `level` (PostgreSQL `percentile_disc`): the first value, in
/// ascending order, whose position reaches the fraction `level` of the n values, i.e. the
/// value at 0-based index max(⌈level·n⌉, 1) - 1. `None` over no values.
pub fn quantile_disc(values: &[f64], level: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut values = values.to_vec();
    let rank = ((level * values.len() as f64).ceil() as usize).clamp(1, values.len());
    let (_, value, _) = values.select_nth_unstable_by(rank - 1, f64::total_cmp);
    Some(*value)
}
