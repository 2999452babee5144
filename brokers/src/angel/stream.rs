//! SmartStream 2.0: Angel One's market-data WebSocket, its binary packets and its JSON
//! requests.
//!
//! Each binary WebSocket message is one packet, **little-endian**, with no frame header: a mode
//! byte, an exchange-type byte, a 25-byte NUL-padded token, then the mode's fields. The mode
//! fixes the length: 51 bytes LTP, 123 Quote, 379 SnapQuote, 443 Depth-20. Prices are integer
//! paise, unscaled (`../shared/docs/brokers.md` §2.11; smartapi-python 1.5.5's
//! `SmartWebSocketV2._parse_binary_data` is the oracle the tests compare with, field for field,
//! through [`SmartPacket`]'s `Serialize`).
//!
//! Where the official client and the documentation differ, this decoder follows the client, so
//! the two can be compared and so a strategy ported from Python sees the same numbers:
//!
//! * The OI-change-% field is a double on the wire but the client reads its 8 bytes as an
//!   `i64`; [`SnapQuote::open_interest_change_percentage`] keeps those raw bits (the documented
//!   double, a dummy per the docs, is [`SnapQuote::open_interest_change_percentage_f64`]).
//! * Best-five levels are sorted by their flag, not their position: flag 0 is an ask, any other
//!   value a bid, in wire order (the client's internal names are swapped twice; the public
//!   `best_5_buy_data` holds the non-zero flags). Either list may hold 0 to 10 levels.
//! * Depth-20: the client names bytes 35..43 both `exchange_timestamp` and
//!   `packet_received_time`, and discards bytes 27..35 (its "sequence number", the Java
//!   client's exchange timestamp) and has no last price (bytes 43..51 are the first bid). The
//!   JSON follows the client; the typed packet keeps bytes 27..35 in
//!   [`SmartPacket::sequence_number`].
//! * The token is the bytes before the first NUL, each byte one `char` (Latin-1, the client's
//!   `chr`), so no byte sequence fails to decode and bytes after a NUL are ignored.
//! * Bytes after a mode's length are ignored, as the client ignores them: a server that appends
//!   a field must not cost every tick.
//!
//! Two deliberate departures: an empty packet, or one too short for its mode, is a
//! [`StreamError`] (the client raises), and so is an unknown mode (the client returns the LTP
//! fields with a `null` mode name; a mode we cannot read is better counted than guessed at).
//! Nothing here panics on any input (`fuzz/fuzz_targets/angel_stream.rs`).

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// Why a packet could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("empty packet")]
    Empty,
    #[error("unknown subscription mode {0}")]
    UnknownMode(u8),
    #[error("{mode:?} packet needs {needed} bytes, got {got}")]
    TooShort { mode: Mode, needed: usize, got: usize },
}

/// Subscription mode: how much each packet of a token carries (the packet's first byte, and
/// `params.mode` of a request).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Ltp = 1,
    Quote = 2,
    SnapQuote = 3,
    /// Twenty levels of depth each side; NSE_CM only, at most 50 tokens (brokers.md §2.11.1).
    Depth20 = 4,
}

impl Mode {
    /// The mode of a packet's first byte, if it is one of the four.
    pub fn from_byte(b: u8) -> Option<Mode> {
        match b {
            1 => Some(Mode::Ltp),
            2 => Some(Mode::Quote),
            3 => Some(Mode::SnapQuote),
            4 => Some(Mode::Depth20),
            _ => None,
        }
    }

    /// The byte (and JSON number) of this mode.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// How many bytes a packet of this mode has (more are ignored, fewer are an error).
    pub fn packet_len(self) -> usize {
        match self {
            Mode::Ltp => 51,
            Mode::Quote => 123,
            Mode::SnapQuote => 379,
            Mode::Depth20 => 443,
        }
    }

    /// The client's `subscription_mode_val` (it drops the key for depth-20 packets).
    pub fn client_name(self) -> &'static str {
        match self {
            Mode::Ltp => "LTP",
            Mode::Quote => "QUOTE",
            Mode::SnapQuote => "SNAP_QUOTE",
            Mode::Depth20 => "DEPTH",
        }
    }
}

/// A number on the wire and in JSON.
impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Mode, D::Error> {
        let n = u8::deserialize(d)?;
        Mode::from_byte(n).ok_or_else(|| de::Error::custom(format!("unknown subscription mode {n}")))
    }
}

