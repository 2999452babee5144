//! An Upstox login behind the broker gateway ([`super::broker`]).
//!
//! Upstox acknowledges a place (v3, slicing off: one request, one order) with its order id;
//! the order book and the order's trades say what became of it. Its access tokens expire at
//! about 03:30 IST the next day and need a browser login (OAuth), so an expired session waits
//! for `dalal broker login`, as Kite's does.
//!
//! Upstox names an instrument by its `instrument_key` (`NSE_EQ|INE002A01018`), which the
//! configuration carries as `keys = { upstox = … }` (`dalal instruments import --broker
//! upstox`); an instrument without one is refused with [`code::NO_BROKER_SYMBOL`], never sent.

use std::sync::mpsc;

use dalal_core::model::{
    Order, OrderType as CoreType, Price, Product as CoreProduct, Qty, Side, Timestamp, Validity as CoreValidity,
    VenueReport,
};

use super::broker::{BookLine, BrokerApi, BrokerFill, GatewayConfig, UpdateSink, UpdateStream};
use super::{code, GatewayHandle, InFlight};
use crate::kind::BrokerKind;
use crate::money::{paise_to_rupees, rupees_to_paise};
use crate::secret::Secret;
use crate::upstox::error::UpstoxError;
use crate::upstox::model::Order as UpstoxOrder;
use crate::upstox::params::{ModifyOrder, OrderType, PlaceOrder, Product, TransactionType, Validity};
use crate::upstox::portfolio::{PortfolioStream, PortfolioStreamConfig};
use crate::upstox::rest::{token_expiry, UpstoxClient};

/// Where an instrument trades at Upstox: its instrument key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstoxSymbol {
    pub instrument_key: String,
}

impl UpstoxSymbol {
    pub fn of(key: Option<&str>) -> Option<UpstoxSymbol> {
        key.filter(|k| !k.trim().is_empty()).map(|k| UpstoxSymbol { instrument_key: k.to_string() })
    }
}

/// What a gateway needs to open the portfolio stream for order updates.
pub type PortfolioOpener = Box<dyn FnMut(&UpstoxClient, UpdateSink) -> Option<UpdateStream> + Send>;

/// The portfolio stream of the session in hand (Upstox's authorize endpoint on the client's
/// root gives its one-time URL), each order update applied like a line of the book.
pub fn portfolio_stream() -> PortfolioOpener {
    Box::new(|client, sink| {
        let cfg = PortfolioStreamConfig::for_client(client)?;
        match PortfolioStream::start(cfg, Box::new(move |o| sink(line_of(&o)))) {
            Ok(stream) => Some(Box::new(stream) as UpdateStream),
            Err(e) => {
                tracing::warn!(error = %e, "no Upstox order updates; the order book is read instead");
                None
            }
        }
    })
}

/// Starts the gateway thread of an Upstox login. `updates` opens the login's order-update
/// stream when `config.order_updates` asks for it (`None`: the book alone).
pub fn spawn(
    config: GatewayConfig,
    client: UpstoxClient,
    symbols: Vec<Option<UpstoxSymbol>>,
    updates: Option<PortfolioOpener>,
    reports: mpsc::Sender<VenueReport>,
    in_flight: InFlight,
) -> std::io::Result<(GatewayHandle, std::thread::JoinHandle<()>)> {
    super::broker::spawn(config, UpstoxApi { client, symbols, updates }, reports, in_flight)
}

struct UpstoxApi {
    client: UpstoxClient,
    symbols: Vec<Option<UpstoxSymbol>>,
    updates: Option<PortfolioOpener>,
}

/// Upstox's view of an order (a line of the book, or a portfolio-stream update).
pub fn line_of(o: &UpstoxOrder) -> BookLine {
    BookLine {
        broker_id: o.order_id.clone(),
        tag: o.tag.clone().filter(|t| !t.is_empty()),
        state: o.state(),
        filled: o.filled_quantity,
        message: o.status_message.clone().unwrap_or_default(),
    }
}

impl BrokerApi for UpstoxApi {
    type Placed = PlaceOrder;
    type Error = UpstoxError;

    fn broker(&self) -> BrokerKind {
        BrokerKind::Upstox
    }

    fn has_session(&self) -> bool {
        self.client.has_session()
    }

    fn set_token(&mut self, token: Option<Secret>) {
        self.client.set_access_token(token);
    }

