//! Pre-trade risk through its public message interface: `RiskStage::on_msg` with ticks to set
//! prices, intents to check, feedback to move exposure and commands to steer it.
//!
//! The table has one failing row per refusal reason risk produces from an intent, each next to
//! a passing row at (or just inside) the boundary, so a check that is off by one, reads the
//! wrong price or forgets working orders fails here. Modify refusals, run-time limit changes,
//! the daily loss limit and the MIS square-off have their own tests below.

use std::collections::BTreeSet;

use dalal_config::LimitsSection;
use dalal_core::model::time::{NANOS_PER_DAY, NANOS_PER_MIN};
use dalal_core::model::RiskLimits;
use dalal_core::model::Stamp;
use dalal_core::model::{
    AccountId, FillId, InstrumentId, IstTime, Money, OrderId, OrderIntent, OrderType, Price, Product, Qty,
    RejectReason, Session, Side, StrategyId, Timestamp,
};
use dalal_core::model::{CloseReason, Command, Feedback, Fill, KillScope, Msg, Tick};
use dalal_core::stages::charges::Ppb;
use dalal_core::stages::risk::{AccountRisk, MarginRules, RiskStage, SessionRules};

mod common;
use common::*;

fn margins() -> MarginRules {
    // MIS 20 %; NRML 100 % on the cash instrument, 15 % on the future.
    MarginRules { mis: Ppb(200_000_000), nrml: vec![Ppb(1_000_000_000), Ppb(150_000_000)] }
}

/// The config file's default limits (10 orders/s, 5 % fat finger, 500 ms duplicate window).
fn defaults() -> RiskLimits {
    LimitsSection::default().to_limits().expect("default limits validate")
}

struct H {
    risk: RiskStage,
    now: i64,
    next_order: u64,
    next_fill: u64,
}

impl H {
    fn new(limits: RiskLimits, funds: i64) -> H {
        H::with_session(limits, funds, None)
    }

    fn with_session(limits: RiskLimits, funds: i64, mis_square_off: Option<IstTime>) -> H {
        let accounts = vec![AccountRisk { limits, funds: Money(funds) }; 2];
        let session =
            SessionRules { session: Session::NSE_NORMAL, enforce: true, mis_square_off, after_hours_amo: false };
        H { risk: RiskStage::new(instruments(), accounts, margins(), session), now: T, next_order: 1, next_fill: 1 }
    }

    fn send(&mut self, m: Msg) -> Vec<Msg> {
        let mut out = Vec::new();
        self.risk.on_msg(&m, &mut |x| out.push(x));
        out
    }

    fn tick(&mut self, instrument: u32, price: i64) -> Vec<Msg> {
        let tick =
            Tick { instrument: InstrumentId(instrument), ts: Timestamp(self.now), price: Price(price), qty: Qty(1) };
        self.send(Msg::Tick { tick, stamp: Stamp::NONE })
    }

    /// Both instruments trade at ₹100.00.
    fn prices(&mut self) {
        self.tick(0, 10_000);
        self.tick(1, 10_000);
    }

    fn command(&mut self, cmd: Command) -> Vec<Msg> {
        self.send(Msg::Command(cmd))
    }

    /// Risk's verdict on one intent at `ts`.
    fn check_at(&mut self, intent: OrderIntent, ts: i64) -> Result<(), RejectReason> {
        let out = self.send(Msg::Intent { intent, ts: Timestamp(ts), stamp: Stamp::NONE });
        let verdicts: Vec<_> = out
            .iter()
            .filter_map(|m| match *m {
                Msg::Approved { intent: i, .. } => {
                    assert_eq!(i, intent, "approved intent is passed on unchanged");
                    Some(Ok(()))
                }
                Msg::Refused { intent: i, reason, .. } => {
                    assert_eq!(i, intent);
                    Some(Err(reason))
                }
                _ => None,
            })
            .collect();
        assert_eq!(verdicts.len(), 1, "exactly one verdict per intent: {out:?}");
        verdicts[0]
    }

    fn check(&mut self, intent: OrderIntent) -> Result<(), RejectReason> {
        self.check_at(intent, self.now)
    }

    /// An approved order that the order stage accepted and that now works.
    fn work(&mut self, intent: OrderIntent) -> OrderId {
        assert_eq!(self.check(intent), Ok(()), "prep order must pass: {intent:?}");
        let order = OrderId(self.next_order);
        self.next_order += 1;
        self.send(Msg::Feedback(Feedback::Accepted { order, intent }));
        order
    }

    fn fill(&mut self, order: OrderId, intent: OrderIntent, qty: u64, price: i64, charges: i64, done: bool) {
        let fill = Fill {
            id: FillId(self.next_fill),
            order,
            account: intent.account,
            strategy: intent.strategy,
            instrument: intent.instrument,
            side: intent.side,
            qty: Qty(qty),
            price: Price(price),
            ts: Timestamp(self.now),
            product: intent.product,
            charges: Money(charges),
        };
        self.next_fill += 1;
        self.send(Msg::Feedback(Feedback::Filled { fill, done }));
    }

    /// An order that is approved, accepted and completely filled at its limit price.
    fn hold(&mut self, intent: OrderIntent) {
        let id = self.work(intent);
        self.fill(id, intent, intent.qty.0, intent.price.0, 0, true);
    }

    fn close(&mut self, order: OrderId, intent: OrderIntent, unfilled: u64) {
        self.send(Msg::Feedback(Feedback::Closed {
            order,
            account: intent.account,
            strategy: intent.strategy,
            instrument: intent.instrument,
            product: intent.product,
            side: intent.side,
            unfilled: Qty(unfilled),
            reason: CloseReason::Cancelled,
        }));
    }
}

