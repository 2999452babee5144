//! Kite Connect errors: what Kite said (its `error_type` and message) or why there was no
//! usable answer, mapped onto [`BrokerErrorKind`], with whether the request may be sent again.

use crate::error_kind::BrokerErrorKind;

pub use crate::rest::RequestKind;

crate::rest::rest_error!(
    /// A failed Kite request. Display and Debug carry the endpoint's path (never its query,
    /// which may hold a token), the HTTP status, Kite's `error_type` (as the code) and message;
    /// no secret ever, since the client scrubs the tokens it holds from any text it keeps.
    KiteError,
    "kite",
    "no access token"
);

impl KiteError {
    /// Kite's `error_type` (`TokenException`…), when it sent one: the error's code.
    pub fn error_type(&self) -> Option<&str> {
        self.code()
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
            code: Some(et.into()),
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
