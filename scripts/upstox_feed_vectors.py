#!/usr/bin/env python3
"""Regenerate the Upstox Market Data Feed v3 test vectors in brokers/tests/fixtures/.

    python3 -m venv /tmp/venv-upstox && /tmp/venv-upstox/bin/pip install upstox-python-sdk==2.30.0
    /tmp/venv-upstox/bin/python scripts/upstox_feed_vectors.py

Builds `FeedResponse` messages with the SDK's own generated classes
(`upstox_client.feeder.proto.MarketDataFeedV3_pb2`, so the SDK's compiled descriptor — not our
brokers/proto/MarketDataFeedV3.proto — decides the wire format), seeded so the output is the
same on every run: every `Type` and `RequestMode`; ltpc, full market (5 and 30 depth levels),
full index and first-level-with-greeks feeds, several instruments per message; market_info with
segment statuses and the casMarketStatus / preOpenSessionStatus maps; the fields the GitHub
.proto lacks (LTPC.iep as a DoubleValue, MarketFullFeed.iep .. casEligible) set and unset;
defaults (zeros, empty strings, present but empty sub-messages, a feed with no oneof member);
negative and extreme int64s; NaN, the infinities, -0.0 and extreme doubles; enum numbers the
schema does not know; and raw bytes appended to serializations: unknown field numbers of every
wire type (at the top level and inside nested messages), explicit zeros, and a repeated scalar
(last one wins). Each message is parsed back with `FeedResponse.FromString` and rendered with
`MessageToDict(..., preserving_proto_field_name=True)` — what `MarketDataStreamerV3` hands its
callers — and written as:

    upstox_feed_messages.hex      one message per line, hex (maps serialized deterministically)
    upstox_feed_expected.jsonl    the SDK's dict for that message, one JSON object per line

brokers/tests/upstox_feed.rs compares Dalal's decoder (`dalal_brokers::upstox::feed::to_json`)
with them; no Python runs at test time.
"""
import json
import math
import os
import random

from google.protobuf.json_format import MessageToDict
from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "brokers", "tests", "fixtures")

rng = random.Random(20261204)

SPECIAL_DOUBLES = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 2.2250738585072014e-308,
                   1.7976931348623157e308, -1.7976931348623157e308, 0.1, 1e21, 1e-7, 123456789.123456789]
EDGE_INT64 = [0, 1, -1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, -(2**63)]
KEYS = ["NSE_EQ|INE002A01018", "NSE_EQ|INE020B01018", "NSE_INDEX|Nifty Bank", "NSE_INDEX|Nifty 50",
        "NSE_FO|45450", "NSE_FO|35006", "BSE_EQ|INE467B01029", "BSE_INDEX|SENSEX", "MCX_FO|430268",
        "NCD_FO|12345", "BCD_FO|1", "NSE_COM|999", "", "NSE_INDEX|Nifty ₹ Ünicode"]
SEGMENTS = ["NSE_EQ", "NSE_FO", "NSE_INDEX", "BSE_EQ", "BSE_FO", "BSE_INDEX", "MCX_FO", "NCD_FO",
            "BCD_FO", "NSE_COM"]
INTERVALS = ["1d", "I1", "I30", ""]
NOW = 1732000000000


def price():
    r = rng.random()
    if r < 0.08:
        return rng.choice(SPECIAL_DOUBLES)
    if r < 0.18:
        return 0.0
    if r < 0.25:
        return rng.uniform(-1e6, 1e12)
    return round(rng.randrange(1, 1_000_000) * 0.05, 2)  # plausible tick prices


def ratio():
    r = rng.random()
    if r < 0.08:
        return rng.choice(SPECIAL_DOUBLES)
    if r < 0.18:
        return 0.0
    return rng.uniform(-5, 5)


def qty():
    r = rng.random()
    if r < 0.12:
        return rng.choice(EDGE_INT64)
    if r < 0.25:
        return rng.randrange(-(2**63), 2**63)
    return rng.randrange(0, 5_000_000)


