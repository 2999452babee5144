//! The lab's `scale/accounts=N` rows: what a tick costs as one engine carries more accounts.
//!
//! Every point runs the default config's 50 NIFTY instruments with N accounts, each trading S
//! EMA(9/21) crossovers on 1-minute bars (strategy j of account a on instrument
//! (a·S + j) mod 50), over one synthetic session generated as `dalal gen` does. Three runs of
//! the same ticks per point:
//! - `scale/accounts=N`: the engine as it runs, risk watching loss limits by trigger prices
//!   (a trade visits holders only when it reaches one) and the portfolio marking lazily;
//! - `…/mark_every`: the same with [`Engine::set_mark_every`], every account marked on every
//!   trade (the reference; decisions are identical);
//! - `…/no_orders`: the same with every account's kill switch engaged, so what remains is
//!   market data, bars, strategies and marking.
//!
//! Each run replays the start of the session untimed, until every strategy has crossed at
//! least once and holds a position (see [`warm_up`]), then times the rest. The kill
//! switches of `no_orders` go on at that cut rather than from the start: positions opened in
//! the warm-up stay open, so the accounts holding each instrument (what marking visits) are
//! the ones the trading run has (it only flips them long and short), and every strategy still
//! computes its indicators and decides; its intents stop at risk's first check. What is left
//! of order handling there is the refusal itself: an order id, a rejected-order record on
//! egress and the strategy told, once per refused intent (the row's `refused`; about half the
//! trading run's orders, since a frozen position needs no order on every other cross).

use std::time::Instant;

use dalal_config::{AccountSection, Config, ConfigError, LimitsSection, StrategySection};
use dalal_core::engine::setup::EngineSetup;
use dalal_core::engine::Engine;
use dalal_core::metrics::LatencyHistogram;
use dalal_core::model::{Command, Date, EgressEvent, IngressEvent, Input, KillScope, Product, Tick, Timestamp};
use serde::Serialize;

use crate::lab::LabRow;
use crate::median;

/// The default config, whose 50 NIFTY instruments every point trades.
const DEFAULT_CONFIG: &str = include_str!("../../config/default.toml");

/// The accounts of the group's points.
pub const ACCOUNTS: [usize; 5] = [1, 10, 50, 200, 1000];

/// Strategies per account at `accounts` accounts: 1 alone, 4 up to 50 accounts, 5 beyond.
pub fn strategies_per_account(accounts: usize) -> usize {
    match accounts {
        0 | 1 => 1,
        2..=50 => 4,
        _ => 5,
    }
}

/// The points for `accounts`, as (accounts, strategies per account): one account first (the
/// point every ratio is taken against), then the others ascending, zeros and repeats dropped.
pub fn points(accounts: &[usize]) -> Vec<(usize, usize)> {
    let mut a: Vec<usize> = accounts.iter().copied().filter(|&n| n > 1).collect();
    a.push(1);
    a.sort_unstable();
    a.dedup();
    a.into_iter().map(|n| (n, strategies_per_account(n))).collect()
}

/// `dalal gen`'s default seed and trading day.
pub const SEED: u64 = 42;
pub const DATE: &str = "2026-11-20";

/// Units per strategy position.
const QTY: u64 = 10;

/// How a run treats marking and orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Risk watches loss limits by trigger prices; the portfolio marks lazily.
    Holders,
    /// Every account marked on every trade ([`Engine::set_mark_every`]).
    MarkEvery,
    /// [`Mode::Holders`] with every account's kill switch engaged after the warm-up.
    NoOrders,
}

impl Mode {
    /// The suffix of the row's name.
    pub fn suffix(self) -> &'static str {
        match self {
            Mode::Holders => "",
            Mode::MarkEvery => "/mark_every",
            Mode::NoOrders => "/no_orders",
        }
    }
}

