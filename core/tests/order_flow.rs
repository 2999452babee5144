//! The order life cycle on the paper venue, through `OrderStage::on_msg` (and, where risk's
//! reactions must reach the order stage, through the fused `Engine`): how LIMIT, IOC, SL and
//! SL-M orders fill, slippage, the latency model in event time, after-market orders, expiry,
//! modify and cancel, kill switches, and the charges booked on every fill.

use dalal_config::Config;
use dalal_core::engine::Engine;
use dalal_core::model::time::{NANOS_PER_DAY, NANOS_PER_MIN, NANOS_PER_SEC};
use dalal_core::model::Stamp;
use dalal_core::model::{
    AccountId, InstrumentId, Money, Order, OrderId, OrderIntent, OrderStatus, OrderType, Price, Product, Qty,
    RejectReason, Session, Side, StrategyId, Timestamp, Validity,
};
use dalal_core::model::{CloseReason, Command, EgressEvent, Feedback, Fill, IngressEvent, Input, KillScope, Msg, Tick};
use dalal_core::stages::charges::{ChargeSegment, ChargeTable, Charges};
use dalal_core::stages::order::paper::{LimitFill, Slippage, VenueConfig, VenueEvent};
use dalal_core::stages::order::{OrderSetup, OrderStage, PaperConfig};

mod common;
use common::*;

/// 15:30 IST the same day.
const CLOSE: i64 = OPEN + 375 * NANOS_PER_MIN;

struct S {
    stage: OrderStage,
    egress: Vec<EgressEvent>,
    fb: Vec<Feedback>,
    now: i64,
}

impl S {
    fn new(paper: PaperConfig) -> S {
        let setup = OrderSetup {
            accounts: 2,
            session: Session::NSE_NORMAL,
            tariffs: ChargeTable::default(),
            paper,
            routes: vec![dalal_core::model::Route::Paper; 2],
            max_working: 1 << 12,
        };
        let stage = OrderStage::new(&instruments(), quanta::Clock::new(), setup);
        S { stage, egress: Vec::new(), fb: Vec::new(), now: T }
    }

    fn venue(venue: VenueConfig) -> S {
        S::new(PaperConfig { venue, ..PaperConfig::default() })
    }

    fn send(&mut self, m: Msg) {
        let (eg, fb) = (&mut self.egress, &mut self.fb);
        self.stage.on_msg(&m, &mut |e| eg.push(e), &mut |f| fb.push(f));
    }

    fn at(&mut self, ts: i64) -> &mut S {
        self.now = ts;
        self
    }

    fn tick(&mut self, instrument: u32, price: i64, qty: u64) {
        let tick =
            Tick { instrument: InstrumentId(instrument), ts: Timestamp(self.now), price: Price(price), qty: Qty(qty) };
        self.send(Msg::Tick { tick, stamp: Stamp::NONE });
    }

    fn timer(&mut self) {
        self.send(Msg::Timer(Timestamp(self.now)));
    }

    /// An approved intent; returns the id the stage gave it.
    fn place(&mut self, intent: OrderIntent) -> OrderId {
        let before = self.stage.counters.orders;
        self.send(Msg::Approved { intent, ts: Timestamp(self.now), stamp: Stamp::NONE });
        assert_eq!(self.stage.counters.orders, before + 1);
        let id = OrderId(before + 1);
        assert!(self.fb.contains(&Feedback::Accepted { order: id, intent }), "accepted feedback for {id:?}");
        id
    }

    /// The order as last published (a finished one has left the stage).
    fn last(&self, id: OrderId) -> Order {
        self.egress
            .iter()
            .rev()
            .find_map(|e| match e {
                EgressEvent::Order { order, .. } if order.id == id => Some(*order),
                _ => None,
            })
            .expect("published order")
    }

    fn command(&mut self, cmd: Command) {
        self.send(Msg::Command(cmd));
    }

    fn status(&self, id: OrderId) -> OrderStatus {
        self.last(id).status
    }

    fn filled(&self, id: OrderId) -> u64 {
        self.last(id).filled.0
    }

    fn fills(&self) -> Vec<Fill> {
        self.egress
            .iter()
            .filter_map(|e| match e {
                EgressEvent::Fill(f) => Some(*f),
                _ => None,
            })
            .collect()
    }

    fn fills_of(&self, id: OrderId) -> Vec<(u64, i64)> {
        self.fills().iter().filter(|f| f.order == id).map(|f| (f.qty.0, f.price.0)).collect()
    }

    /// Every status the order went through, as published on egress.
    fn statuses(&self, id: OrderId) -> Vec<OrderStatus> {
        let mut v: Vec<OrderStatus> = Vec::new();
        for e in &self.egress {
            if let EgressEvent::Order { order, .. } = e {
                if order.id == id && v.last() != Some(&order.status) {
                    v.push(order.status);
                }
            }
        }
        v
    }

    fn closed(&self, id: OrderId) -> Option<(u64, CloseReason)> {
        self.fb.iter().find_map(|f| match *f {
            Feedback::Closed { order, unfilled, reason, .. } if order == id => Some((unfilled.0, reason)),
            _ => None,
        })
    }

    fn refused(&self, id: OrderId) -> Vec<RejectReason> {
        self.fb
            .iter()
            .filter_map(|f| match *f {
                Feedback::CommandRefused { order, reason, .. } if order == id => Some(reason),
                _ => None,
            })
            .collect()
    }

    fn net(&self, account: usize, instrument: usize) -> i64 {
        self.stage.portfolio().net(account, instrument)
    }
}

fn lim(account: u16, side: Side, qty: u64, price: i64) -> OrderIntent {
    OrderIntent::limit(AccountId(account), StrategyId(0), InstrumentId(0), side, Qty(qty), Price(price))
}

fn mkt(account: u16, side: Side, qty: u64) -> OrderIntent {
    OrderIntent::market(AccountId(account), StrategyId(0), InstrumentId(0), side, Qty(qty))
}

fn stop(side: Side, qty: u64, order_type: OrderType, price: i64, trigger: i64) -> OrderIntent {
    OrderIntent { order_type, price: Price(price), trigger: Price(trigger), ..mkt(0, side, qty) }
}

fn ioc(mut o: OrderIntent) -> OrderIntent {
    o.validity = Validity::Ioc;
    o
}

fn amo(mut o: OrderIntent) -> OrderIntent {
    o.amo = true;
    o
}

fn modify(account: u16, order: OrderId, qty: u64, price: i64, trigger: i64) -> Command {
    Command::Modify { account: AccountId(account), order, qty: Qty(qty), price: Price(price), trigger: Price(trigger) }
}

