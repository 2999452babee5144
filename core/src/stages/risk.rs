//! Pre-trade risk. Every intent is checked against its account's limits, the instrument's
//! rules, the session and the account's funds before it can become an order; each refusal
//! carries a reason code. Exposure counts working orders as if they will fill, so a burst of
//! orders cannot walk past a limit before the first one fills.
//!
//! Risk keeps its own projection of positions, P&L, charges and working orders, built from the
//! order stage's feedback, so it never reads another stage's memory. It also owns the
//! account-level reactions: the daily loss limit (kill switch, cancel, optional square-off)
//! and the MIS auto square-off before the close.

use crate::model::time::{NANOS_PER_DAY, NANOS_PER_SEC};
use crate::model::{
    AccountId, InstrumentSpec, IstTime, Money, OrderId, OrderIntent, OrderType, Price, Product, Qty, RejectReason,
    RiskLimits, Segment, Session, Side, StrategyId, Timestamp,
};
use crate::model::{CloseReason, Command, Feedback, KillScope, Msg};
use crate::model::{Stamp, Tick};
use crate::stages::charges::Ppb;
use crate::stages::instrument_sets::InstrumentSets;
use crate::stages::loss_watch::LossWatch;
use crate::stages::portfolio::Position;
use crate::stages::Map;

/// How much of an order's value must be available as funds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MarginRules {
    /// MIS (intraday) margin as a fraction of value.
    pub mis: Ppb,
    /// NRML margin per instrument (F&O exchange margin as a fraction of value).
    pub nrml: Vec<Ppb>,
}

impl MarginRules {
    /// CNC needs the full value; MIS and NRML their configured fraction.
    fn fraction(&self, product: Product, instrument: usize) -> Ppb {
        match product {
            Product::Cnc => Ppb(1_000_000_000),
            Product::Mis => self.mis,
            Product::Nrml => self.nrml.get(instrument).copied().unwrap_or(Ppb(1_000_000_000)),
        }
    }
}

/// Session rules risk enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionRules {
    pub session: Session,
    /// Refuse regular orders outside the session (AMO orders are exempt).
    pub enforce: bool,
    /// MIS positions are flattened at this time of day.
    pub mis_square_off: Option<IstTime>,
    /// An order sent outside the session becomes an after-market order (queued by the order
    /// stage for the next session's first trade) rather than being refused. A day bar
    /// closes with the session, so a strategy on day bars decides after the close, as a
    /// trader placing AMOs for the next open does.
    #[serde(default)]
    pub after_hours_amo: bool,
}

/// One account's setup as risk needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccountRisk {
    pub limits: RiskLimits,
    /// Starting cash; zero means funds are not checked.
    pub funds: Money,
}

/// Position and working quantity of one account in one instrument and product.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Exposure {
    pub position: Position,
    pub working_buy: u64,
    pub working_sell: u64,
}

impl Exposure {
    /// The largest absolute position this slot can reach if working orders fill.
    fn worst(&self) -> u64 {
        let n = self.position.net.0;
        (n + self.working_buy as i64).unsigned_abs().max((n - self.working_sell as i64).unsigned_abs())
    }

    fn projected(&self) -> i64 {
        self.position.net.0 + self.working_buy as i64 - self.working_sell as i64
    }
}

/// A working order as risk follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Working {
    intent: OrderIntent,
    remaining: Qty,
}

