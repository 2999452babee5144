//! Round trips from executions, and the trade statistics built on them.
//!
//! Matching is FIFO per book (account, instrument, product): every fill that adds to a
//! position opens a lot; a fill on the other side closes the oldest lots first, and each
//! (lot, closing fill) pair is one round trip. So a partial close splits a lot into a closed
//! round trip and a remainder that stays open, and a fill that reverses a position closes
//! every lot and opens a new one with what is left. Money stays in integer paise throughout;
//! a fill's charges are shared among the round trips it takes part in in proportion to
//! quantity, rounding down, with the last share taking the remainder, so the charges of the
//! round trips add up exactly to the charges of the fills they used.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

/// One execution, as the analytics see it: ids are dense indices, prices and charges paise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Execution {
    pub account: usize,
    pub instrument: usize,
    /// Margin product (an index): positions of different products are matched apart, as a
    /// broker keeps them.
    pub product: usize,
    /// +1 buy, −1 sell.
    pub sign: i8,
    pub qty: u64,
    /// Price per unit, paise.
    pub price: i64,
    /// Brokerage and statutory charges of this execution, paise.
    pub charges: i64,
    /// Exchange time, ns since the epoch.
    pub ts: i64,
}

/// Which way a round trip was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Long,
    Short,
}

impl Direction {
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Long => "long",
            Direction::Short => "short",
        }
    }
}

/// A closed position slice: bought then sold (long) or sold then bought (short).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundTrip {
    pub account: usize,
    pub instrument: usize,
    pub product: usize,
    pub direction: Direction,
    pub qty: u64,
    pub entry_ts: i64,
    pub entry_price: i64,
    pub exit_ts: i64,
    pub exit_price: i64,
    /// `(exit − entry) × qty`, negated for a short, paise.
    pub gross_pnl: i64,
    /// The entry's and the exit's shares of their fills' charges, paise.
    pub charges: i64,
}

impl RoundTrip {
    /// Gross P&L less charges, paise.
    pub fn net_pnl(&self) -> i64 {
        self.gross_pnl.saturating_sub(self.charges)
    }

    /// Time from entry to exit, ns.
    pub fn holding_ns(&self) -> i64 {
        self.exit_ts.saturating_sub(self.entry_ts)
    }
}

/// An open lot: what is left of one opening fill.
#[derive(Clone, Copy, Debug)]
struct Lot {
    qty: u64,
    price: i64,
    ts: i64,
    /// Charges not yet handed to a round trip, paise.
    charges: i64,
}

/// `total × part / whole`, rounded down, or all of `total` when `part` is the whole.
fn share(total: i64, part: u64, whole: u64) -> i64 {
    if part >= whole || whole == 0 {
        total
    } else {
        (i128::from(total) * i128::from(part) / i128::from(whole)) as i64
    }
}

fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Matches `executions` (in the order they happened) into round trips, FIFO per account,
/// instrument and product. Round trips come out in the order they were closed; lots still
/// open at the end are not round trips (they show in the equity curve at their mark).
pub fn round_trips(executions: &[Execution]) -> Vec<RoundTrip> {
    let mut books: HashMap<(usize, usize, usize), (i8, VecDeque<Lot>)> = HashMap::new();
    let mut out = Vec::new();
    for e in executions.iter().filter(|e| e.qty > 0 && e.sign != 0) {
        let book = books.entry((e.account, e.instrument, e.product)).or_insert((e.sign, VecDeque::new()));
        let mut left = e.qty;
        let mut charges_left = e.charges;
        if book.1.is_empty() {
            book.0 = e.sign;
        }
        if book.0 != e.sign {
            let direction = if book.0 > 0 { Direction::Long } else { Direction::Short };
            while left > 0 {
                let Some(lot) = book.1.front_mut() else { break };
                let q = lot.qty.min(left);
                let entry_charges = share(lot.charges, q, lot.qty);
                let exit_charges = share(charges_left, q, left);
                let per_unit = i128::from(e.price) - i128::from(lot.price);
                let gross = per_unit * i128::from(q) * i128::from(book.0);
                out.push(RoundTrip {
                    account: e.account,
                    instrument: e.instrument,
                    product: e.product,
                    direction,
                    qty: q,
                    entry_ts: lot.ts,
                    entry_price: lot.price,
                    exit_ts: e.ts,
                    exit_price: e.price,
                    gross_pnl: clamp_i64(gross),
                    charges: entry_charges.saturating_add(exit_charges),
                });
                lot.qty -= q;
                lot.charges -= entry_charges;
                left -= q;
                charges_left -= exit_charges;
                if lot.qty == 0 {
                    book.1.pop_front();
                }
            }
            if left == 0 {
                continue;
            }
            // Reversal: what is left opens a position on the fill's side.
            book.0 = e.sign;
        }
        book.1.push_back(Lot { qty: left, price: e.price, ts: e.ts, charges: charges_left });
    }
    out
}

