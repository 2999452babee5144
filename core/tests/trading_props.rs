//! Whole-engine properties over random sessions: random-walk ticks on each instrument's grid
//! inside its band, a few accounts with random limits, funds and demo strategies (EMA cross,
//! Bollinger reversion) built from a validated config, a random paper venue (slippage, touch
//! fills, ack and fill delays), and — in the second property — operator orders, cancels,
//! modifies, limit changes and kill switches interleaved with the ticks.
//!
//! Whatever happens, the books must balance: positions equal the signed sum of fills, no order
//! fills beyond its quantity, every approved order respected the limits in force when it was
//! approved, cash plus position value moves only by P&L and charges (to the paisa), charges
//! booked equal charges on fills, risk's projection of positions, P&L and working orders equals
//! the order stage's, and every order moves only along legal life-cycle steps.

use std::collections::HashMap;

use dalal_config::{Config, LimitsSection};
use dalal_core::engine::backtest::{self, Blotter};
use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::Engine;
use dalal_core::model::time::{NANOS_PER_MIN, NANOS_PER_SEC};
use dalal_core::model::RiskLimits;
use dalal_core::model::{
    AccountId, InstrumentId, OrderId, OrderIntent, OrderStatus, OrderType, Price, Product, Qty, RejectReason, Side,
    StrategyId, Timestamp, Validity,
};
use dalal_core::model::{Command, EgressEvent, IngressEvent, Input, KillScope, Tick};
use proptest::prelude::*;
use serde_json::{json, Value};

/// 2026-11-20 (a Friday) 09:15:00 IST.
const OPEN: i64 = 1_795_146_300 * NANOS_PER_SEC;
const MS: i64 = 1_000_000;
/// An operator's orders carry a strategy id no strategy has.
const OPERATOR: StrategyId = StrategyId(60_000);

/// Instrument 0: cash equity, ₹100.00, tick ₹0.05, lot 1, band ±20 %.
/// Instrument 1: a future, ₹500.00, tick ₹0.10, lot 25, band ±10 % (see [`setup`]).
const REF: [i64; 2] = [10_000, 50_000];
const TICK: [i64; 2] = [5, 10];
/// Strategy and operator order sizes are in these units (50 shares, one futures lot).
const UNIT: [u64; 2] = [50, 25];

#[derive(Clone, Debug)]
struct LimitsGen {
    max_order_qty: u64,
    max_order_value: u32,
    max_position_qty: u64,
    max_gross_exposure: u32,
    max_open_orders: u32,
    daily_loss_limit: u32,
    square_off_on_loss: bool,
    fat_finger_pct: f64,
    duplicate_window_ms: u32,
}

impl LimitsGen {
    fn json(&self) -> Value {
        json!({
            "max_order_qty": self.max_order_qty,
            "max_order_value": self.max_order_value as f64,
            "max_position_qty": self.max_position_qty,
            "max_gross_exposure": self.max_gross_exposure as f64,
            "max_open_orders": self.max_open_orders,
            "daily_loss_limit": self.daily_loss_limit as f64,
            "square_off_on_loss": self.square_off_on_loss,
            "fat_finger_pct": self.fat_finger_pct,
            "duplicate_window_ms": self.duplicate_window_ms,
        })
    }

    fn limits(&self) -> RiskLimits {
        let s: LimitsSection = serde_json::from_value(self.json()).expect("limits parse");
        s.to_limits().expect("limits validate")
    }
}

fn limits_gen() -> impl Strategy<Value = LimitsGen> {
    (
        prop_oneof![Just(0u64), 1u64..300],
        prop_oneof![Just(0u32), 5_000u32..200_000],
        prop_oneof![Just(0u64), 25u64..500],
        prop_oneof![Just(0u32), 50_000u32..500_000],
        prop_oneof![Just(0u32), 1u32..8],
        prop_oneof![Just(0u32), 50u32..3_000],
        any::<bool>(),
        prop_oneof![Just(0.0), Just(1.0), Just(5.0)],
        prop_oneof![Just(0u32), Just(500u32)],
    )
        .prop_map(|(q, v, p, g, o, l, s, f, d)| LimitsGen {
            max_order_qty: q,
            max_order_value: v,
            max_position_qty: p,
            max_gross_exposure: g,
            max_open_orders: o,
            daily_loss_limit: l,
            square_off_on_loss: s,
            fat_finger_pct: f,
            duplicate_window_ms: d,
        })
}