/// The config of one point: the default config's instruments and engine settings with
/// `accounts` accounts of `per_account` strategies each, validated like any config file.
/// Bars are built only for the strategies (no extra timeframes), and the MIS square-off is
/// off so positions stay open to the end of the session, as the runs assume.
pub fn config(accounts: usize, per_account: usize) -> Result<EngineSetup, ConfigError> {
    let mut cfg: Config = toml::from_str(DEFAULT_CONFIG)
        .map_err(|e| ConfigError { key: "config/default.toml".into(), message: e.to_string() })?;
    cfg.engine.timeframes.clear();
    cfg.engine.latency_sample_every = 0;
    cfg.risk.mis_square_off.clear();
    let n = cfg.instruments.len().max(1);
    let symbols: Vec<String> = cfg.instruments.iter().map(|i| i.symbol.clone()).collect();
    let mut params = toml::Table::new();
    params.insert("fast".into(), toml::Value::Integer(9));
    params.insert("slow".into(), toml::Value::Integer(21));
    cfg.accounts = (0..accounts)
        .map(|a| AccountSection {
            name: format!("acct{a:04}"),
            kill_switch: false,
            funds: 100_000_000.0,
            // Generous: no order a strategy here makes comes near them, but every check runs,
            // and the daily loss limit keeps each account's loss guard armed.
            limits: LimitsSection {
                max_order_qty: 1_000,
                max_order_value: 10_000_000.0,
                max_position_qty: 1_000,
                max_position_value: 20_000_000.0,
                max_gross_exposure: 50_000_000.0,
                max_net_exposure: 50_000_000.0,
                max_open_orders: 100,
                max_orders_per_sec: 100,
                daily_loss_limit: 1_000_000.0,
                ..LimitsSection::default()
            },
            strategies: (0..per_account)
                .map(|j| StrategySection {
                    kind: "ema_cross".into(),
                    // Empty only if the default config lost its instruments: validation
                    // then names the unknown symbol.
                    instrument: symbols.get((a * per_account + j) % n).cloned().unwrap_or_default(),
                    timeframe: "1m".into(),
                    qty: QTY,
                    allow_short: true,
                    params: params.clone(),
                })
                .collect(),
            venue: "paper".into(),
            broker: None,
            mode: Default::default(),
        })
        .collect();
    cfg.validate()
}

/// `n` ticks over every instrument of `setup`, as `dalal gen --ticks n --seed SEED --date
/// DATE` writes them: a seeded walk per instrument, spread evenly over the session.
pub fn ticks(setup: &EngineSetup, n: usize) -> Vec<Tick> {
    let instruments = setup
        .instruments
        .iter()
        .zip(&setup.ref_prices)
        .map(|(spec, p)| dalal_adapters::SyntheticInstrument::from_spec(spec, *p))
        .collect();
    let synth = dalal_adapters::SyntheticConfig { seed: SEED, instruments };
    let midnight = Date::parse(DATE).map(|d| d.ist_midnight().0).unwrap_or(0);
    let open = midnight + setup.session.open.0;
    let spacing = ((setup.session.close.0 - setup.session.open.0) / n.max(1) as i64).max(1);
    dalal_adapters::generate_session(&synth, Timestamp(open), n, spacing).unwrap_or_default()
}

/// Ticks replayed untimed before the measured part: up to the first thousand by which an
/// EMA(9/21) on every instrument of `setup` has crossed once, so that every strategy of every
/// point (they all trade these instruments with these parameters) holds a position; at most
/// half the tape.
pub fn warm_up(setup: &EngineSetup, ticks: &[Tick]) -> Result<usize, ConfigError> {
    const CHUNK: usize = 1_000;
    let probe = config(setup.instruments.len(), 1)?;
    let mut engine = Engine::new(&probe, quanta::Clock::new(), 0);
    let sink = &mut |_: EgressEvent| {};
    engine.apply_initial(&probe, sink);
    let half = ticks.len() / 2;
    for (k, chunk) in ticks[..half].chunks(CHUNK).enumerate() {
        drive(&mut engine, chunk, false, sink);
        if held(&engine, &probe) == probe.strategies.len() {
            return Ok((k + 1) * CHUNK);
        }
    }
    Ok(half)
}

/// One run over the timed part of the ticks.
#[derive(Debug)]
pub struct Run {
    pub secs: f64,
    /// Orders the risk desk let through in the timed part.
    pub orders: u64,
    /// Intents refused in the timed part.
    pub refused: u64,
    pub fills: u64,
    /// (account, instrument) pairs with an open position at the end.
    pub held: usize,
    /// Tick to order, when the run stamped its ticks.
    pub tick_to_order: LatencyHistogram,
}

fn drive(engine: &mut Engine, ticks: &[Tick], stamp: bool, sink: &mut impl FnMut(EgressEvent)) {
    for t in ticks {
        let ingress_raw = if stamp { engine.clock().raw() } else { 0 };
        engine.step(&IngressEvent { input: Input::Tick(*t), ingress_raw, source: 0 }, sink);
    }
}

