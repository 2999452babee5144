//! Dalal operator view, off the hot path. It renders what the engine publishes (live counters
//! and final summaries) for people; the HTTP console builds on the same views.

pub mod report;

pub use report::{render_progress, render_summary};
