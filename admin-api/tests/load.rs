//! The console under read load, against a real engine that a feed keeps busy: clients flood
//! the read endpoints while WebSocket subscribers take every update. Checked by counts, never by
//! time: every request is answered 200 with a JSON body, every subscriber is upgraded and fed,
//! the engine's processed count rises through every round of reads (reads never stop it), the
//! counters the console shows never go backwards, and afterwards the console's positions and
//! P&L are exactly the engine's. The timing of the same load (requests/s, tick-to-order with
//! and without it) is a benchmark: `cargo bench -p dalal-admin --bench console_load`.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::{http, login, metric, Ws};
use dalal_admin::{serve, AdminConfig};
use dalal_core::engine::placement::{PlacementConfig, Progress, Running};
use dalal_core::engine::stats::LiveStats;
use dalal_core::engine::Engine;
use dalal_core::model::{Input, InstrumentId, Price, Qty, Tick, Timestamp};
use serde_json::Value;

const PW: &str = "load-test-pw";
/// Reading clients, rounds each, requests per round.
const CLIENTS: usize = 4;
const ROUNDS: usize = 6;
const PER_ROUND: usize = 16;
const SUBSCRIBERS: usize = 50;
/// The feed keeps at most this many ticks waiting in the ingress ring, and publishes only while
/// the egress ring holds fewer than `EGRESS_ROOM` events: it goes at the pace the whole
/// pipeline sustains, observer included, so what a stall shows is a stall (an unpaced feed
/// would only show the observer's own pace, reads or none).
const BACKLOG: u64 = 32;
const EGRESS_ROOM: u64 = 256;
const READS: [&str; 6] =
    ["/api/positions", "/api/pnl", "/api/orders?limit=50", "/api/fills?limit=50", "/api/latency", "/metrics"];

/// The bench workload's zigzag (every tick closes a bar and flips the EMA(1)/EMA(2) signal, so
/// every tick makes an order and a fill), for as long as `stop` is clear.
fn feed(running: &Running<dalal_admin::ViewObserver>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let mut p = running.publisher().expect("publisher");
    std::thread::spawn(move || {
        let open = 1_795_146_300_000_000_000i64;
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let fill = p.progress().fill(false);
            if fill.ingress >= BACKLOG || fill.egress >= EGRESS_ROOM {
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
            let price = Price(142_000 + if n.is_multiple_of(2) { 0 } else { 100 });
            let t = Tick {
                instrument: InstrumentId(0),
                ts: Timestamp(open + n as i64 * 1_000_000_000),
                price,
                qty: Qty(1),
            };
            p.publish(Input::Tick(t), 0);
            n += 1;
        }
        n
    })
}

/// One client's rounds of reads; each round starts with the engine's processed count.
fn reader(addr: SocketAddr, token: String, progress: Arc<Progress>) -> Vec<u64> {
    let mut processed = Vec::with_capacity(ROUNDS);
    let (mut fills, mut events) = (0.0, 0.0);
    for round in 0..ROUNDS {
        processed.push(progress.ingress_consumed.load(Ordering::Acquire));
        for k in 0..PER_ROUND {
            let path = READS[(round * PER_ROUND + k) % READS.len()];
            let r = http(addr, "GET", path, Some(&token), None);
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            if path == "/metrics" {
                let f = metric(&r.text, "dalal_fills_total").expect("fills_total");
                let e = metric(&r.text, "dalal_admin_egress_events_total").expect("egress events");
                assert!(
                    f >= fills && e >= events,
                    "counters never go back: fills {fills} -> {f}, events {events} -> {e}"
                );
                (fills, events) = (f, e);
            } else {
                assert!(!r.body.is_null(), "{path}: a JSON body: {}", r.text);
                if path == "/api/positions" {
                    // The workload trades one instrument for one account; a flip is one order.
                    for p in r.body.as_array().expect("positions: an array") {
                        assert_eq!((p["account"].as_str(), p["symbol"].as_str()), (Some("bench"), Some("RELIANCE")));
                        assert!(p["net_qty"].as_i64().is_some_and(|q| q.abs() <= 1), "{p}");
                    }
                }
            }
        }
    }
    processed
}

