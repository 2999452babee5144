//! Risk's loss-limit watch against the reference: one `RiskStage` marking every account on
//! every trade, one watching triggers (see `stages::loss_watch`), fed the same fills, charges,
//! limit changes and trades over many accounts holding several instruments each. Every
//! message either sends (kill switches, square-off orders) and every account's P&L must be
//! the same after every event, and loss limits must actually trip in the generated runs.

use dalal_core::model::time::NANOS_PER_MIN;
use dalal_core::model::{
    AccountId, Command, Feedback, Fill, FillId, InstrumentId, InstrumentSpec, KillScope, Money, Msg, OrderId, Price,
    PriceBand, Product, Qty, RiskLimits, Segment, Session, Side, Stamp, StrategyId, Tick, Timestamp,
};
use dalal_core::stages::charges::Ppb;
use dalal_core::stages::risk::{AccountRisk, MarginRules, RiskStage, SessionRules};
use proptest::prelude::*;

mod common;
use common::T;

#[derive(Clone, Debug)]
enum Step {
    /// A trade: instrument, price move in paise.
    Trade(usize, i64),
    /// A fill into an account: account, instrument, product, buy?, quantity, charges.
    Fill(usize, usize, usize, bool, u64, i64),
    /// A new daily loss limit for an account (paise), with or without square-off.
    Limit(usize, i64, bool),
    /// An operator releases an account's kill switch.
    Release(usize),
}

fn step(accounts: usize, instruments: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..instruments, -60i64..=60).prop_map(|(i, d)| Step::Trade(i, d)),
        3 => (0..accounts, 0..instruments, 0..3usize, any::<bool>(), 1u64..40, 0i64..300)
            .prop_map(|(a, i, p, b, q, c)| Step::Fill(a, i, p, b, q, c)),
        1 => (0..accounts, 500i64..20_000, any::<bool>()).prop_map(|(a, l, s)| Step::Limit(a, l, s)),
        1 => (0..accounts).prop_map(Step::Release),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, usize, Vec<i64>, Vec<Step>)> {
    (2usize..12, 1usize..6).prop_flat_map(|(a, i)| {
        (Just(a), Just(i), prop::collection::vec(500i64..20_000, a), prop::collection::vec(step(a, i), 1..400))
    })
}

fn stage(instruments: usize, limits: &[i64], mark_every: bool) -> RiskStage {
    let specs = (0..instruments)
        .map(|i| InstrumentSpec {
            id: InstrumentId(i as u32),
            symbol: format!("S{i}"),
            segment: Segment::Equity,
            tick_size: Price(1),
            lot_size: Qty(1),
            band: PriceBand::OPEN,
        })
        .collect();
    let accounts = limits
        .iter()
        .map(|&l| AccountRisk {
            limits: RiskLimits { daily_loss_limit: Money(l), ..RiskLimits::NONE },
            funds: Money(0),
        })
        .collect();
    let session =
        SessionRules { session: Session::NSE_NORMAL, enforce: false, mis_square_off: None, after_hours_amo: false };
    let mut r = RiskStage::new(specs, accounts, MarginRules { mis: Ppb(0), nrml: vec![Ppb(0); instruments] }, session);
    r.set_mark_every(mark_every);
    r
}

