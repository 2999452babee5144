//! The fake Upstox's accounts: funds, the order book with every order's history, trades,
//! positions derived from fills, holdings, instrument prices and candles.
//!
//! Everything is deterministic: ids come from counters and times from an event clock that
//! advances one second per event from 2026-01-05 09:15:00 IST, so two runs of a test see the
//! same JSON. Every status change goes through [`Book::record`], which keeps the order's
//! state for `/v2/order/history` and sends the portfolio stream's update for it.
//!
//! Funds model (as the other fakes', stated so tests can predict it): `available_margin` is
//! the cash at the start of the day plus collateral less `used_margin`, which is what open buy
//! orders block (pending quantity times their price, trigger or last price) plus the cash
//! spent on buys net of sells (never below zero). No leverage for any product.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::portfolio::PortfolioPush;

pub(super) const PUT_RECEIVED: &str = "put order req received";
pub(super) const VALIDATION_PENDING: &str = "validation pending";
pub(super) const OPEN_PENDING: &str = "open pending";
pub(super) const OPEN: &str = "open";
pub(super) const TRIGGER_PENDING: &str = "trigger pending";
pub(super) const AMO_RECEIVED: &str = "after market order req received";
pub(super) const MODIFY_VALIDATION: &str = "modify validation pending";
pub(super) const MODIFY_PENDING: &str = "modify pending";
pub(super) const MODIFIED: &str = "modified";
pub(super) const AMO_MODIFY: &str = "modify after market order req received";
pub(super) const CANCEL_PENDING: &str = "cancel pending";
pub(super) const CANCELLED: &str = "cancelled";
pub(super) const AMO_CANCELLED: &str = "cancelled after market order";
pub(super) const COMPLETE: &str = "complete";
pub(super) const REJECTED: &str = "rejected";

/// 2026-01-05 09:15:00 IST in Unix milliseconds: where the event clock starts.
pub(super) const START_MS: i64 = 1_767_584_700_000;

/// Statuses in which an order can still be filled, modified or cancelled.
pub(super) fn is_working(status: &str) -> bool {
    matches!(status, OPEN | TRIGGER_PENDING | AMO_RECEIVED)
}

fn is_terminal(status: &str) -> bool {
    matches!(status, COMPLETE | CANCELLED | REJECTED | AMO_CANCELLED)
}

/// Rupees rounded to the paisa.
pub(super) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The order's `exchange` (`NSE`, `NFO`…) of a segment (`NSE_EQ`, `NSE_FO`…).
pub(super) fn exchange_of(segment: &str) -> &'static str {
    match segment {
        "NSE_FO" => "NFO",
        "BSE_FO" => "BFO",
        "NCD_FO" => "CDS",
        "BCD_FO" => "BCD",
        "MCX_FO" | "NSE_COM" => "MCX",
        s if s.starts_with("BSE") => "BSE",
        _ => "NSE",
    }
}

/// An instrument the fake knows, with its prices (rupees).
#[derive(Clone, Debug, Default)]
pub(super) struct Instrument {
    pub key: String,
    pub segment: String,
    pub trading_symbol: String,
    pub ltp: f64,
    /// The previous close.
    pub close: f64,
    /// Today's open, high, low.
    pub ohlc: [f64; 3],
    pub volume: i64,
    pub last_quantity: i64,
    /// Unix ms of the last trade (the event clock).
    pub last_trade_ms: i64,
    pub freeze_quantity: Option<i64>,
}

impl Instrument {
    /// `SEGMENT:symbol`, the key quote answers use.
    pub fn quote_key(&self) -> String {
        format!("{}:{}", self.segment, self.trading_symbol)
    }

    pub fn is_index(&self) -> bool {
        self.segment.ends_with("_INDEX")
    }
}

