#!/usr/bin/python3
"""Watches a running stack through its control socket (scripts/flood.sh and scripts/soak.sh use it).

  stack-monitor.py CONTROL_SOCKET [--interval SEC] [--csv FILE] [--counters Table.Name,...] [--ready FILE]

Every SEC seconds (default 1) it asks the stack for its memory ("memory" op) and counters
("counters" op), reads the process's RSS and open descriptors from /proc/PID, counts the
established TCP connections ("ss" op), and prints one line (and a CSV row with --csv): time,
RSS, GC heap, descriptors, established connections, then each counter named with --counters
as its change over the interval. On SIGINT/SIGTERM or when the stack goes away it prints a
summary (peaks and totals) and exits 0. With --ready it creates FILE once the first sample is
taken, so a caller can start its load after the baseline is read (under a loaded machine the
monitor's own start can take seconds).
"""
import json
import os
import signal
import socket
import sys
import time

DEFAULT = "Tcp.InSegs,Tcp.OutRsts,TcpExt.SyncookiesSent,TcpExt.TCPChallengeACK,Ip.ReasmFails,Udp.RcvbufErrors,Icmp.OutEchoReps"


class Control:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")
        self.hello = json.loads(self.f.readline())

    def ask(self, req):
        self.f.write((json.dumps(req) + "\n").encode())
        self.f.flush()
        line = self.f.readline()
        if not line:
            raise EOFError("the stack closed its control socket")
        return json.loads(line)


def proc_status(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    path, interval, csv_path, names, ready = args[0], 1.0, None, DEFAULT, None
    i = 1
    while i < len(args):
        if args[i] == "--interval":
            interval = float(args[i + 1]); i += 2
        elif args[i] == "--csv":
            csv_path = args[i + 1]; i += 2
        elif args[i] == "--ready":
            ready = args[i + 1]; i += 2
        elif args[i] == "--counters":
            names = args[i + 1]; i += 2
        else:
            print(f"stack-monitor: unknown argument {args[i]}", file=sys.stderr)
            return 2
    names = [n for n in names.split(",") if n]
    c = Control(path)
    pid = c.hello["pid"]
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    header = ["t_s", "rss_mb", "gc_heap_mb", "fds", "estab"] + names
    csv = open(csv_path, "w") if csv_path else None
    if csv:
        csv.write(",".join(header) + "\n")
    print(" ".join(f"{h:>14}" if j >= 5 else f"{h:>8}" for j, h in enumerate(header)), flush=True)
    t0 = time.monotonic()
    prev = None
    peaks = {"rss": 0, "gc_heap": 0, "fds": 0, "estab": 0}
    first = None
    last = None
    while not stop:
        try:
            mem = c.ask({"op": "memory"})["memory"]
            counters = c.ask({"op": "counters"})["counters"]
            socks = c.ask({"op": "ss", "tcp": True, "udp": False, "raw": False})["sockets"]
            rss, fds = proc_status(pid)
        except (EOFError, OSError, KeyError):
            print("stack-monitor: the stack went away", file=sys.stderr)
            break
        vals = {n: counters.get(n.split(".")[0], {}).get(n.split(".")[1], 0) for n in names}
        first = first or vals
        last = vals
        estab = sum(1 for s in socks if s.get("state") in ("Established", "ESTAB"))
        deltas = [vals[n] - (prev[n] if prev else vals[n]) for n in names]
        prev = vals
        row = [round(time.monotonic() - t0, 1), round(rss / 1e6, 1), round(mem["gc_heap"] / 1e6, 1), fds, estab] + deltas
        peaks = {"rss": max(peaks["rss"], rss), "gc_heap": max(peaks["gc_heap"], mem["gc_heap"]), "fds": max(peaks["fds"], fds), "estab": max(peaks["estab"], estab)}
        print(" ".join(f"{v:>14}" if j >= 5 else f"{v:>8}" for j, v in enumerate(row)), flush=True)
        if csv:
            csv.write(",".join(str(v) for v in row) + "\n")
            csv.flush()
        if ready:
            open(ready, "w").close()
            ready = None
        end = time.monotonic() + interval
        while not stop and time.monotonic() < end:
            time.sleep(0.05)
    if stop and first:
        # One more reading of the counters when told to stop, so the totals cover the whole run even
        # when the stack was too busy (a flood) to answer the periodic samples in time.
        try:
            counters = c.ask({"op": "counters"})["counters"]
            last = {n: counters.get(n.split(".")[0], {}).get(n.split(".")[1], 0) for n in names}
        except (EOFError, OSError, KeyError):
            pass
    if first and last:
        el = time.monotonic() - t0
        print(f"summary over {el:.0f} s: peak RSS {peaks['rss'] / 1e6:.1f} MB, peak GC heap {peaks['gc_heap'] / 1e6:.1f} MB, "
              f"peak descriptors {peaks['fds']}, peak established {peaks['estab']}", flush=True)
        for n in names:
            d = last[n] - first[n]
            print(f"  {n}: +{d} ({d / max(el, 1e-9):.0f}/s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