/// Exchange segment of a token. A byte Angel adds later still decodes, as [`ExchangeType::Other`]
/// with its number, so a new segment costs no ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExchangeType {
    NseCm,
    NseFo,
    BseCm,
    BseFo,
    McxFo,
    NcxFo,
    CdeFo,
    Other(u8),
}

impl ExchangeType {
    /// The exchange type of a packet's second byte (or a request's `exchangeType`).
    pub fn from_byte(b: u8) -> ExchangeType {
        match b {
            1 => ExchangeType::NseCm,
            2 => ExchangeType::NseFo,
            3 => ExchangeType::BseCm,
            4 => ExchangeType::BseFo,
            5 => ExchangeType::McxFo,
            7 => ExchangeType::NcxFo,
            13 => ExchangeType::CdeFo,
            other => ExchangeType::Other(other),
        }
    }

    /// The byte (and JSON number) of this exchange type.
    pub fn code(self) -> u8 {
        match self {
            ExchangeType::NseCm => 1,
            ExchangeType::NseFo => 2,
            ExchangeType::BseCm => 3,
            ExchangeType::BseFo => 4,
            ExchangeType::McxFo => 5,
            ExchangeType::NcxFo => 7,
            ExchangeType::CdeFo => 13,
            ExchangeType::Other(b) => b,
        }
    }

    /// Angel's name (`nse_cm`, ...), `None` for a number it has not named.
    pub fn name(self) -> Option<&'static str> {
        match self {
            ExchangeType::NseCm => Some("nse_cm"),
            ExchangeType::NseFo => Some("nse_fo"),
            ExchangeType::BseCm => Some("bse_cm"),
            ExchangeType::BseFo => Some("bse_fo"),
            ExchangeType::McxFo => Some("mcx_fo"),
            ExchangeType::NcxFo => Some("ncx_fo"),
            ExchangeType::CdeFo => Some("cde_fo"),
            ExchangeType::Other(_) => None,
        }
    }
}

/// A number on the wire and in JSON.
impl Serialize for ExchangeType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

impl<'de> Deserialize<'de> for ExchangeType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ExchangeType, D::Error> {
        u8::deserialize(d).map(ExchangeType::from_byte)
    }
}

/// The fields Quote and SnapQuote packets add to the LTP ones (bytes 51..123).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quote {
    pub last_traded_quantity: i64,
    /// Paise.
    pub average_traded_price: i64,
    pub volume: i64,
    /// A double on the wire (any bit pattern, NaN included, passes through).
    pub total_buy_quantity: f64,
    pub total_sell_quantity: f64,
    /// Day's open, high, low and previous close, paise.
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
}

/// One of a SnapQuote's ten best-five levels (20 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BestFive {
    /// 0 for an ask; the client files any other value as a bid (the docs say 1).
    pub flag: u16,
    pub quantity: i64,
    /// Paise.
    pub price: i64,
    #[serde(rename = "no of orders")]
    pub orders: u16,
}

/// The fields a SnapQuote packet adds to a Quote's (bytes 123..379).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapQuote {
    /// Epoch, in whatever unit the exchange sends (undocumented; brokers.md §6.8).
    pub last_traded_timestamp: i64,
    pub open_interest: i64,
    /// The raw 8 bytes of the OI-change-% double read as an `i64`, as the client reads them.
    pub open_interest_change_percentage: i64,
    /// Levels whose flag is not 0, in wire order.
    pub best_five_buy: Vec<BestFive>,
    /// Levels whose flag is 0, in wire order.
    pub best_five_sell: Vec<BestFive>,
    /// Paise.
    pub upper_circuit: i64,
    pub lower_circuit: i64,
    pub week52_high: i64,
    pub week52_low: i64,
}

impl SnapQuote {
    /// The OI change as the documented double (a dummy field per the docs).
    pub fn open_interest_change_percentage_f64(&self) -> f64 {
        f64::from_bits(self.open_interest_change_percentage as u64)
    }
}

/// One depth-20 level (10 bytes). The narrow signed types are the client's (`<iih`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Depth20Level {
    pub quantity: i32,
    /// Paise.
    pub price: i32,
    #[serde(rename = "num_of_orders")]
    pub orders: i16,
}

/// The twenty bids (bytes 43..243) and twenty asks (243..443) of a depth-20 packet, by position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Depth20 {
    pub buy: [Depth20Level; 20],
    pub sell: [Depth20Level; 20],
}

