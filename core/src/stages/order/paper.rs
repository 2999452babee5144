//! The paper exchange: a deterministic simulated venue. MARKET orders fill at the last trade
//! plus configurable slippage; LIMIT orders rest and fill when the market trades through the
//! limit (a print strictly better than the limit proves a counterparty was there) or, if
//! configured, touches it, up to the printed quantity; stop orders trigger when the last trade
//! crosses the trigger.
//!
//! It runs in line with the order stage so paper trading is exactly reproducible from the
//! ingress sequence; broker gateways instead consume the egress ring and send their acks and
//! fills back through the ingress ring.

use serde::Deserialize;

use crate::model::Tick;
use crate::model::{InstrumentSpec, OrderId, OrderType, Price, Qty, Side, Timestamp};

/// Price paid beyond the touch by market and stop-market orders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Slippage {
    #[default]
    None,
    /// A fixed number of ticks.
    Ticks(u32),
    /// Basis points of the price, rounded up to the tick.
    Bps(u32),
}

/// Slippage as config files spell it: `{ kind = "ticks", value = 1 }`.
#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
enum SlippageText {
    None,
    Ticks(u32),
    Bps(u32),
}

/// Slippage in binary formats (snapshots), which cannot read a tag by name.
#[derive(Deserialize, serde::Serialize)]
enum SlippageBinary {
    None,
    Ticks(u32),
    Bps(u32),
}

impl serde::Serialize for Slippage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (*self, s.is_human_readable()) {
            (Slippage::None, true) => SlippageText::None.serialize(s),
            (Slippage::Ticks(n), true) => SlippageText::Ticks(n).serialize(s),
            (Slippage::Bps(n), true) => SlippageText::Bps(n).serialize(s),
            (Slippage::None, false) => SlippageBinary::None.serialize(s),
            (Slippage::Ticks(n), false) => SlippageBinary::Ticks(n).serialize(s),
            (Slippage::Bps(n), false) => SlippageBinary::Bps(n).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Slippage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(if d.is_human_readable() {
            match SlippageText::deserialize(d)? {
                SlippageText::None => Slippage::None,
                SlippageText::Ticks(n) => Slippage::Ticks(n),
                SlippageText::Bps(n) => Slippage::Bps(n),
            }
        } else {
            match SlippageBinary::deserialize(d)? {
                SlippageBinary::None => Slippage::None,
                SlippageBinary::Ticks(n) => Slippage::Ticks(n),
                SlippageBinary::Bps(n) => Slippage::Bps(n),
            }
        })
    }
}

/// When a resting limit order fills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitFill {
    /// Only on a print strictly through the limit: conservative, no queue-position guess.
    #[default]
    TradeThrough,
    /// On a print at the limit or through it.
    Touch,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VenueConfig {
    pub slippage: Slippage,
    pub limit_fill: LimitFill,
}

impl VenueConfig {
    /// The price a market order pays at a touch of `px`.
    fn slipped(&self, side: Side, px: Price, tick: Price) -> Price {
        let t = tick.0.max(1);
        let d = match self.slippage {
            Slippage::None => 0,
            Slippage::Ticks(n) => n as i64 * t,
            Slippage::Bps(b) => {
                let raw = ((px.0 as i128 * b as i128 + 9_999) / 10_000) as i64;
                (raw + t - 1) / t * t
            }
        };
        match side {
            Side::Buy => Price(px.0.saturating_add(d)),
            Side::Sell => Price((px.0 - d).max(t)),
        }
    }
}

/// A working order as the venue needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Resting {
    id: OrderId,
    side: Side,
    order_type: OrderType,
    limit: Price,
    trigger: Price,
    remaining: Qty,
    triggered: bool,
}

/// What happened to a new order at the venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Placement {
    /// Filled at once, completely.
    Filled(Price),
    /// Working (resting limit, or waiting stop).
    Resting,
    /// No trade seen yet for the instrument, so a market order has no price.
    NoMarket,
}

