//! Micro-benchmarks of the hot path's building blocks, one call each, through dalal-core's
//! public API: a tick into a 1-minute bar builder, one closed bar into each of the 19
//! indicators, one pre-trade risk check, one paper-exchange match.
//!
//! `cargo bench -p dalal-benches --bench micro [-- --quick] [FILTER]`. These are the
//! per-call costs the lab's end-to-end rows are made of; regressions show here first, without
//! the thread hops and scheduler noise of the latency rows.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use dalal_config::Config;
use dalal_core::engine::setup::EngineSetup;
use dalal_core::indicators::{BarInput, IndicatorSpec};
use dalal_core::model::BarSpec;
use dalal_core::model::{
    AccountId, InstrumentId, OrderId, OrderIntent, OrderType, Price, Qty, Session, Side, StrategyId, Timestamp,
};
use dalal_core::model::{Msg, Tick};
use dalal_core::stages::candle::{CandleBuilder, CandleOptions};
use dalal_core::stages::order::paper::{PaperVenue, Placement, VenueConfig, VenueEvent};
use dalal_core::stages::risk::RiskStage;

/// 2026-11-20 (a Friday) 09:15:00 IST.
const OPEN: i64 = 1_795_146_300_000_000_000;
/// 10:15 IST the same day: inside market hours, so the session check passes.
const T: i64 = OPEN + 3_600_000_000_000;

/// One NSE cash instrument and one account with every limit a desk would set switched on, so
/// the risk check runs all its branches instead of short-circuiting on zeros.
fn setup() -> EngineSetup {
    let cfg = r#"
        [engine]
        timeframes = []
        [risk]
        enforce_session = true
        mis_square_off = ""
        [[instruments]]
        symbol = "RELIANCE"
        tick_size = 0.10
        lot_size = 1
        ref_price = 1420.00
        band_pct = 20
        [[accounts]]
        name = "desk"
        funds = 1000000
        [accounts.limits]
        max_order_qty = 1000
        max_order_value = 1000000
        max_position_qty = 5000
        max_position_value = 5000000
        max_gross_exposure = 10000000
        max_net_exposure = 5000000
        max_open_orders = 50
        max_orders_per_sec = 10
        daily_loss_limit = 50000
        fat_finger_pct = 5
        duplicate_window_ms = 500
    "#;
    match toml::from_str::<Config>(cfg).map(|c| c.validate()) {
        Ok(Ok(setup)) => setup,
        Ok(Err(e)) => panic!("micro-benchmark config: {e}"),
        Err(e) => panic!("micro-benchmark config: {e}"),
    }
}

fn tick(ts: i64, price: i64) -> Tick {
    Tick { instrument: InstrumentId(0), ts: Timestamp(ts), price: Price(price), qty: Qty(10) }
}

/// A deterministic random walk of 1-minute bars around ₹1420, with a range and volume that
/// vary, so no indicator sits on a constant input.
fn bars(n: usize) -> Vec<BarInput> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut close = 1420.0;
    (0..n)
        .map(|_| {
            let open = close;
            close = (open + (next() - 0.5) * 4.0).max(1.0);
            let high = open.max(close) + next() * 1.5;
            let low = (open.min(close) - next() * 1.5).max(0.5);
            BarInput { open, high, low, close, volume: 1_000.0 + next() * 50_000.0 }
        })
        .collect()
}

fn candle(c: &mut Criterion) {
    let mut builder = CandleBuilder::new(Session::NSE_NORMAL, &[BarSpec::M1], 1, CandleOptions::default());
    // Ticks 100 ms apart: a bar closes once every 600 updates, as on a liquid name.
    let mut ts = OPEN;
    let mut i = 0i64;
    c.bench_function("candle/1m_update", |b| {
        b.iter(|| {
            ts += 100_000_000;
            i += 1;
            let mut closed = 0u32;
            builder.on_tick(black_box(&tick(ts, 142_000 + (i & 15) * 10)), |_| closed += 1);
            black_box(closed)
        })
    });
}

