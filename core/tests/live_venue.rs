//! The execution seam: orders of a live account leave as venue requests, and the order stage
//! applies what the venue reports — acknowledgement, refusal, partial and full fills,
//! cancellation, modification, expiry — matched by our id or the venue's. Unknown, duplicate
//! and late reports are counted and change nothing; a live session replays exactly from its
//! inputs, reports included.

use dalal_config::Config;
use dalal_core::engine::Engine;
use dalal_core::model::{
    AccountId, CloseReason, Command, EgressEvent, Feedback, IngressEvent, Input, InstrumentId, KillScope, Msg, Order,
    OrderId, OrderIntent, OrderStatus, Price, Qty, ReasonText, RejectReason, ReportKind, RequestKind, Route, Session,
    Side, Stamp, StrategyId, Tick, Timestamp, VenueId, VenueOrderId, VenueReport, VenueTradeId,
};
use dalal_core::stages::charges::ChargeTable;
use dalal_core::stages::order::{OrderSetup, OrderStage, PaperConfig};

mod common;
use common::*;

const LIVE: VenueId = VenueId(0);

/// Account 0 trades on venue 0, account 1 on paper.
struct S {
    stage: OrderStage,
    egress: Vec<EgressEvent>,
    fb: Vec<Feedback>,
}

impl S {
    fn new() -> S {
        let setup = OrderSetup {
            accounts: 2,
            session: Session::NSE_NORMAL,
            tariffs: ChargeTable::default(),
            paper: PaperConfig::default(),
            routes: vec![Route::Live(LIVE), Route::Paper],
            max_working: 64,
        };
        let stage = OrderStage::new(&instruments(), quanta::Clock::new(), setup);
        S { stage, egress: Vec::new(), fb: Vec::new() }
    }

    fn send(&mut self, m: Msg) {
        let (eg, fb) = (&mut self.egress, &mut self.fb);
        self.stage.on_msg(&m, &mut |e| eg.push(e), &mut |f| fb.push(f));
    }

    fn tick(&mut self, price: i64) {
        let tick = Tick { instrument: InstrumentId(0), ts: Timestamp(T), price: Price(price), qty: Qty(1_000) };
        self.send(Msg::Tick { tick, stamp: Stamp::NONE });
    }

    fn place(&mut self, account: u16, qty: u64) -> OrderId {
        let intent =
            OrderIntent::limit(AccountId(account), StrategyId(0), InstrumentId(0), Side::Buy, Qty(qty), Price(9_900));
        self.send(Msg::Approved { intent, ts: Timestamp(T), stamp: Stamp::NONE });
        self.fb
            .iter()
            .rev()
            .find_map(|f| if let Feedback::Accepted { order, .. } = f { Some(*order) } else { None })
            .expect("accepted")
    }

    fn report(&mut self, order: u64, venue_order: &str, kind: ReportKind) {
        self.report_as(AccountId(0), LIVE, order, venue_order, kind);
    }

    fn report_as(&mut self, account: AccountId, venue: VenueId, order: u64, venue_order: &str, kind: ReportKind) {
        let venue_order = VenueOrderId::new(venue_order).expect("short id");
        let r = VenueReport { venue, account, order: OrderId(order), venue_order, ts: Timestamp(T + MS), kind };
        self.send(Msg::VenueReport(r));
    }

    fn requests(&self) -> Vec<RequestKind> {
        self.egress
            .iter()
            .filter_map(|e| match e {
                EgressEvent::VenueRequest(r) if r.venue == LIVE => Some(r.kind),
                _ => None,
            })
            .collect()
    }

    fn notices(&self) -> usize {
        self.egress.iter().filter(|e| matches!(e, EgressEvent::VenueNotice(_))).count()
    }

    /// The order's last published state (a finished order has left the stage).
    fn last(&self, id: OrderId) -> Order {
        self.egress
            .iter()
            .rev()
            .find_map(|e| match e {
                EgressEvent::Order { order, .. } if order.id == id => Some(*order),
                _ => None,
            })
            .expect("published")
    }

    fn status(&self, id: OrderId) -> OrderStatus {
        self.last(id).status
    }
}

fn fill(trade: &str, price: i64, qty: u64) -> ReportKind {
    ReportKind::Fill { trade: VenueTradeId::new(trade).expect("short id"), price: Price(price), qty: Qty(qty) }
}

