#!/usr/bin/env python3
"""Writes brokers/tests/fixtures/upstox_instruments.json: a small Upstox instrument master in
the shape of the decompressed `complete.json.gz` (one JSON array of objects; `tick_size` in
paise, `strike_price` in rupees, `expiry` in epoch milliseconds at 23:59:59 IST), for the
tests of `dalal instruments import --broker upstox`. The tests gzip it themselves to import
the file as Upstox serves it.

It holds NSE equities (NIFTY 50 names and others keyed by ISIN, an `EQ`, a `BE` and an SME
series), index rows, NIFTY/BANKNIFTY index futures and options and RELIANCE stock futures
and options, BSE and BSE F&O rows, MCX, currency and commodity-segment rows (out of scope),
and malformed elements whose refusal the tests count. One element per line, so a refused
element's position is its line number minus one. ISINs and tokens come from a seeded
generator where the real ones are not used: deterministic, no clock, no network.

    python3 scripts/upstox_instruments_fixture.py [OUT]
"""

import datetime
import json
import random
import string
import sys

RNG = random.Random(20261229)
IST = datetime.timezone(datetime.timedelta(hours=5, minutes=30))

# NSE equities: (symbol, company, ISIN or None, exchange_token or None, tick in paise).
NIFTY_50 = [
    ("RELIANCE", "RELIANCE INDUSTRIES LTD", "INE002A01018", "2885", 10.0),
    ("SBIN", "STATE BANK OF INDIA", "INE062A01020", "3045", 5.0),
    ("INFY", "INFOSYS LIMITED", "INE009A01021", "1594", 10.0),
    ("TCS", "TATA CONSULTANCY SERV LT", "INE467B01029", "11536", 10.0),
    ("HDFCBANK", "HDFC BANK LTD", "INE040A01034", "1333", 10.0),
    ("ICICIBANK", "ICICI BANK LTD.", "INE090A01021", "4963", 10.0),
    ("ITC", "ITC LTD", "INE154A01025", "1660", 5.0),
    ("LT", "LARSEN & TOUBRO LTD.", "INE018A01030", "11483", 10.0),
    ("AXISBANK", "AXIS BANK LIMITED", "INE238A01034", "5900", 10.0),
    ("BAJAJ-AUTO", "BAJAJ AUTO LIMITED", "INE917I01010", "16669", 50.0),
    ("M&M", "MAHINDRA & MAHINDRA LTD", "INE101A01026", "2031", 10.0),
    ("BHARTIARTL", "BHARTI AIRTEL LIMITED", "INE397D01024", "10604", 10.0),
    ("TATASTEEL", "TATA STEEL LIMITED", None, None, 1.0),
    ("WIPRO", "WIPRO LTD", None, None, 1.0),
    ("NTPC", "NTPC LTD", None, None, 5.0),
    ("MARUTI", "MARUTI SUZUKI INDIA LTD.", None, None, 100.0),
]
OTHERS = [
    ("AARTIIND", "AARTI INDUSTRIES LTD", None, None, 5.0),
    ("ABB", "ABB INDIA LIMITED", None, None, 50.0),
    ("IDEA", "VODAFONE IDEA LIMITED", "INE669E01016", "14366", 1.0),
    ("ZEEL", "ZEE ENTERTAINMENT ENT LTD", None, None, 1.0),
]

MONTHS = [datetime.date(2026, 12, 29), datetime.date(2027, 1, 25)]
WEEKLY = datetime.date(2026, 12, 8)

used = set()


def fresh(draw):
    while True:
        v = draw()
        if v not in used:
            used.add(v)
            return v


def isin():
    """An Indian company's ISIN with a valid check digit (letters as numbers, then Luhn)."""
    body = "INE" + "".join(RNG.choice(string.ascii_uppercase + string.digits) for _ in range(4)) + "A01" + str(RNG.randrange(10))
    digits = "".join(str(int(c, 36)) for c in body)
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n // 10 + n % 10
    return body + str((10 - total % 10) % 10)


def token(lo, hi):
    return fresh(lambda: str(RNG.randrange(lo, hi)))


def expiry_ms(day):
    return int(datetime.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=IST).timestamp() * 1000)


def stamp(day):
    return day.strftime("%d %b %y").upper()


def exchange(segment):
    """Upstox's `exchange` of a segment: currency F&O belongs to NSE or BSE, not to "NCD"."""
    return {"B": "BSE", "M": "MCX"}.get(segment[0], "NSE")


