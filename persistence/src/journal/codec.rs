//! Binary encoding of ingress events. Fixed little-endian layouts per kind, so a record is a
//! few stores to write and a few loads to read, and the format is independent of Rust's
//! in-memory layout.

use dalal_core::model::RiskLimits;
use dalal_core::model::{
    AccountId, InstrumentId, Money, OrderId, OrderIntent, OrderType, Price, Product, Qty, Side, StrategyId, Tag,
    Timestamp, Validity,
};
use dalal_core::model::{Adoption, Command, Feedback, FeedbackRoute, Input, KillScope};
use dalal_core::model::{ParamBytes, StrategyParams, PARAM_BYTES};
use dalal_core::model::{Quote, Tick};
use dalal_core::model::{ReasonText, ReportKind, VenueId, VenueOrderId, VenueReport, VenueTradeId};

/// Why bytes do not decode to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record ends early")]
    Short,
    #[error("unknown record kind {0}")]
    Kind(u8),
    #[error("bad field value")]
    Value,
}

pub(crate) struct Writer<'a>(pub &'a mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
}

pub(crate) struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Reader { b, at: 0 }
    }
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.b.get(self.at..self.at + N).ok_or(DecodeError::Short)?;
        self.at += N;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.take()?))
    }
    fn slice(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let s = self.b.get(self.at..self.at + n).ok_or(DecodeError::Short)?;
        self.at += n;
        Ok(s)
    }
    fn done(&self) -> bool {
        self.at == self.b.len()
    }
}

const TICK: u8 = 1;
const TIMER: u8 = 2;
const OPEN_INTEREST: u8 = 3;
const QUOTE: u8 = 4;
const KILL: u8 = 10;
const LIMITS: u8 = 11;
const PLACE: u8 = 12;
const CANCEL: u8 = 13;
const MODIFY: u8 = 14;
const CANCEL_WORKING: u8 = 15;
const STRATEGY: u8 = 16;
const STRATEGY_PARAMS: u8 = 17;
const ADOPT: u8 = 18;
const VENUE_REPORT: u8 = 20;
const FEEDBACK: u8 = 21;
const ROUTE: u8 = 22;

fn scope(w: &mut Writer, s: KillScope) {
    match s {
        KillScope::Global => {
            w.u8(0);
            w.u16(0);
        }
        KillScope::Account(a) => {
            w.u8(1);
            w.u16(a.0);
        }
    }
}

fn read_scope(r: &mut Reader) -> Result<KillScope, DecodeError> {
    let k = r.u8()?;
    let a = r.u16()?;
    match k {
        0 => Ok(KillScope::Global),
        1 => Ok(KillScope::Account(AccountId(a))),
        _ => Err(DecodeError::Value),
    }
}

fn product_code(p: Product) -> u8 {
    p.index() as u8
}

fn product(v: u8) -> Result<Product, DecodeError> {
    Product::ALL.get(v as usize).copied().ok_or(DecodeError::Value)
}

fn intent(w: &mut Writer, i: &OrderIntent) {
    w.u16(i.account.0);
    w.u16(i.strategy.0);
    w.u32(i.instrument.0);
    w.u8(matches!(i.side, Side::Sell) as u8);
    w.u64(i.qty.0);
    w.u8(match i.order_type {
        OrderType::Market => 0,
        OrderType::Limit => 1,
        OrderType::StopLimit => 2,
        OrderType::StopMarket => 3,
    });
    w.i64(i.price.0);
    w.i64(i.trigger.0);
    w.u8(product_code(i.product));
    w.u8(matches!(i.validity, Validity::Ioc) as u8);
    w.u8(i.amo as u8);
    let t = i.tag.as_str().as_bytes();
    w.u8(t.len() as u8);
    let mut pad = [0u8; Tag::MAX];
    pad[..t.len()].copy_from_slice(t);
    w.0.extend_from_slice(&pad);
}

