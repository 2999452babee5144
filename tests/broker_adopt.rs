//! `adopt_positions`: a position taken at the broker before the run (outside Dalal) becomes
//! the live account's opening position, booked at the broker's average price; the account
//! then trades on from it, and at the end the engine's positions are the broker's, the
//! adopted one included. The run's journal (ticks, the adoption, every venue report) replays
//! to the same orders, fills and positions.

mod cli;

use std::collections::BTreeMap;

use cli::{command, kite_client, kite_vault, outside_buy, plain, replay_matches, trading_fake, KiteRunConfig};

#[test]
fn a_position_from_before_the_run_is_adopted_and_the_run_ends_reconciled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fake, token) = trading_fake("ZX9003", "adoptkey", "adoptsecret-77");

    // Outside Dalal: 7 INFY bought for delivery.
    outside_buy(&fake, "adoptkey", &token, "INFY", 7, None);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = kite_client(&fake, "adoptkey", &token);
    let (vault_file, key_file) = kite_vault(dir.path(), "adoptkey", "adoptsecret-77", &token);
    let cfg_path = dir.path().join("adopt.toml");
    KiteRunConfig::new()
        .account("alice", "live")
        .broker_key("poll_ms = 50")
        .broker_key("adopt_positions = true")
        .write(&fake, &cfg_path);
    let csv = dir.path().join("t.csv");
    assert!(command().args(["gen", "--ticks", "20000", "--out"]).arg(&csv).output().expect("gen").status.success());
    let json = dir.path().join("s.json");
    let journal = dir.path().join("journal");
    let o = command()
        .env("RUST_LOG", "info")
        .args(["run", "--admin-listen", "", "--config"])
        .arg(&cfg_path)
        .arg("--feed")
        .arg(format!("csv:{}", csv.display()))
        .arg("--summary-json")
        .arg(&json)
        .arg("--journal")
        .arg(&journal)
        .arg("--vault")
        .arg(&vault_file)
        .arg("--key-file")
        .arg(&key_file)
        .output()
        .expect("run");
    let out = plain(&format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)));
    assert!(o.status.success(), "{out}");
    let adopted: Vec<&str> = out.lines().filter(|l| l.contains("adopting the broker's position")).collect();
    assert_eq!(adopted.len(), 1, "one position to adopt:\n{out}");
    assert!(adopted[0].contains("INFY") && adopted[0].contains("qty=7"), "{}", adopted[0]);
    assert!(!out.contains(&token), "the access token leaked into the output");

    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("summary")).expect("json");
    let alice = s["accounts"].as_array().and_then(|a| a.iter().find(|x| x["name"] == "alice")).cloned().expect("alice");
    let positions = alice["positions"].as_array().cloned().unwrap_or_default();
    let engine_net: BTreeMap<String, i64> = positions
        .iter()
        .map(|p| (p["symbol"].as_str().unwrap_or("").to_string(), p["net_qty"].as_i64().unwrap_or(0)))
        .filter(|(_, q)| *q != 0)
        .collect();
    let broker = rt.block_on(client.positions()).expect("positions");
    let mut broker_net: BTreeMap<String, i64> = BTreeMap::new();
    for p in &broker.net {
        *broker_net.entry(p.tradingsymbol.clone()).or_default() += p.quantity;
    }
    broker_net.retain(|_, q| *q != 0);
    assert_eq!(engine_net, broker_net, "the engine's positions are the broker's, the adopted one included\n{out}");
    assert!(engine_net.get("INFY").is_some_and(|q| *q != 0), "INFY held: {engine_net:?}");

    // The journal alone gives the same session again.
    replay_matches(&cfg_path, &journal, &dir.path().join("replayed"), &s);
}
