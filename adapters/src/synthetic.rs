//! A synthetic market: seeded random walks on each instrument's tick grid, for smoke runs,
//! soak tests and benchmarks when no recorded data is at hand. Everything derives from the
//! seed, so a failing run can be replayed exactly. Walks are kept in tick units so every
//! price is on the grid by construction, and clamped to the band so the engine's validator
//! never has cause to refuse them.

use std::time::{Duration, Instant};

use dalal_core::model::Tick;
use dalal_core::model::{InstrumentId, InstrumentSpec, Price, PriceBand, Qty, Segment, Timestamp};

use crate::rng::Xoshiro256;

/// One instrument to simulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyntheticInstrument {
    pub id: InstrumentId,
    /// Opening price; the walk drifts back toward it. Must be on the grid and inside the band.
    pub start: Price,
    pub tick: Price,
    pub lot: Qty,
    pub band: PriceBand,
}

impl SyntheticInstrument {
    /// Takes the grid, lot and band from the instrument master.
    pub fn from_spec(spec: &InstrumentSpec, start: Price) -> Self {
        SyntheticInstrument { id: spec.id, start, tick: spec.tick_size, lot: spec.lot_size, band: spec.band }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntheticConfig {
    pub seed: u64,
    pub instruments: Vec<SyntheticInstrument>,
}

/// Well-known NSE names at plausible prices (paise), ticks (paise) and lots, so demo output
/// looks like a real tape.
const DEMO: &[(&str, i64, i64, u64, Segment)] = &[
    ("RELIANCE", 128_540, 5, 1, Segment::Equity),
    ("TCS", 412_035, 5, 1, Segment::Equity),
    ("HDFCBANK", 172_050, 5, 1, Segment::Equity),
    ("INFY", 187_615, 5, 1, Segment::Equity),
    ("ICICIBANK", 129_080, 5, 1, Segment::Equity),
    ("SBIN", 81_245, 5, 1, Segment::Equity),
    ("ITC", 46_730, 5, 1, Segment::Equity),
    ("BHARTIARTL", 159_800, 5, 1, Segment::Equity),
    ("LT", 356_020, 5, 1, Segment::Equity),
    ("TATAMOTORS", 78_560, 5, 1, Segment::Equity),
    ("NIFTY25JANFUT", 2_415_050, 10, 75, Segment::Futures),
    ("BANKNIFTY25JANFUT", 5_142_000, 20, 30, Segment::Futures),
    ("NIFTY25JAN24000CE", 18_540, 5, 75, Segment::Options),
    ("NIFTY25JAN24000PE", 9_815, 5, 75, Segment::Options),
];

impl SyntheticConfig {
    /// A ready-made universe of `n` instruments (ids `0..n`) with their specs: the well-known
    /// names first, then `SYN0014`… equities priced ₹50–₹5000. Bands are ±20 % for equities
    /// and ±10 % for derivatives around the start.
    pub fn demo(seed: u64, n: usize) -> (SyntheticConfig, Vec<InstrumentSpec>) {
        let mut specs = Vec::with_capacity(n);
        let mut instruments = Vec::with_capacity(n);
        let mut prices = crate::rng::SplitMix64::new(0x005E_ED0F_D15C);
        for i in 0..n {
            let (symbol, paise, tick, lot, segment) = match DEMO.get(i) {
                Some(&(s, p, t, l, seg)) => (s.to_string(), p, t, l, seg),
                None => {
                    let paise = 5_000 + (prices.next_u64() % 495_000) as i64;
                    (format!("SYN{i:04}"), paise, 5, 1, Segment::Equity)
                }
            };
            let tick = Price(tick);
            let start = Price(paise).floor_to(tick);
            let pct = if segment == Segment::Equity { 20.0 } else { 10.0 };
            let band = PriceBand::around(start, pct, tick);
            let spec = InstrumentSpec {
                id: InstrumentId(i as u32),
                symbol,
                segment,
                tick_size: tick,
                lot_size: Qty(lot),
                band,
            };
            instruments.push(SyntheticInstrument::from_spec(&spec, start));
            specs.push(spec);
        }
        (SyntheticConfig { seed, instruments }, specs)
    }
}

/// Why a configuration cannot be simulated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntheticError {
    #[error("synthetic feed needs at least one instrument")]
    NoInstruments,
    #[error("instrument {id}: tick size {tick} is not positive")]
    BadTick { id: InstrumentId, tick: Price },
    #[error("instrument {id}: lot size is zero")]
    BadLot { id: InstrumentId },
    #[error("instrument {id}: band {lower}..={upper} holds no positive price on the grid")]
    EmptyBand { id: InstrumentId, lower: Price, upper: Price },
    #[error("instrument {id}: start {start} must be positive, on the tick grid and inside the band")]
    BadStart { id: InstrumentId, start: Price },
}

/// One instrument's walk, in whole ticks.
#[derive(Clone, Debug)]
struct Walk {
    id: InstrumentId,
    tick: i64,
    lot: u64,
    lo: i64,
    hi: i64,
    anchor: i64,
    at: i64,
    /// Distance from the anchor (ticks) at which the pull back is strongest.
    scale: i64,
}

impl Walk {
    fn new(s: &SyntheticInstrument) -> Result<Walk, SyntheticError> {
        let id = s.id;
        let tick = s.tick.0;
        if tick <= 0 {
            return Err(SyntheticError::BadTick { id, tick: s.tick });
        }
        if s.lot.0 == 0 {
            return Err(SyntheticError::BadLot { id });
        }
        let lower = s.band.lower.0.max(1);
        let lo = lower / tick + i64::from(lower % tick != 0);
        let hi = s.band.upper.0.div_euclid(tick);
        if lo > hi {
            return Err(SyntheticError::EmptyBand { id, lower: s.band.lower, upper: s.band.upper });
        }
        if !s.start.is_positive() || !s.start.on_grid(s.tick) || !s.band.contains(s.start) {
            return Err(SyntheticError::BadStart { id, start: s.start });
        }
        let anchor = s.start.0 / tick;
        let room = (anchor - lo).min(hi - anchor);
        Ok(Walk { id, tick, lot: s.lot.0, lo, hi, anchor, at: anchor, scale: (room / 2).max(8) })
    }
}

/// Cumulative weights (out of 100) for 1..=10 lots: most prints are a lot or two.
const LOT_CDF: [u64; 10] = [32, 52, 66, 76, 84, 90, 94, 97, 99, 100];

/// Deterministic tape generator over a fixed instrument set.
#[derive(Clone, Debug)]
pub struct SyntheticFeed {
    rng: Xoshiro256,
    walks: Vec<Walk>,
}

impl SyntheticFeed {
    pub fn new(config: &SyntheticConfig) -> Result<Self, SyntheticError> {
        if config.instruments.is_empty() {
            return Err(SyntheticError::NoInstruments);
        }
        let walks = config.instruments.iter().map(Walk::new).collect::<Result<Vec<_>, _>>()?;
        Ok(SyntheticFeed { rng: Xoshiro256::new(config.seed), walks })
    }

