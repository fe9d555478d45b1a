#!/usr/bin/env python3
"""Ask for a schema many times and count the answers.

Usage: schemareq.py REQUESTS SECONDS [DELAY]
Prints "ready" once it has joined the control group 239.255.0.1, listens
there until it hears a SCHEMA_ANS (the
one a node sends unasked when it declares a type with a schema), waits
DELAY seconds (default 0; answers heard meanwhile do not count), then sends
REQUESTS SCHEMA_REQ frames for that schema id, evenly over SECONDS, and
counts the SCHEMA_ANS messages (whole frames, or first fragments) heard from
then until half a second after the last request. Prints
"answers N schema_id HEX". Only ever sends to 239.255.0.1 on the multicast
route of the private network namespace the calling test made.
"""
import os
import socket
import struct
import sys
import time

from dtswire import HDR


def main():
    requests, seconds = int(sys.argv[1]), float(sys.argv[2])
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    port = int(os.environ.get("DTS_PORT", "5555"))
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    r.bind(("239.255.0.1", port))
    r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 struct.pack("4s4s", socket.inet_aton("239.255.0.1"), socket.inet_aton("0.0.0.0")))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
    print("ready", flush=True)

    def answers(deadline):
        """Yield the schema id of each SCHEMA_ANS message heard until deadline."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            r.settimeout(left)
            try:
                d = r.recv(65536)
            except socket.timeout:
                return
            at = 0  # a datagram may hold several frames (a heartbeat, then an answer)
            while len(d) - at >= HDR.size:
                magic, ver, kind, flags, _, plen = HDR.unpack_from(d, at)[:6]
                if magic != b"DT":
                    break
                p = d[at + HDR.size:at + HDR.size + plen]
                at += HDR.size + plen
                if kind != 21:
                    continue
                if flags & 1:  # a fragment: only the first counts, its data follows 16 bytes
                    msg_len, off = struct.unpack_from("<II", p)
                    if off != 0:
                        continue
                    p = p[16:]
                yield struct.unpack_from("<Q", p, 1)[0]

    sid = next(answers(time.monotonic() + 10), None)
    if sid is None:
        sys.exit("no SCHEMA_ANS heard in 10 s")
    for _ in answers(time.monotonic() + delay):
        pass
    inst = 0x5EED
    count, start = 0, time.monotonic()
    for i in range(requests):
        hdr = HDR.pack(b"DT", 1, 20, 0, 0, 8, 0, 0, 0, inst, 0x99, i + 1, 0)
        s.sendto(hdr + struct.pack("<Q", sid), ("239.255.0.1", port))
        due = start + (i + 1) * seconds / requests
        count += sum(1 for a in answers(due) if a == sid)
    count += sum(1 for a in answers(time.monotonic() + 0.5) if a == sid)
    print(f"answers {count} schema_id {sid:016x}")


main()
