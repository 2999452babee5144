//! Fixtures the engine-level tests share: configs from text and synthetic sessions. Each test
//! binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use dalal_adapters::{generate_session, SyntheticConfig, SyntheticInstrument};
use dalal_config::Config;
use dalal_core::engine::setup::EngineSetup;
use dalal_core::model::Tick;
use dalal_core::model::Timestamp;

pub const DEFAULT: &str = include_str!("../../config/default.toml");
/// The other four strategy kinds (grid, ORB, SuperTrend, VWAP reversion).
pub const EXAMPLES: &str = include_str!("../../config/examples/strategies.toml");

pub fn setup_from(text: &str) -> EngineSetup {
    let c: Config = toml::from_str(text).expect("config parses");
    c.validate().expect("config validates")
}

/// A session of `n` synthetic ticks, one every 20 ms from 2026-11-20 09:15 IST, on the
/// instruments the configured strategies trade.
pub fn ticks(setup: &EngineSetup, n: usize, seed: u64) -> Vec<Tick> {
    let traded: Vec<_> = setup.strategies.iter().map(|s| s.instrument).collect();
    let instruments = setup
        .instruments
        .iter()
        .zip(&setup.ref_prices)
        .filter(|(s, _)| traded.contains(&s.id))
        .map(|(s, p)| SyntheticInstrument::from_spec(s, *p))
        .collect();
    generate_session(&SyntheticConfig { seed, instruments }, Timestamp(1_795_146_300_000_000_000), n, 20_000_000)
        .expect("synthetic session")
}
