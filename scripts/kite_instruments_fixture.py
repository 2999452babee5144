#!/usr/bin/env python3
"""Writes brokers/tests/fixtures/kite_instruments.csv: a small Kite instrument master in the
shape of Kite Connect's `GET /instruments` dump (header and quoting as Kite writes it), for
the tests of `dalal instruments import`.

It holds NSE equities (the NIFTY 50 and others, some names with commas), index rows,
NIFTY/BANKNIFTY/FINNIFTY/MIDCPNIFTY and stock futures, index and stock options, BSE and BFO
rows, MCX and CDS rows (out of Dalal's scope), and malformed rows whose refusal the tests
count. Prices are invented but on NSE's tick grid. Deterministic: no clock, no network.

    python3 scripts/kite_instruments_fixture.py [OUT]
"""

import sys

HEADER = ("instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,"
          "tick_size,lot_size,instrument_type,segment,exchange")

# Kite's segment ids: the low byte of an instrument_token.
SEGMENT_ID = {"NSE": 1, "NFO": 2, "CDS": 3, "BSE": 4, "BFO": 5, "BCD": 6, "MCX": 7, "INDICES": 9}

NIFTY_50 = [
    ("ADANIENT", "ADANI ENTERPRISES", 2280.4), ("ADANIPORTS", "ADANI PORTS & SEZ", 1478.9),
    ("APOLLOHOSP", "APOLLO HOSPITALS", 7120.5), ("ASIANPAINT", "ASIAN PAINTS", 2855.2),
    ("AXISBANK", "AXIS BANK", 1262.3), ("BAJAJ-AUTO", "BAJAJ AUTO", 9010.5),
    ("BAJAJFINSV", "BAJAJ FINSERV", 2041.6), ("BAJFINANCE", "BAJAJ FINANCE", 1015.3),
    ("BEL", "BHARAT ELECTRONICS", 412.35), ("BHARTIARTL", "BHARTI AIRTEL", 2098.7),
    ("CIPLA", "CIPLA", 1512.1), ("COALINDIA", "COAL INDIA", 381.45),
    ("DRREDDY", "DR. REDDY'S LABORATORIES", 1244.8), ("EICHERMOT", "EICHER MOTORS", 7015.0),
    ("ETERNAL", "ETERNAL", 298.15), ("GRASIM", "GRASIM INDUSTRIES", 2790.4),
    ("HCLTECH", "HCL TECHNOLOGIES", 1640.2), ("HDFCBANK", "HDFC BANK", 1001.45),
    ("HDFCLIFE", "HDFC LIFE INSURANCE COMPANY", 772.6), ("HINDALCO", "HINDALCO INDUSTRIES", 812.3),
    ("HINDUNILVR", "HINDUSTAN UNILEVER", 2404.7), ("ICICIBANK", "ICICI BANK", 1388.9),
    ("INDIGO", "INTERGLOBE AVIATION", 5720.5), ("INFY", "INFOSYS", 1571.3),
    ("ITC", "ITC", 402.55), ("JIOFIN", "JIO FINANCIAL SERVICES", 301.2),
    ("JSWSTEEL", "JSW STEEL", 1160.4), ("KOTAKBANK", "KOTAK MAHINDRA BANK", 2150.3),
    ("LT", "LARSEN & TOUBRO", 4012.6), ("M&M", "MAHINDRA & MAHINDRA", 3640.2),
    ("MARUTI", "MARUTI SUZUKI INDIA", 15960.0), ("MAXHEALTH", "MAX HEALTHCARE INSTITUTE", 1120.5),
    ("NESTLEIND", "NESTLE INDIA", 1260.4), ("NTPC", "NTPC", 331.95),
    ("ONGC", "OIL AND NATURAL GAS CORP.", 242.18), ("POWERGRID", "POWER GRID CORPORATION, INDIA", 281.4),
    ("RELIANCE", "RELIANCE INDUSTRIES", 1542.3), ("SBILIFE", "SBI LIFE INSURANCE COMPANY", 1990.1),
    ("SBIN", "STATE BANK OF INDIA", 968.25), ("SHRIRAMFIN", "SHRIRAM FINANCE", 842.1),
    ("SUNPHARMA", "SUN PHARMACEUTICAL IND.", 1780.6), ("TATACONSUM", "TATA CONSUMER PRODUCTS", 1172.4),
    ("TATASTEEL", "TATA STEEL", 171.23), ("TCS", "TATA CONSULTANCY SERV LT", 3180.5),
    ("TECHM", "TECH MAHINDRA", 1540.9), ("TITAN", "TITAN COMPANY", 3890.1),
    ("TMPV", "TATA MOTORS PASSENGER VEHICLES", 402.1), ("TRENT", "TRENT", 4310.5),
    ("ULTRACEMCO", "ULTRATECH CEMENT", 11850.0), ("WIPRO", "WIPRO", 248.66),
]

