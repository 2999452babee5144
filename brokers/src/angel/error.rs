//! Angel One SmartAPI errors: what Angel said (its error code and message) or why there was no
//! usable answer, mapped onto [`BrokerErrorKind`], with whether the request may be sent again.
//!
//! Angel answers a business failure with HTTP 200 and `{"status":false,"errorcode":"AB…"}`,
//! and its gateway refuses a token with another casing, `{"success":false,"errorCode":"AG…"}`
//! (brokers.md §2.4); both become [`AngelError::Api`] with the code as sent.

use crate::error_kind::BrokerErrorKind;
pub use crate::rest::RequestKind;

crate::rest::rest_error!(
    /// A failed SmartAPI request. Display and Debug carry the endpoint's path, the HTTP status,
    /// Angel's error code and message; never a secret, since the client scrubs the tokens, MPIN
    /// and TOTP code it holds from any text it keeps.
    AngelError,
    "angel",
    "no session"
);

/// The kind of an Angel error from its code, message and HTTP status. Angel refuses an
/// exceeded rate limit with HTTP 403 and a plain text saying so (brokers.md §2.10), which is
/// told apart from a refused token (JSON with a code) by the text; a code, when sent, decides otherwise (the table of
/// brokers.md §2.4, as the official Java client maps it), and without one the status does.
pub fn classify(status: u16, code: Option<&str>, message: &str) -> BrokerErrorKind {
    use BrokerErrorKind as K;
    let text = message.to_ascii_lowercase();
    // "Access denied because of exceeding rate limit" (the docs), "… exceeding access rate".
    if status == 429 || (status == 403 && code.is_none() && (text.contains("exceeding") || text.contains("rate limit")))
    {
        return K::RateLimited;
    }
    match code {
        Some("AG8001" | "AG8002" | "AG8003" | "AB8050" | "AB8051" | "AB1010" | "AB1011") => K::SessionExpired,
        // Credentials refused (MPIN, TOTP, client code), an API key not known, a client blocked,
        // an order kind the account may not use.
        Some("AG8004" | "AB1000" | "AB1001" | "AB1006" | "AB1007" | "AB1031" | "AB1032" | "AB1050" | "AB2002") => {
            K::Permission
        }
        Some("AB1002" | "AB1003" | "AB1005" | "AB1012" | "AB1018" | "AB4008") => K::Input,
        Some("AB1008" | "AB1009" | "AB1013" | "AB1014" | "AB1015" | "AB1016" | "AB1017") => K::Order,
        Some("AB1004" | "AB2000" | "AB2001") => K::Other,
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
    fn codes_statuses_and_texts_map_onto_kinds() {
        let table = [
            (401, Some("AG8001"), "Invalid Token", K::SessionExpired),
            (200, Some("AB8051"), "Refresh token expired", K::SessionExpired),
            (200, Some("AB1050"), "Invalid totp", K::Permission),
            (200, Some("AG8004"), "Invalid API Key", K::Permission),
            (200, Some("AB4008"), "ordertag length should be less than 20 characters", K::Input),
            (200, Some("AB1013"), "Order not found", K::Order),
            (200, Some("AB2001"), "Internal Error", K::Other),
            (403, None, "Access denied because of exceeding rate limit", K::RateLimited),
            (403, None, "Access denied because of exceeding access rate", K::RateLimited),
            (429, None, "", K::RateLimited),
            (403, None, "Forbidden", K::SessionExpired),
            (502, None, "Bad Gateway", K::Network),
            (200, Some("AB9999"), "new", K::Other),
        ];
        for (status, code, message, kind) in table {
            assert_eq!(classify(status, code, message), kind, "{status} {code:?} {message}");
        }
    }

    #[test]
    fn a_place_whose_answer_was_lost_is_not_sent_again() {
        let t = |request, sent| AngelError::Transport {
            request,
            path: "/x".into(),
            sent,
            timed_out: sent,
            detail: "d".into(),
        };
        assert!(!t(RequestKind::PlaceOrder, true).is_retry_safe());
        assert!(t(RequestKind::PlaceOrder, false).is_retry_safe());
        assert!(t(RequestKind::CancelOrder, true).is_retry_safe());
        let limited = AngelError::Api {
            request: RequestKind::PlaceOrder,
            path: "/x".into(),
            kind: K::RateLimited,
            status: 403,
            code: None,
            message: "rate limit".into(),
        };
        assert!(limited.is_retry_safe(), "refused at the door");
    }
}