/// One decoded packet. The groups present follow the mode: `quote` for Quote and SnapQuote,
/// `snap_quote` for SnapQuote, `depth20` for Depth-20.
///
/// Serializes to exactly the keys, nesting and numbers of the client's dict (see the module
/// doc for its quirks); a non-finite quantity is written as Python's json spells it (`"NaN"`…).
#[derive(Clone, Debug, PartialEq)]
pub struct SmartPacket {
    pub mode: Mode,
    pub exchange_type: ExchangeType,
    pub token: String,
    /// Bytes 27..35: the sequence number (not populated for indices); in a depth-20 packet the
    /// Java client's exchange timestamp, which the Python client discards.
    pub sequence_number: i64,
    /// Bytes 35..43: exchange time, epoch milliseconds; in a depth-20 packet the "packet
    /// received time" (a dummy per the docs) that the client calls both names.
    pub exchange_timestamp: i64,
    /// Paise; `None` in a depth-20 packet, which has none.
    pub last_traded_price: Option<i64>,
    pub quote: Option<Quote>,
    pub snap_quote: Option<SnapQuote>,
    pub depth20: Option<Depth20>,
}

/// The client's dict, key for key and in its order.
/// A double as the official client's output spells it through Python's `json`: a number, or
/// for a NaN or an infinity (which JSON cannot hold and serde_json would write as `null`,
/// losing which it was) the strings `"NaN"`, `"Infinity"`, `"-Infinity"`, as Upstox's
/// `MessageToDict` also writes them.
struct Double(f64);

impl Serialize for Double {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            x if x.is_nan() => s.serialize_str("NaN"),
            f64::INFINITY => s.serialize_str("Infinity"),
            f64::NEG_INFINITY => s.serialize_str("-Infinity"),
            x => s.serialize_f64(x),
        }
    }
}

impl Serialize for SmartPacket {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("subscription_mode", &self.mode)?;
        m.serialize_entry("exchange_type", &self.exchange_type)?;
        m.serialize_entry("token", &self.token)?;
        if let Some(d) = &self.depth20 {
            m.serialize_entry("exchange_timestamp", &self.exchange_timestamp)?;
            m.serialize_entry("packet_received_time", &self.exchange_timestamp)?;
            m.serialize_entry("depth_20_buy_data", &d.buy)?;
            m.serialize_entry("depth_20_sell_data", &d.sell)?;
            return m.end();
        }
        m.serialize_entry("sequence_number", &self.sequence_number)?;
        m.serialize_entry("exchange_timestamp", &self.exchange_timestamp)?;
        m.serialize_entry("last_traded_price", &self.last_traded_price)?;
        m.serialize_entry("subscription_mode_val", self.mode.client_name())?;
        if let Some(q) = &self.quote {
            m.serialize_entry("last_traded_quantity", &q.last_traded_quantity)?;
            m.serialize_entry("average_traded_price", &q.average_traded_price)?;
            m.serialize_entry("volume_trade_for_the_day", &q.volume)?;
            m.serialize_entry("total_buy_quantity", &Double(q.total_buy_quantity))?;
            m.serialize_entry("total_sell_quantity", &Double(q.total_sell_quantity))?;
            m.serialize_entry("open_price_of_the_day", &q.open)?;
            m.serialize_entry("high_price_of_the_day", &q.high)?;
            m.serialize_entry("low_price_of_the_day", &q.low)?;
            m.serialize_entry("closed_price", &q.close)?;
        }
        if let Some(sq) = &self.snap_quote {
            m.serialize_entry("last_traded_timestamp", &sq.last_traded_timestamp)?;
            m.serialize_entry("open_interest", &sq.open_interest)?;
            m.serialize_entry("open_interest_change_percentage", &sq.open_interest_change_percentage)?;
            m.serialize_entry("upper_circuit_limit", &sq.upper_circuit)?;
            m.serialize_entry("lower_circuit_limit", &sq.lower_circuit)?;
            m.serialize_entry("52_week_high_price", &sq.week52_high)?;
            m.serialize_entry("52_week_low_price", &sq.week52_low)?;
            m.serialize_entry("best_5_buy_data", &sq.best_five_buy)?;
            m.serialize_entry("best_5_sell_data", &sq.best_five_sell)?;
        }
        m.end()
    }
}