#[test]
fn resting_limit_fills_on_a_trade_through_not_a_touch() {
    let mut s = S::venue(VenueConfig::default());
    s.tick(0, 10_050, 100);
    let id = s.place(lim(0, Side::Buy, 10, 10_000));
    assert_eq!(s.status(id), OrderStatus::Open);
    s.tick(0, 10_000, 100);
    assert_eq!(s.status(id), OrderStatus::Open, "a print at the limit proves nothing");
    s.tick(0, 9_995, 100);
    assert_eq!(s.status(id), OrderStatus::Filled);
    assert_eq!(s.fills_of(id), vec![(10, 10_000)], "fills at the limit");
    assert_eq!(s.net(0, 0), 10);
}

#[test]
fn resting_limit_fills_on_a_touch_when_configured() {
    let mut s = S::venue(VenueConfig { limit_fill: LimitFill::Touch, ..VenueConfig::default() });
    s.tick(0, 10_050, 100);
    let buy = s.place(lim(0, Side::Buy, 10, 10_000));
    let sell = s.place(lim(0, Side::Sell, 10, 10_100));
    s.tick(0, 10_005, 100);
    assert_eq!((s.status(buy), s.status(sell)), (OrderStatus::Open, OrderStatus::Open));
    s.tick(0, 10_000, 100);
    assert_eq!(s.fills_of(buy), vec![(10, 10_000)]);
    s.tick(0, 10_100, 100);
    assert_eq!(s.fills_of(sell), vec![(10, 10_100)]);
}

#[test]
fn marketable_limit_fills_at_once_at_the_last_trade() {
    let mut s = S::venue(VenueConfig::default());
    s.tick(0, 10_000, 1);
    let id = s.place(lim(0, Side::Buy, 10, 10_050));
    assert_eq!(s.status(id), OrderStatus::Filled);
    assert_eq!(s.fills_of(id), vec![(10, 10_000)]);
}

#[test]
fn partial_fills_take_the_printed_volume_oldest_first() {
    let mut s = S::venue(VenueConfig::default());
    s.tick(0, 10_050, 100);
    let a = s.place(lim(0, Side::Buy, 10, 10_000));
    let b = s.place(lim(1, Side::Buy, 10, 10_000));
    s.tick(0, 9_995, 4);
    assert_eq!((s.fills_of(a), s.fills_of(b)), (vec![(4, 10_000)], vec![]));
    assert_eq!(s.status(a), OrderStatus::PartiallyFilled);
    s.tick(0, 9_995, 10);
    assert_eq!(s.fills_of(a), vec![(4, 10_000), (6, 10_000)]);
    assert_eq!(s.fills_of(b), vec![(4, 10_000)]);
    assert_eq!((s.status(a), s.status(b)), (OrderStatus::Filled, OrderStatus::PartiallyFilled));
    assert_eq!((s.filled(a), s.filled(b)), (10, 4));
    assert_eq!(
        s.statuses(a),
        vec![OrderStatus::Pending, OrderStatus::Open, OrderStatus::PartiallyFilled, OrderStatus::Filled]
    );
}

#[test]
fn a_cancel_keeps_the_time_priority_of_the_others() {
    let mut s = S::venue(VenueConfig::default());
    s.tick(0, 10_050, 100);
    let a = s.place(lim(0, Side::Buy, 5, 10_000));
    let b = s.place(lim(0, Side::Buy, 5, 10_000));
    let c = s.place(lim(0, Side::Buy, 5, 10_000));
    s.command(Command::Cancel { account: AccountId(0), order: a });
    assert_eq!(s.status(a), OrderStatus::Cancelled);
    s.tick(0, 9_995, 5);
    assert_eq!(s.fills_of(b), vec![(5, 10_000)], "b is older than c");
    assert_eq!(s.fills_of(c), vec![]);
}

#[test]
fn ioc_cancels_whatever_does_not_fill_at_once() {
    let mut s = S::venue(VenueConfig::default());
    s.tick(0, 10_000, 100);
    let passive = s.place(ioc(lim(0, Side::Buy, 10, 9_950)));
    assert_eq!(s.status(passive), OrderStatus::Cancelled);
    assert_eq!(s.closed(passive), Some((10, CloseReason::Cancelled)));
    assert_eq!(s.stage.venue().resting_count(), 0, "nothing is left working");
    s.tick(0, 9_900, 100);
    assert_eq!(s.fills_of(passive), vec![]);
    let aggressive = s.place(ioc(lim(0, Side::Buy, 10, 9_950)));
    assert_eq!(s.status(aggressive), OrderStatus::Filled);
    assert_eq!(s.fills_of(aggressive), vec![(10, 9_900)]);
    assert_eq!(s.stage.counters.cancelled, 1);
}

#[test]
fn stop_market_triggers_on_the_cross_then_fills() {
    let mut s = S::venue(VenueConfig::default());
    s.tick(0, 10_000, 100);
    let sell = s.place(stop(Side::Sell, 10, OrderType::StopMarket, 0, 9_900));
    let buy = s.place(stop(Side::Buy, 10, OrderType::StopMarket, 0, 10_100));
    s.tick(0, 9_905, 100);
    s.tick(0, 10_095, 100);
    assert_eq!((s.status(sell), s.status(buy)), (OrderStatus::Open, OrderStatus::Open));
    s.tick(0, 9_900, 1);
    assert_eq!(
        s.statuses(sell),
        vec![OrderStatus::Pending, OrderStatus::Open, OrderStatus::Triggered, OrderStatus::Filled]
    );
    assert_eq!(s.fills_of(sell), vec![(10, 9_900)], "the whole remainder at the print");
    s.tick(0, 10_150, 1);
    assert_eq!(
        s.statuses(buy),
        vec![OrderStatus::Pending, OrderStatus::Open, OrderStatus::Triggered, OrderStatus::Filled]
    );
    assert_eq!(s.fills_of(buy), vec![(10, 10_150)]);
}