/// Venue events produced while matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum VenueEvent {
    Fill { id: OrderId, price: Price, qty: Qty },
    Triggered { id: OrderId },
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct PaperVenue {
    config: VenueConfig,
    ticks: Vec<Price>,
    last: Vec<Price>,
    /// Best bid and ask per instrument; zero when the feed has no quotes.
    touch: Vec<(Price, Price)>,
    resting: Vec<Vec<Resting>>,
}

impl PaperVenue {
    pub fn new(instruments: &[InstrumentSpec], config: VenueConfig) -> Self {
        let n = instruments.len();
        PaperVenue {
            config,
            ticks: instruments.iter().map(|i| i.tick_size).collect(),
            last: vec![Price::ZERO; n],
            touch: vec![(Price::ZERO, Price::ZERO); n],
            resting: (0..n).map(|_| Vec::with_capacity(16)).collect(),
        }
    }

    /// Records the best bid and ask.
    pub fn on_quote(&mut self, instrument: usize, bid: Price, ask: Price) {
        if let Some(t) = self.touch.get_mut(instrument) {
            *t = (bid, ask);
        }
    }

    /// Where a market order on `side` trades before slippage: the far touch when the feed has
    /// quotes, the last trade otherwise.
    fn touch_price(&self, instrument: usize, side: Side) -> Price {
        let (bid, ask) = self.touch.get(instrument).copied().unwrap_or_default();
        let quoted = match side {
            Side::Buy => ask,
            Side::Sell => bid,
        };
        if quoted.is_positive() {
            quoted
        } else {
            self.last_price(instrument)
        }
    }

    pub fn last_price(&self, instrument: usize) -> Price {
        self.last.get(instrument).copied().unwrap_or(Price::ZERO)
    }

    pub fn resting_count(&self) -> usize {
        self.resting.iter().map(Vec::len).sum()
    }

    /// Submits a new order. `_ts` is kept for latency models that delay acknowledgement.
    #[allow(clippy::too_many_arguments)]
    pub fn place(
        &mut self,
        id: OrderId,
        instrument: usize,
        side: Side,
        order_type: OrderType,
        qty: Qty,
        limit: Price,
        trigger: Price,
        _ts: Timestamp,
    ) -> Placement {
        let last = self.last_price(instrument);
        let tick = self.ticks.get(instrument).copied().unwrap_or(Price(1));
        let config = self.config;
        let Some(book) = self.resting.get_mut(instrument) else { return Placement::NoMarket };
        let marketable = |limit: Price| match side {
            Side::Buy => limit >= last,
            Side::Sell => limit <= last,
        };
        match order_type {
            OrderType::Market => {
                let touch = self.touch_price(instrument, side);
                if touch.is_positive() {
                    Placement::Filled(config.slipped(side, touch, tick))
                } else {
                    Placement::NoMarket
                }
            }
            OrderType::Limit if last.is_positive() && marketable(limit) => Placement::Filled(last),
            _ => {
                book.push(Resting { id, side, order_type, limit, trigger, remaining: qty, triggered: false });
                Placement::Resting
            }
        }
    }

    /// Changes a working order's remaining quantity and prices; `None` if it is not working.
    ///
    /// A limit order (or a triggered stop-limit) given a new price that is marketable against the
    /// last trade leaves the book and fills at once at the last trade, exactly as a new order at that
    /// price would in [`PaperVenue::place`]: `Some(Placement::Filled(price))` for `remaining`.
    /// Otherwise it keeps working: `Some(Placement::Resting)`.
    pub fn modify(
        &mut self,
        instrument: usize,
        id: OrderId,
        remaining: Qty,
        limit: Price,
        trigger: Price,
    ) -> Option<Placement> {
        let last = self.last_price(instrument);
        let book = self.resting.get_mut(instrument)?;
        let k = book.iter().position(|r| r.id == id)?;
        let r = &mut book[k];
        let repriced = r.limit != limit;
        r.remaining = remaining;
        r.limit = limit;
        r.trigger = trigger;
        let live_limit = r.order_type == OrderType::Limit || (r.order_type == OrderType::StopLimit && r.triggered);
        let marketable = match r.side {
            Side::Buy => limit >= last,
            Side::Sell => limit <= last,
        };
        if live_limit && repriced && last.is_positive() && marketable {
            book.remove(k);
            return Some(Placement::Filled(last));
        }
        Some(Placement::Resting)
    }