def ts():
    r = rng.random()
    if r < 0.1:
        return rng.choice(EDGE_INT64)
    return NOW + rng.randrange(-86_400_000, 86_400_000)


def maybe(p=0.8):
    return rng.random() < p


def fill_ltpc(m):
    if maybe():
        m.ltp = price()
    if maybe():
        m.ltt = ts()
    if maybe():
        m.ltq = qty()
    if maybe():
        m.cp = price()
    r = rng.random()
    if r < 0.2:
        m.iep.value = price()
    elif r < 0.3:
        m.iep.SetInParent()  # present, value 0: MessageToDict writes 0.0
    if rng.random() < 0.05:
        m.Clear()
        m.SetInParent()  # present but empty


def fill_quote(q):
    if maybe():
        q.bidQ = qty()
    if maybe():
        q.bidP = price()
    if maybe():
        q.askQ = qty()
    if maybe():
        q.askP = price()


def fill_greeks(g):
    for name in ("delta", "theta", "gamma", "vega", "rho"):
        if maybe():
            setattr(g, name, ratio())
    if rng.random() < 0.05:
        g.Clear()
        g.SetInParent()


def fill_ohlc(market_ohlc):
    for _ in range(rng.choice([0, 1, 2, 3])):
        o = market_ohlc.ohlc.add()
        o.interval = rng.choice(INTERVALS)
        for name in ("open", "high", "low", "close"):
            if maybe():
                setattr(o, name, price())
        if maybe():
            o.vol = qty()
        if maybe():
            o.ts = ts()
    if not market_ohlc.ohlc:
        market_ohlc.SetInParent()


def fill_market_ff(m, depth):
    if maybe(0.9):
        fill_ltpc(m.ltpc)
    if maybe(0.9):
        for _ in range(depth):
            fill_quote(m.marketLevel.bidAskQuote.add())
        if depth == 0:
            m.marketLevel.SetInParent()
    if maybe(0.5):
        fill_greeks(m.optionGreeks)
    if maybe(0.8):
        fill_ohlc(m.marketOHLC)
    for name in ("atp", "oi", "iv", "tbq", "tsq"):
        if maybe():
            setattr(m, name, price())
    if maybe():
        m.vtt = qty()
    if maybe(0.4):  # the fields the GitHub .proto lacks
        m.iep = price()
        m.rp = price()
        m.ieq = qty()
        m.iiqTotal = qty()
        m.iiqM = qty()
        m.casEligible = rng.random() < 0.5


def fill_index_ff(m):
    if maybe(0.9):
        fill_ltpc(m.ltpc)
    if maybe(0.8):
        fill_ohlc(m.marketOHLC)
    if rng.random() < 0.05:
        m.Clear()
        m.SetInParent()


def fill_first_level(m):
    if maybe(0.9):
        fill_ltpc(m.ltpc)
    if maybe(0.9):
        fill_quote(m.firstDepth)
    if maybe(0.8):
        fill_greeks(m.optionGreeks)
    if maybe():
        m.vtt = qty()
    if maybe():
        m.oi = price()
    if maybe():
        m.iv = ratio()


def fill_feed(f, kind, mode):
    if kind == "ltpc":
        fill_ltpc(f.ltpc)
    elif kind == "full5":
        fill_market_ff(f.fullFeed.marketFF, 5)
    elif kind == "full30":
        fill_market_ff(f.fullFeed.marketFF, 30)
    elif kind == "index":
        fill_index_ff(f.fullFeed.indexFF)
    elif kind == "greeks":
        fill_first_level(f.firstLevelWithGreeks)
    elif kind == "empty_full":
        f.fullFeed.SetInParent()  # a FullFeed with no member
    # kind "none": a Feed with no oneof member at all
    f.requestMode = mode


