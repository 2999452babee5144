//! The orders still working, and nothing else: a slab sized when the engine starts, with a
//! free list, so the order stage's memory does not grow with the session. A finished order
//! leaves for the egress path (and the store) the moment it is terminal; a short record of
//! recently finished ones remains, so a late cancel of one is told "no longer working"
//! rather than "unknown", and a late venue report about one is recognised as late.
//!
//! Sweeps (a kill switch, the DAY expiry) walk the working orders of the accounts concerned,
//! in id order, never the session's history.

use std::collections::VecDeque;

use crate::model::{AccountId, Order, OrderId, VenueOrderId};
use crate::stages::Map;

/// Finished orders remembered for late commands and reports.
const FINISHED_KEPT: usize = 4096;

#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Slot {
    order: Order,
    /// The session close at which a DAY order expires: the close of the day it reached the
    /// venue (an after-market order works the whole next session); `i64::MAX` until then.
    expiry: i64,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct WorkingOrders {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    index: Map<OrderId, u32>,
    /// Working ids in id order: all of them, and per account.
    ids: Vec<OrderId>,
    by_account: Vec<Vec<OrderId>>,
    /// Recently finished: id, owner, the venue's id.
    finished: VecDeque<(OrderId, AccountId, VenueOrderId)>,
    next_id: u64,
}

impl WorkingOrders {
    pub(super) fn new(accounts: usize, capacity: usize) -> WorkingOrders {
        let capacity = capacity.clamp(1, u32::MAX as usize);
        let mut index = Map::default();
        index.reserve(capacity);
        WorkingOrders {
            slots: vec![None; capacity],
            free: (0..capacity as u32).rev().collect(),
            index,
            ids: Vec::with_capacity(capacity),
            by_account: vec![Vec::new(); accounts],
            finished: VecDeque::with_capacity(FINISHED_KEPT),
            next_id: 1,
        }
    }

    /// The id the next order gets (ids are dense from 1, whatever becomes of the orders).
    pub(super) fn take_id(&mut self) -> OrderId {
        let id = OrderId(self.next_id);
        self.next_id += 1;
        id
    }

    pub(super) fn is_full(&self) -> bool {
        self.free.is_empty()
    }

    /// Holds a new working order; false when the slab is full (the caller refuses it).
    pub(super) fn insert(&mut self, order: Order) -> bool {
        let Some(k) = self.free.pop() else { return false };
        self.slots[k as usize] = Some(Slot { order, expiry: i64::MAX });
        self.index.insert(order.id, k);
        // Ids only grow, so appending keeps both lists in id order.
        self.ids.push(order.id);
        if let Some(v) = self.by_account.get_mut(order.intent.account.index()) {
            v.push(order.id);
        }
        true
    }

    fn slot(&self, id: OrderId) -> Option<&Slot> {
        let k = *self.index.get(&id)?;
        self.slots.get(k as usize)?.as_ref()
    }

    fn slot_mut(&mut self, id: OrderId) -> Option<&mut Slot> {
        let k = *self.index.get(&id)?;
        self.slots.get_mut(k as usize)?.as_mut()
    }

    pub(super) fn get(&self, id: OrderId) -> Option<&Order> {
        self.slot(id).map(|s| &s.order)
    }

    pub(super) fn get_mut(&mut self, id: OrderId) -> Option<&mut Order> {
        self.slot_mut(id).map(|s| &mut s.order)
    }

    pub(super) fn expiry(&self, id: OrderId) -> i64 {
        self.slot(id).map_or(i64::MAX, |s| s.expiry)
    }

    pub(super) fn set_expiry(&mut self, id: OrderId, close: i64) {
        if let Some(s) = self.slot_mut(id) {
            s.expiry = close;
        }
    }

    /// Lets a finished order go.
    pub(super) fn remove(&mut self, id: OrderId) {
        let Some(k) = self.index.remove(&id) else { return };
        let Some(slot) = self.slots.get_mut(k as usize).and_then(Option::take) else { return };
        self.free.push(k);
        if let Ok(i) = self.ids.binary_search(&id) {
            self.ids.remove(i);
        }
        let account = slot.order.intent.account;
        if let Some(v) = self.by_account.get_mut(account.index()) {
            if let Ok(i) = v.binary_search(&id) {
                v.remove(i);
            }
        }
        if self.finished.len() == FINISHED_KEPT {
            self.finished.pop_front();
        }
        self.finished.push_back((id, account, slot.order.venue_order));
    }

    /// The owner of a recently finished order.
    pub(super) fn finished_owner(&self, id: OrderId) -> Option<AccountId> {
        self.finished.iter().rev().find(|f| f.0 == id).map(|f| f.1)
    }

    /// A recently finished order by the venue's id.
    pub(super) fn finished_by_venue_id(&self, venue_order: &VenueOrderId) -> Option<(OrderId, AccountId)> {
        self.finished.iter().rev().find(|f| !f.2.is_empty() && f.2 == *venue_order).map(|f| (f.0, f.1))
    }

    /// Working ids in id order, of every account or one.
    pub(super) fn ids(&self, account: Option<AccountId>) -> &[OrderId] {
        match account {
            None => &self.ids,
            Some(a) => self.by_account.get(a.index()).map_or(&[], Vec::as_slice),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }
}
