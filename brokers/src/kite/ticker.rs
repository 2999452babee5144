//! KiteTicker binary frames: market data as Kite's WebSocket sends it.
//!
//! A frame is a big-endian `u16` packet count, then each packet as a `u16` length and its
//! bytes; a packet's kind is decided by its length alone (8 LTP, 28 index quote, 32 index
//! full, 44 quote, 184 full with five levels of depth each side). Prices are integers in the
//! segment's smallest unit: the divisor comes from the low byte of the instrument token.
//! (`../shared/docs/brokers.md` §1.10; the official client's `KiteTicker._parse_binary` is the
//! oracle the tests compare with.)
//!
//! Where the official client and the documentation differ, this decoder follows the client,
//! so its output can be compared field for field: every 4-byte field is read **unsigned**
//! (the client's `>I`; a negative price cannot occur on the exchange, and reading it signed
//! would make a corrupt field look plausible), and the `change` field of index packets is
//! ignored and recomputed from last price and close. A packet of a length no kind has is
//! skipped and counted (as the client skips it: a new kind must not cost the frame's other
//! packets); a frame shorter than its header says is an error the caller counts. Nothing here
//! panics on any input (`fuzz/fuzz_targets/kite_ticker.rs`).

use serde::Serialize;

/// Why a frame could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TickerError {
    #[error("frame of {0} bytes is too short for its packet count")]
    Truncated(usize),
    #[error("packet {index} claims {len} bytes; {left} remain in the frame")]
    PacketOverrun { index: usize, len: usize, left: usize },
}

/// The packets of one frame, and how many it held of a length no kind has.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frame {
    pub packets: Vec<Packet>,
    pub skipped: usize,
}

/// How much a packet carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Ltp,
    Quote,
    Full,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Ohlc {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DepthLevel {
    pub quantity: u32,
    pub price: f64,
    pub orders: u16,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Depth {
    pub buy: Vec<DepthLevel>,
    pub sell: Vec<DepthLevel>,
}

/// One decoded packet, with the official client's keys and units (prices divided into
/// rupees — or the segment's unit — and times as epoch seconds).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Packet {
    pub tradable: bool,
    pub mode: Mode,
    pub instrument_token: u32,
    pub last_price: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_traded_quantity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_traded_price: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_traded: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_buy_quantity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_sell_quantity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ohlc: Option<Ohlc>,
    /// Percent change of the last price over the previous close (0 when the close is 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_trade_time: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oi: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oi_day_high: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oi_day_low: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange_timestamp: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<Depth>,
}

impl Packet {
    /// A packet with its token, mode and last price and nothing else, as an LTP packet is;
    /// the longer packets fill in the rest.
    pub fn bare(tradable: bool, mode: Mode, instrument_token: u32, last_price: f64) -> Packet {
        Packet {
            tradable,
            mode,
            instrument_token,
            last_price,
            last_traded_quantity: None,
            average_traded_price: None,
            volume_traded: None,
            total_buy_quantity: None,
            total_sell_quantity: None,
            ohlc: None,
            change: None,
            last_trade_time: None,
            oi: None,
            oi_day_high: None,
            oi_day_low: None,
            exchange_timestamp: None,
            depth: None,
        }
    }
}

/// Segment id of the indices (their packets are not tradable).
const INDICES: u32 = 9;

/// What every price field of an instrument is divided by, from its token's low byte.
pub fn divisor(token: u32) -> f64 {
    match token & 0xFF {
        3 => 10_000_000.0,  // cds
        6 | 12 => 10_000.0, // bcd, nco
        _ => 100.0,
    }
}

/// A heartbeat (a frame of a byte or two) carries no packets.
pub fn is_heartbeat(frame: &[u8]) -> bool {
    frame.len() < 2
}

/// Decodes one binary frame into its packets.
pub fn decode_frame(frame: &[u8]) -> Result<Frame, TickerError> {
    let mut out = Frame::default();
    if is_heartbeat(frame) {
        return Ok(out);
    }
    let count = u16::from_be_bytes([frame[0], frame[1]]) as usize;
    let mut at = 2;
    for index in 0..count {
        let Some(len) = frame.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize) else {
            return Err(TickerError::Truncated(frame.len()));
        };
        at += 2;
        let Some(bytes) = frame.get(at..at + len) else {
            return Err(TickerError::PacketOverrun { index, len, left: frame.len() - at });
        };
        at += len;
        match decode_packet(bytes) {
            Some(p) => out.packets.push(p),
            None => out.skipped += 1,
        }
    }
    Ok(out)
}

/// Decodes one packet (without its length prefix); `None` for a length no kind has.
pub fn decode_packet(p: &[u8]) -> Option<Packet> {
    let u = |i: usize| p.get(i..i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let token = u(0)?;
    let d = divisor(token);
    let price = |i: usize| u(i).map(|v| v as f64 / d);
    let tradable = token & 0xFF != INDICES;
    let change = |last: f64, close: f64| if close != 0.0 { (last - close) * 100.0 / close } else { 0.0 };
    let mut pk = Packet::bare(tradable, Mode::Ltp, token, price(4)?);
    match p.len() {
        8 => {}
        28 | 32 => {
            // Index packets: high, low, open, close (another order than tradables').
            let ohlc = Ohlc { high: price(8)?, low: price(12)?, open: price(16)?, close: price(20)? };
            pk.mode = if p.len() == 28 { Mode::Quote } else { Mode::Full };
            pk.change = Some(change(pk.last_price, ohlc.close));
            pk.ohlc = Some(ohlc);
            if p.len() == 32 {
                pk.exchange_timestamp = u(28);
            }
        }
        44 | 184 => {
            pk.mode = if p.len() == 44 { Mode::Quote } else { Mode::Full };
            pk.last_traded_quantity = u(8);
            pk.average_traded_price = price(12);
            pk.volume_traded = u(16);
            pk.total_buy_quantity = u(20);
            pk.total_sell_quantity = u(24);
            let ohlc = Ohlc { open: price(28)?, high: price(32)?, low: price(36)?, close: price(40)? };
            pk.change = Some(change(pk.last_price, ohlc.close));
            pk.ohlc = Some(ohlc);
            if p.len() == 184 {
                pk.last_trade_time = u(44);
                pk.oi = u(48);
                pk.oi_day_high = u(52);
                pk.oi_day_low = u(56);
                pk.exchange_timestamp = u(60);
                let level = |k: usize| -> Option<DepthLevel> {
                    let at = 64 + k * 12;
                    let orders = p.get(at + 8..at + 10).map(|b| u16::from_be_bytes([b[0], b[1]]))?;
                    Some(DepthLevel { quantity: u(at)?, price: price(at + 4)?, orders })
                };
                pk.depth = Some(Depth {
                    buy: (0..5).map(level).collect::<Option<_>>()?,
                    sell: (5..10).map(level).collect::<Option<_>>()?,
                });
            }
        }
        _ => return None,
    }
    Some(pk)
}