#[test]
fn stop_limit_triggers_then_works_as_a_limit() {
    let mut s = S::venue(VenueConfig::default());
    s.tick(0, 10_000, 100);
    // Buy stop at ₹101.00 limited to ₹101.50: the print that triggers it is marketable for
    // the new limit order, which trades there like any marketable limit, not at its limit.
    let id = s.place(stop(Side::Buy, 10, OrderType::StopLimit, 10_150, 10_100));
    s.tick(0, 10_095, 100);
    assert_eq!(s.status(id), OrderStatus::Open);
    s.tick(0, 10_100, 4);
    assert_eq!(s.fills_of(id), vec![(4, 10_100)]);
    assert_eq!(s.statuses(id)[2..], [OrderStatus::Triggered, OrderStatus::PartiallyFilled]);
    // Then it rests at its limit: a print above it fills nothing, one through it fills there.
    s.tick(0, 10_200, 100);
    assert_eq!(s.filled(id), 4);
    s.tick(0, 10_145, 100);
    assert_eq!(s.fills_of(id), vec![(4, 10_100), (6, 10_150)]);
    assert_eq!(s.status(id), OrderStatus::Filled);

    // A stop-limit whose trigger print is beyond its limit triggers but does not fill.
    let sell = s.place(stop(Side::Sell, 10, OrderType::StopLimit, 10_000, 10_050));
    s.tick(0, 9_950, 100);
    assert_eq!(s.status(sell), OrderStatus::Triggered);
    assert_eq!(s.fills_of(sell), vec![]);
    s.tick(0, 10_005, 100);
    assert_eq!(s.fills_of(sell), vec![(10, 10_000)]);
}

#[test]
fn market_slippage_in_ticks_and_basis_points() {
    let mut s = S::venue(VenueConfig { slippage: Slippage::Ticks(2), ..VenueConfig::default() });
    s.tick(0, 10_000, 1);
    let b = s.place(mkt(0, Side::Buy, 1));
    let a = s.place(mkt(0, Side::Sell, 1));
    assert_eq!((s.fills_of(b), s.fills_of(a)), (vec![(1, 10_010)], vec![(1, 9_990)]));
    // A stop-market pays the same slippage on the print that triggers it.
    let st = s.place(stop(Side::Sell, 1, OrderType::StopMarket, 0, 9_900));
    s.tick(0, 9_900, 1);
    assert_eq!(s.fills_of(st), vec![(1, 9_890)]);
    // Limits never slip.
    s.tick(0, 10_000, 1);
    let l = s.place(lim(0, Side::Buy, 1, 10_000));
    assert_eq!(s.fills_of(l), vec![(1, 10_000)]);

    // 7 bps of ₹100.00 is 7 paise, rounded up to the 5-paise grid: 10 paise.
    let mut s = S::venue(VenueConfig { slippage: Slippage::Bps(7), ..VenueConfig::default() });
    s.tick(0, 10_000, 1);
    let b = s.place(mkt(0, Side::Buy, 1));
    let a = s.place(mkt(0, Side::Sell, 1));
    assert_eq!((s.fills_of(b), s.fills_of(a)), (vec![(1, 10_010)], vec![(1, 9_990)]));
    // 10 bps of ₹100.00 is exactly two ticks.
    let mut s = S::venue(VenueConfig { slippage: Slippage::Bps(10), ..VenueConfig::default() });
    s.tick(0, 10_000, 1);
    let b = s.place(mkt(0, Side::Buy, 1));
    assert_eq!(s.fills_of(b), vec![(1, 10_010)]);
}

fn delayed(ack_ms: i64, fill_ms: i64) -> S {
    S::new(PaperConfig { venue: VenueConfig::default(), ack_delay_ns: ack_ms * MS, fill_delay_ns: fill_ms * MS })
}

#[test]
fn ack_and_fill_delays_run_in_event_time() {
    let mut s = delayed(50, 20);
    s.at(T - NANOS_PER_SEC).tick(0, 10_000, 1);
    let id = s.at(T).place(mkt(0, Side::Buy, 10));
    assert_eq!(s.status(id), OrderStatus::Pending);
    s.at(T + 10 * MS).tick(0, 10_050, 1);
    assert_eq!(s.status(id), OrderStatus::Pending, "still on its way to the venue");
    // Arrives at T+50 ms, trades at the price of that moment (₹100.50), and we learn of the
    // fill at T+70 ms.
    s.at(T + 60 * MS).tick(0, 10_100, 1);
    assert_eq!(s.fills_of(id), vec![]);
    s.at(T + 69 * MS).timer();
    assert_eq!(s.fills_of(id), vec![]);
    s.at(T + 70 * MS).timer();
    assert_eq!(s.fills_of(id), vec![(10, 10_050)]);
    let f = s.fills()[0];
    assert_eq!(f.ts, Timestamp(T + 70 * MS), "reported at match + fill delay");
    assert_eq!(s.status(id), OrderStatus::Filled);

    // A limit that is not at the venue yet cannot trade on a print; once there it is checked
    // against the market of that moment.
    let l = s.at(T + 100 * MS).place(lim(0, Side::Buy, 5, 10_000));
    s.at(T + 149 * MS).tick(0, 9_950, 100);
    s.at(T + 150 * MS).tick(0, 10_050, 100);
    assert_eq!(s.status(l), OrderStatus::Pending, "traded on arrival at ₹99.50; we learn of it at T+170 ms");
    s.at(T + 170 * MS).timer();
    assert_eq!(s.fills_of(l), vec![(5, 9_950)]);
    assert_eq!(s.fills().last().map(|f| f.ts), Some(Timestamp(T + 170 * MS)));
    // A resting limit: the match happens on the print, the fill is reported 20 ms later.
    let r = s.at(T + 200 * MS).place(lim(0, Side::Buy, 5, 10_000));
    s.at(T + 250 * MS).tick(0, 10_050, 100);
    assert_eq!(s.status(r), OrderStatus::Open);
    s.at(T + 260 * MS).tick(0, 9_995, 100);
    assert_eq!(s.fills_of(r), vec![]);
    s.at(T + 280 * MS).timer();
    assert_eq!(s.fills_of(r), vec![(5, 10_000)]);
    assert_eq!(s.fills().last().map(|f| f.ts), Some(Timestamp(T + 280 * MS)));
}

#[test]
fn arrivals_and_fills_due_before_a_late_event_are_all_delivered() {
    let mut s = delayed(50, 20);
    s.at(T - NANOS_PER_SEC).tick(0, 10_000, 1);
    let id = s.at(T).place(mkt(0, Side::Buy, 10));
    // Nothing happens until a timer a second later: by then the order arrived (T+50 ms) and
    // its fill came back (T+70 ms).
    s.at(T + NANOS_PER_SEC).timer();
    assert_eq!(s.status(id), OrderStatus::Filled);
    assert_eq!(s.fills().iter().map(|f| f.ts).collect::<Vec<_>>(), vec![Timestamp(T + 70 * MS)]);
}

