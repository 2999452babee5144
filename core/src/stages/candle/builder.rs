//! Builds bars for every instrument in several bar specs at once. State is one slot per
//! (instrument, spec), allocated up front; a tick touches only its instrument's slots.

use crate::model::time::NANOS_PER_DAY;
use crate::model::Tick;
use crate::model::{BarSpec, Candle, Timeframe};
use crate::model::{InstrumentId, Qty, Session, Timestamp};

/// What to do with an interval in which nothing traded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmptyBars {
    /// No bar: the series has gaps, as most charting does for illiquid names.
    #[default]
    Skip,
    /// A flat bar at the previous close with zero volume, so every interval has a bar.
    Flat,
}

/// What to do with a trade older than the instrument's latest one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LatePolicy {
    /// Refuse it and count it: bars already published never change.
    #[default]
    Drop,
    /// Fold it into the bar its time belongs to (the open one, or the last closed one, which is
    /// then re-issued marked `amended`); its price never becomes a bar's close.
    Amend,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CandleOptions {
    pub empty: EmptyBars,
    pub late: LatePolicy,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BuilderCounters {
    /// Bars closed (including flat bars, excluding amendments).
    pub closed: u64,
    pub flat: u64,
    pub amended: u64,
    /// Late trades that fitted no bar still held (too old) and were dropped.
    pub late_unplaced: u64,
}

#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Slot {
    open: Option<Candle>,
    /// The last closed bar: what flat bars continue from and late trades may amend.
    last: Option<Candle>,
    /// The IST day the open time bar was cut on, so the bar after it is found without a
    /// division. Derived when a bar is cut: snapshots do not hold it.
    #[serde(skip)]
    day: Option<BucketDay>,
}

/// The day a time bar starting at `bar_start` was cut on: `[midnight, midnight + 1 day)` IST
/// and that day's session close.
#[derive(Clone, Copy, Debug, Default)]
struct BucketDay {
    bar_start: i64,
    midnight: i64,
    close: i64,
}

impl Slot {
    /// `tf.bucket(session, ts)`. A bar usually closes because a trade fell in the bucket right
    /// after it on the same day; that bucket is then the open bar's plus one period, with no
    /// division (`bucket` counts periods from the session open, an integer division).
    #[inline]
    fn bucket(&mut self, session: &Session, tf: Timeframe, ts: Timestamp) -> (Timestamp, Timestamp) {
        if let (Some(bar), Some(d)) = (&self.open, &mut self.day) {
            let p = tf.0;
            if d.bar_start == bar.start.0
                && p < NANOS_PER_DAY
                && ts.0 >= d.midnight
                && ts.0 - d.midnight < NANOS_PER_DAY
            {
                let start = bar.start.0 + p;
                if ts.0 >= start && ts.0 - start < p {
                    let mut end = start + p;
                    if start < d.close && end > d.close {
                        end = d.close;
                    }
                    d.bar_start = start;
                    return (Timestamp(start), Timestamp(end));
                }
            }
        }
        self.cut(session, tf, ts)
    }

