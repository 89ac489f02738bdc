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
#[inline]
pub fn count_true(mask: &[bool]) -> u64 {
    mask.iter().map(|&b| u64::from(b)).sum()
}

/// Exact sum of `values` where `keep` (all when `None`).
///
/// Each value is split into its signed high half (`x >> 32`) and unsigned low half
/// (`x & 0xffff_ffff`); each half is summed in i64, which cannot overflow for up to
/// `EXACT_SUM_ROWS_MAX` values, and the halves are recombined in i128. Example: for
/// x = -1, hi = -1 and lo = 0xffff_ffff, and hi·2^32 + lo = -1.
#[inline]
pub fn sum_i64_exact(values: &[i64], keep: Option<&[bool]>) -> i128 {
    assert!(
        values.len() <= EXACT_SUM_ROWS_MAX,
        "exact sum of {} values",
        values.len()
    );
    if values.len() < SHORT_ROWS && keep.is_none() {
        // Too few for the split loop's setup to pay: add in i64, checking each step (exact
        // unless it overflows, which sends the slice down the split path).
        if let Some(sum) = values.iter().try_fold(0i64, |sum, &x| sum.checked_add(x)) {
            return i128::from(sum);
        }
    }
    let Some(mask) = keep else {
        let (mut hi, mut lo) = (0i64, 0i64);
        for &x in values {
            hi += x >> 32;
            lo += x & 0xffff_ffff;
        }
        return (i128::from(hi) << 32) + i128::from(lo);
    };
    sum_i64_where(mask, values, |kept| kept)
}

/// Bytes of a cache line, the unit `prefetch` asks for.
const CACHE_LINE_BYTES: usize = 64;

