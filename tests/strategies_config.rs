//! `config/examples/strategies.toml`: it parses and validates into the strategies it
//! describes, each of them trades over a synthetic session, and a bad strategy key is named.

use dalal_adapters::{generate_session, SyntheticConfig, SyntheticInstrument};
use dalal_config::Config;
use dalal_core::engine::backtest;
use dalal_core::engine::setup::EngineSetup;
use dalal_core::model::{IstTime, OrderStatus, OrderType, StrategyId, Timestamp};
use serde_json::json;

const EXAMPLE: &str = include_str!("../config/examples/strategies.toml");

fn setup() -> EngineSetup {
    let c: Config = toml::from_str(EXAMPLE).expect("example config parses");
    c.validate().expect("example config validates")
}

#[test]
fn example_validates_into_one_account_per_new_strategy() {
    let s = setup();
    assert_eq!(
        described(&s),
        vec![
            json!({"range_minutes": 15, "exit_time": "15:15", "range_stop": true}),
            json!({"period": 10, "multiplier": 3.0, "exit_time": "15:15"}),
            json!({"band_bps": 30, "exit_time": "15:15"}),
            json!({"levels": 4, "step_bps": 20, "max_position": 400, "exit_time": "15:15"}),
        ]
    );
    let names: Vec<_> = s.strategies.iter().map(|x| x.kind.name()).collect();
    assert_eq!(names, ["orb", "supertrend", "vwap_reversion", "grid"]);
    let accounts: Vec<_> = s.strategies.iter().map(|x| x.account.index()).collect();
    assert_eq!(accounts, [0, 1, 2, 3]);
    let (slots, failed) = s.strategy_slots();
    assert_eq!((slots.len(), failed.len()), (4, 0));
}

#[test]
fn defaults_apply_when_keys_are_left_out() {
    let text = EXAMPLE
        .replace("range_minutes = 15", "")
        .replace("exit_time = \"15:15\"", "")
        .replace("range_stop = true", "")
        .replace("period = 10", "")
        .replace("multiplier = 3.0", "")
        .replace("band_bps = 30", "")
        .replace("levels = 4", "")
        .replace("step_bps = 20", "")
        .replace("max_position = 400", "");
    let c: Config = toml::from_str(&text).expect("parses");
    // Left out, a grid's largest position is levels × qty, worked out when it is built.
    assert_eq!(
        described(&c.validate().expect("validates")),
        vec![
            json!({"range_minutes": 15, "exit_time": "15:15", "range_stop": true}),
            json!({"period": 10, "multiplier": 3.0, "exit_time": "15:15"}),
            json!({"band_bps": 50, "exit_time": "15:15"}),
            json!({"levels": 3, "step_bps": 20, "max_position": null, "exit_time": "15:15"}),
        ]
    );
}

/// Each strategy's parameters as its kind describes them.
fn described(s: &EngineSetup) -> Vec<serde_json::Value> {
    s.strategies.iter().map(|x| x.kind.describe(&x.params).expect("own parameters")).collect()
}

/// A full session (09:15–15:30 IST, 2026-11-20) of the five instruments, one tick every 100 ms.
fn session(s: &EngineSetup, seed: u64) -> Vec<dalal_core::model::Tick> {
    let instruments =
        s.instruments.iter().zip(&s.ref_prices).map(|(i, p)| SyntheticInstrument::from_spec(i, *p)).collect();
    generate_session(&SyntheticConfig { seed, instruments }, Timestamp(1_795_146_300_000_000_000), 225_000, 100_000_000)
        .expect("synthetic session")
}

#[test]
fn every_strategy_places_orders_over_a_session() {
    for seed in [4, 11] {
        session_trades(seed);
    }
}