#[test]
fn a_cancel_after_a_match_still_books_the_fill_on_its_way() {
    let mut s = delayed(0, 20);
    s.tick(0, 10_050, 100);
    let id = s.place(lim(0, Side::Buy, 10, 10_000));
    s.at(T + MS).tick(0, 9_995, 4);
    s.at(T + 5 * MS).timer();
    s.command(Command::Cancel { account: AccountId(0), order: id });
    s.at(T + 30 * MS).timer();
    assert_eq!(s.fills_of(id), vec![(4, 10_000)], "the 4 traded before the cancel");
    assert_eq!(s.status(id), OrderStatus::Cancelled);
    assert_eq!(s.filled(id), 4);
    assert_eq!(s.closed(id), Some((6, CloseReason::Cancelled)));
    assert_eq!(s.net(0, 0), 4);
    assert_eq!(s.stage.counters.illegal_transitions, 0);

    // Fully matched, fill still on its way: too late to cancel.
    let id = s.place(lim(0, Side::Buy, 10, 10_000));
    s.at(T + 31 * MS).tick(0, 9_995, 100);
    s.command(Command::Cancel { account: AccountId(0), order: id });
    assert_eq!(s.refused(id), vec![RejectReason::NotModifiable]);
    s.at(T + 60 * MS).timer();
    assert_eq!(s.status(id), OrderStatus::Filled);
    assert_eq!(s.net(0, 0), 14);
    assert_eq!(s.stage.counters.illegal_transitions, 0);
}

#[test]
fn a_kill_switch_after_a_match_still_books_the_fill_on_its_way() {
    let mut s = delayed(0, 20);
    s.tick(0, 10_050, 100);
    let id = s.place(lim(0, Side::Buy, 10, 10_000));
    s.at(T + MS).tick(0, 9_995, 4);
    s.command(Command::KillSwitch { scope: KillScope::Account(AccountId(0)), engaged: true });
    s.at(T + 30 * MS).timer();
    assert_eq!((s.filled(id), s.status(id)), (4, OrderStatus::Cancelled));
    assert_eq!(s.closed(id), Some((6, CloseReason::Cancelled)));
    assert_eq!(s.net(0, 0), 4);
    assert_eq!(s.stage.counters.illegal_transitions, 0);
}

#[test]
fn a_modify_after_a_match_counts_the_fill_on_its_way() {
    let mut s = delayed(0, 20);
    s.tick(0, 10_050, 100);
    let id = s.place(lim(0, Side::Buy, 10, 10_000));
    s.at(T + MS).tick(0, 9_995, 4);
    // New total 12 with 4 already traded: 8 more at most.
    s.command(modify(0, id, 12, 0, 0));
    s.at(T + 2 * MS).tick(0, 9_990, 100);
    s.at(T + 40 * MS).timer();
    assert_eq!(s.fills_of(id), vec![(4, 10_000), (8, 10_000)]);
    assert_eq!((s.filled(id), s.status(id)), (12, OrderStatus::Filled));
    assert_eq!(s.stage.counters.illegal_transitions, 0, "the venue never traded more than the order");
}

#[test]
fn day_orders_expire_at_the_close() {
    let mut s = delayed(0, 20);
    s.tick(0, 10_050, 100);
    let id = s.place(lim(0, Side::Buy, 10, 10_000));
    let sl = s.place(stop(Side::Sell, 10, OrderType::StopMarket, 0, 9_000));
    s.at(CLOSE - MS).tick(0, 9_995, 3);
    assert_eq!(s.status(id), OrderStatus::Open);
    s.at(CLOSE).timer();
    assert_eq!(s.status(sl), OrderStatus::Expired);
    // The 3 matched a millisecond before the close are booked, then the other 7 expire.
    s.at(CLOSE + 30 * MS).timer();
    assert_eq!(s.status(id), OrderStatus::Expired);
    assert_eq!(s.filled(id), 3);
    assert_eq!(s.closed(id), Some((7, CloseReason::Expired)));
    assert_eq!(s.closed(sl), Some((10, CloseReason::Expired)));
    assert_eq!(s.stage.counters.expired, 2);
    assert_eq!(s.stage.venue().resting_count(), 0);
}

#[test]
fn after_market_orders_wait_for_the_next_open() {
    let mut s = S::venue(VenueConfig::default());
    // Thursday: the last trade is at ₹100.00.
    let thursday_close = CLOSE - NANOS_PER_DAY;
    s.at(thursday_close - MS).tick(0, 10_000, 100);
    s.at(thursday_close + 5 * 60 * NANOS_PER_MIN);
    let market = s.place(amo(mkt(0, Side::Buy, 10)));
    let limit = s.place(amo(lim(0, Side::Buy, 10, 9_900)));
    assert_eq!((s.status(market), s.status(limit)), (OrderStatus::Pending, OrderStatus::Pending));
    s.at(OPEN - MS).tick(0, 10_200, 100);
    assert_eq!(s.fills(), vec![], "pre-open prints do not reach after-market orders");
    // Neither a timer at the open nor another instrument's trade sends them at a stale price.
    s.at(OPEN).timer();
    s.tick(1, 50_000, 100);
    assert_eq!((s.status(market), s.status(limit)), (OrderStatus::Pending, OrderStatus::Pending));
    // The first trade opens with a gap to ₹103.00: the market AMO trades there, not at
    // Thursday's close or the pre-open print.
    s.at(OPEN + MS).tick(0, 10_300, 100);
    assert_eq!(s.fills_of(market), vec![(10, 10_300)]);
    assert_eq!(s.status(limit), OrderStatus::Open);
    // The limit AMO works for Friday's whole session, then expires.
    s.at(T).tick(0, 9_950, 100);
    assert_eq!(s.status(limit), OrderStatus::Open);
    s.at(T + MS).tick(0, 9_895, 4);
    assert_eq!(s.fills_of(limit), vec![(4, 9_900)]);
    s.at(CLOSE).timer();
    assert_eq!(s.status(limit), OrderStatus::Expired);
    assert_eq!(s.closed(limit), Some((6, CloseReason::Expired)));
}

#[test]
fn an_amo_in_session_is_an_ordinary_order() {
    let mut s = S::venue(VenueConfig::default());
    s.tick(0, 10_000, 100);
    let id = s.place(amo(mkt(0, Side::Buy, 10)));
    assert_eq!(s.fills_of(id), vec![(10, 10_000)]);
}