#[derive(Clone, Debug)]
struct StrategyGen {
    ema: bool,
    instrument: usize,
    lots: u64,
    allow_short: bool,
    fast: usize,
    slow_extra: usize,
    k: f64,
}

fn strategy_gen() -> impl Strategy<Value = StrategyGen> {
    (any::<bool>(), 0usize..2, 1u64..5, any::<bool>(), 2usize..5, 1usize..6, 0.5f64..2.5).prop_map(
        |(ema, instrument, lots, allow_short, fast, slow_extra, k)| StrategyGen {
            ema,
            instrument,
            lots,
            allow_short,
            fast,
            slow_extra,
            k,
        },
    )
}

#[derive(Clone, Debug)]
struct AccountGen {
    limits: LimitsGen,
    /// Thousands of rupees; 0 turns the funds check off.
    funds_k: u32,
    strategies: Vec<StrategyGen>,
}

fn account_gen() -> impl Strategy<Value = AccountGen> {
    (limits_gen(), prop_oneof![Just(0u32), 5u32..500], prop::collection::vec(strategy_gen(), 1..3))
        .prop_map(|(limits, funds_k, strategies)| AccountGen { limits, funds_k, strategies })
}

#[derive(Clone, Debug)]
struct PaperGen {
    slippage: u8,
    slippage_value: u32,
    touch: bool,
    ack_ms: u32,
    fill_ms: u32,
}

fn paper_gen() -> impl Strategy<Value = PaperGen> {
    (0u8..3, 1u32..15, any::<bool>(), prop_oneof![Just(0u32), 1u32..400], prop_oneof![Just(0u32), 1u32..400]).prop_map(
        |(slippage, slippage_value, touch, ack_ms, fill_ms)| PaperGen {
            slippage,
            slippage_value,
            touch,
            ack_ms,
            fill_ms,
        },
    )
}

/// One input: a trade, a timer, or an operator command.
#[derive(Clone, Debug)]
enum Op {
    Tick {
        instrument: usize,
        steps: i64,
        qty: u64,
        dt_ms: i64,
    },
    Timer {
        dt_ms: i64,
    },
    Place {
        account: u16,
        instrument: usize,
        buy: bool,
        lots: u64,
        offset: i64,
        kind: u8,
        cnc: bool,
        ioc: bool,
    },
    /// Of a working order (any order if none works); `foreign`: sent by another account.
    Cancel {
        foreign: bool,
        pick: usize,
    },
    Modify {
        foreign: bool,
        pick: usize,
        lots: u64,
        offset: i64,
    },
    SetLimits {
        account: u16,
        limits: LimitsGen,
    },
    Kill {
        account: u16,
        engaged: bool,
    },
}

fn tick_op() -> impl Strategy<Value = Op> {
    (0usize..2, -3i64..=3, 1u64..400, 0i64..1_500).prop_map(|(instrument, steps, qty, dt_ms)| Op::Tick {
        instrument,
        steps,
        qty,
        dt_ms,
    })
}

fn op_gen(accounts: u16) -> impl Strategy<Value = Op> {
    prop_oneof![
        40 => tick_op(),
        2 => (0i64..5_000).prop_map(|dt_ms| Op::Timer { dt_ms }),
        4 => (0..accounts, 0usize..2, any::<bool>(), 1u64..6, offset(), 0u8..4, any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(account, instrument, buy, lots, offset, kind, cnc, ioc)| Op::Place {
                account, instrument, buy, lots, offset, kind, cnc, ioc
            }),
        2 => (prop::bool::weighted(0.2), any::<usize>()).prop_map(|(foreign, pick)| Op::Cancel { foreign, pick }),
        3 => (prop::bool::weighted(0.2), any::<usize>(), 1u64..8, offset())
            .prop_map(|(foreign, pick, lots, offset)| Op::Modify { foreign, pick, lots, offset }),
        1 => (0..accounts, limits_gen()).prop_map(|(account, limits)| Op::SetLimits { account, limits }),
        1 => (0..accounts, prop::bool::weighted(0.3)).prop_map(|(account, engaged)| Op::Kill { account, engaged }),
    ]
}

