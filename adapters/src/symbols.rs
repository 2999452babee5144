//! Symbol ↔ instrument-id resolution for the edges. The hot path only ever sees dense
//! `InstrumentId`s; feeds and writers translate here. Lookups take raw bytes so a feed can
//! resolve a field straight out of its read buffer, and the table is a small open-addressing
//! map with a cheap hash and word-wise equality because a general-purpose SipHash map would
//! dominate CSV parse time.

use dalal_core::model::{InstrumentId, InstrumentSpec};

/// Why an instrument list cannot become a symbol table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    #[error("instrument {id} has an empty symbol")]
    EmptySymbol { id: InstrumentId },
    #[error("symbol {symbol:?} is listed twice (instruments {first} and {second})")]
    DuplicateSymbol { symbol: String, first: InstrumentId, second: InstrumentId },
    #[error("instrument id {id} is used by both {first:?} and {second:?}")]
    DuplicateId { id: InstrumentId, first: String, second: String },
}

/// Slot marker for an empty open-addressing slot.
const EMPTY: u32 = u32::MAX;

/// Longest symbol whose [`Key`] alone decides equality.
const SHORT: usize = 16;

/// A symbol as its length and two overlapping little-endian words. For symbols of up to
/// [`SHORT`] bytes the words cover every byte, so comparing keys is an exact equality test
/// that costs three integer compares instead of a `memcmp` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    len: usize,
    a: u64,
    b: u64,
}

impl Key {
    #[inline(always)]
    fn of(s: &[u8]) -> Key {
        let len = s.len();
        let (a, b) = if len >= 8 {
            (load8(s, 0), load8(s, len - 8))
        } else if len >= 4 {
            (load4(s, 0), load4(s, len - 4))
        } else if len > 0 {
            (s[0] as u64 | (s[len / 2] as u64) << 8 | (s[len - 1] as u64) << 16, 0)
        } else {
            (0, 0)
        };
        Key { len, a, b }
    }

    /// Folded-multiply hash (the wyhash mixing step): every input bit reaches the low bits
    /// used as the slot index, which matters because symbols such as `SYN0014`/`SYN0015`
    /// differ only in a middle byte. Not DoS-resistant, which is fine: keys come from config,
    /// and a lookup of hostile input stops at the first empty slot of a half-empty table.
    #[inline(always)]
    fn hash(&self, s: &[u8]) -> u64 {
        const K0: u64 = 0xA076_1D64_78BD_642F;
        const K1: u64 = 0xE703_7ED1_A0B4_28DB;
        if self.len <= SHORT {
            return mix(self.a ^ K0, self.b ^ K1 ^ self.len as u64);
        }
        let mut h = K0 ^ self.len as u64;
        for c in s.chunks_exact(8) {
            h = mix(h ^ load8(c, 0), K1);
        }
        mix(h ^ self.b, K0)
    }
}

#[inline(always)]
fn mix(a: u64, b: u64) -> u64 {
    let m = (a as u128) * (b as u128);
    (m as u64) ^ ((m >> 64) as u64)
}

#[inline(always)]
fn load8(s: &[u8], at: usize) -> u64 {
    s.get(at..at + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()).map_or(0, u64::from_le_bytes)
}

#[inline(always)]
fn load4(s: &[u8], at: usize) -> u64 {
    s.get(at..at + 4).and_then(|c| <[u8; 4]>::try_from(c).ok()).map_or(0, u32::from_le_bytes) as u64
}

/// The hash bits kept in a slot to skip most comparisons; disjoint from the index bits.
#[inline(always)]
fn tag(h: u64) -> u32 {
    (h >> 32) as u32
}

#[derive(Clone, Debug)]
struct Entry {
    symbol: Box<str>,
    id: InstrumentId,
    key: Key,
}

/// Bidirectional symbol map for one instrument universe.
#[derive(Clone, Debug)]
pub struct SymbolTable {
    /// Symbols in insertion order.
    entries: Vec<Entry>,
    /// Entry index by instrument id (ids are dense engine indices).
    by_id: Vec<u32>,
    /// Open-addressing slots: (hash tag, entry index), `EMPTY` index when free.
    slots: Vec<(u32, u32)>,
    mask: usize,
}

impl SymbolTable {
    /// Builds the table, refusing empty symbols and duplicate symbols or ids: either would
    /// silently route one instrument's prints to another.
    pub fn new(specs: &[InstrumentSpec]) -> Result<Self, SymbolError> {
        Self::from_pairs(specs.iter().map(|s| (s.symbol.as_str(), s.id)))
    }

