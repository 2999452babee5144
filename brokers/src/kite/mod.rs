//! Zerodha Kite Connect v3.

pub mod ticker;
