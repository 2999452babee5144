#!/usr/bin/env python3
"""Dev-time check, not run by CI: the official Upstox client, upstox-python-sdk 2.30.0, drives
the fake Upstox server (dalal_brokers::fake::upstox) through the token exchange, the profile and
funds, v3 orders (place, modify, cancel), the v2 order book, order details and history, trades,
positions, holdings, the v3 LTP and candles, an error answer and logout. It shows the fake speaks
Upstox's API as the official client reads it: the SDK deserializes every answer into its models
(which refuse, for example, an order type or a status outside their allowed values) and raises
ApiException on the error envelope.

The Rust side starts the fake and runs this script (brokers/tests/upstox_fake.rs,
`upstox_python_sdk_drives_the_fake`, ignored by default):

    python3 -m venv /tmp/venv-upstox
    /tmp/venv-upstox/bin/pip install upstox-python-sdk==2.30.0
    UPSTOX_PYTHON=/tmp/venv-upstox/bin/python cargo test -p dalal-brokers --features fake \
        --test upstox_fake -- --ignored upstox_python

The SDK routes order writes to `Configuration.order_host` and everything else to `host`; the
script points them at the fake's order and API hosts (`--hft-root`, `--root`). Importing the SDK
makes no network call, and every request goes to 127.0.0.1.
"""

