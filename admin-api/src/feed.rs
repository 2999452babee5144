//! The run's market feed as operators see it: `GET /api/feed` and the `dalal_feed_*` lines of
//! `/metrics`.
//!
//! The console knows no broker: a run hands it a name and a read of the feed's health as JSON
//! (the Kite ticker's monitor, say), called at each request and scrape on the console's own
//! threads. That read must be cheap and must never wait on the feed's connection (relaxed
//! atomics, at most a short lock). Only the keys documented on [`FeedView`] are served, so
//! whatever else a read carries never reaches a client.

use std::fmt::Write;
use std::sync::Arc;

use serde_json::{json, Map, Value};

/// A market feed's health, read at each request.
///
/// `health` returns `{"status": "connected"|…, "last_error": text|null, "last_frame_ns":
/// wall-clock ns|null, "stale": bool, "counters": {"kind": n, …}}`: the counters are the
/// feed's own (frames, ticks, malformed frames, unknown tokens, reconnects, …), each a
/// monotonic count named by its kind. Nothing in it may be a secret or an account's data:
/// every signed-in user reads it.
#[derive(Clone)]
pub struct FeedView {
    /// How the run names the feed (`kite:zerodha`): the `feed` label on `/metrics`.
    pub name: String,
    pub health: Arc<dyn Fn() -> Value + Send + Sync>,
}

impl FeedView {
    pub fn new(name: impl Into<String>, health: impl Fn() -> Value + Send + Sync + 'static) -> FeedView {
        FeedView { name: name.into(), health: Arc::new(health) }
    }

    /// What `GET /api/feed` answers, judged at `now_ns` (wall clock): the documented keys and
    /// `last_frame_age_s`, the seconds since the last frame (`null` before the first), so the
    /// console shows the server's view of the age rather than its own clock's.
    pub fn to_json(&self, now_ns: i64) -> Value {
        let v = (self.health)();
        let last = v.get("last_frame_ns").and_then(Value::as_i64).filter(|ns| *ns > 0);
        let counters: Map<String, Value> = v
            .get("counters")
            .and_then(Value::as_object)
            .map(|m| m.iter().filter(|(_, n)| n.is_u64()).map(|(k, n)| (k.clone(), n.clone())).collect())
            .unwrap_or_default();
        json!({
            "name": self.name,
            "status": v.get("status").and_then(Value::as_str).unwrap_or("unknown"),
            "last_error": v.get("last_error").and_then(Value::as_str),
            "last_frame_ns": last,
            "last_frame_age_s": last.map(|t| age_s(now_ns, t)),
            // A feed that does not say is not vouched for.
            "stale": v.get("stale").and_then(Value::as_bool).unwrap_or(true),
            "counters": counters,
        })
    }

    /// The feed's lines for `/metrics`: `dalal_feed_connected` (1 when connected),
    /// `dalal_feed_events_total` by kind, and `dalal_feed_last_frame_age_seconds` (`+Inf`
    /// before the first frame, so an alert on the age fires for a feed that never delivered).
    /// Without `full` the `feed` label is the feed's kind alone (`kite`), never its login.
    pub(crate) fn write_metrics(&self, o: &mut String, now_ns: i64, full: bool) {
        let v = self.to_json(now_ns);
        let feed = if full { label(&self.name) } else { label(self.name.split(':').next().unwrap_or("feed")) };
        let connected = v["status"].as_str() == Some("connected");
        let _ = writeln!(
            o,
            "# HELP dalal_feed_connected The market feed's connection is up (1) or not (0).\n# TYPE dalal_feed_connected gauge\ndalal_feed_connected{{feed=\"{feed}\"}} {}",
            u8::from(connected)
        );
        let _ = writeln!(
            o,
            "# HELP dalal_feed_events_total What the market feed received, sent on and skipped, by kind (skips by reason).\n# TYPE dalal_feed_events_total counter"
        );
        if let Some(counters) = v["counters"].as_object() {
            for (kind, n) in counters {
                let _ = writeln!(o, "dalal_feed_events_total{{feed=\"{feed}\",kind=\"{}\"}} {n}", label(kind));
            }
        }
        let age = v["last_frame_age_s"].as_f64().map_or_else(|| "+Inf".to_string(), |a| a.to_string());
        let _ = writeln!(
            o,
            "# HELP dalal_feed_last_frame_age_seconds Seconds since the market feed's last frame, heartbeats included.\n# TYPE dalal_feed_last_frame_age_seconds gauge\ndalal_feed_last_frame_age_seconds{{feed=\"{feed}\"}} {age}"
        );
    }
}

impl std::fmt::Debug for FeedView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedView").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Seconds from `then` to `now` (wall-clock ns); never negative, so a clock stepped back
/// reads as a fresh frame.
fn age_s(now: i64, then: i64) -> f64 {
    now.saturating_sub(then).max(0) as f64 / 1e9
}

/// A Prometheus label value: backslash, double quote and newline escaped.
fn label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_documented_keys_are_served_and_ages_never_go_negative() {
        let f = FeedView::new("kite:\"x\"", || {
            json!({"status": "connected", "last_frame_ns": 5_000_000_000i64, "stale": false, "token": "secret",
                   "counters": {"ticks": 3, "unknown_tokens": 1, "weird": "x"}})
        });
        let v = f.to_json(7_500_000_000);
        assert_eq!(v["last_frame_age_s"], 2.5);
        assert_eq!(v["counters"], json!({"ticks": 3, "unknown_tokens": 1}));
        assert!(v.get("token").is_none());
        assert_eq!(f.to_json(0)["last_frame_age_s"], 0.0);
        let mut o = String::new();
        f.write_metrics(&mut o, 7_500_000_000, true);
        assert!(o.contains("dalal_feed_connected{feed=\"kite:\\\"x\\\"\"} 1\n"), "{o}");
        assert!(o.contains("dalal_feed_events_total{feed=\"kite:\\\"x\\\"\",kind=\"unknown_tokens\"} 1\n"), "{o}");
        assert!(o.contains("dalal_feed_last_frame_age_seconds{feed=\"kite:\\\"x\\\"\"} 2.5\n"), "{o}");
    }

    #[test]
    fn a_feed_that_says_nothing_is_stale_disconnected_and_infinitely_old() {
        let f = FeedView::new("kite:z", || Value::Null);
        let v = f.to_json(1);
        assert_eq!((v["status"].as_str(), v["stale"].as_bool()), (Some("unknown"), Some(true)));
        assert!(v["last_frame_ns"].is_null() && v["last_frame_age_s"].is_null());
        let mut o = String::new();
        f.write_metrics(&mut o, 1, true);
        assert!(o.contains("dalal_feed_connected{feed=\"kite:z\"} 0\n"), "{o}");
        assert!(o.contains("dalal_feed_last_frame_age_seconds{feed=\"kite:z\"} +Inf\n"), "{o}");
        // The public exposition names the feed's kind, not its login.
        let mut public = String::new();
        f.write_metrics(&mut public, 1, false);
        assert!(public.contains("dalal_feed_connected{feed=\"kite\"} 0\n") && !public.contains("kite:z"), "{public}");
    }
}
