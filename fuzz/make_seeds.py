#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora fuzz/corpus/<target>/ (committed; rerun after a
protocol change). Each seed is one small valid or edge-case input, named for
what it is. The wire layouts are those of docs/protocol.md.

Usage: fuzz/make_seeds.py [corpus-dir]   (default: fuzz/corpus next to this file)
"""
import os
import struct
import sys

SEND, WRITE, WRITE_ACK, READ_REQ, READ_RESP = 1, 2, 3, 4, 5
OK, EACCES, ERANGE, EFAULT = 0, 1, 2, 3
MAGIC, DESC_MAGIC = 0x504E4153, 0x44534E53


def hdr(t, flags=0, rsvd=0, status=0, id=0, key=0, off=0, ln=0):
    return struct.pack("<BBHIQQQQ", t, flags, rsvd, status, id, key, off, ln)


def hello(magic=MAGIC, version=1, hdr_size=40, flags=0, rsvd=0, max_msg=1 << 20, nonce=7):
    return struct.pack("<IHHIIQQ", magic, version, hdr_size, flags, rsvd, max_msg, nonce)


def desc(magic=DESC_MAGIC, version=1, rights=3, rsvd=0, key=0x1122334455667788, ln=8000, nonce=9):
    return struct.pack("<IBBHQQQ", magic, version, rights, rsvd, key, ln, nonce)


def pat(n, seed=1):
    return bytes(((i * 131 + seed * 17) >> 1) & 0xFF for i in range(n))


def hdr_seeds():
    mm = struct.pack("<Q", 1 << 20)
    s = {
        "send": mm + hdr(SEND, id=1, ln=100),
        "send-max": mm + hdr(SEND, ln=1 << 20),
        "send-over-max": mm + hdr(SEND, ln=(1 << 20) + 1),
        "write": mm + hdr(WRITE, id=2, key=0xDEADBEEF, off=1000, ln=64),
        "write-wrap": mm + hdr(WRITE, key=1, off=(1 << 64) - 8, ln=16),
        "write-ack-eacces": mm + hdr(WRITE_ACK, status=EACCES, id=2),
        "write-ack-badstatus": mm + hdr(WRITE_ACK, status=4, id=2),
        "read-req": mm + hdr(READ_REQ, id=3, key=5, off=8, ln=4096),
        "read-resp": mm + hdr(READ_RESP, id=3, ln=64),
        "read-resp-status-len": mm + hdr(READ_RESP, status=ERANGE, id=3, ln=64),
        "send-with-key": mm + hdr(SEND, key=1, ln=1),
        "flags": mm + hdr(SEND, flags=1),
        "rsvd": mm + hdr(SEND, rsvd=1),
        "type0": mm + hdr(0),
        "type6": mm + hdr(6),
        "short": mm + hdr(SEND)[:39],
        "maxmsg0": struct.pack("<Q", 0) + hdr(READ_REQ, key=1, ln=1),
        "maxmsg-all": struct.pack("<Q", (1 << 64) - 1) + hdr(READ_RESP, ln=(1 << 64) - 1),
    }
    return s


def hello_seeds():
    return {
        "valid": hello(),
        "max-msg-1": hello(max_msg=1),
        "max-msg-all": hello(max_msg=(1 << 64) - 1),
        "bad-magic": hello(magic=0x504E4154),
        "version-2": hello(version=2),
        "version-0": hello(version=0),
        "hdr-size-39": hello(hdr_size=39),
        "flags": hello(flags=1),
        "rsvd": hello(rsvd=0x80000000),
        "max-msg-0": hello(max_msg=0),
        "short": hello()[:31],
        "long": hello() + b"\x01" * 8,
        "http": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    }


def desc_seeds():
    return {
        "rw": desc(),
        "read": desc(rights=1),
        "write": desc(rights=2),
        "rights-0": desc(rights=0),
        "rights-4": desc(rights=4),
        "rights-ff": desc(rights=0xFF),
        "bad-magic": desc(magic=MAGIC),
        "version-2": desc(version=2),
        "rsvd": desc(rsvd=1),
        "key-0": desc(key=0),
        "len-0": desc(ln=0),
        "len-max": desc(ln=(1 << 64) - 1),
        "short": desc()[:31],
    }


def addr_seeds():
    s = {
        "tcp4": b"tcp:127.0.0.1:0",
        "tcp4-port-max": b"tcp:0.0.0.0:65535",
        "tcp4-port-over": b"tcp:0.0.0.0:65536",
        "tcp4-port-zeros": b"tcp:10.1.2.3:00080",
        "tcp4-port-empty": b"tcp:10.1.2.3:",
        "tcp4-bracketed": b"tcp:[192.168.0.1]:80",
        "tcp6": b"tcp:[::1]:8080",
        "tcp6-full": b"tcp:[2001:db8:0:0:1:0:0:1]:1",
        "tcp6-mapped": b"tcp:[::ffff:1.2.3.4]:443",
        "tcp6-bare": b"tcp:::1:80",
        "tcp6-unclosed": b"tcp:[::1:80",
        "tcp6-scope": b"tcp:[fe80::1%lo]:80",
        "tcp-name": b"tcp:localhost:80",
        "tcp-empty-host": b"tcp::80",
        "tcp-no-port": b"tcp:1.2.3.4",
        "unix-path": b"unix:/tmp/san.sock",
        "unix-abstract": b"unix:@san-test",
        "unix-abstract-empty": b"unix:@",
        "unix-empty": b"unix:",
        "unix-107": b"unix:/" + b"a" * 106,
        "unix-108": b"unix:/" + b"a" * 107,
        "unix-abstract-107": b"unix:@" + b"b" * 106,
        "embedded-nul": b"unix:/tmp/a\x00b",
        "udp": b"udp:1.2.3.4:5",
        "raw-inet": b"\xff\x00\x10" + struct.pack("<H", 2) + b"\x1f\x90\x7f\x00\x00\x01",
        "raw-inet6": b"\xff\x01\x1c" + struct.pack("<H", 10) + b"\x00\x50" + b"\x00" * 4 + b"\x00" * 15 + b"\x01",
        "raw-unix-abstract": b"\xff\x02\x08" + struct.pack("<H", 1) + b"\x00abcde",
        "raw-unix-full": b"\xff\x02\x6e" + struct.pack("<H", 1) + b"z" * 108,
        "raw-unix-short": b"\xff\x02\x01" + struct.pack("<H", 1),
    }
    return s


def config_seeds():
    return {
        "rcache": b"SAN_RCACHE=0",
        "rcache-word": b"rcache_enabled=Yes",
        "bytes": b"SAN_RCACHE_MAX_BYTES=1G",
        "bytes-kib": b"rcache_max_bytes=64KiB",
        "bytes-huge": b"SAN_RCACHE_MAX_BYTES=18446744073709551615",
        "bytes-overflow": b"SAN_RCACHE_MAX_BYTES=17179869184T",
        "bytes-small": b"SAN_RCACHE_MAX_BYTES=4095",
        "regions": b"SAN_RCACHE_MAX_REGIONS=16777216",
        "regions-suffix": b"SAN_RCACHE_MAX_REGIONS=4K",
        "monitor": b"SAN_MONITOR=none\nmonitor=UFFD",
        "ring": b"SAN_RING_ENTRIES=32\nring_entries=4097",
        "outstanding": b"max_outstanding=1048576",
        "spin": b"SAN_POLL_SPIN_US=10000000",
        "progress": b"SAN_PROGRESS_THREAD=off",
        "maxmsg": b"SAN_MAX_MSG_MB=1\nmax_msg_mb=0",
        "unknown": b"SAN_NOPE=1",
        "no-value": b"SAN_RCACHE",
        "empty-value": b"SAN_RCACHE_MAX_BYTES=",
        "empty": b"",
        "minus": b"SAN_RING_ENTRIES=-1",
        "space": b"SAN_RING_ENTRIES= 64",
        "all": b"\n".join([
            b"SAN_RCACHE=1", b"SAN_RCACHE_MAX_REGIONS=1", b"SAN_RCACHE_MAX_BYTES=1T",
            b"SAN_MONITOR=userfaultfd", b"SAN_RING_ENTRIES=4096", b"SAN_MAX_OUTSTANDING=1",
            b"SAN_POLL_SPIN_US=0", b"SAN_PROGRESS_THREAD=true", b"SAN_MAX_MSG_MB=1048576"]),
    }


# fuzz_stream: flags byte, [HELLO], stream. Key indices 1..6 = RW, RO, WO,
# revoked, another live connection's, the previous (closed) connection's. With flags 0 the target's ops are: receive
# id 1, RDMA write id 2, RDMA read id 3 (F_LATE_RECV: write 1, read 2).
F_RAW_HELLO, F_NO_OPS, F_LATE_RECV, F_SEND = 1, 2, 4, 8
RW, RO, WO, REV, OTHER, OLD = 1, 2, 3, 4, 5, 6


def st(flags, *frames):
    return bytes([flags]) + b"".join(frames)


def send(n, seed=1):
    return hdr(SEND, ln=n) + pat(n, seed)


def write(key, off, n, seed=2, id=100):
    return hdr(WRITE, id=id, key=key, off=off, ln=n) + pat(n, seed)


def read_req(key, off, n, id=200):
    return hdr(READ_REQ, id=id, key=key, off=off, ln=n)


def stream_seeds():
    s = {
        "empty": st(0),
        "no-ops-empty": st(F_NO_OPS),
        "send-10": st(0, send(10)),
        "send-0": st(0, send(0)),
        "send-256": st(0, send(256)),
        "send-300-emsgsize": st(0, send(300)),
        "sends-3": st(0, send(5, 1), send(150, 2), send(7, 3)),
        "send-late-recv": st(F_LATE_RECV, send(40), send(41)),
        "send-truncated": st(0, hdr(SEND, ln=200) + pat(90)),
        "send-over-max": st(0, hdr(SEND, ln=(1 << 20) + 1)),
        "write-rw": st(0, write(RW, 0, 16)),
        "write-rw-end": st(0, write(RW, 7990, 10)),
        "write-rw-past-end": st(0, write(RW, 7995, 10)),
        "write-rw-offset-past": st(0, write(RW, 8001, 0)),
        "write-rw-wrap": st(0, hdr(WRITE, id=1, key=RW, off=(1 << 64) - 8, ln=16) + pat(16)),
        "write-ro": st(0, write(RO, 0, 16)),
        "write-wo": st(0, write(WO, 100, 32)),
        "write-revoked": st(0, write(REV, 0, 16)),
        "write-old-conn": st(0, write(OLD, 0, 16)),
        "write-other-conn": st(0, write(OTHER, 0, 16)),
        "read-other-conn": st(0, read_req(OTHER, 0, 16)),
        "write-guess": st(0, write(0x1234567890ABCDEF, 0, 16)),
        "write-key0": st(0, write(0, 0, 8)),
        "write-truncated": st(0, hdr(WRITE, key=RW, off=64, ln=100) + pat(33)),
        "write-big": st(0, write(RW, 0, 8000)),
        "read-rw": st(0, read_req(RW, 0, 32)),
        "read-ro": st(0, read_req(RO, 100, 8000 - 100)),
        "read-wo": st(0, read_req(WO, 0, 8)),
        "read-range": st(0, read_req(RW, 4000, 4001)),
        "read-0": st(0, read_req(RW, 8000, 0)),
        "read-revoked": st(0, read_req(REV, 0, 8)),
        "write-then-read": st(0, write(RW, 10, 20), read_req(RW, 0, 64), write(RW, 0, 8, 9)),
        "ack-write": st(0, hdr(WRITE_ACK, id=2)),
        "ack-write-eacces": st(0, hdr(WRITE_ACK, status=EACCES, id=2)),
        "ack-write-efault": st(0, hdr(WRITE_ACK, status=EFAULT, id=2)),
        "ack-read": st(0, hdr(WRITE_ACK, id=2), hdr(READ_RESP, id=3, ln=64) + pat(64, 5)),
        "ack-read-erange": st(0, hdr(WRITE_ACK, id=2), hdr(READ_RESP, status=ERANGE, id=3)),
        "ack-read-wronglen": st(0, hdr(WRITE_ACK, id=2), hdr(READ_RESP, id=3, ln=63) + pat(63)),
        "ack-read-truncated": st(0, hdr(WRITE_ACK, id=2), hdr(READ_RESP, id=3, ln=64) + pat(20)),
        "ack-wrong-id": st(0, hdr(WRITE_ACK, id=3)),
        "ack-read-first": st(0, hdr(READ_RESP, id=3, ln=64) + pat(64)),
        "ack-no-ops": st(F_NO_OPS, hdr(WRITE_ACK, id=1)),
        "ack-late-recv-ids": st(F_LATE_RECV, hdr(WRITE_ACK, id=1), hdr(READ_RESP, id=2, ln=64) + pat(64)),
        "bad-type": st(0, hdr(9)),
        "bad-flags": st(0, send(4), hdr(SEND, flags=1, ln=0)),
        "bad-request-status": st(0, hdr(WRITE, status=1, key=RW, ln=0)),
        "half-header": st(0, hdr(SEND, ln=4)[:20]),
        "target-send": st(F_SEND, send(8)),
        "raw-hello": st(F_RAW_HELLO, hello(), send(12)),
        "raw-hello-tiny-max": st(F_RAW_HELLO | F_SEND, hello(max_msg=1), read_req(RW, 0, 64)),
        "raw-hello-bad-magic": st(F_RAW_HELLO, hello(magic=1)),
        "raw-hello-version-2": st(F_RAW_HELLO, hello(version=2)),
        "raw-hello-max-0": st(F_RAW_HELLO, hello(max_msg=0)),
        "raw-hello-short": st(F_RAW_HELLO, hello()[:20]),
        "mixed": st(0, send(3), write(RW, 0, 40), read_req(RO, 0, 16), write(WO, 7000, 1000),
                    hdr(WRITE_ACK, id=2), read_req(WO, 0, 1), write(RO, 0, 1), send(600),
                    hdr(READ_RESP, status=EACCES, id=3), write(REV, 0, 4), send(1)),
    }
    return s


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    sets = {"hdr": hdr_seeds(), "hello": hello_seeds(), "desc": desc_seeds(),
            "addr": addr_seeds(), "config": config_seeds(), "stream": stream_seeds()}
    for target, seeds in sets.items():
        d = os.path.join(root, target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