#[test]
fn a_live_order_goes_out_as_a_request_and_lives_by_its_venue_reports() {
    let mut s = S::new();
    s.tick(10_000);
    let id = s.place(0, 10);
    // Out to the venue, not to the paper exchange: a trade through the limit fills nothing.
    assert!(matches!(s.requests()[..], [RequestKind::New { order: o, reference }]
        if o.id == id && o.intent.qty == Qty(10) && reference == Price(10_000)));
    s.tick(9_800);
    assert_eq!(s.status(id), OrderStatus::Pending);
    assert!(s.fb.contains(&Feedback::Accepted { order: id, intent: s.last(id).intent }));

    s.report(id.0, "2412020001", ReportKind::Accepted);
    assert_eq!(s.status(id), OrderStatus::Open);
    assert_eq!(s.stage.order(id).expect("o").venue_order.as_str(), "2412020001");

    // Partial fill, the same fill again (dropped), then the rest by the venue's id alone.
    s.report(id.0, "2412020001", fill("T1", 9_995, 4));
    s.report(id.0, "2412020001", fill("T1", 9_995, 4));
    assert_eq!((s.status(id), s.last(id).filled), (OrderStatus::PartiallyFilled, Qty(4)));
    s.report(0, "2412020001", fill("T2", 10_000, 6));
    assert_eq!(s.status(id), OrderStatus::Filled);
    let fills: Vec<_> =
        s.fb.iter()
            .filter_map(|f| if let Feedback::Filled { fill, done } = f { Some((fill.qty, *done)) } else { None })
            .collect();
    assert_eq!(fills, vec![(Qty(4), false), (Qty(6), true)]);
    assert_eq!(s.stage.portfolio().net(0, 0), 10, "fills are booked into the portfolio");

    // Late and duplicate news of a finished order changes nothing.
    s.report(id.0, "2412020001", ReportKind::Cancelled { reason: ReasonText::EMPTY });
    s.report(id.0, "2412020001", fill("T2", 10_000, 6));
    let c = s.stage.counters.venue;
    assert_eq!((c.requests, c.reports, c.duplicate, c.out_of_order, c.unknown), (1, 6, 2, 1, 0));
    assert_eq!(s.status(id), OrderStatus::Filled);
}

#[test]
fn refusals_cancels_modifies_and_expiry_come_from_the_venue() {
    let mut s = S::new();
    s.tick(10_000);
    // Refused by the venue's risk system, with its words kept for the console.
    let a = s.place(0, 5);
    let reason = ReasonText::lossy("RMS: margin exceeds");
    s.report(a.0, "V-A", ReportKind::Rejected { code: 17, reason });
    assert_eq!(s.status(a), OrderStatus::Rejected);
    assert_eq!(s.last(a).reject, Some(RejectReason::VenueRejected));
    assert!(s
        .fb
        .iter()
        .any(|f| matches!(f, Feedback::Closed { order, reason: CloseReason::VenueRejected, .. } if *order == a)));
    assert_eq!(s.notices(), 1);

    // A cancel is asked for, and happens when the venue says so.
    let b = s.place(0, 5);
    s.report(b.0, "V-B", ReportKind::Accepted);
    s.send(Msg::Command(Command::Cancel { account: AccountId(0), order: b }));
    assert!(
        matches!(s.requests().last(), Some(RequestKind::Cancel { order, venue_order }) if *order == b && venue_order.as_str() == "V-B")
    );
    assert_eq!(s.status(b), OrderStatus::Open);
    s.report(0, "V-B", ReportKind::Cancelled { reason: ReasonText::EMPTY });
    assert_eq!(s.status(b), OrderStatus::Cancelled);

    // A modify is asked for, and applied when confirmed.
    let c = s.place(0, 5);
    s.report(c.0, "V-C", ReportKind::Accepted);
    s.send(Msg::Command(Command::Modify {
        account: AccountId(0),
        order: c,
        qty: Qty(8),
        price: Price(9_990),
        trigger: Price::ZERO,
    }));
    assert!(matches!(s.requests().last(), Some(RequestKind::Modify { qty, .. }) if *qty == Qty(8)));
    assert_eq!(s.stage.order(c).expect("o").intent.qty, Qty(5));
    s.report(c.0, "V-C", ReportKind::Modified { qty: Qty(8), price: Price(9_990), trigger: Price::ZERO });
    let o = s.stage.order(c).expect("o");
    assert_eq!((o.intent.qty, o.intent.price), (Qty(8), Price(9_990)));
    assert!(s.fb.iter().any(
        |f| matches!(f, Feedback::Modified { order, new_remaining, .. } if *order == c && *new_remaining == Qty(8))
    ));

    // The venue expires it at the close.
    s.report(c.0, "V-C", ReportKind::Expired);
    assert_eq!(s.status(c), OrderStatus::Expired);

    // A fill before the acknowledgement is a fill all the same.
    let d = s.place(0, 5);
    s.report(d.0, "V-D", fill("T9", 10_000, 5));
    assert_eq!(s.status(d), OrderStatus::Filled);
}