#[test]
fn modify_changes_quantity_price_and_trigger_of_a_working_order() {
    let mut s = S::venue(VenueConfig::default());
    s.tick(0, 10_050, 100);
    let id = s.place(lim(0, Side::Buy, 10, 9_900));
    s.command(modify(0, id, 15, 0, 0));
    assert!(s.fb.contains(&Feedback::Modified {
        order: id,
        intent: OrderIntent { qty: Qty(15), ..lim(0, Side::Buy, 10, 9_900) },
        old_remaining: Qty(10),
        new_remaining: Qty(15),
    }));
    s.command(modify(0, id, 0, 9_950, 0));
    s.tick(0, 9_945, 100);
    assert_eq!(s.fills_of(id), vec![(15, 9_950)]);
    assert_eq!(s.stage.counters.modified, 2);

    let st = s.place(stop(Side::Sell, 10, OrderType::StopMarket, 0, 9_000));
    s.command(modify(0, st, 0, 0, 9_900));
    s.tick(0, 9_905, 1);
    assert_eq!(s.status(st), OrderStatus::Open);
    s.tick(0, 9_900, 1);
    assert_eq!(s.fills_of(st), vec![(10, 9_900)]);

    // A filled order is no longer modifiable; another account's order is unknown to you.
    s.command(modify(0, id, 20, 0, 0));
    assert_eq!(s.refused(id), vec![RejectReason::NotModifiable]);
    assert_eq!(s.last(id).intent.qty, Qty(15), "not applied");
    let other = s.place(lim(1, Side::Buy, 10, 9_800));
    s.command(modify(0, other, 20, 0, 0));
    assert_eq!(s.refused(other), vec![RejectReason::UnknownOrder]);
    assert_eq!(s.stage.order(other).map(|o| o.intent.qty), Some(Qty(10)));
    // Not below what has filled, and never a MARKET order.
    s.tick(0, 9_795, 4);
    s.command(modify(1, other, 4, 0, 0));
    assert_eq!(s.refused(other), vec![RejectReason::UnknownOrder, RejectReason::NotModifiable]);
    assert_eq!(s.stage.counters.commands_refused, 3);
}

#[test]
fn modify_to_a_marketable_price_trades_at_the_market() {
    let mut s = S::venue(VenueConfig::default());
    s.tick(0, 10_000, 100);
    let id = s.place(lim(0, Side::Buy, 10, 9_900));
    s.command(modify(0, id, 0, 10_100, 0));
    assert_eq!(s.fills_of(id), vec![(10, 10_000)], "like a new limit at ₹101.00 with the market at ₹100.00");
    assert_eq!(s.status(id), OrderStatus::Filled);
    assert_eq!(s.stage.venue().resting_count(), 0);
}

#[test]
fn cancel_is_for_your_own_working_orders() {
    let mut s = S::venue(VenueConfig::default());
    s.tick(0, 10_050, 100);
    let id = s.place(lim(0, Side::Buy, 10, 9_900));
    s.command(Command::Cancel { account: AccountId(1), order: id });
    assert_eq!(s.refused(id), vec![RejectReason::UnknownOrder]);
    assert_eq!(s.status(id), OrderStatus::Open);
    s.command(Command::Cancel { account: AccountId(0), order: OrderId(99) });
    assert_eq!(s.refused(OrderId(99)), vec![RejectReason::UnknownOrder]);
    s.command(Command::Cancel { account: AccountId(0), order: id });
    assert_eq!(s.status(id), OrderStatus::Cancelled);
    assert_eq!(s.closed(id), Some((10, CloseReason::Cancelled)));
    // Terminal stays terminal: a second cancel is refused and changes nothing.
    s.command(Command::Cancel { account: AccountId(0), order: id });
    assert_eq!(s.refused(id), vec![RejectReason::UnknownOrder, RejectReason::NotModifiable]);
    s.tick(0, 9_800, 100);
    assert_eq!(s.fills_of(id), vec![]);
    assert_eq!(s.stage.counters.cancelled, 1);
    assert_eq!(s.stage.counters.commands_refused, 3);
}

#[test]
fn kill_switch_cancels_only_that_accounts_working_orders() {
    let mut s = delayed(50, 0);
    s.at(T - NANOS_PER_SEC).tick(0, 10_050, 100);
    let resting = s.at(T).place(lim(0, Side::Buy, 10, 9_900));
    let other = s.place(lim(1, Side::Buy, 10, 9_900));
    s.at(T + 60 * MS).timer();
    assert_eq!((s.status(resting), s.status(other)), (OrderStatus::Open, OrderStatus::Open));
    let filled = s.place(mkt(0, Side::Buy, 1));
    s.at(T + 120 * MS).timer();
    assert_eq!(s.status(filled), OrderStatus::Filled);
    let in_flight = s.place(lim(0, Side::Sell, 10, 10_200));
    assert_eq!(s.status(in_flight), OrderStatus::Pending);
    s.command(Command::KillSwitch { scope: KillScope::Account(AccountId(0)), engaged: true });
    for id in [resting, in_flight] {
        assert_eq!(s.status(id), OrderStatus::Cancelled, "{id:?}");
    }
    assert_eq!(s.status(filled), OrderStatus::Filled);
    assert_eq!(s.status(other), OrderStatus::Open);
    s.tick(0, 9_850, 100);
    assert_eq!(s.fills_of(other), vec![(10, 9_900)]);
    assert_eq!(s.fills_of(resting), vec![]);
    // A global kill switch takes everyone's.
    let late = s.place(lim(1, Side::Buy, 10, 9_800));
    s.at(T + 200 * MS).timer();
    s.command(Command::KillSwitch { scope: KillScope::Global, engaged: true });
    assert_eq!(s.status(late), OrderStatus::Cancelled);
}

#[test]
fn cancel_working_can_take_one_product_only() {
    let mut s = S::venue(VenueConfig::default());
    s.tick(0, 10_050, 100);
    let mis = s.place(lim(0, Side::Buy, 10, 9_900));
    let cnc = s.place(OrderIntent { product: Product::Cnc, ..lim(0, Side::Buy, 10, 9_900) });
    s.command(Command::CancelWorking { scope: KillScope::Account(AccountId(0)), product: Some(Product::Mis) });
    assert_eq!((s.status(mis), s.status(cnc)), (OrderStatus::Cancelled, OrderStatus::Open));
}

#[test]
fn a_kill_switch_cancels_after_market_orders_waiting_for_the_open() {
    let mut s = S::venue(VenueConfig::default());
    s.at(CLOSE - MS).tick(0, 10_000, 100);
    let id = s.at(CLOSE + 60 * NANOS_PER_MIN).place(amo(lim(0, Side::Buy, 10, 10_000)));
    assert_eq!(s.status(id), OrderStatus::Pending);
    s.command(Command::KillSwitch { scope: KillScope::Account(AccountId(0)), engaged: true });
    assert_eq!(s.status(id), OrderStatus::Cancelled);
    assert_eq!(s.closed(id), Some((10, CloseReason::Cancelled)));
    s.at(OPEN + NANOS_PER_DAY * 3).tick(0, 9_900, 100);
    assert_eq!(s.fills(), vec![]);
}

