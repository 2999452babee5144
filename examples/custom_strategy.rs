//! A strategy of your own, written against `dalal-core` as a library and backtested over a
//! generated session, without touching Dalal's source:
//!
//! ```sh
//! cargo run --release --example custom_strategy
//! ```
//!
//! `PairSpread` trades two instruments: it watches the ratio of their prices, and when the
//! ratio strays more than `band_bps` from its exponential average it sells the dear leg and
//! buys the cheap one, closing both once the ratio is back. It is one struct, its parameter
//! struct, its constructor (which validates and names the key at fault) and its logic; adding it
//! to Dalal is the one `registry.register::<PairSpread>()` line in `main`. `docs/strategies.md`
//! explains each part.

use dalal_adapters::{generate_session, SyntheticConfig, SyntheticInstrument};
use dalal_config::Config;
use dalal_core::engine::backtest;
use dalal_core::engine::summary::RunSummary;
use dalal_core::model::{BarSpec, Candle, InstrumentId, Timestamp};
use dalal_core::stages::strategy::{Ctx, ParamError, Strategy, StrategyEnv, Subscription};

/// The strategy's parameters, as a configuration entry spells them.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairSpreadParams {
    /// The second leg's symbol; the entry's `instrument` is the first.
    pub other: String,
    /// Distance of the ratio from its average that opens the pair, basis points.
    #[serde(default = "default_band")]
    pub band_bps: u32,
    /// Bars the ratio's average spans (an EMA).
    #[serde(default = "default_lookback")]
    pub lookback: u32,
}

fn default_band() -> u32 {
    20
}

fn default_lookback() -> u32 {
    30
}

/// The strategy's state: everything here is saved in engine snapshots.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PairSpread {
    other: InstrumentId,
    band: f64,
    alpha: f64,
    qty: i64,
    /// EMA of the price ratio; `None` until both legs have traded.
    mean: Option<f64>,
    /// +1 long the first leg, −1 short it, 0 flat.
    side: i8,
}

impl Strategy for PairSpread {
    const KIND: &'static str = "pair_spread";
    type Params = PairSpreadParams;

    fn new(p: &PairSpreadParams, env: &StrategyEnv<'_>) -> Result<Self, ParamError> {
        let other = env.instrument_for("other", &p.other)?;
        if other == env.instrument.id {
            return Err(ParamError::new("other", "must be another instrument than `instrument`"));
        }
        if !(1..=5_000).contains(&p.band_bps) {
            return Err(ParamError::new("band_bps", format!("{} is not between 1 and 5000", p.band_bps)));
        }
        if p.lookback < 2 {
            return Err(ParamError::new("lookback", "must be at least 2 bars"));
        }
        if !env.allow_short {
            return Err(ParamError::new("allow_short", "a pair trade sells one leg short: set it to true"));
        }
        Ok(PairSpread {
            other,
            band: f64::from(p.band_bps) / 10_000.0,
            alpha: 2.0 / (f64::from(p.lookback) + 1.0),
            qty: env.qty as i64,
            mean: None,
            side: 0,
        })
    }

    /// The second leg's one-minute bars, besides the home bars.
    fn subscriptions(&self) -> Vec<Subscription> {
        vec![Subscription::bars(self.other, BarSpec::M1)]
    }

    fn on_candle(&mut self, _candle: &Candle, ctx: &mut Ctx<'_>) {
        // Decide once per minute, on the home leg's bar, with the other leg's last trade.
        if ctx.feed() != 0 {
            return;
        }
        let (a, b) = (ctx.last_price(), ctx.last_price_of(self.other));
        if !a.is_positive() || !b.is_positive() {
            return;
        }
        let ratio = a.as_f64() / b.as_f64();
        let mean = *self.mean.get_or_insert(ratio);
        self.mean = Some(mean + self.alpha * (ratio - mean));
        let gap = ratio / mean - 1.0;
        let side = if gap > self.band {
            -1
        } else if gap < -self.band {
            1
        } else if (self.side > 0 && gap >= 0.0) || (self.side < 0 && gap <= 0.0) {
            0
        } else {
            self.side
        };
        if side != self.side {
            self.side = side;
            ctx.target(i64::from(side) * self.qty);
            ctx.target_of(self.other, -i64::from(side) * self.qty);
        }
    }
}

/// A desk with one trader running the pair on two NIFTY names.
const CONFIG: &str = r#"
[engine]
timeframes = []
latency_sample_every = 0

[[instruments]]
symbol = "HDFCBANK"
tick_size = 0.05
lot_size = 1
ref_price = 990.00

[[instruments]]
symbol = "ICICIBANK"
tick_size = 0.10
lot_size = 1
ref_price = 1400.00

[[accounts]]
name = "pairs"
[accounts.limits]
max_order_qty = 500
max_position_qty = 500

[[accounts.strategies]]
kind = "pair_spread"
instrument = "HDFCBANK"
other = "ICICIBANK"
band_bps = 15
lookback = 20
qty = 100
allow_short = true
"#;

/// What the example prints.
pub struct Outcome {
    pub summary: RunSummary,
    pub orders: usize,
    pub fills: usize,
    /// Instruments the strategy's orders went to.
    pub legs: Vec<InstrumentId>,
}

/// Registers the strategy, validates the configuration with it, generates a session and
/// backtests it.
pub fn run() -> Result<Outcome, Box<dyn std::error::Error>> {
    let mut registry = dalal_core::strategies::builtin();
    registry.register::<PairSpread>();

    let config: Config = toml::from_str(CONFIG)?;
    let setup = config.validate_with(&registry)?;

    let instruments =
        setup.instruments.iter().zip(&setup.ref_prices).map(|(s, p)| SyntheticInstrument::from_spec(s, *p)).collect();
    // 2026-11-20 09:15 IST, one trade every 100 ms across both names for the whole session.
    let open = Timestamp(1_795_146_300_000_000_000);
    let ticks = generate_session(&SyntheticConfig { seed: 11, instruments }, open, 225_000, 100_000_000)?;

    let (engine, blotter) = backtest::run(&setup, &ticks, 0);
    let summary = RunSummary::from_engine(&engine, &setup, false);
    let mut legs: Vec<_> = blotter.orders.iter().map(|o| o.intent.instrument).collect();
    legs.sort();
    legs.dedup();
    Ok(Outcome { summary, orders: blotter.orders.len(), fills: blotter.fills.len(), legs })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = run()?;
    let s = &out.summary;
    println!("pair_spread over {} ticks: {} orders, {} fills", s.ticks_accepted, out.orders, out.fills);
    for a in &s.accounts {
        println!(
            "{}: realized ₹{:.2}, unrealized ₹{:.2}, charges ₹{:.2}, net ₹{:.2}",
            a.name, a.realized_pnl, a.unrealized_pnl, a.charges.total, a.net_pnl
        );
    }
    Ok(())
}
