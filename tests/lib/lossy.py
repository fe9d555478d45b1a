#!/usr/bin/env python3
"""Play publishers whose data a subscriber receives with datagrams missing,
and report which of them it asked to slow down for loss.

Usage: lossy.py TYPE_NAME
Joins the back channel of TYPE_NAME (SLOW frames go there), prints "ready",
waits for a line on stdin (the subscriber is up), then plays, each a
publisher instance of its own, 20-fragment messages of TYPE_NAME:
  run       one whole message, then one with fragments 4..11 missing
  late      starts in the middle of a message (a receiver that just began
            to listen sees that), then whole messages
  single    30 messages each missing one fragment (random loss: 5%)
  dense     20 messages each missing every other fragment (50%)
and prints "slow NAME CORR" for each SLOW heard addressed to one of them,
then "done". Only sends to the type's group on the multicast route of the
private network namespace the calling test made, with TTL 0.
"""
import os
import select
import socket
import struct
import sys
import time

from dtswire import HDR, fnv1a64, group

FRAG, NFRAG = 1000, 20


def main():
    tid = fnv1a64(sys.argv[1].encode())
    port = int(os.environ.get("DTS_PORT", "5555"))
    back = group(tid ^ 1)
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    r.bind((back, port))
    r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 struct.pack("4s4s", socket.inet_aton(back), socket.inet_aton("0.0.0.0")))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
    dst = (group(tid), port)
    schema = fnv1a64(b"\x00")  # raw format, empty schema
    data = bytes(range(256)) * 4
    names = {0xA11CE: "run", 0x1A7E: "late", 0x5146E: "single", 0xDE45E: "dense"}
    print("ready", flush=True)
    sys.stdin.readline()
    heard = []

    def listen(secs):
        end = time.monotonic() + secs
        while (left := end - time.monotonic()) > 0:
            if not select.select([r], [], [], left)[0]:
                continue
            d = r.recv(65536)
            at = 0
            while len(d) - at >= HDR.size:
                f = HDR.unpack_from(d, at)
                magic, kind, plen, corr = f[0], f[2], f[5], f[6]
                if magic != b"DT":
                    break
                p = d[at + HDR.size:at + HDR.size + plen]
                at += HDR.size + plen
                if kind == 7 and plen == 16:
                    to = struct.unpack_from("<Q", p)[0]
                    if to in names:
                        heard.append((names[to], corr))

    def message(inst, seq, frags):
        for i in frags:
            hdr = HDR.pack(b"DT", 1, 1, 1, 0, 16 + FRAG, 0, tid, schema, inst, 0x99, seq, 0)
            s.sendto(hdr + struct.pack("<IIII", FRAG * NFRAG, i * FRAG, FRAG, 0) + data[:FRAG], dst)

    every = range(NFRAG)
    message(0xA11CE, 1, every)
    listen(0.2)
    message(0xA11CE, 2, [i for i in every if not 4 <= i <= 11])
    listen(0.5)
    message(0x1A7E, 1, range(10, NFRAG))
    for q in range(2, 6):
        message(0x1A7E, q, every)
    listen(0.5)
    message(0x5146E, 1, every)
    listen(0.1)
    for q in range(2, 32):
        message(0x5146E, q, [i for i in every if i != q % NFRAG])
        time.sleep(0.002)
    listen(0.5)
    message(0xDE45E, 1, every)
    listen(0.1)
    for q in range(2, 22):
        message(0xDE45E, q, [i for i in every if i % 2 == 0])
    listen(1.0)
    for name, corr in heard:
        print(f"slow {name} {corr}")
    print("done", flush=True)


main()
