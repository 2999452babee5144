//! The fake Kite's accounts: funds, the order book with each order's history, trades,
//! positions derived from fills, holdings, and instrument prices.
//!
//! Everything is deterministic: ids come from counters and timestamps from an event clock
//! that advances one second per recorded event from 09:15:00 on a fixed day, so two runs of a
//! test see the same JSON. Every order change goes through [`Book::record`], which appends the
//! order's new state to its history and to the update log a WebSocket can stream from.
//!
//! Funds model (simple, stated so tests can predict it): `net` is the opening balance plus
//! collateral less `debits`, where `debits` is what open buy orders block (pending quantity
//! times their price, trigger or last price) plus the cash spent on buys net of sells (never
//! below zero).

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// Rupees rounded to the paisa, as Kite reports computed amounts.
pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// An instrument the fake knows, with its prices.
#[derive(Clone, Debug, Default)]
pub(crate) struct Instrument {
    pub token: u64,
    pub last_price: f64,
    pub ohlc: [f64; 4],
    pub volume: i64,
}

/// An order as the fake keeps it.
#[derive(Clone, Debug)]
pub(crate) struct FakeOrder {
    pub user_id: String,
    pub order_id: String,
    pub exchange_order_id: Option<String>,
    pub variety: String,
    pub exchange: String,
    pub tradingsymbol: String,
    pub instrument_token: u64,
    pub transaction_type: String,
    pub order_type: String,
    pub product: String,
    pub validity: String,
    pub quantity: i64,
    pub disclosed_quantity: i64,
    pub price: f64,
    pub trigger_price: f64,
    pub filled_quantity: i64,
    /// Sum of price × quantity over fills, for the average.
    pub filled_value: f64,
    pub cancelled_quantity: i64,
    pub status: String,
    pub status_message: Option<String>,
    pub tag: Option<String>,
    pub modified: bool,
    pub modifications: u32,
    pub order_timestamp: String,
    pub exchange_timestamp: Option<String>,
    pub history: Vec<Value>,
}

impl FakeOrder {
    pub fn pending(&self) -> i64 {
        if is_terminal(&self.status) {
            0
        } else {
            self.quantity - self.filled_quantity
        }
    }

    pub fn average_price(&self) -> f64 {
        if self.filled_quantity > 0 {
            round2(self.filled_value / self.filled_quantity as f64)
        } else {
            0.0
        }
    }

    /// The order object of `/orders`, `/orders/{id}` and postbacks.
    pub fn to_json(&self) -> Value {
        json!({
            "placed_by": self.user_id,
            "order_id": self.order_id,
            "exchange_order_id": self.exchange_order_id,
            "parent_order_id": null,
            "status": self.status,
            "status_message": self.status_message,
            "status_message_raw": self.status_message,
            "order_timestamp": self.order_timestamp,
            "exchange_update_timestamp": self.exchange_timestamp,
            "exchange_timestamp": self.exchange_timestamp,
            "variety": self.variety,
            "modified": self.modified,
            "exchange": self.exchange,
            "tradingsymbol": self.tradingsymbol,
            "instrument_token": self.instrument_token,
            "order_type": self.order_type,
            "transaction_type": self.transaction_type,
            "validity": self.validity,
            "validity_ttl": 0,
            "product": self.product,
            "quantity": self.quantity,
            "disclosed_quantity": self.disclosed_quantity,
            "price": self.price,
            "trigger_price": self.trigger_price,
            "average_price": self.average_price(),
            "filled_quantity": self.filled_quantity,
            "pending_quantity": self.pending(),
            "cancelled_quantity": self.cancelled_quantity,
            "market_protection": 0,
            "meta": {},
            "tag": self.tag,
            "tags": self.tag.iter().collect::<Vec<_>>(),
            "guid": format!("fake-{}", self.order_id),
        })
    }
}

pub(crate) fn is_terminal(status: &str) -> bool {
    matches!(status, "COMPLETE" | "CANCELLED" | "REJECTED")
}

/// Statuses in which an order can still be filled, modified or cancelled.
pub(crate) fn is_working(status: &str) -> bool {
    matches!(status, "OPEN" | "TRIGGER PENDING" | "AMO REQ RECEIVED")
}

#[derive(Clone, Debug)]
pub(crate) struct FakeTrade {
    pub user_id: String,
    pub trade_id: String,
    pub order_id: String,
    pub exchange_order_id: Option<String>,
    pub exchange: String,
    pub tradingsymbol: String,
    pub instrument_token: u64,
    pub product: String,
    pub transaction_type: String,
    pub price: f64,
    pub quantity: i64,
    pub fill_timestamp: String,
    pub order_timestamp: String,
}

