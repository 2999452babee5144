//! The `dalal` binary's hidden wire roles: a small wire-to-wire run with `dalal wire-feed` and
//! `dalal wire-exchange` as the child processes.

use std::path::PathBuf;

use dalal_benches::wire::{orders_for, wire_to_wire_with, WireOptions};

#[test]
fn dalal_runs_the_feed_and_exchange_roles() {
    let n = 500;
    let r = wire_to_wire_with(&WireOptions::new(n, 10_000, PathBuf::from(env!("CARGO_BIN_EXE_dalal"))))
        .expect("wire run through the dalal binary");
    assert_eq!(r.feed_stats.received, n as u64);
    assert_eq!(r.feed_stats.missing, 0);
    assert_eq!(r.orders_sent, orders_for(n));
    assert_eq!(r.orders_acked, r.orders_sent);
    assert_eq!(r.exchange.latency.count, r.orders_sent);
}

#[test]
fn roles_refuse_bad_arguments() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dalal"))
        .args(["wire-feed", "--target", "not-an-address", "--n", "1", "--rate", "1"])
        .output()
        .expect("run dalal");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--target"));
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_dalal")).arg("--help").output().expect("run dalal");
    assert!(!String::from_utf8_lossy(&help.stdout).contains("wire-"));
}