    /// Removes a working order; true when it was working. The others keep their time priority.
    pub fn cancel(&mut self, instrument: usize, id: OrderId) -> bool {
        let Some(book) = self.resting.get_mut(instrument) else { return false };
        match book.iter().position(|r| r.id == id) {
            Some(i) => {
                // `remove`, not `swap_remove`: the book is in time order and matching walks it
                // oldest first, so moving the newest order into the gap would let it jump the queue.
                book.remove(i);
                true
            }
            None => false,
        }
    }

    /// A trade print: updates the last price and matches working orders, oldest first.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick, mut on: impl FnMut(VenueEvent)) {
        let i = tick.instrument.index();
        let (Some(last), Some(book)) = (self.last.get_mut(i), self.resting.get_mut(i)) else { return };
        *last = tick.price;
        let tick_size = self.ticks.get(i).copied().unwrap_or(Price(1));
        let config = self.config;
        if book.is_empty() {
            return;
        }
        let px = tick.price;
        let mut available = tick.qty;
        let mut k = 0;
        while k < book.len() {
            let r = &mut book[k];
            let mut just_triggered = false;
            if r.order_type.has_trigger() && !r.triggered {
                let hit = match r.side {
                    Side::Buy => px >= r.trigger,
                    Side::Sell => px <= r.trigger,
                };
                if !hit {
                    k += 1;
                    continue;
                }
                r.triggered = true;
                just_triggered = true;
                on(VenueEvent::Triggered { id: r.id });
            }
            let (fill_px, can) = match r.order_type {
                OrderType::Market | OrderType::StopMarket => (config.slipped(r.side, px, tick_size), true),
                // A stop-limit triggered by this print is a new limit order at this moment: if
                // marketable it trades at the print, as `place` fills a marketable limit at the
                // last trade, not at its (worse) limit price.
                OrderType::StopLimit if just_triggered => {
                    let marketable = match r.side {
                        Side::Buy => px <= r.limit,
                        Side::Sell => px >= r.limit,
                    };
                    (px, marketable)
                }
                OrderType::Limit | OrderType::StopLimit => {
                    let through = match (r.side, config.limit_fill) {
                        (Side::Buy, LimitFill::TradeThrough) => px < r.limit,
                        (Side::Sell, LimitFill::TradeThrough) => px > r.limit,
                        (Side::Buy, LimitFill::Touch) => px <= r.limit,
                        (Side::Sell, LimitFill::Touch) => px >= r.limit,
                    };
                    (r.limit, through)
                }
            };
            if can && !available.is_zero() {
                // Stop-market orders take the whole remainder at the print, like a market
                // order; limits are capped by the printed quantity.
                let q = if r.order_type == OrderType::StopMarket { r.remaining } else { r.remaining.min(available) };
                // A stop-market order may take more than the print showed.
                available = available.saturating_sub(q);
                r.remaining = r.remaining - q;
                on(VenueEvent::Fill { id: r.id, price: fill_px, qty: q });
                if r.remaining.is_zero() {
                    book.remove(k);
                    continue;
                }
            }
            k += 1;
        }
    }

    /// Working order ids on an instrument, oldest first.
    pub fn working(&self, instrument: usize) -> impl Iterator<Item = OrderId> + '_ {
        self.resting.get(instrument).into_iter().flatten().map(|r| r.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InstrumentId, PriceBand, Segment};

    fn spec() -> Vec<InstrumentSpec> {
        vec![InstrumentSpec {
            id: InstrumentId(0),
            symbol: "X".into(),
            segment: Segment::Equity,
            tick_size: Price(5),
            lot_size: Qty(1),
            band: PriceBand::OPEN,
        }]
    }

    fn venue() -> PaperVenue {
        PaperVenue::new(&spec(), VenueConfig::default())
    }

    fn tick(price: i64, qty: u64) -> Tick {
        Tick { instrument: InstrumentId(0), ts: Timestamp(0), price: Price(price), qty: Qty(qty) }
    }

    #[test]
    fn market_needs_a_last_price() {
        let mut v = venue();
        assert_eq!(
            v.place(OrderId(1), 0, Side::Buy, OrderType::Market, Qty(1), Price(0), Price(0), Timestamp(0)),
            Placement::NoMarket
        );
        v.on_tick(&tick(100, 5), |_| {});
        assert_eq!(
            v.place(OrderId(2), 0, Side::Buy, OrderType::Market, Qty(1), Price(0), Price(0), Timestamp(0)),
            Placement::Filled(Price(100))
        );
    }

    #[test]
    fn limit_fills_on_trade_through_partially_by_volume() {
        let mut v = venue();
        v.on_tick(&tick(100, 5), |_| {});
        assert_eq!(
            v.place(OrderId(1), 0, Side::Buy, OrderType::Limit, Qty(10), Price(95), Price(0), Timestamp(0)),
            Placement::Resting
        );
        let mut ev = Vec::new();
        v.on_tick(&tick(95, 50), |e| ev.push(e));
        assert!(ev.is_empty(), "touching the limit is not trading through it");
        v.on_tick(&tick(94, 4), |e| ev.push(e));
        assert_eq!(ev, vec![VenueEvent::Fill { id: OrderId(1), price: Price(95), qty: Qty(4) }]);
        ev.clear();
        v.on_tick(&tick(93, 40), |e| ev.push(e));
        assert_eq!(ev, vec![VenueEvent::Fill { id: OrderId(1), price: Price(95), qty: Qty(6) }]);
        assert_eq!(v.resting_count(), 0);
    }

    #[test]
    fn marketable_limit_fills_at_last() {
        let mut v = venue();
        v.on_tick(&tick(100, 5), |_| {});
        assert_eq!(
            v.place(OrderId(1), 0, Side::Sell, OrderType::Limit, Qty(1), Price(99), Price(0), Timestamp(0)),
            Placement::Filled(Price(100))
        );
    }

    #[test]
    fn stops_trigger_on_cross() {
        let mut v = venue();
        v.on_tick(&tick(100, 5), |_| {});
        v.place(OrderId(1), 0, Side::Sell, OrderType::StopMarket, Qty(3), Price(0), Price(95), Timestamp(0));
        let mut ev = Vec::new();
        v.on_tick(&tick(96, 1), |e| ev.push(e));
        assert!(ev.is_empty());
        v.on_tick(&tick(95, 1), |e| ev.push(e));
        assert_eq!(
            ev,
            vec![
                VenueEvent::Triggered { id: OrderId(1) },
                VenueEvent::Fill { id: OrderId(1), price: Price(95), qty: Qty(3) }
            ]
        );
        assert!(!v.cancel(0, OrderId(1)));
    }

    #[test]
    fn slippage_in_ticks_and_bps() {
        let c = VenueConfig { slippage: Slippage::Ticks(2), limit_fill: LimitFill::TradeThrough };
        assert_eq!(c.slipped(Side::Buy, Price(1000), Price(5)), Price(1010));
        assert_eq!(c.slipped(Side::Sell, Price(1000), Price(5)), Price(990));
        // 7 bps of ₹10.00 = 0.7 paise → one 5-paise tick.
        let c = VenueConfig { slippage: Slippage::Bps(7), limit_fill: LimitFill::TradeThrough };
        assert_eq!(c.slipped(Side::Buy, Price(1000), Price(5)), Price(1005));
        let mut v = PaperVenue::new(&spec(), c);
        v.on_tick(&tick(1000, 1), |_| {});
        assert_eq!(
            v.place(OrderId(1), 0, Side::Sell, OrderType::Market, Qty(1), Price(0), Price(0), Timestamp(0)),
            Placement::Filled(Price(995))
        );
    }

    #[test]
    fn touch_mode_fills_at_the_limit_print() {
        let mut v = PaperVenue::new(&spec(), VenueConfig { slippage: Slippage::None, limit_fill: LimitFill::Touch });
        v.on_tick(&tick(100, 5), |_| {});
        v.place(OrderId(1), 0, Side::Buy, OrderType::Limit, Qty(2), Price(95), Price(0), Timestamp(0));
        let mut ev = Vec::new();
        v.on_tick(&tick(95, 50), |e| ev.push(e));
        assert_eq!(ev, vec![VenueEvent::Fill { id: OrderId(1), price: Price(95), qty: Qty(2) }]);
    }

    #[test]
    fn modify_changes_a_resting_order() {
        let mut v = venue();
        v.on_tick(&tick(100, 5), |_| {});
        v.place(OrderId(1), 0, Side::Buy, OrderType::Limit, Qty(2), Price(90), Price(0), Timestamp(0));
        assert_eq!(v.modify(0, OrderId(1), Qty(3), Price(95), Price(0)), Some(Placement::Resting));
        let mut ev = Vec::new();
        v.on_tick(&tick(94, 50), |e| ev.push(e));
        assert_eq!(ev, vec![VenueEvent::Fill { id: OrderId(1), price: Price(95), qty: Qty(3) }]);
        assert_eq!(v.modify(0, OrderId(1), Qty(1), Price(95), Price(0)), None);
    }

    #[test]
    fn modify_to_a_marketable_limit_fills_at_the_last_trade() {
        let mut v = venue();
        v.on_tick(&tick(100, 5), |_| {});
        v.place(OrderId(1), 0, Side::Sell, OrderType::Limit, Qty(2), Price(110), Price(0), Timestamp(0));
        assert_eq!(v.modify(0, OrderId(1), Qty(2), Price(95), Price(0)), Some(Placement::Filled(Price(100))));
        assert_eq!(v.resting_count(), 0);
    }

    #[test]
    fn cancel_keeps_time_priority() {
        let mut v = venue();
        v.on_tick(&tick(100, 5), |_| {});
        for id in 1..=3 {
            v.place(OrderId(id), 0, Side::Buy, OrderType::Limit, Qty(1), Price(95), Price(0), Timestamp(0));
        }
        assert!(v.cancel(0, OrderId(1)));
        assert_eq!(v.working(0).collect::<Vec<_>>(), vec![OrderId(2), OrderId(3)]);
    }

    #[test]
    fn market_orders_take_the_far_touch_when_quoted() {
        let mut v =
            PaperVenue::new(&spec(), VenueConfig { slippage: Slippage::Ticks(1), limit_fill: LimitFill::TradeThrough });
        v.on_tick(&tick(1000, 1), |_| {});
        v.on_quote(0, Price(995), Price(1010));
        let buy = v.place(OrderId(1), 0, Side::Buy, OrderType::Market, Qty(1), Price(0), Price(0), Timestamp(0));
        let sell = v.place(OrderId(2), 0, Side::Sell, OrderType::Market, Qty(1), Price(0), Price(0), Timestamp(0));
        // Ask 10.10 + one 5-paise tick; bid 9.95 − one tick.
        assert_eq!((buy, sell), (Placement::Filled(Price(1015)), Placement::Filled(Price(990))));
    }
}