fn read_intent(r: &mut Reader) -> Result<OrderIntent, DecodeError> {
    let account = AccountId(r.u16()?);
    let strategy = StrategyId(r.u16()?);
    let instrument = InstrumentId(r.u32()?);
    let side = if r.u8()? == 0 { Side::Buy } else { Side::Sell };
    let qty = Qty(r.u64()?);
    let order_type = match r.u8()? {
        0 => OrderType::Market,
        1 => OrderType::Limit,
        2 => OrderType::StopLimit,
        3 => OrderType::StopMarket,
        _ => return Err(DecodeError::Value),
    };
    let price = Price(r.i64()?);
    let trigger = Price(r.i64()?);
    let product = product(r.u8()?)?;
    let validity = if r.u8()? == 0 { Validity::Day } else { Validity::Ioc };
    let amo = r.u8()? != 0;
    let len = r.u8()? as usize;
    let raw: [u8; Tag::MAX] = r.take()?;
    let text = std::str::from_utf8(raw.get(..len).ok_or(DecodeError::Value)?).map_err(|_| DecodeError::Value)?;
    let tag = Tag::new(text).ok_or(DecodeError::Value)?;
    Ok(OrderIntent {
        account,
        strategy,
        instrument,
        side,
        qty,
        order_type,
        price,
        trigger,
        product,
        validity,
        amo,
        tag,
    })
}

fn limits(w: &mut Writer, l: &RiskLimits) {
    w.u64(l.max_order_qty.0);
    w.i64(l.max_order_value.0);
    w.u64(l.max_position_qty.0);
    w.i64(l.max_position_value.0);
    w.i64(l.max_gross_exposure.0);
    w.i64(l.max_net_exposure.0);
    w.u32(l.max_open_orders);
    w.u32(l.max_orders_per_sec);
    w.i64(l.daily_loss_limit.0);
    w.u8(l.square_off_on_loss as u8);
    w.u32(l.fat_finger_bps);
    w.u32(l.duplicate_window_ms);
}

fn read_limits(r: &mut Reader) -> Result<RiskLimits, DecodeError> {
    Ok(RiskLimits {
        max_order_qty: Qty(r.u64()?),
        max_order_value: Money(r.i64()?),
        max_position_qty: Qty(r.u64()?),
        max_position_value: Money(r.i64()?),
        max_gross_exposure: Money(r.i64()?),
        max_net_exposure: Money(r.i64()?),
        max_open_orders: r.u32()?,
        max_orders_per_sec: r.u32()?,
        daily_loss_limit: Money(r.i64()?),
        square_off_on_loss: r.u8()? != 0,
        fat_finger_bps: r.u32()?,
        duplicate_window_ms: r.u32()?,
    })
}

/// Appends the encoding of `input` to `out`. `Input::Empty` encodes nothing and returns false.
pub fn encode(input: &Input, out: &mut Vec<u8>) -> bool {
    let mut w = Writer(out);
    match *input {
        Input::Empty => return false,
        Input::Tick(t) => {
            w.u8(TICK);
            w.u32(t.instrument.0);
            w.i64(t.ts.0);
            w.i64(t.price.0);
            w.u64(t.qty.0);
        }
        Input::Timer(ts) => {
            w.u8(TIMER);
            w.i64(ts.0);
        }
        Input::OpenInterest { instrument, ts, oi } => {
            w.u8(OPEN_INTEREST);
            w.u32(instrument.0);
            w.i64(ts.0);
            w.u64(oi);
        }
        Input::Quote(q) => {
            w.u8(QUOTE);
            w.u32(q.instrument.0);
            w.i64(q.ts.0);
            w.i64(q.bid.0);
            w.i64(q.ask.0);
        }
        Input::VenueReport(r) => {
            w.u8(VENUE_REPORT);
            venue_report(&mut w, &r);
        }
        // The engine's own feedback is replayed by the engine that wrote it, never read by
        // anything else, so it keeps the model's own serde layout (postcard: exact, and
        // independent of the in-memory layout) rather than a hand-kept one.
        Input::Feedback(f) => {
            w.u8(FEEDBACK);
            match postcard::to_extend(&f, std::mem::take(w.0)) {
                Ok(v) => *w.0 = v,
                Err(_) => return false,
            }
        }
        Input::Route(r) => {
            w.u8(ROUTE);
            w.u8(match r {
                FeedbackRoute::Inline => 0,
                FeedbackRoute::Journaled => 1,
            });
        }
        Input::Command(c) => match c {
            Command::KillSwitch { scope: s, engaged } => {
                w.u8(KILL);
                scope(&mut w, s);
                w.u8(engaged as u8);
            }
            Command::SetLimits { account, limits: l } => {
                w.u8(LIMITS);
                w.u16(account.0);
                limits(&mut w, &l);
            }
            Command::Place { intent: i } => {
                w.u8(PLACE);
                intent(&mut w, &i);
            }
            Command::Cancel { account, order } => {
                w.u8(CANCEL);
                w.u16(account.0);
                w.u64(order.0);
            }
            Command::Modify { account, order, qty, price, trigger } => {
                w.u8(MODIFY);
                w.u16(account.0);
                w.u64(order.0);
                w.u64(qty.0);
                w.i64(price.0);
                w.i64(trigger.0);
            }
            Command::StrategyEnabled { strategy, enabled } => {
                w.u8(STRATEGY);
                w.u16(strategy.0);
                w.u8(enabled as u8);
            }
            Command::SetStrategyParams { strategy, params } => {
                w.u8(STRATEGY_PARAMS);
                w.u16(strategy.0);
                strategy_params(&mut w, &params);
            }
            Command::CancelWorking { scope: s, product: p } => {
                w.u8(CANCEL_WORKING);
                scope(&mut w, s);
                w.u8(p.map(|p| product_code(p) + 1).unwrap_or(0));
            }
            // account u16, instrument u32, product u8, side u8 (0 buy, 1 sell), qty u64, price i64.
            Command::Adopt(a) => {
                w.u8(ADOPT);
                w.u16(a.account.0);
                w.u32(a.instrument.0);
                w.u8(product_code(a.product));
                w.u8(matches!(a.side, Side::Sell) as u8);
                w.u64(a.qty.0);
                w.i64(a.price.0);
            }
        },
    }
    true
}