/// An order as the fake keeps it.
#[derive(Clone, Debug, Default)]
pub(super) struct FakeOrder {
    pub user_id: String,
    pub order_id: String,
    /// Empty until the order reached the exchange.
    pub exchange_order_id: String,
    pub key: String,
    pub exchange: String,
    pub trading_symbol: String,
    pub product: String,
    pub validity: String,
    pub order_type: String,
    pub transaction_type: String,
    pub quantity: i64,
    pub disclosed_quantity: i64,
    pub price: f64,
    pub trigger_price: f64,
    pub tag: Option<String>,
    pub is_amo: bool,
    pub filled: i64,
    /// Sum of price × quantity over fills, for the average.
    pub filled_value: f64,
    pub status: String,
    pub status_message: Option<String>,
    pub order_timestamp: String,
    pub exchange_timestamp: String,
    /// 1, then one more per modification.
    pub request_id: u32,
}

impl FakeOrder {
    pub fn pending(&self) -> i64 {
        if is_terminal(&self.status) {
            0
        } else {
            self.quantity - self.filled
        }
    }

    fn average_price(&self) -> f64 {
        if self.filled > 0 {
            round2(self.filled_value / self.filled as f64)
        } else {
            0.0
        }
    }

    /// The order object of the order book, `details` and `history`.
    pub fn to_json(&self) -> Value {
        let opt = |s: &str| if s.is_empty() { Value::Null } else { json!(s) };
        json!({
            "exchange": self.exchange,
            "product": self.product,
            "price": self.price,
            "quantity": self.quantity,
            "status": self.status,
            "guid": null,
            "tag": self.tag,
            "instrument_token": self.key,
            "placed_by": self.user_id,
            "tradingsymbol": self.trading_symbol,
            "trading_symbol": self.trading_symbol,
            "order_type": self.order_type,
            "validity": self.validity,
            "trigger_price": self.trigger_price,
            "disclosed_quantity": self.disclosed_quantity,
            "transaction_type": self.transaction_type,
            "average_price": self.average_price(),
            "filled_quantity": self.filled,
            "pending_quantity": self.pending(),
            "status_message": self.status_message,
            "status_message_raw": self.status_message,
            "exchange_order_id": opt(&self.exchange_order_id),
            "parent_order_id": null,
            "order_id": self.order_id,
            "variety": "SIMPLE",
            "order_timestamp": self.order_timestamp,
            "exchange_timestamp": opt(&self.exchange_timestamp),
            "is_amo": self.is_amo,
            "order_request_id": self.request_id.to_string(),
            "order_ref_id": null,
        })
    }

    /// The portfolio stream's order update (brokers.md §3.10): the order's fields, the
    /// instrument key under its own name, and who it is for, with the deprecated duplicates.
    pub fn update_json(&self) -> Value {
        let mut v = self.to_json();
        if let Some(o) = v.as_object_mut() {
            o.insert("update_type".into(), json!("order"));
            o.insert("user_id".into(), json!(self.user_id));
            o.insert("userId".into(), json!(self.user_id));
            o.insert("instrument_key".into(), json!(self.key));
        }
        v
    }
}

#[derive(Clone, Debug)]
pub(super) struct FakeTrade {
    pub user_id: String,
    pub order_id: String,
    pub exchange_order_id: String,
    pub trade_id: String,
    pub key: String,
    pub exchange: String,
    pub trading_symbol: String,
    pub product: String,
    pub order_type: String,
    pub transaction_type: String,
    pub quantity: i64,
    pub price: f64,
    pub order_timestamp: String,
    pub exchange_timestamp: String,
}

impl FakeTrade {
    pub fn to_json(&self) -> Value {
        json!({
            "exchange": self.exchange,
            "product": self.product,
            "tradingsymbol": self.trading_symbol,
            "trading_symbol": self.trading_symbol,
            "instrument_token": self.key,
            "order_type": self.order_type,
            "transaction_type": self.transaction_type,
            "quantity": self.quantity,
            "exchange_order_id": self.exchange_order_id,
            "order_id": self.order_id,
            "exchange_timestamp": self.exchange_timestamp,
            "average_price": self.price,
            "trade_id": self.trade_id,
            "order_ref_id": null,
            "order_timestamp": self.order_timestamp,
        })
    }
}