# Other NSE equities: (symbol, name, last price; 0 = none in the master).
OTHERS = [
    ("3MINDIA", "3M INDIA", 31150.0), ("AARTIIND", "AARTI INDUSTRIES", 412.3), ("ABB", "ABB INDIA", 5480.5),
    ("ACC", "ACC", 1890.4), ("AIAENG", "AIA ENGINEERING", 3320.1), ("ALKEM", "ALKEM LABORATORIES", 5410.0),
    ("AMBUJACEM", "AMBUJA CEMENTS", 561.45), ("APLAPOLLO", "APL APOLLO TUBES", 1712.3),
    ("ASHOKLEY", "ASHOK LEYLAND", 150.12), ("ASTRAL", "ASTRAL", 1450.6), ("AUBANK", "AU SMALL FINANCE BANK", 780.25),
    ("AUROPHARMA", "AUROBINDO PHARMA", 1190.3), ("BANDHANBNK", "BANDHAN BANK", 162.4),
    ("BANKBARODA", "BANK OF BARODA", 248.9), ("BERGEPAINT", "BERGER PAINTS (I)", 512.35),
    ("BHEL", "BHEL", 241.1), ("BIOCON", "BIOCON", 352.4), ("BOSCHLTD", "BOSCH", 36010.0),
    ("BPCL", "BHARAT PETROLEUM CORP  LT", 321.55), ("BRITANNIA", "BRITANNIA INDUSTRIES", 5920.5),
    ("CANBK", "CANARA BANK", 112.34), ("CHOLAFIN", "CHOLAMANDALAM IN & FIN CO", 1580.2),
    ("COLPAL", "COLGATE PALMOLIVE, (INDIA)", 2410.6), ("CONCOR", "CONTAINER CORP OF IND", 598.3),
    ("CUMMINSIND", "CUMMINS INDIA", 3780.4), ("DABUR", "DABUR INDIA", 512.1), ("DIVISLAB", "DIVI'S LABORATORIES", 6012.5),
    ("DLF", "DLF", 781.3), ("GAIL", "GAIL (INDIA)", 182.44), ("GODREJCP", "GODREJ CONSUMER PRODUCTS", 1210.4),
    ("HAVELLS", "HAVELLS INDIA", 1602.3), ("HEROMOTOCO", "HERO MOTOCORP", 5480.0),
    ("HINDPETRO", "HINDUSTAN PETROLEUM CORP", 432.15), ("IDFCFIRSTB", "IDFC FIRST BANK", 71.23),
    ("INDUSINDBK", "INDUSIND BANK", 812.65), ("IOC", "INDIAN OIL CORP", 145.67), ("IRCTC", "INDIAN RAILWAY CATER & TOURISM, CORP", 742.3),
    ("J&KBANK", "JAMMU & KASHMIR BANK", 104.56), ("JINDALSTEL", "JINDAL STEEL & POWER", 1012.4),
    ("LICHSGFIN", "LIC HOUSING FINANCE", 598.15), ("LUPIN", "LUPIN", 2010.3), ("MARICO", "MARICO", 712.35),
    ("MFSL", "MAX FINANCIAL SERV", 1580.6), ("MUTHOOTFIN", "MUTHOOT FINANCE", 3120.4), ("NAUKRI", "INFO EDGE (I)", 1390.2),
    ("NIFTYBEES", "NIP IND ETF NIFTY BEES", 289.41), ("NMDC", "NMDC", 74.56), ("PAGEIND", "PAGE INDUSTRIES", 41250.0),
    ("PEL", "PIRAMAL ENTERPRISES", 1102.3), ("PFC", "POWER FIN CORP", 402.45), ("PIDILITIND", "PIDILITE INDUSTRIES", 1480.5),
    ("PNB", "PUNJAB NATIONAL BANK", 121.34), ("RECLTD", "REC", 372.4), ("SAIL", "STEEL AUTHORITY OF INDIA", 132.45),
    ("SIEMENS", "SIEMENS", 3120.6), ("SRF", "SRF", 2980.2), ("TATAPOWER", "TATA POWER CO", 391.25),
    ("TORNTPHARM", "TORRENT PHARMACEUTICALS", 3610.4), ("TVSMOTOR", "TVS MOTOR COMPANY", 3420.5),
    ("UPL", "UPL", 702.15), ("VEDL", "VEDANTA", 512.3), ("VOLTAS", "VOLTAS", 1390.4), ("ZEEL", "ZEE ENTERTAINMENT ENT", 0),
    ("ZYDUSLIFE", "ZYDUS LIFESCIENCES", 982.35), ("YESBANK", "YES BANK", 0), ("IDEA", "VODAFONE IDEA", 0),
]

