#!/usr/bin/env python3
"""Dev-time check, not run by CI: the official Angel One client, smartapi-python 1.5.5, drives
the fake Angel server (dalal_brokers::fake::angel) through a login with a pyotp code, orders,
the books, funds and quotes, and its SmartStream parser decodes a packet the fake encoded. It
shows the fake speaks SmartAPI as the official client does.

The Rust side starts the fake and runs this script (brokers/tests/angel_fake.rs,
`smartapi_python_drives_the_fake`, ignored by default):

    python3 -m venv /tmp/angel-venv
    /tmp/angel-venv/bin/pip install smartapi-python==1.5.5 logzero websocket-client pyotp
    ANGEL_PYTHON=/tmp/angel-venv/bin/python cargo test -p dalal-brokers --features fake \
        --test angel_fake -- --ignored smartapi_python

Importing SmartApi looks up the machine's public IP on the internet; the script disables that
lookup first (the client then uses its built-in addresses), so it sends nothing off the machine.
The client writes ./logs/<date>/app.log, so the script runs in a temporary directory.
"""

import argparse
import importlib.util
import json
import os
import sys
import tempfile


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--client", required=True)
    p.add_argument("--mpin", required=True)
    p.add_argument("--seed", required=True)
    p.add_argument("--api-key", required=True)
    p.add_argument("--snapquote-hex", help="a SnapQuote packet the fake encoded (see the Rust test)")
    args = p.parse_args()
    os.chdir(tempfile.mkdtemp(prefix="angel-fake-check-"))

    import requests

    def offline(*_a, **_k):
        raise requests.exceptions.ConnectionError("public-IP lookup disabled by angel_fake_check.py")

    requests.get = offline  # before SmartApi's `from requests import get`
    import pyotp
    import SmartApi
    from SmartApi.smartConnect import SmartConnect

    results = []

    def check(name, ok, detail=None):
        results.append((name, bool(ok)))
        print(("ok   " if ok else "FAIL ") + name + ("" if ok or detail is None else f": {json.dumps(detail)[:400]}"))

    api = SmartConnect(api_key=args.api_key, root=args.root)
    code = pyotp.TOTP(args.seed).now()
    wrong = f"{(int(code) + 500_000) % 1_000_000:06d}"
    bad = SmartConnect(api_key=args.api_key, root=args.root).generateSession(args.client, args.mpin, wrong)
    check("a wrong TOTP is AB1050", bad.get("status") is False and bad.get("errorcode") == "AB1050", bad)

    session = api.generateSession(args.client, args.mpin, code)
    d = session.get("data") or {}
    check("generateSession logs in and reads the profile", session.get("status") is True and d.get("clientcode") == args.client, session)
    check("the client rewrites jwtToken to 'Bearer <jwt>'", str(d.get("jwtToken", "")).startswith("Bearer eyJ"), d)
    check("the feed token is kept", bool(api.getfeedToken()))

    market = {"variety": "NORMAL", "tradingsymbol": "SBIN-EQ", "symboltoken": "3045", "transactiontype": "BUY",
              "exchange": "NSE", "ordertype": "MARKET", "producttype": "INTRADAY", "duration": "DAY",
              "price": "0", "squareoff": "0", "stoploss": "0", "quantity": "5"}
    orderid = api.placeOrder(market)
    check("placeOrder returns a 15-digit orderid", isinstance(orderid, str) and len(orderid) == 15 and orderid.isdigit(), orderid)

    limit = dict(market, ordertype="LIMIT", price="790.5", quantity="2", ordertag="py-check")
    full = api.placeOrderFullResponse(limit)
    limit_id = (full.get("data") or {}).get("orderid")
    check("placeOrderFullResponse has uniqueorderid", len((full.get("data") or {}).get("uniqueorderid", "")) == 36, full)

    tag = dict(limit, ordertag="x" * 20)
    too_long = api.placeOrderFullResponse(tag)
    check("an ordertag of 20 characters is AB4008", too_long.get("errorcode") == "AB4008", too_long)

    book = api.orderBook()
    by_id = {o["orderid"]: o for o in (book.get("data") or [])}
    check("orderBook: the market order is complete", by_id.get(orderid, {}).get("status") == "complete", book)
    check("orderBook: the limit order is open at '790.50'",
          by_id.get(limit_id, {}).get("status") == "open" and by_id.get(limit_id, {}).get("price") == "790.50", book)

    cancelled = api.cancelOrder(limit_id, "NORMAL")
    check("cancelOrder", cancelled.get("status") is True and cancelled["data"]["orderid"] == limit_id, cancelled)

    trades = api.tradeBook()
    fills = [t for t in (trades.get("data") or []) if t["orderid"] == orderid]
    check("tradeBook has the fill", len(fills) == 1 and fills[0]["fillsize"] == "5" and fills[0]["fillprice"] == "800.00", trades)

    pos = api.position()
    rows = pos.get("data") or []
    check("position: one flat row, netqty '5'", len(rows) == 1 and rows[0]["netqty"] == "5" and rows[0]["tradingsymbol"] == "SBIN-EQ", pos)

    rms = api.rmsLimit()
    r = rms.get("data") or {}
    check("rmsLimit: numeric strings", all(isinstance(r.get(k), str) and float(r[k]) >= 0 for k in ("net", "availablecash", "utiliseddebits")), rms)
    check("rmsLimit: 4000 debited", r.get("utiliseddebits") == "4000.00", rms)

    holding = api.holding()
    check("holding", (holding.get("data") or [{}])[0].get("tradingsymbol") == "INFY-EQ", holding)
    ltp = api.ltpData("NSE", "SBIN-EQ", "3045")
    check("ltpData", (ltp.get("data") or {}).get("ltp") == 800.0, ltp)
    md = api.getMarketData("FULL", {"NSE": ["3045", "99"]})
    m = md.get("data") or {}
    check("getMarketData FULL: fetched and unfetched",
          len(m.get("fetched", [])) == 1 and m["fetched"][0].get("symbolToken") == "3045" and len(m.get("unfetched", [])) == 1, md)
    candles = api.getCandleData({"exchange": "NSE", "symboltoken": "3045", "interval": "ONE_MINUTE",
                                 "fromdate": "2026-01-05 09:15", "todate": "2026-01-05 09:20"})
    check("getCandleData: rows of [time, o, h, l, c, v]", candles.get("data") == [["2026-01-05T09:15:00+05:30", 800.0, 801.0, 799.0, 800.5, 1200]], candles)

    out = api.terminateSession(args.client)
    check("terminateSession", out.get("status") is True, out)
    after = api.rmsLimit()
    check("after logout the gateway answers AG8001", after.get("success") is False and after.get("errorCode") == "AG8001", after)

    if args.snapquote_hex:
        path = os.path.join(os.path.dirname(SmartApi.__file__), "smartWebSocketV2.py")
        spec = importlib.util.spec_from_file_location("angel_ws_v2", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        parsed = mod.SmartWebSocketV2("a", "b", "c", "d")._parse_binary_data(bytes.fromhex(args.snapquote_hex))
        want = {"subscription_mode": 3, "exchange_type": 1, "token": "3045", "sequence_number": 7,
                "exchange_timestamp": 1_700_000_000_123, "last_traded_price": 57_215, "last_traded_quantity": 10,
                "average_traded_price": 57_100, "volume_trade_for_the_day": 123_456, "total_buy_quantity": 1000.0,
                "total_sell_quantity": 2000.0, "open_price_of_the_day": 56_900, "high_price_of_the_day": 57_500,
                "low_price_of_the_day": 56_800, "closed_price": 56_750, "last_traded_timestamp": 1_700_000_000,
                "open_interest": 42, "upper_circuit_limit": 62_000, "lower_circuit_limit": 51_000,
                "52_week_high_price": 70_000, "52_week_low_price": 40_000}
        diff = {k: (parsed.get(k), v) for k, v in want.items() if parsed.get(k) != v}
        check("SmartWebSocketV2 parses the fake's SnapQuote", not diff, diff)
        bids = parsed.get("best_5_buy_data", [])
        check("best five bids are the flag-1 entries",
              len(bids) == 5 and bids[0] == {"flag": 1, "quantity": 100, "price": 57_200, "no of orders": 3}, bids)

    failed = sum(1 for _, ok in results if not ok)
    print(f"smartapi-python {getattr(SmartApi, '__version__', '1.5.5')}: {len(results) - failed} checks ok, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