/// A fresh engine for `setup` in `mode`, the untimed `warm` ticks replayed and, for
/// [`Mode::NoOrders`], every account's kill switch engaged: ready for the timed ticks.
pub fn prepare(setup: &EngineSetup, warm: &[Tick], mode: Mode) -> Engine {
    let mut engine = Engine::new(setup, quanta::Clock::new(), 0);
    engine.set_mark_every(mode == Mode::MarkEvery);
    let sink = &mut |_: EgressEvent| {};
    engine.apply_initial(setup, sink);
    drive(&mut engine, warm, false, sink);
    if mode == Mode::NoOrders {
        for a in &setup.accounts {
            let kill = Command::KillSwitch { scope: KillScope::Account(a.id), engaged: true };
            engine.step(&IngressEvent { input: Input::Command(kill), ingress_raw: 0, source: 0 }, sink);
        }
    }
    engine
}

/// Runs `ticks` through a fresh engine in `mode`, timing all but the first `warm`. With `stamp`
/// each timed tick carries its ingress time, so the engine's tick-to-order histogram fills
/// (one clock read per tick, so throughput is measured without it). Egress goes nowhere: a
/// live engine hands it to a lossy ring and moves on.
pub fn run(setup: &EngineSetup, ticks: &[Tick], warm: usize, mode: Mode, stamp: bool) -> Run {
    let (warm, timed) = ticks.split_at(warm.min(ticks.len()));
    let mut engine = prepare(setup, warm, mode);
    let sink = &mut |_: EgressEvent| {};
    let c0 = engine.order.counters;
    let t0 = Instant::now();
    drive(&mut engine, timed, stamp, sink);
    let secs = t0.elapsed().as_secs_f64();
    let c = &engine.order.counters;
    let refused = c.rejected - c0.rejected;
    let held = held(&engine, setup);
    Run {
        secs,
        orders: (c.orders - c0.orders) - refused,
        refused,
        fills: c.fills - c0.fills,
        held,
        tick_to_order: engine.all_latencies().tick_to_order,
    }
}

/// (account, instrument) pairs with a non-zero net position over all products.
fn held(engine: &Engine, setup: &EngineSetup) -> usize {
    let p = engine.order.portfolio();
    (0..setup.accounts.len())
        .flat_map(|a| (0..setup.instruments.len()).map(move |i| (a, i)))
        .filter(|&(a, i)| Product::ALL.iter().filter_map(|&pr| p.get(a, i, pr)).map(|x| x.net.0).sum::<i64>() != 0)
        .count()
}

/// One point of the group, measured.
#[derive(Debug)]
pub struct Point {
    pub accounts: usize,
    pub per_account: usize,
    pub instruments: usize,
    /// Ticks timed per run.
    pub ticks: u64,
    /// Seconds of every repetition, per mode, in run order.
    pub holders: Vec<f64>,
    pub mark_every: Vec<f64>,
    pub no_orders: Vec<f64>,
    /// The stamped run (holders mode): orders, fills, positions and tick to order.
    pub trading: Run,
    /// Positions held at the end of a `no_orders` run (equal to the trading run's when marking
    /// visited the same holders).
    pub no_orders_held: usize,
    /// Intents the kill switches refused in a `no_orders` run.
    pub no_orders_refused: u64,
}

impl Point {
    pub fn seconds(&self, mode: Mode) -> &[f64] {
        match mode {
            Mode::Holders => &self.holders,
            Mode::MarkEvery => &self.mark_every,
            Mode::NoOrders => &self.no_orders,
        }
    }

    /// Median ticks per second of `mode`.
    pub fn ticks_per_s(&self, mode: Mode) -> f64 {
        self.ticks as f64 / median(self.seconds(mode)).max(1e-12)
    }
}

