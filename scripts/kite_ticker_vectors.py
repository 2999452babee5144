#!/usr/bin/env python3
"""Regenerate the KiteTicker test vectors in brokers/tests/fixtures/.

    python3 -m venv .venv && .venv/bin/pip install kiteconnect==5.2.2
    TZ=Asia/Kolkata .venv/bin/python scripts/kite_ticker_vectors.py

Builds binary ticker frames here (seeded, so the output is the same on every run): every packet
kind (LTP 8, index quote 28, index full 32, quote 44, full 184 bytes), every segment of the
token's low byte (each price divisor, and segments the client does not know), edge values
(0, 1, 2^31 - 1, 2^31, 2^32 - 1 in every 4-byte field; 0 and 65535 orders), several packets
per frame, heartbeats, an empty frame, and a packet of a length no kind has (which the client
skips). Each frame is decoded by the official client's parser, `KiteTicker._parse_binary`,
and written as:

    kite_ticker_frames.hex        one frame per line, hex
    kite_ticker_expected.jsonl    the client's output for that frame, one JSON array per line,
                                  datetimes as integer epoch seconds

brokers/tests/kite_ticker.rs and tests/broker_cli.rs compare Dalal's decoder with them; no
Python runs at test time.
"""
import json
import os
import random
import struct
import sys
from datetime import datetime

from kiteconnect import KiteTicker

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "brokers", "tests", "fixtures")
SEGMENTS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 0, 10, 11, 13, 255]
EDGES = [0, 1, 2**31 - 1, 2**31, 2**32 - 1]

rng = random.Random(20261203)


def u32():
    r = rng.random()
    if r < 0.15:
        return rng.choice(EDGES)
    if r < 0.6:
        return rng.randrange(0, 10_000_000)  # plausible prices and sizes
    return rng.randrange(0, 2**32)


def token(segment):
    return (rng.randrange(0, 2**24) << 8) | segment


def packet(kind, segment):
    t = token(segment)
    if kind == "ltp":
        return struct.pack(">II", t, u32())
    if kind in ("index_quote", "index_full"):
        fields = [t] + [u32() for _ in range(6)]
        if kind == "index_full":
            fields.append(rng.choice([0, 1700000000, rng.randrange(0, 2**31)]))
        return struct.pack(">" + "I" * len(fields), *fields)
    fields = [t] + [u32() for _ in range(10)]
    if kind == "quote":
        return struct.pack(">" + "I" * 11, *fields)
    # full: last trade time, oi, oi high, oi low, exchange timestamp, then 10 depth levels
    fields += [rng.choice([0, 1700000000, rng.randrange(0, 2**31)]), u32(), u32(), u32(),
               rng.choice([0, 1700000001, rng.randrange(0, 2**31)])]
    body = struct.pack(">" + "I" * 16, *fields)
    for _ in range(10):
        body += struct.pack(">IIHH", u32(), u32(), rng.choice([0, 1, 65535, rng.randrange(0, 65536)]), 0)
    return body


def frame(packets):
    out = struct.pack(">H", len(packets))
    for p in packets:
        out += struct.pack(">H", len(p)) + p
    return out


def plain(v):
    if isinstance(v, datetime):
        return int(v.timestamp())
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def main():
    if os.environ.get("TZ") != "Asia/Kolkata":
        sys.exit("run with TZ=Asia/Kolkata (the client converts epoch seconds in the local zone)")
    ticker = KiteTicker("api_key", "access_token")
    kinds = ["ltp", "index_quote", "index_full", "quote", "full"]
    frames = [b"", b"\x00", b"\x00\x00"]  # heartbeats and an empty frame
    for kind in kinds:  # every kind in every segment
        for seg in SEGMENTS:
            frames.append(frame([packet(kind, seg)]))
    for _ in range(40):  # mixed frames
        frames.append(frame([packet(rng.choice(kinds), rng.choice(SEGMENTS)) for _ in range(rng.randrange(1, 6))]))
    # A packet of a length no kind has, between two good ones: the client skips it.
    frames.append(frame([packet("ltp", 1), bytes(12), packet("quote", 2)]))
    with open(os.path.join(OUT, "kite_ticker_frames.hex"), "w") as hx, \
            open(os.path.join(OUT, "kite_ticker_expected.jsonl"), "w") as ex:
        for f in frames:
            hx.write(f.hex() + "\n")
            ex.write(json.dumps(plain(ticker._parse_binary(f))) + "\n")
    print(f"wrote {len(frames)} frames to {OUT}")


if __name__ == "__main__":
    main()
