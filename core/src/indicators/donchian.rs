//! Donchian channels.
//!
//! `upper = highest high of the last n bars`, `lower = lowest low of the last n bars`,
//! `middle = (upper + lower) / 2`; first value at index n − 1, the current bar included.
//! TA-Lib has no DONCHIAN; the bands equal its `MAX(high, n)` and `MIN(low, n)`. O(1)
//! amortised per bar (monotonic deques).

use super::window::RollingExtreme;

/// One Donchian reading.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Channel {
    pub upper: f64,
    pub middle: f64,
    pub lower: f64,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Donchian {
    highest: RollingExtreme,
    lowest: RollingExtreme,
}

impl Donchian {
    /// `n` is clamped to at least 1.
    pub fn new(n: usize) -> Donchian {
        Donchian { highest: RollingExtreme::max(n), lowest: RollingExtreme::min(n) }
    }

    #[inline]
    pub fn update(&mut self, high: f64, low: f64) -> Option<Channel> {
        let upper = self.highest.push(high);
        let lower = self.lowest.push(low);
        let (upper, lower) = (upper?, lower?);
        Some(Channel { upper, middle: (upper + lower) / 2.0, lower })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn donchian_hand_checked() {
        let mut d = Donchian::new(3);
        assert_eq!(d.update(10.0, 8.0), None);
        assert_eq!(d.update(12.0, 9.0), None);
        assert_eq!(d.update(11.0, 7.0), Some(Channel { upper: 12.0, middle: 9.5, lower: 7.0 }));
        assert_eq!(d.update(9.0, 8.5), Some(Channel { upper: 12.0, middle: 9.5, lower: 7.0 }));
        assert_eq!(d.update(9.0, 8.5), Some(Channel { upper: 11.0, middle: 9.0, lower: 7.0 }));
        assert_eq!(d.update(9.0, 8.5), Some(Channel { upper: 9.0, middle: 8.75, lower: 8.5 }));
    }
}
