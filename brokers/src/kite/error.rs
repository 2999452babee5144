//! Kite Connect errors: what Kite said (its `error_type` and message) or why there was no
//! usable answer, mapped onto [`BrokerErrorKind`], with whether the request may be sent again.

use crate::error_kind::BrokerErrorKind;

pub use crate::rest::RequestKind;

/// A failed Kite request. Display and Debug carry the endpoint's path (never its query, which
/// may hold a token), the HTTP status, Kite's `error_type` and message; no secret ever, since
/// the client scrubs the tokens it holds from any text it keeps.
#[derive(Debug, thiserror::Error)]
pub enum KiteError {
    /// Kite answered with its error envelope, or with an error status and no envelope.
    #[error("kite {request} {path}: {kind}: {message} (HTTP {status}{})", error_type.as_deref().map(|t| format!(", {t}")).unwrap_or_default())]
    Api {
        request: RequestKind,
        path: String,
        kind: BrokerErrorKind,
        status: u16,
        error_type: Option<String>,
        message: String,
    },
    /// No answer. `sent` is false when the connection was never made, so Kite never saw the
    /// request; otherwise what Kite did with it is unknown.
    #[error("kite {request} {path}: no answer ({detail})")]
    Transport { request: RequestKind, path: String, sent: bool, timed_out: bool, detail: String },
    /// An answer that is not Kite's envelope, or whose `data` is not the expected shape.
    #[error("kite {request} {path}: malformed answer (HTTP {status}): {detail}")]
    Malformed { request: RequestKind, path: String, status: u16, detail: String },
    /// The client has no access token yet.
    #[error("kite {request} {path}: no access token (log in first)")]
    NoSession { request: RequestKind, path: String },
    /// Refused before sending: the request itself is wrong.
    #[error("kite {request}: {detail}")]
    Invalid { request: RequestKind, detail: String },
}

impl KiteError {
    pub fn kind(&self) -> BrokerErrorKind {
        match self {
            KiteError::Api { kind, .. } => *kind,
            KiteError::Transport { .. } => BrokerErrorKind::Network,
            KiteError::Malformed { .. } => BrokerErrorKind::Malformed,
            KiteError::NoSession { .. } => BrokerErrorKind::SessionExpired,
            KiteError::Invalid { .. } => BrokerErrorKind::Input,
        }
    }

    pub fn request(&self) -> RequestKind {
        match self {
            KiteError::Api { request, .. }
            | KiteError::Transport { request, .. }
            | KiteError::Malformed { request, .. }
            | KiteError::NoSession { request, .. }
            | KiteError::Invalid { request, .. } => *request,
        }
    }

    /// The HTTP status, when there was an answer.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            KiteError::Api { status, .. } | KiteError::Malformed { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Kite's `error_type`, when it sent one.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            KiteError::Api { error_type, .. } => error_type.as_deref(),
            _ => None,
        }
    }

    /// The broker's message text (or ours, when the broker said nothing).
    pub fn message(&self) -> &str {
        match self {
            KiteError::Api { message, .. } => message,
            KiteError::Transport { detail, .. }
            | KiteError::Malformed { detail, .. }
            | KiteError::Invalid { detail, .. } => detail,
            KiteError::NoSession { .. } => "no access token",
        }
    }

    /// True when the broker may have acted on the request although it failed: a request sent
    /// without a usable answer, unless Kite answered with an error it gives before acting.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            KiteError::Transport { sent, .. } => *sent,
            KiteError::Malformed { status, .. } => (200..300).contains(status),
            KiteError::Api { kind, .. } => *kind == BrokerErrorKind::Network,
            KiteError::NoSession { .. } | KiteError::Invalid { .. } => false,
        }
    }

    /// Whether sending the same request again is safe and may help. A refusal at the door
    /// (HTTP 429) or a connection never made is safe to repeat for any request: Kite did
    /// nothing. A network failure or an unreadable answer is safe to repeat only for a request
    /// that may happen twice (a read, a cancel) — never for a place order whose outcome is
    /// unknown: look at the order book instead. Everything else (bad input, no margin,
    /// expired session) fails again the same way.
    pub fn is_retry_safe(&self) -> bool {
        crate::rest::retry_safe(
            self.request(),
            self.kind(),
            self.outcome_unknown(),
            matches!(self, KiteError::Transport { sent: false, .. }),
        )
    }
}

