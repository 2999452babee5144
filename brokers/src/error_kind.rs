//! What went wrong with a broker request, in words every broker adapter shares.

use serde::Serialize;

/// A small, stable classification of broker failures. Adapters map their broker's own error
/// names and HTTP statuses onto it, so the gateway decides what to do (log in again, back
/// off, give up, tell the strategy) without knowing which broker said it. `as_str` values are
/// part of Dalal's interface (logs, journal, console) and do not change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerErrorKind {
    /// The access token expired or was revoked: log in again.
    SessionExpired,
    /// A parameter was missing or invalid.
    Input,
    /// The broker could not place, modify, cancel or find the order.
    Order,
    /// Not enough funds or margin.
    Margin,
    /// Not enough holdings to sell.
    Holding,
    /// The account or app may not do this.
    Permission,
    /// Too many requests: the broker refused this one at the door.
    RateLimited,
    /// No answer, or the broker's side could not reach its order system.
    Network,
    /// The broker could not understand its own order system's reply.
    Data,
    /// An answer that is not the broker's format (not JSON, truncated, wrong shape).
    Malformed,
    /// Anything else.
    Other,
}

impl BrokerErrorKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            BrokerErrorKind::SessionExpired => "session_expired",
            BrokerErrorKind::Input => "input",
            BrokerErrorKind::Order => "order",
            BrokerErrorKind::Margin => "margin",
            BrokerErrorKind::Holding => "holding",
            BrokerErrorKind::Permission => "permission",
            BrokerErrorKind::RateLimited => "rate_limited",
            BrokerErrorKind::Network => "network",
            BrokerErrorKind::Data => "data",
            BrokerErrorKind::Malformed => "malformed",
            BrokerErrorKind::Other => "other",
        }
    }
}

impl std::fmt::Display for BrokerErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