/// Today's buys and sells of one instrument and product.
#[derive(Clone, Debug, Default)]
pub(super) struct FakePosition {
    pub buy_quantity: i64,
    pub buy_value: f64,
    pub sell_quantity: i64,
    pub sell_value: f64,
}

#[derive(Clone, Debug)]
pub(super) struct FakeHolding {
    pub key: String,
    pub quantity: i64,
    pub average_price: f64,
}

/// One user's account.
#[derive(Clone, Debug)]
pub(super) struct Account {
    pub user_name: String,
    pub email: String,
    /// Cash at the start of the day, rupees.
    pub cash: f64,
    pub collateral: f64,
    /// By (instrument key, product).
    pub positions: BTreeMap<(String, String), FakePosition>,
    pub holdings: Vec<FakeHolding>,
}

/// Every account, order, trade and price of the fake.
#[derive(Debug)]
pub(super) struct Book {
    pub accounts: BTreeMap<String, Account>,
    pub orders: Vec<FakeOrder>,
    /// Every state of every order, oldest first: (order id, the order then).
    pub history: Vec<(String, Value)>,
    pub trades: Vec<FakeTrade>,
    /// By instrument key.
    pub instruments: BTreeMap<String, Instrument>,
    /// By (instrument key, interval as the path names it): rows `[time, o, h, l, c, v, oi]`.
    pub candles: BTreeMap<(String, String), Vec<Value>>,
    /// Every order update so far.
    pub updates: Vec<Value>,
    /// Where those updates go to the portfolio-stream connections.
    push: broadcast::Sender<PortfolioPush>,
    ticks: i64,
    next_order: u64,
    next_trade: u64,
}

impl Book {
    pub fn new(push: broadcast::Sender<PortfolioPush>) -> Book {
        Book {
            accounts: BTreeMap::new(),
            orders: Vec::new(),
            history: Vec::new(),
            trades: Vec::new(),
            instruments: BTreeMap::new(),
            candles: BTreeMap::new(),
            updates: Vec::new(),
            push,
            ticks: 0,
            next_order: 0,
            next_trade: 0,
        }
    }

    /// The event clock: one second more per event, as `YYYY-MM-DD HH:MM:SS` IST.
    pub fn stamp(&mut self) -> String {
        self.ticks += 1;
        let secs = (9 * 3600 + 15 * 60 + self.ticks).min(86_399);
        format!("2026-01-05 {:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    }

    /// The event clock's present as Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        START_MS + self.ticks * 1000
    }

    /// A new order id: 15 digits, `YYMMDD` and a counter, as Upstox's.
    pub fn new_order_id(&mut self) -> String {
        self.next_order += 1;
        format!("260105{:09}", self.next_order)
    }

    pub fn add_account(&mut self, user_id: &str, user_name: &str, email: &str, cash: f64, collateral: f64) {
        self.accounts.insert(
            user_id.to_string(),
            Account {
                user_name: user_name.into(),
                email: email.into(),
                cash,
                collateral,
                positions: BTreeMap::new(),
                holdings: Vec::new(),
            },
        );
    }

    pub fn set_instrument(&mut self, key: &str, trading_symbol: &str, ltp: f64) {
        let segment = key.split_once('|').map(|(s, _)| s).unwrap_or(key).to_string();
        let last_trade_ms = self.now_ms();
        self.instruments.insert(
            key.into(),
            Instrument {
                key: key.into(),
                segment,
                trading_symbol: trading_symbol.into(),
                ltp,
                close: ltp,
                ohlc: [ltp; 3],
                volume: 0,
                last_quantity: 0,
                last_trade_ms,
                freeze_quantity: None,
            },
        );
    }

    /// A trade of one unit at `ltp`.
    pub fn set_ltp(&mut self, key: &str, ltp: f64) -> bool {
        self.ticks += 1;
        let now = self.now_ms();
        let Some(i) = self.instruments.get_mut(key) else { return false };
        i.ohlc[1] = i.ohlc[1].max(ltp);
        i.ohlc[2] = i.ohlc[2].min(ltp);
        i.ltp = ltp;
        i.volume += 1;
        i.last_quantity = 1;
        i.last_trade_ms = now;
        true
    }

    pub fn instrument(&self, key: &str) -> Option<&Instrument> {
        self.instruments.get(key)
    }

    fn ltp(&self, key: &str) -> f64 {
        self.instrument(key).map(|i| i.ltp).unwrap_or(0.0)
    }

    pub fn add_holding(&mut self, user_id: &str, key: &str, quantity: i64, average_price: f64) {
        if let Some(a) = self.accounts.get_mut(user_id) {
            a.holdings.push(FakeHolding { key: key.into(), quantity, average_price });
        }
    }

    pub fn order_index(&self, order_id: &str) -> Option<usize> {
        self.orders.iter().position(|o| o.order_id == order_id)
    }

    pub fn orders_of<'a>(&'a self, user_id: &'a str) -> impl Iterator<Item = &'a FakeOrder> + 'a {
        self.orders.iter().filter(move |o| o.user_id == user_id)
    }

