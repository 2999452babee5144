//! The first stage: validates ticks against the instrument rules and builds candles. A bad
//! tick is refused with a reason and counted; it never reaches a strategy and never panics.

mod builder;

pub use builder::{BuilderCounters, CandleBuilder, CandleOptions, EmptyBars, LatePolicy};

use crate::model::BarSpec;
use crate::model::{Cause, IngressEvent, Input, Msg, Stamp, Tick, TickReject};
use crate::model::{InstrumentSpec, Session, Timestamp};

/// Counters the stage keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CandleCounters {
    pub ticks_in: u64,
    pub ticks_accepted: u64,
    pub rejected: [u64; TickReject::ALL.len()],
    pub candles: u64,
    /// Trades older than their instrument's latest, folded into bars (late policy `amend`).
    pub late_amended: u64,
    pub quotes: u64,
    pub quotes_rejected: u64,
    pub timers: u64,
    pub commands: u64,
}

/// Instrument rules and per-instrument time order.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct TickValidator {
    instruments: Vec<InstrumentSpec>,
    last_ts: Vec<Timestamp>,
}

impl TickValidator {
    pub fn new(instruments: Vec<InstrumentSpec>) -> Self {
        let n = instruments.len();
        TickValidator { instruments, last_ts: vec![Timestamp(i64::MIN); n] }
    }

    pub fn knows(&self, instrument: crate::model::InstrumentId) -> bool {
        instrument.index() < self.instruments.len()
    }

