//! Domain types shared by every stage and every crate.

pub mod ids;
pub mod instrument;
pub mod order;
pub mod price;
pub mod qty;
pub mod time;

pub use ids::{AccountId, FillId, InstrumentId, OrderId, StrategyId};
pub use instrument::{InstrumentSpec, PriceBand, Segment};
pub use order::{Order, OrderIntent, OrderStatus, OrderType, Product, RejectReason, Tag, Validity};
pub use price::{Money, Price};
pub use qty::{NetQty, Qty, Side};
pub use time::{IstTime, Session, Timestamp};