KINDS = ["ltpc", "full5", "full30", "index", "greeks"]
MODE_FOR = {"ltpc": pb.ltpc, "full5": pb.full_d5, "full30": pb.full_d30, "index": pb.full_d5,
            "greeks": pb.option_greeks, "empty_full": pb.full_d5, "none": pb.ltpc}


def fill_market_info(mi):
    for seg in rng.sample(SEGMENTS, rng.randrange(0, len(SEGMENTS) + 1)):
        mi.segmentStatus[seg] = rng.choice(pb.MarketStatus.values())
    for field in (mi.casMarketStatus, mi.preOpenSessionStatus):
        if maybe(0.6):
            for seg in rng.sample(SEGMENTS, rng.randrange(1, 4)):
                info = field[seg]
                if maybe():
                    info.status = rng.choice(["OPEN", "CLOSED", "PRE_OPEN", "CAS_START", "CAS_END", ""])
                if maybe():
                    info.updatedTime = ts()
    if not (mi.segmentStatus or mi.casMarketStatus or mi.preOpenSessionStatus):
        mi.SetInParent()


def response(type_, feeds):
    m = pb.FeedResponse()
    m.type = type_
    for key, kind, mode in feeds:
        fill_feed(m.feeds[key], kind, mode)
    if maybe(0.9):
        m.currentTs = ts()
    return m


def random_feeds(n):
    kinds = KINDS + ["empty_full", "none"]
    out = []
    for key in rng.sample(KEYS, n):
        kind = rng.choice(kinds) if rng.random() < 0.1 else rng.choice(KINDS)
        mode = MODE_FOR[kind] if rng.random() < 0.8 else rng.choice(pb.RequestMode.values())
        out.append((key, kind, mode))
    return out


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(number, wire):
    return varint(number << 3 | wire)


# Fields no version of the schema has, one of each wire type (and a group, wire types 3/4).
UNKNOWN = [
    tag(99, 0) + varint(12345),
    tag(100, 2) + varint(3) + b"abc",
    tag(101, 1) + bytes(range(8)),
    tag(102, 5) + b"\x01\x02\x03\x04",
    tag(5000, 0) + varint(-1),
    tag(536870911, 2) + varint(0),  # the largest field number
    tag(103, 3) + tag(1, 0) + varint(7) + tag(2, 2) + varint(1) + b"x" + tag(103, 4),
]


