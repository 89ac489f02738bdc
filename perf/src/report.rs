//! Report lines: one line per measurement, `key=value` fields in a fixed order, so results
//! can be grepped and diffed across runs and pasted into BENCHMARKS.md as they are.
//!
//! ```text
//! machine  nproc=2 cpu="AMD EPYC 7B13" kernel=6.1.0-18-cloud-amd64
//! ping  n=20000 p50=41.2us p99=80.1us p99.9=120.0us max=900.3us  throughput=21000/s
//! ```
//!
//! Latencies are recorded in nanoseconds into an `hdrhistogram` with 3 significant digits and
//! printed in µs (written `us`, one decimal) below 10 ms and in ms (two decimals) above.

use crate::error::BenchError;
use crate::limits::LATENCY_NS_MAX;
use hdrhistogram::Histogram;
use std::time::Duration;

/// Latencies from 10 ms up print in milliseconds.
const MILLIS_FROM_NS: u64 = 10_000_000;

/// A histogram for latencies of 1 ns … `LATENCY_NS_MAX`, 3 significant digits.
pub fn histogram_new() -> Result<Histogram<u64>, BenchError> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, 3).map_err(|error| BenchError::Internal {
        detail: format!("histogram bounds rejected: {error}"),
    })
}

/// Records one latency; values beyond the histogram's range are clamped, never dropped.
pub fn latency_record(histogram: &mut Histogram<u64>, latency: Duration) {
    let latency_ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
    histogram.saturating_record(latency_ns.clamp(1, LATENCY_NS_MAX));
}

/// `ping  n=20000 p50=41.2us p99=80.1us p99.9=120.0us max=900.3us  throughput=21000/s`:
/// the histogram's percentiles, and samples per second of `elapsed` wall time.
pub fn latency_line(label: &str, histogram: &Histogram<u64>, elapsed: Duration) -> String {
    format!(
        "{label}  n={} p50={} p99={} p99.9={} max={}  throughput={}/s",
        histogram.len(),
        latency_format(histogram.value_at_quantile(0.50)),
        latency_format(histogram.value_at_quantile(0.99)),
        latency_format(histogram.value_at_quantile(0.999)),
        latency_format(histogram.max()),
        rate_format(histogram.len(), elapsed),
    )
}

/// `41.2us` below 10 ms, `12.34ms` from there on.
pub fn latency_format(latency_ns: u64) -> String {
    if latency_ns < MILLIS_FROM_NS {
        format!("{:.1}us", latency_ns as f64 / 1e3)
    } else {
        format!("{:.2}ms", latency_ns as f64 / 1e6)
    }
}

/// `count / elapsed` as a whole number; `0` when nothing was timed.
pub fn rate_format(count: u64, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    if seconds <= 0.0 {
        return "0".to_string();
    }
    format!("{:.0}", count as f64 / seconds)
}

/// The machine a run was measured on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// Cores this process may use (`available_parallelism`), 0 when unknown.
    pub cores_count: usize,
    /// `model name` of the first CPU in /proc/cpuinfo, or `unknown`.
    pub cpu_model: String,
    /// /proc/sys/kernel/osrelease, or `unknown`.
    pub kernel: String,
}

impl Machine {
    /// Reads the facts from the running system; a missing fact reads `unknown`, not an error.
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let kernel = kernel.trim();
        Self {
            cores_count: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model: cpu_model_parse(&cpuinfo).unwrap_or_else(|| "unknown".to_string()),
            kernel: if kernel.is_empty() { "unknown" } else { kernel }.to_string(),
        }
    }
}

/// `machine  nproc=2 cpu="AMD EPYC 7B13" kernel=6.1.0-18-cloud-amd64`.
pub fn machine_line(machine: &Machine) -> String {
    format!(
        "machine  nproc={} cpu=\"{}\" kernel={}",
        machine.cores_count,
        machine.cpu_model.replace(['"', '\\'], ""),
        machine.kernel.replace(char::is_whitespace, "_"),
    )
}

/// The value of the first `model name` line of /proc/cpuinfo text.
pub fn cpu_model_parse(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim() == "model name")
        .map(|(_, value)| value.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|model| !model.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_line_has_the_fixed_shape() -> Result<(), BenchError> {
        let mut histogram = histogram_new()?;
        for latency_us in 1..=1000u64 {
            latency_record(&mut histogram, Duration::from_micros(latency_us));
        }
        let line = latency_line("ping", &histogram, Duration::from_millis(500));
        assert_eq!(
            line,
            "ping  n=1000 p50=500.2us p99=990.2us p99.9=999.4us max=1000.4us  throughput=2000/s"
        );
        Ok(())
    }

    #[test]
    fn latency_switches_to_milliseconds_at_ten() {
        assert_eq!(latency_format(41_234), "41.2us");
        assert_eq!(latency_format(9_999_999), "10000.0us");
        assert_eq!(latency_format(10_000_000), "10.00ms");
        assert_eq!(latency_format(1_234_567_890), "1234.57ms");
    }

    #[test]
    fn latency_record_clamps_instead_of_dropping() -> Result<(), BenchError> {
        let mut histogram = histogram_new()?;
        latency_record(&mut histogram, Duration::ZERO);
        latency_record(&mut histogram, Duration::from_secs(10 * 3600));
        assert_eq!(histogram.len(), 2);
        assert!(histogram.max() >= LATENCY_NS_MAX);
        Ok(())
    }

    #[test]
    fn rate_of_nothing_timed_is_zero() {
        assert_eq!(rate_format(100, Duration::ZERO), "0");
        assert_eq!(rate_format(3, Duration::from_secs(2)), "2"); // 1.5 rounds half to even
    }

    #[test]
    fn cpu_model_comes_from_the_first_model_name_line() {
        let cpuinfo =
            "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC  7B13 64-Core\n\
                       processor\t: 1\nmodel name\t: other\n";
        assert_eq!(
            cpu_model_parse(cpuinfo).as_deref(),
            Some("AMD EPYC 7B13 64-Core")
        );
        assert_eq!(cpu_model_parse("processor\t: 0\n"), None);
        assert_eq!(cpu_model_parse("model name\t:\n"), None);
    }

    #[test]
    fn machine_line_quotes_the_cpu_model() {
        let machine = Machine {
            cores_count: 2,
            cpu_model: "AMD EPYC 7B13".to_string(),
            kernel: "6.1.0-18-cloud-amd64".to_string(),
        };
        assert_eq!(
            machine_line(&machine),
            "machine  nproc=2 cpu=\"AMD EPYC 7B13\" kernel=6.1.0-18-cloud-amd64"
        );
    }
}
