//! Dalal core: the hot path. Pure computation: no I/O, no async, no locks, no allocation
//! per event in steady state, and deterministic for a given ingress sequence.

pub mod backtest;
pub mod candle;
pub mod charges;
pub mod config;
pub mod engine;
pub mod event;
pub mod indicators;
pub mod live;
pub mod market;
pub mod metrics;
pub mod orders;
pub mod pipeline;
pub mod portfolio;
pub mod risk;
pub mod setup;
pub mod snapshot;
pub mod strategy;
pub mod summary;
pub mod types;
pub mod venue;
