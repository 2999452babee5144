//! Hands the engine's egress stream to the SQL store and Redis: the one mapping every observer
//! uses, so what a run stores and publishes is the same wherever the observer runs.

use dalal_core::engine::Engine;
use dalal_core::model::{EgressEvent, Fill};
use dalal_core::stages::portfolio::{Portfolio, Position};

use crate::redis_pub::{RedisEvent, RedisSender};
use crate::store::{PositionSnapshot, StoreEvent, StoreSender};

/// The egress stream as store records, numbered by egress sequence (a deterministic key for
/// the store's idempotent writes): orders, fills, candles and, after each fill, the position it
/// left (kept here with the core's own average-cost [`Position`], from the engine's portfolio
/// when the mapper starts).
pub struct StoreMapper {
    seq: u64,
    positions: Option<Portfolio>,
}

impl StoreMapper {
    /// Numbers events from 1 and keeps no positions.
    pub fn new() -> Self {
        StoreMapper { seq: 0, positions: None }
    }

    /// Goes on from `engine`: its egress count and its positions (a recovered or restored
    /// engine has emitted before), so sequence keys and positions continue.
    pub fn resume(engine: &Engine) -> Self {
        StoreMapper { seq: engine.emitted(), positions: Some(engine.order.portfolio().clone()) }
    }

    /// The sequence number of the last event mapped.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Egress sequences `first .. first + missed` were lost before reaching the mapper: the
    /// next event is numbered after them. Positions after a lost fill are unknown here, so
    /// the mapper stops producing position snapshots; the re-feed from the journal (which
    /// maps every event) writes them.
    pub fn skip(&mut self, first: u64, missed: u64) {
        self.seq = self.seq.max((first + missed).saturating_sub(1));
        self.positions = None;
    }

    /// Hands `out` the records of one egress event.
    pub fn map(&mut self, ev: &EgressEvent, mut out: impl FnMut(StoreEvent)) {
        self.seq += 1;
        let source_seq = self.seq;
        match *ev {
            EgressEvent::Order { order, .. } => out(StoreEvent::Order { order, source_seq }),
            EgressEvent::Fill(fill) => {
                out(StoreEvent::Fill { fill, source_seq });
                if let Some(p) = self.position_after(&fill, source_seq) {
                    out(StoreEvent::Position(p));
                }
            }
            EgressEvent::Candle(candle) => out(StoreEvent::Candle { candle, source_seq }),
            // Requests are the gateway's business; notices reach the store through the order
            // they concern.
            EgressEvent::Empty | EgressEvent::VenueRequest(_) | EgressEvent::VenueNotice(_) => {}
        }
    }

    fn position_after(&mut self, f: &Fill, source_seq: u64) -> Option<PositionSnapshot> {
        let pos: &mut Position =
            self.positions.as_mut()?.get_mut(f.account.index(), f.instrument.index(), f.product)?;
        pos.apply_fill(f.side, f.qty, f.price);
        // Marked at the fill's own price: the snapshot is the position as that fill left it.
        pos.last = f.price;
        Some(PositionSnapshot {
            source_seq,
            ts: f.ts,
            account: f.account,
            instrument: f.instrument,
            product: f.product,
            net_qty: pos.net.0,
            avg_price: pos.avg_price(),
            realized: pos.realized(),
            unrealized: pos.unrealized(),
        })
    }
}

impl Default for StoreMapper {
    fn default() -> Self {
        Self::new()
    }
}

/// The store and Redis senders of one observer. Both sends never block.
pub struct Fanout {
    pub store: Option<StoreSender>,
    pub redis: Option<RedisSender>,
    mapper: StoreMapper,
}

impl Fanout {
    /// Numbers events from 1 and publishes no positions.
    pub fn new(store: Option<StoreSender>, redis: Option<RedisSender>) -> Self {
        Fanout { store, redis, mapper: StoreMapper::new() }
    }

    /// Follows `engine` (fresh or recovered): sequence keys continue from its egress count, and
    /// positions from its portfolio.
    pub fn for_engine(store: Option<StoreSender>, redis: Option<RedisSender>, engine: &Engine) -> Self {
        Fanout { store, redis, mapper: StoreMapper::resume(engine) }
    }

    /// Egress events were lost before this fan-out (see [`StoreMapper::skip`]): the store marks
    /// them for its re-feed; Redis, a live view, simply goes on.
    pub fn on_gap(&mut self, first: u64, missed: u64) {
        if missed == 0 {
            return;
        }
        self.mapper.skip(first, missed);
        if let Some(s) = &self.store {
            s.mark_lost(first, first + missed - 1);
        }
    }

    /// Orders, fills, positions and candles go to both; anything else is skipped.
    pub fn on_event(&mut self, ev: &EgressEvent) {
        let Fanout { store, redis, mapper } = self;
        mapper.map(ev, |stored| {
            if let Some(r) = redis {
                let published = match stored {
                    StoreEvent::Order { order, .. } => Some(RedisEvent::Order(order)),
                    StoreEvent::Fill { fill, .. } => Some(RedisEvent::Fill(fill)),
                    StoreEvent::Candle { candle, .. } => Some(RedisEvent::Candle(candle)),
                    StoreEvent::Position(p) => Some(RedisEvent::Position(p)),
                    _ => None,
                };
                if let Some(p) = published {
                    r.try_publish(p);
                }
            }
            if let Some(s) = store {
                s.submit(stored);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dalal_core::model::{AccountId, FillId, InstrumentId, Money, OrderId, Price, Product, Qty, Side};
    use dalal_core::model::{StrategyId, Timestamp};

    fn fill(id: u64) -> EgressEvent {
        EgressEvent::Fill(Fill {
            id: FillId(id),
            order: OrderId(id),
            account: AccountId(1),
            strategy: StrategyId(0),
            instrument: InstrumentId(2),
            side: Side::Buy,
            qty: Qty(10),
            price: Price(10_000),
            ts: Timestamp(1),
            product: Product::Mis,
            charges: Money(0),
        })
    }

    #[test]
    fn after_a_gap_keys_continue_past_it_and_positions_stop() {
        let mut m = StoreMapper { seq: 0, positions: Some(Portfolio::new(2, 3)) };
        let mut got = Vec::new();
        m.map(&fill(1), |e| got.push((e.source_seq(), matches!(e, StoreEvent::Position(_)))));
        assert_eq!(got, [(1, false), (1, true)]);
        got.clear();
        m.skip(2, 3);
        m.map(&fill(5), |e| got.push((e.source_seq(), matches!(e, StoreEvent::Position(_)))));
        assert_eq!(got, [(5, false)], "numbered after the gap; no position from a book that missed fills");
    }
}
