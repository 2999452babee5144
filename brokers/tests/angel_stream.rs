//! The SmartStream 2.0 decoder against the official client: every packet in the fixtures (made
//! by `scripts/angel_stream_vectors.py` and decoded by smartapi-python 1.5.5's
//! `_parse_binary_data`) must decode to the same keys, nesting and numbers, or fail where the
//! client fails. Also: the packets of the protocol notes, and every prefix and random bytes as
//! errors or values, never panics.

use dalal_brokers::angel::stream::{decode_packet, ExchangeType, Mode, SmartPacket, StreamError};
use proptest::prelude::*;
use serde_json::Value;

mod support;
use support::same;

const PACKETS: &str = include_str!("fixtures/angel_stream_packets.hex");
const EXPECTED: &str = include_str!("fixtures/angel_stream_expected.jsonl");

fn unhex(s: &str) -> Vec<u8> {
    dalal_brokers::hex::decode(s).expect("fixture hex")
}

/// Our packet as the fixture spells it: the JSON of `Serialize` (a non-finite quantity is
/// written as the string Python's json spells it, as the script writes the client's).
fn as_fixture(p: &SmartPacket) -> Value {
    serde_json::to_value(p).expect("json")
}

#[test]
fn every_fixture_packet_decodes_as_the_official_client_does() {
    let (mut compared, mut both_fail, mut unknown_mode) = (0, 0, 0);
    let mut lines = 0;
    for (i, (hex, want)) in PACKETS.lines().zip(EXPECTED.lines()).enumerate() {
        lines += 1;
        let bytes = unhex(hex);
        let want: Value = serde_json::from_str(want).expect("fixture json");
        let got = decode_packet(&bytes);
        if want.get("error").is_some() {
            // The client raised (empty or cut short): so do we.
            assert!(got.is_err(), "packet {i}: the client failed with {want}, we decoded {got:?}");
            both_fail += 1;
        } else if want.get("subscription_mode_val") == Some(&Value::Null) {
            // A mode the client does not know: it returns the LTP fields, we refuse (module doc).
            assert_eq!(got, Err(StreamError::UnknownMode(bytes[0])), "packet {i}");
            unknown_mode += 1;
        } else {
            let p = got.unwrap_or_else(|e| panic!("packet {i}: {e}"));
            let got = as_fixture(&p);
            assert!(same(&got, &want), "packet {i}:\n ours    {got}\n client  {want}");
            // `same` compares numbers as f64, which cannot tell i64::MAX from its neighbours;
            // the integers must also be equal exactly.
            assert_eq!(got, want, "packet {i}: integers differ beyond f64 precision");
            compared += 1;
        }
    }
    assert_eq!(lines, EXPECTED.lines().count(), "as many packets as expected outputs");
    assert_eq!(compared, 305, "every decodable fixture packet was compared");
    assert_eq!(both_fail, 23, "every packet the client cannot read is an error here too");
    assert_eq!(unknown_mode, 8, "every packet of an unknown mode was refused");
}

#[test]
fn the_protocol_notes_packets_decode_to_their_documented_values() {
    let mut lines = PACKETS.lines();
    let ltp = decode_packet(&unhex(lines.next().unwrap_or_default())).expect("LTP");
    assert_eq!((ltp.mode, ltp.exchange_type, ltp.token.as_str()), (Mode::Ltp, ExchangeType::NseCm, "3045"));
    assert_eq!((ltp.sequence_number, ltp.exchange_timestamp), (12345, 1_700_000_000_123));
    assert_eq!(ltp.last_traded_price, Some(57215));
    let quote = decode_packet(&unhex(lines.next().unwrap_or_default())).expect("Quote");
    assert_eq!((quote.mode, quote.sequence_number, quote.exchange_timestamp), (Mode::Quote, 12346, 1_700_000_000_456));
    let q = quote.quote.expect("quote fields");
    assert_eq!((q.last_traded_quantity, q.average_traded_price, q.volume), (10, 57100, 123_456));
    assert_eq!((q.total_buy_quantity, q.total_sell_quantity), (1000.0, 2000.0));
    assert_eq!((q.open, q.high, q.low, q.close), (56900, 57500, 56800, 56750));
}

#[test]
fn every_prefix_of_every_fixture_packet_is_an_error_or_a_value() {
    let mut cuts = 0;
    for hex in PACKETS.lines() {
        let bytes = unhex(hex);
        for cut in 0..=bytes.len() {
            let prefix = &bytes[..cut];
            match decode_packet(prefix) {
                Ok(p) => assert!(cut >= p.mode.packet_len(), "decoded {cut} bytes as {:?}", p.mode),
                Err(StreamError::TooShort { needed, got, .. }) => assert!(got == cut && got < needed),
                Err(StreamError::Empty) => assert_eq!(cut, 0),
                Err(StreamError::UnknownMode(m)) => assert_eq!(Some(&m), prefix.first()),
            }
            cuts += 1;
        }
    }
    assert!(cuts > 50_000, "{cuts} prefixes tried");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any bytes at all: an error or a packet, never a panic.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_packet(&bytes);
    }

    /// Bytes behind a real mode byte, of lengths around the modes' sizes: what decodes has the
    /// groups of its mode and serializes.
    #[test]
    fn random_packets_of_a_known_mode_decode_consistently(
        mode in 1u8..=4,
        rest in proptest::collection::vec(any::<u8>(), 0..460),
    ) {
        let mut bytes = vec![mode];
        bytes.extend_from_slice(&rest);
        match decode_packet(&bytes) {
            Ok(p) => {
                prop_assert_eq!(p.mode.code(), mode);
                prop_assert!(bytes.len() >= p.mode.packet_len());
                prop_assert_eq!(p.quote.is_some(), matches!(p.mode, Mode::Quote | Mode::SnapQuote));
                prop_assert_eq!(p.snap_quote.is_some(), p.mode == Mode::SnapQuote);
                prop_assert_eq!(p.depth20.is_some(), p.mode == Mode::Depth20);
                prop_assert_eq!(p.last_traded_price.is_none(), p.mode == Mode::Depth20);
                if let Some(s) = &p.snap_quote {
                    prop_assert_eq!(s.best_five_buy.len() + s.best_five_sell.len(), 10);
                }
                prop_assert!(p.token.chars().count() <= 25);
                prop_assert!(serde_json::to_string(&p).is_ok());
            }
            Err(e) => {
                let too_short = matches!(e, StreamError::TooShort { got, .. } if got == bytes.len());
                prop_assert!(too_short, "{}", e);
            }
        }
    }
}