    fn token_expiry(&self, login: Timestamp) -> Timestamp {
        token_expiry(login)
    }

    fn place_request(&self, order: &Order, tag: &str) -> Result<PlaceOrder, (u16, String)> {
        let i = order.intent;
        let symbol = self
            .symbols
            .get(i.instrument.index())
            .and_then(Option::as_ref)
            .ok_or((code::NO_BROKER_SYMBOL, "no Upstox instrument key for the instrument".to_string()))?;
        let quantity = u32::try_from(i.qty.0).map_err(|_| (code::NOT_EXPRESSIBLE, "quantity too large".to_string()))?;
        let (order_type, price, trigger) = match i.order_type {
            CoreType::Market => (OrderType::Market, Price::ZERO, Price::ZERO),
            CoreType::Limit => (OrderType::Limit, i.price, Price::ZERO),
            CoreType::StopLimit => (OrderType::Sl, i.price, i.trigger),
            CoreType::StopMarket => (OrderType::SlM, Price::ZERO, i.trigger),
        };
        let mut placed = PlaceOrder::new(
            &symbol.instrument_key,
            match i.side {
                Side::Buy => TransactionType::Buy,
                Side::Sell => TransactionType::Sell,
            },
            quantity,
            // Upstox's `D` is delivery for cash and carry-forward for derivatives.
            match i.product {
                CoreProduct::Mis => Product::Intraday,
                CoreProduct::Cnc | CoreProduct::Nrml => Product::Delivery,
            },
            order_type,
            paise_to_rupees(price.0),
        );
        placed.trigger_price = paise_to_rupees(trigger.0);
        placed.validity = match i.validity {
            CoreValidity::Day => Validity::Day,
            CoreValidity::Ioc => Validity::Ioc,
        };
        placed.is_amo = i.amo;
        placed.tag = Some(tag.to_string());
        placed.validate().map_err(|why| (code::NOT_EXPRESSIBLE, why))?;
        Ok(placed)
    }

    fn describe(&self, placed: &PlaceOrder) -> String {
        format!("{placed:?}")
    }

    async fn place(&self, placed: &PlaceOrder) -> Result<String, UpstoxError> {
        let reply = self.client.place_order(placed).await?;
        Ok(reply.order_id().to_string())
    }

    /// Upstox wants the type, validity, price and trigger again: what does not change is
    /// restated as placed.
    async fn modify(
        &self,
        broker_id: &str,
        placed: &PlaceOrder,
        qty: Qty,
        price: Price,
        trigger: Price,
    ) -> Result<(), UpstoxError> {
        let change = ModifyOrder {
            order_id: broker_id.to_string(),
            order_type: placed.order_type,
            validity: placed.validity,
            price: if price.is_positive() { paise_to_rupees(price.0) } else { placed.price },
            trigger_price: if trigger.is_positive() { paise_to_rupees(trigger.0) } else { placed.trigger_price },
            quantity: (!qty.is_zero()).then(|| u32::try_from(qty.0).unwrap_or(u32::MAX)),
            disclosed_quantity: None,
            market_protection: None,
        };
        self.client.modify_order(&change).await.map(|_| ())
    }

    async fn cancel(&self, broker_id: &str, _placed: &PlaceOrder) -> Result<(), UpstoxError> {
        self.client.cancel_order(broker_id).await.map(|_| ())
    }

    async fn book(&self) -> Result<Vec<BookLine>, UpstoxError> {
        Ok(self.client.order_book().await?.iter().map(line_of).collect())
    }

    async fn fills(&self, broker_id: &str) -> Result<Vec<BrokerFill>, UpstoxError> {
        Ok(self
            .client
            .order_trades(broker_id)
            .await?
            .into_iter()
            .map(|t| BrokerFill { price: rupees_to_paise(t.average_price).ok(), qty: t.quantity, trade_id: t.trade_id })
            .collect())
    }

    fn open_updates(&mut self, sink: UpdateSink) -> Option<UpdateStream> {
        let open = self.updates.as_mut()?;
        open(&self.client, sink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_real_key_is_a_symbol() {
        assert_eq!(
            UpstoxSymbol::of(Some("NSE_EQ|INE002A01018")).map(|s| s.instrument_key),
            Some("NSE_EQ|INE002A01018".into())
        );
        assert_eq!(UpstoxSymbol::of(Some("  ")), None);
        assert_eq!(UpstoxSymbol::of(None), None);
    }
}
