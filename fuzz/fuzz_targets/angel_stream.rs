//! Arbitrary bytes as a SmartStream 2.0 packet: decoding never panics, and what decodes is
//! consistent with the bytes (the mode of the first byte, at least that mode's length, and
//! exactly the groups of fields that mode carries); what does not decode says why truly.

#![no_main]

use dalal_brokers::angel::stream::{decode_packet, Mode, StreamError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match decode_packet(data) {
        Ok(p) => {
            assert_eq!(Some(p.mode.code()), data.first().copied());
            assert!(data.len() >= p.mode.packet_len());
            assert_eq!(p.quote.is_some(), matches!(p.mode, Mode::Quote | Mode::SnapQuote));
            assert_eq!(p.snap_quote.is_some(), p.mode == Mode::SnapQuote);
            assert_eq!(p.depth20.is_some(), p.mode == Mode::Depth20);
            assert_eq!(p.last_traded_price.is_none(), p.mode == Mode::Depth20);
            if let Some(s) = &p.snap_quote {
                // Every best-five level lands on one side or the other.
                assert_eq!(s.best_five_buy.len() + s.best_five_sell.len(), 10);
            }
            assert!(p.token.chars().count() <= 25);
            assert_eq!(p.exchange_type.code(), data.get(1).copied().unwrap_or_default());
        }
        Err(StreamError::Empty) => assert!(data.is_empty()),
        Err(StreamError::UnknownMode(m)) => {
            assert_eq!(data.first(), Some(&m));
            assert!(Mode::from_byte(m).is_none());
        }
        Err(StreamError::TooShort { mode, needed, got }) => {
            assert_eq!(got, data.len());
            assert_eq!(needed, mode.packet_len());
            assert!(got < needed);
        }
    }
});