    /// Moves order `i` to `status`, keeps the state for its history and sends the update.
    pub fn record(&mut self, i: usize, status: &str) {
        let ts = self.stamp();
        let Some(o) = self.orders.get_mut(i) else { return };
        o.status = status.to_string();
        if !o.exchange_order_id.is_empty() {
            o.exchange_timestamp = ts;
        }
        let (id, user, snapshot, update) = (o.order_id.clone(), o.user_id.clone(), o.to_json(), o.update_json());
        self.history.push((id, snapshot));
        let _ = self.push.send(PortfolioPush::Order(user, update.to_string()));
        self.updates.push(update);
    }

    /// Gives order `i` an exchange order id, as when it reaches the exchange.
    pub fn at_exchange(&mut self, i: usize) {
        if let Some(o) = self.orders.get_mut(i) {
            o.exchange_order_id = format!("1300000{:09}", i + 1);
        }
    }

    /// The price a buy order blocks margin at.
    fn basis(&self, o: &FakeOrder) -> f64 {
        if o.price > 0.0 {
            o.price
        } else if o.trigger_price > 0.0 {
            o.trigger_price
        } else {
            self.ltp(&o.key)
        }
    }

    /// `used_margin` of the funds model (see the module's doc).
    fn used(&self, user_id: &str) -> f64 {
        let blocked: f64 = self
            .orders_of(user_id)
            .filter(|o| o.transaction_type == "BUY" && !is_terminal(&o.status))
            .map(|o| o.pending() as f64 * self.basis(o))
            .sum();
        let spent: f64 = self
            .accounts
            .get(user_id)
            .map(|a| a.positions.values().map(|p| p.buy_value - p.sell_value).sum())
            .unwrap_or(0.0);
        round2(blocked + spent.max(0.0))
    }

    fn available(&self, user_id: &str) -> f64 {
        let Some(a) = self.accounts.get(user_id) else { return 0.0 };
        round2(a.cash + a.collateral - self.used(user_id))
    }

    /// Margin a new buy order needs, and what is available, if it does not fit.
    pub fn margin_shortfall(&self, o: &FakeOrder) -> Option<(f64, f64)> {
        if o.transaction_type != "BUY" {
            return None;
        }
        let required = round2(o.quantity as f64 * self.basis(o));
        let available = self.available(&o.user_id);
        (required > available).then_some((required, available))
    }

