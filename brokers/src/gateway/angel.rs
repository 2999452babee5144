//! An Angel One SmartAPI login behind the broker gateway ([`super::broker`]).
//!
//! Angel acknowledges a place with its order id (and a unique order id, for
//! `details/{id}`); the order book and the trade book say what became of it. A session lasts
//! until midnight IST and needs no person to start: with the login's MPIN and TOTP seed the
//! gateway logs in again by itself when the session expires (at midnight, or when Angel refuses
//! the token), at most once a minute, so an unattended engine trades the next morning.
//!
//! An order needs Angel's symbol token (the instrument master's `token`), which the
//! configuration carries as `tokens = { angel = … }` (`dalal instruments import --broker
//! angel`); an instrument without one is refused with [`code::NO_BROKER_SYMBOL`], never sent.

use std::sync::mpsc;

use dalal_core::model::{
    InstrumentSpec, Order, OrderType as CoreType, Price, Product as CoreProduct, Qty, Segment, Side, Timestamp,
    Validity as CoreValidity, VenueReport,
};

use super::broker::{BookLine, BrokerApi, BrokerFill, GatewayConfig, UpdateSink, UpdateStream};
use super::{code, GatewayHandle, InFlight};
use crate::angel::error::{AngelError, RequestKind as AngelRequest};
use crate::angel::model::{Order as AngelOrder, Tokens};
use crate::angel::order_updates::{OrderUpdates, OrderUpdatesConfig};
use crate::angel::params::{Duration, ModifyOrder, OrderType, PlaceOrder, Product, TransactionType, Variety};
use crate::angel::rest::AngelClient;
use crate::kind::BrokerKind;
use crate::money::{paise_to_rupees, rupees_to_paise};
use crate::secret::Secret;

/// Where an instrument trades at Angel One.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AngelSymbol {
    /// `NSE`, `NFO`.
    pub exchange: String,
    /// `SBIN-EQ`: Angel's cash symbols carry the series.
    pub tradingsymbol: String,
    /// The instrument master's token.
    pub token: String,
}

impl AngelSymbol {
    /// Dalal's instrument at Angel, given its Angel token: NSE cash as `SYMBOL-EQ`,
    /// derivatives on NFO under the configured symbol (Angel's own, as its master names it).
    pub fn of(spec: &InstrumentSpec, token: Option<u64>) -> Option<AngelSymbol> {
        let token = token?.to_string();
        Some(match spec.segment {
            Segment::Equity => {
                let symbol =
                    if spec.symbol.contains('-') { spec.symbol.clone() } else { format!("{}-EQ", spec.symbol) };
                AngelSymbol { exchange: "NSE".into(), tradingsymbol: symbol, token }
            }
            Segment::Futures | Segment::Options => {
                AngelSymbol { exchange: "NFO".into(), tradingsymbol: spec.symbol.clone(), token }
            }
        })
    }
}

/// What the gateway needs to log in again by itself.
#[derive(Clone, Debug)]
pub struct AngelCredentials {
    pub mpin: Secret,
    pub totp_seed: Secret,
}

/// Starts the gateway thread of an Angel One login. With `config.order_updates`, orders are
/// also followed on the order-update socket at `order_updates_root`
/// ([`crate::angel::order_updates::ORDER_UPDATE_ROOT`], or a test server's).
pub fn spawn(
    config: GatewayConfig,
    client: AngelClient,
    credentials: Option<AngelCredentials>,
    symbols: Vec<Option<AngelSymbol>>,
    order_updates_root: String,
    reports: mpsc::Sender<VenueReport>,
    in_flight: InFlight,
) -> std::io::Result<(GatewayHandle, std::thread::JoinHandle<()>)> {
    let api = AngelApi { client, credentials, symbols, order_updates_root };
    super::broker::spawn(config, api, reports, in_flight)
}

/// Angel's sessions end at midnight IST (brokers.md §2.3): the next midnight after `login`.
pub fn angel_token_expiry(login: Timestamp) -> Timestamp {
    const DAY: i64 = 24 * 3600 * 1_000_000_000;
    Timestamp(login.ist_midnight().0.saturating_add(DAY))
}

struct AngelApi {
    client: AngelClient,
    credentials: Option<AngelCredentials>,
    symbols: Vec<Option<AngelSymbol>>,
    order_updates_root: String,
}

/// Angel's view of an order (a line of the book, or an order update's `orderData`).
fn line_of(o: AngelOrder) -> BookLine {
    BookLine {
        state: o.state(),
        filled: o.filledshares,
        tag: (!o.ordertag.is_empty()).then_some(o.ordertag),
        broker_id: o.orderid,
        message: o.text,
    }
}

impl BrokerApi for AngelApi {
    type Placed = PlaceOrder;
    type Error = AngelError;

    fn broker(&self) -> BrokerKind {
        BrokerKind::Angel
    }

    fn has_session(&self) -> bool {
        self.client.has_session()
    }

    /// A JWT from `dalal broker login`: the refresh and feed tokens of the session in hand
    /// are kept (the vault watcher passes the JWT alone).
    fn set_token(&mut self, token: Option<Secret>) {
        let tokens = token.map(|jwt| match self.client.tokens() {
            Some(t) => Tokens { jwt, ..t.clone() },
            None => Tokens { jwt, refresh: Secret::new(""), feed: Secret::new(""), state: String::new() },
        });
        self.client.set_tokens(tokens);
    }

    fn token_expiry(&self, login: Timestamp) -> Timestamp {
        angel_token_expiry(login)
    }

