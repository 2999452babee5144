//! Angel One SmartAPI: REST (login with client code, MPIN and TOTP; orders, books, funds) and
//! the SmartStream 2.0 market-data WebSocket (little-endian binary packets). Protocol facts:
//! brokers.md §2.

pub mod error;
pub mod model;
pub mod params;
pub mod rest;
pub mod stream;

pub use error::AngelError;
pub use rest::{AngelClient, Identity};