INDICES = [("NIFTY 50", 26180.35, 256265), ("NIFTY BANK", 59420.1, 260105), ("NIFTY FIN SERVICE", 27815.6, 257801),
           ("NIFTY MID SELECT", 13612.45, 288009), ("NIFTY IT", 37010.2, 259849), ("SENSEX", 85710.25, 265)]

# Index derivatives: underlying, lot, tick of futures, price.
INDEX_FNO = [("NIFTY", 65, "0.1", 26241.5), ("BANKNIFTY", 30, "0.2", 59610.4), ("FINNIFTY", 60, "0.1", 27890.2),
             ("MIDCPNIFTY", 120, "0.05", 13655.3)]

MONTHS = [("2026-12-29", "26DEC"), ("2027-01-25", "27JAN"), ("2027-02-23", "27FEB")]
WEEKLIES = [("2026-12-08", "26D08"), ("2026-12-15", "26D15")]


def tick(price):
    """NSE's equity tick by price band (from 15 Apr 2025), as Kite's master text."""
    for limit, t in [(250, "0.01"), (1000, "0.05"), (5000, "0.1"), (10000, "0.5"), (20000, "1"), (float("inf"), "5")]:
        if price < limit:
            return t
    return "5"


def money(x):
    return "0" if x == 0 else f"{x:.2f}".rstrip("0").rstrip(".")


class Master:
    def __init__(self):
        self.lines = [HEADER]
        self.next_exchange_token = 1000

    def row(self, symbol, name, last, expiry, strike, tick_size, lot, kind, segment, exchange, etok=None):
        etok = etok if etok is not None else self.next_exchange_token
        self.next_exchange_token += 1
        seg = "INDICES" if segment == "INDICES" else exchange
        itok = etok * 256 + SEGMENT_ID[seg]
        name = '"' + name.replace('"', '""') + '"'
        self.lines.append(",".join(str(v) for v in (
            itok, etok, symbol, name, money(last), expiry, strike, tick_size, lot, kind, segment, exchange)))

    def raw(self, line):
        self.lines.append(line)