    /// The next print, stamped `ts`, on a uniformly chosen instrument.
    pub fn next(&mut self, ts: Timestamp) -> Tick {
        let i = self.rng.below(self.walks.len() as u64) as usize;
        let u = self.rng.below(1000);
        let step = match u {
            0..=399 => 0,
            400..=699 => 1,
            700..=899 => 2,
            900..=979 => self.rng.range_inclusive(3, 5),
            _ => self.rng.range_inclusive(6, 20),
        };
        let dir_roll = self.rng.below(1000) as i64;
        let lot_roll = self.rng.below(100);
        let lots = LOT_CDF.iter().position(|&c| lot_roll < c).unwrap_or(0) as u64 + 1;

        let w = &mut self.walks[i];
        if step != 0 {
            // Lean toward the anchor in proportion to the excursion, up to 75/25 odds.
            let dev = (w.at - w.anchor) as i128;
            let pull = (dev * 250 / w.scale as i128).clamp(-250, 250) as i64;
            let down = dir_roll < 500 + pull;
            let next = if down { w.at.saturating_sub(step) } else { w.at.saturating_add(step) };
            w.at = next.clamp(w.lo, w.hi);
        }
        Tick { instrument: w.id, ts, price: Price(w.at * w.tick), qty: Qty(w.lot.saturating_mul(lots)) }
    }

