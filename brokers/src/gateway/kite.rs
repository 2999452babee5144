//! A Kite Connect login behind the broker gateway ([`super::broker`]).
//!
//! Kite acknowledges a place with its order id; fills, cancellations and refusals after
//! acceptance arrive as order updates on the login's ticker socket (`{"type":"order"}` texts,
//! brokers.md §1.11) and in the order book; an order's fills are read from
//! `/orders/{id}/trades`. Kite's tokens expire at 06:00 IST the next day and need a browser
//! login, so an expired session waits for `dalal broker login`.

use std::sync::mpsc;
use std::time::Duration;

use dalal_core::model::{
    InstrumentSpec, Order, OrderType as CoreType, Price, Product as CoreProduct, Qty, Segment, Side, Timestamp,
    Validity as CoreValidity, VenueId, VenueReport,
};

use super::broker::{BookLine, BrokerApi, BrokerFill, GatewayConfig, UpdateSink, UpdateStream};
use super::session::{kite_token_expiry, WallClock};
use super::{code, GatewayHandle, InFlight};
use crate::kind::BrokerKind;
use crate::kite::error::KiteError;
use crate::kite::feed::{KiteFeed, KiteFeedConfig, OrderUpdate};
use crate::kite::model::Order as KiteOrder;
use crate::kite::params::{ModifyOrder, OrderType, PlaceOrder, Product, TransactionType, Validity, Variety};
use crate::kite::rest::KiteClient;
use crate::money::paise_to_rupees;
use crate::secret::Secret;

pub use super::broker::tag_of;

/// How a Kite gateway runs.
#[derive(Clone, Debug)]
pub struct KiteGatewayConfig {
    pub venue: VenueId,
    /// The login's name, for logs and the session status.
    pub login: String,
    pub orders_per_second: u32,
    /// How often the order book is read while orders work.
    pub poll_every: Duration,
    /// See [`GatewayConfig::idle_check`].
    pub idle_check: Option<Duration>,
    /// Requests waiting for the gateway before the engine waits for it.
    pub queue: usize,
    /// The ticker root (`wss://ws.kite.trade`) to take order updates from; `None` leaves the
    /// gateway to the order book alone.
    pub order_updates: Option<String>,
    /// The clock token expiry is judged by.
    pub clock: WallClock,
}

/// Where an instrument trades at Kite: its exchange and trading symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KiteSymbol {
    pub exchange: String,
    pub tradingsymbol: String,
}

impl KiteSymbol {
    /// Dalal's instrument under the same symbol at Kite: NSE for cash, NFO for derivatives.
    pub fn of(spec: &InstrumentSpec) -> KiteSymbol {
        let exchange = match spec.segment {
            Segment::Equity => "NSE",
            Segment::Futures | Segment::Options => "NFO",
        };
        KiteSymbol { exchange: exchange.into(), tradingsymbol: spec.symbol.clone() }
    }
}

/// Starts the gateway thread of a Kite login. Reports go to `reports`.
/// Gateways that report to the same tap share `in_flight`.
pub fn spawn(
    config: KiteGatewayConfig,
    client: KiteClient,
    symbols: Vec<Option<KiteSymbol>>,
    reports: mpsc::Sender<VenueReport>,
    in_flight: InFlight,
) -> std::io::Result<(GatewayHandle, std::thread::JoinHandle<()>)> {
    let gateway = GatewayConfig {
        venue: config.venue,
        login: config.login,
        orders_per_second: config.orders_per_second,
        poll_every: config.poll_every,
        idle_check: config.idle_check,
        queue: config.queue,
        order_updates: config.order_updates.is_some(),
        clock: config.clock,
    };
    let api = KiteApi { client, symbols, ticker_root: config.order_updates };
    super::broker::spawn(gateway, api, reports, in_flight)
}

/// A Kite login as the gateway speaks to it.
struct KiteApi {
    client: KiteClient,
    symbols: Vec<Option<KiteSymbol>>,
    /// The ticker root (`wss://ws.kite.trade`) order updates come on.
    ticker_root: Option<String>,
}

/// Kite's view of an order, as the gateway reads it.
fn line_of(k: &KiteOrder) -> BookLine {
    let tag = k.tag.iter().chain(&k.tags).find(|t| super::reconcile::is_dalal_tag(t)).or(k.tag.as_ref()).cloned();
    BookLine {
        broker_id: k.order_id.clone(),
        tag,
        state: k.state(),
        filled: k.filled_quantity,
        message: k.status_message.clone().unwrap_or_default(),
    }
}

impl BrokerApi for KiteApi {
    type Placed = PlaceOrder;
    type Error = KiteError;