def build():
    m = Master()
    for sym, price, tok in INDICES[:5]:
        m.row(sym, sym, price, "", 0, 0, 0, "EQ", "INDICES", "NSE", etok=tok // 256)
    for sym, name, last in NIFTY_50 + OTHERS:
        m.row(sym, name, last, "", 0, tick(last), 1, "EQ", "NSE", "NSE")
    # Index futures, three months each.
    for und, lot, t, price in INDEX_FNO:
        for i, (exp, code) in enumerate(MONTHS):
            m.row(f"{und}{code}FUT", und, round(price * (1 + 0.004 * i), 1), exp, 0, t, lot, "FUT", "NFO-FUT", "NFO")
    # Stock futures for a few dozen stocks (the NIFTY 50's first 20 and ten others).
    stocks = NIFTY_50[:20] + [o for o in OTHERS if o[0] in
                              ("ABB", "ACC", "AUBANK", "BANDHANBNK", "DLF", "IDEA", "IRCTC", "PNB", "VEDL", "ZEEL")]
    for sym, _name, last in stocks:
        lot = max(1, int(600000 // max(last, 50)) // 25 * 25) or 25
        for i, (exp, code) in enumerate(MONTHS):
            fut = round(last * (1 + 0.005 * (i + 1)), 1) if last else 0
            m.row(f"{sym}{code}FUT", sym, fut, exp, 0, tick(last or 100), lot, "FUT", "NFO-FUT", "NFO")
    # NIFTY weekly options around the money (the index is at 26180.35), zero last prices.
    for exp, code in WEEKLIES:
        for k in range(25900, 26500, 50):
            for cp in ("CE", "PE"):
                m.row(f"NIFTY{code}{k}{cp}", "NIFTY", 0, exp, k, "0.05", 65, cp, "NFO-OPT", "NFO")
    # BANKNIFTY monthly options.
    for k in range(59000, 60100, 200):
        for cp in ("CE", "PE"):
            m.row(f"BANKNIFTY26DEC{k}{cp}", "BANKNIFTY", 0, "2026-12-29", k, "0.05", 30, cp, "NFO-OPT", "NFO")
    # Stock options: RELIANCE (priced at 1542.3) and ZEEL (no price anywhere: by strike).
    for k in ("1500", "1520", "1540", "1560", "1580", "1502.5"):
        for cp in ("CE", "PE"):
            m.row(f"RELIANCE26DEC{k}{cp}", "RELIANCE", 0, "2026-12-29", k, "0.05", 500, cp, "NFO-OPT", "NFO")
    for k in (110, 100, 120):
        m.row(f"ZEEL26DEC{k}CE", "ZEEL", 0, "2026-12-29", k, "0.05", 3000, "CE", "NFO-OPT", "NFO")
    # BSE and BFO: equity and index derivatives on the other exchange.
    m.row("SENSEX", "SENSEX", INDICES[5][1], "", 0, 0, 0, "EQ", "INDICES", "BSE", etok=1)
    for sym, name, last in NIFTY_50[36:40] + OTHERS[:3]:
        m.row(sym, name, last, "", 0, tick(last), 1, "EQ", "BSE", "BSE")
    for exp, code in MONTHS[:2]:
        m.row(f"SENSEX{code}FUT", "SENSEX", 85900.0, exp, 0, "0.05", 20, "FUT", "BFO-FUT", "BFO")
    for k in (85500, 85800, 86000):
        m.row(f"SENSEX26D10{k}CE", "SENSEX", 0, "2026-12-10", k, "0.05", 20, "CE", "BFO-OPT", "BFO")
    # Commodities and currency: out of Dalal's scope.
    for exp, code in MONTHS[:2]:
        m.row(f"GOLD{code}FUT", "GOLD", 132150.0, exp, 0, "1", 1, "FUT", "MCX-FUT", "MCX")
        m.row(f"CRUDEOIL{code}FUT", "CRUDEOIL", 5012.0, exp, 0, "1", 100, "FUT", "MCX-FUT", "MCX")
        m.row(f"USDINR{code}FUT", "USDINR", 89.8825, exp, 0, "0.0025", 1000, "FUT", "CDS-FUT", "CDS")
    m.row("CRUDEOIL26DEC5000CE", "CRUDEOIL", 0, "2026-12-16", 5000, "0.1", 100, "CE", "MCX-OPT", "MCX")
    m.row("USDINR26D1190CE", "USDINR", 0, "2026-12-11", 90, "0.0025", 1000, "CE", "CDS-OPT", "CDS")
    # Malformed rows, one per kind of refusal (the tests count them).
    m.raw('99999001,390625,,"NO SYMBOL",10,,0,0.01,1,EQ,NSE,NSE')                        # missing_field
    m.raw('99999002,390626,BADTICK,"BAD TICK",10,,0,0.0x,1,EQ,NSE,NSE')                  # bad_tick_size
    m.raw('99999003,390627,QUARTERPAISA,"QUARTER PAISA",10,,0,0.0025,1,EQ,NSE,NSE')      # bad_tick_size
    m.raw('99999004,390628,ZEROLOT26DECFUT,"ZEROLOT",10,2026-12-29,0,0.05,0,FUT,NFO-FUT,NFO')  # bad_lot_size
    m.raw('99999005,390629,SHORTROW,"SHORT ROW",10,,0,0.05,1,EQ,NSE')                    # field_count
    m.raw('99999006,390630,BADEXP26DECFUT,"BADEXP",10,2026-13-01,0,0.05,50,FUT,NFO-FUT,NFO')  # bad_expiry
    m.raw('notanumber,390631,BADTOKEN,"BAD TOKEN",10,,0,0.05,1,EQ,NSE,NSE')              # bad_token
    m.raw('99999008,390632,STRAY,"STRAY"QUOTE,10,,0,0.05,1,EQ,NSE,NSE')                  # unreadable_csv
    m.raw('')                                                                           # blank: ignored
    m.raw('99999009,390633,AFTERBAD,"AFTER BAD, ROWS",101.5,,0,0.05,1,EQ,NSE,NSE')
    return "\n".join(m.lines) + "\n"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "brokers/tests/fixtures/kite_instruments.csv"
    with open(out, "w", newline="") as f:
        f.write(build())


if __name__ == "__main__":
    main()