#[test]
fn sweeps_leave_the_engines_own_square_off_orders_working() {
    let mut s = delayed(50, 0);
    s.at(T - NANOS_PER_SEC).tick(0, 10_000, 100);
    let square_off = s.at(T).place(OrderIntent { strategy: StrategyId::SYSTEM, ..mkt(0, Side::Sell, 10) });
    let own = s.place(lim(0, Side::Buy, 10, 9_900));
    s.command(Command::KillSwitch { scope: KillScope::Account(AccountId(0)), engaged: true });
    assert_eq!(s.status(own), OrderStatus::Cancelled);
    assert_eq!(s.status(square_off), OrderStatus::Pending);
    s.at(T + 50 * MS).timer();
    assert_eq!(s.fills_of(square_off), vec![(10, 10_000)]);
}

#[test]
fn charges_on_every_fill_with_brokerage_capped_per_order() {
    let table = ChargeTable::default();
    let mut s = S::venue(VenueConfig::default());
    s.tick(0, 10_050, 100);
    // ₹1,00,000 of MIS buying in three fills: 0.03 % would be ₹30, capped at ₹20 per order.
    let id = s.place(lim(0, Side::Buy, 1_000, 10_000));
    for q in [400, 400, 200] {
        s.tick(0, 9_995, q);
    }
    // A CNC sell at once, and a futures buy.
    let cnc = s.place(OrderIntent { product: Product::Cnc, ..mkt(0, Side::Sell, 300) });
    s.tick(1, 2_000_000, 1);
    let fut = s.place(OrderIntent { instrument: InstrumentId(1), product: Product::Nrml, ..mkt(0, Side::Buy, 50) });
    let fills = s.fills();
    assert_eq!(fills.len(), 5);

    let mut brokerage = std::collections::HashMap::<OrderId, (Money, Money)>::new();
    let mut total = Charges::default();
    for f in &fills {
        let o = s.last(f.order);
        let seg = ChargeSegment::of(instruments()[f.instrument.index()].segment, o.intent.product);
        let (value_before, brokerage_before) = brokerage.get(&f.order).copied().unwrap_or_default();
        let value = f.qty.notional(f.price);
        let c = table.on_fill(seg, f.side, value, value_before, brokerage_before);
        assert_eq!(f.charges, c.total(), "fill {f:?}");
        brokerage.insert(f.order, (value_before + value, brokerage_before + c.brokerage));
        total.add(&c);
    }
    assert_eq!(brokerage[&id].1, Money(2_000), "₹20 for the whole order");
    assert_eq!(fills.iter().filter(|f| f.order == id).count(), 3, "three fills");
    assert_eq!(brokerage[&cnc].1, Money(0), "no brokerage on delivery");
    assert_eq!(s.last(id).brokerage, Money(2_000));
    assert_eq!(brokerage[&fut].1, Money(2_000));
    assert_eq!(s.stage.charges(0), total);
    assert_eq!(s.stage.charges(0).total().0, fills.iter().map(|f| f.charges.0).sum::<i64>());
    assert_eq!(s.stage.charges(1), Charges::default());
}

#[test]
fn illegal_transitions_are_refused_counted_and_not_applied() {
    let mut s = S::venue(VenueConfig::default());
    s.tick(0, 10_050, 100);
    let id = s.place(lim(0, Side::Buy, 10, 9_900));
    s.command(Command::Cancel { account: AccountId(0), order: id });
    let before = s.egress.len();
    let (eg, fb) = (&mut s.egress, &mut s.fb);
    // A venue (a broker gateway, say) reports a fill and a trigger for a cancelled order.
    let mut report = |e| s.stage.on_venue_event(e, Timestamp(T), &mut |x| eg.push(x), &mut |x| fb.push(x));
    report(VenueEvent::Fill { id, price: Price(9_900), qty: Qty(5) });
    report(VenueEvent::Triggered { id });
    report(VenueEvent::Fill { id: OrderId(77), price: Price(9_900), qty: Qty(5) });
    assert_eq!(s.stage.counters.illegal_transitions, 3);
    assert_eq!(s.egress.len(), before, "nothing published");
    assert_eq!((s.status(id), s.filled(id), s.net(0, 0)), (OrderStatus::Cancelled, 0, 0));
    assert_eq!(s.stage.counters.fills, 0);
    // A report for more than remains is clamped to what remains, and counted.
    let id = s.place(lim(0, Side::Buy, 10, 9_900));
    let (eg, fb) = (&mut s.egress, &mut s.fb);
    s.stage.on_venue_event(
        VenueEvent::Fill { id, price: Price(9_900), qty: Qty(12) },
        Timestamp(T),
        &mut |x| eg.push(x),
        &mut |x| fb.push(x),
    );
    assert_eq!(s.stage.counters.illegal_transitions, 4);
    assert_eq!((s.status(id), s.filled(id)), (OrderStatus::Filled, 10));
}

/// Every order published in `egress` moves only along the life cycle's legal transitions.
fn assert_legal_life_cycles(egress: &[EgressEvent]) {
    let mut last = std::collections::HashMap::new();
    for e in egress {
        if let EgressEvent::Order { order, .. } = e {
            if let Some(prev) = last.insert(order.id, order.status) {
                assert!(
                    (prev == order.status && !prev.is_terminal()) || prev.can_become(order.status),
                    "{:?}: {prev:?} -> {:?}",
                    order.id,
                    order.status
                );
            }
        }
    }
}

#[test]
fn published_life_cycles_are_legal() {
    let mut s = delayed(10, 10);
    s.at(T - NANOS_PER_SEC).tick(0, 10_000, 100);
    let mut t = T;
    for k in 0..40i64 {
        t += 7 * MS;
        s.at(t);
        let p = 10_000 + 5 * ((k * 7) % 11 - 5);
        match k % 5 {
            0 => {
                s.place(lim(0, Side::Buy, 10, p));
            }
            1 => {
                s.place(stop(Side::Sell, 5, OrderType::StopMarket, 0, p - 10));
            }
            2 => s.tick(0, p, 6),
            3 => s.command(Command::Cancel { account: AccountId(0), order: OrderId(k as u64 / 2) }),
            _ => s.command(modify(0, OrderId(k as u64 / 3 + 1), 12, p, 0)),
        }
    }
    s.at(CLOSE).timer();
    assert_legal_life_cycles(&s.egress);
    assert_eq!(s.stage.counters.illegal_transitions, 0);
    assert_eq!(s.stage.working_count(), 0, "everything ends by the close");
}

