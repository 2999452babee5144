#!/usr/bin/env python3
"""Writes brokers/tests/fixtures/angel_instruments.json: a small Angel One instrument master in
the shape of SmartAPI's `OpenAPIScripMaster.json` (one JSON array, every value a string; tick
sizes and strikes in paise; expiries `DDMonYYYY`), for the tests of
`dalal instruments import --broker angel`.

It holds NSE equities (NIFTY 50 names and others, `-EQ` and `-BE` series, and SME, bond and
REIT series that are out of Dalal's scope), index rows (`AMXIDX`), NIFTY/BANKNIFTY index
futures and options and RELIANCE stock futures and options with their expiries (some in
Angel One's mixed case), BSE and BFO rows, MCX, CDS and NCDEX rows (out of scope), and
malformed elements whose refusal the tests count. One element per line, so a refused
element's position is its line number minus one. Tokens come from a seeded generator where
the real ones are not used: deterministic, no clock, no network.

    python3 scripts/angel_instruments_fixture.py [OUT]
"""

import json
import random
import sys

RNG = random.Random(20261208)

# NSE equities: (symbol, name, token or None for a generated one, tick in paise).
NIFTY_50 = [
    ("RELIANCE", "RELIANCE", "2885", 10), ("SBIN", "SBIN", "3045", 5), ("INFY", "INFY", "1594", 10),
    ("TCS", "TCS", "11536", 10), ("HDFCBANK", "HDFCBANK", "1333", 10), ("ICICIBANK", "ICICIBANK", "4963", 10),
    ("ITC", "ITC", "1660", 5), ("LT", "LT", "11483", 10), ("AXISBANK", "AXISBANK", "5900", 10),
    ("KOTAKBANK", "KOTAKBANK", "1922", 10), ("BAJAJ-AUTO", "BAJAJ-AUTO", "16669", 50), ("M&M", "M&M", "2031", 10),
    ("BHARTIARTL", "BHARTIARTL", "10604", 10), ("TATASTEEL", "TATASTEEL", None, 1), ("WIPRO", "WIPRO", None, 1),
    ("NTPC", "NTPC", None, 5), ("ETERNAL", "ETERNAL", None, 5), ("TMPV", "TMPV", None, 5),
    ("MARUTI", "MARUTI", None, 100), ("TITAN", "TITAN", None, 10),
]
OTHERS = [
    ("AARTIIND", "AARTIIND", None, 5), ("ABB", "ABB", None, 50), ("IDEA", "IDEA", "14366", 1),
    ("YESBANK", "YESBANK", None, 1), ("ZEEL", "ZEEL", None, 1), ("NIFTYBEES", "NIFTYBEES", None, 1),
]

# Index derivatives: underlying, lot, tick of futures (paise).
INDEX_FNO = [("NIFTY", "65", 10), ("BANKNIFTY", "30", 20)]
MONTHS = [("29DEC2026", "29DEC26"), ("25JAN2027", "25JAN27")]

used_tokens = set()


def token(lo, hi):
    while True:
        t = str(RNG.randrange(lo, hi))
        if t not in used_tokens:
            used_tokens.add(t)
            return t


def paise(p):
    """Angel One's decimal text for an amount of paise."""
    return f"{p:.6f}"


class Master:
    def __init__(self):
        self.lines = []

    def row(self, tok, symbol, name, expiry, strike, lot, kind, exch, tick):
        self.lines.append(json.dumps({
            "token": tok, "symbol": symbol, "name": name, "expiry": expiry, "strike": strike,
            "lotsize": lot, "instrumenttype": kind, "exch_seg": exch, "tick_size": tick,
        }, separators=(",", ":")))

    def raw(self, text):
        self.lines.append(text)


