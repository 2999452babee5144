//! Statutory charges and brokerage on executed orders, to the paisa.
//!
//! Rates are held as integer parts per billion of turnover so every charge is an exact integer
//! computation, rounded half-up to the paisa per fill. Defaults are the NSE rates as of late
//! 2026 (sources per field below; all are configuration because they change with budgets and
//! exchange circulars):
//!
//! | charge | delivery | intraday | futures | options (on premium) |
//! |---|---|---|---|---|
//! | STT | 0.1% buy and sell | 0.025% sell | 0.05% sell (from 1 Apr 2026) | 0.15% sell |
//! | NSE transaction charge | 0.00297% | 0.00297% | 0.00173% | 0.03503% |
//! | SEBI turnover fee | ₹10 / crore | same | same | same |
//! | stamp duty (buy only) | 0.015% | 0.003% | 0.002% | 0.003% |
//! | GST | 18% of brokerage + transaction charge + SEBI fee | | | |
//!
//! Sources: STT — Budget 2026 as tabulated by cleartax; transaction charges — NSE revision of
//! 1 Oct 2024 (NDTV Profit, livemint, 27 Sep 2024); SEBI fee, stamp duty and GST — broker
//! charge pages. Brokerage is the broker's: the default is the common discount-broker tariff,
//! ₹0 for delivery and min(₹20, 0.03%) per executed order otherwise (flat ₹20 for options).

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::model::{Money, Product, Segment, Side};

/// Parts per billion: 1% = 10,000,000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ppb(pub u64);

impl Ppb {
    /// From a percentage such as 0.025 (meaning 0.025%). `None` for negative or absurd rates.
    pub fn from_percent(pct: f64) -> Option<Ppb> {
        (pct.is_finite() && (0.0..=100.0).contains(&pct)).then(|| Ppb((pct * 10_000_000.0).round() as u64))
    }

    /// `value × rate`, rounded half-up to the paisa.
    #[inline]
    pub fn of(self, value: Money) -> Money {
        let v = value.0.max(0) as i128 * self.0 as i128;
        Money(((v + 500_000_000) / 1_000_000_000) as i64)
    }
}

/// Which tariff applies to a fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChargeSegment {
    EquityDelivery,
    EquityIntraday,
    Futures,
    Options,
}

impl ChargeSegment {
    pub const ALL: [ChargeSegment; 4] =
        [ChargeSegment::EquityDelivery, ChargeSegment::EquityIntraday, ChargeSegment::Futures, ChargeSegment::Options];

    /// Cash equity bought for delivery is delivery; any other cash trade is intraday.
    pub fn of(segment: Segment, product: Product) -> ChargeSegment {
        match (segment, product) {
            (Segment::Equity, Product::Cnc) => ChargeSegment::EquityDelivery,
            (Segment::Equity, _) => ChargeSegment::EquityIntraday,
            (Segment::Futures, _) => ChargeSegment::Futures,
            (Segment::Options, _) => ChargeSegment::Options,
        }
    }

    pub fn parse(s: &str) -> Option<ChargeSegment> {
        ChargeSegment::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            ChargeSegment::EquityDelivery => "equity-delivery",
            ChargeSegment::EquityIntraday => "equity-intraday",
            ChargeSegment::Futures => "futures",
            ChargeSegment::Options => "options",
        }
    }

    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ChargeSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Brokerage tariff: `min(cap, rate × order value)`, or a flat fee when `rate` is zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Brokerage {
    pub rate: Ppb,
    /// Per executed order, paise; with a zero rate this is a flat fee.
    pub cap: Money,
}

/// One segment's tariff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tariff {
    pub brokerage: Brokerage,
    pub stt_buy: Ppb,
    pub stt_sell: Ppb,
    pub exchange_txn: Ppb,
    pub sebi: Ppb,
    pub stamp_buy: Ppb,
    pub gst: Ppb,
}

/// Tariffs for every segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeTable {
    pub tariffs: [Tariff; 4],
}

