//! End-to-end checks of the engine through its public crates: determinism, fills against
//! positions, fused against pipelined placement, and the command line on bad input.

use std::collections::HashMap;
use std::process::Command;

use dalal_config::{Config, PlacementKind, WaitKind};
use dalal_core::engine::backtest::{self, Blotter};
use dalal_core::engine::placement::{EgressObserver, PlacementConfig, Running};
use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::stats::LiveStats;
use dalal_core::engine::Engine;
use dalal_core::model::{EgressEvent, Input, Tick};
use dalal_core::model::{Side, Timestamp};

mod common;

use common::{ticks, DEFAULT};

fn setup() -> EngineSetup {
    common::setup_from(DEFAULT)
}

fn order_key(b: &Blotter) -> Vec<String> {
    b.orders.iter().map(|o| format!("{o:?}")).collect()
}

#[test]
fn backtest_is_deterministic_and_positions_equal_fills() {
    let s = setup();
    let t = ticks(&s, 60_000, 7);
    let (e1, b1) = backtest::run(&s, &t, 0);
    let (_e2, b2) = backtest::run(&s, &t, 1);
    assert!(b1.fills.len() > 20, "the demo strategies should trade: {} fills", b1.fills.len());
    assert_eq!(order_key(&b1), order_key(&b2), "stage timing must not change results");
    assert_eq!(b1.fills, b2.fills);

    for o in &b1.orders {
        let strategy = &s.strategies[o.intent.strategy.index()];
        assert_eq!(o.intent.instrument, strategy.instrument, "orders trade their strategy's instrument");
        assert_eq!(o.intent.account, strategy.account);
    }
    let mut net: HashMap<(usize, usize), i64> = HashMap::new();
    for f in &b1.fills {
        let q = f.qty.0 as i64 * if f.side == Side::Buy { 1 } else { -1 };
        *net.entry((f.account.index(), f.instrument.index())).or_default() += q;
        let o = b1.order(f.order).expect("fill of a known order");
        assert!(o.filled <= o.intent.qty, "no fill beyond the order quantity");
    }
    let pf = e1.order.portfolio();
    for a in 0..s.accounts.len() {
        for i in 0..s.instruments.len() {
            assert_eq!(pf.net(a, i), net.get(&(a, i)).copied().unwrap_or(0), "account {a} instrument {i}");
        }
    }
}

#[test]
fn one_accounts_kill_switch_leaves_the_others_trading() {
    let mut s = setup();
    s.accounts[0].kill_switch = true;
    let t = ticks(&s, 60_000, 7);
    let (e, b) = backtest::run(&s, &t, 0);
    assert!(b.fills.iter().all(|f| f.account.index() != 0), "killed account must not trade");
    assert!(b.fills.iter().any(|f| f.account.index() == 1));
    assert!(e.risk.counters.rejected[dalal_core::model::RejectReason::AccountKillSwitch.index()] > 0);
}

#[derive(Default)]
struct Collect(Blotter);

impl EgressObserver for Collect {
    fn on_event(&mut self, ev: &EgressEvent) {
        self.0.on_event(ev)
    }
}

fn run_placed(s: &EngineSetup, t: &[Tick], placement: PlacementKind) -> (Blotter, Engine) {
    let clock = quanta::Clock::new();
    let engine = Engine::new(s, clock.clone(), 1);
    let cfg = PlacementConfig {
        placement,
        wait: WaitKind::Yield,
        sleep: std::time::Duration::from_micros(20),
        // Core 9999 does not exist: the engine must warn and run unpinned, not panic.
        cores: if placement == PlacementKind::Fused { vec![9999] } else { vec![9999, 9998, 9997, 9996] },
        ring_size: 1024,
    };
    let mut running =
        Running::start(engine, &cfg, Collect::default(), std::sync::Arc::new(LiveStats::new(s.accounts.len())));
    for tick in t {
        running.publish(Input::Tick(*tick));
        // Paced input: each tick, and the fills it causes, settle before the next.
        running.wait_idle();
    }
    let stopped = running.stop();
    assert!(stopped.pinning.iter().all(|p| !p.pinned));
    (stopped.observer.0, stopped.engine)
}