fn lim(account: u16, instrument: u32, side: Side, qty: u64, price: i64) -> OrderIntent {
    OrderIntent::limit(AccountId(account), StrategyId(0), InstrumentId(instrument), side, Qty(qty), Price(price))
}

/// A MIS limit order of account 0.
fn buy(instrument: u32, qty: u64, price: i64) -> OrderIntent {
    lim(0, instrument, Side::Buy, qty, price)
}

fn sell(instrument: u32, qty: u64, price: i64) -> OrderIntent {
    lim(0, instrument, Side::Sell, qty, price)
}

fn mkt(instrument: u32, side: Side, qty: u64) -> OrderIntent {
    OrderIntent::market(AccountId(0), StrategyId(0), InstrumentId(instrument), side, Qty(qty))
}

fn product(mut o: OrderIntent, p: Product) -> OrderIntent {
    o.product = p;
    o
}

fn stop_market(side: Side, qty: u64, trigger: i64) -> OrderIntent {
    OrderIntent { order_type: OrderType::StopMarket, trigger: Price(trigger), ..mkt(0, side, qty) }
}

fn stop_limit(side: Side, qty: u64, price: i64, trigger: i64) -> OrderIntent {
    OrderIntent { order_type: OrderType::StopLimit, trigger: Price(trigger), ..buy(0, qty, price) }.with_side(side)
}

trait WithSide {
    fn with_side(self, side: Side) -> Self;
}

impl WithSide for OrderIntent {
    fn with_side(mut self, side: Side) -> Self {
        self.side = side;
        self
    }
}

fn amo(mut o: OrderIntent) -> OrderIntent {
    o.amo = true;
    o
}

struct Row {
    name: &'static str,
    limits: RiskLimits,
    /// Starting cash in paise; 0 turns the funds check off.
    funds: i64,
    /// Runs at `T` before the intent.
    prep: fn(&mut H),
    intent: OrderIntent,
    /// When the intent is checked.
    at: i64,
    want: Result<(), RejectReason>,
}

fn row(
    name: &'static str,
    limits: RiskLimits,
    prep: fn(&mut H),
    intent: OrderIntent,
    want: Result<(), RejectReason>,
) -> Row {
    Row { name, limits, funds: 0, prep, intent, at: T, want }
}

fn lim_with(f: impl FnOnce(&mut RiskLimits)) -> RiskLimits {
    let mut l = RiskLimits::NONE;
    f(&mut l);
    l
}

fn prices(h: &mut H) {
    h.prices();
}

fn no_prep(_: &mut H) {}