    #[inline(never)]
    fn cut(&mut self, session: &Session, tf: Timeframe, ts: Timestamp) -> (Timestamp, Timestamp) {
        let (start, end) = tf.bucket(session, ts);
        let midnight = ts.ist_midnight().0;
        // Near the ends of the timestamp range the day is clamped: no shortcut there.
        self.day = (ts.0 - midnight == ts.ist_time_of_day()).then(|| BucketDay {
            bar_start: start.0,
            midnight,
            close: session.close_on(ts).0,
        });
        (start, end)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct CandleBuilder {
    session: Session,
    specs: Vec<BarSpec>,
    options: CandleOptions,
    slots: Vec<Slot>,
    /// Latest known open interest per instrument.
    oi: Vec<u64>,
    /// Earliest time at which a timer can close (or fill) a time bar.
    next_due: i64,
    pub counters: BuilderCounters,
}

impl CandleBuilder {
    pub fn new(session: Session, specs: &[BarSpec], instruments: usize, options: CandleOptions) -> Self {
        let mut specs = specs.to_vec();
        specs.sort();
        specs.dedup();
        CandleBuilder {
            session,
            slots: vec![Slot::default(); specs.len() * instruments],
            oi: vec![0; instruments],
            specs,
            options,
            next_due: i64::MAX,
            counters: BuilderCounters::default(),
        }
    }

    pub fn specs(&self) -> &[BarSpec] {
        &self.specs
    }

    /// Bars closed so far.
    pub fn emitted(&self) -> u64 {
        self.counters.closed
    }

    /// Records open interest; bars closing from now on carry it.
    pub fn set_open_interest(&mut self, instrument: InstrumentId, oi: u64) {
        if let Some(x) = self.oi.get_mut(instrument.index()) {
            *x = oi;
        }
    }

    /// Folds an in-order trade in; every bar it closes (and, with flat bars on, every empty
    /// interval before it) is handed to `out` first.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick, mut out: impl FnMut(&Candle)) {
        let n = self.specs.len();
        let i = tick.instrument.index();
        let base = i * n;
        let oi = self.oi.get(i).copied().unwrap_or(0);
        let Some(slots) = self.slots.get_mut(base..base + n) else { return };
        for (slot, &spec) in slots.iter_mut().zip(self.specs.iter()) {
            match spec {
                BarSpec::Time(tf) => {
                    if let Some(bar) = slot.open.as_mut() {
                        if tick.ts >= bar.start && tick.ts < bar.end {
                            add(bar, tick, true);
                            continue;
                        }
                    }
                    let (start, end) = slot.bucket(&self.session, tf, tick.ts);
                    if let Some(bar) = slot.open.as_mut() {
                        if bar.start == start {
                            // Same bucket though outside [start, end): a pre-open trade in the
                            // session bar.
                            add(bar, tick, true);
                            continue;
                        }
                    }
                    if let Some(mut bar) = slot.open.take() {
                        bar.oi = oi;
                        self.counters.closed += 1;
                        out(&bar);
                        slot.last = Some(bar);
                    }
                    if self.options.empty == EmptyBars::Flat {
                        fill_flat(&self.session, tf, slot, start.0, oi, &mut self.counters, &mut out);
                    }
                    slot.open = Some(first(tick, spec, start, end));
                    if end.0 < self.next_due {
                        self.next_due = end.0;
                    }
                }
                BarSpec::Ticks(limit) => {
                    let done = match slot.open.as_mut() {
                        Some(bar) => {
                            add(bar, tick, true);
                            bar.end = tick.ts;
                            bar.trades >= limit
                        }
                        None => {
                            slot.open = Some(first(tick, spec, tick.ts, tick.ts));
                            limit <= 1
                        }
                    };
                    if done {
                        close_activity_bar(slot, oi, &mut self.counters, &mut out);
                    }
                }
                BarSpec::Volume(limit) => {
                    let done = match slot.open.as_mut() {
                        Some(bar) => {
                            add(bar, tick, true);
                            bar.end = tick.ts;
                            bar.volume.0 >= limit
                        }
                        None => {
                            slot.open = Some(first(tick, spec, tick.ts, tick.ts));
                            tick.qty.0 >= limit
                        }
                    };
                    if done {
                        close_activity_bar(slot, oi, &mut self.counters, &mut out);
                    }
                }
            }
        }
    }

    /// Folds in a trade older than the instrument's latest (only under [`LatePolicy::Amend`]):
    /// it updates high, low, volume and trades of the bar its time belongs to, never its close.
    pub fn on_late_tick(&mut self, tick: &Tick, mut out: impl FnMut(&Candle)) {
        let n = self.specs.len();
        let base = tick.instrument.index() * n;
        let Some(slots) = self.slots.get_mut(base..base + n) else { return };
        for (slot, &spec) in slots.iter_mut().zip(self.specs.iter()) {
            match spec {
                BarSpec::Time(tf) => {
                    let (start, _) = tf.bucket(&self.session, tick.ts);
                    if let Some(bar) = slot.open.as_mut().filter(|b| b.start == start) {
                        add(bar, tick, false);
                    } else if let Some(bar) = slot.last.as_mut().filter(|b| b.start == start) {
                        add(bar, tick, false);
                        bar.amended = true;
                        self.counters.amended += 1;
                        out(bar);
                    } else {
                        self.counters.late_unplaced += 1;
                    }
                }
                // Activity bars are cut by arrival, so a late trade belongs to the open one.
                BarSpec::Ticks(_) | BarSpec::Volume(_) => match slot.open.as_mut() {
                    Some(bar) => add(bar, tick, false),
                    None => slot.open = Some(first(tick, spec, tick.ts, tick.ts)),
                },
            }
        }
    }

    /// Closes every open bar, whatever its window: the end of a replay, or of an analysis.
    pub fn flush(&mut self, mut out: impl FnMut(&Candle)) {
        let n = self.specs.len().max(1);
        for (k, slot) in self.slots.iter_mut().enumerate() {
            if let Some(mut bar) = slot.open.take() {
                bar.oi = self.oi.get(k / n).copied().unwrap_or(0);
                self.counters.closed += 1;
                out(&bar);
                slot.last = Some(bar);
            }
        }
    }

    /// Closes every time bar whose window has ended by `now` (and, with flat bars on, emits
    /// the empty intervals up to `now`), so a quiet instrument's bar is not held back until
    /// its next trade.
    pub fn on_timer(&mut self, now: Timestamp, mut out: impl FnMut(&Candle)) {
        if now.0 < self.next_due {
            return;
        }
        let n = self.specs.len().max(1);
        let mut next = i64::MAX;
        for (k, slot) in self.slots.iter_mut().enumerate() {
            let BarSpec::Time(tf) = self.specs[k % n] else { continue };
            let oi = self.oi.get(k / n).copied().unwrap_or(0);
            if let Some(bar) = slot.open.filter(|b| b.end <= now) {
                let mut bar = bar;
                bar.oi = oi;
                self.counters.closed += 1;
                out(&bar);
                slot.last = Some(bar);
                slot.open = None;
            }
            if self.options.empty == EmptyBars::Flat && slot.open.is_none() {
                fill_flat(&self.session, tf, slot, now.0, oi, &mut self.counters, &mut out);
            }
            let due = match (&slot.open, &slot.last) {
                (Some(b), _) => b.end.0,
                (None, Some(l)) if self.options.empty == EmptyBars::Flat => {
                    next_bucket(&self.session, tf, l).map(|(_, e)| e).unwrap_or(i64::MAX)
                }
                _ => i64::MAX,
            };
            next = next.min(due);
        }
        self.next_due = next;
    }
}

#[inline]
fn first(tick: &Tick, spec: BarSpec, start: Timestamp, end: Timestamp) -> Candle {
    Candle {
        instrument: tick.instrument,
        spec,
        start,
        end,
        open: tick.price,
        high: tick.price,
        low: tick.price,
        close: tick.price,
        volume: tick.qty,
        trades: 1,
        turnover: tick.qty.notional(tick.price).0,
        oi: 0,
        amended: false,
    }
}

#[inline]
fn add(bar: &mut Candle, tick: &Tick, in_order: bool) {
    if tick.price > bar.high {
        bar.high = tick.price;
    }
    if tick.price < bar.low {
        bar.low = tick.price;
    }
    if in_order {
        bar.close = tick.price;
    }
    bar.volume = Qty(bar.volume.0.saturating_add(tick.qty.0));
    bar.trades = bar.trades.saturating_add(1);
    bar.turnover = bar.turnover.saturating_add(tick.qty.notional(tick.price).0);
}

fn close_activity_bar(slot: &mut Slot, oi: u64, c: &mut BuilderCounters, out: &mut impl FnMut(&Candle)) {
    if let Some(mut bar) = slot.open.take() {
        bar.oi = oi;
        c.closed += 1;
        out(&bar);
        slot.last = Some(bar);
    }
}

/// The bucket after `last`, if it is still inside the same session.
fn next_bucket(session: &Session, tf: Timeframe, last: &Candle) -> Option<(i64, i64)> {
    let (s, e) = tf.bucket(session, last.end);
    let close = session.close_on(last.start).0;
    (s.0 >= last.end.0 && s.0 < close && s.0 >= session.open_on(last.start).0).then_some((s.0, e.0))
}

/// Emits flat bars for every empty bucket after the last closed bar that ends by `until`.
fn fill_flat(
    session: &Session,
    tf: Timeframe,
    slot: &mut Slot,
    until: i64,
    oi: u64,
    c: &mut BuilderCounters,
    out: &mut impl FnMut(&Candle),
) {
    while let Some(last) = slot.last {
        let Some((s, e)) = next_bucket(session, tf, &last) else { break };
        if e > until {
            break;
        }
        let bar = Candle::flat(last.instrument, last.spec, Timestamp(s), Timestamp(e), last.close, oi);
        c.closed += 1;
        c.flat += 1;
        out(&bar);
        slot.last = Some(bar);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time::{NANOS_PER_MIN, NANOS_PER_SEC};
    use crate::model::Price;

    // 2026-11-20 09:15:00 IST.
    const OPEN: i64 = 1_795_146_300 * NANOS_PER_SEC;

    fn tick(sec: i64, price: i64, qty: u64) -> Tick {
        Tick {
            instrument: InstrumentId(0),
            ts: Timestamp(OPEN + sec * NANOS_PER_SEC),
            price: Price(price),
            qty: Qty(qty),
        }
    }

    fn builder(specs: &[BarSpec], options: CandleOptions) -> CandleBuilder {
        CandleBuilder::new(Session::NSE_NORMAL, specs, 1, options)
    }

    #[test]
    fn builds_ohlcv_in_two_timeframes() {
        let mut b = builder(&[BarSpec::M1, BarSpec::S1], CandleOptions::default());
        let mut out = Vec::new();
        for t in [tick(0, 100, 1), tick(0, 105, 2), tick(30, 95, 3), tick(59, 101, 4), tick(60, 102, 5)] {
            b.on_tick(&t, |c| out.push(*c));
        }
        let m1: Vec<_> = out.iter().filter(|c| c.spec == BarSpec::M1).collect();
        assert_eq!(m1.len(), 1);
        let c = m1[0];
        assert_eq!((c.open, c.high, c.low, c.close), (Price(100), Price(105), Price(95), Price(101)));
        assert_eq!((c.volume, c.trades), (Qty(10), 4));
        assert_eq!(c.start.0, OPEN);
        // 1s bars: [0], [30], [59] closed, [60] still open.
        assert_eq!(out.iter().filter(|c| c.spec == BarSpec::S1).count(), 3);
        assert!((c.vwap() - (100.0 + 210.0 + 285.0 + 404.0) / 10.0 / 100.0).abs() < 1e-12);
    }

    #[test]
    fn timer_closes_quiet_bars() {
        let mut b = CandleBuilder::new(Session::NSE_NORMAL, &[BarSpec::M1], 2, CandleOptions::default());
        let mut out = Vec::new();
        b.on_tick(&tick(5, 100, 1), |c| out.push(*c));
        b.on_timer(Timestamp(OPEN + 59 * NANOS_PER_SEC), |c| out.push(*c));
        assert!(out.is_empty());
        b.on_timer(Timestamp(OPEN + 60 * NANOS_PER_SEC), |c| out.push(*c));
        assert_eq!(out.len(), 1);
        assert_eq!(b.emitted(), 1);
    }

    #[test]
    fn flat_bars_fill_gaps_within_the_session_only() {
        let opts = CandleOptions { empty: EmptyBars::Flat, late: LatePolicy::Drop };
        let mut b = builder(&[BarSpec::M1], opts);
        let mut out = Vec::new();
        b.on_tick(&tick(10, 100, 1), |c| out.push(*c));
        b.on_tick(&tick(4 * 60 + 1, 103, 1), |c| out.push(*c));
        // 09:15 real, 09:16–09:18 flat at 100, 09:19 still open.
        assert_eq!(out.len(), 4);
        assert!(out[1..].iter().all(|c| c.volume.is_zero() && c.close == Price(100) && c.trades == 0));
        assert_eq!(out[3].start.0 - OPEN, 3 * NANOS_PER_MIN);
        // A timer long after the close fills up to 15:30 and no further.
        out.clear();
        b.on_timer(Timestamp(OPEN + 10 * 60 * NANOS_PER_MIN), |c| out.push(*c));
        let last = out.last().copied();
        assert_eq!(last.map(|c| c.end.0 - OPEN), Some(375 * NANOS_PER_MIN));
        assert_eq!(out.len(), 375 - 4);
        out.clear();
        b.on_timer(Timestamp(OPEN + 11 * 60 * NANOS_PER_MIN), |c| out.push(*c));
        assert!(out.is_empty());
    }

    #[test]
    fn skipped_gaps_leave_no_bars() {
        let mut b = builder(&[BarSpec::M1], CandleOptions::default());
        let mut out = Vec::new();
        b.on_tick(&tick(10, 100, 1), |c| out.push(*c));
        b.on_tick(&tick(4 * 60 + 1, 103, 1), |c| out.push(*c));
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn late_trades_amend_without_moving_the_close() {
        let opts = CandleOptions { empty: EmptyBars::Skip, late: LatePolicy::Amend };
        let mut b = builder(&[BarSpec::M1], opts);
        let mut out = Vec::new();
        b.on_tick(&tick(10, 100, 1), |c| out.push(*c));
        b.on_tick(&tick(70, 101, 1), |c| out.push(*c));
        assert_eq!(out.len(), 1);
        b.on_late_tick(&tick(20, 90, 5), |c| out.push(*c));
        assert_eq!(out.len(), 2);
        let a = out[1];
        assert!(a.amended);
        assert_eq!((a.low, a.close, a.volume, a.trades), (Price(90), Price(100), Qty(6), 2));
        // Too old for any held bar: dropped and counted.
        b.on_late_tick(&tick(-600, 90, 5), |c| out.push(*c));
        assert_eq!(b.counters.late_unplaced, 1);
    }

    #[test]
    fn tick_and_volume_bars() {
        let mut b = builder(&[BarSpec::Ticks(3), BarSpec::Volume(10)], CandleOptions::default());
        let mut out = Vec::new();
        for (i, q) in [4u64, 4, 4, 1, 1, 1].iter().enumerate() {
            b.on_tick(&tick(i as i64, 100 + i as i64, *q), |c| out.push(*c));
        }
        let ticks: Vec<_> = out.iter().filter(|c| matches!(c.spec, BarSpec::Ticks(_))).collect();
        let vols: Vec<_> = out.iter().filter(|c| matches!(c.spec, BarSpec::Volume(_))).collect();
        assert_eq!(ticks.len(), 2);
        assert!(ticks.iter().all(|c| c.trades == 3));
        assert_eq!(vols.len(), 1);
        assert_eq!(vols[0].volume, Qty(12));
        assert_eq!((vols[0].start.0 - OPEN, vols[0].end.0 - OPEN), (0, 2 * NANOS_PER_SEC));
    }

    #[test]
    fn open_interest_is_carried() {
        let mut b = builder(&[BarSpec::S1], CandleOptions::default());
        let mut out = Vec::new();
        b.set_open_interest(InstrumentId(0), 12_345);
        b.on_tick(&tick(0, 100, 1), |c| out.push(*c));
        b.on_tick(&tick(1, 100, 1), |c| out.push(*c));
        assert_eq!(out[0].oi, 12_345);
    }

    #[test]
    fn session_bar_takes_pre_open_trades() {
        let mut b = builder(&[BarSpec::Time(Timeframe::SESSION)], CandleOptions::default());
        let mut out = Vec::new();
        b.on_tick(&tick(-300, 100, 1), |c| out.push(*c));
        b.on_tick(&tick(-200, 101, 1), |c| out.push(*c));
        b.on_tick(&tick(100, 102, 1), |c| out.push(*c));
        assert!(out.is_empty());
        b.on_timer(Timestamp(OPEN + 375 * NANOS_PER_MIN), |c| out.push(*c));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].trades, 3);
    }

    proptest::proptest! {
        /// The bucket a slot finds without dividing is the one `Timeframe::bucket` computes, for
        /// any period and any gaps: across session close, midnight and pre-open trades.
        #[test]
        fn a_slot_finds_the_same_bucket_as_the_division(
            period_s in proptest::sample::select(vec![1i64, 60, 420, 3_600, 18_000, 36_000, 86_400]),
            gaps in proptest::collection::vec(0i64..40_000, 1..300),
            start_s in -40_000i64..40_000,
        ) {
            let session = Session::NSE_NORMAL;
            let tf = Timeframe(period_s * NANOS_PER_SEC);
            let mut slot = Slot::default();
            let mut ts = OPEN + start_s * NANOS_PER_SEC;
            for g in gaps {
                ts += g * NANOS_PER_SEC / 4;
                let t = Timestamp(ts);
                let got = slot.bucket(&session, tf, t);
                proptest::prop_assert_eq!(got, tf.bucket(&session, t));
                if slot.open.is_none_or(|b| b.start != got.0) {
                    slot.open = Some(first(&tick(0, 100, 1), BarSpec::Time(tf), got.0, got.1));
                }
            }
        }
    }
}
