//! Strategy parameters as they travel through the engine. Each strategy has its own parameter
//! struct; the engine carries it encoded (postcard) in a fixed-size buffer, so a parameter
//! change fits a `Copy` ring slot and a journal record and replays exactly. Only the strategy's
//! registration (`stages::strategy::StrategyKind`) reads the bytes, and it validates them
//! before any strategy is built from them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Most bytes a strategy's encoded parameters may take. Postcard writes integers as varints
/// and `f64` in 8 bytes, so this holds a dozen small integers or five floats plus a few flags;
/// a strategy needing more is refused when its configuration is read, with this limit named.
pub const PARAM_BYTES: usize = 48;

/// A strategy's encoded parameters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParamBytes {
    len: u8,
    buf: [u8; PARAM_BYTES],
}

impl ParamBytes {
    pub const EMPTY: ParamBytes = ParamBytes { len: 0, buf: [0; PARAM_BYTES] };

    /// `None` when `bytes` is longer than [`PARAM_BYTES`].
    pub fn new(bytes: &[u8]) -> Option<ParamBytes> {
        if bytes.len() > PARAM_BYTES {
            return None;
        }
        let mut buf = [0; PARAM_BYTES];
        buf[..bytes.len()].copy_from_slice(bytes);
        Some(ParamBytes { len: bytes.len() as u8, buf })
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..usize::from(self.len).min(PARAM_BYTES)]
    }
}

impl Default for ParamBytes {
    fn default() -> Self {
        ParamBytes::EMPTY
    }
}

impl fmt::Debug for ParamBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ParamBytes(")?;
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

impl Serialize for ParamBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.as_slice())
    }
}

impl<'de> Deserialize<'de> for ParamBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ParamBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "at most {PARAM_BYTES} bytes of encoded strategy parameters")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<ParamBytes, E> {
                ParamBytes::new(v).ok_or_else(|| E::invalid_length(v.len(), &self))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ParamBytes, A::Error> {
                let mut buf = [0u8; PARAM_BYTES];
                let mut n = 0;
                while let Some(b) = seq.next_element::<u8>()? {
                    if n == PARAM_BYTES {
                        return Err(serde::de::Error::invalid_length(n + 1, &self));
                    }
                    buf[n] = b;
                    n += 1;
                }
                Ok(ParamBytes { len: n as u8, buf })
            }
        }
        d.deserialize_bytes(V)
    }
}

/// What an operator may change on a running strategy: its size, whether it may go short, and
/// its own parameters (not its kind, instrument or timeframe).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StrategyParams {
    /// Position size in units (a whole number of lots).
    pub qty: u64,
    pub allow_short: bool,
    /// The strategy's parameter struct, encoded by its registration.
    pub bytes: ParamBytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_refuse_overflow() {
        let p = ParamBytes::new(&[1, 2, 3]).expect("fits");
        assert_eq!(p.as_slice(), &[1, 2, 3]);
        assert!(ParamBytes::new(&[0; PARAM_BYTES + 1]).is_none());
        let enc = postcard::to_stdvec(&p).expect("encode");
        let back: ParamBytes = postcard::from_bytes(&enc).expect("decode");
        assert_eq!(back, p);
        let json = serde_json::to_string(&p).expect("json");
        assert_eq!(serde_json::from_str::<ParamBytes>(&json).expect("json back"), p);
        assert!(serde_json::from_str::<ParamBytes>(&format!("{:?}", vec![0u8; PARAM_BYTES + 1])).is_err());
    }
}