def build():
    for _, _, t, _ in NIFTY_50 + OTHERS:
        if t:
            used_tokens.add(t)
    m = Master()
    # Indices: counted, not traded.
    for tok, sym, name, exch in [("99926000", "Nifty 50", "NIFTY", "NSE"), ("99926009", "Nifty Bank", "BANKNIFTY", "NSE"),
                                 ("99926037", "Nifty Fin Service", "FINNIFTY", "NSE"), ("99919000", "SENSEX", "SENSEX", "BSE")]:
        m.row(tok, sym, name, "", "0.000000", "1", "AMXIDX", exch, "0.000000")
    # NSE equities, EQ series, then one trade-for-trade (BE) name.
    for sym, name, tok, tick in NIFTY_50 + OTHERS:
        m.row(tok or token(10000, 30000), f"{sym}-EQ", name, "", "-1.000000", "1", "", "NSE", paise(tick))
    m.row(token(10000, 30000), "JOCIL-BE", "JOCIL", "", "-1.000000", "1", "", "NSE", paise(1))
    # Series Dalal does not trade: SME, sovereign gold bond, bond, REIT.
    m.row(token(10000, 30000), "SHAH-SM", "SHAH", "", "-1.000000", "1200", "", "NSE", paise(5))
    m.row(token(10000, 30000), "SGBDEC26-GB", "SGBDEC26", "", "-1.000000", "1", "", "NSE", paise(1))
    m.row(token(10000, 30000), "IRFC-N5", "IRFC", "", "-1.000000", "1", "", "NSE", paise(1))
    m.row(token(10000, 30000), "EMBASSY-RR", "EMBASSY", "", "-1.000000", "1", "", "NSE", paise(1))
    # Index futures, two months each.
    for und, lot, tick in INDEX_FNO:
        for exp, code in MONTHS:
            m.row(token(35000, 90000), f"{und}{code}FUT", und, exp, "-1.000000", lot, "FUTIDX", "NFO", paise(tick))
    # RELIANCE stock futures.
    for exp, code in MONTHS:
        m.row(token(35000, 90000), f"RELIANCE{code}FUT", "RELIANCE", exp, "-1.000000", "500", "FUTSTK", "NFO", paise(10))
    # NIFTY weekly options (expiry in Angel One's mixed case), BANKNIFTY monthly.
    for k in range(25900, 26400, 100):
        for cp in ("CE", "PE"):
            m.row(token(35000, 90000), f"NIFTY08DEC26{k}{cp}", "NIFTY", "08Dec2026", paise(k * 100), "65", "OPTIDX", "NFO", paise(5))
    for k in (59000, 59500, 60000):
        for cp in ("CE", "PE"):
            m.row(token(35000, 90000), f"BANKNIFTY29DEC26{k}{cp}", "BANKNIFTY", "29DEC2026", paise(k * 100), "30", "OPTIDX", "NFO", paise(5))
    # RELIANCE options, one strike off the rupee grid (₹1502.50).
    for k in (150000, 150250):
        for cp in ("CE", "PE"):
            rupees = f"{k // 100}" if k % 100 == 0 else f"{k / 100:g}"
            m.row(token(35000, 90000), f"RELIANCE29DEC26{rupees}{cp}", "RELIANCE", "29DEC2026", paise(k), "500", "OPTSTK", "NFO", paise(5))
    # BSE equities (no series in the symbol) and BFO index derivatives.
    for tok, sym in [("500325", "RELIANCE"), ("500112", "SBIN"), ("532540", "TCS")]:
        m.row(tok, sym, sym, "", "-1.000000", "1", "", "BSE", paise(5))
    m.row(token(800000, 900000), "SENSEX29DEC26FUT", "SENSEX", "29DEC2026", "-1.000000", "20", "FUTIDX", "BFO", paise(5))
    m.row(token(800000, 900000), "SENSEX10DEC2686000CE", "SENSEX", "10DEC2026", paise(8600000), "20", "OPTIDX", "BFO", paise(5))
    # Commodities and currency: out of Dalal's scope.
    m.row(token(400000, 500000), "GOLD05FEB27FUT", "GOLD", "05FEB2027", "-1.000000", "1", "FUTCOM", "MCX", paise(100))
    m.row(token(400000, 500000), "CRUDEOIL16DEC265000CE", "CRUDEOIL", "16DEC2026", paise(500000), "100", "OPTFUT", "MCX", paise(10))
    m.row(token(1000, 9000), "USDINR29DEC26FUT", "USDINR", "29DEC2026", "-1.000000", "1", "FUTCUR", "CDS", "0.250000")
    m.row(token(1000, 9000), "USDINR29DEC2690CE", "USDINR", "29DEC2026", "900000000.000000", "1", "OPTCUR", "CDS", "0.250000")
    m.row(token(100000, 200000), "DHANIYA20JAN27FUT", "DHANIYA", "20JAN2027", "-1.000000", "5", "FUTCOM", "NCDEX", paise(200))
    # Malformed elements, one per kind of refusal (the tests count them).
    m.raw("null")                                                                         # not_an_object
    m.raw('{"token":"99999001","symbol":"","name":"NOSYMBOL","expiry":"","strike":"-1.000000","lotsize":"1",'
          '"instrumenttype":"","exch_seg":"NSE","tick_size":"5.000000"}')                 # missing_field
    m.row("notanumber", "BADTOKEN-EQ", "BADTOKEN", "", "-1.000000", "1", "", "NSE", paise(5))       # bad_token
    m.row("99999003", "QUARTERPAISA-EQ", "QUARTERPAISA", "", "-1.000000", "1", "", "NSE", "0.250000")  # bad_tick_size
    m.row("99999004", "BADTICK-EQ", "BADTICK", "", "-1.000000", "1", "", "NSE", "five")            # bad_tick_size
    m.row("99999005", "ZEROLOT29DEC26FUT", "ZEROLOT", "29DEC2026", "-1.000000", "0", "FUTSTK", "NFO", paise(5))  # bad_lot_size
    m.row("99999006", "BADEXP31FEB27FUT", "BADEXP", "31FEB2027", "-1.000000", "50", "FUTSTK", "NFO", paise(5))   # bad_expiry
    m.row("99999007", "NIFTY08DEC2626000XX", "NIFTY", "08Dec2026", paise(2600000), "65", "OPTIDX", "NFO", paise(5))  # bad_option_type
    m.row("99999008", "NIFTY08DEC26NOSTRIKECE", "NIFTY", "08Dec2026", "-1.000000", "65", "OPTIDX", "NFO", paise(5))  # bad_strike
    m.row("99999009", "AFTERBAD-EQ", "AFTERBAD", "", "-1.000000", "1", "", "NSE", paise(5))
    return "[\n" + ",\n".join(m.lines) + "\n]\n"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "brokers/tests/fixtures/angel_instruments.json"
    with open(out, "w", newline="") as f:
        f.write(build())


if __name__ == "__main__":
    main()