def main():
    msgs = []  # serialized bytes

    def add(m):
        msgs.append(m.SerializeToString(deterministic=True))

    # The verified vector of brokers.md §3.9.3.
    v = pb.FeedResponse(type=pb.live_feed, currentTs=NOW)
    v.feeds["NSE_EQ|INE002A01018"].ltpc.CopyFrom(pb.LTPC(ltp=1290.5, ltt=NOW, ltq=5, cp=1280))
    add(v)
    # Empty and default-only messages.
    msgs.append(b"")
    add(pb.FeedResponse(type=pb.initial_feed, currentTs=0))
    m = pb.FeedResponse()
    m.marketInfo.SetInParent()
    add(m)
    m = pb.FeedResponse()
    m.feeds[""].SetInParent()
    add(m)
    # Every Type with every RequestMode and every feed kind.
    for type_ in pb.Type.values():
        for mode in pb.RequestMode.values():
            for kind in KINDS + ["empty_full", "none"]:
                m = response(type_, [(rng.choice(KEYS), kind, mode)])
                if type_ == pb.market_info or maybe(0.1):
                    fill_market_info(m.marketInfo)
                add(m)
    # The expected sequence: market_info first, then snapshots and live updates.
    for _ in range(20):
        m = pb.FeedResponse(type=pb.market_info, currentTs=ts())
        fill_market_info(m.marketInfo)
        add(m)
    for _ in range(120):
        m = response(rng.choice([pb.initial_feed, pb.live_feed]), random_feeds(rng.randrange(1, 7)))
        add(m)
    # Every MarketStatus in one map, and each default value alone.
    m = pb.FeedResponse(type=pb.market_info)
    for seg, status in zip(SEGMENTS, pb.MarketStatus.values()):
        m.marketInfo.segmentStatus[seg] = status
    add(m)
    for name in ("ltp", "cp"):
        for x in SPECIAL_DOUBLES + [0.0]:
            m = pb.FeedResponse(type=pb.live_feed)
            setattr(m.feeds["NSE_EQ|INE002A01018"].ltpc, name, x)
            m.feeds["NSE_EQ|INE002A01018"].ltpc.iep.value = x
            add(m)
    for x in EDGE_INT64:
        m = pb.FeedResponse(type=pb.live_feed, currentTs=x)
        q = m.feeds["NSE_FO|45450"].fullFeed.marketFF.marketLevel.bidAskQuote.add()
        q.bidQ, q.askQ = x, -x if x != -(2**63) else x
        m.feeds["NSE_FO|45450"].fullFeed.marketFF.vtt = x
        m.marketInfo.casMarketStatus["NSE_EQ"].updatedTime = x
        add(m)
    # Enum numbers the schema does not know (proto3 enums are open: kept as numbers).
    for t, mode, status in [(7, 9, 42), (-1, -2, -3), (3, 4, 6), (2**31 - 1, 1000, 99)]:
        m = pb.FeedResponse(type=t, currentTs=ts())
        fill_feed(m.feeds["NSE_EQ|INE020B01018"], "ltpc", mode)
        m.marketInfo.segmentStatus["NSE_EQ"] = status
        m.marketInfo.segmentStatus["NSE_FO"] = pb.NORMAL_OPEN
        add(m)
    # Unknown fields appended at the top level, and inside nested messages (the SDK keeps them
    # when it copies a parsed message, and writes them back out).
    for extra in UNKNOWN:
        m = response(pb.live_feed, random_feeds(2))
        msgs.append(m.SerializeToString(deterministic=True) + extra)
    for extra in UNKNOWN:
        m = pb.FeedResponse(type=pb.live_feed, currentTs=ts())
        ltpc = pb.LTPC()
        fill_ltpc(ltpc)
        ltpc = pb.LTPC.FromString(ltpc.SerializeToString() + extra)
        m.feeds["NSE_EQ|INE002A01018"].ltpc.CopyFrom(ltpc)
        full = pb.MarketFullFeed()
        fill_market_ff(full, 5)
        full = pb.MarketFullFeed.FromString(full.SerializeToString() + extra)
        m.feeds["NSE_FO|35006"].fullFeed.marketFF.CopyFrom(full)
        add(m)
    # Explicit zeros on the wire (omitted from the dict all the same), and a scalar sent twice
    # (the last one wins): currentTs = 0, type = initial_feed, then currentTs twice.
    base = response(pb.live_feed, random_feeds(1)).SerializeToString(deterministic=True)
    msgs.append(base + tag(3, 0) + varint(0) + tag(1, 0) + varint(0))
    msgs.append(base + tag(3, 0) + varint(5) + tag(3, 0) + varint(NOW))
    # A feed sent twice under one key (the last one wins, as for any map entry).
    one = pb.FeedResponse(type=pb.live_feed)
    one.feeds["NSE_EQ|INE002A01018"].ltpc.ltp = 1.5
    two = pb.FeedResponse(type=pb.live_feed)
    two.feeds["NSE_EQ|INE002A01018"].ltpc.ltp = 2.5
    msgs.append(one.SerializeToString() + two.SerializeToString())

    with open(os.path.join(OUT, "upstox_feed_messages.hex"), "w") as hx, \
            open(os.path.join(OUT, "upstox_feed_expected.jsonl"), "w") as ex:
        for b in msgs:
            d = MessageToDict(pb.FeedResponse.FromString(b), preserving_proto_field_name=True)
            hx.write(b.hex() + "\n")
            ex.write(json.dumps(d, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n")
    print(f"wrote {len(msgs)} messages to {OUT}")


if __name__ == "__main__":
    main()
