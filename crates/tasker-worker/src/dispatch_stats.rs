//! Dispatch overhead (Rust → runtime → Rust, handler time excluded) of every step a worker has
//! recorded since it was created, in an HDR histogram: recording a sample and reading the
//! percentiles cost the same whether the worker has run ten steps or ten million.

use hdrhistogram::Histogram;

/// Largest value kept apart, in microseconds (one hour); larger samples count as one hour.
const MAX_US: u64 = 3_600_000_000;
/// Three significant figures: a percentile is within 0.1 % of the exact sample.
const SIGNIFICANT_FIGURES: u8 = 3;

pub(crate) struct DispatchStats {
    histogram: Histogram<u64>,
}

impl Default for DispatchStats {
    fn default() -> Self {
        DispatchStats {
            // Fails only for a maximum below 2 or more than 5 significant figures.
            histogram: Histogram::new_with_max(MAX_US, SIGNIFICANT_FIGURES)
                .expect("constant histogram bounds are valid"),
        }
    }
}

impl DispatchStats {
    /// One step's overhead in microseconds, rounded to a whole microsecond. Negative and NaN
    /// values count as 0, values above one hour as one hour.
    pub(crate) fn record(&mut self, us: f64) {
        let us = if us > 0.0 {
            us.round().min(MAX_US as f64) as u64
        } else {
            0
        };
        self.histogram.saturating_record(us);
    }

    /// The `q`-quantile (0.0 ..= 1.0) in microseconds; 0 when nothing was recorded.
    pub(crate) fn quantile_us(&self, q: f64) -> f64 {
        if self.histogram.is_empty() {
            0.0
        } else {
            self.histogram.value_at_quantile(q) as f64
        }
    }

    /// How many samples were recorded.
    pub(crate) fn samples(&self) -> usize {
        usize::try_from(self.histogram.len()).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_reads_zero() {
        let s = DispatchStats::default();
        assert_eq!(s.samples(), 0);
        assert_eq!(s.quantile_us(0.5), 0.0);
        assert_eq!(s.quantile_us(0.95), 0.0);
    }

    #[test]
    fn percentiles_cover_every_sample_not_a_window() {
        let mut s = DispatchStats::default();
        for us in 1..=50_000 {
            s.record(us as f64);
        }
        // All 50,000 samples count (the old statistics kept only the last 10,000).
        assert_eq!(s.samples(), 50_000);
        let p50 = s.quantile_us(0.5);
        let p95 = s.quantile_us(0.95);
        assert!((p50 - 25_000.0).abs() <= 25.0, "p50 {p50}");
        assert!((p95 - 47_500.0).abs() <= 48.0, "p95 {p95}");
    }

    #[test]
    fn odd_values_are_clamped() {
        let mut s = DispatchStats::default();
        s.record(-3.0);
        s.record(f64::NAN);
        s.record(f64::INFINITY);
        s.record(1e18);
        assert_eq!(s.samples(), 4);
        assert_eq!(s.quantile_us(0.0), 0.0);
        let max = s.quantile_us(1.0);
        assert!(
            (max - MAX_US as f64).abs() <= MAX_US as f64 / 1000.0,
            "max {max}"
        );
    }

    #[test]
    fn fractional_microseconds_round() {
        let mut s = DispatchStats::default();
        s.record(199.6);
        assert_eq!(s.quantile_us(0.5), 200.0);
    }
}
