//! Counters published for watchers while the engine runs. Each stage thread copies its own
//! counters here now and then (plain relaxed stores: one writer per field), so a watcher never
//! touches stage state and the hot path never waits for a watcher.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::metrics::LatencyHistogram;
use crate::model::RejectReason;
use crate::model::TickReject;
use crate::stages::candle::CandleStage;
use crate::stages::order::OrderStage;
use crate::stages::risk::RiskStage;
use crate::stages::strategy::StrategyStage;

/// A counter on its own cache line.
pub type Padded<T> = crossbeam_utils::CachePadded<T>;

/// Every field sits on its own cache line: the stage threads of a pipelined engine each write
/// their own fields, and a watcher reads them all, so no two writers ever share a line.
/// (`Padded` dereferences to the atomic, so reading is the same as without it.)
#[derive(Debug, Default)]
pub struct LiveStats {
    pub ticks_in: Padded<AtomicU64>,
    pub ticks_accepted: Padded<AtomicU64>,
    pub ticks_rejected: Padded<[AtomicU64; TickReject::ALL.len()]>,
    pub candles: Padded<AtomicU64>,
    pub signals: Padded<AtomicU64>,
    pub risk_rejected: Padded<[AtomicU64; RejectReason::ALL.len()]>,
    pub orders: Padded<AtomicU64>,
    pub orders_rejected: Padded<AtomicU64>,
    pub fills: Padded<AtomicU64>,
    /// Per account, paise.
    pub realized: Vec<Padded<AtomicI64>>,
    pub unrealized: Vec<Padded<AtomicI64>>,
    /// Charges paid per account, paise.
    pub charges: Vec<Padded<AtomicI64>>,
    /// Last trade per instrument, paise.
    pub last_price: Vec<Padded<AtomicI64>>,
    /// Kill switches as the risk stage holds them, including those it trips itself (daily
    /// loss limit), per account, and the global one.
    pub account_kill: Vec<Padded<AtomicBool>>,
    pub global_kill: Padded<AtomicBool>,
    /// What live venues said ([`VENUE_REPORTS`]): requests sent, reports applied, and the
    /// reports refused as unknown, duplicate or out of order (never applied, never a panic).
    pub venue: Padded<[AtomicU64; 5]>,
    /// Per stage ([`STAGES`]), p50 / p90 / p99 / p99.9 of its processing time in ns, from the
    /// engine's own sampled histograms (zero while stage timing is off).
    pub stage_ns: [Padded<[AtomicU64; 4]>; 6],
}

/// Names of the fields of [`LiveStats::venue`].
pub const VENUE_REPORTS: [&str; 5] = ["requests", "applied", "unknown", "duplicate", "out_of_order"];

/// Names of the rows of [`LiveStats::stage_ns`].
pub const STAGES: [&str; 6] = ["candle", "strategy", "risk", "order", "tick_to_order", "timer_to_order"];
/// Quantiles of the columns of [`LiveStats::stage_ns`].
pub const STAGE_QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// A plain copy of [`LiveStats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveSnapshot {
    pub ticks_in: u64,
    pub ticks_accepted: u64,
    pub ticks_rejected: Vec<(TickReject, u64)>,
    pub candles: u64,
    pub signals: u64,
    pub risk_rejected: Vec<(RejectReason, u64)>,
    pub orders: u64,
    pub orders_rejected: u64,
    pub fills: u64,
    /// As [`LiveStats::venue`], in the order of [`VENUE_REPORTS`].
    pub venue: [u64; 5],
    pub realized: Vec<i64>,
    pub unrealized: Vec<i64>,
    pub charges: Vec<i64>,
    pub last_price: Vec<i64>,
}

impl LiveStats {
    pub fn new(accounts: usize) -> Self {
        Self::with_instruments(accounts, 0)
    }

    pub fn with_instruments(accounts: usize, instruments: usize) -> Self {
        LiveStats {
            realized: (0..accounts).map(|_| Padded::new(AtomicI64::new(0))).collect(),
            unrealized: (0..accounts).map(|_| Padded::new(AtomicI64::new(0))).collect(),
            charges: (0..accounts).map(|_| Padded::new(AtomicI64::new(0))).collect(),
            last_price: (0..instruments).map(|_| Padded::new(AtomicI64::new(0))).collect(),
            account_kill: (0..accounts).map(|_| Padded::new(AtomicBool::new(false))).collect(),
            ..Default::default()
        }
    }