/// Length of the NUL-padded token field.
const TOKEN_LEN: usize = 25;
/// Where the best-five levels (10 × 20 bytes) and the depth-20 levels (40 × 10 bytes) start.
const BEST_FIVE_AT: usize = 147;
const DEPTH20_AT: usize = 43;

/// Decodes one binary WebSocket message as one packet. Bytes past the mode's length are
/// ignored (as the client ignores them).
pub fn decode_packet(bytes: &[u8]) -> Result<SmartPacket, StreamError> {
    let &first = bytes.first().ok_or(StreamError::Empty)?;
    let mode = Mode::from_byte(first).ok_or(StreamError::UnknownMode(first))?;
    let needed = mode.packet_len();
    let too_short = StreamError::TooShort { mode, needed, got: bytes.len() };
    // Every read below is inside `p`'s `needed` bytes, so `None` cannot come back; it is mapped
    // to the same error rather than unwrapped, so a slip in an offset is an error, not a panic.
    let p = bytes.get(..needed).ok_or_else(|| too_short.clone())?;
    read(mode, p).ok_or(too_short)
}

/// The fields of a packet of `mode`, `None` if `p` is too short for them.
fn read(mode: Mode, p: &[u8]) -> Option<SmartPacket> {
    let exchange_type = ExchangeType::from_byte(*p.get(1)?);
    let token = p.get(2..2 + TOKEN_LEN)?.iter().take_while(|&&b| b != 0).map(|&b| char::from(b)).collect();
    let mut out = SmartPacket {
        mode,
        exchange_type,
        token,
        sequence_number: i64_at(p, 27)?,
        exchange_timestamp: i64_at(p, 35)?,
        last_traded_price: None,
        quote: None,
        snap_quote: None,
        depth20: None,
    };
    if mode == Mode::Depth20 {
        let mut d = Depth20 { buy: [Depth20Level::default(); 20], sell: [Depth20Level::default(); 20] };
        for (k, level) in d.buy.iter_mut().chain(d.sell.iter_mut()).enumerate() {
            let at = DEPTH20_AT + 10 * k;
            *level = Depth20Level {
                quantity: i32::from_le_bytes(array(p, at)?),
                price: i32::from_le_bytes(array(p, at + 4)?),
                orders: i16::from_le_bytes(array(p, at + 8)?),
            };
        }
        out.depth20 = Some(d);
        return Some(out);
    }
    out.last_traded_price = Some(i64_at(p, 43)?);
    if mode == Mode::Ltp {
        return Some(out);
    }
    out.quote = Some(Quote {
        last_traded_quantity: i64_at(p, 51)?,
        average_traded_price: i64_at(p, 59)?,
        volume: i64_at(p, 67)?,
        total_buy_quantity: f64::from_le_bytes(array(p, 75)?),
        total_sell_quantity: f64::from_le_bytes(array(p, 83)?),
        open: i64_at(p, 91)?,
        high: i64_at(p, 99)?,
        low: i64_at(p, 107)?,
        close: i64_at(p, 115)?,
    });
    if mode == Mode::Quote {
        return Some(out);
    }
    let mut buy = Vec::with_capacity(10);
    let mut sell = Vec::with_capacity(10);
    for k in 0..10 {
        let at = BEST_FIVE_AT + 20 * k;
        let level = BestFive {
            flag: u16::from_le_bytes(array(p, at)?),
            quantity: i64_at(p, at + 2)?,
            price: i64_at(p, at + 10)?,
            orders: u16::from_le_bytes(array(p, at + 18)?),
        };
        if level.flag == 0 {
            sell.push(level);
        } else {
            buy.push(level);
        }
    }
    out.snap_quote = Some(SnapQuote {
        last_traded_timestamp: i64_at(p, 123)?,
        open_interest: i64_at(p, 131)?,
        open_interest_change_percentage: i64_at(p, 139)?,
        best_five_buy: buy,
        best_five_sell: sell,
        upper_circuit: i64_at(p, 347)?,
        lower_circuit: i64_at(p, 355)?,
        week52_high: i64_at(p, 363)?,
        week52_low: i64_at(p, 371)?,
    });
    Some(out)
}

/// The `N` bytes of `p` at `at`, if there are that many.
fn array<const N: usize>(p: &[u8], at: usize) -> Option<[u8; N]> {
    p.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn i64_at(p: &[u8], at: usize) -> Option<i64> {
    array(p, at).map(i64::from_le_bytes)
}

/// `action` of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Unsubscribe = 0,
    Subscribe = 1,
}

