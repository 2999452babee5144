//! The weekly evaluation: a strategy run cut into ISO weeks (Monday to Sunday), each week's
//! figures, and a verdict against rules a desk sets (minimum Sharpe, maximum drawdown, most
//! of the gross P&L charges may eat).
//!
//! A week's figures are computed from the same daily returns as the whole run's metrics, so
//! the weeks' returns compound to the total return: `Π(1 + week) − 1 = Π(1 + day) − 1`.
//! - `return`: `Π(1 + r) − 1` over the week's trading days;
//! - `sharpe`: [`returns::sharpe`] of the week's daily returns, annualised like the run's (a
//!   week of one day has none: NaN);
//! - `max_drawdown`: [`returns::max_drawdown`] of the week's returns, measured from the previous
//!   week's close, so a loss on Monday counts;
//! - `trades`, `win_rate`: round trips that closed in the week (by their exit's IST day), and
//!   the share of them with a positive net P&L (NaN without trades);
//! - `charges`: everything charged on the week's executions, rupees;
//! - `gross_pnl`: the week's change in equity before charges (net change + charges), rupees.
//!
//! A rule only judges a figure that is defined: a week without variance has no Sharpe to fall
//! short, so a quiet week passes. A week whose gross P&L is not positive but paid charges has
//! an unbounded charges share and fails that rule.

use crate::returns;

/// One trading day of a curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DayRecord {
    /// Days since 1970-01-01 (the IST calendar day).
    pub day: i64,
    /// The day's simple return.
    pub ret: f64,
    /// Change in equity over the day, net of charges, rupees.
    pub net_pnl: f64,
    /// Charges on the day's executions, rupees.
    pub charges: f64,
}

/// A round trip, as the week it closed in sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TradeRecord {
    /// Days since 1970-01-01 of the exit (IST).
    pub exit_day: i64,
    /// Net P&L, rupees.
    pub net_pnl: f64,
}

/// What a week must meet; `None` leaves a figure unjudged.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WeeklyRules {
    /// The week's annualised Sharpe ratio must be at least this.
    pub min_sharpe: Option<f64>,
    /// The week's drawdown may go at most this deep (a positive fraction: 0.05 = 5 %).
    pub max_drawdown: Option<f64>,
    /// Charges may be at most this share of the week's gross P&L (0.5 = half).
    pub max_charges_share: Option<f64>,
}

/// One ISO week's figures and verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Week {
    /// Days since 1970-01-01 of the week's Monday.
    pub start_day: i64,
    /// Trading days in the week.
    pub days: usize,
    pub ret: f64,
    pub sharpe: f64,
    /// Negative fraction (or 0).
    pub max_drawdown: f64,
    pub trades: usize,
    pub win_rate: f64,
    pub charges: f64,
    pub gross_pnl: f64,
    /// Charges over gross P&L: NaN without charges, +∞ when gross P&L is not positive.
    pub charges_share: f64,
    /// Every rule the week broke, in words; empty when it passed.
    pub failures: Vec<String>,
}

