//! Fixtures the risk and order-flow tests share.
#![allow(dead_code)]

use dalal_core::model::time::{NANOS_PER_MIN, NANOS_PER_SEC};
use dalal_core::model::{InstrumentId, InstrumentSpec, Price, PriceBand, Qty, Segment};

/// 2026-11-20 (a Friday) 09:15:00 IST.
pub const OPEN: i64 = 1_795_146_300 * NANOS_PER_SEC;
/// 10:15 IST the same day: inside market hours.
pub const T: i64 = OPEN + 60 * NANOS_PER_MIN;
pub const MS: i64 = 1_000_000;

/// Instrument 0: cash equity, tick ₹0.05, lot 1, band ₹80–₹120.
/// Instrument 1: a future, tick ₹0.10, lot 50, no band.
pub fn instruments() -> Vec<InstrumentSpec> {
    vec![
        InstrumentSpec {
            id: InstrumentId(0),
            symbol: "EQ".into(),
            segment: Segment::Equity,
            tick_size: Price(5),
            lot_size: Qty(1),
            band: PriceBand { lower: Price(8_000), upper: Price(12_000) },
        },
        InstrumentSpec {
            id: InstrumentId(1),
            symbol: "FUT".into(),
            segment: Segment::Futures,
            tick_size: Price(10),
            lot_size: Qty(50),
            band: PriceBand::OPEN,
        },
    ]
}

/// One instrument and one account running an EMA(1)/EMA(2) cross on 1-second bars, no
/// limits in the way: every bar a zigzag closes flips the signal and makes an order. Put
/// account keys (`venue = ...`) in place of `ACCOUNT_KEYS` and whole tables (`[[venues]]`) in
/// place of `TABLES`.
pub const FLIPPING: &str = r#"
TABLES
[engine]
timeframes = []
[risk]
enforce_session = false
[[instruments]]
symbol = "RELIANCE"
tick_size = 0.10
lot_size = 1
ref_price = 1400.00
[[accounts]]
name = "a"
ACCOUNT_KEYS
[accounts.limits]
max_orders_per_sec = 0
duplicate_window_ms = 0
fat_finger_pct = 0
[[accounts.strategies]]
kind = "ema_cross"
instrument = "RELIANCE"
timeframe = "1s"
fast = 1
slow = 2
qty = 1
allow_short = true
"#;

/// [`FLIPPING`] with the account keys and tables filled in.
pub fn flipping(account_keys: &str, tables: &str) -> String {
    FLIPPING.replace("ACCOUNT_KEYS", account_keys).replace("TABLES", tables)
}
