#!/usr/bin/env python3
"""Regenerate the TA-Lib reference fixtures in core/tests/fixtures/talib/.

    pip install ta-lib numpy      # PyPI `ta-lib` ships a wheel with the C library inside
    python3 scripts/talib_fixtures.py

The series is generated here (seeded, so the output is deterministic for a given numpy and
TA-Lib): a random walk of NSE-like daily bars with prices on the 0.05 tick grid, so equal
closes, equal typical prices and inside bars occur naturally. core/tests/talib.rs replays
the committed JSON through `dalal_core::indicators` and compares; no Python runs at test time.

Every fixture file holds one TA-Lib function (or a family computed together) as
    {"talib": "...", "talib_version": "...", "cases": [
        {"spec": "<IndicatorSpec string>", "call": "<the talib call>",
         "outputs": {"<output column name>": [float | null, ...]}}]}
with NaN written as null and floats at full precision (Python's repr round-trips).
"""

import json
import math
from pathlib import Path

import numpy as np
import talib

OUT = Path(__file__).resolve().parent.parent / "core" / "tests" / "fixtures" / "talib"
BARS = 2000
TICKS_PER_RUPEE = 20  # 0.05 tick


def on_tick(x):
    """Nearest multiple of 0.05 (as the double nearest k / 20)."""
    return round(x * TICKS_PER_RUPEE) / TICKS_PER_RUPEE


def make_series():
    rng = np.random.default_rng(42)
    o = np.empty(BARS)
    h = np.empty(BARS)
    lo = np.empty(BARS)
    c = np.empty(BARS)
    v = np.empty(BARS)
    prev = 1500.0
    # Volatility regimes: calm, normal, stressed.
    vol = 0.012
    for i in range(BARS):
        if i % 250 == 0:
            vol = float(rng.choice([0.007, 0.012, 0.022]))
        if 1000 <= i < 1015:
            # An illiquid stretch: a handful of trades at one price (flat bars, zero range,
            # unchanged typical price). Exercises every "range is zero" convention.
            p = c[999]
            o[i] = h[i] = lo[i] = c[i] = p
            v[i] = float(rng.integers(1, 50))
            prev = p
            continue
        op = on_tick(prev * math.exp(rng.normal(0.0, vol / 4)))
        cl = on_tick(op * math.exp(rng.normal(0.0002, vol)))
        if rng.random() < 0.03:
            cl = op  # doji / unchanged
        if rng.random() < 0.02:
            cl = prev  # close exactly equal to the previous close
        hi = on_tick(max(op, cl) * (1.0 + abs(rng.normal(0.0, vol / 2))))
        lw = on_tick(min(op, cl) * (1.0 - abs(rng.normal(0.0, vol / 2))))
        o[i] = op
        c[i] = cl
        h[i] = max(hi, op, cl)
        lo[i] = min(lw, op, cl)
        v[i] = float(int(rng.lognormal(12.5, 0.7)))
        prev = cl
    assert np.all(lo > 0)
    assert np.all(h >= np.maximum(o, c)) and np.all(lo <= np.minimum(o, c))
    return o, h, lo, c, v


def col(a):
    return [None if math.isnan(x) else float(x) for x in np.asarray(a, dtype=float)]


