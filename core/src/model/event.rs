//! What flows through the engine. Everything is `Copy` and fixed-size so ring slots are
//! written in place and the hot path never allocates per event.

use super::{
    AccountId, Candle, Command, Fill, InstrumentId, Order, OrderId, OrderIntent, Product, Qty, Quote, RejectReason,
    Side, StrategyId, Tick, Timestamp, VenueReport, VenueRequest,
};

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
    /// What a live venue says about an order (acknowledged, refused, filled, cancelled …).
    VenueReport(VenueReport),
    /// Order-stage news on its way back to strategy and risk, when it travels through the
    /// ingress ring (a pipelined engine, see [`FeedbackRoute`]): the journal then holds the
    /// point of the sequence at which each piece reached the head of the pipeline.
    Feedback(Feedback),
    /// From here on, feedback travels as [`FeedbackRoute`] says. Published when an engine
    /// starts on a route other than the one its state was left on, so a replay of the journal
    /// treats every stretch of it as the run that wrote it did.
    Route(FeedbackRoute),
}

/// How order-stage feedback reaches strategy and risk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FeedbackRoute {
    /// Applied right after the event that caused it (fused, backtests).
    #[default]
    Inline,
    /// Sent back through the ingress ring as [`Input::Feedback`] and applied where it lands in
    /// the sequence (pipelined): the order thread never waits for the head of the pipeline,
    /// so when feedback is applied depends on timing, and only the journal can say.
    Journaled,
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

/// Order-stage news that upstream stages need to keep their own view of positions and working
/// orders. It re-enters at the head of the pipeline, after the event that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Feedback {
    /// An order now exists and works (or is about to fill): its id, for strategies that
    /// modify or cancel it and for risk to follow it.
    Accepted { order: OrderId, intent: OrderIntent },
    /// A fill; `done` when it completed the order.
    Filled { fill: Fill, done: bool },
    /// A position adopted from outside ([`Command::Adopt`]), booked as a fill of no order.
    Adopted { fill: Fill },
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

/// What started a chain of work, and when: the clock reading (`quanta` raw) taken when the
/// ingress event was published, and whether it was a tick or a timer. The order stage keeps
/// tick-to-order and timer-to-order latencies apart by it. `raw == 0`: not measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    pub raw: u64,
    pub cause: Cause,
}

impl Stamp {
    pub const NONE: Stamp = Stamp { raw: 0, cause: Cause::Other };
}

/// The kind of ingress event a chain of work started from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Cause {
    #[default]
    Other,
    Tick,
    Timer,
}

/// A message between neighbouring stages (direct call when fused, a ring slot when pipelined).
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    #[default]
    Empty,
    Tick {
        tick: Tick,
        stamp: Stamp,
    },
    /// A closed bar, with the stamp of the event that closed it (a tick or a timer).
    Candle {
        candle: Candle,
        stamp: Stamp,
    },
    Timer(Timestamp),
    Command(Command),
    Quote(Quote),
    /// Strategy → risk.
    Intent {
        intent: OrderIntent,
        ts: Timestamp,
        stamp: Stamp,
    },
    /// Risk → order: passed every check.
    Approved {
        intent: OrderIntent,
        ts: Timestamp,
        stamp: Stamp,
    },
    /// Risk → order: refused.
    Refused {
        intent: OrderIntent,
        ts: Timestamp,
        reason: RejectReason,
    },
    /// A live venue's report, on its way to the order stage.
    VenueReport(VenueReport),
    Feedback(Feedback),
    /// Pipelined: each stage thread adds its state to the snapshot of ingress sequence
    /// `applied` when this barrier reaches it, then passes it on. Stages never see it.
    Snapshot {
        applied: u64,
    },
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
    /// A request for a live venue's gateway.
    VenueRequest(VenueRequest),
    /// A venue report worth showing as it came (a refusal or cancellation with the venue's
    /// text, or one the engine could not match to an order).
    VenueNotice(VenueReport),
}

// Ring slot sizes, pinned. Every event is copied into a ring slot and read from it on another
// core, so a variant that grows an enum costs every event a bigger copy and maybe another
// cache line. A change here must be deliberate: measure it in the lab, then update the number.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<IngressEvent>() == 112, "IngressEvent (ingress ring slot) changed size");
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Msg>() == 120, "Msg (inter-stage ring slot) changed size");
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<EgressEvent>() == 192, "EgressEvent (egress ring slot) changed size");
// Pipelined feedback rides in an ingress slot: it must fit without growing it.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Feedback>() <= 96, "Feedback no longer fits an ingress slot's input");