    fn place_request(&self, order: &Order, tag: &str) -> Result<PlaceOrder, (u16, String)> {
        let i = order.intent;
        let symbol = self
            .symbols
            .get(i.instrument.index())
            .and_then(Option::as_ref)
            .ok_or((code::NO_BROKER_SYMBOL, "no Angel One symbol token for the instrument".to_string()))?;
        let (ordertype, price, trigger) = match i.order_type {
            CoreType::Market => (OrderType::Market, Price::ZERO, Price::ZERO),
            CoreType::Limit => (OrderType::Limit, i.price, Price::ZERO),
            CoreType::StopLimit => (OrderType::StopLossLimit, i.price, i.trigger),
            CoreType::StopMarket => (OrderType::StopLossMarket, Price::ZERO, i.trigger),
        };
        let stop = matches!(ordertype, OrderType::StopLossLimit | OrderType::StopLossMarket);
        let variety = match (i.amo, stop) {
            (true, true) => return Err((code::NOT_EXPRESSIBLE, "Angel One takes no after-market stop-loss".into())),
            (true, false) => Variety::Amo,
            (false, true) => Variety::StopLoss,
            (false, false) => Variety::Normal,
        };
        let placed = PlaceOrder {
            variety,
            tradingsymbol: symbol.tradingsymbol.clone(),
            symboltoken: symbol.token.clone(),
            transactiontype: match i.side {
                Side::Buy => TransactionType::Buy,
                Side::Sell => TransactionType::Sell,
            },
            exchange: symbol.exchange.clone(),
            ordertype,
            producttype: match i.product {
                CoreProduct::Cnc => Product::Delivery,
                CoreProduct::Mis => Product::Intraday,
                CoreProduct::Nrml => Product::CarryForward,
            },
            duration: match i.validity {
                CoreValidity::Day => Duration::Day,
                CoreValidity::Ioc => Duration::Ioc,
            },
            price: paise_to_rupees(price.0),
            triggerprice: paise_to_rupees(trigger.0),
            quantity: i.qty.0,
            ordertag: Some(tag.to_string()),
        };
        placed.validate().map_err(|why| (code::NOT_EXPRESSIBLE, why))?;
        Ok(placed)
    }

    fn describe(&self, placed: &PlaceOrder) -> String {
        placed.body().to_string()
    }

    async fn place(&self, placed: &PlaceOrder) -> Result<String, AngelError> {
        let reply = self.client.place_order(placed).await?;
        if reply.orderid.is_empty() {
            // Accepted without an id to follow it by: as good as a lost answer.
            return Err(AngelError::Malformed {
                request: AngelRequest::PlaceOrder,
                path: "placeOrder".into(),
                status: 200,
                detail: "the answer has no orderid".into(),
            });
        }
        Ok(reply.orderid)
    }

    /// Angel wants the whole order again: what does not change is restated as placed.
    async fn modify(
        &self,
        broker_id: &str,
        placed: &PlaceOrder,
        qty: Qty,
        price: Price,
        trigger: Price,
    ) -> Result<(), AngelError> {
        let mut order = placed.clone();
        if !qty.is_zero() {
            order.quantity = qty.0;
        }
        if price.is_positive() {
            order.price = paise_to_rupees(price.0);
        }
        if trigger.is_positive() {
            order.triggerprice = paise_to_rupees(trigger.0);
        }
        self.client.modify_order(&ModifyOrder { orderid: broker_id.to_string(), order }).await.map(|_| ())
    }

    async fn cancel(&self, broker_id: &str, placed: &PlaceOrder) -> Result<(), AngelError> {
        self.client.cancel_order(placed.variety, broker_id).await.map(|_| ())
    }

    async fn book(&self) -> Result<Vec<BookLine>, AngelError> {
        Ok(self.client.order_book().await?.into_iter().map(line_of).collect())
    }

    /// Angel has no per-order trade list: the day's trade book, this order's fills.
    async fn fills(&self, broker_id: &str) -> Result<Vec<BrokerFill>, AngelError> {
        Ok(self
            .client
            .trade_book()
            .await?
            .into_iter()
            .filter(|t| t.orderid == broker_id)
            .map(|t| BrokerFill { price: rupees_to_paise(t.fillprice).ok(), qty: t.fillsize, trade_id: t.fillid })
            .collect())
    }

    /// The order-update socket of the session in hand (Angel pushes every status change of
    /// the client's orders, `orderData` in the order book's shape).
    fn open_updates(&mut self, sink: UpdateSink) -> Option<UpdateStream> {
        let tokens = self.client.tokens()?;
        let mut cfg = OrderUpdatesConfig::new(
            self.client.api_key(),
            self.client.client_code(),
            tokens.jwt.clone(),
            tokens.feed.clone(),
        );
        cfg.ws_root = self.order_updates_root.clone();
        match OrderUpdates::start(cfg, Box::new(move |o| sink(line_of(o)))) {
            Ok(updates) => Some(Box::new(updates)),
            Err(e) => {
                tracing::warn!(error = %e, "no Angel One order updates; the order book is read instead");
                None
            }
        }
    }

    async fn relogin(&mut self) -> Option<Result<(), AngelError>> {
        let creds = self.credentials.clone()?;
        Some(self.client.login(&creds.mpin, &creds.totp_seed).await.map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_at_the_next_midnight_ist() {
        // 2024-01-02 10:00 IST = 04:30 UTC; the next midnight IST is 2024-01-02 18:30 UTC.
        let ten_am = Timestamp(1_704_169_800_000_000_000);
        assert_eq!(angel_token_expiry(ten_am), Timestamp(1_704_220_200_000_000_000));
    }
}