/// Runs the steps through both stages; the number of loss-limit trips.
fn compare(instruments: usize, limits: &[i64], steps: &[Step]) -> Result<u64, TestCaseError> {
    let mut every = stage(instruments, limits, true);
    let mut watch = stage(instruments, limits, false);
    let mut prices = vec![10_000i64; instruments];
    let mut traded = vec![false; instruments];
    let mut fills = 0u64;
    for (k, s) in steps.iter().enumerate() {
        let ts = Timestamp(T + k as i64 * NANOS_PER_MIN / 60);
        let msg = match *s {
            Step::Trade(i, d) => {
                // The first trade of an instrument is at the reference price: positions opened
                // before it stand at their fill prices until then.
                if traded[i] {
                    prices[i] = (prices[i] + d).max(1);
                }
                traded[i] = true;
                let tick = Tick { instrument: InstrumentId(i as u32), ts, price: Price(prices[i]), qty: Qty(1) };
                Msg::Tick { tick, stamp: Stamp::NONE }
            }
            Step::Fill(a, i, p, buy, q, charges) => {
                fills += 1;
                let fill = Fill {
                    id: FillId(fills),
                    order: OrderId(1_000_000 + fills),
                    account: AccountId(a as u16),
                    strategy: StrategyId(0),
                    instrument: InstrumentId(i as u32),
                    side: if buy { Side::Buy } else { Side::Sell },
                    qty: Qty(q),
                    price: Price(prices[i] + (fills as i64 % 7) - 3),
                    ts,
                    product: Product::ALL[p],
                    charges: Money(charges),
                };
                Msg::Feedback(Feedback::Filled { fill, done: true })
            }
            Step::Limit(a, l, square_off_on_loss) => Msg::Command(Command::SetLimits {
                account: AccountId(a as u16),
                limits: RiskLimits { daily_loss_limit: Money(l), square_off_on_loss, ..RiskLimits::NONE },
            }),
            Step::Release(a) => {
                Msg::Command(Command::KillSwitch { scope: KillScope::Account(AccountId(a as u16)), engaged: false })
            }
        };
        let (mut want, mut got) = (Vec::new(), Vec::new());
        every.on_msg(&msg, &mut |m| want.push(format!("{m:?}")));
        watch.on_msg(&msg, &mut |m| got.push(format!("{m:?}")));
        prop_assert_eq!(&want, &got, "step {}: {:?}", k, s);
        for a in 0..limits.len() {
            prop_assert_eq!(every.net_pnl(a), watch.net_pnl(a), "step {}: P&L of account {}", k, a);
        }
    }
    prop_assert_eq!(every.counters, watch.counters);
    Ok(watch.counters.loss_limit_trips)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn the_watch_trips_loss_limits_exactly_when_marking_every_account_does((_, n, limits, steps) in scenario()) {
        compare(n, &limits, &steps)?;
    }
}

/// The generated runs do reach the limits: a check that never trips proves nothing.
#[test]
fn generated_runs_trip_loss_limits_across_several_instruments() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};
    let mut runner =
        TestRunner::new(Config { rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha, ..Config::default() });
    let (mut trips, mut multi) = (0, 0);
    for _ in 0..64 {
        let (_, n, limits, steps) = scenario().new_tree(&mut runner).expect("a scenario").current();
        let t = compare(n, &limits, &steps).expect("the watch decides as the reference");
        trips += t;
        if n > 1 {
            multi += t;
        }
    }
    assert!(trips > 50 && multi > 30, "{trips} trips, {multi} with several instruments");
}

/// Two positions each inside the headroom, together past it: the trade that takes the sum
/// over trips the limit at once, as marking every account would.
#[test]
fn losses_in_two_instruments_add_up_to_a_trip() {
    let mut r = stage(2, &[10_000], false);
    let mut out = Vec::new();
    let tick = |i: u32, p: i64, k: i64| Msg::Tick {
        tick: Tick { instrument: InstrumentId(i), ts: Timestamp(T + k), price: Price(p), qty: Qty(1) },
        stamp: Stamp::NONE,
    };
    r.on_msg(&tick(0, 10_000, 0), &mut |m| out.push(m));
    r.on_msg(&tick(1, 10_000, 1), &mut |m| out.push(m));
    for (k, i) in [0u32, 1].into_iter().enumerate() {
        let fill = Fill {
            id: FillId(k as u64 + 1),
            order: OrderId(k as u64 + 1),
            account: AccountId(0),
            strategy: StrategyId(0),
            instrument: InstrumentId(i),
            side: Side::Buy,
            qty: Qty(100),
            price: Price(10_000),
            ts: Timestamp(T + 2),
            product: Product::Cnc,
            charges: Money(0),
        };
        r.on_msg(&Msg::Feedback(Feedback::Filled { fill, done: true }), &mut |m| out.push(m));
    }
    // ₹0.60 × 100 lost in the first: −₹60, inside the ₹100 limit.
    r.on_msg(&tick(0, 9_940, 3), &mut |m| out.push(m));
    assert_eq!(r.counters.loss_limit_trips, 0, "−₹60 alone is inside the limit");
    // As much in the second: −₹120 in all, past it.
    out.clear();
    r.on_msg(&tick(1, 9_940, 4), &mut |m| out.push(m));
    assert_eq!(r.counters.loss_limit_trips, 1, "{out:?}");
    assert!(out.iter().any(|m| matches!(m, Msg::Command(Command::KillSwitch { engaged: true, .. }))), "{out:?}");
    assert_eq!(r.net_pnl(0), Some(-12_000));
}