fn table() -> Vec<Row> {
    use RejectReason::*;
    let none = RiskLimits::NONE;
    let rupees = |r: i64| Money(r * 100);
    let order_qty = lim_with(|l| l.max_order_qty = Qty(100));
    let order_value = lim_with(|l| l.max_order_value = rupees(10_000));
    let position = lim_with(|l| l.max_position_qty = Qty(100));
    let position_value = lim_with(|l| l.max_position_value = rupees(10_000));
    let gross = lim_with(|l| l.max_gross_exposure = rupees(15_000));
    let net = lim_with(|l| l.max_net_exposure = rupees(10_000));
    let open_orders = lim_with(|l| l.max_open_orders = 2);
    let fat = lim_with(|l| l.fat_finger_bps = 500);
    let dup = lim_with(|l| l.duplicate_window_ms = 500);
    let funds = |mut r: Row, paise: i64| {
        r.funds = paise;
        r
    };
    let at = |mut r: Row, ts: i64| {
        r.at = ts;
        r
    };
    let saturday = T + NANOS_PER_DAY;
    let ten_orders: fn(&mut H) = |h| {
        h.prices();
        for k in 0..10 {
            h.now = T + k * MS;
            h.work(buy(0, 1, 9_900 + 5 * k));
        }
    };
    vec![
        // Kill switches.
        row(
            "global kill engaged",
            none,
            |h| {
                h.prices();
                h.command(Command::KillSwitch { scope: KillScope::Global, engaged: true });
            },
            mkt(0, Side::Buy, 1),
            Err(GlobalKillSwitch),
        ),
        row(
            "global kill released",
            none,
            |h| {
                h.prices();
                h.command(Command::KillSwitch { scope: KillScope::Global, engaged: true });
                h.command(Command::KillSwitch { scope: KillScope::Global, engaged: false });
            },
            mkt(0, Side::Buy, 1),
            Ok(()),
        ),
        row(
            "account kill engaged",
            none,
            |h| {
                h.prices();
                h.command(Command::KillSwitch { scope: KillScope::Account(AccountId(0)), engaged: true });
            },
            mkt(0, Side::Buy, 1),
            Err(AccountKillSwitch),
        ),
        row(
            "an account the engine does not have",
            none,
            |h| h.prices(),
            OrderIntent::market(AccountId(77), StrategyId(0), InstrumentId(0), Side::Buy, Qty(1)),
            Err(UnknownAccount),
        ),
        row(
            "another account's kill switch",
            none,
            |h| {
                h.prices();
                h.command(Command::KillSwitch { scope: KillScope::Account(AccountId(1)), engaged: true });
            },
            mkt(0, Side::Buy, 1),
            Ok(()),
        ),
        // Order size.
        row("order qty at the limit", order_qty, prices, buy(0, 100, 10_000), Ok(())),
        row("order qty one over", order_qty, prices, buy(0, 101, 10_000), Err(MaxOrderQty)),
        row("order value at the limit", order_value, prices, buy(0, 100, 10_000), Ok(())),
        row("order value one tick over", order_value, prices, buy(0, 100, 10_005), Err(MaxOrderValue)),
        row("market order valued at the last trade", order_value, prices, mkt(0, Side::Buy, 100), Ok(())),
        row(
            "market order valued at a higher last trade",
            order_value,
            |h| {
                h.tick(0, 10_005);
            },
            mkt(0, Side::Buy, 100),
            Err(MaxOrderValue),
        ),
        // Position, counting working orders.
        row(
            "position up to the limit",
            position,
            |h| {
                h.prices();
                h.hold(buy(0, 60, 10_000));
            },
            buy(0, 40, 10_000),
            Ok(()),
        ),
        row(
            "position one over",
            position,
            |h| {
                h.prices();
                h.hold(buy(0, 60, 10_000));
            },
            buy(0, 41, 10_000),
            Err(MaxPosition),
        ),
        row(
            "working orders count as position",
            position,
            |h| {
                h.prices();
                h.work(buy(0, 60, 10_000));
            },
            buy(0, 41, 10_000),
            Err(MaxPosition),
        ),
        row(
            "selling through to a short at the limit",
            position,
            |h| {
                h.prices();
                h.hold(buy(0, 60, 10_000));
            },
            sell(0, 160, 10_000),
            Ok(()),
        ),
        row(
            "selling through to a short one over",
            position,
            |h| {
                h.prices();
                h.hold(buy(0, 60, 10_000));
            },
            sell(0, 161, 10_000),
            Err(MaxPosition),
        ),
        row(
            "position value at the limit",
            position_value,
            |h| {
                h.prices();
                h.hold(buy(0, 50, 10_000));
            },
            buy(0, 50, 10_000),
            Ok(()),
        ),
        row(
            "position value one over",
            position_value,
            |h| {
                h.prices();
                h.hold(buy(0, 50, 10_000));
            },
            buy(0, 51, 10_000),
            Err(MaxPositionValue),
        ),
        // Exposure across instruments.
        row(
            "gross exposure at the limit",
            gross,
            |h| {
                h.prices();
                h.hold(buy(0, 100, 10_000));
            },
            buy(1, 50, 10_000),
            Ok(()),
        ),
        row(
            "gross exposure one tick over",
            gross,
            |h| {
                h.prices();
                h.hold(buy(0, 100, 10_000));
            },
            buy(1, 50, 10_010),
            Err(MaxGrossExposure),
        ),
        row(
            "gross exposure counts shorts",
            gross,
            |h| {
                h.prices();
                h.hold(buy(0, 100, 10_000));
            },
            sell(1, 50, 10_010),
            Err(MaxGrossExposure),
        ),
        row(
            "working orders before any trade count as gross exposure",
            gross,
            |h| {
                h.work(buy(1, 100, 10_000));
            },
            buy(0, 50, 10_000),
            Ok(()),
        ),
        row(
            "working orders before any trade count as gross exposure: one over",
            gross,
            |h| {
                h.work(buy(1, 100, 10_000));
            },
            buy(0, 51, 10_000),
            Err(MaxGrossExposure),
        ),
        row(
            "net exposure at the limit",
            net,
            |h| {
                h.prices();
                h.hold(buy(0, 50, 10_000));
            },
            buy(1, 50, 10_000),
            Ok(()),
        ),
        row(
            "net exposure one tick over",
            net,
            |h| {
                h.prices();
                h.hold(buy(0, 50, 10_000));
            },
            buy(1, 50, 10_010),
            Err(MaxNetExposure),
        ),
        row(
            "a hedge reduces net exposure",
            net,
            |h| {
                h.prices();
                h.hold(buy(0, 100, 10_000));
            },
            sell(1, 50, 10_010),
            Ok(()),
        ),
        // Open orders.
        row(
            "one open order under a limit of two",
            open_orders,
            |h| {
                h.prices();
                h.work(buy(0, 1, 9_900));
            },
            buy(0, 1, 9_800),
            Ok(()),
        ),
        row(
            "two open orders at a limit of two",
            open_orders,
            |h| {
                h.prices();
                h.work(buy(0, 1, 9_900));
                h.work(buy(0, 1, 9_950));
            },
            buy(0, 1, 9_800),
            Err(MaxOpenOrders),
        ),
        row(
            "a closed order frees its slot",
            open_orders,
            |h| {
                h.prices();
                let o = buy(0, 1, 9_900);
                let id = h.work(o);
                h.work(buy(0, 1, 9_950));
                h.close(id, o, 1);
            },
            buy(0, 1, 9_800),
            Ok(()),
        ),
        row(
            "a filled order frees its slot",
            open_orders,
            |h| {
                h.prices();
                h.hold(buy(0, 1, 9_900));
                h.work(buy(0, 1, 9_950));
            },
            buy(0, 1, 9_800),
            Ok(()),
        ),
        // Rate limit: 10 orders per rolling second of event time (the default).
        at(
            row("11th order within one second", defaults(), ten_orders, buy(0, 1, 10_100), Err(RateLimit)),
            T + 999 * MS,
        ),
        at(
            row("11th order one second after the first", defaults(), ten_orders, buy(0, 1, 10_100), Ok(())),
            T + 1_000 * MS,
        ),
        at(
            row("the rate limit is per account", defaults(), ten_orders, lim(1, 0, Side::Buy, 1, 10_100), Ok(())),
            T + 999 * MS,
        ),
        // Fat finger: within 5 % of the last trade.
        row("limit 5 % above the last trade", fat, prices, buy(0, 1, 10_500), Ok(())),
        row("limit one tick beyond 5 % above", fat, prices, buy(0, 1, 10_505), Err(FatFinger)),
        row("limit 5 % below the last trade", fat, prices, sell(0, 1, 9_500), Ok(())),
        row("limit one tick beyond 5 % below", fat, prices, sell(0, 1, 9_495), Err(FatFinger)),
        row("trigger 5 % below the last trade", fat, prices, stop_market(Side::Sell, 1, 9_500), Ok(())),
        row("trigger beyond 5 % below", fat, prices, stop_market(Side::Sell, 1, 9_495), Err(FatFinger)),
        // Session 09:15–15:30 IST, weekdays; after-market orders are exempt.
        at(row("one nanosecond before the open", none, prices, buy(0, 1, 10_000), Err(OutsideSession)), OPEN - 1),
        at(row("at the open", none, prices, buy(0, 1, 10_000), Ok(())), OPEN),
        at(
            row("one nanosecond before the close", none, prices, buy(0, 1, 10_000), Ok(())),
            OPEN + 375 * NANOS_PER_MIN - 1,
        ),
        at(row("at the close", none, prices, buy(0, 1, 10_000), Err(OutsideSession)), OPEN + 375 * NANOS_PER_MIN),
        at(row("AMO after the close", none, prices, amo(buy(0, 1, 10_000)), Ok(())), OPEN + 375 * NANOS_PER_MIN),
        at(row("Saturday", none, prices, buy(0, 1, 10_000), Err(OutsideSession)), saturday),
        at(row("AMO on Saturday", none, prices, amo(buy(0, 1, 10_000)), Ok(())), saturday),
        // Funds: CNC needs the full value, MIS 20 %, NRML the instrument's margin.
        funds(
            row("CNC at exactly the cash", none, prices, product(buy(0, 100, 10_000), Product::Cnc), Ok(())),
            1_000_000,
        ),
        funds(
            row(
                "CNC one tick over the cash",
                none,
                prices,
                product(buy(0, 100, 10_005), Product::Cnc),
                Err(InsufficientFunds),
            ),
            1_000_000,
        ),
        funds(row("MIS at 20 % margin", none, prices, buy(0, 500, 10_000), Ok(())), 1_000_000),
        funds(row("MIS one unit over", none, prices, buy(0, 501, 10_000), Err(InsufficientFunds)), 1_000_000),
        funds(
            row("NRML at 15 % margin", none, prices, product(buy(1, 1_000, 10_000), Product::Nrml), Ok(())),
            1_500_000,
        ),
        funds(
            row(
                "NRML one lot over",
                none,
                prices,
                product(buy(1, 1_050, 10_000), Product::Nrml),
                Err(InsufficientFunds),
            ),
            1_500_000,
        ),
        funds(
            row(
                "working orders hold margin",
                none,
                |h| {
                    h.prices();
                    h.work(product(buy(0, 50, 10_000), Product::Cnc));
                },
                product(buy(0, 50, 10_000), Product::Cnc),
                Ok(()),
            ),
            1_000_000,
        ),
        funds(
            row(
                "working orders hold margin: one over",
                none,
                |h| {
                    h.prices();
                    h.work(product(buy(0, 50, 10_000), Product::Cnc));
                },
                product(buy(0, 51, 10_000), Product::Cnc),
                Err(InsufficientFunds),
            ),
            1_000_000,
        ),
        funds(
            row(
                "closing a position needs no margin",
                none,
                |h| {
                    h.prices();
                    h.hold(product(buy(0, 100, 10_000), Product::Cnc));
                },
                product(sell(0, 100, 10_000), Product::Cnc),
                Ok(()),
            ),
            1_000_000,
        ),
        funds(
            row(
                "adding to a position that used all the cash",
                none,
                |h| {
                    h.prices();
                    h.hold(product(buy(0, 100, 10_000), Product::Cnc));
                },
                product(buy(0, 1, 10_000), Product::Cnc),
                Err(InsufficientFunds),
            ),
            1_000_000,
        ),
        funds(
            row(
                "working orders before any trade hold margin",
                none,
                |h| {
                    h.work(product(buy(0, 100, 10_000), Product::Cnc));
                },
                product(buy(0, 1, 10_000), Product::Cnc),
                Err(InsufficientFunds),
            ),
            1_000_000,
        ),
        // Duplicate guard: same instrument, side, qty, price and type within 500 ms.
        at(
            row(
                "same order 499 ms later",
                dup,
                |h| {
                    h.prices();
                    h.work(buy(0, 10, 10_000));
                },
                buy(0, 10, 10_000),
                Err(Duplicate),
            ),
            T + 499 * MS,
        ),
        at(
            row(
                "same order 500 ms later",
                dup,
                |h| {
                    h.prices();
                    h.work(buy(0, 10, 10_000));
                },
                buy(0, 10, 10_000),
                Ok(()),
            ),
            T + 500 * MS,
        ),
        row(
            "another quantity is not a duplicate",
            dup,
            |h| {
                h.prices();
                h.work(buy(0, 10, 10_000));
            },
            buy(0, 11, 10_000),
            Ok(()),
        ),
        row(
            "another price is not a duplicate",
            dup,
            |h| {
                h.prices();
                h.work(buy(0, 10, 10_000));
            },
            buy(0, 10, 10_005),
            Ok(()),
        ),
        row(
            "the other side is not a duplicate",
            dup,
            |h| {
                h.prices();
                h.work(buy(0, 10, 10_000));
            },
            sell(0, 10, 10_000),
            Ok(()),
        ),
        row(
            "another order type is not a duplicate",
            dup,
            |h| {
                h.prices();
                h.work(stop_limit(Side::Buy, 10, 10_000, 10_000));
            },
            buy(0, 10, 10_000),
            Ok(()),
        ),
        row(
            "another account's order is not a duplicate",
            dup,
            |h| {
                h.prices();
                h.work(lim(1, 0, Side::Buy, 10, 10_000));
            },
            buy(0, 10, 10_000),
            Ok(()),
        ),
        // Instrument rules.
        row("zero quantity", none, prices, buy(0, 0, 10_000), Err(ZeroQty)),
        row("one unit", none, prices, buy(0, 1, 10_000), Ok(())),
        row("one and a half lots", none, prices, buy(1, 75, 10_000), Err(LotSize)),
        row("one lot", none, prices, buy(1, 50, 10_000), Ok(())),
        row("off the tick grid", none, prices, buy(0, 1, 10_003), Err(TickSize)),
        row("on the tick grid", none, prices, buy(0, 1, 10_005), Ok(())),
        row("trigger off the tick grid", none, prices, stop_market(Side::Buy, 1, 10_002), Err(TickSize)),
        row("upper band", none, prices, sell(0, 1, 12_000), Ok(())),
        row("one tick above the band", none, prices, sell(0, 1, 12_005), Err(PriceBand)),
        row("lower band", none, prices, buy(0, 1, 8_000), Ok(())),
        row("one tick below the band", none, prices, buy(0, 1, 7_995), Err(PriceBand)),
        row("market order before any trade", none, no_prep, mkt(0, Side::Buy, 1), Err(NoMarketPrice)),
        row("market order after a trade", none, prices, mkt(0, Side::Buy, 1), Ok(())),
        row(
            "stop-market before any trade is valued at its trigger",
            none,
            no_prep,
            stop_market(Side::Buy, 1, 10_000),
            Ok(()),
        ),
        row("zero limit price", none, prices, buy(1, 50, 0), Err(InvalidPrice)),
        row("negative limit price", none, prices, buy(1, 50, -10), Err(InvalidPrice)),
        row("zero trigger", none, prices, stop_market(Side::Buy, 1, 0), Err(InvalidPrice)),
        row("smallest positive price", none, prices, buy(1, 50, 10), Ok(())),
        row("unknown instrument", none, prices, buy(9, 1, 10_000), Err(UnknownInstrument)),
    ]
}

