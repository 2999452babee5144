//! SmartStream 2.0's binary packets, encoded as Angel sends them (brokers.md §2.11.3): one
//! packet per WebSocket message, little-endian, prices in paise, 51 bytes (LTP), 123 (Quote),
//! 379 (SnapQuote) or 443 (Depth-20). Tests push them with
//! [`super::FakeAngel::stream_push_packet`]; the values are written as given, unscaled.

/// The fields every packet starts with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TickHeader {
    /// 1 nse_cm, 2 nse_fo, 3 bse_cm, 4 bse_fo, 5 mcx_fo, 7 ncx_fo, 13 cde_fo.
    pub exchange_type: u8,
    /// ASCII, at most 25 bytes (longer tokens are cut).
    pub token: String,
    pub sequence: i64,
    /// Epoch milliseconds.
    pub exchange_timestamp: i64,
    /// Last traded price, paise.
    pub ltp: i64,
}

/// The Quote packet's fields after the header.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuoteFields {
    pub last_traded_quantity: i64,
    /// Average traded price, paise.
    pub average_price: i64,
    pub volume: i64,
    /// Sent as doubles.
    pub total_buy_quantity: f64,
    pub total_sell_quantity: f64,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
}

/// One level of the SnapQuote's best five.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BestFive {
    pub quantity: i64,
    /// Paise.
    pub price: i64,
    pub orders: i16,
}

/// The SnapQuote packet's fields after the Quote's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SnapFields {
    pub last_traded_timestamp: i64,
    pub open_interest: i64,
    /// A dummy double in Angel's docs.
    pub open_interest_change: f64,
    /// Best bids first (flag 1 on the wire), then asks (flag 0).
    pub bids: [BestFive; 5],
    pub asks: [BestFive; 5],
    pub upper_circuit: i64,
    pub lower_circuit: i64,
    pub high_52_week: i64,
    pub low_52_week: i64,
}

/// One level of the Depth-20 packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Depth20Level {
    pub quantity: i32,
    /// Paise.
    pub price: i32,
    pub orders: i16,
}

/// The Depth-20 packet (mode 4, NSE cash only: exchange type 1).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Depth20 {
    pub token: String,
    pub exchange_timestamp: i64,
    /// "Packet received time", a dummy in Angel's docs.
    pub received: i64,
    /// Up to 20 a side; missing levels are sent as zeros.
    pub bids: Vec<Depth20Level>,
    pub asks: Vec<Depth20Level>,
}

/// A SmartStream packet by mode.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamPacket {
    Ltp(TickHeader),
    Quote(TickHeader, QuoteFields),
    SnapQuote(TickHeader, QuoteFields, Box<SnapFields>),
    Depth20(Depth20),
}

impl StreamPacket {
    /// An LTP packet with no sequence or time.
    pub fn ltp(exchange_type: u8, token: &str, ltp_paise: i64) -> StreamPacket {
        StreamPacket::Ltp(TickHeader { exchange_type, token: token.into(), ltp: ltp_paise, ..TickHeader::default() })
    }
}

fn put_token(out: &mut Vec<u8>, token: &str) {
    let mut field = [0u8; 25];
    for (slot, b) in field.iter_mut().zip(token.bytes()) {
        *slot = b;
    }
    out.extend_from_slice(&field);
}

fn put_header(out: &mut Vec<u8>, mode: u8, h: &TickHeader) {
    out.push(mode);
    out.push(h.exchange_type);
    put_token(out, &h.token);
    for v in [h.sequence, h.exchange_timestamp, h.ltp] {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn put_quote(out: &mut Vec<u8>, q: &QuoteFields) {
    for v in [q.last_traded_quantity, q.average_price, q.volume] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&q.total_buy_quantity.to_le_bytes());
    out.extend_from_slice(&q.total_sell_quantity.to_le_bytes());
    for v in [q.open, q.high, q.low, q.close] {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn put_snap(out: &mut Vec<u8>, s: &SnapFields) {
    out.extend_from_slice(&s.last_traded_timestamp.to_le_bytes());
    out.extend_from_slice(&s.open_interest.to_le_bytes());
    out.extend_from_slice(&s.open_interest_change.to_le_bytes());
    for (flag, side) in [(1i16, &s.bids), (0i16, &s.asks)] {
        for l in side {
            out.extend_from_slice(&flag.to_le_bytes());
            out.extend_from_slice(&l.quantity.to_le_bytes());
            out.extend_from_slice(&l.price.to_le_bytes());
            out.extend_from_slice(&l.orders.to_le_bytes());
        }
    }
    for v in [s.upper_circuit, s.lower_circuit, s.high_52_week, s.low_52_week] {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn put_depth20(out: &mut Vec<u8>, d: &Depth20) {
    out.push(4);
    out.push(1);
    put_token(out, &d.token);
    out.extend_from_slice(&d.exchange_timestamp.to_le_bytes());
    out.extend_from_slice(&d.received.to_le_bytes());
    for side in [&d.bids, &d.asks] {
        for k in 0..20 {
            let l = side.get(k).copied().unwrap_or_default();
            out.extend_from_slice(&l.quantity.to_le_bytes());
            out.extend_from_slice(&l.price.to_le_bytes());
            out.extend_from_slice(&l.orders.to_le_bytes());
        }
    }
}

/// The packet's bytes, as one WebSocket message carries them.
pub fn encode(p: &StreamPacket) -> Vec<u8> {
    let mut out = Vec::with_capacity(443);
    match p {
        StreamPacket::Ltp(h) => put_header(&mut out, 1, h),
        StreamPacket::Quote(h, q) => {
            put_header(&mut out, 2, h);
            put_quote(&mut out, q);
        }
        StreamPacket::SnapQuote(h, q, s) => {
            put_header(&mut out, 3, h);
            put_quote(&mut out, q);
            put_snap(&mut out, s);
        }
        StreamPacket::Depth20(d) => put_depth20(&mut out, d),
    }
    out
}
