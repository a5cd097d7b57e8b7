#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus fuzz/corpus/smsg/ of fuzz_smsg (the stream layer's
messages, docs/stream.md section 2). Rerun after a change of those messages.

Usage: fuzz/make_smsg_seeds.py [corpus-dir]   (default: fuzz/corpus next to this file)
"""
import os
import struct
import sys

HELLO, DATA, CREDIT, SRC, SINK, DONE, FIN, STAY, TOKEN, TOKEN_ACK, SHM_OK, DOORBELL = range(1, 13)
MAGIC = 0x4D525453


def hdr(t, ln=0, credits=0, cacks=0, flags=0, rsvd=0):
    return struct.pack("<BBHIII", t, flags, rsvd, ln, credits, cacks)


def hello(flags=0, slots=16, size=65536, token=b"\0" * 16, name=b""):
    return hdr(HELLO) + struct.pack("<IHHII", MAGIC, 1, flags, slots, size) + token + name.ljust(64, b"\0")


def desc():
    return struct.pack("<IBBHQQQ", 0x44534E53, 1, 1, 0, 0x1122334455667788, 4096, 9)


def seeds():
    return {
        "hello": hello(),
        "hello-want": hello(flags=1),
        "hello-offer": hello(flags=2, token=bytes(range(16)), name=b"@san-stream-0123456789abcdef"),
        "hello-offer-path": hello(flags=2, token=bytes(range(16)), name=b"/tmp/x"),
        "hello-slots-0": hello(slots=0),
        "hello-size-max": hello(size=16 << 20),
        "data-1": hdr(DATA, 1, 3, 1) + b"x",
        "data-100": hdr(DATA, 100) + bytes(100),
        "data-short": hdr(DATA, 100) + bytes(99),
        "data-0": hdr(DATA, 0),
        "credit": hdr(CREDIT, 0, 8, 2),
        "credit-len": hdr(CREDIT, 1),
        "src": hdr(SRC) + struct.pack("<QQ", 1, 1 << 20) + desc(),
        "src-0": hdr(SRC) + struct.pack("<QQ", 1, 0) + desc(),
        "src-huge": hdr(SRC) + struct.pack("<QQ", 1, 1 << 41) + desc(),
        "sink": hdr(SINK) + struct.pack("<QQQ", 2, 12345, 1 << 20) + desc(),
        "done-src": hdr(DONE) + struct.pack("<QQB7x", 1, 0, 1),
        "done-src-len": hdr(DONE) + struct.pack("<QQB7x", 1, 5, 1),
        "done-sink": hdr(DONE) + struct.pack("<QQB7x", 2, 4096, 2),
        "done-kind-3": hdr(DONE) + struct.pack("<QQB7x", 2, 0, 3),
        "fin": hdr(FIN),
        "fin-flags": hdr(FIN, flags=1),
        "stay": hdr(STAY),
        "token": hdr(TOKEN) + bytes(range(16)),
        "token-ack": hdr(TOKEN_ACK) + struct.pack("<II", 0, 0),
        "token-ack-shm": hdr(TOKEN_ACK) + struct.pack("<II", 1, 0),
        "token-ack-flags": hdr(TOKEN_ACK) + struct.pack("<II", 2, 0),
        "token-ack-short": hdr(TOKEN_ACK),
        "shm-ok": hdr(SHM_OK),
        "doorbell": hdr(DOORBELL),
        "hello-shm": hello(flags=5),
        "hello-shm-alone": hello(flags=4),
        "type-0": hdr(0),
        "type-13": hdr(13),
        "short": b"\x02\x00\x00",
    }


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    d = os.path.join(base, "smsg")
    os.makedirs(d, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(seeds()), d))


if __name__ == "__main__":
    main()
