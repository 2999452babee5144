//! Changing a running strategy's parameters: an engine command, journaled and snapshotted like
//! any other input.

use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::Engine;
use dalal_core::model::{Command, EgressEvent, IngressEvent, Input, ParamBytes, StrategyId, Tick};
use serde_json::json;

mod common;

use common::{setup_from, DEFAULT, EXAMPLES};

fn ticks(setup: &EngineSetup, n: usize) -> Vec<Tick> {
    common::ticks(setup, n, 5)
}

fn run(engine: &mut Engine, inputs: impl IntoIterator<Item = Input>) -> Vec<String> {
    let mut out = Vec::new();
    for input in inputs {
        engine.step(&IngressEvent { input, ingress_raw: 0, source: 0 }, &mut |e: EgressEvent| {
            if !matches!(e, EgressEvent::Candle(_)) {
                out.push(format!("{e:?}"))
            }
        });
    }
    out
}

#[test]
fn every_configured_strategy_reads_back_through_its_description() {
    for text in [DEFAULT, EXAMPLES] {
        let setup = setup_from(text);
        for s in &setup.strategies {
            let described = s.kind.describe(&s.params).expect("a kind describes its own parameters");
            let back = s.kind.parse(&described, &setup.strategy_env(s).expect("env")).expect("validates");
            assert_eq!(back, s.params, "{}", s.kind.name());
            let none = serde_json::Map::new();
            assert_eq!(setup.strategy_params_with(s, &s.params, &none), Ok(s.params), "{}", s.kind.name());
        }
    }
}

/// A change names the key it gets wrong, and cannot touch what is fixed.
#[test]
fn changes_are_validated_like_configuration() {
    let setup = setup_from(DEFAULT);
    let s = &setup.strategies[0];
    let change = |v: serde_json::Value| {
        let serde_json::Value::Object(m) = v else { unreachable!("test literals are objects") };
        setup.strategy_params_with(s, &s.params, &m)
    };
    for (body, key) in [
        (json!({"fast": 9}), "fast"),
        (json!({"fast": "five"}), "fast"),
        (json!({"fsat": 2}), "fsat"),
        (json!({"qty": 0}), "qty"),
        (json!({"qty": -3}), "qty"),
        (json!({"allow_short": "yes"}), "allow_short"),
        (json!({"kind": "grid"}), "kind"),
        (json!({"instrument": "TCS"}), "instrument"),
    ] {
        assert_eq!(change(body.clone()).map_err(|e| e.key), Err(key.to_string()), "{body}");
    }
    let p = change(json!({"fast": 2, "qty": 100})).expect("valid change");
    assert_eq!(p.qty, 100);
    assert_eq!(s.kind.describe(&p), Some(json!({"fast": 2, "slow": 8})));
}

/// The default config's first strategy is an EMA(3/8) cross. An engine configured with
/// EMA(5/13) and told before the first tick to use 3/8 trades exactly like the original; told
/// mid-run, it trades like the original from some point on and differently before.
#[test]
fn new_parameters_take_effect_as_if_configured() {
    let original = setup_from(DEFAULT);
    let first = &original.strategies[0];
    assert_eq!(
        (first.kind.name(), first.kind.describe(&first.params)),
        ("ema_cross", Some(json!({"fast": 3, "slow": 8}))),
        "the test assumes the default's first strategy"
    );
    let other = setup_from(&DEFAULT.replacen("fast = 3\nslow = 8", "fast = 5\nslow = 13", 1));
    assert_ne!(other.strategies[0].params, first.params);
    let ticks = ticks(&original, 30_000);
    let set = Input::Command(Command::SetStrategyParams { strategy: StrategyId(0), params: first.params });

    let mut a = Engine::new(&original, quanta::Clock::new(), 0);
    let want = run(&mut a, ticks.iter().map(|t| Input::Tick(*t)));
    let mut b = Engine::new(&other, quanta::Clock::new(), 0);
    let got = run(&mut b, std::iter::once(set).chain(ticks.iter().map(|t| Input::Tick(*t))));
    assert!(want.len() > 20, "the strategies trade");
    assert_eq!(got, want, "parameters set before the first tick act as configured ones");
    assert_eq!(b.strategy.counters.reconfigured, 1);

    let mut c = Engine::new(&other, quanta::Clock::new(), 0);
    let unchanged = run(&mut c, ticks.iter().map(|t| Input::Tick(*t)));
    assert_ne!(unchanged, want, "the two parameter sets trade differently");

    // Parameters of another kind, ones that do not validate, bytes that do not decode, a size
    // off the lot and an unknown strategy change nothing, and are counted.
    let mut d = Engine::new(&original, quanta::Clock::new(), 0);
    let bollinger = original.strategies.iter().find(|s| s.kind.name() == "bollinger").expect("default has one");
    let other_kind = bollinger.params;
    let fast_zero =
        { ParamBytes::new(&[0, 8]).map(|bytes| dalal_core::model::StrategyParams { bytes, ..first.params }) };
    let garbage = ParamBytes::new(&[0xff; 9]).map(|bytes| dalal_core::model::StrategyParams { bytes, ..first.params });
    let zero_qty = dalal_core::model::StrategyParams { qty: 0, ..first.params };
    let mut cmds: Vec<Input> = [Some(other_kind), fast_zero, garbage, Some(zero_qty)]
        .into_iter()
        .flatten()
        .map(|params| Input::Command(Command::SetStrategyParams { strategy: StrategyId(0), params }))
        .collect();
    cmds.push(Input::Command(Command::SetStrategyParams { strategy: StrategyId(999), params: first.params }));
    assert_eq!(cmds.len(), 5);
    let got = run(&mut d, cmds.into_iter().chain(ticks.iter().map(|t| Input::Tick(*t))));
    assert_eq!(got, want);
    assert_eq!(d.strategy.counters.reconfigured, 0);
    assert_eq!(d.strategy.counters.reconfigure_refused, 5);
}

#[test]
fn a_reconfigured_strategy_survives_a_snapshot() {
    let setup = setup_from(DEFAULT);
    let ticks = ticks(&setup, 20_000);
    let s = &setup.strategies[0];
    let serde_json::Value::Object(change) = json!({"fast": 2, "slow": 30, "qty": s.params.qty * 2}) else {
        unreachable!("an object literal")
    };
    let params = setup.strategy_params_with(s, &s.params, &change).expect("valid change");
    let set = Input::Command(Command::SetStrategyParams { strategy: StrategyId(0), params });
    let inputs: Vec<Input> = ticks[..5_000]
        .iter()
        .map(|t| Input::Tick(*t))
        .chain([set])
        .chain(ticks[5_000..].iter().map(|t| Input::Tick(*t)))
        .collect();
    let mut whole = Engine::new(&setup, quanta::Clock::new(), 0);
    let all = run(&mut whole, inputs.iter().copied());

    let mut first = Engine::new(&setup, quanta::Clock::new(), 0);
    let before = run(&mut first, inputs[..10_000].iter().copied());
    let bytes = first.save_snapshot().expect("snapshot");
    let mut second = Engine::new(&setup, quanta::Clock::new(), 0);
    second.restore_snapshot(&bytes).expect("restore");
    let after = run(&mut second, inputs[10_000..].iter().copied());
    assert_eq!([before, after].concat(), all, "the new parameters live on in the snapshot");
}
