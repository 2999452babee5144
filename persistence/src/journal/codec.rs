//! Binary encoding of ingress events. Fixed little-endian layouts per kind, so a record is a
//! few stores to write and a few loads to read, and the format is independent of Rust's
//! in-memory layout.

use dalal_core::event::{Command, Input, KillScope};
use dalal_core::event::{Quote, Tick};
use dalal_core::risk::RiskLimits;
use dalal_core::setup::{StrategyKind, StrategyParams};
use dalal_core::types::{
    AccountId, InstrumentId, IstTime, Money, OrderId, OrderIntent, OrderType, Price, Product, Qty, Side, StrategyId,
    Tag, Timestamp, Validity,
};

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
        },
    }
    true
}

/// Strategy parameters: qty u64, allow_short u8, kind u8, then the kind's fields (counts u32,
/// `f64` as its bits, times as i64 ns after midnight IST, flags u8).
fn strategy_params(w: &mut Writer<'_>, p: &StrategyParams) {
    w.u64(p.qty);
    w.u8(p.allow_short as u8);
    match p.kind {
        StrategyKind::EmaCross { fast, slow } => {
            w.u8(1);
            w.u32(fast as u32);
            w.u32(slow as u32);
        }
        StrategyKind::Bollinger { period, k } => {
            w.u8(2);
            w.u32(period as u32);
            w.u64(k.to_bits());
        }
        StrategyKind::Orb { range_minutes, exit_time, range_stop } => {
            w.u8(3);
            w.u32(range_minutes);
            w.i64(exit_time.0);
            w.u8(range_stop as u8);
        }
        StrategyKind::Supertrend { period, multiplier, exit_time } => {
            w.u8(4);
            w.u32(period as u32);
            w.u64(multiplier.to_bits());
            w.i64(exit_time.0);
        }
        StrategyKind::VwapReversion { band_bps, exit_time } => {
            w.u8(5);
            w.u32(band_bps);
            w.i64(exit_time.0);
        }
        StrategyKind::Grid { levels, step_bps, max_position, exit_time } => {
            w.u8(6);
            w.u32(levels);
            w.u32(step_bps);
            w.u64(max_position);
            w.i64(exit_time.0);
        }
    }
}

fn read_strategy_params(r: &mut Reader<'_>) -> Result<StrategyParams, DecodeError> {
    let qty = r.u64()?;
    let allow_short = r.u8()? != 0;
    let n = |r: &mut Reader<'_>| r.u32().map(|v| v as usize);
    let kind = match r.u8()? {
        1 => StrategyKind::EmaCross { fast: n(r)?, slow: n(r)? },
        2 => StrategyKind::Bollinger { period: n(r)?, k: f64::from_bits(r.u64()?) },
        3 => StrategyKind::Orb { range_minutes: r.u32()?, exit_time: IstTime(r.i64()?), range_stop: r.u8()? != 0 },
        4 => StrategyKind::Supertrend {
            period: n(r)?,
            multiplier: f64::from_bits(r.u64()?),
            exit_time: IstTime(r.i64()?),
        },
        5 => StrategyKind::VwapReversion { band_bps: r.u32()?, exit_time: IstTime(r.i64()?) },
        6 => StrategyKind::Grid {
            levels: r.u32()?,
            step_bps: r.u32()?,
            max_position: r.u64()?,
            exit_time: IstTime(r.i64()?),
        },
        _ => return Err(DecodeError::Value),
    };
    if qty == 0 || !kind.is_sane() {
        return Err(DecodeError::Value);
    }
    Ok(StrategyParams { kind, qty, allow_short })
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
        ] {
            round(i);
        }
        let exit_time = IstTime::hm(15, 15);
        for kind in [
            StrategyKind::EmaCross { fast: 5, slow: 21 },
            StrategyKind::Bollinger { period: 20, k: 2.5 },
            StrategyKind::Orb { range_minutes: 15, exit_time, range_stop: false },
            StrategyKind::Supertrend { period: 10, multiplier: 3.0, exit_time },
            StrategyKind::VwapReversion { band_bps: 40, exit_time },
            StrategyKind::Grid { levels: 3, step_bps: 20, max_position: 30, exit_time },
        ] {
            let params = StrategyParams { kind, qty: 10, allow_short: true };
            round(Input::Command(Command::SetStrategyParams { strategy: StrategyId(2), params }));
        }
        // Parameters no strategy could run with are refused when read back.
        for kind in [
            StrategyKind::EmaCross { fast: 21, slow: 5 },
            StrategyKind::Bollinger { period: 20, k: f64::NAN },
            StrategyKind::Supertrend { period: 0, multiplier: 3.0, exit_time },
        ] {
            let mut buf = Vec::new();
            let cmd = Command::SetStrategyParams {
                strategy: StrategyId(0),
                params: StrategyParams { kind, qty: 1, allow_short: false },
            };
            assert!(encode(&Input::Command(cmd), &mut buf));
            assert_eq!(decode(&buf), Err(DecodeError::Value), "{kind:?}");
        }
        assert_eq!(decode(&[200]), Err(DecodeError::Kind(200)));
        assert!(!encode(&Input::Empty, &mut Vec::new()));
    }
}