    fn broker(&self) -> BrokerKind {
        BrokerKind::Kite
    }

    fn has_session(&self) -> bool {
        self.client.has_session()
    }

    fn set_token(&mut self, token: Option<Secret>) {
        self.client.set_access_token(token);
    }

    fn token_expiry(&self, login: Timestamp) -> Timestamp {
        kite_token_expiry(login)
    }

    fn place_request(&self, order: &Order, tag: &str) -> Result<PlaceOrder, (u16, String)> {
        let i = order.intent;
        let symbol = self
            .symbols
            .get(i.instrument.index())
            .and_then(Option::as_ref)
            .ok_or((code::NO_BROKER_SYMBOL, "no Kite symbol for the instrument".to_string()))?;
        let quantity = u32::try_from(i.qty.0).map_err(|_| (code::NOT_EXPRESSIBLE, "quantity too large".to_string()))?;
        let (order_type, price, trigger) = match i.order_type {
            CoreType::Market => (OrderType::Market, None, None),
            CoreType::Limit => (OrderType::Limit, Some(i.price), None),
            CoreType::StopLimit => (OrderType::Sl, Some(i.price), Some(i.trigger)),
            CoreType::StopMarket => (OrderType::SlM, None, Some(i.trigger)),
        };
        Ok(PlaceOrder {
            variety: if i.amo { Variety::Amo } else { Variety::Regular },
            exchange: symbol.exchange.clone(),
            tradingsymbol: symbol.tradingsymbol.clone(),
            transaction_type: match i.side {
                Side::Buy => TransactionType::Buy,
                Side::Sell => TransactionType::Sell,
            },
            quantity,
            product: match i.product {
                CoreProduct::Cnc => Product::Cnc,
                CoreProduct::Mis => Product::Mis,
                CoreProduct::Nrml => Product::Nrml,
            },
            order_type,
            price: price.map(|p: Price| paise_to_rupees(p.0)),
            trigger_price: trigger.map(|p: Price| paise_to_rupees(p.0)),
            validity: Some(match i.validity {
                CoreValidity::Day => Validity::Day,
                CoreValidity::Ioc => Validity::Ioc,
            }),
            disclosed_quantity: None,
            tag: Some(tag.to_string()),
        })
    }

    fn describe(&self, placed: &PlaceOrder) -> String {
        format!("{} {:?}", placed.variety, placed.form())
    }

    async fn place(&self, placed: &PlaceOrder) -> Result<String, KiteError> {
        self.client.place_order(placed).await
    }

    async fn modify(
        &self,
        broker_id: &str,
        placed: &PlaceOrder,
        qty: Qty,
        price: Price,
        trigger: Price,
    ) -> Result<(), KiteError> {
        let change = ModifyOrder {
            quantity: (!qty.is_zero()).then(|| u32::try_from(qty.0).unwrap_or(u32::MAX)),
            price: price.is_positive().then(|| paise_to_rupees(price.0)),
            trigger_price: trigger.is_positive().then(|| paise_to_rupees(trigger.0)),
            ..ModifyOrder::default()
        };
        self.client.modify_order(placed.variety, broker_id, &change).await.map(|_| ())
    }

    async fn cancel(&self, broker_id: &str, placed: &PlaceOrder) -> Result<(), KiteError> {
        self.client.cancel_order(placed.variety, broker_id).await.map(|_| ())
    }

    async fn book(&self) -> Result<Vec<BookLine>, KiteError> {
        Ok(self.client.orders().await?.iter().map(line_of).collect())
    }

    async fn fills(&self, broker_id: &str) -> Result<Vec<BrokerFill>, KiteError> {
        Ok(self
            .client
            .order_trades(broker_id)
            .await?
            .into_iter()
            .map(|t| BrokerFill { price: t.price_paise().ok(), qty: t.quantity, trade_id: t.trade_id })
            .collect())
    }

    /// Order updates come on a ticker connection of their own that asks for no market data.
    fn open_updates(&mut self, sink: UpdateSink) -> Option<UpdateStream> {
        let (Some(root), Some(token)) = (&self.ticker_root, self.client.access_token()) else { return None };
        let mut cfg = KiteFeedConfig::new(self.client.api_key(), token.clone(), Vec::new());
        cfg.ws_root = root.clone();
        // No market data is asked for on this connection: nothing queues for an engine.
        cfg.queue = 1;
        let on_order = Box::new(move |u: OrderUpdate| sink(line_of(&u.order)));
        match KiteFeed::start(cfg, Some(on_order)) {
            Ok(feed) => Some(Box::new(feed)),
            Err(e) => {
                tracing::warn!(error = %e, "no order updates from the ticker; the order book is read instead");
                None
            }
        }
    }
}
