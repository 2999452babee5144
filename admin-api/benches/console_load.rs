//! Console load benchmark: `GET /api/positions` from several clients and 500 WebSocket
//! subscribers while a paced feed runs, reporting requests/s, the request p99 and the engine's
//! tick-to-order p99 with and without that load. Every tick of the feed makes an order (the
//! lab's flipping workload), so each phase has thousands of tick-to-order samples. It reports;
//! it judges nothing (times depend on the machine). What must hold under load whatever the
//! machine (every request answered, the engine never stopped by reads, the console's book the
//! engine's) is the test `admin-api/tests/load.rs`.
//!
//! `cargo bench -p dalal-admin --bench console_load` (under `cargo test --benches` it only
//! says it was skipped: it takes 12 s of wall time by design).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dalal_admin::{serve, AdminConfig};
use dalal_core::engine::placement::{PlacementConfig, Running};
use dalal_core::engine::stats::LiveStats;
use dalal_core::engine::Engine;
use dalal_core::model::Input;

/// Ticks (and so orders) per second.
const RATE: u64 = 500;

fn get(addr: SocketAddr, path: &str, token: &str) -> u16 {
    let Ok(mut s) = TcpStream::connect(addr) else { return 0 };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return 0;
    }
    let mut v = Vec::new();
    let _ = s.read_to_end(&mut v);
    String::from_utf8_lossy(&v).split(' ').nth(1).and_then(|x| x.parse().ok()).unwrap_or(0)
}

fn post_login(addr: SocketAddr, pw: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    let body = format!(r#"{{"username":"admin","password":"{pw}"}}"#);
    let req = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut v = String::new();
    s.read_to_string(&mut v).unwrap();
    let json: serde_json::Value = serde_json::from_str(v.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    json["access_token"].as_str().unwrap().to_string()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("console_load: skipped (run with cargo bench)");
        return;
    }
    // 12 s of feed at RATE ticks/s: a second to settle and five measured, twice.
    let (setup, ticks) = dalal_benches::ticks_flipping(RATE as usize * 14);
    let live = Arc::new(LiveStats::with_instruments(setup.accounts.len(), setup.instruments.len()));
    let clock = quanta::Clock::new();
    let engine = Engine::new(&setup, clock, 1);
    let (observer, parts) = dalal_admin::observer(&setup, live.clone());
    let view = parts.view.clone();
    let running = Running::start(engine, &PlacementConfig::default(), observer, live.clone());
    let link = parts.connect(setup.clone(), live, running.publisher().unwrap());
    let cfg = AdminConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        initial_admin_password: Some("load-test-pw".into()),
        rate_limit_per_min: u32::MAX,
        ws_per_user: 500,
        ..AdminConfig::default()
    };
    let admin = serve(link, cfg).unwrap();
    let addr = admin.local_addr();
    let token = post_login(addr, "load-test-pw");

    // A paced feed, each tick stamped for tick-to-order.
    let stop = Arc::new(AtomicBool::new(false));
    let feed = {
        let (stop, mut p) = (stop.clone(), running.publisher().unwrap());
        std::thread::spawn(move || {
            let start = Instant::now();
            for (step, t) in ticks.into_iter().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                p.publish(Input::Tick(t), 0);
                let due = Duration::from_micros((step as u64 + 1) * 1_000_000 / RATE);
                if let Some(d) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(d);
                }
            }
        })
    };
    let phase = |secs: u64| {
        std::thread::sleep(Duration::from_secs(1));
        view.write().unwrap().tick_to_order.reset();
        std::thread::sleep(Duration::from_secs(secs));
        view.read().unwrap().tick_to_order.percentiles()
    };
    let quiet = phase(5);

    // Load: 500 WebSocket subscribers to everything, 4 clients on GET /api/positions.
    let mut subs = Vec::new();
    let received = Arc::new(AtomicU64::new(0));
    for _ in 0..500 {
        let mut s = TcpStream::connect(addr).unwrap();
        let req = format!(
            "GET /api/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Authorization: Bearer {token}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let (stop, received) = (stop.clone(), received.clone());
        subs.push(std::thread::spawn(move || {
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = [0u8; 16384];
            while !stop.load(Ordering::Relaxed) {
                if let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    received.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        }));
    }
    let load_stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, token) = (load_stop.clone(), token.clone());
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    if get(addr, "/api/positions", &token) != 200 {
                        errors += 1;
                    }
                    lat.push(t.elapsed());
                }
                (lat, errors)
            })
        })
        .collect();
    let t0 = Instant::now();
    let loaded = phase(5);
    load_stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    let mut errors = 0;
    for c in clients {
        let (l, e) = c.join().unwrap();
        lat.extend(l);
        errors += e;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    feed.join().unwrap();
    for s in subs {
        let _ = s.join();
    }
    lat.sort();
    let p99 = lat.get(lat.len() * 99 / 100).copied().unwrap_or_default();
    println!(
        "GET /api/positions: {} requests in {elapsed:.1}s = {:.0} req/s, p99 {:.2} ms, errors {errors}",
        lat.len(),
        lat.len() as f64 / elapsed,
        p99.as_secs_f64() * 1e3
    );
    println!("500 WebSocket subscribers received {} bytes", received.load(Ordering::Relaxed));
    println!(
        "tick-to-order p99: quiet {} ns (n={}), under load {} ns (n={}), ratio {:.2} (target <= 1.2)",
        quiet.p99_ns,
        quiet.count,
        loaded.p99_ns,
        loaded.count,
        loaded.p99_ns as f64 / quiet.p99_ns.max(1) as f64
    );
    admin.shutdown();
    let _ = running.stop();
}
