#!/usr/bin/python3
"""What the Linux kernel advertises as a receiver with a small receive buffer.

A fake host on a TAP inside a network namespace this script creates (and removes) sends
crafted segments to a kernel listener whose SO_RCVBUF is set and which reads only when told.
After each step the script prints the kernel's answers: one line per segment it sent,
"ack=<relative ack> win=<window field> scaled=<window << wscale> len=<payload>".

usage: rcvwnd_kernel.py RCVBUF MSS WSCALE TS STEP...
  RCVBUF  the listener's SO_RCVBUF (0: leave the default)
  MSS     the MSS option of the fake host's SYN
  WSCALE  the fake host's window scale option (-1: none, so neither side scales)
  TS      1: timestamps on, 0: off
  STEP    dN    send N bytes at snd_nxt (N may be "w": what the last window leaves)
          rN    the application reads N bytes
          p     a zero-window probe (an ACK with seq snd_nxt-1, no data)
          sN    sleep N milliseconds (for the delayed ACK or a timer)
          k     print the listener's skmem (ss -m: r = sk_rmem_alloc, rb = sk_rcvbuf), to stderr
Traffic stays inside the namespace; the kernel side is 10.9.0.1, the fake host 10.9.0.2.
"""
import fcntl
import os
import select
import struct
import subprocess
import sys
import time

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
KMAC, FMAC = None, "02:00:00:00:00:02"
KIP, FIP = "10.9.0.1", "10.9.0.2"
PORT, SPORT = 5000, 40000

LISTENER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if int(sys.argv[1]): s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(sys.argv[1]))
s.bind(("10.9.0.1", 5000)); s.listen(1)
print("listening", s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), flush=True)
c, _ = s.accept()
print("accepted", c.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), flush=True)
for line in sys.stdin:
    n = int(line)
    got = 0
    c.setblocking(False)
    while got < n:
        try:
            b = c.recv(n - got)
        except BlockingIOError:
            break
        if not b: break
        got += len(b)
    print("read", got, flush=True)
"""


def sh(*args):
    subprocess.run(args, check=True)


def main():
    rcvbuf, mss, wscale, ts = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
    steps = sys.argv[5:]
    # nst-<test process>-<large number>: a namespace left behind when this script is killed (its
    # finally never runs) is swept by the next test run once the test process is gone
    # (TapPeer.SweepStaleNamespaces), as the peers' own nst-PID-N namespaces are.
    ns = f"nst-{os.getppid()}-{1000000 + os.getpid()}"
    tap = f"rw{os.getpid() % 100000}"
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode(), IFF_TAP | IFF_NO_PI))
    sh("ip", "netns", "add", ns)
    listener = None
    try:
        sh("ip", "link", "set", tap, "netns", ns)
        ex = ["ip", "netns", "exec", ns]
        sh(*ex, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
        sh(*ex, "sysctl", "-q", "-w", f"net.ipv4.tcp_timestamps={1 if ts else 0}")
        sh(*ex, "ip", "addr", "add", f"{KIP}/24", "dev", tap)
        sh(*ex, "ip", "link", "set", tap, "up")
        sh(*ex, "ip", "neigh", "add", FIP, "lladdr", FMAC, "dev", tap, "nud", "permanent")
        kmac = subprocess.run(
            [*ex, "cat", f"/sys/class/net/{tap}/address"], capture_output=True, text=True).stdout.strip()
        listener = subprocess.Popen([*ex, "/usr/bin/python3", "-u", "-c", LISTENER, str(rcvbuf)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        print(listener.stdout.readline().strip(), file=sys.stderr, flush=True)
        run(fd, kmac, listener, mss, wscale, ts, steps, ex)
    finally:
        if listener:
            listener.kill()
            listener.wait()
        os.close(fd)
        subprocess.run(["ip", "netns", "del", ns])


def frames(fd, wait):
    """Frames the kernel sends within `wait` seconds (TCP from the listener only)."""
    out = []
    end = time.time() + wait
    while True:
        left = end - time.time()
        if left <= 0:
            return out
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            return out
        p = Ether(os.read(fd, 65536))
        if TCP in p and p[TCP].sport == PORT:
            out.append(p[TCP])


def first_synack(fd, wait):
    """The listener's SYN-ACK, as soon as it arrives (within `wait` seconds)."""
    end = time.time() + wait
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], max(0.0, end - time.time()))
        if not r:
            break
        p = Ether(os.read(fd, 65536))
        if TCP in p and p[TCP].sport == PORT and p[TCP].flags.S:
            return p[TCP]
    sys.exit("no SYN-ACK from the kernel's listener")


