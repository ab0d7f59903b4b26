#!/usr/bin/python3
"""The Linux side of the TCP real-peer tests, run inside the test namespace.

  tcp_peer.py echo-server PORT              threaded echo server (backlog 512); prints "listening"
  tcp_peer.py echo-clients HOST PORT N SIZE SEED
                                            N connections at once, each sends SIZE bytes (seeded),
                                            half-closes, reads the echo back and compares; prints a
                                            JSON summary; exit 0 when all N matched
  tcp_peer.py connect HOST PORT             one blocking connect; prints OK or the errno name
  tcp_peer.py connect-close HOST PORT N     N sequential connect + close; prints a JSON summary with
                                            this namespace's SYN retransmissions over the run
                                            (TcpExt TCPSynRetrans, Tcp RetransSegs)
"""
import errno
import json
import random
import socket
import sys
import threading


def echo_server(port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(512)
    print("listening", flush=True)

    def serve(c):
        with c:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                c.sendall(b)
            c.shutdown(socket.SHUT_WR)

    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def echo_clients(host, port, n, size, seed):
    conns = [None] * n
    errors = []
    connected = threading.Barrier(n + 1)

    def client(i):
        data = random.Random(seed + i).randbytes(size)
        try:
            s = socket.create_connection((host, port), timeout=120)
        except OSError as e:
            errors.append(f"{i}: connect: {errno.errorcode.get(e.errno, e)}")
            connected.abort()
            return
        try:
            # Every connection is open at once before any data moves.
            connected.wait(timeout=120)
            got = bytearray()

            def reader():
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    got.extend(b)

            t = threading.Thread(target=reader)
            t.start()
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            t.join(timeout=120)
            if bytes(got) != data:
                errors.append(f"{i}: echo differs ({len(got)} of {size} bytes)")
            else:
                conns[i] = True
        except (OSError, threading.BrokenBarrierError) as e:
            errors.append(f"{i}: {e!r}")
        finally:
            s.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    try:
        connected.wait(timeout=120)
    except threading.BrokenBarrierError:
        pass
    for t in threads:
        t.join()
    ok = sum(1 for c in conns if c)
    print(json.dumps({"ok": ok, "errors": errors[:10]}), flush=True)
    return 0 if ok == n else 1


def connect(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect((host, port))
        print("OK")
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e)) if e.errno else type(e).__name__)
    finally:
        s.close()


def mib(path, table, field):
    """One counter of /proc/net/snmp or /proc/net/netstat (this network namespace's)."""
    with open(path) as f:
        lines = [l.split() for l in f]
    for names, values in zip(lines[::2], lines[1::2]):
        if names[0] == table + ":":
            return int(values[names.index(field)])
    raise KeyError(f"{table}.{field}")


def connect_close(host, port, n):
    def counters():
        return (mib("/proc/net/netstat", "TcpExt", "TCPSynRetrans"), mib("/proc/net/snmp", "Tcp", "RetransSegs"))
    syn0, re0 = counters()
    ok = 0
    errors = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(30)
        try:
            s.connect((host, port))
            ok += 1
        except OSError as e:
            errors.append(errno.errorcode.get(e.errno, str(e)) if e.errno else type(e).__name__)
        finally:
            s.close()
    syn1, re1 = counters()
    print(json.dumps({"ok": ok, "errors": errors[:10], "syn_retrans": syn1 - syn0, "retrans_segs": re1 - re0}), flush=True)
    return 0 if ok == n else 1


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "echo-server":
        echo_server(int(sys.argv[2]))
    elif cmd == "echo-clients":
        sys.exit(echo_clients(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])))
    elif cmd == "connect":
        connect(sys.argv[2], int(sys.argv[3]))
    elif cmd == "connect-close":
        sys.exit(connect_close(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    else:
        sys.exit(f"unknown command {cmd}")