/// Strategy parameters: qty u64, allow_short u8, then the strategy's encoded parameter struct
/// as a length (u8) and its bytes. What the bytes mean is the strategy kind's business: the
/// engine decodes and validates them against the strategy they are for, and refuses (and
/// counts) what does not validate, so a journal never needs to know the strategies it holds.
fn strategy_params(w: &mut Writer<'_>, p: &StrategyParams) {
    w.u64(p.qty);
    w.u8(p.allow_short as u8);
    let bytes = p.bytes.as_slice();
    w.u8(bytes.len() as u8);
    w.0.extend_from_slice(bytes);
}

fn read_strategy_params(r: &mut Reader<'_>) -> Result<StrategyParams, DecodeError> {
    let qty = r.u64()?;
    let allow_short = match r.u8()? {
        0 => false,
        1 => true,
        _ => return Err(DecodeError::Value),
    };
    let len = usize::from(r.u8()?);
    if qty == 0 || len > PARAM_BYTES {
        return Err(DecodeError::Value);
    }
    let bytes = ParamBytes::new(r.slice(len)?).ok_or(DecodeError::Value)?;
    Ok(StrategyParams { qty, allow_short, bytes })
}

/// A venue report: venue u16, account u16, order u64, venue order id (text), ts i64, then a
/// kind byte and its fields. Texts are a length byte and UTF-8 bytes.
fn venue_report(w: &mut Writer<'_>, r: &VenueReport) {
    w.u16(r.venue.0);
    w.u16(r.account.0);
    w.u64(r.order.0);
    text(w, r.venue_order.as_str());
    w.i64(r.ts.0);
    match r.kind {
        ReportKind::Accepted => w.u8(1),
        ReportKind::Rejected { code, reason } => {
            w.u8(2);
            w.u16(code);
            text(w, reason.as_str());
        }
        ReportKind::Fill { trade, price, qty } => {
            w.u8(3);
            text(w, trade.as_str());
            w.i64(price.0);
            w.u64(qty.0);
        }
        ReportKind::Cancelled { reason } => {
            w.u8(4);
            text(w, reason.as_str());
        }
        ReportKind::Modified { qty, price, trigger } => {
            w.u8(5);
            w.u64(qty.0);
            w.i64(price.0);
            w.i64(trigger.0);
        }
        ReportKind::Expired => w.u8(6),
        ReportKind::Triggered => w.u8(7),
    }
}

fn text(w: &mut Writer<'_>, s: &str) {
    w.u8(s.len() as u8);
    w.0.extend_from_slice(s.as_bytes());
}

fn read_text<'a>(r: &mut Reader<'a>) -> Result<&'a str, DecodeError> {
    let n = usize::from(r.u8()?);
    std::str::from_utf8(r.slice(n)?).map_err(|_| DecodeError::Value)
}

