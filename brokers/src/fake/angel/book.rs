//! The fake Angel's accounts: funds, the order book, trades, positions derived from fills,
//! holdings, instrument prices and candles.
//!
//! Everything is deterministic: ids come from counters and times from an event clock that
//! advances one second per event from 09:15:00 on a fixed day, so two runs of a test see the
//! same JSON. Every status change goes through [`Book::record`], which also emits the
//! order-update socket's message for it (AB01…AB11).
//!
//! Funds model (as the Kite fake's, stated so tests can predict it): `net` is the cash at the
//! start of the day plus collateral less `utiliseddebits`, which is what open buy orders
//! block (pending quantity times their price, trigger or last price) plus the cash spent on
//! buys net of sells (never below zero).

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::order_updates::OrderPush;

pub(super) const OPEN_PENDING: &str = "open pending";
pub(super) const OPEN: &str = "open";
pub(super) const TRIGGER_PENDING: &str = "trigger pending";
pub(super) const COMPLETE: &str = "complete";
pub(super) const CANCELLED: &str = "cancelled";
pub(super) const REJECTED: &str = "rejected";
pub(super) const MODIFY_PENDING: &str = "modify pending";
pub(super) const MODIFIED: &str = "modified";
pub(super) const AMO_RECEIVED: &str = "after market order req received";
pub(super) const AMO_CANCELLED: &str = "cancelled after market order";
pub(super) const AMO_MODIFY_RECEIVED: &str = "modify after market order req received";

/// The order-update socket's code for a status (brokers.md §2.12).
pub(super) fn status_code(status: &str) -> &'static str {
    match status {
        OPEN => "AB01",
        CANCELLED => "AB02",
        REJECTED => "AB03",
        MODIFIED => "AB04",
        COMPLETE => "AB05",
        AMO_RECEIVED => "AB06",
        AMO_CANCELLED => "AB07",
        AMO_MODIFY_RECEIVED => "AB08",
        OPEN_PENDING => "AB09",
        TRIGGER_PENDING => "AB10",
        MODIFY_PENDING => "AB11",
        _ => "AB00",
    }
}

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

/// Rupees as the order and trade books write them: a string with two decimals.
pub(super) fn money(x: f64) -> String {
    format!("{:.2}", round2(x))
}

/// An instrument the fake knows, with its prices (rupees).
#[derive(Clone, Debug, Default)]
pub(super) struct Instrument {
    pub exchange: String,
    pub tradingsymbol: String,
    pub token: String,
    pub ltp: f64,
    pub ohlc: [f64; 4],
    pub volume: i64,
}

/// An order as the fake keeps it.
#[derive(Clone, Debug, Default)]
pub(super) struct FakeOrder {
    pub client_code: String,
    pub orderid: String,
    pub uniqueorderid: String,
    /// Empty until the order reached the exchange.
    pub exchangeorderid: String,
    pub variety: String,
    pub ordertype: String,
    pub producttype: String,
    pub duration: String,
    pub exchange: String,
    pub tradingsymbol: String,
    pub symboltoken: String,
    pub transactiontype: String,
    pub quantity: i64,
    pub disclosedquantity: i64,
    pub price: f64,
    pub triggerprice: f64,
    pub squareoff: f64,
    pub stoploss: f64,
    pub ordertag: String,
    pub filled: i64,
    /// Sum of price × quantity over fills, for the average.
    pub filled_value: f64,
    pub cancelsize: i64,
    pub status: String,
    /// The rejection reason.
    pub text: String,
    pub updatetime: String,
    pub exchtime: String,
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

