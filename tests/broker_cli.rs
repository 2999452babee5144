//! `dalal broker keygen|add|list|remove` as an operator runs them: secrets go in on standard
//! input and never come out — not in the vault file, the listing, or the logs (checked by
//! searching every output for the plaintext).

mod cli;
#[path = "../brokers/tests/support/mod.rs"]
mod support;
use cli::{dalal, text};
use support::same;

const API_SECRET: &str = "kite-secret-c0ffee-5a5a5a";
const ACCESS_TOKEN: &str = "access-token-deadbeef-0042";

#[test]
fn broker_logins_are_managed_without_a_secret_ever_showing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();

    let no_key = dalal(d, &["broker", "list"], "");
    assert!(!no_key.status.success());
    assert!(text(&no_key).contains("no master key") && text(&no_key).contains("keygen"), "{}", text(&no_key));

    let mut outputs = Vec::new();
    let keygen = dalal(d, &["broker", "keygen"], "");
    assert!(keygen.status.success(), "{}", text(&keygen));
    outputs.push(text(&keygen));

    let add = dalal(
        d,
        &[
            "broker",
            "add",
            "alice-kite",
            "--kind",
            "kite",
            "--id",
            "api_key=kiteapikey",
            "--secret",
            "api_secret",
            "--secret",
            "access_token",
        ],
        &format!("{API_SECRET}\n{ACCESS_TOKEN}\n"),
    );
    assert!(add.status.success(), "{}", text(&add));
    outputs.push(text(&add));

    let missing = dalal(
        d,
        &["broker", "add", "bob", "--kind", "angel", "--id", "api_key=k", "--id", "client_code=C1", "--secret", "mpin"],
        "1234\n",
    );
    assert!(!missing.status.success());
    assert!(text(&missing).contains("totp_seed"), "names what is missing: {}", text(&missing));
    outputs.push(text(&missing));

    let list = dalal(d, &["broker", "list"], "");
    assert!(list.status.success(), "{}", text(&list));
    let shown = text(&list);
    assert!(shown.contains("alice-kite") && shown.contains("api_key=kiteapikey"), "{shown}");
    assert!(shown.contains("api_secret=****5a5a") && shown.contains("access_token=****0042"), "masked: {shown}");
    outputs.push(shown);
    let json = dalal(d, &["broker", "list", "--json"], "");
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("list --json is JSON");
    assert_eq!(parsed[0]["kind"], "kite");
    outputs.push(text(&json));

    let vault = std::fs::read(d.join("data/brokers.vault")).expect("vault written");
    let vault = String::from_utf8_lossy(&vault).to_string();
    for plain in [API_SECRET, ACCESS_TOKEN] {
        assert!(!vault.contains(plain), "{plain} in clear in the vault");
        for o in &outputs {
            assert!(!o.contains(plain), "{plain} in a command's output or logs: {o}");
        }
    }

    let rm = dalal(d, &["broker", "remove", "alice-kite"], "");
    assert!(rm.status.success(), "{}", text(&rm));
    let again = dalal(d, &["broker", "remove", "alice-kite"], "");
    assert!(!again.status.success() && text(&again).contains("no broker login"), "{}", text(&again));
    assert!(text(&dalal(d, &["broker", "list"], "")).contains("no broker logins"));
}

/// `dalal broker decode` prints, line for line, what kiteconnect's parser printed for the
/// fixture frames; a line that is not a frame is an error in its place, the rest still decode.
#[test]
fn decode_prints_what_the_official_client_prints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("brokers/tests/fixtures");
    let frames = std::fs::read_to_string(fixtures.join("kite_ticker_frames.hex")).expect("fixture");
    let expected = std::fs::read_to_string(fixtures.join("kite_ticker_expected.jsonl")).expect("fixture");
    let input = dir.path().join("frames.hex");
    std::fs::write(&input, format!("{frames}zz\n{}\n", frames.lines().nth(5).unwrap_or_default())).expect("write");
    let out =
        dalal(dir.path(), &["broker", "decode", "--broker", "kite", "--in", input.to_str().unwrap_or_default()], "");
    assert!(!out.status.success(), "a bad line fails the command");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let got: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    let want: Vec<serde_json::Value> =
        expected.lines().map(|l| serde_json::from_str(l).expect("fixture json")).collect();
    assert_eq!(got.len(), want.len() + 2);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(same(g, w), "line {}: ours {g} kite {w}", i + 1);
    }
    assert!(got[want.len()]["error"].as_str().is_some_and(|e| e.contains("line 120")), "{}", got[want.len()]);
    assert!(same(&got[want.len() + 1], &want[5]), "lines after a bad one still decode");
    let other = dalal(dir.path(), &["broker", "decode", "--broker", "zerodha", "--in", "x"], "");
    assert!(!other.status.success());
}

/// The same for Angel One's SmartStream packets (smartapi-python's parser) and Upstox's
/// protobuf feed messages (upstox-python-sdk's `MessageToDict`): every fixture line prints as
/// the official client printed it, and a damaged line is an error in its place.
#[test]
fn decode_prints_what_the_angel_and_upstox_clients_print() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("brokers/tests/fixtures");
    for (broker, messages, expected) in [
        ("angel", "angel_stream_packets.hex", "angel_stream_expected.jsonl"),
        ("upstox", "upstox_feed_messages.hex", "upstox_feed_expected.jsonl"),
    ] {
        let messages = std::fs::read_to_string(fixtures.join(messages)).expect("fixture");
        let expected = std::fs::read_to_string(fixtures.join(expected)).expect("fixture");
        let want: Vec<serde_json::Value> =
            expected.lines().map(|l| serde_json::from_str(l).expect("fixture json")).collect();
        assert!(want.len() >= 100, "{broker}: the fixtures cover the protocol");
        let input = dir.path().join(format!("{broker}.hex"));
        // A truncated message after the fixtures: the first byte of a protobuf length-delimited
        // field, or an Angel packet too short for its mode.
        let damaged = if broker == "angel" { "0101" } else { "12" };
        std::fs::write(&input, format!("{messages}{damaged}\n")).expect("write");
        let out = dalal(
            dir.path(),
            &["broker", "decode", "--broker", broker, "--in", input.to_str().unwrap_or_default()],
            "",
        );
        assert!(!out.status.success(), "{broker}: a bad line fails the command");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let got: Vec<serde_json::Value> =
            stdout.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
        assert_eq!(got.len(), want.len() + 1, "{broker}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            // Where the client failed (a packet cut short), or read a mode it does not know as
            // LTP (which Dalal refuses; see angel::stream), the line is an error in its place.
            if w.get("error").is_some() || w.get("subscription_mode_val") == Some(&serde_json::Value::Null) {
                assert!(g["error"].as_str().is_some_and(|e| e.contains(&format!("line {}", i + 1))), "{broker}: {g}");
                continue;
            }
            assert!(same(g, w), "{broker} line {}: ours {g} client {w}", i + 1);
        }
        let last = &got[want.len()];
        assert!(last["error"].as_str().is_some_and(|e| e.contains(&format!("line {}", want.len() + 1))), "{last}");
    }
}