impl FakeTrade {
    pub fn to_json(&self) -> Value {
        json!({
            "trade_id": self.trade_id,
            "order_id": self.order_id,
            "exchange_order_id": self.exchange_order_id,
            "exchange": self.exchange,
            "tradingsymbol": self.tradingsymbol,
            "instrument_token": self.instrument_token,
            "product": self.product,
            "average_price": self.price,
            "quantity": self.quantity,
            "transaction_type": self.transaction_type,
            "fill_timestamp": self.fill_timestamp,
            "order_timestamp": self.order_timestamp.get(11..).unwrap_or_default(),
            "exchange_timestamp": self.fill_timestamp,
        })
    }
}

/// Today's buys and sells of one instrument and product.
#[derive(Clone, Debug, Default)]
pub(crate) struct FakePosition {
    pub instrument_token: u64,
    pub buy_quantity: i64,
    pub buy_value: f64,
    pub sell_quantity: i64,
    pub sell_value: f64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct FakeHolding {
    pub exchange: String,
    pub tradingsymbol: String,
    pub instrument_token: u64,
    pub isin: String,
    pub quantity: i64,
    pub used_quantity: i64,
    pub average_price: f64,
}

/// One user's account.
#[derive(Clone, Debug)]
pub(crate) struct Account {
    pub user_id: String,
    pub user_name: String,
    pub email: String,
    pub opening_balance: f64,
    pub collateral: f64,
    pub positions: BTreeMap<(String, String, String), FakePosition>,
    pub holdings: Vec<FakeHolding>,
}

/// Every account, order, trade and price of the fake.
#[derive(Debug, Default)]
pub(crate) struct Book {
    pub accounts: BTreeMap<String, Account>,
    pub orders: Vec<FakeOrder>,
    pub trades: Vec<FakeTrade>,
    pub instruments: BTreeMap<(String, String), Instrument>,
    pub candles: BTreeMap<(u64, String), Vec<Value>>,
    /// Every order change in order: `(sequence, order JSON)`.
    pub updates: Vec<(u64, Value)>,
    events: u64,
    next_order: u64,
    next_trade: u64,
}

impl Book {
    /// The event clock: `2026-01-05 09:15:00` plus one second per event.
    pub fn tick(&mut self) -> String {
        self.events += 1;
        let secs = (9 * 3600 + 15 * 60 + self.events).min(86_399);
        format!("2026-01-05 {:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    }

    pub fn new_order_id(&mut self) -> String {
        self.next_order += 1;
        format!("26010500{:011}", self.next_order)
    }

    fn new_trade_id(&mut self) -> String {
        self.next_trade += 1;
        format!("{:08}", 10_000_000 + self.next_trade)
    }

    pub fn order_index(&self, order_id: &str) -> Option<usize> {
        self.orders.iter().position(|o| o.order_id == order_id)
    }

    pub fn last_price(&self, exchange: &str, symbol: &str) -> f64 {
        self.instruments.get(&(exchange.to_string(), symbol.to_string())).map(|i| i.last_price).unwrap_or(0.0)
    }

    /// Moves order `i` to `status` and records the change.
    pub fn record(&mut self, i: usize, status: &str) {
        let ts = self.tick();
        let Some(o) = self.orders.get_mut(i) else { return };
        o.status = status.to_string();
        if o.exchange_order_id.is_some() {
            o.exchange_timestamp = Some(ts.clone());
        }
        let mut snapshot = o.to_json();
        if let Some(obj) = snapshot.as_object_mut() {
            obj.insert("exchange_update_timestamp".into(), json!(ts));
        }
        o.history.push(snapshot.clone());
        let seq = self.updates.len() as u64 + 1;
        self.updates.push((seq, snapshot));
    }

    /// The price a buy order blocks margin at.
    fn basis(&self, o: &FakeOrder) -> f64 {
        if o.price > 0.0 {
            o.price
        } else if o.trigger_price > 0.0 {
            o.trigger_price
        } else {
            self.last_price(&o.exchange, &o.tradingsymbol)
        }
    }

    /// `debits` of the funds model (see the module's doc).
    pub fn debits(&self, user_id: &str) -> f64 {
        let blocked: f64 = self
            .orders
            .iter()
            .filter(|o| o.user_id == user_id && o.transaction_type == "BUY" && !is_terminal(&o.status))
            .map(|o| o.pending() as f64 * self.basis(o))
            .sum();
        let spent: f64 = self
            .accounts
            .get(user_id)
            .map(|a| a.positions.values().map(|p| p.buy_value - p.sell_value).sum())
            .unwrap_or(0.0);
        round2(blocked + spent.max(0.0))
    }

    pub fn net(&self, user_id: &str) -> f64 {
        let Some(a) = self.accounts.get(user_id) else { return 0.0 };
        round2(a.opening_balance + a.collateral - self.debits(user_id))
    }

    /// Margin a new buy order needs, and what is available, if it does not fit.
    pub fn margin_shortfall(&self, o: &FakeOrder) -> Option<(f64, f64)> {
        if o.transaction_type != "BUY" {
            return None;
        }
        let required = round2(o.quantity as f64 * self.basis(o));
        let available = self.net(&o.user_id);
        (required > available).then_some((required, available))
    }

    /// Fills `qty` of order `i` at `price`: a trade, the position, and the order's state.
    pub fn fill(&mut self, i: usize, qty: i64, price: f64) -> Result<(), String> {
        let ts = self.tick();
        let trade_id = self.new_trade_id();
        let Some(o) = self.orders.get_mut(i) else { return Err("no such order".into()) };
        if !is_working(&o.status) || o.status == "AMO REQ RECEIVED" {
            return Err(format!("order {} is {}; only OPEN or TRIGGER PENDING orders fill", o.order_id, o.status));
        }
        if qty <= 0 || qty > o.pending() {
            return Err(format!("fill of {qty} on order {} with {} pending", o.order_id, o.pending()));
        }
        if !price.is_finite() || price <= 0.0 {
            return Err(format!("fill price {price}"));
        }
        o.filled_quantity += qty;
        o.filled_value += price * qty as f64;
        let trade = FakeTrade {
            user_id: o.user_id.clone(),
            trade_id,
            order_id: o.order_id.clone(),
            exchange_order_id: o.exchange_order_id.clone(),
            exchange: o.exchange.clone(),
            tradingsymbol: o.tradingsymbol.clone(),
            instrument_token: o.instrument_token,
            product: o.product.clone(),
            transaction_type: o.transaction_type.clone(),
            price,
            quantity: qty,
            fill_timestamp: ts,
            order_timestamp: o.order_timestamp.clone(),
        };
        let done = o.filled_quantity == o.quantity;
        if let Some(a) = self.accounts.get_mut(&trade.user_id) {
            let key = (trade.exchange.clone(), trade.tradingsymbol.clone(), trade.product.clone());
            let p = a.positions.entry(key).or_default();
            p.instrument_token = trade.instrument_token;
            if trade.transaction_type == "BUY" {
                p.buy_quantity += qty;
                p.buy_value += price * qty as f64;
            } else {
                p.sell_quantity += qty;
                p.sell_value += price * qty as f64;
                if trade.product == "CNC" {
                    if let Some(h) = a
                        .holdings
                        .iter_mut()
                        .find(|h| h.exchange == trade.exchange && h.tradingsymbol == trade.tradingsymbol)
                    {
                        h.used_quantity += qty;
                    }
                }
            }
        }
        self.trades.push(trade);
        // A stop order that fills has been triggered.
        self.record(i, if done { "COMPLETE" } else { "OPEN" });
        Ok(())
    }

    /// Cancels what is left of order `i` (by the user, or by the exchange for an IOC).
    pub fn cancel(&mut self, i: usize, message: Option<&str>) -> Result<(), String> {
        let Some(o) = self.orders.get_mut(i) else { return Err("no such order".into()) };
        if !is_working(&o.status) {
            return Err(format!("Order cannot be cancelled as it is {}.", o.status.to_lowercase()));
        }
        self.record(i, "CANCEL PENDING");
        if let Some(o) = self.orders.get_mut(i) {
            o.cancelled_quantity = o.quantity - o.filled_quantity;
            o.status_message = message.map(str::to_string);
        }
        self.record(i, "CANCELLED");
        Ok(())
    }

    /// Rejects order `i` with the broker's reason text.
    pub fn reject(&mut self, i: usize, reason: &str) -> Result<(), String> {
        let Some(o) = self.orders.get_mut(i) else { return Err("no such order".into()) };
        if is_terminal(&o.status) {
            return Err(format!("order {} is already {}", o.order_id, o.status));
        }
        o.status_message = Some(reason.to_string());
        o.cancelled_quantity = 0;
        self.record(i, "REJECTED");
        Ok(())
    }

    pub fn positions_json(&self, user_id: &str) -> Value {
        let Some(a) = self.accounts.get(user_id) else { return json!({"net": [], "day": []}) };
        let list: Vec<Value> = a
            .positions
            .iter()
            .map(|((exchange, symbol, product), p)| {
                let ltp = self.last_price(exchange, symbol);
                let qty = p.buy_quantity - p.sell_quantity;
                let avg = |v: f64, q: i64| if q > 0 { round2(v / q as f64) } else { 0.0 };
                let (buy_price, sell_price) = (avg(p.buy_value, p.buy_quantity), avg(p.sell_value, p.sell_quantity));
                let average_price = match qty {
                    q if q > 0 => buy_price,
                    q if q < 0 => sell_price,
                    _ => 0.0,
                };
                let pnl = round2(p.sell_value - p.buy_value + qty as f64 * ltp);
                json!({
                    "tradingsymbol": symbol,
                    "exchange": exchange,
                    "instrument_token": p.instrument_token,
                    "product": product,
                    "quantity": qty,
                    "overnight_quantity": 0,
                    "multiplier": 1,
                    "average_price": average_price,
                    "close_price": 0,
                    "last_price": ltp,
                    "value": round2(p.sell_value - p.buy_value),
                    "pnl": pnl,
                    "m2m": pnl,
                    "unrealised": pnl,
                    "realised": 0,
                    "buy_quantity": p.buy_quantity,
                    "buy_price": buy_price,
                    "buy_value": round2(p.buy_value),
                    "buy_m2m": round2(p.buy_value),
                    "sell_quantity": p.sell_quantity,
                    "sell_price": sell_price,
                    "sell_value": round2(p.sell_value),
                    "sell_m2m": round2(p.sell_value),
                    "day_buy_quantity": p.buy_quantity,
                    "day_buy_price": buy_price,
                    "day_buy_value": round2(p.buy_value),
                    "day_sell_quantity": p.sell_quantity,
                    "day_sell_price": sell_price,
                    "day_sell_value": round2(p.sell_value),
                })
            })
            .collect();
        json!({ "net": list, "day": list })
    }

    pub fn holdings_json(&self, user_id: &str) -> Value {
        let Some(a) = self.accounts.get(user_id) else { return json!([]) };
        let list: Vec<Value> = a
            .holdings
            .iter()
            .map(|h| {
                let ltp = self.last_price(&h.exchange, &h.tradingsymbol);
                json!({
                    "tradingsymbol": h.tradingsymbol,
                    "exchange": h.exchange,
                    "instrument_token": h.instrument_token,
                    "isin": h.isin,
                    "product": "CNC",
                    "price": 0,
                    "quantity": h.quantity,
                    "used_quantity": h.used_quantity,
                    "t1_quantity": 0,
                    "realised_quantity": h.quantity,
                    "authorised_quantity": 0,
                    "authorised_date": null,
                    "authorisation": {},
                    "opening_quantity": h.quantity,
                    "short_quantity": 0,
                    "collateral_quantity": 0,
                    "collateral_type": "",
                    "discrepancy": false,
                    "average_price": h.average_price,
                    "last_price": ltp,
                    "close_price": ltp,
                    "pnl": round2((ltp - h.average_price) * h.quantity as f64),
                    "day_change": 0,
                    "day_change_percentage": 0,
                    "mtf": {"quantity": 0, "used_quantity": 0, "average_price": 0, "value": 0, "initial_margin": 0},
                })
            })
            .collect();
        Value::Array(list)
    }

    pub fn margins_json(&self, user_id: &str) -> Value {
        let Some(a) = self.accounts.get(user_id) else { return json!({}) };
        let debits = self.debits(user_id);
        let segment = |enabled: bool, cash: f64, collateral: f64, debits: f64| {
            json!({
                "enabled": enabled,
                "net": round2(cash + collateral - debits),
                "available": {
                    "adhoc_margin": 0, "cash": cash, "opening_balance": cash,
                    "live_balance": round2(cash - debits), "collateral": collateral, "intraday_payin": 0,
                },
                "utilised": {
                    "debits": debits, "exposure": 0, "m2m_realised": 0, "m2m_unrealised": 0,
                    "option_premium": 0, "payout": 0, "span": 0, "holding_sales": 0, "turnover": 0,
                    "liquid_collateral": 0, "stock_collateral": collateral, "delivery": 0,
                },
            })
        };
        json!({
            "equity": segment(true, a.opening_balance, a.collateral, debits),
            "commodity": segment(false, 0.0, 0.0, 0.0),
        })
    }
}
