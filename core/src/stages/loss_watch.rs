//! Watching every account's daily loss limit without visiting every holder on every trade.
//!
//! An account's unrealized P&L moves with each trade in an instrument it holds, by its net
//! quantity there times the price step. Adding that up per holder on every trade makes a
//! tick's cost grow with the accounts holding the instrument. Instead, the watch keeps each
//! account's unrealized P&L as of the prices it was last brought up to (`marked`), and splits
//! the account's headroom (how far its P&L may fall before the limit trips) between the
//! instruments it holds. Each share becomes a trigger price per (account, instrument): the
//! price at which the loss on that position alone would use up its share. Per instrument only
//! the most sensitive long and short triggers are kept, so a trade costs two comparisons
//! unless it reaches one of them.
//!
//! Why nothing is missed: while no trigger of an account has been reached, each position has
//! lost less than its share since the account was brought up to date, the shares add up to at
//! most the headroom, so the account is short of its limit. When a trigger is reached, the
//! account is brought up to date exactly and checked; if it is still inside its limit, its
//! headroom is split again from there. An account already at or past its floor (a limit
//! lowered, charges booked) has every trigger at the extreme, so any move in what it holds
//! checks it, as marking every account would.
//!
//! The accounts a trade checks are visited in ascending account order, the order a scan of
//! every account takes: the kill switches and square-offs of one trade go out alike.

use crate::model::Price;
use crate::stages::holders::Holders;
use crate::stages::instrument_sets::InstrumentSets;

/// An account's unrealized P&L as of its `marked` prices, and the value at or below which its
/// daily loss limit is breached (`realized + unrealized − charges ≤ −limit`, solved for
/// unrealized).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Guard {
    unrealized: i64,
    /// `i64::MIN` when no limit is armed (none set, or the kill switch is already on).
    floor: i64,
}

/// Per instrument: the highest trigger among long holders (a trade at or below it checks
/// someone) and the lowest among short holders (at or above it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Bounds {
    long: i64,
    short: i64,
}

impl Bounds {
    const NONE: Bounds = Bounds { long: i64::MIN, short: i64::MAX };
}

/// The loss-limit watch over every (account, instrument) position (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LossWatch {
    instruments: usize,
    /// Accounts with an open position, per instrument.
    holders: Holders,
    /// The same per account: the instruments its P&L and headroom are worked out over.
    holding: InstrumentSets,
    /// Per (account, instrument), the net quantity over products.
    held: Vec<i64>,
    /// Per (account, instrument), the trade price the account's `unrealized` includes its
    /// position at; zero before the instrument's first trade reached it.
    marked: Vec<Price>,
    /// Per (account, instrument), the trigger price: a long position is checked at a trade at
    /// or below it, a short one at or above it. [`Bounds::NONE`]'s side when unarmed.
    trigger: Vec<i64>,
    bounds: Vec<Bounds>,
    guards: Vec<Guard>,
}

impl LossWatch {
    /// Floors per account, nothing held.
    pub fn new(instruments: usize, floors: impl ExactSizeIterator<Item = i64>) -> LossWatch {
        let accounts = floors.len();
        LossWatch {
            instruments,
            holders: Holders::new(accounts, instruments),
            holding: InstrumentSets::new(accounts, instruments),
            held: vec![0; accounts * instruments],
            marked: vec![Price::ZERO; accounts * instruments],
            trigger: vec![0; accounts * instruments],
            bounds: vec![Bounds::NONE; instruments],
            guards: floors.map(|floor| Guard { unrealized: 0, floor }).collect(),
        }
    }

    /// The floor of an account's unrealized P&L for `limit` (paise; none when ≤ 0).
    pub fn floor(limit: i64, kill: bool, realized: i64, charges: i64) -> i64 {
        if limit <= 0 || kill {
            i64::MIN
        } else {
            limit.saturating_neg().saturating_sub(realized).saturating_add(charges)
        }
    }

    /// The accounts holding `instrument`, ascending.
    #[inline]
    pub fn holders(&self, instrument: usize) -> &[u16] {
        self.holders.of(instrument)
    }

    /// Whether a trade at `price` in `instrument` reaches any holder's trigger: the whole of
    /// the watch's work on most trades.
    #[inline]
    pub fn reached(&self, instrument: usize, price: Price) -> bool {
        self.bounds.get(instrument).is_some_and(|b| price.0 <= b.long || price.0 >= b.short)
    }

    /// Whether `account`'s own trigger in `instrument` is reached by a trade at `price`.
    pub fn reached_by(&self, account: usize, instrument: usize, price: Price) -> bool {
        let k = account * self.instruments + instrument;
        match (self.held.get(k), self.trigger.get(k)) {
            (Some(&q), Some(&t)) if q > 0 => price.0 <= t,
            (Some(&q), Some(&t)) if q < 0 => price.0 >= t,
            _ => false,
        }
    }

