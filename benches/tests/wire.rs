//! Wire to wire through real processes and real loopback sockets: the `dalal-wire` binary is
//! spawned as the feed and as the exchange simulator.

use std::path::PathBuf;
use std::sync::Mutex;

use dalal_benches::wire::{orders_for, wire_to_wire_with, WireOptions};

/// One run at a time: each run has a busy-polling engine thread, and two of them would share
/// a core with the children.
static SERIAL: Mutex<()> = Mutex::new(());

/// These runs expect every datagram: a quiet ring is waited out for long (a loaded machine
/// can hold the engine thread off its core for a while), not taken as loss.
fn options(n: usize, rate: u64) -> WireOptions {
    let mut o = WireOptions::new(n, rate, PathBuf::from(env!("CARGO_BIN_EXE_dalal-wire")));
    o.quiet_after_feed = std::time::Duration::from_secs(10);
    o
}

#[test]
fn every_tick_arrives_and_every_order_is_acked() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let n = 2_000;
    let r = wire_to_wire_with(&options(n, 20_000)).expect("wire run");
    assert_eq!(r.feed.sent, n as u64);
    assert_eq!(r.feed.send_errors, 0);
    assert_eq!(r.feed_stats.received, n as u64, "{:?}", r.feed_stats);
    assert_eq!(r.feed_stats.delivered, n as u64);
    assert_eq!((r.feed_stats.missing, r.feed_stats.gap_events, r.trailing_missing()), (0, 0, 0));
    assert_eq!((r.feed_stats.stale, r.feed_stats.malformed), (0, 0));
    // Exactly what the same ticks make in process; the flipping workload orders on every
    // tick once the slow EMA has its bars.
    assert_eq!(r.orders_sent, orders_for(n));
    assert!(r.orders_sent >= n as u64 - 3, "{} orders from {n} ticks", r.orders_sent);
    assert_eq!(r.orders_acked, r.orders_sent);
    assert_eq!(r.ack_mismatches, 0);
    assert_eq!(r.exchange.orders, r.orders_sent);
    assert_eq!(r.exchange.acks, r.orders_sent);
    assert_eq!(r.exchange.latency.count, r.orders_sent);
    assert_eq!(r.latency.len(), r.orders_sent);
    assert_eq!(r.order_leg.len(), r.orders_sent);
    assert_eq!(r.feed_leg.len(), n as u64);
    // The exchange is a live venue: every order's fill came back as a report and was booked.
    assert_eq!(r.fills_booked, r.orders_sent);
    assert_eq!(r.round_trip.len(), r.orders_sent);
    assert!(r.round_trip.percentiles().p50_ns >= p_of(&r.latency));
    let p = r.percentiles();
    assert!(p.p50_ns > 0 && p.p50_ns <= p.max_ns, "{p:?}");
    // Each leg is part of the whole.
    assert!(r.feed_leg.percentiles().p50_ns <= p.p99_ns && r.order_leg.percentiles().p50_ns <= p.p99_ns);
    // Both ends measure the same thing from the same stamps.
    assert_eq!(p.p50_ns, r.exchange.latency.p50_ns);
}

/// p50 of a histogram, ns.
fn p_of(h: &dalal_core::metrics::LatencyHistogram) -> u64 {
    h.percentiles().p50_ns
}

#[test]
fn skipped_sequence_numbers_are_counted_as_gaps() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let n = 1_000;
    let mut opt = options(n, 20_000);
    // A leading loss, a single one, a run of three, and the last datagram.
    opt.skip_seqs = vec![1, 100, 500, 501, 502, 1_000];
    let r = wire_to_wire_with(&opt).expect("wire run");
    assert_eq!(r.feed.skipped, 6);
    assert_eq!(r.feed.sent, n as u64 - 6);
    assert_eq!(r.feed_stats.received, n as u64 - 6);
    assert_eq!(r.feed_stats.missing, 5);
    assert_eq!(r.feed_stats.gap_events, 3);
    assert_eq!(r.trailing_missing(), 1);
    assert_eq!(r.orders_acked, r.orders_sent);
    assert_eq!(r.exchange.latency.count, r.orders_sent);
}

#[test]
fn a_missing_executable_is_an_error_not_a_hang() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let opt = WireOptions::new(10, 1_000, PathBuf::from("/nonexistent/dalal-wire"));
    let e = wire_to_wire_with(&opt).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("cannot start the wire-exchange process"), "{e}");
}

#[test]
fn a_child_that_is_not_a_role_runner_is_an_error() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    // `true` exits at once without printing: the exchange never reports its address.
    let opt = WireOptions::new(10, 1_000, PathBuf::from("/bin/true"));
    let e = wire_to_wire_with(&opt).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("wire-exchange") && e.contains("exited"), "{e}");
}

#[test]
fn an_offered_rate_beyond_the_machine_is_batched_not_lost() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    // Far faster than one sendto per tick: the feed falls behind and sends what is due in
    // batches, the engine writes a burst's orders together.
    let n = 3_000;
    let r = wire_to_wire_with(&options(n, 2_000_000)).expect("wire run");
    assert_eq!(r.feed.sent + r.feed.send_errors, n as u64);
    assert_eq!(r.feed.send_errors, 0);
    assert_eq!(r.feed_stats.received, n as u64, "{:?}", r.feed_stats);
    assert_eq!(r.feed_stats.missing, 0);
    assert_eq!(r.orders_sent, orders_for(n));
    assert_eq!(r.orders_acked, r.orders_sent);
    assert_eq!(r.exchange.latency.count, r.orders_sent);
    assert_eq!(r.ack_mismatches, 0);
}
