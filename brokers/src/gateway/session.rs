//! A broker login's session as operators see it: health, errors, last activity and when its
//! token expires. The gateway thread writes it; the console and the API read it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

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
    /// Order updates from the ticker socket.
    pub order_updates: u64,
    /// Updates for orders the gateway does not follow: placed outside Dalal, or finished.
    pub order_updates_untracked: u64,
    /// Updates dropped because the gateway was that far behind (the order book has them).
    pub order_updates_dropped: u64,
    /// Unix time of the last answer from the broker, ns (0: none yet).
    pub last_activity_ns: i64,
    /// When the token stops working, Unix ns (0: unknown or no token).
    pub token_expiry_ns: i64,
    /// The token expires within [`EXPIRY_WARNING`]: log in again soon.
    pub expires_soon: bool,
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

/// How long before a token's expiry the session warns.
pub const EXPIRY_WARNING: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// The wall clock a gateway judges token expiry by: the system's, or one a test sets (the
/// daily expiry is at 06:00 IST, which no test should wait for).
#[derive(Clone, Debug, Default)]
pub struct WallClock(Option<Arc<AtomicI64>>);

impl WallClock {
    /// The system's clock.
    pub fn system() -> WallClock {
        WallClock(None)
    }

    /// A clock that stands at `at` until [`WallClock::set`] moves it.
    pub fn manual(at: Timestamp) -> WallClock {
        WallClock(Some(Arc::new(AtomicI64::new(at.0))))
    }

    /// Moves a manual clock (the system's ignores it).
    pub fn set(&self, at: Timestamp) {
        if let Some(c) = &self.0 {
            c.store(at.0, Ordering::Release);
        }
    }

    pub fn now(&self) -> Timestamp {
        match &self.0 {
            Some(c) => Timestamp(c.load(Ordering::Acquire)),
            None => Timestamp::now(),
        }
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
