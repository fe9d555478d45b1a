#!/usr/bin/env python3
"""Flood a dts type's group with messages that never complete.

Usage: fragflood.py TYPE_NAME MESSAGES MSG_LEN FRAG_SIZE
Each message comes from a new random instance and gets every fragment but
the last, so a receiver without a memory bound would hold MESSAGES x MSG_LEN
bytes. Sends only to the type's 239.255.X.Y group on the multicast route of
the private namespace the calling test made.
"""
import random
import socket
import struct
import sys
import time

from dtswire import HDR, fnv1a64, group


def main():
    name, msgs, msg_len, frag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    tid = fnv1a64(name.encode())
    dst = (group(tid), 5555)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    rnd = random.Random(7)
    data = bytes(rnd.getrandbits(8) for _ in range(frag))
    schema = fnv1a64(b"\x00")  # raw format, empty schema
    n_frags = (msg_len + frag - 1) // frag
    for m in range(msgs):
        inst = rnd.getrandbits(63) | 1
        for i in range(n_frags - 1):
            hdr = HDR.pack(b"DT", 1, 1, 1, 0, 16 + frag, 0, tid, schema, inst, 0x99, 1, 0)
            s.sendto(hdr + struct.pack("<IIII", msg_len, i * frag, frag, 0) + data, dst)
        time.sleep(0.001)  # about 17 MB per 17 ms: a flood the receiver can take in


main()