fn read_venue_report(r: &mut Reader<'_>) -> Result<VenueReport, DecodeError> {
    let venue = VenueId(r.u16()?);
    let account = AccountId(r.u16()?);
    let order = OrderId(r.u64()?);
    let venue_order = VenueOrderId::new(read_text(r)?).ok_or(DecodeError::Value)?;
    let ts = Timestamp(r.i64()?);
    let kind = match r.u8()? {
        1 => ReportKind::Accepted,
        2 => ReportKind::Rejected { code: r.u16()?, reason: ReasonText::new(read_text(r)?).ok_or(DecodeError::Value)? },
        3 => ReportKind::Fill {
            trade: VenueTradeId::new(read_text(r)?).ok_or(DecodeError::Value)?,
            price: Price(r.i64()?),
            qty: Qty(r.u64()?),
        },
        4 => ReportKind::Cancelled { reason: ReasonText::new(read_text(r)?).ok_or(DecodeError::Value)? },
        5 => ReportKind::Modified { qty: Qty(r.u64()?), price: Price(r.i64()?), trigger: Price(r.i64()?) },
        6 => ReportKind::Expired,
        7 => ReportKind::Triggered,
        _ => return Err(DecodeError::Value),
    };
    Ok(VenueReport { venue, account, order, venue_order, ts, kind })
}

