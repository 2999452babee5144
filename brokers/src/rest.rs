//! What every broker's REST client shares: what a request does (which decides whether it may
//! be sent again after a failure), the HTTP client they are built on, and the small text
//! helpers that keep a caller's value out of a URL's path and a cause chain on one line.

use std::time::Duration;

use crate::error_kind::BrokerErrorKind;

/// What a request does, which decides whether it may be repeated after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// A GET: reading twice changes nothing.
    Read,
    /// A login: its one-time credential (Kite's request token, Angel One's TOTP code) is spent.
    Login,
    /// Ending a session.
    Logout,
    PlaceOrder,
    ModifyOrder,
    CancelOrder,
}

impl RequestKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestKind::Read => "read",
            RequestKind::Login => "login",
            RequestKind::Logout => "logout",
            RequestKind::PlaceOrder => "place order",
            RequestKind::ModifyOrder => "modify order",
            RequestKind::CancelOrder => "cancel order",
        }
    }

    /// Sending it twice has the effect of sending it once. A cancel is: the second finds the
    /// order cancelled already. A place is not (two orders), nor a modify (the second may land
    /// after a fill and change what is left), nor a login (the token is spent).
    pub const fn is_idempotent(self) -> bool {
        matches!(self, RequestKind::Read | RequestKind::Logout | RequestKind::CancelOrder)
    }
}