fn session_trades(seed: u64) {
    let s = setup();
    let ticks = session(&s, seed);
    let (engine, blotter) = backtest::run(&s, &ticks, 0);
    let by = |k: usize| blotter.orders.iter().filter(move |o| o.intent.strategy.index() == k);
    for (k, st) in s.strategies.iter().enumerate() {
        let n = by(k).count();
        let filled = by(k).filter(|o| o.status == OrderStatus::Filled).count();
        assert!(filled > 0, "seed {seed} {}: {n} orders, none filled", st.kind.name());
        assert!(by(k).all(|o| o.intent.instrument == st.instrument && o.intent.account == st.account));
    }
    // ORB: one entry, a stop at the other side of the range, and flat by the close.
    let orb: Vec<_> = by(0).collect();
    assert!(orb.iter().any(|o| o.intent.order_type == OrderType::StopMarket), "seed {seed}: orb rests a stop: {orb:?}");
    assert!(by(0).filter(|o| o.intent.order_type == OrderType::Market).count() <= 2, "one entry and one exit");
    // The grid works limit orders on SBIN's 0.05 grid; its market orders are the exit, from
    // 15:15, in pieces no larger than qty.
    let tick = s.instruments[s.strategies[3].instrument.index()].tick_size;
    assert!(by(3).filter(|o| o.intent.order_type == OrderType::Limit).count() >= 8, "the ladder is 8 orders");
    assert!(by(3).filter(|o| o.intent.order_type == OrderType::Limit).all(|o| o.intent.price.on_grid(tick)));
    let exit = IstTime::hm(15, 15).0;
    assert!(by(3)
        .filter(|o| o.intent.order_type != OrderType::Limit)
        .all(|o| o.intent.order_type == OrderType::Market
            && o.intent.qty.0 <= 100
            && o.created.ist_time_of_day() >= exit));
    // Inside their accounts' limits, none of them is refused by risk.
    for (k, st) in s.strategies.iter().enumerate() {
        let refused: Vec<_> = by(k).filter_map(|o| o.reject).collect();
        assert!(refused.is_empty(), "seed {seed} {}: refused {refused:?}", st.kind.name());
    }
    // Every strategy is flat at the end of the day by its own exits: the 15:20 MIS square-off
    // finds nothing to close.
    assert!(blotter.orders.iter().all(|o| o.intent.strategy != StrategyId::SYSTEM), "seed {seed}: square-off orders");
    for (k, st) in s.strategies.iter().enumerate() {
        let net = engine.order.portfolio().net(st.account.index(), st.instrument.index());
        assert_eq!(net, 0, "seed {seed}: strategy {k}");
    }
}

#[test]
fn bad_strategy_keys_are_named() {
    let cases = [
        ("range_minutes = 15", "range_minutes = 0", "accounts[0].strategies[0].range_minutes"),
        (
            "timeframe = \"1m\"               # time",
            "timeframe = \"2m\" # time",
            "accounts[0].strategies[0].range_minutes",
        ),
        (
            "exit_time = \"15:15\"            # default \"15:15\";",
            "exit_time = \"09:25\" #",
            "accounts[0].strategies[0].exit_time",
        ),
        (
            "exit_time = \"15:15\"            # default \"15:15\";",
            "exit_time = \"3pm\" #",
            "accounts[0].strategies[0].exit_time",
        ),
        (
            "exit_time = \"15:15\"            # default \"15:15\": cancel",
            "exit_time = \"16:00\" #",
            "accounts[3].strategies[0].exit_time",
        ),
        ("default 3\nexit_time = \"15:15\"", "default 3\nexit_time = \"9:00\"", "accounts[1].strategies[0].exit_time"),
        (
            "default 50\nexit_time = \"15:15\"",
            "default 50\nexit_time = \"25:00\"",
            "accounts[2].strategies[0].exit_time",
        ),
        ("multiplier = 3.0", "multiplier = -1.0", "accounts[1].strategies[0].multiplier"),
        ("period = 10", "period = 0", "accounts[1].strategies[0].period"),
        ("band_bps = 30", "band_bps = 0", "accounts[2].strategies[0].band_bps"),
        ("levels = 4", "levels = 0", "accounts[3].strategies[0].levels"),
        ("step_bps = 20", "step_bps = 2500", "accounts[3].strategies[0].step_bps"),
        ("max_position = 400", "max_position = 50", "accounts[3].strategies[0].max_position"),
        ("kind = \"grid\"", "kind = \"grd\"", "accounts[3].strategies[0].kind"),
    ];
    for (from, to, key) in cases {
        assert_eq!(EXAMPLE.matches(from).count(), 1, "{from}");
        let c: Config = toml::from_str(&EXAMPLE.replace(from, to)).expect("parses");
        let e = c.validate().expect_err(to);
        assert_eq!(e.key, key, "{to}: {e}");
    }
}