/// Measures every point of `points` on `n` ticks: `reps` timed runs per mode, the modes and
/// points interleaved so that a noisy stretch of the machine falls on all of them alike, then
/// one stamped run per point for tick to order. `Err` names a point whose config does not
/// validate.
pub fn measure(points: &[(usize, usize)], n: usize, reps: usize) -> Result<Vec<Point>, ConfigError> {
    let setups = points.iter().map(|&(a, s)| config(a, s)).collect::<Result<Vec<_>, _>>()?;
    let Some(first) = setups.first() else { return Ok(Vec::new()) };
    // One instrument universe, so one tape serves every point.
    let ticks = ticks(first, n);
    let warm = warm_up(first, &ticks)?;
    let timed = (ticks.len() - warm) as u64;
    let mut secs = vec![[Vec::new(), Vec::new(), Vec::new()]; setups.len()];
    let mut no_orders = vec![(0, 0); setups.len()];
    for _ in 0..reps.max(1) {
        for (k, setup) in setups.iter().enumerate() {
            for (m, mode) in [Mode::Holders, Mode::MarkEvery, Mode::NoOrders].into_iter().enumerate() {
                let r = run(setup, &ticks, warm, mode, false);
                secs[k][m].push(r.secs);
                if mode == Mode::NoOrders {
                    no_orders[k] = (r.held, r.refused);
                }
            }
        }
    }
    Ok(points
        .iter()
        .zip(setups.iter().zip(secs))
        .zip(no_orders)
        .map(|((&(accounts, per_account), (setup, [holders, mark_every, no])), (held, refused))| Point {
            accounts,
            per_account,
            instruments: setup.instruments.len(),
            ticks: timed,
            holders,
            mark_every,
            no_orders: no,
            trading: run(setup, &ticks, warm, Mode::Holders, true),
            no_orders_held: held,
            no_orders_refused: refused,
        })
        .collect())
}

/// What a scale row adds to a [`LabRow`] (flattened into it in `bench.json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScaleFields {
    pub accounts: usize,
    /// Strategies over all accounts.
    pub strategies: usize,
    pub instruments: usize,
    /// Orders sent (not refused) over the timed ticks, and per second of the median run.
    pub orders: u64,
    pub orders_per_s: f64,
    /// Time per tick over the same mode's at one account (2.0 = twice as long).
    pub cost_vs_one_account: f64,
    /// Ticks per second of every repetition, in run order (`ticks_per_s` is their median).
    pub samples_ticks_per_s: Vec<f64>,
    /// (account, instrument) pairs holding a position at the end of the run.
    pub held_positions: usize,
    /// The trading row only: its ticks per second over the `mark_every` row's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_mark_every: Option<f64>,
    /// The `no_orders` row only: intents its kill switches refused over the timed ticks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<u64>,
}

/// Three rows per point, in `points` order: `scale/accounts=N` (ticks/s, and tick to order
/// from the stamped run in the latency fields; `count` is the timed ticks), then
/// `…/mark_every` and `…/no_orders` (ticks/s).
pub fn rows(points: &[Point]) -> Vec<LabRow> {
    let Some(base) = points.first() else { return Vec::new() };
    let mut out = Vec::new();
    for p in points {
        for mode in [Mode::Holders, Mode::MarkEvery, Mode::NoOrders] {
            let name = format!("scale/accounts={}{}", p.accounts, mode.suffix());
            let tps = p.ticks_per_s(mode);
            let orders = if mode == Mode::NoOrders { 0 } else { p.trading.orders };
            let fields = ScaleFields {
                accounts: p.accounts,
                strategies: p.accounts * p.per_account,
                instruments: p.instruments,
                orders,
                orders_per_s: orders as f64 * tps / p.ticks.max(1) as f64,
                cost_vs_one_account: base.ticks_per_s(mode) / tps.max(1e-12),
                samples_ticks_per_s: p.seconds(mode).iter().map(|s| p.ticks as f64 / s.max(1e-12)).collect(),
                held_positions: if mode == Mode::NoOrders { p.no_orders_held } else { p.trading.held },
                vs_mark_every: (mode == Mode::Holders).then(|| tps / p.ticks_per_s(Mode::MarkEvery).max(1e-12)),
                refused: (mode == Mode::NoOrders).then_some(p.no_orders_refused),
            };
            let row = match mode {
                Mode::Holders => LabRow {
                    count: p.ticks,
                    ticks_per_s: Some(tps),
                    ..LabRow::latency(&name, &p.trading.tick_to_order)
                },
                _ => LabRow { ticks_per_s: Some(tps), ..LabRow::throughput(&name, p.ticks, 1.0) },
            };
            out.push(LabRow { scale: Some(fields), ..row });
        }
    }
    out
}