impl Week {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The Monday (days since 1970-01-01) of the ISO week holding `day`; 1970-01-01 was a
/// Thursday.
pub fn week_start(day: i64) -> i64 {
    day - (day + 3).rem_euclid(7)
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// Cuts `days` (in date order) into ISO weeks and judges each by `rules`; `rf_daily` is the
/// daily risk-free return the Sharpe ratios use.
pub fn evaluate(days: &[DayRecord], trades: &[TradeRecord], rf_daily: f64, rules: &WeeklyRules) -> Vec<Week> {
    let mut weeks = Vec::new();
    let mut i = 0;
    while i < days.len() {
        let start = week_start(days[i].day);
        let end = days[i..].iter().position(|d| week_start(d.day) != start).map_or(days.len(), |n| i + n);
        let span = &days[i..end];
        let rets: Vec<f64> = span.iter().map(|d| d.ret).collect();
        let closed: Vec<&TradeRecord> = trades.iter().filter(|t| week_start(t.exit_day) == start).collect();
        let wins = closed.iter().filter(|t| t.net_pnl > 0.0).count();
        let charges: f64 = span.iter().map(|d| d.charges).sum();
        let gross_pnl = span.iter().map(|d| d.net_pnl).sum::<f64>() + charges;
        let charges_share = if charges <= 0.0 {
            f64::NAN
        } else if gross_pnl <= 0.0 {
            f64::INFINITY
        } else {
            charges / gross_pnl
        };
        let mut w = Week {
            start_day: start,
            days: span.len(),
            ret: returns::total_return(&rets),
            sharpe: returns::sharpe(&rets, rf_daily),
            max_drawdown: returns::max_drawdown(&rets),
            trades: closed.len(),
            win_rate: if closed.is_empty() { f64::NAN } else { wins as f64 / closed.len() as f64 },
            charges,
            gross_pnl,
            charges_share,
            failures: Vec::new(),
        };
        if let Some(min) = rules.min_sharpe {
            if !w.sharpe.is_nan() && w.sharpe < min {
                w.failures.push(format!("Sharpe {:.2} below {min:.2}", w.sharpe));
            }
        }
        if let Some(max) = rules.max_drawdown {
            if w.max_drawdown < -max {
                w.failures.push(format!("drawdown {} deeper than {}", pct(w.max_drawdown), pct(-max)));
            }
        }
        if let Some(max) = rules.max_charges_share {
            if w.charges_share > max {
                w.failures.push(if w.charges_share.is_finite() {
                    format!("charges {} of gross P&L, above {}", pct(w.charges_share), pct(max))
                } else {
                    format!("charges {:.2} against no gross profit", w.charges)
                });
            }
        }
        weeks.push(w);
        i = end;
    }
    weeks
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-02 was a Monday.
    const MON: i64 = 20_759;

    fn day(day: i64, ret: f64, net_pnl: f64, charges: f64) -> DayRecord {
        DayRecord { day, ret, net_pnl, charges }
    }

    #[test]
    fn iso_weeks_start_on_monday() {
        assert_eq!(week_start(0), -3, "1970-01-01, a Thursday, is in the week of Monday 1969-12-29");
        for d in 0..7 {
            assert_eq!(week_start(MON + d), MON);
        }
        assert_eq!(week_start(MON + 7), MON + 7);
        assert_eq!(week_start(MON - 1), MON - 7);
    }

    #[test]
    fn weeks_compound_to_the_total_and_are_judged() {
        let days = [
            // Week 1: steady gains, modest charges.
            day(MON, 0.01, 1000.0, 50.0),
            day(MON + 1, 0.02, 2000.0, 50.0),
            day(MON + 4, 0.005, 500.0, 50.0),
            // Week 2: a Monday crash, charges above the gross.
            day(MON + 7, -0.08, -8000.0, 300.0),
            day(MON + 8, 0.01, 1000.0, 100.0),
            // Week 3: one quiet day.
            day(MON + 16, 0.0, 0.0, 0.0),
        ];
        let trades = [
            TradeRecord { exit_day: MON + 1, net_pnl: 900.0 },
            TradeRecord { exit_day: MON + 4, net_pnl: -100.0 },
            TradeRecord { exit_day: MON + 8, net_pnl: -7000.0 },
        ];
        let rules = WeeklyRules { min_sharpe: Some(0.0), max_drawdown: Some(0.05), max_charges_share: Some(0.5) };
        let w = evaluate(&days, &trades, 0.0, &rules);
        assert_eq!(
            w.iter().map(|w| (w.start_day, w.days)).collect::<Vec<_>>(),
            [(MON, 3), (MON + 7, 2), (MON + 14, 1)]
        );
        let all: Vec<f64> = days.iter().map(|d| d.ret).collect();
        let compounded = w.iter().map(|w| 1.0 + w.ret).product::<f64>() - 1.0;
        assert!((compounded - returns::total_return(&all)).abs() < 1e-15);

        assert!(w[0].passed(), "{:?}", w[0].failures);
        assert_eq!((w[0].trades, w[0].win_rate, w[0].charges, w[0].gross_pnl), (2, 0.5, 150.0, 3650.0));
        assert_eq!(w[0].max_drawdown, 0.0);

        assert!(!w[1].passed());
        assert!((w[1].max_drawdown - -0.08).abs() < 1e-12, "measured from the previous close");
        assert_eq!(w[1].charges_share, f64::INFINITY, "gross -6600: charges eat everything");
        assert!(w[1].sharpe < 0.0);
        assert_eq!(w[1].failures.len(), 3, "{:?}", w[1].failures);
        assert!(w[1].failures[0].starts_with("Sharpe -"), "{:?}", w[1].failures);
        assert!(w[1].failures[1].contains("drawdown -8.00% deeper than -5.00%"), "{:?}", w[1].failures);
        assert_eq!(w[1].failures[2], "charges 400.00 against no gross profit");

        // One flat day: no Sharpe, no trades, nothing to fail.
        assert!(w[2].passed() && w[2].sharpe.is_nan() && w[2].win_rate.is_nan() && w[2].charges_share.is_nan());
    }

    #[test]
    fn a_losing_week_fails_the_sharpe_rule() {
        let days = [day(MON, -0.01, -100.0, 0.0), day(MON + 1, -0.02, -200.0, 0.0)];
        let w = evaluate(&days, &[], 0.0, &WeeklyRules { min_sharpe: Some(0.0), ..WeeklyRules::default() });
        assert!(w[0].sharpe < 0.0);
        assert_eq!(w[0].failures.len(), 1);
        assert!(w[0].failures[0].starts_with("Sharpe -"), "{:?}", w[0].failures);
        // No rules, no failures.
        assert!(evaluate(&days, &[], 0.0, &WeeklyRules::default())[0].passed());
    }
}