/// An engine with one account and no strategies, for orders placed from outside.
fn engine(limits: serde_json::Value, paper: serde_json::Value) -> Engine {
    let config: Config = serde_json::from_value(serde_json::json!({
        "paper": paper,
        "instruments": [{ "symbol": "EQ", "tick_size": 0.05, "lot_size": 1, "ref_price": 100.0, "band_pct": 20.0 }],
        "accounts": [{ "name": "a", "limits": limits }],
    }))
    .expect("config parses");
    let setup = config.validate().expect("valid config");
    Engine::new(&setup, quanta::Clock::new(), 0)
}

fn step(e: &mut Engine, input: Input, egress: &mut Vec<EgressEvent>) {
    e.step(&IngressEvent { input, ..Default::default() }, &mut |x| egress.push(x));
}

fn tick_input(ts: i64, price: i64) -> Input {
    Input::Tick(Tick { instrument: InstrumentId(0), ts: Timestamp(ts), price: Price(price), qty: Qty(1_000) })
}

#[test]
fn a_fill_past_the_loss_limit_cancels_and_flattens_through_the_engine() {
    let limits = serde_json::json!({ "daily_loss_limit": 50.0, "square_off_on_loss": true });
    let paper = serde_json::json!({ "slippage": { "kind": "ticks", "value": 10 } });
    let mut e = engine(limits, paper);
    let mut egress = Vec::new();
    step(&mut e, tick_input(T, 10_000), &mut egress);
    let place = |intent| Input::Command(Command::Place { intent });
    step(&mut e, place(lim(0, Side::Buy, 10, 9_800)), &mut egress);
    // Bought 100 at ₹100.50 with the market at ₹100.00: −₹50 plus charges.
    step(&mut e, place(mkt(0, Side::Buy, 100)), &mut egress);
    assert_eq!(e.order.portfolio().net(0, 0), 100);
    step(&mut e, tick_input(T + MS, 10_000), &mut egress);
    assert!(e.risk.account_kill(0));
    let mut blotter = dalal_core::engine::backtest::Blotter::default();
    egress.iter().for_each(|e| blotter.on_event(e));
    let orders = &blotter.orders;
    assert_eq!(orders[0].status, OrderStatus::Cancelled, "the kill switch reached the order stage");
    let square_off = orders.iter().find(|o| o.intent.strategy == StrategyId::SYSTEM).expect("a square-off order");
    assert_eq!((square_off.intent.side, square_off.intent.qty), (Side::Sell, Qty(100)));
    assert_eq!(square_off.status, OrderStatus::Filled);
    assert_eq!(e.order.portfolio().net(0, 0), 0);
    // Nothing else trades for the account.
    step(&mut e, place(mkt(0, Side::Buy, 1)), &mut egress);
    let refused = egress.iter().rev().find_map(|x| match x {
        EgressEvent::Order { order, .. } => Some(order.reject),
        _ => None,
    });
    assert_eq!(refused, Some(Some(RejectReason::AccountKillSwitch)));
    assert_legal_life_cycles(&egress);
}

#[test]
fn an_operator_modify_goes_through_risk_to_the_order_stage() {
    let mut e = engine(serde_json::json!({ "max_order_qty": 20 }), serde_json::json!({}));
    let mut egress = Vec::new();
    step(&mut e, tick_input(T, 10_000), &mut egress);
    step(&mut e, Input::Command(Command::Place { intent: lim(0, Side::Buy, 10, 9_900) }), &mut egress);
    let id = OrderId(1);
    step(&mut e, Input::Command(modify(0, id, 15, 9_950, 0)), &mut egress);
    assert_eq!(e.order.order(id).map(|o| (o.intent.qty, o.intent.price)), Some((Qty(15), Price(9_950))));
    // Refused by risk: the order stage never sees it.
    step(&mut e, Input::Command(modify(0, id, 25, 0, 0)), &mut egress);
    assert_eq!(e.order.order(id).map(|o| o.intent.qty), Some(Qty(15)));
    assert_eq!(e.risk.counters.rejected[RejectReason::MaxOrderQty.index()], 1);
    step(&mut e, tick_input(T + MS, 9_945), &mut egress);
    let last = egress.iter().rev().find_map(|x| match x {
        EgressEvent::Order { order, .. } if order.id == id => Some((order.status, order.filled)),
        _ => None,
    });
    assert_eq!(last, Some((OrderStatus::Filled, Qty(15))));
    assert!(e.order.order(id).is_none(), "a filled order has left the working set");
    assert_eq!(e.risk.exposure(0, 0).map(|x| (x.position.net.0, x.working_buy)), Some((15, 0)));
}

/// The order stage holds working orders only, in a slab of fixed size: a finished order
/// leaves it, a full slab refuses a new order with its own reason, and a late cancel of a
/// finished order is still told it is no longer working.
#[test]
fn only_working_orders_are_held_and_the_slab_is_bounded() {
    let setup = OrderSetup {
        accounts: 2,
        session: Session::NSE_NORMAL,
        tariffs: ChargeTable::default(),
        paper: PaperConfig::default(),
        routes: vec![dalal_core::model::Route::Paper; 2],
        max_working: 2,
    };
    let mut s = S::new(PaperConfig::default());
    s.stage = OrderStage::new(&instruments(), quanta::Clock::new(), setup);
    s.tick(0, 10_000, 100);
    // Thousands of orders come and go; the stage holds none of them afterwards.
    for _ in 0..5_000 {
        s.place(mkt(0, Side::Buy, 1));
    }
    assert_eq!(s.stage.working_count(), 0);
    assert_eq!(s.fills().len(), 5_000);
    let a = s.place(lim(0, Side::Buy, 1, 9_000));
    let b = s.place(lim(1, Side::Buy, 1, 9_000));
    assert_eq!(s.stage.working_count(), 2);
    // Full: refused, published and closed, never held.
    let before = s.stage.counters.orders;
    s.send(Msg::Approved { intent: lim(0, Side::Buy, 1, 9_000), ts: Timestamp(s.now), stamp: Stamp::NONE });
    let c = OrderId(before + 1);
    assert_eq!((s.status(c), s.last(c).reject), (OrderStatus::Rejected, Some(RejectReason::WorkingOrdersFull)));
    assert!(s
        .fb
        .iter()
        .any(|f| matches!(f, Feedback::Closed { order, reason: CloseReason::Refused, .. } if *order == c)));
    assert_eq!(s.stage.working_count(), 2);
    // An account's kill switch sweeps that account's working orders only.
    s.command(Command::KillSwitch { scope: KillScope::Account(AccountId(1)), engaged: true });
    assert_eq!((s.status(a), s.status(b)), (OrderStatus::Open, OrderStatus::Cancelled));
    // There is room again; and cancelling the finished order says it no longer works.
    s.place(lim(0, Side::Buy, 1, 9_000));
    s.command(Command::Cancel { account: AccountId(1), order: b });
    assert_eq!(s.refused(b), vec![RejectReason::NotModifiable]);
}

