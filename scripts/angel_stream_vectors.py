#!/usr/bin/env python3
"""Regenerate the Angel One SmartStream 2.0 test vectors in brokers/tests/fixtures/.

    python3 -m venv /tmp/venv-angel
    /tmp/venv-angel/bin/pip install smartapi-python==1.5.5 logzero websocket-client
    /tmp/venv-angel/bin/python scripts/angel_stream_vectors.py

Builds little-endian SmartStream packets here (seeded, so the output is the same on every
run): every mode (1 LTP 51 bytes, 2 Quote 123, 3 SnapQuote 379, 4 Depth-20 443) with every
exchange type and some unknown ones; edge values (0, 1, -1, i64 min/max; i32/i16 min/max in
depth-20 levels; u16 0/1/65535 in best-five flags and order counts) in every field; doubles
for total buy/sell quantity including -0.0, subnormals, the largest double, NaN (with payloads)
and both infinities; tokens of 0..25 bytes, 25 bytes with no NUL, bytes after a NUL, and bytes
above 0x7f; best-five flags mixed (0 = ask, anything else = bid in the client); trailing bytes
after every mode; and damaged packets (empty, cut short, unknown mode). Each packet is decoded
by the official client's parser, `SmartWebSocketV2._parse_binary_data`, and written as:

    angel_stream_packets.hex       one packet per line, hex
    angel_stream_expected.jsonl    the client's output for that packet, one JSON object per
                                   line; when the client raised, {"error": "<Type>: <message>"}

JSON has no NaN or infinity, so a non-finite double is written as the string Python's json
would spell it ("NaN", "Infinity", "-Infinity"); brokers/tests/angel_stream.rs spells Dalal's
value the same way before comparing. A packet of an unknown mode that is long enough comes
back from the client as its header with "subscription_mode_val": null; Dalal's decoder
rejects it (the test checks that it does).

The client module is loaded from its file, not imported as the `SmartApi` package (whose
`__init__` makes a network call), and the client's constructor writes ./logs, so the script
works in a temporary directory. No Python runs at test time.
"""
import importlib.util
import json
import logging
import math
import os
import random
import struct
import tempfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "brokers", "tests", "fixtures")

LEN = {1: 51, 2: 123, 3: 379, 4: 443}
EXCHANGES = [1, 2, 3, 4, 5, 7, 13]
UNKNOWN_EXCHANGES = [0, 6, 255]
I64_EDGES = [0, 1, -1, -(2**63), 2**63 - 1]
I32_EDGES = [0, 1, -1, -(2**31), 2**31 - 1]
I16_EDGES = [0, 1, -1, -(2**15), 2**15 - 1]
U16_EDGES = [0, 1, 65535]
DOUBLE_EDGES = [0.0, -0.0, 1.0, 0.5, 1000.0, 1e300, -1e300, 5e-324, 2.2250738585072014e-308,
                1.7976931348623157e308, float("nan"), float("inf"), float("-inf")]

rng = random.Random(20261204)


def load_client():
    spec = importlib.util.find_spec("SmartApi")  # finds the package without running __init__
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install smartapi-python==1.5.5 (see the docstring)")
    path = os.path.join(spec.submodule_search_locations[0], "smartWebSocketV2.py")
    mod_spec = importlib.util.spec_from_file_location("smartWebSocketV2", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod.SmartWebSocketV2


def i64():
    r = rng.random()
    if r < 0.2:
        return rng.choice(I64_EDGES)
    if r < 0.7:
        return rng.randrange(0, 10_000_000)  # plausible prices and sizes
    return rng.randrange(-(2**63), 2**63)


def i32():
    r = rng.random()
    if r < 0.2:
        return rng.choice(I32_EDGES)
    if r < 0.7:
        return rng.randrange(0, 10_000_000)
    return rng.randrange(-(2**31), 2**31)


def i16():
    return rng.choice(I16_EDGES) if rng.random() < 0.3 else rng.randrange(-(2**15), 2**15)


def u16():
    return rng.choice(U16_EDGES) if rng.random() < 0.3 else rng.randrange(0, 2**16)


def double():
    r = rng.random()
    if r < 0.25:
        return struct.pack("<d", rng.choice(DOUBLE_EDGES))
    if r < 0.6:
        return struct.pack("<d", float(rng.randrange(0, 10_000_000)))
    if r < 0.7:  # a NaN or infinity with a random sign and payload
        bits = (rng.randrange(2) << 63) | (0x7FF << 52) | rng.randrange(0, 2**52)
        return struct.pack("<Q", bits)
    return struct.pack("<Q", rng.randrange(0, 2**64))  # any bit pattern


def token_bytes(kind=None):
    kind = kind or rng.choice(["digits", "digits", "digits", "full", "junk_after_nul", "high", "empty"])
    if kind == "digits":
        t = str(rng.randrange(1, 10**rng.randrange(1, 10))).encode()
    elif kind == "full":
        t = bytes(rng.randrange(0x21, 0x7F) for _ in range(25))
    elif kind == "junk_after_nul":
        t = b"2885\x00" + bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 21)))
    elif kind == "high":
        t = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 26)))
    else:
        t = b""
    return t[:25].ljust(25, b"\x00")


def best_five(flags=None):
    out = b""
    for k in range(10):
        flag = flags[k] if flags is not None else rng.choice([0, 1, 0, 1, 2, 65535])
        out += struct.pack("<HqqH", flag, i64(), i64(), u16())
    return out