const PCT: u64 = 10_000_000;

impl Default for ChargeTable {
    fn default() -> Self {
        let sebi = Ppb(1_000); // ₹10 per crore = 1e-6
        let gst = Ppb(18 * PCT);
        let discount = Brokerage { rate: Ppb(300_000), cap: Money(2_000) }; // 0.03%, ₹20
        ChargeTable {
            tariffs: [
                Tariff {
                    brokerage: Brokerage { rate: Ppb(0), cap: Money(0) },
                    stt_buy: Ppb(1_000_000),
                    stt_sell: Ppb(1_000_000),
                    exchange_txn: Ppb(29_700),
                    sebi,
                    stamp_buy: Ppb(150_000),
                    gst,
                },
                Tariff {
                    brokerage: discount,
                    stt_buy: Ppb(0),
                    stt_sell: Ppb(250_000),
                    exchange_txn: Ppb(29_700),
                    sebi,
                    stamp_buy: Ppb(30_000),
                    gst,
                },
                Tariff {
                    brokerage: discount,
                    stt_buy: Ppb(0),
                    stt_sell: Ppb(500_000),
                    exchange_txn: Ppb(17_300),
                    sebi,
                    stamp_buy: Ppb(20_000),
                    gst,
                },
                Tariff {
                    brokerage: Brokerage { rate: Ppb(0), cap: Money(2_000) },
                    stt_buy: Ppb(0),
                    stt_sell: Ppb(1_500_000),
                    exchange_txn: Ppb(350_300),
                    sebi,
                    stamp_buy: Ppb(30_000),
                    gst,
                },
            ],
        }
    }
}

/// Every charge on one or more fills, paise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charges {
    pub brokerage: Money,
    pub stt: Money,
    pub exchange_txn: Money,
    pub sebi: Money,
    pub stamp_duty: Money,
    pub gst: Money,
}

impl Charges {
    pub fn total(&self) -> Money {
        self.brokerage + self.stt + self.exchange_txn + self.sebi + self.stamp_duty + self.gst
    }

    pub fn add(&mut self, o: &Charges) {
        self.brokerage += o.brokerage;
        self.stt += o.stt;
        self.exchange_txn += o.exchange_txn;
        self.sebi += o.sebi;
        self.stamp_duty += o.stamp_duty;
        self.gst += o.gst;
    }
}

impl ChargeTable {
    pub fn tariff(&self, seg: ChargeSegment) -> &Tariff {
        &self.tariffs[seg.index()]
    }

    /// Charges on a fill of `value` (price × qty, or premium × qty for options), given the
    /// brokerage already charged on the same order, so brokerage stays "per executed order"
    /// however many fills the order takes.
    pub fn on_fill(
        &self,
        seg: ChargeSegment,
        side: Side,
        value: Money,
        order_value_before: Money,
        brokerage_before: Money,
    ) -> Charges {
        let t = self.tariff(seg);
        let order_value = Money(order_value_before.0.saturating_add(value.0));
        let brokerage_total = if t.brokerage.rate.0 == 0 {
            t.brokerage.cap
        } else {
            let b = t.brokerage.rate.of(order_value);
            if t.brokerage.cap.0 > 0 {
                Money(b.0.min(t.brokerage.cap.0))
            } else {
                b
            }
        };
        let brokerage = Money((brokerage_total.0 - brokerage_before.0).max(0));
        let stt = match side {
            Side::Buy => t.stt_buy.of(value),
            Side::Sell => t.stt_sell.of(value),
        };
        let exchange_txn = t.exchange_txn.of(value);
        let sebi = t.sebi.of(value);
        let stamp_duty = if side == Side::Buy { t.stamp_buy.of(value) } else { Money::ZERO };
        let gst = t.gst.of(brokerage + exchange_txn + sebi);
        Charges { brokerage, stt, exchange_txn, sebi, stamp_duty, gst }
    }

