//! One tick per UDP datagram, fixed size, little-endian.
//!
//! | offset | size | field        | meaning                                                  |
//! |-------:|-----:|--------------|----------------------------------------------------------|
//! | 0      | 2    | magic        | `0xDA1A`: rejects stray traffic on the port              |
//! | 2      | 1    | version      | `1`                                                      |
//! | 3      | 1    | reserved     | `0`; ignored on read                                     |
//! | 4      | 4    | instrument   | `u32`, position in the engine config's instrument list   |
//! | 8      | 8    | seq          | `u64`, starts at 1, +1 per datagram: gaps are detectable |
//! | 16     | 8    | ts_ns        | `i64`, event (exchange) time, ns since the Unix epoch    |
//! | 24     | 8    | price        | `i64`, paise                                             |
//! | 32     | 8    | qty          | `u64`                                                    |
//! | 40     | 8    | sent_ns      | `u64`, `CLOCK_MONOTONIC` ns of the *intended* send time  |
//!
//! 48 bytes in all. `sent_ns` is the scheduled time rather than the moment `sendto` ran, so a
//! sender that falls behind its schedule adds its lateness to every latency measured from
//! this stamp instead of hiding it (coordinated omission).

use dalal_core::model::Tick;
use dalal_core::model::{InstrumentId, Price, Qty, Timestamp};

pub const MAGIC: u16 = 0xDA1A;
pub const VERSION: u8 = 1;
/// Size of every tick datagram.
pub const DATAGRAM_LEN: usize = 48;

/// Why bytes are not a tick datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    #[error("tick datagram is {got} bytes, expected {DATAGRAM_LEN}")]
    Length { got: usize },
    #[error("bad magic {0:#06x}, expected {MAGIC:#06x}")]
    BadMagic(u16),
    #[error("unsupported tick datagram version {0}, expected {VERSION}")]
    BadVersion(u8),
}

/// A decoded tick datagram: the tick plus what the wire adds to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickDatagram {
    pub seq: u64,
    pub tick: Tick,
    /// `CLOCK_MONOTONIC` ns at which the feed meant to send this datagram.
    pub sent_ns: u64,
}

impl TickDatagram {
    pub fn encode(&self, out: &mut [u8; DATAGRAM_LEN]) {
        out[0..2].copy_from_slice(&MAGIC.to_le_bytes());
        out[2] = VERSION;
        out[3] = 0;
        out[4..8].copy_from_slice(&self.tick.instrument.0.to_le_bytes());
        out[8..16].copy_from_slice(&self.seq.to_le_bytes());
        out[16..24].copy_from_slice(&self.tick.ts.0.to_le_bytes());
        out[24..32].copy_from_slice(&self.tick.price.0.to_le_bytes());
        out[32..40].copy_from_slice(&self.tick.qty.0.to_le_bytes());
        out[40..48].copy_from_slice(&self.sent_ns.to_le_bytes());
    }

    /// Decodes one whole datagram; anything but exactly [`DATAGRAM_LEN`] bytes is refused, since
    /// UDP delivers datagrams whole and a different size means a different sender or format.
    pub fn decode(b: &[u8]) -> Result<TickDatagram, DatagramError> {
        let b: &[u8; DATAGRAM_LEN] = b.try_into().map_err(|_| DatagramError::Length { got: b.len() })?;
        let magic = u16::from_le_bytes([b[0], b[1]]);
        if magic != MAGIC {
            return Err(DatagramError::BadMagic(magic));
        }
        if b[2] != VERSION {
            return Err(DatagramError::BadVersion(b[2]));
        }
        Ok(TickDatagram {
            seq: u64_at(b, 8),
            tick: Tick {
                instrument: InstrumentId(u32::from_le_bytes([b[4], b[5], b[6], b[7]])),
                ts: Timestamp(u64_at(b, 16) as i64),
                price: Price(u64_at(b, 24) as i64),
                qty: Qty(u64_at(b, 32)),
            },
            sent_ns: u64_at(b, 40),
        })
    }
}

#[inline]
fn u64_at(b: &[u8; DATAGRAM_LEN], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TickDatagram {
        TickDatagram {
            seq: 42,
            tick: Tick {
                instrument: InstrumentId(3),
                ts: Timestamp(1_795_146_300_000_000_000),
                price: Price(-5),
                qty: Qty(u64::MAX),
            },
            sent_ns: 123_456_789,
        }
    }

    #[test]
    fn round_trip() {
        let mut buf = [0u8; DATAGRAM_LEN];
        sample().encode(&mut buf);
        assert_eq!(TickDatagram::decode(&buf), Ok(sample()));
    }

    #[test]
    fn truncated_and_oversized_are_length_errors() {
        let mut buf = [0u8; DATAGRAM_LEN];
        sample().encode(&mut buf);
        for n in 0..DATAGRAM_LEN {
            assert_eq!(TickDatagram::decode(&buf[..n]), Err(DatagramError::Length { got: n }));
        }
        let long = [buf.as_slice(), &[0]].concat();
        assert_eq!(TickDatagram::decode(&long), Err(DatagramError::Length { got: DATAGRAM_LEN + 1 }));
    }

    #[test]
    fn bad_magic_and_version() {
        let mut buf = [0u8; DATAGRAM_LEN];
        sample().encode(&mut buf);
        let mut m = buf;
        m[0] ^= 0xff;
        assert!(matches!(TickDatagram::decode(&m), Err(DatagramError::BadMagic(_))));
        let mut v = buf;
        v[2] = 9;
        assert_eq!(TickDatagram::decode(&v), Err(DatagramError::BadVersion(9)));
    }

    #[test]
    fn garbage_never_panics() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..100 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = TickDatagram::decode(&bytes);
        }
    }
}