/// Statistics of a set of round trips and executions. Amounts are rupees; ratios of empty
/// sets are NaN (written as `null`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TradeMetrics {
    /// Closed round trips.
    pub trades: usize,
    /// Share of round trips with a net P&L above zero.
    pub win_rate: f64,
    /// Net profit of the winners over the net loss of the losers, `Σ wins / |Σ losses|`:
    /// +∞ (null) with wins and no losses, NaN (null) with neither.
    pub profit_factor: f64,
    /// Mean net P&L of the winning round trips, rupees.
    pub average_win: f64,
    /// Mean net P&L of the losing round trips (negative), rupees.
    pub average_loss: f64,
    /// Mean net P&L per round trip, rupees.
    pub expectancy: f64,
    /// Share of trading days with an open position: a day counts when a position was
    /// carried into it or any fill that day left one open (so an intraday round trip
    /// counts, a day of only closing fills counts through the position carried in).
    pub exposure: f64,
    /// Traded value (`Σ qty × price` over every fill, both sides) over the starting equity:
    /// how many times the capital was turned over.
    pub turnover: f64,
    /// Brokerage and statutory charges of every fill, rupees (including fills of positions
    /// still open at the end).
    pub charges: f64,
}

/// Computes [`TradeMetrics`]: `trips` the closed round trips, `executions` every fill (for
/// turnover and charges), `exposed_days` of `days` trading days, `start_equity` in rupees.
pub fn trade_metrics(
    trips: &[RoundTrip],
    executions: &[Execution],
    exposed_days: usize,
    days: usize,
    start_equity: f64,
) -> TradeMetrics {
    let rupees = |paise: i64| paise as f64 / 100.0;
    let nets: Vec<i64> = trips.iter().map(RoundTrip::net_pnl).collect();
    let wins: Vec<i64> = nets.iter().copied().filter(|p| *p > 0).collect();
    let losses: Vec<i64> = nets.iter().copied().filter(|p| *p < 0).collect();
    let sum = |xs: &[i64]| xs.iter().map(|&x| i128::from(x)).sum::<i128>() as f64 / 100.0;
    let mean = |xs: &[i64]| if xs.is_empty() { f64::NAN } else { sum(xs) / xs.len() as f64 };
    let traded: i128 = executions.iter().map(|e| i128::from(e.qty) * i128::from(e.price).abs()).sum();
    let charges: i128 = executions.iter().map(|e| i128::from(e.charges)).sum();
    TradeMetrics {
        trades: trips.len(),
        win_rate: if trips.is_empty() { f64::NAN } else { wins.len() as f64 / trips.len() as f64 },
        profit_factor: sum(&wins) / sum(&losses).abs(),
        average_win: mean(&wins),
        average_loss: mean(&losses),
        expectancy: mean(&nets),
        exposure: if days == 0 { f64::NAN } else { exposed_days as f64 / days as f64 },
        turnover: rupees(clamp_i64(traded)) / start_equity,
        charges: rupees(clamp_i64(charges)),
    }
}

// Amounts are written rupees_paise (`100_00` is ₹100.00), which is the grouping that reads.
#[cfg(test)]
#[allow(clippy::inconsistent_digit_grouping)]
mod tests {
    use super::*;

    fn ex(sign: i8, qty: u64, price: i64, charges: i64, ts: i64) -> Execution {
        Execution { account: 0, instrument: 0, product: 0, sign, qty, price, charges, ts }
    }

    #[test]
    fn partial_closes_split_lots_fifo() {
        let trips = round_trips(&[
            ex(1, 10, 100_00, 10_00, 1),
            ex(1, 10, 110_00, 20_00, 2),
            ex(-1, 15, 120_00, 30_00, 3),
            ex(-1, 5, 90_00, 5_00, 4),
        ]);
        assert_eq!(trips.len(), 3);
        assert_eq!((trips[0].qty, trips[0].entry_price, trips[0].gross_pnl), (10, 100_00, 200_00));
        assert_eq!(trips[0].charges, 10_00 + 20_00);
        assert_eq!((trips[1].qty, trips[1].entry_price, trips[1].gross_pnl), (5, 110_00, 50_00));
        assert_eq!(trips[1].charges, 10_00 + 10_00);
        assert_eq!((trips[2].qty, trips[2].gross_pnl, trips[2].charges), (5, -100_00, 10_00 + 5_00));
        let total: i64 = trips.iter().map(|t| t.charges).sum();
        assert_eq!(total, 65_00);
    }

    #[test]
    fn a_reversal_closes_then_opens_the_other_way() {
        let trips = round_trips(&[ex(1, 5, 100_00, 0, 1), ex(-1, 8, 90_00, 8_00, 2), ex(1, 3, 80_00, 0, 3)]);
        assert_eq!(trips.len(), 2);
        assert_eq!((trips[0].direction, trips[0].gross_pnl, trips[0].charges), (Direction::Long, -50_00, 5_00));
        assert_eq!((trips[1].direction, trips[1].qty, trips[1].gross_pnl), (Direction::Short, 3, 30_00));
        assert_eq!(trips[1].charges, 3_00);
    }

    #[test]
    fn products_are_matched_apart() {
        let mut a = ex(1, 5, 100_00, 0, 1);
        a.product = 1;
        let trips = round_trips(&[a, ex(-1, 5, 90_00, 0, 2)]);
        assert!(trips.is_empty());
    }

    #[test]
    fn metrics_of_no_trades_are_undefined_not_zero() {
        let m = trade_metrics(&[], &[], 0, 3, 1000.0);
        assert_eq!(m.trades, 0);
        assert!(m.win_rate.is_nan() && m.profit_factor.is_nan() && m.expectancy.is_nan());
        assert_eq!((m.exposure, m.turnover, m.charges), (0.0, 0.0, 0.0));
    }
}