def run(fd, kmac, listener, mss, wscale, ts, steps, ex):
    base = Ether(src=FMAC, dst=kmac) / IP(src=FIP, dst=KIP, flags="DF")
    iss = 1000
    opts = [("MSS", mss), ("SAckOK", b"")]
    if ts:
        opts.append(("Timestamp", (1, 0)))
    if wscale >= 0:
        opts.append(("WScale", wscale))
    time.sleep(0.2)
    os.write(fd, bytes(base / TCP(sport=SPORT, dport=PORT, flags="S", seq=iss, window=65535, options=opts)))
    # The ACK goes out as soon as the SYN-ACK is here: waiting a whole second for it (as the script
    # once did) raced the kernel's SYN-ACK retransmission (its initial RTO is 1 s) on a loaded
    # machine, and the retransmitted SYN-ACK then showed up among the first data step's answers.
    synack = first_synack(fd, 5.0)
    kwscale = dict((k, v) for k, v in synack.options).get("WScale", 0) if wscale >= 0 else 0
    irs = synack.seq
    print(f"synack win={synack.window}", flush=True)
    snd_nxt, rcv_nxt, tsval = iss + 1, irs + 1, 2
    last_ack, last_win = iss + 1, synack.window << 0

    def send(seq, payload=b"", flags="A"):
        nonlocal tsval
        o = [("Timestamp", (tsval, 0))] if ts else []
        tsval += 1
        os.write(fd, bytes(base / TCP(sport=SPORT, dport=PORT, flags=flags, seq=seq, ack=rcv_nxt, window=65535, options=o) / payload))

    def collect(wait):
        nonlocal last_ack, last_win
        for t in frames(fd, wait):
            last_ack, last_win = t.ack, t.window
            print(f"  ack={t.ack - iss - 1} win={t.window} scaled={t.window << kwscale} len={len(t.payload)} flags={t.flags}", flush=True)

    send(snd_nxt)
    print(listener.stdout.readline().strip(), file=sys.stderr, flush=True)
    for step in steps:
        print(step, flush=True)
        if step[0] == "d":
            n = (last_ack + (last_win << kwscale) - snd_nxt) if step[1:] == "w" else int(step[1:])
            send(snd_nxt, bytes(n % 256 for n in range(n)))
            snd_nxt += n
            collect(0.25)
        elif step[0] == "m":
            for _ in range(int(step[1:])):
                n = min(mss, last_ack + (last_win << kwscale) - snd_nxt)
                if n <= 0:
                    break
                send(snd_nxt, bytes(n % 256 for n in range(n)))
                snd_nxt += n
                collect(0.25)
        elif step[0] == "r":
            listener.stdin.write(step[1:] + "\n")
            listener.stdin.flush()
            print(" ", listener.stdout.readline().strip(), flush=True)
            collect(0.25)
        elif step == "p":
            send(snd_nxt - 1)
            collect(0.25)
        elif step == "k":
            r = subprocess.run([*ex, "ss", "-tmnH", "state", "established"], capture_output=True, text=True)
            print(" ".join(r.stdout.split()), file=sys.stderr, flush=True)
        elif step[0] == "s":
            collect(int(step[1:]) / 1000)


if __name__ == "__main__":
    main()