/// Every indicator the spec language has, at the periods people use.
const INDICATORS: [&str; 19] = [
    "sma:20",
    "ema:20",
    "wma:20",
    "dema:20",
    "tema:20",
    "rsi:14",
    "macd:12:26:9",
    "bbands:20:2",
    "atr:14",
    "stoch:14:3:3",
    "adx:14",
    "cci:20",
    "obv",
    "mfi:14",
    "roc:10",
    "willr:14",
    "donchian:20",
    "supertrend:10:3",
    "vwap",
];

fn indicators(c: &mut Criterion) {
    const N: usize = 1024;
    let bars = bars(N);
    let session = Session::NSE_NORMAL;
    let mut g = c.benchmark_group("indicator");
    for text in INDICATORS {
        let spec = match IndicatorSpec::parse(text) {
            Ok(spec) => spec,
            Err(e) => panic!("{text}: {e}"),
        };
        let mut ind = spec.build();
        let mut out = [None; 3];
        // Warm up past every seeding period so the steady-state update is what is timed.
        for bar in &bars {
            ind.update(bar, &mut out);
        }
        let mut i = 0usize;
        let mut ts = T;
        g.bench_function(text, |b| {
            b.iter(|| {
                let bar = &bars[i % N];
                i += 1;
                ts += 60_000_000_000;
                // Only VWAP uses trades; for the others this is a no-op match arm.
                ind.on_tick(bar.close, bar.volume, Timestamp(ts), &session);
                ind.update(black_box(bar), &mut out);
                black_box(out[0])
            })
        });
    }
    g.finish();
}

fn risk(c: &mut Criterion) {
    let setup = setup();
    let mut risk =
        RiskStage::new(setup.instruments.clone(), setup.account_risk(), setup.margins.clone(), setup.session_rules());
    // A last price for the fat-finger and value checks.
    risk.on_msg(&Msg::Tick { tick: tick(T, 142_000), stamp: dalal_core::model::Stamp::NONE }, &mut |_| {});
    let intent = OrderIntent::limit(AccountId(0), StrategyId(0), InstrumentId(0), Side::Buy, Qty(100), Price(141_950));
    if let Err(reason) = risk.check(&intent, Timestamp(T)) {
        panic!("the benchmark order must pass every check, refused: {reason:?}");
    }
    c.bench_function("risk/check_limit_order", |b| b.iter(|| black_box(risk.check(black_box(&intent), Timestamp(T)))));
}

fn paper_match(c: &mut Criterion) {
    let setup = setup();
    let mut venue = PaperVenue::new(&setup.instruments, VenueConfig::default());
    let mut id = 0u64;
    // One cycle: a print at ₹1420.00, a buy limit at ₹1419.90 rests, a print at ₹1419.80
    // trades through it and fills it. The first print resets the last price so the next
    // limit rests again instead of filling on placement.
    let mut cycle = move |venue: &mut PaperVenue| {
        venue.on_tick(&tick(T, 142_000), |_| {});
        id += 1;
        let placed = venue.place(
            OrderId(id),
            0,
            Side::Buy,
            OrderType::Limit,
            Qty(10),
            Price(141_990),
            Price::ZERO,
            Timestamp(T),
        );
        let mut filled = 0u32;
        venue.on_tick(&tick(T, 141_980), |e| {
            if let VenueEvent::Fill { .. } = e {
                filled += 1;
            }
        });
        (placed, filled)
    };
    let first = cycle(&mut venue);
    assert_eq!(first, (Placement::Resting, 1), "the limit order must rest, then fill on the trade-through");
    c.bench_function("venue/limit_rest_then_trade_through", |b| b.iter(|| black_box(cycle(black_box(&mut venue)))));
}

criterion_group!(micro, candle, indicators, risk, paper_match);
criterion_main!(micro);
