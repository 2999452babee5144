#!/usr/bin/env python3
"""Checks a `dalal candles` output against TA-Lib, symbol by symbol.

    dalal candles --data ticks.csv --timeframe 1m \
        --indicators "sma:20,ema:20,rsi:14,macd:12:26:9,bbands:20:2,atr:14" --out candles.csv
    pip install ta-lib numpy
    python3 scripts/check_candles.py candles.csv

Exits non-zero if any column differs by more than 1e-9 relative (or its first valid bar
differs).
"""
import csv
import sys

import numpy as np
import talib


def main(path):
    rows = list(csv.DictReader(open(path)))
    cols = rows[0].keys() if rows else []
    bad = 0
    for sym in sorted({r["symbol"] for r in rows}):
        rs = [r for r in rows if r["symbol"] == sym]
        c = np.array([float(r["close"]) for r in rs])
        h = np.array([float(r["high"]) for r in rs])
        lo = np.array([float(r["low"]) for r in rs])
        checks = {}
        for col in cols:
            parts = col.split("_")
            try:
                nums = [float(x) for x in parts[1:]] if parts[0] != "macd" else []
            except ValueError:
                continue
            if parts[0] == "sma":
                checks[col] = talib.SMA(c, int(nums[0]))
            elif parts[0] == "ema":
                checks[col] = talib.EMA(c, int(nums[0]))
            elif parts[0] == "rsi":
                checks[col] = talib.RSI(c, int(nums[0]))
            elif parts[0] == "atr":
                checks[col] = talib.ATR(h, lo, c, int(nums[0]))
            elif col.startswith("macd_") and len(parts) == 4:
                f, s, g = (int(x) for x in parts[1:])
                m, sig, hist = talib.MACD(c, f, s, g)
                checks[col] = m
                checks[f"macd_signal_{f}_{s}_{g}"] = sig
                checks[f"macd_hist_{f}_{s}_{g}"] = hist
            elif col.startswith("bb_middle_"):
                n, k = parts[2], parts[3]
                u, m, l = talib.BBANDS(c, int(n), float(k), float(k), 0)
                checks[f"bb_upper_{n}_{k}"], checks[col], checks[f"bb_lower_{n}_{k}"] = u, m, l
        for col, ref in checks.items():
            got = np.array([float(r[col]) if r[col] else np.nan for r in rs])
            same_nan = np.array_equal(np.isnan(got), np.isnan(ref))
            diff = np.abs(got - ref)
            tol = 1e-9 * np.maximum(np.abs(ref), 1.0)
            ok = same_nan and bool(np.all((diff <= tol) | np.isnan(ref)))
            if not ok:
                bad += 1
            print(f"{sym:<12} {col:<24} {'ok' if ok else 'DIFFERS'} max|diff|={np.nanmax(diff) if len(diff) else 0:.3g}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
