//! Angel One SmartAPI: REST (login with client code, MPIN and TOTP; orders, books, funds) and
//! the SmartStream 2.0 market-data WebSocket (little-endian binary packets). Protocol facts:
//! brokers.md §2.
//!
//! The two sockets as clients: [`smartstream::SmartStream`], market data as an engine feed, and
//! [`order_updates::OrderUpdates`], the order-status socket.

pub mod error;
pub mod model;
pub mod order_updates;
pub mod params;
pub mod rest;
pub mod smartstream;
pub mod stream;

pub use error::AngelError;
pub use rest::{AngelClient, Identity};
