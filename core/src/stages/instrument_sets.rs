//! Per account, a set of instruments as a bitset: the instruments an account is active in.
//!
//! Risk sums exposure, margin and unrealized P&L over an account's instruments. An account
//! trades a handful of the instruments an engine carries, so those sums walk the set bits
//! instead of every instrument: the cost of an order check follows what the account holds,
//! not the size of the instrument table. Fixed size from the start: nothing allocates later.

/// One bitset of instruments per account.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstrumentSets {
    /// 64-bit words per account.
    words: usize,
    bits: Vec<u64>,
}

impl InstrumentSets {
    pub fn new(accounts: usize, instruments: usize) -> InstrumentSets {
        let words = instruments.div_ceil(64);
        InstrumentSets { words, bits: vec![0; accounts * words] }
    }

    /// Adds or removes `instrument` in `account`'s set (out-of-range ids change nothing).
    #[inline]
    pub fn set(&mut self, account: usize, instrument: usize, member: bool) {
        if instrument / 64 >= self.words {
            return;
        }
        if let Some(w) = self.bits.get_mut(account * self.words + instrument / 64) {
            let bit = 1u64 << (instrument % 64);
            if member {
                *w |= bit;
            } else {
                *w &= !bit;
            }
        }
    }

    /// `account`'s instruments, ascending.
    #[inline]
    pub fn iter(&self, account: usize) -> impl Iterator<Item = usize> + '_ {
        let base = account * self.words;
        self.bits.get(base..base + self.words).unwrap_or(&[]).iter().enumerate().flat_map(|(k, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let b = w.trailing_zeros() as usize;
                    w &= w - 1;
                    k * 64 + b
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_come_back_ascending_per_account() {
        let mut s = InstrumentSets::new(3, 130);
        for i in [129, 0, 64, 63, 5] {
            s.set(1, i, true);
        }
        s.set(1, 5, false);
        s.set(1, 200, true);
        s.set(7, 1, true);
        assert_eq!(s.iter(1).collect::<Vec<_>>(), [0, 63, 64, 129]);
        assert_eq!(s.iter(0).count() + s.iter(2).count() + s.iter(7).count(), 0);
    }
}