/// A number (1 or 0) in JSON.
impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*self as u8)
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Action, D::Error> {
        match u8::deserialize(d)? {
            0 => Ok(Action::Unsubscribe),
            1 => Ok(Action::Subscribe),
            n => Err(de::Error::custom(format!("unknown action {n}"))),
        }
    }
}

/// The tokens of one exchange type in a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenGroup {
    #[serde(rename = "exchangeType")]
    pub exchange_type: ExchangeType,
    pub tokens: Vec<String>,
}

/// `params` of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestParams {
    pub mode: Mode,
    #[serde(rename = "tokenList")]
    pub token_list: Vec<TokenGroup>,
}

/// A subscribe or unsubscribe request, sent as a JSON text frame (brokers.md §2.11.2):
/// `{"correlationID":..,"action":1,"params":{"mode":3,"tokenList":[{"exchangeType":1,"tokens":[..]}]}}`.
/// Also `Deserialize`, so a fake server can read what a client sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRequest {
    /// Echoed in the server's error reply; at most 10 characters (the server's limit).
    #[serde(rename = "correlationID", default)]
    pub correlation_id: String,
    pub action: Action,
    pub params: RequestParams,
}

impl StreamRequest {
    /// A request for `tokens`, grouped by exchange type: one group per exchange type in the
    /// order of its first token, tokens in the order given (the server ignores duplicates).
    pub fn new<I, T>(action: Action, correlation_id: impl Into<String>, mode: Mode, tokens: I) -> StreamRequest
    where
        I: IntoIterator<Item = (ExchangeType, T)>,
        T: Into<String>,
    {
        let mut token_list: Vec<TokenGroup> = Vec::new();
        for (exchange_type, token) in tokens {
            match token_list.iter_mut().find(|g| g.exchange_type == exchange_type) {
                Some(g) => g.tokens.push(token.into()),
                None => token_list.push(TokenGroup { exchange_type, tokens: vec![token.into()] }),
            }
        }
        StreamRequest { correlation_id: correlation_id.into(), action, params: RequestParams { mode, token_list } }
    }

    /// [`StreamRequest::new`] with action 1.
    pub fn subscribe<I, T>(correlation_id: impl Into<String>, mode: Mode, tokens: I) -> StreamRequest
    where
        I: IntoIterator<Item = (ExchangeType, T)>,
        T: Into<String>,
    {
        StreamRequest::new(Action::Subscribe, correlation_id, mode, tokens)
    }

    /// [`StreamRequest::new`] with action 0.
    pub fn unsubscribe<I, T>(correlation_id: impl Into<String>, mode: Mode, tokens: I) -> StreamRequest
    where
        I: IntoIterator<Item = (ExchangeType, T)>,
        T: Into<String>,
    {
        StreamRequest::new(Action::Unsubscribe, correlation_id, mode, tokens)
    }
}

