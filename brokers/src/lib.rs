//! The broker layer's foundations: which broker a login is for ([`BrokerKind`]), the
//! identifiers and secrets each one needs, and the [`Vault`] that keeps those secrets
//! encrypted at rest (AES-256-GCM under a master key that never lives in the vault).
//!
//! A secret is held as a [`Secret`]: its memory is zeroed when it is dropped, `Debug` prints
//! a mask, and there is no `Display`, so it cannot reach a log or a response by accident;
//! code that must send it to a broker asks for it with [`Secret::expose`].
//!
//! Talking to brokers: [`kite::KiteClient`] (Kite Connect v3), [`angel::AngelClient`]
//! (Angel One SmartAPI, logging in with an MPIN and a [`totp`] code) and
//! [`upstox::UpstoxClient`] (Upstox v2/v3) speak the brokers' REST APIs; their failures map
//! onto the shared [`BrokerErrorKind`] and their orders' states onto [`OrderState`]; [`money`]
//! converts the brokers' rupees to Dalal's paise at the edge. Their market feeds: the
//! KiteTicker, SmartStream and feed v3 (protobuf) decoders, checked against the official
//! clients. With the `fake` feature, `fake::{kite, angel, upstox}` are scriptable local
//! servers of all three for tests.
//!
//! Instruments: `instruments::{kite, angel, upstox}` read the brokers' instrument masters into
//! broker-neutral [`instruments::BrokerInstrument`]s, and [`instruments::select`] picks the
//! ones to trade, most liquid first.
//!
//! Trading live: [`gateway::BrokerTap`] carries the engine's venue requests to one gateway
//! thread per broker login ([`gateway::broker`], whichever the broker, behind its `BrokerApi`
//! seam) and their reports back into the ingress ring.

#![forbid(unsafe_code)]

pub mod angel;
mod de;
pub mod error_kind;
#[cfg(feature = "fake")]
pub mod fake;
mod feed_queue;
pub mod gateway;
pub mod hex;
pub mod instruments;
pub mod kind;
pub mod kite;
pub mod money;
pub mod order_state;
pub mod rest;
pub mod secret;
pub mod totp;
pub mod upstox;
pub mod vault;
pub mod ws;
pub mod ws_link;

pub use error_kind::BrokerErrorKind;
pub use kind::BrokerKind;
pub use order_state::OrderState;
pub use secret::Secret;
pub use vault::{Login, LoginSummary, MasterKey, Vault, VaultError};
