#!/usr/bin/env python3
"""The kernel's echo peer for the IPv6 errno parity rows: a dual-stack [::] TCP echo (each
connection is echoed until its end of file, then closed) and a dual-stack UDP echo, on the
port given. Prints "ready" once both listen. Runs inside the test's namespace until killed."""
import socket
import sys
import threading

port = int(sys.argv[1])


def serve_tcp(c):
    with c:
        while True:
            data = c.recv(65536)
            if not data:
                return
            c.sendall(data)


def tcp():
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    s.listen(64)
    return s


def udp():
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    return s


t, u = tcp(), udp()


def tcp_loop():
    while True:
        c, _ = t.accept()
        threading.Thread(target=serve_tcp, args=(c,), daemon=True).start()


def udp_loop():
    while True:
        data, addr = u.recvfrom(65536)
        u.sendto(data, addr)


threading.Thread(target=tcp_loop, daemon=True).start()
threading.Thread(target=udp_loop, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
