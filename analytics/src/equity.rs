//! Daily equity from executions and closing prices.
//!
//! Each account's equity at a session's close is its starting equity plus its cash flows
//! (`−sign × qty × price` per fill, less the fill's charges) plus its open positions marked
//! at each instrument's last price: so it is marked to market and net of charges. The
//! caller feeds a day's fills and that day's last prices, then closes the day; amounts are
//! integer paise until the caller turns them into rupees.

use crate::trades::Execution;

/// Positions, cash and marks of every account, advanced one trading day at a time.
#[derive(Clone, Debug)]
pub struct EquityBook {
    instruments: usize,
    /// Cash flows since the start, paise, per account.
    cash: Vec<i128>,
    /// Net position, per account × instrument (all products together: a mark does not care).
    position: Vec<i64>,
    /// Last price per instrument, paise; `None` before the first.
    mark: Vec<Option<i64>>,
    /// Price of the latest fill per account × instrument, for [`EquityBook::peak_gross`].
    fill_price: Vec<i64>,
    /// Largest gross open value reached after any fill, paise, per account.
    peak_gross: Vec<i128>,
    /// Whether the account held a position at some point of the current day.
    exposed_today: Vec<bool>,
    /// Days closed with [`EquityBook::close_day`] on which the account was exposed.
    exposed_days: Vec<usize>,
    /// Days on which any account was exposed.
    any_exposed_days: usize,
}

impl EquityBook {
    pub fn new(accounts: usize, instruments: usize) -> Self {
        EquityBook {
            instruments,
            cash: vec![0; accounts],
            position: vec![0; accounts * instruments],
            mark: vec![None; instruments],
            fill_price: vec![0; accounts * instruments],
            peak_gross: vec![0; accounts],
            exposed_today: vec![false; accounts],
            exposed_days: vec![0; accounts],
            any_exposed_days: 0,
        }
    }

    fn slot(&self, account: usize, instrument: usize) -> Option<usize> {
        (account < self.cash.len() && instrument < self.instruments).then(|| account * self.instruments + instrument)
    }

    /// Applies one execution; executions of unknown accounts or instruments are ignored.
    pub fn fill(&mut self, e: &Execution) {
        let Some(k) = self.slot(e.account, e.instrument) else { return };
        let signed = i64::from(e.sign).saturating_mul(i64::try_from(e.qty).unwrap_or(i64::MAX));
        self.cash[e.account] -= i128::from(signed) * i128::from(e.price) + i128::from(e.charges);
        self.position[k] = self.position[k].saturating_add(signed);
        self.fill_price[k] = e.price;
        if self.mark[e.instrument].is_none() {
            self.mark[e.instrument] = Some(e.price);
        }
        let row = e.account * self.instruments..(e.account + 1) * self.instruments;
        let gross: i128 = self.position[row.clone()]
            .iter()
            .zip(&self.fill_price[row.clone()])
            .map(|(q, p)| i128::from(*q).abs() * i128::from(*p).abs())
            .sum();
        self.peak_gross[e.account] = self.peak_gross[e.account].max(gross);
        if self.position[row].iter().any(|q| *q != 0) {
            self.exposed_today[e.account] = true;
        }
    }

    /// The last trade price of `instrument` so far, paise.
    pub fn mark(&mut self, instrument: usize, price: i64) {
        if let Some(m) = self.mark.get_mut(instrument) {
            *m = Some(price);
        }
    }

    /// Ends a trading day: returns each account's gain since the start (cash flows plus open
    /// positions at their marks, paise), counts the day's exposure, and carries open
    /// positions into the next day as exposure there.
    pub fn close_day(&mut self) -> Vec<i128> {
        let mut out = Vec::with_capacity(self.cash.len());
        let mut any = false;
        for a in 0..self.cash.len() {
            let row = a * self.instruments..(a + 1) * self.instruments;
            let open: i128 = self.position[row.clone()]
                .iter()
                .zip(&self.mark)
                .map(|(q, m)| i128::from(*q) * i128::from(m.unwrap_or(0)))
                .sum();
            out.push(self.cash[a] + open);
            if self.exposed_today[a] {
                self.exposed_days[a] += 1;
                any = true;
            }
            self.exposed_today[a] = self.position[row].iter().any(|q| *q != 0);
        }
        if any {
            self.any_exposed_days += 1;
        }
        out
    }

    /// Days (closed so far) on which `account` held a position at some point.
    pub fn exposed_days(&self, account: usize) -> usize {
        self.exposed_days.get(account).copied().unwrap_or(0)
    }

    /// Days (closed so far) on which any account held a position.
    pub fn any_exposed_days(&self) -> usize {
        self.any_exposed_days
    }

    /// The largest gross value of `account`'s open positions after any of its fills, each
    /// instrument valued at its latest fill price, paise: the capital its positions needed.
    pub fn peak_gross(&self, account: usize) -> i128 {
        self.peak_gross.get(account).copied().unwrap_or(0)
    }
}

// Amounts are written rupees_paise (`100_00` is ₹100.00), which is the grouping that reads.
#[cfg(test)]
#[allow(clippy::inconsistent_digit_grouping)]
mod tests {
    use super::*;

    fn ex(sign: i8, qty: u64, price: i64, charges: i64) -> Execution {
        Execution { account: 0, instrument: 0, product: 0, sign, qty, price, charges, ts: 0 }
    }

    #[test]
    fn equity_is_marked_at_the_close_and_net_of_charges() {
        let mut b = EquityBook::new(1, 1);
        b.fill(&ex(1, 10, 100_00, 5_00));
        b.mark(0, 103_00);
        assert_eq!(b.close_day(), vec![30_00 - 5_00]);
        b.mark(0, 101_00);
        assert_eq!(b.close_day(), vec![10_00 - 5_00]);
        b.fill(&ex(-1, 10, 102_00, 5_00));
        b.mark(0, 99_00);
        assert_eq!(b.close_day(), vec![20_00 - 10_00]);
        b.mark(0, 120_00);
        assert_eq!(b.close_day(), vec![20_00 - 10_00]);
        // Day 1 opened, day 2 carried, day 3 carried in and closed, day 4 flat.
        assert_eq!(b.exposed_days(0), 3);
        assert_eq!(b.peak_gross(0), 1000_00);
    }

    #[test]
    fn an_intraday_round_trip_is_an_exposed_day() {
        let mut b = EquityBook::new(1, 1);
        b.fill(&ex(1, 1, 100_00, 0));
        b.fill(&ex(-1, 1, 100_00, 0));
        b.close_day();
        b.close_day();
        assert_eq!((b.exposed_days(0), b.any_exposed_days()), (1, 1));
    }
}