/// An observer that takes nothing until the test lets it, then records what it gets.
struct Held {
    gate: std::sync::mpsc::Receiver<()>,
    open: bool,
    events: Vec<EgressEvent>,
    gaps: Vec<(u64, u64)>,
}

impl dalal_core::engine::placement::EgressObserver for Held {
    fn on_event(&mut self, ev: &EgressEvent) {
        if !self.open {
            let _ = self.gate.recv();
            self.open = true;
        }
        self.events.push(*ev);
    }
    fn on_gap(&mut self, first: u64, missed: u64) {
        self.gaps.push((first, missed));
    }
}

/// A fused engine with a 64-slot egress ring and a [`Held`] observer (let through at once when
/// `open`), fed a tick and `places` resting orders.
fn held_run(
    lossy: bool,
    open_first: bool,
    places: u64,
) -> (std::sync::mpsc::Sender<()>, dalal_core::engine::placement::Running<Held>) {
    use dalal_core::engine::placement::{Launch, PlacementConfig, MIN_RING};
    let e = engine(serde_json::json!({ "max_order_qty": 1000, "max_position_qty": 1_000_000 }), serde_json::json!({}));
    let cfg = PlacementConfig { ring_size: MIN_RING, ..PlacementConfig::default() };
    let cfg = PlacementConfig { wait: dalal_config::WaitKind::Sleep, ..cfg };
    let (open, gate) = std::sync::mpsc::channel();
    if open_first {
        let _ = open.send(());
    }
    let observer = Held { gate, open: false, events: Vec::new(), gaps: Vec::new() };
    let live = std::sync::Arc::new(dalal_core::engine::stats::LiveStats::new(1));
    let mut launch = Launch::new(e, &cfg, observer, live);
    if lossy {
        launch = launch.lossy_egress();
    }
    let mut running = launch.start().expect("starts");
    running.publish(tick_input(T, 10_000));
    for _ in 0..places {
        // Far below the market: each rests, one egress event each.
        running.publish(Input::Command(Command::Place { intent: lim(0, Side::Buy, 1, 9_000) }));
    }
    (open, running)
}

#[test]
fn a_lossy_egress_ring_never_holds_the_engine_and_reports_every_gap() {
    let places = 1_000;
    let (open, running) = held_run(true, false, places);
    // The observer takes nothing, yet the engine applies every input: it waits for nobody.
    let progress = running.progress().clone();
    while progress.ingress_consumed.load(std::sync::atomic::Ordering::Acquire) < places + 1 {
        std::thread::yield_now();
    }
    let dropped = progress.egress_dropped.load(std::sync::atomic::Ordering::Acquire);
    assert!(dropped > 0, "a 64-slot ring cannot hold {places} orders");
    let _ = open.send(());
    let stopped = running.stop();
    let obs = stopped.observer;
    let missed: u64 = obs.gaps.iter().map(|g| g.1).sum();
    let dropped = progress.egress_dropped.load(std::sync::atomic::Ordering::Acquire);
    assert_eq!(missed, dropped, "every dropped event is reported as a gap");
    assert_eq!(obs.events.len() as u64 + missed, stopped.engine.emitted(), "received + missed = emitted");
    // Gaps are disjoint and in order.
    assert!(obs.gaps.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0));
    assert_eq!(stopped.engine.risk.counters.checked, places, "no input was lost, only notices of it");
}

#[test]
fn a_lossless_egress_ring_delivers_everything() {
    // Many times the ring: the engine waits for the observer instead of dropping.
    let places = 1_000;
    let (_open, running) = held_run(false, true, places);
    running.wait_idle();
    let stopped = running.stop();
    assert!(stopped.observer.gaps.is_empty());
    assert_eq!(stopped.observer.events.len() as u64, stopped.engine.emitted());
}

/// A position taken at the broker before the run, adopted as an opening fill: it is booked
/// at its average price without an order or charges, risk counts it against the position
/// limit, and it reduces and closes like any other. An adoption for an unknown account books
/// nothing and is refused.
#[test]
fn an_adopted_broker_position_is_booked_and_counted_by_risk() {
    let mut e = engine(serde_json::json!({ "max_position_qty": 60 }), serde_json::json!({}));
    let mut egress = Vec::new();
    step(&mut e, tick_input(T, 10_000), &mut egress);
    let product = mkt(0, Side::Buy, 1).product;
    let adopt = |account: u16, side: Side, qty: u64, price: i64| {
        Input::Command(Command::Adopt(dalal_core::model::Adoption {
            account: AccountId(account),
            instrument: InstrumentId(0),
            product,
            side,
            qty: Qty(qty),
            price: Price(price),
        }))
    };
    step(&mut e, adopt(0, Side::Buy, 50, 9_900), &mut egress);
    assert_eq!(e.order.portfolio().net(0, 0), 50);
    let p = e.order.portfolio().get(0, 0, product).expect("position");
    assert_eq!(p.avg_price(), 9_900.0, "paise");
    let fills: Vec<Fill> = egress
        .iter()
        .filter_map(|x| match x {
            EgressEvent::Fill(f) => Some(*f),
            _ => None,
        })
        .collect();
    assert_eq!(fills.len(), 1);
    assert_eq!((fills[0].order, fills[0].strategy, fills[0].charges), (OrderId(0), StrategyId::SYSTEM, Money(0)));
    assert!(!egress.iter().any(|x| matches!(x, EgressEvent::Order { .. })), "no order");

    // Risk holds the adopted 50: 20 more would pass 60.
    let place = |intent| Input::Command(Command::Place { intent });
    step(&mut e, place(mkt(0, Side::Buy, 20)), &mut egress);
    let last_reject = |egress: &Vec<EgressEvent>| {
        egress.iter().rev().find_map(|x| match x {
            EgressEvent::Order { order, .. } => Some(order.reject),
            _ => None,
        })
    };
    assert_eq!(last_reject(&egress), Some(Some(RejectReason::MaxPosition)));
    step(&mut e, place(mkt(0, Side::Buy, 10)), &mut egress);
    assert_eq!(last_reject(&egress), Some(None));
    assert_eq!(e.order.portfolio().net(0, 0), 60);
    step(&mut e, place(mkt(0, Side::Sell, 60)), &mut egress);
    assert_eq!(e.order.portfolio().net(0, 0), 0);

    // Unknown account: nothing booked, nothing panics.
    let before = e.order.counters.fills;
    step(&mut e, adopt(7, Side::Buy, 5, 9_900), &mut egress);
    assert_eq!(e.order.counters.fills, before);
    assert_legal_life_cycles(&egress);
}
