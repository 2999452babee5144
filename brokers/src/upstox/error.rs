//! Upstox API errors: what Upstox said (its `UDAPI…` error code and message) or why there was
//! no usable answer, mapped onto [`BrokerErrorKind`], with whether the request may be sent
//! again.
//!
//! Upstox answers a failure with an HTTP error status and
//! `{"status":"error","errors":[{"errorCode":"UDAPI100050","message":…,"propertyPath":…,
//! "invalidValue":…}]}` (brokers.md §3.3); it becomes [`UpstoxError::Api`] with the first
//! error's code as sent and every error's message.

use crate::error_kind::BrokerErrorKind;
pub use crate::rest::RequestKind;

crate::rest::rest_error!(
    /// A failed Upstox request. Display and Debug carry the endpoint's path (never its query),
    /// the HTTP status, Upstox's error code and message; never a secret, since the client scrubs
    /// the token, the authorization code and the API secret it holds from any text it keeps.
    UpstoxError,
    "upstox",
    "no access token"
);

/// The kind of an Upstox error from its HTTP status, `UDAPI` code and message.
///
/// A 429 or UDAPI10005 is a rate limit whatever else the answer says. Otherwise the codes of
/// brokers.md §3.3 and the order pages decide; a code Upstox adds later falls back to the
/// status (401 a refused token, 403 forbidden, other 4xx bad input, 5xx Upstox's side). Upstox
/// documents no code for an order refused for want of funds at placement (its RMS rejects
/// after accepting, in the order's `status_message`), so a message about insufficient funds
/// or margin is read as a margin error whatever its code.
pub fn classify(status: u16, code: Option<&str>, message: &str) -> BrokerErrorKind {
    use BrokerErrorKind as K;
    if status == 429 || code == Some("UDAPI10005") {
        return K::RateLimited;
    }
    let text = message.to_ascii_lowercase();
    if text.contains("insufficient") && (text.contains("fund") || text.contains("margin")) {
        return K::Margin;
    }
    match code {
        // Invalid token (also an expired or logged-out one: Upstox does not tell them apart).
        Some("UDAPI100050") => K::SessionExpired,
        // Invalid credentials, an extended token where it is not allowed, a client_id or
        // redirect URI mismatch, an inactive client_id, an account barred from order APIs.
        Some("UDAPI100016" | "UDAPI100067" | "UDAPI100068" | "UDAPI100073" | "UDAPI100049") => K::Permission,
        // Order not found; cancel or modify of a finished order.
        Some("UDAPI100010" | "UDAPI100040" | "UDAPI100041") => K::Order,
        Some(
            "UDAPI10000" | "UDAPI100015" | "UDAPI100036" | "UDAPI100038" | "UDAPI1087" | "UDAPI100043" | "UDAPI1009"
            | "UDAPI1011" | "UDAPI1004" | "UDAPI1007" | "UDAPI1055" | "UDAPI1056" | "UDAPI1023" | "UDAPI1010",
        ) => K::Input,
        Some("UDAPI100500") => K::Network,
        _ => match status {
            401 => K::SessionExpired,
            403 => K::Permission,
            400 | 404 | 405 | 406 | 410 | 415 | 422 => K::Input,
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
    fn codes_statuses_and_texts_map_onto_kinds() {
        let table = [
            (401, Some("UDAPI100050"), "Invalid token used to access API", K::SessionExpired),
            (401, Some("UDAPI100016"), "Invalid Credentials", K::Permission),
            (401, Some("UDAPI100067"), "not permitted with an extended_token", K::Permission),
            (400, Some("UDAPI100068"), "Check your 'client_id' and 'redirect_uri'", K::Permission),
            (429, Some("UDAPI10005"), "Too Many Request Sent", K::RateLimited),
            (400, Some("UDAPI10005"), "Too Many Request Sent", K::RateLimited),
            (429, None, "", K::RateLimited),
            (400, Some("UDAPI100015"), "API Version does not exist", K::Input),
            (400, Some("UDAPI1056"), "The 'order_type' is invalid", K::Input),
            (400, Some("UDAPI100010"), "Order not found", K::Order),
            (400, Some("UDAPI100040"), "Cancel of already cancelled order is not allowed", K::Order),
            (500, Some("UDAPI100500"), "Something went wrong", K::Network),
            (400, Some("UDAPI9999"), "Insufficient funds for this order", K::Margin),
            (400, Some("UDAPI9999"), "something new", K::Input),
            (403, None, "Forbidden", K::Permission),
            (401, None, "", K::SessionExpired),
            (503, None, "maintenance", K::Network),
            (418, None, "", K::Other),
        ];
        for (status, code, message, kind) in table {
            assert_eq!(classify(status, code, message), kind, "{status} {code:?} {message}");
        }
    }

    fn api(request: RequestKind, status: u16, code: &str) -> UpstoxError {
        UpstoxError::Api {
            request,
            path: "/x".into(),
            kind: classify(status, Some(code), ""),
            status,
            code: Some(code.into()),
            message: "m".into(),
        }
    }

    #[test]
    fn only_what_cannot_happen_twice_by_accident_is_retried() {
        use RequestKind::*;
        assert!(api(PlaceOrder, 429, "UDAPI10005").is_retry_safe(), "refused at the door");
        assert!(!api(PlaceOrder, 500, "UDAPI100500").is_retry_safe(), "the order may exist");
        assert!(api(PlaceOrder, 500, "UDAPI100500").outcome_unknown());
        assert!(api(Read, 500, "UDAPI100500").is_retry_safe());
        assert!(api(CancelOrder, 500, "UDAPI100500").is_retry_safe());
        assert!(!api(Read, 401, "UDAPI100050").is_retry_safe());
        assert!(!api(PlaceOrder, 400, "UDAPI1056").is_retry_safe());
        let t = |request, sent| UpstoxError::Transport {
            request,
            path: "/x".into(),
            sent,
            timed_out: sent,
            detail: "d".into(),
        };
        assert!(t(PlaceOrder, false).is_retry_safe(), "never connected");
        assert!(!t(PlaceOrder, true).is_retry_safe(), "timed out: unknown");
        assert!(!t(ModifyOrder, true).is_retry_safe());
        assert!(t(Read, true).is_retry_safe());
        let m = |request, status| UpstoxError::Malformed { request, path: "/x".into(), status, detail: "d".into() };
        assert!(!m(PlaceOrder, 200).is_retry_safe() && m(PlaceOrder, 200).outcome_unknown());
        assert!(!m(PlaceOrder, 502).outcome_unknown());
    }
}
