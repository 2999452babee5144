//! Market data as it enters the engine: trades, quotes, and the reasons a tick is refused.

use super::{InstrumentId, Price, Qty, Timestamp};

/// One trade print from a feed, already resolved to an instrument id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tick {
    pub instrument: InstrumentId,
    /// Exchange (or replayed) time of the trade.
    pub ts: Timestamp,
    pub price: Price,
    pub qty: Qty,
}

/// Why a tick was refused. Feeds produce the first few (they see raw input); the engine's
/// validator produces the rest (it knows the instrument rules and the last time seen).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TickReject {
    /// A line or record that does not parse (wrong field count, bad number, bad UTF-8).
    Malformed,
    UnknownSymbol,
    /// NaN, infinite, zero or negative price.
    NonPositivePrice,
    NonPositiveQty,
    OffTickGrid,
    OutsideBand,
    /// Older than the last accepted tick of the same instrument.
    TimeBackwards,
    /// A sequence number not above the previous one (a record delivered twice).
    DuplicateSequence,
}

impl TickReject {
    pub const ALL: [TickReject; 8] = [
        TickReject::Malformed,
        TickReject::UnknownSymbol,
        TickReject::NonPositivePrice,
        TickReject::NonPositiveQty,
        TickReject::OffTickGrid,
        TickReject::OutsideBand,
        TickReject::TimeBackwards,
        TickReject::DuplicateSequence,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TickReject::Malformed => "malformed",
            TickReject::UnknownSymbol => "unknown_symbol",
            TickReject::NonPositivePrice => "non_positive_price",
            TickReject::NonPositiveQty => "non_positive_qty",
            TickReject::OffTickGrid => "off_tick_grid",
            TickReject::OutsideBand => "outside_band",
            TickReject::TimeBackwards => "time_backwards",
            TickReject::DuplicateSequence => "duplicate_sequence",
        }
    }

    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// A top-of-book quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quote {
    pub instrument: InstrumentId,
    pub ts: Timestamp,
    pub bid: Price,
    pub ask: Price,
}
