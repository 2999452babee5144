//! The order protocol between the engine and the exchange simulator: length-prefixed binary
//! frames over one TCP connection, little-endian, fixed size per message kind.
//!
//! Every frame starts with a 4-byte header:
//!
//! | offset | size | field   | meaning                                       |
//! |-------:|-----:|---------|-----------------------------------------------|
//! | 0      | 2    | len     | `u16`, whole frame length including the header |
//! | 2      | 1    | kind    | `1` NewOrder, `2` Ack, `3` Fill                |
//! | 3      | 1    | version | `1`                                           |
//!
//! NewOrder (engine → exchange), 48 bytes:
//!
//! | offset | size | field           | meaning                                              |
//! |-------:|-----:|-----------------|------------------------------------------------------|
//! | 4      | 4    | instrument      | `u32`, index in the engine's instrument list         |
//! | 8      | 8    | client_order_id | `u64`, the engine's order id                         |
//! | 16     | 2    | account         | `u16`                                                |
//! | 18     | 1    | side            | `1` buy, `2` sell                                    |
//! | 19     | 1    | order_type      | `1` market, `2` limit, `3` stop-limit, `4` stop-market |
//! | 20     | 4    | reserved        | `0`                                                  |
//! | 24     | 8    | qty             | `u64`                                                |
//! | 32     | 8    | price           | `i64`, paise: the limit, or for a market order the engine's last trade (a simulator fills it there) |
//! | 40     | 8    | origin_sent_ns  | `u64`, the `sent_ns` of the tick that caused it      |
//!
//! Ack (exchange → engine), 32 bytes:
//!
//! | offset | size | field             | meaning                                      |
//! |-------:|-----:|-------------------|----------------------------------------------|
//! | 4      | 4    | reserved          | `0`                                          |
//! | 8      | 8    | client_order_id   | `u64`, echoed                                |
//! | 16     | 8    | exchange_order_id | `u64`, the exchange's own id                 |
//! | 24     | 8    | arrival_ns        | `u64`, `CLOCK_MONOTONIC` ns the order arrived |
//!
//! Fill (exchange → engine, the exchange simulator with `--fills`), 48 bytes:
//!
//! | offset | size | field             | meaning                                      |
//! |-------:|-----:|-------------------|----------------------------------------------|
//! | 4      | 4    | reserved          | `0`                                          |
//! | 8      | 8    | client_order_id   | `u64`, echoed                                |
//! | 16     | 8    | exchange_order_id | `u64`                                        |
//! | 24     | 8    | trade_id          | `u64`, the exchange's execution id           |
//! | 32     | 8    | price             | `i64`, paise                                 |
//! | 40     | 8    | qty               | `u64`                                        |
//!
//! TCP is a byte stream, so frames are cut out of a [`FrameBuffer`] that keeps partial ones
//! until the rest arrives. A frame whose header is wrong is an error: the stream cannot be
//! resynchronised, and the connection should be dropped.

use std::io::{self, Read};

use dalal_core::model::{AccountId, InstrumentId, OrderType, Price, Qty, Side};

pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 4;
pub const NEW_ORDER_LEN: usize = 48;
pub const ACK_LEN: usize = 32;
pub const FILL_LEN: usize = 48;
const KIND_NEW_ORDER: u8 = 1;
const KIND_ACK: u8 = 2;
const KIND_FILL: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("unsupported order protocol version {0}")]
    BadVersion(u8),
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    #[error("message kind {kind} with length {len}, expected {expected}")]
    BadLength { kind: u8, len: u16, expected: usize },
    #[error("bad side code {0}")]
    BadSide(u8),
    #[error("bad order type code {0}")]
    BadOrderType(u8),
}

/// An order as it goes to the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewOrder {
    pub client_order_id: u64,
    pub account: AccountId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    pub price: Price,
    pub order_type: OrderType,
    /// `sent_ns` of the tick datagram that caused this order.
    pub origin_sent_ns: u64,
}