#[test]
fn fused_and_pipelined_produce_the_same_orders() {
    let s = setup();
    let t = ticks(&s, 8_000, 11);
    let (_, reference) = backtest::run(&s, &t, 0);
    let (fused, ef) = run_placed(&s, &t, PlacementKind::Fused);
    let (piped, ep) = run_placed(&s, &t, PlacementKind::Pipelined);
    assert!(!reference.orders.is_empty(), "the test input must produce orders");
    let strip =
        |b: &Blotter| b.orders.iter().map(|o| (o.id, o.intent, o.status, o.filled, o.filled_value)).collect::<Vec<_>>();
    assert_eq!(strip(&fused), strip(&reference));
    assert_eq!(strip(&piped), strip(&reference));
    assert_eq!(fused.fills, reference.fills);
    assert_eq!(piped.fills, reference.fills);
    assert_eq!(ef.candle.counters.ticks_in, t.len() as u64);
    assert_eq!(ep.candle.counters.ticks_in, t.len() as u64);
    // Every stage recorded its own latency, and orders their tick-to-order latency.
    let l = ep.all_latencies();
    assert!(!l.candle.is_empty() && !l.strategy.is_empty() && !l.risk.is_empty() && !l.order.is_empty());
    assert!(!l.tick_to_order.is_empty());
}

/// A pipelined engine whose rings hold the fewest slots allowed, fed a burst without pacing: feedback from the
/// order thread outruns the first stage's ring, which must neither lock the cycle
/// (candle → strategy → risk → order → candle) nor lose or reorder feedback. Fills still
/// equal positions, and every fill's order is known.
#[test]
fn pipelined_feedback_on_a_tiny_ring_neither_locks_nor_loses() {
    let s = setup();
    let t = ticks(&s, 30_000, 5);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let s2 = s.clone();
    std::thread::spawn(move || {
        let engine = Engine::new(&s2, quanta::Clock::new(), 1);
        let cfg = PlacementConfig {
            placement: PlacementKind::Pipelined,
            wait: WaitKind::Yield,
            sleep: std::time::Duration::from_micros(20),
            cores: vec![],
            ring_size: dalal_core::engine::placement::MIN_RING,
        };
        let mut running =
            Running::start(engine, &cfg, Collect::default(), std::sync::Arc::new(LiveStats::new(s2.accounts.len())));
        for tick in &t {
            running.publish(Input::Tick(*tick));
        }
        running.wait_idle();
        let stopped = running.stop();
        let _ = done_tx.send((stopped.observer.0, stopped.engine));
    });
    let (blotter, engine) =
        done_rx.recv_timeout(std::time::Duration::from_secs(120)).expect("the pipeline locked up on a full ring");
    assert!(blotter.fills.len() > 20, "the burst should trade: {} fills", blotter.fills.len());
    let mut net: HashMap<(usize, usize), i64> = HashMap::new();
    for f in &blotter.fills {
        let q = f.qty.0 as i64 * if f.side == Side::Buy { 1 } else { -1 };
        *net.entry((f.account.index(), f.instrument.index())).or_default() += q;
        assert!(blotter.order(f.order).is_some(), "fill of a known order");
    }
    let pf = engine.order.portfolio();
    for a in 0..s.accounts.len() {
        for i in 0..s.instruments.len() {
            let n = net.get(&(a, i)).copied().unwrap_or(0);
            assert_eq!(pf.net(a, i), n, "account {a} instrument {i}");
            // Risk knows positions only through feedback: it saw every fill, in order.
            let e = engine.risk.exposure(a, i).expect("known slot");
            assert_eq!(e.position.net.0, n, "risk's view of account {a} instrument {i}");
            assert_eq!((e.working_buy, e.working_sell), (0, 0), "nothing works after the run settles");
        }
    }
}

fn dalal() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dalal"));
    // These tests are about the engine; the store has its own.
    c.env("DALAL_DATABASE_URL", "");
    c.env("DALAL_ADMIN_LISTEN", "");
    c
}

