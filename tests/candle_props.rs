//! Property tests for bars: whatever the trades, every bar is well formed, volume is
//! conserved, and there is exactly one bar per bucket that saw a trade.

use std::collections::BTreeSet;

use dalal_core::model::Tick;
use dalal_core::model::{BarSpec, Candle, Timeframe};
use dalal_core::model::{InstrumentId, Price, Qty, Session, Timestamp};
use dalal_core::stages::candle::{CandleBuilder, CandleOptions, EmptyBars, LatePolicy};
use proptest::prelude::*;

// 2026-11-20 09:15:00 IST.
const OPEN: i64 = 1_795_146_300_000_000_000;
const SEC: i64 = 1_000_000_000;

/// In-order trades on up to three instruments, spread over a whole session and beyond.
fn trades() -> impl Strategy<Value = Vec<Tick>> {
    prop::collection::vec((0u32..3, 0i64..30_000, 1i64..500_000, 1u64..5_000), 1..400).prop_map(|mut v| {
        v.sort_by_key(|x| x.1);
        v.into_iter()
            .map(|(i, dt, p, q)| Tick {
                instrument: InstrumentId(i),
                ts: Timestamp(OPEN - 600 * SEC + dt * SEC),
                price: Price(p),
                qty: Qty(q),
            })
            .collect()
    })
}

fn specs() -> Vec<BarSpec> {
    ["1s", "5s", "1m", "3m", "15m", "1h", "1d", "7t", "2500v"].iter().filter_map(|s| BarSpec::parse(s)).collect()
}

fn build(ticks: &[Tick], options: CandleOptions) -> Vec<Candle> {
    let mut b = CandleBuilder::new(Session::NSE_NORMAL, &specs(), 3, options);
    let mut out = Vec::new();
    for t in ticks {
        b.on_tick(t, |c| out.push(*c));
    }
    b.flush(|c| out.push(*c));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn bars_are_well_formed(ticks in trades()) {
        for c in build(&ticks, CandleOptions::default()) {
            prop_assert!(c.low <= c.open && c.open <= c.high, "{c:?}");
            prop_assert!(c.low <= c.close && c.close <= c.high, "{c:?}");
            prop_assert!(c.start <= c.end);
            prop_assert!(c.trades > 0);
        }
    }

    #[test]
    fn bar_volumes_sum_to_the_trades(ticks in trades()) {
        let bars = build(&ticks, CandleOptions::default());
        for spec in specs() {
            for inst in 0..3u32 {
                let want: u64 = ticks.iter().filter(|t| t.instrument.0 == inst).map(|t| t.qty.0).sum();
                let got: u64 = bars.iter().filter(|c| c.spec == spec && c.instrument.0 == inst).map(|c| c.volume.0).sum();
                prop_assert_eq!(got, want, "{} instrument {}", spec, inst);
                let trades: u64 = bars.iter().filter(|c| c.spec == spec && c.instrument.0 == inst).map(|c| c.trades as u64).sum();
                prop_assert_eq!(trades, ticks.iter().filter(|t| t.instrument.0 == inst).count() as u64);
            }
        }
    }

    #[test]
    fn one_bar_per_non_empty_bucket(ticks in trades()) {
        let bars = build(&ticks, CandleOptions::default());
        for spec in specs() {
            let BarSpec::Time(tf) = spec else { continue };
            for inst in 0..3u32 {
                let buckets: BTreeSet<i64> = ticks
                    .iter()
                    .filter(|t| t.instrument.0 == inst)
                    .map(|t| tf.bucket(&Session::NSE_NORMAL, t.ts).0 .0)
                    .collect();
                let starts: Vec<i64> = bars.iter().filter(|c| c.spec == spec && c.instrument.0 == inst).map(|c| c.start.0).collect();
                let unique: BTreeSet<i64> = starts.iter().copied().collect();
                prop_assert_eq!(starts.len(), unique.len(), "{} has two bars for one bucket", spec);
                prop_assert_eq!(unique, buckets, "{}", spec);
            }
        }
    }

    #[test]
    fn flat_bars_only_fill_gaps(ticks in trades()) {
        let opts = CandleOptions { empty: EmptyBars::Flat, late: LatePolicy::Drop };
        let bars = build(&ticks, opts);
        let m1 = BarSpec::Time(Timeframe::M1);
        for inst in 0..3u32 {
            let series: Vec<&Candle> = bars.iter().filter(|c| c.spec == m1 && c.instrument.0 == inst).collect();
            for w in series.windows(2) {
                prop_assert!(w[0].start < w[1].start);
                if w[1].trades == 0 {
                    prop_assert_eq!(w[1].close, w[0].close, "a flat bar repeats the previous close");
                }
            }
            let volume: u64 = series.iter().map(|c| c.volume.0).sum();
            let want: u64 = ticks.iter().filter(|t| t.instrument.0 == inst).map(|t| t.qty.0).sum();
            prop_assert_eq!(volume, want);
        }
    }
}