    /// Exact unrealized P&L of `account` at the last prices `last`.
    pub fn unrealized(&self, account: usize, last: &[Price]) -> i64 {
        let Some(g) = self.guards.get(account) else { return 0 };
        let base = account * self.instruments;
        let mut u = g.unrealized;
        for i in self.holding.iter(account) {
            let (q, m) = (self.held[base + i], self.marked[base + i]);
            if let (true, Some(p)) = (m.is_positive(), last.get(i)) {
                u = u.saturating_add(q.saturating_mul(p.0 - m.0));
            }
        }
        u
    }

    /// Brings `account`'s unrealized P&L up to the last prices: the same sum as
    /// [`LossWatch::unrealized`], folded into the guard as each mark moves.
    pub fn sync(&mut self, account: usize, last: &[Price]) {
        let base = account * self.instruments;
        let Some(g) = self.guards.get_mut(account) else { return };
        for i in self.holding.iter(account) {
            let (q, m) = (self.held[base + i], &mut self.marked[base + i]);
            if let (true, Some(&p)) = (m.is_positive(), last.get(i)) {
                g.unrealized = g.unrealized.saturating_add(q.saturating_mul(p.0 - m.0));
                *m = p;
            }
        }
    }

    /// Whether `account` is at or below its floor, once brought up to the last prices.
    pub fn breached(&mut self, account: usize, last: &[Price]) -> bool {
        self.sync(account, last);
        self.guards.get(account).is_some_and(|g| g.unrealized <= g.floor)
    }

    /// Unrealized P&L as of the account's marks (exact after [`LossWatch::sync`]).
    pub fn synced_unrealized(&self, account: usize) -> i64 {
        self.guards.get(account).map_or(0, |g| g.unrealized)
    }

    /// Adds to `account`'s unrealized P&L (a fill, or a first trade marking its slots one by
    /// one). The caller brings the account up to date first.
    pub fn add_unrealized(&mut self, account: usize, delta: i64) {
        if let Some(g) = self.guards.get_mut(account) {
            g.unrealized = g.unrealized.saturating_add(delta);
        }
    }

    /// Records that `account`'s unrealized P&L includes its position in `instrument` at `price`.
    pub fn set_marked(&mut self, account: usize, instrument: usize, price: Price) {
        if let Some(m) = self.marked.get_mut(account * self.instruments + instrument) {
            *m = price;
        }
    }

    /// Records a position change: the net quantity over products, and whether any product
    /// is open (a holder: long one product and short another as much still holds).
    pub fn set_held(&mut self, account: usize, instrument: usize, net: i64, holds: bool) {
        let k = account * self.instruments + instrument;
        let Some(&old) = self.held.get(k) else { return };
        if old != 0 && old.signum() != net.signum() {
            // Closed or turned: its trigger leaves the side it was on (the new side's is set
            // when the account is rearmed).
            self.set_trigger(account, instrument, neutral(old));
        }
        self.held[k] = net;
        self.holders.set(account, instrument, holds);
        self.holding.set(account, instrument, holds);
    }

    /// Splits `account`'s headroom above `floor` between the instruments it holds that have
    /// traded, after bringing it up to the last prices, and moves its triggers there.
    pub fn rearm(&mut self, account: usize, floor: i64, last: &[Price]) {
        self.sync(account, last);
        let Some(g) = self.guards.get_mut(account) else { return };
        g.floor = floor;
        let unrealized = g.unrealized;
        let base = account * self.instruments;
        let live = |k: usize, held: &[i64], marked: &[Price]| held[k] != 0 && marked[k].is_positive();
        let count = self.holding.iter(account).filter(|&i| live(base + i, &self.held, &self.marked)).count() as i64;
        // Headroom ≤ 0: the account is due a check at any move of what it holds.
        let share = (floor != i64::MIN).then(|| unrealized.saturating_sub(floor) / count.max(1));
        // Taken out while triggers move (an empty set allocates nothing), put back after.
        let holding = std::mem::take(&mut self.holding);
        for i in holding.iter(account) {
            let k = base + i;
            let (q, m) = (self.held[k], self.marked[k].0);
            let t = match share {
                Some(s) if live(k, &self.held, &self.marked) => {
                    if s <= 0 {
                        fires_always(q)
                    } else if q > 0 {
                        // The position alone loses `s` at a step of s / |q| against it, rounded
                        // up: reaching the trigger means at least that much is lost.
                        m.saturating_sub(ceil_div(s, q))
                    } else {
                        m.saturating_add(ceil_div(s, q.saturating_neg()))
                    }
                }
                _ => neutral(q),
            };
            self.set_trigger(account, i, t);
        }
        self.holding = holding;
    }

