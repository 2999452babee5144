//! Indicators shared between strategies: one bank per (instrument, bar spec) holding each
//! distinct indicator once, updated once per closed bar.

use crate::indicators::{Indicator, IndicatorSpec};
use crate::model::Tick;
use crate::model::{BarSpec, Candle};
use crate::model::{InstrumentId, Session};

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Bank {
    spec: BarSpec,
    specs: Vec<IndicatorSpec>,
    indicators: Vec<Indicator>,
    /// Start and width of each indicator's outputs in `values`.
    offsets: Vec<usize>,
    outputs: Vec<usize>,
    values: Vec<Option<f64>>,
    reads_ticks: bool,
}

/// Every bank, indexed by instrument.
#[derive(Clone, serde::Deserialize)]
#[serde(from = "Stored")]
pub struct IndicatorBanks {
    banks: Vec<Bank>,
    by_instrument: Vec<Vec<usize>>,
    /// Per instrument, the banks that read trades: most instruments have none, and a tick
    /// then costs one empty-list check instead of a walk over its banks (the compiler hoists
    /// the session-day arithmetic of the trade readers above the `reads_ticks` test). Derived
    /// from the banks, so snapshots do not hold it.
    tick_readers: Vec<Vec<usize>>,
}

/// What a snapshot holds of the banks.
#[derive(serde::Deserialize)]
struct Stored {
    banks: Vec<Bank>,
    by_instrument: Vec<Vec<usize>>,
}

impl From<Stored> for IndicatorBanks {
    fn from(s: Stored) -> Self {
        let tick_readers = s
            .by_instrument
            .iter()
            .map(|list| list.iter().copied().filter(|&b| s.banks.get(b).is_some_and(|k| k.reads_ticks)).collect())
            .collect();
        IndicatorBanks { banks: s.banks, by_instrument: s.by_instrument, tick_readers }
    }
}

impl serde::Serialize for IndicatorBanks {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// [`Stored`], borrowed: a snapshot pauses the engine, so it copies nothing.
        #[derive(serde::Serialize)]
        struct StoredRef<'a> {
            banks: &'a [Bank],
            by_instrument: &'a [Vec<usize>],
        }
        StoredRef { banks: &self.banks, by_instrument: &self.by_instrument }.serialize(s)
    }
}

/// A strategy's view of its bank: its declared indicators, in its own order.
#[derive(Clone, Copy)]
pub struct IndicatorView<'a> {
    values: &'a [Option<f64>],
    offsets: &'a [usize],
    outputs: &'a [usize],
    map: &'a [usize],
}

impl<'a> IndicatorView<'a> {
    pub fn empty() -> IndicatorView<'static> {
        IndicatorView { values: &[], offsets: &[], outputs: &[], map: &[] }
    }

    /// Outputs of the k-th declared indicator.
    pub fn get(&self, k: usize) -> &'a [Option<f64>] {
        let Some(&j) = self.map.get(k) else { return &[] };
        let (Some(&start), Some(&n)) = (self.offsets.get(j), self.outputs.get(j)) else { return &[] };
        self.values.get(start..start + n).unwrap_or(&[])
    }
}

impl IndicatorBanks {
    pub fn new(instruments: usize) -> Self {
        IndicatorBanks {
            banks: Vec::new(),
            by_instrument: vec![Vec::new(); instruments],
            tick_readers: vec![Vec::new(); instruments],
        }
    }

    /// Adds a strategy's indicators; returns its bank and, per declared indicator, its index in
    /// the bank (an indicator already there is shared, not built again).
    pub fn register(
        &mut self,
        instrument: InstrumentId,
        spec: BarSpec,
        wanted: &[IndicatorSpec],
    ) -> (usize, Vec<usize>) {
        let Some(list) = self.by_instrument.get_mut(instrument.index()) else { return (usize::MAX, Vec::new()) };
        let b = match list.iter().copied().find(|b| self.banks[*b].spec == spec) {
            Some(b) => b,
            None => {
                self.banks.push(Bank {
                    spec,
                    specs: Vec::new(),
                    indicators: Vec::new(),
                    offsets: Vec::new(),
                    outputs: Vec::new(),
                    values: Vec::new(),
                    reads_ticks: false,
                });
                list.push(self.banks.len() - 1);
                self.banks.len() - 1
            }
        };
        let bank = &mut self.banks[b];
        let mut map = Vec::with_capacity(wanted.len());
        for w in wanted {
            let j = match bank.specs.iter().position(|s| s == w) {
                Some(j) => j,
                None => {
                    let ind = w.build();
                    bank.offsets.push(bank.values.len());
                    bank.outputs.push(ind.outputs());
                    bank.values.extend(std::iter::repeat_n(None, ind.outputs()));
                    if matches!(w, IndicatorSpec::Vwap) && !bank.reads_ticks {
                        bank.reads_ticks = true;
                        if let Some(readers) = self.tick_readers.get_mut(instrument.index()) {
                            readers.push(b);
                        }
                    }
                    bank.specs.push(w.clone());
                    bank.indicators.push(ind);
                    bank.specs.len() - 1
                }
            };
            map.push(j);
        }
        (b, map)
    }