    /// Charges on one whole order executed at once.
    pub fn on_order(&self, seg: ChargeSegment, side: Side, value: Money) -> Charges {
        self.on_fill(seg, side, value, Money::ZERO, Money::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rupees(r: f64) -> Money {
        Money((r * 100.0).round() as i64)
    }

    #[test]
    fn percent_to_ppb() {
        assert_eq!(Ppb::from_percent(0.025), Some(Ppb(250_000)));
        assert_eq!(Ppb::from_percent(0.00297), Some(Ppb(29_700)));
        assert_eq!(Ppb::from_percent(18.0), Some(Ppb(180_000_000)));
        assert_eq!(Ppb::from_percent(-1.0), None);
        assert_eq!(Ppb::from_percent(f64::NAN), None);
    }

    /// One row per segment and side, checked by hand: turnover ₹1,00,000.
    #[test]
    fn table_of_charges() {
        let t = ChargeTable::default();
        let v = rupees(100_000.0);
        // (segment, side, brokerage, stt, txn, sebi, stamp, gst) in rupees
        let cases = [
            (ChargeSegment::EquityIntraday, Side::Buy, 20.0, 0.0, 2.97, 0.10, 3.00, 4.15),
            (ChargeSegment::EquityIntraday, Side::Sell, 20.0, 25.0, 2.97, 0.10, 0.0, 4.15),
            (ChargeSegment::EquityDelivery, Side::Buy, 0.0, 100.0, 2.97, 0.10, 15.0, 0.55),
            (ChargeSegment::EquityDelivery, Side::Sell, 0.0, 100.0, 2.97, 0.10, 0.0, 0.55),
            (ChargeSegment::Futures, Side::Buy, 20.0, 0.0, 1.73, 0.10, 2.0, 3.93),
            (ChargeSegment::Futures, Side::Sell, 20.0, 50.0, 1.73, 0.10, 0.0, 3.93),
            (ChargeSegment::Options, Side::Buy, 20.0, 0.0, 35.03, 0.10, 3.0, 9.92),
            (ChargeSegment::Options, Side::Sell, 20.0, 150.0, 35.03, 0.10, 0.0, 9.92),
        ];
        for (seg, side, b, stt, txn, sebi, stamp, gst) in cases {
            let c = t.on_order(seg, side, v);
            let want = Charges {
                brokerage: rupees(b),
                stt: rupees(stt),
                exchange_txn: rupees(txn),
                sebi: rupees(sebi),
                stamp_duty: rupees(stamp),
                gst: rupees(gst),
            };
            assert_eq!(c, want, "{seg} {side}");
        }
    }

    #[test]
    fn small_orders_pay_the_percentage_brokerage() {
        let t = ChargeTable::default();
        // 0.03% of ₹10,000 = ₹3 < ₹20
        let c = t.on_order(ChargeSegment::EquityIntraday, Side::Buy, rupees(10_000.0));
        assert_eq!(c.brokerage, rupees(3.0));
    }

    #[test]
    fn brokerage_is_per_order_across_fills() {
        let t = ChargeTable::default();
        let seg = ChargeSegment::EquityIntraday;
        let a = t.on_fill(seg, Side::Buy, rupees(50_000.0), Money::ZERO, Money::ZERO);
        assert_eq!(a.brokerage, rupees(15.0));
        let b = t.on_fill(seg, Side::Buy, rupees(50_000.0), rupees(50_000.0), a.brokerage);
        assert_eq!(b.brokerage, rupees(5.0));
        let c = t.on_fill(seg, Side::Buy, rupees(50_000.0), rupees(100_000.0), a.brokerage + b.brokerage);
        assert_eq!(c.brokerage, Money::ZERO);
    }

    #[test]
    fn rounding_is_half_up_to_the_paisa() {
        // 0.00297% of ₹12,345.67 = 36.666… paise → 37
        assert_eq!(Ppb(29_700).of(Money(1_234_567)), Money(37));
        assert_eq!(Ppb(0).of(Money(1_234_567)), Money(0));
    }
}
