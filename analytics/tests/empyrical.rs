//! Every return metric against the values empyrical-reloaded 0.7.1 computes for the same
//! series (`scripts/empyrical_fixtures.py` writes `fixtures/empyrical.json`): 1e-9 relative,
//! NaN and ±∞ exactly, and non-finite values serialised as JSON null.

use dalal_analytics::{BenchmarkMetrics, Metrics, ReturnMetrics};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(untagged)]
enum Value {
    Number(f64),
    Special(String),
}

impl Value {
    fn get(&self) -> f64 {
        match self {
            Value::Number(x) => *x,
            Value::Special(s) => match s.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                other => panic!("unexpected fixture value {other:?}"),
            },
        }
    }
}

#[derive(Deserialize)]
struct Case {
    name: String,
    risk_free: f64,
    returns: Vec<f64>,
    benchmark: Option<Vec<f64>>,
    expected: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct Fixtures {
    empyrical_version: String,
    periods_per_year: f64,
    cases: Vec<Case>,
}

fn fixtures() -> Fixtures {
    let text = include_str!("fixtures/empyrical.json");
    serde_json::from_str(text).expect("fixture JSON")
}

fn same(want: f64, got: f64) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if want.is_infinite() || got.is_infinite() {
        return want == got;
    }
    (want - got).abs() <= 1e-9 * want.abs().max(got.abs())
}

/// The computed value of each fixture key, by name.
fn computed(m: &ReturnMetrics, b: Option<&BenchmarkMetrics>) -> BTreeMap<&'static str, f64> {
    let mut out = BTreeMap::from([
        ("total_return", m.total_return),
        ("cagr", m.cagr),
        ("annual_volatility", m.annual_volatility),
        ("sharpe", m.sharpe),
        ("sortino", m.sortino),
        ("calmar", m.calmar),
        ("max_drawdown", m.max_drawdown),
        ("max_drawdown_days", m.max_drawdown_days as f64),
        ("stability", m.stability),
        ("tail_ratio", m.tail_ratio),
        ("value_at_risk", m.value_at_risk),
    ]);
    if let Some(b) = b {
        out.extend([
            ("alpha", b.alpha),
            ("beta", b.beta),
            ("benchmark_return", b.benchmark_return),
            ("excess_return", b.excess_return),
        ]);
    }
    out
}

#[test]
fn every_metric_matches_empyrical() {
    let f = fixtures();
    assert_eq!(f.empyrical_version, "0.7.1");
    assert_eq!(f.periods_per_year, dalal_analytics::returns::PERIODS_PER_YEAR);
    assert!(f.cases.len() >= 20, "{} cases", f.cases.len());
    let mut failures = Vec::new();
    for case in &f.cases {
        let m = Metrics::compute(case.returns.len(), &case.returns, case.benchmark.as_deref(), case.risk_free);
        let got = computed(&m.returns, m.benchmark.as_ref());
        assert_eq!(got.len(), case.expected.len(), "{}: metric set", case.name);
        for (key, want) in &case.expected {
            let g = got.get(key.as_str()).copied().unwrap_or_else(|| panic!("{}: no metric {key}", case.name));
            if !same(want.get(), g) {
                failures.push(format!("{} {key}: empyrical {:e}, got {g:e}", case.name, want.get()));
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn non_finite_values_are_written_as_null() {
    let f = fixtures();
    let case = f.cases.iter().find(|c| c.name == "constant_up").expect("constant_up case");
    let m = Metrics::compute(case.returns.len(), &case.returns, None, case.risk_free);
    assert_eq!(m.returns.sharpe, f64::INFINITY);
    assert!(m.returns.calmar.is_nan());
    let json: serde_json::Value = serde_json::to_value(m).expect("serialises");
    assert!(json["sharpe"].is_null(), "{json}");
    assert!(json["calmar"].is_null(), "{json}");
    assert!(json["total_return"].is_f64(), "{json}");
    assert!(json.get("alpha").is_none(), "no benchmark group without a benchmark: {json}");
    assert!(json.get("trades").is_none(), "no trade group without trades: {json}");
}