    /// Distinct indicators across all banks.
    pub fn indicator_count(&self) -> usize {
        self.banks.iter().map(|b| b.indicators.len()).sum()
    }

    /// Updates the bank of this bar's instrument and spec, once; returns its index.
    #[inline]
    pub fn on_candle(&mut self, c: &Candle) -> Option<usize> {
        let list = self.by_instrument.get(c.instrument.index())?;
        let b = list.iter().copied().find(|b| self.banks[*b].spec == c.spec)?;
        let bank = &mut self.banks[b];
        if bank.indicators.is_empty() {
            return Some(b);
        }
        let Bank { indicators, offsets, outputs, values, .. } = bank;
        for ((ind, &start), &n) in indicators.iter_mut().zip(offsets.iter()).zip(outputs.iter()) {
            if let Some(out) = values.get_mut(start..start + n) {
                ind.update_candle(c, out);
            }
        }
        Some(b)
    }

    /// First output of indicator `j` of bank `bank`: what [`IndicatorView::get`] gives, without
    /// building the view (a strategy reads its EMAs this way on every bar).
    #[inline]
    pub fn first_value(&self, bank: usize, j: usize) -> Option<f64> {
        let b = self.banks.get(bank)?;
        let start = *b.offsets.get(j)?;
        b.values.get(start).copied().flatten()
    }

    /// Feeds a trade to the banks that read trades (session VWAP).
    #[inline]
    pub fn on_tick(&mut self, t: &Tick, session: &Session) {
        if self.tick_readers.get(t.instrument.index()).is_some_and(|list| !list.is_empty()) {
            self.feed_readers(t, session);
        }
    }

    #[inline(never)]
    fn feed_readers(&mut self, t: &Tick, session: &Session) {
        let Some(list) = self.tick_readers.get(t.instrument.index()) else { return };
        for &b in list {
            if let Some(bank) = self.banks.get_mut(b) {
                for ind in &mut bank.indicators {
                    ind.on_tick(t.price.as_f64(), t.qty.0 as f64, t.ts, session);
                }
            }
        }
    }

    pub fn view<'a>(&'a self, bank: usize, map: &'a [usize]) -> IndicatorView<'a> {
        match self.banks.get(bank) {
            Some(b) => IndicatorView { values: &b.values, offsets: &b.offsets, outputs: &b.outputs, map },
            None => IndicatorView::empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IstTime, Price, Qty, Timeframe, Timestamp};

    /// A trade at 10:00 IST on 2 January 2024 (a Tuesday, inside the session).
    fn trade(instrument: u32, price: i64) -> Tick {
        let day = Timestamp(1_704_153_600_000_000_000).ist_midnight();
        let ts = Timestamp(day.0 + IstTime::hm(10, 0).0);
        Tick { instrument: InstrumentId(instrument), ts, price: Price(price), qty: Qty(10) }
    }

    fn state(b: &IndicatorBanks) -> Vec<u8> {
        postcard::to_stdvec(b).unwrap_or_default()
    }

    /// Only banks that read trades get them, also after a snapshot is restored (the index of
    /// trade readers is derived, not stored).
    #[test]
    fn trades_reach_the_vwap_before_and_after_a_snapshot() {
        let mut banks = IndicatorBanks::new(2);
        let spec = BarSpec::Time(Timeframe::M1);
        let (vb, _) = banks.register(InstrumentId(0), spec, &[IndicatorSpec::Vwap]);
        let _ = banks.register(InstrumentId(1), spec, &[IndicatorSpec::Ema(3)]);
        assert_eq!(banks.tick_readers, vec![vec![vb], vec![]]);
        let session = Session::NSE_NORMAL;
        let before = state(&banks);
        banks.on_tick(&trade(1, 99_900), &session);
        assert_eq!(state(&banks), before, "an EMA bank does not read trades");
        banks.on_tick(&trade(0, 10_000), &session);
        assert_ne!(state(&banks), before, "the VWAP bank reads trades");
        let mut restored: IndicatorBanks =
            postcard::from_bytes(&state(&banks)).unwrap_or_else(|_| IndicatorBanks::new(0));
        assert_eq!(restored.tick_readers, banks.tick_readers);
        let mid = state(&banks);
        for b in [&mut banks, &mut restored] {
            b.on_tick(&trade(0, 20_000), &session);
        }
        assert_ne!(state(&banks), mid);
        assert_eq!(state(&restored), state(&banks));
    }
}
