//! The Upstox Market Data Feed v3 decoder against the official SDK: every message in the
//! fixtures (made by `scripts/upstox_feed_vectors.py` with upstox-python-sdk 2.30.0's generated
//! classes, and rendered by `MessageToDict(FeedResponse.FromString(..),
//! preserving_proto_field_name=True)`) must render to the same keys, nesting and values. Also:
//! the verified vector of the protocol notes, and damaged or random bytes as errors, never
//! panics.

use dalal_brokers::upstox::feed::{decode, proto, to_json, FeedError};
use proptest::prelude::*;
use serde_json::Value;

mod support;
use support::same;

const MESSAGES: &str = include_str!("fixtures/upstox_feed_messages.hex");
const EXPECTED: &str = include_str!("fixtures/upstox_feed_expected.jsonl");

fn unhex(s: &str) -> Vec<u8> {
    dalal_brokers::hex::decode(s).expect("fixture hex")
}

fn fixture(i: usize) -> Vec<u8> {
    unhex(MESSAGES.lines().nth(i).expect("fixture line"))
}

#[test]
fn every_fixture_message_renders_as_the_official_sdk_does() {
    let mut n = 0;
    for (i, (hex, want)) in MESSAGES.lines().zip(EXPECTED.lines()).enumerate() {
        let msg = decode(&unhex(hex)).unwrap_or_else(|e| panic!("message {i}: {e}"));
        let got = to_json(&msg);
        let want: Value = serde_json::from_str(want).expect("fixture json");
        assert!(same(&got, &want), "message {i}:\n ours    {got}\n upstox  {want}");
        n += 1;
    }
    assert_eq!(n, 285, "every fixture line was compared");
    assert_eq!(MESSAGES.lines().count(), EXPECTED.lines().count());
}

#[test]
fn the_protocol_notes_vector_decodes_to_its_documented_values() {
    let bytes = unhex(concat!(
        "080112340a134e53455f45517c494e45303032413031303138121d0a1b0900000000002a94401080d0fa99",
        "b43218052100000000000094401880d0fa99b432"
    ));
    let m = decode(&bytes).expect("decodes");
    assert_eq!(m.r#type, proto::Type::LiveFeed as i32);
    assert_eq!(m.current_ts, 1_732_000_000_000);
    assert!(m.market_info.is_none());
    assert_eq!(m.feeds.len(), 1);
    let feed = m.feeds.get("NSE_EQ|INE002A01018").expect("the instrument's feed");
    assert_eq!(feed.request_mode, proto::RequestMode::Ltpc as i32, "ltpc is the default, not on the wire");
    let Some(proto::feed::FeedUnion::Ltpc(l)) = &feed.feed_union else { panic!("an LTPC feed: {feed:?}") };
    assert_eq!((l.ltp, l.ltt, l.ltq, l.cp, l.iep), (1290.5, 1_732_000_000_000, 5, 1280.0, None));
}

#[test]
fn the_fixtures_cover_what_they_claim() {
    let all: Vec<Value> = EXPECTED.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    let text = EXPECTED;
    for needle in [
        "\"live_feed\"",
        "\"market_info\"",
        "\"full_d5\"",
        "\"full_d30\"",
        "\"option_greeks\"",
        "\"marketFF\"",
        "\"indexFF\"",
        "\"firstLevelWithGreeks\"",
        "\"casMarketStatus\"",
        "\"preOpenSessionStatus\"",
        "\"casEligible\"",
        "\"iiqTotal\"",
        "\"NaN\"",
        "\"Infinity\"",
        "\"-Infinity\"",
        "\"-9223372036854775808\"",
        "\"9223372036854775807\"",
        "\"CLOSING_END\"",
        "\"PRE_OPEN_START\"",
    ] {
        assert!(text.contains(needle), "no fixture has {needle}");
    }
    // An unknown enum number comes back as a number.
    assert!(all.iter().any(|v| v.get("type") == Some(&Value::from(7))));
    // 30 levels of depth.
    assert!(text.contains("\"bidAskQuote\": [") && EXPECTED.lines().any(|l| l.matches("\"bidP\"").count() >= 30));
}

#[test]
fn unknown_fields_are_skipped_as_the_sdk_skips_them() {
    // Field 99 (varint), 100 (bytes), 101 (fixed64), 102 (fixed32) and a group appended to a
    // good message: the same message, nothing else.
    let good = fixture(0);
    let want = to_json(&decode(&good).expect("decodes"));
    for extra in [
        &[0x98, 0x06, 0x01][..],
        &[0xa2, 0x06, 0x02, 0xff, 0xfe],
        &[0xa9, 0x06, 1, 2, 3, 4, 5, 6, 7, 8],
        &[0xb5, 0x06, 1, 2, 3, 4],
        &[0xbb, 0x06, 0x08, 0x01, 0xbc, 0x06],
    ] {
        let mut b = good.clone();
        b.extend_from_slice(extra);
        assert_eq!(to_json(&decode(&b).expect("decodes")), want, "extra {extra:02x?}");
    }
}

#[test]
fn damaged_messages_are_errors_not_panics() {
    // A length past the end; a wire type that does not exist; a string that is not UTF-8.
    assert!(matches!(decode(&[0x12, 0x05, 0x0a]), Err(FeedError::Malformed { len: 3, .. })));
    assert!(decode(&[0x0f]).is_err());
    assert!(decode(&[0x12, 0x04, 0x0a, 0x02, 0xff, 0xfe]).is_err());
    // Every prefix of some fixtures: an error or a smaller message, never a panic. A cut inside a
    // length-delimited field is always an error, so most prefixes fail.
    let mut errors = 0;
    let mut cuts = 0;
    for i in [0, 5, 40, 100, 200, 284] {
        let full = fixture(i);
        for cut in 0..full.len() {
            cuts += 1;
            match decode(&full[..cut]) {
                Ok(m) => {
                    let _ = to_json(&m);
                }
                Err(_) => errors += 1,
            }
        }
    }
    assert!(errors > cuts / 2, "{errors} of {cuts} prefixes failed");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(m) = decode(&bytes) {
            let _ = to_json(&m);
        }
    }

    /// Random damage to real messages reaches deeper than random bytes: a few bytes of a
    /// fixture overwritten.
    #[test]
    fn damaged_fixtures_never_panic(
        i in 0usize..285,
        hits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut b = fixture(i);
        if !b.is_empty() {
            for (at, byte) in hits {
                let at = at.index(b.len());
                b[at] = byte;
            }
        }
        if let Ok(m) = decode(&b) {
            let _ = to_json(&m);
        }
    }
}