/// Price offsets in ticks: mostly near the market, sometimes far (fat finger, band).
fn offset() -> impl Strategy<Value = i64> {
    prop_oneof![8 => -6i64..=6, 1 => -400i64..=400]
}

#[derive(Clone, Debug)]
struct Scenario {
    accounts: Vec<AccountGen>,
    paper: PaperGen,
    /// Minutes after the open the session starts: 10:15, 15:18 (through the 15:20 MIS
    /// square-off) or 15:28 (through the 15:30 close).
    start_min: i64,
    mis_square_off: bool,
    ops: Vec<Op>,
}

fn scenario(with_commands: bool) -> impl Strategy<Value = Scenario> {
    scenario_of(with_commands, 1..4)
}

fn scenario_of(with_commands: bool, accounts: std::ops::Range<usize>) -> impl Strategy<Value = Scenario> {
    let start = prop_oneof![2 => Just(60i64), 1 => Just(363i64), 1 => Just(373i64)];
    (accounts, paper_gen(), start, any::<bool>()).prop_flat_map(move |(n, paper, start_min, mis_square_off)| {
        let ops = if with_commands {
            prop::collection::vec(op_gen(n as u16), 150..500).boxed()
        } else {
            prop::collection::vec(tick_op(), 150..600).boxed()
        };
        (prop::collection::vec(account_gen(), n), ops).prop_map(move |(accounts, ops)| Scenario {
            accounts,
            paper: paper.clone(),
            start_min,
            mis_square_off,
            ops,
        })
    })
}

fn setup(s: &Scenario) -> EngineSetup {
    let symbols = ["EQ", "FUT"];
    let accounts: Vec<Value> = s
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let strategies: Vec<Value> = a
                .strategies
                .iter()
                .map(|g| {
                    let mut v = json!({
                        "instrument": symbols[g.instrument],
                        "timeframe": "1s",
                        "qty": g.lots * UNIT[g.instrument],
                        "allow_short": g.allow_short,
                    });
                    if g.ema {
                        v["kind"] = json!("ema_cross");
                        v["fast"] = json!(g.fast);
                        v["slow"] = json!(g.fast + g.slow_extra);
                    } else {
                        v["kind"] = json!("bollinger");
                        v["period"] = json!(g.fast + g.slow_extra);
                        v["k"] = json!(g.k);
                    }
                    v
                })
                .collect();
            json!({
                "name": format!("trader{i}"),
                "funds": a.funds_k as f64 * 1_000.0,
                "limits": a.limits.json(),
                "strategies": strategies,
            })
        })
        .collect();
    let p = &s.paper;
    let slippage = match p.slippage {
        0 => json!({ "kind": "none" }),
        1 => json!({ "kind": "ticks", "value": p.slippage_value % 4 }),
        _ => json!({ "kind": "bps", "value": p.slippage_value }),
    };
    let config: Config = serde_json::from_value(json!({
        "engine": { "timeframes": [], "latency_sample_every": 0 },
        "risk": { "enforce_session": true, "mis_square_off": if s.mis_square_off { "15:20" } else { "" } },
        "paper": {
            "slippage": slippage,
            "limit_fill": if p.touch { "touch" } else { "trade-through" },
            "ack_delay_ms": p.ack_ms as f64,
            "fill_delay_ms": p.fill_ms as f64,
        },
        "instruments": [
            { "symbol": "EQ", "segment": "NSE_EQ", "tick_size": 0.05, "lot_size": 1, "ref_price": 100.0, "band_pct": 20.0 },
            { "symbol": "FUT", "segment": "NSE_FUT", "tick_size": 0.10, "lot_size": 25, "ref_price": 500.0, "band_pct": 10.0 },
        ],
        "accounts": accounts,
    }))
    .expect("config parses");
    config.validate().expect("generated config validates")
}

/// What an order looked like when risk last approved it (creation or modify), with the
/// account's limits and the instrument's last trade as risk saw them then.
#[derive(Clone, Copy, Debug)]
struct Approval {
    intent: OrderIntent,
    limits: RiskLimits,
    last: Price,
}

struct Run {
    engine: Engine,
    blotter: Blotter,
    egress: Vec<EgressEvent>,
    approvals: HashMap<OrderId, Approval>,
    ticks: Vec<Tick>,
}