/// The group as the terminal shows it: one line per point.
pub fn table(rows: &[LabRow]) -> String {
    let mut s = format!(
        "{:<22} {:>6} {:>10} {:>8} {:>11} {:>9} {:>10} {:>12} {:>9} {:>10}\n",
        "scale", "strats", "orders", "held", "M ticks/s", "x N=1", "no-ord x", "every M t/s", "x every", "t2o p50"
    );
    let find = |name: String| rows.iter().find(|r| r.name == name);
    for r in rows.iter().filter(|r| r.vs_mark_every().is_some()) {
        let Some(f) = &r.scale else { continue };
        let no = find(format!("{}{}", r.name, Mode::NoOrders.suffix())).and_then(|r| r.scale.as_ref());
        let every = find(format!("{}{}", r.name, Mode::MarkEvery.suffix())).and_then(|r| r.ticks_per_s);
        s.push_str(&format!(
            "{:<22} {:>6} {:>10} {:>8} {:>11.2} {:>8.2}x {:>9.2}x {:>12.3} {:>8.2}x {:>10}\n",
            r.name,
            f.strategies,
            f.orders,
            f.held_positions,
            r.ticks_per_s.unwrap_or(0.0) / 1e6,
            f.cost_vs_one_account,
            no.map_or(0.0, |n| n.cost_vs_one_account),
            every.unwrap_or(0.0) / 1e6,
            f.vs_mark_every.unwrap_or(0.0),
            crate::lab::human_ns(r.p50_ns.unwrap_or(0)),
        ));
    }
    s
}

impl LabRow {
    fn vs_mark_every(&self) -> Option<f64> {
        self.scale.as_ref().and_then(|f| f.vs_mark_every)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_assign_strategies_round_the_instruments() {
        let setup = config(10, 4).expect("valid");
        assert_eq!((setup.instruments.len(), setup.accounts.len(), setup.strategies.len()), (50, 10, 40));
        for (k, s) in setup.strategies.iter().enumerate() {
            let (a, j) = (k / 4, k % 4);
            assert_eq!(s.account.index(), a);
            assert_eq!(s.instrument.index(), (a * 4 + j) % 50);
        }
        assert!(setup.accounts.iter().all(|a| a.limits.daily_loss_limit.0 > 0 && !a.kill_switch));
        let setup = config(1000, 5).expect("valid");
        assert_eq!(setup.strategies.len(), 5000);
    }

    #[test]
    fn the_runs_trade_alike_and_no_orders_only_refuses() {
        let setup = config(10, 4).expect("valid");
        let ticks = ticks(&setup, 20_000);
        assert_eq!(ticks.len(), 20_000);
        let warm = warm_up(&setup, &ticks).expect("valid");
        assert!(warm > 0 && warm < 10_000, "{warm}");
        let holders = run(&setup, &ticks, warm, Mode::Holders, true);
        let every = run(&setup, &ticks, warm, Mode::MarkEvery, false);
        let none = run(&setup, &ticks, warm, Mode::NoOrders, false);
        assert!(holders.orders > 0 && holders.fills > 0, "{holders:?}");
        assert_eq!((holders.orders, holders.fills, holders.held), (every.orders, every.fills, every.held));
        assert_eq!(holders.tick_to_order.len(), holders.orders);
        // Killed after the warm-up: nothing goes out, the strategies still decide, and the
        // positions marking visits are the trading run's.
        assert_eq!((none.orders, none.fills), (0, 0));
        assert!(none.refused > 0);
        assert_eq!(none.held, holders.held);
        assert_eq!(holders.held, 40);
    }

    #[test]
    fn rows_carry_ratios_to_the_first_point() {
        assert_eq!(points(&ACCOUNTS), [(1, 1), (10, 4), (50, 4), (200, 5), (1000, 5)]);
        assert_eq!(points(&[300, 0, 10, 300]), [(1, 1), (10, 4), (300, 5)]);
        let points = measure(&points(&[10]), 5_000, 1).expect("valid");
        let rows = rows(&points);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "scale/accounts=1",
                "scale/accounts=1/mark_every",
                "scale/accounts=1/no_orders",
                "scale/accounts=10",
                "scale/accounts=10/mark_every",
                "scale/accounts=10/no_orders"
            ]
        );
        for r in &rows[..3] {
            assert_eq!(r.scale.as_ref().map(|f| f.cost_vs_one_account), Some(1.0));
        }
        assert!(rows[0].p50_ns.is_some() && rows[1].p50_ns.is_none());
        assert_eq!(rows[3].scale.as_ref().map(|f| f.strategies), Some(40));
        assert!(rows[3].scale.as_ref().and_then(|f| f.vs_mark_every).is_some());
        assert!(rows[4].scale.as_ref().and_then(|f| f.vs_mark_every).is_none());
        assert!(rows[5].scale.as_ref().and_then(|f| f.refused).is_some_and(|r| r > 0));
        assert!(rows[3].scale.as_ref().and_then(|f| f.refused).is_none());
        let t = table(&rows);
        assert_eq!(t.lines().count(), 3, "{t}");
        assert!(t.lines().nth(2).is_some_and(|l| l.starts_with("scale/accounts=10 ")));
    }
}