import argparse
import json
import sys


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--hft-root", required=True)
    p.add_argument("--api-key", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--redirect-uri", required=True)
    p.add_argument("--code", required=True, help="an authorization code the fake issued")
    p.add_argument("--user", required=True)
    args = p.parse_args()

    import upstox_client
    from upstox_client.rest import ApiException

    results = []

    def check(name, ok, detail=None):
        results.append((name, bool(ok)))
        shown = "" if ok or detail is None else f": {str(detail)[:400]}"
        print(("ok   " if ok else "FAIL ") + name + shown)

    def client(token=None):
        cfg = upstox_client.Configuration()
        cfg.host = args.root
        cfg.order_host = args.hft_root
        if token:
            cfg.access_token = token
        return upstox_client.ApiClient(cfg)

    def error_code(e):
        try:
            return json.loads(e.body)["errors"][0]["errorCode"]
        except Exception:  # noqa: BLE001 - shown in the check's detail instead
            return None

    # Login: the form-encoded exchange and its flat answer.
    login = upstox_client.LoginApi(client())
    try:
        login.token("2.0", code="not-a-code", client_id=args.api_key, client_secret=args.secret,
                    redirect_uri=args.redirect_uri, grant_type="authorization_code")
        check("a wrong code is refused", False)
    except ApiException as e:
        check("a wrong code is 401 UDAPI100016", e.status == 401 and error_code(e) == "UDAPI100016", e.body)
    session = login.token("2.0", code=args.code, client_id=args.api_key, client_secret=args.secret,
                          redirect_uri=args.redirect_uri, grant_type="authorization_code")
    check("token: a flat TokenResponse with the tokens", session.user_id == args.user and session.access_token
          and session.extended_token and session.order_types == ["MARKET", "LIMIT", "SL", "SL-M"], session)
    api = client(session.access_token)

    user = upstox_client.UserApi(api)
    profile = user.get_profile("2.0")
    check("UserApi.get_profile", profile.status == "success" and profile.data.user_id == args.user, profile)
    funds = user.get_user_fund_margin("2.0")
    check("UserApi.get_user_fund_margin: equity and commodity",
          funds.data["equity"].available_margin == 100000.0 and "commodity" in funds.data, funds)
    sec = user.get_user_fund_margin("2.0", segment="SEC")
    check("get_user_fund_margin(segment=SEC): equity only", list(sec.data) == ["equity"], sec)

    # Orders through OrderApiV3 (to the order host).
    orders = upstox_client.OrderApiV3(api)
    market = upstox_client.PlaceOrderV3Request(
        quantity=5, product="D", validity="DAY", price=0.0, instrument_token="NSE_EQ|INE062A01020",
        order_type="MARKET", transaction_type="BUY", disclosed_quantity=0, trigger_price=0.0, is_amo=False,
        slice=False, tag="py-check")
    placed = orders.place_order(market)
    market_id = (placed.data.order_ids or [None])[0]
    check("OrderApiV3.place_order: order_ids and latency", placed.status == "success" and market_id
          and placed.metadata.latency == 7, placed)
    limit = upstox_client.PlaceOrderV3Request(
        quantity=2, product="I", validity="DAY", price=790.5, instrument_token="NSE_EQ|INE062A01020",
        order_type="LIMIT", transaction_type="BUY", disclosed_quantity=0, trigger_price=0.0, is_amo=False)
    limit_id = orders.place_order(limit).data.order_ids[0]
    modified = orders.modify_order(upstox_client.ModifyOrderRequest(
        quantity=3, validity="DAY", price=791.0, order_id=limit_id, order_type="LIMIT", disclosed_quantity=0,
        trigger_price=0.0))
    check("OrderApiV3.modify_order", modified.data.order_id == limit_id and modified.metadata.latency == 7, modified)
    cancelled = orders.cancel_order(limit_id)
    check("OrderApiV3.cancel_order", cancelled.data.order_id == limit_id, cancelled)
    try:
        orders.cancel_order(limit_id)
        check("a second cancel is refused", False)
    except ApiException as e:
        check("a second cancel is 400 UDAPI100040", e.status == 400 and error_code(e) == "UDAPI100040", e.body)
    bad = upstox_client.PlaceOrderV3Request(
        quantity=1, product="I", validity="DAY", price=1.0, instrument_token="NSE_EQ|NOT_LISTED",
        order_type="LIMIT", transaction_type="BUY", disclosed_quantity=0, trigger_price=0.0, is_amo=False)
    try:
        orders.place_order(bad)
        check("an unknown instrument is refused", False)
    except ApiException as e:
        check("an unknown instrument is 400 UDAPI1087", e.status == 400 and error_code(e) == "UDAPI1087", e.body)

    # The books through OrderApi (v2, the API host).
    v2 = upstox_client.OrderApi(api)
    book = v2.get_order_book("2.0")
    by_id = {o.order_id: o for o in book.data}
    check("OrderApi.get_order_book", by_id.get(market_id) and by_id[market_id].status == "complete"
          and by_id[limit_id].status == "cancelled" and by_id[limit_id].quantity == 3, book)
    details = v2.get_order_status(order_id=market_id)
    check("OrderApi.get_order_status (details)", details.data.average_price == 800.0
          and details.data.instrument_token == "NSE_EQ|INE062A01020" and details.data.tag == "py-check", details)
    history = v2.get_order_details("2.0", order_id=limit_id)
    statuses = [o.status for o in history.data]
    check("OrderApi.get_order_details (history)", statuses[:4] == ["put order req received", "validation pending",
          "open pending", "open"] and statuses[-2:] == ["cancel pending", "cancelled"], statuses)
    trades = v2.get_trade_history("2.0")
    check("OrderApi.get_trade_history", len(trades.data) == 1 and trades.data[0].quantity == 5
          and trades.data[0].average_price == 800.0, trades)
    by_order = v2.get_trades_by_order(market_id, "2.0")
    check("OrderApi.get_trades_by_order", [t.order_id for t in by_order.data] == [market_id], by_order)

    portfolio = upstox_client.PortfolioApi(api)
    positions = portfolio.get_positions("2.0")
    check("PortfolioApi.get_positions", len(positions.data) == 1 and positions.data[0].quantity == 5
          and positions.data[0].product == "D", positions)
    holdings = portfolio.get_holdings("2.0")
    check("PortfolioApi.get_holdings", holdings.data[0].trading_symbol == "INFY" and holdings.data[0].quantity == 5,
          holdings)

    ltp = upstox_client.MarketQuoteV3Api(api).get_ltp(instrument_key="NSE_EQ|INE062A01020,NSE_EQ|INE009A01021")
    check("MarketQuoteV3Api.get_ltp: keyed SEGMENT:symbol", set(ltp.data) == {"NSE_EQ:SBIN", "NSE_EQ:INFY"}
          and ltp.data["NSE_EQ:SBIN"].instrument_token == "NSE_EQ|INE062A01020", ltp)
    candles = upstox_client.HistoryV3Api(api).get_historical_candle_data1(
        "NSE_EQ|INE062A01020", "minutes", "1", "2026-01-05", "2026-01-05")
    check("HistoryV3Api.get_historical_candle_data1", candles.data.candles == [
        ["2026-01-05T09:15:00+05:30", 800.0, 801.0, 799.0, 800.5, 1200, 0]], candles)

    out = upstox_client.LoginApi(api).logout("2.0")
    check("LoginApi.logout", out.status == "success" and out.data is True, out)
    try:
        user.get_profile("2.0")
        check("after logout the token is refused", False)
    except ApiException as e:
        check("after logout: 401 UDAPI100050", e.status == 401 and error_code(e) == "UDAPI100050", e.body)

    failed = sum(1 for _, ok in results if not ok)
    print(f"upstox-python-sdk 2.30.0: {len(results) - failed} checks ok, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
