//! The order vocabulary of Indian brokers and the order life cycle.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::ids::{AccountId, InstrumentId, OrderId, StrategyId};
use super::price::{Money, Price};
use super::qty::{Qty, Side};
use super::time::Timestamp;

/// How the order is priced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderType {
    #[serde(rename = "MARKET")]
    Market,
    #[serde(rename = "LIMIT")]
    Limit,
    /// Stop-limit: becomes a LIMIT at `price` once the last trade crosses `trigger`.
    #[serde(rename = "SL")]
    StopLimit,
    /// Stop-market: becomes a MARKET once the last trade crosses `trigger`.
    #[serde(rename = "SL-M")]
    StopMarket,
}

impl OrderType {
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderType::Market => "MARKET",
            OrderType::Limit => "LIMIT",
            OrderType::StopLimit => "SL",
            OrderType::StopMarket => "SL-M",
        }
    }

    /// True for types that carry a limit price.
    pub const fn has_limit(self) -> bool {
        matches!(self, OrderType::Limit | OrderType::StopLimit)
    }

    /// True for types that carry a trigger price.
    pub const fn has_trigger(self) -> bool {
        matches!(self, OrderType::StopLimit | OrderType::StopMarket)
    }
}

/// Margin product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Product {
    /// Delivery (cash and carry).
    #[serde(rename = "CNC")]
    Cnc,
    /// Intraday, squared off before the close.
    #[serde(rename = "MIS")]
    Mis,
    /// F&O carry-forward.
    #[serde(rename = "NRML")]
    Nrml,
}

impl Product {
    pub const ALL: [Product; 3] = [Product::Cnc, Product::Mis, Product::Nrml];

    /// Position in per-product arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Product::Cnc => "CNC",
            Product::Mis => "MIS",
            Product::Nrml => "NRML",
        }
    }
}

/// How long an order may rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Validity {
    #[serde(rename = "DAY")]
    Day,
    /// Immediate or cancel: whatever does not fill at once is cancelled.
    #[serde(rename = "IOC")]
    Ioc,
}

impl Validity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Validity::Day => "DAY",
            Validity::Ioc => "IOC",
        }
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(OrderType, Product, Validity, OrderStatus);

/// Where an order is in its life. Terminal states never change again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Accepted by risk, not yet acknowledged by the venue.
    #[serde(rename = "PENDING")]
    Pending,
    /// Working at the venue.
    #[serde(rename = "OPEN")]
    Open,
    /// A stop order whose trigger has been hit and which now works as MARKET or LIMIT.
    #[serde(rename = "TRIGGERED")]
    Triggered,
    #[serde(rename = "PARTIALLY_FILLED")]
    PartiallyFilled,
    #[serde(rename = "FILLED")]
    Filled,
    #[serde(rename = "CANCELLED")]
    Cancelled,
    #[serde(rename = "REJECTED")]
    Rejected,
    /// A DAY order still working at the session end.
    #[serde(rename = "EXPIRED")]
    Expired,
}

impl OrderStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "PENDING",
            OrderStatus::Open => "OPEN",
            OrderStatus::Triggered => "TRIGGERED",
            OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
            OrderStatus::Filled => "FILLED",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::Expired => "EXPIRED",
        }
    }

    pub const fn is_terminal(self) -> bool {
        matches!(self, OrderStatus::Filled | OrderStatus::Cancelled | OrderStatus::Rejected | OrderStatus::Expired)
    }

    /// The legal transitions of the life cycle. Anything else is a defect upstream (or a
    /// confused venue) and is refused and counted, never applied.
    pub const fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (Pending, Open)
                | (Pending, Rejected)
                | (Pending, Filled)
                | (Pending, PartiallyFilled)
                | (Pending, Cancelled)
                | (Open, Triggered)
                | (Open, PartiallyFilled)
                | (Open, Filled)
                | (Open, Cancelled)
                | (Open, Expired)
                // A live venue's risk system or the exchange refusing an order it had
                // acknowledged (Kite: `OPEN PENDING` then `REJECTED`).
                | (Open, Rejected)
                | (Triggered, Rejected)
                | (Triggered, PartiallyFilled)
                | (Triggered, Filled)
                | (Triggered, Cancelled)
                | (Triggered, Expired)
                | (PartiallyFilled, PartiallyFilled)
                | (PartiallyFilled, Filled)
                | (PartiallyFilled, Cancelled)
                | (PartiallyFilled, Expired)
        )
    }
}