    /// Fills `qty` of order `i` at `price`: a trade, the position, and the order's status.
    pub fn fill(&mut self, i: usize, qty: i64, price: f64) -> Result<(), String> {
        let Some(o) = self.orders.get(i) else { return Err("no such order".into()) };
        if !matches!(o.status.as_str(), OPEN | TRIGGER_PENDING) {
            return Err(format!("order {} is {}; only open or trigger pending orders fill", o.order_id, o.status));
        }
        if qty <= 0 || qty > o.pending() {
            return Err(format!("fill of {qty} on order {} with {} pending", o.order_id, o.pending()));
        }
        if !price.is_finite() || price <= 0.0 {
            return Err(format!("fill price {price}"));
        }
        let exchange_timestamp = self.stamp();
        self.next_trade += 1;
        let trade_id = format!("{}", 50_000_000 + self.next_trade);
        let Some(o) = self.orders.get_mut(i) else { return Err("no such order".into()) };
        o.filled += qty;
        o.filled_value += price * qty as f64;
        let done = o.filled == o.quantity;
        let trade = FakeTrade {
            user_id: o.user_id.clone(),
            order_id: o.order_id.clone(),
            exchange_order_id: o.exchange_order_id.clone(),
            trade_id,
            key: o.key.clone(),
            exchange: o.exchange.clone(),
            trading_symbol: o.trading_symbol.clone(),
            product: o.product.clone(),
            order_type: o.order_type.clone(),
            transaction_type: o.transaction_type.clone(),
            quantity: qty,
            price,
            order_timestamp: o.order_timestamp.clone(),
            exchange_timestamp,
        };
        if let Some(a) = self.accounts.get_mut(&trade.user_id) {
            let p = a.positions.entry((trade.key.clone(), trade.product.clone())).or_default();
            if trade.transaction_type == "BUY" {
                p.buy_quantity += qty;
                p.buy_value += price * qty as f64;
            } else {
                p.sell_quantity += qty;
                p.sell_value += price * qty as f64;
            }
        }
        self.trades.push(trade);
        // A stop-loss order that fills has been triggered.
        self.record(i, if done { COMPLETE } else { OPEN });
        Ok(())
    }

    /// A stop-loss order's trigger is hit.
    pub fn trigger(&mut self, i: usize) -> Result<(), String> {
        match self.orders.get(i) {
            Some(o) if o.status == TRIGGER_PENDING => {
                self.record(i, OPEN);
                Ok(())
            }
            Some(o) => Err(format!("order {} is {}, not waiting for a trigger", o.order_id, o.status)),
            None => Err("no such order".into()),
        }
    }

    /// Cancels what is left of order `i` (the exchange's doing: no `cancel pending`).
    pub fn cancel(&mut self, i: usize) -> Result<(), String> {
        let Some(o) = self.orders.get(i) else { return Err("no such order".into()) };
        if !is_working(&o.status) {
            return Err(format!("order {} is {}", o.order_id, o.status));
        }
        let status = if o.status == AMO_RECEIVED { AMO_CANCELLED } else { CANCELLED };
        self.record(i, status);
        Ok(())
    }

    /// Rejects order `i` with the reason Upstox shows in `status_message`.
    pub fn reject(&mut self, i: usize, reason: &str) -> Result<(), String> {
        let Some(o) = self.orders.get_mut(i) else { return Err("no such order".into()) };
        if is_terminal(&o.status) {
            return Err(format!("order {} is already {}", o.order_id, o.status));
        }
        o.status_message = Some(reason.to_string());
        self.record(i, REJECTED);
        Ok(())
    }

    /// `get-funds-and-margin`: the equity segment from the funds model, commodity empty.
    pub fn funds_json(&self, user_id: &str, equity: bool, commodity: bool) -> Value {
        let segment = |used: f64, available: f64| {
            json!({
                "used_margin": used, "payin_amount": 0.0, "span_margin": 0.0, "adhoc_margin": 0.0,
                "notional_cash": 0.0, "available_margin": available, "exposure_margin": 0.0,
            })
        };
        let mut data = serde_json::Map::new();
        if equity {
            data.insert("equity".into(), segment(self.used(user_id), self.available(user_id)));
        }
        if commodity {
            data.insert("commodity".into(), segment(0.0, 0.0));
        }
        Value::Object(data)
    }

    /// The user's trades, of one order or all.
    pub fn trades_of(&self, user_id: &str, order_id: Option<&str>) -> Vec<Value> {
        self.trades
            .iter()
            .filter(|t| t.user_id == user_id && order_id.is_none_or(|id| t.order_id == id))
            .map(FakeTrade::to_json)
            .collect()
    }

