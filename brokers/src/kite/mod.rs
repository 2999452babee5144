//! Zerodha Kite Connect v3: the REST client ([`rest::KiteClient`]) with its request
//! parameters, response models and errors, the KiteTicker binary decoder, and the ticker's
//! WebSocket as an engine feed ([`feed::KiteFeed`]).

pub mod error;
pub mod feed;
mod feed_map;
mod feed_ws;
pub mod model;
pub mod params;
pub mod rest;
pub mod ticker;

pub use error::{KiteError, RequestKind};
pub use feed::{FeedHealth, FeedMonitor, KiteFeed, KiteFeedConfig, Subscription};
pub use rest::KiteClient;
