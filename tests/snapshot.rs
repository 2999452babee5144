//! Engine snapshots: a state saved between two events and restored into a fresh engine goes on
//! exactly as the uninterrupted engine does.

use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::snapshot::SnapshotError;
use dalal_core::engine::summary::RunSummary;
use dalal_core::engine::Engine;
use dalal_core::model::{EgressEvent, IngressEvent, Input, Tick};

mod common;

use common::{setup_from, DEFAULT, EXAMPLES};

fn ticks(setup: &EngineSetup, n: usize) -> Vec<Tick> {
    common::ticks(setup, n, 11)
}

fn step(engine: &mut Engine, t: &Tick, out: &mut Vec<String>) {
    let ev = IngressEvent { input: Input::Tick(*t), ingress_raw: 0, source: 0 };
    engine.step(&ev, &mut |e: EgressEvent| out.push(format!("{e:?}")));
}

fn summary(engine: &Engine, setup: &EngineSetup) -> String {
    serde_json::to_string(&RunSummary::from_engine(engine, setup, false)).expect("summary serializes")
}

#[test]
fn a_restored_engine_continues_exactly() {
    for text in [DEFAULT, EXAMPLES] {
        restored_engine_continues(text);
    }
}

fn restored_engine_continues(text: &str) {
    let setup = setup_from(text);
    let ticks = ticks(&setup, 60_000);
    let mut whole = Engine::new(&setup, quanta::Clock::new(), 0);
    let mut all = Vec::new();
    whole.apply_initial(&setup, &mut |e| all.push(format!("{e:?}")));
    for t in &ticks {
        step(&mut whole, t, &mut all);
    }
    assert!(all.iter().filter(|e| e.starts_with("Fill")).count() > 5, "the strategies should trade");

    for cut in [1, 7_500, 30_000, 59_999] {
        let mut first = Engine::new(&setup, quanta::Clock::new(), 0);
        let mut before = Vec::new();
        first.apply_initial(&setup, &mut |e| before.push(format!("{e:?}")));
        for t in &ticks[..cut] {
            step(&mut first, t, &mut before);
        }
        let bytes = first.save_snapshot().expect("default strategies can be snapshotted");
        let header = first.snapshot_header();
        drop(first);

        let mut second = Engine::new(&setup, quanta::Clock::new(), 0);
        let restored = second.restore_snapshot(&bytes).expect("snapshot restores");
        assert_eq!(restored, header);
        assert_eq!(second.emitted() as usize, before.len(), "emitted count travels with the state");
        let mut after = Vec::new();
        for t in &ticks[cut..] {
            step(&mut second, t, &mut after);
        }
        assert_eq!(&all[before.len()..], &after[..], "cut at {cut}: the events after the snapshot differ");
        assert_eq!(summary(&second, &setup), summary(&whole, &setup), "cut at {cut}: final state differs");
        assert_eq!(second.applied(), whole.applied());
        assert_eq!(second.emitted(), whole.emitted());
    }
}

#[test]
fn a_snapshot_of_another_config_or_damaged_bytes_is_refused_and_changes_nothing() {
    let setup = setup_from(DEFAULT);
    let ticks = ticks(&setup, 5_000);
    let mut engine = Engine::new(&setup, quanta::Clock::new(), 0);
    let mut out = Vec::new();
    for t in &ticks {
        step(&mut engine, t, &mut out);
    }
    let bytes = engine.save_snapshot().expect("snapshot");

    let other = setup_from(&DEFAULT.replacen("slow = 13", "slow = 14", 1));
    assert_ne!(other, setup, "the second config must differ");
    let mut fresh = Engine::new(&other, quanta::Clock::new(), 0);
    assert!(matches!(fresh.restore_snapshot(&bytes), Err(SnapshotError::OtherConfig { .. })));

    let mut fresh = Engine::new(&setup, quanta::Clock::new(), 0);
    let before = summary(&fresh, &setup);
    for cut in [0, 4, 8, 20, bytes.len() / 2, bytes.len() - 1] {
        assert!(fresh.restore_snapshot(&bytes[..cut]).is_err(), "a snapshot cut at {cut} must be refused");
    }
    let mut flipped = bytes.clone();
    flipped[0] ^= 1;
    assert!(matches!(fresh.restore_snapshot(&flipped), Err(SnapshotError::BadMagic)));
    assert_eq!(summary(&fresh, &setup), before, "a refused snapshot leaves the engine as it was");
    assert_eq!(fresh.applied(), 0);
}
