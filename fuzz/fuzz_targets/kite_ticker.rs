//! Arbitrary bytes as a KiteTicker frame: decoding never panics, and what decodes is
//! consistent with the frame (no more packets than announced; each one's kind matches its
//! length's fields).

#![no_main]

use dalal_brokers::kite::ticker::{decode_frame, decode_packet, Mode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode_frame(data) {
        let announced = data.get(0..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]) as usize);
        assert!(frame.packets.len() + frame.skipped <= announced);
        for p in &frame.packets {
            // Depth comes only with a tradable instrument's full packet (an index's full
            // packet has no quantities).
            assert_eq!(p.depth.is_some(), p.mode == Mode::Full && p.last_traded_quantity.is_some());
        }
    }
    let _ = decode_packet(data);
});