/// The server's reply to a request it rejects, a JSON text frame:
/// `{"correlationID":"..","errorCode":"E1002","errorMessage":".."}` (E1001 invalid request,
/// E1002 subscription limit exceeded). A request sent without an ID gets an empty one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    #[serde(rename = "correlationID", default)]
    pub correlation_id: String,
    #[serde(rename = "errorCode")]
    pub error_code: String,
    #[serde(rename = "errorMessage", default)]
    pub error_message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        crate::hex::decode(s).expect("hex")
    }

    /// brokers.md §2.11.4, LTP.
    const LTP: &str = concat!(
        "01013330343500000000000000000000000000000000000000000039300000000000007b68e5cf8b0100007fdf",
        "000000000000"
    );
    /// brokers.md §2.11.4, Quote.
    const QUOTE: &str = concat!(
        "0201333034350000000000000000000000000000000000000000003a30000000000000c869e5cf8b0100007fdf",
        "0000000000000a000000000000000cdf00000000000040e20100000000000000000000408f40000000000040",
        "9f4044de0000000000009ce0000000000000e0dd000000000000aedd000000000000"
    );

    #[test]
    fn the_documented_ltp_packet() {
        let p = decode_packet(&unhex(LTP)).expect("decodes");
        assert_eq!(p.mode, Mode::Ltp);
        assert_eq!(p.exchange_type, ExchangeType::NseCm);
        assert_eq!(p.token, "3045");
        assert_eq!(p.sequence_number, 12345);
        assert_eq!(p.exchange_timestamp, 1_700_000_000_123);
        assert_eq!(p.last_traded_price, Some(57215));
        assert!(p.quote.is_none() && p.snap_quote.is_none() && p.depth20.is_none());
    }

    #[test]
    fn the_documented_quote_packet() {
        let p = decode_packet(&unhex(QUOTE)).expect("decodes");
        assert_eq!((p.mode, p.token.as_str(), p.sequence_number), (Mode::Quote, "3045", 12346));
        assert_eq!(p.exchange_timestamp, 1_700_000_000_456);
        assert_eq!(p.last_traded_price, Some(57215));
        let q = p.quote.expect("quote fields");
        assert_eq!((q.last_traded_quantity, q.average_traded_price, q.volume), (10, 57100, 123_456));
        assert_eq!((q.total_buy_quantity, q.total_sell_quantity), (1000.0, 2000.0));
        assert_eq!((q.open, q.high, q.low, q.close), (56900, 57500, 56800, 56750));
        assert!(p.snap_quote.is_none());
    }

    #[test]
    fn short_empty_and_unknown_packets_are_errors() {
        assert_eq!(decode_packet(&[]), Err(StreamError::Empty));
        let ltp = unhex(LTP);
        assert_eq!(decode_packet(&ltp[..50]), Err(StreamError::TooShort { mode: Mode::Ltp, needed: 51, got: 50 }));
        let mut unknown = ltp.clone();
        unknown[0] = 9;
        assert_eq!(decode_packet(&unknown), Err(StreamError::UnknownMode(9)));
        let mut snap = unhex(QUOTE);
        snap[0] = 3;
        assert_eq!(decode_packet(&snap), Err(StreamError::TooShort { mode: Mode::SnapQuote, needed: 379, got: 123 }));
        let err = StreamError::TooShort { mode: Mode::Depth20, needed: 443, got: 51 }.to_string();
        assert_eq!(err, "Depth20 packet needs 443 bytes, got 51");
    }

    #[test]
    fn trailing_bytes_are_ignored_and_unknown_exchanges_kept() {
        let mut ltp = unhex(LTP);
        ltp[1] = 42;
        ltp.extend_from_slice(&[0xFF; 9]);
        let p = decode_packet(&ltp).expect("decodes");
        assert_eq!(p.exchange_type, ExchangeType::Other(42));
        assert_eq!(p.exchange_type.code(), 42);
        assert_eq!(p.last_traded_price, Some(57215));
    }

    #[test]
    fn every_exchange_type_round_trips_its_byte() {
        for b in 0..=u8::MAX {
            assert_eq!(ExchangeType::from_byte(b).code(), b);
        }
        assert_eq!(ExchangeType::from_byte(13), ExchangeType::CdeFo);
        assert_eq!(ExchangeType::CdeFo.name(), Some("cde_fo"));
    }

    #[test]
    fn a_subscribe_request_is_the_documented_json() {
        let r = StreamRequest::subscribe(
            "abcde12345",
            Mode::SnapQuote,
            [(ExchangeType::NseCm, "3045"), (ExchangeType::NseFo, "43919"), (ExchangeType::NseCm, "2885")],
        );
        let json = serde_json::to_string(&r).expect("json");
        assert_eq!(
            json,
            r#"{"correlationID":"abcde12345","action":1,"params":{"mode":3,"tokenList":[{"exchangeType":1,"tokens":["3045","2885"]},{"exchangeType":2,"tokens":["43919"]}]}}"#
        );
        assert_eq!(serde_json::from_str::<StreamRequest>(&json).expect("reads back"), r);
        let u = StreamRequest::unsubscribe("", Mode::Depth20, [(ExchangeType::Other(99), String::from("1"))]);
        assert_eq!(
            serde_json::to_string(&u).expect("json"),
            r#"{"correlationID":"","action":0,"params":{"mode":4,"tokenList":[{"exchangeType":99,"tokens":["1"]}]}}"#
        );
    }

    #[test]
    fn the_error_reply_reads() {
        let r: ErrorReply = serde_json::from_str(
            r#"{"correlationID":"abcde12345","errorCode":"E1002","errorMessage":"Subscription limit exceeded"}"#,
        )
        .expect("reads");
        assert_eq!(r.correlation_id, "abcde12345");
        assert_eq!(r.error_code, "E1002");
        assert_eq!(r.error_message, "Subscription limit exceeded");
    }
}
