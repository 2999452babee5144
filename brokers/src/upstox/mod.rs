//! Upstox API v2/v3: REST (OAuth authorization code, orders, books, funds) and the Market Data
//! Feed v3 WebSocket (protobuf `FeedResponse` messages). Protocol facts: brokers.md §3.

pub mod error;
pub mod feed;
pub mod market_feed;
pub mod model;
pub mod params;
pub mod portfolio;
pub mod rest;

pub use error::UpstoxError;
pub use rest::UpstoxClient;