    /// The order object: with numbers as strings as `getOrderBook` writes them, or with
    /// numeric prices as `details/{id}` and the order-update socket do (brokers.md §2.6).
    pub fn to_json(&self, numeric_prices: bool) -> Value {
        let price = |x: f64| if numeric_prices { json!(round2(x)) } else { json!(money(x)) };
        let qty = |q: i64| json!(q.to_string());
        json!({
            "variety": self.variety,
            "ordertype": self.ordertype,
            "producttype": self.producttype,
            "duration": self.duration,
            "price": price(self.price),
            "triggerprice": price(self.triggerprice),
            "quantity": qty(self.quantity),
            "disclosedquantity": qty(self.disclosedquantity),
            "squareoff": price(self.squareoff),
            "stoploss": price(self.stoploss),
            "trailingstoploss": price(0.0),
            "tradingsymbol": self.tradingsymbol,
            "transactiontype": self.transactiontype,
            "exchange": self.exchange,
            "symboltoken": self.symboltoken,
            "ordertag": self.ordertag,
            "instrumenttype": "",
            "strikeprice": if numeric_prices { json!(-1.0) } else { json!("-1") },
            "optiontype": "",
            "expirydate": "",
            "lotsize": "1",
            "cancelsize": qty(self.cancelsize),
            "averageprice": price(self.average_price()),
            "filledshares": qty(self.filled),
            "unfilledshares": qty(self.quantity - self.filled),
            "orderid": self.orderid,
            "text": self.text,
            "status": self.status,
            "orderstatus": self.status,
            "updatetime": self.updatetime,
            "exchtime": self.exchtime,
            "exchorderupdatetime": self.exchtime,
            "fillid": "",
            "filltime": "",
            "parentorderid": "",
            "uniqueorderid": self.uniqueorderid,
            "exchangeorderid": self.exchangeorderid,
        })
    }
}

#[derive(Clone, Debug)]
pub(super) struct FakeTrade {
    pub client_code: String,
    pub orderid: String,
    pub fillid: String,
    /// `HH:MM:SS`, as the trade book writes it.
    pub filltime: String,
    pub exchange: String,
    pub tradingsymbol: String,
    pub producttype: String,
    pub transactiontype: String,
    pub price: f64,
    pub quantity: i64,
}

impl FakeTrade {
    /// The trade-book object (numbers as strings).
    pub fn to_json(&self) -> Value {
        json!({
            "exchange": self.exchange,
            "producttype": self.producttype,
            "tradingsymbol": self.tradingsymbol,
            "instrumenttype": "",
            "symbolgroup": "EQ",
            "strikeprice": "-1",
            "optiontype": "",
            "expirydate": "",
            "marketlot": "1",
            "precision": "2",
            "multiplier": "-1",
            "tradevalue": money(self.price * self.quantity as f64),
            "transactiontype": self.transactiontype,
            "fillprice": money(self.price),
            "fillsize": self.quantity.to_string(),
            "orderid": self.orderid,
            "fillid": self.fillid,
            "filltime": self.filltime,
        })
    }
}

/// Today's buys and sells of one instrument and product.
#[derive(Clone, Debug, Default)]
pub(super) struct FakePosition {
    pub tradingsymbol: String,
    pub buy_quantity: i64,
    pub buy_value: f64,
    pub sell_quantity: i64,
    pub sell_value: f64,
}

#[derive(Clone, Debug)]
pub(super) struct FakeHolding {
    pub exchange: String,
    pub tradingsymbol: String,
    pub token: String,
    pub quantity: i64,
    pub average_price: f64,
}

/// One user's account.
#[derive(Clone, Debug)]
pub(super) struct Account {
    pub client_code: String,
    pub name: String,
    pub email: String,
    /// Cash at the start of the day, rupees.
    pub cash: f64,
    pub collateral: f64,
    pub last_login: String,
    /// By (exchange, symbol token, product).
    pub positions: BTreeMap<(String, String, String), FakePosition>,
    pub holdings: Vec<FakeHolding>,
}