#[test]
fn reports_for_orders_that_are_not_theirs_are_counted_and_ignored() {
    let mut s = S::new();
    s.tick(10_000);
    let live = s.place(0, 5);
    let paper = s.place(1, 5);
    s.report(999, "X", ReportKind::Accepted);
    s.report(0, "never-acked", fill("T1", 10_000, 5));
    // The right order id, but another account or another venue: not that venue's to report.
    s.report_as(AccountId(1), LIVE, live.0, "V", ReportKind::Accepted);
    s.report_as(AccountId(0), VenueId(3), live.0, "V", ReportKind::Accepted);
    // A paper account's order is not any venue's.
    s.report_as(AccountId(1), LIVE, paper.0, "V", ReportKind::Accepted);
    assert_eq!(s.stage.counters.venue.unknown, 5);
    assert_eq!(s.notices(), 5);
    assert_eq!(s.status(live), OrderStatus::Pending);
    assert_eq!(s.status(paper), OrderStatus::Open, "the paper order rests on the paper exchange");
}

#[test]
fn a_kill_switch_asks_the_venue_to_cancel_and_sweeps_paper_at_once() {
    let mut s = S::new();
    s.tick(10_000);
    let live = s.place(0, 5);
    s.report(live.0, "V1", ReportKind::Accepted);
    let paper = s.place(1, 5);
    s.send(Msg::Command(Command::KillSwitch { scope: KillScope::Global, engaged: true }));
    assert!(matches!(s.requests().last(), Some(RequestKind::Cancel { order, .. }) if *order == live));
    assert_eq!(s.status(live), OrderStatus::Open);
    assert_eq!(s.status(paper), OrderStatus::Cancelled);
}

/// A live session, with a venue that acknowledges and fills every new order at once, run on
/// an engine; then the inputs alone — ticks and the venue's reports, as a journal holds them —
/// replayed into a fresh engine give the same orders and fills.
#[test]
fn a_live_session_replays_exactly_from_its_inputs() {
    let venues = "[[venues]]\nname = \"sim\"\nkind = \"wire\"\naddress = \"127.0.0.1:9100\"\n";
    let config: Config = toml::from_str(&common::flipping("venue = \"sim\"", venues)).expect("config");
    let setup = config.validate().expect("valid");
    assert_eq!(setup.accounts[0].route, Route::Live(VenueId(0)));
    let mut engine = Engine::new(&setup, quanta::Clock::new(), 0);
    let mut journal: Vec<Input> = Vec::new();
    let mut out = Vec::new();
    let t0 = 1_795_146_300 * 1_000_000_000i64;
    let mut trade = 0;
    for k in 0..60i64 {
        let price = if k % 2 == 0 { 140_000 } else { 141_000 };
        let tick = Tick {
            instrument: InstrumentId(0),
            ts: Timestamp(t0 + k * 1_000_000_000),
            price: Price(price),
            qty: Qty(5),
        };
        let mut pending = vec![Input::Tick(tick)];
        while let Some(input) = pending.pop() {
            journal.push(input);
            let mut requests = Vec::new();
            engine.step(&IngressEvent { input, ingress_raw: 0, source: 0 }, &mut |e| {
                if let EgressEvent::VenueRequest(r) = e {
                    requests.push(r);
                }
                out.push(format!("{e:?}"));
            });
            // The venue: each new order acknowledged, then filled in full at the last price.
            for r in requests {
                if let RequestKind::New { order: o, .. } = r.kind {
                    trade += 1;
                    let vid = VenueOrderId::new(&format!("V{}", o.id.0)).expect("id");
                    let base = VenueReport {
                        venue: r.venue,
                        account: o.intent.account,
                        order: o.id,
                        venue_order: vid,
                        ts: tick.ts,
                        kind: ReportKind::Accepted,
                    };
                    let filled = ReportKind::Fill {
                        trade: VenueTradeId::new(&format!("T{trade}")).expect("id"),
                        price: tick.price,
                        qty: o.intent.qty,
                    };
                    pending.push(Input::VenueReport(VenueReport { kind: filled, ..base }));
                    pending.push(Input::VenueReport(base));
                }
            }
        }
    }
    let fills = out.iter().filter(|e| e.starts_with("Fill(")).count();
    assert!(fills >= 20, "the live account trades: {fills} fills");
    assert_eq!(engine.order.counters.venue.unknown + engine.order.counters.venue.duplicate, 0);

    let mut replayed = Engine::new(&setup, quanta::Clock::new(), 0);
    let mut again = Vec::new();
    for input in &journal {
        replayed
            .step(&IngressEvent { input: *input, ingress_raw: 0, source: 0 }, &mut |e| again.push(format!("{e:?}")));
    }
    assert_eq!(again, out);
}
