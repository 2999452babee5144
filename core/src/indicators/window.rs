//! Fixed-size windows shared by the indicators: a ring of the last `n` values and a rolling
//! maximum / minimum (monotonic deque). Both allocate once, at construction.

/// TA-Lib's `TA_EPSILON` (1e-14): its `TA_IS_ZERO` / `TA_IS_ZERO_OR_NEG` treat anything
/// closer to zero than this as zero. Used exactly where TA-Lib uses it, to agree with it.
pub(crate) const TA_EPSILON: f64 = 1e-14;

/// TA-Lib's `TA_IS_ZERO(v)`: `-ε < v < ε`.
#[inline]
pub(crate) fn ta_is_zero(v: f64) -> bool {
    -TA_EPSILON < v && v < TA_EPSILON
}

/// The last `n` values, oldest overwritten first. Slot order (what [`Ring::slots`] yields)
/// is the write position order, which is also TA-Lib's circular-buffer order.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Ring {
    buf: Box<[f64]>,
    pos: usize,
    len: usize,
}

impl Ring {
    /// `n` is clamped to at least 1.
    pub(crate) fn new(n: usize) -> Ring {
        Ring { buf: vec![0.0; n.max(1)].into_boxed_slice(), pos: 0, len: 0 }
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// Appends `x`; returns the value it pushed out (only once the ring was already full).
    #[inline]
    pub(crate) fn push(&mut self, x: f64) -> Option<f64> {
        let evicted = if self.is_full() { Some(self.buf[self.pos]) } else { None };
        if !self.is_full() {
            self.len += 1;
        }
        self.buf[self.pos] = x;
        self.pos += 1;
        if self.pos == self.buf.len() {
            self.pos = 0;
        }
        evicted
    }

    /// The oldest value held (the next one [`Ring::push`] evicts once full).
    #[inline]
    pub(crate) fn oldest(&self) -> f64 {
        if self.is_full() {
            self.buf[self.pos]
        } else {
            self.buf[0]
        }
    }

    /// The values held, in slot order (not age order); only meaningful once full.
    #[inline]
    pub(crate) fn slots(&self) -> &[f64] {
        &self.buf[..self.len]
    }

    /// The values held, oldest first.
    pub(crate) fn iter_oldest_first(&self) -> impl Iterator<Item = f64> + '_ {
        let start = if self.is_full() { self.pos } else { 0 };
        (0..self.len).map(move |i| self.buf[(start + i) % self.buf.len()])
    }
}

/// Highest (or lowest) of the last `n` values: a monotonic deque of (index, value), so each
/// value enters and leaves once (amortised O(1) per push). The deque never holds more than
/// `n` entries (one per unexpired index), whatever the values, NaN included: a NaN is never
/// dominated and leaves only when it expires, reading NaN while it is the front.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct RollingExtreme {
    idx: Box<[u64]>,
    val: Box<[f64]>,
    head: usize,
    len: usize,
    count: u64,
    max: bool,
}

impl RollingExtreme {
    /// Rolling maximum over `n` (clamped to at least 1).
    pub(crate) fn max(n: usize) -> RollingExtreme {
        Self::new(n, true)
    }

    /// Rolling minimum over `n` (clamped to at least 1).
    pub(crate) fn min(n: usize) -> RollingExtreme {
        Self::new(n, false)
    }

    fn new(n: usize, max: bool) -> RollingExtreme {
        let n = n.max(1);
        RollingExtreme {
            idx: vec![0; n].into_boxed_slice(),
            val: vec![0.0; n].into_boxed_slice(),
            head: 0,
            len: 0,
            count: 0,
            max,
        }
    }

    /// Adds a value; returns the extreme of the last `n` once `n` values have been seen.
    #[inline]
    pub(crate) fn push(&mut self, x: f64) -> Option<f64> {
        let n = self.val.len();
        let i = self.count;
        self.count += 1;
        // Expire the front entries that fell out of the window (at most one per push).
        while self.len > 0 && self.idx[self.head] + n as u64 <= i {
            self.head = (self.head + 1) % n;
            self.len -= 1;
        }
        // Drop the entries `x` dominates from the back.
        while self.len > 0 {
            let back = (self.head + self.len - 1) % n;
            let b = self.val[back];
            let dominated = if self.max { b <= x } else { b >= x };
            if !dominated {
                break;
            }
            self.len -= 1;
        }
        if self.len == n {
            // Unreachable (every held index is unexpired and distinct), kept as a guard so a
            // logic slip can never index out of bounds.
            self.head = (self.head + 1) % n;
            self.len -= 1;
        }
        let slot = (self.head + self.len) % n;
        self.idx[slot] = i;
        self.val[slot] = x;
        self.len += 1;
        (self.count >= n as u64).then(|| self.val[self.head])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_evicts_oldest() {
        let mut r = Ring::new(3);
        assert_eq!(r.push(1.0), None);
        assert_eq!(r.push(2.0), None);
        assert!(!r.is_full());
        assert_eq!(r.push(3.0), None);
        assert!(r.is_full());
        assert_eq!(r.oldest(), 1.0);
        assert_eq!(r.push(4.0), Some(1.0));
        assert_eq!(r.iter_oldest_first().collect::<Vec<_>>(), vec![2.0, 3.0, 4.0]);
        assert_eq!(r.slots(), &[4.0, 2.0, 3.0]);
    }

    #[test]
    fn rolling_extremes_match_brute_force() {
        let xs: Vec<f64> =
            (0..200).map(|i| ((i * 37 % 23) as f64 - 11.0) * if i % 7 == 0 { 2.0 } else { 1.0 }).collect();
        for n in [1, 2, 5, 13] {
            let (mut hi, mut lo) = (RollingExtreme::max(n), RollingExtreme::min(n));
            for (i, &x) in xs.iter().enumerate() {
                let (h, l) = (hi.push(x), lo.push(x));
                if i + 1 < n {
                    assert!(h.is_none() && l.is_none());
                    continue;
                }
                let w = &xs[i + 1 - n..=i];
                assert_eq!(h, Some(w.iter().cloned().fold(f64::MIN, f64::max)));
                assert_eq!(l, Some(w.iter().cloned().fold(f64::MAX, f64::min)));
            }
        }
    }

    #[test]
    fn rolling_extreme_survives_nan() {
        let mut hi = RollingExtreme::max(3);
        for x in [1.0, f64::NAN, 2.0, f64::NAN, f64::NAN, f64::INFINITY, 5.0, 1.0, 0.0, -1.0] {
            let _ = hi.push(x);
        }
        // The NaNs have expired; the window is now [0, -1, -2].
        assert_eq!(hi.push(-2.0), Some(0.0));
    }
}