/// Every account, order, trade and price of the fake.
#[derive(Debug)]
pub(super) struct Book {
    pub accounts: BTreeMap<String, Account>,
    pub orders: Vec<FakeOrder>,
    pub trades: Vec<FakeTrade>,
    /// By (exchange, symbol token).
    pub instruments: BTreeMap<(String, String), Instrument>,
    /// By (exchange, symbol token, interval): rows `[time, o, h, l, c, v]`.
    pub candles: BTreeMap<(String, String, String), Vec<Value>>,
    /// Every order-update message so far.
    pub events: Vec<Value>,
    /// Where those messages go to the order-update connections.
    updates: broadcast::Sender<OrderPush>,
    ticks: u64,
    next_order: u64,
    next_trade: u64,
}

/// A 64-bit mix (splitmix64's finaliser), for ids that look random but are reproducible.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Book {
    pub fn new(updates: broadcast::Sender<OrderPush>) -> Book {
        Book {
            accounts: BTreeMap::new(),
            orders: Vec::new(),
            trades: Vec::new(),
            instruments: BTreeMap::new(),
            candles: BTreeMap::new(),
            events: Vec::new(),
            updates,
            ticks: 0,
            next_order: 0,
            next_trade: 0,
        }
    }

    /// The event clock: `05-Jan-2026 09:15:00` plus one second per event, in Angel's format.
    pub fn stamp(&mut self) -> String {
        self.ticks += 1;
        let secs = (9 * 3600 + 15 * 60 + self.ticks).min(86_399);
        format!("05-Jan-2026 {:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    }

    /// A new order's `orderid` (15 digits) and `uniqueorderid` (a UUID's shape).
    pub fn new_order_ids(&mut self) -> (String, String) {
        self.next_order += 1;
        let n = self.next_order;
        let (a, b) = (mix(n), mix(n ^ 0x5eed));
        let unique = format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        );
        (format!("260105{:09}", n), unique)
    }

    pub fn add_account(&mut self, client_code: &str, name: &str, email: &str, cash: f64, collateral: f64) {
        self.accounts.insert(
            client_code.to_string(),
            Account {
                client_code: client_code.into(),
                name: name.into(),
                email: email.into(),
                cash,
                collateral,
                last_login: String::new(),
                positions: BTreeMap::new(),
                holdings: Vec::new(),
            },
        );
    }

    pub fn set_instrument(&mut self, exchange: &str, tradingsymbol: &str, token: &str, ltp: f64) {
        self.instruments.insert(
            (exchange.into(), token.into()),
            Instrument {
                exchange: exchange.into(),
                tradingsymbol: tradingsymbol.into(),
                token: token.into(),
                ltp,
                ohlc: [ltp; 4],
                volume: 0,
            },
        );
    }

    pub fn set_ltp(&mut self, exchange: &str, token: &str, ltp: f64) -> bool {
        let Some(i) = self.instruments.get_mut(&(exchange.to_string(), token.to_string())) else { return false };
        i.ohlc[1] = i.ohlc[1].max(ltp);
        i.ohlc[2] = i.ohlc[2].min(ltp);
        i.ltp = ltp;
        i.volume += 1;
        true
    }

    pub fn instrument(&self, exchange: &str, token: &str) -> Option<&Instrument> {
        self.instruments.get(&(exchange.to_string(), token.to_string()))
    }

    fn ltp(&self, exchange: &str, token: &str) -> f64 {
        self.instrument(exchange, token).map(|i| i.ltp).unwrap_or(0.0)
    }

    pub fn add_holding(&mut self, client_code: &str, exchange: &str, tradingsymbol: &str, quantity: i64, average: f64) {
        let token = self
            .instruments
            .values()
            .find(|i| i.exchange == exchange && i.tradingsymbol == tradingsymbol)
            .map(|i| i.token.clone())
            .unwrap_or_default();
        if let Some(a) = self.accounts.get_mut(client_code) {
            a.holdings.push(FakeHolding {
                exchange: exchange.into(),
                tradingsymbol: tradingsymbol.into(),
                token,
                quantity,
                average_price: average,
            });
        }
    }

    pub fn order_index(&self, orderid: &str) -> Option<usize> {
        self.orders.iter().position(|o| o.orderid == orderid)
    }

    /// Moves order `i` to `status` and sends the order-update message for it.
    pub fn record(&mut self, i: usize, status: &str) {
        let ts = self.stamp();
        let Some(o) = self.orders.get_mut(i) else { return };
        o.status = status.to_string();
        o.updatetime = ts.clone();
        if !o.exchangeorderid.is_empty() {
            o.exchtime = ts;
        }
        let message = json!({
            "user-id": o.client_code,
            "status-code": "200",
            "order-status": status_code(status),
            "error-message": "",
            "orderData": o.to_json(true),
        });
        let _ = self.updates.send(OrderPush::Event(o.client_code.clone(), message.to_string()));
        self.events.push(message);
    }

    /// Gives order `i` an exchange order id, as when it reaches the exchange.
    pub fn at_exchange(&mut self, i: usize) {
        if let Some(o) = self.orders.get_mut(i) {
            o.exchangeorderid = format!("1100000{:09}", i + 1);
        }
    }

    /// The price a buy order blocks margin at.
    fn basis(&self, o: &FakeOrder) -> f64 {
        if o.price > 0.0 {
            o.price
        } else if o.triggerprice > 0.0 {
            o.triggerprice
        } else {
            self.ltp(&o.exchange, &o.symboltoken)
        }
    }

    /// `utiliseddebits` of the funds model (see the module's doc).
    fn debits(&self, client_code: &str) -> f64 {
        let blocked: f64 = self
            .orders
            .iter()
            .filter(|o| o.client_code == client_code && o.transactiontype == "BUY" && !is_terminal(&o.status))
            .map(|o| o.pending() as f64 * self.basis(o))
            .sum();
        let spent: f64 = self
            .accounts
            .get(client_code)
            .map(|a| a.positions.values().map(|p| p.buy_value - p.sell_value).sum())
            .unwrap_or(0.0);
        round2(blocked + spent.max(0.0))
    }

    fn net(&self, client_code: &str) -> f64 {
        let Some(a) = self.accounts.get(client_code) else { return 0.0 };
        round2(a.cash + a.collateral - self.debits(client_code))
    }

    /// Margin a new buy order needs, and what is available, if it does not fit.
    pub fn margin_shortfall(&self, o: &FakeOrder) -> Option<(f64, f64)> {
        if o.transactiontype != "BUY" {
            return None;
        }
        let required = round2(o.quantity as f64 * self.basis(o));
        let available = self.net(&o.client_code);
        (required > available).then_some((required, available))
    }

    /// Fills `qty` of order `i` at `price`: a trade, the position, and the order's status.
    pub fn fill(&mut self, i: usize, qty: i64, price: f64) -> Result<(), String> {
        let Some(o) = self.orders.get(i) else { return Err("no such order".into()) };
        if !matches!(o.status.as_str(), OPEN | TRIGGER_PENDING) {
            return Err(format!("order {} is {}; only open or trigger pending orders fill", o.orderid, o.status));
        }
        if qty <= 0 || qty > o.pending() {
            return Err(format!("fill of {qty} on order {} with {} pending", o.orderid, o.pending()));
        }
        if !price.is_finite() || price <= 0.0 {
            return Err(format!("fill price {price}"));
        }
        let filltime = self.stamp().get(12..).unwrap_or_default().to_string();
        self.next_trade += 1;
        let fillid = format!("{}", 50_000_000 + self.next_trade);
        let Some(o) = self.orders.get_mut(i) else { return Err("no such order".into()) };
        o.filled += qty;
        o.filled_value += price * qty as f64;
        let done = o.filled == o.quantity;
        let trade = FakeTrade {
            client_code: o.client_code.clone(),
            orderid: o.orderid.clone(),
            fillid,
            filltime,
            exchange: o.exchange.clone(),
            tradingsymbol: o.tradingsymbol.clone(),
            producttype: o.producttype.clone(),
            transactiontype: o.transactiontype.clone(),
            price,
            quantity: qty,
        };
        let key = (o.exchange.clone(), o.symboltoken.clone(), o.producttype.clone());
        if let Some(a) = self.accounts.get_mut(&trade.client_code) {
            let p = a.positions.entry(key).or_default();
            p.tradingsymbol = trade.tradingsymbol.clone();
            if trade.transactiontype == "BUY" {
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
            Some(o) => Err(format!("order {} is {}, not waiting for a trigger", o.orderid, o.status)),
            None => Err("no such order".into()),
        }
    }

    /// Cancels what is left of order `i`.
    pub fn cancel(&mut self, i: usize) -> Result<(), String> {
        let Some(o) = self.orders.get_mut(i) else { return Err("no such order".into()) };
        if !is_working(&o.status) {
            return Err(format!("Order cannot be cancelled as it is {}", o.status));
        }
        o.cancelsize = o.quantity - o.filled;
        let status = if o.status == AMO_RECEIVED { AMO_CANCELLED } else { CANCELLED };
        self.record(i, status);
        Ok(())
    }

    /// Rejects order `i` with the reason Angel shows in `text`.
    pub fn reject(&mut self, i: usize, reason: &str) -> Result<(), String> {
        let Some(o) = self.orders.get_mut(i) else { return Err("no such order".into()) };
        if is_terminal(&o.status) {
            return Err(format!("order {} is already {}", o.orderid, o.status));
        }
        o.text = reason.to_string();
        self.record(i, REJECTED);
        Ok(())
    }

    /// `getRMS`: a flat object of numeric strings.
    pub fn rms_json(&self, client_code: &str) -> Value {
        let (cash, collateral) = self.accounts.get(client_code).map(|a| (a.cash, a.collateral)).unwrap_or_default();
        let zero = money(0.0);
        json!({
            "net": money(self.net(client_code)),
            "availablecash": money(cash),
            "availableintradaypayin": zero,
            "availablelimitmargin": zero,
            "collateral": money(collateral),
            "m2munrealized": zero,
            "m2mrealized": zero,
            "utiliseddebits": money(self.debits(client_code)),
            "utilisedspan": zero,
            "utilisedoptionpremium": zero,
            "utilisedholdingsales": zero,
            "utilisedexposure": zero,
            "utilisedturnover": zero,
            "utilisedpayout": zero,
        })
    }

    /// `getPosition`: one flat list, numbers as strings.
    pub fn positions_json(&self, client_code: &str) -> Vec<Value> {
        let Some(a) = self.accounts.get(client_code) else { return Vec::new() };
        a.positions
            .iter()
            .map(|((exchange, token, product), p)| {
                let ltp = self.ltp(exchange, token);
                let close = self.instrument(exchange, token).map(|i| i.ohlc[3]).unwrap_or(0.0);
                let net_qty = p.buy_quantity - p.sell_quantity;
                let avg = |v: f64, q: i64| if q > 0 { v / q as f64 } else { 0.0 };
                let (buy_avg, sell_avg) = (avg(p.buy_value, p.buy_quantity), avg(p.sell_value, p.sell_quantity));
                let net_value = p.sell_value - p.buy_value;
                let pnl = net_value + net_qty as f64 * ltp;
                let realised = p.buy_quantity.min(p.sell_quantity) as f64 * (sell_avg - buy_avg);
                let net_price = match net_qty {
                    q if q > 0 => buy_avg,
                    q if q < 0 => sell_avg,
                    _ => 0.0,
                };
                let fields: [(&str, Value); 43] = [
                    ("exchange", json!(exchange)),
                    ("symboltoken", json!(token)),
                    ("producttype", json!(product)),
                    ("tradingsymbol", json!(p.tradingsymbol)),
                    ("symbolname", json!(p.tradingsymbol.trim_end_matches("-EQ"))),
                    ("instrumenttype", json!("")),
                    ("priceden", json!("1.00")),
                    ("pricenum", json!("1.00")),
                    ("genden", json!("1.00")),
                    ("gennum", json!("1.00")),
                    ("precision", json!("2")),
                    ("multiplier", json!("-1")),
                    ("boardlotsize", json!("1")),
                    ("buyqty", json!(p.buy_quantity.to_string())),
                    ("sellqty", json!(p.sell_quantity.to_string())),
                    ("buyamount", json!(money(p.buy_value))),
                    ("sellamount", json!(money(p.sell_value))),
                    ("symbolgroup", json!("EQ")),
                    ("strikeprice", json!("-1")),
                    ("optiontype", json!("")),
                    ("expirydate", json!("")),
                    ("lotsize", json!("1")),
                    ("cfbuyqty", json!("0")),
                    ("cfsellqty", json!("0")),
                    ("cfbuyamount", json!("0.00")),
                    ("cfsellamount", json!("0.00")),
                    ("buyavgprice", json!(money(buy_avg))),
                    ("sellavgprice", json!(money(sell_avg))),
                    ("avgnetprice", json!(money(net_price))),
                    ("netvalue", json!(money(net_value))),
                    ("netqty", json!(net_qty.to_string())),
                    ("totalbuyvalue", json!(money(p.buy_value))),
                    ("totalsellvalue", json!(money(p.sell_value))),
                    ("cfbuyavgprice", json!("0.00")),
                    ("cfsellavgprice", json!("0.00")),
                    ("totalbuyavgprice", json!(money(buy_avg))),
                    ("totalsellavgprice", json!(money(sell_avg))),
                    ("netprice", json!(money(net_price))),
                    ("pnl", json!(money(pnl))),
                    ("realised", json!(money(realised))),
                    ("unrealised", json!(money(pnl - realised))),
                    ("ltp", json!(money(ltp))),
                    ("close", json!(money(close))),
                ];
                Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            })
            .collect()
    }

    /// `getHolding`: numbers as JSON numbers, as the docs show them.
    pub fn holdings_json(&self, client_code: &str) -> Vec<Value> {
        let Some(a) = self.accounts.get(client_code) else { return Vec::new() };
        a.holdings
            .iter()
            .map(|h| {
                let ltp = self.ltp(&h.exchange, &h.token);
                let pnl = round2((ltp - h.average_price) * h.quantity as f64);
                let invested = h.average_price * h.quantity as f64;
                json!({
                    "tradingsymbol": h.tradingsymbol,
                    "exchange": h.exchange,
                    "isin": format!("INE{:0>9}", h.token),
                    "t1quantity": 0,
                    "realisedquantity": h.quantity,
                    "quantity": h.quantity,
                    "authorisedquantity": 0,
                    "product": "DELIVERY",
                    "collateralquantity": null,
                    "collateraltype": null,
                    "haircut": 0,
                    "averageprice": h.average_price,
                    "ltp": ltp,
                    "symboltoken": h.token,
                    "close": ltp,
                    "profitandloss": pnl,
                    "pnlpercentage": if invested > 0.0 { round2(pnl / invested * 100.0) } else { 0.0 },
                })
            })
            .collect()
    }

    /// `getAllHolding`: the holdings and their totals.
    pub fn all_holdings_json(&self, client_code: &str) -> Value {
        let holdings = self.holdings_json(client_code);
        let sum = |k: &str| holdings.iter().filter_map(|h| h.get(k).and_then(Value::as_f64)).sum::<f64>();
        let value: f64 =
            holdings.iter().filter_map(|h| Some(h.get("ltp")?.as_f64()? * h.get("quantity")?.as_f64()?)).sum();
        let invested: f64 =
            holdings.iter().filter_map(|h| Some(h.get("averageprice")?.as_f64()? * h.get("quantity")?.as_f64()?)).sum();
        let pnl = sum("profitandloss");
        json!({
            "holdings": holdings,
            "totalholding": {
                "totalholdingvalue": round2(value),
                "totalinvvalue": round2(invested),
                "totalprofitandloss": round2(pnl),
                "totalpnlpercentage": if invested > 0.0 { round2(pnl / invested * 100.0) } else { 0.0 },
            },
        })
    }
}
