//! Latency distributions. Each stage owns its histograms (no sharing, no locks); they are
//! merged and read after the stage stops, or copied out by its owner.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Upper bound of a recorded latency: 60 s. Larger values are clamped, not dropped, so a stall
/// still shows up as the maximum.
const MAX_NS: u64 = 60_000_000_000;

/// A latency histogram in nanoseconds with 3 significant digits.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    h: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    pub fn new() -> Self {
        // Bounds and precision are constants known to be valid.
        let h = Histogram::new_with_bounds(1, MAX_NS, 3).unwrap_or_else(|_| unreachable!("static histogram bounds"));
        LatencyHistogram { h }
    }

    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.h.saturating_record(ns.clamp(1, MAX_NS));
    }

    pub fn merge(&mut self, other: &LatencyHistogram) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.h.add(&other.h);
    }

    pub fn len(&self) -> u64 {
        self.h.len()
    }

    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    pub fn reset(&mut self) {
        self.h.reset();
    }

    /// The value at quantile `q` (0 when empty).
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.h.is_empty() {
            0
        } else {
            self.h.value_at_quantile(q)
        }
    }

    pub fn percentiles(&self) -> Percentiles {
        let q = |p: f64| if self.h.is_empty() { 0 } else { self.h.value_at_quantile(p) };
        Percentiles {
            count: self.h.len(),
            p50_ns: q(0.50),
            p90_ns: q(0.90),
            p99_ns: q(0.99),
            p999_ns: q(0.999),
            p9999_ns: q(0.9999),
            max_ns: if self.h.is_empty() { 0 } else { self.h.max() },
        }
    }
}

/// The summary of a distribution that every report prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub p9999_ns: u64,
    pub max_ns: u64,
}

/// Per-stage processing time plus the end-to-end tick-to-order-intent latency.
#[derive(Clone, Debug, Default)]
pub struct StageLatencies {
    pub candle: LatencyHistogram,
    pub strategy: LatencyHistogram,
    pub risk: LatencyHistogram,
    pub order: LatencyHistogram,
    pub tick_to_order: LatencyHistogram,
    /// Orders caused by a bar a timer closed, from the timer's publication.
    pub timer_to_order: LatencyHistogram,
}

impl StageLatencies {
    pub fn merge(&mut self, o: &StageLatencies) {
        self.candle.merge(&o.candle);
        self.strategy.merge(&o.strategy);
        self.risk.merge(&o.risk);
        self.order.merge(&o.order);
        self.tick_to_order.merge(&o.tick_to_order);
        self.timer_to_order.merge(&o.timer_to_order);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_data() {
        let mut h = LatencyHistogram::new();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p = h.percentiles();
        assert_eq!(p.count, 1000);
        assert!((499_000..=501_000).contains(&p.p50_ns), "{p:?}");
        assert!((989_000..=991_000).contains(&p.p99_ns), "{p:?}");
        assert!(p.max_ns >= 1_000_000 && p.max_ns < 1_001_000);
        h.record(u64::MAX);
        assert!(h.percentiles().max_ns >= MAX_NS - MAX_NS / 1000);
        assert_eq!(LatencyHistogram::new().percentiles(), Percentiles::default());
    }
}
