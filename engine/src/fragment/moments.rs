//! `Moments`: count, mean and M2 (the sum of squared deviations from the mean) of a set of
//! numbers, the mergeable state behind variance and standard deviation.
//!
//! A chunk's moments come from two passes over its slice (the mean, then the squared
//! deviations from it); single values and partial states are folded in with Chan et al.'s
//! pairwise formula, which for a single value is Welford's update. Neither path subtracts
//! large sums of squares, so a series far from zero (prices, timestamps) keeps its precision.

use super::kernels::{count_true, dot_f64, sum_f64, AsF64};

/// Count, mean and Σ(x - mean)² of the values seen.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    /// Number of values.
    pub count: u64,
    /// Their mean (0 when there are none).
    pub mean: f64,
    /// Σ(x - mean)².
    pub m2: f64,
}

impl Moments {
    /// The moments of the one value `x`.
    pub fn single(x: f64) -> Moments {
        Moments {
            count: 1,
            mean: x,
            m2: 0.0,
        }
    }

    /// The moments of `values` where `keep` (all when `None`), in two passes.
    pub fn of_slice<T: AsF64>(values: &[T], keep: Option<&[bool]>) -> Moments {
        let count = keep.map_or(values.len() as u64, count_true);
        if count == 0 {
            return Moments::default();
        }
        let mean = sum_f64(values, keep) / count as f64;
        let deviations: Vec<f64> = values.iter().map(|x| x.as_f64() - mean).collect();
        Moments {
            count,
            mean,
            m2: dot_f64(&deviations, &deviations, keep),
        }
    }

    /// Folds `other` into these moments (Chan et al.): with δ = mean_b - mean_a and
    /// n = n_a + n_b, mean = mean_a + δ·n_b/n and M2 = M2_a + M2_b + δ²·n_a·n_b/n.
    pub fn merge(&mut self, other: Moments) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other;
            return;
        }
        let count = self.count + other.count;
        let (a, b, n) = (self.count as f64, other.count as f64, count as f64);
        let delta = other.mean - self.mean;
        self.mean += delta * b / n;
        self.m2 += other.m2 + delta * delta * a * b / n;
        self.count = count;
    }

    /// Population variance M2 / n; `None` over no values.
    pub fn variance_population(&self) -> Option<f64> {
        (self.count > 0).then(|| self.m2 / self.count as f64)
    }

    /// Sample variance M2 / (n - 1); `None` under two values.
    pub fn variance_sample(&self) -> Option<f64> {
        (self.count > 1).then(|| self.m2 / (self.count - 1) as f64)
    }
}
