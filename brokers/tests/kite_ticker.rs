//! The KiteTicker decoder against the official client: every frame in the fixtures (made by
//! `scripts/kite_ticker_vectors.py` and decoded by kiteconnect 5.2.2's `_parse_binary`) must
//! decode to the same keys, nesting and numbers. Also: the frames of the protocol notes, and
//! damaged frames as errors, never panics.

use dalal_brokers::kite::ticker::{decode_frame, TickerError};
use serde_json::Value;

mod support;
use support::same;

fn unhex(s: &str) -> Vec<u8> {
    dalal_brokers::hex::decode(s).expect("fixture hex")
}

#[test]
fn every_fixture_frame_decodes_as_the_official_client_does() {
    let frames = include_str!("fixtures/kite_ticker_frames.hex");
    let expected = include_str!("fixtures/kite_ticker_expected.jsonl");
    let mut n = 0;
    let mut skipped = 0;
    for (i, (hex, want)) in frames.lines().zip(expected.lines()).enumerate() {
        let frame = decode_frame(&unhex(hex)).unwrap_or_else(|e| panic!("frame {i}: {e}"));
        skipped += frame.skipped;
        let got = serde_json::to_value(&frame.packets).expect("json");
        let want: Value = serde_json::from_str(want).expect("fixture json");
        assert!(same(&got, &want), "frame {i}:\n ours  {got}\n kite  {want}");
        n += 1;
    }
    assert_eq!(n, 119, "every fixture line was compared");
    assert_eq!(skipped, 1, "the packet of no known length was skipped, as the client skips it");
}

#[test]
fn the_protocol_notes_frames_decode_to_their_documented_values() {
    let five = unhex(concat!(
        "0005000800063a0100026683001c0003e909002191c00021b8d000216ab000217e38002143a0000007d0",
        "00200003e909002191c00021b8d000216ab000217e38002143a0000007d06553f100000800064c032b5d",
        "8830002c00063a010002668300000001000265690011f1b20003e9ff00058037000264f30002673c0002",
        "61c90002646c"
    ));
    let f = decode_frame(&five).expect("decodes");
    assert_eq!(f.packets.len(), 5);
    assert_eq!(f.packets[0].last_price, 1573.15);
    assert!(!f.packets[1].tradable);
    assert_eq!(f.packets[2].exchange_timestamp, Some(1_700_000_000));
    assert_eq!(f.packets[3].last_price, 72.755, "CDS prices are in 1e-7 rupees");
    assert_eq!(f.packets[4].volume_traded, Some(1_175_986));
}

#[test]
fn damaged_frames_are_errors_not_panics() {
    // Two packets announced, one present.
    let f = unhex("0002000800063a0100026683");
    assert!(matches!(decode_frame(&f), Err(TickerError::Truncated(_))));
    // A packet longer than the frame.
    let f = unhex("000100b800063a01");
    assert!(matches!(decode_frame(&f), Err(TickerError::PacketOverrun { .. })));
    // Every prefix of a good full frame: an error or fewer packets, never a panic.
    let full = unhex(include_str!("fixtures/kite_ticker_frames.hex").lines().nth(60).unwrap_or_default());
    for cut in 0..full.len() {
        let _ = decode_frame(&full[..cut]);
    }
}

#[test]
fn random_bytes_never_panic() {
    // A seeded xorshift: the same 200k frames every run, each a plausible header (a small
    // packet count and lengths of the real kinds, mostly) over random bytes.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let lens = [8u16, 28, 32, 44, 184, 0, 1, 7, 45, 200];
    for _ in 0..200_000 {
        let n = (next() % 4) as u16;
        let mut f = n.to_be_bytes().to_vec();
        for _ in 0..n {
            let len = lens[(next() % lens.len() as u64) as usize];
            f.extend_from_slice(&len.to_be_bytes());
            let have = if next() % 8 == 0 { (next() % (u64::from(len) + 1)) as usize } else { len as usize };
            f.extend((0..have).map(|_| next() as u8));
        }
        if let Ok(frame) = decode_frame(&f) {
            assert!(frame.packets.len() + frame.skipped <= n as usize);
        }
    }
}
