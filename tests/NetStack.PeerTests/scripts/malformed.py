#!/usr/bin/python3
"""Sends malformed (and a few odd but legal) frames from the kernel's side of a TAP to the stack.

usage: malformed.py IFACE STACK_MAC KERNEL_IP STACK_IP CASE [CASE...]   (CASE "all" sends every case)

Each case is one frame. Frames shorter than an Ethernet header cannot be sent this way: the kernel
refuses them in dev_validate_header() (min_header_len = ETH_HLEN), so truncated Ethernet is
covered in-process instead.
"""
import sys
import logging

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import Ether, ARP, IP, ICMP, Raw, raw, sendp, get_if_hwaddr  # noqa: E402

iface, stack_mac, kernel_ip, stack_ip = sys.argv[1:5]
names = sys.argv[5:]
my_mac = get_if_hwaddr(iface)


def eth(etype):
    return Ether(dst=stack_mac, src=my_mac, type=etype)


def ip(**kw):
    return IP(src=kernel_ip, dst=stack_ip, **kw)


def echo(**kw):
    return ip(**kw) / ICMP(type=8, id=0x4e53, seq=1) / Raw(b"netstack")


def arp_request(**kw):
    return ARP(op=1, hwsrc=my_mac, psrc=kernel_ip, hwdst="00:00:00:00:00:00", pdst=stack_ip, **kw)


def with_ip_header(pkt, mutate):
    """Builds pkt, then lets mutate() change the raw IP bytes after scapy filled lengths and checksums."""
    b = bytearray(raw(pkt))
    mutate(b)
    return bytes(b)


CASES = {
    # ARP shorter than its 28-byte body
    "arp-truncated": lambda: raw(eth(0x0806)) + raw(arp_request())[:20],
    # ARP for a hardware type other than Ethernet
    "arp-bad-hwtype": lambda: raw(eth(0x0806) / arp_request(hwtype=6)),
    # IPv4 shorter than the minimal header
    "ip-truncated": lambda: raw(eth(0x0800)) + raw(echo())[:12],
    # version 6 in an IPv4 EtherType
    "ip-bad-version": lambda: raw(eth(0x0800)) + with_ip_header(echo(), lambda b: b.__setitem__(0, 0x65)),
    # IHL below 5 (header checksum recomputed so only the IHL is wrong)
    "ip-bad-ihl": lambda: raw(eth(0x0800) / echo(ihl=3)),
    # IHL says 60 bytes of header, the frame holds less
    "ip-ihl-beyond-frame": lambda: raw(eth(0x0800)) + with_ip_header(ip(proto=1), lambda b: b.__setitem__(0, 0x4F)),
    # wrong header checksum
    "ip-bad-checksum": lambda: raw(eth(0x0800) / echo(chksum=0x1234)),
    # total length larger than the frame
    "ip-len-too-long": lambda: raw(eth(0x0800) / echo(len=1000)),
    # total length smaller than the header
    "ip-len-too-short": lambda: raw(eth(0x0800) / echo(len=12)),
    # total length smaller than the frame: Ethernet padding, legal; the echo must be answered
    "ip-padded": lambda: raw(eth(0x0800) / echo()) + b"\xa5" * 24,
    # an EtherType nobody handles (IEEE local experimental)
    "ethertype-unknown": lambda: raw(eth(0x88B5) / Raw(b"\x00" * 46)),
    # an IP protocol nobody handles (253: experimentation)
    "ip-proto-unknown": lambda: raw(eth(0x0800) / ip(proto=253) / Raw(b"\x00" * 8)),
    # ICMP with a wrong checksum
    "icmp-bad-checksum": lambda: raw(eth(0x0800) / ip() / ICMP(type=8, id=1, seq=1, chksum=0xDEAD) / Raw(b"x" * 8)),
    # ICMP shorter than its 8-byte header
    "icmp-truncated": lambda: raw(eth(0x0800) / ip(proto=1) / Raw(b"\x08\x00\x00")),
    # an IP packet for an address that is not the stack's
    "ip-not-our-address": lambda: raw(eth(0x0800) / IP(src=kernel_ip, dst=stack_ip.rsplit(".", 1)[0] + ".99") / ICMP() / Raw(b"x")),
}

if names == ["all"]:
    names = list(CASES)
unknown = [n for n in names if n not in CASES]
if unknown:
    sys.exit("unknown case(s): " + ", ".join(unknown) + "; known: " + ", ".join(CASES))
frames = [CASES[n]() for n in names]
sendp([Raw(f) for f in frames], iface=iface, verbose=False)
print(f"sent {len(frames)} frame(s): {' '.join(names)}")