    /// `short-term-positions`: one row per instrument and product traded today.
    pub fn positions_json(&self, user_id: &str) -> Vec<Value> {
        let Some(a) = self.accounts.get(user_id) else { return Vec::new() };
        a.positions
            .iter()
            .map(|((key, product), p)| {
                let i = self.instrument(key);
                let (ltp, close) = i.map(|i| (i.ltp, i.close)).unwrap_or_default();
                let symbol = i.map(|i| i.trading_symbol.clone()).unwrap_or_default();
                let segment = i.map(|i| i.segment.clone()).unwrap_or_default();
                let avg = |v: f64, q: i64| if q > 0 { round2(v / q as f64) } else { 0.0 };
                let (buy_avg, sell_avg) = (avg(p.buy_value, p.buy_quantity), avg(p.sell_value, p.sell_quantity));
                let net = p.buy_quantity - p.sell_quantity;
                let realised = round2(p.buy_quantity.min(p.sell_quantity) as f64 * (sell_avg - buy_avg));
                let average = match net {
                    n if n > 0 => buy_avg,
                    n if n < 0 => sell_avg,
                    _ => 0.0,
                };
                let unrealised = round2(net as f64 * (ltp - average));
                json!({
                    "exchange": exchange_of(&segment),
                    "multiplier": 1.0,
                    "value": round2(p.sell_value - p.buy_value),
                    "pnl": round2(realised + unrealised),
                    "product": product,
                    "instrument_token": key,
                    "average_price": average,
                    "buy_value": round2(p.buy_value),
                    "overnight_quantity": 0,
                    "day_buy_value": round2(p.buy_value),
                    "day_buy_price": buy_avg,
                    "overnight_buy_amount": 0.0,
                    "overnight_buy_quantity": 0,
                    "day_buy_quantity": p.buy_quantity,
                    "day_sell_value": round2(p.sell_value),
                    "day_sell_price": sell_avg,
                    "overnight_sell_amount": 0.0,
                    "overnight_sell_quantity": 0,
                    "day_sell_quantity": p.sell_quantity,
                    "quantity": net,
                    "last_price": ltp,
                    "unrealised": unrealised,
                    "realised": realised,
                    "sell_value": round2(p.sell_value),
                    "tradingsymbol": symbol,
                    "trading_symbol": symbol,
                    "close_price": close,
                    "buy_price": buy_avg,
                    "sell_price": sell_avg,
                })
            })
            .collect()
    }

    /// `long-term-holdings`.
    pub fn holdings_json(&self, user_id: &str) -> Vec<Value> {
        let Some(a) = self.accounts.get(user_id) else { return Vec::new() };
        a.holdings
            .iter()
            .map(|h| {
                let i = self.instrument(&h.key);
                let (ltp, close) = i.map(|i| (i.ltp, i.close)).unwrap_or_default();
                let symbol = i.map(|i| i.trading_symbol.clone()).unwrap_or_default();
                let segment = h.key.split_once('|').map(|(s, _)| s).unwrap_or_default();
                let isin = h.key.split_once('|').map(|(_, id)| id).unwrap_or_default();
                json!({
                    "isin": isin,
                    "cnc_used_quantity": 0,
                    "collateral_type": "WC",
                    "company_name": symbol,
                    "haircut": 0.0,
                    "product": "D",
                    "quantity": h.quantity,
                    "tradingsymbol": symbol,
                    "trading_symbol": symbol,
                    "last_price": ltp,
                    "close_price": close,
                    "pnl": round2((ltp - h.average_price) * h.quantity as f64),
                    "day_change": round2(ltp - close),
                    "day_change_percentage": if close > 0.0 { round2((ltp - close) / close * 100.0) } else { 0.0 },
                    "instrument_token": h.key,
                    "average_price": h.average_price,
                    "collateral_quantity": 0,
                    "collateral_update_quantity": 0,
                    "t1_quantity": 0,
                    "exchange": exchange_of(segment),
                })
            })
            .collect()
    }
}
