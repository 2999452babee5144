//! What the tests of live accounts share: an observer of the engine's output that tests wait
//! on, the journal's view of its input, and small constructors.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dalal_core::engine::placement::{EgressObserver, IngressConsumer};
use dalal_core::model::*;

#[derive(Default)]
pub struct Seen {
    pub orders: Vec<Order>,
    pub fills: Vec<Fill>,
    pub notices: Vec<VenueReport>,
}

#[derive(Clone, Default)]
pub struct Watch(pub Arc<Mutex<Seen>>);

impl EgressObserver for Watch {
    fn on_event(&mut self, ev: &EgressEvent) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match ev {
            EgressEvent::Order { order, .. } => s.orders.push(*order),
            EgressEvent::Fill(f) => s.fills.push(*f),
            EgressEvent::VenueNotice(r) => s.notices.push(*r),
            _ => {}
        }
    }
}

/// The journal's view: every ingress event in the order the engine applied it.
#[derive(Clone, Default)]
pub struct Journal(pub Arc<Mutex<Vec<IngressEvent>>>);

impl IngressConsumer for Journal {
    fn on_event(&mut self, ev: &IngressEvent) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(*ev);
    }
    fn end_batch(&mut self) {}
}

impl Watch {
    /// Waits (up to a generous deadline, for a loaded machine) until `done` holds.
    pub fn until(&self, what: &str, done: impl Fn(&Seen) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if done(&self.0.lock().unwrap_or_else(|e| e.into_inner())) {
                return;
            }
            if Instant::now() >= deadline {
                let s = self.0.lock().unwrap_or_else(|e| e.into_inner());
                let orders: Vec<_> = s.orders.iter().map(|o| (o.id.0, o.status, o.venue_order)).collect();
                panic!("timed out waiting for {what}; orders {orders:?}, notices {:?}", s.notices);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn last(&self, id: u64) -> Option<Order> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).orders.iter().rev().find(|o| o.id.0 == id).copied()
    }
}

pub fn intent(side: Side, qty: u64, order_type: OrderType, price: i64) -> OrderIntent {
    OrderIntent {
        order_type,
        price: Price(price),
        ..OrderIntent::market(AccountId(0), StrategyId::SYSTEM, InstrumentId(0), side, Qty(qty))
    }
}

pub fn status(s: &Seen, id: u64) -> Option<OrderStatus> {
    s.orders.iter().rev().find(|o| o.id.0 == id).map(|o| o.status)
}

pub fn notices(w: &Watch) -> Vec<VenueReport> {
    w.0.lock().unwrap_or_else(|e| e.into_inner()).notices.clone()
}