def packet(mode, exch, token=None, edge=None, dbl=None, flags=None, trailing=b""):
    """A packet of `mode`; `edge` (an index into the *_EDGES lists) gives every integer field
    that edge of its type, `dbl` both doubles."""
    q = (lambda: I64_EDGES[edge]) if edge is not None else i64
    head = struct.pack("<BB", mode, exch) + (token if token is not None else token_bytes())
    if mode == 4:
        lq = (lambda: I32_EDGES[edge]) if edge is not None else i32
        lo = (lambda: I16_EDGES[edge]) if edge is not None else i16
        body = struct.pack("<qq", q(), q())
        for _ in range(40):
            body += struct.pack("<iih", lq(), lq(), lo())
        return head + body + trailing
    body = struct.pack("<qqq", q(), q(), q())  # sequence, exchange timestamp, last price
    if mode in (2, 3):
        body += struct.pack("<qqq", q(), q(), q())
        body += dbl if dbl is not None else double()
        body += dbl if dbl is not None else double()
        body += struct.pack("<qqqq", q(), q(), q(), q())
    if mode == 3:
        body += struct.pack("<qqq", q(), q(), q())  # last trade time, OI, OI change (a double)
        if edge is None:
            body += best_five(flags)
        else:
            u = U16_EDGES[edge % len(U16_EDGES)]
            body += struct.pack("<HqqH", u or 1, q(), q(), u) * 5 + struct.pack("<HqqH", 0, q(), q(), u) * 5
        body += struct.pack("<qqqq", q(), q(), q(), q())
    return head + body + trailing


def plain(v):
    if isinstance(v, float) and not math.isfinite(v):
        return json.dumps(v)  # "NaN", "Infinity" or "-Infinity", as a string
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def packets():
    out = []
    # The two verified vectors of brokers.md §2.11.4.
    out.append(bytes.fromhex(
        "01013330343500000000000000000000000000000000000000000039300000000000007b68e5cf8b0100007fdf"
        "000000000000"))
    out.append(bytes.fromhex(
        "0201333034350000000000000000000000000000000000000000003a30000000000000c869e5cf8b0100007fdf"
        "0000000000000a000000000000000cdf00000000000040e20100000000000000000000408f40000000000040"
        "9f4044de0000000000009ce0000000000000e0dd000000000000aedd000000000000"))
    for mode in (1, 2, 3, 4):  # every mode with every exchange type, known or not
        for exch in EXCHANGES + UNKNOWN_EXCHANGES:
            out.append(packet(mode, exch))
    for mode in (1, 2, 3, 4):  # one edge value in every field
        for edge in range(len(I64_EDGES)):
            out.append(packet(mode, rng.choice(EXCHANGES), edge=edge))
    for mode in (2, 3):  # each special double in both quantities
        for d in DOUBLE_EDGES:
            out.append(packet(mode, 2, dbl=struct.pack("<d", d)))
        out.append(packet(mode, 2, dbl=struct.pack("<Q", 0x7FF8_0000_0000_0001)))  # a NaN payload
        out.append(packet(mode, 2, dbl=struct.pack("<Q", 0xFFF0_0000_0000_0001)))  # a negative NaN
    for n in range(0, 26):  # tokens of every length, the last one with no NUL at all
        t = "".join(rng.choice("0123456789") for _ in range(n)).encode().ljust(25, b"\x00")
        out.append(packet(rng.choice((1, 2, 3, 4)), 1, token=t))
    for kind in ("full", "junk_after_nul", "high", "empty"):
        for mode in (1, 2, 3, 4):
            out.append(packet(mode, 1, token=token_bytes(kind)))
    for flags in ([0] * 10, [1] * 10, [1] * 5 + [0] * 5, [0, 1] * 5, [2, 65535, 0, 1, 0, 3, 0, 0, 1, 0]):
        out.append(packet(3, 1, flags=flags))
    for mode in (1, 2, 3, 4):  # trailing bytes, which the client ignores
        for extra in (1, 7, 100, LEN[4]):
            out.append(packet(mode, 1, trailing=bytes(rng.randrange(256) for _ in range(extra))))
    for _ in range(150):  # anything
        out.append(packet(rng.choice((1, 2, 3, 4)), rng.choice(EXCHANGES + UNKNOWN_EXCHANGES)))
    # Damaged: empty, a byte, every mode one byte short and cut at random, unknown modes.
    out += [b"", b"\x01", b"\x04"]
    for mode in (1, 2, 3, 4):
        good = packet(mode, 1)
        out.append(good[:-1])
        for _ in range(3):
            out.append(good[:rng.randrange(1, len(good))])
    for mode in (0, 5, 9, 255):
        out.append(bytes([mode]) + packet(1, 1)[1:])  # long enough: the client returns a header
        out.append(bytes([mode]) + packet(3, 2)[1:])
        out.append(bytes([mode]) + packet(1, 1)[1:30])  # too short for even that
    return out


def main():
    client_class = load_client()
    all_packets = packets()
    hex_path = os.path.join(OUT, "angel_stream_packets.hex")
    json_path = os.path.join(OUT, "angel_stream_expected.jsonl")
    home = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="angel-stream-vectors-") as tmp, \
            open(hex_path, "w") as hx, open(json_path, "w") as ex:
        os.chdir(tmp)  # the client's constructor writes ./logs
        ws = client_class("auth", "api_key", "client_code", "feed_token")
        logging.getLogger("logzero_default").setLevel(logging.CRITICAL)  # it logs each raise
        for p in all_packets:
            try:
                want = plain(ws._parse_binary_data(p))
            except Exception as e:  # noqa: BLE001 - whatever the client raises is the vector
                want = {"error": f"{type(e).__name__}: {e}"}
            hx.write(p.hex() + "\n")
            ex.write(json.dumps(want) + "\n")
        os.chdir(home)
    print(f"wrote {len(all_packets)} packets to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