#[test]
fn every_refusal_reason_at_its_boundary() {
    let rows = table();
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    for r in &rows {
        let mut h = H::new(r.limits, r.funds);
        (r.prep)(&mut h);
        let before = h.risk.counters;
        let got = h.check_at(r.intent, r.at);
        if got != r.want {
            failures.push(format!("{}: got {got:?}, want {:?}", r.name, r.want));
            continue;
        }
        let after = h.risk.counters;
        assert_eq!(after.checked, before.checked + 1, "{}", r.name);
        match r.want {
            Ok(()) => assert_eq!(after.approved, before.approved + 1, "{}", r.name),
            Err(reason) => {
                seen.insert(reason.index());
                assert_eq!(after.rejected[reason.index()], before.rejected[reason.index()] + 1, "{}", r.name);
                assert_eq!(after.approved, before.approved, "{}", r.name);
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} rows failed:\n{}", failures.len(), rows.len(), failures.join("\n"));
    // Every reason risk can refuse an intent for has a row (two are for modifies; a venue's
    // refusal and a full order stage are not risk's).
    let not_risks = [
        RejectReason::UnknownOrder,
        RejectReason::NotModifiable,
        RejectReason::VenueRejected,
        RejectReason::WorkingOrdersFull,
    ];
    let missing: Vec<_> =
        RejectReason::ALL.iter().filter(|r| !not_risks.contains(r)).filter(|r| !seen.contains(&r.index())).collect();
    assert!(missing.is_empty(), "no row refuses for {missing:?}");
}

#[test]
fn default_rate_limit_is_sebis_ten_per_second() {
    assert_eq!(defaults().max_orders_per_sec, 10);
}

#[test]
fn set_limits_through_the_ring_applies_at_once_and_per_account() {
    let mut h = H::new(RiskLimits::NONE, 0);
    h.prices();
    assert_eq!(h.check(buy(0, 1_000, 10_000)), Ok(()));
    let limits = RiskLimits { max_order_qty: Qty(100), ..RiskLimits::NONE };
    let cmd = Command::SetLimits { account: AccountId(0), limits };
    let out = h.command(cmd);
    assert!(matches!(out.as_slice(), [Msg::Command(c)] if *c == cmd), "the command is passed on: {out:?}");
    assert_eq!(h.risk.limits(0), Some(limits));
    assert_eq!(h.risk.limits(1), Some(RiskLimits::NONE));
    assert_eq!(h.check(buy(0, 101, 10_000)), Err(RejectReason::MaxOrderQty));
    assert_eq!(h.check(buy(0, 100, 10_005)), Ok(()));
    assert_eq!(h.check(lim(1, 0, Side::Buy, 1_000, 10_000)), Ok(()), "account 1 keeps its limits");
    // Loosening works the same way.
    h.command(Command::SetLimits { account: AccountId(0), limits: RiskLimits::NONE });
    assert_eq!(h.check(buy(0, 101, 10_010)), Ok(()));
}

fn modify(account: u16, order: OrderId, qty: u64, price: i64, trigger: i64) -> Command {
    Command::Modify { account: AccountId(account), order, qty: Qty(qty), price: Price(price), trigger: Price(trigger) }
}

/// The modify is passed on (`Ok`) or refused with a `CommandRefused` feedback.
fn modify_verdict(out: &[Msg], cmd: Command) -> Result<(), RejectReason> {
    match out {
        [Msg::Command(c)] if *c == cmd => Ok(()),
        [Msg::Feedback(Feedback::CommandRefused { reason, .. })] => Err(*reason),
        other => panic!("unexpected output {other:?}"),
    }
}

#[test]
fn modify_is_checked_like_the_order_it_makes() {
    let limits = RiskLimits { max_position_qty: Qty(100), max_order_qty: Qty(80), ..RiskLimits::NONE };
    let mut h = H::new(limits, 0);
    h.prices();
    let o = buy(0, 60, 9_900);
    let id = h.work(o);

    // Another account's order is reported as unknown, and so is an id that never existed.
    let cmd = modify(1, id, 70, 0, 0);
    assert_eq!(modify_verdict(&h.command(cmd), cmd), Err(RejectReason::UnknownOrder));
    let cmd = modify(0, OrderId(999), 70, 0, 0);
    assert_eq!(modify_verdict(&h.command(cmd), cmd), Err(RejectReason::UnknownOrder));

    // An increase that stays inside the limits passes; one that breaches them does not.
    let cmd = modify(0, id, 80, 9_905, 0);
    assert_eq!(modify_verdict(&h.command(cmd), cmd), Ok(()));
    let cmd = modify(0, id, 85, 0, 0);
    assert_eq!(modify_verdict(&h.command(cmd), cmd), Err(RejectReason::MaxOrderQty));
    let cmd = modify(0, id, 0, 9_903, 0);
    assert_eq!(modify_verdict(&h.command(cmd), cmd), Err(RejectReason::TickSize));

    // Another working order of 30 leaves room for 70 on this one (position limit 100).
    let other = h.work(buy(0, 30, 9_800));
    let cmd = modify(0, id, 70, 0, 0);
    assert_eq!(modify_verdict(&h.command(cmd), cmd), Ok(()));
    let cmd = modify(0, id, 71, 0, 0);
    assert_eq!(modify_verdict(&h.command(cmd), cmd), Err(RejectReason::MaxPosition));
    // Once the order stage confirms a modify, risk follows it.
    let next = OrderIntent { qty: Qty(70), ..o };
    h.send(Msg::Feedback(Feedback::Modified {
        order: id,
        intent: next,
        old_remaining: Qty(60),
        new_remaining: Qty(70),
    }));
    assert_eq!(h.risk.exposure(0, 0).map(|e| e.working_buy), Some(100));
    assert_eq!(h.check(buy(0, 1, 9_800)), Err(RejectReason::MaxPosition));
    h.close(other, buy(0, 30, 9_800), 30);
    assert_eq!(h.check(buy(0, 30, 9_800)), Ok(()));

    // MARKET orders cannot be modified.
    let m = mkt(0, Side::Sell, 10);
    let mid = h.work(m);
    let cmd = modify(0, mid, 0, 9_900, 0);
    assert_eq!(modify_verdict(&h.command(cmd), cmd), Err(RejectReason::NotModifiable));

    // A filled order no longer works, so there is nothing to modify.
    h.fill(id, next, 70, 9_900, 0, true);
    let cmd = modify(0, id, 75, 0, 0);
    assert!(modify_verdict(&h.command(cmd), cmd).is_err());
    assert_eq!(h.risk.counters.modifies_approved, 2);
}

#[test]
fn daily_loss_limit_trips_the_accounts_kill_switch() {
    let limits = RiskLimits { daily_loss_limit: Money(100_000), ..RiskLimits::NONE };
    let mut h = H::new(limits, 0);
    h.prices();
    h.hold(buy(0, 100, 10_000));
    h.hold(lim(1, 0, Side::Buy, 100, 10_000));
    // −₹995.00 on paper: inside the limit.
    let out = h.tick(0, 9_005);
    assert!(!out.iter().any(|m| matches!(m, Msg::Command(_))), "{out:?}");
    assert_eq!(h.risk.net_pnl(0), Some(-99_500));
    // −₹1,000.00: at the limit, which trips it; both accounts hold the same position.
    let out = h.tick(0, 9_000);
    let kills: Vec<_> = out
        .iter()
        .filter_map(|m| match m {
            Msg::Command(Command::KillSwitch { scope, engaged: true }) => Some(*scope),
            _ => None,
        })
        .collect();
    assert_eq!(kills, vec![KillScope::Account(AccountId(0)), KillScope::Account(AccountId(1))]);
    assert!(!out.iter().any(|m| matches!(m, Msg::Approved { .. })), "no square-off unless asked: {out:?}");
    assert!(h.risk.account_kill(0));
    assert_eq!(h.risk.counters.loss_limit_trips, 2);
    assert_eq!(h.check(buy(0, 1, 9_000)), Err(RejectReason::AccountKillSwitch));
    // Tripped once: a further loss does not trip it again.
    let out = h.tick(0, 8_500);
    assert!(!out.iter().any(|m| matches!(m, Msg::Command(_))), "{out:?}");
}

#[test]
fn charges_count_towards_the_loss_limit() {
    let limits = RiskLimits { daily_loss_limit: Money(100_000), ..RiskLimits::NONE };
    let mut h = H::new(limits, 0);
    h.prices();
    let o = buy(0, 100, 10_000);
    let id = h.work(o);
    h.fill(id, o, 100, 10_000, 500, true);
    assert_eq!(h.risk.net_pnl(0), Some(-500));
    // −₹995.00 on the position and −₹5.00 of charges.
    let out = h.tick(0, 9_005);
    assert!(
        out.iter().any(|m| matches!(m, Msg::Command(Command::KillSwitch { engaged: true, .. }))),
        "charges count: {out:?}"
    );
}

#[test]
fn loss_limit_with_square_off_flattens_every_position_at_market() {
    let limits = RiskLimits { daily_loss_limit: Money(100_000), square_off_on_loss: true, ..RiskLimits::NONE };
    let mut h = H::new(limits, 0);
    h.prices();
    h.hold(buy(0, 100, 10_000));
    h.hold(product(sell(1, 50, 10_000), Product::Nrml));
    h.hold(product(buy(0, 10, 10_000), Product::Cnc));
    let out = h.tick(0, 8_900);
    let kill = out.iter().position(|m| matches!(m, Msg::Command(Command::KillSwitch { engaged: true, .. })));
    let flat: Vec<OrderIntent> = out
        .iter()
        .filter_map(|m| match m {
            Msg::Approved { intent, .. } => Some(*intent),
            _ => None,
        })
        .collect();
    assert!(kill.is_some(), "{out:?}");
    let mut got: Vec<_> = flat.iter().map(|i| (i.instrument.0, i.product, i.side, i.qty.0)).collect();
    got.sort_by_key(|x| (x.0, x.1.index()));
    assert_eq!(
        got,
        vec![(0, Product::Cnc, Side::Sell, 10), (0, Product::Mis, Side::Sell, 100), (1, Product::Nrml, Side::Buy, 50)]
    );
    for i in &flat {
        assert_eq!(i.account, AccountId(0));
        assert_eq!(i.strategy, StrategyId::SYSTEM);
        assert_eq!(i.order_type, OrderType::Market);
    }
    // The kill switch comes first, so the order stage cancels working orders before flattening.
    let first_order = out.iter().position(|m| matches!(m, Msg::Approved { .. }));
    assert!(kill < first_order);
    assert_eq!(h.risk.counters.square_off_orders, 3);
    // The flattening orders are working exposure now.
    assert_eq!(h.risk.exposure(0, 0).map(|e| e.working_sell), Some(110));
}

#[test]
fn mis_square_off_runs_once_a_day_for_mis_only() {
    let mut h = H::with_session(RiskLimits::NONE, 0, Some(IstTime::hm(15, 20)));
    h.prices();
    h.hold(buy(0, 10, 10_000));
    h.hold(product(buy(0, 5, 10_000), Product::Cnc));
    h.hold(lim(1, 1, Side::Sell, 50, 10_000));
    let square_off = OPEN + (6 * 60 + 5) * NANOS_PER_MIN;
    h.now = square_off - 1;
    let out = h.tick(0, 10_000);
    assert!(!out.iter().any(|m| matches!(m, Msg::Command(_) | Msg::Approved { .. })), "{out:?}");

    h.now = square_off;
    let friday = h.send(Msg::Timer(Timestamp(square_off)));
    let out = friday.clone();
    let cancels: Vec<_> = out
        .iter()
        .filter_map(|m| match m {
            Msg::Command(Command::CancelWorking { scope, product }) => Some((*scope, *product)),
            _ => None,
        })
        .collect();
    assert_eq!(
        cancels,
        vec![
            (KillScope::Account(AccountId(0)), Some(Product::Mis)),
            (KillScope::Account(AccountId(1)), Some(Product::Mis))
        ]
    );
    let flat: Vec<_> = out
        .iter()
        .filter_map(|m| match m {
            Msg::Approved { intent, .. } => Some((
                intent.account.0,
                intent.instrument.0,
                intent.product,
                intent.side,
                intent.qty.0,
                intent.strategy,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        flat,
        vec![
            (0, 0, Product::Mis, Side::Sell, 10, StrategyId::SYSTEM),
            (1, 1, Product::Mis, Side::Buy, 50, StrategyId::SYSTEM)
        ],
        "CNC is left alone"
    );
    // Once a day.
    h.now = square_off + NANOS_PER_MIN;
    let out = h.tick(0, 10_000);
    assert!(!out.iter().any(|m| matches!(m, Msg::Command(_) | Msg::Approved { .. })), "{out:?}");
    // The square-off orders are out: until they fill or close, nothing more is sent for them.
    h.now = square_off + 3 * NANOS_PER_DAY;
    let monday = h.tick(0, 10_000);
    assert_eq!(monday.iter().filter(|m| matches!(m, Msg::Command(Command::CancelWorking { .. }))).count(), 2);
    assert_eq!(monday.iter().filter(|m| matches!(m, Msg::Approved { .. })).count(), 0, "{monday:?}");
    // Once they fill, the MIS positions are flat; a new MIS position is squared off on Monday.
    h.settle(&friday, 10_000);
    assert_eq!(h.risk.exposure(0, 0).map(|e| e.position.net.0), Some(5), "only CNC left");
    assert_eq!(h.risk.exposure(1, 1).map(|e| (e.position.net.0, e.working_buy)), Some((0, 0)));
    h.now = T + 3 * NANOS_PER_DAY;
    h.hold(buy(0, 7, 10_000));
    h.now = square_off + 3 * NANOS_PER_DAY + NANOS_PER_MIN;
    h.squared_off_on_a_new_day();
}

impl H {
    /// Feeds back every approved order in `out` as accepted and filled at `price`.
    fn settle(&mut self, out: &[Msg], price: i64) {
        for m in out {
            if let Msg::Approved { intent, .. } = *m {
                let id = OrderId(self.next_order);
                self.next_order += 1;
                self.send(Msg::Feedback(Feedback::Accepted { order: id, intent }));
                self.fill(id, intent, intent.qty.0, price, 0, true);
            }
        }
    }

    fn squared_off_on_a_new_day(&mut self) {
        // Monday's run already happened with the earlier tick: once a day means once.
        let out = self.tick(0, 10_000);
        assert!(!out.iter().any(|m| matches!(m, Msg::Approved { .. })), "{out:?}");
        // Tuesday it runs again and flattens the new position.
        self.now += NANOS_PER_DAY;
        let out = self.tick(0, 10_000);
        let flat: Vec<_> = out
            .iter()
            .filter_map(|m| match m {
                Msg::Approved { intent, .. } => Some((intent.account.0, intent.product, intent.side, intent.qty.0)),
                _ => None,
            })
            .collect();
        assert_eq!(flat, vec![(0, Product::Mis, Side::Sell, 7)]);
    }
}

#[test]
fn loss_limit_and_mis_square_off_in_one_event_flatten_once() {
    let limits = RiskLimits { daily_loss_limit: Money(100_000), square_off_on_loss: true, ..RiskLimits::NONE };
    let mut h = H::with_session(limits, 0, Some(IstTime::hm(15, 20)));
    h.prices();
    h.hold(buy(0, 100, 10_000));
    h.hold(product(buy(0, 10, 10_000), Product::Cnc));
    // The tick that reaches 15:20 also takes the account past its loss limit.
    h.now = OPEN + (6 * 60 + 5) * NANOS_PER_MIN;
    let out = h.tick(0, 8_900);
    let mut flat: Vec<_> = out
        .iter()
        .filter_map(|m| match m {
            Msg::Approved { intent, .. } => Some((intent.product, intent.side, intent.qty.0)),
            _ => None,
        })
        .collect();
    flat.sort_by_key(|x| x.0.index());
    assert_eq!(flat, vec![(Product::Cnc, Side::Sell, 10), (Product::Mis, Side::Sell, 100)], "{out:?}");
}

#[test]
fn a_fill_that_breaches_the_loss_limit_trips_it_on_the_next_event() {
    // The fill itself arrives as feedback; what risk sends in reaction must reach the order
    // stage, so it is sent with the next event risk sees rather than into the feedback path.
    let limits = RiskLimits { daily_loss_limit: Money(100_000), square_off_on_loss: true, ..RiskLimits::NONE };
    let mut h = H::new(limits, 0);
    h.prices();
    let o = mkt(0, Side::Buy, 100);
    let id = h.work(o);
    // Bought at ₹110.00 with the market at ₹100.00: −₹1,000.00 at once.
    h.fill(id, o, 100, 11_000, 0, true);
    assert_eq!(h.risk.net_pnl(0), Some(-100_000));
    h.now += MS;
    let out = h.send(Msg::Timer(Timestamp(h.now)));
    assert!(out.iter().any(|m| matches!(m, Msg::Command(Command::KillSwitch { engaged: true, .. }))), "{out:?}");
    assert!(
        out.iter()
            .any(|m| matches!(m, Msg::Approved { intent, .. } if intent.side == Side::Sell && intent.qty == Qty(100))),
        "{out:?}"
    );
    assert_eq!(h.check(buy(0, 1, 10_000)), Err(RejectReason::AccountKillSwitch));
}

#[test]
fn a_modified_order_is_valued_like_a_new_one() {
    // A sell stop-market 5 % below the market: risk values a new one at the last trade (the
    // higher of last and trigger), so a modify must too.
    let limits = RiskLimits { max_order_value: Money(1_000_000), ..RiskLimits::NONE };
    let mut h = H::new(limits, 0);
    h.prices();
    assert_eq!(h.check(stop_market(Side::Sell, 101, 9_500)), Err(RejectReason::MaxOrderValue));
    let o = stop_market(Side::Sell, 100, 9_500);
    let id = h.work(o);
    let cmd = modify(0, id, 101, 0, 0);
    assert_eq!(modify_verdict(&h.command(cmd), cmd), Err(RejectReason::MaxOrderValue));
    let cmd = modify(0, id, 100, 0, 9_600);
    assert_eq!(modify_verdict(&h.command(cmd), cmd), Ok(()));
}

/// Any timestamp is valid input to the MIS square-off clock: the extremes, and a jump back
/// and forth across them, neither panic (debug builds check overflow) nor square off twice.
#[test]
fn mis_square_off_clock_takes_extreme_timestamps() {
    let mut h = H::with_session(RiskLimits::NONE, 0, Some(IstTime::hm(15, 20)));
    for ts in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - NANOS_PER_DAY, i64::MAX - 1] {
        h.now = ts;
        let _ = h.send(Msg::Timer(Timestamp(ts)));
    }
    h.now = i64::MIN;
    let out = h.send(Msg::Timer(Timestamp(i64::MIN)));
    assert!(!out.iter().any(|m| matches!(m, Msg::Approved { .. })), "{out:?}");
}

/// With `after_hours_amo`, an order sent outside the session is approved as an after-market
/// order (the order stage holds it for the next open) where it would be refused; inside the
/// session it passes unchanged.
#[test]
fn after_hours_orders_go_as_after_market_orders_when_configured() {
    let mut h = H::new(RiskLimits::NONE, 0);
    let session =
        SessionRules { session: Session::NSE_NORMAL, enforce: true, mis_square_off: None, after_hours_amo: true };
    h.risk = RiskStage::new(
        instruments(),
        vec![AccountRisk { limits: RiskLimits::NONE, funds: Money(0) }; 2],
        margins(),
        session,
    );
    h.prices();
    let verdict = |h: &mut H, ts: i64| -> Vec<(bool, bool)> {
        h.send(Msg::Intent { intent: buy(0, 1, 10_000), ts: Timestamp(ts), stamp: Stamp::NONE })
            .iter()
            .filter_map(|m| match m {
                Msg::Approved { intent, .. } => Some((true, intent.amo)),
                Msg::Refused { intent, .. } => Some((false, intent.amo)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(verdict(&mut h, OPEN + 375 * NANOS_PER_MIN), [(true, true)], "at the close: an AMO");
    assert_eq!(verdict(&mut h, OPEN - 1), [(true, true)], "before the open: an AMO");
    assert_eq!(verdict(&mut h, OPEN + 375 * NANOS_PER_MIN - 1), [(true, false)], "in the session: as sent");
    let mut strict = H::new(RiskLimits::NONE, 0);
    strict.prices();
    assert_eq!(verdict(&mut strict, OPEN + 375 * NANOS_PER_MIN), [(false, false)], "without it: refused");
}