    /// Moves one trigger and keeps the instrument's bounds the extremes of its holders'.
    fn set_trigger(&mut self, account: usize, instrument: usize, t: i64) {
        let k = account * self.instruments + instrument;
        let old = std::mem::replace(&mut self.trigger[k], t);
        let q = self.held[k];
        let b = &mut self.bounds[instrument];
        if q > 0 && t >= b.long {
            b.long = t;
        } else if q < 0 && t <= b.short {
            b.short = t;
        }
        // A loosened trigger may have been the bound, and a position changing side leaves its
        // old bound behind: work the bounds out again from the holders.
        if old != t && (old == b.long || old == b.short) {
            self.rebound(instrument);
        }
    }

    fn rebound(&mut self, instrument: usize) {
        let mut b = Bounds::NONE;
        for &a in self.holders.of(instrument) {
            let k = a as usize * self.instruments + instrument;
            let (q, t) = (self.held[k], self.trigger[k]);
            if q > 0 {
                b.long = b.long.max(t);
            } else if q < 0 {
                b.short = b.short.min(t);
            }
        }
        self.bounds[instrument] = b;
    }
}

/// The trigger that never fires for a position of sign `q` (long: no price is at or below
/// it; short: none at or above).
fn neutral(q: i64) -> i64 {
    if q >= 0 {
        Bounds::NONE.long
    } else {
        Bounds::NONE.short
    }
}

/// The trigger that fires at every price for a position of sign `q`.
fn fires_always(q: i64) -> i64 {
    if q > 0 {
        i64::MAX
    } else {
        i64::MIN
    }
}

/// `a / b` rounded up, for a ≥ 0 and b > 0.
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices(p: &[i64]) -> Vec<Price> {
        p.iter().map(|&x| Price(x)).collect()
    }

    #[test]
    fn a_trigger_is_reached_exactly_when_one_position_uses_its_share() {
        // One account, limit floor -1_000, long 10 of instrument 0 and short 5 of 1.
        let mut w = LossWatch::new(2, [-1_000].into_iter());
        let last = prices(&[10_000, 20_000]);
        for (i, q) in [(0, 10), (1, -5)] {
            w.set_held(0, i, q, true);
            w.set_marked(0, i, last[i]);
        }
        w.rearm(0, -1_000, &last);
        // Headroom 1_000, 500 each: long triggers at 10_000 - 50, short at 20_000 + 100.
        assert!(!w.reached(0, Price(9_951)) && w.reached(0, Price(9_950)));
        assert!(!w.reached(1, Price(20_099)) && w.reached(1, Price(20_100)));
        assert!(w.reached_by(0, 0, Price(9_950)) && !w.reached_by(0, 1, Price(9_950)));
        // Both positions lose 499: not reached, not breached, and the exact P&L says so.
        let moved = prices(&[9_951, 20_099]);
        assert_eq!(w.unrealized(0, &moved), -10 * 49 - 5 * 99);
        assert!(!w.breached(0, &moved));
    }

    #[test]
    fn an_account_past_its_floor_is_checked_at_any_move_and_none_without_a_limit() {
        let mut w = LossWatch::new(1, [i64::MIN, -100].into_iter());
        let last = prices(&[1_000]);
        for a in 0..2 {
            w.set_held(a, 0, 1, true);
            w.set_marked(a, 0, last[0]);
        }
        w.rearm(0, i64::MIN, &last);
        w.rearm(1, 10, &last);
        assert!(w.reached_by(1, 0, Price(5_000)) && !w.reached_by(0, 0, Price(1)));
        w.rearm(1, i64::MIN, &last);
        assert!(!w.reached(0, Price(1)) && !w.reached(0, Price(i64::MAX - 1)));
    }

    #[test]
    fn bounds_follow_positions_that_close_or_change_side() {
        let mut w = LossWatch::new(1, [-100, -100].into_iter());
        let last = prices(&[1_000]);
        for a in 0..2 {
            w.set_held(a, 0, 1, true);
            w.set_marked(a, 0, last[0]);
            w.rearm(a, -100 - a as i64 * 100, &last);
        }
        // Account 0 (headroom 100) triggers at 900, account 1 (200) at 800.
        assert!(w.reached(0, Price(900)) && w.reached_by(0, 0, Price(900)) && !w.reached_by(1, 0, Price(900)));
        w.set_held(0, 0, 0, false);
        w.rearm(0, -100, &last);
        assert!(!w.reached(0, Price(801)) && w.reached(0, Price(800)));
        w.set_held(1, 0, -1, true);
        w.rearm(1, -200, &last);
        assert!(!w.reached(0, Price(1)) && w.reached(0, Price(1_200)) && !w.reached(0, Price(1_199)));
    }
}