/// Decodes one encoded input; trailing bytes are an error.
pub fn decode(bytes: &[u8]) -> Result<Input, DecodeError> {
    let mut r = Reader::new(bytes);
    let input = match r.u8()? {
        TICK => Input::Tick(Tick {
            instrument: InstrumentId(r.u32()?),
            ts: Timestamp(r.i64()?),
            price: Price(r.i64()?),
            qty: Qty(r.u64()?),
        }),
        TIMER => Input::Timer(Timestamp(r.i64()?)),
        OPEN_INTEREST => {
            Input::OpenInterest { instrument: InstrumentId(r.u32()?), ts: Timestamp(r.i64()?), oi: r.u64()? }
        }
        QUOTE => Input::Quote(Quote {
            instrument: InstrumentId(r.u32()?),
            ts: Timestamp(r.i64()?),
            bid: Price(r.i64()?),
            ask: Price(r.i64()?),
        }),
        KILL => {
            let s = read_scope(&mut r)?;
            Input::Command(Command::KillSwitch { scope: s, engaged: r.u8()? != 0 })
        }
        LIMITS => {
            let account = AccountId(r.u16()?);
            Input::Command(Command::SetLimits { account, limits: read_limits(&mut r)? })
        }
        PLACE => Input::Command(Command::Place { intent: read_intent(&mut r)? }),
        CANCEL => Input::Command(Command::Cancel { account: AccountId(r.u16()?), order: OrderId(r.u64()?) }),
        MODIFY => Input::Command(Command::Modify {
            account: AccountId(r.u16()?),
            order: OrderId(r.u64()?),
            qty: Qty(r.u64()?),
            price: Price(r.i64()?),
            trigger: Price(r.i64()?),
        }),
        VENUE_REPORT => Input::VenueReport(read_venue_report(&mut r)?),
        FEEDBACK => {
            let rest = r.slice(bytes.len() - r.at)?;
            let (f, tail) = postcard::take_from_bytes::<Feedback>(rest).map_err(|_| DecodeError::Value)?;
            if !tail.is_empty() {
                return Err(DecodeError::Value);
            }
            Input::Feedback(f)
        }
        ROUTE => Input::Route(match r.u8()? {
            0 => FeedbackRoute::Inline,
            1 => FeedbackRoute::Journaled,
            _ => return Err(DecodeError::Value),
        }),
        STRATEGY => Input::Command(Command::StrategyEnabled { strategy: StrategyId(r.u16()?), enabled: r.u8()? != 0 }),
        STRATEGY_PARAMS => {
            let strategy = StrategyId(r.u16()?);
            Input::Command(Command::SetStrategyParams { strategy, params: read_strategy_params(&mut r)? })
        }
        CANCEL_WORKING => {
            let s = read_scope(&mut r)?;
            let p = match r.u8()? {
                0 => None,
                k => Some(product(k - 1)?),
            };
            Input::Command(Command::CancelWorking { scope: s, product: p })
        }
        ADOPT => Input::Command(Command::Adopt(Adoption {
            account: AccountId(r.u16()?),
            instrument: InstrumentId(r.u32()?),
            product: product(r.u8()?)?,
            side: match r.u8()? {
                0 => Side::Buy,
                1 => Side::Sell,
                _ => return Err(DecodeError::Value),
            },
            qty: Qty(r.u64()?),
            price: Price(r.i64()?),
        })),
        k => return Err(DecodeError::Kind(k)),
    };
    if !r.done() {
        return Err(DecodeError::Value);
    }
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One configured instance of every built-in strategy, from the shipped configurations.
    fn builtin_strategies() -> Vec<dalal_core::engine::setup::StrategySetup> {
        let mut out = Vec::new();
        for text in
            [include_str!("../../../config/default.toml"), include_str!("../../../config/examples/strategies.toml")]
        {
            let config: dalal_config::Config = toml::from_str(text).expect("shipped config parses");
            out.extend(config.validate().expect("shipped config validates").strategies);
        }
        let mut kinds: Vec<_> = out.iter().map(|s| s.kind.name()).collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), 6, "{kinds:?}");
        out
    }

    fn round(i: Input) {
        let mut b = Vec::new();
        assert!(encode(&i, &mut b));
        assert_eq!(decode(&b), Ok(i));
        // Every strict prefix is refused, never misread.
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err(), "prefix {n} of {i:?}");
        }
    }

    #[test]
    fn every_input_round_trips() {
        let mut intent =
            OrderIntent::limit(AccountId(2), StrategyId(7), InstrumentId(9), Side::Sell, Qty(75), Price(12_345));
        intent.tag = Tag::new("orb-day-1").unwrap_or_default();
        intent.amo = true;
        intent.product = Product::Nrml;
        intent.validity = Validity::Ioc;
        let limits = RiskLimits {
            max_order_qty: Qty(10),
            daily_loss_limit: Money(5_000),
            square_off_on_loss: true,
            ..RiskLimits::NONE
        };
        for i in [
            Input::Tick(Tick { instrument: InstrumentId(3), ts: Timestamp(-5), price: Price(100), qty: Qty(7) }),
            Input::Timer(Timestamp(i64::MAX)),
            Input::Quote(Quote { instrument: InstrumentId(2), ts: Timestamp(9), bid: Price(995), ask: Price(1005) }),
            Input::OpenInterest { instrument: InstrumentId(1), ts: Timestamp(5), oi: 99 },
            Input::Command(Command::KillSwitch { scope: KillScope::Global, engaged: true }),
            Input::Command(Command::KillSwitch { scope: KillScope::Account(AccountId(4)), engaged: false }),
            Input::Command(Command::SetLimits { account: AccountId(1), limits }),
            Input::Command(Command::Place { intent }),
            Input::Command(Command::Cancel { account: AccountId(1), order: OrderId(42) }),
            Input::Command(Command::Modify {
                account: AccountId(1),
                order: OrderId(42),
                qty: Qty(3),
                price: Price(5),
                trigger: Price(0),
            }),
            Input::Command(Command::CancelWorking { scope: KillScope::Global, product: Some(Product::Mis) }),
            Input::Command(Command::StrategyEnabled { strategy: StrategyId(3), enabled: false }),
            Input::Command(Command::CancelWorking { scope: KillScope::Account(AccountId(0)), product: None }),
            Input::Command(Command::Adopt(Adoption {
                account: AccountId(1),
                instrument: InstrumentId(4),
                product: Product::Nrml,
                side: Side::Sell,
                qty: Qty(150),
                price: Price(2_245_005),
            })),
        ] {
            round(i);
        }
        // Every kind of venue report.
        let vid = VenueOrderId::new("241202000123456").unwrap_or_default();
        let base = VenueReport {
            venue: VenueId(2),
            account: AccountId(1),
            order: OrderId(77),
            venue_order: vid,
            ts: Timestamp(1_795_146_300_000_000_000),
            kind: ReportKind::Accepted,
        };
        let trade = VenueTradeId::new("T-9").unwrap_or_default();
        for kind in [
            ReportKind::Accepted,
            ReportKind::Rejected { code: 17, reason: ReasonText::lossy("RMS: margin exceeds ₹") },
            ReportKind::Fill { trade, price: Price(140_050), qty: Qty(3) },
            ReportKind::Cancelled { reason: ReasonText::EMPTY },
            ReportKind::Modified { qty: Qty(8), price: Price(1), trigger: Price(2) },
            ReportKind::Expired,
            ReportKind::Triggered,
        ] {
            round(Input::VenueReport(VenueReport { kind, ..base }));
        }
        // Every kind of feedback, and both routes.
        let fill = dalal_core::model::Fill {
            id: dalal_core::model::FillId(5),
            order: OrderId(77),
            account: AccountId(1),
            strategy: StrategyId(2),
            instrument: InstrumentId(3),
            side: Side::Sell,
            qty: Qty(3),
            price: Price(140_050),
            ts: Timestamp(1_795_146_300_000_000_000),
            product: Product::Mis,
            charges: Money(1_234),
        };
        let open = OrderIntent::limit(AccountId(1), StrategyId(2), InstrumentId(3), Side::Buy, Qty(9), Price(100));
        for f in [
            Feedback::Accepted { order: OrderId(77), intent: open },
            Feedback::Filled { fill, done: true },
            Feedback::Adopted { fill },
            Feedback::Closed {
                order: OrderId(77),
                account: AccountId(1),
                strategy: StrategyId(2),
                instrument: InstrumentId(3),
                product: Product::Cnc,
                side: Side::Buy,
                unfilled: Qty(6),
                reason: dalal_core::model::CloseReason::VenueRejected,
            },
            Feedback::Modified { order: OrderId(77), intent: open, old_remaining: Qty(9), new_remaining: Qty(4) },
            Feedback::CommandRefused {
                account: AccountId(1),
                order: OrderId(8),
                reason: dalal_core::model::RejectReason::NotModifiable,
            },
        ] {
            round(Input::Feedback(f));
        }
        round(Input::Route(FeedbackRoute::Inline));
        round(Input::Route(FeedbackRoute::Journaled));
        assert_eq!(decode(&[ROUTE, 2]), Err(DecodeError::Value));
        let mut fb = Vec::new();
        assert!(encode(&Input::Feedback(Feedback::Filled { fill, done: false }), &mut fb));
        fb.push(0);
        assert_eq!(decode(&fb), Err(DecodeError::Value), "trailing bytes after feedback");
        // A venue id longer than any venue's, or text that is not UTF-8, is refused.
        let mut buf = Vec::new();
        assert!(encode(&Input::VenueReport(base), &mut buf));
        let at = 1 + 2 + 2 + 8;
        let mut long = buf.clone();
        long[at] = 30;
        long.extend([b'x'; 30]);
        assert_eq!(decode(&long), Err(DecodeError::Value));
        buf[at + 1] = 0xff;
        assert_eq!(decode(&buf), Err(DecodeError::Value));

        // Every built-in strategy's parameters, encoded by its own registration.
        for s in &builtin_strategies() {
            let params = StrategyParams { qty: 10, allow_short: true, ..s.params };
            round(Input::Command(Command::SetStrategyParams { strategy: s.id, params }));
        }
        let empty = StrategyParams { qty: 1, allow_short: false, bytes: ParamBytes::EMPTY };
        round(Input::Command(Command::SetStrategyParams { strategy: StrategyId(0), params: empty }));
        // A zero size, a flag that is not 0 or 1, or more bytes than a command can hold are
        // not parameters any strategy could have.
        let mut buf = Vec::new();
        let cmd = Command::SetStrategyParams { strategy: StrategyId(0), params: StrategyParams { qty: 0, ..empty } };
        assert!(encode(&Input::Command(cmd), &mut buf));
        assert_eq!(decode(&buf), Err(DecodeError::Value));
        let cmd = Command::SetStrategyParams { strategy: StrategyId(0), params: empty };
        buf.clear();
        assert!(encode(&Input::Command(cmd), &mut buf));
        let flag = buf.len() - 2;
        buf[flag] = 7;
        assert_eq!(decode(&buf), Err(DecodeError::Value));
        buf[flag] = 0;
        let len = buf.len() - 1;
        buf[len] = (PARAM_BYTES + 1) as u8;
        buf.extend(std::iter::repeat_n(0, PARAM_BYTES + 1));
        assert_eq!(decode(&buf), Err(DecodeError::Value));
        assert_eq!(decode(&[200]), Err(DecodeError::Kind(200)));
        assert!(!encode(&Input::Empty, &mut Vec::new()));
    }
}