/// Asks the CPU to start loading `values` into its caches, one request per cache line, without
/// waiting: a scan about to jump to rows the hardware prefetcher cannot foresee (the next
/// block a filter must read, far from the current one) finds them loaded.
#[inline]
pub fn prefetch<T>(values: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(values);
        let start = values.as_ptr().cast::<i8>();
        for offset in (0..bytes).step_by(CACHE_LINE_BYTES) {
            // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has; it is a hint that
            // never faults or reads into a register, and the address is inside `values`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = values;
}

const LANES: usize = 8;

/// Slices shorter than this are folded in one pass: lanes and their recombination cost more
/// than they save (a short run of a bar).
const SHORT_ROWS: usize = 4 * LANES;

/// Sum of `values` where `keep`, in eight independent lanes (vectorizable, and a little more
/// accurate than one running sum).
#[inline]
pub fn sum_f64<T: AsF64>(values: &[T], keep: Option<&[bool]>) -> f64 {
    match keep {
        None => lanes_sum(values.len(), |i| values[i].as_f64()),
        Some(mask) => lanes_sum(
            values.len(),
            |i| if mask[i] { values[i].as_f64() } else { 0.0 },
        ),
    }
}

/// Number of `keys` that `keep` accepts: the filter's mask is never stored.
#[inline]
pub fn count_where<K: Copy>(keys: &[K], keep: impl Fn(K) -> bool) -> u64 {
    keys.iter().map(|&k| u64::from(keep(k))).sum()
}

/// Exact sum of the `values` whose key `keep` accepts, compared and added in one pass (the
/// split-halves sum of `sum_i64_exact`, with a rejected value added as 0).
#[inline]
pub fn sum_i64_where<K: Copy>(keys: &[K], values: &[i64], keep: impl Fn(K) -> bool) -> i128 {
    count_sum_i64_where(keys, values, keep).1
}

/// The number of `keys` that `keep` accepts and the exact sum of their `values`, in one pass
/// (a filtered `count(), sum(column)` reads the compared column once).
#[inline]
pub fn count_sum_i64_where<K: Copy>(
    keys: &[K],
    values: &[i64],
    keep: impl Fn(K) -> bool,
) -> (u64, i128) {
    assert!(
        values.len() <= EXACT_SUM_ROWS_MAX,
        "exact sum of {} values",
        values.len()
    );
    let (mut hi, mut lo, mut kept) = (0i64, 0i64, 0u64);
    for (&k, &x) in keys.iter().zip(values) {
        let keeps = keep(k);
        kept += u64::from(keeps);
        let x = if keeps { x } else { 0 };
        hi += x >> 32;
        lo += x & 0xffff_ffff;
    }
    (kept, (i128::from(hi) << 32) + i128::from(lo))
}

/// Sum of the `values` whose key `keep` accepts, in eight lanes, compared and added in one
/// pass.
#[inline]
pub fn sum_f64_where<K: Copy>(keys: &[K], values: &[f64], keep: impl Fn(K) -> bool) -> f64 {
    let len = keys.len().min(values.len());
    let (keys, values) = (&keys[..len], &values[..len]);
    lanes_sum(keys.len(), |i| if keep(keys[i]) { values[i] } else { 0.0 })
}

/// Σ aᵢ·bᵢ where `keep`, in eight lanes.
#[inline]
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

/// The smallest of `values` where `keep` (`want_min`), or the largest; `None` when nothing is
/// kept. A value replaces the running extreme only when it compares strictly beyond it, so a
/// leading NaN stays and later NaNs are passed over; which of two equal zeros (-0.0, 0.0)
/// comes back is unspecified.
#[inline]
pub fn extreme<T: Copy + PartialOrd>(
    values: &[T],
    keep: Option<&[bool]>,
    want_min: bool,
) -> Option<T> {
    match (keep, want_min) {
        (None, true) => extreme_all(values, |x, e| x < e),
        (None, false) => extreme_all(values, |x, e| x > e),
        (Some(mask), _) => {
            let mut kept = values.iter().zip(mask).filter(|(_, &k)| k).map(|(&x, _)| x);
            let first = kept.next()?;
            let beyond = |x: T, e: T| if want_min { x < e } else { x > e };
            Some(kept.fold(first, |e, x| if beyond(x, e) { x } else { e }))
        }
    }
}

/// The extreme of every value under `beyond` (x replaces e when `beyond(x, e)`): in `LANES`
/// independent lanes all starting at the first value, so the loop has no serial dependency
/// and compiles to vector min/max; short slices fold in one lane.
#[inline(always)]
fn extreme_all<T: Copy + PartialOrd>(values: &[T], beyond: impl Fn(T, T) -> bool) -> Option<T> {
    let &first = values.first()?;
    let pick = |e: T, x: T| if beyond(x, e) { x } else { e };
    if values.len() < SHORT_ROWS {
        // Two accumulators halve the chain of dependent compares.
        let (mut even, mut odd) = (first, first);
        let pairs = values.chunks_exact(2);
        let tail = pairs.remainder();
        for pair in pairs {
            (even, odd) = (pick(even, pair[0]), pick(odd, pair[1]));
        }
        return Some(tail.iter().fold(pick(even, odd), |e, &x| pick(e, x)));
    }
    let mut lanes = [first; LANES];
    let blocks = values.chunks_exact(LANES);
    let tail = blocks.remainder();
    for block in blocks {
        for (lane, &x) in lanes.iter_mut().zip(block) {
            *lane = pick(*lane, x);
        }
    }
    let across = lanes.iter().fold(first, |e, &x| pick(e, x));
    Some(tail.iter().fold(across, |e, &x| pick(e, x)))
}

/// The smallest and the largest of `values` where `keep`, in one pass; `None` when nothing is
/// kept. Each follows `extreme`'s rule (a leading NaN stays, later ones are passed over): the
/// two ends of a bar read its prices once instead of twice.
#[inline]
pub fn min_max<T: Copy + PartialOrd>(values: &[T], keep: Option<&[bool]>) -> Option<(T, T)> {
    if keep.is_some() {
        return Some((extreme(values, keep, true)?, extreme(values, keep, false)?));
    }
    let &first = values.first()?;
    let lower = |e: T, x: T| if x < e { x } else { e };
    let higher = |e: T, x: T| if x > e { x } else { e };
    if values.len() < LANES {
        let low = values.iter().fold(first, |e, &x| lower(e, x));
        let high = values.iter().fold(first, |e, &x| higher(e, x));
        return Some((low, high));
    }
    let (mut lows, mut highs) = ([first; LANES], [first; LANES]);
    let mut fold_block = |block: &[T]| {
        for ((low, high), &x) in lows.iter_mut().zip(highs.iter_mut()).zip(block) {
            *low = lower(*low, x);
            *high = higher(*high, x);
        }
    };
    values.chunks_exact(LANES).for_each(&mut fold_block);
    // The last block again, overlapping the blocks before: extremes may see a value twice, and
    // a fixed-width block ends the run without a loop over a tail of varying length.
    fold_block(&values[values.len() - LANES..]);
    let low = lows.iter().fold(first, |e, &x| lower(e, x));
    let high = highs.iter().fold(first, |e, &x| higher(e, x));
    Some((low, high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_under_a_comparison_match_a_mask() {
        let keys: Vec<f64> = (0..1000)
            .map(|i| ((i * 7919) % 1000) as f64 / 10.0)
            .collect();
        let ints: Vec<i64> = (0..1000).map(|i| (i * 104_729) % 2001 - 1000).collect();
        let floats: Vec<f64> = ints.iter().map(|&v| v as f64 / 4.0).collect();
        for x in [-1.0, 0.0, 25.05, 50.0, 99.9, 100.0] {
            let mask: Vec<bool> = keys.iter().map(|&k| k > x).collect();
            assert_eq!(count_where(&keys, |k| k > x), count_true(&mask));
            assert_eq!(
                sum_i64_where(&keys, &ints, |k| k > x),
                sum_i64_exact(&ints, Some(&mask))
            );
            let expected: f64 = floats
                .iter()
                .zip(&mask)
                .filter(|(_, &k)| k)
                .map(|(v, _)| v)
                .sum();
            assert!((sum_f64_where(&keys, &floats, |k| k > x) - expected).abs() < 1e-9);
        }
    }

    #[test]
    fn integer_sum_under_a_comparison_is_exact_past_i64() {
        let values = [i64::MAX, i64::MAX, 5, i64::MIN, i64::MIN, i64::MAX];
        let keys = [1, 1, 0, 1, 0, 1];
        let expected = 3 * i128::from(i64::MAX) + i128::from(i64::MIN);
        assert_eq!(sum_i64_where(&keys, &values, |k| k == 1), expected);
        assert_eq!(count_where(&keys, |k| k == 1), 4);
        assert_eq!(sum_i64_where(&keys, &values, |k| k > 5), 0);
        assert_eq!(
            count_sum_i64_where(&keys, &values, |k| k == 1),
            (4, expected)
        );
        assert_eq!(count_sum_i64_where(&keys, &values, |k| k > 5), (0, 0));
    }

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
    fn extremes_in_lanes_match_one_pass() {
        let values: Vec<i64> = (0..1003).map(|i| (i * 7919) % 1009 - 500).collect();
        for len in [0, 1, 7, 8, 9, 31, 32, 33, 64, 1003] {
            let slice = &values[..len];
            let lo = slice.iter().copied().reduce(i64::min);
            let hi = slice.iter().copied().reduce(i64::max);
            assert_eq!(extreme(slice, None, true), lo, "min of {len} values");
            assert_eq!(extreme(slice, None, false), hi, "max of {len} values");
        }
        let mut floats: Vec<f64> = (0..40).map(|i| f64::from((i * 13) % 37) - 9.0).collect();
        floats[0] = f64::NAN;
        for len in [10, 40] {
            for want_min in [true, false] {
                let got = extreme(&floats[..len], None, want_min).unwrap();
                assert!(got.is_nan(), "a leading NaN stays ({len}, {want_min})");
            }
        }
        floats[0] = 5.0;
        floats[6] = f64::NAN;
        floats[33] = f64::NAN;
        for len in [10, 40] {
            let kept: Vec<f64> = floats[..len]
                .iter()
                .copied()
                .filter(|x| !x.is_nan())
                .collect();
            let lo = kept.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = kept.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(
                extreme(&floats[..len], None, true),
                Some(lo),
                "later NaNs pass"
            );
            assert_eq!(
                extreme(&floats[..len], None, false),
                Some(hi),
                "later NaNs pass"
            );
        }
    }

    #[test]
    fn min_max_matches_both_extremes() {
        let values: Vec<f64> = (0..203)
            .map(|i| f64::from((i * 7919) % 1009) - 500.0)
            .collect();
        let mask: Vec<bool> = (0..203).map(|i| i % 5 != 2).collect();
        for len in [0, 1, 2, 7, 8, 9, 15, 16, 17, 26, 33, 203] {
            for keep in [None, Some(&mask[..len])] {
                let slice = &values[..len];
                let both = extreme(slice, keep, true).zip(extreme(slice, keep, false));
                assert_eq!(
                    min_max(slice, keep),
                    both,
                    "{len} values, mask {}",
                    keep.is_some()
                );
            }
        }
        let mut floats = values[..20].to_vec();
        floats[0] = f64::NAN;
        let (low, high) = min_max(&floats, None).unwrap();
        assert!(low.is_nan() && high.is_nan(), "a leading NaN stays");
        floats[0] = 1.0;
        floats[9] = f64::NAN;
        assert_eq!(
            min_max(&floats, None),
            extreme(&floats, None, true).zip(extreme(&floats, None, false)),
            "a later NaN passes"
        );
    }

    #[test]
    fn extremes_respect_mask_and_empty_input() {
        let mask = [true, false, true, false, false];
        assert_eq!(extreme(&[3, 1, 4, 1, 5], Some(&mask), true), Some(3));
        assert_eq!(extreme(&[3, 1, 4, 1, 5], Some(&mask), false), Some(4));
        assert_eq!(extreme::<i64>(&[], None, true), None);
        assert_eq!(extreme(&[2, 9], Some(&[false, false]), false), None);
    }
}