    /// Accepts the tick (and remembers its time) or says why not. A trade older than the
    /// instrument's latest is `TimeBackwards`; the caller decides whether that is fatal.
    #[inline]
    pub fn check(&mut self, t: &Tick) -> Result<(), TickReject> {
        let i = t.instrument.index();
        let (Some(spec), Some(last)) = (self.instruments.get(i), self.last_ts.get_mut(i)) else {
            return Err(TickReject::UnknownSymbol);
        };
        if !t.price.is_positive() {
            return Err(TickReject::NonPositivePrice);
        }
        if t.qty.is_zero() {
            return Err(TickReject::NonPositiveQty);
        }
        if !t.price.on_grid(spec.tick_size) {
            return Err(TickReject::OffTickGrid);
        }
        if !spec.band.contains(t.price) {
            return Err(TickReject::OutsideBand);
        }
        if t.ts < *last {
            // Checked last, so a late trade is otherwise valid and may amend a bar.
            return Err(TickReject::TimeBackwards);
        }
        *last = t.ts;
        Ok(())
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct CandleStage {
    validator: TickValidator,
    builder: CandleBuilder,
    late: LatePolicy,
    pub counters: CandleCounters,
}

impl CandleStage {
    pub fn new(instruments: Vec<InstrumentSpec>, session: Session, specs: &[BarSpec], options: CandleOptions) -> Self {
        let n = instruments.len();
        CandleStage {
            validator: TickValidator::new(instruments),
            builder: CandleBuilder::new(session, specs, n, options),
            late: options.late,
            counters: CandleCounters::default(),
        }
    }

    pub fn specs(&self) -> &[BarSpec] {
        self.builder.specs()
    }

    pub fn builder(&self) -> &CandleBuilder {
        &self.builder
    }

    /// Counts a tick a feed refused before it could reach the ring (malformed line, unknown
    /// symbol), so every refusal shows in one place.
    pub fn count_feed_reject(&mut self, reason: TickReject, n: u64) {
        self.counters.ticks_in += n;
        self.counters.rejected[reason.index()] += n;
    }

    /// A trade: validated, folded into its bars (the bars it closes go to `out`). True when
    /// the trade goes on downstream (in order and valid); a late trade that bars absorb, and
    /// a refused one, stop here.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick, stamp: Stamp, out: &mut impl FnMut(Msg)) -> bool {
        self.counters.ticks_in += 1;
        match self.validator.check(tick) {
            Ok(()) => {
                self.counters.ticks_accepted += 1;
                let c = &mut self.counters.candles;
                self.builder.on_tick(tick, |bar| {
                    *c += 1;
                    out(Msg::Candle { candle: *bar, stamp });
                });
                true
            }
            Err(TickReject::TimeBackwards) if self.late == LatePolicy::Amend => {
                // Bars absorb it; downstream never sees time go backwards.
                self.counters.ticks_accepted += 1;
                self.counters.late_amended += 1;
                let c = &mut self.counters.candles;
                self.builder.on_late_tick(tick, |bar| {
                    *c += 1;
                    out(Msg::Candle { candle: *bar, stamp });
                });
                false
            }
            Err(r) => {
                self.counters.rejected[r.index()] += 1;
                false
            }
        }
    }

    #[inline]
    pub fn on_input(&mut self, ev: &IngressEvent, out: &mut impl FnMut(Msg)) {
        match ev.input {
            Input::Tick(tick) => {
                let stamp = Stamp { raw: ev.ingress_raw, cause: Cause::Tick };
                if self.on_tick(&tick, stamp, out) {
                    out(Msg::Tick { tick, stamp });
                }
            }
            Input::OpenInterest { instrument, oi, .. } => self.builder.set_open_interest(instrument, oi),
            Input::Quote(q) => {
                // A crossed, empty or unknown quote is refused and counted; the last good one
                // stays in force.
                if self.validator.knows(q.instrument) && q.bid.is_positive() && q.ask.is_positive() && q.bid <= q.ask {
                    self.counters.quotes += 1;
                    out(Msg::Quote(q));
                } else {
                    self.counters.quotes_rejected += 1;
                }
            }
            Input::Timer(ts) => {
                self.counters.timers += 1;
                let c = &mut self.counters.candles;
                let stamp = Stamp { raw: ev.ingress_raw, cause: Cause::Timer };
                self.builder.on_timer(ts, |bar| {
                    *c += 1;
                    out(Msg::Candle { candle: *bar, stamp });
                });
                out(Msg::Timer(ts));
            }
            Input::Command(cmd) => {
                self.counters.commands += 1;
                out(Msg::Command(cmd));
            }
            Input::VenueReport(r) => out(Msg::VenueReport(r)),
            Input::Feedback(f) => out(Msg::Feedback(f)),
            Input::Route(_) | Input::Empty => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn spec() -> InstrumentSpec {
        InstrumentSpec {
            id: InstrumentId(0),
            symbol: "TCS".into(),
            segment: Segment::Equity,
            tick_size: Price(10),
            lot_size: Qty(1),
            band: PriceBand { lower: Price(300_000), upper: Price(400_000) },
        }
    }

    #[test]
    fn each_reason_is_counted_and_good_ticks_flow() {
        let mut s = CandleStage::new(vec![spec()], Session::NSE_NORMAL, &[BarSpec::M1], CandleOptions::default());
        let t = |ts: i64, price: i64, qty: u64, inst: u32| IngressEvent {
            input: Input::Tick(Tick {
                instrument: InstrumentId(inst),
                ts: Timestamp(ts),
                price: Price(price),
                qty: Qty(qty),
            }),
            ingress_raw: 0,
            source: 0,
        };
        let mut out = Vec::new();
        for ev in [
            t(10, 350_000, 1, 0),
            t(11, 0, 1, 0),
            t(11, -5, 1, 0),
            t(11, 350_000, 0, 0),
            t(11, 350_005, 1, 0),
            t(11, 500_000, 1, 0),
            t(9, 350_000, 1, 0),
            t(11, 350_000, 1, 7),
            t(12, 350_010, 2, 0),
        ] {
            s.on_input(&ev, &mut |m| out.push(m));
        }
        let c = s.counters;
        assert_eq!(c.ticks_in, 9);
        assert_eq!(c.ticks_accepted, 2);
        for r in [
            TickReject::NonPositivePrice,
            TickReject::NonPositiveQty,
            TickReject::OffTickGrid,
            TickReject::OutsideBand,
            TickReject::TimeBackwards,
            TickReject::UnknownSymbol,
        ] {
            assert!(c.rejected[r.index()] >= 1, "{r:?}");
        }
        assert_eq!(c.rejected[TickReject::NonPositivePrice.index()], 2);
        assert_eq!(out.iter().filter(|m| matches!(m, Msg::Tick { .. })).count(), 2);
    }
}