/// The exchange's acknowledgement of one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    pub client_order_id: u64,
    pub exchange_order_id: u64,
    /// `CLOCK_MONOTONIC` ns at which the exchange read the order off its socket.
    pub arrival_ns: u64,
}

/// An execution the exchange reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExchangeFill {
    pub client_order_id: u64,
    pub exchange_order_id: u64,
    pub trade_id: u64,
    pub price: Price,
    pub qty: Qty,
}

impl ExchangeFill {
    pub fn encode(&self, out: &mut [u8; FILL_LEN]) {
        header(out, FILL_LEN, KIND_FILL);
        out[4..8].fill(0);
        out[8..16].copy_from_slice(&self.client_order_id.to_le_bytes());
        out[16..24].copy_from_slice(&self.exchange_order_id.to_le_bytes());
        out[24..32].copy_from_slice(&self.trade_id.to_le_bytes());
        out[32..40].copy_from_slice(&self.price.0.to_le_bytes());
        out[40..48].copy_from_slice(&self.qty.0.to_le_bytes());
    }

    fn decode(b: &[u8]) -> ExchangeFill {
        ExchangeFill {
            client_order_id: u64_at(b, 8),
            exchange_order_id: u64_at(b, 16),
            trade_id: u64_at(b, 24),
            price: Price(u64_at(b, 32) as i64),
            qty: Qty(u64_at(b, 40)),
        }
    }
}

/// One decoded frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderMessage {
    NewOrder(NewOrder),
    Ack(Ack),
    Fill(ExchangeFill),
}

impl NewOrder {
    pub fn encode(&self, out: &mut [u8; NEW_ORDER_LEN]) {
        header(out, NEW_ORDER_LEN, KIND_NEW_ORDER);
        out[4..8].copy_from_slice(&self.instrument.0.to_le_bytes());
        out[8..16].copy_from_slice(&self.client_order_id.to_le_bytes());
        out[16..18].copy_from_slice(&self.account.0.to_le_bytes());
        out[18] = side_code(self.side);
        out[19] = order_type_code(self.order_type);
        out[20..24].fill(0);
        out[24..32].copy_from_slice(&self.qty.0.to_le_bytes());
        out[32..40].copy_from_slice(&self.price.0.to_le_bytes());
        out[40..48].copy_from_slice(&self.origin_sent_ns.to_le_bytes());
    }

    fn decode(b: &[u8]) -> Result<NewOrder, ProtocolError> {
        Ok(NewOrder {
            instrument: InstrumentId(u32_at(b, 4)),
            client_order_id: u64_at(b, 8),
            account: AccountId(u16::from_le_bytes([b[16], b[17]])),
            side: match b[18] {
                1 => Side::Buy,
                2 => Side::Sell,
                c => return Err(ProtocolError::BadSide(c)),
            },
            order_type: match b[19] {
                1 => OrderType::Market,
                2 => OrderType::Limit,
                3 => OrderType::StopLimit,
                4 => OrderType::StopMarket,
                c => return Err(ProtocolError::BadOrderType(c)),
            },
            qty: Qty(u64_at(b, 24)),
            price: Price(u64_at(b, 32) as i64),
            origin_sent_ns: u64_at(b, 40),
        })
    }
}

impl Ack {
    pub fn encode(&self, out: &mut [u8; ACK_LEN]) {
        header(out, ACK_LEN, KIND_ACK);
        out[4..8].fill(0);
        out[8..16].copy_from_slice(&self.client_order_id.to_le_bytes());
        out[16..24].copy_from_slice(&self.exchange_order_id.to_le_bytes());
        out[24..32].copy_from_slice(&self.arrival_ns.to_le_bytes());
    }

    fn decode(b: &[u8]) -> Ack {
        Ack { client_order_id: u64_at(b, 8), exchange_order_id: u64_at(b, 16), arrival_ns: u64_at(b, 24) }
    }
}

