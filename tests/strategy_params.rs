//! Changing a running strategy's parameters: an engine command, journaled and snapshotted like
//! any other input.

use dalal_core::config::{strategy_params, StrategySection};
use dalal_core::engine::Engine;
use dalal_core::event::{Command, EgressEvent, IngressEvent, Input, Tick};
use dalal_core::setup::{EngineSetup, StrategyKind};
use dalal_core::types::StrategyId;

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
fn every_configured_strategy_reads_back_through_its_config_entry() {
    for text in [DEFAULT, EXAMPLES] {
        let setup = setup_from(text);
        for s in &setup.strategies {
            let spec = &setup.instruments[s.instrument.index()];
            let entry = StrategySection::from_params(&spec.symbol, s.timeframe, &s.params());
            let back =
                strategy_params(&entry, spec, s.timeframe, setup.session.open, setup.session.close, &|f| f.to_string())
                    .expect("an entry made from valid parameters validates");
            assert_eq!(back, s.params());
        }
    }
}

/// The default config's first strategy is an EMA(3/8) cross. An engine configured with
/// EMA(5/13) and told before the first tick to use 3/8 trades exactly like the original; told
/// mid-run, it trades like the original from some point on and differently before.
#[test]
fn new_parameters_take_effect_as_if_configured() {
    let original = setup_from(DEFAULT);
    let first = &original.strategies[0];
    assert_eq!(
        first.kind,
        StrategyKind::EmaCross { fast: 3, slow: 8 },
        "the test assumes the default's first strategy"
    );
    let other = setup_from(&DEFAULT.replacen("fast = 3\nslow = 8", "fast = 5\nslow = 13", 1));
    assert_ne!(other.strategies[0].kind, first.kind);
    let ticks = ticks(&original, 30_000);
    let set = Input::Command(Command::SetStrategyParams { strategy: StrategyId(0), params: first.params() });

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

    // A command of the wrong kind, or with parameters no strategy can run with, changes nothing.
    let mut d = Engine::new(&original, quanta::Clock::new(), 0);
    let mut bad = first.params();
    bad.kind = StrategyKind::Bollinger { period: 20, k: 2.0 };
    let mut zero = first.params();
    zero.kind = StrategyKind::EmaCross { fast: 0, slow: 8 };
    let cmds = [bad, zero].map(|params| Input::Command(Command::SetStrategyParams { strategy: StrategyId(0), params }));
    let got = run(&mut d, cmds.into_iter().chain(ticks.iter().map(|t| Input::Tick(*t))));
    assert_eq!(got, want);
    assert_eq!(d.strategy.counters.reconfigured, 0);
}

#[test]
fn a_reconfigured_strategy_survives_a_snapshot() {
    let setup = setup_from(DEFAULT);
    let ticks = ticks(&setup, 20_000);
    let mut params = setup.strategies[0].params();
    params.kind = StrategyKind::EmaCross { fast: 2, slow: 30 };
    params.qty *= 2;
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