#[test]
fn console_reads_under_load_are_all_answered_and_never_stop_the_engine() {
    let (setup, _) = dalal_benches::ticks_flipping(0);
    let live = Arc::new(LiveStats::with_instruments(setup.accounts.len(), setup.instruments.len()));
    let engine = Engine::new(&setup, quanta::Clock::new(), 1);
    let (observer, parts) = dalal_admin::observer(&setup, live.clone());
    let running = Running::start(engine, &PlacementConfig::default(), observer, live.clone());
    let link = parts.connect(setup.clone(), live, running.publisher().expect("publisher"));
    let cfg = AdminConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        initial_admin_password: Some(PW.into()),
        rate_limit_per_min: u32::MAX,
        // Fifty sockets of one user: a load test, not the per-user cap.
        ws_per_user: SUBSCRIBERS,
        ..AdminConfig::default()
    };
    let admin = serve(link, cfg).expect("serve");
    let addr = admin.local_addr();
    let (token, _) = login(addr, "admin", PW);
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = feed(&running, stop.clone());

    // Subscribers to everything: each must be upgraded, greeted, and then get updates; each
    // reports its first update and reads on until told to stop.
    let (first_tx, first_rx) = mpsc::channel::<usize>();
    let subs: Vec<_> = (0..SUBSCRIBERS)
        .map(|i| {
            let mut ws = Ws::open(addr, "/api/ws", &token).unwrap_or_else(|h| panic!("subscriber {i}: {h}"));
            let (stop, first) = (stop.clone(), first_tx.clone());
            std::thread::spawn(move || {
                let hello = ws.next_text();
                assert_eq!(hello.as_ref().map(|h| h["type"].clone()), Some("hello".into()), "subscriber {i}");
                let mut updates = 0u64;
                while let Some(m) = ws.next_text() {
                    assert!(m["type"].is_string(), "subscriber {i}: {m}");
                    updates += 1;
                    if updates == 1 {
                        let _ = first.send(i);
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                updates
            })
        })
        .collect();
    drop(first_tx);

    let readers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (token, progress) = (token.clone(), running.progress().clone());
            std::thread::spawn(move || reader(addr, token, progress))
        })
        .collect();
    for (c, r) in readers.into_iter().enumerate() {
        let processed = r.join().expect("reader");
        assert!(
            processed.windows(2).all(|w| w[1] > w[0]),
            "client {c}: the engine processed more between every two rounds of reads: {processed:?}"
        );
    }
    // Every subscriber has had an update (each blocks on its socket until then; the feed runs).
    let mut fed: Vec<usize> = first_rx.iter().take(SUBSCRIBERS).collect();
    fed.sort_unstable();
    assert_eq!(fed, (0..SUBSCRIBERS).collect::<Vec<_>>(), "every subscriber was fed");

    stop.store(true, Ordering::Relaxed);
    let published = feeder.join().expect("feed");
    running.wait_idle();
    assert!(running.progress().ingress_consumed.load(Ordering::Acquire) >= published);
    for s in subs {
        // Each stops at its next message (the console sends some twice a second while anyone
        // listens), or when its socket's read timeout ends the wait.
        assert!(s.join().expect("subscriber") >= 1);
    }
    // Afterwards the console's book is the engine's (read until the engine's counters, published
    // within moments of going idle, are in).
    let get = |p: &str| -> Value {
        let r = http(addr, "GET", p, Some(&token), None);
        assert_eq!(r.status, 200, "{p}: {}", r.text);
        r.body
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let (positions, pnl) = loop {
        let (positions, pnl) = (get("/api/positions"), get("/api/pnl"));
        if common::pnl_is_sum_of_positions(&positions, &pnl) {
            break (positions, pnl);
        }
        assert!(Instant::now() < deadline, "/api/pnl never equalled the sums of /api/positions: {pnl} vs {positions}");
        std::thread::sleep(Duration::from_millis(5));
    };
    admin.shutdown();
    let stopped = running.stop();
    common::assert_console_is_the_engine(&setup, &positions, &pnl, &stopped.engine);
}
