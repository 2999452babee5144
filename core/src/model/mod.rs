//! The model: the vocabulary every stage and every crate speaks — fixed-point prices and
//! quantities, dense ids, instruments, orders, ticks, candles, commands, fills, limits and the
//! events that carry them. It imports nothing else of this crate.

pub mod candle;
pub mod command;
pub mod date;
pub mod event;
pub mod fill;
pub mod ids;
pub mod instrument;
pub mod limits;
pub mod order;
pub mod params;
pub mod price;
pub mod qty;
pub mod tick;
pub mod time;
pub mod timeframe;
pub mod venue;

pub use candle::{BarSpec, Candle};
pub use command::{Adoption, Command, KillScope};
pub use date::Date;
pub use event::{Cause, CloseReason, EgressEvent, Feedback, FeedbackRoute, IngressEvent, Input, Msg, Stamp};
pub use fill::Fill;
pub use ids::{AccountId, FillId, InstrumentId, OrderId, StrategyId};
pub use instrument::{InstrumentSpec, PriceBand, Segment};
pub use limits::{LimitError, LimitsInRupees, RiskLimits, MAX_LIMIT_QTY};
pub use order::{Order, OrderIntent, OrderStatus, OrderType, Product, RejectReason, Tag, Validity};
pub use params::{ParamBytes, StrategyParams, PARAM_BYTES};
pub use price::{Money, Price};
pub use qty::{NetQty, Qty, Side};
pub use tick::{Quote, Tick, TickReject};
pub use time::{IstTime, Session, Timestamp};
pub use timeframe::Timeframe;
pub use venue::{
    ReasonText, ReportKind, RequestKind, Route, VenueId, VenueOrderId, VenueReport, VenueRequest, VenueTradeId,
};