/// A free-text order tag (strategy name, algo id, a note), at most 20 bytes like the brokers'
/// tags; fixed-size so orders stay `Copy` and never allocate.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Tag {
    len: u8,
    bytes: [u8; Tag::MAX],
}

impl Tag {
    pub const MAX: usize = 20;

    /// `None` when the text is longer than 20 bytes or holds a comma, quote or control
    /// character (tags travel in CSV and broker APIs).
    pub fn new(s: &str) -> Option<Tag> {
        let b = s.as_bytes();
        if b.len() > Tag::MAX || b.iter().any(|c| c.is_ascii_control() || *c == b',' || *c == b'"') {
            return None;
        }
        let mut bytes = [0u8; Tag::MAX];
        bytes[..b.len()].copy_from_slice(b);
        Some(Tag { len: b.len() as u8, bytes })
    }

    pub fn as_str(&self) -> &str {
        // Built only from a &str cut at its full length, so always valid UTF-8.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a strategy (or an operator) asks for, before risk and before it has an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderIntent {
    pub account: AccountId,
    pub strategy: StrategyId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    pub order_type: OrderType,
    /// Limit price for LIMIT and SL; zero otherwise.
    pub price: Price,
    /// Trigger price for SL and SL-M; zero otherwise.
    pub trigger: Price,
    pub product: Product,
    pub validity: Validity,
    /// After-market order: accepted outside the session and sent at the next open.
    pub amo: bool,
    pub tag: Tag,
}

impl OrderIntent {
    /// A DAY MIS market order: the common intraday case.
    pub fn market(account: AccountId, strategy: StrategyId, instrument: InstrumentId, side: Side, qty: Qty) -> Self {
        OrderIntent {
            account,
            strategy,
            instrument,
            side,
            qty,
            order_type: OrderType::Market,
            price: Price::ZERO,
            trigger: Price::ZERO,
            product: Product::Mis,
            validity: Validity::Day,
            amo: false,
            tag: Tag::default(),
        }
    }

    /// A DAY MIS limit order.
    pub fn limit(
        account: AccountId,
        strategy: StrategyId,
        instrument: InstrumentId,
        side: Side,
        qty: Qty,
        price: Price,
    ) -> Self {
        OrderIntent { order_type: OrderType::Limit, price, ..Self::market(account, strategy, instrument, side, qty) }
    }
}

/// An order as the order stage keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub intent: OrderIntent,
    pub status: OrderStatus,
    pub filled: Qty,
    /// Sum of fill price × qty, for the average fill price.
    pub filled_value: i128,
    pub created: Timestamp,
    pub updated: Timestamp,
    /// Why risk or the venue refused it, if it did.
    pub reject: Option<RejectReason>,
    /// Brokerage charged so far: brokerage is per executed order, however many fills.
    pub brokerage: Money,
    /// The venue's id for it, once a live venue has acknowledged it (empty for paper orders).
    pub venue_order: super::venue::VenueOrderId,
}

impl Order {
    #[inline]
    pub fn remaining(&self) -> Qty {
        self.intent.qty - self.filled
    }

    /// Average fill price in paise (fractional), or 0 before the first fill.
    pub fn avg_fill_price(&self) -> f64 {
        if self.filled.0 == 0 {
            0.0
        } else {
            self.filled_value as f64 / self.filled.0 as f64
        }
    }
}

