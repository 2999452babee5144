//! `dalal run` on the UDP tick feed, as a thread of its own and in line on the engine thread:
//! every datagram sent becomes a tick the engine counts, and malformed ones are refused and
//! counted, never fatal.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dalal_adapters::wire::{TickDatagram, DATAGRAM_LEN};

mod common;

fn run_udp(inline: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("udp.toml");
    let text = common::DEFAULT
        .replace("summary_every_s = 5", "summary_every_s = 1")
        .replace("listen = \"127.0.0.1:9000\"", "listen = \"127.0.0.1:0\"")
        .replace("inline = false", &format!("inline = {inline}"));
    assert!(text.contains("summary_every_s = 1") && text.contains("inline ="), "the default config changed shape");
    std::fs::write(&config, text).expect("write config");
    let summary = dir.path().join("summary.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dalal"))
        .args(["run", "--feed", "udp:127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--summary-json")
        .arg(&summary)
        .env("DALAL_DATABASE_URL", "")
        .env("DALAL_ADMIN_LISTEN", "")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start dalal run");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let next = |what: &str| -> String {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("dalal run printed no {what} in time"),
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("dalal run ended before printing {what}"),
        }
    };
    let addr: SocketAddr = loop {
        let line = next("feed address");
        if let Some(a) = line.strip_prefix("UDP feed on ") {
            break a.trim().parse().expect("an address");
        }
    };

    let setup = common::setup_from(common::DEFAULT);
    let ticks = common::ticks(&setup, 3_000, 9);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("sender socket");
    let mut buf = [0u8; DATAGRAM_LEN];
    for (i, t) in ticks.iter().enumerate() {
        TickDatagram { seq: i as u64 + 1, tick: *t, sent_ns: 0 }.encode(&mut buf);
        sock.send_to(&buf, addr).expect("send");
        if i % 200 == 199 {
            // Paced in bursts so a small receive buffer is never the reason a tick is lost.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    sock.send_to(b"not a tick datagram", addr).expect("send garbage");
    // Progress lines report the ticks the engine has taken; stop once it has them all.
    let want = format!("ticks {} ", ticks.len());
    loop {
        if next("progress line").contains(&want) {
            break;
        }
    }
    let stopped = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill -INT");
    assert!(stopped.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).expect("summary")).expect("json");
    assert_eq!(s["ticks_in"], ticks.len() as u64 + 1, "{s}");
    assert_eq!(s["ticks_rejected"]["malformed"], 1, "{s}");
    assert!(s["orders"].as_u64().unwrap_or(0) > 0, "the strategies trade on UDP ticks: {s}");
}

#[test]
fn udp_feed_on_its_own_thread() {
    run_udp(false);
}

#[test]
fn udp_feed_in_line_on_the_engine_thread() {
    run_udp(true);
}
