//! What flows through the engine. Everything is `Copy` and fixed-size so ring slots are
//! written in place and the hot path never allocates per event.

use crate::candle::Candle;
use crate::risk::RiskLimits;
use crate::types::{
    AccountId, FillId, InstrumentId, Money, Order, OrderId, OrderIntent, Price, Product, Qty, RejectReason, Side,
    StrategyId, Timestamp,
};

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

/// Which accounts a kill switch covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum KillScope {
    Global,
    Account(AccountId),
}

/// Operator, strategy and system commands. Outside ones enter through the ingress ring like
/// ticks, so they are sequenced, journaled and replayed with the market data they interleave
/// with; limits change this way, never by writing to the hot path's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    KillSwitch {
        scope: KillScope,
        engaged: bool,
    },
    /// Replaces an account's limits.
    SetLimits {
        account: AccountId,
        limits: RiskLimits,
    },
    /// An order from outside the strategies (an operator, a program through the API).
    Place {
        intent: OrderIntent,
    },
    Cancel {
        account: AccountId,
        order: OrderId,
    },
    /// New total quantity, limit price and trigger; zero keeps the current value.
    Modify {
        account: AccountId,
        order: OrderId,
        qty: Qty,
        price: Price,
        trigger: Price,
    },
    /// Starts or stops a strategy: a stopped one keeps its book and working orders but makes
    /// no decisions.
    StrategyEnabled {
        strategy: StrategyId,
        enabled: bool,
    },
    /// New parameters for a running strategy: it restarts its decisions with them (fresh
    /// indicator warm-up where periods changed), keeping its book and working orders.
    SetStrategyParams {
        strategy: StrategyId,
        params: crate::setup::StrategyParams,
    },
    /// Cancels every working order in scope, optionally of one product only.
    CancelWorking {
        scope: KillScope,
        product: Option<Product>,
    },
}

/// An input to the engine: the payload of an ingress ring slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Input {
    /// An unused slot (ring factory value).
    #[default]
    Empty,
    Tick(Tick),
    /// Time has reached `ts` (closes candles of quiet instruments, expires orders).
    Timer(Timestamp),
    Command(Command),
    /// Open interest of a derivative, as its feed reports it; bars carry the latest value.
    OpenInterest {
        instrument: InstrumentId,
        ts: Timestamp,
        oi: u64,
    },
    /// Best bid and ask, from feeds that carry quotes; market orders then fill at the touch.
    Quote(Quote),
}

/// A top-of-book quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quote {
    pub instrument: InstrumentId,
    pub ts: Timestamp,
    pub bid: Price,
    pub ask: Price,
}

/// An ingress ring slot.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct IngressEvent {
    pub input: Input,
    /// `quanta` raw counter when the event was published; 0 when not measured.
    pub ingress_raw: u64,
    /// Position in the event's source (record number + 1 of a replayed file), so a restart
    /// can resume after the last journaled one; 0 when the source has no positions.
    pub source: u64,
}

/// An execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fill {
    pub id: FillId,
    pub order: OrderId,
    pub account: AccountId,
    pub strategy: StrategyId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    pub price: Price,
    pub ts: Timestamp,
    pub product: Product,
    /// Brokerage and statutory charges on this fill, paise.
    pub charges: Money,
}

/// Order-stage news that upstream stages need to keep their own view of positions and working
/// orders. It re-enters at the head of the pipeline, after the event that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Feedback {
    /// An order now exists and works (or is about to fill): its id, for strategies that
    /// modify or cancel it and for risk to follow it.
    Accepted { order: OrderId, intent: OrderIntent },
    /// A fill; `done` when it completed the order.
    Filled { fill: Fill, done: bool },
    /// An order stopped working with `unfilled` quantity left.
    Closed {
        order: OrderId,
        account: AccountId,
        strategy: StrategyId,
        instrument: InstrumentId,
        product: Product,
        side: Side,
        unfilled: Qty,
        reason: CloseReason,
    },
    /// A working order's remaining quantity or prices changed.
    Modified { order: OrderId, intent: OrderIntent, old_remaining: Qty, new_remaining: Qty },
    /// A cancel or modify was refused (unknown order, another account's, no longer working).
    CommandRefused { account: AccountId, order: OrderId, reason: RejectReason },
}

/// Why an order stopped working before it filled completely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CloseReason {
    /// Refused by risk: it never counted as exposure.
    Refused,
    /// Refused by the venue after risk approved it.
    VenueRejected,
    Cancelled,
    Expired,
}

/// A message between neighbouring stages (direct call when fused, a ring slot when pipelined).
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    #[default]
    Empty,
    Tick {
        tick: Tick,
        ingress_raw: u64,
    },
    /// A closed bar, with the ingress stamp of the event that closed it.
    Candle {
        candle: Candle,
        ingress_raw: u64,
    },
    Timer(Timestamp),
    Command(Command),
    Quote(Quote),
    /// Strategy → risk.
    Intent {
        intent: OrderIntent,
        ts: Timestamp,
        ingress_raw: u64,
    },
    /// Risk → order: passed every check.
    Approved {
        intent: OrderIntent,
        ts: Timestamp,
        ingress_raw: u64,
    },
    /// Risk → order: refused.
    Refused {
        intent: OrderIntent,
        ts: Timestamp,
        reason: RejectReason,
    },
    Feedback(Feedback),
}

/// What leaves the hot path for gateways and observers.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub enum EgressEvent {
    #[default]
    Empty,
    /// An order was created or changed state; `tick_to_order_ns` is set on creation when the
    /// triggering tick was timestamped.
    Order {
        order: Order,
        tick_to_order_ns: u64,
    },
    Fill(Fill),
    /// A closed bar, for charts and stores.
    Candle(Candle),
}