/// The kind of a Kite error from its `error_type` and HTTP status. A 429 is a rate limit
/// whatever the body says (clients and Kite itself label it `NetworkException` at times);
/// otherwise Kite's `error_type` decides, and without one the status does.
pub fn classify(status: u16, error_type: Option<&str>) -> BrokerErrorKind {
    use BrokerErrorKind as K;
    if status == 429 {
        return K::RateLimited;
    }
    match error_type {
        Some("TokenException") => K::SessionExpired,
        Some("UserException") | Some("PermissionException") => K::Permission,
        Some("OrderException") => K::Order,
        Some("InputException") => K::Input,
        Some("MarginException") => K::Margin,
        Some("HoldingException") => K::Holding,
        Some("NetworkException") => K::Network,
        Some("DataException") => K::Data,
        Some("GeneralException") => K::Other,
        _ => match status {
            401 | 403 => K::SessionExpired,
            400 | 404 | 405 | 410 | 422 => K::Input,
            500..=599 => K::Network,
            _ => K::Other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BrokerErrorKind as K;

    #[test]
    fn error_types_and_statuses_map_onto_kinds() {
        let table = [
            (403, Some("TokenException"), K::SessionExpired),
            (403, Some("UserException"), K::Permission),
            (500, Some("OrderException"), K::Order),
            (400, Some("InputException"), K::Input),
            (400, Some("MarginException"), K::Margin),
            (400, Some("HoldingException"), K::Holding),
            (503, Some("NetworkException"), K::Network),
            (502, Some("DataException"), K::Data),
            (403, Some("PermissionException"), K::Permission),
            (500, Some("GeneralException"), K::Other),
            (429, Some("NetworkException"), K::RateLimited),
            (429, None, K::RateLimited),
            (403, None, K::SessionExpired),
            (500, None, K::Network),
            (504, Some("SomethingNew"), K::Network),
            (418, None, K::Other),
        ];
        for (status, et, kind) in table {
            assert_eq!(classify(status, et), kind, "{status} {et:?}");
        }
    }

    fn api(request: RequestKind, status: u16, et: &str) -> KiteError {
        KiteError::Api {
            request,
            path: "/x".into(),
            kind: classify(status, Some(et)),
            status,
            error_type: Some(et.into()),
            message: "m".into(),
        }
    }

    #[test]
    fn only_what_cannot_happen_twice_by_accident_is_retried() {
        use RequestKind::*;
        assert!(api(Read, 503, "NetworkException").is_retry_safe());
        assert!(api(Read, 429, "NetworkException").is_retry_safe());
        assert!(api(PlaceOrder, 429, "NetworkException").is_retry_safe(), "refused at the door");
        assert!(!api(PlaceOrder, 503, "NetworkException").is_retry_safe(), "the order may exist");
        assert!(api(CancelOrder, 503, "NetworkException").is_retry_safe());
        assert!(!api(Read, 403, "TokenException").is_retry_safe());
        assert!(!api(PlaceOrder, 400, "MarginException").is_retry_safe());
        let t = |request, sent| KiteError::Transport {
            request,
            path: "/x".into(),
            sent,
            timed_out: sent,
            detail: "d".into(),
        };
        assert!(t(PlaceOrder, false).is_retry_safe(), "never connected");
        assert!(!t(PlaceOrder, true).is_retry_safe(), "timed out: unknown");
        assert!(t(Read, true).is_retry_safe());
        let m = |request, status| KiteError::Malformed { request, path: "/x".into(), status, detail: "d".into() };
        assert!(!m(PlaceOrder, 200).is_retry_safe() && m(PlaceOrder, 200).outcome_unknown());
        assert!(m(Read, 200).is_retry_safe());
        assert!(!m(ModifyOrder, 200).is_retry_safe());
    }
}