/// Runs the scenario one ingress event at a time (exactly what `backtest::run` does with
/// ticks), checking the position limit after every event.
fn run(setup: &EngineSetup, s: &Scenario) -> Result<Run, TestCaseError> {
    run_marking(setup, s, false)
}

/// [`run`], marking every account on every trade when `mark_every` (the reference).
fn run_marking(setup: &EngineSetup, s: &Scenario, mark_every: bool) -> Result<Run, TestCaseError> {
    let mut engine = Engine::new(setup, quanta::Clock::new(), 0);
    engine.set_mark_every(mark_every);
    let mut blotter = Blotter::default();
    let mut egress = Vec::new();
    engine.apply_initial(setup, &mut |e| egress.push(e));
    let mut now = OPEN + s.start_min * NANOS_PER_MIN;
    let mut price = REF;
    let mut last = [Price::ZERO; 2];
    let mut limits: Vec<RiskLimits> = setup.accounts.iter().map(|a| a.limits).collect();
    // Per account, the largest position limit ever in force (None: some time without one).
    let mut position_cap: Vec<Option<u64>> =
        limits.iter().map(|l| (l.max_position_qty.0 > 0).then_some(l.max_position_qty.0)).collect();
    // (Account, instrument) pairs a square-off has traded in. Square-offs are exempt from limits
    // and flatten one product at a time, as brokers do, while the position limit nets products:
    // flattening MIS +25 next to NRML −100 takes the net from −75 to −100, and flattening MIS
    // +50 under a working CNC sell of 150 (approved at a worst case of 100) lets that sell
    // take the net to −150. The limit is not checked there after a square-off.
    let mut squared: std::collections::HashSet<(usize, usize)> = Default::default();
    let mut approvals: HashMap<OrderId, Approval> = HashMap::new();
    let mut ticks = Vec::new();
    for op in &s.ops {
        let input = match *op {
            Op::Tick { instrument: i, steps, qty, dt_ms } => {
                now += dt_ms * MS;
                let band = setup.instruments[i].band;
                price[i] = (price[i] + steps * TICK[i]).clamp(band.lower.0, band.upper.0);
                let t = Tick {
                    instrument: InstrumentId(i as u32),
                    ts: Timestamp(now),
                    price: Price(price[i]),
                    qty: Qty(qty),
                };
                ticks.push(t);
                Input::Tick(t)
            }
            Op::Timer { dt_ms } => {
                now += dt_ms * MS;
                Input::Timer(Timestamp(now))
            }
            Op::Place { account, instrument: i, buy, lots, offset, kind, cnc, ioc } => {
                let side = if buy { Side::Buy } else { Side::Sell };
                let band = setup.instruments[i].band;
                let px = |k: i64| Price((price[i] + k * TICK[i]).clamp(band.lower.0, band.upper.0));
                let qty = Qty(lots * UNIT[i]);
                let mut intent = OrderIntent::market(AccountId(account), OPERATOR, InstrumentId(i as u32), side, qty);
                // Stops sit on the far side of the market from where they would trigger.
                let away = side.sign() * (offset.abs() + 1);
                match kind {
                    0 => intent = OrderIntent { order_type: OrderType::Limit, price: px(offset), ..intent },
                    1 => {}
                    2 => intent = OrderIntent { order_type: OrderType::StopMarket, trigger: px(away), ..intent },
                    _ => {
                        intent = OrderIntent {
                            order_type: OrderType::StopLimit,
                            trigger: px(away),
                            price: px(away + side.sign()),
                            ..intent
                        }
                    }
                }
                if cnc {
                    intent.product = if i == 0 { Product::Cnc } else { Product::Nrml };
                }
                if ioc {
                    intent.validity = Validity::Ioc;
                }
                Input::Command(Command::Place { intent })
            }
            Op::Cancel { foreign, pick } => {
                let (account, order) = target(&blotter, setup, foreign, pick);
                Input::Command(Command::Cancel { account, order })
            }
            Op::Modify { foreign, pick, lots, offset } => {
                let (account, order) = target(&blotter, setup, foreign, pick);
                let (qty, px) = match engine.order.order(order) {
                    Some(o) => {
                        let i = o.intent.instrument.index();
                        let band = setup.instruments[i].band;
                        let p = if o.intent.order_type.has_limit() {
                            (o.intent.price.0 + offset * TICK[i]).clamp(band.lower.0, band.upper.0)
                        } else {
                            0
                        };
                        (lots * UNIT[i], p)
                    }
                    None => (lots, 0),
                };
                Input::Command(Command::Modify { account, order, qty: Qty(qty), price: Price(px), trigger: Price(0) })
            }
            Op::SetLimits { account, limits: ref l } => {
                let new = l.limits();
                let a = account as usize;
                limits[a] = new;
                position_cap[a] = match (position_cap[a], new.max_position_qty.0) {
                    (Some(c), n) if n > 0 => Some(c.max(n)),
                    _ => None,
                };
                Input::Command(Command::SetLimits { account: AccountId(account), limits: new })
            }
            Op::Kill { account, engaged } => {
                Input::Command(Command::KillSwitch { scope: KillScope::Account(AccountId(account)), engaged })
            }
        };
        let before = last;
        // A modify of an order the order stage says works for that account must not be
        // "unknown" to risk: both stages follow the same orders.
        let modifies_working = match input {
            Input::Command(Command::Modify { account, order, .. }) => {
                engine.order.order(order).is_some_and(|o| o.intent.account == account && !o.status.is_terminal())
            }
            _ => false,
        };
        let unknown = engine.risk.counters.rejected[RejectReason::UnknownOrder.index()];
        let mut out = Vec::new();
        engine.step(&IngressEvent { input, ..Default::default() }, &mut |e| out.push(e));
        if modifies_working {
            prop_assert_eq!(
                engine.risk.counters.rejected[RejectReason::UnknownOrder.index()],
                unknown,
                "risk lost a working order: {:?}",
                input
            );
        }
        for e in &out {
            blotter.on_event(e);
            if let EgressEvent::Fill(f) = e {
                if f.strategy == StrategyId::SYSTEM {
                    squared.insert((f.account.index(), f.instrument.index()));
                }
            }
            if let EgressEvent::Order { order, .. } = e {
                let changed = approvals.get(&order.id).is_none_or(|a| a.intent != order.intent);
                // Risk approved it if the order stage created it working (not refused).
                let approved = approvals.contains_key(&order.id) || order.status == OrderStatus::Pending;
                if changed && approved {
                    let i = order.intent.instrument.index();
                    let a = order.intent.account.index();
                    approvals.insert(order.id, Approval { intent: order.intent, limits: limits[a], last: before[i] });
                }
            }
        }
        egress.extend(out);
        if let Input::Tick(t) = input {
            last[t.instrument.index()] = t.price;
        }
        let pf = engine.order.portfolio();
        for (a, cap) in position_cap.iter().enumerate() {
            if let Some(cap) = cap {
                for i in 0..2 {
                    let net = pf.net(a, i).unsigned_abs();
                    prop_assert!(
                        squared.contains(&(a, i)) || net <= *cap,
                        "account {a} instrument {i}: position {net} over the limit {cap}"
                    );
                }
            }
        }
    }
    Ok(Run { engine, blotter, egress, approvals, ticks })
}

