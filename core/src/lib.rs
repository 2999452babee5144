//! Dalal core: the hot path. Pure computation: no I/O, no async, no locks, no allocation per
//! event in steady state, and deterministic for a given ingress sequence.
//!
//! # The map
//!
//! Three layers, each importing only the ones below it:
//!
//! | layer | modules | holds |
//! |---|---|---|
//! | engine | [`engine`] ([`engine::placement`], [`engine::snapshot`], [`engine::backtest`], [`engine::stats`], [`engine::summary`], [`engine::setup`]) | stepping the stages; fused or pipelined threads; snapshots; the validated [`engine::setup::EngineSetup`] engines are built from |
//! | built-in strategies | [`strategies`] | six strategies written against the strategy stage's API, and the registry of them |
//! | stages | [`stages::candle`] → [`stages::strategy`] → [`stages::risk`] → [`stages::order`], with [`stages::portfolio`] and [`stages::charges`] | what happens to an event, one stage per module |
//! | support | [`indicators`], [`metrics`] | incremental indicators; latency histograms |
//! | model | [`model`] | prices, quantities, ids, instruments, orders, ticks, candles, commands, fills, limits, events |
//!
//! # One tick through [`Engine::step`](engine::Engine::step)
//!
//! 1. A feed publishes [`model::Input::Tick`] into the ingress ring; the engine thread takes it
//!    as an [`model::IngressEvent`].
//! 2. [`CandleStage::on_input`](stages::candle::CandleStage::on_input) validates the tick
//!    against its instrument (grid, band, time order), emits [`model::Msg::Tick`] and, for every
//!    bar the tick closes, [`model::Msg::Candle`].
//! 3. [`StrategyStage::on_msg`](stages::strategy::StrategyStage::on_msg) updates the indicator
//!    banks of closed bars, runs each subscribed strategy's `on_candle` / `on_tick` with a
//!    [`Ctx`](stages::strategy::Ctx), and turns its actions into [`model::Msg::Intent`]s (and
//!    cancel / modify commands).
//! 4. [`RiskStage::on_msg`](stages::risk::RiskStage::on_msg) marks positions, checks each
//!    intent against its account's limits, funds and the session, and emits
//!    [`model::Msg::Approved`] or [`model::Msg::Refused`].
//! 5. [`OrderStage::on_msg`](stages::order::OrderStage::on_msg) gives the order its id, runs its
//!    life cycle against the paper venue ([`stages::order::paper`]), books fills into the
//!    portfolio with charges, and publishes [`model::EgressEvent`]s.
//! 6. The order stage's [`model::Feedback`] (accepted, filled, closed, modified) goes back to
//!    the strategy and risk stages before the next event, so every decision sees positions and
//!    working orders as they are.
//!
//! # Where things live
//!
//! - Writing a strategy: [`stages::strategy::Strategy`], registered in a
//!   [`stages::strategy::StrategyRegistry`]; helpers to test one in [`stages::strategy::testing`].
//! - Limits and pre-trade checks: [`model::RiskLimits`], [`stages::risk`].
//! - Order life cycle, latency model, booking: [`stages::order`]; the paper exchange:
//!   [`stages::order::paper`].
//! - Threads, rings, wait strategies, pinning: [`engine::placement`].
//! - Counters a console reads while the engine runs: [`engine::stats`].

#![forbid(unsafe_code)]

pub mod engine;
pub mod indicators;
pub mod metrics;
pub mod model;
pub mod stages;
pub mod strategies;
