//! Hands the engine's egress stream to the SQL store and Redis: the one mapping every observer
//! uses, so what a run stores and publishes is the same wherever the observer runs.

use dalal_core::event::EgressEvent;

use crate::redis_pub::{RedisEvent, RedisSender};
use crate::store::{StoreEvent, StoreSender};

/// The store and Redis senders of one observer, and the egress sequence it has reached (a
/// deterministic key for the store's idempotent writes). Both sends never block.
pub struct Fanout {
    pub store: Option<StoreSender>,
    pub redis: Option<RedisSender>,
    seq: u64,
}

impl Fanout {
    pub fn new(store: Option<StoreSender>, redis: Option<RedisSender>) -> Self {
        Fanout { store, redis, seq: 0 }
    }

    /// Goes on after `emitted` events already handled (a recovered run), so sequence keys
    /// continue instead of starting over.
    pub fn starting_after(mut self, emitted: u64) -> Self {
        self.seq = emitted;
        self
    }

    /// Orders, fills and candles go to both; anything else is skipped.
    pub fn on_event(&mut self, ev: &EgressEvent) {
        self.seq += 1;
        if let (Some(s), Some(stored)) = (&self.store, to_store(ev, self.seq)) {
            s.submit(stored);
        }
        if let Some(r) = &self.redis {
            let published = match *ev {
                EgressEvent::Order { order, .. } => RedisEvent::Order(order),
                EgressEvent::Fill(fill) => RedisEvent::Fill(fill),
                EgressEvent::Candle(candle) => RedisEvent::Candle(candle),
                EgressEvent::Empty => return,
            };
            r.try_publish(published);
        }
    }
}

/// The store's record of the egress event numbered `source_seq` in the run, if it keeps one.
pub fn to_store(ev: &EgressEvent, source_seq: u64) -> Option<StoreEvent> {
    match *ev {
        EgressEvent::Order { order, .. } => Some(StoreEvent::Order { order, source_seq }),
        EgressEvent::Fill(fill) => Some(StoreEvent::Fill { fill, source_seq }),
        EgressEvent::Candle(candle) => Some(StoreEvent::Candle { candle, source_seq }),
        EgressEvent::Empty => None,
    }
}
