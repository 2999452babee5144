#!/usr/bin/env python3
"""Records what the official Kite Connect client (pykiteconnect 5.2.2) sends for each REST
call Dalal's client makes, so a Rust test can check that Dalal sends the same method, path,
query and form fields.

The client's `root` points at a small HTTP server in this script that records each request
and answers with a minimal success envelope so the client carries on. Keys and tokens are
obviously fake. One JSON object per line: the call and its arguments, then what was sent.

    python3 -m venv /tmp/kvenv && /tmp/kvenv/bin/pip install kiteconnect==5.2.2
    /tmp/kvenv/bin/python scripts/kite_rest_vectors.py > brokers/tests/fixtures/kite_rest_requests.jsonl
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qsl, urlsplit

from kiteconnect import KiteConnect

API_KEY = "fakeapikey0001"
API_SECRET = "fake-api-secret-0001"
REQUEST_TOKEN = "fake-request-token-0001"
ACCESS_TOKEN = "fake-access-token-0001"
ORDER_ID = "260105000000000001"

captured = []


def answer_for(method, path):
    if path == "/session/token" and method == "POST":
        return {"user_id": "AB1234", "api_key": API_KEY, "access_token": ACCESS_TOKEN,
                "login_time": "2026-01-05 09:00:00"}
    if path == "/session/token":
        return True
    if path.startswith("/orders/") and method in ("POST", "PUT", "DELETE"):
        return {"order_id": ORDER_ID}
    if path in ("/orders", "/trades", "/portfolio/holdings") or path.startswith("/orders/"):
        return []
    if path == "/portfolio/positions":
        return {"net": [], "day": []}
    if path.startswith("/instruments/historical/"):
        return {"candles": []}
    return {}


class Capture(BaseHTTPRequestHandler):
    def _handle(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        captured.append({
            "method": self.command,
            "path": url.path,
            "query": parse_qsl(url.query, keep_blank_values=True),
            "form": parse_qsl(body, keep_blank_values=True),
            "headers": {k.lower(): v for k, v in self.headers.items()
                        if k.lower() in ("x-kite-version", "authorization", "content-type")},
        })
        payload = json.dumps({"status": "success", "data": answer_for(self.command, url.path)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, *args):
        pass


def main():
    server = HTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = "http://127.0.0.1:%d" % server.server_address[1]
    kite = KiteConnect(API_KEY, root=root)
    out = sys.stdout

    def record(call, args, fn):
        before = len(captured)
        fn()
        assert len(captured) == before + 1, call
        line = {"call": call, "args": args}
        line.update(captured[-1])
        out.write(json.dumps(line, sort_keys=True) + "\n")

    record("generate_session", {"request_token": REQUEST_TOKEN, "api_secret": API_SECRET},
           lambda: kite.generate_session(REQUEST_TOKEN, api_secret=API_SECRET))
    assert kite.access_token == ACCESS_TOKEN

    instruments = {"CNC": ("NSE", "INFY"), "MIS": ("NSE", "SBIN"), "NRML": ("NFO", "NIFTY26JANFUT")}
    n = 0
    for variety in ("regular", "amo"):
        for order_type in ("MARKET", "LIMIT", "SL", "SL-M"):
            for product in ("CNC", "MIS", "NRML"):
                for validity in ("DAY", "IOC"):
                    n += 1
                    exchange, symbol = instruments[product]
                    args = {
                        "variety": variety, "exchange": exchange, "tradingsymbol": symbol,
                        "transaction_type": "BUY" if n % 2 else "SELL", "quantity": n,
                        "product": product, "order_type": order_type, "validity": validity,
                    }
                    if order_type in ("LIMIT", "SL"):
                        args["price"] = 1500.0 if n % 3 == 0 else 1500.55
                    if order_type in ("SL", "SL-M"):
                        args["trigger_price"] = 1499.0 if n % 4 == 0 else 1499.95
                    if n % 5 == 0:
                        args["tag"] = "dalal%d" % n
                    if n % 7 == 0:
                        args["disclosed_quantity"] = 1
                    record("place_order", args, lambda a=args: kite.place_order(**a))

    modifies = [
        {"variety": "regular", "order_id": ORDER_ID, "quantity": 2, "price": 1501.0, "order_type": "LIMIT",
         "validity": "DAY"},
        {"variety": "regular", "order_id": ORDER_ID, "trigger_price": 1490.25, "order_type": "SL-M"},
        {"variety": "amo", "order_id": ORDER_ID, "price": 1499.5},
    ]
    for args in modifies:
        record("modify_order", args, lambda a=args: kite.modify_order(**a))
    for variety in ("regular", "amo"):
        args = {"variety": variety, "order_id": ORDER_ID}
        record("cancel_order", args, lambda a=args: kite.cancel_order(**a))

    record("orders", {}, kite.orders)
    record("order_history", {"order_id": ORDER_ID}, lambda: kite.order_history(ORDER_ID))
    record("trades", {}, kite.trades)
    record("positions", {}, kite.positions)
    record("holdings", {}, kite.holdings)
    record("profile", {}, kite.profile)
    record("margins", {}, kite.margins)
    record("margins_segment", {"segment": "equity"}, lambda: kite.margins("equity"))
    for oi, continuous in ((True, False), (False, True)):
        args = {"instrument_token": 256265, "from_date": "2026-01-05 09:15:00", "to_date": "2026-01-05 15:30:00",
                "interval": "minute", "continuous": continuous, "oi": oi}
        record("historical_data", args, lambda a=args: kite.historical_data(**a))
    ltp = ["NSE:INFY", "NSE:NIFTY 50"]
    record("ltp", {"instruments": ltp}, lambda: kite.ltp(*ltp))
    quote = ["NSE:INFY", "BSE:SENSEX", "NFO:NIFTY26JANFUT"]
    record("quote", {"instruments": quote}, lambda: kite.quote(*quote))
    record("invalidate_access_token", {}, kite.invalidate_access_token)
    server.shutdown()


if __name__ == "__main__":
    main()
