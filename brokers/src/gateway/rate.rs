//! A broker's order-rate limit as the broker counts it: at most `n` requests in any rolling
//! second. Kite and Angel One document "10 orders per second", and SEBI's threshold for
//! algorithms not registered with the exchange is 10 orders per second per client; spacing
//! requests evenly would be stricter than either, so a burst of `n` is allowed and the
//! `n + 1`-th waits until the first is a second old.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RateWindow {
    per_second: usize,
    sent: VecDeque<Instant>,
}

impl RateWindow {
    pub fn new(per_second: u32) -> RateWindow {
        let per_second = per_second.max(1) as usize;
        RateWindow { per_second, sent: VecDeque::with_capacity(per_second) }
    }

    /// How long to wait at `now` before the next request may go (zero: at once).
    pub fn wait(&self, now: Instant) -> Duration {
        if self.sent.len() < self.per_second {
            return Duration::ZERO;
        }
        self.sent
            .front()
            .map_or(Duration::ZERO, |first| (*first + Duration::from_secs(1)).saturating_duration_since(now))
    }

    /// Records a request sent at `now`.
    pub fn record(&mut self, now: Instant) {
        while self.sent.front().is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(1)) {
            self.sent.pop_front();
        }
        if self.sent.len() == self.per_second {
            self.sent.pop_front();
        }
        self.sent.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_n_then_the_next_waits_for_the_first_to_age() {
        let t0 = Instant::now();
        let mut w = RateWindow::new(3);
        for k in 0..3 {
            let now = t0 + Duration::from_millis(k * 10);
            assert_eq!(w.wait(now), Duration::ZERO);
            w.record(now);
        }
        let now = t0 + Duration::from_millis(30);
        assert_eq!(w.wait(now), Duration::from_millis(970));
        let later = t0 + Duration::from_millis(1000);
        assert_eq!(w.wait(later), Duration::ZERO);
        w.record(later);
        // The window now holds 10 ms, 20 ms and 1000 ms: the next may go at 1010 ms.
        assert_eq!(w.wait(later), Duration::from_millis(10));
        // In any rolling second, never more than three.
        let mut w = RateWindow::new(3);
        let mut sent = Vec::new();
        let mut now = t0;
        for _ in 0..20 {
            now += w.wait(now);
            w.record(now);
            sent.push(now);
        }
        for (i, t) in sent.iter().enumerate() {
            let in_window = sent[i..].iter().take_while(|u| u.duration_since(*t) < Duration::from_secs(1)).count();
            assert!(in_window <= 3, "{in_window} requests within a second");
        }
    }
}