def num(x):
    return f"{x:g}"


class Master:
    def __init__(self):
        self.lines = []

    def obj(self, **fields):
        self.lines.append(json.dumps(fields, separators=(",", ":")))

    def raw(self, text):
        self.lines.append(text)

    def equity(self, segment, sym, company, isin_, tok, tick, kind):
        self.obj(segment=segment, name=company, exchange=exchange(segment), isin=isin_, instrument_type=kind,
                 instrument_key=f"{segment}|{isin_}", lot_size=1, freeze_quantity=100000.0, exchange_token=tok,
                 tick_size=tick, trading_symbol=sym, short_name=company.title(), security_type="NORMAL")

    def deriv(self, segment, und, company, und_key, und_type, day, kind, strike, lot, tick, weekly=False, tok=None):
        tok = tok or token(35000, 90000)
        sym = f"{und} FUT {stamp(day)}" if kind == "FUT" else f"{und} {num(strike)} {kind} {stamp(day)}"
        self.obj(weekly=weekly, segment=segment, name=company, exchange=exchange(segment), expiry=expiry_ms(day),
                 instrument_type=kind, underlying_symbol=und, instrument_key=f"{segment}|{tok}", lot_size=lot,
                 freeze_quantity=float(lot * 20), exchange_token=tok, minimum_lot=lot, underlying_key=und_key,
                 tick_size=tick, underlying_type=und_type, trading_symbol=sym, strike_price=float(strike))


