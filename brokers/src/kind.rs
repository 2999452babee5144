//! The brokers Dalal trades through, and what a login for each needs.

use serde::{Deserialize, Serialize};

/// A broker whose API Dalal speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BrokerKind {
    /// Zerodha Kite Connect v3.
    Kite,
    /// Angel One SmartAPI.
    Angel,
    /// Upstox API v2/v3.
    Upstox,
}

impl BrokerKind {
    pub const ALL: [BrokerKind; 3] = [BrokerKind::Kite, BrokerKind::Angel, BrokerKind::Upstox];

    pub fn as_str(self) -> &'static str {
        match self {
            BrokerKind::Kite => "kite",
            BrokerKind::Angel => "angel",
            BrokerKind::Upstox => "upstox",
        }
    }

    /// The vendor's REST root, which a `[[brokers]]` entry's `root` overrides (as the
    /// official clients' `root` does) to point at a test server.
    pub fn default_root(self) -> &'static str {
        match self {
            BrokerKind::Kite => "https://api.kite.trade",
            BrokerKind::Angel => "https://apiconnect.angelone.in",
            BrokerKind::Upstox => "https://api.upstox.com",
        }
    }

    /// The vendor's market-data WebSocket (Upstox's is reached through its authorize
    /// endpoint, which redirects to a one-time URL).
    pub fn default_ws_root(self) -> &'static str {
        match self {
            BrokerKind::Kite => "wss://ws.kite.trade",
            BrokerKind::Angel => "wss://smartapisocket.angelone.in/smart-stream",
            BrokerKind::Upstox => "wss://api.upstox.com/v3/feed/market-data-feed",
        }
    }

    /// The vendor's order-update WebSocket: Kite's is its ticker, Angel One's a socket of its
    /// own, Upstox's the portfolio stream (which its gateway reaches through the authorize
    /// endpoint on the REST root, as the one-time URL it answers).
    pub fn default_order_ws_root(self) -> &'static str {
        match self {
            BrokerKind::Kite => "wss://ws.kite.trade",
            BrokerKind::Angel => "wss://tns.angelone.in/smart-order-update",
            BrokerKind::Upstox => "wss://api.upstox.com/v2/feed/portfolio-stream-feed",
        }
    }

    /// Orders a login may send per second: the broker's documented limit (Kite and Angel One
    /// 10/s; Upstox 50/s for order calls, see brokers.md) capped at SEBI's 10 orders/s per
    /// client for algorithms not registered with the exchange.
    pub fn max_orders_per_second(self) -> u32 {
        10
    }

    /// The vault secret that holds a login's session: the token a new login writes and the
    /// running gateways take up when it changes.
    pub fn session_secret(self) -> &'static str {
        match self {
            BrokerKind::Kite | BrokerKind::Upstox => "access_token",
            BrokerKind::Angel => "jwt_token",
        }
    }

    pub fn parse(s: &str) -> Option<BrokerKind> {
        BrokerKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Identifiers a login must have. They are not secret (Kite's and Upstox's API keys appear
    /// in every login URL; a client code is the account's name at the broker) and are shown in
    /// full by `dalal broker list`.
    pub fn required_ids(self) -> &'static [&'static str] {
        match self {
            BrokerKind::Kite | BrokerKind::Upstox => &["api_key"],
            BrokerKind::Angel => &["api_key", "client_code"],
        }
    }

    /// Identifiers a login may have besides the required ones.
    pub fn optional_ids(self) -> &'static [&'static str] {
        match self {
            BrokerKind::Kite => &["user_id"],
            // The addresses SmartAPI's headers state; orders are accepted only from the API
            // key's registered static IP, so `public_ip` should be it.
            BrokerKind::Angel => &["public_ip", "local_ip", "mac_address"],
            BrokerKind::Upstox => &["redirect_uri"],
        }
    }

    /// Secrets a login must have before it can log in: Kite and Upstox exchange a one-time
    /// request code for an access token with the API secret; Angel One logs in unattended with
    /// the client's MPIN and a TOTP code computed from the seed.
    pub fn required_secrets(self) -> &'static [&'static str] {
        match self {
            BrokerKind::Kite | BrokerKind::Upstox => &["api_secret"],
            BrokerKind::Angel => &["mpin", "totp_seed"],
        }
    }

    /// Secrets a login may hold besides the required ones: the session's tokens once logged
    /// in (Angel One's JWT comes with a refresh token and a feed token).
    pub fn optional_secrets(self) -> &'static [&'static str] {
        match self {
            BrokerKind::Kite | BrokerKind::Upstox => &["access_token"],
            BrokerKind::Angel => &["jwt_token", "refresh_token", "feed_token"],
        }
    }
}

impl std::fmt::Display for BrokerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
