//! Which accounts hold each instrument. A trade marks positions to market; only accounts with
//! an open quantity in the traded instrument have anything to mark, so a tick's cost follows
//! who holds the instrument, not how many accounts the engine carries.
//!
//! Each instrument's holders are kept in ascending account order, so marking visits accounts
//! in the same order a scan of every account would: the loss limits an instrument's trade
//! breaches trip, and their square-offs go out, in account order either way.

/// Per instrument, the accounts with a non-zero position in it (any product).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holders {
    by_instrument: Vec<Vec<u16>>,
}

impl Holders {
    /// Room for every account in every instrument up front: a fill never allocates.
    pub fn new(accounts: usize, instruments: usize) -> Holders {
        Holders { by_instrument: (0..instruments).map(|_| Vec::with_capacity(accounts)).collect() }
    }

    /// The accounts holding `instrument`, ascending.
    #[inline]
    pub fn of(&self, instrument: usize) -> &[u16] {
        self.by_instrument.get(instrument).map_or(&[], Vec::as_slice)
    }

    /// Records whether `account` now holds `instrument`.
    pub fn set(&mut self, account: usize, instrument: usize, holds: bool) {
        let (Some(list), Ok(account)) = (self.by_instrument.get_mut(instrument), u16::try_from(account)) else {
            return;
        };
        match (list.binary_search(&account), holds) {
            (Err(at), true) => list.insert(at, account),
            (Ok(at), false) => {
                list.remove(at);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_stay_sorted_and_unique() {
        let mut h = Holders::new(8, 2);
        for a in [5, 1, 7, 1, 3] {
            h.set(a, 1, true);
        }
        assert_eq!(h.of(1), [1, 3, 5, 7]);
        h.set(3, 1, false);
        h.set(4, 1, false);
        assert_eq!(h.of(1), [1, 5, 7]);
        assert!(h.of(0).is_empty());
        assert!(h.of(9).is_empty());
        h.set(2, 9, true);
    }
}
