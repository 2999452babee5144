//! Dalal core: the hot path. Pure computation: no I/O, no async, no locks, no allocation
//! per event in steady state, and deterministic for a given ingress sequence.

pub mod candle;
pub mod event;
pub mod types;