    pub fn publish_candle(&self, s: &CandleStage) {
        let c = &s.counters;
        self.ticks_in.store(c.ticks_in, Relaxed);
        self.ticks_accepted.store(c.ticks_accepted, Relaxed);
        for (a, v) in self.ticks_rejected.iter().zip(c.rejected) {
            a.store(v, Relaxed);
        }
        self.candles.store(c.candles, Relaxed);
    }

    pub fn publish_strategy(&self, s: &StrategyStage) {
        self.signals.store(s.counters.signals, Relaxed);
    }

    pub fn publish_risk(&self, s: &RiskStage) {
        for (a, v) in self.risk_rejected.iter().zip(s.counters.rejected) {
            a.store(v, Relaxed);
        }
        for (i, k) in self.account_kill.iter().enumerate() {
            k.store(s.account_kill(i), Relaxed);
        }
        self.global_kill.store(s.global_kill(), Relaxed);
    }

    /// One stage's latency quantiles (`stage` indexes [`STAGES`]). Reading quantiles walks the
    /// histogram, so callers do this now and then, not per event.
    pub fn publish_stage(&self, stage: usize, h: &LatencyHistogram) {
        let Some(row) = self.stage_ns.get(stage) else { return };
        if h.is_empty() {
            return;
        }
        for (a, q) in row.iter().zip(STAGE_QUANTILES) {
            a.store(h.quantile_ns(q), Relaxed);
        }
    }

    /// The published quantiles of one stage.
    pub fn stage_quantiles(&self, stage: usize) -> [u64; 4] {
        self.stage_ns.get(stage).map(|r| r.each_ref().map(|a| a.load(Relaxed))).unwrap_or_default()
    }

    pub fn publish_order(&self, s: &OrderStage) {
        self.orders.store(s.counters.orders, Relaxed);
        self.orders_rejected.store(s.counters.rejected, Relaxed);
        self.fills.store(s.counters.fills, Relaxed);
        let v = &s.counters.venue;
        let refused = v.unknown + v.duplicate + v.out_of_order;
        let venue = [v.requests, v.reports.saturating_sub(refused), v.unknown, v.duplicate, v.out_of_order];
        for (a, n) in self.venue.iter().zip(venue) {
            a.store(n, Relaxed);
        }
        for (i, p) in self.last_price.iter().enumerate() {
            p.store(s.venue().last_price(i).0, Relaxed);
        }
        for (i, c) in self.charges.iter().enumerate() {
            c.store(s.charges(i).total().0, Relaxed);
        }
        let pf = s.portfolio();
        for (i, (r, u)) in self.realized.iter().zip(&self.unrealized).enumerate() {
            let p = pf.account_pnl(i);
            r.store(p.realized.0, Relaxed);
            u.store(p.unrealized.0, Relaxed);
        }
    }

    pub fn snapshot(&self) -> LiveSnapshot {
        LiveSnapshot {
            ticks_in: self.ticks_in.load(Relaxed),
            ticks_accepted: self.ticks_accepted.load(Relaxed),
            ticks_rejected: TickReject::ALL
                .iter()
                .map(|r| (*r, self.ticks_rejected[r.index()].load(Relaxed)))
                .filter(|x| x.1 > 0)
                .collect(),
            candles: self.candles.load(Relaxed),
            signals: self.signals.load(Relaxed),
            risk_rejected: RejectReason::ALL
                .iter()
                .map(|r| (*r, self.risk_rejected[r.index()].load(Relaxed)))
                .filter(|x| x.1 > 0)
                .collect(),
            orders: self.orders.load(Relaxed),
            orders_rejected: self.orders_rejected.load(Relaxed),
            fills: self.fills.load(Relaxed),
            venue: self.venue.each_ref().map(|a| a.load(Relaxed)),
            realized: self.realized.iter().map(|a| a.load(Relaxed)).collect(),
            unrealized: self.unrealized.iter().map(|a| a.load(Relaxed)).collect(),
            charges: self.charges.iter().map(|a| a.load(Relaxed)).collect(),
            last_price: self.last_price.iter().map(|a| a.load(Relaxed)).collect(),
        }
    }
}
