//! Arbitrary bytes as an Upstox Market Data Feed v3 frame: decoding never panics, and what
//! decodes renders to JSON (as the SDK's `MessageToDict` would) without panicking, an object
//! with no keys but the message's own.

#![no_main]

use dalal_brokers::upstox::feed::{decode, to_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode(data) {
        let json = to_json(&msg);
        let obj = json.as_object().expect("a message renders as an object");
        assert!(obj.keys().all(|k| ["type", "feeds", "currentTs", "marketInfo"].contains(&k.as_str())));
        assert_eq!(obj.get("feeds").and_then(|f| f.as_object()).map_or(0, |f| f.len()), msg.feeds.len());
    }
});