    /// Number of simulated instruments.
    pub fn len(&self) -> usize {
        self.walks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.walks.is_empty()
    }
}

/// `count` ticks from a fresh feed, the first at `start` and each `spacing_ns` after the
/// previous (a negative spacing counts as 0), so timestamps never go backwards.
pub fn generate_session(
    config: &SyntheticConfig,
    start: Timestamp,
    count: usize,
    spacing_ns: i64,
) -> Result<Vec<Tick>, SyntheticError> {
    let mut feed = SyntheticFeed::new(config)?;
    let spacing = spacing_ns.max(0);
    let mut ts = start.0;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(feed.next(Timestamp(ts)));
        ts = ts.saturating_add(spacing);
    }
    Ok(out)
}

/// Above this lead the pacer sleeps; below it, sleeping would overshoot (timer slack is tens
/// of microseconds), so it yields instead.
const SLEEP_ABOVE: Duration = Duration::from_micros(200);

/// Holds a live publisher to a target rate. Deadlines are computed from the start, not
/// from the previous tick, so sleep overshoot is made up by the following ticks (which then
/// go out back to back) instead of accumulating as drift. That also makes it sleep in
/// batches at high rates rather than once per tick.
#[derive(Clone, Debug)]
pub struct Pacer {
    rate: u64,
    started: Option<Instant>,
    sent: u64,
}

impl Pacer {
    /// `rate_per_sec` ticks per second; 0 means as fast as possible.
    pub fn new(rate_per_sec: u64) -> Self {
        Pacer { rate: rate_per_sec, started: None, sent: 0 }
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Ticks let through so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// How long until the next tick is due (zero: now). The first call starts the clock.
    pub fn next_due_in(&mut self) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let offset_ns = (self.sent as u128 * 1_000_000_000 / self.rate as u128).min(u64::MAX as u128) as u64;
        match started.checked_add(Duration::from_nanos(offset_ns)) {
            Some(due) => due.saturating_duration_since(Instant::now()),
            None => Duration::ZERO,
        }
    }

    /// Counts the next tick as sent (after [`Pacer::next_due_in`] said it is due).
    pub fn take(&mut self) {
        self.sent += 1;
    }

