#!/usr/bin/python3
"""The Linux side of the flood tests, run inside the test namespace.

  flood_peer.py bulk-send HOST PORT SIZE SEED
      connects, prints "connected LOCALPORT", waits for a line on stdin, sends SIZE seeded random
      bytes, reads what the peer sends back until it closes and prints {"sent",
      "sha256", "seconds", "reply"}
  flood_peer.py rst-flood SRC DST SPORT DPORT SECONDS SEED
      sends RSTs for the connection SRC:SPORT -> DST:DPORT with sequence numbers drawn uniformly
      from all 2^32 (hping3 draws from rand(), only 0..2^31-1) through a raw socket for SECONDS
      seconds, as fast as it can (saying "flooding" when it starts); prints {"sent", "errors",
      "seconds", "distinct"}
  flood_peer.py echo HOST PORT MSG
      one connection: sends MSG, prints what comes back
"""
import hashlib
import json
import random
import socket
import struct
import sys
import time


def bulk_send(host, port, size, seed):
    s = socket.create_connection((host, port), timeout=120)
    print("connected", s.getsockname()[1], flush=True)
    sys.stdin.readline()
    rng = random.Random(seed)
    h = hashlib.sha256()
    t = time.monotonic()
    left = size
    while left:
        b = rng.randbytes(min(left, 1 << 20))
        s.sendall(b)
        h.update(b)
        left -= len(b)
    elapsed = time.monotonic() - t
    s.settimeout(300)
    reply = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        reply += b
    print(json.dumps({"sent": size, "sha256": h.hexdigest(), "seconds": elapsed, "reply": reply.decode()}), flush=True)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def rst_flood(src, dst, sport, dport, seconds, seed):
    rng = random.Random(seed)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, socket.IPPROTO_TCP, 20)
    pkts = []
    for _ in range(1 << 17):
        seq = rng.getrandbits(32)
        hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x04, 0, 0, 0)
        c = csum(pseudo + hdr)
        pkts.append(hdr[:16] + struct.pack("!H", c) + hdr[18:])
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    addr = (dst, 0)
    sent = errors = 0
    print("flooding", flush=True)
    t = time.monotonic()
    end = t + seconds
    send = s.sendto
    while time.monotonic() < end:
        for i in range(0, len(pkts), 4096):
            for p in pkts[i:i + 4096]:
                try:
                    send(p, addr)
                except OSError:
                    errors += 1
            sent += 4096
            if time.monotonic() >= end:
                break
    print(json.dumps({"sent": sent - errors, "errors": errors, "seconds": time.monotonic() - t, "distinct": len(pkts)}), flush=True)


def echo(host, port, msg):
    s = socket.create_connection((host, port), timeout=15)
    s.sendall(msg.encode())
    print(s.recv(64).decode())


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "bulk-send":
        bulk_send(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "rst-flood":
        rst_flood(args[0], args[1], int(args[2]), int(args[3]), float(args[4]), int(args[5]))
    elif cmd == "echo":
        echo(args[0], int(args[1]), args[2])
    else:
        sys.exit(f"unknown command {cmd}")
