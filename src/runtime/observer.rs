//! The run's egress observer: tick-to-order latency for progress lines, the console's view,
//! and the hand-off to the SQL store and Redis (non-blocking queues; a slow or absent service
//! only costs dropped, counted events, never the hot path's time).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dalal_admin::ViewObserver;
use dalal_core::engine::placement::EgressObserver;
use dalal_core::engine::stats::LiveStats;
use dalal_core::metrics::{LatencyHistogram, Percentiles};
use dalal_core::model::{AccountId, EgressEvent, Money, Timestamp};
use dalal_persistence::{Fanout, PnlSnapshot, RedisEvent};

pub(super) struct RunObserver {
    pub tick_to_order: LatencyHistogram,
    pub shared: Arc<Mutex<Percentiles>>,
    pub last_share: Instant,
    pub fanout: Fanout,
    pub live: Arc<LiveStats>,
    pub last_pnl: Instant,
    /// The admin console's view of orders, fills, positions and candles.
    pub view: ViewObserver,
}

impl EgressObserver for RunObserver {
    fn on_event(&mut self, ev: &EgressEvent) {
        self.view.on_event(ev);
        if let EgressEvent::Order { tick_to_order_ns, .. } = *ev {
            if tick_to_order_ns > 0 {
                self.tick_to_order.record(tick_to_order_ns);
            }
        }
        self.fanout.on_event(ev);
    }

    fn on_gap(&mut self, first: u64, missed: u64) {
        tracing::debug!(first, missed, "egress events dropped before the observer");
        self.view.on_gap(first, missed);
        self.fanout.on_gap(first, missed);
    }

    fn on_idle(&mut self) {
        self.view.on_idle();
        if self.last_share.elapsed() >= Duration::from_millis(500) {
            self.last_share = Instant::now();
            if let Ok(mut p) = self.shared.lock() {
                *p = self.tick_to_order.percentiles();
            }
        }
        if let Some(r) = &self.fanout.redis {
            if self.last_pnl.elapsed() >= Duration::from_secs(1) {
                self.last_pnl = Instant::now();
                let snap = self.live.snapshot();
                for (a, ((realized, unrealized), charges)) in
                    snap.realized.iter().zip(&snap.unrealized).zip(&snap.charges).enumerate()
                {
                    r.try_publish(RedisEvent::Pnl(PnlSnapshot {
                        ts: Timestamp::now(),
                        account: AccountId(a as u16),
                        realized: Money(*realized),
                        unrealized: Money(*unrealized),
                        charges: Money(*charges),
                    }));
                }
            }
        }
    }
}