impl OrderMessage {
    /// Decodes the first frame of `b`: `Ok(None)` while it is incomplete, otherwise the message
    /// and the bytes it took.
    pub fn decode(b: &[u8]) -> Result<Option<(OrderMessage, usize)>, ProtocolError> {
        if b.len() < HEADER_LEN {
            return Ok(None);
        }
        let len = u16::from_le_bytes([b[0], b[1]]);
        let (kind, version) = (b[2], b[3]);
        if version != VERSION {
            return Err(ProtocolError::BadVersion(version));
        }
        let expected = match kind {
            KIND_NEW_ORDER => NEW_ORDER_LEN,
            KIND_ACK => ACK_LEN,
            KIND_FILL => FILL_LEN,
            k => return Err(ProtocolError::UnknownKind(k)),
        };
        if len as usize != expected {
            return Err(ProtocolError::BadLength { kind, len, expected });
        }
        let Some(frame) = b.get(..expected) else { return Ok(None) };
        let msg = match kind {
            KIND_NEW_ORDER => OrderMessage::NewOrder(NewOrder::decode(frame)?),
            KIND_FILL => OrderMessage::Fill(ExchangeFill::decode(frame)),
            _ => OrderMessage::Ack(Ack::decode(frame)),
        };
        Ok(Some((msg, expected)))
    }
}

fn header(out: &mut [u8], len: usize, kind: u8) {
    out[0..2].copy_from_slice(&(len as u16).to_le_bytes());
    out[2] = kind;
    out[3] = VERSION;
}

fn side_code(s: Side) -> u8 {
    match s {
        Side::Buy => 1,
        Side::Sell => 2,
    }
}

fn order_type_code(t: OrderType) -> u8 {
    match t {
        OrderType::Market => 1,
        OrderType::Limit => 2,
        OrderType::StopLimit => 3,
        OrderType::StopMarket => 4,
    }
}

/// Callers have checked the frame length, so these reads are in bounds.
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Bytes read from a stream and not yet decoded. Fixed capacity: frames are small, and a
/// reader that falls behind should push back on the socket, not grow a buffer.
pub struct FrameBuffer {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl FrameBuffer {
    /// `capacity` is raised to at least one frame of every kind.
    pub fn new(capacity: usize) -> FrameBuffer {
        FrameBuffer { buf: vec![0; capacity.max(NEW_ORDER_LEN)].into_boxed_slice(), start: 0, end: 0 }
    }

    /// One `read` into the free space. `Ok(0)` is end of stream; `WouldBlock` passes through
    /// for non-blocking sockets.
    pub fn fill_from(&mut self, r: &mut impl Read) -> io::Result<usize> {
        if self.start == self.end || self.buf.len() - self.end < NEW_ORDER_LEN {
            self.compact();
        }
        if self.end == self.buf.len() {
            // An empty read would look like end of stream.
            return Err(io::Error::other("frame buffer full: take frames out before reading more"));
        }
        let n = r.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Appends bytes (for tests and for callers that read elsewhere); returns how many fitted.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        self.compact();
        let n = bytes.len().min(self.buf.len() - self.end);
        self.buf[self.end..self.end + n].copy_from_slice(&bytes[..n]);
        self.end += n;
        n
    }

    /// The next whole frame, or `Ok(None)` until more bytes arrive.
    pub fn next_message(&mut self) -> Result<Option<OrderMessage>, ProtocolError> {
        match OrderMessage::decode(&self.buf[self.start..self.end])? {
            Some((m, used)) => {
                self.start += used;
                Ok(Some(m))
            }
            None => Ok(None),
        }
    }

