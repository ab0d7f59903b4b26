#!/usr/bin/python3
"""The Linux side of the errno parity suite: the socket shell of `netstack repl`, executed by the
kernel. Reads one JSON request per line (numbers only: the C# harness resolves Linux names with
the same table the stack uses), makes the system call through libc (ctypes, so addresses of any
length and family, and flags the socket module would refuse, reach the kernel as given), and
prints one JSON reply per line: {"ret": N, ...} or {"ret": -1, "errno": "ECONNREFUSED"}.
The socket module supplies nothing but the process; the calls are the raw system calls."""
import ctypes
import errno as E
import json
import socket
import struct
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
for name, res, args in [
    ("socket", ctypes.c_int, [ctypes.c_int, ctypes.c_int, ctypes.c_int]),
    ("bind", ctypes.c_int, [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint]),
    ("connect", ctypes.c_int, [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint]),
    ("listen", ctypes.c_int, [ctypes.c_int, ctypes.c_int]),
    ("accept4", ctypes.c_int, [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]),
    ("sendto", ctypes.c_ssize_t, [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint]),
    ("recvfrom", ctypes.c_ssize_t, [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]),
    ("shutdown", ctypes.c_int, [ctypes.c_int, ctypes.c_int]),
    ("close", ctypes.c_int, [ctypes.c_int]),
    ("setsockopt", ctypes.c_int, [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint]),
    ("getsockopt", ctypes.c_int, [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]),
    ("getsockname", ctypes.c_int, [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]),
    ("getpeername", ctypes.c_int, [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]),
    ("poll", ctypes.c_int, [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int]),
    ("fcntl", ctypes.c_int, [ctypes.c_int, ctypes.c_int, ctypes.c_int]),
    ("ioctl", ctypes.c_int, [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]),
]:
    f = getattr(libc, name)
    f.restype = res
    f.argtypes = args


class Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class Msghdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint),
                ("msg_iov", ctypes.POINTER(Iovec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


libc.recvmsg.restype = ctypes.c_ssize_t
libc.recvmsg.argtypes = [ctypes.c_int, ctypes.POINTER(Msghdr), ctypes.c_int]
libc.sendmsg.restype = ctypes.c_ssize_t
libc.sendmsg.argtypes = [ctypes.c_int, ctypes.POINTER(Msghdr), ctypes.c_int]


class Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", Msghdr), ("msg_len", ctypes.c_uint)]


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


libc.sendmmsg.restype = ctypes.c_int
libc.sendmmsg.argtypes = [ctypes.c_int, ctypes.POINTER(Mmsghdr), ctypes.c_uint, ctypes.c_int]
libc.recvmmsg.restype = ctypes.c_int
libc.recvmmsg.argtypes = [ctypes.c_int, ctypes.POINTER(Mmsghdr), ctypes.c_uint, ctypes.c_int, ctypes.POINTER(Timespec)]

# SOL_IP control messages: type -> (name, data size); the walk and the JSON match SocketShell.Cmsgs.
IP_CMSGS = {1: ("IP_TOS", 1), 2: ("IP_TTL", 4), 8: ("IP_PKTINFO", 12), 11: ("IP_RECVERR", 32), 20: ("IP_ORIGDSTADDR", 16)}


def cmsgs(buf, n):
    out = []
    off = 0
    while off + 16 <= n:
        ln, level, typ = struct.unpack_from("=Qii", buf, off)
        if ln < 16:
            break
        avail = n - off
        length = min(ln, avail)
        d = bytes(buf[off + 16:off + length])
        o = {"level": {0: "SOL_IP", 1: "SOL_SOCKET", 41: "SOL_IPV6"}.get(level, level)}
        name, whole = IP_CMSGS.get(typ, (typ, -1)) if level == 0 else ("IPV6_HOPLIMIT", 4) if (level, typ) == (41, 52) else (typ, -1)
        o["type"] = name
        if whole < 0 or ln != 16 + whole or len(d) != whole:
            o["len"] = ln
            o["hex"] = d.hex()
        elif typ == 2 or level == 41:  # IP_TTL or IPV6_HOPLIMIT
            o["value"] = struct.unpack("=i", d)[0]
        elif typ == 1:
            o["value"] = d[0]
        elif typ == 8:
            o["ifindex"] = struct.unpack_from("=i", d, 0)[0]
            o["spec_dst"] = socket.inet_ntoa(d[4:8])
            o["addr"] = socket.inet_ntoa(d[8:12])
        elif typ == 11:
            o["ee"] = d[:16].hex()
            o["offender_family"] = struct.unpack_from("=H", d, 16)[0]
            o["offender"] = socket.inet_ntoa(d[20:24])
            o["offender_port"] = struct.unpack_from("!H", d, 18)[0]
        else:
            o["addr"] = socket.inet_ntoa(d[4:8])
            o["port"] = struct.unpack_from("!H", d, 2)[0]
            family = struct.unpack_from("=H", d, 0)[0]
            if family != socket.AF_INET:
                o["family"] = family
        out.append(o)
        off = n if ln > avail else off + ((length + 7) & ~7)
    return out

ERRNO_NAMES = {v: k for k, v in sorted(E.__dict__.items(), key=lambda kv: kv[0], reverse=True)
               if k.startswith("E") and isinstance(v, int)}
ERRNO_NAMES[E.EAGAIN] = "EAGAIN"
ERRNO_NAMES[E.EOPNOTSUPP] = "EOPNOTSUPP"
ERRNO_NAMES[E.EDEADLK] = "EDEADLK"

opened = []
names = {}


def ret(r, **extra):
    if r < 0:
        e = ctypes.get_errno()
        return {"ret": -1, "errno": ERRNO_NAMES.get(e, "E%d" % e)}
    d = {"ret": r}
    d.update(extra)
    return d


def fd_of(q, key="fd"):
    v = q[key]
    return names[v] if isinstance(v, str) else int(v)


def sockaddr(q):
    """A sockaddr_in (or, for an address with a colon or family AF_INET6, a sockaddr_in6) in a
    128-byte buffer (sockaddr_storage) and the length to pass; the defaults match SocketShell."""
    buf = ctypes.create_string_buffer(128)
    addr = q.get("addr", "0.0.0.0")
    v6 = ":" in addr
    family = int(q.get("family", socket.AF_INET6 if v6 else socket.AF_INET))
    v6 = v6 or family == socket.AF_INET6
    struct.pack_into("=H", buf, 0, family & 0xFFFF)
    struct.pack_into("!H", buf, 2, int(q.get("port", 0)) & 0xFFFF)
    if v6:
        struct.pack_into("!I", buf, 4, int(q.get("flowinfo", 0)))
        buf[8:24] = socket.inet_pton(socket.AF_INET6, addr if ":" in addr else "::")
        struct.pack_into("=I", buf, 24, int(q.get("scope_id", 0)))
        return buf, int(q.get("addrlen", 28))
    if addr == "any":
        addr = "0.0.0.0"
    buf[4:8] = socket.inet_aton(addr)
    return buf, int(q.get("addrlen", 16))


def parse_sockaddr(buf, length):
    family = struct.unpack_from("=H", buf, 0)[0]
    if family == socket.AF_INET6:
        d = {"addr": socket.inet_ntop(socket.AF_INET6, bytes(buf[8:24])), "port": struct.unpack_from("!H", buf, 2)[0],
             "family": family}
        flow, scope = struct.unpack_from("!I", buf, 4)[0], struct.unpack_from("=I", buf, 24)[0]
        if flow:
            d["flowinfo"] = flow
        if scope:
            d["scope_id"] = scope
        return d
    d = {"addr": socket.inet_ntoa(bytes(buf[4:8])), "port": struct.unpack_from("!H", buf, 2)[0]}
    if family != socket.AF_INET:
        d["family"] = family
    return d


def data_of(q):
    if "data" in q:
        return bytes.fromhex(q["data"])
    if "text" in q:
        return q["text"].encode()
    if "len" in q:
        return bytes(int(q["len"]))
    return b""


def run(q):
    op = q["op"]
    if op == "socket":
        r = libc.socket(int(q.get("domain", q.get("family", socket.AF_INET))), int(q["type"]), int(q.get("protocol", 0)))
        if r >= 0:
            opened.append(r)
            if "as" in q:
                names[q["as"]] = r
        return ret(r)
    if op in ("bind", "connect"):
        buf, n = sockaddr(q)
        return ret(getattr(libc, op)(fd_of(q), buf, n))
    if op == "listen":
        return ret(libc.listen(fd_of(q), int(q.get("backlog", 128))))
    if op == "accept":
        buf = ctypes.create_string_buffer(128)
        ln = ctypes.c_uint(128)
        r = libc.accept4(fd_of(q), buf, ctypes.byref(ln), int(q.get("flags", 0)))
        if r < 0:
            return ret(r)
        opened.append(r)
        if "as" in q:
            names[q["as"]] = r
        return ret(r, **parse_sockaddr(buf, ln.value))
    if op in ("send", "sendto"):
        data = data_of(q)
        if op == "sendto" and ("addr" in q or "port" in q or "addrlen" in q):
            buf, n = sockaddr(q)
            return ret(libc.sendto(fd_of(q), data, len(data), int(q.get("flags", 0)), buf, n))
        return ret(libc.sendto(fd_of(q), data, len(data), int(q.get("flags", 0)), None, 0))
    if op in ("recv", "recvfrom"):
        size = int(q.get("len", 65536))
        buf = ctypes.create_string_buffer(max(size, 1))
        if op == "recv":
            r = libc.recvfrom(fd_of(q), buf, size, int(q.get("flags", 0)), None, None)
            return ret(r) if r < 0 else ret(r, data=bytes(buf[:min(r, size)]).hex())
        abuf = ctypes.create_string_buffer(128)
        ln = ctypes.c_uint(128)
        r = libc.recvfrom(fd_of(q), buf, size, int(q.get("flags", 0)), abuf, ctypes.byref(ln))
        if r < 0:
            return ret(r)
        d = {"data": bytes(buf[:min(r, size)]).hex()}
        if ln.value:
            d.update(parse_sockaddr(abuf, ln.value))
        return ret(r, **d)
    if op == "recvmsg":
        lens = [int(x) for x in q["iov"]] if "iov" in q else None
        size = sum(lens) if lens is not None else int(q.get("len", 65536))
        controllen = int(q.get("controllen", 256))
        buf = ctypes.create_string_buffer(max(size, 1))
        abuf = ctypes.create_string_buffer(128)
        cbuf = ctypes.create_string_buffer(max(controllen, 1))
        if lens is None:
            lens = [size]
        iovs = (Iovec * max(len(lens), 1))()
        at = 0
        for i, ln in enumerate(lens):
            iovs[i] = Iovec(ctypes.addressof(buf) + at, ln)
            at += ln
        m = Msghdr(ctypes.cast(abuf, ctypes.c_void_p), 128, iovs, len(lens),
                   ctypes.cast(cbuf, ctypes.c_void_p) if controllen else None, controllen, 0)
        r = libc.recvmsg(fd_of(q), ctypes.byref(m), int(q.get("flags", 0)))
        if r < 0:
            return ret(r)
        got = min(r, size)
        d = {"data": bytes(buf[:got]).hex()}
        if "iov" in q:
            parts, at = [], 0
            for ln in lens:
                parts.append(bytes(buf[at:at + max(0, min(ln, got - at))]).hex())
                at += ln
            d["iov"] = parts
        if m.msg_namelen:
            d.update(parse_sockaddr(abuf, m.msg_namelen))
        d["flags"] = m.msg_flags
        d["controllen"] = m.msg_controllen
        d["cmsg"] = cmsgs(cbuf, m.msg_controllen)
        return ret(r, **d)
    if op == "sendmsg":
        parts = [x.encode() for x in q["iov"]]
        keep = [ctypes.create_string_buffer(p, max(len(p), 1)) for p in parts]
        iovs = (Iovec * max(len(parts), 1))()
        for i, p in enumerate(parts):
            iovs[i] = Iovec(ctypes.cast(keep[i], ctypes.c_void_p), len(p))
        name, namelen = (sockaddr(q) if ("addr" in q or "port" in q) else (None, 0))
        m = Msghdr(ctypes.cast(name, ctypes.c_void_p) if name is not None else None, namelen, iovs, len(parts), None, 0, 0)
        return ret(libc.sendmsg(fd_of(q), ctypes.byref(m), int(q.get("flags", 0))))
    if op == "sendmmsg":
        msgs = q["msgs"]
        hdrs = (Mmsghdr * max(len(msgs), 1))()
        keep = []
        for i, mq in enumerate(msgs):
            data = data_of(mq)
            b = ctypes.create_string_buffer(data, max(len(data), 1))
            iov = Iovec(ctypes.cast(b, ctypes.c_void_p), len(data))
            name, namelen = (sockaddr(mq) if ("addr" in mq or "port" in mq) else (None, 0))
            keep += [b, iov, name]
            hdrs[i].msg_hdr = Msghdr(ctypes.cast(name, ctypes.c_void_p) if name is not None else None, namelen,
                                     ctypes.pointer(iov), 1, None, 0, 0)
        r = libc.sendmmsg(fd_of(q), hdrs, len(msgs), int(q.get("flags", 0)))
        return ret(r) if r < 0 else ret(r, lens=[hdrs[i].msg_len for i in range(r)])
    if op == "recvmmsg":
        vlen, size = int(q.get("vlen", 8)), int(q.get("len", 2048))
        hdrs = (Mmsghdr * max(vlen, 1))()
        keep = []
        for i in range(vlen):
            b = ctypes.create_string_buffer(max(size, 1))
            a = ctypes.create_string_buffer(128)
            iov = Iovec(ctypes.cast(b, ctypes.c_void_p), size)
            keep.append((b, a, iov))
            hdrs[i].msg_hdr = Msghdr(ctypes.cast(a, ctypes.c_void_p), 128, ctypes.pointer(iov), 1, None, 0, 0)
        ts = None
        if "timeout" in q:
            ms = int(q["timeout"])
            ts = Timespec(ms // 1000, (ms % 1000) * 1000000)
        r = libc.recvmmsg(fd_of(q), hdrs, vlen, int(q.get("flags", 0)), ctypes.byref(ts) if ts is not None else None)
        if r < 0:
            return ret(r)
        out = []
        for i in range(r):
            h = hdrs[i]
            o = {"len": h.msg_len, "data": bytes(keep[i][0][:min(h.msg_len, size)]).hex(), "flags": h.msg_hdr.msg_flags}
            if h.msg_hdr.msg_namelen:
                o.update(parse_sockaddr(keep[i][1], h.msg_hdr.msg_namelen))
            out.append(o)
        return ret(r, msgs=out)
    if op == "shutdown":
        return ret(libc.shutdown(fd_of(q), int(q["how"])))
    if op == "close":
        fd = fd_of(q)
        r = libc.close(fd)
        if r == 0 and fd in opened:
            opened.remove(fd)
        return ret(r)
    if op == "setsockopt":
        if "hex" in q:
            val = bytes.fromhex(q["hex"])
        elif "timeval" in q:
            val = struct.pack("=qq", int(q["timeval"][0]), int(q["timeval"][1]))
        elif "linger" in q:
            val = struct.pack("=ii", int(q["linger"][0]), int(q["linger"][1]))
        else:
            optlen = int(q.get("optlen", 4))
            val = struct.pack("=i", int(q.get("value", 0)) & 0xFFFFFFFF if int(q.get("value", 0)) >= 0 else int(q.get("value", 0)))
            val = (val + bytes(max(0, optlen - 4)))[:optlen]
        buf = ctypes.create_string_buffer(val, max(len(val), 1))
        return ret(libc.setsockopt(fd_of(q), int(q["level"]), int(q["name"]), buf, len(val)))
    if op == "getsockopt":
        # TCP_CONGESTION is a name: read TCP_CA_NAME_MAX bytes by default and answer it as a string.
        is_string = int(q["level"]) == socket.IPPROTO_TCP and int(q["name"]) == 13
        size = int(q.get("len", 16 if is_string else 4))
        buf = ctypes.create_string_buffer(max(size, 1))
        ln = ctypes.c_int(size)
        r = libc.getsockopt(fd_of(q), int(q["level"]), int(q["name"]), buf, ctypes.byref(ln))
        if r < 0:
            return ret(r)
        n = max(0, min(ln.value, size))
        d = {"len": ln.value, "hex": bytes(buf[:n]).hex()}
        if is_string:
            d["value"] = bytes(buf[:n]).split(b"\0", 1)[0].decode("ascii")
        elif ln.value >= 4:
            d["value"] = struct.unpack_from("=i", buf, 0)[0]
        elif ln.value >= 1:
            d["value"] = buf.raw[0]
        return ret(r, **d)
    if op in ("getsockname", "getpeername"):
        abuf = ctypes.create_string_buffer(128)
        ln = ctypes.c_uint(128)
        r = getattr(libc, op)(fd_of(q), abuf, ctypes.byref(ln))
        return ret(r) if r < 0 else ret(r, **parse_sockaddr(abuf, ln.value))
    if op == "poll":
        entries = q["fds"] if "fds" in q else [{"fd": q["fd"], "events": q.get("events", 1)}]
        arr = ctypes.create_string_buffer(8 * len(entries))
        for i, e in enumerate(entries):
            struct.pack_into("=ihh", arr, 8 * i, fd_of(e), int(e.get("events", 1)), 0)
        r = libc.poll(arr, len(entries), int(q.get("timeout", 0)))
        if r < 0:
            return ret(r)
        rev = [struct.unpack_from("=ihh", arr, 8 * i)[2] & 0xFFFF for i in range(len(entries))]
        return ret(r, revents=rev if "fds" in q else rev[0])
    if op == "fcntl":
        cmd = int(q["cmd"])
        r = libc.fcntl(fd_of(q), cmd, int(q.get("arg", 0)))
        if r >= 0 and cmd in (0, 1030):  # F_DUPFD, F_DUPFD_CLOEXEC: "as" names the new descriptor
            opened.append(r)
            if "as" in q:
                names[q["as"]] = r
        return ret(r)
    if op == "ioctl":
        # 16 bytes: SIOCGSTAMP/SIOCGSTAMPNS write a struct timeval/timespec; "value" is its first int.
        arg = ctypes.create_string_buffer(struct.pack("=i", int(q.get("arg", 0))) + bytes(12), 16)
        r = libc.ioctl(fd_of(q), int(q.get("request", q.get("req"))) & 0xFFFFFFFF, arg)
        return ret(r) if r < 0 else ret(r, value=struct.unpack_from("=i", arg, 0)[0])
    if op == "sleep":
        time.sleep(int(q.get("ms", 0)) / 1000.0)
        return ret(0)
    if op == "reset":
        for fd in opened:
            libc.close(fd)
        del opened[:]
        names.clear()
        return ret(0)
    return {"ret": -1, "error": "unknown op %r" % op}


for line in sys.stdin:
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    try:
        req = json.loads(line)
        reply = run(req)
        if "id" in req:
            reply["id"] = req["id"]
    except Exception as ex:  # a harness bug, reported as such rather than as an errno
        reply = {"ret": -1, "error": "%s: %s" % (type(ex).__name__, ex)}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