def build():
    for _, _, i, t, _ in NIFTY_50 + OTHERS:
        used.update(x for x in (i, t) if x)
    m = Master()
    # Indices: counted, not traded.
    for seg, name, tok, sym in [("NSE_INDEX", "Nifty 50", 26000, "NIFTY"), ("NSE_INDEX", "Nifty Bank", 26009, "BANKNIFTY"),
                                ("BSE_INDEX", "SENSEX", 1, "SENSEX")]:
        m.obj(segment=seg, name=name, exchange=exchange(seg), instrument_type="INDEX", instrument_key=f"{seg}|{name}",
              exchange_token=tok, trading_symbol=sym)
    # NSE equities; then a trade-for-trade (BE) and an SME (SM, out of scope) series.
    for sym, company, i, t, tick in NIFTY_50 + OTHERS:
        m.equity("NSE_EQ", sym, company, i or fresh(isin), t or token(10000, 30000), tick, "EQ")
    m.equity("NSE_EQ", "JOCIL", "JOCIL LIMITED", "INE839G01010", "16927", 1.0, "BE")
    m.equity("NSE_EQ", "SHAH", "SHAH METACORP LIMITED", fresh(isin), token(10000, 30000), 5.0, "SM")
    # Index futures, two months each, and RELIANCE's.
    for und, key, lot, tick in [("NIFTY", "NSE_INDEX|Nifty 50", 65, 10.0), ("BANKNIFTY", "NSE_INDEX|Nifty Bank", 30, 20.0)]:
        for day in MONTHS:
            m.deriv("NSE_FO", und, und, key, "INDEX", day, "FUT", 0, lot, tick)
    for day in MONTHS:
        m.deriv("NSE_FO", "RELIANCE", "RELIANCE INDUSTRIES LTD", "NSE_EQ|INE002A01018", "EQUITY", day, "FUT", 0, 500, 10.0)
    # Options: NIFTY weekly, BANKNIFTY monthly, RELIANCE monthly with a ₹1502.50 strike.
    for k in range(25900, 26400, 100):
        for cp in ("CE", "PE"):
            m.deriv("NSE_FO", "NIFTY", "NIFTY", "NSE_INDEX|Nifty 50", "INDEX", WEEKLY, cp, k, 65, 5.0, weekly=True)
    for k in (59000, 59500, 60000):
        for cp in ("CE", "PE"):
            m.deriv("NSE_FO", "BANKNIFTY", "BANKNIFTY", "NSE_INDEX|Nifty Bank", "INDEX", MONTHS[0], cp, k, 30, 5.0)
    for k in (1500, 1502.5):
        for cp in ("CE", "PE"):
            m.deriv("NSE_FO", "RELIANCE", "RELIANCE INDUSTRIES LTD", "NSE_EQ|INE002A01018", "EQUITY", MONTHS[0], cp, k, 500, 5.0)
    # BSE cash (by group) and BSE F&O.
    m.equity("BSE_EQ", "RELIANCE", "RELIANCE INDUSTRIES LTD.", "INE002A01018", "500325", 5.0, "A")
    m.equity("BSE_EQ", "SBIN", "STATE BANK OF INDIA", "INE062A01020", "500112", 5.0, "A")
    m.deriv("BSE_FO", "SENSEX", "SENSEX", "BSE_INDEX|SENSEX", "INDEX", MONTHS[0], "FUT", 0, 20, 5.0, tok=token(800000, 900000))
    m.deriv("BSE_FO", "SENSEX", "SENSEX", "BSE_INDEX|SENSEX", "INDEX", datetime.date(2026, 12, 10), "CE", 86000, 20, 5.0,
            weekly=True, tok=token(800000, 900000))
    # Commodities and currency: out of Dalal's scope.
    m.deriv("MCX_FO", "GOLD", "GOLD", "MCX_INDEX|GOLD", "COM", datetime.date(2027, 2, 5), "FUT", 0, 1, 100.0, tok=token(400000, 500000))
    m.deriv("NCD_FO", "USDINR", "USDINR", "NCD_INDEX|USDINR", "CUR", MONTHS[0], "FUT", 0, 1, 0.25, tok=token(1000, 9000))
    m.deriv("BCD_FO", "USDINR", "USDINR", "BCD_INDEX|USDINR", "CUR", MONTHS[0], "FUT", 0, 1, 0.25, tok=token(1000, 9000))
    m.deriv("NSE_COM", "GOLDM", "GOLDM", "NSE_COM|GOLDM", "COM", datetime.date(2027, 2, 5), "FUT", 0, 10, 100.0,
            tok=token(100000, 200000))
    # Malformed elements, one per kind of refusal (the tests count them).
    m.raw('"RELIANCE"')                                                                   # not_an_object
    m.raw('{"segment":"NSE_EQ","name":"NO SYMBOL LTD","instrument_type":"EQ","instrument_key":"NSE_EQ|INE000Z01010",'
          '"lot_size":1,"exchange_token":"99001","tick_size":5.0}')                      # missing_field
    m.equity("NSE_EQ", "BADTOKEN", "BAD TOKEN LTD", "INE000Z01028", "notanumber", 5.0, "EQ")          # bad_token
    m.raw('{"segment":"NSE_EQ","name":"WRONG KEY LTD","instrument_type":"EQ","instrument_key":"BSE_EQ|INE000Z01036",'
          '"lot_size":1,"exchange_token":"99003","tick_size":5.0,"trading_symbol":"WRONGKEY"}')  # bad_instrument_key
    m.equity("NSE_EQ", "QUARTERPAISA", "QUARTER PAISA LTD", "INE000Z01044", "99004", 0.25, "EQ")     # bad_tick_size
    m.raw('{"weekly":false,"segment":"NSE_FO","name":"ZEROLOT","expiry":1798568999000,"instrument_type":"FUT",'
          '"underlying_symbol":"ZEROLOT","instrument_key":"NSE_FO|99005","lot_size":0,"exchange_token":"99005",'
          '"tick_size":5.0,"trading_symbol":"ZEROLOT FUT 29 DEC 26","strike_price":0.0}')  # bad_lot_size
    m.raw('{"weekly":false,"segment":"NSE_FO","name":"BADEXP","expiry":"2026-12-29","instrument_type":"FUT",'
          '"underlying_symbol":"BADEXP","instrument_key":"NSE_FO|99006","lot_size":50,"exchange_token":"99006",'
          '"tick_size":5.0,"trading_symbol":"BADEXP FUT 29 DEC 26","strike_price":0.0}')   # bad_expiry
    m.raw('{"weekly":true,"segment":"NSE_FO","name":"NIFTY","expiry":1796754599000,"instrument_type":"CE",'
          '"underlying_symbol":"NIFTY","instrument_key":"NSE_FO|99007","lot_size":65,"exchange_token":"99007",'
          '"tick_size":5.0,"trading_symbol":"NIFTY 0 CE 08 DEC 26","strike_price":0.0}')   # bad_strike
    m.equity("NSE_EQ", "AFTERBAD", "AFTER BAD ROWS LTD", "INE000Z01051", "99009", 5.0, "EQ")
    return "[\n" + ",\n".join(m.lines) + "\n]\n"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "brokers/tests/fixtures/upstox_instruments.json"
    with open(out, "w", newline="") as f:
        f.write(build())


if __name__ == "__main__":
    main()
