//! A pipelined engine trading live through a Kite login: the broker gateway's tap runs on the
//! order thread, venue reports come back through the ingress ring, and order-stage feedback
//! travels the same way, so the journal records the interleaving that actually happened.
//! At the end the engine's positions are the broker's, and `dalal replay` of the journal gives
//! the same orders, fills and positions.

mod cli;

use std::collections::BTreeMap;

use cli::{command, kite_client, kite_vault, plain, replay_matches, trading_fake, KiteRunConfig};
use dalal_core::model::{FeedbackRoute, Input};

#[test]
fn a_pipelined_live_run_replays_from_its_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fake, token) = trading_fake("ZX9004", "pipekey", "pipesecret-31");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = kite_client(&fake, "pipekey", &token);
    let (vault_file, key_file) = kite_vault(dir.path(), "pipekey", "pipesecret-31", &token);
    let cfg_path = dir.path().join("pipelined.toml");
    KiteRunConfig::new()
        .placement("pipelined")
        .account("alice", "live")
        .broker_key("poll_ms = 50")
        .write(&fake, &cfg_path);
    let csv = dir.path().join("t.csv");
    assert!(command().args(["gen", "--ticks", "20000", "--out"]).arg(&csv).output().expect("gen").status.success());
    let json = dir.path().join("s.json");
    let journal = dir.path().join("journal");
    let o = command()
        .env("RUST_LOG", "info")
        .args(["run", "--admin-listen", "", "--snapshot-every", "20ms", "--config"])
        .arg(&cfg_path)
        .arg("--feed")
        .arg(format!("csv:{}", csv.display()))
        .arg("--summary-json")
        .arg(&json)
        .arg("--journal")
        .arg(&journal)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--vault")
        .arg(&vault_file)
        .arg("--key-file")
        .arg(&key_file)
        .output()
        .expect("run");
    let out = plain(&format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)));
    assert!(o.status.success(), "{out}");
    assert!(out.contains("placement=Pipelined"), "the run is pipelined:\n{out}");
    assert!(!out.contains(&token), "the access token leaked into the output");

    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("summary")).expect("json");
    let alice = s["accounts"].as_array().and_then(|a| a.iter().find(|x| x["name"] == "alice")).cloned().expect("alice");
    let engine_net: BTreeMap<String, i64> = alice["positions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p| (p["symbol"].as_str().unwrap_or("").to_string(), p["net_qty"].as_i64().unwrap_or(0)))
        .filter(|(_, q)| *q != 0)
        .collect();
    let bought: i64 =
        alice["positions"].as_array().map(|ps| ps.iter().map(|p| p["bought"].as_i64().unwrap_or(0)).sum()).unwrap_or(0);
    assert!(bought > 0, "the live account traded through the broker: {alice}\n{out}");
    let broker = rt.block_on(client.positions()).expect("positions");
    let mut broker_net: BTreeMap<String, i64> = BTreeMap::new();
    for p in &broker.net {
        *broker_net.entry(p.tradingsymbol.clone()).or_default() += p.quantity;
    }
    broker_net.retain(|_, q| *q != 0);
    assert_eq!(engine_net, broker_net, "the engine's positions are the broker's\n{out}");

    // The journal holds the venue's reports and the feedback where each landed.
    let records = dalal_persistence::journal::read_journal(&journal, false).expect("journal reads").records;
    let count = |f: fn(&Input) -> bool| records.iter().filter(|r| f(&r.input)).count();
    assert_eq!(records.first().map(|r| r.input), Some(Input::Route(FeedbackRoute::Journaled)));
    assert!(count(|i| matches!(i, Input::VenueReport(_))) > 0, "venue reports journaled");
    assert!(count(|i| matches!(i, Input::Feedback(_))) > 0, "feedback journaled");
    replay_matches(&cfg_path, &journal, &dir.path().join("replayed"), &s);
}
