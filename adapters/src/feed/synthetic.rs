//! The synthetic market as a live feed: seeded random walks on each instrument's tick grid,
//! paced to a rate and stamped with the market clock (the wall clock, shifted into a session
//! when the machine's clock is outside one).

use std::time::Duration;

use dalal_core::engine::placement::IngressPublisher;
use dalal_core::model::{Input, Timestamp};

use super::{pause, FeedPoll, FeedReport, FeedSource};
use crate::synthetic::{Pacer, SyntheticConfig, SyntheticError, SyntheticFeed};

pub struct SyntheticSource {
    feed: SyntheticFeed,
    pacer: Pacer,
    /// Added to the wall clock to make market time.
    offset_ns: i64,
    published: u64,
}

impl SyntheticSource {
    /// `rate` ticks per second across all instruments (0: as fast as the ring takes them);
    /// `offset_ns` shifts the wall clock into market time.
    pub fn new(config: &SyntheticConfig, rate: u64, offset_ns: i64) -> Result<SyntheticSource, SyntheticError> {
        Ok(SyntheticSource { feed: SyntheticFeed::new(config)?, pacer: Pacer::new(rate), offset_ns, published: 0 })
    }
}

impl FeedSource for SyntheticSource {
    fn name(&self) -> String {
        format!("synthetic@{}/s", self.pacer.rate())
    }

    fn poll(&mut self, out: &mut IngressPublisher, room: usize, wait: Duration) -> FeedPoll {
        let due_in = self.pacer.next_due_in();
        if !due_in.is_zero() {
            if wait.is_zero() {
                return FeedPoll::Idle;
            }
            pause(due_in.min(wait));
            if !self.pacer.next_due_in().is_zero() {
                return FeedPoll::Idle;
            }
        }
        let mut n = 0;
        while n < room && self.pacer.next_due_in().is_zero() {
            self.pacer.take();
            let t = self.feed.next(Timestamp(Timestamp::now().0 + self.offset_ns));
            out.publish(Input::Tick(t), 0);
            n += 1;
        }
        self.published += n as u64;
        FeedPoll::Published(n)
    }

    fn report(&self) -> FeedReport {
        FeedReport { name: self.name(), published: self.published, received: self.published, ..FeedReport::default() }
    }
}