/// Why an order was refused, by risk or by the venue. The code is what operators count and
/// filter on, so it is stable text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    GlobalKillSwitch,
    AccountKillSwitch,
    MaxOrderQty,
    MaxOrderValue,
    MaxPosition,
    MaxPositionValue,
    MaxGrossExposure,
    MaxNetExposure,
    MaxOpenOrders,
    RateLimit,
    FatFinger,
    OutsideSession,
    InsufficientFunds,
    Duplicate,
    ZeroQty,
    LotSize,
    TickSize,
    PriceBand,
    NoMarketPrice,
    InvalidPrice,
    UnknownInstrument,
    UnknownOrder,
    NotModifiable,
    /// The order names an account the engine does not have.
    UnknownAccount,
    /// A live venue refused it (its code and text are in the venue notice).
    VenueRejected,
    /// As many orders as the engine holds (`engine.max_working_orders`) are working already.
    WorkingOrdersFull,
}

impl RejectReason {
    pub const ALL: [RejectReason; 26] = [
        RejectReason::GlobalKillSwitch,
        RejectReason::AccountKillSwitch,
        RejectReason::MaxOrderQty,
        RejectReason::MaxOrderValue,
        RejectReason::MaxPosition,
        RejectReason::MaxPositionValue,
        RejectReason::MaxGrossExposure,
        RejectReason::MaxNetExposure,
        RejectReason::MaxOpenOrders,
        RejectReason::RateLimit,
        RejectReason::FatFinger,
        RejectReason::OutsideSession,
        RejectReason::InsufficientFunds,
        RejectReason::Duplicate,
        RejectReason::ZeroQty,
        RejectReason::LotSize,
        RejectReason::TickSize,
        RejectReason::PriceBand,
        RejectReason::NoMarketPrice,
        RejectReason::InvalidPrice,
        RejectReason::UnknownInstrument,
        RejectReason::UnknownOrder,
        RejectReason::NotModifiable,
        RejectReason::UnknownAccount,
        RejectReason::VenueRejected,
        RejectReason::WorkingOrdersFull,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::GlobalKillSwitch => "global_kill_switch",
            RejectReason::AccountKillSwitch => "account_kill_switch",
            RejectReason::MaxOrderQty => "max_order_qty",
            RejectReason::MaxOrderValue => "max_order_value",
            RejectReason::MaxPosition => "max_position",
            RejectReason::MaxPositionValue => "max_position_value",
            RejectReason::MaxGrossExposure => "max_gross_exposure",
            RejectReason::MaxNetExposure => "max_net_exposure",
            RejectReason::MaxOpenOrders => "max_open_orders",
            RejectReason::RateLimit => "rate_limit",
            RejectReason::FatFinger => "fat_finger",
            RejectReason::OutsideSession => "outside_session",
            RejectReason::InsufficientFunds => "insufficient_funds",
            RejectReason::Duplicate => "duplicate",
            RejectReason::ZeroQty => "zero_qty",
            RejectReason::LotSize => "lot_size",
            RejectReason::TickSize => "tick_size",
            RejectReason::PriceBand => "price_band",
            RejectReason::NoMarketPrice => "no_market_price",
            RejectReason::InvalidPrice => "invalid_price",
            RejectReason::UnknownInstrument => "unknown_instrument",
            RejectReason::UnknownOrder => "unknown_order",
            RejectReason::NotModifiable => "not_modifiable",
            RejectReason::UnknownAccount => "unknown_account",
            RejectReason::VenueRejected => "venue_rejected",
            RejectReason::WorkingOrdersFull => "working_orders_full",
        }
    }

    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_are_final() {
        use OrderStatus::*;
        let all = [Pending, Open, Triggered, PartiallyFilled, Filled, Cancelled, Rejected, Expired];
        for s in all {
            if s.is_terminal() {
                for n in all {
                    assert!(!s.can_become(n), "{s} -> {n}");
                }
            }
        }
        assert!(Pending.can_become(Open));
        assert!(!Open.can_become(Pending));
        assert!(!Filled.can_become(Cancelled));
    }

    #[test]
    fn reason_table_is_dense() {
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
