#!/usr/bin/env python3
"""Regenerate analytics/tests/fixtures/empyrical.json, the reference values of the return
metrics in the `dalal-analytics` crate.

    python3 -m venv /tmp/evenv && /tmp/evenv/bin/pip install empyrical-reloaded==0.7.1
    /tmp/evenv/bin/python scripts/empyrical_fixtures.py

Every series is built here (seeded, so the output is deterministic for a given numpy, scipy
and empyrical): flat, monotone up and down, one crash, a long drawdown, a recovered one,
negative mean, noisy, one day, two days and none, some with a benchmark and some with a
risk-free rate. analytics/tests/empyrical.rs replays the committed JSON through the crate and
compares to 1e-9 relative; no Python runs at test time.

Layout:
    {"empyrical_version": "...", "numpy_version": "...", "scipy_version": "...",
     "periods_per_year": 252,
     "cases": [{"name": "...", "risk_free": <annual rate>, "returns": [...],
                "benchmark": [...] (only in cases with one),
                "expected": {"<metric>": <float> | "NaN" | "Infinity" | "-Infinity"}}]}

Floats are written at full precision (Python's repr round-trips). Non-finite values are
strings so the test can tell NaN from +inf from -inf; metrics.json itself writes all three
as null.

The risk-free rate is annual and spread evenly: each day's is rate / 252, passed as
`risk_free` to sharpe_ratio and alpha_beta and as `required_return` to sortino_ratio.
`max_drawdown_days`, `benchmark_return` and `excess_return` have no empyrical function of
that name; they are computed below from empyrical's own pieces (drawdown_series,
cum_returns_final), with the definitions the Rust doc comments give.
"""

import json
import math
from pathlib import Path

import numpy as np
import scipy
import empyrical as ep

OUT = Path(__file__).resolve().parent.parent / "analytics" / "tests" / "fixtures" / "empyrical.json"
PERIODS = 252


def encode(x):
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def max_drawdown_days(r):
    """Longest run of consecutive days whose drawdown (empyrical.stats.drawdown_series) is below
    zero: the longest time spent under a previous peak, counted in return periods."""
    if len(r) == 0:
        return 0
    dd = ep.stats.drawdown_series(np.asarray(r, dtype=float))
    longest = run = 0
    for d in dd:
        run = run + 1 if d < 0 else 0
        longest = max(longest, run)
    return longest


def metrics(r, b, rf_annual):
    r = np.asarray(r, dtype=float)
    rf = rf_annual / PERIODS
    out = {
        "total_return": ep.cum_returns_final(r),
        "cagr": ep.cagr(r),
        "annual_volatility": ep.annual_volatility(r),
        "sharpe": ep.sharpe_ratio(r, risk_free=rf),
        "sortino": ep.sortino_ratio(r, required_return=rf),
        "calmar": ep.calmar_ratio(r),
        "max_drawdown": ep.max_drawdown(r),
        "max_drawdown_days": max_drawdown_days(r),
        "stability": ep.stability_of_timeseries(r),
        "tail_ratio": ep.tail_ratio(r),
        "value_at_risk": ep.value_at_risk(r),
    }
    if b is not None:
        b = np.asarray(b, dtype=float)
        alpha, beta = ep.alpha_beta(r, b, risk_free=rf)
        total = ep.cum_returns_final(r)
        bench = ep.cum_returns_final(b)
        out.update(
            {
                "alpha": alpha,
                "beta": beta,
                "benchmark_return": bench,
                "excess_return": total - bench,
            }
        )
    return {k: encode(v) for k, v in out.items()}


def cases():
    rng = np.random.default_rng(16)
    noisy = rng.normal(0.0006, 0.011, 500)
    bench = rng.normal(0.0004, 0.009, 300)
    tracking = 0.0001 + 1.1 * bench + rng.normal(0.0, 0.004, 300)
    negative = rng.normal(-0.001, 0.012, 250)
    crash = rng.uniform(0.0005, 0.003, 100)
    crash[50] = -0.25
    long_dd = np.concatenate(
        [rng.uniform(0.001, 0.004, 40), rng.normal(-0.002, 0.006, 150), rng.uniform(0.0, 0.003, 60)]
    )
    recovered = np.concatenate(
        [
            rng.uniform(0.002, 0.006, 20),
            rng.uniform(-0.006, -0.002, 15),
            rng.uniform(0.004, 0.009, 30),
            rng.uniform(-0.004, -0.001, 10),
            rng.uniform(0.001, 0.002, 5),
        ]
    )
    yield "empty", [], None, 0.0
    yield "empty_with_benchmark", [], [], 0.0
    yield "single_day", [0.012], None, 0.0
    yield "single_day_with_benchmark", [0.012], [0.004], 0.05
    yield "two_days", [0.01, -0.02], None, 0.0
    yield "two_days_with_benchmark", [0.01, -0.02], [0.005, -0.01], 0.0
    yield "flat", [0.0] * 60, None, 0.0
    yield "flat_with_risk_free", [0.0] * 60, None, 0.05
    yield "flat_with_benchmark", [0.0] * 60, list(bench[:60]), 0.0
    yield "constant_up", [0.001] * 60, None, 0.0
    yield "constant_down", [-0.001] * 60, None, 0.0
    yield "monotone_up", list(rng.uniform(0.0005, 0.01, 120)), None, 0.0
    yield "monotone_down", list(-rng.uniform(0.0005, 0.01, 120)), None, 0.0
    yield "one_crash", list(crash), None, 0.0
    yield "long_drawdown", list(long_dd), None, 0.0
    yield "recovered_drawdown", list(recovered), None, 0.0
    yield "negative_mean", list(negative), None, 0.0
    yield "negative_mean_with_benchmark", list(negative), list(bench[:250]), 0.065
    yield "noisy", list(noisy), None, 0.0
    yield "noisy_with_risk_free", list(noisy), None, 0.065
    yield "tracking_benchmark", list(tracking), list(bench), 0.0
    yield "tracking_benchmark_with_risk_free", list(tracking), list(bench), 0.065
    yield "flat_benchmark", list(noisy[:80]), [0.0] * 80, 0.0
    yield "constant_benchmark", list(noisy[:80]), [0.0005] * 80, 0.0


def main():
    out = []
    for name, r, b, rf in cases():
        r = [float(x) for x in r]
        case = {"name": name, "risk_free": rf, "returns": r}
        if b is not None:
            case["benchmark"] = [float(x) for x in b]
        case["expected"] = metrics(r, b, rf)
        out.append(case)
    doc = {
        "empyrical_version": ep.__version__,
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "periods_per_year": PERIODS,
        "cases": out,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    print(f"wrote {len(out)} cases to {OUT}")


if __name__ == "__main__":
    main()
