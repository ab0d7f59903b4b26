#!/usr/bin/python3
"""The Linux side of ControlClientsPeerTests, run inside the test namespace.

  control_peer.py echo HOST PORT        UDP and TCP echo on HOST:PORT (a thread per TCP
                                        connection, which closes after the client's end of
                                        stream); prints "echo: ready"
  control_peer.py stream STOPFILE SEED  writes seeded pseudo-random bytes to stdout until STOPFILE
                                        exists; prints "stream: flowing" on stderr once 8 MiB are
                                        out, and at the end "stream: N bytes sha256 HEX"
"""
import hashlib
import os
import random
import socket
import sys
import threading


def echo(host, port):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((host, port))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((host, port))
    t.listen(512)

    def udp():
        while True:
            data, peer = u.recvfrom(65535)
            u.sendto(data, peer)

    def serve(c):
        with c:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                c.sendall(b)

    threading.Thread(target=udp, daemon=True).start()
    print("echo: ready", flush=True)
    while True:
        c, _ = t.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def stream(stopfile, seed):
    rng = random.Random(seed)
    h = hashlib.sha256()
    out = sys.stdout.buffer
    n = 0
    said = False
    while not os.path.exists(stopfile):
        b = rng.randbytes(1 << 16)
        out.write(b)
        h.update(b)
        n += len(b)
        if not said and n >= 8 << 20:
            print("stream: flowing", file=sys.stderr, flush=True)
            said = True
    out.flush()
    out.close()
    print(f"stream: {n} bytes sha256 {h.hexdigest()}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "echo":
        echo(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "stream":
        stream(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