    /// Bytes of an incomplete frame still held.
    pub fn pending(&self) -> usize {
        self.end - self.start
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> NewOrder {
        NewOrder {
            client_order_id: 7,
            account: AccountId(2),
            instrument: InstrumentId(5),
            side: Side::Sell,
            qty: Qty(100),
            price: Price(142_050),
            order_type: OrderType::Limit,
            origin_sent_ns: 99,
        }
    }

    fn ack() -> Ack {
        Ack { client_order_id: 7, exchange_order_id: 1, arrival_ns: 123 }
    }

    fn frames() -> Vec<u8> {
        let mut o = [0u8; NEW_ORDER_LEN];
        order().encode(&mut o);
        let mut a = [0u8; ACK_LEN];
        ack().encode(&mut a);
        [o.as_slice(), a.as_slice()].concat()
    }

    #[test]
    fn round_trip_both_kinds() {
        let b = frames();
        assert_eq!(OrderMessage::decode(&b), Ok(Some((OrderMessage::NewOrder(order()), NEW_ORDER_LEN))));
        assert_eq!(OrderMessage::decode(&b[NEW_ORDER_LEN..]), Ok(Some((OrderMessage::Ack(ack()), ACK_LEN))));
        for t in [OrderType::Market, OrderType::Limit, OrderType::StopLimit, OrderType::StopMarket] {
            for s in [Side::Buy, Side::Sell] {
                let o = NewOrder { side: s, order_type: t, ..order() };
                let mut buf = [0u8; NEW_ORDER_LEN];
                o.encode(&mut buf);
                assert_eq!(OrderMessage::decode(&buf), Ok(Some((OrderMessage::NewOrder(o), NEW_ORDER_LEN))));
            }
        }
    }

    #[test]
    fn truncated_frames_wait_for_more() {
        let b = frames();
        for n in 0..NEW_ORDER_LEN {
            assert_eq!(OrderMessage::decode(&b[..n]), Ok(None), "{n} bytes");
        }
    }

    #[test]
    fn bad_headers_and_codes_are_errors() {
        let b = frames();
        let mut v = b.clone();
        v[3] = 2;
        assert_eq!(OrderMessage::decode(&v), Err(ProtocolError::BadVersion(2)));
        let mut k = b.clone();
        k[2] = 9;
        assert_eq!(OrderMessage::decode(&k), Err(ProtocolError::UnknownKind(9)));
        let mut l = b.clone();
        l[0] = 47;
        assert!(matches!(OrderMessage::decode(&l), Err(ProtocolError::BadLength { len: 47, .. })));
        let mut s = b.clone();
        s[18] = 0;
        assert_eq!(OrderMessage::decode(&s), Err(ProtocolError::BadSide(0)));
        let mut t = b;
        t[19] = 5;
        assert_eq!(OrderMessage::decode(&t), Err(ProtocolError::BadOrderType(5)));
    }

    #[test]
    fn frame_buffer_reassembles_byte_by_byte() {
        let b = frames();
        let mut fb = FrameBuffer::new(64);
        let mut got = Vec::new();
        for byte in b.iter().chain(b.iter()) {
            assert_eq!(fb.push(std::slice::from_ref(byte)), 1);
            while let Ok(Some(m)) = fb.next_message() {
                got.push(m);
            }
        }
        let want = [OrderMessage::NewOrder(order()), OrderMessage::Ack(ack())];
        assert_eq!(got, [want, want].concat());
        assert_eq!(fb.pending(), 0);
    }

    #[test]
    fn frame_buffer_reads_partial_stream_chunks() {
        let b: Vec<u8> = (0..10).flat_map(|_| frames()).collect();
        let mut fb = FrameBuffer::new(100);
        let mut got = 0;
        // A reader that hands out 7 bytes at a time, like a slow socket.
        let mut chunks = b.chunks(7);
        let mut cur: &[u8] = &[];
        loop {
            if cur.is_empty() {
                match chunks.next() {
                    Some(c) => cur = c,
                    None => break,
                }
            }
            let n = fb.fill_from(&mut cur).unwrap_or(0);
            assert!(n > 0);
            while let Some(_m) = fb.next_message().ok().flatten() {
                got += 1;
            }
        }
        assert_eq!(got, 20);
        assert_eq!(fb.pending(), 0);
    }
}