    /// Blocks until the next tick is due. The first call never waits and starts the clock.
    pub fn wait_for_next(&mut self) {
        let n = self.sent;
        self.sent += 1;
        if self.rate == 0 {
            return;
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let offset_ns = (n as u128 * 1_000_000_000 / self.rate as u128).min(u64::MAX as u128) as u64;
        let Some(due) = started.checked_add(Duration::from_nanos(offset_ns)) else {
            return;
        };
        loop {
            let now = Instant::now();
            if now >= due {
                return;
            }
            let ahead = due - now;
            if ahead > SLEEP_ABOVE {
                std::thread::sleep(ahead - SLEEP_ABOVE / 2);
            } else {
                std::thread::yield_now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> SyntheticConfig {
        SyntheticConfig::demo(seed, 20).0
    }

    #[test]
    fn same_seed_same_ticks_different_seed_different_ticks() {
        let a = generate_session(&config(1), Timestamp(0), 5_000, 1_000).unwrap();
        let b = generate_session(&config(1), Timestamp(0), 5_000, 1_000).unwrap();
        let c = generate_session(&config(2), Timestamp(0), 5_000, 1_000).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn prices_stay_on_grid_inside_band_and_lots_are_whole() {
        let (cfg, specs) = SyntheticConfig::demo(99, 30);
        let ticks = generate_session(&cfg, Timestamp(1_000), 100_000, 250).unwrap();
        assert_eq!(ticks.len(), 100_000);
        let mut moved = 0;
        let mut seen = vec![false; specs.len()];
        let mut last = vec![None; specs.len()];
        for (i, t) in ticks.iter().enumerate() {
            let spec = &specs[t.instrument.index()];
            assert!(t.price.is_positive(), "{t:?}");
            assert!(t.price.on_grid(spec.tick_size), "{t:?}");
            assert!(spec.band.contains(t.price), "{t:?} outside {:?}", spec.band);
            assert!(
                t.qty.is_lot_multiple(spec.lot_size) && t.qty.0 >= spec.lot_size.0 && t.qty.0 <= 10 * spec.lot_size.0
            );
            assert_eq!(t.ts, Timestamp(1_000 + 250 * i as i64));
            seen[t.instrument.index()] = true;
            if let Some(p) = last[t.instrument.index()].replace(t.price) {
                if p != t.price {
                    moved += 1;
                }
            }
        }
        assert!(seen.iter().all(|&s| s), "every instrument is picked");
        assert!(moved > 40_000 && moved < 80_000, "{moved} moves");
    }

    #[test]
    fn narrow_band_clamps() {
        let cfg = SyntheticConfig {
            seed: 5,
            instruments: vec![SyntheticInstrument {
                id: InstrumentId(3),
                start: Price(100),
                tick: Price(5),
                lot: Qty(50),
                band: PriceBand { lower: Price(93), upper: Price(112) },
            }],
        };
        for t in generate_session(&cfg, Timestamp(0), 10_000, 0).unwrap() {
            assert!((95..=110).contains(&t.price.0) && t.price.0 % 5 == 0, "{t:?}");
            assert_eq!(t.instrument, InstrumentId(3));
            assert_eq!(t.ts, Timestamp(0));
        }
    }

    #[test]
    fn negative_spacing_does_not_go_backwards() {
        let ticks = generate_session(&config(3), Timestamp(10), 100, -5).unwrap();
        assert!(ticks.windows(2).all(|w| w[0].ts <= w[1].ts));
    }

    #[test]
    fn refuses_bad_config() {
        let good = SyntheticInstrument {
            id: InstrumentId(0),
            start: Price(1000),
            tick: Price(5),
            lot: Qty(1),
            band: PriceBand::OPEN,
        };
        let with = |i: SyntheticInstrument| SyntheticFeed::new(&SyntheticConfig { seed: 0, instruments: vec![i] });
        assert!(with(good).is_ok());
        assert_eq!(
            SyntheticFeed::new(&SyntheticConfig { seed: 0, instruments: vec![] }).unwrap_err(),
            SyntheticError::NoInstruments
        );
        assert!(matches!(with(SyntheticInstrument { tick: Price(0), ..good }), Err(SyntheticError::BadTick { .. })));
        assert!(matches!(with(SyntheticInstrument { lot: Qty(0), ..good }), Err(SyntheticError::BadLot { .. })));
        assert!(matches!(
            with(SyntheticInstrument { start: Price(1001), ..good }),
            Err(SyntheticError::BadStart { .. })
        ));
        assert!(matches!(with(SyntheticInstrument { start: Price(0), ..good }), Err(SyntheticError::BadStart { .. })));
        assert!(matches!(
            with(SyntheticInstrument { band: PriceBand { lower: Price(1001), upper: Price(1004) }, ..good }),
            Err(SyntheticError::EmptyBand { .. })
        ));
        assert!(matches!(
            with(SyntheticInstrument { band: PriceBand { lower: Price(-10), upper: Price(0) }, ..good }),
            Err(SyntheticError::EmptyBand { .. })
        ));
        assert!(matches!(
            with(SyntheticInstrument { band: PriceBand { lower: Price(1100), upper: Price(1200) }, ..good }),
            Err(SyntheticError::BadStart { .. })
        ));
    }

    #[test]
    fn demo_universe_is_consistent() {
        let (cfg, specs) = SyntheticConfig::demo(0, 40);
        assert_eq!(specs.len(), 40);
        assert!(SyntheticFeed::new(&cfg).is_ok());
        assert!(crate::symbols::SymbolTable::new(&specs).is_ok());
        assert_eq!(specs[0].symbol, "RELIANCE");
        assert_eq!(specs[39].symbol, "SYN0039");
    }

    #[test]
    fn pacer_unlimited_does_not_wait() {
        let mut p = Pacer::new(0);
        let t0 = Instant::now();
        for _ in 0..1_000_000 {
            p.wait_for_next();
        }
        assert_eq!(p.sent(), 1_000_000);
        assert!(t0.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn pacer_holds_the_rate() {
        let mut p = Pacer::new(20_000);
        let t0 = Instant::now();
        for _ in 0..2_001 {
            p.wait_for_next();
        }
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(took < Duration::from_millis(1_000), "{took:?}");
    }
}