impl std::fmt::Display for RequestKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A broker REST client's error type: what the broker said (its error code and message) or
/// why there was no usable answer, with its [`BrokerErrorKind`] and whether the request may be
/// sent again ([`retry_safe`]). The three brokers' errors have this one shape, and the gateway
/// judges them through [`crate::gateway::broker::BrokerFailure`]; only how a broker's answer is
/// classified differs, in each broker's own `classify`.
///
/// `$label` starts every message (`kite`, `angel`, `upstox`); `$no_session` says what a
/// client without a session lacks (`no access token`, `no session`).
macro_rules! rest_error {
    ($(#[$meta:meta])* $name:ident, $label:literal, $no_session:literal) => {
        $(#[$meta])*
        #[derive(Debug, thiserror::Error)]
        pub enum $name {
            /// The broker answered with its failure envelope, or with an error status.
            #[error("{} {request} {path}: {kind}: {message} (HTTP {status}{})", $label, code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
            Api {
                request: $crate::rest::RequestKind,
                path: String,
                kind: $crate::error_kind::BrokerErrorKind,
                status: u16,
                /// The broker's own error code or type, as sent.
                code: Option<String>,
                message: String,
            },
            /// No answer. `sent` is false when the connection was never made, so the broker
            /// never saw the request; otherwise what it did with it is unknown.
            #[error("{} {request} {path}: no answer ({detail})", $label)]
            Transport { request: $crate::rest::RequestKind, path: String, sent: bool, timed_out: bool, detail: String },
            /// An answer that is not the broker's envelope, or whose data is not the expected shape.
            #[error("{} {request} {path}: malformed answer (HTTP {status}): {detail}", $label)]
            Malformed { request: $crate::rest::RequestKind, path: String, status: u16, detail: String },
            /// The client has no session yet.
            #[error("{} {request} {path}: {} (log in first)", $label, $no_session)]
            NoSession { request: $crate::rest::RequestKind, path: String },
            /// Refused before sending: the request itself is wrong.
            #[error("{} {request}: {detail}", $label)]
            Invalid { request: $crate::rest::RequestKind, detail: String },
        }

        impl $name {
            pub fn kind(&self) -> $crate::error_kind::BrokerErrorKind {
                use $crate::error_kind::BrokerErrorKind as K;
                match self {
                    $name::Api { kind, .. } => *kind,
                    $name::Transport { .. } => K::Network,
                    $name::Malformed { .. } => K::Malformed,
                    $name::NoSession { .. } => K::SessionExpired,
                    $name::Invalid { .. } => K::Input,
                }
            }

            pub fn request(&self) -> $crate::rest::RequestKind {
                match self {
                    $name::Api { request, .. }
                    | $name::Transport { request, .. }
                    | $name::Malformed { request, .. }
                    | $name::NoSession { request, .. }
                    | $name::Invalid { request, .. } => *request,
                }
            }

            /// The HTTP status, when there was an answer.
            pub fn http_status(&self) -> Option<u16> {
                match self {
                    $name::Api { status, .. } | $name::Malformed { status, .. } => Some(*status),
                    _ => None,
                }
            }

            /// The broker's error code (or Kite's error type), when it sent one.
            pub fn code(&self) -> Option<&str> {
                match self {
                    $name::Api { code, .. } => code.as_deref(),
                    _ => None,
                }
            }

            /// The broker's message text (or ours, when the broker said nothing).
            pub fn message(&self) -> &str {
                match self {
                    $name::Api { message, .. } => message,
                    $name::Transport { detail, .. } | $name::Malformed { detail, .. } | $name::Invalid { detail, .. } => {
                        detail
                    }
                    $name::NoSession { .. } => $no_session,
                }
            }

            /// True when the broker may have acted on the request although it failed: a
            /// request sent without a usable answer, or one its servers failed on.
            pub fn outcome_unknown(&self) -> bool {
                match self {
                    $name::Transport { sent, .. } => *sent,
                    $name::Malformed { status, .. } => (200..300).contains(status),
                    $name::Api { kind, .. } => *kind == $crate::error_kind::BrokerErrorKind::Network,
                    $name::NoSession { .. } | $name::Invalid { .. } => false,
                }
            }

            /// See [`crate::rest::retry_safe`].
            pub fn is_retry_safe(&self) -> bool {
                $crate::rest::retry_safe(
                    self.request(),
                    self.kind(),
                    self.outcome_unknown(),
                    matches!(self, $name::Transport { sent: false, .. }),
                )
            }
        }

        impl $crate::gateway::broker::BrokerFailure for $name {
            fn kind(&self) -> $crate::error_kind::BrokerErrorKind {
                $name::kind(self)
            }
            fn message(&self) -> &str {
                $name::message(self)
            }
            fn outcome_unknown(&self) -> bool {
                $name::outcome_unknown(self)
            }
            fn is_retry_safe(&self) -> bool {
                $name::is_retry_safe(self)
            }
        }
    };
}
pub(crate) use rest_error;

/// Whether sending the same request again is safe and may help. A refusal at the door (a rate
/// limit) or a connection never made is safe to repeat for any request: the broker did
/// nothing. A failure whose outcome is unknown (no answer, an unreadable answer) is safe to
/// repeat only for a request that may happen twice (a read, a cancel), never for a place
/// order: look for it in the order book instead. Everything else (bad input, no margin, an
/// expired session) fails again the same way.
pub fn retry_safe(request: RequestKind, kind: BrokerErrorKind, outcome_unknown: bool, never_sent: bool) -> bool {
    if kind == BrokerErrorKind::RateLimited || never_sent {
        return true;
    }
    outcome_unknown && request.is_idempotent()
}

/// The HTTP client of one broker login: redirects are not followed (a redirect from a REST
/// endpoint is an error to see, not to chase with the token attached), connections time out
/// after `timeout`, and a local test server's traffic never goes through an environment proxy.
pub fn http_client(
    root: &str,
    timeout: Duration,
    headers: reqwest::header::HeaderMap,
) -> Result<(reqwest::Client, String), String> {
    let url = reqwest::Url::parse(root).map_err(|e| format!("root {root:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
        return Err(format!("root {root:?}: expected an http(s) URL without a query"));
    }
    let mut builder = reqwest::Client::builder()
        .default_headers(headers)
        .user_agent(concat!("dalal/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none());
    if url.host_str().is_some_and(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]") {
        builder = builder.no_proxy();
    }
    let http = builder.build().map_err(|e| format!("HTTP client: {}", e.without_url()))?;
    Ok((http, root.trim_end_matches('/').to_string()))
}

/// A caller's value as one path segment: characters that would change the path are refused
/// by replacing them, so an order id can never point a request at another endpoint.
pub fn path_segment(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

/// An error and its causes on one line (reqwest's own Display omits the cause).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Replaces every secret of `secrets` (of four characters or more) in `text` with `****`:
/// what an error keeps of a broker's answer never holds a token or password it echoed.
pub fn scrub<'a>(mut text: String, secrets: impl IntoIterator<Item = &'a str>) -> String {
    for s in secrets {
        if s.len() >= 4 && text.contains(s) {
            text = text.replace(s, "****");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_change_the_path() {
        assert_eq!(path_segment("../orders?x=1"), ".._orders_x_1");
        assert_eq!(path_segment("230101000000123"), "230101000000123");
    }

    #[test]
    fn scrub_hides_every_secret() {
        assert_eq!(scrub("token abcd1234 and abcd1234".into(), ["abcd1234", "xy"]), "token **** and ****");
    }

    #[test]
    fn roots_must_be_plain_http_urls() {
        let h = reqwest::header::HeaderMap::new;
        assert!(http_client("ftp://x", Duration::from_secs(1), h()).is_err());
        assert!(http_client("http://x/?a=1", Duration::from_secs(1), h()).is_err());
        let (_, root) = http_client("http://127.0.0.1:9/", Duration::from_secs(1), h()).expect("client");
        assert_eq!(root, "http://127.0.0.1:9");
    }
}