/// Counters the stage keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RiskCounters {
    pub checked: u64,
    pub approved: u64,
    pub rejected: [u64; RejectReason::ALL.len()],
    pub loss_limit_trips: u64,
    pub square_off_orders: u64,
    pub modifies_approved: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct AccountState {
    setup: AccountRisk,
    kill: bool,
    realized: i64,
    charges: i64,
    open_orders: u32,
    /// Event times of recently accepted orders, oldest first (rate limit).
    recent: std::collections::VecDeque<i64>,
    /// Recently accepted intents (duplicate guard).
    last_intents: [(i64, Option<OrderIntent>); 8],
    last_slot: usize,
    /// IST day (midnight ns) of the last MIS square-off, so it runs once a day.
    squared_off_day: i64,
    /// A fill changed P&L since the loss limit was last checked (see [`RiskStage::on_msg`]).
    loss_check_due: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct RiskStage {
    instruments: Vec<InstrumentSpec>,
    accounts: Vec<AccountState>,
    global_kill: bool,
    exposure: Vec<Exposure>,
    last_price: Vec<Price>,
    /// Per instrument, the highest limit or trigger price risk has approved an order at: the
    /// value of working orders in an instrument that has not traded yet (a fresh engine taking
    /// pre-open or after-market orders), which would otherwise count as zero exposure and use
    /// no margin.
    order_price: Vec<Price>,
    /// Per (account, instrument, product) slot, the signed quantity of square-off orders sent and
    /// not yet filled or closed, so a second square-off (loss limit and MIS in the same event, or
    /// before the first one's fills come back) sends only what is still open.
    squaring: Vec<i64>,
    /// Some account has a loss check due.
    loss_check_due: bool,
    /// Positions, unrealized P&L and loss-limit triggers per account: what a trade checks.
    watch: LossWatch,
    /// Per account, the instruments with a position or working orders in some product: what
    /// the exposure and funds checks sum over.
    active: InstrumentSets,
    /// Mark every account on every trade (see [`RiskStage::set_mark_every`]).
    mark_every: bool,
    margins: MarginRules,
    session: SessionRules,
    working: Map<OrderId, Working>,
    now: Timestamp,
    /// No MIS square-off can be due before this (the next session's square-off time once
    /// today's is done or past): lets `advance` skip the clock arithmetic on every event.
    /// Not kept in snapshots; a restored stage works it out again on its first event.
    #[serde(skip)]
    square_off_next: Timestamp,
    pub counters: RiskCounters,
}

const PRODUCTS: usize = 3;

impl RiskStage {
    pub fn new(
        instruments: Vec<InstrumentSpec>,
        accounts: Vec<AccountRisk>,
        margins: MarginRules,
        session: SessionRules,
    ) -> Self {
        let n = instruments.len();
        RiskStage {
            exposure: vec![Exposure::default(); n * accounts.len() * PRODUCTS],
            last_price: vec![Price::ZERO; n],
            order_price: vec![Price::ZERO; n],
            squaring: vec![0; n * accounts.len() * PRODUCTS],
            loss_check_due: false,
            active: InstrumentSets::new(accounts.len(), n),
            watch: LossWatch::new(
                n,
                accounts.iter().map(|a| LossWatch::floor(a.limits.daily_loss_limit.0, false, 0, 0)),
            ),
            mark_every: false,
            accounts: accounts
                .into_iter()
                .map(|setup| AccountState {
                    setup,
                    kill: false,
                    realized: 0,
                    charges: 0,
                    open_orders: 0,
                    recent: std::collections::VecDeque::with_capacity(setup.limits.max_orders_per_sec as usize + 1),
                    last_intents: [(i64::MIN, None); 8],
                    last_slot: 0,
                    squared_off_day: i64::MIN,
                    loss_check_due: false,
                })
                .collect(),
            global_kill: false,
            instruments,
            margins,
            session,
            working: Map::default(),
            now: Timestamp(i64::MIN),
            square_off_next: Timestamp(i64::MIN),
            counters: RiskCounters::default(),
        }
    }

    /// Limits that refuse nothing and no session or funds checks: for tests and tools.
    pub fn permissive(instruments: Vec<InstrumentSpec>, accounts: usize) -> Self {
        let n = instruments.len();
        RiskStage::new(
            instruments,
            vec![AccountRisk { limits: RiskLimits::NONE, funds: Money::ZERO }; accounts],
            MarginRules { mis: Ppb(200_000_000), nrml: vec![Ppb(150_000_000); n] },
            SessionRules { session: Session::NSE_NORMAL, enforce: false, mis_square_off: None, after_hours_amo: false },
        )
    }

    pub fn global_kill(&self) -> bool {
        self.global_kill
    }

    pub fn account_kill(&self, account: usize) -> bool {
        self.accounts.get(account).map(|a| a.kill).unwrap_or(false)
    }

    pub fn limits(&self, account: usize) -> Option<RiskLimits> {
        self.accounts.get(account).map(|a| a.setup.limits)
    }

    /// Net P&L of an account as risk sees it (realized + unrealized − charges), paise.
    pub fn net_pnl(&self, account: usize) -> Option<i64> {
        let a = self.accounts.get(account)?;
        Some(a.realized + self.watch.unrealized(account, &self.last_price) - a.charges)
    }

    /// Exposure in one instrument summed over products.
    pub fn exposure(&self, account: usize, instrument: usize) -> Option<Exposure> {
        let base = self.slot_index(account, instrument, Product::Cnc)?;
        let mut e = Exposure::default();
        for x in &self.exposure[base..base + PRODUCTS] {
            e.position.net.0 += x.position.net.0;
            e.working_buy += x.working_buy;
            e.working_sell += x.working_sell;
        }
        Some(e)
    }

    /// Keeps `account`'s active set right after a slot of `instrument` changed.
    fn touch(&mut self, account: usize, instrument: usize) {
        let base = (account * self.instruments.len() + instrument) * PRODUCTS;
        let active = self.exposure.get(base..base + PRODUCTS).is_some_and(|slots| {
            slots.iter().any(|e| e.position.net.0 != 0 || e.working_buy != 0 || e.working_sell != 0)
        });
        self.active.set(account, instrument, active);
    }

    fn slot_index(&self, account: usize, instrument: usize, product: Product) -> Option<usize> {
        let n = self.instruments.len();
        (account < self.accounts.len() && instrument < n)
            .then(|| (account * n + instrument) * PRODUCTS + product.index())
    }

    /// Checks intents and modifies, applies commands and feedback, and reacts to prices.
    ///
    /// Feedback never produces orders or commands here: when a fill takes an account past its
    /// daily loss limit, the kill switch and square-off go out with the next tick, timer or
    /// intent risk sees (before that intent is checked). Feedback reaches risk outside the
    /// main flow (after the event that caused it when fused, through the head of the pipeline
    /// when pipelined), where what risk sends may not reach the order stage.
    #[inline]
    pub fn on_msg(&mut self, msg: &Msg, out: &mut impl FnMut(Msg)) {
        match *msg {
            Msg::VenueReport(_) => out(*msg),
            Msg::Tick { tick, .. } => {
                self.on_tick(&tick, out);
                out(*msg);
            }
            Msg::Timer(ts) => {
                self.advance(ts, out);
                out(*msg);
            }
            Msg::Intent { mut intent, ts, stamp } => {
                self.advance(ts, out);
                self.counters.checked += 1;
                if self.session.after_hours_amo && !self.session.session.contains(ts) {
                    intent.amo = true;
                }
                match self.check(&intent, ts) {
                    Ok(()) => {
                        // The order goes on first and risk books it after: `out` cannot
                        // reach this stage, so nothing sees the difference but the order's
                        // latency.
                        out(Msg::Approved { intent, ts, stamp });
                        self.accept(&intent, ts);
                    }
                    Err(reason) => {
                        self.counters.rejected[reason.index()] += 1;
                        out(Msg::Refused { intent, ts, reason });
                    }
                }
            }
            Msg::Command(cmd) => self.on_command(cmd, out),
            Msg::Feedback(fb) => {
                self.on_feedback(&fb);
                out(*msg);
            }
            Msg::Empty => {}
            Msg::Quote(_) | Msg::Candle { .. } | Msg::Snapshot { .. } => out(*msg),
            Msg::Approved { .. } | Msg::Refused { .. } => out(*msg),
        }
    }

    /// A trade: the clock, then marking and the loss limits of the accounts holding it
    /// (kill switches and square-offs go to `out`). The tick itself is the caller's to pass on.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick, out: &mut impl FnMut(Msg)) {
        self.advance(tick.ts, out);
        self.mark(tick.instrument.index(), tick.price, out);
    }

    fn on_command(&mut self, cmd: Command, out: &mut impl FnMut(Msg)) {
        match cmd {
            Command::KillSwitch { scope, engaged } => {
                match scope {
                    KillScope::Global => self.global_kill = engaged,
                    KillScope::Account(a) => {
                        if let Some(acct) = self.accounts.get_mut(a.index()) {
                            acct.kill = engaged;
                            self.refresh_guard(a.index());
                        }
                    }
                }
                out(Msg::Command(cmd));
            }
            Command::SetLimits { account, limits } => {
                if let Some(a) = self.accounts.get_mut(account.index()) {
                    a.setup.limits = limits;
                    // A new loss limit is checked against the P&L already made at the next
                    // event, as a fill's would be.
                    if limits.daily_loss_limit.0 > 0 {
                        a.loss_check_due = true;
                        self.loss_check_due = true;
                    }
                    self.refresh_guard(account.index());
                }
                out(Msg::Command(cmd));
            }
            Command::Place { intent } => {
                // Outside orders take the same path as a strategy's.
                let ts = self.now;
                self.on_msg(&Msg::Intent { intent, ts, stamp: Stamp::NONE }, out);
            }
            Command::Modify { account, order, qty, price, trigger } => {
                match self.check_modify(account, order, qty, price, trigger) {
                    Ok(()) => {
                        self.counters.modifies_approved += 1;
                        out(Msg::Command(cmd));
                    }
                    Err(reason) => {
                        self.counters.rejected[reason.index()] += 1;
                        out(Msg::Feedback(Feedback::CommandRefused { account, order, reason }));
                    }
                }
            }
            Command::Cancel { .. }
            | Command::CancelWorking { .. }
            | Command::StrategyEnabled { .. }
            | Command::SetStrategyParams { .. }
            | Command::Adopt { .. } => out(Msg::Command(cmd)),
        }
    }

    /// Moves risk's clock; runs the MIS square-off once the configured time has come.
    #[inline]
    fn advance(&mut self, ts: Timestamp, out: &mut impl FnMut(Msg)) {
        if ts > self.now {
            self.now = ts;
        }
        // Most events need neither: keep them to one test each, out of line otherwise.
        if self.loss_check_due || self.now >= self.square_off_next {
            self.advance_slow(out);
        }
    }

    #[inline(never)]
    fn advance_slow(&mut self, out: &mut impl FnMut(Msg)) {
        if self.loss_check_due {
            self.loss_check_due = false;
            for a in 0..self.accounts.len() {
                if std::mem::take(&mut self.accounts[a].loss_check_due) {
                    self.check_loss(a, out);
                }
            }
        }
        let Some(at) = self.session.mis_square_off else {
            self.square_off_next = Timestamp(i64::MAX);
            return;
        };
        if self.now < self.square_off_next {
            return;
        }
        let time_of_day = self.now.ist_time_of_day();
        // IST midnight of `now` (saturating: any timestamp is valid input, and the extremes
        // have no next day to wait for).
        let day = self.now.0.saturating_sub(time_of_day);
        if time_of_day < at.0 {
            self.square_off_next = Timestamp(day.saturating_add(at.0));
            return;
        }
        // Today's is done (below) or past: nothing until tomorrow's.
        self.square_off_next = Timestamp(day.saturating_add(NANOS_PER_DAY).saturating_add(at.0));
        if time_of_day >= self.session.session.close.0 {
            return;
        }
        for a in 0..self.accounts.len() {
            if self.accounts[a].squared_off_day == day {
                continue;
            }
            self.accounts[a].squared_off_day = day;
            let scope = KillScope::Account(AccountId(a as u16));
            out(Msg::Command(Command::CancelWorking { scope, product: Some(Product::Mis) }));
            self.flatten(a, Some(Product::Mis), out);
        }
    }

    /// Marks a trade and checks the loss limit of each account it may breach, in account
    /// order. Most trades reach no holder's trigger and cost two comparisons (see
    /// [`LossWatch`]); a trade that reaches some visits the instrument's holders and checks
    /// exactly those whose own trigger it reached. The first trade of an instrument (positions
    /// stand at their own fill prices until then) and the reference mode mark slot by slot.
    #[inline]
    fn mark(&mut self, instrument: usize, price: Price, out: &mut impl FnMut(Msg)) {
        let Some(last) = self.last_price.get_mut(instrument) else { return };
        let prev = std::mem::replace(last, price);
        if self.mark_every {
            for a in 0..self.accounts.len() {
                self.mark_account(a, instrument, price, out);
            }
            return;
        }
        if !prev.is_positive() {
            self.first_mark(instrument, price, out);
        } else if price != prev && self.watch.reached(instrument, price) {
            self.check_reached(instrument, price, out);
        }
    }

    /// The holders whose trigger a trade reached: each brought up to date and checked, and
    /// its headroom split again if it is still inside its limit.
    #[inline(never)]
    fn check_reached(&mut self, instrument: usize, price: Price, out: &mut impl FnMut(Msg)) {
        // By index: a loss check only sends messages; the holders do not change under it.
        let mut h = 0;
        while let Some(&a) = self.watch.holders(instrument).get(h) {
            h += 1;
            let a = a as usize;
            if self.watch.reached_by(a, instrument, price) {
                self.check_loss(a, out);
                // A trip has rearmed it already (no triggers once killed).
                if !self.accounts[a].kill {
                    self.refresh_guard(a);
                }
            }
        }
    }

    #[inline(never)]
    fn first_mark(&mut self, instrument: usize, price: Price, out: &mut impl FnMut(Msg)) {
        let mut h = 0;
        while let Some(&a) = self.watch.holders(instrument).get(h) {
            h += 1;
            self.mark_account(a as usize, instrument, price, out);
            self.refresh_guard(a as usize);
        }
    }

    /// One account's slots in `instrument`, each from its own last price.
    #[inline]
    fn mark_account(&mut self, a: usize, instrument: usize, price: Price, out: &mut impl FnMut(Msg)) {
        let base = (a * self.instruments.len() + instrument) * PRODUCTS;
        let Some(slots) = self.exposure.get_mut(base..base + PRODUCTS) else { return };
        let mut delta = 0i64;
        for e in slots {
            let p = &mut e.position;
            if p.net.0 != 0 && p.last.is_positive() {
                delta = delta.saturating_add(p.net.0.saturating_mul(price.0 - p.last.0));
            }
            p.last = price;
        }
        // The slots' own move replaces the watch's for this instrument (the watch's other
        // instruments stay as they are; a loss check brings them up to date).
        self.watch.set_marked(a, instrument, price);
        if delta != 0 {
            self.watch.add_unrealized(a, delta);
            self.check_loss(a, out);
        }
    }

    /// Re-derives an account's loss floor after its limit, kill switch, realized P&L, charges
    /// or positions changed, and splits its headroom again.
    fn refresh_guard(&mut self, a: usize) {
        if let Some(acct) = self.accounts.get(a) {
            let floor = LossWatch::floor(acct.setup.limits.daily_loss_limit.0, acct.kill, acct.realized, acct.charges);
            self.watch.rearm(a, floor, &self.last_price);
        }
    }

    /// Marks every account on every trade instead of the holders only: the reference the
    /// holders index is tested against, and the lab's baseline.
    pub fn set_mark_every(&mut self, on: bool) {
        // From here on every trade marks every account: each starts from its current P&L.
        for a in 0..self.accounts.len() {
            self.watch.sync(a, &self.last_price);
        }
        self.mark_every = on;
    }

    /// A fill into risk's own position: the slot is brought up to the instrument's last trade
    /// first (marking skips flat slots; see [`RiskStage::mark`]), P&L moves by what the fill
    /// changed, the loss limit is due a look, and the holders index follows. The caller then
    /// refreshes the account's guard (once, after any charges). False when the slot does not
    /// exist.
    fn book(&mut self, f: &crate::model::Fill) -> bool {
        let (a, i) = (f.account.index(), f.instrument.index());
        let Some(k) = self.slot_index(a, i, f.product) else { return false };
        let last = self.last_price[i];
        self.watch.sync(a, &self.last_price);
        let slot = &mut self.exposure[k].position;
        if last.is_positive() {
            slot.last = last;
        }
        let before = *slot;
        slot.apply_fill(f.side, f.qty, f.price);
        let after = *slot;
        let acct = &mut self.accounts[a];
        acct.realized += after.realized - before.realized;
        // Only a limit that can still trip needs a look (a new limit asks for one itself).
        let due = acct.setup.limits.daily_loss_limit.0 > 0 && !acct.kill;
        acct.loss_check_due |= due;
        self.watch.add_unrealized(a, after.unrealized().0 - before.unrealized().0);
        self.loss_check_due |= due;
        let base = k - f.product.index();
        let net: i64 = self.exposure[base..base + PRODUCTS].iter().map(|e| e.position.net.0).sum();
        let holds = self.exposure[base..base + PRODUCTS].iter().any(|e| e.position.net.0 != 0);
        self.watch.set_held(a, i, net, holds);
        self.touch(a, i);
        if last.is_positive() {
            self.watch.set_marked(a, i, last);
        }
        true
    }

    fn check_loss(&mut self, a: usize, out: &mut impl FnMut(Msg)) {
        let acct = &self.accounts[a];
        let limit = acct.setup.limits.daily_loss_limit.0;
        // Nothing to check: no limit, or trading already stopped. (The watch brings an
        // account up to date wherever it is read, so it need not be synced here.)
        if limit <= 0 || acct.kill {
            return;
        }
        // Marking every account keeps every account's P&L current already (the reference
        // mode); otherwise the account is brought up to the last prices first.
        if !self.mark_every {
            self.watch.sync(a, &self.last_price);
        }
        let unrealized = self.watch.synced_unrealized(a);
        if acct.realized + unrealized - acct.charges > -limit {
            return;
        }
        self.counters.loss_limit_trips += 1;
        self.accounts[a].kill = true;
        self.refresh_guard(a);
        let scope = KillScope::Account(AccountId(a as u16));
        tracing::warn!(account = a, limit_paise = limit, "daily loss limit breached: kill switch engaged");
        out(Msg::Command(Command::KillSwitch { scope, engaged: true }));
        if self.accounts[a].setup.limits.square_off_on_loss {
            self.flatten(a, None, out);
        }
    }

    /// Sends market orders that flatten an account's positions (optionally one product).
    fn flatten(&mut self, a: usize, only: Option<Product>, out: &mut impl FnMut(Msg)) {
        let n = self.instruments.len();
        for i in 0..n {
            for product in Product::ALL {
                if only.is_some_and(|p| p != product) {
                    continue;
                }
                let k = (a * n + i) * PRODUCTS + product.index();
                let net = self.exposure[k].position.net.0 + self.squaring[k];
                if net == 0 || !self.last_price[i].is_positive() {
                    continue;
                }
                let side = if net > 0 { Side::Sell } else { Side::Buy };
                self.squaring[k] -= net;
                let mut intent = OrderIntent::market(
                    AccountId(a as u16),
                    StrategyId::SYSTEM,
                    self.instruments[i].id,
                    side,
                    Qty(net.unsigned_abs()),
                );
                intent.product = product;
                intent.tag = crate::model::Tag::new("square-off").unwrap_or_default();
                self.counters.square_off_orders += 1;
                self.accept(&intent, self.now);
                out(Msg::Approved { intent, ts: self.now, stamp: Stamp::NONE });
            }
        }
    }

    fn accept(&mut self, intent: &OrderIntent, ts: Timestamp) {
        self.counters.approved += 1;
        if let Some(p) = self.order_price.get_mut(intent.instrument.index()) {
            *p = (*p).max(intent.price).max(intent.trigger);
        }
        if let Some(k) = self.slot_index(intent.account.index(), intent.instrument.index(), intent.product) {
            let e = &mut self.exposure[k];
            match intent.side {
                Side::Buy => e.working_buy += intent.qty.0,
                Side::Sell => e.working_sell += intent.qty.0,
            }
            self.touch(intent.account.index(), intent.instrument.index());
        }
        if let Some(a) = self.accounts.get_mut(intent.account.index()) {
            a.open_orders += 1;
            if a.setup.limits.max_orders_per_sec > 0 {
                a.recent.push_back(ts.0);
                while a.recent.len() > a.setup.limits.max_orders_per_sec as usize {
                    a.recent.pop_front();
                }
            }
            a.last_intents[a.last_slot] = (ts.0, Some(*intent));
            a.last_slot = (a.last_slot + 1) % a.last_intents.len();
        }
    }

    fn release(&mut self, account: usize, instrument: usize, product: Product, side: Side, qty: Qty) {
        if let Some(k) = self.slot_index(account, instrument, product) {
            let e = &mut self.exposure[k];
            match side {
                Side::Buy => e.working_buy = e.working_buy.saturating_sub(qty.0),
                Side::Sell => e.working_sell = e.working_sell.saturating_sub(qty.0),
            }
            self.touch(account, instrument);
        }
    }

    /// Un-counts square-off quantity that filled or stopped working.
    fn squared(
        &mut self,
        strategy: StrategyId,
        account: usize,
        instrument: usize,
        product: Product,
        side: Side,
        qty: Qty,
    ) {
        if strategy != StrategyId::SYSTEM {
            return;
        }
        if let Some(k) = self.slot_index(account, instrument, product) {
            self.squaring[k] -= side.sign() * qty.0 as i64;
        }
    }

    fn on_feedback(&mut self, fb: &Feedback) {
        match *fb {
            Feedback::Accepted { order, intent } => {
                self.working.insert(order, Working { intent, remaining: intent.qty });
            }
            Feedback::Filled { fill: f, done } => {
                let (a, i) = (f.account.index(), f.instrument.index());
                self.release(a, i, f.product, f.side, f.qty);
                self.squared(f.strategy, a, i, f.product, f.side, f.qty);
                if let Some(w) = self.working.get_mut(&f.order) {
                    w.remaining = w.remaining.saturating_sub(f.qty);
                }
                if done {
                    self.close_working(f.order, a);
                }
                if self.book(&f) {
                    self.accounts[a].charges += f.charges.0;
                    self.refresh_guard(a);
                }
            }
            // Only the position changes: nothing was working, nothing was squaring.
            Feedback::Adopted { fill: f } => {
                if self.book(&f) {
                    self.refresh_guard(f.account.index());
                }
            }
            Feedback::Closed { order, account, strategy, instrument, product, side, unfilled, reason } => {
                if reason == CloseReason::Refused {
                    return;
                }
                self.release(account.index(), instrument.index(), product, side, unfilled);
                self.squared(strategy, account.index(), instrument.index(), product, side, unfilled);
                self.close_working(order, account.index());
            }
            Feedback::Modified { order, intent, old_remaining, new_remaining } => {
                let (a, i) = (intent.account.index(), intent.instrument.index());
                self.release(a, i, intent.product, intent.side, old_remaining);
                if let Some(k) = self.slot_index(a, i, intent.product) {
                    let e = &mut self.exposure[k];
                    match intent.side {
                        Side::Buy => e.working_buy += new_remaining.0,
                        Side::Sell => e.working_sell += new_remaining.0,
                    }
                    self.touch(a, i);
                }
                if let Some(w) = self.working.get_mut(&order) {
                    w.intent = intent;
                    w.remaining = new_remaining;
                }
            }
            Feedback::CommandRefused { .. } => {}
        }
    }

    fn close_working(&mut self, order: OrderId, account: usize) {
        if self.working.remove(&order).is_some() {
            if let Some(a) = self.accounts.get_mut(account) {
                a.open_orders = a.open_orders.saturating_sub(1);
            }
        }
    }

    /// What exposure in an instrument is worth: the last trade, or before the first trade the
    /// highest price an order in it was approved at.
    fn mark_price(&self, j: usize) -> Price {
        let last = self.last_price[j];
        if last.is_positive() {
            last
        } else {
            self.order_price[j]
        }
    }

    /// Static checks of a price against the instrument and the last trade.
    fn check_price(&self, p: Price, spec: &InstrumentSpec, limits: &RiskLimits) -> Result<(), RejectReason> {
        if !p.is_positive() {
            return Err(RejectReason::InvalidPrice);
        }
        if !p.on_grid(spec.tick_size) {
            return Err(RejectReason::TickSize);
        }
        if !spec.band.contains(p) {
            return Err(RejectReason::PriceBand);
        }
        let last = self.last_price.get(spec.id.index()).copied().unwrap_or(Price::ZERO);
        if limits.fat_finger_bps > 0 && last.is_positive() {
            let dev = (p.0 - last.0).unsigned_abs() as u128 * 10_000;
            if dev > last.0 as u128 * limits.fat_finger_bps as u128 {
                return Err(RejectReason::FatFinger);
            }
        }
        Ok(())
    }

    /// The checks, cheapest and most decisive first.
    pub fn check(&self, o: &OrderIntent, ts: Timestamp) -> Result<(), RejectReason> {
        if self.global_kill {
            return Err(RejectReason::GlobalKillSwitch);
        }
        let a = o.account.index();
        let Some(acct) = self.accounts.get(a) else { return Err(RejectReason::UnknownAccount) };
        if acct.kill {
            return Err(RejectReason::AccountKillSwitch);
        }
        let Some(spec) = self.instruments.get(o.instrument.index()) else {
            return Err(RejectReason::UnknownInstrument);
        };
        let limits = &acct.setup.limits;
        if self.session.enforce && !o.amo && !self.session.session.contains(ts) {
            return Err(RejectReason::OutsideSession);
        }
        if o.qty.is_zero() {
            return Err(RejectReason::ZeroQty);
        }
        if !o.qty.is_lot_multiple(spec.lot_size) {
            return Err(RejectReason::LotSize);
        }
        if limits.max_order_qty.0 > 0 && o.qty > limits.max_order_qty {
            return Err(RejectReason::MaxOrderQty);
        }
        if o.order_type.has_limit() {
            self.check_price(o.price, spec, limits)?;
        }
        if o.order_type.has_trigger() {
            self.check_price(o.trigger, spec, limits)?;
        }
        let reference = self.reference(o)?;
        if limits.max_order_value.0 > 0 && o.qty.notional(reference) > limits.max_order_value {
            return Err(RejectReason::MaxOrderValue);
        }
        if limits.max_open_orders > 0 && acct.open_orders >= limits.max_open_orders {
            return Err(RejectReason::MaxOpenOrders);
        }
        if limits.max_orders_per_sec > 0 {
            let recent = acct.recent.iter().filter(|t| **t > ts.0 - NANOS_PER_SEC).count();
            if recent >= limits.max_orders_per_sec as usize {
                return Err(RejectReason::RateLimit);
            }
        }
        if limits.duplicate_window_ms > 0 {
            let window = limits.duplicate_window_ms as i64 * 1_000_000;
            let dup = acct.last_intents.iter().any(|(t, prev)| {
                prev.is_some_and(|p| {
                    ts.0 - t < window
                        && p.instrument == o.instrument
                        && p.side == o.side
                        && p.qty == o.qty
                        && p.price == o.price
                        && p.order_type == o.order_type
                })
            });
            if dup {
                return Err(RejectReason::Duplicate);
            }
        }
        self.check_exposure(a, o, reference)?;
        self.check_funds(a, o, reference)
    }

    /// The price an order is valued at: its limit; for a stop-market the worse of the last trade
    /// and the trigger; for a market order the last trade. New orders and modifies alike.
    #[inline]
    fn reference(&self, o: &OrderIntent) -> Result<Price, RejectReason> {
        let last = self.last_price.get(o.instrument.index()).copied().unwrap_or(Price::ZERO);
        Ok(match o.order_type {
            OrderType::Limit | OrderType::StopLimit => o.price,
            OrderType::StopMarket if last.is_positive() => last.max(o.trigger),
            OrderType::StopMarket => o.trigger,
            OrderType::Market if last.is_positive() => last,
            OrderType::Market => return Err(RejectReason::NoMarketPrice),
        })
    }

    /// Position and exposure limits with this order's quantity added to its side. Adding up
    /// positions is most of the cost of a check, so an account with none of these limits is
    /// answered in line, before any of it.
    #[inline(always)]
    fn check_exposure(&self, a: usize, o: &OrderIntent, reference: Price) -> Result<(), RejectReason> {
        if !self.accounts[a].setup.limits.bounds_exposure() {
            return Ok(());
        }
        self.exposure_within_limits(a, o, reference)
    }

    fn exposure_within_limits(&self, a: usize, o: &OrderIntent, reference: Price) -> Result<(), RejectReason> {
        let limits = &self.accounts[a].setup.limits;
        let i = o.instrument.index();
        let mut e = self.exposure(a, i).unwrap_or_default();
        match o.side {
            Side::Buy => e.working_buy += o.qty.0,
            Side::Sell => e.working_sell += o.qty.0,
        }
        let worst = e.worst();
        if limits.max_position_qty.0 > 0 && worst > limits.max_position_qty.0 {
            return Err(RejectReason::MaxPosition);
        }
        if limits.max_position_value.0 > 0 && Qty(worst).notional(reference) > limits.max_position_value {
            return Err(RejectReason::MaxPositionValue);
        }
        if limits.max_gross_exposure.0 == 0 && limits.max_net_exposure.0 == 0 {
            return Ok(());
        }
        // The order's instrument at its reference price, the others the account is active in
        // at their marks (an instrument with no position and nothing working adds nothing).
        let (mut gross, mut net) =
            (e.worst() as i128 * reference.0 as i128, e.projected() as i128 * reference.0 as i128);
        for j in self.active.iter(a).filter(|&j| j != i) {
            let (x, px) = (self.exposure(a, j).unwrap_or_default(), self.mark_price(j));
            gross += x.worst() as i128 * px.0 as i128;
            net += x.projected() as i128 * px.0 as i128;
        }
        if limits.max_gross_exposure.0 > 0 && gross > limits.max_gross_exposure.0 as i128 {
            return Err(RejectReason::MaxGrossExposure);
        }
        if limits.max_net_exposure.0 > 0 && net.abs() > limits.max_net_exposure.0 as i128 {
            return Err(RejectReason::MaxNetExposure);
        }
        Ok(())
    }

    /// Margin the order needs against cash left after positions' and working orders' margin.
    /// An order that only reduces a position needs no new margin. An account with no funds set
    /// has no margin check, answered in line (the check adds up margin across instruments).
    #[inline(always)]
    fn check_funds(&self, a: usize, o: &OrderIntent, reference: Price) -> Result<(), RejectReason> {
        if self.accounts[a].setup.funds.0 <= 0 {
            return Ok(());
        }
        self.funds_cover(a, o, reference)
    }

    fn funds_cover(&self, a: usize, o: &OrderIntent, reference: Price) -> Result<(), RejectReason> {
        let acct = &self.accounts[a];
        let i = o.instrument.index();
        let Some(k) = self.slot_index(a, i, o.product) else { return Ok(()) };
        let e = self.exposure[k];
        let net = e.position.net.0;
        let reduces = (o.side == Side::Sell && net - e.working_sell as i64 >= o.qty.0 as i64)
            || (o.side == Side::Buy && -(net + e.working_buy as i64) >= o.qty.0 as i64);
        if reduces {
            return Ok(());
        }
        let needed = self.margins.fraction(o.product, i).of(o.qty.notional(reference)).0 as i128;
        let mut used = 0i128;
        let n = self.instruments.len();
        for j in self.active.iter(a) {
            for p in Product::ALL {
                let x = &self.exposure[(a * n + j) * PRODUCTS + p.index()];
                let w = x.worst();
                if w == 0 {
                    continue;
                }
                let px = if self.last_price[j].is_positive() {
                    self.last_price[j]
                } else if x.position.last.is_positive() {
                    x.position.last
                } else {
                    self.order_price[j]
                };
                used += self.margins.fraction(p, j).of(Qty(w).notional(px)).0 as i128;
            }
        }
        let cash = acct.setup.funds.0 as i128 + acct.realized as i128 - acct.charges as i128;
        if needed + used > cash {
            return Err(RejectReason::InsufficientFunds);
        }
        Ok(())
    }

    /// A modification is checked like the order it turns the working one into.
    fn check_modify(
        &self,
        account: AccountId,
        order: OrderId,
        qty: Qty,
        price: Price,
        trigger: Price,
    ) -> Result<(), RejectReason> {
        let Some(w) = self.working.get(&order) else {
            return Err(RejectReason::UnknownOrder);
        };
        if w.intent.account != account {
            // Another account's order is indistinguishable from no order.
            return Err(RejectReason::UnknownOrder);
        }
        if self.global_kill {
            return Err(RejectReason::GlobalKillSwitch);
        }
        match self.accounts.get(account.index()) {
            None => return Err(RejectReason::UnknownAccount),
            Some(a) if a.kill => return Err(RejectReason::AccountKillSwitch),
            Some(_) => {}
        }
        if w.intent.order_type == OrderType::Market {
            return Err(RejectReason::NotModifiable);
        }
        let mut next = w.intent;
        if !qty.is_zero() {
            next.qty = qty;
        }
        if price.is_positive() {
            next.price = price;
        }
        if trigger.is_positive() {
            next.trigger = trigger;
        }
        let Some(spec) = self.instruments.get(next.instrument.index()) else {
            return Err(RejectReason::UnknownInstrument);
        };
        let limits = &self.accounts[account.index()].setup.limits;
        if !next.qty.is_lot_multiple(spec.lot_size) {
            return Err(RejectReason::LotSize);
        }
        if limits.max_order_qty.0 > 0 && next.qty > limits.max_order_qty {
            return Err(RejectReason::MaxOrderQty);
        }
        if next.order_type.has_limit() {
            self.check_price(next.price, spec, limits)?;
        }
        if next.order_type.has_trigger() {
            self.check_price(next.trigger, spec, limits)?;
        }
        // Valued exactly as a new order would be (a stop-market at the worse of last and trigger).
        let reference = self.reference(&next)?;
        if limits.max_order_value.0 > 0 && next.qty.notional(reference) > limits.max_order_value {
            return Err(RejectReason::MaxOrderValue);
        }
        // Only an increase adds exposure. A quantity at or below what has filled leaves nothing
        // to work (the order stage would refuse it too).
        let filled = w.intent.qty.saturating_sub(w.remaining);
        if next.qty <= filled {
            return Err(RejectReason::NotModifiable);
        }
        let new_remaining = next.qty - filled;
        if new_remaining > w.remaining {
            let mut delta = next;
            delta.qty = new_remaining - w.remaining;
            self.check_exposure(account.index(), &delta, reference)?;
            self.check_funds(account.index(), &delta, reference)?;
        }
        Ok(())
    }
}

/// Risk's share of an engine setup.
pub fn segment_default_margin(segment: Segment) -> Ppb {
    match segment {
        Segment::Equity => Ppb(1_000_000_000),
        Segment::Futures | Segment::Options => Ppb(150_000_000),
    }
}
