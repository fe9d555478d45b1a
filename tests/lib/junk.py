#!/usr/bin/env python3
"""Send hostile datagrams to a dts type's group and to the control group.

Usage: junk.py TYPE_NAME ROUNDS
Only ever sends to 239.255.0.0/16 on the multicast route of the private
network namespace the calling test made (tests/netns-run).
"""
import os
import random
import socket
import struct
import sys

from dtswire import HDR, fnv1a64, group


def header(kind, plen, type_id=0, schema=0, inst=0x1234, seq=1, version=1, flags=0, key=0, corr=0):
    return HDR.pack(b"DT", version, kind, flags, key, plen, corr, type_id, schema, inst, 0x99,
                    seq, 0)


def frag(msg_len, off, frag_size):
    return struct.pack("<IIII", msg_len, off, frag_size, 0)


def main():
    name, rounds = sys.argv[1], int(sys.argv[2])
    tid = fnv1a64(name.encode())
    rnd = random.Random(42)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
    data_dst = (group(tid), int(os.environ.get("DTS_PORT", "5555")))
    ctl_dst = ("239.255.0.1", data_dst[1])
    valid = header(1, 4, tid, 0, seq=7) + b"{}  "
    for _ in range(rounds):
        junk = [
            bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 200))),  # foreign
            b"DT",                                                            # truncated
            valid[:40],                                                       # truncated header
            header(1, 1000, tid, seq=8) + b"x" * 10,                          # oversized length
            header(1, 0, tid, version=9, seq=9),                              # wrong version
            header(1, 0, tid, flags=0x8000, seq=10),                          # unknown flag
            header(77, 0, tid, seq=11),                                       # unknown kind
            header(1, 0, 0, seq=12),                                          # zero type id
            valid + b"\xff" * 7,                                              # trailing junk
        ]
        ctl = [
            header(16, 5) + b"\x00" * 5,                                      # short heartbeat
            header(18, 3) + b"\x05\x00\xff",                                  # types: bad count
            header(17, 8) + struct.pack("<IBBH", 1, 3, 1, 9999),              # members: bad part
            header(21, 20) + b"\x00" * 20,                                    # schema answer junk
            header(16, 0, type_id=5),                                         # control with type id
            bytes(rnd.getrandbits(8) for _ in range(64)),
            # Fragments of control frames: only SCHEMA_ANS may be cut, and
            # its whole is at most 33,037 bytes (a 32 KiB schema).
            header(16, 36, flags=1) + frag(40, 0, 20) + b"\x00" * 20,         # a cut heartbeat
            header(21, 36, flags=1, seq=3) + frag(1 << 20, 0, 20) + b"\x00" * 20,  # claims 1 MiB
            header(21, 36, flags=1, seq=4) + frag(40, 0, 20) + b"\x00" * 20,  # a whole of junk,
            header(21, 36, flags=1, seq=4) + frag(40, 20, 20) + b"\x00" * 20, # in two fragments
        ] + [
            # First halves of six answers that never complete: at most four
            # control messages are reassembled at once, the others refused.
            header(21, 36, flags=1, seq=100 + k) + frag(40, 0, 20) + b"\x00" * 20 for k in range(6)
        ]
        for d in junk:
            s.sendto(d, data_dst)
        for d in ctl:
            s.sendto(d, ctl_dst)


main()
