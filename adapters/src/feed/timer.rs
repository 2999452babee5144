//! Wall-clock timers for live feeds: at a fixed rate, the market time, so bars of quiet
//! instruments close and DAY orders expire even when nothing trades. (A replayed file makes
//! its own timers from its clock.)

use std::time::{Duration, Instant};

use dalal_core::engine::placement::IngressPublisher;
use dalal_core::model::{Input, Timestamp};

use super::{pause, FeedPoll, FeedReport, FeedSource};

pub struct WallTimer {
    period: Duration,
    next: Instant,
    /// Added to the wall clock to make market time.
    offset_ns: i64,
    published: u64,
}

impl WallTimer {
    /// `hz` timers per second (at least 1).
    pub fn new(hz: u64, offset_ns: i64) -> WallTimer {
        let period = Duration::from_secs_f64(1.0 / hz.max(1) as f64);
        WallTimer { period, next: Instant::now() + period, offset_ns, published: 0 }
    }
}

impl FeedSource for WallTimer {
    fn name(&self) -> String {
        format!("timer@{:?}", self.period)
    }

    fn poll(&mut self, out: &mut IngressPublisher, _room: usize, wait: Duration) -> FeedPoll {
        let now = Instant::now();
        if now < self.next {
            let ahead = self.next - now;
            if wait < ahead {
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
                return FeedPoll::Idle;
            }
            pause(ahead);
        }
        // One timer however late: it carries the time, so a missed one adds nothing.
        let now = Instant::now();
        while self.next <= now {
            self.next += self.period;
        }
        out.publish(Input::Timer(Timestamp(Timestamp::now().0 + self.offset_ns)), 0);
        self.published += 1;
        FeedPoll::Published(1)
    }

    fn report(&self) -> FeedReport {
        FeedReport { name: self.name(), published: self.published, ..FeedReport::default() }
    }
}