#[test]
fn cli_backtest_counts_bad_lines_and_is_byte_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ticks.csv");
    let s = setup();
    let t = ticks(&s, 20_000, 3);
    let symbols = dalal_adapters::SymbolTable::new(&s.instruments).expect("symbols");
    dalal_adapters::write_ticks_csv(&data, &t, &symbols).expect("write");
    let mut text = std::fs::read_to_string(&data).expect("read");
    let last_ts = t.last().map(|x| x.ts.0).unwrap_or(0);
    text.push_str("garbage line\n");
    text.push_str(&format!("{},NOSUCH,100.00,1\n", last_ts));
    text.push_str(&format!("{},RELIANCE,NaN,1\n", last_ts));
    text.push_str(&format!("{},RELIANCE,-5.00,1\n", last_ts));
    text.push_str(&format!("{},RELIANCE,1420.00,0\n", last_ts));
    text.push_str(&format!("{},RELIANCE,1420.03,1\n", last_ts));
    text.push_str(&format!("{},RELIANCE,1420.00,1\n", last_ts - 1_000_000_000));
    text.push_str(&format!("{},RELIANCE,1420.00,1\n", last_ts + 1));
    std::fs::write(&data, text).expect("write");
    let run = |out: &str| {
        let o = dalal()
            .args(["backtest", "--config", "config/default.toml", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(dir.path().join(out))
            .output()
            .expect("run dalal");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let stdout = run("a");
    run("b");
    assert!(stdout.contains("M ticks/s") && stdout.contains("file load"), "{stdout}");
    for f in ["orders.csv", "fills.csv", "summary.json"] {
        let a = std::fs::read(dir.path().join("a").join(f)).expect("a");
        let b = std::fs::read(dir.path().join("b").join(f)).expect("b");
        assert_eq!(a, b, "{f} differs between runs");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("a/summary.json")).expect("summary")).expect("json");
    let rej = &summary["ticks_rejected"];
    for (reason, n) in [
        ("malformed", 1),
        ("unknown_symbol", 1),
        ("non_positive_price", 2),
        ("non_positive_qty", 1),
        ("off_tick_grid", 1),
        ("time_backwards", 1),
    ] {
        assert_eq!(rej[reason], n, "{reason}: {rej}");
    }
    assert_eq!(summary["ticks_in"], 20_000 + 8);
    assert_eq!(summary["ticks_accepted"], 20_000 + 1);
    assert_eq!(summary["accounts"].as_array().map(|a| a.len()), Some(3));
}

#[test]
fn cli_bad_config_names_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (DEFAULT.replace("fast = 3\nslow = 8", "fast = 9\nslow = 8"), "accounts[0].strategies[0].fast"),
        (DEFAULT.replace("instrument = \"TCS\"", "instrument = \"NOPE\""), "accounts[0].strategies[1].instrument"),
        (DEFAULT.replace("ring_size = 65536", "ring_size = 1000"), "engine.ring_size"),
        (DEFAULT.replace("placement = \"fused\"", "placement = \"sideways\""), "placement"),
        (DEFAULT.replace("[risk]\n", "[risk]\nbogus = 1\n"), "bogus"),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let p = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&p, text).expect("write");
        let o = dalal().args(["run", "--duration", "1s", "--config"]).arg(&p).output().expect("run");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "case {i} should fail");
        assert!(err.contains(key), "case {i}: error should name {key}: {err}");
    }
}

#[test]
fn cli_run_prints_and_writes_a_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("summary.json");
    let o = dalal().args(["run", "--duration", "3s", "--summary-json"]).arg(&json).output().expect("run");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("summary") && out.contains("tick→order"), "{out}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("parse");
    assert!(v["ticks_in"].as_u64().unwrap_or(0) > 1000, "{v}");
    assert!(v["latency"]["candle"]["count"].as_u64().unwrap_or(0) > 0);
}

#[test]
fn quotes_reach_the_venue_and_market_orders_take_the_touch() {
    let text = std::fs::read_to_string("config/backtest.toml").expect("config");
    let c: Config = toml::from_str(&text).expect("parses");
    let s = c.validate().expect("validates");
    let mut e = Engine::new(&s, quanta::Clock::new(), 0);
    let mut fills = Vec::new();
    let inst = s.instruments[0].id;
    let ts = Timestamp(1_795_146_300_000_000_000 + 60_000_000_000);
    let mut step = |e: &mut Engine, input: Input| {
        e.step(&dalal_core::model::IngressEvent { input, ingress_raw: 0, source: 0 }, &mut |x| {
            if let EgressEvent::Fill(f) = x {
                fills.push(f)
            }
        })
    };
    use dalal_core::model::{Price, Qty};
    step(&mut e, Input::Tick(Tick { instrument: inst, ts, price: Price(142_000), qty: Qty(10) }));
    step(
        &mut e,
        Input::Quote(dalal_core::model::Quote { instrument: inst, ts, bid: Price(141_990), ask: Price(142_020) }),
    );
    // A crossed quote is refused and the good one stays in force.
    step(
        &mut e,
        Input::Quote(dalal_core::model::Quote { instrument: inst, ts, bid: Price(142_500), ask: Price(142_000) }),
    );
    let intent = dalal_core::model::OrderIntent::market(
        dalal_core::model::AccountId(0),
        dalal_core::model::StrategyId(0),
        inst,
        Side::Buy,
        Qty(5),
    );
    step(&mut e, Input::Command(dalal_core::model::Command::Place { intent }));
    assert_eq!(fills.len(), 1, "{fills:?}");
    assert_eq!(fills[0].price, Price(142_020));
    assert_eq!(e.candle.counters.quotes, 1);
    assert_eq!(e.candle.counters.quotes_rejected, 1);
}
