//! A broker login's session as operators see it: health, errors, last activity and when its
//! token expires. The gateway thread writes it; the console and the API read it.

use std::sync::Mutex;

use dalal_core::model::Timestamp;
use serde::Serialize;

/// Whether a login can trade now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionHealth {
    /// Logged in and answering.
    Healthy,
    /// No token yet, or it expired (Kite's daily at about 06:00 IST, or refused by the
    /// broker): orders are refused with a reason until the next login.
    #[default]
    Expired,
    /// The last request failed for another reason (network, broker error).
    Error,
}

/// What [`Session::status`] shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SessionStatus {
    pub login: String,
    pub broker: &'static str,
    pub health: SessionHealth,
    /// Failed requests since the gateway started.
    pub errors: u64,
    /// Requests the broker answered, successfully or not.
    pub requests: u64,
    /// Orders refused without being sent, because the session had expired.
    pub refused_expired: u64,
    /// Requests shadow accounts would have sent (logged, never sent).
    pub shadow_requests: u64,
    /// Unix time of the last answer from the broker, ns (0: none yet).
    pub last_activity_ns: i64,
    /// When the token stops working, Unix ns (0: unknown or no token).
    pub token_expiry_ns: i64,
    /// The last error, as the broker put it.
    pub last_error: Option<String>,
}

/// Shared between the gateway thread and readers.
#[derive(Debug)]
pub struct Session {
    status: Mutex<SessionStatus>,
}

impl Session {
    pub fn new(login: &str, broker: &'static str) -> Session {
        Session { status: Mutex::new(SessionStatus { login: login.to_string(), broker, ..SessionStatus::default() }) }
    }

    pub fn status(&self) -> SessionStatus {
        self.lock().clone()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut SessionStatus)) {
        f(&mut self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SessionStatus> {
        // A panic while holding it cannot leave the status half-written in a way that matters
        // more than losing it: keep serving it.
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Kite's access tokens expire at 06:00 IST the day after login (brokers.md §1.2): the next
/// 06:00 IST after `login`.
pub fn kite_token_expiry(login: Timestamp) -> Timestamp {
    const SIX_AM: i64 = 6 * 3600 * 1_000_000_000;
    const DAY: i64 = 24 * 3600 * 1_000_000_000;
    let midnight = login.ist_midnight().0;
    let today = midnight.saturating_add(SIX_AM);
    Timestamp(if login.0 < today { today } else { today.saturating_add(DAY) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kite_tokens_expire_at_the_next_six_in_the_morning_ist() {
        // 2024-01-02 10:00 IST = 04:30 UTC.
        let ten_am = Timestamp(1_704_169_800_000_000_000);
        let next_six = Timestamp(1_704_155_400_000_000_000 + 24 * 3600 * 1_000_000_000);
        assert_eq!(kite_token_expiry(ten_am), next_six);
        // 05:00 IST: the same morning's 06:00.
        let five_am = Timestamp(ten_am.0 - 5 * 3600 * 1_000_000_000);
        assert_eq!(kite_token_expiry(five_am), Timestamp(next_six.0 - 24 * 3600 * 1_000_000_000));
        assert_eq!(kite_token_expiry(Timestamp(i64::MAX)), Timestamp(i64::MAX));
    }
}
