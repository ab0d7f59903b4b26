#!/usr/bin/python3
"""The Linux side of the TCP urgent data peer test, run inside the test namespace.

  urgent_peer.py server PORT          accepts one connection; waits for urgent data (select's
                                      exceptional set: POLLPRI), reads up to the mark (SIOCATMARK),
                                      takes the urgent byte with MSG_OOB, reads the rest to the end;
                                      prints "listening", then a JSON summary
  urgent_peer.py client HOST PORT     connects, sends "hello", "X" with MSG_OOB, "world", closes
"""
import fcntl
import json
import select
import socket
import struct
import sys

SIOCATMARK = 0x8905


def at_mark(s):
    return struct.unpack("i", fcntl.ioctl(s.fileno(), SIOCATMARK, b"\0" * 4))[0]


def server(port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(1)
    print("listening", flush=True)
    c, _ = ls.accept()
    c.settimeout(10)
    _, _, exc = select.select([], [], [c], 10)
    before = b""
    while not at_mark(c):
        d = c.recv(100)
        if not d:
            break
        before += d
    mark = at_mark(c)
    oob = c.recv(1, socket.MSG_OOB)
    try:
        again = "read"
        c.recv(1, socket.MSG_OOB)
    except OSError as e:
        again = e.strerror
    rest = b""
    while True:
        d = c.recv(100)
        if not d:
            break
        rest += d
    print(json.dumps({"pri": bool(exc), "before": before.decode(), "mark": mark, "oob": oob.decode(),
                      "again": again, "rest": rest.decode()}), flush=True)


def client(host, port):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"hello")
    s.send(b"X", socket.MSG_OOB)
    s.sendall(b"world")
    s.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]))
    else:
        client(sys.argv[2], int(sys.argv[3]))
