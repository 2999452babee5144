//! The run summary: what an operator reads at the end of a run, and what `summary.json` holds.
//! Built from the stages after they stop, so it is exact, not sampled.

use serde::Serialize;
use std::collections::BTreeMap;

use crate::engine::setup::EngineSetup;
use crate::engine::Engine;
use crate::metrics::Percentiles;
use crate::model::TickReject;
use crate::model::{Product, RejectReason};
use crate::stages::charges::Charges;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PositionSummary {
    pub symbol: String,
    pub product: &'static str,
    pub net_qty: i64,
    /// Rupees.
    pub avg_price: f64,
    pub last_price: f64,
    pub bought: u64,
    pub sold: u64,
    pub realized_pnl: f64,
    pub unrealized_pnl: f64,
}

/// Charges in rupees, each shown separately.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct ChargesSummary {
    pub brokerage: f64,
    pub stt: f64,
    pub exchange_txn: f64,
    pub sebi: f64,
    pub stamp_duty: f64,
    pub gst: f64,
    pub total: f64,
}

impl From<&Charges> for ChargesSummary {
    fn from(c: &Charges) -> Self {
        ChargesSummary {
            brokerage: rupees(c.brokerage.0),
            stt: rupees(c.stt.0),
            exchange_txn: rupees(c.exchange_txn.0),
            sebi: rupees(c.sebi.0),
            stamp_duty: rupees(c.stamp_duty.0),
            gst: rupees(c.gst.0),
            total: rupees(c.total().0),
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AccountSummary {
    pub name: String,
    pub realized_pnl: f64,
    pub unrealized_pnl: f64,
    /// Realized + unrealized, before charges.
    pub total_pnl: f64,
    pub charges: ChargesSummary,
    /// Total P&L after charges.
    pub net_pnl: f64,
    pub kill_switch: bool,
    pub positions: Vec<PositionSummary>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LatencySummary {
    pub tick_to_order: Percentiles,
    pub candle: Percentiles,
    pub strategy: Percentiles,
    pub risk: Percentiles,
    pub order: Percentiles,
    pub timer_to_order: Percentiles,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RunSummary {
    pub ticks_in: u64,
    pub ticks_accepted: u64,
    pub ticks_rejected: BTreeMap<&'static str, u64>,
    pub candles: u64,
    pub signals: u64,
    pub orders: u64,
    pub risk_rejections: BTreeMap<&'static str, u64>,
    pub orders_rejected: u64,
    pub fills: u64,
    pub cancelled: u64,
    pub expired: u64,
    pub illegal_transitions: u64,
    pub accounts: Vec<AccountSummary>,
    /// Absent from backtest files, whose bytes must not depend on the machine's speed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySummary>,
}

fn rupees(paise: i64) -> f64 {
    paise as f64 / 100.0
}

impl RunSummary {
    /// Adds ticks a feed refused before they reached the engine (malformed lines, unknown
    /// symbols), so the summary counts every input once.
    pub fn add_feed_rejects(&mut self, rejects: impl IntoIterator<Item = (TickReject, u64)>) {
        for (r, n) in rejects {
            if n > 0 {
                self.ticks_in += n;
                *self.ticks_rejected.entry(r.as_str()).or_insert(0) += n;
            }
        }
    }

    pub fn from_engine(engine: &Engine, setup: &EngineSetup, with_latency: bool) -> RunSummary {
        let mc = engine.candle.counters;
        let rc = engine.risk.counters;
        let oc = engine.order.counters;
        let ticks_rejected = TickReject::ALL
            .iter()
            .filter(|r| mc.rejected[r.index()] > 0)
            .map(|r| (r.as_str(), mc.rejected[r.index()]))
            .collect();
        let risk_rejections = RejectReason::ALL
            .iter()
            .filter(|r| rc.rejected[r.index()] > 0)
            .map(|r| (r.as_str(), rc.rejected[r.index()]))
            .collect();
        let pf = engine.order.portfolio();
        let accounts = setup
            .accounts
            .iter()
            .map(|a| {
                let ai = a.id.index();
                let pnl = pf.account_pnl(ai);
                let positions = setup
                    .instruments
                    .iter()
                    .flat_map(|i| Product::ALL.iter().map(move |p| (i, *p)))
                    .filter_map(|(i, product)| {
                        let p = pf.get(ai, i.id.index(), product)?;
                        (p.bought + p.sold > 0).then(|| PositionSummary {
                            symbol: i.symbol.clone(),
                            product: product.as_str(),
                            net_qty: p.net.0,
                            avg_price: (p.avg_price() / 100.0 * 10_000.0).round() / 10_000.0,
                            last_price: p.last.as_f64(),
                            bought: p.bought,
                            sold: p.sold,
                            realized_pnl: rupees(p.realized().0),
                            unrealized_pnl: rupees(p.unrealized().0),
                        })
                    })
                    .collect();
                let charges = engine.order.charges(ai);
                AccountSummary {
                    name: a.name.clone(),
                    realized_pnl: rupees(pnl.realized.0),
                    unrealized_pnl: rupees(pnl.unrealized.0),
                    total_pnl: rupees((pnl.realized + pnl.unrealized).0),
                    charges: ChargesSummary::from(&charges),
                    net_pnl: rupees((pnl.realized + pnl.unrealized - charges.total()).0),
                    kill_switch: engine.risk.account_kill(ai),
                    positions,
                }
            })
            .collect();
        let latency = with_latency.then(|| {
            let l = engine.all_latencies();
            LatencySummary {
                tick_to_order: l.tick_to_order.percentiles(),
                candle: l.candle.percentiles(),
                strategy: l.strategy.percentiles(),
                risk: l.risk.percentiles(),
                order: l.order.percentiles(),
                timer_to_order: l.timer_to_order.percentiles(),
            }
        });
        RunSummary {
            ticks_in: mc.ticks_in,
            ticks_accepted: mc.ticks_accepted,
            ticks_rejected,
            candles: mc.candles,
            signals: engine.strategy.counters.signals,
            orders: oc.orders,
            risk_rejections,
            orders_rejected: oc.rejected,
            fills: oc.fills,
            cancelled: oc.cancelled,
            expired: oc.expired,
            illegal_transitions: oc.illegal_transitions,
            accounts,
            latency,
        }
    }
}
