//! A login flood without an account: 64 concurrent sign-ins with unknown names, then 64 with
//! known names and wrong passwords. Each argon2 check takes 19 MiB; the server runs two at a
//! time in two reused buffers, so its memory must not grow by more than [`BOUND_MIB`] (two
//! buffers and change) over what it had after a warm-up, neither at the end (VmRSS) nor at any
//! moment (VmHWM, the peak, so the check does not depend on when it looks). Then the
//! per-address budget of `/api/auth/*` answers 429, for that address only.
//!
//! Its own test binary, with this one test: the process is the server (and the engine) and
//! these clients, nothing else, so its memory is the server's.

mod common;

use std::net::IpAddr;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{http, http_from, login};
use serde_json::json;

const ADMIN_PW: &str = "flood-admin-pw";
const FLOOD: usize = 64;
/// The most the server's memory may grow under the flood: two 19 MiB argon2 buffers and
/// 26 MiB for everything else (threads, connections, tables).
const BOUND_MIB: u64 = 64;
/// The per-address budget of `/api/auth/*` requests per minute in this test.
const AUTH_BUDGET: u32 = 400;

/// A line of /proc/self/status in KiB.
fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// `n` logins at once (released together), each with `body(i)`; their statuses.
fn concurrent_logins(addr: std::net::SocketAddr, n: usize, body: impl Fn(usize) -> serde_json::Value) -> Vec<u16> {
    let go = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (go, b) = (go.clone(), body(i));
            std::thread::spawn(move || {
                go.wait();
                let local: IpAddr = "127.0.0.1".parse().unwrap();
                // Generous: the checks queue two at a time on a shared machine.
                http_from(local, addr, "POST", "/api/auth/login", None, Some(&b), Duration::from_secs(600)).status
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().expect("client thread")).collect()
}

#[test]
fn a_login_flood_keeps_memory_flat_and_the_address_budget_answers_429() {
    let (_setup, running, admin, addr) = common::start_console(ADMIN_PW, |cfg| {
        cfg.password_checks = 2;
        cfg.auth_rate_per_min = AUTH_BUDGET;
        // Failed attempts must reach argon2 here, not a back-off.
        cfg.lockout_attempts = 10_000;
        cfg.user_lock_attempts = 10_000;
    });

    let (token, _) = login(addr, "admin", ADMIN_PW);
    for i in 0..4 {
        let u = json!({"username": format!("known{i}"), "password": "known-password", "role": "viewer"});
        assert_eq!(http(addr, "POST", "/api/users", Some(&token), Some(&u)).status, 200);
    }
    // Warm-up: as many checks at once as the server runs, so its buffers exist.
    let warm = concurrent_logins(addr, 2, |i| json!({"username": format!("warm{i}"), "password": "x"}));
    assert_eq!(warm, [401, 401]);
    let (rss0, hwm0) = (status_kib("VmRSS:"), status_kib("VmHWM:"));

    let unknown = concurrent_logins(addr, FLOOD, |i| json!({"username": format!("nobody{i}"), "password": "guess"}));
    assert!(unknown.iter().all(|s| *s == 401), "unknown names: {unknown:?}");
    let known =
        concurrent_logins(addr, FLOOD, |i| json!({"username": format!("known{}", i % 4), "password": "wrong-guess"}));
    assert!(known.iter().all(|s| *s == 401), "known names, wrong passwords: {known:?}");

    let (rss1, hwm1) = (status_kib("VmRSS:"), status_kib("VmHWM:"));
    let bound = BOUND_MIB * 1024;
    assert!(
        rss1 <= rss0 + bound,
        "RSS grew by {} MiB under the flood (bound {BOUND_MIB} MiB): {rss0} kB -> {rss1} kB",
        (rss1 - rss0) / 1024
    );
    assert!(
        hwm1 <= hwm0.max(rss0 + bound),
        "peak RSS reached {hwm1} kB, more than {BOUND_MIB} MiB over {rss0} kB (peak before {hwm0} kB)"
    );

    // The budget per address: cheap requests to /api/auth/* until it runs out.
    let bogus = json!({"refresh_token": "not-a-token"});
    let refused =
        (0..=AUTH_BUDGET).map(|_| http(addr, "POST", "/api/auth/logout", None, Some(&bogus))).find(|r| r.status != 200);
    let refused = refused.expect("the address budget of /api/auth/* never ran out");
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert!(refused.head.to_ascii_lowercase().contains("retry-after:"), "{}", refused.head);
    // Another address is not affected.
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let r = http_from(other, addr, "POST", "/api/auth/logout", None, Some(&bogus), Duration::from_secs(20));
    assert_eq!(r.status, 200, "{}", r.text);

    admin.shutdown();
    let _ = running.stop();
}