    /// Same as [`SymbolTable::new`] for callers that have no full specs (tests, tools).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, InstrumentId)>) -> Result<Self, SymbolError> {
        let pairs: Vec<(&str, InstrumentId)> = pairs.into_iter().collect();
        let cap = (pairs.len() * 2).next_power_of_two().max(16);
        let mut table = SymbolTable {
            entries: Vec::with_capacity(pairs.len()),
            by_id: Vec::new(),
            slots: vec![(0, EMPTY); cap],
            mask: cap - 1,
        };
        for (symbol, id) in pairs {
            if symbol.is_empty() {
                return Err(SymbolError::EmptySymbol { id });
            }
            if let Some(first) = table.resolve(symbol) {
                return Err(SymbolError::DuplicateSymbol { symbol: symbol.to_string(), first, second: id });
            }
            if let Some(first) = table.get(id) {
                return Err(SymbolError::DuplicateId { id, first: first.to_string(), second: symbol.to_string() });
            }
            let entry = table.entries.len() as u32;
            let key = Key::of(symbol.as_bytes());
            table.entries.push(Entry { symbol: symbol.into(), id, key });
            if table.by_id.len() <= id.index() {
                table.by_id.resize(id.index() + 1, EMPTY);
            }
            table.by_id[id.index()] = entry;
            let h = key.hash(symbol.as_bytes());
            let mut i = h as usize & table.mask;
            while table.slots[i].1 != EMPTY {
                i = (i + 1) & table.mask;
            }
            table.slots[i] = (tag(h), entry);
        }
        Ok(table)
    }

    /// The id for a symbol, exact and case-sensitive, as bytes or text.
    #[inline]
    pub fn resolve(&self, symbol: impl AsRef<[u8]>) -> Option<InstrumentId> {
        let symbol = symbol.as_ref();
        let key = Key::of(symbol);
        let h = key.hash(symbol);
        let mut i = h as usize & self.mask;
        loop {
            let (t, entry) = *self.slots.get(i)?;
            if entry == EMPTY {
                return None;
            }
            if t == tag(h) {
                let e = self.entries.get(entry as usize)?;
                if e.key == key && (key.len <= SHORT || e.symbol.as_bytes() == symbol) {
                    return Some(e.id);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The symbol of `id`, or `None` if the id is not in this universe.
    #[inline]
    pub fn get(&self, id: InstrumentId) -> Option<&str> {
        let entry = *self.by_id.get(id.index())?;
        self.entries.get(entry as usize).map(|e| &*e.symbol)
    }

    /// The symbol of `id`, or `""` for an id outside this universe (for logs and reports,
    /// where a missing name must not abort anything).
    #[inline]
    pub fn symbol(&self, id: InstrumentId) -> &str {
        self.get(id).unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(symbol, id)` in the order the instruments were given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, InstrumentId)> + '_ {
        self.entries.iter().map(|e| (&*e.symbol, e.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dalal_core::model::{Price, PriceBand, Qty, Segment};

    fn spec(id: u32, symbol: &str) -> InstrumentSpec {
        InstrumentSpec {
            id: InstrumentId(id),
            symbol: symbol.to_string(),
            segment: Segment::Equity,
            tick_size: Price(5),
            lot_size: Qty(1),
            band: PriceBand::OPEN,
        }
    }

    #[test]
    fn resolves_both_ways() {
        let t = SymbolTable::new(&[spec(0, "RELIANCE"), spec(1, "TCS"), spec(2, "NIFTY24NOV24000CE")]).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.resolve("TCS"), Some(InstrumentId(1)));
        assert_eq!(t.resolve(b"RELIANCE"), Some(InstrumentId(0)));
        assert_eq!(t.resolve(b"NIFTY24NOV24000CE".as_slice()), Some(InstrumentId(2)));
        assert_eq!(t.resolve("tcs"), None);
        assert_eq!(t.resolve(""), None);
        assert_eq!(t.resolve([0xff, 0xfe]), None);
        assert_eq!(t.symbol(InstrumentId(2)), "NIFTY24NOV24000CE");
        assert_eq!(t.symbol(InstrumentId(9)), "");
        assert_eq!(t.get(InstrumentId(9)), None);
    }

    #[test]
    fn many_symbols_all_resolve() {
        let names: Vec<String> = (0..5000).map(|i| format!("SYM{i}")).collect();
        let t = SymbolTable::from_pairs(names.iter().enumerate().map(|(i, s)| (s.as_str(), InstrumentId(i as u32))))
            .unwrap();
        for (i, s) in names.iter().enumerate() {
            assert_eq!(t.resolve(s), Some(InstrumentId(i as u32)));
            assert_eq!(t.symbol(InstrumentId(i as u32)), s);
        }
        assert_eq!(t.resolve("SYM5000"), None);
    }

    #[test]
    fn every_byte_position_counts() {
        // Symbols of each length that differ in exactly one position must all be distinct,
        // across the short (word-compared) and long (byte-compared) forms.
        let mut names = Vec::new();
        for len in 1..=24 {
            names.push("A".repeat(len));
            for pos in 0..len {
                let mut s = "A".repeat(len).into_bytes();
                s[pos] = b'B';
                names.push(String::from_utf8(s).unwrap());
            }
        }
        let t = SymbolTable::from_pairs(names.iter().enumerate().map(|(i, s)| (s.as_str(), InstrumentId(i as u32))))
            .unwrap();
        for (i, s) in names.iter().enumerate() {
            assert_eq!(t.resolve(s), Some(InstrumentId(i as u32)), "{s}");
            let mut other = s.clone().into_bytes();
            other.push(b'A');
            if !names.iter().any(|n| n.as_bytes() == other) {
                assert_eq!(t.resolve(&other), None);
            }
        }
        assert_eq!(t.resolve("C"), None);
        assert_eq!(t.resolve("AAAC"), None);
    }

    #[test]
    fn refuses_ambiguity() {
        assert!(matches!(SymbolTable::new(&[spec(0, "A"), spec(1, "A")]), Err(SymbolError::DuplicateSymbol { .. })));
        assert!(matches!(SymbolTable::new(&[spec(0, "A"), spec(0, "B")]), Err(SymbolError::DuplicateId { .. })));
        assert!(matches!(SymbolTable::new(&[spec(0, "")]), Err(SymbolError::EmptySymbol { .. })));
        assert!(SymbolTable::new(&[]).unwrap().is_empty());
    }
}