/// An order for a cancel or modify to aim at: a working one if any (else any order), sent by
/// its own account or, if `foreign`, by another.
fn target(blotter: &Blotter, setup: &EngineSetup, foreign: bool, pick: usize) -> (AccountId, OrderId) {
    let orders = &blotter.orders;
    let working: Vec<_> = orders.iter().filter(|o| !o.status.is_terminal()).collect();
    let o =
        if working.is_empty() { orders.get(pick % orders.len().max(1)) } else { Some(working[pick % working.len()]) };
    match o {
        Some(o) => {
            let n = setup.accounts.len() as u16;
            let own = o.intent.account.0;
            (AccountId(if foreign { (own + 1) % n } else { own }), o.id)
        }
        None => (AccountId(0), OrderId(1)),
    }
}

/// What risk values an order at, as `RiskStage::check` does.
fn reference(o: &OrderIntent, last: Price) -> Price {
    match o.order_type {
        OrderType::Limit | OrderType::StopLimit => o.price,
        OrderType::StopMarket if last.is_positive() => last.max(o.trigger),
        OrderType::StopMarket => o.trigger,
        OrderType::Market => last,
    }
}

fn check(setup: &EngineSetup, r: &Run) -> Result<(), TestCaseError> {
    let e = &r.engine;
    let b = &r.blotter;
    let pf = e.order.portfolio();
    let n_accounts = setup.accounts.len();

    // The blotter (built from egress) and the order stage agree: every order still working is
    // held as published, and every other one has finished.
    for o in &b.orders {
        match e.order.order(o.id) {
            Some(w) => prop_assert_eq!(w, o),
            None => prop_assert!(o.status.is_terminal(), "{:?} left the stage unfinished", o),
        }
    }
    prop_assert_eq!(e.order.working_count(), b.orders.iter().filter(|o| !o.status.is_terminal()).count());
    prop_assert_eq!(e.order.counters.illegal_transitions, 0);

    // Positions are the signed sum of fills, per account, instrument and product.
    let mut net: HashMap<(usize, usize, usize), i64> = HashMap::new();
    let mut per_order: HashMap<OrderId, (u64, i128)> = HashMap::new();
    for f in &b.fills {
        *net.entry((f.account.index(), f.instrument.index(), f.product.index())).or_default() +=
            f.side.sign() * f.qty.0 as i64;
        let x = per_order.entry(f.order).or_default();
        x.0 += f.qty.0;
        x.1 += f.qty.0 as i128 * f.price.0 as i128;
        let o = b.order(f.order).expect("a fill of a known order");
        prop_assert_eq!(
            (f.account, f.instrument, f.side, f.product),
            (o.intent.account, o.intent.instrument, o.intent.side, o.intent.product)
        );
        if !o.intent.amo {
            prop_assert!(f.ts.0 >= o.created.0 + setup.paper.ack_delay_ns + setup.paper.fill_delay_ns, "{f:?} {o:?}");
        }
    }
    for a in 0..n_accounts {
        for i in 0..2 {
            let mut total = 0;
            for p in Product::ALL {
                let want = net.get(&(a, i, p.index())).copied().unwrap_or(0);
                prop_assert_eq!(pf.get(a, i, p).map(|x| x.net.0), Some(want), "account {} instrument {} {}", a, i, p);
                total += want;
            }
            prop_assert_eq!(pf.net(a, i), total);
        }
    }

    // No order fills beyond its quantity; its fills add up to what it says it filled.
    for o in &b.orders {
        prop_assert!(o.filled <= o.intent.qty, "{o:?}");
        let (q, v) = per_order.get(&o.id).copied().unwrap_or_default();
        prop_assert_eq!(q, o.filled.0, "fills of {:?}", o.id);
        prop_assert_eq!(v, o.filled_value, "fill value of {:?}", o.id);
    }

    // Every approved order (or modification) respected the limits in force when risk passed it.
    for (id, ap) in &r.approvals {
        let o = ap.intent;
        if o.strategy == StrategyId::SYSTEM {
            continue; // square-offs only reduce risk and are exempt by design
        }
        let spec = &setup.instruments[o.instrument.index()];
        prop_assert!(o.qty.0 > 0 && o.qty.is_lot_multiple(spec.lot_size), "{id:?} {o:?}");
        let l = ap.limits;
        if l.max_order_qty.0 > 0 {
            prop_assert!(o.qty <= l.max_order_qty, "{id:?} {o:?} over {:?}", l.max_order_qty);
        }
        let value = o.qty.notional(reference(&o, ap.last));
        if l.max_order_value.0 > 0 {
            prop_assert!(value <= l.max_order_value, "{id:?} {o:?} worth {value:?} over {:?}", l.max_order_value);
        }
        for p in [o.order_type.has_limit().then_some(o.price), o.order_type.has_trigger().then_some(o.trigger)]
            .into_iter()
            .flatten()
        {
            prop_assert!(p.on_grid(spec.tick_size) && spec.band.contains(p), "{id:?} {o:?}");
        }
    }

    // Cash plus position value moves only by P&L and charges, to the paisa; charges booked by
    // the order stage are the charges on the fills; risk's projection agrees with the books.
    let mut all_charges = 0i64;
    for a in 0..n_accounts {
        let fills = b.fills.iter().filter(|f| f.account.index() == a);
        let cash: i128 = fills.clone().map(|f| -(f.side.sign() as i128) * f.qty.0 as i128 * f.price.0 as i128).sum();
        let fill_charges: i64 = fills.map(|f| f.charges.0).sum();
        let mut value = 0i128;
        for i in 0..2 {
            for p in Product::ALL {
                let pos = pf.get(a, i, p).unwrap_or_default();
                value += pos.net.0 as i128 * pos.last.0 as i128;
            }
        }
        let pnl = pf.account_pnl(a);
        let charges = e.order.charges(a).total().0;
        prop_assert_eq!(fill_charges, charges, "account {} charges", a);
        prop_assert_eq!(
            cash - fill_charges as i128 + value,
            pnl.realized.0 as i128 + pnl.unrealized.0 as i128 - charges as i128,
            "account {}: cash + positions vs P&L",
            a
        );
        prop_assert_eq!(e.risk.net_pnl(a), Some(pnl.realized.0 + pnl.unrealized.0 - charges), "risk's P&L of {}", a);
        for i in 0..2 {
            let x = e.risk.exposure(a, i).expect("exposure");
            prop_assert_eq!(x.position.net.0, pf.net(a, i), "risk's position of {} in {}", a, i);
            let working = |side: Side| -> u64 {
                b.orders
                    .iter()
                    .filter(|o| {
                        o.intent.account.index() == a
                            && o.intent.instrument.index() == i
                            && o.intent.side == side
                            && !o.status.is_terminal()
                    })
                    .map(|o| o.remaining().0)
                    .sum()
            };
            prop_assert_eq!(
                (x.working_buy, x.working_sell),
                (working(Side::Buy), working(Side::Sell)),
                "risk's working orders of {} in {}",
                a,
                i
            );
        }
        all_charges += charges;
    }
    prop_assert_eq!(all_charges, b.fills.iter().map(|f| f.charges.0).sum::<i64>());

    // Every published change of an order is a legal step of its life cycle.
    let mut status: HashMap<OrderId, OrderStatus> = HashMap::new();
    for ev in &r.egress {
        if let EgressEvent::Order { order, .. } = ev {
            if let Some(prev) = status.insert(order.id, order.status) {
                prop_assert!(
                    (prev == order.status && !prev.is_terminal()) || prev.can_become(order.status),
                    "{:?}: {:?} -> {:?}",
                    order.id,
                    prev,
                    order.status
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The demo strategies alone, on random ticks: `backtest::run` and an event-by-event run
    /// give the same orders and fills, and the books balance.
    #[test]
    fn strategies_on_random_ticks_keep_the_books(s in scenario(false)) {
        let setup = setup(&s);
        let r = run(&setup, &s)?;
        let (_, bt) = backtest::run(&setup, &r.ticks, 0);
        prop_assert_eq!(&bt.orders, &r.blotter.orders);
        prop_assert_eq!(&bt.fills, &r.blotter.fills);
        check(&setup, &r)?;
    }

    /// Strategies plus operators placing, cancelling and modifying orders, changing limits
    /// and flipping kill switches.
    #[test]
    fn operators_and_strategies_keep_the_books(s in scenario(true)) {
        let setup = setup(&s);
        let r = run(&setup, &s)?;
        check(&setup, &r)?;
    }

    /// Marking only the accounts that hold a trade's instrument decides exactly as marking
    /// every account on every trade: the same egress, event for event (orders, refusals,
    /// fills, kill switches from loss limits, square-offs), and the same P&L at the end, for
    /// up to a dozen accounts under random limits with operators trading beside strategies.
    #[test]
    fn marking_holders_only_decides_as_marking_every_account(s in scenario_of(true, 4..13)) {
        let setup = setup(&s);
        let every = run_marking(&setup, &s, true)?;
        let holders = run_marking(&setup, &s, false)?;
        prop_assert_eq!(every.egress.len(), holders.egress.len());
        for (k, (a, b)) in every.egress.iter().zip(&holders.egress).enumerate() {
            // (Egress events have no equality of their own; their printed form is exact.)
            prop_assert_eq!(format!("{a:?}"), format!("{b:?}"), "egress event {}", k);
        }
        for a in 0..setup.accounts.len() {
            prop_assert_eq!(every.engine.risk.net_pnl(a), holders.engine.risk.net_pnl(a));
            prop_assert_eq!(
                every.engine.order.portfolio().account_pnl(a),
                holders.engine.order.portfolio().account_pnl(a)
            );
        }
        check(&setup, &holders)?;
    }
}
