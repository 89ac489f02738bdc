//! Aggregation kernels: free functions over slices and an optional keep-mask, written so the
//! compiler vectorizes them (independent lanes for float sums, selects instead of branches).

/// Largest slice an exact integer sum takes in one call: keeps both 32-bit halves' partial sums
/// far inside i64 (2^32 · 2^20 = 2^52).
pub const EXACT_SUM_ROWS_MAX: usize = 1 << 20;

/// Numbers the float kernels accept.
pub trait AsF64: Copy {
    /// The value as f64.
    fn as_f64(self) -> f64;
}

impl AsF64 for f64 {
    fn as_f64(self) -> f64 {
        self
    }
}

impl AsF64 for i64 {
    fn as_f64(self) -> f64 {
        self as f64
    }
}

/// Number of `true` entries.
pub fn count_true(mask: &[bool]) -> u64 {
    mask.iter().map(|&b| u64::from(b)).sum()
}

/// Exact sum of `values` where `keep` (all when `None`).
///
/// Each value is split into its signed high half (`x >> 32`) and unsigned low half
/// (`x & 0xffff_ffff`); each half is summed in i64, which cannot overflow for up to
/// `EXACT_SUM_ROWS_MAX` values, and the halves are recombined in i128. Example: for
/// x = -1, hi = -1 and lo = 0xffff_ffff, and hi·2^32 + lo = -1.
pub fn sum_i64_exact(values: &[i64], keep: Option<&[bool]>) -> i128 {
    assert!(
        values.len() <= EXACT_SUM_ROWS_MAX,
        "exact sum of {} values",
        values.len()
    );
    let (mut hi, mut lo) = (0i64, 0i64);
    match keep {
        None => {
            for &x in values {
                hi += x >> 32;
                lo += x & 0xffff_ffff;
            }
        }
        Some(mask) => {
            for (&x, &k) in values.iter().zip(mask) {
                let x = if k { x } else { 0 };
                hi += x >> 32;
                lo += x & 0xffff_ffff;
            }
        }
    }
    (i128::from(hi) << 32) + i128::from(lo)
}

const LANES: usize = 8;

/// Sum of `values` where `keep`, in eight independent lanes (vectorizable, and a little more
/// accurate than one running sum).
pub fn sum_f64<T: AsF64>(values: &[T], keep: Option<&[bool]>) -> f64 {
    match keep {
        None => lanes_sum(values.len(), |i| values[i].as_f64()),
        Some(mask) => lanes_sum(
            values.len(),
            |i| if mask[i] { values[i].as_f64() } else { 0.0 },
        ),
    }
}

/// Σ aᵢ·bᵢ where `keep`, in eight lanes.
pub fn dot_f64<A: AsF64, B: AsF64>(a: &[A], b: &[B], keep: Option<&[bool]>) -> f64 {
    let len = a.len().min(b.len());
    match keep {
        None => lanes_sum(len, |i| a[i].as_f64() * b[i].as_f64()),
        Some(mask) => lanes_sum(len, |i| {
            if mask[i] {
                a[i].as_f64() * b[i].as_f64()
            } else {
                0.0
            }
        }),
    }
}

/// Σ term(i) for i in 0..len, accumulated in `LANES` independent partial sums so the loop has
/// no serial dependency (floating-point addition is not reassociated by the compiler).
#[inline(always)]
fn lanes_sum(len: usize, term: impl Fn(usize) -> f64) -> f64 {
    let mut lanes = [0.0f64; LANES];
    let full = len / LANES * LANES;
    let mut base = 0;
    while base < full {
        for (lane, acc) in lanes.iter_mut().enumerate() {
            *acc += term(base + lane);
        }
        base += LANES;
    }
    let tail: f64 = (full..len).map(&term).sum();
    lanes.iter().sum::<f64>() + tail
}

/// Min and max of `values` where `keep`; `None` when nothing is kept.
pub fn min_max<T: Copy + PartialOrd>(values: &[T], keep: Option<&[bool]>) -> Option<(T, T)> {
    let mut kept = values
        .iter()
        .enumerate()
        .filter(|(i, _)| keep.is_none_or(|m| m[*i]))
        .map(|(_, &x)| x);
    let first = kept.next()?;
    Some(kept.fold((first, first), |(lo, hi), x| {
        let lo = if x < lo { x } else { lo };
        let hi = if x > hi { x } else { hi };
        (lo, hi)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_sum_handles_extremes_and_masks() {
        let values = [i64::MAX, i64::MAX, i64::MIN, -1, 7];
        let expected: i128 = values.iter().map(|&x| i128::from(x)).sum();
        assert_eq!(sum_i64_exact(&values, None), expected);
        let mask = [true, false, false, true, true];
        assert_eq!(
            sum_i64_exact(&values, Some(&mask)),
            i128::from(i64::MAX) - 1 + 7
        );
    }

    #[test]
    fn float_sums_and_dot_products_match_naive_loops() {
        let a: Vec<f64> = (0..1001).map(|i| f64::from(i) * 0.25).collect();
        let b: Vec<i64> = (0..1001).collect();
        let mask: Vec<bool> = (0..1001).map(|i| i % 3 == 0).collect();
        let naive: f64 = (0..1001)
            .filter(|i| i % 3 == 0)
            .map(|i| a[i] * b[i] as f64)
            .sum();
        assert!((dot_f64(&a, &b, Some(&mask)) - naive).abs() < 1e-6);
        assert_eq!(
            sum_f64(&a, None),
            (0..1001).map(|i| f64::from(i) * 0.25).sum::<f64>()
        );
        assert_eq!(count_true(&mask), 334);
    }

    #[test]
    fn min_max_respects_mask_and_empty_input() {
        assert_eq!(
            min_max(&[3, 1, 4, 1, 5], Some(&[true, false, true, false, false])),
            Some((3, 4))
        );
        assert_eq!(min_max::<i64>(&[], None), None);
        assert_eq!(min_max(&[2, 9], Some(&[false, false])), None);
    }
}