def fmt(x):
    """Minimal float text, as IndicatorSpec::output_names prints it (2 -> "2", 2.5 -> "2.5")."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def write(name, talib_name, cases):
    doc = {"talib": talib_name, "talib_version": talib.__ta_version__.decode(), "cases": cases}
    text = json.dumps(doc, allow_nan=False, separators=(",", ":"))
    (OUT / f"{name}.json").write_text(text + "\n")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    o, h, lo, c, v = make_series()
    (OUT / "ohlcv.json").write_text(
        json.dumps({"bars": BARS, "seed": 42, "open": col(o), "high": col(h), "low": col(lo), "close": col(c),
                    "volume": col(v)}, allow_nan=False, separators=(",", ":")) + "\n")

    def one(fn, key, periods):
        cases = []
        for n in periods:
            out = getattr(talib, fn)(c, timeperiod=n)
            cases.append({"spec": f"{key}:{n}", "call": f"{fn}(close, timeperiod={n})",
                          "outputs": {f"{key}_{n}": col(out)}})
        write(key, fn, cases)

    one("SMA", "sma", [20, 5, 50])
    one("EMA", "ema", [20, 9, 50])
    one("WMA", "wma", [10, 3, 30])
    one("DEMA", "dema", [10, 20])
    one("TEMA", "tema", [10, 20])
    one("RSI", "rsi", [14, 2, 30])
    one("ROC", "roc", [10, 1, 20])

    cases = []
    for f, s, g in [(12, 26, 9), (5, 35, 5), (8, 17, 1)]:
        m, sig, hist = talib.MACD(c, fastperiod=f, slowperiod=s, signalperiod=g)
        tag = f"{f}_{s}_{g}"
        cases.append({"spec": f"macd:{f}:{s}:{g}", "call": f"MACD(close, {f}, {s}, {g})",
                      "outputs": {f"macd_{tag}": col(m), f"macd_signal_{tag}": col(sig),
                                  f"macd_hist_{tag}": col(hist)}})
    write("macd", "MACD", cases)

    cases = []
    for n, k in [(20, 2.0), (10, 1.5), (50, 2.5)]:
        up, mid, dn = talib.BBANDS(c, timeperiod=n, nbdevup=k, nbdevdn=k, matype=0)
        tag = f"{n}_{fmt(k)}"
        cases.append({"spec": f"bbands:{n}:{fmt(k)}", "call": f"BBANDS(close, {n}, {k}, {k}, matype=0)",
                      "outputs": {f"bb_upper_{tag}": col(up), f"bb_middle_{tag}": col(mid),
                                  f"bb_lower_{tag}": col(dn)}})
    write("bbands", "BBANDS", cases)

    cases = []
    for n in [14, 7, 1]:
        cases.append({"spec": f"atr:{n}", "call": f"ATR(high, low, close, {n})",
                      "outputs": {f"atr_{n}": col(talib.ATR(h, lo, c, timeperiod=n))}})
    write("atr", "ATR", cases)

    cases = []
    for fk, sk, sd in [(14, 3, 3), (5, 3, 3), (21, 5, 4), (9, 1, 1)]:
        k, d = talib.STOCH(h, lo, c, fastk_period=fk, slowk_period=sk, slowk_matype=0, slowd_period=sd,
                           slowd_matype=0)
        tag = f"{fk}_{sk}_{sd}"
        cases.append({"spec": f"stoch:{fk}:{sk}:{sd}", "call": f"STOCH(high, low, close, {fk}, {sk}, 0, {sd}, 0)",
                      "outputs": {f"stoch_k_{tag}": col(k), f"stoch_d_{tag}": col(d)}})
    write("stoch", "STOCH", cases)

    cases = []
    for n in [14, 7, 28]:
        cases.append({"spec": f"adx:{n}", "call": f"ADX/PLUS_DI/MINUS_DI(high, low, close, {n})",
                      "outputs": {f"adx_{n}": col(talib.ADX(h, lo, c, timeperiod=n)),
                                  f"plus_di_{n}": col(talib.PLUS_DI(h, lo, c, timeperiod=n)),
                                  f"minus_di_{n}": col(talib.MINUS_DI(h, lo, c, timeperiod=n))}})
    write("adx", "ADX, PLUS_DI, MINUS_DI", cases)

    cases = []
    for n in [20, 14, 5]:
        cases.append({"spec": f"cci:{n}", "call": f"CCI(high, low, close, {n})",
                      "outputs": {f"cci_{n}": col(talib.CCI(h, lo, c, timeperiod=n))}})
    write("cci", "CCI", cases)

    write("obv", "OBV", [{"spec": "obv", "call": "OBV(close, volume)", "outputs": {"obv": col(talib.OBV(c, v))}}])

    cases = []
    for n in [14, 7, 20]:
        cases.append({"spec": f"mfi:{n}", "call": f"MFI(high, low, close, volume, {n})",
                      "outputs": {f"mfi_{n}": col(talib.MFI(h, lo, c, v, timeperiod=n))}})
    write("mfi", "MFI", cases)

    cases = []
    for n in [14, 5, 30]:
        cases.append({"spec": f"willr:{n}", "call": f"WILLR(high, low, close, {n})",
                      "outputs": {f"willr_{n}": col(talib.WILLR(h, lo, c, timeperiod=n))}})
    write("willr", "WILLR", cases)

    # Donchian: TA-Lib has no DONCHIAN; the upper/lower bands are MAX(high)/MIN(low) and the
    # middle is derived from them here ((upper + lower) / 2, computed in float64).
    cases = []
    for n in [20, 10, 55]:
        up = talib.MAX(h, timeperiod=n)
        dn = talib.MIN(lo, timeperiod=n)
        cases.append({"spec": f"donchian:{n}", "call": f"MAX(high, {n}), MIN(low, {n}); middle = (MAX + MIN) / 2",
                      "outputs": {f"donchian_upper_{n}": col(up), f"donchian_middle_{n}": col((up + dn) / 2.0),
                                  f"donchian_lower_{n}": col(dn)}})
    write("donchian", "MAX, MIN", cases)

    total = sum(p.stat().st_size for p in OUT.glob("*.json"))
    print(f"wrote {len(list(OUT.glob('*.json')))} files, {total / 1e6:.2f} MB, TA-Lib {talib.__ta_version__.decode()}")


if __name__ == "__main__":
    main()
