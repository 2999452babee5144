//! Session VWAP.
//!
//! `VWAP = Σ price·qty / Σ qty` over the trades (ticks) of the current session: those with
//! `open ≤ ts < close` on their IST day (09:15–15:30 for [`Session::NSE_NORMAL`]). The sums
//! reset when the first trade of a later session day arrives. Trades before the open (the
//! pre-open call auction) or at/after the close (the closing session), trades with a
//! non-positive or non-finite quantity or a non-finite price, and a late trade from an
//! earlier day than the current session are ignored.
//!
//! Fed per trade through [`Vwap::on_tick`]; a bar's value is the session-cumulative VWAP at
//! its close, i.e. of every trade folded so far this session. `None` until the session has a
//! trade. TA-Lib has no VWAP.

use crate::model::{Session, Timestamp};

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Vwap {
    session_open: Option<Timestamp>,
    pq: f64,
    q: f64,
}

impl Vwap {
    pub fn new() -> Vwap {
        Vwap::default()
    }

    /// Folds one trade.
    #[inline]
    pub fn on_tick(&mut self, price: f64, qty: f64, ts: Timestamp, session: &Session) {
        if !qty.is_finite() || qty <= 0.0 || !price.is_finite() {
            return;
        }
        let open = session.open_on(ts);
        if ts < open || ts >= session.close_on(ts) {
            return;
        }
        match self.session_open {
            Some(current) if open < current => return,
            Some(current) if open == current => {}
            _ => {
                self.session_open = Some(open);
                self.pq = 0.0;
                self.q = 0.0;
            }
        }
        self.pq += price * qty;
        self.q += qty;
    }

    /// The session VWAP so far.
    #[inline]
    pub fn value(&self) -> Option<f64> {
        (self.q > 0.0).then(|| self.pq / self.q)
    }

    /// Open of the session the sums belong to.
    pub fn session_open(&self) -> Option<Timestamp> {
        self.session_open
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time::{NANOS_PER_DAY, NANOS_PER_MIN, NANOS_PER_SEC};

    // 2026-11-20 (a Friday) 09:15:00 IST == 03:45:00 UTC.
    const FRI_0915_IST: i64 = 1_795_146_300 * NANOS_PER_SEC;

    fn at(min: i64) -> Timestamp {
        Timestamp(FRI_0915_IST + min * NANOS_PER_MIN)
    }

    #[test]
    fn vwap_hand_checked_with_session_reset() {
        let s = Session::NSE_NORMAL;
        let mut v = Vwap::new();
        assert_eq!(v.value(), None);
        // Pre-open auction trade at 09:08 is ignored.
        v.on_tick(500.0, 1000.0, at(-7), &s);
        assert_eq!(v.value(), None);
        // 100 @ 10 + 300 @ 12 = 4600 / 400 = 11.5
        v.on_tick(10.0, 100.0, at(0), &s);
        assert_eq!(v.value(), Some(10.0));
        v.on_tick(12.0, 300.0, at(1), &s);
        assert_eq!(v.value(), Some(11.5));
        // Zero / NaN quantities and NaN prices are ignored.
        v.on_tick(99.0, 0.0, at(2), &s);
        v.on_tick(99.0, f64::NAN, at(2), &s);
        v.on_tick(f64::NAN, 10.0, at(2), &s);
        // + 100 @ 8 → 5400 / 500 = 10.8
        v.on_tick(8.0, 100.0, at(3), &s);
        assert_eq!(v.value(), Some(10.8));
        // 15:30 is the close: ignored.
        v.on_tick(1.0, 1e6, at(6 * 60 + 15), &s);
        assert_eq!(v.value(), Some(10.8));
        // Next session day (Monday 09:20): the sums restart.
        let monday = Timestamp(at(5).0 + 3 * NANOS_PER_DAY);
        v.on_tick(20.0, 50.0, monday, &s);
        assert_eq!(v.value(), Some(20.0));
        assert_eq!(v.session_open(), Some(Timestamp(FRI_0915_IST + 3 * NANOS_PER_DAY)));
        // A late Friday trade does not reopen Friday.
        v.on_tick(1.0, 1000.0, at(10), &s);
        assert_eq!(v.value(), Some(20.0));
        // 50 @ 20 + 150 @ 24 = 4600 / 200 = 23
        v.on_tick(24.0, 150.0, Timestamp(monday.0 + NANOS_PER_MIN), &s);
        assert_eq!(v.value(), Some(23.0));
    }
}
