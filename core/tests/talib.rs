//! Agreement with TA-Lib.
//!
//! The fixtures in `tests/fixtures/talib/` were written by `scripts/talib_fixtures.py`
//! (TA-Lib's Python wrapper, C library inside) from a seeded random-walk OHLCV series that
//! is stored alongside (`ohlcv.json`). Each case names an [`IndicatorSpec`] and the TA-Lib
//! outputs for it, keyed by our output column names; the test feeds the same bars through
//! [`Indicator::update`] and checks, for every column:
//!
//! * the same first valid index (our first `Some` is TA-Lib's first non-NaN), and no gaps
//!   after it on either side;
//! * every value within `|ours − talib| ≤ 1e-9 · max(|talib|, 1)`: relative 1e-9 for values
//!   of magnitude ≥ 1, and an absolute 1e-9 floor below that, for values that cross or sit at
//!   zero (OBV, MACD histogram, ROC, a DI at 0) where a relative bound would compare rounding
//!   noise with zero. Prices here are ~1 300–3 400, so the floor is ~1e-12 of the inputs.
//!
//! No Python runs at test time; regenerate with `python3 scripts/talib_fixtures.py`.

use std::path::PathBuf;

use dalal_core::indicators::{BarInput, Indicator, IndicatorSpec};
use serde_json::Value;

const REL_TOL: f64 = 1e-9;
const ABS_FLOOR: f64 = 1.0;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/talib").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn column(v: &Value) -> Vec<Option<f64>> {
    v.as_array().expect("array").iter().map(Value::as_f64).collect()
}

fn bars() -> Vec<BarInput> {
    let d = fixture("ohlcv.json");
    let (o, h, l, c, v) =
        (column(&d["open"]), column(&d["high"]), column(&d["low"]), column(&d["close"]), column(&d["volume"]));
    assert_eq!(o.len(), d["bars"].as_u64().unwrap() as usize);
    (0..o.len())
        .map(|i| BarInput {
            open: o[i].unwrap(),
            high: h[i].unwrap(),
            low: l[i].unwrap(),
            close: c[i].unwrap(),
            volume: v[i].unwrap(),
        })
        .collect()
}

fn first_valid(xs: &[Option<f64>]) -> Option<usize> {
    xs.iter().position(Option::is_some)
}

/// Runs every case of one fixture file; returns the number of values compared.
fn check(file: &str) -> usize {
    let bars = bars();
    let doc = fixture(file);
    let cases = doc["cases"].as_array().expect("cases");
    assert!(!cases.is_empty(), "{file}: no cases");
    let mut compared = 0;
    let mut failures = Vec::new();
    for case in cases {
        let spec_text = case["spec"].as_str().expect("spec");
        let spec = IndicatorSpec::parse(spec_text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let names = spec.output_names();
        let mut ind: Indicator = spec.build();
        let mut ours = vec![Vec::with_capacity(bars.len()); names.len()];
        let mut out = vec![None; ind.outputs()];
        for bar in &bars {
            ind.update(bar, &mut out);
            for (col, v) in ours.iter_mut().zip(&out) {
                col.push(*v);
            }
        }
        let outputs = case["outputs"].as_object().expect("outputs");
        assert!(!outputs.is_empty());
        for (name, expected) in outputs {
            let idx = names
                .iter()
                .position(|n| n == name)
                .unwrap_or_else(|| panic!("{file}: {spec_text} has no output `{name}` (has {names:?})"));
            let expected = column(expected);
            let got = &ours[idx];
            assert_eq!(expected.len(), got.len());
            let (fe, fg) = (first_valid(&expected), first_valid(got));
            if fe != fg {
                failures.push(format!("{spec_text} {name}: first valid index ours {fg:?}, TA-Lib {fe:?}"));
                continue;
            }
            let Some(start) = fe else { panic!("{file}: {name} has no values") };
            let mut bad = 0;
            for i in start..got.len() {
                let (Some(a), Some(b)) = (got[i], expected[i]) else {
                    failures
                        .push(format!("{spec_text} {name}[{i}]: gap (ours {:?}, TA-Lib {:?})", got[i], expected[i]));
                    bad += 1;
                    break;
                };
                compared += 1;
                let tol = REL_TOL * b.abs().max(ABS_FLOOR);
                if (a - b).is_nan() || (a - b).abs() > tol {
                    bad += 1;
                    if bad <= 5 {
                        failures.push(format!(
                            "{spec_text} {name}[{i}]: ours {a:?}, TA-Lib {b:?} (diff {:e}, tol {tol:e})",
                            a - b
                        ));
                    }
                }
            }
            if bad > 5 {
                failures.push(format!("{spec_text} {name}: {bad} values out of tolerance in all"));
            }
        }
    }
    assert!(failures.is_empty(), "{file}: {} mismatch(es):\n{}", failures.len(), failures.join("\n"));
    compared
}

macro_rules! talib_case {
    ($($test:ident => $file:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                let n = check($file);
                assert!(n > 1000, "{}: only {n} values compared", $file);
            }
        )*

        /// Every fixture file on disk is exercised by a test above.
        #[test]
        fn every_fixture_is_checked() {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/talib");
            let known = [$($file),*];
            for entry in std::fs::read_dir(&dir).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if name.ends_with(".json") && name != "ohlcv.json" {
                    assert!(known.contains(&name.as_str()), "fixture {name} is not checked by any test");
                }
            }
        }
    };
}

talib_case! {
    sma_matches_talib => "sma.json",
    ema_matches_talib => "ema.json",
    wma_matches_talib => "wma.json",
    dema_matches_talib => "dema.json",
    tema_matches_talib => "tema.json",
    rsi_matches_talib => "rsi.json",
    macd_matches_talib => "macd.json",
    bbands_matches_talib => "bbands.json",
    atr_matches_talib => "atr.json",
    stoch_matches_talib => "stoch.json",
    adx_plus_di_minus_di_match_talib => "adx.json",
    cci_matches_talib => "cci.json",
    obv_matches_talib => "obv.json",
    mfi_matches_talib => "mfi.json",
    roc_matches_talib => "roc.json",
    willr_matches_talib => "willr.json",
    donchian_matches_talib_max_min => "donchian.json",
}

/// The fixture series has what the edge conventions need: equal closes, flat bars.
#[test]
fn fixture_series_is_well_formed() {
    let bars = bars();
    assert!(bars.len() >= 1000);
    let mut equal_closes = 0;
    let mut flat = 0;
    for (i, b) in bars.iter().enumerate() {
        assert!(b.low > 0.0 && b.high >= b.open.max(b.close) && b.low <= b.open.min(b.close), "bar {i}: {b:?}");
        assert!(b.volume >= 0.0);
        if i > 0 && b.close == bars[i - 1].close {
            equal_closes += 1;
        }
        if b.high == b.low {
            flat += 1;
        }
    }
    assert!(equal_closes >= 10, "{equal_closes} equal closes");
    assert!(flat >= 10, "{flat} flat bars");
}
