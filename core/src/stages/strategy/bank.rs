//! Indicators shared between strategies: one bank per (instrument, bar spec) holding each
//! distinct indicator once, updated once per closed bar.

use crate::indicators::{BarInput, Indicator, IndicatorSpec};
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
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct IndicatorBanks {
    banks: Vec<Bank>,
    by_instrument: Vec<Vec<usize>>,
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
        IndicatorBanks { banks: Vec::new(), by_instrument: vec![Vec::new(); instruments] }
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
                    bank.reads_ticks |= matches!(w, IndicatorSpec::Vwap);
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
        let input = BarInput {
            open: c.open.as_f64(),
            high: c.high.as_f64(),
            low: c.low.as_f64(),
            close: c.close.as_f64(),
            volume: c.volume.0 as f64,
        };
        for (ind, &start) in bank.indicators.iter_mut().zip(&bank.offsets) {
            let n = ind.outputs();
            if let Some(out) = bank.values.get_mut(start..start + n) {
                ind.update(&input, out);
            }
        }
        Some(b)
    }

    /// Feeds a trade to the banks that read trades (session VWAP).
    #[inline]
    pub fn on_tick(&mut self, t: &Tick, session: &Session) {
        let Some(list) = self.by_instrument.get(t.instrument.index()) else { return };
        for &b in list {
            let bank = &mut self.banks[b];
            if bank.reads_ticks {
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
